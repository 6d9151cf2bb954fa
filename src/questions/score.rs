//! Scoring answers: exact match after normalisation for closed answers, mean relative accuracy
//! (VSI-Bench) and within-25% success (SpatialRGPT-Bench) for numbers, and a structured match
//! for descriptions.

use super::QuestionCategory;
use super::names::{all_synonyms_longest_first, canonical_of};

/// VSI-Bench's confidence thresholds for mean relative accuracy: 0.50, 0.55, …, 0.95.
pub const MRA_THRESHOLDS: [f32; 10] = [0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95];

/// How one answer scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Counted as correct: exact match, within 25% for distances, the right support and
    /// nearest object for descriptions.
    pub correct: bool,
    /// Mean relative accuracy, for numeric answers (0 when the prediction has no number).
    pub mra: Option<f32>,
    /// Within 25% of the reference, for numeric answers.
    pub within_25: Option<bool>,
}

const NUMBER_WORDS: [&str; 21] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];

/// Normalises an answer for exact matching: lower case, no surrounding punctuation, no leading
/// article, single spaces, number words as digits, synonyms as canonical names, and the
/// direction and yes/no forms reduced to one word ("yes, it is" → "yes", "to the left" →
/// "left", "in front of you" → "front", "higher" → "above").
pub fn normalize_answer(answer: &str) -> String {
    let lower = answer.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == ',' || c == '!' || c == '?' || c == ';')
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '"' || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    let Some(first) = words.first() else {
        return String::new();
    };
    if *first == "yes" || *first == "no" {
        return first.to_string();
    }
    let mut words: Vec<String> = words
        .iter()
        .map(|w| match NUMBER_WORDS.iter().position(|n| n == w) {
            Some(i) => i.to_string(),
            None => w.to_string(),
        })
        .collect();
    while words.first().is_some_and(|w| {
        matches!(
            w.as_str(),
            "the" | "a" | "an" | "it" | "is" | "it's" | "to" | "on" | "in" | "your" | "my"
        )
    }) && words.len() > 1
    {
        words.remove(0);
    }
    let joined = words.join(" ");
    let direction = match joined.as_str() {
        "left" | "left side" | "the left" | "left-hand side" | "your left" => Some("left"),
        "right" | "right side" | "the right" | "right-hand side" | "your right" => Some("right"),
        "front" | "front of you" | "ahead" | "in front" | "front of me" => Some("front"),
        "behind" | "behind you" | "back" | "behind me" | "the back" => Some("behind"),
        "above" | "higher" | "above it" | "over" => Some("above"),
        "below" | "lower" | "beneath" | "beneath it" | "under" | "below it" => Some("below"),
        _ => None,
    };
    if let Some(d) = direction {
        return d.to_string();
    }
    if let Some(c) = canonical_of(&joined) {
        return c.to_string();
    }
    joined
}

/// Exact match after [`normalize_answer`].
pub fn exact_match(prediction: &str, reference: &str) -> bool {
    normalize_answer(prediction) == normalize_answer(reference)
}

/// The first number in an answer, in metres when a unit follows it ("130 cm" → 1.3, "4 feet"
/// → 1.2192); number words count ("two" → 2).
pub fn parse_number(answer: &str) -> Option<f32> {
    let normalized = normalize_answer(answer);
    let lower = answer.to_lowercase();
    let text = if normalized.chars().any(|c| c.is_ascii_digit()) {
        normalized
    } else {
        lower
    };
    let bytes = text.as_bytes();
    let start = bytes.iter().position(|b| b.is_ascii_digit())?;
    let neg = start > 0 && bytes[start - 1] == b'-';
    let mut end = start;
    while end < bytes.len() && (bytes[end].is_ascii_digit() || bytes[end] == b'.') {
        end += 1;
    }
    let value: f32 = text[start..end].trim_end_matches('.').parse().ok()?;
    let value = if neg { -value } else { value };
    let unit = text[end..].trim_start();
    let unit = unit.split_whitespace().next().unwrap_or("");
    let unit = unit.trim_matches(|c: char| !c.is_alphabetic());
    let scale = match unit {
        "cm" | "centimeter" | "centimeters" | "centimetre" | "centimetres" => 0.01,
        "mm" | "millimeter" | "millimeters" | "millimetre" | "millimetres" => 0.001,
        "ft" | "foot" | "feet" => 0.3048,
        "in" | "inch" | "inches" => 0.0254,
        _ => 1.0,
    };
    value.is_finite().then_some(value * scale)
}

