//! `bench verify`: `verify` against `sha256sum` and `openssl dgst` over the same clips.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{best_of, fill};
use crate::clock::RealClock;
use crate::log::{note::StationKey, Body, Ledger, SealReason};
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
/// Builds a data dir of `files` synthetic clips of `mb` MiB each, with a real manifest, then
/// times `sha256sum` and `verify` over them (files in the page cache for both).
pub fn verify(work: &Path, files: usize, mb: usize, runs: usize) -> Result<VerifyBench, Error> {
    let dir = work.join(format!("packwitness-bench-{}", std::process::id()));
    let result = run_verify(&dir, files, mb, runs);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// How an I/O error of the benchmark's data dir reads.
fn io_in(dir: &Path, what: &str) -> impl Fn(std::io::Error) -> Error {
    let what = what.to_string();
    let path = dir.to_owned();
    move |e: std::io::Error| {
        Error::msg(
            crate::ErrorKind::Io,
            format!("{}: {what}: {e}", path.display()),
        )
    }
}

/// A data dir of `files` synthetic clips of `mb` MiB, sealed and signed; returns the clip
/// paths and their total size.
fn write_clips(dir: &Path, files: usize, mb: usize) -> Result<(Vec<PathBuf>, u64), Error> {
    let io = |what: &str| io_in(dir, what);
    crate::datadir::create(dir)?;
    let clips = dir.join("clips/bench");
    crate::datadir::create_dir_durable(&clips).map_err(io("creating clips/"))?;
    let clock = RealClock::new();
    let now = crate::clock::now_string(&clock);
    // A synthetic clip of 300 frames at 30 fps: the last frame starts 9.967 s after the first.
    let later = crate::clock::format_time(
        crate::clock::Clock::now(&clock) + chrono::Duration::milliseconds(9_967),
    );
    let mut ledger = Ledger::open(dir, &clock)?;
    let key = StationKey::load_or_create(&dir.join("keys/station.key"), "bench")?;
    ledger.append(
        Body::StationStart {
            station: "bench".into(),
            software: format!("packwitness {}", env!("CARGO_PKG_VERSION")),
            config_sha256: crate::digest::sha256_hex(b""),
            cameras: vec!["cam-1".into()],
            key: key.verifier(),
            sources: Vec::new(),
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
                test_pattern: Some(false),
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
                ended_at: later.clone(),
                duration_ms: 10_000,
                frames: 300,
                first_frame: 0,
                size,
                sha256,
                fragments: frags.len() as u64,
                fragments_sha256: crate::media::fmp4::fragments_digest(&frags),
                dropped_frames: None,
                presets: Vec::new(),
            },
            &clock,
        )?;
        paths.push(path);
    }
    ledger.checkpoint(&key, &clock)?;
    Ok((paths, (files * buf.len()) as u64))
}

fn run_verify(dir: &Path, files: usize, mb: usize, runs: usize) -> Result<VerifyBench, Error> {
    let io = |what: &str| io_in(dir, what);
    let (paths, bytes) = write_clips(dir, files, mb)?;

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
                    full: true,
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
