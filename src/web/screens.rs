//! Station screens paired as kiosks: the one-time pairing codes the lead makes
//! (`packwitness screen pair STATION`) and the credentials browsers trade them for.
//!
//! Owns: `screens.json` in the data dir (format version 1, mode 0600, written whole and
//! renamed, under the `screens.lock` flock so the CLI and the server never lose each other's
//! change), a code's life (8 digits, 10 minutes, once), a credential's (one station's screen
//! only; it lasts while it is used and ends when revoked or unused for [`IDLE_DAYS`]), and
//! [`ScreensCache`], which the server reads on every screen request.
//! Never: decides which routes a credential opens (the web's `auth` does) and never stores a
//! code or a credential itself, only their SHA-256.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// The file of screens and pending codes in a data dir.
pub const FILE: &str = "screens.json";
const LOCK: &str = "screens.lock";
/// How long a pairing code can be typed.
pub const CODE_MINUTES: i64 = 10;
/// A credential unused this long stops working (a screen in use shows itself every second).
pub const IDLE_DAYS: i64 = 30;
/// How often a screen's `last_seen` is written back (it is kept in memory between).
const SEEN_EVERY_S: i64 = 3600;
const VERSION: u32 = 1;

/// A paired screen, as `screen list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Screen {
    /// Its id (`scr-` and 8 hex digits): what `screen revoke` takes.
    pub id: String,
    pub station: String,
    /// What the lead called it (free text), or empty.
    #[serde(default)]
    pub label: String,
    /// SHA-256 (hex) of the credential's secret.
    secret_sha256: String,
    /// Unix seconds.
    pub paired_at: i64,
    pub last_seen: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Code {
    station: String,
    #[serde(default)]
    label: String,
    code_sha256: String,
    expires: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    version: u32,
    #[serde(default)]
    screens: Vec<Screen>,
    #[serde(default)]
    codes: Vec<Code>,
}

impl Default for Stored {
    fn default() -> Stored {
        Stored {
            version: VERSION,
            screens: Vec::new(),
            codes: Vec::new(),
        }
    }
}

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
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

fn read(data_dir: &Path) -> Result<Stored, Error> {
    let p = path(data_dir);
    let stored: Stored = match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            Error::msg(
                ErrorKind::Invalid,
                format!("{}: not a list of paired screens ({e}); move it away and pair the screens again", p.display()),
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Stored::default(),
        Err(e) => return Err(io(&p, "read the paired screens")(e)),
    };
    if stored.version > VERSION {
        return Err(Error::msg(
            ErrorKind::Invalid,
            format!(
                "{}: format version {} is newer than this packwitness reads ({VERSION}); upgrade packwitness",
                p.display(),
                stored.version
            ),
        ));
    }
    Ok(stored)
}

fn write(data_dir: &Path, stored: &Stored) -> Result<(), Error> {
    use std::io::Write;
    let p = path(data_dir);
    let tmp = p.with_extension("partial");
    let json = serde_json::to_vec_pretty(stored).map_err(|e| Error::internal(e.to_string()))?;
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .map_err(io(&tmp, "write the paired screens"))?;
    f.write_all(&json)
        .and_then(|()| f.sync_all())
        .map_err(io(&tmp, "write the paired screens"))?;
    std::fs::rename(&tmp, &p).map_err(io(&p, "replace the paired screens"))?;
    crate::datadir::sync_dir(data_dir).map_err(io(data_dir, "sync the data dir"))
}

/// Reads, changes and writes the file under its lock.
fn change<T>(
    data_dir: &Path,
    f: impl FnOnce(&mut Stored) -> Result<(T, bool), Error>,
) -> Result<T, Error> {
    let lock_path = data_dir.join(LOCK);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path, "open the screens' lock"))?;
    lock_file(&lock, &lock_path)?;
    let mut stored = read(data_dir)?;
    let (out, changed) = f(&mut stored)?;
    if changed {
        write(data_dir, &stored)?;
    }
    Ok(out)
}

fn lock_file(lock: &File, path: &Path) -> Result<(), Error> {
    lock.lock().map_err(io(path, "take the screens' lock"))
}

fn random_u64() -> Result<u64, Error> {
    let mut raw = [0u8; 8];
    getrandom::getrandom(&mut raw).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    Ok(u64::from_le_bytes(raw))
}

/// A code as people read and type it: `1234-5678`.
fn shown(digits: &str) -> String {
    format!("{}-{}", &digits[..4], &digits[4..])
}

