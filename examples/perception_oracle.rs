//! How much of an object student's proximity / contact accuracy its perception costs, split into
//! depth and categories: the same trained decoder answers each seen-wording test question from
//! (a) the objects the student finds (its own depth and categories, as the app runs it), (b) the
//! objects grouped from its own categories with the true depth, and (c) the annotated objects
//! (true categories and depth, what the teacher reads). `cargo run --release
//! --no-default-features --example perception_oracle -- MODEL_DIR DATASET [N] [SPLIT]`.

use spatia::data::{ObjectToken, Split, match_to_annotated};
use spatia::model::ViewBatch;
use spatia::model::vlm::PredictedMaps;
use spatia::questions::QuestionCategory;

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (loaded, dataset, n, split) = common::model_data_rooms_split(
        "usage: perception_oracle MODEL_DIR DATASET [N] [train|val|test]",
        30,
        Split::Test,
    )?;
    let m = &loaded.model;
    let sources = [
        "found (own depth)",
        "own categories, true depth",
        "annotated objects",
    ];
    // [source][category: proximity, contact] -> (right, asked)
    let mut score = [[(0usize, 0usize); 2]; 3];
    for key in dataset.scenes(split).iter().take(n) {
        let (shard, questions) = dataset.load(split, key)?;
        let views = ViewBatch::from_shard(&shard);
        let mut tokens = loaded.encode(&views)?;
        let maps = m.predicted_maps(&tokens.encoder)?;
        let annotated = views.object_tokens();
        let mut true_depth = PredictedMaps {
            depth_m: shard.depth.clone(),
            ..maps.clone()
        }
        .objects(&views);
        match_to_annotated(&mut true_depth, &annotated);
        let object_sets: [Vec<ObjectToken>; 3] = [tokens.objects.clone(), true_depth, annotated];
        for (s, objects) in object_sets.iter().enumerate() {
            if objects.is_empty() {
                continue;
            }
            tokens.embeds = m.object_embeds(&[objects.as_slice()], None)?;
            tokens.objects = objects.clone();
            for q in questions.iter().filter(|q| !q.held_out) {
                let c = match q.category {
                    QuestionCategory::Proximity => 0,
                    QuestionCategory::Contact => 1,
                    _ => continue,
                };
                let a = loaded.answer(&tokens, &q.question, false)?;
                let right = a.text.trim().eq_ignore_ascii_case(q.answer.trim());
                score[s][c].0 += usize::from(right);
                score[s][c].1 += 1;
            }
        }
    }
    println!("{n} {} rooms, seen wordings", split.name());
    println!(
        "{:28} {:>18} {:>18}",
        "objects read", "proximity", "contact"
    );
    for (name, row) in sources.iter().zip(&score) {
        let cell = |(r, a): (usize, usize)| {
            format!("{:.1}% ({r}/{a})", 100.0 * r as f32 / a.max(1) as f32)
        };
        println!("{name:28} {:>18} {:>18}", cell(row[0]), cell(row[1]));
    }
    Ok(())
}
