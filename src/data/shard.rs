//! One scene's training tensors in a safetensors file (layout in docs/DATA.md).

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::scene::{SceneError, read_file_limited};

/// Version written into every shard's metadata.
pub const SHARD_VERSION: &str = "2";
/// Largest shard read, bytes.
pub const MAX_SHARD_BYTES: u64 = 2 << 30;

/// One scene's views, cameras and boxes. Shapes: V views of H = W = `size` pixels, N boxes.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneShard {
    /// Scene name.
    pub scene: String,
    /// Where the views came from: `render` or `scannet-frames`.
    pub view_source: String,
    /// Number of views V.
    pub views: usize,
    /// Image side, pixels.
    pub size: u32,
    /// `images` u8 [V, H, W, 3].
    pub images: Vec<u8>,
    /// `depth` f32 [V, H, W], metres along the camera z axis, 0 = no measurement.
    pub depth: Vec<f32>,
    /// `instance` i32 [V, H, W], object id or -1.
    pub instance: Vec<i32>,
    /// `intrinsics` f32 [V, 3, 3].
    pub intrinsics: Vec<f32>,
    /// `extrinsics` f32 [V, 3, 4], camera from world (OpenCV).
    pub extrinsics: Vec<f32>,
    /// `boxes` f32 [N, 6]: centre xyz and size xyz, metres, aligned world frame.
    pub boxes: Vec<f32>,
    /// `box_class` i64 [N]: detection class index ([`super::detection_class_name`]).
    pub box_class: Vec<i64>,
    /// `box_object` i64 [N]: the object id in the scene (and in `instance`).
    pub box_object: Vec<i64>,
    /// `object_id` i64 [M]: every object of the scene (version 2; empty in version-1 shards).
    pub object_id: Vec<i64>,
    /// `object_category` i64 [M]: each object's category, an index into
    /// [`crate::scene::Category::ALL`].
    pub object_category: Vec<i64>,
}

