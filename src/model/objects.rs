//! Object tokens for the decoder (`scene_input: objects`): each object the views show becomes one
//! token, `class_embed[category] + geometry MLP(Fourier features of its 3D box)` (+ its pooled
//! encoder features with `object_features`), as object-centric 3D LLMs (Chat-Scene, LEO) feed
//! their decoders. And the Hidden CoT probe heads that give the latents a job: the category and
//! box of each object the question names, and the distance between the first two.

use candle_core::{Result, Tensor};
use candle_nn::{Embedding, Linear, Module, VarBuilder};
use glam::Vec3;

use super::nn::{Mlp, linear};
use crate::data::ObjectToken;
use crate::scene::Category;

/// Fourier frequencies of the box coordinates, cycles per metre (wavelengths 8 m … 0.125 m).
const FREQS: [f32; 7] = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0];
/// Geometry features per object: Fourier features of the 6 box coordinates, the coordinates
/// scaled, log sizes, log pixel count.
pub const GEOMETRY_DIM: usize = 6 * FREQS.len() * 2 + 6 + 3 + 1;
/// Categories the class embedding knows.
pub fn num_categories() -> usize {
    Category::ALL.len()
}

/// The scene-centred origin of a set of object tokens: the mean of their box centres (the world
/// frame's origin is arbitrary; relations are not).
pub fn scene_origin(tokens: &[ObjectToken]) -> Vec3 {
    if tokens.is_empty() {
        return Vec3::ZERO;
    }
    tokens.iter().map(ObjectToken::center_m).sum::<Vec3>() / tokens.len() as f32
}

/// The geometry features of each token about `origin`, [N × GEOMETRY_DIM] row-major.
pub fn geometry_features(tokens: &[ObjectToken], origin: Vec3) -> Vec<f32> {
    let mut out = Vec::with_capacity(tokens.len() * GEOMETRY_DIM);
    for t in tokens {
        let lo = Vec3::from(t.min_m) - origin;
        let hi = Vec3::from(t.max_m) - origin;
        let coords = [lo.x, lo.y, lo.z, hi.x, hi.y, hi.z];
        for c in coords {
            for f in FREQS {
                let a = std::f32::consts::TAU * f * c;
                out.push(a.sin());
                out.push(a.cos());
            }
        }
        out.extend(coords.iter().map(|c| c / 4.0));
        let size = (hi - lo).max(Vec3::ZERO);
        out.extend(size.to_array().iter().map(|s| (s + 0.02).ln()));
        out.push((t.pixels as f32 + 1.0).ln() / 8.0);
    }
    out
}

/// Context features per object (`object_context`): for every category, how close the nearest
/// *other* object of that category is, exp(−gap / 0.3 m) of the box gap (0 when there is none),
/// and whether the object rests on one of that category (its box's bottom within
/// [`REST_GAP_M`] of the other's top, at least half its footprint over it). They let an object
/// slot tell "the chair closest to the bed" or "the cup on the table" from the other chairs and
/// cups by a lookup instead of a comparison across tokens.
pub const CONTEXT_DIM: usize = 2 * Category::ALL.len();
/// Largest gap between a box's bottom and another's top that counts as resting on it, metres.
pub const REST_GAP_M: f32 = 0.1;

/// Geometry features per token: [`GEOMETRY_DIM`], plus [`CONTEXT_DIM`] with context.
pub fn geometry_dim(context: bool) -> usize {
    GEOMETRY_DIM + if context { CONTEXT_DIM } else { 0 }
}

