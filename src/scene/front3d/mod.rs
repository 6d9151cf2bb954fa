//! 3D-FRONT houses: architecture from `mesh[]`, furniture placed by `scene.room[].children[]`,
//! furniture geometry from a 3D-FUTURE `<jid>/raw_model.obj` when available, otherwise drawn as
//! its `bbox` / `size` box. 3D-FRONT is Y up; everything is converted to Spatia's z up:
//! `(x, y, z)_yup → (x, −z, y)_zup`.
//!
//! Assumption, documented in docs/FORMATS.md: a 3D-FUTURE model's origin is at the centre of its
//! footprint at floor level (so `bbox` spans x ∈ ±w/2, y ∈ [0, h], z ∈ ±d/2 in model space).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use glam::{Mat4, Quat, Vec3};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::read_file_limited;
use super::mesh::TriMesh;
use super::obj::{ObjMesh, read_obj};
use super::{Category, LoadOptions, Scene, SceneError, SourceFormat};

mod write;

pub use write::{ArchWrite, FurnitureWrite, RoomWrite, write_house};

const MAX_HOUSE_BYTES: u64 = 512 << 20;
/// Most vertices a loaded house may have (a house re-using one large mesh many times could
/// otherwise ask for far more memory than its file size suggests).
pub const MAX_HOUSE_VERTICES: usize = 50_000_000;

#[derive(Deserialize)]
struct House {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    furniture: Vec<Furniture>,
    #[serde(default)]
    mesh: Vec<ArchMesh>,
    scene: SceneNode,
}

#[derive(Deserialize, Serialize)]
struct Furniture {
    uid: String,
    #[serde(default)]
    jid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bbox: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    size: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    valid: Option<bool>,
}

