//! `packwitness reindex`: the index rebuilt from the manifest, compared with the old one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::Serialize;

use super::{Index, IndexError};
use crate::clock::RealClock;
use crate::datadir::{self, INDEX};
use crate::log::Ledger;

/// What `reindex` did.
#[derive(Debug, Clone, Serialize)]
pub struct Reindexed {
    /// Manifest lines read.
    pub records: u64,
    pub seconds: f64,
    /// Seconds spent rebuilding the ledger's line offsets, tiles and state.
    pub ledger_seconds: f64,
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
    let lock = datadir::take_writer_lock(data_dir).map_err(|e| IndexError::Sql {
        path: data_dir.join(INDEX),
        source: rusqlite::Error::InvalidPath(PathBuf::from(e.to_string())),
    })?;
    // The ledger's derived files first (line offsets, tiles, ledger.state), from every line:
    // a tile whose bytes were changed (which opening the ledger does not look for) is
    // replaced. The ledger keeps the writer lock until the index is in place.
    let t = std::time::Instant::now();
    let ledger = Ledger::rebuild(data_dir, lock, &RealClock::new())?;
    let ledger_seconds = t.elapsed().as_secs_f64();
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
    drop(ledger);
    Ok(Reindexed {
        records,
        seconds,
        ledger_seconds,
        clips_before: before,
        clips_after: after,
        differences,
        differences_total: total,
        replaced,
    })
}
