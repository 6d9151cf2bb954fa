//! PLY meshes and point clouds: ascii, binary little and big endian (headers read with
//! `ply-rs-bw`); the writer for the same encodings is `write.rs`.
//!
//! Reading is defensive: the header's element counts are checked against the bytes the file
//! actually holds before anything is parsed, so a corrupt header can neither make the reader
//! allocate by its counts nor loop for billions of elements.

use std::io::Cursor;
use std::path::Path;

use glam::Vec3;
use ply_rs_bw::parser::{Parser, Reader};
use ply_rs_bw::ply::{
    BeginList, ElementDef, Encoding, Header, PropertyAccess, PropertyAccessResult, PropertyType,
    ScalarType,
};

use super::error::{check_file_size, read_file_limited};
use super::{DEFAULT_GREY, Scene, SceneError, SourceFormat};

mod fast;
mod write;

pub use write::{PlyWrite, write_ply, write_ply_to};

/// Largest PLY file accepted (4 GiB).
pub const MAX_PLY_BYTES: u64 = 4 << 30;
/// Largest polygon accepted in a face list.
pub const MAX_FACE_VERTICES: usize = 1024;

/// The geometry read from a PLY file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlyMesh {
    /// Vertex positions as stored.
    pub positions: Vec<Vec3>,
    /// Vertex colours, when the file has `red`/`green`/`blue` (or `r`/`g`/`b`).
    pub colors: Option<Vec<[u8; 3]>>,
    /// Vertex alpha, when present.
    pub alpha: Option<Vec<u8>>,
    /// Vertex normals, when the file has `nx`/`ny`/`nz`.
    pub normals: Option<Vec<Vec3>>,
    /// Faces, fan-triangulated; `None` when the file has no face element.
    pub triangles: Option<Vec<[u32; 3]>>,
}

/// How a PLY payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlyEncoding {
    /// Text.
    Ascii,
    /// Binary, little endian.
    BinaryLittleEndian,
    /// Binary, big endian.
    BinaryBigEndian,
}

#[derive(Clone, Copy, Default)]
struct Vertex {
    pos: [f64; 3],
    rgb: [u8; 3],
    alpha: u8,
    normal: [f32; 3],
}

fn axis(name: &str) -> Option<usize> {
    match name {
        "x" => Some(0),
        "y" => Some(1),
        "z" => Some(2),
        _ => None,
    }
}

fn color_channel(name: &str) -> Option<usize> {
    match name {
        "red" | "r" | "diffuse_red" => Some(0),
        "green" | "g" | "diffuse_green" => Some(1),
        "blue" | "b" | "diffuse_blue" => Some(2),
        _ => None,
    }
}

fn normal_axis(name: &str) -> Option<usize> {
    match name {
        "nx" => Some(0),
        "ny" => Some(1),
        "nz" => Some(2),
        _ => None,
    }
}

impl Vertex {
    fn set_number(&mut self, name: &str, v: f64, unit_color: f64) -> PropertyAccessResult {
        if let Some(i) = axis(name) {
            self.pos[i] = v;
        } else if let Some(i) = color_channel(name) {
            self.rgb[i] = (v * unit_color).round().clamp(0.0, 255.0) as u8;
        } else if name == "alpha" {
            self.alpha = (v * unit_color).round().clamp(0.0, 255.0) as u8;
        } else if let Some(i) = normal_axis(name) {
            self.normal[i] = v as f32;
        } else {
            return PropertyAccessResult::Ignored;
        }
        PropertyAccessResult::Set
    }
}

impl PropertyAccess for Vertex {
    fn new() -> Self {
        Vertex::default()
    }
    fn set_float(&mut self, name: &str, v: f32) -> PropertyAccessResult {
        // Float colours are in 0..1.
        self.set_number(name, f64::from(v), 255.0)
    }
    fn set_double(&mut self, name: &str, v: f64) -> PropertyAccessResult {
        self.set_number(name, v, 255.0)
    }
    fn set_uchar(&mut self, name: &str, v: u8) -> PropertyAccessResult {
        self.set_number(name, f64::from(v), 1.0)
    }
    fn set_char(&mut self, name: &str, v: i8) -> PropertyAccessResult {
        self.set_number(name, f64::from(v), 1.0)
    }
    fn set_ushort(&mut self, name: &str, v: u16) -> PropertyAccessResult {
        let scale = if color_channel(name).is_some() || name == "alpha" {
            1.0 / 257.0
        } else {
            1.0
        };
        self.set_number(name, f64::from(v), scale)
    }
    fn set_short(&mut self, name: &str, v: i16) -> PropertyAccessResult {
        self.set_number(name, f64::from(v), 1.0)
    }
    fn set_int(&mut self, name: &str, v: i32) -> PropertyAccessResult {
        self.set_number(name, f64::from(v), 1.0)
    }
    fn set_uint(&mut self, name: &str, v: u32) -> PropertyAccessResult {
        self.set_number(name, f64::from(v), 1.0)
    }
}

