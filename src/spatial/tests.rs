use glam::{Mat4, Vec3};

use super::direction::{Horizontal, Observer, above};
use super::*;
use crate::scene::Category;
use crate::scene::procgen::generate;

use crate::test_scenes::room;

const FLOOR: u32 = 1;
const TABLE: u32 = 2;
const CUP: u32 = 3;
const CHAIR: u32 = 4;
const LAMP: u32 = 5;

#[test]
fn cup_on_table_touches_and_is_supported() {
    let s = room();
    let sp = SpatialScene::new(&s);
    let r = sp.pair(CUP, TABLE).unwrap();
    assert!(r.distance_m < 0.02, "{}", r.distance_m);
    assert!(
        r.contact && r.a_on_b && !r.b_on_a && r.near && !r.far,
        "{r:?}"
    );
    // The table stands on the floor, the cup does not.
    assert!(sp.on(TABLE, FLOOR).unwrap());
    assert!(!sp.on(CUP, FLOOR).unwrap());
    assert!(!sp.on(FLOOR, TABLE).unwrap());
}

#[test]
fn chair_15cm_from_table_is_near_without_contact() {
    let s = room();
    let sp = SpatialScene::new(&s);
    let r = sp.pair(CHAIR, TABLE).unwrap();
    assert!((r.distance_m - 0.15).abs() < 0.02, "{}", r.distance_m);
    assert!(
        !r.contact && r.near && !r.far && !r.a_on_b && !r.b_on_a,
        "{r:?}"
    );
}

#[test]
fn lamp_2m_away_is_far() {
    let s = room();
    let sp = SpatialScene::new(&s);
    // The lamp's base edge is at (-1.35..-1.65, 2.45..2.75); the table's corner at (0, 0.8).
    let r = sp.pair(LAMP, TABLE).unwrap();
    // From the lamp's axis to the table's nearest corner, less the lamp's radius.
    let want = glam::Vec2::new(-1.5, 2.6).distance(glam::Vec2::new(0.0, 0.8)) - 0.15;
    assert!(r.far && !r.near && !r.contact, "{r:?}");
    assert!(
        (r.distance_m - want).abs() < 0.03,
        "{} vs {want}",
        r.distance_m
    );
    // Closest and farthest from the table among the others.
    assert_eq!(sp.extreme(TABLE, &[CUP, CHAIR, LAMP], true).unwrap().0, CUP);
    assert_eq!(
        sp.extreme(TABLE, &[CUP, CHAIR, LAMP], false).unwrap().0,
        LAMP
    );
    assert_eq!(sp.extreme(CHAIR, &[CUP, LAMP], true).unwrap().0, CUP);
    // Unknown ids.
    assert!(sp.pair(CUP, 99).is_none());
    // All pairs leave the floor out unless asked.
    assert_eq!(sp.all_pairs(false).len(), 6);
    assert_eq!(sp.all_pairs(true).len(), 10);
}

#[test]
fn sizes_and_counts() {
    let s = room();
    let table = s.object(TABLE).unwrap();
    let cup = s.object(CUP).unwrap();
    let lamp = s.object(LAMP).unwrap();
    let c = compare_sizes(table, cup);
    assert!(c.bigger && c.taller && c.wider);
    let c = compare_sizes(lamp, table);
    assert!(c.taller && !c.wider);
    assert_eq!(count(&s, Category::Chair), 1);
    assert_eq!(count(&s, Category::Sofa), 0);
}

#[test]
fn directions_from_a_standpoint_and_a_camera() {
    let s = room();
    let (table, chair, lamp, cup) = (
        s.object(TABLE).unwrap().aabb,
        s.object(CHAIR).unwrap().aabb,
        s.object(LAMP).unwrap().aabb,
        s.object(CUP).unwrap().aabb,
    );
    // Standing at the chair facing the table (looking towards -x, so +y is to the right).
    let obs = Observer::standing_at_facing(chair.center(), table.center()).unwrap();
    assert!((obs.facing - Vec3::new(-1.0, -0.0, 0.0)).length() < 0.2);
    assert_eq!(obs.horizontal(cup.center()), Some(Horizontal::Front));
    assert_eq!(obs.horizontal(lamp.center()), Some(Horizontal::Front));
    assert_eq!(
        obs.horizontal(Vec3::new(1.6, 3.0, 0.0)),
        Some(Horizontal::Right)
    );
    assert_eq!(
        obs.horizontal(Vec3::new(5.0, 0.4, 0.0)),
        Some(Horizontal::Back)
    );
    assert_eq!(
        obs.horizontal(Vec3::new(1.6, -3.0, 0.0)),
        Some(Horizontal::Left)
    );
    // A camera at (0.6, -3, 1.5) looking along +y (OpenCV: z forward, x right, y down).
    let world_from_camera = Mat4::from_cols(
        Vec3::X.extend(0.0),
        (-Vec3::Z).extend(0.0),
        Vec3::Y.extend(0.0),
        Vec3::new(0.6, -3.0, 1.5).extend(1.0),
    );
    let cam = Observer::from_camera(&world_from_camera).unwrap();
    assert!((cam.facing - Vec3::Y).length() < 1e-5);
    assert_eq!(cam.left_of(lamp.center(), chair.center()), Some(true));
    assert_eq!(cam.left_of(chair.center(), lamp.center()), Some(false));
    assert_eq!(cam.in_front_of(table.center(), lamp.center()), Some(true));
    assert_eq!(
        cam.left_of(cup.center(), table.center()),
        None,
        "same left-right position"
    );
    assert_eq!(above(&cup, &table), Some(true));
    assert_eq!(above(&table, &cup), Some(false));
    assert_eq!(above(&chair, &table), None);
}

#[test]
fn generated_supports_are_recovered_and_chairs_never_touch() {
    for i in 0..6 {
        let g = generate(3, i);
        let (scene, _) = g.to_scene();
        let sp = SpatialScene::new(&scene);
        for o in g.objects.iter().filter(|o| o.support.is_some()) {
            let sup = o.support.unwrap();
            assert!(
                sp.on(o.id, sup).unwrap(),
                "{}: {} #{} not found on {} #{sup}",
                g.name,
                o.label,
                o.id,
                scene.object(sup).unwrap().raw_label
            );
        }
        for chair in scene
            .objects
            .iter()
            .filter(|o| o.raw_label == "chair" || o.raw_label == "office chair")
        {
            let tables: Vec<u32> = scene
                .objects
                .iter()
                .filter(|o| matches!(o.category, Category::Table | Category::Desk))
                .map(|o| o.id)
                .collect();
            let (_, d) = sp.extreme(chair.id, &tables, true).unwrap();
            assert!(
                d > CONTACT_M && d <= NEAR_M,
                "{}: chair {} m from a table",
                g.name,
                d
            );
        }
    }
}
