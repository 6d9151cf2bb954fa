//! Viewer logic without a window: ECS systems on `MinimalPlugins`, plus the pure helpers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::prelude::*;

use super::camera::{
    FOV_Y, FocusObject, FrameScene, OrbitCamera, ViewRect, apply_framing, framing_for,
};
use super::colors::{ColorMode, UNANNOTATED, instance_color, vertex_colors};
use super::loading::{CurrentScene, LoadPlugin, LoadRequest, SceneLoader};
use super::picking::{MeasureTool, Selection, ViewClick, apply_clicks, measure_distance_m};
use super::recent::RecentScenes;
use super::render::{HiddenObjects, build_mesh, point_colors};
use crate::questions::QuestionCategory;
use crate::scene::procgen::generate;
use crate::scene::{Aabb, Category, LoadOptions, Scene};

fn current(scene: Scene) -> CurrentScene {
    CurrentScene::prepare(scene, "mem".into(), &mut |_| {})
}

fn generated() -> CurrentScene {
    current(generate(0, 38).to_scene().0)
}

/// The generated room's television (room 38 of seed 0 has one).
fn television(scene: &Scene) -> &crate::scene::SceneObject {
    scene
        .objects
        .iter()
        .find(|o| o.category == Category::Television)
        .unwrap()
}

#[test]
fn framing_fits_the_bounding_sphere() {
    let b = Aabb {
        min: Vec3::new(0.0, 0.0, 0.0),
        max: Vec3::new(4.0, 3.0, 0.0),
    };
    let (focus, d) = framing_for(&b, FOV_Y, 2.0);
    assert_eq!(focus, Vec3::new(2.0, 1.5, 0.0));
    // Radius 2.5; the vertical field of view is the narrower one.
    assert!((d - 2.5 / (FOV_Y / 2.0).sin()).abs() < 1e-4, "{d}");
    // A tall narrow window is limited by the horizontal field of view: farther away.
    let (_, d_narrow) = framing_for(&b, FOV_Y, 0.5);
    assert!(d_narrow > d * 1.5);
}

#[test]
fn frame_and_focus_messages_move_the_orbit_camera() {
    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .add_message::<FrameScene>()
        .add_message::<FocusObject>()
        .insert_resource(ViewRect(Rect::new(0.0, 0.0, 800.0, 600.0)))
        .insert_resource(generated())
        .add_systems(Update, apply_framing);
    let cam = app.world_mut().spawn(OrbitCamera::default()).id();
    app.world_mut().write_message(FrameScene);
    app.update();
    let scene = app.world().resource::<CurrentScene>().scene.clone();
    let bounds = scene.bounds().unwrap();
    let orbit = *app.world().get::<OrbitCamera>(cam).unwrap();
    assert!((orbit.focus - bounds.center()).length() < 1e-5);
    let (_, want) = framing_for(&bounds, FOV_Y, 800.0 / 600.0);
    assert!((orbit.distance_m - want).abs() < 1e-4);
    // Every corner of the scene is in front of the camera and inside its view cone.
    let t = orbit.world_from_camera();
    for corner in [
        bounds.min,
        bounds.max,
        Vec3::new(bounds.min.x, bounds.max.y, bounds.min.z),
    ] {
        let v = corner - t.translation;
        let angle = v.angle_between(*t.forward());
        assert!(angle < FOV_Y / 2.0 + 1e-3, "corner at {angle} rad");
    }

    let tv = television(&scene);
    app.world_mut().write_message(FocusObject(tv.id));
    app.update();
    let orbit = *app.world().get::<OrbitCamera>(cam).unwrap();
    assert!((orbit.focus - tv.aabb.center()).length() < 1e-5);
    assert!(orbit.distance_m < 3.0);
}

#[test]
fn orbit_camera_looks_at_its_focus_and_pans_in_screen_plane() {
    let mut c = OrbitCamera {
        focus: Vec3::new(1.0, 2.0, 0.5),
        yaw: 0.3,
        pitch: 0.6,
        distance_m: 5.0,
    };
    let t = c.world_from_camera();
    assert!((t.translation.distance(c.focus) - 5.0).abs() < 1e-4);
    let to_focus = (c.focus - t.translation).normalize();
    assert!(to_focus.dot(*t.forward()) > 0.9999);
    assert!(t.up().z > 0.0, "z is up");
    // Panning right by a whole view height moves the focus by the view's height at the focus.
    let before = c.focus;
    c.pan(-600.0, 0.0, 600.0);
    let moved = (c.focus - before).length();
    let view_h = 2.0 * 5.0 * (FOV_Y / 2.0).tan();
    assert!((moved - view_h).abs() < 1e-3, "{moved} vs {view_h}");
    c.orbit(0.0, 10.0);
    assert!(c.pitch <= 1.5);
    c.zoom(1e-9);
    assert_eq!(c.distance_m, 0.05);
}

fn click_app() -> App {
    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .add_message::<ViewClick>()
        .init_resource::<Selection>()
        .init_resource::<MeasureTool>()
        .insert_resource(generated())
        .add_systems(Update, apply_clicks);
    app
}

#[test]
fn clicking_a_ray_selects_the_smallest_object_hit() {
    let mut app = click_app();
    let scene = app.world().resource::<CurrentScene>().scene.clone();
    // A ray straight down through a cup's centre selects the cup, not the table under it.
    let cup = scene
        .objects
        .iter()
        .find(|o| o.category == Category::Cup)
        .unwrap();
    let c = cup.aabb.center();
    app.world_mut().write_message(ViewClick {
        origin: Vec3::new(c.x, c.y, 5.0),
        direction: -Vec3::Z,
    });
    app.update();
    assert_eq!(app.world().resource::<Selection>().0, Some(cup.id));
    // A ray from the camera towards the focus (an orbit camera framed on the cup) too.
    let mut orbit = OrbitCamera::default();
    orbit.frame(&cup.aabb, 1.0);
    let t = orbit.world_from_camera();
    app.world_mut().write_message(ViewClick {
        origin: t.translation,
        direction: *t.forward(),
    });
    app.update();
    assert_eq!(app.world().resource::<Selection>().0, Some(cup.id));
    // A ray into the sky selects nothing.
    app.world_mut().write_message(ViewClick {
        origin: Vec3::new(c.x, c.y, 5.0),
        direction: Vec3::Z,
    });
    app.update();
    assert_eq!(app.world().resource::<Selection>().0, None);
}

