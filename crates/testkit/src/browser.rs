//! A real browser for the tests: Debian's Chromium and its WebDriver server, chromedriver (both
//! installed by deploy/dev/browser.sh, which deploy/dev/test.sh runs), axe-core for the
//! accessibility checks (deploy/dev/accessibility.sh), and the directory where
//! tests keep what a person may want to look at afterwards (screenshots, page dumps).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::process::KillOnDrop;

fn on_path(names: &[&str]) -> Option<PathBuf> {
    for name in names {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// The Chromium to drive: `VARSEL_CHROMIUM`, or the first of the usual names on the PATH.
pub fn chromium() -> PathBuf {
    if let Ok(p) = std::env::var("VARSEL_CHROMIUM") {
        return PathBuf::from(p);
    }
    on_path(&[
        "chromium",
        "chromium-browser",
        "google-chrome-stable",
        "google-chrome",
    ])
    .expect("no Chromium found: run deploy/dev/browser.sh (or set VARSEL_CHROMIUM)")
}

/// The WebDriver server for Chromium: `VARSEL_CHROMEDRIVER`, or `chromedriver` on the PATH.
pub fn chromedriver() -> PathBuf {
    if let Ok(p) = std::env::var("VARSEL_CHROMEDRIVER") {
        return PathBuf::from(p);
    }
    on_path(&["chromedriver"])
        .expect("no chromedriver found: run deploy/dev/browser.sh (or set VARSEL_CHROMEDRIVER)")
}

/// axe-core's browser bundle (`axe.min.js`), which deploy/dev/accessibility.sh installs at a
/// pinned version: `VARSEL_AXE`, or the copy in the tools cache. Missing is a failure, not a skip.
pub fn axe_core() -> PathBuf {
    if let Ok(p) = std::env::var("VARSEL_AXE") {
        return PathBuf::from(p);
    }
    let p = crate::process::tools_cache().join("axe-core/node_modules/axe-core/axe.min.js");
    assert!(
        p.is_file(),
        "no axe-core at {}: run deploy/dev/accessibility.sh (or set VARSEL_AXE)",
        p.display()
    );
    p
}

/// `target/test-output/` (or under `CARGO_TARGET_DIR`), created if missing.
pub fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("target"));
    let dir = target.join("test-output");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running chromedriver on a loopback port of its own, killed when dropped (its output is
/// printed if the test fails).
pub struct Chromedriver {
    /// The WebDriver address, e.g. `http://127.0.0.1:9515`.
    pub url: String,
    _process: KillOnDrop,
}

impl Chromedriver {
    /// Starts chromedriver, its output appended to `log`, and waits (up to 30 s) until it
    /// accepts connections.
    pub async fn start(log: &Path) -> Chromedriver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let process = KillOnDrop::spawn_logged(
            std::process::Command::new(chromedriver())
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1"),
            log,
        )
        .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within 30 s (see {})",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Chromedriver {
            url: format!("http://127.0.0.1:{port}"),
            _process: process,
        }
    }
}
