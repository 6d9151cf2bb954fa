//! Stage 2's loss on one batch of questions from many scenes: one decoder pass over
//! `[object tokens, left-padded][<bos> question, K latents, <ans>, answer, right-padded]`,
//! returned as named terms — `answer` (cross-entropy averaged per question, then over the
//! batch, so one-word answers weigh as much as long ones), and the Hidden CoT probes
//! `probe_class`, `probe_box` (the named objects' boxes about the scene origin, smooth L1) and
//! `probe_distance` (ln(0.05 + d)) and, with object slots, `probe_pointer` (cross-entropy of the
//! first two latents' pointers against the tokens of the objects the question names) and, with
//! anchors, `probe_anchor` (their anchor pointers against the tokens of the objects the question
//! names them by, for objects named by relation).

use std::collections::BTreeMap;

use candle_core::{D, DType, Module, Result, Tensor};

use super::cache::{CachedQuestion, TokenCache};
use super::noise::WordNoise;
use crate::data::ObjectToken;
use crate::model::objects::{distance_target, scene_origin};
use crate::model::vlm::ObjectGeometry;
use crate::model::vlm::object_key_mask;
use crate::model::{SpatiaTokenizer, SpatialVlm};

/// The special token ids the sequence uses.
#[derive(Debug, Clone, Copy)]
pub struct Specials {
    /// `<bos>`.
    pub bos: u32,
    /// `<ans>`.
    pub ans: u32,
    /// `<eos>`.
    pub eos: u32,
    /// `<pad>`.
    pub pad: u32,
    /// Question-word noise of this training step (`None`: the questions as written).
    pub noise: Option<WordNoise>,
}

impl Specials {
    /// The tokenizer's.
    pub fn of(t: &SpatiaTokenizer) -> Specials {
        Specials {
            bos: t.bos,
            ans: t.ans,
            eos: t.eos,
            pad: t.pad,
            noise: None,
        }
    }
}

/// Per-question layout inside the tail (after the scene tokens).
struct Tail {
    ids: Vec<u32>,
    latent_start: usize,
    ans_pos: usize,
    targets: Vec<u32>,
}

/// The tail of the cached question `index` (`q`), its words noised when `s` says so.
fn tail_of(q: &CachedQuestion, index: usize, k: usize, s: Specials) -> Tail {
    let mut ids = vec![s.bos];
    match &s.noise {
        Some(noise) => ids.extend(noise.apply(&q.question, index)),
        None => ids.extend_from_slice(&q.question),
    }
    let latent_start = ids.len();
    ids.extend(std::iter::repeat_n(s.pad, k));
    let ans_pos = ids.len();
    ids.push(s.ans);
    let mut targets = q.answer.clone();
    targets.push(s.eos);
    // Inputs after <ans>: the answer tokens (the last target, <eos>, needs no input).
    ids.extend_from_slice(&q.answer);
    Tail {
        ids,
        latent_start,
        ans_pos,
        targets,
    }
}

/// One decoder pass over a batch: final hidden states flattened [B·T, D], with what is needed
/// to find each question's rows.
struct BatchForward<'c> {
    /// Final hidden states of positions `offset..T` per row, flattened [B·(T − offset), D].
    flat: Tensor,
    /// Positions per row in `flat` (T − offset).
    t_len: usize,
    /// The first position `flat` covers.
    offset: usize,
    /// With object slots, pass 1's hidden states of positions `0..T1`, flattened, and T1.
    first: Option<(Tensor, usize)>,
    /// Scene tokens (left-padded) per row.
    n: usize,
    tails: Vec<Tail>,
    scenes: Vec<&'c [ObjectToken]>,
    qs: Vec<&'c CachedQuestion>,
    /// Object-slot pointer logits [B, S, n].
    pointer_scores: Option<Tensor>,
    /// Anchor pointer logits [B, S, n] (`anchor_pointers`).
    anchor_scores: Option<Tensor>,
}

