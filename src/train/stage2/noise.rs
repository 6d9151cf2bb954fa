//! Question-word noise for stage 2 (word dropout): during training, each question token is
//! replaced, with a small probability, by a token drawn uniformly from the ordinary vocabulary,
//! so that the decoder learns to answer from the words it knows when a question also holds
//! words it never read — what a held-out wording is. Deterministic in (seed, step, question,
//! position), so a resumed run sees the same noise as an uninterrupted one; evaluation and the
//! app never add it.

/// Word noise of one training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WordNoise {
    /// Probability that a question token is replaced.
    pub p: f32,
    /// Mixes the run's seed and the step.
    pub seed: u64,
    /// Replacement tokens are drawn from `first_id..vocab` (the special tokens come first).
    pub first_id: u32,
    /// Size of the vocabulary.
    pub vocab: u32,
}

/// SplitMix64: a well-mixed 64-bit hash of `x`.
pub(super) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl WordNoise {
    /// The noise of step `step` of a run seeded `seed`; `None` when `p` is 0 or there is no
    /// ordinary token to draw.
    pub fn at_step(p: f32, seed: u64, step: usize, first_id: u32, vocab: u32) -> Option<Self> {
        (p > 0.0 && first_id < vocab).then(|| WordNoise {
            p: p.min(1.0),
            seed: mix(seed ^ mix(step as u64)),
            first_id,
            vocab,
        })
    }

    /// `question` (token ids) of the cached question `index`, with its noise applied.
    pub fn apply(&self, question: &[u32], index: usize) -> Vec<u32> {
        let key = mix(self.seed ^ mix(index as u64));
        question
            .iter()
            .enumerate()
            .map(|(j, &id)| {
                let h = mix(key ^ j as u64);
                // The top 24 bits decide, the rest pick the replacement.
                let u = (h >> 40) as f32 / (1u64 << 24) as f32;
                if u < self.p {
                    self.first_id + (h % u64::from(self.vocab - self.first_id)) as u32
                } else {
                    id
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::WordNoise;

    #[test]
    fn word_noise_replaces_the_asked_share_deterministically() {
        let question: Vec<u32> = (0..20_000).map(|i| 5 + i % 300).collect();
        let noise = WordNoise::at_step(0.1, 7, 3, 5, 600).unwrap();
        let a = noise.apply(&question, 42);
        // Deterministic for the same step and question; another step or question differs.
        assert_eq!(a, noise.apply(&question, 42));
        assert_ne!(a, noise.apply(&question, 43));
        let other = WordNoise::at_step(0.1, 7, 4, 5, 600).unwrap();
        assert_ne!(a, other.apply(&question, 42));
        // About 10% of the tokens change (a replacement draws the original id 1 time in 595).
        let changed = a.iter().zip(&question).filter(|(x, y)| x != y).count();
        let share = changed as f64 / question.len() as f64;
        assert!((0.085..0.105).contains(&share), "{share}");
        // Replacements are ordinary tokens: never a special one, never past the vocabulary.
        assert!(a.iter().all(|&id| (5..600).contains(&id)));
        // No noise: nothing to build; p = 1 replaces every token's draw.
        assert!(WordNoise::at_step(0.0, 7, 3, 5, 600).is_none());
        assert!(WordNoise::at_step(0.1, 7, 3, 600, 600).is_none());
        let all = WordNoise::at_step(1.0, 7, 3, 5, 600).unwrap();
        let b = all.apply(&question, 42);
        let kept = b.iter().zip(&question).filter(|(x, y)| x == y).count();
        assert!(kept < question.len() / 100, "{kept} kept");
    }
}
