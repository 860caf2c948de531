//! Kiln's generators: drive ONNX generator models and turn their tensors into content.
//!
//! Generators take a [`ModelSession`](kiln_onnx::ModelSession) and its manifest; they know
//! nothing of files, recipes on disk or Bevy, so the CLI, the plugin and the editor share them.

pub mod art_palette;
mod image_gen;
mod noise;
pub mod pixel_art;
pub mod sprite;
pub mod texture;

pub use art_palette::{ArtPalettes, Palette};
pub use image_gen::{GenerateError, ImageGenerator, ImageRequest, MAX_BATCH, MAX_BATCH_PIXELS};
pub use noise::gaussian;
pub use sprite::{AtlasLayout, AtlasRect, SpriteSet, finish_sprites, make_sprites};
pub use texture::{Texture, make_textures, seam_score};
