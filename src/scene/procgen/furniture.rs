//! Furniture and small-object models built from parts (legs, seats, backs, shelves, …).
//!
//! Every model is in its own frame: z up, origin at the centre of its footprint on the floor,
//! front facing +y. Each part is a separate vertex range so it becomes its own segment.

use glam::{Vec2, Vec3};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::scene::mesh::TriMesh;

/// A horizontal surface other objects can stand on, in the model frame.
#[derive(Debug, Clone, Copy)]
pub struct Surface {
    /// Height of the surface.
    pub z: f32,
    /// Minimum corner of the usable rectangle.
    pub min: Vec2,
    /// Maximum corner of the usable rectangle.
    pub max: Vec2,
    /// Free height above the surface (e.g. to the next shelf board).
    pub clearance: f32,
}

/// A model: geometry split into parts, plus the surfaces it offers.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Geometry in the model frame.
    pub mesh: TriMesh,
    /// Vertex ranges of the parts.
    pub parts: Vec<std::ops::Range<u32>>,
    /// Surfaces to put things on.
    pub surfaces: Vec<Surface>,
}

impl Model {
    fn part(&mut self, build: impl FnOnce(&mut TriMesh)) {
        let start = self.mesh.len() as u32;
        build(&mut self.mesh);
        self.parts.push(start..self.mesh.len() as u32);
    }

    fn cuboid(&mut self, min: Vec3, max: Vec3, color: [u8; 3]) {
        self.part(|m| m.add_box(min, max, color));
    }

    fn frustum(&mut self, base: Vec3, r0: f32, r1: f32, h: f32, color: [u8; 3]) {
        self.part(|m| m.add_frustum(base, r0, r1, h, 16, color));
    }

    fn surface(&mut self, z: f32, half: Vec2, clearance: f32) {
        self.surfaces.push(Surface {
            z,
            min: -half,
            max: half,
            clearance,
        });
    }

    /// Footprint half extents (x, y) and height, from the geometry.
    pub fn extent(&self) -> (Vec2, f32) {
        match self.mesh.bounds() {
            Some(b) => (
                Vec2::new(b.max.x.max(-b.min.x), b.max.y.max(-b.min.y)),
                b.max.z,
            ),
            None => (Vec2::ZERO, 0.0),
        }
    }
}

/// Colour palettes.
pub mod palette {
    /// Wood tones.
    pub const WOOD: &[[u8; 3]] = &[
        [139, 94, 60],
        [166, 124, 82],
        [110, 72, 45],
        [196, 164, 120],
        [90, 60, 40],
    ];
    /// Fabric tones.
    pub const FABRIC: &[[u8; 3]] = &[
        [70, 90, 140],
        [150, 60, 60],
        [90, 120, 90],
        [200, 190, 170],
        [60, 60, 70],
        [180, 140, 60],
    ];
    /// Metals and plastics.
    pub const METAL: &[[u8; 3]] = &[[60, 60, 65], [170, 170, 175], [30, 30, 30], [220, 220, 225]];
    /// Bright small-object colours.
    pub const BRIGHT: &[[u8; 3]] = &[
        [220, 50, 50],
        [50, 120, 220],
        [240, 200, 40],
        [60, 170, 80],
        [240, 240, 240],
        [230, 120, 30],
        [150, 80, 180],
    ];
}

/// Picks a palette colour with a little jitter.
pub fn pick(rng: &mut ChaCha8Rng, palette: &[[u8; 3]]) -> [u8; 3] {
    let base = palette[rng.random_range(0..palette.len())];
    base.map(|c| (i32::from(c) + rng.random_range(-12..=12)).clamp(0, 255) as u8)
}

fn v3(x: f32, y: f32, z: f32) -> Vec3 {
    Vec3::new(x, y, z)
}

/// Four legs under a `w × d` top, inset by `inset`, `h` tall, square section `s`.
fn legs(m: &mut Model, w: f32, d: f32, h: f32, s: f32, inset: f32, color: [u8; 3]) {
    for (sx, sy) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
        let cx = sx * (w / 2.0 - inset - s / 2.0);
        let cy = sy * (d / 2.0 - inset - s / 2.0);
        m.cuboid(
            v3(cx - s / 2.0, cy - s / 2.0, 0.0),
            v3(cx + s / 2.0, cy + s / 2.0, h),
            color,
        );
    }
}

