//! The appending side of the manifest: one per data dir, holding the writer lock.
//!
//! Owns: opening the manifest for appending from its tail (repairing a torn or unreadable
//! last line), appending records durably with a fresh salt each, keeping what is derived
//! from the lines in step (line offsets, tiles, `ledger.state`), and signed checkpoints.
//! Never: appends after a failed write or fsync of the manifest. The failed bytes are cut
//! back off the file and the ledger refuses every further append until it is reopened, which
//! re-reads the file as it is: so no line is ever half written in the middle of the manifest
//! and no `seq` is used twice (as moonfire-nvr's writer does after a failed fsync).
//!
//! The order of an append (a batch of records, one fsync each step):
//! 1. the lines are written to `manifest.jsonl` and fsynced: from here on they exist;
//! 2. their start offsets are appended to `manifest.offsets` and fsynced;
//! 3. their leaf hashes go into the tiles; completed and changed tiles are written, fsynced;
//! 4. `ledger.state` is replaced (written, fsynced, renamed, directory fsynced).
//!
//! A crash after step 1 leaves derived files behind the manifest: the next open finds the
//! lines after `state.end` and catches up. Derived files that disagree with the manifest
//! (root, last line hash, sizes) are rebuilt from it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::state::{self, LogState, Offsets, OpenClip};
use super::tiles::{TileError, TileStore, TileWriter};
use super::{merkle, note, Body, LedgerError, Record, ScanAction, FORMAT_VERSION, GENESIS};
use crate::clock::{format_time, Clock};
use crate::datadir::{self, MANIFEST};
use crate::digest;
use crate::diskfile::{DiskFile, SharedFaults};
use crate::error::Error;

/// 128 random bits as 32 lowercase hex digits: a record's salt.
pub fn new_salt() -> Result<String, LedgerError> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).map_err(|e| LedgerError::Io {
        path: PathBuf::from("/dev/urandom"),
        what: "no randomness for a record's salt",
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(digest::hex(&b))
}

fn tile_err(path: &Path) -> impl Fn(TileError) -> LedgerError + '_ {
    move |e| LedgerError::Corrupt {
        path: path.to_owned(),
        line: 0,
        what: e.to_string(),
    }
}

/// The appending side of a data dir's manifest.
pub struct Ledger {
    data_dir: PathBuf,
    path: PathBuf,
    file: DiskFile,
    _lock: File,
    state: LogState,
    offsets: Offsets,
    tiles: TileWriter,
    /// Set by a failed write or fsync of the manifest: no more appends until reopened.
    broken: Option<String>,
    /// Set by a failed write of a derived file: the manifest goes on, derived files are
    /// caught up by the next open.
    derived_stale: bool,
    /// Bulk import (synthetic logs for benchmarks): no fsync per append, derived files
    /// written by [`Ledger::flush`] only.
    bulk: bool,
    /// Whether a bad last line found at open is moved aside (a reader's open leaves it).
    repair: bool,
    /// Where the last line starts (its bytes run to `state.end`): what tells the same log
    /// through another file after a remount.
    last_start: u64,
    /// `(st_dev, st_ino)` of the data dir at open: derived files are written only while the
    /// directory at its path is still that one (never into one swapped in).
    dir_id: Option<(u64, u64)>,
    /// What the open found and repaired, for the caller to report.
    pub opened: Opened,
}

/// What [`Ledger::open`] did besides opening.
#[derive(Debug, Clone, Default)]
pub struct Opened {
    /// Lines read from the manifest (its tail, or all of it when derived files were rebuilt).
    pub lines_read: u64,
    /// Why derived files were rebuilt from the whole manifest, if they were.
    pub rebuilt: Option<String>,
    /// The log did not end in a checkpoint: the previous process died.
    pub unclean: bool,
}

