//! Stage 1 of the staged recipe (docs/TRAINING.md): dense pre-training of the perception —
//! encoder and depth head, whose semantic output gives every pixel a category — on depth and
//! instance-mask labels (thousands of labels per image instead of one answer bit). A student
//! that finds its own objects (`object_source: predicted`) needs it before stage 2 can cache the
//! objects it finds. `spatia train perception` runs it; its evaluation reports depth errors,
//! per-pixel category accuracy and how many annotated objects the grouped predictions find.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::losses::{camera_loss, depth_loss};
use super::optim::{AdamW, learning_rate};
use super::run_loop::{
    Schedule, StageState, StepReport, TrainStage, apply_update, restore_stage,
    write_stage_checkpoint,
};
use super::trainer::checkpoint_dir;
use crate::data::{
    Dataset, ObjectViews, SceneShard, Split, match_to_annotated, object_tokens,
    predicted_objects::semantic_targets,
};
use crate::model::camera_head::{POSE_DIM, relative_pose_targets};
use crate::model::{ModelConfig, ModelError, SpatiaTokenizer, SpatialVlm, ViewBatch};
use crate::questions::min_visible_px;

/// Stage-1 settings (saved with every checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerceptionTrainConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Warmup steps.
    pub warmup: usize,
    /// Final learning rate as a share of the peak.
    pub min_lr_ratio: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Gradient-norm clip.
    pub grad_clip: f64,
    /// Training scenes per step.
    pub scenes_per_step: usize,
    /// Weight of the semantic cross-entropy against the depth term.
    pub semantic_weight: f64,
    /// Training scenes used (all when `None`).
    pub max_scenes: Option<usize>,
    /// Evaluate on the validation split every this many steps (0: never).
    pub eval_every: usize,
    /// Validation scenes per evaluation.
    pub eval_scenes: usize,
    /// Checkpoint every this many steps.
    pub checkpoint_every: usize,
    /// Log every this many steps.
    pub log_every: usize,
    /// Seed of initialisation and scene order.
    pub seed: u64,
    /// A model folder whose encoder and depth head tensors of the same names and shapes start
    /// this model (e.g. the patch student's, for its depth); the semantic output starts fresh.
    #[serde(default)]
    pub init: Option<PathBuf>,
    /// Share of training views made to look like views of a real scan's mesh (domain
    /// randomisation: `SceneShard::make_scan_like`), drawn afresh for every step; 0: none.
    #[serde(default)]
    pub scan_like: f64,
    /// Share of training scenes whose objects get random colours (the same in all views;
    /// `SceneShard::recolour_objects`), drawn afresh for every step; 0: none.
    #[serde(default)]
    pub object_colours: f64,
    /// Train the camera head alone (`--camera-only`): the model is `init`'s, every tensor of it
    /// copied, with a camera head added; only the head's variables change, on the `camera` loss
    /// over the frozen encoder's camera tokens (its perception and decoder stay bit for bit).
    #[serde(default)]
    pub camera_only: bool,
    /// A new model (not resumed, not `camera_only`) gets a camera head, trained with the rest
    /// on the `camera` term (`--camera-head`).
    #[serde(default)]
    pub camera_head: bool,
    /// Factor on the semantic weight of every category questions name
    /// (`questions::names::NAMES`: not structure, not the catch-all classes), on top of the
    /// class weights (`--named-weight`); 1: none.
    #[serde(default = "one")]
    pub named_weight: f64,
}

fn one() -> f64 {
    1.0
}

/// The largest `named_weight` a run takes.
pub const MAX_NAMED_WEIGHT: f64 = 100.0;

impl Default for PerceptionTrainConfig {
    fn default() -> Self {
        Self {
            steps: 2000,
            lr: 2e-3,
            warmup: 50,
            min_lr_ratio: 0.05,
            weight_decay: 0.01,
            grad_clip: 1.0,
            scenes_per_step: 2,
            semantic_weight: 1.0,
            max_scenes: None,
            eval_every: 0,
            eval_scenes: 20,
            checkpoint_every: 100,
            log_every: 10,
            seed: 0,
            init: None,
            scan_like: 0.0,
            object_colours: 0.0,
            camera_only: false,
            camera_head: false,
            named_weight: 1.0,
        }
    }
}

