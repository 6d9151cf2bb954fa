use crate::train::TrainStage;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use candle_core::{Device, Tensor};

use super::*;
use crate::model::config::{ObjectSource, SceneInput, semantic_classes};
use crate::train::tests::{tiny_dataset, tokenizer};

/// A tiny object student: RGB encoder, depth head with categories, object slots.
pub(crate) fn tiny_student_cfg(vocab: usize) -> ModelConfig {
    ModelConfig {
        scene_input: SceneInput::Objects,
        latent_probes: true,
        latent_pointers: true,
        hidden_cot_tokens: 3,
        detection_layers: 0,
        semantic_classes: semantic_classes(),
        object_source: ObjectSource::Predicted,
        ..ModelConfig::tiny(vocab, 16, 8)
    }
}

fn config(steps: usize) -> PerceptionTrainConfig {
    PerceptionTrainConfig {
        steps,
        lr: 1e-2,
        warmup: 2,
        scenes_per_step: 2,
        max_scenes: Some(2),
        checkpoint_every: 3,
        log_every: 1,
        ..Default::default()
    }
}

/// A fresh trainer of the tiny student for one step.
fn one_step_trainer(ds: &Dataset, tk: &SpatiaTokenizer, out: &Path) -> PerceptionTrainer {
    PerceptionTrainer::new(
        tiny_student_cfg(tk.vocab_size()),
        tk.clone(),
        config(1),
        ds.clone(),
        out,
        false,
        &Device::Cpu,
    )
    .unwrap()
}

