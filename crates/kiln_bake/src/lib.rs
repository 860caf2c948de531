//! Kiln bakes: recipes in, files out.
//!
//! [`BakePlan`] finds recipes (and splits them into [`Shard`]s); [`Baker`] generates every
//! entry that is not up to date (in parallel) with the [`kiln_engine`], encodes what it made,
//! writes each file atomically and records how it was made in the folder's [`BakeManifest`],
//! which doubles as the lockfile for incremental bakes and [`Baker::verify`]. [`merge`] joins
//! sharded bakes. Nothing here knows Bevy.

mod atomic;
mod bake;
mod encode;
mod error;
mod folder;
pub mod journal;
mod manifest;
mod merge;
mod models;
mod plan;
mod record;
mod scheduler;
mod verify;

pub use atomic::write_atomic;
pub use bake::{BakeEvent, BakeReport, Baker, EntryStatus, Prune};
pub use encode::{ATLAS_FILE, EntryFile, SHEET_FILE, STRINGS_JSON, STRINGS_RON};
pub use error::{BakeError, EntryError, EntryFailure};
pub use folder::BAKE_LOCK_FILE;
pub use journal::{BAKE_JOURNAL_FILE, JournaledManifest};
pub use manifest::{
    BAKE_MANIFEST_FILE, BakeManifest, CREDITS_FILE, EntryRecord, FileRecord, ManifestError,
};
pub use merge::{MergeError, MergeReport, merge};
pub use plan::{BakePlan, Job, PlanError, Shard, recipe_files};
pub use verify::{Finding, VerifyReport};

/// Version of Kiln recorded in every bake manifest.
pub const KILN_VERSION: &str = env!("CARGO_PKG_VERSION");
