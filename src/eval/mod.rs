//! Evaluation the way the paper reports it: accuracy per question category (mean relative
//! accuracy and within-25% for distances), separately for held-out wordings; depth AbsRel and
//! δ < 1.25; detection mAP@0.25 over the ScanNet-18 classes (axis-aligned 3D IoU); per-answer
//! latency with the scene cached; parameters.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::data::Split;
use crate::data::{Dataset, iou_3d_plain};
use crate::model::{LoadedModel, ModelError, ViewBatch};
use crate::questions::score::score;
use crate::questions::{Question, QuestionCategory};

/// One category's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CategoryScore {
    /// Share answered correctly.
    pub accuracy: f32,
    /// Questions.
    pub n: usize,
    /// Mean relative accuracy (numeric categories).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mra: Option<f32>,
    /// Share within 25% (numeric categories).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_25: Option<f32>,
}

/// Depth metrics over the evaluated views.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DepthScore {
    /// Mean absolute relative error.
    pub abs_rel: f32,
    /// Share of pixels with max(d̂/d, d/d̂) < 1.25.
    pub delta1: f32,
    /// Views evaluated.
    pub views: usize,
}

/// Detection metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DetectionScore {
    /// Mean average precision at 3D IoU 0.25 over the ScanNet-18 classes present.
    pub map25: f32,
    /// Classes with ground truth.
    pub classes: usize,
}

/// An evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvalReport {
    /// Model name and folder.
    pub model: String,
    /// Parameters.
    pub params: usize,
    /// Mean per-answer latency with the scene cached, milliseconds.
    pub latency_ms: f32,
    /// Mean encode time per scene, milliseconds.
    pub encode_ms: f32,
    /// Per category, training wordings and held-out ones together.
    pub categories: BTreeMap<String, CategoryScore>,
    /// Per category, held-out wordings only.
    pub held_out: BTreeMap<String, CategoryScore>,
    /// Depth.
    pub depth: DepthScore,
    /// Detection.
    pub detection: DetectionScore,
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

#[derive(Default)]
struct Acc {
    correct: usize,
    n: usize,
    mra: f32,
    w25: usize,
    numeric: usize,
}

impl Acc {
    fn add(&mut self, s: crate::questions::score::Score) {
        self.n += 1;
        self.correct += usize::from(s.correct);
        if let (Some(m), Some(w)) = (s.mra, s.within_25) {
            self.numeric += 1;
            self.mra += m;
            self.w25 += usize::from(w);
        }
    }

    fn finish(&self) -> CategoryScore {
        CategoryScore {
            accuracy: self.correct as f32 / self.n.max(1) as f32,
            n: self.n,
            mra: (self.numeric > 0).then(|| self.mra / self.numeric as f32),
            within_25: (self.numeric > 0).then(|| self.w25 as f32 / self.numeric as f32),
        }
    }
}

/// Average precision from detections (score, true positive) and the number of ground truths,
/// all-point interpolated.
pub fn average_precision(mut dets: Vec<(f32, bool)>, gt: usize) -> f32 {
    if gt == 0 {
        return 0.0;
    }
    dets.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut points = Vec::new();
    for (_, hit) in dets {
        if hit {
            tp += 1
        } else {
            fp += 1
        }
        points.push((tp as f32 / gt as f32, tp as f32 / (tp + fp) as f32));
    }
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    for i in 0..points.len() {
        let best_precision = points[i..].iter().map(|p| p.1).fold(0.0, f32::max);
        ap += (points[i].0 - prev_recall) * best_precision;
        prev_recall = points[i].0;
    }
    ap
}

