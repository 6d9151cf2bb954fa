//! Question files: JSONL, one `{"scene", "question", "answer", "category"}` object per line
//! (optional `template`, `held_out`, `objects`).

use std::io::Write;
use std::path::Path;

use super::Question;
use crate::scene::{SceneError, read_file_limited};

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

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SceneError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp).map_err(|e| SceneError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| SceneError::io(&tmp, e))?;
    f.sync_all().map_err(|e| SceneError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| SceneError::io(path, e))
}
