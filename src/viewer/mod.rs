//! The Bevy viewer: opens ScanNet / 3D-FRONT / PLY scenes, renders meshes and point clouds,
//! and lets the user inspect objects, pick points and measure distances.
//!
//! One plugin per feature; scene loading runs on a named worker thread whose results reach
//! the ECS through a resource holding a bounded crossbeam receiver, drained every frame.
//! Nothing here touches a candle `Tensor`.

mod camera;
mod chat;
mod colors;
mod diagnostics;
mod file_dialog;
mod loading;
mod lod;
mod model_bridge;
mod overlays;
mod picking;
mod points;
mod predictions;
mod recent;
mod render;
mod screenshot;
mod training;
mod ui;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bevy::prelude::*;
use bevy::render::RenderPlugin;
use bevy::render::settings::WgpuSettings;
use bevy::window::{PresentMode, WindowResolution};

use crate::scene::LoadOptions;

pub use camera::{OrbitCamera, framing_for};
pub use picking::measure_distance_m;
pub use ui::PanelTab;

/// How to start the viewer.
#[derive(Debug, Clone)]
pub struct ViewerOptions {
    /// Scene to open at start; the bundled default scene when `None`.
    pub scene: Option<PathBuf>,
    /// 3D-FRONT room / model folder options.
    pub load: LoadOptions,
    /// Screenshot mode: render, write this PNG, exit.
    pub screenshot: Option<PathBuf>,
    /// Frames to render after the scene is shown, before the screenshot.
    pub frames: u32,
    /// Window size in logical pixels.
    pub size: (u32, u32),
    /// Frame-time benchmark mode: render this many frames after loading, print frame times, exit.
    pub bench_frames: Option<u32>,
    /// Ask this question once the scene is loaded (a screenshot waits for the answer).
    pub ask: Option<String>,
    /// Start in diagnostic mode (the teacher answers too; a screenshot waits for it).
    pub diagnostic: bool,
    /// The model that answers the chat at start (`--answer-with`).
    pub answer_with: crate::worker::Role,
    /// The right-hand panel's tab at start.
    pub panel: Option<PanelTab>,
    /// Start a distillation run on this `spatia gen-data` folder once the scene is shown (a
    /// screenshot waits for its end; a frame benchmark times frames while it runs).
    pub train: Option<PathBuf>,
    /// Steps of that run (the training tab's default when `None`).
    pub train_steps: Option<usize>,
    /// Student preset of that run, student or tiny (the training tab's default when `None`).
    pub train_preset: Option<crate::worker::StudentPreset>,
    /// Output folder of that run (the training tab's default when `None`).
    pub train_out: Option<PathBuf>,
    /// Where the models run (`--device`).
    pub device: crate::model::DeviceChoice,
    /// Most points drawn per frame (`--point-budget`; the default budget when `None`).
    pub point_budget: Option<u64>,
}

impl Default for ViewerOptions {
    fn default() -> Self {
        Self {
            scene: None,
            load: LoadOptions::default(),
            screenshot: None,
            frames: 5,
            size: (1280, 800),
            bench_frames: None,
            ask: None,
            diagnostic: false,
            answer_with: crate::worker::Role::Student,
            panel: None,
            train: None,
            train_steps: None,
            train_preset: None,
            train_out: None,
            device: crate::model::DeviceChoice::Auto,
            point_budget: None,
        }
    }
}

/// Why the viewer stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    /// Screenshot or benchmark mode could not load its scene or write its output.
    #[error("{0}")]
    Failed(String),
    /// The app exited with an error code and no message.
    #[error("the viewer exited with an error")]
    Exited,
}

/// A message explaining an error exit, filled by whichever system ends the app.
#[derive(Resource, Clone, Default)]
pub(crate) struct ExitReason(pub Arc<Mutex<Option<String>>>);

impl ExitReason {
    pub(crate) fn set(&self, msg: String) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(msg);
        }
    }
}

/// The bundled default scene: `assets/scenes/default`, looked up in the working directory,
/// the source tree this binary was built from, and beside the executable.
pub fn default_scene_path() -> PathBuf {
    crate::scene::bundled_path(Path::new("assets/scenes/default"))
}

/// Runs the viewer until its window is closed (or the screenshot / benchmark is done).
pub fn run(options: ViewerOptions) -> Result<(), ViewerError> {
    #[cfg(target_os = "linux")]
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        return Err(ViewerError::Failed(
            "no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set); run under X11/Wayland or `xvfb-run spatia view …`".into(),
        ));
    }
    let exit_reason = ExitReason::default();
    let scene = options.scene.clone().unwrap_or_else(default_scene_path);
    let headless_run = options.screenshot.is_some() || options.bench_frames.is_some();
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: "Spatia".into(),
                    resolution: WindowResolution::new(options.size.0, options.size.1)
                        .with_scale_factor_override(1.0),
                    present_mode: if headless_run {
                        PresentMode::AutoNoVsync
                    } else {
                        PresentMode::AutoVsync
                    },
                    ..default()
                }),
                ..default()
            })
            .set(RenderPlugin {
                render_creation: WgpuSettings::default().into(),
                synchronous_pipeline_compilation: true,
                ..default()
            }),
    )
    .add_plugins(bevy_egui::EguiPlugin::default())
    .insert_resource(ClearColor(Color::srgb(0.11, 0.12, 0.14)))
    .insert_resource(exit_reason.clone())
    .insert_resource(StartupScene {
        path: scene,
        options: options.load.clone(),
    })
    .add_plugins((
        loading::LoadPlugin,
        model_bridge::ModelBridgePlugin,
        chat::ChatPlugin,
        predictions::PredictionsPlugin,
        diagnostics::DiagnosticsPlugin,
        training::TrainingPlugin,
        render::SceneRenderPlugin,
        points::PointCloudPlugin,
        lod::PointLodPlugin,
        camera::CameraPlugin,
        picking::PickingPlugin,
        overlays::OverlayPlugin,
        ui::UiPlugin,
    ));
    app.insert_resource(model_bridge::ModelDirs {
        device: options.device,
        ..Default::default()
    });
    if let Some(budget) = options.point_budget {
        app.insert_resource(lod::PointBudget(budget));
    }
    if let Some(tab) = options.panel {
        app.insert_resource(ui::RightPanel(tab));
    }
    app.insert_resource(chat::Chat {
        diagnostic: options.diagnostic,
        answer_with: options.answer_with,
        ..Default::default()
    });
    if let Some(question) = &options.ask {
        app.insert_resource(chat::ScriptedQuestion {
            question: question.clone(),
            asked: false,
            asked_at: None,
        });
    }
    if let Some(data) = &options.train {
        app.insert_resource(training::ScriptedTraining {
            data: data.clone(),
            steps: options.train_steps,
            preset: options.train_preset,
            out: options.train_out.clone(),
            started: false,
        });
    }
    if let Some(path) = &options.screenshot {
        app.add_plugins(screenshot::ScreenshotPlugin {
            path: path.clone(),
            frames: options.frames,
        });
    }
    if let Some(frames) = options.bench_frames {
        app.add_plugins(screenshot::FrameBenchPlugin { frames });
    }
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(_) => Err(match exit_reason.0.lock().ok().and_then(|g| g.clone()) {
            Some(msg) => ViewerError::Failed(msg),
            None => ViewerError::Exited,
        }),
    }
}

/// The scene to open when the app starts.
#[derive(Resource, Clone)]
pub(crate) struct StartupScene {
    pub path: PathBuf,
    pub options: LoadOptions,
}
