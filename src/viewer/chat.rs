//! The chat panel (issue #7): questions, answers with model and latency, the objects they name
//! highlighted in the 3D view, history per scene (copyable), and short example questions for
//! the loaded scene. Questions go to the worker through the model bridge; answers come back as
//! [`WorkerMessage`]s. The models run on the worker thread, so the UI keeps rendering while
//! they answer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bevy::prelude::*;
use bevy_egui::egui;

use super::loading::{CurrentScene, SceneReplaced};
use super::model_bridge::{ModelBridge, WorkerMessage};
use crate::model::AttentionMaps;
use crate::model::vlm::SceneTokenInfo;
use crate::worker::{Event, GroundedObject, Request, Role};

/// Colour of the boxes of objects a question or answer names.
pub const HIGHLIGHT_COLOR: Color = Color::srgb(0.25, 1.0, 0.35);
/// Outline of the objects an object-slot model read its last answer from (its grounding).
pub const GROUNDED_COLOR: Color = Color::srgb(0.2, 0.85, 1.0);

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
    /// The objects its Hidden CoT slots read the answer from.
    pub grounding: Vec<GroundedObject>,
    /// Object names in the question it has no object of (see [`unseen_line`]).
    pub unseen: Vec<String>,
    /// Objects found only by looking again for what the question names (see
    /// [`looked_again_line`]).
    pub looked_again: Vec<String>,
    /// What free decoding said when it was not of the kind the question asks for (see
    /// [`unconstrained_line`]).
    pub unconstrained: Option<String>,
}

/// "free decoding said "1.5 m", not the kind of answer the question asks for", or `None` when
/// free decoding answered.
pub fn unconstrained_line(unconstrained: Option<&str>) -> Option<String> {
    unconstrained.map(|free| {
        format!("free decoding said \"{free}\", not the kind of answer the question asks for")
    })
}

/// "the student found no lamp here: this answer is not about one", or `None`
/// when the model holds an object of every category the question names.
pub fn unseen_line(role: Role, unseen: &[String]) -> Option<String> {
    if unseen.is_empty() {
        return None;
    }
    let what = match role {
        Role::Teacher => "the annotation has",
        Role::Student => "the student found",
    };
    let names = unseen
        .iter()
        .map(|n| format!("no {n}"))
        .collect::<Vec<_>>()
        .join(" and ");
    Some(format!("{what} {names} here: this answer is not about one"))
}

/// "looked again for what the question names and found a lamp (52 px)", or `None` when
/// nothing was looked again for.
pub fn looked_again_line(looked_again: &[String]) -> Option<String> {
    (!looked_again.is_empty()).then(|| {
        format!(
            "looked again for what the question names and found {}",
            looked_again.join(" and ")
        )
    })
}

/// "chair #12" for an annotated object; "chair (found 3)" for one a model found that matches no
/// annotated object (its id is past `data::UNMATCHED_ID_BASE`).
pub fn object_label(name: &str, id: u32) -> String {
    match id.checked_sub(crate::data::UNMATCHED_ID_BASE) {
        Some(k) => format!("{name} (found {k})"),
        None => format!("{name} #{id}"),
    }
}

/// "read from: chair #12 (97%), bed #3 (88%)", or `None` without grounding. An object two slots
/// pointed at is said once, at its first place, with the higher probability.
pub fn grounding_line(grounding: &[GroundedObject]) -> Option<String> {
    if grounding.is_empty() {
        return None;
    }
    let mut once: Vec<&GroundedObject> = Vec::with_capacity(grounding.len());
    for g in grounding {
        match once.iter_mut().find(|o| o.object_id == g.object_id) {
            Some(seen) if g.probability > seen.probability => *seen = g,
            Some(_) => {}
            None => once.push(g),
        }
    }
    let parts: Vec<String> = once
        .iter()
        .map(|g| {
            format!(
                "{} ({:.0}%)",
                object_label(&g.name, g.object_id),
                g.probability * 100.0
            )
        })
        .collect();
    Some(format!("read from: {}", parts.join(", ")))
}

/// "teacher · 4737427 parameters · cpu" for the model that answers, or that it is loading.
pub fn answerer_line(bridge: &ModelBridge, role: Role) -> String {
    match bridge.models.get(&role) {
        Some((name, params)) => format!(
            "{name} · {params} parameters · {}",
            bridge.device.unwrap_or("cpu")
        ),
        None => format!("loading the {}…", role.name()),
    }
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
    /// Objects the last answer was read from (an object-slot model's grounding), outlined in
    /// another colour: where the model looked, beside what the words name.
    pub grounded: Vec<u32>,
    /// The question waiting for its answer.
    pub waiting: Option<u64>,
    /// Diagnostic mode: the teacher answers too, and attention is recorded.
    pub diagnostic: bool,
    /// The model that answers outside diagnostic mode (the student unless the user picks the
    /// teacher, which needs a scene with annotated objects).
    pub answer_with: Role,
    /// A failure of a request that is no longer in the history (e.g. after "Clear").
    pub note: Option<String>,
}

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

/// Chat plugin: the chat's state, answers from worker messages, the scripted question of
/// `spatia view --ask`, and the highlighted objects in the 3D view. The panel itself is drawn by
/// the UI plugin's panel system through [`chat_ui`].
pub struct ChatPlugin;

impl Plugin for ChatPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Chat>().add_systems(
            Update,
            (
                (reset_chat_for_new_scene, apply_worker_messages).chain(),
                draw_highlights,
                ask_scripted_question,
            ),
        );
    }
}

