//! Question/answer pairs about a scene, generated from the relation engine ([`crate::spatial`]),
//! their scoring, JSONL files and the import of SQA3D and ScanQA (see docs/SPATIAL.md).
//!
//! Categories: proximity, contact, closest, direction, distance, counting, size, description.
//! Questions name objects by category with synonyms ("couch" / "sofa"); an object whose
//! category appears more than once is named with a distinguishing relation ("the chair on the
//! rug", "the cup closest to the laptop") or not asked about. Answers are normalised: `yes` /
//! `no`, a canonical object name, a direction word, a number, or metres (`1.3 m`).

pub mod balance;
pub mod form;
mod generate;
pub mod import;
pub mod jsonl;
pub mod names;
pub mod reword;
pub mod score;
pub mod templates;
pub mod text_only;

use serde::{Deserialize, Serialize};

pub use generate::{GenerateOptions, describe_object, generate, generate_visible};

use std::collections::BTreeMap;

/// What a question is about; evaluation reports each separately.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum QuestionCategory {
    /// Near / far (yes-no).
    Proximity,
    /// Touching, resting on (yes-no).
    Contact,
    /// Closest / farthest object, which of two is closer (object name).
    Closest,
    /// Left / right, in front / behind, above / below.
    Direction,
    /// Metric distance between surfaces (metres).
    Distance,
    /// How many objects of a category (a number).
    Counting,
    /// Bigger / wider (object name), taller (yes-no).
    Size,
    /// "Describe where the X is": a sentence with its support and nearest objects.
    Description,
}

impl QuestionCategory {
    /// Every category, in report order.
    pub const ALL: [QuestionCategory; 8] = [
        QuestionCategory::Proximity,
        QuestionCategory::Contact,
        QuestionCategory::Closest,
        QuestionCategory::Direction,
        QuestionCategory::Distance,
        QuestionCategory::Counting,
        QuestionCategory::Size,
        QuestionCategory::Description,
    ];

    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            QuestionCategory::Proximity => "proximity",
            QuestionCategory::Contact => "contact",
            QuestionCategory::Closest => "closest",
            QuestionCategory::Direction => "direction",
            QuestionCategory::Distance => "distance",
            QuestionCategory::Counting => "counting",
            QuestionCategory::Size => "size",
            QuestionCategory::Description => "description",
        }
    }

    /// Looks a JSON name up.
    pub fn from_name(name: &str) -> Option<QuestionCategory> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl std::fmt::Display for QuestionCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One question with its answer. In JSONL the first four fields are required; the others are
/// written by the generator and optional when reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// The scene's name (ScanNet scan id, 3D-FRONT uid, generated name).
    pub scene: String,
    /// The question text.
    pub question: String,
    /// The normalised reference answer.
    pub answer: String,
    /// What it is about.
    pub category: QuestionCategory,
    /// Id of the template that worded it (see [`templates::TEMPLATES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Worded by a template held out of training.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held_out: bool,
    /// Ids of the scene objects the question names, in order of mention (for counting: every
    /// object of the category).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<u32>,
    /// The canonical class name of each object in `objects`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// For each object in `objects`, the indices of the views that show it (at least
    /// [`min_visible_px`] pixels of its instance mask); empty when generated without views.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<Vec<usize>>,
    /// The measured fact the answer was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fact: Option<Fact>,
    /// For each object in `objects`, the object its phrase names it by — the anchor of a
    /// referring expression: the bed of "the chair closest to the bed", the table of "the cup on
    /// the table" (`None` for an object named by its class alone). Empty when no object is
    /// named by relation, and in files that predate it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anchors: Vec<Option<u32>>,
    /// The object the answer names, where the answer is an object that the question does not
    /// name: the closest / farthest object to the one it names ("what is nearest the pillow?")
    /// or the closer of two. `None` for other questions and in files that predate it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_object: Option<u32>,
}

impl Question {
    /// A yes/no question (its reference answer is `yes` or `no`).
    pub fn is_yes_no(&self) -> bool {
        self.answer == "yes" || self.answer == "no"
    }
}

/// What an answer was computed from; only the fields of the question's kind are set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// Surface distance between the first two objects (proximity, contact, distance), or from
    /// the target to the answer object (closest), metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f32>,
    /// The two objects touch (surface distance ≤ the contact threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<bool>,
    /// The first object rests on the second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<bool>,
    /// The two objects are near (distance ≤ the near threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near: Option<bool>,
    /// The two objects are far apart (distance ≥ the far threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub far: Option<bool>,
    /// Closest: distance from the target to the next object of another class, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_up_m: Option<f32>,
    /// Direction: bearing of the third object seen standing at the first facing the second,
    /// degrees (negative: left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearing_deg: Option<f32>,
    /// Direction: the first object is above the second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<bool>,
    /// Counting: the number of objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// Size: what was compared (`volume`, `width`, `height`) and the two values (m³ or m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<String>,
    /// Size: the two measured values, in the order of `objects`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<f32>,
    /// Description: the object it rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<u32>,
}

/// The fewest instance-mask pixels that make an object count as shown by a view of
/// `size` × `size` pixels: 40 at 112², scaled with the image area.
pub fn min_visible_px(size: u32) -> usize {
    let area = u64::from(size) * u64::from(size);
    (40 * area).div_ceil(112 * 112).max(1) as usize
}

/// Which views show which objects: an object is shown by a view where its instance mask has at
/// least `min_px` pixels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Visibility {
    /// Object id → views showing it, ascending.
    pub views_of: BTreeMap<u32, Vec<usize>>,
    /// Object id → its largest pixel count in any view.
    pub max_px: BTreeMap<u32, usize>,
}

impl Visibility {
    /// From `views` instance masks of `pixels` each, concatenated (id −1 = nothing).
    pub fn from_masks(instance: &[i32], views: usize, pixels: usize, min_px: usize) -> Self {
        let mut out = Visibility::default();
        for v in 0..views {
            let Some(mask) = instance.get(v * pixels..(v + 1) * pixels) else {
                break;
            };
            let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
            for &id in mask {
                if let Ok(id) = u32::try_from(id) {
                    *counts.entry(id).or_insert(0) += 1;
                }
            }
            for (id, n) in counts {
                let best = out.max_px.entry(id).or_insert(0);
                *best = (*best).max(n);
                if n >= min_px {
                    out.views_of.entry(id).or_default().push(v);
                }
            }
        }
        out
    }

    /// Whether some view shows `id`.
    pub fn shows(&self, id: u32) -> bool {
        self.views_of.contains_key(&id)
    }

    /// The views showing `id` (empty when none).
    pub fn views(&self, id: u32) -> Vec<usize> {
        self.views_of.get(&id).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
