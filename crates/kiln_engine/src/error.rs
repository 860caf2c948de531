//! Why the engine could not read, load or run a model.

use std::path::PathBuf;

use kiln_gen::GenerateError;
use kiln_music::MusicError;
use kiln_onnx::{RuntimeError, SessionError};
use kiln_recipe::LoadError;
use kiln_seq::{SequenceError, TextError};

/// Reading, loading or running a model failed; each message names the file and the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// ONNX Runtime itself is unavailable.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The model's manifest is missing or invalid.
    #[error(transparent)]
    Manifest(#[from] LoadError),
    /// A model file could not be read.
    #[error("{path}: cannot read: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// An image model's palettes file (`ImageContract::palettes`) cannot be used.
    #[error("{path}: art palettes {message}")]
    Palettes {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, and the fix.
        message: String,
    },
    /// The model could not be loaded into ONNX Runtime or does not match its manifest.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Image generation failed.
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// The sequence model cannot be used with its tokenizer, or failed.
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    /// No text within the recipe's limits.
    #[error(transparent)]
    Text(#[from] TextError),
    /// No music loop.
    #[error(transparent)]
    Music(#[from] MusicError),
    /// The recipe's kind needs another kind of model.
    #[error(
        "model {model:?} cannot make a {kind}: choose a model of that kind (see `kiln models`)"
    )]
    WrongModel {
        /// The model.
        model: String,
        /// The recipe's kind.
        kind: &'static str,
    },
}

/// An engine error about one recipe entry, named in the message.
#[derive(Debug, thiserror::Error)]
#[error("{entry}: {source}")]
pub struct EntryFailed {
    /// The entry: its name, or `<recipe>#<entry>`.
    pub entry: String,
    /// Why.
    pub source: EngineError,
}

impl EngineError {
    /// This error, about `entry`.
    pub fn in_entry(self, entry: impl Into<String>) -> EntryFailed {
        EntryFailed {
            entry: entry.into(),
            source: self,
        }
    }
}
