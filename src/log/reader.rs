//! Reading the log without the writer: any line by its number, the latest checkpoint, tree
//! hashes and proofs, tiles and entry bundles; each in O(log n) reads, whatever the size.
//!
//! Owns: [`LogReader`], the read-only view that `prove`, `export`, `consistency` and the
//! web server's tlog endpoints use: `ledger.state` for where things are, `manifest.offsets`
//! to find a line, the tiles for every hash a proof needs.
//! Never: writes, except when no recorder holds the data dir and the derived files lag the
//! manifest (or are missing): then it becomes the writer for a moment to catch them up, as
//! the index reader does.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::merkle::{self, Hash};
use super::state::{self, LogState, Offsets};
use super::tiles::{self, TileHashes, TileStore, WIDTH};
use super::{Body, LedgerError, Record};
use crate::clock::RealClock;
use crate::datadir::{self, MANIFEST};
use crate::error::{Error, ErrorKind};

/// A signed checkpoint of the log.
#[derive(Debug, Clone)]
pub struct Checkpointed {
    /// Its line in the manifest.
    pub line: u64,
    /// Lines it covers: 1..=size.
    pub size: u64,
    pub root: Hash,
    /// The signed note.
    pub note: String,
    /// Its record's `at`.
    pub at: String,
}

/// A read-only view of a data dir's log.
pub struct LogReader {
    data_dir: PathBuf,
    state: LogState,
    offsets: Offsets,
    manifest: File,
    tiles: TileStore,
}

fn corrupt(data_dir: &Path, line: u64, what: String) -> Error {
    LedgerError::Corrupt {
        path: data_dir.join(MANIFEST),
        line,
        what,
    }
    .into()
}

impl LogReader {
    /// Opens the log of a data dir for reading.
    pub fn open(data_dir: &Path) -> Result<LogReader, Error> {
        datadir::existing(data_dir)?;
        let manifest_len = std::fs::metadata(data_dir.join(MANIFEST)).map_or(0, |m| m.len());
        let current = LogState::load(data_dir).is_some_and(|s| s.end == manifest_len);
        if !current && !datadir::writer_running(data_dir) {
            // Nobody keeps the derived files: bring them up to date as the writer would.
            match super::Ledger::open_derived(data_dir, &RealClock::new()) {
                Ok(l) => drop(l),
                Err(e) if e.kind() == ErrorKind::Conflict => {}
                Err(e) => return Err(e),
            }
        }
        let state = LogState::load(data_dir).ok_or_else(|| {
            Error::msg(
                ErrorKind::Unavailable,
                format!(
                    "{}: no ledger.state yet (the recorder writes it as it opens the log); try again in a moment",
                    data_dir.display()
                ),
            )
        })?;
        let offsets = Offsets::open_read(data_dir)?;
        let manifest = File::open(data_dir.join(MANIFEST)).map_err(|source| LedgerError::Io {
            path: data_dir.join(MANIFEST),
            what: "opening",
            source,
        })?;
        Ok(LogReader {
            data_dir: data_dir.to_owned(),
            state,
            offsets,
            manifest,
            tiles: TileStore::new(data_dir),
        })
    }

    /// Lines in the log (as far as the derived files go).
    pub fn size(&self) -> u64 {
        self.state.size
    }

    pub fn state(&self) -> &LogState {
        &self.state
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The exact bytes of line `n` (1-based), with its newline.
    pub fn line(&self, n: u64) -> Result<Vec<u8>, Error> {
        if n == 0 || n > self.state.size {
            return Err(Error::msg(
                ErrorKind::NotFound,
                format!(
                    "manifest line {n} does not exist (the log has {} lines)",
                    self.state.size
                ),
            ));
        }
        let start = self.offsets.get(n)?;
        let end = if n == self.state.size {
            self.state.end
        } else {
            self.offsets.get(n + 1)?
        };
        if end <= start {
            return Err(corrupt(
                &self.data_dir,
                n,
                "line offsets out of order".into(),
            ));
        }
        state::read_at(&self.manifest, start, (end - start) as usize).map_err(|source| {
            LedgerError::Io {
                path: self.data_dir.join(MANIFEST),
                what: "reading a line",
                source,
            }
            .into()
        })
    }

    /// Line `n`, parsed.
    pub fn record(&self, n: u64) -> Result<Record, Error> {
        let bytes = self.line(n)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(&self.data_dir, n, format!("not a valid record ({e})")))
    }

