//! Share links: read-only links to one order's evidence, which an agent sends to a
//! platform's reviewer or to the buyer.
//!
//! Owns: `shares.json` in the data dir (format version 1, kept by [`super::store`]), a link's
//! life (made for one order by an agent, working until it expires or is revoked; an optional
//! PIN, the link locked after [`MAX_PIN_TRIES`] wrong ones), and checking a link's token and
//! the proof that its PIN was given. Never: stores a token or a PIN, only their SHA-256; and
//! never decides what a link shows (the web's `share` does).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::store::{self, random_u64};
use crate::error::{Error, ErrorKind};

/// The file of share links in a data dir.
pub const FILE: &str = "shares.json";
const LOCK: &str = "shares.lock";
const VERSION: u32 = 1;
/// The longest a link can be made to work.
pub const MAX_DAYS: u32 = 90;
/// Days a link that ended (expired or revoked) is still listed.
pub const KEEP_ENDED_DAYS: i64 = 90;
/// Wrong PINs after which a link stops working.
pub const MAX_PIN_TRIES: u32 = 5;

/// A share link, as `share list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Share {
    /// `shr-` and 8 hex digits: what `share revoke` takes, and what the access records of
    /// its views name (`share shr-...`).
    pub id: String,
    /// The order it shows (normalised).
    pub code: String,
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    #[serde(default)]
    pub revoked_at: Option<i64>,
    /// SHA-256 (hex) of the token's secret.
    secret_sha256: String,
    /// SHA-256 (hex) of `<id>:<pin>`, when the link has a PIN.
    #[serde(default)]
    pin_sha256: Option<String>,
    /// Wrong PINs so far; at [`MAX_PIN_TRIES`] the link is locked.
    #[serde(default)]
    pub pin_failures: u32,
}

/// Whether a link works now, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Active,
    Expired,
    Revoked,
    /// Too many wrong PINs.
    Locked,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Expired => "expired",
            State::Revoked => "revoked",
            State::Locked => "locked",
        }
    }
}

impl Share {
    pub fn has_pin(&self) -> bool {
        self.pin_sha256.is_some()
    }

    pub fn state(&self, now: i64) -> State {
        if self.revoked_at.is_some() {
            State::Revoked
        } else if self.pin_failures >= MAX_PIN_TRIES {
            State::Locked
        } else if now >= self.expires_at {
            State::Expired
        } else {
            State::Active
        }
    }

    /// What the browser keeps once the PIN was right (a cookie for this link's address):
    /// derived from the token and the PIN's hash, so it proves both and reveals neither.
    pub fn pin_proof(&self, token: &str) -> Option<String> {
        let pin = self.pin_sha256.as_ref()?;
        Some(crate::digest::sha256_hex(
            format!("packwitness share pin\n{token}\n{pin}\n").as_bytes(),
        ))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    version: u32,
    #[serde(default)]
    shares: Vec<Share>,
}

impl Default for Stored {
    fn default() -> Stored {
        Stored {
            version: VERSION,
            shares: Vec::new(),
        }
    }
}

impl store::Stored for Stored {
    const FILE: &'static str = FILE;
    const LOCK: &'static str = LOCK;
    const WHAT: &'static str = "share links";
    const VERSION: u32 = VERSION;
    fn version(&self) -> u32 {
        self.version
    }
}

fn pin_hash(id: &str, pin: &str) -> String {
    crate::digest::sha256_hex(format!("{id}:{pin}").as_bytes())
}

/// A PIN as typed: 4 to 8 digits (full-width digits allowed), or what is wrong with it.
pub fn pin_digits(typed: &str) -> Result<String, Error> {
    let digits: String = typed
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            c => c,
        })
        .collect();
    if (4..=8).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(Error::invalid(
            "a share link's PIN is 4 to 8 digits; give none for a link without a PIN",
        ))
    }
}

