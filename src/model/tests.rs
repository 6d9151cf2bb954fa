use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::checkpoint::expected_tensors;
use super::config::{DecoderConfig, EncoderConfig, ModelConfig};
use super::encoder::Encoder;
use super::nn::{apply_rope, rope_tables};
use super::*;

fn tiny(vocab: usize, k: usize, teacher: bool) -> ModelConfig {
    ModelConfig {
        name: "tiny".into(),
        num_views: 2,
        encoder: EncoderConfig {
            image_size: 16,
            patch_size: 8,
            embed_dim: 16,
            depth: 2,
            num_heads: 2,
            mlp_ratio: 2.0,
            num_register_tokens: 4,
            intermediate_layers: vec![0, 1],
            rope_theta: 100.0,
            layer_scale_init: 0.5,
            position_3d: teacher,
        },
        decoder: DecoderConfig {
            vocab_size: vocab,
            hidden_size: 16,
            intermediate_size: 32,
            num_layers: 2,
            num_heads: 2,
            rms_norm_eps: 1e-5,
            rope_theta: 10000.0,
            max_answer_tokens: 6,
        },
        hidden_cot_tokens: k,
        scene_pool: 1,
        depth_head_dim: 8,
        detection_queries: 4,
        detection_layers: 1,
        detection_classes: 26,
        scene_input: config::SceneInput::Patches,
        object_features: false,
        latent_probes: false,
        latent_pointers: false,
        object_context: false,
        anchor_pointers: false,
        object_slots: 2,
        semantic_classes: 0,
        semantic_skip: 0,
        object_source: config::ObjectSource::Annotated,
        object_group_voxel_m: crate::data::GROUP_VOXEL_M,
        object_min_px: None,
        camera_head: false,
        look_again: None,
    }
}

/// Two grey 16² views (focal 16 px, centred) with camera-from-world `extrinsics` [2, 3, 4].
fn grey_views(extrinsics: Vec<f32>) -> ViewBatch {
    ViewBatch {
        size: 16,
        views: 2,
        images: vec![128; 2 * 16 * 16 * 3],
        depth: None,
        intrinsics: [16.0, 0.0, 8.0, 0.0, 16.0, 8.0, 0.0, 0.0, 1.0].repeat(2),
        extrinsics,
        instance: None,
        object_id: vec![],
        object_category: vec![],
    }
}

fn build(cfg: &ModelConfig) -> (VarMap, SpatialVlm) {
    let map = VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, &Device::Cpu);
    let m = SpatialVlm::new(cfg, vb).unwrap();
    (map, m)
}

fn views(n: usize, s: usize, seed: u8) -> ViewBatch {
    let mut images = Vec::new();
    for i in 0..s * n * n * 3 {
        images.push(((i * 37 + seed as usize * 11) % 251) as u8);
    }
    // Cameras 1 m apart along x, looking along +y (OpenCV: camera z = world y).
    let mut extrinsics = Vec::new();
    let mut intrinsics = Vec::new();
    for v in 0..s {
        let world_from_cam = glam::Mat4::from_cols(
            glam::Vec4::new(1.0, 0.0, 0.0, 0.0),
            glam::Vec4::new(0.0, 0.0, -1.0, 0.0),
            glam::Vec4::new(0.0, 1.0, 0.0, 0.0),
            glam::Vec4::new(v as f32, 0.0, 1.5, 1.0),
        );
        let m = world_from_cam.inverse();
        for r in 0..3 {
            extrinsics.extend(m.row(r).to_array());
        }
        intrinsics.extend([10.0, 0.0, 7.5, 0.0, 10.0, 7.5, 0.0, 0.0, 1.0]);
    }
    ViewBatch {
        size: n,
        views: s,
        images,
        depth: Some(vec![2.0; s * n * n]),
        intrinsics,
        extrinsics,
        instance: None,
        object_id: Vec::new(),
        object_category: Vec::new(),
    }
}

/// The largest absolute difference between two tensors (test helper).
pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// The tensor names of VGGT's aggregator for `depth = 2`, written out as they appear in a
/// checkpoint of facebookresearch/vggt (`vggt/models/aggregator.py`: `camera_token`,
/// `register_token`, `frame_blocks`, `global_blocks`; `vggt/layers/block.py`: `norm1`, `attn`,
/// `ls1`, `norm2`, `mlp`, `ls2`; `attention.py`: `qkv`, `q_norm`, `k_norm`, `proj`;
/// `layer_scale.py`: `gamma`; `mlp.py`: `fc1`, `fc2`). Spatia uses the aggregator's `conv` patch
/// embedding (`patch_embed.proj`, `PatchEmbed`), not VGGT-1B's DINOv2 trunk
/// (`patch_embed.patch_embed.proj`, `patch_embed.blocks.*`), so only these keys are shared.
const VGGT_AGGREGATOR_KEYS_DEPTH_2: [&str; 76] = [
    "aggregator.camera_token",
    "aggregator.patch_embed.proj.bias",
    "aggregator.patch_embed.proj.weight",
    "aggregator.register_token",
    "aggregator.frame_blocks.0.norm1.weight",
    "aggregator.frame_blocks.0.norm1.bias",
    "aggregator.frame_blocks.0.attn.qkv.weight",
    "aggregator.frame_blocks.0.attn.qkv.bias",
    "aggregator.frame_blocks.0.attn.q_norm.weight",
    "aggregator.frame_blocks.0.attn.q_norm.bias",
    "aggregator.frame_blocks.0.attn.k_norm.weight",
    "aggregator.frame_blocks.0.attn.k_norm.bias",
    "aggregator.frame_blocks.0.attn.proj.weight",
    "aggregator.frame_blocks.0.attn.proj.bias",
    "aggregator.frame_blocks.0.ls1.gamma",
    "aggregator.frame_blocks.0.norm2.weight",
    "aggregator.frame_blocks.0.norm2.bias",
    "aggregator.frame_blocks.0.mlp.fc1.weight",
    "aggregator.frame_blocks.0.mlp.fc1.bias",
    "aggregator.frame_blocks.0.mlp.fc2.weight",
    "aggregator.frame_blocks.0.mlp.fc2.bias",
    "aggregator.frame_blocks.0.ls2.gamma",
    "aggregator.frame_blocks.1.norm1.weight",
    "aggregator.frame_blocks.1.norm1.bias",
    "aggregator.frame_blocks.1.attn.qkv.weight",
    "aggregator.frame_blocks.1.attn.qkv.bias",
    "aggregator.frame_blocks.1.attn.q_norm.weight",
    "aggregator.frame_blocks.1.attn.q_norm.bias",
    "aggregator.frame_blocks.1.attn.k_norm.weight",
    "aggregator.frame_blocks.1.attn.k_norm.bias",
    "aggregator.frame_blocks.1.attn.proj.weight",
    "aggregator.frame_blocks.1.attn.proj.bias",
    "aggregator.frame_blocks.1.ls1.gamma",
    "aggregator.frame_blocks.1.norm2.weight",
    "aggregator.frame_blocks.1.norm2.bias",
    "aggregator.frame_blocks.1.mlp.fc1.weight",
    "aggregator.frame_blocks.1.mlp.fc1.bias",
    "aggregator.frame_blocks.1.mlp.fc2.weight",
    "aggregator.frame_blocks.1.mlp.fc2.bias",
    "aggregator.frame_blocks.1.ls2.gamma",
    "aggregator.global_blocks.0.norm1.weight",
    "aggregator.global_blocks.0.norm1.bias",
    "aggregator.global_blocks.0.attn.qkv.weight",
    "aggregator.global_blocks.0.attn.qkv.bias",
    "aggregator.global_blocks.0.attn.q_norm.weight",
    "aggregator.global_blocks.0.attn.q_norm.bias",
    "aggregator.global_blocks.0.attn.k_norm.weight",
    "aggregator.global_blocks.0.attn.k_norm.bias",
    "aggregator.global_blocks.0.attn.proj.weight",
    "aggregator.global_blocks.0.attn.proj.bias",
    "aggregator.global_blocks.0.ls1.gamma",
    "aggregator.global_blocks.0.norm2.weight",
    "aggregator.global_blocks.0.norm2.bias",
    "aggregator.global_blocks.0.mlp.fc1.weight",
    "aggregator.global_blocks.0.mlp.fc1.bias",
    "aggregator.global_blocks.0.mlp.fc2.weight",
    "aggregator.global_blocks.0.mlp.fc2.bias",
    "aggregator.global_blocks.0.ls2.gamma",
    "aggregator.global_blocks.1.norm1.weight",
    "aggregator.global_blocks.1.norm1.bias",
    "aggregator.global_blocks.1.attn.qkv.weight",
    "aggregator.global_blocks.1.attn.qkv.bias",
    "aggregator.global_blocks.1.attn.q_norm.weight",
    "aggregator.global_blocks.1.attn.q_norm.bias",
    "aggregator.global_blocks.1.attn.k_norm.weight",
    "aggregator.global_blocks.1.attn.k_norm.bias",
    "aggregator.global_blocks.1.attn.proj.weight",
    "aggregator.global_blocks.1.attn.proj.bias",
    "aggregator.global_blocks.1.ls1.gamma",
    "aggregator.global_blocks.1.norm2.weight",
    "aggregator.global_blocks.1.norm2.bias",
    "aggregator.global_blocks.1.mlp.fc1.weight",
    "aggregator.global_blocks.1.mlp.fc1.bias",
    "aggregator.global_blocks.1.mlp.fc2.weight",
    "aggregator.global_blocks.1.mlp.fc2.bias",
    "aggregator.global_blocks.1.ls2.gamma",
];

