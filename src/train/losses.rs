//! Loss terms, each returned under its logged name: answer cross-entropy, answer distillation
//! (KL at temperature T), depth (confidence-weighted log-depth L1), detection (Hungarian-matched
//! class + box L1 + 3D IoU), feature matching, and Kendall et al.'s uncertainty weighting.

use candle_core::{D, Result, Tensor};
use pathfinding::matrix::Matrix;

use crate::data::iou_3d_plain;
use crate::model::nn::softmax;

/// Cross-entropy of `logits` [N, V] against `targets` [N].
pub fn answer_ce(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    candle_nn::loss::cross_entropy(logits, targets)
}

/// Hinton's distillation term: T² · mean over rows of KL(softmax(teacher / T) ‖ softmax(student
/// / T)). `student` and `teacher` are [N, V] logits over the same vocabulary.
pub fn distill_kl(student: &Tensor, teacher: &Tensor, temperature: f64) -> Result<Tensor> {
    let log_ps = candle_nn::ops::log_softmax(&(student / temperature)?, D::Minus1)?;
    let log_pt = candle_nn::ops::log_softmax(&(teacher / temperature)?, D::Minus1)?;
    let pt = log_pt.exp()?;
    let kl = (pt * (log_pt - log_ps)?)?.sum(D::Minus1)?.mean_all()?;
    kl * (temperature * temperature)
}

/// Camera pose loss (VGGT's camera term, kept simple): the mean absolute error of the
/// translations (metres) plus that of the unit quaternions, between predicted poses `pred` and
/// targets `target`, both [B, S, 7] (`model::camera_head`; targets with `w ≥ 0`).
pub fn camera_loss(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    let last = pred.rank().saturating_sub(1);
    let t = (pred.narrow(last, 0, 3)? - target.narrow(last, 0, 3)?)?
        .abs()?
        .mean_all()?;
    let q = (pred.narrow(last, 3, 4)? - target.narrow(last, 3, 4)?)?
        .abs()?
        .mean_all()?;
    t + q
}

/// Depth loss over pixels with ground truth (> 0): mean of c · |log d̂ − log d| − α · log c,
/// c the predicted confidence (≥ 1). `pred`, `conf`, `gt` share a shape.
pub fn depth_loss(pred: &Tensor, conf: &Tensor, gt: &Tensor, alpha: f64) -> Result<Tensor> {
    let valid = gt.gt(0.0)?.to_dtype(pred.dtype())?;
    let n = valid.sum_all()?.to_scalar::<f32>()?.max(1.0) as f64;
    let safe_gt = (gt + (1.0 - &valid)?)?; // 1 where invalid, so the log is finite
    let err = (pred.log()? - safe_gt.log()?)?.abs()?;
    let per_pixel = ((conf * err)? - (conf.log()? * alpha)?)?;
    (per_pixel * valid)?.sum_all()? / n
}

/// Axis-aligned 3D IoU between boxes `a` [N, 6] and `b` [N, 6] (centre, size), row by row.
pub fn iou_3d(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(iou_and_giou_3d(a, b)?.0)
}

/// Axis-aligned 3D generalised IoU (Rezatofighi et al. 2019): IoU − (C − U) / C with C the
/// enclosing box's volume; unlike IoU it still has a gradient when the boxes do not overlap.
pub fn giou_3d(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(iou_and_giou_3d(a, b)?.1)
}

fn iou_and_giou_3d(a: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor)> {
    let corners = |t: &Tensor| -> Result<(Tensor, Tensor)> {
        let c = t.narrow(D::Minus1, 0, 3)?;
        let h = (t.narrow(D::Minus1, 3, 3)? * 0.5)?;
        Ok(((&c - &h)?, (&c + &h)?))
    };
    let (amin, amax) = corners(a)?;
    let (bmin, bmax) = corners(b)?;
    let inter = (amax.minimum(&bmax)? - amin.maximum(&bmin)?)?.relu()?;
    let hull = (amax.maximum(&bmax)? - amin.minimum(&bmin)?)?;
    let vol = |t: &Tensor| {
        t.narrow(D::Minus1, 0, 1)? * t.narrow(D::Minus1, 1, 1)? * t.narrow(D::Minus1, 2, 1)?
    };
    let inter_v = vol(&inter)?;
    let va = vol(&a.narrow(D::Minus1, 3, 3)?)?;
    let vb = vol(&b.narrow(D::Minus1, 3, 3)?)?;
    let union = ((va + vb)? - &inter_v)?;
    let hull_v = (vol(&hull)? + 1e-9)?;
    let iou = (inter_v / (&union + 1e-9)?)?;
    let giou = (&iou - ((&hull_v - &union)? / &hull_v)?)?;
    Ok((iou.squeeze(D::Minus1)?, giou.squeeze(D::Minus1)?))
}

