use glam::{Mat4, Vec3};

use super::frames::{find_frames, read_matrix4};
use super::raster::NO_INSTANCE;
use super::*;
use crate::scene::mesh::TriMesh;
use crate::scene::procgen;
use crate::test_scenes::scene_from_parts;

fn k(w: u32, h: u32) -> Intrinsics {
    Intrinsics::from_hfov(w, h, 90.0)
}

/// From 1.5 m above the origin, looking at `target`: the camera and what it sees.
fn look(scene: &crate::scene::Scene, target: Vec3, w: u32, h: u32) -> (Camera, RenderedView) {
    let cam = Camera::look_at(Vec3::new(0.0, 0.0, 1.5), target, k(w, h)).unwrap();
    let view = Rasterizer::new(scene, RenderOptions::default()).render(&cam);
    (cam, view)
}

/// A square floor at z = 0 reaching `half_m` from the origin, as two triangles.
fn floor_scene(half_m: f32) -> crate::scene::Scene {
    let mut floor = TriMesh::default();
    let side = 2.0 * half_m;
    floor.add_quad_grid(
        Vec3::new(-half_m, -half_m, 0.0),
        Vec3::new(side, 0.0, 0.0),
        Vec3::new(0.0, side, 0.0),
        Vec3::Z,
        (1, 1),
        [90; 3],
    );
    scene_from_parts("floor", &[("floor", floor)])
}

fn wall_scene(x: f32) -> crate::scene::Scene {
    let mut wall = TriMesh::default();
    // A 20x20 m wall facing -x at distance x.
    wall.add_quad_grid(
        Vec3::new(x, -10.0, -10.0),
        Vec3::new(0.0, 20.0, 0.0),
        Vec3::new(0.0, 0.0, 20.0),
        Vec3::NEG_X,
        (4, 4),
        [200, 100, 50],
    );
    scene_from_parts("wall", &[("wall", wall)])
}

#[test]
fn projection_follows_opencv() {
    let cam = Camera::look_at(
        Vec3::new(0.0, 0.0, 1.5),
        Vec3::new(5.0, 0.0, 1.5),
        k(64, 48),
    )
    .unwrap();
    let (p, d) = cam.project(Vec3::new(3.0, 0.0, 1.5)).unwrap();
    assert!((p.x - 31.5).abs() < 1e-4 && (p.y - 23.5).abs() < 1e-4 && (d - 3.0).abs() < 1e-5);
    // World -y is the camera's right (+u) when looking along +x with z up; world +z is up (-v).
    let (p, _) = cam.project(Vec3::new(3.0, -1.0, 2.0)).unwrap();
    let f = cam.intrinsics.fx;
    assert!((p.x - (31.5 + f / 3.0)).abs() < 1e-3 && (p.y - (23.5 - f * 0.5 / 3.0)).abs() < 1e-3);
    assert!(cam.project(Vec3::new(-1.0, 0.0, 1.5)).is_none());
    let back = cam.unproject(p.x, p.y, 3.0);
    assert!(back.distance(Vec3::new(3.0, -1.0, 2.0)) < 1e-4);
    // Extrinsics are camera-from-world [R|t]: the eye maps to the origin.
    let e = cam.extrinsics();
    let eye = Vec3::new(0.0, 0.0, 1.5);
    for r in e {
        assert!((r[0] * eye.x + r[1] * eye.y + r[2] * eye.z + r[3]).abs() < 1e-5);
    }
}

#[test]
fn plane_at_known_distance_has_that_depth_everywhere() {
    let scene = wall_scene(3.0);
    let (_, view) = look(&scene, Vec3::new(5.0, 0.0, 1.5), 40, 30);
    for d in &view.depth_m {
        assert!((d - 3.0).abs() < 1e-4, "{d}");
    }
    assert!(view.instance.iter().all(|&i| i == 1));
}

