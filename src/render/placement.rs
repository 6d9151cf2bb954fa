//! Where training views are taken from: eyes 1.2-1.8 m above the floor, inside the room (there
//! is floor under them), outside every piece of furniture, each looking at an object and chosen
//! so that object is well in view and the views spread over the room.

use glam::{Vec2, Vec3};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::camera::{Camera, Intrinsics};
use super::raster::{Rasterizer, RenderOptions};
use crate::scene::raycast::{Sides, raycast};
use crate::scene::{Aabb, Category, Scene};

/// Lowest eye height above the floor, metres.
pub const EYE_MIN_M: f32 = 1.2;
/// Highest eye height above the floor, metres.
pub const EYE_MAX_M: f32 = 1.8;
/// Eyes stay this far from furniture boxes and the room's outline, metres.
const CLEARANCE_M: f32 = 0.15;
/// Candidate eyes tried per view.
const ATTEMPTS: usize = 48;
/// Resolution of the visibility check renders.
const PROBE_PX: u32 = 32;

/// Camera placement settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacementOptions {
    /// How many views.
    pub views: usize,
    /// Seed; equal inputs give equal cameras.
    pub seed: u64,
    /// Intrinsics of every view.
    pub intrinsics: Intrinsics,
}

/// The floor height and the floor plan's box.
fn floor_of(scene: &Scene) -> Option<(f32, Aabb)> {
    let floors: Vec<&Aabb> = scene
        .objects
        .iter()
        .filter(|o| o.category == Category::Floor)
        .map(|o| &o.aabb)
        .collect();
    let plan = match floors.split_first() {
        Some((first, rest)) => rest.iter().fold(**first, |a, b| a.union(b)),
        None => scene.bounds()?,
    };
    Some((plan.min.z, plan))
}

/// Places `options.views` cameras in `scene`. Deterministic. Every camera's eye is inside the
/// floor plan at eye height; when no free spot sees a target well, the best spot found is used
/// anyway, and a scene with no usable floor gets views from its box's corners.
pub fn place_cameras(scene: &Scene, options: &PlacementOptions) -> Vec<Camera> {
    let Some((floor_z, plan)) = floor_of(scene) else {
        return Vec::new();
    };
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0xCA3E_7A5E);
    let furniture: Vec<&crate::scene::SceneObject> = scene
        .objects
        .iter()
        .filter(|o| !o.category.is_structure())
        .collect();
    let mut targets: Vec<u32> = furniture.iter().map(|o| o.id).collect();
    targets.shuffle(&mut rng);
    // Bigger objects first within the shuffled order's halves keeps views informative.
    targets.sort_by(|a, b| {
        let vol = |id: &u32| {
            scene
                .object(*id)
                .map_or(0.0, |o| o.aabb.size().x * o.aabb.size().y)
        };
        vol(b).total_cmp(&vol(a))
    });
    let probe = options.intrinsics.resized(PROBE_PX, PROBE_PX);
    let probe_raster = Rasterizer::new(
        scene,
        RenderOptions {
            shading: false,
            ..Default::default()
        },
    );
    let lo = plan.min.truncate() + Vec2::splat(CLEARANCE_M + 0.15);
    let hi = plan.max.truncate() - Vec2::splat(CLEARANCE_M + 0.15);
    let mut cameras: Vec<Camera> = Vec::new();
    for k in 0..options.views {
        let target = targets
            .get(k % targets.len().max(1))
            .and_then(|&id| scene.object(id));
        let target_point = target.map_or(plan.center(), |o| o.aabb.center());
        let mut best: Option<(f32, Camera)> = None;
        for _ in 0..ATTEMPTS {
            let xy = if lo.x < hi.x && lo.y < hi.y {
                Vec2::new(rng.random_range(lo.x..hi.x), rng.random_range(lo.y..hi.y))
            } else {
                plan.center().truncate()
            };
            let eye = xy.extend(floor_z + rng.random_range(EYE_MIN_M..=EYE_MAX_M));
            if furniture
                .iter()
                .any(|o| inside_expanded(&o.aabb, eye, CLEARANCE_M))
            {
                continue;
            }
            // Inside the room: floor (or something standing on it) right under the eye.
            let below = raycast(scene, eye, -Vec3::Z, 0.05, Sides::Both);
            if below.is_none_or(|h| h.point.z > floor_z + 1.0) {
                continue;
            }
            let jitter = Vec3::new(
                rng.random_range(-0.2..0.2),
                rng.random_range(-0.2..0.2),
                rng.random_range(-0.1..0.1),
            );
            let look = target_point + jitter;
            let flat = (look - eye).truncate().length();
            if !(0.8..=6.0).contains(&flat) {
                continue;
            }
            let Some(cam) = Camera::look_at(eye, look, options.intrinsics) else {
                continue;
            };
            let Some(probe_cam) = Camera::look_at(eye, look, probe) else {
                continue;
            };
            let view = probe_raster.render(&probe_cam);
            let total = (PROBE_PX * PROBE_PX) as f32;
            let target_share = target.map_or(0.0, |o| view.pixels_of(o.id as i32) as f32 / total);
            let mut seen: Vec<i32> = view.instance.iter().copied().filter(|&i| i >= 0).collect();
            seen.sort_unstable();
            seen.dedup();
            let nearest_other = cameras
                .iter()
                .map(|c| c.eye().distance(eye))
                .fold(f32::INFINITY, f32::min)
                .min(3.0);
            let score =
                target_share.min(0.3) * 10.0 + seen.len() as f32 * 0.1 + nearest_other * 0.3;
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, cam));
            }
        }
        let cam = best.map(|(_, c)| c).or_else(|| {
            // No free spot: look at the room centre from a corner of its box.
            let corner = [plan.min, plan.max][k % 2];
            let eye = Vec3::new(corner.x, corner.y, floor_z + 1.5);
            Camera::look_at(eye, plan.center(), options.intrinsics)
        });
        cameras.extend(cam);
    }
    cameras
}

fn inside_expanded(b: &Aabb, p: Vec3, margin: f32) -> bool {
    let (min, max) = (b.min - Vec3::splat(margin), b.max + Vec3::splat(margin));
    p.cmpge(min).all() && p.cmple(max).all()
}
