//! The model side of the viewer (issue #7): [`ModelBridge`], a resource holding the model
//! worker (`crate::worker`) whose events `drain_model_events` applies every frame, and the chat
//! panel — questions, answers with model and latency, the objects they name highlighted in the
//! 3D view, history per scene (copyable), and example questions for the loaded scene. The
//! models run on the worker thread, so the UI keeps rendering while they answer.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use bevy::prelude::*;
use bevy_egui::egui;

use super::diagnostics::{DiagnosticView, draw_attention};
use super::loading::{CurrentScene, SceneReplaced};
use super::predictions::{Predictions, draw_predictions, update_depth_cloud};
use super::training::{TrainingState, start_scripted_training};
use crate::model::AttentionMaps;
use crate::model::vlm::SceneTokenInfo;
use crate::worker::{Event, Request, Role, Worker};

/// Colour of the boxes of objects a question or answer names.
pub const HIGHLIGHT_COLOR: Color = Color::srgb(0.25, 1.0, 0.35);

/// The model folders the viewer loads at start (missing ones are skipped with a note).
#[derive(Resource, Debug, Clone)]
pub struct ModelDirs {
    /// The chat's model.
    pub student: PathBuf,
    /// The comparison model.
    pub teacher: PathBuf,
}

impl Default for ModelDirs {
    fn default() -> Self {
        Self {
            student: crate::model::default_model_dir("student"),
            teacher: crate::model::default_model_dir("teacher"),
        }
    }
}

/// One model's answer in the chat.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatAnswer {
    /// Which model.
    pub role: Role,
    /// What it said.
    pub text: String,
    /// Milliseconds, scene cached.
    pub latency_ms: f64,
    /// Answer tokens and their probabilities.
    pub tokens: Vec<(String, f32)>,
    /// Hidden CoT attention (diagnostic mode).
    pub attention: Option<AttentionMaps>,
    /// Scene token layout for the attention.
    pub scene_layout: Vec<SceneTokenInfo>,
}

/// A question and its answers.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatEntry {
    /// The worker request.
    pub request_id: u64,
    /// The question.
    pub question: String,
    /// Answers as they arrive.
    pub answers: Vec<ChatAnswer>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Objects named by the question or the answers.
    pub objects: Vec<u32>,
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

    /// Asks `question` of `roles`; returns the request id.
    pub fn ask(
        &mut self,
        question: &str,
        roles: Vec<Role>,
        attention: bool,
    ) -> Result<u64, String> {
        self.next_request += 1;
        let request_id = self.next_request;
        self.send(Request::Ask {
            request_id,
            question: question.to_string(),
            roles,
            attention,
        })?;
        Ok(request_id)
    }
}

/// The chat's state.
#[derive(Resource, Default, Debug)]
pub struct Chat {
    /// History per scene file.
    pub history: HashMap<PathBuf, Vec<ChatEntry>>,
    /// The line being typed.
    pub input: String,
    /// Example questions for the current scene.
    pub suggestions: Vec<String>,
    /// Objects highlighted in the 3D view (those the last answer's question and answer name).
    pub highlighted: Vec<u32>,
    /// The question waiting for its answer.
    pub waiting: Option<u64>,
    /// Diagnostic mode: the teacher answers too, and attention is recorded.
    pub diagnostic: bool,
}

/// The tabs of the right-hand panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PanelTab {
    /// Questions and answers, depth and boxes.
    #[default]
    Chat,
    /// Teacher vs student, attention, disagreements.
    Diagnostics,
    /// The distillation run.
    Training,
}

/// Which tab the right-hand panel shows.
#[derive(Resource, Debug, Clone, Copy, Default)]
pub struct RightPanel(pub PanelTab);

/// A question asked as soon as the scene is with the worker (`spatia view --ask`); the
/// screenshot waits for its answer.
#[derive(Resource, Debug, Clone)]
pub struct ScriptedQuestion {
    /// The question.
    pub question: String,
    /// Sent yet.
    pub asked: bool,
    /// When it was last sent.
    pub asked_at: Option<std::time::Instant>,
}

impl ScriptedQuestion {
    /// Whether the screenshot must still wait: not asked yet, or asked and unanswered.
    pub fn pending(&self, chat: &Chat) -> bool {
        !self.asked || chat.waiting.is_some()
    }
}

/// Assistant plugin: starts the worker, sends it each new scene, drains its events, draws the
/// highlighted objects. The chat panel itself is drawn by the UI plugin's panel system.
pub struct AssistantPlugin;

impl Plugin for AssistantPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ModelBridge>()
            .init_resource::<Chat>()
            .init_resource::<ModelDirs>()
            .init_resource::<Predictions>()
            .init_resource::<DiagnosticView>()
            .init_resource::<TrainingState>()
            .init_resource::<RightPanel>()
            .add_systems(Startup, start_model_worker)
            .add_systems(
                PreUpdate,
                (send_scene_to_worker, drain_model_events).chain(),
            )
            .add_systems(
                Update,
                (
                    draw_highlights,
                    ask_scripted_question,
                    start_scripted_training,
                    draw_predictions,
                    update_depth_cloud,
                    draw_attention,
                ),
            );
    }
}

