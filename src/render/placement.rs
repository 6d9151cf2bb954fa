//! Where training views are taken from: eyes 1.2-1.8 m above the floor, inside the room (there
//! is floor under them), outside every piece of furniture. The views are chosen together, like
//! the frames of a video sweeping the room: candidate cameras (free standpoints × headings) are
//! probed by low-resolution renders, and a greedy set cover picks each next view to show the
//! objects not yet seen well enough, among the candidates that share a good part of their 3D
//! points with the previous view (so that relative camera poses can be inferred from the
//! images, VGGT's setting).

use glam::{Vec2, Vec3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::camera::{Camera, Intrinsics};
use super::raster::{Rasterizer, RenderOptions, RenderedView};
use crate::scene::bvh::Bvh;
use crate::scene::raycast::{Sides, raycast};
use crate::scene::{Aabb, Category, Scene};

/// Lowest eye height above the floor, metres.
pub const EYE_MIN_M: f32 = 1.2;
/// Highest eye height above the floor, metres.
pub const EYE_MAX_M: f32 = 1.8;
/// Eyes stay this far from furniture boxes and the room's outline, metres.
const CLEARANCE_M: f32 = 0.15;
/// Free standpoints looked for (candidate eyes).
const STANDPOINTS: usize = 10;
/// Random eyes tried while looking for free standpoints.
const EYE_ATTEMPTS: usize = 200;
/// Headings probed per standpoint (evenly spaced, with a random offset per standpoint).
const HEADINGS: usize = 16;
/// Resolution of the visibility probe renders.
const PROBE_PX: u32 = 48;
/// An object counts as covered by a probe with this share of its pixels (40 px at 112²).
const COVER_SHARE: f32 = 40.0 / (112.0 * 112.0);
/// Least and most share of the previous view's 3D points the next view must see.
const OVERLAP_MIN: f32 = 0.3;
const OVERLAP_MAX: f32 = 0.85;
/// Scenes with at least this many vertices look for floor under an eye through a `Bvh`.
const BVH_MIN_VERTICES: usize = 500_000;
/// Probe pixels sampled (a grid, every `SAMPLE_STEP`-th row and column) for overlaps.
const SAMPLE_STEP: usize = 4;

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

/// One candidate camera and what its probe render showed.
struct Candidate {
    /// At the output intrinsics.
    camera: Camera,
    /// At the probe's.
    probe: Camera,
    /// Per object id (furniture only), probe pixels.
    pixels: Vec<(u32, usize)>,
    /// World points of a grid of probe pixels that hit something.
    points: Vec<Vec3>,
    /// The probe's depth, metres (0: nothing).
    depth_m: Vec<f32>,
}

impl Candidate {
    /// Share of `points` (another view's) that this view sees unoccluded.
    fn sees(&self, points: &[Vec3]) -> f32 {
        if points.is_empty() {
            return 0.0;
        }
        let k = self.probe.intrinsics;
        let (w, h) = (k.width as usize, k.height as usize);
        let seen = points
            .iter()
            .filter(|p| {
                let Some((uv, z)) = self.probe.project(**p) else {
                    return false;
                };
                let (u, v) = (uv.x.floor(), uv.y.floor());
                if u < 0.0 || v < 0.0 || u >= w as f32 || v >= h as f32 {
                    return false;
                }
                let d = self.depth_m[v as usize * w + u as usize];
                d > 0.0 && (d - z).abs() <= 0.05 + 0.1 * z
            })
            .count();
        seen as f32 / points.len() as f32
    }
}

/// Free eyes: inside the floor plan, clear of furniture, floor under them. Rays go through
/// `bvh` when there is one (the same answers as without).
fn standpoints(
    scene: &Scene,
    floor_z: f32,
    plan: &Aabb,
    rng: &mut ChaCha8Rng,
    bvh: Option<&Bvh>,
) -> Vec<Vec3> {
    let furniture: Vec<&Aabb> = scene
        .objects
        .iter()
        .filter(|o| !o.category.is_structure())
        .map(|o| &o.aabb)
        .collect();
    let lo = plan.min.truncate() + Vec2::splat(CLEARANCE_M + 0.15);
    let hi = plan.max.truncate() - Vec2::splat(CLEARANCE_M + 0.15);
    let mut out = Vec::new();
    for _ in 0..EYE_ATTEMPTS {
        if out.len() >= STANDPOINTS {
            break;
        }
        let xy = if lo.x < hi.x && lo.y < hi.y {
            Vec2::new(rng.random_range(lo.x..hi.x), rng.random_range(lo.y..hi.y))
        } else {
            plan.center().truncate()
        };
        let eye = xy.extend(floor_z + rng.random_range(EYE_MIN_M..=EYE_MAX_M));
        if furniture
            .iter()
            .any(|b| inside_expanded(b, eye, CLEARANCE_M))
        {
            continue;
        }
        let below = match bvh {
            Some(bvh) => bvh.raycast(scene, eye, -Vec3::Z, 0.05, Sides::Both),
            None => raycast(scene, eye, -Vec3::Z, 0.05, Sides::Both),
        };
        if below.is_none_or(|h| h.point.z > floor_z + 1.0) {
            continue;
        }
        out.push(eye);
    }
    out
}

/// Renders `camera` at the probe resolution and records what it shows.
fn probe(raster: &Rasterizer<'_>, scene: &Scene, camera: Camera, probe_k: Intrinsics) -> Candidate {
    let probe = Camera {
        intrinsics: probe_k,
        camera_from_world: camera.camera_from_world,
    };
    let view: RenderedView = raster.render(&probe);
    let w = probe_k.width as usize;
    let mut counts: std::collections::BTreeMap<u32, usize> = Default::default();
    for &id in &view.instance {
        if let Ok(id) = u32::try_from(id)
            && scene.object(id).is_some_and(|o| !o.category.is_structure())
        {
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    let mut points = Vec::new();
    for v in (SAMPLE_STEP / 2..probe_k.height as usize).step_by(SAMPLE_STEP) {
        for u in (SAMPLE_STEP / 2..w).step_by(SAMPLE_STEP) {
            let d = view.depth_m[v * w + u];
            if d > 0.0 {
                let p = probe.unproject(u as f32 + 0.5, v as f32 + 0.5, d);
                points.push(p);
            }
        }
    }
    Candidate {
        camera,
        probe,
        pixels: counts.into_iter().collect(),
        points,
        depth_m: view.depth_m,
    }
}

/// Places `options.views` cameras in `scene` (see the module doc). Deterministic. Every
/// camera's eye is inside the floor plan at eye height; a scene with no free standpoint gets
/// views of its centre from its box's corners.
pub fn place_cameras(scene: &Scene, options: &PlacementOptions) -> Vec<Camera> {
    // Big scenes (scans, point maps) cast through a hierarchy: the same answers, and each of up
    // to EYE_ATTEMPTS rays costs microseconds instead of a tenth of a second.
    let bvh = (scene.positions.len() >= BVH_MIN_VERTICES).then(|| Bvh::build(scene));
    place_cameras_with(scene, options, bvh.as_ref())
}

/// [`place_cameras`] with the floor rays cast through `bvh` (built for `scene`) or, when
/// `None`, against every primitive.
pub(super) fn place_cameras_with(
    scene: &Scene,
    options: &PlacementOptions,
    bvh: Option<&Bvh>,
) -> Vec<Camera> {
    let Some((floor_z, plan)) = floor_of(scene) else {
        return Vec::new();
    };
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0xCA3E_7A5E);
    let eyes = standpoints(scene, floor_z, &plan, &mut rng, bvh);
    let probe_k = options.intrinsics.resized(PROBE_PX, PROBE_PX);
    let raster = Rasterizer::new(
        scene,
        RenderOptions {
            shading: false,
            ..Default::default()
        },
    );
    let mut candidates = Vec::new();
    for eye in &eyes {
        let offset = rng.random_range(0.0..std::f32::consts::TAU);
        let pitch = rng.random_range(-30f32..-15.0).to_radians();
        for h in 0..HEADINGS {
            let yaw = offset + h as f32 * std::f32::consts::TAU / HEADINGS as f32;
            let dir = Vec3::new(
                yaw.cos() * pitch.cos(),
                yaw.sin() * pitch.cos(),
                pitch.sin(),
            );
            let Some(cam) = Camera::look_at(*eye, *eye + dir, options.intrinsics) else {
                continue;
            };
            candidates.push(probe(&raster, scene, cam, probe_k));
        }
    }
    let cover_px = (COVER_SHARE * (PROBE_PX * PROBE_PX) as f32).ceil() as usize;
    let mut covered: std::collections::BTreeSet<u32> = Default::default();
    let mut chosen: Vec<usize> = Vec::new();
    for _ in 0..options.views {
        let prev = chosen.last().map(|&i| &candidates[i]);
        // Candidates that overlap the previous view enough, else the ones overlapping most.
        let overlaps: Vec<f32> = candidates
            .iter()
            .map(|c| prev.map_or(1.0, |p| c.sees(&p.points)))
            .collect();
        let allowed =
            |i: usize| !chosen.contains(&i) && (OVERLAP_MIN..=OVERLAP_MAX).contains(&overlaps[i]);
        let mut pool: Vec<usize> = (0..candidates.len()).filter(|&i| allowed(i)).collect();
        if pool.is_empty() {
            let best = (0..candidates.len())
                .filter(|i| !chosen.contains(i) && overlaps[*i] <= OVERLAP_MAX)
                .map(|i| overlaps[i])
                .fold(0.0, f32::max);
            pool = (0..candidates.len())
                .filter(|&i| !chosen.contains(&i) && overlaps[i] >= best * 0.9)
                .collect();
        }
        let gain = |c: &Candidate| {
            let mut g = 0.0;
            for &(id, px) in &c.pixels {
                let seen = (px as f32 / cover_px as f32).min(1.0);
                g += if covered.contains(&id) {
                    0.1 * seen
                } else {
                    seen
                };
            }
            g
        };
        let best = pool
            .into_iter()
            .map(|i| (i, gain(&candidates[i])))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        let Some((i, _)) = best else { break };
        for &(id, px) in &candidates[i].pixels {
            if px >= cover_px {
                covered.insert(id);
            }
        }
        chosen.push(i);
    }
    let mut cameras: Vec<Camera> = chosen.iter().map(|&i| candidates[i].camera).collect();
    let mut k = 0;
    while cameras.len() < options.views {
        // No free standpoint: look at the room centre from a corner of its box.
        let corner = [plan.min, plan.max][k % 2];
        let eye = Vec3::new(corner.x, corner.y, floor_z + 1.5);
        match Camera::look_at(eye, plan.center(), options.intrinsics) {
            Some(c) => cameras.push(c),
            None => break,
        }
        k += 1;
    }
    cameras
}

fn inside_expanded(b: &Aabb, p: Vec3, margin: f32) -> bool {
    let (min, max) = (b.min - Vec3::splat(margin), b.max + Vec3::splat(margin));
    p.cmpge(min).all() && p.cmple(max).all()
}