#[test]
fn floor_depth_is_perspective_correct() {
    let scene = floor_scene(20.0);
    let (cam, view) = look(&scene, Vec3::new(5.0, 0.0, 1.5), 64, 64);
    let (f, cy) = (cam.intrinsics.fy, cam.intrinsics.cy);
    for v in 40..64u32 {
        // A ray through row v meets the floor 1.5 m below at depth 1.5 f / (v - cy).
        let expected = 1.5 * f / (v as f32 - cy);
        let got = view.depth_m[(v * 64 + 32) as usize];
        assert!(
            (got - expected).abs() / expected < 1e-3,
            "row {v}: {got} vs {expected}"
        );
    }
    // Above the horizon there is nothing.
    assert_eq!(view.depth_m[(10 * 64 + 32) as usize], 0.0);
    assert_eq!(view.instance[(10 * 64 + 32) as usize], NO_INSTANCE);
}

#[test]
fn box_covers_its_projected_area_and_lands_on_its_pixel() {
    // A 0.5 m cube whose front face is 2 m from the camera, centred on (2.25, 0.3, 1.7).
    let mut cube = TriMesh::default();
    let c = Vec3::new(2.25, 0.3, 1.7);
    cube.add_box(c - Vec3::splat(0.25), c + Vec3::splat(0.25), [10, 200, 10]);
    let scene = scene_from_parts("cube", &[("cube", cube)]);
    let (cam, view) = look(&scene, Vec3::new(5.0, 0.0, 1.5), 128, 128);
    let f = cam.intrinsics.fx;
    let side_px = 0.5 * f / 2.0;
    let area = view.pixels_of(1) as f32;
    assert!(
        (area - side_px * side_px).abs() <= 4.0 * side_px + 4.0,
        "{area} vs {}",
        side_px * side_px
    );
    // The centre of the covered pixels is the projection of the front face's centre.
    let (mut sx, mut sy) = (0.0, 0.0);
    for (i, &id) in view.instance.iter().enumerate() {
        if id == 1 {
            sx += (i % 128) as f32;
            sy += (i / 128) as f32;
        }
    }
    let (p, _) = cam.project(Vec3::new(2.0, 0.3, 1.7)).unwrap();
    assert!(
        (sx / area - p.x).abs() < 0.75 && (sy / area - p.y).abs() < 0.75,
        "{} {} vs {p}",
        sx / area,
        sy / area
    );
    let center = view.depth_m[(p.y.round() as usize) * 128 + p.x.round() as usize];
    assert!((center - 2.0).abs() < 1e-4, "{center}");
    // Colour is the vertex colour, shaded by at most the ambient floor.
    let i = (p.y.round() as usize) * 128 + p.x.round() as usize;
    assert!(view.rgb[i * 3 + 1] > 150 && view.rgb[i * 3] < 20);
    // Deterministic.
    assert_eq!(
        view,
        Rasterizer::new(&scene, RenderOptions::default()).render(&cam)
    );
}

#[test]
fn near_plane_clipping_keeps_the_visible_part() {
    // A floor strip starting behind the camera: still drawn in front of it.
    let scene = wall_scene(0.02);
    let (_, view) = look(&scene, Vec3::new(5.0, 0.0, 1.5), 16, 16);
    // The wall is closer than the near plane: nothing drawn.
    assert!(view.depth_m.iter().all(|&d| d == 0.0));
    // A floor reaching from behind the camera far ahead, seen looking down at 56°: its two big
    // triangles cross the near plane and must still fill the whole image.
    let scene = floor_scene(50.0);
    let (_, view) = look(&scene, Vec3::new(1.0, 0.0, 0.0), 32, 32);
    assert!(view.depth_m.iter().all(|&d| d > 0.0));
    // The centre ray hits (1, 0, 0): depth = its distance from the eye, √(1 + 1.5²).
    let centre = (view.depth_m[15 * 32 + 15] + view.depth_m[16 * 32 + 16]) / 2.0;
    assert!((centre - 3.25f32.sqrt()).abs() < 0.05, "{centre}");
}

