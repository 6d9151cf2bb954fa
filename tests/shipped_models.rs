//! The trained weights shipped in `models/` (docs/TRAINING.md says how they were made): they
//! load, meet the size targets, and keep what they measure on rooms they never saw.

use std::path::Path;

use spatia::data::Split;
use spatia::data::build::{BuildOptions, build};
use spatia::eval::{EvalOptions, evaluate};
use spatia::model::{default_model_dir, load_model};
use spatia::scene::procgen::{GenFormat, generate};

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

#[test]
fn shipped_models_load_and_meet_the_size_targets() {
    let device = candle_core::Device::Cpu;
    let student = load_model(&default_model_dir("student"), &device).unwrap();
    let teacher = load_model(&default_model_dir("teacher"), &device).unwrap();
    let (ps, pt) = (student.params().unwrap(), teacher.params().unwrap());
    assert!(pt as f64 >= 3.0 * ps as f64, "teacher {pt} vs student {ps}");
    assert_eq!(student.model.cfg.hidden_cot_tokens, 8);
    assert_eq!(
        student.tokenizer.vocab_size(),
        teacher.tokenizer.vocab_size(),
        "the student shares the teacher's tokenizer"
    );
    let total =
        folder_bytes(&default_model_dir("student")) + folder_bytes(&default_model_dir("teacher"));
    assert!(total < 40 << 20, "models/ holds {total} bytes");
}

/// The shipped student on rooms from a seed the training data never used, under the grounded
/// protocol (only objects the views show, answers balanced within every wording group, yes/no by
/// the first-position decision, a blind baseline). Measured on 240 such test rooms
/// (docs/RESULTS.md): it is at its blind baseline — proximity 50.3% vs 50.7% blind, contact
/// 50.8% vs 50.4% — so it does not yet answer from the scene, and no accuracy floor above chance
/// is asserted for these weights (the earlier 55% floor held only through wording priors the
/// balanced questions removed). What these weights do keep is checked: answers of the kind the
/// question asks for, metric depth, and a blind baseline over the same questions.
#[test]
fn shipped_student_on_unseen_rooms_under_the_grounded_protocol() {
    // Rooms from a seed the training data never used, in the training data's layout.
    let dir = tempfile::tempdir().unwrap();
    let scenes = dir.path().join("scenes");
    for i in 0..10 {
        generate(4242, i)
            .write(&scenes, GenFormat::ScanNet)
            .unwrap();
    }
    let data = dir.path().join("data");
    build(
        &scenes,
        &data,
        &BuildOptions {
            views: 4,
            size: 112,
            per_category: 8,
            ..Default::default()
        },
        |_, _, _| {},
    )
    .unwrap();
    let ds = spatia::data::Dataset::open(&data).unwrap();
    let student = load_model(&default_model_dir("student"), &candle_core::Device::Cpu).unwrap();
    let options = EvalOptions {
        blind: true,
        max_scenes: None,
        categories: Vec::new(),
    };
    let report = evaluate(&student, &ds, &Split::ALL, &options, None).unwrap();
    let prox = &report.categories["proximity"];
    assert!(prox.n >= 30, "{} proximity questions", prox.n);
    assert_eq!(report.blind["proximity"].n, prox.n);
    // Balanced: chance is one half, and the interval is reported around the accuracy.
    assert!((prox.chance - 0.5).abs() < 0.05, "chance {}", prox.chance);
    assert!(prox.ci95[0] <= prox.accuracy && prox.accuracy <= prox.ci95[1]);
    // Answers of the asked kind (measured 89.2% on 240 rooms).
    assert!(
        report.answer_kind_ok >= MIN_ANSWER_KIND,
        "{}",
        report.answer_kind_ok
    );
    // Per category, the kinds add up to the total.
    let (ok, n) = report.answer_kind.values().fold((0.0, 0), |(ok, n), s| {
        (ok + s.share as f64 * s.n as f64, n + s.n)
    });
    assert!(n >= prox.n, "{n} questions");
    assert!(
        (ok / n as f64 - report.answer_kind_ok as f64).abs() < 1e-3,
        "{ok} / {n} vs {}",
        report.answer_kind_ok
    );
    // Depth is metric and roughly right (measured AbsRel 0.337 on 240 rooms).
    assert!(
        report.depth.abs_rel < 0.5,
        "AbsRel {}",
        report.depth.abs_rel
    );
    assert!(!report.depth.input);
}

/// What the shipped student keeps: the share of answers of the kind the question asks for
/// (measured value in docs/RESULTS.md; this is a floor under it).
const MIN_ANSWER_KIND: f32 = 0.85;
