use std::collections::HashMap;

use glam::Vec3;

use super::names::{canonical_name, canonical_of};
use super::score::*;
use super::templates::{Kind, TEMPLATES, templates_of};
use super::*;
use crate::scene::Category;
use crate::scene::mesh::TriMesh;
use crate::scene::procgen;
use crate::spatial::direction::{Observer, above};
use crate::spatial::{CONTACT_M, FAR_M, NEAR_M, SpatialScene};
use crate::test_scenes::{room, scene_from_parts};

fn kind_of(q: &Question) -> Kind {
    let id = q.template.as_deref().unwrap();
    TEMPLATES.iter().find(|t| t.id == id).unwrap().kind
}

/// Recomputes a generated question's answer from the relation engine, independently of the
/// generator's own bookkeeping, and checks it.
fn check_answer(sp: &SpatialScene<'_>, q: &Question) {
    let s = sp.scene;
    let obj = |i: usize| s.object(q.objects[i]).unwrap();
    let d = |i: usize, j: usize| sp.distance_m(q.objects[i], q.objects[j]).unwrap();
    let yes = q.answer == "yes";
    let ctx = format!("{}: {:?}", s.name, q);
    if !matches!(
        kind_of(q),
        Kind::Closest | Kind::Farthest | Kind::CloserOfTwo
    ) {
        assert_eq!(q.answer_object, None, "{ctx}");
    }
    match kind_of(q) {
        Kind::Near => assert_eq!(yes, d(0, 1) <= NEAR_M, "{ctx}"),
        Kind::Far => assert_eq!(yes, d(0, 1) >= FAR_M, "{ctx}"),
        Kind::Touch => assert_eq!(yes, d(0, 1) <= CONTACT_M, "{ctx}"),
        Kind::Gap => assert_eq!(yes, d(0, 1) > CONTACT_M, "{ctx}"),
        Kind::On => assert_eq!(yes, sp.on(q.objects[0], q.objects[1]).unwrap(), "{ctx}"),
        Kind::Closest | Kind::Farthest => {
            let a = q.objects[0];
            let others: Vec<u32> = s
                .objects
                .iter()
                .filter(|o| names::names_of(o.category).is_some() && o.id != a)
                .map(|o| o.id)
                .collect();
            let (best, _) = sp.extreme(a, &others, kind_of(q) == Kind::Closest).unwrap();
            assert_eq!(
                q.answer,
                canonical_name(s.object(best).unwrap().category),
                "{ctx}"
            );
            // The answer's object is recorded: one at the extreme distance, of the answer's class.
            let answer = q.answer_object.unwrap();
            assert_eq!(q.answer, canonical_name(s.object(answer).unwrap().category));
            let (da, db) = (sp.distance_m(a, answer), sp.distance_m(a, best));
            assert!((da.unwrap() - db.unwrap()).abs() < 1e-4, "{ctx}");
        }
        Kind::CloserOfTwo => {
            let closer = if d(0, 1) < d(0, 2) { obj(1) } else { obj(2) };
            assert_eq!(q.answer, canonical_name(closer.category), "{ctx}");
            assert_eq!(q.answer_object, Some(closer.id), "{ctx}");
        }
        Kind::LeftRight | Kind::FrontBehind | Kind::ThreeWay => {
            let (pa, pb, pc) = (
                obj(0).aabb.center(),
                obj(1).aabb.center(),
                obj(2).aabb.center(),
            );
            let o = Observer::standing_at_facing(pa, pb).unwrap();
            let expected = match q.answer.as_str() {
                "left" => o.left_of(pc, pa + o.facing),
                "right" => o.left_of(pa + o.facing, pc),
                "front" => Some((pc - pa).dot(o.facing) > 0.0),
                "behind" => Some((pc - pa).dot(o.facing) < 0.0),
                other => panic!("direction answer {other}"),
            };
            assert_eq!(expected, Some(true), "{ctx}");
        }
        Kind::AboveBelow => {
            assert_eq!(
                above(&obj(0).aabb, &obj(1).aabb),
                Some(q.answer == "above"),
                "{ctx}"
            )
        }
        Kind::Distance => {
            let got = parse_number(&q.answer).unwrap();
            assert!(
                (got - d(0, 1)).abs() <= 0.051,
                "{ctx}: {got} vs {}",
                d(0, 1)
            );
        }
        Kind::Count => {
            let plural = q.question.clone();
            let cat = names::NAMES
                .iter()
                .filter(|n| plural.contains(&format!(" {} ", n.plural)))
                .max_by_key(|n| n.plural.len())
                .unwrap()
                .category;
            let n = s.objects.iter().filter(|o| o.category == cat).count();
            assert_eq!(q.answer, n.to_string(), "{ctx}");
        }
        Kind::Bigger => {
            let (sa, sb) = (obj(0).aabb.size(), obj(1).aabb.size());
            let big = if sa.x * sa.y * sa.z > sb.x * sb.y * sb.z {
                obj(0)
            } else {
                obj(1)
            };
            assert_eq!(q.answer, canonical_name(big.category), "{ctx}");
        }
        Kind::Wider => {
            let (sa, sb) = (obj(0).aabb.size(), obj(1).aabb.size());
            let wide = if sa.x.max(sa.y) > sb.x.max(sb.y) {
                obj(0)
            } else {
                obj(1)
            };
            assert_eq!(q.answer, canonical_name(wide.category), "{ctx}");
        }
        Kind::Taller => {
            assert_eq!(yes, obj(0).aabb.size().z > obj(1).aabb.size().z, "{ctx}")
        }
        Kind::Describe => {
            let claims = parse_description(&q.answer);
            let name = canonical_name(obj(0).category);
            assert!(q.answer.starts_with(&format!("the {name} is ")), "{ctx}");
            if let Some(support) = claims.support.as_deref() {
                let supported = s.objects.iter().any(|o| {
                    (canonical_name(o.category) == support
                        && sp.on(q.objects[0], o.id).unwrap_or(false))
                        || (support == "wall" && o.category == Category::Wall)
                });
                assert!(supported, "{ctx}");
            }
        }
    }
}