/// A face's vertex list, kept as i64 so negative indices can be reported.
#[derive(Default)]
struct Face {
    indices: Vec<i64>,
    ints: Vec<i32>,
    uints: Vec<u32>,
}

fn is_face_list(name: &str) -> bool {
    name == "vertex_indices" || name == "vertex_index"
}

impl PropertyAccess for Face {
    fn new() -> Self {
        Face::default()
    }
    fn begin_list_int(&mut self, name: &str, _len: usize) -> BeginList<'_, i32> {
        if is_face_list(name) {
            BeginList::Fill(&mut self.ints)
        } else {
            BeginList::UseSetter
        }
    }
    fn begin_list_uint(&mut self, name: &str, _len: usize) -> BeginList<'_, u32> {
        if is_face_list(name) {
            BeginList::Fill(&mut self.uints)
        } else {
            BeginList::UseSetter
        }
    }
    fn set_list_uchar(&mut self, name: &str, v: Vec<u8>) -> PropertyAccessResult {
        self.set_small_list(name, v.into_iter().map(i64::from))
    }
    fn set_list_char(&mut self, name: &str, v: Vec<i8>) -> PropertyAccessResult {
        self.set_small_list(name, v.into_iter().map(i64::from))
    }
    fn set_list_ushort(&mut self, name: &str, v: Vec<u16>) -> PropertyAccessResult {
        self.set_small_list(name, v.into_iter().map(i64::from))
    }
    fn set_list_short(&mut self, name: &str, v: Vec<i16>) -> PropertyAccessResult {
        self.set_small_list(name, v.into_iter().map(i64::from))
    }
    fn set_list_int(&mut self, name: &str, v: Vec<i32>) -> PropertyAccessResult {
        self.set_small_list(name, v.into_iter().map(i64::from))
    }
    fn set_list_uint(&mut self, name: &str, v: Vec<u32>) -> PropertyAccessResult {
        self.set_small_list(name, v.into_iter().map(i64::from))
    }
}

impl Face {
    fn set_small_list(&mut self, name: &str, v: impl Iterator<Item = i64>) -> PropertyAccessResult {
        if !is_face_list(name) {
            return PropertyAccessResult::Ignored;
        }
        self.indices = v.collect();
        PropertyAccessResult::Set
    }

    fn take_indices(&mut self) -> Vec<i64> {
        if !self.ints.is_empty() {
            return self.ints.iter().map(|&i| i64::from(i)).collect();
        }
        if !self.uints.is_empty() {
            return self.uints.iter().map(|&i| i64::from(i)).collect();
        }
        std::mem::take(&mut self.indices)
    }
}

/// An element nobody reads: parsed and dropped.
struct Skip;

impl PropertyAccess for Skip {
    fn new() -> Self {
        Skip
    }
}

/// Joins a multi-line parser message into one line.
fn one_line(e: &impl std::fmt::Display) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn scalar_size(t: &ScalarType) -> u64 {
    match t {
        ScalarType::Char | ScalarType::UChar => 1,
        ScalarType::Short | ScalarType::UShort => 2,
        ScalarType::Int | ScalarType::UInt | ScalarType::Float => 4,
        ScalarType::Double => 8,
    }
}

/// The fewest payload bytes an element of this definition can take.
fn min_element_bytes(def: &ElementDef, encoding: Encoding) -> u64 {
    match encoding {
        // Each property is at least one character plus a separator.
        Encoding::Ascii => 2 * def.properties.len().max(1) as u64,
        _ => def
            .properties
            .values()
            .map(|p| match &p.data_type {
                PropertyType::Scalar(t) => scalar_size(t),
                PropertyType::List(count_type, _) => scalar_size(count_type),
            })
            .sum::<u64>()
            .max(1),
    }
}

fn check_counts_fit(path: &Path, header: &Header, payload_bytes: u64) -> Result<(), SceneError> {
    let mut needed: u64 = 0;
    for def in header.elements.values() {
        let per = min_element_bytes(def, header.encoding);
        let bytes = (def.count as u64).checked_mul(per).ok_or_else(|| {
            SceneError::invalid(path, format!("element '{}' count overflows", def.name))
        })?;
        needed = needed.saturating_add(bytes);
        if needed > payload_bytes.saturating_add(1) {
            return Err(SceneError::invalid(
                path,
                format!(
                    "header declares {} '{}' elements, which need at least {} bytes, but the file holds only {} bytes after its header (truncated file or corrupt header)",
                    def.count, def.name, bytes, payload_bytes
                ),
            ));
        }
    }
    Ok(())
}

fn has_property(def: &ElementDef, pred: impl Fn(&str) -> bool) -> bool {
    def.properties.keys().any(|k| pred(k))
}

