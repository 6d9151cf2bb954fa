//! One distillation set-up: [`DistillPlan`] is what `spatia distill` and the viewer's training
//! tab both fill in, and [`distill_trainer`] the one function that turns a plan into a ready
//! [`Trainer`] (dataset, teacher, student preset, distiller, resume).

use std::path::PathBuf;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::{DistillSettings, Distiller, TrainConfig, Trainer};
use crate::data::Dataset;
use crate::model::{ModelConfig, ModelError, load_model};

/// The student's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StudentPreset {
    /// The shipped student (`ModelConfig::student`).
    #[default]
    Student,
    /// A very small one for quick checks (`ModelConfig::tiny`).
    Tiny,
}

impl StudentPreset {
    /// Every preset, in menu order.
    pub const ALL: [StudentPreset; 2] = [StudentPreset::Student, StudentPreset::Tiny];

    /// The name on the command line and in the training tab.
    pub fn name(self) -> &'static str {
        match self {
            StudentPreset::Student => "student",
            StudentPreset::Tiny => "tiny",
        }
    }
}

/// Everything a distillation run needs (plain data: the worker's protocol carries it).
#[derive(Debug, Clone, PartialEq)]
pub struct DistillPlan {
    /// A `spatia gen-data` folder.
    pub data: PathBuf,
    /// The teacher's model folder (its tokenizer is the student's).
    pub teacher: PathBuf,
    /// Output folder: checkpoints, `train_log.jsonl`, by default the teacher cache.
    pub out: PathBuf,
    /// The student's size.
    pub preset: StudentPreset,
    /// Steps, rates, intervals and the seed (initialisation, data order, and the distillation
    /// projection).
    pub train: TrainConfig,
    /// Hidden CoT latents of the student (0 removes them).
    pub cot: usize,
    /// Temperature of the answer KL.
    pub temperature: f64,
    /// Teacher answers produced elsewhere (JSONL, `questions::jsonl::TeacherAnswerLine`).
    pub teacher_answers: Option<PathBuf>,
    /// Where the teacher's outputs are cached (default `out/teacher_cache`).
    pub teacher_cache: Option<PathBuf>,
    /// Continue from the checkpoint in `out` (refused when there is none).
    pub resume: bool,
}

impl DistillPlan {
    /// A plan with the trainer's and the distiller's defaults for everything but the folders.
    pub fn new(data: PathBuf, teacher: PathBuf, out: PathBuf) -> DistillPlan {
        let settings = DistillSettings::new(teacher.clone());
        DistillPlan {
            data,
            teacher,
            out,
            preset: StudentPreset::Student,
            train: TrainConfig::default(),
            cot: 8,
            temperature: settings.temperature,
            teacher_answers: None,
            teacher_cache: None,
            resume: false,
        }
    }
}

/// Gives a new model `dataset`'s views: their number and their side.
pub fn fit_to_dataset(cfg: &mut ModelConfig, dataset: &Dataset) {
    cfg.num_views = dataset.manifest.options.views;
    cfg.encoder.image_size = dataset.manifest.options.size as usize;
}

/// The trainer of a distillation plan, ready to run (or to fill the teacher cache).
pub fn distill_trainer(plan: &DistillPlan, device: &Device) -> Result<Trainer, ModelError> {
    let dataset = Dataset::open(&plan.data)?;
    let teacher = load_model(&plan.teacher, device)?;
    let vocab = teacher.model.cfg.decoder.vocab_size;
    let size = dataset.manifest.options.size as usize;
    let mut cfg = match plan.preset {
        StudentPreset::Student => ModelConfig::student(vocab),
        StudentPreset::Tiny => ModelConfig::tiny(vocab, size, teacher.model.cfg.encoder.patch_size),
    };
    fit_to_dataset(&mut cfg, &dataset);
    cfg.hidden_cot_tokens = plan.cot;
    let mut settings = DistillSettings::new(plan.teacher.clone());
    settings.teacher_answers = plan.teacher_answers.clone();
    settings.temperature = plan.temperature;
    let cache = plan
        .teacher_cache
        .clone()
        .unwrap_or_else(|| plan.out.join("teacher_cache"));
    let distiller = Distiller::new(settings, teacher, &cfg, &cache, plan.train.seed, device)?;
    Trainer::new_distill(
        cfg,
        plan.train.clone(),
        dataset,
        &plan.out,
        plan.resume,
        device,
        distiller,
    )
}
