//! Scripted runs: `--screenshot` renders some frames after the scene is shown (and, with
//! `--ask`, after the answer arrived; with `--train`, after the run ended), writes the window's
//! image and exits; `--bench-frames` times frames and prints the figures — with `--ask`, while
//! the student answers the question over and over, with `--train`, while the run trains.

use std::path::PathBuf;
use std::time::Instant;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};

use super::ExitReason;
use super::chat::{Chat, ScriptedQuestion};
use super::loading::{CurrentScene, SceneLoader};
use super::lod::PointsDrawn;
use super::model_bridge::{ModelBridge, WorkerMessage};
use super::training::{ScriptedTraining, TrainingState};
use crate::worker::Event;
use crate::worker::Role;

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

/// Ends the app with the run's error when the scripted training run failed.
fn fail_if_training_failed(
    t: &TrainingState,
    reason: &ExitReason,
    exit: &mut MessageWriter<AppExit>,
) -> bool {
    if !t.failed {
        return false;
    }
    let why = t.status.clone().unwrap_or_default();
    reason.set(format!("the training run failed: {why}"));
    exit.write(AppExit::error());
    true
}

/// What a screenshot waits for: the scripted question's answer and the scripted run's end.
#[derive(SystemParam)]
struct Scripts<'w> {
    question: Option<Res<'w, ScriptedQuestion>>,
    chat: Option<Res<'w, Chat>>,
    training: Option<Res<'w, ScriptedTraining>>,
    state: Option<Res<'w, TrainingState>>,
}

fn take_screenshot_when_ready(
    mut commands: Commands,
    mut plan: ResMut<ScreenshotPlan>,
    loader: Res<SceneLoader>,
    current: Option<Res<CurrentScene>>,
    reason: Res<ExitReason>,
    mut exit: MessageWriter<AppExit>,
    scripts: Scripts,
) {
    if plan.requested || fail_if_load_failed(&loader, current.is_some(), &reason, &mut exit) {
        return;
    }
    if current.is_none() || loader.in_flight.is_some() {
        return;
    }
    if let (Some(script), Some(chat)) = (scripts.question, scripts.chat)
        && script.pending(&chat)
    {
        return;
    }
    if let (Some(script), Some(t)) = (scripts.training, scripts.state) {
        if script.pending(&t) {
            return;
        }
        if fail_if_training_failed(&t, &reason, &mut exit) {
            plan.requested = true;
            return;
        }
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
    /// Question → answer wall times, milliseconds (`--ask`).
    round_trips_ms: Vec<f64>,
    done: bool,
    /// Whether the model worker has finished with the new scene (its views rendered and the
    /// student's predictions made), so that frames are timed on the renderer alone.
    settled: bool,
    /// When the worker settled, seconds after the scene was shown.
    settled_after_s: Option<f64>,
    shown_at: Option<Instant>,
}

impl Plugin for FrameBenchPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(FrameBench {
            frames: self.frames.max(1),
            warmup: 3,
            times_ms: Vec::new(),
            last: None,
            round_trips_ms: Vec::new(),
            done: false,
            settled: false,
            settled_after_s: None,
            shown_at: None,
        })
        .add_systems(Last, time_frames);
    }
}

