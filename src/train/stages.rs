//! One plan type per training job and one function that runs any of them: [`TrainPlan`] is what
//! `spatia train perception`, `spatia train decoder` and `spatia distill` fill in and what the
//! viewer's training tab sends its worker, and [`run_plan`] builds the stage's trainer (dataset,
//! tokenizer, model configuration, resume) and runs it, so the command line and the app train
//! the same way.

use crate::train::TrainStage;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use candle_core::Device;
use crossbeam_channel::Sender;

use super::plan::{DistillPlan, distill_trainer, fit_to_dataset};
use super::stage1::{PerceptionTrainConfig, PerceptionTrainer};
use super::stage2::{DecoderTrainConfig, DecoderTrainer};
use super::trainer::{TrainEvent, checkpoint_dir};
use crate::data::{Dataset, Split};
use crate::model::{ModelConfig, ModelError, SpatiaTokenizer};

/// Stage 1: the object student's perception (`spatia train perception`).
#[derive(Debug, Clone, PartialEq)]
pub struct PerceptionPlan {
    /// A `spatia gen-data` folder.
    pub data: PathBuf,
    /// Output folder.
    pub out: PathBuf,
    /// Tokenizer saved with the model (default: one trained on the training questions).
    pub tokenizer: Option<PathBuf>,
    /// Vocabulary of a trained tokenizer.
    pub vocab: usize,
    /// Steps, rates, intervals, `--init`.
    pub train: PerceptionTrainConfig,
    /// Continue from the checkpoint in `out`.
    pub resume: bool,
}

/// Stage 2: an object model's decoder on cached object tokens (`spatia train decoder`).
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderPlan {
    /// A `spatia gen-data` folder.
    pub data: PathBuf,
    /// Output folder.
    pub out: PathBuf,
    /// Tokenizer (default: one trained on the training questions).
    pub tokenizer: Option<PathBuf>,
    /// Vocabulary of a trained tokenizer.
    pub vocab: usize,
    /// The object student (`ModelConfig::student_objects`) rather than the object teacher.
    pub student: bool,
    /// Hidden CoT latents K.
    pub cot: usize,
    /// Latents without probe heads.
    pub no_probes: bool,
    /// Context features on the object tokens.
    pub object_context: bool,
    /// Two-hop referents.
    pub anchors: bool,
    /// Object slots (2 or 3).
    pub slots: usize,
    /// The object student: edge of the voxels its predicted pixels are grouped into objects
    /// in, metres (`object_group_voxel_m`; `None`: the default 0.1).
    pub group_voxel_m: Option<f32>,
    /// Steps, rates, intervals, `init`, curriculum, categories.
    pub train: DecoderTrainConfig,
    /// Continue from the checkpoint in `out`.
    pub resume: bool,
}

/// Any training job.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainPlan {
    /// Stage 1.
    Perception(PerceptionPlan),
    /// Stage 2.
    Decoder(DecoderPlan),
    /// Stage 3: a student distilled from a teacher.
    Distill(DistillPlan),
}

impl TrainPlan {
    /// Its output folder.
    pub fn out(&self) -> &Path {
        match self {
            TrainPlan::Perception(p) => &p.out,
            TrainPlan::Decoder(p) => &p.out,
            TrainPlan::Distill(p) => &p.out,
        }
    }

    /// Steps in all.
    pub fn steps(&self) -> usize {
        match self {
            TrainPlan::Perception(p) => p.train.steps,
            TrainPlan::Decoder(p) => p.train.steps,
            TrainPlan::Distill(p) => p.train.steps,
        }
    }
}

/// The tokenizer of a run: the checkpoint's when resuming, else `given`, else one of `vocab`
/// tokens trained on the training questions.
pub fn run_tokenizer(
    resume: bool,
    out: &Path,
    given: Option<&Path>,
    dataset: &Dataset,
    vocab: usize,
) -> Result<SpatiaTokenizer, ModelError> {
    if let (true, Some(dir)) = (resume, checkpoint_dir(out)) {
        return SpatiaTokenizer::load(&dir.join("tokenizer.json"));
    }
    if let Some(path) = given {
        return SpatiaTokenizer::load(path);
    }
    let qs = dataset.questions(Split::Train)?;
    if qs.is_empty() {
        return Err(ModelError::Invalid(format!(
            "{}: no training questions",
            dataset.root.display()
        )));
    }
    SpatiaTokenizer::train(
        qs.iter()
            .flat_map(|q| [q.question.clone(), q.answer.clone()]),
        vocab,
    )
}

