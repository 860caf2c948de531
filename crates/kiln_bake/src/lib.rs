//! Kiln bakes: recipes in, files out.
//!
//! [`BakePlan`] finds recipes (and splits them into [`Shard`]s); [`Baker`] generates every
//! entry that is not up to date (in parallel), writes each file atomically and records how it
//! was made in the folder's [`BakeManifest`], which doubles as the lockfile for incremental
//! bakes and [`Baker::verify`]. [`merge`] joins sharded bakes. Nothing here knows Bevy.

mod atomic;
mod bake;
pub mod lockfile;
mod manifest;
mod merge;
mod models;
mod plan;
mod render;
mod verify;

pub use atomic::write_atomic;
pub use bake::{
    ATLAS_FILE, BAKE_LOCK_FILE, BakeError, BakeEvent, BakeReport, Baker, EntryError, EntryFailure,
    EntryStatus, Preview, Prune, SHEET_FILE,
};
pub use lockfile::{BAKE_JOURNAL_FILE, Lockfile};
pub use manifest::{BAKE_MANIFEST_FILE, BakeManifest, EntryLock, FileRecord, ManifestError};
pub use merge::{MergeError, MergeReport, merge};
pub use models::{ModelEntry, ModelRegistry};
pub use plan::{BakePlan, Job, Shard, recipe_files};
pub use render::{EntryFile, STRINGS_JSON, STRINGS_RON};
pub use verify::{Finding, VerifyReport};

/// Version of Kiln recorded in every bake manifest.
pub const KILN_VERSION: &str = env!("CARGO_PKG_VERSION");
