//! Evaluation that cannot flatter: accuracy per question category on seen wordings, held-out
//! wordings apart, each with its count and 95% Wilson interval; yes/no decided by the model's
//! probability of `yes` against `no` at the first answer position (the free-running generation
//! scored beside it); a blind baseline with another scene's tokens; depth AbsRel, δ < 1.25 and
//! the median 3D error of the point map it gives (marked as input for a model that receives
//! depth); detection mAP@0.25 over the objects the
//! views show (`detection.rs`); per-answer latency measured with the answer forced, so models
//! compare on equal work. See docs/TRAINING.md, "Evaluation".

pub mod detection;
pub mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use glam::Vec3;
use serde::Serialize;

use crate::data::Split;
use crate::data::build::{BuildOptions, render_shard, shard_visibility};
use crate::data::{Dataset, SceneShard};
use crate::model::camera_head::{
    IDENTITY_POSE, POSE_DIM, relative_pose_targets, rotation_error_deg, translation_error_m,
};
use crate::model::{Cameras, LoadedModel, ModelError, SceneTokens, ViewBatch};
use crate::questions::score::{normalize_answer, score};
use crate::questions::{Question, QuestionCategory};
use crate::scene::{LoadOptions, SceneError, load_scene};
use detection::{GtBox, MapAccumulator, OrientedBox, PredBox};
use stats::{majority_share, wilson95};

/// Questions per scene whose latency is timed.
const TIMED_PER_SCENE: usize = 4;
/// Detection classes scored (the ScanNet-18).
const MAP_CLASSES: usize = 18;

/// One category's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CategoryScore {
    /// Share answered correctly (yes/no: by the first-position decision).
    pub accuracy: f32,
    /// Questions.
    pub n: usize,
    /// 95% Wilson interval of `accuracy`.
    pub ci95: [f32; 2],
    /// Share whose free-running generated answer matched (equals `accuracy` for categories
    /// without a yes/no decision).
    pub generated_accuracy: f32,
    /// Accuracy of always giving the most common reference answer of these questions.
    pub chance: f32,
    /// Mean relative accuracy (numeric categories).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mra: Option<f32>,
    /// Share within 25% (numeric categories).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_25: Option<f32>,
}

/// A share with its count and 95% Wilson interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Share {
    /// The share, 0..1.
    pub share: f32,
    /// Questions.
    pub n: usize,
    /// 95% Wilson interval.
    pub ci95: [f32; 2],
}

impl Share {
    fn of(k: usize, n: usize) -> Share {
        Share {
            share: k as f32 / n.max(1) as f32,
            n,
            ci95: wilson95(k, n),
        }
    }
}

/// Tallies (hits, questions) per key → their shares.
fn shares(tallies: &BTreeMap<String, (usize, usize)>) -> BTreeMap<String, Share> {
    tallies
        .iter()
        .map(|(k, (hits, n))| (k.clone(), Share::of(*hits, *n)))
        .collect()
}

/// Depth metrics over the evaluated views.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DepthScore {
    /// Mean absolute relative error.
    pub abs_rel: f32,
    /// Share of pixels with max(d̂/d, d/d̂) < 1.25.
    pub delta1: f32,
    /// Median distance between each pixel's 3D point from the predicted depth and from the
    /// true depth, metres: the error of the point map the depth gives through the (given)
    /// camera.
    pub point_median_m: f32,
    /// Views evaluated.
    pub views: usize,
    /// The model receives ground-truth depth as input (the teacher): these are not
    /// predictions.
    pub input: bool,
}

/// The camera head's errors over the evaluated views after each scene's first (models with a
/// camera head): each view's predicted pose relative to the first against the true one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraScore {
    /// Median angle between predicted and true relative rotations, degrees.
    pub rotation_median_deg: f32,
    /// Median distance between predicted and true relative translations, metres.
    pub translation_median_m: f32,
    /// The same medians for "every view at the first view's pose" (the head's starting
    /// point): what the predictions are worth beside knowing nothing.
    pub identity_rotation_median_deg: f32,
    /// See `identity_rotation_median_deg`, metres.
    pub identity_translation_median_m: f32,
    /// Views measured.
    pub views: usize,
    /// The cameras the objects were grouped through for the answers of this report.
    pub answered_with: Cameras,
}

/// Detection metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DetectionScore {
    /// Mean average precision at 3D IoU 0.25 over the ScanNet-18 classes present among the
    /// objects the views show.
    pub map25: f32,
    /// Classes with ground truth.
    pub classes: usize,
}

/// How the blind baseline hid the scene.
pub const BLIND_METHOD: &str =
    "scene tokens of another evaluated scene (the previous one in order; the first takes the last)";