fn generated(index: u32) -> crate::scene::Scene {
    procgen::generate(7, index).to_scene().0
}

#[test]
fn generated_answers_agree_with_the_relation_engine() {
    let mut per_category: HashMap<QuestionCategory, usize> = HashMap::new();
    for index in 0..6 {
        let scene = generated(index);
        let sp = SpatialScene::new(&scene);
        let qs = generate(&sp, &GenerateOptions::default());
        for q in &qs {
            check_answer(&sp, q);
            *per_category.entry(q.category).or_insert(0) += 1;
        }
    }
    for c in QuestionCategory::ALL {
        assert!(
            per_category.get(&c).copied().unwrap_or(0) >= 6,
            "{c}: {per_category:?}"
        );
    }
}

/// The reference answer of every generated question, held-out wordings too, is of the form its
/// question's grammar asks for (`form::answer_form`): the form the app holds the model to is
/// the form of the answers it was trained on.
#[test]
fn generated_answers_fit_their_questions_form() {
    use crate::questions::form::{answer_form, fits};
    let mut n = 0;
    for index in 0..5 {
        let scene = generated(index);
        let sp = SpatialScene::new(&scene);
        for q in generate(&sp, &GenerateOptions::default()) {
            let form = answer_form(&q.question);
            assert!(
                fits(form, &q.answer),
                "{form:?}: {} -> {}",
                q.question,
                q.answer
            );
            n += 1;
        }
    }
    assert!(n > 300, "{n} questions");
}

#[test]
fn yes_no_answers_are_balanced_per_scene() {
    let mut total_yes = 0;
    for index in 0..6 {
        let scene = generated(index);
        let sp = SpatialScene::new(&scene);
        let qs = generate(&sp, &GenerateOptions::default());
        for c in [
            QuestionCategory::Proximity,
            QuestionCategory::Contact,
            QuestionCategory::Size,
        ] {
            let yes = qs
                .iter()
                .filter(|q| q.category == c && q.answer == "yes")
                .count();
            let no = qs
                .iter()
                .filter(|q| q.category == c && q.answer == "no")
                .count();
            assert_eq!(yes, no, "{c} in scene {index}");
            total_yes += yes;
        }
    }
    assert!(total_yes >= 20, "{total_yes}");
}

