//! Model folders `models/<name>/{config.json, model.safetensors, tokenizer.json}`: loading with
//! every tensor's name and shape checked against what the configuration needs, and saving.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::ModelError;
use super::config::ModelConfig;
use super::tokenizer::SpatiaTokenizer;
use super::vlm::SpatialVlm;

/// Largest `config.json` read, bytes.
const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Largest checkpoint read, bytes.
const MAX_CHECKPOINT_BYTES: u64 = 4 << 30;

/// The tensors (name → shape) a configuration needs, found by building the model on a scratch
/// variable map.
pub fn expected_tensors(cfg: &ModelConfig) -> Result<HashMap<String, Vec<usize>>, ModelError> {
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
    SpatialVlm::new(cfg, vb)?;
    let data = map
        .data()
        .lock()
        .map_err(|_| ModelError::Invalid("variable map poisoned".into()))?;
    Ok(data
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().dims().to_vec()))
        .collect())
}

/// Reads `model.safetensors`, checking names and shapes; the error names the offending tensor.
pub fn load_weights(
    path: &Path,
    cfg: &ModelConfig,
    device: &Device,
) -> Result<HashMap<String, Tensor>, ModelError> {
    let bad = |problem: String| ModelError::Checkpoint {
        path: path.to_path_buf(),
        problem,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if meta.len() > MAX_CHECKPOINT_BYTES {
        return Err(bad(format!(
            "{} bytes is more than a checkpoint may be",
            meta.len()
        )));
    }
    let tensors = candle_core::safetensors::load(path, device)
        .map_err(|e| bad(format!("not a readable safetensors file: {e}")))?;
    let expected = expected_tensors(cfg)?;
    let mut names: Vec<&String> = expected.keys().collect();
    names.sort();
    for name in names {
        let want = &expected[name];
        match tensors.get(name) {
            None => {
                return Err(bad(format!(
                    "tensor \"{name}\" is missing (expected shape {want:?})"
                )));
            }
            Some(t) if t.dims() != want.as_slice() => {
                return Err(bad(format!(
                    "tensor \"{name}\" has shape {:?}, expected {want:?}",
                    t.dims()
                )));
            }
            Some(t)
                if t.dtype() != DType::F32
                    && t.dtype() != DType::F16
                    && t.dtype() != DType::BF16 =>
            {
                return Err(bad(format!(
                    "tensor \"{name}\" has dtype {:?}, expected a float",
                    t.dtype()
                )));
            }
            Some(_) => {}
        }
    }
    let mut extra: Vec<&String> = tensors
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    extra.sort();
    if let Some(name) = extra.first() {
        return Err(bad(format!(
            "tensor \"{name}\" is not part of this model ({} unexpected tensors); is config.json the one it was trained with?",
            extra.len()
        )));
    }
    tensors
        .into_iter()
        .map(|(k, t)| Ok((k, t.to_dtype(DType::F32)?)))
        .collect::<Result<_, candle_core::Error>>()
        .map_err(ModelError::from)
}

/// A model folder loaded: configuration, weights and tokenizer.
pub struct LoadedModel {
    /// The folder.
    pub dir: PathBuf,
    /// The network.
    pub model: SpatialVlm,
    /// Its tokenizer.
    pub tokenizer: SpatiaTokenizer,
}

/// Reads `config.json`.
pub fn read_config(dir: &Path) -> Result<ModelConfig, ModelError> {
    let path = dir.join("config.json");
    let len = std::fs::metadata(&path).map_or(0, |m| m.len());
    if len > MAX_CONFIG_BYTES {
        return Err(ModelError::Checkpoint {
            path,
            problem: format!("{len} bytes is more than a model config may be"),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Checkpoint {
        path: path.clone(),
        problem: e.to_string(),
    })?;
    let cfg: ModelConfig = serde_json::from_str(&text).map_err(|e| ModelError::Checkpoint {
        path: path.clone(),
        problem: format!("malformed config: {e}"),
    })?;
    cfg.validate()
        .map_err(|problem| ModelError::Checkpoint { path, problem })?;
    Ok(cfg)
}

/// Loads a model folder onto `device`.
pub fn load_model(dir: &Path, device: &Device) -> Result<LoadedModel, ModelError> {
    if !dir.is_dir() {
        return Err(ModelError::Checkpoint {
            path: dir.to_path_buf(),
            problem:
                "no such model folder (expected config.json, model.safetensors, tokenizer.json)"
                    .into(),
        });
    }
    let cfg = read_config(dir)?;
    let tokenizer = SpatiaTokenizer::load(&dir.join("tokenizer.json"))?;
    if tokenizer.vocab_size() > cfg.decoder.vocab_size {
        return Err(ModelError::Checkpoint {
            path: dir.join("tokenizer.json"),
            problem: format!(
                "the tokenizer has {} tokens, the model's vocabulary {}",
                tokenizer.vocab_size(),
                cfg.decoder.vocab_size
            ),
        });
    }
    let weights = load_weights(&dir.join("model.safetensors"), &cfg, device)?;
    let vb = VarBuilder::from_tensors(weights, DType::F32, device);
    let model = SpatialVlm::new(&cfg, vb)?;
    Ok(LoadedModel {
        dir: dir.to_path_buf(),
        model,
        tokenizer,
    })
}

/// Writes a model folder: `config.json`, `model.safetensors` (the variables of `vars`, as f32
/// or converted to `dtype`), `tokenizer.json`. Each file is written atomically.
pub fn save_model(
    dir: &Path,
    cfg: &ModelConfig,
    vars: &VarMap,
    tokenizer: &SpatiaTokenizer,
    dtype: DType,
) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::Checkpoint {
        path: dir.to_path_buf(),
        problem: e.to_string(),
    })?;
    let cfg_json =
        serde_json::to_vec_pretty(cfg).map_err(|e| ModelError::Invalid(e.to_string()))?;
    crate::scene::write_atomic(&dir.join("config.json"), &cfg_json)?;
    let tensors: HashMap<String, Tensor> = {
        let data = vars
            .data()
            .lock()
            .map_err(|_| ModelError::Invalid("variable map poisoned".into()))?;
        data.iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().to_dtype(dtype)?)))
            .collect::<Result<_, candle_core::Error>>()?
    };
    let tmp = dir.join("model.safetensors.tmp");
    candle_core::safetensors::save(&tensors, &tmp)?;
    std::fs::rename(&tmp, dir.join("model.safetensors")).map_err(|e| ModelError::Checkpoint {
        path: dir.join("model.safetensors"),
        problem: e.to_string(),
    })?;
    let tmp = dir.join("tokenizer.json.tmp");
    tokenizer.save(&tmp)?;
    std::fs::rename(&tmp, dir.join("tokenizer.json")).map_err(|e| ModelError::Checkpoint {
        path: dir.join("tokenizer.json"),
        problem: e.to_string(),
    })
}

