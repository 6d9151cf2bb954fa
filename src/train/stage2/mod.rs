//! Stage 2 of the staged recipe (docs/TRAINING.md): the decoder side — object embedder,
//! decoder, Hidden CoT latents and their probes — trained on scene tokens computed once per
//! scene (`cache.rs`), with many questions from many scenes in every step, categories balanced,
//! the loss averaged per question (`loss.rs`). `spatia train decoder` runs it; with `blind` it
//! trains the same model with the scene hidden, the baseline the answers must beat.

pub mod cache;
pub mod loss;
pub mod noise;
pub mod teacher;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::Device;
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use self::cache::TokenCache;
use self::loss::{Distillation, Specials, distilled_stage2_losses};
use self::teacher::{LatentProjection, PROJECTION_FILE, TeacherSide, check_teacher};
use super::optim::{AdamW, learning_rate};
use super::run_loop::{
    Schedule, StageState, StepReport, TrainStage, apply_update, restore_stage,
    write_stage_checkpoint_with,
};
use super::trainer::checkpoint_dir;
use crate::data::{Dataset, Split};
use crate::model::config::{ObjectSource, SceneInput};
use crate::model::{ModelConfig, ModelError, SpatiaTokenizer, SpatialVlm};

/// Stage-2 settings (saved with every checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecoderTrainConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Warmup steps.
    pub warmup: usize,
    /// Final learning rate as a share of the peak.
    pub min_lr_ratio: f64,
    /// AdamW weight decay (not on norms, embeddings or biases: see `optim`).
    pub weight_decay: f64,
    /// Gradient-norm clip.
    pub grad_clip: f64,
    /// Questions per step, drawn from many scenes, categories in turn.
    pub questions_per_step: usize,
    /// Weight of the probe terms against the answer term.
    pub probe_weight: f64,
    /// Hide the scene (the blind baseline).
    pub blind: bool,
    /// Training scenes read (all when `None`).
    pub max_scenes: Option<usize>,
    /// Categories trained on (all when empty).
    #[serde(default)]
    pub categories: Vec<crate::questions::QuestionCategory>,
    /// Curriculum: the first this many steps draw only direct wordings ("near", "touching"),
    /// not the negated ones ("far apart", "a gap"), whose answers are the fact's opposite.
    #[serde(default)]
    pub direct_first_steps: usize,
    /// Word dropout: the probability that a training question's token is replaced by a random
    /// ordinary token (`noise::WordNoise`), so that unseen words in a question do not derail
    /// the answer; 0 leaves the questions as written.
    #[serde(default)]
    pub word_noise: f32,
    /// Paraphrase rewording: the probability that a training question is asked, this step, in
    /// another training wording of its kind drawn uniformly (`questions::reword`), so every
    /// paraphrase meets every scene; 0 leaves the questions as the data set worded them.
    #[serde(default)]
    pub reword: f32,
    /// Evaluate on the validation split every this many steps (0: never).
    pub eval_every: usize,
    /// Validation scenes per evaluation.
    pub eval_scenes: usize,
    /// Checkpoint every this many steps.
    pub checkpoint_every: usize,
    /// Log every this many steps.
    pub log_every: usize,
    /// Seed of initialisation and sampling.
    pub seed: u64,
    /// A model folder whose encoder, depth head and detection head start this model (stage 2
    /// leaves them as they are); `None`: freshly initialised.
    #[serde(default)]
    pub init: Option<std::path::PathBuf>,
    /// A model folder of the same architecture whose decoder side (decoder, Hidden CoT latents
    /// and probes, object embedder) starts this model, to go on training a trained decoder on
    /// a new perception (`--init`); `None`: freshly initialised, class embeddings tied to the
    /// words.
    #[serde(default)]
    pub init_decoder: Option<std::path::PathBuf>,
    /// An object teacher's model folder for Hidden CoT distillation (`teacher.rs`): the
    /// student's latents learn to hold what the teacher's hold, its answers to follow the
    /// teacher's; `None`: no teacher.
    #[serde(default)]
    pub teacher: Option<std::path::PathBuf>,
    /// Weight of `latent_match` (with a teacher).
    #[serde(default = "default_latent_match_weight")]
    pub latent_match_weight: f64,
    /// Weight of `answer_kl` (with a teacher).
    #[serde(default = "default_answer_kl_weight")]
    pub answer_kl_weight: f64,
    /// The object student only: the share of each step's questions asked over the annotated
    /// objects (true categories and depth, what the teacher reads) instead of the objects the
    /// student finds, so that the decoder also learns its relations on exact boxes; 0: none.
    #[serde(default)]
    pub annotated_share: f64,
    /// The object student only: another run's `found_objects.json` over the same perception
    /// (`--found-objects`), read instead of finding the objects again; the first scene is found
    /// again and must agree, or the run is refused.
    #[serde(default)]
    pub found_objects: Option<std::path::PathBuf>,
}

