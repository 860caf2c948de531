//! Kiln bakes: recipes in, files out.
//!
//! [`BakePlan`] finds recipes and resolves their models; [`Baker`] generates every entry
//! (in parallel), writes each file atomically and records how it was made in a
//! [`BakeManifest`] next to the outputs. Nothing here knows Bevy.

mod atomic;
mod bake;
mod manifest;
mod models;
mod plan;

pub use atomic::write_atomic;
pub use bake::{
    ATLAS_FILE, BAKE_LOCK_FILE, BakeError, BakeEvent, BakeReport, Baker, EntryError, EntryFailure,
    SHEET_FILE,
};
pub use manifest::{BAKE_MANIFEST_FILE, BakeManifest, FileRecord};
pub use models::{ModelEntry, ModelRegistry};
pub use plan::{BakePlan, Job};

/// Version of Kiln recorded in every bake manifest.
pub const KILN_VERSION: &str = env!("CARGO_PKG_VERSION");