#[derive(Deserialize, Serialize)]
struct ArchMesh {
    uid: String,
    #[serde(default)]
    jid: Option<String>,
    #[serde(default)]
    xyz: Vec<f64>,
    #[serde(default)]
    faces: Vec<i64>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct SceneNode {
    #[serde(default)]
    room: Vec<Room>,
}

#[derive(Deserialize, Serialize)]
struct Room {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    instanceid: Option<String>,
    #[serde(default)]
    pos: Option<Vec<f64>>,
    #[serde(default)]
    rot: Option<Vec<f64>>,
    #[serde(default)]
    scale: Option<Vec<f64>>,
    #[serde(default)]
    children: Vec<Child>,
}

#[derive(Deserialize, Serialize)]
struct Child {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instanceid: Option<String>,
    #[serde(default)]
    pos: Option<Vec<f64>>,
    #[serde(default)]
    rot: Option<Vec<f64>>,
    #[serde(default)]
    scale: Option<Vec<f64>>,
}

/// Architecture mesh types loaded as objects, with their raw label and colour.
const ARCH_TYPES: &[(&str, &str, [u8; 3])] = &[
    ("Floor", "floor", [150, 120, 90]),
    ("WallInner", "wall", [215, 210, 200]),
    ("Ceiling", "ceiling", [235, 235, 235]),
    ("Door", "door", [140, 95, 60]),
    ("Window", "window", [150, 190, 220]),
];

/// Converts a Y-up point or direction to z up.
pub fn zup_from_yup() -> Mat4 {
    Mat4::from_cols_array(&[
        1.0, 0.0, 0.0, 0.0, //
        0.0, 0.0, 1.0, 0.0, //
        0.0, -1.0, 0.0, 0.0, //
        0.0, 0.0, 0.0, 1.0,
    ])
}

fn vec_n<const N: usize>(
    path: &Path,
    what: &str,
    v: &Option<Vec<f64>>,
    default: [f64; N],
) -> Result<[f32; N], SceneError> {
    let Some(v) = v else {
        return Ok(default.map(|x| x as f32));
    };
    let arr: [f64; N] = v.as_slice().try_into().map_err(|_| {
        SceneError::invalid(
            path,
            format!("{what} has {} numbers, expected {N}", v.len()),
        )
    })?;
    if arr.iter().any(|x| !x.is_finite()) {
        return Err(SceneError::invalid(
            path,
            format!("{what} has a non-finite value"),
        ));
    }
    Ok(arr.map(|x| x as f32))
}

fn node_transform(
    path: &Path,
    what: &str,
    pos: &Option<Vec<f64>>,
    rot: &Option<Vec<f64>>,
    scale: &Option<Vec<f64>>,
) -> Result<Mat4, SceneError> {
    let p = vec_n(path, &format!("{what} pos"), pos, [0.0; 3])?;
    let r = vec_n(path, &format!("{what} rot"), rot, [0.0, 0.0, 0.0, 1.0])?;
    let s = vec_n(path, &format!("{what} scale"), scale, [1.0; 3])?;
    let q = Quat::from_array(r);
    if q.length() < 1e-6 {
        return Err(SceneError::invalid(
            path,
            format!("{what} rot is a zero quaternion"),
        ));
    }
    Ok(Mat4::from_scale_rotation_translation(
        Vec3::from(s),
        q.normalize(),
        Vec3::from(p),
    ))
}

/// Reads a `bbox`/`size` value written either as `[x, y, z]` or `[[x, y, z]]`.
fn box_size(v: &Value) -> Option<Vec3> {
    let arr = match v {
        Value::Array(a) if a.len() == 1 && a[0].is_array() => a[0].as_array()?,
        Value::Array(a) => a,
        _ => return None,
    };
    if arr.len() != 3 {
        return None;
    }
    let xs: Option<Vec<f32>> = arr.iter().map(|x| x.as_f64().map(|f| f as f32)).collect();
    let s = Vec3::from_slice(&xs?);
    (s.is_finite() && s.min_element() >= 0.0 && s.max_element() > 0.0).then_some(s)
}

/// The raw label of a furniture entry: its `category`, else its `title`, else "furniture".
fn furniture_label(f: &Furniture) -> String {
    [&f.category, &f.title]
        .into_iter()
        .flatten()
        .map(|s| s.trim())
        .find(|s| !s.is_empty())
        .unwrap_or("furniture")
        .to_string()
}

/// A deterministic colour per category, so bbox-only furniture is told apart.
pub fn category_color(c: Category) -> [u8; 3] {
    let h = (c as u32).wrapping_mul(2_654_435_761);
    [
        90 + (h >> 8) as u8 % 140,
        90 + (h >> 16) as u8 % 140,
        90 + (h >> 24) as u8 % 140,
    ]
}

fn future_dir_for(json: &Path, options: &LoadOptions) -> Option<PathBuf> {
    if let Some(d) = &options.future_dir {
        return Some(d.clone());
    }
    let parent = json.parent()?;
    [
        parent.join("3D-FUTURE-model"),
        parent.parent()?.join("3D-FUTURE-model"),
    ]
    .into_iter()
    .find(|d| d.is_dir())
}

/// Loads a 3D-FRONT house (or one of its rooms, by `options.room`).
pub fn load_house(path: &Path, options: &LoadOptions) -> Result<Scene, SceneError> {
    let bytes = read_file_limited(path, MAX_HOUSE_BYTES)?;
    parse_house(path, &bytes, options)
}

/// Parses a 3D-FRONT house JSON held in memory; `path` names it in errors and locates the
/// 3D-FUTURE model folder.
pub fn parse_house(path: &Path, bytes: &[u8], options: &LoadOptions) -> Result<Scene, SceneError> {
    let house: House = serde_json::from_slice(bytes)
        .map_err(|e| SceneError::invalid(path, format!("malformed JSON: {e}")))?;
    let future = future_dir_for(path, options);
    if let Some(d) = &options.future_dir
        && !d.is_dir()
    {
        return Err(SceneError::missing(d, "3D-FUTURE model folder"));
    }
    let rooms = select_rooms(path, &house, options.room.as_deref())?;
    let mut assembly = Assembly::new(path, &house, future);
    assembly.check_planned_size(&rooms)?;
    let to_zup = zup_from_yup();
    for (ri, room) in rooms.iter().enumerate() {
        let room_what = format!("room {}", room.instanceid.as_deref().unwrap_or("?"));
        let room_m = node_transform(path, &room_what, &room.pos, &room.rot, &room.scale)?;
        for (ci, child) in room.children.iter().enumerate() {
            let what = format!("scene.room[{ri}].children[{ci}]");
            let world_from_child = to_zup
                * room_m
                * node_transform(path, &what, &child.pos, &child.rot, &child.scale)?;
            assembly.add_child(child, &world_from_child)?;
        }
    }
    let name = house_name(path, &house, options.room.as_deref());
    assembly.into_scene(name)
}

/// The rooms to load: all, or the one whose instance id is `room`.
fn select_rooms<'h>(
    path: &Path,
    house: &'h House,
    room: Option<&str>,
) -> Result<Vec<&'h Room>, SceneError> {
    let all = &house.scene.room;
    let Some(id) = room else {
        return Ok(all.iter().collect());
    };
    let found: Vec<&Room> = all
        .iter()
        .filter(|r| r.instanceid.as_deref() == Some(id))
        .collect();
    if found.is_empty() {
        let known: Vec<&str> = all.iter().filter_map(|r| r.instanceid.as_deref()).collect();
        return Err(SceneError::invalid(
            path,
            format!("no room '{id}'; rooms are: {}", known.join(", ")),
        ));
    }
    Ok(found)
}

