//! Training (docs/TRAINING.md): loss terms, AdamW and its schedule, and the
//! trainer shared by the CLI and the viewer's training tab. Validation uses [`crate::eval`].

pub mod distill;
pub mod geometry;
pub mod losses;
pub mod optim;
pub mod plan;
pub mod run_loop;
pub mod stage1;
pub mod stage2;
pub mod stages;
pub mod trainer;

pub use crate::data::Dataset;
pub use distill::{DISTILL_TASKS, DistillSettings, Distiller, TeacherAnswers};
pub use plan::{DistillPlan, StudentPreset, distill_trainer};
pub use run_loop::TrainStage;
pub use stage1::{PerceptionTrainConfig, PerceptionTrainer};
pub use stage2::{DecoderTrainConfig, DecoderTrainer};
pub use stages::{
    DecoderPlan, PerceptionPlan, TrainPlan, decoder_trainer, perception_trainer, run_plan,
    run_tokenizer,
};
pub use trainer::{Batch, TASKS, TrainConfig, TrainEvent, Trainer, checkpoint_dir};

#[cfg(test)]
mod tests;
