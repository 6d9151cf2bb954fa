//! The vision-language model: encoder, heads, projector, decoder with Hidden CoT, and the
//! inference API (`encode`, `answer`, `depth`, `detect`).

use std::time::Instant;

use candle_core::{D, Device, Result, Tensor};
use candle_nn::{Init, Module, VarBuilder};
use glam::{Mat4, Vec3};

use super::camera_head::CameraHead;
use super::config::ModelConfig;
use super::config::{ObjectSource, SceneInput};
use super::constrain::TokenClasses;
use super::decoder::{Decoder, KvCache, greedy, greedy_allowed};
use super::encoder::{Encoder, EncoderOutput};
use super::heads::{DepthHead, DepthOutput, DetectionHead, DetectionOutput};
use super::nn::Mlp;
use super::objects::{
    CONTEXT_DIM, GEOMETRY_DIM, LatentProbes, ObjectEmbedder, ObjectPointers, context_features,
    geometry_dim, geometry_features, object_boxes, scene_origin,
};
use crate::data::{
    Grouping, ObjectToken, ObjectViews, PredictedViews, match_to_annotated, object_tokens,
    predicted_object_tokens,
};
use crate::questions::form::AnswerForm;

/// Views of one scene as plain data (what `data::SceneShard` holds): S views of H = W = `size`.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewBatch {
    /// Image side, pixels.
    pub size: usize,
    /// Number of views S.
    pub views: usize,
    /// RGB [S, H, W, 3].
    pub images: Vec<u8>,
    /// Depth [S, H, W], metres, 0 = none. The teacher uses it; the student ignores it.
    pub depth: Option<Vec<f32>>,
    /// Intrinsics [S, 3, 3].
    pub intrinsics: Vec<f32>,
    /// Camera-from-world [S, 3, 4] (OpenCV).
    pub extrinsics: Vec<f32>,
    /// Instance ids [S, H, W], -1 = none; what object-token models read (with depth).
    pub instance: Option<Vec<i32>>,
    /// Annotated objects: ids and categories (index into `scene::Category::ALL`).
    pub object_id: Vec<i64>,
    /// Categories, parallel to `object_id`.
    pub object_category: Vec<i64>,
}

impl ViewBatch {
    /// The views of a dataset shard.
    pub fn from_shard(shard: &crate::data::SceneShard) -> ViewBatch {
        ViewBatch {
            size: shard.size as usize,
            views: shard.views,
            images: shard.images.clone(),
            depth: Some(shard.depth.clone()),
            intrinsics: shard.intrinsics.clone(),
            extrinsics: shard.extrinsics.clone(),
            instance: Some(shard.instance.clone()),
            object_id: shard.object_id.clone(),
            object_category: shard.object_category.clone(),
        }
    }

    /// The object tokens of these views (empty without depth, instances or categories).
    pub fn object_tokens(&self) -> Vec<ObjectToken> {
        let (Some(depth), Some(instance)) = (&self.depth, &self.instance) else {
            return Vec::new();
        };
        object_tokens(
            &ObjectViews {
                size: self.size,
                views: self.views,
                depth,
                instance,
                intrinsics: &self.intrinsics,
                extrinsics: &self.extrinsics,
                object_id: &self.object_id,
                object_category: &self.object_category,
            },
            crate::questions::min_visible_px(self.size as u32) as u32,
        )
    }

    /// Checks that every array has the length its shape needs.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let (s, hw) = (self.views, self.size * self.size);
        let checks = [
            ("images", self.images.len(), s * hw * 3),
            ("intrinsics", self.intrinsics.len(), s * 9),
            ("extrinsics", self.extrinsics.len(), s * 12),
            (
                "depth",
                self.depth.as_ref().map_or(s * hw, Vec::len),
                s * hw,
            ),
            (
                "instance",
                self.instance.as_ref().map_or(s * hw, Vec::len),
                s * hw,
            ),
            (
                "object_category",
                self.object_category.len(),
                self.object_id.len(),
            ),
        ];
        for (name, got, want) in checks {
            if got != want {
                return Err(format!(
                    "{name} has {got} values, expected {want} for {s} views of {}x{}",
                    self.size, self.size
                ));
            }
        }
        if s == 0 {
            return Err("no views".into());
        }
        Ok(())
    }

    /// Camera-from-world of view `v`.
    pub fn camera_from_world(&self, v: usize) -> Mat4 {
        crate::data::shard::mat4_from_extrinsics(&self.extrinsics[v * 12..v * 12 + 12])
    }

    /// Intrinsics of view `v` (fx, fy, cx, cy).
    pub fn k(&self, v: usize) -> (f32, f32, f32, f32) {
        let k = &self.intrinsics[v * 9..v * 9 + 9];
        (k[0], k[4], k[2], k[5])
    }
}

/// Where a scene token comes from, for drawing attention on the views.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SceneTokenInfo {
    /// The view.
    pub view: usize,
    /// Row and column in the view's pooled patch grid; `None` for the camera token and for
    /// object tokens.
    pub cell: Option<(usize, usize)>,
    /// Side of the pooled patch grid.
    pub grid: usize,
    /// The object an object token stands for.
    pub object: Option<TokenObject>,
}

/// The object behind an object token, for showing where a model looked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenObject {
    /// Its id (an annotated object's, or a found object's that matches none).
    pub id: u32,
    /// Its category (index into `Category::ALL`).
    pub category: usize,
    /// Centre of its box, world frame, metres.
    pub center_m: [f32; 3],
}

/// An encoded scene, reused for every question about it.
#[derive(Debug, Clone)]
pub struct SceneTokens {
    /// Encoder output (for the depth and detection heads).
    pub encoder: EncoderOutput,
    /// Scene tokens in the decoder's width [1, N, D].
    pub embeds: Tensor,
    /// One entry per scene token.
    pub layout: Vec<SceneTokenInfo>,
    /// The objects behind the scene tokens (object input only; empty for patch input).
    pub objects: Vec<ObjectToken>,
    /// The first view's camera-from-world (the frame detections are given in).
    pub camera0_from_world: Mat4,
    /// Time `encode` took, milliseconds.
    pub encode_ms: f64,
    /// A student's maps and cameras, kept to look again for the objects a question names
    /// ([`SpatialVlm::look_again`]; `None` unless the model's `look_again` is set).
    pub search: Option<SearchMaps>,
}

/// What a student keeps of a scene to look again for an object ([`SpatialVlm::look_again`]).
#[derive(Debug, Clone)]
pub struct SearchMaps {
    /// Its per-pixel predictions of the views.
    pub maps: PredictedMaps,
    /// The views its objects were grouped through, without their images (their cameras).
    pub views: ViewBatch,
    /// The views' annotated objects, which found objects are labelled by (empty for views
    /// without annotations).
    pub annotated: Vec<ObjectToken>,
}

/// Attention recorded while answering, for the diagnostic panel.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AttentionMaps {
    /// [layer][head][answer token][latent]: each answer token's attention to the K latents.
    pub answer_to_latent: Vec<Vec<Vec<Vec<f32>>>>,
    /// [layer][head][latent][scene token]: each latent's attention to the scene tokens.
    pub latent_to_scene: Vec<Vec<Vec<Vec<f32>>>>,
}

/// What [`SpatialVlm::generate`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// Generated token ids (without `<eos>`).
    pub ids: Vec<u32>,
    /// Probability of each.
    pub probs: Vec<f32>,
    /// Logits [V] at the first answer position.
    pub first_logits: Vec<f32>,
    /// Hidden CoT attention maps, when asked for.
    pub attention: Option<AttentionMaps>,
    /// Where each object slot points (object slots only).
    pub grounding: Vec<Grounding>,
}

/// A prompt read into the decoder's KV cache ([`SpatialVlm::prefill`]): the cache, the logits of
/// its last position [1, T, V] (and as a vector [V]), the latents' attention maps when asked for,
/// and the object slots' grounding.
#[derive(Debug, Clone)]
pub struct Prefilled {
    cache: KvCache,
    logits: Tensor,
    first_logits: Vec<f32>,
    maps: Option<AttentionMaps>,
    grounding: Vec<Grounding>,
    latent_start: usize,
    latents: usize,
}