/// The digits of a typed code (spaces, dashes and full-width digits allowed).
pub fn code_digits(typed: &str) -> Option<String> {
    let digits: String = typed
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c),
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
            ' ' | '-' | '\u{3000}' | '－' => None,
            _ => Some('x'),
        })
        .collect();
    (digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// A new one-time pairing code for `station`'s screen, valid [`CODE_MINUTES`] from `now`
/// (unix seconds): returned as it is shown (`1234-5678`). Expired codes are dropped.
pub fn new_code(data_dir: &Path, station: &str, label: &str, now: i64) -> Result<String, Error> {
    let digits = format!("{:08}", random_u64()? % 100_000_000);
    let hash = crate::digest::sha256_hex(digits.as_bytes());
    change(data_dir, |s| {
        s.codes.retain(|c| c.expires > now);
        s.codes.push(Code {
            station: station.to_string(),
            label: label.to_string(),
            code_sha256: hash,
            expires: now + CODE_MINUTES * 60,
        });
        Ok(((), true))
    })?;
    Ok(shown(&digits))
}

/// Trades a code typed on `station`'s screen for a credential (`<id>.<secret>`, kept by the
/// browser): `None` when the code is wrong, used or expired, or made for another station.
pub fn redeem(
    data_dir: &Path,
    station: &str,
    typed: &str,
    now: i64,
) -> Result<Option<(Screen, String)>, Error> {
    let Some(digits) = code_digits(typed) else {
        return Ok(None);
    };
    let hash = crate::digest::sha256_hex(digits.as_bytes());
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret)
        .map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    let secret = crate::digest::hex(&secret);
    let id = format!("scr-{:08x}", random_u64()? as u32);
    change(data_dir, |s| {
        let before = s.codes.len();
        s.codes.retain(|c| c.expires > now);
        let expired = before != s.codes.len();
        let Some(at) = s.codes.iter().position(|c| {
            c.station == station
                && super::auth::constant_time_eq(c.code_sha256.as_bytes(), hash.as_bytes())
        }) else {
            return Ok((None, expired));
        };
        let code = s.codes.remove(at);
        let screen = Screen {
            id: id.clone(),
            station: station.to_string(),
            label: code.label,
            secret_sha256: crate::digest::sha256_hex(secret.as_bytes()),
            paired_at: now,
            last_seen: now,
        };
        s.screens.push(screen.clone());
        Ok((Some((screen, format!("{id}.{secret}"))), true))
    })
}

/// The paired screens.
pub fn list(data_dir: &Path) -> Result<Vec<Screen>, Error> {
    Ok(read(data_dir)?.screens)
}

/// Revokes the screen `which` (its id), or every screen of the station `which`: the
/// screens revoked. Their browsers show "unpaired" within a second.
pub fn revoke(data_dir: &Path, which: &str) -> Result<Vec<Screen>, Error> {
    change(data_dir, |s| {
        let (gone, kept): (Vec<Screen>, Vec<Screen>) = std::mem::take(&mut s.screens)
            .into_iter()
            .partition(|x| x.id == which || x.station == which);
        s.screens = kept;
        let changed = !gone.is_empty();
        Ok((gone, changed))
    })
}

/// What a credential is worth now.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// A paired screen of this station.
    Paired(Screen),
    /// It named a screen that was revoked, or unused for [`IDLE_DAYS`], or is not one at all.
    Unpaired,
}

/// The server's view of `screens.json`: read again when the file changes, with each screen's
/// last sight kept in memory and written back at most once an hour.
#[derive(Default)]
pub struct ScreensCache {
    seen: Mutex<Option<(FileStamp, Arc<Vec<Screen>>)>>,
}

type FileStamp = Option<(u64, std::time::SystemTime)>;

