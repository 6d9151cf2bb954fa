//! The VGGT-style multi-view encoder ("aggregator"): a conv patch embedding, per-frame camera and
//! register tokens (the first frame has its own pair), and alternating frame attention (tokens
//! of one view) and global attention (tokens of all views) blocks with 2D RoPE on patch
//! positions, qk-norm and LayerScale. VarBuilder paths are VGGT-1B's checkpoint keys under
//! `aggregator.` (conv patch embedding variant).

use candle_core::{D, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Init, Linear, Module, VarBuilder};

use super::config::EncoderConfig;
use super::nn::{LayerNorm, Mlp, apply_rope_2d, attention, linear, rope_tables};

const LN_EPS: f64 = 1e-6;

/// One transformer block in VGGT's layout (`norm1`, `attn.{qkv,q_norm,k_norm,proj}`, `ls1`,
/// `norm2`, `mlp.{fc1,fc2}`, `ls2`).
#[derive(Debug, Clone)]
pub struct Block {
    norm1: LayerNorm,
    qkv: Linear,
    q_norm: LayerNorm,
    k_norm: LayerNorm,
    proj: Linear,
    ls1: Tensor,
    norm2: LayerNorm,
    mlp: Mlp,
    ls2: Tensor,
    num_heads: usize,
}

/// Per-token rotary tables for rows and columns.
pub type Rope2d = ((Tensor, Tensor), (Tensor, Tensor));

impl Block {
    /// Loads block weights under `vb`.
    pub fn new(cfg: &EncoderConfig, vb: VarBuilder) -> Result<Self> {
        let c = cfg.embed_dim;
        let hd = c / cfg.num_heads;
        let hidden = (c as f64 * cfg.mlp_ratio) as usize;
        Ok(Self {
            norm1: LayerNorm::new(c, LN_EPS, vb.pp("norm1"))?,
            qkv: linear(c, 3 * c, vb.pp("attn.qkv"))?,
            q_norm: LayerNorm::new(hd, LN_EPS, vb.pp("attn.q_norm"))?,
            k_norm: LayerNorm::new(hd, LN_EPS, vb.pp("attn.k_norm"))?,
            proj: linear(c, c, vb.pp("attn.proj"))?,
            ls1: vb.get_with_hints(c, "ls1.gamma", Init::Const(cfg.layer_scale_init))?,
            norm2: LayerNorm::new(c, LN_EPS, vb.pp("norm2"))?,
            mlp: Mlp::new(c, hidden, c, vb.pp("mlp"))?,
            ls2: vb.get_with_hints(c, "ls2.gamma", Init::Const(cfg.layer_scale_init))?,
            num_heads: cfg.num_heads,
        })
    }

    /// `x` [N, T, C] with rotary tables for its T tokens → [N, T, C].
    pub fn forward(&self, x: &Tensor, rope: &Rope2d) -> Result<Tensor> {
        let (n, t, c) = x.dims3()?;
        let hd = c / self.num_heads;
        let h = self.norm1.forward(x)?;
        let qkv = self
            .qkv
            .forward(&h)?
            .reshape((n, t, 3, self.num_heads, hd))?
            .permute((2, 0, 3, 1, 4))?; // [3, N, H, T, hd]
        let q = self.q_norm.forward(&qkv.get(0)?)?;
        let k = self.k_norm.forward(&qkv.get(1)?)?;
        let v = qkv.get(2)?;
        let q = apply_rope_2d(&q, &rope.0, &rope.1)?;
        let k = apply_rope_2d(&k, &rope.0, &rope.1)?;
        let (a, _) = attention(&q, &k, &v, None)?;
        let a = a.transpose(1, 2)?.reshape((n, t, c))?;
        let x = (x + self.proj.forward(&a)?.broadcast_mul(&self.ls1)?)?;
        let m = self.mlp.forward(&self.norm2.forward(&x)?)?;
        x + m.broadcast_mul(&self.ls2)?
    }
}

/// The encoder's output.
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// For each of `intermediate_layers`: frame and global block outputs concatenated,
    /// [B, S, T, 2C] with T = 1 camera + R register + P patch tokens per view.
    pub layers: Vec<Tensor>,
    /// Index of the first patch token within T (1 + R).
    pub patch_start: usize,
    /// The normalised input images, [B*S, 3, H, W] (for heads that also read pixels).
    pub images: Tensor,
}

/// The aggregator.
#[derive(Debug, Clone)]
pub struct Encoder {
    patch_embed: Conv2d,
    camera_token: Tensor,
    register_token: Tensor,
    frame_blocks: Vec<Block>,
    global_blocks: Vec<Block>,
    pos3d: Option<Mlp>,
    cfg: EncoderConfig,
}

/// ImageNet mean and standard deviation, as VGGT normalises its input.
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