/// A model's encoder and depth head (with its semantic output) being trained on dense labels.
pub struct PerceptionTrainer {
    /// Settings.
    pub config: PerceptionTrainConfig,
    /// The model's configuration.
    pub model_cfg: ModelConfig,
    varmap: VarMap,
    model: SpatialVlm,
    tokenizer: SpatiaTokenizer,
    opt: AdamW,
    dataset: Dataset,
    /// Weights of the semantic classes (`dataset_class_weights`; empty in a camera-only run).
    pub class_weight: Vec<f32>,
    out: PathBuf,
    /// Steps done.
    pub step: usize,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Checkpoint {
        path: path.to_path_buf(),
        problem: e.to_string(),
    }
}

/// Whether stage 1 trains the variable `name`: the encoder, the depth head and the camera head.
pub fn is_stage1_var(name: &str) -> bool {
    ["aggregator.", "depth_head.", "camera_head."]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Copies into `varmap`'s variables that `keep` accepts every tensor of the model folder `dir`
/// with the same name and shape; returns how many.
pub fn copy_matching(
    varmap: &VarMap,
    dir: &Path,
    keep: impl Fn(&str) -> bool,
    device: &Device,
) -> Result<usize, ModelError> {
    let cfg = crate::model::checkpoint::read_config(dir)?;
    let weights =
        crate::model::checkpoint::load_weights(&dir.join("model.safetensors"), &cfg, device)?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| ModelError::Invalid("variable map poisoned".into()))?;
    let mut copied = 0;
    for (name, var) in data.iter().filter(|(k, _)| keep(k)) {
        if let Some(t) = weights.get(name)
            && t.dims() == var.dims()
        {
            var.set(&t.to_dtype(var.dtype())?)?;
            copied += 1;
        }
    }
    Ok(copied)
}

impl PerceptionTrainer {
    /// A new model (or the one in `out/checkpoint` with `resume`). The model must have a
    /// semantic output (`semantic_classes`).
    pub fn new(
        model_cfg: ModelConfig,
        tokenizer: SpatiaTokenizer,
        config: PerceptionTrainConfig,
        dataset: Dataset,
        out: &Path,
        resume: bool,
        device: &Device,
    ) -> Result<PerceptionTrainer, ModelError> {
        if model_cfg.semantic_classes == 0 {
            return Err(ModelError::Invalid(
                "stage 1 trains models with a semantic output (semantic_classes)".into(),
            ));
        }
        if model_cfg.encoder.position_3d {
            return Err(ModelError::Invalid(
                "stage 1 trains RGB-only perception (the student's); this encoder reads depth"
                    .into(),
            ));
        }
        if !(config.named_weight.is_finite()
            && config.named_weight > 0.0
            && config.named_weight <= MAX_NAMED_WEIGHT)
        {
            return Err(ModelError::Invalid(format!(
                "--named-weight is {}; it must be in (0, {MAX_NAMED_WEIGHT}]",
                config.named_weight
            )));
        }
        if dataset.scenes(Split::Train).is_empty() {
            return Err(ModelError::Invalid(format!(
                "{}: the dataset has no training scenes",
                dataset.root.display()
            )));
        }
        if config.camera_only && !(model_cfg.camera_head && config.init.is_some()) {
            return Err(ModelError::Invalid(
                "--camera-only trains the camera head of an --init model (the model then has one)"
                    .into(),
            ));
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
        let camera_only = config.camera_only;
        let trained = move |name: &str| {
            if camera_only {
                name.starts_with("camera_head.")
            } else {
                is_stage1_var(name)
            }
        };
        let named = super::optim::named_vars(&varmap, trained)?;
        let opt = AdamW::new(named, config.weight_decay)?;
        // A camera-only run has no semantic term to weigh.
        let class_weight = if camera_only {
            Vec::new()
        } else {
            weigh_named(
                dataset_class_weights(
                    &dataset,
                    model_cfg.semantic_classes,
                    model_cfg.semantic_side(),
                )?,
                config.named_weight as f32,
            )
        };
        let mut t = PerceptionTrainer {
            config,
            model_cfg,
            varmap,
            model,
            tokenizer,
            opt,
            dataset,
            class_weight,
            out: out.to_path_buf(),
            step: 0,
        };
        match (resume, ckpt) {
            (true, Some(dir)) => t.restore(&dir, device)?,
            _ => {
                if let Some(init) = t.config.init.clone() {
                    // A camera-only run keeps the whole model; otherwise the perception.
                    let keep = |name: &str| camera_only || is_stage1_var(name);
                    let copied = copy_matching(&t.varmap, &init, keep, device)?;
                    if copied == 0 {
                        return Err(ModelError::Checkpoint {
                            path: init.join("model.safetensors"),
                            problem: "no encoder or depth-head tensor of this model's names and \
                                      shapes to start from"
                                .into(),
                        });
                    }
                }
            }
        }
        Ok(t)
    }

    fn restore(&mut self, dir: &Path, device: &Device) -> Result<(), ModelError> {
        let state: StageState<PerceptionTrainConfig> =
            restore_stage(dir, &self.varmap, &mut self.opt, &self.model_cfg, device)?;
        self.step = state.step;
        let steps = self.config.steps;
        self.config = PerceptionTrainConfig {
            steps,
            ..state.config
        };
        Ok(())
    }

    /// The weight of each loss term this run logs.
    pub fn loss_weights(&self) -> BTreeMap<String, f32> {
        if self.config.camera_only {
            return BTreeMap::from([("camera".to_string(), 1.0)]);
        }
        let mut w = BTreeMap::from([
            ("depth".to_string(), 1.0f32),
            ("semantic".to_string(), self.config.semantic_weight as f32),
        ]);
        if self.model_cfg.camera_head {
            w.insert("camera".to_string(), CAMERA_WEIGHT as f32);
        }
        w
    }

    /// The model being trained.
    pub fn model(&self) -> &SpatialVlm {
        &self.model
    }

    /// The training scenes of step `step`: a seeded order reshuffled every epoch.
    pub fn scenes_for(&self, step: usize) -> Vec<String> {
        let all = self.dataset.scenes(Split::Train);
        let n = self
            .config
            .max_scenes
            .map_or(all.len(), |m| m.min(all.len()));
        let per = self.config.scenes_per_step.max(1);
        (0..per)
            .map(|i| {
                let k = step * per + i;
                let epoch = k / n;
                let mut order: Vec<usize> = (0..n).collect();
                order.shuffle(&mut ChaCha8Rng::seed_from_u64(
                    self.config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9),
                ));
                all[order[k % n]].clone()
            })
            .collect()
    }

