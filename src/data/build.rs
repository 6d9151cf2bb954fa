//! `spatia gen-data`: scenes in, shards and question files out; deterministic and resumable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use glam::Mat4;
use serde::{Deserialize, Serialize};

use super::shard::SceneShard;
use super::{Split, assign_splits, detection_class, stable_hash};
use crate::questions::balance::balance_wordings;
use crate::questions::jsonl::{read_jsonl, write_jsonl};
use crate::questions::names::names_of;
use crate::questions::text_only::{TextOnlyScore, text_only_scores};
use crate::questions::{GenerateOptions, Question, Visibility, generate_visible, min_visible_px};
use crate::render::frames::find_frames;
use crate::render::{
    Camera, Intrinsics, PlacementOptions, Rasterizer, RenderOptions, place_cameras,
};
use crate::scene::write_atomic;
use crate::scene::{LoadOptions, Scene, SceneError, SourceFormat, load_scene, scannet};
use crate::spatial::SpatialScene;

/// Most views per scene.
pub const MAX_VIEWS: usize = 64;
/// Largest image side, pixels.
pub const MAX_SIZE: u32 = 1024;

/// Questions per category and scene generated before the dataset-wide balancing (which keeps
/// about half of the yes/no ones).
pub const DEFAULT_PER_CATEGORY: usize = 16;

/// What to build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildOptions {
    /// Views per scene.
    pub views: usize,
    /// Image side, pixels (images are square).
    pub size: u32,
    /// Seed for splits, cameras and questions.
    pub seed: u64,
    /// Most questions per category and scene.
    pub per_category: usize,
    /// Horizontal field of view of rendered views, degrees.
    pub hfov_deg: f32,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            views: 4,
            size: 112,
            seed: 0,
            per_category: DEFAULT_PER_CATEGORY,
            hfov_deg: 75.0,
        }
    }
}

/// A scene that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The scene's path.
    pub path: PathBuf,
    /// The error.
    pub error: String,
}

/// The dataset's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version.
    pub version: String,
    /// The options it was built with (a resume must use the same).
    pub options: BuildOptions,
    /// Scene keys per split, in build order.
    pub splits: BTreeMap<Split, Vec<String>>,
    /// Scenes that failed to load or render.
    pub failed: Vec<Failure>,
    /// Questions per split and category.
    pub questions: BTreeMap<Split, BTreeMap<String, usize>>,
    /// Share of "yes" among yes/no answers, per split.
    pub yes_share: BTreeMap<Split, f32>,
    /// What the views show and how the questions are balanced.
    #[serde(default)]
    pub coverage: Coverage,
    /// All scenes are done.
    pub complete: bool,
}

/// One scene's objects and how many of them the views show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneCoverage {
    /// Objects a question can name (named categories).
    pub objects: usize,
    /// Of those, shown by at least one view (≥ `min_visible_px` mask pixels).
    pub visible: usize,
}

/// Yes/no questions and how many say yes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct YesCount {
    /// Questions.
    pub n: usize,
    /// Of those, answered yes.
    pub yes: usize,
}

/// Coverage and balance figures of a dataset (`manifest.json` → `coverage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Mask pixels an object needs in a view to count as shown.
    pub min_visible_px: usize,
    /// Mean askable objects per scene.
    pub objects_per_scene: f32,
    /// Share of askable objects some view shows.
    pub visible_share: f32,
    /// Per scene.
    pub scenes: BTreeMap<String, SceneCoverage>,
    /// Per split and category, the share of yes among yes/no questions.
    pub yes_share: BTreeMap<Split, BTreeMap<String, f32>>,
    /// Per split and template id, yes/no questions and yes answers.
    pub per_template: BTreeMap<Split, BTreeMap<String, YesCount>>,
    /// Per split and fact (`proximity near`, `proximity far`, `contact touching`, `contact
    /// apart`), yes/no questions and yes answers.
    pub per_fact: BTreeMap<Split, BTreeMap<String, YesCount>>,
    /// Per split, yes/no questions the dataset-wide wording balance dropped.
    pub dropped_by_balance: BTreeMap<Split, usize>,
    /// A text-only model (question words, no scene) trained on train, scored on test's seen
    /// wordings, per yes/no category.
    pub text_only: BTreeMap<String, TextOnlyScore>,
}

