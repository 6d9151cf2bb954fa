//! The training tab (issues #7, #14): pick the stage — 1 perception, 2 decoder on cached
//! objects, 3 distillation — and its data folder, teacher or starting model, steps, learning rate
//! and Hidden CoT K; start, pause (stop with a checkpoint), resume and stop the run on the
//! worker's training thread (the plan and run function of `spatia train perception`, `spatia
//! train decoder` and `spatia distill`); watch every named loss term and the task weights as
//! curves, eval metrics, step rate and ETA; list checkpoints and swap one in as the chat's
//! student.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bevy::prelude::*;
use bevy_egui::egui;

use crossbeam_channel::{Receiver, TryRecvError};

use super::file_dialog::pick_in_background;
use super::loading::CurrentScene;
use super::model_bridge::{ModelBridge, WorkerMessage};
use crate::worker::{
    DecoderPlan, DecoderTrainConfig, DistillPlan, Event, PerceptionPlan, PerceptionTrainConfig,
    Request, Role, StudentPreset, TrainConfig, TrainEvent, TrainPlan,
};

/// The training stages the tab runs (docs/TRAINING.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainingStage {
    /// Stage 1: the object student's perception (`spatia train perception`).
    Perception,
    /// Stage 2: an object model's decoder on cached objects (`spatia train decoder`).
    Decoder,
    /// Stage 3: a student distilled from the teacher (`spatia distill`).
    Distill,
}

impl TrainingStage {
    /// Every stage, in menu order.
    pub const ALL: [TrainingStage; 3] = [
        TrainingStage::Perception,
        TrainingStage::Decoder,
        TrainingStage::Distill,
    ];

    /// Its name in the menu.
    pub fn name(self) -> &'static str {
        match self {
            TrainingStage::Perception => "1 perception",
            TrainingStage::Decoder => "2 decoder",
            TrainingStage::Distill => "3 distillation",
        }
    }
}

/// Curves longer than this are thinned (every other point dropped).
const MAX_POINTS: usize = 4000;

/// What stage 1 does with a camera head (the training tab's choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraTraining {
    /// No camera head.
    None,
    /// A new model gets one, trained with the rest (`--camera-head`).
    WithTheRest,
    /// Only a head added to the init model (`--camera-only`).
    Only,
}

impl CameraTraining {
    /// Every choice, in the order shown.
    pub const ALL: [CameraTraining; 3] = [
        CameraTraining::None,
        CameraTraining::WithTheRest,
        CameraTraining::Only,
    ];

    /// Its label in the tab.
    pub fn label(self) -> &'static str {
        match self {
            CameraTraining::None => "none",
            CameraTraining::WithTheRest => "train with the rest",
            CameraTraining::Only => "only the head (on init)",
        }
    }
}

/// The training tab's form and what the run reported.
#[derive(Resource, Debug, Clone)]
pub struct TrainingState {
    /// The stage to run.
    pub stage: TrainingStage,
    /// Data folder (text field).
    pub data: String,
    /// Teacher folder (distillation; its tokenizer is every stage's).
    pub teacher: String,
    /// Model folder the perception (stage 1) or the frozen perception (stage 2) starts from
    /// (empty: fresh).
    pub init: String,
    /// Stage 2 trains the object student rather than the object teacher.
    pub decoder_student: bool,
    /// Stage 2: the student's latents and answers distilled from the teacher folder.
    pub decoder_distill: bool,
    /// Stage 2, the student: share of each step's questions over the annotated objects.
    pub annotated_share: f64,
    /// Stage 2, the student: edge of the voxels its pixels are grouped into objects in, metres.
    pub group_voxel_m: f32,
    /// Stage 2: a model folder whose decoder this run starts from (empty: a fresh decoder).
    pub init_decoder: String,
    /// Stage 2: share of each step's questions worded with another training paraphrase.
    pub reword: f32,
    /// Stage 2: only questions of these categories (empty: all).
    pub categories: Vec<crate::questions::QuestionCategory>,
    /// Stage 2, the student: another run's `found_objects.json` over the same perception
    /// (empty: find the objects again).
    pub found_objects: String,
    /// Output folder.
    pub out: String,
    /// The student's size.
    pub preset: StudentPreset,
    /// Steps in all.
    pub steps: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Hidden CoT latents.
    pub cot: usize,
    /// Questions per step.
    pub questions_per_step: usize,
    /// Validate every N steps (0: never).
    pub eval_every: usize,
    /// Checkpoint every N steps.
    pub checkpoint_every: usize,
    /// Seed.
    pub seed: u64,
    /// Stage 1: share of training views made scan-like (domain randomisation).
    pub scan_like: f64,
    /// Stage 1: share of training scenes whose objects get random colours.
    pub object_colours: f64,
    /// Stage 1: factor on the semantic weight of the categories questions name.
    pub named_weight: f64,
    /// Stage 1: what of the camera head to train (`--camera-head`, `--camera-only`).
    pub camera: CameraTraining,
    /// Temperature of the answer KL.
    pub temperature: f64,
    /// Teacher answers file (JSONL; empty: none).
    pub teacher_answers: String,
    /// Teacher cache folder (empty: `output/teacher_cache`).
    pub teacher_cache: String,
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
    /// The last run failed (or could not start); `status` says why.
    pub failed: bool,
    /// A folder dialog open for one of the form's fields.
    picking: Option<(FolderField, Receiver<Option<PathBuf>>)>,
}

