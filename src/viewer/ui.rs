//! The egui panels: menu bar (File / View / Tools), object list on the left, the right-hand
//! panel's tabs (chat, diagnostics, training — each drawn by its own plugin's `_ui` function),
//! status bar at the bottom. File dialogs run on a named thread (`file_dialog`).

use bevy::prelude::*;
use bevy::window::FileDragAndDrop;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use crossbeam_channel::TryRecvError;

use super::camera::{FocusObject, FrameScene, ViewRect};
use super::chat::{Chat, chat_ui};
use super::colors::ColorMode;
use super::diagnostics::{DiagnosticView, diagnostics_ui};
use super::file_dialog::FileDialog;
use super::loading::{CurrentScene, LoadRequest, SceneLoader};
use super::lod::{PointBudget, PointsDrawn};
use super::model_bridge::ModelBridge;
use super::overlays::OverlaySettings;
use super::picking::{MeasureTool, Selection, measure_distance_m};
use super::predictions::{Predictions, predictions_ui};
use super::recent::RecentScenes;
use super::render::{BackFaceCulling, HiddenObjects, PointSize};
use super::training::{TrainingState, training_ui};
use crate::scene::LoadOptions;

/// The tabs of the right-hand panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PanelTab {
    /// Questions and answers, depth and boxes.
    #[default]
    Chat,
    /// Teacher vs student, attention, disagreements.
    Diagnostics,
    /// The distillation run.
    Training,
}

/// Which tab the right-hand panel shows.
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct RightPanel(pub PanelTab);

/// Smoothed frame time for the status bar.
#[derive(Resource, Default, Debug, Clone, Copy)]
pub struct FrameStats {
    /// Exponential moving average of the frame time, milliseconds.
    pub frame_ms: f32,
}

/// UI plugin.
pub struct UiPlugin;

impl Plugin for UiPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<FileDialog>()
            .init_resource::<RightPanel>()
            .init_resource::<FrameStats>()
            .add_systems(
                Update,
                (drain_file_dialog, open_dropped_files, update_frame_stats),
            )
            .add_systems(EguiPrimaryContextPass, panels_ui);
    }
}

fn drain_file_dialog(mut dialog: ResMut<FileDialog>, mut requests: MessageWriter<LoadRequest>) {
    let Some(rx) = &dialog.rx else { return };
    match rx.try_recv() {
        Ok(Some(path)) => {
            dialog.rx = None;
            dialog.note = None;
            requests.write(LoadRequest {
                path,
                options: LoadOptions::default(),
            });
        }
        Ok(None) | Err(TryRecvError::Disconnected) => {
            dialog.rx = None;
            dialog.note = Some(
                "no file chosen (without a desktop file dialog, drop a file on the window or run `spatia view PATH`)"
                    .into(),
            );
        }
        Err(TryRecvError::Empty) => {}
    }
}

fn open_dropped_files(
    mut drops: MessageReader<FileDragAndDrop>,
    mut requests: MessageWriter<LoadRequest>,
) {
    for d in drops.read() {
        if let FileDragAndDrop::DroppedFile { path_buf, .. } = d {
            requests.write(LoadRequest {
                path: path_buf.clone(),
                options: LoadOptions::default(),
            });
        }
    }
}

fn update_frame_stats(time: Res<Time>, mut stats: ResMut<FrameStats>) {
    let ms = time.delta_secs() * 1e3;
    stats.frame_ms = if stats.frame_ms == 0.0 {
        ms
    } else {
        stats.frame_ms * 0.9 + ms * 0.1
    };
}