/// Shapes of the aggregator tensors for `cfg`, by name (VGGT's layouts: `[1, 2, 1, C]` camera
/// token, `[1, 2, R, C]` register tokens, conv `[C, 3, P, P]`, linear `[out, in]`).
fn vggt_shape(cfg: &EncoderConfig, name: &str) -> Vec<usize> {
    let (c, p, r) = (cfg.embed_dim, cfg.patch_size, cfg.num_register_tokens);
    let hd = c / cfg.num_heads;
    let hidden = (c as f64 * cfg.mlp_ratio) as usize;
    let suffix = name
        .rsplit_once("blocks.")
        .map_or(name, |(_, s)| s.split_once('.').map_or(s, |(_, rest)| rest));
    match suffix {
        "aggregator.camera_token" => vec![1, 2, 1, c],
        "aggregator.register_token" => vec![1, 2, r, c],
        "aggregator.patch_embed.proj.weight" => vec![c, 3, p, p],
        "attn.qkv.weight" => vec![3 * c, c],
        "attn.qkv.bias" => vec![3 * c],
        "attn.q_norm.weight" | "attn.q_norm.bias" | "attn.k_norm.weight" | "attn.k_norm.bias" => {
            vec![hd]
        }
        "attn.proj.weight" => vec![c, c],
        "mlp.fc1.weight" => vec![hidden, c],
        "mlp.fc1.bias" => vec![hidden],
        "mlp.fc2.weight" => vec![c, hidden],
        _ => vec![c],
    }
}

#[test]
fn encoder_loads_a_checkpoint_with_vggt_key_names_and_uses_them() {
    let cfg = tiny(40, 0, false).encoder;
    assert_eq!(
        cfg.depth, 2,
        "the literal key list is for two blocks of each kind"
    );
    let names: Vec<(String, Vec<usize>)> = VGGT_AGGREGATOR_KEYS_DEPTH_2
        .iter()
        .map(|n| (n.to_string(), vggt_shape(&cfg, n)))
        .collect();
    // The model asks for exactly these encoder tensors, with these shapes.
    let expected = expected_tensors(&tiny(40, 0, false)).unwrap();
    let mut enc_keys: Vec<&String> = expected
        .keys()
        .filter(|k| k.starts_with("aggregator."))
        .collect();
    enc_keys.sort();
    let mut vggt_keys: Vec<&String> = names.iter().map(|(n, _)| n).collect();
    vggt_keys.sort();
    assert_eq!(enc_keys, vggt_keys);
    for (name, shape) in &names {
        assert_eq!(&expected[name], shape, "{name}");
    }
    // Write them to a safetensors file as a converted checkpoint would be.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vggt_tiny.safetensors");
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (i, (name, shape)) in names.iter().enumerate() {
        let n: usize = shape.iter().product();
        let vals: Vec<f32> = (0..n)
            .map(|j| (((i * 131 + j * 17) % 97) as f32 / 97.0 - 0.5) * 0.2)
            .collect();
        tensors.insert(
            name.clone(),
            Tensor::from_vec(vals, shape.as_slice(), &Device::Cpu).unwrap(),
        );
    }
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let load = |t: HashMap<String, Tensor>| {
        Encoder::new(&cfg, VarBuilder::from_tensors(t, DType::F32, &Device::Cpu))
    };
    let enc = load(candle_core::safetensors::load(&path, &Device::Cpu).unwrap()).unwrap();
    let v = views(16, 2, 1);
    let m = build(&tiny(40, 0, false)).1;
    let (images, _) = m.view_tensors(&v).unwrap();
    let out = enc.forward(&images, None).unwrap();
    assert_eq!(out.layers.len(), 2);
    assert_eq!(out.layers[1].dims(), &[1, 2, 1 + 4 + 4, 32]);
    // Changing one loaded tensor changes the output: the weights are used.
    let mut changed = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let key = "aggregator.global_blocks.1.mlp.fc2.weight";
    let t = changed[key].clone();
    changed.insert(key.into(), (t * 3.0).unwrap());
    let out2 = load(changed).unwrap().forward(&images, None).unwrap();
    assert!(max_diff(&out.layers[1], &out2.layers[1]) > 1e-4);
    // A missing tensor is named.
    let mut missing = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    missing.remove("aggregator.frame_blocks.1.attn.k_norm.weight");
    let err = load(missing).unwrap_err().to_string();
    assert!(err.contains("frame_blocks.1.attn.k_norm.weight"), "{err}");
}

#[test]
fn first_frame_has_its_own_tokens_and_other_views_are_interchangeable() {
    let (_, m) = build(&tiny(40, 0, false));
    let mut v = views(16, 3, 2);
    let (images, _) = m.view_tensors(&v).unwrap();
    let out = m.encode_tensors(&images, None).unwrap().layers[1].clone();
    // Swap views 1 and 2: their outputs swap, view 0's stays.
    let n = 16 * 16 * 3;
    let (a, b) = v.images.split_at_mut(2 * n);
    a[n..2 * n].swap_with_slice(&mut b[..n]);
    let (images2, _) = m.view_tensors(&v).unwrap();
    let out2 = m.encode_tensors(&images2, None).unwrap().layers[1].clone();
    let view = |t: &Tensor, i: usize| t.get(0).unwrap().get(i).unwrap();
    assert!(max_diff(&view(&out, 0), &view(&out2, 0)) < 1e-4);
    assert!(max_diff(&view(&out, 1), &view(&out2, 2)) < 1e-4);
    assert!(max_diff(&view(&out, 2), &view(&out2, 1)) < 1e-4);
    // Swapping view 0 with view 1 is not a permutation: the first frame is special.
    let mut w = views(16, 3, 2);
    let (a, b) = w.images.split_at_mut(n);
    a.swap_with_slice(&mut b[..n]);
    let (images3, _) = m.view_tensors(&w).unwrap();
    let out3 = m.encode_tensors(&images3, None).unwrap().layers[1].clone();
    assert!(max_diff(&view(&out, 0), &view(&out3, 1)) > 1e-4);
}

