//! Big synthetic point clouds for benchmarks and level-of-detail tests (`spatia gen-cloud`):
//! deterministic, any size, written as PLY like a scanner's output.

use std::path::Path;

use glam::Vec3;

use crate::scene::SceneError;
use crate::scene::ply::{PlyEncoding, PlyWrite, write_ply};

/// What a generated cloud looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudKind {
    /// Points filling a 6 x 5 x 3 m box at random (the viewer benchmark's cloud: every
    /// pixel column sees many points).
    Volume,
    /// Points on the floor and three walls of a 6 x 5 x 3 m room and on a 1.2 x 0.8 x 0.75 m
    /// table, like a scan: surfaces only, coloured green with red along x and blue along z.
    Room,
}

/// A deterministic xorshift stream of floats in [0, 1) (benchmarks and tests; the seed must
/// not be 0).
pub struct XorShift(pub u64);

impl XorShift {
    /// The next float in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Writes `n` points of `kind` to `path` as PLY (`spatia gen-cloud`, `bench-view`).
pub fn write_cloud(
    path: &Path,
    n: usize,
    kind: CloudKind,
    encoding: PlyEncoding,
) -> Result<(), SceneError> {
    let (positions, colors) = bench_cloud(n, kind);
    let ply = PlyWrite {
        positions: &positions,
        colors: Some(&colors),
        alpha: false,
        normals: None,
        triangles: None,
        comment: "spatia gen-cloud",
    };
    write_ply(path, &ply, encoding)
}

/// `n` points of `kind` with their sRGB colours.
pub fn bench_cloud(n: usize, kind: CloudKind) -> (Vec<Vec3>, Vec<[u8; 3]>) {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let mut positions = Vec::with_capacity(n);
    let mut colors = Vec::with_capacity(n);
    for i in 0..n {
        let (a, b) = (rng.next_f32(), rng.next_f32());
        let p = match kind {
            CloudKind::Volume => Vec3::new(a * 6.0, b * 5.0, rng.next_f32() * 3.0),
            CloudKind::Room => match i % 10 {
                0..=3 => Vec3::new(a * 6.0, b * 5.0, 0.0),
                4 | 5 => Vec3::new(0.0, a * 5.0, b * 3.0),
                6 | 7 => Vec3::new(a * 6.0, 5.0, b * 3.0),
                8 => Vec3::new(6.0, a * 5.0, b * 3.0),
                // The table top.
                _ => Vec3::new(2.4 + a * 1.2, 2.1 + b * 0.8, 0.75),
            },
        };
        let color = match kind {
            CloudKind::Volume => [(p.x * 40.0) as u8, (p.y * 50.0) as u8, (p.z * 80.0) as u8],
            CloudKind::Room => [(30.0 + p.x * 25.0) as u8, 200, (30.0 + p.z * 50.0) as u8],
        };
        positions.push(p);
        colors.push(color);
    }
    (positions, colors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_are_deterministic_inside_their_room_and_room_colours_are_green() {
        for kind in [CloudKind::Volume, CloudKind::Room] {
            let (p, c) = bench_cloud(10_000, kind);
            assert_eq!((p.len(), c.len()), (10_000, 10_000));
            assert_eq!(bench_cloud(10_000, kind).0, p);
            assert!(
                p.iter()
                    .all(|q| q.cmpge(Vec3::ZERO).all() && q.cmple(Vec3::new(6.0, 5.0, 3.0)).all())
            );
        }
        let (p, c) = bench_cloud(10_000, CloudKind::Room);
        assert_eq!(p.iter().filter(|q| q.z == 0.0).count(), 4_000);
        assert!(c.iter().all(|c| c[1] == 200 && c[0] < 190 && c[2] < 190));
    }
}