/// The logits [V] of the last position of `logits` [1, T, V].
fn last_position(logits: &Tensor) -> Result<Vec<f32>> {
    let t = logits.dim(1)?;
    logits.get(0)?.get(t - 1)?.to_vec1::<f32>()
}

/// Where one Hidden CoT object slot points: the object token it gives the most weight, as the
/// scene object's id, and that weight (the softmax of the slot's pointer scores).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grounding {
    /// Scene object id.
    pub object_id: u32,
    /// Pointer probability, 0..1.
    pub probability: f32,
}

/// The argmax object of each slot of `scores` [1, P, N] (pointer logits over `objects`).
pub(crate) fn grounding_of(scores: &Tensor, objects: &[ObjectToken]) -> Result<Vec<Grounding>> {
    let p = super::nn::softmax(&scores.get(0)?)?.to_vec2::<f32>()?;
    Ok(p.iter()
        .filter_map(|row| {
            let (i, &probability) = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
            Some(Grounding {
                object_id: objects.get(i)?.id,
                probability,
            })
        })
        .collect())
}

/// An answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The decoded text.
    pub text: String,
    /// Generated token ids (without `<eos>`).
    pub token_ids: Vec<u32>,
    /// Probability of each generated token.
    pub token_probs: Vec<f32>,
    /// Probability of `yes` against `no` at the first answer position (from the two tokens'
    /// logits alone; one forward pass, no generation); `None` when the tokenizer has no
    /// distinct first tokens for them.
    pub p_yes: Option<f32>,
    /// What free (greedy) decoding said when it was not of the kind the question's form asks
    /// for (`questions::form::answer_form`): something other than yes or no to a polar
    /// question (the answer is then the decoder's choice between the two, `p_yes`), or an
    /// answer not of the form an open question asks for: not a number to "how many", not a
    /// length to "how far", a number or yes to "which", a bare word to "where" (the answer is
    /// then the decoder's best of that form, `model::constrain`). `None` when free decoding
    /// answered.
    pub unconstrained: Option<String>,
    /// Time `answer` took, milliseconds.
    pub latency_ms: f64,
    /// Attention maps, when asked for.
    pub attention: Option<AttentionMaps>,
    /// The objects the answer was read from: where each object slot pointed, in the order the
    /// question names them (empty for models without object slots).
    pub grounding: Vec<Grounding>,
    /// Objects found for this question by looking again ([`SpatialVlm::look_again`]), read
    /// after the scene's own; empty when none were.
    pub looked_again: Vec<ObjectToken>,
}

impl Answer {
    /// "a lamp (52 px)" for each object found by looking again (its pixels over all views).
    pub fn looked_again_names(&self) -> Vec<String> {
        self.looked_again
            .iter()
            .map(|o| {
                let name = crate::scene::Category::ALL
                    .get(o.category)
                    .map_or("object", |&c| crate::questions::names::canonical_name(c));
                format!("a {name} ({} px)", o.pixels)
            })
            .collect()
    }
}

/// One detected box.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Detection class index (`data::detection_class_name`).
    pub class: usize,
    /// Class probability.
    pub score: f32,
    /// Centre, metres, first camera's frame.
    pub centre: [f32; 3],
    /// Size, metres.
    pub size: [f32; 3],
    /// The box as found in the world frame ([min, max], metres, axis-aligned) when the model
    /// found the object there (a model that finds its own objects); `centre` and `size` then
    /// bound its corners in the first camera's frame.
    pub world_box_m: Option<[[f32; 3]; 2]>,
}

impl Detection {
    /// The class's name ("?" for an index outside the classes).
    pub fn class_name(&self) -> &'static str {
        crate::data::detection_class_name(self.class).unwrap_or("?")
    }
}

/// Depth of one view.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewDepth {
    /// Depth, metres, row-major [H, W].
    pub depth_m: Vec<f32>,
    /// Confidence (≥ 1) [H, W].
    pub confidence: Vec<f32>,
}

/// A model's own per-pixel predictions for one scene's views.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictedMaps {
    /// Depth [S, H, W], metres.
    pub depth_m: Vec<f32>,
    /// Most likely class per semantic cell [S, h, h]: 0 background, c + 1 for
    /// `Category::ALL[c]`.
    pub class: Vec<u8>,
    /// Probability of that class per cell [S, h, h].
    pub confidence: Vec<f32>,
    /// Probability of every class per cell [S, K, h, h] (K classes, background first; empty
    /// when unknown): what [`Self::search`] looks again in.
    pub probability: Vec<f32>,
    /// Side h of the semantic grid.
    pub class_size: usize,
    /// Edge of the voxels [`Self::objects`] groups in, metres (the model's
    /// `object_group_voxel_m`).
    pub group_voxel_m: f32,
    /// Pixels a group must cover in some view (the model's `object_min_px`; `None`: the
    /// default of the image size).
    pub min_px: Option<u32>,
}

impl PredictedMaps {
    /// The objects these maps show, grouped in 3D through the cameras of `views`
    /// (`data::predicted_object_tokens`; ids 0.. by size, not matched to annotations).
    pub fn objects(&self, views: &ViewBatch) -> Vec<ObjectToken> {
        let default = Grouping::for_size(views.size);
        let grouping = Grouping {
            voxel_m: self.group_voxel_m,
            min_px: self.min_px.unwrap_or(default.min_px),
        };
        self.objects_with(views, &grouping)
    }

    /// Looks again for an object of `category` (an index into `Category::ALL`) where the most
    /// likely class of each cell hid it: every cell whose probability of that category is at
    /// least `min_probability` counts as one of it, grouped as [`Self::objects`] groups. The
    /// groups with enough pixels in some view (`min_px` when given, else the model's), largest
    /// first, each scored by its cells' mean probability of the category; none when the maps
    /// carry no probabilities.
    pub fn search(
        &self,
        views: &ViewBatch,
        category: usize,
        min_probability: f32,
        min_px: Option<u32>,
    ) -> Vec<ObjectToken> {
        let cells = self.class_size * self.class_size;
        let Ok(class) = u8::try_from(category + 1) else {
            return Vec::new();
        };
        let k = self.probability.len() / (views.views * cells).max(1);
        if cells == 0
            || usize::from(class) >= k
            || self.probability.len() != views.views * k * cells
        {
            return Vec::new();
        }
        let mut classes = vec![0u8; views.views * cells];
        let mut confidence = vec![0f32; views.views * cells];
        for v in 0..views.views {
            let row = &self.probability[(v * k + usize::from(class)) * cells..][..cells];
            for (i, &p) in row.iter().enumerate() {
                if p >= min_probability {
                    classes[v * cells + i] = class;
                    confidence[v * cells + i] = p;
                }
            }
        }
        let default = Grouping::for_size(views.size);
        let grouping = Grouping {
            voxel_m: self.group_voxel_m,
            min_px: min_px.or(self.min_px).unwrap_or(default.min_px),
        };
        self.group(views, &classes, &confidence, &grouping)
    }

    /// [`Self::objects`] under another `grouping` (for diagnostics).
    pub fn objects_with(&self, views: &ViewBatch, grouping: &Grouping) -> Vec<ObjectToken> {
        self.group(views, &self.class, &self.confidence, grouping)
    }

    /// Cells of `class` (with probabilities `confidence`) at these maps' depth, grouped through
    /// the cameras of `views` (`data::predicted_object_tokens`).
    fn group(
        &self,
        views: &ViewBatch,
        class: &[u8],
        confidence: &[f32],
        grouping: &Grouping,
    ) -> Vec<ObjectToken> {
        predicted_object_tokens(
            &PredictedViews {
                size: views.size,
                views: views.views,
                depth_m: &self.depth_m,
                class_size: self.class_size,
                class,
                confidence,
                intrinsics: &views.intrinsics,
                extrinsics: &views.extrinsics,
            },
            grouping,
        )
    }
}

