//! AdamW with savable state, the warmup + cosine schedule, and global gradient-norm clipping.

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};

use crate::model::ModelError;

/// The variables of `varmap` whose names `keep` accepts, with their names (what [`AdamW::new`]
/// takes).
pub fn named_vars(
    varmap: &candle_nn::VarMap,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<(String, Var)>, ModelError> {
    Ok(varmap
        .data()
        .lock()
        .map_err(|_| ModelError::Invalid("variable map poisoned".into()))?
        .iter()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}

/// AdamW (decoupled weight decay). Its moments are saved with checkpoints so a resumed run
/// continues exactly.
pub struct AdamW {
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates done.
    pub step: usize,
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl AdamW {
    /// An optimiser over named variables (sorted by name, so state files line up).
    pub fn new(mut vars: Vec<(String, Var)>, weight_decay: f64) -> Result<Self, ModelError> {
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars
            .iter()
            .map(|(_, v)| v.as_tensor().zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Self {
            vars,
            m,
            v,
            step: 0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        })
    }

    /// The optimised variables with their names, sorted by name.
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// One update at learning rate `lr`, gradients scaled by `grad_scale` (clipping).
    pub fn update(
        &mut self,
        grads: &GradStore,
        lr: f64,
        grad_scale: f64,
    ) -> Result<(), ModelError> {
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        for (i, (name, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let decay = if decays(name, var.as_tensor().rank()) {
                self.weight_decay
            } else {
                0.0
            };
            // Detached: a gradient (and anything computed from it) can carry the whole backward
            // graph, which the moments would otherwise keep alive from step to step.
            let g = (g.detach() * grad_scale)?;
            let m = ((&self.m[i] * self.beta1)? + (&g * (1.0 - self.beta1))?)?;
            let v = ((&self.v[i] * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + self.eps)?)?;
            let decayed = (var.as_tensor().detach() * (1.0 - lr * decay))?;
            var.set(&(decayed - (update * lr)?)?)?;
            self.m[i] = m.detach();
            self.v[i] = v.detach();
        }
        Ok(())
    }

    /// Saves the moments and step.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let mut t: HashMap<String, Tensor> = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            t.insert(format!("m.{name}"), self.m[i].clone());
            t.insert(format!("v.{name}"), self.v[i].clone());
        }
        t.insert(
            "step".into(),
            Tensor::new(&[self.step as u32], &Device::Cpu)?,
        );
        let tmp = path.with_extension("tmp");
        candle_core::safetensors::save(&t, &tmp)?;
        std::fs::rename(&tmp, path).map_err(|e| ModelError::Checkpoint {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })
    }

    /// Restores the moments and step saved by [`AdamW::save`].
    pub fn load(&mut self, path: &Path, device: &Device) -> Result<(), ModelError> {
        let bad = |problem: String| ModelError::Checkpoint {
            path: path.to_path_buf(),
            problem,
        };
        let t = candle_core::safetensors::load(path, device)
            .map_err(|e| bad(format!("not a readable optimiser state: {e}")))?;
        for (i, (name, var)) in self.vars.iter().enumerate() {
            for (prefix, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{prefix}.{name}");
                let s = t
                    .get(&key)
                    .ok_or_else(|| bad(format!("tensor \"{key}\" is missing")))?;
                if s.dims() != var.as_tensor().dims() {
                    return Err(bad(format!(
                        "tensor \"{key}\" has shape {:?}, expected {:?}",
                        s.dims(),
                        var.as_tensor().dims()
                    )));
                }
                *slot = s.clone();
            }
        }
        let step = t
            .get("step")
            .ok_or_else(|| bad("tensor \"step\" is missing".into()))?;
        self.step = step.to_vec1::<u32>()?.first().copied().unwrap_or(0) as usize;
        Ok(())
    }
}

/// Whether weight decay applies to the variable `name` of rank `rank`: weight matrices and
/// kernels only — not biases, norms, LayerScale, embeddings, learned tokens and latents, or the
/// Kendall log-variances, which decay would pull towards meaningless zeros.
pub fn decays(name: &str, rank: usize) -> bool {
    rank >= 2
        && !["embed", "norm", "token", "latents", "log_vars", "gamma"]
            .iter()
            .any(|k| name.contains(k))
}

/// Learning rate at `step` of `total`: linear warmup over `warmup` steps to `peak`, then a
/// cosine decay to `peak × min_ratio`.
pub fn learning_rate(step: usize, total: usize, warmup: usize, peak: f64, min_ratio: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / span as f64).min(1.0);
    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
    peak * (min_ratio + (1.0 - min_ratio) * cosine)
}

/// Global L2 norm of the gradients of `vars`, and the factor that clips it to `max_norm`.
pub fn clip_factor(
    grads: &GradStore,
    vars: &[(String, Var)],
    max_norm: f64,
) -> Result<(f64, f64), ModelError> {
    let mut sq = 0f64;
    for (_, v) in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
    }
    let norm = sq.sqrt();
    let factor = if norm.is_finite() && norm > max_norm {
        max_norm / norm
    } else {
        1.0
    };
    Ok((norm, factor))
}