/// The scene's name: the house uid (else the file stem), with `/room` when one room is loaded.
fn house_name(path: &Path, house: &House, room: Option<&str>) -> String {
    let name = house
        .uid
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "house".into())
        });
    match room {
        Some(r) => format!("{name}/{r}"),
        None => name,
    }
}

/// A house being put together: the geometry placed so far, one labelled vertex range per object,
/// and what was skipped (said as warnings at the end).
struct Assembly<'h> {
    path: &'h Path,
    furniture: HashMap<&'h str, &'h Furniture>,
    meshes: HashMap<&'h str, &'h ArchMesh>,
    future: Option<PathBuf>,
    geometry: TriMesh,
    parts: Vec<(String, std::ops::Range<u32>)>,
    warnings: Vec<String>,
    obj_cache: HashMap<String, Option<ObjMesh>>,
    skipped_invalid: usize,
    skipped_no_geometry: usize,
    missing_ref: usize,
    used_obj: usize,
}

impl<'h> Assembly<'h> {
    fn new(path: &'h Path, house: &'h House, future: Option<PathBuf>) -> Self {
        Self {
            path,
            furniture: house
                .furniture
                .iter()
                .map(|f| (f.uid.as_str(), f))
                .collect(),
            meshes: house.mesh.iter().map(|m| (m.uid.as_str(), m)).collect(),
            future,
            geometry: TriMesh::default(),
            parts: Vec::new(),
            warnings: Vec::new(),
            obj_cache: HashMap::new(),
            skipped_invalid: 0,
            skipped_no_geometry: 0,
            missing_ref: 0,
            used_obj: 0,
        }
    }

    /// Refuses absurd totals before building anything (architecture sizes are known up front).
    fn check_planned_size(&self, rooms: &[&Room]) -> Result<(), SceneError> {
        let planned: usize = rooms
            .iter()
            .flat_map(|r| &r.children)
            .map(|c| {
                self.meshes
                    .get(c.reference.as_str())
                    .map_or(24, |m| m.xyz.len() / 3)
            })
            .fold(0usize, usize::saturating_add);
        if planned > MAX_HOUSE_VERTICES {
            return Err(SceneError::invalid(
                self.path,
                format!("house geometry exceeds {MAX_HOUSE_VERTICES} vertices ({planned} placed)"),
            ));
        }
        Ok(())
    }

