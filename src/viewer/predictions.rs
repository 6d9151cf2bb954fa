//! What the student predicts for the views it saw (issue #7): predicted depth beside the rendered
//! ground truth (turbo colour map, with AbsRel and δ < 1.25), predicted 3D boxes drawn in their
//! own colour above a score threshold, and the cameras of the views as frusta. The worker sends
//! plain arrays; nothing here touches a tensor.

use std::sync::Arc;

use bevy::prelude::*;
use bevy_egui::egui;

use crate::model::{Detection, ViewDepth};
use crate::worker::{Event, Role, SceneViews};

/// Predicted box colour (ground truth is orange, selection cyan, named objects green).
pub const PRED_BOX_COLOR: Color = Color::srgb(0.45, 0.45, 1.0);
/// Camera frustum colour.
pub const FRUSTUM_COLOR: Color = Color::srgb(0.85, 0.85, 0.85);
/// Frustum depth drawn, metres.
pub const FRUSTUM_DEPTH_M: f32 = 0.3;

/// The current scene's views and the student's predictions for them.
#[derive(Resource)]
pub struct Predictions {
    /// Views the models saw.
    pub views: Option<Arc<SceneViews>>,
    /// Predicted depth per view.
    pub depth: Vec<ViewDepth>,
    /// Predicted boxes in the first camera's frame.
    pub detections: Vec<Detection>,
    /// World from the first camera.
    pub world_from_camera0: Mat4,
    /// The view shown in the depth panel.
    pub view: usize,
    /// Draw predicted boxes.
    pub show_boxes: bool,
    /// Draw the cameras.
    pub show_frusta: bool,
    /// Smallest score of a drawn box.
    pub threshold: f32,
    /// Textures of the depth panel: (view, ground truth, prediction).
    textures: Option<(usize, egui::TextureHandle, egui::TextureHandle)>,
}

impl Default for Predictions {
    fn default() -> Self {
        Self {
            views: None,
            depth: Vec::new(),
            detections: Vec::new(),
            world_from_camera0: Mat4::IDENTITY,
            view: 0,
            show_boxes: true,
            show_frusta: true,
            threshold: 0.3,
            textures: None,
        }
    }
}

impl Predictions {
    /// Takes a worker event about views or predictions for `scene_id`; returns whether it was
    /// one.
    pub fn apply(&mut self, scene_id: u64, event: &Event) -> bool {
        match event {
            Event::SceneReady(v) if v.scene_id == scene_id => {
                self.views = Some(v.clone());
                self.depth.clear();
                self.detections.clear();
                self.view = self.view.min(v.views.views.saturating_sub(1));
                self.textures = None;
                true
            }
            Event::Prediction {
                role: Role::Student,
                depth,
                detections,
                world_from_camera0,
                ..
            } => {
                self.depth = depth.clone();
                self.detections = detections.clone();
                self.world_from_camera0 = Mat4::from_cols_array(world_from_camera0);
                self.textures = None;
                true
            }
            _ => false,
        }
    }

    /// AbsRel and δ < 1.25 of view `v`'s prediction over pixels with ground truth.
    pub fn depth_scores(&self, v: usize) -> Option<(f32, f32)> {
        let views = self.views.as_ref()?;
        let gt = views.views.depth.as_ref()?;
        let pred = self.depth.get(v)?;
        let n = views.views.size * views.views.size;
        depth_scores(&pred.depth_m, gt.get(v * n..(v + 1) * n)?)
    }

    /// Boxes above the threshold as world transforms of a unit cube.
    pub fn box_transforms(&self) -> Vec<Transform> {
        self.detections
            .iter()
            .filter(|d| d.score >= self.threshold)
            .map(|d| box_transform(self.world_from_camera0, d))
            .collect()
    }
}

/// AbsRel and δ < 1.25 over the pixels where `gt` > 0; `None` when there are none.
pub fn depth_scores(pred: &[f32], gt: &[f32]) -> Option<(f32, f32)> {
    let (mut rel, mut d1, mut n) = (0f64, 0f64, 0usize);
    for (p, g) in pred.iter().zip(gt) {
        if *g > 0.0 && p.is_finite() && *p > 0.0 {
            rel += f64::from((p - g).abs() / g);
            d1 += f64::from(u8::from((p / g).max(g / p) < 1.25));
            n += 1;
        }
    }
    (n > 0).then(|| ((rel / n as f64) as f32, (d1 / n as f64) as f32))
}

/// A box given in the first camera's frame (axis-aligned there) as a world transform of the
/// unit cube.
pub fn box_transform(world_from_camera0: Mat4, d: &Detection) -> Transform {
    let local = Mat4::from_translation(Vec3::from_array(d.centre))
        * Mat4::from_scale(Vec3::from_array(d.size).max(Vec3::splat(0.01)));
    Transform::from_matrix(world_from_camera0 * local)
}

