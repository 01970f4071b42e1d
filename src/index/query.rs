//! Questions asked of the index: lookups by code, searches with filters, suggestions, and
//! what retention and recovery need; and the check of each clip file found.

use std::path::Path;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{Index, IndexError};
use crate::datadir;
use crate::error::Error;
use crate::media::fmp4::{self, FileProblem};

/// How a clip file is checked by [`lookup`] and [`search`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileCheck {
    /// Its size against the record (a `stat`: what lookups do).
    #[default]
    Size,
    /// Its SHA-256 against the record (reads the whole file: `lookup --check`, verify).
    Hash,
}

/// What `search` looks for: every condition set must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// An order code or attached code, exactly (normalised).
    pub code: Option<String>,
    /// Order or attached codes starting with this (normalised; `%` and `_` are literal).
    pub prefix: Option<String>,
    /// Scanned at or after this Unix millisecond...
    pub since_ms: Option<i64>,
    /// ...and before this one.
    pub until_ms: Option<i64>,
    pub station: Option<String>,
    pub operator: Option<String>,
    pub limit: Option<u32>,
    /// Newest first (the web app's recent clips), instead of oldest first.
    pub newest_first: bool,
}

/// A clip as lookup shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClipRow {
    pub clip: u64,
    pub order: String,
    pub station: String,
    pub camera: String,
    pub file: String,
    pub started_at: String,
    pub sealed_line: Option<u64>,
    pub reason: Option<String>,
    pub ended_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub frames: Option<u64>,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub operator: Option<String>,
    /// Retention removed the file; the record and its hashes remain.
    pub pruned: bool,
    /// The line of the `pruned` record that says so.
    #[serde(default)]
    pub pruned_line: Option<u64>,
    /// Clip-group id: the clips one scan opened on the station's cameras.
    pub group: String,
    /// When the order was scanned (`started_at` is earlier by the pre-roll).
    pub scanned_at: String,
    /// 1; 2, 3, ... for the parts recorded after the camera was lost and came back.
    pub part: u32,
    /// 1; 2, 3, ... for the next boxes of the same order.
    #[serde(rename = "box")]
    pub box_no: u32,
    /// Codes attached to the clip (waybills scanned during it), in scan order.
    pub codes: Vec<String>,
    /// Under legal hold: never pruned.
    pub held: bool,
    /// Exports of the clip so far: `<action> by <who> at <time>`, oldest first.
    pub access: Vec<String>,
    /// Recorded from a test pattern (`testsrc`, `lavfi:...`): not evidence.
    pub test_pattern: bool,
    /// The `station_start` record naming the camera's source when the clip opened.
    pub station_start_line: Option<u64>,
    /// Whether the system clock was NTP-synchronised when the clip started (`null`: unknown).
    pub clock_synced: Option<bool>,
}

/// A prefix that at least this many codes start with is broad: see [`Index::search`].
const BROAD: i64 = 2000;
/// The manifest lines (newest first) a broad prefix is looked for in: about a month of a
/// station making 1,000 clips a day (each clip is a few lines: its scans, opening, codes,
/// seal, the checkpoints).
pub const PREFIX_WINDOW_LINES: u64 = 150_000;

impl Index {
    /// All clips of an order code (exact match on the normalised code), oldest first.
    pub fn lookup(&self, code: &str) -> Result<Vec<ClipRow>, IndexError> {
        self.search(&Filter {
            code: Some(code.to_string()),
            ..Filter::default()
        })
    }