/// VSI-Bench's mean relative accuracy: the share of thresholds θ in [`MRA_THRESHOLDS`] for which
/// |prediction − reference| / reference < 1 − θ.
pub fn mean_relative_accuracy(prediction: f32, reference: f32) -> f32 {
    if !prediction.is_finite() || !reference.is_finite() {
        return 0.0;
    }
    let rel = if reference == 0.0 {
        if prediction == 0.0 {
            0.0
        } else {
            f32::INFINITY
        }
    } else {
        (prediction - reference).abs() / reference.abs()
    };
    let hits = MRA_THRESHOLDS.iter().filter(|&&t| rel < 1.0 - t).count();
    hits as f32 / MRA_THRESHOLDS.len() as f32
}

/// SpatialRGPT-Bench's success: the prediction is within 25% of the reference.
pub fn within_25(prediction: f32, reference: f32) -> bool {
    if reference == 0.0 {
        return prediction == 0.0;
    }
    prediction.is_finite() && (prediction - reference).abs() <= 0.25 * reference.abs()
}

/// A description sentence reduced to what it claims: the support and the neighbours, as
/// canonical names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptionClaims {
    /// What the object is on ("table", "floor", "wall").
    pub support: Option<String>,
    /// Objects it is near, in order of mention.
    pub near: Vec<String>,
}

/// Reads "the X is on the Y, near the Z and the W" (any synonyms) into its claims.
pub fn parse_description(text: &str) -> DescriptionClaims {
    let mut s = format!(" {} ", text.to_lowercase().replace([',', '.'], " "));
    for (syn, canon) in all_synonyms_longest_first() {
        s = s.replace(&format!(" {syn} "), &format!(" <{canon}> "));
    }
    let names_in = |part: &str| -> Vec<String> {
        part.split('<')
            .skip(1)
            .filter_map(|p| p.split_once('>').map(|(n, _)| n.to_string()))
            .collect()
    };
    let (before_near, after_near) = match s.split_once(" near ") {
        Some((b, a)) => (b.to_string(), a.to_string()),
        None => (s.clone(), String::new()),
    };
    let support = before_near.split_once(" on ").and_then(|(_, rest)| {
        let rest = rest.trim().trim_start_matches("the ").trim();
        if let Some(n) = names_in(rest).into_iter().next() {
            Some(n)
        } else {
            rest.split_whitespace().next().map(str::to_string)
        }
    });
    DescriptionClaims {
        support,
        near: names_in(&after_near),
    }
}

/// A description is correct when it names the same support as the reference and mentions the
/// reference's nearest object (or, if the reference names none, names none either).
pub fn description_match(prediction: &str, reference: &str) -> bool {
    let (p, r) = (parse_description(prediction), parse_description(reference));
    p.support == r.support
        && match r.near.first() {
            Some(first) => p.near.contains(first),
            None => p.near.is_empty(),
        }
}

/// Scores `prediction` against `reference` the way `category` is evaluated.
pub fn score(category: QuestionCategory, prediction: &str, reference: &str) -> Score {
    match category {
        QuestionCategory::Distance | QuestionCategory::Counting => {
            let Some(r) = parse_number(reference) else {
                return Score {
                    correct: exact_match(prediction, reference),
                    mra: None,
                    within_25: None,
                };
            };
            let p = parse_number(prediction);
            let mra = p.map_or(0.0, |p| mean_relative_accuracy(p, r));
            let w25 = p.is_some_and(|p| within_25(p, r));
            let correct = if category == QuestionCategory::Counting {
                p.is_some_and(|p| (p - r).abs() < 0.5)
            } else {
                w25
            };
            Score {
                correct,
                mra: Some(mra),
                within_25: Some(w25),
            }
        }
        QuestionCategory::Description => Score {
            correct: description_match(prediction, reference),
            mra: None,
            within_25: None,
        },
        _ => Score {
            correct: exact_match(prediction, reference),
            mra: None,
            within_25: None,
        },
    }
}