#[test]
fn generation_is_deterministic_and_seed_dependent() {
    let scene = generated(3);
    let sp = SpatialScene::new(&scene);
    let a = generate(&sp, &GenerateOptions::default());
    let b = generate(&sp, &GenerateOptions::default());
    assert_eq!(a, b);
    let c = generate(
        &sp,
        &GenerateOptions {
            seed: 9,
            ..Default::default()
        },
    );
    assert_ne!(a, c);
}

#[test]
fn held_out_templates_stay_out_of_training() {
    for kind in [
        Kind::Near,
        Kind::Far,
        Kind::Touch,
        Kind::Gap,
        Kind::On,
        Kind::Closest,
        Kind::Farthest,
        Kind::CloserOfTwo,
        Kind::LeftRight,
        Kind::FrontBehind,
        Kind::ThreeWay,
        Kind::AboveBelow,
        Kind::Distance,
        Kind::Count,
        Kind::Bigger,
        Kind::Wider,
        Kind::Taller,
        Kind::Describe,
    ] {
        assert!(
            !templates_of(kind, Some(false)).is_empty(),
            "{kind:?} has no training template"
        );
        assert!(
            !templates_of(kind, Some(true)).is_empty(),
            "{kind:?} has no held-out template"
        );
    }
    let scene = generated(1);
    let sp = SpatialScene::new(&scene);
    let train = generate(&sp, &GenerateOptions::default());
    assert!(train.iter().all(|q| !q.held_out));
    let held = generate(
        &sp,
        &GenerateOptions {
            held_out: Some(true),
            ..Default::default()
        },
    );
    assert!(!held.is_empty() && held.iter().all(|q| q.held_out));
    let train_texts: Vec<&str> = TEMPLATES
        .iter()
        .filter(|t| !t.held_out)
        .map(|t| t.text)
        .collect();
    for q in &held {
        let t = TEMPLATES
            .iter()
            .find(|t| Some(t.id) == q.template.as_deref())
            .unwrap();
        assert!(!train_texts.contains(&t.text));
    }
}

#[test]
fn synonyms_vary_the_wording() {
    let mut texts = String::new();
    for index in 0..12 {
        let scene = generated(index);
        let sp = SpatialScene::new(&scene);
        for q in generate(
            &sp,
            &GenerateOptions {
                per_category: 12,
                ..Default::default()
            },
        ) {
            texts.push_str(&q.question);
            texts.push('\n');
            // Answers always use canonical names.
            for syn in ["couch", "bedside table", "fridge", "cupboard", "mug"] {
                assert!(!q.answer.contains(syn), "{q:?}");
            }
        }
    }
    let used = [
        "couch",
        "sofa",
        "bedside table",
        "nightstand",
        "trash can",
        "cupboard",
    ]
    .iter()
    .filter(|s| texts.contains(*s))
    .count();
    assert!(used >= 4, "only {used} of the synonym probes appear");
}

#[test]
fn hand_room_questions_are_right() {
    let s = room();
    let sp = SpatialScene::new(&s);
    let qs = generate(
        &sp,
        &GenerateOptions {
            per_category: 20,
            ..Default::default()
        },
    );
    for q in &qs {
        check_answer(&sp, q);
    }
    // Cup (3) on table (2): any contact question on that pair says yes unless reversed "on".
    let cup_table: Vec<&Question> = qs
        .iter()
        .filter(|q| q.category == QuestionCategory::Contact && q.objects == [3, 2])
        .collect();
    for q in cup_table {
        assert_eq!(
            q.answer,
            if kind_of(q) == Kind::Gap { "no" } else { "yes" },
            "{q:?}"
        );
    }
    let desc = describe_object(&sp, 3).unwrap();
    assert_eq!(desc, "the cup is on the table, near the chair");
    let chair = describe_object(&sp, 4).unwrap();
    assert!(
        chair.starts_with("the chair is on the floor, near the table"),
        "{chair}"
    );
}

