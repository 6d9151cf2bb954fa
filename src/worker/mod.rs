//! The model worker (issue #7): a named thread owning the student and teacher, driven by plain
//! data requests and reporting plain data events over bounded channels; the viewer holds a
//! [`Worker`] and drains its events each frame. Scene encodings are cached per scene and model,
//! requests can be cancelled, a new scene cancels stale work, and a panic inside the worker
//! becomes an error event followed by a restart. Training runs on its own named thread with
//! the same trainer as `spatia distill`.

pub mod engine;
pub mod protocol;
pub mod thread;

pub use crate::train::TrainEvent;
pub use crate::train::{
    DecoderPlan, DecoderTrainConfig, DistillPlan, PerceptionPlan, PerceptionTrainConfig,
    StudentPreset, TrainConfig, TrainPlan,
};
pub use engine::Engine;
pub use protocol::{Event, GroundedObject, Request, Role, SceneViews};
pub use thread::{Worker, WorkerError};

#[cfg(test)]
mod tests;
