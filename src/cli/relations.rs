//! `spatia relations SCENE [--json] [--all]`.

use serde::Serialize;
use spatia::spatial::{PairRelation, SpatialScene};

use super::SceneArgs;

#[derive(clap::Args, Debug)]
pub struct RelationsArgs {
    #[command(flatten)]
    scene: SceneArgs,
    /// Print JSON (schema in docs/CLI.md).
    #[arg(long)]
    json: bool,
    /// Include pairs with floors, walls and ceilings.
    #[arg(long)]
    all: bool,
}

#[derive(Serialize)]
struct ObjectJson<'a> {
    id: u32,
    label: &'a str,
    category: &'static str,
    aabb_min: [f32; 3],
    aabb_max: [f32; 3],
}

#[derive(Serialize)]
struct RelationsJson<'a> {
    objects: Vec<ObjectJson<'a>>,
    pairs: Vec<PairRelation>,
}

pub fn run(args: &RelationsArgs) -> anyhow::Result<()> {
    let scene = args.scene.load()?;
    let spatial = SpatialScene::new(&scene);
    let pairs = spatial.all_pairs(args.all);
    if args.json {
        let objects = scene
            .objects
            .iter()
            .filter(|o| args.all || !o.category.is_structure())
            .map(|o| ObjectJson {
                id: o.id,
                label: &o.raw_label,
                category: o.category.name(),
                aabb_min: o.aabb.min.to_array(),
                aabb_max: o.aabb.max.to_array(),
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&RelationsJson { objects, pairs })?
        );
        return Ok(());
    }
    let name = |id: u32| {
        scene
            .object(id)
            .map(|o| format!("#{id} {}", o.category.name()))
            .unwrap_or_else(|| format!("#{id}"))
    };
    println!("{:<24} {:<24} {:>10}  relations", "a", "b", "distance_m");
    for p in &pairs {
        let mut rel = Vec::new();
        if p.a_on_b {
            rel.push("a on b");
        }
        if p.b_on_a {
            rel.push("b on a");
        }
        if p.contact {
            rel.push("contact");
        }
        if p.near {
            rel.push("near");
        }
        if p.far {
            rel.push("far");
        }
        println!(
            "{:<24} {:<24} {:>10.3}  {}",
            name(p.a),
            name(p.b),
            p.distance_m,
            rel.join(", ")
        );
    }
    Ok(())
}