fn bytes_f32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_i32(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_i64(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A 4x4 transform from a row-major 3x4 [R | t].
pub fn mat4_from_extrinsics(e: &[f32]) -> glam::Mat4 {
    glam::Mat4::from_cols(
        glam::Vec4::new(e[0], e[4], e[8], 0.0),
        glam::Vec4::new(e[1], e[5], e[9], 0.0),
        glam::Vec4::new(e[2], e[6], e[10], 0.0),
        glam::Vec4::new(e[3], e[7], e[11], 1.0),
    )
}

/// A transform's top three rows as row-major [R | t] (the inverse of [`mat4_from_extrinsics`]).
pub fn extrinsics_from_mat4(m: glam::Mat4) -> [f32; 12] {
    let c = m.to_cols_array_2d();
    std::array::from_fn(|i| c[i % 4][i / 4])
}

impl SceneShard {
    /// With probability `share`, gives every object of the scene one random colour in all its
    /// views (`render::scan_like::recolour_objects`), drawn from `seed`; returns the objects
    /// recoloured.
    pub fn recolour_objects(&mut self, seed: u64, share: f64) -> usize {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        if share <= 0.0 || !rng.random_bool(share.min(1.0)) {
            return 0;
        }
        crate::render::scan_like::recolour_objects(&mut self.images, &self.instance, rng.random())
    }

    /// Makes each view, with probability `share`, look like a view of a real scan's mesh
    /// (`render::scan_like`: holes, shading, colour cast, blur, noise), drawn from `seed` and the
    /// view's index; returns the views changed.
    pub fn make_scan_like(&mut self, seed: u64, share: f64) -> usize {
        use rand::{RngExt, SeedableRng};
        let side = self.size as usize;
        let n = side * side;
        if share <= 0.0
            || self.images.len() != self.views * n * 3
            || self.depth.len() != self.views * n
            || self.instance.len() != self.views * n
        {
            return 0;
        }
        let mut changed = 0;
        for v in 0..self.views {
            let view_seed = seed ^ (v as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(view_seed);
            if !rng.random_bool(share.min(1.0)) {
                continue;
            }
            let mut view = crate::render::scan_like::ViewBuffers {
                side,
                rgb: &mut self.images[v * n * 3..(v + 1) * n * 3],
                depth_m: &mut self.depth[v * n..(v + 1) * n],
                instance: &mut self.instance[v * n..(v + 1) * n],
            };
            if crate::render::scan_like::scan_like_view(&mut view, rng.random()).is_some() {
                changed += 1;
            }
        }
        changed
    }

    /// Camera-from-world of view `v` (row-major [R | t] from `extrinsics`).
    pub fn camera_from_world(&self, v: usize) -> glam::Mat4 {
        mat4_from_extrinsics(&self.extrinsics[v * 12..v * 12 + 12])
    }

    /// The ground-truth boxes of a shard in the first camera's frame (the axis-aligned box around
    /// each world box's corners) with their classes; at most `max` of them, largest first.
    pub fn boxes_in_first_camera(&self, max: usize) -> (Vec<u32>, Vec<[f32; 6]>) {
        let cam0 = self.camera_from_world(0);
        let mut out: Vec<(f32, u32, [f32; 6])> = Vec::new();
        for (i, &class) in self.box_class.iter().enumerate() {
            let b = &self.boxes[i * 6..i * 6 + 6];
            let (c, h) = (
                glam::Vec3::new(b[0], b[1], b[2]),
                glam::Vec3::new(b[3], b[4], b[5]) / 2.0,
            );
            let mut lo = glam::Vec3::splat(f32::INFINITY);
            let mut hi = glam::Vec3::splat(f32::NEG_INFINITY);
            for k in 0..8 {
                let s = glam::Vec3::new(
                    if k & 1 == 0 { -1.0 } else { 1.0 },
                    if k & 2 == 0 { -1.0 } else { 1.0 },
                    if k & 4 == 0 { -1.0 } else { 1.0 },
                );
                let p = cam0.transform_point3(c + h * s);
                lo = lo.min(p);
                hi = hi.max(p);
            }
            let (cc, sz) = ((lo + hi) / 2.0, hi - lo);
            out.push((
                sz.x * sz.y * sz.z,
                class as u32,
                [cc.x, cc.y, cc.z, sz.x, sz.y, sz.z],
            ));
        }
        out.sort_by(|a, b| b.0.total_cmp(&a.0));
        out.truncate(max);
        (
            out.iter().map(|x| x.1).collect(),
            out.iter().map(|x| x.2).collect(),
        )
    }

    fn n_boxes(&self) -> usize {
        self.box_class.len()
    }

    /// Encodes the shard as safetensors bytes.
    pub fn to_bytes(&self, path: &Path) -> Result<Vec<u8>, SceneError> {
        let (v, s) = (self.views, self.size as usize);
        let n = self.n_boxes();
        let tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = vec![
            ("images", Dtype::U8, vec![v, s, s, 3], self.images.clone()),
            ("depth", Dtype::F32, vec![v, s, s], bytes_f32(&self.depth)),
            (
                "instance",
                Dtype::I32,
                vec![v, s, s],
                bytes_i32(&self.instance),
            ),
            (
                "intrinsics",
                Dtype::F32,
                vec![v, 3, 3],
                bytes_f32(&self.intrinsics),
            ),
            (
                "extrinsics",
                Dtype::F32,
                vec![v, 3, 4],
                bytes_f32(&self.extrinsics),
            ),
            ("boxes", Dtype::F32, vec![n, 6], bytes_f32(&self.boxes)),
            ("box_class", Dtype::I64, vec![n], bytes_i64(&self.box_class)),
            (
                "box_object",
                Dtype::I64,
                vec![n],
                bytes_i64(&self.box_object),
            ),
            (
                "object_id",
                Dtype::I64,
                vec![self.object_id.len()],
                bytes_i64(&self.object_id),
            ),
            (
                "object_category",
                Dtype::I64,
                vec![self.object_category.len()],
                bytes_i64(&self.object_category),
            ),
        ];
        let mut views = Vec::new();
        for (name, dtype, shape, data) in &tensors {
            let view = TensorView::new(*dtype, shape.clone(), data)
                .map_err(|e| SceneError::invalid(path, format!("tensor {name}: {e}")))?;
            views.push((name.to_string(), view));
        }
        let metadata = HashMap::from([
            (
                "spatia_shard_version".to_string(),
                SHARD_VERSION.to_string(),
            ),
            ("scene".to_string(), self.scene.clone()),
            ("view_source".to_string(), self.view_source.clone()),
        ]);
        safetensors::tensor::serialize(views, Some(metadata))
            .map_err(|e| SceneError::invalid(path, format!("cannot encode safetensors: {e}")))
    }

    /// Writes the shard atomically.
    pub fn write(&self, path: &Path) -> Result<(), SceneError> {
        let bytes = self.to_bytes(path)?;
        crate::scene::write_atomic(path, &bytes)
    }

    /// Reads a shard, checking every tensor's presence, dtype and shape; errors name the file
    /// and the tensor.
    pub fn read(path: &Path) -> Result<SceneShard, SceneError> {
        let bytes = read_file_limited(path, MAX_SHARD_BYTES)?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| SceneError::invalid(path, format!("not a safetensors file: {e}")))?;
        let (_, meta) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| SceneError::invalid(path, format!("not a safetensors file: {e}")))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        let get =
            |name: &str, dtype: Dtype, rank: usize| -> Result<(Vec<usize>, Vec<u8>), SceneError> {
                let t = st.tensor(name).map_err(|_| {
                    SceneError::invalid(path, format!("tensor \"{name}\" is missing"))
                })?;
                if t.dtype() != dtype || t.shape().len() != rank {
                    return Err(SceneError::invalid(
                        path,
                        format!(
                            "tensor \"{name}\" is {:?} {:?}, expected {dtype:?} of rank {rank}",
                            t.dtype(),
                            t.shape()
                        ),
                    ));
                }
                Ok((t.shape().to_vec(), t.data().to_vec()))
            };
        let (img_shape, images) = get("images", Dtype::U8, 4)?;
        let (v, s) = (img_shape[0], img_shape[1]);
        if img_shape[2] != s || img_shape[3] != 3 {
            return Err(SceneError::invalid(
                path,
                format!("tensor \"images\" has shape {img_shape:?}, expected [V, S, S, 3]"),
            ));
        }
        let expect = |name: &str, shape: &[usize], want: &[usize]| -> Result<(), SceneError> {
            if shape != want {
                return Err(SceneError::invalid(
                    path,
                    format!("tensor \"{name}\" has shape {shape:?}, expected {want:?}"),
                ));
            }
            Ok(())
        };
        let f32s = |b: Vec<u8>| -> Vec<f32> {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let i32s = |b: Vec<u8>| -> Vec<i32> {
            b.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let i64s = |b: Vec<u8>| -> Vec<i64> {
            b.chunks_exact(8)
                .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect()
        };
        let (sh, depth) = get("depth", Dtype::F32, 3)?;
        expect("depth", &sh, &[v, s, s])?;
        let (sh, instance) = get("instance", Dtype::I32, 3)?;
        expect("instance", &sh, &[v, s, s])?;
        let (sh, intrinsics) = get("intrinsics", Dtype::F32, 3)?;
        expect("intrinsics", &sh, &[v, 3, 3])?;
        let (sh, extrinsics) = get("extrinsics", Dtype::F32, 3)?;
        expect("extrinsics", &sh, &[v, 3, 4])?;
        let (sh, boxes) = get("boxes", Dtype::F32, 2)?;
        let n = sh[0];
        expect("boxes", &sh, &[n, 6])?;
        let (sh, box_class) = get("box_class", Dtype::I64, 1)?;
        expect("box_class", &sh, &[n])?;
        let (sh, box_object) = get("box_object", Dtype::I64, 1)?;
        expect("box_object", &sh, &[n])?;
        // Version 2: every object's category (absent from version-1 shards).
        let (object_id, object_category) = if st.tensor("object_id").is_ok() {
            let (sh, ids) = get("object_id", Dtype::I64, 1)?;
            let m = sh[0];
            let (sh, cats) = get("object_category", Dtype::I64, 1)?;
            expect("object_category", &sh, &[m])?;
            (i64s(ids), i64s(cats))
        } else {
            (Vec::new(), Vec::new())
        };
        let shard = SceneShard {
            scene: meta.get("scene").cloned().unwrap_or_default(),
            view_source: meta.get("view_source").cloned().unwrap_or_default(),
            views: v,
            size: s as u32,
            images,
            depth: f32s(depth),
            instance: i32s(instance),
            intrinsics: f32s(intrinsics),
            extrinsics: f32s(extrinsics),
            boxes: f32s(boxes),
            box_class: i64s(box_class),
            box_object: i64s(box_object),
            object_id,
            object_category,
        };
        shard
            .check_values()
            .map_err(|e| SceneError::invalid(path, e))?;
        Ok(shard)
    }

    /// Checks values, not just shapes: depth, cameras and boxes finite (depth ≥ 0), box
    /// classes within the detection classes; the message names the tensor and the first bad
    /// element.
    pub fn check_values(&self) -> Result<(), String> {
        let finite = |name: &str, xs: &[f32], non_negative: bool| -> Result<(), String> {
            match xs
                .iter()
                .position(|x| !x.is_finite() || (non_negative && *x < 0.0))
            {
                Some(i) => Err(format!("tensor \"{name}\" has {} at element {i}", xs[i])),
                None => Ok(()),
            }
        };
        finite("depth", &self.depth, true)?;
        finite("intrinsics", &self.intrinsics, false)?;
        finite("extrinsics", &self.extrinsics, false)?;
        finite("boxes", &self.boxes, false)?;
        let classes = super::NUM_DETECTION_CLASSES as i64;
        if let Some(i) = self
            .box_class
            .iter()
            .position(|c| !(0..classes).contains(c))
        {
            return Err(format!(
                "tensor \"box_class\" has class {} at element {i}; classes are 0..{classes}",
                self.box_class[i]
            ));
        }
        let categories = crate::scene::Category::ALL.len() as i64;
        if let Some(i) = self
            .object_category
            .iter()
            .position(|c| !(0..categories).contains(c))
        {
            return Err(format!(
                "tensor \"object_category\" has category {} at element {i}; categories are \
                 0..{categories}",
                self.object_category[i]
            ));
        }
        Ok(())
    }
}