#[test]
fn measure_tool_measures_between_two_clicked_points() {
    let mut app = click_app();
    app.world_mut().resource_mut::<MeasureTool>().active = true;
    let scene = app.world().resource::<CurrentScene>().scene.clone();
    let floor = scene
        .objects
        .iter()
        .find(|o| o.category == Category::Floor)
        .unwrap();
    // Two points on the floor near two corners, aimed at from just above the floor so that
    // no furniture is in the way.
    let a = floor.aabb.min + Vec3::new(0.05, 0.05, 0.0);
    let b = Vec3::new(floor.aabb.max.x - 0.05, floor.aabb.min.y + 0.05, 0.0);
    for p in [a, b] {
        app.world_mut().write_message(ViewClick {
            origin: p + Vec3::Z * 0.01 + Vec3::Z * 0.001,
            direction: -Vec3::Z,
        });
    }
    app.update();
    let m = app.world().resource::<MeasureTool>().clone();
    assert_eq!(m.points.len(), 2, "{:?}", m.points);
    let d = measure_distance_m(&m.points).unwrap();
    assert!((d - a.distance(b)).abs() < 1e-4, "{d} vs {}", a.distance(b));
    // Measuring does not change the selection; a third click starts a new measurement.
    assert_eq!(app.world().resource::<Selection>().0, None);
    app.world_mut().write_message(ViewClick {
        origin: a + Vec3::Z * 0.011,
        direction: -Vec3::Z,
    });
    app.update();
    assert_eq!(app.world().resource::<MeasureTool>().points.len(), 1);
    assert_eq!(measure_distance_m(&[Vec3::ZERO]), None);
    assert_eq!(
        measure_distance_m(&[Vec3::ZERO, Vec3::new(3.0, 4.0, 0.0)]),
        Some(5.0)
    );
}

#[test]
fn hidden_objects_leave_the_mesh_and_points() {
    let c = generated();
    let all = build_mesh(&c, ColorMode::Rgb, &HiddenObjects::default()).unwrap();
    let n_all = all.indices().unwrap().len();
    assert_eq!(n_all, c.scene.face_count() * 3);
    let tv = television(&c.scene);
    let hidden = HiddenObjects([tv.id].into_iter().collect());
    let fewer = build_mesh(&c, ColorMode::Rgb, &hidden).unwrap();
    let tv_tris = c
        .scene
        .triangles
        .as_ref()
        .unwrap()
        .iter()
        .filter(|t| t.iter().all(|i| tv.vertex_indices.binary_search(i).is_ok()))
        .count();
    assert!(tv_tris > 0);
    assert_eq!(fewer.indices().unwrap().len(), n_all - 3 * tv_tris);
    let everything = HiddenObjects(c.scene.objects.iter().map(|o| o.id).collect());
    assert!(
        build_mesh(&c, ColorMode::Rgb, &everything).is_none(),
        "never an empty mesh"
    );
    let colors = point_colors(&c.scene, ColorMode::Rgb, &hidden);
    assert_eq!(colors.len(), c.scene.positions.len());
    let shown = colors.iter().filter(|c| c[3] == 255).count();
    assert_eq!(shown, c.scene.positions.len() - tv.vertex_indices.len());
    for &v in &tv.vertex_indices {
        assert_eq!(colors[v as usize][3], 0, "hidden points are marked");
    }
}

#[test]
fn colour_modes() {
    let c = generated();
    let s = &c.scene;
    assert_eq!(vertex_colors(s, ColorMode::Rgb), s.colors);
    let inst = vertex_colors(s, ColorMode::Instance);
    let o = &s.objects[3];
    assert!(
        o.vertex_indices
            .iter()
            .all(|&v| inst[v as usize] == instance_color(o.id))
    );
    assert_ne!(instance_color(1), instance_color(2));
    let h = vertex_colors(s, ColorMode::Height);
    let (lo, hi) = s
        .positions
        .iter()
        .enumerate()
        .fold((0, 0), |(lo, hi), (i, p)| {
            (
                if p.z < s.positions[lo].z { i } else { lo },
                if p.z > s.positions[hi].z { i } else { hi },
            )
        });
    assert_ne!(h[lo], h[hi]);
    assert!(h[lo][2] > h[lo][0], "low is blue");
    assert!(h[hi][0] > h[hi][2], "high is red");
    assert_ne!(UNANNOTATED, instance_color(0));
}

#[test]
fn recent_scenes_persist_newest_first_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cfg/recent.json");
    let mut r = RecentScenes::at(file.clone());
    for i in 0..12 {
        r.push(&dir.path().join(format!("s{i}.ply")));
    }
    r.push(&dir.path().join("s5.ply"));
    r.save();
    let back = RecentScenes::read(&file);
    assert_eq!(back.len(), 10);
    assert_eq!(back[0], dir.path().join("s5.ply"));
    assert_eq!(back.iter().filter(|p| p.ends_with("s5.ply")).count(), 1);
    assert_eq!(back[1], dir.path().join("s11.ply"));
}