fn forward_batch<'c>(
    model: &SpatialVlm,
    cache: &'c TokenCache,
    batch: &[usize],
    specials: Specials,
    blind: bool,
) -> Result<BatchForward<'c>> {
    let device = model.device().clone();
    let qs: Vec<&CachedQuestion> = batch.iter().map(|&i| &cache.questions[i]).collect();
    let b = qs.len();
    if b == 0 {
        candle_core::bail!("an empty batch");
    }
    let empty: &[ObjectToken] = &[];
    let scenes: Vec<&[ObjectToken]> = qs
        .iter()
        .map(|q| {
            if blind {
                empty
            } else {
                cache.scenes[q.scene].objects.as_slice()
            }
        })
        .collect();
    let scene_x = model.object_embeds(&scenes, None)?;
    let n = scene_x.dim(1)?;
    let lengths: Vec<usize> = scenes.iter().map(|s| s.len()).collect();
    let k = model.latents().map_or(0, |l| l.dims()[0]);
    let tails: Vec<Tail> = qs
        .iter()
        .zip(batch)
        .map(|(q, &index)| tail_of(q, index, k, specials))
        .collect();
    let l = tails.iter().map(|t| t.ids.len()).max().unwrap_or(1);
    // Token ids, right-padded; key mask; latent selection.
    let mut ids = Vec::with_capacity(b * l);
    let scene_mask = object_key_mask(&lengths, n);
    let mut full_mask = Vec::with_capacity(b * (n + l));
    let mut is_latent = vec![0f32; b * l];
    let mut select = vec![0f32; b * l * k.max(1)];
    for (bi, t) in tails.iter().enumerate() {
        ids.extend_from_slice(&t.ids);
        ids.extend(std::iter::repeat_n(specials.pad, l - t.ids.len()));
        full_mask.extend_from_slice(&scene_mask[bi * n..(bi + 1) * n]);
        full_mask.extend(std::iter::repeat_n(0f32, t.ids.len()));
        full_mask.extend(std::iter::repeat_n(-1e9f32, l - t.ids.len()));
        for j in 0..k {
            let p = t.latent_start + j;
            is_latent[bi * l + p] = 1.0;
            select[(bi * l + p) * k + j] = 1.0;
        }
    }
    let ids = Tensor::from_vec(ids, (b, l), &device)?;
    let mut tail_x = model.decoder().embed(&ids)?;
    if let Some(latents) = model.latents() {
        let keep = Tensor::from_vec(is_latent, (b, l, 1), &device)?;
        let select = Tensor::from_vec(select, (b, l, k), &device)?;
        let lat = select.matmul(
            &latents
                .unsqueeze(0)?
                .broadcast_as((b, k, latents.dim(1)?))?,
        )?;
        tail_x = (tail_x.broadcast_mul(&(1.0 - keep)?)? + lat)?;
    }
    let x = Tensor::cat(&[&scene_x, &tail_x], 1)?;
    let key_mask = Tensor::from_vec(full_mask, (b, n + l), &device)?;
    let geometry = if blind {
        None
    } else {
        Some(ObjectGeometry::of(&scenes, &device)?)
    };
    let latent_start: Vec<usize> = tails.iter().map(|t| n + t.latent_start).collect();
    let pass = model.decode_prompt(
        &x,
        Some(&key_mask),
        geometry.as_ref(),
        &latent_start,
        None,
        false,
    )?;
    let (_, t_len, d) = pass.hidden.dims3()?;
    let flat = pass.hidden.reshape((b * t_len, d))?;
    let first = match pass.first {
        Some(f) => {
            let t1 = f.dim(1)?;
            Some((f.reshape((b * t1, d))?, t1))
        }
        None => None,
    };
    Ok(BatchForward {
        flat,
        t_len,
        offset: pass.offset,
        first,
        n,
        tails,
        scenes,
        qs,
        pointer_scores: pass.pointer_scores,
        anchor_scores: pass.anchor_scores,
    })
}

