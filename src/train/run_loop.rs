//! The loop every training stage shares: step, log each named term to `train_log.jsonl`, send
//! events, evaluate and checkpoint on schedule, stop on cancel (after a checkpoint). Each stage
//! (`Trainer` for joint training and distillation, `stage2::DecoderTrainer` for the decoder on
//! cached scene tokens) says how to take one step, evaluate and checkpoint; the loop is written
//! once. Also the atomic checkpoint folder swap they share.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use crossbeam_channel::Sender;

use super::optim::{AdamW, clip_factor};
use super::trainer::TrainEvent;
use crate::model::{ModelConfig, ModelError};

/// What one optimiser step reports.
#[derive(Debug, Clone, Default)]
pub struct StepReport {
    /// Each named loss term (and `total`, `grad_norm`).
    pub losses: BTreeMap<String, f32>,
    /// Task weights, by task (Kendall's exp(−s), or fixed weights).
    pub weights: BTreeMap<String, f32>,
    /// Learning rate used.
    pub lr: f64,
    /// Training examples (questions) the step used, for throughput.
    pub questions: usize,
}

/// When the loop logs, evaluates and checkpoints.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Steps in all.
    pub steps: usize,
    /// Log every N steps.
    pub log_every: usize,
    /// Evaluate every N steps (0: never).
    pub eval_every: usize,
    /// Checkpoint every N steps.
    pub checkpoint_every: usize,
}

/// A training stage the loop can drive.
pub trait TrainStage {
    /// Steps done.
    fn steps_done(&self) -> usize;
    /// The schedule.
    fn schedule(&self) -> Schedule;
    /// The output folder (`train_log.jsonl`, `checkpoint/`).
    fn out(&self) -> &Path;
    /// One optimiser step (advances `steps_done`).
    fn train_step(&mut self) -> Result<StepReport, ModelError>;
    /// Validation metrics.
    fn evaluate(&self) -> Result<BTreeMap<String, f32>, ModelError>;
    /// Writes `out/checkpoint`; returns it.
    fn checkpoint(&self) -> Result<PathBuf, ModelError>;

    /// Runs to the last step, a cancel request or an error ([`run_stage`]).
    fn run(
        &mut self,
        events: &Sender<TrainEvent>,
        cancel: &Arc<AtomicBool>,
    ) -> Result<(), ModelError>
    where
        Self: Sized,
    {
        let steps = self.schedule().steps;
        run_stage(self, steps, events, cancel)
    }

    /// [`TrainStage::run`], stopping after step `limit` as if killed there; the learning-rate
    /// schedule still spans every step.
    fn run_until(
        &mut self,
        limit: usize,
        events: &Sender<TrainEvent>,
        cancel: &Arc<AtomicBool>,
    ) -> Result<(), ModelError>
    where
        Self: Sized,
    {
        run_stage(self, limit, events, cancel)
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Checkpoint {
        path: path.to_path_buf(),
        problem: e.to_string(),
    }
}

/// Runs `stage` until its last step, step `limit` (as if killed there; the schedule still
/// spans all steps), a cancel request, or an error. Events go to `events` (a full channel drops
/// them rather than blocking training). Each log line holds every loss term, the weights, the
/// learning rate, steps per second and questions per hour.
pub fn run_stage(
    stage: &mut impl TrainStage,
    limit: usize,
    events: &Sender<TrainEvent>,
    cancel: &Arc<AtomicBool>,
) -> Result<(), ModelError> {
    let send = |e: TrainEvent| {
        let _ = events.try_send(e);
    };
    let schedule = stage.schedule();
    send(TrainEvent::Started {
        step: stage.steps_done(),
        total: schedule.steps,
    });
    let log_path = stage.out().join("train_log.jsonl");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| io_err(&log_path, e))?;
    let mut window = Instant::now();
    let (mut window_steps, mut window_questions) = (0usize, 0usize);
    while stage.steps_done() < schedule.steps.min(limit) {
        if cancel.load(Ordering::Relaxed) {
            stage.checkpoint()?;
            send(TrainEvent::Cancelled {
                step: stage.steps_done(),
            });
            return Ok(());
        }
        let report = stage.train_step()?;
        let step = stage.steps_done();
        window_steps += 1;
        window_questions += report.questions;
        let elapsed = window.elapsed().as_secs_f64().max(1e-9);
        let sps = window_steps as f64 / elapsed;
        if step.is_multiple_of(schedule.log_every.max(1)) || step == schedule.steps {
            let line = serde_json::json!({
                "step": step,
                "lr": report.lr,
                "losses": report.losses,
                "weights": report.weights,
                "steps_per_s": sps,
                "questions_per_h": window_questions as f64 / elapsed * 3600.0,
            });
            writeln!(log, "{line}").map_err(|e| io_err(&log_path, e))?;
            window = Instant::now();
            window_steps = 0;
            window_questions = 0;
        }
        send(TrainEvent::Step {
            step,
            losses: report.losses,
            weights: report.weights,
            lr: report.lr,
            steps_per_s: sps,
        });
        if schedule.eval_every > 0 && step.is_multiple_of(schedule.eval_every) {
            let metrics = stage.evaluate()?;
            let line = serde_json::json!({"step": step, "eval": metrics});
            writeln!(log, "{line}").map_err(|e| io_err(&log_path, e))?;
            send(TrainEvent::Eval { step, metrics });
        }
        if step.is_multiple_of(schedule.checkpoint_every.max(1)) || step == schedule.steps {
            let path = stage.checkpoint()?;
            send(TrainEvent::Checkpoint { step, path });
        }
    }
    if stage.steps_done() == schedule.steps {
        send(TrainEvent::Finished {
            step: stage.steps_done(),
        });
    }
    Ok(())
}

