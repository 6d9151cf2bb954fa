//! Scripted runs: `--screenshot` renders some frames after the scene is shown (and, with
//! `--ask`, after the answer arrived), writes the window's image and exits; `--bench-frames` times frames and prints the figures.

use std::path::PathBuf;
use std::time::Instant;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};

use super::ExitReason;
use super::assistant::{Chat, ScriptedQuestion};
use super::loading::{CurrentScene, SceneLoader};

/// Screenshot mode.
pub struct ScreenshotPlugin {
    /// Where the PNG goes.
    pub path: PathBuf,
    /// Frames rendered after the scene is on screen.
    pub frames: u32,
}

#[derive(Resource)]
struct ScreenshotPlan {
    path: PathBuf,
    frames: u32,
    shown_frames: u32,
    requested: bool,
}

impl Plugin for ScreenshotPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(ScreenshotPlan {
            path: self.path.clone(),
            frames: self.frames,
            shown_frames: 0,
            requested: false,
        })
        .add_systems(Last, take_screenshot_when_ready);
    }
}

/// Ends the app with an error when the scripted run's scene failed to load.
fn fail_if_load_failed(
    loader: &SceneLoader,
    current: bool,
    reason: &ExitReason,
    exit: &mut MessageWriter<AppExit>,
) -> bool {
    if loader.first_load_done && !current && loader.in_flight.is_none() {
        let msg = loader
            .error
            .clone()
            .unwrap_or_else(|| "the scene did not load".into());
        reason.set(msg);
        exit.write(AppExit::error());
        return true;
    }
    false
}

fn take_screenshot_when_ready(
    mut commands: Commands,
    mut plan: ResMut<ScreenshotPlan>,
    loader: Res<SceneLoader>,
    current: Option<Res<CurrentScene>>,
    reason: Res<ExitReason>,
    mut exit: MessageWriter<AppExit>,
    scripted: (Option<Res<ScriptedQuestion>>, Option<Res<Chat>>),
) {
    if plan.requested || fail_if_load_failed(&loader, current.is_some(), &reason, &mut exit) {
        return;
    }
    if current.is_none() || loader.in_flight.is_some() {
        return;
    }
    if let (Some(script), Some(chat)) = scripted
        && script.pending(&chat)
    {
        return;
    }
    plan.shown_frames += 1;
    if plan.shown_frames < plan.frames.max(2) {
        return;
    }
    plan.requested = true;
    let path = plan.path.clone();
    commands.spawn(Screenshot::primary_window()).observe(
        move |captured: On<ScreenshotCaptured>,
              reason: Res<ExitReason>,
              mut exit: MessageWriter<AppExit>| {
            let saved = captured
                .image
                .clone()
                .try_into_dynamic()
                .map_err(|e| e.to_string())
                .and_then(|img| img.to_rgb8().save(&path).map_err(|e| e.to_string()));
            match saved {
                Ok(()) => {
                    info!("screenshot written to {}", path.display());
                    exit.write(AppExit::Success);
                }
                Err(e) => {
                    reason.set(format!("{}: cannot write screenshot: {e}", path.display()));
                    exit.write(AppExit::error());
                }
            }
        },
    );
}

/// Frame-time benchmark mode.
pub struct FrameBenchPlugin {
    /// Frames to time after warm-up.
    pub frames: u32,
}

#[derive(Resource)]
struct FrameBench {
    frames: u32,
    warmup: u32,
    times_ms: Vec<f64>,
    last: Option<Instant>,
}

impl Plugin for FrameBenchPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(FrameBench {
            frames: self.frames.max(1),
            warmup: 3,
            times_ms: Vec::new(),
            last: None,
        })
        .add_systems(Last, time_frames);
    }
}

fn time_frames(
    mut bench: ResMut<FrameBench>,
    loader: Res<SceneLoader>,
    current: Option<Res<CurrentScene>>,
    reason: Res<ExitReason>,
    mut exit: MessageWriter<AppExit>,
) {
    if fail_if_load_failed(&loader, current.is_some(), &reason, &mut exit) {
        return;
    }
    let Some(current) = current else { return };
    let now = Instant::now();
    if let Some(last) = bench.last.replace(now) {
        if bench.warmup > 0 {
            bench.warmup -= 1;
            return;
        }
        bench
            .times_ms
            .push(now.duration_since(last).as_secs_f64() * 1e3);
    }
    if bench.times_ms.len() as u32 >= bench.frames {
        let mut t = bench.times_ms.clone();
        t.sort_by(f64::total_cmp);
        let mean = t.iter().sum::<f64>() / t.len() as f64;
        let s = &current.scene;
        println!(
            "frame_bench scene={} vertices={} faces={} frames={} mean_ms={:.1} median_ms={:.1} min_ms={:.1} max_ms={:.1}",
            s.name,
            s.positions.len(),
            s.face_count(),
            t.len(),
            mean,
            t[t.len() / 2],
            t[0],
            t[t.len() - 1]
        );
        exit.write(AppExit::Success);
    }
}
