//! Room layout: walls, door and window, then furniture per room type, placed by rejection
//! sampling so that nothing overlaps, plus small objects on the supports furniture offers.

use std::f32::consts::{FRAC_PI_2, PI};

use glam::{Mat4, Vec2, Vec3};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::GenObject;
use super::furniture::{self as f, Model, pick};
use crate::scene::Aabb;

/// The room size and its objects.
pub(super) struct Furnished {
    pub size: Vec3,
    pub objects: Vec<GenObject>,
}

#[derive(Debug, Clone, Copy)]
struct Rect {
    min: Vec2,
    max: Vec2,
}

impl Rect {
    fn overlaps(&self, o: &Rect, margin: f32) -> bool {
        self.min.x < o.max.x + margin
            && o.min.x < self.max.x + margin
            && self.min.y < o.max.y + margin
            && o.min.y < self.max.y + margin
    }
}

/// Wall sides: 0 south (y = 0), 1 north (y = D), 2 west (x = 0), 3 east (x = W).
/// The yaw that makes a model's front (+y) face into the room from that wall.
fn wall_yaw(side: usize) -> f32 {
    [0.0, PI, -FRAC_PI_2, FRAC_PI_2][side]
}

struct Layout<'r> {
    rng: &'r mut ChaCha8Rng,
    size: Vec3,
    objects: Vec<GenObject>,
    /// Floor area taken by furniture and kept free (in front of the door).
    occupied: Vec<Rect>,
    /// Items placed on each support surface: (support id, surface index, rect in room frame).
    on_surface: Vec<(u32, usize, Rect)>,
}

/// Centres a model's footprint on its origin (and shifts its surfaces along).
fn recenter(mut m: Model) -> Model {
    if let Some(b) = m.mesh.bounds() {
        let c = Vec3::new(
            (b.min.x + b.max.x) / 2.0,
            (b.min.y + b.max.y) / 2.0,
            b.min.z,
        );
        if c.length() > 0.0 {
            for p in &mut m.mesh.positions {
                *p -= c;
            }
            for s in &mut m.surfaces {
                s.z -= c.z;
                s.min -= c.truncate();
                s.max -= c.truncate();
            }
        }
    }
    m
}

fn world_aabb(model: &Model, translation: Vec3, yaw: f32) -> Aabb {
    let m = Mat4::from_translation(translation) * Mat4::from_rotation_z(yaw);
    Aabb::from_points(model.mesh.positions.iter().map(|p| m.transform_point3(*p))).unwrap_or(Aabb {
        min: translation,
        max: translation,
    })
}

fn rect_of(b: &Aabb) -> Rect {
    Rect {
        min: b.min.truncate(),
        max: b.max.truncate(),
    }
}

impl<'r> Layout<'r> {
    fn inside(&self, r: &Rect) -> bool {
        r.min.x >= 0.01
            && r.min.y >= 0.01
            && r.max.x <= self.size.x - 0.01
            && r.max.y <= self.size.y - 0.01
    }

    fn push(
        &mut self,
        label: &str,
        model: Model,
        translation: Vec3,
        yaw: f32,
        support: Option<u32>,
    ) -> u32 {
        let id = self.objects.len() as u32 + 1;
        self.objects.push(GenObject {
            id,
            label: label.to_string(),
            arch_kind: None,
            model,
            translation,
            yaw,
            support,
        });
        id
    }

    fn push_arch(&mut self, label: &str, kind: &'static str, mesh: Model) {
        let id = self.objects.len() as u32 + 1;
        self.objects.push(GenObject {
            id,
            label: label.to_string(),
            arch_kind: Some(kind),
            model: mesh,
            translation: Vec3::ZERO,
            yaw: 0.0,
            support: None,
        });
    }

    fn aabb(&self, id: u32) -> Aabb {
        self.objects[id as usize - 1].world_aabb()
    }

    /// Places a floor-standing model at `translation`/`yaw` if it fits.
    fn try_floor(
        &mut self,
        label: &str,
        model: &Model,
        translation: Vec3,
        yaw: f32,
        margin: f32,
    ) -> Option<u32> {
        let r = rect_of(&world_aabb(model, translation, yaw));
        if !self.inside(&r) || self.occupied.iter().any(|o| o.overlaps(&r, margin)) {
            return None;
        }
        self.occupied.push(r);
        Some(self.push(label, model.clone(), translation, yaw, None))
    }

