use std::path::Path;

use glam::{Mat4, Vec3, Vec4};

use super::build::{BuildOptions, build};
use super::shard::SceneShard;
use super::*;
use crate::questions::jsonl::read_jsonl;
use crate::scene::procgen::{GenFormat, generate};

#[test]
fn splits_are_by_scene_deterministic_and_never_empty() {
    let names: Vec<String> = (0..25).map(|i| format!("scene{i:04}_00")).collect();
    let a = assign_splits(&names, 0);
    assert_eq!(a, assign_splits(&names, 0));
    let count = |s: Split| a.iter().filter(|x| **x == s).count();
    assert_eq!(
        (count(Split::Test), count(Split::Val), count(Split::Train)),
        (3, 3, 19)
    );
    assert_ne!(a, assign_splits(&names, 1));
    assert_eq!(assign_splits(&names[..2], 0), vec![Split::Train; 2]);
    let three = assign_splits(&names[..3], 0);
    assert!(three.contains(&Split::Test) && three.contains(&Split::Val));
}

#[test]
fn detection_classes_cover_scannet18_then_small_objects() {
    use crate::scene::Category;
    assert_eq!(detection_class(Category::Cabinet), Some(0));
    assert_eq!(detection_class(Category::GarbageBin), Some(17));
    assert_eq!(detection_class(Category::Cup), Some(22));
    assert_eq!(detection_class(Category::Wall), None);
    assert_eq!(NUM_DETECTION_CLASSES, 26);
    for i in 18..NUM_DETECTION_CLASSES {
        let name = detection_class_name(i).unwrap();
        assert_eq!(detection_class(Category::from_name(name).unwrap()), Some(i));
    }
    assert_eq!(detection_class_name(13), Some("showercurtrain"));
    assert_eq!(detection_class_name(26), None);
}

fn write_scenes(dir: &Path, count: u32) {
    for i in 0..count {
        generate(11, i).write(dir, GenFormat::ScanNet).unwrap();
    }
}

fn small() -> BuildOptions {
    BuildOptions {
        views: 2,
        size: 24,
        seed: 0,
        per_category: 4,
        hfov_deg: 75.0,
    }
}