#[test]
fn ambiguous_objects_get_a_distinguishing_relation() {
    // Two chairs: one 15 cm from the table, one 3 m away in a corner.
    let mut parts: Vec<(&str, TriMesh)> = Vec::new();
    let mut floor = TriMesh::default();
    floor.add_grid(
        Vec3::new(-4.0, -2.0, 0.0),
        Vec3::new(4.0, 4.0, 0.0),
        16,
        12,
        [90; 3],
    );
    parts.push(("floor", floor));
    let mut table = TriMesh::default();
    table.add_box(
        Vec3::new(0.0, 0.0, 0.0),
        Vec3::new(1.2, 0.8, 0.75),
        [150, 100, 50],
    );
    parts.push(("table", table));
    for x in [1.35, -3.5] {
        let mut chair = TriMesh::default();
        chair.add_box(
            Vec3::new(x, 0.1, 0.0),
            Vec3::new(x + 0.45, 0.6, 0.9),
            [0, 0, 200],
        );
        parts.push(("chair", chair));
    }
    let mut bed = TriMesh::default();
    bed.add_box(
        Vec3::new(-3.8, 2.0, 0.0),
        Vec3::new(-1.8, 3.6, 0.5),
        [200, 200, 200],
    );
    parts.push(("bed", bed));
    let s = scene_from_parts("two-chairs", &parts);
    let sp = SpatialScene::new(&s);
    let qs = generate(
        &sp,
        &GenerateOptions {
            per_category: 30,
            ..Default::default()
        },
    );
    let mut chair_mentions = 0;
    for q in &qs {
        check_answer(&sp, q);
        for (i, &id) in q.objects.iter().enumerate() {
            if s.object(id).unwrap().category != Category::Chair
                || q.category == QuestionCategory::Counting
            {
                continue;
            }
            chair_mentions += 1;
            // The phrase names the right chair: chair 3 is the one closest to the table,
            // chair 4 the one closest to the bed.
            let anchor = if id == 3 {
                ["table"].as_slice()
            } else {
                &["bed"]
            };
            assert!(
                anchor
                    .iter()
                    .any(|a| q.question.contains(&format!("closest to the {a}"))),
                "object {i} of {q:?}"
            );
        }
    }
    assert!(chair_mentions > 0);
}

#[test]
fn normalisation_and_exact_match() {
    assert_eq!(normalize_answer("Yes, it is."), "yes");
    assert_eq!(normalize_answer("  No "), "no");
    assert_eq!(normalize_answer("The Couch."), "sofa");
    assert_eq!(normalize_answer("a bedside table"), "nightstand");
    assert_eq!(normalize_answer("To the left."), "left");
    assert_eq!(normalize_answer("in front of you"), "front");
    assert_eq!(normalize_answer("Higher"), "above");
    assert_eq!(normalize_answer("three"), "3");
    assert!(exact_match("couch", "sofa"));
    assert!(!exact_match("chair", "sofa"));
    assert_eq!(canonical_of("tvs"), Some("tv"));
}

#[test]
fn numeric_scores_match_hand_computation() {
    assert_eq!(parse_number("1.3 m"), Some(1.3));
    assert!((parse_number("130 cm").unwrap() - 1.3).abs() < 1e-6);
    assert!((parse_number("4 feet").unwrap() - 1.2192).abs() < 1e-6);
    assert_eq!(parse_number("two"), Some(2.0));
    assert_eq!(parse_number("no idea"), None);
    assert_eq!(mean_relative_accuracy(1.0, 1.0), 1.0);
    // Relative error 0.2 passes thresholds θ with 0.2 < 1 − θ: 0.50 … 0.75, six of ten.
    assert!((mean_relative_accuracy(1.2, 1.0) - 0.6).abs() < 1e-6);
    assert!((mean_relative_accuracy(0.8, 1.0) - 0.6).abs() < 1e-6);
    assert_eq!(mean_relative_accuracy(3.0, 1.0), 0.0);
    assert!(within_25(1.25, 1.0) && !within_25(1.3, 1.0) && within_25(0.76, 1.0));
    let s = score(QuestionCategory::Distance, "about 1.2 meters", "1.0 m");
    assert!(s.correct && s.within_25 == Some(true) && (s.mra.unwrap() - 0.6).abs() < 1e-6);
    let s = score(QuestionCategory::Counting, "two", "3");
    // Relative error 1/3 passes θ < 2/3: 0.50 … 0.65, four of ten.
    assert!(!s.correct && (s.mra.unwrap() - 0.4).abs() < 1e-6, "{s:?}");
    assert!(score(QuestionCategory::Counting, "3", "3").correct);
    assert!(score(QuestionCategory::Proximity, "Yes.", "yes").correct);
}

