//! Object tokens from views: every annotated object a view shows (at least `min_px` pixels of
//! its instance mask in some view), with its category and the 3D box of its visible surface —
//! the pixels of its mask back-projected with depth through the cameras into the world frame.
//! This is what the privileged teacher reads (RGB-D + poses + instances), and, from ground-truth
//! depth and masks, the oracle of docs/MODELS.md.

use glam::Vec3;

use crate::scene::Category;

/// One object as the views show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ObjectToken {
    /// The object id in the scene (and in the instance masks).
    pub id: u32,
    /// Its category (index into [`Category::ALL`]).
    pub category: usize,
    /// Lowest corner of the visible surface's box, world frame, metres.
    pub min_m: [f32; 3],
    /// Highest corner.
    pub max_m: [f32; 3],
    /// Pixels of its mask with depth, over all views.
    pub pixels: u32,
    /// How sure the model that found it is: the mean probability of its category over its
    /// pixels; 1 for an annotated object.
    #[serde(default = "full_score")]
    pub score: f32,
}

fn full_score() -> f32 {
    1.0
}

impl ObjectToken {
    /// Centre of the box.
    pub fn center_m(&self) -> Vec3 {
        (Vec3::from(self.min_m) + Vec3::from(self.max_m)) / 2.0
    }

    /// Gap between two boxes (0 when they overlap), metres: a lower bound of the surface
    /// distance.
    pub fn box_gap_m(&self, other: &ObjectToken) -> f32 {
        let (a0, a1) = (Vec3::from(self.min_m), Vec3::from(self.max_m));
        let (b0, b1) = (Vec3::from(other.min_m), Vec3::from(other.max_m));
        (b0 - a1).max(a0 - b1).max(Vec3::ZERO).length()
    }
}

/// What object tokens are computed from: views with depth and instance masks (the arrays of a
/// `SceneShard` or a `ViewBatch`), and each object's category.
#[derive(Debug, Clone, Copy)]
pub struct ObjectViews<'a> {
    /// Image side, pixels.
    pub size: usize,
    /// Number of views.
    pub views: usize,
    /// Depth [V, H, W], metres, 0 = none.
    pub depth: &'a [f32],
    /// Instance ids [V, H, W], -1 = none.
    pub instance: &'a [i32],
    /// Intrinsics [V, 3, 3].
    pub intrinsics: &'a [f32],
    /// Camera-from-world [V, 3, 4].
    pub extrinsics: &'a [f32],
    /// Object ids and their categories (index into [`Category::ALL`]).
    pub object_id: &'a [i64],
    /// Categories, parallel to `object_id`.
    pub object_category: &'a [i64],
}

/// Most object tokens per scene (largest visible surfaces first).
pub const MAX_OBJECT_TOKENS: usize = 64;

/// The object tokens of `views`: objects with at least `min_px` mask pixels in some view and a
/// known category, structure (wall, floor, ceiling) included, at most [`MAX_OBJECT_TOKENS`],
/// ordered by object id. Arrays shorter than their shapes give no token rather than a panic.
pub fn object_tokens(views: &ObjectViews<'_>, min_px: u32) -> Vec<ObjectToken> {
    let n = views.size * views.size;
    let total = views.views * n;
    if views.depth.len() < total
        || views.instance.len() < total
        || views.intrinsics.len() < views.views * 9
        || views.extrinsics.len() < views.views * 12
    {
        return Vec::new();
    }
    let category_of = |id: i32| -> Option<usize> {
        let i = views.object_id.iter().position(|o| *o == i64::from(id))?;
        let c = usize::try_from(*views.object_category.get(i)?).ok()?;
        (c < Category::ALL.len()).then_some(c)
    };
    // Per object: pixels per view, box, pixels with depth.
    struct Acc {
        per_view: Vec<u32>,
        lo: Vec3,
        hi: Vec3,
        with_depth: u32,
    }
    let mut acc: std::collections::BTreeMap<i32, Acc> = std::collections::BTreeMap::new();
    for v in 0..views.views {
        let e = &views.extrinsics[v * 12..v * 12 + 12];
        let world_from_camera = crate::data::shard::mat4_from_extrinsics(e).inverse();
        let k = &views.intrinsics[v * 9..v * 9 + 9];
        let (fx, fy, cx, cy) = (k[0], k[4], k[2], k[5]);
        if !(fx.is_finite() && fy.is_finite() && fx != 0.0 && fy != 0.0) {
            continue;
        }
        for p in 0..n {
            let id = views.instance[v * n + p];
            if id < 0 {
                continue;
            }
            let a = acc.entry(id).or_insert_with(|| Acc {
                per_view: vec![0; views.views],
                lo: Vec3::splat(f32::INFINITY),
                hi: Vec3::splat(f32::NEG_INFINITY),
                with_depth: 0,
            });
            a.per_view[v] += 1;
            let d = views.depth[v * n + p];
            if d > 0.0 && d.is_finite() {
                let (x, y) = ((p % views.size) as f32, (p / views.size) as f32);
                let p_cam = Vec3::new((x - cx) / fx * d, (y - cy) / fy * d, d);
                let w = world_from_camera.transform_point3(p_cam);
                a.lo = a.lo.min(w);
                a.hi = a.hi.max(w);
                a.with_depth += 1;
            }
        }
    }
    let mut out: Vec<ObjectToken> = acc
        .into_iter()
        .filter(|(_, a)| a.with_depth > 0 && a.per_view.iter().any(|c| *c >= min_px))
        .filter_map(|(id, a)| {
            Some(ObjectToken {
                id: u32::try_from(id).ok()?,
                category: category_of(id)?,
                min_m: a.lo.to_array(),
                max_m: a.hi.to_array(),
                pixels: a.with_depth,
                score: 1.0,
            })
        })
        .collect();
    if out.len() > MAX_OBJECT_TOKENS {
        out.sort_by(|a, b| b.pixels.cmp(&a.pixels).then(a.id.cmp(&b.id)));
        out.truncate(MAX_OBJECT_TOKENS);
        out.sort_by_key(|o| o.id);
    }
    out
}

impl<'a> ObjectViews<'a> {
    /// The arrays of a dataset shard.
    pub fn of_shard(shard: &'a super::SceneShard) -> ObjectViews<'a> {
        ObjectViews {
            size: shard.size as usize,
            views: shard.views,
            depth: &shard.depth,
            instance: &shard.instance,
            intrinsics: &shard.intrinsics,
            extrinsics: &shard.extrinsics,
            object_id: &shard.object_id,
            object_category: &shard.object_category,
        }
    }
}
