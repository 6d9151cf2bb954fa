//! Task heads over the encoder: DPT-style depth with confidence, DETR-style 3D detection.

use candle_core::{D, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Init, Linear, Module, VarBuilder};

use super::config::{ModelConfig, upsampled_side};
use super::encoder::EncoderOutput;
use super::nn::{LayerNorm, Mlp, attention, linear};

fn conv3(c_in: usize, c_out: usize, vb: VarBuilder) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    candle_nn::conv2d(c_in, c_out, 3, cfg, vb)
}

fn conv1(c_in: usize, c_out: usize, vb: VarBuilder) -> Result<Conv2d> {
    candle_nn::conv2d(c_in, c_out, 1, Conv2dConfig::default(), vb)
}

/// A 1×1 convolution that starts at zero (weights and bias), so that a branch added through it
/// leaves a trained model's output unchanged until training moves it.
fn conv1_zero(c_in: usize, c_out: usize, vb: VarBuilder) -> Result<Conv2d> {
    let weight = vb.get_with_hints((c_out, c_in, 1, 1), "weight", Init::Const(0.0))?;
    let bias = vb.get_with_hints(c_out, "bias", Init::Const(0.0))?;
    Ok(Conv2d::new(weight, Some(bias), Conv2dConfig::default()))
}

/// The semantic output's pixel branch: two 3×3 convolutions on the normalised image (the
/// first with stride `stride`, down to the semantic grid) and a zero-started 1×1 projection
/// to the head's width.
#[derive(Debug, Clone)]
struct PixelBranch {
    convs: [Conv2d; 2],
    project: Conv2d,
}

impl PixelBranch {
    fn new(channels: usize, dim: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let strided = Conv2dConfig {
            padding: 1,
            stride,
            ..Default::default()
        };
        Ok(Self {
            convs: [
                candle_nn::conv2d(3, channels, 3, strided, vb.pp("0"))?,
                conv3(channels, channels, vb.pp("1"))?,
            ],
            project: conv1_zero(channels, dim, vb.pp("2"))?,
        })
    }

    /// `images` [N, 3, H, W] → [N, dim, H / stride, W / stride].
    fn forward(&self, images: &Tensor) -> Result<Tensor> {
        let x = self.convs[0].forward(images)?.relu()?;
        let x = self.convs[1].forward(&x)?.relu()?;
        self.project.forward(&x)
    }
}

/// DPT's residual convolution unit: x + conv(relu(conv(relu(x)))).
#[derive(Debug, Clone)]
struct ResidualConvUnit {
    conv1: Conv2d,
    conv2: Conv2d,
}

impl ResidualConvUnit {
    fn new(c: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv1: conv3(c, c, vb.pp("conv1"))?,
            conv2: conv3(c, c, vb.pp("conv2"))?,
        })
    }
}

impl Module for ResidualConvUnit {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&x.relu()?)?;
        let h = self.conv2.forward(&h.relu()?)?;
        x + h
    }
}

/// Per-view depth and confidence.
#[derive(Debug, Clone)]
pub struct DepthOutput {
    /// Depth, metres, [B, S, H, W] (exp activation).
    pub depth: Tensor,
    /// Confidence, [B, S, H, W] (1 + exp).
    pub confidence: Tensor,
    /// Per-pixel category logits at the head's last convolution's resolution, [B, S, K, h, w]
    /// (h = H / 2 when the patch grid divides it), K = `semantic_classes` (background first);
    /// `None` for a head without them.
    pub semantic: Option<Tensor>,
}

/// DPT-style depth head: each intermediate layer's patch tokens projected to a feature map,
/// fused deepest-first through residual conv units, then upsampled to the input resolution.
#[derive(Debug, Clone)]
pub struct DepthHead {
    projects: Vec<Linear>,
    fuse: Vec<ResidualConvUnit>,
    up: Vec<Conv2d>,
    out: Vec<Conv2d>,
    semantic: Option<[Conv2d; 2]>,
    semantic_skip: Option<PixelBranch>,
    dim: usize,
    image_size: usize,
}