/// A table: top slab on four legs, or a round top on a pedestal.
pub fn table(rng: &mut ChaCha8Rng, w: f32, d: f32, h: f32) -> Model {
    let mut m = Model::default();
    let wood = pick(rng, palette::WOOD);
    let leg_color = if rng.random_bool(0.5) {
        wood
    } else {
        pick(rng, palette::METAL)
    };
    let top = 0.035;
    if rng.random_bool(0.25) {
        let r = w.min(d) / 2.0;
        m.frustum(v3(0.0, 0.0, h - top), r, r, top, wood);
        m.frustum(v3(0.0, 0.0, 0.0), 0.06, 0.06, h - top, leg_color);
        m.frustum(v3(0.0, 0.0, 0.0), r * 0.5, r * 0.45, 0.03, leg_color);
        let half = r * std::f32::consts::FRAC_1_SQRT_2;
        m.surface(h, Vec2::splat(half), 1.0);
    } else {
        m.cuboid(
            v3(-w / 2.0, -d / 2.0, h - top),
            v3(w / 2.0, d / 2.0, h),
            wood,
        );
        legs(&mut m, w, d, h - top, 0.05, 0.03, leg_color);
        m.surface(h, Vec2::new(w / 2.0, d / 2.0), 1.0);
    }
    m
}

/// A desk: top with two side panels and a modesty panel at the back.
pub fn desk(rng: &mut ChaCha8Rng, w: f32, d: f32) -> Model {
    let mut m = Model::default();
    let h = 0.74;
    let c = pick(rng, palette::WOOD);
    let top = 0.03;
    m.cuboid(v3(-w / 2.0, -d / 2.0, h - top), v3(w / 2.0, d / 2.0, h), c);
    let side = pick(rng, palette::METAL);
    for sx in [-1.0, 1.0] {
        let x = sx * (w / 2.0 - 0.02);
        m.cuboid(
            v3(x - 0.02, -d / 2.0 + 0.02, 0.0),
            v3(x + 0.02, d / 2.0 - 0.02, h - top),
            side,
        );
    }
    m.cuboid(
        v3(-w / 2.0 + 0.04, -d / 2.0 + 0.02, 0.3),
        v3(w / 2.0 - 0.04, -d / 2.0 + 0.04, h - top),
        side,
    );
    m.surface(h, Vec2::new(w / 2.0, d / 2.0), 1.0);
    m
}

/// A chair: seat on four legs with a back on the −y side, or an office chair on a pedestal.
pub fn chair(rng: &mut ChaCha8Rng, office: bool) -> Model {
    let mut m = Model::default();
    let w = rng.random_range(0.42..0.52);
    let d = rng.random_range(0.42..0.50);
    let seat_h = rng.random_range(0.43..0.48);
    let back_h = rng.random_range(0.35..0.5);
    let fabric = pick(rng, palette::FABRIC);
    let frame = if office {
        pick(rng, palette::METAL)
    } else {
        pick(rng, palette::WOOD)
    };
    if office {
        m.frustum(v3(0.0, 0.0, 0.0), 0.03, 0.03, seat_h - 0.06, frame);
        m.cuboid(v3(-0.3, -0.03, 0.0), v3(0.3, 0.03, 0.05), frame);
        m.cuboid(v3(-0.03, -0.3, 0.0), v3(0.03, 0.3, 0.05), frame);
    } else {
        legs(&mut m, w, d, seat_h - 0.05, 0.035, 0.01, frame);
    }
    m.cuboid(
        v3(-w / 2.0, -d / 2.0, seat_h - 0.06),
        v3(w / 2.0, d / 2.0, seat_h),
        fabric,
    );
    m.cuboid(
        v3(-w / 2.0, -d / 2.0, seat_h),
        v3(w / 2.0, -d / 2.0 + 0.05, seat_h + back_h),
        if office { fabric } else { frame },
    );
    m
}

