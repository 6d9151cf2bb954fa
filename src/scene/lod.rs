//! Level of detail for big point clouds: a Potree-style octree whose every node holds a
//! subsample of its region (one point per cell of a `GRID`³ grid over the node's cube, the rest
//! handed down to its eight children), and a per-frame selection that fills a point budget with
//! the nodes that look biggest on screen.
//!
//! Nodes are additive: drawing a node and some of its children draws the node's coarse sample
//! plus the children's finer ones. Every point belongs to exactly one node, and each node's
//! points are one contiguous range of [`PointLod::order`], so a selection is a list of ranges.
//!
//! Built once per scene on the loader thread (both cores through rayon); selecting is a walk over
//! a few thousand nodes and never touches the points.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use glam::{Mat4, Vec3, Vec4};

/// Cells per edge of a node's sampling grid: a node keeps at most one point per cell.
pub const GRID: u32 = 128;
/// A node with at most this many points keeps them all (it is a leaf).
pub const LEAF_POINTS: usize = 20_000;
/// Deepest level (guards against piles of identical points).
pub const MAX_LEVEL: u8 = 16;
/// Marks a missing child.
pub const NO_CHILD: u32 = u32::MAX;

/// One octree node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LodNode {
    /// Minimum corner of the node's cube, metres.
    pub min: Vec3,
    /// Edge length of the cube, metres.
    pub side_m: f32,
    /// Depth in the tree (the root is 0).
    pub level: u8,
    /// First index of the node's points in [`PointLod::order`].
    pub start: u32,
    /// Number of the node's own points.
    pub len: u32,
    /// Child node per octant (bit 0: +x half, bit 1: +y, bit 2: +z); [`NO_CHILD`] when none.
    pub children: [u32; 8],
}

impl LodNode {
    /// Centre of the cube.
    pub fn center(&self) -> Vec3 {
        self.min + Vec3::splat(self.side_m * 0.5)
    }

    /// Radius of the sphere around the cube.
    pub fn radius_m(&self) -> f32 {
        self.side_m * 0.5 * 3f32.sqrt()
    }

    /// The octant of `p` in this node (bit 0: +x, bit 1: +y, bit 2: +z).
    pub fn octant(&self, p: Vec3) -> usize {
        let c = self.center();
        (p.x >= c.x) as usize | ((p.y >= c.y) as usize) << 1 | ((p.z >= c.z) as usize) << 2
    }

    /// Whether the node has no children.
    pub fn is_leaf(&self) -> bool {
        self.children.iter().all(|&c| c == NO_CHILD)
    }
}

/// The octree over a cloud's points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointLod {
    /// Nodes; the root is node 0 (absent for an empty cloud).
    pub nodes: Vec<LodNode>,
    /// Point indices, each node's own points contiguous (`start..start + len`); empty once the
    /// cloud itself is stored in this order ([`PointLod::reorder`]), when position k holds
    /// the k-th point.
    pub order: Vec<u32>,
}

impl PointLod {
    /// Bytes the octree holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        super::vec_bytes(&self.nodes) + super::vec_bytes(&self.order)
    }

    /// The point at position `k` of the order.
    pub fn point_at(&self, k: usize) -> u32 {
        if self.order.is_empty() {
            k as u32
        } else {
            self.order.get(k).copied().unwrap_or(k as u32)
        }
    }

    /// Stores the cloud's points (positions, colours, normals) in this octree's order and
    /// drops the order (20 M points: 80 MB). Only for a scene whose vertex indices mean
    /// nothing else (no objects, no triangles); returns whether it did.
    pub fn reorder(&mut self, scene: &mut super::Scene) -> bool {
        let n = scene.positions.len();
        if self.order.len() != n || scene.triangles.is_some() || !scene.objects.is_empty() {
            return false;
        }
        fn permute<T: Copy>(v: &mut Vec<T>, order: &[u32]) {
            if v.len() == order.len() {
                *v = order.iter().map(|&i| v[i as usize]).collect();
            }
        }
        permute(&mut scene.positions, &self.order);
        permute(&mut scene.colors, &self.order);
        if let Some(normals) = scene.normals.as_mut() {
            permute(normals, &self.order);
        }
        self.order = Vec::new();
        true
    }
}

