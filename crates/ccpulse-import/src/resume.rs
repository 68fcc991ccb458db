//! Reading a growing log file where the last run stopped: a [`Tail`] over the file, and a
//! resume file holding the byte offset, a hash of the file's first line (to notice a
//! rotated or truncated file) and the translator's [`State`](crate::asterisk::State).
//!
//! The resume file is written only after the events of the lines before its offset were
//! delivered, so a crash repeats lines, never skips them; the repeated lines give the
//! same event ids, which ccpulse drops as duplicates (at-least-once without double counts).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ccpulse_core::time::Millis;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use crate::asterisk::{QueueLog, State};
use crate::contract::Event;
use crate::error::ImportError;
use crate::report::Report;

/// The longest line kept whole; a longer one is passed on cut to this length plus one
/// byte, so that the translator reports it (and it costs no more than this).
pub const MAX_LINE: usize = 1024 * 1024;

/// The bytes of a file's first line that identify the file.
const HEAD_BYTES: usize = 4096;

/// What the resume file holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Saved {
    /// Byte offset after the last line whose events were delivered.
    pub offset: u64,
    /// Lines read before that offset (for line numbers in reports).
    pub lines: u64,
    /// Hash of the file's first line when it was read.
    pub head: String,
    /// The translator's memory.
    pub state: State,
}

/// Reads a resume file; `None` when it does not exist.
pub fn load(path: &Path) -> Result<Option<Saved>, ImportError> {
    let err = |problem: String| ImportError::Resume {
        path: path.display().to_string(),
        problem,
    };
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(e.to_string())),
    }
}

/// Writes a resume file atomically (a temporary file renamed over it).
pub fn save(path: &Path, saved: &Saved) -> Result<(), ImportError> {
    let err = |problem: String| ImportError::Resume {
        path: path.display().to_string(),
        problem,
    };
    let json = serde_json::to_vec(saved).map_err(|e| err(e.to_string()))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, json).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}

/// The hash of a file's first line (at most 4096 bytes of it); empty for an empty file.
pub fn head_of(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut buf = vec![0; HEAD_BYTES];
    let mut n = 0;
    while n < buf.len() {
        let r = f.read(&mut buf[n..])?;
        if r == 0 {
            break;
        }
        n += r;
        if buf[..n].contains(&b'\n') {
            break;
        }
    }
    let line = buf[..n].split(|&b| b == b'\n').next().unwrap_or(&[]);
    Ok(if n == 0 {
        String::new()
    } else {
        format!("{:032x}", xxh3_128(line))
    })
}

/// Complete lines of a file from an offset on, as the file grows.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    file: File,
    offset: u64,
    head: String,
    partial: Vec<u8>,
    /// Bytes of the line being read so far (also those past [`MAX_LINE`], not kept).
    partial_bytes: u64,
}

impl Tail {
    /// Opens `path` at `offset` (0 to read it all).
    pub fn open(path: &Path, offset: u64) -> Result<Tail, ImportError> {
        let input = |source| ImportError::Input {
            path: path.display().to_string(),
            source,
        };
        let mut file = File::open(path).map_err(input)?;
        file.seek(SeekFrom::Start(offset)).map_err(input)?;
        Ok(Tail {
            path: path.to_owned(),
            file,
            offset,
            head: head_of(path).map_err(input)?,
            partial: Vec::new(),
            partial_bytes: 0,
        })
    }

    /// The offset after the last complete line returned.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The hash of the first line of the file being read.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// The complete lines written since the last call, up to about `max_bytes` of them
    /// (each without its newline). A line longer than [`MAX_LINE`] is returned cut to
    /// `MAX_LINE + 1` bytes.
    pub fn read_lines(&mut self, max_bytes: usize) -> Result<Vec<Vec<u8>>, ImportError> {
        let mut out = Vec::new();
        let mut got = 0;
        let mut buf = vec![0u8; 64 * 1024];
        while got < max_bytes {
            let n = self.file.read(&mut buf).map_err(|source| ImportError::Input {
                path: self.path.display().to_string(),
                source,
            })?;
            if n == 0 {
                break;
            }
            got += n;
            let mut rest = &buf[..n];
            while let Some(i) = rest.iter().position(|&b| b == b'\n') {
                self.keep(&rest[..i]);
                out.push(std::mem::take(&mut self.partial));
                self.offset += self.partial_bytes + 1;
                self.partial_bytes = 0;
                rest = &rest[i + 1..];
            }
            // A line still being written: kept until its newline.
            self.keep(rest);
        }
        if self.head.is_empty() && self.offset > 0 {
            // The file was empty when opened.
            self.head = head_of(&self.path).unwrap_or_default();
        }
        Ok(out)
    }

