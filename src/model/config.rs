//! Model configurations, deserialised from a model folder's `config.json`.

use serde::{Deserialize, Serialize};

use super::objects::MAX_OBJECT_SLOTS;

/// Most parameters a configuration may describe (1 GB in f32): larger sizes are refused before
/// anything is built.
pub const MAX_PARAMETERS: u128 = 250_000_000;

/// The VGGT-style multi-view encoder ("aggregator").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderConfig {
    /// Input image side, pixels (square views).
    pub image_size: usize,
    /// Patch side, pixels (VGGT: 14).
    pub patch_size: usize,
    /// Token width C.
    pub embed_dim: usize,
    /// Frame + global block pairs.
    pub depth: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// MLP width as a multiple of C.
    pub mlp_ratio: f64,
    /// Register tokens per frame (VGGT: 4).
    pub num_register_tokens: usize,
    /// Block indices whose outputs the heads read (VGGT: 4, 11, 17, 23).
    pub intermediate_layers: Vec<usize>,
    /// Rotary base frequency of the 2D RoPE.
    pub rope_theta: f32,
    /// LayerScale initial value.
    pub layer_scale_init: f64,
    /// Teacher only: embed each patch's back-projected 3D position (from depth and pose) with a
    /// small MLP added to its feature, as LLaVA-3D does.
    #[serde(default)]
    pub position_3d: bool,
}

/// The LLaMA-style decoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecoderConfig {
    /// Vocabulary size (the tokenizer's).
    pub vocab_size: usize,
    /// Width.
    pub hidden_size: usize,
    /// SwiGLU inner width.
    pub intermediate_size: usize,
    /// Layers.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// RMS norm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base frequency.
    pub rope_theta: f32,
    /// Longest answer generated, tokens.
    pub max_answer_tokens: usize,
}

/// The whole model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// `student` or `teacher` (informational).
    pub name: String,
    /// Views the model is trained with.
    pub num_views: usize,
    /// Encoder.
    pub encoder: EncoderConfig,
    /// Decoder.
    pub decoder: DecoderConfig,
    /// Hidden CoT latent tokens K after the question (0 disables).
    pub hidden_cot_tokens: usize,
    /// Patch tokens are average-pooled this many patches a side before the decoder sees them
    /// (1: no pooling).
    pub scene_pool: usize,
    /// Depth head width.
    pub depth_head_dim: usize,
    /// Detection object queries.
    pub detection_queries: usize,
    /// Detection decoder layers.
    pub detection_layers: usize,
    /// Detection classes, without "no object".
    pub detection_classes: usize,
    /// What the decoder reads about the scene: pooled patch tokens (default) or object tokens.
    #[serde(default)]
    pub scene_input: SceneInput,
    /// Object input only: add each object's encoder features (patch features pooled over its
    /// instance mask) to its token; without them the tokens carry category and 3D box alone.
    #[serde(default)]
    pub object_features: bool,
    /// Hidden CoT probe heads (`hidden_cot.probe_*`): the latents are trained to hold the
    /// category and 3D box of each object the question names and the distance between them.
    #[serde(default)]
    pub latent_probes: bool,
    /// Object slots (object input, K ≥ 3): the first two latents point at object tokens and the
    /// gap between the boxes they point at is added to the third latent for a second decoder
    /// pass (`hidden_cot.pointer_*`, `hidden_cot.relation`).
    #[serde(default)]
    pub latent_pointers: bool,
    /// Object input: each token's geometry also carries its context (how close the nearest
    /// object of each category is, which category it rests on: `objects::context_features`).
    #[serde(default)]
    pub object_context: bool,
    /// Object slots only: two-hop referents. Each slot also points at the object the question
    /// names its object by ("the bed" of "the chair closest to the bed",
    /// `hidden_cot.anchor_q`/`anchor_k`), and the relation of every object to that anchor
    /// (`hidden_cot.anchor_relation`, weighed by `hidden_cot.anchor_gate` of the slot's state)
    /// is added to the slot's pointer logits, so "closest to" and "on" pick among the objects
    /// of the named class by measured geometry.
    #[serde(default)]
    pub anchor_pointers: bool,
    /// Latents that each hold one named object (probes; with `latent_pointers`, the object
    /// slots): 2, the pair relations, or 3, which adds "standing at A facing B, where is C" — C's
    /// place in the frame of A facing B (`objects::triple_features`) — to the relation latent,
    /// which then comes third. Checkpoints without the field have 2.
    #[serde(default = "default_object_slots")]
    pub object_slots: usize,
    /// Classes of the per-pixel semantic output of the depth head (`depth_head.semantic`): 0
    /// for none, else every `scene::Category` plus 0 for background ([`semantic_classes`]).
    #[serde(default)]
    pub semantic_classes: usize,
    /// Channels of the semantic output's pixel branch (`depth_head.semantic_skip.{0,1,2}`):
    /// two 3×3 convolutions on the input image at the semantic grid's resolution whose
    /// features are added to the semantic branch's hidden map, so that the categories of
    /// objects a few pixels wide are placed by the pixels rather than by the 14-pixel patch
    /// tokens alone. 0 for none (models trained before 2026-11-29).
    #[serde(default)]
    pub semantic_skip: usize,
    /// Object input only: where the object tokens come from — the views' annotated instances
    /// and depth (the privileged teacher) or the model's own depth and semantic predictions
    /// grouped into objects in 3D (the student).
    #[serde(default)]
    pub object_source: ObjectSource,
    /// `object_source: predicted` only: edge of the voxels the predicted pixels are grouped
    /// into objects in, metres (`data::Grouping`): pixels of one category whose points fall in
    /// touching voxels are one object. Checkpoints without the field group at 0.1 m.
    #[serde(default = "default_group_voxel_m")]
    pub object_group_voxel_m: f32,
    /// `object_source: predicted` only: pixels a predicted group must cover in some view to be
    /// an object (`data::Grouping::min_px`); `None`, the default: the least a question's object
    /// shows (`questions::min_visible_px`, 40 at 112²).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_min_px: Option<u32>,
    /// A camera head (`model::camera_head`): each view's pose relative to the first from its
    /// camera token. Off in checkpoints from before the field.
    #[serde(default)]
    pub camera_head: bool,
    /// `object_source: predicted` only: when a question names a category the model found no
    /// object of, look again for one in its semantic maps at a lower probability
    /// (`SpatialVlm::look_again`). `None`, the default: answer from what was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub look_again: Option<LookAgain>,
}

