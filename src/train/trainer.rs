//! The training loop shared by `spatia train teacher`, `spatia distill` and the viewer's
//! training tab: AdamW with warmup + cosine, gradient clipping, fixed seeds, named loss terms
//! with Kendall task weights, periodic evaluation, atomic checkpoints with optimiser state,
//! exact `--resume`, `train_log.jsonl`, an events channel and cancellation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::distill::{DISTILL_TASKS, DistillSettings, Distiller, StudentBatch, last_patch_tokens};
use super::losses::{DetectionWeights, answer_ce, depth_loss, detection_loss, kendall_total};
use super::optim::{AdamW, learning_rate};
use super::run_loop::{
    Schedule, StepReport, TrainStage, apply_update, load_checkpoint_weights, write_checkpoint,
};
use crate::data::Dataset;
use crate::data::{SceneShard, Split};
use crate::model::checkpoint::save_model;
use crate::model::{ModelConfig, ModelError, SpatiaTokenizer, SpatialVlm, ViewBatch};
use crate::questions::Question;

/// Training settings (saved with every checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Optimiser steps (one scene each).
    pub steps: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Warmup steps.
    pub warmup: usize,
    /// Final learning rate as a share of the peak.
    pub min_lr_ratio: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Gradient-norm clip.
    pub grad_clip: f64,
    /// Questions per step (drawn from the step's scene).
    pub questions_per_step: usize,
    /// Evaluate on the validation split every this many steps (0: never).
    pub eval_every: usize,
    /// Validation scenes used per evaluation.
    pub eval_scenes: usize,
    /// Write a checkpoint every this many steps.
    pub checkpoint_every: usize,
    /// Log every this many steps.
    pub log_every: usize,
    /// Seed for initialisation and data order.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 1000,
            lr: 1e-3,
            warmup: 50,
            min_lr_ratio: 0.05,
            weight_decay: 0.01,
            grad_clip: 1.0,
            questions_per_step: 16,
            eval_every: 200,
            eval_scenes: 8,
            checkpoint_every: 50,
            log_every: 10,
            seed: 0,
        }
    }
}

/// What the trainer reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainEvent {
    /// Training began (or resumed) at `step` of `total`.
    Started {
        /// First step of this run.
        step: usize,
        /// Steps in all.
        total: usize,
    },
    /// One optimiser step.
    Step {
        /// Step number (1-based, after the update).
        step: usize,
        /// Each named loss term.
        losses: BTreeMap<String, f32>,
        /// Kendall task weights exp(−s_i), by task.
        weights: BTreeMap<String, f32>,
        /// Learning rate used.
        lr: f64,
        /// Steps per second, recent.
        steps_per_s: f64,
    },
    /// Validation metrics.
    Eval {
        /// Step.
        step: usize,
        /// Metric name → value.
        metrics: BTreeMap<String, f32>,
    },
    /// A checkpoint was written.
    Checkpoint {
        /// Step.
        step: usize,
        /// The checkpoint folder (a loadable model folder).
        path: PathBuf,
    },
    /// All steps done.
    Finished {
        /// Last step.
        step: usize,
    },
    /// Stopped on request, after checkpointing.
    Cancelled {
        /// Last step.
        step: usize,
    },
    /// Failed.
    Failed {
        /// The error.
        error: String,
    },
}

/// Names of the Kendall-weighted tasks, in order.
pub const TASKS: [&str; 3] = ["answer", "depth", "detection"];

/// The trainer's state saved with a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TrainerState {
    step: usize,
    config: TrainConfig,
    model: ModelConfig,
    /// Distillation settings (absent for training on ground truth alone).
    #[serde(default)]
    distill: Option<DistillSettings>,
}

/// One step's example: a training scene, all its questions and the ones drawn for the step.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The scene's key in the dataset.
    pub key: String,
    /// Its shard.
    pub shard: SceneShard,
    /// All its questions.
    pub all: Vec<Question>,
    /// The questions of this step.
    pub questions: Vec<Question>,
    /// The step (0-based), for seeds.
    pub step: usize,
}

/// A model being trained on a dataset.
pub struct Trainer {
    /// Settings.
    pub config: TrainConfig,
    /// The model's configuration.
    pub model_cfg: ModelConfig,
    varmap: VarMap,
    model: SpatialVlm,
    /// Its tokenizer.
    pub tokenizer: SpatiaTokenizer,
    opt: AdamW,
    log_vars: Var,
    tasks: Vec<&'static str>,
    distill: Option<Distiller>,
    dataset: Dataset,
    out: PathBuf,
    /// Steps done.
    pub step: usize,
    device: Device,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Checkpoint {
        path: path.to_path_buf(),
        problem: e.to_string(),
    }
}

