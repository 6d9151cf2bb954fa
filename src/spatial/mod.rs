//! Spatial relations between objects, computed from their surfaces (see docs/SPATIAL.md):
//! minimum surface distance, contact, support ("a on b"), proximity (near / far), closest and
//! farthest, relative direction, and size comparisons.

pub mod direction;
pub mod samples;

use std::collections::HashMap;

use glam::Vec3;
use serde::Serialize;

use crate::scene::{Scene, SceneObject};
pub use samples::SurfaceSamples;

/// Surfaces closer than this touch, metres.
pub const CONTACT_M: f32 = 0.05;
/// Pairs at most this far apart are near, metres.
pub const NEAR_M: f32 = 0.6;
/// Pairs at least this far apart are far, metres; between `NEAR_M` and this, proximity is
/// ambiguous and never asked as a yes/no question.
pub const FAR_M: f32 = 1.2;
/// For support, the gap allowed between a's bottom and b's top, metres.
pub const SUPPORT_GAP_M: f32 = 0.05;
/// For support, the share of a's footprint that must lie over b.
pub const SUPPORT_FOOTPRINT: f32 = 0.5;

/// Relations between two objects.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairRelation {
    /// First object id.
    pub a: u32,
    /// Second object id.
    pub b: u32,
    /// Minimum distance between the surfaces, metres.
    pub distance_m: f32,
    /// `distance_m <= CONTACT_M`.
    pub contact: bool,
    /// a rests on b.
    pub a_on_b: bool,
    /// b rests on a.
    pub b_on_a: bool,
    /// `distance_m <= NEAR_M`.
    pub near: bool,
    /// `distance_m >= FAR_M`.
    pub far: bool,
}

/// A scene's objects with their surface samples, ready for relation queries.
pub struct SpatialScene<'s> {
    /// The scene.
    pub scene: &'s Scene,
    samples: HashMap<u32, SurfaceSamples>,
}

impl<'s> SpatialScene<'s> {
    /// Samples every object's surface.
    pub fn new(scene: &'s Scene) -> Self {
        let samples = scene
            .objects
            .iter()
            .map(|o| (o.id, SurfaceSamples::of(scene, o)))
            .collect();
        Self { scene, samples }
    }

    fn object(&self, id: u32) -> Option<&'s SceneObject> {
        self.scene.object(id)
    }

    /// Surface samples of object `id`.
    pub fn samples(&self, id: u32) -> Option<&SurfaceSamples> {
        self.samples.get(&id)
    }

    /// Minimum distance between the surfaces of `a` and `b`, metres (`None` for unknown ids).
    pub fn distance_m(&self, a: u32, b: u32) -> Option<f32> {
        Some(self.samples.get(&a)?.distance_to(self.samples.get(&b)?))
    }

    /// Whether `a` rests on `b`: they touch, a's bottom is within `SUPPORT_GAP_M` of b's top
    /// surface under it, and at least half of a's footprint lies over that surface.
    pub fn on(&self, a: u32, b: u32) -> Option<bool> {
        self.on_at_distance(a, b, self.distance_m(a, b)?)
    }

    /// [`Self::on`] for a pair whose surface distance is already known.
    fn on_at_distance(&self, a: u32, b: u32, distance_m: f32) -> Option<bool> {
        let oa = self.object(a)?;
        if a == b || distance_m > CONTACT_M {
            return Some(false);
        }
        let bottom = oa.aabb.min.z;
        let (fa_min, fa_max) = (oa.aabb.min.truncate(), oa.aabb.max.truncate());
        // b's points under a's footprint and not above a's bottom (+ gap): its top there.
        let under: Vec<Vec3> = self
            .samples
            .get(&b)?
            .points
            .iter()
            .copied()
            .filter(|p| p.z <= bottom + SUPPORT_GAP_M)
            .collect();
        let top_z = under
            .iter()
            .filter(|p| p.x >= fa_min.x && p.x <= fa_max.x && p.y >= fa_min.y && p.y <= fa_max.y)
            .map(|p| p.z)
            .fold(f32::NEG_INFINITY, f32::max);
        if !top_z.is_finite() || (bottom - top_z).abs() > SUPPORT_GAP_M {
            return Some(false);
        }
        // The supporting surface: b's points within the gap of that top height.
        let surface: Vec<Vec3> = under
            .iter()
            .copied()
            .filter(|p| (p.z - top_z).abs() <= SUPPORT_GAP_M)
            .collect();
        let Some(s_box) = crate::scene::Aabb::from_points(surface) else {
            return Some(false);
        };
        let overlap = (fa_max.min(s_box.max.truncate()) - fa_min.max(s_box.min.truncate()))
            .max(glam::Vec2::ZERO);
        let footprint = (fa_max - fa_min).max(glam::Vec2::splat(1e-6));
        Some(overlap.x * overlap.y >= SUPPORT_FOOTPRINT * footprint.x * footprint.y)
    }

    /// All relations between `a` and `b`.
    pub fn pair(&self, a: u32, b: u32) -> Option<PairRelation> {
        let distance_m = self.distance_m(a, b)?;
        Some(PairRelation {
            a,
            b,
            distance_m,
            contact: distance_m <= CONTACT_M,
            a_on_b: self.on_at_distance(a, b, distance_m)?,
            b_on_a: self.on_at_distance(b, a, distance_m)?,
            near: distance_m <= NEAR_M,
            far: distance_m >= FAR_M,
        })
    }

    /// Relations for every pair of objects; floor, wall and ceiling are left out unless
    /// `include_structure`.
    pub fn all_pairs(&self, include_structure: bool) -> Vec<PairRelation> {
        let ids: Vec<u32> = self
            .scene
            .objects
            .iter()
            .filter(|o| include_structure || !o.category.is_structure())
            .map(|o| o.id)
            .collect();
        let mut out = Vec::new();
        for (i, &a) in ids.iter().enumerate() {
            for &b in &ids[i + 1..] {
                if let Some(r) = self.pair(a, b) {
                    out.push(r);
                }
            }
        }
        out
    }

    /// The candidate nearest to (`closest == true`) or farthest from `target`, by surface
    /// distance, and that distance. Ties go to the lower id.
    pub fn extreme(&self, target: u32, candidates: &[u32], closest: bool) -> Option<(u32, f32)> {
        let mut scored: Vec<(u32, f32)> = candidates
            .iter()
            .filter(|&&c| c != target)
            .filter_map(|&c| Some((c, self.distance_m(target, c)?)))
            .collect();
        scored.sort_by(|x, y| {
            let ord = x.1.total_cmp(&y.1);
            (if closest { ord } else { ord.reverse() }).then(x.0.cmp(&y.0))
        });
        scored.first().copied()
    }
}

/// Size comparisons between two objects' boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SizeComparison {
    /// a's box volume is larger.
    pub bigger: bool,
    /// a's box is taller (z extent).
    pub taller: bool,
    /// a's largest horizontal extent is larger.
    pub wider: bool,
}

/// Compares the sizes of `a` and `b`.
pub fn compare_sizes(a: &SceneObject, b: &SceneObject) -> SizeComparison {
    let (sa, sb) = (a.aabb.size(), b.aabb.size());
    SizeComparison {
        bigger: sa.x * sa.y * sa.z > sb.x * sb.y * sb.z,
        taller: sa.z > sb.z,
        wider: sa.x.max(sa.y) > sb.x.max(sb.y),
    }
}

/// How many objects of `category` the scene has.
pub fn count(scene: &Scene, category: crate::scene::Category) -> usize {
    scene
        .objects
        .iter()
        .filter(|o| o.category == category)
        .count()
}

#[cfg(test)]
mod tests;
