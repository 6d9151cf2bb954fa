//! What kind of answer a question's English form asks for, read from its grammar rather than
//! from the templates: a polar question (subject-auxiliary inversion: "Is the cup on the
//! table?", "Would you say …?", "Does …?") is answered yes or no, unless it offers a choice
//! ("Is the pillow above or below the picture?") or embeds a wh-question ("Can you tell me where
//! the lamp is?"). An open question has a wh-word, offers a choice, or opens with an imperative
//! ("Describe where the lamp is."); anything else ("The cup is on the table?") is left to the
//! model. The app answers a polar question with the decoder's choice between yes and no, and an
//! open one with its best answer that is neither yes, no nor empty (`model::LoadedModel::answer`):
//! a decoder that has not met a wording may otherwise answer "1.5 m" to "Would you say the
//! painting is a short distance from the cabinet?" and "no" to "Which object lies at the
//! greatest distance from the cupboard?".

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

/// What kind of answer a question's form asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerForm {
    /// Yes or no: a polar question.
    YesNo,
    /// Anything but yes or no: a wh-question, a choice, or an imperative.
    Open,
    /// The form does not say (a declarative question, an empty one).
    Unknown,
}

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
    let inverted = AUXILIARIES.contains(&first) || CONTRACTED.contains(&first);
    let open = words
        .iter()
        .any(|w| w == "or" || WH_WORDS.contains(&w.as_str()));
    if inverted && !open {
        AnswerForm::YesNo
    } else if open || IMPERATIVES.contains(&first) {
        AnswerForm::Open
    } else {
        AnswerForm::Unknown
    }
}

/// Whether `question` asks for yes or no ([module docs](self)): its first word is an auxiliary,
/// and it offers no choice ("or") and embeds no wh-word.
pub fn expects_yes_no(question: &str) -> bool {
    answer_form(question) == AnswerForm::YesNo
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
        for (q, form) in [
            (
                "Is the pillow above or below the picture?",
                AnswerForm::Open,
            ),
            ("Can you tell me where the lamp is?", AnswerForm::Open),
            (
                "Which object lies at the greatest distance from the cupboard?",
                AnswerForm::Open,
            ),
            (
                "Roughly how much space separates the desk from the window?",
                AnswerForm::Open,
            ),
            (
                "Explain the position of the wastebasket in the room.",
                AnswerForm::Open,
            ),
            ("Describe where the lamp is.", AnswerForm::Open),
            ("Is the cup on the table?", AnswerForm::YesNo),
            ("The cup is on the table?", AnswerForm::Unknown),
            ("Island kitchens are big?", AnswerForm::Unknown),
            ("", AnswerForm::Unknown),
        ] {
            assert_eq!(answer_form(q), form, "{q}");
        }
    }
}
