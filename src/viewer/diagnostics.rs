//! Diagnostic mode (issue #7): teacher and student answer the same question side by side
//! (answers, latencies, agreement, answer-token probabilities); the student's Hidden CoT
//! attention as a heatmap of answer tokens → latents per layer and head, and the latents'
//! attention over the scene tokens drawn on the view images and projected into the 3D scene;
//! and the list of disagreements, exportable as JSONL for the next distillation run
//! (`spatia distill --teacher-answers`).

use std::path::{Path, PathBuf};

use bevy::prelude::*;
use bevy_egui::egui;

use super::chat::{Chat, ChatAnswer, ChatEntry};
use super::loading::CurrentScene;
use super::predictions::{Predictions, turbo, unprojector};
use crate::model::vlm::SceneTokenInfo;
use crate::questions::jsonl::TeacherAnswerLine;
use crate::questions::score::normalize_answer;
use crate::worker::{Role, SceneViews};

/// Colour of the attention markers in the 3D view.
pub const ATTENTION_COLOR: Color = Color::srgb(1.0, 0.45, 0.1);

/// What the diagnostic panel shows.
#[derive(Resource, Debug, Clone)]
pub struct DiagnosticView {
    /// Decoder layer of the attention maps.
    pub layer: usize,
    /// Head.
    pub head: usize,
    /// Draw the latents' attention in the 3D view.
    pub show_in_scene: bool,
    /// Where the last export went, or why it failed.
    pub export_note: Option<String>,
}

impl Default for DiagnosticView {
    fn default() -> Self {
        Self {
            layer: 0,
            head: 0,
            show_in_scene: true,
            export_note: None,
        }
    }
}

/// Diagnostics plugin: the diagnostic panel's settings and the latents' attention drawn in the
/// 3D view. The panel itself is drawn by the UI plugin through [`diagnostics_ui`].
pub struct DiagnosticsPlugin;

impl Plugin for DiagnosticsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<DiagnosticView>()
            .add_systems(Update, draw_attention);
    }
}

/// Whether two answers say the same after normalisation (articles, number words, synonyms).
pub fn agree(a: &str, b: &str) -> bool {
    normalize_answer(a) == normalize_answer(b)
}

fn answer_of(entry: &ChatEntry, role: Role) -> Option<&ChatAnswer> {
    entry.answers.iter().find(|a| a.role == role)
}

/// Questions of `history` where the teacher and the student answered differently.
pub fn disagreements(history: &[ChatEntry]) -> Vec<&ChatEntry> {
    history
        .iter()
        .filter(
            |e| match (answer_of(e, Role::Student), answer_of(e, Role::Teacher)) {
                (Some(s), Some(t)) => !agree(&s.text, &t.text),
                _ => false,
            },
        )
        .collect()
}

/// Disagreements as JSONL lines `{"scene", "question", "answer", "student_answer"}` with the
/// teacher's answer as `answer` (the format `spatia distill --teacher-answers` reads).
pub fn disagreements_jsonl(scene: &str, history: &[ChatEntry]) -> String {
    disagreements(history)
        .into_iter()
        .filter_map(|e| {
            let s = answer_of(e, Role::Student)?;
            let t = answer_of(e, Role::Teacher)?;
            let line = TeacherAnswerLine {
                scene: scene.to_string(),
                question: e.question.clone(),
                answer: t.text.clone(),
                student_answer: Some(s.text.clone()),
                logits: None,
            };
            Some(serde_json::to_string(&line).ok()? + "\n")
        })
        .collect()
}

/// The latents' attention over the scene tokens at `layer` / `head`, averaged over the
/// latents, normalised to sum 1: one weight per scene token.
pub fn latent_attention_over_scene(a: &ChatAnswer, layer: usize, head: usize) -> Option<Vec<f32>> {
    let rows = a
        .attention
        .as_ref()?
        .latent_to_scene
        .get(layer)?
        .get(head)?;
    let n = rows.first()?.len();
    let mut w = vec![0f32; n];
    for r in rows {
        for (x, v) in w.iter_mut().zip(r) {
            *x += v;
        }
    }
    let sum: f32 = w.iter().sum();
    if sum > 0.0 {
        w.iter_mut().for_each(|x| *x /= sum);
    }
    Some(w)
}

