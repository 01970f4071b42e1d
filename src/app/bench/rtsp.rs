//! `bench passthrough`: a live RTSP stream (GStreamer on loopback) recorded by packwitness and
//! by `ffmpeg -c copy` at the same time.

use std::path::Path;

use super::{measure, Usage};
use crate::Error;

/// The RTSP camera stand-in of the tests (GStreamer's RTSP server), embedded so the benchmark
/// can serve a live H.264 stream on loopback.
const RTSP_SERVER_PY: &str = include_str!("../../../tests/rtsp_server.py");

/// A GStreamer RTSP server serving an H.264 test stream on loopback; killed when dropped.
pub struct RtspServer {
    child: std::process::Child,
    pub url: String,
}

impl RtspServer {
    /// Starts the server (Debian's `/usr/bin/python3` with python3-gi) and waits until it
    /// serves `width`x`height` at 30 fps and `kbps`.
    pub fn start(work: &Path, width: u32, height: u32, kbps: u32) -> Result<RtspServer, Error> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| Error::internal(format!("no free loopback port: {e}")))?;
        RtspServer::start_at(work, port, width, height, kbps)
    }

    /// [`RtspServer::start`] on a given loopback port (a camera that comes back where it was).
    pub fn start_at(
        work: &Path,
        port: u16,
        width: u32,
        height: u32,
        kbps: u32,
    ) -> Result<RtspServer, Error> {
        use std::io::BufRead;
        let script = work.join("rtsp_server.py");
        std::fs::write(&script, RTSP_SERVER_PY).map_err(|e| {
            Error::msg(
                crate::ErrorKind::Io,
                format!(
                    "{}: cannot write the RTSP server script: {e}",
                    script.display()
                ),
            )
        })?;
        // Its messages go to a file: a pipe nobody reads could fill and stall it.
        let log_path = work.join("rtsp_server.log");
        let log = std::fs::File::create(&log_path).map_err(|e| {
            Error::msg(
                crate::ErrorKind::Io,
                format!(
                    "{}: cannot write the RTSP server's log: {e}",
                    log_path.display()
                ),
            )
        })?;
        let mut child = std::process::Command::new("/usr/bin/python3")
            .arg(&script)
            .args([port, width as u16, height as u16].map(|n| n.to_string()))
            .arg(kbps.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| Error::internal(format!("cannot start /usr/bin/python3 for the RTSP server ({e}); `bash .ci/deps` installs python3-gi and GStreamer's RTSP server")))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(Error::internal(format!(
                "the GStreamer RTSP server did not start (`bash .ci/deps` installs python3-gi, gir1.2-gst-rtsp-server-1.0 and gstreamer1.0-plugins-ugly): {}",
                err.trim()
            )));
        }
        Ok(RtspServer {
            child,
            url: format!("rtsp://127.0.0.1:{port}/cam"),
        })
    }
}

