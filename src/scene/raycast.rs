//! Ray queries against a scene: the first triangle a ray hits, or for point clouds the point
//! nearest the ray, by testing every primitive. The reference for `bvh`, which answers the
//! same for picking and the measure tool; used directly where scenes are small (camera
//! placement).

use glam::Vec3;

use super::Scene;

/// What a ray hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RayHit {
    /// The 3D point hit, metres.
    pub point: Vec3,
    /// Distance along the ray, metres.
    pub distance_m: f32,
    /// The vertex nearest the hit (for point clouds, the point itself).
    pub vertex: u32,
}

/// Which faces of a triangle a ray can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sides {
    /// Both faces.
    Both,
    /// Only the front face (counter-clockwise seen from the ray's origin), as drawn with
    /// back-face culling.
    Front,
}

/// Möller–Trumbore ray/triangle intersection; returns the distance along the ray.
pub fn ray_triangle(origin: Vec3, dir: Vec3, [a, b, c]: [Vec3; 3], sides: Sides) -> Option<f32> {
    let e1 = b - a;
    let e2 = c - a;
    let p = dir.cross(e2);
    let det = e1.dot(p);
    // det > 0: the ray meets the front face.
    if det.abs() < 1e-12 || (sides == Sides::Front && det < 0.0) {
        return None;
    }
    let inv = 1.0 / det;
    let t_vec = origin - a;
    let u = t_vec.dot(p) * inv;
    if !(0.0..=1.0).contains(&u) {
        return None;
    }
    let q = t_vec.cross(e1);
    let v = dir.dot(q) * inv;
    if v < 0.0 || u + v > 1.0 {
        return None;
    }
    let t = e2.dot(q) * inv;
    (t > 1e-6).then_some(t)
}

/// How far along the ray (unit `dir`) point `q` lies, when it is ahead of the origin and
/// within `sqrt(r2)` of the ray.
pub fn ray_point(origin: Vec3, dir: Vec3, q: Vec3, r2: f32) -> Option<f32> {
    let t = (q - origin).dot(dir);
    let off = (q - origin) - dir * t;
    (t > 0.0 && off.length_squared() <= r2).then_some(t)
}

/// The first hit of the ray `origin + t·dir` (t > 0) on the scene.
///
/// Meshes: the nearest triangle hit on the given `sides`. Point clouds: the point nearest the
/// ray within `point_radius_m` of it, the nearest along the ray first.
pub fn raycast(
    scene: &Scene,
    origin: Vec3,
    dir: Vec3,
    point_radius_m: f32,
    sides: Sides,
) -> Option<RayHit> {
    let dir = dir.try_normalize()?;
    match &scene.triangles {
        Some(tris) if !tris.is_empty() => {
            let p = &scene.positions;
            let mut best: Option<(f32, [u32; 3])> = None;
            for t in tris {
                if let Some(d) = ray_triangle(origin, dir, t.map(|i| p[i as usize]), sides)
                    && best.is_none_or(|(bd, _)| d < bd)
                {
                    best = Some((d, *t));
                }
            }
            let (d, tri) = best?;
            Some(triangle_hit(scene, origin, dir, d, tri))
        }
        _ => {
            let r2 = point_radius_m * point_radius_m;
            let mut best: Option<(f32, u32)> = None;
            for (i, &q) in scene.positions.iter().enumerate() {
                if let Some(t) = ray_point(origin, dir, q, r2)
                    && best.is_none_or(|(bt, _)| t < bt)
                {
                    best = Some((t, i as u32));
                }
            }
            let (t, i) = best?;
            Some(RayHit {
                point: scene.positions[i as usize],
                distance_m: t,
                vertex: i,
            })
        }
    }
}

/// The hit `d` metres along the ray on triangle `tri`: the point, and the triangle's vertex
/// nearest it.
pub(crate) fn triangle_hit(
    scene: &Scene,
    origin: Vec3,
    dir: Vec3,
    d: f32,
    tri: [u32; 3],
) -> RayHit {
    let p = &scene.positions;
    let point = origin + dir * d;
    let far = |i: u32| {
        p.get(i as usize)
            .map_or(f32::INFINITY, |q| q.distance_squared(point))
    };
    let vertex = tri
        .into_iter()
        .min_by(|&i, &j| far(i).total_cmp(&far(j)))
        .unwrap_or(tri[0]);
    RayHit {
        point,
        distance_m: d,
        vertex,
    }
}