/// Scene points the latents attend to: an object token's object centre, or a patch token's cell
/// centre back-projected with the rendered depth, with its weight (camera tokens and cells
/// without depth skipped).
pub fn attention_points(
    views: &SceneViews,
    layout: &[SceneTokenInfo],
    weights: &[f32],
) -> Vec<(Vec3, f32)> {
    let v = &views.views;
    let s = v.size;
    let unproject: Vec<_> = (0..v.views).map(|i| unprojector(views, i)).collect();
    layout
        .iter()
        .zip(weights)
        .filter_map(|(info, &w)| {
            if let Some(o) = &info.object {
                return Some((Vec3::from_array(o.center_m), w));
            }
            let depth = v.depth.as_ref()?;
            let (row, col) = info.cell?;
            if info.view >= v.views || info.grid == 0 {
                return None;
            }
            let cell = s as f32 / info.grid as f32;
            let (u, r) = ((col as f32 + 0.5) * cell, (row as f32 + 0.5) * cell);
            let (x, y) = ((u as usize).min(s - 1), (r as usize).min(s - 1));
            let d = depth[info.view * s * s + y * s + x];
            if d <= 0.0 {
                return None;
            }
            Some((unproject[info.view](u, r, d), w))
        })
        .collect()
}

/// The `n` object tokens with the most weight: (object id, category, weight), best first;
/// empty for a patch-token layout.
pub fn most_attended_objects(
    layout: &[SceneTokenInfo],
    weights: &[f32],
    n: usize,
) -> Vec<(u32, usize, f32)> {
    let mut objects: Vec<(u32, usize, f32)> = layout
        .iter()
        .zip(weights)
        .filter_map(|(info, &w)| info.object.map(|o| (o.id, o.category, w)))
        .collect();
    objects.sort_by(|a, b| b.2.total_cmp(&a.2));
    objects.truncate(n);
    objects
}

/// `rows` as turbo-coloured cells of `cell` size from `origin` (a 1-pixel gap below, up to one
/// to the right), each value divided by `scale(row)`.
fn paint_heatmap(
    painter: &egui::Painter,
    origin: egui::Pos2,
    rows: &[Vec<f32>],
    cell: egui::Vec2,
    scale: impl Fn(&[f32]) -> f32,
) {
    let gap = egui::vec2((cell.x * 0.1).min(1.0), 1.0);
    for (i, r) in rows.iter().enumerate() {
        let s = scale(r);
        for (j, v) in r.iter().enumerate() {
            let min = origin + egui::vec2(j as f32 * cell.x, i as f32 * cell.y);
            painter.rect_filled(egui::Rect::from_min_size(min, cell - gap), 0.0, heat(v / s));
        }
    }
}

fn heat(t: f32) -> egui::Color32 {
    let [r, g, b] = turbo(t);
    egui::Color32::from_rgb(r, g, b)
}