#[test]
fn descriptions_match_on_support_and_nearest() {
    let r = "the cup is on the table, near the laptop and the monitor";
    assert_eq!(
        parse_description(r),
        DescriptionClaims {
            support: Some("table".into()),
            near: vec!["laptop".into(), "monitor".into()]
        }
    );
    assert!(description_match(
        "The mug is on the table, near the laptop.",
        r
    ));
    assert!(description_match(
        "the cup is on the table near the monitor and the laptop",
        r
    ));
    assert!(!description_match(
        "the cup is on the desk, near the laptop",
        r
    ));
    assert!(!description_match(
        "the cup is on the table, near the lamp",
        r
    ));
    assert!(description_match(
        "the picture is on the wall",
        "the picture is on the wall"
    ));
    let nightstand = parse_description("the lamp is on the bedside table, near the bed");
    assert_eq!(nightstand.support.as_deref(), Some("nightstand"));
}

#[test]
fn jsonl_round_trip_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let scene = generated(2);
    let sp = SpatialScene::new(&scene);
    let qs = generate(&sp, &GenerateOptions::default());
    let path = dir.path().join("q.jsonl");
    jsonl::write_jsonl(&path, &qs).unwrap();
    assert_eq!(jsonl::read_jsonl(&path).unwrap(), qs);
    // A user file with only the four required fields.
    std::fs::write(
        &path,
        "{\"scene\":\"s\",\"question\":\"Is it near?\",\"answer\":\"yes\",\"category\":\"proximity\"}\n\n",
    )
    .unwrap();
    let read = jsonl::read_jsonl(&path).unwrap();
    assert_eq!(read.len(), 1);
    assert!(read[0].objects.is_empty() && read[0].template.is_none());
    std::fs::write(
        &path,
        "{\"scene\":\"s\",\"question\":\"q\",\"answer\":\"yes\",\"category\":\"proximity\"}\n{\"scene\":\"s\",\"question\":\"q\",\"answer\":\"yes\",\"category\":\"colour\"}\n",
    )
    .unwrap();
    let err = jsonl::read_jsonl(&path).unwrap_err().to_string();
    assert!(
        err.contains("q.jsonl") && err.contains("line 2") && err.contains("colour"),
        "{err}"
    );
    std::fs::write(
        &path,
        "{\"scene\":\"s\",\"question\":\" \",\"answer\":\"yes\",\"category\":\"size\"}\n",
    )
    .unwrap();
    let err = jsonl::read_jsonl(&path).unwrap_err().to_string();
    assert!(err.contains("line 1: empty \"question\""), "{err}");
    let err = jsonl::read_jsonl(&dir.path().join("none.jsonl"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("none.jsonl"), "{err}");
}

/// A line over 16 MiB is refused naming the file and line (the reader never holds more than
/// one line); a file of a million lines streams through.
#[test]
fn jsonl_lines_are_bounded_and_files_stream() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(
        f,
        "{{\"scene\":\"s\",\"question\":\"q?\",\"answer\":\"yes\",\"category\":\"size\"}}"
    )
    .unwrap();
    let long = "x".repeat(crate::scene::MAX_LINE_BYTES + 10);
    writeln!(f, "{{\"scene\":\"{long}\"}}").unwrap();
    drop(f);
    let err = jsonl::read_jsonl(&path).unwrap_err().to_string();
    assert!(
        err.contains("long.jsonl") && err.contains("line 2 is longer than"),
        "{err}"
    );
    let path = dir.path().join("million.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..1_000_000 {
        writeln!(
            f,
            "{{\"scene\":\"s{}\",\"question\":\"q\",\"answer\":\"1\",\"category\":\"counting\"}}",
            i % 7
        )
        .unwrap();
    }
    drop(f);
    let qs = jsonl::read_jsonl(&path).unwrap();
    assert_eq!(qs.len(), 1_000_000);
    assert_eq!(qs[999_999].scene, "s0");
}