    /// True when at least [`BROAD`] order or attached codes start with `prefix` (read along
    /// the indexes, [`BROAD`] rows at most).
    fn broad(&self, prefix: &str) -> Result<bool, IndexError> {
        let end = format!("{prefix}\u{10FFFF}");
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT (SELECT count(*) FROM (SELECT 1 FROM clips WHERE order_code >= ?1 AND order_code < ?2 LIMIT ?3))
                      + (SELECT count(*) FROM (SELECT 1 FROM codes WHERE code >= ?1 AND code < ?2 LIMIT ?3))",
            )
            .map_err(self.sql())?
            .query_row(params![prefix, end, BROAD], |r| r.get(0))
            .map_err(self.sql())?;
        Ok(n >= BROAD)
    }

    /// The first manifest line a broad prefix search looks at: [`PREFIX_WINDOW_LINES`] before
    /// the newest clip.
    fn window_start(&self) -> Result<i64, IndexError> {
        let newest: Option<i64> = self
            .conn
            .query_row("SELECT max(opened_seq) FROM clips", [], |r| r.get(0))
            .map_err(self.sql())?;
        Ok(newest
            .unwrap_or(0)
            .saturating_sub(PREFIX_WINDOW_LINES as i64))
    }

    /// Clips matching every condition of `f`, oldest first (or newest first). A prefix that
    /// many codes start with, newest first with a limit (the app's search as you type), is
    /// looked for by walking the newest clips of the last [`PREFIX_WINDOW_LINES`] lines back
    /// until the limit is reached, so its cost does not grow with the log; any other search
    /// is answered from the code indexes.
    pub fn search(&self, f: &Filter) -> Result<Vec<ClipRow>, IndexError> {
        let walk = match &f.prefix {
            Some(p) if f.newest_first && f.limit.is_some() && f.code.is_none() => self.broad(p)?,
            _ => false,
        };
        let window = if walk { self.window_start()? } else { 0 };
        // Only the conditions asked for, each in a form SQLite answers from an index.
        let mut conds = vec!["opened_seq >= ?9"];
        if f.code.is_some() {
            conds.push("opened_seq IN (SELECT opened_seq FROM clips WHERE order_code = ?1 UNION SELECT clip FROM codes WHERE code = ?1)");
        }
        if f.prefix.is_some() && walk {
            conds.push("(order_code >= ?2 AND order_code < ?7 OR EXISTS (SELECT 1 FROM codes WHERE clip = clips.opened_seq AND code >= ?2 AND code < ?7))");
        } else if f.prefix.is_some() {
            conds.push("opened_seq IN (SELECT opened_seq FROM clips WHERE order_code >= ?2 AND order_code < ?7 UNION SELECT clip FROM codes WHERE code >= ?2 AND code < ?7)");
        }
        if f.since_ms.is_some() {
            conds.push("scanned_ms >= ?3");
        }
        if f.until_ms.is_some() {
            conds.push("scanned_ms < ?4");
        }
        if f.station.is_some() {
            conds.push("station = ?5");
        }
        if f.operator.is_some() {
            conds.push("operator = ?6");
        }
        if conds.is_empty() {
            conds.push("1");
        }
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT opened_seq, order_code, station, camera, file, started_at, sealed_seq, reason,
                        ended_at, duration_ms, frames, size, sha256, operator, pruned_seq, clip_group, scanned_at, part,
                        box_no, (SELECT group_concat(code, char(10) ORDER BY seq) FROM codes WHERE clip = clips.opened_seq),
                        (SELECT released = 0 FROM holds WHERE clip = clips.opened_seq),
                        (SELECT group_concat(action || ' by ' || who || ' at ' || at, char(10) ORDER BY seq) FROM access WHERE clip = clips.opened_seq),
                        test_pattern, start_seq, clock_synced
                 FROM clips
                 WHERE {}
                 ORDER BY opened_seq {}
                 LIMIT ?8",
                conds.join(" AND "),
                if f.newest_first { "DESC" } else { "ASC" }
            ))
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(
                params![
                    f.code,
                    f.prefix,
                    f.since_ms,
                    f.until_ms,
                    f.station,
                    f.operator,
                    // Just above every string that starts with the prefix (UTF-8 order).
                    f.prefix.as_ref().map(|p| format!("{p}\u{10FFFF}")),
                    f.limit.map_or(-1, |l| l as i64),
                    window,
                ],
                |r| {
                    Ok(ClipRow {
                        clip: r.get(0)?,
                        order: r.get(1)?,
                        station: r.get(2)?,
                        camera: r.get(3)?,
                        file: r.get(4)?,
                        started_at: r.get(5)?,
                        sealed_line: r.get(6)?,
                        reason: r.get(7)?,
                        ended_at: r.get(8)?,
                        duration_ms: r.get(9)?,
                        frames: r.get(10)?,
                        size: r.get(11)?,
                        sha256: r.get(12)?,
                        operator: r.get(13)?,
                        pruned: r.get::<_, Option<u64>>(14)?.is_some(),
                        pruned_line: r.get(14)?,
                        group: r.get(15)?,
                        scanned_at: r.get(16)?,
                        part: r.get(17)?,
                        box_no: r.get(18)?,
                        codes: r
                            .get::<_, Option<String>>(19)?
                            .map(|s| s.split('\n').map(String::from).collect())
                            .unwrap_or_default(),
                        held: r.get::<_, Option<bool>>(20)?.unwrap_or(false),
                        access: r
                            .get::<_, Option<String>>(21)?
                            .map(|s| s.split('\n').map(String::from).collect())
                            .unwrap_or_default(),
                        test_pattern: r.get::<_, i64>(22)? != 0,
                        station_start_line: r.get(23)?,
                        clock_synced: r.get(24)?,
                    })
                },
            )
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// Number of clips indexed.
    pub fn count(&self) -> Result<u64, IndexError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM clips", [], |r| r.get(0))
            .map_err(self.sql())
    }
}