fn default_latent_match_weight() -> f64 {
    0.1
}

fn default_answer_kl_weight() -> f64 {
    0.5
}

impl Default for DecoderTrainConfig {
    fn default() -> Self {
        Self {
            steps: 2000,
            lr: 1e-3,
            warmup: 50,
            min_lr_ratio: 0.05,
            weight_decay: 0.01,
            grad_clip: 1.0,
            questions_per_step: 128,
            probe_weight: 0.5,
            blind: false,
            max_scenes: None,
            categories: Vec::new(),
            direct_first_steps: 0,
            word_noise: 0.0,
            reword: 0.0,
            eval_every: 0,
            eval_scenes: 40,
            checkpoint_every: 100,
            log_every: 10,
            seed: 0,
            init: None,
            init_decoder: None,
            teacher: None,
            latent_match_weight: default_latent_match_weight(),
            answer_kl_weight: default_answer_kl_weight(),
            annotated_share: 0.0,
            found_objects: None,
        }
    }
}

/// The decoder of an object-input model being trained on cached object tokens.
pub struct DecoderTrainer {
    /// Settings.
    pub config: DecoderTrainConfig,
    /// The model's configuration.
    pub model_cfg: ModelConfig,
    varmap: VarMap,
    model: SpatialVlm,
    /// Its tokenizer.
    pub tokenizer: SpatiaTokenizer,
    opt: AdamW,
    /// The training scenes and questions.
    pub cache: TokenCache,
    dataset: Dataset,
    out: PathBuf,
    /// Steps done.
    pub step: usize,
    /// With `--teacher`: the student's projection to the teacher's width…
    projection: Option<LatentProjection>,
    /// …and the teacher with its view of the questions.
    teacher: Option<TeacherSide>,
    /// With `annotated_share`: the training questions over the annotated objects, and for each
    /// of this cache's questions the same question there.
    annotated: Option<(TokenCache, Vec<Option<usize>>)>,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Checkpoint {
        path: path.to_path_buf(),
        problem: e.to_string(),
    }
}

