//! How the grouping of a student's predicted pixels into objects (`data::Grouping`) changes what
//! it finds: for the first N validation rooms (or another split), each grouping of a grid of
//! voxel edges and pixel floors, the annotated objects matched (recall), the found objects that
//! match one (precision), and the objects proximity / contact questions name that are found.
//! Beside the predicted depth, two oracles under the predicted categories: the true depth, and
//! the predicted depth rescaled per object and view to the truth's median (so only the depth's
//! shape within an object is the model's). The maps are predicted once per room. `cargo run --release --no-default-features --example
//! grouping_sweep -- MODEL_DIR DATASET [N] [SPLIT]`.

use spatia::data::{Grouping, ObjectViews, Split, match_to_annotated, object_tokens};
use spatia::model::ViewBatch;
use spatia::questions::{QuestionCategory, min_visible_px};

mod common;

/// Voxel edges (metres) and pixel floors (share of the app's floor) tried.
const VOXELS_M: [f32; 4] = [0.1, 0.15, 0.2, 0.3];
const FLOOR_SHARES: [f32; 3] = [1.0, 0.5, 0.25];

#[derive(Default, Clone, Copy)]
struct Tally {
    annotated: usize,
    matched: usize,
    found: usize,
    named: usize,
    named_found: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (loaded, dataset, n, split) = common::model_data_rooms_split(
        "usage: grouping_sweep MODEL_DIR DATASET [N] [train|val|test]",
        30,
        Split::Val,
    )?;
    let m = &loaded.model;
    let mut grid: Vec<(&str, Grouping, Tally)> = Vec::new();
    for key in dataset.scenes(split).iter().take(n) {
        let (shard, questions) = dataset.load(split, key)?;
        let views = ViewBatch::from_shard(&shard);
        let (images, _) = m.view_tensors(&views)?;
        let enc = m.encode_tensors(&images, None)?;
        let maps = m.predicted_maps(&enc)?;
        let annotated = object_tokens(
            &ObjectViews::of_shard(&shard),
            min_visible_px(shard.size) as u32,
        );
        let named: Vec<u32> = questions
            .iter()
            .filter(|q| {
                !q.held_out
                    && matches!(
                        q.category,
                        QuestionCategory::Proximity | QuestionCategory::Contact
                    )
            })
            .flat_map(|q| q.objects.iter().take(2).copied())
            .filter(|id| annotated.iter().any(|a| a.id == *id))
            .collect();
        let base = Grouping::for_size(views.size);
        let true_depth = spatia::model::vlm::PredictedMaps {
            depth_m: shard.depth.clone(),
            ..maps.clone()
        };
        // Oracle: each instance's predicted depth in each view scaled by the median of true over
        // predicted on its pixels, so only the depth's shape within an object is the model's.
        let px = (shard.size * shard.size) as usize;
        let mut scaled = maps.depth_m.clone();
        for (v, view) in scaled.chunks_mut(px).enumerate() {
            let range = v * px..(v + 1) * px;
            let (truth, instance) = (&shard.depth[range.clone()], &shard.instance[range]);
            let mut ratios: std::collections::HashMap<i32, Vec<f32>> = Default::default();
            for ((t, p), id) in truth.iter().zip(view.iter()).zip(instance) {
                if *t > 0.0 && *p > 0.0 {
                    ratios.entry(*id).or_default().push(t / p);
                }
            }
            let medians: std::collections::HashMap<i32, f32> = ratios
                .into_iter()
                .map(|(k, mut r)| {
                    r.sort_by(f32::total_cmp);
                    (k, r[r.len() / 2])
                })
                .collect();
            for (d, id) in view.iter_mut().zip(instance) {
                *d *= medians.get(id).copied().unwrap_or(1.0);
            }
        }
        let object_scaled = spatia::model::vlm::PredictedMaps {
            depth_m: scaled,
            ..maps.clone()
        };
        let mut i = 0;
        for (source, maps, voxels) in [
            ("predicted", &maps, &VOXELS_M[..]),
            ("true", &true_depth, &VOXELS_M[..2]),
            ("per-object", &object_scaled, &VOXELS_M[..2]),
        ] {
            for &voxel_m in voxels {
                for share in FLOOR_SHARES {
                    let grouping = Grouping {
                        min_px: ((base.min_px as f32 * share).round() as u32).max(1),
                        voxel_m,
                    };
                    let mut found = maps.objects_with(&views, &grouping);
                    let matched = match_to_annotated(&mut found, &annotated);
                    if grid.len() <= i {
                        grid.push((source, grouping, Tally::default()));
                    }
                    let t = &mut grid[i].2;
                    t.annotated += annotated.len();
                    t.matched += matched;
                    t.found += found.len();
                    t.named += named.len();
                    t.named_found += named
                        .iter()
                        .filter(|id| found.iter().any(|f| f.id == **id))
                        .count();
                    i += 1;
                }
            }
        }
    }
    println!(
        "{:>11} {:>8} {:>7} {:>9} {:>10} {:>12}",
        "depth", "voxel m", "min px", "recall", "precision", "named found"
    );
    for (source, g, t) in &grid {
        let pct = |a: usize, b: usize| 100.0 * a as f32 / b.max(1) as f32;
        println!(
            "{:>11} {:>8.2} {:>7} {:>8.1}% {:>9.1}% {:>11.1}%",
            source,
            g.voxel_m,
            g.min_px,
            pct(t.matched, t.annotated),
            pct(t.matched, t.found),
            pct(t.named_found, t.named)
        );
    }
    Ok(())
}
