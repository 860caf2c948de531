//! Kiln's file formats: recipes (`*.kiln.ron`) and model manifests (`model.ron`).
//!
//! Both are RON. Loading rejects unknown fields and out-of-range values, and every
//! error names the file, line and column together with what would be accepted:
//!
//! ```
//! let err = kiln_recipe::Recipe::from_str(
//!     "(assets: { \"floor\": (model: \"stone\", seed: 1, variants: 0,
//!        kind: Texture(size: (64, 64))) })",
//!     "dungeon.kiln.ron".as_ref(),
//! )
//! .unwrap_err();
//! assert!(err.to_string().starts_with("dungeon.kiln.ron:1:"));
//! assert!(err.to_string().contains("between 1 and 256"));
//! ```

mod bounded;
mod edit;
mod error;
mod licences;
mod manifest;
mod recipe;
mod ron_file;

pub use bounded::Bounded;
pub use edit::replace_entry;
pub use error::LoadError;
pub use licences::{LICENCE_POLICY_FILE, LicencePolicy};
pub use manifest::{
    ChannelLayout, ConstantInput, DRAFT_MARKER, DataSource, Dim, ElementType, ImageContract,
    ImageLayout, MANIFEST_FILE_NAME, ModelKind, ModelManifest, Novelty, PixelBlock, PixelGrid,
    Provenance, SequenceContract, TensorSpec, draft_lines,
};
pub use recipe::{
    AssetEntry, AssetKind, BarCount, CandidateCount, CompletionParams, Instrument, Instruments,
    Mode, MusicParams, OutputPath, PaletteSize, RECIPE_EXTENSION, Recipe, Sampling, Scale, Side,
    Size, SpriteParams, Tempo, TextParams, TextureParams, TokenCount, VariantCount, WordCount,
};
