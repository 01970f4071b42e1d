//! Benchmarks that print ratios against a reference measured in the same run, on this machine.
//!
//! Owns: the work of `packwitness bench ...`: synthetic data dirs, child processes measured
//! alone (CPU and peak RSS), the reference commands (sha256sum, openssl, ffmpeg) run beside
//! them, and the figures. Never: prints (the binary does) or asserts wall-clock numbers in a
//! test; a benchmark reports ratios and passes or fails against its target.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::clock::RealClock;
use crate::datadir::MANIFEST;
use crate::log::{self as ledger, note::StationKey, Body, Ledger, SealReason};
use crate::verify::VerifyOptions;
use crate::Error;

/// Result of `bench verify`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyBench {
    pub files: usize,
    pub bytes: u64,
    /// Seconds: `sha256sum` over the files (one process, one core).
    pub sha256sum_s: f64,
    /// Seconds: `openssl dgst -sha256` over the files (one process), when openssl is installed:
    /// a second reference, since coreutils' sha256sum may not use the CPU's SHA instructions.
    pub openssl_s: Option<f64>,
    /// Seconds: `verify` on one thread, and on one thread per CPU.
    pub verify_one_core_s: f64,
    pub verify_all_cores_s: f64,
    pub cores: usize,
    /// Throughput of verify on one core relative to sha256sum (target >= 0.9).
    pub ratio_one_core: f64,
    /// The same with all cores (expected above 1 with several files and cores).
    pub ratio_all_cores: f64,
}

