//! What the student predicts for the views it saw (issue #7): predicted depth beside the rendered
//! ground truth (turbo colour map, with AbsRel and δ < 1.25), predicted 3D boxes drawn in their
//! own colour above a score threshold, and the cameras of the views as frusta. The worker sends
//! plain arrays; nothing here touches a tensor.

use std::sync::Arc;

use bevy::prelude::*;
use bevy_egui::egui;

use super::model_bridge::WorkerMessage;
use super::points::{PointCloud, PointInstance};
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
    /// Draw the predicted depth back-projected as a point cloud.
    pub show_depth_points: bool,
    /// Changes whenever the views or the predicted depth do.
    pub generation: u64,
    /// Smallest score of a drawn box.
    pub threshold: f32,
    /// Textures of the depth panel: (view, [ground truth, prediction, confidence]).
    textures: Option<(usize, [egui::TextureHandle; 3])>,
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
            show_depth_points: false,
            generation: 0,
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
                self.generation += 1;
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
                self.generation += 1;
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
        self.shown_boxes().map(|(_, t)| t).collect()
    }

    /// Boxes above the threshold with their world transforms (of a unit cube), best first.
    pub fn shown_boxes(&self) -> impl Iterator<Item = (&Detection, Transform)> {
        let mut shown: Vec<&Detection> = self
            .detections
            .iter()
            .filter(|d| d.score >= self.threshold)
            .collect();
        shown.sort_by(|a, b| b.score.total_cmp(&a.score));
        shown
            .into_iter()
            .map(|d| (d, box_transform(self.world_from_camera0, d)))
    }
}

/// Predictions plugin: keeps the views and the student's predictions of the current scene from
/// the worker's messages, and draws the boxes, frusta and back-projected depth.
pub struct PredictionsPlugin;

impl Plugin for PredictionsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Predictions>().add_systems(
            Update,
            (
                apply_worker_messages,
                (draw_predictions, update_depth_cloud),
            )
                .chain(),
        );
    }
}

