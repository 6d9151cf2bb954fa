//! `spatia view` and `spatia bench-view`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;
use spatia::scene::ply::PlyEncoding;
use spatia::scene::procgen::clouds::{CloudKind, write_cloud};
use spatia::train::StudentPreset;
use spatia::viewer::{PanelTab, ViewerOptions, run as run_viewer};

#[derive(clap::Args, Debug, Default)]
pub struct ViewArgs {
    /// A ScanNet folder or `_vh_clean_2.ply`, a 3D-FRONT `.json`, or a `.ply` (default: the
    /// bundled scene).
    pub scene: Option<PathBuf>,
    /// 3D-FRONT: load only this room.
    #[arg(long)]
    pub room: Option<String>,
    /// 3D-FRONT: the 3D-FUTURE model folder.
    #[arg(long)]
    pub future: Option<PathBuf>,
    /// Render, write the window's image to this PNG, and exit.
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Frames to render once the scene is shown, before the screenshot.
    #[arg(long, default_value_t = 5)]
    pub frames: u32,
    /// Window size, WIDTHxHEIGHT.
    #[arg(long, value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// Time this many frames after loading, print the figures and exit.
    #[arg(long)]
    pub bench_frames: Option<u32>,
    /// Ask the student this question once the scene is loaded; with --screenshot, the image is
    /// taken after the answer arrived.
    #[arg(long)]
    pub ask: Option<String>,
    /// Diagnostic mode: the teacher answers too (a screenshot waits for both answers).
    #[arg(long)]
    pub diagnostic: bool,
    /// The model that answers the chat: the student, or the privileged teacher (it needs a scene
    /// with annotated objects, such as a ScanNet scan with its aggregation).
    #[arg(long, value_enum, default_value_t = AnswerWith::Student)]
    pub answer_with: AnswerWith,
    /// The right-hand panel's tab.
    #[arg(long, value_enum)]
    pub panel: Option<PanelTab>,
    /// Start a distillation run on this `spatia gen-data` folder (teacher: the bundled one)
    /// once the scene is shown; with --screenshot, the image is taken after the run ended.
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Steps of the --train run (default: the training tab's, 300).
    #[arg(long)]
    pub train_steps: Option<usize>,
    /// Student preset of the --train run, student or tiny (default: the training tab's,
    /// student).
    #[arg(long, value_enum)]
    pub train_preset: Option<StudentPreset>,
    /// Output folder of the --train run (default: a `spatia-training` folder in the temp dir).
    #[arg(long)]
    pub train_out: Option<PathBuf>,
    /// Most points of a point cloud drawn per frame, the nearest detail first (default one
    /// million; a budget of at least the cloud's size draws every point).
    #[arg(long, value_parser = parse_budget)]
    pub point_budget: Option<u64>,
    #[command(flatten)]
    pub device: super::DeviceArgs,
}

fn parse_budget(s: &str) -> Result<u64, String> {
    let n: u64 = s
        .trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("expected a point count, got {s:?}"))?;
    if n == 0 {
        return Err("a point budget of 0 would draw nothing".into());
    }
    Ok(n)
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, got {s:?}"))?;
    let w: u32 = w
        .trim()
        .parse()
        .map_err(|_| format!("bad width in {s:?}"))?;
    let h: u32 = h
        .trim()
        .parse()
        .map_err(|_| format!("bad height in {s:?}"))?;
    if !(64..=8192).contains(&w) || !(64..=8192).contains(&h) {
        return Err(format!("size {w}x{h} outside 64..8192"));
    }
    Ok((w, h))
}

