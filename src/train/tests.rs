use crate::train::TrainStage;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use candle_core::{Device, Tensor};

use super::losses::*;
use super::optim::learning_rate;
use super::*;
use crate::data::build::{BuildOptions, build};
use crate::eval::detection::average_precision;
use crate::model::{ModelConfig, SpatiaTokenizer};

fn t1(v: &[f32]) -> Tensor {
    Tensor::new(v, &Device::Cpu).unwrap()
}

fn scalar(t: &Tensor) -> f32 {
    t.to_scalar::<f32>().unwrap()
}

#[test]
fn kl_at_temperature_matches_hand_computation() {
    let s = Tensor::new(&[[0f32, 0.0]], &Device::Cpu).unwrap();
    let t = Tensor::new(&[[1f32, 0.0]], &Device::Cpu).unwrap();
    // T = 2: p_t = softmax([0.5, 0]) = [0.62246, 0.37754], p_s = [0.5, 0.5];
    // KL = 0.62246 ln(1.24492) + 0.37754 ln(0.75508) = 0.030310; × T² = 0.121241.
    let kl = scalar(&distill_kl(&s, &t, 2.0).unwrap());
    assert!((kl - 0.121241).abs() < 1e-4, "{kl}");
    assert!(scalar(&distill_kl(&t, &t, 2.0).unwrap()).abs() < 1e-6);
}

#[test]
fn kendall_total_matches_hand_computation() {
    // exp(0)·2 + 0 + exp(−ln 2)·3 + ln 2 = 2 + 1.5 + 0.693147.
    let total = kendall_total(
        &[
            t1(&[2.0]).squeeze(0).unwrap(),
            t1(&[3.0]).squeeze(0).unwrap(),
        ],
        &t1(&[0.0, 2f32.ln()]),
    )
    .unwrap();
    assert!((scalar(&total) - 4.193147).abs() < 1e-5);
}

#[test]
fn hungarian_finds_the_cheapest_assignment() {
    // Of the six assignments, (row0→1, row1→0, row2→2) costs 5, the least.
    let cost = vec![
        vec![4.0, 1.0, 3.0],
        vec![2.0, 0.0, 5.0],
        vec![3.0, 2.0, 2.0],
    ];
    assert_eq!(hungarian(&cost), vec![1, 0, 2]);
    // Fewer ground truths than queries.
    assert_eq!(hungarian(&[vec![5.0, 0.5, 9.0]]), vec![1]);
}

#[test]
fn iou_and_detection_loss() {
    let a = Tensor::new(
        &[
            [0f32, 0.0, 0.0, 1.0, 1.0, 1.0],
            [0.0, 0.0, 0.0, 1.0, 1.0, 1.0],
        ],
        &Device::Cpu,
    )
    .unwrap();
    let b = Tensor::new(
        &[
            [0f32, 0.0, 0.0, 1.0, 1.0, 1.0],
            [0.5, 0.0, 0.0, 1.0, 1.0, 1.0],
        ],
        &Device::Cpu,
    )
    .unwrap();
    let iou = iou_3d(&a, &b).unwrap().to_vec1::<f32>().unwrap();
    assert!(
        (iou[0] - 1.0).abs() < 1e-6 && (iou[1] - 1.0 / 3.0).abs() < 1e-6,
        "{iou:?}"
    );
    assert!(
        (crate::data::iou_3d_plain(
            &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0],
            &[0.5, 0.0, 0.0, 1.0, 1.0, 1.0]
        ) - 1.0 / 3.0)
            .abs()
            < 1e-6
    );
    // GIoU: equal boxes 1; unit cubes 1 m apart along x: IoU 0, hull 3 x 1 x 1, union 2, so
    // GIoU = 0 − (3 − 2) / 3 = −1/3 — and it has a gradient.
    let far = Tensor::new(&[[2f32, 0.0, 0.0, 1.0, 1.0, 1.0]], &Device::Cpu).unwrap();
    let unit = Tensor::new(&[[0f32, 0.0, 0.0, 1.0, 1.0, 1.0]], &Device::Cpu).unwrap();
    let g = giou_3d(&far, &unit).unwrap().to_vec1::<f32>().unwrap();
    assert!((g[0] + 1.0 / 3.0).abs() < 1e-5, "{g:?}");
    assert!((giou_3d(&unit, &unit).unwrap().to_vec1::<f32>().unwrap()[0] - 1.0).abs() < 1e-5);
    let v = candle_core::Var::from_tensor(&far).unwrap();
    let grads = giou_3d(v.as_tensor(), &unit)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let gx = grads.get(v.as_tensor()).unwrap().to_vec2::<f32>().unwrap()[0][0];
    assert!(
        gx < 0.0,
        "moving the far box toward the other raises GIoU: {gx}"
    );
    // Query 1 predicts the ground-truth box exactly: it is matched, L1 0, IoU term 0.
    let logits = Tensor::new(&[[0f32, 0.0, 0.0], [0.0, 5.0, 0.0]], &Device::Cpu).unwrap();
    let boxes = Tensor::new(
        &[
            [3f32, 3.0, 3.0, 0.1, 0.1, 0.1],
            [1.0, 2.0, 3.0, 0.5, 0.5, 0.5],
        ],
        &Device::Cpu,
    )
    .unwrap();
    let (cls, l1, iou) = detection_loss(
        &logits,
        &boxes,
        &[1],
        &[[1.0, 2.0, 3.0, 0.5, 0.5, 0.5]],
        &DetectionWeights::default(),
    )
    .unwrap();
    assert!(scalar(&l1).abs() < 1e-6 && scalar(&iou).abs() < 1e-6);
    assert!(scalar(&cls) > 0.0 && scalar(&cls).is_finite());
}

