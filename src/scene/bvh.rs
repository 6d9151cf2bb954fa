//! A bounding-volume hierarchy over a scene's triangles (meshes) or points (point clouds), so a
//! pick ray tests a few dozen primitives instead of millions. Built once per scene on the
//! loader thread (median splits along the longest axis of the primitives' centres, both halves
//! built in parallel near the top); answers exactly what the brute-force [`raycast`] answers,
//! ties included (the lowest primitive index wins in both).
//!
//! [`raycast`]: super::raycast::raycast

use glam::Vec3;

use super::Scene;
use super::raycast::{RayHit, Sides, ray_point, ray_triangle, triangle_hit};

/// Triangles per leaf at most.
const TRIANGLES_PER_LEAF: usize = 4;
/// Points per leaf at most (point tests are cheap; few nodes for clouds of tens of millions:
/// 20 M points make 0.6 M nodes, 20 MB).
const POINTS_PER_LEAF: usize = 64;
/// Subtrees with more primitives than this are built in parallel.
const PARALLEL_MIN: usize = 50_000;

/// One node: its box, and either two children or a run of primitives.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    min: Vec3,
    max: Vec3,
    /// Inner node: index of the first child (the second follows it). Leaf: first index into
    /// `prims`.
    start: u32,
    /// Primitives of a leaf; 0 for an inner node.
    count: u32,
}

/// What the hierarchy holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BvhKind {
    /// The scene's triangles.
    Triangles,
    /// The scene's points.
    Points,
}

/// The hierarchy over one scene's primitives.
#[derive(Debug, Clone, PartialEq)]
pub struct Bvh {
    kind: BvhKind,
    nodes: Vec<Node>,
    /// Primitive indices, each leaf's contiguous.
    prims: Vec<u32>,
}

/// A primitive while building: its index and box.
trait Prim: Copy + Send {
    fn index(&self) -> u32;
    fn bounds(&self) -> (Vec3, Vec3);
    fn center(&self) -> Vec3;
}

/// A triangle while building.
#[derive(Clone, Copy)]
struct Tri {
    index: u32,
    min: Vec3,
    max: Vec3,
}

impl Prim for Tri {
    fn index(&self) -> u32 {
        self.index
    }
    fn bounds(&self) -> (Vec3, Vec3) {
        (self.min, self.max)
    }
    fn center(&self) -> Vec3 {
        (self.min + self.max) * 0.5
    }
}

/// A point while building (16 bytes: 20 M points take 320 MB while the hierarchy is built).
#[derive(Clone, Copy)]
struct Point {
    index: u32,
    at: Vec3,
}

impl Prim for Point {
    fn index(&self) -> u32 {
        self.index
    }
    fn bounds(&self) -> (Vec3, Vec3) {
        (self.at, self.at)
    }
    fn center(&self) -> Vec3 {
        self.at
    }
}

