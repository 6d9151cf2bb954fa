//! Differentiable building blocks. candle-nn's fused layer norm, RMS norm, softmax and rotary
//! kernels have no backward pass, so the models use these tensor-op versions, which train.

use candle_core::{D, DType, Device, Result, Tensor};
use candle_nn::{Init, Linear, Module, VarBuilder};

/// Layer normalisation over the last dimension, keys `weight` and `bias`.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Loads or initialises (ones, zeros) a layer norm of width `dim`.
    pub fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(dim, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(dim, "bias", Init::Const(0.0))?,
            eps,
        })
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let x = x.broadcast_sub(&mean)?;
        let var = x.sqr()?.mean_keepdim(D::Minus1)?;
        let x = x.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        x.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)
    }
}

/// RMS normalisation over the last dimension (LLaMA), key `weight`.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    /// Loads or initialises (ones) an RMS norm of width `dim`.
    pub fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(dim, "weight", Init::Const(1.0))?,
            eps,
        })
    }
}

impl Module for RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        x.broadcast_div(&(ms + self.eps)?.sqrt()?)?
            .broadcast_mul(&self.weight)
    }
}

/// Softmax over the last dimension (differentiable).
pub fn softmax(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax(x, D::Minus1)
}

/// A linear layer with bias; `init_std` for the weight when it is created.
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    candle_nn::linear(in_dim, out_dim, vb)
}

/// A linear layer with bias whose weight and bias start at zero when created (a new branch
/// that leaves the model's output unchanged until it learns).
pub fn linear_zero(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", Init::Const(0.0))?;
    let bias = vb.get_with_hints(out_dim, "bias", Init::Const(0.0))?;
    Ok(Linear::new(weight, Some(bias)))
}

/// A linear layer without bias.
pub fn linear_no_bias(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    candle_nn::linear_no_bias(in_dim, out_dim, vb)
}

/// Rotary tables for the given positions: `cos`, `sin` of shape [T, dim] (each frequency
/// repeated for both halves, the rotate-half layout).
pub fn rope_tables(
    positions: &[f32],
    dim: usize,
    theta: f32,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let half = dim / 2;
    let inv: Vec<f32> = (0..half)
        .map(|i| 1.0 / theta.powf(2.0 * i as f32 / dim as f32))
        .collect();
    let mut angles = Vec::with_capacity(positions.len() * dim);
    for &p in positions {
        for _ in 0..2 {
            angles.extend(inv.iter().map(|f| p * f));
        }
    }
    let t = Tensor::from_vec(angles, (positions.len(), dim), device)?;
    Ok((t.cos()?, t.sin()?))
}

/// Applies rotary embeddings (rotate-half form) to `x` [B, H, T, d] with tables [T, d].
pub fn apply_rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    let x1 = x.narrow(D::Minus1, 0, d / 2)?;
    let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?
}

/// 2D rotary embeddings (VGGT): the first half of each head's channels rotate with the row
/// position, the second half with the column. `rows`, `cols`: one position per token.
pub fn apply_rope_2d(
    x: &Tensor,
    rows: &(Tensor, Tensor),
    cols: &(Tensor, Tensor),
) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    let a = apply_rope(
        &x.narrow(D::Minus1, 0, d / 2)?.contiguous()?,
        &rows.0,
        &rows.1,
    )?;
    let b = apply_rope(
        &x.narrow(D::Minus1, d / 2, d / 2)?.contiguous()?,
        &cols.0,
        &cols.1,
    )?;
    Tensor::cat(&[&a, &b], D::Minus1)
}

/// Scaled dot-product attention: q [B, H, Tq, d], k and v [B, H, Tk, d], an optional additive
/// mask broadcastable to [B, H, Tq, Tk]. Returns the output and the attention probabilities.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
) -> Result<(Tensor, Tensor)> {
    let d = q.dim(D::Minus1)?;
    let scores = (q.contiguous()?.matmul(&k.t()?.contiguous()?)? / (d as f64).sqrt())?;
    let scores = match mask {
        Some(m) => scores.broadcast_add(m)?,
        None => scores,
    };
    let probs = softmax(&scores)?;
    let out = probs.matmul(&v.contiguous()?)?;
    Ok((out, probs))
}