    /// Adds bytes to the line being read, keeping at most `MAX_LINE + 1` of them.
    fn keep(&mut self, bytes: &[u8]) {
        let room = (MAX_LINE + 1).saturating_sub(self.partial.len());
        self.partial.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.partial_bytes += bytes.len() as u64;
    }

    /// Whether the file at the path is no longer the one being read: shorter than what
    /// was read, or with another first line (rotated, or truncated and rewritten).
    pub fn replaced(&self) -> bool {
        let len = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        len < self.offset || (!self.head.is_empty() && head_of(&self.path).map_or(true, |h| h != self.head))
    }
}

/// A `queue_log` import that can stop and go on later: the lines after the resume
/// file's offset, through the translator restored from it.
#[derive(Debug)]
pub struct QueueLogImport {
    tail: Tail,
    translator: QueueLog,
    lines: u64,
    resume: Option<PathBuf>,
    tz: jiff::tz::TimeZone,
}

impl QueueLogImport {
    /// Opens `input`, going on from `resume` when that file exists and belongs to it
    /// (same first line, not shorter than its offset); otherwise from the start, with the
    /// translator's memory kept (calls go on across a log rotation).
    pub fn open(input: &Path, resume: Option<&Path>, tz: jiff::tz::TimeZone) -> Result<Self, ImportError> {
        let saved = match resume {
            Some(p) => load(p)?,
            None => None,
        };
        let head = head_of(input).map_err(|source| ImportError::Input {
            path: input.display().to_string(),
            source,
        })?;
        let len = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
        let (offset, lines, state) = match saved {
            Some(s) if s.head == head && len >= s.offset => (s.offset, s.lines, s.state),
            Some(s) => {
                tracing::warn!(input = %input.display(), "the input is not the file the resume file was written for (rotated or truncated): reading it from the start");
                (0, 0, s.state)
            }
            None => (0, 0, State::default()),
        };
        Ok(QueueLogImport {
            tail: Tail::open(input, offset)?,
            translator: QueueLog::resume(tz.clone(), state),
            lines,
            resume: resume.map(Path::to_owned),
            tz,
        })
    }

    /// Translates the lines written since the last call (about `max_bytes` of them).
    pub fn step(&mut self, max_bytes: usize) -> Result<Vec<Event>, ImportError> {
        let mut out = Vec::new();
        for line in self.tail.read_lines(max_bytes)? {
            self.lines += 1;
            out.extend(self.translator.line(self.lines, &line));
        }
        Ok(out)
    }

    /// When the input was replaced (rotated), goes on with the new file from its start;
    /// says whether it did. Call after [`step`](Self::step) returned nothing.
    pub fn reopen_if_replaced(&mut self) -> Result<bool, ImportError> {
        if !self.tail.replaced() {
            return Ok(false);
        }
        let path = self.tail.path.clone();
        tracing::info!(input = %path.display(), "the input was replaced: reading the new file from the start");
        self.tail = Tail::open(&path, 0)?;
        self.lines = 0;
        Ok(true)
    }

    /// Settles what waits for later lines and is due at wall-clock `now`.
    pub fn idle(&mut self, now: Millis) -> Vec<Event> {
        self.translator.idle(now)
    }

    /// The counts so far.
    pub fn report(&self) -> &Report {
        self.translator.report()
    }

    /// The time zone local timestamps are read in.
    pub fn time_zone(&self) -> &jiff::tz::TimeZone {
        &self.tz
    }

    /// Writes the resume file (when there is one): call once the events returned so
    /// far were delivered.
    pub fn commit(&self) -> Result<(), ImportError> {
        let Some(path) = &self.resume else { return Ok(()) };
        save(
            path,
            &Saved {
                offset: self.tail.offset(),
                lines: self.lines,
                head: self.tail.head().to_owned(),
                state: self.translator.state().clone(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lines_are_read_whole_cut_when_too_long_and_kept_until_complete() {
        let dir = std::env::temp_dir().join(format!("ccpulse-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let long = vec![b'x'; MAX_LINE + 10];
        let mut text = b"first\n".to_vec();
        text.extend_from_slice(&long);
        text.extend_from_slice(b"\nthird\npart");
        std::fs::write(&path, &text).unwrap();
        let mut t = Tail::open(&path, 0).unwrap();
        let lines = t.read_lines(usize::MAX).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], b"first");
        assert_eq!(lines[1].len(), MAX_LINE + 1, "cut, so that the translator reports it");
        assert_eq!(lines[2], b"third");
        assert_eq!(t.offset(), (text.len() - 4) as u64, "the partial line is not consumed");
        assert!(!t.replaced());
        std::fs::write(&path, [&text[..], b"ial\n"].concat()).unwrap();
        assert_eq!(t.read_lines(usize::MAX).unwrap(), [b"partial".to_vec()]);
        std::fs::write(&path, b"new file\n").unwrap();
        assert!(t.replaced(), "shorter than what was read");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
