//! The LLaMA-style decoder: token embeddings, pre-norm blocks of causal self-attention with RoPE
//! and a SwiGLU MLP, RMSNorm, and an untied LM head. Keys follow HF LLaMA under `decoder.`.

use candle_core::{D, Result, Tensor};
use candle_nn::{Embedding, Linear, Module, VarBuilder};

use super::config::DecoderConfig;
use super::nn::{RmsNorm, apply_rope, attention, causal_mask, linear_no_bias, rope_tables};

#[derive(Debug, Clone)]
struct DecoderLayer {
    input_layernorm: RmsNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    post_attention_layernorm: RmsNorm,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

/// Keys and values of earlier positions, per layer: [B, H, T, hd].
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .and_then(|(k, _)| k.dim(2).ok())
            .unwrap_or(0)
    }

    /// Nothing cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the first `len` positions (a prefix whose inputs did not change).
    pub fn truncate(&mut self, len: usize) -> Result<()> {
        for (k, v) in self.layers.iter_mut().flatten() {
            let keep = len.min(k.dim(2)?);
            *k = k.narrow(2, 0, keep)?;
            *v = v.narrow(2, 0, keep)?;
        }
        Ok(())
    }
}

/// The decoder.
#[derive(Debug, Clone)]
pub struct Decoder {
    embed_tokens: Embedding,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Linear,
    cfg: DecoderConfig,
}

impl Decoder {
    /// Loads the decoder under `decoder.`.
    pub fn new(cfg: &DecoderConfig, vb: VarBuilder) -> Result<Self> {
        let vb = vb.pp("decoder");
        let d = cfg.hidden_size;
        let layers = (0..cfg.num_layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                Ok(DecoderLayer {
                    input_layernorm: RmsNorm::new(d, cfg.rms_norm_eps, vb.pp("input_layernorm"))?,
                    q_proj: linear_no_bias(d, d, vb.pp("self_attn.q_proj"))?,
                    k_proj: linear_no_bias(d, d, vb.pp("self_attn.k_proj"))?,
                    v_proj: linear_no_bias(d, d, vb.pp("self_attn.v_proj"))?,
                    o_proj: linear_no_bias(d, d, vb.pp("self_attn.o_proj"))?,
                    post_attention_layernorm: RmsNorm::new(
                        d,
                        cfg.rms_norm_eps,
                        vb.pp("post_attention_layernorm"),
                    )?,
                    gate_proj: linear_no_bias(d, cfg.intermediate_size, vb.pp("mlp.gate_proj"))?,
                    up_proj: linear_no_bias(d, cfg.intermediate_size, vb.pp("mlp.up_proj"))?,
                    down_proj: linear_no_bias(cfg.intermediate_size, d, vb.pp("mlp.down_proj"))?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            embed_tokens: candle_nn::embedding(cfg.vocab_size, d, vb.pp("embed_tokens"))?,
            layers,
            norm: RmsNorm::new(d, cfg.rms_norm_eps, vb.pp("norm"))?,
            lm_head: linear_no_bias(d, cfg.vocab_size, vb.pp("lm_head"))?,
            cfg: cfg.clone(),
        })
    }

    /// Token embeddings of `ids` [B, T] → [B, T, D].
    pub fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        self.embed_tokens.forward(ids)
    }

    /// Runs the decoder over embeddings `x` [B, T, D] at positions `cache.len()..`, appending to
    /// `cache` when given. `key_mask` [B, Tk] is additive (0 keep, -1e9 padding). Returns logits
    /// [B, T, V] and, when `want_attention`, each layer's attention probabilities [B, H, T, Tk].
    pub fn forward(
        &self,
        x: &Tensor,
        cache: Option<&mut KvCache>,
        key_mask: Option<&Tensor>,
        want_attention: bool,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (hidden, attn) = self.forward_hidden(x, cache, key_mask, want_attention)?;
        Ok((self.lm_logits(&hidden)?, attn))
    }

    /// Logits [B, T, V] from final hidden states [B, T, D].
    pub fn lm_logits(&self, hidden: &Tensor) -> Result<Tensor> {
        self.lm_head.forward(hidden)
    }