/// The camera centre and the four image corners at `depth_m` of view `v`, in world space.
pub fn frustum(views: &SceneViews, v: usize, depth_m: f32) -> (Vec3, [Vec3; 4]) {
    let world_from_camera =
        Mat4::from_cols_array(&views.views.camera_from_world(v).to_cols_array()).inverse();
    let (fx, fy, cx, cy) = views.views.k(v);
    let s = views.views.size as f32;
    let corner = |u: f32, w: f32| {
        world_from_camera.transform_point3(Vec3::new(
            (u - cx) / fx * depth_m,
            (w - cy) / fy * depth_m,
            depth_m,
        ))
    };
    (
        world_from_camera.transform_point3(Vec3::ZERO),
        [
            corner(0.0, 0.0),
            corner(s, 0.0),
            corner(s, s),
            corner(0.0, s),
        ],
    )
}

/// Google's Turbo colour map (polynomial approximation by Ruofei Du), `t` in [0, 1].
pub fn turbo(t: f32) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let poly = |c: [f32; 6]| c[0] + t * (c[1] + t * (c[2] + t * (c[3] + t * (c[4] + t * c[5]))));
    let r = poly([
        0.135_721_4,
        4.615_392_6,
        -42.660_32,
        132.131_08,
        -152.942_4,
        59.286_38,
    ]);
    let g = poly([
        0.091_402_6,
        2.194_188_4,
        4.842_966_6,
        -14.185_034,
        4.277_298_6,
        2.829_566,
    ]);
    let b = poly([
        0.106_673_3,
        12.641_946,
        -60.582_05,
        110.362_77,
        -89.903_11,
        27.348_25,
    ]);
    let q = |x: f32| (x.clamp(0.0, 1.0) * 255.0).round() as u8;
    [q(r), q(g), q(b)]
}

/// A depth map as turbo colours over [0, `max_m`]; pixels without depth are black.
pub fn depth_image(depth: &[f32], size: usize, max_m: f32) -> egui::ColorImage {
    let pixels: Vec<egui::Color32> = depth
        .iter()
        .map(|&d| {
            if d > 0.0 && d.is_finite() {
                let [r, g, b] = turbo(d / max_m.max(1e-3));
                egui::Color32::from_rgb(r, g, b)
            } else {
                egui::Color32::BLACK
            }
        })
        .collect();
    egui::ColorImage::new([size, size], pixels)
}

/// The depth and boxes section of the side panel.
pub fn predictions_ui(ui: &mut egui::Ui, p: &mut Predictions) {
    let Some(views) = p.views.clone() else {
        ui.label("no views yet");
        return;
    };
    let (count, size) = (views.views.views, views.views.size);
    ui.add(egui::Slider::new(&mut p.view, 0..=count.saturating_sub(1)).text("view"));
    let v = p.view.min(count.saturating_sub(1));
    let gt = views
        .views
        .depth
        .as_ref()
        .and_then(|d| d.get(v * size * size..(v + 1) * size * size));
    match (gt, p.depth.get(v)) {
        (Some(gt), Some(pred)) => {
            let max_m = gt.iter().copied().fold(0.5f32, f32::max);
            if p.textures.as_ref().map(|t| t.0) != Some(v) {
                let ctx = ui.ctx();
                let a = ctx.load_texture("depth-gt", depth_image(gt, size, max_m), default());
                let b = ctx.load_texture(
                    "depth-pred",
                    depth_image(&pred.depth_m, size, max_m),
                    default(),
                );
                p.textures = Some((v, a, b));
            }
            if let Some((_, a, b)) = &p.textures {
                let side = egui::vec2(140.0, 140.0);
                ui.horizontal(|ui| {
                    ui.vertical(|ui| {
                        ui.small("rendered depth");
                        ui.image((a.id(), side));
                    });
                    ui.vertical(|ui| {
                        ui.small("predicted depth");
                        ui.image((b.id(), side));
                    });
                });
            }
            if let Some((rel, d1)) = p.depth_scores(v) {
                ui.small(format!(
                    "AbsRel {rel:.3}   δ<1.25 {:.1}%   (0–{max_m:.1} m, turbo)",
                    d1 * 100.0
                ));
            }
        }
        _ => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("predicting…");
            });
        }
    }
    ui.checkbox(&mut p.show_boxes, "predicted boxes");
    ui.add(egui::Slider::new(&mut p.threshold, 0.0..=1.0).text("score ≥"));
    ui.small(format!(
        "{} of {} boxes shown",
        p.detections
            .iter()
            .filter(|d| d.score >= p.threshold)
            .count(),
        p.detections.len()
    ));
    ui.checkbox(&mut p.show_frusta, "cameras of the views");
}

/// Draws predicted boxes and view frusta.
pub fn draw_predictions(mut gizmos: Gizmos, p: Res<Predictions>) {
    if p.show_boxes {
        for t in p.box_transforms() {
            gizmos.cube(t, PRED_BOX_COLOR);
        }
    }
    if let (true, Some(views)) = (p.show_frusta, &p.views) {
        for v in 0..views.views.views {
            let (c, k) = frustum(views, v, FRUSTUM_DEPTH_M);
            for i in 0..4 {
                gizmos.line(c, k[i], FRUSTUM_COLOR);
                gizmos.line(k[i], k[(i + 1) % 4], FRUSTUM_COLOR);
            }
        }
    }
}