    /// Places one room child (furniture or architecture) in the world.
    fn add_child(&mut self, child: &Child, world_from_child: &Mat4) -> Result<(), SceneError> {
        let reference = child.reference.as_str();
        if let Some(f) = self.furniture.get(reference).copied() {
            if f.valid == Some(false) {
                self.skipped_invalid += 1;
                return Ok(());
            }
            let label = furniture_label(f);
            let Some(local) = self.furniture_mesh(f, &label) else {
                self.skipped_no_geometry += 1;
                return Ok(());
            };
            self.place(label, &local, world_from_child)
        } else if let Some(mesh) = self.meshes.get(reference).copied() {
            let kind = mesh.kind.as_deref().unwrap_or("");
            let Some((_, label, color)) = ARCH_TYPES.iter().find(|(t, _, _)| *t == kind) else {
                return Ok(());
            };
            let local = arch_mesh(self.path, mesh, *color)?;
            if local.is_empty() {
                return Ok(());
            }
            self.place(label.to_string(), &local, world_from_child)
        } else {
            self.missing_ref += 1;
            Ok(())
        }
    }

    /// The furniture's 3D-FUTURE model when there is one, else its `bbox` / `size` box; `None`
    /// when it has neither.
    fn furniture_mesh(&mut self, f: &Furniture, label: &str) -> Option<TriMesh> {
        let model = match (&self.future, &f.jid) {
            (Some(dir), Some(jid)) if !jid.is_empty() => {
                let warnings = &mut self.warnings;
                self.obj_cache
                    .entry(jid.clone())
                    .or_insert_with(|| {
                        let p = dir.join(jid).join("raw_model.obj");
                        p.is_file()
                            .then(|| read_obj(&p))
                            .transpose()
                            .unwrap_or_else(|e| {
                                warnings.push(format!("{e}; drawing its bounding box instead"));
                                None
                            })
                    })
                    .clone()
            }
            _ => None,
        };
        if let Some(obj) = model {
            self.used_obj += 1;
            return Some(TriMesh {
                positions: obj.positions,
                colors: obj.colors,
                triangles: obj.triangles,
            });
        }
        let size = f.bbox.as_ref().or(f.size.as_ref()).and_then(box_size)?;
        let mut b = TriMesh::default();
        b.add_box(
            Vec3::new(-size.x / 2.0, 0.0, -size.z / 2.0),
            Vec3::new(size.x / 2.0, size.y, size.z / 2.0),
            category_color(Category::from_label(label)),
        );
        Some(b)
    }

    fn place(&mut self, label: String, local: &TriMesh, m: &Mat4) -> Result<(), SceneError> {
        check_room_for(self.path, &self.geometry, local)?;
        let start = self.geometry.append(&local.transformed(m));
        self.parts.push((label, start..self.geometry.len() as u32));
        Ok(())
    }

    /// The scene, with a warning for each kind of skipped child.
    fn into_scene(mut self, name: String) -> Result<Scene, SceneError> {
        let (invalid, no_geometry, missing) = (
            self.skipped_invalid,
            self.skipped_no_geometry,
            self.missing_ref,
        );
        if invalid > 0 {
            self.warnings
                .push(format!("skipped {invalid} furniture marked valid: false"));
        }
        if no_geometry > 0 {
            self.warnings.push(format!(
                "skipped {no_geometry} furniture with neither a 3D-FUTURE model nor a bbox"
            ));
        }
        if missing > 0 {
            self.warnings.push(format!(
                "{missing} room children reference no furniture or mesh"
            ));
        }
        if self.used_obj == 0 && self.future.is_none() {
            self.warnings.push(
                "no 3D-FUTURE model folder: furniture drawn as bounding boxes (use --future DIR)"
                    .into(),
            );
        }
        if self.geometry.is_empty() {
            return Err(SceneError::invalid(
                self.path,
                "house has no loadable geometry (no floor, wall or furniture)",
            ));
        }
        let mut scene = Scene {
            name,
            format: SourceFormat::Front3d,
            source_path: self.path.to_path_buf(),
            positions: self.geometry.positions,
            colors: self.geometry.colors,
            normals: None,
            triangles: Some(self.geometry.triangles),
            objects: Vec::new(),
            warnings: self.warnings,
        };
        let mut objects = Vec::with_capacity(self.parts.len());
        for (i, (label, range)) in self.parts.into_iter().enumerate() {
            if let Some(o) = scene.make_object(i as u32 + 1, &label, range.collect()) {
                objects.push(o);
            }
        }
        scene.objects = objects;
        Ok(scene)
    }
}

