//! Scan-like domain randomisation of a rendered view: what separates a generated room's clean
//! render from a view of a real scan's reconstructed mesh (ScanNet) — holes where the
//! reconstruction has no surface (black, no depth, no object), texture-like low-frequency
//! shading, colour casts and exposure, blur and sensor noise. Stage 1 applies it to training
//! views on the fly (`spatia train perception --scan-like P`), seeded by step, scene and view so
//! that a resumed run sees the same pixels as an uninterrupted one.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::raster::NO_INSTANCE;

/// One square view's buffers, changed in place.
#[derive(Debug)]
pub struct ViewBuffers<'a> {
    /// Side, pixels.
    pub side: usize,
    /// RGB, row-major, 3 bytes per pixel.
    pub rgb: &'a mut [u8],
    /// Depth, metres; 0 where there is no surface.
    pub depth_m: &'a mut [f32],
    /// Object id per pixel, [`NO_INSTANCE`] where none.
    pub instance: &'a mut [i32],
}

/// Most holes a view gets.
pub const MAX_HOLES: usize = 3;

/// Applies the scan-like changes to `view`, drawn from `seed`; returns the number of pixels made
/// holes. Buffers whose lengths disagree with `side` are left untouched (returns `None`).
pub fn scan_like_view(view: &mut ViewBuffers<'_>, seed: u64) -> Option<usize> {
    let side = view.side;
    let n = side * side;
    if side == 0 || view.rgb.len() != n * 3 || view.depth_m.len() != n || view.instance.len() != n {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    shade(view.rgb, side, &mut rng);
    if rng.random_bool(0.5) {
        box_blur(view.rgb, side);
    }
    let sigma = rng.random_range(0.0..6.0f32);
    for v in view.rgb.iter_mut() {
        let noise = sigma * gaussian(&mut rng);
        *v = (f32::from(*v) + noise).round().clamp(0.0, 255.0) as u8;
    }
    Some(punch_holes(view, &mut rng))
}

/// Gives every object (instance id; pixels of no object are left alone) one random colour in
/// all the views of `rgb` [V·N, 3] with ids `instance` [V·N], keeping each pixel's shading: its
/// brightness relative to its object's mean brightness scales the new colour, mixed with the old
/// by a random share between a half and all. Returns the objects recoloured; buffers of
/// disagreeing lengths are left alone (0).
pub fn recolour_objects(rgb: &mut [u8], instance: &[i32], seed: u64) -> usize {
    if rgb.len() != instance.len() * 3 {
        return 0;
    }
    let luma =
        |p: &[u8]| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
    // Object id → (Σ brightness, pixels); each object's look is drawn from the seed and its id,
    // so the order of this map does not matter.
    let mut sums: std::collections::HashMap<i32, (f32, u32)> = std::collections::HashMap::new();
    for (p, &id) in rgb.chunks_exact(3).zip(instance) {
        if id != NO_INSTANCE {
            let e = sums.entry(id).or_insert((0.0, 0));
            e.0 += luma(p);
            e.1 += 1;
        }
    }
    let mut ids: Vec<i32> = sums.keys().copied().collect();
    ids.sort_unstable();
    let looks: std::collections::HashMap<i32, ([f32; 3], f32, f32)> = ids
        .iter()
        .map(|&id| {
            let mut rng =
                ChaCha8Rng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0xA24B_AED4_963E_E407));
            let colour = [0, 1, 2].map(|_| rng.random_range(20.0..235.0f32));
            let mix = rng.random_range(0.5..=1.0f32);
            let (sum, n) = sums[&id];
            (id, (colour, mix, (sum / n.max(1) as f32).max(1.0)))
        })
        .collect();
    for (p, id) in rgb.chunks_exact_mut(3).zip(instance) {
        let Some(&(colour, mix, mean)) = looks.get(id) else {
            continue;
        };
        let shade = (luma(p) / mean).clamp(0.0, 2.5);
        for k in 0..3 {
            let v = (1.0 - mix) * f32::from(p[k]) + mix * colour[k] * shade;
            p[k] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    ids.len()
}

/// Texture-like low-frequency shading (a coarse random grid of brightness factors, bilinearly
/// upsampled), then a per-view colour cast, exposure, contrast and saturation.
fn shade(rgb: &mut [u8], side: usize, rng: &mut ChaCha8Rng) {
    let grid = rng.random_range(3..9usize);
    let amp = rng.random_range(0.05..0.25f32);
    let factors: Vec<f32> = (0..(grid + 1) * (grid + 1))
        .map(|_| 1.0 + amp * (2.0 * rng.random::<f32>() - 1.0))
        .collect();
    let gain = [0, 1, 2].map(|_| rng.random_range(0.85..1.15f32));
    let offset = rng.random_range(-20.0..20.0f32);
    let contrast = rng.random_range(0.7..1.3f32);
    let saturation = rng.random_range(0.5..1.2f32);
    let scale = grid as f32 / side.max(2).saturating_sub(1) as f32;
    for y in 0..side {
        let gy = y as f32 * scale;
        let (y0, ty) = ((gy as usize).min(grid - 1), gy.fract());
        for x in 0..side {
            let gx = x as f32 * scale;
            let (x0, tx) = ((gx as usize).min(grid - 1), gx.fract());
            let at = |i: usize, j: usize| factors[i * (grid + 1) + j];
            let f = (at(y0, x0) * (1.0 - tx) + at(y0, x0 + 1) * tx) * (1.0 - ty)
                + (at(y0 + 1, x0) * (1.0 - tx) + at(y0 + 1, x0 + 1) * tx) * ty;
            let p = &mut rgb[(y * side + x) * 3..(y * side + x) * 3 + 3];
            let c = [0, 1, 2].map(|k| f32::from(p[k]) * f * gain[k]);
            let grey = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
            for k in 0..3 {
                let saturated = grey + saturation * (c[k] - grey);
                let v = 128.0 + contrast * (saturated - 128.0) + offset;
                p[k] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// One pass of a 3×3 box blur (edges use the pixels inside the image).
fn box_blur(rgb: &mut [u8], side: usize) {
    let src = rgb.to_vec();
    for y in 0..side {
        for x in 0..side {
            for k in 0..3 {
                let (mut sum, mut count) = (0u32, 0u32);
                for yy in y.saturating_sub(1)..(y + 2).min(side) {
                    for xx in x.saturating_sub(1)..(x + 2).min(side) {
                        sum += u32::from(src[(yy * side + xx) * 3 + k]);
                        count += 1;
                    }
                }
                rgb[(y * side + x) * 3 + k] = ((sum + count / 2) / count) as u8;
            }
        }
    }
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut ChaCha8Rng) -> f32 {
    let u1 = rng.random::<f32>().max(1e-7);
    let u2 = rng.random::<f32>();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// Up to [`MAX_HOLES`] irregular blobs (an ellipse whose radius wobbles with angle), mostly in
/// the lower half where a scan's floor is, made black with no depth and no object, as a
/// reconstruction's missing surface renders. Returns the pixels changed.
fn punch_holes(view: &mut ViewBuffers<'_>, rng: &mut ChaCha8Rng) -> usize {
    let side = view.side as f32;
    let holes = rng.random_range(0..=MAX_HOLES);
    let mut changed = 0;
    for _ in 0..holes {
        let cx = rng.random_range(0.0..side);
        let cy = if rng.random_bool(0.7) {
            rng.random_range(0.5 * side..side)
        } else {
            rng.random_range(0.0..side)
        };
        let rx = rng.random_range(0.04..0.16f32) * side;
        let ry = rng.random_range(0.04..0.16f32) * side;
        let turn = rng.random_range(0.0..std::f32::consts::PI);
        let wobble = [0, 1, 2].map(|_| rng.random_range(-0.3..0.3f32));
        let phase = [0, 1, 2].map(|_| rng.random_range(0.0..std::f32::consts::TAU));
        let reach = rx.max(ry) * 1.6;
        let (x0, x1) = (
            (cx - reach).max(0.0) as usize,
            (cx + reach).min(side) as usize,
        );
        let (y0, y1) = (
            (cy - reach).max(0.0) as usize,
            (cy + reach).min(side) as usize,
        );
        for y in y0..y1 {
            for x in x0..x1 {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let (u, v) = (
                    dx * turn.cos() + dy * turn.sin(),
                    -dx * turn.sin() + dy * turn.cos(),
                );
                let angle = v.atan2(u);
                let radius = 1.0
                    + (0..3)
                        .map(|k| wobble[k] * ((k + 2) as f32 * angle + phase[k]).sin())
                        .sum::<f32>();
                if (u / rx).powi(2) + (v / ry).powi(2) <= radius * radius {
                    let i = y * view.side + x;
                    if view.depth_m[i] != 0.0 || view.rgb[i * 3..i * 3 + 3] != [0, 0, 0] {
                        changed += 1;
                    }
                    view.rgb[i * 3..i * 3 + 3].fill(0);
                    view.depth_m[i] = 0.0;
                    view.instance[i] = NO_INSTANCE;
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view_of(side: usize) -> (Vec<u8>, Vec<f32>, Vec<i32>) {
        let n = side * side;
        let rgb = (0..n * 3).map(|i| (40 + (i * 7) % 170) as u8).collect();
        (rgb, vec![2.5; n], (0..n as i32).map(|i| i % 5).collect())
    }

    fn apply(side: usize, seed: u64) -> (Vec<u8>, Vec<f32>, Vec<i32>, Option<usize>) {
        let (mut rgb, mut depth, mut instance) = view_of(side);
        let holes = scan_like_view(
            &mut ViewBuffers {
                side,
                rgb: &mut rgb,
                depth_m: &mut depth,
                instance: &mut instance,
            },
            seed,
        );
        (rgb, depth, instance, holes)
    }

    #[test]
    fn holes_are_black_without_depth_or_object_and_nothing_else_loses_its_labels() {
        let side = 64;
        let (_, depth0, instance0) = view_of(side);
        let mut seen_holes = 0;
        for seed in 0..20 {
            let (rgb, depth, instance, holes) = apply(side, seed);
            let holes = holes.expect("buffers agree with the side");
            let mut zero = 0;
            for i in 0..side * side {
                if depth[i] == 0.0 {
                    zero += 1;
                    assert_eq!(&rgb[i * 3..i * 3 + 3], &[0, 0, 0], "seed {seed} pixel {i}");
                    assert_eq!(instance[i], NO_INSTANCE);
                } else {
                    assert_eq!(depth[i], depth0[i], "depth outside holes is untouched");
                    assert_eq!(instance[i], instance0[i]);
                }
            }
            assert_eq!(zero, holes, "seed {seed}: the count names the hole pixels");
            assert!(zero < side * side / 3, "seed {seed}: holes cover {zero} px");
            seen_holes += usize::from(zero > 0);
        }
        assert!(seen_holes >= 10, "only {seen_holes} of 20 views got holes");
    }

    #[test]
    fn the_change_is_seeded_and_keeps_the_picture() {
        let side = 48;
        let (a, ..) = apply(side, 7);
        let (b, ..) = apply(side, 7);
        let (c, ..) = apply(side, 8);
        assert_eq!(a, b, "one seed, one result");
        assert_ne!(a, c, "another seed, another result");
        let (orig, ..) = view_of(side);
        // Outside holes, colours move (shading, cast, noise) but stay correlated with the
        // original: the mean absolute change is bounded well below the values' spread.
        let (mut diff, mut n) = (0.0f64, 0);
        for (p, q) in a.chunks(3).zip(orig.chunks(3)) {
            if p != [0, 0, 0] {
                for k in 0..3 {
                    diff += (f64::from(p[k]) - f64::from(q[k])).abs();
                }
                n += 3;
            }
        }
        let mean = diff / n as f64;
        assert!(mean > 1.0 && mean < 60.0, "mean change {mean}");
    }

    #[test]
    fn objects_take_one_new_colour_in_every_view_and_keep_their_shading() {
        // Two views of 4 pixels: object 1 twice per view (bright and dark), object 2, none.
        let rgb: Vec<u8> = [[200, 200, 200], [100, 100, 100], [50, 80, 120], [9, 9, 9]]
            .repeat(2)
            .concat();
        let instance = [1, 1, 2, NO_INSTANCE].repeat(2);
        let mut a = rgb.clone();
        assert_eq!(recolour_objects(&mut a, &instance, 5), 2);
        let px = |buf: &[u8], i: usize| [buf[i * 3], buf[i * 3 + 1], buf[i * 3 + 2]];
        assert_eq!(
            px(&a, 3),
            [9, 9, 9],
            "pixels of no object keep their colour"
        );
        assert_eq!(px(&a, 0), px(&a, 4), "one object, one colour in every view");
        assert_eq!(px(&a, 2), px(&a, 6));
        assert_ne!(a, rgb);
        let luma = |p: [u8; 3]| p.iter().map(|&c| f32::from(c)).sum::<f32>();
        assert!(
            luma(px(&a, 0)) > luma(px(&a, 1)),
            "the bright pixel stays brighter"
        );
        let mut b = rgb.clone();
        recolour_objects(&mut b, &instance, 5);
        assert_eq!(a, b, "seeded");
        let mut c = rgb.clone();
        recolour_objects(&mut c, &instance, 6);
        assert_ne!(a, c);
        assert_eq!(
            recolour_objects(&mut c[..5], &instance, 6),
            0,
            "lengths disagree"
        );
    }

    #[test]
    fn buffers_of_the_wrong_size_are_left_alone() {
        let (mut rgb, mut depth, mut instance) = view_of(16);
        let before = rgb.clone();
        let out = scan_like_view(
            &mut ViewBuffers {
                side: 17,
                rgb: &mut rgb,
                depth_m: &mut depth,
                instance: &mut instance,
            },
            1,
        );
        assert_eq!(out, None);
        assert_eq!(rgb, before);
    }
}