/// Keeps the orders each station has open from the records that open and end them.
fn track_orders(orders: &mut Vec<state::OpenOrderState>, body: &Body) {
    match body {
        Body::StationStart { station, .. } => orders.retain(|o| o.station != *station),
        Body::Scan {
            station,
            action,
            order,
            box_no,
            group,
            operator,
            scanned_at,
            ..
        } => match (action, order, group) {
            (ScanAction::Open | ScanAction::Switch, Some(order), Some(group)) => {
                orders.retain(|o| o.station != *station);
                orders.push(state::OpenOrderState {
                    station: station.clone(),
                    order: order.clone(),
                    box_no: box_no.unwrap_or(1),
                    group: group.clone(),
                    operator: operator.clone(),
                    scanned_at: scanned_at.clone(),
                    part: 0,
                });
            }
            (ScanAction::Seal, _, _) => orders.retain(|o| o.station != *station),
            _ => {}
        },
        Body::ClipOpened {
            station,
            group,
            part,
            ..
        } => {
            for o in orders.iter_mut() {
                if o.station == *station && o.group == *group {
                    o.part = o.part.max(*part);
                }
            }
        }
        _ => {}
    }
}

/// `(st_dev, st_ino)` of a directory, if it can be read.
fn dir_id(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

/// Builds a record for the `seq` it gets.
pub type MakeBody = Box<dyn FnOnce(u64) -> Body + Send>;

/// Lines between flushes of the derived files while catching up (bounds memory).
const CATCH_UP_FLUSH: u64 = 65_536;

impl Ledger {
    /// Opens (or creates) the manifest of `data_dir` for appending and takes the writer lock.
    ///
    /// Reads the tail after `ledger.state` (all of it when derived files are missing or
    /// disagree with the manifest, as after an upgrade from version 2). A last line cut short
    /// by a crash, or complete but not a valid record, is moved to `manifest.torn-<unix ms>`,
    /// the manifest is cut to the line before it, and a `torn_line_removed` record says so.
    /// Any other damage is an error (run `packwitness verify`): the ledger never appends to a
    /// chain it cannot extend.
    pub fn open(data_dir: &Path, clock: &dyn Clock) -> Result<Ledger, Error> {
        let lock = datadir::take_writer_lock(data_dir)?;
        Ok(Ledger::open_locked(data_dir, lock, clock, false, true)?)
    }

    /// Brings the derived files (offsets, tiles, state) up to date with the manifest for a
    /// reader when no recorder runs, without changing the manifest: a bad last line is left
    /// as it is (and this ledger refuses appends).
    pub fn open_derived(data_dir: &Path, clock: &dyn Clock) -> Result<Ledger, Error> {
        let lock = datadir::take_writer_lock(data_dir)?;
        Ok(Ledger::open_locked(data_dir, lock, clock, false, false)?)
    }

    /// Rebuilds the line offsets, the tiles and `ledger.state` from the whole manifest (for
    /// `reindex`), under the writer lock `lock` the caller took. The manifest itself is only
    /// changed as [`Ledger::open`] changes it (a torn last line moved aside).
    pub fn rebuild(data_dir: &Path, lock: File, clock: &dyn Clock) -> Result<Ledger, LedgerError> {
        let state = data_dir.join(state::STATE);
        match std::fs::remove_file(&state) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(LedgerError::Io {
                    path: state,
                    what: "removing the stale ledger.state",
                    source: e,
                })
            }
            _ => {}
        }
        Ledger::open_locked(data_dir, lock, clock, true, true)
    }

    /// After a failed write, opens the manifest again as a start would (under the same writer
    /// lock, which is never let go): the tail is checked, a bad last line moved aside with a
    /// record. On success appends work again; on failure this ledger stays as it was
    /// (refusing appends) and the error says why.
    pub fn reopen(&mut self, clock: &dyn Clock) -> Result<(), LedgerError> {
        // The lock held is kept when it is still the lock file at the data dir's path; after
        // a remount it is another file, and is taken anew (refused if another process has).
        let same_lock = {
            use std::os::unix::fs::MetadataExt;
            let held = self._lock.metadata().map(|m| (m.dev(), m.ino()));
            let there =
                std::fs::metadata(self.data_dir.join(datadir::LOCK)).map(|m| (m.dev(), m.ino()));
            matches!((held, there), (Ok(a), Ok(b)) if a == b)
        };
        let lock = if same_lock {
            self._lock.try_clone().map_err(|source| LedgerError::Io {
                path: self.path.clone(),
                what: "keeping the writer lock",
                source,
            })?
        } else {
            datadir::take_writer_lock(&self.data_dir).map_err(|e| LedgerError::Io {
                path: self.data_dir.join(datadir::LOCK),
                what: "taking the writer lock again after the data dir came back",
                source: std::io::Error::other(e.to_string()),
            })?
        };
        let fresh = Ledger::open_locked(&self.data_dir, lock, clock, false, true)?;
        let (bulk, faults) = (self.bulk, self.file.faults());
        *self = fresh;
        self.bulk = bulk;
        self.file.set_faults(faults);
        tracing::warn!(manifest = %self.path.display(), "the manifest is writable again");
        Ok(())
    }

    /// `asked`: the rebuild of the derived files was asked for (reindex), not a surprise;
    /// `repair`: a bad last line is moved aside (else left, and appends refused).
    fn open_locked(
        data_dir: &Path,
        lock: File,
        clock: &dyn Clock,
        asked: bool,
        repair: bool,
    ) -> Result<Ledger, LedgerError> {
        let path = data_dir.join(MANIFEST);
        let io = |what| {
            let path = path.clone();
            move |source| LedgerError::Io { path, what, source }
        };
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io("opening"))?;
        if !existed {
            datadir::sync_dir(data_dir).map_err(io("fsync of the data dir"))?;
        }
        let store = TileStore::new(data_dir);
        let mut opened = Opened::default();
        let (state, offsets, tiles) = match Ledger::check_state(data_dir, &file, &store) {
            Ok(sot) => sot,
            Err(why) => {
                if asked {
                    tracing::info!(dir = %data_dir.display(), "rebuilding the line offsets and tiles from the whole manifest");
                } else if existed && file.metadata().map_or(0, |m| m.len()) > 0 {
                    tracing::warn!(dir = %data_dir.display(), why = %why, "rebuilding the line offsets and tiles from the whole manifest");
                    opened.rebuilt = Some(why);
                }
                store.clear().map_err(io("removing stale tiles"))?;
                let state = LogState {
                    version: 1,
                    root: digest::hex(&merkle::root(&[])),
                    ..LogState::default()
                };
                (state, Offsets::open(data_dir, 0)?, TileWriter::empty(store))
            }
        };
        let end = file.metadata().map_err(io("reading its length"))?.len();
        let file = DiskFile::new(file, &path, end, None);
        let mut ledger = Ledger {
            data_dir: data_dir.to_owned(),
            path,
            file,
            _lock: lock,
            state,
            offsets,
            tiles,
            broken: None,
            derived_stale: false,
            bulk: false,
            repair,
            opened,
            last_start: 0,
            dir_id: dir_id(data_dir),
        };
        if ledger.state.size > 0 {
            // Unknown (0) only makes a remounted disk look like another log: refused, never
            // wrongly adopted.
            ledger.last_start = ledger.offsets.get(ledger.state.size).unwrap_or(0);
        }
        ledger.catch_up(clock)?;
        Ok(ledger)
    }

    /// The state on disk, if it agrees with the manifest and the tiles: the last line's bytes,
    /// the offsets' length, the root of the tiles at the right edge.
    fn check_state(
        data_dir: &Path,
        file: &File,
        store: &TileStore,
    ) -> Result<(LogState, Offsets, TileWriter), String> {
        let s = LogState::load(data_dir).ok_or("no readable ledger.state")?;
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        if s.end > len {
            return Err(format!(
                "ledger.state says the manifest is {} bytes; it is {len}",
                s.end
            ));
        }
        let offsets = Offsets::open(data_dir, s.size).map_err(|e| e.to_string())?;
        let line_at = |n: u64| -> Result<Vec<u8>, String> {
            let start = offsets.get(n).map_err(|e| e.to_string())?;
            let end = if n == s.size {
                s.end
            } else {
                offsets.get(n + 1).map_err(|e| e.to_string())?
            };
            if end < start {
                return Err(format!("line offsets out of order at line {n}"));
            }
            state::read_at(file, start, (end - start) as usize).map_err(|e| e.to_string())
        };
        if s.size > 0 {
            let last = line_at(s.size)?;
            if digest::sha256_hex(&last) != s.last_sha256 || !last.ends_with(b"\n") {
                return Err(format!(
                    "line {} is not the line ledger.state names",
                    s.size
                ));
            }
        }
        // Only the right edge is read (tiles are written before the state that counts them):
        // opening costs the same at any size. A tile deleted by hand in the middle is found
        // by verify and rebuilt by reindex.
        let tiles = TileWriter::load(store.clone(), s.size).map_err(|e| e.to_string())?;
        if digest::hex(&tiles.root()) != s.root {
            return Err("the tiles' root is not the one ledger.state names".into());
        }
        Ok((s, offsets, tiles))
    }

    /// Reads the lines after the state's end, brings the derived files up to date, and moves a
    /// torn or unreadable last line aside.
    fn catch_up(&mut self, clock: &dyn Clock) -> Result<(), LedgerError> {
        let path = self.path.clone();
        let io = |what| {
            let path = path.clone();
            move |source| LedgerError::Io { path, what, source }
        };
        let mut handle = self.file.file().try_clone().map_err(io("reading"))?;
        std::io::Seek::seek(&mut handle, std::io::SeekFrom::Start(self.state.end))
            .map_err(io("reading"))?;
        let mut reader = super::LineReader::starting_at(
            std::io::BufReader::with_capacity(1 << 20, handle),
            self.state.size,
            self.state.end,
        );
        // A complete line that is not a valid record is only forgiven at the end.
        let mut bad: Option<(u64, u64, Vec<u8>, String)> = None;
        let mut torn = None;
        while let Some((n, offset, line)) = reader.next_line().map_err(io("reading"))? {
            if let Some((bn, _, _, what)) = bad.take() {
                return Err(LedgerError::Corrupt {
                    path: self.path.clone(),
                    line: bn,
                    what,
                });
            }
            if !line.ends_with(b"\n") {
                torn = Some((offset, line, "incomplete (no newline): a write cut short"));
                break;
            }
            let rec: Record = match serde_json::from_slice(&line) {
                Ok(r) => r,
                Err(e) => {
                    bad = Some((n, offset, line, format!("not a valid record ({e})")));
                    continue;
                }
            };
            if rec.seq != n {
                bad = Some((
                    n,
                    offset,
                    line,
                    format!("seq {} where {n} was expected", rec.seq),
                ));
                continue;
            }
            self.take(&rec, &line, offset);
            self.opened.lines_read += 1;
            if self.opened.lines_read.is_multiple_of(CATCH_UP_FLUSH) {
                self.flush_derived()?;
            }
        }
        let torn = torn
            .or(bad.map(|(_, offset, line, _)| (offset, line, "complete but not a valid record")));
        self.flush_derived()?;
        self.opened.unclean = self.state.size > 0 && self.state.last_checkpoint != self.state.size;
        if let Some((offset, bytes, why)) = torn {
            if self.repair {
                self.remove_torn(offset, &bytes, why, clock)?;
            } else {
                // A reader brought the derived files up to date: the manifest is the
                // recorder's to repair, and nothing may be appended after that line.
                self.broken = Some(format!("the last manifest line is bad ({why}); the recorder's next start moves it aside"));
            }
        }
        Ok(())
    }

    /// Moves a bad last line aside and records it.
    fn remove_torn(
        &mut self,
        offset: u64,
        bytes: &[u8],
        why: &str,
        clock: &dyn Clock,
    ) -> Result<(), LedgerError> {
        let io = |what| {
            let path = self.path.clone();
            move |source| LedgerError::Io { path, what, source }
        };
        let kept = format!("manifest.torn-{}", clock.now().timestamp_millis());
        let kept_path = self.data_dir.join(&kept);
        std::fs::write(&kept_path, bytes)
            .and_then(|_| File::open(&kept_path)?.sync_all())
            .map_err(io("keeping the bad last line aside"))?;
        datadir::sync_dir(&self.data_dir).map_err(io("fsync of the data dir"))?;
        self.file
            .set_len(offset)
            .map_err(io("cutting the bad last line"))?;
        self.file
            .sync_all()
            .map_err(io("fsync after cutting the bad last line"))?;
        tracing::warn!(bytes = bytes.len(), kept = %kept, why, "the manifest's last line was bad; kept aside and removed");
        self.append(
            Body::TornLineRemoved {
                bytes: bytes.len() as u64,
                sha256: digest::sha256_hex(bytes),
                kept_in: kept,
                reason: Some(why.to_string()),
            },
            clock,
        )?;
        Ok(())
    }

    /// Takes a durable line into the derived state (written by [`Ledger::flush_derived`]).
    fn take(&mut self, rec: &Record, line: &[u8], offset: u64) {
        self.offsets.push(offset);
        self.last_start = offset;
        self.tiles.push(merkle::leaf_hash(line));
        let s = &mut self.state;
        s.size = rec.seq;
        s.end = offset + line.len() as u64;
        s.last_sha256 = digest::sha256_hex(line);
        match &rec.body {
            Body::Checkpoint { .. } => s.last_checkpoint = rec.seq,
            Body::StationStart { key, .. } => {
                s.key = Some(key.clone());
                s.key_line = rec.seq;
            }
            Body::KeyRotation { old, new, .. } => {
                if !s.previous_keys.contains(old) {
                    s.previous_keys.push(old.clone());
                }
                s.key = Some(new.clone());
                s.key_line = rec.seq;
            }
            Body::ClipOpened {
                order,
                station,
                camera,
                file,
                started_at,
                first_frame,
                ..
            } => s.open.push(OpenClip {
                clip: rec.seq,
                order: order.clone(),
                station: station.clone(),
                camera: camera.clone(),
                file: file.clone(),
                started_at: started_at.clone(),
                first_frame: *first_frame,
            }),
            Body::ClipSealed {
                clip,
                station,
                order,
                reason,
                ..
            } => {
                s.open.retain(|o| o.clip != *clip);
                // Box 1's seal comes after the scan that opened box 2 (of the same order):
                // only a seal no scan caused ends the order here.
                if reason.ends_order_unscanned() {
                    s.orders
                        .retain(|o| !(o.station == *station && o.order == *order));
                }
            }
            _ => {}
        }
        track_orders(&mut s.orders, &rec.body);
    }

    /// Writes the derived files (offsets, tiles, state), each durably, in that order. A
    /// failure is logged and leaves them for the next open to catch up: the manifest, which
    /// is the truth, is already durable.
    fn flush_derived(&mut self) -> Result<(), LedgerError> {
        if self.derived_stale {
            return Ok(());
        }
        if dir_id(&self.data_dir) != self.dir_id {
            tracing::error!(dir = %self.data_dir.display(), "the data dir is no longer the one opened; tiles and line offsets are caught up when it is back");
            self.derived_stale = true;
            return Ok(());
        }
        self.state.root = digest::hex(&self.tiles.root());
        let done = self
            .offsets
            .flush()
            .and_then(|()| self.tiles.flush().map_err(tile_err(&self.path)))
            .and_then(|()| self.state.save(&self.data_dir));
        if let Err(e) = done {
            tracing::error!(error = %e, "cannot update the tiles and line offsets; they are caught up from the manifest at the next start");
            self.derived_stale = true;
        }
        Ok(())
    }

    /// Appends a record and fsyncs it; returns it with its `seq`. When this returns, the
    /// record survives a crash or power cut.
    pub fn append(&mut self, body: Body, clock: &dyn Clock) -> Result<Record, LedgerError> {
        let mut recs = self.append_batch(vec![Box::new(move |_| body)], clock)?;
        recs.pop().ok_or_else(|| LedgerError::Corrupt {
            path: self.path.clone(),
            line: self.state.size,
            what: "an append returned no record".into(),
        })
    }

    /// Appends the record `make(seq)` builds for the `seq` it will have (a clip's file name
    /// carries the `seq` of its opening record).
    pub fn append_with(
        &mut self,
        make: impl FnOnce(u64) -> Body + Send + 'static,
        clock: &dyn Clock,
    ) -> Result<Record, LedgerError> {
        let mut recs = self.append_batch(vec![Box::new(make)], clock)?;
        recs.pop().ok_or_else(|| LedgerError::Corrupt {
            path: self.path.clone(),
            line: self.state.size,
            what: "an append returned no record".into(),
        })
    }

    /// Appends the records `makers` build (each given the `seq` it gets), in order, with one
    /// fsync for all of them (group commit): when this returns, all are durable, or none was
    /// appended and the ledger is stopped.
    pub fn append_batch(
        &mut self,
        makers: Vec<MakeBody>,
        clock: &dyn Clock,
    ) -> Result<Vec<Record>, LedgerError> {
        let at = format_time(clock.now());
        let salted = makers
            .into_iter()
            .map(|m| Ok((new_salt()?, m)))
            .collect::<Result<Vec<_>, LedgerError>>()?;
        self.write_records(salted, at)
    }

    /// Writes records built by `makers`, each with its salt.
    fn write_records(
        &mut self,
        makers: Vec<(String, MakeBody)>,
        at: String,
    ) -> Result<Vec<Record>, LedgerError> {
        if let Some(what) = &self.broken {
            return Err(LedgerError::Broken {
                path: self.path.clone(),
                what: what.clone(),
            });
        }
        let mut bytes = Vec::new();
        let mut records = Vec::with_capacity(makers.len());
        let mut lines = Vec::with_capacity(makers.len());
        let first = self.state.size + 1;
        let mut prev = if self.state.size == 0 {
            GENESIS.to_string()
        } else {
            self.state.last_sha256.clone()
        };
        for (i, (salt, make)) in makers.into_iter().enumerate() {
            let seq = first + i as u64;
            let rec = Record {
                v: FORMAT_VERSION,
                seq,
                prev: prev.clone(),
                at: at.clone(),
                salt: Some(salt),
                body: make(seq),
            };
            let mut line = serde_json::to_vec(&rec).map_err(|e| LedgerError::Corrupt {
                path: self.path.clone(),
                line: rec.seq,
                what: format!("cannot serialise record: {e}"),
            })?;
            line.push(b'\n');
            prev = digest::sha256_hex(&line);
            bytes.extend_from_slice(&line);
            lines.push(line);
            records.push(rec);
        }
        let written = self
            .file
            .write_all(&bytes)
            .map_err(|e| ("appending records", e))
            .and_then(|()| self.file.sync_data().map_err(|e| ("fsync after append", e)));
        if let Err((what, source)) = written {
            self.fail(what);
            return Err(LedgerError::Io {
                path: self.path.clone(),
                what,
                source,
            });
        }
        let mut offset = self.state.end;
        for (line, rec) in lines.iter().zip(&records) {
            self.take(rec, line, offset);
            offset += line.len() as u64;
        }
        if !self.bulk {
            self.flush_derived()?;
        }
        Ok(records)
    }

    /// After a failed write or fsync: cut the file back to its last durable line (what was
    /// written of the failed one may or may not be on disk) and refuse further appends.
    fn fail(&mut self, what: &str) {
        let cut = self
            .file
            .set_len(self.state.end)
            .and_then(|()| self.file.sync_all());
        if let Err(e) = &cut {
            tracing::error!(manifest = %self.path.display(), error = %e, "cannot cut the manifest back after a failed write; the next start repairs it");
        }
        tracing::error!(manifest = %self.path.display(), what, "a manifest write failed; no more records until it is reopened (the recorder tries every few seconds)");
        self.broken = Some(what.to_string());
    }

    /// Appends a signed checkpoint over every line so far, unless the last line already is one.
    /// The note carries the record's `at` time as a `time` extension line, so the checkpoint
    /// record is covered by its own signature down to the last byte.
    pub fn checkpoint(
        &mut self,
        key: &note::StationKey,
        clock: &dyn Clock,
    ) -> Result<Option<Record>, LedgerError> {
        if self.since_checkpoint() == 0 {
            return Ok(None);
        }
        let at = format_time(clock.now());
        let salt = new_salt()?;
        let cp = note::Checkpoint {
            origin: key.name().to_string(),
            size: self.state.size,
            root: self.tiles.root(),
            time: Some(at.clone()),
            salt: Some(salt.clone()),
        };
        let signed = key.sign(&cp.body());
        let body = Body::Checkpoint {
            size: cp.size,
            root: digest::hex(&cp.root),
            note: signed,
        };
        let mut recs = self.write_records(vec![(salt, Box::new(move |_| body))], at)?;
        Ok(recs.pop())
    }

    /// Bulk import on or off: while on, appends are not fsynced and derived files wait for
    /// [`Ledger::flush`] (a crash loses the import, never the log before it). Turning it off
    /// flushes.
    pub fn set_bulk(&mut self, bulk: bool) -> Result<(), LedgerError> {
        if self.bulk && !bulk {
            self.flush()?;
        }
        self.bulk = bulk;
        Ok(())
    }

    /// Makes everything appended so far durable: the manifest, then the derived files.
    pub fn flush(&mut self) -> Result<(), LedgerError> {
        self.file.sync_data().map_err(|source| LedgerError::Io {
            path: self.path.clone(),
            what: "fsync",
            source,
        })?;
        self.flush_derived()
    }

    /// From now on the manifest's writes and fsyncs ask `faults` first (tests of a disk that
    /// fails); kept across [`Ledger::reopen`].
    pub fn set_faults(&mut self, faults: Option<SharedFaults>) {
        self.file.set_faults(faults);
    }

    /// Records appended since the last checkpoint.
    pub fn since_checkpoint(&self) -> u64 {
        self.state.size - self.state.last_checkpoint
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `seq` the next appended record will get.
    pub fn next_seq(&self) -> u64 {
        self.state.size + 1
    }

    /// `(st_dev, st_ino)` of the manifest file this ledger appends to, and where its last
    /// line starts: what tells whether the file at the manifest's path is still this log.
    pub fn identity(&self) -> std::io::Result<((u64, u64), u64)> {
        use std::os::unix::fs::MetadataExt;
        let m = self.file.file().metadata()?;
        Ok(((m.dev(), m.ino()), self.last_start))
    }

    /// True when a derived file (tiles, offsets, state) could not be written: they lag the
    /// manifest until the ledger is opened again.
    pub fn derived_stale(&self) -> bool {
        self.derived_stale
    }

    /// Whether a failed write stopped this ledger (and why).
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// What the ledger knows of its log (size, last checkpoint, key, open clips).
    pub fn state(&self) -> &LogState {
        &self.state
    }
}

#[cfg(test)]
mod tests;
