//! Distillation (Asfour et al.; geometric terms from Lee et al.): the settings, the
//! [`Distiller`] and the terms the student learns from the teacher, each under its logged name
//! (docs/TRAINING.md). The teacher's on-disk output cache is in `cache.rs`, teacher answers read
//! from a JSONL file in `answers.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, Module, VarMap};
use serde::{Deserialize, Serialize};

use super::geometry::{correspondences, depth_order_pairs};
use super::losses::{
    DetectionWeights, answer_ce, correspondence_nce, cost_volume, cost_volume_kl, depth_rank,
    detection_loss, distill_kl, feature_cosine,
};
use crate::data::SceneShard;
use crate::model::encoder::EncoderOutput;
use crate::model::heads::{DepthOutput, DetectionOutput};
use crate::model::{LoadedModel, ModelConfig, ModelError, SpatialVlm};
use crate::questions::Question;

/// The Kendall-weighted tasks of a distillation run, in order.
mod answers;
mod cache;

pub use answers::{FileAnswer, TeacherAnswers};
pub use cache::TeacherTargets;
use cache::{CacheMeta, cache_err};

pub const DISTILL_TASKS: [&str; 5] = ["answer", "depth", "detection", "feature", "geometry"];

/// Distillation settings (saved with every checkpoint; a resume must match them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillSettings {
    /// The teacher's model folder.
    pub teacher: PathBuf,
    /// Teacher answers from a file (JSONL `{"scene", "question", "answer", "logits"?}`).
    pub teacher_answers: Option<PathBuf>,
    /// Temperature of the answer KL.
    pub temperature: f64,
    /// Weight of the teacher-depth term within the depth task.
    pub depth_weight: f64,
    /// Weight of the teacher-box term within the detection task.
    pub box_weight: f64,
    /// Class probability a teacher query needs to become a pseudo ground-truth box.
    pub box_threshold: f32,
    /// Softmax temperature of cross-view matching and cost volumes.
    pub tau: f64,
    /// Pixel stride of the correspondence grid.
    pub correspondence_stride: usize,
    /// Depth-order pairs per view.
    pub depth_pairs: usize,
}

impl DistillSettings {
    /// Defaults for a teacher folder.
    pub fn new(teacher: PathBuf) -> DistillSettings {
        DistillSettings {
            teacher,
            teacher_answers: None,
            temperature: 2.0,
            depth_weight: 0.5,
            box_weight: 0.5,
            box_threshold: 0.5,
            tau: 0.1,
            correspondence_stride: 8,
            depth_pairs: 256,
        }
    }
}

/// Patch tokens of the last encoder layer, [V, P, C] (batch 1).
pub fn last_patch_tokens(enc: &EncoderOutput) -> candle_core::Result<Tensor> {
    let last = enc
        .layers
        .last()
        .ok_or_else(|| candle_core::Error::Msg("encoder returned no layers".into()))?;
    let (_b, _v, t, _c) = last.dims4()?;
    last.get(0)?
        .narrow(1, enc.patch_start, t - enc.patch_start)?
        .contiguous()
}

/// A teacher with its on-disk output cache (`OUT/teacher_cache/`): each training scene's
/// outputs are computed the first time a step needs them and read back afterwards.
pub struct Distiller {
    /// Settings.
    pub settings: DistillSettings,
    /// The teacher.
    pub teacher: LoadedModel,
    /// Teacher answers from a file, when given.
    pub answers: Option<TeacherAnswers>,
    /// The cache folder.
    pub cache_dir: PathBuf,
    /// The learned projection of student patch tokens to the teacher's width.
    pub varmap: VarMap,
    feature_proj: Linear,
    device: Device,
}

