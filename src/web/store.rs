//! Small JSON files of the web app in the data dir (`screens.json`, `shares.json`): read,
//! changed and written whole under a lock, so that the command line and the server never
//! lose each other's change.
//!
//! Owns: the file's life (mode 0600, written to a `.partial`, fsynced, renamed, the data dir
//! synced), its `<name>.lock` flock, the refusal of a newer format version, and the
//! randomness of ids and secrets. Never: knows what the files hold (`screens`, `shares` do).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, ErrorKind};

/// A JSON file of the data dir with a `version` its type reports.
pub(super) trait Stored: Serialize + DeserializeOwned + Default {
    /// `screens.json`.
    const FILE: &'static str;
    /// `screens.lock`.
    const LOCK: &'static str;
    /// What the file holds, for messages: `paired screens`.
    const WHAT: &'static str;
    /// The newest version this program reads (and the one it writes).
    const VERSION: u32;
    fn version(&self) -> u32;
}

fn path<T: Stored>(data_dir: &Path) -> PathBuf {
    data_dir.join(T::FILE)
}

fn io<'a>(path: &'a Path, what: &str) -> impl Fn(std::io::Error) -> Error + 'a {
    let what = what.to_string();
    move |e| {
        Error::msg(
            ErrorKind::Io,
            format!("{}: cannot {what}: {e}", path.display()),
        )
    }
}

/// The file's contents (the default when there is none).
pub(super) fn read<T: Stored>(data_dir: &Path) -> Result<T, Error> {
    let p = path::<T>(data_dir);
    let stored: T = match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            Error::msg(
                ErrorKind::Invalid,
                format!(
                    "{}: not a list of {} ({e}); move it away and make them again",
                    p.display(),
                    T::WHAT
                ),
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => T::default(),
        Err(e) => return Err(io(&p, &format!("read the {}", T::WHAT))(e)),
    };
    if stored.version() > T::VERSION {
        return Err(Error::msg(
            ErrorKind::Invalid,
            format!(
                "{}: format version {} is newer than this packwitness reads ({}); upgrade packwitness",
                p.display(),
                stored.version(),
                T::VERSION
            ),
        ));
    }
    Ok(stored)
}

fn write<T: Stored>(data_dir: &Path, stored: &T) -> Result<(), Error> {
    use std::io::Write;
    let p = path::<T>(data_dir);
    let tmp = p.with_extension("partial");
    let json = serde_json::to_vec_pretty(stored).map_err(|e| Error::internal(e.to_string()))?;
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let what = format!("write the {}", T::WHAT);
    let mut f = opts.open(&tmp).map_err(io(&tmp, &what))?;
    f.write_all(&json)
        .and_then(|()| f.sync_all())
        .map_err(io(&tmp, &what))?;
    std::fs::rename(&tmp, &p).map_err(io(&p, &format!("replace the {}", T::WHAT)))?;
    crate::datadir::sync_dir(data_dir).map_err(io(data_dir, "sync the data dir"))
}

/// Reads, changes and (when `f` says it changed) writes the file, under its lock.
pub(super) fn change<T: Stored, R>(
    data_dir: &Path,
    f: impl FnOnce(&mut T) -> Result<(R, bool), Error>,
) -> Result<R, Error> {
    let lock_path = data_dir.join(T::LOCK);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path, &format!("open the lock of the {}", T::WHAT)))?;
    lock.lock()
        .map_err(io(&lock_path, &format!("take the lock of the {}", T::WHAT)))?;
    let mut stored = read::<T>(data_dir)?;
    let (out, changed) = f(&mut stored)?;
    if changed {
        write(data_dir, &stored)?;
    }
    Ok(out)
}

/// When the file last changed (its size and time), to read it again only then.
fn stamp<T: Stored>(data_dir: &Path) -> Option<(u64, std::time::SystemTime)> {
    std::fs::metadata(path::<T>(data_dir))
        .ok()
        .and_then(|m| Some((m.len(), m.modified().ok()?)))
}

type FileStamp = Option<(u64, std::time::SystemTime)>;

/// The server's copy of a file: read again only when the file changed (its size or time),
/// so that a request does not read it each time.
pub(super) struct Cache<T> {
    seen: std::sync::Mutex<Option<(FileStamp, std::sync::Arc<T>)>>,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache {
            seen: std::sync::Mutex::new(None),
        }
    }
}

impl<T: Stored> Cache<T> {
    /// The file as it is now; an unreadable file is logged and read as empty (nothing in
    /// it works until it is fixed, never everything).
    pub(super) fn get(&self, data_dir: &Path) -> std::sync::Arc<T> {
        let stamp = stamp::<T>(data_dir);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, s)) = seen.as_ref().filter(|(st, _)| *st == stamp) {
            return s.clone();
        }
        let now = std::sync::Arc::new(read::<T>(data_dir).unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the {}; none works until it is fixed", T::WHAT);
            T::default()
        }));
        *seen = Some((stamp, now.clone()));
        now
    }
}

pub(super) fn random_u64() -> Result<u64, Error> {
    let mut raw = [0u8; 8];
    getrandom::getrandom(&mut raw).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    Ok(u64::from_le_bytes(raw))
}

/// 32 random bytes, hex: a credential's secret.
pub(super) fn secret() -> Result<String, Error> {
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret)
        .map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    Ok(crate::digest::hex(&secret))
}