#[test]
fn point_clouds_render_as_splats() {
    // A 4x4 m grid of points every 2 cm on the plane x = 3.
    let mut scene = wall_scene(3.0);
    let mut positions = Vec::new();
    for i in 0..200 {
        for j in 0..200 {
            positions.push(Vec3::new(
                3.0,
                -2.0 + i as f32 * 0.02,
                -0.5 + j as f32 * 0.02,
            ));
        }
    }
    scene.colors = vec![[255, 0, 0]; positions.len()];
    scene.positions = positions;
    scene.triangles = None;
    scene.objects.clear();
    let (_, view) = look(&scene, Vec3::new(5.0, 0.0, 1.5), 48, 48);
    let covered: Vec<f32> = view.depth_m.iter().copied().filter(|&d| d > 0.0).collect();
    // The plane spans ±2 m at 3 m: the middle 2/3 of the width and the rows from z = -0.5 to 3.5.
    assert!(
        covered.len() >= 48 * 48 * 4 / 9 * 95 / 100,
        "{}",
        covered.len()
    );
    assert!(covered.iter().all(|d| (d - 3.0).abs() < 1e-4));
}

#[test]
fn cameras_stand_in_the_room_at_eye_height_and_see_their_targets() {
    for index in [0, 5, 11] {
        let g = procgen::generate(3, index);
        let (scene, _) = g.to_scene();
        let opts = PlacementOptions {
            views: 6,
            seed: 1,
            intrinsics: k(64, 64),
        };
        let cams = place_cameras(&scene, &opts);
        assert_eq!(cams.len(), 6);
        assert_eq!(cams, place_cameras(&scene, &opts), "deterministic");
        let floor = scene
            .objects
            .iter()
            .find(|o| o.category == crate::scene::Category::Floor)
            .unwrap();
        let raster = Rasterizer::new(&scene, RenderOptions::default());
        let mut informative = 0;
        for cam in &cams {
            let eye = cam.eye();
            let h = eye.z - floor.aabb.min.z;
            assert!((1.2..=1.8).contains(&h), "eye height {h}");
            assert!(eye.x > floor.aabb.min.x && eye.x < floor.aabb.max.x);
            assert!(eye.y > floor.aabb.min.y && eye.y < floor.aabb.max.y);
            for o in scene.objects.iter().filter(|o| !o.category.is_structure()) {
                let inside = eye.cmpge(o.aabb.min).all() && eye.cmple(o.aabb.max).all();
                assert!(!inside, "eye inside {}", o.raw_label);
            }
            let view = raster.render(cam);
            let mut ids: Vec<i32> = view.instance.iter().copied().filter(|&i| i >= 0).collect();
            ids.sort_unstable();
            ids.dedup();
            let furniture = ids
                .iter()
                .filter(|&&i| {
                    scene
                        .object(i as u32)
                        .is_some_and(|o| !o.category.is_structure())
                })
                .count();
            if furniture >= 2 {
                informative += 1;
            }
            // Generated rooms have no ceiling: above the walls there is nothing.
            assert!(view.depth_m.iter().filter(|&&d| d > 0.0).count() > 64 * 64 / 2);
        }
        assert!(
            informative >= 5,
            "scene {index}: {informative} of 6 views show 2+ objects"
        );
        // Consecutive views overlap like video frames: a good part of the 3D points one sees
        // (back-projected from its depth) are seen, unoccluded, by the next.
        let views: Vec<_> = cams.iter().map(|c| raster.render(c)).collect();
        for (i, w) in cams.windows(2).enumerate() {
            let shared = shared_points(&w[0], &views[i], &w[1], &views[i + 1]);
            assert!(
                shared >= 0.2,
                "scene {index}: views {i}, {} share {shared}",
                i + 1
            );
            assert!(
                shared < 0.95,
                "scene {index}: views {i}, {} are the same view",
                i + 1
            );
        }
    }
}