/// The diagnostic section of the side panel.
pub fn diagnostics_ui(
    ui: &mut egui::Ui,
    chat: &mut Chat,
    view: &mut DiagnosticView,
    predictions: &Predictions,
    path: &Path,
    scene_name: &str,
) {
    ui.checkbox(
        &mut chat.diagnostic,
        "Diagnostic mode (the teacher answers too; attention recorded)",
    );
    let history = chat.history.get(path).cloned().unwrap_or_default();
    let Some(last) = history.iter().rev().find(|e| !e.answers.is_empty()) else {
        ui.label("ask a question to see the comparison");
        return;
    };
    ui.label(egui::RichText::new(&last.question).strong());
    egui::Grid::new("compare").striped(true).show(ui, |ui| {
        ui.label("model");
        ui.label("answer");
        ui.label("ms");
        ui.label("token probabilities");
        ui.end_row();
        for a in &last.answers {
            ui.label(a.role.name());
            ui.label(&a.text);
            ui.label(format!("{:.0}", a.latency_ms));
            let probs: Vec<String> = a
                .tokens
                .iter()
                .map(|(t, p)| format!("{}:{p:.2}", t.trim()))
                .collect();
            ui.label(probs.join(" "));
            ui.end_row();
        }
    });
    if let (Some(s), Some(t)) = (
        answer_of(last, Role::Student),
        answer_of(last, Role::Teacher),
    ) {
        if agree(&s.text, &t.text) {
            ui.colored_label(
                egui::Color32::from_rgb(90, 220, 110),
                "teacher and student agree",
            );
        } else {
            ui.colored_label(
                egui::Color32::from_rgb(255, 150, 60),
                "teacher and student disagree",
            );
        }
    }
    if let Some(s) = answer_of(last, Role::Student)
        && let Some(att) = &s.attention
    {
        attention_ui(ui, s, att, view, predictions);
    }
    ui.separator();
    let list = disagreements(&history);
    ui.label(format!("Disagreements in this scene: {}", list.len()));
    for e in &list {
        let s = answer_of(e, Role::Student).map_or("", |a| a.text.as_str());
        let t = answer_of(e, Role::Teacher).map_or("", |a| a.text.as_str());
        ui.small(format!("{} — student: {s}, teacher: {t}", e.question));
    }
    if !list.is_empty() && ui.button("Export disagreements (JSONL)").clicked() {
        let out = export_path(scene_name);
        let text = disagreements_jsonl(scene_name, &history);
        view.export_note = Some(
            match out
                .parent()
                .map(std::fs::create_dir_all)
                .transpose()
                .and_then(|_| std::fs::write(&out, text))
            {
                Ok(()) => format!("written to {}", out.display()),
                Err(e) => format!("{}: {e}", out.display()),
            },
        );
    }
    if let Some(note) = &view.export_note {
        ui.small(note);
    }
}

/// Where disagreements of `scene` are exported: the config folder's `disagreements/`.
pub fn export_path(scene: &str) -> PathBuf {
    let safe: String = scene
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    super::recent::config_dir()
        .join("disagreements")
        .join(format!("{safe}.jsonl"))
}

