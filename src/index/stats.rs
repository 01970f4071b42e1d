//! The day's numbers for a lead: orders packed per day, station and packer, orders without
//! video and why, orders scanned and not sealed, packing time (median and p90), and the
//! bytes recorded, from the index over a time range.
//!
//! Owns: the queries behind `packwitness stats` and their aggregation (one row a day, station
//! and packer; the day is the station's own, from the scan's local time). Reads only the rows
//! of the range (through the `scanned_ms` indexes), so its cost follows the range, not the
//! log. Never: reads the manifest or a clip file, or writes the index.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Index, IndexError};

/// One day of one station and packer.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StatsRow {
    /// The station's local date of the scans (`YYYY-MM-DD`).
    pub day: String,
    pub station: String,
    /// The badge scanned before the orders; empty when none was.
    pub packer: String,
    /// Distinct orders with a clip.
    pub orders: u64,
    /// Boxes (an order's `PW-BOX` starts another) with a clip.
    pub boxes: u64,
    /// Orders scanned while no camera recorded (a `no_video` record; no packer is known).
    pub no_video: u64,
    /// Boxes whose clip is still open (being packed now, or a station that stopped and has
    /// not started again to seal it).
    pub not_sealed: u64,
    /// Boxes with a clip sealed by a crash's recovery (`interrupted`) or a write error.
    pub interrupted: u64,
    /// Boxes recorded from a test pattern (no evidence).
    pub test_pattern: u64,
    /// From the scan to the end of the box's last clip (the post-roll included), over the
    /// sealed boxes: median and 90th percentile, seconds.
    pub packing_median_s: Option<f64>,
    pub packing_p90_s: Option<f64>,
    /// Bytes of the sealed clips (every camera), whether or not retention removed them since.
    pub bytes: u64,
}

/// An order without video, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NoVideo {
    pub day: String,
    pub station: String,
    pub order: String,
    pub scanned_at: String,
    /// Each camera's state and reason at the scan, as recorded.
    pub why: String,
}

/// The numbers of a range.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub rows: Vec<StatsRow>,
    pub no_video: Vec<NoVideo>,
}

/// A box (one scan's clips on every camera, all parts) as the range has it.
#[derive(Default)]
struct Boxed {
    order: String,
    open: bool,
    interrupted: bool,
    test_pattern: bool,
    packing_ms: Option<i64>,
    bytes: u64,
}

/// A row being counted: its figures, its boxes' packing times (ms), its distinct orders.
type Counting = (StatsRow, Vec<i64>, std::collections::HashSet<String>);

/// An empty row of (day, station, packer).
fn new_row(key: &(String, String, String)) -> Counting {
    let row = StatsRow {
        day: key.0.clone(),
        station: key.1.clone(),
        packer: key.2.clone(),
        ..StatsRow::default()
    };
    (row, Vec::new(), Default::default())
}

/// The value at quantile `q` of sorted `v` (nearest rank).
fn quantile(v: &[i64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1] as f64 / 1000.0)
}

