//! Index: the SQLite lookup table of clips by order code, derived from the manifest.
//!
//! Owns: `index.sqlite3` in the data dir, its schema, catching up with the manifest, lookup
//! (with a check of each clip file's size), suggestions, and `reindex`.
//! Never: holds anything the manifest does not (deleting it loses nothing: the writer rebuilds
//! it), and a reader never changes it: only the process holding the writer lock creates,
//! migrates or catches up the index ([`Index::open_writer`]); lookups, the web server and
//! verify open it read-only under the shared index lock ([`Index::open_read`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::datadir::{self, INDEX, MANIFEST};
use crate::digest;
use crate::error::{Error, ErrorKind};
use crate::log::{self, Body, LineReader, Record};
use crate::media::fmp4::{self, FileProblem};
const SCHEMA_VERSION: i64 = 7;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index {path}: {source} (it is derived: delete it and it will be rebuilt from the manifest)")]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Ledger(#[from] log::LedgerError),
    #[error("index {path}: its schema is version {found:?}, this program uses {want}; the running recorder rebuilds it when it starts (or stop it and run any lookup)")]
    Schema {
        path: PathBuf,
        found: Option<String>,
        want: i64,
    },
}

impl From<IndexError> for Error {
    fn from(e: IndexError) -> Error {
        match e {
            IndexError::Ledger(l) => l.into(),
            e @ IndexError::Schema { .. } => Error::new(ErrorKind::Unavailable, e),
            e @ IndexError::Sql { .. } => Error::new(ErrorKind::Io, e),
        }
    }
}

/// Schema, version 7 (3 added `box_no`, 4 `holds`, 5 `scanned_ms`, 6 `codes_by_clip`, 7 `access`). Every row comes from a manifest record; `*_seq` name the line.
const DDL: &str = "
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
    pruned_seq  INTEGER               -- seq of the pruned record: the file was removed
);
CREATE INDEX IF NOT EXISTS clips_by_order ON clips(order_code, opened_seq);
CREATE INDEX IF NOT EXISTS clips_by_time ON clips(scanned_ms);
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
-- Legal holds: the latest hold or release record of each clip decides.
CREATE TABLE IF NOT EXISTS holds (
    clip     INTEGER PRIMARY KEY REFERENCES clips(opened_seq),
    seq      INTEGER NOT NULL,        -- seq of the latest hold record for the clip
    released INTEGER NOT NULL         -- 1: the hold was lifted
);
";

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
}

/// Whether a database file already has tables (of any schema).
fn has_tables(conn: &Connection) -> bool {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map_or(true, |n| n > 0)
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
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
}

pub struct Index {
    conn: Connection,
    path: PathBuf,
    data_dir: PathBuf,
    /// A reader's shared index lock, held while the index is open.
    _lock: Option<File>,
}

/// How a clip file is checked by [`lookup`] and [`search`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileCheck {
    /// Its size against the record (a `stat`: what lookups do).
    #[default]
    Size,
    /// Its SHA-256 against the record (reads the whole file: `lookup --check`, verify).
    Hash,
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> IndexError + '_ {
    move |source| IndexError::Sql {
        path: path.to_owned(),
        source,
    }
}

fn schema_version(conn: &Connection) -> Option<String> {
    conn.query_row(
        "SELECT value FROM meta WHERE key = 'schema_version'",
        [],
        |r| r.get(0),
    )
    .optional()
    .unwrap_or(None) // no meta table: a new (or foreign) file
}

fn remove_index_files(path: &Path) -> Result<(), IndexError> {
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(sql_err(path)(rusqlite::Error::InvalidPath(PathBuf::from(
                    format!("{}: cannot remove it to rebuild: {e}", p.display()),
                ))))
            }
        }
    }
    Ok(())
}

impl Index {
    /// Opens the index of a data dir as its writer, creating it if missing, rebuilding it when
    /// its schema is another version, and catching up with the manifest. Call it only while
    /// holding the writer lock.
    pub fn open_writer(data_dir: &Path) -> Result<Index, IndexError> {
        Index::open_file_with(data_dir, &data_dir.join(INDEX), false)
    }

