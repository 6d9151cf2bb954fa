// Point-cloud splats: one instanced draw of a unit quad, one instance per point.
// Each instance carries the point's position, its diameter in pixels and its sRGB colour; the
// vertex shader places the quad's corner at a fixed pixel offset around the projected point,
// and the fragment shader cuts the quad to a disc.

#import bevy_pbr::mesh_view_bindings::view

struct Vertex {
    // Quad corner in -1..1 (the mesh's POSITION attribute).
    @location(0) corner: vec3<f32>,
    // Per instance: xyz position in metres, w = diameter in pixels.
    @location(3) i_pos_size: vec4<f32>,
    // Per instance: sRGB colour (Unorm8x4).
    @location(4) i_color: vec4<f32>,
};

struct VertexOutput {
    @builtin(position) clip_position: vec4<f32>,
    @location(0) color: vec4<f32>,
    @location(1) corner: vec2<f32>,
};

@vertex
fn vertex(v: Vertex) -> VertexOutput {
    let center = view.clip_from_world * vec4<f32>(v.i_pos_size.xyz, 1.0);
    // A corner at ±1 moves by half the diameter: (d / 2) pixels = d / viewport in NDC units.
    let offset_ndc = v.corner.xy * v.i_pos_size.w / view.viewport.zw;
    var out: VertexOutput;
    out.clip_position = vec4<f32>(center.xy + offset_ndc * center.w, center.zw);
    out.color = vec4<f32>(pow(v.i_color.rgb, vec3<f32>(2.2)), 1.0);
    out.corner = v.corner.xy;
    return out;
}

@fragment
fn fragment(in: VertexOutput) -> @location(0) vec4<f32> {
    if dot(in.corner, in.corner) > 1.0 {
        discard;
    }
    return in.color;
}