/// The form's folder fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FolderField {
    Data,
    Teacher,
    Init,
    InitDecoder,
    Out,
}

impl Default for TrainingState {
    fn default() -> Self {
        Self {
            stage: TrainingStage::Distill,
            data: String::new(),
            teacher: crate::model::default_model_dir("teacher")
                .display()
                .to_string(),
            init: String::new(),
            decoder_student: true,
            decoder_distill: false,
            annotated_share: 0.0,
            group_voxel_m: crate::data::GROUP_VOXEL_M,
            init_decoder: String::new(),
            reword: 0.0,
            categories: Vec::new(),
            found_objects: String::new(),
            out: std::env::temp_dir()
                .join("spatia-training")
                .display()
                .to_string(),
            preset: StudentPreset::Student,
            steps: 300,
            lr: 1e-3,
            cot: 8,
            questions_per_step: 24,
            eval_every: 100,
            checkpoint_every: 50,
            seed: 0,
            scan_like: 0.0,
            object_colours: 0.0,
            named_weight: 1.0,
            camera: CameraTraining::None,
            temperature: 2.0,
            teacher_answers: String::new(),
            teacher_cache: String::new(),
            running: false,
            step: 0,
            total: 0,
            steps_per_s: 0.0,
            losses: BTreeMap::new(),
            weights: BTreeMap::new(),
            eval: None,
            checkpoints: Vec::new(),
            status: None,
            failed: false,
            picking: None,
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
                self.failed = false;
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
            TrainEvent::Failed { error } => self.fail(error),
        }
    }

    fn stop(&mut self, step: Option<usize>, reason: String) {
        self.running = false;
        if let Some(step) = step {
            self.step = step;
        }
        self.status = Some(reason);
    }

    fn fail(&mut self, error: String) {
        self.stop(None, error);
        self.failed = true;
    }

    /// Seconds left at the recent step rate.
    pub fn eta_s(&self) -> Option<f64> {
        (self.running && self.steps_per_s > 0.0)
            .then(|| self.total.saturating_sub(self.step) as f64 / self.steps_per_s)
    }

    /// Starts a run with the form's settings (a fresh one clears the curves); a request the
    /// worker cannot take ends as a failed run.
    pub fn start(&mut self, bridge: &mut ModelBridge, resume: bool) {
        if !resume {
            self.losses.clear();
            self.weights.clear();
            self.checkpoints.clear();
            self.eval = None;
        }
        self.status = None;
        self.failed = false;
        if let Err(e) = bridge.send(Request::StartTraining(Box::new(self.request(resume)))) {
            self.fail(e);
        }
    }