    /// The named loss terms of step `step`'s scenes (no update): `depth` (confidence-weighted
    /// log-depth L1) and `semantic` (per-cell cross-entropy over the categories, weighted by
    /// class), and their weighted total.
    pub fn losses_at(&self, step: usize) -> Result<(Tensor, BTreeMap<String, Tensor>), ModelError> {
        let mut shards = Vec::new();
        for (i, key) in self.scenes_for(step).iter().enumerate() {
            let mut shard = self.dataset.load(Split::Train, key)?.0;
            let seed = self.config.seed
                ^ (step as u64).wrapping_mul(0x2545_F491_4F6C_DD1D)
                ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9);
            shard.recolour_objects(seed ^ 0x5EED_C010, self.config.object_colours);
            shard.make_scan_like(seed, self.config.scan_like);
            shards.push(shard);
        }
        if self.config.camera_only {
            return camera_only_losses(&self.model, &shards);
        }
        perception_losses(
            &self.model,
            &shards,
            self.config.semantic_weight,
            &self.class_weight,
        )
    }

    /// Validation metrics of the first `eval_scenes` validation scenes.
    pub fn evaluate_scenes(&self) -> Result<PerceptionReport, ModelError> {
        let keys = self.dataset.scenes(Split::Val);
        let keys = &keys[..self.config.eval_scenes.min(keys.len())];
        let mut report = PerceptionReport::default();
        for key in keys {
            let (shard, _) = self.dataset.load(Split::Val, key)?;
            report.add(&perception_metrics(&self.model, &shard)?);
        }
        Ok(report)
    }
}

/// Training scenes whose cells set the class weights.
pub const CLASS_WEIGHT_SCENES: usize = 200;