impl Index {
    /// The manifest lines (`seq`) of the codes attached to a clip, in order.
    pub fn attached_lines(&self, clip: u64) -> Result<Vec<u64>, IndexError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq FROM codes WHERE clip = ?1 ORDER BY seq")
            .map_err(self.sql())?;
        let rows = stmt.query_map([clip], |r| r.get(0)).map_err(self.sql())?;
        rows.collect::<Result<Vec<u64>, _>>().map_err(self.sql())
    }

    /// Up to `limit` distinct order or attached codes starting with `prefix` (suggestions),
    /// in order. Each table is read along its index from the prefix on, `limit` rows at
    /// most, so a one-letter prefix costs the same in a log of millions of clips.
    pub fn codes_with_prefix(&self, prefix: &str, limit: u32) -> Result<Vec<String>, IndexError> {
        let end = format!("{prefix}\u{10FFFF}");
        let mut out: Vec<String> = Vec::new();
        for sql in [
            "SELECT DISTINCT order_code FROM clips WHERE order_code >= ?1 AND order_code < ?2 ORDER BY order_code LIMIT ?3",
            "SELECT DISTINCT code FROM codes WHERE code >= ?1 AND code < ?2 ORDER BY code LIMIT ?3",
            // Orders scanned while no camera recorded are found too.
            "SELECT DISTINCT order_code FROM no_video WHERE order_code >= ?1 AND order_code < ?2 ORDER BY order_code LIMIT ?3",
        ] {
            let mut stmt = self.conn.prepare_cached(sql).map_err(self.sql())?;
            let rows = stmt
                .query_map(params![prefix, end, limit], |r| r.get::<_, String>(0))
                .map_err(self.sql())?;
            for r in rows {
                out.push(r.map_err(self.sql())?);
            }
        }
        out.sort();
        out.dedup();
        out.truncate(limit as usize);
        Ok(out)
    }

    /// Of `codes`, the orders that have a `no_video` record (a scan of them recorded no
    /// video): what suggestions mark NO VIDEO.
    pub fn without_video(&self, codes: &[String]) -> Result<Vec<String>, IndexError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT 1 FROM no_video WHERE order_code = ?1 LIMIT 1")
            .map_err(self.sql())?;
        let mut out = Vec::new();
        for c in codes {
            if stmt.exists(params![c]).map_err(self.sql())? {
                out.push(c.clone());
            }
        }
        Ok(out)
    }

    /// The `access` records of `action` that name `clip`, oldest first.
    pub fn access_lines(&self, clip: u64, action: &str) -> Result<Vec<u64>, IndexError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq FROM access WHERE clip = ?1 AND action = ?2 ORDER BY seq")
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(rusqlite::params![clip, action], |r| r.get(0))
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// Whether a clip is under legal hold now.
    pub fn held(&self, clip: u64) -> Result<bool, IndexError> {
        Ok(self
            .conn
            .query_row("SELECT released FROM holds WHERE clip = ?1", [clip], |r| {
                r.get::<_, bool>(0)
            })
            .optional()
            .map_err(self.sql())?
            .is_some_and(|released| !released))
    }

    /// The file of a sealed, not yet pruned clip.
    pub fn sealed_file(&self, clip: u64) -> Result<Option<String>, IndexError> {
        self.conn
            .query_row(
                "SELECT file FROM clips WHERE opened_seq = ?1 AND sealed_seq IS NOT NULL AND pruned_seq IS NULL",
                [clip],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())
    }

    /// The sealed SHA-256 of clip `clip` when retention pruned it here (its bytes may be in
    /// the archive), else `None`.
    pub fn pruned_sha256(&self, clip: u64) -> Result<Option<String>, IndexError> {
        self.conn
            .query_row(
                "SELECT sha256 FROM clips WHERE opened_seq = ?1 AND sealed_seq IS NOT NULL
                 AND pruned_seq IS NOT NULL AND sha256 IS NOT NULL",
                [clip],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())
    }

    /// Sealed clips retention may remove (not pruned, not held), oldest scan first, at most
    /// `limit`.
    pub fn retention_candidates(&self, limit: u32) -> Result<Vec<ClipAge>, IndexError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT opened_seq, order_code, COALESCE(scanned_ms, 0), COALESCE(size, 0), COALESCE(sha256, '') FROM clips
                 WHERE sealed_seq IS NOT NULL AND pruned_seq IS NULL
                   AND opened_seq NOT IN (SELECT clip FROM holds WHERE released = 0)
                 ORDER BY scanned_ms, opened_seq LIMIT ?1",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(ClipAge {
                    clip: r.get(0)?,
                    order: r.get(1)?,
                    scanned_ms: r.get(2)?,
                    size: r.get(3)?,
                    sha256: r.get(4)?,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// The records about `order` beyond its clips (scans, no_video, camera_gap,
    /// order_resumed), oldest first, at most `limit`: (seq, kind).
    pub fn order_lines(&self, order: &str, limit: u32) -> Result<Vec<(u64, String)>, IndexError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT seq, kind FROM order_lines WHERE order_code = ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(rusqlite::params![order, limit], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// The latest `anchored` record before line `line`: (its seq, the size it stamps).
    pub fn anchored_before(&self, line: u64) -> Result<Option<(u64, u64)>, IndexError> {
        self.conn
            .query_row(
                "SELECT seq, size FROM anchored WHERE seq < ?1 ORDER BY seq DESC LIMIT 1",
                [line],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.sql())
    }

    /// The newest `limit` sealed clips, newest first: (station, camera, size, duration_ms).
    /// Reads only those rows (the clip id is the primary key), however long the log.
    pub fn recent_sealed_sizes(
        &self,
        limit: u32,
    ) -> Result<Vec<(String, String, u64, u64)>, IndexError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT station, camera, size, duration_ms FROM clips
                 WHERE sealed_seq IS NOT NULL AND size IS NOT NULL AND duration_ms IS NOT NULL
                 ORDER BY opened_seq DESC LIMIT ?1",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// The order code of a clip.
    pub fn order_of(&self, clip: u64) -> Result<Option<String>, IndexError> {
        self.conn
            .query_row(
                "SELECT order_code FROM clips WHERE opened_seq = ?1",
                [clip],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())
    }
}

