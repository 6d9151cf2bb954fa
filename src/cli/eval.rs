//! `spatia eval`: one model, or a teacher against a student, on a dataset split or on a
//! question file about scenes given by path; seen and held-out wordings apart, with intervals
//! and (with `--blind`) the blind baseline beside each category.

use std::path::PathBuf;

use anyhow::Context;
use spatia::data::{Dataset, Split};
use spatia::eval::{CategoryScore, EvalOptions, EvalReport, compare, evaluate, evaluate_questions};
use spatia::model::load_model;
use spatia::questions::jsonl::read_jsonl;

/// The `--split` values.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitArg {
    /// Held-out test scenes.
    Test,
    /// Validation scenes.
    Val,
    /// Training scenes.
    Train,
    /// All three.
    All,
}

impl SplitArg {
    fn splits(self) -> &'static [Split] {
        match self {
            SplitArg::Test => &[Split::Test],
            SplitArg::Val => &[Split::Val],
            SplitArg::Train => &[Split::Train],
            SplitArg::All => &Split::ALL,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Model folder.
    #[arg(long, required_unless_present = "compare")]
    model: Option<PathBuf>,
    /// Evaluate a teacher and a student and print the paper's table: accuracy per category,
    /// retention (student / teacher and above chance), size and latency ratios.
    #[arg(long, num_args = 2, value_names = ["TEACHER", "STUDENT"], conflicts_with = "model")]
    compare: Option<Vec<PathBuf>>,
    /// A `spatia gen-data` folder.
    #[arg(long, required_unless_present = "questions")]
    data: Option<PathBuf>,
    /// Which split of `--data`.
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    split: SplitArg,
    /// Questions (JSONL). With `--data`: they replace the dataset's, matched by scene name.
    /// Without: each line's `scene` is a scene path (ScanNet folder, 3D-FRONT house,
    /// generated scene, PLY), relative to this file's folder or else to the working
    /// directory, and the views are rendered as `spatia ask` renders them.
    #[arg(long)]
    questions: Option<PathBuf>,
    /// Seed of the rendered views' cameras (question files without `--data`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also answer every seen-wording question blind: with another scene's tokens in place of
    /// its own. A model that grounds its answers is far above its blind score.
    #[arg(long)]
    blind: bool,
    /// A student with a camera head groups the objects it finds through the cameras it
    /// predicts (the first view's camera and its poses of the others relative to it) instead
    /// of the views' own.
    #[arg(long)]
    predicted_cameras: bool,
    /// A student whose config looks again for the objects a question names
    /// (`look_again`) answers from what it found at first only.
    #[arg(long)]
    no_look_again: bool,
    /// At most this many scenes.
    #[arg(long)]
    max_scenes: Option<usize>,
    /// Only questions of these categories (comma-separated; default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    categories: Vec<spatia::questions::QuestionCategory>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    device: super::DeviceArgs,
}

pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let splits = args.split.splits();
    let device = args.device.select()?;
    let dataset = args.data.as_deref().map(Dataset::open).transpose()?;
    let external = match &args.questions {
        Some(p) => Some((read_jsonl(p)?, p.clone())),
        None => None,
    };
    let options = EvalOptions {
        max_scenes: args.max_scenes,
        blind: args.blind,
        categories: args.categories.clone(),
        cameras: if args.predicted_cameras {
            spatia::model::Cameras::Predicted
        } else {
            spatia::model::Cameras::Given
        },
    };
    let run = |dir: &PathBuf| -> anyhow::Result<EvalReport> {
        let mut model = load_model(dir, &device)?;
        if args.no_look_again {
            model.model.cfg.look_again = None;
        }
        let report = match (&dataset, &external) {
            (Some(ds), ext) => evaluate(
                &model,
                ds,
                splits,
                &options,
                ext.as_ref().map(|(q, _)| q.as_slice()),
            ),
            (None, Some((qs, file))) => evaluate_questions(&model, qs, file, args.seed, &options),
            (None, None) => anyhow::bail!("give --data or --questions"),
        };
        report.with_context(|| format!("evaluating {}", dir.display()))
    };
    if let Some(pair) = &args.compare {
        let (teacher, student) = (run(&pair[0])?, run(&pair[1])?);
        let c = compare(&teacher, &student);
        if args.json {
            let v = serde_json::json!({"teacher": teacher, "student": student, "comparison": c});
            println!("{}", serde_json::to_string_pretty(&v)?);
            return Ok(());
        }
        println!(
            "{:<12} {:>22} {:>22} {:>10} {:>12}",
            "category", "teacher", "student", "retention", "above chance"
        );
        for (k, t) in &teacher.categories {
            let s = student.categories.get(k);
            let pct = |m: &std::collections::BTreeMap<String, f32>| {
                m.get(k)
                    .map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0))
            };
            println!(
                "{k:<12} {:>22} {:>22} {:>10} {:>12}",
                with_interval(t),
                s.map_or("-".to_string(), with_interval),
                pct(&c.retention),
                pct(&c.above_chance_retention)
            );
        }
        if !c.teacher_at_chance.is_empty() {
            println!(
                "no retention where the teacher is not above chance: {}",
                c.teacher_at_chance.join(", ")
            );
        }
        println!(
            "mean retention {:.1}%, above chance {:.1}%",
            c.mean_retention * 100.0,
            c.mean_above_chance_retention * 100.0
        );
        println!(
            "parameters {} / {} = {:.2}x",
            teacher.params, student.params, c.params_ratio
        );
        println!(
            "per-answer latency {:.1} ms / {:.1} ms = {:.2}x ({})",
            teacher.latency_ms, student.latency_ms, c.latency_ratio, teacher.latency_method
        );
        return Ok(());
    }
    let model_dir = args
        .model
        .clone()
        .context("--model or --compare is needed")?;
    let report = run(&model_dir)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_report(&report);
    Ok(())
}