/// Weights of the matching cost and the detection loss.
#[derive(Debug, Clone, Copy)]
pub struct DetectionWeights {
    /// Class probability in the matching cost and cross-entropy weight.
    pub class: f64,
    /// Box L1.
    pub l1: f64,
    /// 1 − GIoU.
    pub iou: f64,
    /// Cross-entropy weight of queries matched to nothing.
    pub no_object: f64,
}

impl Default for DetectionWeights {
    fn default() -> Self {
        Self {
            class: 1.0,
            l1: 2.0,
            iou: 2.0,
            no_object: 0.1,
        }
    }
}

/// Hungarian assignment of ground-truth boxes (rows) to queries (columns) minimising `cost`
/// [G][Q]; returns the query of each ground truth. Needs G ≤ Q.
pub fn hungarian(cost: &[Vec<f32>]) -> Vec<usize> {
    let g = cost.len();
    if g == 0 {
        return Vec::new();
    }
    let q = cost[0].len();
    let scaled: Vec<i64> = cost
        .iter()
        .flat_map(|row| row.iter().map(|c| (c * 1e4).round() as i64))
        .collect();
    match Matrix::from_vec(g, q, scaled) {
        Ok(m) => pathfinding::kuhn_munkres::kuhn_munkres_min(&m).1,
        Err(_) => Vec::new(),
    }
}

/// DETR's set loss for one scene: `logits` [Q, C + 1] (last = no object), `boxes` [Q, 6];
/// ground truth `gt_class` (indices < C) and `gt_boxes` [G][6] (at most Q of them). Returns
/// (class term, L1 term, 1 − GIoU term).
pub fn detection_loss(
    logits: &Tensor,
    boxes: &Tensor,
    gt_class: &[u32],
    gt_boxes: &[[f32; 6]],
    w: &DetectionWeights,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (q, c1) = logits.dims2()?;
    let dev = logits.device();
    let probs = softmax(logits)?.to_vec2::<f32>()?;
    let pred = boxes.to_vec2::<f32>()?;
    let g = gt_class.len().min(q);
    let mut cost = vec![vec![0f32; q]; g];
    for i in 0..g {
        for j in 0..q {
            let pb: [f32; 6] = [
                pred[j][0], pred[j][1], pred[j][2], pred[j][3], pred[j][4], pred[j][5],
            ];
            let l1: f32 = (0..6).map(|k| (pb[k] - gt_boxes[i][k]).abs()).sum();
            cost[i][j] = -(w.class as f32) * probs[j][gt_class[i] as usize]
                + w.l1 as f32 * l1
                + w.iou as f32 * (1.0 - iou_3d_plain(&pb, &gt_boxes[i]));
        }
    }
    let assign = hungarian(&cost);
    let mut targets = vec![(c1 - 1) as u32; q];
    let mut weights = vec![w.no_object as f32; q];
    for (i, &j) in assign.iter().enumerate() {
        targets[j] = gt_class[i];
        weights[j] = 1.0;
    }
    let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let t = Tensor::new(targets.as_slice(), dev)?.unsqueeze(1)?;
    let nll = log_p.gather(&t, 1)?.squeeze(1)?.neg()?;
    let wt = Tensor::new(weights.as_slice(), dev)?;
    let class = ((nll * &wt)?.sum_all()? / weights.iter().sum::<f32>().max(1e-6) as f64)?;
    if assign.is_empty() {
        let zero = Tensor::zeros((), logits.dtype(), dev)?;
        return Ok((class, zero.clone(), zero));
    }
    let idx: Vec<u32> = assign.iter().map(|&j| j as u32).collect();
    let matched = boxes.index_select(&Tensor::new(idx.as_slice(), dev)?, 0)?;
    let flat: Vec<f32> = gt_boxes[..assign.len()].iter().flatten().copied().collect();
    let gt = Tensor::from_vec(flat, (assign.len(), 6), dev)?;
    let l1 = (&matched - &gt)?.abs()?.sum(D::Minus1)?.mean_all()?;
    let iou = (1.0 - giou_3d(&matched, &gt)?)?.mean_all()?;
    Ok((class, l1, iou))
}