impl BatchForward<'_> {
    /// Every question's K latents' final hidden states [B, K, D]: the object slots' from the
    /// first pass (what their pointers and probes read), the others' from the second.
    fn latent_states(
        &self,
        k: usize,
        slots: usize,
        device: &candle_core::Device,
    ) -> Result<Tensor> {
        let b = self.tails.len();
        let d = self.flat.dim(1)?;
        let pick = |source: &Tensor, rows: Vec<u32>, count: usize| -> Result<Tensor> {
            source
                .index_select(&Tensor::new(rows.as_slice(), device)?, 0)?
                .reshape((b, count, d))
        };
        let (first_count, mut parts) = match &self.first {
            Some((first, t1)) => {
                let s = slots.min(k);
                let rows = self
                    .tails
                    .iter()
                    .enumerate()
                    .flat_map(|(bi, t)| {
                        (0..s).map(move |j| (bi * t1 + self.n + t.latent_start + j) as u32)
                    })
                    .collect();
                (s, vec![pick(first, rows, s)?])
            }
            None => (0, Vec::new()),
        };
        if k > first_count {
            let rows = self
                .tails
                .iter()
                .enumerate()
                .flat_map(|(bi, t)| {
                    (first_count..k).map(move |j| {
                        (bi * self.t_len + self.n + t.latent_start + j - self.offset) as u32
                    })
                })
                .collect();
            parts.push(pick(&self.flat, rows, k - first_count)?);
        }
        Tensor::cat(&parts, 1)
    }

    /// The rows of `flat` that predict each question's answer tokens and `<eos>`, in question
    /// order, with each question's row count.
    fn answer_rows(&self) -> (Vec<u32>, Vec<usize>) {
        let mut rows = Vec::new();
        let mut counts = Vec::new();
        for (bi, t) in self.tails.iter().enumerate() {
            for j in 0..t.targets.len() {
                rows.push((bi * self.t_len + self.n + t.ans_pos + j - self.offset) as u32);
            }
            counts.push(t.targets.len());
        }
        (rows, counts)
    }
}

/// What a teacher holds for one question (Hidden CoT distillation, `teacher.rs`): its latents'
/// final hidden states [K, D_teacher], each standardised to mean 0 and variance 1, and the
/// log-probabilities [R, V] of its answer rows (each answer token and `<eos>`).
#[derive(Debug, Clone)]
pub struct TeacherTarget {
    /// Standardised latent states [K, D_teacher].
    pub latents: Tensor,
    /// Answer-row log-probabilities [R, V].
    pub answer_log_p: Tensor,
}

/// The teacher targets of the questions `batch` of `cache` under `model` (no gradient), in
/// batch order, computed in passes of [`QUESTIONS_PER_PASS`].
pub fn teacher_targets(
    model: &SpatialVlm,
    cache: &TokenCache,
    batch: &[usize],
    specials: Specials,
) -> Result<Vec<TeacherTarget>> {
    let device = model.device().clone();
    let k = model.latents().map_or(0, |l| l.dims()[0]);
    if k == 0 {
        candle_core::bail!("the teacher has no Hidden CoT latents to match");
    }
    let mut out = Vec::with_capacity(batch.len());
    for chunk in batch.chunks(QUESTIONS_PER_PASS) {
        let f = forward_batch(model, cache, chunk, specials, false)?;
        let latents = standardise(
            &f.latent_states(k, model.cfg.object_slots, &device)?
                .detach(),
        )?;
        let (rows, counts) = f.answer_rows();
        let picked = f
            .flat
            .index_select(&Tensor::new(rows.as_slice(), &device)?, 0)?;
        let log_p =
            candle_nn::ops::log_softmax(&model.decoder().lm_logits(&picked)?, D::Minus1)?.detach();
        let mut start = 0;
        for (bi, &c) in counts.iter().enumerate() {
            out.push(TeacherTarget {
                latents: latents.get(bi)?,
                answer_log_p: log_p.narrow(0, start, c)?,
            });
            start += c;
        }
    }
    Ok(out)
}

/// Each row of the last dimension shifted to mean 0 and scaled to variance 1.
fn standardise(x: &Tensor) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + 1e-5)?.sqrt()?)
}

/// Hidden CoT distillation for one batch: the teacher's targets by question index (questions
/// without one are left out of these terms), the projection from the student's hidden width
/// to the teacher's, and the terms' weights.
pub struct Distillation<'a> {
    /// Targets by index into the student's `cache.questions`.
    pub targets: &'a BTreeMap<usize, TeacherTarget>,
    /// Student hidden [.., D_student] → teacher hidden [.., D_teacher].
    pub projection: &'a candle_nn::Linear,
    /// Weight of `latent_match` (mean squared error of the projected student latents against
    /// the teacher's standardised ones).
    pub latent_weight: f64,
    /// Weight of `answer_kl` (KL of the student's answer rows from the teacher's, averaged per
    /// question).
    pub kl_weight: f64,
}

