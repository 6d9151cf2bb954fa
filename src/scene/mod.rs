//! Indoor scenes: the in-memory model, loaders for ScanNet, 3D-FRONT and plain PLY, writers for
//! the same on-disk layouts, and the procedural scene generator.
//!
//! Everything here is in metres, z up, in the scene's aligned frame.

pub mod bvh;
pub mod category;
mod error;
pub mod front3d;
pub mod lod;
pub mod mesh;
pub mod obj;
pub mod ply;
pub mod procgen;
pub mod raycast;
pub mod scannet;

use std::path::{Path, PathBuf};

pub use category::Category;
pub use error::MAX_LINE_BYTES;
pub use error::{SceneError, write_atomic};
pub(crate) use error::{for_each_line, read_file_limited, read_json};
use glam::Vec3;
use serde::Serialize;

/// Which on-disk format a scene came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    /// A ScanNet scan folder (`_vh_clean_2.ply` + segments + aggregation + meta `.txt`).
    ScanNet,
    /// A 3D-FRONT house JSON, optionally with 3D-FUTURE models.
    #[serde(rename = "3dfront")]
    Front3d,
    /// A plain PLY mesh or point cloud.
    Ply,
}

impl SourceFormat {
    /// The name used in CLI output and JSON.
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::ScanNet => "scannet",
            SourceFormat::Front3d => "3dfront",
            SourceFormat::Ply => "ply",
        }
    }
}

/// An axis-aligned box in the scene frame, metres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Aabb {
    /// Minimum corner.
    pub min: Vec3,
    /// Maximum corner.
    pub max: Vec3,
}

impl Aabb {
    /// The box enclosing `points`; `None` when there are none.
    pub fn from_points(points: impl IntoIterator<Item = Vec3>) -> Option<Aabb> {
        let mut it = points.into_iter();
        let first = it.next()?;
        let mut b = Aabb {
            min: first,
            max: first,
        };
        for p in it {
            b.min = b.min.min(p);
            b.max = b.max.max(p);
        }
        Some(b)
    }

    /// Centre point.
    pub fn center(&self) -> Vec3 {
        (self.min + self.max) * 0.5
    }

    /// Edge lengths.
    pub fn size(&self) -> Vec3 {
        self.max - self.min
    }

    /// The smallest box containing both.
    pub fn union(&self, other: &Aabb) -> Aabb {
        Aabb {
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }

    /// Largest per-coordinate difference between the corners of two boxes.
    pub fn max_corner_diff(&self, other: &Aabb) -> f32 {
        (self.min - other.min)
            .abs()
            .max((self.max - other.max).abs())
            .max_element()
    }
}

/// One annotated object instance.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneObject {
    /// Instance id, unique within the scene (ScanNet `objectId`, 3D-FRONT order of appearance).
    pub id: u32,
    /// The label as the source file wrote it.
    pub raw_label: String,
    /// Canonical category.
    pub category: Category,
    /// Indices into [`Scene::positions`] of the vertices belonging to this object, ascending.
    pub vertex_indices: Vec<u32>,
    /// Box around those vertices, in the aligned frame.
    pub aabb: Aabb,
}

impl SceneObject {
    /// How lists show the object: its own label first ("shower", "clock"), followed by the
    /// class in parentheses only where that adds something — never the catch-all classes
    /// (`otherstructure`, `otherfurniture`, `otherprop`), and not when it repeats the label
    /// (singular or plural).
    pub fn display_name(&self) -> String {
        let label = self.raw_label.trim();
        let class = self.category.name();
        let catch_all = matches!(
            self.category,
            Category::OtherStructure | Category::OtherFurniture | Category::OtherProp
        );
        if label.is_empty() {
            return class.to_string();
        }
        // "book" of class "books" says nothing more either.
        let singular = |s: &str| s.trim_end_matches('s').to_ascii_lowercase();
        if catch_all || singular(label) == singular(class) {
            label.to_string()
        } else {
            format!("{label} ({class})")
        }
    }
}

