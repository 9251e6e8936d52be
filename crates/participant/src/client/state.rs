//! The client's memory of what it has processed, so a redelivered message is processed once, and
//! of each case's routing header, so it can post notes to the case.

use std::io::Write;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use varsel_protocol::message::Header;
use varsel_protocol::refusal::Refusal;

use super::item::Item;
use super::{Client, Error};

impl Client {
    /// The client's memory of processed deliveries.
    pub fn state(&self) -> State {
        State {
            dir: self.config.state_dir.clone(),
        }
    }
}

/// The client's memory, one file per processed item, so a redelivered message is processed once
/// even across restarts. `processed.log` lists every item processed, in order.
pub struct State {
    dir: PathBuf,
}

impl State {
    fn err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::State {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(super) fn ensure(&self) -> Result<(), Error> {
        std::fs::create_dir_all(self.dir.join("seen")).map_err(Self::err(&self.dir))
    }

    pub(super) fn seen(&self, key: &str) -> bool {
        self.dir.join("seen").join(key).exists()
    }

    pub(super) fn record(&self, key: &str, item: &Item) -> Result<(), Error> {
        let alert = match item {
            Item::Delivery(d) => d.alert.to_string(),
            _ => String::new(),
        };
        let path = self.dir.join("seen").join(key);
        let mut f = std::fs::File::create(&path).map_err(Self::err(&path))?;
        f.write_all(alert.as_bytes()).map_err(Self::err(&path))?;
        f.sync_all().map_err(Self::err(&path))?;
        if let Item::Delivery(d) = item {
            // The case's routing header (codes only), which a note to the case is sealed under.
            self.remember_case(d.alert, &d.header)?;
        }
        let log = self.dir.join("processed.log");
        let mut l = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(Self::err(&log))?;
        writeln!(l, "{key}").map_err(Self::err(&log))?;
        Ok(())
    }

    pub(super) fn record_refused(&self, r: &Refusal, body: &[u8]) -> Result<(), Error> {
        self.ensure()?;
        let log = self.dir.join("refused.log");
        let mut l = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(Self::err(&log))?;
        writeln!(l, "{} {} bytes={}", r.reason.code(), r.detail, body.len())
            .map_err(Self::err(&log))?;
        Ok(())
    }

    /// The alert a processed delivery belongs to.
    pub fn alert_of(&self, delivery: Uuid) -> Option<Uuid> {
        std::fs::read_to_string(self.dir.join("seen").join(format!("delivery-{delivery}")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The routing header of a case this client has received a delivery of, or raised itself;
    /// `None` when it knows no such case. A header file that does not read is an error naming
    /// the file, never taken for an unknown case.
    pub fn case_header(&self, alert: Uuid) -> Result<Option<Header>, Error> {
        let path = self.dir.join("cases").join(format!("{alert}.json"));
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Self::err(&path)(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Self::err(&path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
    }

    /// Remembers the routing header of an alert this client raised, so the school can close its
    /// case (a note sealed under that header).
    pub(super) fn remember_case(&self, alert: Uuid, header: &Header) -> Result<(), Error> {
        let dir = self.dir.join("cases");
        std::fs::create_dir_all(&dir).map_err(Self::err(&dir))?;
        let path = dir.join(format!("{alert}.json"));
        let bytes = serde_json::to_vec(header).unwrap_or_default();
        std::fs::write(&path, bytes).map_err(Self::err(&path))
    }

    /// Every processed item key, in the order processed (with repeats, if any).
    pub fn processed(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("processed.log"))
            .map(|s| s.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}
