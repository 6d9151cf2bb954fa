//! Spatia: ask a small vision-language model spatial questions about 3D indoor scenes, see why
//! it answered, and train it by distillation from a larger teacher.
//!
//! Layers (see `docs/ARCHITECTURE.md`); each depends only on the ones below it:
//! - [`scene`]: the scene model, loaders and writers for ScanNet / 3D-FRONT / PLY, and the
//!   procedural scene generator.
//! - [`spatial`]: relations between objects (distance, contact, support, direction, size).
//! - [`questions`]: question generation, scoring, question files, SQA3D / ScanQA import.
//! - [`render`]: cameras, camera placement, the CPU rasteriser, ScanNet RGB-D frames.
//! - [`data`]: training shards and the `gen-data` build.
//! - `viewer` (feature `viewer`): the Bevy app.
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod data;
pub mod eval;
pub mod model;
pub mod questions;
pub mod render;
pub mod scene;
pub mod spatial;
#[cfg(test)]
pub(crate) mod test_scenes;
pub mod train;
#[cfg(feature = "viewer")]
pub mod viewer;
pub mod worker;
