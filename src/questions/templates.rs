//! Question templates: several paraphrases per kind of question, some held out of training so
//! evaluation can measure generalisation to new wording (docs/SPATIAL.md lists them all).
//!
//! Placeholders: `{a}`, `{b}`, `{c}` are object phrases (written after "the"), `{p}` a plural.

/// What a template asks; the generator picks the answer from the relation engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Yes when a and b are near.
    Near,
    /// Yes when a and b are far apart.
    Far,
    /// Yes when a and b touch.
    Touch,
    /// Yes when a and b do not touch.
    Gap,
    /// Yes when a rests on b.
    On,
    /// The name of the object closest to a.
    Closest,
    /// The name of the object farthest from a.
    Farthest,
    /// Which of b and c is closer to a.
    CloserOfTwo,
    /// Standing at a facing b: is c left or right.
    LeftRight,
    /// Standing at a facing b: is c in front or behind.
    FrontBehind,
    /// Standing at a facing b: c is left, right or behind.
    ThreeWay,
    /// Is a above or below b.
    AboveBelow,
    /// Surface distance between a and b.
    Distance,
    /// How many objects of a category.
    Count,
    /// Which of a and b is bigger (box volume).
    Bigger,
    /// Which of a and b is wider.
    Wider,
    /// Yes when a is taller than b.
    Taller,
    /// A sentence placing a: its support and nearest objects.
    Describe,
}

/// One paraphrase.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    /// Stable id, written with every generated question.
    pub id: &'static str,
    /// What it asks.
    pub kind: Kind,
    /// The wording.
    pub text: &'static str,
    /// Used only in evaluation, never in training.
    pub held_out: bool,
}

const fn t(id: &'static str, kind: Kind, text: &'static str) -> Template {
    Template {
        id,
        kind,
        text,
        held_out: false,
    }
}

const fn h(id: &'static str, kind: Kind, text: &'static str) -> Template {
    Template {
        id,
        kind,
        text,
        held_out: true,
    }
}

