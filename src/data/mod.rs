//! Training data: per-scene shards (views, depth, instance masks, cameras, 3D boxes) in
//! safetensors and question sets in JSONL, split into train / val / test by scene. Built by
//! `spatia gen-data`; the layout is documented in docs/DATA.md.

pub mod build;
pub mod dataset;
pub mod objects;
pub mod predicted_objects;
pub mod preview;
pub mod shard;

use crate::scene::Category;
use crate::scene::category::SCANNET18_CLASSES;

pub use build::{BuildOptions, BuildReport, build, list_scenes};
pub use dataset::Dataset;
pub use objects::{ObjectToken, ObjectViews, object_tokens};
pub use predicted_objects::{
    GROUP_VOXEL_M, Grouping, PredictedViews, UNMATCHED_ID_BASE, match_to_annotated,
    predicted_object_tokens,
};
pub use shard::SceneShard;

/// Detection classes after the 18 of the ScanNet benchmark (`scene::category::SCANNET18_CLASSES`,
/// indices 0..18): the small objects Spatia's scenes hold. The detection head adds one
/// "no object" class after all of them.
pub const SMALL_OBJECT_CLASSES: [&str; 8] = [
    "lamp", "pillow", "monitor", "laptop", "cup", "plant", "bottle", "bowl",
];

/// Number of detection classes (without "no object").
pub const NUM_DETECTION_CLASSES: usize = SCANNET18_CLASSES.len() + SMALL_OBJECT_CLASSES.len();

/// The name of detection class `index` (ScanNet spelling for the first 18).
pub fn detection_class_name(index: usize) -> Option<&'static str> {
    SCANNET18_CLASSES
        .get(index)
        .or_else(|| SMALL_OBJECT_CLASSES.get(index.checked_sub(SCANNET18_CLASSES.len())?))
        .copied()
}

/// The detection class of `category`, if it has one.
pub fn detection_class(category: Category) -> Option<usize> {
    if let Some(i) = category.scannet18_index() {
        return Some(i);
    }
    let name = category.name();
    SMALL_OBJECT_CLASSES
        .iter()
        .position(|c| *c == name)
        .map(|i| i + SCANNET18_CLASSES.len())
}

/// A dataset split.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training scenes.
    Train,
    /// Validation scenes.
    Val,
    /// Held-out test scenes.
    Test,
}

impl Split {
    /// All splits.
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    /// Folder name.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

pub use crate::scene::stable_hash;

/// Splits scenes by name, never by question: ranked by a stable hash of the name (mixed with
/// `seed`), the first tenth (at least one) is test, the next tenth val, the rest train. Fewer
/// than three scenes all go to train.
pub fn assign_splits(names: &[String], seed: u64) -> Vec<Split> {
    let n = names.len();
    if n < 3 {
        return vec![Split::Train; n];
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| {
        (
            stable_hash(&names[i]) ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            i,
        )
    });
    let tenth = n.div_ceil(10);
    let mut out = vec![Split::Train; n];
    for (rank, &i) in order.iter().enumerate() {
        out[i] = if rank < tenth {
            Split::Test
        } else if rank < 2 * tenth {
            Split::Val
        } else {
            Split::Train
        };
    }
    out
}

/// Axis-aligned 3D IoU of two boxes given as centre + size.
pub fn iou_3d_plain(a: &[f32; 6], b: &[f32; 6]) -> f32 {
    let mut inter = 1.0;
    for k in 0..3 {
        let lo = (a[k] - a[k + 3] / 2.0).max(b[k] - b[k + 3] / 2.0);
        let hi = (a[k] + a[k + 3] / 2.0).min(b[k] + b[k + 3] / 2.0);
        inter *= (hi - lo).max(0.0);
    }
    let va = a[3] * a[4] * a[5];
    let vb = b[3] * b[4] * b[5];
    let union = va + vb - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

#[cfg(test)]
mod tests;