/// How latency is measured.
pub const LATENCY_METHOD: &str = "scene cached; same prompt; the reference answer's tokens and <eos> forced through the KV cache one at a time (equal work for every model); mean over up to 4 questions per scene";

/// An evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvalReport {
    /// Model name and folder.
    pub model: String,
    /// Parameters.
    pub params: usize,
    /// Mean per-answer latency, milliseconds (see `latency_method`).
    pub latency_ms: f32,
    /// How `latency_ms` was measured.
    pub latency_method: String,
    /// Mean encode time per scene, milliseconds.
    pub encode_ms: f32,
    /// Per category, seen (training) wordings only.
    pub categories: BTreeMap<String, CategoryScore>,
    /// Per category, held-out wordings only.
    pub held_out: BTreeMap<String, CategoryScore>,
    /// Per category and way of naming the objects, seen wordings: `"<category>, by name"`
    /// (every object named by its class alone) and `"<category>, by relation"` ("the chair
    /// closest to the bed", "the cup on the table").
    pub by_reference: BTreeMap<String, CategoryScore>,
    /// Per template id (`near.1`, `near.h1`, …), seen and held-out wordings: which wordings a
    /// model answers and which it does not (questions without a template are left out).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_template: BTreeMap<String, CategoryScore>,
    /// Models with object slots, seen wordings, keyed as `by_reference`: the share of questions
    /// whose slots pointed at exactly the objects the question names, in order (counting
    /// questions, which name a class, are left out).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub grounding: BTreeMap<String, Share>,
    /// Models with object slots, seen wordings: accuracy per category split by how the slots
    /// met the named objects (`proximity, pointed right`, `… pointed wrong`, `… named object not
    /// found`), so that an error is put down to the perception or to the decoder.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_grounding: BTreeMap<String, CategoryScore>,
    /// A student that looks again (`model::config::LookAgain`), seen wordings: per category,
    /// the questions it answered with an object found only by looking again for what the
    /// question names, and how many of those it answered right.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub looked_again: BTreeMap<String, CategoryScore>,
    /// Per category, seen wordings answered blind (see `blind_method`); empty unless asked for.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub blind: BTreeMap<String, CategoryScore>,
    /// How the blind baseline hid the scene.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blind_method: Option<String>,
    /// Answers of the kind the question asks for (yes/no, a number, metres, a name), share of
    /// all questions, as the app answers (a polar question gets yes or no:
    /// `model::LoadedModel::answer`).
    pub answer_kind_ok: f32,
    /// The same for free (greedy) decoding alone, before a polar question's answer is held to
    /// yes or no: what the decoder itself has learnt of the asked kind.
    pub answer_kind_ok_free: f32,
    /// The same per category (seen and held-out wordings together): where the wrong kinds are.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub answer_kind: BTreeMap<String, Share>,
    /// Depth.
    pub depth: DepthScore,
    /// Detection.
    pub detection: DetectionScore,
    /// The camera head's errors (models with one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<CameraScore>,
    /// Scenes evaluated.
    pub scenes: usize,
}

impl EvalReport {
    /// `category` → accuracy, plus `depth_abs_rel`, `depth_delta1`, `map25`: for logs and plots.
    pub fn flat_metrics(&self) -> BTreeMap<String, f32> {
        let mut m: BTreeMap<String, f32> = self
            .categories
            .iter()
            .map(|(k, v)| (k.clone(), v.accuracy))
            .collect();
        m.insert("depth_abs_rel".into(), self.depth.abs_rel);
        m.insert("depth_delta1".into(), self.depth.delta1);
        m.insert("map25".into(), self.detection.map25);
        m
    }
}

/// How to evaluate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalOptions {
    /// At most this many scenes.
    pub max_scenes: Option<usize>,
    /// Also answer every question blind (another scene's tokens).
    pub blind: bool,
    /// Only questions of these categories (all when empty).
    pub categories: Vec<QuestionCategory>,
    /// The cameras a student groups the objects it finds through (`--predicted-cameras`: its
    /// camera head's; by default the views' own).
    pub cameras: Cameras,
}

/// One answered question.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    correct: bool,
    generated_correct: bool,
    kind_ok: bool,
    /// Of the kind before a polar question's answer is held to yes or no.
    free_kind_ok: bool,
    mra: Option<f32>,
    within_25: Option<f32>,
    /// The slots pointed at the named objects (models with object slots).
    grounded: Option<bool>,
    /// Why, for questions with object slots: see [`Grounding`].
    grounding: Option<Grounding>,
    /// Answered with an object found by looking again (`model::Answer::looked_again`).
    looked_again: bool,
}

