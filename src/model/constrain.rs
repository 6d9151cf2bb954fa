//! Decoding held to an answer form (`questions::form::AnswerForm`): which answer token may come
//! next after the ones chosen so far, so that greedy decoding among the allowed tokens can only
//! give an answer of the form the question asks for. A count is one to
//! [`MAX_COUNT_DIGITS`] digits; a length is digits, an optional point and fraction, and a unit
//! token ("m"); a name has no digit and does not start with yes, no or nothing; a place has no
//! digit, does not start so, and does not end before [`PLACE_MIN_WORDS`] words; an open answer
//! does not start so. The token classes are read from the tokenizer's own vocabulary (each
//! token decoded alone), so the rule needs no list of token ids.

use crate::questions::form::{AnswerForm, PLACE_MIN_WORDS};

use super::{ModelError, SpatiaTokenizer};

/// The most digits of a count ("999").
pub const MAX_COUNT_DIGITS: usize = 3;
/// The most digits before a length's point ("999.").
pub const MAX_LENGTH_INTEGER_DIGITS: usize = 3;
/// The most digits after a length's point (".95").
pub const MAX_LENGTH_FRACTION_DIGITS: usize = 2;

/// What one token is, read from its text.
#[derive(Debug, Clone, Copy, Default)]
struct TokenClass {
    /// Its text is one or more ASCII digits, and only them: how many.
    digits: usize,
    /// It has an ASCII digit somewhere.
    has_digit: bool,
    /// Its text is ".".
    point: bool,
    /// Its text, trimmed, is "m".
    unit: bool,
    /// Its text is empty (special tokens decode to nothing).
    empty: bool,
    /// Its text is whitespace only.
    space_only: bool,
    /// Its text starts with whitespace.
    starts_space: bool,
    /// Its text ends with whitespace.
    ends_space: bool,
    /// Whitespace-separated pieces of its text.
    pieces: usize,
    /// Its text, trimmed, is "yes" or "no".
    polar: bool,
    /// It has a letter or digit.
    alphanumeric: bool,
    /// It is part of a character (a byte-level token that decodes alone to U+FFFD).
    partial: bool,
}

/// How many words the answer has so far, and whether the next token starts a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Words {
    count: usize,
    gap: bool,
}

impl Words {
    const START: Words = Words {
        count: 0,
        gap: true,
    };

    fn then(self, c: &TokenClass) -> Words {
        if c.empty {
            return self;
        }
        if c.pieces == 0 {
            return Words { gap: true, ..self };
        }
        let joined = usize::from(!self.gap && !c.starts_space);
        Words {
            count: self.count + c.pieces - joined,
            gap: c.ends_space,
        }
    }
}

/// The classes of every token of a vocabulary.
#[derive(Debug, Clone)]
pub struct TokenClasses {
    classes: Vec<TokenClass>,
    eos: u32,
    /// Some token starts a word by itself (" lamp"): one more word per token. Otherwise a word
    /// takes a space token and a word token.
    word_starters: bool,
}

impl TokenClasses {
    /// Classes of `tokenizer`'s tokens, each decoded alone.
    pub fn of(tokenizer: &SpatiaTokenizer) -> Result<TokenClasses, ModelError> {
        let n = tokenizer.vocab_size();
        let mut classes = Vec::with_capacity(n);
        for id in 0..n as u32 {
            let text = tokenizer.decode(&[id])?;
            classes.push(Self::class_of(&text));
        }
        Ok(Self::with_classes(classes, tokenizer.eos))
    }

    /// Classes of tokens with the given texts (id = index), `eos` the end token.
    pub fn from_texts(texts: &[&str], eos: u32) -> TokenClasses {
        Self::with_classes(texts.iter().map(|t| Self::class_of(t)).collect(), eos)
    }

    fn with_classes(classes: Vec<TokenClass>, eos: u32) -> TokenClasses {
        let word_starters = classes
            .iter()
            .any(|c| c.starts_space && c.alphanumeric && !c.partial);
        TokenClasses {
            classes,
            eos,
            word_starters,
        }
    }

    /// The most words an answer at `words` can reach with `room` more tokens.
    fn reach(&self, words: Words, room: usize) -> usize {
        words.count
            + match (self.word_starters, words.gap) {
                (true, _) => room,
                (false, true) => room.div_ceil(2),
                (false, false) => room / 2,
            }
    }

    fn class_of(text: &str) -> TokenClass {
        let trimmed = text.trim();
        let all_digits = !text.is_empty() && text.chars().all(|c| c.is_ascii_digit());
        TokenClass {
            digits: if all_digits { text.len() } else { 0 },
            has_digit: text.chars().any(|c| c.is_ascii_digit()),
            point: text == ".",
            unit: trimmed == "m",
            empty: text.is_empty(),
            space_only: !text.is_empty() && trimmed.is_empty(),
            starts_space: text.starts_with(char::is_whitespace),
            ends_space: text.ends_with(char::is_whitespace),
            pieces: text.split_whitespace().count(),
            polar: trimmed == "yes" || trimmed == "no",
            alphanumeric: text.chars().any(char::is_alphanumeric),
            partial: text.contains(char::REPLACEMENT_CHARACTER),
        }
    }

