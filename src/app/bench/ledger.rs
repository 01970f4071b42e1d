//! `bench ledger`: the log at millions of records. Builds a data dir of N synthetic records
//! of the real formats (through the real ledger: salts, tiles, offsets, state; signed
//! checkpoints every 100 records; the last clips with real files, the older ones pruned),
//! then measures each operation as a process of its own: the time and peak memory of a
//! recorder's start to its first scan recorded, an export, a proof, a consistency proof, a
//! quick verify, and lookups. The same operations on a small log built in the same run are
//! the reference: their ratio says whether a cost grows with the log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{wait_measured, Usage};
use crate::clock::{format_time, Clock, SimClock};
use crate::log::note::StationKey;
use crate::log::{Body, Ledger, ScanAction, SealReason};
use crate::media::fmp4;
use crate::Error;

/// Clips at the end of the log that keep their files (older ones are pruned, as retention
/// does).
const KEPT: u64 = 20;

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::msg(crate::ErrorKind::Io, format!("bench ledger: {what}: {e}"))
}

/// What one log measured: each operation as a process of its own.
#[derive(Debug, Clone)]
pub struct Figures {
    pub records: u64,
    pub manifest_bytes: u64,
    pub build_s: f64,
    /// `reindex`: the index built from the manifest, and the ledger's derived files (offsets,
    /// tiles, state) rebuilt from it.
    pub reindex_s: f64,
    pub rebuild_s: f64,
    /// `run` started to its first scan in the manifest.
    pub start_s: f64,
    pub run: Usage,
    pub export: Usage,
    pub prove: Usage,
    pub consistency: Usage,
    pub verify: Usage,
    pub verify_lines_per_s: f64,
    pub lookup: Usage,
    pub lookup_p50_ms: f64,
    pub lookup_p99_ms: f64,
}

/// The figures of `bench ledger`: the big log, the same operations on a small reference log
/// built in the same run (the ratios say whether a cost grows with the log), and `sha256sum`
/// over the big manifest (the floor for reading it once).
#[derive(Debug, Clone)]
pub struct LedgerBench {
    pub big: Figures,
    pub small: Figures,
    pub sha256sum_s: f64,
}

/// Records of the reference log.
pub const REFERENCE_RECORDS: u64 = 1_000;

/// A tiny real clip (1 s of 160x120 video) to copy for the clips that keep their files.
fn sample_clip(dir: &Path) -> Result<(Vec<u8>, String, Vec<fmp4::Fragment>), Error> {
    let path = dir.join("sample.mp4");
    super::transcode_worker(160, 120, 10, &path)?;
    let (sha, _, frags) = fmp4::hash_fragments(&path).map_err(io("hashing the sample clip"))?;
    let bytes = std::fs::read(&path).map_err(io("reading the sample clip"))?;
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(fmp4::fragments_path(&path));
    Ok((bytes, sha, frags))
}

/// The sample clip every kept clip is a copy of: its bytes, SHA-256 and fragment list.
struct Sample {
    bytes: Vec<u8>,
    sha: String,
    frags: Vec<fmp4::Fragment>,
}

