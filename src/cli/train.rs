//! `spatia train teacher …` and `spatia distill …`.

use spatia::train::TrainStage;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use indicatif::{ProgressBar, ProgressStyle};
use spatia::model::ModelConfig;
use spatia::train::{
    Dataset, DecoderPlan, DecoderTrainConfig, DistillPlan, PerceptionPlan, PerceptionTrainConfig,
    StudentPreset, TrainConfig, TrainEvent, TrainPlan, Trainer, checkpoint_dir, distill_trainer,
    run_plan, run_tokenizer,
};

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    #[command(subcommand)]
    which: TrainWhich,
}

#[derive(clap::Subcommand, Debug)]
enum TrainWhich {
    /// Train the teacher on ground truth (answers, depth, boxes).
    Teacher(TrainOptions),
    /// Stage 2: train an object-token model's decoder on cached scene tokens (many questions
    /// from many scenes per step); `--blind` trains the wording-only baseline.
    Decoder(DecoderOptions),
    /// Stage 1: dense pre-training of the object student's perception (encoder, depth and
    /// per-pixel categories) on depth and instance-mask labels.
    Perception(PerceptionOptions),
}

#[derive(clap::Args, Debug)]
pub struct PerceptionOptions {
    #[command(flatten)]
    run: RunArgs,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// Training scenes per step.
    #[arg(long, default_value_t = 2)]
    scenes_per_step: usize,
    /// Weight of the semantic term against the depth term.
    #[arg(long, default_value_t = 1.0)]
    semantic_weight: f64,
    /// Training scenes used (default: all).
    #[arg(long)]
    max_scenes: Option<usize>,
    /// A model folder whose encoder and depth-head tensors of the same names and shapes start
    /// this model (e.g. `models/student`).
    #[arg(long)]
    init: Option<PathBuf>,
    /// Share of training views (0..=1) made to look like views of a real scan's mesh: holes,
    /// texture-like shading, colour cast, blur and noise (domain randomisation), drawn afresh
    /// every step.
    #[arg(long, default_value_t = 0.0, value_parser = share_in_unit, allow_negative_numbers = true)]
    scan_like: f64,
    /// Share of training scenes (0..=1) whose objects get random colours, one per object in all
    /// views with its shading kept (domain randomisation: categories not learnt from the
    /// generator's palette).
    #[arg(long, default_value_t = 0.0, value_parser = share_in_unit, allow_negative_numbers = true)]
    object_colours: f64,
    /// Factor on the semantic weight of every category questions name (not walls, floors,
    /// ceilings or the catch-all classes), on top of the class weights; 1: none.
    #[arg(long, default_value_t = 1.0)]
    named_weight: f64,
    /// Evaluate on the validation split every N steps (0: never): depth errors, per-pixel
    /// category accuracy, annotated objects found.
    #[arg(long, default_value_t = 0)]
    eval_every: usize,
    /// Validation scenes per evaluation.
    #[arg(long, default_value_t = 20)]
    eval_scenes: usize,
    /// Checkpoint every N steps.
    #[arg(long, default_value_t = 100)]
    checkpoint_every: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Tokenizer saved with the model (the one stage 2 and the teacher use, e.g.
    /// `models/student/tokenizer.json`); default: one trained on the training questions.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Tokenizer vocabulary size (when one is trained).
    #[arg(long, default_value_t = 600)]
    vocab: usize,
    /// A new model gets a camera head (each view's pose relative to the first), trained with
    /// the rest on a `camera` loss term.
    #[arg(long)]
    camera_head: bool,
    /// Train only a camera head added to the `--init` model (every other tensor copied and
    /// left as it is; the encoder runs frozen): the output is that model with a camera head.
    #[arg(long, requires = "init", conflicts_with = "camera_head")]
    camera_only: bool,
}

#[derive(clap::Args, Debug)]
pub struct DecoderOptions {
    #[command(flatten)]
    run: RunArgs,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Questions per step (from many scenes, categories in turn).
    #[arg(long, default_value_t = 128)]
    questions_per_step: usize,
    /// Hidden CoT latents K (0 removes them and their probes).
    #[arg(long, default_value_t = 8)]
    cot: usize,
    /// Train the latents without probe heads (the "K unsupervised" ablation).
    #[arg(long)]
    no_probes: bool,
    /// Train the object student (`ModelConfig::student_objects`: RGB only, reading the objects
    /// it finds with its own depth and categories) instead of the object teacher; `--init` its
    /// stage-1 perception (`spatia train perception`).
    #[arg(long)]
    student: bool,
    /// A model folder whose encoder, depth head and detection head this model starts from
    /// (stage 2 does not train them), e.g. `models/teacher`; its tokenizer is not taken (see
    /// `--tokenizer`).
    #[arg(long)]
    init: Option<PathBuf>,
    /// A model folder of the same architecture (e.g. `models/student`) whose decoder, Hidden
    /// CoT latents and probes and object embedder this model starts from: goes on training a
    /// trained decoder over a new `--init` perception.
    #[arg(long)]
    init_decoder: Option<PathBuf>,
    /// Hidden CoT distillation from an object teacher's model folder (same number of latents
    /// and slots, same tokenizer): the student's latents learn to hold what the teacher's hold
    /// on the ground-truth objects (`latent_match`), its answers to follow the teacher's
    /// (`answer_kl`).
    #[arg(long)]
    teacher: Option<PathBuf>,
    /// Weight of `latent_match` (with --teacher).
    #[arg(long, default_value_t = 0.1)]
    latent_match: f64,
    /// Weight of `answer_kl` (with --teacher).
    #[arg(long, default_value_t = 0.5)]
    answer_kl: f64,
    /// The object student: the share of each step's questions asked over the annotated objects
    /// (true categories and depth) instead of the objects it finds, so that the decoder also
    /// learns its relations on exact boxes (0..1).
    #[arg(long, default_value_t = 0.0, value_parser = share_in_unit, allow_negative_numbers = true)]
    annotated_share: f64,
    /// The object student only: another run's `found_objects.json` over the same `--init`
    /// perception, read instead of finding every scene's objects again (~15 min on data3);
    /// refused when the first scene found again here disagrees with it.
    #[arg(long, requires = "student")]
    found_objects: Option<PathBuf>,
    /// Object tokens carry context features (nearest object of each category, what they rest
    /// on), see `object_context` in docs/MODELS.md.
    #[arg(long)]
    object_context: bool,
    /// Two-hop referents: each object slot also points at the object the question names it by
    /// ("the bed" of "the chair closest to the bed") and weighs every object's relation to it,
    /// see `anchor_pointers` in docs/MODELS.md.
    #[arg(long)]
    anchors: bool,
    /// Object slots: 2 (pair relations) or 3 (also where a third object lies for an observer at
    /// the first facing the second: the direction questions), see `object_slots` in
    /// docs/MODELS.md.
    #[arg(long, default_value_t = 2)]
    slots: usize,
    /// The object student: edge of the voxels its predicted pixels are grouped into objects in,
    /// metres (0.02..1; default 0.1), see `object_group_voxel_m` in docs/MODELS.md.
    #[arg(long, value_parser = voxel_m)]
    group_voxel_m: Option<f32>,
    /// Weight of the probe terms.
    #[arg(long, default_value_t = 0.5)]
    probe_weight: f64,
    /// Hide the scene: the blind baseline.
    #[arg(long)]
    blind: bool,
    /// Training scenes read (default: all).
    #[arg(long)]
    max_scenes: Option<usize>,
    /// Train on these categories only (comma-separated; default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    categories: Vec<spatia::questions::QuestionCategory>,
    /// Curriculum: the first N steps draw only direct wordings ("near", "touching").
    #[arg(long, default_value_t = 0)]
    direct_first: usize,
    /// Word dropout: each training question token is replaced by a random ordinary token with
    /// this probability (e.g. 0.1), so that words never seen in training do not derail the
    /// answer; 0 keeps the questions as written.
    #[arg(long, default_value_t = 0.0)]
    word_noise: f32,
    /// Paraphrase rewording: each training question is asked, with this probability, in
    /// another training wording of its kind (e.g. 0.75); 0 keeps the data set's wording.
    #[arg(long, default_value_t = 0.0)]
    reword: f32,
    /// Evaluate on the validation split every N steps (0: never).
    #[arg(long, default_value_t = 0)]
    eval_every: usize,
    /// Checkpoint every N steps.
    #[arg(long, default_value_t = 100)]
    checkpoint_every: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Tokenizer to use (e.g. `models/student/tokenizer.json`, so that a student can be
    /// distilled from this model); default: one trained on the training questions.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Tokenizer vocabulary size (when one is trained).
    #[arg(long, default_value_t = 600)]
    vocab: usize,
}

/// What every training command takes: data, output, steps, resuming.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A `spatia gen-data` folder.
    #[arg(long)]
    data: PathBuf,
    /// Output folder: `checkpoint/` (a loadable model folder), `train_log.jsonl`.
    #[arg(long)]
    out: PathBuf,
    /// Optimiser steps.
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    /// Continue from `OUT/checkpoint` exactly where it stopped (refused when there is none).
    #[arg(long, conflicts_with = "resume_or_start")]
    resume: bool,
    /// Resume when `OUT/checkpoint` exists, else start a new run (and say which).
    #[arg(long)]
    resume_or_start: bool,
    #[command(flatten)]
    device: super::DeviceArgs,
}

impl RunArgs {
    /// Whether to resume: `--resume`, or `--resume-or-start` with a checkpoint in `--out`.
    fn resume(&self) -> bool {
        if !self.resume_or_start {
            return self.resume;
        }
        let found = checkpoint_dir(&self.out).is_some();
        eprintln!(
            "{}: {}",
            self.out.display(),
            if found {
                "resuming from its checkpoint"
            } else {
                "no checkpoint, starting a new run"
            }
        );
        found
    }
}

#[derive(clap::Args, Debug)]
pub struct TrainOptions {
    #[command(flatten)]
    run: RunArgs,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Questions per step.
    #[arg(long, default_value_t = 16)]
    questions_per_step: usize,
    /// Evaluate on the validation split every N steps (0: never).
    #[arg(long, default_value_t = 250)]
    eval_every: usize,
    /// Checkpoint every N steps.
    #[arg(long, default_value_t = 50)]
    checkpoint_every: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Tokenizer vocabulary size (new runs).
    #[arg(long, default_value_t = 600)]
    vocab: usize,
}

impl TrainOptions {
    fn config(&self) -> TrainConfig {
        TrainConfig {
            steps: self.run.steps,
            lr: self.lr,
            questions_per_step: self.questions_per_step,
            eval_every: self.eval_every,
            checkpoint_every: self.checkpoint_every,
            seed: self.seed,
            ..Default::default()
        }
    }
}

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let o = match &args.which {
        TrainWhich::Teacher(o) => o,
        TrainWhich::Decoder(d) => return train_decoder(d),
        TrainWhich::Perception(p) => return train_perception(p),
    };
    let device = o.run.device.select()?;
    let dataset = Dataset::open(&o.run.data)?;
    let resume = o.run.resume();
    let tokenizer = run_tokenizer(resume, &o.run.out, None, &dataset, o.vocab)?;
    let mut model_cfg = ModelConfig::teacher(o.vocab.max(tokenizer.vocab_size()));
    spatia::train::plan::fit_to_dataset(&mut model_cfg, &dataset);
    let config = o.config();
    let mut trainer = Trainer::new(
        model_cfg, tokenizer, config, dataset, &o.run.out, resume, &device,
    )?;
    run_with_progress(&mut trainer, o.run.steps, &o.run.out)
}

