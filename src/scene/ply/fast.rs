//! The fast path for binary PLY (both byte orders): when every vertex property is a scalar the
//! vertex records have a fixed stride, and when every face is a triangle stored as
//! `list uchar int|uint` so do the face records. Such payloads (ScanNet meshes, scanner and
//! VGGT point clouds) are decoded in parallel chunks, one pass per kind of value, each a tight
//! loop with the decoder chosen once per file instead of once per value.
//!
//! Anything else (lists in vertices, polygons, other elements, a face count byte other than 3,
//! a negative index) returns `None` and the general reader in `mod.rs` takes over, so its
//! error messages stay the only ones; a test checks both paths agree on every layout.

use glam::Vec3;
use ply_rs_bw::ply::{ElementDef, Header, PropertyType, ScalarType};
use rayon::prelude::*;

use super::{
    Checked, PlyMesh, Target, color_channel, color_scale, normal_axis, scalar_size, target,
};

/// Records decoded per parallel task.
const CHUNK: usize = 1 << 16;

/// Reads a value of a fixed type at the start of a byte slice (short slices read as 0).
type Decode = fn(&[u8]) -> f64;

macro_rules! decoders {
    ($($name:ident: $ty:ty, $n:literal, $from:ident;)*) => {
        $(fn $name(b: &[u8]) -> f64 {
            match b.get(..$n).and_then(|s| <[u8; $n]>::try_from(s).ok()) {
                Some(a) => <$ty>::$from(a) as f64,
                None => 0.0,
            }
        })*
    };
}

decoders! {
    i8_le: i8, 1, from_le_bytes;
    u8_le: u8, 1, from_le_bytes;
    i16_le: i16, 2, from_le_bytes;
    i16_be: i16, 2, from_be_bytes;
    u16_le: u16, 2, from_le_bytes;
    u16_be: u16, 2, from_be_bytes;
    i32_le: i32, 4, from_le_bytes;
    i32_be: i32, 4, from_be_bytes;
    u32_le: u32, 4, from_le_bytes;
    u32_be: u32, 4, from_be_bytes;
    f32_le: f32, 4, from_le_bytes;
    f32_be: f32, 4, from_be_bytes;
    f64_le: f64, 8, from_le_bytes;
    f64_be: f64, 8, from_be_bytes;
}

fn decoder(t: &ScalarType, big: bool) -> Decode {
    match (t, big) {
        (ScalarType::Char, _) => i8_le,
        (ScalarType::UChar, _) => u8_le,
        (ScalarType::Short, false) => i16_le,
        (ScalarType::Short, true) => i16_be,
        (ScalarType::UShort, false) => u16_le,
        (ScalarType::UShort, true) => u16_be,
        (ScalarType::Int, false) => i32_le,
        (ScalarType::Int, true) => i32_be,
        (ScalarType::UInt, false) => u32_le,
        (ScalarType::UInt, true) => u32_be,
        (ScalarType::Float, false) => f32_le,
        (ScalarType::Float, true) => f32_be,
        (ScalarType::Double, false) => f64_le,
        (ScalarType::Double, true) => f64_be,
    }
}

/// One scalar vertex property: where it sits in the record and how to read it.
#[derive(Clone, Copy)]
struct Field {
    offset: usize,
    decode: Decode,
    /// Colour scale to 0..=255 (see `color_scale`).
    scale: f64,
    /// Whether it is a 4-byte float (the positions' and normals' fast case).
    float: bool,
    /// Whether it is a byte (the colours' fast case).
    uchar: bool,
}

/// The fixed layout of the vertex records, or `None` when a property is a list.
struct VertexLayout {
    stride: usize,
    /// Last field written per target wins, as in the general reader.
    pos: [Option<Field>; 3],
    color: [Option<Field>; 3],
    alpha: Option<Field>,
    normal: [Option<Field>; 3],
    has_color: bool,
    has_alpha: bool,
    has_normal: bool,
}

