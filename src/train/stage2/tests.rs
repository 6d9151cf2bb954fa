use crate::train::TrainStage;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use rand::SeedableRng;

use super::cache::{CachedQuestion, CachedScene, TokenCache};
use super::loss::{Specials, first_answer_logits, slot_picks, stage2_losses};
use super::*;
use crate::data::{ObjectToken, Split};
use crate::model::config::SceneInput;
use crate::model::tests::max_diff;
use crate::model::{SpatiaTokenizer, ViewBatch};
use crate::questions::QuestionCategory;
use crate::scene::Category;
use crate::train::tests::{tiny_dataset, tokenizer};

fn tiny_object_cfg(vocab: usize) -> ModelConfig {
    ModelConfig {
        scene_input: SceneInput::Objects,
        latent_probes: true,
        latent_pointers: true,
        hidden_cot_tokens: 3,
        ..ModelConfig::tiny(vocab, 16, 8)
    }
}

fn tiny_config(steps: usize) -> DecoderTrainConfig {
    DecoderTrainConfig {
        steps,
        lr: 3e-3,
        warmup: 2,
        questions_per_step: 8,
        checkpoint_every: 3,
        log_every: 1,
        ..Default::default()
    }
}

fn trainer(
    ds: &Dataset,
    tk: &SpatiaTokenizer,
    out: &Path,
    steps: usize,
    resume: bool,
) -> DecoderTrainer {
    trainer_of(tiny_object_cfg(tk.vocab_size()), ds, tk, out, steps, resume)
}

fn trainer_of(
    cfg: ModelConfig,
    ds: &Dataset,
    tk: &SpatiaTokenizer,
    out: &Path,
    steps: usize,
    resume: bool,
) -> DecoderTrainer {
    new_trainer(cfg, tiny_config(steps), ds, tk, out, resume).unwrap()
}

/// A stage-2 trainer on the CPU, without progress reports.
fn new_trainer(
    cfg: ModelConfig,
    config: DecoderTrainConfig,
    ds: &Dataset,
    tk: &SpatiaTokenizer,
    out: &Path,
    resume: bool,
) -> Result<DecoderTrainer, crate::model::ModelError> {
    DecoderTrainer::new(
        cfg,
        tk.clone(),
        config,
        ds.clone(),
        out,
        resume,
        &Device::Cpu,
        |_, _| {},
    )
}

#[test]
fn the_batched_training_pass_equals_inference_and_single_questions() {
    training_equals_inference(false, false, 2);
}

#[test]
fn a_model_with_context_features_trains_as_it_answers() {
    training_equals_inference(true, false, 2);
}

#[test]
fn a_model_with_anchor_pointers_trains_as_it_answers() {
    training_equals_inference(true, true, 2);
}

#[test]
fn a_model_with_three_object_slots_trains_as_it_answers() {
    training_equals_inference(true, true, 3);
}

/// Batched, left-padded training logits equal each question's greedy generation; the batch
/// loss is the mean of single questions' losses.
fn training_equals_inference(object_context: bool, anchor_pointers: bool, object_slots: usize) {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let cfg = ModelConfig {
        object_context,
        anchor_pointers,
        object_slots,
        hidden_cot_tokens: object_slots + 1,
        ..tiny_object_cfg(tk.vocab_size())
    };
    let t = trainer_of(cfg, &ds, &tk, &dir.path().join("run"), 4, false);
    let cache = &t.cache;
    // Three questions from scenes with different numbers of object tokens (left padding).
    let mut picked: Vec<usize> = Vec::new();
    for (i, q) in cache.questions.iter().enumerate() {
        let n = cache.scenes[q.scene].objects.len();
        if picked
            .iter()
            .all(|&j| cache.scenes[cache.questions[j].scene].objects.len() != n)
        {
            picked.push(i);
        }
        if picked.len() == 3 {
            break;
        }
    }
    assert!(picked.len() >= 2, "scenes of different sizes");
    let sp = Specials::of(&tk);
    let batch = first_answer_logits(t.model(), cache, &picked, sp, false).unwrap();
    for (row, &qi) in picked.iter().enumerate() {
        let q = &cache.questions[qi];
        // Inference: the scene's views through `encode`, then greedy generation's first logits.
        let (shard, _) = ds.load(Split::Train, &cache.scenes[q.scene].key).unwrap();
        let scene = t.model().encode(&ViewBatch::from_shard(&shard)).unwrap();
        assert_eq!(scene.objects, cache.scenes[q.scene].objects);
        let g = t
            .model()
            .generate(&scene, &q.question, (tk.bos, tk.ans, tk.eos), false)
            .unwrap();
        // Every object slot reports where it points, on objects of this scene.
        assert_eq!(g.grounding.len(), object_slots);
        for gr in &g.grounding {
            assert!(scene.objects.iter().any(|o| o.id == gr.object_id));
            assert!(gr.probability > 0.0 && gr.probability <= 1.0);
        }
        let infer = Tensor::new(g.first_logits.as_slice(), &Device::Cpu).unwrap();
        let d = max_diff(&batch.get(row).unwrap(), &infer);
        assert!(
            d < 1e-3,
            "question {qi}: training and inference logits differ by {d}"
        );
    }
    // The batch's answer loss is the mean of the questions' own (per-question averaging), also
    // when the batch takes more than one decoder pass.
    let many = cache
        .questions
        .len()
        .min(super::loss::QUESTIONS_PER_PASS + 9);
    assert!(many > super::loss::QUESTIONS_PER_PASS, "{many} questions");
    let picked: Vec<usize> = (0..many).collect();
    let (_, terms) = stage2_losses(t.model(), cache, &picked, sp, false, 0.5).unwrap();
    let batch_answer = terms["answer"].to_scalar::<f32>().unwrap();
    let singles: f32 = picked
        .iter()
        .map(|&i| {
            stage2_losses(t.model(), cache, &[i], sp, false, 0.5)
                .unwrap()
                .1["answer"]
                .to_scalar::<f32>()
                .unwrap()
        })
        .sum::<f32>()
        / picked.len() as f32;
    assert!(
        (batch_answer - singles).abs() < 1e-4,
        "{batch_answer} vs {singles}"
    );
}

#[test]
fn probe_targets_are_the_tokens_of_the_objects_a_question_names() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let cache = TokenCache::build(&ds, Split::Train, &tk, None, |_, _| {}).unwrap();
    let questions = ds.questions(Split::Train).unwrap();
    let seen: Vec<_> = questions.iter().filter(|q| !q.held_out).collect();
    assert_eq!(seen.len(), cache.questions.len());
    let (mut checked, mut anchors, mut answers) = (0, 0, 0);
    for (q, c) in seen.iter().zip(&cache.questions) {
        assert_eq!(c.category, q.category);
        assert_eq!(tk.decode(&c.answer).unwrap().trim(), q.answer.trim());
        let objects = &cache.scenes[c.scene].objects;
        // The named objects, then the object the answer names (closest / farthest), anchored
        // at the first named object.
        let answer_slot = q.answer_object.filter(|a| {
            !q.objects.contains(a) && q.objects.len() < crate::model::objects::MAX_OBJECT_SLOTS
        });
        let slot_ids: Vec<u32> = q.objects.iter().copied().chain(answer_slot).collect();
        for (i, named) in c.named.iter().enumerate() {
            if let Some(j) = named {
                assert_eq!(objects[*j].id, slot_ids[i], "{}", q.question);
                checked += 1;
                answers += usize::from(i == q.objects.len());
            }
        }
        for (i, anchor) in c.anchored.iter().enumerate() {
            let recorded = if i < q.objects.len() {
                q.anchors.get(i).copied().flatten()
            } else {
                q.objects.first().copied()
            };
            match anchor {
                Some(j) => assert_eq!(Some(objects[*j].id), recorded, "{}", q.question),
                None => assert!(
                    recorded.is_none_or(|a| objects.iter().all(|o| o.id != a)),
                    "{}",
                    q.question
                ),
            }
            anchors += usize::from(anchor.is_some());
        }
        assert_eq!(c.distance_m, q.fact.as_ref().and_then(|f| f.distance_m));
    }
    assert!(checked > 10, "{checked} probe targets");
    assert!(
        answers > 0,
        "no closest question points a slot at its answer"
    );
    assert!(
        anchors > 0,
        "no question of the tiny set names an object by relation"
    );
    // Categories take turns; the same step gives the same batch.
    let n = cache.by_category.len() * 5;
    let batch = cache.sample(n, 3, 7, false);
    for (cat, _) in &cache.by_category {
        let count = batch
            .iter()
            .filter(|&&i| cache.questions[i].category == *cat)
            .count();
        assert_eq!(count, 5, "{cat:?}");
    }
    assert_eq!(batch, cache.sample(n, 3, 7, false));
    assert_ne!(batch, cache.sample(n, 3, 8, false));
    // The curriculum's first phase draws no negated wording where a category has direct ones.
    let direct = cache.sample(n, 3, 7, true);
    for &i in &direct {
        let q = &cache.questions[i];
        let has_direct = cache
            .by_category
            .iter()
            .any(|(c, l)| *c == q.category && l.iter().any(|&j| !cache.questions[j].negated));
        assert!(!(q.negated && has_direct), "{:?}", q.category);
    }
    assert!(
        seen.iter()
            .any(|q| super::cache::is_negated_template(q.template.as_deref()))
    );
}