/// A loaded indoor scene.
#[derive(Debug, Clone)]
pub struct Scene {
    /// Short name (ScanNet scan id, 3D-FRONT house uid, file stem).
    pub name: String,
    /// Format of the source.
    pub format: SourceFormat,
    /// The path the scene was loaded from.
    pub source_path: PathBuf,
    /// Vertex positions, metres, z up, aligned frame.
    pub positions: Vec<Vec3>,
    /// Vertex colours (sRGB, 0..=255), one per vertex; sources without colour get a neutral grey.
    pub colors: Vec<[u8; 3]>,
    /// Per-vertex normals, when the source had them.
    pub normals: Option<Vec<Vec3>>,
    /// Triangles as vertex indices; `None` for point clouds.
    pub triangles: Option<Vec<[u32; 3]>>,
    /// Annotated objects.
    pub objects: Vec<SceneObject>,
    /// Non-fatal notes from loading (skipped furniture, missing optional files, …).
    pub warnings: Vec<String>,
}

/// Bytes a vector's buffer holds (its capacity, not its length).
pub fn vec_bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}

/// Colour given to vertices of sources without colour.
pub const DEFAULT_GREY: [u8; 3] = [180, 180, 180];

impl Scene {
    /// Box around every vertex; `None` for an empty scene.
    pub fn bounds(&self) -> Option<Aabb> {
        Aabb::from_points(self.positions.iter().copied())
    }

    /// Bytes the geometry holds on the heap (positions, colours, normals, triangles, the
    /// objects' vertex lists).
    pub fn heap_bytes(&self) -> usize {
        vec_bytes(&self.positions)
            + vec_bytes(&self.colors)
            + self.normals.as_ref().map_or(0, vec_bytes)
            + self.triangles.as_ref().map_or(0, vec_bytes)
            + self
                .objects
                .iter()
                .map(|o| vec_bytes(&o.vertex_indices))
                .sum::<usize>()
    }

    /// Number of triangles (0 for point clouds).
    pub fn face_count(&self) -> usize {
        self.triangles.as_ref().map_or(0, Vec::len)
    }

    /// The object with instance id `id`.
    pub fn object(&self, id: u32) -> Option<&SceneObject> {
        self.objects.iter().find(|o| o.id == id)
    }

    /// Builds an object from its vertices (sorted here), computing its box. `None` when it has
    /// no vertex.
    pub fn make_object(
        &self,
        id: u32,
        raw_label: &str,
        mut vertex_indices: Vec<u32>,
    ) -> Option<SceneObject> {
        vertex_indices.sort_unstable();
        vertex_indices.dedup();
        let aabb = self.aabb_of(&vertex_indices)?;
        Some(SceneObject {
            id,
            raw_label: raw_label.to_string(),
            category: Category::from_label(raw_label),
            vertex_indices,
            aabb,
        })
    }

    /// Checks the invariants every loader guarantees: matching array lengths, finite
    /// coordinates, indices in range. The error names `path` and the first problem found.
    pub fn validate(&self, path: &Path) -> Result<(), SceneError> {
        let n = self.positions.len();
        let bad = |problem: String| Err(SceneError::invalid(path, problem));
        if self.colors.len() != n {
            return bad(format!("{} colours for {n} vertices", self.colors.len()));
        }
        if let Some(normals) = &self.normals
            && normals.len() != n
        {
            return bad(format!("{} normals for {n} vertices", normals.len()));
        }
        if let Some(i) = self.positions.iter().position(|p| !p.is_finite()) {
            return bad(format!(
                "vertex {i} has a non-finite coordinate {:?}",
                self.positions[i]
            ));
        }
        if let Some(tris) = &self.triangles
            && let Some((t, tri)) = tris
                .iter()
                .enumerate()
                .find(|(_, t)| t.iter().any(|&i| i as usize >= n))
        {
            return bad(format!(
                "face {t} uses vertex index {:?} but there are only {n} vertices",
                tri
            ));
        }
        for o in &self.objects {
            if let Some(&i) = o.vertex_indices.iter().find(|&&i| i as usize >= n) {
                return bad(format!(
                    "object {} ({}) uses vertex index {i} but there are only {n} vertices",
                    o.id, o.raw_label
                ));
            }
        }
        Ok(())
    }

