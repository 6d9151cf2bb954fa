//! ScanNet scans: `<scan>_vh_clean_2.ply` (binary or ascii), instances from
//! `<scan>.aggregation.json` (or `<scan>_vh_clean.aggregation.json`) joined with
//! `<scan>_vh_clean_2.0.010000.segs.json`, and `axisAlignment` from `<scan>.txt`.
//!
//! Both v1 files (`sceneId` "scene0000_00") and v2 files ("scannet.scene0000_00") are read.
//! The writer produces the same layout, used by the procedural generator.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use glam::{Mat4, Vec3};
use serde::{Deserialize, Serialize};

use super::error::read_json;
use super::ply::{PlyEncoding, PlyWrite, read_ply, write_ply};
use super::{DEFAULT_GREY, Scene, SceneError, SourceFormat};

/// Largest JSON companion file accepted (512 MiB).
const MAX_JSON_BYTES: u64 = 512 << 20;

#[derive(Deserialize)]
struct SegsFile {
    #[serde(rename = "segIndices")]
    seg_indices: Vec<i64>,
}

#[derive(Deserialize)]
struct AggregationFile {
    #[serde(rename = "segGroups")]
    seg_groups: Vec<SegGroup>,
}

#[derive(Deserialize)]
struct SegGroup {
    #[serde(default)]
    id: Option<i64>,
    #[serde(rename = "objectId", default)]
    object_id: Option<i64>,
    segments: Vec<i64>,
    label: String,
}

/// The file names of one scan.
#[derive(Debug, Clone)]
pub struct ScanFiles {
    /// `<scan>_vh_clean_2.ply`.
    pub mesh: PathBuf,
    /// The over-segmentation JSON, if found.
    pub segs: Option<PathBuf>,
    /// The aggregation JSON, if found.
    pub aggregation: Option<PathBuf>,
    /// The meta `.txt`, if found.
    pub meta: Option<PathBuf>,
}

/// Finds the scan id of a ScanNet folder: the folder's own name when `<name>_vh_clean_2.ply`
/// is inside, otherwise the single `*_vh_clean_2.ply` it holds.
pub fn find_scan_in_dir(dir: &Path) -> Result<Option<String>, SceneError> {
    if let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned())
        && dir.join(format!("{name}_vh_clean_2.ply")).is_file()
    {
        return Ok(Some(name));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| SceneError::io(dir, e))?;
    let mut found: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix("_vh_clean_2.ply")
                .map(str::to_string)
        })
        .collect();
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(SceneError::invalid(
            dir,
            format!(
                "holds several ScanNet meshes ({}); open one _vh_clean_2.ply directly",
                found.join(", ")
            ),
        )),
    }
}

/// Locates the companion files of scan `scan_id` in `dir`.
pub fn scan_files(dir: &Path, scan_id: &str) -> ScanFiles {
    let first_file = |names: &[String]| names.iter().map(|n| dir.join(n)).find(|p| p.is_file());
    let mut segs = first_file(&[format!("{scan_id}_vh_clean_2.0.010000.segs.json")]);
    if segs.is_none()
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        let prefix = format!("{scan_id}_vh_clean_2.");
        let mut others: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with(&prefix) && n.ends_with(".segs.json")
                })
            })
            .collect();
        others.sort();
        segs = others.into_iter().next();
    }
    ScanFiles {
        mesh: dir.join(format!("{scan_id}_vh_clean_2.ply")),
        segs,
        aggregation: first_file(&[
            format!("{scan_id}.aggregation.json"),
            format!("{scan_id}_vh_clean.aggregation.json"),
        ]),
        meta: first_file(&[format!("{scan_id}.txt")]),
    }
}

