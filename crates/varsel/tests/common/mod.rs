//! What the tests of `varsel demo` share: the demo run as a child process that stays after its
//! story, on a virtual host of its own with files in a temporary directory, bounded, and stopped
//! with SIGINT as Ctrl-C would. One demo at a time in a test binary: the demo takes its
//! dashboard's port 9471 when it finds it free, and two starting at once may both find it so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use varsel_testkit::harness::{wait_until, Vhost};
use varsel_testkit::process::{wait_within, KillOnDrop};

/// Held by the demo running now in this test binary.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The repository, where the demo runs (it reads deploy/).
pub fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A `varsel demo` that has told its story and stays. Killed when dropped; its output is
/// printed if the test is failing then.
pub struct Demo {
    pub process: KillOnDrop,
    files: tempfile::TempDir,
    log: PathBuf,
    _logs: tempfile::TempDir,
    _vhost: Vhost,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Demo {
    /// Starts `varsel demo --time-scale 240` with `args` on a virtual host named after `name`,
    /// and waits (up to 300 s) until its output contains `staying`; panics with the output if
    /// the demo ends first.
    pub async fn staying(name: &str, args: &[&str], staying: &str) -> Demo {
        let turn = ONE_AT_A_TIME.lock().await;
        let files = varsel_testkit::temp_dir();
        let logs = varsel_testkit::temp_dir();
        let log = logs.path().join("demo.log");
        let vhost = Vhost::create(name);
        let mut process = KillOnDrop::spawn_logged(
            Command::new(env!("CARGO_BIN_EXE_varsel"))
                .current_dir(repo())
                .env("RUST_LOG", "warn")
                .args(["demo", "--amqp", &vhost.url(), "--time-scale", "240"])
                .args(args)
                .arg("--dir")
                .arg(files.path()),
            &log,
        )
        .expect("start varsel demo");
        let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
        let exited = std::sync::Mutex::new(None);
        wait_until(
            Duration::from_secs(300),
            &format!("the demo to finish its story and print {staying:?}"),
            || {
                let done = process.child.try_wait().ok().flatten();
                let found = read_log().contains(staying);
                *exited.lock().unwrap() = done;
                async move { found || done.is_some() }
            },
        )
        .await;
        if let Some(status) = *exited.lock().unwrap() {
            panic!(
                "the demo ended ({status}) instead of staying:\n{}",
                read_log()
            );
        }
        Demo {
            process,
            files,
            log,
            _logs: logs,
            _vhost: vhost,
            _turn: turn,
        }
    }

    /// Where the demo keeps its files.
    pub fn dir(&self) -> &Path {
        self.files.path()
    }

    /// What the demo has printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ctrl-C: SIGINT, then the demo must end, successfully, within 60 s.
    pub fn interrupt(&mut self) {
        let sent = Command::new("kill")
            .args(["-INT", &self.process.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = wait_within(&mut self.process.child, Duration::from_secs(60))
            .unwrap()
            .unwrap_or_else(|| panic!("the demo did not stop on SIGINT:\n{}", self.output()));
        assert!(status.success(), "{}", self.output());
    }
}
