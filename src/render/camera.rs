//! Pinhole cameras in the OpenCV convention VGGT uses: camera x right, y down, z forward;
//! pixel (i, j) has its centre at u = i, v = j; extrinsics are camera-from-world.

use glam::{Mat4, Vec2, Vec3, Vec4};
use serde::{Deserialize, Serialize};

/// Pinhole intrinsics, pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Intrinsics {
    /// Focal length along x, pixels.
    pub fx: f32,
    /// Focal length along y, pixels.
    pub fy: f32,
    /// Principal point x, pixels.
    pub cx: f32,
    /// Principal point y, pixels.
    pub cy: f32,
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
}

impl Intrinsics {
    /// Square pixels, principal point at the image centre, `hfov_deg` horizontal field of view.
    pub fn from_hfov(width: u32, height: u32, hfov_deg: f32) -> Intrinsics {
        let f = width as f32 / 2.0 / (hfov_deg.to_radians() / 2.0).tan();
        Intrinsics {
            fx: f,
            fy: f,
            cx: (width as f32 - 1.0) / 2.0,
            cy: (height as f32 - 1.0) / 2.0,
            width,
            height,
        }
    }

    /// The 3x3 matrix K, row-major.
    pub fn matrix(&self) -> [[f32; 3]; 3] {
        [
            [self.fx, 0.0, self.cx],
            [0.0, self.fy, self.cy],
            [0.0, 0.0, 1.0],
        ]
    }

    /// The same camera at another resolution (pixel-centre convention kept).
    pub fn resized(&self, width: u32, height: u32) -> Intrinsics {
        let sx = width as f32 / self.width as f32;
        let sy = height as f32 / self.height as f32;
        Intrinsics {
            fx: self.fx * sx,
            fy: self.fy * sy,
            cx: (self.cx + 0.5) * sx - 0.5,
            cy: (self.cy + 0.5) * sy - 0.5,
            width,
            height,
        }
    }
}

/// A camera: intrinsics and the camera-from-world transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// Intrinsics.
    pub intrinsics: Intrinsics,
    /// World (aligned scene frame, z up) to camera (OpenCV).
    pub camera_from_world: Mat4,
}

impl Camera {
    /// A camera at `eye` looking at `target`, its image rows horizontal (world z up). `None`
    /// when the two coincide or the view is straight up or down.
    pub fn look_at(eye: Vec3, target: Vec3, intrinsics: Intrinsics) -> Option<Camera> {
        let forward = (target - eye).try_normalize()?;
        let right = forward.cross(Vec3::Z).try_normalize()?;
        let down = forward.cross(right);
        let world_from_camera = Mat4::from_cols(
            right.extend(0.0),
            down.extend(0.0),
            forward.extend(0.0),
            eye.extend(1.0),
        );
        Some(Camera {
            intrinsics,
            camera_from_world: world_from_camera.inverse(),
        })
    }

    /// Camera-to-world.
    pub fn world_from_camera(&self) -> Mat4 {
        self.camera_from_world.inverse()
    }

    /// The camera centre in the world.
    pub fn eye(&self) -> Vec3 {
        self.world_from_camera().transform_point3(Vec3::ZERO)
    }

    /// The 3x4 extrinsic matrix [R | t] (camera from world), row-major.
    pub fn extrinsics(&self) -> [[f32; 4]; 3] {
        let m = self.camera_from_world;
        [0, 1, 2].map(|r| {
            let row: Vec4 = m.row(r);
            row.to_array()
        })
    }

    /// Projects a world point: its pixel coordinates and depth (camera z, metres); `None`
    /// behind the camera.
    pub fn project(&self, p_world: Vec3) -> Option<(Vec2, f32)> {
        let p = self.camera_from_world.transform_point3(p_world);
        if p.z <= 1e-6 {
            return None;
        }
        let k = &self.intrinsics;
        Some((
            Vec2::new(k.fx * p.x / p.z + k.cx, k.fy * p.y / p.z + k.cy),
            p.z,
        ))
    }

    /// The world point seen at pixel (u, v) at depth `depth_m` (camera z).
    pub fn unproject(&self, u: f32, v: f32, depth_m: f32) -> Vec3 {
        let k = &self.intrinsics;
        let p = Vec3::new(
            (u - k.cx) / k.fx * depth_m,
            (v - k.cy) / k.fy * depth_m,
            depth_m,
        );
        self.world_from_camera().transform_point3(p)
    }
}