/// A sealed clip's age and size, for retention.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipAge {
    pub clip: u64,
    pub order: String,
    /// When its order was scanned, Unix milliseconds.
    pub scanned_ms: i64,
    pub size: u64,
    pub sha256: String,
}

/// An order scanned while no camera recorded (a `no_video` record), as lookup shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NoVideoRow {
    /// Always `"no_video"`: what this entry of a lookup is.
    pub kind: &'static str,
    pub no_video: bool,
    /// The manifest line of the `no_video` record.
    pub line: u64,
    pub order: String,
    pub station: String,
    #[serde(rename = "box")]
    pub box_no: u32,
    pub group: String,
    pub scanned_at: String,
    /// Why, for people: each camera and what it was doing.
    pub reason: String,
    pub down: Vec<crate::log::CameraDown>,
}

/// A time a camera recorded nothing of an open order (a `camera_gap` record).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GapRow {
    /// Always `"gap"`.
    pub kind: &'static str,
    pub line: u64,
    pub order: String,
    pub station: String,
    pub camera: String,
    pub group: String,
    pub from: String,
    pub to: String,
    /// The clip that resumed the order, if one did.
    pub clip: Option<u64>,
    pub reason: String,
}

/// What lookup says of an order besides its clips.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Notes {
    pub no_video: Vec<NoVideoRow>,
    pub gaps: Vec<GapRow>,
}