/// The object student's looking again: cells at least 0.1 sure of the named category, groups
/// of at least 20 pixels in some view (the best of 0.05–0.3 and 20 or 40 pixels on data3's test
/// rooms, docs/RESULTS.md "Looking again").
pub const DEFAULT_LOOK_AGAIN: LookAgain = LookAgain {
    min_probability: 0.1,
    min_px: 20,
};

/// How a student looks again for an object a question names (`ModelConfig::look_again`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LookAgain {
    /// Cells whose probability of the named category is at least this count as one of it.
    pub min_probability: f32,
    /// Pixels a group of them must cover in some view to be an object.
    pub min_px: u32,
}

/// The most pixels `object_min_px` may ask of an object (a 512² view's quarter).
pub const MAX_OBJECT_MIN_PX: u32 = 65_536;

/// The grouping voxel edges a model may have, metres (`object_group_voxel_m`).
pub const GROUP_VOXEL_RANGE_M: std::ops::RangeInclusive<f32> = 0.02..=1.0;

fn default_group_voxel_m() -> f32 {
    crate::data::GROUP_VOXEL_M
}

/// Side of the map the depth head's convolutions run at (and of its semantic grid): half the
/// input `image_size` when a patch grid of side `grid` upsamples to it by an integer factor,
/// else the input size.
pub fn upsampled_side(image_size: usize, grid: usize) -> usize {
    if grid > 0 && image_size.is_multiple_of(2 * grid) {
        image_size / 2
    } else {
        image_size
    }
}

/// Classes of a semantic head over every scene category: background (0) and each
/// `scene::Category` (its index + 1).
pub fn semantic_classes() -> usize {
    crate::scene::Category::ALL.len() + 1
}

/// Where an object-input model's object tokens come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectSource {
    /// The views' instance masks, depth and categories (needs an annotated scene).
    #[default]
    Annotated,
    /// The model's own predicted depth and per-pixel categories, grouped in 3D through the
    /// given cameras (`data::predicted_object_tokens`): RGB and cameras are enough.
    Predicted,
}

fn default_object_slots() -> usize {
    2
}

/// What the decoder reads about the scene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SceneInput {
    /// Pooled patch tokens of every view, plus each view's camera token.
    #[default]
    Patches,
    /// One token per object the views show (needs instance masks and categories: the
    /// privileged teacher and the oracle), its category and the 3D box of its visible surface.
    Objects,
}

