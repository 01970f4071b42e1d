//! `bench lookup`: reindex speed and lookup latency on a synthetic manifest of many clips.

use std::path::Path;
use std::time::Instant;

use crate::datadir::MANIFEST;
use crate::log::{self as ledger, Body, SealReason};
use crate::Error;

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
    /// The app's suggestions as an agent types (codes starting with 1 to 12 typed
    /// characters), ms: p50, p99.
    pub suggest_p50_ms: f64,
    pub suggest_p99_ms: f64,
    /// The app's search of a typed prefix (newest 100 clips, files checked), ms: p50, p99.
    pub search_p50_ms: f64,
    pub search_p99_ms: f64,
    /// `stats` of the last day of the synthetic year, and of the whole year (ms), with the
    /// reference: counting the same rows through the same index (ms), and the boxes counted.
    pub stats_day_ms: f64,
    pub stats_year_ms: f64,
    pub stats_year_reference_ms: f64,
    pub stats_year_boxes: u64,
}

/// The synthetic clips are spread over this year: the first is scanned at its start.
const YEAR_START_MS: i64 = 1_767_232_800_000; // 2026-01-01T10:00:00+08:00
const YEAR_MS: i64 = 365 * 86_400_000;

/// The scan time of synthetic clip `i` of `clips` (Unix ms), spread over a year.
fn scanned_ms(i: u64, clips: u64) -> i64 {
    YEAR_START_MS + (i as i128 * YEAR_MS as i128 / clips.max(1) as i128) as i64
}

/// A Unix ms time as a station in +08:00 records it.
fn station_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms + 8 * 3_600_000)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3f+08:00")
        .to_string()
}

/// `stats` of the last day and of the whole year, and the reference count of the year's
/// rows: (day ms, year ms, reference ms, boxes of the year).
fn time_stats(dir: &Path) -> Result<(f64, f64, f64, u64), Error> {
    let index = crate::index::Index::open_read(dir)?;
    let end = YEAR_START_MS + YEAR_MS;
    let t = Instant::now();
    std::hint::black_box(index.stats(end - 86_400_000, end)?);
    let day = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let year = index.stats(YEAR_START_MS, end)?;
    let year_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    std::hint::black_box(index.scans_between(YEAR_START_MS, end)?);
    let reference = t.elapsed().as_secs_f64() * 1000.0;
    let boxes = year.rows.iter().map(|r| r.boxes).sum();
    Ok((day, year_ms, reference, boxes))
}

/// The app's suggestions and prefix searches on prefixes of random codes: their times (ms,
/// sorted).
fn time_app(dir: &Path, clips: u64, n: u64) -> Result<(Vec<f64>, Vec<f64>), Error> {
    let index = crate::index::Index::open_read(dir)?;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let (mut suggest, mut search) = (Vec::new(), Vec::new());
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = x % clips.max(1);
        let code = if x % 10 == 1 {
            format!("SF{:013}", i - i % 10)
        } else {
            format!("SO-{i:09}")
        };
        let cut = 1 + (x >> 20) as usize % 12;
        let prefix = &code[..cut.min(code.len())];
        let t = Instant::now();
        std::hint::black_box(index.codes_with_prefix(prefix, 10)?);
        suggest.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let filter = crate::index::Filter {
            prefix: Some(prefix.to_string()),
            limit: Some(100),
            newest_first: true,
            ..Default::default()
        };
        std::hint::black_box(crate::index::search(
            dir,
            &filter,
            crate::index::FileCheck::Size,
        )?);
        search.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    suggest.sort_by(f64::total_cmp);
    search.sort_by(f64::total_cmp);
    Ok((suggest, search))
}

/// The `p` quantile of sorted times.
pub(super) fn quantile(times: &[f64], p: f64) -> f64 {
    times
        .get(((times.len() as f64 * p) as usize).min(times.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

/// Writes the synthetic manifest of `clips` clips (version-2 lines: the lookup needs no
/// salts); returns its size in bytes.
fn write_manifest(dir: &Path, clips: u64) -> Result<u64, Error> {
    use std::io::Write;
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
            v: 2,
            seq,
            prev: prev.clone(),
            at: at.clone(),
            salt: None,
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
        sources: Vec::new(),
    })?;
    for i in 0..clips {
        let scanned = station_time(scanned_ms(i, clips));
        let ended = station_time(scanned_ms(i, clips) + 30_000);
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
            started_at: scanned.clone(),
            scanned_at: scanned.clone(),
            first_frame: i * 900,
            clock_synced: Some(true),
            test_pattern: Some(false),
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
            started_at: scanned,
            ended_at: ended,
            duration_ms: 30_000,
            frames: 900,
            first_frame: i * 900,
            size: 20_000_000,
            sha256: crate::digest::sha256_hex(&i.to_le_bytes()),
            fragments: 121,
            fragments_sha256: crate::digest::sha256_hex(&(i + 1).to_le_bytes()),
            dropped_frames: None,
            presets: Vec::new(),
        })?;
    }
    out.flush().map_err(io)?;
    drop(out);
    let manifest_bytes = std::fs::metadata(&path).map_err(io)?.len();
    Ok(manifest_bytes)
}

