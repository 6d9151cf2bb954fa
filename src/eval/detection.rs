//! Detection mAP@0.25 the ScanNet way: ground truth is the objects the views show; per class,
//! detections in descending score each take the ground-truth box they overlap most; a detection
//! whose best box is already taken, or overlaps it by less than the threshold, is a false
//! positive. Predicted boxes are axis-aligned in the first camera's frame (the model's output);
//! they are compared with the world-axis-aligned ground truth as the oriented boxes they are in
//! the world, never inflated to an axis-aligned hull.

use std::collections::BTreeMap;

use glam::{Mat4, Vec3};

/// Samples per axis of the grid the oriented-box overlap is integrated on.
const GRID: usize = 32;

/// An oriented box: axis-aligned in a frame, placed in the world by `world_from_frame` (rigid).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrientedBox {
    /// Centre and size in the box's frame.
    pub centre: Vec3,
    /// Full extent along the frame's axes, metres.
    pub size: Vec3,
    /// Rigid transform from the box's frame to the world.
    pub world_from_frame: Mat4,
}

impl OrientedBox {
    fn volume(&self) -> f32 {
        self.size.x.max(0.0) * self.size.y.max(0.0) * self.size.z.max(0.0)
    }

    /// World-axis-aligned box around it: (min, max).
    fn hull(&self) -> (Vec3, Vec3) {
        let h = self.size / 2.0;
        let (mut lo, mut hi) = (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
        for k in 0..8 {
            let s = Vec3::new(
                if k & 1 == 0 { -1.0 } else { 1.0 },
                if k & 2 == 0 { -1.0 } else { 1.0 },
                if k & 4 == 0 { -1.0 } else { 1.0 },
            );
            let p = self.world_from_frame.transform_point3(self.centre + h * s);
            lo = lo.min(p);
            hi = hi.max(p);
        }
        (lo, hi)
    }
}

/// 3D IoU of an oriented box and a world-axis-aligned box (`centre`, `size`). The
/// intersection is integrated on a 32³ grid of cell centres over the overlap of the world box
/// and the oriented box's hull (exact when the oriented box is axis-aligned in the world).
pub fn iou_oriented_vs_aabb(pred: &OrientedBox, gt_centre: Vec3, gt_size: Vec3) -> f32 {
    let (gt_lo, gt_hi) = (gt_centre - gt_size / 2.0, gt_centre + gt_size / 2.0);
    let (h_lo, h_hi) = pred.hull();
    let (lo, hi) = (gt_lo.max(h_lo), gt_hi.min(h_hi));
    let ext = hi - lo;
    if ext.min_element() <= 0.0 || pred.volume() <= 0.0 {
        return 0.0;
    }
    let frame_from_world = pred.world_from_frame.inverse();
    let (p_lo, p_hi) = (
        pred.centre - pred.size / 2.0 - Vec3::splat(1e-6),
        pred.centre + pred.size / 2.0 + Vec3::splat(1e-6),
    );
    let mut inside = 0usize;
    for i in 0..GRID {
        for j in 0..GRID {
            for k in 0..GRID {
                let t = Vec3::new(i as f32 + 0.5, j as f32 + 0.5, k as f32 + 0.5) / GRID as f32;
                let p = frame_from_world.transform_point3(lo + ext * t);
                if p.cmpge(p_lo).all() && p.cmple(p_hi).all() {
                    inside += 1;
                }
            }
        }
    }
    let inter = ext.x * ext.y * ext.z * inside as f32 / (GRID * GRID * GRID) as f32;
    let union = pred.volume() + gt_size.x * gt_size.y * gt_size.z - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// One scene's detections of a class matched to its ground truth: `(score, true positive)` per
/// detection. `ious[d][g]` is detection d's IoU with ground truth g; detections in any order.
pub fn match_detections(scores: &[f32], ious: &[Vec<f32>], threshold: f32) -> Vec<(f32, bool)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let gts = ious.first().map_or(0, Vec::len);
    let mut taken = vec![false; gts];
    let mut out = Vec::with_capacity(scores.len());
    for d in order {
        let best = ious[d]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)));
        let hit = match best {
            Some((g, &iou)) if iou >= threshold && !taken[g] => {
                taken[g] = true;
                true
            }
            _ => false,
        };
        out.push((scores[d], hit));
    }
    out
}

