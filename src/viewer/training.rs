//! The training tab (issue #7): pick the data folder, teacher, student preset, steps, learning
//! rate and Hidden CoT K; start, pause (stop with a checkpoint), resume and stop a distillation
//! run on the worker's training thread (the trainer `spatia distill` uses); watch every named
//! loss term and the Kendall task weights as curves, eval metrics, step rate and ETA; list
//! checkpoints and swap one in as the chat's student.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bevy::prelude::*;
use bevy_egui::egui;

use super::assistant::ModelBridge;
use crate::worker::{Request, Role, TrainEvent, TrainRequest};

/// Curves longer than this are thinned (every other point dropped).
const MAX_POINTS: usize = 4000;

/// The training tab's form and what the run reported.
#[derive(Resource, Debug, Clone)]
pub struct TrainingState {
    /// Data folder (text field).
    pub data: String,
    /// Teacher folder.
    pub teacher: String,
    /// Output folder.
    pub out: String,
    /// "student" or "tiny".
    pub preset: String,
    /// Steps in all.
    pub steps: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Hidden CoT latents.
    pub cot: usize,
    /// A run is going.
    pub running: bool,
    /// Last step reported.
    pub step: usize,
    /// Steps in all of the running run.
    pub total: usize,
    /// Recent step rate.
    pub steps_per_s: f64,
    /// Loss term → (step, value).
    pub losses: BTreeMap<String, Vec<(usize, f32)>>,
    /// Task → (step, weight).
    pub weights: BTreeMap<String, Vec<(usize, f32)>>,
    /// Last eval metrics with their step.
    pub eval: Option<(usize, BTreeMap<String, f32>)>,
    /// Checkpoints written: (step, folder).
    pub checkpoints: Vec<(usize, PathBuf)>,
    /// How the last run ended, or why it could not start.
    pub status: Option<String>,
}

impl Default for TrainingState {
    fn default() -> Self {
        Self {
            data: String::new(),
            teacher: crate::model::default_model_dir("teacher")
                .display()
                .to_string(),
            out: std::env::temp_dir()
                .join("spatia-training")
                .display()
                .to_string(),
            preset: "student".into(),
            steps: 300,
            lr: 1e-3,
            cot: 8,
            running: false,
            step: 0,
            total: 0,
            steps_per_s: 0.0,
            losses: BTreeMap::new(),
            weights: BTreeMap::new(),
            eval: None,
            checkpoints: Vec::new(),
            status: None,
        }
    }
}

fn push_point(curve: &mut Vec<(usize, f32)>, p: (usize, f32)) {
    curve.push(p);
    if curve.len() > MAX_POINTS {
        let mut i = 0;
        curve.retain(|_| {
            i += 1;
            i % 2 == 1
        });
    }
}

impl TrainingState {
    /// Takes one training event.
    pub fn apply(&mut self, e: TrainEvent) {
        match e {
            TrainEvent::Started { step, total } => {
                self.running = true;
                self.step = step;
                self.total = total;
                self.status = None;
            }
            TrainEvent::Step {
                step,
                losses,
                weights,
                steps_per_s,
                ..
            } => {
                self.step = step;
                self.steps_per_s = steps_per_s;
                for (k, v) in losses {
                    push_point(self.losses.entry(k).or_default(), (step, v));
                }
                for (k, v) in weights {
                    push_point(self.weights.entry(k).or_default(), (step, v));
                }
            }
            TrainEvent::Eval { step, metrics } => self.eval = Some((step, metrics)),
            TrainEvent::Checkpoint { step, path } => {
                // The trainer replaces one checkpoint folder; keep the latest step per folder.
                self.checkpoints.retain(|(_, p)| *p != path);
                self.checkpoints.push((step, path));
            }
            TrainEvent::Finished { step } => self.stop(Some(step), "finished".into()),
            TrainEvent::Cancelled { step } => self.stop(Some(step), "stopped".into()),
            TrainEvent::Failed { error } => self.stop(None, error),
        }
    }

    fn stop(&mut self, step: Option<usize>, reason: String) {
        self.running = false;
        if let Some(step) = step {
            self.step = step;
        }
        self.status = Some(reason);
    }

    /// Seconds left at the recent step rate.
    pub fn eta_s(&self) -> Option<f64> {
        (self.running && self.steps_per_s > 0.0)
            .then(|| self.total.saturating_sub(self.step) as f64 / self.steps_per_s)
    }

    /// The request for the form's settings.
    pub fn request(&self, resume: bool) -> TrainRequest {
        TrainRequest {
            data: PathBuf::from(self.data.trim()),
            teacher: PathBuf::from(self.teacher.trim()),
            preset: self.preset.clone(),
            out: PathBuf::from(self.out.trim()),
            steps: self.steps,
            lr: self.lr,
            cot: self.cot,
            questions_per_step: 24,
            eval_every: 100,
            resume,
        }
    }
}