/// The reference: read and parse every line, nothing else. Returns (records, seconds).
fn parse_all(dir: &Path) -> Result<(u64, f64), Error> {
    let io = |e: std::io::Error| {
        Error::msg(
            crate::ErrorKind::Io,
            format!("{}: reading the synthetic manifest: {e}", dir.display()),
        )
    };
    let t = Instant::now();
    let mut reader = ledger::open_manifest(dir)?;
    let mut records = 0u64;
    while let Some((_, _, bytes)) = reader.next_line().map_err(io)? {
        let rec: ledger::Record =
            serde_json::from_slice(&bytes).map_err(|e| Error::internal(e.to_string()))?;
        std::hint::black_box(&rec);
        records += 1;
    }
    Ok((records, t.elapsed().as_secs_f64()))
}

/// `lookups` lookups of orders, waybills and unknown codes; their times in ms, sorted.
fn time_lookups(dir: &Path, clips: u64, lookups: u64) -> Result<Vec<f64>, Error> {
    let index = crate::index::Index::open_read(dir)?;
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
    Ok(times)
}

/// Writes a manifest of `clips` synthetic sealed clips (every tenth with a waybill attached),
/// builds the index from it, then times `lookups` lookups of random orders and waybills (one
/// in ten unknown). Lines are written without fsync: this measures the index, not the disk.
pub fn lookup(work_dir: &Path, clips: u64, lookups: u64) -> Result<LookupBench, Error> {
    let dir = work_dir.join(format!("packwitness-bench-lookup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    crate::datadir::create(&dir)?;
    let result = (|| {
        let manifest_bytes = write_manifest(&dir, clips)?;
        let (records, parse_s) = parse_all(&dir)?;
        // `packwitness reindex`, whole: the lock, the build into a new file, the comparison
        // with the (absent) old index, the rename.
        let t = Instant::now();
        crate::index::reindex(&dir, false)?;
        let reindex_s = t.elapsed().as_secs_f64();
        let times = time_lookups(&dir, clips, lookups)?;
        let pct = |p: f64| quantile(&times, p);
        let (suggest, search) = time_app(&dir, clips, (lookups / 10).max(10))?;
        let (stats_day_ms, stats_year_ms, stats_year_reference_ms, stats_year_boxes) =
            time_stats(&dir)?;
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
            suggest_p50_ms: quantile(&suggest, 0.5),
            suggest_p99_ms: quantile(&suggest, 0.99),
            search_p50_ms: quantile(&search, 0.5),
            search_p99_ms: quantile(&search, 0.99),
            stats_day_ms,
            stats_year_ms,
            stats_year_reference_ms,
            stats_year_boxes,
        })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{Filter, Index};

    #[test]
    fn a_broad_prefix_walks_to_the_same_newest_clips_as_the_code_index() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("d");
        crate::datadir::create(&dir).expect("data dir");
        write_manifest(&dir, 3000).expect("manifest");
        crate::index::reindex(&dir, false).expect("reindex");
        let index = Index::open_read(&dir).expect("index");
        // "SO-" and "SO-00000" are broad (walked); the others are answered from the codes.
        for prefix in [
            "SO-",
            "SO-00000",
            "SO-0000012",
            "SF",
            "SF00000000012",
            "NOPE",
        ] {
            let f = |limit, newest_first| Filter {
                prefix: Some(prefix.to_string()),
                limit,
                newest_first,
                ..Filter::default()
            };
            let all = index.search(&f(None, false)).expect("search");
            let want: Vec<u64> = all.iter().rev().take(25).map(|c| c.clip).collect();
            let got: Vec<u64> = index
                .search(&f(Some(25), true))
                .expect("search")
                .iter()
                .map(|c| c.clip)
                .collect();
            assert_eq!(got, want, "{prefix}");
        }
    }
}