/// How a question's slots met the objects it names (models with object slots; counting
/// questions, which name a class, have none): what splits a model's errors between its
/// perception (an object it did not find) and its decoder (pointing or reasoning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grounding {
    /// Every slot pointed at the object the question names.
    PointedRight,
    /// Every named object has a token, but a slot pointed elsewhere.
    PointedWrong,
    /// A named object has no token (the student did not find it).
    NotFound,
}

impl Grounding {
    fn name(self) -> &'static str {
        match self {
            Grounding::PointedRight => "pointed right",
            Grounding::PointedWrong => "pointed wrong",
            Grounding::NotFound => "named object not found",
        }
    }
}

#[derive(Default)]
struct Acc {
    correct: usize,
    generated: usize,
    n: usize,
    mra: f32,
    w25: f32,
    numeric: usize,
    answers: Vec<String>,
}

impl Acc {
    fn add(&mut self, o: Outcome, reference: &str) {
        self.n += 1;
        self.correct += usize::from(o.correct);
        self.generated += usize::from(o.generated_correct);
        if let (Some(m), Some(w)) = (o.mra, o.within_25) {
            self.numeric += 1;
            self.mra += m;
            self.w25 += w;
        }
        self.answers.push(normalize_answer(reference));
    }

    fn finish(&self) -> CategoryScore {
        CategoryScore {
            accuracy: self.correct as f32 / self.n.max(1) as f32,
            n: self.n,
            ci95: wilson95(self.correct, self.n),
            generated_accuracy: self.generated as f32 / self.n.max(1) as f32,
            chance: majority_share(self.answers.iter().map(String::as_str)),
            mra: (self.numeric > 0).then(|| self.mra / self.numeric as f32),
            within_25: (self.numeric > 0).then(|| self.w25 / self.numeric as f32),
        }
    }
}

fn finish_all(m: &BTreeMap<QuestionCategory, Acc>) -> BTreeMap<String, CategoryScore> {
    m.iter()
        .map(|(k, v)| (k.name().to_string(), v.finish()))
        .collect()
}

/// [`finish_all`] for accumulators already keyed by name.
fn finish_named(m: &BTreeMap<String, Acc>) -> BTreeMap<String, CategoryScore> {
    m.iter().map(|(k, v)| (k.clone(), v.finish())).collect()
}

/// Whether `answer` is of the kind `category` with reference `reference` asks for.
fn answer_kind_ok(category: QuestionCategory, answer: &str, reference: &str) -> bool {
    use crate::questions::score::parse_number;
    let a = normalize_answer(answer);
    if reference == "yes" || reference == "no" {
        return a == "yes" || a == "no";
    }
    match category {
        QuestionCategory::Counting => {
            a.parse::<u32>().is_ok() || parse_number(&a).is_some_and(|x| x.fract() == 0.0)
        }
        QuestionCategory::Distance => parse_number(&a).is_some() && a.contains('m'),
        QuestionCategory::Description => a.split_whitespace().count() >= 3,
        // A name or a direction: not a number, not yes or no, not nothing.
        _ => parse_number(&a).is_none() && !a.is_empty() && a != "yes" && a != "no",
    }
}

/// `"<category>, by name"` or `"<category>, by relation"` (see [`EvalReport::by_reference`]).
fn reference_key(q: &Question) -> String {
    use crate::questions::templates::{TEMPLATES, names_by_relation};
    let relative = q
        .template
        .as_deref()
        .and_then(|id| TEMPLATES.iter().find(|t| t.id == id))
        .is_some_and(|t| names_by_relation(t.text, &q.question));
    let how = if relative { "by relation" } else { "by name" };
    format!("{}, {how}", q.category.name())
}

/// Answers `q` about `tokens` and scores it.
fn answer_one(
    model: &LoadedModel,
    tokens: &SceneTokens,
    q: &Question,
) -> Result<Outcome, ModelError> {
    let a = model.answer(tokens, &q.question, false)?;
    let s = score(q.category, &a.text, &q.answer);
    let named = q.objects.len().min(a.grounding.len());
    let grounded = (named > 0 && q.category != QuestionCategory::Counting).then(|| {
        a.grounding[..named]
            .iter()
            .zip(&q.objects)
            .all(|(g, id)| g.object_id == *id)
    });
    let grounding = grounded.map(|right| {
        let found = |id: &u32| {
            tokens
                .objects
                .iter()
                .chain(&a.looked_again)
                .any(|o| o.id == *id)
        };
        if right {
            Grounding::PointedRight
        } else if q.objects[..named].iter().all(found) {
            Grounding::PointedWrong
        } else {
            Grounding::NotFound
        }
    });
    let decided = match (q.is_yes_no(), a.p_yes) {
        (true, Some(p)) => (p >= 0.5) == (q.answer == "yes"),
        _ => s.correct,
    };
    Ok(Outcome {
        correct: decided,
        generated_correct: s.correct,
        kind_ok: answer_kind_ok(q.category, &a.text, &q.answer),
        free_kind_ok: answer_kind_ok(
            q.category,
            a.unconstrained.as_deref().unwrap_or(&a.text),
            &q.answer,
        ),
        mra: s.mra,
        within_25: s.within_25.map(|w| f32::from(u8::from(w))),
        grounded,
        grounding,
        looked_again: !a.looked_again.is_empty(),
    })
}

