//! A text-only baseline: how well the words of a yes/no question predict its answer with no
//! scene at all. A logistic regression per category over hashed features of the normalised
//! question — words, word bigrams, every pair of words (so "cup" with "on" with "table" order
//! effects and class-pair × polarity interactions are visible to it) and the whole text — trained
//! on one split and scored on another. A question set whose answers come from the scene keeps
//! this near 50%.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::Question;
use crate::scene::stable_hash;

/// Hashed feature space size (a power of two).
const BUCKETS: usize = 1 << 20;
/// Passes over the training questions.
const EPOCHS: usize = 8;
/// SGD step.
const LEARNING_RATE: f32 = 0.2;

/// A text-only score on one category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TextOnlyScore {
    /// Share of test questions answered right from the words alone.
    pub accuracy: f32,
    /// Test questions.
    pub n: usize,
    /// Training questions.
    pub trained_on: usize,
}

/// Lower-case words without punctuation.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The hashed features of a question text.
pub fn features(text: &str) -> Vec<usize> {
    let w = words(text);
    let mut f = Vec::with_capacity(w.len() * w.len() + 2);
    let bucket = |s: String| (stable_hash(&s) as usize) & (BUCKETS - 1);
    f.push(bucket(format!("all:{}", w.join(" "))));
    for (i, a) in w.iter().enumerate() {
        f.push(bucket(format!("w:{a}")));
        if let Some(b) = w.get(i + 1) {
            f.push(bucket(format!("b:{a} {b}")));
        }
        for b in &w[i + 1..] {
            f.push(bucket(format!("p:{a}|{b}")));
        }
    }
    f.sort_unstable();
    f.dedup();
    f
}

/// A trained logistic regression over [`features`].
pub struct TextOnlyModel {
    weights: Vec<f32>,
    bias: f32,
}

impl TextOnlyModel {
    /// Trains on `questions` (yes/no ones; others are ignored). Deterministic.
    pub fn train(questions: &[&Question]) -> TextOnlyModel {
        let data: Vec<(Vec<usize>, f32)> = questions
            .iter()
            .filter(|q| q.is_yes_no())
            .map(|q| {
                (
                    features(&q.question),
                    f32::from(u8::from(q.answer == "yes")),
                )
            })
            .collect();
        let mut model = TextOnlyModel {
            weights: vec![0.0; BUCKETS],
            bias: 0.0,
        };
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..EPOCHS {
            order.shuffle(&mut rng);
            for &i in &order {
                let (f, y) = &data[i];
                let g = model.p_yes_of(f) - y;
                let step = LEARNING_RATE * g / (f.len() as f32).sqrt();
                for &k in f {
                    model.weights[k] -= step;
                }
                model.bias -= LEARNING_RATE * g * 0.1;
            }
        }
        model
    }

    fn p_yes_of(&self, f: &[usize]) -> f32 {
        let z = self.bias + f.iter().map(|&k| self.weights[k]).sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }

    /// The probability of "yes" from the words of `text`.
    pub fn p_yes(&self, text: &str) -> f32 {
        self.p_yes_of(&features(text))
    }
}

/// Per yes/no category: a text-only model trained on `train`'s questions of that category and
/// scored on `test`'s (seen wordings only: held-out ones are not about priors of the set).
pub fn text_only_scores(train: &[Question], test: &[Question]) -> BTreeMap<String, TextOnlyScore> {
    let mut out = BTreeMap::new();
    let categories: std::collections::BTreeSet<_> = test
        .iter()
        .filter(|q| q.is_yes_no() && !q.held_out)
        .map(|q| q.category)
        .collect();
    for c in categories {
        let tr: Vec<&Question> = train
            .iter()
            .filter(|q| q.category == c && q.is_yes_no())
            .collect();
        let te: Vec<&Question> = test
            .iter()
            .filter(|q| q.category == c && q.is_yes_no() && !q.held_out)
            .collect();
        if tr.is_empty() || te.is_empty() {
            continue;
        }
        let model = TextOnlyModel::train(&tr);
        let right = te
            .iter()
            .filter(|q| (model.p_yes(&q.question) >= 0.5) == (q.answer == "yes"))
            .count();
        out.insert(
            c.name().to_string(),
            TextOnlyScore {
                accuracy: right as f32 / te.len() as f32,
                n: te.len(),
                trained_on: tr.len(),
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questions::QuestionCategory;

    fn q(text: String, answer: bool) -> Question {
        Question {
            scene: "s".into(),
            question: text,
            answer: if answer { "yes" } else { "no" }.into(),
            category: QuestionCategory::Proximity,
            template: None,
            held_out: false,
            objects: Vec::new(),
            classes: Vec::new(),
            views: Vec::new(),
            fact: None,
            anchors: Vec::new(),
            answer_object: None,
        }
    }

    const THINGS: [&str; 8] = [
        "cup", "table", "sofa", "lamp", "bed", "chair", "desk", "shelf",
    ];

    /// Questions about pairs of things, 4 per pair and wording; `answer(i, j, k, far)` decides.
    fn set(answer: impl Fn(usize, usize, usize, bool) -> bool, salt: usize) -> Vec<Question> {
        let mut out = Vec::new();
        for (i, a) in THINGS.iter().enumerate() {
            for (j, b) in THINGS.iter().enumerate() {
                if i == j {
                    continue;
                }
                for far in [false, true] {
                    let w = if far { "far from" } else { "near" };
                    for k in 0..4 {
                        let text = format!("Is the {a} {w} the {b} {}?", k + salt);
                        out.push(q(text, answer(i, j, k, far)));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn a_wording_prior_is_found_and_a_balanced_set_stays_at_chance() {
        // Biased: "far" wordings are yes, "near" no, whatever the objects.
        let biased = |_: usize, _: usize, _: usize, far: bool| far;
        let scores = text_only_scores(&set(biased, 0), &set(biased, 100));
        assert!(scores["proximity"].accuracy > 0.9, "{scores:?}");
        // Balanced: whether the pair is near is a hidden fact (half of each pair's questions),
        // and the answer is that fact read through the wording.
        let hidden = |i: usize, j: usize, k: usize, far: bool| (i + j + k).is_multiple_of(2) ^ far;
        let scores = text_only_scores(&set(hidden, 0), &set(hidden, 100));
        let a = scores["proximity"].accuracy;
        assert!((0.35..0.65).contains(&a), "{scores:?}");
        assert_eq!(scores["proximity"].n, 8 * 7 * 2 * 4);
    }
}
