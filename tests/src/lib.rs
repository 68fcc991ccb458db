//! Helpers shared by the end-to-end tests in `tests/tests/`: finding the real
//! `ccpulse` binary, free ports, waiting on readiness signals, and a headless browser.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub mod browser;
pub mod kafka;
pub mod prometheus;
pub mod proxy;
pub mod tansu;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The `ccpulse` binary of this build profile, built first if it is missing.
///
/// A test binary lives in `target/<profile>/deps/`; the binary is in `target/<profile>/`.
pub fn ccpulse_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap_or_default();
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let bin = profile_dir.join("ccpulse");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut build = Command::new(env!("CARGO"));
        build
            .current_dir(repo_root())
            .args(["build", "-p", "ccpulse", "--bin", "ccpulse"]);
        if release {
            build.arg("--release");
        }
        // Always ask cargo: it is a no-op when the binary is fresh, and rebuilds it when
        // `cargo test -p ccpulse-tests` alone left it stale.
        let status = build.status();
        assert!(status.is_ok_and(|s| s.success()), "cargo build -p ccpulse failed");
        assert!(bin.exists(), "no binary at {}", bin.display());
        bin
    })
    .clone()
}

/// A TCP port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}
