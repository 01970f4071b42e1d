//! `bench archive`: many stations pushing a day of orders into one archive node on this
//! machine, with its own PostgreSQL and S3 server (as the tests start them).
//!
//! Each station's data dir is written through the real ledger (real, signed, salted lines: a
//! scan, the clip's opening and seal, and the checkpoint an archiving recorder writes after
//! each seal) with a small real clip file per order (a 1 s 160x120 clip made unique by a
//! trailing MP4 `free` box, so no two clips share an object). First the first hour of every
//! station (a tenth of the day: the archive was down for an hour and the stations catch up),
//! then the rest of the day, each pushed by every station at once through the real uploader.
//! The reference, in the same run: the same number of clips PUT straight into the bucket
//! with the same checksum and lock, without the archive.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::servers::{Postgres, Seaweed, S3_KEY, S3_SECRET};
use crate::archive::push::{round, ArchiveStatus, Client, Round};
use crate::clock::{format_time, Clock, SimClock};
use crate::config::{ArchiveConfig, ArchiveServerConfig};
use crate::log::note::StationKey;
use crate::log::{Body, Ledger, ScanAction, SealReason};
use crate::{Error, ErrorKind};

/// An archive node's peak memory must stay under this (MB).
pub const MAX_RSS_MB: f64 = 200.0;
/// The day of 50 stations of 1,000 orders in 5 minutes: clips a second.
pub const MIN_CLIPS_PER_S: f64 = 50.0 * 1000.0 / 300.0;
/// An hour of backlog caught up at least this many times faster than it was recorded.
pub const MIN_CATCH_UP_X: f64 = 20.0;

fn fail(what: impl Into<String>) -> Error {
    Error::msg(
        ErrorKind::Unavailable,
        format!("bench archive: {}", what.into()),
    )
}

/// What the benchmark measured.
#[derive(Debug, Clone, Default)]
pub struct ArchiveBench {
    pub stations: u64,
    pub orders: u64,
    pub lines: u64,
    pub clips: u64,
    pub clip_bytes: u64,
    /// The first hour of every station (a tenth of the day), pushed at once: seconds, and how
    /// many times faster than the hour it stands for.
    pub catch_up_s: f64,
    pub catch_up_x: f64,
    /// The whole day: seconds, and its rates.
    pub day_s: f64,
    pub lines_per_s: f64,
    pub clips_per_s: f64,
    pub mb_per_s: f64,
    pub archive_rss_mb: f64,
    pub pg_rows_per_clip: f64,
    pub pg_bytes_per_clip: f64,
    /// The reference: clips a second PUT straight into the bucket.
    pub direct_clips_per_s: f64,
    /// The search at scale, when asked for (`--clips`).
    pub search: Option<super::archive_search::SearchBench>,
    /// Clips played through the archive's app against the bucket read directly.
    pub play: super::archive_play::PlayBench,
}

/// One station's data dir and its writing state.
struct Station {
    dir: PathBuf,
    name: String,
    key: StationKey,
    written: u64,
}

fn sample_clip(dir: &Path) -> Result<Vec<u8>, Error> {
    let path = dir.join("sample.mp4");
    super::transcode_worker(160, 120, 10, &path)?;
    let bytes = std::fs::read(&path).map_err(|e| fail(format!("reading the sample clip: {e}")))?;
    let _ = std::fs::remove_file(&path);
    Ok(bytes)
}

/// The sample clip with a trailing `free` box naming station `s` and order `i`.
fn unique_clip(sample: &[u8], s: u64, i: u64) -> Vec<u8> {
    let mut b = sample.to_vec();
    b.extend_from_slice(&24u32.to_be_bytes());
    b.extend_from_slice(b"free");
    b.extend_from_slice(&s.to_be_bytes());
    b.extend_from_slice(&i.to_be_bytes());
    b
}

impl Station {
    fn create(work: &Path, s: u64) -> Result<Station, Error> {
        let name = format!("bench-{s:02}");
        let dir = work.join(&name);
        crate::datadir::create(&dir)?;
        let key = StationKey::load_or_create(&dir.join("keys/station.key"), &name)?;
        Ok(Station {
            dir,
            name,
            key,
            written: 0,
        })
    }

