//! The data disk: whether the data dir a recorder writes to is there, is still the same log,
//! and can be written.
//!
//! Owns: [`DataDisk`], the one answer every thread of a recording process reads (cameras
//! before they open a clip or write a packet, stations before they say "recording", the
//! status), and [`look`], the check the writer thread makes before every append and a few
//! times a second: the data dir's path is stat'ed, its manifest is compared with the one the
//! writer holds open (same file, or the same bytes at the end the writer knows), and its
//! filesystem's read-only flag is read.
//! Never: writes anything, and never adopts a directory it cannot prove is the same log: an
//! empty or different directory at the data dir's path is `replaced`, and nothing is written
//! into it (a new data dir is a new log, started by hand).
//!
//! Why a path check and not only write errors: a data dir removed (or a disk torn out while
//! its files are open) often still takes writes into the deleted files, which vanish with the
//! last handle. A record or a clip written there would be reported durable and be gone.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use crate::datadir::MANIFEST;

/// What is wrong with the data disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskProblem {
    /// The data dir's path does not exist (a disk unplugged or unmounted, a dir removed).
    Missing,
    /// It is there but cannot be written (read-only, permissions, I/O errors).
    Unwritable,
    /// Another directory is at its path (empty, or a different log): never written into.
    Replaced,
}

impl DiskProblem {
    fn code(self) -> u8 {
        match self {
            DiskProblem::Missing => 1,
            DiskProblem::Unwritable => 2,
            DiskProblem::Replaced => 3,
        }
    }

    /// The short form status and metrics use.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskProblem::Missing => "data_disk_missing",
            DiskProblem::Unwritable => "data_disk_unwritable",
            DiskProblem::Replaced => "data_dir_replaced",
        }
    }

    /// What a person is told: what is wrong and what to do.
    pub fn advice(self) -> &'static str {
        match self {
            DiskProblem::Missing => "data disk missing: reconnect or remount it; recording resumes within 2 s of it being back",
            DiskProblem::Unwritable => "data disk unwritable: check that it is mounted read-write, its permissions and the kernel log; recording resumes when it can be written",
            DiskProblem::Replaced => "data dir replaced: another directory is at the data dir's path and is never written into; put the original disk back, or stop packwitness and start it on a new data dir (a new log)",
        }
    }
}

/// The data disk as the writer last saw it, shared by every thread of a recorder.
#[derive(Debug, Default)]
pub struct DataDisk {
    /// 0 ok, else [`DiskProblem::code`]: read on every packet, so an atomic.
    state: AtomicU8,
    detail: Mutex<Option<Detail>>,
    /// `(st_dev, st_ino)` of the data dir when it was last seen right.
    dir: Mutex<Option<(u64, u64)>>,
}

/// A problem, since when (RFC 3339) and what the check found.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Detail {
    pub problem: DiskProblem,
    pub since: String,
    pub what: String,
}

impl DataDisk {
    /// True while clips and records can be written.
    pub fn ok(&self) -> bool {
        self.state.load(Ordering::Acquire) == 0
    }

    /// What is wrong, if anything.
    pub fn problem(&self) -> Option<Detail> {
        if self.ok() {
            return None;
        }
        self.detail
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// One line for a person: the advice and what was found.
    pub fn why(&self) -> Option<String> {
        self.problem()
            .map(|d| format!("{} ({}, since {})", d.problem.advice(), d.what, d.since))
    }

    /// True when the disk is right and `dir` is still the directory the writer last saw
    /// there (a stat): checked again just before a new file is made, so that a directory
    /// swapped in since the last look gets nothing.
    pub fn still_there(&self, dir: &Path) -> bool {
        if !self.ok() {
            return false;
        }
        let known = *self.dir.lock().unwrap_or_else(|p| p.into_inner());
        match (known, std::fs::metadata(dir)) {
            (Some(k), Ok(m)) => (m.dev(), m.ino()) == k,
            (Some(_), Err(_)) => false,
            // No writer looked yet (a camera driven alone, in tests): nothing to compare.
            (None, _) => true,
        }
    }

    /// The data dir the writer saw right: `(st_dev, st_ino)` from [`Looked::dir`].
    pub fn seen_dir(&self, dir: (u64, u64)) {
        *self.dir.lock().unwrap_or_else(|p| p.into_inner()) = Some(dir);
    }

    /// Sets what the writer found; `now` is the time to give a new problem. True when the
    /// state changed.
    pub fn set(&self, found: Result<(), (DiskProblem, String)>, now: &str) -> bool {
        let mut g = self.detail.lock().unwrap_or_else(|p| p.into_inner());
        match found {
            Ok(()) => {
                let was = self.state.swap(0, Ordering::AcqRel);
                *g = None;
                was != 0
            }
            Err((problem, what)) => {
                let changed = g.as_ref().map(|d| d.problem) != Some(problem);
                if changed {
                    *g = Some(Detail {
                        problem,
                        since: now.to_string(),
                        what,
                    });
                } else if let Some(d) = g.as_mut() {
                    d.what = what;
                }
                self.state.store(problem.code(), Ordering::Release);
                changed
            }
        }
    }
}

/// What the writer knows of its log: the manifest file it holds open and the end of it.
pub struct Known<'a> {
    /// `(st_dev, st_ino)` of the manifest the writer appends to.
    pub file: (u64, u64),
    /// Length of the manifest and the last line's bytes range and SHA-256.
    pub end: u64,
    pub last_line: Option<(u64, &'a str)>,
}

/// What [`look`] found the data dir to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    /// The very file the writer holds open, on a writable filesystem.
    Same,
    /// The same log (its bytes end as the writer's do) in another file: the disk was
    /// mounted again. The writer must open it anew.
    Returned,
}