/// One scene-token entry per object token.
pub fn object_layout(objects: &[ObjectToken]) -> Vec<SceneTokenInfo> {
    objects
        .iter()
        .map(|o| SceneTokenInfo {
            view: 0,
            cell: None,
            grid: 0,
            object: Some(TokenObject {
                id: o.id,
                category: o.category,
                center_m: o.center_m().to_array(),
            }),
        })
        .collect()
}

/// Gives found objects the ids of the `annotated` objects they match, when there are any
/// (`data::match_to_annotated`; `ViewBatch::object_tokens`).
fn label_by_annotations(found: &mut [ObjectToken], annotated: &[ObjectToken]) {
    if !annotated.is_empty() {
        match_to_annotated(found, annotated);
    }
}

/// Which cameras a student groups the objects it finds through ([`SpatialVlm::encode_as`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cameras {
    /// The views' own cameras (what the app knows of every view it renders; ScanNet frames
    /// carry theirs).
    #[default]
    Given,
    /// The first view's camera and the camera head's poses of the others relative to it.
    Predicted,
}

/// The model.
#[derive(Debug, Clone)]
pub struct SpatialVlm {
    /// Configuration.
    pub cfg: ModelConfig,
    encoder: Encoder,
    depth_head: DepthHead,
    detection_head: DetectionHead,
    projector: Mlp,
    decoder: Decoder,
    latents: Option<Tensor>,
    objects: Option<ObjectEmbedder>,
    probes: Option<LatentProbes>,
    pointers: Option<ObjectPointers>,
    camera_head: Option<CameraHead>,
    device: Device,
}

/// The object tokens' geometry for the object slots: boxes [B, N, 6] ([min, max] about the
/// scene centre), left-padded like the tokens.
#[derive(Debug, Clone)]
pub struct ObjectGeometry {
    /// Boxes [B, N, 6].
    pub boxes: Tensor,
}

impl ObjectGeometry {
    /// The geometry of a batch of scenes' object tokens.
    pub fn of(scenes: &[&[ObjectToken]], device: &Device) -> Result<ObjectGeometry> {
        let (boxes, n) = object_boxes(scenes);
        Ok(ObjectGeometry {
            boxes: Tensor::from_vec(boxes, (scenes.len(), n, 6), device)?,
        })
    }
}

/// What a decoder run over prompt embeddings gives ([`SpatialVlm::decode_prompt`]).
#[derive(Debug, Clone)]
pub struct PromptPass {
    /// Final hidden states [B, T − offset, D] of positions `offset..T` (of the second pass
    /// when there are object slots).
    pub hidden: Tensor,
    /// The first position `hidden` covers.
    pub offset: usize,
    /// With object slots: the first pass's hidden states [B, T1, D] of positions `0..T1`, T1
    /// past every row's second latent (what the latents' object probes read).
    pub first: Option<Tensor>,
    /// Attention probabilities per layer (when asked for).
    pub attention: Vec<Tensor>,
    /// Object-slot pointer logits [B, S, N] over the object tokens (S = `object_slots`).
    pub pointer_scores: Option<Tensor>,
    /// With anchors (`anchor_pointers`): each slot's anchor logits [B, S, N].
    pub anchor_scores: Option<Tensor>,
}

/// A question's prompt layout inside the decoder sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptLayout {
    /// Scene tokens.
    pub scene: usize,
    /// Question tokens, `<bos>` included.
    pub question: usize,
    /// Hidden CoT latents.
    pub latents: usize,
}

impl PromptLayout {
    /// Index of the first latent.
    pub fn latent_start(&self) -> usize {
        self.scene + self.question
    }

    /// Length of the prompt, `<ans>` included.
    pub fn len(&self) -> usize {
        self.scene + self.question + self.latents + 1
    }

    /// Never empty (`<ans>` is always there).
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl SpatialVlm {
    /// Builds the model from `vb` (checkpoint keys as documented in docs/MODELS.md).
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::Msg)?;
        let token_dim = 2 * cfg.encoder.embed_dim;
        let latents = if cfg.hidden_cot_tokens > 0 {
            Some(vb.get_with_hints(
                (cfg.hidden_cot_tokens, cfg.decoder.hidden_size),
                "hidden_cot.latents",
                Init::Randn {
                    mean: 0.0,
                    stdev: 0.02,
                },
            )?)
        } else {
            None
        };
        Ok(Self {
            encoder: Encoder::new(&cfg.encoder, vb.clone())?,
            depth_head: DepthHead::new(cfg, vb.clone())?,
            detection_head: DetectionHead::new(
                token_dim,
                cfg.encoder.embed_dim,
                cfg.detection_queries,
                cfg.detection_layers,
                cfg.detection_classes,
                vb.clone(),
            )?,
            projector: Mlp::new(
                token_dim,
                cfg.decoder.hidden_size,
                cfg.decoder.hidden_size,
                vb.pp("projector"),
            )?,
            decoder: Decoder::new(&cfg.decoder, vb.clone())?,
            latents,
            objects: (cfg.scene_input == SceneInput::Objects)
                .then(|| {
                    ObjectEmbedder::new(
                        cfg.decoder.hidden_size,
                        cfg.object_features.then_some(token_dim),
                        cfg.object_context,
                        vb.clone(),
                    )
                })
                .transpose()?,
            probes: (cfg.latent_probes && cfg.hidden_cot_tokens > 0)
                .then(|| LatentProbes::new(cfg.decoder.hidden_size, vb.clone()))
                .transpose()?,
            pointers: (cfg.latent_pointers
                && cfg.scene_input == SceneInput::Objects
                && cfg.hidden_cot_tokens > cfg.object_slots)
                .then(|| {
                    ObjectPointers::new(
                        cfg.decoder.hidden_size,
                        cfg.object_slots,
                        cfg.anchor_pointers,
                        vb.clone(),
                    )
                })
                .transpose()?,
            camera_head: cfg
                .camera_head
                .then(|| CameraHead::new(token_dim, vb.pp("camera_head")))
                .transpose()?,
            device: vb.device().clone(),
            cfg: cfg.clone(),
        })
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The decoder.
    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    /// Image tensor [1, S, 3, H, W] (0..1) and, for a model with 3D positions, patch points and
    /// validity.
    pub fn view_tensors(&self, views: &ViewBatch) -> Result<(Tensor, Option<(Tensor, Tensor)>)> {
        views.validate().map_err(candle_core::Error::Msg)?;
        if views.size != self.cfg.encoder.image_size {
            candle_core::bail!(
                "views are {}x{} pixels, the model takes {}x{}",
                views.size,
                views.size,
                self.cfg.encoder.image_size,
                self.cfg.encoder.image_size
            );
        }
        let (s, n) = (views.views, views.size);
        let images = Tensor::from_vec(
            views
                .images
                .iter()
                .map(|&b| b as f32 / 255.0)
                .collect::<Vec<f32>>(),
            (1, s, n, n, 3),
            &self.device,
        )?
        .permute((0, 1, 4, 2, 3))?
        .contiguous()?;
        if !self.cfg.encoder.position_3d {
            return Ok((images, None));
        }
        let depth = views.depth.as_ref().ok_or_else(|| {
            candle_core::Error::Msg("the teacher needs depth with its views".into())
        })?;
        let (pts, valid) = patch_points(views, depth, self.cfg.encoder.patch_size);
        let g = n / self.cfg.encoder.patch_size;
        let pts = Tensor::from_vec(pts, (1, s, g * g, 3), &self.device)?;
        let valid = Tensor::from_vec(valid, (1, s, g * g, 1), &self.device)?;
        Ok((images, Some((pts, valid))))
    }

    /// Runs the encoder on `images` [B, S, 3, H, W] (+ 3D points for the teacher).
    pub fn encode_tensors(
        &self,
        images: &Tensor,
        points: Option<&(Tensor, Tensor)>,
    ) -> Result<EncoderOutput> {
        self.encoder.forward(images, points.map(|(p, v)| (p, v)))
    }

