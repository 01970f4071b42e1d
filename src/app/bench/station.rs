//! `bench station`: a two-camera station recording an order every ten seconds.

use std::path::Path;
use std::time::{Duration, Instant};

use super::Usage;
use crate::Error;

/// `bench station`: a two-camera station recording an order every 10 s.
#[derive(Debug, Clone)]
pub struct StationBench {
    pub usage: Usage,
    pub frames: u64,
    pub late: u64,
    /// Frames left out because the recorder was behind real time (the frame rate stepped
    /// down).
    pub dropped: u64,
    /// Writer lag (video queued between capture and the clip file), sampled from the
    /// station's status five times a second.
    pub lag_p99_s: f64,
    pub lag_max_s: f64,
    /// How far frames arrived after their time (sampled likewise): the recorder's lag
    /// behind real time.
    pub behind_p99_s: f64,
    /// Video lost to the kill -9 that ends the run: from the last frame kept to the kill.
    pub lost_s: f64,
    /// With a station screen watching: the live pictures it received.
    pub pictures: u64,
}

/// A station screen's picture loop on one camera (as `station.js` asks): the pictures it got.
fn watch(addr: std::net::SocketAddr, camera: &str, stop: &std::sync::atomic::AtomicBool) -> u64 {
    use std::io::{Read, Write};
    let (mut seq, mut got) = (0u64, 0u64);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let req = format!(
            "GET /api/stations/station-1/cameras/{camera}/preview.jpg?after={seq} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        );
        let mut answer = Vec::new();
        if s.write_all(req.as_bytes()).is_err() || s.read_to_end(&mut answer).is_err() {
            continue;
        }
        let head = String::from_utf8_lossy(&answer[..answer.len().min(512)]).to_string();
        match head
            .lines()
            .find_map(|l| l.strip_prefix("x-preview-seq: "))
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(n) if head.starts_with("HTTP/1.1 200") => {
                seq = n;
                got += 1;
                // The screen's pace between pictures.
                std::thread::sleep(Duration::from_millis(250));
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
    got
}

/// Runs `exe run` with two 720p30 test-pattern cameras for `seconds`, a scan every 10 s
/// (with `load`, two spinning processes per core beside it, as a busy PC would), samples its
/// status, kills it with SIGKILL, restarts it to recover the interrupted clips, and measures what the kill lost.
/// With `screen`, a station screen watches both cameras' live pictures all along.
pub fn station(
    exe: &Path,
    work: &Path,
    seconds: u64,
    load: bool,
    screen: bool,
) -> Result<StationBench, Error> {
    use std::io::Write;
    let io = |e: std::io::Error| Error::msg(crate::ErrorKind::Io, format!("bench station: {e}"));
    std::fs::create_dir_all(work).map_err(io)?;
    let cfg = work.join("station.toml");
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(io)?;
    let server = if screen {
        format!("\n[server]\nlisten = \"{addr}\"\n")
    } else {
        String::new()
    };
    std::fs::write(
        &cfg,
        format!("[station]\npre_roll_s = 3.0\n\n[[camera]]\nid = \"top\"\nsource = \"testsrc\"\n\n[[camera]]\nid = \"side\"\nsource = \"testsrc\"\n{server}"),
    )
    .map_err(io)?;
    let data = work.join("data");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut hogs = Vec::new();
    if load {
        for _ in 0..2 * cores {
            hogs.push(
                std::process::Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .spawn()
                    .map_err(io)?,
            );
        }
    }
    let t = Instant::now();
    let mut child = super::station_command(exe, &cfg, &data, "warn")
        .spawn()
        .map_err(io)?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| Error::internal("the station's stdin"))?;
    let (mut lags, mut behind, mut n, mut frames, mut late, mut dropped) =
        (Vec::new(), Vec::new(), 0, 0u64, 0u64, 0u64);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchers: Vec<_> = ["top", "side"]
        .into_iter()
        .filter(|_| screen)
        .map(|cam| {
            let stop = stop.clone();
            std::thread::spawn(move || watch(addr, cam, &stop))
        })
        .collect();
    let mut next_scan = t;
    while t.elapsed() < Duration::from_secs(seconds) {
        if Instant::now() >= next_scan {
            n += 1;
            writeln!(stdin, "BENCH-{n:05}").map_err(io)?;
            // The packer's pace: an order every ten seconds.
            next_scan += Duration::from_secs(10);
        }
        if let Ok(p) = crate::recorder::writer::recorder_status(&data) {
            let cams = p
                .stations
                .first()
                .and_then(|s| s.health.as_ref())
                .map(|h| h.cameras.as_slice())
                .unwrap_or_default();
            for c in cams {
                lags.push(c.writer_lag_s);
                behind.push(c.behind_s);
            }
            frames = cams.iter().map(|c| c.frames).sum();
            late = cams.iter().map(|c| c.late_frames).sum();
            dropped = cams.iter().map(|c| c.dropped_frames).sum();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let pictures = watchers.into_iter().map(|w| w.join().unwrap_or(0)).sum();
    // The end: a kill, as a power cut would do it, while both cameras record.
    let _ = child.kill();
    let killed = chrono::Local::now();
    let usage = super::wait_killed(child, t, "the station")?;
    for mut h in hogs {
        let _ = h.kill();
        let _ = h.wait();
    }
    drop(stdin);
    let recovered = super::station_command(exe, &cfg, &data, "error")
        .output()
        .map_err(io)?;
    if !recovered.status.success() {
        return Err(Error::internal("the restart after the kill failed"));
    }
    lags.sort_by(f64::total_cmp);
    behind.sort_by(f64::total_cmp);
    let pct = |v: &[f64], p: f64| {
        v.get(((v.len() as f64 * p) as usize).min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Ok(StationBench {
        usage,
        frames,
        late,
        dropped,
        lag_p99_s: pct(&lags, 0.99),
        behind_p99_s: pct(&behind, 0.99),
        lag_max_s: lags.last().copied().unwrap_or(f64::NAN),
        lost_s: lost_to_the_kill(&data, killed)?,
        pictures,
    })
}

/// The worst gap, over the clips a kill interrupted, between the last frame kept and the kill.
fn lost_to_the_kill(data: &Path, killed: chrono::DateTime<chrono::Local>) -> Result<f64, Error> {
    let mut reader = crate::log::open_manifest(data)?;
    let mut worst = f64::NAN;
    while let Ok(Some((_, _, line))) = reader.next_line() {
        let Ok(rec) = serde_json::from_slice::<crate::log::Record>(&line) else {
            continue;
        };
        if let crate::log::Body::ClipSealed {
            reason: crate::log::SealReason::Interrupted,
            started_at,
            duration_ms,
            ..
        } = rec.body
        {
            if let Ok(s) = chrono::DateTime::parse_from_rfc3339(&started_at) {
                let kept = s + chrono::Duration::milliseconds(duration_ms as i64);
                let lost = (killed.fixed_offset() - kept).num_milliseconds() as f64 / 1000.0;
                worst = if worst.is_nan() {
                    lost
                } else {
                    worst.max(lost)
                };
            }
        }
    }
    if worst.is_nan() {
        return Err(Error::internal(
            "the kill interrupted no clip: nothing was measured",
        ));
    }
    Ok(worst)
}
