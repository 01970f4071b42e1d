//! The appending side of the manifest: one per data dir, holding the writer lock.
//!
//! Owns: opening the manifest for appending (repairing a torn last line), appending a record
//! durably (write, fsync, then the in-memory chain state), and signed checkpoints.
//! Never: appends after a failed write or fsync. The failed bytes are cut back off the file and
//! the ledger refuses every further append until it is reopened, which re-reads the file as
//! it is: so no line is ever half written in the middle of the manifest and no `seq` is used
//! twice (as moonfire-nvr's writer does after a failed fsync).

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use super::{merkle, note, Body, LedgerError, LineReader, Record, FORMAT_VERSION, GENESIS};
use crate::clock::{format_time, Clock};
use crate::datadir::{self, MANIFEST};
use crate::digest;
use crate::error::Error;

/// The appending side of a data dir's manifest.
pub struct Ledger {
    path: PathBuf,
    file: File,
    _lock: File,
    /// Length of the file up to the end of the last durable line.
    len: u64,
    next_seq: u64,
    prev: String,
    frontier: merkle::Frontier,
    since_checkpoint: u64,
    /// Set by a failed write or fsync: no more appends until reopened.
    broken: Option<String>,
}

impl Ledger {
    /// Opens (or creates) the manifest of `data_dir` for appending and takes the writer lock.
    ///
    /// Reads every line once to rebuild the Merkle frontier. A last line cut short by a crash
    /// (no newline) is moved to `manifest.torn-<unix ms>`, the manifest is truncated to its
    /// last whole line, and a `torn_line_removed` record says so. Any other damage is an error
    /// (run `packwitness verify`): the ledger never appends to a chain it cannot extend.
    pub fn open(data_dir: &Path, clock: &dyn Clock) -> Result<Ledger, Error> {
        let lock = datadir::take_writer_lock(data_dir)?;
        Ok(Ledger::open_locked(data_dir, lock, clock)?)
    }

