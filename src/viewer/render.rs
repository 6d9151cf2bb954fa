//! Turns the current scene into what Bevy draws: one vertex-coloured, lit mesh for triangle
//! scenes, one instanced point cloud (see `points`) for point clouds, its points chosen per
//! frame through the octree (see `lod`). Rebuilt when the scene,
//! the colour mode, the point size or the set of hidden objects changes.

use std::collections::HashSet;
use std::sync::Arc;

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;

use super::colors::{ColorMode, srgb_to_linear, vertex_colors};
use super::loading::{CurrentScene, SceneReplaced};
use super::lod::LodCloud;

/// Marks the entities that draw the scene.
#[derive(Component)]
pub struct SceneGeometry;

/// Objects the user hid in the object list.
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct HiddenObjects(pub HashSet<u32>);

/// Whether back faces are culled (the default: the far side of walls is invisible from outside,
/// so rooms can be looked into), which also makes picking one-sided.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct BackFaceCulling(pub bool);

impl Default for BackFaceCulling {
    fn default() -> Self {
        BackFaceCulling(true)
    }
}

impl BackFaceCulling {
    /// The faces a pick ray can hit.
    pub fn sides(self) -> crate::scene::raycast::Sides {
        if self.0 {
            crate::scene::raycast::Sides::Front
        } else {
            crate::scene::raycast::Sides::Both
        }
    }
}

/// Point splat diameter in pixels.
#[derive(Resource, Debug, Clone, Copy, PartialEq)]
pub struct PointSize(pub f32);

impl Default for PointSize {
    fn default() -> Self {
        PointSize(3.0)
    }
}

/// Scene rendering plugin.
pub struct SceneRenderPlugin;

impl Plugin for SceneRenderPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ColorMode>()
            .init_resource::<HiddenObjects>()
            .init_resource::<PointSize>()
            .init_resource::<BackFaceCulling>()
            .add_systems(Startup, spawn_lights)
            .add_systems(Update, rebuild_geometry);
    }
}

fn spawn_lights(mut commands: Commands) {
    commands.spawn((
        DirectionalLight {
            illuminance: 6_000.0,
            shadow_maps_enabled: false,
            ..default()
        },
        Transform::from_xyz(2.0, -3.0, 6.0).looking_at(Vec3::ZERO, Vec3::Z),
    ));
    commands.insert_resource(GlobalAmbientLight {
        color: Color::WHITE,
        brightness: 600.0,
        ..default()
    });
}

/// Which vertices belong to a hidden object.
fn hidden_vertices(scene: &crate::scene::Scene, hidden: &HiddenObjects) -> Vec<bool> {
    let mut mask = vec![false; scene.positions.len()];
    for o in scene.objects.iter().filter(|o| hidden.0.contains(&o.id)) {
        for &v in &o.vertex_indices {
            if let Some(m) = mask.get_mut(v as usize) {
                *m = true;
            }
        }
    }
    mask
}

/// Builds the triangle mesh, leaving out triangles whose three vertices are hidden.
/// `None` when nothing is left to draw (Bevy must never get an empty mesh).
pub fn build_mesh(current: &CurrentScene, mode: ColorMode, hidden: &HiddenObjects) -> Option<Mesh> {
    let scene = &current.scene;
    let tris = scene.triangles.as_ref()?;
    let mask = hidden_vertices(scene, hidden);
    let indices: Vec<u32> = tris
        .iter()
        .filter(|t| !t.iter().all(|&i| mask[i as usize]))
        .flatten()
        .copied()
        .collect();
    if indices.is_empty() {
        return None;
    }
    let positions: Vec<[f32; 3]> = scene.positions.iter().map(|p| p.to_array()).collect();
    let colors: Vec<[f32; 4]> = vertex_colors(scene, mode)
        .into_iter()
        .map(srgb_to_linear)
        .collect();
    let mut mesh = Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::RENDER_WORLD,
    );
    mesh.insert_attribute(Mesh::ATTRIBUTE_POSITION, positions);
    if let Some(n) = &current.normals {
        let normals: Vec<[f32; 3]> = n.iter().map(|v| v.to_array()).collect();
        mesh.insert_attribute(Mesh::ATTRIBUTE_NORMAL, normals);
    }
    mesh.insert_attribute(Mesh::ATTRIBUTE_COLOR, colors);
    mesh.insert_indices(Indices::U32(indices));
    Some(mesh)
}

/// Point colours for the level-of-detail cloud: sRGB with alpha 255, alpha 0 for points of
/// hidden objects (which the selection leaves out).
pub fn point_colors(
    scene: &crate::scene::Scene,
    mode: ColorMode,
    hidden: &HiddenObjects,
) -> Vec<[u8; 4]> {
    let mask = hidden_vertices(scene, hidden);
    vertex_colors(scene, mode)
        .into_iter()
        .zip(mask)
        .map(|(c, hidden)| [c[0], c[1], c[2], if hidden { 0 } else { 255 }])
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn rebuild_geometry(
    mut commands: Commands,
    mut replaced: MessageReader<SceneReplaced>,
    current: Option<Res<CurrentScene>>,
    mode: Res<ColorMode>,
    hidden: Res<HiddenObjects>,
    size: Res<PointSize>,
    culling: Res<BackFaceCulling>,
    old: Query<Entity, With<SceneGeometry>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut generation: Local<u64>,
) {
    let new_scene = replaced.read().count() > 0;
    if !new_scene
        && !mode.is_changed()
        && !hidden.is_changed()
        && !size.is_changed()
        && !culling.is_changed()
    {
        return;
    }
    let Some(current) = current else { return };
    for e in &old {
        commands.entity(e).despawn();
    }
    *generation += 1;
    if current.scene.triangles.is_some() {
        if let Some(mesh) = build_mesh(&current, *mode, &hidden) {
            let material = materials.add(StandardMaterial {
                base_color: Color::WHITE,
                perceptual_roughness: 0.95,
                reflectance: 0.1,
                double_sided: !culling.0,
                cull_mode: culling
                    .0
                    .then_some(bevy::render::render_resource::Face::Back),
                ..default()
            });
            commands.spawn((
                SceneGeometry,
                Mesh3d(meshes.add(mesh)),
                MeshMaterial3d(material),
                Transform::IDENTITY,
            ));
        }
    } else {
        if let Some(lod) = &current.lod {
            commands.spawn((
                SceneGeometry,
                LodCloud {
                    lod: lod.clone(),
                    scene: current.scene.clone(),
                    colors: (*mode != ColorMode::Rgb || !hidden.0.is_empty())
                        .then(|| Arc::new(point_colors(&current.scene, *mode, &hidden))),
                    base_px: size.0,
                },
            ));
        }
    }
}
