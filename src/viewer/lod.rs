//! Level of detail for point clouds: every frame the camera moved (or the budget, colours or
//! point size changed), the octree the loader thread built (`scene::lod`) is walked for the
//! nodes biggest on screen within the point budget, and only their points go to the GPU, with
//! coarse points drawn bigger where their finer neighbours are left out. Frame time then follows
//! the budget, not the cloud's size.

use std::sync::Arc;

use bevy::prelude::*;

use super::points::{PointCloud, PointInstance};
use crate::scene::Scene;
use crate::scene::lod::{
    Chosen, LodView, PointLod, for_each_selected_point, select, selected_points,
};

/// Most points drawn per frame (the status bar's "points" field; adjustable in the scene panel).
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointBudget(pub u64);

/// The default budget: one million points.
pub const DEFAULT_POINT_BUDGET: u64 = 1_000_000;

impl Default for PointBudget {
    fn default() -> Self {
        PointBudget(DEFAULT_POINT_BUDGET)
    }
}

/// How many points the last selection drew, of how many the cloud has.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PointsDrawn {
    /// Points drawn.
    pub drawn: u64,
    /// Points in the cloud.
    pub total: u64,
}

/// A point cloud drawn through its octree. The entity's `PointCloud` holds the current
/// selection's points.
#[derive(Component, Clone)]
pub struct LodCloud {
    /// The octree.
    pub lod: Arc<PointLod>,
    /// The scene whose points these are.
    pub scene: Arc<Scene>,
    /// sRGB colour per point, alpha 0 marking a hidden point (left out); `None`: the scene's
    /// own colours, nothing hidden (no second copy of them: 20 M points, 80 MB).
    pub colors: Option<Arc<Vec<[u8; 4]>>>,
    /// Splat diameter of the finest points, pixels.
    pub base_px: f32,
}

/// What the last selection was made for; a new one is made when any of it changes.
#[derive(Component, Clone, Copy, PartialEq)]
struct Selected {
    clip_from_world: Mat4,
    budget: u64,
}

/// Largest splat, as a multiple of the base size.
const MAX_SPLAT_FACTOR: f32 = 8.0;

/// Point level-of-detail plugin.
pub struct PointLodPlugin;

impl Plugin for PointLodPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PointBudget>()
            .init_resource::<PointsDrawn>()
            .add_systems(PostUpdate, refine_points);
    }
}

/// The selection's view of a camera: its clip transform and focal length in pixels.
pub fn lod_view(camera: &Camera, world_from_camera: &GlobalTransform) -> Option<LodView> {
    let height_px = camera.physical_viewport_size()?.y as f32;
    let clip_from_view = camera.clip_from_view();
    // Perspective: clip_from_view's [1][1] is 1 / tan(fov_y / 2).
    let cot_half_fov = clip_from_view.y_axis.y;
    if !(cot_half_fov.is_finite() && cot_half_fov > 0.0 && height_px > 0.0) {
        return None;
    }
    Some(LodView {
        eye: world_from_camera.translation(),
        clip_from_world: clip_from_view * world_from_camera.to_matrix().inverse(),
        focal_px: height_px * 0.5 * cot_half_fov,
    })
}

/// The points of `selected` as GPU instances (hidden points left out).
pub fn gather_instances(
    cloud: &LodCloud,
    selected: &[Chosen],
    view: &LodView,
) -> Vec<PointInstance> {
    let mut out = Vec::with_capacity(selected_points(selected) as usize);
    for_each_selected_point(
        &cloud.lod,
        selected,
        &cloud.scene.positions,
        view,
        cloud.base_px,
        cloud.base_px * MAX_SPLAT_FACTOR,
        |i, size_px| {
            let color = match &cloud.colors {
                Some(colors) => colors.get(i as usize).copied(),
                None => cloud
                    .scene
                    .colors
                    .get(i as usize)
                    .map(|c| [c[0], c[1], c[2], 255]),
            };
            let (Some(p), Some(color)) = (cloud.scene.positions.get(i as usize), color) else {
                return;
            };
            if color[3] != 0 {
                out.push(PointInstance {
                    position: p.to_array(),
                    size_px,
                    color,
                });
            }
        },
    );
    out
}

/// Re-selects the drawn points when the camera, the budget or the cloud changed.
fn refine_points(
    mut commands: Commands,
    budget: Res<PointBudget>,
    mut drawn: ResMut<PointsDrawn>,
    cameras: Query<(&Camera, &GlobalTransform), With<Camera3d>>,
    mut clouds: Query<(
        Entity,
        &LodCloud,
        Option<&Selected>,
        Option<&mut PointCloud>,
    )>,
    mut generation: Local<u64>,
) {
    if clouds.is_empty() {
        // A mesh (or nothing) on screen: no point count to show.
        if *drawn != PointsDrawn::default() {
            *drawn = PointsDrawn::default();
        }
        return;
    }
    let Some(view) = cameras
        .iter()
        .find(|(c, _)| c.is_active)
        .and_then(|(c, t)| lod_view(c, t))
    else {
        return;
    };
    for (entity, cloud, selected, points) in &mut clouds {
        let now = Selected {
            clip_from_world: view.clip_from_world,
            budget: budget.0,
        };
        if selected == Some(&now) {
            continue;
        }
        let nodes = select(&cloud.lod, &view, budget.0);
        let instances = Arc::new(gather_instances(cloud, &nodes, &view));
        *drawn = PointsDrawn {
            drawn: instances.len() as u64,
            total: cloud.scene.positions.len() as u64,
        };
        *generation += 1;
        match points {
            Some(mut p) => {
                p.instances = instances;
                p.generation = *generation;
            }
            None => {
                commands.entity(entity).insert(PointCloud {
                    instances,
                    generation: *generation,
                });
            }
        }
        commands.entity(entity).insert(now);
    }
}
