//! `spatia gen-scenes --out DIR --count N --seed S --format scannet|3dfront`.

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use spatia::scene::procgen::{GenFormat, generate};

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum FormatArg {
    /// ScanNet scan folders (`<scan>/<scan>_vh_clean_2.ply`, segments, aggregation, `.txt`).
    Scannet,
    /// 3D-FRONT house JSONs in `3D-FRONT/` with models in `3D-FUTURE-model/<jid>/`.
    #[value(name = "3dfront")]
    Front3d,
}

#[derive(clap::Args, Debug)]
pub struct GenArgs {
    /// Output folder (created if needed).
    #[arg(long)]
    out: PathBuf,
    /// Number of scenes.
    #[arg(long, default_value_t = 10)]
    count: u32,
    /// Seed; the same seed and index always give the same scene.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Index of the first scene (to extend a set).
    #[arg(long, default_value_t = 0)]
    start: u32,
    /// On-disk layout.
    #[arg(long, value_enum, default_value = "scannet")]
    format: FormatArg,
}

/// At most this many scenes per call (each is a few hundred kB).
const MAX_COUNT: u32 = 1_000_000;

pub fn run(args: &GenArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.count <= MAX_COUNT,
        "--count {} is more than {MAX_COUNT}",
        args.count
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let format = match args.format {
        FormatArg::Scannet => GenFormat::ScanNet,
        FormatArg::Front3d => GenFormat::Front3d,
    };
    let bar = ProgressBar::new(u64::from(args.count));
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} scenes  {elapsed_precise} eta {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut rooms = std::collections::BTreeMap::<&str, u32>::new();
    for i in args.start..args.start.saturating_add(args.count) {
        let scene = generate(args.seed, i);
        scene.write(&args.out, format)?;
        *rooms.entry(scene.room_type).or_default() += 1;
        bar.set_message(scene.name.clone());
        bar.inc(1);
    }
    bar.finish_and_clear();
    let summary: Vec<String> = rooms.iter().map(|(k, v)| format!("{v} {k}")).collect();
    println!(
        "wrote {} scenes to {} ({})",
        args.count,
        args.out.display(),
        summary.join(", ")
    );
    Ok(())
}