/// The camera loss on hand-made poses: zero at the truth; the identity pose against a view
/// turned 90° about y and moved 1 m along x is the mean translation error plus the mean
/// quaternion error, averaged over the two views.
#[test]
fn camera_loss_of_a_known_rotation() {
    use crate::model::camera_head::IDENTITY_POSE;
    let half = std::f32::consts::FRAC_1_SQRT_2;
    let turned = [1.0, 0.0, 0.0, half, 0.0, half, 0.0];
    let dev = Device::Cpu;
    let pred = Tensor::new(&[[IDENTITY_POSE, IDENTITY_POSE]], &dev).unwrap();
    let target = Tensor::new(&[[IDENTITY_POSE, turned]], &dev).unwrap();
    let loss = |p: &Tensor, t: &Tensor| {
        crate::train::losses::camera_loss(p, t)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    // Translation: (1/3 m) / 2 views; quaternion: ((1 − 1/√2) + 1/√2) / 4 / 2 views.
    let expected = (1.0 / 3.0) / 2.0 + 0.25 / 2.0;
    assert!((loss(&pred, &target) - expected).abs() < 1e-5);
    assert_eq!(loss(&target, &target), 0.0);
}

#[test]
fn depth_loss_and_schedule() {
    let gt = Tensor::new(&[[1f32, 2.0, 0.0]], &Device::Cpu).unwrap();
    let conf = Tensor::new(&[[1f32, 1.0, 1.0]], &Device::Cpu).unwrap();
    assert!(
        scalar(&depth_loss(&gt.clamp(0.5, 10.0).unwrap(), &conf, &gt, 0.1).unwrap()).abs() < 1e-6
    );
    let double = Tensor::new(&[[2f32, 4.0, 7.0]], &Device::Cpu).unwrap();
    let l = scalar(&depth_loss(&double, &conf, &gt, 0.1).unwrap());
    assert!((l - 2f32.ln()).abs() < 1e-5, "{l}");
    assert!((learning_rate(0, 100, 10, 1.0, 0.1) - 0.1).abs() < 1e-9);
    assert!((learning_rate(9, 100, 10, 1.0, 0.1) - 1.0).abs() < 1e-9);
    assert!((learning_rate(100, 100, 10, 1.0, 0.1) - 0.1).abs() < 1e-9);
    assert!((learning_rate(55, 100, 10, 1.0, 0.0) - 0.5).abs() < 1e-9);
}

#[test]
fn average_precision_matches_hand_computation() {
    // Recall/precision points (0.5, 1), (0.5, 0.5), (1, 2/3): AP = 0.5·1 + 0.5·2/3.
    let ap = average_precision(vec![(0.9, true), (0.8, false), (0.7, true)], 2);
    assert!((ap - 0.833_333).abs() < 1e-5, "{ap}");
    assert_eq!(average_precision(vec![], 3), 0.0);
}

/// Four generated rooms, two 16² views each, three questions per category and room.
pub(crate) fn tiny_dataset(dir: &std::path::Path) -> Dataset {
    let scenes = dir.join("scenes");
    for i in 0..4 {
        crate::scene::procgen::generate(21, i)
            .write(&scenes, crate::scene::procgen::GenFormat::ScanNet)
            .unwrap();
    }
    let out = dir.join("data");
    build(
        &scenes,
        &out,
        &BuildOptions {
            views: 2,
            size: 16,
            per_category: 3,
            ..Default::default()
        },
        |_, _, _| {},
    )
    .unwrap();
    Dataset::open(&out).unwrap()
}

fn tiny_cfg(vocab: usize) -> ModelConfig {
    ModelConfig::tiny(vocab, 16, 8)
}

/// A 200-token tokenizer of the dataset's training questions and answers.
pub(crate) fn tokenizer(ds: &Dataset) -> SpatiaTokenizer {
    let qs = ds.questions(crate::data::Split::Train).unwrap();
    SpatiaTokenizer::train(
        qs.iter()
            .flat_map(|q| [q.question.clone(), q.answer.clone()]),
        200,
    )
    .unwrap()
}

/// Settings for the tiny runs: 6 questions per step, a checkpoint every 3 steps.
fn tiny_train_config(steps: usize) -> TrainConfig {
    TrainConfig {
        steps,
        lr: 3e-3,
        warmup: 2,
        questions_per_step: 6,
        eval_every: 0,
        checkpoint_every: 3,
        log_every: 1,
        ..Default::default()
    }
}

fn trainer(
    ds: &Dataset,
    tk: &SpatiaTokenizer,
    out: &std::path::Path,
    steps: usize,
    resume: bool,
) -> Trainer {
    let tk = tk.clone();
    let cfg = tiny_train_config(steps);
    Trainer::new(
        tiny_cfg(tk.vocab_size()),
        tk,
        cfg,
        ds.clone(),
        out,
        resume,
        &Device::Cpu,
    )
    .unwrap()
}

fn weights(t: &Trainer) -> Vec<f32> {
    let dir = t.checkpoint().unwrap();
    let w = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let mut names: Vec<&String> = w.keys().collect();
    names.sort();
    names
        .iter()
        .flat_map(|n| w[*n].flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}

#[test]
fn training_lowers_the_loss_and_resume_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let (tx, rx) = crossbeam_channel::bounded(1000);
    let cancel = Arc::new(AtomicBool::new(false));
    // Loss drops over 40 steps on one repeated batch.
    let tk = tokenizer(&ds);
    let mut t = trainer(&ds, &tk, &dir.path().join("fit"), 40, false);
    let batch = t.batch_for(0).unwrap();
    let before = scalar(&t.losses(&batch).unwrap().1["answer_ce"]);
    t.run(&tx, &cancel).unwrap();
    let after = scalar(&t.losses(&batch).unwrap().1["answer_ce"]);
    assert!(after < 0.7 * before, "answer loss {before} -> {after}");
    let events: Vec<TrainEvent> = rx.try_iter().collect();
    assert!(matches!(
        events.first(),
        Some(TrainEvent::Started { step: 0, total: 40 })
    ));
    assert!(matches!(
        events.last(),
        Some(TrainEvent::Finished { step: 40 })
    ));
    let steps = events
        .iter()
        .filter(|e| matches!(e, TrainEvent::Step { .. }))
        .count();
    assert_eq!(steps, 40);
    if let Some(TrainEvent::Step {
        losses, weights, ..
    }) = events.iter().find(|e| matches!(e, TrainEvent::Step { .. }))
    {
        for k in [
            "answer_ce",
            "depth",
            "det_class",
            "det_l1",
            "det_iou",
            "total",
        ] {
            assert!(losses.contains_key(k), "{k}");
        }
        assert_eq!(weights.len(), 3);
    }
    // The trained model evaluates on the validation scene: every question scored, depth and
    // detection measured.
    let report = t.evaluate().unwrap();
    for k in ["depth_abs_rel", "depth_delta1", "map25"] {
        assert!(report.get(k).is_some_and(|v| v.is_finite()), "{k}");
    }
    let loaded =
        crate::model::load_model(&dir.path().join("fit/checkpoint"), &Device::Cpu).unwrap();
    let full = crate::eval::evaluate(
        &loaded,
        &ds,
        &[crate::data::Split::Val],
        &Default::default(),
        None,
    )
    .unwrap();
    let n: usize = full
        .categories
        .values()
        .chain(full.held_out.values())
        .map(|c| c.n)
        .sum();
    let val_questions = ds
        .scenes(crate::data::Split::Val)
        .iter()
        .map(|k| ds.load(crate::data::Split::Val, k).unwrap().1.len())
        .sum::<usize>();
    assert_eq!(n, val_questions);
    // Per wording: every generated question has its template, so the per-template counts add
    // up to the same total, and each template's correct answers to its category's.
    assert_eq!(full.by_template.values().map(|c| c.n).sum::<usize>(), n);
    let correct = |c: &crate::eval::CategoryScore| (c.accuracy * c.n as f32).round() as usize;
    assert_eq!(
        full.by_template.values().map(correct).sum::<usize>(),
        full.categories
            .values()
            .chain(full.held_out.values())
            .map(correct)
            .sum::<usize>()
    );
    assert!(full.by_template.keys().any(|t| t.contains(".h")));
    assert_eq!(
        full.depth.views,
        2 * ds.scenes(crate::data::Split::Val).len()
    );
    assert!(full.depth.abs_rel > 0.0 && full.latency_ms > 0.0 && full.params > 0);
    // The blind baseline answers every seen-wording question again with another scene's
    // tokens, and those tokens change what the model says.
    let splits = [crate::data::Split::Train, crate::data::Split::Val];
    let blind = crate::eval::evaluate(
        &loaded,
        &ds,
        &splits,
        &crate::eval::EvalOptions {
            blind: true,
            max_scenes: None,
            categories: Vec::new(),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    assert!(blind.blind_method.is_some() && !blind.blind.is_empty());
    for (k, c) in &blind.categories {
        assert_eq!(blind.blind[k].n, c.n, "{k}");
    }
    let keys: Vec<(crate::data::Split, String)> = splits
        .iter()
        .flat_map(|&s| ds.scenes(s).iter().map(move |k| (s, k.clone())))
        .collect();
    let (shard_a, qs) = ds.load(keys[0].0, &keys[0].1).unwrap();
    let (shard_b, _) = ds.load(keys[1].0, &keys[1].1).unwrap();
    let own = loaded
        .encode(&crate::model::ViewBatch::from_shard(&shard_a))
        .unwrap();
    let other = loaded
        .encode(&crate::model::ViewBatch::from_shard(&shard_b))
        .unwrap();
    let q = qs.iter().find(|q| q.is_yes_no()).unwrap();
    let p_own = loaded
        .answer(&own, &q.question, false)
        .unwrap()
        .p_yes
        .unwrap();
    let p_other = loaded
        .answer(&other, &q.question, false)
        .unwrap()
        .p_yes
        .unwrap();
    assert!((p_own - p_other).abs() > 1e-6, "{p_own} {p_other}");
    let log = std::fs::read_to_string(dir.path().join("fit/train_log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 40);

    // 6 steps straight vs 3 steps, a "kill", and --resume to 6.
    let mut straight = trainer(&ds, &tk, &dir.path().join("a"), 6, false);
    straight.run(&tx, &cancel).unwrap();
    // Initialisation depends only on the seed.
    let init = |name: &str| weights(&trainer(&ds, &tk, &dir.path().join(name), 6, false));
    assert!(init("i1") == init("i2"));
    let mut first = trainer(&ds, &tk, &dir.path().join("b"), 6, false);
    first.run_until(4, &tx, &cancel).unwrap(); // checkpoint at 3, killed during step 4
    drop(first);
    let mut resumed = trainer(&ds, &tk, &dir.path().join("b"), 6, true);
    assert_eq!(resumed.step, 3);
    resumed.run(&tx, &cancel).unwrap();
    let (a, b) = (weights(&straight), weights(&resumed));
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-5, "resumed run differs by {diff}");
    // --resume where there is nothing to resume: refused (not a silent fresh start).
    let tk2 = tk.clone();
    let err = Trainer::new(
        tiny_cfg(tk2.vocab_size()),
        tk2,
        tiny_train_config(6),
        ds.clone(),
        &dir.path().join("empty"),
        true,
        &Device::Cpu,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("checkpoint") && err.contains("nothing to resume"),
        "{err}"
    );
    // A truncated optimiser state is a clear error naming the file.
    let opt = dir.path().join("b/checkpoint/optimizer.safetensors");
    let bytes = std::fs::read(&opt).unwrap();
    std::fs::write(&opt, &bytes[..bytes.len() / 3]).unwrap();
    let err = Trainer::new(
        tiny_cfg(tk.vocab_size()),
        tk.clone(),
        TrainConfig::default(),
        ds.clone(),
        &dir.path().join("b"),
        true,
        &Device::Cpu,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("optimizer.safetensors"), "{err}");
    // Cancelling stops at once with a checkpoint.
    let cancel = Arc::new(AtomicBool::new(true));
    let mut c = trainer(&ds, &tk, &dir.path().join("c"), 10, false);
    c.run(&tx, &cancel).unwrap();
    assert_eq!(c.step, 0);
    assert!(checkpoint_dir(&dir.path().join("c")).is_some());
}

#[test]
fn correspondences_see_the_same_point_and_depth_pairs_are_ordered() {
    use super::geometry::{correspondences, depth_order_pairs};
    let (scene, _) = crate::scene::procgen::generate(4, 3).to_scene();
    let opts = BuildOptions {
        views: 4,
        size: 48,
        ..Default::default()
    };
    let shard = crate::data::build::render_shard(&scene, &opts, 3).unwrap();
    let s = 48usize;
    let world = |v: usize, x: usize, y: usize| {
        let k = &shard.intrinsics[v * 9..v * 9 + 9];
        let d = shard.depth[v * s * s + y * s + x];
        let p = glam::Vec3::new(
            (x as f32 - k[2]) / k[0] * d,
            (y as f32 - k[5]) / k[4] * d,
            d,
        );
        (shard.camera_from_world(v).inverse().transform_point3(p), d)
    };
    // A view with itself: every pixel with depth maps to itself.
    let same = correspondences(&shard, 0, 0, 4);
    let with_depth = (0..s)
        .step_by(4)
        .flat_map(|y| (0..s).step_by(4).map(move |x| (x, y)))
        .filter(|&(x, y)| shard.depth[y * s + x] > 0.0)
        .count();
    assert_eq!(same.len(), with_depth);
    assert!(same.iter().all(|(a, b)| a == b));
    // Other views: corresponding pixels see the same 3D point (within a pixel's footprint).
    let mut found = 0;
    for a in 0..4 {
        for b in 0..4 {
            if a == b {
                continue;
            }
            for ((xa, ya), (xb, yb)) in correspondences(&shard, a, b, 2) {
                let (pa, d) = world(a, xa, ya);
                let (pb, _) = world(b, xb, yb);
                // Rounding to b's pixel grid moves a point by up to a pixel footprint, more on
                // surfaces seen at a grazing angle.
                assert!(pa.distance(pb) < 0.15 * d.max(1.0), "{pa} vs {pb}");
                found += 1;
            }
        }
    }
    assert!(found > 50, "{found} correspondences");
    let order = depth_order_pairs(&shard, 1, 50, 7);
    assert_eq!(order.len(), 50);
    for (i, j, sign) in order {
        let (di, dj) = (shard.depth[s * s + i], shard.depth[s * s + j]);
        assert_eq!(sign > 0.0, di > dj);
    }
}

#[test]
fn feature_and_geometric_losses_match_hand_computations() {
    let dev = Device::Cpu;
    let a = Tensor::new(&[[1f32, 0.0], [0.0, 2.0]], &dev).unwrap();
    let b = Tensor::new(&[[3f32, 0.0], [1.0, 0.0]], &dev).unwrap();
    // Row 0: cos = 1 → 0; row 1: cos = 0 → 1; mean 0.5.
    assert!((scalar(&feature_cosine(&a, &b).unwrap()) - 0.5).abs() < 1e-6);
    // Cost volume of a against b at tau 1: row 0 sims [1, 1] → ln 0.5 both; row 1 sims [0, 0].
    let cv = cost_volume(&a, &b, 1.0).unwrap().to_vec2::<f32>().unwrap();
    for row in &cv {
        for v in row {
            assert!((v - 0.5f32.ln()).abs() < 1e-6, "{cv:?}");
        }
    }
    // Against itself at tau 0.5: row 0 sims [1, 0] / 0.5 = [2, 0]: log-softmax [-0.126928, -2.126928].
    let own = cost_volume(&a, &a, 0.5).unwrap().to_vec2::<f32>().unwrap();
    assert!((own[0][0] + 0.126_928).abs() < 1e-5 && (own[0][1] + 2.126_928).abs() < 1e-5);
    let s = cost_volume(&a, &b, 1.0).unwrap();
    let t = cost_volume(&a, &a, 0.5).unwrap();
    assert!(scalar(&cost_volume_kl(&t, &t).unwrap()).abs() < 1e-6);
    // KL(t ‖ s) row 0 = p·(log p − ln 0.5) with p = [0.880797, 0.119203]; both rows alike.
    let p = [0.880_797f32, 0.119_203];
    let kl0: f32 = p.iter().map(|&q| q * (q.ln() - 0.5f32.ln())).sum();
    assert!((scalar(&cost_volume_kl(&s, &t).unwrap()) - kl0).abs() < 1e-5);
    // Matching: pair (0 → 0) at tau 0.5 has logits [2, 2] against b → CE ln 2.
    let nce = scalar(&correspondence_nce(&a, &b, &[(0, 0)], 0.5).unwrap());
    assert!((nce - 2f32.ln()).abs() < 1e-5, "{nce}");
    // Pair (0 → 0) of a with itself: logits [2, 0] → CE = ln(1 + e^-2) = 0.126928.
    let nce = scalar(&correspondence_nce(&a, &a, &[(0, 0)], 0.5).unwrap());
    assert!((nce - 0.126_928).abs() < 1e-5, "{nce}");
    assert_eq!(scalar(&correspondence_nce(&a, &a, &[], 0.5).unwrap()), 0.0);
    // Depth order: depths [1, e]; pair (1, 0, +1) has margin 1 → ln(1 + e^-1) = 0.313262;
    // the wrong order (0, 1, +1) → ln(1 + e) = 1.313262.
    let d = t1(&[1.0, std::f32::consts::E]);
    assert!((scalar(&depth_rank(&d, &[(1, 0, 1.0)]).unwrap()) - 0.313_262).abs() < 1e-5);
    assert!((scalar(&depth_rank(&d, &[(0, 1, 1.0)]).unwrap()) - 1.313_262).abs() < 1e-5);
}

/// A tiny teacher folder (wider than the tiny student), trained a few steps.
fn tiny_teacher(ds: &Dataset, tk: &SpatiaTokenizer, out: &std::path::Path) -> std::path::PathBuf {
    let mut cfg = tiny_cfg(tk.vocab_size());
    cfg.encoder.embed_dim = 24;
    cfg.encoder.num_heads = 2;
    cfg.decoder.hidden_size = 48;
    let tc = TrainConfig {
        steps: 4,
        lr: 3e-3,
        warmup: 1,
        questions_per_step: 6,
        eval_every: 0,
        checkpoint_every: 4,
        ..Default::default()
    };
    let mut t = Trainer::new(cfg, tk.clone(), tc, ds.clone(), out, false, &Device::Cpu).unwrap();
    let (tx, _rx) = crossbeam_channel::bounded(100);
    t.run(&tx, &Arc::new(AtomicBool::new(false))).unwrap();
    out.join("checkpoint")
}

fn distiller(
    teacher: &std::path::Path,
    cache: &std::path::Path,
    answers: Option<&std::path::Path>,
) -> Result<Distiller, crate::model::ModelError> {
    let loaded = crate::model::load_model(teacher, &Device::Cpu)?;
    let mut settings = DistillSettings::new(teacher.to_path_buf());
    settings.teacher_answers = answers.map(|p| p.to_path_buf());
    // 16-pixel views: a denser correspondence grid than the default's 8-pixel stride.
    settings.correspondence_stride = 2;
    let student = tiny_cfg(loaded.tokenizer.vocab_size());
    Distiller::new(settings, loaded, &student, cache, 0, &Device::Cpu)
}

fn distill_trainer(
    ds: &Dataset,
    d: Distiller,
    out: &std::path::Path,
    steps: usize,
    resume: bool,
) -> Trainer {
    let student = tiny_cfg(d.teacher.tokenizer.vocab_size());
    let cfg = tiny_train_config(steps);
    Trainer::new_distill(student, cfg, ds.clone(), out, resume, &Device::Cpu, d).unwrap()
}

#[test]
fn distillation_caches_the_teacher_learns_from_it_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let teacher = tiny_teacher(&ds, &tk, &dir.path().join("teacher"));
    let out = dir.path().join("student");
    let cache = out.join("teacher_cache");
    let mut t = distill_trainer(
        &ds,
        distiller(&teacher, &cache, None).unwrap(),
        &out,
        40,
        false,
    );
    assert_eq!(t.tasks(), DISTILL_TASKS);
    let batch = t.batch_for(0).unwrap();
    let before = t.losses(&batch).unwrap().1;
    for name in [
        "answer_ce",
        "answer_kl",
        "depth",
        "depth_distill",
        "box_distill",
        "feature",
        "geo_match",
        "geo_cost_volume",
        "geo_depth_order",
        "det_class",
    ] {
        let v = scalar(&before[name]);
        assert!(v.is_finite() && v >= 0.0, "{name} = {v}");
    }
    assert!(
        scalar(&before["answer_kl"]) > 0.0 && scalar(&before["geo_match"]) > 0.0,
        "{before:?}"
    );
    // The first step's scene is cached once; reading it back equals computing it.
    let files = |ext: &str| {
        std::fs::read_dir(&cache)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == ext)
            })
            .count()
    };
    assert_eq!(files("json"), 2, "teacher.json + one scene index");
    let d = distiller(&teacher, &cache, None).unwrap();
    let read = d.targets(&batch.key, &batch.shard, &batch.all).unwrap();
    let fresh = d.compute(&batch.shard, &batch.all).unwrap();
    let diff = |a: &Tensor, b: &Tensor| scalar(&(a - b).unwrap().abs().unwrap().max_all().unwrap());
    assert!(diff(&read.patch_tokens, &fresh.patch_tokens) < 1e-2);
    assert!(diff(&read.answer_logits, &fresh.answer_logits) < 2e-2);
    assert_eq!(diff(&read.depth, &fresh.depth), 0.0);
    assert_eq!(read.answers, fresh.answers);

    let (tx, rx) = crossbeam_channel::bounded(1000);
    t.run(&tx, &Arc::new(AtomicBool::new(false))).unwrap();
    let after = t.losses(&batch).unwrap().1;
    for name in ["answer_kl", "feature", "answer_ce"] {
        let (b, a) = (scalar(&before[name]), scalar(&after[name]));
        assert!(a < 0.8 * b, "{name}: {b} -> {a}");
    }
    // Every training scene was cached once, and the weights of all five tasks were reported.
    let train_scenes = ds.scenes(crate::data::Split::Train).len();
    assert_eq!(files("json"), 1 + train_scenes);
    // Filling a fresh cache up front computes each training scene once.
    let filler = distill_trainer(
        &ds,
        distiller(&teacher, &dir.path().join("fresh"), None).unwrap(),
        &dir.path().join("fill"),
        1,
        false,
    );
    let mut seen = 0;
    assert_eq!(
        filler.fill_teacher_cache(|d, _| seen = d).unwrap(),
        train_scenes
    );
    assert_eq!(seen, train_scenes);
    assert_eq!(filler.fill_teacher_cache(|_, _| {}).unwrap(), 0);
    let step = rx
        .try_iter()
        .find_map(|e| match e {
            TrainEvent::Step { weights, .. } => Some(weights),
            _ => None,
        })
        .unwrap();
    assert_eq!(step.len(), 5);

    // Resume: 3 steps + kill + resume to 6 equals 6 uninterrupted steps.
    let straight_dir = dir.path().join("straight");
    let mut straight = distill_trainer(
        &ds,
        distiller(&teacher, &cache, None).unwrap(),
        &straight_dir,
        6,
        false,
    );
    let cancel = Arc::new(AtomicBool::new(false));
    straight.run(&tx, &cancel).unwrap();
    let killed_dir = dir.path().join("killed");
    let mut first = distill_trainer(
        &ds,
        distiller(&teacher, &cache, None).unwrap(),
        &killed_dir,
        6,
        false,
    );
    first.run_until(3, &tx, &cancel).unwrap();
    drop(first);
    let mut resumed = distill_trainer(
        &ds,
        distiller(&teacher, &cache, None).unwrap(),
        &killed_dir,
        6,
        true,
    );
    assert_eq!(resumed.step, 3);
    resumed.run(&tx, &cancel).unwrap();
    let (a, b) = (weights(&straight), weights(&resumed));
    let max = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(max < 1e-6, "resumed distillation differs by {max}");
    let pa = std::fs::read(straight_dir.join("checkpoint/distill.safetensors")).unwrap();
    let pb = std::fs::read(killed_dir.join("checkpoint/distill.safetensors")).unwrap();
    assert_eq!(pa, pb, "the feature projection resumes too");

    // A distillation checkpoint can't be resumed as training on ground truth alone.
    let err = Trainer::new(
        tiny_cfg(tk.vocab_size()),
        tk.clone(),
        TrainConfig::default(),
        ds.clone(),
        &straight_dir,
        true,
        &Device::Cpu,
    );
    let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("distillation settings"), "{msg}");
}