type Elements<'h> = (
    Option<&'h ElementDef>,
    Option<Vec<Vertex>>,
    Option<Vec<[u32; 3]>>,
);

fn check_vertex_def(path: &Path, def: &ElementDef) -> Result<(), SceneError> {
    if ["x", "y", "z"]
        .iter()
        .all(|a| def.properties.contains_key(*a))
    {
        Ok(())
    } else {
        Err(SceneError::invalid(
            path,
            "vertex element lacks one of the x, y, z properties",
        ))
    }
}

fn check_face_def(path: &Path, def: &ElementDef) -> Result<(), SceneError> {
    if has_property(def, is_face_list) {
        Ok(())
    } else {
        Err(SceneError::invalid(
            path,
            "face element lacks a vertex_indices list",
        ))
    }
}

/// Reads every element of an ascii payload with `ply-rs-bw`.
fn read_elements_ascii<'h>(
    path: &Path,
    reader: &mut Reader<Cursor<&[u8]>>,
    header: &'h Header,
) -> Result<Elements<'h>, SceneError> {
    let (mut vertex_def, mut vertices, mut faces) = (None, None, None);
    for def in header.elements.values() {
        let parse_err = |e: ply_rs_bw::parser::ParseError| {
            SceneError::invalid(path, format!("element '{}': {}", def.name, one_line(&e)))
        };
        match def.name.as_str() {
            "vertex" => {
                check_vertex_def(path, def)?;
                vertices = Some(
                    Parser::<Vertex>::new()
                        .read_payload_for_element(reader, def, header)
                        .map_err(parse_err)?,
                );
                vertex_def = Some(def);
            }
            "face" => {
                check_face_def(path, def)?;
                let raw = Parser::<Face>::new()
                    .read_payload_for_element(reader, def, header)
                    .map_err(parse_err)?;
                let mut tris = Vec::with_capacity(raw.len());
                for (fi, mut f) in raw.into_iter().enumerate() {
                    triangulate(path, fi, &f.take_indices(), &mut tris)?;
                }
                faces = Some(tris);
            }
            _ => {
                Parser::<Skip>::new()
                    .read_payload_for_element(reader, def, header)
                    .map_err(parse_err)?;
            }
        }
    }
    Ok((vertex_def, vertices, faces))
}

/// Where a vertex property's value goes.
#[derive(Clone, Copy)]
enum Target {
    Pos(usize),
    Color(usize),
    Alpha,
    Normal(usize),
    Skip,
}

fn target(name: &str) -> Target {
    if let Some(i) = axis(name) {
        Target::Pos(i)
    } else if let Some(i) = color_channel(name) {
        Target::Color(i)
    } else if name == "alpha" {
        Target::Alpha
    } else if let Some(i) = normal_axis(name) {
        Target::Normal(i)
    } else {
        Target::Skip
    }
}

/// Scale that maps a colour stored as `t` to 0..=255.
fn color_scale(t: &ScalarType) -> f64 {
    match t {
        ScalarType::Float | ScalarType::Double => 255.0,
        ScalarType::UShort => 1.0 / 257.0,
        _ => 1.0,
    }
}

/// A bounds-checked cursor over a binary payload.
struct BinCursor<'a> {
    buf: &'a [u8],
    pos: usize,
    big: bool,
}

impl BinCursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes: [u8; N] = self.buf.get(self.pos..self.pos + N)?.try_into().ok()?;
        self.pos += N;
        Some(bytes)
    }

    fn scalar(&mut self, t: &ScalarType) -> Option<f64> {
        macro_rules! num {
            ($ty:ty, $n:literal) => {{
                let b = self.take::<$n>()?;
                if self.big {
                    <$ty>::from_be_bytes(b) as f64
                } else {
                    <$ty>::from_le_bytes(b) as f64
                }
            }};
        }
        Some(match t {
            ScalarType::Char => num!(i8, 1),
            ScalarType::UChar => num!(u8, 1),
            ScalarType::Short => num!(i16, 2),
            ScalarType::UShort => num!(u16, 2),
            ScalarType::Int => num!(i32, 4),
            ScalarType::UInt => num!(u32, 4),
            ScalarType::Float => num!(f32, 4),
            ScalarType::Double => num!(f64, 8),
        })
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n)?;
        (end <= self.buf.len()).then(|| self.pos = end)
    }
}

fn list_len(path: &Path, elem: &str, i: usize, v: f64) -> Result<usize, SceneError> {
    if v < 0.0 || v.fract() != 0.0 {
        return Err(SceneError::invalid(
            path,
            format!("element '{elem}' {i}: invalid list length {v}"),
        ));
    }
    Ok(v as usize)
}