/// What a build did.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildReport {
    /// The manifest as written.
    pub manifest: Manifest,
    /// Scenes built in this run.
    pub built: usize,
    /// Scenes already there from an earlier run.
    pub resumed: usize,
}

/// The scenes in `dir`: ScanNet scan folders, 3D-FRONT `.json` houses (also those in a
/// `3D-FRONT/` sub-folder, as `gen-scenes` writes them) and `.ply` files; sorted, with the key
/// (folder name or file stem) each is known by in the dataset.
pub fn list_scenes(dir: &Path) -> Result<Vec<(String, PathBuf)>, SceneError> {
    let mut out = Vec::new();
    let mut scan_dir = |d: &Path, top: bool| -> Result<(), SceneError> {
        let entries = std::fs::read_dir(d).map_err(|e| SceneError::io(d, e))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if p.is_dir() {
                if top && scannet::find_scan_in_dir(&p).ok().flatten().is_some() {
                    out.push((name, p));
                }
                continue;
            }
            let lower = name.to_lowercase();
            let stem = p
                .file_stem()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if lower.ends_with(".json") || lower.ends_with(".ply") {
                out.push((stem, p));
            }
        }
        Ok(())
    };
    scan_dir(dir, true)?;
    let front = dir.join("3D-FRONT");
    if front.is_dir() {
        scan_dir(&front, false)?;
    }
    let mut keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(SceneError::invalid(
            dir,
            format!("two scenes share the name \"{}\"", w[0]),
        ));
    }
    Ok(out)
}

fn read_manifest(path: &Path) -> Result<Option<Manifest>, SceneError> {
    if !path.exists() {
        return Ok(None);
    }
    crate::scene::read_json(path, 64 << 20).map(Some)
}

fn write_manifest(path: &Path, m: &Manifest) -> Result<(), SceneError> {
    let bytes = serde_json::to_vec_pretty(m)
        .map_err(|e| SceneError::invalid(path, format!("cannot encode manifest: {e}")))?;
    write_atomic(path, &bytes)
}

