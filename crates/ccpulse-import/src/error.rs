//! Errors of the import crate: what stops an import (a bad record never does: it is
//! counted and reported in the [`Report`](crate::Report)).

use thiserror::Error;

/// An import that cannot go on.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The input cannot be read.
    #[error("cannot read {path}: {source}")]
    Input {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The resume file cannot be read, parsed or written.
    #[error("resume file {path}: {problem}")]
    Resume {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// A time zone name that is not an IANA zone.
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    /// A names file that cannot be used.
    #[error("names file {path}: {problem}")]
    Names {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
}
