//! Object tokens from a model's own predictions: per-pixel categories and depth, lifted through
//! the views' cameras into the world frame and grouped into objects by 3D connectivity (pixels of
//! one category whose points fall in touching voxels are one object). This is how the student
//! finds objects from RGB and cameras alone; the teacher reads annotated instances instead
//! (`objects.rs`). [`match_to_annotated`] labels predicted objects with the ids of the annotated
//! ones they cover, for training targets and for scoring where the model looked.

use std::collections::HashMap;

use glam::Vec3;

use super::objects::{MAX_OBJECT_TOKENS, ObjectToken};
use crate::scene::Category;

/// Predicted maps of one scene's views.
#[derive(Debug, Clone, Copy)]
pub struct PredictedViews<'a> {
    /// Side of the depth maps (the image), pixels.
    pub size: usize,
    /// Number of views.
    pub views: usize,
    /// Predicted depth [V, size, size], metres.
    pub depth_m: &'a [f32],
    /// Side of the class maps (the image or a coarser grid).
    pub class_size: usize,
    /// Predicted class per cell [V, class_size, class_size]: 0 background, c + 1 for
    /// `Category::ALL[c]`.
    pub class: &'a [u8],
    /// Probability of the predicted class per cell, same layout as `class`; empty when unknown
    /// (every object then scores 1).
    pub confidence: &'a [f32],
    /// Intrinsics [V, 3, 3] of the `size` images.
    pub intrinsics: &'a [f32],
    /// Camera-from-world [V, 3, 4].
    pub extrinsics: &'a [f32],
}

/// Edge of the voxels points are grouped in, metres: points of one category in voxels that
/// touch (26-neighbourhood) are one object.
pub const GROUP_VOXEL_M: f32 = 0.1;

/// How predicted pixels are grouped into objects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grouping {
    /// A group is an object when some view shows at least this many of its pixels.
    pub min_px: u32,
    /// Edge of the grouping voxels, metres ([`GROUP_VOXEL_M`]).
    pub voxel_m: f32,
}

impl Grouping {
    /// The grouping the app and training use for images of `size`² pixels.
    pub fn for_size(size: usize) -> Self {
        Self {
            min_px: crate::questions::min_visible_px(size as u32) as u32,
            voxel_m: GROUP_VOXEL_M,
        }
    }
}

/// Ids of predicted objects that match no annotated one start here (annotated ids are smaller).
pub const UNMATCHED_ID_BASE: u32 = 1 << 24;