fn apply_worker_messages(mut messages: MessageReader<WorkerMessage>, mut p: ResMut<Predictions>) {
    for m in messages.read() {
        p.apply(m.current_scene_id, &m.event);
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

/// A detection's box as a world transform of the unit cube: its world box when it has one, else
/// its box in the first camera's frame (axis-aligned there) carried into the world.
pub fn box_transform(world_from_camera0: Mat4, d: &Detection) -> Transform {
    // A box found in the world is drawn there, not re-boxed through the first camera.
    if let Some([lo, hi]) = d.world_box_m {
        let (lo, hi) = (Vec3::from_array(lo), Vec3::from_array(hi));
        return Transform::from_translation((lo + hi) / 2.0)
            .with_scale((hi - lo).max(Vec3::splat(0.01)));
    }
    let local = Mat4::from_translation(Vec3::from_array(d.centre))
        * Mat4::from_scale(Vec3::from_array(d.size).max(Vec3::splat(0.01)));
    Transform::from_matrix(world_from_camera0 * local)
}

/// The camera centre and the four image corners at `depth_m` of view `v`, in world space.
pub fn frustum(views: &SceneViews, v: usize, depth_m: f32) -> (Vec3, [Vec3; 4]) {
    let unproject = unprojector(views, v);
    let s = views.views.size as f32;
    (
        unproject(0.0, 0.0, 0.0),
        [
            unproject(0.0, 0.0, depth_m),
            unproject(s, 0.0, depth_m),
            unproject(s, s, depth_m),
            unproject(0.0, s, depth_m),
        ],
    )
}

/// View `v`'s back-projection: image point (u, w) in pixels at `depth_m` along the camera's z
/// → world point.
pub fn unprojector(views: &SceneViews, v: usize) -> impl Fn(f32, f32, f32) -> Vec3 + use<> {
    let world_from_camera =
        Mat4::from_cols_array(&views.views.camera_from_world(v).to_cols_array()).inverse();
    let (fx, fy, cx, cy) = views.views.k(v);
    move |u, w, depth_m| {
        world_from_camera.transform_point3(Vec3::new(
            (u - cx) / fx * depth_m,
            (w - cy) / fy * depth_m,
            depth_m,
        ))
    }
}

/// The predicted depth of every view back-projected into the world, every `stride` pixels
/// (pixel centres at integer coordinates, depth along the camera's z): (point, depth in metres)
/// for the pixels with a finite positive depth.
pub fn depth_points(views: &SceneViews, depth: &[ViewDepth], stride: usize) -> Vec<(Vec3, f32)> {
    let size = views.views.size;
    let stride = stride.max(1);
    let mut out = Vec::new();
    for (v, d) in depth.iter().enumerate().take(views.views.views) {
        if d.depth_m.len() != size * size {
            continue;
        }
        let unproject = unprojector(views, v);
        for y in (0..size).step_by(stride) {
            for x in (0..size).step_by(stride) {
                let z = d.depth_m[y * size + x];
                if z.is_finite() && z > 0.0 {
                    out.push((unproject(x as f32, y as f32, z), z));
                }
            }
        }
    }
    out
}

/// The predicted-depth point cloud's entity.
#[derive(Component)]
pub struct DepthCloud;

/// Keeps the predicted-depth point cloud in step with the predictions and its toggle.
pub fn update_depth_cloud(
    mut commands: Commands,
    p: Res<Predictions>,
    clouds: Query<Entity, With<DepthCloud>>,
    mut built: Local<Option<(u64, bool)>>,
) {
    let want = (p.generation, p.show_depth_points);
    if *built == Some(want) {
        return;
    }
    *built = Some(want);
    for e in &clouds {
        commands.entity(e).despawn();
    }
    let Some(views) = p.views.as_ref().filter(|_| p.show_depth_points) else {
        return;
    };
    let points = depth_points(views, &p.depth, 1);
    let max_m = points.iter().map(|q| q.1).fold(0.5f32, f32::max);
    let instances: Vec<PointInstance> = points
        .iter()
        .map(|&(q, z)| {
            let [r, g, b] = turbo(z / max_m);
            PointInstance {
                position: q.to_array(),
                size_px: 3.0,
                color: [r, g, b, 255],
            }
        })
        .collect();
    if !instances.is_empty() {
        commands.spawn((
            DepthCloud,
            PointCloud {
                instances: Arc::new(instances),
                generation: p.generation,
            },
        ));
    }
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

/// A confidence map (≥ 1) as grey levels, dark = least confident in the map, white = most;
/// the wrong size gives a black image.
pub fn confidence_image(confidence: &[f32], size: usize) -> egui::ColorImage {
    let finite = || confidence.iter().copied().filter(|c| c.is_finite());
    let lo = finite().fold(f32::INFINITY, f32::min);
    let hi = finite().fold(f32::NEG_INFINITY, f32::max);
    let span = (hi - lo).max(1e-6);
    let pixels: Vec<egui::Color32> = if confidence.len() == size * size {
        confidence
            .iter()
            .map(|&c| {
                let t = if c.is_finite() { (c - lo) / span } else { 0.0 };
                egui::Color32::from_gray((t.clamp(0.0, 1.0) * 255.0).round() as u8)
            })
            .collect()
    } else {
        vec![egui::Color32::BLACK; size * size]
    };
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
                let images = [
                    ("depth-gt", depth_image(gt, size, max_m)),
                    ("depth-pred", depth_image(&pred.depth_m, size, max_m)),
                    ("depth-conf", confidence_image(&pred.confidence, size)),
                ];
                p.textures = Some((
                    v,
                    images.map(|(name, image)| ctx.load_texture(name, image, default())),
                ));
            }
            if let Some((_, textures)) = &p.textures {
                let side = egui::vec2(100.0, 100.0);
                ui.horizontal(|ui| {
                    for (t, label) in
                        textures
                            .iter()
                            .zip(["rendered depth", "predicted depth", "confidence"])
                    {
                        ui.vertical(|ui| {
                            ui.small(label);
                            ui.image((t.id(), side));
                        });
                    }
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
    let shown: Vec<String> = p
        .shown_boxes()
        .map(|(d, _)| format!("{} {:.2}", d.class_name(), d.score))
        .collect();
    ui.small(format!(
        "{} of {} boxes shown{}{}",
        shown.len(),
        p.detections.len(),
        if shown.is_empty() { "" } else { ": " },
        shown.join(", ")
    ));
    ui.checkbox(&mut p.show_frusta, "cameras of the views");
    ui.checkbox(&mut p.show_depth_points, "predicted depth as points in 3D");
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
