//! What to do about the objects a question names that the student did not find, measured with
//! its decoder unchanged: each seen-wording proximity / contact test question is answered from
//! the student's own objects and from each variant of them —
//! - looking again for a named category it found nothing of (`PredictedMaps::search`: the
//!   largest group of cells at least p sure of it, at least 40 or 20 pixels), as
//!   `ModelConfig::look_again` does;
//! - the same also for named categories it holds (the largest group apart from its tokens);
//! - dropping its objects under a score;
//! - keeping only the largest object of each category a question names without a relation.
//!
//! It also counts the named objects without a token by whether the student holds another
//! object of their category. `cargo run --release --no-default-features --example
//! named_search -- MODEL_DIR DATASET [N] [SPLIT]`.

use std::collections::BTreeMap;

use spatia::data::{ObjectToken, Split, UNMATCHED_ID_BASE, match_to_annotated};
use spatia::model::ViewBatch;
use spatia::model::vlm::PredictedMaps;
use spatia::questions::QuestionCategory;
use spatia::questions::names::{category_named, named_categories};
use spatia::scene::Category;

mod common;

/// One way of changing the student's objects for a question.
#[derive(Debug, Clone, Copy)]
enum Arm {
    /// Look again for named categories it has no object of (`also_held`: for every named one).
    LookAgain {
        min_probability: f32,
        min_px: u32,
        also_held: bool,
    },
    /// Drop objects scored under this.
    MinScore(f32),
    /// Keep the largest object of each category named without a relation.
    LargestNamed,
}

impl Arm {
    fn name(self) -> String {
        match self {
            Arm::LookAgain {
                min_probability,
                min_px,
                also_held,
            } => format!(
                "look again p >= {min_probability}, >= {min_px} px{}",
                if also_held {
                    ", held categories too"
                } else {
                    ""
                }
            ),
            Arm::MinScore(s) => format!("drop objects scored < {s}"),
            Arm::LargestNamed => "largest object of each named category".into(),
        }
    }
}

fn arms() -> Vec<Arm> {
    let mut arms = Vec::new();
    for min_px in [40, 20] {
        for min_probability in [0.05, 0.1, 0.2, 0.3] {
            arms.push(Arm::LookAgain {
                min_probability,
                min_px,
                also_held: false,
            });
        }
    }
    for min_probability in [0.05, 0.1, 0.2, 0.3] {
        arms.push(Arm::LookAgain {
            min_probability,
            min_px: 20,
            also_held: true,
        });
    }
    arms.extend([0.5, 0.6, 0.7].map(Arm::MinScore));
    arms.push(Arm::LargestNamed);
    arms
}

/// Whether two boxes overlap or their centres are within half a metre.
fn near(a: &ObjectToken, b: &ObjectToken) -> bool {
    let overlap = (0..3).all(|k| a.min_m[k] < b.max_m[k] && b.min_m[k] < a.max_m[k]);
    overlap || a.center_m().distance(b.center_m()) <= 0.5
}