/// The records of synthetic clip `i` (scan, opening, a waybill every tenth, seal), its
/// opening being line `opened`; the last [`KEPT`] clips get a real file (a copy of the
/// sample), the others a made-up hash and no file (retention prunes them).
fn clip_bodies(
    dir: &Path,
    i: u64,
    opened: u64,
    keep: bool,
    at: chrono::DateTime<chrono::FixedOffset>,
    sample: &Sample,
) -> Result<(Vec<Body>, String), Error> {
    let order = format!("BL-{i:08}");
    let started = format_time(at);
    let ended = format_time(at + chrono::Duration::milliseconds(29_967));
    let file = format!("clips/bench/2026-11-25/{order}_cam-1_{i:08}.mp4");
    let mut bodies = vec![
        Body::Scan {
            station: "bench".into(),
            scanner: "hand".into(),
            code: order.clone(),
            code_kind: "order".into(),
            rule: "bench".into(),
            action: ScanAction::Switch,
            detail: Some("next_order".into()),
            order: Some(order.clone()),
            box_no: Some(1),
            group: Some(format!("g-{i}")),
            operator: Some(format!("OP{}", i % 20)),
            scanned_at: started.clone(),
        },
        Body::ClipOpened {
            order: order.clone(),
            station: "bench".into(),
            camera: "cam-1".into(),
            operator: Some(format!("OP{}", i % 20)),
            group: format!("g-{i}"),
            part: 1,
            box_no: 1,
            file: file.clone(),
            started_at: started.clone(),
            scanned_at: started.clone(),
            first_frame: i * 900,
            clock_synced: Some(true),
            test_pattern: Some(false),
        },
    ];
    if i.is_multiple_of(10) {
        bodies.push(Body::CodeAttached {
            clip: opened,
            code: format!("SF{i:013}"),
            code_kind: "tracking".into(),
        });
    }
    let (size, sha, nfrags, frags_sha) = if keep {
        let path = dir.join(&file);
        crate::datadir::create_dir_durable(path.parent().unwrap_or(dir))
            .map_err(io("creating a clip directory"))?;
        std::fs::write(&path, &sample.bytes).map_err(io("writing a clip"))?;
        fmp4::write_fragments(&path, &sample.frags).map_err(io("writing a fragment list"))?;
        (
            sample.bytes.len() as u64,
            sample.sha.clone(),
            sample.frags.len() as u64,
            fmp4::fragments_digest(&sample.frags),
        )
    } else {
        (
            20_000_000,
            crate::digest::sha256_hex(&i.to_le_bytes()),
            121,
            crate::digest::sha256_hex(&(i + 1).to_le_bytes()),
        )
    };
    bodies.push(Body::ClipSealed {
        clip: opened,
        order,
        station: "bench".into(),
        camera: "cam-1".into(),
        file: file.clone(),
        reason: SealReason::NextOrder,
        started_at: started,
        ended_at: ended,
        duration_ms: 30_000,
        frames: 900,
        first_frame: i * 900,
        size,
        sha256: sha,
        fragments: nfrags,
        fragments_sha256: frags_sha,
        dropped_frames: None,
        presets: Vec::new(),
    });
    Ok((bodies, file))
}

