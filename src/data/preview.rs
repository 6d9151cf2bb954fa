//! A picture of a shard for people: one column per view; rows RGB, depth (near bright, far
//! dark, black = none) and instance ids in distinct colours.

use std::path::Path;

use super::shard::SceneShard;
use crate::scene::SceneError;

/// Writes `shard`'s preview PNG to `path`.
pub fn write_preview(shard: &SceneShard, path: &Path) -> Result<(), SceneError> {
    let s = shard.size as usize;
    let (w, h) = (s * shard.views, s * 3);
    let mut img = image::RgbImage::new(w as u32, h as u32);
    let max_depth = shard.depth.iter().copied().fold(0.0f32, f32::max).max(1e-3);
    for v in 0..shard.views {
        for y in 0..s {
            for x in 0..s {
                let i = v * s * s + y * s + x;
                let px = (v * s + x) as u32;
                let rgb = [
                    shard.images[i * 3],
                    shard.images[i * 3 + 1],
                    shard.images[i * 3 + 2],
                ];
                img.put_pixel(px, y as u32, image::Rgb(rgb));
                let d = shard.depth[i];
                let g = if d > 0.0 {
                    (255.0 * (1.0 - 0.85 * d / max_depth)) as u8
                } else {
                    0
                };
                img.put_pixel(px, (s + y) as u32, image::Rgb([g, g, g]));
                let id = shard.instance[i];
                let c = if id < 0 {
                    [0, 0, 0]
                } else {
                    let h = (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    [
                        (h >> 56) as u8 | 0x30,
                        (h >> 48) as u8 | 0x30,
                        (h >> 40) as u8 | 0x30,
                    ]
                };
                img.put_pixel(px, (2 * s + y) as u32, image::Rgb(c));
            }
        }
    }
    img.save(path)
        .map_err(|e| SceneError::invalid(path, format!("cannot write PNG: {e}")))
}