    /// Scene tokens for the decoder from the encoder output: per view the camera token and the
    /// patch tokens average-pooled `scene_pool` a side, projected: [B, S·(1 + (g/pool)²), D].
    pub fn scene_embeds(&self, enc: &EncoderOutput) -> Result<Tensor> {
        let last = enc
            .layers
            .last()
            .ok_or_else(|| candle_core::Error::Msg("no encoder layers".into()))?;
        let (b, s, t, c2) = last.dims4()?;
        let g = self.cfg.grid();
        let pool = self.cfg.scene_pool;
        let cam = last.narrow(2, 0, 1)?; // [B, S, 1, 2C]
        let patches = last
            .narrow(2, enc.patch_start, t - enc.patch_start)?
            .reshape((b * s, g, g, c2))?
            .permute((0, 3, 1, 2))?;
        let pooled = if pool > 1 {
            patches.avg_pool2d(pool)?
        } else {
            patches
        };
        let gp = g / pool;
        let pooled = pooled
            .flatten_from(2)?
            .transpose(1, 2)?
            .reshape((b, s, gp * gp, c2))?;
        let tokens = Tensor::cat(&[&cam, &pooled], 2)?.reshape((b, s * (1 + gp * gp), c2))?;
        self.projector.forward(&tokens)
    }

    /// Where each scene token comes from.
    pub fn scene_layout(&self, views: usize) -> Vec<SceneTokenInfo> {
        let gp = self.cfg.grid() / self.cfg.scene_pool;
        let mut out = Vec::new();
        for view in 0..views {
            out.push(SceneTokenInfo {
                view,
                cell: None,
                grid: gp,
                object: None,
            });
            for r in 0..gp {
                for c in 0..gp {
                    out.push(SceneTokenInfo {
                        view,
                        cell: Some((r, c)),
                        grid: gp,
                        object: None,
                    });
                }
            }
        }
        out
    }

    /// Encodes a scene's views once; every question about it reuses the result. An
    /// object-input model needs depth, instance masks and object categories with the views and
    /// refuses a scene without annotated objects (a bare PLY) rather than answer blind.
    pub fn encode(&self, views: &ViewBatch) -> Result<SceneTokens> {
        self.encode_as(views, Cameras::Given)
    }

    /// [`Self::encode`], grouping a student's objects through the `cameras` asked for: the
    /// views' own, or the first view's and the camera head's poses of the others relative to it
    /// (`Cameras::Predicted`; a model without a camera head refuses it).
    pub fn encode_as(&self, views: &ViewBatch, cameras: Cameras) -> Result<SceneTokens> {
        let start = Instant::now();
        let (images, points) = self.view_tensors(views)?;
        let encoder = self.encode_tensors(&images, points.as_ref())?;
        let predicted;
        let mut search = None;
        let grouped = match cameras {
            Cameras::Given => views,
            Cameras::Predicted => {
                predicted = self.with_predicted_cameras(&encoder, views)?;
                &predicted
            }
        };
        let (embeds, layout, objects) = match &self.objects {
            None => (
                self.scene_embeds(&encoder)?,
                self.scene_layout(views.views),
                Vec::new(),
            ),
            Some(_) => {
                let objects = match self.cfg.object_source {
                    ObjectSource::Annotated => views.object_tokens(),
                    ObjectSource::Predicted => {
                        let maps = self.predicted_maps(&encoder)?;
                        // Matched to the annotations through the views' true cameras.
                        let mut found = maps.objects(grouped);
                        let annotated = views.object_tokens();
                        label_by_annotations(&mut found, &annotated);
                        if self.cfg.look_again.is_some() {
                            search = Some(SearchMaps {
                                maps,
                                views: ViewBatch {
                                    images: Vec::new(),
                                    ..grouped.clone()
                                },
                                annotated,
                            });
                        }
                        found
                    }
                };
                if objects.is_empty() {
                    match self.cfg.object_source {
                        ObjectSource::Annotated => candle_core::bail!(
                            "the views show no annotated object (this model answers from object \
                             instances; a scene without them, such as a bare PLY, cannot be asked)"
                        ),
                        ObjectSource::Predicted => candle_core::bail!(
                            "the model found no object in the views (it answers from the objects \
                             it finds; none had enough pixels)"
                        ),
                    }
                }
                let features = if self.cfg.object_features {
                    Some(self.pooled_object_features(&encoder, grouped, &objects)?)
                } else {
                    None
                };
                let embeds = self.object_embeds(&[&objects], features.as_ref())?;
                (embeds, object_layout(&objects), objects)
            }
        };
        // A GPU runs the kernels asynchronously: wait for them so that the time is the work's.
        self.device.synchronize()?;
        Ok(SceneTokens {
            encoder,
            embeds,
            layout,
            objects,
            camera0_from_world: views.camera_from_world(0),
            encode_ms: start.elapsed().as_secs_f64() * 1000.0,
            search,
        })
    }

    /// The camera head's poses of the views of `enc` (first scene of the batch) relative to
    /// the first, each `[tx, ty, tz, w, x, y, z]` (`model::camera_head`); `None` without a head.
    pub fn camera_poses(&self, enc: &EncoderOutput) -> Result<Option<Vec<[f32; 7]>>> {
        let Some(poses) = self.camera_tensors(enc)? else {
            return Ok(None);
        };
        Ok(Some(
            poses
                .get(0)?
                .to_vec2::<f32>()?
                .into_iter()
                .map(|p| {
                    <[f32; 7]>::try_from(p.as_slice()).map_err(|_| {
                        candle_core::Error::Msg(format!("a pose of {} numbers", p.len()))
                    })
                })
                .collect::<Result<_>>()?,
        ))
    }

    /// `views` with the camera of every view after the first replaced by the camera head's:
    /// `camera_from_world = camera_from_camera0 (predicted) · camera0_from_world (given)`.
    pub fn with_predicted_cameras(
        &self,
        enc: &EncoderOutput,
        views: &ViewBatch,
    ) -> Result<ViewBatch> {
        let Some(poses) = self.camera_poses(enc)? else {
            candle_core::bail!("this model has no camera head to predict cameras with");
        };
        let camera0_from_world = views.camera_from_world(0);
        let mut out = views.clone();
        for (v, pose) in poses.iter().enumerate().skip(1).take(views.views - 1) {
            let m = super::camera_head::pose_matrix(pose) * camera0_from_world;
            out.extrinsics[v * 12..v * 12 + 12]
                .copy_from_slice(&crate::data::shard::extrinsics_from_mat4(m));
        }
        Ok(out)
    }

    /// The depth head's maps of the views of `enc` (first scene of the batch): depth and each
    /// semantic cell's most likely class.
    pub fn predicted_maps(&self, enc: &EncoderOutput) -> Result<PredictedMaps> {
        let out = self.depth_head.forward(enc)?;
        let Some(semantic) = &out.semantic else {
            candle_core::bail!("this model has no semantic output to find objects with");
        };
        let (_, _, _, h, w) = semantic.dims5()?;
        if h != w {
            candle_core::bail!("semantic maps of {h}x{w}: expected square maps");
        }
        let semantic = semantic.get(0)?;
        let class: Vec<u8> = semantic
            .argmax(1)?
            .flatten_all()?
            .to_vec1::<u32>()?
            .into_iter()
            .map(|c| u8::try_from(c).unwrap_or(0))
            .collect();
        // Channel axis 1 of [S, classes, h, w].
        let probability = candle_nn::ops::softmax(&semantic, 1)?;
        let confidence = probability.max(1)?.flatten_all()?.to_vec1::<f32>()?;
        Ok(PredictedMaps {
            depth_m: out.depth.get(0)?.flatten_all()?.to_vec1::<f32>()?,
            class,
            confidence,
            probability: probability.flatten_all()?.to_vec1::<f32>()?,
            class_size: h,
            group_voxel_m: self.cfg.object_group_voxel_m,
            min_px: self.cfg.object_min_px,
        })
    }