/// The logits [B, V] that predict each question's first answer token (what evaluation reads for
/// yes/no), through the training path.
pub fn first_answer_logits(
    model: &SpatialVlm,
    cache: &TokenCache,
    batch: &[usize],
    specials: Specials,
    blind: bool,
) -> Result<Tensor> {
    let f = forward_batch(model, cache, batch, specials, blind)?;
    let rows: Vec<u32> = f
        .tails
        .iter()
        .enumerate()
        .map(|(bi, t)| (bi * f.t_len + f.n + t.ans_pos - f.offset) as u32)
        .collect();
    let picked = f
        .flat
        .index_select(&Tensor::new(rows.as_slice(), model.device())?, 0)?;
    model.decoder().lm_logits(&picked)
}

/// For each question of `batch`, the object token (index in its scene's tokens) each object slot
/// points at most, through the training path; empty rows for a model without object slots.
pub fn slot_picks(
    model: &SpatialVlm,
    cache: &TokenCache,
    batch: &[usize],
    specials: Specials,
) -> Result<Vec<Vec<usize>>> {
    let f = forward_batch(model, cache, batch, specials, false)?;
    let Some(scores) = f.pointer_scores else {
        return Ok(vec![Vec::new(); batch.len()]);
    };
    let best = scores.argmax(2)?.to_vec2::<u32>()?;
    Ok(best
        .iter()
        .zip(&f.scenes)
        .map(|(row, objects)| {
            let pad = f.n - objects.len();
            row.iter()
                .map(|&j| (j as usize).saturating_sub(pad))
                .collect()
        })
        .collect())
}

/// Questions per decoder pass: a step's batch is sorted by sequence length and cut into passes
/// of this many, so that short sequences are not padded to the longest of the whole batch.
pub const QUESTIONS_PER_PASS: usize = 32;

/// Sums of one pass's terms (divided by the batch's counts at the end).
struct Sums {
    answer: Tensor,
    class: Option<(Tensor, usize)>,
    bbox: Option<(Tensor, usize)>,
    distance: Option<(Tensor, usize)>,
    pointer: Option<(Tensor, usize)>,
    anchor: Option<(Tensor, usize)>,
    /// Squared error of the projected latents against the teacher's, with element count.
    latent_match: Option<(Tensor, usize)>,
    /// Summed per-question answer KL from the teacher, with question count.
    answer_kl: Option<(Tensor, usize)>,
}

/// The named loss terms and their weighted total for the questions `batch` (indices into
/// `cache.questions`). With `blind`, the scene tokens are hidden (the wording-only baseline)
/// and the probes are off. The result does not depend on how the batch is cut into passes.
pub fn stage2_losses(
    model: &SpatialVlm,
    cache: &TokenCache,
    batch: &[usize],
    specials: Specials,
    blind: bool,
    probe_weight: f64,
) -> Result<(Tensor, BTreeMap<String, Tensor>)> {
    distilled_stage2_losses(model, cache, batch, specials, blind, probe_weight, None)
}

