//! The data dir: where everything of a recorder lives, the names inside it, and its locks.
//!
//! Owns: the file names of the data dir (`manifest.jsonl`, `index.sqlite3`, the writer lock,
//! the writer's socket), checking that a directory is a data dir, durable directory creation,
//! the one-writer lock and the index lock, the rule for clip file paths, and the note that
//! the station key was backed up.
//! Never: reads or writes records (the log does) or depends on another module of the crate.
//!
//! Locks (advisory `flock`, released when the process dies):
//! - `packwitness.lock`, exclusive: the one process that appends to the manifest.
//! - `index.lock`: shared while a reader uses the index, exclusive while the writer deletes,
//!   replaces or migrates the index file. Readers never hold the writer lock, so lookups run
//!   while a station records.

use std::fs::{self, File, OpenOptions};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, ErrorKind};

/// File name of the manifest inside the data dir.
pub const MANIFEST: &str = "manifest.jsonl";
/// File name of the writer lock.
pub const LOCK: &str = "packwitness.lock";
/// File name of the index lock.
pub const INDEX_LOCK: &str = "index.lock";
/// File name of the lookup index.
pub const INDEX: &str = "index.sqlite3";
/// The writer's Unix domain socket: other processes send records to the recorder through it.
pub const SOCKET: &str = "packwitness.sock";

/// What is wrong with a data dir.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data dir {path}: {what}")]
    Unusable { path: PathBuf, what: String },
    #[error("data dir {dir} is in use by another packwitness process (lock file {lock}); stop it first, or use another --data-dir")]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("data dir {path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl From<DataDirError> for Error {
    fn from(e: DataDirError) -> Error {
        let kind = match &e {
            DataDirError::Unusable { .. } => ErrorKind::Invalid,
            DataDirError::Locked { .. } => ErrorKind::Conflict,
            DataDirError::Io { .. } => ErrorKind::Io,
        };
        Error::new(kind, e)
    }
}

/// Creates a data dir for recording (or accepts an existing one).
pub fn create(path: &Path) -> Result<(), DataDirError> {
    let unusable = |what: &str| DataDirError::Unusable {
        path: path.to_owned(),
        what: what.into(),
    };
    if path.exists() && !path.is_dir() {
        return Err(unusable(
            "exists and is not a directory; give a directory path",
        ));
    }
    if path.to_str().is_none() {
        return Err(unusable("is not valid UTF-8; choose a plain path"));
    }
    create_dir_durable(path).map_err(|source| DataDirError::Io {
        path: path.to_owned(),
        what: "cannot create it",
        source,
    })
}

/// Checks that `path` holds packwitness data (a manifest) before reading it.
pub fn existing(path: &Path) -> Result<(), DataDirError> {
    let what = if !path.exists() {
        "does not exist; check --data-dir (or data_dir in the config), or record first with `packwitness demo`"
    } else if !path.is_dir() {
        "is not a directory; --data-dir must name the directory that holds manifest.jsonl"
    } else if fs::read_dir(path).is_err() {
        "cannot be read; check its permissions"
    } else if !path.join(MANIFEST).is_file() {
        "holds no manifest.jsonl, so it is not a packwitness data dir (or nothing was recorded yet)"
    } else {
        return Ok(());
    };
    Err(DataDirError::Unusable {
        path: path.to_owned(),
        what: what.into(),
    })
}

fn open_lock_file(path: &Path) -> Result<File, DataDirError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| DataDirError::Io {
            path: path.to_owned(),
            what: "creating a lock file",
            source,
        })
}

/// Takes the one-writer lock of a data dir (held until the file is dropped), or says who
/// holds it.
pub fn take_writer_lock(data_dir: &Path) -> Result<File, DataDirError> {
    let lock_path = data_dir.join(LOCK);
    let lock = open_lock_file(&lock_path)?;
    if lock.try_lock().is_err() {
        return Err(DataDirError::Locked {
            dir: data_dir.to_owned(),
            lock: lock_path,
        });
    }
    Ok(lock)
}

/// True when a process holds the writer lock of `data_dir` now.
pub fn writer_running(data_dir: &Path) -> bool {
    match open_lock_file(&data_dir.join(LOCK)) {
        Ok(f) => match f.try_lock_shared() {
            Ok(()) => false,
            Err(_) => true,
        },
        Err(_) => false,
    }
}

/// Takes the index lock shared (a reader) or exclusive (the writer replacing the index),
/// waiting for it.
pub fn lock_index(data_dir: &Path, exclusive: bool) -> Result<File, DataDirError> {
    let path = data_dir.join(INDEX_LOCK);
    let f = open_lock_file(&path)?;
    let res = if exclusive { f.lock() } else { f.lock_shared() };
    res.map_err(|source| DataDirError::Io {
        path,
        what: "taking the index lock",
        source,
    })?;
    Ok(f)
}

/// Makes `dir` and any missing parents, fsyncing each parent that gained an entry.
pub fn create_dir_durable(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if !parent.as_os_str().is_empty() {
            create_dir_durable(parent)?;
        }
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// fsyncs a directory so that a create or rename inside it survives a power cut.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)?.sync_all()
}