/// A sofa (or armchair when `seats == 1`): base, seat cushion, back and two arms.
pub fn sofa(rng: &mut ChaCha8Rng, seats: u32) -> Model {
    let mut m = Model::default();
    let w = 0.35 + 0.6 * seats as f32 + rng.random_range(-0.05..0.1);
    let d = rng.random_range(0.82..0.95);
    let c = pick(rng, palette::FABRIC);
    let arm = 0.15;
    let seat_z = 0.42;
    m.cuboid(
        v3(-w / 2.0, -d / 2.0, 0.05),
        v3(w / 2.0, d / 2.0, seat_z - 0.1),
        c,
    );
    m.cuboid(
        v3(-w / 2.0 + arm, -d / 2.0 + 0.2, seat_z - 0.1),
        v3(w / 2.0 - arm, d / 2.0, seat_z),
        c,
    );
    m.cuboid(
        v3(-w / 2.0, -d / 2.0, seat_z - 0.1),
        v3(w / 2.0, -d / 2.0 + 0.2, 0.85),
        c,
    );
    for sx in [-1.0, 1.0] {
        let x0 = if sx < 0.0 { -w / 2.0 } else { w / 2.0 - arm };
        m.cuboid(
            v3(x0, -d / 2.0 + 0.2, seat_z - 0.1),
            v3(x0 + arm, d / 2.0, 0.62),
            c,
        );
    }
    let dark = pick(rng, palette::METAL);
    legs(&mut m, w, d, 0.05, 0.05, 0.02, dark);
    // The seat, between the arms.
    m.surfaces.push(Surface {
        z: seat_z,
        min: Vec2::new(-w / 2.0 + arm, -d / 2.0 + 0.2),
        max: Vec2::new(w / 2.0 - arm, d / 2.0),
        clearance: 0.6,
    });
    m
}

/// A bed: frame, mattress and headboard on the −y side.
pub fn bed(rng: &mut ChaCha8Rng, double: bool) -> Model {
    let mut m = Model::default();
    let w = if double {
        rng.random_range(1.4..1.8)
    } else {
        rng.random_range(0.9..1.1)
    };
    let d = rng.random_range(1.95..2.15);
    let frame = pick(rng, palette::WOOD);
    let sheet = pick(rng, palette::FABRIC);
    let top = rng.random_range(0.5..0.6);
    m.cuboid(
        v3(-w / 2.0, -d / 2.0, 0.0),
        v3(w / 2.0, d / 2.0, 0.3),
        frame,
    );
    m.cuboid(
        v3(-w / 2.0 + 0.03, -d / 2.0 + 0.08, 0.3),
        v3(w / 2.0 - 0.03, d / 2.0 - 0.03, top),
        sheet,
    );
    m.cuboid(
        v3(-w / 2.0, -d / 2.0, 0.0),
        v3(w / 2.0, -d / 2.0 + 0.08, rng.random_range(0.95..1.25)),
        frame,
    );
    // Pillows go near the head.
    m.surfaces.push(Surface {
        z: top,
        min: Vec2::new(-w / 2.0 + 0.05, -d / 2.0 + 0.12),
        max: Vec2::new(w / 2.0 - 0.05, -d / 2.0 + 0.75),
        clearance: 0.5,
    });
    m
}

/// A box-shaped storage piece (nightstand, dresser, cabinet, tv stand, counter) with drawer or
/// door fronts and a top surface. `counter` adds a contrasting worktop.
pub fn storage(rng: &mut ChaCha8Rng, w: f32, d: f32, h: f32, fronts: u32, counter: bool) -> Model {
    let mut m = Model::default();
    let body = pick(rng, palette::WOOD);
    m.cuboid(
        v3(-w / 2.0, -d / 2.0, 0.0),
        v3(w / 2.0, d / 2.0 - 0.02, h - 0.03),
        body,
    );
    let top = if counter {
        pick(rng, palette::METAL)
    } else {
        body
    };
    let overhang = if counter { 0.02 } else { 0.0 };
    m.cuboid(
        v3(-w / 2.0, -d / 2.0, h - 0.03),
        v3(w / 2.0, d / 2.0 + overhang, h),
        top,
    );
    let front = pick(rng, palette::WOOD);
    let n = fronts.max(1);
    let gap = 0.01;
    let fw = (w - gap * (n + 1) as f32) / n as f32;
    for i in 0..n {
        let x0 = -w / 2.0 + gap + i as f32 * (fw + gap);
        m.cuboid(
            v3(x0, d / 2.0 - 0.02, 0.08),
            v3(x0 + fw, d / 2.0, h - 0.06),
            front,
        );
    }
    m.surface(h, Vec2::new(w / 2.0, d / 2.0), 1.0);
    m
}

