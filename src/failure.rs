//! How `kiln` fails: one error type whose kind is the exit code. Commands return it; only
//! `main` turns it into a code (see [`EXIT_CODES`], also in the README).

use std::fmt;

use kiln_bake::{BakeError, MergeError};
use kiln_engine::EngineError;
use kiln_onnx::{RuntimeError, SessionError};

/// Exit codes, as `kiln --help` prints them (the README has the same table).
pub const EXIT_CODES: &str = "Exit codes:
  0  everything was baked / checked / verified
  1  some entries or models failed (or `verify` found drift); the rest was done and recorded
  2  invalid input (a recipe, model manifest, bake manifest, shard or recipes folder, or the arguments)
  3  ONNX Runtime, the required execution provider or the kiln-studio app is unavailable
  4  another `kiln bake` is writing to the same output folder
  5  the output folder cannot be created, read or written (permissions, disk full, a file in the way)";

/// What kind of failure: its value is the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Some entries or models failed; everything else was done.
    Partial = 1,
    /// Invalid input: a recipe, manifest, shard or folder could not be read, or bad arguments.
    BadInput = 2,
    /// ONNX Runtime, the required execution provider or the kiln-studio app is unavailable;
    /// nothing was generated.
    Unavailable = 3,
    /// Another bake is writing to the same output folder; nothing was done.
    Busy = 4,
    /// The output folder cannot be created, read or written.
    Output = 5,
}

/// A command that did not do everything asked for.
#[derive(Debug)]
pub struct Failure {
    /// Decides the exit code.
    pub kind: Kind,
    /// Printed as `error: …`; `None` when the command already printed each problem.
    pub message: Option<String>,
}

/// What a command returns.
pub type Outcome = Result<(), Failure>;

impl Failure {
    /// A failure with its message.
    pub fn new(kind: Kind, message: impl fmt::Display) -> Self {
        Self {
            kind,
            message: Some(message.to_string()),
        }
    }

    /// A failure whose problems the command has already printed.
    pub fn reported(kind: Kind) -> Self {
        Self {
            kind,
            message: None,
        }
    }
}

impl From<BakeError> for Failure {
    fn from(error: BakeError) -> Self {
        let kind = match &error {
            BakeError::Busy { .. } => Kind::Busy,
            BakeError::Manifest(_) => Kind::BadInput,
            _ => Kind::Output,
        };
        Self::new(kind, error)
    }
}

impl From<MergeError> for Failure {
    fn from(error: MergeError) -> Self {
        match error {
            MergeError::Target(error) => error.into(),
            error => Self::new(Kind::BadInput, error),
        }
    }
}

impl From<RuntimeError> for Failure {
    fn from(error: RuntimeError) -> Self {
        Self::new(Kind::Unavailable, error)
    }
}

impl From<EngineError> for Failure {
    fn from(error: EngineError) -> Self {
        let kind = match &error {
            EngineError::Runtime(_) => Kind::Unavailable,
            _ => Kind::BadInput,
        };
        Self::new(kind, error)
    }
}

impl From<SessionError> for Failure {
    fn from(error: SessionError) -> Self {
        let kind = match &error {
            SessionError::Runtime(_) | SessionError::CudaUnavailable { .. } => Kind::Unavailable,
            _ => Kind::BadInput,
        };
        Self::new(kind, error)
    }
}
