//! What the viewer asks the worker and what it hears back: plain data only (no tensors), so the
//! viewer never touches candle.

use std::path::PathBuf;
use std::sync::Arc;

use crate::model::vlm::SceneTokenInfo;
use crate::model::{AttentionMaps, Detection, ViewBatch, ViewDepth};
use crate::scene::Scene;
use crate::train::{TrainEvent, TrainPlan};

/// Which model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Role {
    /// The small model (RGB and cameras only) the chat uses by default.
    #[default]
    Student,
    /// The larger, privileged model (it reads annotated objects): the diagnostic comparison, or
    /// the chat's answerer when chosen.
    Teacher,
}

impl Role {
    /// "student" or "teacher".
    pub fn name(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Teacher => "teacher",
        }
    }
}

/// A request to the worker. Requests carrying a `request_id` can be cancelled.
#[derive(Debug, Clone)]
pub enum Request {
    /// Load (or replace) a model from a folder.
    LoadModel {
        /// Which slot.
        role: Role,
        /// The model folder.
        dir: PathBuf,
    },
    /// The scene the following questions are about. Work queued for an older scene is
    /// cancelled; encodings are cached per scene and model.
    SetScene {
        /// The viewer's id for it (increasing).
        scene_id: u64,
        /// The scene.
        scene: Arc<Scene>,
    },
    /// Answer a question about the current scene with each of `roles`.
    Ask {
        /// Id for cancellation and for matching answers.
        request_id: u64,
        /// The question.
        question: String,
        /// Models to ask (the teacher too in diagnostic mode).
        roles: Vec<Role>,
        /// Return Hidden CoT attention maps.
        attention: bool,
    },
    /// Predicted depth for every view and predicted boxes, from one model.
    Predict {
        /// Id for cancellation.
        request_id: u64,
        /// Which model.
        role: Role,
    },
    /// Drop a queued request, or the rest of one in progress.
    Cancel {
        /// Its id.
        request_id: u64,
    },
    /// Start a training run on its own thread.
    StartTraining(Box<TrainPlan>),
    /// Stop the training run after checkpointing (pause = stop, then start again with
    /// `resume`).
    StopTraining,
    /// End the worker.
    Shutdown,
    /// Panics inside the worker (tests of the recovery path).
    #[doc(hidden)]
    Crash,
}

/// The views the models saw for the current scene (for the depth panel and camera frusta).
#[derive(Debug, Clone)]
pub struct SceneViews {
    /// The scene id they belong to.
    pub scene_id: u64,
    /// Images, ground-truth depth, intrinsics and extrinsics.
    pub views: ViewBatch,
}

/// Something the worker reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// A model is ready.
    ModelLoaded {
        /// Its slot.
        role: Role,
        /// Preset name and folder.
        name: String,
        /// Parameters.
        params: usize,
        /// "cpu", "cuda" or "metal".
        device: &'static str,
    },
    /// The current scene's views are rendered.
    SceneReady(Arc<SceneViews>),
    /// Example questions for the current scene, from the question generator.
    Suggestions {
        /// Scene id.
        scene_id: u64,
        /// Questions, a few per category.
        questions: Vec<String>,
    },
    /// A scene was encoded by a model.
    Encoded {
        /// Scene id.
        scene_id: u64,
        /// Model.
        role: Role,
        /// Milliseconds.
        encode_ms: f64,
    },
    /// One model's answer.
    Answer {
        /// The request.
        request_id: u64,
        /// Which model.
        role: Role,
        /// The answer text.
        text: String,
        /// Answer tokens (decoded one by one) and their probabilities.
        tokens: Vec<(String, f32)>,
        /// Milliseconds, with the scene cached.
        latency_ms: f64,
        /// Hidden CoT attention, when asked for.
        attention: Option<AttentionMaps>,
        /// Where each scene token comes from (view and patch cell), to draw the latents'
        /// attention on the views; empty without attention.
        scene_layout: Vec<SceneTokenInfo>,
        /// Objects the question or the answer names (scene object ids).
        objects: Vec<u32>,
        /// The objects the model's Hidden CoT slots read the answer from, in the order the
        /// question names them (models with object slots; empty otherwise).
        grounding: Vec<GroundedObject>,
        /// Object names in the question of which the model has no object token here (it
        /// found, or was given, none of that category): its answer cannot be about one.
        unseen: Vec<String>,
        /// Objects found only by looking again for what the question names
        /// (`model::Answer::looked_again_names`).
        looked_again: Vec<String>,
        /// What free decoding said when it was not of the kind the question's form asks for
        /// (`model::Answer::unconstrained`).
        unconstrained: Option<String>,
    },
    /// Depth and boxes predicted by a model.
    Prediction {
        /// The request.
        request_id: u64,
        /// Which model.
        role: Role,
        /// Per view.
        depth: Vec<ViewDepth>,
        /// Boxes (first camera's frame), best first.
        detections: Vec<Detection>,
        /// World from the first camera, column-major 4×4 (to place the boxes).
        world_from_camera0: [f32; 16],
    },
    /// A request was dropped.
    Cancelled {
        /// Its id.
        request_id: u64,
    },
    /// A request failed (or the worker did): shown in the UI.
    Error {
        /// The request, when one failed.
        request_id: Option<u64>,
        /// What went wrong, naming the file or input.
        message: String,
    },
    /// The worker recovered from a panic: models reloaded, caches cleared.
    Restarted {
        /// What happened.
        reason: String,
    },
    /// From the training thread: the trainer's own events (plain data).
    Training(TrainEvent),
}

/// An object a model grounded its answer on: where a Hidden CoT object slot pointed.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundedObject {
    /// Scene object id.
    pub object_id: u32,
    /// Its category's name ("chair").
    pub name: String,
    /// The slot's pointer probability, 0..1.
    pub probability: f32,
}