/// Share of `a`'s valid pixels (every 4th row and column) that `b` sees at the same depth.
fn shared_points(a: &Camera, va: &RenderedView, b: &Camera, vb: &RenderedView) -> f32 {
    let (w, h) = (va.width as usize, va.height as usize);
    let (mut all, mut seen) = (0, 0);
    for y in (2..h).step_by(4) {
        for x in (2..w).step_by(4) {
            let d = va.depth_m[y * w + x];
            if d <= 0.0 {
                continue;
            }
            all += 1;
            let p = a.unproject(x as f32 + 0.5, y as f32 + 0.5, d);
            let Some((uv, z)) = b.project(p) else {
                continue;
            };
            let (u, v) = (uv.x.floor(), uv.y.floor());
            if u < 0.0 || v < 0.0 || u >= vb.width as f32 || v >= vb.height as f32 {
                continue;
            }
            let db = vb.depth_m[v as usize * vb.width as usize + u as usize];
            if db > 0.0 && (db - z).abs() <= 0.05 + 0.1 * z {
                seen += 1;
            }
        }
    }
    seen as f32 / all.max(1) as f32
}

/// The views together show more of the room's furniture than views aimed at its largest pieces
/// alone would need: at least 70% of the furniture of generated rooms reaches 40 px at 112².
#[test]
fn views_cover_most_of_the_furniture() {
    let (mut objects, mut covered) = (0, 0);
    for index in 0..8 {
        let (scene, _) = procgen::generate(9, index).to_scene();
        let cams = place_cameras(
            &scene,
            &PlacementOptions {
                views: 4,
                seed: index as u64,
                intrinsics: k(112, 112),
            },
        );
        let raster = Rasterizer::new(&scene, RenderOptions::default());
        let mut px: std::collections::BTreeMap<i32, usize> = Default::default();
        for cam in &cams {
            let view = raster.render(cam);
            let mut here: std::collections::BTreeMap<i32, usize> = Default::default();
            for &i in &view.instance {
                *here.entry(i).or_insert(0) += 1;
            }
            for (i, n) in here {
                let best = px.entry(i).or_insert(0);
                *best = (*best).max(n);
            }
        }
        for o in scene.objects.iter().filter(|o| !o.category.is_structure()) {
            objects += 1;
            covered += usize::from(px.get(&(o.id as i32)).is_some_and(|&n| n >= 40));
        }
    }
    let share = covered as f32 / objects as f32;
    assert!(share >= 0.7, "{covered} of {objects} objects shown");
}