impl Notes {
    pub fn is_empty(&self) -> bool {
        self.no_video.is_empty() && self.gaps.is_empty()
    }
}

const NO_VIDEO_COLUMNS: &str = "seq, order_code, station, box_no, clip_group, scanned_at, down";

fn no_video_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NoVideoRow> {
    let down: Vec<crate::log::CameraDown> =
        serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default();
    Ok(NoVideoRow {
        kind: "no_video",
        no_video: true,
        line: r.get(0)?,
        order: r.get(1)?,
        station: r.get(2)?,
        box_no: r.get(3)?,
        group: r.get(4)?,
        scanned_at: r.get(5)?,
        reason: crate::log::down_text(&down),
        down,
    })
}

impl Index {
    /// The orders scanned while no camera recorded (`no_video` records) that a search's
    /// prefix, dates and station match, newest first, at most `limit` (none when it asks for
    /// a packer: the record names none).
    pub fn no_video_matching(&self, f: &Filter, limit: u32) -> Result<Vec<NoVideoRow>, IndexError> {
        if f.operator.is_some() {
            return Ok(Vec::new());
        }
        let mut conds = vec!["1"];
        if f.prefix.is_some() {
            conds.push("order_code >= ?1 AND order_code < ?2");
        }
        if f.since_ms.is_some() {
            conds.push("scanned_ms >= ?3");
        }
        if f.until_ms.is_some() {
            conds.push("scanned_ms < ?4");
        }
        if f.station.is_some() {
            conds.push("station = ?5");
        }
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {NO_VIDEO_COLUMNS} FROM no_video WHERE {} ORDER BY seq DESC LIMIT ?6",
                conds.join(" AND ")
            ))
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(
                params![
                    f.prefix,
                    f.prefix.as_ref().map(|p| format!("{p}\u{10FFFF}")),
                    f.since_ms,
                    f.until_ms,
                    f.station,
                    limit,
                ],
                no_video_row,
            )
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
    }

    /// The `no_video` and `camera_gap` records of an order code, oldest first.
    pub fn notes(&self, code: &str) -> Result<Notes, IndexError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {NO_VIDEO_COLUMNS} FROM no_video WHERE order_code = ?1 ORDER BY seq"
            ))
            .map_err(self.sql())?;
        let no_video = stmt
            .query_map([code], no_video_row)
            .map_err(self.sql())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.sql())?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, order_code, station, camera, clip_group, from_at, to_at, clip, reason
                 FROM gaps WHERE order_code = ?1 ORDER BY seq",
            )
            .map_err(self.sql())?;
        let gaps = stmt
            .query_map([code], |r| {
                Ok(GapRow {
                    kind: "gap",
                    line: r.get(0)?,
                    order: r.get(1)?,
                    station: r.get(2)?,
                    camera: r.get(3)?,
                    group: r.get(4)?,
                    from: r.get(5)?,
                    to: r.get(6)?,
                    clip: r.get(7)?,
                    reason: r.get(8)?,
                })
            })
            .map_err(self.sql())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.sql())?;
        Ok(Notes { no_video, gaps })
    }
}

