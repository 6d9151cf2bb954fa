//! The trained weights shipped in `models/` (docs/TRAINING.md says how they were made): they
//! load, meet the size targets, and keep what they measure on rooms they never saw.

use std::path::Path;

use spatia::data::Split;
use spatia::data::build::{BuildOptions, build};
use spatia::eval::{EvalOptions, evaluate};
use spatia::model::{default_model_dir, load_model};
use spatia::questions::QuestionCategory;
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

/// Rooms from a seed the training data never used (4242), in the training data's layout, built
/// into a dataset in `dir`.
fn unseen_rooms(dir: &Path, rooms: u32) -> spatia::data::Dataset {
    let scenes = dir.join("scenes");
    for i in 0..rooms {
        generate(4242, i)
            .write(&scenes, GenFormat::ScanNet)
            .unwrap();
    }
    let data = dir.join("data");
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
    spatia::data::Dataset::open(&data).unwrap()
}

/// The shipped teacher answers proximity and contact from the scene on rooms it never saw.
/// Measured (docs/RESULTS.md, eighteenth session, 150 more steps on proximity and contact):
/// proximity 98.8%, contact 98.0% on 100 test rooms, blind 49.5% / 59.2%; on these 16 rooms,
/// asked mostly in the new paraphrases, 98.7% against 46.1% blind, contact 8 / 8. The floors here sit under
/// those by more than the interval of these few rooms.
#[test]
fn shipped_teacher_answers_proximity_and_contact_from_the_scene() {
    let dir = tempfile::tempdir().unwrap();
    let ds = unseen_rooms(dir.path(), 16);
    let teacher = load_model(&default_model_dir("teacher"), &candle_core::Device::Cpu).unwrap();
    let options = EvalOptions {
        blind: true,
        max_scenes: None,
        categories: vec![QuestionCategory::Proximity, QuestionCategory::Contact],
        ..Default::default()
    };
    let report = evaluate(&teacher, &ds, &Split::ALL, &options, None).unwrap();
    let (prox, contact) = (
        &report.categories["proximity"],
        &report.categories["contact"],
    );
    eprintln!(
        "teacher on 16 unseen rooms: proximity {:.3} n {} (blind {:.3}), contact {:.3} n {} \
         (blind {:.3})",
        prox.accuracy,
        prox.n,
        report.blind["proximity"].accuracy,
        contact.accuracy,
        contact.n,
        report.blind["contact"].accuracy
    );
    assert!(prox.n >= 200, "{} proximity questions", prox.n);
    assert!(
        contact.n >= MIN_TEACHER_CONTACT_N,
        "{} contact questions",
        contact.n
    );
    assert!(prox.accuracy >= 0.9, "proximity {}", prox.accuracy);
    assert!(contact.accuracy >= 0.75, "contact {}", contact.accuracy);
    // The answers come from the scene: hidden, the same questions fall to chance.
    assert!(report.blind["proximity"].accuracy <= 0.65);
    assert!(prox.accuracy - report.blind["proximity"].accuracy >= 0.25);
    // Where the slots looked: the objects the question names (by name or by relation).
    let grounded = &report.grounding["proximity, by name"];
    assert!(grounded.share >= 0.9, "grounding {}", grounded.share);
}

/// Contact questions in the teacher test's 16 rooms (deterministic: seed 4242).
const MIN_TEACHER_CONTACT_N: usize = 8;