/// Builds (or resumes building) the dataset from the scenes in `scenes_dir` into `out_dir`.
/// `progress(done, total, scene)` is called after each scene. A scene that fails to load is
/// recorded in the manifest and skipped; everything else stops the build with an error naming
/// the file.
pub fn build(
    scenes_dir: &Path,
    out_dir: &Path,
    options: &BuildOptions,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<BuildReport, SceneError> {
    if options.views == 0 || options.views > MAX_VIEWS {
        return Err(SceneError::invalid(
            out_dir,
            format!("--views must be 1..={MAX_VIEWS}, not {}", options.views),
        ));
    }
    if options.size < 8 || options.size > MAX_SIZE {
        return Err(SceneError::invalid(
            out_dir,
            format!("--res must be 8..={MAX_SIZE}, not {}", options.size),
        ));
    }
    let scenes = list_scenes(scenes_dir)?;
    if scenes.is_empty() {
        return Err(SceneError::invalid(
            scenes_dir,
            "holds no scenes (ScanNet folders, .json houses or .ply files)",
        ));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| SceneError::io(out_dir, e))?;
    let manifest_path = out_dir.join("manifest.json");
    let old = read_manifest(&manifest_path)?;
    if let Some(old) = &old
        && old.options != *options
    {
        return Err(SceneError::invalid(
            &manifest_path,
            format!(
                "this dataset was built with {:?}; resume with the same options or choose another --out",
                old.options
            ),
        ));
    }
    let keys: Vec<String> = scenes.iter().map(|(k, _)| k.clone()).collect();
    let splits = assign_splits(&keys, options.seed);
    for s in Split::ALL {
        let d = out_dir.join(s.name());
        std::fs::create_dir_all(&d).map_err(|e| SceneError::io(&d, e))?;
    }
    let mut manifest = Manifest {
        version: super::shard::SHARD_VERSION.to_string(),
        options: options.clone(),
        splits: BTreeMap::new(),
        failed: Vec::new(),
        questions: BTreeMap::new(),
        yes_share: BTreeMap::new(),
        coverage: Coverage {
            min_visible_px: min_visible_px(options.size),
            ..Default::default()
        },
        complete: false,
    };
    let old_scenes = old.map(|m| m.coverage.scenes).unwrap_or_default();
    write_manifest(&manifest_path, &manifest)?;
    let (mut built, mut resumed) = (0, 0);
    for (i, ((key, path), split)) in scenes.iter().zip(&splits).enumerate() {
        let dir = out_dir.join(split.name());
        let shard_path = dir.join(format!("{key}.safetensors"));
        let candidates_path = dir.join(format!("{key}.candidates.jsonl"));
        if shard_path.is_file() && candidates_path.is_file() {
            resumed += 1;
            manifest.splits.entry(*split).or_default().push(key.clone());
            if let Some(c) = old_scenes.get(key) {
                manifest.coverage.scenes.insert(key.clone(), *c);
            }
        } else {
            match build_scene(path, key, *split, options) {
                Ok(built_scene) => {
                    write_jsonl(&candidates_path, &built_scene.questions)?;
                    built_scene.shard.write(&shard_path)?;
                    built += 1;
                    manifest.splits.entry(*split).or_default().push(key.clone());
                    manifest
                        .coverage
                        .scenes
                        .insert(key.clone(), built_scene.coverage);
                    // Written as the scenes finish, so a resume keeps their coverage.
                    write_manifest(&manifest_path, &manifest)?;
                }
                Err(e) => manifest.failed.push(Failure {
                    path: path.clone(),
                    error: e.to_string(),
                }),
            }
        }
        progress(i + 1, scenes.len(), key);
    }
    // Per split: the candidates balanced by wording, written per scene and as one file, and
    // their statistics.
    let mut kept: BTreeMap<Split, Vec<Question>> = BTreeMap::new();
    for split in Split::ALL {
        let dir = out_dir.join(split.name());
        let keys = manifest.splits.get(&split).cloned().unwrap_or_default();
        let mut all: Vec<Question> = Vec::new();
        // A shard's questions carry the scene's own name, which may differ from its key.
        let mut scene_of_key: Vec<Option<String>> = Vec::with_capacity(keys.len());
        for key in &keys {
            let qs = read_jsonl(&dir.join(format!("{key}.candidates.jsonl")))?;
            scene_of_key.push(qs.first().map(|q| q.scene.clone()));
            all.extend(qs);
        }
        let (all, dropped) = balance_wordings(all);
        let mut by_scene: BTreeMap<&str, Vec<Question>> = BTreeMap::new();
        for q in &all {
            by_scene
                .entry(q.scene.as_str())
                .or_default()
                .push(q.clone());
        }
        for (key, scene) in keys.iter().zip(&scene_of_key) {
            let qs = scene
                .as_deref()
                .and_then(|name| by_scene.remove(name))
                .unwrap_or_default();
            write_jsonl(&dir.join(format!("{key}.jsonl")), &qs)?;
        }
        write_jsonl(&dir.join("questions.jsonl"), &all)?;
        let mut per: BTreeMap<String, usize> = BTreeMap::new();
        for q in &all {
            *per.entry(q.category.name().to_string()).or_insert(0) += 1;
        }
        let yes = all.iter().filter(|q| q.answer == "yes").count();
        let no = all.iter().filter(|q| q.answer == "no").count();
        if yes + no > 0 {
            manifest
                .yes_share
                .insert(split, yes as f32 / (yes + no) as f32);
        }
        manifest.questions.insert(split, per);
        manifest.coverage.dropped_by_balance.insert(split, dropped);
        count_balance(&mut manifest.coverage, split, &all);
        kept.insert(split, all);
    }
    let scenes_n = manifest.coverage.scenes.len().max(1) as f32;
    let (objects, visible) = manifest
        .coverage
        .scenes
        .values()
        .fold((0, 0), |(o, v), c| (o + c.objects, v + c.visible));
    manifest.coverage.objects_per_scene = objects as f32 / scenes_n;
    manifest.coverage.visible_share = visible as f32 / objects.max(1) as f32;
    let empty = Vec::new();
    manifest.coverage.text_only = text_only_scores(
        kept.get(&Split::Train).unwrap_or(&empty),
        kept.get(&Split::Test).unwrap_or(&empty),
    );
    manifest.complete = true;
    write_manifest(&manifest_path, &manifest)?;
    Ok(BuildReport {
        manifest,
        built,
        resumed,
    })
}

/// Adds `questions`' per-category yes share, per-template and per-fact counts to `coverage`.
fn count_balance(coverage: &mut Coverage, split: Split, questions: &[Question]) {
    let mut per_cat: BTreeMap<String, YesCount> = BTreeMap::new();
    let templates = coverage.per_template.entry(split).or_default();
    let facts = coverage.per_fact.entry(split).or_default();
    for q in questions.iter().filter(|q| q.is_yes_no()) {
        let yes = usize::from(q.answer == "yes");
        let add = |map: &mut BTreeMap<String, YesCount>, key: String| {
            let c = map.entry(key).or_default();
            c.n += 1;
            c.yes += yes;
        };
        add(&mut per_cat, q.category.name().to_string());
        if let Some(t) = &q.template {
            add(templates, t.clone());
        }
        let fact = q.fact.as_ref();
        let which = match q.category {
            crate::questions::QuestionCategory::Proximity => fact
                .and_then(|f| f.near)
                .map(|near| if near { "near" } else { "far" }),
            crate::questions::QuestionCategory::Contact => fact
                .and_then(|f| f.contact)
                .map(|c| if c { "touching" } else { "apart" }),
            _ => None,
        };
        if let Some(w) = which {
            add(facts, format!("{} {w}", q.category.name()));
        }
    }
    coverage.yes_share.insert(
        split,
        per_cat
            .into_iter()
            .map(|(k, c)| (k, c.yes as f32 / c.n.max(1) as f32))
            .collect(),
    );
}

/// One scene's shard, its questions before the dataset-wide balance, and its coverage.
pub struct BuiltScene {
    /// Views, depth, masks, cameras, boxes.
    pub shard: SceneShard,
    /// Questions about objects the views show.
    pub questions: Vec<Question>,
    /// Objects and visible objects.
    pub coverage: SceneCoverage,
}

/// Which objects of `shard`'s views are shown well enough to be asked about.
pub fn shard_visibility(shard: &SceneShard) -> Visibility {
    let pixels = shard.size as usize * shard.size as usize;
    Visibility::from_masks(
        &shard.instance,
        shard.views,
        pixels,
        min_visible_px(shard.size),
    )
}

/// Loads one scene and makes its shard and questions (about objects the views show).
pub fn build_scene(
    path: &Path,
    key: &str,
    split: Split,
    options: &BuildOptions,
) -> Result<BuiltScene, SceneError> {
    let scene = load_scene(path, &LoadOptions::default())?;
    let seed = options.seed ^ stable_hash(key);
    let shard = render_shard(&scene, options, seed)?;
    let visible = shard_visibility(&shard);
    let askable: Vec<u32> = scene
        .objects
        .iter()
        .filter(|o| names_of(o.category).is_some())
        .map(|o| o.id)
        .collect();
    let coverage = SceneCoverage {
        objects: askable.len(),
        visible: askable.iter().filter(|&&id| visible.shows(id)).count(),
    };
    let spatial = SpatialScene::new(&scene);
    let questions = generate_visible(
        &spatial,
        &GenerateOptions {
            seed,
            per_category: options.per_category,
            all_yes_no: true,
            // Held-out wording never reaches training scenes.
            held_out: if split == Split::Train {
                Some(false)
            } else {
                None
            },
        },
        &visible,
    );
    Ok(BuiltScene {
        shard,
        questions,
        coverage,
    })
}

/// The views of a loaded `scene` — the one path from a scene to what a model sees, used by
/// `gen-data`, `ask`, `eval` and the viewer's worker: ScanNet's exported frames when the scan
/// (found from the scene's own format and source path) has them, else rendered views from
/// placed cameras; plus its boxes.
pub fn render_shard(
    scene: &Scene,
    options: &BuildOptions,
    seed: u64,
) -> Result<SceneShard, SceneError> {
    let path = scene.source_path.as_path();
    let size = options.size;
    let raster = Rasterizer::new(scene, RenderOptions::default());
    let mut cameras: Vec<Camera> = Vec::new();
    let (mut images, mut depth, mut instance) = (Vec::new(), Vec::new(), Vec::new());
    let mut view_source = "render";
    let scan_dir = match scene.format {
        SourceFormat::ScanNet if path.is_dir() => Some(path.to_path_buf()),
        SourceFormat::ScanNet => path.parent().map(Path::to_path_buf),
        _ => None,
    };
    if let Some(dir) = scan_dir
        && let Some(frames) = find_frames(&dir)
    {
        let files = scannet::scan_files(&dir, &scene.name);
        let align = match &files.meta {
            Some(meta) => scannet::read_axis_alignment(meta)?.unwrap_or(Mat4::IDENTITY),
            None => Mat4::IDENTITY,
        };
        for id in frames.pick(options.views)? {
            let f = frames.load(id, size, &align)?;
            // Instance ids come from the annotated mesh seen by the frame's camera.
            instance.extend(raster.render(&f.camera).instance);
            images.extend(f.rgb);
            depth.extend(f.depth_m);
            cameras.push(f.camera);
        }
        view_source = "scannet-frames";
    }
    if cameras.is_empty() {
        let intrinsics = Intrinsics::from_hfov(size, size, options.hfov_deg);
        cameras = place_cameras(
            scene,
            &PlacementOptions {
                views: options.views,
                seed,
                intrinsics,
            },
        );
        if cameras.is_empty() {
            return Err(SceneError::invalid(
                path,
                "no camera could be placed (the scene is empty)",
            ));
        }
        for cam in &cameras {
            let v = raster.render(cam);
            images.extend(v.rgb);
            depth.extend(v.depth_m);
            instance.extend(v.instance);
        }
    }
    let intrinsics = cameras
        .iter()
        .flat_map(|c| c.intrinsics.matrix().into_iter().flatten())
        .collect();
    let extrinsics = cameras
        .iter()
        .flat_map(|c| c.extrinsics().into_iter().flatten())
        .collect();
    let (mut boxes, mut box_class, mut box_object) = (Vec::new(), Vec::new(), Vec::new());
    for o in &scene.objects {
        let Some(class) = detection_class(o.category) else {
            continue;
        };
        boxes.extend(o.aabb.center().to_array());
        boxes.extend(o.aabb.size().to_array());
        box_class.push(class as i64);
        box_object.push(i64::from(o.id));
    }
    let object_id = scene.objects.iter().map(|o| i64::from(o.id)).collect();
    let object_category = scene
        .objects
        .iter()
        .map(|o| o.category.index() as i64)
        .collect();
    Ok(SceneShard {
        scene: scene.name.clone(),
        view_source: view_source.to_string(),
        views: cameras.len(),
        size,
        images,
        depth,
        instance,
        intrinsics,
        extrinsics,
        boxes,
        box_class,
        box_object,
        object_id,
        object_category,
    })
}
