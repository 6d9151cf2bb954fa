//! Procedural indoor scenes with real physical relations, written in ScanNet's and 3D-FRONT's
//! on-disk layouts.
//!
//! A scene is one rectangular room (bedroom, living room, office, kitchen or bathroom) with a
//! floor, four walls, a door and a window, furniture against the walls or free-standing, chairs
//! near (never touching) tables and desks, and small objects standing on supports: cups and
//! monitors on tables and desks, pillows on beds and sofas, books on shelves, lamps on
//! nightstands. Everything is deterministic from `(seed, index)`.

pub mod clouds;
pub mod furniture;
mod layout;
mod recipes;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use glam::{Mat4, Vec3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::front3d::{ArchWrite, FurnitureWrite, RoomWrite, write_house};
use super::mesh::TriMesh;
use super::scannet::write_scan;
use super::{Aabb, Scene, SceneError, SourceFormat};
pub use furniture::Model;

/// One object of a generated scene.
#[derive(Debug, Clone)]
pub struct GenObject {
    /// Instance id (1-based, in order: architecture first).
    pub id: u32,
    /// Raw label, e.g. "coffee table".
    pub label: String,
    /// For architecture, its 3D-FRONT mesh type (`Floor`, `WallInner`, `Door`, `Window`).
    pub arch_kind: Option<&'static str>,
    /// Geometry in the model frame (architecture: the world frame).
    pub model: Model,
    /// Position of the model origin in the room.
    pub translation: Vec3,
    /// Rotation about z, radians.
    pub yaw: f32,
    /// The id of the object this one stands on, if any.
    pub support: Option<u32>,
}

impl GenObject {
    /// The model-to-room transform.
    pub fn world_from_model(&self) -> Mat4 {
        Mat4::from_translation(self.translation) * Mat4::from_rotation_z(self.yaw)
    }

    /// The geometry in the room frame.
    pub fn world_mesh(&self) -> TriMesh {
        self.model.mesh.transformed(&self.world_from_model())
    }

    /// Box around the geometry in the room frame.
    pub fn world_aabb(&self) -> Aabb {
        let m = self.world_from_model();
        Aabb::from_points(
            self.model
                .mesh
                .positions
                .iter()
                .map(|p| m.transform_point3(*p)),
        )
        .unwrap_or(Aabb {
            min: self.translation,
            max: self.translation,
        })
    }
}

/// Room types the generator knows.
pub const ROOM_TYPES: [&str; 5] = ["Bedroom", "LivingRoom", "Office", "Kitchen", "Bathroom"];

/// A generated scene.
#[derive(Debug, Clone)]
pub struct GeneratedScene {
    /// Scene name, also the ScanNet scan id and the 3D-FRONT uid.
    pub name: String,
    /// One of [`ROOM_TYPES`].
    pub room_type: &'static str,
    /// Room interior size: width (x), depth (y), height (z), metres.
    pub size: Vec3,
    /// Objects, architecture first.
    pub objects: Vec<GenObject>,
    /// The ScanNet `axisAlignment` written with the scan (aligned = A · raw).
    pub axis_alignment: Mat4,
}

/// Output format of [`GeneratedScene::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenFormat {
    /// ScanNet scan folders.
    ScanNet,
    /// 3D-FRONT house JSON + 3D-FUTURE models.
    Front3d,
}

/// Generates scene number `index` of the set seeded by `seed`.
pub fn generate(seed: u64, index: u32) -> GeneratedScene {
    let mixed = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(index).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut rng = ChaCha8Rng::seed_from_u64(mixed);
    let room_type = ROOM_TYPES[rng.random_range(0..ROOM_TYPES.len())];
    let objects = recipes::furnish(&mut rng, room_type);
    let size = objects.size;
    let angle = rng.random_range(-std::f32::consts::PI..std::f32::consts::PI);
    let shift = Vec3::new(
        rng.random_range(-3.0..3.0),
        rng.random_range(-3.0..3.0),
        rng.random_range(-0.2..0.2),
    );
    // aligned = A · raw; the raw scan is turned and shifted away from the aligned frame.
    let axis_alignment = Mat4::from_translation(shift) * Mat4::from_rotation_z(angle);
    GeneratedScene {
        name: format!("spatia_s{seed}_{index:05}"),
        room_type,
        size,
        objects: objects.objects,
        axis_alignment,
    }
}

impl GeneratedScene {
    /// The scene as loaders return it (aligned frame), and each vertex's segment id.
    pub fn to_scene(&self) -> (Scene, Vec<u32>) {
        let mut mesh = TriMesh::default();
        let mut segments = Vec::new();
        let mut segment_ids: HashMap<(usize, usize, [i32; 3]), u32> = HashMap::new();
        let mut ranges = Vec::with_capacity(self.objects.len());
        for (oi, o) in self.objects.iter().enumerate() {
            let world = o.world_mesh();
            let base = mesh.append(&world);
            for (pi, part) in o.model.parts.iter().enumerate() {
                for v in part.clone() {
                    let p = world.positions[v as usize];
                    let cell = (p / 0.6).floor().as_ivec3().to_array();
                    let next = segment_ids.len() as u32;
                    segments.push(*segment_ids.entry((oi, pi, cell)).or_insert(next));
                }
            }
            ranges.push(base..mesh.len() as u32);
        }
        let mut scene = Scene {
            name: self.name.clone(),
            format: SourceFormat::ScanNet,
            source_path: PathBuf::new(),
            positions: mesh.positions,
            colors: mesh.colors,
            normals: None,
            triangles: Some(mesh.triangles),
            objects: Vec::new(),
            warnings: Vec::new(),
        };
        scene.objects = self
            .objects
            .iter()
            .zip(ranges)
            .filter_map(|(o, r)| scene.make_object(o.id, &o.label, r.collect()))
            .collect();
        (scene, segments)
    }

    /// Writes the scene under `out_dir`: ScanNet as `out_dir/<name>/…`; 3D-FRONT as
    /// `out_dir/3D-FRONT/<name>.json` and `out_dir/3D-FUTURE-model/<jid>/raw_model.obj`.
    /// Returns the path to open it with.
    pub fn write(&self, out_dir: &Path, format: GenFormat) -> Result<PathBuf, SceneError> {
        match format {
            GenFormat::ScanNet => {
                let (scene, segments) = self.to_scene();
                let dir = out_dir.join(&self.name);
                write_scan(
                    &dir,
                    &self.name,
                    &scene,
                    &segments,
                    self.axis_alignment,
                    &format!("{} / Spatia generated", self.room_type),
                )?;
                Ok(dir)
            }
            GenFormat::Front3d => {
                let mut room = RoomWrite {
                    kind: self.room_type.to_string(),
                    instance_id: format!("{}-1", self.room_type),
                    arch: Vec::new(),
                    furniture: Vec::new(),
                };
                for o in &self.objects {
                    match o.arch_kind {
                        Some(kind) => room.arch.push(ArchWrite {
                            kind,
                            mesh: o.world_mesh(),
                        }),
                        None => room.furniture.push(FurnitureWrite {
                            label: o.label.clone(),
                            jid: format!("{}-{:03}", self.name, o.id),
                            model: o.model.mesh.clone(),
                            translation: o.translation,
                            yaw: o.yaw,
                        }),
                    }
                }
                let json = out_dir.join("3D-FRONT").join(format!("{}.json", self.name));
                write_house(&json, &out_dir.join("3D-FUTURE-model"), &self.name, &[room])?;
                Ok(json)
            }
        }
    }
}

#[cfg(test)]
mod tests;