#[test]
fn gen_data_builds_consistent_shards_and_resumes() {
    let scenes = tempfile::tempdir().unwrap();
    write_scenes(scenes.path(), 4);
    // A broken scene is recorded and skipped, not fatal.
    std::fs::create_dir(scenes.path().join("broken")).unwrap();
    std::fs::write(
        scenes.path().join("broken/broken_vh_clean_2.ply"),
        b"ply\nformat ascii 1.0\nelement vertex 99\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut calls = 0;
    let report = build(scenes.path(), out.path(), &small(), |_, _, _| calls += 1).unwrap();
    assert_eq!(calls, 5);
    assert_eq!(report.built, 4);
    let m = &report.manifest;
    assert!(m.complete);
    assert_eq!(m.failed.len(), 1);
    assert!(
        m.failed[0].error.contains("broken_vh_clean_2.ply"),
        "{}",
        m.failed[0].error
    );
    let total: usize = m.splits.values().map(Vec::len).sum();
    assert_eq!(total, 4);
    assert_eq!(m.splits.get(&Split::Test).map(Vec::len), Some(1));
    assert_eq!(m.splits.get(&Split::Val).map(Vec::len), Some(1));

    for (split, keys) in &m.splits {
        let qs = read_jsonl(&out.path().join(split.name()).join("questions.jsonl")).unwrap();
        assert!(!qs.is_empty());
        if *split == Split::Train {
            assert!(qs.iter().all(|q| !q.held_out), "held-out wording in train");
        }
        for key in keys {
            let shard = SceneShard::read(
                &out.path()
                    .join(split.name())
                    .join(format!("{key}.safetensors")),
            )
            .unwrap();
            assert_eq!(shard.scene, *key);
            assert_eq!((shard.views, shard.size), (2, 24));
            assert_eq!(shard.images.len(), 2 * 24 * 24 * 3);
            assert!(!shard.box_class.is_empty());
            check_geometry(&shard);
        }
    }
    // Held-out wording appears in val/test.
    let mut eval_qs = read_jsonl(&out.path().join("val/questions.jsonl")).unwrap();
    eval_qs.extend(read_jsonl(&out.path().join("test/questions.jsonl")).unwrap());
    assert!(eval_qs.iter().any(|q| q.held_out));

    // Resume: nothing to do; after losing one shard exactly that one is rebuilt, identically.
    let again = build(scenes.path(), out.path(), &small(), |_, _, _| {}).unwrap();
    assert_eq!((again.built, again.resumed), (0, 4));
    let key = &m.splits[&Split::Train][0];
    let shard_path = out.path().join("train").join(format!("{key}.safetensors"));
    let before = SceneShard::read(&shard_path).unwrap();
    std::fs::remove_file(&shard_path).unwrap();
    let again = build(scenes.path(), out.path(), &small(), |_, _, _| {}).unwrap();
    assert_eq!((again.built, again.resumed), (1, 3));
    // (Compared decoded: safetensors writes its metadata map in no fixed order.)
    assert!(
        SceneShard::read(&shard_path).unwrap() == before,
        "rebuilt shard differs"
    );
    // Other options on the same folder: refused, naming the manifest.
    let err = build(
        scenes.path(),
        out.path(),
        &BuildOptions {
            views: 3,
            ..small()
        },
        |_, _, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("manifest.json") && err.contains("same options"),
        "{err}"
    );
}

/// Pixels back-projected with their depth through the stored intrinsics and extrinsics land
/// inside the box of the object their instance id names.
fn check_geometry(shard: &SceneShard) {
    let s = shard.size as usize;
    let mut checked = 0;
    for v in 0..shard.views {
        let k = &shard.intrinsics[v * 9..v * 9 + 9];
        let e = &shard.extrinsics[v * 12..v * 12 + 12];
        let camera_from_world = Mat4::from_cols(
            Vec4::new(e[0], e[4], e[8], 0.0),
            Vec4::new(e[1], e[5], e[9], 0.0),
            Vec4::new(e[2], e[6], e[10], 0.0),
            Vec4::new(e[3], e[7], e[11], 1.0),
        );
        let world_from_camera = camera_from_world.inverse();
        for y in 0..s {
            for x in 0..s {
                let i = v * s * s + y * s + x;
                let (d, id) = (shard.depth[i], shard.instance[i]);
                let Some(b) = shard.box_object.iter().position(|&o| o == i64::from(id)) else {
                    continue;
                };
                if d <= 0.0 {
                    continue;
                }
                let p_cam = Vec3::new(
                    (x as f32 - k[2]) / k[0] * d,
                    (y as f32 - k[5]) / k[4] * d,
                    d,
                );
                let p = world_from_camera.transform_point3(p_cam);
                let c = Vec3::from_slice(&shard.boxes[b * 6..b * 6 + 3]);
                let half = Vec3::from_slice(&shard.boxes[b * 6 + 3..b * 6 + 6]) / 2.0;
                let outside = ((p - c).abs() - half).max_element();
                assert!(
                    outside < 0.02,
                    "pixel {x},{y} of view {v}: {p} is {outside} m outside box {b}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "only {checked} pixels on boxed objects");
}

#[test]
fn broken_shards_name_the_file_and_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let shard = SceneShard {
        scene: "s".into(),
        view_source: "render".into(),
        views: 1,
        size: 2,
        images: vec![7; 12],
        depth: vec![1.5; 4],
        instance: vec![-1, 0, 1, 2],
        intrinsics: vec![1.0; 9],
        extrinsics: vec![0.5; 12],
        boxes: vec![0.25; 6],
        box_class: vec![3],
        box_object: vec![1],
        object_id: vec![0, 1, 2],
        object_category: vec![4, 1, 0],
    };
    let path = dir.path().join("s.safetensors");
    shard.write(&path).unwrap();
    assert_eq!(SceneShard::read(&path).unwrap(), shard);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let err = SceneShard::read(&path).unwrap_err().to_string();
    assert!(
        err.contains("s.safetensors") && err.contains("not a safetensors"),
        "{err}"
    );
    // Data that does not fill its shape is refused when encoding, naming the tensor.
    let short = SceneShard {
        depth: vec![1.0; 3],
        ..shard.clone()
    };
    let err = short.to_bytes(&path).unwrap_err().to_string();
    assert!(err.contains("tensor depth"), "{err}");
    // A file whose depth is for two views while the images are for one: refused on reading.
    use safetensors::tensor::{Dtype, TensorView};
    let img = vec![0u8; 12];
    let depth = vec![0u8; 2 * 4 * 4];
    let tensors = vec![
        (
            "images".to_string(),
            TensorView::new(Dtype::U8, vec![1, 2, 2, 3], &img).unwrap(),
        ),
        (
            "depth".to_string(),
            TensorView::new(Dtype::F32, vec![2, 2, 2], &depth).unwrap(),
        ),
    ];
    std::fs::write(
        &path,
        safetensors::tensor::serialize(tensors, None).unwrap(),
    )
    .unwrap();
    let err = SceneShard::read(&path).unwrap_err().to_string();
    assert!(
        err.contains("\"depth\" has shape [2, 2, 2], expected [1, 2, 2]"),
        "{err}"
    );
    std::fs::write(&path, b"").unwrap();
    assert!(
        SceneShard::read(&path)
            .unwrap_err()
            .to_string()
            .contains("s.safetensors")
    );
    // Values, not only shapes: a class outside the detection classes, NaN or infinite depth,
    // boxes or cameras, negative depth — each one line naming the file and the tensor.
    let bad: [(SceneShard, &str); 6] = [
        (
            SceneShard {
                box_class: vec![-1],
                ..shard.clone()
            },
            "\"box_class\" has class -1",
        ),
        (
            SceneShard {
                box_class: vec![NUM_DETECTION_CLASSES as i64],
                ..shard.clone()
            },
            "\"box_class\" has class 26",
        ),
        (
            SceneShard {
                depth: vec![1.0, f32::NAN, 1.0, 1.0],
                ..shard.clone()
            },
            "\"depth\" has NaN at element 1",
        ),
        (
            SceneShard {
                depth: vec![1.0, 1.0, -2.0, 1.0],
                ..shard.clone()
            },
            "\"depth\" has -2 at element 2",
        ),
        (
            SceneShard {
                boxes: vec![0.0, 0.0, f32::INFINITY, 1.0, 1.0, 1.0],
                ..shard.clone()
            },
            "\"boxes\" has inf at element 2",
        ),
        (
            SceneShard {
                extrinsics: [vec![f32::NAN], vec![0.5; 11]].concat(),
                ..shard.clone()
            },
            "\"extrinsics\" has NaN at element 0",
        ),
    ];
    for (broken, want) in bad {
        broken.write(&path).unwrap();
        let err = SceneShard::read(&path).unwrap_err().to_string();
        assert!(err.contains("s.safetensors") && err.contains(want), "{err}");
        assert_eq!(err.lines().count(), 1);
    }
}

/// Every question names only objects that some view shows with at least the threshold of
/// instance-mask pixels, read from the shard's masks (not from the generator's bookkeeping),
/// and its `views` lists exactly those views.
#[test]
fn questions_name_only_objects_the_views_show() {
    let scenes = tempfile::tempdir().unwrap();
    write_scenes(scenes.path(), 6);
    let out = tempfile::tempdir().unwrap();
    let options = BuildOptions {
        views: 4,
        size: 56,
        seed: 0,
        per_category: 8,
        hfov_deg: 75.0,
    };
    let report = build(scenes.path(), out.path(), &options, |_, _, _| {}).unwrap();
    let min_px = crate::questions::min_visible_px(56);
    assert_eq!(min_px, 10, "40 px at 112² is 10 px at 56²");
    let mut checked = 0;
    let mut yes_no = 0;
    for (split, keys) in &report.manifest.splits {
        for key in keys {
            let dir = out.path().join(split.name());
            let shard = SceneShard::read(&dir.join(format!("{key}.safetensors"))).unwrap();
            // The balanced questions and the candidates they were drawn from.
            let mut qs = read_jsonl(&dir.join(format!("{key}.jsonl"))).unwrap();
            qs.extend(read_jsonl(&dir.join(format!("{key}.candidates.jsonl"))).unwrap());
            let px = 56 * 56;
            let count = |v: usize, id: u32| {
                shard.instance[v * px..(v + 1) * px]
                    .iter()
                    .filter(|&&i| i == id as i32)
                    .count()
            };
            for q in &qs {
                assert_eq!(q.views.len(), q.objects.len(), "{}", q.question);
                assert_eq!(q.classes.len(), q.objects.len(), "{}", q.question);
                assert!(q.fact.is_some(), "{}", q.question);
                for (id, views) in q.objects.iter().zip(&q.views) {
                    let showing: Vec<usize> = (0..shard.views)
                        .filter(|&v| count(v, *id) >= min_px)
                        .collect();
                    assert!(!showing.is_empty(), "{}: object {id} unseen", q.question);
                    assert_eq!(*views, showing, "{}", q.question);
                    checked += 1;
                }
                yes_no += usize::from(q.is_yes_no());
            }
        }
    }
    assert!(
        checked > 500 && yes_no > 100,
        "{checked} objects, {yes_no} yes/no"
    );
    // Coverage is reported: objects per scene, the share seen, the threshold.
    let c = &report.manifest.coverage;
    assert_eq!(c.min_visible_px, min_px);
    assert_eq!(c.scenes.len(), 6);
    assert!(c.objects_per_scene > 5.0, "{}", c.objects_per_scene);
    assert!(
        c.visible_share > 0.5 && c.visible_share <= 1.0,
        "{}",
        c.visible_share
    );
}

/// After the dataset-wide balance, within every wording group (category, template polarity,
/// classes) of a split there are as many yes as no answers; the manifest counts them per
/// template and per fact.
#[test]
fn yes_no_answers_are_balanced_within_every_wording_group() {
    let scenes = tempfile::tempdir().unwrap();
    write_scenes(scenes.path(), 12);
    let out = tempfile::tempdir().unwrap();
    let report = build(scenes.path(), out.path(), &small(), |_, _, _| {}).unwrap();
    let mut total = 0;
    for split in Split::ALL {
        let qs = read_jsonl(&out.path().join(split.name()).join("questions.jsonl")).unwrap();
        let mut groups: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
        for q in qs.iter().filter(|q| q.is_yes_no()) {
            let g = groups
                .entry(crate::questions::balance::wording_key(q))
                .or_default();
            if q.answer == "yes" {
                g.0 += 1
            } else {
                g.1 += 1
            }
            total += 1;
        }
        for (k, (yes, no)) in groups {
            assert_eq!(yes, no, "{split:?} {k}");
        }
        // The per-template counts of the manifest are those of the file.
        let per_template = &report.manifest.coverage.per_template[&split];
        let n: usize = per_template.values().map(|c| c.n).sum();
        assert_eq!(n, qs.iter().filter(|q| q.is_yes_no()).count());
    }
    assert!(total > 0);
    assert!(report.manifest.coverage.dropped_by_balance[&Split::Train] > 0);
}

/// The one path from a loaded scene to its views finds a ScanNet scan's exported RGB-D frames
/// from the scene's own format and source path (no format detection of a path given again).
#[test]
fn a_loaded_scannet_scene_with_exported_frames_uses_them() {
    use crate::render::{Camera, Intrinsics};
    let dir = tempfile::tempdir().unwrap();
    generate(11, 0)
        .write(dir.path(), GenFormat::ScanNet)
        .unwrap();
    let scan = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let scene = crate::scene::load_scene(&scan, &Default::default()).unwrap();
    let options = BuildOptions {
        views: 2,
        size: 16,
        ..Default::default()
    };
    // Without frames: rendered views.
    assert_eq!(
        super::build::render_shard(&scene, &options, 0)
            .unwrap()
            .view_source,
        "render"
    );
    // A SensReader-style export of two frames.
    let k = Intrinsics::from_hfov(32, 24, 70.0);
    let b = scene.bounds().unwrap();
    let eye = Vec3::new(b.center().x, b.center().y, b.min.z + 1.5);
    let cams: Vec<Camera> = [0.0f32, 1.5]
        .iter()
        .map(|yaw| Camera::look_at(eye, eye + Vec3::new(yaw.cos(), yaw.sin(), -0.2), k).unwrap())
        .collect();
    crate::test_scenes::write_scannet_frames(&scan, &scene, &cams, Mat4::IDENTITY);
    let shard = super::build::render_shard(&scene, &options, 0).unwrap();
    assert_eq!(shard.view_source, "scannet-frames");
    assert_eq!((shard.views, shard.size), (2, 16));
    // Instance ids come from the annotated mesh seen by the frames' cameras.
    assert!(shard.instance.iter().any(|&i| i >= 0));
}

#[test]
fn a_version_1_shard_reads_without_object_categories_and_bad_categories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let shard = SceneShard {
        scene: "s".into(),
        view_source: "render".into(),
        views: 1,
        size: 2,
        images: vec![7; 12],
        depth: vec![1.5; 4],
        instance: vec![-1, 0, 1, 2],
        intrinsics: vec![1.0; 9],
        extrinsics: vec![0.5; 12],
        boxes: vec![0.25; 6],
        box_class: vec![3],
        box_object: vec![1],
        object_id: Vec::new(),
        object_category: Vec::new(),
    };
    // Written without the version-2 tensors (as version 1 wrote them).
    let bytes = shard.to_bytes(&dir.path().join("x")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView<'_>)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("object_"))
        .collect();
    let v1 = safetensors::tensor::serialize(kept, None).unwrap();
    let path = dir.path().join("v1.safetensors");
    std::fs::write(&path, v1).unwrap();
    let read = SceneShard::read(&path).unwrap();
    assert!(read.object_id.is_empty() && read.object_category.is_empty());
    assert_eq!(read.depth, shard.depth);
    // A category outside Category::ALL is named.
    let bad = SceneShard {
        object_id: vec![1],
        object_category: vec![crate::scene::Category::ALL.len() as i64],
        ..shard.clone()
    };
    let err = bad.check_values().unwrap_err();
    assert!(err.contains("object_category"), "{err}");
}

#[test]
fn object_tokens_back_project_each_mask_into_a_world_box() {
    use crate::data::objects::{ObjectViews, object_tokens};
    // One 4x4 view, identity camera at the origin looking down +z, fx = fy = 2, c = (1.5, 1.5).
    let size = 4;
    let mut depth = vec![0.0f32; 16];
    let mut instance = vec![-1i32; 16];
    // Object 7: the left two columns at depth 2 m; object 9: one pixel at depth 4 m.
    for y in 0..4 {
        for x in 0..2 {
            depth[y * 4 + x] = 2.0;
            instance[y * 4 + x] = 7;
        }
    }
    depth[3 * 4 + 3] = 4.0;
    instance[3 * 4 + 3] = 9;
    // Object 11 is masked but has no depth: no box, no token.
    instance[2] = 11;
    let intrinsics = [2.0, 0.0, 1.5, 0.0, 2.0, 1.5, 0.0, 0.0, 1.0];
    let extrinsics = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    let chair = crate::scene::Category::Chair.index() as i64;
    let cup = crate::scene::Category::ALL
        .iter()
        .position(|c| c.name() == "cup")
        .unwrap() as i64;
    let views = ObjectViews {
        size,
        views: 1,
        depth: &depth,
        instance: &instance,
        intrinsics: &intrinsics,
        extrinsics: &extrinsics,
        object_id: &[7, 9, 11],
        object_category: &[chair, cup, chair],
    };
    let tokens = object_tokens(&views, 1);
    assert_eq!(tokens.len(), 2);
    let t7 = &tokens[0];
    assert_eq!((t7.id, t7.category, t7.pixels), (7, chair as usize, 8));
    // x = (u - 1.5) / 2 * 2 for u in 0..=1 → -1.5..-0.5; y for v in 0..=3 → -1.5..1.5; z = 2.
    assert_eq!(t7.min_m, [-1.5, -1.5, 2.0]);
    assert_eq!(t7.max_m, [-0.5, 1.5, 2.0]);
    let t9 = &tokens[1];
    assert_eq!(t9.min_m, [3.0, 3.0, 4.0]);
    assert_eq!(t9.min_m, t9.max_m);
    // Box gap: x from -0.5 to 3, y from 1.5 to 3, z from 2 to 4.
    let gap = t7.box_gap_m(t9);
    assert!((gap - (3.5f32 * 3.5 + 1.5 * 1.5 + 2.0 * 2.0).sqrt()).abs() < 1e-5);
    // A minimum of 2 pixels drops the one-pixel cup.
    assert_eq!(object_tokens(&views, 2).len(), 1);
    // Arrays shorter than their shapes: no tokens, no panic.
    let short = ObjectViews {
        depth: &depth[..3],
        ..views
    };
    assert!(object_tokens(&short, 1).is_empty());
}