    fn open_locked(data_dir: &Path, lock: File, clock: &dyn Clock) -> Result<Ledger, LedgerError> {
        let path = data_dir.join(MANIFEST);
        let io = |what| {
            let path = path.clone();
            move |source| LedgerError::Io { path, what, source }
        };
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io("opening"))?;
        if !existed {
            datadir::sync_dir(data_dir).map_err(io("fsync of the data dir"))?;
        }
        let mut frontier = merkle::Frontier::default();
        let mut next_seq = 1;
        let mut prev = GENESIS.to_string();
        let mut since_checkpoint = 0;
        let mut len = 0;
        let mut torn = None;
        {
            let mut reader = LineReader::new(BufReader::new(&mut file));
            while let Some((n, offset, line)) = reader.next_line().map_err(io("reading"))? {
                if !line.ends_with(b"\n") {
                    torn = Some((offset, line));
                    break;
                }
                let rec: Record =
                    serde_json::from_slice(&line).map_err(|e| LedgerError::Corrupt {
                        path: path.clone(),
                        line: n,
                        what: format!("not a valid record ({e})"),
                    })?;
                if rec.seq != n {
                    return Err(LedgerError::Corrupt {
                        path: path.clone(),
                        line: n,
                        what: format!("seq {} where {n} was expected", rec.seq),
                    });
                }
                since_checkpoint = if matches!(rec.body, Body::Checkpoint { .. }) {
                    0
                } else {
                    since_checkpoint + 1
                };
                frontier.push(merkle::leaf_hash(&line));
                prev = digest::sha256_hex(&line);
                next_seq = n + 1;
                len = offset + line.len() as u64;
            }
        }
        let mut ledger = Ledger {
            path: path.clone(),
            file,
            _lock: lock,
            len,
            next_seq,
            prev,
            frontier,
            since_checkpoint,
            broken: None,
        };
        if let Some((offset, bytes)) = torn {
            let kept = format!("manifest.torn-{}", clock.now().timestamp_millis());
            let kept_path = data_dir.join(&kept);
            std::fs::write(&kept_path, &bytes)
                .and_then(|_| File::open(&kept_path)?.sync_all())
                .map_err(io("keeping the torn last line aside"))?;
            datadir::sync_dir(data_dir).map_err(io("fsync of the data dir"))?;
            ledger
                .file
                .set_len(offset)
                .map_err(io("cutting the torn last line"))?;
            ledger
                .file
                .sync_all()
                .map_err(io("fsync after cutting the torn line"))?;
            tracing::warn!(bytes = bytes.len(), kept = %kept, "manifest ended in a torn line; kept aside and removed");
            ledger.append(
                Body::TornLineRemoved {
                    bytes: bytes.len() as u64,
                    sha256: digest::sha256_hex(&bytes),
                    kept_in: kept,
                },
                clock,
            )?;
        }
        Ok(ledger)
    }

    /// Appends a record and fsyncs it; returns it with its `seq`. When this returns, the
    /// record survives a crash or power cut.
    pub fn append(&mut self, body: Body, clock: &dyn Clock) -> Result<Record, LedgerError> {
        self.append_at(body, format_time(clock.now()))
    }

    /// Appends the record `make(seq)` builds for the `seq` it will have (a clip's file name
    /// carries the `seq` of its opening record).
    pub fn append_with(
        &mut self,
        make: impl FnOnce(u64) -> Body,
        clock: &dyn Clock,
    ) -> Result<Record, LedgerError> {
        let body = make(self.next_seq);
        self.append(body, clock)
    }

    /// Appends the records `makers` build (each given the `seq` it gets), in order, with one
    /// fsync for all of them (group commit): when this returns, all are durable, or none was
    /// appended and the ledger is stopped.
    pub fn append_batch(
        &mut self,
        makers: Vec<Box<dyn FnOnce(u64) -> Body + Send>>,
        clock: &dyn Clock,
    ) -> Result<Vec<Record>, LedgerError> {
        if let Some(what) = &self.broken {
            return Err(LedgerError::Broken {
                path: self.path.clone(),
                what: what.clone(),
            });
        }
        let at = format_time(clock.now());
        let mut bytes = Vec::new();
        let mut records = Vec::with_capacity(makers.len());
        let (mut seq, mut prev) = (self.next_seq, self.prev.clone());
        let mut lines = Vec::with_capacity(makers.len());
        for make in makers {
            let rec = Record {
                v: FORMAT_VERSION,
                seq,
                prev: prev.clone(),
                at: at.clone(),
                body: make(seq),
            };
            let mut line = serde_json::to_vec(&rec).map_err(|e| LedgerError::Corrupt {
                path: self.path.clone(),
                line: rec.seq,
                what: format!("cannot serialise record: {e}"),
            })?;
            line.push(b'\n');
            prev = digest::sha256_hex(&line);
            seq += 1;
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
        self.len += bytes.len() as u64;
        self.prev = prev;
        self.next_seq = seq;
        for (line, rec) in lines.iter().zip(&records) {
            self.frontier.push(merkle::leaf_hash(line));
            self.since_checkpoint = if matches!(rec.body, Body::Checkpoint { .. }) {
                0
            } else {
                self.since_checkpoint + 1
            };
        }
        Ok(records)
    }

    fn append_at(&mut self, body: Body, at: String) -> Result<Record, LedgerError> {
        if let Some(what) = &self.broken {
            return Err(LedgerError::Broken {
                path: self.path.clone(),
                what: what.clone(),
            });
        }
        let rec = Record {
            v: FORMAT_VERSION,
            seq: self.next_seq,
            prev: self.prev.clone(),
            at,
            body,
        };
        let mut line = serde_json::to_vec(&rec).map_err(|e| LedgerError::Corrupt {
            path: self.path.clone(),
            line: rec.seq,
            what: format!("cannot serialise record: {e}"),
        })?;
        line.push(b'\n');
        let written = self
            .file
            .write_all(&line)
            .map_err(|e| ("appending a record", e))
            .and_then(|()| self.file.sync_data().map_err(|e| ("fsync after append", e)));
        if let Err((what, source)) = written {
            self.fail(what);
            return Err(LedgerError::Io {
                path: self.path.clone(),
                what,
                source,
            });
        }
        self.len += line.len() as u64;
        self.prev = digest::sha256_hex(&line);
        self.next_seq += 1;
        self.frontier.push(merkle::leaf_hash(&line));
        self.since_checkpoint = if matches!(rec.body, Body::Checkpoint { .. }) {
            0
        } else {
            self.since_checkpoint + 1
        };
        Ok(rec)
    }

    /// After a failed write or fsync: cut the file back to its last durable line (what was
    /// written of the failed one may or may not be on disk) and refuse further appends.
    fn fail(&mut self, what: &str) {
        let cut = self
            .file
            .set_len(self.len)
            .and_then(|()| self.file.sync_all());
        if let Err(e) = &cut {
            tracing::error!(manifest = %self.path.display(), error = %e, "cannot cut the manifest back after a failed write; the next start repairs it");
        }
        tracing::error!(manifest = %self.path.display(), what, "a manifest write failed; no more records until packwitness restarts");
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
        if self.since_checkpoint == 0 {
            return Ok(None);
        }
        let at = format_time(clock.now());
        let cp = note::Checkpoint {
            origin: key.name().to_string(),
            size: self.frontier.size(),
            root: self.frontier.root(),
            time: Some(at.clone()),
        };
        let signed = key.sign(&cp.body());
        let body = Body::Checkpoint {
            size: cp.size,
            root: digest::hex(&cp.root),
            note: signed,
        };
        self.append_at(body, at).map(Some)
    }

    /// Records appended since the last checkpoint.
    pub fn since_checkpoint(&self) -> u64 {
        self.since_checkpoint
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `seq` the next appended record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether a failed write stopped this ledger (and why).
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimClock;

    /// A public key in signed-note verifier form (from Go's sumdb/note documentation).
    const TEST_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    fn start() -> Body {
        Body::StationStart {
            station: "s".into(),
            software: "t".into(),
            config_sha256: digest::sha256_hex(b""),
            cameras: vec!["c".into()],
            key: TEST_KEY.into(),
        }
    }

    #[test]
    fn chain_links_exact_line_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let clock = SimClock::at_test_epoch();
        {
            let mut l = Ledger::open(dir.path(), &clock).unwrap();
            let r1 = l.append(start(), &clock).unwrap();
            assert_eq!((r1.seq, r1.prev.as_str()), (1, GENESIS));
            assert_eq!(r1.at, "2026-11-25T20:31:02.054+08:00");
            l.append(start(), &clock).unwrap();
        }
        let text = std::fs::read(dir.path().join(MANIFEST)).unwrap();
        let first_len = text.iter().position(|&b| b == b'\n').unwrap() + 1;
        let line2: Record = serde_json::from_slice(&text[first_len..]).unwrap();
        assert_eq!(line2.prev, digest::sha256_hex(&text[..first_len]));
        // Reopening continues the chain.
        let mut l = Ledger::open(dir.path(), &clock).unwrap();
        let r3 = l.append(start(), &clock).unwrap();
        assert_eq!(r3.seq, 3);
        assert_eq!(r3.prev, digest::sha256_hex(&text[first_len..]));
        let seq = l.append_with(start_named, &clock).unwrap();
        assert!(matches!(&seq.body, Body::StationStart { station, .. } if station == "s4"));
    }

    fn start_named(seq: u64) -> Body {
        match start() {
            Body::StationStart {
                software,
                config_sha256,
                cameras,
                key,
                ..
            } => Body::StationStart {
                station: format!("s{seq}"),
                software,
                config_sha256,
                cameras,
                key,
            },
            b => b,
        }
    }

    #[test]
    fn second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let clock = SimClock::at_test_epoch();
        let _a = Ledger::open(dir.path(), &clock).unwrap();
        let err = Ledger::open(dir.path(), &clock).err().unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::Conflict);
        assert!(
            err.to_string()
                .contains("in use by another packwitness process"),
            "{err}"
        );
    }

    /// A write that fails (here: the file size limit, as a full disk would) leaves the
    /// manifest as it was before the failed record, and no later record is appended.
    #[test]
    fn a_failed_append_is_cut_back_and_refuses_more() {
        let dir = tempfile::tempdir().unwrap();
        let clock = SimClock::at_test_epoch();
        let mut l = Ledger::open(dir.path(), &clock).unwrap();
        l.append(start(), &clock).unwrap();
        let good = std::fs::read(dir.path().join(MANIFEST)).unwrap();
        // Make the next write fail: the manifest's file handle is replaced by a read-only one.
        l.file = File::open(dir.path().join(MANIFEST)).unwrap();
        assert!(l.append(start(), &clock).is_err());
        let err = l.append(start(), &clock).unwrap_err().to_string();
        assert!(err.contains("refuses more records"), "{err}");
        assert_eq!(std::fs::read(dir.path().join(MANIFEST)).unwrap(), good);
        drop(l);
        let mut l = Ledger::open(dir.path(), &clock).unwrap();
        assert_eq!(l.append(start(), &clock).unwrap().seq, 2);
    }
}
