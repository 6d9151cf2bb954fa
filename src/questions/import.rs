//! Import of outside question sets, keeping their spatial subsets: SQA3D (situated questions,
//! `questions` + `annotations` files joined on `question_id`) and ScanQA (one list with
//! `answers`). Each question is sorted into Spatia's categories by its wording; questions about
//! colour, type, function and the like are left out and counted.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Question, QuestionCategory};
use crate::scene::{SceneError, read_json};

/// Largest question file read, bytes.
const MAX_IMPORT_BYTES: u64 = 256 << 20;

/// What an import kept and left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// Questions in the source.
    pub total: usize,
    /// Questions kept.
    pub usable: usize,
    /// Kept questions per category.
    pub per_category: BTreeMap<String, usize>,
    /// Left out: not a spatial question (colour, type, function, …).
    pub not_spatial: usize,
    /// Left out: no answer (SQA3D question without an annotation, or an empty answer).
    pub no_answer: usize,
}

impl ImportReport {
    fn count(&mut self, category: QuestionCategory) {
        self.usable += 1;
        *self
            .per_category
            .entry(category.name().to_string())
            .or_insert(0) += 1;
    }
}

/// Sorts a question into a spatial category by its wording, `None` when it is not spatial.
pub fn classify(question: &str) -> Option<QuestionCategory> {
    let q = format!(
        " {} ",
        question.to_lowercase().replace(['?', ',', '.'], " ")
    );
    let has = |words: &[&str]| words.iter().any(|w| q.contains(w));
    // Appearance, type and material are not spatial ("colors", "colored", typos like
    // "colorr" included).
    let appearance = q
        .split_whitespace()
        .any(|w| w.starts_with("colo") || w.starts_with("shape") || w.starts_with("material"));
    if appearance || has(&[" what type ", " what kind ", " made of ", " what style "]) {
        return None;
    }
    if q.trim_start().starts_with("how many") {
        return Some(QuestionCategory::Counting);
    }
    if has(&[
        " how far ",
        " distance ",
        " how many meters ",
        " how many feet ",
    ]) {
        return Some(QuestionCategory::Distance);
    }
    if has(&[
        " bigger ",
        " larger ",
        " smaller ",
        " taller ",
        " shorter ",
        " wider ",
        " size ",
    ]) {
        return Some(QuestionCategory::Size);
    }
    if has(&[
        " closest ",
        " nearest ",
        " closer ",
        " farthest ",
        " furthest ",
        " farther ",
    ]) {
        return Some(QuestionCategory::Closest);
    }
    if has(&[
        " left ",
        " right ",
        " behind ",
        " in front ",
        " front of ",
        " direction ",
        " above ",
        " below ",
        " under ",
        " beneath ",
        " turn ",
        " facing ",
    ]) {
        return Some(QuestionCategory::Direction);
    }
    if has(&[
        " on top of ",
        " placed on ",
        " sitting on ",
        " resting on ",
        " lying on ",
        " touching ",
        " hanging on ",
        " mounted on ",
        " what is on ",
        " what is on top ",
    ]) {
        return Some(QuestionCategory::Contact);
    }
    if has(&[
        " next to ",
        " near ",
        " beside ",
        " close to ",
        " adjacent ",
        " by the ",
    ]) {
        return Some(QuestionCategory::Proximity);
    }
    if has(&[" where is ", " where are ", " located ", " placed "]) {
        return Some(QuestionCategory::Description);
    }
    None
}

#[derive(Deserialize)]
struct SqaQuestions {
    questions: Vec<SqaQuestion>,
}

#[derive(Deserialize)]
struct SqaQuestion {
    scene_id: String,
    #[serde(default)]
    situation: String,
    question: String,
    question_id: u64,
}

#[derive(Deserialize)]
struct SqaAnnotations {
    annotations: Vec<SqaAnnotation>,
}

#[derive(Deserialize)]
struct SqaAnnotation {
    question_id: u64,
    #[serde(default)]
    answers: Vec<SqaAnswer>,
}

#[derive(Deserialize)]
struct SqaAnswer {
    answer: String,
}

/// Imports SQA3D: the situation and the question become one question text ("I am sitting on
/// the bed facing the window. What is on my left?"); the first annotated answer is kept.
pub fn import_sqa3d(
    questions_path: &Path,
    annotations_path: &Path,
) -> Result<(Vec<Question>, ImportReport), SceneError> {
    let qs: SqaQuestions = read_json(questions_path, MAX_IMPORT_BYTES)?;
    let ans: SqaAnnotations = read_json(annotations_path, MAX_IMPORT_BYTES)?;
    let answers: HashMap<u64, String> = ans
        .annotations
        .into_iter()
        .filter_map(|a| Some((a.question_id, a.answers.into_iter().next()?.answer)))
        .collect();
    let mut report = ImportReport {
        total: qs.questions.len(),
        ..Default::default()
    };
    let mut out = Vec::new();
    for q in qs.questions {
        let Some(category) = classify(&q.question) else {
            report.not_spatial += 1;
            continue;
        };
        let Some(answer) = answers.get(&q.question_id).filter(|a| !a.trim().is_empty()) else {
            report.no_answer += 1;
            continue;
        };
        let text = if q.situation.trim().is_empty() {
            q.question.trim().to_string()
        } else {
            format!("{} {}", q.situation.trim(), q.question.trim())
        };
        report.count(category);
        out.push(Question {
            scene: q.scene_id,
            question: text,
            answer: answer.trim().to_lowercase(),
            category,
            template: Some(format!("sqa3d:{}", q.question_id)),
            held_out: false,
            objects: Vec::new(),
            classes: Vec::new(),
            views: Vec::new(),
            fact: None,
            anchors: Vec::new(),
            answer_object: None,
        });
    }
    Ok((out, report))
}

#[derive(Deserialize)]
struct ScanQaItem {
    #[serde(default)]
    answers: Vec<String>,
    #[serde(default)]
    object_ids: Vec<u32>,
    question: String,
    question_id: String,
    scene_id: String,
}

/// Imports ScanQA: the first answer is kept, with the annotated object ids.
pub fn import_scanqa(path: &Path) -> Result<(Vec<Question>, ImportReport), SceneError> {
    let items: Vec<ScanQaItem> = read_json(path, MAX_IMPORT_BYTES)?;
    let mut report = ImportReport {
        total: items.len(),
        ..Default::default()
    };
    let mut out = Vec::new();
    for it in items {
        let Some(category) = classify(&it.question) else {
            report.not_spatial += 1;
            continue;
        };
        let Some(answer) = it.answers.into_iter().find(|a| !a.trim().is_empty()) else {
            report.no_answer += 1;
            continue;
        };
        report.count(category);
        out.push(Question {
            scene: it.scene_id,
            question: it.question.trim().to_string(),
            answer: answer.trim().to_lowercase(),
            category,
            template: Some(format!("scanqa:{}", it.question_id)),
            held_out: false,
            objects: it.object_ids,
            classes: Vec::new(),
            views: Vec::new(),
            fact: None,
            anchors: Vec::new(),
            answer_object: None,
        });
    }
    Ok((out, report))
}