    /// Applies `aligned = transform · p` to every position and normal, and recomputes boxes.
    pub fn transform(&mut self, transform: &glam::Mat4) {
        for p in &mut self.positions {
            *p = transform.transform_point3(*p);
        }
        if let Some(normals) = &mut self.normals {
            let m = glam::Mat3::from_mat4(*transform).inverse().transpose();
            for nrm in normals {
                *nrm = (m * *nrm).normalize_or_zero();
            }
        }
        self.recompute_boxes();
    }

    /// Recomputes every object's box from its vertices.
    pub fn recompute_boxes(&mut self) {
        let boxes: Vec<Option<Aabb>> = self
            .objects
            .iter()
            .map(|o| self.aabb_of(&o.vertex_indices))
            .collect();
        for (o, b) in self.objects.iter_mut().zip(boxes) {
            if let Some(b) = b {
                o.aabb = b;
            }
        }
    }

    /// Box around the given vertices (indices out of range are ignored).
    fn aabb_of(&self, vertex_indices: &[u32]) -> Option<Aabb> {
        Aabb::from_points(
            vertex_indices
                .iter()
                .filter_map(|&i| self.positions.get(i as usize).copied()),
        )
    }
}

/// FNV-1a of a string: a hash stable across platforms and Rust versions (for seeds and
/// splits derived from names).
pub fn stable_hash(s: &str) -> u64 {
    stable_hash_bytes(s.as_bytes())
}

/// FNV-1a of bytes (see [`stable_hash`]).
pub fn stable_hash_bytes(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A file shipped with Spatia (`assets/…`, `models/…`): relative to the working directory if it
/// is there, else to the source tree the binary was built from, else beside the executable.
pub fn bundled_path(rel: &Path) -> PathBuf {
    let mut candidates = vec![
        rel.to_path_buf(),
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel),
    ];
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.join(rel));
    }
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| rel.to_path_buf())
}

/// Options for [`load_scene`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// 3D-FRONT: load only the room with this `instanceid` (e.g. `"Bedroom-1234"`).
    pub room: Option<String>,
    /// 3D-FRONT: a 3D-FUTURE model folder holding `<jid>/raw_model.obj`. When `None`, a
    /// `3D-FUTURE-model` folder beside the house JSON's folder is used if present.
    pub future_dir: Option<PathBuf>,
}

/// What [`detect_format`] decided a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectedFormat {
    /// A ScanNet scan: the folder and the scan id.
    ScanNet {
        /// The scan folder.
        dir: PathBuf,
        /// Scan id such as `scene0000_00`.
        scan_id: String,
    },
    /// A 3D-FRONT house JSON.
    Front3d(PathBuf),
    /// A plain PLY file.
    Ply(PathBuf),
}

