//! `spatia questions SCENE [--json]` and `spatia import-questions`.

use std::path::PathBuf;

use anyhow::bail;
use spatia::data::build::{BuildOptions, render_shard, shard_visibility};
use spatia::questions::import::{ImportReport, import_scanqa, import_sqa3d};
use spatia::questions::jsonl::write_jsonl;
use spatia::questions::{GenerateOptions, QuestionCategory, generate, generate_visible};
use spatia::spatial::SpatialScene;

use super::SceneArgs;

/// Which paraphrase templates to use.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateSet {
    /// Training templates only.
    Train,
    /// Held-out templates only (evaluation of new wording).
    HeldOut,
    /// Both.
    All,
}

#[derive(clap::Args, Debug)]
pub struct QuestionsArgs {
    #[command(flatten)]
    scene: SceneArgs,
    /// Print one JSON object per line (the JSONL question format).
    #[arg(long)]
    json: bool,
    /// Most questions per category.
    #[arg(long, default_value_t = 8)]
    per_category: usize,
    /// Seed, mixed with the scene name.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Which paraphrase templates to draw from.
    #[arg(long, value_enum, default_value_t = TemplateSet::All)]
    templates: TemplateSet,
    /// Also write the questions to this JSONL file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Ask only about objects that views of the scene show: render this many views as
    /// `spatia ask` and `spatia eval --questions` do (same cameras for the same --res and
    /// --seed) and record which views show each object.
    #[arg(long)]
    views: Option<usize>,
    /// Side of those views, pixels.
    #[arg(long, default_value_t = 112)]
    res: u32,
    /// Write the scene's path as given here (not its name) into each question's `scene`, so
    /// `spatia eval --questions` can open it without a dataset.
    #[arg(long)]
    scene_path: bool,
}

pub fn run(args: &QuestionsArgs) -> anyhow::Result<()> {
    let scene = args.scene.load()?;
    let spatial = SpatialScene::new(&scene);
    let options = GenerateOptions {
        all_yes_no: false,
        seed: args.seed,
        per_category: args.per_category,
        held_out: match args.templates {
            TemplateSet::Train => Some(false),
            TemplateSet::HeldOut => Some(true),
            TemplateSet::All => None,
        },
    };
    let mut questions = match args.views {
        Some(views) => {
            let build = BuildOptions {
                views,
                size: args.res,
                ..Default::default()
            };
            let shard = render_shard(&scene, &build, args.seed)?;
            generate_visible(&spatial, &options, &shard_visibility(&shard))
        }
        None => generate(&spatial, &options),
    };
    if args.scene_path {
        let path = args.scene.scene.to_string_lossy().to_string();
        for q in &mut questions {
            q.scene = path.clone();
        }
    }
    if let Some(out) = &args.out {
        write_jsonl(out, &questions)?;
    }
    if args.json {
        for q in &questions {
            println!("{}", serde_json::to_string(q)?);
        }
        return Ok(());
    }
    for category in QuestionCategory::ALL {
        let qs: Vec<_> = questions
            .iter()
            .filter(|q| q.category == category)
            .collect();
        println!("## {category} ({})", qs.len());
        for q in qs {
            let mark = if q.held_out { " [held-out]" } else { "" };
            println!("  Q: {}{mark}\n  A: {}", q.question, q.answer);
        }
    }
    println!("{} questions about {}", questions.len(), scene.name);
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// SQA3D questions file (`v1_balanced_questions_*.json`); needs --sqa3d-answers.
    #[arg(long, requires = "sqa3d_answers")]
    sqa3d: Option<PathBuf>,
    /// SQA3D annotations file (`v1_balanced_sqa_annotations_*.json`).
    #[arg(long)]
    sqa3d_answers: Option<PathBuf>,
    /// ScanQA file (`ScanQA_v1.0_*.json`).
    #[arg(long)]
    scanqa: Option<PathBuf>,
    /// Where to write the usable questions (JSONL).
    #[arg(long)]
    out: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn import(args: &ImportArgs) -> anyhow::Result<()> {
    let (questions, report): (_, ImportReport) =
        match (&args.sqa3d, &args.sqa3d_answers, &args.scanqa) {
            (Some(q), Some(a), None) => import_sqa3d(q, a)?,
            (None, None, Some(s)) => import_scanqa(s)?,
            _ => bail!("give either --sqa3d FILE --sqa3d-answers FILE, or --scanqa FILE"),
        };
    write_jsonl(&args.out, &questions)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} of {} questions usable ({} not spatial, {} without answer) -> {}",
            report.usable,
            report.total,
            report.not_spatial,
            report.no_answer,
            args.out.display()
        );
        for (c, n) in &report.per_category {
            println!("  {c:<12} {n}");
        }
    }
    Ok(())
}