fn fill(seed: u64, buf: &mut [u8]) {
    let mut x = seed | 1;
    for chunk in buf.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

fn best_of(runs: usize, mut f: impl FnMut() -> Result<Duration, Error>) -> Result<f64, Error> {
    let mut best = f64::MAX;
    for _ in 0..runs {
        best = best.min(f()?.as_secs_f64());
    }
    Ok(best)
}

/// Builds a data dir of `files` synthetic clips of `mb` MiB each, with a real manifest, then
/// times `sha256sum` and `verify` over them (files in the page cache for both).
pub fn verify(work: &Path, files: usize, mb: usize, runs: usize) -> Result<VerifyBench, Error> {
    let dir = work.join(format!("packwitness-bench-{}", std::process::id()));
    let result = run_verify(&dir, files, mb, runs);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_verify(dir: &Path, files: usize, mb: usize, runs: usize) -> Result<VerifyBench, Error> {
    let io = |what: &str| {
        let what = what.to_string();
        let path = dir.to_owned();
        move |e: std::io::Error| {
            Error::msg(
                crate::ErrorKind::Io,
                format!("{}: {what}: {e}", path.display()),
            )
        }
    };
    crate::datadir::create(dir)?;
    let clips = dir.join("clips/bench");
    crate::datadir::create_dir_durable(&clips).map_err(io("creating clips/"))?;
    let clock = RealClock::new();
    let now = crate::clock::now_string(&clock);
    let mut ledger = Ledger::open(dir, &clock)?;
    let key = StationKey::load_or_create(&dir.join("keys/station.key"), "bench")?;
    ledger.append(
        Body::StationStart {
            station: "bench".into(),
            software: format!("packwitness {}", env!("CARGO_PKG_VERSION")),
            config_sha256: crate::digest::sha256_hex(b""),
            cameras: vec!["cam-1".into()],
            key: key.verifier(),
        },
        &clock,
    )?;
    let mut buf = vec![0u8; mb << 20];
    let mut paths: Vec<PathBuf> = Vec::new();
    for i in 0..files {
        fill(i as u64 + 1, &mut buf);
        let file = format!("clips/bench/clip-{i:04}.mp4");
        let path = dir.join(&file);
        std::fs::write(&path, &buf).map_err(io("writing a clip"))?;
        let (sha256, size, frags) =
            crate::media::fmp4::hash_fragments(&path).map_err(io("hashing a clip"))?;
        crate::media::fmp4::write_fragments(&path, &frags)
            .map_err(io("writing a fragment list"))?;
        let opened = ledger.append(
            Body::ClipOpened {
                order: format!("BENCH-{i}"),
                station: "bench".into(),
                camera: "cam-1".into(),
                operator: None,
                group: format!("bench-{i}"),
                part: 1,
                box_no: 1,
                file: file.clone(),
                started_at: now.clone(),
                scanned_at: now.clone(),
                clock_synced: None,
                first_frame: 0,
            },
            &clock,
        )?;
        ledger.append(
            Body::ClipSealed {
                clip: opened.seq,
                order: format!("BENCH-{i}"),
                station: "bench".into(),
                camera: "cam-1".into(),
                file,
                reason: SealReason::StopCode,
                started_at: now.clone(),
                ended_at: now.clone(),
                duration_ms: 0,
                frames: 0,
                first_frame: 0,
                size,
                sha256,
                fragments: frags.len() as u64,
                fragments_sha256: crate::media::fmp4::fragments_digest(&frags),
            },
            &clock,
        )?;
        paths.push(path);
    }
    ledger.checkpoint(&key, &clock)?;
    drop(ledger);
    let bytes = (files * buf.len()) as u64;
    drop(buf);

    let sha256sum = || -> Result<Duration, Error> {
        let t = Instant::now();
        let out = std::process::Command::new("sha256sum")
            .args(&paths)
            .output()
            .map_err(io("running sha256sum (coreutils)"))?;
        if !out.status.success() {
            return Err(Error::internal(format!(
                "sha256sum failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(t.elapsed())
    };
    let openssl = || -> Result<Duration, Error> {
        let t = Instant::now();
        let out = std::process::Command::new("openssl")
            .args(["dgst", "-sha256"])
            .args(&paths)
            .output()
            .map_err(io("running openssl"))?;
        if !out.status.success() {
            return Err(Error::internal("openssl dgst failed"));
        }
        Ok(t.elapsed())
    };
    let ours = |threads: usize| {
        move || -> Result<Duration, Error> {
            let t = Instant::now();
            let report = crate::verify::verify(
                dir,
                &VerifyOptions {
                    threads,
                    ..VerifyOptions::default()
                },
            )?;
            if !report.ok() {
                return Err(Error::internal(format!(
                    "bench data failed to verify: {:?}",
                    report.first_problem()
                )));
            }
            Ok(t.elapsed())
        }
    };
    sha256sum()?; // warm the page cache
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sha256sum_s = best_of(runs, sha256sum)?;
    let openssl_s = best_of(runs, openssl).ok();
    let verify_one_core_s = best_of(runs, ours(1))?;
    let verify_all_cores_s = best_of(runs, ours(0))?;
    Ok(VerifyBench {
        files,
        bytes,
        sha256sum_s,
        openssl_s,
        verify_one_core_s,
        verify_all_cores_s,
        cores,
        ratio_one_core: sha256sum_s / verify_one_core_s,
        ratio_all_cores: sha256sum_s / verify_all_cores_s,
    })
}

/// CPU seconds, wall seconds and peak RSS of one child process.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Usage {
    pub cpu_s: f64,
    pub wall_s: f64,
    pub max_rss_mb: f64,
}

/// Runs a command to completion and measures it with `wait4` (its own CPU time and peak RSS,
/// nothing of ours).
pub fn measure(mut cmd: std::process::Command) -> Result<Usage, Error> {
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::internal(format!("cannot run {cmd:?}: {e}")))?;
    wait_measured(child, Instant::now(), &format!("{cmd:?}"))
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
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter; wait4 reaps exactly our child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall_s = t.elapsed().as_secs_f64();
    if r != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
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

/// Escapes a filter's option string for an FFmpeg filtergraph (one more level of `\`).
fn graph_escape(args: &str) -> String {
    let mut out = String::new();
    for c in args.chars() {
        if matches!(c, '\\' | '\'' | ',' | ';' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The stamp of the benchmarks' one order.
fn bench_stamp() -> crate::media::StampText {
    crate::media::StampText {
        station: "station-1".into(),
        camera: "cam-1".into(),
        order: Some("BENCH-0001".into()),
        operator: None,
        tracking: Vec::new(),
        template: crate::config::DEFAULT_STAMP.into(),
    }
}

/// The `ffmpeg` command line doing what our recorder does for one camera: the same test
/// source, the same stamp filter, the same libx264 settings, fragmented MP4 out.
pub fn ffmpeg_reference(width: u32, height: u32, frames: u64, out: &Path) -> std::process::Command {
    let settings = crate::config::EncodeConfig::default();
    let stamp = bench_stamp();
    let font = settings.font_file.to_string_lossy().into_owned();
    let wall = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    let draw = crate::media::encoder::drawtext_args(
        &font,
        crate::media::encoder::font_size(&settings, height),
        &stamp,
        wall,
    );
    let gop = crate::media::encoder::gop_frames(&settings, 30.0);
    let mut cmd = std::process::Command::new("ffmpeg");
    cmd.args([
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
    ])
    .arg(format!("testsrc2=size={width}x{height}:rate=30"))
    .args(["-frames:v", &frames.to_string(), "-vf"])
    .arg(format!("drawtext={},format=yuv420p", graph_escape(&draw)))
    .args(["-c:v", "libx264", "-g", &gop.to_string(), "-bf", "0"]);
    for (k, v) in crate::media::encoder::x264_options(&settings, gop) {
        cmd.arg(format!("-{k}")).arg(v);
    }
    cmd.args([
        "-movflags",
        "frag_keyframe+empty_moov+default_base_moof",
        "-f",
        "mp4",
        "-y",
    ])
    .arg(out);
    cmd
}

/// The worker of `bench transcode`: what one camera of a station does (test source, stamp,
/// libx264, fragmented MP4 clip), as fast as it can, for `frames` frames.
pub fn transcode_worker(width: u32, height: u32, frames: u64, out: &Path) -> Result<(), Error> {
    use crate::media::FrameSource;
    let settings = crate::config::EncodeConfig::default();
    let mut source = crate::media::source::FfmpegSource::open(
        &format!("lavfi:testsrc2=size={width}x{height}:rate=30"),
        false,
    )?;
    let info = source.info();
    let stamp = bench_stamp();
    let wall = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
    let mut enc = crate::media::encoder::Encoder::open(info, &settings, wall, &stamp)?;
    let mut writer: Option<crate::media::fmp4::ClipWriter> = None;
    let mut packets = Vec::new();
    let write = |packets: &mut Vec<crate::media::EncodedPacket>,
                 writer: &mut Option<crate::media::fmp4::ClipWriter>,
                 enc: &crate::media::encoder::Encoder|
     -> Result<(), Error> {
        for p in packets.drain(..) {
            if writer.is_none() {
                *writer = Some(crate::media::fmp4::ClipWriter::create(
                    out,
                    &enc.parameters(),
                    info.time_base,
                    (p.pts, p.dts),
                    false,
                )?);
            }
            if let Some(w) = writer.as_mut() {
                w.write(p)?;
            }
        }
        Ok(())
    };
    for i in 0..frames {
        let Some(mut frame) = source.next_frame()? else {
            break;
        };
        enc.encode(&mut frame, i == 0, &mut packets)?;
        write(&mut packets, &mut writer, &enc)?;
    }
    enc.finish(&mut packets)?;
    write(&mut packets, &mut writer, &enc)?;
    if let Some(w) = writer {
        w.finish()?;
    }
    Ok(())
}

/// The worker of `bench passthrough`: what one passthrough camera does (demux, copy packets
/// into a fragmented MP4 clip with the stamp's text track), for a whole input file.
pub fn passthrough_worker(input: &str, frames: u64, out: &Path) -> Result<(), Error> {
    // Network sources as a station opens them (TCP for RTSP, 5 s timeouts); files as fast
    // as they can be read.
    // A live server that has just restarted its stream may not have sent the picture size
    // yet: try again, as a station's capture thread would.
    let mut attempt = 0;
    let source = loop {
        match crate::media::source::FfmpegSource::open_with_timeout(input, false, 5) {
            Ok(s) => break s,
            Err(e) if attempt < 3 && crate::media::SourceSpec::parse(input).is_live() => {
                tracing::warn!(error = %e, "bench source not ready; retrying");
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let mut pt = crate::media::passthrough::Passthrough::new(source);
    let info = pt.info();
    let params = pt.parameters();
    let second = (1.0 / info.seconds(1).max(1e-9)).round().max(1.0) as i64;
    let mut writer: Option<crate::media::fmp4::ClipWriter> = None;
    let mut next_text = 0;
    let mut written = 0u64;
    while let Some(p) = pt.next_packet()? {
        if writer.is_none() {
            writer = Some(crate::media::fmp4::ClipWriter::create(
                out,
                &params,
                info.time_base,
                (p.pts, p.dts),
                true,
            )?);
            next_text = p.pts;
        }
        if let Some(w) = writer.as_mut() {
            while next_text <= p.pts {
                w.write_text(
                    next_text,
                    second,
                    &format!("BENCH-0001  station-1 cam-1  {next_text}"),
                )?;
                next_text += second;
            }
            w.write(p)?;
            written += 1;
        }
        if frames > 0 && written >= frames {
            break;
        }
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    Ok(())
}

/// The RTSP camera stand-in of the tests (GStreamer's RTSP server), embedded so the benchmark
/// can serve a live H.264 stream on loopback.
const RTSP_SERVER_PY: &str = include_str!("../../tests/rtsp_server.py");

/// A GStreamer RTSP server serving an H.264 test stream on loopback; killed when dropped.
pub struct RtspServer {
    child: std::process::Child,
    pub url: String,
}

impl RtspServer {
    /// Starts the server (Debian's `/usr/bin/python3` with python3-gi) and waits until it
    /// serves `width`x`height` at 30 fps and `kbps`.
    pub fn start(work: &Path, width: u32, height: u32, kbps: u32) -> Result<RtspServer, Error> {
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
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| Error::internal(format!("no free loopback port: {e}")))?;
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

/// Result of `bench passthrough`: the best of the runs on each side, CPU seconds per minute
/// of recorded video.
#[derive(Debug, Clone)]
pub struct PassthroughBench {
    /// Whole process, start to exit, over the recorded minutes.
    pub ours_cpu_per_min: f64,
    pub ours_rss_mb: f64,
    pub copy_cpu_per_min: f64,
    pub copy_rss_mb: f64,
    /// CPU seconds of a run that records one frame (start, connect, first keyframe, exit).
    pub ours_start_cpu: f64,
    pub copy_start_cpu: f64,
    /// Per recorded minute once running: (whole run - start-up run) over the minutes. What a
    /// recorder that runs for months costs.
    pub ours_steady_per_min: f64,
    pub copy_steady_per_min: f64,
    /// `openssl dgst -sha256` of ffmpeg's output: the hashing the recorder does on top.
    pub hash_cpu_per_min: f64,
}

/// Records `seconds` of a live 1080p30 RTSP stream (GStreamer, `kbps`) with our passthrough
/// (one clip, with its text track, hashes and per-fragment fsyncs) and, at the same time from
/// the same server, with `ffmpeg -rtsp_transport tcp -i URL -c copy` into the same kind of
/// fragmented MP4; `runs` times, keeping each side's best.
pub fn passthrough(
    work: &Path,
    exe: &Path,
    runs: usize,
    seconds: u64,
    kbps: u32,
) -> Result<PassthroughBench, Error> {
    let mut server = RtspServer::start(work, 1920, 1080, kbps)?;
    let (ours_out, copy_out) = (work.join("ours.mp4"), work.join("copy.mp4"));
    // Both sides record the same stream at the same time: the same machine conditions.
    let side_by_side = |url: &str, frames: u64| -> Result<(Usage, Usage), Error> {
        for f in [&ours_out, &copy_out] {
            let _ = std::fs::remove_file(f);
            let _ = std::fs::remove_file(crate::media::fmp4::fragments_path(f));
        }
        let mut ours = std::process::Command::new(exe);
        ours.arg("bench-worker")
            .arg("--passthrough")
            .arg(url)
            .arg("--frames")
            .arg(frames.to_string())
            .arg("--out")
            .arg(&ours_out);
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
            .arg(&copy_out);
        let t = std::thread::spawn(move || measure(copy));
        let u = measure(ours)?;
        let c = t
            .join()
            .map_err(|_| Error::internal("the ffmpeg measuring thread panicked"))??;
        Ok((u, c))
    };
    let mut best = PassthroughBench {
        ours_cpu_per_min: f64::MAX,
        ours_rss_mb: 0.0,
        copy_cpu_per_min: f64::MAX,
        copy_rss_mb: 0.0,
        ours_start_cpu: f64::MAX,
        copy_start_cpu: f64::MAX,
        ours_steady_per_min: 0.0,
        copy_steady_per_min: 0.0,
        hash_cpu_per_min: f64::MAX,
    };
    let per_min = 60.0 / seconds as f64;
    // GStreamer's server can die when clients come and go on a loaded machine: a run that
    // fails on a dead server is repeated on a new one (three tries).
    let mut measured = |frames: u64| -> Result<(Usage, Usage), Error> {
        let mut tries = 0;
        loop {
            match side_by_side(&server.url, frames) {
                Ok(r) => return Ok(r),
                Err(e) if tries < 2 && !server.alive() => {
                    let log =
                        std::fs::read_to_string(work.join("rtsp_server.log")).unwrap_or_default();
                    let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                    tracing::warn!(error = %e, server_log = %tail, "the RTSP server died; starting a new one and measuring again");
                    server = RtspServer::start(work, 1920, 1080, kbps)?;
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    };
    for _ in 0..runs {
        let (u, c) = measured(1)?;
        best.ours_start_cpu = best.ours_start_cpu.min(u.cpu_s);
        best.copy_start_cpu = best.copy_start_cpu.min(c.cpu_s);
        let (u, c) = measured(seconds * 30)?;
        if u.cpu_s * per_min < best.ours_cpu_per_min {
            best.ours_cpu_per_min = u.cpu_s * per_min;
            best.ours_rss_mb = u.max_rss_mb;
        }
        if c.cpu_s * per_min < best.copy_cpu_per_min {
            best.copy_cpu_per_min = c.cpu_s * per_min;
            best.copy_rss_mb = c.max_rss_mb;
        }
        let mut h = std::process::Command::new("openssl");
        h.args(["dgst", "-sha256"]).arg(&copy_out);
        if let Ok(u) = measure(h) {
            best.hash_cpu_per_min = best.hash_cpu_per_min.min(u.cpu_s * per_min);
        }
    }
    drop(server);
    best.ours_steady_per_min = (best.ours_cpu_per_min - best.ours_start_cpu * per_min).max(0.0);
    best.copy_steady_per_min = (best.copy_cpu_per_min - best.copy_start_cpu * per_min).max(0.0);
    Ok(best)
}

/// Result of `bench lookup`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LookupBench {
    pub clips: u64,
    pub records: u64,
    pub manifest_bytes: u64,
    /// Seconds to read and parse every manifest line (the reference: the least any index
    /// build must do).
    pub parse_s: f64,
    /// Seconds to build the index from the manifest (what `reindex` does).
    pub reindex_s: f64,
    pub reindex_records_per_s: f64,
    /// reindex time / parse-only time.
    pub reindex_ratio: f64,
    pub lookups: u64,
    pub lookup_p50_ms: f64,
    pub lookup_p99_ms: f64,
    pub lookup_max_ms: f64,
}

/// Writes a manifest of `clips` synthetic sealed clips (every tenth with a waybill attached),
/// builds the index from it, then times `lookups` lookups of random orders and waybills (one
/// in ten unknown). Lines are written without fsync: this measures the index, not the disk.
pub fn lookup(work_dir: &Path, clips: u64, lookups: u64) -> Result<LookupBench, Error> {
    use std::io::Write;
    let dir = work_dir.join(format!("packwitness-bench-lookup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    crate::datadir::create(&dir)?;
    let result = (|| {
        let io = |e: std::io::Error| {
            Error::msg(
                crate::ErrorKind::Io,
                format!("{}: writing the synthetic manifest: {e}", dir.display()),
            )
        };
        let path = dir.join(MANIFEST);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
        let mut prev = ledger::GENESIS.to_string();
        let mut seq = 0u64;
        let at = "2026-11-25T10:00:00.000+08:00".to_string();
        let mut put = |body: Body| -> Result<u64, Error> {
            seq += 1;
            let rec = ledger::Record {
                v: ledger::FORMAT_VERSION,
                seq,
                prev: prev.clone(),
                at: at.clone(),
                body,
            };
            let mut line = serde_json::to_vec(&rec).map_err(|e| Error::internal(e.to_string()))?;
            line.push(b'\n');
            prev = crate::digest::sha256_hex(&line);
            out.write_all(&line).map_err(io)?;
            Ok(seq)
        };
        put(Body::StationStart {
            station: "bench".into(),
            software: format!("packwitness {}", env!("CARGO_PKG_VERSION")),
            config_sha256: crate::digest::sha256_hex(b""),
            cameras: vec!["cam-1".into()],
            key: "bench+00000000+AA".into(),
        })?;
        for i in 0..clips {
            let order = format!("SO-{i:09}");
            let file = format!("clips/bench/2026-11-25/{order}_cam-1_{i:06}.mp4");
            let opened = put(Body::ClipOpened {
                order: order.clone(),
                station: "bench".into(),
                camera: "cam-1".into(),
                operator: Some(format!("OP{}", i % 20)),
                group: format!("g-{i}"),
                part: 1,
                box_no: 1,
                file: file.clone(),
                started_at: at.clone(),
                scanned_at: at.clone(),
                first_frame: i * 900,
                clock_synced: Some(true),
            })?;
            if i % 10 == 0 {
                put(Body::CodeAttached {
                    clip: opened,
                    code: format!("SF{i:013}"),
                    code_kind: "tracking".into(),
                })?;
            }
            put(Body::ClipSealed {
                clip: opened,
                order,
                station: "bench".into(),
                camera: "cam-1".into(),
                file,
                reason: SealReason::NextOrder,
                started_at: at.clone(),
                ended_at: at.clone(),
                duration_ms: 30_000,
                frames: 900,
                first_frame: i * 900,
                size: 20_000_000,
                sha256: crate::digest::sha256_hex(&i.to_le_bytes()),
                fragments: 121,
                fragments_sha256: crate::digest::sha256_hex(&(i + 1).to_le_bytes()),
            })?;
        }
        out.flush().map_err(io)?;
        drop(out);
        let manifest_bytes = std::fs::metadata(&path).map_err(io)?.len();

        // Reference: read and parse every line, nothing else.
        let t = Instant::now();
        let mut reader = ledger::open_manifest(&dir)?;
        let mut records = 0u64;
        while let Some((_, _, bytes)) = reader.next_line().map_err(io)? {
            let rec: ledger::Record =
                serde_json::from_slice(&bytes).map_err(|e| Error::internal(e.to_string()))?;
            std::hint::black_box(&rec);
            records += 1;
        }
        let parse_s = t.elapsed().as_secs_f64();

        // `packwitness reindex`, whole: the lock, the build into a new file, the comparison
        // with the (absent) old index, the rename.
        let t = Instant::now();
        crate::index::reindex(&dir, false)?;
        let reindex_s = t.elapsed().as_secs_f64();
        let index = crate::index::Index::open_read(&dir)?;

        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut times = Vec::with_capacity(lookups as usize);
        for _ in 0..lookups {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = x % clips.max(1);
            let code = match x % 10 {
                0 => format!("NOPE-{i}"),
                1 => format!("SF{:013}", i - i % 10),
                _ => format!("SO-{i:09}"),
            };
            let t = Instant::now();
            let rows = index.lookup(&code)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(rows);
        }
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            times
                .get(((times.len() as f64 * p) as usize).min(times.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0.0)
        };
        Ok(LookupBench {
            clips,
            records,
            manifest_bytes,
            parse_s,
            reindex_s,
            reindex_records_per_s: records as f64 / reindex_s.max(1e-9),
            reindex_ratio: reindex_s / parse_s.max(1e-9),
            lookups,
            lookup_p50_ms: pct(0.50),
            lookup_p99_ms: pct(0.99),
            lookup_max_ms: times.last().copied().unwrap_or(0.0),
        })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// One resolution of `bench transcode`: the best run of each side.
#[derive(Debug, Clone)]
pub struct TranscodeRow {
    pub width: u32,
    pub height: u32,
    pub ours: Usage,
    pub ffmpeg: Usage,
}

/// `bench transcode`: `seconds` of testsrc2 at 30 fps, stamped and encoded, at 720p and
/// 1080p, by this program's own path (`exe bench-worker`) and by the `ffmpeg` command line,
/// each alone in a child process, `runs` times; the run with the least CPU of each side is kept.
pub fn transcode(
    exe: &Path,
    work: &Path,
    runs: usize,
    seconds: u64,
) -> Result<Vec<TranscodeRow>, Error> {
    let frames = seconds * 30;
    let mut rows = Vec::new();
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        let out = work.join(format!("{h}p.mp4"));
        let mut ours = None::<Usage>;
        let mut theirs = None::<Usage>;
        for _ in 0..runs {
            let mut c = std::process::Command::new(exe);
            c.args([
                "bench-worker",
                "--width",
                &w.to_string(),
                "--height",
                &h.to_string(),
                "--frames",
                &frames.to_string(),
                "--out",
            ])
            .arg(&out);
            let _ = std::fs::remove_file(&out);
            let u = measure(c)?;
            ours = Some(ours.map_or(u, |b| if u.cpu_s < b.cpu_s { u } else { b }));
            let u = measure(ffmpeg_reference(w, h, frames, &out))?;
            theirs = Some(theirs.map_or(u, |b| if u.cpu_s < b.cpu_s { u } else { b }));
        }
        match (ours, theirs) {
            (Some(ours), Some(ffmpeg)) => rows.push(TranscodeRow {
                width: w,
                height: h,
                ours,
                ffmpeg,
            }),
            _ => return Err(Error::invalid("--runs must be at least 1")),
        }
    }
    Ok(rows)
}

/// `bench station`: a two-camera station recording an order every 10 s.
#[derive(Debug, Clone)]
pub struct StationBench {
    pub usage: Usage,
    pub frames: u64,
    pub late: u64,
}

/// Runs `exe run` with two 720p30 test-pattern cameras for `seconds`, a scan every 10 s, and
/// measures the process; frames and late frames are read from its log's session summaries.
pub fn station(exe: &Path, work: &Path, seconds: u64) -> Result<StationBench, Error> {
    use std::io::{BufRead, Write};
    let cfg = work.join("station.toml");
    let io = |e: std::io::Error| Error::msg(crate::ErrorKind::Io, format!("bench station: {e}"));
    std::fs::write(
        &cfg,
        "[station]\npre_roll_s = 3.0\n\n[[camera]]\nid = \"top\"\nsource = \"testsrc\"\n\n[[camera]]\nid = \"side\"\nsource = \"testsrc\"\n",
    )
    .map_err(io)?;
    let t = Instant::now();
    let mut child = std::process::Command::new(exe)
        .env("PACKWITNESS_LOG", "info")
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(work.join("data"))
        .arg("run")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(io)?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| Error::internal("the station's stderr"))?;
    let log = std::thread::spawn(move || {
        std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| Error::internal("the station's stdin"))?;
    let mut n = 0;
    while t.elapsed() < Duration::from_secs(seconds) {
        n += 1;
        writeln!(stdin, "BENCH-{n:05}").map_err(io)?;
        // The packer's pace: an order every ten seconds.
        std::thread::sleep(
            Duration::from_secs(10).min(Duration::from_secs(seconds).saturating_sub(t.elapsed())),
        );
    }
    drop(stdin);
    let usage = wait_measured(child, t, "the station")?;
    let lines = log.join().unwrap_or_default();
    let (mut frames, mut late) = (0u64, 0u64);
    for l in lines.iter().filter(|l| l.contains("camera session ended")) {
        let field = |k: &str| {
            l.split(&format!("{k}="))
                .nth(1)
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        frames += field("frames");
        late += field("late");
    }
    Ok(StationBench {
        usage,
        frames,
        late,
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
