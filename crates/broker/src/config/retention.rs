//! The `[retention]` section: how long the content of a closed alert is kept, how the erasure
//! runs, and how often the audit chain's head is checkpointed and where the checkpoints go.
//! Read and validated with the rest of the configuration (see [`super::Config`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use varsel_protocol::problems::{resolve, Problems};

/// The shortest retention accepted: erasing sooner would race a school's follow-up.
const MIN_ERASE_AFTER: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRetention {
    erase_after: String,
    interval: String,
    batch: u32,
    checkpoint_every: u32,
    checkpoint_interval: String,
    checkpoint_file: Option<String>,
}

impl Default for RawRetention {
    fn default() -> Self {
        RawRetention {
            erase_after: "30d".into(),
            interval: "1h".into(),
            batch: 200,
            checkpoint_every: 1000,
            checkpoint_interval: "15m".into(),
            checkpoint_file: None,
        }
    }
}

/// Retention and evidence settings.
#[derive(Debug, Clone)]
pub struct Retention {
    /// The content of an alert closed (acknowledged or cancelled) this long ago is erased.
    pub erase_after: Duration,
    /// How often the retention worker looks for content to erase.
    pub interval: Duration,
    /// Alerts erased per transaction, so no lock is held long.
    pub batch: u32,
    /// A checkpoint of the audit chain's head after this many new entries…
    pub checkpoint_every: u32,
    /// …and at least this often while the chain grows.
    pub checkpoint_interval: Duration,
    /// Where checkpoints are appended, one JSON line each; `None`: only to the ops inbox.
    pub checkpoint_file: Option<PathBuf>,
}

/// Validates the section, noting each problem with its key.
pub(super) fn validate(p: &mut Problems, raw: &RawRetention, base: &Path) -> Retention {
    let noted = p.len();
    let erase_after = p.duration("retention.erase_after", &raw.erase_after);
    if p.len() == noted && erase_after < MIN_ERASE_AFTER {
        p.add("retention.erase_after", "at least 1h");
    }
    let interval = positive(p, "retention.interval", &raw.interval, "1h");
    if raw.batch == 0 || raw.batch > 10_000 {
        p.add("retention.batch", "a number from 1 to 10000");
    }
    if raw.checkpoint_every == 0 {
        p.add("retention.checkpoint_every", "at least 1");
    }
    let checkpoint_interval = positive(
        p,
        "retention.checkpoint_interval",
        &raw.checkpoint_interval,
        "15m",
    );
    let checkpoint_file = match raw.checkpoint_file.as_deref() {
        Some("") => {
            p.add("retention.checkpoint_file", "a file path");
            None
        }
        Some(f) => {
            let path = resolve(base, f);
            if path
                .parent()
                .is_some_and(|d| !d.as_os_str().is_empty() && !d.is_dir())
            {
                p.add(
                    "retention.checkpoint_file",
                    format!(
                        "a file in an existing directory ({} is none)",
                        path.display()
                    ),
                );
            }
            Some(path)
        }
        None => None,
    };
    Retention {
        erase_after,
        interval,
        batch: raw.batch,
        checkpoint_every: raw.checkpoint_every,
        checkpoint_interval,
        checkpoint_file,
    }
}

/// A duration above zero, noted as a problem otherwise.
pub(super) fn positive(p: &mut Problems, key: &str, text: &str, example: &str) -> Duration {
    let noted = p.len();
    let d = p.duration(key, text);
    if p.len() == noted && d.is_zero() {
        p.add(key, format!("a duration above zero, such as \"{example}\""));
    }
    d
}