    /// The objects this model finds in `views` from its own predictions: depth and per-pixel
    /// categories of the depth head, grouped in 3D through the views' cameras
    /// (`data::predicted_object_tokens`). When the views carry annotated instances (a dataset
    /// shard, an annotated scan), each found object takes the id of the annotated one it covers
    /// (`data::match_to_annotated`), so that grounding can be scored; the answer never reads ids.
    pub fn predicted_objects(
        &self,
        enc: &EncoderOutput,
        views: &ViewBatch,
    ) -> Result<Vec<ObjectToken>> {
        let mut found = self.predicted_maps(enc)?.objects(views);
        label_by_annotations(&mut found, &views.object_tokens());
        Ok(found)
    }

    /// The objects a student finds by looking again for what `question` names: for each
    /// category the question names ([`crate::questions::names::named_categories`]) of which
    /// `scene` has no object, the largest group of cells at least `look_again.min_probability`
    /// sure of that category ([`PredictedMaps::search`]). Labelled by the views' annotations
    /// where they match one; otherwise given ids no object of `scene` has. Empty when the model
    /// does not look again, the scene kept no maps, or nothing named is missing; never more
    /// than the object-token limit allows beside `scene`'s objects.
    pub fn look_again(&self, scene: &SceneTokens, question: &str) -> Vec<ObjectToken> {
        let (Some(how), Some(search)) = (self.cfg.look_again, &scene.search) else {
            return Vec::new();
        };
        let room = crate::data::objects::MAX_OBJECT_TOKENS.saturating_sub(scene.objects.len());
        let missing = crate::questions::names::named_categories(question)
            .into_iter()
            .filter_map(crate::questions::names::category_named)
            .map(crate::scene::Category::index)
            .filter(|&c| scene.objects.iter().all(|o| o.category != c));
        let mut found: Vec<ObjectToken> = missing
            .filter_map(|c| {
                search
                    .maps
                    .search(&search.views, c, how.min_probability, Some(how.min_px))
                    .into_iter()
                    .next()
            })
            .take(room)
            .collect();
        label_by_annotations(&mut found, &search.annotated);
        let matched_below = if search.annotated.is_empty() {
            0
        } else {
            crate::data::UNMATCHED_ID_BASE
        };
        // A match keeps its annotated id (no object of `scene` has that category, so none has
        // the id); anything else takes a fresh one.
        let mut next = scene
            .objects
            .iter()
            .map(|o| o.id + 1)
            .max()
            .unwrap_or(0)
            .max(matched_below);
        for o in &mut found {
            if o.id >= matched_below {
                o.id = next;
                next += 1;
            }
        }
        found
    }

    /// `scene` with `extra` objects after its own (embeddings and layout to match), for one
    /// question; it keeps no search maps.
    pub fn with_objects(&self, scene: &SceneTokens, extra: &[ObjectToken]) -> Result<SceneTokens> {
        let mut objects = scene.objects.clone();
        objects.extend_from_slice(extra);
        let features = match (&scene.search, self.cfg.object_features) {
            (Some(search), true) => {
                Some(self.pooled_object_features(&scene.encoder, &search.views, &objects)?)
            }
            _ => None,
        };
        let mut layout = scene.layout.clone();
        layout.extend(object_layout(extra));
        Ok(SceneTokens {
            encoder: scene.encoder.clone(),
            embeds: self.object_embeds(&[&objects], features.as_ref())?,
            layout,
            objects,
            camera0_from_world: scene.camera0_from_world,
            encode_ms: scene.encode_ms,
            search: None,
        })
    }

    /// Decoder embeddings of a batch of scenes' object tokens, left-padded to the longest
    /// [B, Nmax, D] (padding rows are zeros; mask them with [`object_key_mask`]). `features`
    /// [B, Nmax, 2C] are pooled encoder features (with `object_features`).
    pub fn object_embeds(
        &self,
        scenes: &[&[ObjectToken]],
        features: Option<&Tensor>,
    ) -> Result<Tensor> {
        let Some(embedder) = &self.objects else {
            candle_core::bail!("this model reads patch tokens, not object tokens");
        };
        let context = self.cfg.object_context;
        let (cats, geom, n_max) = object_inputs(scenes, context);
        let b = scenes.len();
        let cats = Tensor::from_vec(cats, (b, n_max), &self.device)?;
        let geom = Tensor::from_vec(geom, (b, n_max, geometry_dim(context)), &self.device)?;
        let x = embedder.forward(&cats, &geom, features)?;
        // Zero the padding rows so that they carry nothing even before masking.
        let keep: Vec<f32> = scenes
            .iter()
            .flat_map(|s| {
                let pad = n_max - s.len();
                std::iter::repeat_n(0.0, pad).chain(std::iter::repeat_n(1.0, s.len()))
            })
            .collect();
        let keep = Tensor::from_vec(keep, (b, n_max, 1), &self.device)?;
        x.broadcast_mul(&keep)
    }