    /// Opens the index of a data dir for reading: query-only, under the shared index lock.
    ///
    /// When no recorder holds the data dir and the index is missing, of another schema or
    /// behind the manifest, this process becomes the writer for a moment (taking the writer
    /// lock) to bring it up to date first. While a recorder runs, it keeps the index current.
    pub fn open_read(data_dir: &Path) -> Result<Index, Error> {
        if !datadir::writer_running(data_dir) {
            if let Ok(lock) = datadir::take_writer_lock(data_dir) {
                if Index::needs_writer(data_dir) {
                    Index::open_writer(data_dir)?;
                }
                drop(lock);
            }
        }
        let lock = datadir::lock_index(data_dir, false)?;
        let path = data_dir.join(INDEX);
        let conn = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql_err(&path))?;
        conn.pragma_update(None, "query_only", "ON")
            .map_err(sql_err(&path))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql_err(&path))?;
        let found = schema_version(&conn);
        if found.as_deref() != Some(SCHEMA_VERSION.to_string().as_str()) {
            return Err(IndexError::Schema {
                path,
                found,
                want: SCHEMA_VERSION,
            }
            .into());
        }
        Ok(Index {
            conn,
            path,
            data_dir: data_dir.to_owned(),
            _lock: Some(lock),
        })
    }

    /// True when the index is missing, of another schema, or behind the manifest's end.
    fn needs_writer(data_dir: &Path) -> bool {
        let path = data_dir.join(INDEX);
        if !path.exists() {
            return true;
        }
        let Ok(conn) =
            Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        else {
            return true;
        };
        if schema_version(&conn).as_deref() != Some(SCHEMA_VERSION.to_string().as_str()) {
            return true;
        }
        let meta = |k: &str| -> Option<u64> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| {
                r.get::<_, String>(0)
            })
            .ok()
            .and_then(|v| v.parse().ok())
        };
        let manifest_len = std::fs::metadata(data_dir.join(MANIFEST)).map_or(0, |m| m.len());
        match (meta("last_offset"), meta("last_len")) {
            (Some(offset), Some(len)) => offset + len != manifest_len,
            _ => manifest_len > 0,
        }
    }

    /// Opens (or builds) the index of `data_dir` kept in the file `path`, as its writer.
    pub fn open_file(data_dir: &Path, path: &Path) -> Result<Index, IndexError> {
        Index::open_file_with(data_dir, path, false)
    }

    /// `scratch`: the file is a new one that is thrown away if the process dies before it is
    /// renamed into place (`reindex`), so it is built without a journal, then switched to WAL.
    fn open_file_with(data_dir: &Path, path: &Path, scratch: bool) -> Result<Index, IndexError> {
        let path = path.to_owned();
        let conn = Connection::open(&path).map_err(sql_err(&path))?;
        let sql = |e| sql_err(&path)(e);
        conn.pragma_update(None, "journal_mode", if scratch { "OFF" } else { "WAL" })
            .map_err(&sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(&sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(&sql)?;
        // 32 MB of page cache: a rebuild of a million clips keeps its B-trees in memory.
        conn.pragma_update(None, "cache_size", -32768)
            .map_err(&sql)?;
        // The version first: an older schema is rebuilt before any of today's DDL (which may
        // index columns an old table lacks) touches it.
        let version = schema_version(&conn);
        match version.as_deref().map(str::parse::<i64>) {
            Some(Ok(SCHEMA_VERSION)) => conn.execute_batch(DDL).map_err(&sql)?,
            None if !has_tables(&conn) => {
                conn.execute_batch(DDL).map_err(&sql)?;
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_string()],
                )
                .map_err(&sql)?;
            }
            _ => {
                // Another version, or no version: the index is derived, so rebuild it from the
                // manifest rather than guess; readers wait on the index lock meanwhile.
                tracing::warn!(index = %path.display(), found = ?version, want = SCHEMA_VERSION, "index schema differs; rebuilding it from the manifest");
                drop(conn);
                let lock = datadir::lock_index(data_dir, true).map_err(|e| {
                    sql_err(&path)(rusqlite::Error::InvalidPath(PathBuf::from(e.to_string())))
                })?;
                remove_index_files(&path)?;
                drop(lock);
                return Index::open_file_with(data_dir, &path, scratch);
            }
        }
        let mut index = Index {
            conn,
            path,
            data_dir: data_dir.to_owned(),
            _lock: None,
        };
        index.catch_up()?;
        if scratch {
            index
                .conn
                .pragma_update(None, "journal_mode", "WAL")
                .map_err(index.sql())?;
        }
        Ok(index)
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> IndexError + '_ {
        move |source| IndexError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    fn meta(&self, key: &str) -> Result<Option<String>, IndexError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.sql())
    }

    /// Applies every manifest line the index has not seen yet. The index remembers the last
    /// line applied (number, offset, hash); if that line no longer matches, it starts over.
    pub fn catch_up(&mut self) -> Result<u64, IndexError> {
        let manifest = self.data_dir.join(MANIFEST);
        if !manifest.exists() {
            return Ok(0);
        }
        let io = |source| {
            IndexError::Ledger(log::LedgerError::Io {
                path: manifest.clone(),
                what: "reading for the index",
                source,
            })
        };
        let last_line: u64 = self
            .meta("last_line")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let last_offset: u64 = self
            .meta("last_offset")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let last_hash = self.meta("last_hash")?;
        let mut file = File::open(&manifest).map_err(io)?;
        let mut reader = if last_line > 0 {
            file.seek(SeekFrom::Start(last_offset)).map_err(io)?;
            let mut r = LineReader::starting_at(BufReader::new(file), last_line - 1, last_offset);
            let same = match r.next_line().map_err(io)? {
                Some((_, _, bytes)) => Some(digest::sha256_hex(&bytes)) == last_hash,
                None => false,
            };
            if same {
                r
            } else {
                tracing::warn!(index = %self.path.display(), "manifest no longer matches the index; rebuilding");
                self.conn
                    .execute_batch("DELETE FROM codes; DELETE FROM holds; DELETE FROM access; DELETE FROM clips; DELETE FROM meta WHERE key LIKE 'last_%';")
                    .map_err(self.sql())?;
                LineReader::new(BufReader::new(File::open(&manifest).map_err(io)?))
            }
        } else {
            LineReader::new(BufReader::new(file))
        };
        let fresh = self.meta("last_line")?.is_none();
        let tx = self.conn.transaction().map_err(|source| IndexError::Sql {
            path: self.path.clone(),
            source,
        })?;
        if fresh {
            // A build from nothing: the secondary indexes are made once at the end, which is
            // several times faster than keeping them sorted row by row.
            tx.execute_batch(
                "DROP INDEX IF EXISTS clips_by_order; DROP INDEX IF EXISTS clips_by_time;
                 DROP INDEX IF EXISTS codes_by_code; DROP INDEX IF EXISTS codes_by_clip;",
            )
            .map_err(|source| IndexError::Sql {
                path: self.path.clone(),
                source,
            })?;
        }
        let mut applied = 0u64;
        let mut last = None;
        while let Some((n, offset, bytes)) = reader.next_line().map_err(io)? {
            if !bytes.ends_with(b"\n") {
                break; // a torn last line is verify's business, not the index's
            }
            let rec: Record = match serde_json::from_slice(&bytes) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(line = n, error = %e, "manifest line not indexed: not a valid record");
                    last = Some((n, offset, bytes));
                    continue;
                }
            };
            apply(&tx, &rec).map_err(|source| IndexError::Sql {
                path: self.path.clone(),
                source,
            })?;
            applied += 1;
            last = Some((n, offset, bytes));
        }
        // Only the last line's hash is kept: enough to notice a manifest that was replaced.
        if let Some((n, offset, last_len, hash)) =
            last.map(|(n, o, b)| (n, o, b.len(), digest::sha256_hex(&b)))
        {
            for (k, v) in [
                ("last_line", n.to_string()),
                ("last_offset", offset.to_string()),
                ("last_len", last_len.to_string()),
                ("last_hash", hash),
            ] {
                tx.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
                    params![k, v],
                )
                .map_err(|source| IndexError::Sql {
                    path: self.path.clone(),
                    source,
                })?;
            }
        }
        if fresh {
            tx.execute_batch(DDL).map_err(|source| IndexError::Sql {
                path: self.path.clone(),
                source,
            })?;
        }
        tx.commit().map_err(|source| IndexError::Sql {
            path: self.path.clone(),
            source,
        })?;
        Ok(applied)
    }

    /// All clips of an order code (exact match on the normalised code), oldest first.
    pub fn lookup(&self, code: &str) -> Result<Vec<ClipRow>, IndexError> {
        self.search(&Filter {
            code: Some(code.to_string()),
            ..Filter::default()
        })
    }

    /// Clips matching every condition of `f`, oldest first.
    pub fn search(&self, f: &Filter) -> Result<Vec<ClipRow>, IndexError> {
        // Only the conditions asked for, each in a form SQLite answers from an index.
        let mut conds = Vec::new();
        if f.code.is_some() {
            conds.push("opened_seq IN (SELECT opened_seq FROM clips WHERE order_code = ?1 UNION SELECT clip FROM codes WHERE code = ?1)");
        }
        if f.prefix.is_some() {
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
                        (SELECT group_concat(action || ' by ' || who || ' at ' || at, char(10) ORDER BY seq) FROM access WHERE clip = clips.opened_seq)
                 FROM clips
                 WHERE {}
                 ORDER BY opened_seq
                 LIMIT ?8",
                conds.join(" AND ")
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

fn apply(tx: &rusqlite::Transaction<'_>, rec: &Record) -> rusqlite::Result<()> {
    match &rec.body {
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
            ..
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO clips(opened_seq, order_code, station, camera, file, started_at, first_frame,
                                              operator, clip_group, scanned_at, part, box_no, scanned_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )?
                .execute(params![rec.seq, order, station, camera, file, started_at, first_frame, operator, group, scanned_at, part, box_no,
                        chrono::DateTime::parse_from_rfc3339(scanned_at).ok().map(|t| t.timestamp_millis())])?;
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
        Body::StationStart { .. }
        | Body::Checkpoint { .. }
        | Body::TornLineRemoved { .. }
        | Body::Scan { .. } => {}
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

/// What `reindex` did.
#[derive(Debug, Clone, Serialize)]
pub struct Reindexed {
    /// Manifest lines read.
    pub records: u64,
    pub seconds: f64,
    pub clips_before: u64,
    pub clips_after: u64,
    /// Where the old index and the manifest disagreed (at most 50 listed).
    pub differences: Vec<String>,
    pub differences_total: u64,
    /// False when the safety stop refused to replace the index.
    pub replaced: bool,
}

#[derive(PartialEq)]
struct Summary(
    String,
    Option<u64>,
    Option<String>,
    Option<u64>,
    Option<u64>,
);

fn summaries(conn: &Connection) -> rusqlite::Result<BTreeMap<u64, Summary>> {
    let mut stmt = conn.prepare(
        "SELECT opened_seq, order_code, sealed_seq, sha256, pruned_seq,
                (SELECT seq FROM holds WHERE clip = clips.opened_seq AND released = 0)
         FROM clips",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, u64>(0)?,
            Summary(r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
        ))
    })?;
    rows.collect()
}

/// Rebuilds the index from the manifest into a new file, lists where the old index disagreed
/// with it, and puts the new one in place. Safety stop: if the new index would have fewer than
/// half the clips of the old one, nothing is replaced unless `force`. Needs the writer lock
/// (stop the recorder first).
pub fn reindex(data_dir: &Path, force: bool) -> Result<Reindexed, IndexError> {
    let _lock = datadir::take_writer_lock(data_dir).map_err(|e| IndexError::Sql {
        path: data_dir.join(INDEX),
        source: rusqlite::Error::InvalidPath(PathBuf::from(e.to_string())),
    })?;
    let path = data_dir.join(INDEX);
    let fresh = data_dir.join(format!("{INDEX}.new"));
    let sql_at = |p: &Path| {
        let p = p.to_owned();
        move |source| IndexError::Sql {
            path: p.clone(),
            source,
        }
    };
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", fresh.display()));
    }
    // The old index as it is, if it can be read at all.
    let old = if path.exists() {
        Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .and_then(|c| summaries(&c))
            .ok()
    } else {
        None
    };
    let t = std::time::Instant::now();
    let new_index = Index::open_file_with(data_dir, &fresh, true)?;
    let seconds = t.elapsed().as_secs_f64();
    let records = new_index
        .meta("last_line")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let new = summaries(&new_index.conn).map_err(sql_at(&fresh))?;
    drop(new_index);
    let mut differences = Vec::new();
    let mut total = 0u64;
    let mut note = |d: String| {
        total += 1;
        if differences.len() < 50 {
            differences.push(d);
        }
    };
    let old_map = old.unwrap_or_default();
    for (clip, o) in &old_map {
        match new.get(clip) {
            None => note(format!("clip {clip} ({}) is in the index but not in the manifest", o.0)),
            Some(n) if n != o => note(format!(
                "clip {clip} ({}) differs: index had sealed line {:?}, sha256 {:?}, pruned {:?}, hold {:?}; the manifest says {:?}, {:?}, {:?}, {:?}",
                o.0, o.1, o.2, o.3, o.4, n.1, n.2, n.3, n.4
            )),
            Some(_) => {}
        }
    }
    for (clip, n) in &new {
        if !old_map.contains_key(clip) {
            note(format!("clip {clip} ({}) was missing from the index", n.0));
        }
    }
    let (before, after) = (old_map.len() as u64, new.len() as u64);
    let replaced = force || after * 2 >= before;
    if replaced {
        // Readers wait while the file is swapped.
        let _index_lock = datadir::lock_index(data_dir, true).map_err(|e| IndexError::Sql {
            path: path.clone(),
            source: rusqlite::Error::InvalidPath(PathBuf::from(e.to_string())),
        })?;
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        std::fs::rename(&fresh, &path).map_err(|e| {
            sql_at(&path)(rusqlite::Error::InvalidPath(PathBuf::from(format!(
                "{}: cannot replace it: {e}",
                path.display()
            ))))
        })?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", fresh.display()));
    }
    Ok(Reindexed {
        records,
        seconds,
        clips_before: before,
        clips_after: after,
        differences,
        differences_total: total,
        replaced,
    })
}

/// A clip opened but not sealed, as recovery needs it.
#[derive(Debug, Clone)]
pub struct UnsealedClip {
    pub clip: u64,
    pub order: String,
    pub station: String,
    pub camera: String,
    pub file: String,
    pub started_at: String,
    pub first_frame: u64,
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

    /// Up to `limit` distinct order or attached codes starting with `prefix` (suggestions).
    pub fn codes_with_prefix(&self, prefix: &str, limit: u32) -> Result<Vec<String>, IndexError> {
        let pattern = format!("{}%", like_escape(prefix));
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c FROM (SELECT order_code AS c FROM clips UNION SELECT code AS c FROM codes)
                 WHERE c LIKE ?1 ESCAPE '\\' ORDER BY c LIMIT ?2",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map(params![pattern, limit], |r| r.get(0))
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<String>, _>>().map_err(self.sql())
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

    /// Sealed clips retention may remove (not pruned, not held), oldest scan first.
    pub fn retention_candidates(&self) -> Result<Vec<ClipAge>, IndexError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT opened_seq, order_code, COALESCE(scanned_ms, 0), COALESCE(size, 0) FROM clips
                 WHERE sealed_seq IS NOT NULL AND pruned_seq IS NULL
                   AND opened_seq NOT IN (SELECT clip FROM holds WHERE released = 0)
                 ORDER BY scanned_ms, opened_seq",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ClipAge {
                    clip: r.get(0)?,
                    order: r.get(1)?,
                    scanned_ms: r.get(2)?,
                    size: r.get(3)?,
                })
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

    /// Clips with a `clip_opened` record and no `clip_sealed` record, oldest first.
    pub fn unsealed(&self) -> Result<Vec<UnsealedClip>, IndexError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT opened_seq, order_code, station, camera, file, started_at, first_frame
                 FROM clips WHERE sealed_seq IS NULL ORDER BY opened_seq",
            )
            .map_err(self.sql())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(UnsealedClip {
                    clip: r.get(0)?,
                    order: r.get(1)?,
                    station: r.get(2)?,
                    camera: r.get(3)?,
                    file: r.get(4)?,
                    started_at: r.get(5)?,
                    first_frame: r.get(6)?,
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.sql())
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
}

/// A clip found by [`lookup`] or [`search`], with the state of its file now.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
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
    search(
        data_dir,
        &Filter {
            code: Some(code),
            ..Filter::default()
        },
        check,
    )
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
        clip,
        file_status: status.to_string(),
        file_detail: detail,
        hash_checked: checked,
    }
}
