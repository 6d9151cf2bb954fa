//! Stage 2's data: every training scene's object tokens computed once from its shard, and every
//! training question tokenised once with what the Hidden CoT probes need (which object tokens it
//! names, the measured distance); steps draw questions from many scenes, categories balanced.

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::data::{Dataset, ObjectToken, ObjectViews, Split, object_tokens};
use crate::model::objects::MAX_OBJECT_SLOTS;
use crate::model::{ModelError, SpatiaTokenizer};
use crate::questions::reword::Rewordable;
use crate::questions::{Question, QuestionCategory, min_visible_px};

/// One scene's object tokens.
#[derive(Debug, Clone)]
pub struct CachedScene {
    /// The scene's key in the dataset.
    pub key: String,
    /// Its object tokens.
    pub objects: Vec<ObjectToken>,
}

/// One tokenised question.
#[derive(Debug, Clone)]
pub struct CachedQuestion {
    /// Index of its scene in [`TokenCache::scenes`].
    pub scene: usize,
    /// Its category.
    pub category: QuestionCategory,
    /// Question token ids (no `<bos>`).
    pub question: Vec<u32>,
    /// Answer token ids (no `<eos>`).
    pub answer: Vec<u32>,
    /// For the first [`MAX_OBJECT_SLOTS`] objects the question names, the index of its token in
    /// the scene's object tokens (`None` when it has none).
    pub named: Vec<Option<usize>>,
    /// For the same objects, the index of the token of the anchor the question names it by
    /// ("the bed" of "the chair closest to the bed"; `None` when it is named by class alone or
    /// the anchor has no token).
    pub anchored: Vec<Option<usize>>,
    /// The measured distance between the first two named objects, when the question has one.
    pub distance_m: Option<f32>,
    /// Worded negatively ("far apart", "a gap between"): yes means the relation does not hold.
    pub negated: bool,
    /// What rewording it needs (`--reword`): its kind and object phrases, when the template
    /// that worded it is a training one and the text reads one way by it.
    pub rewordable: Option<Rewordable>,
}

/// The objects a question's slots point at, at most [`MAX_OBJECT_SLOTS`], and each one's anchor:
/// the objects it names with their anchors, then the object its answer names when the question
/// does not name it (the closest / farthest object to the first named one, which is then its
/// anchor: "what is nearest the pillow?" points its second slot at the answer, anchored at the
/// pillow).
pub fn slot_objects(q: &Question) -> (Vec<u32>, Vec<Option<u32>>) {
    let mut ids: Vec<u32> = q.objects.iter().copied().take(MAX_OBJECT_SLOTS).collect();
    let mut anchors: Vec<Option<u32>> = (0..ids.len())
        .map(|k| q.anchors.get(k).copied().flatten())
        .collect();
    if let Some(answer) = q.answer_object
        && !q.objects.contains(&answer)
        && ids.len() < MAX_OBJECT_SLOTS
    {
        anchors.push(q.objects.first().copied());
        ids.push(answer);
    }
    (ids, anchors)
}

/// Whether template `id` asks the negated form of its relation (`far.*`, `gap.*`).
pub fn is_negated_template(id: Option<&str>) -> bool {
    id.is_some_and(|t| t.starts_with("far.") || t.starts_with("gap."))
}

/// The scenes and questions of a split, ready for stage 2.
#[derive(Debug, Clone, Default)]
pub struct TokenCache {
    /// Scenes.
    pub scenes: Vec<CachedScene>,
    /// Questions (seen wordings only).
    pub questions: Vec<CachedQuestion>,
    /// Question indices per category present, in category order.
    pub by_category: Vec<(QuestionCategory, Vec<usize>)>,
}

impl TokenCache {
    /// Reads every scene of `split` (at most `max_scenes`), computes its object tokens from its
    /// shard (ground-truth depth, instance masks, cameras and categories) and tokenises its
    /// seen-wording questions; `progress(done, total)` after each scene.
    pub fn build(
        dataset: &Dataset,
        split: Split,
        tokenizer: &SpatiaTokenizer,
        max_scenes: Option<usize>,
        progress: impl FnMut(usize, usize),
    ) -> Result<TokenCache, ModelError> {
        Self::build_with(dataset, split, tokenizer, max_scenes, progress, |shard| {
            Ok(object_tokens(
                &ObjectViews::of_shard(shard),
                min_visible_px(shard.size) as u32,
            ))
        })
    }

