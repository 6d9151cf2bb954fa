//! The worker's state and request handlers, without threads: the models by role, the current
//! scene's rendered views, and scene encodings cached per scene and model.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use candle_core::Device;

use super::protocol::{Event, GroundedObject, Role, SceneViews};
use crate::data::build::{BuildOptions, render_shard, shard_visibility};
use crate::model::{LoadedModel, ModelError, SceneTokens, ViewBatch, device_name, load_model};
use crate::questions::names::mentioned_objects;
use crate::questions::{GenerateOptions, QuestionCategory, Visibility, generate, generate_visible};
use crate::scene::Scene;
use crate::spatial::SpatialScene;

/// Encodings kept: the current scene's and those of a few before it, per model.
const CACHED_SCENES: usize = 3;

/// Longest suggested question, characters.
const MAX_SUGGESTION_CHARS: usize = 48;

/// Views rendered when no model is loaded yet (the presets' layout).
const DEFAULT_VIEWS: usize = 4;
const DEFAULT_SIZE: u32 = 112;

/// Models, the current scene and the encoding cache.
pub struct Engine {
    device: Device,
    models: BTreeMap<Role, LoadedModel>,
    scene: Option<(u64, Arc<Scene>)>,
    /// Rendered views per (scene id, views, size).
    views: HashMap<(u64, usize, u32), Arc<SceneViews>>,
    /// Which objects the first rendered views of each scene show (for suggestions).
    visible: HashMap<u64, Visibility>,
    encodings: HashMap<(u64, Role), SceneTokens>,
    recent: VecDeque<u64>,
    /// Encodings computed (cache misses), for tests and the status bar.
    pub encodes: usize,
}

impl Engine {
    /// No models, no scene.
    pub fn new(device: Device) -> Engine {
        Engine {
            device,
            models: BTreeMap::new(),
            scene: None,
            views: HashMap::new(),
            visible: HashMap::new(),
            encodings: HashMap::new(),
            recent: VecDeque::new(),
            encodes: 0,
        }
    }

    /// The folders of the loaded models (to reload them after a crash).
    pub fn model_dirs(&self) -> Vec<(Role, PathBuf)> {
        self.models
            .iter()
            .map(|(r, m)| (*r, m.dir.clone()))
            .collect()
    }

    /// The current scene.
    pub fn scene(&self) -> Option<(u64, Arc<Scene>)> {
        self.scene.clone()
    }

    /// Loads a model into `role`, dropping that role's cached encodings.
    pub fn load_model(&mut self, role: Role, dir: &std::path::Path) -> Result<Event, ModelError> {
        let loaded = load_model(dir, &self.device)?;
        let params = loaded.params()?;
        let name = format!("{} ({})", loaded.model.cfg.name, dir.display());
        self.models.insert(role, loaded);
        self.encodings.retain(|(_, r), _| *r != role);
        Ok(Event::ModelLoaded {
            role,
            name,
            params,
            device: device_name(&self.device),
        })
    }

    /// Makes `scene` current and renders its views for the loaded student (or the default
    /// layout).
    pub fn set_scene(&mut self, scene_id: u64, scene: Arc<Scene>) -> Result<Event, ModelError> {
        self.scene = Some((scene_id, scene));
        self.recent.retain(|&id| id != scene_id);
        self.recent.push_back(scene_id);
        while self.recent.len() > CACHED_SCENES {
            if let Some(old) = self.recent.pop_front() {
                self.encodings.retain(|(id, _), _| *id != old);
                self.views.retain(|(id, _, _), _| *id != old);
            }
        }
        let layout = self
            .models
            .get(&Role::Student)
            .or_else(|| self.models.values().next())
            .map(|m| (m.model.cfg.num_views, m.model.cfg.encoder.image_size as u32))
            .unwrap_or((DEFAULT_VIEWS, DEFAULT_SIZE));
        Ok(Event::SceneReady(self.views_for(layout)?))
    }

    fn views_for(&mut self, (views, size): (usize, u32)) -> Result<Arc<SceneViews>, ModelError> {
        let (scene_id, scene) = self
            .scene
            .clone()
            .ok_or_else(|| ModelError::Invalid("no scene is open".into()))?;
        if let Some(v) = self.views.get(&(scene_id, views, size)) {
            return Ok(v.clone());
        }
        let options = BuildOptions {
            views,
            size,
            ..Default::default()
        };
        let shard = render_shard(&scene, &options, 0)?;
        self.visible
            .entry(scene_id)
            .or_insert_with(|| shard_visibility(&shard));
        let v = Arc::new(SceneViews {
            scene_id,
            views: ViewBatch::from_shard(&shard),
        });
        self.views.insert((scene_id, views, size), v.clone());
        Ok(v)
    }

    fn model(&self, role: Role) -> Result<&LoadedModel, ModelError> {
        self.models
            .get(&role)
            .ok_or_else(|| ModelError::Invalid(format!("no {} model is loaded", role.name())))
    }

    /// The current scene encoded by `role`'s model: from the cache, or computed (then an
    /// `Encoded` event goes to `emit`).
    fn encoding(&mut self, role: Role, emit: &mut dyn FnMut(Event)) -> Result<u64, ModelError> {
        let (scene_id, _) = self
            .scene
            .clone()
            .ok_or_else(|| ModelError::Invalid("no scene is open".into()))?;
        if self.encodings.contains_key(&(scene_id, role)) {
            return Ok(scene_id);
        }
        let cfg = &self.model(role)?.model.cfg;
        let layout = (cfg.num_views, cfg.encoder.image_size as u32);
        let views = self.views_for(layout)?;
        let tokens = self.model(role)?.encode(&views.views)?;
        self.encodes += 1;
        emit(Event::Encoded {
            scene_id,
            role,
            encode_ms: tokens.encode_ms,
        });
        self.encodings.insert((scene_id, role), tokens);
        Ok(scene_id)
    }