impl DepthHead {
    /// The head of `cfg`: one projection per intermediate encoder layer (tokens of width 2C),
    /// head width `depth_head_dim`; with `semantic_classes` > 0 a branch beside the depth output
    /// (3×3 convolution, ReLU, 1×1 convolution on the upsampled features:
    /// `depth_head.semantic.{0,1}`) gives per-pixel category logits; with `semantic_skip` > 0
    /// channels, a pixel branch on the image (`depth_head.semantic_skip.{0,1,2}`) adds to that
    /// branch's hidden map before its ReLU.
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("depth_head");
        let layers = cfg.encoder.intermediate_layers.len();
        let token_dim = 2 * cfg.encoder.embed_dim;
        let dim = cfg.depth_head_dim;
        let image_size = cfg.encoder.image_size;
        let (semantic_classes, semantic_skip) = (cfg.semantic_classes, cfg.semantic_skip);
        let stride = image_size / cfg.semantic_side();
        Ok(Self {
            semantic_skip: (semantic_classes > 0 && semantic_skip > 0)
                .then(|| PixelBranch::new(semantic_skip, dim, stride, vb.pp("semantic_skip")))
                .transpose()?,
            projects: (0..layers)
                .map(|i| linear(token_dim, dim, vb.pp(format!("projects.{i}"))))
                .collect::<Result<_>>()?,
            fuse: (0..layers)
                .map(|i| ResidualConvUnit::new(dim, vb.pp(format!("fuse.{i}"))))
                .collect::<Result<_>>()?,
            up: (0..2)
                .map(|i| conv3(dim, dim, vb.pp(format!("up.{i}"))))
                .collect::<Result<_>>()?,
            out: vec![
                conv3(dim, dim / 2, vb.pp("out.0"))?,
                conv1(dim / 2, 2, vb.pp("out.1"))?,
            ],
            semantic: (semantic_classes > 0)
                .then(|| -> Result<[Conv2d; 2]> {
                    Ok([
                        conv3(dim, dim, vb.pp("semantic.0"))?,
                        conv1(dim, semantic_classes, vb.pp("semantic.1"))?,
                    ])
                })
                .transpose()?,
            dim,
            image_size,
        })
    }

    /// Depth and confidence for every view.
    pub fn forward(&self, enc: &EncoderOutput) -> Result<DepthOutput> {
        let mut fused: Option<Tensor> = None;
        let (b, s, t, _) = enc.layers[0].dims4()?;
        let p = t - enc.patch_start;
        let g = (p as f64).sqrt().round() as usize;
        for (i, layer) in enc.layers.iter().enumerate().rev() {
            let tokens = layer
                .narrow(2, enc.patch_start, p)?
                .reshape((b * s, p, ()))?;
            let map = self.projects[i]
                .forward(&tokens)?
                .transpose(1, 2)?
                .reshape((b * s, self.dim, g, g))?;
            let map = self.fuse[i].forward(&map)?;
            fused = Some(match fused {
                Some(f) => (f + map)?,
                None => map,
            });
        }
        let mut x =
            fused.ok_or_else(|| candle_core::Error::Msg("depth head: no encoder layers".into()))?;
        // Upsampling by integer factors (candle's nearest upsampling has a backward pass only
        // for those): convolutions up to half the input size, then ×2 to the input size.
        let full = self.image_size;
        let half = upsampled_side(full, g);
        x = x.upsample_nearest2d(half, half)?;
        for conv in &self.up {
            x = conv.forward(&x)?.relu()?;
        }
        let semantic = match &self.semantic {
            Some([conv, out]) => {
                let mut hidden = conv.forward(&x)?; // [B*S, dim, h, w]
                if let Some(branch) = &self.semantic_skip {
                    let pixels = branch.forward(&enc.images)?;
                    if pixels.dims() != hidden.dims() {
                        candle_core::bail!(
                            "semantic pixel branch {:?} does not fit the semantic map {:?}",
                            pixels.dims(),
                            hidden.dims()
                        );
                    }
                    hidden = (hidden + pixels)?;
                }
                let logits = out.forward(&hidden.relu()?)?; // [B*S, K, h, w]
                let (_, k, h, w) = logits.dims4()?;
                Some(logits.reshape((b, s, k, h, w))?)
            }
            None => None,
        };
        let features = self.out[0].forward(&x)?.relu()?;
        let mut x = self.out[1].forward(&features)?; // [B*S, 2, 2g, 2g]
        if half != full {
            x = x.upsample_nearest2d(full, full)?;
        }
        let hw = (b, s, self.image_size, self.image_size);
        let depth = x.narrow(1, 0, 1)?.clamp(-8.0, 8.0)?.exp()?.reshape(hw)?;
        let confidence = (x.narrow(1, 1, 1)?.clamp(-8.0, 8.0)?.exp()? + 1.0)?.reshape(hw)?;
        Ok(DepthOutput {
            depth,
            confidence,
            semantic,
        })
    }
}

/// Multi-head attention with separate `q_proj`, `k_proj`, `v_proj`, `o_proj`.
#[derive(Debug, Clone)]
pub struct MultiHeadAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
}