    /// The plan for the form's settings: the type `spatia train perception`, `spatia train
    /// decoder` and `spatia distill` fill in. Stages 1 and 2 use the teacher folder's tokenizer
    /// (when it has one), so that every model of a run shares it.
    pub fn request(&self, resume: bool) -> TrainPlan {
        let optional = |s: &str| (!s.trim().is_empty()).then(|| PathBuf::from(s.trim()));
        let data = PathBuf::from(self.data.trim());
        let out = PathBuf::from(self.out.trim());
        let teacher = PathBuf::from(self.teacher.trim());
        let tokenizer = Some(teacher.join("tokenizer.json")).filter(|p| p.is_file());
        match self.stage {
            TrainingStage::Perception => TrainPlan::Perception(PerceptionPlan {
                data,
                out,
                tokenizer,
                vocab: 600,
                train: PerceptionTrainConfig {
                    steps: self.steps,
                    lr: self.lr,
                    eval_every: self.eval_every,
                    checkpoint_every: self.checkpoint_every,
                    seed: self.seed,
                    init: optional(&self.init),
                    scan_like: self.scan_like,
                    object_colours: self.object_colours,
                    named_weight: self.named_weight,
                    camera_head: self.camera == CameraTraining::WithTheRest,
                    camera_only: self.camera == CameraTraining::Only,
                    ..Default::default()
                },
                resume,
            }),
            TrainingStage::Decoder => TrainPlan::Decoder(DecoderPlan {
                data,
                out,
                tokenizer,
                vocab: 600,
                student: self.decoder_student,
                cot: self.cot,
                no_probes: false,
                object_context: true,
                anchors: true,
                slots: 3,
                group_voxel_m: self.decoder_student.then_some(self.group_voxel_m),
                train: DecoderTrainConfig {
                    steps: self.steps,
                    lr: self.lr,
                    questions_per_step: self.questions_per_step,
                    eval_every: self.eval_every,
                    checkpoint_every: self.checkpoint_every,
                    seed: self.seed,
                    init: optional(&self.init),
                    teacher: if self.decoder_student && self.decoder_distill {
                        optional(&self.teacher)
                    } else {
                        None
                    },
                    annotated_share: if self.decoder_student {
                        self.annotated_share
                    } else {
                        0.0
                    },
                    init_decoder: optional(&self.init_decoder),
                    reword: self.reword,
                    categories: self.categories.clone(),
                    found_objects: if self.decoder_student {
                        optional(&self.found_objects)
                    } else {
                        None
                    },
                    ..Default::default()
                },
                resume,
            }),
            TrainingStage::Distill => TrainPlan::Distill(DistillPlan {
                data,
                teacher,
                out,
                preset: self.preset,
                train: TrainConfig {
                    steps: self.steps,
                    lr: self.lr,
                    questions_per_step: self.questions_per_step,
                    eval_every: self.eval_every,
                    checkpoint_every: self.checkpoint_every,
                    seed: self.seed,
                    ..Default::default()
                },
                cot: self.cot,
                temperature: self.temperature,
                teacher_answers: optional(&self.teacher_answers),
                teacher_cache: optional(&self.teacher_cache),
                resume,
            }),
        }
    }
}

/// Colours of the curves, in the order of their names (shared by the loss and weight plots).
pub const CURVE_COLORS: [egui::Color32; 16] = [
    egui::Color32::from_rgb(255, 170, 60),
    egui::Color32::from_rgb(90, 200, 255),
    egui::Color32::from_rgb(120, 230, 110),
    egui::Color32::from_rgb(240, 100, 200),
    egui::Color32::from_rgb(230, 230, 90),
    egui::Color32::from_rgb(170, 140, 255),
    egui::Color32::from_rgb(255, 110, 110),
    egui::Color32::from_rgb(140, 240, 220),
    egui::Color32::from_rgb(255, 255, 255),
    egui::Color32::from_rgb(60, 130, 255),
    egui::Color32::from_rgb(200, 120, 40),
    egui::Color32::from_rgb(40, 170, 90),
    egui::Color32::from_rgb(190, 60, 255),
    egui::Color32::from_rgb(255, 200, 200),
    egui::Color32::from_rgb(120, 160, 60),
    egui::Color32::from_rgb(60, 200, 180),
];

/// The y axis of a plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    Linear,
    /// log10 of the values (non-positive values are left out).
    Log10,
}

/// Plots curves (already thinned) with egui_plot: one line per name against the step, a legend
/// with the last value (click a name to hide its line), zoom and pan on the plot.
fn curves_ui(
    ui: &mut egui::Ui,
    id: &str,
    curves: &BTreeMap<String, Vec<(usize, f32)>>,
    scale: Scale,
) {
    if curves.values().all(Vec::is_empty) {
        ui.small("no points yet");
        return;
    }
    let y = |v: f32| match scale {
        Scale::Linear => Some(f64::from(v)),
        Scale::Log10 => (v > 0.0).then(|| f64::from(v).log10()),
    };
    egui_plot::Plot::new(id)
        .height(60.0 + 14.0 * curves.len() as f32)
        .width(ui.available_width().min(340.0))
        .legend(
            egui_plot::Legend::default()
                .position(egui_plot::Corner::RightTop)
                .background_alpha(0.6),
        )
        .x_axis_label("step")
        .y_axis_label(match scale {
            Scale::Linear => "",
            Scale::Log10 => "log10",
        })
        .allow_scroll(false)
        .show(ui, |plot| {
            for (i, (name, pts)) in curves.iter().enumerate() {
                let line: egui_plot::PlotPoints = pts
                    .iter()
                    .filter_map(|&(x, v)| Some([x as f64, y(v).filter(|y| y.is_finite())?]))
                    .collect();
                let last = pts.last().map_or(f32::NAN, |p| p.1);
                plot.line(
                    egui_plot::Line::new(format!("{name} {last:.3}"), line)
                        .color(CURVE_COLORS[i % CURVE_COLORS.len()])
                        .width(2.0),
                );
            }
        });
}