/// What the selection needs to know about the camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LodView {
    /// Camera position, metres.
    pub eye: Vec3,
    /// World to clip space (for the frustum).
    pub clip_from_world: Mat4,
    /// Pixels per metre at one metre's distance: viewport height / (2 tan(fov_y / 2)).
    pub focal_px: f32,
}

impl LodView {
    /// Projected radius of `node`, pixels (infinite when the camera is inside its sphere).
    pub fn node_priority(&self, node: &LodNode) -> f32 {
        let d = node.center().distance(self.eye);
        let r = node.radius_m();
        if d <= r {
            f32::INFINITY
        } else {
            r / d * self.focal_px
        }
    }

    /// Whether any of the cube can be on screen: not wholly outside one of the frustum's
    /// planes (conservative: a cube near a corner may pass).
    pub fn sees(&self, node: &LodNode) -> bool {
        let m = self.clip_from_world;
        let (r0, r1, r2, r3) = (m.row(0), m.row(1), m.row(2), m.row(3));
        // Gribb–Hartmann planes; wgpu's clip z runs 0..w (Bevy: reversed, infinite far).
        let planes = [r3 + r0, r3 - r0, r3 + r1, r3 - r1, r2, r3 - r2];
        let (lo, hi) = (node.min, node.min + Vec3::splat(node.side_m));
        planes.iter().all(|p| {
            // The cube corner furthest along the plane's normal.
            let v = Vec4::new(
                if p.x >= 0.0 { hi.x } else { lo.x },
                if p.y >= 0.0 { hi.y } else { lo.y },
                if p.z >= 0.0 { hi.z } else { lo.z },
                1.0,
            );
            // A plane of all zeros (the infinite far plane) rejects nothing.
            p.dot(v) >= 0.0 || p.truncate() == Vec3::ZERO
        })
    }
}

/// Builds the octree over `positions` (all the cloud's points).
pub fn build_lod(positions: &[Vec3]) -> PointLod {
    let Some(bounds) = super::Aabb::from_points(positions.iter().copied()) else {
        return PointLod::default();
    };
    let size = bounds.size();
    // A cube a little larger than the box, so the maximum corner falls inside the last cell.
    let side = size.max_element().max(1e-3) * 1.0001;
    let mut order: Vec<u32> = (0..positions.len() as u32).collect();
    let mut nodes = Vec::new();
    build_node(positions, &mut order, 0, bounds.min, side, 0, &mut nodes);
    PointLod { nodes, order }
}

/// Builds the subtree over `order` (whose first element sits at `offset` in the whole order),
/// appending its nodes to `nodes` with the subtree's root first; returns the root's index.
fn build_node(
    positions: &[Vec3],
    order: &mut [u32],
    offset: usize,
    min: Vec3,
    side_m: f32,
    level: u8,
    nodes: &mut Vec<LodNode>,
) -> u32 {
    let index = nodes.len() as u32;
    let mut node = LodNode {
        min,
        side_m,
        level,
        start: offset as u32,
        len: order.len() as u32,
        children: [NO_CHILD; 8],
    };
    if order.len() <= LEAF_POINTS || level >= MAX_LEVEL {
        shuffle(order, offset);
        nodes.push(node);
        return index;
    }
    let total = order.len();
    let kept = sample_and_partition(positions, order, &node);
    shuffle(&mut order[..kept], offset);
    node.len = kept as u32;
    nodes.push(node);
    // The rest, grouped by octant: eight contiguous runs after the kept points.
    let (_, mut rest) = order.split_at_mut(kept);
    let counts = octant_counts(positions, rest, &node);
    let mut runs: Vec<(usize, usize, &mut [u32])> = Vec::with_capacity(8);
    let mut start = offset + kept;
    for (octant, &count) in counts.iter().enumerate() {
        let (run, tail) = rest.split_at_mut(count);
        rest = tail;
        if count > 0 {
            runs.push((octant, start, run));
        }
        start += count;
    }
    let half = side_m * 0.5;
    let child_min = |octant: usize| {
        min + Vec3::new(
            (octant & 1) as f32 * half,
            ((octant >> 1) & 1) as f32 * half,
            ((octant >> 2) & 1) as f32 * half,
        )
    };
    // Subtrees are built apart (in parallel when big) and appended in octant order.
    let build = |(octant, start, run): (usize, usize, &mut [u32])| {
        let mut sub = Vec::new();
        let m = child_min(octant);
        build_node(positions, run, start, m, half, level + 1, &mut sub);
        (octant, sub)
    };
    let subtrees: Vec<(usize, Vec<LodNode>)> = if total > 200_000 {
        use rayon::prelude::*;
        runs.into_par_iter().map(build).collect()
    } else {
        runs.into_iter().map(build).collect()
    };
    for (octant, sub) in subtrees {
        let base = nodes.len() as u32;
        nodes[index as usize].children[octant] = base;
        nodes.extend(sub.into_iter().map(|mut n| {
            for c in n.children.iter_mut().filter(|c| **c != NO_CHILD) {
                *c += base;
            }
            n
        }));
    }
    index
}