#[test]
fn teacher_caches_and_answer_files_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let teacher = tiny_teacher(&ds, &tk, &dir.path().join("teacher"));
    let cache = dir.path().join("cache");
    let d = distiller(&teacher, &cache, None).unwrap();
    let key = ds.scenes(crate::data::Split::Train)[0].clone();
    let (shard, qs) = ds.load(crate::data::Split::Train, &key).unwrap();
    d.targets(&key, &shard, &qs).unwrap();
    // A truncated cache file names itself.
    let st = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .unwrap();
    let bytes = std::fs::read(&st).unwrap();
    std::fs::write(&st, &bytes[..bytes.len() / 2]).unwrap();
    let msg = d.targets(&key, &shard, &qs).unwrap_err().to_string();
    assert!(
        msg.contains(&st.display().to_string()) && msg.contains("teacher cache"),
        "{msg}"
    );

    // A cache made by another teacher is refused.
    let other = tiny_teacher(&ds, &tk, &dir.path().join("other"));
    std::fs::write(other.join("model.safetensors"), {
        let mut b = std::fs::read(other.join("model.safetensors")).unwrap();
        let n = b.len();
        b[n - 1] ^= 1;
        b
    })
    .unwrap();
    let msg = distiller(&other, &cache, None).err().unwrap().to_string();
    assert!(msg.contains("another teacher"), "{msg}");

    // Answer files: malformed lines and ragged logits name the file and line.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"scene\":\"a\",\"question\":\"q\",\"answer\":\"yes\"}\n{not json}\n",
    )
    .unwrap();
    let msg = TeacherAnswers::read(&bad).unwrap_err().to_string();
    assert!(msg.contains("bad.jsonl") && msg.contains("line 2"), "{msg}");
    std::fs::write(
        &bad,
        "{\"scene\":\"a\",\"question\":\"q\",\"answer\":\"yes\",\"logits\":[[1,2],[3]]}\n",
    )
    .unwrap();
    let msg = TeacherAnswers::read(&bad).unwrap_err().to_string();
    assert!(
        msg.contains("line 1") && msg.contains("equal-length"),
        "{msg}"
    );

    // A file answering every training question "yes" drives an answer term; logits of the
    // wrong width are refused at the step that uses them, naming the line.
    let good = dir.path().join("answers.jsonl");
    let all = ds.questions(crate::data::Split::Train).unwrap();
    let lines: String = all
        .iter()
        .map(|q| {
            serde_json::json!({"scene": q.scene, "question": q.question, "answer": "yes"})
                .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(&good, lines).unwrap();
    assert_eq!(TeacherAnswers::read(&good).unwrap().len(), {
        let mut k: Vec<_> = all.iter().map(|q| (&q.scene, &q.question)).collect();
        k.sort();
        k.dedup();
        k.len()
    });
    let t = distill_trainer(
        &ds,
        distiller(&teacher, &dir.path().join("c2"), Some(&good)).unwrap(),
        &dir.path().join("s2"),
        5,
        false,
    );
    let terms = t.losses(&t.batch_for(0).unwrap()).unwrap().1;
    let file = scalar(&terms["answer_file"]);
    assert!(file.is_finite() && file > 0.0, "{file}");
    assert_eq!(
        scalar(&terms["answer_kl"]),
        0.0,
        "file answers replace the teacher's"
    );
    let q = &all[0];
    std::fs::write(
        &good,
        serde_json::json!({"scene": q.scene, "question": q.question, "answer": "yes", "logits": [[0.0, 1.0]]}).to_string(),
    )
    .unwrap();
    let t = distill_trainer(
        &ds,
        distiller(&teacher, &dir.path().join("c3"), Some(&good)).unwrap(),
        &dir.path().join("s3"),
        5,
        false,
    );
    let train = crate::data::Split::Train;
    let key = ds
        .scenes(train)
        .iter()
        .find(|k| {
            ds.load(train, k)
                .unwrap()
                .1
                .iter()
                .any(|x| x.question == q.question)
        })
        .unwrap()
        .clone();
    let mut batch = t.batch_for(0).unwrap();
    let (shard, all_q) = ds.load(train, &key).unwrap();
    batch.key = key;
    batch.shard = shard;
    batch.questions = all_q
        .iter()
        .filter(|x| x.question == q.question)
        .cloned()
        .collect();
    batch.all = all_q;
    let msg = t.losses(&batch).unwrap_err().to_string();
    assert!(
        msg.contains("answers.jsonl") && msg.contains("line 1") && msg.contains("vocabulary"),
        "{msg}"
    );
}

#[test]
fn an_object_token_teacher_teaches_through_its_object_slots() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let cfg = crate::model::ModelConfig {
        scene_input: crate::model::config::SceneInput::Objects,
        latent_probes: true,
        latent_pointers: true,
        object_context: true,
        anchor_pointers: true,
        hidden_cot_tokens: 3,
        ..tiny_cfg(tk.vocab_size())
    };
    let vm = candle_nn::VarMap::new();
    let vb = crate::model::nn::seeded_var_builder(&vm, 1, &Device::Cpu);
    crate::model::SpatialVlm::new(&cfg, vb).unwrap();
    let teacher = dir.path().join("objects_teacher");
    crate::model::save_model(&teacher, &cfg, &vm, &tk, candle_core::DType::F32).unwrap();
    let d = distiller(&teacher, &dir.path().join("cache"), None).unwrap();
    let train = crate::data::Split::Train;
    let key = ds.scenes(train)[0].clone();
    let (shard, questions) = ds.load(train, &key).unwrap();
    let targets = d.targets(&key, &shard, &questions).unwrap();
    // The cached answer targets are the teacher's own answers: the row that predicts each
    // question's first answer token equals the first-token logits of its generation.
    let t = &d.teacher;
    let scene = t
        .encode(&crate::model::ViewBatch::from_shard(&shard))
        .unwrap();
    let mut checked = 0;
    for q in questions.iter().take(6) {
        let (first, rows) = targets.answers[&(q.question.clone(), q.answer.clone())];
        assert_eq!(rows, tk.encode(&q.answer).unwrap().len() + 1);
        let ids = tk.encode(&q.question).unwrap();
        let g = t
            .model
            .generate(&scene, &ids, (tk.bos, tk.ans, tk.eos), false)
            .unwrap();
        let cached = targets.answer_logits.get(first).unwrap();
        let own = Tensor::new(g.first_logits.as_slice(), &Device::Cpu).unwrap();
        let diff = crate::model::tests::max_diff(&cached, &own);
        assert!(diff < 1e-3, "{}: {diff}", q.question);
        checked += 1;
    }
    assert!(checked > 0);
    // And a distillation step runs on them, every term finite.
    let trainer = distill_trainer(&ds, d, &dir.path().join("student"), 2, false);
    let terms = trainer.losses(&trainer.batch_for(0).unwrap()).unwrap().1;
    let kl = scalar(&terms["answer_kl"]);
    assert!(kl.is_finite() && kl > 0.0, "answer_kl {kl}");
}