/// The ground-truth boxes of `shard` that its views show (ScanNet-18 classes), in the world.
pub fn visible_ground_truth(shard: &SceneShard) -> Vec<GtBox> {
    let visible = shard_visibility(shard);
    shard
        .box_class
        .iter()
        .zip(&shard.box_object)
        .enumerate()
        .filter(|(_, (_, obj))| u32::try_from(**obj).is_ok_and(|id| visible.shows(id)))
        .map(|(i, (&class, _))| {
            let b = &shard.boxes[i * 6..i * 6 + 6];
            GtBox {
                class: class as usize,
                centre: Vec3::new(b[0], b[1], b[2]),
                size: Vec3::new(b[3], b[4], b[5]),
            }
        })
        .collect()
}

/// Evaluates `model` on the scenes of `splits` of `dataset`; `questions`, when given, replace
/// the dataset's (only those about the evaluated scenes, matched by scene name, are used).
pub fn evaluate(
    model: &LoadedModel,
    dataset: &Dataset,
    splits: &[Split],
    options: &EvalOptions,
    questions: Option<&[Question]>,
) -> Result<EvalReport, ModelError> {
    let scenes: Vec<(Split, String)> = splits
        .iter()
        .flat_map(|&s| dataset.scenes(s).iter().map(move |k| (s, k.clone())))
        .take(options.max_scenes.unwrap_or(usize::MAX))
        .collect();
    evaluate_scenes(model, scenes.len(), options, |i| {
        let (split, key) = &scenes[i];
        let (shard, own) = dataset.load(*split, key)?;
        let qs = match questions {
            Some(all) => all
                .iter()
                .filter(|q| q.scene == shard.scene)
                .cloned()
                .collect(),
            None => own,
        };
        Ok((shard, qs))
    })
}

/// Where the `scene` of a question file's line points: relative to the file's folder first,
/// then to the working directory (absolute paths as they are).
pub fn resolve_scene_path(scene: &str, questions_file: &Path) -> Option<PathBuf> {
    let p = Path::new(scene);
    if p.is_absolute() {
        return p.exists().then(|| p.to_path_buf());
    }
    let beside = questions_file
        .parent()
        .map(|d| d.join(p))
        .filter(|q| q.exists());
    beside.or_else(|| p.exists().then(|| p.to_path_buf()))
}

/// Evaluates `model` on `questions` (read from `questions_file`) about scenes given by path:
/// each `scene` a ScanNet folder or `.ply`, a 3D-FRONT house, a generated scene — anything
/// `spatia ask` opens — resolved by [`resolve_scene_path`]; the views are rendered as `ask`
/// renders them (the model's view count and size, seed `seed`).
pub fn evaluate_questions(
    model: &LoadedModel,
    questions: &[Question],
    questions_file: &Path,
    seed: u64,
    options: &EvalOptions,
) -> Result<EvalReport, ModelError> {
    let mut scenes: Vec<(String, PathBuf)> = Vec::new();
    for q in questions {
        if scenes.iter().any(|(s, _)| *s == q.scene) {
            continue;
        }
        let path = resolve_scene_path(&q.scene, questions_file).ok_or_else(|| {
            SceneError::invalid(
                questions_file,
                format!(
                    "scene \"{}\" is neither a path relative to the file's folder nor to the working directory",
                    q.scene
                ),
            )
        })?;
        scenes.push((q.scene.clone(), path));
    }
    scenes.truncate(options.max_scenes.unwrap_or(usize::MAX));
    let cfg = &model.model.cfg;
    let build = BuildOptions {
        views: cfg.num_views,
        size: cfg.encoder.image_size as u32,
        ..Default::default()
    };
    evaluate_scenes(model, scenes.len(), options, |i| {
        let (name, path) = &scenes[i];
        let scene = load_scene(path, &LoadOptions::default())?;
        let shard = render_shard(&scene, &build, seed)?;
        let qs = questions
            .iter()
            .filter(|q| q.scene == *name)
            .cloned()
            .collect();
        Ok((shard, qs))
    })
}