/// A stage's dataset, its tokenizer ([`run_tokenizer`]) and, when it resumes, its checkpoint's
/// model configuration (a resumed run keeps it, whatever the plan's flags say).
fn open_run(
    data: &Path,
    out: &Path,
    tokenizer: Option<&Path>,
    vocab: usize,
    resume: bool,
) -> Result<(Dataset, SpatiaTokenizer, Option<ModelConfig>), ModelError> {
    let dataset = Dataset::open(data)?;
    let tokenizer = run_tokenizer(resume, out, tokenizer, &dataset, vocab)?;
    let resumed = match (resume, checkpoint_dir(out)) {
        (true, Some(dir)) => Some(crate::model::checkpoint::read_config(&dir)?),
        _ => None,
    };
    Ok((dataset, tokenizer, resumed))
}

/// The stage-1 trainer of `plan`.
pub fn perception_trainer(
    plan: &PerceptionPlan,
    device: &Device,
) -> Result<PerceptionTrainer, ModelError> {
    let (dataset, tokenizer, resumed) = open_run(
        &plan.data,
        &plan.out,
        plan.tokenizer.as_deref(),
        plan.vocab,
        plan.resume,
    )?;
    let cfg = match (resumed, &plan.train.init) {
        (Some(cfg), _) => cfg,
        // The camera head alone: the model is the one it starts from, with a head added.
        (None, Some(init)) if plan.train.camera_only => ModelConfig {
            camera_head: true,
            ..crate::model::checkpoint::read_config(init)?
        },
        (None, _) => {
            let mut c = ModelConfig::student_objects(plan.vocab.max(tokenizer.vocab_size()));
            fit_to_dataset(&mut c, &dataset);
            c.camera_head = plan.train.camera_head;
            c
        }
    };
    PerceptionTrainer::new(
        cfg,
        tokenizer,
        plan.train.clone(),
        dataset,
        &plan.out,
        plan.resume,
        device,
    )
}

/// The stage-2 trainer of `plan`; `progress(done, total)` while the scenes' object tokens are
/// read (or found).
pub fn decoder_trainer(
    plan: &DecoderPlan,
    device: &Device,
    progress: impl FnMut(usize, usize),
) -> Result<DecoderTrainer, ModelError> {
    let (dataset, tokenizer, resumed) = open_run(
        &plan.data,
        &plan.out,
        plan.tokenizer.as_deref(),
        plan.vocab,
        plan.resume,
    )?;
    let cfg = match resumed {
        Some(cfg) => cfg,
        None => {
            let vocab = plan.vocab.max(tokenizer.vocab_size());
            let mut c = if plan.student {
                ModelConfig::student_objects(vocab)
            } else {
                ModelConfig::teacher_objects(vocab)
            };
            fit_to_dataset(&mut c, &dataset);
            c.hidden_cot_tokens = plan.cot;
            c.latent_probes = plan.cot > 0 && !plan.no_probes;
            c.object_context = plan.object_context;
            c.anchor_pointers = plan.anchors;
            c.object_slots = plan.slots;
            if let Some(v) = plan.group_voxel_m {
                c.object_group_voxel_m = v;
            }
            // A perception with a camera head keeps it (`copy_perception` copies it).
            if let Some(init) = &plan.train.init {
                c.camera_head = crate::model::checkpoint::read_config(init)?.camera_head;
            }
            c
        }
    };
    DecoderTrainer::new(
        cfg,
        tokenizer,
        plan.train.clone(),
        dataset,
        &plan.out,
        plan.resume,
        device,
        progress,
    )
}

/// Runs `plan` to its last step, a cancel request or an error, its events to `events`;
/// `progress(done, total)` while a stage reads its scenes. Returns the last step done.
pub fn run_plan(
    plan: &TrainPlan,
    device: &Device,
    events: &Sender<TrainEvent>,
    cancel: &Arc<AtomicBool>,
    progress: impl FnMut(usize, usize),
) -> Result<usize, ModelError> {
    match plan {
        TrainPlan::Perception(p) => {
            let mut t = perception_trainer(p, device)?;
            t.run(events, cancel)?;
            Ok(t.step)
        }
        TrainPlan::Decoder(p) => {
            let mut t = decoder_trainer(p, device, progress)?;
            t.run(events, cancel)?;
            Ok(t.step)
        }
        TrainPlan::Distill(p) => {
            let mut t = distill_trainer(p, device)?;
            t.run(events, cancel)?;
            Ok(t.step)
        }
    }
}