impl RtspServer {
    /// False once the server process has exited.
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One side-by-side measure of `bench passthrough`: `cameras` cameras recorded by one
/// packwitness process and by as many `ffmpeg -c copy` processes, the best of the runs.
#[derive(Debug, Clone)]
pub struct PassthroughRun {
    pub cameras: usize,
    /// Whole process (all ffmpeg processes), start to exit, over the recorded minutes.
    pub ours_cpu_per_min: f64,
    pub copy_cpu_per_min: f64,
    /// Peak resident memory: of our process, and the sum of the ffmpeg processes'.
    pub ours_rss_mb: f64,
    pub copy_rss_mb: f64,
    /// CPU seconds of a run that records one frame (start, connect, first keyframe, exit).
    pub ours_start_cpu: f64,
    pub copy_start_cpu: f64,
    /// Per recorded minute once running: (whole run - start-up run) over the minutes; 0 when
    /// the run was too short to tell (see [`steady`]).
    pub ours_steady_per_min: f64,
    pub copy_steady_per_min: f64,
}

impl PassthroughRun {
    /// The figures once running (ours, ffmpeg's, per recorded minute) and what they are: the
    /// whole run minus start-up, or the whole run when the run was too short to tell.
    pub fn once_running(&self) -> (f64, f64, &'static str) {
        if self.ours_steady_per_min > 0.0 && self.copy_steady_per_min > 0.0 {
            (
                self.ours_steady_per_min,
                self.copy_steady_per_min,
                "whole run minus start-up",
            )
        } else {
            (
                self.ours_cpu_per_min,
                self.copy_cpu_per_min,
                "too short to subtract start-up: whole run",
            )
        }
    }
}

/// Result of `bench passthrough`: one camera, then four at once; CPU seconds per minute of
/// recorded video.
#[derive(Debug, Clone)]
pub struct PassthroughBench {
    pub one: PassthroughRun,
    pub four: PassthroughRun,
    /// `openssl dgst -sha256` of one camera's ffmpeg output: the hashing the recorder does
    /// on top.
    pub hash_cpu_per_min: f64,
}

/// CPU seconds below which a difference of two measured runs is noise: a few scheduler ticks,
/// and the jitter of connecting and waiting for the first keyframe.
const RESOLVABLE_CPU_S: f64 = 0.05;

/// Per recorded minute once running, from the whole run's rate and the start-up run's
/// seconds; zero (not measurable) when the run's CPU beyond start-up is under
/// [`RESOLVABLE_CPU_S`], where a ratio of two such differences would mean nothing.
fn steady(whole_per_min: f64, start_cpu: f64, per_min: f64) -> f64 {
    let beyond_start = whole_per_min / per_min - start_cpu;
    if beyond_start < RESOLVABLE_CPU_S {
        0.0
    } else {
        beyond_start * per_min
    }
}

/// Records `seconds` of a live 1080p30 RTSP stream (GStreamer, `kbps`) with our passthrough
/// (one clip per camera, with its text track, hashes and per-fragment fsyncs; RTSP through
/// retina) and, at the same time from the same server, with `ffmpeg -rtsp_transport tcp -i
/// URL -c copy` into the same kind of fragmented MP4: one camera, then four at once (one
/// packwitness process, four ffmpeg processes); `runs` times, keeping each side's best.
pub fn passthrough(
    work: &Path,
    exe: &Path,
    runs: usize,
    seconds: u64,
    kbps: u32,
) -> Result<PassthroughBench, Error> {
    let mut server = RtspServer::start(work, 1920, 1080, kbps)?;
    let ours_out = work.join("ours.mp4");
    let copy_out = |k: usize| work.join(format!("copy-{k}.mp4"));
    // Both sides record the same stream at the same time: the same machine conditions.
    let side_by_side = |url: &str, cameras: usize, frames: u64| -> Result<(Usage, Usage), Error> {
        if let Ok(list) = std::fs::read_dir(work) {
            for e in list.flatten() {
                if e.file_name().to_string_lossy().contains(".mp4") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let mut ours = std::process::Command::new(exe);
        ours.arg("bench-worker")
            .arg("--passthrough")
            .arg(vec![url; cameras].join(","))
            .arg("--frames")
            .arg(frames.to_string())
            .arg("--out")
            .arg(&ours_out);
        let copies: Vec<_> = (0..cameras)
            .map(|k| {
                let mut copy = std::process::Command::new("ffmpeg");
                copy.args(["-v", "error", "-nostats", "-rtsp_transport", "tcp", "-i"])
                    .arg(url)
                    .args(["-frames:v", &frames.to_string(), "-c", "copy"])
                    .args([
                        "-movflags",
                        "frag_keyframe+empty_moov+default_base_moof",
                        "-frag_duration",
                        "250000",
                        "-f",
                        "mp4",
                        "-y",
                    ])
                    .arg(copy_out(k));
                std::thread::spawn(move || measure(copy))
            })
            .collect();
        let u = measure(ours)?;
        let mut c = Usage {
            cpu_s: 0.0,
            wall_s: 0.0,
            max_rss_mb: 0.0,
        };
        for t in copies {
            let one = t
                .join()
                .map_err(|_| Error::internal("an ffmpeg measuring thread panicked"))??;
            c.cpu_s += one.cpu_s;
            c.wall_s = c.wall_s.max(one.wall_s);
            c.max_rss_mb += one.max_rss_mb;
        }
        Ok((u, c))
    };
    let per_min = 60.0 / seconds as f64;
    // GStreamer's server can die, or drop its shared stream for a moment, when several
    // clients come and go at once on a loaded machine (an assertion in
    // gst_rtsp_media_get_rates): a run that fails is repeated on a new server (three tries).
    let mut measured = |cameras: usize, frames: u64| -> Result<(Usage, Usage), Error> {
        let mut tries = 0;
        loop {
            match side_by_side(&server.url, cameras, frames) {
                Ok(r) => return Ok(r),
                Err(e) if tries < 2 => {
                    let log =
                        std::fs::read_to_string(work.join("rtsp_server.log")).unwrap_or_default();
                    let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                    let dead = !server.alive();
                    tracing::warn!(error = %e, server_died = dead, server_log = %tail, "a measuring run failed; starting a new RTSP server and measuring again");
                    drop(std::mem::replace(
                        &mut server,
                        RtspServer::start(work, 1920, 1080, kbps)?,
                    ));
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    };
    let mut hash_cpu_per_min = f64::MAX;
    let mut results = Vec::new();
    for cameras in [1, 4] {
        let mut best = PassthroughRun {
            cameras,
            ours_cpu_per_min: f64::MAX,
            copy_cpu_per_min: f64::MAX,
            ours_rss_mb: 0.0,
            copy_rss_mb: 0.0,
            ours_start_cpu: f64::MAX,
            copy_start_cpu: f64::MAX,
            ours_steady_per_min: 0.0,
            copy_steady_per_min: 0.0,
        };
        for _ in 0..runs {
            let (u, c) = measured(cameras, 1)?;
            best.ours_start_cpu = best.ours_start_cpu.min(u.cpu_s);
            best.copy_start_cpu = best.copy_start_cpu.min(c.cpu_s);
            let (u, c) = measured(cameras, seconds * 30)?;
            if u.cpu_s * per_min < best.ours_cpu_per_min {
                best.ours_cpu_per_min = u.cpu_s * per_min;
                best.ours_rss_mb = u.max_rss_mb;
            }
            if c.cpu_s * per_min < best.copy_cpu_per_min {
                best.copy_cpu_per_min = c.cpu_s * per_min;
                best.copy_rss_mb = c.max_rss_mb;
            }
            if cameras == 1 {
                let mut h = std::process::Command::new("openssl");
                h.args(["dgst", "-sha256"]).arg(copy_out(0));
                if let Ok(u) = measure(h) {
                    hash_cpu_per_min = hash_cpu_per_min.min(u.cpu_s * per_min);
                }
            }
        }
        best.ours_steady_per_min = steady(best.ours_cpu_per_min, best.ours_start_cpu, per_min);
        best.copy_steady_per_min = steady(best.copy_cpu_per_min, best.copy_start_cpu, per_min);
        results.push(best);
    }
    drop(server);
    let four = results
        .pop()
        .ok_or_else(|| Error::internal("no four-camera run"))?;
    let one = results
        .pop()
        .ok_or_else(|| Error::internal("no one-camera run"))?;
    Ok(PassthroughBench {
        one,
        four,
        hash_cpu_per_min,
    })
}

/// The records of kind `kind` in the manifest of `data` so far.
fn records(data: &Path, kind: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(data.join(crate::datadir::MANIFEST))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["kind"] == kind)
        .collect()
}

/// Polls until `f` holds (every 50 ms) or `limit` passes; false on the limit.
fn until(limit: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = std::time::Instant::now();
    while t.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    f()
}

/// A station recording one RTSP camera (passthrough through retina) with an order open; the
/// camera's server is killed and started again on the same port `trials` times. For each: the
/// seconds from the moment the camera serves again to the first frame of the order's next part
/// (its `clip_opened` record's `started_at`).
pub fn reconnect(work: &Path, exe: &Path, trials: usize) -> Result<Vec<f64>, Error> {
    use std::io::Write;
    let io = |e: std::io::Error| Error::msg(crate::ErrorKind::Io, format!("bench reconnect: {e}"));
    let work = work.join("reconnect");
    std::fs::create_dir_all(&work).map_err(io)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io)?;
    let mut server = Some(RtspServer::start_at(&work, port, 640, 360, 2048)?);
    let cfg = work.join("station.toml");
    std::fs::write(
        &cfg,
        format!("[station]\npre_roll_s = 1.0\n\n[[camera]]\nid = \"door\"\nsource = \"rtsp://127.0.0.1:{port}/cam\"\nmode = \"passthrough\"\n"),
    )
    .map_err(io)?;
    let data = work.join("data");
    let mut child = super::station_command(exe, &cfg, &data, "error")
        .spawn()
        .map_err(io)?;
    let result = (|| -> Result<Vec<f64>, Error> {
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| Error::internal("the station's stdin"))?;
        let limit = std::time::Duration::from_secs(30);
        let recording = |n: usize| until(limit, || records(&data, "clip_opened").len() >= n);
        if !until(limit, || {
            crate::recorder::writer::recorder_status(&data).is_ok_and(|p| {
                p.stations
                    .first()
                    .and_then(|s| s.health.as_ref())
                    .is_some_and(|h| h.cameras.iter().any(|c| c.frames > 0))
            })
        }) {
            return Err(Error::internal(
                "bench reconnect: the camera never recorded a frame",
            ));
        }
        writeln!(stdin, "RECONNECT-1").map_err(io)?;
        if !recording(1) {
            return Err(Error::internal(
                "bench reconnect: the order's clip never opened",
            ));
        }
        let mut resumed = Vec::new();
        for k in 1..=trials {
            // Recording for a moment, then the camera dies...
            std::thread::sleep(std::time::Duration::from_secs(2));
            drop(server.take());
            let lost = until(limit, || {
                records(&data, "clip_sealed")
                    .iter()
                    .filter(|r| r["reason"] == "camera_lost")
                    .count()
                    >= k
            });
            if !lost {
                return Err(Error::internal(
                    "bench reconnect: the loss was never recorded",
                ));
            }
            // ...and comes back where it was.
            server = Some(RtspServer::start_at(&work, port, 640, 360, 2048)?);
            let back = chrono::Utc::now();
            if !recording(k + 1) {
                return Err(Error::internal(format!(
                    "bench reconnect: recording did not resume within {} s",
                    limit.as_secs()
                )));
            }
            let opened = records(&data, "clip_opened");
            let started = opened
                .get(k)
                .and_then(|r| r["started_at"].as_str())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .ok_or_else(|| {
                    Error::internal("bench reconnect: a clip_opened without started_at")
                })?;
            resumed.push((started.with_timezone(&chrono::Utc) - back).as_seconds_f64());
        }
        writeln!(stdin, "PW-STOP").map_err(io)?;
        Ok(resumed)
    })();
    // Its scanner input ends: the station seals what is open and exits.
    let t = std::time::Instant::now();
    if !until(std::time::Duration::from_secs(15), || {
        matches!(child.try_wait(), Ok(Some(_)))
    }) {
        let _ = child.kill();
        let _ = super::wait_killed(child, t, "the reconnect station");
    }
    drop(server);
    result
}

#[cfg(test)]
mod tests {
    use super::steady;

    #[test]
    fn a_difference_under_the_resolution_is_not_a_figure() {
        // A 2 s run (30 runs a minute): 0.02 CPU-s beyond start-up is ticks, not a cost.
        assert_eq!(steady(30.0 * 0.05, 0.03, 30.0), 0.0);
        // 0.3 CPU-s beyond start-up is: 9 CPU-s a minute.
        assert!((steady(30.0 * 0.4, 0.1, 30.0) - 9.0).abs() < 1e-9);
        // Start-up costing more than the whole run (noise) is not measurable either.
        assert_eq!(steady(30.0 * 0.1, 0.2, 30.0), 0.0);
    }
}
