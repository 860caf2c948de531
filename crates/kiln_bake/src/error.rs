//! Why an entry, or a whole bake, failed.

use std::path::PathBuf;

use kiln_engine::EngineError;

use crate::ManifestError;

/// Why one entry was not baked. Other entries are unaffected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// Its model could not be read, loaded or run.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Another entry of the bake writes to the same output folder.
    #[error(
        "its output folder {output:?} belongs to {other} (folder names are compared ignoring case): give one of them another `output`, or remove {other} from its recipe first"
    )]
    OutputClash {
        /// The shared output folder.
        output: String,
        /// The entry (`<recipe>#<entry>`) that keeps it.
        other: String,
    },
    /// Its model's licence is outside the recipes folder's licence policy.
    #[error("{0}")]
    Licence(String),
    /// An output could not be written.
    #[error("{path}: cannot write: {message}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// An entry that failed, and why.
#[derive(Debug)]
pub struct EntryFailure {
    /// Recipe path as recorded in manifests.
    pub recipe: String,
    /// Entry name.
    pub entry: String,
    /// The error.
    pub error: EntryError,
}

/// A bake could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BakeError {
    /// Another bake holds the output folder's lock.
    #[error(
        "{dir}: another `kiln bake` is writing to this folder (it holds {lock}); \
         wait for it to finish or bake into another folder"
    )]
    Busy {
        /// The output folder.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The folder's bake manifest is unreadable.
    #[error("{0}; delete it to re-bake everything")]
    Manifest(#[from] ManifestError),
    /// The output folder, its lock or its manifest could not be written.
    #[error("{path}: cannot write: {source}; bake into a folder you can write")]
    Io {
        /// What was being written.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
}
