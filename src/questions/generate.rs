//! The question generator: candidates from the relation engine, worded by templates, balanced.

use std::collections::{HashMap, HashSet};

use glam::Vec3;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::names::{Names, canonical_name, names_of};
use super::templates::{Kind, Template, fill, templates_of};
use super::{Fact, Question, QuestionCategory, Visibility};
use crate::scene::{Category, SceneObject};
use crate::spatial::direction::{Observer, above};
use crate::spatial::{CONTACT_M, SpatialScene};

/// Pairs closer than this but not touching are too close to call for contact questions, metres.
const CONTACT_UNSURE_M: f32 = 0.10;
/// The answer of a closest/farthest question must beat every other category by this, metres.
const CLOSEST_MARGIN_M: f32 = 0.15;
/// "Which of two is closer" needs the two distances this far apart, metres.
const CHOICE_MARGIN_M: f32 = 0.3;
/// "The X closest to the Z" needs the next X this much farther from Z, metres.
const REFER_MARGIN_M: f32 = 0.5;
/// Size comparisons need this ratio between the two objects.
const SIZE_RATIO: f32 = 1.25;
/// Neighbours named in descriptions are at most this far, metres.
const DESCRIBE_NEAR_M: f32 = 1.5;
/// Observers and targets in direction questions are at least this far apart, metres.
const DIRECTION_MIN_M: f32 = 0.5;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerateOptions {
    /// Seed mixed with the scene name; equal inputs give equal questions.
    pub seed: u64,
    /// Most questions per category (yes/no categories: half yes, half no).
    pub per_category: usize,
    /// Every proximity and contact question the scene allows, unbalanced: a dataset build
    /// balances them across scenes (see [`super::balance`]).
    pub all_yes_no: bool,
    /// `Some(false)`: training templates only; `Some(true)`: held-out only; `None`: both.
    pub held_out: Option<bool>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            per_category: 8,
            all_yes_no: false,
            held_out: Some(false),
        }
    }
}

/// How an object can be referred to unambiguously.
#[derive(Debug, Clone, Copy)]
enum Referent {
    /// Its category is unique among the askable objects.
    Unique,
    /// The only one of its category resting on an object of this category (that object).
    On(Category, u32),
    /// The one of its category closest to this (uniquely named) object.
    ClosestTo(u32),
}

struct Ctx<'a> {
    spatial: &'a SpatialScene<'a>,
    /// Askable objects (named categories), in scene order.
    objects: Vec<&'a SceneObject>,
    names: HashMap<u32, &'static Names>,
    dist: HashMap<(u32, u32), f32>,
    /// What each askable object rests on (a non-structure object first, else the floor).
    support: HashMap<u32, u32>,
    /// Ordered pairs (a on b) among askable objects.
    on_pairs: HashSet<(u32, u32)>,
    counts: HashMap<Category, usize>,
    referents: HashMap<u32, Referent>,
    rng: ChaCha8Rng,
    options: GenerateOptions,
    seen: HashSet<String>,
    /// Which views show which objects; `None`: every object counts as shown.
    visible: Option<&'a Visibility>,
}

/// Generates questions about the scene behind `spatial`, about any of its objects.
pub fn generate(spatial: &SpatialScene<'_>, options: &GenerateOptions) -> Vec<Question> {
    generate_with(Ctx::new(spatial, *options, None))
}

/// Generates questions that name only objects `visible` says some view shows (anchors of
/// referring expressions included; the floor and walls may be named by descriptions); each
/// question records the views showing each object it names.
pub fn generate_visible(
    spatial: &SpatialScene<'_>,
    options: &GenerateOptions,
    visible: &Visibility,
) -> Vec<Question> {
    generate_with(Ctx::new(spatial, *options, Some(visible)))
}

fn generate_with(mut ctx: Ctx<'_>) -> Vec<Question> {
    let mut out = Vec::new();
    out.extend(ctx.proximity());
    out.extend(ctx.contact());
    out.extend(ctx.closest());
    out.extend(ctx.direction());
    out.extend(ctx.distance());
    out.extend(ctx.counting());
    out.extend(ctx.size());
    out.extend(ctx.description());
    out
}

