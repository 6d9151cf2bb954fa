//! Question files: JSONL, one `{"scene", "question", "answer", "category"}` object per line
//! (optional `template`, `held_out`, `objects`).

use std::path::Path;

use super::Question;
use crate::scene::{SceneError, read_file_limited, write_atomic};

/// Largest question file read, bytes.
pub const MAX_JSONL_BYTES: u64 = 512 << 20;

/// Reads a JSONL question file. Blank lines are skipped; any other line that is not a valid
/// question is an error naming the file and line.
pub fn read_jsonl(path: &Path) -> Result<Vec<Question>, SceneError> {
    let bytes = read_file_limited(path, MAX_JSONL_BYTES)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| SceneError::invalid(path, format!("not UTF-8: {e}")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let q: Question = serde_json::from_str(line)
            .map_err(|e| SceneError::invalid(path, format!("line {}: {e}", i + 1)))?;
        for (field, value) in [
            ("scene", &q.scene),
            ("question", &q.question),
            ("answer", &q.answer),
        ] {
            if value.trim().is_empty() {
                return Err(SceneError::invalid(
                    path,
                    format!("line {}: empty \"{field}\"", i + 1),
                ));
            }
        }
        out.push(q);
    }
    Ok(out)
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