    /// Places a model with its back against a wall (any wall unless `side` is given).
    fn against_wall(&mut self, label: &str, model: Model, side: Option<usize>) -> Option<u32> {
        let model = recenter(model);
        let (half, _) = model.extent();
        for _ in 0..60 {
            let s = side.unwrap_or_else(|| self.rng.random_range(0..4));
            let gap = self.rng.random_range(0.01..0.04);
            let along_len = if s < 2 { self.size.x } else { self.size.y };
            if along_len < 2.0 * half.x + 0.1 {
                continue;
            }
            let a = self
                .rng
                .random_range(half.x + 0.05..along_len - half.x - 0.05);
            let off = half.y + gap;
            let t = wall_point(self.size, s, a, off, 0.0);
            if let Some(id) = self.try_floor(label, &model, t, wall_yaw(s), 0.05) {
                return Some(id);
            }
        }
        None
    }

    /// Places a model anywhere on the free floor, at least `margin` from everything.
    fn free(&mut self, label: &str, model: Model, margin: f32) -> Option<u32> {
        let model = recenter(model);
        for _ in 0..80 {
            let t = Vec3::new(
                self.rng.random_range(0.3..self.size.x - 0.3),
                self.rng.random_range(0.3..self.size.y - 0.3),
                0.0,
            );
            let yaw = self.rng.random_range(0..4) as f32 * FRAC_PI_2;
            if let Some(id) = self.try_floor(label, &model, t, yaw, margin) {
                return Some(id);
            }
        }
        None
    }

    /// Places a model beside `target` (on side 0..4 of its box, in room axes, numbered like
    /// the walls), `gap` metres away, its front facing the target.
    fn beside(
        &mut self,
        label: &str,
        model: Model,
        target: u32,
        side: usize,
        gap: f32,
    ) -> Option<u32> {
        let model = recenter(model);
        let tb = self.aabb(target);
        // On the target's south side the front (+y) must point north, and so on: the same yaw
        // as for a model against that wall.
        let yaw = wall_yaw(side);
        let base = world_aabb(&model, Vec3::ZERO, yaw);
        for _ in 0..25 {
            let jitter = self.rng.random_range(-0.3..0.3);
            let t = match side {
                0 => Vec3::new(
                    tb.center().x + jitter * tb.size().x,
                    tb.min.y - gap - base.max.y,
                    0.0,
                ),
                1 => Vec3::new(
                    tb.center().x + jitter * tb.size().x,
                    tb.max.y + gap - base.min.y,
                    0.0,
                ),
                2 => Vec3::new(
                    tb.min.x - gap - base.max.x,
                    tb.center().y + jitter * tb.size().y,
                    0.0,
                ),
                _ => Vec3::new(
                    tb.max.x + gap - base.min.x,
                    tb.center().y + jitter * tb.size().y,
                    0.0,
                ),
            };
            let r = rect_of(&world_aabb(&model, t, yaw));
            let target_rect = rect_of(&tb);
            if !self.inside(&r) {
                continue;
            }
            let clash = self.occupied.iter().any(|o| {
                o.overlaps(&r, 0.03) && !(o.min == target_rect.min && o.max == target_rect.max)
            });
            if clash || r.overlaps(&target_rect, gap * 0.9) {
                continue;
            }
            self.occupied.push(r);
            return Some(self.push(label, model, t, yaw, None));
        }
        None
    }