pub fn run(args: &ViewArgs) -> anyhow::Result<()> {
    let options = ViewerOptions {
        scene: args.scene.clone(),
        load: spatia::scene::LoadOptions {
            room: args.room.clone(),
            future_dir: args.future.clone(),
        },
        screenshot: args.screenshot.clone(),
        frames: args.frames,
        size: args.size.unwrap_or((1280, 800)),
        bench_frames: args.bench_frames,
        ask: args.ask.clone(),
        diagnostic: args.diagnostic,
        answer_with: match args.answer_with {
            AnswerWith::Student => spatia::worker::Role::Student,
            AnswerWith::Teacher => spatia::worker::Role::Teacher,
        },
        panel: args.panel,
        train: args.train.clone(),
        train_steps: args.train_steps,
        train_preset: args.train_preset,
        train_out: args.train_out.clone(),
        device: args.device.device,
        point_budget: args.point_budget,
    };
    run_viewer(options)?;
    Ok(())
}

/// Which model answers the chat.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AnswerWith {
    /// The student (RGB and cameras only).
    #[default]
    Student,
    /// The privileged teacher (annotated objects).
    Teacher,
}

#[derive(clap::Args, Debug)]
pub struct BenchViewArgs {
    /// Point-cloud sizes to time.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000,5000000")]
    pub points: Vec<u64>,
    /// Also time these scenes (e.g. ../shared/data/scannet/scene0000_00).
    #[arg(long)]
    pub scene: Vec<PathBuf>,
    /// Frames timed per case.
    #[arg(long, default_value_t = 10)]
    pub frames: u32,
    /// Window size.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    pub size: (u32, u32),
    /// Also time the bundled scene while the student answers this question over and over
    /// (prints the answers' round-trip times too).
    #[arg(long)]
    pub ask: Option<String>,
    /// Also time the bundled scene while a distillation run trains on this `spatia gen-data`
    /// folder (prints its step rate too).
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Student preset of the --train run (default: the training tab's).
    #[arg(long, value_enum)]
    pub train_preset: Option<StudentPreset>,
    /// Point budget of the point-cloud cases (default: the viewer's, one million).
    #[arg(long, value_parser = parse_budget)]
    pub point_budget: Option<u64>,
}

/// Runs each case as a child `spatia view --bench-frames` (a window per process).
pub fn bench(args: &BenchViewArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find the spatia executable")?;
    let dir = std::env::temp_dir().join(format!("spatia-bench-view-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut cases: Vec<(String, Vec<String>)> = Vec::new();
    let path = |p: &std::path::Path| p.display().to_string();
    for &n in &args.points {
        let p = dir.join(format!("cloud_{n}.ply"));
        write_cloud(
            &p,
            n as usize,
            CloudKind::Volume,
            PlyEncoding::BinaryLittleEndian,
        )?;
        cases.push((path(&p), vec![path(&p)]));
    }
    for s in &args.scene {
        cases.push((path(s), vec![path(s)]));
    }
    let bundled = path(&spatia::viewer::default_scene_path());
    if let Some(q) = &args.ask {
        cases.push((
            format!("{bundled} while the student answers"),
            vec![bundled.clone(), "--ask".into(), q.clone()],
        ));
    }
    if let Some(data) = &args.train {
        cases.push((
            format!("{bundled} while training"),
            [
                bundled.clone(),
                "--train".into(),
                path(data),
                "--train-steps".into(),
                "100000".into(),
                "--train-out".into(),
                path(&dir.join("training")),
            ]
            .into_iter()
            .chain(
                args.train_preset
                    .iter()
                    .flat_map(|p| ["--train-preset".to_string(), p.name().to_string()]),
            )
            .collect(),
        ));
    }
    let size = format!("{}x{}", args.size.0, args.size.1);
    println!("bench-view: {} frames per case at {size}", args.frames);
    for (name, case) in &cases {
        let out = Command::new(&exe)
            .arg("view")
            .args(case)
            .args(["--bench-frames", &args.frames.to_string(), "--size", &size])
            .args(
                args.point_budget
                    .iter()
                    .flat_map(|b| ["--point-budget".to_string(), b.to_string()]),
            )
            .output()
            .with_context(|| format!("cannot run {}", exe.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        match stdout.lines().find(|l| l.starts_with("frame_bench")) {
            Some(line) => println!("{line}"),
            None => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let last = stderr
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("");
                println!("frame_bench scene={name} FAILED: {last}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