/// Reads `axisAlignment` (row-major 4x4, aligned = A·[x y z 1]) from a scan's meta `.txt`.
/// Returns `None` when the file has no such line.
pub fn read_axis_alignment(path: &Path) -> Result<Option<Mat4>, SceneError> {
    let bytes = super::error::read_file_limited(path, 1 << 20)?;
    let text = String::from_utf8_lossy(&bytes);
    for (line_no, line) in text.lines().enumerate() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim() != "axisAlignment" {
            continue;
        }
        let values: Result<Vec<f32>, _> = value.split_whitespace().map(str::parse).collect();
        let bad = |why: &str| {
            SceneError::invalid(path, format!("line {}: axisAlignment {why}", line_no + 1))
        };
        let values = values.map_err(|_| bad("has a value that is not a number"))?;
        let arr: [f32; 16] = values
            .try_into()
            .map_err(|v: Vec<f32>| bad(&format!("has {} values, expected 16", v.len())))?;
        if arr.iter().any(|v| !v.is_finite()) {
            return Err(bad("has a non-finite value"));
        }
        let m = Mat4::from_cols_array(&arr).transpose();
        if m.determinant().abs() < 1e-9 {
            return Err(bad("is singular"));
        }
        return Ok(Some(m));
    }
    Ok(None)
}

/// Loads scan `scan_id` from folder `dir`.
pub fn load_scan(dir: &Path, scan_id: &str) -> Result<Scene, SceneError> {
    let files = scan_files(dir, scan_id);
    if !files.mesh.is_file() {
        return Err(SceneError::missing(&files.mesh, "ScanNet mesh"));
    }
    let mesh = read_ply(&files.mesh)?;
    let n = mesh.positions.len();
    if n == 0 {
        return Err(SceneError::invalid(&files.mesh, "mesh has no vertices"));
    }
    let mut warnings = Vec::new();
    let alignment = match &files.meta {
        Some(meta) => read_axis_alignment(meta)?,
        None => {
            warnings.push(format!(
                "no {scan_id}.txt beside the mesh: the scan is left unaligned"
            ));
            None
        }
    };
    if files.meta.is_some() && alignment.is_none() {
        warnings.push(format!(
            "{scan_id}.txt has no axisAlignment: the scan is left unaligned"
        ));
    }

    let mut scene = Scene {
        name: scan_id.to_string(),
        format: SourceFormat::ScanNet,
        source_path: files.mesh.clone(),
        colors: mesh.colors.unwrap_or_else(|| vec![DEFAULT_GREY; n]),
        positions: mesh.positions,
        normals: mesh.normals,
        triangles: mesh.triangles,
        objects: Vec::new(),
        warnings,
    };

    match (&files.aggregation, &files.segs) {
        (Some(agg_path), Some(segs_path)) => {
            scene.objects = read_objects(&scene, agg_path, segs_path)?;
        }
        (Some(agg_path), None) => {
            return Err(SceneError::missing(
                &dir.join(format!("{scan_id}_vh_clean_2.0.010000.segs.json")),
                format!("over-segmentation file, needed by {}", agg_path.display()),
            ));
        }
        (None, _) => scene.warnings.push(format!(
            "no {scan_id}.aggregation.json: the scan has no object annotations"
        )),
    }
    if let Some(a) = alignment {
        scene.transform(&a);
    }
    Ok(scene)
}