/// [`stage2_losses`] with, given a teacher's targets, the Hidden CoT distillation terms
/// `latent_match` and `answer_kl` added to the total under their weights.
pub fn distilled_stage2_losses(
    model: &SpatialVlm,
    cache: &TokenCache,
    batch: &[usize],
    specials: Specials,
    blind: bool,
    probe_weight: f64,
    distill: Option<&Distillation>,
) -> Result<(Tensor, BTreeMap<String, Tensor>)> {
    if batch.is_empty() {
        candle_core::bail!("an empty batch");
    }
    let device = model.device().clone();
    let k = model.latents().map_or(0, |l| l.dims()[0]);
    let length = |i: usize| {
        let q = &cache.questions[i];
        let n = if blind {
            0
        } else {
            cache.scenes[q.scene].objects.len()
        };
        n + q.question.len() + q.answer.len() + k + 2
    };
    let mut sorted = batch.to_vec();
    sorted.sort_by_key(|&i| length(i));
    let mut parts = Vec::new();
    for chunk in sorted.chunks(QUESTIONS_PER_PASS) {
        parts.push(pass_sums(model, cache, chunk, specials, blind, distill)?);
    }
    let sum_all = |ts: Vec<&Tensor>| -> Result<Tensor> {
        let mut it = ts.into_iter();
        let first = it
            .next()
            .cloned()
            .unwrap_or(Tensor::zeros((), DType::F32, &device)?);
        it.try_fold(first, |acc, t| acc + t)
    };
    let answer = (sum_all(parts.iter().map(|p| &p.answer).collect())? / batch.len() as f64)?;
    let mut terms = BTreeMap::new();
    terms.insert("answer".to_string(), answer.clone());
    let mut total = answer;
    // A term's mean over the items the passes counted (0 when none).
    let mean = |pick: &dyn Fn(&Sums) -> Option<&(Tensor, usize)>| -> Result<Tensor> {
        let items: Vec<&(Tensor, usize)> = parts.iter().filter_map(pick).collect();
        let count: usize = items.iter().map(|(_, c)| c).sum();
        if count == 0 {
            return Tensor::zeros((), DType::F32, &device);
        }
        sum_all(items.iter().map(|(t, _)| t).collect())? / count as f64
    };
    let probes = !blind && model.probes().is_some() && k > model.cfg.object_slots;
    if probes {
        let class = mean(&|p| p.class.as_ref())?;
        let bbox = mean(&|p| p.bbox.as_ref())?;
        let distance = mean(&|p| p.distance.as_ref())?;
        terms.insert("probe_class".to_string(), class.clone());
        terms.insert("probe_box".to_string(), bbox.clone());
        terms.insert("probe_distance".to_string(), distance.clone());
        let mut probes = ((class + bbox)? + distance)?;
        if model.pointers().is_some() {
            let pointer = mean(&|p| p.pointer.as_ref())?;
            terms.insert("probe_pointer".to_string(), pointer.clone());
            probes = (probes + pointer)?;
            if model.cfg.anchor_pointers {
                let anchor = mean(&|p| p.anchor.as_ref())?;
                terms.insert("probe_anchor".to_string(), anchor.clone());
                probes = (probes + anchor)?;
            }
        }
        total = (total + probes * probe_weight)?;
    }
    if let Some(d) = distill {
        let latent = mean(&|p| p.latent_match.as_ref())?;
        let kl = mean(&|p| p.answer_kl.as_ref())?;
        terms.insert("latent_match".to_string(), latent.clone());
        terms.insert("answer_kl".to_string(), kl.clone());
        total = ((total + (latent * d.latent_weight)?)? + (kl * d.kl_weight)?)?;
    }
    Ok((total, terms))
}

