//! PLY loading throughput. Run with `cargo bench --bench ply_load`; prints MB/s.
//!
//! Writes a ScanNet-like mesh (float x,y,z; uchar r,g,b,a; ~2 faces per vertex as
//! `list uchar int`) of 1M vertices in binary little endian, binary big endian and ascii, and a
//! 20M-point cloud (float x,y,z; uchar r,g,b: `spatia gen-cloud --points 20000000`) in both
//! binary byte orders, then times `spatia::scene::ply::read_ply` on each (best of several runs,
//! file in the page cache).

use std::time::{Duration, Instant};

use glam::Vec3;
use spatia::scene::ply::{PlyEncoding, PlyWrite, read_ply, write_ply};
use spatia::scene::procgen::clouds::{CloudKind, bench_cloud};

fn grid_mesh(n_side: u32) -> (Vec<Vec3>, Vec<[u8; 3]>, Vec<[u32; 3]>) {
    let mut positions = Vec::new();
    let mut colors = Vec::new();
    for j in 0..n_side {
        for i in 0..n_side {
            let (x, y) = (i as f32 * 0.01, j as f32 * 0.01);
            positions.push(Vec3::new(x, y, (x * 3.0).sin() * (y * 2.0).cos()));
            colors.push([(i % 256) as u8, (j % 256) as u8, 128]);
        }
    }
    let mut tris = Vec::new();
    for j in 0..n_side - 1 {
        for i in 0..n_side - 1 {
            let a = j * n_side + i;
            tris.push([a, a + 1, a + n_side + 1]);
            tris.push([a, a + n_side + 1, a + n_side]);
        }
    }
    (positions, colors, tris)
}

fn time_best(runs: u32, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let dir = std::env::temp_dir().join(format!("spatia-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (p, c, t) = grid_mesh(1000);
    println!(
        "ply_load: {} vertices, {} faces (ScanNet layout: xyz float, rgba uchar, list uchar int)",
        p.len(),
        t.len()
    );
    let (cp, cc) = bench_cloud(20_000_000, CloudKind::Room);
    let cases = [
        (
            "binary_little_endian",
            PlyEncoding::BinaryLittleEndian,
            5,
            false,
        ),
        ("binary_big_endian", PlyEncoding::BinaryBigEndian, 3, false),
        ("ascii", PlyEncoding::Ascii, 2, false),
        (
            "cloud_20m_little_endian",
            PlyEncoding::BinaryLittleEndian,
            3,
            true,
        ),
        (
            "cloud_20m_big_endian",
            PlyEncoding::BinaryBigEndian,
            3,
            true,
        ),
    ];
    for (name, enc, runs, cloud) in cases {
        let path = dir.join(format!("{name}.ply"));
        let ply = if cloud {
            PlyWrite {
                positions: &cp,
                colors: Some(&cc),
                alpha: false,
                normals: None,
                triangles: None,
                comment: "bench",
            }
        } else {
            PlyWrite {
                positions: &p,
                colors: Some(&c),
                alpha: true,
                normals: None,
                triangles: Some(&t),
                comment: "bench",
            }
        };
        write_ply(&path, &ply, enc).expect("write");
        let bytes = std::fs::metadata(&path).expect("stat").len() as f64;
        let mut n = 0;
        let best = time_best(runs, || {
            let m = read_ply(&path).expect("read");
            n = m.positions.len();
        });
        assert_eq!(n, ply.positions.len());
        let s = best.as_secs_f64();
        println!(
            "ply_load/{name:<24} {:>7.1} MB in {:>7.3} s  -> {:>7.1} MB/s, {:>6.2} M vertices/s",
            bytes / 1e6,
            s,
            bytes / 1e6 / s,
            n as f64 / 1e6 / s
        );
        let _ = std::fs::remove_file(&path);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