/// Reads every element of a binary payload (both byte orders), bounds-checked.
fn read_elements_binary<'h>(
    path: &Path,
    header: &'h Header,
    payload: &[u8],
    big: bool,
) -> Result<Elements<'h>, SceneError> {
    let mut cur = BinCursor {
        buf: payload,
        pos: 0,
        big,
    };
    let (mut vertex_def, mut vertices, mut faces) = (None, None, None);
    for def in header.elements.values() {
        let truncated = |i: usize| {
            SceneError::invalid(
                path,
                format!(
                    "element '{}' ends after {i} of {} entries (truncated file)",
                    def.name, def.count
                ),
            )
        };
        match def.name.as_str() {
            "vertex" => {
                check_vertex_def(path, def)?;
                let props: Vec<(Target, &PropertyType, f64)> = def
                    .properties
                    .iter()
                    .map(|(name, p)| {
                        let scale = match &p.data_type {
                            PropertyType::Scalar(t) => color_scale(t),
                            PropertyType::List(..) => 1.0,
                        };
                        (target(name), &p.data_type, scale)
                    })
                    .collect();
                let mut out = Vec::with_capacity(def.count.min(1 << 22));
                for i in 0..def.count {
                    let mut v = Vertex::default();
                    for (target, ty, scale) in &props {
                        match ty {
                            PropertyType::Scalar(t) => {
                                let x = cur.scalar(t).ok_or_else(|| truncated(i))?;
                                match *target {
                                    Target::Pos(k) => v.pos[k] = x,
                                    Target::Color(k) => {
                                        v.rgb[k] = (x * scale).round().clamp(0.0, 255.0) as u8
                                    }
                                    Target::Alpha => {
                                        v.alpha = (x * scale).round().clamp(0.0, 255.0) as u8
                                    }
                                    Target::Normal(k) => v.normal[k] = x as f32,
                                    Target::Skip => {}
                                }
                            }
                            PropertyType::List(count_t, item_t) => {
                                let n = cur.scalar(count_t).ok_or_else(|| truncated(i))?;
                                let n = list_len(path, &def.name, i, n)?;
                                cur.skip(n.saturating_mul(scalar_size(item_t) as usize))
                                    .ok_or_else(|| truncated(i))?;
                            }
                        }
                    }
                    out.push(v);
                }
                vertices = Some(out);
                vertex_def = Some(def);
            }
            "face" => {
                check_face_def(path, def)?;
                let mut tris = Vec::with_capacity(def.count.min(1 << 22));
                let mut idx: Vec<i64> = Vec::with_capacity(8);
                for i in 0..def.count {
                    idx.clear();
                    for (name, p) in &def.properties {
                        match &p.data_type {
                            PropertyType::Scalar(t) => {
                                cur.scalar(t).ok_or_else(|| truncated(i))?;
                            }
                            PropertyType::List(count_t, item_t) => {
                                let n = cur.scalar(count_t).ok_or_else(|| truncated(i))?;
                                let n = list_len(path, "face", i, n)?;
                                if !is_face_list(name) {
                                    cur.skip(n.saturating_mul(scalar_size(item_t) as usize))
                                        .ok_or_else(|| truncated(i))?;
                                    continue;
                                }
                                if n > MAX_FACE_VERTICES {
                                    return Err(SceneError::invalid(
                                        path,
                                        format!(
                                            "face {i} has {n} vertices (expected 3..={MAX_FACE_VERTICES})"
                                        ),
                                    ));
                                }
                                for _ in 0..n {
                                    idx.push(cur.scalar(item_t).ok_or_else(|| truncated(i))? as i64);
                                }
                            }
                        }
                    }
                    triangulate(path, i, &idx, &mut tris)?;
                }
                faces = Some(tris);
            }
            _ => {
                for i in 0..def.count {
                    for p in def.properties.values() {
                        match &p.data_type {
                            PropertyType::Scalar(t) => cur
                                .skip(scalar_size(t) as usize)
                                .ok_or_else(|| truncated(i))?,
                            PropertyType::List(count_t, item_t) => {
                                let n = cur.scalar(count_t).ok_or_else(|| truncated(i))?;
                                let n = list_len(path, &def.name, i, n)?;
                                cur.skip(n.saturating_mul(scalar_size(item_t) as usize))
                                    .ok_or_else(|| truncated(i))?;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok((vertex_def, vertices, faces))
}

/// Reads a PLY file's vertices (and faces, when present). The file is memory-mapped, not
/// copied; binary files of fixed-stride records are decoded on all cores (`fast`).
pub fn read_ply(path: &Path) -> Result<PlyMesh, SceneError> {
    let file = std::fs::File::open(path).map_err(|e| SceneError::io(path, e))?;
    let meta = file.metadata().map_err(|e| SceneError::io(path, e))?;
    check_file_size(path, &meta, MAX_PLY_BYTES)?;
    if meta.len() == 0 {
        return parse_ply(path, &[]);
    }
    // SAFETY: the map is only read, and only while this function runs. Another process
    // truncating the file at that moment would fault the read (as with any mapped reader);
    // a file changed in place gives wrong values, which the checks below still bound.
    // Populated: the pages are mapped in one go instead of one fault at a time.
    match unsafe { memmap2::MmapOptions::new().populate().map(&file) } {
        Ok(map) => parse_ply(path, &map),
        // Some file systems cannot map: read it instead.
        Err(_) => parse_ply(path, &read_file_limited(path, MAX_PLY_BYTES)?),
    }
}

/// Parses PLY bytes; `path` is only used in error messages.
pub fn parse_ply(path: &Path, bytes: &[u8]) -> Result<PlyMesh, SceneError> {
    parse_ply_with(path, bytes, true)
}

/// [`parse_ply`] through the general reader alone, without the fixed-stride fast path: the
/// reference the fast path is tested and fuzzed against (`fuzz/fuzz_targets/ply_fast.rs`).
pub fn parse_ply_general(path: &Path, bytes: &[u8]) -> Result<PlyMesh, SceneError> {
    parse_ply_with(path, bytes, false)
}

/// [`parse_ply`], with or without the fixed-stride fast path (tests compare the two).
fn parse_ply_with(path: &Path, bytes: &[u8], fast_path: bool) -> Result<PlyMesh, SceneError> {
    if !bytes.starts_with(b"ply") {
        return Err(SceneError::invalid(
            path,
            "not a PLY file (missing 'ply' magic)",
        ));
    }
    let mut reader = Reader::new(Cursor::new(bytes));
    let header = Parser::<Skip>::new()
        .read_header(&mut reader)
        .map_err(|e| SceneError::invalid(path, format!("bad PLY header: {}", one_line(&e))))?;
    let payload_bytes = bytes.len() as u64 - reader.get_ref().position();
    check_counts_fit(path, &header, payload_bytes)?;

    let offset = reader.get_ref().position() as usize;
    let big = match header.encoding {
        Encoding::Ascii => None,
        Encoding::BinaryLittleEndian => Some(false),
        Encoding::BinaryBigEndian => Some(true),
    };
    if fast_path
        && let Some(big) = big
        && let Some((mesh, checked)) = fast::read_fixed(&header, &bytes[offset..], big)
    {
        return validate(path, mesh, Some(checked));
    }
    let (vertex_def, verts, faces) = match big {
        None => read_elements_ascii(path, &mut reader, &header)?,
        Some(big) => read_elements_binary(path, &header, &bytes[offset..], big)?,
    };
    let saw_vertex = vertex_def.is_some();
    let mut mesh = PlyMesh::default();
    if let (Some(def), Some(verts)) = (vertex_def, verts) {
        mesh.positions = verts
            .iter()
            .map(|v| Vec3::new(v.pos[0] as f32, v.pos[1] as f32, v.pos[2] as f32))
            .collect();
        if has_property(def, |k| color_channel(k).is_some()) {
            mesh.colors = Some(verts.iter().map(|v| v.rgb).collect());
        }
        if def.properties.contains_key("alpha") {
            mesh.alpha = Some(verts.iter().map(|v| v.alpha).collect());
        }
        if has_property(def, |k| normal_axis(k).is_some()) {
            mesh.normals = Some(verts.iter().map(|v| Vec3::from(v.normal)).collect());
        }
    }
    if !saw_vertex {
        return Err(SceneError::invalid(path, "PLY file has no vertex element"));
    }
    mesh.triangles = faces;
    validate(path, mesh, None)
}

/// What a reader already checked while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checked {
    /// The first vertex with a non-finite coordinate.
    first_non_finite: Option<usize>,
    /// The first face naming a vertex the file does not have.
    first_bad_face: Option<usize>,
}

/// Refuses non-finite coordinates and faces naming vertices the file does not have (checked
/// on all cores unless the reader did already; the first offender is reported).
fn validate(path: &Path, mesh: PlyMesh, checked: Option<Checked>) -> Result<PlyMesh, SceneError> {
    use rayon::prelude::*;
    let n = mesh.positions.len();
    let checked = checked.unwrap_or_else(|| Checked {
        first_non_finite: mesh.positions.par_iter().position_first(|p| !p.is_finite()),
        first_bad_face: mesh.triangles.as_ref().and_then(|tris| {
            tris.par_iter()
                .position_first(|t| t.iter().any(|&i| i as usize >= n))
        }),
    });
    if let Some(i) = checked.first_non_finite {
        return Err(SceneError::invalid(
            path,
            format!(
                "vertex {i} has a non-finite coordinate {:?}",
                mesh.positions[i]
            ),
        ));
    }
    if let (Some(tris), Some(fi)) = (&mesh.triangles, checked.first_bad_face) {
        return Err(SceneError::invalid(
            path,
            format!(
                "face {fi} uses vertex index {:?} but the file has only {n} vertices",
                tris[fi]
            ),
        ));
    }
    Ok(mesh)
}

fn triangulate(
    path: &Path,
    face_index: usize,
    idx: &[i64],
    out: &mut Vec<[u32; 3]>,
) -> Result<(), SceneError> {
    if idx.len() < 3 || idx.len() > MAX_FACE_VERTICES {
        return Err(SceneError::invalid(
            path,
            format!(
                "face {face_index} has {} vertices (expected 3..={MAX_FACE_VERTICES})",
                idx.len()
            ),
        ));
    }
    let to_u32 = |i: i64| {
        u32::try_from(i).map_err(|_| {
            SceneError::invalid(
                path,
                format!("face {face_index} has invalid vertex index {i}"),
            )
        })
    };
    let first = to_u32(idx[0])?;
    for w in idx[1..].windows(2) {
        out.push([first, to_u32(w[0])?, to_u32(w[1])?]);
    }
    Ok(())
}

/// Loads a plain PLY mesh or point cloud as a scene without objects.
pub fn load_ply_scene(path: &Path) -> Result<Scene, SceneError> {
    let mesh = read_ply(path)?;
    let n = mesh.positions.len();
    if n == 0 {
        return Err(SceneError::invalid(path, "PLY file has no vertices"));
    }
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scene".into());
    Ok(Scene {
        name,
        format: SourceFormat::Ply,
        source_path: path.to_path_buf(),
        colors: mesh.colors.unwrap_or_else(|| vec![DEFAULT_GREY; n]),
        positions: mesh.positions,
        normals: mesh.normals,
        triangles: mesh.triangles,
        objects: Vec::new(),
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Sample = (Vec<Vec3>, Vec<[u8; 3]>, Vec<Vec3>, Vec<[u32; 3]>);

    fn sample() -> Sample {
        let p = vec![
            Vec3::new(0.0, 0.0, 0.0),
            Vec3::new(1.5, 0.0, 0.25),
            Vec3::new(0.0, -2.0, 3.0),
            Vec3::new(1.0, 1.0, 1.0),
        ];
        let c = vec![[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]];
        let n = vec![Vec3::Z, Vec3::Z, Vec3::X, Vec3::Y];
        let t = vec![[0, 1, 2], [1, 2, 3]];
        (p, c, n, t)
    }

    fn round_trip(encoding: PlyEncoding) {
        let (p, c, n, t) = sample();
        let mut buf = Vec::new();
        write_ply_to(
            &mut buf,
            &PlyWrite {
                positions: &p,
                colors: Some(&c),
                alpha: true,
                normals: Some(&n),
                triangles: Some(&t),
                comment: "test",
            },
            encoding,
        )
        .unwrap();
        let m = parse_ply(Path::new("mem.ply"), &buf).unwrap();
        assert_eq!(m.positions, p);
        assert_eq!(m.colors.as_deref(), Some(&c[..]));
        assert_eq!(m.alpha.as_deref(), Some(&[255u8; 4][..]));
        assert_eq!(m.normals.as_deref(), Some(&n[..]));
        assert_eq!(m.triangles.as_deref(), Some(&t[..]));
    }

    #[test]
    fn round_trips_every_encoding() {
        round_trip(PlyEncoding::Ascii);
        round_trip(PlyEncoding::BinaryLittleEndian);
        round_trip(PlyEncoding::BinaryBigEndian);
    }

    #[test]
    fn reads_point_cloud_with_doubles_float_colours_and_quads() {
        let text = "ply\nformat ascii 1.0\nelement vertex 4\nproperty double x\nproperty double y\nproperty double z\nproperty float red\nproperty float green\nproperty float blue\nelement face 1\nproperty list uchar uint vertex_index\nend_header\n0 0 0 1 0 0\n1 0 0 0 1 0\n1 1 0 0 0 1\n0 1 0 0.5 0.5 0.5\n4 0 1 2 3\n";
        let m = parse_ply(Path::new("q.ply"), text.as_bytes()).unwrap();
        assert_eq!(m.positions[2], Vec3::new(1.0, 1.0, 0.0));
        assert_eq!(m.colors.as_ref().unwrap()[0], [255, 0, 0]);
        assert_eq!(m.colors.as_ref().unwrap()[3], [128, 128, 128]);
        assert_eq!(m.triangles.unwrap(), vec![[0, 1, 2], [0, 2, 3]]);
        assert!(m.normals.is_none());
    }

    #[test]
    fn point_cloud_without_faces() {
        let text = "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\nend_header\n1 2 3\n4 5 6\n";
        let m = parse_ply(Path::new("p.ply"), text.as_bytes()).unwrap();
        assert_eq!(m.positions.len(), 2);
        assert!(m.triangles.is_none() && m.colors.is_none());
    }

    fn err(bytes: &[u8]) -> String {
        parse_ply(Path::new("bad.ply"), bytes)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn truncated_binary_names_file_and_counts() {
        let (p, c, _, t) = sample();
        let mut buf = Vec::new();
        write_ply_to(
            &mut buf,
            &PlyWrite {
                positions: &p,
                colors: Some(&c),
                alpha: false,
                normals: None,
                triangles: Some(&t),
                comment: "",
            },
            PlyEncoding::BinaryLittleEndian,
        )
        .unwrap();
        for cut in [buf.len() - 1, buf.len() - 14, buf.len() / 2] {
            let e = err(&buf[..cut]);
            assert!(e.starts_with("bad.ply: "), "{e}");
        }
    }

    #[test]
    fn absurd_header_count_is_rejected_before_parsing() {
        let text = b"ply\nformat binary_little_endian 1.0\nelement vertex 4000000000\nproperty float x\nproperty float y\nproperty float z\nend_header\n\0\0\0\0";
        let e = err(text);
        assert!(e.contains("4000000000") && e.contains("truncated"), "{e}");
    }

    #[test]
    fn out_of_range_and_negative_indices() {
        let e = err(b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n");
        assert!(e.contains("face 0") && e.contains("only 3 vertices"), "{e}");
        let e = err(b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n1 0 0\n0 1 0\n3 0 -1 2\n");
        assert!(e.contains("invalid vertex index -1"), "{e}");
    }

    #[test]
    fn nan_and_garbage() {
        let e = err(b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\nnan 0 0\n");
        assert!(e.contains("element 'vertex'") && !e.contains('\n'), "{e}");
        let mut bin = b"ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\nend_header\n".to_vec();
        for v in [0.0f32, 1.0, 2.0, 3.0, f32::INFINITY, 5.0] {
            bin.extend_from_slice(&v.to_le_bytes());
        }
        let e = err(&bin);
        assert!(e.contains("vertex 1 has a non-finite"), "{e}");
        let e = err(b"PK\x03\x04 not a ply");
        assert!(e.contains("not a PLY"), "{e}");
        let e = err(b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n1\n");
        assert!(e.contains("lacks one of the x, y, z"), "{e}");
        let e = err(b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\n");
        assert!(e.contains("header"), "{e}");
        let e = err(b"ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\nproperty float z\nend_header\n1 2 3\nfoo bar baz\n");
        assert!(e.contains("element 'vertex'"), "{e}");
    }

    /// Whether the fixed-stride fast path reads `bytes` by itself.
    fn fast_path_takes(bytes: &[u8]) -> bool {
        let mut reader = Reader::new(Cursor::new(bytes));
        let header = Parser::<Skip>::new().read_header(&mut reader).unwrap();
        let offset = reader.get_ref().position() as usize;
        let big = header.encoding == Encoding::BinaryBigEndian;
        fast::read_fixed(&header, &bytes[offset..], big).is_some()
    }

    /// Both readers give the same mesh, or the same error.
    fn same_both_ways(bytes: &[u8]) -> Result<PlyMesh, String> {
        let path = Path::new("same.ply");
        let fast = parse_ply_with(path, bytes, true).map_err(|e| e.to_string());
        let general = parse_ply_with(path, bytes, false).map_err(|e| e.to_string());
        assert_eq!(fast, general);
        fast
    }

    fn written(
        encoding: PlyEncoding,
        colors: bool,
        alpha: bool,
        normals: bool,
        faces: bool,
    ) -> Vec<u8> {
        let (p, c, n, t) = sample();
        let mut buf = Vec::new();
        write_ply_to(
            &mut buf,
            &PlyWrite {
                positions: &p,
                colors: colors.then_some(&c[..]),
                alpha,
                normals: normals.then_some(&n[..]),
                triangles: faces.then_some(&t[..]),
                comment: "equal",
            },
            encoding,
        )
        .unwrap();
        buf
    }

    /// A binary file from a header body and little- or big-endian records.
    fn binary(big: bool, header: &str, payload: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let format = if big {
            "binary_big_endian"
        } else {
            "binary_little_endian"
        };
        let mut b = format!("ply\nformat {format} 1.0\n{header}end_header\n").into_bytes();
        payload(&mut b);
        b
    }

    #[test]
    fn fast_path_equals_the_general_reader_on_every_layout() {
        // Everything the writer produces, both byte orders.
        for enc in [
            PlyEncoding::BinaryLittleEndian,
            PlyEncoding::BinaryBigEndian,
        ] {
            for mask in 0..16u32 {
                let bit = |k: u32| mask & (1 << k) != 0;
                let colors = bit(0);
                let bytes = written(enc, colors, colors && bit(1), bit(2), bit(3));
                assert!(
                    fast_path_takes(&bytes),
                    "writer layout {mask} takes the fast path"
                );
                let m = same_both_ways(&bytes).unwrap();
                assert_eq!(m.positions, sample().0);
            }
        }
        for big in [false, true] {
            macro_rules! put {
                ($b:expr, $v:expr) => {
                    $b.extend_from_slice(&if big {
                        $v.to_be_bytes()
                    } else {
                        $v.to_le_bytes()
                    })
                };
            }
            // Doubles, float colours, an unknown property, ushort alpha.
            let bytes = binary(
                big,
                "element vertex 2\nproperty double x\nproperty double y\nproperty double z\nproperty float red\nproperty float green\nproperty float blue\nproperty int label\nproperty ushort alpha\n",
                |b| {
                    for v in 0..2 {
                        for k in 0..3 {
                            put!(b, (v * 3 + k) as f64 * 0.1);
                        }
                        for c in [0.0f32, 0.5, 1.5] {
                            put!(b, c);
                        }
                        put!(b, 7i32);
                        put!(b, 65535u16);
                    }
                },
            );
            assert!(fast_path_takes(&bytes));
            let m = same_both_ways(&bytes).unwrap();
            assert_eq!(m.colors.as_deref(), Some(&[[0, 128, 255]; 2][..]));
            assert_eq!(m.alpha.as_deref(), Some(&[255u8; 2][..]));
            // Char / short / int positions with uint faces.
            let bytes = binary(
                big,
                "element vertex 3\nproperty char x\nproperty short y\nproperty int z\nelement face 1\nproperty list uchar uint vertex_indices\n",
                |b| {
                    for v in 0..3i32 {
                        put!(b, (-v) as i8);
                        put!(b, (v * 100) as i16);
                        put!(b, v - 5);
                    }
                    b.push(3);
                    for i in [2u32, 1, 0] {
                        put!(b, i);
                    }
                },
            );
            assert!(fast_path_takes(&bytes));
            let m = same_both_ways(&bytes).unwrap();
            assert_eq!(m.positions[2], Vec3::new(-2.0, 200.0, -3.0));
            assert_eq!(m.triangles.as_deref(), Some(&[[2, 1, 0]][..]));
            // Layouts the fast path leaves to the general reader: a quad, a negative index, a
            // list in the vertices, a face with a second property, an extra element.
            let quad = binary(
                big,
                "element vertex 4\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\n",
                |b| {
                    for v in 0..12 {
                        put!(b, v as f32);
                    }
                    b.push(4);
                    for i in [0i32, 1, 2, 3] {
                        put!(b, i);
                    }
                },
            );
            assert!(!fast_path_takes(&quad));
            assert_eq!(same_both_ways(&quad).unwrap().triangles.unwrap().len(), 2);
            let negative = binary(
                big,
                "element vertex 3\nproperty float x\nproperty float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\n",
                |b| {
                    for v in 0..9 {
                        put!(b, v as f32);
                    }
                    b.push(3);
                    for i in [0i32, -1, 2] {
                        put!(b, i);
                    }
                },
            );
            assert!(!fast_path_takes(&negative));
            assert!(
                same_both_ways(&negative)
                    .unwrap_err()
                    .contains("invalid vertex index -1")
            );
            let others = [
                "element vertex 1\nproperty float x\nproperty float y\nproperty float z\nproperty list uchar int extra\n",
                "element vertex 1\nproperty float x\nproperty float y\nproperty float z\nelement face 0\nproperty list uchar int vertex_indices\nproperty uchar flags\n",
                "element vertex 1\nproperty float x\nproperty float y\nproperty float z\nelement camera 1\nproperty float fx\n",
            ];
            for (k, header) in others.iter().enumerate() {
                let bytes = binary(big, header, |b| {
                    for v in [1.0f32, 2.0, 3.0] {
                        put!(b, v);
                    }
                    match k {
                        0 => b.push(0),
                        _ => put!(b, 500.0f32),
                    }
                });
                assert!(!fast_path_takes(&bytes), "layout {k}");
                assert_eq!(
                    same_both_ways(&bytes).unwrap().positions,
                    [Vec3::new(1.0, 2.0, 3.0)]
                );
            }
        }
    }

    #[test]
    fn fast_path_equals_the_general_reader_on_damaged_files() {
        // Truncations and flipped bytes anywhere in a mesh: same mesh or same error.
        let mut state = 0x1234_5678_9ABC_DEF1u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for enc in [
            PlyEncoding::BinaryLittleEndian,
            PlyEncoding::BinaryBigEndian,
        ] {
            let good = written(enc, true, true, false, true);
            let header_len = good.windows(11).position(|w| w == b"end_header\n").unwrap() + 11;
            for cut in header_len..good.len() {
                assert!(same_both_ways(&good[..cut]).is_err(), "cut at {cut}");
            }
            let (mut errors, mut fine) = (0, 0);
            for _ in 0..500 {
                let mut bad = good.clone();
                let at = header_len + next(good.len() - header_len);
                bad[at] = next(256) as u8;
                match same_both_ways(&bad) {
                    Ok(_) => fine += 1,
                    Err(_) => errors += 1,
                }
            }
            assert!(errors > 0 && fine > 0, "{errors} errors, {fine} fine");
        }
    }
}
