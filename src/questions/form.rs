//! What kind of answer a question's English form asks for, read from its grammar rather than
//! from the templates: a polar question (subject-auxiliary inversion: "Is the cup on the
//! table?", "Would you say …?", "Does …?") is answered yes or no, unless it offers a choice
//! ("Is the pillow above or below the picture?") or embeds a wh-question ("Can you tell me where
//! the lamp is?"). An open question has a wh-word, offers a choice, or opens with an imperative
//! ("Describe where the lamp is."); anything else ("The cup is on the table?") is left to the
//! model. An open question is read further: "how many" (not "how many meters") or "count" asks
//! for a count; "how far", "how many meters", "how much space", "how tall", and "what is the
//! distance / gap" or "in meters" without "which" ask for a length; "which", "who", a choice or
//! "name the" ask for a name; "where", "describe", "explain" ask for a place in words; another
//! "what" for a name. The app answers a polar question with the decoder's choice between yes and
//! no, and an answer not of its question's form ([`fits`]) is decoded again held to the form
//! (`model::constrain`, `model::LoadedModel::answer`): a decoder that has not met a wording may
//! otherwise answer "1.5 m" to "Would you say the painting is a short distance from the
//! cabinet?", "lamp" to "Roughly how much space separates the lamp from the cabinet?" and "0" to
//! "Explain the position of the window in the room.".

/// Auxiliaries and copulas that open a polar question.
const AUXILIARIES: [&str; 21] = [
    "is", "are", "was", "were", "am", "do", "does", "did", "can", "could", "would", "will",
    "should", "shall", "may", "might", "must", "has", "have", "had", "isn't",
];

/// Words that make an embedded or open question.
const WH_WORDS: [&str; 9] = [
    "where", "what", "which", "who", "whom", "whose", "when", "why", "how",
];

/// Imperatives that open a request for an open answer.
const IMPERATIVES: [&str; 16] = [
    "describe", "explain", "tell", "name", "list", "give", "say", "count", "find", "locate",
    "estimate", "measure", "identify", "point", "show", "compare",
];

/// Contracted auxiliaries that open a polar question.
const CONTRACTED: [&str; 7] = [
    "aren't", "wasn't", "weren't", "don't", "doesn't", "didn't", "can't",
];

/// Units a "how many …" question may ask a length in.
const LENGTH_UNITS: [&str; 14] = [
    "meters",
    "metres",
    "meter",
    "metre",
    "m",
    "centimeters",
    "centimetres",
    "cm",
    "feet",
    "foot",
    "ft",
    "inches",
    "inch",
    "yards",
];

/// Adjectives of "how … is" questions that ask for a length.
const LENGTH_ADJECTIVES: [&str; 8] = [
    "far", "long", "wide", "tall", "high", "deep", "thick", "broad",
];

/// Nouns of "what is the …" questions that ask for a length.
const LENGTH_NOUNS: [&str; 6] = ["distance", "gap", "separation", "length", "width", "height"];

/// What kind of answer a question's form asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerForm {
    /// Yes or no: a polar question.
    YesNo,
    /// A whole number: "How many …", "Count the …", "What is the number of …".
    Count,
    /// A length in metres: "How far …", "How many meters apart …", "What is the distance / gap
    /// …", "How much space separates …", "How tall …".
    Length,
    /// A word that is neither a number nor yes or no (an object, a direction): "Which …",
    /// "What object …", a choice ("… left or right?"), "Name the …".
    Name,
    /// A place in words, at least [`PLACE_MIN_WORDS`] of them: "Where is …", "Describe where …",
    /// "Explain the position of …".
    Place,
    /// Anything but yes or no: another open question.
    Open,
    /// The form does not say (a declarative question, an empty one).
    Unknown,
}

/// The fewest words of an answer to a [`AnswerForm::Place`] question ("on the table").
pub const PLACE_MIN_WORDS: usize = 3;