/// The objects containing `vertex`, smallest first (a cup before the table under it).
pub fn objects_at_vertex(scene: &Scene, vertex: u32) -> Vec<u32> {
    let mut hits: Vec<(f32, u32)> = scene
        .objects
        .iter()
        .filter(|o| o.vertex_indices.binary_search(&vertex).is_ok())
        .map(|o| {
            let s = o.aabb.size();
            (s.x * s.y * s.z, o.id)
        })
        .collect();
    hits.sort_by(|a, b| a.0.total_cmp(&b.0));
    hits.into_iter().map(|(_, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{DEFAULT_GREY, SourceFormat};

    fn floor_and_box() -> Scene {
        // A 4 x 4 floor at z = 0 and a unit box standing at (1, 1).
        let mut m = crate::scene::mesh::TriMesh::default();
        m.add_grid(Vec3::ZERO, Vec3::new(4.0, 4.0, 0.0), 2, 2, [1, 1, 1]);
        let floor_n = m.len() as u32;
        m.add_box(
            Vec3::new(0.5, 0.5, 0.0),
            Vec3::new(1.5, 1.5, 1.0),
            [2, 2, 2],
        );
        let n = m.len();
        let mut s = Scene {
            name: "t".into(),
            format: SourceFormat::Ply,
            source_path: "t".into(),
            positions: m.positions,
            colors: vec![DEFAULT_GREY; n],
            normals: None,
            triangles: Some(m.triangles),
            objects: vec![],
            warnings: vec![],
        };
        let floor = s.make_object(1, "floor", (0..floor_n).collect()).unwrap();
        let cube = s
            .make_object(2, "box", (floor_n..n as u32).collect())
            .unwrap();
        s.objects = vec![floor, cube];
        s
    }

    #[test]
    fn triangle_hit_and_miss() {
        let tri = [Vec3::ZERO, Vec3::X, Vec3::Y];
        let t = ray_triangle(Vec3::new(0.2, 0.2, 5.0), -Vec3::Z, tri, Sides::Front).unwrap();
        assert!((t - 5.0).abs() < 1e-6);
        assert!(ray_triangle(Vec3::new(0.8, 0.8, 5.0), -Vec3::Z, tri, Sides::Both).is_none());
        assert!(ray_triangle(Vec3::new(0.2, 0.2, 5.0), Vec3::Z, tri, Sides::Both).is_none());
        assert!(ray_triangle(Vec3::new(0.2, 0.2, 5.0), Vec3::X, tri, Sides::Both).is_none());
        // From below, only a two-sided test hits it.
        let below = Vec3::new(0.2, 0.2, -5.0);
        assert!(ray_triangle(below, Vec3::Z, tri, Sides::Front).is_none());
        assert!(ray_triangle(below, Vec3::Z, tri, Sides::Both).is_some());
    }

    #[test]
    fn first_hit_is_the_box_top_then_the_floor() {
        let s = floor_and_box();
        let h = raycast(&s, Vec3::new(1.0, 1.0, 10.0), -Vec3::Z, 0.0, Sides::Both).unwrap();
        assert!((h.point - Vec3::new(1.0, 1.0, 1.0)).length() < 1e-5);
        assert!((h.distance_m - 9.0).abs() < 1e-5);
        assert_eq!(objects_at_vertex(&s, h.vertex), vec![2]);
        let h = raycast(
            &s,
            Vec3::new(3.0, 3.0, 10.0),
            -Vec3::Z * 7.0,
            0.0,
            Sides::Both,
        )
        .unwrap();
        assert!((h.point - Vec3::new(3.0, 3.0, 0.0)).length() < 1e-5);
        assert_eq!(objects_at_vertex(&s, h.vertex), vec![1]);
        assert!(raycast(&s, Vec3::new(9.0, 9.0, 10.0), -Vec3::Z, 0.0, Sides::Both).is_none());
        // An oblique ray hits the box's side.
        let h = raycast(&s, Vec3::new(-2.0, 1.0, 0.5), Vec3::X, 0.0, Sides::Both).unwrap();
        assert!((h.point.x - 0.5).abs() < 1e-5);
    }

    #[test]
    fn point_cloud_picks_nearest_point_along_the_ray() {
        let mut s = floor_and_box();
        s.triangles = None;
        s.positions = vec![
            Vec3::new(0.0, 0.0, 5.0),
            Vec3::new(0.02, 0.0, 2.0),
            Vec3::new(1.0, 0.0, 3.0),
        ];
        s.colors = vec![DEFAULT_GREY; 3];
        s.objects.clear();
        let h = raycast(&s, Vec3::new(0.0, 0.0, 10.0), -Vec3::Z, 0.05, Sides::Both).unwrap();
        assert_eq!(h.vertex, 0);
        let h = raycast(&s, Vec3::new(0.0, 0.0, 4.0), -Vec3::Z, 0.05, Sides::Both).unwrap();
        assert_eq!(h.vertex, 1);
        assert!(raycast(&s, Vec3::new(0.0, 0.0, 1.0), -Vec3::Z, 0.05, Sides::Both).is_none());
    }
}
