//! Point clouds as one instanced draw: a unit quad mesh drawn once per point, the per-point data
//! (position, pixel size, colour: 20 bytes) in one GPU vertex buffer uploaded only when the
//! cloud changes. Cost grows linearly with the point count and there is one entity per cloud,
//! not per point; scene clouds hold only the points the level of detail chose (`lod`). The shader is `shaders/points.wgsl`, embedded in the binary.

use std::sync::Arc;

use bevy::asset::{RenderAssetUsages, uuid_handle};
use bevy::camera::visibility::NoFrustumCulling;
use bevy::core_pipeline::core_3d::{Transparent3d, TransparentSortingInfo3d};
use bevy::ecs::query::QueryItem;
use bevy::ecs::system::{SystemParamItem, lifetimeless::*};
use bevy::mesh::{Indices, MeshVertexBufferLayoutRef, PrimitiveTopology, VertexBufferLayout};
use bevy::pbr::{
    MeshPipeline, MeshPipelineKey, MeshPipelineSystems, RenderMeshInstances, SetMeshBindGroup,
    SetMeshViewBindGroup, SetMeshViewBindingArrayBindGroup, ViewKeyCache,
};
use bevy::prelude::*;
use bevy::render::extract_component::{ExtractComponent, ExtractComponentPlugin};
use bevy::render::mesh::allocator::MeshAllocator;
use bevy::render::mesh::{RenderMesh, RenderMeshBufferInfo};
use bevy::render::render_asset::RenderAssets;
use bevy::render::render_phase::{
    AddRenderCommand, DrawFunctions, PhaseItem, PhaseItemExtraIndex, RenderCommand,
    RenderCommandResult, SetItemPipeline, TrackedRenderPass, ViewSortedRenderPhases,
};
use bevy::render::render_resource::*;
use bevy::render::renderer::RenderDevice;
use bevy::render::sync_component::SyncComponent;
use bevy::render::sync_world::MainEntity;
use bevy::render::view::ExtractedView;
use bevy::render::{Render, RenderApp, RenderStartup, RenderSystems};
use bevy::shader::Shader;
use bytemuck::{Pod, Zeroable};

const POINT_SHADER: Handle<Shader> = uuid_handle!("6a0d5a39-43a3-4f7e-9d3c-2f8f6f1f0c11");

/// One point: position (metres), splat diameter (pixels), sRGB colour.
#[derive(Clone, Copy, Pod, Zeroable, Debug, PartialEq)]
#[repr(C)]
pub struct PointInstance {
    /// Position, metres.
    pub position: [f32; 3],
    /// Splat diameter, pixels.
    pub size_px: f32,
    /// sRGB colour and alpha.
    pub color: [u8; 4],
}

/// A point cloud to draw. `generation` changes whenever `instances` does, so the GPU buffer is
/// rebuilt only then.
#[derive(Component, Clone)]
pub struct PointCloud {
    /// The points.
    pub instances: Arc<Vec<PointInstance>>,
    /// Changes when `instances` changes.
    pub generation: u64,
}

impl SyncComponent for PointCloud {
    type Target = Self;
}

impl ExtractComponent for PointCloud {
    type QueryData = &'static PointCloud;
    type QueryFilter = ();
    type Out = Self;

    fn extract_component(item: QueryItem<'_, '_, Self::QueryData>) -> Option<Self> {
        // An `Arc` clone: the points themselves are not copied.
        Some(item.clone())
    }
}

/// The shared unit quad.
#[derive(Resource)]
struct PointQuad(Handle<Mesh>);

/// Point cloud plugin.
pub struct PointCloudPlugin;