    /// Appends orders up to `to` (36 s apart: 100 an hour), a checkpoint after each seal.
    fn write(&mut self, s: u64, to: u64, sample: &[u8]) -> Result<u64, Error> {
        let clock = SimClock::at_test_epoch();
        clock.advance(Duration::from_secs(36 * self.written));
        let mut l = Ledger::open(&self.dir, &clock)?;
        l.set_bulk(true)?;
        if self.written == 0 {
            l.append(
                Body::StationStart {
                    station: self.name.clone(),
                    software: format!("packwitness {}", env!("CARGO_PKG_VERSION")),
                    config_sha256: crate::digest::sha256_hex(b""),
                    cameras: vec!["cam-1".into()],
                    key: self.key.verifier(),
                    sources: Vec::new(),
                },
                &clock,
            )?;
        }
        let mut bytes = 0;
        for i in self.written..to {
            let order = format!("BA-{s:02}-{i:06}");
            let file = format!("clips/{}/2026-11-25/{order}_cam-1.mp4", self.name);
            let clip = unique_clip(sample, s, i);
            let path = self.dir.join(&file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| fail(format!("{}: {e}", parent.display())))?;
            }
            std::fs::write(&path, &clip).map_err(|e| fail(format!("{}: {e}", path.display())))?;
            bytes += clip.len() as u64;
            let at = format_time(clock.now());
            let opened = l.next_seq() + 1;
            let sealed = Body::ClipSealed {
                clip: opened,
                order: order.clone(),
                station: self.name.clone(),
                camera: "cam-1".into(),
                file: file.clone(),
                reason: SealReason::NextOrder,
                started_at: at.clone(),
                ended_at: at.clone(),
                duration_ms: 1000,
                frames: 10,
                first_frame: 0,
                size: clip.len() as u64,
                sha256: crate::digest::sha256_hex(&clip),
                fragments: 1,
                fragments_sha256: crate::digest::sha256_hex(b""),
                dropped_frames: None,
                presets: Vec::new(),
            };
            let bodies = vec![
                Body::Scan {
                    station: self.name.clone(),
                    scanner: "hand".into(),
                    code: order.clone(),
                    code_kind: "order".into(),
                    rule: "bench".into(),
                    action: ScanAction::Switch,
                    detail: None,
                    order: Some(order.clone()),
                    box_no: Some(1),
                    group: Some(format!("g-{i}")),
                    operator: None,
                    scanned_at: at.clone(),
                },
                Body::ClipOpened {
                    order: order.clone(),
                    station: self.name.clone(),
                    camera: "cam-1".into(),
                    operator: None,
                    group: format!("g-{i}"),
                    part: 1,
                    box_no: 1,
                    file,
                    started_at: at.clone(),
                    scanned_at: at,
                    first_frame: 0,
                    clock_synced: Some(true),
                    test_pattern: Some(false),
                },
                sealed,
            ];
            l.append_batch(
                bodies
                    .into_iter()
                    .map(|b| Box::new(move |_| b) as _)
                    .collect(),
                &clock,
            )?;
            l.checkpoint(&self.key, &clock)?;
            clock.advance(Duration::from_secs(36));
        }
        l.set_bulk(false)?;
        self.written = to;
        Ok(bytes)
    }
}