    /// Each object's encoder features: the last layer's patch tokens averaged with weights
    /// equal to the share of the object's mask pixels in each patch, [1, N, 2C].
    pub fn pooled_object_features(
        &self,
        enc: &EncoderOutput,
        views: &ViewBatch,
        objects: &[ObjectToken],
    ) -> Result<Tensor> {
        let last = enc
            .layers
            .last()
            .ok_or_else(|| candle_core::Error::Msg("no encoder layers".into()))?;
        let (_, s, t, c2) = last.dims4()?;
        let patch = self.cfg.encoder.patch_size;
        let g = self.cfg.grid();
        let n = views.size;
        let instance = views
            .instance
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("object features need instance masks".into()))?;
        let mut weights = vec![0f32; objects.len() * s * g * g];
        for (oi, o) in objects.iter().enumerate() {
            let row = &mut weights[oi * s * g * g..(oi + 1) * s * g * g];
            for v in 0..s {
                for p in 0..n * n {
                    if instance[v * n * n + p] == o.id as i32 {
                        let (y, x) = (p / n, p % n);
                        row[v * g * g + (y / patch) * g + x / patch] += 1.0;
                    }
                }
            }
            let total: f32 = row.iter().sum();
            if total > 0.0 {
                row.iter_mut().for_each(|w| *w /= total);
            }
        }
        let w = Tensor::from_vec(weights, (1, objects.len(), s * g * g), &self.device)?;
        let patches = last
            .narrow(2, enc.patch_start, t - enc.patch_start)?
            .reshape((1, s * g * g, c2))?;
        w.matmul(&patches)
    }

    /// Runs the decoder over prompt embeddings `x` [B, T, D] whose first N rows are object
    /// tokens (`objects`: their boxes; `None` for patch input or a blind run) and whose latents start at `latent_start[b]`. With object slots, a first pass
    /// finds where the first two latents point, the relation of the boxes they point at is added
    /// to the third latent's input, and a second pass (appending to `cache`) gives the hidden
    /// states; otherwise one pass. `key_mask` [B, T] is additive.
    pub fn decode_prompt(
        &self,
        x: &Tensor,
        key_mask: Option<&Tensor>,
        objects: Option<&ObjectGeometry>,
        latent_start: &[usize],
        cache: Option<&mut KvCache>,
        want_attention: bool,
    ) -> Result<PromptPass> {
        let (Some(pointers), Some(geometry)) = (&self.pointers, objects) else {
            let (hidden, attention) =
                self.decoder
                    .forward_hidden(x, cache, key_mask, want_attention)?;
            return Ok(PromptPass {
                hidden,
                offset: 0,
                first: None,
                attention,
                pointer_scores: None,
                anchor_scores: None,
            });
        };
        let (b, t, d) = x.dims3()?;
        let boxes = &geometry.boxes;
        let n = boxes.dim(1)?;
        // Pass 1 up to each row's second latent; its keys and values before the earliest third
        // latent are reused by pass 2, which recomputes only from there (causal: nothing
        // before a row's third latent changes).
        // Slots 0..S point; latent S (the relation latent) gets the relation.
        let slots_n = self.cfg.object_slots;
        let t1 = latent_start.iter().max().copied().unwrap_or(0) + slots_n;
        let s2 = latent_start.iter().min().copied().unwrap_or(0) + slots_n;
        if t1 > t || s2 >= t {
            candle_core::bail!("the latents lie outside the prompt");
        }
        let mask1 = key_mask.map(|m| m.narrow(1, 0, t1)).transpose()?;
        let mut kv = KvCache::default();
        let (first, _) = self.decoder.forward_hidden(
            &x.narrow(1, 0, t1)?,
            Some(&mut kv),
            mask1.as_ref(),
            false,
        )?;
        let flat = first.reshape((b * t1, d))?;
        let rows: Vec<u32> = latent_start
            .iter()
            .enumerate()
            .flat_map(|(bi, &s)| (0..slots_n).map(move |i| (bi * t1 + s + i) as u32))
            .collect();
        let slots = flat
            .index_select(&Tensor::new(rows.as_slice(), &self.device)?, 0)?
            .reshape((b, slots_n, d))?;
        let object_mask = match key_mask {
            Some(m) => m.narrow(1, 0, n)?,
            None => Tensor::zeros((b, n), candle_core::DType::F32, &self.device)?,
        };
        let slot_scores = pointers.slot_scores(&slots, &x.narrow(1, 0, n)?, &object_mask, boxes)?;
        let scores = slot_scores.objects;
        let relation = pointers.relation(&scores, boxes)?; // [B, D]
        let mut at = vec![0f32; b * t];
        for (bi, &s) in latent_start.iter().enumerate() {
            at[bi * t + s + slots_n] = 1.0;
        }
        let at = Tensor::from_vec(at, (b, t, 1), &self.device)?;
        let x2 = (x + at.broadcast_mul(&relation.unsqueeze(1)?)?)?;
        // Attention maps cover every query position: recompute the whole prompt then.
        let offset = if want_attention { 0 } else { s2 };
        kv.truncate(offset)?;
        let (hidden, attention) = self.decoder.forward_hidden(
            &x2.narrow(1, offset, t - offset)?,
            Some(&mut kv),
            key_mask,
            want_attention,
        )?;
        if let Some(c) = cache {
            *c = kv;
        }
        Ok(PromptPass {
            hidden,
            offset,
            first: Some(first),
            attention,
            pointer_scores: Some(scores),
            anchor_scores: slot_scores.anchors,
        })
    }

    /// The geometry of an encoded scene's object tokens (object input only).
    pub fn scene_geometry(&self, scene: &SceneTokens) -> Result<Option<ObjectGeometry>> {
        if self.objects.is_none() || scene.objects.is_empty() {
            return Ok(None);
        }
        Ok(Some(ObjectGeometry::of(
            &[scene.objects.as_slice()],
            &self.device,
        )?))
    }

    /// The object-slot heads, when the model has them.
    pub fn pointers(&self) -> Option<&ObjectPointers> {
        self.pointers.as_ref()
    }

    /// The Hidden CoT latents [K, D], when K > 0.
    pub fn latents(&self) -> Option<&Tensor> {
        self.latents.as_ref()
    }

    /// The probe heads, when the model has them.
    pub fn probes(&self) -> Option<&LatentProbes> {
        self.probes.as_ref()
    }

    /// The object embedder, when the model reads object tokens.
    pub fn object_embedder(&self) -> Option<&ObjectEmbedder> {
        self.objects.as_ref()
    }

    /// The prompt embeddings [B, N + 1 + Lq + K + 1, D] for one question (`question_ids`
    /// without `<bos>`) over scene tokens `scene` [B, N, D]: scene, `<bos>` question, Hidden
    /// CoT latents, `<ans>`.
    pub fn prompt(
        &self,
        scene: &Tensor,
        question_ids: &[u32],
        bos: u32,
        ans: u32,
    ) -> Result<(Tensor, PromptLayout)> {
        let (b, n, _) = scene.dims3()?;
        let (tail, layout) = self.question_part(b, n, question_ids, bos, ans)?;
        Ok((Tensor::cat(&[scene, &tail], 1)?, layout))
    }

    /// The part of the prompt after the scene tokens: `<bos>` question, latents, `<ans>`
    /// [B, 1 + Lq + K + 1, D], for a scene of `n` tokens.
    pub fn question_part(
        &self,
        b: usize,
        n: usize,
        question_ids: &[u32],
        bos: u32,
        ans: u32,
    ) -> Result<(Tensor, PromptLayout)> {
        let d = self.cfg.decoder.hidden_size;
        let mut ids = vec![bos];
        ids.extend_from_slice(question_ids);
        let q = self
            .decoder
            .embed(&Tensor::new(ids.as_slice(), &self.device)?.unsqueeze(0)?)?
            .broadcast_as((b, ids.len(), d))?;
        let a = self
            .decoder
            .embed(&Tensor::new(&[ans], &self.device)?.unsqueeze(0)?)?
            .broadcast_as((b, 1, d))?;
        let mut parts = vec![q.contiguous()?];
        let k = match &self.latents {
            Some(l) => {
                parts.push(
                    l.unsqueeze(0)?
                        .broadcast_as((b, l.dim(0)?, d))?
                        .contiguous()?,
                );
                l.dim(0)?
            }
            None => 0,
        };
        parts.push(a.contiguous()?);
        let layout = PromptLayout {
            scene: n,
            question: ids.len(),
            latents: k,
        };
        Ok((Tensor::cat(&parts, 1)?, layout))
    }

    /// Answers `question_ids` about `scene` greedily with a KV cache, stopping at `eos` or after
    /// `max_answer_tokens`: the answer's ids, their probabilities and the logits [V] at the
    /// first answer position. With `want_attention`, records the Hidden CoT attention maps.
    pub fn generate(
        &self,
        scene: &SceneTokens,
        question_ids: &[u32],
        special: (u32, u32, u32),
        want_attention: bool,
    ) -> Result<Generated> {
        let (bos, ans, eos) = special;
        let prompt = self.prefill(scene, question_ids, (bos, ans), want_attention)?;
        self.continue_answer(prompt, eos, None)
    }

    /// Reads the prompt (scene, question, latents, `<ans>`) once into a KV cache: what
    /// [`Self::continue_answer`] decodes from, as often as wanted (it is cheap to clone: the
    /// cached tensors are shared). With `want_attention`, records the latents' attention to the
    /// scene.
    pub fn prefill(
        &self,
        scene: &SceneTokens,
        question_ids: &[u32],
        special: (u32, u32),
        want_attention: bool,
    ) -> Result<Prefilled> {
        let (bos, ans) = special;
        let (prompt, layout) = self.prompt(&scene.embeds, question_ids, bos, ans)?;
        let mut cache = KvCache::default();
        let geometry = self.scene_geometry(scene)?;
        let pass = self.decode_prompt(
            &prompt,
            None,
            geometry.as_ref(),
            &[layout.latent_start()],
            Some(&mut cache),
            want_attention,
        )?;
        let grounding = match &pass.pointer_scores {
            Some(scores) => grounding_of(scores, &scene.objects)?,
            None => Vec::new(),
        };
        let (logits, attn) = (self.decoder.lm_logits(&pass.hidden)?, pass.attention);
        let mut maps = want_attention.then(AttentionMaps::default);
        let lat = layout.latent_start();
        if let Some(m) = maps.as_mut()
            && layout.latents > 0
        {
            for a in &attn {
                // [1, H, T, T] → rows of the latents, columns of the scene tokens.
                let rows = a
                    .get(0)?
                    .narrow(1, lat, layout.latents)?
                    .narrow(2, 0, layout.scene)?;
                m.latent_to_scene.push(rows.to_vec3::<f32>()?);
                m.answer_to_latent.push(vec![Vec::new(); rows.dim(0)?]);
            }
        }
        // [1, T, V]: the last position predicts the first answer token.
        let first_logits = last_position(&logits)?;
        Ok(Prefilled {
            cache,
            logits,
            first_logits,
            maps,
            grounding,
            latent_start: lat,
            latents: layout.latents,
        })
    }

    /// Decodes an answer after a [`Self::prefill`]ed prompt greedily, stopping at `eos` or after
    /// `max_answer_tokens`. With `form`, held to it: each answer token is the most likely among
    /// those the form allows after the ones before ([`TokenClasses::allowed_next`]; its
    /// probability still under the full distribution), falling back to the most likely of all
    /// where the form allows none.
    pub fn continue_answer(
        &self,
        prompt: Prefilled,
        eos: u32,
        form: Option<(AnswerForm, &TokenClasses)>,
    ) -> Result<Generated> {
        let Prefilled {
            mut cache,
            mut logits,
            first_logits,
            mut maps,
            grounding,
            latent_start: lat,
            latents,
        } = prompt;
        let want_attention = maps.is_some();
        let (mut ids, mut probs) = (Vec::new(), Vec::new());
        for step in 0..self.cfg.decoder.max_answer_tokens {
            let (id, p) = match form {
                Some((form, classes)) => {
                    let room = self.cfg.decoder.max_answer_tokens - step;
                    let allowed = classes.allowed_next(form, &ids, room);
                    greedy_allowed(&last_position(&logits)?, &allowed)
                        .map_or_else(|| greedy(&logits), Ok)?
                }
                None => greedy(&logits)?,
            };
            if id == eos {
                break;
            }
            ids.push(id);
            probs.push(p);
            let x = self
                .decoder
                .embed(&Tensor::new(&[id], &self.device)?.unsqueeze(0)?)?;
            let (l, attn) = self
                .decoder
                .forward(&x, Some(&mut cache), None, want_attention)?;
            logits = l;
            if let Some(m) = maps.as_mut()
                && latents > 0
            {
                for (li, a) in attn.iter().enumerate() {
                    // [1, H, 1, Tk]: this answer token's attention to the latents.
                    let row = a
                        .get(0)?
                        .squeeze(1)?
                        .narrow(1, lat, latents)?
                        .to_vec2::<f32>()?;
                    for (h, r) in row.into_iter().enumerate() {
                        m.answer_to_latent[li][h].push(r);
                    }
                }
            }
        }
        Ok(Generated {
            ids,
            probs,
            first_logits,
            attention: maps,
            grounding,
        })
    }

    /// Decodes `answer_ids` after the prompt exactly as [`Self::generate`] would had it chosen
    /// them (prompt once, then one token at a time through the KV cache), without choosing:
    /// the same work for any model given the same answer, for fair latency comparisons.
    pub fn forced_decode(
        &self,
        scene: &SceneTokens,
        question_ids: &[u32],
        answer_ids: &[u32],
        special: (u32, u32),
    ) -> Result<()> {
        let (bos, ans) = special;
        let (prompt, layout) = self.prompt(&scene.embeds, question_ids, bos, ans)?;
        let mut cache = KvCache::default();
        let geometry = self.scene_geometry(scene)?;
        let pass = self.decode_prompt(
            &prompt,
            None,
            geometry.as_ref(),
            &[layout.latent_start()],
            Some(&mut cache),
            false,
        )?;
        let mut logits = self.decoder.lm_logits(&pass.hidden)?;
        for &id in answer_ids {
            let x = self
                .decoder
                .embed(&Tensor::new(&[id], &self.device)?.unsqueeze(0)?)?;
            logits = self.decoder.forward(&x, Some(&mut cache), None, false)?.0;
        }
        // Read the last logits back, as generation reads each step's.
        greedy(&logits)?;
        Ok(())
    }

    /// Teacher-forced logits for a batch of questions about one scene: for each example the
    /// logits that predict its answer tokens and `<eos>`, stacked [Σ (La + 1), V], with the
    /// targets. `scene` is [1, N, D]. The scene tokens go through the decoder once; the batch
    /// of right-padded question/answer sequences attends to their cached keys and values.
    /// Patch models only: object slots need [`Self::decode_prompt`].
    pub fn answer_logits(
        &self,
        scene: &Tensor,
        examples: &[(Vec<u32>, Vec<u32>)],
        special: (u32, u32, u32, u32),
    ) -> Result<(Tensor, Vec<u32>)> {
        if self.pointers.is_some() {
            candle_core::bail!(
                "teacher-forced answer logits over a cached scene prefix are for patch models; \
                 this model has object slots"
            );
        }
        let (bos, ans, eos, pad) = special;
        let n = scene.dim(1)?;
        let mut seqs = Vec::new();
        let mut spans = Vec::new();
        let mut max_len = 0;
        for (q, a) in examples {
            let (tail, layout) = self.question_part(1, n, q, bos, ans)?;
            let mut a_ids = a.clone();
            a_ids.push(eos);
            // Inputs: the prompt, then the answer tokens (the last target, <eos>, needs no input).
            let a_in = &a_ids[..a_ids.len() - 1];
            let x = if a_in.is_empty() {
                tail
            } else {
                let e = self
                    .decoder
                    .embed(&Tensor::new(a_in, &self.device)?.unsqueeze(0)?)?;
                Tensor::cat(&[&tail, &e], 1)?
            };
            max_len = max_len.max(x.dim(1)?);
            spans.push((layout.len() - 1 - n, a_ids));
            seqs.push(x);
        }
        let d = self.cfg.decoder.hidden_size;
        let mut padded = Vec::new();
        let mut mask = Vec::new();
        for x in &seqs {
            let len = x.dim(1)?;
            let mut m = vec![0f32; n + len];
            m.resize(n + max_len, -1e9);
            mask.extend(m);
            if len < max_len {
                let pad_e = self
                    .decoder
                    .embed(&Tensor::new(&[pad], &self.device)?.unsqueeze(0)?)?
                    .broadcast_as((1, max_len - len, d))?
                    .contiguous()?;
                padded.push(Tensor::cat(&[x, &pad_e], 1)?);
            } else {
                padded.push(x.clone());
            }
        }
        let mut cache = KvCache::default();
        self.decoder.forward(scene, Some(&mut cache), None, false)?;
        let x = Tensor::cat(&padded, 0)?;
        let key_mask = Tensor::from_vec(mask, (examples.len(), n + max_len), &self.device)?;
        let (logits, _) = self
            .decoder
            .forward(&x, Some(&mut cache), Some(&key_mask), false)?;
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (i, (start, a_ids)) in spans.iter().enumerate() {
            rows.push(logits.get(i)?.narrow(0, *start, a_ids.len())?);
            targets.extend_from_slice(a_ids);
        }
        Ok((Tensor::cat(&rows, 0)?, targets))
    }

    /// Teacher-forced answer logits of `examples` (question ids, answer ids) about an encoded
    /// scene, through the same prompt pass as [`Self::generate`] (object slots included): rows
    /// [Σ (answer tokens + 1), V] predicting each answer token and `<eos>`, and those targets,
    /// examples in order (the layout of [`Self::answer_logits`]). One decoder run per example;
    /// this is what distillation reads from an object-token teacher.
    pub fn scene_answer_logits(
        &self,
        scene: &SceneTokens,
        examples: &[(Vec<u32>, Vec<u32>)],
        special: (u32, u32, u32),
    ) -> Result<(Tensor, Vec<u32>)> {
        let (bos, ans, eos) = special;
        let geometry = self.scene_geometry(scene)?;
        let n = scene.embeds.dim(1)?;
        let mut rows = Vec::with_capacity(examples.len());
        let mut targets = Vec::new();
        for (q, a) in examples {
            let (tail, layout) = self.question_part(1, n, q, bos, ans)?;
            let mut a_ids = a.clone();
            a_ids.push(eos);
            // Inputs after <ans>: the answer tokens (the last target, <eos>, needs no input).
            let a_in = &a_ids[..a_ids.len() - 1];
            let mut parts = vec![scene.embeds.clone(), tail];
            if !a_in.is_empty() {
                parts.push(
                    self.decoder
                        .embed(&Tensor::new(a_in, &self.device)?.unsqueeze(0)?)?,
                );
            }
            let x = Tensor::cat(&parts, 1)?;
            let pass = self.decode_prompt(
                &x,
                None,
                geometry.as_ref(),
                &[layout.latent_start()],
                None,
                false,
            )?;
            let start = layout.len() - 1 - pass.offset;
            let h = pass.hidden.get(0)?.narrow(0, start, a_ids.len())?;
            rows.push(self.decoder.lm_logits(&h)?);
            targets.extend(a_ids);
        }
        if rows.is_empty() {
            return Ok((
                Tensor::zeros(
                    (0, self.cfg.decoder.vocab_size),
                    candle_core::DType::F32,
                    &self.device,
                )?,
                targets,
            ));
        }
        Ok((Tensor::cat(&rows, 0)?, targets))
    }

    /// Depth and confidence from an encoder output.
    pub fn depth_tensors(&self, enc: &EncoderOutput) -> Result<DepthOutput> {
        self.depth_head.forward(enc)
    }

    /// Each view's pose relative to the first, [B, S, 7] (translation in metres, then a unit
    /// quaternion w-first: `model::camera_head`); `None` without a camera head.
    pub fn camera_tensors(&self, enc: &EncoderOutput) -> Result<Option<Tensor>> {
        self.camera_head
            .as_ref()
            .map(|h| h.forward(enc))
            .transpose()
    }

    /// Detections from an encoder output.
    pub fn detect_tensors(&self, enc: &EncoderOutput) -> Result<DetectionOutput> {
        self.detection_head.forward(enc)
    }

    /// Per-view depth and confidence.
    pub fn depth(&self, scene: &SceneTokens) -> Result<Vec<ViewDepth>> {
        let out = self.depth_tensors(&scene.encoder)?;
        let d = out.depth.get(0)?.flatten_from(1)?.to_vec2::<f32>()?;
        let c = out.confidence.get(0)?.flatten_from(1)?.to_vec2::<f32>()?;
        Ok(d.into_iter()
            .zip(c)
            .map(|(depth_m, confidence)| ViewDepth {
                depth_m,
                confidence,
            })
            .collect())
    }

    /// Boxes with class and score, best first, "no object" queries left out. A model that finds
    /// its own objects (`object_source: predicted`) gives those of its objects that have a
    /// detection class: each world box's corners in the first camera's frame, their bounding
    /// box, and the world box itself; the score is the mean probability of its category over
    /// its pixels.
    pub fn detect(&self, scene: &SceneTokens) -> Result<Vec<Detection>> {
        if self.cfg.object_source == ObjectSource::Predicted {
            let mut dets: Vec<Detection> = scene
                .objects
                .iter()
                .filter_map(|o| {
                    let class = crate::data::detection_class(
                        *crate::scene::Category::ALL.get(o.category)?,
                    )?;
                    let (lo, hi) = (Vec3::from(o.min_m), Vec3::from(o.max_m));
                    let (mut a, mut b) =
                        (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
                    for k in 0..8 {
                        let corner = Vec3::new(
                            if k & 1 == 0 { lo.x } else { hi.x },
                            if k & 2 == 0 { lo.y } else { hi.y },
                            if k & 4 == 0 { lo.z } else { hi.z },
                        );
                        let c = scene.camera0_from_world.transform_point3(corner);
                        a = a.min(c);
                        b = b.max(c);
                    }
                    Some(Detection {
                        class,
                        score: o.score,
                        centre: ((a + b) / 2.0).to_array(),
                        size: (b - a).to_array(),
                        world_box_m: Some([o.min_m, o.max_m]),
                    })
                })
                .collect();
            dets.sort_by(|x, y| y.score.total_cmp(&x.score));
            return Ok(dets);
        }
        let out = self.detect_tensors(&scene.encoder)?;
        let probs = super::nn::softmax(&out.logits)?.get(0)?;
        let n_classes = self.cfg.detection_classes;
        let best = probs.narrow(D::Minus1, 0, n_classes)?;
        let class = best.argmax(D::Minus1)?.to_vec1::<u32>()?;
        let score = best.max(D::Minus1)?.to_vec1::<f32>()?;
        let boxes = out.boxes.get(0)?.to_vec2::<f32>()?;
        let mut dets: Vec<Detection> = class
            .into_iter()
            .zip(score)
            .zip(boxes)
            .map(|((c, s), b)| Detection {
                class: c as usize,
                score: s,
                centre: [b[0], b[1], b[2]],
                size: [b[3], b[4], b[5]],
                world_box_m: None,
            })
            .collect();
        dets.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(dets)
    }
}

