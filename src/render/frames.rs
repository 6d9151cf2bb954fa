//! ScanNet's exported RGB-D frames (the SensReader export): `color/<i>.jpg`,
//! `depth/<i>.png` (16-bit, millimetres), `pose/<i>.txt` (4x4 camera-to-world, in the scan's
//! unaligned frame; `-inf` for lost tracking) and `intrinsic/intrinsic_{color,depth}.txt`
//! (4x4). Looked for in the scan folder itself or its `frames/` sub-folder.
//!
//! A view is resampled into the depth camera at the requested resolution: depth by nearest
//! neighbour, colour by projecting each pixel's ray into the colour camera (the small
//! colour-depth baseline is ignored). Poses are moved into the aligned frame with the scan's
//! `axisAlignment`.

use std::path::{Path, PathBuf};

use glam::{Mat4, Vec4};

use super::camera::{Camera, Intrinsics};
use crate::scene::{SceneError, read_file_limited};

/// Largest image file read, bytes.
const MAX_IMAGE_BYTES: u64 = 64 << 20;

/// A scan's exported frames.
#[derive(Debug, Clone)]
pub struct FrameSet {
    /// The folder holding `color/`, `depth/`, `pose/`, `intrinsic/`.
    pub root: PathBuf,
    /// Frame numbers that have colour, depth and pose files, ascending.
    pub ids: Vec<u32>,
}

/// One frame resampled for training.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The camera (depth intrinsics at the output size, aligned-frame pose).
    pub camera: Camera,
    /// RGB, row-major.
    pub rgb: Vec<u8>,
    /// Depth, metres, 0 where the sensor had none.
    pub depth_m: Vec<f32>,
    /// The frame number.
    pub id: u32,
}

/// Finds exported frames for the scan in `scan_dir`, if it has any.
pub fn find_frames(scan_dir: &Path) -> Option<FrameSet> {
    for root in [scan_dir.to_path_buf(), scan_dir.join("frames")] {
        let dirs = ["color", "depth", "pose", "intrinsic"];
        if !dirs.iter().all(|d| root.join(d).is_dir()) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(root.join("pose")) else {
            continue;
        };
        let mut ids: Vec<u32> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                name.strip_suffix(".txt")?.parse().ok()
            })
            .filter(|i| {
                root.join("color").join(format!("{i}.jpg")).is_file()
                    && root.join("depth").join(format!("{i}.png")).is_file()
            })
            .collect();
        ids.sort_unstable();
        if !ids.is_empty() {
            return Some(FrameSet { root, ids });
        }
    }
    None
}

/// Reads a whitespace-separated 4x4 matrix (row-major text).
pub fn read_matrix4(path: &Path) -> Result<Mat4, SceneError> {
    let bytes = read_file_limited(path, 1 << 16)?;
    let text = String::from_utf8_lossy(&bytes);
    let values: Vec<f32> = text
        .split_whitespace()
        .map(|t| {
            t.parse::<f32>()
                .map_err(|_| SceneError::invalid(path, format!("\"{t}\" is not a number")))
        })
        .collect::<Result<_, _>>()?;
    if values.len() != 16 {
        return Err(SceneError::invalid(
            path,
            format!("expected 16 numbers (a 4x4 matrix), found {}", values.len()),
        ));
    }
    let rows: Vec<Vec4> = values
        .chunks(4)
        .map(|r| Vec4::new(r[0], r[1], r[2], r[3]))
        .collect();
    Ok(Mat4::from_cols(rows[0], rows[1], rows[2], rows[3]).transpose())
}

fn intrinsics_from(m: &Mat4, width: u32, height: u32) -> Intrinsics {
    let r0 = m.row(0);
    let r1 = m.row(1);
    Intrinsics {
        fx: r0.x,
        fy: r1.y,
        cx: r0.z,
        cy: r1.z,
        width,
        height,
    }
}

fn decode(path: &Path) -> Result<image::DynamicImage, SceneError> {
    let bytes = read_file_limited(path, MAX_IMAGE_BYTES)?;
    image::load_from_memory(&bytes)
        .map_err(|e| SceneError::invalid(path, format!("cannot decode image: {e}")))
}