/// What [`look`] found, and the data dir's `(st_dev, st_ino)`.
#[derive(Debug, PartialEq, Eq)]
pub struct Looked {
    pub seen: Seen,
    pub dir: (u64, u64),
}

/// Looks at the data dir at `dir`: see the module comment.
pub fn look(dir: &Path, known: &Known<'_>) -> Result<Looked, (DiskProblem, String)> {
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err((
                DiskProblem::Missing,
                format!("{} does not exist", dir.display()),
            ))
        }
        Err(e) => {
            return Err((
                DiskProblem::Unwritable,
                format!("cannot stat {}: {e}", dir.display()),
            ))
        }
    };
    if !meta.is_dir() {
        return Err((
            DiskProblem::Replaced,
            format!("{} is no longer a directory", dir.display()),
        ));
    }
    let path = dir.join(MANIFEST);
    let m = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err((
                DiskProblem::Replaced,
                format!(
                    "{} has no {MANIFEST}: it is not the data dir this recorder writes",
                    dir.display()
                ),
            ))
        }
        Err(e) => {
            return Err((
                DiskProblem::Unwritable,
                format!("cannot stat {}: {e}", path.display()),
            ))
        }
    };
    let seen = if (m.dev(), m.ino()) == known.file {
        Seen::Same
    } else if same_log(&path, m.len(), known) {
        Seen::Returned
    } else {
        return Err((
            DiskProblem::Replaced,
            format!(
                "{} is not the manifest this recorder writes (it does not end with the line it wrote last)",
                path.display()
            ),
        ));
    };
    if read_only(dir) {
        return Err((
            DiskProblem::Unwritable,
            format!("{} is on a read-only filesystem", dir.display()),
        ));
    }
    Ok(Looked {
        seen,
        dir: (meta.dev(), meta.ino()),
    })
}

/// True when the manifest at `path` (of `len` bytes) holds, where the writer's last line
/// was, that very line: the same log, seen through another file (a remount).
fn same_log(path: &Path, len: u64, known: &Known<'_>) -> bool {
    let Some((start, sha)) = known.last_line else {
        // The writer wrote nothing yet: an empty manifest is as good as its own.
        return len == 0;
    };
    if len != known.end || start >= known.end {
        return false;
    }
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut buf = vec![0u8; (known.end - start) as usize];
    use std::os::unix::fs::FileExt;
    f.read_exact_at(&mut buf, start).is_ok() && crate::digest::sha256_hex(&buf) == sha
}

fn read_only(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a zeroed statvfs is a valid out-parameter, and `c` is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return false;
    }
    st.f_flag & libc::ST_RDONLY != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known_of(dir: &Path) -> (u64, u64, u64, String) {
        let m = std::fs::metadata(dir.join(MANIFEST)).unwrap();
        let text = std::fs::read(dir.join(MANIFEST)).unwrap();
        let start = text[..text.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let sha = crate::digest::sha256_hex(&text[start..]);
        (m.dev(), m.ino(), start as u64, sha)
    }

    #[test]
    fn a_data_dir_is_same_missing_returned_or_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(MANIFEST), b"{\"a\":1}\n{\"b\":2}\n").unwrap();
        let (dev, ino, start, sha) = known_of(&dir);
        let known = Known {
            file: (dev, ino),
            end: 16,
            last_line: Some((start, &sha)),
        };
        assert_eq!(look(&dir, &known).map(|l| l.seen), Ok(Seen::Same));
        // Moved away (unmounted): missing.
        std::fs::rename(&dir, tmp.path().join("away")).unwrap();
        assert_eq!(look(&dir, &known).unwrap_err().0, DiskProblem::Missing);
        // An empty directory in its place: replaced, never adopted.
        std::fs::create_dir(&dir).unwrap();
        assert_eq!(look(&dir, &known).unwrap_err().0, DiskProblem::Replaced);
        // Another log there: replaced.
        std::fs::write(dir.join(MANIFEST), b"{\"a\":1}\n{\"c\":3}\n").unwrap();
        assert_eq!(look(&dir, &known).unwrap_err().0, DiskProblem::Replaced);
        // The same bytes in another file (a remount): returned.
        std::fs::write(dir.join(MANIFEST), b"{\"a\":1}\n{\"b\":2}\n").unwrap();
        assert_eq!(look(&dir, &known).map(|l| l.seen), Ok(Seen::Returned));
        // The original back in place: the same.
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::rename(tmp.path().join("away"), &dir).unwrap();
        assert_eq!(look(&dir, &known).map(|l| l.seen), Ok(Seen::Same));
    }

    #[test]
    fn the_shared_state_keeps_since_until_the_problem_changes() {
        let d = DataDisk::default();
        assert!(d.ok() && d.why().is_none());
        assert!(d.set(Err((DiskProblem::Missing, "gone".into())), "t1"));
        assert!(!d.set(Err((DiskProblem::Missing, "still gone".into())), "t2"));
        let p = d.problem().unwrap();
        assert_eq!((p.since.as_str(), p.what.as_str()), ("t1", "still gone"));
        assert!(d.why().unwrap().starts_with("data disk missing"));
        assert!(d.set(Err((DiskProblem::Replaced, "empty".into())), "t3"));
        assert!(d.set(Ok(()), "t4"));
        assert!(d.ok() && d.problem().is_none());
    }
}