/// Each patch's 3D position in the first camera's frame, from the depth at its centre pixel
/// (the median of its valid pixels), and 1 / 0 validity.
pub fn patch_points(views: &ViewBatch, depth: &[f32], patch: usize) -> (Vec<f32>, Vec<f32>) {
    let n = views.size;
    let g = n / patch;
    let cam0 = views.camera_from_world(0);
    let mut pts = Vec::with_capacity(views.views * g * g * 3);
    let mut valid = Vec::with_capacity(views.views * g * g);
    for v in 0..views.views {
        let world_from_cam = views.camera_from_world(v).inverse();
        let (fx, fy, cx, cy) = views.k(v);
        for r in 0..g {
            for c in 0..g {
                let mut ds: Vec<f32> = (0..patch)
                    .flat_map(|y| (0..patch).map(move |x| (r * patch + y, c * patch + x)))
                    .map(|(y, x)| depth[v * n * n + y * n + x])
                    .filter(|d| *d > 0.0 && d.is_finite())
                    .collect();
                if ds.is_empty() {
                    pts.extend([0.0; 3]);
                    valid.push(0.0);
                    continue;
                }
                ds.sort_by(f32::total_cmp);
                let d = ds[ds.len() / 2];
                let (u, vv) = (
                    (c * patch) as f32 + (patch as f32 - 1.0) / 2.0,
                    (r * patch) as f32 + (patch as f32 - 1.0) / 2.0,
                );
                let p_cam = Vec3::new((u - cx) / fx * d, (vv - cy) / fy * d, d);
                let p = cam0.transform_point3(world_from_cam.transform_point3(p_cam));
                pts.extend(p.to_array());
                valid.push(1.0);
            }
        }
    }
    (pts, valid)
}

