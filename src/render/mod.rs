//! Training views: camera placement inside a room, a deterministic CPU rasteriser for RGB,
//! metric depth and instance ids, ScanNet's exported RGB-D frames where a scan has them, and
//! scan-like domain randomisation of views for training ([`scan_like`]). Cameras follow the
//! OpenCV convention VGGT uses (see [`camera`]).

pub mod camera;
pub mod frames;
pub mod placement;
pub mod raster;
pub mod scan_like;

pub use camera::{Camera, Intrinsics};
pub use placement::{PlacementOptions, place_cameras};
pub use raster::{Rasterizer, RenderOptions, RenderedView};

#[cfg(test)]
mod tests;