fn start_model_worker(mut bridge: ResMut<ModelBridge>, dirs: Res<ModelDirs>) {
    match Worker::spawn(crate::model::pick_device()) {
        Ok(w) => bridge.worker = Some(w),
        Err(e) => {
            bridge.note = Some(e.to_string());
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
    mut chat: ResMut<Chat>,
) {
    if replaced.read().count() == 0 {
        return;
    }
    let Some(current) = current else { return };
    bridge.scene_id += 1;
    let scene_id = bridge.scene_id;
    chat.suggestions.clear();
    chat.highlighted.clear();
    chat.waiting = None;
    if let Err(e) = bridge.send(Request::SetScene {
        scene_id,
        scene: current.scene.clone(),
    }) {
        bridge.note = Some(e);
    }
}

fn drain_model_events(
    mut bridge: ResMut<ModelBridge>,
    mut chat: ResMut<Chat>,
    mut predictions: ResMut<Predictions>,
    mut training: ResMut<TrainingState>,
    current: Option<Res<CurrentScene>>,
) {
    let events: Vec<Event> = match &bridge.worker {
        Some(w) => w.events().try_iter().collect(),
        None => return,
    };
    let path = current.map(|c| c.path.clone()).unwrap_or_default();
    for e in events {
        if let Event::SceneReady(v) = &e
            && v.scene_id == bridge.scene_id
        {
            // The depth panel and predicted boxes follow every new scene.
            bridge.next_request += 1;
            let request_id = bridge.next_request;
            if let Err(e) = bridge.send(Request::Predict {
                request_id,
                role: Role::Student,
            }) {
                bridge.note = Some(e);
            }
        }
        if let Event::Training(t) = e {
            training.apply(t);
        } else if !predictions.apply(bridge.scene_id, &e) {
            apply_event(&mut bridge, &mut chat, &path, e);
        }
    }
}

/// Applies one worker event to the bridge and the chat of the scene at `path`.
pub fn apply_event(bridge: &mut ModelBridge, chat: &mut Chat, path: &Path, event: Event) {
    let find = |chat: &mut Chat, id: u64| -> Option<usize> {
        chat.history
            .get(path)
            .and_then(|h| h.iter().position(|e| e.request_id == id))
    };
    match event {
        Event::ModelLoaded {
            role,
            name,
            params,
            device,
        } => {
            bridge.device = Some(device);
            bridge.models.insert(role, (name, params));
        }
        Event::Suggestions {
            scene_id,
            questions,
        } if scene_id == bridge.scene_id => {
            chat.suggestions = questions;
        }
        Event::Answer {
            request_id,
            role,
            text,
            latency_ms,
            objects,
            tokens,
            attention,
            scene_layout,
        } => {
            let mut complete = true;
            if let Some(i) = find(chat, request_id)
                && let Some(entry) = chat.history.get_mut(path).and_then(|h| h.get_mut(i))
            {
                entry.answers.push(ChatAnswer {
                    role,
                    text,
                    latency_ms,
                    tokens,
                    attention,
                    scene_layout,
                });
                for id in objects {
                    if !entry.objects.contains(&id) {
                        entry.objects.push(id);
                    }
                }
                // In diagnostic mode the question waits for the teacher too.
                complete = !chat.diagnostic || entry.answers.len() >= 2;
                chat.highlighted = entry.objects.clone();
            }
            if chat.waiting == Some(request_id) && complete {
                chat.waiting = None;
            }
        }
        Event::Cancelled { request_id } => {
            if let Some(i) = find(chat, request_id)
                && let Some(entry) = chat.history.get_mut(path).and_then(|h| h.get_mut(i))
            {
                entry.error = Some("cancelled".into());
            }
            if chat.waiting == Some(request_id) {
                chat.waiting = None;
            }
        }
        Event::Error {
            request_id: Some(id),
            message,
        } => {
            match find(chat, id).and_then(|i| chat.history.get_mut(path).and_then(|h| h.get_mut(i)))
            {
                Some(entry) => entry.error = Some(message),
                None => bridge.note = Some(message),
            }
            if chat.waiting == Some(id) {
                chat.waiting = None;
            }
        }
        Event::Error {
            request_id: None,
            message,
        } => bridge.note = Some(message),
        Event::Restarted { reason } => {
            bridge.note = Some(format!("the model worker restarted after: {reason}"));
        }
        _ => {}
    }
}

/// Sends `question` to the student (and the teacher in diagnostic mode) and records it in the
/// chat.
pub fn submit_question(bridge: &mut ModelBridge, chat: &mut Chat, path: &Path, question: &str) {
    let question = question.trim();
    if question.is_empty() {
        return;
    }
    let roles = if chat.diagnostic {
        vec![Role::Student, Role::Teacher]
    } else {
        vec![Role::Student]
    };
    let entry = match bridge.ask(question, roles, chat.diagnostic) {
        Ok(request_id) => {
            chat.waiting = Some(request_id);
            ChatEntry {
                request_id,
                question: question.to_string(),
                answers: Vec::new(),
                error: None,
                objects: Vec::new(),
            }
        }
        Err(e) => ChatEntry {
            request_id: 0,
            question: question.to_string(),
            answers: Vec::new(),
            error: Some(e),
            objects: Vec::new(),
        },
    };
    chat.history
        .entry(path.to_path_buf())
        .or_default()
        .push(entry);
}

/// The chat panel.
pub fn chat_ui(ui: &mut egui::Ui, bridge: &mut ModelBridge, chat: &mut Chat, path: &Path) {
    ui.heading("Chat");
    match bridge.models.get(&Role::Student) {
        Some((name, params)) => {
            ui.small(format!(
                "{name} · {params} parameters · {}",
                bridge.device.unwrap_or("cpu")
            ));
        }
        None => {
            ui.small("loading the student…");
        }
    }
    if let Some(note) = &bridge.note {
        ui.colored_label(egui::Color32::from_rgb(255, 110, 90), note);
    }
    ui.separator();
    let history = chat.history.get(path).cloned().unwrap_or_default();
    egui::ScrollArea::vertical()
        .max_height(ui.available_height() - 150.0)
        .stick_to_bottom(true)
        .show(ui, |ui| {
            for entry in &history {
                ui.label(egui::RichText::new(format!("Q: {}", entry.question)).strong());
                for a in &entry.answers {
                    ui.label(format!(
                        "{}: {}   ({}, {:.0} ms)",
                        if a.role == Role::Student {
                            "A"
                        } else {
                            "Teacher"
                        },
                        a.text,
                        a.role.name(),
                        a.latency_ms
                    ));
                }
                if let Some(e) = &entry.error {
                    ui.colored_label(egui::Color32::from_rgb(255, 110, 90), e);
                }
                let unanswered = entry.answers.is_empty() || chat.waiting == Some(entry.request_id);
                if unanswered && entry.error.is_none() {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("thinking…");
                        if ui.small_button("cancel").clicked()
                            && let Err(e) = bridge.send(Request::Cancel {
                                request_id: entry.request_id,
                            })
                        {
                            bridge.note = Some(e);
                        }
                    });
                }
                ui.add_space(4.0);
            }
        });
    ui.separator();
    let response = ui.add(
        egui::TextEdit::singleline(&mut chat.input)
            .hint_text("Ask about the scene, press Enter")
            .desired_width(f32::INFINITY),
    );
    if response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
        let q = std::mem::take(&mut chat.input);
        submit_question(bridge, chat, path, &q);
        response.request_focus();
    }
    ui.horizontal(|ui| {
        if ui.button("Copy history").clicked() {
            let text: String = history
                .iter()
                .map(|e| {
                    let answers: Vec<String> = e
                        .answers
                        .iter()
                        .map(|a| format!("{}: {}", a.role.name(), a.text))
                        .collect();
                    format!("Q: {}\n{}\n", e.question, answers.join("\n"))
                })
                .collect();
            ui.ctx().copy_text(text);
        }
        if ui.button("Clear").clicked() {
            chat.history.remove(path);
            chat.highlighted.clear();
        }
    });
    if !chat.suggestions.is_empty() {
        ui.label("Try:");
        let mut picked = None;
        for s in chat.suggestions.iter().take(6) {
            if ui.small_button(s).clicked() {
                picked = Some(s.clone());
            }
        }
        if let Some(q) = picked {
            submit_question(bridge, chat, path, &q);
        }
    }
}

fn ask_scripted_question(
    script: Option<ResMut<ScriptedQuestion>>,
    mut bridge: ResMut<ModelBridge>,
    mut chat: ResMut<Chat>,
    current: Option<Res<CurrentScene>>,
) {
    let (Some(mut script), Some(current)) = (script, current) else {
        return;
    };
    // The worker handles requests in order: once the scene is sent, the question follows it.
    if script.asked || bridge.scene_id == 0 {
        return;
    }
    script.asked = true;
    script.asked_at = Some(std::time::Instant::now());
    let question = script.question.clone();
    submit_question(&mut bridge, &mut chat, &current.path, &question);
}

fn draw_highlights(mut gizmos: Gizmos, chat: Res<Chat>, current: Option<Res<CurrentScene>>) {
    let Some(current) = current else { return };
    for o in &current.scene.objects {
        if chat.highlighted.contains(&o.id) {
            let size = o.aabb.size().max(Vec3::splat(0.01)) * 1.03;
            gizmos.cube(
                Transform::from_translation(o.aabb.center()).with_scale(size),
                HIGHLIGHT_COLOR,
            );
        }
    }
}