impl ModelConfig {
    /// The student preset: the paper's 2.29B model scaled to a 2-core CPU.
    pub fn student(vocab_size: usize) -> ModelConfig {
        ModelConfig {
            name: "student".into(),
            num_views: 4,
            encoder: EncoderConfig {
                image_size: 112,
                patch_size: 14,
                embed_dim: 96,
                depth: 4,
                num_heads: 4,
                mlp_ratio: 2.0,
                num_register_tokens: 4,
                intermediate_layers: vec![1, 3],
                rope_theta: 100.0,
                layer_scale_init: 0.1,
                position_3d: false,
            },
            decoder: DecoderConfig {
                vocab_size,
                hidden_size: 128,
                intermediate_size: 256,
                num_layers: 3,
                num_heads: 4,
                rms_norm_eps: 1e-5,
                rope_theta: 10000.0,
                max_answer_tokens: 32,
            },
            hidden_cot_tokens: 8,
            scene_pool: 2,
            depth_head_dim: 32,
            detection_queries: 24,
            detection_layers: 2,
            detection_classes: crate::data::NUM_DETECTION_CLASSES,
            scene_input: SceneInput::Patches,
            object_features: false,
            latent_probes: false,
            latent_pointers: false,
            object_context: false,
            anchor_pointers: false,
            object_slots: 2,
            semantic_classes: 0,
            semantic_skip: 0,
            object_source: ObjectSource::Annotated,
            object_group_voxel_m: default_group_voxel_m(),
            object_min_px: None,
            camera_head: false,
            look_again: None,
        }
    }

    /// The object-token teacher: the teacher's encoder (RGB-D + poses), one decoder token per
    /// annotated object the views show (category, 3D box of its visible surface, and with
    /// `object_features` its pooled encoder features), Hidden CoT latents with probe heads.
    /// A decoder narrower than the patch teacher's, so that stage 2 trains it at ≥ 100k
    /// questions an hour on two cores (docs/TRAINING.md).
    pub fn teacher_objects(vocab_size: usize) -> ModelConfig {
        let t = ModelConfig::teacher(vocab_size);
        ModelConfig {
            name: "teacher".into(),
            decoder: DecoderConfig {
                hidden_size: 192,
                intermediate_size: 512,
                num_layers: 4,
                num_heads: 6,
                ..t.decoder.clone()
            },
            scene_input: SceneInput::Objects,
            object_features: false,
            latent_probes: true,
            latent_pointers: true,
            ..t
        }
    }

    /// The object-token student: the student's encoder on RGB alone, its depth head also
    /// giving per-pixel categories (`semantic_classes`), and one decoder token per object it
    /// finds itself — its predicted depth and categories grouped in 3D through the views'
    /// cameras (`object_source: predicted`) — read by a decoder with the teacher's Hidden CoT
    /// object slots, anchors and context features, at about a third of the object teacher's
    /// parameters. No detection layers (the objects it finds are its boxes).
    pub fn student_objects(vocab_size: usize) -> ModelConfig {
        let s = ModelConfig::student(vocab_size);
        ModelConfig {
            // SwiGLU 224 rather than the patch student's 256: at most a third of the object
            // teacher's parameters (1.56 M against 4.74 M).
            decoder: DecoderConfig {
                intermediate_size: 224,
                ..s.decoder.clone()
            },
            detection_layers: 0,
            scene_input: SceneInput::Objects,
            latent_probes: true,
            latent_pointers: true,
            object_context: true,
            anchor_pointers: true,
            object_slots: 3,
            semantic_classes: semantic_classes(),
            semantic_skip: 16,
            object_source: ObjectSource::Predicted,
            look_again: Some(DEFAULT_LOOK_AGAIN),
            ..s
        }
    }

    /// The teacher preset: sees RGB-D and poses (3D patch positions), more tokens (no pooling),
    /// a wider and deeper encoder and decoder.
    pub fn teacher(vocab_size: usize) -> ModelConfig {
        let s = ModelConfig::student(vocab_size);
        ModelConfig {
            name: "teacher".into(),
            encoder: EncoderConfig {
                embed_dim: 128,
                depth: 6,
                num_heads: 4,
                intermediate_layers: vec![1, 3, 5],
                position_3d: true,
                ..s.encoder.clone()
            },
            decoder: DecoderConfig {
                hidden_size: 320,
                intermediate_size: 864,
                num_layers: 6,
                num_heads: 8,
                ..s.decoder.clone()
            },
            scene_pool: 1,
            depth_head_dim: 48,
            ..s
        }
    }