/// Category ids [B·Nmax] and geometry features [B·Nmax·geometry_dim(context)] of a batch of
/// scenes' object tokens (with `context`, each token's [`GEOMETRY_DIM`] values followed by its
/// context features), left-padded to the longest (padding: category 0, zero geometry), and Nmax.
pub fn object_inputs(scenes: &[&[ObjectToken]], context: bool) -> (Vec<u32>, Vec<f32>, usize) {
    let n_max = scenes.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
    let dim = geometry_dim(context);
    let mut cats = Vec::with_capacity(scenes.len() * n_max);
    let mut geom = Vec::with_capacity(scenes.len() * n_max * dim);
    for s in scenes {
        let pad = n_max - s.len();
        cats.extend(std::iter::repeat_n(0u32, pad));
        geom.extend(std::iter::repeat_n(0f32, pad * dim));
        cats.extend(s.iter().map(|o| o.category as u32));
        let g = geometry_features(s, scene_origin(s));
        if context {
            let c = context_features(s);
            for i in 0..s.len() {
                geom.extend_from_slice(&g[i * GEOMETRY_DIM..(i + 1) * GEOMETRY_DIM]);
                geom.extend_from_slice(&c[i * CONTEXT_DIM..(i + 1) * CONTEXT_DIM]);
            }
        } else {
            geom.extend(g);
        }
    }
    (cats, geom, n_max)
}

/// The additive key mask of left-padded object tokens [B, Nmax]: -1e9 on padding, 0 elsewhere.
pub fn object_key_mask(lengths: &[usize], n_max: usize) -> Vec<f32> {
    lengths
        .iter()
        .flat_map(|&l| {
            std::iter::repeat_n(-1e9f32, n_max - l.min(n_max))
                .chain(std::iter::repeat_n(0.0, l.min(n_max)))
        })
        .collect()
}