/// The context features of each token, [N × CONTEXT_DIM] row-major.
pub fn context_features(tokens: &[ObjectToken]) -> Vec<f32> {
    let cats = Category::ALL.len();
    let mut out = vec![0f32; tokens.len() * CONTEXT_DIM];
    for (i, a) in tokens.iter().enumerate() {
        let row = &mut out[i * CONTEXT_DIM..(i + 1) * CONTEXT_DIM];
        let footprint = (a.max_m[0] - a.min_m[0]).max(1e-6) * (a.max_m[1] - a.min_m[1]).max(1e-6);
        for (j, b) in tokens.iter().enumerate() {
            if i == j || b.category >= cats {
                continue;
            }
            let near = (-a.box_gap_m(b) / 0.3).exp();
            row[b.category] = row[b.category].max(near);
            let overlap = (a.max_m[0].min(b.max_m[0]) - a.min_m[0].max(b.min_m[0])).max(0.0)
                * (a.max_m[1].min(b.max_m[1]) - a.min_m[1].max(b.min_m[1])).max(0.0);
            if (a.min_m[2] - b.max_m[2]).abs() <= REST_GAP_M && overlap >= 0.5 * footprint {
                row[cats + b.category] = 1.0;
            }
        }
    }
    out
}

/// Object tokens → decoder embeddings.
#[derive(Debug, Clone)]
pub struct ObjectEmbedder {
    class_embed: Embedding,
    geometry: Mlp,
    features: Option<Linear>,
}

impl ObjectEmbedder {
    /// Loads `objects.{class_embed, geometry.fc1, geometry.fc2[, features]}`; `feature_dim` is
    /// the width of pooled encoder features (2C) when the tokens carry them; with `context` the
    /// geometry MLP also reads [`context_features`].
    pub fn new(
        d: usize,
        feature_dim: Option<usize>,
        context: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let vb = vb.pp("objects");
        Ok(Self {
            class_embed: candle_nn::embedding(num_categories(), d, vb.pp("class_embed"))?,
            geometry: Mlp::new(geometry_dim(context), d, d, vb.pp("geometry"))?,
            features: feature_dim
                .map(|f| linear(f, d, vb.pp("features")))
                .transpose()?,
        })
    }

    /// `categories` [B, N] u32, `geometry` [B, N, geometry_dim], `features` [B, N, F] → [B, N, D].
    pub fn forward(
        &self,
        categories: &Tensor,
        geometry: &Tensor,
        features: Option<&Tensor>,
    ) -> Result<Tensor> {
        let mut x = (self.class_embed.forward(categories)? + self.geometry.forward(geometry)?)?;
        if let (Some(proj), Some(f)) = (&self.features, features) {
            x = (x + proj.forward(f)?)?;
        }
        Ok(x)
    }

    /// The class embedding table [categories, D] (the trainer ties it to the words of each
    /// category's name at the start of training).
    pub fn class_table(&self) -> &Tensor {
        self.class_embed.embeddings()
    }
}

/// The most latents that hold a named object each (`object_slots` is 2 or 3; the latent after
/// them holds the distance and the relation, the rest are free).
pub const MAX_OBJECT_SLOTS: usize = 3;

/// Probe heads on the Hidden CoT latents' final hidden states: latent i < `object_slots`
/// predicts the category and box (min, max about the scene origin, metres) of the question's
/// i-th object; latent `object_slots` predicts ln(0.05 + distance in metres) between the first
/// two.
#[derive(Debug, Clone)]
pub struct LatentProbes {
    /// Category logits.
    pub class: Linear,
    /// Box (6 values).
    pub bbox: Linear,
    /// Log distance.
    pub distance: Linear,
}

impl LatentProbes {
    /// Loads `hidden_cot.probe_{class, box, distance}`.
    pub fn new(d: usize, vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("hidden_cot");
        Ok(Self {
            class: linear(d, num_categories(), vb.pp("probe_class"))?,
            bbox: linear(d, 6, vb.pp("probe_box"))?,
            distance: linear(d, 1, vb.pp("probe_distance"))?,
        })
    }
}

/// The probe target of a distance, ln(0.05 + d).
pub fn distance_target(distance_m: f32) -> f32 {
    (0.05 + distance_m.max(0.0)).ln()
}

/// Relation features of two boxes: Fourier features of the gap between them, the gap, its log,
/// the gap per axis, the centre offset / 4 and both sizes (metres; boxes as [min, max] about the
/// scene centre).
pub const RELATION_DIM: usize = FREQS.len() * 2 + 2 + 3 + 3 + 6;

