//! Where a student's own objects fall short: for the first N validation rooms (or the first N of
//! another split), stage 1's measures, then per category how many annotated objects the found
//! ones match, how many of the objects proximity / contact questions name are matched, and how
//! far the matched boxes' centres are from the annotated ones. `cargo run --release
//! --no-default-features --example perception_report -- MODEL_DIR DATASET [N] [SPLIT]`.

use std::collections::BTreeMap;

use spatia::data::{Dataset, ObjectViews, Split, match_to_annotated, object_tokens};
use spatia::model::{DeviceChoice, ViewBatch, load_model, select_device};
use spatia::questions::{QuestionCategory, min_visible_px};
use spatia::scene::Category;
use spatia::train::stage1::{PerceptionReport, perception_metrics};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: perception_report MODEL_DIR DATASET [N] [train|val|test]";
    let model_dir = args.next().ok_or(usage)?;
    let data = args.next().ok_or(usage)?;
    let n: usize = args.next().map_or(Ok(40), |s| s.parse())?;
    let split = match args.next().as_deref() {
        None => Split::Val,
        Some(name) => Split::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or(usage)?,
    };
    let loaded = load_model(
        std::path::Path::new(&model_dir),
        &select_device(DeviceChoice::Cpu)?,
    )?;
    let m = &loaded.model;
    let dataset = Dataset::open(std::path::Path::new(&data))?;
    let mut total = PerceptionReport::default();
    // category -> (annotated, matched, Σ centre error of matched)
    let mut per: BTreeMap<usize, (usize, usize, f32)> = BTreeMap::new();
    let (mut named, mut named_found) = (0usize, 0usize);
    for key in dataset.scenes(split).iter().take(n) {
        let (shard, questions) = dataset.load(split, key)?;
        total.add(&perception_metrics(m, &shard)?);
        let views = ViewBatch::from_shard(&shard);
        let (images, _) = m.view_tensors(&views)?;
        let enc = m.encode_tensors(&images, None)?;
        let mut found = m.predicted_maps(&enc)?.objects(&views);
        let annotated = object_tokens(
            &ObjectViews::of_shard(&shard),
            min_visible_px(shard.size) as u32,
        );
        match_to_annotated(&mut found, &annotated);
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
