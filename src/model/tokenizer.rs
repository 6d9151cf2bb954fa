//! The tokenizer: HF `tokenizers` BPE trained on Spatia's question/answer corpus, saved as
//! `tokenizer.json` beside the weights. Lower-cased input, digits split one by one (numbers are
//! read and written digit by digit), byte-level so any text round-trips.

use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainer};
use tokenizers::normalizers::utils::Lowercase;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, Tokenizer};

use super::ModelError;

/// Padding.
pub const PAD: &str = "<pad>";
/// Unknown.
pub const UNK: &str = "<unk>";
/// Start of the question.
pub const BOS: &str = "<bos>";
/// End of the answer.
pub const EOS: &str = "<eos>";
/// Start of the answer (after the Hidden CoT tokens).
pub const ANS: &str = "<ans>";
const SPECIAL: [&str; 5] = [PAD, UNK, BOS, EOS, ANS];

/// A tokenizer with Spatia's special tokens.
#[derive(Clone, Debug)]
pub struct SpatiaTokenizer {
    inner: Tokenizer,
    /// Id of `<pad>`.
    pub pad: u32,
    /// Id of `<bos>`.
    pub bos: u32,
    /// Id of `<eos>`.
    pub eos: u32,
    /// Id of `<ans>`.
    pub ans: u32,
}

fn err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer(e.to_string())
}

impl SpatiaTokenizer {
    /// Trains a BPE tokenizer of at most `vocab_size` tokens on `texts`.
    pub fn train<I, S>(texts: I, vocab_size: usize) -> Result<SpatiaTokenizer, ModelError>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
    {
        let mut tk = Tokenizer::new(BPE::default());
        tk.with_normalizer(Some(Lowercase)).map_err(err)?;
        tk.with_pre_tokenizer(Some(Sequence::new(vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ])));
        tk.with_decoder(Some(ByteLevelDecoder::default()));
        let mut trainer: TrainerWrapper = BpeTrainer::builder()
            .vocab_size(vocab_size)
            .min_frequency(1)
            .show_progress(false)
            .special_tokens(SPECIAL.iter().map(|s| AddedToken::from(*s, true)).collect())
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build()
            .into();
        tk.train(&mut trainer, texts).map_err(err)?;
        Self::wrap(tk)
    }

    fn wrap(inner: Tokenizer) -> Result<SpatiaTokenizer, ModelError> {
        let id = |s: &str| {
            inner
                .token_to_id(s)
                .ok_or_else(|| ModelError::Tokenizer(format!("tokenizer has no {s} token")))
        };
        Ok(SpatiaTokenizer {
            pad: id(PAD)?,
            bos: id(BOS)?,
            eos: id(EOS)?,
            ans: id(ANS)?,
            inner,
        })
    }

    /// Loads `tokenizer.json`.
    pub fn load(path: &Path) -> Result<SpatiaTokenizer, ModelError> {
        let inner = Tokenizer::from_file(path).map_err(|e| ModelError::Checkpoint {
            path: path.to_path_buf(),
            problem: format!("cannot read the tokenizer: {e}"),
        })?;
        Self::wrap(inner).map_err(|e| ModelError::Checkpoint {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })
    }

    /// Saves `tokenizer.json`.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        self.inner
            .save(path, false)
            .map_err(|e| ModelError::Checkpoint {
                path: path.to_path_buf(),
                problem: format!("cannot write the tokenizer: {e}"),
            })
    }

    /// Token ids of `text` (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        Ok(self
            .inner
            .encode(text, false)
            .map_err(err)?
            .get_ids()
            .to_vec())
    }

    /// Text of `ids`, special tokens dropped.
    pub fn decode(&self, ids: &[u32]) -> Result<String, ModelError> {
        self.inner.decode(ids, true).map_err(err)
    }

    /// Vocabulary size, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}