impl FrameSet {
    /// Frames with a finite pose, `count` of them spread evenly over the sequence.
    pub fn pick(&self, count: usize) -> Result<Vec<u32>, SceneError> {
        let mut valid = Vec::new();
        for &id in &self.ids {
            let pose = read_matrix4(&self.pose_path(id))?;
            if pose.is_finite() {
                valid.push(id);
            }
        }
        if valid.is_empty() || count == 0 {
            return Ok(Vec::new());
        }
        let n = count.min(valid.len());
        Ok((0..n).map(|i| valid[i * valid.len() / n]).collect())
    }

    fn pose_path(&self, id: u32) -> PathBuf {
        self.root.join("pose").join(format!("{id}.txt"))
    }

    /// Loads frame `id` resampled to `size`x`size`; `aligned_from_scan` is the scan's
    /// `axisAlignment` (identity when it has none).
    pub fn load(&self, id: u32, size: u32, aligned_from_scan: &Mat4) -> Result<Frame, SceneError> {
        let color_path = self.root.join("color").join(format!("{id}.jpg"));
        let depth_path = self.root.join("depth").join(format!("{id}.png"));
        let pose_path = self.pose_path(id);
        let scan_from_camera = read_matrix4(&pose_path)?;
        if !scan_from_camera.is_finite() {
            return Err(SceneError::invalid(
                &pose_path,
                "pose is not finite (tracking lost)",
            ));
        }
        let color = decode(&color_path)?.to_rgb8();
        let depth_img = decode(&depth_path)?;
        let depth = match depth_img {
            image::DynamicImage::ImageLuma16(d) => d,
            other => {
                return Err(SceneError::invalid(
                    &depth_path,
                    format!(
                        "expected a 16-bit grey PNG (millimetres), found {:?}",
                        other.color()
                    ),
                ));
            }
        };
        let (dw, dh) = depth.dimensions();
        let (cw, ch) = color.dimensions();
        let kd = intrinsics_from(
            &read_matrix4(&self.root.join("intrinsic").join("intrinsic_depth.txt"))?,
            dw,
            dh,
        );
        let kc = intrinsics_from(
            &read_matrix4(&self.root.join("intrinsic").join("intrinsic_color.txt"))?,
            cw,
            ch,
        );
        let out_k = kd.resized(size, size);
        let n = (size * size) as usize;
        let (mut rgb, mut depth_m) = (Vec::with_capacity(n * 3), Vec::with_capacity(n));
        for y in 0..size {
            for x in 0..size {
                // The ray through this output pixel, in the depth camera.
                let (rx, ry) = (
                    (x as f32 - out_k.cx) / out_k.fx,
                    (y as f32 - out_k.cy) / out_k.fy,
                );
                let (du, dv) = (kd.fx * rx + kd.cx, kd.fy * ry + kd.cy);
                let d =
                    sample_nearest(dw, dh, du, dv).map_or(0, |(i, j)| depth.get_pixel(i, j).0[0]);
                depth_m.push(d as f32 / 1000.0);
                let (cu, cv) = (kc.fx * rx + kc.cx, kc.fy * ry + kc.cy);
                let c =
                    sample_nearest(cw, ch, cu, cv).map_or([0; 3], |(i, j)| color.get_pixel(i, j).0);
                rgb.extend_from_slice(&c);
            }
        }
        let world_from_camera = *aligned_from_scan * scan_from_camera;
        Ok(Frame {
            camera: Camera {
                intrinsics: out_k,
                camera_from_world: world_from_camera.inverse(),
            },
            rgb,
            depth_m,
            id,
        })
    }
}

fn sample_nearest(w: u32, h: u32, u: f32, v: f32) -> Option<(u32, u32)> {
    let (i, j) = (u.round(), v.round());
    (i >= 0.0 && j >= 0.0 && i < w as f32 && j < h as f32).then_some((i as u32, j as u32))
}