/// One decoder pass: the sum over its questions of each question's mean answer cross-entropy,
/// and the probes' sums with their counts.
fn pass_sums(
    model: &SpatialVlm,
    cache: &TokenCache,
    batch: &[usize],
    specials: Specials,
    blind: bool,
    distill: Option<&Distillation>,
) -> Result<Sums> {
    let device = model.device().clone();
    let f = forward_batch(model, cache, batch, specials, blind)?;
    let k = model.latents().map_or(0, |l| l.dims()[0]);
    // Answer: rows that predict each answer token and <eos>, weighted 1 / tokens.
    let (rows, counts) = f.answer_rows();
    let targets: Vec<u32> = f
        .tails
        .iter()
        .flat_map(|t| t.targets.iter().copied())
        .collect();
    let weights: Vec<f32> = counts
        .iter()
        .flat_map(|&c| std::iter::repeat_n(1.0 / c as f32, c))
        .collect();
    let r = rows.len();
    let picked = f
        .flat
        .index_select(&Tensor::new(rows.as_slice(), &device)?, 0)?;
    let logits = model.decoder().lm_logits(&picked)?;
    let log_p = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let target_t = Tensor::from_vec(targets, (r, 1), &device)?;
    let nll = log_p.gather(&target_t, 1)?.squeeze(1)?.neg()?;
    let weights = Tensor::from_vec(weights, r, &device)?;
    let (latent_match, answer_kl) = match distill {
        Some(d) if !blind && k > 0 => distill_sums(model, &f, batch, d, k, &log_p, &counts)?,
        _ => (None, None),
    };
    let BatchForward {
        flat,
        t_len,
        offset,
        first,
        n,
        tails,
        scenes,
        qs,
        pointer_scores,
        anchor_scores,
    } = f;
    // Row of position `p` of question `bi` in `flat`.
    let at = |bi: usize, p: usize| (bi * t_len + p - offset) as u32;
    let answer = (nll * weights)?.sum_all()?;
    let mut sums = Sums {
        answer,
        class: None,
        bbox: None,
        distance: None,
        pointer: None,
        anchor: None,
        latent_match,
        answer_kl,
    };
    // Latents 0..S hold the named objects, latent S the distance.
    let slots = model.cfg.object_slots;
    let Some(p) = model.probes().filter(|_| !blind && k > slots) else {
        return Ok(sums);
    };
    let (mut obj_rows, mut obj_cls, mut obj_box) = (Vec::new(), Vec::new(), Vec::new());
    let (mut dist_rows, mut dist_t) = (Vec::new(), Vec::new());
    let (mut ptr_rows, mut ptr_t) = (Vec::new(), Vec::new());
    let (mut anchor_rows, mut anchor_t) = (Vec::new(), Vec::new());
    for (bi, (q, t)) in qs.iter().zip(&tails).enumerate() {
        let objects = scenes[bi];
        let origin = scene_origin(objects);
        for (i, anchor) in q.anchored.iter().enumerate().take(slots) {
            if let Some(j) = *anchor {
                anchor_rows.push((bi * slots + i) as u32);
                anchor_t.push((n - objects.len() + j) as u32);
            }
        }
        for (i, named) in q.named.iter().enumerate().take(slots) {
            let Some(j) = *named else { continue };
            // Object tokens are left-padded to n.
            ptr_rows.push((bi * slots + i) as u32);
            ptr_t.push((n - objects.len() + j) as u32);
            let o = &objects[j];
            obj_rows.push(match &first {
                Some((_, t1)) => (bi * t1 + n + t.latent_start + i) as u32,
                None => at(bi, n + t.latent_start + i),
            });
            obj_cls.push(o.category as u32);
            let lo = glam::Vec3::from(o.min_m) - origin;
            let hi = glam::Vec3::from(o.max_m) - origin;
            obj_box.extend(lo.to_array());
            obj_box.extend(hi.to_array());
        }
        if let Some(d) = q.distance_m {
            dist_rows.push(at(bi, n + t.latent_start + slots));
            dist_t.push(distance_target(d));
        }
    }
    if !obj_rows.is_empty() {
        let m = obj_rows.len();
        let source = first.as_ref().map_or(&flat, |(f, _)| f);
        let h = source.index_select(&Tensor::new(obj_rows.as_slice(), &device)?, 0)?;
        let log_p = candle_nn::ops::log_softmax(&p.class.forward(&h)?, D::Minus1)?;
        let cls = Tensor::from_vec(obj_cls, (m, 1), &device)?;
        let class = log_p.gather(&cls, 1)?.neg()?.sum_all()?;
        let pred = p.bbox.forward(&h)?;
        let bbox = smooth_l1_sum(&pred, &Tensor::from_vec(obj_box, (m, 6), &device)?)?;
        sums.class = Some((class, m));
        sums.bbox = Some((bbox, m * 6));
    }
    // Cross-entropy sum of the rows `rows` of pointer logits [B, S, n] against tokens `targets`.
    let pointer_nll =
        |scores: &Tensor, rows: Vec<u32>, targets: Vec<u32>| -> Result<(Tensor, usize)> {
            let m = rows.len();
            let flat_scores = scores.reshape((qs.len() * slots, n))?;
            let picked = flat_scores.index_select(&Tensor::new(rows.as_slice(), &device)?, 0)?;
            let log_p = candle_nn::ops::log_softmax(&picked, D::Minus1)?;
            let target = Tensor::from_vec(targets, (m, 1), &device)?;
            Ok((log_p.gather(&target, 1)?.neg()?.sum_all()?, m))
        };
    if let (Some(scores), false) = (&pointer_scores, ptr_rows.is_empty()) {
        sums.pointer = Some(pointer_nll(scores, ptr_rows, ptr_t)?);
    }
    if let (Some(scores), false) = (&anchor_scores, anchor_rows.is_empty()) {
        sums.anchor = Some(pointer_nll(scores, anchor_rows, anchor_t)?);
    }
    if !dist_rows.is_empty() {
        let m = dist_rows.len();
        let h = flat.index_select(&Tensor::new(dist_rows.as_slice(), &device)?, 0)?;
        let pred = p.distance.forward(&h)?.squeeze(1)?;
        let distance = smooth_l1_sum(&pred, &Tensor::from_vec(dist_t, m, &device)?)?;
        sums.distance = Some((distance, m));
    }
    Ok(sums)
}

