//! Orbit / pan / zoom camera around a focus point, z up.
//!
//! Mouse: left drag orbits, right or middle drag pans, wheel zooms. Keyboard: arrows orbit,
//! W/A/S/D pan, Q/E or +/- zoom, F frames the scene, Home resets the view.

use bevy::camera::visibility::RenderLayers;
use bevy::camera::{CameraOutputMode, Viewport};
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use bevy::render::render_resource::BlendState;
use bevy::render::view::{Msaa, NoIndirectDrawing};
use bevy_egui::input::EguiWantsInput;
use bevy_egui::{EguiGlobalSettings, PrimaryEguiContext};

use super::loading::{CurrentScene, SceneReplaced};
use crate::scene::Aabb;

/// Vertical field of view, radians.
pub const FOV_Y: f32 = std::f32::consts::FRAC_PI_4;

/// The orbit camera's state; its `Transform` is derived from this every frame.
#[derive(Component, Debug, Clone, Copy, PartialEq)]
pub struct OrbitCamera {
    /// The point orbited around, metres.
    pub focus: Vec3,
    /// Angle around z, radians (0 looks from +x towards the focus).
    pub yaw: f32,
    /// Elevation above the horizontal, radians.
    pub pitch: f32,
    /// Distance from the focus, metres.
    pub distance_m: f32,
}

impl Default for OrbitCamera {
    fn default() -> Self {
        Self {
            focus: Vec3::ZERO,
            yaw: -2.2,
            pitch: 0.75,
            distance_m: 8.0,
        }
    }
}

impl OrbitCamera {
    /// The camera pose: eye on the orbit sphere, looking at the focus, z up.
    pub fn world_from_camera(&self) -> Transform {
        let dir = Vec3::new(
            self.pitch.cos() * self.yaw.cos(),
            self.pitch.cos() * self.yaw.sin(),
            self.pitch.sin(),
        );
        Transform::from_translation(self.focus + dir * self.distance_m)
            .looking_at(self.focus, Vec3::Z)
    }

    /// Rotates by `d_yaw`, `d_pitch` radians (pitch kept away from the poles).
    pub fn orbit(&mut self, d_yaw: f32, d_pitch: f32) {
        self.yaw = (self.yaw + d_yaw).rem_euclid(std::f32::consts::TAU);
        self.pitch = (self.pitch + d_pitch).clamp(-1.5, 1.5);
    }

    /// Moves the focus by a screen-space drag of `dx`, `dy` pixels in a view `height_px` tall.
    pub fn pan(&mut self, dx: f32, dy: f32, height_px: f32) {
        let t = self.world_from_camera();
        let m_per_px = 2.0 * self.distance_m * (FOV_Y / 2.0).tan() / height_px.max(1.0);
        self.focus += (-t.right() * dx + t.up() * dy) * m_per_px;
    }

    /// Multiplies the distance by `factor`, within 5 cm .. 1 km.
    pub fn zoom(&mut self, factor: f32) {
        self.distance_m = (self.distance_m * factor).clamp(0.05, 1000.0);
    }

    /// Looks at `bounds` from the current direction, close enough that it fills the view.
    pub fn frame(&mut self, bounds: &Aabb, aspect: f32) {
        let (focus, distance_m) = framing_for(bounds, FOV_Y, aspect);
        self.focus = focus;
        self.distance_m = distance_m;
    }
}

/// Focus and distance at which a camera with vertical field of view `fov_y` and `aspect`
/// (width / height) sees the whole of `bounds`: the bounding sphere fits the narrower of the
/// two fields of view.
pub fn framing_for(bounds: &Aabb, fov_y: f32, aspect: f32) -> (Vec3, f32) {
    let radius = (bounds.size().length() / 2.0).max(0.05);
    let fov_x = 2.0 * ((fov_y / 2.0).tan() * aspect.max(1e-3)).atan();
    let half = fov_y.min(fov_x) / 2.0;
    (bounds.center(), radius / half.sin())
}