/// Runs a trainer to its last step with a progress bar (a named thread reading its events).
fn run_with_progress(trainer: &mut Trainer, steps: usize, out: &Path) -> anyhow::Result<()> {
    let start = trainer.step;
    with_progress(start, steps, out, |tx, cancel| {
        trainer.run(tx, cancel)?;
        Ok(trainer.step)
    })
}

/// Runs `run` (a training stage, returning its last step) with a progress bar drawn by a named
/// thread reading its events.
fn with_progress(
    start_step: usize,
    steps: usize,
    out: &Path,
    run: impl FnOnce(
        &crossbeam_channel::Sender<TrainEvent>,
        &Arc<AtomicBool>,
    ) -> Result<usize, spatia::model::ModelError>,
) -> anyhow::Result<()> {
    let (tx, rx) = crossbeam_channel::bounded(1024);
    let cancel = Arc::new(AtomicBool::new(false));
    let total = steps as u64;
    let start_step = start_step as u64;
    let handle = std::thread::Builder::new()
        .name("train-progress".into())
        .spawn(move || {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} steps  {elapsed_precise} eta {eta}  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_position(start_step);
            for e in rx {
                match e {
                    TrainEvent::Started { step, .. } => bar.set_position(step as u64),
                    TrainEvent::Step { step, losses, .. } => {
                        bar.set_position(step as u64);
                        let answer = losses.get("answer_ce").or(losses.get("answer"));
                        bar.set_message(format!(
                            "loss {:.3} answer {:.3}",
                            losses.get("total").copied().unwrap_or(0.0),
                            answer.copied().unwrap_or(0.0)
                        ));
                    }
                    TrainEvent::Eval { step, metrics } => {
                        bar.println(format!("eval at step {step}: {metrics:?}"));
                    }
                    TrainEvent::Finished { .. }
                    | TrainEvent::Cancelled { .. }
                    | TrainEvent::Failed { .. } => break,
                    _ => {}
                }
            }
            bar.finish_and_clear();
        })?;
    let result = run(&tx, &cancel);
    if let Err(e) = &result {
        let _ = tx.send(TrainEvent::Failed {
            error: e.to_string(),
        });
    }
    drop(tx);
    let _ = handle.join();
    let step = result?;
    println!(
        "trained to step {step} -> {}",
        out.join("checkpoint").display()
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct DistillArgs {
    /// The teacher's model folder (its tokenizer is the student's).
    #[arg(long)]
    teacher: PathBuf,
    /// Teacher answers produced elsewhere: JSONL `{"scene", "question", "answer", "logits"?}`;
    /// they replace the teacher's own answer distribution for the questions they cover.
    #[arg(long)]
    teacher_answers: Option<PathBuf>,
    /// Where the teacher's outputs are cached (default OUT/teacher_cache); runs from the same
    /// teacher and data may share one.
    #[arg(long)]
    teacher_cache: Option<PathBuf>,
    #[command(flatten)]
    train: TrainOptions,
    /// The student's size.
    #[arg(long, value_enum, default_value_t = StudentPreset::Student)]
    preset: StudentPreset,
    /// Hidden CoT latent tokens of the student (0 removes them).
    #[arg(long, default_value_t = 8)]
    cot: usize,
    /// Temperature of the answer KL.
    #[arg(long, default_value_t = 2.0)]
    temperature: f64,
    /// Only run the teacher over every training scene into the cache, then stop (runs that
    /// share `--teacher-cache` then read it instead of each computing it).
    #[arg(long)]
    fill_cache: bool,
}

pub fn distill(a: &DistillArgs) -> anyhow::Result<()> {
    let o = &a.train;
    let plan = DistillPlan {
        data: o.run.data.clone(),
        teacher: a.teacher.clone(),
        out: o.run.out.clone(),
        preset: a.preset,
        train: o.config(),
        cot: a.cot,
        temperature: a.temperature,
        teacher_answers: a.teacher_answers.clone(),
        teacher_cache: a.teacher_cache.clone(),
        resume: o.run.resume(),
    };
    let device = o.run.device.select()?;
    if a.fill_cache {
        let trainer = distill_trainer(&plan, &device)?;
        let bar = ProgressBar::new(0);
        let computed = trainer.fill_teacher_cache(|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;
        bar.finish_and_clear();
        println!("teacher outputs computed for {computed} training scenes");
        return Ok(());
    }
    run_plan_with_progress(&TrainPlan::Distill(plan), &device)
}

/// Runs a training plan with a progress bar: the function the viewer's worker runs too. The
/// bar starts at the step the run reports when it starts (a resumed run's checkpoint step).
fn run_plan_with_progress(plan: &TrainPlan, device: &candle_core::Device) -> anyhow::Result<()> {
    with_progress(0, plan.steps(), plan.out(), |tx, cancel| {
        run_plan(plan, device, tx, cancel, |done, total| {
            if done == total || done % 200 == 0 {
                eprintln!("scenes read: {done}/{total}");
            }
        })
    })
}

fn train_decoder(o: &DecoderOptions) -> anyhow::Result<()> {
    let r = &o.run;
    let plan = TrainPlan::Decoder(DecoderPlan {
        data: r.data.clone(),
        out: r.out.clone(),
        tokenizer: o.tokenizer.clone(),
        vocab: o.vocab,
        student: o.student,
        cot: o.cot,
        no_probes: o.no_probes,
        object_context: o.object_context,
        anchors: o.anchors,
        slots: o.slots,
        group_voxel_m: o.group_voxel_m,
        train: DecoderTrainConfig {
            steps: r.steps,
            lr: o.lr,
            questions_per_step: o.questions_per_step,
            probe_weight: o.probe_weight,
            blind: o.blind,
            max_scenes: o.max_scenes,
            categories: o.categories.clone(),
            direct_first_steps: o.direct_first,
            word_noise: o.word_noise,
            reword: o.reword,
            eval_every: o.eval_every,
            checkpoint_every: o.checkpoint_every,
            seed: o.seed,
            init: o.init.clone(),
            init_decoder: o.init_decoder.clone(),
            teacher: o.teacher.clone(),
            latent_match_weight: o.latent_match,
            answer_kl_weight: o.answer_kl,
            annotated_share: o.annotated_share,
            found_objects: o.found_objects.clone(),
            ..Default::default()
        },
        resume: r.resume(),
    });
    run_plan_with_progress(&plan, &r.device.select()?)
}

fn train_perception(o: &PerceptionOptions) -> anyhow::Result<()> {
    let r = &o.run;
    let plan = TrainPlan::Perception(PerceptionPlan {
        data: r.data.clone(),
        out: r.out.clone(),
        tokenizer: o.tokenizer.clone(),
        vocab: o.vocab,
        train: PerceptionTrainConfig {
            steps: r.steps,
            lr: o.lr,
            scenes_per_step: o.scenes_per_step,
            semantic_weight: o.semantic_weight,
            max_scenes: o.max_scenes,
            eval_every: o.eval_every,
            eval_scenes: o.eval_scenes,
            checkpoint_every: o.checkpoint_every,
            seed: o.seed,
            init: o.init.clone(),
            scan_like: o.scan_like,
            object_colours: o.object_colours,
            named_weight: o.named_weight,
            camera_head: o.camera_head,
            camera_only: o.camera_only,
            ..Default::default()
        },
        resume: r.resume(),
    });
    run_plan_with_progress(&plan, &r.device.select()?)
}

/// A share in 0..=1 (`--scan-like`, `--object-colours`).
fn voxel_m(s: &str) -> Result<f32, String> {
    let range = spatia::model::config::GROUP_VOXEL_RANGE_M;
    match s.parse::<f32>() {
        Ok(v) if range.contains(&v) => Ok(v),
        Ok(v) => Err(format!(
            "{v} m is not a voxel edge between {} and {} m",
            range.start(),
            range.end()
        )),
        Err(e) => Err(format!("{s:?} is not a number: {e}")),
    }
}

fn share_in_unit(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is not a share between 0 and 1")),
        Err(e) => Err(format!("{s:?} is not a number: {e}")),
    }
}