impl DecoderTrainer {
    /// A new model (or the one in `out/checkpoint` with `resume`), the training split read into
    /// a [`TokenCache`] (`progress(done, total)` per scene). The model must read object tokens.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model_cfg: ModelConfig,
        tokenizer: SpatiaTokenizer,
        config: DecoderTrainConfig,
        dataset: Dataset,
        out: &Path,
        resume: bool,
        device: &Device,
        progress: impl FnMut(usize, usize),
    ) -> Result<DecoderTrainer, ModelError> {
        if model_cfg.scene_input != SceneInput::Objects {
            return Err(ModelError::Invalid(
                "stage 2 trains models that read object tokens (scene_input: objects)".into(),
            ));
        }
        if config.teacher.is_some() && config.blind {
            return Err(ModelError::Invalid(
                "a blind run has no scene to distil: --teacher and --blind exclude each other"
                    .into(),
            ));
        }
        for (name, w) in [
            ("--latent-match", config.latent_match_weight),
            ("--answer-kl", config.answer_kl_weight),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(ModelError::Invalid(format!(
                    "{name} {w}: a weight must be a number from 0 up"
                )));
            }
        }
        if !(0.0..=1.0).contains(&config.annotated_share) {
            return Err(ModelError::Invalid(format!(
                "--annotated-share {}: a share must lie in 0..1",
                config.annotated_share
            )));
        }
        if config.annotated_share > 0.0 && model_cfg.object_source != ObjectSource::Predicted {
            return Err(ModelError::Invalid(
                "--annotated-share is for the object student (--student): the teacher reads \
                 the annotated objects already"
                    .into(),
            ));
        }
        if !(0.0..=1.0).contains(&config.reword) {
            return Err(ModelError::Invalid(format!(
                "--reword {}: a probability must lie in 0..1",
                config.reword
            )));
        }
        if !(0.0..1.0).contains(&config.word_noise) {
            return Err(ModelError::Invalid(format!(
                "word noise {} is not a probability below 1",
                config.word_noise
            )));
        }
        std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
        let ckpt = checkpoint_dir(out);
        if resume && ckpt.is_none() {
            return Err(ModelError::Checkpoint {
                path: out.join("checkpoint"),
                problem: "nothing to resume: no checkpoint here (start without --resume, or \
                          use --resume-or-start)"
                    .into(),
            });
        }
        let varmap = VarMap::new();
        let vb = crate::model::nn::seeded_var_builder(&varmap, config.seed, device);
        let model = SpatialVlm::new(&model_cfg, vb)?;
        // Only what stage 2 trains: the encoder, depth and detection heads and the patch
        // projector stay as they are.
        let mut named = super::optim::named_vars(&varmap, is_stage2_var)?;
        let projection = match &config.teacher {
            Some(dir) => {
                let teacher_cfg = check_teacher(dir, &model_cfg)?;
                Some(LatentProjection::new(
                    &model_cfg,
                    &teacher_cfg,
                    config.seed,
                    device,
                )?)
            }
            None => None,
        };
        if let Some(p) = &projection {
            named.extend(p.vars()?);
        }
        let opt = AdamW::new(named, config.weight_decay)?;
        let mut t = DecoderTrainer {
            config,
            model_cfg,
            varmap,
            model,
            tokenizer,
            opt,
            cache: TokenCache::default(),
            dataset,
            out: out.to_path_buf(),
            step: 0,
            projection,
            teacher: None,
            annotated: None,
        };
        match (resume, ckpt) {
            (true, Some(dir)) => t.restore(&dir, device)?,
            _ => {
                if let Some(init) = t.config.init.clone() {
                    copy_perception(&t.varmap, &init, device)?;
                }
                match t.config.init_decoder.clone() {
                    Some(dir) => copy_vars(&t.varmap, &dir, &STAGE2, "decoder", device)?,
                    None => t.tie_class_embeddings()?,
                }
                // A new run's perception may differ from the last one's here.
                let stale = t.out.join(FOUND_OBJECTS_FILE);
                if stale.exists() {
                    std::fs::remove_file(&stale).map_err(|e| io_err(&stale, e))?;
                }
            }
        }
        // After the perception is in place: a student's objects are those it finds.
        t.cache = match t.model_cfg.object_source {
            ObjectSource::Annotated => TokenCache::build(
                &t.dataset,
                Split::Train,
                &t.tokenizer,
                t.config.max_scenes,
                progress,
            )?,
            ObjectSource::Predicted => {
                // The perception is frozen in stage 2, so what it finds in each scene is
                // computed once per run folder and read back on resume.
                let path = t.out.join(FOUND_OBJECTS_FILE);
                let mut found = read_found_objects(&path);
                // Counted before borrowing, so that borrowed objects are written here too.
                let before = found.len();
                if found.is_empty()
                    && let Some(other) = t.config.found_objects.clone()
                {
                    found = borrowed_found_objects(&t.model, &t.dataset, &other)?;
                }
                let model = &t.model;
                let cache = TokenCache::build_with(
                    &t.dataset,
                    Split::Train,
                    &t.tokenizer,
                    t.config.max_scenes,
                    progress,
                    |shard| {
                        if let Some(objects) = found.get(&shard.scene) {
                            return Ok(objects.clone());
                        }
                        let objects = find_objects(model, shard)?;
                        found.insert(shard.scene.clone(), objects.clone());
                        Ok(objects)
                    },
                )?;
                if found.len() != before {
                    let json = serde_json::to_vec(&found)
                        .map_err(|e| ModelError::Invalid(e.to_string()))?;
                    crate::scene::write_atomic(&path, &json).map_err(ModelError::from)?;
                }
                cache
            }
        };
        let (config, mut cache) = (&t.config, std::mem::take(&mut t.cache));
        if !config.categories.is_empty() {
            cache
                .by_category
                .retain(|(c, _)| config.categories.contains(c));
        }
        if cache.by_category.is_empty() {
            return Err(ModelError::Invalid(format!(
                "{}: no training questions (of the categories asked for)",
                t.dataset.root.display()
            )));
        }
        t.cache = cache;
        if t.config.annotated_share > 0.0 {
            let annotated = TokenCache::build(
                &t.dataset,
                Split::Train,
                &t.tokenizer,
                t.config.max_scenes,
                |_, _| {},
            )?;
            let map = teacher::question_map(&t.cache, &annotated);
            t.annotated = Some((annotated, map));
        }
        if let Some(dir) = t.config.teacher.clone() {
            t.teacher = Some(TeacherSide::load(
                &dir,
                &t.cache,
                &t.dataset,
                t.config.max_scenes,
                device,
            )?);
        }
        Ok(t)
    }

    /// Starts each category's embedding at the mean embedding of the words of its name, so
    /// that the question's words and the objects' tokens start out alike.
    fn tie_class_embeddings(&self) -> Result<(), ModelError> {
        let Some(embedder) = self.model.object_embedder() else {
            return Ok(());
        };
        let table = embedder.class_table();
        let mut rows = Vec::new();
        for c in crate::scene::Category::ALL {
            let ids = self.tokenizer.encode(c.name())?;
            let e = self
                .model
                .decoder()
                .embed(&candle_core::Tensor::new(ids.as_slice(), table.device())?.unsqueeze(0)?)?
                .squeeze(0)?
                .mean(0)?;
            rows.push(e);
        }
        let tied = candle_core::Tensor::stack(&rows, 0)?;
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| ModelError::Invalid("variable map poisoned".into()))?;
        if let Some(var) = data.get("objects.class_embed.weight") {
            var.set(&tied)?;
        }
        Ok(())
    }

    fn restore(&mut self, dir: &Path, device: &Device) -> Result<(), ModelError> {
        let saved_projection = dir.join(PROJECTION_FILE);
        if self.projection.is_none() && saved_projection.is_file() {
            return Err(ModelError::Checkpoint {
                path: saved_projection,
                problem: "this run was started with --teacher; resume it with the same teacher"
                    .into(),
            });
        }
        if let Some(p) = &mut self.projection {
            p.restore(dir)?;
        }
        let state: StageState<DecoderTrainConfig> =
            restore_stage(dir, &self.varmap, &mut self.opt, &self.model_cfg, device)?;
        if state.config.teacher != self.config.teacher {
            return Err(ModelError::Checkpoint {
                path: dir.join("trainer_state.json"),
                problem: format!(
                    "this run was started with teacher {:?}, not {:?}; resume it the way it \
                     was started",
                    state.config.teacher, self.config.teacher
                ),
            });
        }
        self.step = state.step;
        // The step count given now replaces the saved one, and so do a word noise and a
        // rewording given now (fine-tuning a finished run with them); without, the saved ones
        // stay.
        let (steps, noise, reword) = (
            self.config.steps,
            self.config.word_noise,
            self.config.reword,
        );
        self.config = DecoderTrainConfig {
            steps,
            word_noise: if noise > 0.0 {
                noise
            } else {
                state.config.word_noise
            },
            reword: if reword > 0.0 {
                reword
            } else {
                state.config.reword
            },
            ..state.config
        };
        Ok(())
    }

    /// The model being trained.
    pub fn model(&self) -> &SpatialVlm {
        &self.model
    }

    /// The questions of step `step` (indices into [`Self::cache`]), categories balanced.
    pub fn step_batch(&self, step: usize) -> Vec<usize> {
        self.cache.sample(
            self.config.questions_per_step,
            self.config.seed,
            step,
            step < self.config.direct_first_steps,
        )
    }

    /// With `annotated_share`, step `step`'s questions `batch` as a cache of their own
    /// (questions `0..n` in batch order): a seeded share of them over the annotated objects of
    /// their scenes, the rest over the objects the student finds; `None` without it.
    pub fn annotated_view(&self, step: usize, batch: &[usize]) -> Option<TokenCache> {
        let (annotated, map) = self.annotated.as_ref()?;
        let picks = annotated_picks(batch, map, &self.config, step);
        Some(TokenCache::gather(&[&self.cache, annotated], &picks))
    }

    /// Rewords step `step`'s own cache `step_cache` (`config.reword`): each rewordable question,
    /// with that probability, gets a training wording of its kind drawn uniformly, the same for
    /// the same seed, step and position (so a resumed run continues exactly).
    pub fn reword_step(&self, step_cache: &mut TokenCache, step: usize) -> Result<(), ModelError> {
        let key = noise::mix(self.config.seed ^ noise::mix(0x5E3D ^ step as u64));
        for (pos, q) in step_cache.questions.iter_mut().enumerate() {
            let Some(r) = &q.rewordable else { continue };
            let h = noise::mix(key ^ pos as u64);
            let u = (h >> 11) as f64 / (1u64 << 53) as f64;
            if u >= f64::from(self.config.reword) {
                continue;
            }
            // `wording` takes the pick modulo the kind's training wordings.
            if let Some(text) = r.wording(noise::mix(h) as usize) {
                q.question = self.tokenizer.encode(&text)?;
            }
        }
        Ok(())
    }

    /// The named loss terms of step `step`'s batch (no update).
    pub fn losses_at(
        &self,
        step: usize,
    ) -> Result<(candle_core::Tensor, BTreeMap<String, candle_core::Tensor>), ModelError> {
        let batch = self.step_batch(step);
        let specials = Specials {
            noise: noise::WordNoise::at_step(
                self.config.word_noise,
                self.config.seed,
                step,
                first_ordinary_id(&self.tokenizer),
                self.tokenizer.vocab_size() as u32,
            ),
            ..Specials::of(&self.tokenizer)
        };
        let mut targets = match &self.teacher {
            Some(teacher) => Some(teacher.targets(&batch)?),
            None => None,
        };
        // A share of the questions over the annotated objects, or reworded questions: the
        // step's own cache, whose questions 0..n are the batch's in order (the teacher's targets
        // follow them; the teacher reads the questions as the data set worded them).
        let mut gathered = self.annotated_view(step, &batch);
        if self.config.reword > 0.0 {
            let mut own = gathered.take().unwrap_or_else(|| {
                let picks: Vec<(usize, usize)> = batch.iter().map(|&i| (0, i)).collect();
                TokenCache::gather(&[&self.cache], &picks)
            });
            self.reword_step(&mut own, step)?;
            gathered = Some(own);
        }
        if let (Some(t), Some(_)) = (&mut targets, &gathered) {
            *t = batch
                .iter()
                .enumerate()
                .filter_map(|(pos, i)| t.get(i).map(|x| (pos, x.clone())))
                .collect();
        }
        let (cache, batch) = match &gathered {
            Some(g) => (g, (0..g.questions.len()).collect()),
            None => (&self.cache, batch),
        };
        let distill = match (&targets, &self.projection) {
            (Some(targets), Some(p)) => Some(Distillation {
                targets,
                projection: &p.linear,
                latent_weight: self.config.latent_match_weight,
                kl_weight: self.config.answer_kl_weight,
            }),
            _ => None,
        };
        Ok(distilled_stage2_losses(
            &self.model,
            cache,
            &batch,
            specials,
            self.config.blind,
            self.config.probe_weight,
            distill.as_ref(),
        )?)
    }
}

