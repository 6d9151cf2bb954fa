//! Room recipes: what each room type holds (bedroom, living room, office, kitchen, bathroom)
//! and the small objects on its supports, placed through the layout engine (`layout.rs`).

use glam::{Mat4, Vec3};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::GenObject;
use super::furniture::{self as f, Model, pick};
use super::layout::{Layout, recenter, shell};

/// The room size and its objects.
pub(super) struct Furnished {
    pub size: Vec3,
    pub objects: Vec<GenObject>,
}

/// Puts 1..=n items made by `make` on `support`.
fn scatter(
    l: &mut Layout<'_>,
    support: Option<u32>,
    n: u32,
    label: &str,
    make: fn(&mut ChaCha8Rng) -> Model,
) {
    let Some(s) = support else { return };
    let count = l.rng.random_range(1..=n.max(1));
    for _ in 0..count {
        let m = make(l.rng);
        l.on(label, m, s, None, false);
    }
}

fn books_on_shelves(l: &mut Layout<'_>, shelf: Option<u32>) {
    let Some(s) = shelf else { return };
    let surfaces = l.objects[s as usize - 1].model.surfaces.len();
    for si in 0..surfaces {
        if l.rng.random_bool(0.25) {
            continue;
        }
        for _ in 0..l.rng.random_range(1..=4) {
            let standing = l.rng.random_bool(0.7);
            let b = f::book(l.rng, standing);
            l.on("book", b, s, Some(si), false);
        }
    }
}

fn table_with_chairs(
    l: &mut Layout<'_>,
    label: &str,
    w: f32,
    d: f32,
    h: f32,
    chairs: u32,
    office: bool,
) -> Option<u32> {
    let t = f::table(l.rng, w, d, h);
    let table = l.free(label, t, 0.8)?;
    let mut placed = 0;
    for side in [0, 1, 2, 3, 0, 1] {
        if placed >= chairs {
            break;
        }
        let c = f::chair(l.rng, office);
        let gap = l.rng.random_range(0.1..0.3);
        if l.beside(
            if office { "office chair" } else { "chair" },
            c,
            table,
            side,
            gap,
        )
        .is_some()
        {
            placed += 1;
        }
    }
    Some(table)
}

fn desk_setup(l: &mut Layout<'_>) {
    let w = l.rng.random_range(1.1..1.6);
    let d = l.rng.random_range(0.6..0.75);
    let desk_model = f::desk(l.rng, w, d);
    let Some(desk) = l.against_wall("desk", desk_model, None) else {
        return;
    };
    let m = f::monitor(l.rng);
    l.on("monitor", m, desk, None, true);
    if l.rng.random_bool(0.6) {
        let k = f::keyboard(l.rng);
        l.on("keyboard", k, desk, None, true);
    } else {
        let k = f::laptop(l.rng);
        l.on("laptop", k, desk, None, true);
    }
    scatter(l, Some(desk), 2, "cup", f::cup);
    if l.rng.random_bool(0.4) {
        let lamp = f::lamp(l.rng, false);
        l.on("lamp", lamp, desk, None, false);
    }
    // The chair faces the desk from the room side; the desk's front is its +y.
    let side = desk_front_side(&l.objects[desk as usize - 1]);
    let c = f::chair(l.rng, true);
    let gap = l.rng.random_range(0.08..0.25);
    l.beside("office chair", c, desk, side, gap);
}

/// Which side (in room axes, as `beside` counts them) a wall-placed object's front faces.
fn desk_front_side(o: &GenObject) -> usize {
    let front = Mat4::from_rotation_z(o.yaw).transform_vector3(Vec3::Y);
    if front.y > 0.5 {
        1
    } else if front.y < -0.5 {
        0
    } else if front.x > 0.5 {
        3
    } else {
        2
    }
}