impl ScreensCache {
    fn screens(&self, data_dir: &Path) -> Arc<Vec<Screen>> {
        let stamp = std::fs::metadata(path(data_dir))
            .ok()
            .and_then(|m| Some((m.len(), m.modified().ok()?)));
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, s)) = seen.as_ref().filter(|(st, _)| *st == stamp) {
            return s.clone();
        }
        let screens = Arc::new(match read(data_dir) {
            Ok(s) => s.screens,
            Err(e) => {
                // Unreadable: no screen is paired until it is fixed (never every screen).
                tracing::error!(error = %e, "cannot read the paired screens; every screen shows 'unpaired' until it is fixed");
                Vec::new()
            }
        });
        *seen = Some((stamp, screens.clone()));
        screens
    }

    /// Checks a credential (`<id>.<secret>`) at `now` (unix seconds).
    pub fn check(&self, data_dir: &Path, credential: &str, now: i64) -> Verdict {
        let Some((id, secret)) = credential.split_once('.') else {
            return Verdict::Unpaired;
        };
        let hash = crate::digest::sha256_hex(secret.as_bytes());
        let screens = self.screens(data_dir);
        let Some(screen) = screens.iter().find(|s| {
            s.id == id && super::auth::constant_time_eq(s.secret_sha256.as_bytes(), hash.as_bytes())
        }) else {
            return Verdict::Unpaired;
        };
        if now - screen.last_seen > IDLE_DAYS * 86_400 {
            return Verdict::Unpaired;
        }
        if now - screen.last_seen > SEEN_EVERY_S {
            let id = screen.id.clone();
            let touched = change(data_dir, |s| {
                let Some(x) = s.screens.iter_mut().find(|x| x.id == id) else {
                    return Ok(((), false));
                };
                x.last_seen = now;
                Ok(((), true))
            });
            if let Err(e) = touched {
                tracing::warn!(error = %e, screen = %id, "cannot note when a screen was last seen");
            }
        }
        Verdict::Paired(screen.clone())
    }

    /// True while the screen `id` is still paired (an open stream of events asks every tick).
    pub fn still_paired(&self, data_dir: &Path, id: &str) -> bool {
        self.screens(data_dir).iter().any(|s| s.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_pairs_one_screen_of_its_station_once_and_a_revoked_screen_is_unpaired() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let now = 1_800_000_000;
        let code = new_code(d, "station-1", "left table", now).unwrap();
        assert!(code_digits(&code).is_some(), "{code}");
        // Another station's screen cannot use it, nor can a wrong code.
        assert!(redeem(d, "station-2", &code, now).unwrap().is_none());
        assert!(redeem(d, "station-1", "0000-0000x", now).unwrap().is_none());
        let (screen, credential) = redeem(d, "station-1", &code, now + 60).unwrap().unwrap();
        assert_eq!(screen.station, "station-1");
        assert_eq!(screen.label, "left table");
        // Used once.
        assert!(redeem(d, "station-1", &code, now + 61).unwrap().is_none());
        // The file holds no secret, only hashes.
        let text = std::fs::read_to_string(d.join(FILE)).unwrap();
        let secret = credential.split_once('.').unwrap().1;
        assert!(!text.contains(secret) && !text.contains(&code_digits(&code).unwrap()));
        let cache = ScreensCache::default();
        assert_eq!(
            cache.check(d, &credential, now + 120),
            Verdict::Paired(screen.clone())
        );
        // A wrong secret for the right id is nothing.
        let forged = format!("{}.{}", screen.id, "00".repeat(32));
        assert_eq!(cache.check(d, &forged, now + 120), Verdict::Unpaired);
        // In use, it does not expire: seen again after two hours, then 29 days later.
        assert!(matches!(
            cache.check(d, &credential, now + 7200),
            Verdict::Paired(_)
        ));
        assert_eq!(list(d).unwrap()[0].last_seen, now + 7200);
        let later = now + 7200 + 29 * 86_400;
        assert!(matches!(
            cache.check(d, &credential, later),
            Verdict::Paired(_)
        ));
        // Unused for longer than IDLE_DAYS, it stops working.
        let idle = later + (IDLE_DAYS + 1) * 86_400;
        assert_eq!(cache.check(d, &credential, idle), Verdict::Unpaired);
        // Revoked by its station's name: gone at once.
        assert!(cache.still_paired(d, &screen.id));
        assert_eq!(revoke(d, "station-1").unwrap().len(), 1);
        assert!(!cache.still_paired(d, &screen.id));
        assert_eq!(cache.check(d, &credential, later), Verdict::Unpaired);
    }

    #[test]
    fn a_code_expires_and_is_typed_as_people_type_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let code = new_code(d, "s", "", 1000).unwrap();
        assert!(redeem(d, "s", &code, 1000 + CODE_MINUTES * 60 + 1)
            .unwrap()
            .is_none());
        assert_eq!(
            code_digits("１２３４ ５６７８").as_deref(),
            Some("12345678")
        );
        assert_eq!(code_digits("1234-5678").as_deref(), Some("12345678"));
        assert_eq!(code_digits("1234-567"), None);
        assert_eq!(code_digits("1234-567a"), None);
        // A newer format is refused with what to do, never read as no screens.
        std::fs::write(d.join(FILE), r#"{"version": 2, "screens": []}"#).unwrap();
        let e = list(d).unwrap_err().to_string();
        assert!(e.contains("upgrade packwitness"), "{e}");
    }
}
