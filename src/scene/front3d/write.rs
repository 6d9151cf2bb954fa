//! The 3D-FRONT writer: a house JSON in 3D-FRONT's Y-up conventions and each furniture model as
//! a 3D-FUTURE `<jid>/raw_model.obj` (what `spatia gen-scenes --format front3d` writes).

use std::path::Path;

use glam::{Quat, Vec3};
use serde::Serialize;
use serde_json::Value;

use super::{Child, Furniture, Room, zup_from_yup};
use crate::scene::SceneError;
use crate::scene::mesh::TriMesh;
use crate::scene::obj::{ObjMesh, write_obj};

/// A piece of architecture to write: a 3D-FRONT mesh type and its z-up world geometry.
#[derive(Debug, Clone)]
pub struct ArchWrite {
    /// 3D-FRONT mesh type: `Floor`, `WallInner`, `Ceiling`, `Door`, `Window`.
    pub kind: &'static str,
    /// Geometry, z up, world frame.
    pub mesh: TriMesh,
}

/// A furniture item to write: its model (z up, model frame with the origin at the centre of its
/// footprint on the floor) and its placement.
#[derive(Debug, Clone)]
pub struct FurnitureWrite {
    /// Label written as `category` and in `title`.
    pub label: String,
    /// Model id; the model goes to `<future_dir>/<jid>/raw_model.obj`.
    pub jid: String,
    /// Model geometry, z up, model frame.
    pub model: TriMesh,
    /// Position of the model origin in the z-up world.
    pub translation: Vec3,
    /// Rotation about the vertical axis, radians.
    pub yaw: f32,
}

/// A room to write.
#[derive(Debug, Clone)]
pub struct RoomWrite {
    /// Room type, e.g. `Bedroom`.
    pub kind: String,
    /// Room instance id, e.g. `Bedroom-12`.
    pub instance_id: String,
    /// Floor, walls, doors, windows.
    pub arch: Vec<ArchWrite>,
    /// Furniture and small objects.
    pub furniture: Vec<FurnitureWrite>,
}

#[derive(Serialize)]
struct HouseOut<'a> {
    uid: &'a str,
    version: &'static str,
    north_vector: [i32; 3],
    furniture: Vec<Furniture>,
    mesh: Vec<ArchMeshOut>,
    scene: SceneOut,
}

#[derive(Serialize)]
struct ArchMeshOut {
    uid: String,
    jid: String,
    xyz: Vec<f32>,
    faces: Vec<u32>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct SceneOut {
    #[serde(rename = "ref")]
    reference: &'static str,
    pos: [f32; 3],
    rot: [f32; 4],
    scale: [f32; 3],
    room: Vec<Room>,
}

fn round6(v: f32) -> f64 {
    (f64::from(v) * 1e6).round() / 1e6
}

/// Writes a house JSON at `json_path` and each furniture model to
/// `<future_dir>/<jid>/raw_model.obj`, in 3D-FRONT's Y-up conventions.
pub fn write_house(
    json_path: &Path,
    future_dir: &Path,
    uid: &str,
    rooms: &[RoomWrite],
) -> Result<(), SceneError> {
    let yup_from_zup = zup_from_yup().inverse();
    let mut furniture = Vec::new();
    let mut meshes = Vec::new();
    let mut rooms_out = Vec::new();
    for room in rooms {
        let mut children = Vec::new();
        for (ai, arch) in room.arch.iter().enumerate() {
            let uid = format!("{}/mesh{ai}", room.instance_id);
            let m = arch.mesh.transformed(&yup_from_zup);
            meshes.push(ArchMeshOut {
                uid: uid.clone(),
                jid: String::new(),
                xyz: m.positions.iter().flat_map(|p| p.to_array()).collect(),
                faces: m.triangles.iter().flatten().copied().collect(),
                kind: arch.kind,
            });
            children.push(Child {
                reference: uid,
                instanceid: Some(format!("mesh/{}", meshes.len())),
                pos: Some(vec![0.0; 3]),
                rot: Some(vec![0.0, 0.0, 0.0, 1.0]),
                scale: Some(vec![1.0; 3]),
            });
        }
        for f in &room.furniture {
            let model = f.model.transformed(&yup_from_zup);
            let dir = future_dir.join(&f.jid);
            std::fs::create_dir_all(&dir).map_err(|e| SceneError::io(&dir, e))?;
            write_obj(
                &dir.join("raw_model.obj"),
                &ObjMesh {
                    positions: model.positions.clone(),
                    colors: model.colors.clone(),
                    triangles: model.triangles.clone(),
                },
            )?;
            let size = model
                .bounds()
                .map(|b| b.size())
                .unwrap_or(Vec3::ZERO)
                .to_array()
                .map(|v| Value::from(round6(v)));
            let uid = format!("{}/model", furniture.len() + 1);
            furniture.push(Furniture {
                uid: uid.clone(),
                jid: Some(f.jid.clone()),
                title: Some(format!("{0}/{0}", f.label)),
                category: Some(f.label.clone()),
                bbox: Some(Value::Array(size.to_vec())),
                size: Some(Value::Array(size.to_vec())),
                valid: Some(true),
            });
            let pos = yup_from_zup.transform_point3(f.translation);
            let q = Quat::from_rotation_y(f.yaw);
            children.push(Child {
                reference: uid,
                instanceid: Some(format!("furniture/{}", furniture.len())),
                pos: Some(pos.to_array().map(round6).to_vec()),
                rot: Some(q.to_array().map(round6).to_vec()),
                scale: Some(vec![1.0; 3]),
            });
        }
        rooms_out.push(Room {
            kind: Some(room.kind.clone()),
            instanceid: Some(room.instance_id.clone()),
            pos: Some(vec![0.0; 3]),
            rot: Some(vec![0.0, 0.0, 0.0, 1.0]),
            scale: Some(vec![1.0; 3]),
            children,
        });
    }
    let house = HouseOut {
        uid,
        version: "2.0",
        north_vector: [0, 1, 0],
        furniture,
        mesh: meshes,
        scene: SceneOut {
            reference: "-1",
            pos: [0.0; 3],
            rot: [0.0, 0.0, 0.0, 1.0],
            scale: [1.0; 3],
            room: rooms_out,
        },
    };
    if let Some(parent) = json_path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| SceneError::io(parent, e))?;
    }
    let text = serde_json::to_vec(&house)
        .map_err(|e| SceneError::invalid(json_path, format!("cannot serialise JSON: {e}")))?;
    std::fs::write(json_path, text).map_err(|e| SceneError::io(json_path, e))
}