impl Encoder {
    /// Loads the aggregator from `vb` (the model's root; weights live under `aggregator.`).
    pub fn new(cfg: &EncoderConfig, vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("aggregator");
        let c = cfg.embed_dim;
        let conv = Conv2dConfig {
            stride: cfg.patch_size,
            ..Default::default()
        };
        let patch_embed = candle_nn::conv2d(3, c, cfg.patch_size, conv, vb.pp("patch_embed.proj"))?;
        let init = Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let camera_token = vb.get_with_hints((1, 2, 1, c), "camera_token", init)?;
        let register_token =
            vb.get_with_hints((1, 2, cfg.num_register_tokens, c), "register_token", init)?;
        let frame_blocks = (0..cfg.depth)
            .map(|i| Block::new(cfg, vb.pp(format!("frame_blocks.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let global_blocks = (0..cfg.depth)
            .map(|i| Block::new(cfg, vb.pp(format!("global_blocks.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let pos3d = if cfg.position_3d {
            Some(Mlp::new(3, c, c, vb.pp("pos3d"))?)
        } else {
            None
        };
        Ok(Self {
            patch_embed,
            camera_token,
            register_token,
            frame_blocks,
            global_blocks,
            pos3d,
            cfg: cfg.clone(),
        })
    }

    /// Tokens per view: camera + registers + patches.
    pub fn tokens_per_view(&self) -> usize {
        let g = self.cfg.image_size / self.cfg.patch_size;
        1 + self.cfg.num_register_tokens + g * g
    }

    fn rope(&self, device: &candle_core::Device) -> Result<Rope2d> {
        let g = self.cfg.image_size / self.cfg.patch_size;
        let special = 1 + self.cfg.num_register_tokens;
        // Special tokens at (0, 0); patch (r, c) at (r + 1, c + 1), as VGGT.
        let mut rows = vec![0f32; special];
        let mut cols = vec![0f32; special];
        for r in 0..g {
            for c in 0..g {
                rows.push((r + 1) as f32);
                cols.push((c + 1) as f32);
            }
        }
        let hd = self.cfg.embed_dim / self.cfg.num_heads / 2;
        Ok((
            rope_tables(&rows, hd, self.cfg.rope_theta, device)?,
            rope_tables(&cols, hd, self.cfg.rope_theta, device)?,
        ))
    }

    /// `images` [B, S, 3, H, W] with values in 0..1; `points` (teacher) [B, S, P, 3] patch
    /// positions in metres with `valid` [B, S, P, 1] (1 where the patch had depth).
    pub fn forward(
        &self,
        images: &Tensor,
        points: Option<(&Tensor, &Tensor)>,
    ) -> Result<EncoderOutput> {
        let (b, s, _, h, w) = images.dims5()?;
        let dev = images.device();
        let mean = Tensor::new(&MEAN, dev)?.reshape((1, 3, 1, 1))?;
        let std = Tensor::new(&STD, dev)?.reshape((1, 3, 1, 1))?;
        let x = images
            .reshape((b * s, 3, h, w))?
            .broadcast_sub(&mean)?
            .broadcast_div(&std)?;
        let patches = self.patch_embed.forward(&x)?; // [B*S, C, g, g]
        let images = x;
        let (_, c, gh, gw) = patches.dims4()?;
        let mut patches = patches.flatten_from(2)?.transpose(1, 2)?; // [B*S, P, C]
        if let (Some(mlp), Some((pts, valid))) = (&self.pos3d, points) {
            let e = mlp
                .forward(&pts.reshape((b * s, gh * gw, 3))?)?
                .broadcast_mul(&valid.reshape((b * s, gh * gw, 1))?)?;
            patches = (patches + e)?;
        }
        // Camera and register tokens: index 0 for the first frame, 1 for the others.
        let special = |t: &Tensor, n: usize| -> Result<Tensor> {
            let first = t.narrow(1, 0, 1)?.broadcast_as((b, 1, n, c))?;
            let rest = t.narrow(1, 1, 1)?.broadcast_as((b, s - 1, n, c))?;
            let all = if s > 1 {
                Tensor::cat(&[&first, &rest], 1)?
            } else {
                first
            };
            all.reshape((b * s, n, c))
        };
        let cam = special(&self.camera_token, 1)?;
        let reg = special(&self.register_token, self.cfg.num_register_tokens)?;
        let mut x = Tensor::cat(&[&cam, &reg, &patches], 1)?; // [B*S, T, C]
        let t = x.dim(1)?;
        let rope = self.rope(dev)?;
        let global_rope = {
            let rep = |tab: &Tensor| Tensor::cat(&vec![tab; s], 0);
            (
                (rep(&rope.0.0)?, rep(&rope.0.1)?),
                (rep(&rope.1.0)?, rep(&rope.1.1)?),
            )
        };
        let mut layers = Vec::new();
        for i in 0..self.cfg.depth {
            x = self.frame_blocks[i].forward(&x, &rope)?;
            let frame_out = x.reshape((b, s, t, c))?;
            let g = self.global_blocks[i].forward(&x.reshape((b, s * t, c))?, &global_rope)?;
            let global_out = g.reshape((b, s, t, c))?;
            x = g.reshape((b * s, t, c))?;
            if self.cfg.intermediate_layers.contains(&i) {
                layers.push(Tensor::cat(&[&frame_out, &global_out], D::Minus1)?);
            }
        }
        Ok(EncoderOutput {
            layers,
            patch_start: 1 + self.cfg.num_register_tokens,
            images,
        })
    }
}
