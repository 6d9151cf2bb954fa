//! Relative direction, phrased as SpatialRGPT-Bench and VSI-Bench do: left / right, in front /
//! behind, above / below, from a viewpoint (a camera) or from "standing at A facing B".

use glam::{Mat4, Vec3};
use serde::Serialize;

use crate::scene::Aabb;

/// Differences smaller than this along an axis are "neither", metres.
pub const DIRECTION_MARGIN_M: f32 = 0.1;

/// Where something is around an observer, in the horizontal plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Horizontal {
    /// Within 45° of the facing direction.
    Front,
    /// Within 45° of straight behind.
    Back,
    /// To the left.
    Left,
    /// To the right.
    Right,
}

/// An observer on the floor plan: a position and a horizontal facing direction, z up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observer {
    /// Where the observer stands (or the camera is).
    pub position: Vec3,
    /// Unit facing direction, horizontal.
    pub facing: Vec3,
}

impl Observer {
    /// Standing at `at`, facing `toward` (VSI-Bench's "standing by A and facing B").
    pub fn standing_at_facing(at: Vec3, toward: Vec3) -> Option<Observer> {
        let f = Vec3::new(toward.x - at.x, toward.y - at.y, 0.0).try_normalize()?;
        Some(Observer {
            position: at,
            facing: f,
        })
    }

    /// A camera given as `world_from_camera` in the OpenCV convention (x right, y down, z
    /// forward), as VGGT and the training views use.
    pub fn from_camera(world_from_camera: &Mat4) -> Option<Observer> {
        let forward = world_from_camera.transform_vector3(Vec3::Z);
        let f = Vec3::new(forward.x, forward.y, 0.0).try_normalize()?;
        Some(Observer {
            position: world_from_camera.transform_point3(Vec3::ZERO),
            facing: f,
        })
    }

    /// The observer's right, horizontal.
    pub fn right(&self) -> Vec3 {
        self.facing.cross(Vec3::Z)
    }

    /// Which quadrant `target` is in.
    pub fn horizontal(&self, target: Vec3) -> Option<Horizontal> {
        let d = Vec3::new(target.x - self.position.x, target.y - self.position.y, 0.0);
        if d.length() < 1e-6 {
            return None;
        }
        let (fwd, right) = (d.dot(self.facing), d.dot(self.right()));
        Some(if fwd.abs() >= right.abs() {
            if fwd >= 0.0 {
                Horizontal::Front
            } else {
                Horizontal::Back
            }
        } else if right > 0.0 {
            Horizontal::Right
        } else {
            Horizontal::Left
        })
    }

    /// Whether `a` is left of `b` as this observer sees them (`None` when they are within
    /// `DIRECTION_MARGIN_M` of each other left-right).
    pub fn left_of(&self, a: Vec3, b: Vec3) -> Option<bool> {
        let d = (b - a).dot(self.right());
        (d.abs() >= DIRECTION_MARGIN_M).then_some(d > 0.0)
    }

    /// Whether `a` is in front of (closer to the observer than) `b` along the facing direction.
    pub fn in_front_of(&self, a: Vec3, b: Vec3) -> Option<bool> {
        let d = (b - a).dot(self.facing);
        (d.abs() >= DIRECTION_MARGIN_M).then_some(d > 0.0)
    }
}

/// Above / below between boxes: `Some(true)` when a is entirely above b, `Some(false)` when
/// entirely below, `None` when they overlap in height.
pub fn above(a: &Aabb, b: &Aabb) -> Option<bool> {
    if a.min.z >= b.max.z - 0.02 {
        Some(true)
    } else if a.max.z <= b.min.z + 0.02 {
        Some(false)
    } else {
        None
    }
}
