use crate::train::TrainStage;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use candle_core::Device;

use super::thread::WorkerLoop;
use super::*;
use crate::data::build::{BuildOptions, build};
use crate::model::{ModelConfig, SpatiaTokenizer};
use crate::scene::procgen::{GenFormat, generate};
use crate::train::{Dataset, TrainConfig, Trainer};

/// A tiny dataset (2 views of 16²) and a tiny model folder trained 2 steps on it.
fn tiny_model(dir: &Path) -> (Dataset, PathBuf) {
    let scenes = dir.join("scenes");
    for i in 0..3 {
        generate(5, i).write(&scenes, GenFormat::ScanNet).unwrap();
    }
    let data = dir.join("data");
    let options = BuildOptions {
        views: 2,
        size: 16,
        per_category: 2,
        ..Default::default()
    };
    build(&scenes, &data, &options, |_, _, _| {}).unwrap();
    let ds = Dataset::open(&data).unwrap();
    let qs = ds.questions(crate::data::Split::Train).unwrap();
    let tk = SpatiaTokenizer::train(
        qs.iter()
            .flat_map(|q| [q.question.clone(), q.answer.clone()]),
        200,
    )
    .unwrap();
    let cfg = ModelConfig::tiny(tk.vocab_size(), 16, 8);
    let tc = TrainConfig {
        steps: 2,
        warmup: 1,
        questions_per_step: 4,
        eval_every: 0,
        ..Default::default()
    };
    let out = dir.join("model");
    let mut t = Trainer::new(cfg, tk, tc, ds.clone(), &out, false, &Device::Cpu).unwrap();
    let (tx, _rx) = crossbeam_channel::bounded(100);
    t.run(&tx, &Arc::new(std::sync::atomic::AtomicBool::new(false)))
        .unwrap();
    (ds, out.join("checkpoint"))
}

fn room() -> Arc<crate::scene::Scene> {
    Arc::new(generate(5, 0).to_scene().0)
}

/// Runs a worker loop on this thread over requests queued in advance (so the order in which
/// it sees them is fixed), returning every event.
fn run_queued(requests: Vec<Request>) -> Vec<Event> {
    let (req_tx, req_rx) = crossbeam_channel::bounded(64);
    let (ev_tx, ev_rx) = crossbeam_channel::bounded(1024);
    for r in requests {
        req_tx.send(r).unwrap();
    }
    req_tx.send(Request::Shutdown).unwrap();
    WorkerLoop::new(Device::Cpu, req_rx, ev_tx).run();
    ev_rx.try_iter().collect()
}

fn ask(request_id: u64, roles: Vec<Role>) -> Request {
    Request::Ask {
        request_id,
        question: "is the chair near the table?".into(),
        roles,
        attention: true,
    }
}

#[test]
fn engine_answers_caches_encodings_and_names_objects() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = tiny_model(dir.path());
    let mut e = Engine::new(Device::Cpu);
    let mut side = Vec::new();
    // Nothing loaded: a clear error.
    e.set_scene(1, room()).unwrap();
    let msg = e
        .ask(
            1,
            "is the bed near the door?",
            Role::Student,
            false,
            &mut |ev| side.push(ev),
        )
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("no student model"), "{msg}");
    let Event::ModelLoaded { params, device, .. } = e.load_model(Role::Student, &model).unwrap()
    else {
        panic!("expected ModelLoaded")
    };
    assert!(params > 1000 && device == "cpu");
    let Event::SceneReady(views) = e.set_scene(1, room()).unwrap() else {
        panic!("expected SceneReady")
    };
    assert_eq!((views.views.views, views.views.size), (2, 16));
    for id in 0..3 {
        let ev = e
            .ask(
                id,
                "is the chair near the table?",
                Role::Student,
                true,
                &mut |ev| side.push(ev),
            )
            .unwrap();
        let Event::Answer {
            request_id,
            latency_ms,
            attention,
            objects,
            tokens,
            ..
        } = ev
        else {
            panic!("expected an answer")
        };
        assert_eq!(request_id, id);
        assert!(latency_ms > 0.0);
        assert!(attention.is_some());
        assert!(tokens.iter().all(|(_, p)| (0.0..=1.0).contains(p)));
        // The chairs and tables of the room are the objects named.
        let scene = room();
        let want: Vec<u32> = scene
            .objects
            .iter()
            .filter(|o| {
                matches!(
                    o.category,
                    crate::scene::Category::Chair | crate::scene::Category::Table
                )
            })
            .map(|o| o.id)
            .collect();
        let mut got = objects.clone();
        got.sort_unstable();
        assert_eq!(got, want);
    }
    assert_eq!(e.encodes, 1, "three questions, one encoding");
    assert_eq!(
        side.iter()
            .filter(|ev| matches!(ev, Event::Encoded { .. }))
            .count(),
        1
    );
    // Depth for every view and boxes.
    let Event::Prediction {
        depth, detections, ..
    } = e.predict(9, Role::Student, &mut |_| {}).unwrap()
    else {
        panic!("expected a prediction")
    };
    assert_eq!(depth.len(), 2);
    assert_eq!(depth[0].depth_m.len(), 256);
    assert!(depth[0].depth_m.iter().all(|d| d.is_finite() && *d > 0.0));
    assert!(detections.iter().all(|d| d.score.is_finite()));
    // An empty question is refused.
    assert!(e.ask(10, "  ", Role::Student, false, &mut |_| {}).is_err());
}