/// "71.2% [66.6, 75.4] n=400".
fn with_interval(c: &CategoryScore) -> String {
    share_with_interval(c.accuracy, c.ci95, c.n)
}

/// A share, its 95% interval and count as percentages.
fn share_with_interval(share: f32, ci95: [f32; 2], n: usize) -> String {
    format!(
        "{:.1}% [{:.1}, {:.1}] n={n}",
        share * 100.0,
        ci95[0] * 100.0,
        ci95[1] * 100.0
    )
}

fn print_report(report: &EvalReport) {
    println!(
        "{}: {} parameters, {} scenes, answer {:.1} ms (forced answer), encode {:.1} ms",
        report.model, report.params, report.scenes, report.latency_ms, report.encode_ms
    );
    println!(
        "{:<12} {:>28} {:>8} {:>7} {:>28} {:>28}",
        "category", "seen wordings", "gen.", "chance", "held-out", "blind"
    );
    let cats: std::collections::BTreeSet<&String> = report
        .categories
        .keys()
        .chain(report.held_out.keys())
        .collect();
    for k in cats {
        let cell = |m: &std::collections::BTreeMap<String, CategoryScore>| {
            m.get(k).map_or("-".to_string(), with_interval)
        };
        let seen = report.categories.get(k);
        let extra = match seen.and_then(|v| v.mra.zip(v.within_25)) {
            Some((m, w)) => format!("  MRA {m:.3}, within 25% {:.1}%", w * 100.0),
            None => String::new(),
        };
        println!(
            "{k:<12} {:>28} {:>8} {:>7} {:>28} {:>28}{extra}",
            cell(&report.categories),
            seen.map_or("-".to_string(), |v| format!(
                "{:.1}%",
                v.generated_accuracy * 100.0
            )),
            seen.map_or("-".to_string(), |v| format!("{:.1}%", v.chance * 100.0)),
            cell(&report.held_out),
            cell(&report.blind)
        );
    }
    if let Some(m) = &report.blind_method {
        println!("blind: {m}");
    }
    for (k, c) in &report.looked_again {
        println!(
            "  {k}, answered with an object found by looking again: {}",
            with_interval(c)
        );
    }
    for (k, c) in &report.by_reference {
        let slots = report.grounding.get(k).map_or(String::new(), |g| {
            format!(
                "   slots on the named objects {}",
                share_with_interval(g.share, g.ci95, g.n)
            )
        });
        println!("  {k:<24} {:>28}{slots}", with_interval(c));
    }
    println!(
        "answers of the asked kind: {:.1}% (free decoding alone {:.1}%)",
        report.answer_kind_ok * 100.0,
        report.answer_kind_ok_free * 100.0
    );
    for (k, s) in report.answer_kind.iter().filter(|(_, s)| s.share < 1.0) {
        println!("  {k:<24} {}", share_with_interval(s.share, s.ci95, s.n));
    }
    let input = if report.depth.input {
        " (depth is this model's input: not a prediction)"
    } else {
        ""
    };
    println!(
        "depth: AbsRel {:.3}, δ<1.25 {:.1}%, point map median error {:.3} m ({} views){input}",
        report.depth.abs_rel,
        report.depth.delta1 * 100.0,
        report.depth.point_median_m,
        report.depth.views
    );
    println!(
        "detection: mAP@0.25 {:.3} over {} classes (objects the views show)",
        report.detection.map25, report.detection.classes
    );
    if let Some(c) = &report.camera {
        let with = match c.answered_with {
            spatia::model::Cameras::Given => "the views' own cameras",
            spatia::model::Cameras::Predicted => "the predicted cameras",
        };
        println!(
            "cameras: median error {:.1}° rotation, {:.3} m translation ({} views after each \
             scene's first; {:.1}° and {:.3} m taking every view at the first's pose); answers \
             grouped objects through {with}",
            c.rotation_median_deg,
            c.translation_median_m,
            c.views,
            c.identity_rotation_median_deg,
            c.identity_translation_median_m
        );
    }
}