/// The evaluation over `n` scenes given by `load(i)` (shard and questions).
fn evaluate_scenes(
    model: &LoadedModel,
    n: usize,
    options: &EvalOptions,
    load: impl Fn(usize) -> Result<(SceneShard, Vec<Question>), ModelError>,
) -> Result<EvalReport, ModelError> {
    let mut cats: BTreeMap<QuestionCategory, Acc> = BTreeMap::new();
    let mut held: BTreeMap<QuestionCategory, Acc> = BTreeMap::new();
    let mut blind: BTreeMap<QuestionCategory, Acc> = BTreeMap::new();
    let mut by_reference: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by_template: BTreeMap<String, Acc> = BTreeMap::new();
    let mut grounding: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut by_grounding: BTreeMap<String, Acc> = BTreeMap::new();
    let mut looked_again: BTreeMap<QuestionCategory, Acc> = BTreeMap::new();
    let mut kinds: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut abs_rel, mut delta1, mut pixels, mut views_n) = (0f64, 0f64, 0usize, 0usize);
    let mut point_errors_m: Vec<f32> = Vec::new();
    let (mut rotation_errors_deg, mut translation_errors_m) = (Vec::new(), Vec::new());
    let mut identity_errors: (Vec<f32>, Vec<f32>) = (Vec::new(), Vec::new());
    let mut map = MapAccumulator::default();
    let (mut latency, mut timed, mut encode) = (0f64, 0usize, 0f64);
    let (mut kind_ok, mut free_kind_ok, mut answered) = (0usize, 0usize, 0usize);
    if options.blind && n < 2 {
        return Err(ModelError::Invalid(
            "the blind baseline needs at least two scenes (it answers with another scene's tokens)"
                .into(),
        ));
    }
    // Blind answers use the previous scene's tokens; the first scene takes the last one's.
    let mut donor: Option<SceneTokens> = if options.blind {
        let (shard, _) = load(n - 1)?;
        Some(model.encode(&ViewBatch::from_shard(&shard))?)
    } else {
        None
    };
    for i in 0..n {
        let (shard, mut qs) = load(i)?;
        if !options.categories.is_empty() {
            qs.retain(|q| options.categories.contains(&q.category));
        }
        let views = ViewBatch::from_shard(&shard);
        let start = Instant::now();
        let tokens = model.encode_as(&views, options.cameras)?;
        encode += start.elapsed().as_secs_f64() * 1000.0;
        if let Some(poses) = model.model.camera_poses(&tokens.encoder)? {
            let truth = relative_pose_targets(&shard.extrinsics, views.views);
            for (v, pose) in poses.iter().enumerate().skip(1) {
                if let Some(t) = truth.get(v * POSE_DIM..(v + 1) * POSE_DIM) {
                    rotation_errors_deg.push(rotation_error_deg(pose, t));
                    translation_errors_m.push(translation_error_m(pose, t));
                    identity_errors
                        .0
                        .push(rotation_error_deg(&IDENTITY_POSE, t));
                    identity_errors
                        .1
                        .push(translation_error_m(&IDENTITY_POSE, t));
                }
            }
        }
        for (qi, q) in qs.iter().enumerate() {
            let o = answer_one(model, &tokens, q)?;
            answered += 1;
            kind_ok += usize::from(o.kind_ok);
            free_kind_ok += usize::from(o.free_kind_ok);
            let k = kinds.entry(q.category.name().to_string()).or_default();
            k.0 += usize::from(o.kind_ok);
            k.1 += 1;
            let target = if q.held_out { &mut held } else { &mut cats };
            target.entry(q.category).or_default().add(o, &q.answer);
            if let Some(t) = &q.template {
                by_template.entry(t.clone()).or_default().add(o, &q.answer);
            }
            if !q.held_out {
                let key = reference_key(q);
                if let Some(g) = o.grounded {
                    let e = grounding.entry(key.clone()).or_default();
                    e.0 += usize::from(g);
                    e.1 += 1;
                }
                if let Some(g) = o.grounding {
                    let key = format!("{}, {}", q.category.name(), g.name());
                    by_grounding.entry(key).or_default().add(o, &q.answer);
                }
                by_reference.entry(key).or_default().add(o, &q.answer);
                if o.looked_again {
                    looked_again
                        .entry(q.category)
                        .or_default()
                        .add(o, &q.answer);
                }
            }
            if qi < TIMED_PER_SCENE {
                latency += model.forced_latency_ms(&tokens, &q.question, &q.answer)?;
                timed += 1;
            }
            if let Some(d) = &donor
                && !q.held_out
            {
                let b = answer_one(model, d, q)?;
                blind.entry(q.category).or_default().add(b, &q.answer);
            }
        }
        for (v, d) in model.depth(&tokens)?.iter().enumerate() {
            let size = shard.size as usize;
            let px = size * size;
            let gt = &shard.depth[v * px..(v + 1) * px];
            let k = shard.intrinsics.get(v * 9..v * 9 + 9);
            for (i, (p, g)) in d.depth_m.iter().zip(gt).enumerate() {
                if *g > 0.0 && g.is_finite() {
                    abs_rel += ((p - g).abs() / g) as f64;
                    delta1 += f64::from(u8::from((p / g).max(g / p) < 1.25));
                    pixels += 1;
                    if let Some(k) = k {
                        point_errors_m.push(point_error_m(k, i % size, i / size, *p, *g));
                    }
                }
            }
            views_n += 1;
        }
        let world_from_cam0 = shard.camera_from_world(0).inverse();
        let preds: Vec<PredBox> = model
            .detect(&tokens)?
            .into_iter()
            .map(|d| PredBox {
                class: d.class,
                score: d.score,
                // A box found in the world is scored as found, not re-boxed in the camera.
                bbox: match d.world_box_m {
                    Some([lo, hi]) => OrientedBox {
                        centre: (Vec3::from(lo) + Vec3::from(hi)) / 2.0,
                        size: Vec3::from(hi) - Vec3::from(lo),
                        world_from_frame: glam::Mat4::IDENTITY,
                    },
                    None => OrientedBox {
                        centre: Vec3::from(d.centre),
                        size: Vec3::from(d.size),
                        world_from_frame: world_from_cam0,
                    },
                },
            })
            .collect();
        map.add_scene(&visible_ground_truth(&shard), &preds, MAP_CLASSES);
        if donor.is_some() {
            donor = Some(tokens);
        }
    }
    let (map25, classes) = map.finish();
    Ok(EvalReport {
        model: format!("{} ({})", model.model.cfg.name, model.dir.display()),
        params: model.params()?,
        latency_ms: (latency / timed.max(1) as f64) as f32,
        latency_method: LATENCY_METHOD.to_string(),
        encode_ms: (encode / n.max(1) as f64) as f32,
        categories: finish_all(&cats),
        held_out: finish_all(&held),
        by_reference: finish_named(&by_reference),
        by_template: finish_named(&by_template),
        grounding: shares(&grounding),
        by_grounding: finish_named(&by_grounding),
        looked_again: finish_all(&looked_again),
        blind: finish_all(&blind),
        blind_method: options.blind.then(|| BLIND_METHOD.to_string()),
        answer_kind_ok: kind_ok as f32 / answered.max(1) as f32,
        answer_kind_ok_free: free_kind_ok as f32 / answered.max(1) as f32,
        answer_kind: shares(&kinds),
        depth: DepthScore {
            abs_rel: (abs_rel / pixels.max(1) as f64) as f32,
            delta1: (delta1 / pixels.max(1) as f64) as f32,
            point_median_m: median(&mut point_errors_m),
            views: views_n,
            input: model.model.cfg.encoder.position_3d,
        },
        detection: DetectionScore { map25, classes },
        camera: (!rotation_errors_deg.is_empty()).then(|| CameraScore {
            rotation_median_deg: median(&mut rotation_errors_deg),
            translation_median_m: median(&mut translation_errors_m),
            identity_rotation_median_deg: median(&mut identity_errors.0),
            identity_translation_median_m: median(&mut identity_errors.1),
            views: rotation_errors_deg.len(),
            answered_with: options.cameras,
        }),
        scenes: n,
    })
}

