//! Where a student's own objects fall short: for the first N validation rooms (or the first N of
//! another split), stage 1's measures, then per category how many annotated objects the found
//! ones match, how many of the objects proximity / contact questions name are matched, and how
//! far the matched boxes' centres are from the annotated ones, and how well the found boxes fit:
//! their 3D IoU with the annotated objects' visible parts and with their full boxes (what
//! detection mAP@0.25 scores), grouped once with the predicted depth and once with the true
//! depth under the same predicted categories (so depth's share of the misfit shows). `cargo run --release
//! --no-default-features --example perception_report -- MODEL_DIR DATASET [N] [SPLIT]`.

use std::collections::BTreeMap;

use spatia::data::{ObjectViews, Split, match_to_annotated, object_tokens};
use spatia::model::ViewBatch;
use spatia::questions::{QuestionCategory, min_visible_px};
use spatia::scene::Category;
use spatia::train::stage1::{PerceptionReport, perception_metrics};

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (loaded, dataset, n, split) = common::model_data_rooms_split(
        "usage: perception_report MODEL_DIR DATASET [N] [train|val|test]",
        40,
        Split::Val,
    )?;
    let m = &loaded.model;
    let mut total = PerceptionReport::default();
    // category -> (annotated, matched, Σ centre error of matched)
    let mut per: BTreeMap<usize, (usize, usize, f32)> = BTreeMap::new();
    let (mut named, mut named_found) = (0usize, 0usize);
    // Per depth source (predicted, true): IoUs of matched found boxes with the visible and
    // the full annotated boxes, and the number of annotated objects matched.
    let mut fit: [BoxFit; 3] = Default::default();
    for key in dataset.scenes(split).iter().take(n) {
        let (shard, questions) = dataset.load(split, key)?;
        total.add(&perception_metrics(m, &shard)?);
        let views = ViewBatch::from_shard(&shard);
        let (images, _) = m.view_tensors(&views)?;
        let enc = m.encode_tensors(&images, None)?;
        let maps = m.predicted_maps(&enc)?;
        let mut found = maps.objects(&views);
        let annotated = object_tokens(
            &ObjectViews::of_shard(&shard),
            min_visible_px(shard.size) as u32,
        );
        match_to_annotated(&mut found, &annotated);
        let true_depth = spatia::model::vlm::PredictedMaps {
            depth_m: shard.depth.clone(),
            ..maps.clone()
        };
        let mut found_true = true_depth.objects(&views);
        match_to_annotated(&mut found_true, &annotated);
        // Diagnostic oracle: each view's predicted depth scaled by the median of true over
        // predicted, so only the depth's shape within a view is the model's.
        let px = (shard.size * shard.size) as usize;
        let mut scaled = maps.depth_m.clone();
        for (p, t) in scaled.chunks_mut(px).zip(shard.depth.chunks(px)) {
            let mut ratios: Vec<f32> = p
                .iter()
                .zip(t)
                .filter(|(p, t)| **t > 0.0 && **p > 0.0)
                .map(|(p, t)| t / p)
                .collect();
            ratios.sort_by(f32::total_cmp);
            if let Some(&r) = ratios.get(ratios.len() / 2) {
                p.iter_mut().for_each(|d| *d *= r);
            }
        }
        let scaled_maps = spatia::model::vlm::PredictedMaps {
            depth_m: scaled,
            ..maps.clone()
        };
        let mut found_scaled = scaled_maps.objects(&views);
        match_to_annotated(&mut found_scaled, &annotated);
        for (f, objects) in fit.iter_mut().zip([&found, &found_true, &found_scaled]) {
            f.add(objects, &annotated, &shard);
        }
        for a in &annotated {
            let e = per.entry(a.category).or_default();
            e.0 += 1;
            if let Some(f) = found.iter().find(|f| f.id == a.id) {
                e.1 += 1;
                e.2 += f.center_m().distance(a.center_m());
            }
        }
        for q in questions.iter().filter(|q| {
            !q.held_out
                && matches!(
                    q.category,
                    QuestionCategory::Proximity | QuestionCategory::Contact
                )
        }) {
            for id in q.objects.iter().take(2) {
                if annotated.iter().any(|a| a.id == *id) {
                    named += 1;
                    named_found += usize::from(found.iter().any(|f| f.id == *id));
                }
            }
        }
    }
    println!("{} rooms", total.scenes);
    for (k, v) in total.metrics() {
        println!("  {k:28} {v:.3}");
    }
    println!(
        "  objects named by proximity / contact questions, found: {named_found} / {named} ({:.1}%)",
        100.0 * named_found as f32 / named.max(1) as f32
    );
    println!("\nfound boxes against the annotated objects they match (median IoU, share ≥ 0.25)");
    for (name, f) in ["predicted depth", "true depth", "per-view scaled"]
        .iter()
        .zip(&fit)
    {
        f.print(name);
    }
    println!(
        "\n{:18} {:>9} {:>8} {:>8} {:>12} {:>10}",
        "category", "annotated", "found", "recall", "centre err m", "cell acc"
    );
    let mut rows: Vec<_> = per.into_iter().collect();
    rows.sort_by_key(|(_, (a, _, _))| std::cmp::Reverse(*a));
    for (c, (a, f, err)) in rows {
        let cells = total.per_class.get(&(c + 1)).copied().unwrap_or((0, 0));
        println!(
            "{:18} {:>9} {:>8} {:>7.1}% {:>12.2} {:>9.1}%",
            Category::ALL[c].name(),
            a,
            f,
            100.0 * f as f32 / a.max(1) as f32,
            if f > 0 { err / f as f32 } else { f32::NAN },
            100.0 * cells.1 as f32 / cells.0.max(1) as f32
        );
    }
    Ok(())
}