fn bedroom(l: &mut Layout<'_>) {
    let double = l.rng.random_bool(0.6);
    let b = f::bed(l.rng, double);
    let bed = l.against_wall("bed", b, None);
    if let Some(bed) = bed {
        for _ in 0..l.rng.random_range(1..=3) {
            let p = f::pillow(l.rng);
            l.on("pillow", p, bed, Some(0), false);
        }
        let o = l.objects[bed as usize - 1].clone();
        // Nightstands beside the head of the bed, against the same wall.
        for dir in [-1.0f32, 1.0] {
            if l.rng.random_bool(0.3) {
                continue;
            }
            let r0 = l.rng.random_range(0.5..0.6);
            let ns = f::storage(l.rng, 0.45, 0.4, r0, 1, false);
            let ns = recenter(ns);
            let (bhalf, _) = o.model.extent();
            let (nhalf, _) = ns.extent();
            let local = Vec3::new(
                dir * (bhalf.x + nhalf.x + l.rng.random_range(0.03..0.1)),
                -bhalf.y + nhalf.y,
                0.0,
            );
            let t = o.world_from_model().transform_point3(local);
            if let Some(id) = l.try_floor("nightstand", &ns, t, o.yaw, 0.01) {
                if l.rng.random_bool(0.7) {
                    let lamp = f::lamp(l.rng, false);
                    l.on("lamp", lamp, id, None, false);
                }
                if l.rng.random_bool(0.4) {
                    let bk = f::book(l.rng, false);
                    l.on("book", bk, id, None, false);
                }
            }
        }
    }
    let (r0, r1) = (l.rng.random_range(0.9..1.4), l.rng.random_range(0.75..0.95));
    let dresser = f::storage(l.rng, r0, 0.5, r1, 3, false);
    if let Some(d) = l.against_wall("dresser", dresser, None) {
        scatter(l, Some(d), 2, "vase", f::vase);
    }
    if l.rng.random_bool(0.5) {
        let (r0, r1) = (l.rng.random_range(0.8..1.2), l.rng.random_range(1.8..2.1));
        let wardrobe = f::storage(l.rng, r0, 0.58, r1, 2, false);
        l.against_wall("wardrobe", wardrobe, None);
    }
    if l.rng.random_bool(0.4) {
        desk_setup(l);
    }
    let gb = f::garbage_bin(l.rng);
    l.free("trash can", gb, 0.3);
}

fn living_room(l: &mut Layout<'_>) {
    let seats = l.rng.random_range(2..=3);
    let s = f::sofa(l.rng, seats);
    let sofa = l.against_wall("sofa", s, None);
    if let Some(sofa) = sofa {
        for _ in 0..l.rng.random_range(1..=2) {
            let p = f::pillow(l.rng);
            l.on("pillow", p, sofa, None, false);
        }
        let side = desk_front_side(&l.objects[sofa as usize - 1]);
        // `beside` puts the table on the sofa's front side: the opposite of the side it faces from.
        let (r0, r1, r2) = (
            l.rng.random_range(0.9..1.3),
            l.rng.random_range(0.5..0.7),
            l.rng.random_range(0.38..0.48),
        );
        let t = f::table(l.rng, r0, r1, r2);
        let gap = l.rng.random_range(0.3..0.5);
        if let Some(ct) = l.beside("coffee table", t, sofa, side, gap) {
            scatter(l, Some(ct), 3, "cup", f::cup);
            if l.rng.random_bool(0.5) {
                let b = f::book(l.rng, false);
                l.on("book", b, ct, None, false);
            }
            if l.rng.random_bool(0.4) {
                let b = f::bowl(l.rng);
                l.on("bowl", b, ct, None, false);
            }
            if l.rng.random_bool(0.6) {
                let a = f::sofa(l.rng, 1);
                let side = [2, 3][l.rng.random_range(0..2)];
                let gap = l.rng.random_range(0.15..0.4);
                l.beside("armchair", a, ct, side, gap);
            }
        }
    }
    let (r0, r1) = (l.rng.random_range(1.2..1.8), l.rng.random_range(0.45..0.6));
    let stand = f::storage(l.rng, r0, 0.45, r1, 2, false);
    if let Some(st) = l.against_wall("tv stand", stand, None) {
        let tv = f::television(l.rng);
        l.on("tv", tv, st, None, true);
    }
    let bs = f::bookshelf(l.rng);
    let shelf = l.against_wall("bookshelf", bs, None);
    books_on_shelves(l, shelf);
    let lamp = f::lamp(l.rng, true);
    l.free("floor lamp", lamp, 0.2);
    let pl = f::plant(l.rng, true);
    l.free("plant", pl, 0.2);
}

fn office(l: &mut Layout<'_>) {
    desk_setup(l);
    if l.rng.random_bool(0.6) {
        desk_setup(l);
    }
    let bs = f::bookshelf(l.rng);
    let shelf = l.against_wall("bookshelf", bs, None);
    books_on_shelves(l, shelf);
    let (r0, r1) = (l.rng.random_range(0.8..1.2), l.rng.random_range(0.7..1.1));
    let cab = f::storage(l.rng, r0, 0.45, r1, 2, false);
    if let Some(c) = l.against_wall("cabinet", cab, None) {
        scatter(l, Some(c), 2, "plant", |r| f::plant(r, false));
    }
    if l.rng.random_bool(0.5) {
        table_with_chairs(l, "table", 1.4, 0.9, 0.74, 3, true);
    }
    let gb = f::garbage_bin(l.rng);
    l.free("trash can", gb, 0.25);
    let wb = f::panel(
        l.rng.random_range(1.2..1.8),
        0.9,
        0.03,
        [245, 245, 245],
        Some([170, 170, 175]),
    );
    l.on_wall("whiteboard", wb, 0.9);
}