/// Draws curves (already thinned) in a box, each in its own colour, on a shared y range.
fn curves_ui(ui: &mut egui::Ui, id: &str, curves: &BTreeMap<String, Vec<(usize, f32)>>) {
    let palette = [
        egui::Color32::from_rgb(255, 170, 60),
        egui::Color32::from_rgb(90, 200, 255),
        egui::Color32::from_rgb(120, 230, 110),
        egui::Color32::from_rgb(240, 100, 200),
        egui::Color32::from_rgb(230, 230, 90),
        egui::Color32::from_rgb(170, 140, 255),
        egui::Color32::from_rgb(255, 110, 110),
        egui::Color32::from_rgb(140, 240, 220),
    ];
    let all = curves.values().flatten();
    let (mut x1, mut y0, mut y1) = (1usize, f32::INFINITY, f32::NEG_INFINITY);
    for &(x, y) in all {
        if y.is_finite() {
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if !y0.is_finite() {
        ui.small("no points yet");
        return;
    }
    let (rect, _) = ui.allocate_exact_size(
        egui::vec2(ui.available_width().min(320.0), 120.0),
        egui::Sense::hover(),
    );
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, egui::Color32::from_gray(18));
    let span = (y1 - y0).max(1e-6);
    let to_screen = |x: usize, y: f32| {
        egui::pos2(
            rect.left() + rect.width() * x as f32 / x1 as f32,
            rect.bottom() - rect.height() * (y - y0) / span,
        )
    };
    for (i, (name, pts)) in curves.iter().enumerate() {
        let c = palette[i % palette.len()];
        let line: Vec<egui::Pos2> = pts
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(x, y)| to_screen(x, y))
            .collect();
        painter.add(egui::Shape::line(line, egui::Stroke::new(1.5, c)));
        let last = pts.last().map_or(f32::NAN, |p| p.1);
        painter.text(
            rect.left_top() + egui::vec2(4.0, 2.0 + 11.0 * i as f32),
            egui::Align2::LEFT_TOP,
            format!("{name} {last:.3}"),
            egui::FontId::monospace(9.0),
            c,
        );
    }
    painter.text(
        rect.right_bottom() - egui::vec2(4.0, 2.0),
        egui::Align2::RIGHT_BOTTOM,
        format!("{id}: {y0:.2}–{y1:.2}, steps 0–{x1}"),
        egui::FontId::monospace(9.0),
        egui::Color32::GRAY,
    );
}

/// The training tab.
pub fn training_ui(ui: &mut egui::Ui, t: &mut TrainingState, bridge: &mut ModelBridge) {
    egui::Grid::new("train-form").num_columns(2).show(ui, |ui| {
        ui.label("data");
        ui.text_edit_singleline(&mut t.data)
            .on_hover_text("a `spatia gen-data` folder");
        ui.end_row();
        ui.label("teacher");
        ui.text_edit_singleline(&mut t.teacher);
        ui.end_row();
        ui.label("output");
        ui.text_edit_singleline(&mut t.out);
        ui.end_row();
        ui.label("student preset");
        egui::ComboBox::from_id_salt("preset")
            .selected_text(t.preset.clone())
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut t.preset, "student".to_string(), "student");
                ui.selectable_value(&mut t.preset, "tiny".to_string(), "tiny");
            });
        ui.end_row();
        ui.label("steps");
        ui.add(egui::DragValue::new(&mut t.steps).range(1..=1_000_000));
        ui.end_row();
        ui.label("learning rate");
        ui.add(
            egui::DragValue::new(&mut t.lr)
                .speed(1e-5)
                .range(1e-6..=1e-1),
        );
        ui.end_row();
        ui.label("Hidden CoT K");
        ui.add(egui::DragValue::new(&mut t.cot).range(0..=64));
        ui.end_row();
    });
    ui.horizontal(|ui| {
        let send = |bridge: &mut ModelBridge, t: &mut TrainingState, r: Request| {
            if let Err(e) = bridge.send(r) {
                t.status = Some(e);
            }
        };
        if !t.running {
            if ui.button("Start").clicked() {
                t.losses.clear();
                t.weights.clear();
                t.checkpoints.clear();
                t.eval = None;
                let r = Request::StartTraining(t.request(false));
                send(bridge, t, r);
            }
            if ui.button("Resume").clicked() {
                let r = Request::StartTraining(t.request(true));
                send(bridge, t, r);
            }
        } else {
            // Pause and stop both end the run after a checkpoint; Resume continues exactly.
            if ui.button("Pause").clicked() || ui.button("Stop").clicked() {
                send(bridge, t, Request::StopTraining);
            }
        }
    });
    if t.total > 0 {
        let eta = t
            .eta_s()
            .map_or(String::new(), |s| format!(", ETA {:.0} min", s / 60.0));
        ui.label(format!(
            "step {} / {}   {:.2} steps/s{eta}",
            t.step, t.total, t.steps_per_s
        ));
        ui.add(egui::ProgressBar::new(
            t.step as f32 / t.total.max(1) as f32,
        ));
    }
    if let Some(s) = &t.status {
        ui.small(format!("last run: {s}"));
    }
    ui.label("loss terms");
    curves_ui(ui, "loss", &t.losses);
    ui.label("task weights exp(−s)");
    curves_ui(ui, "weight", &t.weights);
    if let Some((step, m)) = &t.eval {
        ui.label(format!("validation at step {step}"));
        for (k, v) in m {
            ui.small(format!("{k}: {v:.3}"));
        }
    }
    if !t.checkpoints.is_empty() {
        ui.label("checkpoints");
        let mut chosen = None;
        for (step, path) in &t.checkpoints {
            ui.horizontal(|ui| {
                ui.small(format!("step {step}: {}", path.display()));
                if ui.small_button("use this checkpoint").clicked() {
                    chosen = Some(path.clone());
                }
            });
        }
        if let Some(dir) = chosen
            && let Err(e) = bridge.send(Request::LoadModel {
                role: Role::Student,
                dir,
            })
        {
            t.status = Some(e);
        }
    }
}