/// The answer form of `question` ([module docs](self)).
pub fn answer_form(question: &str) -> AnswerForm {
    let words: Vec<String> = question
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let Some(first) = words.first().map(String::as_str) else {
        return AnswerForm::Unknown;
    };
    let has = |w: &str| words.iter().any(|x| x == w);
    let pair = |a: &str, b: &dyn Fn(&str) -> bool| words.windows(2).any(|p| p[0] == a && b(&p[1]));
    let inverted = AUXILIARIES.contains(&first) || CONTRACTED.contains(&first);
    let choice = has("or");
    let open = choice || words.iter().any(|w| WH_WORDS.contains(&w.as_str()));
    if inverted && !open {
        return AnswerForm::YesNo;
    }
    if !open && !IMPERATIVES.contains(&first) {
        return AnswerForm::Unknown;
    }
    let length_unit = |w: &str| LENGTH_UNITS.contains(&w);
    let many_units = words
        .windows(3)
        .any(|p| p[0] == "how" && p[1] == "many" && length_unit(&p[2]));
    if many_units
        || pair("how", &|w| LENGTH_ADJECTIVES.contains(&w))
        || pair("much", &|w| matches!(w, "space" | "room" | "distance"))
    {
        return AnswerForm::Length;
    }
    if pair("how", &|w| w == "many") || first == "count" || pair("number", &|w| w == "of") {
        return AnswerForm::Count;
    }
    if choice
        || has("which")
        || has("who")
        || has("whose")
        || matches!(first, "name" | "identify" | "list")
    {
        return AnswerForm::Name;
    }
    if has("where") || matches!(first, "describe" | "explain" | "locate") {
        return AnswerForm::Place;
    }
    let length_noun = words.iter().any(|w| LENGTH_NOUNS.contains(&w.as_str()));
    let in_units = words.windows(2).any(|p| p[0] == "in" && length_unit(&p[1]));
    if length_noun || in_units {
        return AnswerForm::Length;
    }
    if has("what") {
        AnswerForm::Name
    } else {
        AnswerForm::Open
    }
}

/// Whether `question` asks for yes or no ([module docs](self)): its first word is an auxiliary,
/// and it offers no choice ("or") and embeds no wh-word.
pub fn expects_yes_no(question: &str) -> bool {
    answer_form(question) == AnswerForm::YesNo
}

