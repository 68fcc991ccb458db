//! What an import did with its input: records read, events written, records skipped by
//! design, and the ones it could not use, each with its line number.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The most problems kept with their line numbers; past it they are only counted.
pub const MAX_PROBLEMS: usize = 1000;

/// A record that could not be used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// 1-based line number in the input (0 when the input has no lines, e.g. a request).
    pub line: u64,
    /// What is wrong, in words.
    pub reason: String,
}

/// The counts of an import.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Records (lines) read.
    pub records: u64,
    /// Contract events written.
    pub events: u64,
    /// Records deliberately not translated, by what they are (verb, event type).
    pub skipped: BTreeMap<String, u64>,
    /// Records of a kind the importer does not know, by kind.
    pub unknown: BTreeMap<String, u64>,
    /// Malformed records, and unknown kinds, with their line numbers (the first
    /// [`MAX_PROBLEMS`]).
    pub problems: Vec<Problem>,
    /// All problems, also past [`MAX_PROBLEMS`].
    pub problems_total: u64,
}

impl Report {
    /// Counts a record skipped by design.
    pub fn skip(&mut self, what: &str) {
        *self.skipped.entry(what.to_owned()).or_default() += 1;
    }

    /// Counts and records a problem.
    pub fn problem(&mut self, line: u64, reason: impl Into<String>) {
        self.problems_total += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                line,
                reason: reason.into(),
            });
        }
    }

    /// Counts a record of an unknown kind (and reports it as a problem).
    pub fn unknown(&mut self, line: u64, what: &str) {
        let name: String = what.chars().take(64).collect();
        *self.unknown.entry(name.clone()).or_default() += 1;
        self.problem(line, format!("unknown {name:?}: not translated"));
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} records, {} events, {} problems",
            self.records, self.events, self.problems_total
        )?;
        let list = |m: &BTreeMap<String, u64>| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
        if !self.skipped.is_empty() {
            write!(f, "; skipped: {}", list(&self.skipped))?;
        }
        if !self.unknown.is_empty() {
            write!(f, "; unknown: {}", list(&self.unknown))?;
        }
        Ok(())
    }
}