#[test]
fn stale_and_cancelled_work_is_dropped_and_a_panic_restarts_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model) = tiny_model(dir.path());
    let load = Request::LoadModel {
        role: Role::Student,
        dir: model.clone(),
    };
    let set = |id| Request::SetScene {
        scene_id: id,
        scene: room(),
    };
    // Asks 1 and 2 were queued for scene 1, then scene 2 came: both are cancelled. Ask 4 is
    // cancelled explicitly; ask 3 and 5 are answered.
    let events = run_queued(vec![
        load.clone(),
        set(1),
        ask(1, vec![Role::Student]),
        ask(2, vec![Role::Student]),
        set(2),
        ask(3, vec![Role::Student]),
        ask(4, vec![Role::Student]),
        Request::Cancel { request_id: 4 },
        ask(5, vec![Role::Student]),
    ]);
    let cancelled: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Cancelled { request_id } => Some(*request_id),
            _ => None,
        })
        .collect();
    let answered: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::Answer { request_id, .. } => Some(*request_id),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, vec![1, 2, 4]);
    assert_eq!(answered, vec![3, 5]);
    let ready: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::SceneReady(v) => Some(v.scene_id),
            _ => None,
        })
        .collect();
    assert_eq!(ready, vec![2], "the superseded scene is never rendered");
    let suggestions = events
        .iter()
        .find_map(|e| match e {
            Event::Suggestions {
                scene_id: 2,
                questions,
            } => Some(questions.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        suggestions.len() >= 4
            && suggestions
                .iter()
                .all(|q| q.split_whitespace().count() >= 3 && q.len() <= 48),
        "{suggestions:?}"
    );
    let distinct: std::collections::BTreeSet<&String> = suggestions.iter().collect();
    assert_eq!(distinct.len(), suggestions.len(), "{suggestions:?}");

    // A panic: an error event, a restart with the model reloaded, and the next question is
    // answered. A missing model folder and a question without a teacher are errors by id.
    let events = run_queued(vec![
        load,
        set(1),
        Request::Crash,
        ask(7, vec![Role::Student]),
        ask(8, vec![Role::Student, Role::Teacher]),
        Request::LoadModel {
            role: Role::Teacher,
            dir: dir.path().join("nowhere"),
        },
    ]);
    let pos = |f: &dyn Fn(&Event) -> bool| events.iter().position(f);
    let crash = pos(&|e| {
        matches!(e, Event::Error { request_id: None, message } if message.contains("panicked: crash requested"))
    })
    .unwrap();
    let restarted = pos(&|e| matches!(e, Event::Restarted { .. })).unwrap();
    let reloaded = events[crash..]
        .iter()
        .any(|e| matches!(e, Event::ModelLoaded { .. }));
    let answer7 = pos(&|e| matches!(e, Event::Answer { request_id: 7, .. })).unwrap();
    assert!(crash < restarted && restarted < answer7 && reloaded);
    assert!(
        pos(&|e| matches!(
            e,
            Event::Answer {
                request_id: 8,
                role: Role::Student,
                ..
            }
        ))
        .is_some()
    );
    assert!(pos(&|e| {
        matches!(e, Event::Error { request_id: Some(8), message } if message.contains("no teacher model"))
    })
    .is_some());
    assert!(
        pos(&|e| {
            matches!(e, Event::Error { request_id: None, message } if message.contains("nowhere"))
        })
        .is_some()
    );
}

#[test]
fn the_worker_thread_trains_and_hands_over_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (ds, teacher) = tiny_model(dir.path());
    let worker = Worker::spawn(Device::Cpu).unwrap();
    let out = dir.path().join("run");
    worker
        .send(Request::StartTraining(Box::new(TrainPlan::Distill(
            DistillPlan {
                preset: StudentPreset::Tiny,
                train: TrainConfig {
                    steps: 4,
                    lr: 3e-3,
                    questions_per_step: 4,
                    eval_every: 0,
                    ..Default::default()
                },
                cot: 2,
                ..DistillPlan::new(ds.root.clone(), teacher.clone(), out.clone())
            },
        ))))
        .unwrap();
    let mut steps = Vec::new();
    let mut checkpoint = None;
    loop {
        let e = worker
            .events()
            .recv_timeout(Duration::from_secs(120))
            .expect("training events");
        match e {
            Event::Training(TrainEvent::Step {
                step,
                losses,
                weights,
                ..
            }) => {
                assert!(losses.contains_key("answer_kl") && losses.contains_key("geo_match"));
                assert_eq!(weights.len(), 5);
                steps.push(step);
            }
            Event::Training(TrainEvent::Checkpoint { path, .. }) => checkpoint = Some(path),
            Event::Training(TrainEvent::Finished { step }) => {
                assert_eq!(step, 4);
                break;
            }
            Event::Training(TrainEvent::Failed { error }) => panic!("{error}"),
            Event::Training(TrainEvent::Cancelled { step }) => panic!("cancelled at {step}"),
            Event::Error { message, .. } => panic!("{message}"),
            _ => {}
        }
    }
    assert_eq!(steps, vec![1, 2, 3, 4]);
    // "Use this checkpoint": the chat's student becomes the trained one.
    worker
        .send(Request::LoadModel {
            role: Role::Student,
            dir: checkpoint.unwrap(),
        })
        .unwrap();
    let e = worker
        .events()
        .recv_timeout(Duration::from_secs(60))
        .unwrap();
    assert!(matches!(e, Event::ModelLoaded { role: Role::Student, params, .. } if params > 0));
    // A run that cannot start (resume where there is no checkpoint) fails with a message
    // instead of a silent thread death.
    worker
        .send(Request::StartTraining(Box::new(TrainPlan::Distill(
            DistillPlan {
                preset: StudentPreset::Tiny,
                train: TrainConfig {
                    steps: 1,
                    ..Default::default()
                },
                resume: true,
                ..DistillPlan::new(ds.root.clone(), teacher, dir.path().join("run2"))
            },
        ))))
        .unwrap();
    // Late events of the first run (its last step or checkpoint) may still be queued: the
    // answer to this request is the first event that starts or fails a run.
    let e = loop {
        let e = worker
            .events()
            .recv_timeout(Duration::from_secs(60))
            .unwrap();
        if matches!(
            e,
            Event::Training(TrainEvent::Failed { .. } | TrainEvent::Started { .. })
        ) {
            break e;
        }
    };
    assert!(
        matches!(&e, Event::Training(TrainEvent::Failed { error }) if error.contains("nothing to resume")),
        "{e:?}"
    );
}

#[test]
fn a_slot_s_object_is_named_by_the_scene_or_by_what_the_student_found() {
    use super::engine::grounded_name;
    let scene = room();
    let first = &scene.objects[0];
    let found = |id: u32, category: usize| crate::data::ObjectToken {
        id,
        category,
        min_m: [0.0; 3],
        max_m: [1.0; 3],
        pixels: 100,
        score: 0.9,
    };
    let chair = crate::scene::Category::Chair.index();
    let unmatched = crate::data::UNMATCHED_ID_BASE + 3;
    let objects = vec![found(first.id, chair), found(unmatched, chair)];
    // The scene knows its own objects (whatever the student thought they were)…
    assert_eq!(
        grounded_name(Some(&scene), &objects, first.id),
        first.category.name()
    );
    // …an object found that matches none of them keeps the category it was found as…
    assert_eq!(grounded_name(Some(&scene), &objects, unmatched), "chair");
    // …and an id nobody knows is just an object.
    assert_eq!(grounded_name(None, &[], 7), "object");
}
