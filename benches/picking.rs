//! Hover picking on a 5M-triangle mesh and a 20M-point cloud. Run with
//! `cargo bench --bench picking`; prints the hierarchy's build time and the time per pick ray
//! (the viewer casts one per cursor move), beside a few brute-force rays.

use std::time::Instant;

use glam::Vec3;
use spatia::scene::bvh::Bvh;
use spatia::scene::procgen::clouds::{CloudKind, XorShift, bench_cloud};
use spatia::scene::raycast::{Sides, raycast};
use spatia::scene::{DEFAULT_GREY, Scene, SourceFormat};

/// A bumpy grid of `side`² vertices and 2 (side − 1)² triangles over 8 x 8 m.
fn bumpy_mesh(side: u32) -> Scene {
    let step = 8.0 / side as f32;
    let mut positions = Vec::with_capacity((side * side) as usize);
    for j in 0..side {
        for i in 0..side {
            let (x, y) = (i as f32 * step, j as f32 * step);
            positions.push(Vec3::new(x, y, 0.3 * (x * 3.0).sin() * (y * 2.0).cos()));
        }
    }
    let mut triangles = Vec::with_capacity(2 * ((side - 1) * (side - 1)) as usize);
    for j in 0..side - 1 {
        for i in 0..side - 1 {
            let a = j * side + i;
            triangles.push([a, a + 1, a + side + 1]);
            triangles.push([a, a + side + 1, a + side]);
        }
    }
    scene("mesh", positions, Some(triangles))
}

fn scene(name: &str, positions: Vec<Vec3>, triangles: Option<Vec<[u32; 3]>>) -> Scene {
    let n = positions.len();
    Scene {
        name: name.into(),
        format: SourceFormat::Ply,
        source_path: name.into(),
        positions,
        colors: vec![DEFAULT_GREY; n],
        normals: None,
        triangles,
        objects: vec![],
        warnings: vec![],
    }
}

/// Rays from a camera above one corner towards random points of the scene's floor area.
fn hover_rays(n: usize, eye: Vec3, extent: Vec3) -> Vec<(Vec3, Vec3)> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut next = || rng.next_f32();
    (0..n)
        .map(|_| {
            let target = Vec3::new(next() * extent.x, next() * extent.y, next() * extent.z);
            (eye, target - eye)
        })
        .collect()
}

fn pick_bench(name: &str, scene: &Scene, radius_m: f32, rays: &[(Vec3, Vec3)]) {
    let t = Instant::now();
    let bvh = Bvh::build(scene);
    let build_s = t.elapsed().as_secs_f64();
    let mut times_us: Vec<f64> = Vec::with_capacity(rays.len());
    let mut hits = 0;
    for &(o, d) in rays {
        let t = Instant::now();
        let hit = bvh.raycast(scene, o, d, radius_m, Sides::Front);
        times_us.push(t.elapsed().as_secs_f64() * 1e6);
        hits += hit.is_some() as usize;
    }
    times_us.sort_by(f64::total_cmp);
    let mean = times_us.iter().sum::<f64>() / times_us.len() as f64;
    let brute: Vec<f64> = rays
        .iter()
        .take(3)
        .map(|&(o, d)| {
            let t = Instant::now();
            let hit = raycast(scene, o, d, radius_m, Sides::Front);
            let ms = t.elapsed().as_secs_f64() * 1e3;
            assert_eq!(hit, bvh.raycast(scene, o, d, radius_m, Sides::Front));
            ms
        })
        .collect();
    println!(
        "picking/{name}: hierarchy of {} nodes built in {build_s:.2} s; {} rays ({hits} hits): \
         mean {mean:.1} µs, median {:.1} µs, 99th percentile {:.1} µs, max {:.1} µs per ray; \
         brute force {:.1} ms per ray",
        bvh.node_count(),
        rays.len(),
        times_us[times_us.len() / 2],
        times_us[times_us.len() * 99 / 100],
        times_us[times_us.len() - 1],
        brute.iter().sum::<f64>() / brute.len() as f64,
    );
}

fn main() {
    let mesh = bumpy_mesh(1582);
    println!(
        "picking: mesh of {} vertices, {} triangles",
        mesh.positions.len(),
        mesh.face_count()
    );
    let rays = hover_rays(10_000, Vec3::new(-2.0, -2.0, 5.0), Vec3::new(8.0, 8.0, 0.0));
    pick_bench("mesh_5m_triangles", &mesh, 0.0, &rays);
    drop(mesh);
    let (positions, _) = bench_cloud(20_000_000, CloudKind::Room);
    let cloud = scene("cloud", positions, None);
    let rays = hover_rays(10_000, Vec3::new(3.0, -4.0, 2.5), Vec3::new(6.0, 5.0, 3.0));
    pick_bench("cloud_20m_points", &cloud, 0.02, &rays);
}