/// The distance between the 3D points of pixel (`x`, `y`) at predicted depth `pred_m` and at
/// true depth `true_m` through intrinsics `k` [3, 3]: both lie on the pixel's ray, so it is
/// the depth difference times the ray's length per unit depth.
fn point_error_m(k: &[f32], x: usize, y: usize, pred_m: f32, true_m: f32) -> f32 {
    let (fx, fy, cx, cy) = (k[0], k[4], k[2], k[5]);
    let (rx, ry) = ((x as f32 - cx) / fx, (y as f32 - cy) / fy);
    let ray = (1.0 + rx * rx + ry * ry).sqrt();
    if ray.is_finite() {
        (pred_m - true_m).abs() * ray
    } else {
        f32::NAN
    }
}

/// The median of the finite values of `v` (NaN when there is none).
fn median(v: &mut Vec<f32>) -> f32 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f32::NAN;
    }
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, f32::total_cmp).1
}

/// The paper's comparison of a student with its teacher.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    /// Student accuracy / teacher accuracy (the paper's retention), per category where the
    /// teacher is above chance by more than its interval (its lower 95% bound above chance).
    pub retention: BTreeMap<String, f32>,
    /// (student − chance) / (teacher − chance) per yes/no category, under the same condition.
    pub above_chance_retention: BTreeMap<String, f32>,
    /// Categories left out because the teacher is not clearly above chance.
    pub teacher_at_chance: Vec<String>,
    /// Mean of `retention`.
    pub mean_retention: f32,
    /// Mean of `above_chance_retention`.
    pub mean_above_chance_retention: f32,
    /// Teacher parameters / student parameters.
    pub params_ratio: f32,
    /// Teacher per-answer latency / student per-answer latency (both measured the same way,
    /// see [`LATENCY_METHOD`]).
    pub latency_ratio: f32,
}