/// The student's objects `own` changed by `arm` for question `q`.
fn objects_for(
    arm: Arm,
    own: &[ObjectToken],
    q: &spatia::questions::Question,
    maps: &PredictedMaps,
    views: &ViewBatch,
    annotated: &[ObjectToken],
) -> Vec<ObjectToken> {
    let named: Vec<usize> = named_categories(&q.question)
        .into_iter()
        .filter_map(category_named)
        .map(Category::index)
        .collect();
    let mut objects = own.to_vec();
    match arm {
        Arm::LookAgain {
            min_probability,
            min_px,
            also_held,
        } => {
            let mut extra = Vec::new();
            for &c in &named {
                let held: Vec<&ObjectToken> = own.iter().filter(|o| o.category == c).collect();
                if !held.is_empty() && !also_held {
                    continue;
                }
                let groups = maps.search(views, c, min_probability, Some(min_px));
                extra.extend(
                    groups
                        .into_iter()
                        .find(|g| held.iter().all(|o| !near(o, g))),
                );
            }
            match_to_annotated(&mut extra, annotated);
            let mut next = UNMATCHED_ID_BASE + 100_000;
            for o in &mut extra {
                if o.id >= UNMATCHED_ID_BASE || own.iter().any(|x| x.id == o.id) {
                    o.id = next;
                    next += 1;
                }
            }
            objects.extend(extra);
        }
        Arm::MinScore(s) => objects.retain(|o| o.score >= s),
        Arm::LargestNamed => {
            if q.anchors.iter().all(Option::is_none) {
                for &c in &named {
                    let best = objects
                        .iter()
                        .filter(|o| o.category == c)
                        .max_by_key(|o| o.pixels)
                        .map(|o| o.id);
                    objects.retain(|o| o.category != c || Some(o.id) == best);
                }
            }
        }
    }
    if objects.is_empty() {
        own.to_vec()
    } else {
        objects
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut loaded, dataset, n, split) = common::model_data_rooms_split(
        "usage: named_search MODEL_DIR DATASET [N] [train|val|test]",
        30,
        Split::Test,
    )?;
    // Every variant is made here; the model's own looking again would stack on each.
    loaded.model.cfg.look_again = None;
    let m = &loaded.model;
    let arms = arms();
    // [0: the student's own objects, 1..: arms][proximity, contact] -> (right, asked)
    let mut score = vec![[(0usize, 0usize); 2]; arms.len() + 1];
    // Named objects without a token, by category and whether another of it is held.
    let mut missed: BTreeMap<(String, bool), usize> = BTreeMap::new();
    for key in dataset.scenes(split).iter().take(n) {
        let (shard, questions) = dataset.load(split, key)?;
        let views = ViewBatch::from_shard(&shard);
        let mut tokens = loaded.encode(&views)?;
        let maps = m.predicted_maps(&tokens.encoder)?;
        let annotated = views.object_tokens();
        let own = tokens.objects.clone();
        for q in questions.iter().filter(|q| !q.held_out) {
            let c = match q.category {
                QuestionCategory::Proximity => 0,
                QuestionCategory::Contact => 1,
                _ => continue,
            };
            if c == 0 {
                for id in q
                    .objects
                    .iter()
                    .filter(|id| own.iter().all(|o| o.id != **id))
                {
                    if let Some(a) = annotated.iter().find(|o| o.id == *id) {
                        let held = own.iter().any(|o| o.category == a.category);
                        *missed
                            .entry((Category::ALL[a.category].name().to_string(), held))
                            .or_default() += 1;
                    }
                }
            }
            for (a, objects) in std::iter::once(own.clone())
                .chain(
                    arms.iter()
                        .map(|arm| objects_for(*arm, &own, q, &maps, &views, &annotated)),
                )
                .enumerate()
            {
                tokens.embeds = m.object_embeds(&[objects.as_slice()], None)?;
                tokens.objects = objects;
                let answer = loaded.answer(&tokens, &q.question, false)?;
                score[a][c].0 +=
                    usize::from(answer.text.trim().eq_ignore_ascii_case(q.answer.trim()));
                score[a][c].1 += 1;
            }
        }
    }
    let pct = |(r, n): (usize, usize)| 100.0 * r as f64 / n.max(1) as f64;
    println!("{n} {} rooms, seen wordings", split.name());
    for (a, name) in std::iter::once("the student's own objects".to_string())
        .chain(arms.iter().map(|arm| arm.name()))
        .enumerate()
    {
        println!(
            "{name:48} proximity {:.1}% (n {}), contact {:.1}% (n {})",
            pct(score[a][0]),
            score[a][0].1,
            pct(score[a][1]),
            score[a][1].1
        );
    }
    let mut by_count: Vec<_> = missed.into_iter().collect();
    by_count.sort_by_key(|e| std::cmp::Reverse(e.1));
    println!("named objects of proximity questions without a token (category, another held):");
    for ((category, held), count) in by_count.iter().take(12) {
        println!(
            "  {category:16} {:12} {count}",
            if *held { "held" } else { "none held" }
        );
    }
    Ok(())
}
