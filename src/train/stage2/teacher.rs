//! Hidden CoT distillation in stage 2 (`spatia train decoder --teacher DIR`): a frozen object
//! teacher reads the ground-truth objects of every training scene and answers the same
//! questions; the student's latents, projected to the teacher's width, learn to hold what the
//! teacher's latents hold (`latent_match`), and its answer rows follow the teacher's
//! distribution (`answer_kl`). The student still reads the objects it finds itself.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::Device;
use candle_nn::{Linear, VarMap};

use super::cache::TokenCache;
use super::loss::{Specials, TeacherTarget, teacher_targets};
use crate::data::{Dataset, Split};
use crate::model::config::SceneInput;
use crate::model::{ModelConfig, ModelError, SpatiaTokenizer, SpatialVlm};

/// Name of the projection's weights in a checkpoint folder (kept out of the student's model
/// file, which stays loadable as a model).
pub const PROJECTION_FILE: &str = "latent_projection.safetensors";

/// Prefix of the projection's variables (in the optimiser's state).
pub const PROJECTION_PREFIX: &str = "latent_projection";

/// The student's projection from its hidden width to the teacher's, trained with the decoder
/// and saved beside its checkpoint.
pub struct LatentProjection {
    varmap: VarMap,
    /// Student hidden → teacher hidden.
    pub linear: Linear,
}

impl LatentProjection {
    /// A fresh projection from the student's width to the teacher's, seeded with `seed`.
    pub fn new(
        student_cfg: &ModelConfig,
        teacher_cfg: &ModelConfig,
        seed: u64,
        device: &Device,
    ) -> Result<LatentProjection, ModelError> {
        let varmap = VarMap::new();
        let vb = crate::model::nn::seeded_var_builder(&varmap, seed ^ 0x7EAC_0E12, device);
        let linear = crate::model::nn::linear(
            student_cfg.decoder.hidden_size,
            teacher_cfg.decoder.hidden_size,
            vb.pp(PROJECTION_PREFIX),
        )?;
        Ok(LatentProjection { varmap, linear })
    }

    /// Its variables by name, for the optimiser.
    pub fn vars(&self) -> Result<Vec<(String, candle_core::Var)>, ModelError> {
        crate::train::optim::named_vars(&self.varmap, |_| true)
    }

    /// Saves it into the checkpoint folder `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        let path = dir.join(PROJECTION_FILE);
        self.varmap.save(&path).map_err(|e| ModelError::Checkpoint {
            path,
            problem: e.to_string(),
        })
    }

    /// Reads it back from the checkpoint folder `dir`.
    pub fn restore(&mut self, dir: &Path) -> Result<(), ModelError> {
        let path = dir.join(PROJECTION_FILE);
        if !path.is_file() {
            return Err(ModelError::Checkpoint {
                path,
                problem: "missing: this run was started without --teacher; resume it the way \
                          it was started"
                    .into(),
            });
        }
        self.varmap.load(&path).map_err(|e| ModelError::Checkpoint {
            path,
            problem: e.to_string(),
        })
    }
}

/// The configuration of the teacher folder `dir`, refused unless a student of `student_cfg`
/// can match its latents: object input, the same number of latents and object slots, the same
/// vocabulary.
pub fn check_teacher(dir: &Path, student_cfg: &ModelConfig) -> Result<ModelConfig, ModelError> {
    let cfg = crate::model::checkpoint::read_config(dir)?;
    let refuse = |problem: String| ModelError::Checkpoint {
        path: dir.to_path_buf(),
        problem,
    };
    if cfg.scene_input != SceneInput::Objects {
        return Err(refuse(
            "the teacher must read object tokens (scene_input: objects)".into(),
        ));
    }
    if cfg.hidden_cot_tokens != student_cfg.hidden_cot_tokens
        || cfg.object_slots != student_cfg.object_slots
    {
        return Err(refuse(format!(
            "the teacher has {} latents and {} object slots, the student {} and {}: their \
             latents cannot be matched",
            cfg.hidden_cot_tokens,
            cfg.object_slots,
            student_cfg.hidden_cot_tokens,
            student_cfg.object_slots
        )));
    }
    if cfg.decoder.vocab_size != student_cfg.decoder.vocab_size {
        return Err(refuse(format!(
            "the teacher's vocabulary has {} tokens, the student's {}",
            cfg.decoder.vocab_size, student_cfg.decoder.vocab_size
        )));
    }
    Ok(cfg)
}