/// Writes a checkpoint into `out/checkpoint` atomically: `fill` writes a temporary folder,
/// which is then renamed into place (the previous one kept as `checkpoint.old` until the swap
/// is done, so a crash leaves one complete checkpoint).
pub fn write_checkpoint(
    out: &Path,
    fill: impl FnOnce(&Path) -> Result<(), ModelError>,
) -> Result<PathBuf, ModelError> {
    let tmp = out.join("checkpoint.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io_err(&tmp, e))?;
    }
    fill(&tmp)?;
    let dst = out.join("checkpoint");
    let old = out.join("checkpoint.old");
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| io_err(&old, e))?;
    }
    if dst.exists() {
        std::fs::rename(&dst, &old).map_err(|e| io_err(&dst, e))?;
    }
    std::fs::rename(&tmp, &dst).map_err(|e| io_err(&dst, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| io_err(&old, e))?;
    }
    Ok(dst)
}

/// One optimiser update from a step's `total` loss: backward, global-norm clipping to
/// `grad_clip`, AdamW at `lr`. Returns every named term's value with `total` and `grad_norm`.
pub fn apply_update(
    opt: &mut AdamW,
    total: &Tensor,
    terms: &BTreeMap<String, Tensor>,
    lr: f64,
    grad_clip: f64,
) -> Result<BTreeMap<String, f32>, ModelError> {
    let grads = total.backward()?;
    let (norm, factor) = clip_factor(&grads, opt.vars(), grad_clip)?;
    opt.update(&grads, lr, factor)?;
    let mut losses = BTreeMap::new();
    for (k, v) in terms {
        losses.insert(k.clone(), v.to_scalar::<f32>()?);
    }
    losses.insert("total".into(), total.to_scalar::<f32>()?);
    losses.insert("grad_norm".into(), norm as f32);
    Ok(losses)
}

/// Sets every variable of `varmap` that the checkpoint folder `dir`'s `model.safetensors` holds
/// (checked against `cfg` as a model folder is).
pub fn load_checkpoint_weights(
    varmap: &VarMap,
    dir: &Path,
    cfg: &ModelConfig,
    device: &Device,
) -> Result<(), ModelError> {
    let weights =
        crate::model::checkpoint::load_weights(&dir.join("model.safetensors"), cfg, device)?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| ModelError::Invalid("variable map poisoned".into()))?;
    for (name, var) in data.iter() {
        if let Some(t) = weights.get(name) {
            var.set(t)?;
        }
    }
    Ok(())
}

/// What a stage's checkpoint records beside the weights (`trainer_state.json`): the step, the
/// stage's settings and the model configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StageState<C> {
    /// Steps done.
    pub step: usize,
    /// The stage's settings.
    pub config: C,
    /// The model's configuration.
    pub model: ModelConfig,
}

/// Restores a stage from the checkpoint folder `dir`: its state (refused when it is of another
/// model configuration than `model_cfg`), the weights into `varmap` and the optimiser's moments.
pub fn restore_stage<C: serde::de::DeserializeOwned>(
    dir: &Path,
    varmap: &VarMap,
    opt: &mut AdamW,
    model_cfg: &ModelConfig,
    device: &Device,
) -> Result<StageState<C>, ModelError> {
    let state_path = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&state_path).map_err(|e| io_err(&state_path, e))?;
    let state: StageState<C> = serde_json::from_str(&text)
        .map_err(|e| io_err(&state_path, format!("malformed trainer state: {e}")))?;
    if state.model != *model_cfg {
        return Err(io_err(
            &state_path,
            "the checkpoint is of another model configuration",
        ));
    }
    load_checkpoint_weights(varmap, dir, model_cfg, device)?;
    opt.load(&dir.join("optimizer.safetensors"), device)?;
    Ok(state)
}

/// Writes a stage's checkpoint into `out/checkpoint` atomically: the model folder (f32), the
/// optimiser's moments and the [`StageState`].
pub fn write_stage_checkpoint<C: serde::Serialize + Clone>(
    out: &Path,
    varmap: &VarMap,
    tokenizer: &crate::model::SpatiaTokenizer,
    opt: &AdamW,
    state: &StageState<C>,
) -> Result<PathBuf, ModelError> {
    write_stage_checkpoint_with(out, varmap, tokenizer, opt, state, |_| Ok(()))
}

/// [`write_stage_checkpoint`] with `extra(folder)` writing more files into the same atomic
/// checkpoint (e.g. stage 2's latent projection).
pub fn write_stage_checkpoint_with<C: serde::Serialize + Clone>(
    out: &Path,
    varmap: &VarMap,
    tokenizer: &crate::model::SpatiaTokenizer,
    opt: &AdamW,
    state: &StageState<C>,
    extra: impl FnOnce(&Path) -> Result<(), ModelError>,
) -> Result<PathBuf, ModelError> {
    write_checkpoint(out, |tmp| {
        crate::model::checkpoint::save_model(
            tmp,
            &state.model,
            varmap,
            tokenizer,
            candle_core::DType::F32,
        )?;
        extra(tmp)?;
        opt.save(&tmp.join("optimizer.safetensors"))?;
        let json =
            serde_json::to_vec_pretty(state).map_err(|e| ModelError::Invalid(e.to_string()))?;
        crate::scene::write_atomic(&tmp.join("trainer_state.json"), &json).map_err(ModelError::from)
    })
}