/// Every template.
pub const TEMPLATES: &[Template] = &[
    // proximity
    t("near.1", Kind::Near, "Is the {a} near the {b}?"),
    t("near.2", Kind::Near, "Is the {a} close to the {b}?"),
    t(
        "near.3",
        Kind::Near,
        "Are the {a} and the {b} close together?",
    ),
    t("near.4", Kind::Near, "Is the {a} next to the {b}?"),
    h(
        "near.h1",
        Kind::Near,
        "Would you say the {a} is a short distance from the {b}?",
    ),
    h(
        "near.h2",
        Kind::Near,
        "Is there only a small gap between the {a} and the {b}?",
    ),
    t("near.5", Kind::Near, "Is the {a} beside the {b}?"),
    t("near.6", Kind::Near, "Is the {a} by the {b}?"),
    t("near.7", Kind::Near, "Is the {a} near to the {b}?"),
    t("near.8", Kind::Near, "Is the {a} not far from the {b}?"),
    t(
        "near.9",
        Kind::Near,
        "Is the {a} only a short way from the {b}?",
    ),
    t(
        "near.10",
        Kind::Near,
        "Would you say the {a} is close to the {b}?",
    ),
    t(
        "near.11",
        Kind::Near,
        "Do you think the {a} is near the {b}?",
    ),
    t(
        "near.12",
        Kind::Near,
        "Are the {a} and the {b} near each other?",
    ),
    t(
        "near.13",
        Kind::Near,
        "Are the {a} and the {b} next to each other?",
    ),
    t(
        "near.14",
        Kind::Near,
        "Is there little distance between the {a} and the {b}?",
    ),
    t(
        "near.15",
        Kind::Near,
        "Is the distance between the {a} and the {b} small?",
    ),
    t(
        "near.16",
        Kind::Near,
        "Does the {a} stand close to the {b}?",
    ),
    t("far.1", Kind::Far, "Is the {a} far from the {b}?"),
    t("far.2", Kind::Far, "Are the {a} and the {b} far apart?"),
    t("far.3", Kind::Far, "Is the {a} far away from the {b}?"),
    t("far.4", Kind::Far, "Is the {a} distant from the {b}?"),
    t("far.5", Kind::Far, "Is the {a} well away from the {b}?"),
    t("far.6", Kind::Far, "Is the {a} nowhere near the {b}?"),
    t("far.7", Kind::Far, "Is the {a} not close to the {b}?"),
    t(
        "far.8",
        Kind::Far,
        "Would you say the {a} is far from the {b}?",
    ),
    t(
        "far.9",
        Kind::Far,
        "Do you think the {a} is far away from the {b}?",
    ),
    t(
        "far.10",
        Kind::Far,
        "Are the {a} and the {b} a long distance apart?",
    ),
    t(
        "far.11",
        Kind::Far,
        "Is there a large distance between the {a} and the {b}?",
    ),
    t(
        "far.12",
        Kind::Far,
        "Is the distance between the {a} and the {b} big?",
    ),
    t("far.13", Kind::Far, "Does the {a} stand far from the {b}?"),
    h("far.h1", Kind::Far, "Is the {a} a long way from the {b}?"),
    // contact and support
    t("touch.1", Kind::Touch, "Is the {a} touching the {b}?"),
    t("touch.2", Kind::Touch, "Does the {a} touch the {b}?"),
    t(
        "touch.3",
        Kind::Touch,
        "Are the {a} and the {b} in contact?",
    ),
    t(
        "touch.4",
        Kind::Touch,
        "Is the {a} in contact with the {b}?",
    ),
    t("touch.5", Kind::Touch, "Is the {a} against the {b}?"),
    t("touch.6", Kind::Touch, "Is the {a} up against the {b}?"),
    t(
        "touch.7",
        Kind::Touch,
        "Does the {a} make contact with the {b}?",
    ),
    t(
        "touch.8",
        Kind::Touch,
        "Would you say the {a} is touching the {b}?",
    ),
    t(
        "touch.9",
        Kind::Touch,
        "Do you think the {a} touches the {b}?",
    ),
    t("touch.10", Kind::Touch, "Are the {a} and the {b} touching?"),
    t(
        "touch.11",
        Kind::Touch,
        "Is the {a} pressed against the {b}?",
    ),
    t(
        "touch.12",
        Kind::Touch,
        "Is there no gap between the {a} and the {b}?",
    ),
    h(
        "touch.h1",
        Kind::Touch,
        "Do the {a} and the {b} touch each other?",
    ),
    t(
        "gap.1",
        Kind::Gap,
        "Is there a gap between the {a} and the {b}?",
    ),
    t("gap.2", Kind::Gap, "Is the {a} separated from the {b}?"),
    t("gap.3", Kind::Gap, "Is the {a} not touching the {b}?"),
    t(
        "gap.4",
        Kind::Gap,
        "Is there some space between the {a} and the {b}?",
    ),
    t(
        "gap.5",
        Kind::Gap,
        "Is the {a} out of contact with the {b}?",
    ),
    t(
        "gap.6",
        Kind::Gap,
        "Are the {a} and the {b} not in contact?",
    ),
    t(
        "gap.7",
        Kind::Gap,
        "Would you say there is a gap between the {a} and the {b}?",
    ),
    t("gap.8", Kind::Gap, "Does the {a} stand clear of the {b}?"),
    t(
        "gap.9",
        Kind::Gap,
        "Do the {a} and the {b} have space between them?",
    ),
    h(
        "gap.h1",
        Kind::Gap,
        "Is there any space separating the {a} from the {b}?",
    ),
    t("on.1", Kind::On, "Is the {a} on the {b}?"),
    t("on.2", Kind::On, "Is the {a} resting on the {b}?"),
    t("on.3", Kind::On, "Is the {a} sitting on top of the {b}?"),
    t("on.4", Kind::On, "Is the {a} on top of the {b}?"),
    t("on.5", Kind::On, "Is the {a} placed on the {b}?"),
    t("on.6", Kind::On, "Is the {a} lying on the {b}?"),
    t("on.7", Kind::On, "Is the {a} standing on the {b}?"),
    t("on.8", Kind::On, "Does the {a} rest on the {b}?"),
    t("on.9", Kind::On, "Is the {a} held up by the {b}?"),
    t("on.10", Kind::On, "Would you say the {a} is on the {b}?"),
    h("on.h1", Kind::On, "Is the {a} supported by the {b}?"),
    // closest / farthest
    t(
        "closest.1",
        Kind::Closest,
        "Which object is closest to the {a}?",
    ),
    t(
        "closest.2",
        Kind::Closest,
        "What is the nearest object to the {a}?",
    ),
    t(
        "closest.3",
        Kind::Closest,
        "What object is nearest the {a}?",
    ),
    h(
        "closest.h1",
        Kind::Closest,
        "Of all the objects in the room, which one is the least distant from the {a}?",
    ),
    t(
        "farthest.1",
        Kind::Farthest,
        "Which object is farthest from the {a}?",
    ),
    t(
        "farthest.2",
        Kind::Farthest,
        "What is the most distant object from the {a}?",
    ),
    h(
        "farthest.h1",
        Kind::Farthest,
        "Which object lies at the greatest distance from the {a}?",
    ),
    t(
        "closer2.1",
        Kind::CloserOfTwo,
        "Which is closer to the {a}, the {b} or the {c}?",
    ),
    t(
        "closer2.2",
        Kind::CloserOfTwo,
        "Is the {b} or the {c} nearer to the {a}?",
    ),
    h(
        "closer2.h1",
        Kind::CloserOfTwo,
        "Between the {b} and the {c}, which one is nearer the {a}?",
    ),
    // direction
    t(
        "lr.1",
        Kind::LeftRight,
        "If you stand at the {a} facing the {b}, is the {c} to your left or to your right?",
    ),
    t(
        "lr.2",
        Kind::LeftRight,
        "Standing by the {a} and looking toward the {b}, is the {c} on your left or right?",
    ),
    h(
        "lr.h1",
        Kind::LeftRight,
        "Imagine you are next to the {a} looking at the {b}: is the {c} on your left-hand or right-hand side?",
    ),
    t(
        "fb.1",
        Kind::FrontBehind,
        "Standing at the {a} facing the {b}, is the {c} in front of you or behind you?",
    ),
    h(
        "fb.h1",
        Kind::FrontBehind,
        "Picture yourself at the {a} with the {b} ahead of you: is the {c} ahead or behind?",
    ),
    t(
        "dir3.1",
        Kind::ThreeWay,
        "You are at the {a}, facing the {b}. Is the {c} to the left, to the right, or behind you?",
    ),
    t(
        "dir3.2",
        Kind::ThreeWay,
        "If I am standing by the {a} and facing the {b}, is the {c} to my left, right, or back?",
    ),
    h(
        "dir3.h1",
        Kind::ThreeWay,
        "Suppose you stand beside the {a}, turned toward the {b}. Where is the {c}: left, right, or behind?",
    ),
    t(
        "above.1",
        Kind::AboveBelow,
        "Is the {a} above or below the {b}?",
    ),
    t(
        "above.2",
        Kind::AboveBelow,
        "Is the {a} higher or lower than the {b}?",
    ),
    h(
        "above.h1",
        Kind::AboveBelow,
        "Relative to the {b}, is the {a} located above it or beneath it?",
    ),
    // metric distance
    t("dist.1", Kind::Distance, "How far is the {a} from the {b}?"),
    t(
        "dist.2",
        Kind::Distance,
        "What is the distance between the {a} and the {b}?",
    ),
    t(
        "dist.3",
        Kind::Distance,
        "How many meters apart are the {a} and the {b}?",
    ),
    t(
        "dist.4",
        Kind::Distance,
        "Measuring from their closest points, how far apart are the {a} and the {b}?",
    ),
    h(
        "dist.h1",
        Kind::Distance,
        "What is the gap, in meters, between the {a} and the {b}?",
    ),
    h(
        "dist.h2",
        Kind::Distance,
        "Roughly how much space separates the {a} from the {b}?",
    ),
    // counting
    t(
        "count.1",
        Kind::Count,
        "How many {p} are there in the room?",
    ),
    t("count.2", Kind::Count, "How many {p} are in this room?"),
    t("count.3", Kind::Count, "Count the {p} in the room."),
    t(
        "count.4",
        Kind::Count,
        "What is the number of {p} in the scene?",
    ),
    h("count.h1", Kind::Count, "How many {p} can be found here?"),
    h(
        "count.h2",
        Kind::Count,
        "In total, how many {p} does this room contain?",
    ),
    // size
    t(
        "bigger.1",
        Kind::Bigger,
        "Which is bigger, the {a} or the {b}?",
    ),
    t(
        "bigger.2",
        Kind::Bigger,
        "Which is larger: the {a} or the {b}?",
    ),
    h(
        "bigger.h1",
        Kind::Bigger,
        "Comparing the {a} and the {b}, which takes up more space?",
    ),
    t(
        "wider.1",
        Kind::Wider,
        "Which is wider, the {a} or the {b}?",
    ),
    h(
        "wider.h1",
        Kind::Wider,
        "Which of the two is broader, the {a} or the {b}?",
    ),
    t("taller.1", Kind::Taller, "Is the {a} taller than the {b}?"),
    t(
        "taller.2",
        Kind::Taller,
        "Does the {a} stand taller than the {b}?",
    ),
    h(
        "taller.h1",
        Kind::Taller,
        "Is the {a} of greater height than the {b}?",
    ),
    // description
    t("describe.1", Kind::Describe, "Describe where the {a} is."),
    t("describe.2", Kind::Describe, "Where is the {a}?"),
    t("describe.3", Kind::Describe, "Where is the {a} located?"),
    t(
        "describe.4",
        Kind::Describe,
        "Can you tell me where the {a} is?",
    ),
    h(
        "describe.h1",
        Kind::Describe,
        "Explain the position of the {a} in the room.",
    ),
    h(
        "describe.h2",
        Kind::Describe,
        "Where in the room would I find the {a}?",
    ),
];

/// The templates of `kind`, training ones or held-out ones as `held_out` says (`None`: both).
pub fn templates_of(kind: Kind, held_out: Option<bool>) -> Vec<&'static Template> {
    TEMPLATES
        .iter()
        .filter(|t| t.kind == kind && held_out.is_none_or(|h| t.held_out == h))
        .collect()
}

/// Fills a template's placeholders.
pub fn fill(text: &str, a: &str, b: &str, c: &str, plural: &str) -> String {
    text.replace("{a}", a)
        .replace("{b}", b)
        .replace("{c}", c)
        .replace("{p}", plural)
}

/// Whether `question`, worded by template `text`, names an object by its relation to another
/// ("the chair closest to the bed", "the cup on the table") rather than by its name alone: the
/// phrases the generator's referring expressions add appear more often than in the template.
pub fn names_by_relation(text: &str, question: &str) -> bool {
    const PHRASES: [&str; 2] = [" closest to the ", " on the "];
    PHRASES
        .iter()
        .any(|p| question.matches(p).count() > text.matches(p).count())
}