/// Shuffles a node's own points (seeded by where they start), so that any prefix of them is an
/// even subsample: a budget that ends inside a node draws the node's first points.
fn shuffle(points: &mut [u32], offset: usize) {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    points.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(offset as u64));
}

/// Keeps the first point of each occupied grid cell of `node` at the front of `order` (in
/// their original order) and returns how many; the others follow, grouped by octant.
fn sample_and_partition(positions: &[Vec3], order: &mut [u32], node: &LodNode) -> usize {
    let cells = (GRID * GRID * GRID) as usize;
    let mut occupied = vec![0u64; cells.div_ceil(64)];
    let scale = GRID as f32 / node.side_m;
    let cell_of = |p: Vec3| {
        let c = ((p - node.min) * scale)
            .floor()
            .clamp(Vec3::ZERO, Vec3::splat((GRID - 1) as f32));
        (c.x as usize) + GRID as usize * ((c.y as usize) + GRID as usize * (c.z as usize))
    };
    let mut kept = Vec::new();
    let mut buckets: [Vec<u32>; 8] = Default::default();
    for &i in order.iter() {
        let p = positions[i as usize];
        let cell = cell_of(p);
        let (word, bit) = (cell / 64, 1u64 << (cell % 64));
        if occupied[word] & bit == 0 {
            occupied[word] |= bit;
            kept.push(i);
        } else {
            buckets[node.octant(p)].push(i);
        }
    }
    let n = kept.len();
    let mut at = 0;
    for part in std::iter::once(kept).chain(buckets) {
        order[at..at + part.len()].copy_from_slice(&part);
        at += part.len();
    }
    n
}

/// How many of `order`'s points fall in each octant of `node`.
fn octant_counts(positions: &[Vec3], order: &[u32], node: &LodNode) -> [usize; 8] {
    let mut counts = [0usize; 8];
    for &i in order {
        counts[node.octant(positions[i as usize])] += 1;
    }
    counts
}

/// A node waiting in the selection's queue, biggest on screen first.
#[derive(PartialEq)]
struct Queued(f32, u32);

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> Ordering {
        // Ties: the lower node index (the coarser, built first) first.
        self.0
            .total_cmp(&other.0)
            .then_with(|| other.1.cmp(&self.1))
    }
}

/// A node chosen for drawing: its first `count` points (all of them but for the last node of a
/// selection that met the budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chosen {
    /// Node index.
    pub node: u32,
    /// How many of its points are drawn.
    pub count: u32,
}

/// The nodes to draw from `view` within `budget` points: the visible node biggest on screen
/// first, then its visible children join the queue. The first node that would overflow the
/// budget is drawn in part (its first points, an even subsample since nodes are shuffled) and
/// ends the selection, so a parent always comes before its children. Returned in selection
/// order.
pub fn select(lod: &PointLod, view: &LodView, budget: u64) -> Vec<Chosen> {
    let mut chosen = Vec::new();
    let Some(root) = lod.nodes.first() else {
        return chosen;
    };
    let mut queue = BinaryHeap::new();
    if view.sees(root) {
        queue.push(Queued(view.node_priority(root), 0));
    }
    let mut total = 0u64;
    while let Some(Queued(_, i)) = queue.pop() {
        let node = &lod.nodes[i as usize];
        let left = budget - total;
        if node.len as u64 > left {
            if left > 0 {
                chosen.push(Chosen {
                    node: i,
                    count: left as u32,
                });
            }
            break;
        }
        total += node.len as u64;
        chosen.push(Chosen {
            node: i,
            count: node.len,
        });
        for &c in node.children.iter().filter(|&&c| c != NO_CHILD) {
            let child = &lod.nodes[c as usize];
            if view.sees(child) {
                queue.push(Queued(view.node_priority(child), c));
            }
        }
    }
    chosen
}