/// A bookshelf: sides, back, top, bottom and `shelves` boards, each board a surface.
pub fn bookshelf(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let w = rng.random_range(0.7..1.2);
    let d = rng.random_range(0.3..0.4);
    let h = rng.random_range(1.5..2.0);
    let c = pick(rng, palette::WOOD);
    let t = 0.025;
    m.cuboid(v3(-w / 2.0, -d / 2.0, 0.0), v3(-w / 2.0 + t, d / 2.0, h), c);
    m.cuboid(v3(w / 2.0 - t, -d / 2.0, 0.0), v3(w / 2.0, d / 2.0, h), c);
    m.cuboid(
        v3(-w / 2.0 + t, -d / 2.0, 0.0),
        v3(w / 2.0 - t, -d / 2.0 + 0.01, h),
        c,
    );
    let boards = ((h - 0.1) / 0.36).floor().max(3.0) as u32;
    let step = (h - t) / boards as f32;
    for i in 0..=boards {
        let z = (i as f32 * step).min(h - t);
        m.cuboid(
            v3(-w / 2.0 + t, -d / 2.0 + 0.01, z),
            v3(w / 2.0 - t, d / 2.0, z + t),
            c,
        );
        if i < boards {
            m.surfaces.push(Surface {
                z: z + t,
                min: Vec2::new(-w / 2.0 + t, -d / 2.0 + 0.01),
                max: Vec2::new(w / 2.0 - t, d / 2.0),
                clearance: step - t,
            });
        }
    }
    m
}

/// A refrigerator with a door seam and handle.
pub fn refrigerator(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let (w, d, h) = (
        rng.random_range(0.6..0.8),
        0.68,
        rng.random_range(1.7..1.95),
    );
    let c = pick(rng, palette::METAL);
    m.cuboid(
        v3(-w / 2.0, -d / 2.0, 0.0),
        v3(w / 2.0, d / 2.0 - 0.04, h),
        c,
    );
    m.cuboid(
        v3(-w / 2.0, d / 2.0 - 0.04, 0.02),
        v3(w / 2.0, d / 2.0 - 0.01, h * 0.62),
        c,
    );
    m.cuboid(
        v3(-w / 2.0, d / 2.0 - 0.04, h * 0.63),
        v3(w / 2.0, d / 2.0 - 0.01, h - 0.02),
        c,
    );
    m.cuboid(
        v3(w / 2.0 - 0.08, d / 2.0 - 0.01, 0.8),
        v3(w / 2.0 - 0.05, d / 2.0, 1.3),
        [40; 3],
    );
    m
}

/// A television: screen on a foot.
pub fn television(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let w = rng.random_range(0.9..1.4);
    let h = w * 0.58;
    m.cuboid(v3(-0.15, -0.1, 0.0), v3(0.15, 0.1, 0.02), [30; 3]);
    m.cuboid(v3(-0.03, -0.03, 0.02), v3(0.03, 0.0, 0.1), [30; 3]);
    m.cuboid(
        v3(-w / 2.0, -0.03, 0.1),
        v3(w / 2.0, 0.03, 0.1 + h),
        [20, 20, 25],
    );
    m
}

/// A computer monitor: base, neck, screen.
pub fn monitor(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let w = rng.random_range(0.48..0.62);
    let c = pick(rng, palette::METAL);
    m.cuboid(v3(-0.1, -0.08, 0.0), v3(0.1, 0.08, 0.015), c);
    m.cuboid(v3(-0.02, -0.04, 0.015), v3(0.02, -0.01, 0.15), c);
    m.cuboid(
        v3(-w / 2.0, -0.03, 0.12),
        v3(w / 2.0, 0.0, 0.12 + w * 0.6),
        [20, 20, 25],
    );
    m
}

/// A keyboard.
pub fn keyboard(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let c = pick(rng, palette::METAL);
    m.cuboid(v3(-0.22, -0.07, 0.0), v3(0.22, 0.07, 0.02), c);
    m.cuboid(v3(-0.2, -0.05, 0.02), v3(0.2, 0.05, 0.03), [50; 3]);
    m
}

/// A laptop, open.
pub fn laptop(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let c = pick(rng, palette::METAL);
    m.cuboid(v3(-0.17, -0.12, 0.0), v3(0.17, 0.12, 0.02), c);
    m.cuboid(v3(-0.17, -0.12, 0.02), v3(0.17, -0.1, 0.25), c);
    m
}

