//! `spatia model-info DIR [--json]`: what a model folder holds — its configuration, tokenizer
//! size, parameters per part and file sizes — after checking that it loads.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use spatia::model::checkpoint::expected_tensors;
use spatia::model::{ModelConfig, load_model};

#[derive(clap::Args, Debug)]
pub struct ModelInfoArgs {
    /// Model folder (config.json, model.safetensors, tokenizer.json).
    dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct ModelInfo {
    dir: String,
    name: String,
    /// Parameters in total and per part (the first component of the tensor names:
    /// `aggregator` is the encoder).
    parameters: usize,
    parts: BTreeMap<String, usize>,
    tokenizer_vocab: usize,
    files: BTreeMap<String, u64>,
    config: ModelConfig,
}

pub fn run(args: &ModelInfoArgs) -> anyhow::Result<()> {
    let model = load_model(&args.dir, &candle_core::Device::Cpu)?;
    let cfg = &model.model.cfg;
    let mut parts: BTreeMap<String, usize> = BTreeMap::new();
    for (name, shape) in expected_tensors(cfg)? {
        let part = name.split('.').next().unwrap_or("").to_string();
        *parts.entry(part).or_insert(0) += shape.iter().product::<usize>();
    }
    let mut files = BTreeMap::new();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        files.insert(f.to_string(), std::fs::metadata(args.dir.join(f))?.len());
    }
    let info = ModelInfo {
        dir: args.dir.display().to_string(),
        name: cfg.name.clone(),
        parameters: parts.values().sum(),
        parts,
        tokenizer_vocab: model.tokenizer.vocab_size(),
        files,
        config: cfg.clone(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    let (e, d) = (&cfg.encoder, &cfg.decoder);
    println!("{} ({})", info.name, info.dir);
    println!(
        "  views        {} of {}x{} px, patch {}",
        cfg.num_views, e.image_size, e.image_size, e.patch_size
    );
    println!(
        "  encoder      width {}, {} frame + global block pairs, {} heads{}",
        e.embed_dim,
        e.depth,
        e.num_heads,
        if e.position_3d {
            ", 3D patch positions from depth + poses (teacher)"
        } else {
            ""
        }
    );
    println!(
        "  decoder      width {}, {} layers, {} heads, SwiGLU {}, answers up to {} tokens",
        d.hidden_size, d.num_layers, d.num_heads, d.intermediate_size, d.max_answer_tokens
    );
    println!(
        "  hidden CoT   K = {}   scene pooling {}x{}",
        cfg.hidden_cot_tokens, cfg.scene_pool, cfg.scene_pool
    );
    println!(
        "  tokenizer    {} tokens (decoder vocabulary {})",
        info.tokenizer_vocab, d.vocab_size
    );
    println!("  parameters   {}", info.parameters);
    for (part, n) in &info.parts {
        println!("    {part:<16} {n:>10}");
    }
    for (f, bytes) in &info.files {
        println!("  {f:<18} {bytes} bytes");
    }
    Ok(())
}
