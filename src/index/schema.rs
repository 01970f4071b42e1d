//! The index's tables, and what each manifest record puts in them.

use rusqlite::{params, OptionalExtension};

use crate::log::{Body, Record};

/// Schema, version 9 (3 added `box_no`, 4 `holds`, 5 `scanned_ms`, 6 `codes_by_clip`, 7 `access`, 8 `clips_on_disk`, `no_video`, `gaps`, `sources` and `test_pattern`, 9 `order_lines`, `anchored`). Every row comes from a manifest record; `*_seq` name the line.
pub(super) const DDL: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- One row per clip: inserted by its clip_opened record, completed by its clip_sealed record.
CREATE TABLE IF NOT EXISTS clips (
    opened_seq  INTEGER PRIMARY KEY,  -- seq of the clip_opened record (the clip id)
    order_code  TEXT NOT NULL,        -- normalised order code, exactly as recorded
    station     TEXT NOT NULL,
    camera      TEXT NOT NULL,
    operator    TEXT,                 -- badge scanned before the clip, if any
    clip_group  TEXT NOT NULL,        -- shared by the clips one scan opened on several cameras
    part        INTEGER NOT NULL DEFAULT 1, -- 2, 3, ... after the camera was lost and came back
    box_no      INTEGER NOT NULL DEFAULT 1, -- 2, 3, ... for the next boxes of the order (PW-BOX)
    scanned_at  TEXT NOT NULL,        -- when the order was scanned (started_at includes pre-roll)
    scanned_ms  INTEGER,              -- the same instant, Unix milliseconds (for time ranges)
    file        TEXT NOT NULL,        -- relative to the data dir
    started_at  TEXT NOT NULL,        -- RFC 3339, local time with offset
    first_frame INTEGER NOT NULL,     -- camera-session frame number of the first frame
    sealed_seq  INTEGER,              -- NULL while the clip is open
    reason      TEXT,
    ended_at    TEXT,
    duration_ms INTEGER,
    frames      INTEGER,
    size        INTEGER,
    sha256      TEXT,
    pruned_seq  INTEGER,              -- seq of the pruned record: the file was removed
    test_pattern INTEGER NOT NULL DEFAULT 0, -- 1: recorded from a test pattern, no evidence
    start_seq   INTEGER,              -- seq of the station_start in force when it opened
    clock_synced INTEGER              -- the system clock was NTP-synchronised (NULL: unknown)
);
-- Each camera's source, from the latest station_start record of its station.
CREATE TABLE IF NOT EXISTS sources (
    station      TEXT NOT NULL,
    camera       TEXT NOT NULL,
    source       TEXT NOT NULL,
    test_pattern INTEGER NOT NULL,
    seq          INTEGER NOT NULL,    -- seq of that station_start record
    PRIMARY KEY (station, camera)
);
CREATE INDEX IF NOT EXISTS clips_by_order ON clips(order_code, opened_seq);
CREATE INDEX IF NOT EXISTS clips_by_time ON clips(scanned_ms);
-- The clips whose files are on disk, oldest first: what retention chooses from, without
-- reading the rows of the clips it pruned long ago.
CREATE INDEX IF NOT EXISTS clips_on_disk ON clips(scanned_ms, opened_seq)
    WHERE sealed_seq IS NOT NULL AND pruned_seq IS NULL;
