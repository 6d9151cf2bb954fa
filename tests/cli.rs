//! The `spatia` binary: `info`, `gen-scenes`, and one-line errors on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use spatia::scene::{LoadOptions, load_scene};

fn spatia(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spatia"))
        .args(args)
        .output()
        .expect("run spatia")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn bundled_scene() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/default")
}

#[test]
fn info_json_matches_the_loader() {
    let path = bundled_scene();
    let out = spatia(&["info", path.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let scene = load_scene(&path, &LoadOptions::default()).unwrap();
    assert_eq!(v["format"], "scannet");
    assert_eq!(v["vertices"], scene.positions.len());
    assert_eq!(v["faces"], scene.face_count());
    let objects = v["objects"].as_array().unwrap();
    assert_eq!(objects.len(), scene.objects.len());
    for (j, o) in objects.iter().zip(&scene.objects) {
        assert_eq!(j["id"], o.id);
        assert_eq!(j["label"], o.raw_label.as_str());
        assert_eq!(j["category"], o.category.name());
        assert_eq!(j["vertices"], o.vertex_indices.len());
        for k in 0..3 {
            assert_eq!(j["aabb_min"][k].as_f64().unwrap() as f32, o.aabb.min[k]);
            assert_eq!(j["aabb_max"][k].as_f64().unwrap() as f32, o.aabb.max[k]);
        }
    }
    // The text form lists the same objects.
    let text = spatia(&["info", path.to_str().unwrap()]);
    assert!(text.status.success());
    let t = stdout(&text);
    assert!(t.contains("format    scannet"), "{t}");
    assert!(
        t.contains(&format!("objects   {}", scene.objects.len())),
        "{t}"
    );
    assert!(t.contains("coffee table"), "{t}");
}

#[test]
fn bundled_scene_is_the_documented_generated_scene() {
    // README/docs say the default scene is `gen-scenes --seed 0` scene 38. If the generator
    // changes, regenerate it with:
    //   spatia gen-scenes --out /tmp/g --seed 0 --start 38 --count 1 && cp /tmp/g/spatia_s0_00038/* assets/scenes/default/
    let bundled = load_scene(&bundled_scene(), &LoadOptions::default()).unwrap();
    let (generated, _) = spatia::scene::procgen::generate(0, 38).to_scene();
    assert_eq!(bundled.objects.len(), generated.objects.len());
    for (a, b) in bundled.objects.iter().zip(&generated.objects) {
        assert_eq!(a.raw_label, b.raw_label);
        assert!(a.aabb.max_corner_diff(&b.aabb) < 1e-4, "{}", a.raw_label);
    }
}

fn scene_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn gen_scenes_writes_loadable_scannet_and_3dfront() {
    let dir = tempfile::tempdir().unwrap();
    let scannet = dir.path().join("scannet");
    let out = spatia(&[
        "gen-scenes",
        "--out",
        scannet.to_str().unwrap(),
        "--count",
        "3",
        "--seed",
        "9",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("wrote 3 scenes"), "{}", stdout(&out));
    let dirs = scene_dirs(&scannet);
    assert_eq!(dirs.len(), 3);
    for d in &dirs {
        let name = d.file_name().unwrap().to_str().unwrap();
        for suffix in [
            "_vh_clean_2.ply",
            "_vh_clean_2.0.010000.segs.json",
            ".aggregation.json",
            ".txt",
        ] {
            assert!(
                d.join(format!("{name}{suffix}")).is_file(),
                "{name}{suffix}"
            );
        }
        let s = load_scene(d, &LoadOptions::default()).unwrap();
        assert!(s.objects.len() >= 10, "{name}: {} objects", s.objects.len());
    }

    let front = dir.path().join("front");
    let out = spatia(&[
        "gen-scenes",
        "--out",
        front.to_str().unwrap(),
        "--count",
        "2",
        "--seed",
        "9",
        "--format",
        "3dfront",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let houses = scene_dirs(&front.join("3D-FRONT"));
    assert_eq!(houses.len(), 2);
    let models = scene_dirs(&front.join("3D-FUTURE-model"));
    assert!(models.len() >= 10);
    assert!(models[0].join("raw_model.obj").is_file());
    // Same seed, same scenes, whichever the format.
    let a = load_scene(&houses[0], &LoadOptions::default()).unwrap();
    let b = load_scene(&dirs[0], &LoadOptions::default()).unwrap();
    assert_eq!(a.objects.len(), b.objects.len());
    let info = spatia(&["info", houses[0].to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&info)).unwrap();
    assert_eq!(v["format"], "3dfront");
}

#[test]
fn bad_input_prints_one_line_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.ply");
    let mut bytes = std::fs::read(bundled_scene().join("spatia_s0_00038_vh_clean_2.ply")).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&truncated, &bytes).unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"scene\": [[[[").unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let missing = dir.path().join("missing.ply");
    for (path, want) in [
        (&truncated, "truncated"),
        (&garbage, "malformed JSON"),
        (&empty, "nothing loadable"),
        (&missing, "missing.ply"),
    ] {
        let out = spatia(&["info", path.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.starts_with("error: "), "{err}");
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(err.contains(name) && err.contains(want), "{want}: {err}");
    }
}

#[cfg(feature = "viewer")]
#[test]
fn no_arguments_without_a_display_explains_instead_of_crashing() {
    let out = Command::new(env!("CARGO_BIN_EXE_spatia"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("display"), "{err}");
    let help = spatia(&["--help"]);
    let text = stdout(&help);
    assert!(
        text.contains("info") && text.contains("gen-scenes") && text.contains("view"),
        "{text}"
    );
}

#[test]
fn questions_command_prints_jsonl_with_answers() {
    let out = spatia(&[
        "questions",
        bundled_scene().to_str().unwrap(),
        "--json",
        "--per-category",
        "4",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 20, "{}", lines.len());
    for v in &lines {
        assert_eq!(v["scene"], "spatia_s0_00038");
        assert!(!v["question"].as_str().unwrap().is_empty());
        assert!(!v["answer"].as_str().unwrap().is_empty());
    }
    let cats: std::collections::HashSet<&str> = lines
        .iter()
        .map(|v| v["category"].as_str().unwrap())
        .collect();
    assert_eq!(cats.len(), 8, "{cats:?}");
}

#[test]
fn gen_data_command_builds_and_resumes() {
    let scenes = tempfile::tempdir().unwrap();
    let made = spatia(&[
        "gen-scenes",
        "--out",
        scenes.path().to_str().unwrap(),
        "--count",
        "3",
        "--seed",
        "5",
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let out = tempfile::tempdir().unwrap();
    let args = [
        "gen-data",
        "--scenes",
        scenes.path().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--views",
        "2",
        "--res",
        "16",
        "--previews",
        "1",
    ];
    let first = spatia(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("3 scenes built, 0 resumed, 0 failed"),
        "{}",
        stdout(&first)
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["complete"], true);
    assert_eq!(
        std::fs::read_dir(out.path().join("previews"))
            .unwrap()
            .count(),
        1
    );
    let second = spatia(&args);
    assert!(
        stdout(&second).contains("0 scenes built, 3 resumed"),
        "{}",
        stdout(&second)
    );
    let bad = spatia(&[
        "gen-data",
        "--scenes",
        scenes.path().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--views",
        "0",
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("--views must be"), "{}", stderr(&bad));
}

#[test]
fn import_questions_needs_a_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q.jsonl");
    let o = spatia(&["import-questions", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--scanqa"), "{}", stderr(&o));
    let missing = dir.path().join("nope.json");
    let o = spatia(&[
        "import-questions",
        "--scanqa",
        missing.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nope.json"), "{}", stderr(&o));
}

/// A small untrained model folder (the weights are random: this checks the plumbing, not
/// the answers).
fn tiny_model(dir: &Path) {
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};
    use spatia::model::{ModelConfig, SpatiaTokenizer, SpatialVlm, save_model};
    let corpus = [
        "is the lamp near the sofa?",
        "yes",
        "no",
        "0.35 m",
        "the cup is on the table",
    ];
    let tk = SpatiaTokenizer::train(corpus.iter().map(|s| s.to_string()), 120).unwrap();
    let mut cfg = ModelConfig::tiny(tk.vocab_size(), 28, 14);
    cfg.name = "student".into();
    cfg.decoder.max_answer_tokens = 4;
    let map = VarMap::new();
    SpatialVlm::new(
        &cfg,
        VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu),
    )
    .unwrap();
    save_model(dir, &cfg, &map, &tk, DType::F32).unwrap();
}

#[test]
fn ask_answers_with_a_model_folder() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny");
    tiny_model(&model);
    let out = spatia(&[
        "ask",
        bundled_scene().to_str().unwrap(),
        "Is the lamp near the sofa?",
        "--model",
        model.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert!(v["answer"].is_string());
    assert!(v["model"].as_str().unwrap().contains("student"));
    assert!(v["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(v["encode_ms"].as_f64().unwrap() > 0.0);
    // No model there: one clear line.
    let missing = dir.path().join("absent");
    let out = spatia(&[
        "ask",
        bundled_scene().to_str().unwrap(),
        "q?",
        "--model",
        missing.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("absent") && stderr(&out).contains("no such model folder"),
        "{}",
        stderr(&out)
    );
}

/// `--device`: `cpu` runs there (and says so in the JSON); `cuda` on a machine without a GPU (or
/// a binary without the `cuda` feature) is one error line with the reason; an unknown name is
/// refused with the list of names; the same flag exists on every command that runs a model.
#[test]
fn device_flag_is_honoured_and_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny");
    tiny_model(&model);
    let scene = bundled_scene();
    let ask = |device: &str| {
        spatia(&[
            "ask",
            scene.to_str().unwrap(),
            "Is the lamp near the sofa?",
            "--model",
            model.to_str().unwrap(),
            "--json",
            "--device",
            device,
        ])
    };
    let out = ask("cpu");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["device"], "cpu");
    let out = ask("cuda");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("built without the `cuda` feature") || err.contains("no CUDA device"),
        "{err}"
    );
    let out = ask("tpu");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid value 'tpu'") && stderr(&out).contains("cpu, cuda"),
        "{}",
        stderr(&out)
    );
    for command in [
        &["bench-models"][..],
        &["eval"],
        &["train", "teacher"],
        &["train", "decoder"],
        &["distill"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let out = spatia(&args);
        assert!(stdout(&out).contains("--device <DEVICE>"), "{command:?}");
    }
}

/// `spatia questions SCENE --views N --scene-path` asks only about objects the rendered views
/// show and writes the scene's path; `spatia eval --questions FILE` opens those paths (a
/// ScanNet folder, a 3D-FRONT house; relative to the file's folder too) without a dataset and
/// scores every question, seen and held-out wordings apart.
#[test]
fn eval_on_a_question_file_about_scene_paths() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny");
    tiny_model(&model);
    for format in ["scannet", "3dfront"] {
        let scenes = dir.path().join(format);
        let out = spatia(&[
            "gen-scenes",
            "--out",
            scenes.to_str().unwrap(),
            "--count",
            "1",
            "--seed",
            "5",
            "--format",
            format,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let scene = if format == "scannet" {
            scene_dirs(&scenes).remove(0)
        } else {
            std::fs::read_dir(scenes.join("3D-FRONT"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.extension().is_some_and(|e| e == "json"))
                .unwrap()
        };
        // Written relative to the question file's folder (`dir`), run from elsewhere.
        let rel = scene.strip_prefix(dir.path()).unwrap();
        let qfile = dir.path().join(format!("{format}.jsonl"));
        let out = Command::new(env!("CARGO_BIN_EXE_spatia"))
            .current_dir(dir.path())
            .args([
                "questions",
                rel.to_str().unwrap(),
                "--views",
                "2",
                "--res",
                "28",
                "--scene-path",
                "--per-category",
                "3",
                "--out",
                qfile.to_str().unwrap(),
                "--json",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let lines: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(lines.len() >= 5, "{format}: {} questions", lines.len());
        for q in &lines {
            assert_eq!(q["scene"], rel.to_str().unwrap());
            // Every named object is shown by a view.
            // (A count of an absent class names no object and has neither field.)
            let views = q["views"].as_array().cloned().unwrap_or_default();
            let objects = q["objects"].as_array().map_or(0, Vec::len);
            assert_eq!(views.len(), objects, "{q}");
            assert!(views.iter().all(|v| !v.as_array().unwrap().is_empty()));
        }
        let elsewhere = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_spatia"))
            .current_dir(elsewhere.path())
            .args([
                "eval",
                "--model",
                model.to_str().unwrap(),
                "--questions",
                qfile.to_str().unwrap(),
                "--json",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{format}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let n = |k: &str| -> u64 {
            v[k].as_object()
                .unwrap()
                .values()
                .map(|c| c["n"].as_u64().unwrap())
                .sum()
        };
        assert_eq!(
            n("categories") + n("held_out"),
            lines.len() as u64,
            "{format}"
        );
        assert_eq!(v["scenes"], 1);
        for c in v["categories"].as_object().unwrap().values() {
            let ci = c["ci95"].as_array().unwrap();
            let acc = c["accuracy"].as_f64().unwrap();
            assert!(ci[0].as_f64().unwrap() <= acc && acc <= ci[1].as_f64().unwrap());
        }
    }
    // A scene that is neither beside the file nor in the working directory: one clear line.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        r#"{"scene":"nowhere/scene","question":"Is the cup near the sofa?","answer":"yes","category":"proximity"}"#,
    )
    .unwrap();
    let out = spatia(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--questions",
        bad.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("bad.jsonl") && err.contains("nowhere/scene"),
        "{err}"
    );
}

/// `spatia model-info DIR --json`: parameters per part that add up to the tensors in the file,
/// the tokenizer's size, the configuration; a folder that is not a model is one error line.
#[test]
fn model_info_reports_parts_that_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny");
    tiny_model(&model);
    let out = spatia(&["model-info", model.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let parts: u64 = v["parts"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(parts, v["parameters"].as_u64().unwrap());
    let weights =
        candle_core::safetensors::load(model.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let in_file: usize = weights.values().map(|t| t.elem_count()).sum();
    assert_eq!(parts, in_file as u64);
    for part in [
        "aggregator",
        "decoder",
        "depth_head",
        "detection_head",
        "projector",
    ] {
        assert!(v["parts"][part].as_u64().unwrap() > 0, "{part}");
    }
    assert_eq!(v["config"]["name"], "student");
    assert!(v["tokenizer_vocab"].as_u64().unwrap() >= 8);
    assert!(v["files"]["model.safetensors"].as_u64().unwrap() > 0);
    let out = spatia(&["model-info", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn gen_cloud_writes_the_benchmark_clouds_in_every_encoding() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, encoding) in [
        ("room", "binary-little-endian"),
        ("volume", "binary-big-endian"),
        ("room", "ascii"),
    ] {
        let path = dir.path().join(format!("{kind}-{encoding}.ply"));
        let out = spatia(&[
            "gen-cloud",
            path.to_str().unwrap(),
            "--points",
            "3000",
            "--kind",
            kind,
            "--encoding",
            encoding,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let scene = load_scene(&path, &LoadOptions::default()).unwrap();
        assert_eq!(scene.positions.len(), 3000);
        assert!(scene.triangles.is_none());
        let b = scene.bounds().unwrap();
        assert!(b.min.min_element() >= 0.0 && b.max.x <= 6.0 && b.max.z <= 3.0);
        if kind == "room" {
            assert!(scene.colors.iter().all(|c| c[1] == 200));
        }
    }
    let out = spatia(&["gen-cloud", "x.ply", "--points", "0"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--points must be between 1"),
        "{}",
        stderr(&out)
    );
}

#[cfg(feature = "viewer")]
#[test]
fn a_point_budget_of_zero_or_not_a_number_is_refused() {
    for bad in ["0", "lots"] {
        let out = spatia(&["view", "--point-budget", bad]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains("--point-budget"), "{err}");
    }
}

#[test]
fn a_scan_like_share_outside_zero_to_one_is_refused() {
    let cases = [
        ("1.5", "between 0 and 1"),
        ("-0.1", "between 0 and 1"),
        ("half", "not a number"),
    ];
    for flag in ["--scan-like", "--object-colours"] {
        for (bad, want) in cases {
            let out = spatia(&[
                "train",
                "perception",
                "--data",
                "nowhere",
                "--out",
                "nowhere",
                flag,
                bad,
            ]);
            assert!(!out.status.success());
            let err = stderr(&out);
            assert!(
                err.contains(flag) && err.contains(want),
                "{flag} {bad}: {err}"
            );
        }
    }
}

#[test]
fn a_grouping_voxel_outside_two_centimetres_to_a_metre_is_refused() {
    for (bad, want) in [
        ("0", "between 0.02 and 1 m"),
        ("2", "between 0.02 and 1 m"),
        ("wide", "not a number"),
    ] {
        let out = spatia(&[
            "train",
            "decoder",
            "--student",
            "--data",
            "nowhere",
            "--out",
            "nowhere",
            "--group-voxel-m",
            bad,
        ]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("--group-voxel-m") && err.contains(want),
            "{bad}: {err}"
        );
    }
}