/// An additive causal mask [T, T] for queries at positions `offset..offset+t` over `offset + t`
/// keys: 0 where allowed, -1e9 where a query would see the future.
pub fn causal_mask(t: usize, offset: usize, device: &Device) -> Result<Tensor> {
    let total = offset + t;
    let mut m = vec![0f32; t * total];
    for i in 0..t {
        for j in 0..total {
            if j > offset + i {
                m[i * total + j] = -1e9;
            }
        }
    }
    Tensor::from_vec(m, (t, total), device)
}

/// Number of parameters in a set of variables.
pub fn count_params(vars: &[candle_core::Var]) -> usize {
    vars.iter().map(|v| v.elem_count()).sum()
}

/// GELU (tanh approximation), differentiable.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.gelu()
}

/// A two-layer perceptron `fc1` → GELU → `fc2`.
#[derive(Debug, Clone)]
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    /// `in_dim` → `hidden` → `out_dim`.
    pub fn new(in_dim: usize, hidden: usize, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            fc1: linear(in_dim, hidden, vb.pp("fc1"))?,
            fc2: linear(hidden, out_dim, vb.pp("fc2"))?,
        })
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&gelu(&self.fc1.forward(x)?)?)
    }
}

/// f32 on the device, the dtype every model computes in.
pub const DTYPE: DType = DType::F32;

/// A variable map whose random initialisation depends only on a seed and each variable's name
/// (candle's CPU random initialisation cannot be seeded).
struct SeededVarMap {
    map: candle_nn::VarMap,
    seed: u64,
}

impl SeededVarMap {
    fn init(
        &self,
        shape: &candle_core::Shape,
        name: &str,
        init: Init,
        device: &Device,
    ) -> Result<Tensor> {
        use candle_nn::init::{Init as I, NormalOrUniform};
        use rand::{RngExt, SeedableRng};
        let n = shape.elem_count();
        let mut rng =
            rand_chacha::ChaCha8Rng::seed_from_u64(self.seed ^ crate::data::stable_hash(name));
        let mut normal = |mean: f64, std: f64| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    let (u1, u2): (f64, f64) =
                        (rng.random::<f64>().max(1e-300), rng.random::<f64>());
                    (mean + std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos())
                        as f32
                })
                .collect()
        };
        let vals: Vec<f32> = match init {
            I::Const(v) => vec![v as f32; n],
            I::Randn { mean, stdev } => normal(mean, stdev),
            I::Uniform { lo, up } => {
                let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(
                    self.seed ^ crate::data::stable_hash(name),
                );
                (0..n)
                    .map(|_| (lo + (up - lo) * r.random::<f64>()) as f32)
                    .collect()
            }
            I::Kaiming {
                dist,
                fan,
                non_linearity,
            } => {
                let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
                match dist {
                    NormalOrUniform::Normal => normal(0.0, std),
                    NormalOrUniform::Uniform => {
                        let b = 3f64.sqrt() * std;
                        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(
                            self.seed ^ crate::data::stable_hash(name),
                        );
                        (0..n)
                            .map(|_| (-b + 2.0 * b * r.random::<f64>()) as f32)
                            .collect()
                    }
                }
            }
        };
        Tensor::from_vec(vals, shape.clone(), device)
    }
}

impl candle_nn::var_builder::SimpleBackend for SeededVarMap {
    fn get(
        &self,
        s: candle_core::Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> Result<Tensor> {
        let mut data = self
            .map
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("variable map poisoned".into()))?;
        if let Some(v) = data.get(name) {
            if v.shape() != &s {
                candle_core::bail!("shape mismatch on {name}: {s:?} <> {:?}", v.shape());
            }
            return Ok(v.as_tensor().clone());
        }
        let t = self.init(&s, name, h, dev)?.to_dtype(dtype)?;
        let var = candle_core::Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        data.insert(name.to_string(), var);
        Ok(out)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        candle_core::bail!("{name}: a seeded variable map needs a shape")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.map
            .data()
            .lock()
            .map(|d| d.contains_key(name))
            .unwrap_or(false)
    }
}

/// A VarBuilder that creates trainable variables in `map`, initialised from `seed`
/// deterministically (same seed, same names → same values on every machine).
pub fn seeded_var_builder(
    map: &candle_nn::VarMap,
    seed: u64,
    device: &Device,
) -> VarBuilder<'static> {
    VarBuilder::from_backend(
        Box::new(SeededVarMap {
            map: map.clone(),
            seed,
        }),
        DTYPE,
        device.clone(),
    )
}