impl Distiller {
    /// Sets up distillation of a `student` from `teacher`, caching under `cache_dir`; refuses
    /// a student the teacher can't teach (vocabulary, views, patch grid) and a cache written
    /// by another teacher.
    pub fn new(
        settings: DistillSettings,
        teacher: LoadedModel,
        student: &ModelConfig,
        cache_dir: &Path,
        seed: u64,
        device: &Device,
    ) -> Result<Distiller, ModelError> {
        let t = &teacher.model.cfg;
        let grid = |c: &ModelConfig| c.encoder.image_size / c.encoder.patch_size;
        if t.decoder.vocab_size != student.decoder.vocab_size
            || t.num_views != student.num_views
            || grid(t) != grid(student)
        {
            return Err(cache_err(
                &teacher.dir,
                format!(
                    "this teacher can't teach the student: vocabulary {} vs {}, views {} vs {}, patch grid {} vs {}",
                    t.decoder.vocab_size,
                    student.decoder.vocab_size,
                    t.num_views,
                    student.num_views,
                    grid(t),
                    grid(student)
                ),
            ));
        }
        let answers = match &settings.teacher_answers {
            Some(p) => Some(TeacherAnswers::read(p)?),
            None => None,
        };
        std::fs::create_dir_all(cache_dir).map_err(|e| cache_err(cache_dir, e))?;
        let weights = teacher.dir.join("model.safetensors");
        let bytes = std::fs::read(&weights).map_err(|e| cache_err(&weights, e))?;
        let meta = CacheMeta {
            teacher: teacher.dir.display().to_string(),
            fingerprint: format!("{:016x}", crate::scene::stable_hash_bytes(&bytes)),
        };
        let meta_path = cache_dir.join("teacher.json");
        if meta_path.is_file() {
            let old: CacheMeta = crate::scene::read_json(&meta_path, 1 << 20)?;
            if old.fingerprint != meta.fingerprint {
                return Err(cache_err(
                    &meta_path,
                    format!(
                        "this cache holds the outputs of another teacher ({}); delete the folder or pick another --out",
                        old.teacher
                    ),
                ));
            }
        } else {
            let json =
                serde_json::to_vec_pretty(&meta).map_err(|e| ModelError::Invalid(e.to_string()))?;
            crate::scene::write_atomic(&meta_path, &json)?;
        }
        let varmap = VarMap::new();
        let vb = crate::model::nn::seeded_var_builder(&varmap, seed ^ 0xD157, device);
        let cs = 2 * student.encoder.embed_dim;
        let ct = 2 * t.encoder.embed_dim;
        let feature_proj = candle_nn::linear(cs, ct, vb.pp("feature_proj"))?;
        Ok(Distiller {
            settings,
            teacher,
            answers,
            cache_dir: cache_dir.to_path_buf(),
            varmap,
            feature_proj,
            device: device.clone(),
        })
    }