/// A lookup as JSON: the clips, then the order's `no_video` and `gap` entries (each with its
/// `kind`).
pub fn lookup_entries(found: &[Found], notes: &Notes) -> Vec<serde_json::Value> {
    let mut all: Vec<serde_json::Value> = found
        .iter()
        .filter_map(|f| serde_json::to_value(f).ok())
        .collect();
    all.extend(
        notes
            .no_video
            .iter()
            .filter_map(|n| serde_json::to_value(n).ok()),
    );
    all.extend(
        notes
            .gaps
            .iter()
            .filter_map(|g| serde_json::to_value(g).ok()),
    );
    all
}

/// The `no_video` and gap records of an order code (normalised as at recording).
pub fn notes(data_dir: &Path, raw_code: &str, max_len: usize) -> Result<Notes, Error> {
    datadir::existing(data_dir)?;
    let code = crate::codes::normalize(raw_code, max_len)
        .map_err(|e| Error::from(e).context(format!("order code {raw_code:?}")))?;
    Ok(Index::open_read(data_dir)?.notes(&code)?)
}

/// A clip found by [`lookup`] or [`search`], with the state of its file now.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    /// Always `"clip"`: what this entry of a lookup is (see [`NoVideoRow`], [`GapRow`]).
    pub kind: &'static str,
    #[serde(flatten)]
    pub clip: ClipRow,
    /// `ok`, `open` (not sealed yet), `pruned`, `modified`, `truncated`, `missing` or
    /// `bad_path`.
    pub file_status: String,
    pub file_detail: Option<String>,
    /// True when `ok` means the file's SHA-256 was computed now and matches; false when only
    /// its size was compared with the record (what a lookup does; `verify` re-hashes).
    pub hash_checked: bool,
}

/// All clips of an order or attached code, each with a check of its file.
pub fn lookup(
    data_dir: &Path,
    raw_code: &str,
    max_len: usize,
    check: FileCheck,
) -> Result<Vec<Found>, Error> {
    datadir::existing(data_dir)?;
    let code = crate::codes::normalize(raw_code, max_len)
        .map_err(|e| Error::from(e).context(format!("order code {raw_code:?}")))?;
    let by = |code: String| {
        search(
            data_dir,
            &Filter {
                code: Some(code),
                ..Filter::default()
            },
            check,
        )
    };
    let found = by(code.clone())?;
    // A code recorded before inner spaces and full-width forms were folded.
    let legacy = crate::codes::legacy_normalize(raw_code);
    if found.is_empty() && legacy != code {
        return by(legacy);
    }
    Ok(found)
}

/// The clips matching a filter, each with a check of its file.
pub fn search(data_dir: &Path, filter: &Filter, check: FileCheck) -> Result<Vec<Found>, Error> {
    datadir::existing(data_dir)?;
    let index = Index::open_read(data_dir)?;
    let rows = index.search(filter)?;
    drop(index);
    Ok(rows
        .into_iter()
        .map(|clip| check_found(data_dir, clip, check))
        .collect())
}

/// The state of a clip's file, by `check`.
pub fn check_found(data_dir: &Path, clip: ClipRow, check: FileCheck) -> Found {
    let hash = check == FileCheck::Hash;
    let (status, detail, checked) = match (&clip.size, &clip.sha256) {
        _ if clip.pruned => (
            "pruned",
            Some("retention removed the file; its record and hashes remain provable".into()),
            false,
        ),
        (Some(size), Some(sha)) => match fmp4::check_file(data_dir, &clip.file, *size, sha, hash) {
            Ok(()) => ("ok", None, hash),
            Err((kind, detail)) => (
                match kind {
                    FileProblem::BadPath => "bad_path",
                    FileProblem::Missing => "missing",
                    FileProblem::Truncated => "truncated",
                    FileProblem::Modified => "modified",
                },
                Some(detail),
                hash,
            ),
        },
        _ => (
            "open",
            Some("not sealed: recording, or interrupted".into()),
            false,
        ),
    };
    Found {
        kind: "clip",
        clip,
        file_status: status.to_string(),
        file_detail: detail,
        hash_checked: checked,
    }
}
