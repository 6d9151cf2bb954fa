//! Scenes built by hand for unit tests.

use glam::Vec3;

use crate::scene::mesh::TriMesh;
use crate::scene::{Scene, SourceFormat};

/// A hand-built room: a table (top 0.75 m on four legs), a cup on it, a chair 15 cm from its
/// edge, a lamp 2 m away, and a floor.
pub(crate) fn room() -> Scene {
    let mut parts: Vec<(&str, TriMesh)> = Vec::new();
    let mut floor = TriMesh::default();
    floor.add_grid(
        Vec3::new(-2.0, -2.0, 0.0),
        Vec3::new(5.0, 3.0, 0.0),
        14,
        10,
        [100; 3],
    );
    parts.push(("floor", floor));
    let mut table = TriMesh::default();
    table.add_box(
        Vec3::new(0.0, 0.0, 0.72),
        Vec3::new(1.2, 0.8, 0.75),
        [150, 100, 50],
    );
    for (x, y) in [(0.0, 0.0), (1.15, 0.0), (0.0, 0.75), (1.15, 0.75)] {
        table.add_box(
            Vec3::new(x, y, 0.0),
            Vec3::new(x + 0.05, y + 0.05, 0.72),
            [150, 100, 50],
        );
    }
    parts.push(("table", table));
    let mut cup = TriMesh::default();
    cup.add_frustum(Vec3::new(0.6, 0.4, 0.75), 0.04, 0.04, 0.1, 24, [200, 0, 0]);
    parts.push(("cup", cup));
    let mut chair = TriMesh::default();
    // 15 cm beyond the table's +x edge (x = 1.2).
    chair.add_box(
        Vec3::new(1.35, 0.05, 0.0),
        Vec3::new(1.8, 0.75, 0.45),
        [0, 0, 200],
    );
    chair.add_box(
        Vec3::new(1.75, 0.05, 0.45),
        Vec3::new(1.8, 0.75, 0.9),
        [0, 0, 200],
    );
    parts.push(("chair", chair));
    let mut lamp = TriMesh::default();
    lamp.add_frustum(
        Vec3::new(-1.5, 2.6, 0.0),
        0.15,
        0.15,
        1.5,
        16,
        [250, 250, 200],
    );
    parts.push(("lamp", lamp));
    scene_from_parts("room", &parts)
}

/// A scene whose objects are the given labelled meshes, with ids 1, 2, … in order.
pub(crate) fn scene_from_parts(name: &str, parts: &[(&str, TriMesh)]) -> Scene {
    let mut all = TriMesh::default();
    let mut ranges = Vec::new();
    for (label, m) in parts {
        let start = all.append(m);
        ranges.push((*label, start..all.len() as u32));
    }
    let mut scene = Scene {
        name: name.into(),
        format: SourceFormat::Ply,
        source_path: name.into(),
        colors: all.colors,
        positions: all.positions,
        normals: None,
        triangles: Some(all.triangles),
        objects: vec![],
        warnings: vec![],
    };
    scene.objects = ranges
        .into_iter()
        .enumerate()
        .filter_map(|(i, (label, r))| scene.make_object(i as u32 + 1, label, r.collect()))
        .collect();
    scene
}

/// Writes a ScanNet SensReader-style export of `cams`' views of `scene` into `root` (which gets
/// `color/`, `depth/`, `pose/`, `intrinsic/`): colour JPEGs, 16-bit millimetre depth PNGs, and
/// each pose as `scan_from_aligned · world_from_camera`. Returns the rendered views.
pub(crate) fn write_scannet_frames(
    root: &std::path::Path,
    scene: &Scene,
    cams: &[crate::render::Camera],
    scan_from_aligned: glam::Mat4,
) -> Vec<crate::render::RenderedView> {
    use crate::render::{Rasterizer, RenderOptions};
    for d in ["color", "depth", "pose", "intrinsic"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let write_m = |path: std::path::PathBuf, m: glam::Mat4| {
        let rows: Vec<String> = (0..4)
            .map(|r| m.row(r).to_array().map(|v| v.to_string()).join(" "))
            .collect();
        std::fs::write(path, rows.join("\n")).unwrap();
    };
    let k = cams[0].intrinsics;
    let kmat = glam::Mat4::from_cols_array_2d(&[
        [k.fx, 0.0, 0.0, 0.0],
        [0.0, k.fy, 0.0, 0.0],
        [k.cx, k.cy, 1.0, 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ]);
    write_m(root.join("intrinsic/intrinsic_depth.txt"), kmat);
    write_m(root.join("intrinsic/intrinsic_color.txt"), kmat);
    let raster = Rasterizer::new(scene, RenderOptions::default());
    let (w, h) = (k.width, k.height);
    let mut views = Vec::new();
    for (i, cam) in cams.iter().enumerate() {
        let view = raster.render(cam);
        image::RgbImage::from_raw(w, h, view.rgb.clone())
            .unwrap()
            .save(root.join(format!("color/{i}.jpg")))
            .unwrap();
        let mm: Vec<u16> = view
            .depth_m
            .iter()
            .map(|d| (d * 1000.0).round() as u16)
            .collect();
        image::ImageBuffer::<image::Luma<u16>, _>::from_raw(w, h, mm)
            .unwrap()
            .save(root.join(format!("depth/{i}.png")))
            .unwrap();
        write_m(
            root.join(format!("pose/{i}.txt")),
            scan_from_aligned * cam.world_from_camera(),
        );
        views.push(view);
    }
    views
}