/// The shipped student on rooms from a seed the training data never used, under the grounded
/// protocol (only objects the views show, answers balanced within every wording group, yes/no by
/// the first-position decision, a blind baseline). It is the object student with the semantic
/// pixel branch after 6,450 steps of stage 1 on the CPU and 1,000 on a GPU, its decoder trained
/// with a quarter of its questions over the annotated objects and, since the sixteenth session,
/// every training paraphrase of a relation (`--reword`; docs/RESULTS.md "Paraphrases":
/// proximity 85.3% on 100 test rooms, 79.1% on rooms of seed 7 asked mostly in the new
/// paraphrases, blind ~50%). Since the paraphrases were added, three quarters of the proximity
/// questions generated here use them: on these 20 rooms it answers 81.3% against 47.1% blind,
/// n 278, where the student before it answers 65.5% (87.4% on the questions of before); since
/// it looks again for named objects it found nothing of (eighteenth session), 82.7% against
/// 47.8% blind, 114 of its questions answered with an object found that way. The
/// floors sit under those measurements with a margin: it answers from the scene, well above its
/// blind baseline.
#[test]
fn shipped_student_on_unseen_rooms_under_the_grounded_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let ds = unseen_rooms(dir.path(), 20);
    let student = load_model(&default_model_dir("student"), &candle_core::Device::Cpu).unwrap();
    let options = EvalOptions {
        blind: true,
        max_scenes: None,
        categories: Vec::new(),
        ..Default::default()
    };
    let report = evaluate(&student, &ds, &Split::ALL, &options, None).unwrap();
    let prox = &report.categories["proximity"];
    eprintln!(
        "student on 20 unseen rooms: proximity {:.3} n {} (blind {:.3}), answers of the asked \
         kind {:.3} (free decoding {:.3}), depth AbsRel {:.3}",
        prox.accuracy,
        prox.n,
        report.blind["proximity"].accuracy,
        report.answer_kind_ok,
        report.answer_kind_ok_free,
        report.depth.abs_rel
    );
    assert!(prox.n >= 30, "{} proximity questions", prox.n);
    assert_eq!(report.blind["proximity"].n, prox.n);
    // Balanced: chance is one half, and the interval is reported around the accuracy.
    assert!((prox.chance - 0.5).abs() < 0.05, "chance {}", prox.chance);
    assert!(prox.ci95[0] <= prox.accuracy && prox.accuracy <= prox.ci95[1]);
    // It answers from the scene (measured 82.7% against 47.8% blind on these rooms).
    assert!(prox.accuracy >= 0.78, "proximity {}", prox.accuracy);
    assert!(
        prox.accuracy - report.blind["proximity"].accuracy >= 0.30,
        "proximity {} vs blind {}",
        prox.accuracy,
        report.blind["proximity"].accuracy
    );
    // Answers of the asked kind in every category (measured 100% on these rooms, 98.8% before
    // answers were held to the question's form): every yes/no question is answered yes or no,
    // every "how many" a count, every "how far" a length, whatever free decoding said.
    assert!(
        report.answer_kind_ok >= MIN_ANSWER_KIND,
        "{}",
        report.answer_kind_ok
    );
    for (category, kind) in &report.answer_kind {
        assert!(kind.share >= MIN_ANSWER_KIND, "{category}: {}", kind.share);
    }
    for category in ["proximity", "contact"] {
        assert_eq!(report.answer_kind[category].share, 1.0, "{category}");
    }
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
    // Where its errors come from (docs/RESULTS.md "Where the student's errors come from"):
    // every proximity question its slots were scored on falls in exactly one of three cases,
    // and it answers best where the slots pointed at the objects the question names.
    let case = |g: &str| {
        report
            .by_grounding
            .get(&format!("proximity, {g}"))
            .map_or((0, 0.0), |s| (s.n, s.accuracy))
    };
    let (right, wrong, missing) = (
        case("pointed right"),
        case("pointed wrong"),
        case("named object not found"),
    );
    let scored: Vec<_> = ["by name", "by relation"]
        .iter()
        .filter_map(|k| report.grounding.get(&format!("proximity, {k}")))
        .collect();
    assert_eq!(
        right.0 + wrong.0 + missing.0,
        scored.iter().map(|s| s.n).sum::<usize>()
    );
    let pointed: f32 = scored.iter().map(|s| s.share * s.n as f32).sum();
    assert_eq!(right.0, pointed.round() as usize);
    assert!(
        right.1 >= prox.accuracy && right.1 > missing.1,
        "pointed right {right:?}, wrong {wrong:?}, not found {missing:?}"
    );
    // It looks again for what a question names when it found no object of that category
    // (`look_again` in its config; docs/RESULTS.md "Looking again").
    let looked: Vec<(String, usize)> = report
        .looked_again
        .iter()
        .map(|(k, c)| (k.clone(), c.n))
        .collect();
    eprintln!("student answered by looking again: {looked:?}");
    assert!(student.model.cfg.look_again.is_some());
    assert!(
        looked.iter().map(|(_, n)| n).sum::<usize>() >= 1,
        "{looked:?}"
    );
    for (k, n) in &looked {
        assert!(*n <= report.categories[k].n, "{k}: {n}");
    }
    // Depth is metric and roughly right (measured AbsRel 0.175 on these rooms).
    assert!(
        report.depth.abs_rel < 0.19,
        "AbsRel {}",
        report.depth.abs_rel
    );
    assert!(!report.depth.input);
}

/// What the shipped student keeps: the share of answers of the kind the question asks for
/// (measured value in docs/RESULTS.md; this is a floor under it).
const MIN_ANSWER_KIND: f32 = 0.99;
