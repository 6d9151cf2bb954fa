//! `spatia info SCENE [--json]`.

use serde::Serialize;
use spatia::scene::Scene;

use super::SceneArgs;

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    scene: SceneArgs,
    /// Print JSON (schema in docs/CLI.md).
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct InfoJson<'a> {
    format: &'static str,
    name: &'a str,
    vertices: usize,
    faces: usize,
    objects: Vec<ObjectJson<'a>>,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct ObjectJson<'a> {
    id: u32,
    label: &'a str,
    category: &'static str,
    vertices: usize,
    aabb_min: [f32; 3],
    aabb_max: [f32; 3],
}

fn info_json(scene: &Scene) -> InfoJson<'_> {
    InfoJson {
        format: scene.format.name(),
        name: &scene.name,
        vertices: scene.positions.len(),
        faces: scene.face_count(),
        objects: scene
            .objects
            .iter()
            .map(|o| ObjectJson {
                id: o.id,
                label: &o.raw_label,
                category: o.category.name(),
                vertices: o.vertex_indices.len(),
                aabb_min: o.aabb.min.to_array(),
                aabb_max: o.aabb.max.to_array(),
            })
            .collect(),
        warnings: &scene.warnings,
    }
}

pub fn run(args: &InfoArgs) -> anyhow::Result<()> {
    let scene = args.scene.load()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&info_json(&scene))?);
        return Ok(());
    }
    println!("scene     {}", scene.name);
    println!("format    {}", scene.format.name());
    println!("source    {}", scene.source_path.display());
    println!("vertices  {}", scene.positions.len());
    println!("faces     {}", scene.face_count());
    if let Some(b) = scene.bounds() {
        let s = b.size();
        println!(
            "extent    {:.2} x {:.2} x {:.2} m  (min {:.2} {:.2} {:.2})",
            s.x, s.y, s.z, b.min.x, b.min.y, b.min.z
        );
    }
    println!("objects   {}", scene.objects.len());
    if !scene.objects.is_empty() {
        println!(
            "\n{:>5}  {:<24} {:<16} {:>8}  {:>22}  {:>22}",
            "id", "label", "category", "vertices", "aabb min (m)", "aabb max (m)"
        );
        for o in &scene.objects {
            let (mn, mx) = (o.aabb.min, o.aabb.max);
            println!(
                "{:>5}  {:<24} {:<16} {:>8}  {:>6.3} {:>7.3} {:>7.3}  {:>6.3} {:>7.3} {:>7.3}",
                o.id,
                truncate(&o.raw_label, 24),
                o.category.name(),
                o.vertex_indices.len(),
                mn.x,
                mn.y,
                mn.z,
                mx.x,
                mx.y,
                mx.z
            );
        }
    }
    for w in &scene.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