/// A cup with a handle.
pub fn cup(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let c = pick(rng, palette::BRIGHT);
    let r = rng.random_range(0.035..0.045);
    let h = rng.random_range(0.08..0.11);
    m.frustum(Vec3::ZERO, r * 0.9, r, h, c);
    m.cuboid(v3(r, -0.007, h * 0.25), v3(r + 0.025, 0.007, h * 0.8), c);
    m
}

/// A bowl.
pub fn bowl(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let r = rng.random_range(0.07..0.1);
    m.frustum(Vec3::ZERO, r * 0.5, r, 0.06, pick(rng, palette::BRIGHT));
    m
}

/// A bottle with a neck.
pub fn bottle(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let c = pick(
        rng,
        &[[40, 120, 60], [90, 60, 30], [200, 220, 230], [30, 80, 160]],
    );
    let h = rng.random_range(0.18..0.26);
    m.frustum(Vec3::ZERO, 0.035, 0.035, h, c);
    m.frustum(v3(0.0, 0.0, h), 0.035, 0.014, 0.04, c);
    m.frustum(v3(0.0, 0.0, h + 0.04), 0.014, 0.014, 0.05, c);
    m
}

/// A vase.
pub fn vase(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let c = pick(rng, palette::BRIGHT);
    let h = rng.random_range(0.18..0.3);
    m.frustum(Vec3::ZERO, 0.05, 0.08, h * 0.6, c);
    m.frustum(v3(0.0, 0.0, h * 0.6), 0.08, 0.04, h * 0.4, c);
    m
}

/// A book, lying flat (`standing == false`) or standing on its bottom edge.
pub fn book(rng: &mut ChaCha8Rng, standing: bool) -> Model {
    let mut m = Model::default();
    let (a, b, t) = (
        rng.random_range(0.15..0.21),
        rng.random_range(0.2..0.28),
        rng.random_range(0.025..0.05),
    );
    let c = pick(rng, palette::BRIGHT);
    if standing {
        m.cuboid(v3(-t / 2.0, -a / 2.0, 0.0), v3(t / 2.0, a / 2.0, b), c);
    } else {
        m.cuboid(v3(-a / 2.0, -b / 2.0, 0.0), v3(a / 2.0, b / 2.0, t), c);
    }
    m
}

/// A table lamp (`floor == false`) or floor lamp: base, stem, shade.
pub fn lamp(rng: &mut ChaCha8Rng, floor: bool) -> Model {
    let mut m = Model::default();
    let metal = pick(rng, palette::METAL);
    let shade = pick(rng, &[[240, 230, 200], [250, 250, 245], [200, 180, 150]]);
    let (base_r, stem_h, shade_r, shade_h) = if floor {
        (0.15, rng.random_range(1.3..1.6), 0.22, 0.3)
    } else {
        (0.08, rng.random_range(0.2..0.3), 0.13, 0.18)
    };
    m.frustum(Vec3::ZERO, base_r, base_r * 0.8, 0.03, metal);
    m.frustum(v3(0.0, 0.0, 0.03), 0.012, 0.012, stem_h, metal);
    m.frustum(
        v3(0.0, 0.0, 0.03 + stem_h),
        shade_r,
        shade_r * 0.6,
        shade_h,
        shade,
    );
    m
}

/// A pillow, lying flat.
pub fn pillow(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let (w, d) = (rng.random_range(0.45..0.65), rng.random_range(0.3..0.4));
    let c = pick(rng, palette::FABRIC);
    m.cuboid(v3(-w / 2.0, -d / 2.0, 0.0), v3(w / 2.0, d / 2.0, 0.1), c);
    m.cuboid(
        v3(-w / 2.0 + 0.04, -d / 2.0 + 0.04, 0.1),
        v3(w / 2.0 - 0.04, d / 2.0 - 0.04, 0.14),
        c,
    );
    m
}

/// A potted plant: pot and foliage.
pub fn plant(rng: &mut ChaCha8Rng, large: bool) -> Model {
    let mut m = Model::default();
    let s = if large {
        rng.random_range(2.5..4.0)
    } else {
        1.0
    };
    let pot = pick(rng, &[[160, 80, 50], [230, 230, 230], [60, 60, 60]]);
    let green = pick(rng, &[[50, 130, 60], [70, 150, 50], [40, 100, 50]]);
    m.frustum(Vec3::ZERO, 0.05 * s, 0.07 * s, 0.1 * s, pot);
    m.frustum(v3(0.0, 0.0, 0.1 * s), 0.09 * s, 0.02 * s, 0.22 * s, green);
    m
}