#[test]
fn import_classifies_and_counts() {
    use import::classify;
    assert_eq!(
        classify("How many chairs are there?"),
        Some(QuestionCategory::Counting)
    );
    assert_eq!(
        classify("What is on my left?"),
        Some(QuestionCategory::Direction)
    );
    assert_eq!(classify("What color is the chair?"), None);
    assert_eq!(
        classify("What is placed on top of the table?"),
        Some(QuestionCategory::Contact)
    );
    assert_eq!(
        classify("Where is the lamp?"),
        Some(QuestionCategory::Description)
    );
    let dir = tempfile::tempdir().unwrap();
    let qp = dir.path().join("q.json");
    let ap = dir.path().join("a.json");
    std::fs::write(&qp, r#"{"questions": [
        {"scene_id": "scene0001_00", "situation": "I sit on the bed.", "question": "What is on my left?", "question_id": 1},
        {"scene_id": "scene0001_00", "situation": "I sit on the bed.", "question": "What color is the rug?", "question_id": 2},
        {"scene_id": "scene0001_00", "situation": "", "question": "How many chairs are here?", "question_id": 3}]}"#).unwrap();
    std::fs::write(&ap, r#"{"annotations": [
        {"question_id": 1, "answers": [{"answer": "Lamp", "answer_confidence": "yes", "answer_id": 1}]},
        {"question_id": 2, "answers": [{"answer": "red"}]}]}"#).unwrap();
    let (qs, report) = import::import_sqa3d(&qp, &ap).unwrap();
    assert_eq!(
        (
            report.total,
            report.usable,
            report.not_spatial,
            report.no_answer
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(qs[0].question, "I sit on the bed. What is on my left?");
    assert_eq!(qs[0].answer, "lamp");
    assert_eq!(qs[0].category, QuestionCategory::Direction);
    std::fs::write(&ap, "{\"annotations\": [").unwrap();
    let err = import::import_sqa3d(&qp, &ap).unwrap_err().to_string();
    assert!(
        err.contains("a.json") && err.contains("malformed JSON"),
        "{err}"
    );
}

#[test]
fn relative_referents_are_told_from_plain_names() {
    use super::templates::names_by_relation;
    let on = "Is the {a} on the {b}?";
    assert!(!names_by_relation(on, "Is the cup on the table?"));
    assert!(names_by_relation(on, "Is the cup on the table on the rug?"));
    let near = "Is the {a} near the {b}?";
    assert!(!names_by_relation(
        near,
        "Is the bedside table near the bed?"
    ));
    assert!(names_by_relation(
        near,
        "Is the chair closest to the desk near the bed?"
    ));
    let closest = "Which object is closest to the {a}?";
    assert!(!names_by_relation(
        closest,
        "Which object is closest to the sofa?"
    ));
    assert!(names_by_relation(
        closest,
        "Which object is closest to the chair closest to the tv?"
    ));
}

#[test]
fn questions_record_the_anchor_each_object_is_named_by() {
    use super::templates::names_by_relation;
    let (mut relational, mut on, mut closest) = (0, 0, 0);
    for index in 0..6 {
        let scene = generated(index);
        let sp = SpatialScene::new(&scene);
        for q in generate(&sp, &GenerateOptions::default()) {
            let Some(t) = TEMPLATES
                .iter()
                .find(|t| Some(t.id) == q.template.as_deref())
            else {
                continue;
            };
            if !names_by_relation(t.text, &q.question) {
                assert!(q.anchors.is_empty(), "{}: {:?}", q.question, q.anchors);
                continue;
            }
            relational += 1;
            assert_eq!(q.anchors.len(), q.objects.len(), "{}", q.question);
            for (&id, anchor) in q.objects.iter().zip(&q.anchors) {
                let Some(anchor) = *anchor else { continue };
                assert!(!q.objects.contains(&anchor), "{}", q.question);
                let category = |x: u32| scene.objects.iter().find(|o| o.id == x).unwrap().category;
                // The anchor is named in the question.
                let names = super::names::names_of(category(anchor)).unwrap().names;
                assert!(
                    names
                        .iter()
                        .any(|n| q.question.contains(&format!("the {n}"))),
                    "{}: anchor {anchor}",
                    q.question
                );
                if sp.on(id, anchor) == Some(true) {
                    on += 1;
                } else {
                    // Otherwise the object is the one of its class closest to the anchor.
                    let mine = sp.distance_m(id, anchor).unwrap();
                    for o in scene.objects.iter() {
                        if o.category == category(id) && o.id != id {
                            assert!(
                                sp.distance_m(o.id, anchor).unwrap() > mine,
                                "{}",
                                q.question
                            );
                        }
                    }
                    closest += 1;
                }
            }
        }
    }
    assert!(
        relational >= 10 && on > 0 && closest > 0,
        "{relational} {on} {closest}"
    );
}