impl Bvh {
    /// The hierarchy over `scene`'s triangles, or over its points when it has none.
    pub fn build(scene: &Scene) -> Bvh {
        use rayon::prelude::*;
        let p = &scene.positions;
        match &scene.triangles {
            Some(tris) if !tris.is_empty() => {
                let items: Vec<Tri> = tris
                    .par_iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let [a, b, c] = t.map(|v| p.get(v as usize).copied().unwrap_or(Vec3::ZERO));
                        Tri {
                            index: i as u32,
                            min: a.min(b).min(c),
                            max: a.max(b).max(c),
                        }
                    })
                    .collect();
                Bvh::from_items(BvhKind::Triangles, items, TRIANGLES_PER_LEAF)
            }
            _ => {
                let items: Vec<Point> = p
                    .par_iter()
                    .enumerate()
                    .map(|(i, &at)| Point {
                        index: i as u32,
                        at,
                    })
                    .collect();
                Bvh::from_items(BvhKind::Points, items, POINTS_PER_LEAF)
            }
        }
    }

    fn from_items<P: Prim>(kind: BvhKind, mut items: Vec<P>, leaf_size: usize) -> Bvh {
        let nodes = if items.is_empty() {
            Vec::new()
        } else {
            build_subtree(&mut items, 0, leaf_size)
        };
        // Not `items.into_iter().map(..).collect()`: that collects in place and keeps the items'
        // buffer (16-28 bytes a primitive, 305 MiB for 20 M points) for 4-byte indices.
        let mut prims = Vec::with_capacity(items.len());
        prims.extend(items.iter().map(|i| i.index()));
        Bvh { kind, nodes, prims }
    }

    /// What the hierarchy holds.
    pub fn kind(&self) -> BvhKind {
        self.kind
    }

    /// Bytes the hierarchy holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        super::vec_bytes(&self.nodes) + super::vec_bytes(&self.prims)
    }

    /// Number of nodes (a measure of its size).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The first hit of the ray `origin + t·dir` on `scene` (which must be the scene the
    /// hierarchy was built for): the same answer as [`super::raycast::raycast`].
    pub fn raycast(
        &self,
        scene: &Scene,
        origin: Vec3,
        dir: Vec3,
        point_radius_m: f32,
        sides: Sides,
    ) -> Option<RayHit> {
        let dir = dir.try_normalize()?;
        let inv = dir.recip();
        let p = &scene.positions;
        let pad = match self.kind {
            BvhKind::Triangles => 0.0,
            BvhKind::Points => point_radius_m.max(0.0),
        };
        let r2 = point_radius_m * point_radius_m;
        // Best so far: distance along the ray, primitive index.
        let mut best: Option<(f32, u32)> = None;
        let mut stack: Vec<(u32, f32)> = Vec::with_capacity(64);
        if let Some(root) = self.nodes.first()
            && let Some(t) = slab(root, pad, origin, inv)
        {
            stack.push((0, t));
        }
        while let Some((i, t_enter)) = stack.pop() {
            if best.is_some_and(|(bd, _)| t_enter > bd) {
                continue;
            }
            let Some(node) = self.nodes.get(i as usize) else {
                continue;
            };
            if node.count == 0 {
                let (a, b) = (node.start, node.start + 1);
                let ta = self
                    .nodes
                    .get(a as usize)
                    .and_then(|n| slab(n, pad, origin, inv));
                let tb = self
                    .nodes
                    .get(b as usize)
                    .and_then(|n| slab(n, pad, origin, inv));
                // The nearer child is popped first.
                match (ta, tb) {
                    (Some(ta), Some(tb)) if ta <= tb => stack.extend([(b, tb), (a, ta)]),
                    (Some(ta), Some(tb)) => stack.extend([(a, ta), (b, tb)]),
                    (Some(ta), None) => stack.push((a, ta)),
                    (None, Some(tb)) => stack.push((b, tb)),
                    (None, None) => {}
                }
                continue;
            }
            let range = node.start as usize..(node.start + node.count) as usize;
            for &prim in self.prims.get(range).unwrap_or(&[]) {
                let d = match self.kind {
                    BvhKind::Triangles => scene.triangles.as_ref().and_then(|tris| {
                        let t = tris.get(prim as usize)?;
                        let corners = t.map(|v| p.get(v as usize).copied().unwrap_or(Vec3::ZERO));
                        ray_triangle(origin, dir, corners, sides)
                    }),
                    BvhKind::Points => p
                        .get(prim as usize)
                        .and_then(|&q| ray_point(origin, dir, q, r2)),
                };
                if let Some(d) = d
                    && best.is_none_or(|(bd, bi)| d < bd || (d == bd && prim < bi))
                {
                    best = Some((d, prim));
                }
            }
        }
        let (d, prim) = best?;
        match self.kind {
            BvhKind::Triangles => {
                let tri = *scene.triangles.as_ref()?.get(prim as usize)?;
                Some(triangle_hit(scene, origin, dir, d, tri))
            }
            BvhKind::Points => Some(RayHit {
                point: *p.get(prim as usize)?,
                distance_m: d,
                vertex: prim,
            }),
        }
    }
}

/// Where the ray enters `node`'s box grown by `pad` (0 when it starts inside), if it does.
fn slab(node: &Node, pad: f32, origin: Vec3, inv: Vec3) -> Option<f32> {
    let lo = (node.min - Vec3::splat(pad) - origin) * inv;
    let hi = (node.max + Vec3::splat(pad) - origin) * inv;
    // NaN (0 · ∞ for a ray in a box face's plane) counts as inside that slab.
    let near = lo.min(hi);
    let far = lo.max(hi);
    let t0 = [near.x, near.y, near.z]
        .into_iter()
        .filter(|v| !v.is_nan())
        .fold(0.0f32, f32::max);
    let t1 = [far.x, far.y, far.z]
        .into_iter()
        .filter(|v| !v.is_nan())
        .fold(f32::INFINITY, f32::min);
    (t0 <= t1).then_some(t0)
}