/// For each question of `batch` (indices into the found-object cache), where step `step` reads
/// it from: `(1, j)`, the same question `j` over the annotated objects, for a seeded share
/// `config.annotated_share` of those that have one, else `(0, i)`.
fn annotated_picks(
    batch: &[usize],
    map: &[Option<usize>],
    config: &DecoderTrainConfig,
    step: usize,
) -> Vec<(usize, usize)> {
    let key = noise::mix(config.seed ^ noise::mix(0xA11 ^ step as u64));
    batch
        .iter()
        .enumerate()
        .map(|(pos, &i)| {
            let u = (noise::mix(key ^ pos as u64) >> 11) as f64 / (1u64 << 53) as f64;
            match map.get(i).copied().flatten() {
                Some(j) if u < config.annotated_share => (1, j),
                _ => (0, i),
            }
        })
        .collect()
}

/// The first id after the special tokens (which the tokenizer gives the lowest ids).
fn first_ordinary_id(t: &SpatiaTokenizer) -> u32 {
    t.pad.max(t.bos).max(t.eos).max(t.ans) + 1
}

/// A student's found objects per scene (`OUT/found_objects.json`), written by its first stage-2
/// run and read back by the next (its perception does not change in stage 2).
pub const FOUND_OBJECTS_FILE: &str = "found_objects.json";