/// Features of a third box in the frame of an observer standing at the first facing the
/// second (`triple_features`).
pub const TRIPLE_DIM: usize = 6;

/// Pointer logits are cosine similarities times this.
pub const POINTER_SCALE: f64 = 10.0;

/// Object slots (`latent_pointers`): latent i < `object_slots` points at an object token
/// (scores: cosine of `pointer_q(h_i)` and `pointer_k(e_j)` × 10 over the scene's object
/// tokens); the boxes it
/// points at (softly, so the answer's gradient reaches the pointers) give relation features —
/// the gap between the two boxes, their offset and sizes — which `relation` embeds and adds to
/// the input of latent `object_slots` for a second decoder pass (with three slots, also where
/// the third box lies for an observer at the first facing the second). The decoder thus grounds
/// the words and reads the answer off measured geometry rather than learning arithmetic on
/// Fourier features from answer bits.
#[derive(Debug, Clone)]
pub struct ObjectPointers {
    q: Linear,
    k: Linear,
    relation: Mlp,
    anchor: Option<AnchorPointers>,
    scale: f64,
}

/// Relation codes per (object, anchor) pair the slot's gate weighs (`anchor_pointers`).
pub const ANCHOR_CODES: usize = 16;

/// Two-hop referents (`anchor_pointers`): each slot also points at its anchor — the object the
/// question names its object by ("the bed" of "the chair closest to the bed") — with its own
/// query and key, and every object's relation to the anchor's (soft) box, embedded as
/// [`ANCHOR_CODES`] codes and weighed by a gate of the slot's state, is added to the slot's
/// pointer logits: "closest to" can then favour the smallest gap and "on" the object resting on
/// the anchor, among the objects of the class the words name.
#[derive(Debug, Clone)]
struct AnchorPointers {
    q: Linear,
    k: Linear,
    relation: Mlp,
    gate: Linear,
}

/// The pointer logits of the object slots ([`ObjectPointers::slot_scores`]).
#[derive(Debug, Clone)]
pub struct SlotScores {
    /// Logits [B, P, N] of each slot over the object tokens (anchor relations included).
    pub objects: Tensor,
    /// With anchors: each slot's logits [B, P, N] for its anchor.
    pub anchors: Option<Tensor>,
}

/// Cosine-similarity logits [B, P, N] of `q(latents)` against `k(objects)` times `scale`, plus
/// the additive `key_mask` [B, N].
fn cosine_scores(
    q: &Linear,
    k: &Linear,
    scale: f64,
    latents: &Tensor,
    objects: &Tensor,
    key_mask: &Tensor,
) -> Result<Tensor> {
    let unit = |x: Tensor| -> Result<Tensor> {
        let norm = (x.sqr()?.sum_keepdim(2)? + 1e-6)?.sqrt()?;
        x.broadcast_div(&norm)
    };
    let q = unit(q.forward(latents)?)?;
    let k = unit(k.forward(objects)?)?;
    let s = (q.matmul(&k.transpose(1, 2)?.contiguous()?)? * scale)?;
    s.broadcast_add(&key_mask.unsqueeze(1)?)
}

impl ObjectPointers {
    /// Loads `hidden_cot.pointer_q`, `hidden_cot.pointer_k`, `hidden_cot.relation.{fc1,fc2}`
    /// (its input [`RELATION_DIM`], + [`TRIPLE_DIM`] with 3 `slots`) and, with `anchors`,
    /// `hidden_cot.anchor_q`, `hidden_cot.anchor_k`, `hidden_cot.anchor_relation.{fc1,fc2}`,
    /// `hidden_cot.anchor_gate`.
    pub fn new(d: usize, slots: usize, anchors: bool, vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("hidden_cot");
        let anchor = anchors
            .then(|| -> Result<AnchorPointers> {
                Ok(AnchorPointers {
                    q: super::nn::linear_no_bias(d, d, vb.pp("anchor_q"))?,
                    k: super::nn::linear_no_bias(d, d, vb.pp("anchor_k"))?,
                    relation: Mlp::new(RELATION_DIM, 64, ANCHOR_CODES, vb.pp("anchor_relation"))?,
                    // Zero at the start: the anchors change nothing until they learn (and a
                    // model without them can be extended).
                    gate: super::nn::linear_zero(d, ANCHOR_CODES, vb.pp("anchor_gate"))?,
                })
            })
            .transpose()?;
        Ok(Self {
            q: super::nn::linear_no_bias(d, d, vb.pp("pointer_q"))?,
            k: super::nn::linear_no_bias(d, d, vb.pp("pointer_k"))?,
            relation: Mlp::new(
                RELATION_DIM + if slots >= 3 { TRIPLE_DIM } else { 0 },
                d,
                d,
                vb.pp("relation"),
            )?,
            anchor,
            scale: POINTER_SCALE,
        })
    }