    /// As [`Self::forward`], but returns the final hidden states after the last norm [B, T, D]
    /// (what the LM head and the Hidden CoT probes read) instead of logits.
    pub fn forward_hidden(
        &self,
        x: &Tensor,
        mut cache: Option<&mut KvCache>,
        key_mask: Option<&Tensor>,
        want_attention: bool,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (b, t, d) = x.dims3()?;
        let heads = self.cfg.num_heads;
        let hd = d / heads;
        let offset = cache.as_ref().map_or(0, |c| c.len());
        let positions: Vec<f32> = (offset..offset + t).map(|p| p as f32).collect();
        let (cos, sin) = rope_tables(&positions, hd, self.cfg.rope_theta, x.device())?;
        let mut mask = causal_mask(t, offset, x.device())?.reshape((1, 1, t, offset + t))?;
        if let Some(km) = key_mask {
            mask = mask.broadcast_add(&km.reshape((b, 1, 1, offset + t))?)?;
        }
        if let Some(c) = cache.as_deref_mut()
            && c.layers.len() != self.layers.len()
        {
            c.layers = vec![None; self.layers.len()];
        }
        let mut h = x.clone();
        let mut attn = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let n = l.input_layernorm.forward(&h)?;
            let split = |t2: Tensor| t2.reshape((b, t, heads, hd))?.transpose(1, 2)?.contiguous();
            let q = apply_rope(&split(l.q_proj.forward(&n)?)?, &cos, &sin)?;
            let mut k = apply_rope(&split(l.k_proj.forward(&n)?)?, &cos, &sin)?;
            let mut v = split(l.v_proj.forward(&n)?)?;
            if let Some(c) = cache.as_deref_mut() {
                if let Some((pk, pv)) = &c.layers[i] {
                    // A prefix cached for one sequence serves a whole batch.
                    let widen = |p: &Tensor| -> Result<Tensor> {
                        if p.dim(0)? == 1 && b > 1 {
                            let (_, h2, tp, d2) = p.dims4()?;
                            p.broadcast_as((b, h2, tp, d2))?.contiguous()
                        } else {
                            Ok(p.clone())
                        }
                    };
                    k = Tensor::cat(&[&widen(pk)?, &k], 2)?;
                    v = Tensor::cat(&[&widen(pv)?, &v], 2)?;
                }
                c.layers[i] = Some((k.clone(), v.clone()));
            }
            let (a, probs) = attention(&q, &k, &v, Some(&mask))?;
            if want_attention {
                attn.push(probs);
            }
            let a = a.transpose(1, 2)?.reshape((b, t, d))?;
            h = (h + l.o_proj.forward(&a)?)?;
            let n = l.post_attention_layernorm.forward(&h)?;
            let gate = candle_nn::ops::silu(&l.gate_proj.forward(&n)?)?;
            let m = l.down_proj.forward(&(gate * l.up_proj.forward(&n)?)?)?;
            h = (h + m)?;
        }
        Ok((self.norm.forward(&h)?, attn))
    }

    /// The configuration.
    pub fn config(&self) -> &DecoderConfig {
        &self.cfg
    }
}

/// The most likely id of `logits` [V] among those `allowed` flags (an id past the flags' end is
/// not allowed) and its probability under the full softmax; `None` when no id is allowed or a
/// logit is not finite.
pub fn greedy_allowed(logits: &[f32], allowed: &[bool]) -> Option<(u32, f32)> {
    if logits.iter().any(|l| !l.is_finite()) {
        return None;
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let total: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    let (id, l) = logits
        .iter()
        .enumerate()
        .filter(|(i, _)| allowed.get(*i).copied().unwrap_or(false))
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    Some((id as u32, (l - max).exp() / total))
}

/// Index of the largest logit in the last position of `logits` [1, T, V], and its probability.
pub fn greedy(logits: &Tensor) -> Result<(u32, f32)> {
    let (_, t, _) = logits.dims3()?;
    let last = logits.get(0)?.get(t - 1)?;
    let probs = super::nn::softmax(&last.unsqueeze(0)?)?.squeeze(0)?;
    let id = probs.argmax(D::Minus1)?.to_scalar::<u32>()?;
    let p = probs.get(id as usize)?.to_scalar::<f32>()?;
    Ok((id, p))
}
