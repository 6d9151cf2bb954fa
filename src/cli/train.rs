//! `spatia train teacher …` and `spatia distill …`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use indicatif::{ProgressBar, ProgressStyle};
use spatia::data::Split;
use spatia::model::{ModelConfig, SpatiaTokenizer, pick_device};
use spatia::train::{
    Dataset, DistillPlan, StudentPreset, TrainConfig, TrainEvent, Trainer, checkpoint_dir,
    distill_trainer,
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
}

#[derive(clap::Args, Debug)]
pub struct TrainOptions {
    /// A `spatia gen-data` folder.
    #[arg(long)]
    data: PathBuf,
    /// Output folder: `checkpoint/` (a loadable model folder), `train_log.jsonl`.
    #[arg(long)]
    out: PathBuf,
    /// Optimiser steps (one scene each).
    #[arg(long, default_value_t = 2000)]
    steps: usize,
    /// Continue from `OUT/checkpoint` exactly where it stopped (refused when there is none).
    #[arg(long, conflicts_with = "resume_or_start")]
    resume: bool,
    /// Resume when `OUT/checkpoint` exists, else start a new run (and say which).
    #[arg(long)]
    resume_or_start: bool,
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

    fn config(&self) -> TrainConfig {
        TrainConfig {
            steps: self.steps,
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
    let TrainWhich::Teacher(o) = &args.which;
    let device = pick_device();
    let dataset = Dataset::open(&o.data)?;
    let resume = o.resume();
    let tokenizer = match (resume, checkpoint_dir(&o.out)) {
        (true, Some(dir)) => SpatiaTokenizer::load(&dir.join("tokenizer.json"))?,
        _ => {
            let qs = dataset.questions(Split::Train)?;
            anyhow::ensure!(
                !qs.is_empty(),
                "{}: no training questions",
                o.data.display()
            );
            SpatiaTokenizer::train(
                qs.iter()
                    .flat_map(|q| [q.question.clone(), q.answer.clone()]),
                o.vocab,
            )?
        }
    };
    let mut model_cfg = ModelConfig::teacher(o.vocab.max(tokenizer.vocab_size()));
    model_cfg.num_views = dataset.manifest.options.views;
    model_cfg.encoder.image_size = dataset.manifest.options.size as usize;
    let config = o.config();
    let mut trainer = Trainer::new(
        model_cfg, tokenizer, config, dataset, &o.out, resume, &device,
    )?;
    run_with_progress(&mut trainer, o.steps, &o.out)
}

/// Runs a trainer to its last step with a progress bar (a named thread reading its events).
fn run_with_progress(trainer: &mut Trainer, steps: usize, out: &Path) -> anyhow::Result<()> {
    let (tx, rx) = crossbeam_channel::bounded(1024);
    let cancel = Arc::new(AtomicBool::new(false));
    let total = steps as u64;
    let start_step = trainer.step as u64;
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
                    TrainEvent::Step { step, losses, .. } => {
                        bar.set_position(step as u64);
                        bar.set_message(format!(
                            "loss {:.3} answer {:.3}",
                            losses.get("total").copied().unwrap_or(0.0),
                            losses.get("answer_ce").copied().unwrap_or(0.0)
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
    let result = trainer.run(&tx, &cancel);
    if let Err(e) = &result {
        let _ = tx.send(TrainEvent::Failed {
            error: e.to_string(),
        });
    }
    drop(tx);
    let _ = handle.join();
    result?;
    println!(
        "trained to step {} -> {}",
        trainer.step,
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
        data: o.data.clone(),
        teacher: a.teacher.clone(),
        out: o.out.clone(),
        preset: a.preset,
        train: o.config(),
        cot: a.cot,
        temperature: a.temperature,
        teacher_answers: a.teacher_answers.clone(),
        teacher_cache: a.teacher_cache.clone(),
        resume: o.resume(),
    };
    let mut trainer = distill_trainer(&plan, &pick_device())?;
    if a.fill_cache {
        let bar = ProgressBar::new(0);
        let computed = trainer.fill_teacher_cache(|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;
        bar.finish_and_clear();
        println!("teacher outputs computed for {computed} training scenes");
        return Ok(());
    }
    run_with_progress(&mut trainer, o.steps, &o.out)
}
