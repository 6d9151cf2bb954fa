//! The networks in candle (docs/MODELS.md): a VGGT-style multi-view encoder, DPT-style depth and
//! DETR-style 3D detection heads, a projector and a LLaMA-style decoder with Hidden CoT latent
//! tokens; the student and teacher presets; checkpoints; the tokenizer; the inference API.

pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod decoder;
pub mod encoder;
pub mod heads;
pub mod nn;
pub mod tokenizer;
pub mod vlm;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::Device;

pub use checkpoint::{LoadedModel, load_model, save_model};
pub use config::ModelConfig;
pub use tokenizer::SpatiaTokenizer;
pub use vlm::{Answer, AttentionMaps, Detection, SceneTokens, SpatialVlm, ViewBatch, ViewDepth};

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

/// The device to run on: a GPU when built with `cuda` or `metal` and one is present, else the
/// CPU (saying so on standard error when a GPU build finds none).
pub fn pick_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        match Device::new_cuda(0) {
            Ok(d) => return d,
            Err(e) => eprintln!("warning: no CUDA device ({e}); running on the CPU"),
        }
    }
    #[cfg(feature = "metal")]
    {
        match Device::new_metal(0) {
            Ok(d) => return d,
            Err(e) => eprintln!("warning: no Metal device ({e}); running on the CPU"),
        }
    }
    Device::Cpu
}

/// A short name for a device ("cpu", "cuda", "metal").
pub fn device_name(device: &Device) -> &'static str {
    match device {
        Device::Cpu => "cpu",
        Device::Cuda(_) => "cuda",
        Device::Metal(_) => "metal",
    }
}

impl LoadedModel {
    /// Encodes a scene's views.
    pub fn encode(&self, views: &ViewBatch) -> Result<SceneTokens, ModelError> {
        Ok(self.model.encode(views)?)
    }

    /// Answers a question about an encoded scene (greedy, KV cache); with `want_attention` the
    /// Hidden CoT attention maps come back too.
    pub fn answer(
        &self,
        scene: &SceneTokens,
        question: &str,
        want_attention: bool,
    ) -> Result<Answer, ModelError> {
        let start = Instant::now();
        let ids = self.tokenizer.encode(question)?;
        let t = &self.tokenizer;
        let (token_ids, token_probs, attention) =
            self.model
                .generate(scene, &ids, (t.bos, t.ans, t.eos), want_attention)?;
        let text = self.tokenizer.decode(&token_ids)?.trim().to_string();
        Ok(Answer {
            text,
            token_ids,
            token_probs,
            latency_ms: start.elapsed().as_secs_f64() * 1000.0,
            attention,
        })
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

#[cfg(test)]
mod tests;