    /// Which tokens may follow `prefix` (answer tokens chosen so far, `<eos>` not among them) in
    /// an answer of `form` that has room for at most `room` more tokens (this one included):
    /// one flag per token id. A length is never left without its unit for want of room. Every
    /// token may, for a yes-no or unknown form.
    pub fn allowed_next(&self, form: AnswerForm, prefix: &[u32], room: usize) -> Vec<bool> {
        let class = |id: u32| self.classes.get(id as usize).copied().unwrap_or_default();
        let eos = self.eos as usize;
        let mut allowed = vec![false; self.classes.len()];
        let first = prefix.is_empty();
        // No word yet: yes or no may not open the answer.
        let opening = !prefix.iter().any(|&id| class(id).alphanumeric);
        match form {
            AnswerForm::YesNo | AnswerForm::Unknown => allowed.fill(true),
            AnswerForm::Count => {
                let digits: usize = prefix.iter().map(|&id| class(id).digits).sum();
                for (a, c) in allowed.iter_mut().zip(&self.classes) {
                    *a = c.digits > 0 && digits + c.digits <= MAX_COUNT_DIGITS;
                }
                if let Some(a) = allowed.get_mut(eos) {
                    *a = digits > 0;
                }
            }
            AnswerForm::Length => {
                let state = LengthState::after(prefix.iter().map(|&id| class(id)));
                for (a, c) in allowed.iter_mut().zip(&self.classes) {
                    *a = state.allows(c, room);
                }
                if let Some(a) = allowed.get_mut(eos) {
                    *a = state == LengthState::Unit;
                }
            }
            AnswerForm::Name | AnswerForm::Place | AnswerForm::Open => {
                let no_digit = form != AnswerForm::Open;
                let words = prefix
                    .iter()
                    .fold(Words::START, |w, &id| w.then(&class(id)));
                for (a, c) in allowed.iter_mut().zip(&self.classes) {
                    let banned = c.empty
                        || c.partial
                        || (first && c.space_only)
                        || (no_digit && c.has_digit)
                        || (opening && c.polar);
                    // A place keeps room for its words.
                    let roomy = form != AnswerForm::Place
                        || self.reach(words.then(c), room.saturating_sub(1)) >= PLACE_MIN_WORDS;
                    *a = !banned && roomy;
                }
                if let Some(a) = allowed.get_mut(eos) {
                    *a = match form {
                        AnswerForm::Place => words.count >= PLACE_MIN_WORDS,
                        _ => !opening,
                    };
                }
            }
        }
        allowed
    }
}

/// Where a length answer is after the tokens so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LengthState {
    /// Nothing yet.
    Start,
    /// This many integer digits.
    Integer(usize),
    /// The point, no fraction digit yet.
    Point,
    /// This many fraction digits.
    Fraction(usize),
    /// The unit: only the end may follow.
    Unit,
    /// Something the grammar does not allow (a prefix not chosen under it).
    Broken,
}

impl LengthState {
    fn after(classes: impl Iterator<Item = TokenClass>) -> LengthState {
        classes.fold(LengthState::Start, |state, c| state.next(&c))
    }

    fn next(self, c: &TokenClass) -> LengthState {
        use LengthState as S;
        match (self, c.digits > 0, c.point, c.unit) {
            (S::Start, true, _, _) => S::Integer(c.digits),
            (S::Integer(n), true, _, _) => S::Integer(n + c.digits),
            (S::Integer(_), _, true, _) => S::Point,
            (S::Point, true, _, _) => S::Fraction(c.digits),
            (S::Fraction(n), true, _, _) => S::Fraction(n + c.digits),
            (S::Integer(_) | S::Fraction(_), _, _, true) => S::Unit,
            _ => S::Broken,
        }
    }