/// Per-class weights of the semantic cross-entropy from the classes' shares `counts` of the
/// cells: (share / median share of the classes present)^−½, clamped to [0.1, 10]; 1 for a class
/// never seen. Large classes (wall, floor) then count less and small objects more, without
/// letting a class seen a few times dominate.
pub fn class_weights(counts: &[usize]) -> Vec<f32> {
    let mut present: Vec<f32> = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| *c as f32)
        .collect();
    if present.is_empty() {
        return vec![1.0; counts.len()];
    }
    present.sort_by(f32::total_cmp);
    let median = present[present.len() / 2];
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                1.0
            } else {
                (c as f32 / median).powf(-0.5).clamp(0.1, 10.0)
            }
        })
        .collect()
}

/// `weights` (background first, then `Category::ALL`) with every category questions name
/// multiplied by `factor`.
pub fn weigh_named(mut weights: Vec<f32>, factor: f32) -> Vec<f32> {
    for names in crate::questions::names::NAMES {
        if let Some(w) = weights.get_mut(names.category.index() + 1) {
            *w *= factor;
        }
    }
    weights
}

/// The class weights of a dataset: [`class_weights`] over the cells of its first
/// [`CLASS_WEIGHT_SCENES`] training scenes at the semantic grid's side `side`.
pub fn dataset_class_weights(
    dataset: &Dataset,
    classes: usize,
    side: usize,
) -> Result<Vec<f32>, ModelError> {
    let mut counts = vec![0usize; classes];
    for key in dataset
        .scenes(Split::Train)
        .iter()
        .take(CLASS_WEIGHT_SCENES)
    {
        let (shard, _) = dataset.load(Split::Train, key)?;
        for c in semantic_targets(&ObjectViews::of_shard(&shard), side) {
            if let Some(n) = counts.get_mut(usize::from(c)) {
                *n += 1;
            }
        }
    }
    Ok(class_weights(&counts))
}

/// Stage 1's loss terms over `shards` (one batch); `class_weight` weighs each cell's
/// cross-entropy by its target class (the loss is Σ w·CE / Σ w).
pub fn perception_losses(
    model: &SpatialVlm,
    shards: &[SceneShard],
    semantic_weight: f64,
    class_weight: &[f32],
) -> Result<(Tensor, BTreeMap<String, Tensor>), ModelError> {
    let device = model.device();
    let mut images = Vec::new();
    let mut depth_gt = Vec::new();
    let mut labels: Vec<u32> = Vec::new();
    let (mut views, mut size) = (0, 0);
    let side = model.cfg.semantic_side();
    for shard in shards {
        let vb = ViewBatch::from_shard(shard);
        let (img, _) = model.view_tensors(&vb)?;
        if views != 0 && (vb.views != views || vb.size != size) {
            return Err(ModelError::Invalid(format!(
                "scene {}: {} views of {} px in a batch of {views} views of {size} px",
                shard.scene, vb.views, vb.size
            )));
        }
        (views, size) = (vb.views, vb.size);
        images.push(img);
        depth_gt.extend_from_slice(&shard.depth);
        labels.extend(
            semantic_targets(&ObjectViews::of_shard(shard), side)
                .into_iter()
                .map(u32::from),
        );
    }
    let b = shards.len();
    let images = Tensor::cat(&images, 0)?;
    let enc = model.encode_tensors(&images, None)?;
    let out = model.depth_tensors(&enc)?;
    let gt = Tensor::from_vec(depth_gt, (b, views, size, size), device)?;
    let depth = depth_loss(&out.depth, &out.confidence, &gt, 0.05)?;
    let Some(semantic) = out.semantic else {
        return Err(ModelError::Invalid(
            "the model has no semantic output".into(),
        ));
    };
    let (_, _, k, h, w) = semantic.dims5()?;
    if h != side || w != side {
        return Err(ModelError::Invalid(format!(
            "semantic maps are {h}x{w}, expected {side}x{side}"
        )));
    }
    let logits = semantic
        .permute((0, 1, 3, 4, 2))?
        .reshape((b * views * h * w, k))?;
    if class_weight.len() != k {
        return Err(ModelError::Invalid(format!(
            "{} class weights for {k} classes",
            class_weight.len()
        )));
    }
    let weights: Vec<f32> = labels.iter().map(|&c| class_weight[c as usize]).collect();
    let n = b * views * h * w;
    let weight_sum = f64::from(weights.iter().sum::<f32>().max(1e-6));
    let targets = Tensor::from_vec(labels, (n, 1), device)?;
    let weights = Tensor::from_vec(weights, n, device)?;
    let log_p = candle_nn::ops::log_softmax(&logits, candle_core::D::Minus1)?
        .gather(&targets, 1)?
        .squeeze(1)?;
    let semantic = ((log_p * weights)?.sum_all()? * (-1.0 / weight_sum))?;
    let mut total = (&depth + (&semantic * semantic_weight)?)?;
    let mut terms = BTreeMap::from([
        ("depth".to_string(), depth),
        ("semantic".to_string(), semantic),
    ]);
    if let Some(camera) = camera_term(model, &enc, shards)? {
        total = (total + (&camera * CAMERA_WEIGHT)?)?;
        terms.insert("camera".to_string(), camera);
    }
    Ok((total, terms))
}

