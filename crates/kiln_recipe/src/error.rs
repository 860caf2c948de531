use std::path::PathBuf;

/// Loading a recipe or a model manifest failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file that was being read.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not valid for its format; the message says what would be accepted.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file that was being parsed.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong and, where known, what is allowed.
        message: String,
    },
    /// The file parsed but is inconsistent (for example a manifest that names an input it does not declare).
    #[error("{path}: {message}")]
    Invalid {
        /// The file that was being checked.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
}