/// Builds the subtree over `items` (reordering them); its nodes with the root first, child
/// indices relative to the returned vector, leaf starts relative to `items` plus `offset`.
fn build_subtree<P: Prim>(items: &mut [P], offset: usize, leaf_size: usize) -> Vec<Node> {
    let (min, max) = items.iter().fold(
        (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
        |(lo, hi), it| {
            let (a, b) = it.bounds();
            (lo.min(a), hi.max(b))
        },
    );
    if items.len() <= leaf_size {
        return vec![Node {
            min,
            max,
            start: offset as u32,
            count: items.len() as u32,
        }];
    }
    let (cmin, cmax) = items.iter().fold(
        (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
        |(lo, hi), it| (lo.min(it.center()), hi.max(it.center())),
    );
    let extent = cmax - cmin;
    let axis = if extent.x >= extent.y && extent.x >= extent.z {
        0
    } else if extent.y >= extent.z {
        1
    } else {
        2
    };
    let mid = items.len() / 2;
    items.select_nth_unstable_by(mid, |a, b| {
        a.center()[axis]
            .total_cmp(&b.center()[axis])
            .then(a.index().cmp(&b.index()))
    });
    let (left, right) = items.split_at_mut(mid);
    let (l, r) = if left.len() + right.len() > PARALLEL_MIN {
        rayon::join(
            || build_subtree(left, offset, leaf_size),
            || build_subtree(right, offset + mid, leaf_size),
        )
    } else {
        (
            build_subtree(left, offset, leaf_size),
            build_subtree(right, offset + mid, leaf_size),
        )
    };
    // Root, then the two children side by side, then the rest of each subtree.
    let mut nodes = Vec::with_capacity(1 + l.len() + r.len());
    // Layout: [root, left root, right root, left rest…, right rest…].
    let left_rest = 3u32;
    let right_rest = 3 + l.len() as u32 - 1;
    let remap_left = |i: u32| if i == 0 { 1 } else { left_rest + i - 1 };
    let remap_right = |i: u32| if i == 0 { 2 } else { right_rest + i - 1 };
    nodes.push(Node {
        min,
        max,
        start: 1,
        count: 0,
    });
    let fix = |n: Node, remap: &dyn Fn(u32) -> u32| {
        if n.count == 0 {
            Node {
                start: remap(n.start),
                ..n
            }
        } else {
            n
        }
    };
    nodes.push(fix(l[0], &remap_left));
    nodes.push(fix(r[0], &remap_right));
    nodes.extend(l[1..].iter().map(|&n| fix(n, &remap_left)));
    nodes.extend(r[1..].iter().map(|&n| fix(n, &remap_right)));
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::raycast::raycast;
    use crate::scene::{DEFAULT_GREY, SourceFormat};

    /// A bumpy grid with boxes standing on it: `side`² vertices, 2 (side − 1)² + 12 k triangles.
    fn bumpy_mesh(side: u32) -> Scene {
        let mut m = crate::scene::mesh::TriMesh::default();
        for j in 0..side {
            for i in 0..side {
                let (x, y) = (i as f32 * 0.05, j as f32 * 0.05);
                m.positions
                    .push(Vec3::new(x, y, 0.2 * (x * 3.0).sin() * (y * 2.0).cos()));
            }
        }
        for j in 0..side - 1 {
            for i in 0..side - 1 {
                let a = j * side + i;
                m.triangles.push([a, a + 1, a + side + 1]);
                m.triangles.push([a, a + side + 1, a + side]);
            }
        }
        for k in 0..5 {
            let lo = Vec3::new(0.3 + k as f32 * 0.4, 0.5, -0.1);
            m.add_box(lo, lo + Vec3::new(0.2, 0.3, 0.6), [1, 2, 3]);
        }
        let n = m.positions.len();
        Scene {
            name: "bumpy".into(),
            format: SourceFormat::Ply,
            source_path: "bumpy".into(),
            positions: m.positions,
            colors: vec![DEFAULT_GREY; n],
            normals: None,
            triangles: Some(m.triangles),
            objects: vec![],
            warnings: vec![],
        }
    }

    /// Deterministic rays from above and from the sides towards the mesh.
    fn rays(n: usize) -> Vec<(Vec3, Vec3)> {
        let mut rng = crate::scene::procgen::clouds::XorShift(0xDEAD_BEEF_1234_5678);
        let mut next = || rng.next_f32();
        (0..n)
            .map(|k| {
                let target = Vec3::new(next() * 2.5, next() * 2.5, next() * 0.4 - 0.2);
                let origin = match k % 3 {
                    0 => Vec3::new(next() * 2.5, next() * 2.5, 3.0),
                    1 => Vec3::new(-1.0, next() * 2.5, next()),
                    _ => target + Vec3::new(next() - 0.5, next() - 0.5, 1.0) * 2.0,
                };
                (origin, target - origin)
            })
            .collect()
    }

    #[test]
    fn bvh_picking_equals_brute_force_on_random_rays() {
        let scene = bumpy_mesh(51);
        let bvh = Bvh::build(&scene);
        assert_eq!(bvh.kind(), BvhKind::Triangles);
        assert_eq!(bvh.prims.len(), scene.face_count());
        let mut hits = 0;
        for (origin, dir) in rays(3000) {
            for sides in [Sides::Both, Sides::Front] {
                let brute = raycast(&scene, origin, dir, 0.0, sides);
                let fast = bvh.raycast(&scene, origin, dir, 0.0, sides);
                assert_eq!(fast, brute, "ray from {origin} along {dir}");
                hits += brute.is_some() as usize;
            }
        }
        assert!(hits > 3000, "most rays hit the mesh ({hits})");
        // Axis-aligned rays (zero direction components) too.
        for (origin, dir) in [
            (Vec3::new(1.0, 1.0, 5.0), -Vec3::Z),
            (Vec3::new(-1.0, 0.6, 0.2), Vec3::X),
            (Vec3::new(0.4, -1.0, 0.1), Vec3::Y),
        ] {
            let brute = raycast(&scene, origin, dir, 0.0, Sides::Both);
            assert!(brute.is_some());
            assert_eq!(bvh.raycast(&scene, origin, dir, 0.0, Sides::Both), brute);
        }
    }

    #[test]
    fn bvh_point_picking_equals_brute_force() {
        let mut scene = bumpy_mesh(41);
        scene.triangles = None;
        let bvh = Bvh::build(&scene);
        assert_eq!(bvh.kind(), BvhKind::Points);
        let mut hits = 0;
        for (origin, dir) in rays(2000) {
            let brute = raycast(&scene, origin, dir, 0.03, Sides::Both);
            assert_eq!(bvh.raycast(&scene, origin, dir, 0.03, Sides::Both), brute);
            hits += brute.is_some() as usize;
        }
        assert!(hits > 500, "{hits}");
    }

    #[test]
    fn the_hierarchy_holds_four_bytes_a_primitive_and_its_nodes() {
        for points in [false, true] {
            let mut scene = bumpy_mesh(60);
            if points {
                scene.triangles = None;
            }
            let bvh = Bvh::build(&scene);
            let prims = if points {
                scene.positions.len()
            } else {
                scene.face_count()
            };
            // Not the 16-28 bytes a primitive of the build's working array.
            assert_eq!(bvh.prims.capacity(), prims);
            let nodes = bvh.node_count() * std::mem::size_of::<Node>();
            assert!(
                bvh.heap_bytes() <= 4 * prims + nodes + 64 * 32,
                "{}",
                bvh.heap_bytes()
            );
        }
    }

    #[test]
    fn every_primitive_sits_in_one_leaf_inside_its_box() {
        let scene = bumpy_mesh(30);
        let bvh = Bvh::build(&scene);
        let mut seen = vec![0u8; scene.face_count()];
        let tris = scene.triangles.as_ref().unwrap();
        for n in bvh.nodes.iter().filter(|n| n.count > 0) {
            assert!(n.count as usize <= TRIANGLES_PER_LEAF);
            for &t in &bvh.prims[n.start as usize..(n.start + n.count) as usize] {
                seen[t as usize] += 1;
                for v in tris[t as usize] {
                    let q = scene.positions[v as usize];
                    assert!(q.cmpge(n.min).all() && q.cmple(n.max).all());
                }
            }
        }
        assert!(seen.iter().all(|&s| s == 1));
        // Children lie inside their parents.
        for n in bvh.nodes.iter().filter(|n| n.count == 0) {
            for c in [n.start, n.start + 1] {
                let c = bvh.nodes[c as usize];
                assert!(c.min.cmpge(n.min).all() && c.max.cmple(n.max).all());
            }
        }
        // An empty scene has an empty hierarchy that hits nothing.
        let mut empty = scene.clone();
        empty.positions.clear();
        empty.triangles = None;
        let b = Bvh::build(&empty);
        assert_eq!(b.node_count(), 0);
        assert!(
            b.raycast(&empty, Vec3::ZERO, Vec3::X, 0.1, Sides::Both)
                .is_none()
        );
    }
}