/// A run started as soon as the scene is shown (`spatia view --train DATA`): a screenshot
/// waits for its end, a frame benchmark times frames while it runs.
#[derive(Resource, Debug, Clone)]
pub struct ScriptedTraining {
    /// Data folder.
    pub data: PathBuf,
    /// Steps (the form's default when `None`).
    pub steps: Option<usize>,
    /// Student preset (the form's default when `None`).
    pub preset: Option<StudentPreset>,
    /// Output folder (the form's default when `None`).
    pub out: Option<PathBuf>,
    /// Sent yet.
    pub started: bool,
}

impl ScriptedTraining {
    /// Whether the run has not been started yet or has not ended.
    pub fn pending(&self, t: &TrainingState) -> bool {
        !self.started || t.status.is_none()
    }
}

/// Training plugin: the training tab's state, fed by the worker's training events, and the
/// scripted run of `spatia view --train`. The tab itself is drawn by the UI plugin through
/// [`training_ui`].
pub struct TrainingPlugin;

impl Plugin for TrainingPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<TrainingState>()
            .add_systems(Update, (apply_training_events, start_scripted_training));
    }
}

fn apply_training_events(
    mut messages: MessageReader<WorkerMessage>,
    mut training: ResMut<TrainingState>,
) {
    for m in messages.read() {
        if let Event::Training(t) = &m.event {
            training.apply(t.clone());
        }
    }
}

/// Starts the scripted run once the scene is on screen.
pub fn start_scripted_training(
    script: Option<ResMut<ScriptedTraining>>,
    current: Option<Res<CurrentScene>>,
    mut training: ResMut<TrainingState>,
    mut bridge: ResMut<ModelBridge>,
) {
    let (Some(mut script), Some(_)) = (script, current) else {
        return;
    };
    if script.started {
        return;
    }
    script.started = true;
    training.data = script.data.display().to_string();
    if let Some(steps) = script.steps {
        training.steps = steps;
    }
    if let Some(preset) = script.preset {
        training.preset = preset;
    }
    if let Some(out) = &script.out {
        training.out = out.display().to_string();
    }
    training.start(&mut bridge, false);
}

/// Puts the folder a dialog returned into its field.
fn poll_folder_dialog(t: &mut TrainingState) {
    let Some((field, rx)) = &t.picking else {
        return;
    };
    let field = *field;
    match rx.try_recv() {
        Ok(Some(dir)) => {
            let dir = dir.display().to_string();
            match field {
                FolderField::Data => t.data = dir,
                FolderField::Teacher => t.teacher = dir,
                FolderField::Init => t.init = dir,
                FolderField::InitDecoder => t.init_decoder = dir,
                FolderField::Out => t.out = dir,
            }
            t.picking = None;
        }
        Ok(None) | Err(TryRecvError::Disconnected) => t.picking = None,
        Err(TryRecvError::Empty) => {}
    }
}

