//! The layout engine: a room's shell (floor, walls, door, window, curtains) and the placement
//! rules the room recipes (`recipes.rs`) call — against a wall, free-standing, beside another
//! piece, on a support surface, on a wall — each by rejection sampling so that nothing overlaps.

use std::f32::consts::{FRAC_PI_2, PI};

use glam::{Mat4, Vec2, Vec3};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::GenObject;
use super::furniture::{self as f, Model, pick};
use crate::scene::Aabb;

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

/// A room being furnished.
pub(super) struct Layout<'r> {
    /// The room's random source.
    pub rng: &'r mut ChaCha8Rng,
    /// Width, depth, height.
    pub size: Vec3,
    /// Placed so far (ids are positions + 1).
    pub objects: Vec<GenObject>,
    /// Floor area taken by furniture and kept free (in front of the door).
    occupied: Vec<Rect>,
    /// Items placed on each support surface: (support id, surface index, rect in room frame).
    on_surface: Vec<(u32, usize, Rect)>,
}

/// Centres a model's footprint on its origin (and shifts its surfaces along).
pub(super) fn recenter(mut m: Model) -> Model {
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
    /// An empty room of `size` (x, y, height).
    pub(super) fn new(rng: &'r mut ChaCha8Rng, size: Vec3) -> Self {
        Self {
            rng,
            size,
            objects: Vec::new(),
            occupied: Vec::new(),
            on_surface: Vec::new(),
        }
    }

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
    pub(super) fn try_floor(
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
    pub(super) fn against_wall(
        &mut self,
        label: &str,
        model: Model,
        side: Option<usize>,
    ) -> Option<u32> {
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
    pub(super) fn free(&mut self, label: &str, model: Model, margin: f32) -> Option<u32> {
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
    pub(super) fn beside(
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
    pub(super) fn on(
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
    pub(super) fn on_wall(&mut self, label: &str, model: Model, z0: f32) -> Option<u32> {
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

/// Floor, walls, door, window and curtains.
pub(super) fn shell(l: &mut Layout<'_>) {
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