/// The yes/no categories (chance 50% on balanced sets).
const YES_NO_CATEGORIES: [&str; 2] = ["proximity", "contact"];

/// Retention, size ratio and latency ratio of `student` against `teacher` (seen wordings).
pub fn compare(teacher: &EvalReport, student: &EvalReport) -> Comparison {
    let mut c = Comparison {
        params_ratio: teacher.params as f32 / student.params.max(1) as f32,
        latency_ratio: teacher.latency_ms / student.latency_ms.max(1e-6),
        ..Default::default()
    };
    for (k, t) in &teacher.categories {
        let Some(s) = student.categories.get(k) else {
            continue;
        };
        if t.ci95[0] <= t.chance {
            c.teacher_at_chance.push(k.clone());
            continue;
        }
        c.retention.insert(k.clone(), s.accuracy / t.accuracy);
        if YES_NO_CATEGORIES.contains(&k.as_str()) {
            c.above_chance_retention
                .insert(k.clone(), (s.accuracy - t.chance) / (t.accuracy - t.chance));
        }
    }
    let mean = |m: &BTreeMap<String, f32>| {
        if m.is_empty() {
            0.0
        } else {
            m.values().sum::<f32>() / m.len() as f32
        }
    };
    c.mean_retention = mean(&c.retention);
    c.mean_above_chance_retention = mean(&c.above_chance_retention);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_is_student_over_teacher_where_the_teacher_beats_chance() {
        let cat = |a: f32, n: usize| CategoryScore {
            accuracy: a,
            n,
            ci95: wilson95((a * n as f32).round() as usize, n),
            chance: 0.5,
            ..Default::default()
        };
        let teacher = EvalReport {
            params: 3000,
            latency_ms: 87.0,
            categories: BTreeMap::from([
                ("proximity".into(), cat(0.9, 400)),
                ("contact".into(), cat(0.8, 400)),
                // 55% of 40 is within its interval of chance: no ratio.
                ("size".into(), cat(0.55, 40)),
            ]),
            ..Default::default()
        };
        let student = EvalReport {
            params: 1000,
            latency_ms: 10.0,
            categories: BTreeMap::from([
                ("proximity".into(), cat(0.72, 400)),
                ("contact".into(), cat(0.8, 400)),
                ("size".into(), cat(0.6, 40)),
            ]),
            ..Default::default()
        };
        let c = compare(&teacher, &student);
        assert!((c.retention["proximity"] - 0.8).abs() < 1e-6);
        assert!((c.retention["contact"] - 1.0).abs() < 1e-6);
        assert!(!c.retention.contains_key("size"));
        assert_eq!(c.teacher_at_chance, vec!["size".to_string()]);
        assert!((c.mean_retention - 0.9).abs() < 1e-6);
        // (0.72 − 0.5) / (0.9 − 0.5) = 0.55; (0.8 − 0.5) / (0.8 − 0.5) = 1.
        assert!((c.above_chance_retention["proximity"] - 0.55).abs() < 1e-5);
        assert!((c.above_chance_retention["contact"] - 1.0).abs() < 1e-5);
        assert!((c.params_ratio - 3.0).abs() < 1e-6 && (c.latency_ratio - 8.7).abs() < 1e-5);
    }

    #[test]
    fn questions_are_grouped_by_how_they_name_their_objects() {
        let q = |text: &str, template: &str| Question {
            scene: "s".into(),
            question: text.into(),
            answer: "yes".into(),
            category: QuestionCategory::Proximity,
            template: Some(template.into()),
            held_out: false,
            objects: vec![1, 2],
            classes: Vec::new(),
            views: Vec::new(),
            fact: None,
            anchors: Vec::new(),
            answer_object: None,
        };
        // (question, template, key); an unknown template counts as named plainly.
        let cases = [
            ("Is the chair near the bed?", "near.1", "by name"),
            (
                "Is the chair closest to the tv near the bed?",
                "near.1",
                "by relation",
            ),
            (
                "Is the cup on the table near the bed?",
                "near.1",
                "by relation",
            ),
            ("Is the chair near the bed?", "nope", "by name"),
        ];
        for (text, template, how) in cases {
            assert_eq!(
                reference_key(&q(text, template)),
                format!("proximity, {how}")
            );
        }
    }

    #[test]
    fn yes_no_is_decided_by_the_two_logits() {
        // Vocabulary of 6; "yes" is id 4, "no" id 2. The generated token could be anything
        // (id 5 has the largest logit): the decision reads only yes against no.
        let logits = [0.0, 0.0, 1.0, 0.0, 2.0, 9.0];
        let p = crate::model::yes_probability(&logits, 4, 2);
        assert!((p - 1.0 / (1.0 + (-1.0f32).exp())).abs() < 1e-6, "{p}");
        assert!(crate::model::yes_probability(&[0.0, 3.0, 0.0, 0.0, 1.0], 4, 1) < 0.5);
    }

    #[test]
    fn objects_no_view_shows_are_not_ground_truth() {
        // One 8x8 view: object 1 covers 12 pixels, object 2 none (it is behind something).
        let mut instance = vec![-1i32; 64];
        instance[..12].fill(1);
        let shard = SceneShard {
            scene: "hand".into(),
            view_source: "render".into(),
            views: 1,
            size: 8,
            images: vec![0; 64 * 3],
            depth: vec![1.0; 64],
            instance,
            intrinsics: vec![8.0, 0.0, 3.5, 0.0, 8.0, 3.5, 0.0, 0.0, 1.0],
            extrinsics: vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            boxes: vec![
                0.0, 0.0, 2.0, 1.0, 1.0, 1.0, //
                3.0, 0.0, 2.0, 1.0, 1.0, 1.0,
            ],
            box_class: vec![4, 4],
            box_object: vec![1, 2],
            object_id: vec![1, 2],
            object_category: vec![5, 5],
        };
        let gt = visible_ground_truth(&shard);
        assert_eq!(gt.len(), 1);
        assert_eq!(gt[0].centre, Vec3::new(0.0, 0.0, 2.0));
        // A perfect detection of the visible box: AP 1 (recall would stop at 0.5 had the
        // hidden box counted).
        let pred = PredBox {
            class: 4,
            score: 0.9,
            bbox: OrientedBox {
                centre: Vec3::new(0.0, 0.0, 2.0),
                size: Vec3::ONE,
                world_from_frame: glam::Mat4::IDENTITY,
            },
        };
        let mut map = MapAccumulator::default();
        map.add_scene(&gt, &[pred], MAP_CLASSES);
        assert_eq!(map.finish(), (1.0, 1));
    }

    #[test]
    fn point_map_error_by_hand() {
        let k = [100.0, 0.0, 50.0, 0.0, 100.0, 50.0, 0.0, 0.0, 1.0];
        // On the optical axis the point error is the depth error.
        assert!((point_error_m(&k, 50, 50, 2.2, 2.0) - 0.2).abs() < 1e-6);
        // One focal length to the side the ray is √2 long per metre of depth.
        let e = point_error_m(&k, 150, 50, 2.2, 2.0);
        assert!((e - 0.2 * 2f32.sqrt()).abs() < 1e-5, "{e}");
        assert!(point_error_m(&[0.0; 9], 1, 1, 2.0, 1.0).is_nan());
        // The median skips what is not finite.
        assert_eq!(median(&mut vec![3.0, 1.0, f32::NAN, 2.0]), 2.0);
        assert!(median(&mut vec![f32::NAN]).is_nan());
    }

    #[test]
    fn answer_kinds() {
        use QuestionCategory as C;
        assert!(answer_kind_ok(C::Counting, "3", "2"));
        assert!(!answer_kind_ok(C::Counting, "1.4 m", "2"));
        assert!(answer_kind_ok(C::Distance, "1.4 m", "0.80 m"));
        assert!(!answer_kind_ok(C::Distance, "yes", "0.80 m"));
        assert!(answer_kind_ok(C::Proximity, "no", "yes"));
        assert!(!answer_kind_ok(C::Proximity, "yesyes", "yes"));
        assert!(answer_kind_ok(C::Closest, "sofa", "table"));
        assert!(!answer_kind_ok(C::Closest, "no", "table"));
        assert!(!answer_kind_ok(C::Size, "yes", "bed"));
    }
}