-- Codes attached to a clip (tracking numbers scanned during it): lookup aliases.
CREATE TABLE IF NOT EXISTS codes (
    seq   INTEGER PRIMARY KEY,        -- seq of the code_attached record
    code  TEXT NOT NULL,
    kind  TEXT NOT NULL,
    clip  INTEGER NOT NULL REFERENCES clips(opened_seq)
);
CREATE INDEX IF NOT EXISTS codes_by_code ON codes(code);
CREATE INDEX IF NOT EXISTS codes_by_clip ON codes(clip, seq);
-- Who exported which clips: one row per clip of each access record.
CREATE TABLE IF NOT EXISTS access (
    seq     INTEGER NOT NULL,         -- seq of the access record
    clip    INTEGER NOT NULL,
    action  TEXT NOT NULL,            -- export
    who     TEXT NOT NULL,
    target  TEXT,                     -- the bundle's file name
    at      TEXT NOT NULL,            -- when the record was written
    PRIMARY KEY (clip, seq)
);
-- Orders scanned while no camera recorded: one row per no_video record.
CREATE TABLE IF NOT EXISTS no_video (
    seq         INTEGER PRIMARY KEY,  -- seq of the no_video record
    order_code  TEXT NOT NULL,
    station     TEXT NOT NULL,
    box_no      INTEGER NOT NULL,
    clip_group  TEXT NOT NULL,
    scanned_at  TEXT NOT NULL,
    scanned_ms  INTEGER,
    down        TEXT NOT NULL         -- the record's `down`, as JSON
);
CREATE INDEX IF NOT EXISTS no_video_by_order ON no_video(order_code);
-- Times a camera recorded nothing of an open order: one row per camera_gap record.
CREATE TABLE IF NOT EXISTS gaps (
    seq         INTEGER PRIMARY KEY,  -- seq of the camera_gap record
    order_code  TEXT NOT NULL,
    station     TEXT NOT NULL,
    camera      TEXT NOT NULL,
    clip_group  TEXT NOT NULL,
    from_at     TEXT NOT NULL,
    to_at       TEXT NOT NULL,
    clip        INTEGER,              -- the clip that resumed the order, if any
    reason      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS gaps_by_order ON gaps(order_code);
-- Legal holds: the latest hold or release record of each clip decides.
-- The records about an order beyond its clips (its scans, including the stop code that
-- ended it; no_video, camera_gap and order_resumed): what a bundle cites as context.
CREATE TABLE IF NOT EXISTS order_lines (
    seq         INTEGER PRIMARY KEY,
    order_code  TEXT NOT NULL,
    station     TEXT NOT NULL,
    kind        TEXT NOT NULL         -- the record's kind
);
CREATE INDEX IF NOT EXISTS order_lines_by_order ON order_lines(order_code, seq);
CREATE INDEX IF NOT EXISTS order_lines_by_station ON order_lines(station, seq);
-- Checkpoints a TSA stamped: one row per anchored record.
CREATE TABLE IF NOT EXISTS anchored (
    seq   INTEGER PRIMARY KEY,        -- seq of the anchored record
    size  INTEGER NOT NULL            -- the checkpoint it stamps
);
CREATE TABLE IF NOT EXISTS holds (
    clip     INTEGER PRIMARY KEY REFERENCES clips(opened_seq),
    seq      INTEGER NOT NULL,        -- seq of the latest hold record for the clip
    released INTEGER NOT NULL         -- 1: the hold was lifted
);
";

/// The schema version written in `meta`; another version is rebuilt.
pub(super) const SCHEMA_VERSION: i64 = 9;

/// Notes a record about `order` beyond its clips.
fn order_line(
    tx: &rusqlite::Transaction<'_>,
    rec: &Record,
    order: &str,
    station: &str,
    kind: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO order_lines(seq, order_code, station, kind) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![rec.seq, order, station, kind])?;
    Ok(())
}