/// Copies the model folder `src` (e.g. a training checkpoint) to `dst` as a plain model folder
/// (`config.json`, `model.safetensors` converted to `dtype`, `tokenizer.json`; optimiser and
/// trainer files left behind), after checking it loads. Written as `dst.tmp` and renamed.
pub fn export_model(src: &Path, dst: &Path, dtype: DType) -> Result<(), ModelError> {
    let cfg = read_config(src)?;
    let weights = load_weights(&src.join("model.safetensors"), &cfg, &Device::Cpu)?;
    let tokenizer = SpatiaTokenizer::load(&src.join("tokenizer.json"))?;
    let err = |path: &Path, e: std::io::Error| ModelError::Checkpoint {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    let mut tmp = dst.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| err(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| err(&tmp, e))?;
    let cfg_json =
        serde_json::to_vec_pretty(&cfg).map_err(|e| ModelError::Invalid(e.to_string()))?;
    crate::scene::write_atomic(&tmp.join("config.json"), &cfg_json)?;
    let converted: HashMap<String, Tensor> = weights
        .into_iter()
        .map(|(k, t)| Ok((k, t.to_dtype(dtype)?)))
        .collect::<Result<_, candle_core::Error>>()?;
    candle_core::safetensors::save(&converted, tmp.join("model.safetensors"))?;
    tokenizer.save(&tmp.join("tokenizer.json"))?;
    if dst.exists() {
        std::fs::remove_dir_all(dst).map_err(|e| err(dst, e))?;
    }
    std::fs::rename(&tmp, dst).map_err(|e| err(dst, e))
}
