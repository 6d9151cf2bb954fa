//! A deterministic CPU rasteriser: RGB, metric depth (camera z) and instance id per pixel.
//! Triangles are clipped at the near plane, filled with a z-buffer and perspective-correct
//! vertex-colour interpolation and flat-shaded by the angle to the viewer; point clouds are
//! drawn as round splats of a fixed world size. Both sides of every triangle are drawn (scans are
//! single-sided). The same inputs always give the same pixels.

use glam::{Vec2, Vec3};

use super::camera::Camera;
use crate::scene::Scene;

/// Nothing closer than this is drawn, metres.
pub const NEAR_M: f32 = 0.05;
/// Instance id of pixels that show no object.
pub const NO_INSTANCE: i32 = -1;

/// Rendering settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderOptions {
    /// Splat radius for point clouds, metres.
    pub point_radius_m: f32,
    /// Shade faces by their angle to the viewer (off: plain vertex colours).
    pub shading: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            point_radius_m: 0.015,
            shading: true,
        }
    }
}

/// One rendered view.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedView {
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// RGB, row-major, 3 bytes per pixel.
    pub rgb: Vec<u8>,
    /// Depth along the camera z axis, metres; 0 where nothing was hit.
    pub depth_m: Vec<f32>,
    /// Object id per pixel, [`NO_INSTANCE`] where no object was hit.
    pub instance: Vec<i32>,
}

impl RenderedView {
    fn blank(width: u32, height: u32, background: [u8; 3]) -> Self {
        let n = width as usize * height as usize;
        Self {
            width,
            height,
            rgb: background.repeat(n),
            depth_m: vec![0.0; n],
            instance: vec![NO_INSTANCE; n],
        }
    }

    /// Pixels whose instance is `id`.
    pub fn pixels_of(&self, id: i32) -> usize {
        self.instance.iter().filter(|&&i| i == id).count()
    }
}

/// A scene prepared for rendering many views: the object of each vertex.
pub struct Rasterizer<'s> {
    scene: &'s Scene,
    vertex_object: Vec<i32>,
    options: RenderOptions,
}

#[derive(Clone, Copy)]
struct ClipVertex {
    p: Vec3,
    color: Vec3,
}

impl<'s> Rasterizer<'s> {
    /// Prepares `scene`.
    pub fn new(scene: &'s Scene, options: RenderOptions) -> Self {
        let mut vertex_object = vec![NO_INSTANCE; scene.positions.len()];
        for o in &scene.objects {
            for &v in &o.vertex_indices {
                if let Some(slot) = vertex_object.get_mut(v as usize) {
                    *slot = o.id as i32;
                }
            }
        }
        Self {
            scene,
            vertex_object,
            options,
        }
    }

    /// Renders the scene seen by `camera`.
    pub fn render(&self, camera: &Camera) -> RenderedView {
        let k = camera.intrinsics;
        let mut view = RenderedView::blank(k.width, k.height, [0, 0, 0]);
        let to_cam = |i: u32| {
            camera
                .camera_from_world
                .transform_point3(self.scene.positions[i as usize])
        };
        let color_of = |i: u32| {
            let c = self
                .scene
                .colors
                .get(i as usize)
                .copied()
                .unwrap_or([180; 3]);
            Vec3::new(c[0] as f32, c[1] as f32, c[2] as f32)
        };
        match &self.scene.triangles {
            Some(tris) if !tris.is_empty() => {
                for t in tris {
                    if t.iter().any(|&i| i as usize >= self.scene.positions.len()) {
                        continue;
                    }
                    let verts = t.map(|i| ClipVertex {
                        p: to_cam(i),
                        color: color_of(i),
                    });
                    let instance = self.vertex_object[t[0] as usize];
                    self.draw_triangle(&mut view, camera, verts, instance);
                }
            }
            _ => {
                for i in 0..self.scene.positions.len() as u32 {
                    let p = to_cam(i);
                    self.draw_splat(
                        &mut view,
                        camera,
                        p,
                        color_of(i),
                        self.vertex_object[i as usize],
                    );
                }
            }
        }
        view
    }