/// How much wider than the estimated gap between its points a coarse splat is drawn (points lie
/// anywhere in their grid cells, so neighbours can be further apart than the mean).
pub const GAP_TO_SPLAT: f32 = 3.0;

/// Points of the selected nodes, with each point's splat diameter: `base_px` where the point is
/// among the finest drawn around it (its node is a leaf drawn whole, or the child covering it is
/// drawn too or absent), else the gap its node's drawn points leave, seen from the camera — the
/// node's side over the square root of the points drawn, as if they covered one surface across
/// the cube (a volume of points packs many per pixel, and stays at the base size) — times
/// [`GAP_TO_SPLAT`], clamped to `base_px..=max_px`. Calls `f(point index, diameter px)`.
pub fn for_each_selected_point(
    lod: &PointLod,
    selected: &[Chosen],
    positions: &[Vec3],
    view: &LodView,
    base_px: f32,
    max_px: f32,
    mut f: impl FnMut(u32, f32),
) {
    let mut drawn = vec![false; lod.nodes.len()];
    for c in selected {
        if let Some(d) = drawn.get_mut(c.node as usize) {
            *d = true;
        }
    }
    let max_px = max_px.max(base_px);
    for c in selected {
        let Some(node) = lod.nodes.get(c.node as usize) else {
            continue;
        };
        let count = c.count.min(node.len);
        let range = node.start as usize..(node.start + count) as usize;
        // Whether the finer sample of each octant is on screen (or there is none).
        let fine = node
            .children
            .map(|c| c == NO_CHILD || drawn.get(c as usize).copied().unwrap_or(false));
        let partial = count < node.len;
        let gap_px = node.side_m / (count.max(1) as f32).sqrt() * GAP_TO_SPLAT * view.focal_px;
        for p in range.map(|k| lod.point_at(k)) {
            let Some(&pos) = positions.get(p as usize) else {
                continue;
            };
            let size = if !partial && fine[node.octant(pos)] {
                base_px
            } else {
                (gap_px / pos.distance(view.eye).max(1e-3)).clamp(base_px, max_px)
            };
            f(p, size);
        }
    }
}

