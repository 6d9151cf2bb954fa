//! Where a model's scene encoding spends its time, per test scene of a dataset: the view tensors,
//! the encoder, the depth head's maps (depth and categories, a model that finds its own objects)
//! and the grouping of found objects, then `encode` as a whole. `CANDLE_NUM_THREADS=1 cargo run
//! --release --no-default-features --example encode_profile -- MODEL_DIR DATASET [N]`.

use std::time::Instant;

use spatia::data::{Dataset, Split};
use spatia::model::{DeviceChoice, ViewBatch, load_model, select_device};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: encode_profile MODEL_DIR DATASET [N]";
    let model_dir = args.next().ok_or(usage)?;
    let data = args.next().ok_or(usage)?;
    let n: usize = args.next().map_or(Ok(10), |s| s.parse())?;
    let loaded = load_model(
        std::path::Path::new(&model_dir),
        &select_device(DeviceChoice::Cpu)?,
    )?;
    let m = &loaded.model;
    let ds = Dataset::open(std::path::Path::new(&data))?;
    // Milliseconds summed over scenes: views, encoder, maps, grouping, encode().
    let mut t = [0f64; 5];
    let keys: Vec<_> = ds.scenes(Split::Test).iter().take(n).cloned().collect();
    let ms = |s: Instant| s.elapsed().as_secs_f64() * 1000.0;
    for key in &keys {
        let (shard, _) = ds.load(Split::Test, key)?;
        let views = ViewBatch::from_shard(&shard);
        let s = Instant::now();
        let (images, points) = m.view_tensors(&views)?;
        t[0] += ms(s);
        let s = Instant::now();
        let enc = m.encode_tensors(&images, points.as_ref())?;
        t[1] += ms(s);
        // A model that reads annotated objects has no maps to find objects with.
        let s = Instant::now();
        if let Ok(maps) = m.predicted_maps(&enc) {
            t[2] += ms(s);
            let s = Instant::now();
            maps.objects(&views);
            t[3] += ms(s);
        }
        let s = Instant::now();
        m.encode(&views)?;
        t[4] += ms(s);
    }
    let k = keys.len().max(1) as f64;
    println!(
        "{model_dir}: {} scenes, ms per scene: views {:.1}, encoder {:.1}, depth + category maps \
         {:.1}, grouping {:.1}; encode() {:.1}",
        keys.len(),
        t[0] / k,
        t[1] / k,
        t[2] / k,
        t[3] / k,
        t[4] / k
    );
    Ok(())
}