/// Decides how to load `path`: a ScanNet folder or `_vh_clean_2.ply`, a `.json` house, a `.ply`.
pub fn detect_format(path: &Path) -> Result<DetectedFormat, SceneError> {
    let meta = std::fs::metadata(path).map_err(|e| SceneError::io(path, e))?;
    if meta.is_dir() {
        return match scannet::find_scan_in_dir(path)? {
            Some(scan_id) => Ok(DetectedFormat::ScanNet {
                dir: path.to_path_buf(),
                scan_id,
            }),
            None => Err(SceneError::invalid(
                path,
                "directory holds nothing loadable (expected a ScanNet scan with <scan>_vh_clean_2.ply)",
            )),
        };
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(scan_id) = file_name.strip_suffix("_vh_clean_2.ply") {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        return Ok(DetectedFormat::ScanNet {
            dir,
            scan_id: scan_id.to_string(),
        });
    }
    let name = file_name.to_lowercase();
    if name.ends_with(".json") {
        return Ok(DetectedFormat::Front3d(path.to_path_buf()));
    }
    if name.ends_with(".ply") {
        return Ok(DetectedFormat::Ply(path.to_path_buf()));
    }
    Err(SceneError::invalid(
        path,
        "unrecognised scene file (expected a ScanNet folder, a 3D-FRONT .json or a .ply)",
    ))
}

/// Loads any supported scene: a ScanNet scan folder or its `_vh_clean_2.ply`, a 3D-FRONT house
/// JSON, or a plain PLY point cloud / mesh.
pub fn load_scene(path: &Path, options: &LoadOptions) -> Result<Scene, SceneError> {
    let scene = match detect_format(path)? {
        DetectedFormat::ScanNet { dir, scan_id } => scannet::load_scan(&dir, &scan_id)?,
        DetectedFormat::Front3d(p) => front3d::load_house(&p, options)?,
        DetectedFormat::Ply(p) => ply::load_ply_scene(&p)?,
    };
    scene.validate(path)?;
    Ok(scene)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aabb_from_points() {
        let b = Aabb::from_points([Vec3::new(1.0, -2.0, 3.0), Vec3::new(-1.0, 4.0, 0.5)]).unwrap();
        assert_eq!(b.min, Vec3::new(-1.0, -2.0, 0.5));
        assert_eq!(b.max, Vec3::new(1.0, 4.0, 3.0));
        assert_eq!(b.center(), Vec3::new(0.0, 1.0, 1.75));
        assert!(Aabb::from_points([]).is_none());
    }

    #[test]
    fn validate_reports_first_problem() {
        let mut s = Scene {
            name: "t".into(),
            format: SourceFormat::Ply,
            source_path: "t.ply".into(),
            positions: vec![Vec3::ZERO, Vec3::X, Vec3::Y],
            colors: vec![DEFAULT_GREY; 3],
            normals: None,
            triangles: Some(vec![[0, 1, 3]]),
            objects: vec![],
            warnings: vec![],
        };
        let e = s.validate(Path::new("t.ply")).unwrap_err().to_string();
        assert!(e.contains("t.ply") && e.contains("face 0"), "{e}");
        s.triangles = Some(vec![[0, 1, 2]]);
        s.positions[1].x = f32::NAN;
        let e = s.validate(Path::new("t.ply")).unwrap_err().to_string();
        assert!(e.contains("vertex 1") && e.contains("non-finite"), "{e}");
    }

    #[test]
    fn detect_rejects_unknown_files_and_empty_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let e = detect_format(dir.path()).unwrap_err().to_string();
        assert!(e.contains("nothing loadable"), "{e}");
        let f = dir.path().join("x.txt");
        std::fs::write(&f, "hi").unwrap();
        let e = detect_format(&f).unwrap_err().to_string();
        assert!(e.contains("unrecognised"), "{e}");
        let e = detect_format(&dir.path().join("missing.ply"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.ply"), "{e}");
    }

    #[test]
    fn lists_lead_with_the_objects_own_label() {
        let o = |label: &str, category: Category| SceneObject {
            id: 4,
            raw_label: label.into(),
            category,
            vertex_indices: Vec::new(),
            aabb: Aabb {
                min: Vec3::ZERO,
                max: Vec3::ONE,
            },
        };
        assert_eq!(
            o("shower", Category::OtherStructure).display_name(),
            "shower"
        );
        assert_eq!(o("clock", Category::OtherProp).display_name(), "clock");
        assert_eq!(o("chair", Category::Chair).display_name(), "chair");
        assert_eq!(
            o("office chair", Category::Chair).display_name(),
            "office chair (chair)"
        );
        assert_eq!(o("", Category::Table).display_name(), "table");
        assert_eq!(o("book", Category::Books).display_name(), "book");
        assert_eq!(
            o("tv", Category::Television).display_name(),
            "tv (television)"
        );
    }
}
