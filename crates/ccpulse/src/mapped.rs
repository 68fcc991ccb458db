//! An event file mapped into memory, for `ccpulse replay`: the one place in the
//! workspace that needs `unsafe`.
//!
//! Why a map: a split replay read the file twice (see
//! [`ccpulse_core::replay::FileReplay`]; now once, unless its contacts' events come
//! long before their offers), and reading it meant copying every byte out of the page
//! cache into buffers whose pages the kernel first had to zero (about 13 % of the
//! process's CPU time in a profile). Mapped, the replay reads the page cache itself: on
//! the realistic day of `benches/` (174 MB) the whole process took 7-38 % less wall
//! time in alternating runs (BENCHMARKS.md, "Replay from a mapped file").

#![allow(unsafe_code)]

use std::fs::File;

use memmap2::{Advice, Mmap};

/// The file's bytes, mapped read-only; `None` when the file cannot be mapped (some
/// file systems cannot) or says it is empty, and then the caller reads it instead.
///
/// A mapped file shows whatever is in the file while it is read, so it must not be
/// rewritten or truncated during the replay: bytes rewritten in place may be read
/// half old and half new, and a truncated file ends the process with SIGBUS. Bytes
/// appended after it was mapped are not part of the replay.
pub fn map(file: &File) -> Option<Mmap> {
    // A file that says it is empty may still have lines to read (those of /proc do).
    if file.metadata().ok()?.len() == 0 {
        return None;
    }
    // SAFETY: `Mmap::map` is unsafe only because the file can change under the map
    // while it is read (see above); `ccpulse replay` documents that its input must not
    // be rewritten or truncated while it runs, as `ripgrep` does for the files it maps.
    // The map is read-only and lives as long as the replay that reads it.
    let map = unsafe { Mmap::map(file) }.ok()?;
    // Read front to back (perhaps twice): read ahead. Only advice: its failure
    // changes nothing.
    let _ = map.advise(Advice::Sequential);
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_mapped_whole_and_an_empty_one_is_left_to_reading() {
        let dir = std::env::temp_dir().join(format!("ccpulse-mapped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let (full, empty) = (dir.join("full"), dir.join("empty"));
        std::fs::write(&full, b"line 1\nline 2").expect("a file");
        std::fs::write(&empty, b"").expect("a file");
        let open = |p: &std::path::Path| File::open(p).expect("the file");
        assert_eq!(map(&open(&full)).as_deref(), Some(&b"line 1\nline 2"[..]));
        assert!(map(&open(&empty)).is_none());
        // Says it is empty, and has lines.
        assert!(map(&open(std::path::Path::new("/proc/self/status"))).is_none());
        std::fs::remove_dir_all(&dir).expect("cleaned up");
    }

    /// The `.rs` files under `dir`, but for build output.
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a directory").flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() && name != "target" && !name.to_string_lossy().starts_with('.') {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn only_this_module_may_use_unsafe() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("the workspace manifest");
        assert!(
            manifest.contains("unsafe_code = \"deny\""),
            "the workspace denies unsafe code"
        );
        let mut files = Vec::new();
        for dir in ["crates", "tests", "benches"] {
            sources(&root.join(dir), &mut files);
        }
        let allowing: Vec<String> = files
            .iter()
            .filter(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_default()
                    .contains("allow(unsafe_code)")
            })
            .map(|f| f.display().to_string())
            .collect();
        assert!(files.len() > 50, "the workspace's sources were found");
        assert_eq!(allowing.len(), 1, "{allowing:?}");
        assert!(allowing[0].ends_with("crates/ccpulse/src/mapped.rs"), "{allowing:?}");
    }
}
