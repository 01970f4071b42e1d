//! Station screens paired as kiosks: the one-time pairing codes the lead makes
//! (`packwitness screen pair STATION`) and the credentials browsers trade them for.
//!
//! Owns: `screens.json` in the data dir (format version 1, kept by [`super::store`]), a
//! code's life (8 digits, 10 minutes, once), a credential's (one station's screen
//! only; it lasts while it is used and ends when revoked or unused for [`IDLE_DAYS`]), and
//! [`ScreensCache`], which the server reads on every screen request.
//! Never: decides which routes a credential opens (the web's `auth` does) and never stores a
//! code or a credential itself, only their SHA-256.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::store::{self, random_u64};
use crate::error::Error;

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

impl store::Stored for Stored {
    const FILE: &'static str = FILE;
    const LOCK: &'static str = LOCK;
    const WHAT: &'static str = "paired screens";
    const VERSION: u32 = VERSION;
    fn version(&self) -> u32 {
        self.version
    }
}

fn read(data_dir: &Path) -> Result<Stored, Error> {
    store::read(data_dir)
}

fn change<T>(
    data_dir: &Path,
    f: impl FnOnce(&mut Stored) -> Result<(T, bool), Error>,
) -> Result<T, Error> {
    store::change(data_dir, f)
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
    let secret = store::secret()?;
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
    file: store::Cache<Stored>,
}

impl ScreensCache {
    fn screens(&self, data_dir: &Path) -> std::sync::Arc<Stored> {
        self.file.get(data_dir)
    }

    /// Checks a credential (`<id>.<secret>`) at `now` (unix seconds).
    pub fn check(&self, data_dir: &Path, credential: &str, now: i64) -> Verdict {
        let Some((id, secret)) = credential.split_once('.') else {
            return Verdict::Unpaired;
        };
        let hash = crate::digest::sha256_hex(secret.as_bytes());
        let screens = self.screens(data_dir);
        let Some(screen) = screens.screens.iter().find(|s| {
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
        self.screens(data_dir).screens.iter().any(|s| s.id == id)
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
