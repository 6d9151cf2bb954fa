//! The viewer's one link to the model worker (`crate::worker`): [`ModelBridge`] holds the worker
//! handle and what it reported about itself; each frame `forward_worker_events` drains the
//! worker's events and re-sends them as [`WorkerMessage`]s, which the chat, predictions,
//! diagnostics and training plugins read. No plugin reaches into another's resources.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bevy::prelude::*;

use super::loading::{CurrentScene, SceneReplaced};
use crate::worker::{Event, Request, Role, Worker};

/// The model folders the viewer loads at start (missing ones are skipped with a note) and the
/// device they run on (`--device`).
#[derive(Resource, Debug, Clone)]
pub struct ModelDirs {
    /// The chat's model.
    pub student: PathBuf,
    /// The comparison model.
    pub teacher: PathBuf,
    /// Where the worker runs the models.
    pub device: crate::model::DeviceChoice,
}

impl Default for ModelDirs {
    fn default() -> Self {
        Self {
            student: crate::model::default_model_dir("student"),
            teacher: crate::model::default_model_dir("teacher"),
            device: crate::model::DeviceChoice::Auto,
        }
    }
}

/// One worker event, with the id of the scene the viewer had sent last when it arrived
/// (events about older scenes are stale).
#[derive(Message, Debug, Clone)]
pub struct WorkerMessage {
    /// The bridge's current scene id.
    pub current_scene_id: u64,
    /// What the worker said.
    pub event: Event,
}

/// The worker handle and what it reported about itself.
#[derive(Resource, Default)]
pub struct ModelBridge {
    worker: Option<Worker>,
    /// "cpu", "cuda" or "metal", once a model is loaded.
    pub device: Option<&'static str>,
    /// Loaded models: name and parameters.
    pub models: BTreeMap<Role, (String, usize)>,
    /// The id of the scene last sent to the worker.
    pub scene_id: u64,
    next_request: u64,
    /// A message not tied to a question (load errors, restarts).
    pub note: Option<String>,
}

impl ModelBridge {
    /// Queues a request; the error is for the UI.
    pub fn send(&mut self, request: Request) -> Result<(), String> {
        match &self.worker {
            Some(w) => w.send(request).map_err(|e| e.to_string()),
            None => Err("the model worker is not running".into()),
        }
    }

    /// Whether the model worker thread runs.
    pub fn has_worker(&self) -> bool {
        self.worker.is_some()
    }

    /// A fresh request id.
    pub fn next_request_id(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }

    /// Asks `question` of `roles`; returns the request id.
    pub fn ask(
        &mut self,
        question: &str,
        roles: Vec<Role>,
        attention: bool,
    ) -> Result<u64, String> {
        let request_id = self.next_request_id();
        self.send(Request::Ask {
            request_id,
            question: question.to_string(),
            roles,
            attention,
        })?;
        Ok(request_id)
    }

    /// Takes what an event says about the worker itself (models loaded, restarts, errors not
    /// tied to a request).
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::ModelLoaded {
                role,
                name,
                params,
                device,
            } => {
                self.device = Some(device);
                self.models.insert(*role, (name.clone(), *params));
            }
            Event::Error {
                request_id: None,
                message,
            } => self.note = Some(message.clone()),
            Event::Restarted { reason } => {
                self.note = Some(format!("the model worker restarted after: {reason}"));
            }
            _ => {}
        }
    }
}

/// Model bridge plugin: starts the worker, sends it each new scene, asks for the student's
/// predictions once a scene is ready, and forwards every event as a [`WorkerMessage`].
pub struct ModelBridgePlugin;

impl Plugin for ModelBridgePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ModelBridge>()
            .init_resource::<ModelDirs>()
            .add_message::<WorkerMessage>()
            .add_systems(Startup, start_model_worker)
            .add_systems(
                PreUpdate,
                (send_scene_to_worker, forward_worker_events).chain(),
            );
    }
}

fn start_model_worker(mut bridge: ResMut<ModelBridge>, dirs: Res<ModelDirs>) {
    // No device (a GPU asked for but absent) or no worker thread: the panel says why.
    let worker = crate::model::select_device(dirs.device)
        .map_err(|e| e.to_string())
        .and_then(|device| Worker::spawn(device).map_err(|e| e.to_string()));
    match worker {
        Ok(w) => bridge.worker = Some(w),
        Err(note) => {
            bridge.note = Some(note);
            return;
        }
    }
    let mut missing = Vec::new();
    for (role, dir) in [
        (Role::Student, &dirs.student),
        (Role::Teacher, &dirs.teacher),
    ] {
        if dir.join("config.json").is_file() {
            let _ = bridge.send(Request::LoadModel {
                role,
                dir: dir.clone(),
            });
        } else {
            missing.push(format!("{} ({})", role.name(), dir.display()));
        }
    }
    if !missing.is_empty() {
        bridge.note = Some(format!("no model folder for {}", missing.join(", ")));
    }
}

fn send_scene_to_worker(
    mut replaced: MessageReader<SceneReplaced>,
    current: Option<Res<CurrentScene>>,
    mut bridge: ResMut<ModelBridge>,
) {
    if replaced.read().count() == 0 {
        return;
    }
    let Some(current) = current else { return };
    bridge.scene_id += 1;
    let scene_id = bridge.scene_id;
    if let Err(e) = bridge.send(Request::SetScene {
        scene_id,
        scene: current.scene.clone(),
    }) {
        bridge.note = Some(e);
    }
}

fn forward_worker_events(mut bridge: ResMut<ModelBridge>, mut out: MessageWriter<WorkerMessage>) {
    let events: Vec<Event> = match &bridge.worker {
        Some(w) => w.events().try_iter().collect(),
        None => return,
    };
    for event in events {
        if let Event::SceneReady(v) = &event
            && v.scene_id == bridge.scene_id
        {
            // The depth panel and predicted boxes follow every new scene.
            let request_id = bridge.next_request_id();
            if let Err(e) = bridge.send(Request::Predict {
                request_id,
                role: Role::Student,
            }) {
                bridge.note = Some(e);
            }
        }
        bridge.apply(&event);
        out.write(WorkerMessage {
            current_scene_id: bridge.scene_id,
            event,
        });
    }
}
