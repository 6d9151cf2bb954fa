//! Question files: JSONL, one `{"scene", "question", "answer", "category"}` object per line
//! (optional `template`, `held_out`, `objects`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Question;
use crate::scene::{SceneError, for_each_line, write_atomic};

/// Reads a JSONL question file, streamed line by line (memory bounded by the longest line, at
/// most 16 MiB). Blank lines are skipped; any other line that is not a valid question is an
/// error naming the file and line.
pub fn read_jsonl(path: &Path) -> Result<Vec<Question>, SceneError> {
    let mut out = Vec::new();
    for_each_line(path, |n, line| {
        let q: Question = serde_json::from_str(line)
            .map_err(|e| SceneError::invalid(path, format!("line {n}: {e}")))?;
        for (field, value) in [
            ("scene", &q.scene),
            ("question", &q.question),
            ("answer", &q.answer),
        ] {
            if value.trim().is_empty() {
                return Err(SceneError::invalid(
                    path,
                    format!("line {n}: empty \"{field}\""),
                ));
            }
        }
        out.push(q);
        Ok(())
    })?;
    Ok(out)
}

/// One line of a teacher-answers file (`spatia distill --teacher-answers`): the teacher's answer
/// to a question about a scene, optionally its per-token logits over the shared vocabulary
/// (rows of equal width), and the student's answer when the line records a disagreement (as
/// the viewer's diagnostics export writes them). One type writes and reads the format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeacherAnswerLine {
    /// The scene's name.
    pub scene: String,
    /// The question text.
    pub question: String,
    /// The teacher's answer.
    pub answer: String,
    /// The student's answer, where the two disagreed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_answer: Option<String>,
    /// The teacher's logits per answer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logits: Option<Vec<Vec<f32>>>,
}

/// Writes questions as JSONL, atomically (a temporary file renamed into place).
pub fn write_jsonl(path: &Path, questions: &[Question]) -> Result<(), SceneError> {
    let mut buf = Vec::new();
    for q in questions {
        serde_json::to_writer(&mut buf, q)
            .map_err(|e| SceneError::invalid(path, format!("cannot encode a question: {e}")))?;
        buf.push(b'\n');
    }
    write_atomic(path, &buf)
}
