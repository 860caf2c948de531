//! Kiln's one generation engine, shared by `kiln bake`, the Bevy plugin and the editor.
//!
//! A model's files come from disk ([`ModelRegistry`]) or as bytes (Bevy's `models://` source)
//! as [`ModelFiles`]; an [`Engine`] (one per set of [`SessionOptions`], see [`Engines`]) loads
//! them into a [`Model`], whose [`Model::make`] generates an entry's variants as a typed
//! [`Made`]: pixels with their metrics, strings, loops. Encoding and writing files
//! (`kiln_bake`) and turning results into assets (`bevy_kiln`) happen above this crate;
//! nothing here knows files of outputs or Bevy.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use kiln_engine::{Engine, ModelRegistry, seeds};
//! use kiln_onnx::{HashCheck, ProviderPolicy, SessionOptions};
//! use kiln_recipe::Recipe;
//!
//! let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/models");
//! let recipe = Recipe::from_str(
//!     r#"(assets: { "floor": (model: "tiny_texture", seed: 7, variants: 2,
//!            kind: Texture(size: (32, 16), class: "moss")) })"#,
//!     "level.kiln.ron".as_ref(),
//! )?;
//! let entry = &recipe.assets["floor"];
//! let engine = Engine::new(SessionOptions { policy: ProviderPolicy::Cpu, intra_threads: Some(1), sessions_per_model: 1 })?;
//! let files = ModelRegistry::new(fixtures).read(&entry.model)?;
//! let model = engine.load(&files, HashCheck::Strict)?;
//! let made = model.make("floor", entry, &seeds(entry, 0), &|_| {})?;
//! assert_eq!(made.seeds, [7, 8]);
//! assert_eq!(made.len(), 2);
//! # Ok(())
//! # }
//! ```

mod credits;
mod engine;
mod error;
mod made;
mod source;

pub use credits::{Credits, ModelCredit};
pub use engine::{Engine, Engines, Model};
pub use error::{EngineError, EntryFailed};
pub use made::{Content, Made};
pub use source::{ModelEntry, ModelFiles, ModelRegistry};

pub use kiln_onnx::{HashCheck, SessionOptions};

use kiln_recipe::AssetEntry;

/// The seed of variant `variant` of an entry whose seed is `seed`: `seed + variant`
/// (wrapping). The one seed rule of bakes, the plugin and the editor.
pub fn variant_seed(seed: u64, variant: u32) -> u64 {
    seed.wrapping_add(u64::from(variant))
}

/// The seeds of every variant of `entry`, its seed first moved by `offset` (a game's
/// "regenerate" offset; 0 for bakes).
pub fn seeds(entry: &AssetEntry, offset: u64) -> Vec<u64> {
    let first = entry.seed.wrapping_add(offset);
    (0..entry.variants.get())
        .map(|variant| variant_seed(first, variant))
        .collect()
}
