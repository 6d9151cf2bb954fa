//! The teacher-output cache of a distillation run (`OUT/teacher_cache/`): each training
//! scene's teacher outputs, computed once, written through temporary files and an index, and
//! read back by later steps, epochs and runs sharing the folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use super::{Distiller, last_patch_tokens};
use crate::data::SceneShard;
use crate::model::{ModelError, ViewBatch};
use crate::questions::Question;

/// The teacher's outputs for one training scene.
#[derive(Debug, Clone)]
pub struct TeacherTargets {
    /// Last-layer patch tokens [V, P, C_teacher].
    pub patch_tokens: Tensor,
    /// Predicted depth, metres [V, H, W].
    pub depth: Tensor,
    /// Detection logits [Q, classes + 1].
    pub det_logits: Tensor,
    /// Detection boxes [Q, 6] in the first camera's frame.
    pub det_boxes: Tensor,
    /// Teacher-forced answer logits of every question of the scene, stacked [Σ (La + 1), V].
    pub answer_logits: Tensor,
    /// (question, answer) → (first row, rows) in `answer_logits`.
    pub answers: HashMap<(String, String), (usize, usize)>,
}

#[derive(Serialize, Deserialize)]
struct CacheIndex {
    scene: String,
    /// (question, answer, first row, rows).
    answers: Vec<(String, String, usize, usize)>,
}

#[derive(Serialize, Deserialize, PartialEq)]
pub(super) struct CacheMeta {
    pub(super) teacher: String,
    pub(super) fingerprint: String,
}

pub(super) fn cache_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Checkpoint {
        path: path.to_path_buf(),
        problem: e.to_string(),
    }
}

impl Distiller {
    fn cache_paths(&self, key: &str) -> (PathBuf, PathBuf) {
        let stem = format!("{:016x}", crate::scene::stable_hash(key));
        (
            self.cache_dir.join(format!("{stem}.safetensors")),
            self.cache_dir.join(format!("{stem}.json")),
        )
    }

    /// Whether the scene `key` is in the cache.
    pub fn is_cached(&self, key: &str) -> bool {
        let (tensors, index) = self.cache_paths(key);
        tensors.is_file() && index.is_file()
    }

    /// The teacher's outputs for the training scene `key`: read from the cache, or computed
    /// (for all of `questions`, the scene's questions) and written to it.
    pub fn targets(
        &self,
        key: &str,
        shard: &SceneShard,
        questions: &[Question],
    ) -> Result<TeacherTargets, ModelError> {
        let (tensors_path, index_path) = self.cache_paths(key);
        if index_path.is_file() && tensors_path.is_file() {
            let t = self.read_cached(key, &tensors_path, &index_path)?;
            let size = shard.size as usize;
            if t.depth.dims() != [shard.views, size, size] {
                return Err(cache_err(
                    &tensors_path,
                    format!(
                        "cached for {:?} views, the dataset has {} of {size}²: a cache of another dataset? delete it",
                        t.depth.dims(),
                        shard.views
                    ),
                ));
            }
            return Ok(t);
        }
        let t = self.compute(shard, questions)?;
        let to = |x: &Tensor, dt: DType| x.to_dtype(dt);
        let tensors = HashMap::from([
            ("patch_tokens".to_string(), to(&t.patch_tokens, DType::F16)?),
            ("depth".to_string(), to(&t.depth, DType::F32)?),
            ("det_logits".to_string(), to(&t.det_logits, DType::F32)?),
            ("det_boxes".to_string(), to(&t.det_boxes, DType::F32)?),
            (
                "answer_logits".to_string(),
                to(&t.answer_logits, DType::F16)?,
            ),
        ]);
        // Temporary names carry the process id: runs sharing a cache never write into each
        // other's temporary files, and each rename replaces a whole file.
        let tmp_of = |p: &Path| {
            let mut t = p.as_os_str().to_owned();
            t.push(format!(".{}.tmp", std::process::id()));
            PathBuf::from(t)
        };
        let tmp = tmp_of(&tensors_path);
        candle_core::safetensors::save(&tensors, &tmp).map_err(|e| cache_err(&tmp, e))?;
        std::fs::rename(&tmp, &tensors_path).map_err(|e| cache_err(&tensors_path, e))?;
        let mut answers: Vec<(String, String, usize, usize)> = t
            .answers
            .iter()
            .map(|((q, a), (r, n))| (q.clone(), a.clone(), *r, *n))
            .collect();
        answers.sort_by_key(|x| x.2);
        let index = CacheIndex {
            scene: key.to_string(),
            answers,
        };
        let json = serde_json::to_vec(&index).map_err(|e| ModelError::Invalid(e.to_string()))?;
        // The index is written last: a kill before it leaves no index, so the scene is
        // computed again rather than read half-written.
        let tmp = tmp_of(&index_path);
        std::fs::write(&tmp, &json).map_err(|e| cache_err(&tmp, e))?;
        std::fs::rename(&tmp, &index_path).map_err(|e| cache_err(&index_path, e))?;
        Ok(t)
    }