/// Average precision from detections `(score, true positive)` and the number of ground truths,
/// all-point interpolated.
pub fn average_precision(mut dets: Vec<(f32, bool)>, gt: usize) -> f32 {
    if gt == 0 {
        return 0.0;
    }
    dets.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut points = Vec::new();
    for (_, hit) in dets {
        if hit {
            tp += 1
        } else {
            fp += 1
        }
        points.push((tp as f32 / gt as f32, tp as f32 / (tp + fp) as f32));
    }
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for i in 0..points.len() {
        let best_precision = points[i..].iter().map(|p| p.1).fold(0.0, f32::max);
        ap += (points[i].0 - prev_recall) * best_precision;
        prev_recall = points[i].0;
    }
    ap
}

/// Accumulates detections and ground truths per class over scenes.
#[derive(Debug, Default)]
pub struct MapAccumulator {
    dets: BTreeMap<usize, Vec<(f32, bool)>>,
    gts: BTreeMap<usize, usize>,
}

/// A ground-truth box in the world.
#[derive(Debug, Clone, Copy)]
pub struct GtBox {
    /// Detection class.
    pub class: usize,
    /// World centre.
    pub centre: Vec3,
    /// World size.
    pub size: Vec3,
}

/// A predicted box in the world.
#[derive(Debug, Clone, Copy)]
pub struct PredBox {
    /// Detection class.
    pub class: usize,
    /// Confidence.
    pub score: f32,
    /// The box.
    pub bbox: OrientedBox,
}

impl MapAccumulator {
    /// Adds one scene: its visible ground truth and its detections (classes ≥ `classes` are
    /// ignored).
    pub fn add_scene(&mut self, gt: &[GtBox], preds: &[PredBox], classes: usize) {
        for g in gt.iter().filter(|g| g.class < classes) {
            *self.gts.entry(g.class).or_insert(0) += 1;
        }
        let mut by_class: BTreeMap<usize, Vec<&PredBox>> = BTreeMap::new();
        for p in preds.iter().filter(|p| p.class < classes) {
            by_class.entry(p.class).or_default().push(p);
        }
        for (c, ps) in by_class {
            let gts: Vec<&GtBox> = gt.iter().filter(|g| g.class == c).collect();
            let scores: Vec<f32> = ps.iter().map(|p| p.score).collect();
            let ious: Vec<Vec<f32>> = ps
                .iter()
                .map(|p| {
                    gts.iter()
                        .map(|g| iou_oriented_vs_aabb(&p.bbox, g.centre, g.size))
                        .collect()
                })
                .collect();
            self.dets
                .entry(c)
                .or_default()
                .extend(match_detections(&scores, &ious, 0.25));
        }
    }