impl Index {
    /// The numbers of the scans in `[since_ms, until_ms)`.
    pub fn stats(&self, since_ms: i64, until_ms: i64) -> Result<Stats, IndexError> {
        // Unix ms of an RFC 3339 time with its offset (SQLite reads the offset).
        const MS: &str = "CAST(ROUND((julianday({}) - 2440587.5) * 86400000) AS INTEGER)";
        let ended = MS.replace("{}", "ended_at");
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT substr(MIN(scanned_at), 1, 10), station, COALESCE(operator, ''), order_code,
                        MAX(sealed_seq IS NULL), MAX(reason IN ('interrupted', 'error')),
                        MAX(test_pattern), MAX({ended}) - MIN(scanned_ms),
                        COALESCE(SUM(size), 0)
                 FROM clips
                 WHERE scanned_ms >= ?1 AND scanned_ms < ?2
                 GROUP BY clip_group, order_code, box_no, station, operator"
            ))
            .map_err(self.sql())?;
        let boxes = stmt
            .query_map(rusqlite::params![since_ms, until_ms], |r| {
                Ok((
                    (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?),
                    Boxed {
                        order: r.get(3)?,
                        open: r.get::<_, i64>(4)? != 0,
                        interrupted: r.get::<_, Option<i64>>(5)?.unwrap_or(0) != 0,
                        test_pattern: r.get::<_, i64>(6)? != 0,
                        packing_ms: r.get(7)?,
                        bytes: r.get::<_, i64>(8)?.max(0) as u64,
                    },
                ))
            })
            .map_err(self.sql())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.sql())?;
        type Key = (String, String, String);
        let mut rows: BTreeMap<Key, Counting> = BTreeMap::new();
        for (key, b) in boxes {
            let (row, packing, orders) = rows.entry(key.clone()).or_insert_with(|| new_row(&key));
            orders.insert(b.order);
            row.boxes += 1;
            row.not_sealed += u64::from(b.open);
            row.interrupted += u64::from(b.interrupted);
            row.test_pattern += u64::from(b.test_pattern);
            row.bytes += b.bytes;
            if let (false, Some(ms)) = (b.open, b.packing_ms) {
                packing.push(ms.max(0));
            }
        }
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT substr(scanned_at, 1, 10), station, order_code, scanned_at, down
                 FROM no_video WHERE scanned_ms >= ?1 AND scanned_ms < ?2 ORDER BY seq",
            )
            .map_err(self.sql())?;
        let no_video = stmt
            .query_map(rusqlite::params![since_ms, until_ms], |r| {
                Ok(NoVideo {
                    day: r.get(0)?,
                    station: r.get(1)?,
                    order: r.get(2)?,
                    scanned_at: r.get(3)?,
                    why: why(&r.get::<_, String>(4)?),
                })
            })
            .map_err(self.sql())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.sql())?;
        for n in &no_video {
            let key = (n.day.clone(), n.station.clone(), String::new());
            rows.entry(key.clone())
                .or_insert_with(|| new_row(&key))
                .0
                .no_video += 1;
        }
        let rows = rows
            .into_values()
            .map(|(mut row, mut packing, orders)| {
                row.orders = orders.len() as u64;
                packing.sort_unstable();
                row.packing_median_s = quantile(&packing, 0.5);
                row.packing_p90_s = quantile(&packing, 0.9);
                row
            })
            .collect();
        Ok(Stats { rows, no_video })
    }
}

impl Index {
    /// The clips scanned in `[since_ms, until_ms)`, counted through the same index the
    /// statistics read (the least they must do: `bench lookup`'s reference).
    pub fn scans_between(&self, since_ms: i64, until_ms: i64) -> Result<u64, IndexError> {
        self.conn
            .query_row(
                "SELECT count(*), sum(size) FROM clips WHERE scanned_ms >= ?1 AND scanned_ms < ?2",
                rusqlite::params![since_ms, until_ms],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(self.sql())
    }
}

/// The numbers of the scans of a data dir in `[since_ms, until_ms)`.
pub fn stats(
    data_dir: &std::path::Path,
    since_ms: i64,
    until_ms: i64,
) -> Result<Stats, crate::error::Error> {
    crate::datadir::existing(data_dir)?;
    Ok(Index::open_read(data_dir)?.stats(since_ms, until_ms)?)
}

/// A `no_video` record's cameras, as the log says them for people.
fn why(down: &str) -> String {
    match serde_json::from_str::<Vec<crate::log::CameraDown>>(down) {
        Ok(cams) => crate::log::down_text(&cams),
        Err(_) => down.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[4000], 0.9), Some(4.0));
        let v: Vec<i64> = (1..=10).map(|s| s * 1000).collect();
        assert_eq!(quantile(&v, 0.5), Some(5.0));
        assert_eq!(quantile(&v, 0.9), Some(9.0));
        assert!(
            why(r#"[{"camera":"cam-1","state":"lost","since":null,"reason":"unplugged"}]"#)
                .contains("cam-1 lost"),
        );
    }
}