#[test]
fn a_resumed_decoder_run_equals_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let (tx, _rx) = crossbeam_channel::bounded(1024);
    let cancel = Arc::new(AtomicBool::new(false));
    let mut whole = trainer(&ds, &tk, &dir.path().join("whole"), 6, false);
    whole.run(&tx, &cancel).unwrap();
    let mut part = trainer(&ds, &tk, &dir.path().join("part"), 6, false);
    part.run_until(3, &tx, &cancel).unwrap();
    drop(part);
    let mut resumed = trainer(&ds, &tk, &dir.path().join("part"), 6, true);
    assert_eq!(resumed.step, 3);
    resumed.run(&tx, &cancel).unwrap();
    let load = |p: &Path| {
        candle_core::safetensors::load(p.join("checkpoint/model.safetensors"), &Device::Cpu)
            .unwrap()
    };
    let (a, b) = (
        load(&dir.path().join("whole")),
        load(&dir.path().join("part")),
    );
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        assert!(max_diff(t, &b[name]) < 1e-6, "{name}");
    }
    // The log has every term of every step.
    let log = std::fs::read_to_string(dir.path().join("whole/train_log.jsonl")).unwrap();
    let last: serde_json::Value =
        serde_json::from_str(log.lines().rfind(|l| l.contains("losses")).unwrap()).unwrap();
    for term in [
        "answer",
        "probe_class",
        "probe_box",
        "probe_distance",
        "probe_pointer",
        "total",
    ] {
        assert!(last["losses"][term].as_f64().unwrap().is_finite(), "{term}");
    }
    assert!(last["questions_per_h"].as_f64().unwrap() > 0.0);
    // Only the decoder side trains: the encoder is unchanged.
    let fresh = trainer(&ds, &tk, &dir.path().join("fresh"), 6, false);
    fresh.checkpoint().unwrap();
    let c = load(&dir.path().join("fresh"));
    let enc = "aggregator.frame_blocks.0.attn.qkv.weight";
    assert!(max_diff(&a[enc], &c[enc]) < 1e-9);
    let dec = "decoder.layers.0.mlp.up_proj.weight";
    assert!(max_diff(&a[dec], &c[dec]) > 1e-6);
}

/// Saves a model of `cfg` seeded with `seed` (and the tokenizer `tk`) as a model folder `to`.
fn save_seeded(cfg: &ModelConfig, tk: &SpatiaTokenizer, seed: u64, to: &Path) {
    let vm = VarMap::new();
    let vb = crate::model::nn::seeded_var_builder(&vm, seed, &Device::Cpu);
    SpatialVlm::new(cfg, vb).unwrap();
    crate::model::checkpoint::save_model(to, cfg, &vm, tk, DType::F32).unwrap();
}

/// The tensors of the model folder `dir`, by name.
fn weights_of(dir: &Path) -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap()
}

#[test]
fn init_starts_the_perception_from_another_model_and_refuses_a_different_one() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    // A patch model with the same encoder and another decoder width, seeded differently.
    let patch = ModelConfig::tiny(tk.vocab_size(), 16, 8);
    let save = |cfg: &ModelConfig, seed: u64, to: &Path| save_seeded(cfg, &tk, seed, to);
    let donor = dir.path().join("donor");
    save(
        &ModelConfig {
            decoder: crate::model::config::DecoderConfig {
                hidden_size: 48,
                num_heads: 4,
                ..patch.decoder.clone()
            },
            ..patch.clone()
        },
        77,
        &donor,
    );
    let start = |init: &Path, out: &str| {
        new_trainer(
            tiny_object_cfg(tk.vocab_size()),
            DecoderTrainConfig {
                init: Some(init.to_path_buf()),
                ..tiny_config(2)
            },
            &ds,
            &tk,
            &dir.path().join(out),
            false,
        )
    };
    let t = start(&donor, "a").unwrap();
    t.checkpoint().unwrap();
    let (got, want) = (
        weights_of(&dir.path().join("a/checkpoint")),
        weights_of(&donor),
    );
    for name in [
        "aggregator.frame_blocks.0.attn.qkv.weight",
        "depth_head.head.0.weight",
    ]
    .iter()
    .filter(|n| want.contains_key(**n))
    {
        assert!(max_diff(&got[*name], &want[*name]) < 1e-9, "{name}");
    }
    let copied = want
        .keys()
        .filter(|k| k.starts_with("aggregator.") || k.starts_with("depth_head."))
        .filter(|k| max_diff(&got[*k], &want[*k]) < 1e-9)
        .count();
    assert!(copied > 10, "{copied} perception tensors copied");
    // A donor with another encoder width is refused, naming a tensor.
    let other = dir.path().join("other");
    let mut wide = patch.clone();
    wide.encoder.embed_dim = 32;
    save(&wide, 1, &other);
    let e = start(&other, "b").err().expect("refused").to_string();
    assert!(e.contains("aggregator.") && e.contains("shape"), "{e}");
}

/// `init_decoder` carries a trained decoder side (decoder, latents and probes, object
/// embedder, class embeddings included: they are not tied to the words again) onto a new run,
/// and refuses a folder whose decoder differs.
#[test]
fn init_decoder_carries_a_trained_decoder_and_refuses_another_width() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let cfg = tiny_object_cfg(tk.vocab_size());
    let save = |cfg: &ModelConfig, seed: u64, to: &Path| save_seeded(cfg, &tk, seed, to);
    let donor = dir.path().join("donor");
    save(&cfg, 91, &donor);
    let start = |from: &Path, out: &str| {
        new_trainer(
            cfg.clone(),
            DecoderTrainConfig {
                init_decoder: Some(from.to_path_buf()),
                ..tiny_config(2)
            },
            &ds,
            &tk,
            &dir.path().join(out),
            false,
        )
    };
    start(&donor, "a").unwrap().checkpoint().unwrap();
    let (got, want) = (
        weights_of(&dir.path().join("a/checkpoint")),
        weights_of(&donor),
    );
    let mut carried = 0;
    for (name, t) in want.iter().filter(|(k, _)| is_stage2_var(k)) {
        assert!(max_diff(&got[name], t) < 1e-9, "{name}");
        carried += 1;
    }
    assert!(carried > 10, "{carried} decoder tensors carried");
    assert!(want.contains_key("objects.class_embed.weight"));
    // The perception is not the donor's (no `init`): this run's own seeded one.
    let enc = "aggregator.frame_blocks.0.attn.qkv.weight";
    assert!(max_diff(&got[enc], &want[enc]) > 1e-6);
    // A decoder of another width is refused, naming a decoder tensor.
    let other = dir.path().join("other");
    let mut wide = cfg.clone();
    wide.decoder.intermediate_size *= 2;
    save(&wide, 1, &other);
    let e = start(&other, "b").err().expect("refused").to_string();
    assert!(e.contains("decoder.") && e.contains("shape"), "{e}");
}