/// Mean squared error between `a` and `b`.
pub fn mse(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    (a - b)?.sqr()?.mean_all()
}

/// Kendall et al. (2018): Σ exp(−s_i) L_i + s_i over tasks, `log_vars` [T] learned.
pub fn kendall_total(losses: &[Tensor], log_vars: &Tensor) -> Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for (i, l) in losses.iter().enumerate() {
        let s = log_vars.get(i)?;
        let term = ((s.neg()?.exp()? * l)? + &s)?;
        total = Some(match total {
            Some(t) => (t + term)?,
            None => term,
        });
    }
    total.ok_or_else(|| candle_core::Error::Msg("no loss terms".into()))
}

/// Rows of `x` [N, C] scaled to unit length.
fn unit_rows(x: &Tensor) -> Result<Tensor> {
    let norm = (x.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
    x.broadcast_div(&norm)
}

/// Feature distillation: mean over rows of 1 − cos(student_i, teacher_i); `student` (already
/// projected to the teacher's width) and `teacher` are [N, C].
pub fn feature_cosine(student: &Tensor, teacher: &Tensor) -> Result<Tensor> {
    let cos = (unit_rows(student)? * unit_rows(teacher)?)?.sum(D::Minus1)?;
    (1.0 - cos)?.mean_all()
}

/// A cross-view cost volume: for each token of view a (`a` [P, C]), the softmax over the tokens
/// of view b (`b` [P', C]) of their cosine similarity / `tau`; [P, P'] log-probabilities.
pub fn cost_volume(a: &Tensor, b: &Tensor, tau: f64) -> Result<Tensor> {
    let sim = unit_rows(a)?.matmul(&unit_rows(b)?.t()?)?;
    candle_nn::ops::log_softmax(&(sim / tau)?, D::Minus1)
}

/// KL(teacher ‖ student) between two cost volumes given as log-probabilities [P, P'], mean
/// over rows.
pub fn cost_volume_kl(student_log: &Tensor, teacher_log: &Tensor) -> Result<Tensor> {
    let pt = teacher_log.exp()?;
    (pt * (teacher_log - student_log)?)?
        .sum(D::Minus1)?
        .mean_all()
}

/// Cross-view matching (InfoNCE): for each correspondence (token i of view a, token j of view
/// b), cross-entropy of the softmax over view b's tokens of cos(a_i, b_·) / `tau` against j.
/// `a` [P, C], `b` [P', C]. Zero without correspondences.
pub fn correspondence_nce(
    a: &Tensor,
    b: &Tensor,
    pairs: &[(u32, u32)],
    tau: f64,
) -> Result<Tensor> {
    if pairs.is_empty() {
        return Tensor::zeros((), a.dtype(), a.device());
    }
    let dev = a.device();
    let rows: Vec<u32> = pairs.iter().map(|p| p.0).collect();
    let cols: Vec<u32> = pairs.iter().map(|p| p.1).collect();
    let fa = unit_rows(&a.index_select(&Tensor::new(rows.as_slice(), dev)?, 0)?)?;
    let logits = (fa.matmul(&unit_rows(b)?.t()?)? / tau)?;
    candle_nn::loss::cross_entropy(&logits, &Tensor::new(cols.as_slice(), dev)?)
}

/// Relative depth order (ranking loss): mean of log(1 + exp(−s · (log d_i − log d_j))) over
/// pairs (i, j, s) of flat indices into `depth` (s = +1 when i is farther, −1 when nearer).
pub fn depth_rank(depth: &Tensor, pairs: &[(usize, usize, f32)]) -> Result<Tensor> {
    if pairs.is_empty() {
        return Tensor::zeros((), depth.dtype(), depth.device());
    }
    let dev = depth.device();
    let flat = depth.flatten_all()?.log()?;
    let idx = |f: fn(&(usize, usize, f32)) -> u32| -> Result<Tensor> {
        let v: Vec<u32> = pairs.iter().map(f).collect();
        Tensor::new(v.as_slice(), dev)
    };
    let di = flat.index_select(&idx(|p| p.0 as u32)?, 0)?;
    let dj = flat.index_select(&idx(|p| p.1 as u32)?, 0)?;
    let s: Vec<f32> = pairs.iter().map(|p| p.2).collect();
    let margin = ((di - dj)? * Tensor::new(s.as_slice(), dev)?)?;
    // softplus(−m), with −m clamped so exp stays finite.
    (margin.neg()?.clamp(-30.0, 30.0)?.exp()? + 1.0)?
        .log()?
        .mean_all()
}