impl Trainer {
    /// A new model of `model_cfg` (its vocabulary set from `tokenizer`), initialised from
    /// `config.seed`, or the state in `out/checkpoint` when `resume` and it exists.
    pub fn new(
        model_cfg: ModelConfig,
        tokenizer: SpatiaTokenizer,
        config: TrainConfig,
        dataset: Dataset,
        out: &Path,
        resume: bool,
        device: &Device,
    ) -> Result<Trainer, ModelError> {
        Self::build(
            model_cfg, tokenizer, config, dataset, out, resume, device, None,
        )
    }

    /// A student of `model_cfg` learning from `distiller`'s teacher (whose tokenizer it
    /// shares) and the ground truth; resumes like [`Trainer::new`].
    pub fn new_distill(
        model_cfg: ModelConfig,
        config: TrainConfig,
        dataset: Dataset,
        out: &Path,
        resume: bool,
        device: &Device,
        distiller: Distiller,
    ) -> Result<Trainer, ModelError> {
        let tokenizer = distiller.teacher.tokenizer.clone();
        Self::build(
            model_cfg,
            tokenizer,
            config,
            dataset,
            out,
            resume,
            device,
            Some(distiller),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        model_cfg: ModelConfig,
        tokenizer: SpatiaTokenizer,
        config: TrainConfig,
        dataset: Dataset,
        out: &Path,
        resume: bool,
        device: &Device,
        distill: Option<Distiller>,
    ) -> Result<Trainer, ModelError> {
        std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
        let ckpt = checkpoint_dir(out);
        if resume && ckpt.is_none() {
            return Err(ModelError::Checkpoint {
                path: out.join("checkpoint"),
                problem: "nothing to resume: no checkpoint here (start without --resume, or \
                          use --resume-or-start)"
                    .into(),
            });
        }
        let varmap = VarMap::new();
        let vb = crate::model::nn::seeded_var_builder(&varmap, config.seed, device);
        let model = SpatialVlm::new(&model_cfg, vb)?;
        let tasks: Vec<&'static str> = if distill.is_some() {
            DISTILL_TASKS.to_vec()
        } else {
            TASKS.to_vec()
        };
        let log_vars = Var::zeros(tasks.len(), DType::F32, device)?;
        let mut named = super::optim::named_vars(&varmap, |_| true)?;
        named.push(("kendall.log_vars".into(), log_vars.clone()));
        if let Some(d) = &distill {
            named.extend(d.named_vars()?);
        }
        let opt = AdamW::new(named, config.weight_decay)?;
        let mut t = Trainer {
            config,
            model_cfg,
            varmap,
            model,
            tokenizer,
            opt,
            log_vars,
            tasks,
            distill,
            dataset,
            out: out.to_path_buf(),
            step: 0,
            device: device.clone(),
        };
        if resume && let Some(dir) = ckpt {
            t.restore(&dir)?;
        }
        Ok(t)
    }

    /// The Kendall-weighted tasks, in the order of their log-variances.
    pub fn tasks(&self) -> &[&'static str] {
        &self.tasks
    }

    fn restore(&mut self, dir: &Path) -> Result<(), ModelError> {
        let state_path = dir.join("trainer_state.json");
        let text = std::fs::read_to_string(&state_path).map_err(|e| io_err(&state_path, e))?;
        let state: TrainerState = serde_json::from_str(&text)
            .map_err(|e| io_err(&state_path, format!("malformed trainer state: {e}")))?;
        if state.model != self.model_cfg {
            return Err(io_err(
                &state_path,
                "the checkpoint is of another model configuration",
            ));
        }
        let settings = self.distill.as_ref().map(|d| &d.settings);
        if state.distill.as_ref() != settings {
            return Err(io_err(
                &state_path,
                "the checkpoint was made with other distillation settings (or without distillation)",
            ));
        }
        load_checkpoint_weights(&self.varmap, dir, &self.model_cfg, &self.device)?;
        self.opt
            .load(&dir.join("optimizer.safetensors"), &self.device)?;
        let extra = candle_core::safetensors::load(dir.join("kendall.safetensors"), &self.device)
            .map_err(|e| io_err(&dir.join("kendall.safetensors"), e))?;
        if let Some(lv) = extra.get("log_vars") {
            self.log_vars.set(lv)?;
        }
        if let Some(d) = &self.distill {
            let path = dir.join("distill.safetensors");
            let saved = candle_core::safetensors::load(&path, &self.device)
                .map_err(|e| io_err(&path, e))?;
            let data = d
                .varmap
                .data()
                .lock()
                .map_err(|_| ModelError::Invalid("variable map poisoned".into()))?;
            for (name, var) in data.iter() {
                let t = saved
                    .get(name)
                    .ok_or_else(|| io_err(&path, format!("no tensor {name}")))?;
                var.set(t)?;
            }
        }
        self.step = state.step;
        // The run's total may be extended on resume; everything else stays.
        let steps = self.config.steps;
        self.config = TrainConfig {
            steps,
            ..state.config
        };
        Ok(())
    }