/// Whether `answer` is of `form`: yes or no; digits only; a number then a unit of length
/// ("1.4 m"); a word with no digit that is not yes or no; a place of at least
/// [`PLACE_MIN_WORDS`] words with no digit; anything but yes, no or nothing; anything.
pub fn fits(form: AnswerForm, answer: &str) -> bool {
    let a = answer.trim().to_lowercase();
    let first = a
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| !w.is_empty())
        .unwrap_or("");
    let polar = first == "yes" || first == "no";
    let no_digit = !a.chars().any(|c| c.is_ascii_digit());
    match form {
        AnswerForm::YesNo => a == "yes" || a == "no",
        AnswerForm::Count => !a.is_empty() && a.chars().all(|c| c.is_ascii_digit()),
        AnswerForm::Length => {
            let number_end = a
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(a.len());
            let (number, unit) = a.split_at(number_end);
            number.parse::<f32>().is_ok()
                && number.starts_with(|c: char| c.is_ascii_digit())
                && LENGTH_UNITS.contains(&unit.trim())
        }
        AnswerForm::Name => !a.is_empty() && no_digit && !polar,
        AnswerForm::Place => a.split_whitespace().count() >= PLACE_MIN_WORDS && no_digit && !polar,
        AnswerForm::Open => !a.is_empty() && !polar,
        AnswerForm::Unknown => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polar_questions_expect_yes_or_no_and_choices_and_wh_questions_do_not() {
        for q in [
            "Is the cup on the table?",
            "Are the bookshelf and the window close together?",
            "Would you say the painting is a short distance from the cabinet?",
            "Does the lamp touch the desk?",
            "is there only a small gap between the bed and the wall",
            "Isn't the chair next to the desk?",
            "  Can the sofa be seen from the door?",
        ] {
            assert!(expects_yes_no(q), "{q}");
        }
        for q in [
            "Is the pillow above or below the picture?",
            "Is the window or the cabinet nearer to the lamp?",
            "Can you tell me where the lamp is?",
            "How many chairs are there?",
            "How far is the bed from the door?",
            "Which is bigger, the table or the bed?",
            "Where is the cup?",
            "Describe where the lamp is.",
            "The cup is on the table?",
            "",
            "?",
            "Island kitchens are big?",
        ] {
            assert!(!expects_yes_no(q), "{q}");
        }
        use AnswerForm as F;
        for (q, form) in [
            ("Is the pillow above or below the picture?", F::Name),
            ("Can you tell me where the lamp is?", F::Place),
            (
                "Which object lies at the greatest distance from the cupboard?",
                F::Name,
            ),
            (
                "Roughly how much space separates the desk from the window?",
                F::Length,
            ),
            (
                "Explain the position of the wastebasket in the room.",
                F::Place,
            ),
            ("Describe where the lamp is.", F::Place),
            ("How many meters apart are the bed and the door?", F::Length),
            (
                "What is the gap, in meters, between the bed and the door?",
                F::Length,
            ),
            ("How tall is the lamp?", F::Length),
            ("What is the height of the shelf in metres?", F::Length),
            ("How many chairs are there?", F::Count),
            ("Count the chairs.", F::Count),
            ("What is the number of cups in the scene?", F::Count),
            ("What is the nearest object to the bed?", F::Name),
            ("Name the object farthest from the door.", F::Name),
            (
                "Suppose you stand at the bed facing the door. Where is the lamp: left, right, or behind?",
                F::Name,
            ),
            ("How are the lamp and the bed arranged?", F::Open),
            ("Tell me about the room.", F::Open),
            ("Is the cup on the table?", F::YesNo),
            ("The cup is on the table?", F::Unknown),
            ("Island kitchens are big?", F::Unknown),
            ("", F::Unknown),
        ] {
            assert_eq!(answer_form(q), form, "{q}");
        }
    }

    /// Every template, seen and held out, has the form its kind of answer wants: the rule reads
    /// grammar, so the held-out wordings the decoder never met get the right form too.
    #[test]
    fn every_template_has_the_form_of_its_answers() {
        use crate::questions::templates::{Kind, TEMPLATES, fill};
        for t in TEMPLATES {
            let want = match t.kind {
                Kind::Near | Kind::Far | Kind::Touch | Kind::Gap | Kind::On | Kind::Taller => {
                    AnswerForm::YesNo
                }
                Kind::Closest
                | Kind::Farthest
                | Kind::CloserOfTwo
                | Kind::LeftRight
                | Kind::FrontBehind
                | Kind::ThreeWay
                | Kind::AboveBelow
                | Kind::Bigger
                | Kind::Wider => AnswerForm::Name,
                Kind::Distance => AnswerForm::Length,
                Kind::Count => AnswerForm::Count,
                Kind::Describe => AnswerForm::Place,
            };
            let q = fill(t.text, "cup closest to the lamp", "table", "bed", "chairs");
            assert_eq!(answer_form(&q), want, "{}: {q}", t.id);
        }
    }

    #[test]
    fn answers_fit_their_forms() {
        use AnswerForm as F;
        for (form, answer, ok) in [
            (F::YesNo, "yes", true),
            (F::YesNo, "yes yes", false),
            (F::Count, "3", true),
            (F::Count, "12", true),
            (F::Count, "1.4 m", false),
            (F::Count, "above", false),
            (F::Count, "", false),
            (F::Length, "1.4 m", true),
            (F::Length, "0.80 m", true),
            (F::Length, "2m", true),
            (F::Length, "3 feet", true),
            (F::Length, "1.4", false),
            (F::Length, "lamp", false),
            (F::Length, "m", false),
            (F::Length, ".5 m", false),
            (F::Name, "bathtub", true),
            (F::Name, "left", true),
            (F::Name, "0.53 m", false),
            (F::Name, "no", false),
            (F::Name, "", false),
            (F::Place, "the lamp is on the floor, near the bed", true),
            (F::Place, "on the table", true),
            (F::Place, "bed", false),
            (F::Place, "the bed 2 m away", false),
            (F::Place, "no it is not", false),
            (F::Open, "nothing", true),
            (F::Open, "no", false),
            (F::Unknown, "", true),
        ] {
            assert_eq!(fits(form, answer), ok, "{form:?} {answer:?}");
        }
    }
}