    /// The checkpoint at line `n`.
    pub fn checkpoint_at(&self, n: u64) -> Result<Checkpointed, Error> {
        let rec = self.record(n)?;
        let Body::Checkpoint { size, root, note } = rec.body else {
            return Err(corrupt(&self.data_dir, n, "is not a checkpoint".into()));
        };
        let root = crate::digest::unhex32(&root)
            .ok_or_else(|| corrupt(&self.data_dir, n, "its root is not 64 hex digits".into()))?;
        Ok(Checkpointed {
            line: n,
            size,
            root,
            note,
            at: rec.at,
        })
    }

    /// The last checkpoint of the log, if any.
    pub fn latest_checkpoint(&self) -> Result<Option<Checkpointed>, Error> {
        match self.state.last_checkpoint {
            0 => Ok(None),
            n => self.checkpoint_at(n).map(Some),
        }
    }

    fn hashes(&self, size: u64) -> Result<TileHashes<'_>, Error> {
        if size > self.state.size {
            return Err(Error::msg(
                ErrorKind::Invalid,
                format!(
                    "a tree of {size} lines: the log has {} lines",
                    self.state.size
                ),
            ));
        }
        Ok(TileHashes::new(&self.tiles, self.state.size))
    }

    /// The Merkle tree hash of lines 1..=size.
    pub fn tree_hash(&self, size: u64) -> Result<Hash, Error> {
        Ok(self.hashes(size)?.tree_hash(size)?)
    }

    /// The inclusion proof of line `line` in the tree of `size` lines.
    pub fn inclusion(&self, line: u64, size: u64) -> Result<Vec<Hash>, Error> {
        let h = self.hashes(size)?;
        merkle::prove_inclusion(&h, line.wrapping_sub(1), size)?.ok_or_else(|| {
            Error::msg(
                ErrorKind::Invalid,
                format!("line {line} is not in a tree of {size} lines"),
            )
        })
    }

    /// The consistency proof from the tree of `m` lines to the tree of `n`.
    pub fn consistency(&self, m: u64, n: u64) -> Result<Vec<Hash>, Error> {
        let h = self.hashes(n)?;
        merkle::prove_consistency(&h, m, n)?.ok_or_else(|| {
            Error::msg(
                ErrorKind::Invalid,
                format!("no consistency proof from {m} to {n} lines"),
            )
        })
    }

    /// A tile as c2sp.org/tlog-tiles serves it (`width` hashes), if the log has it.
    pub fn tile(&self, level: u8, n: u64, width: u64) -> Result<Vec<u8>, Error> {
        // Level 8 and above would hold subtrees of 2^64 lines: never in a log.
        let count = self
            .state
            .size
            .checked_shr(8 * u32::from(level))
            .unwrap_or(0);
        if n.saturating_mul(WIDTH).saturating_add(width) > count {
            return Err(Error::msg(
                ErrorKind::NotFound,
                format!(
                    "{} is not in the log (yet)",
                    tiles::tile_path(level, n, width)
                ),
            ));
        }
        Ok(self.tiles.read(level, n, width)?)
    }

    /// The entry bundle of lines 256n+1 .. 256n+width: each line (with its newline) after its
    /// length as a big-endian 16-bit number (c2sp.org/tlog-tiles).
    pub fn entries(&self, n: u64, width: u64) -> Result<Vec<u8>, Error> {
        let first = n.saturating_mul(WIDTH) + 1;
        if first + width - 1 > self.state.size {
            return Err(Error::msg(
                ErrorKind::NotFound,
                format!("{} is not in the log (yet)", tiles::entries_path(n, width)),
            ));
        }
        let mut out = Vec::new();
        for line in first..first + width {
            let bytes = self.line(line)?;
            let len = u16::try_from(bytes.len()).map_err(|_| {
                corrupt(
                    &self.data_dir,
                    line,
                    "is longer than an entry may be (64 KiB)".into(),
                )
            })?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        Ok(out)
    }
}