/// A freshly seeded model and an optimizer over its stage-2 variables.
fn model_and_optimizer(cfg: &ModelConfig) -> (SpatialVlm, AdamW) {
    let varmap = VarMap::new();
    let vb = crate::model::nn::seeded_var_builder(&varmap, 5, &Device::Cpu);
    let model = SpatialVlm::new(cfg, vb).unwrap();
    let named: Vec<(String, candle_core::Var)> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| is_stage2_var(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (model, AdamW::new(named, 0.0).unwrap())
}

/// `steps` full-batch steps (lr 1e-2) on every question of `cache`; the last step's terms.
fn fit(
    model: &SpatialVlm,
    opt: &mut AdamW,
    cache: &TokenCache,
    sp: Specials,
    blind: bool,
    steps: usize,
    probe_weight: f64,
) -> BTreeMap<String, Tensor> {
    let batch: Vec<usize> = (0..cache.questions.len()).collect();
    let mut last = BTreeMap::new();
    for _ in 0..steps {
        let (total, terms) = stage2_losses(model, cache, &batch, sp, blind, probe_weight).unwrap();
        opt.update(&total.backward().unwrap(), 1e-2, 1.0).unwrap();
        last = terms;
    }
    last
}

/// Hand-made rooms: a chair and a table, `gap` metres apart along x.
fn room(gap: f32) -> Vec<ObjectToken> {
    let chair = Category::Chair.index();
    let table = Category::Table.index();
    vec![
        ObjectToken {
            id: 1,
            category: chair,
            min_m: [0.0, 0.0, 0.0],
            max_m: [0.5, 0.5, 0.9],
            pixels: 300,
            score: 1.0,
        },
        ObjectToken {
            id: 2,
            category: table,
            min_m: [0.5 + gap, 0.0, 0.0],
            max_m: [1.7 + gap, 0.8, 0.75],
            pixels: 600,
            score: 1.0,
        },
    ]
}

#[test]
fn object_tokens_answer_what_the_wording_alone_cannot() {
    // One wording, answers set by the distance: the blind model can only learn the prior.
    let text = "is the chair near the table?";
    let tk = SpatiaTokenizer::train([text, "yes", "no"].map(String::from).into_iter(), 60).unwrap();
    let gaps = [0.1f32, 0.3, 0.5, 1.4, 1.8, 2.5, 0.2, 2.0];
    let mut cache = TokenCache::default();
    for (i, gap) in gaps.iter().enumerate() {
        cache.scenes.push(CachedScene {
            key: format!("room{i}"),
            objects: room(*gap),
        });
        cache.questions.push(CachedQuestion {
            scene: i,
            category: QuestionCategory::Proximity,
            question: tk.encode(text).unwrap(),
            answer: tk.encode(if *gap <= 0.6 { "yes" } else { "no" }).unwrap(),
            named: vec![Some(0), Some(1)],
            anchored: vec![None, None],
            distance_m: Some(*gap),
            negated: false,
            rewordable: None,
        });
    }
    cache.by_category = vec![(QuestionCategory::Proximity, (0..gaps.len()).collect())];
    let batch: Vec<usize> = (0..gaps.len()).collect();
    let sp = Specials::of(&tk);
    let train = |blind: bool| -> (f32, f32) {
        let (model, mut opt) = model_and_optimizer(&tiny_object_cfg(tk.vocab_size().max(8)));
        fit(&model, &mut opt, &cache, sp, blind, 120, 0.5);
        // The first answer token decides yes / no: its accuracy and cross-entropy.
        let logits = first_answer_logits(&model, &cache, &batch, sp, blind).unwrap();
        let firsts: Vec<u32> = batch
            .iter()
            .map(|&i| cache.questions[i].answer[0])
            .collect();
        let pred = logits.argmax(1).unwrap().to_vec1::<u32>().unwrap();
        let hits = pred.iter().zip(&firsts).filter(|(a, b)| a == b).count();
        let ce = candle_nn::loss::cross_entropy(
            &logits,
            &Tensor::new(firsts.as_slice(), &Device::Cpu).unwrap(),
        )
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
        (hits as f32 / batch.len() as f32, ce)
    };
    let (seen_acc, seen_ce) = train(false);
    let (blind_acc, blind_ce) = train(true);
    assert_eq!(seen_acc, 1.0, "with the objects (CE {seen_ce})");
    assert!(seen_ce < 0.1, "with the objects: CE {seen_ce}");
    // Blind, every question is the same sequence: half right at best, CE at least ln 2.
    assert!(blind_acc <= 0.5, "blind: {blind_acc}");
    assert!(blind_ce > 0.69, "blind: CE {blind_ce}");
}

/// A hand-made room for "the chair closest to the bed": two chairs, a bed and a table placed at
/// random (the chairs' gaps to the bed differ by ≥ 0.6 m), tokens in random order; the indices
/// of the closer chair, the bed and the table.
fn two_chair_room(rng: &mut impl rand::RngExt) -> (Vec<ObjectToken>, [usize; 3]) {
    let at = |id: u32, category: Category, x: f32, y: f32, size: [f32; 3]| ObjectToken {
        id,
        category: category.index(),
        min_m: [x, y, 0.0],
        max_m: [x + size[0], y + size[1], size[2]],
        pixels: 400,
        score: 1.0,
    };
    loop {
        let mut p = || (rng.random_range(0.0..5.0f32), rng.random_range(0.0..5.0f32));
        let (bed, c1, c2, table) = (p(), p(), p(), p());
        let gap = |c: (f32, f32)| {
            let dx = (bed.0 - (c.0 + 0.5)).max(c.0 - (bed.0 + 2.0)).max(0.0);
            let dy = (bed.1 - (c.1 + 0.5)).max(c.1 - (bed.1 + 1.6)).max(0.0);
            (dx * dx + dy * dy).sqrt()
        };
        if (gap(c1) - gap(c2)).abs() < 0.6 {
            continue;
        }
        let mut objects = vec![
            at(1, Category::Chair, c1.0, c1.1, [0.5, 0.5, 0.9]),
            at(2, Category::Chair, c2.0, c2.1, [0.5, 0.5, 0.9]),
            at(3, Category::Bed, bed.0, bed.1, [2.0, 1.6, 0.6]),
            at(4, Category::Table, table.0, table.1, [1.2, 0.8, 0.75]),
        ];
        // Random token order, so the position in the sequence says nothing.
        for i in (1..objects.len()).rev() {
            objects.swap(i, rng.random_range(0..=i));
        }
        let closer = if gap(c1) < gap(c2) { 1 } else { 2 };
        let index = |id: u32| objects.iter().position(|o| o.id == id).unwrap();
        let picks = [index(closer), index(3), index(4)];
        return (objects, picks);
    }
}

#[test]
fn anchor_pointers_find_the_chair_closest_to_the_bed() {
    // "the chair closest to the bed": the words are the same in every room, so a slot can only
    // tell the two chairs apart by their relation to the bed — what the anchors measure.
    let text = "is the chair closest to the bed near the table?";
    let tk = SpatiaTokenizer::train([text, "yes", "no"].map(String::from).into_iter(), 60).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let rooms = |n: usize, rng: &mut rand_chacha::ChaCha8Rng| {
        let mut cache = TokenCache::default();
        for i in 0..n {
            let (objects, [chair, bed, table]) = two_chair_room(rng);
            let gap = {
                let (a, b) = (&objects[chair], &objects[table]);
                (0..3)
                    .map(|k| {
                        (b.min_m[k] - a.max_m[k])
                            .max(a.min_m[k] - b.max_m[k])
                            .max(0.0)
                    })
                    .map(|g| g * g)
                    .sum::<f32>()
                    .sqrt()
            };
            cache.scenes.push(CachedScene {
                key: format!("room{i}"),
                objects,
            });
            cache.questions.push(CachedQuestion {
                scene: i,
                category: QuestionCategory::Proximity,
                question: tk.encode(text).unwrap(),
                answer: tk.encode(if gap <= 1.0 { "yes" } else { "no" }).unwrap(),
                named: vec![Some(chair), Some(table)],
                anchored: vec![Some(bed), None],
                distance_m: Some(gap),
                negated: false,
                rewordable: None,
            });
        }
        cache.by_category = vec![(QuestionCategory::Proximity, (0..n).collect())];
        cache
    };
    let train_rooms = rooms(32, &mut rng);
    let test_rooms = rooms(48, &mut rng);
    let sp = Specials::of(&tk);
    let accuracy = |anchor_pointers: bool| -> (f32, f32) {
        let cfg = ModelConfig {
            anchor_pointers,
            ..tiny_object_cfg(tk.vocab_size().max(8))
        };
        let (model, mut opt) = model_and_optimizer(&cfg);
        let terms = fit(&model, &mut opt, &train_rooms, sp, false, 150, 1.0);
        assert_eq!(terms.contains_key("probe_anchor"), anchor_pointers);
        let hit = |cache: &TokenCache| {
            let all: Vec<usize> = (0..cache.questions.len()).collect();
            let picks = slot_picks(&model, cache, &all, sp).unwrap();
            let right = picks
                .iter()
                .zip(&cache.questions)
                .filter(|(p, q)| Some(p[0]) == q.named[0])
                .count();
            right as f32 / all.len() as f32
        };
        (hit(&train_rooms), hit(&test_rooms))
    };
    let (anchored_train, anchored_test) = accuracy(true);
    let (plain_train, plain_test) = accuracy(false);
    eprintln!(
        "chair closest to the bed: anchors {anchored_train} / {anchored_test}, \
         plain {plain_train} / {plain_test}"
    );
    assert!(
        anchored_test >= 0.9,
        "with anchors: {anchored_test} on new rooms"
    );
    assert!(
        anchored_test >= plain_test + 0.15,
        "anchors {anchored_test} vs plain {plain_test}"
    );
}

#[test]
fn grounding_is_each_slots_most_likely_object() {
    let objects: Vec<ObjectToken> = room(0.3)
        .into_iter()
        .chain(room(2.0).into_iter().take(1).map(|mut o| {
            o.id = 9;
            o
        }))
        .collect();
    // Slot 0 prefers token 2 (id 9), slot 1 token 1 (id 2); ln 3 over two equal others.
    let scores = Tensor::new(
        &[[[0.0f32, 0.0, 3f32.ln() + 0.0], [0.0, 2.0, 0.0]]],
        &Device::Cpu,
    )
    .unwrap();
    let g = crate::model::vlm::grounding_of(&scores, &objects).unwrap();
    assert_eq!(
        g.iter().map(|x| x.object_id).collect::<Vec<_>>(),
        vec![9, 2]
    );
    assert!(
        (g[0].probability - 0.6).abs() < 1e-5,
        "{}",
        g[0].probability
    );
    let e2 = 2f32.exp();
    assert!((g[1].probability - e2 / (e2 + 2.0)).abs() < 1e-5);
}

#[test]
fn context_features_say_how_close_each_category_is_and_what_an_object_rests_on() {
    use crate::model::objects::{CONTEXT_DIM, context_features};
    let cats = Category::ALL.len();
    let tok = |id: u32, c: Category, min_m: [f32; 3], max_m: [f32; 3]| ObjectToken {
        id,
        category: c.index(),
        min_m,
        max_m,
        pixels: 100,
        score: 1.0,
    };
    let objects = vec![
        tok(1, Category::Table, [0.0, 0.0, 0.0], [1.0, 1.0, 0.75]),
        // A box on the table (bottom 2 cm above its top, fully over it).
        tok(2, Category::Box, [0.2, 0.2, 0.77], [0.4, 0.4, 0.9]),
        // Two chairs: one 0.3 m from the table, one 2 m away.
        tok(3, Category::Chair, [1.3, 0.0, 0.0], [1.8, 0.5, 0.9]),
        tok(4, Category::Chair, [3.0, 0.0, 0.0], [3.5, 0.5, 0.9]),
    ];
    let f = context_features(&objects);
    assert_eq!(f.len(), 4 * CONTEXT_DIM);
    let row = |i: usize| &f[i * CONTEXT_DIM..(i + 1) * CONTEXT_DIM];
    let (table, chair, boxc) = (
        Category::Table.index(),
        Category::Chair.index(),
        Category::Box.index(),
    );
    // The near chair sees the table at 0.3 m, the far one at 2 m: the referring expression
    // "the chair closest to the table" is a lookup.
    assert!((row(2)[table] - (-1.0f32).exp()).abs() < 1e-5);
    assert!((row(3)[table] - (-2.0f32 / 0.3).exp()).abs() < 1e-5);
    // Each chair sees the other chair (1.2 m apart), not itself.
    assert!((row(2)[chair] - (-1.2f32 / 0.3).exp()).abs() < 1e-5);
    // The box rests on the table; nothing else rests on anything.
    assert_eq!(row(1)[cats + table], 1.0);
    let rests: f32 = (0..4).map(|i| row(i)[cats..].iter().sum::<f32>()).sum();
    assert_eq!(rests, 1.0);
    // The table touches the box (gap 2 cm).
    assert!((row(0)[boxc] - (-0.02f32 / 0.3).exp()).abs() < 1e-5);
}

#[test]
fn geometry_features_are_fourier_features_of_the_box_about_the_scene_centre() {
    use crate::model::objects::{GEOMETRY_DIM, geometry_features, scene_origin};
    let objects = room(1.0);
    let origin = scene_origin(&objects);
    // Centres (0.25, 0.25, 0.45) and (2.1, 0.4, 0.375).
    assert!((origin - glam::Vec3::new(1.175, 0.325, 0.4125)).length() < 1e-6);
    let f = geometry_features(&objects, origin);
    assert_eq!(f.len(), 2 * GEOMETRY_DIM);
    // First feature: sin(2π · 0.125 · (0 − 1.175)).
    let want = (std::f32::consts::TAU * 0.125 * -1.175).sin();
    assert!((f[0] - want).abs() < 1e-6);
    // After the 84 Fourier values: the coordinates / 4, then ln(size + 0.02).
    assert!((f[84] - (-1.175 / 4.0)).abs() < 1e-6);
    assert!((f[90] - (0.52f32).ln()).abs() < 1e-6);
    // Translating the whole room leaves the features unchanged.
    let moved: Vec<ObjectToken> = objects
        .iter()
        .map(|o| ObjectToken {
            min_m: [o.min_m[0] + 3.0, o.min_m[1] - 2.0, o.min_m[2]],
            max_m: [o.max_m[0] + 3.0, o.max_m[1] - 2.0, o.max_m[2]],
            ..o.clone()
        })
        .collect();
    let g = geometry_features(&moved, scene_origin(&moved));
    assert!(f.iter().zip(&g).all(|(a, b)| (a - b).abs() < 1e-4));
    let _ = DType::F32;
}

#[test]
fn relation_features_measure_the_gap_between_two_boxes() {
    use crate::model::objects::{RELATION_DIM, relation_features};
    let a = Tensor::new(&[[0f32, 0.0, 0.0, 1.0, 1.0, 1.0]], &Device::Cpu).unwrap();
    // 2 m beyond a along x, overlapping in y and z: the gap is (2, 0, 0).
    let b = Tensor::new(&[[3f32, 0.5, 0.0, 4.0, 2.0, 1.0]], &Device::Cpu).unwrap();
    let f = relation_features(&a, &b).unwrap();
    assert_eq!(f.dims(), &[1, RELATION_DIM]);
    let f = f.squeeze(0).unwrap().to_vec1::<f32>().unwrap();
    let fourier = 14;
    assert!((f[fourier] - 2.0).abs() < 1e-3, "gap {}", f[fourier]);
    assert!((f[fourier + 1] - 2.05f32.ln()).abs() < 1e-3);
    assert_eq!(&f[fourier + 2..fourier + 5], &[2.0, 0.0, 0.0]);
    // Centre offset / 4: centres (0.5, 0.5, 0.5) and (3.5, 1.25, 0.5).
    assert!((f[fourier + 5] - 0.75).abs() < 1e-6 && (f[fourier + 6] - 0.1875).abs() < 1e-6);
    // Symmetric in the gap; overlapping boxes have none.
    let g = relation_features(&b, &a)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!((g[fourier] - 2.0).abs() < 1e-3);
    let h = relation_features(&a, &a)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(h[fourier] < 1e-2);
}

#[test]
fn triple_features_place_a_third_box_for_an_observer_at_the_first_facing_the_second() {
    use crate::model::objects::{TRIPLE_DIM, triple_features};
    let cube = |x: f32, y: f32, z: f32| [x - 0.5, y - 0.5, z - 0.5, x + 0.5, y + 0.5, z + 0.5];
    let t =
        |rows: &[[f32; 6]]| Tensor::from_vec(rows.concat(), (rows.len(), 6), &Device::Cpu).unwrap();
    // Standing at the origin facing +y (b at (0, 2, 0)): +x is to the right (facing × up).
    let a = t(&[cube(0.0, 0.0, 0.0), cube(1.0, 1.0, 0.0)]);
    let b = t(&[cube(0.0, 2.0, 0.0), cube(1.0, 3.0, 0.0)]);
    // Row 0: c 1 m right and 0.4 m up. Row 1: standing at (1, 1) facing +y, c 3 m behind.
    let c = t(&[cube(1.0, 0.0, 0.4), cube(1.0, -2.0, 0.0)]);
    let f = triple_features(&a, &b, &c).unwrap();
    assert_eq!(f.dims(), &[2, TRIPLE_DIM]);
    let f = f.to_vec2::<f32>().unwrap();
    let close = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(p, q)| (p - q).abs() < 1e-3);
    assert!(close(&f[0], &[0.5, 0.0, 0.2, 1.0, 0.0, 0.5]), "{:?}", f[0]);
    assert!(
        close(&f[1], &[0.0, -1.5, 0.0, 0.0, -1.0, 0.5]),
        "{:?}",
        f[1]
    );
    // Facing −y instead mirrors left and right.
    let b_back = t(&[cube(0.0, -2.0, 0.0)]);
    let g = triple_features(
        &t(&[cube(0.0, 0.0, 0.0)]),
        &b_back,
        &t(&[cube(1.0, 0.0, 0.0)]),
    )
    .unwrap()
    .to_vec2::<f32>()
    .unwrap();
    assert!(g[0][0] < -0.49 && g[0][3] < -0.99, "{:?}", g[0]);
}

