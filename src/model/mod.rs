//! The networks in candle (docs/MODELS.md): a VGGT-style multi-view encoder, DPT-style depth and
//! DETR-style 3D detection heads, a projector and a LLaMA-style decoder with Hidden CoT latent
//! tokens; the student and teacher presets; checkpoints; the tokenizer; the inference API.

pub mod bench;
pub mod camera_head;
pub mod checkpoint;
pub mod config;
pub mod constrain;
pub mod decoder;
pub mod device;
pub mod encoder;
pub mod heads;
pub mod nn;
pub mod objects;
pub mod tokenizer;
pub mod vlm;

use std::path::PathBuf;
use std::time::Instant;

use crate::questions::form::{AnswerForm, answer_form, fits};

pub use checkpoint::{LoadedModel, load_model, save_model};
pub use config::ModelConfig;
pub use device::{DeviceChoice, device_name, select_device};
pub use tokenizer::SpatiaTokenizer;
pub use vlm::{
    Answer, AttentionMaps, Cameras, Detection, Grounding, PredictedMaps, SceneTokens, SpatialVlm,
    ViewBatch, ViewDepth,
};

/// What can go wrong with a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A tensor operation failed (shapes, device).
    #[error("model: {0}")]
    Candle(#[from] candle_core::Error),
    /// A model file is missing or wrong.
    #[error("{}: {problem}", path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Something else is inconsistent.
    #[error("model: {0}")]
    Invalid(String),
    /// A scene or data file error.
    #[error(transparent)]
    Scene(#[from] crate::scene::SceneError),
}

/// The bundled model folder `models/<name>` (see [`crate::scene::bundled_path`]).
pub fn default_model_dir(name: &str) -> PathBuf {
    crate::scene::bundled_path(&std::path::Path::new("models").join(name))
}

impl LoadedModel {
    /// Encodes a scene's views.
    pub fn encode(&self, views: &ViewBatch) -> Result<SceneTokens, ModelError> {
        Ok(self.model.encode(views)?)
    }

    /// Encodes a scene's views, a student's objects grouped through `cameras`.
    pub fn encode_as(
        &self,
        views: &ViewBatch,
        cameras: Cameras,
    ) -> Result<SceneTokens, ModelError> {
        Ok(self.model.encode_as(views, cameras)?)
    }

    /// Answers a question about an encoded scene (greedy, KV cache); with `want_attention` the
    /// Hidden CoT attention maps come back too. The answer takes the kind the question's form
    /// asks for (`questions::form::answer_form`): a polar question is answered "yes" or "no"
    /// (when free decoding says anything else, the decoder's choice between the two, `p_yes`);
    /// a count, a length, a name, a place or another open answer that free decoding did not
    /// give in that form (`questions::form::fits`) is decoded again held to the form
    /// ([`constrain`]: the decoder's most likely answer of that form). [`Answer::unconstrained`]
    /// keeps what free decoding said when it was overruled.
    pub fn answer(
        &self,
        scene: &SceneTokens,
        question: &str,
        want_attention: bool,
    ) -> Result<Answer, ModelError> {
        let start = Instant::now();
        let looked_again = self.model.look_again(scene, question);
        let widened;
        let scene = if looked_again.is_empty() {
            scene
        } else {
            widened = self.model.with_objects(scene, &looked_again)?;
            &widened
        };
        let ids = self.tokenizer.encode(question)?;
        let t = &self.tokenizer;
        let prompt = self
            .model
            .prefill(scene, &ids, (t.bos, t.ans), want_attention)?;
        let mut g = self.model.continue_answer(prompt.clone(), t.eos, None)?;
        let free = self.tokenizer.decode(&g.ids)?.trim().to_string();
        let yes_no = self.yes_no_ids()?;
        let p_yes = yes_no.map(|(y, n)| yes_probability(&g.first_logits, y, n));
        let form = answer_form(question);
        let (text, token_ids, token_probs, unconstrained) = match (yes_no, p_yes) {
            // A polar question: the decoder's choice between yes and no.
            (Some((y, n)), Some(p)) if form == AnswerForm::YesNo && !fits(form, &free) => {
                let (word, id, prob) = if p >= 0.5 {
                    ("yes", y, p)
                } else {
                    ("no", n, 1.0 - p)
                };
                (word.to_string(), vec![id], vec![prob], Some(free))
            }
            // Any other form that free decoding missed: its best answer of that form.
            _ if form != AnswerForm::YesNo && !fits(form, &free) => {
                let classes = constrain::TokenClasses::of(&self.tokenizer)?;
                // The prompt's KV cache is read once and decoded from twice.
                g = self
                    .model
                    .continue_answer(prompt, t.eos, Some((form, &classes)))?;
                let text = self.tokenizer.decode(&g.ids)?.trim().to_string();
                (text, g.ids, g.probs, Some(free))
            }
            _ => (free, g.ids, g.probs, None),
        };
        let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        Ok(Answer {
            text,
            token_ids,
            token_probs,
            p_yes,
            unconstrained,
            latency_ms,
            attention: g.attention,
            grounding: g.grounding,
            looked_again,
        })
    }

    /// The object names in `question` ([`crate::questions::names::named_categories`]) of which
    /// this encoding has no object token: an object model that found (student) or was given
    /// (teacher) none of that category cannot answer about one, whatever it says. Empty for a
    /// model that reads patches (it has no object list to check).
    /// `also`: objects looked again for ([`Answer::looked_again`]), held as well.
    pub fn unseen_names(
        &self,
        scene: &SceneTokens,
        also: &[crate::data::ObjectToken],
        question: &str,
    ) -> Vec<&'static str> {
        if self.model.cfg.scene_input != config::SceneInput::Objects {
            return Vec::new();
        }
        let held: Vec<&str> = scene
            .objects
            .iter()
            .chain(also)
            .filter_map(|o| crate::scene::Category::ALL.get(o.category))
            .map(|&c| crate::questions::names::canonical_name(c))
            .collect();
        crate::questions::names::named_categories(question)
            .into_iter()
            .filter(|n| !held.contains(n))
            .collect()
    }

    /// The first tokens of the answers `yes` and `no`, when they differ.
    pub fn yes_no_ids(&self) -> Result<Option<(u32, u32)>, ModelError> {
        let first = |w: &str| -> Result<Option<u32>, ModelError> {
            Ok(self.tokenizer.encode(w)?.first().copied())
        };
        Ok(match (first("yes")?, first("no")?) {
            (Some(y), Some(n)) if y != n => Some((y, n)),
            _ => None,
        })
    }

    /// Milliseconds to decode `answer` after `question` with the scene cached, the answer's
    /// tokens forced (see [`SpatialVlm::forced_decode`]).
    pub fn forced_latency_ms(
        &self,
        scene: &SceneTokens,
        question: &str,
        answer: &str,
    ) -> Result<f64, ModelError> {
        let q = self.tokenizer.encode(question)?;
        let mut a = self.tokenizer.encode(answer)?;
        a.push(self.tokenizer.eos);
        let start = Instant::now();
        self.model
            .forced_decode(scene, &q, &a, (self.tokenizer.bos, self.tokenizer.ans))?;
        Ok(start.elapsed().as_secs_f64() * 1000.0)
    }

    /// Per-view depth and confidence.
    pub fn depth(&self, scene: &SceneTokens) -> Result<Vec<ViewDepth>, ModelError> {
        Ok(self.model.depth(scene)?)
    }

    /// Detected boxes, best first.
    pub fn detect(&self, scene: &SceneTokens) -> Result<Vec<Detection>, ModelError> {
        Ok(self.model.detect(scene)?)
    }

    /// Parameter count.
    pub fn params(&self) -> Result<usize, ModelError> {
        let expected = checkpoint::expected_tensors(&self.model.cfg)?;
        Ok(expected.values().map(|s| s.iter().product::<usize>()).sum())
    }
}

/// P(yes) from the logits at the first answer position, over the two tokens `yes` and `no`
/// only: softmax of (logit_yes, logit_no).
pub fn yes_probability(logits: &[f32], yes: u32, no: u32) -> f32 {
    let get = |i: u32| logits.get(i as usize).copied().unwrap_or(f32::NEG_INFINITY);
    let (y, n) = (get(yes), get(no));
    if !(y.is_finite() || n.is_finite()) {
        return 0.5;
    }
    1.0 / (1.0 + (n - y).exp())
}

#[cfg(test)]
pub(crate) mod tests;
