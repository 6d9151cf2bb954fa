//! Rewording a generated question with another training template of its kind: its object
//! phrases are read back out of the text by the template that worded it, and put into another
//! template's wording. Stage 2 rewords training questions this way (`--reword`), so that the
//! decoder meets every training paraphrase of a relation with every scene, rather than only
//! the wording the data set happened to draw; held-out templates are never used.

use super::templates::{Kind, TEMPLATES, Template, fill, templates_of};

/// The object phrases a question fills its template's placeholders with (`{a}`, `{b}`, `{c}`,
/// `{p}`; empty where the template has none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slots {
    /// `{a}`.
    pub a: String,
    /// `{b}`.
    pub b: String,
    /// `{c}`.
    pub c: String,
    /// `{p}` (a plural).
    pub p: String,
}

impl Slots {
    fn set(&mut self, name: char, value: &str) -> bool {
        let slot = match name {
            'a' => &mut self.a,
            'b' => &mut self.b,
            'c' => &mut self.c,
            'p' => &mut self.p,
            _ => return false,
        };
        // A placeholder written twice must read the same phrase twice.
        if !slot.is_empty() && slot != value {
            return false;
        }
        *slot = value.to_string();
        true
    }

    /// `template`'s wording filled with these phrases.
    pub fn fill(&self, template: &Template) -> String {
        fill(template.text, &self.a, &self.b, &self.c, &self.p)
    }
}

/// A template's text as literals around placeholders: `literals.len() == names.len() + 1`.
fn split_template(text: &str) -> Option<(Vec<&str>, Vec<char>)> {
    let mut literals = Vec::new();
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}')? + open;
        let name = &rest[open + 1..close];
        let mut chars = name.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return None;
        };
        literals.push(&rest[..open]);
        names.push(c);
        rest = &rest[close + 1..];
    }
    literals.push(rest);
    Some((literals, names))
}

/// Every way `question` reads as `literals` around non-empty phrases, at most `limit` of them.
fn parses(question: &str, literals: &[&str], names: &[char], limit: usize) -> Vec<Slots> {
    let Some(rest) = question.strip_prefix(literals[0]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(
        rest,
        &literals[1..],
        names,
        Slots::default(),
        limit,
        &mut out,
    );
    out
}

fn walk(
    rest: &str,
    literals: &[&str],
    names: &[char],
    slots: Slots,
    limit: usize,
    out: &mut Vec<Slots>,
) {
    let (Some(&name), Some(&literal)) = (names.first(), literals.first()) else {
        if rest.is_empty() {
            out.push(slots);
        }
        return;
    };
    let last = names.len() == 1;
    // Each place the next literal could start ends the phrase; the last literal ends the text.
    let ends: Vec<usize> = if last {
        rest.strip_suffix(literal)
            .map(|phrase| vec![phrase.len()])
            .unwrap_or_default()
    } else if literal.is_empty() {
        return;
    } else {
        rest.match_indices(literal).map(|(i, _)| i).collect()
    };
    for end in ends {
        if out.len() >= limit {
            return;
        }
        let phrase = &rest[..end];
        let mut next = slots.clone();
        if phrase.is_empty() || !next.set(name, phrase) {
            continue;
        }
        walk(
            &rest[end + literal.len()..],
            &literals[1..],
            &names[1..],
            next,
            limit,
            out,
        );
    }
}

/// The phrases `question` fills `template` with, when it reads one way only (`None` when it
/// does not match the template, or matches it more than one way: "Is the cup on the table on
/// the shelf?" could be either object's phrase holding "on the").
pub fn parse_slots(template: &Template, question: &str) -> Option<Slots> {
    let (literals, names) = split_template(template.text)?;
    let mut found = parses(question, &literals, &names, 2);
    (found.len() == 1).then(|| found.remove(0))
}

/// The training template with id `id`.
pub fn training_template(id: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.id == id && !t.held_out)
}

/// The training templates a question worded by `template` can be reworded with: those of its
/// kind (itself included).
pub fn rewordings_of(kind: Kind) -> Vec<&'static Template> {
    templates_of(kind, Some(false))
}

/// A question's kind and object phrases, read back out of its text by the training template
/// that worded it: any training wording of its kind can be made from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewordable {
    /// Its template's kind.
    pub kind: Kind,
    /// The phrases it fills the template with.
    pub slots: Slots,
}

impl Rewordable {
    /// `question` as worded by the training template `template_id`; `None` when the template is
    /// not a training one or the question does not read one way by it.
    pub fn read(template_id: &str, question: &str) -> Option<Rewordable> {
        let template = training_template(template_id)?;
        Some(Rewordable {
            kind: template.kind,
            slots: parse_slots(template, question)?,
        })
    }

