//! A file the recorder appends to on the data disk (a clip, the manifest), written through
//! one seam so that the faults a disk gives can be injected on demand.
//!
//! Owns: [`DiskFile`] (a file written in order: its writes, its fsyncs, where it ends) and
//! [`Faults`], the question it asks before each write and fsync when faults are set: a short
//! write, no space left at a chosen byte, an I/O error, a failed or slow fsync. Without
//! faults it is the plain file, at the cost of one branch. [`FaultPlan`] is a ready plan for
//! the recorder's tests.
//! Never: decides what a failure means (the fMP4 writer and the ledger do: both poison the
//! file on a failed write or fsync), retries, or reads a clock.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
#[cfg(test)]
use std::sync::Mutex;

/// What the disk does with a write or an fsync: asked before each one reaches the file.
pub trait Faults: Send + Sync {
    /// Before `len` bytes are written at byte `at` of `path`: `Ok(n)` lets the first `n` of
    /// them reach the file (a short write when `n < len`); an error fails the write with
    /// nothing written.
    fn write(&self, path: &Path, at: u64, len: usize) -> io::Result<usize>;
    /// Before an fsync of `path`: an error fails it; a slow disk takes its time here.
    fn sync(&self, path: &Path) -> io::Result<()>;
}

/// Faults shared between the files of one data disk.
pub type SharedFaults = Arc<dyn Faults>;

/// A file written in order from `pos` on, with optional injected faults.
pub struct DiskFile {
    file: File,
    path: PathBuf,
    pos: u64,
    faults: Option<SharedFaults>,
}

impl DiskFile {
    /// `file` at `path`, whose next write lands at byte `pos` (its length, for a file opened
    /// to append).
    pub fn new(file: File, path: &Path, pos: u64, faults: Option<SharedFaults>) -> DiskFile {
        DiskFile {
            file,
            path: path.to_owned(),
            pos,
            faults,
        }
    }

    /// The faults its writes and fsyncs ask, if any.
    pub fn faults(&self) -> Option<SharedFaults> {
        self.faults.clone()
    }

    pub fn set_faults(&mut self, faults: Option<SharedFaults>) {
        self.faults = faults;
    }

    /// The file itself, for reading it back (never for writing: writes go through here).
    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    pub fn sync_data(&mut self) -> io::Result<()> {
        if let Some(f) = &self.faults {
            f.sync(&self.path)?;
        }
        self.file.sync_data()
    }

    pub fn sync_all(&mut self) -> io::Result<()> {
        if let Some(f) = &self.faults {
            f.sync(&self.path)?;
        }
        self.file.sync_all()
    }

    /// Cuts (or extends) the file to `len` bytes; the next write lands there.
    pub fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)?;
        io::Seek::seek(&mut self.file, io::SeekFrom::Start(len))?;
        self.pos = len;
        Ok(())
    }
}

impl Write for DiskFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = match &self.faults {
            Some(f) if !buf.is_empty() => f.write(&self.path, self.pos, buf.len())?.min(buf.len()),
            _ => buf.len(),
        };
        let n = self.file.write(&buf[..take])?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A disk that fails as told (tests only): full after a number of bytes, failing every write, or
/// failing the next fsyncs; limited to the files whose path contains a given
/// text. Healed, it takes everything again. Counts what it was asked.
#[cfg(test)]
#[derive(Default)]
pub struct FaultPlan {
    state: Mutex<PlanState>,
}

#[cfg(test)]
#[derive(Default)]
struct PlanState {
    only: Option<String>,
    room: Option<u64>,
    eio: bool,
    failing_syncs: u32,
    writes: u64,
    syncs: u64,
    failed: u64,
}

#[cfg(test)]
impl FaultPlan {
    pub fn new() -> Arc<FaultPlan> {
        Arc::new(FaultPlan::default())
    }

