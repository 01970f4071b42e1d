//! Benchmarks that print ratios against a reference measured in the same run, on this machine.
//!
//! Owns: the work of `packwitness bench ...`: synthetic data dirs, child processes measured
//! alone (CPU and peak RSS), the reference commands (sha256sum, openssl, ffmpeg) run beside
//! them, and the figures. Never: prints (the binary does) or asserts wall-clock numbers in a
//! test; a benchmark reports ratios and passes or fails against its target.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Error;

pub mod archive;
pub mod archive_play;
pub mod archive_search;
pub mod ledger;
mod lookup;
mod media;
mod rtsp;
pub mod servers;
mod station;
mod verify;

pub use ledger::{build_worker, ledger, lookups_worker, Figures, LedgerBench};
pub use lookup::{lookup, LookupBench};
pub use media::{ffmpeg_reference, passthrough_worker, transcode, transcode_worker, TranscodeRow};
pub use rtsp::{passthrough, reconnect, PassthroughBench, PassthroughRun, RtspServer};
pub use station::{station, StationBench};
pub use verify::{verify, VerifyBench};

pub(crate) fn fill(seed: u64, buf: &mut [u8]) {
    let mut x = seed | 1;
    for chunk in buf.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

pub(crate) fn best_of(
    runs: usize,
    mut f: impl FnMut() -> Result<Duration, Error>,
) -> Result<f64, Error> {
    let mut best = f64::MAX;
    for _ in 0..runs {
        best = best.min(f()?.as_secs_f64());
    }
    Ok(best)
}

/// CPU seconds, wall seconds and peak RSS of one child process.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Usage {
    pub cpu_s: f64,
    pub wall_s: f64,
    pub max_rss_mb: f64,
}

/// `exe run` as a bench starts a station: on `cfg` and `data`, logging at `log`, scans through
/// its stdin, its output dropped.
pub(crate) fn station_command(
    exe: &Path,
    cfg: &Path,
    data: &Path,
    log: &str,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(exe);
    cmd.env("PACKWITNESS_LOG", log)
        .arg("--config")
        .arg(cfg)
        .arg("--data-dir")
        .arg(data)
        .arg("run")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

/// Runs a command to completion and measures it with `wait4` (its own CPU time and peak RSS,
/// nothing of ours).
pub fn measure(mut cmd: std::process::Command) -> Result<Usage, Error> {
    // The clock starts before the spawn: a command that ends before the wait begins (a
    // small file's sha256sum) would otherwise be timed at the wait's own microseconds.
    let t = Instant::now();
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::internal(format!("cannot run {cmd:?}: {e}")))?;
    wait_measured(child, t, &format!("{cmd:?}"))
}

/// Waits for a spawned child and measures it: needs `wait4`, so Unix only.
#[cfg(not(unix))]
pub fn wait_measured(
    mut child: std::process::Child,
    _t: Instant,
    what: &str,
) -> Result<Usage, Error> {
    let _ = child.kill();
    let _ = child.wait();
    Err(Error::internal(format!(
        "{what}: the benchmarks measure child processes with wait4, which this system lacks"
    )))
}

/// Waits for a spawned child with `wait4` and returns its own CPU time and peak RSS. Its
/// stderr, if piped and not taken, is read for the message when it fails.
#[cfg(unix)]
pub fn wait_measured(child: std::process::Child, t: Instant, what: &str) -> Result<Usage, Error> {
    wait4_usage(child, t, what, false)
}

/// [`wait_measured`] for a child the benchmark killed itself (SIGKILL is its expected end).
#[cfg(unix)]
pub fn wait_killed(child: std::process::Child, t: Instant, what: &str) -> Result<Usage, Error> {
    wait4_usage(child, t, what, true)
}

#[cfg(not(unix))]
pub fn wait_killed(child: std::process::Child, t: Instant, what: &str) -> Result<Usage, Error> {
    wait_measured(child, t, what)
}

#[cfg(unix)]
fn wait4_usage(
    child: std::process::Child,
    t: Instant,
    what: &str,
    killed: bool,
) -> Result<Usage, Error> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter; wait4 reaps exactly our child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall_s = t.elapsed().as_secs_f64();
    let ended_well = if killed {
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL
    } else {
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    };
    if r != pid || !ended_well {
        let mut err = String::new();
        if let Some(mut e) = child.stderr {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        return Err(Error::internal(format!("{what} failed: {}", err.trim())));
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Ok(Usage {
        cpu_s: secs(ru.ru_utime) + secs(ru.ru_stime),
        wall_s,
        max_rss_mb: ru.ru_maxrss as f64 / 1024.0,
    })
}

/// A scratch directory for a benchmark, removed when dropped (whatever happens).
pub struct WorkDir(PathBuf);

impl WorkDir {
    pub fn new(base: Option<PathBuf>) -> Result<WorkDir, Error> {
        let dir = base
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("packwitness-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::msg(
                crate::ErrorKind::Io,
                format!("creating {}: {e}", dir.display()),
            )
        })?;
        Ok(WorkDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