#[test]
fn a_third_slot_answers_left_or_right_of_an_observer() {
    // "standing at the bed facing the table, is the chair to the left or the right?" in rooms
    // placed at random: two slots see the bed and the table but not the chair's side.
    let text = "standing at the bed facing the table, is the chair to the left or the right?";
    let tk =
        SpatiaTokenizer::train([text, "left", "right"].map(String::from).into_iter(), 60).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let rooms = |n: usize, rng: &mut rand_chacha::ChaCha8Rng| {
        let mut cache = TokenCache::default();
        let mut sides = [0usize; 2];
        while cache.questions.len() < n {
            let (objects, [chair, bed, table]) = two_chair_room(rng);
            let centre =
                |o: &ObjectToken| glam::Vec3::from(o.min_m).lerp(glam::Vec3::from(o.max_m), 0.5);
            let (a, b, c) = (
                centre(&objects[bed]),
                centre(&objects[table]),
                centre(&objects[chair]),
            );
            let Some(observer) = crate::spatial::direction::Observer::standing_at_facing(a, b)
            else {
                continue;
            };
            let side = (c - a).dot(observer.right());
            // Balanced answers, none on the boundary.
            let right = usize::from(side > 0.0);
            if side.abs() < 0.3 || sides[right] >= n / 2 {
                continue;
            }
            sides[right] += 1;
            let i = cache.scenes.len();
            cache.scenes.push(CachedScene {
                key: format!("room{i}"),
                objects,
            });
            cache.questions.push(CachedQuestion {
                scene: i,
                category: QuestionCategory::Direction,
                question: tk.encode(text).unwrap(),
                answer: tk
                    .encode(if right == 1 { "right" } else { "left" })
                    .unwrap(),
                named: vec![Some(bed), Some(table), Some(chair)],
                anchored: vec![None, None, None],
                distance_m: None,
                negated: false,
                rewordable: None,
            });
        }
        cache.by_category = vec![(QuestionCategory::Direction, (0..n).collect())];
        cache
    };
    let train_rooms = rooms(48, &mut rng);
    let test_rooms = rooms(48, &mut rng);
    let sp = Specials::of(&tk);
    let accuracy = |object_slots: usize| -> f32 {
        let cfg = ModelConfig {
            object_slots,
            hidden_cot_tokens: 4,
            ..tiny_object_cfg(tk.vocab_size().max(8))
        };
        let (model, mut opt) = model_and_optimizer(&cfg);
        fit(&model, &mut opt, &train_rooms, sp, false, 150, 1.0);
        let all: Vec<usize> = (0..test_rooms.questions.len()).collect();
        let logits = first_answer_logits(&model, &test_rooms, &all, sp, false).unwrap();
        let pred = logits.argmax(1).unwrap().to_vec1::<u32>().unwrap();
        let right = pred
            .iter()
            .zip(&test_rooms.questions)
            .filter(|(p, q)| **p == q.answer[0])
            .count();
        right as f32 / all.len() as f32
    };
    let (three, two) = (accuracy(3), accuracy(2));
    eprintln!("left / right on new rooms: three slots {three}, two slots {two}");
    assert!(three >= 0.85, "three slots: {three}");
    assert!(two <= 0.7, "two slots cannot see the chair's side: {two}");
}