fn attention_ui(
    ui: &mut egui::Ui,
    s: &ChatAnswer,
    att: &crate::model::AttentionMaps,
    view: &mut DiagnosticView,
    predictions: &Predictions,
) {
    let layers = att.answer_to_latent.len();
    let heads = att.answer_to_latent.first().map_or(0, Vec::len);
    if layers == 0 || heads == 0 {
        ui.small("this student has no Hidden CoT latents (K = 0)");
        return;
    }
    ui.label("Hidden CoT attention");
    ui.add(egui::Slider::new(&mut view.layer, 0..=layers - 1).text("layer"));
    ui.add(egui::Slider::new(&mut view.head, 0..=heads - 1).text("head"));
    let (l, h) = (view.layer.min(layers - 1), view.head.min(heads - 1));
    // Answer tokens (rows) → latents (columns).
    let rows = &att.answer_to_latent[l][h];
    let cols = rows.first().map_or(0, Vec::len);
    let max = rows.iter().flatten().copied().fold(1e-6f32, f32::max);
    ui.small("answer tokens → latents");
    let cell = 14.0;
    let (rect, _) = ui.allocate_exact_size(
        egui::vec2(cols as f32 * cell, rows.len() as f32 * cell),
        egui::Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    paint_heatmap(&painter, rect.min, rows, egui::vec2(cell, cell), |_| max);
    for (i, (t, _)) in s.tokens.iter().enumerate() {
        painter.text(
            rect.min + egui::vec2(cols as f32 * cell + 4.0, i as f32 * cell),
            egui::Align2::LEFT_TOP,
            t.trim(),
            egui::FontId::monospace(10.0),
            egui::Color32::LIGHT_GRAY,
        );
    }
    let Some(weights) = latent_attention_over_scene(s, l, h) else {
        return;
    };
    if s.scene_layout.iter().any(|info| info.object.is_some()) {
        let rows = att.latent_to_scene.get(l).and_then(|layer| layer.get(h));
        latents_to_objects_ui(ui, s, rows.map_or(&[][..], Vec::as_slice), &weights);
        ui.checkbox(&mut view.show_in_scene, "show in the 3D view");
        return;
    }
    // Latents → scene tokens, on each view's patch grid.
    let Some(views) = &predictions.views else {
        return;
    };
    ui.small("latents → scene (per view, brighter = more attention)");
    let wmax = weights.iter().copied().fold(1e-9f32, f32::max);
    ui.horizontal_wrapped(|ui| {
        for v in 0..views.views.views {
            let side = 70.0;
            let (rect, _) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
            let painter = ui.painter_at(rect);
            painter.rect_filled(rect, 0.0, egui::Color32::from_gray(20));
            for (info, w) in s.scene_layout.iter().zip(&weights) {
                if info.view != v {
                    continue;
                }
                if let Some((row, col)) = info.cell {
                    let c = side / info.grid.max(1) as f32;
                    let min = rect.min + egui::vec2(col as f32 * c, row as f32 * c);
                    painter.rect_filled(
                        egui::Rect::from_min_size(min, egui::vec2(c, c)),
                        0.0,
                        heat(w / wmax),
                    );
                }
            }
        }
    });
    ui.checkbox(&mut view.show_in_scene, "show in the 3D view");
}

/// An object-token model's latents → objects: one row per latent, one column per object token
/// (brighter = more attention), then the objects all latents attend to most, by name.
fn latents_to_objects_ui(ui: &mut egui::Ui, s: &ChatAnswer, rows: &[Vec<f32>], weights: &[f32]) {
    let cols = rows.first().map_or(0, Vec::len);
    if cols == 0 {
        return;
    }
    ui.small("latents → objects (rows: latents; columns: the scene's object tokens)");
    let width = ui.available_width().clamp(120.0, 320.0);
    let (cw, ch) = ((width / cols as f32).clamp(3.0, 14.0), 12.0);
    let (rect, _) = ui.allocate_exact_size(
        egui::vec2(cols as f32 * cw, rows.len() as f32 * ch),
        egui::Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    // Each latent's row on its own scale: where each one looks.
    paint_heatmap(&painter, rect.min, rows, egui::vec2(cw, ch), |r| {
        r.iter().copied().fold(1e-9f32, f32::max)
    });
    let named: Vec<String> = most_attended_objects(&s.scene_layout, weights, 4)
        .into_iter()
        .map(|(id, category, w)| {
            let name = crate::scene::Category::ALL
                .get(category)
                .map_or("?", |c| c.name());
            format!("{} {:.0}%", super::chat::object_label(name, id), w * 100.0)
        })
        .collect();
    ui.small(format!("most attended: {}", named.join(", ")));
}

/// Draws where the latents look, in the scene: spheres of 4 to 24 cm radius by weight, large
/// enough to see in a whole room.
pub fn draw_attention(
    mut gizmos: Gizmos,
    chat: Res<Chat>,
    view: Res<DiagnosticView>,
    predictions: Res<Predictions>,
    current: Option<Res<CurrentScene>>,
) {
    if !view.show_in_scene {
        return;
    }
    let (Some(current), Some(views)) = (current, &predictions.views) else {
        return;
    };
    let Some(last) = chat
        .history
        .get(&current.path)
        .and_then(|h| h.iter().rev().find(|e| !e.answers.is_empty()))
    else {
        return;
    };
    let Some(s) = answer_of(last, Role::Student) else {
        return;
    };
    let Some(weights) = latent_attention_over_scene(s, view.layer, view.head) else {
        return;
    };
    let wmax = weights.iter().copied().fold(1e-9f32, f32::max);
    for (p, w) in attention_points(views, &s.scene_layout, &weights) {
        let r = 0.04 + 0.2 * (w / wmax);
        gizmos.sphere(Isometry3d::from_translation(p), r, ATTENTION_COLOR);
    }
}