fn wait_for_load(app: &mut App) {
    let start = Instant::now();
    loop {
        app.update();
        if app.world().resource::<SceneLoader>().in_flight.is_none() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "load did not finish"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn loads_off_thread_and_a_failed_load_keeps_the_previous_scene() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::new();
    // The recent list goes to a temporary folder, not the user's.
    app.insert_resource(RecentScenes::at(dir.path().join("recent.json")))
        .add_plugins(MinimalPlugins)
        .add_plugins(LoadPlugin);
    let good = super::default_scene_path();
    app.world_mut().write_message(LoadRequest {
        path: good.clone(),
        options: LoadOptions::default(),
    });
    wait_for_load(&mut app);
    let first = app.world().resource::<CurrentScene>().scene.clone();
    assert_eq!(first.objects.len(), 32);
    assert!(app.world().resource::<SceneLoader>().error.is_none());

    let bad = dir.path().join("broken.ply");
    std::fs::write(
        &bad,
        b"ply\nformat ascii 1.0\nelement vertex 5\nproperty float x\nend_header\n",
    )
    .unwrap();
    app.world_mut().write_message(LoadRequest {
        path: bad,
        options: LoadOptions::default(),
    });
    wait_for_load(&mut app);
    let loader = app.world().resource::<SceneLoader>();
    let err = loader.error.clone().unwrap();
    assert!(err.contains("broken.ply"), "{err}");
    // The scene the user had open is still there.
    assert!(Arc::ptr_eq(
        &app.world().resource::<CurrentScene>().scene,
        &first
    ));
    let recent = RecentScenes::read(&dir.path().join("recent.json"));
    assert_eq!(recent.len(), 1);
    assert!(recent[0].ends_with("assets/scenes/default"));
}

#[test]
fn worker_events_update_the_chat_and_highlights() {
    use super::chat::{Chat, ChatEntry, apply_event, submit_question};
    use super::model_bridge::ModelBridge;
    use crate::worker::{Event, Role};
    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .init_resource::<ModelBridge>()
        .init_resource::<Chat>();
    let path: std::path::PathBuf = "room.ply".into();
    let other: std::path::PathBuf = "other.ply".into();
    let world = app.world_mut();
    world.resource_scope(|world, mut bridge: Mut<ModelBridge>| {
        let mut chat = world.resource_mut::<Chat>();
        // Without a worker, a question is kept with the reason it was not asked.
        submit_question(
            &mut bridge,
            &mut chat,
            &path,
            "  is the bed near the door?  ",
        );
        let h = &chat.history[&path];
        assert_eq!(h[0].question, "is the bed near the door?");
        assert!(h[0].error.as_deref().unwrap().contains("not running"));
        chat.history.get_mut(&path).unwrap().push(ChatEntry {
            request_id: 5,
            question: "is the chair near the table?".into(),
            answers: Vec::new(),
            error: None,
            objects: Vec::new(),
        });
        chat.waiting = Some(5);
        bridge.apply(&Event::ModelLoaded {
            role: Role::Student,
            name: "student (models/student)".into(),
            params: 1234,
            device: "cpu",
        });
        let answer = |role, text: &str, objects: Vec<u32>| Event::Answer {
            request_id: 5,
            role,
            text: text.into(),
            tokens: vec![(text.into(), 0.9)],
            latency_ms: 12.0,
            attention: None,
            scene_layout: Vec::new(),
            objects,
            grounding: vec![crate::worker::GroundedObject {
                object_id: 3,
                name: "chair".into(),
                probability: 0.97,
            }],
            unseen: Vec::new(),
            looked_again: Vec::new(),
            unconstrained: None,
        };
        apply_event(
            &mut chat,
            0,
            &path,
            &answer(Role::Student, "yes", vec![3, 4]),
        );
        assert_eq!(chat.waiting, None);
        // The chat asks the student unless the teacher is chosen; diagnostic mode asks both.
        assert_eq!(super::chat::question_roles(&chat), vec![Role::Student]);
        assert_eq!(
            super::chat::answerer_line(&bridge, Role::Student),
            "student (models/student) · 1234 parameters · cpu"
        );
        assert_eq!(
            super::chat::answerer_line(&bridge, Role::Teacher),
            "loading the teacher…"
        );
        chat.answer_with = Role::Teacher;
        assert_eq!(super::chat::question_roles(&chat), vec![Role::Teacher]);
        chat.diagnostic = true;
        assert_eq!(
            super::chat::question_roles(&chat),
            vec![Role::Student, Role::Teacher]
        );
        chat.diagnostic = false;
        chat.answer_with = Role::Student;
        assert_eq!(chat.highlighted, vec![3, 4]);
        assert_eq!(
            chat.grounded,
            vec![3],
            "the object the answer was read from"
        );
        let grounding = &chat.history[&path][1].answers[0].grounding;
        assert_eq!(
            super::chat::grounding_line(grounding).as_deref(),
            Some("read from: chair #3 (97%)")
        );
        assert_eq!(super::chat::grounding_line(&[]), None);
        // Two slots on one object (the third slot of a two-object question): said once, at its
        // first place, with the higher probability.
        let slot = |object_id: u32, name: &str, probability: f32| crate::worker::GroundedObject {
            object_id,
            name: name.to_string(),
            probability,
        };
        assert_eq!(
            super::chat::grounding_line(&[
                slot(8, "sofa", 0.99),
                slot(10, "table", 0.98),
                slot(10, "table", 0.994),
            ])
            .as_deref(),
            Some("read from: sofa #8 (99%), table #10 (99%)")
        );
        // A named object the model has none of is said, by who lacks it.
        let unseen = vec!["lamp".to_string(), "vase".to_string()];
        assert_eq!(
            super::chat::unseen_line(Role::Student, &unseen).as_deref(),
            Some("the student found no lamp and no vase here: this answer is not about one")
        );
        assert_eq!(
            super::chat::unseen_line(Role::Teacher, &unseen[..1]).as_deref(),
            Some("the annotation has no lamp here: this answer is not about one")
        );
        assert_eq!(super::chat::unseen_line(Role::Student, &[]), None);
        // Objects found by looking again are said, each with its pixels.
        assert_eq!(
            super::chat::looked_again_line(&["a lamp (52 px)".to_string()]).as_deref(),
            Some("looked again for what the question names and found a lamp (52 px)")
        );
        assert_eq!(super::chat::looked_again_line(&[]), None);
        // An answer held to the asked kind says what free decoding said.
        assert_eq!(
            super::chat::unconstrained_line(Some("1.5 m")).as_deref(),
            Some("free decoding said \"1.5 m\", not the kind of answer the question asks for")
        );
        assert_eq!(super::chat::unconstrained_line(None), None);
        assert_eq!(super::chat::object_label("chair", 12), "chair #12");
        assert_eq!(
            super::chat::object_label("chair", crate::data::UNMATCHED_ID_BASE + 3),
            "chair (found 3)"
        );
        apply_event(
            &mut chat,
            0,
            &path,
            &answer(Role::Teacher, "no", vec![4, 7]),
        );
        let e = &chat.history[&path][1];
        assert_eq!(
            e.answers
                .iter()
                .map(|a| (a.role, a.text.as_str()))
                .collect::<Vec<_>>(),
            vec![(Role::Student, "yes"), (Role::Teacher, "no")]
        );
        assert_eq!(chat.highlighted, vec![3, 4, 7]);
        // History is per scene: another scene's chat is empty.
        assert!(!chat.history.contains_key(&other));
        // Suggestions for an older scene are ignored; the current scene's are kept.
        let suggest = |scene_id| Event::Suggestions {
            scene_id,
            questions: vec![format!("question of scene {scene_id}?")],
        };
        apply_event(&mut chat, 2, &path, &suggest(1));
        assert!(chat.suggestions.is_empty());
        apply_event(&mut chat, 2, &path, &suggest(2));
        assert_eq!(chat.suggestions, vec!["question of scene 2?".to_string()]);
        // Failures: by question, or as a note; a restart is said.
        apply_event(
            &mut chat,
            2,
            &path,
            &Event::Error {
                request_id: Some(5),
                message: "teacher: no teacher model is loaded".into(),
            },
        );
        assert!(
            chat.history[&path][1]
                .error
                .as_deref()
                .unwrap()
                .contains("no teacher")
        );
        // A failure of a request no longer in the history is a chat note.
        apply_event(
            &mut chat,
            2,
            &path,
            &Event::Error {
                request_id: Some(99),
                message: "student: cancelled by a restart".into(),
            },
        );
        assert!(chat.note.as_deref().unwrap().contains("restart"));
        bridge.apply(&Event::Restarted {
            reason: "panicked".into(),
        });
        assert!(bridge.note.as_deref().unwrap().contains("restarted"));
        assert_eq!(bridge.device, Some("cpu"));
        assert_eq!(bridge.models[&Role::Student].1, 1234);
    });
}

#[test]
fn prediction_overlays_place_boxes_frusta_and_score_depth() {
    use super::predictions::{
        DepthCloud, Predictions, box_transform, depth_points, depth_scores, frustum, turbo,
        update_depth_cloud,
    };
    use crate::model::{Detection, ViewBatch, ViewDepth};
    use crate::worker::{Event, Role, SceneViews};
    // Turbo: dark at 0, green in the middle, dark red at 1.
    let [r, g, b] = turbo(0.0);
    assert!(r < 60 && g < 60 && b < 60 && b > g, "{r} {g} {b}");
    let [r, g, b] = turbo(0.5);
    assert!(g > 200 && g > r && g > b, "{r} {g} {b}");
    let [r, g, b] = turbo(1.0);
    assert!(r > 100 && r < 170 && g < 40 && b < 20, "{r} {g} {b}");
    // AbsRel and δ1 by hand: pixel errors 0.1/1, 0.5/2, and a pixel without ground truth.
    let (rel, d1) = depth_scores(&[1.1, 2.5, 7.0], &[1.0, 2.0, 0.0]).unwrap();
    assert!(
        (rel - 0.175).abs() < 1e-6 && (d1 - 0.5).abs() < 1e-6,
        "{rel} {d1}"
    );
    assert!(depth_scores(&[1.0], &[0.0]).is_none());
    // A box in the first camera's frame, camera turned 90° about z and moved by (1, 0, 0).
    let world_from_cam =
        Mat4::from_translation(Vec3::X) * Mat4::from_rotation_z(std::f32::consts::FRAC_PI_2);
    let d = Detection {
        class: 3,
        score: 0.8,
        centre: [1.0, 0.0, 2.0],
        size: [0.4, 0.2, 1.0],
        world_box_m: None,
    };
    let t = box_transform(world_from_cam, &d);
    assert!(
        t.translation.distance(Vec3::new(1.0, 1.0, 2.0)) < 1e-5,
        "{t:?}"
    );
    assert!(t.scale.distance(Vec3::new(0.4, 0.2, 1.0)) < 1e-5, "{t:?}");
    // A box found in the world is drawn where it was found, whatever the camera.
    let found = Detection {
        world_box_m: Some([[1.0, 2.0, 0.0], [1.5, 3.0, 0.8]]),
        ..d.clone()
    };
    let t = box_transform(world_from_cam, &found);
    assert!(
        t.translation.distance(Vec3::new(1.25, 2.5, 0.4)) < 1e-5,
        "{t:?}"
    );
    assert!(t.scale.distance(Vec3::new(0.5, 1.0, 0.8)) < 1e-5, "{t:?}");
    // A camera at (0, 0, 1) looking along +x (OpenCV: x right, y down, z forward), 90° fov.
    let size = 8usize;
    let world_from_camera = Mat4::from_cols(
        Vec4::new(0.0, -1.0, 0.0, 0.0),
        Vec4::new(0.0, 0.0, -1.0, 0.0),
        Vec4::new(1.0, 0.0, 0.0, 0.0),
        Vec4::new(0.0, 0.0, 1.0, 1.0),
    );
    let cam = world_from_camera.inverse();
    let c = cam.to_cols_array();
    // [3, 4] row-major camera-from-world.
    let extrinsics: Vec<f32> = (0..3)
        .flat_map(|r| (0..4).map(move |k| c[k * 4 + r]))
        .collect();
    let views = SceneViews {
        scene_id: 1,
        views: ViewBatch {
            size,
            views: 1,
            images: vec![0; size * size * 3],
            depth: Some(vec![2.0; size * size]),
            intrinsics: vec![4.0, 0.0, 4.0, 0.0, 4.0, 4.0, 0.0, 0.0, 1.0],
            extrinsics,
            instance: None,
            object_id: Vec::new(),
            object_category: Vec::new(),
        },
    };
    let (centre, corners) = frustum(&views, 0, 0.5);
    assert!(centre.distance(Vec3::new(0.0, 0.0, 1.0)) < 1e-5, "{centre}");
    // Top-left pixel corner: left (+y) and up (+z) by 0.5 at 0.5 m ahead.
    assert!(
        corners[0].distance(Vec3::new(0.5, 0.5, 1.5)) < 1e-5,
        "{corners:?}"
    );
    assert!(
        corners[2].distance(Vec3::new(0.5, -0.5, 0.5)) < 1e-5,
        "{corners:?}"
    );
    // Events: views of an older scene are ignored; a student prediction is kept; boxes below
    // the threshold are not drawn.
    let mut p = Predictions::default();
    let ready = |id| {
        Event::SceneReady(Arc::new(SceneViews {
            scene_id: id,
            views: views.views.clone(),
        }))
    };
    assert!(!p.apply(2, &ready(1)));
    assert!(p.apply(2, &ready(2)));
    let weak = Detection {
        score: 0.1,
        ..d.clone()
    };
    let weak_copy = weak.clone();
    assert!(p.apply(
        2,
        &Event::Prediction {
            request_id: 1,
            role: Role::Student,
            depth: vec![ViewDepth {
                depth_m: vec![2.2; size * size],
                confidence: vec![1.0; size * size],
            }],
            detections: vec![d, weak],
            world_from_camera0: world_from_cam.to_cols_array(),
        }
    ));
    assert_eq!(p.box_transforms().len(), 1);
    // The shown box is labelled with its class name and score, best first.
    p.threshold = 0.0;
    let shown: Vec<(&str, f32)> = p
        .shown_boxes()
        .map(|(d, _)| (d.class_name(), d.score))
        .collect();
    let sofa = crate::data::detection_class_name(3).unwrap();
    assert_eq!(shown, vec![(sofa, 0.8), (sofa, 0.1)]);
    p.threshold = 0.3;
    let odd = Detection {
        class: 999,
        ..weak_copy.clone()
    };
    assert_eq!(odd.class_name(), "?");
    let (rel, d1) = p.depth_scores(0).unwrap();
    assert!((rel - 0.1).abs() < 1e-5 && d1 == 1.0);

    // Predicted depth back-projected: every 4th pixel of the 8x8 view at 2 m, one pixel
    // without depth. Pixel (4, 4) is the principal point: 2 m straight ahead (+x) of the camera
    // at (0, 0, 1); pixel (0, 0) is 2 m left (+y) and up (+z) of that.
    let mut depth = vec![2.0f32; size * size];
    depth[4 * size] = f32::NAN; // pixel (0, 4)
    let pred = vec![ViewDepth {
        depth_m: depth,
        confidence: vec![1.0; size * size],
    }];
    let pts = depth_points(&views, &pred, 4);
    assert_eq!(pts.len(), 3, "{pts:?}");
    let at = |q: Vec3| pts.iter().any(|(p, d)| p.distance(q) < 1e-5 && *d == 2.0);
    assert!(at(Vec3::new(2.0, 0.0, 1.0)), "{pts:?}");
    assert!(at(Vec3::new(2.0, 2.0, 3.0)), "{pts:?}");
    assert!(at(Vec3::new(2.0, 0.0, 3.0)), "{pts:?}");
    // A depth map of the wrong size is skipped, not read out of bounds.
    let short = vec![ViewDepth {
        depth_m: vec![1.0; 3],
        confidence: vec![1.0; 3],
    }];
    assert!(depth_points(&views, &short, 1).is_empty());

    // The point cloud entity follows the toggle and the predictions.
    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .insert_resource(p)
        .add_systems(Update, update_depth_cloud);
    let clouds = |app: &mut App| {
        let mut q = app
            .world_mut()
            .query_filtered::<&super::points::PointCloud, With<DepthCloud>>();
        q.iter(app.world())
            .map(|c| c.instances.len())
            .collect::<Vec<_>>()
    };
    app.update();
    assert!(clouds(&mut app).is_empty(), "drawn while toggled off");
    app.world_mut()
        .resource_mut::<Predictions>()
        .show_depth_points = true;
    app.update();
    assert_eq!(clouds(&mut app), vec![size * size]);
    app.world_mut()
        .resource_mut::<Predictions>()
        .show_depth_points = false;
    app.update();
    assert!(clouds(&mut app).is_empty(), "not removed when toggled off");
}

#[test]
fn diagnostics_compare_answers_export_disagreements_and_place_attention() {
    use super::chat::{ChatAnswer, ChatEntry};
    use super::diagnostics::{
        agree, attention_points, disagreements, disagreements_jsonl, latent_attention_over_scene,
    };
    use crate::model::vlm::SceneTokenInfo;
    use crate::model::{AttentionMaps, ViewBatch};
    use crate::worker::{Role, SceneViews};
    let answer = |role, text: &str| ChatAnswer {
        role,
        text: text.into(),
        latency_ms: 1.0,
        tokens: Vec::new(),
        attention: None,
        scene_layout: Vec::new(),
        grounding: Vec::new(),
        unseen: Vec::new(),
        looked_again: Vec::new(),
        unconstrained: None,
    };
    let entry = |q: &str, s: &str, t: &str| ChatEntry {
        request_id: 1,
        question: q.into(),
        answers: vec![answer(Role::Student, s), answer(Role::Teacher, t)],
        error: None,
        objects: Vec::new(),
    };
    // Normalised comparison: articles, number words and synonyms do not count as disagreement.
    assert!(agree("the couch", "sofa") && agree("Two", "2") && !agree("yes", "no"));
    let history = vec![
        entry("is the cup on the table?", "yes", "Yes"),
        entry("how many chairs are there?", "3", "2"),
        ChatEntry {
            answers: vec![answer(Role::Student, "no")],
            ..entry("is the lamp near the bed?", "", "")
        },
    ];
    let list = disagreements(&history);
    assert_eq!(list.len(), 1);
    let jsonl = disagreements_jsonl("room_1", &history);
    let v: serde_json::Value = serde_json::from_str(jsonl.trim()).unwrap();
    assert_eq!(v["scene"], "room_1");
    assert_eq!(v["question"], "how many chairs are there?");
    assert_eq!(
        (v["answer"].as_str(), v["student_answer"].as_str()),
        (Some("2"), Some("3"))
    );
    // It reads back as a teacher-answers file for the next distillation run.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("d.jsonl");
    std::fs::write(&file, &jsonl).unwrap();
    let answers = crate::train::TeacherAnswers::read(&file).unwrap();
    assert_eq!(
        answers
            .get("room_1", "how many chairs are there?")
            .unwrap()
            .answer,
        "2"
    );
    // Latent attention: two latents over three scene tokens, averaged and normalised.
    let mut s = answer(Role::Student, "yes");
    s.attention = Some(AttentionMaps {
        answer_to_latent: vec![vec![vec![vec![0.5, 0.5]]]],
        latent_to_scene: vec![vec![vec![vec![0.2, 0.6, 0.2], vec![0.0, 1.0, 0.0]]]],
    });
    let w = latent_attention_over_scene(&s, 0, 0).unwrap();
    assert!(
        (w[1] - 0.8).abs() < 1e-6 && (w[0] - 0.1).abs() < 1e-6,
        "{w:?}"
    );
    assert!(latent_attention_over_scene(&s, 1, 0).is_none());
    // Token layout: a camera token and two cells of a 2×2 grid of one 4-pixel view whose
    // camera is the world frame; depth 2 m everywhere.
    let views = SceneViews {
        scene_id: 1,
        views: ViewBatch {
            size: 4,
            views: 1,
            images: vec![0; 48],
            depth: Some(vec![2.0; 16]),
            intrinsics: vec![2.0, 0.0, 2.0, 0.0, 2.0, 2.0, 0.0, 0.0, 1.0],
            extrinsics: vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            instance: None,
            object_id: Vec::new(),
            object_category: Vec::new(),
        },
    };
    let layout = vec![
        SceneTokenInfo {
            view: 0,
            cell: None,
            grid: 2,
            object: None,
        },
        SceneTokenInfo {
            view: 0,
            cell: Some((0, 0)),
            grid: 2,
            object: None,
        },
        SceneTokenInfo {
            view: 0,
            cell: Some((1, 1)),
            grid: 2,
            object: None,
        },
    ];
    let pts = attention_points(&views, &layout, &w);
    assert_eq!(pts.len(), 2, "the camera token has no place");
    // Cell (0, 0) centre = pixel (1, 1): ((1 − 2) / 2 · 2, (1 − 2) / 2 · 2, 2) = (−1, −1, 2).
    assert!(
        pts[0].0.distance(Vec3::new(-1.0, -1.0, 2.0)) < 1e-5,
        "{pts:?}"
    );
    assert!(
        pts[1].0.distance(Vec3::new(1.0, 1.0, 2.0)) < 1e-5,
        "{pts:?}"
    );
    assert!((pts[0].1 - 0.8).abs() < 1e-6);
    // Object tokens sit at their objects' centres, whatever the depth.
    let object = |id, center_m| SceneTokenInfo {
        view: 0,
        cell: None,
        grid: 0,
        object: Some(crate::model::vlm::TokenObject {
            id,
            category: 3,
            center_m,
        }),
    };
    let objects = vec![object(7, [1.0, 2.0, 0.5]), object(9, [3.0, 0.0, 1.0])];
    let pts = attention_points(&views, &objects, &[0.25, 0.75]);
    assert_eq!(pts.len(), 2);
    assert!(pts[1].0.distance(Vec3::new(3.0, 0.0, 1.0)) < 1e-6 && pts[1].1 == 0.75);
    // The most attended objects, named, best first, with their share.
    let top = super::diagnostics::most_attended_objects(&objects, &[0.25, 0.75], 5);
    assert_eq!(top, vec![(9, 3, 0.75), (7, 3, 0.25)]);
    assert!(super::diagnostics::most_attended_objects(&layout, &w, 5).is_empty());
}

#[test]
fn training_events_fill_the_curves_and_checkpoints() {
    use super::model_bridge::ModelBridge;
    use super::training::TrainingStage;
    use super::training::{ScriptedTraining, TrainingState};
    use crate::worker::TrainEvent;
    use crate::worker::TrainPlan;
    use std::collections::BTreeMap;
    let mut t = TrainingState::default();
    match t.request(false) {
        TrainPlan::Distill(p) => assert_eq!(p.cot, 8),
        other => panic!("{other:?}"),
    }
    // Each stage of the tab is the plan of its command.
    t.stage = TrainingStage::Perception;
    t.init = "models/student".into();
    t.steps = 77;
    match t.request(true) {
        TrainPlan::Perception(p) => {
            assert_eq!(p.train.steps, 77);
            assert_eq!(
                p.train.init.as_deref(),
                Some(std::path::Path::new("models/student"))
            );
            assert!(p.resume);
            assert!(!p.train.camera_head && !p.train.camera_only);
            assert_eq!(p.train.named_weight, 1.0);
        }
        other => panic!("{other:?}"),
    }
    // The camera head: trained alone on the init model, or with the rest.
    t.named_weight = 3.0;
    match t.request(false) {
        TrainPlan::Perception(p) => assert_eq!(p.train.named_weight, 3.0),
        other => panic!("{other:?}"),
    }
    t.camera = super::training::CameraTraining::Only;
    match t.request(false) {
        TrainPlan::Perception(p) => assert!(p.train.camera_only && !p.train.camera_head),
        other => panic!("{other:?}"),
    }
    t.camera = super::training::CameraTraining::WithTheRest;
    match t.request(false) {
        TrainPlan::Perception(p) => assert!(p.train.camera_head && !p.train.camera_only),
        other => panic!("{other:?}"),
    }
    t.stage = TrainingStage::Decoder;
    t.init = "runs/perception/checkpoint".into();
    match t.request(false) {
        TrainPlan::Decoder(p) => {
            assert!(p.student && p.anchors && p.object_context);
            assert_eq!((p.slots, p.cot, p.train.steps), (3, 8, 77));
            assert_eq!(
                p.train.init.as_deref(),
                Some(std::path::Path::new("runs/perception/checkpoint"))
            );
            assert_eq!(p.train.teacher, None, "no distillation unless asked");
            assert_eq!(p.train.init_decoder, None, "a fresh decoder unless asked");
            assert_eq!(p.train.found_objects, None);
            assert_eq!(p.train.reword, 0.0);
            assert!(p.train.categories.is_empty(), "every category unless asked");
        }
        other => panic!("{other:?}"),
    }
    // The documented stage-2 continuation: a decoder to continue, paraphrases, chosen
    // categories and another run's found objects.
    t.init_decoder = " models/student ".into();
    t.reword = 0.25;
    t.categories = vec![QuestionCategory::Proximity, QuestionCategory::Contact];
    t.found_objects = "runs/student11c/found_objects.json".into();
    match t.request(false) {
        TrainPlan::Decoder(p) => {
            assert_eq!(
                p.train.init_decoder.as_deref(),
                Some(std::path::Path::new("models/student"))
            );
            assert_eq!(p.train.reword, 0.25);
            assert_eq!(
                p.train.categories,
                vec![QuestionCategory::Proximity, QuestionCategory::Contact]
            );
            assert_eq!(
                p.train.found_objects.as_deref(),
                Some(std::path::Path::new("runs/student11c/found_objects.json"))
            );
        }
        other => panic!("{other:?}"),
    }
    // Hidden CoT distillation from the teacher folder, for the object student only.
    t.decoder_distill = true;
    t.teacher = "models/teacher".into();
    t.annotated_share = 0.25;
    t.group_voxel_m = 0.15;
    match t.request(false) {
        TrainPlan::Decoder(p) => {
            assert_eq!(
                p.train.teacher.as_deref(),
                Some(std::path::Path::new("models/teacher"))
            );
            assert_eq!(p.train.annotated_share, 0.25);
            assert_eq!(p.group_voxel_m, Some(0.15));
        }
        other => panic!("{other:?}"),
    }
    t.decoder_student = false;
    match t.request(false) {
        TrainPlan::Decoder(p) => {
            assert_eq!(p.train.teacher, None);
            assert_eq!(
                p.train.annotated_share, 0.0,
                "the teacher reads them already"
            );
            assert_eq!(p.group_voxel_m, None, "the teacher groups nothing");
            assert_eq!(p.train.found_objects, None, "the teacher finds nothing");
            assert_eq!(p.train.reword, 0.25, "both models may be reworded");
        }
        other => panic!("{other:?}"),
    }
    t.stage = TrainingStage::Distill;
    t.apply(TrainEvent::Started {
        step: 0,
        total: 100,
    });
    assert!(t.running);
    for step in 1..=10 {
        t.apply(TrainEvent::Step {
            step,
            losses: BTreeMap::from([
                ("answer_ce".to_string(), 5.0 - step as f32 * 0.1),
                ("geo_match".to_string(), 4.0),
            ]),
            weights: BTreeMap::from([("answer".to_string(), 1.0)]),
            lr: 1e-3,
            steps_per_s: 0.5,
        });
    }
    assert_eq!(t.losses["answer_ce"].len(), 10);
    assert_eq!(t.losses["answer_ce"][9], (10, 4.0));
    assert_eq!(t.weights["answer"].len(), 10);
    // 90 steps left at 0.5 steps/s.
    assert!((t.eta_s().unwrap() - 180.0).abs() < 1e-9);
    let ckpt: std::path::PathBuf = "/runs/a/checkpoint".into();
    t.apply(TrainEvent::Checkpoint {
        step: 5,
        path: ckpt.clone(),
    });
    t.apply(TrainEvent::Checkpoint {
        step: 10,
        path: ckpt.clone(),
    });
    assert_eq!(
        t.checkpoints,
        vec![(10, ckpt)],
        "one folder, its latest step"
    );
    t.apply(TrainEvent::Eval {
        step: 10,
        metrics: BTreeMap::from([("proximity".to_string(), 0.6)]),
    });
    assert_eq!(t.eval.as_ref().unwrap().1["proximity"], 0.6);
    t.apply(TrainEvent::Cancelled { step: 10 });
    assert!(!t.running && t.eta_s().is_none());
    assert_eq!(t.status.as_deref(), Some("stopped"));
    // Long runs keep the curves bounded.
    for step in 11..=9000 {
        t.apply(TrainEvent::Step {
            step,
            losses: BTreeMap::from([("total".to_string(), 1.0)]),
            weights: BTreeMap::new(),
            lr: 1e-3,
            steps_per_s: 1.0,
        });
    }
    assert!(t.losses["total"].len() <= 4000);
    assert_eq!(t.losses["total"].last().unwrap().0, 9000);
    assert!(!t.failed, "a stopped run is not a failure");

    // A scripted run (`view --train`) is pending until the run ends; a run that cannot start
    // (no worker here) ends at once as a failure with the reason, and a new start clears it.
    let mut script = ScriptedTraining {
        data: "/data".into(),
        steps: Some(3),
        preset: Some(crate::worker::StudentPreset::Tiny),
        out: None,
        started: false,
    };
    let mut fresh = TrainingState::default();
    assert!(script.pending(&fresh));
    script.started = true;
    assert!(script.pending(&fresh), "started, not ended");
    fresh.start(&mut ModelBridge::default(), false);
    assert!(fresh.failed && !script.pending(&fresh));
    assert!(
        fresh.status.as_deref().unwrap().contains("not running"),
        "{:?}",
        fresh.status
    );
    fresh.apply(TrainEvent::Started { step: 0, total: 3 });
    assert!(!fresh.failed && fresh.status.is_none() && script.pending(&fresh));
    fresh.apply(TrainEvent::Failed {
        error: "data: no such folder".into(),
    });
    assert!(fresh.failed && !fresh.running && !script.pending(&fresh));
}

#[test]
fn the_status_bar_formats_frame_times_consistently() {
    use super::ui::frame_time_text;
    assert_eq!(frame_time_text(221.0), "221.0 ms/frame, 4.5 fps");
    assert_eq!(frame_time_text(16.666), "16.7 ms/frame, 60.0 fps");
    assert_eq!(frame_time_text(0.0), "0.0 ms/frame, 100000.0 fps");
}

#[test]
fn worker_messages_reach_chat_predictions_and_training_plugins() {
    use super::chat::{Chat, ChatEntry, ChatPlugin};
    use super::loading::SceneReplaced;
    use super::model_bridge::WorkerMessage;
    use super::predictions::{Predictions, PredictionsPlugin};
    use super::training::{TrainingPlugin, TrainingState};
    use crate::train::TrainEvent;
    use crate::worker::{Event, Role};
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin::default(),
        bevy::gizmos::GizmoPlugin,
    ))
    .add_message::<WorkerMessage>()
    .add_message::<SceneReplaced>()
    .init_resource::<super::model_bridge::ModelBridge>()
    .init_resource::<Assets<Mesh>>()
    .init_resource::<Assets<StandardMaterial>>()
    .init_asset::<bevy::mesh::skinning::SkinnedMeshInverseBindposes>()
    .add_plugins((ChatPlugin, PredictionsPlugin, TrainingPlugin));
    app.world_mut()
        .resource_mut::<Chat>()
        .history
        .entry(std::path::PathBuf::new())
        .or_default()
        .push(ChatEntry {
            request_id: 9,
            question: "is the bed near the door?".into(),
            answers: Vec::new(),
            error: None,
            objects: Vec::new(),
        });
    let send = |app: &mut App, event: Event| {
        app.world_mut().write_message(WorkerMessage {
            current_scene_id: 1,
            event,
        });
        app.update();
    };
    send(
        &mut app,
        Event::Answer {
            request_id: 9,
            role: Role::Student,
            text: "no".into(),
            tokens: Vec::new(),
            latency_ms: 3.0,
            attention: None,
            scene_layout: Vec::new(),
            objects: vec![2],
            grounding: Vec::new(),
            unseen: vec!["lamp".into()],
            looked_again: vec!["a vase (60 px)".into()],
            unconstrained: Some("1.5 m".into()),
        },
    );
    send(
        &mut app,
        Event::Training(TrainEvent::Started { step: 0, total: 40 }),
    );
    send(
        &mut app,
        Event::Prediction {
            request_id: 1,
            role: Role::Student,
            depth: Vec::new(),
            detections: Vec::new(),
            world_from_camera0: Mat4::from_translation(Vec3::X).to_cols_array(),
        },
    );
    let chat = app.world().resource::<Chat>();
    let answer = &chat.history[&std::path::PathBuf::new()][0].answers[0];
    assert_eq!(answer.text, "no");
    assert_eq!(answer.unseen, vec!["lamp".to_string()]);
    assert_eq!(answer.looked_again, vec!["a vase (60 px)".to_string()]);
    assert_eq!(answer.unconstrained.as_deref(), Some("1.5 m"));
    assert_eq!(chat.highlighted, vec![2]);
    let training = app.world().resource::<TrainingState>();
    assert!(training.running);
    assert_eq!(training.total, 40);
    let p = app.world().resource::<Predictions>();
    assert_eq!(p.world_from_camera0.w_axis.x, 1.0);
    assert_eq!(p.generation, 1);
}

