//! Child processes with a deadline: a command that does not finish in time is killed, and the
//! error says what was run, how long it was given and what it printed until then, so a hang
//! costs one bounded wait and leaves its evidence.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where the scripts in deploy/dev/ put the outside tools the tests check varsel against
/// (`metrics-linters.sh`, `interop.sh`, `accessibility.sh`): `$VARSEL_TOOLS_CACHE`, else `~/.cache/varsel`.
pub fn tools_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("VARSEL_TOOLS_CACHE") {
        return dir.into();
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
    base.join("varsel")
}

/// How often a running child is checked.
const EVERY: Duration = Duration::from_millis(50);

/// Runs `cmd` to completion like [`Command::output`], but for at most `limit`: after that the
/// child and everything it started are killed and the error (kind [`io::ErrorKind::TimedOut`])
/// carries its output so far.
pub fn output_within(cmd: &mut Command, limit: Duration) -> io::Result<Output> {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        // A group of its own, so that a timeout kills the grandchildren holding its pipes too.
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_within(&mut child, limit)?;
    let stdout = join(stdout);
    let stderr = join(stderr);
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "{shown} did not finish within {} s and was killed\n--- its stdout ---\n{}\n--- its stderr ---\n{}",
                limit.as_secs(),
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            ),
        )),
    }
}

/// Waits for `child` for at most `limit`; kills and reaps it when the limit passes (`None`),
/// with its process group when it leads one.
pub fn wait_within(
    child: &mut Child,
    limit: Duration,
) -> io::Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(EVERY);
    }
}

/// A running child that is killed (with its process group, when it leads one) when dropped, so a
/// test that fails leaves nothing running; if the test is failing, the child's log file (where
/// its output went) is printed, its last 64 KiB.
pub struct KillOnDrop {
    pub child: Child,
    pub log: Option<std::path::PathBuf>,
}

impl KillOnDrop {
    /// Starts `cmd` in a process group of its own, its stdout and stderr appended to `log`.
    pub fn spawn_logged(cmd: &mut Command, log: &std::path::Path) -> io::Result<KillOnDrop> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let err = out.try_clone()?;
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()?;
        Ok(KillOnDrop {
            child,
            log: Some(log.to_path_buf()),
        })
    }

    /// SIGKILL to the child's group, and reaps it.
    pub fn kill(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            if let Some(log) = &self.log {
                let text = std::fs::read(log).unwrap_or_default();
                let tail = &text[text.len().saturating_sub(64 * 1024)..];
                eprintln!(
                    "--- output of {:?} (pid {}), from {} ---\n{}",
                    log.file_name().unwrap_or_default(),
                    self.child.id(),
                    log.display(),
                    String::from_utf8_lossy(tail)
                );
            }
        }
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> Option<JoinHandle<Vec<u8>>> {
    pipe.map(|mut p| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = p.read_to_end(&mut buf);
            buf
        })
    })
}

fn join(reader: Option<JoinHandle<Vec<u8>>>) -> Vec<u8> {
    reader.and_then(|r| r.join().ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_that_finishes_gives_its_output() {
        let out = output_within(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn a_command_that_hangs_is_killed_and_its_output_shown() {
        let started = Instant::now();
        let e = output_within(
            Command::new("sh").args(["-c", "echo banner; sleep 600; echo never"]),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        let text = e.to_string();
        assert!(text.contains("did not finish within 1 s"), "{text}");
        assert!(text.contains("banner"), "{text}");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "killed, not waited out"
        );
    }
}