fn check_room_for(path: &Path, geometry: &TriMesh, more: &TriMesh) -> Result<(), SceneError> {
    if geometry.len() + more.len() > MAX_HOUSE_VERTICES {
        return Err(SceneError::invalid(
            path,
            format!("house geometry exceeds {MAX_HOUSE_VERTICES} vertices"),
        ));
    }
    Ok(())
}

fn arch_mesh(path: &Path, mesh: &ArchMesh, color: [u8; 3]) -> Result<TriMesh, SceneError> {
    let bad = |p: String| SceneError::invalid(path, format!("mesh '{}': {p}", mesh.uid));
    if !mesh.xyz.len().is_multiple_of(3) {
        return Err(bad(format!(
            "xyz has {} numbers, not a multiple of 3",
            mesh.xyz.len()
        )));
    }
    if !mesh.faces.len().is_multiple_of(3) {
        return Err(bad(format!(
            "faces has {} indices, not a multiple of 3",
            mesh.faces.len()
        )));
    }
    let n = mesh.xyz.len() / 3;
    let positions: Vec<Vec3> = mesh
        .xyz
        .chunks_exact(3)
        .map(|c| Vec3::new(c[0] as f32, c[1] as f32, c[2] as f32))
        .collect();
    if positions.iter().any(|p| !p.is_finite()) {
        return Err(bad("xyz has a non-finite coordinate".into()));
    }
    let mut triangles = Vec::with_capacity(mesh.faces.len() / 3);
    for t in mesh.faces.chunks_exact(3) {
        let idx: Option<Vec<u32>> = t
            .iter()
            .map(|&i| u32::try_from(i).ok().filter(|&i| (i as usize) < n))
            .collect();
        let idx = idx.ok_or_else(|| bad(format!("face {t:?} is out of range for {n} vertices")))?;
        triangles.push([idx[0], idx[1], idx[2]]);
    }
    Ok(TriMesh {
        colors: vec![color; n],
        positions,
        triangles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUSE: &str = r#"{
      "uid": "h1",
      "furniture": [
        {"uid": "1/model", "jid": "j1", "category": "Dining Chair", "bbox": [0.5, 1.0, 0.4], "valid": true},
        {"uid": "2/model", "jid": "j2", "title": "table/dining table - square", "bbox": [[2.0, 0.8, 1.0]], "valid": true},
        {"uid": "3/model", "jid": "j3", "category": "Others", "valid": false},
        {"uid": "4/model", "jid": "j4", "title": "curtain/curtain"}
      ],
      "mesh": [
        {"uid": "m1", "type": "Floor", "xyz": [0,0,0, 4,0,0, 4,0,-3, 0,0,-3], "faces": [0,1,2, 0,2,3]},
        {"uid": "m2", "type": "WallOuter", "xyz": [0,0,0, 1,0,0, 1,1,0], "faces": [0,1,2]}
      ],
      "scene": {"room": [
        {"type": "DiningRoom", "instanceid": "DiningRoom-1", "children": [
          {"ref": "m1", "pos": [0,0,0], "rot": [0,0,0,1], "scale": [1,1,1]},
          {"ref": "m2", "pos": [0,0,0], "rot": [0,0,0,1], "scale": [1,1,1]},
          {"ref": "1/model", "pos": [1, 0, -1], "rot": [0, 0.70710678, 0, 0.70710678], "scale": [1,1,1]},
          {"ref": "2/model", "pos": [2, 0, -2], "rot": [0,0,0,1], "scale": [1, 1, 2]},
          {"ref": "3/model", "pos": [2, 0, -2], "rot": [0,0,0,1], "scale": [1,1,1]},
          {"ref": "4/model", "pos": [2, 0, -2], "rot": [0,0,0,1], "scale": [1,1,1]}
        ]},
        {"type": "Bedroom", "instanceid": "Bedroom-2", "children": [
          {"ref": "1/model", "pos": [10, 0, 0]}
        ]}
      ]}
    }"#;

    fn load(text: &str, options: &LoadOptions) -> Result<Scene, SceneError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("house.json");
        std::fs::write(&p, text).unwrap();
        load_house(&p, options)
    }

    #[test]
    fn places_bbox_furniture_z_up() {
        let s = load(HOUSE, &LoadOptions::default()).unwrap();
        let labels: Vec<&str> = s.objects.iter().map(|o| o.raw_label.as_str()).collect();
        assert_eq!(
            labels,
            vec![
                "floor",
                "Dining Chair",
                "table/dining table - square",
                "Dining Chair"
            ]
        );
        let floor = &s.objects[0];
        assert_eq!(floor.category, Category::Floor);
        // Y-up z = -3 becomes z-up y = 3.
        assert!(
            floor.aabb.max_corner_diff(&crate::scene::Aabb {
                min: Vec3::new(0.0, 0.0, 0.0),
                max: Vec3::new(4.0, 3.0, 0.0)
            }) < 1e-5
        );
        // The chair is rotated 90° about Y: its 0.5 x 0.4 footprint becomes 0.4 x 0.5.
        let chair = &s.objects[1];
        assert_eq!(chair.category, Category::Chair);
        let size = chair.aabb.size();
        assert!(
            (size - Vec3::new(0.4, 0.5, 1.0)).abs().max_element() < 1e-4,
            "{size}"
        );
        assert!((chair.aabb.center() - Vec3::new(1.0, 1.0, 0.5)).length() < 1e-4);
        // The table is scaled 2x along its depth, and its bbox was written as [[x, y, z]].
        let table = &s.objects[2];
        assert_eq!(table.category, Category::Table);
        assert!(
            (table.aabb.size() - Vec3::new(2.0, 2.0, 0.8))
                .abs()
                .max_element()
                < 1e-4
        );
        assert!(table.aabb.min.z.abs() < 1e-6);
        assert!(s.warnings.iter().any(|w| w.contains("valid: false")));
        assert!(
            s.warnings
                .iter()
                .any(|w| w.contains("neither a 3D-FUTURE model nor a bbox"))
        );
    }

    #[test]
    fn loads_one_room() {
        let opts = LoadOptions {
            room: Some("Bedroom-2".into()),
            ..Default::default()
        };
        let s = load(HOUSE, &opts).unwrap();
        assert_eq!(s.objects.len(), 1);
        assert!((s.objects[0].aabb.center().x - 10.0).abs() < 1e-4);
        let opts = LoadOptions {
            room: Some("Kitchen-9".into()),
            ..Default::default()
        };
        let e = load(HOUSE, &opts).unwrap_err().to_string();
        assert!(
            e.contains("no room 'Kitchen-9'") && e.contains("Bedroom-2"),
            "{e}"
        );
    }

    #[test]
    fn bad_houses_are_named() {
        let cases = [
            (r#"{"scene": 5}"#, "malformed JSON"),
            (r#"{"furniture": []}"#, "malformed JSON"),
            (
                r#"{"mesh": [{"uid": "m", "type": "Floor", "xyz": [0,0,0, 1,0,0], "faces": [0,1,5]}], "scene": {"room": [{"children": [{"ref": "m"}]}]}}"#,
                "out of range",
            ),
            (
                r#"{"mesh": [{"uid": "m", "type": "Floor", "xyz": [0,0], "faces": []}], "scene": {"room": [{"children": [{"ref": "m"}]}]}}"#,
                "not a multiple of 3",
            ),
            (
                r#"{"furniture": [{"uid": "f", "bbox": [1,1,1]}], "scene": {"room": [{"children": [{"ref": "f", "pos": [0, 1]}]}]}}"#,
                "pos has 2 numbers",
            ),
            (
                r#"{"furniture": [{"uid": "f", "bbox": [1,1,1]}], "scene": {"room": [{"children": [{"ref": "f", "rot": [0,0,0,0]}]}]}}"#,
                "zero quaternion",
            ),
            (r#"{"scene": {"room": []}}"#, "no loadable geometry"),
        ];
        for (text, want) in cases {
            let e = load(text, &LoadOptions::default()).unwrap_err().to_string();
            assert!(e.contains("house.json") && e.contains(want), "{want}: {e}");
        }
        // One mesh of 300k vertices referenced 200 times: refused, not 60M vertices allocated.
        let xyz = vec!["0"; 900_000].join(",");
        let children = vec![r#"{"ref": "m"}"#; 200].join(",");
        let big = format!(
            r#"{{"mesh": [{{"uid": "m", "type": "Floor", "xyz": [{xyz}], "faces": []}}], "scene": {{"room": [{{"children": [{children}]}}]}}}}"#
        );
        let e = load(&big, &LoadOptions::default()).unwrap_err().to_string();
        assert!(e.contains("exceeds"), "{e}");
        let deep = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
        let e = load(&deep, &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("malformed JSON"), "{e}");
    }

    #[test]
    fn write_then_load_uses_models() {
        let dir = tempfile::tempdir().unwrap();
        let mut model = TriMesh::default();
        model.add_box(
            Vec3::new(-0.5, -0.25, 0.0),
            Vec3::new(0.5, 0.25, 0.7),
            [200, 10, 10],
        );
        model.add_box(
            Vec3::new(-0.1, -0.1, 0.7),
            Vec3::new(0.1, 0.1, 1.2),
            [10, 200, 10],
        );
        let mut floor = TriMesh::default();
        floor.add_grid(Vec3::ZERO, Vec3::new(3.0, 2.0, 0.0), 3, 2, [100; 3]);
        let rooms = vec![RoomWrite {
            kind: "Bedroom".into(),
            instance_id: "Bedroom-1".into(),
            arch: vec![ArchWrite {
                kind: "Floor",
                mesh: floor,
            }],
            furniture: vec![FurnitureWrite {
                label: "lamp".into(),
                jid: "jid-lamp".into(),
                model,
                translation: Vec3::new(1.0, 1.5, 0.0),
                yaw: std::f32::consts::FRAC_PI_2,
            }],
        }];
        let json = dir.path().join("3D-FRONT").join("h.json");
        let future = dir.path().join("3D-FUTURE-model");
        write_house(&json, &future, "h", &rooms).unwrap();
        assert!(future.join("jid-lamp/raw_model.obj").is_file());
        let s = load_house(&json, &LoadOptions::default()).unwrap();
        assert_eq!(s.objects.len(), 2);
        let lamp = &s.objects[1];
        assert_eq!(lamp.category, Category::Lamp);
        // Rotated by 90°: the 1.0 x 0.5 base becomes 0.5 x 1.0.
        let want = crate::scene::Aabb {
            min: Vec3::new(0.75, 1.0, 0.0),
            max: Vec3::new(1.25, 2.0, 1.2),
        };
        assert!(lamp.aabb.max_corner_diff(&want) < 1e-4, "{:?}", lamp.aabb);
        // Model colours survive (two parts, two colours).
        let colors: std::collections::HashSet<[u8; 3]> = lamp
            .vertex_indices
            .iter()
            .map(|&i| s.colors[i as usize])
            .collect();
        assert!(colors.contains(&[200, 10, 10]) && colors.contains(&[10, 200, 10]));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }
}