/// The part of the window not covered by panels, in logical pixels (set by the UI).
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct ViewRect(pub Rect);

impl Default for ViewRect {
    fn default() -> Self {
        ViewRect(Rect::new(0.0, 0.0, 1280.0, 800.0))
    }
}

/// Ask for the camera to frame the whole scene (F key, menu, after loading).
#[derive(Message, Debug, Clone, Copy)]
pub struct FrameScene;

/// Ask for the camera to focus on one object.
#[derive(Message, Debug, Clone, Copy)]
pub struct FocusObject(pub u32);

/// Camera plugin.
pub struct CameraPlugin;

impl Plugin for CameraPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ViewRect>()
            .add_message::<FrameScene>()
            .add_message::<FocusObject>()
            .add_systems(Startup, spawn_camera)
            .add_systems(
                Update,
                (
                    frame_new_scene,
                    orbit_camera_input,
                    apply_framing,
                    apply_viewport,
                    sync_camera_transform,
                )
                    .chain(),
            );
    }
}

fn spawn_camera(mut commands: Commands, mut egui_settings: ResMut<EguiGlobalSettings>) {
    // The 3D camera draws only into the view rectangle between the panels; egui gets its own
    // full-window camera drawn on top, so its panels are not clipped to that rectangle.
    egui_settings.auto_create_primary_context = false;
    commands.spawn((
        PrimaryEguiContext,
        Camera2d,
        RenderLayers::none(),
        Camera {
            order: 1,
            output_mode: CameraOutputMode::Write {
                blend_state: Some(BlendState::ALPHA_BLENDING),
                clear_color: ClearColorConfig::None,
            },
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
    ));
    let orbit = OrbitCamera::default();
    commands.spawn((
        Camera3d::default(),
        Projection::Perspective(PerspectiveProjection {
            fov: FOV_Y,
            near: 0.02,
            ..default()
        }),
        Msaa::Off,
        Tonemapping::None,
        NoIndirectDrawing,
        orbit.world_from_camera(),
        orbit,
    ));
}

/// Frames every newly loaded scene.
pub fn frame_new_scene(
    mut replaced: MessageReader<SceneReplaced>,
    mut frame: MessageWriter<FrameScene>,
) {
    if replaced.read().count() > 0 {
        frame.write(FrameScene);
    }
}

/// Applies `FrameScene` and `FocusObject` requests.
pub fn apply_framing(
    mut frame: MessageReader<FrameScene>,
    mut focus: MessageReader<FocusObject>,
    current: Option<Res<CurrentScene>>,
    view: Res<ViewRect>,
    mut cameras: Query<&mut OrbitCamera>,
) {
    let Some(current) = current else {
        frame.clear();
        focus.clear();
        return;
    };
    let aspect = view.0.width() / view.0.height().max(1.0);
    let target = if frame.read().count() > 0 {
        current.scene.bounds()
    } else {
        None
    };
    let target = focus
        .read()
        .last()
        .and_then(|f| current.scene.object(f.0))
        .map(|o| o.aabb)
        .or(target);
    let Some(bounds) = target else { return };
    for mut cam in &mut cameras {
        cam.frame(&bounds, aspect);
    }
}

#[allow(clippy::too_many_arguments)]
fn orbit_camera_input(
    mouse: Res<ButtonInput<MouseButton>>,
    keys: Res<ButtonInput<KeyCode>>,
    motion: Res<AccumulatedMouseMotion>,
    scroll: Res<AccumulatedMouseScroll>,
    egui_input: Option<Res<EguiWantsInput>>,
    view: Res<ViewRect>,
    time: Res<Time>,
    mut frame: MessageWriter<FrameScene>,
    mut cameras: Query<&mut OrbitCamera>,
) {
    let pointer_free = egui_input
        .as_ref()
        .is_none_or(|e| !e.wants_any_pointer_input());
    let keys_free = egui_input
        .as_ref()
        .is_none_or(|e| !e.wants_any_keyboard_input());
    let dt = time.delta_secs().min(0.1);
    for mut cam in &mut cameras {
        if pointer_free {
            let d = motion.delta;
            if mouse.pressed(MouseButton::Left) && d != Vec2::ZERO {
                cam.orbit(-d.x * 0.008, d.y * 0.008);
            }
            if (mouse.pressed(MouseButton::Right) || mouse.pressed(MouseButton::Middle))
                && d != Vec2::ZERO
            {
                cam.pan(d.x, d.y, view.0.height());
            }
            let lines = match scroll.unit {
                MouseScrollUnit::Line => scroll.delta.y,
                MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
            };
            if lines != 0.0 {
                cam.zoom(0.88f32.powf(lines));
            }
        }
        if keys_free {
            let orbit_speed = 1.5 * dt;
            if keys.pressed(KeyCode::ArrowLeft) {
                cam.orbit(orbit_speed, 0.0);
            }
            if keys.pressed(KeyCode::ArrowRight) {
                cam.orbit(-orbit_speed, 0.0);
            }
            if keys.pressed(KeyCode::ArrowUp) {
                cam.orbit(0.0, orbit_speed);
            }
            if keys.pressed(KeyCode::ArrowDown) {
                cam.orbit(0.0, -orbit_speed);
            }
            let pan_px = 400.0 * dt;
            let h = view.0.height();
            if keys.pressed(KeyCode::KeyA) {
                cam.pan(pan_px, 0.0, h);
            }
            if keys.pressed(KeyCode::KeyD) {
                cam.pan(-pan_px, 0.0, h);
            }
            if keys.pressed(KeyCode::KeyW) {
                cam.pan(0.0, pan_px, h);
            }
            if keys.pressed(KeyCode::KeyS) {
                cam.pan(0.0, -pan_px, h);
            }
            if keys.pressed(KeyCode::KeyQ) || keys.pressed(KeyCode::Minus) {
                cam.zoom(1.0 + dt * 1.5);
            }
            if keys.pressed(KeyCode::KeyE) || keys.pressed(KeyCode::Equal) {
                cam.zoom(1.0 / (1.0 + dt * 1.5));
            }
            if keys.just_pressed(KeyCode::KeyF) {
                frame.write(FrameScene);
            }
            if keys.just_pressed(KeyCode::Home) {
                let keep = *cam;
                *cam = OrbitCamera {
                    focus: keep.focus,
                    distance_m: keep.distance_m,
                    ..default()
                };
            }
        }
    }
}

fn apply_viewport(
    view: Res<ViewRect>,
    windows: Query<&Window>,
    mut cameras: Query<&mut Camera, With<OrbitCamera>>,
) {
    let Some(window) = windows.iter().next() else {
        return;
    };
    let scale = window.scale_factor();
    let (w, h) = (window.physical_width(), window.physical_height());
    if w == 0 || h == 0 {
        return;
    }
    let min = (view.0.min * scale).max(Vec2::ZERO).as_uvec2();
    let max = (view.0.max * scale).as_uvec2().min(UVec2::new(w, h));
    if max.x <= min.x + 8 || max.y <= min.y + 8 {
        return;
    }
    for mut cam in &mut cameras {
        let vp = Viewport {
            physical_position: min,
            physical_size: max - min,
            ..default()
        };
        if cam.viewport.as_ref().is_none_or(|v| {
            v.physical_position != vp.physical_position || v.physical_size != vp.physical_size
        }) {
            cam.viewport = Some(vp);
        }
    }
}

/// Writes each orbit camera's pose into its `Transform`.
pub fn sync_camera_transform(
    mut cameras: Query<(&OrbitCamera, &mut Transform), Changed<OrbitCamera>>,
) {
    for (orbit, mut t) in &mut cameras {
        *t = orbit.world_from_camera();
    }
}