    /// Puts a small model on surface `surface` (any when `None`) of `support`, not overlapping
    /// what is there; `facing` keeps its front along the support's front (screens).
    fn on(
        &mut self,
        label: &str,
        model: Model,
        support: u32,
        surface: Option<usize>,
        facing: bool,
    ) -> Option<u32> {
        let model = recenter(model);
        let (half, height) = model.extent();
        let sup = self.objects[support as usize - 1].clone();
        if sup.model.surfaces.is_empty() {
            return None;
        }
        let to_world = sup.world_from_model();
        for _ in 0..30 {
            let si = surface.unwrap_or_else(|| self.rng.random_range(0..sup.model.surfaces.len()));
            let s = sup.model.surfaces[si];
            if height > s.clearance - 0.01 {
                continue;
            }
            let quarter = if facing {
                0
            } else {
                self.rng.random_range(0..4)
            };
            let local_half = if quarter % 2 == 0 {
                half
            } else {
                Vec2::new(half.y, half.x)
            };
            let lo = s.min + local_half + 0.01;
            let hi = s.max - local_half - 0.01;
            if lo.x > hi.x || lo.y > hi.y {
                continue;
            }
            let local = Vec3::new(
                self.rng.random_range(lo.x..=hi.x),
                self.rng.random_range(lo.y..=hi.y),
                s.z,
            );
            let t = to_world.transform_point3(local);
            let yaw = sup.yaw + quarter as f32 * FRAC_PI_2;
            let r = rect_of(&world_aabb(&model, t, yaw));
            let clash = self
                .on_surface
                .iter()
                .any(|(id, k, o)| *id == support && *k == si && o.overlaps(&r, 0.03));
            if clash {
                continue;
            }
            self.on_surface.push((support, si, r));
            return Some(self.push(label, model, t, yaw, Some(support)));
        }
        None
    }

    /// Hangs a thin panel on a wall at height `z0`, if nothing is in the way.
    fn on_wall(&mut self, label: &str, model: Model, z0: f32) -> Option<u32> {
        let model = recenter(model);
        let (half, _) = model.extent();
        for _ in 0..40 {
            let s = self.rng.random_range(0..4);
            let along_len = if s < 2 { self.size.x } else { self.size.y };
            if along_len < 2.0 * half.x + 0.4 {
                continue;
            }
            let a = self
                .rng
                .random_range(half.x + 0.2..along_len - half.x - 0.2);
            let off = half.y + 0.002;
            let t = wall_point(self.size, s, a, off, z0);
            let b = world_aabb(&model, t, wall_yaw(s));
            let clash = self.objects.iter().any(|o| {
                !matches!(o.arch_kind, Some("Floor") | Some("WallInner"))
                    && boxes_overlap(&o.world_aabb(), &b, 0.03)
            });
            if !clash {
                return Some(self.push(label, model, t, wall_yaw(s), None));
            }
        }
        None
    }
}

/// The point `along` metres along wall `side`, `off` metres into the room, at height `z`.
fn wall_point(size: Vec3, side: usize, along: f32, off: f32, z: f32) -> Vec3 {
    match side {
        0 => Vec3::new(along, off, z),
        1 => Vec3::new(along, size.y - off, z),
        2 => Vec3::new(off, along, z),
        _ => Vec3::new(size.x - off, along, z),
    }
}

fn boxes_overlap(a: &Aabb, b: &Aabb, margin: f32) -> bool {
    (0..3).all(|i| a.min[i] < b.max[i] + margin && b.min[i] < a.max[i] + margin)
}

fn arch_box(min: Vec3, max: Vec3, color: [u8; 3]) -> Model {
    let mut m = Model::default();
    m.mesh.add_box(min, max, color);
    m.parts.push(0..m.mesh.len() as u32);
    m
}