/// Every station pushes until the archive holds all it signed; the wall time.
fn push_all(url: &str, stations: &[(PathBuf, String)]) -> Result<f64, Error> {
    let t = Instant::now();
    let results: Vec<Result<(), Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = stations
            .iter()
            .map(|(dir, token)| {
                scope.spawn(move || {
                    let client = Client::new(&ArchiveConfig {
                        url: url.to_string(),
                        token: token.clone(),
                        ..ArchiveConfig::default()
                    })?;
                    let status = Mutex::new(ArchiveStatus::default());
                    let mut errors = 0;
                    loop {
                        match round(&client, dir, Duration::from_secs(3600), &status) {
                            Ok(Round::Idle) => return Ok(()),
                            Ok(Round::More) => {}
                            Err(e) if errors < 20 => {
                                errors += 1;
                                tracing::warn!(error = %e, "bench archive: a push failed; again");
                                std::thread::sleep(Duration::from_millis(200));
                            }
                            Err(e) => return Err(e),
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(fail("a pushing thread panicked")))
            })
            .collect()
    });
    for r in results {
        r?;
    }
    Ok(t.elapsed().as_secs_f64())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Peak resident memory of a process (VmHWM), MB.
fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The archive node, killed when dropped.
struct Node(std::process::Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the benchmark in `work` with `stations` stations of `orders` orders each.
/// Runs the ingest of `stations` x `orders`, then (with `search_clips` > 0) the search at
/// that many clip rows ([`super::archive_search`]).
pub fn archive(
    work: &Path,
    stations: u64,
    orders: u64,
    search_clips: u64,
) -> Result<ArchiveBench, Error> {
    let mkdir =
        |p: &Path| std::fs::create_dir_all(p).map_err(|e| fail(format!("{}: {e}", p.display())));
    let (pg_dir, s3_dir) = (work.join("pg"), work.join("s3"));
    mkdir(&pg_dir)?;
    mkdir(&s3_dir)?;
    let pg = Postgres::start(&pg_dir)?;
    let s3 = Seaweed::start(&s3_dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fail(format!("no runtime: {e}")))?;
    let client = s3.client();
    rt.block_on(
        client
            .create_bucket()
            .bucket("bench")
            .object_lock_enabled_for_bucket(true)
            .send(),
    )
    .map_err(|e| fail(format!("creating the bucket: {e:?}")))?;
    // The store's first writes allocate its volumes (seconds): once, before anything is timed.
    for i in 0..16 {
        rt.block_on(
            client
                .put_object()
                .bucket("bench")
                .key(format!("warm-up/{i}"))
                .body(vec![0u8; 1024].into())
                .send(),
        )
        .map_err(|e| fail(format!("warming the store up: {e:?}")))?;
    }
    let cfg = ArchiveServerConfig {
        s3_endpoint: s3.endpoint(),
        s3_bucket: "bench".into(),
        postgres_url: pg.url(),
        retention_days: 1,
        ..ArchiveServerConfig::default()
    };
    let cfg_path = work.join("archive.toml");
    std::fs::write(
        &cfg_path,
        format!(
            "[archive_server]\ns3_endpoint = \"{}\"\ns3_bucket = \"bench\"\npostgres_url = \"{}\"\nretention_days = 1\n",
            cfg.s3_endpoint, cfg.postgres_url
        ),
    )
    .map_err(|e| fail(format!("{}: {e}", cfg_path.display())))?;
    let port = super::servers::free_port()?;
    let exe = std::env::current_exe().map_err(|e| fail(format!("no executable: {e}")))?;
    let mut child = std::process::Command::new(exe)
        .arg("--config")
        .arg(&cfg_path)
        .args([
            "archive",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(work.join("archive"))
        .env("AWS_ACCESS_KEY_ID", S3_KEY)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        .env(
            "PACKWITNESS_LOG",
            std::env::var("PW_ARCHIVE_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| fail(format!("cannot start the archive: {e}")))?;
    let out = child.stdout.take();
    let node = Node(child);
    let mut first = String::new();
    if let Some(o) = out {
        let _ = std::io::BufReader::new(o).read_line(&mut first);
    }
    if first.trim().is_empty() {
        return Err(fail("the archive node did not start"));
    }
    let url = format!("http://127.0.0.1:{port}");

    let sample = sample_clip(work)?;
    let mut all = Vec::new();
    let mut tokens = Vec::new();
    for s in 0..stations {
        let st = Station::create(work, s)?;
        let token = crate::app::archive::add_station(&cfg, &st.key.verifier())?;
        tokens.push((st.dir.clone(), token));
        all.push(st);
    }
    // The first hour (a tenth of a day of orders), then the rest of the day.
    let hour = (orders / 10).max(1).min(orders);
    let mut clip_bytes = 0;
    for (s, st) in all.iter_mut().enumerate() {
        clip_bytes += st.write(s as u64, hour, &sample)?;
    }
    let catch_up_s = push_all(&url, &tokens)?;
    for (s, st) in all.iter_mut().enumerate() {
        clip_bytes += st.write(s as u64, orders, &sample)?;
    }
    let rest_s = push_all(&url, &tokens)?;
    let archive_rss_mb = peak_rss_mb(node.0.id());

    // What the database holds, through PostgreSQL's own client.
    let (rows, table_bytes, clips_rows, lines) = rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(&cfg.postgres_url, tokio_postgres::NoTls)
            .await
            .map_err(|e| fail(format!("PostgreSQL: {e}")))?;
        tokio::spawn(conn);
        let r = c
            .query_one(
                "SELECT (SELECT count(*) FROM clips) + (SELECT count(*) FROM stations) + (SELECT count(*) FROM refused),
                        pg_total_relation_size('clips') + pg_total_relation_size('stations') + pg_total_relation_size('refused'),
                        (SELECT count(*) FROM clips WHERE stored_at IS NOT NULL),
                        (SELECT sum(size) FROM stations WHERE NOT access_log)::bigint",
                &[],
            )
            .await
            .map_err(|e| fail(format!("PostgreSQL: {e}")))?;
        Ok::<_, Error>((
            r.get::<_, i64>(0),
            r.get::<_, i64>(1),
            r.get::<_, i64>(2),
            r.get::<_, Option<i64>>(3).unwrap_or(0),
        ))
    })?;
    let clips = stations * orders;
    if clips_rows as u64 != clips {
        return Err(fail(format!(
            "the archive stored {clips_rows} clips of {clips}: something was lost"
        )));
    }

    let search = match search_clips {
        0 => None,
        n => Some(super::archive_search::search(&rt, &cfg, &url, n)?),
    };
    // Playing: one more station records a few clips of a real clip's size, then they are
    // played through the app.
    let play = {
        use super::archive_play as pl;
        let mut st = Station::create(work, stations)?;
        let token = crate::app::archive::add_station(&cfg, &st.key.verifier())?;
        let big = sample.repeat((pl::CLIP_BYTES / sample.len().max(1)).max(1));
        st.write(stations, pl::CLIPS, &big)?;
        push_all(&url, &[(st.dir.clone(), token)])?;
        pl::play(&rt, &cfg, &client, &url, &st.name)?
    };
    drop(node);

    // The reference: the same number of clips straight into the bucket, 8 at a time.
    let t = Instant::now();
    rt.block_on(async {
        let until =
            aws_sdk_s3::primitives::DateTime::from_secs(chrono::Utc::now().timestamp() + 86_400);
        let mut next = 0u64;
        while next < clips {
            let mut batch = tokio::task::JoinSet::new();
            for i in next..(next + 8).min(clips) {
                let body = unique_clip(&sample, 999, i);
                let sum = crate::log::note::b64(&sha256(&body));
                let put = client
                    .put_object()
                    .bucket("bench")
                    .key(format!("reference/{i}"))
                    .checksum_sha256(sum)
                    .object_lock_mode(aws_sdk_s3::types::ObjectLockMode::Compliance)
                    .object_lock_retain_until_date(until)
                    .body(body.into());
                batch.spawn(put.send());
            }
            while let Some(r) = batch.join_next().await {
                r.map_err(|e| fail(format!("reference PUT: {e}")))?
                    .map_err(|e| fail(format!("reference PUT: {e:?}")))?;
            }
            next += 8;
        }
        Ok::<_, Error>(())
    })?;
    let direct_s = t.elapsed().as_secs_f64();

    let day_s = catch_up_s + rest_s;
    Ok(ArchiveBench {
        stations,
        orders,
        lines: lines as u64,
        clips,
        clip_bytes,
        catch_up_s,
        // The first hour's orders (a tenth of the day) stand for 3,600 s of recording.
        catch_up_x: 3600.0 * (hour as f64 * 10.0 / orders as f64) / catch_up_s.max(1e-9),
        day_s,
        lines_per_s: lines as f64 / day_s.max(1e-9),
        clips_per_s: clips as f64 / day_s.max(1e-9),
        mb_per_s: clip_bytes as f64 / 1e6 / day_s.max(1e-9),
        archive_rss_mb,
        pg_rows_per_clip: rows as f64 / clips as f64,
        pg_bytes_per_clip: table_bytes as f64 / clips as f64,
        direct_clips_per_s: clips as f64 / direct_s.max(1e-9),
        search,
        play,
    })
}
