//! Dataset-wide debiasing of yes/no questions: the wording alone must not predict the answer.
//!
//! Within one scene the generator balances yes and no and draws each question's wording
//! independently of the fact behind it, but across a dataset the objects a wording names still
//! leak the answer ("is the cup on the table?" is mostly yes, "is the table on the cup?" always
//! no). [`balance_wordings`] groups the yes/no questions of a split by what a reader of the text
//! alone could key on — category, the template's polarity, the classes it names and the shape
//! of its referring expressions — and keeps as many
//! yes as no in every group, choosing which by a stable hash so the result does not depend on
//! file order.

use std::collections::BTreeMap;

use super::Question;
use super::names::all_synonyms_longest_first;
use super::templates::{Kind, TEMPLATES};
use crate::scene::stable_hash;

/// The group a yes/no question is balanced within: its category, the kind of its template
/// (near, far, touch, gap, on, taller: the wording's polarity; which paraphrase of a kind is
/// drawn independently of the fact), the classes it names and the shape of its referring
/// expressions ("the cup *on the* table", "the cup *closest to the* sofa": the words around the
/// names, with the anchors' classes left out) — in order for the asymmetric kinds (on, taller),
/// as a set for the others. Questions without a known template group by template and classes.
pub fn wording_key(q: &Question) -> String {
    let template = q
        .template
        .as_deref()
        .and_then(|id| TEMPLATES.iter().find(|t| t.id == id));
    let Some(template) = template else {
        return format!(
            "{}|{}|{}",
            q.category.name(),
            q.template.as_deref().unwrap_or(""),
            q.classes.join(",")
        );
    };
    let joined = |s: &str| s.replace(' ', "_");
    // Names (synonyms included) as single canonical words.
    let mut text = format!(" {} ", q.question.to_lowercase().replace('?', " ? "));
    for (name, canonical) in all_synonyms_longest_first() {
        text = text.replace(&format!(" {name} "), &format!(" {} ", joined(canonical)));
    }
    // The template's own words are the same in every question of the group.
    let fixed: Vec<String> = template
        .text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '{' && c != '}')
        .filter(|w| !w.is_empty() && !w.starts_with('{'))
        .map(str::to_string)
        .collect();
    let mut words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty() && !fixed.iter().any(|f| f == w))
        .collect();
    if !matches!(template.kind, Kind::On | Kind::Taller) {
        words.sort_unstable();
    }
    format!(
        "{}|{:?}|{}",
        q.category.name(),
        template.kind,
        words.join(" ")
    )
}

/// Keeps, in every wording group (see [`wording_key`]), the same number of yes and no
/// answers; other questions pass through. Order is kept. Returns the kept questions and how
/// many yes/no questions were dropped.
pub fn balance_wordings(questions: Vec<Question>) -> (Vec<Question>, usize) {
    let mut groups: BTreeMap<String, [Vec<(u64, usize)>; 2]> = BTreeMap::new();
    for (i, q) in questions.iter().enumerate() {
        if !q.is_yes_no() {
            continue;
        }
        let h = stable_hash(&format!("{}\u{1f}{}", q.scene, q.question));
        let g = groups.entry(wording_key(q)).or_default();
        g[usize::from(q.answer == "yes")].push((h, i));
    }
    let mut drop = vec![false; questions.len()];
    let mut dropped = 0;
    for [no, yes] in groups.values_mut() {
        let k = no.len().min(yes.len());
        for side in [no, yes] {
            side.sort_unstable();
            for &(_, i) in &side[k..] {
                drop[i] = true;
                dropped += 1;
            }
        }
    }
    let kept = questions
        .into_iter()
        .zip(drop)
        .filter(|(_, d)| !d)
        .map(|(q, _)| q)
        .collect();
    (kept, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questions::QuestionCategory;

    fn q(scene: &str, text: &str, template: &str, classes: [&str; 2], answer: &str) -> Question {
        Question {
            scene: scene.into(),
            question: text.into(),
            answer: answer.into(),
            category: QuestionCategory::Contact,
            template: Some(template.into()),
            held_out: false,
            objects: vec![1, 2],
            classes: classes.iter().map(|c| c.to_string()).collect(),
            views: Vec::new(),
            fact: None,
            anchors: Vec::new(),
            answer_object: None,
        }
    }

    #[test]
    fn groups_keep_as_many_yes_as_no() {
        let qs = vec![
            // "touch" wording, cup + table: 3 yes, 1 no → 1 + 1 kept.
            q(
                "a",
                "Is the cup touching the table?",
                "touch.1",
                ["cup", "table"],
                "yes",
            ),
            q(
                "b",
                "Does the cup touch the table?",
                "touch.2",
                ["cup", "table"],
                "yes",
            ),
            q(
                "c",
                "Is the table touching the cup?",
                "touch.1",
                ["table", "cup"],
                "yes",
            ),
            q(
                "d",
                "Is the cup touching the table?",
                "touch.1",
                ["cup", "table"],
                "no",
            ),
            // "on" is ordered: table-on-cup is its own group, all no → dropped.
            q(
                "a",
                "Is the table on the cup?",
                "on.1",
                ["table", "cup"],
                "no",
            ),
            q(
                "b",
                "Is the table on the cup?",
                "on.1",
                ["table", "cup"],
                "no",
            ),
            // Not yes/no: kept.
            Question {
                answer: "2".into(),
                category: QuestionCategory::Counting,
                ..q("a", "How many cups?", "count.1", ["cup", "cup"], "2")
            },
        ];
        let (kept, dropped) = balance_wordings(qs.clone());
        assert_eq!(dropped, 4);
        assert_eq!(kept.len(), 3);
        assert_eq!(kept.iter().filter(|q| q.answer == "yes").count(), 1);
        assert_eq!(kept.iter().filter(|q| q.answer == "no").count(), 1);
        assert!(kept.iter().any(|q| q.answer == "2"));
        // The same whatever the input order.
        let mut rev = qs;
        rev.reverse();
        let (mut kept_rev, _) = balance_wordings(rev);
        kept_rev.reverse();
        assert_eq!(kept_rev, kept);
        // Symmetric kinds ignore the order of the classes and the paraphrase; "on" keeps the
        // order; synonyms are one name; a referring expression makes its own group.
        let key = |text: &str, t: &str, c: [&str; 2]| wording_key(&q("x", text, t, c, "yes"));
        assert_eq!(
            key(
                "Is the cup touching the table?",
                "touch.1",
                ["cup", "table"]
            ),
            key(
                "Are the table and the mug in contact?",
                "touch.3",
                ["table", "cup"]
            )
        );
        assert_ne!(
            key("Is the cup on the table?", "on.1", ["cup", "table"]),
            key("Is the table on the cup?", "on.1", ["table", "cup"])
        );
        assert_ne!(
            key(
                "Is the cup touching the table?",
                "touch.1",
                ["cup", "table"]
            ),
            key(
                "Is the cup closest to the sofa touching the table?",
                "touch.1",
                ["cup", "table"]
            )
        );
    }
}