/// A new link to `code` for `days` (1 to [`MAX_DAYS`]) from `now`: the share and its token
/// (`<id>.<secret>`, the last part of the link's address), which is shown this once.
pub fn create(
    data_dir: &Path,
    code: &str,
    who: &str,
    days: u32,
    pin: Option<&str>,
    now: i64,
) -> Result<(Share, String), Error> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(Error::invalid(format!(
            "a share link works 1 to {MAX_DAYS} days, not {days}"
        )));
    }
    let pin = pin
        .filter(|p| !p.trim().is_empty())
        .map(pin_digits)
        .transpose()?;
    let id = format!("shr-{:08x}", random_u64()? as u32);
    let secret = store::secret()?;
    let share = Share {
        id: id.clone(),
        code: code.to_string(),
        created_by: who.to_string(),
        created_at: now,
        expires_at: now + i64::from(days) * 86_400,
        revoked_at: None,
        secret_sha256: crate::digest::sha256_hex(secret.as_bytes()),
        pin_sha256: pin.map(|p| pin_hash(&id, &p)),
        pin_failures: 0,
    };
    let stored = share.clone();
    store::change(data_dir, |s: &mut Stored| {
        // Links that ended long ago leave the file (their access records stay in the log),
        // so that it does not grow for years.
        s.shares
            .retain(|x| x.revoked_at.unwrap_or(x.expires_at) + KEEP_ENDED_DAYS * 86_400 > now);
        s.shares.push(stored);
        Ok(((), true))
    })?;
    Ok((share, format!("{id}.{secret}")))
}

/// Every link made on this data dir (expired and revoked ones too, as a record).
pub fn list(data_dir: &Path) -> Result<Vec<Share>, Error> {
    Ok(store::read::<Stored>(data_dir)?.shares)
}

/// Revokes the link `id` at `now`: the share, or `None` when there is no such link.
pub fn revoke(data_dir: &Path, id: &str, now: i64) -> Result<Option<Share>, Error> {
    store::change(data_dir, |s: &mut Stored| {
        let Some(x) = s.shares.iter_mut().find(|x| x.id == id) else {
            return Ok((None, false));
        };
        let changed = x.revoked_at.is_none();
        x.revoked_at.get_or_insert(now);
        Ok((Some(x.clone()), changed))
    })
}

/// The link a token names, whatever its state; `None` when the token names none (or its
/// secret is wrong).
pub fn find(data_dir: &Path, token: &str) -> Result<Option<Share>, Error> {
    Ok(named(&list(data_dir)?, token))
}

fn named(shares: &[Share], token: &str) -> Option<Share> {
    let (id, secret) = token.split_once('.')?;
    let hash = crate::digest::sha256_hex(secret.as_bytes());
    shares
        .iter()
        .find(|s| {
            s.id == id && super::auth::constant_time_eq(s.secret_sha256.as_bytes(), hash.as_bytes())
        })
        .cloned()
}

/// The server's view of `shares.json`, read again only when it changed: a player asks for a
/// shared clip in many byte ranges.
#[derive(Default)]
pub struct SharesCache {
    file: store::Cache<Stored>,
}

impl SharesCache {
    /// The links to `code`, from the copy in memory.
    pub fn of_order(&self, data_dir: &Path, code: &str) -> Vec<Share> {
        let file = self.file.get(data_dir);
        file.shares
            .iter()
            .filter(|s| s.code == code)
            .cloned()
            .collect()
    }

    /// [`find`], from the copy in memory.
    pub fn find(&self, data_dir: &Path, token: &str) -> Option<Share> {
        named(&self.file.get(data_dir).shares, token)
    }
}

/// What a PIN typed for a link did.
#[derive(Debug, Clone, PartialEq)]
pub enum PinCheck {
    /// Right: the proof the browser keeps ([`Share::pin_proof`]).
    Right(String),
    /// Wrong: this many tries are left before the link locks.
    Wrong(u32),
    /// The link does not work (any more): why.
    Refused(State),
}