    fn with<T>(&self, f: impl FnOnce(&mut PlanState) -> T) -> T {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut s)
    }

    /// Only files whose path contains `text` see the faults.
    pub fn only(&self, text: &str) -> &FaultPlan {
        self.with(|s| s.only = Some(text.to_string()));
        self
    }

    /// The disk takes `bytes` more bytes, then every write fails with "no space left".
    pub fn full_after(&self, bytes: u64) -> &FaultPlan {
        self.with(|s| s.room = Some(bytes));
        self
    }

    /// Every write fails with an I/O error (a disk going bad).
    pub fn failing_writes(&self) -> &FaultPlan {
        self.with(|s| s.eio = true);
        self
    }

    /// The next `n` fsyncs fail with an I/O error.
    pub fn failing_syncs(&self, n: u32) -> &FaultPlan {
        self.with(|s| s.failing_syncs = n);
        self
    }

    /// Space again, and no more faults.
    pub fn heal(&self) {
        self.with(|s| {
            s.room = None;
            s.eio = false;
            s.failing_syncs = 0;
        });
    }

    /// Writes and fsyncs asked about, and how many of them failed.
    pub fn counts(&self) -> (u64, u64, u64) {
        self.with(|s| (s.writes, s.syncs, s.failed))
    }

    fn applies(s: &PlanState, path: &Path) -> bool {
        s.only
            .as_ref()
            .is_none_or(|t| path.to_string_lossy().contains(t.as_str()))
    }
}

#[cfg(test)]
impl Faults for FaultPlan {
    fn write(&self, path: &Path, _at: u64, len: usize) -> io::Result<usize> {
        self.with(|s| {
            if !FaultPlan::applies(s, path) {
                return Ok(len);
            }
            s.writes += 1;
            if s.eio {
                s.failed += 1;
                return Err(io::Error::other("input/output error (injected)"));
            }
            match s.room {
                Some(0) => {
                    s.failed += 1;
                    Err(io::Error::new(
                        io::ErrorKind::StorageFull,
                        "no space left on device (injected)",
                    ))
                }
                Some(room) => {
                    let n = (len as u64).min(room);
                    s.room = Some(room - n);
                    Ok(n as usize)
                }
                None => Ok(len),
            }
        })
    }

    fn sync(&self, path: &Path) -> io::Result<()> {
        self.with(|s| {
            if !FaultPlan::applies(s, path) {
                return Ok(());
            }
            s.syncs += 1;
            if s.failing_syncs > 0 {
                s.failing_syncs -= 1;
                s.failed += 1;
                return Err(io::Error::other("fsync failed (injected)"));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A disk full at a chosen byte: the write that crosses it is short, the next fails, and
    /// the file holds exactly the bytes the disk took.
    #[test]
    fn a_full_disk_cuts_the_write_that_crosses_its_last_byte() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("clip.mp4");
        let plan = FaultPlan::new();
        plan.full_after(10);
        let mut f = DiskFile::new(File::create(&path).unwrap(), &path, 0, Some(plan.clone()));
        f.write_all(b"123456").unwrap();
        let e = f.write_all(b"abcdef").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull, "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"123456abcd");
        plan.heal();
        f.set_len(6).unwrap();
        f.write_all(b"XY").unwrap();
        f.sync_data().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"123456XY");
        assert_eq!(plan.counts(), (4, 1, 1));
    }

    #[test]
    fn failing_syncs_fail_then_pass_and_other_files_are_spared() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = FaultPlan::new();
        plan.only("manifest").failing_syncs(1);
        let (m, c) = (tmp.path().join("manifest.jsonl"), tmp.path().join("c.mp4"));
        let mut mf = DiskFile::new(File::create(&m).unwrap(), &m, 0, Some(plan.clone()));
        let mut cf = DiskFile::new(File::create(&c).unwrap(), &c, 0, Some(plan.clone()));
        cf.sync_all().unwrap();
        assert!(mf.sync_data().is_err());
        mf.sync_data().unwrap();
        plan.failing_writes();
        assert!(mf.write_all(b"x").is_err());
        cf.write_all(b"x").unwrap();
    }
}