/// Everything the panels read and change.
#[derive(bevy::ecs::system::SystemParam)]
pub struct PanelState<'w> {
    current: Option<Res<'w, CurrentScene>>,
    loader: ResMut<'w, SceneLoader>,
    dialog: ResMut<'w, FileDialog>,
    recent: Res<'w, RecentScenes>,
    mode: ResMut<'w, ColorMode>,
    point_size: ResMut<'w, PointSize>,
    budget: ResMut<'w, PointBudget>,
    drawn: Res<'w, PointsDrawn>,
    culling: ResMut<'w, BackFaceCulling>,
    overlays: ResMut<'w, OverlaySettings>,
    hidden: ResMut<'w, HiddenObjects>,
    selection: ResMut<'w, Selection>,
    measure: ResMut<'w, MeasureTool>,
    view: ResMut<'w, ViewRect>,
    stats: Res<'w, FrameStats>,
    bridge: ResMut<'w, ModelBridge>,
    chat: ResMut<'w, Chat>,
    predictions: ResMut<'w, Predictions>,
    diagnostic: ResMut<'w, DiagnosticView>,
    training: ResMut<'w, TrainingState>,
    tab: ResMut<'w, RightPanel>,
}

fn panels_ui(
    mut contexts: EguiContexts,
    mut state: PanelState,
    mut requests: MessageWriter<LoadRequest>,
    mut frame: MessageWriter<FrameScene>,
    mut focus: MessageWriter<FocusObject>,
    mut filter: Local<String>,
    mut exit: MessageWriter<AppExit>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let mut root = egui::Ui::new(
        ctx.clone(),
        "spatia-root".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    egui::Panel::top("menu").show(&mut root, |ui| {
        menu_bar_ui(ui, &mut state, &mut requests, &mut frame, &mut exit);
    });
    egui::Panel::bottom("status").show(&mut root, |ui| status_bar_ui(ui, &mut state));
    egui::Panel::left("objects")
        .resizable(true)
        .default_size(270.0)
        .show(&mut root, |ui| {
            object_list_ui(ui, &mut state, &mut focus, &mut filter)
        });
    let path = state
        .current
        .as_ref()
        .map(|c| c.path.clone())
        .unwrap_or_default();
    egui::Panel::right("assistant")
        .resizable(true)
        .default_size(340.0)
        .show(&mut root, |ui| {
            let scene_name = state
                .current
                .as_ref()
                .map(|c| c.scene.name.clone())
                .unwrap_or_default();
            let PanelState {
                bridge,
                chat,
                predictions,
                diagnostic,
                training,
                tab,
                ..
            } = &mut state;
            ui.horizontal(|ui| {
                for (t, name) in [
                    (PanelTab::Chat, "Chat"),
                    (PanelTab::Diagnostics, "Diagnostics"),
                    (PanelTab::Training, "Training"),
                ] {
                    ui.selectable_value(&mut tab.0, t, name);
                }
            });
            ui.separator();
            match tab.0 {
                PanelTab::Chat => {
                    egui::CollapsingHeader::new("Depth & boxes")
                        .default_open(false)
                        .show(ui, |ui| predictions_ui(ui, predictions));
                    chat_ui(ui, bridge, chat, &path);
                }
                PanelTab::Diagnostics => {
                    egui::ScrollArea::vertical()
                        .show(ui, |ui| {
                            diagnostics_ui(ui, chat, diagnostic, predictions, &path, &scene_name)
                        })
                        .inner
                }
                PanelTab::Training => {
                    egui::ScrollArea::vertical()
                        .show(ui, |ui| training_ui(ui, training, bridge))
                        .inner
                }
            }
        });
    let rest = root.available_rect_before_wrap();
    let rect = Rect::new(rest.min.x, rest.min.y, rest.max.x, rest.max.y);
    if state.view.0 != rect {
        state.view.0 = rect;
    }
    Ok(())
}

fn menu_bar_ui(
    ui: &mut egui::Ui,
    state: &mut PanelState,
    requests: &mut MessageWriter<LoadRequest>,
    frame: &mut MessageWriter<FrameScene>,
    exit: &mut MessageWriter<AppExit>,
) {
    egui::MenuBar::new().ui(ui, |ui| {
        ui.menu_button("File", |ui| {
            if ui.button("Open scene file…").clicked() {
                state.dialog.open(false);
                ui.close();
            }
            if ui.button("Open ScanNet folder…").clicked() {
                state.dialog.open(true);
                ui.close();
            }
            ui.menu_button("Recent", |ui| {
                if state.recent.paths.is_empty() {
                    ui.label("(none yet)");
                }
                for p in &state.recent.paths {
                    if ui.button(p.display().to_string()).clicked() {
                        requests.write(LoadRequest {
                            path: p.clone(),
                            options: LoadOptions::default(),
                        });
                        ui.close();
                    }
                }
            });
            ui.separator();
            if ui.button("Quit").clicked() {
                exit.write(AppExit::Success);
            }
        });
        ui.menu_button("View", |ui| {
            ui.label("Colour");
            for m in ColorMode::ALL {
                if ui.radio(*state.mode == m, m.name()).clicked() && *state.mode != m {
                    *state.mode = m;
                }
            }
            ui.separator();
            let mut size = state.point_size.0;
            if ui
                .add(egui::Slider::new(&mut size, 1.0..=12.0).text("point size (px)"))
                .changed()
            {
                state.point_size.0 = size;
            }
            let mut millions = state.budget.0 as f64 / 1e6;
            if ui
                .add(
                    egui::Slider::new(&mut millions, 0.1..=50.0)
                        .logarithmic(true)
                        .text("point budget (millions)"),
                )
                .on_hover_text("Most points drawn per frame; the nearest detail first")
                .changed()
            {
                state.budget.0 = (millions * 1e6).round() as u64;
            }
            let mut cull = state.culling.0;
            if ui
                .checkbox(&mut cull, "Cull back faces (see into rooms)")
                .changed()
            {
                state.culling.0 = cull;
            }
            let mut o = *state.overlays;
            ui.checkbox(&mut o.boxes, "Object boxes");
            ui.checkbox(&mut o.labels, "Labels");
            ui.checkbox(&mut o.structure, "Boxes for floor / walls");
            if o != *state.overlays {
                *state.overlays = o;
            }
            ui.separator();
            if ui.button("Frame scene (F)").clicked() {
                frame.write(FrameScene);
                ui.close();
            }
        });
        ui.menu_button("Tools", |ui| {
            let mut active = state.measure.active;
            if ui
                .checkbox(&mut active, "Measure (click two points)")
                .changed()
            {
                state.measure.active = active;
                state.measure.points.clear();
            }
            if ui.button("Clear measurement").clicked() {
                state.measure.points.clear();
            }
        });
        if state.measure.active {
            ui.separator();
            ui.colored_label(
                egui::Color32::from_rgb(255, 80, 230),
                "measuring: click two points",
            );
        }
    });
}

/// The status bar's frame time: one decimal for both figures, no padding ("247.7 ms/frame,
/// 4.0 fps").
pub fn frame_time_text(frame_ms: f32) -> String {
    format!(
        "{frame_ms:.1} ms/frame, {:.1} fps",
        1000.0 / frame_ms.max(0.01)
    )
}

/// The status bar's level-of-detail figure ("1.00 M of 5.00 M points drawn").
pub fn points_drawn_text(drawn: PointsDrawn) -> String {
    format!(
        "{:.2} M of {:.2} M points drawn",
        drawn.drawn as f64 / 1e6,
        drawn.total as f64 / 1e6
    )
}

fn status_bar_ui(ui: &mut egui::Ui, state: &mut PanelState) {
    ui.horizontal(|ui| {
        ui.monospace(frame_time_text(state.stats.frame_ms));
        ui.separator();
        match &state.current {
            Some(c) => {
                ui.label(format!(
                    "{}  [{}]  {} vertices  {} faces  {} objects  (loaded in {:.0} ms)",
                    c.scene.name,
                    c.scene.format.name(),
                    c.scene.positions.len(),
                    c.scene.face_count(),
                    c.scene.objects.len(),
                    c.load_ms
                ));
            }
            None => {
                ui.label("no scene");
            }
        }
        if state.drawn.total > 0 {
            ui.separator();
            ui.label(points_drawn_text(*state.drawn));
        }
        if let Some(device) = state.bridge.device {
            ui.separator();
            ui.label(format!("models on {device}"));
        }
        if let Some(d) = measure_distance_m(&state.measure.points) {
            ui.separator();
            ui.colored_label(
                egui::Color32::from_rgb(255, 80, 230),
                format!("distance {d:.3} m"),
            );
        }
        if let Some((path, started)) = &state.loader.in_flight {
            ui.separator();
            ui.spinner();
            ui.label(format!(
                "loading {} ({}, {:.1} s)",
                path.display(),
                state.loader.stage,
                started.elapsed().as_secs_f32()
            ));
        }
        if let Some(note) = state.dialog.note.clone() {
            ui.separator();
            ui.label(note);
            if ui.small_button("✕").clicked() {
                state.dialog.note = None;
            }
        }
        if let Some(err) = state.loader.error.clone() {
            ui.separator();
            ui.colored_label(
                egui::Color32::from_rgb(255, 90, 90),
                format!("load failed: {err}"),
            );
            if ui.small_button("✕").clicked() {
                state.loader.error = None;
            }
        }
    });
}

fn object_list_ui(
    ui: &mut egui::Ui,
    state: &mut PanelState,
    focus: &mut MessageWriter<FocusObject>,
    filter: &mut String,
) {
    ui.heading("Objects");
    let Some(current) = state.current.as_deref().cloned() else {
        ui.label("no scene loaded");
        return;
    };
    ui.horizontal(|ui| {
        ui.label("filter");
        ui.text_edit_singleline(filter);
    });
    ui.horizontal(|ui| {
        if ui.small_button("show all").clicked() {
            state.hidden.0.clear();
        }
        if ui.small_button("hide all").clicked() {
            state.hidden.0 = current.scene.objects.iter().map(|o| o.id).collect();
        }
    });
    ui.separator();
    let needle = filter.to_lowercase();
    egui::ScrollArea::vertical()
        .max_height(ui.available_height() - 130.0)
        .show(ui, |ui| {
            for o in &current.scene.objects {
                let text = format!("#{} {}", o.id, o.display_name());
                if !needle.is_empty() && !text.to_lowercase().contains(&needle) {
                    continue;
                }
                ui.horizontal(|ui| {
                    let mut visible = !state.hidden.0.contains(&o.id);
                    if ui.checkbox(&mut visible, "").changed() {
                        if visible {
                            state.hidden.0.remove(&o.id);
                        } else {
                            state.hidden.0.insert(o.id);
                        }
                    }
                    let selected = state.selection.0 == Some(o.id);
                    let r = ui.selectable_label(selected, text);
                    if r.clicked() {
                        state.selection.0 = Some(o.id);
                    }
                    if r.double_clicked() {
                        focus.write(FocusObject(o.id));
                    }
                });
            }
        });
    ui.separator();
    if let Some(o) = state.selection.0.and_then(|id| current.scene.object(id)) {
        ui.strong(format!("#{} {}", o.id, o.display_name()));
        ui.label(format!("class: {}", o.category.name()));
        ui.label(format!("vertices: {}", o.vertex_indices.len()));
        let (a, b) = (o.aabb.min, o.aabb.max);
        ui.monospace(format!(
            "min {:.2} {:.2} {:.2}\nmax {:.2} {:.2} {:.2}",
            a.x, a.y, a.z, b.x, b.y, b.z
        ));
        if ui.button("Focus").clicked() {
            focus.write(FocusObject(o.id));
        }
    } else {
        ui.label("click an object to select it; double-click a row to focus");
    }
}