/// Evaluates `model` on the scenes of `splits` of `dataset` (at most `max_scenes` scenes); `questions`, when
/// given, replace the dataset's (only those about the evaluated scenes are used).
pub fn evaluate(
    model: &LoadedModel,
    dataset: &Dataset,
    splits: &[Split],
    max_scenes: Option<usize>,
    questions: Option<&[Question]>,
) -> Result<EvalReport, ModelError> {
    let scenes: Vec<(Split, String)> = splits
        .iter()
        .flat_map(|&s| dataset.scenes(s).iter().map(move |k| (s, k.clone())))
        .take(max_scenes.unwrap_or(usize::MAX))
        .collect();
    let mut cats: BTreeMap<QuestionCategory, Acc> = BTreeMap::new();
    let mut held: BTreeMap<QuestionCategory, Acc> = BTreeMap::new();
    let (mut abs_rel, mut delta1, mut pixels, mut views_n) = (0f64, 0f64, 0usize, 0usize);
    let mut dets: BTreeMap<usize, Vec<(f32, bool)>> = BTreeMap::new();
    let mut gts: BTreeMap<usize, usize> = BTreeMap::new();
    let (mut latency, mut answers, mut encode) = (0f64, 0usize, 0f64);
    for (split, key) in &scenes {
        let (shard, own) = dataset.load(*split, key)?;
        let qs: Vec<Question> = match questions {
            Some(all) => all
                .iter()
                .filter(|q| q.scene == shard.scene)
                .cloned()
                .collect(),
            None => own,
        };
        let views = ViewBatch::from_shard(&shard);
        let start = Instant::now();
        let tokens = model.encode(&views)?;
        encode += start.elapsed().as_secs_f64() * 1000.0;
        for q in &qs {
            let a = model.answer(&tokens, &q.question, false)?;
            latency += a.latency_ms;
            answers += 1;
            let s = score(q.category, &a.text, &q.answer);
            cats.entry(q.category).or_default().add(s);
            if q.held_out {
                held.entry(q.category).or_default().add(s);
            }
        }
        for (v, d) in model.depth(&tokens)?.iter().enumerate() {
            let n = shard.size as usize * shard.size as usize;
            let gt = &shard.depth[v * n..(v + 1) * n];
            for (p, g) in d.depth_m.iter().zip(gt) {
                if *g > 0.0 {
                    abs_rel += ((p - g).abs() / g) as f64;
                    delta1 += f64::from(u8::from((p / g).max(g / p) < 1.25));
                    pixels += 1;
                }
            }
            views_n += 1;
        }
        let (gt_class, gt_boxes) = shard.boxes_in_first_camera(usize::MAX);
        let mut matched = vec![false; gt_class.len()];
        for &c in &gt_class {
            if (c as usize) < 18 {
                *gts.entry(c as usize).or_insert(0) += 1;
            }
        }
        for d in model.detect(&tokens)? {
            if d.class >= 18 {
                continue;
            }
            let b = [
                d.centre[0],
                d.centre[1],
                d.centre[2],
                d.size[0],
                d.size[1],
                d.size[2],
            ];
            let best = gt_class
                .iter()
                .enumerate()
                .filter(|(i, c)| **c as usize == d.class && !matched[*i])
                .map(|(i, _)| (i, iou_3d_plain(&b, &gt_boxes[i])))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            let hit = match best {
                Some((i, iou)) if iou >= 0.25 => {
                    matched[i] = true;
                    true
                }
                _ => false,
            };
            dets.entry(d.class).or_default().push((d.score, hit));
        }
    }
    let aps: Vec<f32> = gts
        .iter()
        .map(|(c, n)| average_precision(dets.remove(c).unwrap_or_default(), *n))
        .collect();
    Ok(EvalReport {
        model: format!("{} ({})", model.model.cfg.name, model.dir.display()),
        params: model.params()?,
        latency_ms: (latency / answers.max(1) as f64) as f32,
        encode_ms: (encode / scenes.len().max(1) as f64) as f32,
        categories: cats
            .iter()
            .map(|(k, v)| (k.name().to_string(), v.finish()))
            .collect(),
        held_out: held
            .iter()
            .map(|(k, v)| (k.name().to_string(), v.finish()))
            .collect(),
        depth: DepthScore {
            abs_rel: (abs_rel / pixels.max(1) as f64) as f32,
            delta1: (delta1 / pixels.max(1) as f64) as f32,
            views: views_n,
        },
        detection: DetectionScore {
            map25: if aps.is_empty() {
                0.0
            } else {
                aps.iter().sum::<f32>() / aps.len() as f32
            },
            classes: aps.len(),
        },
        scenes: scenes.len(),
    })
}

/// The paper's comparison of a student with its teacher.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    /// Student accuracy / teacher accuracy, per category both report.
    pub retention: BTreeMap<String, f32>,
    /// Mean of the per-category retentions.
    pub mean_retention: f32,
    /// Teacher parameters / student parameters.
    pub params_ratio: f32,
    /// Teacher per-answer latency / student per-answer latency.
    pub latency_ratio: f32,
}

/// Retention, size ratio and latency ratio of `student` against `teacher`.
pub fn compare(teacher: &EvalReport, student: &EvalReport) -> Comparison {
    let retention: BTreeMap<String, f32> = teacher
        .categories
        .iter()
        .filter_map(|(k, t)| {
            let s = student.categories.get(k)?;
            (t.accuracy > 0.0).then(|| (k.clone(), s.accuracy / t.accuracy))
        })
        .collect();
    let mean_retention = if retention.is_empty() {
        0.0
    } else {
        retention.values().sum::<f32>() / retention.len() as f32
    };
    Comparison {
        mean_retention,
        retention,
        params_ratio: teacher.params as f32 / student.params.max(1) as f32,
        latency_ratio: teacher.latency_ms / student.latency_ms.max(1e-6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_is_student_over_teacher() {
        let cat = |a: f32| CategoryScore {
            accuracy: a,
            n: 10,
            ..Default::default()
        };
        let teacher = EvalReport {
            params: 3000,
            latency_ms: 87.0,
            categories: BTreeMap::from([
                ("proximity".into(), cat(0.9)),
                ("contact".into(), cat(0.8)),
                ("size".into(), cat(0.0)),
            ]),
            ..Default::default()
        };
        let student = EvalReport {
            params: 1000,
            latency_ms: 10.0,
            categories: BTreeMap::from([
                ("proximity".into(), cat(0.72)),
                ("contact".into(), cat(0.8)),
            ]),
            ..Default::default()
        };
        let c = compare(&teacher, &student);
        assert!((c.retention["proximity"] - 0.8).abs() < 1e-6);
        assert!((c.retention["contact"] - 1.0).abs() < 1e-6);
        assert!(!c.retention.contains_key("size"));
        assert!((c.mean_retention - 0.9).abs() < 1e-6);
        assert!((c.params_ratio - 3.0).abs() < 1e-6 && (c.latency_ratio - 8.7).abs() < 1e-5);
    }
}
