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

/// A trainer of the tiny student with `train`, new or resumed from `out`.
fn trainer(
    ds: &Dataset,
    tk: &SpatiaTokenizer,
    train: PerceptionTrainConfig,
    out: &Path,
    resume: bool,
) -> PerceptionTrainer {
    PerceptionTrainer::new(
        tiny_student_cfg(tk.vocab_size()),
        tk.clone(),
        train,
        ds.clone(),
        out,
        resume,
        &Device::Cpu,
    )
    .unwrap()
}

/// A fresh trainer of the tiny student for one step.
fn one_step_trainer(ds: &Dataset, tk: &SpatiaTokenizer, out: &Path) -> PerceptionTrainer {
    trainer(ds, tk, config(1), out, false)
}

/// Six steps with a stop after three (a new trainer resumed from the checkpoint, given
/// `on_resume` instead of `train`: the checkpoint's settings must win) end with the weights of
/// six steps without a stop.
fn assert_resume_is_exact(
    ds: &Dataset,
    tk: &SpatiaTokenizer,
    train: PerceptionTrainConfig,
    on_resume: PerceptionTrainConfig,
    dir: &Path,
) {
    let (tx, _rx) = crossbeam_channel::bounded(4096);
    let cancel = Arc::new(AtomicBool::new(false));
    let six = |c: &PerceptionTrainConfig| PerceptionTrainConfig {
        steps: 6,
        ..c.clone()
    };
    let a = dir.join("a");
    let mut t = trainer(ds, tk, six(&train), &a, false);
    t.run_until(3, &tx, &cancel).unwrap();
    let mut t = trainer(ds, tk, six(&on_resume), &a, true);
    assert_eq!(t.step, 3);
    assert_eq!(
        t.config,
        six(&train),
        "the checkpoint's settings win on resume"
    );
    t.run(&tx, &cancel).unwrap();
    let mut u = trainer(ds, tk, six(&train), &dir.join("b"), false);
    u.run(&tx, &cancel).unwrap();
    assert_eq!(weights(&t), weights(&u));
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
    let (tx, _rx) = crossbeam_channel::bounded(4096);
    let cancel = Arc::new(AtomicBool::new(false));
    // Overfitting two rooms: both terms fall well below where they start.
    let out = dir.path().join("overfit");
    let mut t = trainer(&ds, &tk, config(200), &out, false);
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
    assert_resume_is_exact(&ds, &tk, config(6), config(6), dir.path());
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
    // Categories questions name count `factor` times more; walls, floors and background not.
    let index = |name: &str| {
        1 + crate::scene::Category::ALL
            .iter()
            .position(|c| c.name() == name)
            .unwrap()
    };
    let base: Vec<f32> = (0..semantic_classes()).map(|i| 1.0 + i as f32).collect();
    let named = weigh_named(base.clone(), 3.0);
    for (name, factor) in [("lamp", 3.0), ("chair", 3.0), ("wall", 1.0), ("floor", 1.0)] {
        let i = index(name);
        assert_eq!(named[i], base[i] * factor, "{name}");
    }
    assert_eq!(named[0], base[0], "background");
    assert_eq!(
        named.iter().zip(&base).filter(|(a, b)| a != b).count(),
        crate::questions::names::NAMES.len()
    );
    assert_eq!(weigh_named(base.clone(), 1.0), base);
    // A weighted loss with every weight 1 is the plain cross-entropy.
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let t = one_step_trainer(&ds, &tk, &dir.path().join("w"));
    assert_eq!(t.class_weight.len(), semantic_classes());
    // A run with --named-weight 2 weighs the same classes so.
    let doubled = trainer(
        &ds,
        &tk,
        PerceptionTrainConfig {
            named_weight: 2.0,
            ..config(1)
        },
        &dir.path().join("w2"),
        false,
    );
    assert_eq!(
        doubled.class_weight,
        weigh_named(t.class_weight.clone(), 2.0)
    );
    for bad in [0.0, -1.0, f64::NAN, MAX_NAMED_WEIGHT * 2.0] {
        let err = PerceptionTrainer::new(
            tiny_student_cfg(tk.vocab_size()),
            tk.clone(),
            PerceptionTrainConfig {
                named_weight: bad,
                ..config(1)
            },
            ds.clone(),
            &dir.path().join("bad"),
            false,
            &Device::Cpu,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("--named-weight"), "{bad}: {err}");
    }
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
    let with = |scan_like: f64, object_colours: f64| PerceptionTrainConfig {
        scan_like,
        object_colours,
        ..config(4)
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
    let new = |name: &str, train| trainer(&ds, &tk, train, &dir.path().join(name), false);
    let plain = new("plain", with(0.0, 0.0));
    let scan = new("scan", with(1.0, 0.0));
    assert_eq!(value(&scan, 0), value(&scan, 0));
    assert_ne!(value(&scan, 0), value(&plain, 0));
    let coloured = new("coloured", with(0.0, 1.0));
    assert_ne!(value(&coloured, 0), value(&plain, 0));
    assert_ne!(value(&coloured, 0), value(&scan, 0));
    // Resume with both randomisations on.
    assert_resume_is_exact(&ds, &tk, with(1.0, 1.0), with(0.0, 0.0), dir.path());
}

/// `--camera-only`: the `--init` model is copied whole and gains a camera head; only the head
/// changes, and its `camera` loss on the same scenes falls. Without `--init` it is refused.
#[test]
fn a_camera_only_run_trains_the_camera_head_alone() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let (tx, _rx) = crossbeam_channel::bounded(4096);
    let cancel = Arc::new(AtomicBool::new(false));
    let mut base = trainer(&ds, &tk, config(1), &dir.path().join("base"), false);
    base.run(&tx, &cancel).unwrap();
    let init = checkpoint_dir(&dir.path().join("base")).unwrap();
    let cfg = ModelConfig {
        camera_head: true,
        ..crate::model::checkpoint::read_config(&init).unwrap()
    };
    let train = PerceptionTrainConfig {
        camera_only: true,
        init: Some(init.clone()),
        ..config(12)
    };
    let refused = PerceptionTrainer::new(
        cfg.clone(),
        tk.clone(),
        PerceptionTrainConfig {
            init: None,
            ..train.clone()
        },
        ds.clone(),
        &dir.path().join("refused"),
        false,
        &Device::Cpu,
    );
    assert!(refused.is_err_and(|e| e.to_string().contains("--camera-only")));
    let mut t = PerceptionTrainer::new(
        cfg,
        tk,
        train,
        ds,
        &dir.path().join("camera"),
        false,
        &Device::Cpu,
    )
    .unwrap();
    let camera = |t: &PerceptionTrainer| {
        let (total, terms) = t.losses_at(0).unwrap();
        assert_eq!(terms.keys().collect::<Vec<_>>(), ["camera"]);
        total.to_scalar::<f32>().unwrap()
    };
    let before = camera(&t);
    // A fresh head puts every view at the first view's pose: a positive loss.
    assert!(before > 0.0, "{before}");
    t.run(&tx, &cancel).unwrap();
    let after = camera(&t);
    assert!(after < 0.8 * before, "camera loss {before} -> {after}");
    // Every tensor but the head's is the init model's, bit for bit (decoder included).
    let init_cfg = crate::model::checkpoint::read_config(&init).unwrap();
    let init_weights = crate::model::checkpoint::load_weights(
        &init.join("model.safetensors"),
        &init_cfg,
        &Device::Cpu,
    )
    .unwrap();
    let data = t.varmap.data().lock().unwrap();
    let mut head = 0;
    for (name, var) in data.iter() {
        let now = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        if name.starts_with("camera_head.") {
            head += 1;
            continue;
        }
        let was = init_weights[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(now, was, "{name}");
    }
    assert_eq!(head, 4, "norm and output weights and biases");
    assert!(data.keys().any(|k| k.starts_with("decoder.")));
    drop(data);
    // The evaluation reports the head's errors beside taking every view at the first's pose,
    // over every view after each scene's first, and answers through either cameras.
    let ckpt = t.checkpoint().unwrap();
    let loaded = crate::model::load_model(&ckpt, &Device::Cpu).unwrap();
    let eval = |cameras| {
        crate::eval::evaluate(
            &loaded,
            &t.dataset,
            &[crate::data::Split::Val],
            &crate::eval::EvalOptions {
                cameras,
                ..Default::default()
            },
            None,
        )
        .unwrap()
    };
    let given = eval(crate::model::Cameras::Given);
    let c = given.camera.as_ref().unwrap();
    let views = given.depth.views;
    let scenes = t.dataset.scenes(crate::data::Split::Val).len();
    assert_eq!(c.views, views - scenes);
    assert!(c.identity_rotation_median_deg > 1.0 && c.identity_translation_median_m > 0.05);
    assert!(c.rotation_median_deg.is_finite() && c.translation_median_m.is_finite());
    assert_ne!(c.rotation_median_deg, c.identity_rotation_median_deg);
    assert_eq!(c.answered_with, crate::model::Cameras::Given);
    let predicted = eval(crate::model::Cameras::Predicted);
    assert_eq!(
        predicted.camera.as_ref().unwrap().answered_with,
        crate::model::Cameras::Predicted
    );
    assert_eq!(predicted.camera.as_ref().unwrap().views, c.views);
}