    /// The question worded with its kind's training template number `pick` (modulo their
    /// count); `None` when the kind has no training template.
    pub fn wording(&self, pick: usize) -> Option<String> {
        let choices = rewordings_of(self.kind);
        let other = choices.get(pick % choices.len().max(1))?;
        Some(self.slots.fill(other))
    }
}

/// `question`, worded by the training template `template_id`, reworded with its kind's
/// training template number `pick` (modulo their count); `None` when the template is not a
/// training one or the question does not read one way by it.
pub fn reword(template_id: &str, question: &str, pick: usize) -> Option<String> {
    Rewordable::read(template_id, question)?.wording(pick)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(id: &str) -> &'static Template {
        TEMPLATES.iter().find(|t| t.id == id).unwrap()
    }

    #[test]
    fn slots_are_read_back_from_a_question() {
        let near = template("near.3");
        let s = parse_slots(
            near,
            "Are the cup closest to the desk and the drape close together?",
        )
        .unwrap();
        assert_eq!(
            (s.a.as_str(), s.b.as_str()),
            ("cup closest to the desk", "drape")
        );
        let lr = template("lr.1");
        let q = "If you stand at the bed facing the door, is the lamp on the desk to your left or \
                 to your right?";
        let s = parse_slots(lr, q).unwrap();
        assert_eq!(
            (s.a.as_str(), s.b.as_str(), s.c.as_str()),
            ("bed", "door", "lamp on the desk")
        );
        assert_eq!(s.fill(lr), q);
        let count = template("count.1");
        let s = parse_slots(count, "How many chairs are there in the room?").unwrap();
        assert_eq!(s.p, "chairs");
        // Not this template's wording, or an empty phrase: nothing.
        assert_eq!(parse_slots(near, "Is the cup near the drape?"), None);
        assert_eq!(
            parse_slots(near, "Are the  and the drape close together?"),
            None
        );
    }

    #[test]
    fn a_question_that_reads_two_ways_is_not_reworded() {
        let on = template("on.1");
        assert_eq!(
            parse_slots(on, "Is the cup on the table on the shelf?"),
            None
        );
        assert!(reword("on.1", "Is the cup on the table on the shelf?", 3).is_none());
        // One way only: reworded, the phrases kept whole.
        let s = parse_slots(on, "Is the cup closest to the lamp on the table?").unwrap();
        assert_eq!(
            (s.a.as_str(), s.b.as_str()),
            ("cup closest to the lamp", "table")
        );
    }

    #[test]
    fn rewording_keeps_the_kind_and_the_objects_and_never_uses_held_out_wordings() {
        let q = "Is the mug near the sofa?";
        let kinds = rewordings_of(Kind::Near);
        assert!(kinds.len() >= 10, "{} near wordings", kinds.len());
        let mut seen = std::collections::BTreeSet::new();
        for (pick, t) in kinds.iter().enumerate() {
            let r = reword("near.1", q, pick).unwrap();
            assert!(r.contains("mug") && r.contains("sofa"), "{r}");
            // Worded by a training near template, read back the same objects.
            assert_eq!(t.kind, Kind::Near);
            assert!(!t.held_out);
            let s = parse_slots(t, &r).unwrap();
            assert_eq!((s.a.as_str(), s.b.as_str()), ("mug", "sofa"));
            seen.insert(r);
        }
        assert_eq!(seen.len(), kinds.len(), "every pick words it differently");
        // A held-out or unknown template is never a source.
        assert!(
            reword(
                "near.h1",
                "Would you say the mug is a short distance from the sofa?",
                0
            )
            .is_none()
        );
        assert!(reword("nope.1", q, 0).is_none());
    }

    /// Every training wording of a kind fills the same placeholders, so any of them can word a
    /// question of that kind; and none is a held-out wording.
    #[test]
    fn a_kinds_templates_share_their_placeholders() {
        let held: Vec<&str> = TEMPLATES
            .iter()
            .filter(|t| t.held_out)
            .map(|t| t.text)
            .collect();
        for t in TEMPLATES {
            let (_, mut names) = split_template(t.text).unwrap();
            names.sort_unstable();
            let (_, mut first) = split_template(templates_of(t.kind, None)[0].text).unwrap();
            first.sort_unstable();
            assert_eq!(names, first, "{}", t.id);
            assert!(
                t.held_out || !held.contains(&t.text),
                "{} is held out too",
                t.id
            );
            let s = Slots {
                a: "cup".into(),
                b: "lamp".into(),
                c: "bed".into(),
                p: "chairs".into(),
            };
            // Each fills back to the same phrases.
            let filled = s.fill(t);
            let back = parse_slots(t, &filled).unwrap();
            for (name, phrase) in [
                ('a', &back.a),
                ('b', &back.b),
                ('c', &back.c),
                ('p', &back.p),
            ] {
                if names.contains(&name) {
                    assert!(!phrase.is_empty(), "{} {name}", t.id);
                }
            }
        }
    }
}