/// Writes a data dir of about `records` records; returns (an order with a file, the line of
/// an early checkpoint).
pub fn build(dir: &Path, records: u64) -> Result<(String, u64), Error> {
    crate::datadir::create(dir)?;
    let (bytes, sha, frags) = sample_clip(dir)?;
    let sample = Sample { bytes, sha, frags };
    let clock = SimClock::at_test_epoch();
    let key = StationKey::load_or_create(&dir.join("keys/station.key"), "bench")?;
    let mut l = Ledger::open(dir, &clock)?;
    l.set_bulk(true)?;
    l.append(
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
    // About 4.2 records a clip: scan, opened, a waybill every tenth, sealed, pruned, and a
    // checkpoint every 100 records.
    let clips = (records * 10 / 42).max(1);
    let mut early_checkpoint = 0;
    let mut since = 1u64;
    let mut last_cp = clock.monotonic();
    let mut pending_prunes = std::collections::VecDeque::new();
    for i in 0..clips {
        let keep = i + KEPT >= clips;
        let opened = l.next_seq() + 1;
        let (mut bodies, file) = clip_bodies(dir, i, opened, keep, clock.now(), &sample)?;
        if !keep {
            pending_prunes.push_back((opened, file));
        }
        // Retention removes clips some days later.
        if pending_prunes.len() > 50 || (keep && !pending_prunes.is_empty()) {
            while let Some((clip, file)) = pending_prunes.pop_front() {
                bodies.push(Body::Pruned {
                    clip,
                    file,
                    reason: "retention: older than keep_days = 30".into(),
                });
                if !keep {
                    break;
                }
            }
        }
        let n = bodies.len() as u64;
        l.append_batch(
            bodies
                .into_iter()
                .map(|b| Box::new(move |_| b) as _)
                .collect(),
            &clock,
        )?;
        since += n;
        // As the recorder does: every 100 records, or when 10 minutes have passed.
        let minutes = (clock.monotonic() - last_cp).as_secs() / 60;
        if since >= 100 || minutes >= 9 {
            last_cp = clock.monotonic();
            l.checkpoint(&key, &clock)?;
            since = 0;
            if early_checkpoint == 0 && l.next_seq() > 200 {
                early_checkpoint = l.next_seq() - 1;
            }
        }
        if i % 10_000 == 0 {
            l.flush()?;
        }
        clock.advance(Duration::from_secs(31));
    }
    l.checkpoint(&key, &clock)?;
    l.set_bulk(false)?;
    Ok((format!("BL-{:08}", clips - 1), early_checkpoint.max(1)))
}

/// Runs `exe args` as a measured child process, its output to `log`.
fn measured(exe: &Path, args: &[&str], what: &str) -> Result<Usage, Error> {
    let child = std::process::Command::new(exe)
        .args(args)
        .env("PACKWITNESS_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::internal(format!("cannot run {what}: {e}")))?;
    wait_measured(child, Instant::now(), what)
}

/// `run` on the data dir: the time from its start until its first scan is in the manifest,
/// and the process's usage.
fn measure_start(exe: &Path, dir: &Path, nth: usize) -> Result<(f64, Usage), Error> {
    let code = format!("BS-{:08}", nth + 1);
    let d = dir.to_string_lossy().into_owned();
    let manifest = dir.join(crate::datadir::MANIFEST);
    let before = std::fs::metadata(&manifest).map_or(0, |m| m.len());
    let t = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args([
            "--data-dir",
            &d,
            "run",
            "--source",
            "lavfi:testsrc2=size=160x120:rate=10",
        ])
        .env("PACKWITNESS_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::internal(format!("cannot start run: {e}")))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| Error::internal("run's stdin"))?;
    writeln!(stdin, "{code}").map_err(io("sending a scan"))?;
    let needle = format!("\"code\":\"{code}\"");
    let deadline = t + Duration::from_secs(300);
    let start_s = loop {
        let len = std::fs::metadata(&manifest).map_or(0, |m| m.len());
        if len > before {
            let mut f = std::fs::File::open(&manifest).map_err(io("reading the manifest"))?;
            let tail = crate::log::state::read_tail(&mut f, before).map_err(io("reading"))?;
            if String::from_utf8_lossy(&tail).contains(&needle) {
                break t.elapsed().as_secs_f64();
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(Error::internal(
                "run did not record its first scan in 5 minutes",
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    drop(stdin);
    Ok((start_s, wait_measured(child, t, "run")?))
}

/// The build worker: the synthetic data dir and its index, in a process of its own (a child
/// inherits its parent's peak memory on Linux, so the processes measured are started by a
/// parent that never held the build). Prints what the measurements need, as JSON.
pub fn build_worker(dir: &Path, records: u64) -> Result<String, Error> {
    let t = Instant::now();
    let (order, early) = build(dir, records)?;
    let build_s = t.elapsed().as_secs_f64();
    let r = crate::index::reindex(dir, true)?;
    Ok(serde_json::json!({
        "order": order, "early": early, "build_s": build_s, "reindex_s": r.seconds,
        "rebuild_s": r.ledger_seconds
    })
    .to_string())
}

/// Runs `exe args` and returns what it printed (a worker's JSON).
fn worker(exe: &Path, args: &[&str], what: &str) -> Result<(serde_json::Value, Usage), Error> {
    let t = Instant::now();
    let mut child = std::process::Command::new(exe)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::internal(format!("cannot run {what}: {e}")))?;
    let mut out = String::new();
    if let Some(mut so) = child.stdout.take() {
        use std::io::Read;
        so.read_to_string(&mut out)
            .map_err(io("reading a worker's output"))?;
    }
    let usage = wait_measured(child, t, what)?;
    let v = serde_json::from_str(out.trim())
        .map_err(|e| Error::internal(format!("{what} printed {out:?}: {e}")))?;
    Ok((v, usage))
}

/// The whole benchmark: the log of `records` in `dir`, the reference log in `reference`.
/// Each operation runs `runs` times; the fastest run is kept.
pub fn ledger(
    exe: &Path,
    dir: &Path,
    reference: &Path,
    records: u64,
    runs: usize,
) -> Result<LedgerBench, Error> {
    let big = measure_log(exe, dir, records, runs)?;
    let small = measure_log(exe, reference, REFERENCE_RECORDS, runs)?;
    let manifest = dir.join(crate::datadir::MANIFEST);
    let mut cmd = std::process::Command::new("sha256sum");
    cmd.arg(&manifest).stdout(std::process::Stdio::null());
    let sha = super::measure(cmd).map_err(|e| {
        Error::internal(format!(
            "the reference `sha256sum {}`: {e}",
            manifest.display()
        ))
    })?;
    Ok(LedgerBench {
        big,
        small,
        sha256sum_s: sha.wall_s,
    })
}

/// Builds a log of `records` in `dir` and measures every operation on it.
fn measure_log(exe: &Path, dir: &Path, records: u64, runs: usize) -> Result<Figures, Error> {
    let d = dir.to_string_lossy().into_owned();
    let n = records.to_string();
    let (built, _) = worker(
        exe,
        &["bench-worker", "--out", &d, "--build-ledger", &n],
        "the build",
    )?;
    let order = built["order"].as_str().unwrap_or_default().to_string();
    let early = built["early"].as_u64().unwrap_or(1);
    let build_s = built["build_s"].as_f64().unwrap_or(f64::NAN);
    let reindex_s = built["reindex_s"].as_f64().unwrap_or(f64::NAN);
    let rebuild_s = built["rebuild_s"].as_f64().unwrap_or(f64::NAN);
    let reader = crate::log::reader::LogReader::open(dir)?;
    let lines = reader.size();
    let manifest_bytes =
        std::fs::metadata(dir.join(crate::datadir::MANIFEST)).map_or(0, |m| m.len());
    let early_note = reader.checkpoint_at(early)?.note;
    drop(reader);
    let note_path = dir.join("early-checkpoint.note");
    std::fs::write(&note_path, early_note).map_err(io("writing the early checkpoint"))?;
    let out = dir.join("bench-out");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(io("creating the output dir"))?;
    let zip = out.join("bundle.zip").to_string_lossy().into_owned();
    let proofs = out.join("proofs").to_string_lossy().into_owned();
    let np = note_path.to_string_lossy().into_owned();
    let runs = runs.max(1);
    let mut starts = Vec::new();
    for i in 0..runs {
        starts.push(measure_start(exe, dir, i)?);
    }
    let (start_s, run) = starts
        .into_iter()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .ok_or_else(|| Error::internal("no run measured"))?;
    let best = |args: &[&str], what: &str| -> Result<Usage, Error> {
        let mut all = Vec::new();
        for _ in 0..runs {
            all.push(measured(exe, args, what)?);
        }
        all.into_iter()
            .min_by(|a, b| a.wall_s.total_cmp(&b.wall_s))
            .ok_or_else(|| Error::internal("no run measured"))
    };
    let export = best(
        &[
            "--data-dir",
            &d,
            "export",
            &order,
            "-o",
            &zip,
            "--who",
            "bench",
        ],
        "export",
    )?;
    let prove = best(
        &["--data-dir", &d, "prove", "BL-00000001", "-o", &proofs],
        "prove",
    )?;
    let consistency = best(&["--data-dir", &d, "consistency", &np], "consistency")?;
    // verify exits 3 on a problem: a broken benchmark, reported with its output.
    let verify = measured(
        exe,
        &["--data-dir", &d, "verify", "--quick"],
        "verify --quick",
    )?;
    let (v, lookup) = worker(
        exe,
        &["bench-worker", "--out", &d, "--lookups", "2000"],
        "lookups",
    )?;
    let _ = std::fs::remove_dir_all(&out);
    Ok(Figures {
        records: lines,
        manifest_bytes,
        build_s,
        reindex_s,
        rebuild_s,
        start_s,
        run,
        export,
        prove,
        consistency,
        verify_lines_per_s: lines as f64 / verify.wall_s.max(1e-9),
        verify,
        lookup,
        lookup_p50_ms: v["p50_ms"].as_f64().unwrap_or(f64::NAN),
        lookup_p99_ms: v["p99_ms"].as_f64().unwrap_or(f64::NAN),
    })
}

/// The lookup worker: `count` lookups of random orders and waybills (one in ten unknown) in
/// one process; prints `{"p50_ms": .., "p99_ms": ..}`.
pub fn lookups_worker(dir: &Path, count: u64) -> Result<String, Error> {
    let index = crate::index::Index::open_read(dir)?;
    let clips = index.count()?.max(1);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut times = Vec::with_capacity(count as usize);
    for _ in 0..count {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = x % clips;
        let code = match x % 10 {
            0 => format!("NOPE-{i}"),
            1 => format!("SF{:013}", i - i % 10),
            _ => format!("BL-{i:08}"),
        };
        let t = Instant::now();
        std::hint::black_box(index.lookup(&code)?);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        times
            .get(((times.len() as f64 * p) as usize).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Ok(serde_json::json!({"p50_ms": pct(0.5), "p99_ms": pct(0.99)}).to_string())
}

/// Where `bench ledger` builds: `keep`, or a scratch dir under `work`.
pub fn dir_for(keep: Option<&Path>, work: &Path) -> PathBuf {
    keep.map_or_else(|| work.join("ledger"), Path::to_owned)
}
