//! `spatia gen-cloud OUT.ply --points N`: writes the big point clouds the viewer and loader
//! benchmarks use, so anyone can reproduce their figures.

use std::path::PathBuf;

use spatia::scene::ply::PlyEncoding;
use spatia::scene::procgen::clouds::{CloudKind, write_cloud};

#[derive(clap::Args, Debug)]
pub struct GenCloudArgs {
    /// The PLY file to write.
    pub out: PathBuf,
    /// Number of points.
    #[arg(long, default_value_t = 5_000_000)]
    pub points: usize,
    /// volume: points filling a 6 x 5 x 3 m box (bench-view's cloud); room: the floor, walls
    /// and a table of such a room, like a scan.
    #[arg(long, value_enum, default_value_t = Kind::Room)]
    pub kind: Kind,
    /// Encoding.
    #[arg(long, value_enum, default_value_t = Encoding::BinaryLittleEndian)]
    pub encoding: Encoding,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Volume,
    Room,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    BinaryLittleEndian,
    BinaryBigEndian,
    Ascii,
}

/// Most points written (a 200 M point cloud is 3 GB).
const MAX_POINTS: usize = 200_000_000;

pub fn run(args: &GenCloudArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=MAX_POINTS).contains(&args.points),
        "--points must be between 1 and {MAX_POINTS}, got {}",
        args.points
    );
    let kind = match args.kind {
        Kind::Volume => CloudKind::Volume,
        Kind::Room => CloudKind::Room,
    };
    let encoding = match args.encoding {
        Encoding::BinaryLittleEndian => PlyEncoding::BinaryLittleEndian,
        Encoding::BinaryBigEndian => PlyEncoding::BinaryBigEndian,
        Encoding::Ascii => PlyEncoding::Ascii,
    };
    write_cloud(&args.out, args.points, kind, encoding)?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}: {} points, {:.1} MB",
        args.out.display(),
        args.points,
        bytes as f64 / 1e6
    );
    Ok(())
}