    /// A model small enough for tests and smoke runs: two views of `image_size`² in
    /// `patch_size` patches, 16-wide encoder, 32-wide decoder, K = 2.
    pub fn tiny(vocab_size: usize, image_size: usize, patch_size: usize) -> ModelConfig {
        let s = ModelConfig::student(vocab_size);
        ModelConfig {
            name: "tiny".into(),
            num_views: 2,
            encoder: EncoderConfig {
                image_size,
                patch_size,
                embed_dim: 16,
                depth: 2,
                num_heads: 2,
                intermediate_layers: vec![0, 1],
                ..s.encoder.clone()
            },
            decoder: DecoderConfig {
                hidden_size: 32,
                intermediate_size: 64,
                num_layers: 2,
                num_heads: 2,
                max_answer_tokens: 8,
                ..s.decoder.clone()
            },
            hidden_cot_tokens: 2,
            scene_pool: 1,
            depth_head_dim: 8,
            detection_queries: 8,
            detection_layers: 1,
            ..s
        }
    }

    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.encoder.image_size / self.encoder.patch_size
    }

    /// Side of the depth head's convolution maps and of its semantic grid
    /// ([`upsampled_side`] of the image and the patch grid).
    pub fn semantic_side(&self) -> usize {
        upsampled_side(self.encoder.image_size, self.grid())
    }

    /// A bound on the parameter count from the sizes alone (nothing is built): the
    /// encoder's blocks and patch embedding, the decoder's layers and embeddings, the heads.
    pub fn parameter_bound(&self) -> u128 {
        let e = &self.encoder;
        let d = &self.decoder;
        let c = e.embed_dim as u128;
        let mlp = (e.mlp_ratio.max(0.0).ceil() as u128 + 1) * c;
        let encoder = 2 * e.depth as u128 * (4 * c * c + 2 * c * mlp + 16 * c)
            + 3 * (e.patch_size as u128).pow(2) * c
            + 2 * (e.num_register_tokens as u128 + 1) * c
            + 64 * c;
        let h = d.hidden_size as u128;
        let decoder = d.num_layers as u128 * (4 * h * h + 3 * h * d.intermediate_size as u128)
            + 2 * d.vocab_size as u128 * h
            + (self.hidden_cot_tokens as u128 + 4) * h
            + 4 * c * h;
        let dh = self.depth_head_dim as u128;
        let heads = 4 * c * dh
            + 16 * dh * dh
            + self.detection_layers as u128 * 12 * c * c
            + (self.detection_queries as u128 + self.detection_classes as u128 + 8) * c
            + {
                let k = self.semantic_skip as u128;
                10 * k * k + 32 * k + k * dh
            };
        // Generous on purpose (biases, norms, convolution kernels): it only guards against
        // absurd sizes.
        2 * (encoder + decoder + heads) + 1_000_000
    }

    /// Checks the numbers fit together; the message names the field. Sizes are checked first
    /// (absurd ones are refused before anything divides by them or allocates), then how they
    /// fit together.
    pub fn validate(&self) -> Result<(), String> {
        let e = &self.encoder;
        let d = &self.decoder;
        let limits: [(&str, usize, usize, usize); 20] = [
            ("num_views", self.num_views, 1, 64),
            ("encoder.image_size", e.image_size, 8, 1024),
            ("encoder.patch_size", e.patch_size, 1, 64),
            ("encoder.embed_dim", e.embed_dim, 4, 8192),
            ("encoder.depth", e.depth, 1, 128),
            ("encoder.num_heads", e.num_heads, 1, 256),
            ("encoder.num_register_tokens", e.num_register_tokens, 0, 64),
            ("decoder.vocab_size", d.vocab_size, 8, 1 << 20),
            ("decoder.hidden_size", d.hidden_size, 2, 8192),
            ("decoder.intermediate_size", d.intermediate_size, 1, 65536),
            ("decoder.num_layers", d.num_layers, 1, 256),
            ("semantic_skip", self.semantic_skip, 0, 256),
            ("decoder.num_heads", d.num_heads, 1, 256),
            ("decoder.max_answer_tokens", d.max_answer_tokens, 1, 4096),
            ("hidden_cot_tokens", self.hidden_cot_tokens, 0, 256),
            ("scene_pool", self.scene_pool, 1, 64),
            ("depth_head_dim", self.depth_head_dim, 1, 4096),
            ("detection_queries", self.detection_queries, 1, 1024),
            ("detection_layers", self.detection_layers, 0, 64),
            ("detection_classes", self.detection_classes, 1, 1024),
        ];
        for (name, value, lo, hi) in limits {
            if !(lo..=hi).contains(&value) {
                return Err(format!("{name} is {value}; it must be {lo}..={hi}"));
            }
        }
        if !GROUP_VOXEL_RANGE_M.contains(&self.object_group_voxel_m) {
            return Err(format!(
                "object_group_voxel_m is {}; it must be in [{}, {}] metres",
                self.object_group_voxel_m,
                GROUP_VOXEL_RANGE_M.start(),
                GROUP_VOXEL_RANGE_M.end()
            ));
        }
        if let Some(px) = self.object_min_px
            && !(1..=MAX_OBJECT_MIN_PX).contains(&px)
        {
            return Err(format!(
                "object_min_px is {px}; it must be 1..={MAX_OBJECT_MIN_PX}"
            ));
        }
        if let Some(LookAgain {
            min_probability,
            min_px,
        }) = self.look_again
        {
            if !(min_probability > 0.0 && min_probability < 1.0) {
                return Err(format!(
                    "look_again.min_probability is {min_probability}; it must be in (0, 1)"
                ));
            }
            if !(1..=MAX_OBJECT_MIN_PX).contains(&min_px) {
                return Err(format!(
                    "look_again.min_px is {min_px}; it must be 1..={MAX_OBJECT_MIN_PX}"
                ));
            }
        }
        if !(e.mlp_ratio.is_finite() && e.mlp_ratio > 0.0 && e.mlp_ratio <= 16.0) {
            return Err(format!(
                "encoder.mlp_ratio is {}; it must be in (0, 16]",
                e.mlp_ratio
            ));
        }
        let bound = self.parameter_bound();
        if bound > MAX_PARAMETERS {
            return Err(format!(
                "these sizes make a model of up to {bound} parameters; at most {MAX_PARAMETERS} are loaded"
            ));
        }
        let checks: [(bool, &str); 15] = [
            (
                e.image_size.is_multiple_of(e.patch_size),
                "encoder.image_size must be a multiple of encoder.patch_size",
            ),
            (
                e.embed_dim.is_multiple_of(e.num_heads),
                "encoder.embed_dim must be a multiple of encoder.num_heads",
            ),
            (
                (e.embed_dim / e.num_heads).is_multiple_of(4),
                "encoder head width must be a multiple of 4 (2D RoPE)",
            ),
            (
                e.intermediate_layers.iter().all(|&l| l < e.depth)
                    && !e.intermediate_layers.is_empty(),
                "encoder.intermediate_layers must name blocks below encoder.depth",
            ),
            (
                d.hidden_size.is_multiple_of(d.num_heads),
                "decoder.hidden_size must be a multiple of decoder.num_heads",
            ),
            (
                (d.hidden_size / d.num_heads).is_multiple_of(2),
                "decoder head width must be even (RoPE)",
            ),
            (
                e.rope_theta.is_finite()
                    && e.rope_theta > 0.0
                    && d.rope_theta.is_finite()
                    && d.rope_theta > 0.0,
                "rope_theta must be positive",
            ),
            (
                self.grid().is_multiple_of(self.scene_pool),
                "scene_pool must divide the patch grid",
            ),
            (
                d.rms_norm_eps.is_finite() && d.rms_norm_eps > 0.0,
                "decoder.rms_norm_eps must be positive",
            ),
            (
                e.layer_scale_init.is_finite(),
                "encoder.layer_scale_init must be finite",
            ),
            (
                (2..=MAX_OBJECT_SLOTS).contains(&self.object_slots),
                "object_slots must be 2 or 3",
            ),
            (
                !self.anchor_pointers || self.latent_pointers,
                "anchor_pointers needs latent_pointers (the anchors refine the object slots)",
            ),
            (
                self.semantic_classes == 0 || self.semantic_classes == semantic_classes(),
                "semantic_classes must be 0 or one per scene category plus background",
            ),
            (
                self.semantic_skip == 0 || self.semantic_classes > 0,
                "semantic_skip needs semantic_classes (it feeds the semantic output)",
            ),
            (
                self.object_source == ObjectSource::Annotated
                    || (self.scene_input == SceneInput::Objects && self.semantic_classes > 0),
                "object_source predicted needs scene_input objects and semantic_classes",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err((*why).to_string()),
            None => Ok(()),
        }
    }
}