fn weights(t: &PerceptionTrainer) -> Vec<f32> {
    let data = t.varmap.data().lock().unwrap();
    let mut names: Vec<&String> = data.keys().filter(|k| is_stage1_var(k)).collect();
    names.sort();
    names
        .into_iter()
        .flat_map(|n| {
            data[n]
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

#[test]
fn perception_overfits_two_rooms_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let cfg = tiny_student_cfg(tk.vocab_size());
    let (tx, _rx) = crossbeam_channel::bounded(4096);
    let cancel = Arc::new(AtomicBool::new(false));
    let new = |out: &Path, steps: usize, resume: bool| {
        PerceptionTrainer::new(
            cfg.clone(),
            tk.clone(),
            config(steps),
            ds.clone(),
            out,
            resume,
            &Device::Cpu,
        )
        .unwrap()
    };
    // Overfitting two rooms: both terms fall well below where they start.
    let out = dir.path().join("overfit");
    let mut t = new(&out, 200, false);
    let value = |t: &PerceptionTrainer, k: &str| -> f32 {
        t.losses_at(0).unwrap().1[k].to_scalar::<f32>().unwrap()
    };
    let (depth0, semantic0) = (value(&t, "depth"), value(&t, "semantic"));
    t.run(&tx, &cancel).unwrap();
    let (depth1, semantic1) = (value(&t, "depth"), value(&t, "semantic"));
    assert!(
        semantic1 < 0.5 * semantic0,
        "semantic {semantic0} -> {semantic1}"
    );
    assert!(depth1 < 0.7 * depth0, "depth {depth0} -> {depth1}");
    // Every term is logged under its name.
    let log = std::fs::read_to_string(out.join("train_log.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    for k in ["depth", "semantic", "total", "grad_norm"] {
        assert!(last["losses"][k].as_f64().unwrap().is_finite(), "{k}");
    }
    // The trained perception labels most cells of a training room right.
    let (shard, _) = ds.load(Split::Train, &t.scenes_for(0)[0]).unwrap();
    let m = perception_metrics(t.model(), &shard).unwrap().metrics();
    assert!(
        m["semantic_pixel_acc"] > 0.6,
        "{m:?} semantic {semantic0} -> {semantic1}"
    );
    // Resume: 3 steps, a new trainer from the checkpoint, 3 more = 6 without a stop.
    let a = dir.path().join("a");
    let mut t = new(&a, 6, false);
    t.run_until(3, &tx, &cancel).unwrap();
    let mut t = new(&a, 6, true);
    assert_eq!(t.step, 3);
    t.run(&tx, &cancel).unwrap();
    let b = dir.path().join("b");
    let mut u = new(&b, 6, false);
    u.run(&tx, &cancel).unwrap();
    assert_eq!(weights(&t), weights(&u));
    // A model without a semantic output is refused.
    let err = PerceptionTrainer::new(
        ModelConfig::tiny(tk.vocab_size(), 16, 8),
        tk.clone(),
        config(1),
        ds.clone(),
        &dir.path().join("c"),
        false,
        &Device::Cpu,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("semantic"), "{err}");
}

#[test]
fn perception_metrics_count_every_cell_and_object() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let t = one_step_trainer(&ds, &tk, &dir.path().join("m"));
    let key = &ds.scenes(Split::Train)[0];
    let (shard, _) = ds.load(Split::Train, key).unwrap();
    let r = perception_metrics(t.model(), &shard).unwrap();
    // 2 views of an 8×8 semantic grid (16-pixel images, 2×2 patches).
    assert_eq!(r.cells, 2 * 8 * 8);
    assert_eq!(r.per_class.values().map(|(n, _)| n).sum::<usize>(), r.cells);
    assert_eq!(r.depth_px, shard.depth.iter().filter(|d| **d > 0.0).count());
    let annotated = object_tokens(
        &ObjectViews::of_shard(&shard),
        min_visible_px(shard.size) as u32,
    );
    assert_eq!(r.annotated_objects, annotated.len());
    assert!(r.found_annotated <= r.annotated_objects.min(r.found_objects));
    let m = r.metrics();
    assert!((0.0..=1.0).contains(&m["object_recall"]));
}

#[test]
fn class_weights_favour_rare_classes_within_bounds() {
    let w = class_weights(&[0, 100, 400, 25]);
    assert_eq!(w, vec![1.0, 1.0, 0.5, 2.0]);
    let w = class_weights(&[1, 1_000_000]);
    assert_eq!(w, vec![10.0, 1.0]);
    assert_eq!(class_weights(&[0, 0]), vec![1.0, 1.0]);
    // A weighted loss with every weight 1 is the plain cross-entropy.
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let t = one_step_trainer(&ds, &tk, &dir.path().join("w"));
    assert_eq!(t.class_weight.len(), semantic_classes());
    let shards: Vec<SceneShard> = t
        .scenes_for(0)
        .iter()
        .map(|k| ds.load(Split::Train, k).unwrap().0)
        .collect();
    let ones = vec![1.0; semantic_classes()];
    let (_, terms) = perception_losses(t.model(), &shards, 1.0, &ones).unwrap();
    let weighted = terms["semantic"].to_scalar::<f32>().unwrap();
    // The same cells through candle's unweighted cross-entropy.
    let vb: Vec<ViewBatch> = shards.iter().map(ViewBatch::from_shard).collect();
    let images: Vec<Tensor> = vb
        .iter()
        .map(|v| t.model().view_tensors(v).unwrap().0)
        .collect();
    let enc = t
        .model()
        .encode_tensors(&Tensor::cat(&images, 0).unwrap(), None)
        .unwrap();
    let sem = t.model().depth_tensors(&enc).unwrap().semantic.unwrap();
    let (b, s, k, h, w) = sem.dims5().unwrap();
    let logits = sem
        .permute((0, 1, 3, 4, 2))
        .unwrap()
        .reshape((b * s * h * w, k))
        .unwrap();
    let labels: Vec<u32> = shards
        .iter()
        .flat_map(|sh| semantic_targets(&ObjectViews::of_shard(sh), h))
        .map(u32::from)
        .collect();
    let plain =
        candle_nn::loss::cross_entropy(&logits, &Tensor::new(labels, &Device::Cpu).unwrap())
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
    assert!((weighted - plain).abs() < 1e-4, "{weighted} vs {plain}");
    // Wrong number of weights: an error, not a panic.
    assert!(perception_losses(t.model(), &shards, 1.0, &[1.0]).is_err());
}

#[test]
fn scan_like_views_are_drawn_per_step_and_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let cfg = tiny_student_cfg(tk.vocab_size());
    let (tx, _rx) = crossbeam_channel::bounded(4096);
    let cancel = Arc::new(AtomicBool::new(false));
    let new = |out: &Path, steps: usize, scan_like: f64, resume: bool| {
        PerceptionTrainer::new(
            cfg.clone(),
            tk.clone(),
            PerceptionTrainConfig {
                scan_like,
                ..config(steps)
            },
            ds.clone(),
            out,
            resume,
            &Device::Cpu,
        )
        .unwrap()
    };
    // The shard itself: every view changed at share 1, none at 0; holes lose depth and labels.
    let key = &ds.scenes(Split::Train)[0];
    let (clean, _) = ds.load(Split::Train, key).unwrap();
    let mut shard = clean.clone();
    assert_eq!(shard.make_scan_like(3, 0.0), 0);
    assert_eq!(shard.images, clean.images);
    assert_eq!(shard.make_scan_like(3, 1.0), clean.views);
    assert_ne!(shard.images, clean.images);
    for (i, d) in shard.depth.iter().enumerate() {
        if *d == 0.0 && clean.depth[i] > 0.0 {
            assert_eq!(shard.instance[i], -1, "a hole keeps no object");
        } else {
            assert_eq!(*d, clean.depth[i]);
        }
    }
    let mut recoloured = clean.clone();
    assert_eq!(recoloured.recolour_objects(3, 0.0), 0);
    assert!(recoloured.recolour_objects(3, 1.0) > 0);
    assert_ne!(recoloured.images, clean.images);
    assert_eq!(recoloured.instance, clean.instance);
    // In training: the same step draws the same views, another setting other losses.
    let value = |t: &PerceptionTrainer, step: usize| -> f32 {
        t.losses_at(step).unwrap().0.to_scalar::<f32>().unwrap()
    };
    let plain = new(&dir.path().join("plain"), 4, 0.0, false);
    let scan = new(&dir.path().join("scan"), 4, 1.0, false);
    assert_eq!(value(&scan, 0), value(&scan, 0));
    assert_ne!(value(&scan, 0), value(&plain, 0));
    let coloured = PerceptionTrainer::new(
        cfg.clone(),
        tk.clone(),
        PerceptionTrainConfig {
            object_colours: 1.0,
            ..config(4)
        },
        ds.clone(),
        &dir.path().join("coloured"),
        false,
        &Device::Cpu,
    )
    .unwrap();
    assert_ne!(value(&coloured, 0), value(&plain, 0));
    assert_ne!(value(&coloured, 0), value(&scan, 0));
    // Resume with scan-like views: 3 steps, a new trainer from the checkpoint, 3 more = 6.
    let a = dir.path().join("a");
    let mut t = new(&a, 6, 1.0, false);
    t.run_until(3, &tx, &cancel).unwrap();
    let mut t = new(&a, 6, 0.0, true);
    assert_eq!(
        t.config.scan_like, 1.0,
        "the checkpoint's setting wins on resume"
    );
    t.run(&tx, &cancel).unwrap();
    let mut u = new(&dir.path().join("b"), 6, 1.0, false);
    u.run(&tx, &cancel).unwrap();
    assert_eq!(weights(&t), weights(&u));
}