/// IoUs of matched found boxes.
#[derive(Default)]
struct BoxFit {
    annotated: usize,
    visible: Vec<f32>,
    full: Vec<f32>,
}

impl BoxFit {
    fn add(
        &mut self,
        found: &[spatia::data::ObjectToken],
        annotated: &[spatia::data::ObjectToken],
        shard: &spatia::data::SceneShard,
    ) {
        let plain = |lo: [f32; 3], hi: [f32; 3]| {
            [
                (lo[0] + hi[0]) / 2.0,
                (lo[1] + hi[1]) / 2.0,
                (lo[2] + hi[2]) / 2.0,
                hi[0] - lo[0],
                hi[1] - lo[1],
                hi[2] - lo[2],
            ]
        };
        self.annotated += annotated.len();
        for a in annotated {
            let Some(f) = found.iter().find(|f| f.id == a.id) else {
                continue;
            };
            let fb = plain(f.min_m, f.max_m);
            self.visible
                .push(spatia::data::iou_3d_plain(&fb, &plain(a.min_m, a.max_m)));
            if let Some(i) = shard.box_object.iter().position(|&o| o == i64::from(a.id)) {
                let b = &shard.boxes[i * 6..i * 6 + 6];
                let gt = [b[0], b[1], b[2], b[3], b[4], b[5]];
                self.full.push(spatia::data::iou_3d_plain(&fb, &gt));
            }
        }
    }

    fn print(&self, name: &str) {
        let summary = |v: &[f32]| {
            let mut v = v.to_vec();
            v.sort_by(f32::total_cmp);
            let median = v.get(v.len() / 2).copied().unwrap_or(f32::NAN);
            let share = v.iter().filter(|&&x| x >= 0.25).count() as f32 / v.len().max(1) as f32;
            format!("{median:.2}, {:.1}%", 100.0 * share)
        };
        println!(
            "  {name:16} matched {} / {} ({:.1}%); visible part {}; full box {}",
            self.visible.len(),
            self.annotated,
            100.0 * self.visible.len() as f32 / self.annotated.max(1) as f32,
            summary(&self.visible),
            summary(&self.full)
        );
    }
}