/// The distillation sums of one pass: squared error of the projected student latents against the
/// teacher's (with the element count) and the per-question answer KL (with the question count),
/// over the questions that have a teacher target.
#[allow(clippy::type_complexity)]
fn distill_sums(
    model: &SpatialVlm,
    f: &BatchForward,
    batch: &[usize],
    d: &Distillation,
    k: usize,
    answer_log_p: &Tensor,
    counts: &[usize],
) -> Result<(Option<(Tensor, usize)>, Option<(Tensor, usize)>)> {
    let device = model.device().clone();
    let with: Vec<(usize, &TeacherTarget)> = batch
        .iter()
        .enumerate()
        .filter_map(|(bi, i)| d.targets.get(i).map(|t| (bi, t)))
        .collect();
    if with.is_empty() {
        return Ok((None, None));
    }
    let m = with.len();
    let keep = Tensor::new(
        with.iter()
            .map(|(bi, _)| *bi as u32)
            .collect::<Vec<_>>()
            .as_slice(),
        &device,
    )?;
    let student = f
        .latent_states(k, model.cfg.object_slots, &device)?
        .index_select(&keep, 0)?;
    let teacher = Tensor::stack(&with.iter().map(|(_, t)| &t.latents).collect::<Vec<_>>(), 0)?;
    if teacher.dims()[..2] != [m, k] {
        candle_core::bail!(
            "the teacher's latents are {:?}; the student has {k}",
            teacher.dims()
        );
    }
    let projected = d.projection.forward(&student)?;
    let latent = (projected - &teacher)?.sqr()?.sum_all()?;
    let latent_count = teacher.elem_count();
    // Answer KL: the student's answer rows (`answer_log_p`, `counts` rows per question, in
    // question order) of these questions against the teacher's.
    let mut starts = Vec::with_capacity(counts.len());
    let mut acc = 0;
    for c in counts {
        starts.push(acc);
        acc += c;
    }
    let (mut picked_rows, mut weights, mut teacher_rows) = (Vec::new(), Vec::new(), Vec::new());
    for (bi, t) in &with {
        let c = counts[*bi];
        if t.answer_log_p.dim(0)? != c {
            // Another answer length (another tokenizer): no KL for this question.
            continue;
        }
        picked_rows.extend((starts[*bi]..starts[*bi] + c).map(|row| row as u32));
        weights.extend(std::iter::repeat_n(1.0 / c as f32, c));
        teacher_rows.push(&t.answer_log_p);
    }
    let kl = if teacher_rows.is_empty() {
        None
    } else {
        let r = picked_rows.len();
        let log_s = answer_log_p.index_select(&Tensor::new(picked_rows.as_slice(), &device)?, 0)?;
        let log_t = Tensor::cat(&teacher_rows, 0)?;
        let per_row = (log_t.exp()? * (&log_t - log_s)?)?.sum(D::Minus1)?;
        let w = Tensor::from_vec(weights, r, &device)?;
        Some(((per_row * w)?.sum_all()?, teacher_rows.len()))
    };
    Ok((Some((latent, latent_count)), kl))
}

/// Summed smooth L1 (β = 0.1) between two tensors of one shape.
fn smooth_l1_sum(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    let beta = 0.1;
    let d = (pred - target)?.abs()?;
    let quad = ((&d * &d)? * (0.5 / beta))?;
    let lin = (&d - 0.5 * beta)?;
    let small = d.lt(beta)?;
    small.where_cond(&quad, &lin)?.sum_all()
}