/// The frozen teacher and its view of the training questions.
pub struct TeacherSide {
    /// The teacher.
    pub model: SpatialVlm,
    /// Its tokenizer.
    pub tokenizer: SpatiaTokenizer,
    /// The training scenes with their ground-truth objects, and their questions.
    pub cache: TokenCache,
    /// For each student question (index into the student's cache), the same question in
    /// `cache` (`None` when the teacher has no such scene or question).
    pub map: Vec<Option<usize>>,
}

impl TeacherSide {
    /// Loads the teacher folder `dir` (checked with [`check_teacher`] first), reads the
    /// training split with ground-truth objects and maps `student`'s questions onto it;
    /// refuses a teacher that shares no question with the student (another tokenizer).
    pub fn load(
        dir: &Path,
        student: &TokenCache,
        dataset: &Dataset,
        max_scenes: Option<usize>,
        device: &Device,
    ) -> Result<TeacherSide, ModelError> {
        let loaded = crate::model::checkpoint::load_model(dir, device)?;
        let cache = TokenCache::build(
            dataset,
            Split::Train,
            &loaded.tokenizer,
            max_scenes,
            |_, _| {},
        )?;
        let map = question_map(student, &cache);
        if !map.iter().any(Option::is_some) {
            return Err(ModelError::Checkpoint {
                path: dir.join("tokenizer.json"),
                problem: "the teacher reads none of the student's questions the same way \
                          (another tokenizer?)"
                    .into(),
            });
        }
        Ok(TeacherSide {
            model: loaded.model,
            tokenizer: loaded.tokenizer,
            cache,
            map,
        })
    }

    /// The teacher's targets of the student questions `batch` (those it has), by index.
    pub fn targets(&self, batch: &[usize]) -> Result<BTreeMap<usize, TeacherTarget>, ModelError> {
        let mut wanted: Vec<usize> = batch.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let pairs: Vec<(usize, usize)> = wanted
            .iter()
            .filter_map(|&i| self.map.get(i).copied().flatten().map(|t| (i, t)))
            .collect();
        if pairs.is_empty() {
            return Ok(BTreeMap::new());
        }
        let teacher_batch: Vec<usize> = pairs.iter().map(|&(_, t)| t).collect();
        // The teacher reads the questions as written (no word noise).
        let targets = teacher_targets(
            &self.model,
            &self.cache,
            &teacher_batch,
            Specials::of(&self.tokenizer),
        )?;
        Ok(pairs.iter().map(|&(i, _)| i).zip(targets).collect())
    }
}

/// For each question of `student`, the index of the same question (same scene, same place
/// among that scene's questions, same words) in `teacher`.
pub fn question_map(student: &TokenCache, teacher: &TokenCache) -> Vec<Option<usize>> {
    let mut by_scene: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, q) in teacher.questions.iter().enumerate() {
        by_scene
            .entry(teacher.scenes[q.scene].key.as_str())
            .or_default()
            .push(i);
    }
    let mut seen: HashMap<usize, usize> = HashMap::new();
    student
        .questions
        .iter()
        .map(|q| {
            let ordinal = seen.entry(q.scene).or_insert(0);
            let at = *ordinal;
            *ordinal += 1;
            let list = by_scene.get(student.scenes[q.scene].key.as_str())?;
            let t = *list.get(at)?;
            let tq = &teacher.questions[t];
            (tq.question == q.question && tq.answer == q.answer).then_some(t)
        })
        .collect()
}