    /// [`Self::build`] with each scene's object tokens from `objects_of(shard)` — e.g. the
    /// objects a student finds itself, labelled with the ids of the annotated objects they
    /// cover (`data::match_to_annotated`), so that the questions' named objects map to them.
    /// Scenes without any object are left out.
    pub fn build_with(
        dataset: &Dataset,
        split: Split,
        tokenizer: &SpatiaTokenizer,
        max_scenes: Option<usize>,
        mut progress: impl FnMut(usize, usize),
        mut objects_of: impl FnMut(&crate::data::SceneShard) -> Result<Vec<ObjectToken>, ModelError>,
    ) -> Result<TokenCache, ModelError> {
        let keys = dataset.scenes(split);
        let keys = &keys[..max_scenes.map_or(keys.len(), |m| m.min(keys.len()))];
        let mut cache = TokenCache::default();
        for (i, key) in keys.iter().enumerate() {
            let (shard, questions) = dataset.load(split, key)?;
            if shard.object_id.is_empty() {
                return Err(ModelError::Invalid(format!(
                    "{}: shard {key} has no object categories (built before shard version 2); \
                     rebuild the dataset with `spatia gen-data`",
                    dataset.root.display()
                )));
            }
            let objects = objects_of(&shard)?;
            if objects.is_empty() {
                // Nothing to point at (a student that finds no object here): the model refuses
                // such a scene at inference, so it is not trained on.
                progress(i + 1, keys.len());
                continue;
            }
            let scene = cache.scenes.len();
            for q in questions.iter().filter(|q| !q.held_out) {
                let (slot_ids, slot_anchors) = slot_objects(q);
                let token = |id: u32| objects.iter().position(|o| o.id == id);
                let named = slot_ids.iter().map(|&id| token(id)).collect();
                let anchored = slot_anchors.iter().map(|a| a.and_then(token)).collect();
                let distance_m = q.fact.as_ref().and_then(|f| f.distance_m);
                cache.questions.push(CachedQuestion {
                    scene,
                    category: q.category,
                    question: tokenizer.encode(&q.question)?,
                    answer: tokenizer.encode(&q.answer)?,
                    named,
                    anchored,
                    distance_m,
                    negated: is_negated_template(q.template.as_deref()),
                    rewordable: q
                        .template
                        .as_deref()
                        .and_then(|id| Rewordable::read(id, &q.question)),
                });
            }
            cache.scenes.push(CachedScene {
                key: key.clone(),
                objects,
            });
            progress(i + 1, keys.len());
        }
        let mut by: std::collections::BTreeMap<QuestionCategory, Vec<usize>> =
            std::collections::BTreeMap::new();
        for (i, q) in cache.questions.iter().enumerate() {
            by.entry(q.category).or_default().push(i);
        }
        cache.by_category = by.into_iter().collect();
        Ok(cache)
    }

    /// A cache of just the questions `picks`, each `(source, question index)` with `source` an
    /// index into `caches`, in that order (questions `0..picks.len()`), with the scenes they are
    /// asked about (each scene once per source). Stage 2 builds one per step when a share of
    /// the questions reads another cache's objects (`--annotated-share`).
    pub fn gather(caches: &[&TokenCache], picks: &[(usize, usize)]) -> TokenCache {
        let mut out = TokenCache::default();
        let mut scene_of: std::collections::HashMap<(usize, usize), usize> =
            std::collections::HashMap::new();
        for &(source, i) in picks {
            let cache = caches[source];
            let mut q = cache.questions[i].clone();
            q.scene = *scene_of.entry((source, q.scene)).or_insert_with(|| {
                out.scenes.push(cache.scenes[q.scene].clone());
                out.scenes.len() - 1
            });
            out.questions.push(q);
        }
        out
    }

    /// The questions of step `step`: `n` of them, categories in turn (a shuffled order per
    /// step, so every category gets ⌊n / categories⌋ or one more), each drawn at random from
    /// its category; the same for the same seed and step (so a resumed run continues exactly).
    /// With `direct_only`, negated wordings are redrawn (the curriculum's first phase: the
    /// answer then follows the fact, a first-order signal).
    pub fn sample(&self, n: usize, seed: u64, step: usize, direct_only: bool) -> Vec<usize> {
        if self.by_category.is_empty() {
            return Vec::new();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (step as u64).wrapping_mul(0x9E37_79B9));
        let mut order: Vec<usize> = (0..self.by_category.len()).collect();
        order.shuffle(&mut rng);
        (0..n)
            .map(|i| {
                let list = &self.by_category[order[i % order.len()]].1;
                let mut pick = list[rng.random_range(0..list.len())];
                // Bounded: a category of negated wordings only keeps its last draw.
                for _ in 0..16 {
                    if !(direct_only && self.questions[pick].negated) {
                        break;
                    }
                    pick = list[rng.random_range(0..list.len())];
                }
                pick
            })
            .collect()
    }
}