/// Checks a PIN typed for the link of `token` at `now`; a wrong one counts.
pub fn check_pin(data_dir: &Path, token: &str, typed: &str, now: i64) -> Result<PinCheck, Error> {
    let Some(share) = find(data_dir, token)? else {
        return Err(Error::msg(ErrorKind::NotFound, "no such share link"));
    };
    if share.state(now) != State::Active {
        return Ok(PinCheck::Refused(share.state(now)));
    }
    let right = share.pin_sha256.as_ref().is_some_and(|want| {
        pin_digits(typed).is_ok_and(|p| {
            super::auth::constant_time_eq(pin_hash(&share.id, &p).as_bytes(), want.as_bytes())
        })
    });
    if right {
        return Ok(PinCheck::Right(share.pin_proof(token).unwrap_or_default()));
    }
    store::change(data_dir, |s: &mut Stored| {
        let Some(x) = s.shares.iter_mut().find(|x| x.id == share.id) else {
            return Ok((PinCheck::Refused(State::Revoked), false));
        };
        x.pin_failures += 1;
        let left = MAX_PIN_TRIES.saturating_sub(x.pin_failures);
        let answer = if left == 0 {
            PinCheck::Refused(State::Locked)
        } else {
            PinCheck::Wrong(left)
        };
        Ok((answer, true))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_until_it_expires_or_is_revoked_and_stores_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let now = 1_800_000_000;
        let (share, token) = create(d, "SO-1", "lin", 7, None, now).unwrap();
        assert_eq!(share.state(now), State::Active);
        assert_eq!(find(d, &token).unwrap(), Some(share.clone()));
        // A wrong secret for the right id is nothing.
        assert_eq!(
            find(d, &format!("{}.{}", share.id, "0".repeat(64))).unwrap(),
            None
        );
        assert_eq!(find(d, "nonsense").unwrap(), None);
        let text = std::fs::read_to_string(d.join(FILE)).unwrap();
        assert!(!text.contains(token.split_once('.').unwrap().1));
        assert_eq!(share.state(now + 7 * 86_400), State::Expired);
        let revoked = revoke(d, &share.id, now + 60).unwrap().unwrap();
        assert_eq!(revoked.state(now + 61), State::Revoked);
        assert_eq!(
            find(d, &token).unwrap().unwrap().state(now + 61),
            State::Revoked
        );
        assert_eq!(revoke(d, "shr-00000000", now).unwrap(), None);
        assert!(create(d, "SO-1", "lin", 0, None, now).is_err());
        // Listed for KEEP_ENDED_DAYS after it ended, then dropped when a link is made.
        let later = now + 60 + KEEP_ENDED_DAYS * 86_400 + 1;
        let (_, _) = create(d, "SO-9", "lin", 1, None, later).unwrap();
        let codes: Vec<String> = list(d).unwrap().into_iter().map(|s| s.code).collect();
        assert_eq!(codes, ["SO-9"]);
        assert!(create(d, "SO-1", "lin", MAX_DAYS + 1, None, now).is_err());
    }

    #[test]
    fn a_pin_is_asked_for_and_wrong_ones_lock_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let now = 1_800_000_000;
        assert!(create(d, "SO-2", "lin", 1, Some("12a4"), now).is_err());
        let (share, token) = create(d, "SO-2", "lin", 1, Some("２４６８"), now).unwrap();
        assert!(share.has_pin());
        let text = std::fs::read_to_string(d.join(FILE)).unwrap();
        assert!(!text.contains("2468"));
        let proof = share.pin_proof(&token).unwrap();
        assert_eq!(
            check_pin(d, &token, "2468", now).unwrap(),
            PinCheck::Right(proof)
        );
        for left in (1..MAX_PIN_TRIES).rev() {
            assert_eq!(
                check_pin(d, &token, "1111", now).unwrap(),
                PinCheck::Wrong(left)
            );
        }
        assert_eq!(
            check_pin(d, &token, "1111", now).unwrap(),
            PinCheck::Refused(State::Locked)
        );
        // Locked: even the right PIN is refused now.
        assert_eq!(
            check_pin(d, &token, "2468", now).unwrap(),
            PinCheck::Refused(State::Locked)
        );
    }
}