/// Objects found in `views`: every group with at least `min_px` pixels in some view, at most
/// [`MAX_OBJECT_TOKENS`] (largest first, then ordered by id). Each box spans the 2nd to 98th
/// percentile of its points on each axis, so that a few stray depth pixels do not stretch it.
/// Ids are 0.. in order of size. Arrays shorter than their shapes give no object.
pub fn predicted_object_tokens(
    views: &PredictedViews<'_>,
    grouping: &Grouping,
) -> Vec<ObjectToken> {
    let Grouping { min_px, voxel_m } = *grouping;
    let (n, cs) = (views.size, views.class_size);
    if n == 0
        || !(voxel_m.is_finite() && voxel_m > 0.0)
        || cs == 0
        || views.depth_m.len() < views.views * n * n
        || views.class.len() < views.views * cs * cs
        || views.intrinsics.len() < views.views * 9
        || views.extrinsics.len() < views.views * 12
    {
        return Vec::new();
    }
    let classes = Category::ALL.len();
    // Voxels in the order pixels first reach them (deterministic), each with its class.
    let mut voxel_of: HashMap<(u8, [i32; 3]), usize> = HashMap::new();
    let mut voxel_keys: Vec<(u8, [i32; 3])> = Vec::new();
    // Per point: its voxel, view, position and class probability.
    let mut points: Vec<(usize, usize, Vec3, f32)> = Vec::new();
    for v in 0..views.views {
        let e = &views.extrinsics[v * 12..v * 12 + 12];
        let world_from_camera = super::shard::mat4_from_extrinsics(e).inverse();
        let k = &views.intrinsics[v * 9..v * 9 + 9];
        let (fx, fy, cx, cy) = (k[0], k[4], k[2], k[5]);
        if !(fx.is_finite() && fy.is_finite() && fx != 0.0 && fy != 0.0) {
            continue;
        }
        for y in 0..n {
            for x in 0..n {
                let c = views.class[v * cs * cs + (y * cs / n) * cs + x * cs / n];
                if c == 0 || usize::from(c) > classes {
                    continue;
                }
                let d = views.depth_m[v * n * n + y * n + x];
                if !(d.is_finite() && d > 0.0) {
                    continue;
                }
                let p_cam = Vec3::new((x as f32 - cx) / fx * d, (y as f32 - cy) / fy * d, d);
                let w = world_from_camera.transform_point3(p_cam);
                if !w.is_finite() {
                    continue;
                }
                let cell = (w / voxel_m).floor();
                let key = (c, [cell.x as i32, cell.y as i32, cell.z as i32]);
                let id = *voxel_of.entry(key).or_insert_with(|| {
                    voxel_keys.push(key);
                    voxel_keys.len() - 1
                });
                let p = views
                    .confidence
                    .get(v * cs * cs + (y * cs / n) * cs + x * cs / n)
                    .copied()
                    .filter(|p| p.is_finite())
                    .unwrap_or(1.0);
                points.push((id, v, w, p));
            }
        }
    }
    // Union of touching voxels of one class.
    let mut parent: Vec<usize> = (0..voxel_keys.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (i, (c, [x, y, z])) in voxel_keys.iter().enumerate() {
        for dx in -1..=1 {
            for dy in -1..=1 {
                for dz in -1..=1 {
                    if let Some(&j) = voxel_of.get(&(*c, [x + dx, y + dy, z + dz])) {
                        let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
                        if ri != rj {
                            parent[ri.max(rj)] = ri.min(rj);
                        }
                    }
                }
            }
        }
    }
    // Groups: per-view pixel counts and points.
    struct Group {
        category: usize,
        per_view: Vec<u32>,
        points: Vec<Vec3>,
        confidence_sum: f64,
    }
    let mut group_of_root: HashMap<usize, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    for (voxel, view, w, p) in points {
        let r = root(&mut parent, voxel);
        let g = *group_of_root.entry(r).or_insert_with(|| {
            groups.push(Group {
                category: usize::from(voxel_keys[r].0) - 1,
                per_view: vec![0; views.views],
                points: Vec::new(),
                confidence_sum: 0.0,
            });
            groups.len() - 1
        });
        groups[g].per_view[view] += 1;
        groups[g].points.push(w);
        groups[g].confidence_sum += f64::from(p);
    }
    let mut found: Vec<ObjectToken> = groups
        .into_iter()
        .filter(|g| g.per_view.iter().any(|c| *c >= min_px))
        .map(|g| {
            let (min_m, max_m) = robust_box(&g.points);
            ObjectToken {
                id: 0,
                category: g.category,
                min_m,
                max_m,
                pixels: g.points.len() as u32,
                score: (g.confidence_sum / g.points.len().max(1) as f64) as f32,
            }
        })
        .collect();
    found.sort_by_key(|o| std::cmp::Reverse(o.pixels));
    found.truncate(MAX_OBJECT_TOKENS);
    for (i, o) in found.iter_mut().enumerate() {
        o.id = i as u32;
    }
    found
}

/// Per-cell class targets for a semantic head: for each view, a `side`×`side` grid whose cell
/// takes the class of the pixel at its centre — 0 for background (no instance, or an instance
/// without a known category), c + 1 for `Category::ALL[c]`. Short arrays give all background.
pub fn semantic_targets(views: &super::ObjectViews<'_>, side: usize) -> Vec<u8> {
    let n = views.size;
    let mut out = vec![0u8; views.views * side * side];
    if side == 0 || n == 0 || views.instance.len() < views.views * n * n {
        return out;
    }
    let category: HashMap<i64, u8> = views
        .object_id
        .iter()
        .zip(views.object_category)
        .filter_map(|(&id, &c)| {
            let c = usize::try_from(c)
                .ok()
                .filter(|c| *c < Category::ALL.len())?;
            Some((id, u8::try_from(c + 1).ok()?))
        })
        .collect();
    for v in 0..views.views {
        for y in 0..side {
            for x in 0..side {
                let (py, px) = ((2 * y + 1) * n / (2 * side), (2 * x + 1) * n / (2 * side));
                let id = views.instance[v * n * n + py * n + px];
                out[v * side * side + y * side + x] =
                    category.get(&i64::from(id)).copied().unwrap_or(0);
            }
        }
    }
    out
}

/// The box spanning the 2nd to 98th percentile of `points` on each axis.
fn robust_box(points: &[Vec3]) -> ([f32; 3], [f32; 3]) {
    let mut lo = [0.0; 3];
    let mut hi = [0.0; 3];
    let mut axis: Vec<f32> = Vec::with_capacity(points.len());
    for k in 0..3 {
        axis.clear();
        axis.extend(points.iter().map(|p| p[k]));
        axis.sort_by(f32::total_cmp);
        let last = axis.len().saturating_sub(1);
        let at = |q: f32| axis[((last as f32 * q).round() as usize).min(last)];
        lo[k] = at(0.02);
        hi[k] = at(0.98);
    }
    (lo, hi)
}

/// 3D IoU of two objects' boxes (`data::iou_3d_plain` on centre and size).
fn box_iou(a: &ObjectToken, b: &ObjectToken) -> f32 {
    let centre_size = |o: &ObjectToken| {
        let (c, d) = (o.center_m(), Vec3::from(o.max_m) - Vec3::from(o.min_m));
        [c.x, c.y, c.z, d.x, d.y, d.z]
    };
    super::iou_3d_plain(&centre_size(a), &centre_size(b))
}

/// Centre distance within which a predicted object of the right category still matches an
/// annotated one whose box it does not overlap, metres.
pub const MATCH_CENTRE_M: f32 = 0.5;

/// Gives each predicted object the id of the annotated object it covers: pairs of one category,
/// best first (3D IoU, then centre distance within [`MATCH_CENTRE_M`]), each object matched at
/// most once. Unmatched predictions get ids from [`UNMATCHED_ID_BASE`], so that they never
/// stand for an annotated object. Returns how many were matched.
pub fn match_to_annotated(predicted: &mut [ObjectToken], annotated: &[ObjectToken]) -> usize {
    let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
    for (i, p) in predicted.iter().enumerate() {
        for (j, a) in annotated.iter().enumerate() {
            if p.category != a.category {
                continue;
            }
            let iou = box_iou(p, a);
            let dist = p.center_m().distance(a.center_m());
            if iou > 0.0 {
                pairs.push((1.0 + iou, i, j));
            } else if dist <= MATCH_CENTRE_M {
                pairs.push((1.0 - dist / MATCH_CENTRE_M, i, j));
            }
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut taken_p = vec![false; predicted.len()];
    let mut taken_a = vec![false; annotated.len()];
    let mut ids: Vec<Option<u32>> = vec![None; predicted.len()];
    for (_, i, j) in pairs {
        if !taken_p[i] && !taken_a[j] {
            taken_p[i] = true;
            taken_a[j] = true;
            ids[i] = Some(annotated[j].id);
        }
    }
    let mut matched = 0;
    let mut next = UNMATCHED_ID_BASE;
    for (p, id) in predicted.iter_mut().zip(ids) {
        match id {
            Some(id) => {
                p.id = id;
                matched += 1;
            }
            None => {
                p.id = next;
                next += 1;
            }
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default grouping with at least `min_px` pixels in some view.
    fn px(min_px: u32) -> Grouping {
        Grouping {
            min_px,
            voxel_m: GROUP_VOXEL_M,
        }
    }

    /// A camera at the origin looking along +z (identity camera-from-world), 16×16 pixels,
    /// f = 16.
    fn camera() -> (Vec<f32>, Vec<f32>) {
        let k = vec![16.0, 0.0, 8.0, 0.0, 16.0, 8.0, 0.0, 0.0, 1.0];
        let e = vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        (k, e)
    }

    #[test]
    fn two_patches_of_one_class_apart_are_two_objects_and_touching_ones_one() {
        let (k, e) = camera();
        let n = 16;
        let chair = Category::ALL
            .iter()
            .position(|c| c.name() == "chair")
            .unwrap();
        let table = Category::ALL
            .iter()
            .position(|c| c.name() == "table")
            .unwrap();
        let mut class = vec![0u8; n * n];
        let depth = vec![1.0f32; n * n];
        // Chair pixels in columns 0..4 and 10..14 (0.44 m apart at 1 m depth: not touching);
        // table pixels in columns 4..8, touching the first chair but of another class.
        for y in 0..n {
            for x in 0..n {
                class[y * n + x] = match x {
                    0..4 | 10..14 => chair as u8 + 1,
                    4..8 => table as u8 + 1,
                    _ => 0,
                };
            }
        }
        // How sure the model is of each cell: left chair 0.9, right chair 0.5, table 0.7.
        let confidence: Vec<f32> = (0..n * n)
            .map(|i| match i % n {
                0..4 => 0.9,
                10..14 => 0.5,
                _ => 0.7,
            })
            .collect();
        let views = PredictedViews {
            size: n,
            views: 1,
            depth_m: &depth,
            class_size: n,
            class: &class,
            confidence: &confidence,
            intrinsics: &k,
            extrinsics: &e,
        };
        let found = predicted_object_tokens(&views, &px(10));
        let chairs: Vec<_> = found.iter().filter(|o| o.category == chair).collect();
        let tables: Vec<_> = found.iter().filter(|o| o.category == table).collect();
        assert_eq!(chairs.len(), 2, "{found:?}");
        assert_eq!(tables.len(), 1);
        // Each chair spans 4 columns of 1/16 m at 1 m depth; their centres are 0.625 m apart.
        let (a, b) = (chairs[0], chairs[1]);
        assert!(((a.center_m().x - b.center_m().x).abs() - 0.625).abs() < 0.02);
        assert_eq!(a.pixels + b.pixels, 2 * 4 * 16);
        assert!((a.max_m[2] - 1.0).abs() < 1e-5 && (a.min_m[2] - 1.0).abs() < 1e-5);
        // Each object scores the mean probability of its cells; without probabilities, 1.
        let mut scores: Vec<f32> = chairs.iter().map(|o| o.score).collect();
        scores.sort_by(f32::total_cmp);
        assert!((scores[0] - 0.5).abs() < 1e-6 && (scores[1] - 0.9).abs() < 1e-6);
        assert!((tables[0].score - 0.7).abs() < 1e-6);
        let unsure = predicted_object_tokens(
            &PredictedViews {
                confidence: &[],
                ..views
            },
            &px(10),
        );
        assert!(unsure.iter().all(|o| o.score == 1.0));
        // Voxels of 0.5 m bridge the 0.44 m between the chairs: one chair of all their pixels.
        let wide = Grouping {
            voxel_m: 0.5,
            ..px(10)
        };
        let merged: Vec<_> = predicted_object_tokens(&views, &wide)
            .into_iter()
            .filter(|o| o.category == chair)
            .collect();
        assert_eq!(merged.len(), 1, "{merged:?}");
        assert_eq!(merged[0].pixels, 2 * 4 * 16);
        // A voxel edge that is not a positive length groups nothing.
        for voxel_m in [0.0, -0.1, f32::NAN] {
            assert!(predicted_object_tokens(&views, &Grouping { voxel_m, ..px(10) }).is_empty());
        }
        // Fewer pixels than min_px in every view: dropped.
        assert!(
            predicted_object_tokens(&views, &px(100))
                .iter()
                .all(|o| o.category != chair)
        );
        // A class map at half the resolution labels 2×2 pixels per cell.
        let half: Vec<u8> = (0..n / 2)
            .flat_map(|y| (0..n / 2).map(move |x| (y, x)))
            .map(|(y, x)| class[2 * y * n + 2 * x])
            .collect();
        let half_confidence: Vec<f32> = (0..n / 2)
            .flat_map(|y| (0..n / 2).map(move |x| (y, x)))
            .map(|(y, x)| confidence[2 * y * n + 2 * x])
            .collect();
        let coarse = predicted_object_tokens(
            &PredictedViews {
                class_size: n / 2,
                class: &half,
                confidence: &half_confidence,
                ..views
            },
            &px(10),
        );
        assert_eq!(coarse, found);
        // Short arrays: nothing, no panic.
        let short = PredictedViews {
            depth_m: &depth[..10],
            ..views
        };
        assert!(predicted_object_tokens(&short, &px(1)).is_empty());
    }

    #[test]
    fn predictions_take_the_ids_of_the_annotated_objects_they_cover() {
        let tok = |id, category, c: [f32; 3]| ObjectToken {
            id,
            category,
            min_m: [c[0] - 0.3, c[1] - 0.3, c[2] - 0.3],
            max_m: [c[0] + 0.3, c[1] + 0.3, c[2] + 0.3],
            pixels: 100,
            score: 1.0,
        };
        let annotated = vec![
            tok(7, 1, [0.0, 0.0, 0.0]),
            tok(9, 1, [3.0, 0.0, 0.0]),
            tok(4, 2, [0.0, 2.0, 0.0]),
        ];
        let mut predicted = vec![
            tok(0, 1, [3.1, 0.0, 0.0]),  // overlaps 9
            tok(1, 1, [0.05, 0.0, 0.0]), // overlaps 7
            tok(2, 2, [0.0, 2.0, 1.0]),  // right class, 1 m away: too far
            tok(3, 3, [0.0, 0.0, 0.0]),  // a class nobody annotated
        ];
        assert_eq!(match_to_annotated(&mut predicted, &annotated), 2);
        let ids: Vec<u32> = predicted.iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![9, 7, UNMATCHED_ID_BASE, UNMATCHED_ID_BASE + 1]);
    }

    #[test]
    fn semantic_targets_take_the_category_of_each_cells_centre_pixel() {
        let n = 4;
        // Instance 5 (a chair) on the left half, 6 (no category) top right, none bottom right.
        let mut instance = vec![-1i32; n * n];
        for y in 0..n {
            for x in 0..n {
                instance[y * n + x] = match (x < 2, y < 2) {
                    (true, _) => 5,
                    (false, true) => 6,
                    _ => -1,
                };
            }
        }
        let chair = Category::ALL
            .iter()
            .position(|c| c.name() == "chair")
            .unwrap();
        let depth = vec![1.0; n * n];
        let (k, e) = camera();
        let views = crate::data::ObjectViews {
            size: n,
            views: 1,
            depth: &depth,
            instance: &instance,
            intrinsics: &k,
            extrinsics: &e,
            object_id: &[5, 6],
            object_category: &[chair as i64, 10_000],
        };
        let c = chair as u8 + 1;
        assert_eq!(semantic_targets(&views, 2), vec![c, 0, c, 0]);
        assert_eq!(semantic_targets(&views, 4)[..4], [c, c, 0, 0]);
        // Short arrays: all background.
        let short = crate::data::ObjectViews {
            instance: &instance[..3],
            ..views
        };
        assert_eq!(semantic_targets(&short, 2), vec![0; 4]);
    }
}