/// Total points of `selected`.
pub fn selected_points(selected: &[Chosen]) -> u64 {
    selected.iter().map(|c| c.count as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic cloud on the floor and walls of a 6 x 5 x 3 m room.
    fn room_cloud(n: usize) -> Vec<Vec3> {
        let mut rng = crate::scene::procgen::clouds::XorShift(0x9E37_79B9_7F4A_7C15);
        let mut next = || rng.next_f32();
        (0..n)
            .map(|i| match i % 3 {
                0 => Vec3::new(next() * 6.0, next() * 5.0, 0.0),
                1 => Vec3::new(0.0, next() * 5.0, next() * 3.0),
                _ => Vec3::new(next() * 6.0, 5.0, next() * 3.0),
            })
            .collect()
    }

    fn view_from(eye: Vec3, target: Vec3) -> LodView {
        let fov = 0.8f32;
        let (w, h) = (1280.0, 720.0);
        let proj = Mat4::perspective_infinite_reverse_rh(fov, w / h, 0.05);
        let view = Mat4::look_at_rh(eye, target, Vec3::Z);
        LodView {
            eye,
            clip_from_world: proj * view,
            focal_px: h / (2.0 * (fov / 2.0).tan()),
        }
    }

    #[test]
    fn every_point_in_exactly_one_node_inside_its_cube() {
        let pts = room_cloud(150_000);
        let lod = build_lod(&pts);
        assert!(lod.nodes.len() > 1, "150k points must split");
        let mut seen = vec![0u8; pts.len()];
        for n in &lod.nodes {
            let range = n.start as usize..(n.start + n.len) as usize;
            for &i in &lod.order[range] {
                seen[i as usize] += 1;
                let p = pts[i as usize];
                let lo = n.min - Vec3::splat(1e-4);
                let hi = n.min + Vec3::splat(n.side_m + 1e-4);
                assert!(p.cmpge(lo).all() && p.cmple(hi).all(), "{p} outside node");
            }
            for (o, &c) in n.children.iter().enumerate() {
                if c != NO_CHILD {
                    let child = &lod.nodes[c as usize];
                    assert_eq!(child.level, n.level + 1);
                    assert!((child.side_m - n.side_m / 2.0).abs() < 1e-6);
                    assert_eq!(n.octant(child.center()), o);
                }
            }
            if !n.is_leaf() {
                // An inner node keeps at most one point per cell.
                assert!(n.len as usize <= (GRID * GRID * GRID) as usize);
            }
            assert!(n.is_leaf() || n.len > 0);
        }
        assert!(seen.iter().all(|&s| s == 1), "every point exactly once");
        // The root's sample is spread over the whole room: its points fall in all the walls.
        let root = &lod.nodes[0];
        assert!(root.len as usize > 10_000 && (root.len as usize) < 100_000);
    }

    #[test]
    fn a_cloud_stored_in_octree_order_draws_the_same_points() {
        use crate::scene::{Scene, SourceFormat};
        let pts = room_cloud(120_000);
        let colors: Vec<[u8; 3]> = (0..pts.len()).map(|i| [(i % 251) as u8, 0, 0]).collect();
        let mut scene = Scene {
            name: "c".into(),
            format: SourceFormat::Ply,
            source_path: "c".into(),
            positions: pts.clone(),
            colors: colors.clone(),
            normals: None,
            triangles: None,
            objects: vec![],
            warnings: vec![],
        };
        let lod = build_lod(&pts);
        let mut stored = lod.clone();
        assert!(stored.reorder(&mut scene));
        assert!(stored.order.is_empty());
        let v = view_from(Vec3::new(3.0, -4.0, 2.5), Vec3::new(3.0, 2.5, 1.0));
        let chosen = select(&lod, &v, 50_000);
        assert_eq!(select(&stored, &v, 50_000), chosen);
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for_each_selected_point(&lod, &chosen, &pts, &v, 2.0, 16.0, |i, px| {
            before.push((pts[i as usize], colors[i as usize], px))
        });
        for_each_selected_point(
            &stored,
            &chosen,
            &scene.positions,
            &v,
            2.0,
            16.0,
            |i, px| after.push((scene.positions[i as usize], scene.colors[i as usize], px)),
        );
        assert_eq!(before, after);
        // A scene with objects or triangles keeps its order.
        let mut meshy = scene.clone();
        meshy.triangles = Some(vec![[0, 1, 2]]);
        assert!(!build_lod(&meshy.positions).reorder(&mut meshy));
    }

    #[test]
    fn identical_points_stop_at_the_deepest_level() {
        let pts = vec![Vec3::ONE; 50_000];
        let lod = build_lod(&pts);
        assert_eq!(lod.order.len(), 50_000);
        assert!(lod.nodes.iter().all(|n| n.level <= MAX_LEVEL));
        assert!(build_lod(&[]).nodes.is_empty());
    }

    /// A hand-made hierarchy: a root of 100 points over [0, 8]³ with two children of 50 and 300,
    /// the first with a grandchild of 10.
    fn hand_made() -> PointLod {
        let node = |min: Vec3, side: f32, level: u8, start: u32, len: u32| LodNode {
            min,
            side_m: side,
            level,
            start,
            len,
            children: [NO_CHILD; 8],
        };
        let mut root = node(Vec3::ZERO, 8.0, 0, 0, 100);
        root.children[0] = 1; // near the origin
        root.children[7] = 2; // the far corner
        let mut near = node(Vec3::ZERO, 4.0, 1, 100, 50);
        near.children[0] = 3;
        let far = node(Vec3::splat(4.0), 4.0, 1, 150, 300);
        let tiny = node(Vec3::ZERO, 2.0, 2, 450, 10);
        PointLod {
            nodes: vec![root, near, far, tiny],
            order: (0..460).collect(),
        }
    }

    #[test]
    fn selection_takes_the_nearest_nodes_first_within_the_budget() {
        let lod = hand_made();
        // Looking from just outside the origin corner: the near child, then its grandchild,
        // come before the far child.
        let v = view_from(Vec3::new(-1.0, -1.0, -1.0), Vec3::splat(4.0));
        let nodes = |budget| -> Vec<(u32, u32)> {
            select(&lod, &v, budget)
                .iter()
                .map(|c| (c.node, c.count))
                .collect()
        };
        assert_eq!(nodes(10_000), [(0, 100), (1, 50), (3, 10), (2, 300)]);
        // A budget short of the far child draws part of it and stops there.
        assert_eq!(nodes(200), [(0, 100), (1, 50), (3, 10), (2, 40)]);
        assert_eq!(nodes(160), [(0, 100), (1, 50), (3, 10)]);
        assert_eq!(nodes(159), [(0, 100), (1, 50), (3, 9)]);
        assert_eq!(nodes(99), [(0, 99)]);
        assert_eq!(nodes(0), []);
        // From the far corner, the far child comes first.
        let v = view_from(Vec3::splat(9.0), Vec3::splat(4.0));
        let first: Vec<u32> = select(&lod, &v, 10_000).iter().map(|c| c.node).collect();
        assert_eq!(first[..2], [0, 2]);
        // Looking away: nothing is on screen.
        let v = view_from(Vec3::splat(-1.0), Vec3::splat(-5.0));
        assert!(select(&lod, &v, 10_000).is_empty());
    }

    #[test]
    fn selection_never_exceeds_the_budget_on_a_real_tree() {
        let pts = room_cloud(300_000);
        let lod = build_lod(&pts);
        let v = view_from(Vec3::new(3.0, -4.0, 2.5), Vec3::new(3.0, 2.5, 1.0));
        let mut last = 0;
        for budget in [0u64, 1_000, 30_000, 100_000, 200_000, 1_000_000] {
            let s = select(&lod, &v, budget);
            let n = selected_points(&s);
            assert!(n <= budget, "{n} > {budget}");
            // The budget is used up while anything on screen is left.
            assert!(
                n == budget || n == 300_000 || budget == 1_000_000,
                "{n} of {budget}"
            );
            assert!(n >= last, "a bigger budget never draws less");
            last = n;
            // Parents come before their children; only the last node is drawn in part.
            for (k, c) in s.iter().enumerate() {
                let node = &lod.nodes[c.node as usize];
                assert!(c.count == node.len || k + 1 == s.len());
                for &child in node.children.iter() {
                    if let Some(pos) = s.iter().position(|x| x.node == child) {
                        assert!(pos > k);
                    }
                }
            }
        }
        // Enough budget draws every point, all at the base size.
        let s = select(&lod, &v, 10_000_000);
        assert_eq!(selected_points(&s), pts.len() as u64);
        let mut sizes = Vec::new();
        for_each_selected_point(&lod, &s, &pts, &v, 2.0, 8.0, |_, px| sizes.push(px));
        assert_eq!(sizes.len(), pts.len());
        assert!(sizes.iter().all(|&px| px == 2.0));
    }

    #[test]
    fn coarse_points_grow_to_cover_the_missing_detail() {
        let pts = room_cloud(300_000);
        let lod = build_lod(&pts);
        let v = view_from(Vec3::new(3.0, -4.0, 2.5), Vec3::new(3.0, 2.5, 1.0));
        // Only the root: its points stand for whole cells, so they are drawn bigger.
        let root = lod.nodes[0];
        let sizes = |chosen: &[Chosen]| {
            let mut sizes = Vec::new();
            for_each_selected_point(&lod, chosen, &pts, &v, 2.0, 30.0, |_, px| sizes.push(px));
            sizes
        };
        let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
        let whole = sizes(&[Chosen {
            node: 0,
            count: root.len,
        }]);
        assert_eq!(whole.len(), root.len as usize);
        assert!(whole.iter().all(|&px| (2.0..=30.0).contains(&px)));
        // The root's ~50 k points over 6 m: a gap of ~2.7 cm, three times that wide, seen from
        // ~4-9 m with a focal of ~870 px: 8-18 px.
        assert!(mean(&whole) > 8.0, "mean splat {} px", mean(&whole));
        // A quarter of the root: points twice as far apart, splats twice as wide.
        let quarter = sizes(&[Chosen {
            node: 0,
            count: root.len / 4,
        }]);
        assert_eq!(quarter.len(), root.len as usize / 4);
        let ratio = mean(&quarter) / mean(&whole);
        assert!((1.8..=2.2).contains(&ratio), "{ratio}");
        // The root's shuffled first quarter is spread like the whole: about 4 in 10 on the
        // floor, as in the cloud.
        let on_floor = lod.order[..quarter.len()]
            .iter()
            .filter(|&&i| pts[i as usize].z == 0.0)
            .count() as f32
            / quarter.len() as f32;
        assert!((0.2..0.6).contains(&on_floor), "{on_floor}");
    }
}