/// A trash can: cylindrical or square.
pub fn garbage_bin(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let c = pick(rng, palette::METAL);
    let h = rng.random_range(0.3..0.45);
    if rng.random_bool(0.5) {
        m.frustum(Vec3::ZERO, 0.13, 0.15, h, c);
        m.frustum(v3(0.0, 0.0, h), 0.155, 0.155, 0.02, [30; 3]);
    } else {
        m.cuboid(v3(-0.14, -0.12, 0.0), v3(0.14, 0.12, h), c);
        m.cuboid(v3(-0.145, -0.125, h), v3(0.145, 0.125, h + 0.02), [30; 3]);
    }
    m
}

/// A thin panel hanging on a wall (picture, whiteboard, curtain), `w` wide and `h` tall,
/// `t` thick, its back at y = −t/2.
pub fn panel(w: f32, h: f32, t: f32, color: [u8; 3], frame: Option<[u8; 3]>) -> Model {
    let mut m = Model::default();
    match frame {
        Some(f) => {
            m.cuboid(
                v3(-w / 2.0, -t / 2.0, 0.0),
                v3(w / 2.0, t / 2.0 - 0.005, h),
                f,
            );
            m.cuboid(
                v3(-w / 2.0 + 0.03, t / 2.0 - 0.005, 0.03),
                v3(w / 2.0 - 0.03, t / 2.0, h - 0.03),
                color,
            );
        }
        None => m.cuboid(v3(-w / 2.0, -t / 2.0, 0.0), v3(w / 2.0, t / 2.0, h), color),
    }
    m
}

/// A toilet: bowl, seat and tank at the back.
pub fn toilet(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let c = pick(rng, &[[245, 245, 245], [230, 230, 235]]);
    m.frustum(v3(0.0, 0.05, 0.0), 0.16, 0.2, 0.4, c);
    m.cuboid(v3(-0.2, -0.35, 0.2), v3(0.2, -0.15, 0.8), c);
    m
}

/// A bathtub: outer shell.
pub fn bathtub(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let c = pick(rng, &[[245, 245, 245], [235, 235, 240]]);
    let (w, d) = (rng.random_range(1.5..1.75), rng.random_range(0.7..0.8));
    m.cuboid(v3(-w / 2.0, -d / 2.0, 0.0), v3(w / 2.0, d / 2.0, 0.5), c);
    m.cuboid(
        v3(-w / 2.0 + 0.08, -d / 2.0 + 0.08, 0.5),
        v3(w / 2.0 - 0.08, d / 2.0 - 0.08, 0.52),
        [200, 220, 235],
    );
    m
}

/// A sink basin to stand on a counter.
pub fn sink(rng: &mut ChaCha8Rng) -> Model {
    let mut m = Model::default();
    let c = pick(rng, &[[245, 245, 245], [190, 190, 195]]);
    m.cuboid(v3(-0.25, -0.2, 0.0), v3(0.25, 0.2, 0.12), c);
    m.frustum(v3(0.0, -0.16, 0.12), 0.015, 0.015, 0.2, [150, 150, 155]);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn models_stand_on_the_floor_centred() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let models = [
            table(&mut rng, 1.2, 0.8, 0.75),
            chair(&mut rng, false),
            chair(&mut rng, true),
            sofa(&mut rng, 3),
            bed(&mut rng, true),
            bookshelf(&mut rng),
            storage(&mut rng, 0.5, 0.4, 0.55, 2, false),
            cup(&mut rng),
            lamp(&mut rng, true),
        ];
        for m in &models {
            let b = m.mesh.bounds().unwrap();
            assert!(b.min.z.abs() < 1e-6, "{b:?}");
            assert!(m.parts.len() >= 2, "parts {}", m.parts.len());
            assert_eq!(m.parts.last().unwrap().end as usize, m.mesh.len());
        }
        // The bookshelf offers one surface per gap between boards.
        assert!(models[5].surfaces.len() >= 3);
        for s in &models[5].surfaces {
            assert!(s.clearance > 0.3);
        }
    }
}
