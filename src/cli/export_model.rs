//! `spatia export-model --from CHECKPOINT --to DIR [--f32]`: a checkpoint as a plain model
//! folder (what `models/` ships).

use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Source model folder (a training checkpoint is one).
    #[arg(long)]
    from: PathBuf,
    /// Destination folder (replaced).
    #[arg(long)]
    to: PathBuf,
    /// Keep f32 weights instead of converting to f16.
    #[arg(long)]
    f32: bool,
}

pub fn run(a: &ExportArgs) -> anyhow::Result<()> {
    let dtype = if a.f32 {
        candle_core::DType::F32
    } else {
        candle_core::DType::F16
    };
    spatia::model::checkpoint::export_model(&a.from, &a.to, dtype)?;
    println!("{} -> {} ({dtype:?})", a.from.display(), a.to.display());
    Ok(())
}
