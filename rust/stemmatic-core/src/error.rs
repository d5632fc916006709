//! Errors of the engine. Every error a user's data can trigger is a variant
//! here, never a panic, and names the row it comes from.

use thiserror::Error;

/// Result alias for the engine.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// A row of the input is null where a text is required.
    #[error("row {row}: text is null (pass on_invalid=\"skip\" to skip such rows)")]
    NullText { row: usize },
    /// A row of the input is not valid UTF-8.
    #[error(
        "row {row}: text is not valid UTF-8 (first bad byte at offset {byte}; pass on_invalid=\"skip\" to skip such rows)"
    )]
    InvalidUtf8 { row: usize, byte: usize },
    /// A parameter is out of its domain.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    /// The thread pool could not be built.
    #[error("could not start {threads} worker threads: {reason}")]
    ThreadPool { threads: usize, reason: String },
    /// Bytes that are not a contamination index, or a damaged one.
    #[error("not a valid stemmatic n-gram index: {reason}")]
    IndexFormat { reason: String },
    /// A contamination index written in another format version.
    #[error(
        "the n-gram index has format version {found}, this stemmatic reads version {expected}; rebuild it with `stemmatic contamination index`"
    )]
    IndexVersion { found: u32, expected: u32 },
    /// A scan asked for settings other than those the index was built with.
    #[error(
        "the n-gram index was built with {name}={index}, not {requested}; scan with the index's {name} or rebuild the index"
    )]
    IndexMismatch {
        name: &'static str,
        index: String,
        requested: String,
    },
    /// A column that cannot be written as JSON (a type with no JSON form, or
    /// a string column holding invalid UTF-8).
    #[error("column {column:?}: {reason}")]
    Unencodable { column: String, reason: String },
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
}

impl CoreError {
    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}