    /// Whether `c` may come next with `room` tokens left (`c` included): the state it leads to
    /// is in the grammar and can still reach the unit.
    fn allows(self, c: &TokenClass, room: usize) -> bool {
        use LengthState as S;
        let (ok, to_unit) = match self.next(c) {
            S::Integer(n) => (n <= MAX_LENGTH_INTEGER_DIGITS, 1),
            S::Fraction(n) => (n <= MAX_LENGTH_FRACTION_DIGITS, 1),
            S::Point => (true, 2),
            S::Unit => (true, 0),
            S::Start | S::Broken => (false, 0),
        };
        ok && to_unit < room
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questions::form::fits;

    /// A small vocabulary shaped like the trained one: single digits, ".", " m", words with and
    /// without a leading space, yes / no, specials that decode to nothing.
    const TEXTS: [&str; 20] = [
        "", "", "", "", "", "0", "1", "7", ".", " m", "m", "yes", "no", "the", " lamp", " is",
        " on", ",", " 3", "bed",
    ];
    const EOS: u32 = 3;

    /// Greedy decoding under the rule, whatever the logits say: with any scores the answer is
    /// of the form.
    #[test]
    fn any_scores_give_an_answer_of_the_form() {
        use AnswerForm as F;
        let classes = TokenClasses::from_texts(&TEXTS, EOS);
        let mut rng = 12345u64;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 33) as f32 / (1u64 << 31) as f32
        };
        for form in [F::Count, F::Length, F::Name, F::Place, F::Open] {
            for trial in 0..300 {
                let mut ids: Vec<u32> = Vec::new();
                let max = 4 + trial % 5;
                for step in 0..max {
                    let allowed = classes.allowed_next(form, &ids, max - step);
                    // Bias toward the end and toward yes so that the rule must hold them off.
                    let scores: Vec<f32> = (0..TEXTS.len())
                        .map(|i| next() + if i as u32 == EOS || i == 11 { 0.6 } else { 0.0 })
                        .collect();
                    let id = (0..TEXTS.len())
                        .filter(|&i| allowed[i])
                        .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                        .expect("something is allowed");
                    if id as u32 == EOS {
                        break;
                    }
                    ids.push(id as u32);
                }
                let text: String = ids.iter().map(|&i| TEXTS[i as usize]).collect();
                assert!(
                    fits(form, &text),
                    "{form:?} trial {trial}: {text:?} {ids:?}"
                );
            }
        }
    }

    /// A vocabulary whose words never carry their space: a word takes two tokens, and a place
    /// still gets its three words; a part of a character never comes.
    #[test]
    fn a_place_gets_its_words_when_spaces_are_tokens_of_their_own() {
        const SPLIT: [&str; 10] = ["", "", "", "", " ", "the", "lamp", "yes", "1", "\u{FFFD}"];
        let classes = TokenClasses::from_texts(&SPLIT, EOS);
        for room in 5..9 {
            for favourite in 4..SPLIT.len() {
                let mut ids: Vec<u32> = Vec::new();
                for step in 0..room {
                    let allowed = classes.allowed_next(AnswerForm::Place, &ids, room - step);
                    assert!(!allowed[9], "a part of a character");
                    // The end when allowed, else the favourite, else the first allowed.
                    let id = [EOS as usize, favourite]
                        .into_iter()
                        .chain(0..SPLIT.len())
                        .find(|&i| allowed[i])
                        .expect("something is allowed");
                    if id as u32 == EOS {
                        break;
                    }
                    ids.push(id as u32);
                }
                let text: String = ids.iter().map(|&i| SPLIT[i as usize]).collect();
                assert!(fits(AnswerForm::Place, &text), "room {room}: {text:?}");
            }
        }
    }

    #[test]
    fn the_rule_follows_the_grammar_step_by_step() {
        use AnswerForm as F;
        let c = TokenClasses::from_texts(&TEXTS, EOS);
        let ok = |form, prefix: &[u32]| -> Vec<usize> {
            let a = c.allowed_next(form, prefix, 8);
            (0..a.len()).filter(|&i| a[i]).collect()
        };
        // Count: digits, then the end may come; never a fourth digit.
        assert_eq!(ok(F::Count, &[]), vec![5, 6, 7]);
        assert_eq!(ok(F::Count, &[6]), vec![3, 5, 6, 7]);
        assert_eq!(ok(F::Count, &[6, 5, 7]), vec![3]);
        // Length: "1" → digit, point or unit; "1." → digit; "1.7" → digit or unit; "1.7 m" → end.
        assert_eq!(ok(F::Length, &[]), vec![5, 6, 7]);
        assert_eq!(ok(F::Length, &[6]), vec![5, 6, 7, 8, 9, 10]);
        assert_eq!(ok(F::Length, &[6, 8]), vec![5, 6, 7]);
        assert_eq!(ok(F::Length, &[6, 8, 7]), vec![5, 6, 7, 9, 10]);
        assert_eq!(ok(F::Length, &[6, 8, 7, 5]), vec![9, 10]);
        assert_eq!(ok(F::Length, &[6, 8, 7, 9]), vec![3]);
        // Length with little room: the unit comes in time.
        assert_eq!(c.allowed_next(F::Length, &[6], 1), {
            let mut v = vec![false; TEXTS.len()];
            (v[9], v[10]) = (true, true);
            v
        });
        let room2 = c.allowed_next(F::Length, &[6], 2);
        assert!(room2[5] && !room2[8] && room2[9]);
        // Name: no digit, no blank, no yes / no first, no end first.
        assert_eq!(ok(F::Name, &[]), vec![8, 9, 10, 13, 14, 15, 16, 17, 19]);
        assert!(ok(F::Name, &[19]).contains(&3));
        assert!(ok(F::Name, &[19]).contains(&11));
        assert!(
            !ok(F::Name, &[17]).contains(&11),
            "yes after a comma opens the answer"
        );
        // Place: the end only after three words ("the lamp is").
        assert!(!ok(F::Place, &[13, 14]).contains(&3));
        assert!(ok(F::Place, &[13, 14, 15]).contains(&3));
        assert!(!ok(F::Place, &[13, 14, 15]).contains(&18));
        // Open: digits allowed, not yes first.
        assert!(ok(F::Open, &[]).contains(&6));
        assert!(!ok(F::Open, &[]).contains(&11));
        // Yes-no and unknown: anything.
        assert_eq!(ok(F::YesNo, &[]).len(), TEXTS.len());
    }
}
