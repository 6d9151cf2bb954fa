//! A plain coloured triangle mesh with primitive builders (boxes, cylinders, frusta, grids),
//! used by the procedural generator and for 3D-FRONT furniture drawn from its bounding box.

use glam::{Mat4, Vec3};

use super::Aabb;

/// Positions, per-vertex colours and triangles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriMesh {
    /// Vertex positions.
    pub positions: Vec<Vec3>,
    /// One colour per vertex.
    pub colors: Vec<[u8; 3]>,
    /// Triangles as vertex indices.
    pub triangles: Vec<[u32; 3]>,
}

impl TriMesh {
    /// Number of vertices.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// True when the mesh has no vertex.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Box around all vertices.
    pub fn bounds(&self) -> Option<Aabb> {
        Aabb::from_points(self.positions.iter().copied())
    }

    /// Appends `other`, returning the index of its first vertex in `self`.
    pub fn append(&mut self, other: &TriMesh) -> u32 {
        let base = self.positions.len() as u32;
        self.positions.extend_from_slice(&other.positions);
        self.colors.extend_from_slice(&other.colors);
        self.triangles.extend(
            other
                .triangles
                .iter()
                .map(|t| [t[0] + base, t[1] + base, t[2] + base]),
        );
        base
    }

    /// A copy with every position mapped through `m`.
    pub fn transformed(&self, m: &Mat4) -> TriMesh {
        TriMesh {
            positions: self
                .positions
                .iter()
                .map(|p| m.transform_point3(*p))
                .collect(),
            colors: self.colors.clone(),
            triangles: self.triangles.clone(),
        }
    }

    fn push_quad(&mut self, corners: [Vec3; 4], color: [u8; 3]) {
        let base = self.positions.len() as u32;
        self.positions.extend_from_slice(&corners);
        self.colors.extend_from_slice(&[color; 4]);
        self.triangles
            .extend_from_slice(&[[base, base + 1, base + 2], [base, base + 2, base + 3]]);
    }

    /// An axis-aligned box from `min` to `max`, 6 faces with their own vertices (so flat shading
    /// and per-face colour stay crisp), outward winding.
    pub fn add_box(&mut self, min: Vec3, max: Vec3, color: [u8; 3]) {
        let c = |x: bool, y: bool, z: bool| {
            Vec3::new(
                if x { max.x } else { min.x },
                if y { max.y } else { min.y },
                if z { max.z } else { min.z },
            )
        };
        let (f, t) = (false, true);
        // Each face counter-clockwise seen from outside.
        self.push_quad([c(f, f, f), c(f, t, f), c(t, t, f), c(t, f, f)], color); // -z
        self.push_quad([c(f, f, t), c(t, f, t), c(t, t, t), c(f, t, t)], color); // +z
        self.push_quad([c(f, f, f), c(t, f, f), c(t, f, t), c(f, f, t)], color); // -y
        self.push_quad([c(f, t, f), c(f, t, t), c(t, t, t), c(t, t, f)], color); // +y
        self.push_quad([c(f, f, f), c(f, f, t), c(f, t, t), c(f, t, f)], color); // -x
        self.push_quad([c(t, f, f), c(t, t, f), c(t, t, t), c(t, f, t)], color); // +x
    }

    /// A vertical frustum (cylinder when the radii are equal) standing on `base_center`,
    /// with caps, `segments` sides.
    pub fn add_frustum(
        &mut self,
        base_center: Vec3,
        radius_bottom: f32,
        radius_top: f32,
        height: f32,
        segments: u32,
        color: [u8; 3],
    ) {
        let segments = segments.max(3);
        let ring = |r: f32, z: f32| -> Vec<Vec3> {
            (0..segments)
                .map(|i| {
                    let a = i as f32 / segments as f32 * std::f32::consts::TAU;
                    base_center + Vec3::new(r * a.cos(), r * a.sin(), z)
                })
                .collect()
        };
        let bottom = ring(radius_bottom, 0.0);
        let top = ring(radius_top, height);
        for i in 0..segments as usize {
            let j = (i + 1) % segments as usize;
            self.push_quad([bottom[i], bottom[j], top[j], top[i]], color);
        }
        for (cap, z, up) in [(&bottom, 0.0, false), (&top, height, true)] {
            let center = self.positions.len() as u32;
            self.positions.push(base_center + Vec3::new(0.0, 0.0, z));
            self.colors.push(color);
            let first = self.positions.len() as u32;
            self.positions.extend_from_slice(cap);
            self.colors
                .extend(std::iter::repeat_n(color, segments as usize));
            for i in 0..segments {
                let (a, b) = (first + i, first + (i + 1) % segments);
                self.triangles
                    .push(if up { [center, a, b] } else { [center, b, a] });
            }
        }
    }

