//! Question/answer pairs about a scene, generated from the relation engine ([`crate::spatial`]),
//! their scoring, JSONL files and the import of SQA3D and ScanQA (see docs/SPATIAL.md).
//!
//! Categories: proximity, contact, closest, direction, distance, counting, size, description.
//! Questions name objects by category with synonyms ("couch" / "sofa"); an object whose
//! category appears more than once is named with a distinguishing relation ("the chair on the
//! rug", "the cup closest to the laptop") or not asked about. Answers are normalised: `yes` /
//! `no`, a canonical object name, a direction word, a number, or metres (`1.3 m`).

mod generate;
pub mod import;
pub mod jsonl;
pub mod names;
pub mod score;
pub mod templates;

use serde::{Deserialize, Serialize};

pub use generate::{GenerateOptions, describe_object, generate};

/// What a question is about; evaluation reports each separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// Ids of the scene objects the question names, in order of mention.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<u32>,
}

#[cfg(test)]
mod tests;
