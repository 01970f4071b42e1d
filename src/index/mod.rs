//! Index: the SQLite lookup table of clips by order code, derived from the manifest.
//!
//! Owns: `index.sqlite3` in the data dir, its schema, catching up with the manifest, lookup
//! (with a check of each clip file's size), suggestions, and `reindex`.
//! Never: holds anything the manifest does not (deleting it loses nothing: the writer rebuilds
//! it), and a reader never changes it: only the process holding the writer lock creates,
//! migrates or catches up the index ([`Index::open_writer`]); lookups, the web server and
//! verify open it read-only under the shared index lock ([`Index::open_read`]).
//!
//! Rooms: [`schema`] (tables and how each record fills them), [`query`] (lookup, search,
//! suggestions, what retention and recovery ask), [`reindex`].

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};

use crate::datadir::{self, INDEX, MANIFEST};
use crate::digest;
use crate::error::{Error, ErrorKind};
use crate::log::{self, LineReader, Record};

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

mod query;
mod reindex;
mod schema;
mod stats;

pub use query::{
    check_found, lookup, lookup_entries, notes, search, ClipAge, ClipRow, FileCheck, Filter, Found,
    GapRow, NoVideoRow, Notes,
};
pub use reindex::{reindex, Reindexed};
use schema::{apply, DDL, SCHEMA_VERSION};
pub use stats::{stats, NoVideo, Stats, StatsRow};

/// A reader stops waiting for an indexer that took in nothing for this long (stopped, or
/// stuck on a disk): it is never waited on longer.
const STALLED: std::time::Duration = std::time::Duration::from_secs(2);
/// A reader waits at most this long for an indexer that makes progress (a new index of
/// millions of lines being built).
const WAIT_AT_MOST: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether a database file already has tables (of any schema).
fn has_tables(conn: &Connection) -> bool {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map_or(true, |n| n > 0)
}

pub struct Index {
    conn: Connection,
    path: PathBuf,
    data_dir: PathBuf,
    /// A reader's shared index lock, held while the index is open.
    _lock: Option<File>,
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
        let target = std::fs::metadata(data_dir.join(MANIFEST)).map_or(0, |m| m.len());
        if !datadir::writer_running(data_dir) {
            if let Ok(lock) = datadir::take_writer_lock(data_dir) {
                if Index::needs_writer(data_dir) {
                    Index::open_writer(data_dir)?;
                }
                drop(lock);
            }
        } else {
            Index::wait_for_indexer(data_dir, target);
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

    /// Where the index has got to in the manifest (the end of the last line applied), if it
    /// is an index of this schema.
    fn indexed_end(data_dir: &Path) -> Option<u64> {
        let conn = Connection::open_with_flags(
            data_dir.join(INDEX),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .ok()?;
        if schema_version(&conn).as_deref() != Some(SCHEMA_VERSION.to_string().as_str()) {
            return None;
        }
        let meta = |k: &str| -> Option<u64> {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| {
                r.get::<_, String>(0)
            })
            .ok()?
            .parse()
            .ok()
        };
        Some(meta("last_offset").unwrap_or(0) + meta("last_len").unwrap_or(0))
    }

    /// While a recorder keeps the index, a reader waits (a little) for it to take in every
    /// line that was in the manifest when the reader started: a lookup sees what was durable
    /// when it was asked. It waits only while the indexer makes progress: 2 s without any
    /// (an indexer that stopped, or one stuck on a disk) or a minute in all (a new index of
    /// millions of lines still being built), and it goes on with what is there, and says so.
    fn wait_for_indexer(data_dir: &Path, target: u64) {
        let start = std::time::Instant::now();
        // Progress: the indexed end moved, or the index's files grew (a long build writes
        // its pages before it commits).
        let mark = || {
            let len = |name: &str| std::fs::metadata(data_dir.join(name)).map_or(0, |m| m.len());
            (
                Index::indexed_end(data_dir),
                len(INDEX),
                len(&format!("{INDEX}-wal")),
                len(&format!("{INDEX}-journal")),
            )
        };
        let (mut seen, mut since) = (mark(), start);
        while seen.0.is_none_or(|end| end < target) {
            let now = std::time::Instant::now();
            if now.duration_since(since) > STALLED || now.duration_since(start) > WAIT_AT_MOST {
                tracing::warn!(dir = %data_dir.display(), "the lookup index is behind the manifest and not catching up now; results may be incomplete");
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            let m = mark();
            if m != seen {
                (seen, since) = (m, std::time::Instant::now());
            }
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 20: a reader no longer waits a minute for an indexer that stopped: with no
    /// progress for [`STALLED`] it answers with what the index has.
    #[test]
    fn a_reader_does_not_wait_on_an_indexer_that_makes_no_progress() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST), vec![b'x'; 4096]).unwrap();
        let t = std::time::Instant::now();
        Index::wait_for_indexer(dir.path(), 4096);
        let waited = t.elapsed();
        assert!(
            waited >= STALLED && waited < WAIT_AT_MOST / 2,
            "waited {waited:?}"
        );
    }
}