#[test]
fn a_dataset_without_object_categories_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    // Rewrite one training shard as version 1 wrote it (no object tensors).
    let key = ds.scenes(Split::Train)[0].clone();
    let path = ds.root.join("train").join(format!("{key}.safetensors"));
    let mut shard = crate::data::SceneShard::read(&path).unwrap();
    shard.object_id.clear();
    shard.object_category.clear();
    shard.write(&path).unwrap();
    let err = TokenCache::build(&ds, Split::Train, &tk, None, |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains(&key) && err.contains("gen-data"), "{err}");
    // A model that reads patches is not a stage-2 model.
    let patches = ModelConfig::tiny(tk.vocab_size(), 16, 8);
    let err = new_trainer(
        patches,
        tiny_config(2),
        &ds,
        &tk,
        &dir.path().join("run"),
        false,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("object tokens"), "{err}");
}

#[test]
fn an_object_model_refuses_a_scene_without_instances() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let t = trainer(&ds, &tk, &dir.path().join("run"), 2, false);
    let key = &t.cache.scenes[0].key;
    let (shard, _) = ds.load(Split::Train, key).unwrap();
    let mut views = ViewBatch::from_shard(&shard);
    assert!(t.model().encode(&views).is_ok());
    // A bare point cloud: no pixel belongs to an annotated object.
    views.instance = Some(vec![
        crate::render::raster::NO_INSTANCE;
        shard.instance.len()
    ]);
    let e = t.model().encode(&views).unwrap_err().to_string();
    assert!(
        e.contains("no annotated object") && e.contains("bare PLY"),
        "{e}"
    );
}

#[test]
fn a_cache_of_found_objects_points_at_the_ones_matched_to_the_named_objects() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let annotated = TokenCache::build(&ds, Split::Train, &tk, None, |_, _| {}).unwrap();
    // "Found" objects: the annotated ones in reverse order, shifted 5 cm, with fresh ids, and
    // one extra object nobody annotated; matching gives them back their ids.
    let found = TokenCache::build_with(
        &ds,
        Split::Train,
        &tk,
        None,
        |_, _| {},
        |shard| {
            let truth = crate::data::object_tokens(
                &crate::data::ObjectViews::of_shard(shard),
                crate::questions::min_visible_px(shard.size) as u32,
            );
            let mut found: Vec<ObjectToken> = truth
                .iter()
                .rev()
                .enumerate()
                .map(|(i, o)| ObjectToken {
                    id: 1000 + i as u32,
                    min_m: o.min_m.map(|v| v + 0.05),
                    max_m: o.max_m.map(|v| v + 0.05),
                    ..o.clone()
                })
                .collect();
            found.push(ObjectToken {
                id: 5000,
                category: 0,
                min_m: [50.0; 3],
                max_m: [51.0; 3],
                pixels: 9,
                score: 1.0,
            });
            crate::data::match_to_annotated(&mut found, &truth);
            Ok(found)
        },
    )
    .unwrap();
    assert_eq!(annotated.questions.len(), found.questions.len());
    let mut named = 0;
    for (a, f) in annotated.questions.iter().zip(&found.questions) {
        assert_eq!(a.named.len(), f.named.len());
        for (x, y) in a.named.iter().zip(&f.named) {
            let id = |cache: &TokenCache, i: &Option<usize>| {
                i.map(|i| cache.scenes[a.scene].objects[i].id)
            };
            assert_eq!(id(&annotated, x), id(&found, y));
            named += usize::from(x.is_some());
        }
    }
    assert!(named > 0);
}