/// The found objects saved in `path`, by scene name; empty when there is no such file or it
/// cannot be read (they are then computed again).
fn read_found_objects(path: &Path) -> BTreeMap<String, Vec<crate::data::ObjectToken>> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// The objects a student's perception finds in a shard's views, labelled with the ids of the
/// annotated objects they match.
fn find_objects(
    model: &SpatialVlm,
    shard: &crate::data::SceneShard,
) -> Result<Vec<crate::data::ObjectToken>, ModelError> {
    let views = crate::model::ViewBatch::from_shard(shard);
    let (images, _) = model.view_tensors(&views)?;
    Ok(model.predicted_objects(&model.encode_tensors(&images, None)?, &views)?)
}

/// Another run's found objects (`--found-objects FILE`), checked against this perception on the
/// first training scene the file has: found again here, its objects must be the file's (same
/// categories, boxes within a millimetre), or the file belongs to another perception.
fn borrowed_found_objects(
    model: &SpatialVlm,
    dataset: &Dataset,
    path: &Path,
) -> Result<BTreeMap<String, Vec<crate::data::ObjectToken>>, ModelError> {
    let bad = |problem: String| ModelError::Checkpoint {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let found: BTreeMap<String, Vec<crate::data::ObjectToken>> = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("not a found_objects.json: {e}")))?;
    let keys = dataset.scenes(Split::Train);
    let Some(key) = keys.iter().find(|k| found.contains_key(k.as_str())) else {
        return Err(bad("has none of this dataset's training scenes".into()));
    };
    let here = find_objects(model, &dataset.load(Split::Train, key)?.0)?;
    let there = &found[key.as_str()];
    let agree = |a: &crate::data::ObjectToken, b: &crate::data::ObjectToken| {
        a.id == b.id
            && a.category == b.category
            && a.min_m
                .iter()
                .chain(&a.max_m)
                .zip(b.min_m.iter().chain(&b.max_m))
                .all(|(x, y)| (x - y).abs() <= 1e-3)
    };
    let first_difference = (0..here.len().max(there.len()))
        .find(|&i| !matches!((here.get(i), there.get(i)), (Some(a), Some(b)) if agree(a, b)));
    if let Some(i) = first_difference {
        return Err(bad(format!(
            "found by another perception: in scene {key} object {i} differs ({} objects found \
             here, {} in the file)",
            here.len(),
            there.len()
        )));
    }
    Ok(found)
}