#[test]
fn exported_scannet_frames_load_into_the_aligned_frame() {
    let g = procgen::generate(3, 2);
    let (scene, _) = g.to_scene();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // The scan frame differs from the aligned one by a rotation about z and a shift.
    let aligned_from_scan =
        Mat4::from_translation(Vec3::new(1.0, -2.0, 0.0)) * Mat4::from_rotation_z(0.4);
    let (w, h) = (80u32, 60u32);
    let kd = Intrinsics::from_hfov(w, h, 70.0);
    // Fixed cameras (independent of the placement strategy): level views across the room
    // from near its centre, 1.5 m above the floor.
    let b = scene.bounds().unwrap();
    let c = b.center();
    let cams: Vec<Camera> = [0.0f32, 2.1, 4.2]
        .iter()
        .map(|yaw| {
            let eye = Vec3::new(c.x, c.y, b.min.z + 1.5);
            let look = eye + Vec3::new(yaw.cos(), yaw.sin(), -0.2);
            Camera::look_at(eye, look, kd).unwrap()
        })
        .collect();
    let raster = Rasterizer::new(&scene, RenderOptions::default());
    crate::test_scenes::write_scannet_frames(root, &scene, &cams, aligned_from_scan.inverse());
    // A frame with lost tracking is skipped.
    std::fs::copy(root.join("color/0.jpg"), root.join("color/9.jpg")).unwrap();
    std::fs::copy(root.join("depth/0.png"), root.join("depth/9.png")).unwrap();
    std::fs::write(
        root.join("pose/9.txt"),
        "-inf -inf -inf -inf\n-inf -inf -inf -inf\n-inf -inf -inf -inf\n-inf -inf -inf -inf",
    )
    .unwrap();
    let set = find_frames(root).unwrap();
    assert_eq!(set.ids, vec![0, 1, 2, 9]);
    assert_eq!(set.pick(10).unwrap(), vec![0, 1, 2]);
    for (i, cam) in cams.iter().enumerate() {
        let frame = set.load(i as u32, 40, &aligned_from_scan).unwrap();
        // The pose comes back in the aligned frame.
        assert!(frame.camera.eye().distance(cam.eye()) < 1e-4);
        // Depth at half resolution matches a render with the frame's own camera.
        let render = raster.render(&frame.camera);
        let mut diffs: Vec<f32> = frame
            .depth_m
            .iter()
            .zip(&render.depth_m)
            .map(|(a, b)| (a - b).abs())
            .collect();
        diffs.sort_by(f32::total_cmp);
        assert!(
            diffs[diffs.len() / 2] < 0.02,
            "median depth error {}",
            diffs[diffs.len() / 2]
        );
        let mean_rgb_diff: f32 = frame
            .rgb
            .iter()
            .zip(&render.rgb)
            .map(|(a, b)| (*a as f32 - *b as f32).abs())
            .sum::<f32>()
            / frame.rgb.len() as f32;
        assert!(mean_rgb_diff < 20.0, "{mean_rgb_diff}");
    }
    // Broken inputs name the file.
    std::fs::write(root.join("intrinsic/intrinsic_depth.txt"), "1 2 3").unwrap();
    let err = set.load(0, 40, &Mat4::IDENTITY).unwrap_err().to_string();
    assert!(
        err.contains("intrinsic_depth.txt") && err.contains("16 numbers"),
        "{err}"
    );
    std::fs::write(root.join("depth/1.png"), b"not a png").unwrap();
    let err = set.load(1, 40, &Mat4::IDENTITY).unwrap_err().to_string();
    assert!(err.contains("1.png"), "{err}");
    let err = read_matrix4(&root.join("pose/77.txt"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("77.txt"), "{err}");
}

#[test]
fn cameras_are_the_same_whether_floor_rays_go_through_a_bvh_or_not() {
    use super::placement::{EYE_MAX_M, EYE_MIN_M, place_cameras_with};
    use crate::scene::bvh::Bvh;
    use crate::scene::procgen::clouds::{CloudKind, bench_cloud};
    let opts = PlacementOptions {
        views: 5,
        seed: 9,
        intrinsics: k(48, 48),
    };
    // A generated room (triangles) and a room-shaped point cloud (points, 5 cm pick radius).
    let (room, _) = procgen::generate(3, 2).to_scene();
    let (positions, colors) = bench_cloud(60_000, CloudKind::Room);
    let cloud = crate::scene::Scene {
        name: "cloud".into(),
        format: crate::scene::SourceFormat::Ply,
        source_path: "cloud.ply".into(),
        positions,
        colors,
        normals: None,
        triangles: None,
        objects: Vec::new(),
        warnings: Vec::new(),
    };
    for scene in [&room, &cloud] {
        let brute = place_cameras_with(scene, &opts, None);
        let bvh = Bvh::build(scene);
        let through = place_cameras_with(scene, &opts, Some(&bvh));
        assert_eq!(brute.len(), 5, "{}", scene.name);
        assert_eq!(through, brute, "{}", scene.name);
        // Eyes found by the floor rays, not the corner fallback: at eye height, well inside.
        let bounds = scene.bounds().unwrap();
        for cam in &brute {
            let eye = cam.eye();
            let h = eye.z - bounds.min.z;
            assert!(
                (EYE_MIN_M..=EYE_MAX_M).contains(&h),
                "{}: eye {h} m up",
                scene.name
            );
            let inside = (eye - bounds.min).min(bounds.max - eye);
            assert!(
                inside.x > 0.25 && inside.y > 0.25,
                "{}: eye at {eye}",
                scene.name
            );
        }
    }
}