    /// Pointer logits [B, P, N] of latent states `latents` [B, P, D] over object tokens
    /// `objects` [B, N, D]: cosine similarity of the projected query and key times
    /// [`POINTER_SCALE`] (bounded, so the softmax is not saturated at the start whatever the
    /// embeddings' norms); `key_mask` [B, N] is additive (-1e9 on padding). Without anchors
    /// these are the slots' logits.
    pub fn scores(&self, latents: &Tensor, objects: &Tensor, key_mask: &Tensor) -> Result<Tensor> {
        cosine_scores(&self.q, &self.k, self.scale, latents, objects, key_mask)
    }

    /// The slots' logits over the object tokens, `boxes` [B, N, 6] their boxes: [`Self::scores`]
    /// plus, with anchors, each object's gated relation to the slot's anchor (see
    /// [`ANCHOR_CODES`]).
    pub fn slot_scores(
        &self,
        latents: &Tensor,
        objects: &Tensor,
        key_mask: &Tensor,
        boxes: &Tensor,
    ) -> Result<SlotScores> {
        let base = self.scores(latents, objects, key_mask)?;
        let Some(a) = &self.anchor else {
            return Ok(SlotScores {
                objects: base,
                anchors: None,
            });
        };
        let anchors = cosine_scores(&a.q, &a.k, self.scale, latents, objects, key_mask)?;
        let (b, p, n) = base.dims3()?;
        // The anchor pointer learns from its own supervision only (`probe_anchor`): the slot's
        // loss does not pull it towards whatever object makes the slot's logits fit.
        let anchor_box = super::nn::softmax(&anchors.detach())?.matmul(boxes)?; // [B, P, 6]
        let candidate = boxes
            .unsqueeze(1)?
            .broadcast_as((b, p, n, 6))?
            .contiguous()?
            .reshape((b * p * n, 6))?;
        let anchor = anchor_box
            .unsqueeze(2)?
            .broadcast_as((b, p, n, 6))?
            .contiguous()?
            .reshape((b * p * n, 6))?;
        let codes = a
            .relation
            .forward(&relation_features(&candidate, &anchor)?)?
            .reshape((b, p, n, ANCHOR_CODES))?;
        let gate = a.gate.forward(latents)?.unsqueeze(3)?; // [B, P, R, 1]
        let bias = codes.matmul(&gate)?.squeeze(3)?; // [B, P, N]
        Ok(SlotScores {
            objects: (base + bias)?,
            anchors: Some(anchors),
        })
    }

    /// The relation embedding [B, D] of the boxes the pointers select: `scores` [B, S, N]
    /// (S slots, 2 or 3), `boxes` [B, N, 6] ([min, max] about the scene centre).
    pub fn relation(&self, scores: &Tensor, boxes: &Tensor) -> Result<Tensor> {
        let p = super::nn::softmax(scores)?;
        let picked = p.matmul(boxes)?; // [B, S, 6]
        let slot = |i: usize| picked.narrow(1, i, 1)?.squeeze(1);
        let (a, b) = (slot(0)?, slot(1)?);
        let mut features = relation_features(&a, &b)?;
        if picked.dim(1)? >= 3 {
            features = Tensor::cat(&[features, triple_features(&a, &b, &slot(2)?)?], 1)?;
        }
        self.relation.forward(&features)
    }
}