/// The reference sentence placing object `id`: "the cup is on the table, near the laptop and
/// the monitor" (`None` for unknown or unnamed objects, or when nothing can be said).
pub fn describe_object(spatial: &SpatialScene<'_>, id: u32) -> Option<String> {
    let ctx = Ctx::new(spatial, GenerateOptions::default(), None);
    ctx.describe(id).map(|(text, _)| text)
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// Metres as answers write them: two decimals below 1 m, one above.
pub fn format_metres(d: f32) -> String {
    if d < 1.0 {
        format!("{d:.2} m")
    } else {
        format!("{d:.1} m")
    }
}

fn size_fact(measure: &str, a: f32, b: f32) -> Fact {
    Fact {
        measure: Some(measure.to_string()),
        values: vec![a, b],
        ..Default::default()
    }
}

/// Keeps up to `n / 2` of each answer (yes and no), the same number of each.
fn balance(yes: Vec<Question>, no: Vec<Question>, n: usize) -> Vec<Question> {
    let k = (n / 2).min(yes.len()).min(no.len());
    yes.into_iter()
        .take(k)
        .chain(no.into_iter().take(k))
        .collect()
}

impl<'a> Ctx<'a> {
    fn new(
        spatial: &'a SpatialScene<'a>,
        options: GenerateOptions,
        visible: Option<&'a Visibility>,
    ) -> Self {
        let scene = spatial.scene;
        let objects: Vec<&SceneObject> = scene
            .objects
            .iter()
            .filter(|o| names_of(o.category).is_some())
            .collect();
        let names = objects
            .iter()
            .filter_map(|o| Some((o.id, names_of(o.category)?)))
            .collect();
        let mut dist = HashMap::new();
        let mut on_pairs = HashSet::new();
        for (i, a) in objects.iter().enumerate() {
            for b in &objects[i + 1..] {
                if let Some(r) = spatial.pair(a.id, b.id) {
                    dist.insert((a.id, b.id), r.distance_m);
                    dist.insert((b.id, a.id), r.distance_m);
                    if r.a_on_b {
                        on_pairs.insert((a.id, b.id));
                    }
                    if r.b_on_a {
                        on_pairs.insert((b.id, a.id));
                    }
                }
            }
        }
        let floors: Vec<u32> = scene
            .objects
            .iter()
            .filter(|o| o.category == Category::Floor)
            .map(|o| o.id)
            .collect();
        let mut support = HashMap::new();
        for o in &objects {
            let on_object = on_pairs
                .iter()
                .filter(|(a, _)| *a == o.id)
                .map(|(_, b)| *b)
                .min_by_key(|b| *b);
            let on_floor = || {
                floors
                    .iter()
                    .copied()
                    .find(|&f| spatial.on(o.id, f).unwrap_or(false))
            };
            if let Some(s) = on_object.or_else(on_floor) {
                support.insert(o.id, s);
            }
        }
        let mut counts = HashMap::new();
        for o in &objects {
            *counts.entry(o.category).or_insert(0) += 1;
        }
        let rng = ChaCha8Rng::seed_from_u64(options.seed ^ crate::scene::stable_hash(&scene.name));
        let mut ctx = Ctx {
            spatial,
            objects,
            names,
            dist,
            support,
            on_pairs,
            counts,
            referents: HashMap::new(),
            rng,
            options,
            seen: HashSet::new(),
            visible,
        };
        ctx.referents = ctx.find_referents();
        ctx
    }

    fn d(&self, a: u32, b: u32) -> f32 {
        self.dist.get(&(a, b)).copied().unwrap_or(f32::INFINITY)
    }

    fn object(&self, id: u32) -> Option<&'a SceneObject> {
        self.spatial.scene.object(id)
    }

    fn category(&self, id: u32) -> Option<Category> {
        self.object(id).map(|o| o.category)
    }

    /// Some view shows `id` (always true without views).
    fn shown(&self, id: u32) -> bool {
        self.visible.is_none_or(|v| v.shows(id))
    }

    fn unique(&self, c: Category) -> bool {
        self.counts.get(&c) == Some(&1)
    }

    fn find_referents(&self) -> HashMap<u32, Referent> {
        let mut out = HashMap::new();
        for o in &self.objects {
            if self.unique(o.category) {
                out.insert(o.id, Referent::Unique);
                continue;
            }
            let same: Vec<u32> = self
                .objects
                .iter()
                .filter(|x| x.category == o.category && x.id != o.id)
                .map(|x| x.id)
                .collect();
            // "the X on the Y": no other X rests on a Y.
            let mut supports: Vec<(u32, u32)> = self
                .on_pairs
                .iter()
                .filter(|(a, _)| *a == o.id)
                .copied()
                .collect();
            supports.sort_unstable();
            let on = supports
                .iter()
                .filter_map(|&(_, b)| Some((self.category(b)?, b)))
                .filter(|&(yc, _)| names_of(yc).is_some())
                .find(|&(yc, _)| {
                    !same.iter().any(|&x| {
                        self.on_pairs
                            .iter()
                            .any(|(a, b)| *a == x && self.category(*b) == Some(yc))
                    })
                });
            if let Some((yc, y)) = on {
                out.insert(o.id, Referent::On(yc, y));
                continue;
            }
            // "the X closest to the Z": Z uniquely named, the next X clearly farther.
            let best = self
                .objects
                .iter()
                .filter(|z| z.category != o.category && self.unique(z.category))
                .filter_map(|z| {
                    let mine = self.d(o.id, z.id);
                    let others = same
                        .iter()
                        .map(|&x| self.d(x, z.id))
                        .fold(f32::INFINITY, f32::min);
                    (others - mine >= REFER_MARGIN_M).then_some((z.id, others - mine))
                })
                .max_by(|x, y| x.1.total_cmp(&y.1).then(y.0.cmp(&x.0)));
            if let Some((z, _)) = best {
                out.insert(o.id, Referent::ClosestTo(z));
            }
        }
        out
    }

    fn pick_name(&mut self, id: u32) -> Option<&'static str> {
        let names = self.names.get(&id)?.names;
        let i = self.rng.random_range(0..names.len());
        Some(names[i])
    }

    /// A phrase naming `id` (to follow "the") and the anchor it names `id` by, if any;
    /// anchors in `others` are not used.
    fn phrase(&mut self, id: u32, others: &[u32]) -> Option<(String, Option<u32>)> {
        let referent = *self.referents.get(&id)?;
        let name = self.pick_name(id)?;
        match referent {
            Referent::Unique => Some((name.to_string(), None)),
            Referent::On(yc, y) => {
                // "the cup on the table" in a question about that table would give away
                // their contact.
                if others.contains(&y) || !self.shown(y) {
                    return None;
                }
                let names = names_of(yc)?.names;
                let yn = names[self.rng.random_range(0..names.len())];
                Some((format!("{name} on the {yn}"), Some(y)))
            }
            Referent::ClosestTo(z) => {
                if others.contains(&z) || !self.shown(z) {
                    return None;
                }
                let zn = self.pick_name(z)?;
                Some((format!("{name} closest to the {zn}"), Some(z)))
            }
        }
    }

    /// Words a question about `ids` with a template of `kind`; `None` when an object cannot be
    /// named, no template is allowed, or the same text was already asked.
    fn ask(
        &mut self,
        kind: Kind,
        category: QuestionCategory,
        ids: &[u32],
        answer: String,
        fact: Fact,
    ) -> Option<Question> {
        let template = self.template_of(&[kind])?;
        self.ask_with(template, category, ids, answer, fact)
    }

    /// Words a question about `ids` with `template` (see [`Self::ask`]).
    fn ask_with(
        &mut self,
        template: &'static Template,
        category: QuestionCategory,
        ids: &[u32],
        answer: String,
        fact: Fact,
    ) -> Option<Question> {
        let mut phrases = Vec::new();
        let mut anchors = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let others: Vec<u32> = ids
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, x)| *x)
                .collect();
            let (phrase, anchor) = self.phrase(id, &others)?;
            phrases.push(phrase);
            anchors.push(anchor);
        }
        if anchors.iter().all(Option::is_none) {
            anchors.clear();
        }
        let get = |i: usize| phrases.get(i).map_or("", String::as_str);
        let text = fill(template.text, get(0), get(1), get(2), "");
        if !self.seen.insert(text.clone()) {
            return None;
        }
        Some(Question {
            scene: self.spatial.scene.name.clone(),
            question: text,
            answer,
            category,
            template: Some(template.id.to_string()),
            held_out: template.held_out,
            objects: ids.to_vec(),
            classes: self.classes(ids),
            views: self.views(ids),
            fact: Some(fact),
            anchors,
            answer_object: None,
        })
    }

    fn classes(&self, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|&id| self.category(id).map_or("", canonical_name).to_string())
            .collect()
    }

    fn views(&self, ids: &[u32]) -> Vec<Vec<usize>> {
        match self.visible {
            Some(v) => ids.iter().map(|&id| v.views(id)).collect(),
            None => Vec::new(),
        }
    }

    fn referable(&self) -> Vec<u32> {
        self.objects
            .iter()
            .map(|o| o.id)
            .filter(|id| self.referents.contains_key(id) && self.shown(*id))
            .collect()
    }

    /// Unordered pairs of referable objects, shuffled.
    fn shuffled_pairs(&mut self) -> Vec<(u32, u32)> {
        let ids = self.referable();
        let mut pairs = Vec::new();
        for (i, &a) in ids.iter().enumerate() {
            for &b in &ids[i + 1..] {
                pairs.push((a, b));
            }
        }
        pairs.shuffle(&mut self.rng);
        // Random order within each pair too.
        for p in &mut pairs {
            if self.rng.random::<bool>() {
                *p = (p.1, p.0);
            }
        }
        pairs
    }

    /// A template drawn uniformly from those of `kinds` (training or held-out as the options
    /// say).
    fn template_of(&mut self, kinds: &[Kind]) -> Option<&'static Template> {
        let ts: Vec<&'static Template> = kinds
            .iter()
            .flat_map(|&k| templates_of(k, self.options.held_out))
            .collect();
        if ts.is_empty() {
            return None;
        }
        Some(ts[self.rng.random_range(0..ts.len())])
    }

    /// The relation facts of a pair: distance, contact, near, far, a on b.
    fn pair_fact(&self, a: u32, b: u32) -> Fact {
        let d = self.d(a, b);
        Fact {
            distance_m: d.is_finite().then_some(d),
            contact: Some(d <= CONTACT_M),
            on: Some(self.on_pairs.contains(&(a, b))),
            near: Some(d <= crate::spatial::NEAR_M),
            far: Some(d >= crate::spatial::FAR_M),
            ..Default::default()
        }
    }

    /// Near / far questions; the wording (any near or far template) is drawn independently of
    /// the fact, so within a wording the answer depends on the scene only.
    fn proximity(&mut self) -> Vec<Question> {
        let pairs = self.shuffled_pairs();
        let kinds = [Kind::Near, Kind::Far];
        self.balanced_yes_no(&pairs, &kinds, |ctx, a, b, kinds| {
            let fact = ctx.pair_fact(a, b);
            let near = fact.near == Some(true);
            if !near && fact.far != Some(true) {
                return None; // ambiguous band: never asked
            }
            let template = ctx.template_of(kinds)?;
            let ans = if template.kind == Kind::Far {
                !near
            } else {
                near
            };
            Some((template, [a, b], near, ans, fact))
        })
    }

    /// Touching / not touching / resting on; the wording is drawn independently of the fact.
    fn contact(&mut self) -> Vec<Question> {
        let pairs = self.shuffled_pairs();
        let kinds = [Kind::Touch, Kind::Gap, Kind::On];
        self.balanced_yes_no(&pairs, &kinds, |ctx, a, b, kinds| {
            let fact = ctx.pair_fact(a, b);
            let touching = fact.contact == Some(true);
            if !touching && ctx.d(a, b) <= CONTACT_UNSURE_M {
                return None;
            }
            let template = ctx.template_of(kinds)?;
            let ans = match template.kind {
                Kind::Gap => !touching,
                Kind::On => fact.on == Some(true),
                _ => touching,
            };
            Some((template, [a, b], touching, ans, fact))
        })
    }

    /// Yes/no questions from `pairs`, balanced twice over: as many yes as no, and within each
    /// answer the underlying fact (near, touching) true as often as false where the scene
    /// allows. `make` words a pair with a template of the given kinds and returns the template,
    /// the ordered objects, the fact that is balanced, the answer and the recorded facts. With
    /// `all_yes_no`, every pair is asked once per kind of `kinds`, unbalanced.
    fn balanced_yes_no(
        &mut self,
        pairs: &[(u32, u32)],
        kinds: &[Kind],
        mut make: impl FnMut(
            &mut Self,
            u32,
            u32,
            &[Kind],
        ) -> Option<(&'static Template, [u32; 2], bool, bool, Fact)>,
    ) -> Vec<Question> {
        let category = |t: &Template| match t.kind {
            Kind::Near | Kind::Far => QuestionCategory::Proximity,
            _ => QuestionCategory::Contact,
        };
        if self.options.all_yes_no {
            let mut out = Vec::new();
            // Without a template restriction, each pair is worded once with a training
            // template and once with a held-out one of every kind.
            let sets = match self.options.held_out {
                Some(h) => vec![Some(h)],
                None => vec![Some(false), Some(true)],
            };
            let restore = self.options.held_out;
            for &(a, b) in pairs {
                for kind in kinds {
                    for &set in &sets {
                        self.options.held_out = set;
                        if let Some((template, ids, _, ans, facts)) =
                            make(self, a, b, std::slice::from_ref(kind))
                        {
                            let c = category(template);
                            out.extend(self.ask_with(template, c, &ids, yes_no(ans), facts));
                        }
                    }
                }
            }
            self.options.held_out = restore;
            return out;
        }
        let n = self.options.per_category;
        let mut pools: HashMap<(bool, bool), Vec<Question>> = HashMap::new();
        // First pass: a quarter per (fact, answer); second: fill up to half per answer.
        for cap in [n / 4, n / 2] {
            for &(a, b) in pairs {
                let Some((template, ids, fact, ans, facts)) = make(self, a, b, kinds) else {
                    continue;
                };
                let answer_total: usize = [true, false]
                    .iter()
                    .map(|f| pools.get(&(*f, ans)).map_or(0, Vec::len))
                    .sum();
                if pools.get(&(fact, ans)).map_or(0, Vec::len) >= cap || answer_total >= n / 2 {
                    continue;
                }
                let c = category(template);
                if let Some(q) = self.ask_with(template, c, &ids, yes_no(ans), facts) {
                    pools.entry((fact, ans)).or_default().push(q);
                }
            }
        }
        let mut take = |ans: bool| -> Vec<Question> {
            let mut v = pools.remove(&(true, ans)).unwrap_or_default();
            v.extend(pools.remove(&(false, ans)).unwrap_or_default());
            v
        };
        let (yes, no) = (take(true), take(false));
        balance(yes, no, n)
    }

    fn closest(&mut self) -> Vec<Question> {
        let n = self.options.per_category;
        let mut out = Vec::new();
        let mut targets = self.referable();
        targets.shuffle(&mut self.rng);
        let all: Vec<u32> = self.objects.iter().map(|o| o.id).collect();
        for _round in 0..3 {
            for &a in &targets {
                if out.len() >= n {
                    return out;
                }
                let mut others: Vec<(u32, f32)> = all
                    .iter()
                    .filter(|&&b| b != a)
                    .map(|&b| (b, self.d(a, b)))
                    .filter(|(_, d)| d.is_finite())
                    .collect();
                if others.len() < 2 {
                    continue;
                }
                others.sort_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)));
                let choice = self.rng.random_range(0..3);
                let q = match choice {
                    0 | 1 => {
                        let ordered: Vec<(u32, f32)> = if choice == 0 {
                            others.clone()
                        } else {
                            others.iter().rev().copied().collect()
                        };
                        let (best, best_d) = ordered[0];
                        let Some(best_c) = self.category(best) else {
                            continue;
                        };
                        if !self.shown(best) {
                            continue;
                        }
                        let rival = ordered
                            .iter()
                            .find(|(b, _)| self.category(*b) != Some(best_c))
                            .map(|(_, d)| *d);
                        if rival.is_some_and(|r| (r - best_d).abs() < CLOSEST_MARGIN_M) {
                            continue;
                        }
                        let fact = Fact {
                            distance_m: Some(best_d),
                            runner_up_m: rival,
                            ..Default::default()
                        };
                        let kind = if choice == 0 {
                            Kind::Closest
                        } else {
                            Kind::Farthest
                        };
                        let answer = canonical_name(best_c).to_string();
                        self.ask(kind, QuestionCategory::Closest, &[a], answer, fact)
                            .map(|q| Question {
                                answer_object: Some(best),
                                ..q
                            })
                    }
                    _ => {
                        let candidates: Vec<(u32, f32)> = others
                            .iter()
                            .copied()
                            .filter(|(b, _)| self.referents.contains_key(b) && self.shown(*b))
                            .collect();
                        if candidates.len() < 2 {
                            continue;
                        }
                        let i = self.rng.random_range(0..candidates.len());
                        let j = self.rng.random_range(0..candidates.len());
                        let ((b, db), (c, dc)) = (candidates[i], candidates[j]);
                        if self.category(b) == self.category(c) || (db - dc).abs() < CHOICE_MARGIN_M
                        {
                            continue;
                        }
                        let closer = if db < dc { b } else { c };
                        let Some(cc) = self.category(closer) else {
                            continue;
                        };
                        let answer = canonical_name(cc).to_string();
                        let fact = Fact {
                            measure: Some("distance".to_string()),
                            values: vec![db, dc],
                            ..Default::default()
                        };
                        self.ask(
                            Kind::CloserOfTwo,
                            QuestionCategory::Closest,
                            &[a, b, c],
                            answer,
                            fact,
                        )
                        .map(|q| Question {
                            answer_object: Some(closer),
                            ..q
                        })
                    }
                };
                out.extend(q);
            }
        }
        out
    }

    fn center(&self, id: u32) -> Option<Vec3> {
        self.object(id).map(|o| o.aabb.center())
    }

    fn direction(&mut self) -> Vec<Question> {
        let n = self.options.per_category;
        let ids = self.referable();
        let mut out = Vec::new();
        if ids.len() < 2 {
            return out;
        }
        let mut answers: HashMap<String, usize> = HashMap::new();
        for _ in 0..400 {
            if out.len() >= n {
                break;
            }
            let pick = |rng: &mut ChaCha8Rng| ids[rng.random_range(0..ids.len())];
            let (a, b, c) = (
                pick(&mut self.rng),
                pick(&mut self.rng),
                pick(&mut self.rng),
            );
            if self.rng.random_bool(0.25) {
                // Above / below.
                if a == b {
                    continue;
                }
                let (Some(oa), Some(ob)) = (self.object(a), self.object(b)) else {
                    continue;
                };
                let Some(up) = above(&oa.aabb, &ob.aabb) else {
                    continue;
                };
                let answer = if up { "above" } else { "below" }.to_string();
                if answers.get(&answer).copied().unwrap_or(0) >= n.div_ceil(4) {
                    continue;
                }
                let fact = Fact {
                    above: Some(up),
                    ..Default::default()
                };
                if let Some(q) = self.ask(
                    Kind::AboveBelow,
                    QuestionCategory::Direction,
                    &[a, b],
                    answer.clone(),
                    fact,
                ) {
                    *answers.entry(answer).or_insert(0) += 1;
                    out.push(q);
                }
                continue;
            }
            if a == b || b == c || a == c {
                continue;
            }
            let (Some(pa), Some(pb), Some(pc)) = (self.center(a), self.center(b), self.center(c))
            else {
                continue;
            };
            let Some(observer) = Observer::standing_at_facing(pa, pb) else {
                continue;
            };
            let flat = |v: Vec3| Vec3::new(v.x, v.y, 0.0);
            if flat(pb - pa).length() < DIRECTION_MIN_M || flat(pc - pa).length() < DIRECTION_MIN_M
            {
                continue;
            }
            let rel = flat(pc - pa);
            let angle = rel
                .dot(observer.right())
                .atan2(rel.dot(observer.facing))
                .to_degrees();
            let side = if angle < 0.0 { "left" } else { "right" };
            let abs = angle.abs();
            let (kind, answer) = match self.rng.random_range(0..3) {
                0 if (30.0..=150.0).contains(&abs) => (Kind::LeftRight, side),
                1 if abs <= 45.0 => (Kind::FrontBehind, "front"),
                1 if abs >= 135.0 => (Kind::FrontBehind, "behind"),
                2 if (60.0..=120.0).contains(&abs) => (Kind::ThreeWay, side),
                2 if abs >= 150.0 => (Kind::ThreeWay, "behind"),
                _ => continue,
            };
            let answer = answer.to_string();
            if answers.get(&answer).copied().unwrap_or(0) >= n.div_ceil(4) {
                continue;
            }
            let fact = Fact {
                bearing_deg: Some(angle),
                ..Default::default()
            };
            if let Some(q) = self.ask(
                kind,
                QuestionCategory::Direction,
                &[a, b, c],
                answer.clone(),
                fact,
            ) {
                *answers.entry(answer).or_insert(0) += 1;
                out.push(q);
            }
        }
        out
    }

    fn distance(&mut self) -> Vec<Question> {
        let n = self.options.per_category;
        let mut out = Vec::new();
        for (a, b) in self.shuffled_pairs() {
            if out.len() >= n {
                break;
            }
            let d = self.d(a, b);
            if !d.is_finite() || d < CONTACT_UNSURE_M {
                continue;
            }
            let fact = self.pair_fact(a, b);
            out.extend(self.ask(
                Kind::Distance,
                QuestionCategory::Distance,
                &[a, b],
                format_metres(d),
                fact,
            ));
        }
        out
    }

    fn counting(&mut self) -> Vec<Question> {
        let n = self.options.per_category;
        // Only categories whose every object some view shows: the count is then seen.
        let mut present: Vec<Category> = self
            .counts
            .keys()
            .copied()
            .filter(|&c| {
                self.objects
                    .iter()
                    .filter(|o| o.category == c)
                    .all(|o| self.shown(o.id))
            })
            .collect();
        present.sort();
        present.shuffle(&mut self.rng);
        let mut out = Vec::new();
        let mut asked: Vec<(Category, usize)> = present
            .iter()
            .map(|c| (*c, self.counts[c]))
            .take(n.saturating_sub(1).max(1))
            .collect();
        // One category the room does not have, so "0" is an answer too.
        let absent: Vec<Category> = super::names::NAMES
            .iter()
            .map(|x| x.category)
            .filter(|c| !self.counts.contains_key(c))
            .collect();
        if !absent.is_empty() && asked.len() < n {
            asked.push((absent[self.rng.random_range(0..absent.len())], 0));
        }
        for (category, count) in asked {
            let Some(names) = names_of(category) else {
                continue;
            };
            let ids: Vec<u32> = self
                .objects
                .iter()
                .filter(|o| o.category == category)
                .map(|o| o.id)
                .collect();
            let Some(template) = self.template_of(&[Kind::Count]) else {
                break;
            };
            let text = fill(template.text, "", "", "", names.plural);
            if !self.seen.insert(text.clone()) {
                continue;
            }
            out.push(Question {
                scene: self.spatial.scene.name.clone(),
                question: text,
                answer: count.to_string(),
                category: QuestionCategory::Counting,
                template: Some(template.id.to_string()),
                held_out: template.held_out,
                classes: self.classes(&ids),
                views: self.views(&ids),
                objects: ids,
                fact: Some(Fact {
                    count: Some(count),
                    ..Default::default()
                }),
                anchors: Vec::new(),
                answer_object: None,
            });
        }
        out
    }

    fn size(&mut self) -> Vec<Question> {
        let n = self.options.per_category;
        let (mut choice, mut yes, mut no) = (Vec::new(), Vec::new(), Vec::new());
        for (a, b) in self.shuffled_pairs() {
            let (Some(oa), Some(ob)) = (self.object(a), self.object(b)) else {
                continue;
            };
            if oa.category == ob.category {
                continue;
            }
            let (sa, sb) = (oa.aabb.size(), ob.aabb.size());
            let clear = |x: f32, y: f32| x.max(y) >= SIZE_RATIO * x.min(y).max(1e-3);
            match self.rng.random_range(0..3) {
                0 if choice.len() < n / 2 => {
                    let (va, vb) = (sa.x * sa.y * sa.z, sb.x * sb.y * sb.z);
                    if !clear(va, vb) {
                        continue;
                    }
                    let big = if va > vb { oa.category } else { ob.category };
                    let answer = canonical_name(big).to_string();
                    choice.extend(self.ask(
                        Kind::Bigger,
                        QuestionCategory::Size,
                        &[a, b],
                        answer,
                        size_fact("volume", va, vb),
                    ));
                }
                1 if choice.len() < n / 2 => {
                    let (wa, wb) = (sa.x.max(sa.y), sb.x.max(sb.y));
                    if !clear(wa, wb) {
                        continue;
                    }
                    let wide = if wa > wb { oa.category } else { ob.category };
                    let answer = canonical_name(wide).to_string();
                    choice.extend(self.ask(
                        Kind::Wider,
                        QuestionCategory::Size,
                        &[a, b],
                        answer,
                        size_fact("width", wa, wb),
                    ));
                }
                _ => {
                    if !clear(sa.z, sb.z) {
                        continue;
                    }
                    let taller = sa.z > sb.z;
                    let pool = if taller { &yes } else { &no };
                    if pool.len() >= n / 4 {
                        continue;
                    }
                    if let Some(q) = self.ask(
                        Kind::Taller,
                        QuestionCategory::Size,
                        &[a, b],
                        yes_no(taller),
                        size_fact("height", sa.z, sb.z),
                    ) {
                        if taller { yes.push(q) } else { no.push(q) }
                    }
                }
            }
        }
        let k = yes.len().min(no.len());
        choice.truncate(n.saturating_sub(2 * k));
        choice
            .into_iter()
            .chain(yes.into_iter().take(k))
            .chain(no.into_iter().take(k))
            .collect()
    }

    /// The sentence placing `id` (see [`describe_object`]) and the objects it names after
    /// `id` (its support first, then its neighbours).
    fn describe(&self, id: u32) -> Option<(String, Vec<u32>)> {
        let o = self.object(id)?;
        names_of(o.category)?;
        let name = canonical_name(o.category);
        let support = self.support.get(&id).copied();
        let support_name = support.and_then(|s| self.category(s)).map(canonical_name);
        let support_name = support_name.or_else(|| self.on_wall(id).then_some("wall"));
        let mut near: Vec<(u32, f32)> = self
            .objects
            .iter()
            .filter(|x| x.id != id && Some(x.id) != support)
            .map(|x| (x.id, self.d(id, x.id)))
            .filter(|(_, d)| *d <= DESCRIBE_NEAR_M)
            .collect();
        near.sort_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)));
        let mut near_names: Vec<&str> = Vec::new();
        let mut named: Vec<u32> = support.into_iter().collect();
        for (x, _) in near {
            let Some(c) = self.category(x) else { continue };
            let nm = canonical_name(c);
            if nm != name && !near_names.contains(&nm) && Some(nm) != support_name {
                near_names.push(nm);
                named.push(x);
            }
            if near_names.len() == 2 {
                break;
            }
        }
        let near_part = match near_names.as_slice() {
            [] => None,
            [x] => Some(format!("near the {x}")),
            [x, y, ..] => Some(format!("near the {x} and the {y}")),
        };
        let text = match (support_name, near_part) {
            (Some(s), Some(n)) => format!("the {name} is on the {s}, {n}"),
            (Some(s), None) => format!("the {name} is on the {s}"),
            (None, Some(n)) => format!("the {name} is {n}"),
            (None, None) => return None,
        };
        Some((text, named))
    }

    /// Hung on a wall: touching a wall with its bottom well above the floor.
    fn on_wall(&self, id: u32) -> bool {
        let Some(o) = self.object(id) else {
            return false;
        };
        let floor_z = self
            .spatial
            .scene
            .objects
            .iter()
            .filter(|f| f.category == Category::Floor)
            .map(|f| f.aabb.max.z)
            .fold(f32::NEG_INFINITY, f32::max);
        let floor_z = if floor_z.is_finite() {
            floor_z
        } else {
            self.spatial.scene.bounds().map_or(0.0, |b| b.min.z)
        };
        o.aabb.min.z > floor_z + 0.3
            && self.spatial.scene.objects.iter().any(|w| {
                w.category == Category::Wall
                    && self
                        .spatial
                        .distance_m(id, w.id)
                        .is_some_and(|d| d <= CONTACT_M)
            })
    }

    fn description(&mut self) -> Vec<Question> {
        let n = self.options.per_category;
        let mut ids = self.referable();
        ids.shuffle(&mut self.rng);
        let mut out = Vec::new();
        for id in ids {
            if out.len() >= n {
                break;
            }
            let Some((answer, named)) = self.describe(id) else {
                continue;
            };
            // Every object the answer names must be seen too (the floor and walls may not be).
            let structure = |x: u32| self.category(x).is_none_or(|c| c.is_structure());
            if !named.iter().all(|&x| structure(x) || self.shown(x)) {
                continue;
            }
            let fact = Fact {
                support: self.support.get(&id).copied(),
                ..Default::default()
            };
            out.extend(self.ask(
                Kind::Describe,
                QuestionCategory::Description,
                &[id],
                answer,
                fact,
            ));
        }
        out
    }
}