#[test]
fn a_student_trains_its_decoder_on_the_objects_its_stage_one_perception_finds() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let cfg = crate::train::stage1::tests::tiny_student_cfg(tk.vocab_size());
    let (tx, _rx) = crossbeam_channel::bounded(4096);
    let cancel = Arc::new(AtomicBool::new(false));
    // Stage 1: a little perception training.
    let p = dir.path().join("perception");
    let mut perception = crate::train::PerceptionTrainer::new(
        cfg.clone(),
        tk.clone(),
        crate::train::PerceptionTrainConfig {
            steps: 30,
            lr: 1e-2,
            warmup: 2,
            checkpoint_every: 30,
            ..Default::default()
        },
        ds.clone(),
        &p,
        false,
        &Device::Cpu,
    )
    .unwrap();
    perception.run(&tx, &cancel).unwrap();
    // Stage 2 from it: the cache holds what the model finds (ids matched to annotations).
    let out = dir.path().join("decoder");
    let config = DecoderTrainConfig {
        init: Some(p.join("checkpoint")),
        ..tiny_config(4)
    };
    let mut t = new_trainer(cfg.clone(), config.clone(), &ds, &tk, &out, false).unwrap();
    let file = out.join(FOUND_OBJECTS_FILE);
    assert!(file.exists());
    let scene = &t.cache.scenes[0];
    let (shard, _) = ds.load(Split::Train, &scene.key).unwrap();
    let views = ViewBatch::from_shard(&shard);
    let (images, _) = perception.model().view_tensors(&views).unwrap();
    let enc = perception.model().encode_tensors(&images, None).unwrap();
    let expected = perception.model().predicted_objects(&enc, &views).unwrap();
    assert_eq!(scene.objects, expected);
    t.run_until(3, &tx, &cancel).unwrap();
    let first = t.cache.scenes.clone();
    // Resumed: the found objects are read back, not recomputed (a marker edit survives).
    let mut saved: std::collections::BTreeMap<String, Vec<ObjectToken>> =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let marked = saved.values_mut().find(|v| !v.is_empty()).unwrap();
    marked[0].pixels = 123_456;
    std::fs::write(&file, serde_json::to_vec(&saved).unwrap()).unwrap();
    let t = new_trainer(cfg.clone(), config.clone(), &ds, &tk, &out, true).unwrap();
    assert_eq!(t.step, 3);
    assert!(
        t.cache
            .scenes
            .iter()
            .any(|s| s.objects.iter().any(|o| o.pixels == 123_456))
    );
    assert_eq!(t.cache.scenes.len(), first.len());
    // Another run over the same perception borrows the file (`--found-objects`): read, not
    // found again (the marker is there), and written into its own folder.
    let borrow = |file: &std::path::Path, name: &str| {
        new_trainer(
            cfg.clone(),
            DecoderTrainConfig {
                found_objects: Some(file.to_path_buf()),
                ..config.clone()
            },
            &ds,
            &tk,
            &dir.path().join(name),
            false,
        )
    };
    let b = borrow(&file, "borrowed").unwrap();
    assert!(
        b.cache
            .scenes
            .iter()
            .any(|s| s.objects.iter().any(|o| o.pixels == 123_456))
    );
    assert!(
        dir.path()
            .join("borrowed")
            .join(FOUND_OBJECTS_FILE)
            .exists()
    );
    // A file of another perception (a box moved in the scene it is checked on) is refused,
    // naming the file; so is a missing one.
    let key = ds
        .scenes(Split::Train)
        .iter()
        .find(|k| saved.contains_key(k.as_str()))
        .unwrap();
    let mut other = saved.clone();
    if let Some(o) = other.get_mut(key.as_str()).and_then(|v| v.first_mut()) {
        o.min_m[0] += 0.5;
    } else {
        other.get_mut(key.as_str()).unwrap().push(ObjectToken {
            id: 0,
            category: 0,
            min_m: [0.0; 3],
            max_m: [1.0; 3],
            pixels: 50,
            score: 1.0,
        });
    }
    let moved = dir.path().join("other_perception.json");
    std::fs::write(&moved, serde_json::to_vec(&other).unwrap()).unwrap();
    let err = borrow(&moved, "refused").err().unwrap().to_string();
    assert!(
        err.contains("other_perception.json") && err.contains("another perception"),
        "{err}"
    );
    let err = borrow(&dir.path().join("missing.json"), "missing")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing.json"), "{err}");
    // A share of each step's questions over the annotated objects.
    let share = |p: f64, name: &str| {
        new_trainer(
            cfg.clone(),
            DecoderTrainConfig {
                annotated_share: p,
                questions_per_step: 64,
                ..config.clone()
            },
            &ds,
            &tk,
            &dir.path().join(name),
            false,
        )
        .unwrap()
    };
    let mixed = share(0.5, "mixed");
    let batch = mixed.step_batch(2);
    let view = mixed.annotated_view(2, &batch).unwrap();
    assert_eq!(view.questions.len(), batch.len());
    let mut exact = 0;
    for (q, &i) in view.questions.iter().zip(&batch) {
        let original = &mixed.cache.questions[i];
        // The same question, read over one of the two object sets of its scene.
        assert_eq!(
            (&q.question, &q.answer),
            (&original.question, &original.answer)
        );
        let scene = &view.scenes[q.scene];
        let (shard, _) = ds.load(Split::Train, &scene.key).unwrap();
        let annotated = crate::data::object_tokens(
            &crate::data::ObjectViews::of_shard(&shard),
            crate::questions::min_visible_px(shard.size) as u32,
        );
        if scene.objects == annotated {
            exact += 1;
        } else {
            assert_eq!(scene.objects, mixed.cache.scenes[original.scene].objects);
        }
    }
    assert!(
        (16..=48).contains(&exact),
        "{exact} of 64 questions over the annotated objects at a share of 0.5"
    );
    // Seeded by step: the same step reads the same objects, another step others.
    let again = mixed.annotated_view(2, &batch).unwrap();
    assert_eq!(
        again.scenes.iter().map(|s| &s.objects).collect::<Vec<_>>(),
        view.scenes.iter().map(|s| &s.objects).collect::<Vec<_>>()
    );
    let other = mixed.annotated_view(3, &batch).unwrap();
    assert_ne!(
        other.scenes.iter().map(|s| &s.objects).collect::<Vec<_>>(),
        view.scenes.iter().map(|s| &s.objects).collect::<Vec<_>>()
    );
    // Without a share there is no separate view; the step trains either way.
    assert!(share(0.0, "none").annotated_view(2, &batch).is_none());
    let terms = mixed.losses_at(2).unwrap().1;
    assert!(terms["answer"].to_scalar::<f32>().unwrap().is_finite());
    // The teacher reads the annotated objects already; a share outside 0..1 is refused.
    let refused = new_trainer(
        tiny_object_cfg(tk.vocab_size()),
        DecoderTrainConfig {
            annotated_share: 0.5,
            ..tiny_config(4)
        },
        &ds,
        &tk,
        &dir.path().join("teacher"),
        false,
    );
    assert!(
        refused
            .err()
            .unwrap()
            .to_string()
            .contains("--annotated-share")
    );
    // A new run in the same folder computes them again.
    let t = new_trainer(cfg, config, &ds, &tk, &out, false).unwrap();
    assert_eq!(t.cache.scenes.len(), first.len());
    assert!(
        t.cache
            .scenes
            .iter()
            .all(|s| s.objects.iter().all(|o| o.pixels != 123_456))
    );
}

#[test]
fn word_noise_changes_a_steps_questions_reproducibly_and_is_refused_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let cfg = tiny_object_cfg(tk.vocab_size());
    let open = |p: f32, out: &str, resume: bool| {
        new_trainer(
            cfg.clone(),
            DecoderTrainConfig {
                word_noise: p,
                ..tiny_config(4)
            },
            &ds,
            &tk,
            &dir.path().join(out),
            resume,
        )
    };
    let with = |p: f32, out: &str| open(p, out, false);
    let answer = |t: &DecoderTrainer, step| {
        t.losses_at(step).unwrap().1["answer"]
            .to_scalar::<f32>()
            .unwrap()
    };
    let (clean, noisy) = (with(0.0, "clean").unwrap(), with(0.3, "noisy").unwrap());
    // Same seed, same weights, same questions drawn: only the noised words differ.
    assert_ne!(answer(&clean, 1), answer(&noisy, 1));
    // The same step gives the same noise (a resumed run sees what an uninterrupted one saw).
    assert_eq!(answer(&noisy, 1), answer(&noisy, 1));
    // A noise given when resuming replaces the saved one; none given keeps it.
    let (tx, _rx) = crossbeam_channel::bounded(1024);
    let cancel = Arc::new(AtomicBool::new(false));
    let mut first = with(0.1, "resumed").unwrap();
    first.run_until(3, &tx, &cancel).unwrap();
    drop(first);
    let resume = |p: f32| open(p, "resumed", true).unwrap();
    assert_eq!(resume(0.2).config.word_noise, 0.2);
    assert_eq!(resume(0.0).config.word_noise, 0.1);
    for bad in [1.0, -0.1, f32::NAN] {
        let e = with(bad, "bad").err().expect("refused").to_string();
        assert!(e.contains("word noise"), "{e}");
    }
}

