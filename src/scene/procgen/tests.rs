use std::collections::{HashMap, HashSet};

use super::*;
use crate::scene::{Category, LoadOptions, load_scene};

fn category(o: &GenObject) -> Category {
    Category::from_label(&o.label)
}

/// Gap between two boxes (0 when they touch or overlap).
fn box_gap(a: &Aabb, b: &Aabb) -> f32 {
    let d = (a.min - b.max).max(b.min - a.max).max(Vec3::ZERO);
    d.length()
}

fn scenes(n: u32) -> Vec<GeneratedScene> {
    (0..n).map(|i| generate(11, i)).collect()
}

#[test]
fn deterministic_from_seed_and_index() {
    let (a, sa) = generate(5, 2).to_scene();
    let (b, sb) = generate(5, 2).to_scene();
    assert_eq!(a.positions, b.positions);
    assert_eq!(a.colors, b.colors);
    assert_eq!(sa, sb);
    assert_eq!(a.objects, b.objects);
    let (c, _) = generate(5, 3).to_scene();
    assert_ne!(a.positions, c.positions);
    let (d, _) = generate(6, 2).to_scene();
    assert_ne!(a.positions, d.positions);
}

#[test]
fn every_room_type_and_many_categories_appear() {
    let all = scenes(40);
    let types: HashSet<&str> = all.iter().map(|s| s.room_type).collect();
    assert_eq!(types.len(), ROOM_TYPES.len(), "{types:?}");
    let cats: HashSet<Category> = all
        .iter()
        .flat_map(|s| s.objects.iter().map(category))
        .collect();
    for c in [
        Category::Bed,
        Category::Chair,
        Category::Sofa,
        Category::Table,
        Category::Desk,
        Category::Bookshelf,
        Category::Cabinet,
        Category::Counter,
        Category::Refrigerator,
        Category::Toilet,
        Category::Sink,
        Category::Bathtub,
        Category::GarbageBin,
        Category::Door,
        Category::Window,
        Category::Picture,
        Category::Curtain,
        Category::Cup,
        Category::Monitor,
        Category::Books,
        Category::Lamp,
        Category::Pillow,
        Category::Nightstand,
        Category::Television,
        Category::Plant,
        Category::Whiteboard,
    ] {
        assert!(cats.contains(&c), "no {c} in 40 scenes");
    }
    // Nothing generated falls through to the catch-all category.
    assert!(!cats.contains(&Category::OtherProp), "{cats:?}");
}

#[test]
fn small_objects_stand_on_their_supports() {
    for s in scenes(30) {
        let by_id: HashMap<u32, &GenObject> = s.objects.iter().map(|o| (o.id, o)).collect();
        for o in s.objects.iter().filter(|o| o.support.is_some()) {
            let sup = by_id[&o.support.unwrap()];
            let (a, b) = (o.world_aabb(), sup.world_aabb());
            // Resting on it: the bottom is on one of its surfaces, the footprint inside it.
            let top = sup
                .model
                .surfaces
                .iter()
                .map(|x| x.z)
                .fold(f32::MIN, f32::max);
            let on_a_surface = sup
                .model
                .surfaces
                .iter()
                .any(|x| (a.min.z - (sup.translation.z + x.z)).abs() < 1e-4);
            assert!(
                on_a_surface,
                "{}: {} not on a surface of {}",
                s.name, o.label, sup.label
            );
            assert!(a.min.z <= sup.translation.z + top + 1e-4);
            assert!(
                box_gap(&a, &b) < 1e-4,
                "{}: {} floats above {}",
                s.name,
                o.label,
                sup.label
            );
            assert!(
                a.min.x >= b.min.x - 1e-4
                    && a.max.x <= b.max.x + 1e-4
                    && a.min.y >= b.min.y - 1e-4
                    && a.max.y <= b.max.y + 1e-4,
                "{}: {} overhangs {}",
                s.name,
                o.label,
                sup.label
            );
            let expected: &[Category] = match category(o) {
                Category::Pillow => &[Category::Bed, Category::Sofa],
                Category::Monitor | Category::Keyboard | Category::Laptop => &[Category::Desk],
                Category::Books => &[Category::Bookshelf, Category::Nightstand, Category::Table],
                Category::Cup => &[Category::Table, Category::Desk],
                Category::Television => &[Category::Cabinet],
                _ => &[],
            };
            if !expected.is_empty() {
                assert!(
                    expected.contains(&category(sup)),
                    "{}: {} on {}",
                    s.name,
                    o.label,
                    sup.label
                );
            }
        }
    }
}

#[test]
fn furniture_does_not_interpenetrate_and_stays_inside() {
    for s in scenes(30) {
        let floor_items: Vec<&GenObject> = s
            .objects
            .iter()
            .filter(|o| o.arch_kind.is_none() && o.support.is_none())
            .collect();
        for o in &floor_items {
            let b = o.world_aabb();
            assert!(
                b.min.x >= 0.0 && b.min.y >= 0.0 && b.max.x <= s.size.x && b.max.y <= s.size.y,
                "{}: {} outside the room: {b:?}",
                s.name,
                o.label
            );
            assert!(
                b.min.z >= -1e-5 && b.max.z <= s.size.z,
                "{}: {}",
                s.name,
                o.label
            );
        }
        for (i, a) in floor_items.iter().enumerate() {
            for b in &floor_items[i + 1..] {
                let (ba, bb) = (a.world_aabb(), b.world_aabb());
                let overlap =
                    (0..3).all(|k| ba.min[k] < bb.max[k] - 1e-4 && bb.min[k] < ba.max[k] - 1e-4);
                assert!(!overlap, "{}: {} overlaps {}", s.name, a.label, b.label);
            }
        }
    }
}

