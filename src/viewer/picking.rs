//! Picking: the 3D point and object under the cursor (hover), click to select, and the measure
//! tool (click two points, read the distance in metres).

use bevy::prelude::*;
use bevy_egui::input::EguiWantsInput;

use super::camera::{OrbitCamera, ViewRect};
use super::loading::{CurrentScene, SceneReplaced};
use super::render::BackFaceCulling;
use crate::scene::raycast::objects_at_vertex;

/// What is under the cursor.
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct Hover {
    /// The 3D point, metres.
    pub point: Option<Vec3>,
    /// The smallest object containing it.
    pub object: Option<u32>,
}

/// The selected object.
#[derive(Resource, Default, Debug, Clone, Copy, PartialEq)]
pub struct Selection(pub Option<u32>);

/// The measure tool.
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct MeasureTool {
    /// Clicks pick measure points instead of objects.
    pub active: bool,
    /// Up to two points; a third click starts again.
    pub points: Vec<Vec3>,
}

impl MeasureTool {
    /// Adds a clicked point.
    pub fn click(&mut self, p: Vec3) {
        if self.points.len() >= 2 {
            self.points.clear();
        }
        self.points.push(p);
    }
}

/// Distance between the two measured points, metres.
pub fn measure_distance_m(points: &[Vec3]) -> Option<f32> {
    match points {
        [a, b] => Some(a.distance(*b)),
        _ => None,
    }
}

/// A click (press and release without dragging) in the 3D view, at a 3D ray.
#[derive(Message, Debug, Clone, Copy)]
pub struct ViewClick {
    /// Ray origin.
    pub origin: Vec3,
    /// Ray direction.
    pub direction: Vec3,
}

/// Picking plugin.
pub struct PickingPlugin;

impl Plugin for PickingPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Hover>()
            .init_resource::<Selection>()
            .init_resource::<MeasureTool>()
            .add_message::<ViewClick>()
            .add_systems(
                Update,
                (clear_on_new_scene, hover_and_click_rays, apply_clicks).chain(),
            );
    }
}

fn clear_on_new_scene(
    mut replaced: MessageReader<SceneReplaced>,
    mut hover: ResMut<Hover>,
    mut selection: ResMut<Selection>,
    mut measure: ResMut<MeasureTool>,
) {
    if replaced.read().count() > 0 {
        *hover = Hover::default();
        selection.0 = None;
        measure.points.clear();
    }
}

/// Picks radius for point clouds, metres.
const POINT_PICK_RADIUS_M: f32 = 0.03;

#[allow(clippy::too_many_arguments)]
fn hover_and_click_rays(
    windows: Query<&Window>,
    cameras: Query<(&Camera, Ref<GlobalTransform>), With<OrbitCamera>>,
    mouse: Res<ButtonInput<MouseButton>>,
    view: Res<ViewRect>,
    egui_input: Option<Res<EguiWantsInput>>,
    current: Option<Res<CurrentScene>>,
    culling: Res<BackFaceCulling>,
    mut hover: ResMut<Hover>,
    mut clicks: MessageWriter<ViewClick>,
    mut press_at: Local<Option<Vec2>>,
    mut last_cursor: Local<Option<Vec2>>,
) {
    let Some(current) = current else { return };
    let Some(window) = windows.iter().next() else {
        return;
    };
    let Some((camera, cam_t)) = cameras.iter().next() else {
        return;
    };
    let cursor = window.cursor_position();
    let over_ui = egui_input
        .as_ref()
        .is_some_and(|e| e.wants_any_pointer_input());
    if mouse.just_pressed(MouseButton::Left) {
        *press_at = if over_ui { None } else { cursor };
    }
    let Some(cursor) = cursor.filter(|c| view.0.contains(*c) && !over_ui) else {
        *last_cursor = None;
        hover.point = None;
        hover.object = None;
        return;
    };
    // Window coordinates: Bevy accounts for the viewport's offset itself.
    let Ok(ray) = camera.viewport_to_world(&cam_t, cursor) else {
        return;
    };
    let clicked = mouse.just_released(MouseButton::Left)
        && press_at.is_some_and(|p| p.distance(cursor) < 4.0);
    if clicked {
        clicks.write(ViewClick {
            origin: ray.origin,
            direction: *ray.direction,
        });
    }
    // Hover is recomputed only when the cursor, the camera or the scene changed.
    if *last_cursor == Some(cursor) && !current.is_changed() && !cam_t.is_changed() {
        return;
    }
    *last_cursor = Some(cursor);
    match current.raycast(
        ray.origin,
        *ray.direction,
        POINT_PICK_RADIUS_M,
        culling.sides(),
    ) {
        Some(hit) => {
            hover.point = Some(hit.point);
            hover.object = objects_at_vertex(&current.scene, hit.vertex)
                .first()
                .copied();
        }
        None => {
            hover.point = None;
            hover.object = None;
        }
    }
}

/// Turns view clicks into selections or measure points.
pub fn apply_clicks(
    mut clicks: MessageReader<ViewClick>,
    current: Option<Res<CurrentScene>>,
    culling: Option<Res<BackFaceCulling>>,
    mut selection: ResMut<Selection>,
    mut measure: ResMut<MeasureTool>,
) {
    let Some(current) = current else {
        clicks.clear();
        return;
    };
    let sides = culling.map_or(crate::scene::raycast::Sides::Front, |c| c.sides());
    for click in clicks.read() {
        let hit = current.raycast(click.origin, click.direction, POINT_PICK_RADIUS_M, sides);
        if measure.active {
            if let Some(hit) = hit {
                measure.click(hit.point);
            }
        } else {
            selection.0 =
                hit.and_then(|h| objects_at_vertex(&current.scene, h.vertex).first().copied());
        }
    }
}