impl Plugin for PointCloudPlugin {
    fn build(&self, app: &mut App) {
        let shader = Shader::from_wgsl(
            include_str!("../../shaders/points.wgsl"),
            "shaders/points.wgsl",
        );
        if let Err(e) = app
            .world_mut()
            .resource_mut::<Assets<Shader>>()
            .insert(POINT_SHADER.id(), shader)
        {
            error!("cannot register the point shader: {e}");
        }
        let mut quad = Mesh::new(
            PrimitiveTopology::TriangleList,
            RenderAssetUsages::RENDER_WORLD,
        );
        quad.insert_attribute(
            Mesh::ATTRIBUTE_POSITION,
            vec![
                [-1.0f32, -1.0, 0.0],
                [1.0, -1.0, 0.0],
                [1.0, 1.0, 0.0],
                [-1.0, 1.0, 0.0],
            ],
        );
        quad.insert_indices(Indices::U32(vec![0, 1, 2, 0, 2, 3]));
        let handle = app.world_mut().resource_mut::<Assets<Mesh>>().add(quad);
        app.insert_resource(PointQuad(handle))
            .add_plugins(ExtractComponentPlugin::<PointCloud>::default())
            .add_systems(Update, attach_quad);
        let Some(render_app) = app.get_sub_app_mut(RenderApp) else {
            return;
        };
        render_app
            .add_render_command::<Transparent3d, DrawPoints>()
            .init_resource::<SpecializedMeshPipelines<PointPipeline>>()
            .add_systems(
                RenderStartup,
                init_point_pipeline.after(MeshPipelineSystems),
            )
            .add_systems(
                Render,
                (
                    queue_points.in_set(RenderSystems::QueueMeshes),
                    prepare_point_buffers.in_set(RenderSystems::PrepareResources),
                ),
            );
    }
}