    /// A planar grid of `n.0 × n.1` quads spanning `origin + a·u + b·v` for a, b in 0..1, its
    /// triangles wound so that they face `normal`.
    pub fn add_quad_grid(
        &mut self,
        origin: Vec3,
        u: Vec3,
        v: Vec3,
        normal: Vec3,
        n: (u32, u32),
        color: [u8; 3],
    ) {
        let (nu, nv) = (n.0.max(1), n.1.max(1));
        let base = self.positions.len() as u32;
        for j in 0..=nv {
            for i in 0..=nu {
                self.positions
                    .push(origin + u * (i as f32 / nu as f32) + v * (j as f32 / nv as f32));
                self.colors.push(color);
            }
        }
        let flip = u.cross(v).dot(normal) < 0.0;
        let idx = |i: u32, j: u32| base + j * (nu + 1) + i;
        for j in 0..nv {
            for i in 0..nu {
                let (a, b, c, d) = (idx(i, j), idx(i + 1, j), idx(i + 1, j + 1), idx(i, j + 1));
                if flip {
                    self.triangles.extend_from_slice(&[[a, c, b], [a, d, c]]);
                } else {
                    self.triangles.extend_from_slice(&[[a, b, c], [a, c, d]]);
                }
            }
        }
    }

    /// A horizontal grid of `nx × ny` quads covering `min..max` in x and y at height `z`,
    /// facing up.
    pub fn add_grid(&mut self, min: Vec3, max: Vec3, nx: u32, ny: u32, color: [u8; 3]) {
        let (nx, ny) = (nx.max(1), ny.max(1));
        let base = self.positions.len() as u32;
        for j in 0..=ny {
            for i in 0..=nx {
                let x = min.x + (max.x - min.x) * i as f32 / nx as f32;
                let y = min.y + (max.y - min.y) * j as f32 / ny as f32;
                self.positions.push(Vec3::new(x, y, min.z));
                self.colors.push(color);
            }
        }
        let idx = |i: u32, j: u32| base + j * (nx + 1) + i;
        for j in 0..ny {
            for i in 0..nx {
                self.triangles
                    .push([idx(i, j), idx(i + 1, j), idx(i + 1, j + 1)]);
                self.triangles
                    .push([idx(i, j), idx(i + 1, j + 1), idx(i, j + 1)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_volume(m: &TriMesh) -> f32 {
        m.triangles
            .iter()
            .map(|t| {
                let [a, b, c] = t.map(|i| m.positions[i as usize]);
                a.dot(b.cross(c)) / 6.0
            })
            .sum()
    }

    #[test]
    fn box_is_closed_and_outward() {
        let mut m = TriMesh::default();
        m.add_box(
            Vec3::new(1.0, 2.0, 3.0),
            Vec3::new(2.0, 4.0, 6.0),
            [1, 2, 3],
        );
        assert_eq!(m.len(), 24);
        assert_eq!(m.triangles.len(), 12);
        assert!((signed_volume(&m) - 6.0).abs() < 1e-4);
        let b = m.bounds().unwrap();
        assert_eq!(b.min, Vec3::new(1.0, 2.0, 3.0));
    }

    #[test]
    fn cylinder_volume_approaches_pi_r2_h() {
        let mut m = TriMesh::default();
        m.add_frustum(Vec3::new(5.0, 0.0, 1.0), 0.5, 0.5, 2.0, 64, [0; 3]);
        let v = signed_volume(&m);
        let want = std::f32::consts::PI * 0.25 * 2.0;
        assert!((v - want).abs() / want < 0.01, "{v} vs {want}");
        assert_eq!(m.bounds().unwrap().min.z, 1.0);
    }

    #[test]
    fn quad_grid_faces_the_requested_side() {
        for normal in [Vec3::X, -Vec3::X, Vec3::Y, -Vec3::Y] {
            let mut m = TriMesh::default();
            let along = if normal.x != 0.0 { Vec3::Y } else { Vec3::X };
            m.add_quad_grid(
                Vec3::ZERO,
                along * 3.0,
                Vec3::Z * 2.0,
                normal,
                (3, 2),
                [0; 3],
            );
            assert_eq!(m.len(), 12);
            assert_eq!(m.triangles.len(), 12);
            for t in &m.triangles {
                let [a, b, c] = t.map(|i| m.positions[i as usize]);
                assert!((b - a).cross(c - a).normalize().dot(normal) > 0.99);
            }
        }
    }

    #[test]
    fn grid_and_append() {
        let mut m = TriMesh::default();
        m.add_grid(Vec3::ZERO, Vec3::new(2.0, 1.0, 0.0), 4, 2, [0; 3]);
        assert_eq!(m.len(), 15);
        assert_eq!(m.triangles.len(), 16);
        let mut all = TriMesh::default();
        all.add_box(Vec3::ZERO, Vec3::ONE, [0; 3]);
        let base = all.append(&m);
        assert_eq!(base, 24);
        assert_eq!(
            all.triangles.last().unwrap()[0],
            24 + m.triangles.last().unwrap()[0]
        );
    }
}
