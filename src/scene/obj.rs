//! Wavefront OBJ meshes (3D-FUTURE `raw_model.obj`), read with `tobj`, and a small writer.

use std::io::{BufWriter, Write};
use std::path::Path;

use glam::Vec3;

use super::{DEFAULT_GREY, SceneError};

/// Largest OBJ file accepted (1 GiB).
const MAX_OBJ_BYTES: u64 = 1 << 30;

/// A triangle mesh read from an OBJ file, all its groups merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjMesh {
    /// Positions as stored in the file.
    pub positions: Vec<Vec3>,
    /// Per-vertex colours: `v x y z r g b` colours, else the material's diffuse colour, else grey.
    pub colors: Vec<[u8; 3]>,
    /// Triangles (polygons are triangulated).
    pub triangles: Vec<[u32; 3]>,
}

fn to_u8(c: f32) -> u8 {
    (c.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Reads an OBJ file and its materials (when the `.mtl` can be read).
pub fn read_obj(path: &Path) -> Result<ObjMesh, SceneError> {
    let meta = std::fs::metadata(path).map_err(|e| SceneError::io(path, e))?;
    if meta.len() > MAX_OBJ_BYTES {
        return Err(SceneError::invalid(
            path,
            format!("file is {} bytes, more than {MAX_OBJ_BYTES}", meta.len()),
        ));
    }
    let options = tobj::LoadOptions {
        triangulate: true,
        single_index: true,
        ..Default::default()
    };
    let (models, materials) = tobj::load_obj(path, &options)
        .map_err(|e| SceneError::invalid(path, format!("cannot read OBJ: {e}")))?;
    let materials = materials.unwrap_or_default();
    let mut out = ObjMesh::default();
    for model in &models {
        let m = &model.mesh;
        if m.positions.len() % 3 != 0 || m.indices.len() % 3 != 0 {
            return Err(SceneError::invalid(
                path,
                format!("group '{}' has a partial vertex or face", model.name),
            ));
        }
        let base = out.positions.len() as u32;
        let count = m.positions.len() / 3;
        let diffuse = m
            .material_id
            .and_then(|i| materials.get(i))
            .and_then(|mat| mat.diffuse)
            .map(|d| [to_u8(d[0]), to_u8(d[1]), to_u8(d[2])]);
        for i in 0..count {
            let p = Vec3::new(
                m.positions[3 * i],
                m.positions[3 * i + 1],
                m.positions[3 * i + 2],
            );
            if !p.is_finite() {
                return Err(SceneError::invalid(
                    path,
                    format!("vertex {} has a non-finite coordinate", base as usize + i),
                ));
            }
            out.positions.push(p);
            let color = if m.vertex_color.len() >= 3 * (i + 1) {
                [
                    to_u8(m.vertex_color[3 * i]),
                    to_u8(m.vertex_color[3 * i + 1]),
                    to_u8(m.vertex_color[3 * i + 2]),
                ]
            } else {
                diffuse.unwrap_or(DEFAULT_GREY)
            };
            out.colors.push(color);
        }
        for t in m.indices.chunks_exact(3) {
            if t.iter().any(|&i| i as usize >= count) {
                return Err(SceneError::invalid(
                    path,
                    format!(
                        "group '{}' has a face index out of range ({t:?}, {count} vertices)",
                        model.name
                    ),
                ));
            }
            out.triangles.push([base + t[0], base + t[1], base + t[2]]);
        }
    }
    if out.positions.is_empty() {
        return Err(SceneError::invalid(path, "OBJ file has no vertices"));
    }
    Ok(out)
}

/// Writes an OBJ with per-vertex colours (`v x y z r g b`, colours in 0..1).
pub fn write_obj(path: &Path, mesh: &ObjMesh) -> Result<(), SceneError> {
    let file = std::fs::File::create(path).map_err(|e| SceneError::io(path, e))?;
    let mut w = BufWriter::new(file);
    let result = (|| -> std::io::Result<()> {
        writeln!(w, "# Spatia generated model")?;
        for (p, c) in mesh.positions.iter().zip(&mesh.colors) {
            writeln!(
                w,
                "v {} {} {} {:.4} {:.4} {:.4}",
                p.x,
                p.y,
                p.z,
                f32::from(c[0]) / 255.0,
                f32::from(c[1]) / 255.0,
                f32::from(c[2]) / 255.0
            )?;
        }
        for t in &mesh.triangles {
            writeln!(w, "f {} {} {}", t[0] + 1, t[1] + 1, t[2] + 1)?;
        }
        w.flush()
    })();
    result.map_err(|e| SceneError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_colours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw_model.obj");
        let mesh = ObjMesh {
            positions: vec![Vec3::ZERO, Vec3::X, Vec3::Y, Vec3::new(1.0, 1.0, 0.5)],
            colors: vec![[255, 0, 0], [0, 255, 0], [0, 0, 255], [51, 102, 153]],
            triangles: vec![[0, 1, 2], [1, 3, 2]],
        };
        write_obj(&path, &mesh).unwrap();
        let back = read_obj(&path).unwrap();
        assert_eq!(back, mesh);
    }

    #[test]
    fn material_colour_and_quads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.mtl"), "newmtl wood\nKd 0.5 0.25 0.0\n").unwrap();
        let path = dir.path().join("raw_model.obj");
        std::fs::write(
            &path,
            "mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nusemtl wood\nf 1 2 3 4\n",
        )
        .unwrap();
        let m = read_obj(&path).unwrap();
        assert_eq!(m.triangles.len(), 2);
        assert_eq!(m.colors[0], [128, 64, 0]);
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw_model.obj");
        std::fs::write(&path, "v 0 0 0\nv 1 0 0\nf 1 2 9\n").unwrap();
        let e = read_obj(&path).unwrap_err().to_string();
        assert!(e.contains("raw_model.obj"), "{e}");
        std::fs::write(&path, "# nothing\n").unwrap();
        let e = read_obj(&path).unwrap_err().to_string();
        assert!(e.contains("no vertices"), "{e}");
        let e = read_obj(&dir.path().join("nope.obj"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.obj"), "{e}");
    }
}
