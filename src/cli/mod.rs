//! Argument parsing and dispatch. Library errors (thiserror) become `anyhow` errors here and
//! are printed as one line by `main`.

mod gen_scenes;
mod info;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Spatia: spatial questions about 3D indoor scenes, answered by a small distilled VLM.
#[derive(Parser, Debug)]
#[command(name = "spatia", version, about, arg_required_else_help = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a scene's format, vertex and face counts and objects.
    Info(info::InfoArgs),
    /// Generate furnished rooms in ScanNet or 3D-FRONT layout.
    GenScenes(gen_scenes::GenArgs),
}

/// Options shared by commands that load a scene.
#[derive(clap::Args, Debug, Clone)]
pub struct SceneArgs {
    /// A ScanNet scan folder or `_vh_clean_2.ply`, a 3D-FRONT house `.json`, or a `.ply`.
    pub scene: PathBuf,
    /// 3D-FRONT: load only the room with this instance id (e.g. `Bedroom-1234`).
    #[arg(long)]
    pub room: Option<String>,
    /// 3D-FRONT: the 3D-FUTURE model folder holding `<jid>/raw_model.obj`.
    #[arg(long)]
    pub future: Option<PathBuf>,
}

impl SceneArgs {
    /// Loads the scene these arguments name.
    pub fn load(&self) -> anyhow::Result<spatia::scene::Scene> {
        let options = spatia::scene::LoadOptions {
            room: self.room.clone(),
            future_dir: self.future.clone(),
        };
        Ok(spatia::scene::load_scene(&self.scene, &options)?)
    }
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Info(a) => info::run(&a),
        Command::GenScenes(a) => gen_scenes::run(&a),
    }
}