fn vertex_layout(def: &ElementDef, big: bool) -> Option<VertexLayout> {
    let mut layout = VertexLayout {
        stride: 0,
        pos: [None; 3],
        color: [None; 3],
        alpha: None,
        normal: [None; 3],
        has_color: false,
        has_alpha: false,
        has_normal: false,
    };
    for (name, p) in &def.properties {
        let PropertyType::Scalar(t) = &p.data_type else {
            return None;
        };
        let field = Field {
            offset: layout.stride,
            decode: decoder(t, big),
            scale: color_scale(t),
            float: matches!(t, ScalarType::Float),
            uchar: matches!(t, ScalarType::UChar),
        };
        match target(name) {
            Target::Pos(k) => layout.pos[k] = Some(field),
            Target::Color(k) => layout.color[k] = Some(field),
            Target::Alpha => layout.alpha = Some(field),
            Target::Normal(k) => layout.normal[k] = Some(field),
            Target::Skip => {}
        }
        layout.stride += scalar_size(t) as usize;
    }
    layout.has_color = def.properties.keys().any(|k| color_channel(k).is_some());
    layout.has_alpha = def.properties.contains_key("alpha");
    layout.has_normal = def.properties.keys().any(|k| normal_axis(k).is_some());
    (layout.stride > 0).then_some(layout)
}