    /// Example questions about the current scene, at most `limit`, or `None` without a
    /// scene: short ones, about objects the rendered views show and whose class is unique in
    /// the scene (no "the cup closest to the laptop"), taking the categories in turn.
    pub fn suggestions(&self, limit: usize) -> Option<Event> {
        let (scene_id, scene) = self.scene.as_ref()?;
        let spatial = SpatialScene::new(scene);
        let options = GenerateOptions {
            per_category: 6,
            ..Default::default()
        };
        let all = match self.visible.get(scene_id) {
            Some(v) => generate_visible(&spatial, &options, v),
            None => generate(&spatial, &options),
        };
        let unique = |id: &u32| {
            scene.object(*id).is_some_and(|o| {
                scene
                    .objects
                    .iter()
                    .filter(|x| x.category == o.category)
                    .count()
                    == 1
            })
        };
        let mut per: BTreeMap<QuestionCategory, Vec<String>> = BTreeMap::new();
        for q in all {
            // A count names every object of its class: uniqueness does not apply.
            let named_alone =
                q.category == QuestionCategory::Counting || q.objects.iter().all(unique);
            if q.question.len() <= MAX_SUGGESTION_CHARS && named_alone {
                per.entry(q.category).or_default().push(q.question);
            }
        }
        for qs in per.values_mut() {
            qs.sort_by_key(|q| (q.len(), q.clone()));
        }
        // One per category in turn, shortest first.
        let mut questions = Vec::new();
        for round in 0.. {
            let before = questions.len();
            for qs in per.values() {
                if let Some(q) = qs.get(round)
                    && questions.len() < limit
                {
                    questions.push(q.clone());
                }
            }
            if questions.len() == before || questions.len() >= limit {
                break;
            }
        }
        Some(Event::Suggestions {
            scene_id: *scene_id,
            questions,
        })
    }

    /// `role`'s answer to `question` about the current scene.
    pub fn ask(
        &mut self,
        request_id: u64,
        question: &str,
        role: Role,
        attention: bool,
        emit: &mut dyn FnMut(Event),
    ) -> Result<Event, ModelError> {
        if question.trim().is_empty() {
            return Err(ModelError::Invalid("the question is empty".into()));
        }
        let scene_id = self.encoding(role, emit)?;
        let model = self.model(role)?;
        let tokens = &self.encodings[&(scene_id, role)];
        let a = model.answer(tokens, question, attention)?;
        let unseen = model
            .unseen_names(tokens, &a.looked_again, question)
            .into_iter()
            .map(String::from)
            .collect();
        let pieces = a
            .token_ids
            .iter()
            .zip(&a.token_probs)
            .map(|(&id, &p)| Ok((model.tokenizer.decode(&[id])?, p)))
            .collect::<Result<Vec<_>, ModelError>>()?;
        let objects = match &self.scene {
            Some((_, scene)) => {
                let mut ids = mentioned_objects(scene, question);
                for id in mentioned_objects(scene, &a.text) {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                ids
            }
            None => Vec::new(),
        };
        let looked_again = a.looked_again_names();
        let read_objects: Vec<_> = tokens
            .objects
            .iter()
            .chain(&a.looked_again)
            .cloned()
            .collect();
        let grounding = a
            .grounding
            .iter()
            .map(|g| GroundedObject {
                object_id: g.object_id,
                name: grounded_name(
                    self.scene.as_ref().map(|(_, s)| s.as_ref()),
                    &read_objects,
                    g.object_id,
                ),
                probability: g.probability,
            })
            .collect();
        let scene_layout = if a.attention.is_some() {
            let mut layout = tokens.layout.clone();
            layout.extend(crate::model::vlm::object_layout(&a.looked_again));
            layout
        } else {
            Vec::new()
        };
        Ok(Event::Answer {
            request_id,
            role,
            text: a.text,
            tokens: pieces,
            latency_ms: a.latency_ms,
            attention: a.attention,
            scene_layout,
            objects,
            grounding,
            unseen,
            looked_again,
            unconstrained: a.unconstrained.clone(),
        })
    }

    /// `role`'s depth for every view and its boxes.
    pub fn predict(
        &mut self,
        request_id: u64,
        role: Role,
        emit: &mut dyn FnMut(Event),
    ) -> Result<Event, ModelError> {
        let scene_id = self.encoding(role, emit)?;
        let model = self.model(role)?;
        let tokens = &self.encodings[&(scene_id, role)];
        let depth = model.depth(tokens)?;
        let detections = model.detect(tokens)?;
        let cfg = &model.model.cfg;
        let views = self.views_for((cfg.num_views, cfg.encoder.image_size as u32))?;
        let world_from_camera0 = views.views.camera_from_world(0).inverse().to_cols_array();
        Ok(Event::Prediction {
            request_id,
            role,
            depth,
            detections,
            world_from_camera0,
        })
    }
}

/// The name of the object `id` a slot pointed at: the scene's object of that id, or, for an
/// object the student found that matches none of the scene's, the category it found it as
/// (from the encoding's `objects`); "object" when neither knows it.
pub fn grounded_name(
    scene: Option<&crate::scene::Scene>,
    objects: &[crate::data::ObjectToken],
    id: u32,
) -> String {
    scene
        .and_then(|s| s.objects.iter().find(|o| o.id == id))
        .map(|o| o.category)
        .or_else(|| {
            objects
                .iter()
                .find(|o| o.id == id)
                .and_then(|o| crate::scene::Category::from_index(o.category))
        })
        .map_or_else(|| "object".to_string(), |c| c.name().to_string())
}