/// The training tab.
pub fn training_ui(ui: &mut egui::Ui, t: &mut TrainingState, bridge: &mut ModelBridge) {
    poll_folder_dialog(t);
    let stage = t.stage;
    egui::Grid::new("train-form").num_columns(3).show(ui, |ui| {
        ui.label("stage");
        egui::ComboBox::from_id_salt("stage")
            .selected_text(t.stage.name())
            .show_ui(ui, |ui| {
                for s in TrainingStage::ALL {
                    ui.selectable_value(&mut t.stage, s, s.name());
                }
            });
        ui.end_row();
        let (teacher_label, teacher_hint) = match stage {
            TrainingStage::Distill => ("teacher", "a model folder (config.json)"),
            _ => (
                "tokenizer from",
                "a model folder whose tokenizer.json this run uses (the teacher's)",
            ),
        };
        let init_hint = match stage {
            TrainingStage::Perception => {
                "a model folder whose encoder and depth head start this one (e.g. models/student)"
            }
            _ => "a stage-1 folder (student) or a model whose perception this one keeps",
        };
        for (field, label, hint) in [
            (FolderField::Data, "data", "a `spatia gen-data` folder"),
            (FolderField::Teacher, teacher_label, teacher_hint),
            (FolderField::Init, "start from", init_hint),
            (
                FolderField::InitDecoder,
                "decoder from",
                "a model folder whose decoder this run continues (empty: a fresh decoder)",
            ),
            (
                FolderField::Out,
                "output",
                "where checkpoints and the log go",
            ),
        ] {
            if field == FolderField::Init && stage == TrainingStage::Distill {
                continue;
            }
            if field == FolderField::InitDecoder && stage != TrainingStage::Decoder {
                continue;
            }
            ui.label(label);
            let text = match field {
                FolderField::Data => &mut t.data,
                FolderField::Teacher => &mut t.teacher,
                FolderField::Init => &mut t.init,
                FolderField::InitDecoder => &mut t.init_decoder,
                FolderField::Out => &mut t.out,
            };
            ui.text_edit_singleline(text).on_hover_text(hint);
            let browsing = t.picking.as_ref().map(|p| p.0) == Some(field);
            if ui
                .add_enabled(t.picking.is_none(), egui::Button::new("…"))
                .on_hover_text("choose a folder")
                .clicked()
            {
                match pick_in_background("Choose a folder", None) {
                    Ok(rx) => t.picking = Some((field, rx)),
                    Err(e) => t.status = Some(e),
                }
            }
            if browsing {
                ui.spinner();
            }
            ui.end_row();
        }
        match stage {
            TrainingStage::Distill => {
                ui.label("student preset");
                egui::ComboBox::from_id_salt("preset")
                    .selected_text(t.preset.name())
                    .show_ui(ui, |ui| {
                        for p in StudentPreset::ALL {
                            ui.selectable_value(&mut t.preset, p, p.name());
                        }
                    });
                ui.end_row();
            }
            TrainingStage::Decoder => {
                ui.label("model");
                ui.checkbox(&mut t.decoder_student, "object student")
                    .on_hover_text(
                        "the student reading the objects it finds (off: the object teacher)",
                    );
                ui.end_row();
                ui.label("distil");
                ui.add_enabled(
                    t.decoder_student,
                    egui::Checkbox::new(&mut t.decoder_distill, "latents from the teacher"),
                )
                .on_hover_text(
                    "Hidden CoT distillation: the student's latents learn to hold what the \
                     teacher's (the folder above) hold on the true objects, and its answers \
                     to follow the teacher's",
                );
                ui.end_row();
                ui.label("annotated share");
                ui.add_enabled(
                    t.decoder_student,
                    egui::DragValue::new(&mut t.annotated_share)
                        .speed(0.01)
                        .range(0.0..=1.0),
                )
                .on_hover_text(
                    "share of each step's questions asked over the annotated objects (true \
                     categories and depth) instead of the ones the student finds",
                );
                ui.end_row();
                ui.label("grouping voxel m");
                ui.add_enabled(
                    t.decoder_student,
                    egui::DragValue::new(&mut t.group_voxel_m)
                        .speed(0.01)
                        .range(crate::model::config::GROUP_VOXEL_RANGE_M),
                )
                .on_hover_text(
                    "edge of the voxels the student's pixels are grouped into objects in: \
                     pixels of one category in touching voxels are one object",
                );
                ui.end_row();
                ui.label("found objects");
                ui.add_enabled(
                    t.decoder_student,
                    egui::TextEdit::singleline(&mut t.found_objects),
                )
                .on_hover_text(
                    "another run's found_objects.json over the same perception (checked on the \
                     first scene); empty: find every scene's objects again",
                );
                ui.end_row();
                ui.label("reword");
                ui.add(
                    egui::DragValue::new(&mut t.reword)
                        .speed(0.01)
                        .range(0.0..=1.0),
                )
                .on_hover_text(
                    "share of each step's questions asked in another training paraphrase of \
                     their relation (held-out wordings are never used)",
                );
                ui.end_row();
                ui.label("categories");
                categories_ui(ui, &mut t.categories);
                ui.end_row();
            }
            TrainingStage::Perception => {
                ui.label("scan-like views");
                ui.add(
                    egui::DragValue::new(&mut t.scan_like)
                        .speed(0.01)
                        .range(0.0..=1.0),
                )
                .on_hover_text(
                    "share of training views given a real scan's holes, shading, colour cast, \
                     blur and noise (domain randomisation)",
                );
                ui.end_row();
                ui.label("random object colours");
                ui.add(
                    egui::DragValue::new(&mut t.object_colours)
                        .speed(0.01)
                        .range(0.0..=1.0),
                )
                .on_hover_text(
                    "share of training scenes whose objects get random colours (one per \
                     object in all views), so categories are not learnt from the palette",
                );
                ui.end_row();
                ui.label("named categories ×");
                ui.add(
                    egui::DragValue::new(&mut t.named_weight)
                        .speed(0.05)
                        .range(0.1..=crate::train::stage1::MAX_NAMED_WEIGHT),
                )
                .on_hover_text(
                    "factor on the semantic weight of every category questions name (not \
                     walls, floors or the catch-all classes); 1: none",
                );
                ui.end_row();
                ui.label("camera head");
                egui::ComboBox::from_id_salt("camera_head")
                    .selected_text(t.camera.label())
                    .show_ui(ui, |ui| {
                        for c in CameraTraining::ALL {
                            ui.selectable_value(&mut t.camera, c, c.label());
                        }
                    })
                    .response
                    .on_hover_text(
                        "each view's pose relative to the first, from its camera token: trained \
                         with the rest by a new model, or alone on the init model (its other \
                         tensors copied and kept)",
                    );
                ui.end_row();
            }
        }
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
        if stage != TrainingStage::Perception {
            ui.label("Hidden CoT K");
            ui.add(egui::DragValue::new(&mut t.cot).range(0..=64));
            ui.end_row();
            ui.label("questions / step");
            ui.add(egui::DragValue::new(&mut t.questions_per_step).range(1..=1024));
            ui.end_row();
        }
        ui.label("validate every");
        ui.add(egui::DragValue::new(&mut t.eval_every).range(0..=1_000_000))
            .on_hover_text("steps; 0: never");
        ui.end_row();
        ui.label("checkpoint every");
        ui.add(egui::DragValue::new(&mut t.checkpoint_every).range(1..=1_000_000));
        ui.end_row();
        ui.label("seed");
        ui.add(egui::DragValue::new(&mut t.seed));
        ui.end_row();
        if stage != TrainingStage::Distill {
            return;
        }
        ui.label("KL temperature");
        ui.add(
            egui::DragValue::new(&mut t.temperature)
                .speed(0.05)
                .range(0.1..=20.0),
        );
        ui.end_row();
        ui.label("teacher answers");
        ui.text_edit_singleline(&mut t.teacher_answers)
            .on_hover_text("optional JSONL of teacher answers (e.g. exported disagreements)");
        ui.end_row();
        ui.label("teacher cache");
        ui.text_edit_singleline(&mut t.teacher_cache)
            .on_hover_text("optional folder shared by runs (default: output/teacher_cache)");
        ui.end_row();
    });
    ui.horizontal(|ui| {
        if !t.running {
            if ui.button("Start").clicked() {
                t.start(bridge, false);
            }
            if ui.button("Resume").clicked() {
                t.start(bridge, true);
            }
        } else {
            // Pause and stop both end the run after a checkpoint; Resume continues exactly.
            let pause = ui.button("Pause").clicked();
            let stop = ui.button("Stop").clicked();
            if (pause || stop)
                && let Err(e) = bridge.send(Request::StopTraining)
            {
                t.status = Some(e);
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
    ui.label("loss terms (log10)");
    curves_ui(ui, "loss", &t.losses, Scale::Log10);
    ui.label("task weights exp(−s)");
    curves_ui(ui, "weight", &t.weights, Scale::Linear);
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

/// One checkbox per question category; none ticked trains on all of them.
fn categories_ui(ui: &mut egui::Ui, categories: &mut Vec<crate::questions::QuestionCategory>) {
    ui.horizontal_wrapped(|ui| {
        for c in crate::questions::QuestionCategory::ALL {
            let mut on = categories.contains(&c);
            if ui.checkbox(&mut on, c.name()).changed() {
                if on {
                    categories.push(c);
                } else {
                    categories.retain(|x| *x != c);
                }
            }
        }
    })
    .response
    .on_hover_text("only questions of the ticked categories; none ticked: all");
}
