//! How much of proximity / contact the object tokens' visible-surface boxes determine: the answer
//! computed by rule (box gap against a threshold) from the named objects' tokens, on the test
//! split. `cargo run --release --no-default-features --example token_ceiling -- DATASET`.

use spatia::data::{Dataset, ObjectViews, Split, object_tokens};
use spatia::questions::{QuestionCategory, min_visible_px};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: token_ceiling DATASET")?;
    let dataset = Dataset::open(std::path::Path::new(&dir))?;
    // (template kind, box gap, true distance, fact bool, answer yes)
    let mut rows: Vec<(String, f32, f32, bool, bool)> = Vec::new();
    let mut missing = 0usize;
    for key in dataset.scenes(Split::Test).to_vec() {
        let (shard, questions) = dataset.load(Split::Test, &key)?;
        let tokens = object_tokens(
            &ObjectViews::of_shard(&shard),
            min_visible_px(shard.size) as u32,
        );
        for q in questions.iter().filter(|q| !q.held_out) {
            if !matches!(
                q.category,
                QuestionCategory::Proximity | QuestionCategory::Contact
            ) {
                continue;
            }
            let find = |k: usize| {
                q.objects
                    .get(k)
                    .and_then(|id| tokens.iter().find(|t| t.id == *id))
            };
            let (Some(a), Some(b)) = (find(0), find(1)) else {
                missing += 1;
                continue;
            };
            let fact = q.fact.clone().unwrap_or_default();
            let t = q.template.clone().unwrap_or_default();
            let kind = t.split('.').next().unwrap_or("").to_string();
            let f = match kind.as_str() {
                "near" | "far" => fact.near == Some(true),
                "on" => fact.on == Some(true),
                _ => fact.contact == Some(true),
            };
            rows.push((
                kind,
                a.box_gap_m(b),
                fact.distance_m.unwrap_or(f32::NAN),
                f,
                q.answer == "yes",
            ));
        }
    }
    println!(
        "questions with both tokens: {}, missing a token: {missing}",
        rows.len()
    );
    for group in [&["near", "far"][..], &["touch", "gap"][..], &["on"][..]] {
        let sel: Vec<_> = rows
            .iter()
            .filter(|r| group.contains(&r.0.as_str()))
            .collect();
        let mut best = (0.0, 0usize);
        for i in 0..200 {
            let t = i as f32 * 0.01;
            let ok = sel.iter().filter(|r| (r.1 <= t) == r.3).count();
            if ok > best.1 {
                best = (t, ok);
            }
        }
        let under = sel.iter().filter(|r| r.1 > r.2 + 0.02).count();
        println!(
            "{group:?}: {} questions, best gap threshold {:.2} m -> {:.1}% of facts; box gap > distance + 2 cm on {}",
            sel.len(),
            best.0,
            100.0 * best.1 as f32 / sel.len().max(1) as f32,
            under
        );
    }
    Ok(())
}
