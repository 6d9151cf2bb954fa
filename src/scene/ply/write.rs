//! The PLY writer: positions with optional colours (and ScanNet's alpha), normals and
//! triangles, in ascii or binary little / big endian.

use std::io::{BufWriter, Write};
use std::path::Path;

use glam::Vec3;

use super::PlyEncoding;
use crate::scene::SceneError;

/// What to write with [`write_ply`].
#[derive(Debug, Clone, Copy)]
pub struct PlyWrite<'a> {
    /// Positions (written as float x, y, z).
    pub positions: &'a [Vec3],
    /// Colours (uchar red, green, blue).
    pub colors: Option<&'a [[u8; 3]]>,
    /// Write an `alpha` property of 255 after the colours (as ScanNet meshes do).
    pub alpha: bool,
    /// Normals (float nx, ny, nz).
    pub normals: Option<&'a [Vec3]>,
    /// Triangles (`list uchar int vertex_indices`).
    pub triangles: Option<&'a [[u32; 3]]>,
    /// Header comment line.
    pub comment: &'a str,
}

/// Writes a PLY file in the given encoding.
pub fn write_ply(
    path: &Path,
    data: &PlyWrite<'_>,
    encoding: PlyEncoding,
) -> Result<(), SceneError> {
    let file = std::fs::File::create(path).map_err(|e| SceneError::io(path, e))?;
    let mut w = BufWriter::new(file);
    write_ply_to(&mut w, data, encoding)
        .and_then(|_| w.flush())
        .map_err(|e| SceneError::io(path, e))
}

/// Writes a PLY stream in the given encoding.
pub fn write_ply_to(
    w: &mut impl Write,
    data: &PlyWrite<'_>,
    encoding: PlyEncoding,
) -> std::io::Result<()> {
    let n = data.positions.len();
    let format = match encoding {
        PlyEncoding::Ascii => "ascii",
        PlyEncoding::BinaryLittleEndian => "binary_little_endian",
        PlyEncoding::BinaryBigEndian => "binary_big_endian",
    };
    writeln!(w, "ply\nformat {format} 1.0")?;
    if !data.comment.is_empty() {
        writeln!(w, "comment {}", data.comment)?;
    }
    writeln!(w, "element vertex {n}")?;
    writeln!(w, "property float x\nproperty float y\nproperty float z")?;
    if data.normals.is_some() {
        writeln!(w, "property float nx\nproperty float ny\nproperty float nz")?;
    }
    if data.colors.is_some() {
        writeln!(
            w,
            "property uchar red\nproperty uchar green\nproperty uchar blue"
        )?;
        if data.alpha {
            writeln!(w, "property uchar alpha")?;
        }
    }
    if let Some(t) = data.triangles {
        writeln!(
            w,
            "element face {}\nproperty list uchar int vertex_indices",
            t.len()
        )?;
    }
    writeln!(w, "end_header")?;

    let put_f32 = |w: &mut dyn Write, v: f32| -> std::io::Result<()> {
        match encoding {
            PlyEncoding::Ascii => write!(w, "{v} "),
            PlyEncoding::BinaryLittleEndian => w.write_all(&v.to_le_bytes()),
            PlyEncoding::BinaryBigEndian => w.write_all(&v.to_be_bytes()),
        }
    };
    let put_u8 = |w: &mut dyn Write, v: u8| -> std::io::Result<()> {
        match encoding {
            PlyEncoding::Ascii => write!(w, "{v} "),
            _ => w.write_all(&[v]),
        }
    };
    for i in 0..n {
        for c in data.positions[i].to_array() {
            put_f32(w, c)?;
        }
        if let Some(normals) = data.normals {
            for c in normals[i].to_array() {
                put_f32(w, c)?;
            }
        }
        if let Some(colors) = data.colors {
            for c in colors[i] {
                put_u8(w, c)?;
            }
            if data.alpha {
                put_u8(w, 255)?;
            }
        }
        if encoding == PlyEncoding::Ascii {
            writeln!(w)?;
        }
    }
    if let Some(tris) = data.triangles {
        for t in tris {
            match encoding {
                PlyEncoding::Ascii => writeln!(w, "3 {} {} {}", t[0], t[1], t[2])?,
                PlyEncoding::BinaryLittleEndian => {
                    w.write_all(&[3])?;
                    for i in t {
                        w.write_all(&(*i as i32).to_le_bytes())?;
                    }
                }
                PlyEncoding::BinaryBigEndian => {
                    w.write_all(&[3])?;
                    for i in t {
                        w.write_all(&(*i as i32).to_be_bytes())?;
                    }
                }
            }
        }
    }
    Ok(())
}