    /// The distillation terms of one step, by name, and what they add to each task.
    #[allow(clippy::too_many_arguments)]
    pub fn terms(
        &self,
        student: &SpatialVlm,
        batch: &StudentBatch,
        targets: &TeacherTargets,
        shard: &SceneShard,
        questions: &[Question],
        seed: u64,
    ) -> Result<DistillTerms, ModelError> {
        let dev = &self.device;
        let s = &self.settings;
        let mut named = BTreeMap::new();
        let zero = || Tensor::zeros((), DType::F32, dev);

        // Answers: KL to the cached teacher distribution on the ground-truth answer, for the
        // questions without a file answer; file answers as targets (KL to their logits, or
        // cross-entropy on their tokens).
        let tok = &self.teacher.tokenizer;
        let mut s_rows = Vec::new();
        let mut t_rows = Vec::new();
        let mut offset = 0usize;
        let mut file_examples = Vec::new();
        for q in questions {
            let n = tok.encode(&q.answer)?.len() + 1;
            let file = self
                .answers
                .as_ref()
                .and_then(|a| a.get(&q.scene, &q.question));
            match (
                file,
                targets.answers.get(&(q.question.clone(), q.answer.clone())),
            ) {
                (Some(f), _) => file_examples.push((q, f)),
                (None, Some(&(r, len))) if len == n => {
                    s_rows.extend((offset..offset + n).map(|i| i as u32));
                    t_rows.extend((r..r + n).map(|i| i as u32));
                }
                _ => {}
            }
            offset += n;
        }
        let answer_kl = match &batch.answer_logits {
            Some(logits) if !s_rows.is_empty() => {
                let sl = logits.index_select(&Tensor::new(s_rows.as_slice(), dev)?, 0)?;
                let tl = targets
                    .answer_logits
                    .index_select(&Tensor::new(t_rows.as_slice(), dev)?, 0)?;
                distill_kl(&sl, &tl, s.temperature)?
            }
            _ => zero()?,
        };
        named.insert("answer_kl".to_string(), answer_kl.clone());
        let mut answer = answer_kl;
        if !file_examples.is_empty() {
            let file_term = self.file_answer_term(student, batch, &file_examples)?;
            named.insert("answer_file".to_string(), file_term.clone());
            answer = (answer + file_term)?;
        }

        // Depth: the student's log depth against the teacher's, everywhere.
        let depth_distill = (batch.depth.depth.get(0)?.log()? - targets.depth.log()?)?
            .abs()?
            .mean_all()?;
        named.insert("depth_distill".to_string(), depth_distill.clone());

        // Boxes: the teacher's confident queries as pseudo ground truth.
        let probs = crate::model::nn::softmax(&targets.det_logits)?.to_vec2::<f32>()?;
        let tboxes = targets.det_boxes.to_vec2::<f32>()?;
        let mut classes = Vec::new();
        let mut boxes = Vec::new();
        for (p, b) in probs.iter().zip(&tboxes) {
            let objects = &p[..p.len().saturating_sub(1)];
            if let Some((c, &pc)) = objects.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))
                && pc >= s.box_threshold
                && b.len() == 6
            {
                classes.push(c as u32);
                boxes.push([b[0], b[1], b[2], b[3], b[4], b[5]]);
            }
        }
        let w = DetectionWeights::default();
        let (c, l1, iou) = detection_loss(
            &batch.detection.logits.get(0)?,
            &batch.detection.boxes.get(0)?,
            &classes,
            &boxes,
            &w,
        )?;
        let box_distill = ((c * w.class)? + (l1 * w.l1)? + (iou * w.iou)?)?;
        named.insert("box_distill".to_string(), box_distill.clone());

        // Features: projected student patch tokens against the teacher's.
        let student_tokens = &batch.patch_tokens;
        let (v, p, cs) = student_tokens.dims3()?;
        let (tv, tp, ct) = targets.patch_tokens.dims3()?;
        if (v, p) != (tv, tp) {
            return Err(ModelError::Invalid(format!(
                "student tokens [{v}, {p}, {cs}] and teacher tokens [{tv}, {tp}, {ct}] differ in layout"
            )));
        }
        let projected = self
            .feature_proj
            .forward(&student_tokens.reshape((v * p, cs))?)?;
        let feature = feature_cosine(&projected, &targets.patch_tokens.reshape((v * p, ct))?)?;
        named.insert("feature".to_string(), feature.clone());

        // Geometry (Lee et al.): cross-view matching of corresponding patches, depth order of
        // point pairs, and the cross-view cost volume against the teacher's.
        let grid = student.cfg.encoder.image_size / student.cfg.encoder.patch_size;
        let patch = student.cfg.encoder.patch_size;
        let mut matches = Vec::new();
        let mut volumes = Vec::new();
        for a in 0..v {
            for b in (a + 1)..v {
                let mut pairs: Vec<(u32, u32)> =
                    correspondences(shard, a, b, s.correspondence_stride)
                        .into_iter()
                        .filter_map(|((xa, ya), (xb, yb))| {
                            let pa = (ya / patch).min(grid - 1) * grid + (xa / patch).min(grid - 1);
                            let pb = (yb / patch).min(grid - 1) * grid + (xb / patch).min(grid - 1);
                            (pa < p && pb < p).then_some((pa as u32, pb as u32))
                        })
                        .collect();
                pairs.sort_unstable();
                pairs.dedup();
                if !pairs.is_empty() {
                    matches.push(correspondence_nce(
                        &student_tokens.get(a)?,
                        &student_tokens.get(b)?,
                        &pairs,
                        s.tau,
                    )?);
                }
                if a == 0 {
                    let sv = cost_volume(&student_tokens.get(0)?, &student_tokens.get(b)?, s.tau)?;
                    let tvol = cost_volume(
                        &targets.patch_tokens.get(0)?,
                        &targets.patch_tokens.get(b)?,
                        s.tau,
                    )?;
                    volumes.push(cost_volume_kl(&sv, &tvol)?);
                }
            }
        }
        let mean = |xs: Vec<Tensor>| -> Result<Tensor, ModelError> {
            if xs.is_empty() {
                return Ok(zero()?);
            }
            let n = xs.len() as f64;
            Ok((Tensor::stack(&xs, 0)?.sum_all()? / n)?)
        };
        let geo_match = mean(matches)?;
        let geo_volume = mean(volumes)?;
        let size = shard.size as usize;
        let mut order = Vec::new();
        for view in 0..v.min(shard.views) {
            let base = view * size * size;
            order.extend(
                depth_order_pairs(shard, view, s.depth_pairs, seed ^ view as u64)
                    .into_iter()
                    .map(|(i, j, sign)| (base + i, base + j, sign)),
            );
        }
        let geo_order = depth_rank(&batch.depth.depth, &order)?;
        named.insert("geo_match".to_string(), geo_match.clone());
        named.insert("geo_cost_volume".to_string(), geo_volume.clone());
        named.insert("geo_depth_order".to_string(), geo_order.clone());
        let geometry = ((geo_match + geo_volume)? + geo_order)?;

        Ok(DistillTerms {
            named,
            answer,
            depth: (depth_distill * s.depth_weight)?,
            detection: (box_distill * s.box_weight)?,
            feature,
            geometry,
        })
    }

    fn file_answer_term(
        &self,
        student: &SpatialVlm,
        batch: &StudentBatch,
        file_examples: &[(&Question, &FileAnswer)],
    ) -> Result<Tensor, ModelError> {
        let tok = &self.teacher.tokenizer;
        let path = self
            .answers
            .as_ref()
            .map(|a| a.path.clone())
            .unwrap_or_default();
        let mut examples = Vec::new();
        for (q, f) in file_examples {
            examples.push((tok.encode(&q.question)?, tok.encode(&f.answer)?));
        }
        let (logits, targets) = student.answer_logits(
            &batch.scene,
            &examples,
            (tok.bos, tok.ans, tok.eos, tok.pad),
        )?;
        let vocab = student.cfg.decoder.vocab_size;
        let mut ce_rows = Vec::new();
        let mut kl_rows = Vec::new();
        let mut given: Vec<f32> = Vec::new();
        let mut row = 0usize;
        for ((_, f), (_, a)) in file_examples.iter().zip(&examples) {
            let n = a.len() + 1;
            match &f.logits {
                Some(rows) => {
                    if rows.len() != n || rows.iter().any(|r| r.len() != vocab) {
                        return Err(cache_err(
                            &path,
                            format!(
                                "line {}: logits are {}×{}, expected {n} rows (answer tokens + <eos>) of the vocabulary size {vocab}",
                                f.line,
                                rows.len(),
                                rows.first().map_or(0, Vec::len)
                            ),
                        ));
                    }
                    kl_rows.extend((row..row + n).map(|i| i as u32));
                    given.extend(rows.iter().flatten());
                }
                None => ce_rows.extend((row..row + n).map(|i| i as u32)),
            }
            row += n;
        }
        let dev = &self.device;
        let mut total = Tensor::zeros((), DType::F32, dev)?;
        if !ce_rows.is_empty() {
            let idx = Tensor::new(ce_rows.as_slice(), dev)?;
            let t: Vec<u32> = ce_rows.iter().map(|&i| targets[i as usize]).collect();
            total = (total
                + answer_ce(
                    &logits.index_select(&idx, 0)?,
                    &Tensor::new(t.as_slice(), dev)?,
                )?)?;
        }
        if !kl_rows.is_empty() {
            let idx = Tensor::new(kl_rows.as_slice(), dev)?;
            let teacher = Tensor::from_vec(given, (kl_rows.len(), vocab), dev)?;
            total = (total
                + distill_kl(
                    &logits.index_select(&idx, 0)?,
                    &teacher,
                    self.settings.temperature,
                )?)?;
        }
        Ok(total)
    }

    /// The projection's variables, named for the optimiser.
    pub fn named_vars(&self) -> Result<Vec<(String, candle_core::Var)>, ModelError> {
        Ok(super::optim::named_vars(&self.varmap, |_| true)?
            .into_iter()
            .map(|(k, v)| (format!("distill.{k}"), v))
            .collect())
    }
}

/// What the student computed in a step that the distillation terms read.
pub struct StudentBatch {
    /// Scene embeddings [1, N, D].
    pub scene: Tensor,
    /// Teacher-forced answer logits of the step's questions (as `SpatialVlm::answer_logits`).
    pub answer_logits: Option<Tensor>,
    /// Predicted depth.
    pub depth: DepthOutput,
    /// Predicted boxes.
    pub detection: DetectionOutput,
    /// Last-layer patch tokens [V, P, C].
    pub patch_tokens: Tensor,
}

/// Distillation terms by name, and what they add to each task's loss.
pub struct DistillTerms {
    /// Every term, under its logged name.
    pub named: BTreeMap<String, Tensor>,
    /// Added to the answer task.
    pub answer: Tensor,
    /// Added to the depth task.
    pub depth: Tensor,
    /// Added to the detection task.
    pub detection: Tensor,
    /// The feature task.
    pub feature: Tensor,
    /// The geometry task.
    pub geometry: Tensor,
}