    fn read_cached(
        &self,
        key: &str,
        tensors_path: &Path,
        index_path: &Path,
    ) -> Result<TeacherTargets, ModelError> {
        let index: CacheIndex = crate::scene::read_json(index_path, 256 << 20)?;
        if index.scene != key {
            return Err(cache_err(
                index_path,
                format!("holds scene {:?}, expected {key:?}", index.scene),
            ));
        }
        let mut tensors = candle_core::safetensors::load(tensors_path, &self.device)
            .map_err(|e| cache_err(tensors_path, format!("unreadable teacher cache: {e}")))?;
        let mut take = |name: &str, rank: usize| -> Result<Tensor, ModelError> {
            let t = tensors
                .remove(name)
                .ok_or_else(|| cache_err(tensors_path, format!("no tensor {name}")))?;
            if t.rank() != rank {
                return Err(cache_err(
                    tensors_path,
                    format!("{name} has shape {:?}, expected rank {rank}", t.dims()),
                ));
            }
            Ok(t.to_dtype(DType::F32)?)
        };
        let t = TeacherTargets {
            patch_tokens: take("patch_tokens", 3)?,
            depth: take("depth", 3)?,
            det_logits: take("det_logits", 2)?,
            det_boxes: take("det_boxes", 2)?,
            answer_logits: take("answer_logits", 2)?,
            answers: HashMap::new(),
        };
        let rows = t.answer_logits.dim(0)?;
        let mut answers = HashMap::new();
        for (q, a, r, n) in index.answers {
            if r + n > rows {
                return Err(cache_err(
                    index_path,
                    format!("answer rows {r}..{} beyond the {rows} cached", r + n),
                ));
            }
            answers.insert((q, a), (r, n));
        }
        Ok(TeacherTargets { answers, ..t })
    }

    /// Runs the teacher on one scene and all its questions.
    pub fn compute(
        &self,
        shard: &SceneShard,
        questions: &[Question],
    ) -> Result<TeacherTargets, ModelError> {
        let m = &self.teacher.model;
        let tok = &self.teacher.tokenizer;
        // One encoder run gives the patch tokens, depth and boxes, and the scene tokens the
        // answers are read from (patches, or an object teacher's object tokens).
        let scene = m.encode(&ViewBatch::from_shard(shard))?;
        let enc = &scene.encoder;
        let patch_tokens = last_patch_tokens(enc)?;
        let depth = m.depth_tensors(enc)?.depth.get(0)?;
        let det = m.detect_tensors(enc)?;
        let mut answers = HashMap::new();
        let mut examples = Vec::new();
        let mut row = 0;
        for q in questions {
            let k = (q.question.clone(), q.answer.clone());
            if answers.contains_key(&k) {
                continue;
            }
            let (qi, ai) = (tok.encode(&q.question)?, tok.encode(&q.answer)?);
            answers.insert(k, (row, ai.len() + 1));
            row += ai.len() + 1;
            examples.push((qi, ai));
        }
        let vocab = m.cfg.decoder.vocab_size;
        let answer_logits = if examples.is_empty() {
            Tensor::zeros((0, vocab), DType::F32, &self.device)?
        } else if m.cfg.scene_input == crate::model::config::SceneInput::Objects {
            // An object-token teacher answers through its object slots over the shard's
            // annotated objects (its privileged input), as it does in the app.
            m.scene_answer_logits(&scene, &examples, (tok.bos, tok.ans, tok.eos))?
                .0
        } else {
            let mut parts = Vec::new();
            // Chunks keep the teacher's activations small on scenes with many questions.
            for chunk in examples.chunks(32) {
                let (l, _) =
                    m.answer_logits(&scene.embeds, chunk, (tok.bos, tok.ans, tok.eos, tok.pad))?;
                parts.push(l);
            }
            Tensor::cat(&parts, 0)?
        };
        Ok(TeacherTargets {
            patch_tokens: patch_tokens.detach(),
            depth: depth.detach(),
            det_logits: det.logits.get(0)?.detach(),
            det_boxes: det.boxes.get(0)?.detach(),
            answer_logits: answer_logits.detach(),
            answers,
        })
    }
}
