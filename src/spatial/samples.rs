//! Surface samples of objects and nearest-neighbour queries over them.
//!
//! Each object's surface is its vertices plus points sampled uniformly by area on the triangles
//! whose three vertices belong to it, about one per `SAMPLE_SPACING_M²`, so distances between
//! surfaces are measured to within about half that spacing however coarse the mesh is.

use glam::Vec3;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scene::{Scene, SceneObject};

/// Target spacing between surface samples, metres.
pub const SAMPLE_SPACING_M: f32 = 0.02;
/// Most samples drawn per object (its vertices come on top).
pub const MAX_SAMPLES_PER_OBJECT: usize = 40_000;

/// Points on one object's surface.
#[derive(Debug, Clone)]
pub struct SurfaceSamples {
    /// The points, metres.
    pub points: Vec<Vec3>,
    tree: KdTree,
    bounds: Option<crate::scene::Aabb>,
}

impl SurfaceSamples {
    /// Samples `object`'s surface in `scene` (deterministic per object id).
    pub fn of(scene: &Scene, object: &SceneObject) -> SurfaceSamples {
        let mut points: Vec<Vec3> = object
            .vertex_indices
            .iter()
            .filter_map(|&v| scene.positions.get(v as usize).copied())
            .collect();
        if let Some(tris) = &scene.triangles {
            let tris: Vec<[Vec3; 3]> = tris
                .iter()
                .filter(|t| {
                    t.iter()
                        .all(|i| object.vertex_indices.binary_search(i).is_ok())
                })
                .map(|t| t.map(|i| scene.positions[i as usize]))
                .collect();
            let areas: Vec<f32> = tris
                .iter()
                .map(|[a, b, c]| (*b - *a).cross(*c - *a).length() / 2.0)
                .collect();
            let total: f32 = areas.iter().sum();
            let wanted = ((total / (SAMPLE_SPACING_M * SAMPLE_SPACING_M)) as usize)
                .min(MAX_SAMPLES_PER_OBJECT);
            if wanted > 0 && total > 0.0 {
                let mut rng = ChaCha8Rng::seed_from_u64(u64::from(object.id) ^ 0x5A17_A5A5);
                // Per triangle, its share of samples, rounded stochastically.
                for (t, area) in tris.iter().zip(&areas) {
                    let share = area / total * wanted as f32;
                    let mut n = share.floor() as usize;
                    if rng.random::<f32>() < share.fract() {
                        n += 1;
                    }
                    for _ in 0..n {
                        let (mut u, mut v) = (rng.random::<f32>(), rng.random::<f32>());
                        if u + v > 1.0 {
                            (u, v) = (1.0 - u, 1.0 - v);
                        }
                        points.push(t[0] + (t[1] - t[0]) * u + (t[2] - t[0]) * v);
                    }
                }
            }
        }
        let tree = KdTree::new(&points);
        let bounds = crate::scene::Aabb::from_points(points.iter().copied());
        SurfaceSamples {
            points,
            tree,
            bounds,
        }
    }

    /// Distance from `p` to the nearest sample, if there is one within `max_m`.
    pub fn nearest_within(&self, p: Vec3, max_m: f32) -> Option<f32> {
        self.tree.nearest_within(&self.points, p, max_m)
    }

    /// Minimum distance between the two sample sets (`f32::INFINITY` when either is empty).
    pub fn distance_to(&self, other: &SurfaceSamples) -> f32 {
        let (small, large) = if self.points.len() <= other.points.len() {
            (self, other)
        } else {
            (other, self)
        };
        let Some(large_box) = large.bounds else {
            return f32::INFINITY;
        };
        let gap_to = |p: Vec3| {
            (large_box.min - p)
                .max(p - large_box.max)
                .max(Vec3::ZERO)
                .length()
        };
        // Start from the point nearest the other's box: a tight first bound lets most points
        // be skipped by the box test below.
        let mut best = small
            .points
            .iter()
            .copied()
            .min_by(|a, b| gap_to(*a).total_cmp(&gap_to(*b)))
            .and_then(|p| large.tree.nearest_within(&large.points, p, f32::INFINITY))
            .unwrap_or(f32::INFINITY);
        for &p in &small.points {
            // Skip points that cannot beat the best: their distance to the other's box.
            if best == 0.0 {
                break;
            }
            if gap_to(p) >= best {
                continue;
            }
            if let Some(d) = large.tree.nearest_within(&large.points, p, best) {
                best = best.min(d);
                if best == 0.0 {
                    break;
                }
            }
        }
        best
    }
}

