//! Size and speed of model presets, for `spatia bench-models` (figures in docs/RESULTS.md).

use std::time::Instant;

use candle_core::Tensor;

use super::ModelError;
use super::decoder::KvCache;
use super::vlm::{SceneTokens, SpatialVlm};

/// Per-answer latency with the scene cached: the prompt (scene tokens, question, Hidden CoT,
/// `<ans>`) and `steps` generated tokens, milliseconds; the median of `repeats` runs.
pub fn answer_latency_ms(
    model: &SpatialVlm,
    scene: &SceneTokens,
    question_ids: &[u32],
    steps: usize,
    repeats: usize,
) -> Result<f64, ModelError> {
    let mut times = Vec::new();
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let (prompt, _) = model.prompt(&scene.embeds, question_ids, 2, 4)?;
        let mut cache = KvCache::default();
        let (mut logits, _) = model
            .decoder()
            .forward(&prompt, Some(&mut cache), None, false)?;
        for _ in 0..steps {
            let (id, _) = super::decoder::greedy(&logits)?;
            let x = model
                .decoder()
                .embed(&Tensor::new(&[id], model.device())?.unsqueeze(0)?)?;
            logits = model
                .decoder()
                .forward(&x, Some(&mut cache), None, false)?
                .0;
        }
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