/// True when a manifest `file` value is a plain relative path under `clips/`.
pub fn is_safe_clip_path(file: &str) -> bool {
    let p = Path::new(file);
    file.starts_with("clips/")
        && !file.contains('\\')
        && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// A file name for an order code that is safe on every filesystem: the code's letters, digits,
/// `-` and `_` (anything else becomes `_`), at most 40 characters. The code itself is kept
/// exactly in the manifest; the name only has to be readable and unique with its suffix.
pub fn safe_name(code: &str) -> String {
    let mut s: String = code
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '_') {
        s = format!("order{}", if s.is_empty() { "" } else { "_" });
    }
    s
}

/// Where a key file named in the config lives: a relative path is inside the data dir.
pub fn key_path(data_dir: &Path, key_file: &Path) -> PathBuf {
    if !key_file.as_os_str().is_empty() {
        return data_dir.join(key_file);
    }
    // Data dirs made before the key moved out keep their key where it is.
    let legacy = data_dir.join(LEGACY_KEY);
    if legacy.is_file() {
        return legacy;
    }
    default_key_path(data_dir)
}

/// Where the key of data dirs made before version 0.2 is: inside the data dir.
pub const LEGACY_KEY: &str = "keys/station.key";

/// The default key file of a data dir: beside it, never inside, so that a copy or a backup
/// of the clips is not a copy of the key: `<data dir>.key/station.key`.
pub fn default_key_path(data_dir: &Path) -> PathBuf {
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    dir.parent()
        .unwrap_or_else(|| Path::new("."))
        .join(format!("{name}.key"))
        .join("station.key")
}

/// The file that records that the key at `key` was backed up: beside it, named after it
/// (`station.key.backed-up`), holding the public key that was and when.
pub fn key_backup_note(key: &Path) -> PathBuf {
    let mut name = key.file_name().unwrap_or_default().to_os_string();
    name.push(".backed-up");
    key.with_file_name(name)
}

/// Records that the key whose public key is `verifier` (at `key`) was backed up at `at`.
pub fn record_key_backup(key: &Path, verifier: &str, at: &str) -> std::io::Result<()> {
    let path = key_backup_note(key);
    fs::write(&path, format!("key {verifier}\nat {at}\n"))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// When the key whose public key is `verifier` was recorded as backed up (`None`: never, or
/// only an earlier key was).
pub fn key_backed_up(key: &Path, verifier: &str) -> Option<String> {
    let text = fs::read_to_string(key_backup_note(key)).ok()?;
    let mut lines = text.lines();
    (lines.next()? == format!("key {verifier}"))
        .then(|| lines.next()?.strip_prefix("at ").map(str::to_string))
        .flatten()
}

/// Bytes free for this user on the filesystem of `dir`.
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: a zeroed statvfs is a valid out-parameter, and `c` is NUL-terminated.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(u64::MAX)
    }
}

#[cfg(test)]
mod tests {

    /// A backup is confirmed for one key only: a note naming another key (the one before a
    /// rotation) does not count, and no note is no backup.
    #[test]
    fn a_key_backup_counts_for_the_key_it_names() {
        let tmp = tempfile::tempdir().unwrap();
        let key = tmp.path().join("station.key");
        assert_eq!(key_backed_up(&key, "k1"), None);
        record_key_backup(&key, "k1", "2026-12-03T20:00:00.000+00:00").unwrap();
        assert_eq!(
            key_backed_up(&key, "k1").as_deref(),
            Some("2026-12-03T20:00:00.000+00:00")
        );
        assert_eq!(key_backed_up(&key, "k2"), None);
        assert_eq!(
            key_backup_note(&key),
            tmp.path().join("station.key.backed-up")
        );
    }
    use super::*;

    #[test]
    fn clip_paths_must_stay_under_clips() {
        assert!(is_safe_clip_path("clips/s/2026-11-25/A_cam-1_00000002.mp4"));
        for bad in [
            "/etc/passwd",
            "clips/../manifest.jsonl",
            "../x",
            "clips\\a",
            "x/clips/a",
        ] {
            assert!(!is_safe_clip_path(bad), "{bad}");
        }
    }

    #[test]
    fn safe_names_stay_inside_one_directory() {
        assert_eq!(safe_name("SO-2026-0001"), "SO-2026-0001");
        assert_eq!(safe_name("../../etc/passwd"), "______etc_passwd");
        assert_eq!(safe_name(".."), "order_");
        assert_eq!(safe_name("订单1"), "__1");
        assert_eq!(safe_name(&"x".repeat(500)).len(), 40);
        for code in ["/", "..", "a/b", "\\x", ".", ""] {
            let n = safe_name(code);
            assert!(
                !n.contains('/') && !n.contains('\\') && n != "." && n != ".." && !n.is_empty()
            );
        }
    }

    #[test]
    fn free_space_of_this_directory_is_read() {
        assert!(free_bytes(Path::new(".")).unwrap() > 0);
    }

    #[test]
    fn second_writer_is_refused_and_readers_see_it() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!writer_running(dir.path()));
        let _a = take_writer_lock(dir.path()).unwrap();
        assert!(writer_running(dir.path()));
        let err = take_writer_lock(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains("in use by another packwitness process"),
            "{err}"
        );
        // Readers of the index share its lock.
        let _r1 = lock_index(dir.path(), false).unwrap();
        let _r2 = lock_index(dir.path(), false).unwrap();
    }
}