fn reset_chat_for_new_scene(mut replaced: MessageReader<SceneReplaced>, mut chat: ResMut<Chat>) {
    if replaced.read().count() > 0 {
        chat.suggestions.clear();
        chat.highlighted.clear();
        chat.grounded.clear();
        chat.waiting = None;
    }
}

fn apply_worker_messages(
    mut messages: MessageReader<WorkerMessage>,
    mut chat: ResMut<Chat>,
    current: Option<Res<CurrentScene>>,
) {
    let path = current.map(|c| c.path.clone()).unwrap_or_default();
    for m in messages.read() {
        apply_event(&mut chat, m.current_scene_id, &path, &m.event);
    }
}

/// Applies one worker event to the chat of the scene at `path`; `current_scene_id` is the
/// scene last sent to the worker (suggestions for older scenes are dropped).
pub fn apply_event(chat: &mut Chat, current_scene_id: u64, path: &Path, event: &Event) {
    let entry_of = |chat: &mut Chat, id: u64| -> Option<usize> {
        chat.history
            .get(path)
            .and_then(|h| h.iter().position(|e| e.request_id == id))
    };
    match event {
        Event::Suggestions {
            scene_id,
            questions,
        } if *scene_id == current_scene_id => {
            chat.suggestions = questions.clone();
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
            grounding,
            unseen,
            looked_again,
            unconstrained,
        } => {
            let mut complete = true;
            if let Some(i) = entry_of(chat, *request_id)
                && let Some(entry) = chat.history.get_mut(path).and_then(|h| h.get_mut(i))
            {
                entry.answers.push(ChatAnswer {
                    role: *role,
                    text: text.clone(),
                    latency_ms: *latency_ms,
                    tokens: tokens.clone(),
                    attention: attention.clone(),
                    scene_layout: scene_layout.clone(),
                    grounding: grounding.clone(),
                    unseen: unseen.clone(),
                    looked_again: looked_again.clone(),
                    unconstrained: unconstrained.clone(),
                });
                for id in objects {
                    if !entry.objects.contains(id) {
                        entry.objects.push(*id);
                    }
                }
                // In diagnostic mode the question waits for the teacher too.
                complete = !chat.diagnostic || entry.answers.len() >= 2;
                chat.highlighted = entry.objects.clone();
                chat.grounded = grounding.iter().map(|g| g.object_id).collect();
            }
            if chat.waiting == Some(*request_id) && complete {
                chat.waiting = None;
            }
        }
        Event::Cancelled { request_id } => {
            if let Some(i) = entry_of(chat, *request_id)
                && let Some(entry) = chat.history.get_mut(path).and_then(|h| h.get_mut(i))
            {
                entry.error = Some("cancelled".into());
            }
            if chat.waiting == Some(*request_id) {
                chat.waiting = None;
            }
        }
        Event::Error {
            request_id: Some(id),
            message,
        } => {
            match entry_of(chat, *id)
                .and_then(|i| chat.history.get_mut(path).and_then(|h| h.get_mut(i)))
            {
                Some(entry) => entry.error = Some(message.clone()),
                None => chat.note = Some(message.clone()),
            }
            if chat.waiting == Some(*id) {
                chat.waiting = None;
            }
        }
        _ => {}
    }
}

/// The models a question goes to: both in diagnostic mode, else the chosen one.
pub fn question_roles(chat: &Chat) -> Vec<Role> {
    if chat.diagnostic {
        vec![Role::Student, Role::Teacher]
    } else {
        vec![chat.answer_with]
    }
}

/// Sends `question` to the chosen model (both in diagnostic mode) and records it in the chat.
pub fn submit_question(bridge: &mut ModelBridge, chat: &mut Chat, path: &Path, question: &str) {
    let question = question.trim();
    if question.is_empty() {
        return;
    }
    let entry = match bridge.ask(question, question_roles(chat), chat.diagnostic) {
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
    ui.horizontal(|ui| {
        ui.label("Answer with");
        for role in [Role::Student, Role::Teacher] {
            ui.selectable_value(&mut chat.answer_with, role, role.name())
                .on_hover_text(match role {
                    Role::Student => "the small model: RGB and cameras, the objects it finds",
                    Role::Teacher => {
                        "the privileged model: depth, poses and the scene's annotated objects"
                    }
                });
        }
    });
    ui.small(answerer_line(bridge, chat.answer_with));
    for note in [&bridge.note, &chat.note].into_iter().flatten() {
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
                        if a.role == chat.answer_with {
                            "A"
                        } else if a.role == Role::Teacher {
                            "Teacher"
                        } else {
                            "Student"
                        },
                        a.text,
                        a.role.name(),
                        a.latency_ms
                    ));
                    if let Some(line) = grounding_line(&a.grounding) {
                        ui.small(line);
                    }
                    if let Some(line) = unseen_line(a.role, &a.unseen) {
                        ui.colored_label(egui::Color32::from_rgb(255, 190, 80), line);
                    }
                    if let Some(line) = looked_again_line(&a.looked_again) {
                        ui.small(line);
                    }
                    if let Some(line) = unconstrained_line(a.unconstrained.as_deref()) {
                        ui.small(line);
                    }
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
            chat.grounded.clear();
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
    // What the words name, and (slightly larger) what the model read its answer from.
    let outlines = [
        (&chat.highlighted, 1.03, HIGHLIGHT_COLOR),
        (&chat.grounded, 1.08, GROUNDED_COLOR),
    ];
    for o in &current.scene.objects {
        for (ids, scale, color) in &outlines {
            if ids.contains(&o.id) {
                let size = o.aabb.size().max(Vec3::splat(0.01)) * *scale;
                gizmos.cube(
                    Transform::from_translation(o.aabb.center()).with_scale(size),
                    *color,
                );
            }
        }
    }
}