#[test]
fn rope_depends_only_on_relative_position() {
    let dev = Device::Cpu;
    let q = Tensor::new(&[[[[0.3f32, -1.0, 0.5, 2.0, 0.1, 0.7, -0.2, 1.1]]]], &dev).unwrap();
    let k = Tensor::new(&[[[[1.0f32, 0.2, -0.4, 0.3, 0.9, -1.2, 0.5, 0.05]]]], &dev).unwrap();
    let dot = |pq: f32, pk: f32| {
        let (cq, sq) = rope_tables(&[pq], 8, 100.0, &dev).unwrap();
        let (ck, sk) = rope_tables(&[pk], 8, 100.0, &dev).unwrap();
        let a = apply_rope(&q, &cq, &sq).unwrap();
        let b = apply_rope(&k, &ck, &sk).unwrap();
        (a * b)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    assert!((dot(3.0, 1.0) - dot(7.0, 5.0)).abs() < 1e-4);
    assert!((dot(3.0, 1.0) - dot(3.0, 2.0)).abs() > 1e-3);
    let norm = |t: &Tensor| {
        t.sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let (c, s) = rope_tables(&[5.0], 8, 100.0, &dev).unwrap();
    assert!((norm(&apply_rope(&q, &c, &s).unwrap()) - norm(&q)).abs() < 1e-4);
}

#[test]
fn cached_decoding_matches_the_full_sequence() {
    let (_, m) = build(&tiny(40, 3, false));
    let dev = Device::Cpu;
    let ids = Tensor::new(&[[2u32, 7, 9, 11, 5, 30, 4]], &dev).unwrap();
    let x = m.decoder().embed(&ids).unwrap();
    let (full, _) = m.decoder().forward(&x, None, None, false).unwrap();
    let mut cache = decoder::KvCache::default();
    let (first, _) = m
        .decoder()
        .forward(&x.narrow(1, 0, 4).unwrap(), Some(&mut cache), None, false)
        .unwrap();
    let mut rows = vec![first];
    for t in 4..7 {
        let (l, _) = m
            .decoder()
            .forward(&x.narrow(1, t, 1).unwrap(), Some(&mut cache), None, false)
            .unwrap();
        rows.push(l);
    }
    let inc = Tensor::cat(&rows, 1).unwrap();
    assert!(max_diff(&full, &inc) < 1e-4);
    // Causal: changing the last token does not change earlier logits.
    let ids2 = Tensor::new(&[[2u32, 7, 9, 11, 5, 30, 8]], &dev).unwrap();
    let (full2, _) = m
        .decoder()
        .forward(&m.decoder().embed(&ids2).unwrap(), None, None, false)
        .unwrap();
    assert!(
        max_diff(
            &full.narrow(1, 0, 6).unwrap(),
            &full2.narrow(1, 0, 6).unwrap()
        ) < 1e-5
    );
    assert!(
        max_diff(
            &full.narrow(1, 6, 1).unwrap(),
            &full2.narrow(1, 6, 1).unwrap()
        ) > 1e-5
    );
}

#[test]
fn hidden_cot_latents_sit_after_the_question_and_their_attention_is_recorded() {
    for k in [0usize, 3] {
        let cfg = tiny(40, k, false);
        let names = expected_tensors(&cfg).unwrap();
        assert_eq!(names.contains_key("hidden_cot.latents"), k > 0);
        let (_, m) = build(&cfg);
        let scene = m.encode(&views(16, 2, 3)).unwrap();
        let n = scene.embeds.dim(1).unwrap();
        assert_eq!(n, 2 * (1 + 4));
        assert_eq!(scene.layout.len(), n);
        let (_, layout) = m.prompt(&scene.embeds, &[9, 10, 11], 2, 4).unwrap();
        assert_eq!((layout.scene, layout.question, layout.latents), (n, 4, k));
        assert_eq!(layout.len(), n + 4 + k + 1);
        let g = m.generate(&scene, &[9, 10, 11], (2, 4, 3), true).unwrap();
        // The first-position logits are those the first token was chosen from (3 is <eos>).
        let v = g.first_logits.len();
        assert_eq!(v, cfg.decoder.vocab_size);
        let argmax = (0..v)
            .max_by(|&a, &b| g.first_logits[a].total_cmp(&g.first_logits[b]))
            .unwrap() as u32;
        assert_eq!(g.ids.first().copied().unwrap_or(3), argmax);
        let (ids, probs, maps) = (g.ids, g.probs, g.attention);
        assert_eq!(ids.len(), probs.len());
        assert!(probs.iter().all(|p| *p > 0.0 && *p <= 1.0));
        let maps = maps.unwrap();
        if k == 0 {
            assert!(maps.latent_to_scene.is_empty());
            continue;
        }
        assert_eq!(maps.latent_to_scene.len(), 2); // layers
        assert_eq!(maps.latent_to_scene[0].len(), 2); // heads
        assert_eq!(maps.latent_to_scene[0][0].len(), k);
        assert_eq!(maps.latent_to_scene[0][0][0].len(), n);
        for row in &maps.latent_to_scene[1][1] {
            let s: f32 = row.iter().sum();
            assert!(s > 0.0 && s <= 1.0 + 1e-5, "{s}");
        }
        assert_eq!(maps.answer_to_latent[0][0].len(), ids.len());
        if let Some(r) = maps.answer_to_latent[1][0].first() {
            assert_eq!(r.len(), k);
        }
    }
}

#[test]
fn teacher_forced_logits_agree_with_greedy_generation() {
    let (_, m) = build(&tiny(40, 2, false));
    let scene = m.encode(&views(16, 2, 4)).unwrap();
    let special = (2u32, 4u32, 3u32);
    let q1 = vec![9u32, 10, 11];
    let q2 = vec![12u32];
    let a1 = m.generate(&scene, &q1, special, false).unwrap().ids;
    let a2 = m.generate(&scene, &q2, special, false).unwrap().ids;
    let (logits, targets) = m
        .answer_logits(
            &scene.embeds,
            &[(q1, a1.clone()), (q2, a2.clone())],
            (2, 4, 3, 0),
        )
        .unwrap();
    assert_eq!(logits.dim(0).unwrap(), a1.len() + a2.len() + 2);
    let argmax = logits.argmax(1).unwrap().to_vec1::<u32>().unwrap();
    // Every generated token is the argmax of its teacher-forced row, padding notwithstanding.
    assert_eq!(&argmax[..a1.len()], a1.as_slice());
    assert_eq!(
        &argmax[a1.len() + 1..a1.len() + 1 + a2.len()],
        a2.as_slice()
    );
    let mut want = a1.clone();
    want.push(3);
    want.extend(&a2);
    want.push(3);
    assert_eq!(targets, want);
}

#[test]
fn heads_give_positive_depth_and_boxes() {
    let (_, m) = build(&tiny(40, 0, false));
    let scene = m.encode(&views(16, 2, 5)).unwrap();
    let depth = m.depth(&scene).unwrap();
    assert_eq!(depth.len(), 2);
    assert_eq!(depth[0].depth_m.len(), 256);
    assert!(
        depth
            .iter()
            .all(|d| d.depth_m.iter().all(|&x| x > 0.0) && d.confidence.iter().all(|&c| c > 1.0))
    );
    let dets = m.detect(&scene).unwrap();
    assert_eq!(dets.len(), 4);
    assert!(dets.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(
        dets.iter()
            .all(|d| d.class < 26 && d.size.iter().all(|&s| s > 0.0) && d.score > 0.0)
    );
}

#[test]
fn the_teacher_sees_depth_and_the_student_does_not() {
    let (_, teacher) = build(&tiny(40, 0, true));
    let (_, student) = build(&tiny(40, 0, false));
    let a = views(16, 2, 6);
    let mut b = a.clone();
    b.depth = Some(vec![4.0; 2 * 256]);
    let enc = |m: &SpatialVlm, v: &ViewBatch| m.encode(v).unwrap().embeds;
    assert!(max_diff(&enc(&teacher, &a), &enc(&teacher, &b)) > 1e-5);
    assert!(max_diff(&enc(&student, &a), &enc(&student, &b)) < 1e-6);
    let mut none = a.clone();
    none.depth = None;
    assert!(
        teacher
            .encode(&none)
            .unwrap_err()
            .to_string()
            .contains("needs depth")
    );
    // Patch points: a flat wall at 2 m seen from the first camera is 2 m ahead of it.
    let (pts, valid) = vlm::patch_points(&a, a.depth.as_ref().unwrap(), 8);
    assert!(valid.iter().all(|&v| v == 1.0));
    assert!(pts.chunks(3).take(4).all(|p| (p[2] - 2.0).abs() < 1e-4));
}

#[test]
fn presets_teacher_is_three_times_the_student() {
    let count = |c: &ModelConfig| -> usize {
        expected_tensors(c)
            .unwrap()
            .values()
            .map(|s| s.iter().product::<usize>())
            .sum()
    };
    let (s, t) = (
        count(&ModelConfig::student(600)),
        count(&ModelConfig::teacher(600)),
    );
    assert!(t as f64 >= 3.0 * s as f64, "teacher {t} vs student {s}");
    assert!(
        ModelConfig::student(600).validate().is_ok()
            && ModelConfig::teacher(600).validate().is_ok()
    );
}

#[test]
fn object_slots_default_to_two_and_must_be_two_or_three() {
    // A config.json written before the field existed reads as two slots.
    let mut json = serde_json::to_value(ModelConfig::teacher_objects(600)).unwrap();
    json.as_object_mut().unwrap().remove("object_slots");
    let old: ModelConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old.object_slots, 2);
    for (slots, ok) in [(1, false), (2, true), (3, true), (4, false)] {
        let cfg = ModelConfig {
            object_slots: slots,
            ..ModelConfig::teacher_objects(600)
        };
        let v = cfg.validate();
        assert_eq!(v.is_ok(), ok, "{slots}: {v:?}");
        if let Err(e) = v {
            assert!(e.contains("object_slots"), "{e}");
        }
    }
}

fn corpus() -> Vec<String> {
    use crate::questions::{GenerateOptions, generate};
    let mut out = Vec::new();
    for i in 0..3 {
        let (scene, _) = crate::scene::procgen::generate(1, i).to_scene();
        let sp = crate::spatial::SpatialScene::new(&scene);
        for q in generate(
            &sp,
            &GenerateOptions {
                held_out: None,
                ..Default::default()
            },
        ) {
            out.push(q.question);
            out.push(q.answer);
        }
    }
    out
}

#[test]
fn tokenizer_trains_and_round_trips() {
    let tk = SpatiaTokenizer::train(corpus().into_iter(), 300).unwrap();
    assert!(tk.vocab_size() <= 300);
    for text in [
        "the cup is on the table, near the laptop",
        "2.35 m",
        "left",
        "is the couch near the tv?",
    ] {
        let ids = tk.encode(text).unwrap();
        assert_eq!(tk.decode(&ids).unwrap(), text);
    }
    // Lower-cased; digits one token each.
    assert_eq!(
        tk.decode(&tk.encode("Is The Sofa").unwrap()).unwrap(),
        "is the sofa"
    );
    assert_eq!(tk.encode("2025").unwrap().len(), 4);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tokenizer.json");
    tk.save(&p).unwrap();
    let back = SpatiaTokenizer::load(&p).unwrap();
    assert_eq!(
        back.encode("where is the lamp?").unwrap(),
        tk.encode("where is the lamp?").unwrap()
    );
    std::fs::write(&p, "{").unwrap();
    assert!(
        SpatiaTokenizer::load(&p)
            .unwrap_err()
            .to_string()
            .contains("tokenizer.json")
    );
}

/// A polar question is answered yes or no, the decoder's own choice between the two: an
/// untrained model's free decoding says anything, and that is kept beside the answer. Every
/// other form gets an answer of that form; a form that does not say keeps what free decoding
/// says.
#[test]
fn a_polar_question_is_answered_yes_or_no_by_the_decoders_choice() {
    let tk = SpatiaTokenizer::train(corpus().into_iter(), 200).unwrap();
    let cfg = tiny(tk.vocab_size(), 2, false);
    let (_map, m) = build(&cfg);
    let model = LoadedModel {
        dir: std::path::PathBuf::from("tiny"),
        model: m,
        tokenizer: tk,
    };
    use crate::questions::form::{answer_form, fits};
    let (y, n) = model.yes_no_ids().unwrap().unwrap();
    let (mut constrained, mut reformed) = (0, 0);
    for seed in 0..6 {
        let scene = model.encode(&views(16, 2, seed)).unwrap();
        for q in [
            "is the lamp near the bed?",
            "Are the sofa and the table far apart?",
        ] {
            let a = model.answer(&scene, q, false).unwrap();
            let p = a.p_yes.unwrap();
            let want = if p >= 0.5 { "yes" } else { "no" };
            assert_eq!(a.text, want, "{q}: p_yes {p}");
            match &a.unconstrained {
                Some(free) => {
                    constrained += 1;
                    assert!(free != "yes" && free != "no", "{free}");
                    assert_eq!(a.token_ids, vec![if p >= 0.5 { y } else { n }]);
                    let prob = if p >= 0.5 { p } else { 1.0 - p };
                    assert!((a.token_probs[0] - prob).abs() < 1e-6);
                }
                None => assert!(a.token_ids.first() == Some(&y) || a.token_ids.first() == Some(&n)),
            }
        }
        // Every other form: an answer of that form; when free decoding gave none, it is kept.
        for q in [
            "how many lamps are there?",
            "Which object is closest to the bed?",
            "How far is the lamp from the bed?",
            "Where is the lamp?",
        ] {
            let a = model.answer(&scene, q, false).unwrap();
            let form = answer_form(q);
            assert!(
                fits(form, &a.text),
                "{q}: {:?} ({form:?}) {:?}",
                a.text,
                a.token_ids
            );
            assert_eq!(a.text, model.tokenizer.decode(&a.token_ids).unwrap().trim());
            assert_eq!(a.token_ids.len(), a.token_probs.len());
            if let Some(free) = &a.unconstrained {
                reformed += 1;
                assert!(!fits(form, free), "{q}: {free:?} was of the form");
            }
        }
        // A form that does not say: free decoding, whatever it says.
        let a = model
            .answer(&scene, "the lamp is near the bed?", false)
            .unwrap();
        assert!(a.unconstrained.is_none());
    }
    assert!(
        constrained > 0,
        "an untrained decoder said yes or no every time"
    );
    assert!(
        reformed > 0,
        "an untrained decoder answered in form every time"
    );
}

/// A token held to a form: the most likely of the allowed ones, with its probability under the
/// full distribution.
#[test]
fn greedy_allowed_takes_the_best_allowed_id() {
    use crate::model::decoder::greedy_allowed;
    let logits = [0.0f32, 3.0, 1.0];
    let total: f32 = logits.iter().map(|l| l.exp()).sum();
    let (id, p) = greedy_allowed(&logits, &[true, false, true]).unwrap();
    assert_eq!(id, 2);
    assert!((p - 1f32.exp() / total).abs() < 1e-6);
    assert_eq!(greedy_allowed(&logits, &[true; 3]).unwrap().0, 1);
    assert!(greedy_allowed(&logits, &[false; 3]).is_none());
    assert_eq!(greedy_allowed(&logits, &[true]).unwrap().0, 0);
    assert!(greedy_allowed(&[0.0, f32::NAN], &[true, true]).is_none());
}

#[test]
fn checkpoints_round_trip_and_bad_ones_are_named() {
    let tk = SpatiaTokenizer::train(corpus().into_iter(), 200).unwrap();
    let cfg = tiny(tk.vocab_size(), 2, false);
    let (map, m) = build(&cfg);
    let dir = tempfile::tempdir().unwrap();
    let mdir = dir.path().join("m");
    save_model(&mdir, &cfg, &map, &tk, DType::F32).unwrap();
    let loaded = load_model(&mdir, &Device::Cpu).unwrap();
    let v = views(16, 2, 7);
    let a = loaded
        .answer(
            &loaded.encode(&v).unwrap(),
            "is the lamp near the bed?",
            false,
        )
        .unwrap();
    let own = LoadedModel {
        dir: mdir.clone(),
        model: m,
        tokenizer: tk.clone(),
    };
    let b = own
        .answer(&own.encode(&v).unwrap(), "is the lamp near the bed?", false)
        .unwrap();
    assert_eq!(a.token_ids, b.token_ids);
    assert!(a.latency_ms > 0.0);
    assert_eq!(loaded.params().unwrap(), own.params().unwrap());
    // f16 checkpoints load too.
    let half = dir.path().join("half");
    save_model(&half, &cfg, &map, &tk, DType::F16).unwrap();
    assert!(load_model(&half, &Device::Cpu).is_ok());
    // Exporting (as models/ ships them): f16 weights, half the size, same answer; extra
    // training files stay behind.
    std::fs::write(mdir.join("optimizer.safetensors"), b"x").unwrap();
    let shipped = dir.path().join("shipped");
    crate::model::checkpoint::export_model(&mdir, &shipped, DType::F16).unwrap();
    assert!(!shipped.join("optimizer.safetensors").exists());
    let size = |p: &std::path::Path| {
        std::fs::metadata(p.join("model.safetensors"))
            .unwrap()
            .len()
    };
    assert!(
        size(&shipped) * 10 < size(&mdir) * 6,
        "{} vs {}",
        size(&shipped),
        size(&mdir)
    );
    let exported = load_model(&shipped, &Device::Cpu).unwrap();
    let c = exported
        .answer(
            &exported.encode(&v).unwrap(),
            "is the lamp near the bed?",
            false,
        )
        .unwrap();
    assert_eq!(c.token_ids.len(), b.token_ids.len());
    std::fs::remove_file(mdir.join("optimizer.safetensors")).unwrap();
    // Truncated weights.
    let w = mdir.join("model.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_model(&mdir, &Device::Cpu).err().unwrap().to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    // A tensor of the wrong shape, and one missing.
    let mut t =
        candle_core::safetensors::load(half.join("model.safetensors"), &Device::Cpu).unwrap();
    t.insert(
        "decoder.norm.weight".into(),
        Tensor::zeros(7, DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&t, &w).unwrap();
    let err = load_model(&mdir, &Device::Cpu).err().unwrap().to_string();
    assert!(
        err.contains("\"decoder.norm.weight\" has shape [7], expected [16]"),
        "{err}"
    );
    t.remove("decoder.norm.weight");
    candle_core::safetensors::save(&t, &w).unwrap();
    let err = load_model(&mdir, &Device::Cpu).err().unwrap().to_string();
    assert!(err.contains("\"decoder.norm.weight\" is missing"), "{err}");
    // Views of the wrong size.
    let err = loaded.encode(&views(24, 2, 1)).unwrap_err().to_string();
    assert!(err.contains("24x24") && err.contains("16x16"), "{err}");
    let err = load_model(&dir.path().join("nothing"), &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("nothing") && err.contains("no such model folder"),
        "{err}"
    );
}

#[test]
fn every_parameter_gets_a_gradient() {
    // Answer cross-entropy + depth + detection reach every weight (the fused candle-nn kernels
    // without a backward pass are not used).
    for teacher in [false, true] {
        let cfg = tiny(40, 2, teacher);
        let (map, m) = build(&cfg);
        let v = views(16, 2, 8);
        let (images, points) = m.view_tensors(&v).unwrap();
        let enc = m.encode_tensors(&images, points.as_ref()).unwrap();
        let scene = m.scene_embeds(&enc).unwrap();
        let (logits, targets) = m
            .answer_logits(
                &scene,
                &[(vec![9, 10], vec![12, 13]), (vec![11], vec![14])],
                (2, 4, 3, 0),
            )
            .unwrap();
        let targets = Tensor::new(targets.as_slice(), &Device::Cpu).unwrap();
        let ce = candle_nn::loss::cross_entropy(&logits, &targets).unwrap();
        let depth = m.depth_tensors(&enc).unwrap();
        let det = m.detect_tensors(&enc).unwrap();
        let loss = (ce
            + depth.depth.log().unwrap().mean_all().unwrap()
            + depth.confidence.mean_all().unwrap()
            + det.logits.sqr().unwrap().mean_all().unwrap()
            + det.boxes.mean_all().unwrap())
        .unwrap();
        let grads = loss.backward().unwrap();
        let data = map.data().lock().unwrap();
        let mut missing = Vec::new();
        for (name, var) in data.iter() {
            let g = grads.get(var.as_tensor());
            let norm = g.map(|g| {
                g.sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
            });
            if norm.is_none_or(|n| n == 0.0 || !n.is_finite()) {
                missing.push(name.clone());
            }
        }
        missing.sort();
        assert!(
            missing.is_empty(),
            "teacher={teacher}: no gradient for {missing:?}"
        );
    }
}

#[test]
fn depth_head_trains_at_the_preset_geometry() {
    // 112-pixel views in 14-pixel patches: every upsampling factor must be an integer, or
    // candle has no backward pass (a regression the tiny configurations above cannot catch).
    let mut cfg = tiny(40, 0, false);
    cfg.encoder.image_size = 112;
    cfg.encoder.patch_size = 14;
    cfg.encoder.embed_dim = 8;
    cfg.encoder.depth = 1;
    cfg.encoder.intermediate_layers = vec![0];
    cfg.num_views = 1;
    let (map, m) = build(&cfg);
    let v = views(112, 1, 9);
    let (images, _) = m.view_tensors(&v).unwrap();
    let enc = m.encode_tensors(&images, None).unwrap();
    let d = m.depth_tensors(&enc).unwrap();
    assert_eq!(d.depth.dims(), &[1, 1, 112, 112]);
    let grads = d
        .depth
        .log()
        .unwrap()
        .mean_all()
        .unwrap()
        .backward()
        .unwrap();
    let data = map.data().lock().unwrap();
    let w = &data["depth_head.out.1.weight"];
    assert!(grads.get(w.as_tensor()).is_some());
}

/// A `config.json` with a zero patch or absurd sizes is refused with one line naming the file
/// and the field, before anything is built (no division by zero, no giant allocation), fast.
#[test]
fn absurd_configs_are_refused_before_anything_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let base = serde_json::to_value(ModelConfig::student(600)).unwrap();
    let cases: [(&str, &str, serde_json::Value); 6] = [
        ("encoder", "patch_size", serde_json::json!(0)),
        (
            "decoder",
            "hidden_size",
            serde_json::json!(1_000_000_000u64),
        ),
        ("decoder", "vocab_size", serde_json::json!(1_000_000_000u64)),
        ("decoder", "num_layers", serde_json::json!(1_000_000u64)),
        ("encoder", "embed_dim", serde_json::json!(8192)),
        ("encoder", "mlp_ratio", serde_json::json!(-1.0)),
    ];
    for (part, field, value) in cases {
        let mut cfg = base.clone();
        cfg[part][field] = value;
        let mdir = dir.path().join(format!("{part}_{field}"));
        std::fs::create_dir_all(&mdir).unwrap();
        std::fs::write(mdir.join("config.json"), cfg.to_string()).unwrap();
        let start = std::time::Instant::now();
        let err = load_model(&mdir, &Device::Cpu).err().unwrap().to_string();
        assert!(start.elapsed().as_secs_f32() < 2.0, "{field}: slow");
        assert!(err.contains("config.json"), "{err}");
        let named = err.contains(field) || err.contains("parameters");
        assert!(named, "{field}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // The bound is a bound: never below what the presets really hold.
    for cfg in [
        ModelConfig::student(600),
        ModelConfig::teacher(600),
        ModelConfig::tiny(40, 16, 8),
    ] {
        let real: usize = expected_tensors(&cfg)
            .unwrap()
            .values()
            .map(|s| s.iter().product::<usize>())
            .sum();
        assert!(
            cfg.parameter_bound() >= real as u128,
            "{}: {real}",
            cfg.name
        );
        assert!(cfg.validate().is_ok());
    }
}

/// The semantic output's pixel branch starts at zero: a model with it, whose other tensors are
/// those of a model without it, gives the same categories to the last bit; once its projection
/// moves, the categories of a cell follow that cell's own pixels.
#[test]
fn the_semantic_pixel_branch_starts_silent_and_then_reads_pixels() {
    use crate::model::config::{ObjectSource, SceneInput, semantic_classes};
    let without = ModelConfig {
        scene_input: SceneInput::Objects,
        latent_probes: true,
        latent_pointers: true,
        hidden_cot_tokens: 3,
        semantic_classes: semantic_classes(),
        object_source: ObjectSource::Predicted,
        ..ModelConfig::tiny(40, 16, 8)
    };
    let refused = ModelConfig {
        semantic_skip: 4,
        semantic_classes: 0,
        object_source: ObjectSource::Annotated,
        ..without.clone()
    };
    assert!(refused.validate().unwrap_err().contains("semantic_skip"));
    let with = ModelConfig {
        semantic_skip: 4,
        ..without.clone()
    };
    with.validate().unwrap();
    let tensors = expected_tensors(&with).unwrap();
    // A stride-2 3×3 convolution from RGB, a 3×3 one, a 1×1 projection to the head's width.
    assert_eq!(
        tensors["depth_head.semantic_skip.0.weight"],
        vec![4, 3, 3, 3]
    );
    assert_eq!(
        tensors["depth_head.semantic_skip.1.weight"],
        vec![4, 4, 3, 3]
    );
    assert_eq!(
        tensors["depth_head.semantic_skip.2.weight"],
        vec![8, 4, 1, 1]
    );
    let (map_a, a) = build(&without);
    let (map_b, b) = build(&with);
    {
        let from = map_a.data().lock().unwrap();
        let to = map_b.data().lock().unwrap();
        for (name, var) in to.iter() {
            if let Some(src) = from.get(name) {
                var.set(src.as_tensor()).unwrap();
            } else {
                assert!(name.starts_with("depth_head.semantic_skip."), "{name}");
            }
        }
    }
    // An image with a bright 2×2 square on grey.
    let mut pixels = vec![100u8; 2 * 16 * 16 * 3];
    for (y, x) in [(5, 5), (5, 6), (6, 5), (6, 6)] {
        for c in 0..3 {
            pixels[(y * 16 + x) * 3 + c] = 250;
        }
    }
    let semantic = |m: &SpatialVlm, pixels: &[u8]| -> Vec<f32> {
        let img = Tensor::from_vec(
            pixels.iter().map(|&p| p as f32 / 255.0).collect::<Vec<_>>(),
            (1, 2, 16, 16, 3),
            &Device::Cpu,
        )
        .unwrap()
        .permute((0, 1, 4, 2, 3))
        .unwrap()
        .contiguous()
        .unwrap();
        let enc = m.encode_tensors(&img, None).unwrap();
        let out = m.depth_tensors(&enc).unwrap();
        out.semantic
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    assert_eq!(semantic(&a, &pixels), semantic(&b, &pixels));
    // With the token path's semantic convolution silenced and the projection moved, a cell's
    // categories change with its own pixels (the square at pixels 5..6 reaches semantic cells
    // 1..4 through the two convolutions) and not at all elsewhere.
    {
        let data = map_b.data().lock().unwrap();
        let w = &data["depth_head.semantic_skip.2.weight"];
        w.set(&Tensor::ones(w.shape(), DType::F32, &Device::Cpu).unwrap())
            .unwrap();
        let w = &data["depth_head.semantic.0.weight"];
        w.set(&Tensor::zeros(w.shape(), DType::F32, &Device::Cpu).unwrap())
            .unwrap();
    }
    let grey = vec![100u8; pixels.len()];
    let (on, off) = (semantic(&b, &pixels), semantic(&b, &grey));
    let k = semantic_classes();
    let effect = |y: usize, x: usize| -> f32 {
        (0..k)
            .map(|c| {
                let i = (c * 8 + y) * 8 + x; // first view of [1, 2, K, 8, 8]
                (on[i] - off[i]).abs()
            })
            .sum()
    };
    assert!(effect(2, 2) > 1e-3, "{}", effect(2, 2));
    assert!(effect(3, 3) > 1e-3, "{}", effect(3, 3));
    for (y, x) in [(6, 6), (7, 7), (0, 7), (7, 0)] {
        assert!(effect(y, x) < 1e-6, "cell ({y}, {x}): {}", effect(y, x));
    }
}

#[test]
fn an_object_student_finds_objects_with_its_own_depth_and_categories() {
    use crate::model::config::{ObjectSource, SceneInput, semantic_classes};
    let base = ModelConfig {
        scene_input: SceneInput::Objects,
        latent_probes: true,
        latent_pointers: true,
        hidden_cot_tokens: 3,
        ..ModelConfig::tiny(40, 16, 8)
    };
    // Predicted objects need the semantic output.
    let refused = ModelConfig {
        object_source: ObjectSource::Predicted,
        ..base.clone()
    };
    assert!(refused.validate().unwrap_err().contains("semantic_classes"));
    let wrong = ModelConfig {
        semantic_classes: 7,
        ..base.clone()
    };
    assert!(wrong.validate().unwrap_err().contains("semantic_classes"));
    // The grouping voxel: a length in [0.02, 1] m; a config.json from before the field groups
    // at 0.1 m.
    for voxel_m in [0.0, 0.01, 1.5, f32::NAN] {
        let bad = ModelConfig {
            object_group_voxel_m: voxel_m,
            ..base.clone()
        };
        assert!(
            bad.validate().unwrap_err().contains("object_group_voxel_m"),
            "{voxel_m}"
        );
    }
    // The least pixels of an object: 1..=MAX_OBJECT_MIN_PX when given.
    for px in [0, crate::model::config::MAX_OBJECT_MIN_PX + 1] {
        let bad = ModelConfig {
            object_min_px: Some(px),
            ..base.clone()
        };
        assert!(
            bad.validate().unwrap_err().contains("object_min_px"),
            "{px}"
        );
    }
    let mut json = serde_json::to_value(&base).unwrap();
    json.as_object_mut().unwrap().remove("object_group_voxel_m");
    let old: ModelConfig = serde_json::from_value(json).unwrap();
    assert_eq!(old.object_group_voxel_m, 0.1);
    let cfg = ModelConfig {
        semantic_classes: semantic_classes(),
        object_source: ObjectSource::Predicted,
        ..base
    };
    let of = |name: &str| {
        crate::scene::Category::ALL
            .iter()
            .position(|c| c.name() == name)
            .unwrap()
    };
    let (_map, m) = build(&cfg);
    let views = grey_views([1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0].repeat(2));
    let (images, _) = m.view_tensors(&views).unwrap();
    let enc = m.encode_tensors(&images, None).unwrap();
    let out = m.depth_tensors(&enc).unwrap();
    // [B, S, K, h, w]: half the 16-pixel image (the 2×2 patch grid divides it).
    assert_eq!(
        out.semantic.unwrap().dims(),
        &[1, 2, semantic_classes(), 8, 8]
    );
    let maps = m.predicted_maps(&enc).unwrap();
    assert_eq!((maps.class.len(), maps.class_size), (2 * 8 * 8, 8));
    assert_eq!(maps.confidence.len(), maps.class.len());
    // The probability of the most likely of C classes lies in [1/C, 1].
    let floor = 1.0 / semantic_classes() as f32 - 1e-6;
    assert!(
        maps.confidence
            .iter()
            .all(|p| (floor..=1.0 + 1e-6).contains(p)),
        "{:?}",
        &maps.confidence[..4]
    );
    assert_eq!(maps.depth_m.len(), 2 * 16 * 16);
    // The maps group at the model's voxel edge.
    assert_eq!(maps.group_voxel_m, cfg.object_group_voxel_m);
    assert_eq!(cfg.object_group_voxel_m, crate::data::GROUP_VOXEL_M);
    // A group is an object when some view shows at least `object_min_px` of its pixels (by
    // default the least a question's object shows: 1 pixel at 16²). Hand-made maps of one view
    // at 1 m: a chair of 3 pixels and another of 9, half a metre apart.
    let chair = 1 + of("chair") as u8;
    let mut class = vec![0u8; 16 * 16];
    class[..3].fill(chair);
    for y in 8..11 {
        for x in 10..13 {
            class[y * 16 + x] = chair;
        }
    }
    let one_view = ViewBatch {
        views: 1,
        images: vec![128; 16 * 16 * 3],
        intrinsics: views.intrinsics[..9].to_vec(),
        extrinsics: views.extrinsics[..12].to_vec(),
        ..views.clone()
    };
    let hand = |min_px| crate::model::PredictedMaps {
        depth_m: vec![1.0; 16 * 16],
        class: class.clone(),
        confidence: Vec::new(),
        probability: Vec::new(),
        class_size: 16,
        group_voxel_m: 0.1,
        min_px,
    };
    let pixels = |min_px| {
        hand(min_px)
            .objects(&one_view)
            .iter()
            .map(|o| o.pixels)
            .collect::<Vec<_>>()
    };
    assert_eq!(pixels(None), vec![9, 3]);
    assert_eq!(pixels(Some(5)), vec![9]);
    assert_eq!(pixels(Some(10)), Vec::<u32>::new());
    // Whatever it finds, each object is one class with a finite box, at most 64, ids by size.
    let found = maps.objects(&views);
    assert!(found.len() <= 64);
    for (i, o) in found.iter().enumerate() {
        assert_eq!(o.id, i as u32);
        assert!(o.min_m.iter().chain(&o.max_m).all(|v| v.is_finite()));
    }
    // Its boxes are the objects it finds, in the first camera's frame (walls have no
    // detection class).
    let object = |category, min_m, max_m, score| crate::data::ObjectToken {
        id: 0,
        category,
        min_m,
        max_m,
        pixels: 50,
        score,
    };
    let scene = SceneTokens {
        encoder: enc,
        embeds: Tensor::zeros((1, 2, 32), DType::F32, &Device::Cpu).unwrap(),
        layout: Vec::new(),
        objects: vec![
            object(of("wall"), [-3.0, -3.0, 0.0], [3.0, -2.9, 2.5], 0.99),
            object(of("chair"), [0.0, 0.0, 2.0], [1.0, 1.0, 3.0], 0.6),
            object(of("table"), [2.0, 0.0, 0.0], [3.0, 1.0, 0.5], 0.9),
        ],
        camera0_from_world: glam::Mat4::from_translation(glam::Vec3::new(0.0, 0.0, 1.0)),
        encode_ms: 0.0,
        search: None,
    };
    let dets = m.detect(&scene).unwrap();
    assert_eq!(dets.len(), 2);
    // Best first: the table (0.9) before the chair (0.6), each scored as found.
    let class = |name| crate::data::detection_class(crate::scene::Category::ALL[of(name)]);
    assert_eq!(
        dets.iter()
            .map(|d| (Some(d.class), d.score))
            .collect::<Vec<_>>(),
        vec![(class("table"), 0.9), (class("chair"), 0.6)]
    );
    assert_eq!(
        (dets[1].centre, dets[1].size),
        ([0.5, 0.5, 3.5], [1.0, 1.0, 1.0])
    );
    // And the box where it was found, in the world.
    assert_eq!(
        dets[1].world_box_m,
        Some([[0.0, 0.0, 2.0], [1.0, 1.0, 3.0]])
    );
    // A patch model has no semantic output and refuses to find objects.
    let (_map, p) = build(&ModelConfig::tiny(40, 16, 8));
    let enc = p.encode_tensors(&images, None).unwrap();
    assert!(p.predicted_maps(&enc).is_err());
}

/// The camera head's targets, errors and pose round trip on hand-made cameras; a fresh head
/// puts every view at the first view's pose.
#[test]
fn camera_poses_relative_to_the_first_view() {
    use crate::model::camera_head::*;
    use glam::{Mat4, Quat, Vec3};
    let rows = |m: Mat4| crate::data::shard::extrinsics_from_mat4(m).to_vec();
    let camera0_from_world =
        Mat4::from_rotation_translation(Quat::from_rotation_z(0.3), Vec3::new(0.5, -1.0, 2.0));
    // View 1: 90° about the camera's y axis and 1 m along its x, relative to view 0.
    let camera1_from_camera0 = Mat4::from_rotation_translation(
        Quat::from_rotation_y(std::f32::consts::FRAC_PI_2),
        Vec3::X,
    );
    let camera1_from_world = camera1_from_camera0 * camera0_from_world;
    let extrinsics: Vec<f32> = [rows(camera0_from_world), rows(camera1_from_world)].concat();
    let t = relative_pose_targets(&extrinsics, 2);
    assert_eq!(t.len(), 14);
    let identity = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
    for (a, b) in t[..7].iter().zip(identity) {
        assert!((a - b).abs() < 1e-5, "{:?}", &t[..7]);
    }
    let half = std::f32::consts::FRAC_1_SQRT_2;
    for (a, b) in t[7..].iter().zip([1.0, 0.0, 0.0, half, 0.0, half, 0.0]) {
        assert!((a - b).abs() < 1e-4, "{:?}", &t[7..]);
    }
    assert!((rotation_error_deg(&t[..7], &t[7..]) - 90.0).abs() < 1e-2);
    assert!((translation_error_m(&t[..7], &t[7..]) - 1.0).abs() < 1e-5);
    // The pose gives back view 1's camera from view 0's.
    let back = pose_matrix(&t[7..]) * camera0_from_world;
    for (a, b) in rows(back).iter().zip(&extrinsics[12..]) {
        assert!((a - b).abs() < 1e-4);
    }
    // q and −q are one rotation: targets keep w ≥ 0.
    let q = canonical_quat(glam::Mat3::from_quat(-Quat::from_rotation_x(0.4)));
    assert!(q[0] > 0.0);
    // Short or non-finite cameras give no target.
    assert!(relative_pose_targets(&extrinsics[..20], 2).is_empty());
    let mut bad = extrinsics.clone();
    bad[13] = f32::NAN;
    assert!(relative_pose_targets(&bad, 2).is_empty());
    let dev = Device::Cpu;
    // A fresh head: every view at the first's pose, [B, S, 7].
    let cfg = ModelConfig {
        camera_head: true,
        ..tiny(40, 3, false)
    };
    let (_map, m) = build(&cfg);
    let images = Tensor::rand(0f32, 1.0, (1, 2, 3, 16, 16), &dev).unwrap();
    let enc = m.encode_tensors(&images, None).unwrap();
    let poses = m.camera_poses(&enc).unwrap().unwrap();
    assert_eq!(poses.len(), 2);
    for p in &poses {
        for (a, b) in p.iter().zip(identity) {
            assert!((a - b).abs() < 1e-6, "{p:?}");
        }
    }
    // Predicted cameras: view 1 takes view 0's camera composed with the head's pose of it —
    // with a fresh head, view 0's camera itself; view 0 keeps its own.
    let views = grey_views(extrinsics.clone());
    let moved = m.with_predicted_cameras(&enc, &views).unwrap();
    assert_eq!(moved.extrinsics[..12], extrinsics[..12]);
    for (a, b) in moved.extrinsics[12..].iter().zip(&extrinsics[..12]) {
        assert!((a - b).abs() < 1e-5, "{:?}", &moved.extrinsics[12..]);
    }
    // Without a head there are no poses, and no predicted cameras.
    let (_map, plain) = build(&tiny(40, 3, false));
    let enc = plain.encode_tensors(&images, None).unwrap();
    assert!(plain.camera_poses(&enc).unwrap().is_none());
    assert!(plain.with_predicted_cameras(&enc, &views).is_err());
}

/// A student looks again, in its per-class probabilities, for a category the question names
/// and it found no object of: the cells at least `min_probability` sure of it, grouped as
/// found objects are; the objects it finds are read after the scene's own.
#[test]
fn a_student_looks_again_for_what_the_question_names() {
    use crate::model::config::{LookAgain, ObjectSource, SceneInput, semantic_classes};
    use crate::model::vlm::SearchMaps;
    let of = |name: &str| {
        crate::scene::Category::ALL
            .iter()
            .position(|c| c.name() == name)
            .unwrap()
    };
    let (lamp, chair) = (of("lamp"), of("chair"));
    let k = semantic_classes();
    // One 16² view at 1 m (camera at the origin looking along +z): every cell most likely
    // background; a 4×4 lamp at probability 0.3 (rows 2..6, columns 2..6) and 2 lamp cells
    // at 0.25 far off (rows 12..13, column 12).
    let views = ViewBatch {
        views: 1,
        images: Vec::new(),
        intrinsics: vec![16.0, 0.0, 8.0, 0.0, 16.0, 8.0, 0.0, 0.0, 1.0],
        ..grey_views([1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0].to_vec())
    };
    let mut probability = vec![0.0f32; k * 16 * 16];
    probability[..16 * 16].fill(0.7);
    let mut set = |y: usize, x: usize, p: f32| {
        probability[(lamp + 1) * 256 + y * 16 + x] = p;
        probability[y * 16 + x] = 0.7 - p;
    };
    for y in 2..6 {
        for x in 2..6 {
            set(y, x, 0.3);
        }
    }
    set(12, 12, 0.25);
    set(13, 12, 0.25);
    let maps = PredictedMaps {
        depth_m: vec![1.0; 16 * 16],
        class: vec![0; 16 * 16],
        confidence: vec![0.7; 16 * 16],
        probability,
        class_size: 16,
        group_voxel_m: 0.1,
        min_px: None,
    };
    // The argmax maps show nothing; looking for lamps at ≥ 0.2 finds the 16-cell group (the
    // 2-cell one is smaller), scored 0.3; at ≥ 0.35 nothing; with 20 pixels asked, nothing.
    assert!(maps.objects(&views).is_empty());
    let all = maps.search(&views, lamp, 0.2, Some(2));
    assert_eq!(
        all.iter().map(|o| o.pixels).collect::<Vec<_>>(),
        vec![16, 2]
    );
    let found = maps.search(&views, lamp, 0.2, Some(4))[0].clone();
    assert_eq!((found.category, found.pixels), (lamp, 16));
    assert!((found.score - 0.3).abs() < 1e-6);
    // Columns 2..6 at 1 m with f = 16 and centre 8: x from -6/16 to -3/16 m.
    assert!(
        (found.min_m[0] + 6.0 / 16.0).abs() < 0.01 && (found.max_m[0] + 3.0 / 16.0).abs() < 0.01
    );
    assert!(maps.search(&views, lamp, 0.35, Some(4)).is_empty());
    assert!(maps.search(&views, lamp, 0.2, Some(20)).is_empty());
    // A chair, never likely anywhere, is not found; nor anything in maps without probabilities
    // or with a category past the maps' classes.
    assert!(maps.search(&views, chair, 0.2, Some(1)).is_empty());
    let bare = PredictedMaps {
        probability: Vec::new(),
        ..maps.clone()
    };
    assert!(bare.search(&views, lamp, 0.2, Some(1)).is_empty());
    assert!(maps.search(&views, k, 0.2, Some(1)).is_empty());

    // The model: a student that looks again at ≥ 0.2 and 4 pixels.
    let cfg = ModelConfig {
        scene_input: SceneInput::Objects,
        latent_probes: true,
        latent_pointers: true,
        hidden_cot_tokens: 3,
        semantic_classes: k,
        object_source: ObjectSource::Predicted,
        look_again: Some(LookAgain {
            min_probability: 0.2,
            min_px: 4,
        }),
        ..ModelConfig::tiny(40, 16, 8)
    };
    cfg.validate().unwrap();
    for bad in [
        LookAgain {
            min_probability: 0.0,
            min_px: 4,
        },
        LookAgain {
            min_probability: f32::NAN,
            min_px: 4,
        },
        LookAgain {
            min_probability: 0.2,
            min_px: 0,
        },
    ] {
        let c = ModelConfig {
            look_again: Some(bad),
            ..cfg.clone()
        };
        assert!(c.validate().unwrap_err().contains("look_again"), "{bad:?}");
    }
    let (_map, m) = build(&cfg);
    let (images, _) = m
        .view_tensors(&grey_views(views.extrinsics.repeat(2)))
        .unwrap();
    let enc = m.encode_tensors(&images, None).unwrap();
    let chair_token = crate::data::ObjectToken {
        id: 5,
        category: chair,
        min_m: [0.5, 0.0, 1.0],
        max_m: [0.8, 0.3, 1.2],
        pixels: 30,
        score: 0.9,
    };
    let scene = SceneTokens {
        embeds: m
            .object_embeds(&[std::slice::from_ref(&chair_token)], None)
            .unwrap(),
        encoder: enc,
        layout: crate::model::vlm::object_layout(std::slice::from_ref(&chair_token)),
        objects: vec![chair_token.clone()],
        camera0_from_world: glam::Mat4::IDENTITY,
        encode_ms: 0.0,
        search: Some(SearchMaps {
            maps,
            views: views.clone(),
            annotated: Vec::new(),
        }),
    };
    // A question naming the missing lamp: one lamp, with an id no scene object has (no
    // annotations to match here).
    let extra = m.look_again(&scene, "Is the chair near the lamp?");
    assert_eq!(extra.len(), 1);
    assert_eq!((extra[0].category, extra[0].id), (lamp, 6));
    // Nothing missing, or nothing named: nothing looked again for.
    assert!(
        m.look_again(&scene, "How many chairs are there?")
            .is_empty()
    );
    assert!(m.look_again(&scene, "What is in the room?").is_empty());
    // A model without look_again, or a scene without maps, does not look.
    let (_map2, plain) = build(&ModelConfig {
        look_again: None,
        ..cfg.clone()
    });
    assert!(
        plain
            .look_again(&scene, "Is the chair near the lamp?")
            .is_empty()
    );
    let no_maps = SceneTokens {
        search: None,
        ..scene.clone()
    };
    assert!(
        m.look_again(&no_maps, "Is the chair near the lamp?")
            .is_empty()
    );
    // The widened scene reads the chair, then the lamp.
    let wide = m.with_objects(&scene, &extra).unwrap();
    assert_eq!(wide.objects.len(), 2);
    assert_eq!(wide.embeds.dims(), &[1, 2, cfg.decoder.hidden_size]);
    assert_eq!(wide.layout.len(), 2);
    assert_eq!(wide.layout[1].object.as_ref().unwrap().category, lamp);
    assert!(wide.search.is_none());
    // Embedded as the two objects together (each token's geometry is about all of them).
    let both = [chair_token, extra[0].clone()];
    let expected = m.object_embeds(&[&both], None).unwrap();
    assert_eq!(
        wide.embeds.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        expected.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
}