fn attach_quad(
    mut commands: Commands,
    quad: Res<PointQuad>,
    added: Query<Entity, Added<PointCloud>>,
) {
    for e in &added {
        commands.entity(e).insert((
            Mesh3d(quad.0.clone()),
            NoFrustumCulling,
            Transform::IDENTITY,
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn queue_points(
    draw_functions: Res<DrawFunctions<Transparent3d>>,
    pipeline: Res<PointPipeline>,
    mut pipelines: ResMut<SpecializedMeshPipelines<PointPipeline>>,
    pipeline_cache: Res<PipelineCache>,
    meshes: Res<RenderAssets<RenderMesh>>,
    render_mesh_instances: Res<RenderMeshInstances>,
    clouds: Query<(Entity, &MainEntity), With<PointCloud>>,
    mut phases: ResMut<ViewSortedRenderPhases<Transparent3d>>,
    views: Query<&ExtractedView>,
    view_key_cache: Res<ViewKeyCache>,
) {
    let draw = draw_functions.read().id::<DrawPoints>();
    for view in &views {
        let Some(phase) = phases.get_mut(&view.retained_view_entity) else {
            continue;
        };
        let Some(&view_key) = view_key_cache.get(&view.retained_view_entity) else {
            continue;
        };
        for (entity, main_entity) in &clouds {
            let Some(instance) = render_mesh_instances.render_mesh_queue_data(*main_entity) else {
                continue;
            };
            let Some(mesh) = meshes.get(instance.mesh_asset_id()) else {
                continue;
            };
            let key = view_key
                | MeshPipelineKey::from_primitive_topology_and_strip_index(
                    mesh.primitive_topology(),
                    mesh.index_format(),
                );
            let Ok(pipeline) = pipelines.specialize(&pipeline_cache, &pipeline, key, &mesh.layout)
            else {
                continue;
            };
            phase.add_retained(Transparent3d {
                sorting_info: TransparentSortingInfo3d::Sorted {
                    mesh_center: Vec3::ZERO,
                    depth_bias: 0.0,
                },
                entity: (entity, *main_entity),
                pipeline,
                draw_function: draw,
                distance: 0.0,
                batch_range: 0..1,
                extra_index: PhaseItemExtraIndex::None,
                indexed: true,
            });
        }
    }
}

/// The uploaded instance buffer of a cloud, and the generation it holds.
#[derive(Component)]
struct PointBuffer {
    buffer: Buffer,
    length: u32,
    generation: u64,
}

fn prepare_point_buffers(
    mut commands: Commands,
    clouds: Query<(Entity, &PointCloud, Option<&PointBuffer>)>,
    device: Res<RenderDevice>,
) {
    for (entity, cloud, existing) in &clouds {
        if existing.is_some_and(|b| b.generation == cloud.generation) {
            continue;
        }
        if cloud.instances.is_empty() {
            // Nothing on screen (wgpu refuses empty vertex buffers): draw nothing.
            commands.entity(entity).remove::<PointBuffer>();
            continue;
        }
        let buffer = device.create_buffer_with_data(&BufferInitDescriptor {
            label: Some("spatia point instances"),
            contents: bytemuck::cast_slice(cloud.instances.as_slice()),
            usage: BufferUsages::VERTEX,
        });
        commands.entity(entity).insert(PointBuffer {
            buffer,
            length: cloud.instances.len() as u32,
            generation: cloud.generation,
        });
    }
}

#[derive(Resource)]
struct PointPipeline {
    mesh_pipeline: MeshPipeline,
}

fn init_point_pipeline(mut commands: Commands, mesh_pipeline: Res<MeshPipeline>) {
    commands.insert_resource(PointPipeline {
        mesh_pipeline: mesh_pipeline.clone(),
    });
}

impl SpecializedMeshPipeline for PointPipeline {
    type Key = MeshPipelineKey;

    fn specialize(
        &self,
        key: Self::Key,
        layout: &MeshVertexBufferLayoutRef,
    ) -> Result<RenderPipelineDescriptor, SpecializedMeshPipelineError> {
        let mut descriptor = self.mesh_pipeline.specialize(key, layout)?;
        descriptor.label = Some("spatia point splats".into());
        descriptor.vertex.shader = POINT_SHADER;
        descriptor.vertex.buffers.push(VertexBufferLayout {
            array_stride: size_of::<PointInstance>() as u64,
            step_mode: VertexStepMode::Instance,
            attributes: vec![
                VertexAttribute {
                    format: VertexFormat::Float32x4,
                    offset: 0,
                    shader_location: 3,
                },
                VertexAttribute {
                    format: VertexFormat::Unorm8x4,
                    offset: 16,
                    shader_location: 4,
                },
            ],
        });
        if let Some(fragment) = descriptor.fragment.as_mut() {
            fragment.shader = POINT_SHADER;
        }
        Ok(descriptor)
    }
}

type DrawPoints = (
    SetItemPipeline,
    SetMeshViewBindGroup<0>,
    SetMeshViewBindingArrayBindGroup<1>,
    SetMeshBindGroup<2>,
    DrawQuadInstanced,
);

struct DrawQuadInstanced;

impl<P: PhaseItem> RenderCommand<P> for DrawQuadInstanced {
    type Param = (
        SRes<RenderAssets<RenderMesh>>,
        SRes<RenderMeshInstances>,
        SRes<MeshAllocator>,
    );
    type ViewQuery = ();
    type ItemQuery = Read<PointBuffer>;

    fn render<'w>(
        item: &P,
        _view: (),
        buffer: Option<&'w PointBuffer>,
        (meshes, render_mesh_instances, mesh_allocator): SystemParamItem<'w, '_, Self::Param>,
        pass: &mut TrackedRenderPass<'w>,
    ) -> RenderCommandResult {
        let mesh_allocator = mesh_allocator.into_inner();
        let Some(instance) = render_mesh_instances.render_mesh_queue_data(item.main_entity())
        else {
            return RenderCommandResult::Skip;
        };
        let Some(gpu_mesh) = meshes.into_inner().get(instance.mesh_asset_id()) else {
            return RenderCommandResult::Skip;
        };
        let Some(buffer) = buffer else {
            return RenderCommandResult::Skip;
        };
        let Some(vertices) = mesh_allocator.mesh_vertex_slice(&instance.mesh_asset_id()) else {
            return RenderCommandResult::Skip;
        };
        pass.set_vertex_buffer(0, vertices.buffer.slice(..));
        pass.set_vertex_buffer(1, buffer.buffer.slice(..));
        match &gpu_mesh.buffer_info {
            RenderMeshBufferInfo::Indexed {
                index_format,
                count,
            } => {
                let Some(indices) = mesh_allocator.mesh_index_slice(&instance.mesh_asset_id())
                else {
                    return RenderCommandResult::Skip;
                };
                pass.set_index_buffer(indices.buffer.slice(..), *index_format);
                pass.draw_indexed(
                    indices.range.start..(indices.range.start + count),
                    vertices.range.start as i32,
                    0..buffer.length,
                );
            }
            RenderMeshBufferInfo::NonIndexed => {
                pass.draw(vertices.range, 0..buffer.length);
            }
        }
        RenderCommandResult::Success
    }
}