/// Weight of the `camera` term against depth in a joint stage-1 run.
pub const CAMERA_WEIGHT: f64 = 1.0;

/// The camera head's loss over `shards` (one batch, encoded as `enc`): `None` for a model
/// without one. Targets are each view's pose relative to the first from the shards' cameras.
fn camera_term(
    model: &SpatialVlm,
    enc: &crate::model::encoder::EncoderOutput,
    shards: &[SceneShard],
) -> Result<Option<Tensor>, ModelError> {
    let Some(pred) = model.camera_tensors(enc)? else {
        return Ok(None);
    };
    let (b, views, _) = pred.dims3()?;
    let mut targets = Vec::with_capacity(b * views * POSE_DIM);
    for shard in shards {
        let t = relative_pose_targets(&shard.extrinsics, views);
        if t.is_empty() {
            return Err(ModelError::Invalid(format!(
                "scene {}: cameras missing or not finite",
                shard.scene
            )));
        }
        targets.extend(t);
    }
    let target = Tensor::from_vec(targets, (b, views, POSE_DIM), model.device())?;
    Ok(Some(camera_loss(&pred, &target)?))
}

/// A camera-only step's loss (`camera_only`): the encoder runs without gradient, the camera
/// head learns from its camera tokens.
pub fn camera_only_losses(
    model: &SpatialVlm,
    shards: &[SceneShard],
) -> Result<(Tensor, BTreeMap<String, Tensor>), ModelError> {
    let mut images = Vec::new();
    for shard in shards {
        images.push(model.view_tensors(&ViewBatch::from_shard(shard))?.0);
    }
    let enc = model.encode_tensors(&Tensor::cat(&images, 0)?, None)?;
    let frozen = crate::model::encoder::EncoderOutput {
        layers: enc.layers.iter().map(Tensor::detach).collect(),
        images: enc.images.detach(),
        ..enc
    };
    let Some(camera) = camera_term(model, &frozen, shards)? else {
        return Err(ModelError::Invalid(
            "--camera-only: the model has no camera head".into(),
        ));
    };
    Ok((
        camera.clone(),
        BTreeMap::from([("camera".to_string(), camera)]),
    ))
}

/// What stage 1's evaluation measures over some scenes (sums; [`PerceptionReport::metrics`]
/// gives the rates).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerceptionReport {
    /// Scenes.
    pub scenes: usize,
    /// Pixels with ground-truth depth, Σ |d̂ − d| / d over them, and those within 1.25×.
    pub depth_px: usize,
    /// Σ of relative depth errors.
    pub abs_rel_sum: f64,
    /// Pixels with max(d̂/d, d/d̂) < 1.25.
    pub delta1: usize,
    /// Semantic cells, and those predicted right.
    pub cells: usize,
    /// Cells whose predicted class is the target's.
    pub cells_right: usize,
    /// Per class (index = class): target cells and those predicted right.
    pub per_class: BTreeMap<usize, (usize, usize)>,
    /// Annotated objects (the teacher's object tokens), and those a found object matches.
    pub annotated_objects: usize,
    /// Annotated objects matched by a found one.
    pub found_annotated: usize,
    /// Objects found.
    pub found_objects: usize,
    /// Found objects that match an annotated one.
    pub found_matched: usize,
}