/// A static kd-tree over points for nearest-neighbour queries: points are reordered so that
/// every subtree is a contiguous range split at its median along the widest axis, and every
/// subtree keeps its bounding box, so a query skips whole subtrees farther than its best so far
/// (which keeps queries from far away cheap, not only those from close by).
#[derive(Debug, Clone)]
struct KdTree {
    /// Point indices in tree order.
    order: Vec<u32>,
    /// Split axis per node (node = the median of a range), indexed like `order`.
    axis: Vec<u8>,
    /// Bounding box of each node's whole range, indexed like `order`.
    boxes: Vec<(Vec3, Vec3)>,
}

impl KdTree {
    fn new(points: &[Vec3]) -> Self {
        let mut order: Vec<u32> = (0..points.len() as u32).collect();
        let mut axis = vec![0u8; points.len()];
        let mut boxes = vec![(Vec3::ZERO, Vec3::ZERO); points.len()];
        // Iterative build over (start, end) ranges.
        let mut stack = vec![(0usize, points.len())];
        while let Some((lo, hi)) = stack.pop() {
            if hi <= lo {
                continue;
            }
            let slice = &mut order[lo..hi];
            let (min, max) = slice.iter().fold(
                (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
                |(mn, mx), &i| (mn.min(points[i as usize]), mx.max(points[i as usize])),
            );
            let size = max - min;
            let ax = if size.x >= size.y && size.x >= size.z {
                0
            } else if size.y >= size.z {
                1
            } else {
                2
            };
            let mid = (hi - lo) / 2;
            if hi - lo > 1 {
                slice.select_nth_unstable_by(mid, |&a, &b| {
                    points[a as usize][ax].total_cmp(&points[b as usize][ax])
                });
            }
            axis[lo + mid] = ax as u8;
            boxes[lo + mid] = (min, max);
            if hi - lo > 1 {
                stack.push((lo, lo + mid));
                stack.push((lo + mid + 1, hi));
            }
        }
        Self { order, axis, boxes }
    }

    /// Nearest point to `p` closer than `max_m` (unbounded when `max_m` is infinite).
    fn nearest_within(&self, points: &[Vec3], p: Vec3, max_m: f32) -> Option<f32> {
        let mut best2 = if max_m.is_finite() {
            max_m * max_m
        } else {
            f32::INFINITY
        };
        let mut found = false;
        let box_d2 = |lo: usize, hi: usize| {
            let (mn, mx) = self.boxes[lo + (hi - lo) / 2];
            (mn - p).max(p - mx).max(Vec3::ZERO).length_squared()
        };
        let mut stack = vec![(0usize, self.order.len())];
        while let Some((lo, hi)) = stack.pop() {
            if lo >= hi {
                continue;
            }
            let bd = box_d2(lo, hi);
            if bd > best2 || (found && bd == best2) {
                continue;
            }
            let mid = lo + (hi - lo) / 2;
            let q = points[self.order[mid] as usize];
            let d2 = q.distance_squared(p);
            if d2 < best2 || (!found && d2 <= best2) {
                best2 = d2;
                found = true;
            }
            if hi - lo == 1 {
                continue;
            }
            let ax = self.axis[mid] as usize;
            let (near, far) = if p[ax] < q[ax] {
                ((lo, mid), (mid + 1, hi))
            } else {
                ((mid + 1, hi), (lo, mid))
            };
            stack.push(far);
            stack.push(near);
        }
        found.then(|| best2.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kd_nearest_matches_brute_force() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let pts: Vec<Vec3> = (0..500)
            .map(|_| {
                Vec3::new(
                    rng.random::<f32>() * 3.0,
                    rng.random::<f32>() * 2.0,
                    rng.random::<f32>(),
                )
            })
            .collect();
        let tree = KdTree::new(&pts);
        for _ in 0..200 {
            let q = Vec3::new(
                rng.random::<f32>() * 5.0 - 1.0,
                rng.random::<f32>() * 4.0 - 1.0,
                rng.random::<f32>() * 3.0 - 1.0,
            );
            let brute = pts
                .iter()
                .map(|p| p.distance(q))
                .fold(f32::INFINITY, f32::min);
            let got = tree.nearest_within(&pts, q, f32::INFINITY).unwrap();
            assert!((got - brute).abs() < 1e-6, "{got} vs {brute}");
            assert_eq!(tree.nearest_within(&pts, q, brute * 0.5), None);
        }
    }
}
