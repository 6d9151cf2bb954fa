//! `spatia gen-data --scenes DIR --out DIR --views K --res R`.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use spatia::data::preview::write_preview;
use spatia::data::{BuildOptions, SceneShard, Split, build};

#[derive(clap::Args, Debug)]
pub struct GenDataArgs {
    /// Folder of scenes (ScanNet scan folders, 3D-FRONT .json houses, .ply files).
    #[arg(long)]
    scenes: PathBuf,
    /// Output folder; an unfinished build there is resumed.
    #[arg(long)]
    out: PathBuf,
    /// Views per scene.
    #[arg(long, default_value_t = 4)]
    views: usize,
    /// Image side, pixels.
    #[arg(long, default_value_t = 112)]
    res: u32,
    /// Seed for splits, cameras and questions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Most questions per category and scene.
    #[arg(long, default_value_t = 8)]
    per_category: usize,
    /// Horizontal field of view of rendered views, degrees.
    #[arg(long, default_value_t = 75.0)]
    hfov: f32,
    /// Also write `previews/<scene>.png` (views, depth, instances) for the first N scenes.
    #[arg(long, default_value_t = 0)]
    previews: usize,
}

pub fn run(args: &GenDataArgs) -> anyhow::Result<()> {
    let options = BuildOptions {
        views: args.views,
        size: args.res,
        seed: args.seed,
        per_category: args.per_category,
        hfov_deg: args.hfov,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} scenes  {elapsed_precise} eta {eta}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = std::time::Instant::now();
    let report = build(&args.scenes, &args.out, &options, |done, total, scene| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(scene.to_string());
    })?;
    bar.finish_and_clear();
    let m = &report.manifest;
    if args.previews > 0 {
        let dir = args.out.join("previews");
        std::fs::create_dir_all(&dir)?;
        let mut n = 0;
        'outer: for split in Split::ALL {
            for key in m.splits.get(&split).into_iter().flatten() {
                if n >= args.previews {
                    break 'outer;
                }
                let shard = SceneShard::read(
                    &args
                        .out
                        .join(split.name())
                        .join(format!("{key}.safetensors")),
                )?;
                write_preview(&shard, &dir.join(format!("{key}.png")))?;
                n += 1;
            }
        }
    }
    println!(
        "{} scenes built, {} resumed, {} failed in {:.1} s -> {}",
        report.built,
        report.resumed,
        m.failed.len(),
        start.elapsed().as_secs_f32(),
        args.out.display()
    );
    for split in Split::ALL {
        let scenes = m.splits.get(&split).map_or(0, Vec::len);
        let qs: usize = m.questions.get(&split).map_or(0, |c| c.values().sum());
        let yes = m
            .yes_share
            .get(&split)
            .map_or(String::new(), |y| format!(", {:.0}% yes", y * 100.0));
        println!("  {:<5} {scenes} scenes, {qs} questions{yes}", split.name());
    }
    let c = &m.coverage;
    println!(
        "  coverage: {:.1} askable objects per scene, {:.1}% shown by a view (>= {} px)",
        c.objects_per_scene,
        c.visible_share * 100.0,
        c.min_visible_px
    );
    for split in Split::ALL {
        let Some(per) = m.questions.get(&split) else {
            continue;
        };
        let cats: Vec<String> = per
            .iter()
            .map(|(k, n)| {
                let yes = c
                    .yes_share
                    .get(&split)
                    .and_then(|y| y.get(k))
                    .map_or(String::new(), |y| format!(" ({:.0}% yes)", y * 100.0));
                format!("{k} {n}{yes}")
            })
            .collect();
        let dropped = c.dropped_by_balance.get(&split).copied().unwrap_or(0);
        println!(
            "  {:<5} {}; {dropped} yes/no dropped by the wording balance",
            split.name(),
            cats.join(", ")
        );
    }
    for (k, t) in &c.text_only {
        println!(
            "  text-only baseline (question words, no scene) on test {k}: {:.1}% of {} (trained on {})",
            t.accuracy * 100.0,
            t.n,
            t.trained_on
        );
    }
    for f in &m.failed {
        eprintln!("  failed: {}", f.error);
    }
    Ok(())
}