/// [`RELATION_DIM`] features of box pairs `a`, `b` [B, 6] (min xyz, max xyz).
pub fn relation_features(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (a0, a1) = (a.narrow(1, 0, 3)?, a.narrow(1, 3, 3)?);
    let (b0, b1) = (b.narrow(1, 0, 3)?, b.narrow(1, 3, 3)?);
    let gap = (&b0 - &a1)?.maximum(&(&a0 - &b1)?)?.relu()?; // [B, 3]
    let norm = (gap.sqr()?.sum_keepdim(1)? + 1e-6)?.sqrt()?; // [B, 1]
    let mut parts = Vec::new();
    for f in FREQS {
        let x = (&norm * (std::f64::consts::TAU * f as f64))?;
        parts.push(x.sin()?);
        parts.push(x.cos()?);
    }
    parts.push(norm.clone());
    parts.push((&norm + 0.05)?.log()?);
    parts.push(gap);
    let centre = |lo: &Tensor, hi: &Tensor| (lo + hi)? * 0.5;
    parts.push(((centre(&b0, &b1)? - centre(&a0, &a1)?)? * 0.25)?);
    parts.push((&a1 - &a0)?);
    parts.push((&b1 - &b0)?);
    Tensor::cat(&parts, 1)
}

/// [`TRIPLE_DIM`] features of boxes `c` [B, 6] for an observer standing at the centre of `a`
/// facing the centre of `b` (horizontally; z is up), as the direction questions ask: c's offset
/// to the observer's right, ahead and up (× 0.5), the unit horizontal direction (right, ahead),
/// and the horizontal distance from a to b (× 0.25).
pub fn triple_features(a: &Tensor, b: &Tensor, c: &Tensor) -> Result<Tensor> {
    let centre = |x: &Tensor| (x.narrow(1, 0, 3)? + x.narrow(1, 3, 3)?)? * 0.5;
    let (ca, cb, cc) = (centre(a)?, centre(b)?, centre(c)?);
    let facing = (&cb - &ca)?;
    let (fx, fy) = (facing.narrow(1, 0, 1)?, facing.narrow(1, 1, 1)?);
    let reach = ((fx.sqr()? + fy.sqr()?)? + 1e-6)?.sqrt()?; // [B, 1]
    let (fx, fy) = (fx.broadcast_div(&reach)?, fy.broadcast_div(&reach)?);
    let rel = (&cc - &ca)?;
    let (rx, ry, rz) = (
        rel.narrow(1, 0, 1)?,
        rel.narrow(1, 1, 1)?,
        rel.narrow(1, 2, 1)?,
    );
    // right = facing × up = (fy, −fx, 0).
    let right = ((&rx * &fy)? - (&ry * &fx)?)?;
    let ahead = ((&rx * &fx)? + (&ry * &fy)?)?;
    let flat = ((right.sqr()? + ahead.sqr()?)? + 1e-4)?.sqrt()?;
    Tensor::cat(
        &[
            (&right * 0.5)?,
            (&ahead * 0.5)?,
            (&rz * 0.5)?,
            (&right / &flat)?,
            (&ahead / &flat)?,
            (&reach * 0.25)?,
        ],
        1,
    )
}

/// The boxes of a batch of scenes' object tokens about each scene's centre, left-padded like
/// [`crate::model::vlm::object_inputs`]: [B·Nmax·6] and Nmax.
pub fn object_boxes(scenes: &[&[ObjectToken]]) -> (Vec<f32>, usize) {
    let n_max = scenes.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
    let mut out = Vec::with_capacity(scenes.len() * n_max * 6);
    for s in scenes {
        out.extend(std::iter::repeat_n(0f32, (n_max - s.len()) * 6));
        let origin = scene_origin(s);
        for o in s.iter() {
            out.extend((Vec3::from(o.min_m) - origin).to_array());
            out.extend((Vec3::from(o.max_m) - origin).to_array());
        }
    }
    (out, n_max)
}