impl MultiHeadAttention {
    /// Width `dim`, `heads` heads.
    pub fn new(dim: usize, heads: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            q: linear(dim, dim, vb.pp("q_proj"))?,
            k: linear(dim, dim, vb.pp("k_proj"))?,
            v: linear(dim, dim, vb.pp("v_proj"))?,
            o: linear(dim, dim, vb.pp("o_proj"))?,
            heads,
        })
    }

    /// Queries from `x` [B, Tq, D] attend to `mem` [B, Tk, D].
    pub fn forward(&self, x: &Tensor, mem: &Tensor) -> Result<Tensor> {
        let (b, tq, d) = x.dims3()?;
        let tk = mem.dim(1)?;
        let hd = d / self.heads;
        let split = |t: Tensor, n: usize| t.reshape((b, n, self.heads, hd))?.transpose(1, 2);
        let q = split(self.q.forward(x)?, tq)?;
        let k = split(self.k.forward(mem)?, tk)?;
        let v = split(self.v.forward(mem)?, tk)?;
        let (a, _) = attention(&q, &k, &v, None)?;
        self.o.forward(&a.transpose(1, 2)?.reshape((b, tq, d))?)
    }
}

#[derive(Debug, Clone)]
struct DetectionLayer {
    norm1: LayerNorm,
    self_attn: MultiHeadAttention,
    norm2: LayerNorm,
    cross_attn: MultiHeadAttention,
    norm3: LayerNorm,
    mlp: Mlp,
}

/// Detections for every query.
#[derive(Debug, Clone)]
pub struct DetectionOutput {
    /// Class logits [B, Q, classes + 1]; the last class is "no object".
    pub logits: Tensor,
    /// Boxes [B, Q, 6]: centre xyz and size xyz (positive), metres, in the first camera's frame.
    pub boxes: Tensor,
}

/// DETR-style 3D detection head: learned object queries cross-attend to all encoder tokens.
#[derive(Debug, Clone)]
pub struct DetectionHead {
    input_proj: Linear,
    query_embed: Tensor,
    layers: Vec<DetectionLayer>,
    norm: LayerNorm,
    class_embed: Linear,
    bbox_embed: Mlp,
}

impl DetectionHead {
    /// `queries` queries of width `dim` over tokens of width `token_dim`.
    pub fn new(
        token_dim: usize,
        dim: usize,
        queries: usize,
        num_layers: usize,
        classes: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let vb = vb.pp("detection_head");
        let heads = 4;
        let layers = (0..num_layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                Ok(DetectionLayer {
                    norm1: LayerNorm::new(dim, 1e-5, vb.pp("norm1"))?,
                    self_attn: MultiHeadAttention::new(dim, heads, vb.pp("self_attn"))?,
                    norm2: LayerNorm::new(dim, 1e-5, vb.pp("norm2"))?,
                    cross_attn: MultiHeadAttention::new(dim, heads, vb.pp("cross_attn"))?,
                    norm3: LayerNorm::new(dim, 1e-5, vb.pp("norm3"))?,
                    mlp: Mlp::new(dim, 2 * dim, dim, vb.pp("mlp"))?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            input_proj: linear(token_dim, dim, vb.pp("input_proj"))?,
            query_embed: vb.get_with_hints(
                (queries, dim),
                "query_embed",
                Init::Randn {
                    mean: 0.0,
                    stdev: 1.0,
                },
            )?,
            layers,
            norm: LayerNorm::new(dim, 1e-5, vb.pp("norm"))?,
            class_embed: linear(dim, classes + 1, vb.pp("class_embed"))?,
            bbox_embed: Mlp::new(dim, dim, 6, vb.pp("bbox_embed"))?,
        })
    }

    /// Detections from the last encoder layer.
    pub fn forward(&self, enc: &EncoderOutput) -> Result<DetectionOutput> {
        let last = enc
            .layers
            .last()
            .ok_or_else(|| candle_core::Error::Msg("detection head: no encoder layers".into()))?;
        let (b, s, t, c) = last.dims4()?;
        let mem = self.input_proj.forward(&last.reshape((b, s * t, c))?)?;
        let (q, d) = self.query_embed.dims2()?;
        let mut x = self
            .query_embed
            .unsqueeze(0)?
            .broadcast_as((b, q, d))?
            .contiguous()?;
        for l in &self.layers {
            let h = l.norm1.forward(&x)?;
            x = (&x + l.self_attn.forward(&h, &h)?)?;
            let h = l.norm2.forward(&x)?;
            x = (&x + l.cross_attn.forward(&h, &mem)?)?;
            x = (&x + l.mlp.forward(&l.norm3.forward(&x)?)?)?;
        }
        // DETR's decoder norm: the class and box heads read normalised queries.
        let x = self.norm.forward(&x)?;
        let logits = self.class_embed.forward(&x)?;
        let raw = self.bbox_embed.forward(&x)?;
        let centre = raw.narrow(D::Minus1, 0, 3)?;
        let size = raw.narrow(D::Minus1, 3, 3)?.clamp(-6.0, 3.0)?.exp()?;
        Ok(DetectionOutput {
            logits,
            boxes: Tensor::cat(&[&centre, &size], D::Minus1)?,
        })
    }
}
