//! `spatia ask SCENE "question" [--model DIR] [--json]` and `spatia bench-models`.

use std::path::PathBuf;

use anyhow::Context;
use candle_core::DType;
use candle_nn::{VarBuilder, VarMap};
use serde::Serialize;
use spatia::data::build::{BuildOptions, render_shard};
use spatia::model::bench::answer_latency_ms;
use spatia::model::{
    ModelConfig, SpatiaTokenizer, SpatialVlm, ViewBatch, default_model_dir, device_name, load_model,
};
use spatia::scene::procgen;

use super::SceneArgs;

#[derive(clap::Args, Debug)]
pub struct AskArgs {
    #[command(flatten)]
    scene: SceneArgs,
    /// The question.
    question: String,
    /// Model folder (config.json, model.safetensors, tokenizer.json); default models/student.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Print JSON: {"answer", "model", "latency_ms", "encode_ms", "device", "unseen"[,
    /// "looked_again"][, "unconstrained"]}.
    #[arg(long)]
    json: bool,
    /// Seed for the camera placement of the rendered views.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    device: super::DeviceArgs,
}

#[derive(Serialize)]
struct AskJson {
    answer: String,
    model: String,
    latency_ms: f64,
    encode_ms: f64,
    device: &'static str,
    /// Object names in the question the model has no object of here.
    unseen: Vec<&'static str>,
    /// Objects the model found only by looking again for what the question names (name and
    /// pixels).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    looked_again: Vec<String>,
    /// What free decoding said when it was not of the kind the question asks for.
    #[serde(skip_serializing_if = "Option::is_none")]
    unconstrained: Option<String>,
}

pub fn run(args: &AskArgs) -> anyhow::Result<()> {
    let dir = args
        .model
        .clone()
        .unwrap_or_else(|| default_model_dir("student"));
    let device = args.device.select()?;
    let loaded = load_model(&dir, &device)?;
    let scene = args.scene.load()?;
    let cfg = &loaded.model.cfg;
    let options = BuildOptions {
        views: cfg.num_views,
        size: cfg.encoder.image_size as u32,
        ..Default::default()
    };
    let shard = render_shard(&scene, &options, args.seed)?;
    let views = ViewBatch::from_shard(&shard);
    let tokens = loaded.encode(&views)?;
    let answer = loaded.answer(&tokens, &args.question, false)?;
    let out = AskJson {
        looked_again: answer.looked_again_names(),
        answer: answer.text,
        model: format!("{} ({})", cfg.name, dir.display()),
        latency_ms: answer.latency_ms,
        encode_ms: tokens.encode_ms,
        device: device_name(&device),
        unseen: loaded.unseen_names(&tokens, &answer.looked_again, &args.question),
        unconstrained: answer.unconstrained,
    };
    if args.json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{}", out.answer);
        for name in &out.unseen {
            eprintln!(
                "note: the model has no {name} among its objects here: the answer is not about one"
            );
        }
        for found in &out.looked_again {
            eprintln!("note: found {found} only by looking again for what the question names");
        }
        if let Some(free) = &out.unconstrained {
            eprintln!(
                "note: free decoding said {free:?}, not the kind of answer the question asks for"
            );
        }
        eprintln!(
            "{} on {}: encode {:.0} ms, answer {:.0} ms",
            out.model, out.device, out.encode_ms, out.latency_ms
        );
    }
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct BenchModelsArgs {
    /// Timed runs per figure (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Answer tokens generated per timed answer.
    #[arg(long, default_value_t = 4)]
    answer_tokens: usize,
    #[command(flatten)]
    device: super::DeviceArgs,
}

/// Parameters, encode time and per-answer latency of the student and teacher presets (random
/// weights: the figures depend on the architecture, not on training).
pub fn bench(args: &BenchModelsArgs) -> anyhow::Result<()> {
    let device = args.device.select()?;
    let (scene, _) = procgen::generate(0, 38).to_scene();
    let sp = spatia::spatial::SpatialScene::new(&scene);
    let questions = spatia::questions::generate(&sp, &Default::default());
    let corpus: Vec<String> = questions
        .iter()
        .flat_map(|q| [q.question.clone(), q.answer.clone()])
        .collect();
    let tk = SpatiaTokenizer::train(corpus.into_iter(), 600)?;
    let q_ids = tk.encode("is the lamp near the sofa?")?;
    println!("device {}", device_name(&device));
    let mut rows = Vec::new();
    for cfg in [ModelConfig::student(600), ModelConfig::teacher(600)] {
        let map = VarMap::new();
        let model = SpatialVlm::new(&cfg, VarBuilder::from_varmap(&map, DType::F32, &device))?;
        let params: usize = map.all_vars().iter().map(|v| v.elem_count()).sum();
        let options = BuildOptions {
            views: cfg.num_views,
            size: cfg.encoder.image_size as u32,
            ..Default::default()
        };
        let shard = render_shard(&scene, &options, 0).context("rendering the bench scene")?;
        let views = ViewBatch::from_shard(&shard);
        let mut encode = Vec::new();
        let mut tokens = None;
        for _ in 0..args.repeats.max(1) {
            let t = model.encode(&views)?;
            encode.push(t.encode_ms);
            tokens = Some(t);
        }
        encode.sort_by(f64::total_cmp);
        let tokens = tokens.context("no encoding")?;
        let answer = answer_latency_ms(&model, &tokens, &q_ids, args.answer_tokens, args.repeats)?;
        println!(
            "model_bench preset={} params={} scene_tokens={} encode_ms={:.1} answer_ms={:.1}",
            cfg.name,
            params,
            tokens.layout.len(),
            encode[encode.len() / 2],
            answer
        );
        rows.push((params, answer));
    }
    if let [(sp, sa), (tp, ta)] = rows.as_slice() {
        println!(
            "ratios teacher/student: params {:.2}x, per-answer latency {:.2}x",
            *tp as f64 / *sp as f64,
            ta / sa
        );
    }
    Ok(())
}
