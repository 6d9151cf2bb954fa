//! The camera head (VGGT's camera output, kept small): each view's camera token, after the
//! encoder's last global block, read out by a layer norm and one linear map into the view's
//! pose relative to the first view, `camera_from_camera0` = translation (metres) and rotation
//! (unit quaternion). It is linear because the student must stay three times smaller than the
//! teacher (1,735 parameters at the student's width). The app groups objects through the
//! cameras it knows; `spatia eval --predicted-cameras` measures the student with these instead.

use candle_core::{D, Result, Tensor};
use candle_nn::{Linear, Module, VarBuilder};
use glam::{Mat3, Mat4, Quat, Vec3};

use super::encoder::EncoderOutput;
use super::nn::{LayerNorm, linear_zero};

/// Numbers per pose: translation x, y, z (metres), then quaternion w, x, y, z.
pub const POSE_DIM: usize = 7;

/// The first view's own pose: no translation, no rotation.
pub const IDENTITY_POSE: [f32; POSE_DIM] = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];

/// Camera head, keys `camera_head.norm.*` and `camera_head.out.*`.
#[derive(Debug, Clone)]
pub struct CameraHead {
    norm: LayerNorm,
    out: Linear,
}

impl CameraHead {
    /// A head over camera tokens `token_dim` wide (the encoder's frame + global width). The
    /// linear map starts at zero, and its output is added to the identity pose: every view
    /// starts at the first view's pose.
    pub fn new(token_dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            norm: LayerNorm::new(token_dim, 1e-5, vb.pp("norm"))?,
            out: linear_zero(token_dim, POSE_DIM, vb.pp("out"))?,
        })
    }

    /// Poses [B, S, 7] (translation, then a unit quaternion w-first) of every view relative to
    /// the first, from the last recorded encoder layer's camera tokens ([B, S, T, C], token 0).
    pub fn forward(&self, enc: &EncoderOutput) -> Result<Tensor> {
        let Some(last) = enc.layers.last() else {
            candle_core::bail!("the encoder recorded no layer for the camera head");
        };
        let tokens = last.narrow(2, 0, 1)?.squeeze(2)?; // [B, S, C]
        let identity = Tensor::new(&IDENTITY_POSE, tokens.device())?;
        let raw = self
            .out
            .forward(&self.norm.forward(&tokens)?)?
            .broadcast_add(&identity)?;
        let t = raw.narrow(D::Minus1, 0, 3)?;
        let q = raw.narrow(D::Minus1, 3, 4)?;
        let norm = (q.sqr()?.sum_keepdim(D::Minus1)? + 1e-8)?.sqrt()?;
        Tensor::cat(&[&t, &q.broadcast_div(&norm)?], D::Minus1)
    }
}

/// A rotation as a unit quaternion with `w ≥ 0` (q and −q are one rotation), `[w, x, y, z]`.
pub fn canonical_quat(r: Mat3) -> [f32; 4] {
    let q = Quat::from_mat3(&r).normalize();
    let q = if q.w < 0.0 { -q } else { q };
    [q.w, q.x, q.y, q.z]
}

/// The pose targets of views with camera-from-world extrinsics `extrinsics` ([S, 3, 4]
/// row-major): each view's `camera_from_camera0` as translation then canonical quaternion,
/// [S × 7]. Empty when the extrinsics are short or not finite.
pub fn relative_pose_targets(extrinsics: &[f32], views: usize) -> Vec<f32> {
    if views == 0
        || extrinsics.len() < views * 12
        || !extrinsics[..views * 12].iter().all(|v| v.is_finite())
    {
        return Vec::new();
    }
    let camera0_from_world = crate::data::shard::mat4_from_extrinsics(&extrinsics[..12]);
    let world_from_camera0 = camera0_from_world.inverse();
    let mut out = Vec::with_capacity(views * POSE_DIM);
    for v in 0..views {
        let camera_from_world =
            crate::data::shard::mat4_from_extrinsics(&extrinsics[v * 12..v * 12 + 12]);
        let camera_from_camera0 = camera_from_world * world_from_camera0;
        let (_, r, t) = camera_from_camera0.to_scale_rotation_translation();
        out.extend_from_slice(&[t.x, t.y, t.z]);
        out.extend_from_slice(&canonical_quat(Mat3::from_quat(r)));
    }
    out
}

/// A `camera_from_camera0` transform from a pose `[tx, ty, tz, w, x, y, z]`.
pub fn pose_matrix(pose: &[f32]) -> Mat4 {
    let q = Quat::from_xyzw(pose[4], pose[5], pose[6], pose[3]).normalize();
    Mat4::from_rotation_translation(q, Vec3::new(pose[0], pose[1], pose[2]))
}

/// Angle between two poses' rotations, degrees.
pub fn rotation_error_deg(a: &[f32], b: &[f32]) -> f32 {
    let qa = Quat::from_xyzw(a[4], a[5], a[6], a[3]).normalize();
    let qb = Quat::from_xyzw(b[4], b[5], b[6], b[3]).normalize();
    qa.angle_between(qb).to_degrees()
}

/// Distance between two poses' translations, metres.
pub fn translation_error_m(a: &[f32], b: &[f32]) -> f32 {
    Vec3::new(a[0], a[1], a[2]).distance(Vec3::new(b[0], b[1], b[2]))
}