    fn draw_triangle(
        &self,
        view: &mut RenderedView,
        camera: &Camera,
        verts: [ClipVertex; 3],
        instance: i32,
    ) {
        let normal = (verts[1].p - verts[0].p).cross(verts[2].p - verts[0].p);
        let Some(normal) = normal.try_normalize() else {
            return;
        };
        let centroid = (verts[0].p + verts[1].p + verts[2].p) / 3.0;
        let shade = if self.options.shading {
            let facing = normal.dot(centroid.normalize_or_zero()).abs();
            0.35 + 0.65 * facing
        } else {
            1.0
        };
        // Clip against z = NEAR_M (Sutherland-Hodgman on one plane).
        let mut poly: Vec<ClipVertex> = Vec::with_capacity(4);
        for i in 0..3 {
            let (a, b) = (verts[i], verts[(i + 1) % 3]);
            let (ina, inb) = (a.p.z >= NEAR_M, b.p.z >= NEAR_M);
            if ina {
                poly.push(a);
            }
            if ina != inb {
                let s = (NEAR_M - a.p.z) / (b.p.z - a.p.z);
                poly.push(ClipVertex {
                    p: a.p + (b.p - a.p) * s,
                    color: a.color + (b.color - a.color) * s,
                });
            }
        }
        for i in 1..poly.len().saturating_sub(1) {
            self.fill(
                view,
                camera,
                [poly[0], poly[i], poly[i + 1]],
                shade,
                instance,
            );
        }
    }

    fn fill(
        &self,
        view: &mut RenderedView,
        camera: &Camera,
        v: [ClipVertex; 3],
        shade: f32,
        instance: i32,
    ) {
        let k = camera.intrinsics;
        let s = v.map(|c| Vec2::new(k.fx * c.p.x / c.p.z + k.cx, k.fy * c.p.y / c.p.z + k.cy));
        let area = edge(s[0], s[1], s[2]);
        if area.abs() < 1e-12 {
            return;
        }
        let (w, h) = (k.width as i64, k.height as i64);
        let min = s[0].min(s[1]).min(s[2]);
        let max = s[0].max(s[1]).max(s[2]);
        let x0 = (min.x.ceil() as i64).max(0);
        let y0 = (min.y.ceil() as i64).max(0);
        let x1 = (max.x.floor() as i64).min(w - 1);
        let y1 = (max.y.floor() as i64).min(h - 1);
        if x0 > x1 || y0 > y1 {
            return;
        }
        let inv_z = v.map(|c| 1.0 / c.p.z);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let p = Vec2::new(x as f32, y as f32);
                let b0 = edge(s[1], s[2], p) / area;
                let b1 = edge(s[2], s[0], p) / area;
                let b2 = edge(s[0], s[1], p) / area;
                if b0 < 0.0 || b1 < 0.0 || b2 < 0.0 {
                    continue;
                }
                let iz = b0 * inv_z[0] + b1 * inv_z[1] + b2 * inv_z[2];
                if iz <= 0.0 {
                    continue;
                }
                let z = 1.0 / iz;
                let idx = (y * w + x) as usize;
                let current = view.depth_m[idx];
                if current != 0.0 && z >= current {
                    continue;
                }
                let color = (v[0].color * (b0 * inv_z[0])
                    + v[1].color * (b1 * inv_z[1])
                    + v[2].color * (b2 * inv_z[2]))
                    * z
                    * shade;
                write_pixel(view, idx, z, color, instance);
            }
        }
    }

    fn draw_splat(
        &self,
        view: &mut RenderedView,
        camera: &Camera,
        p: Vec3,
        color: Vec3,
        instance: i32,
    ) {
        if p.z < NEAR_M {
            return;
        }
        let k = camera.intrinsics;
        let (u, v) = (k.fx * p.x / p.z + k.cx, k.fy * p.y / p.z + k.cy);
        let r = (self.options.point_radius_m * k.fx / p.z).max(0.5);
        let (w, h) = (k.width as i64, k.height as i64);
        let x0 = ((u - r).ceil() as i64).max(0);
        let x1 = ((u + r).floor() as i64).min(w - 1);
        let y0 = ((v - r).ceil() as i64).max(0);
        let y1 = ((v + r).floor() as i64).min(h - 1);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (dx, dy) = (x as f32 - u, y as f32 - v);
                if dx * dx + dy * dy > r * r {
                    continue;
                }
                let idx = (y * w + x) as usize;
                let current = view.depth_m[idx];
                if current != 0.0 && p.z >= current {
                    continue;
                }
                write_pixel(view, idx, p.z, color, instance);
            }
        }
    }
}

fn write_pixel(view: &mut RenderedView, idx: usize, z: f32, color: Vec3, instance: i32) {
    view.depth_m[idx] = z;
    view.instance[idx] = instance;
    let c = color.clamp(Vec3::ZERO, Vec3::splat(255.0));
    view.rgb[idx * 3] = c.x.round() as u8;
    view.rgb[idx * 3 + 1] = c.y.round() as u8;
    view.rgb[idx * 3 + 2] = c.z.round() as u8;
}

/// Twice the signed area of (a, b, p).
fn edge(a: Vec2, b: Vec2, p: Vec2) -> f32 {
    (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x)
}