#[test]
fn rewording_asks_a_steps_questions_in_other_training_wordings_reproducibly() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let cfg = tiny_object_cfg(tk.vocab_size());
    let open = |p: f32, out: &str, resume: bool| {
        new_trainer(
            cfg.clone(),
            DecoderTrainConfig {
                reword: p,
                ..tiny_config(4)
            },
            &ds,
            &tk,
            &dir.path().join(out),
            resume,
        )
    };
    let t = open(1.0, "all", false).unwrap();
    // The generated questions read back by their templates: most can be reworded.
    let n = t.cache.questions.len();
    let rewordable = t
        .cache
        .questions
        .iter()
        .filter(|q| q.rewordable.is_some())
        .count();
    assert!(rewordable * 10 >= n * 9, "{rewordable} of {n} rewordable");
    let batch = t.step_batch(2);
    let picks: Vec<(usize, usize)> = batch.iter().map(|&i| (0, i)).collect();
    let reworded = |t: &DecoderTrainer, step| {
        let mut c = TokenCache::gather(&[&t.cache], &picks);
        t.reword_step(&mut c, step).unwrap();
        c
    };
    let (a, b) = (reworded(&t, 2), reworded(&t, 2));
    // Every rewordable question draws a wording uniformly from its kind's (one to sixteen), so
    // over several steps most differ from the data set's.
    let changed: usize = (2..12)
        .map(|step| {
            reworded(&t, step)
                .questions
                .iter()
                .zip(&batch)
                .filter(|(q, i)| q.question != t.cache.questions[**i].question)
                .count()
        })
        .sum();
    assert!(
        changed * 2 > 10 * batch.len(),
        "{changed} of {} reworded",
        10 * batch.len()
    );
    // The same step words them the same way (a resumed run continues exactly); another does not.
    let words = |c: &TokenCache| {
        c.questions
            .iter()
            .map(|q| q.question.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(words(&a), words(&b));
    assert_ne!(words(&a), words(&reworded(&t, 3)));
    for (q, &i) in a.questions.iter().zip(&batch) {
        let before = &t.cache.questions[i];
        // Only the wording changes: the answer, the objects pointed at and the polarity stay.
        assert_eq!(
            (&q.answer, &q.named, &q.anchored, q.negated),
            (
                &before.answer,
                &before.named,
                &before.anchored,
                before.negated
            )
        );
        // The new wording names the same object phrases.
        if let Some(r) = &before.rewordable {
            let text = tk.decode(&q.question).unwrap();
            assert!(text.contains(&r.slots.a), "{text:?} lost {:?}", r.slots.a);
        }
    }
    // No rewording: the step's questions stay as worded.
    let none = open(0.0, "none", false).unwrap();
    let c = reworded(&none, 2);
    assert!(
        c.questions
            .iter()
            .zip(&batch)
            .all(|(q, &i)| q.question == none.cache.questions[i].question)
    );
    // Training reads the reworded questions: same weights and draws, another answer loss.
    let answer = |t: &DecoderTrainer| {
        t.losses_at(2).unwrap().1["answer"]
            .to_scalar::<f32>()
            .unwrap()
    };
    assert_ne!(answer(&t), answer(&none));
    // A rewording given when resuming replaces the saved one; none given keeps it.
    let (tx, _rx) = crossbeam_channel::bounded(1024);
    let cancel = Arc::new(AtomicBool::new(false));
    let mut first = open(0.5, "resumed", false).unwrap();
    first.run_until(3, &tx, &cancel).unwrap();
    drop(first);
    assert_eq!(open(0.8, "resumed", true).unwrap().config.reword, 0.8);
    assert_eq!(open(0.0, "resumed", true).unwrap().config.reword, 0.5);
    for bad in [1.5, -0.1, f32::NAN] {
        let e = open(bad, "bad", false).err().expect("refused").to_string();
        assert!(e.contains("--reword"), "{e}");
    }
}

/// A stage-2 trainer distilled from the model folder `teacher` with these weights.
fn distilled_trainer(
    ds: &Dataset,
    tk: &SpatiaTokenizer,
    out: &Path,
    teacher: &Path,
    steps: usize,
    resume: bool,
) -> Result<DecoderTrainer, crate::model::ModelError> {
    new_trainer(
        tiny_object_cfg(tk.vocab_size()),
        DecoderTrainConfig {
            teacher: Some(teacher.to_path_buf()),
            latent_match_weight: 1.0,
            answer_kl_weight: 1.0,
            ..tiny_config(steps)
        },
        ds,
        tk,
        out,
        resume,
    )
}

#[test]
fn a_teacher_equal_to_the_student_gives_no_answer_kl_and_another_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    // The student's own starting weights as its teacher.
    let start = trainer(&ds, &tk, &dir.path().join("start"), 4, false);
    let same = start.checkpoint().unwrap();
    let t = distilled_trainer(&ds, &tk, &dir.path().join("a"), &same, 4, false).unwrap();
    let terms = t.losses_at(0).unwrap().1;
    let kl = terms["answer_kl"].to_scalar::<f32>().unwrap();
    assert!(kl.abs() < 1e-5, "answer KL from itself {kl}");
    // The projection is random, so the latents do not match yet.
    assert!(terms["latent_match"].to_scalar::<f32>().unwrap() > 0.05);
    // Every question has its teacher question, with the same words.
    let teacher = t.teacher.as_ref().unwrap();
    assert!(teacher.map.iter().all(Option::is_some));
    for (i, m) in teacher.map.iter().enumerate() {
        let (s, tq) = (&t.cache.questions[i], &teacher.cache.questions[m.unwrap()]);
        assert_eq!(s.question, tq.question);
        assert_eq!(
            t.cache.scenes[s.scene].key,
            teacher.cache.scenes[tq.scene].key
        );
    }
    // A teacher with other weights: its answers differ.
    let other_cfg = tiny_object_cfg(tk.vocab_size());
    let other = dir.path().join("other");
    save_seeded(&other_cfg, &tk, 7, &other);
    let t = distilled_trainer(&ds, &tk, &dir.path().join("b"), &other, 4, false).unwrap();
    let kl = t.losses_at(0).unwrap().1["answer_kl"]
        .to_scalar::<f32>()
        .unwrap();
    assert!(kl > 1e-3, "answer KL from another teacher {kl}");
}

#[test]
fn latent_matching_learns_the_teachers_latents_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let teacher = dir.path().join("teacher");
    save_seeded(&tiny_object_cfg(tk.vocab_size()), &tk, 7, &teacher);
    let (tx, _rx) = crossbeam_channel::bounded(4096);
    let cancel = Arc::new(AtomicBool::new(false));
    let mut whole =
        distilled_trainer(&ds, &tk, &dir.path().join("whole"), &teacher, 20, false).unwrap();
    let before = whole.losses_at(0).unwrap().1["latent_match"]
        .to_scalar::<f32>()
        .unwrap();
    whole.run(&tx, &cancel).unwrap();
    let after = whole.losses_at(0).unwrap().1["latent_match"]
        .to_scalar::<f32>()
        .unwrap();
    assert!(after < 0.8 * before, "latent match {before} -> {after}");
    // Both terms are logged under their names with their weights.
    let log = std::fs::read_to_string(dir.path().join("whole/train_log.jsonl")).unwrap();
    let last: serde_json::Value =
        serde_json::from_str(log.lines().rfind(|l| l.contains("losses")).unwrap()).unwrap();
    for term in ["latent_match", "answer_kl", "answer"] {
        assert!(last["losses"][term].as_f64().unwrap().is_finite(), "{term}");
        assert_eq!(last["weights"][term].as_f64().unwrap(), 1.0, "{term}");
    }
    // Stopped at step 9 and resumed: the same weights and projection as the uninterrupted run.
    let part_dir = dir.path().join("part");
    let mut part = distilled_trainer(&ds, &tk, &part_dir, &teacher, 20, false).unwrap();
    part.run_until(9, &tx, &cancel).unwrap();
    drop(part);
    let mut resumed = distilled_trainer(&ds, &tk, &part_dir, &teacher, 20, true).unwrap();
    assert_eq!(resumed.step, 9);
    resumed.run(&tx, &cancel).unwrap();
    for file in ["model.safetensors", teacher::PROJECTION_FILE] {
        let load = |run: &str| {
            candle_core::safetensors::load(
                dir.path().join(run).join("checkpoint").join(file),
                &Device::Cpu,
            )
            .unwrap()
        };
        let (a, b) = (load("whole"), load("part"));
        assert_eq!(a.len(), b.len());
        for (name, t) in &a {
            assert!(max_diff(t, &b[name]) < 1e-6, "{file}: {name}");
        }
    }
    // The checkpoint stays a model folder: the projection is not in its model file.
    let model = crate::model::checkpoint::load_model(&part_dir.join("checkpoint"), &Device::Cpu);
    assert!(model.is_ok());
    // Resuming without the teacher is refused, naming the projection.
    let e = new_trainer(
        tiny_object_cfg(tk.vocab_size()),
        tiny_config(12),
        &ds,
        &tk,
        &part_dir,
        true,
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(
        e.contains(teacher::PROJECTION_FILE) && e.contains("--teacher"),
        "{e}"
    );
}