#[test]
fn chairs_are_near_tables_without_touching() {
    let mut checked = 0;
    for s in scenes(40) {
        let tables: Vec<Aabb> = s
            .objects
            .iter()
            .filter(|o| matches!(category(o), Category::Table | Category::Desk))
            .map(GenObject::world_aabb)
            .collect();
        for chair in s
            .objects
            .iter()
            .filter(|o| o.label.ends_with("chair") && o.label != "armchair")
        {
            let gap = tables
                .iter()
                .map(|t| box_gap(&chair.world_aabb(), t))
                .fold(f32::MAX, f32::min);
            assert!(
                gap > 0.05 && gap < 0.35,
                "{}: chair {} m from a table",
                s.name,
                gap
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} chairs");
}

#[test]
fn some_objects_are_far_apart() {
    let s = generate(11, 0);
    let furniture: Vec<Aabb> = s
        .objects
        .iter()
        .filter(|o| o.arch_kind.is_none())
        .map(GenObject::world_aabb)
        .collect();
    let max_gap = furniture
        .iter()
        .flat_map(|a| furniture.iter().map(move |b| box_gap(a, b)))
        .fold(0.0, f32::max);
    assert!(max_gap > 1.2, "largest gap {max_gap}");
}

#[test]
fn models_have_several_parts_and_segments() {
    let s = generate(11, 1);
    let (scene, segments) = s.to_scene();
    let multi_part = s
        .objects
        .iter()
        .filter(|o| o.model.parts.len() >= 3)
        .count();
    assert!(multi_part >= 3, "{multi_part}");
    let mut segs_per_object = Vec::new();
    for o in &scene.objects {
        let segs: HashSet<u32> = o
            .vertex_indices
            .iter()
            .map(|&v| segments[v as usize])
            .collect();
        segs_per_object.push(segs.len());
    }
    let several = segs_per_object.iter().filter(|&&n| n >= 2).count();
    assert!(several * 2 > segs_per_object.len(), "{segs_per_object:?}");
    // Segments never straddle two objects.
    let mut owner: HashMap<u32, u32> = HashMap::new();
    for o in &scene.objects {
        for &v in &o.vertex_indices {
            let prev = owner.insert(segments[v as usize], o.id);
            assert!(prev.is_none() || prev == Some(o.id));
        }
    }
}

fn assert_same_objects(generated: &Scene, loaded: &Scene, tol: f32) {
    assert_eq!(loaded.objects.len(), generated.objects.len());
    for (a, b) in generated.objects.iter().zip(&loaded.objects) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.raw_label, b.raw_label);
        assert_eq!(a.category, b.category);
        let d = a.aabb.max_corner_diff(&b.aabb);
        assert!(d < tol, "{} box differs by {d}", a.raw_label);
    }
}

#[test]
fn scannet_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        let g = generate(21, i);
        let path = g.write(dir.path(), GenFormat::ScanNet).unwrap();
        let loaded = load_scene(&path, &LoadOptions::default()).unwrap();
        let (scene, _) = g.to_scene();
        assert_eq!(loaded.format, SourceFormat::ScanNet);
        assert_eq!(loaded.name, g.name);
        assert_eq!(loaded.positions.len(), scene.positions.len());
        assert_eq!(loaded.face_count(), scene.face_count());
        assert_eq!(loaded.colors, scene.colors);
        assert_same_objects(&scene, &loaded, 1e-4);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        // The axis alignment is real: the raw file is not in the aligned frame.
        let raw =
            crate::scene::ply::read_ply(&path.join(format!("{}_vh_clean_2.ply", g.name))).unwrap();
        let moved = raw
            .positions
            .iter()
            .zip(&scene.positions)
            .map(|(a, b)| (*a - *b).length())
            .fold(0.0, f32::max);
        assert!(moved > 0.1, "{moved}");
    }
}

#[test]
fn front3d_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        let g = generate(21, i);
        let path = g.write(dir.path(), GenFormat::Front3d).unwrap();
        let loaded = load_scene(&path, &LoadOptions::default()).unwrap();
        let (scene, _) = g.to_scene();
        assert_eq!(loaded.format, SourceFormat::Front3d);
        assert_same_objects(&scene, &loaded, 1e-4);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        // A missing model folder named by the user is an error naming it.
        let boxes = load_scene(
            &path,
            &LoadOptions {
                future_dir: Some(dir.path().join("no-such-dir")),
                ..Default::default()
            },
        );
        assert!(boxes.unwrap_err().to_string().contains("no-such-dir"));
        // Without any model folder the house loads with furniture drawn as its bbox, which
        // equals the model's box (rotations are multiples of 90°).
        let iso = tempfile::tempdir().unwrap();
        let iso_json = iso.path().join("h.json");
        std::fs::copy(&path, &iso_json).unwrap();
        let bbox_scene = load_scene(&iso_json, &LoadOptions::default()).unwrap();
        assert!(
            bbox_scene
                .warnings
                .iter()
                .any(|w| w.contains("bounding boxes"))
        );
        assert_same_objects(&scene, &bbox_scene, 1e-3);
    }
}