fn time_frames(
    mut bench: ResMut<FrameBench>,
    loader: Res<SceneLoader>,
    current: Option<Res<CurrentScene>>,
    ending: (Res<ExitReason>, MessageWriter<AppExit>),
    scripted: (Option<ResMut<ScriptedQuestion>>, Res<Chat>),
    training: (Option<Res<ScriptedTraining>>, Res<TrainingState>),
    worker: (
        MessageReader<WorkerMessage>,
        Res<ModelBridge>,
        Res<PointsDrawn>,
    ),
) {
    let (reason, mut exit) = ending;
    if bench.done || fail_if_load_failed(&loader, current.is_some(), &reason, &mut exit) {
        return;
    }
    let Some(current) = current else { return };
    let (question, chat) = scripted;
    let (mut messages, bridge, drawn) = worker;
    // Plain cases time the renderer once the worker is done with the scene (for a 20 M point
    // cloud it renders the student's views for a while, on a core lavapipe would use);
    // `--ask` and `--train` time frames while the models work, on purpose.
    let shown_at = *bench.shown_at.get_or_insert_with(Instant::now);
    if !bench.settled {
        let finished = messages.read().any(|m| {
            matches!(
                m.event,
                Event::Prediction {
                    role: Role::Student,
                    ..
                } | Event::Error { .. }
            )
        });
        let scripted = question.is_some() || training.0.is_some();
        if finished || scripted || !bridge.has_worker() {
            bench.settled = true;
            bench.settled_after_s = Some(shown_at.elapsed().as_secs_f64());
        } else {
            return;
        }
    }
    if let Some(mut q) = question
        && q.asked
        && !q.pending(&chat)
    {
        // Answered: note the round trip and ask again, so the student is busy the whole time.
        if let Some(at) = q.asked_at.take() {
            bench.round_trips_ms.push(at.elapsed().as_secs_f64() * 1e3);
        }
        q.asked = false;
    }
    let (train, t) = training;
    if train.is_some() {
        if fail_if_training_failed(&t, &reason, &mut exit) {
            bench.done = true;
            return;
        }
        // Time the steady state: from the first step on (the teacher cache is filled before).
        if t.step == 0 || !t.running {
            bench.last = None;
            return;
        }
    }
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
        bench.done = true;
        let (mean, median, min, max) = stats(&bench.times_ms);
        let s = &current.scene;
        let mut line = format!(
            "frame_bench scene={} vertices={} faces={} frames={} mean_ms={mean:.1} median_ms={median:.1} min_ms={min:.1} max_ms={max:.1}",
            s.name,
            s.positions.len(),
            s.face_count(),
            bench.times_ms.len(),
        );
        if drawn.total > 0 {
            line += &format!(" points_drawn={}", drawn.drawn);
        }
        if let Some(s) = bench.settled_after_s {
            line += &format!(" worker_settled_s={s:.1}");
        }
        if let Some((rss_mib, peak_mib)) = resident_mib() {
            // What the scene itself holds, against which the rest is the app (Bevy, lavapipe,
            // the models, the drawn points' buffers).
            let [scene_mib, lod_mib, bvh_mib] = current.heap_bytes().map(|b| b as f64 / 1048576.0);
            line += &format!(
                " rss_mib={rss_mib:.0} peak_rss_mib={peak_mib:.0} scene_mib={scene_mib:.0} lod_mib={lod_mib:.0} bvh_mib={bvh_mib:.0}"
            );
        }
        if !bench.round_trips_ms.is_empty() {
            let (mean, median, ..) = stats(&bench.round_trips_ms);
            let model: Vec<f64> = chat
                .history
                .get(&current.path)
                .into_iter()
                .flatten()
                .flat_map(|e| &e.answers)
                .filter(|a| a.role == Role::Student)
                .map(|a| a.latency_ms)
                .collect();
            let (model_mean, ..) = stats(&model);
            line += &format!(
                " answers={} answer_round_trip_mean_ms={mean:.1} answer_round_trip_median_ms={median:.1} student_model_mean_ms={model_mean:.1}",
                bench.round_trips_ms.len()
            );
        }
        if train.is_some() {
            line += &format!(
                " train_step={} train_steps_per_s={:.3}",
                t.step, t.steps_per_s
            );
        }
        println!("{line}");
        exit.write(AppExit::Success);
    }
}

/// This process's resident memory now and at its peak, MiB (Linux: `/proc/self/status`).
fn resident_mib() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Mean, median, min and max; NaNs for no values.
fn stats(v: &[f64]) -> (f64, f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    let mut t = v.to_vec();
    t.sort_by(f64::total_cmp);
    let mean = t.iter().sum::<f64>() / t.len() as f64;
    (mean, t[t.len() / 2], t[0], t[t.len() - 1])
}
