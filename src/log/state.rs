//! What the writer knows about its log, kept beside it so that a start reads the tail of the
//! manifest, not all of it.
//!
//! Owns: `ledger.state` (the number of lines indexed, where the last one ends and its hash,
//! the tree root, the last checkpoint, the station key in force, the clips still open) and
//! `manifest.offsets` (where each line starts: 8 bytes, big-endian, a line).
//! Never: is trusted without a check. A start compares the state with the manifest's bytes
//! and the tiles' root; when they disagree, everything derived is rebuilt from the manifest.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::LedgerError;
use crate::datadir;

/// File name of the state, in the data dir.
pub const STATE: &str = "ledger.state";
/// File name of the line offsets, in the data dir.
pub const OFFSETS: &str = "manifest.offsets";

/// A clip with a `clip_opened` record and no `clip_sealed` one yet.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpenClip {
    /// The `seq` of its `clip_opened`.
    pub clip: u64,
    pub order: String,
    pub station: String,
    pub camera: String,
    pub file: String,
    pub started_at: String,
    pub first_frame: u64,
}

/// An order a station had open (scanned, not sealed), as the records say.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpenOrderState {
    pub station: String,
    pub order: String,
    #[serde(rename = "box")]
    pub box_no: u32,
    pub group: String,
    pub operator: Option<String>,
    pub scanned_at: String,
    /// The highest part recorded of it so far (0: none).
    pub part: u32,
}

/// `ledger.state`, version 1 (JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LogState {
    pub version: u32,
    /// Lines indexed (offsets and tiles): 1..=size.
    pub size: u64,
    /// Byte offset just after line `size`.
    pub end: u64,
    /// SHA-256 (hex) of line `size`'s bytes; empty for an empty log.
    pub last_sha256: String,
    /// Merkle tree hash (hex) of lines 1..=size.
    pub root: String,
    /// The line of the last checkpoint (0: none).
    pub last_checkpoint: u64,
    /// The key of the last `station_start` (signed-note verifier form), and its line.
    pub key: Option<String>,
    pub key_line: u64,
    /// Keys replaced by a signed `key_rotation`, oldest first (old checkpoints are signed
    /// by them). Absent in states written before rotations existed.
    #[serde(default)]
    pub previous_keys: Vec<String>,
    /// Clips opened and not sealed.
    pub open: Vec<OpenClip>,
    /// Orders scanned and not sealed, one per station: what a start after a crash resumes.
    /// Absent in states written before it.
    #[serde(default)]
    pub orders: Vec<OpenOrderState>,
}

impl LogState {
    /// The state of a data dir, if there is a readable one of this version.
    pub fn load(data_dir: &Path) -> Option<LogState> {
        let bytes = std::fs::read(data_dir.join(STATE)).ok()?;
        let s: LogState = serde_json::from_slice(&bytes).ok()?;
        (s.version == 1).then_some(s)
    }

    /// Writes the state durably (a new file renamed over the old one).
    pub fn save(&self, data_dir: &Path) -> Result<(), LedgerError> {
        let path = data_dir.join(STATE);
        let tmp = data_dir.join(format!("{STATE}.tmp"));
        let io = |what| {
            let path = path.clone();
            move |source| LedgerError::Io { path, what, source }
        };
        let bytes = serde_json::to_vec(self).map_err(|e| LedgerError::Corrupt {
            path: path.clone(),
            line: self.size,
            what: format!("cannot serialise the state: {e}"),
        })?;
        let mut f = File::create(&tmp).map_err(io("creating the state"))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_data())
            .map_err(io("writing the state"))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io("moving the state into place"))?;
        datadir::sync_dir(data_dir).map_err(io("fsync of the data dir"))
    }
}

/// `manifest.offsets`: where each manifest line starts.
pub struct Offsets {
    file: File,
    count: u64,
    pending: Vec<u8>,
    path: std::path::PathBuf,
}

impl Offsets {
    /// Opens (or creates) the offsets of a data dir, keeping the first `count` entries.
    pub fn open(data_dir: &Path, count: u64) -> Result<Offsets, LedgerError> {
        let path = data_dir.join(OFFSETS);
        let io = |what| {
            let path = path.clone();
            move |source| LedgerError::Io { path, what, source }
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io("opening the line offsets"))?;
        let len = file.metadata().map_err(io("reading its size"))?.len();
        if len < count * 8 {
            return Err(LedgerError::Corrupt {
                path,
                line: count,
                what: format!("holds {} line offsets where {count} were expected", len / 8),
            });
        }
        if len != count * 8 {
            file.set_len(count * 8)
                .map_err(io("cutting stale offsets"))?;
        }
        Ok(Offsets {
            file,
            count,
            pending: Vec::new(),
            path,
        })
    }

    /// Opens the offsets of a data dir for reading only.
    pub fn open_read(data_dir: &Path) -> Result<Offsets, LedgerError> {
        let path = data_dir.join(OFFSETS);
        let file = File::open(&path).map_err(|source| LedgerError::Io {
            path: path.clone(),
            what: "opening the line offsets",
            source,
        })?;
        let count = file.metadata().map(|m| m.len() / 8).unwrap_or(0);
        Ok(Offsets {
            file,
            count,
            pending: Vec::new(),
            path,
        })
    }

    /// Records that the next line starts at `offset` (written by [`Offsets::flush`]).
    pub fn push(&mut self, offset: u64) {
        self.pending.extend_from_slice(&offset.to_be_bytes());
        self.count += 1;
    }

    /// Writes what was pushed and fsyncs.
    pub fn flush(&mut self) -> Result<(), LedgerError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let at = (self.count - self.pending.len() as u64 / 8) * 8;
        let io = |what| {
            let path = self.path.clone();
            move |source| LedgerError::Io { path, what, source }
        };
        self.file
            .seek(SeekFrom::Start(at))
            .and_then(|_| self.file.write_all(&self.pending))
            .and_then(|()| self.file.sync_data())
            .map_err(io("writing line offsets"))?;
        self.pending.clear();
        Ok(())
    }

    /// Lines with a known offset.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Where line `n` (1-based) starts.
    pub fn get(&self, n: u64) -> Result<u64, LedgerError> {
        let mut b = [0u8; 8];
        if n == 0 || n > self.count {
            return Err(LedgerError::Corrupt {
                path: self.path.clone(),
                line: n,
                what: format!("no offset for line {n} (offsets cover 1..={})", self.count),
            });
        }
        self.file
            .read_exact_at(&mut b, (n - 1) * 8)
            .map_err(|source| LedgerError::Io {
                path: self.path.clone(),
                what: "reading a line offset",
                source,
            })?;
        Ok(u64::from_be_bytes(b))
    }
}

/// Reads `len` bytes at `offset` of a file.
pub fn read_at(file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// The bytes of a file from `offset` to its end.
pub fn read_tail(file: &mut File, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    file.seek(SeekFrom::Start(offset))?;
    file.read_to_end(&mut buf)?;
    Ok(buf)
}