/// A scan: noted for the order recording after it or, for a stop code (no order after it),
/// for the order it stopped (the station's last scanned order).
fn apply_scan(
    tx: &rusqlite::Transaction<'_>,
    rec: &Record,
    station: &str,
    order: Option<&str>,
) -> rusqlite::Result<()> {
    let order = match order {
        Some(o) => Some(o.to_string()),
        None => tx
            .prepare_cached(
                "SELECT order_code FROM order_lines WHERE station = ?1 AND kind = 'scan'
                 ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([station], |r| r.get::<_, String>(0))
            .optional()?,
    };
    match order {
        Some(o) => order_line(tx, rec, &o, station, "scan"),
        None => Ok(()),
    }
}

/// Applies one record to the index.
pub(super) fn apply(tx: &rusqlite::Transaction<'_>, rec: &Record) -> rusqlite::Result<()> {
    match &rec.body {
        Body::Scan {
            station,
            order,
            action,
            ..
        } => {
            let stopped = order.is_none() && *action == crate::log::ScanAction::Seal;
            if order.is_some() || stopped {
                apply_scan(tx, rec, station, order.as_deref())?;
            }
        }
        Body::Anchored { size, .. } => {
            tx.prepare_cached("INSERT OR REPLACE INTO anchored(seq, size) VALUES (?1, ?2)")?
                .execute(params![rec.seq, size])?;
        }
        Body::OrderResumed { station, order, .. } => {
            order_line(tx, rec, order, station, "order_resumed")?
        }
        Body::ClipOpened {
            order,
            station,
            camera,
            operator,
            group,
            part,
            box_no,
            file,
            started_at,
            scanned_at,
            first_frame,
            clock_synced,
            test_pattern,
        } => {
            // A record that says whether its source is a test pattern is believed; an older
            // one is judged by the station's start in force.
            tx.prepare_cached(
                "INSERT OR REPLACE INTO clips(opened_seq, order_code, station, camera, file, started_at, first_frame,
                                              operator, clip_group, scanned_at, part, box_no, scanned_ms, clock_synced, test_pattern, start_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                         COALESCE(?15, (SELECT test_pattern FROM sources WHERE station = ?3 AND camera = ?4), 0),
                         (SELECT seq FROM sources WHERE station = ?3 AND camera = ?4))",
                )?
                .execute(params![rec.seq, order, station, camera, file, started_at, first_frame, operator, group, scanned_at, part, box_no,
                        chrono::DateTime::parse_from_rfc3339(scanned_at).ok().map(|t| t.timestamp_millis()), clock_synced, test_pattern])?;
        }
        Body::ClipSealed {
            clip,
            order,
            station,
            camera,
            file,
            reason,
            started_at,
            ended_at,
            duration_ms,
            frames,
            first_frame,
            size,
            sha256,
            ..
        } => {
            tx.prepare_cached(
                "INSERT INTO clips(opened_seq, order_code, station, camera, file, started_at, first_frame,
                                   sealed_seq, reason, ended_at, duration_ms, frames, size, sha256,
                                   clip_group, scanned_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, '', ?6)
                 ON CONFLICT(opened_seq) DO UPDATE SET
                    sealed_seq = excluded.sealed_seq, reason = excluded.reason,
                    ended_at = excluded.ended_at, duration_ms = excluded.duration_ms,
                    frames = excluded.frames, size = excluded.size, sha256 = excluded.sha256",
                )?
                .execute(params![clip, order, station, camera, file, started_at, first_frame, rec.seq, reason.as_str(), ended_at,
                        duration_ms, frames, size, sha256])?;
        }
        Body::CodeAttached {
            clip,
            code,
            code_kind,
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO codes(seq, code, kind, clip) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![rec.seq, code, code_kind, clip])?;
        }
        Body::Pruned { clip, .. } => {
            tx.prepare_cached("UPDATE clips SET pruned_seq = ?1 WHERE opened_seq = ?2")?
                .execute(params![rec.seq, clip])?;
        }
        Body::NoVideo {
            station,
            order,
            box_no,
            group,
            scanned_at,
            down,
        } => {
            order_line(tx, rec, order, station, "no_video")?;
            let down = serde_json::to_string(down).unwrap_or_default();
            tx.prepare_cached(
                "INSERT OR REPLACE INTO no_video(seq, order_code, station, box_no, clip_group, scanned_at, scanned_ms, down)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![rec.seq, order, station, box_no, group, scanned_at,
                chrono::DateTime::parse_from_rfc3339(scanned_at).ok().map(|t| t.timestamp_millis()), down])?;
        }
        Body::OrphanRecovered {
            station,
            camera,
            order,
            file,
            size,
            sha256,
            frames,
            duration_ms,
            ..
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO clips(opened_seq, order_code, station, camera, file, started_at, first_frame,
                                              operator, clip_group, scanned_at, part, box_no, sealed_seq, reason,
                                              duration_ms, frames, size, sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, NULL, '', ?6, 1, 1, ?1, 'orphan_recovered', ?7, ?8, ?9, ?10)",
            )?
            .execute(params![rec.seq, order, station, camera, file, rec.at, duration_ms, frames, size, sha256])?;
        }
        Body::CameraGap {
            station,
            camera,
            order,
            group,
            from,
            to,
            clip,
            reason,
        } => {
            order_line(tx, rec, order, station, "camera_gap")?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO gaps(seq, order_code, station, camera, clip_group, from_at, to_at, clip, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![rec.seq, order, station, camera, group, from, to, clip, reason])?;
        }
        Body::StationStart {
            station,
            cameras,
            sources,
            ..
        } => {
            for (camera, source) in cameras.iter().zip(sources) {
                let test = crate::media::SourceSpec::parse(source).is_test_pattern();
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO sources(station, camera, source, test_pattern, seq) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![station, camera, source, test, rec.seq])?;
            }
        }
        Body::Checkpoint { .. }
        | Body::ClockAdjusted { .. }
        | Body::TornLineRemoved { .. }
        | Body::CrashRecovered { .. }
        | Body::KeyRotation { .. } => {}
        Body::Access {
            action,
            clips,
            who,
            to,
            ..
        } => {
            for clip in clips {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO access(seq, clip, action, who, target, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![rec.seq, clip, action, who, to, rec.at])?;
            }
        }
        Body::Hold {
            clips, released, ..
        } => {
            for clip in clips {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO holds(clip, seq, released) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![clip, rec.seq, released])?;
            }
        }
    }
    Ok(())
}