fn read_objects(
    scene: &Scene,
    agg_path: &Path,
    segs_path: &Path,
) -> Result<Vec<super::SceneObject>, SceneError> {
    let segs: SegsFile = read_json(segs_path, MAX_JSON_BYTES)?;
    let n = scene.positions.len();
    if segs.seg_indices.len() != n {
        return Err(SceneError::invalid(
            segs_path,
            format!(
                "segIndices has {} entries but the mesh has {n} vertices",
                segs.seg_indices.len()
            ),
        ));
    }
    let mut by_segment: HashMap<i64, Vec<u32>> = HashMap::new();
    for (v, &s) in segs.seg_indices.iter().enumerate() {
        by_segment.entry(s).or_default().push(v as u32);
    }
    let agg: AggregationFile = read_json(agg_path, MAX_JSON_BYTES)?;
    let mut objects = Vec::with_capacity(agg.seg_groups.len());
    let mut seen_ids = HashSet::new();
    for (gi, group) in agg.seg_groups.iter().enumerate() {
        let raw_id = group.object_id.or(group.id).unwrap_or(gi as i64);
        let id = u32::try_from(raw_id).map_err(|_| {
            SceneError::invalid(
                agg_path,
                format!("segGroups[{gi}] has invalid objectId {raw_id}"),
            )
        })?;
        if !seen_ids.insert(id) {
            return Err(SceneError::invalid(
                agg_path,
                format!("segGroups[{gi}] repeats objectId {id}"),
            ));
        }
        let mut segments = group.segments.clone();
        segments.sort_unstable();
        segments.dedup();
        let mut vertices = Vec::new();
        for &s in &segments {
            let Some(vs) = by_segment.get(&s) else {
                return Err(SceneError::invalid(
                    agg_path,
                    format!(
                        "segGroups[{gi}] ('{}') names segment {s}, which {} does not contain",
                        group.label,
                        segs_path.display()
                    ),
                ));
            };
            vertices.extend_from_slice(vs);
        }
        vertices.sort_unstable();
        if let Some(obj) = scene.make_object(id, &group.label, vertices) {
            objects.push(obj);
        }
    }
    Ok(objects)
}

#[derive(Serialize)]
struct SegsOut<'a> {
    params: HashMap<&'static str, &'static str>,
    #[serde(rename = "sceneId")]
    scene_id: &'a str,
    #[serde(rename = "segIndices")]
    seg_indices: &'a [u32],
}

#[derive(Serialize)]
struct AggOut<'a> {
    #[serde(rename = "sceneId")]
    scene_id: String,
    #[serde(rename = "appId")]
    app_id: &'static str,
    #[serde(rename = "segGroups")]
    seg_groups: Vec<SegGroupOut<'a>>,
    #[serde(rename = "segmentsFile")]
    segments_file: String,
}

#[derive(Serialize)]
struct SegGroupOut<'a> {
    id: usize,
    #[serde(rename = "objectId")]
    object_id: u32,
    segments: Vec<u32>,
    label: &'a str,
}