#[test]
fn a_teacher_whose_latents_cannot_be_matched_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path());
    let tk = tokenizer(&ds);
    let other = dir.path().join("k5");
    let cfg = ModelConfig {
        hidden_cot_tokens: 5,
        ..tiny_object_cfg(tk.vocab_size())
    };
    save_seeded(&cfg, &tk, 1, &other);
    let e = distilled_trainer(&ds, &tk, &dir.path().join("a"), &other, 4, false)
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("k5") && e.contains("5 latents"), "{e}");
    // A blind run has nothing to distil.
    let e = new_trainer(
        tiny_object_cfg(tk.vocab_size()),
        DecoderTrainConfig {
            blind: true,
            teacher: Some(other.clone()),
            ..tiny_config(4)
        },
        &ds,
        &tk,
        &dir.path().join("b"),
        false,
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(e.contains("--blind"), "{e}");
    // Weights must be numbers from 0 up.
    let e = new_trainer(
        tiny_object_cfg(tk.vocab_size()),
        DecoderTrainConfig {
            teacher: Some(other),
            answer_kl_weight: f64::NAN,
            ..tiny_config(4)
        },
        &ds,
        &tk,
        &dir.path().join("c"),
        false,
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(e.contains("--answer-kl"), "{e}");
}

/// A proximity question of scene `scene` with the words `words`, answer token 1, no targets.
fn bare_question(scene: usize, words: &[u32]) -> CachedQuestion {
    CachedQuestion {
        scene,
        category: QuestionCategory::Proximity,
        question: words.to_vec(),
        answer: vec![1],
        named: Vec::new(),
        anchored: Vec::new(),
        distance_m: None,
        negated: false,
        rewordable: None,
    }
}

/// A scene `key` with no object tokens.
fn bare_scene(key: &str) -> CachedScene {
    CachedScene {
        key: key.into(),
        objects: Vec::new(),
    }
}

#[test]
fn a_gathered_cache_holds_the_picked_questions_in_order_with_their_scenes_once() {
    let (q, scene) = (bare_question, bare_scene);
    let a = TokenCache {
        scenes: vec![scene("a0"), scene("a1")],
        questions: vec![q(0, &[10]), q(1, &[11]), q(1, &[12])],
        by_category: Vec::new(),
    };
    let b = TokenCache {
        scenes: vec![scene("b0")],
        questions: vec![q(0, &[20])],
        by_category: Vec::new(),
    };
    let g = TokenCache::gather(&[&a, &b], &[(0, 2), (1, 0), (0, 1), (0, 0)]);
    let words: Vec<u32> = g.questions.iter().map(|q| q.question[0]).collect();
    assert_eq!(words, vec![12, 20, 11, 10]);
    let keys: Vec<&str> = g
        .questions
        .iter()
        .map(|q| g.scenes[q.scene].key.as_str())
        .collect();
    assert_eq!(keys, vec!["a1", "b0", "a1", "a0"]);
    assert_eq!(g.scenes.len(), 3, "each scene once");
}

#[test]
fn questions_map_to_the_teachers_by_scene_place_and_words() {
    use super::teacher::question_map;
    let (q, scene) = (bare_question, bare_scene);
    // The teacher has scenes a, b, c; the student found nothing in b.
    let teacher = TokenCache {
        scenes: vec![scene("a"), scene("b"), scene("c")],
        questions: vec![q(0, &[5]), q(0, &[6]), q(1, &[7]), q(2, &[8]), q(2, &[9])],
        by_category: Vec::new(),
    };
    let student = TokenCache {
        scenes: vec![scene("a"), scene("c"), scene("z")],
        questions: vec![q(0, &[5]), q(0, &[6]), q(1, &[8]), q(1, &[10]), q(2, &[5])],
        by_category: Vec::new(),
    };
    assert_eq!(
        question_map(&student, &teacher),
        vec![Some(0), Some(1), Some(3), None, None]
    );
}

/// The tiny dataset's tokenizer and the views of its first training scene.
fn first_training_views(dir: &Path) -> (crate::model::SpatiaTokenizer, ViewBatch) {
    let ds = tiny_dataset(dir);
    let tk = tokenizer(&ds);
    let key = ds.scenes(crate::data::Split::Train)[0].clone();
    let (shard, _) = ds.load(crate::data::Split::Train, &key).unwrap();
    (tk, ViewBatch::from_shard(&shard))
}

#[test]
fn unseen_names_are_the_question_s_objects_the_model_has_no_token_of() {
    use crate::model::config::SceneInput;
    use crate::questions::names::canonical_name;
    let dir = tempfile::tempdir().unwrap();
    let (tk, views) = first_training_views(dir.path());
    let object_cfg = ModelConfig {
        scene_input: SceneInput::Objects,
        latent_probes: true,
        latent_pointers: true,
        hidden_cot_tokens: 3,
        ..ModelConfig::tiny(tk.vocab_size(), 16, 8)
    };
    let loaded = |cfg: &ModelConfig| {
        let vm = VarMap::new();
        let vb = crate::model::nn::seeded_var_builder(&vm, 0, &Device::Cpu);
        crate::model::LoadedModel {
            dir: dir.path().to_path_buf(),
            model: SpatialVlm::new(cfg, vb).unwrap(),
            tokenizer: tk.clone(),
        }
    };
    let teacher = loaded(&object_cfg);
    let tokens = teacher.encode(&views).unwrap();
    // A category the scene's tokens hold, and one they do not.
    let held: Vec<crate::scene::Category> = tokens
        .objects
        .iter()
        .map(|o| crate::scene::Category::ALL[o.category])
        .filter(|c| crate::questions::names::names_of(*c).is_some())
        .collect();
    let present = canonical_name(held[0]);
    let absent = crate::questions::names::NAMES
        .iter()
        .map(|n| n.names[0])
        .find(|n| !held.iter().any(|c| canonical_name(*c) == *n))
        .unwrap();
    let q = format!("Is the {present} near the {absent}?");
    assert_eq!(teacher.unseen_names(&tokens, &[], &q), vec![absent]);
    assert!(
        teacher
            .unseen_names(&tokens, &[], &format!("How many {present}s are there?"))
            .is_empty()
    );
    // A patch model has no object list to check.
    let patches = loaded(&ModelConfig::tiny(tk.vocab_size(), 16, 8));
    let tokens = patches.encode(&views).unwrap();
    assert!(patches.unseen_names(&tokens, &[], &q).is_empty());
}

/// A student that looks again answers a question naming a category it found nothing of with
/// the object it then finds, says so, and no longer calls that name unseen.
#[test]
fn a_student_answers_with_what_it_found_by_looking_again() {
    use crate::model::config::{LookAgain, ObjectSource, SceneInput, semantic_classes};
    use crate::questions::names::canonical_name;
    let dir = tempfile::tempdir().unwrap();
    let (tk, views) = first_training_views(dir.path());
    // An untrained student is unsure of every class (each ~1/K), so that a floor of 0.001 takes
    // every cell for the category looked for.
    let cfg = ModelConfig {
        scene_input: SceneInput::Objects,
        latent_probes: true,
        latent_pointers: true,
        hidden_cot_tokens: 3,
        semantic_classes: semantic_classes(),
        object_source: ObjectSource::Predicted,
        object_min_px: Some(20),
        look_again: Some(LookAgain {
            min_probability: 0.001,
            min_px: 1,
        }),
        ..ModelConfig::tiny(tk.vocab_size(), 16, 8)
    };
    let vm = VarMap::new();
    let vb = crate::model::nn::seeded_var_builder(&vm, 0, &Device::Cpu);
    let student = crate::model::LoadedModel {
        dir: dir.path().to_path_buf(),
        model: SpatialVlm::new(&cfg, vb).unwrap(),
        tokenizer: tk.clone(),
    };
    let tokens = student.encode(&views).unwrap();
    assert!(tokens.search.is_some());
    assert!(
        tokens.objects.len() < 64,
        "room for one more: {}",
        tokens.objects.len()
    );
    let held: Vec<&str> = tokens
        .objects
        .iter()
        .map(|o| canonical_name(crate::scene::Category::ALL[o.category]))
        .collect();
    let absent = crate::questions::names::NAMES
        .iter()
        .map(|n| n.names[0])
        .find(|n| !held.contains(n))
        .unwrap();
    let q = format!("Is the {absent} far from the wall?");
    let a = student.answer(&tokens, &q, true).unwrap();
    assert_eq!(a.looked_again.len(), 1, "{:?}", a.looked_again);
    assert_eq!(
        canonical_name(crate::scene::Category::ALL[a.looked_again[0].category]),
        absent
    );
    assert!(a.looked_again_names()[0].starts_with(&format!("a {absent} (")));
    // Its id is no scene object's.
    assert!(tokens.objects.iter().all(|o| o.id != a.looked_again[0].id));
    // The Hidden CoT attention spans the scene's objects and the one looked again for.
    let att = a.attention.unwrap();
    assert_eq!(att.latent_to_scene[0][0][0].len(), tokens.objects.len() + 1);
    assert_eq!(student.unseen_names(&tokens, &[], &q), vec![absent]);
    assert!(
        student
            .unseen_names(&tokens, &a.looked_again, &q)
            .is_empty()
    );
    // A question naming only what it holds looks for nothing.
    let plain = student
        .answer(
            &tokens,
            &format!("Is the {} near the wall?", held[0]),
            false,
        )
        .unwrap();
    assert!(plain.looked_again.is_empty());
}