impl PerceptionReport {
    /// Adds another report's counts.
    pub fn add(&mut self, o: &PerceptionReport) {
        self.scenes += o.scenes;
        self.depth_px += o.depth_px;
        self.abs_rel_sum += o.abs_rel_sum;
        self.delta1 += o.delta1;
        self.cells += o.cells;
        self.cells_right += o.cells_right;
        for (c, (n, r)) in &o.per_class {
            let e = self.per_class.entry(*c).or_default();
            e.0 += n;
            e.1 += r;
        }
        self.annotated_objects += o.annotated_objects;
        self.found_annotated += o.found_annotated;
        self.found_objects += o.found_objects;
        self.found_matched += o.found_matched;
    }

    /// Named rates: `depth_abs_rel`, `depth_delta1`, `semantic_pixel_acc`,
    /// `semantic_mean_class_acc` (over foreground classes present), `object_recall` (annotated
    /// objects found), `object_precision` (found objects that are annotated ones).
    pub fn metrics(&self) -> BTreeMap<String, f32> {
        let rate = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f32 / b as f32 };
        let fg: Vec<f32> = self
            .per_class
            .iter()
            .filter(|(c, (n, _))| **c > 0 && *n > 0)
            .map(|(_, (n, r))| rate(*r, *n))
            .collect();
        BTreeMap::from([
            (
                "depth_abs_rel".to_string(),
                if self.depth_px == 0 {
                    0.0
                } else {
                    (self.abs_rel_sum / self.depth_px as f64) as f32
                },
            ),
            ("depth_delta1".into(), rate(self.delta1, self.depth_px)),
            (
                "semantic_pixel_acc".into(),
                rate(self.cells_right, self.cells),
            ),
            (
                "semantic_mean_class_acc".into(),
                if fg.is_empty() {
                    0.0
                } else {
                    fg.iter().sum::<f32>() / fg.len() as f32
                },
            ),
            (
                "object_recall".into(),
                rate(self.found_annotated, self.annotated_objects),
            ),
            (
                "object_precision".into(),
                rate(self.found_matched, self.found_objects),
            ),
        ])
    }
}

/// Stage 1's measures on one scene: depth errors, semantic accuracy, and the objects the
/// grouped predictions find against the annotated ones.
pub fn perception_metrics(
    model: &SpatialVlm,
    shard: &SceneShard,
) -> Result<PerceptionReport, ModelError> {
    let vb = ViewBatch::from_shard(shard);
    let (images, _) = model.view_tensors(&vb)?;
    let enc = model.encode_tensors(&images, None)?;
    let maps = model.predicted_maps(&enc)?;
    let (depth_m, class, side) = (&maps.depth_m, &maps.class, maps.class_size);
    let mut r = PerceptionReport {
        scenes: 1,
        ..Default::default()
    };
    for (p, g) in depth_m.iter().zip(&shard.depth) {
        if *g > 0.0 && p.is_finite() && *p > 0.0 {
            r.depth_px += 1;
            r.abs_rel_sum += f64::from((p - g).abs() / g);
            r.delta1 += usize::from((p / g).max(g / p) < 1.25);
        }
    }
    let views = ObjectViews::of_shard(shard);
    let targets = semantic_targets(&views, side);
    for (p, t) in class.iter().zip(&targets) {
        r.cells += 1;
        let e = r.per_class.entry(usize::from(*t)).or_default();
        e.0 += 1;
        if p == t {
            r.cells_right += 1;
            e.1 += 1;
        }
    }
    let annotated = object_tokens(&views, min_visible_px(shard.size) as u32);
    let mut found = maps.objects(&vb);
    let matched = match_to_annotated(&mut found, &annotated);
    r.annotated_objects = annotated.len();
    r.found_annotated = matched;
    r.found_objects = found.len();
    r.found_matched = matched;
    Ok(r)
}

impl TrainStage for PerceptionTrainer {
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
        Ok(StepReport {
            losses,
            weights: self.loss_weights(),
            lr,
            questions: self.config.scenes_per_step,
        })
    }

    fn evaluate(&self) -> Result<BTreeMap<String, f32>, ModelError> {
        Ok(self.evaluate_scenes()?.metrics())
    }

    fn checkpoint(&self) -> Result<PathBuf, ModelError> {
        write_stage_checkpoint(
            &self.out,
            &self.varmap,
            &self.tokenizer,
            &self.opt,
            &StageState {
                step: self.step,
                config: self.config.clone(),
                model: self.model_cfg.clone(),
            },
        )
    }
}

#[cfg(test)]
pub(crate) mod tests;
