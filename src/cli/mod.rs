//! Argument parsing and dispatch. Library errors (thiserror) become `anyhow` errors here and
//! are printed as one line by `main`.

mod ask;
mod eval;
mod export_model;
mod gen_cloud;
mod gen_data;
mod gen_scenes;
mod info;
mod model_info;
mod questions;
mod relations;
mod train;
#[cfg(feature = "viewer")]
mod view;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Spatia: spatial questions about 3D indoor scenes, answered by a small distilled VLM.
#[derive(Parser, Debug)]
#[command(name = "spatia", version, about)]
pub struct Cli {
    /// Without a command, the viewer opens on the bundled scene.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a scene's format, vertex and face counts and objects.
    Info(info::InfoArgs),
    /// Generate furnished rooms in ScanNet or 3D-FRONT layout.
    GenScenes(gen_scenes::GenArgs),
    /// Spatial relations (distance, contact, support, proximity) of every object pair.
    Relations(relations::RelationsArgs),
    /// Train a model (`train teacher`).
    Train(train::TrainArgs),
    /// Evaluate a model on a dataset split.
    Eval(eval::EvalArgs),
    /// Copy a checkpoint to a plain model folder (f16 by default), as `models/` ships them.
    ExportModel(export_model::ExportArgs),
    /// Distil a student from a teacher (`distill --teacher DIR --data DIR --out DIR`).
    Distill(train::DistillArgs),
    /// Answer a question about a scene with a model (default models/student).
    Ask(ask::AskArgs),
    /// Parameters and speed of the student and teacher presets.
    BenchModels(ask::BenchModelsArgs),
    /// What a model folder holds: configuration, tokenizer size, parameters per part.
    ModelInfo(model_info::ModelInfoArgs),
    /// Build a training dataset: views, depth, instances, cameras, boxes and questions.
    GenData(gen_data::GenDataArgs),
    /// Write a big synthetic point cloud as PLY (the viewer and loader benchmarks' clouds).
    GenCloud(gen_cloud::GenCloudArgs),
    /// Generate a scene's spatial questions with answers and categories.
    Questions(questions::QuestionsArgs),
    /// Import the spatial subset of SQA3D or ScanQA into a JSONL question file.
    ImportQuestions(questions::ImportArgs),
    /// Open the viewer (on the bundled scene when no SCENE is given).
    #[cfg(feature = "viewer")]
    View(view::ViewArgs),
    /// Measure the viewer's frame time on point clouds of several sizes and on a mesh.
    #[cfg(feature = "viewer")]
    BenchView(view::BenchViewArgs),
}

/// `--device`, shared by every command that runs a model.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct DeviceArgs {
    /// Where the models run: auto (a GPU when this binary was built with `cuda` and one is
    /// present, else the CPU), cpu, or cuda (refused when this binary or machine has none).
    #[arg(long, value_enum, default_value_t = spatia::model::DeviceChoice::Auto)]
    pub device: spatia::model::DeviceChoice,
}

impl DeviceArgs {
    /// The device these arguments ask for (see [`spatia::model::select_device`]).
    pub fn select(&self) -> anyhow::Result<candle_core::Device> {
        Ok(spatia::model::select_device(self.device)?)
    }
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
        Some(Command::Info(a)) => info::run(&a),
        Some(Command::GenScenes(a)) => gen_scenes::run(&a),
        Some(Command::Relations(a)) => relations::run(&a),
        Some(Command::Questions(a)) => questions::run(&a),
        Some(Command::GenData(a)) => gen_data::run(&a),
        Some(Command::GenCloud(a)) => gen_cloud::run(&a),
        Some(Command::Ask(a)) => ask::run(&a),
        Some(Command::Train(a)) => train::run(&a),
        Some(Command::Eval(a)) => eval::run(&a),
        Some(Command::Distill(a)) => train::distill(&a),
        Some(Command::ExportModel(a)) => export_model::run(&a),
        Some(Command::BenchModels(a)) => ask::bench(&a),
        Some(Command::ModelInfo(a)) => model_info::run(&a),
        Some(Command::ImportQuestions(a)) => questions::import(&a),
        #[cfg(feature = "viewer")]
        Some(Command::View(a)) => view::run(&a),
        #[cfg(feature = "viewer")]
        Some(Command::BenchView(a)) => view::bench(&a),
        #[cfg(feature = "viewer")]
        None => view::run(&view::ViewArgs::default()),
        #[cfg(not(feature = "viewer"))]
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            anyhow::bail!(
                "this build has no viewer (built without the `viewer` feature); pick a command"
            )
        }
    }
}