    /// The model being trained.
    pub fn model(&self) -> &SpatialVlm {
        &self.model
    }

    /// The example of step `step` (0-based): scenes in a seeded order that is reshuffled
    /// every epoch; questions drawn from the scene with a per-step seed.
    pub fn batch_for(&self, step: usize) -> Result<Batch, ModelError> {
        let scenes = self.dataset.scenes(Split::Train);
        if scenes.is_empty() {
            return Err(ModelError::Invalid(
                "the dataset has no training scenes".into(),
            ));
        }
        let epoch = step / scenes.len();
        let mut order: Vec<usize> = (0..scenes.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(
            self.config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9),
        ));
        let key = &scenes[order[step % scenes.len()]];
        let (shard, all) = self.dataset.load(Split::Train, key)?;
        let mut qs = all.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed.wrapping_add(step as u64 * 7919));
        qs.shuffle(&mut rng);
        qs.truncate(self.config.questions_per_step);
        Ok(Batch {
            key: key.clone(),
            shard,
            all,
            questions: qs,
            step,
        })
    }

    /// Runs the teacher over every training scene not yet in the distillation cache (a
    /// no-op without distillation); `progress(done, total)` after each scene. Returns the
    /// scenes computed.
    pub fn fill_teacher_cache(
        &self,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<usize, ModelError> {
        let Some(d) = &self.distill else {
            return Ok(0);
        };
        let scenes = self.dataset.scenes(Split::Train);
        let mut computed = 0;
        for (i, key) in scenes.iter().enumerate() {
            if !d.is_cached(key) {
                let (shard, all) = self.dataset.load(Split::Train, key)?;
                d.targets(key, &shard, &all)?;
                computed += 1;
            }
            progress(i + 1, scenes.len());
        }
        Ok(computed)
    }

    /// The named loss terms of one example, and the Kendall-weighted total.
    pub fn losses(&self, batch: &Batch) -> Result<(Tensor, BTreeMap<String, Tensor>), ModelError> {
        let (shard, questions) = (&batch.shard, &batch.questions);
        let views = ViewBatch::from_shard(shard);
        let (images, points) = self.model.view_tensors(&views)?;
        let enc = self.model.encode_tensors(&images, points.as_ref())?;
        let scene = self.model.scene_embeds(&enc)?;
        let mut terms = BTreeMap::new();
        let t = &self.tokenizer;
        let examples = questions
            .iter()
            .map(|q| Ok((t.encode(&q.question)?, t.encode(&q.answer)?)))
            .collect::<Result<Vec<_>, ModelError>>()?;
        let (answer, answer_logits) = if examples.is_empty() {
            (Tensor::zeros((), DType::F32, &self.device)?, None)
        } else {
            let (logits, targets) =
                self.model
                    .answer_logits(&scene, &examples, (t.bos, t.ans, t.eos, t.pad))?;
            let ce = answer_ce(&logits, &Tensor::new(targets.as_slice(), &self.device)?)?;
            (ce, Some(logits))
        };
        terms.insert("answer_ce".to_string(), answer.clone());
        let depth_out = self.model.depth_tensors(&enc)?;
        let s = shard.size as usize;
        let gt = Tensor::from_vec(shard.depth.clone(), (1, shard.views, s, s), &self.device)?;
        let depth = depth_loss(&depth_out.depth, &depth_out.confidence, &gt, 0.05)?;
        terms.insert("depth".to_string(), depth.clone());
        let det = self.model.detect_tensors(&enc)?;
        let (classes, boxes) = shard.boxes_in_first_camera(self.model_cfg.detection_queries);
        let (cls, l1, iou) = detection_loss(
            &det.logits.get(0)?,
            &det.boxes.get(0)?,
            &classes,
            &boxes,
            &DetectionWeights::default(),
        )?;
        let w = DetectionWeights::default();
        let detection = ((&cls * w.class)? + (&l1 * w.l1)? + (&iou * w.iou)?)?;
        terms.insert("det_class".to_string(), cls);
        terms.insert("det_l1".to_string(), l1);
        terms.insert("det_iou".to_string(), iou);
        let Some(d) = &self.distill else {
            let total = kendall_total(&[answer, depth, detection], self.log_vars.as_tensor())?;
            return Ok((total, terms));
        };
        let targets = d.targets(&batch.key, shard, &batch.all)?;
        let student = StudentBatch {
            scene,
            answer_logits,
            depth: depth_out,
            detection: det,
            patch_tokens: last_patch_tokens(&enc)?,
        };
        let seed = self.config.seed ^ (batch.step as u64).wrapping_mul(0x2545_F491);
        let dt = d.terms(&self.model, &student, &targets, shard, questions, seed)?;
        terms.extend(dt.named);
        let tasks = [
            (answer + dt.answer)?,
            (depth + dt.depth)?,
            (detection + dt.detection)?,
            dt.feature,
            dt.geometry,
        ];
        let total = kendall_total(&tasks, self.log_vars.as_tensor())?;
        Ok((total, terms))
    }

    /// One optimiser step on the example of the current step.
    fn step_once(&mut self) -> Result<StepReport, ModelError> {
        let batch = self.batch_for(self.step)?;
        let (total, terms) = self.losses(&batch)?;
        let c = &self.config;
        let lr = learning_rate(self.step, c.steps, c.warmup, c.lr, c.min_lr_ratio);
        let losses = apply_update(&mut self.opt, &total, &terms, lr, self.config.grad_clip)?;
        self.step += 1;
        let lv = self.log_vars.as_tensor().to_vec1::<f32>()?;
        let weights: BTreeMap<String, f32> = self
            .tasks
            .iter()
            .zip(&lv)
            .map(|(k, s)| (k.to_string(), (-s).exp()))
            .collect();
        Ok(StepReport {
            losses,
            weights,
            lr,
            questions: batch.questions.len(),
        })
    }

    /// Validation accuracy per category on `eval_scenes` validation scenes.
    pub fn evaluate(&self) -> Result<BTreeMap<String, f32>, ModelError> {
        let loaded = crate::model::LoadedModel {
            dir: self.out.clone(),
            model: self.model.clone(),
            tokenizer: self.tokenizer.clone(),
        };
        let report = crate::eval::evaluate(
            &loaded,
            &self.dataset,
            &[Split::Val],
            &crate::eval::EvalOptions {
                max_scenes: Some(self.config.eval_scenes),
                blind: false,
                categories: Vec::new(),
                ..Default::default()
            },
            None,
        )?;
        Ok(report.flat_metrics())
    }

    /// Writes `out/checkpoint` atomically (a temporary folder renamed into place): a loadable
    /// model folder plus `optimizer.safetensors`, `kendall.safetensors`, `trainer_state.json`.
    pub fn checkpoint(&self) -> Result<PathBuf, ModelError> {
        write_checkpoint(&self.out, |tmp| {
            save_model(
                tmp,
                &self.model_cfg,
                &self.varmap,
                &self.tokenizer,
                DType::F32,
            )?;
            self.opt.save(&tmp.join("optimizer.safetensors"))?;
            let lv = std::collections::HashMap::from([(
                "log_vars".to_string(),
                self.log_vars.as_tensor().clone(),
            )]);
            candle_core::safetensors::save(&lv, tmp.join("kendall.safetensors"))?;
            if let Some(d) = &self.distill {
                d.varmap.save(tmp.join("distill.safetensors"))?;
            }
            let state = TrainerState {
                step: self.step,
                config: self.config.clone(),
                model: self.model_cfg.clone(),
                distill: self.distill.as_ref().map(|d| d.settings.clone()),
            };
            let json = serde_json::to_vec_pretty(&state)
                .map_err(|e| ModelError::Invalid(e.to_string()))?;
            crate::scene::write_atomic(&tmp.join("trainer_state.json"), &json)
                .map_err(ModelError::from)
        })
    }
}

impl TrainStage for Trainer {
    fn steps_done(&self) -> usize {
        self.step
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            steps: self.config.steps,
            log_every: self.config.log_every,
            eval_every: self.config.eval_every,
            checkpoint_every: self.config.checkpoint_every,
        }
    }

    fn out(&self) -> &Path {
        &self.out
    }

    fn train_step(&mut self) -> Result<StepReport, ModelError> {
        self.step_once()
    }

    fn evaluate(&self) -> Result<BTreeMap<String, f32>, ModelError> {
        Trainer::evaluate(self)
    }

    fn checkpoint(&self) -> Result<PathBuf, ModelError> {
        Trainer::checkpoint(self)
    }
}

/// The newest complete checkpoint in `out`: `checkpoint/`, or `checkpoint.old/` when a crash
/// came between the two renames.
pub fn checkpoint_dir(out: &Path) -> Option<PathBuf> {
    ["checkpoint", "checkpoint.old"]
        .iter()
        .map(|n| out.join(n))
        .find(|p| p.join("trainer_state.json").is_file())
}