#[test]
fn point_clouds_draw_only_the_selection_within_the_budget_without_hidden_points() {
    use super::lod::{LodCloud, gather_instances};
    use crate::scene::lod::{LodView, select};
    let mut scene = generate(0, 38).to_scene().0;
    scene.triangles = None;
    let c = current(scene);
    let lod = c.lod.clone().expect("point clouds get an octree");
    assert!(c.normals.is_none());
    let tv = television(&c.scene);
    let hidden = HiddenObjects([tv.id].into_iter().collect());
    let cloud = LodCloud {
        lod: lod.clone(),
        scene: c.scene.clone(),
        colors: Some(Arc::new(point_colors(&c.scene, ColorMode::Rgb, &hidden))),
        base_px: 3.0,
    };
    let center = c.scene.bounds().unwrap().center();
    let eye = center + Vec3::new(0.0, -6.0, 3.0);
    let view = LodView {
        eye,
        clip_from_world: Mat4::perspective_infinite_reverse_rh(0.8, 1.6, 0.02)
            * Mat4::look_at_rh(eye, center, Vec3::Z),
        focal_px: 700.0,
    };
    let n = c.scene.positions.len();
    let everything = gather_instances(&cloud, &select(&lod, &view, n as u64), &view);
    assert_eq!(everything.len(), n - tv.vertex_indices.len());
    assert!(everything.iter().all(|p| p.size_px == 3.0));
    let budget = (n / 3) as u64;
    let some = gather_instances(&cloud, &select(&lod, &view, budget), &view);
    assert!(!some.is_empty() && some.len() as u64 <= budget);
    let tv_points: std::collections::HashSet<[u32; 3]> = tv
        .vertex_indices
        .iter()
        .map(|&v| c.scene.positions[v as usize].to_array().map(f32::to_bits))
        .collect();
    assert!(
        some.iter()
            .all(|p| !tv_points.contains(&p.position.map(f32::to_bits))),
        "hidden points are never drawn"
    );
    // Without hidden objects the scene's own colours are drawn.
    let plain = LodCloud {
        colors: None,
        ..cloud.clone()
    };
    let all = gather_instances(&plain, &select(&lod, &view, n as u64), &view);
    assert_eq!(all.len(), n);
    // (Generated rooms repeat some positions with other colours: compare pairs.)
    let pairs: std::collections::HashSet<([u32; 3], [u8; 4])> = c
        .scene
        .positions
        .iter()
        .zip(&c.scene.colors)
        .map(|(p, col)| {
            (
                p.to_array().map(f32::to_bits),
                [col[0], col[1], col[2], 255],
            )
        })
        .collect();
    assert!(
        all.iter()
            .all(|p| pairs.contains(&(p.position.map(f32::to_bits), p.color)))
    );
    // Fewer points are drawn bigger, never smaller than the base size.
    assert!(some.iter().all(|p| p.size_px >= 3.0));
    assert!(some.iter().any(|p| p.size_px > 3.0));
}

#[test]
fn the_drawn_point_count_clears_when_no_cloud_is_shown() {
    use super::lod::{PointLodPlugin, PointsDrawn};
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, PointLodPlugin));
    app.insert_resource(PointsDrawn {
        drawn: 1_000_000,
        total: 5_000_000,
    });
    app.update();
    assert_eq!(
        *app.world().resource::<PointsDrawn>(),
        PointsDrawn::default(),
        "a mesh after a cloud shows no point count"
    );
}