/// Variables stage 2 trains (and `--init-decoder` takes).
const STAGE2: [&str; 3] = ["decoder.", "hidden_cot.", "objects."];

/// Copies every perception variable of `varmap` from the model folder `dir`; refuses a folder
/// whose perception differs (a missing tensor or another shape).
pub fn copy_perception(varmap: &VarMap, dir: &Path, device: &Device) -> Result<(), ModelError> {
    copy_vars(varmap, dir, &PERCEPTION, "perception", device)
}

/// Variables stage 2 takes from `--init`: the encoder, the depth and detection heads and the
/// camera head (a model has one when its `--init` does).
const PERCEPTION: [&str; 4] = [
    "aggregator.",
    "depth_head.",
    "detection_head.",
    "camera_head.",
];

/// Copies every variable of `varmap` whose name starts with one of `prefixes` from the model
/// folder `dir`; refuses a folder where one is missing or has another shape, naming it and
/// `what` the tensors start.
fn copy_vars(
    varmap: &VarMap,
    dir: &Path,
    prefixes: &[&str],
    what: &str,
    device: &Device,
) -> Result<(), ModelError> {
    let cfg = crate::model::checkpoint::read_config(dir)?;
    let path = dir.join("model.safetensors");
    let weights = crate::model::checkpoint::load_weights(&path, &cfg, device)?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| ModelError::Invalid("variable map poisoned".into()))?;
    // In name order, so that a refusal always names the same (first) tensor that differs.
    let mut vars: Vec<(&String, &candle_core::Var)> = data
        .iter()
        .filter(|(name, _)| prefixes.iter().any(|p| name.starts_with(p)))
        .collect();
    vars.sort_by_key(|(name, _)| *name);
    for (name, var) in vars {
        let problem = match weights.get(name) {
            None => format!("has no tensor \"{name}\" to start this model's {what} from"),
            Some(t) if t.dims() != var.dims() => format!(
                "tensor \"{name}\" has shape {:?}; this model's is {:?}",
                t.dims(),
                var.dims()
            ),
            Some(t) => {
                var.set(&t.to_dtype(var.dtype())?)?;
                continue;
            }
        };
        return Err(ModelError::Checkpoint { path, problem });
    }
    Ok(())
}