fn shell(l: &mut Layout<'_>) {
    let Vec3 { x: w, y: d, z: h } = l.size;
    let mut floor = Model::default();
    let floor_color = pick(
        l.rng,
        &[
            [150, 120, 90],
            [120, 110, 100],
            [180, 170, 150],
            [100, 80, 60],
        ],
    );
    floor.mesh.add_grid(
        Vec3::ZERO,
        Vec3::new(w, d, 0.0),
        (w / 0.5).ceil() as u32,
        (d / 0.5).ceil() as u32,
        floor_color,
    );
    floor.parts.push(0..floor.mesh.len() as u32);
    l.push_arch("floor", "Floor", floor);
    let wall_color = pick(
        l.rng,
        &[
            [215, 210, 200],
            [200, 205, 215],
            [225, 220, 205],
            [190, 200, 190],
        ],
    );
    // Walls are their inner surfaces (as in a scan), facing into the room, so a viewer that
    // culls back faces sees into the room from outside.
    for (origin, along, normal) in [
        (Vec3::ZERO, Vec3::new(w, 0.0, 0.0), Vec3::Y),
        (Vec3::new(0.0, d, 0.0), Vec3::new(w, 0.0, 0.0), -Vec3::Y),
        (Vec3::ZERO, Vec3::new(0.0, d, 0.0), Vec3::X),
        (Vec3::new(w, 0.0, 0.0), Vec3::new(0.0, d, 0.0), -Vec3::X),
    ] {
        let mut wall = Model::default();
        let n_along = (along.length() / 0.5).ceil() as u32;
        let n_up = (h / 0.5).ceil() as u32;
        wall.mesh.add_quad_grid(
            origin,
            along,
            Vec3::new(0.0, 0.0, h),
            normal,
            (n_along, n_up),
            wall_color,
        );
        wall.parts.push(0..wall.mesh.len() as u32);
        l.push_arch("wall", "WallInner", wall);
    }

    // Door: 0.9 m wide, the floor in front of it kept clear.
    let door_side = l.rng.random_range(0..4);
    let along = if door_side < 2 { w } else { d };
    let a = l.rng.random_range(0.6..along - 0.6);
    let (dw, dh) = (0.9, 2.05_f32.min(h - 0.1));
    let door_color = pick(l.rng, f::palette::WOOD);
    let (door, keep_clear) = wall_piece(l.size, door_side, a, dw, (0.0, dh), 0.05, 1.0);
    l.push_arch("door", "Door", arch_box(door.min, door.max, door_color));
    l.occupied.push(keep_clear);

    // Window on another wall.
    let mut win_side = l.rng.random_range(0..4);
    if win_side == door_side {
        win_side = (win_side + 1 + l.rng.random_range(0..3)) % 4;
    }
    let along = if win_side < 2 { w } else { d };
    let ww = l.rng.random_range(0.9..1.6_f32.min(along - 0.8));
    let a = l.rng.random_range(ww / 2.0 + 0.3..along - ww / 2.0 - 0.3);
    let (z0, z1) = (0.9, (h - 0.35).min(2.2));
    let (win, _) = wall_piece(l.size, win_side, a, ww, (z0, z1), 0.06, 0.0);
    l.push_arch(
        "window",
        "Window",
        arch_box(win.min, win.max, [150, 190, 220]),
    );

    // Curtains either side of the window, some of the time.
    if l.rng.random_bool(0.5) {
        let cloth = pick(l.rng, f::palette::FABRIC);
        for sgn in [-1.0, 1.0] {
            let cw = l.rng.random_range(0.25..0.4);
            let panel = f::panel(cw, z1 + 0.15, 0.05, cloth, None);
            let c = a + sgn * (ww / 2.0 + cw / 2.0 - 0.05);
            let off = 0.08;
            let t = wall_point(l.size, win_side, c, off, 0.02);
            l.try_floor("curtain", &panel, t, wall_yaw(win_side), 0.02);
        }
    }
}

/// A box set into wall `side` at `a` along it, `width` wide, from `z0` to `z1`, sticking
/// `depth`/2 into the room; and the floor rectangle `clear` metres deep in front of it.
fn wall_piece(
    size: Vec3,
    side: usize,
    a: f32,
    width: f32,
    (z0, z1): (f32, f32),
    depth: f32,
    clear: f32,
) -> (Aabb, Rect) {
    let (hw, hd) = (width / 2.0, depth / 2.0);
    let (min, max, rmin, rmax) = match side {
        0 => (
            Vec3::new(a - hw, -hd, z0),
            Vec3::new(a + hw, hd, z1),
            Vec2::new(a - hw, 0.0),
            Vec2::new(a + hw, clear),
        ),
        1 => (
            Vec3::new(a - hw, size.y - hd, z0),
            Vec3::new(a + hw, size.y + hd, z1),
            Vec2::new(a - hw, size.y - clear),
            Vec2::new(a + hw, size.y),
        ),
        2 => (
            Vec3::new(-hd, a - hw, z0),
            Vec3::new(hd, a + hw, z1),
            Vec2::new(0.0, a - hw),
            Vec2::new(clear, a + hw),
        ),
        _ => (
            Vec3::new(size.x - hd, a - hw, z0),
            Vec3::new(size.x + hd, a + hw, z1),
            Vec2::new(size.x - clear, a - hw),
            Vec2::new(size.x, a + hw),
        ),
    };
    (
        Aabb { min, max },
        Rect {
            min: rmin,
            max: rmax,
        },
    )
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
    let mut l = Layout {
        rng,
        size,
        objects: Vec::new(),
        occupied: Vec::new(),
        on_surface: Vec::new(),
    };
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
