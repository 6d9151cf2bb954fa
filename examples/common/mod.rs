//! What the perception examples share: their command line `MODEL_DIR DATASET [N] [SPLIT]`.

use spatia::data::{Dataset, Split};
use spatia::model::{DeviceChoice, LoadedModel, load_model, select_device};

/// The model (on the CPU), the dataset, the number of rooms (`default_n` when not given) and
/// the split (`default_split` when not given) of `MODEL_DIR DATASET [N] [SPLIT]`; `usage` is the
/// error when an argument is missing or malformed.
pub fn model_data_rooms_split(
    usage: &'static str,
    default_n: usize,
    default_split: Split,
) -> Result<(LoadedModel, Dataset, usize, Split), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model_dir = args.next().ok_or(usage)?;
    let data = args.next().ok_or(usage)?;
    let n: usize = args.next().map_or(Ok(default_n), |s| s.parse())?;
    let split = match args.next().as_deref() {
        None => default_split,
        Some(name) => Split::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or(usage)?,
    };
    let loaded = load_model(
        std::path::Path::new(&model_dir),
        &select_device(DeviceChoice::Cpu)?,
    )?;
    let dataset = Dataset::open(std::path::Path::new(&data))?;
    Ok((loaded, dataset, n, split))
}