    /// Mean AP over the classes with ground truth, and their number.
    pub fn finish(mut self) -> (f32, usize) {
        let aps: Vec<f32> = self
            .gts
            .iter()
            .map(|(c, n)| average_precision(self.dets.remove(c).unwrap_or_default(), *n))
            .collect();
        if aps.is_empty() {
            return (0.0, 0);
        }
        (aps.iter().sum::<f32>() / aps.len() as f32, aps.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aligned(c: [f32; 3], s: [f32; 3]) -> OrientedBox {
        OrientedBox {
            centre: Vec3::from(c),
            size: Vec3::from(s),
            world_from_frame: Mat4::IDENTITY,
        }
    }

    #[test]
    fn iou_of_axis_aligned_boxes_is_exact() {
        // Two 2x2x2 cubes offset by 1 along x: intersection 1*2*2 = 4, union 8+8-4 = 12.
        let p = aligned([0.0, 0.0, 0.0], [2.0, 2.0, 2.0]);
        let iou = iou_oriented_vs_aabb(&p, Vec3::new(1.0, 0.0, 0.0), Vec3::splat(2.0));
        assert!((iou - 1.0 / 3.0).abs() < 1e-4, "{iou}");
        assert_eq!(
            iou_oriented_vs_aabb(&p, Vec3::new(5.0, 0.0, 0.0), Vec3::splat(2.0)),
            0.0
        );
    }

    #[test]
    fn a_rotated_box_is_not_inflated_to_its_hull() {
        // A unit square prism turned 45° about z against the same prism unturned: the overlap
        // is a regular octagon of area 2(√2 − 1) ≈ 0.8284 (times height 1); IoU = 0.8284 /
        // (2 − 0.8284) = 0.7071. The hull comparison would give 1 / 2 = 0.5.
        let turned = OrientedBox {
            centre: Vec3::ZERO,
            size: Vec3::ONE,
            world_from_frame: Mat4::from_rotation_z(std::f32::consts::FRAC_PI_4),
        };
        let iou = iou_oriented_vs_aabb(&turned, Vec3::ZERO, Vec3::ONE);
        assert!(
            (iou - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.01,
            "{iou}"
        );
        // A box placed through a camera-like rigid transform, compared with itself in the world.
        let world_from_cam = Mat4::from_translation(Vec3::new(1.0, 2.0, 1.5))
            * Mat4::from_rotation_x(-1.9)
            * Mat4::from_rotation_y(0.0);
        let cam_from_world = world_from_cam.inverse();
        let c_cam = cam_from_world.transform_point3(Vec3::new(2.0, 3.0, 0.5));
        let p = OrientedBox {
            centre: c_cam,
            size: Vec3::new(0.4, 0.4, 0.4),
            world_from_frame: world_from_cam,
        };
        let iou = iou_oriented_vs_aabb(&p, Vec3::new(2.0, 3.0, 0.5), Vec3::splat(0.4));
        assert!(iou > 0.5 && iou < 0.99, "{iou}");
    }

    #[test]
    fn a_duplicate_detection_is_a_false_positive() {
        // Two ground truths of one class; three detections: the best on gt 0, a duplicate of
        // gt 0 with a lower score, one on gt 1.
        let gt = [
            GtBox {
                class: 3,
                centre: Vec3::ZERO,
                size: Vec3::ONE,
            },
            GtBox {
                class: 3,
                centre: Vec3::new(5.0, 0.0, 0.0),
                size: Vec3::ONE,
            },
        ];
        let pred = |score: f32, x: f32| PredBox {
            class: 3,
            score,
            bbox: aligned([x, 0.0, 0.0], [1.0, 1.0, 1.0]),
        };
        let preds = [pred(0.9, 0.0), pred(0.8, 0.05), pred(0.7, 5.0)];
        let ious: Vec<Vec<f32>> = preds
            .iter()
            .map(|p| {
                gt.iter()
                    .map(|g| iou_oriented_vs_aabb(&p.bbox, g.centre, g.size))
                    .collect()
            })
            .collect();
        let m = match_detections(&[0.9, 0.8, 0.7], &ious, 0.25);
        assert_eq!(m, vec![(0.9, true), (0.8, false), (0.7, true)]);
        // AP: precision 1, 1/2, 2/3 at recall 0.5, 0.5, 1 → 0.5·1 + 0.5·(2/3) = 0.8333.
        let mut acc = MapAccumulator::default();
        acc.add_scene(&gt, &preds, 18);
        let (map, classes) = acc.finish();
        assert_eq!(classes, 1);
        assert!((map - 0.8333).abs() < 1e-3, "{map}");
    }
}