/// Writes `scene` as ScanNet scan `scan_id` in `dir` (created if needed).
///
/// `segments` gives each vertex's over-segmentation id; every object must consist of whole
/// segments. Positions are written as `world_from_aligned⁻¹ · p` with `axis_alignment` stored in
/// `<scan>.txt`, so that loading applies it and recovers the aligned positions.
pub fn write_scan(
    dir: &Path,
    scan_id: &str,
    scene: &Scene,
    segments: &[u32],
    axis_alignment: Mat4,
    scene_type: &str,
) -> Result<(), SceneError> {
    std::fs::create_dir_all(dir).map_err(|e| SceneError::io(dir, e))?;
    if segments.len() != scene.positions.len() {
        return Err(SceneError::invalid(
            dir,
            format!(
                "{} segment ids for {} vertices",
                segments.len(),
                scene.positions.len()
            ),
        ));
    }
    let raw_from_aligned = axis_alignment.inverse();
    let raw: Vec<Vec3> = scene
        .positions
        .iter()
        .map(|p| raw_from_aligned.transform_point3(*p))
        .collect();
    write_ply(
        &dir.join(format!("{scan_id}_vh_clean_2.ply")),
        &PlyWrite {
            positions: &raw,
            colors: Some(&scene.colors),
            alpha: true,
            normals: None,
            triangles: scene.triangles.as_deref(),
            comment: "Spatia generated",
        },
        PlyEncoding::BinaryLittleEndian,
    )?;

    let segs_name = format!("{scan_id}_vh_clean_2.0.010000.segs.json");
    let params = HashMap::from([("kThresh", "0.0001"), ("segMinVerts", "20")]);
    write_json(
        &dir.join(&segs_name),
        &SegsOut {
            params,
            scene_id: scan_id,
            seg_indices: segments,
        },
    )?;

    let seg_groups = scene
        .objects
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let mut segs: Vec<u32> = o
                .vertex_indices
                .iter()
                .map(|&v| segments[v as usize])
                .collect();
            segs.sort_unstable();
            segs.dedup();
            SegGroupOut {
                id: i,
                object_id: o.id,
                segments: segs,
                label: &o.raw_label,
            }
        })
        .collect();
    write_json(
        &dir.join(format!("{scan_id}.aggregation.json")),
        &AggOut {
            scene_id: format!("scannet.{scan_id}"),
            app_id: "Spatia.procgen",
            seg_groups,
            segments_file: format!("scannet.{segs_name}"),
        },
    )?;

    let rows = axis_alignment.transpose().to_cols_array();
    let rows: Vec<String> = rows.iter().map(|v| format!("{v:.9}")).collect();
    let meta = format!(
        "axisAlignment = {}\nsceneType = {scene_type}\nnumVertices = {}\n",
        rows.join(" "),
        scene.positions.len()
    );
    let meta_path = dir.join(format!("{scan_id}.txt"));
    std::fs::write(&meta_path, meta).map_err(|e| SceneError::io(&meta_path, e))
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), SceneError> {
    let text = serde_json::to_vec(value)
        .map_err(|e| SceneError::invalid(path, format!("cannot serialise JSON: {e}")))?;
    std::fs::write(path, text).map_err(|e| SceneError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{Category, LoadOptions, SceneObject, load_scene};

    /// Two unit squares (4 vertices each): a "table" of segments 0,1 and a "cup" of segment 2,
    /// plus 2 unannotated vertices in segment 9.
    fn tiny_scene() -> (Scene, Vec<u32>) {
        let mut positions = Vec::new();
        for (x, z) in [(0.0, 0.0), (2.0, 0.7)] {
            for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)] {
                positions.push(Vec3::new(x + dx, dy, z));
            }
        }
        positions.push(Vec3::new(5.0, 5.0, 0.0));
        positions.push(Vec3::new(5.0, 6.0, 0.0));
        let n = positions.len();
        let segments = vec![0, 0, 1, 1, 2, 2, 2, 2, 9, 9];
        let mut scene = Scene {
            name: "scene0001_00".into(),
            format: SourceFormat::ScanNet,
            source_path: PathBuf::new(),
            colors: vec![[10, 20, 30]; n],
            positions,
            normals: None,
            triangles: Some(vec![[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7], [8, 9, 0]]),
            objects: vec![],
            warnings: vec![],
        };
        let table = scene.make_object(3, "table", vec![0, 1, 2, 3]).unwrap();
        let cup = scene
            .make_object(7, "coffee mug", vec![4, 5, 6, 7])
            .unwrap();
        scene.objects = vec![table, cup];
        (scene, segments)
    }

    fn alignment() -> Mat4 {
        Mat4::from_translation(Vec3::new(-1.5, 2.0, 0.1)) * Mat4::from_rotation_z(0.7)
    }

    #[test]
    fn write_then_load_recovers_aligned_objects() {
        let dir = tempfile::tempdir().unwrap();
        let (scene, segs) = tiny_scene();
        let scan = dir.path().join("scene0001_00");
        write_scan(&scan, "scene0001_00", &scene, &segs, alignment(), "Office").unwrap();
        // The raw mesh is not in the aligned frame ...
        let raw = read_ply(&scan.join("scene0001_00_vh_clean_2.ply")).unwrap();
        assert!((raw.positions[1] - scene.positions[1]).length() > 0.5);
        // ... but the loaded scene is.
        let loaded = load_scene(&scan, &LoadOptions::default()).unwrap();
        assert_eq!(loaded.format, SourceFormat::ScanNet);
        assert_eq!(loaded.positions.len(), 10);
        for (a, b) in loaded.positions.iter().zip(&scene.positions) {
            assert!((*a - *b).length() < 1e-5, "{a} vs {b}");
        }
        let ids: Vec<u32> = loaded.objects.iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![3, 7]);
        let cup: &SceneObject = loaded.object(7).unwrap();
        assert_eq!(cup.category, Category::Cup);
        assert_eq!(cup.vertex_indices, vec![4, 5, 6, 7]);
        assert!(cup.aabb.max_corner_diff(&scene.objects[1].aabb) < 1e-5);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        // Opening the .ply directly gives the same scene.
        let again = load_scene(
            &scan.join("scene0001_00_vh_clean_2.ply"),
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(again.objects, loaded.objects);
    }

    #[test]
    fn reads_v1_names_and_missing_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let (scene, segs) = tiny_scene();
        write_scan(dir.path(), "s", &scene, &segs, Mat4::IDENTITY, "x").unwrap();
        std::fs::rename(
            dir.path().join("s.aggregation.json"),
            dir.path().join("s_vh_clean.aggregation.json"),
        )
        .unwrap();
        std::fs::write(dir.path().join("s.txt"), "sceneType = Bedroom\n").unwrap();
        let loaded = load_scan(dir.path(), "s").unwrap();
        assert_eq!(loaded.objects.len(), 2);
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.contains("no axisAlignment"))
        );
    }

    fn write_and_corrupt(corrupt: impl FnOnce(&Path)) -> String {
        let dir = tempfile::tempdir().unwrap();
        let (scene, segs) = tiny_scene();
        write_scan(dir.path(), "s", &scene, &segs, alignment(), "x").unwrap();
        corrupt(dir.path());
        load_scan(dir.path(), "s").unwrap_err().to_string()
    }

    #[test]
    fn bad_companion_files_are_named() {
        let e = write_and_corrupt(|d| {
            std::fs::write(
                d.join("s.aggregation.json"),
                r#"{"segGroups":[{"id":0,"objectId":0,"segments":[0,42],"label":"chair"}]}"#,
            )
            .unwrap()
        });
        assert!(
            e.contains("s.aggregation.json") && e.contains("segment 42"),
            "{e}"
        );

        let e = write_and_corrupt(|d| {
            std::fs::remove_file(d.join("s_vh_clean_2.0.010000.segs.json")).unwrap()
        });
        assert!(e.contains("segs.json") && e.contains("missing"), "{e}");

        let e = write_and_corrupt(|d| {
            std::fs::write(
                d.join("s_vh_clean_2.0.010000.segs.json"),
                r#"{"segIndices":[1,2]}"#,
            )
            .unwrap()
        });
        assert!(e.contains("2 entries") && e.contains("10 vertices"), "{e}");

        let e = write_and_corrupt(|d| {
            std::fs::write(d.join("s.aggregation.json"), "{\"segGroups\": [").unwrap()
        });
        assert!(
            e.contains("s.aggregation.json") && e.contains("malformed JSON"),
            "{e}"
        );

        let deep = "[".repeat(100_000);
        let e = write_and_corrupt(|d| std::fs::write(d.join("s.aggregation.json"), deep).unwrap());
        assert!(e.contains("malformed JSON"), "{e}");

        let e = write_and_corrupt(|d| {
            std::fs::write(d.join("s.txt"), "axisAlignment = 1 0 0\n").unwrap()
        });
        assert!(e.contains("s.txt") && e.contains("3 values"), "{e}");

        let e = write_and_corrupt(|d| std::fs::remove_file(d.join("s_vh_clean_2.ply")).unwrap());
        assert!(
            e.contains("s_vh_clean_2.ply") && e.contains("missing"),
            "{e}"
        );
    }
}
