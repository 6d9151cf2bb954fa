//! Vertex colour modes: the scene's RGB, one colour per instance, or height.

use bevy::prelude::Resource;

use crate::scene::Scene;

/// How vertices are coloured.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorMode {
    /// The colours stored in the scene.
    #[default]
    Rgb,
    /// A distinct colour per object instance; unannotated vertices grey.
    Instance,
    /// A colour ramp over the vertex height (z).
    Height,
}

impl ColorMode {
    /// All modes, for the UI.
    pub const ALL: [ColorMode; 3] = [ColorMode::Rgb, ColorMode::Instance, ColorMode::Height];

    /// UI name.
    pub fn name(self) -> &'static str {
        match self {
            ColorMode::Rgb => "RGB",
            ColorMode::Instance => "Instances",
            ColorMode::Height => "Height",
        }
    }
}

/// Grey for vertices outside every object in instance mode.
pub const UNANNOTATED: [u8; 3] = [90, 90, 90];

/// A well-spread colour for instance `id` (golden-ratio hue steps).
pub fn instance_color(id: u32) -> [u8; 3] {
    let h = (id as f32 * 0.618_034).fract();
    hsv(h, 0.65, 0.95)
}

fn hsv(h: f32, s: f32, v: f32) -> [u8; 3] {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - f * s), v * (1.0 - (1.0 - f) * s));
    let (r, g, b) = match i as i32 % 6 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [r, g, b].map(|c| (c * 255.0).round() as u8)
}

/// Turbo-like ramp for `t` in 0..=1 (blue → green → yellow → red).
pub fn ramp(t: f32) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    hsv((1.0 - t) * 0.7, 0.85, 0.95)
}

/// The colour of every vertex in `mode`.
pub fn vertex_colors(scene: &Scene, mode: ColorMode) -> Vec<[u8; 3]> {
    match mode {
        ColorMode::Rgb => scene.colors.clone(),
        ColorMode::Instance => {
            let mut c = vec![UNANNOTATED; scene.positions.len()];
            for o in &scene.objects {
                let color = instance_color(o.id);
                for &v in &o.vertex_indices {
                    if let Some(slot) = c.get_mut(v as usize) {
                        *slot = color;
                    }
                }
            }
            c
        }
        ColorMode::Height => {
            let Some(b) = scene.bounds() else {
                return Vec::new();
            };
            let span = (b.max.z - b.min.z).max(1e-6);
            scene
                .positions
                .iter()
                .map(|p| ramp((p.z - b.min.z) / span))
                .collect()
        }
    }
}

/// sRGB bytes to linear floats for GPU vertex colours.
pub fn srgb_to_linear(c: [u8; 3]) -> [f32; 4] {
    let f = |u: u8| {
        let x = f32::from(u) / 255.0;
        if x <= 0.04045 {
            x / 12.92
        } else {
            ((x + 0.055) / 1.055).powf(2.4)
        }
    };
    [f(c[0]), f(c[1]), f(c[2]), 1.0]
}
