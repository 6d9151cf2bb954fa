//! Counting statistics for reports: Wilson intervals and the majority-answer chance level.

use std::collections::BTreeMap;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The 95% Wilson score interval of `k` successes in `n` trials, `[lo, hi]` (`[0, 1]` when
/// `n` is 0).
pub fn wilson95(k: usize, n: usize) -> [f32; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    [
        (centre - half).max(0.0) as f32,
        (centre + half).min(1.0) as f32,
    ]
}

/// The accuracy of always giving the most common reference answer of `answers` (after
/// normalisation by the caller): the chance level of a category.
pub fn majority_share<'a>(answers: impl IntoIterator<Item = &'a str>) -> f32 {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut n = 0;
    for a in answers {
        *counts.entry(a).or_insert(0) += 1;
        n += 1;
    }
    let top = counts.values().copied().max().unwrap_or(0);
    top as f32 / n.max(1) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_a_hand_computation() {
        // 40 of 50: p = 0.8, z = 1.96. centre = (0.8 + 3.8415/100) / (1 + 3.8415/50)
        // = 0.838415 / 1.07683 = 0.778594; half = 1.96/1.07683 * sqrt(0.0032 + 3.8415/10000)
        // = 1.820117 * 0.059871 = 0.108972 → [0.6696, 0.8876].
        let [lo, hi] = wilson95(40, 50);
        assert!((lo - 0.6696).abs() < 5e-4, "{lo}");
        assert!((hi - 0.8876).abs() < 5e-4, "{hi}");
        // Symmetric around 0.5 for k = n/2; never outside [0, 1].
        let [lo, hi] = wilson95(200, 400);
        assert!((lo + hi - 1.0).abs() < 1e-5 && (hi - lo - 0.0974).abs() < 1e-3);
        assert_eq!(wilson95(0, 10)[0], 0.0);
        assert_eq!(wilson95(10, 10)[1], 1.0);
        assert_eq!(wilson95(0, 0), [0.0, 1.0]);
    }

    #[test]
    fn majority_share_is_the_most_common_answers_share() {
        assert_eq!(majority_share(["yes", "no", "yes", "yes"]), 0.75);
        assert_eq!(majority_share(Vec::<&str>::new()), 0.0);
    }
}