fn read_f32(record: &[u8], offset: usize, big: bool) -> f32 {
    match record
        .get(offset..offset + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
    {
        Some(a) if big => f32::from_be_bytes(a),
        Some(a) => f32::from_le_bytes(a),
        None => 0.0,
    }
}

/// Three values of a record as f32 (positions, normals): direct reads when all are 4-byte
/// floats, else through the decoders; a missing one is 0 as in the general reader.
/// Also returns the first value with a non-finite component (checked chunk by chunk while the
/// chunk is still in cache).
fn vec3_pass(
    records: &[u8],
    stride: usize,
    fields: [Option<Field>; 3],
    big: bool,
) -> (Vec<Vec3>, Option<usize>) {
    let n = records.len() / stride;
    let mut out = vec![Vec3::ZERO; n];
    let all_float = fields.iter().all(|f| f.is_some_and(|f| f.float));
    let first_bad = out
        .par_chunks_mut(CHUNK)
        .zip(records.par_chunks(CHUNK * stride))
        .enumerate()
        .filter_map(|(k, (out, rec))| {
            if all_float {
                let o = fields.map(|f| f.map_or(0, |f| f.offset));
                for (v, r) in out.iter_mut().zip(rec.chunks_exact(stride)) {
                    *v = Vec3::new(read_f32(r, o[0], big), read_f32(r, o[1], big), {
                        read_f32(r, o[2], big)
                    });
                }
            } else {
                for (v, r) in out.iter_mut().zip(rec.chunks_exact(stride)) {
                    let get = |f: Option<Field>| {
                        f.map_or(0.0, |f| (f.decode)(r.get(f.offset..).unwrap_or(&[])) as f32)
                    };
                    *v = Vec3::new(get(fields[0]), get(fields[1]), get(fields[2]));
                }
            }
            out.iter()
                .position(|v| !v.is_finite())
                .map(|i| k * CHUNK + i)
        })
        .min();
    (out, first_bad)
}

fn to_u8(field: Option<Field>, r: &[u8]) -> u8 {
    field.map_or(0, |f| {
        ((f.decode)(r.get(f.offset..).unwrap_or(&[])) * f.scale)
            .round()
            .clamp(0.0, 255.0) as u8
    })
}

fn color_pass(records: &[u8], stride: usize, fields: [Option<Field>; 3]) -> Vec<[u8; 3]> {
    let n = records.len() / stride;
    let mut out = vec![[0u8; 3]; n];
    // uchar colours are copied as they are.
    let bytes = fields.iter().all(|f| f.is_some_and(|f| f.uchar));
    out.par_chunks_mut(CHUNK)
        .zip(records.par_chunks(CHUNK * stride))
        .for_each(|(out, rec)| {
            if bytes {
                let o = fields.map(|f| f.map_or(0, |f| f.offset));
                for (c, r) in out.iter_mut().zip(rec.chunks_exact(stride)) {
                    *c = o.map(|o| r.get(o).copied().unwrap_or(0));
                }
            } else {
                for (c, r) in out.iter_mut().zip(rec.chunks_exact(stride)) {
                    *c = fields.map(|f| to_u8(f, r));
                }
            }
        });
    out
}

fn alpha_pass(records: &[u8], stride: usize, field: Option<Field>) -> Vec<u8> {
    let n = records.len() / stride;
    let mut out = vec![0u8; n];
    out.par_chunks_mut(CHUNK)
        .zip(records.par_chunks(CHUNK * stride))
        .for_each(|(out, rec)| {
            for (a, r) in out.iter_mut().zip(rec.chunks_exact(stride)) {
                *a = to_u8(field, r);
            }
        });
    out
}

/// Triangles stored as `list uchar|char int|uint`: 13-byte records, with the first that names
/// a vertex at or past `vertices`. `None` when the face element is laid out otherwise or a
/// record is not a triangle with non-negative indices.
fn triangles(
    def: &ElementDef,
    payload: &[u8],
    big: bool,
    vertices: usize,
) -> Option<(Vec<[u32; 3]>, Option<usize>)> {
    let mut props = def.properties.iter();
    let (name, p) = props.next()?;
    if props.next().is_some() || !super::is_face_list(name) {
        return None;
    }
    let PropertyType::List(count_t, item_t) = &p.data_type else {
        return None;
    };
    if !matches!(count_t, ScalarType::UChar | ScalarType::Char)
        || !matches!(item_t, ScalarType::Int | ScalarType::UInt)
    {
        return None;
    }
    const STRIDE: usize = 13;
    let bytes = def.count.checked_mul(STRIDE)?;
    let records = payload.get(..bytes)?;
    let signed = matches!(item_t, ScalarType::Int);
    let mut out = vec![[0u32; 3]; def.count];
    // Per chunk: whether every record is a triangle of non-negative indices, and the first
    // face naming a vertex past the end.
    let chunks: Vec<(bool, Option<usize>)> = out
        .par_chunks_mut(CHUNK)
        .zip(records.par_chunks(CHUNK * STRIDE))
        .enumerate()
        .map(|(k, (out, rec))| {
            let mut ok = true;
            let mut max = 0u32;
            for (t, r) in out.iter_mut().zip(rec.chunks_exact(STRIDE)) {
                ok &= r[0] == 3;
                for (j, slot) in t.iter_mut().enumerate() {
                    let b = [r[1 + 4 * j], r[2 + 4 * j], r[3 + 4 * j], r[4 + 4 * j]];
                    let v = if big {
                        u32::from_be_bytes(b)
                    } else {
                        u32::from_le_bytes(b)
                    };
                    // A negative int (high bit set) goes to the general reader's error.
                    ok &= !(signed && v >> 31 == 1);
                    max = max.max(v);
                    *slot = v;
                }
            }
            let bad = (max as usize >= vertices).then(|| {
                out.iter()
                    .position(|t| t.iter().any(|&v| v as usize >= vertices))
                    .map_or(0, |i| k * CHUNK + i)
            });
            (ok, bad)
        })
        .collect();
    if !chunks.iter().all(|c| c.0) {
        return None;
    }
    Some((out, chunks.iter().find_map(|c| c.1)))
}

/// The mesh of a binary payload laid out as the fast path expects, with what it already
/// checked; `None` when the payload is laid out otherwise.
pub(super) fn read_fixed(header: &Header, payload: &[u8], big: bool) -> Option<(PlyMesh, Checked)> {
    let mut elements = header.elements.values();
    let vertex = elements.next().filter(|d| d.name == "vertex")?;
    let face = elements.next();
    if elements.next().is_some() || face.is_some_and(|f| f.name != "face") {
        return None;
    }
    let layout = vertex_layout(vertex, big)?;
    if layout.pos.iter().any(Option::is_none) {
        return None;
    }
    let vertex_bytes = vertex.count.checked_mul(layout.stride)?;
    let records = payload.get(..vertex_bytes)?;
    let (triangles, first_bad_face) = match face {
        Some(def) => {
            let (t, bad) = triangles(def, payload.get(vertex_bytes..)?, big, vertex.count)?;
            (Some(t), bad)
        }
        None => (None, None),
    };
    let stride = layout.stride;
    let (positions, first_non_finite) = vec3_pass(records, stride, layout.pos, big);
    let mesh = PlyMesh {
        positions,
        colors: layout
            .has_color
            .then(|| color_pass(records, stride, layout.color)),
        alpha: layout
            .has_alpha
            .then(|| alpha_pass(records, stride, layout.alpha)),
        normals: layout
            .has_normal
            .then(|| vec3_pass(records, stride, layout.normal, big).0),
        triangles,
    };
    Some((
        mesh,
        Checked {
            first_non_finite,
            first_bad_face,
        },
    ))
}
