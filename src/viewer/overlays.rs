//! Object boxes (gizmos) with category labels, the hovered / selected highlights, and the
//! measure tool's line and distance.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use super::camera::{OrbitCamera, ViewRect};
use super::loading::CurrentScene;
use super::picking::{Hover, MeasureTool, Selection, measure_distance_m};
use super::predictions::{PRED_BOX_COLOR, Predictions};
use super::render::HiddenObjects;

/// Ground-truth box colour.
pub const BOX_COLOR: Color = Color::srgb(1.0, 0.75, 0.0);
/// Selected object colour.
pub const SELECTED_COLOR: Color = Color::srgb(0.0, 0.9, 1.0);
/// Hovered object colour.
pub const HOVER_COLOR: Color = Color::srgb(1.0, 1.0, 1.0);
/// Measure tool colour.
pub const MEASURE_COLOR: Color = Color::srgb(1.0, 0.2, 0.9);

/// What overlays are drawn.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct OverlaySettings {
    /// Boxes around objects.
    pub boxes: bool,
    /// Category labels above boxes.
    pub labels: bool,
    /// Also box floors, walls and ceilings.
    pub structure: bool,
}

impl Default for OverlaySettings {
    fn default() -> Self {
        Self {
            boxes: true,
            labels: true,
            structure: false,
        }
    }
}

/// Overlay plugin.
pub struct OverlayPlugin;

impl Plugin for OverlayPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<OverlaySettings>()
            .add_systems(Update, draw_boxes_and_measure)
            .add_systems(EguiPrimaryContextPass, labels_ui);
    }
}

/// The objects whose boxes are drawn: visible ones, structure only when asked.
pub fn boxed_objects<'a>(
    current: &'a CurrentScene,
    settings: &OverlaySettings,
    hidden: &'a HiddenObjects,
) -> impl Iterator<Item = &'a crate::scene::SceneObject> {
    let structure = settings.structure;
    current
        .scene
        .objects
        .iter()
        .filter(move |o| !hidden.0.contains(&o.id) && (structure || !o.category.is_structure()))
}

#[allow(clippy::too_many_arguments)]
fn draw_boxes_and_measure(
    mut gizmos: Gizmos,
    current: Option<Res<CurrentScene>>,
    settings: Res<OverlaySettings>,
    hidden: Res<HiddenObjects>,
    hover: Res<Hover>,
    selection: Res<Selection>,
    measure: Res<MeasureTool>,
) {
    let Some(current) = current else { return };
    let cube = |g: &mut Gizmos, b: &crate::scene::Aabb, color: Color| {
        let size = b.size().max(Vec3::splat(0.005));
        g.cube(
            Transform::from_translation(b.center()).with_scale(size),
            color,
        );
    };
    if settings.boxes {
        for o in boxed_objects(&current, &settings, &hidden) {
            if Some(o.id) != selection.0 && Some(o.id) != hover.object {
                cube(&mut gizmos, &o.aabb, BOX_COLOR);
            }
        }
    }
    if let Some(o) = hover.object.and_then(|id| current.scene.object(id)) {
        cube(&mut gizmos, &o.aabb, HOVER_COLOR);
    }
    if let Some(o) = selection.0.and_then(|id| current.scene.object(id)) {
        cube(&mut gizmos, &o.aabb, SELECTED_COLOR);
    }
    for p in &measure.points {
        gizmos.sphere(Isometry3d::from_translation(*p), 0.03, MEASURE_COLOR);
    }
    if let [a, b] = measure.points[..] {
        gizmos.line(a, b, MEASURE_COLOR);
    }
}

#[allow(clippy::too_many_arguments)]
fn labels_ui(
    mut contexts: EguiContexts,
    current: Option<Res<CurrentScene>>,
    settings: Res<OverlaySettings>,
    hidden: Res<HiddenObjects>,
    view: Res<ViewRect>,
    hover: Res<Hover>,
    measure: Res<MeasureTool>,
    predictions: Res<Predictions>,
    cameras: Query<(&Camera, &GlobalTransform), With<OrbitCamera>>,
) -> Result {
    let Some(current) = current else {
        return Ok(());
    };
    let Some((camera, cam_t)) = cameras.iter().next() else {
        return Ok(());
    };
    let ctx = contexts.ctx_mut()?;
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Background,
        egui::Id::new("spatia-labels"),
    ));
    let clip = egui::Rect::from_min_max(
        egui::pos2(view.0.min.x, view.0.min.y),
        egui::pos2(view.0.max.x, view.0.max.y),
    );
    let painter = painter.with_clip_rect(clip);
    let to_screen = |p: Vec3| {
        camera
            .world_to_viewport(cam_t, p)
            .ok()
            // Window coordinates: Bevy includes the viewport's offset.
            .map(|v| egui::pos2(v.x, v.y))
    };
    if settings.labels {
        for o in boxed_objects(&current, &settings, &hidden) {
            let top = Vec3::new(o.aabb.center().x, o.aabb.center().y, o.aabb.max.z);
            if let Some(pos) = to_screen(top) {
                painter.text(
                    pos,
                    egui::Align2::CENTER_BOTTOM,
                    o.display_name(),
                    egui::FontId::proportional(12.0),
                    egui::Color32::from_rgb(255, 200, 40),
                );
            }
        }
    }
    if predictions.show_boxes {
        // Predicted boxes: class and score at the box centre, in the predicted-box colour.
        let [r, g, b, _] = PRED_BOX_COLOR.to_srgba().to_u8_array();
        for (d, t) in predictions.shown_boxes() {
            if let Some(pos) = to_screen(t.translation) {
                painter.text(
                    pos,
                    egui::Align2::CENTER_CENTER,
                    format!("{} {:.2}", d.class_name(), d.score),
                    egui::FontId::proportional(11.0),
                    egui::Color32::from_rgb(r, g, b),
                );
            }
        }
    }
    if let Some(p) = hover.point
        && let Some(pos) = to_screen(p)
    {
        let name = hover
            .object
            .and_then(|id| current.scene.object(id))
            .map(|o| format!("#{} {}\n", o.id, o.display_name()))
            .unwrap_or_default();
        painter.text(
            pos + egui::vec2(12.0, 12.0),
            egui::Align2::LEFT_TOP,
            format!("{name}({:.2}, {:.2}, {:.2}) m", p.x, p.y, p.z),
            egui::FontId::monospace(12.0),
            egui::Color32::WHITE,
        );
    }
    if let (Some(d), [a, b]) = (measure_distance_m(&measure.points), &measure.points[..])
        && let Some(pos) = to_screen((*a + *b) / 2.0)
    {
        painter.text(
            pos,
            egui::Align2::CENTER_CENTER,
            format!("{d:.3} m"),
            egui::FontId::proportional(16.0),
            egui::Color32::from_rgb(255, 80, 230),
        );
    }
    Ok(())
}