fn kitchen(l: &mut Layout<'_>) {
    let r0 = l.rng.random_range(1.4..2.4);
    let counter = f::storage(l.rng, r0, 0.6, 0.9, 3, true);
    if let Some(c) = l.against_wall("kitchen counter", counter, None) {
        let s = f::sink(l.rng);
        l.on("sink", s, c, None, false);
        scatter(l, Some(c), 2, "bottle", f::bottle);
        scatter(l, Some(c), 1, "bowl", f::bowl);
    }
    let fr = f::refrigerator(l.rng);
    l.against_wall("refrigerator", fr, None);
    let n = l.rng.random_range(2..=4);
    let (w, d) = (l.rng.random_range(1.1..1.6), l.rng.random_range(0.75..0.95));
    if let Some(t) = table_with_chairs(l, "dining table", w, d, 0.75, n, false) {
        scatter(l, Some(t), 3, "cup", f::cup);
        scatter(l, Some(t), 1, "bottle", f::bottle);
        scatter(l, Some(t), 1, "bowl", f::bowl);
    }
    let gb = f::garbage_bin(l.rng);
    l.free("trash can", gb, 0.25);
    if l.rng.random_bool(0.5) {
        let cab = f::storage(l.rng, 0.8, 0.45, 1.9, 2, false);
        l.against_wall("cabinet", cab, None);
    }
}

fn bathroom(l: &mut Layout<'_>) {
    let tub = f::bathtub(l.rng);
    l.against_wall("bathtub", tub, None);
    let toilet = f::toilet(l.rng);
    l.against_wall("toilet", toilet, None);
    let r0 = l.rng.random_range(0.8..1.2);
    let vanity = f::storage(l.rng, r0, 0.5, 0.85, 2, true);
    if let Some(v) = l.against_wall("bathroom vanity", vanity, None) {
        let s = f::sink(l.rng);
        l.on("sink", s, v, None, false);
        scatter(l, Some(v), 2, "bottle", f::bottle);
    }
    let gb = f::garbage_bin(l.rng);
    l.free("trash can", gb, 0.2);
    let shelf = f::storage(l.rng, 0.6, 0.35, 1.2, 1, false);
    if let Some(s) = l.against_wall("shelf", shelf, None) {
        scatter(l, Some(s), 2, "bottle", f::bottle);
    }
}

/// Builds the room shell and furnishes it according to `room_type`.
pub(super) fn furnish(rng: &mut ChaCha8Rng, room_type: &str) -> Furnished {
    let (wr, dr) = match room_type {
        "Bathroom" => ((2.4, 3.4), (2.2, 3.0)),
        "LivingRoom" => ((4.5, 7.0), (3.8, 5.5)),
        _ => ((3.6, 6.0), (3.2, 5.0)),
    };
    let size = Vec3::new(
        rng.random_range(wr.0..wr.1),
        rng.random_range(dr.0..dr.1),
        rng.random_range(2.5..2.9),
    );
    let mut l = Layout::new(rng, size);
    shell(&mut l);
    match room_type {
        "Bedroom" => bedroom(&mut l),
        "LivingRoom" => living_room(&mut l),
        "Office" => office(&mut l),
        "Kitchen" => kitchen(&mut l),
        _ => bathroom(&mut l),
    }
    // A picture on a free stretch of wall, and sometimes a plant in a corner far from the rest.
    let frame = pick(l.rng, f::palette::WOOD);
    let art = pick(l.rng, f::palette::BRIGHT);
    let (pw, ph) = (l.rng.random_range(0.4..0.9), l.rng.random_range(0.3..0.7));
    let pic = f::panel(pw, ph, 0.03, art, Some(frame));
    let z0 = l.rng.random_range(1.3..1.6);
    l.on_wall("picture", pic, z0);
    if l.rng.random_bool(0.5) {
        let p = f::plant(l.rng, true);
        l.free("plant", p, 0.5);
    }
    Furnished {
        size,
        objects: l.objects,
    }
}
