//! Teacher answers produced elsewhere (a JSONL file of `questions::jsonl::TeacherAnswerLine`),
//! read for `spatia distill --teacher-answers`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::scene::SceneError;

/// One answer from a teacher-answers file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileAnswer {
    /// The teacher's answer.
    pub answer: String,
    /// Optional logits: one row per answer token and a last one for `<eos>`, each over the
    /// student's vocabulary.
    pub logits: Option<Vec<Vec<f32>>>,
    /// Line in the file (1-based), for messages.
    pub line: usize,
}

/// Teacher answers produced elsewhere (e.g. by LLaVA-3D), keyed by (scene, question).
#[derive(Debug, Clone)]
pub struct TeacherAnswers {
    /// The file.
    pub path: PathBuf,
    map: HashMap<(String, String), FileAnswer>,
}

impl TeacherAnswers {
    /// Reads a JSONL file; a malformed line, ragged or non-finite logits give an error naming
    /// the file and line.
    pub fn read(path: &Path) -> Result<TeacherAnswers, SceneError> {
        let mut map = HashMap::new();
        crate::scene::for_each_line(path, |n, line| {
            let bad = |m: String| SceneError::invalid(path, format!("line {n}: {m}"));
            let l: crate::questions::jsonl::TeacherAnswerLine =
                serde_json::from_str(line).map_err(|e| bad(format!("malformed answer: {e}")))?;
            if let Some(rows) = &l.logits {
                let width = rows.first().map_or(0, Vec::len);
                if rows.is_empty() || width == 0 || rows.iter().any(|r| r.len() != width) {
                    return Err(bad(
                        "logits must be a non-empty list of equal-length rows".into()
                    ));
                }
                if rows.iter().flatten().any(|v| !v.is_finite()) {
                    return Err(bad("logits contain NaN or infinity".into()));
                }
            }
            map.insert(
                (l.scene, l.question),
                FileAnswer {
                    answer: l.answer,
                    logits: l.logits,
                    line: n,
                },
            );
            Ok(())
        })?;
        Ok(TeacherAnswers {
            path: path.to_path_buf(),
            map,
        })
    }

    /// The teacher's answer to `question` about `scene`.
    pub fn get(&self, scene: &str, question: &str) -> Option<&FileAnswer> {
        self.map.get(&(scene.to_string(), question.to_string()))
    }

    /// Answers in the file.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the file had no answers.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