/// Whether stage 2 trains the variable `name`: the decoder, the Hidden CoT latents and probes,
/// and the object embedder.
pub fn is_stage2_var(name: &str) -> bool {
    STAGE2.iter().any(|p| name.starts_with(p))
}

impl TrainStage for DecoderTrainer {
    fn steps_done(&self) -> usize {
        self.step
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            steps: self.config.steps,
            log_every: self.config.log_every,
            eval_every: self.config.eval_every,
            checkpoint_every: self.config.checkpoint_every,
        }
    }

    fn out(&self) -> &Path {
        &self.out
    }

    fn train_step(&mut self) -> Result<StepReport, ModelError> {
        let (total, terms) = self.losses_at(self.step)?;
        let c = &self.config;
        let lr = learning_rate(self.step, c.steps, c.warmup, c.lr, c.min_lr_ratio);
        let losses = apply_update(&mut self.opt, &total, &terms, lr, self.config.grad_clip)?;
        self.step += 1;
        let mut weights = BTreeMap::from([("answer".to_string(), 1.0f32)]);
        for k in [
            "probe_class",
            "probe_box",
            "probe_distance",
            "probe_pointer",
            "probe_anchor",
        ] {
            if terms.contains_key(k) {
                weights.insert(k.to_string(), self.config.probe_weight as f32);
            }
        }
        if terms.contains_key("latent_match") {
            weights.insert(
                "latent_match".to_string(),
                self.config.latent_match_weight as f32,
            );
            weights.insert("answer_kl".to_string(), self.config.answer_kl_weight as f32);
        }
        Ok(StepReport {
            losses,
            weights,
            lr,
            questions: self.config.questions_per_step,
        })
    }

    fn evaluate(&self) -> Result<BTreeMap<String, f32>, ModelError> {
        let loaded = crate::model::LoadedModel {
            dir: self.out.clone(),
            model: self.model.clone(),
            tokenizer: self.tokenizer.clone(),
        };
        let report = crate::eval::evaluate(
            &loaded,
            &self.dataset,
            &[Split::Val],
            &crate::eval::EvalOptions {
                max_scenes: Some(self.config.eval_scenes),
                blind: self.config.blind,
                categories: self.config.categories.clone(),
                ..Default::default()
            },
            None,
        )?;
        Ok(report.flat_metrics())
    }

    fn checkpoint(&self) -> Result<PathBuf, ModelError> {
        write_stage_checkpoint_with(
            &self.out,
            &self.varmap,
            &self.tokenizer,
            &self.opt,
            &StageState {
                step: self.step,
                config: self.config.clone(),
                model: self.model_cfg.clone(),
            },
            |dir| match &self.projection {
                Some(p) => p.save(dir),
                None => Ok(()),
            },
        )
    }
}

#[cfg(test)]
mod tests;
