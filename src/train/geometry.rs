//! Geometric supervision from ground-truth depth and cameras (Lee et al., "3D-Aware VLM
//! Fine-Tuning with Geometric Distillation"): pixel correspondences between views and relative
//! depth order of point pairs.

use glam::Vec3;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::SceneShard;

/// Depth agreement needed for a projected point to count as visible in the other view.
const VISIBLE_RATIO: f32 = 0.05;

/// Pixels of view `a` and the pixels of view `b` that see the same 3D point: every `stride`-th
/// pixel of `a` with depth is back-projected, projected into `b`, and kept when it lands inside
/// `b` in front of its camera and `b`'s own depth there agrees within 5% (not occluded).
/// Returns ((xa, ya), (xb, yb)) pixel pairs.
pub fn correspondences(
    shard: &SceneShard,
    a: usize,
    b: usize,
    stride: usize,
) -> Vec<((usize, usize), (usize, usize))> {
    let s = shard.size as usize;
    let k = |v: usize| {
        let k = &shard.intrinsics[v * 9..v * 9 + 9];
        (k[0], k[4], k[2], k[5])
    };
    let (fxa, fya, cxa, cya) = k(a);
    let (fxb, fyb, cxb, cyb) = k(b);
    let world_from_a = shard.camera_from_world(a).inverse();
    let b_from_world = shard.camera_from_world(b);
    let mut out = Vec::new();
    for y in (0..s).step_by(stride.max(1)) {
        for x in (0..s).step_by(stride.max(1)) {
            let d = shard.depth[a * s * s + y * s + x];
            if d <= 0.0 {
                continue;
            }
            let p_a = Vec3::new((x as f32 - cxa) / fxa * d, (y as f32 - cya) / fya * d, d);
            let p_b = b_from_world.transform_point3(world_from_a.transform_point3(p_a));
            if p_b.z <= 1e-3 {
                continue;
            }
            let (u, v) = (fxb * p_b.x / p_b.z + cxb, fyb * p_b.y / p_b.z + cyb);
            let (ub, vb) = (u.round(), v.round());
            if ub < 0.0 || vb < 0.0 || ub >= s as f32 || vb >= s as f32 {
                continue;
            }
            let (ub, vb) = (ub as usize, vb as usize);
            let seen = shard.depth[b * s * s + vb * s + ub];
            if seen > 0.0 && (seen - p_b.z).abs() <= VISIBLE_RATIO * p_b.z {
                out.push(((x, y), (ub, vb)));
            }
        }
    }
    out
}

/// Up to `count` pixel pairs of view `v` whose depths differ by more than 10% (log ratio
/// > 0.1), with +1 when the first is farther and -1 when it is nearer; seeded.
pub fn depth_order_pairs(
    shard: &SceneShard,
    v: usize,
    count: usize,
    seed: u64,
) -> Vec<(usize, usize, f32)> {
    let n = shard.size as usize * shard.size as usize;
    let depth = &shard.depth[v * n..(v + 1) * n];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for _ in 0..count * 8 {
        if out.len() >= count {
            break;
        }
        let (i, j) = (rng.random_range(0..n), rng.random_range(0..n));
        let (di, dj) = (depth[i], depth[j]);
        if di <= 0.0 || dj <= 0.0 {
            continue;
        }
        let r = (di / dj).ln();
        if r.abs() > 0.1 {
            out.push((i, j, r.signum()));
        }
    }
    out
}
