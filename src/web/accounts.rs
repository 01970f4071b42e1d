//! Accounts of the web app: who may search and play (viewer), also export and hold (agent),
//! also control the stations (admin).
//!
//! Owns: `users.json` in the data dir (mode 0600; a JSON list of `{name, role, hash}` with
//! argon2id PHC hashes, rewritten durably), checking a password, and the sessions of the
//! server (random 256-bit cookies, 12 hours). Never: keeps a password.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// What an account may do; each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Agent,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role, Error> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "agent" => Ok(Role::Agent),
            "admin" => Ok(Role::Admin),
            _ => Err(Error::msg(
                ErrorKind::Invalid,
                format!("role {s:?}: use viewer, agent or admin"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }
}

/// An account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// argon2id, PHC string.
    pub hash: String,
}

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

fn users_path(data_dir: &Path) -> PathBuf {
    data_dir.join("users.json")
}

fn bad(what: impl Into<String>) -> Error {
    Error::msg(ErrorKind::Invalid, what.into())
}

/// The accounts of a data dir (none when the file does not exist).
pub fn load(data_dir: &Path) -> Result<Vec<User>, Error> {
    let path = users_path(data_dir);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| bad(format!("{}: not a list of accounts: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::msg(
            ErrorKind::Io,
            format!("{}: cannot read the accounts: {e}", path.display()),
        )),
    }
}

fn save(data_dir: &Path, users: &[User]) -> Result<(), Error> {
    use std::io::Write;
    let path = users_path(data_dir);
    let tmp = path.with_extension("partial");
    let json = serde_json::to_vec_pretty(users).map_err(|e| Error::internal(e.to_string()))?;
    let io = |e: std::io::Error| {
        Error::msg(
            ErrorKind::Io,
            format!("{}: cannot write the accounts: {e}", path.display()),
        )
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(&json).and_then(|()| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    crate::datadir::sync_dir(data_dir).map_err(io)
}

/// An argon2id PHC hash of `password` (refused when shorter than [`MIN_PASSWORD`]).
pub fn hash(password: &str) -> Result<String, Error> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(bad(format!(
            "the password is shorter than {MIN_PASSWORD} characters"
        )));
    }
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::internal(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("cannot hash the password: {e}")))
}

/// Whether `name` can name an account.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
}

/// Adds an account.
pub fn add(data_dir: &Path, name: &str, role: Role, password: &str) -> Result<(), Error> {
    if !valid_name(name) {
        return Err(bad(format!(
            "user name {name:?}: letters, digits and . - _ @ only, up to 64"
        )));
    }
    let mut users = load(data_dir)?;
    if users.iter().any(|u| u.name == name) {
        return Err(Error::msg(
            ErrorKind::Conflict,
            format!("user {name} exists; `packwitness user passwd {name}` changes the password"),
        ));
    }
    users.push(User {
        name: name.to_string(),
        role,
        hash: hash(password)?,
    });
    save(data_dir, &users)
}

/// Removes an account.
pub fn remove(data_dir: &Path, name: &str) -> Result<(), Error> {
    let mut users = load(data_dir)?;
    let before = users.len();
    users.retain(|u| u.name != name);
    if users.len() == before {
        return Err(Error::msg(ErrorKind::NotFound, format!("no user {name}")));
    }
    save(data_dir, &users)
}

/// Changes an account's password.
pub fn passwd(data_dir: &Path, name: &str, password: &str) -> Result<(), Error> {
    let mut users = load(data_dir)?;
    let u = users
        .iter_mut()
        .find(|u| u.name == name)
        .ok_or_else(|| Error::msg(ErrorKind::NotFound, format!("no user {name}")))?;
    u.hash = hash(password)?;
    save(data_dir, &users)
}

/// The role of `name` when `password` is theirs.
pub fn check(users: &[User], name: &str, password: &str) -> Option<Role> {
    let u = users.iter().find(|u| u.name == name)?;
    matches(&u.hash, password).then_some(u.role)
}

/// Whether `password` is the one the argon2id PHC string `hash` was made from.
pub fn matches(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The accounts of a data dir, read again only when `users.json` changes (its size and
/// modification time): every request asks who may do what, and a video seek is many requests.
#[derive(Default)]
pub struct AccountsCache {
    /// The file as last read: its stamp, its accounts, and why it could not be read (then
    /// the accounts lock everyone out).
    seen: Mutex<Option<Read>>,
}

/// The accounts file as last read: its stamp, its accounts, and why it could not be read.
type Read = (FileStamp, std::sync::Arc<Vec<User>>, Option<String>);

/// The size and modification time of `users.json` (`None`: no file).
type FileStamp = Option<(u64, std::time::SystemTime)>;

impl AccountsCache {
    pub fn get(&self, data_dir: &Path) -> std::sync::Arc<Vec<User>> {
        let stamp = std::fs::metadata(users_path(data_dir))
            .ok()
            .and_then(|m| Some((m.len(), m.modified().ok()?)));
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, users, _)) = seen.as_ref().filter(|(s, _, _)| *s == stamp) {
            return users.clone();
        }
        let loaded = load(data_dir);
        let unreadable = loaded.as_ref().err().map(|e| e.to_string());
        let users = std::sync::Arc::new(match loaded {
            Ok(u) => u,
            Err(e) => {
                // Unreadable accounts lock everyone out rather than open the app.
                tracing::error!(error = %e, "cannot read the accounts; nobody can log in until it is fixed");
                vec![User {
                    name: String::new(),
                    role: Role::Viewer,
                    hash: String::new(),
                }]
            }
        });
        *seen = Some((stamp, users.clone(), unreadable));
        users
    }

    /// Why the accounts file could not be read when last looked at (`None`: it could).
    pub fn unreadable(&self) -> Option<String> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|(_, _, why)| why.clone())
    }
}

/// Who a session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub name: String,
    pub role: Role,
    expires: Instant,
}

/// How long a session lasts.
pub const SESSION: Duration = Duration::from_secs(12 * 3600);
/// Failed logins from one address within a minute before it is refused for that minute.
pub const MAX_FAILURES: u32 = 5;

/// Failed logins to one account (from any address) before its guesses are spaced out.
pub const MAX_ACCOUNT_FAILURES: u32 = 5;
/// Once an account has had that many failures, a password for it is checked at most this
/// often from an address that never logged into it: guesses spread over many addresses get
/// nowhere, and a real user waits seconds at most, never locked out (and not at all from an
/// address they logged in from before).
pub const ACCOUNT_SPACING: Duration = Duration::from_secs(10);
/// How long an account's failures count.
const ACCOUNT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// The sessions and failed logins of a server.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<std::net::IpAddr, (u32, Instant)>>,
    accounts: Mutex<HashMap<String, AccountFailures>>,
}

/// Failed logins to one account.
#[derive(Debug, Default)]
struct AccountFailures {
    count: u32,
    first: Option<Instant>,
    /// When the last password for it was checked.
    last_check: Option<Instant>,
    /// Addresses that logged into it since the server started.
    known: Vec<std::net::IpAddr>,
}

impl Sessions {
    /// A new session for `name`; returns its cookie value.
    pub fn open(&self, name: &str, role: Role) -> Result<String, Error> {
        let mut raw = [0u8; 32];
        getrandom::getrandom(&mut raw)
            .map_err(|e| Error::internal(format!("no randomness: {e}")))?;
        let id = crate::digest::hex(&raw);
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, s| s.expires > now);
        live.insert(
            id.clone(),
            Session {
                name: name.to_string(),
                role,
                expires: now + SESSION,
            },
        );
        Ok(id)
    }

    pub fn get(&self, id: &str) -> Option<Session> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(id).filter(|s| s.expires > Instant::now()).cloned()
    }

    pub fn close(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// True when `ip` failed too often in the last minute.
    pub fn locked_out(&self, ip: std::net::IpAddr) -> bool {
        let f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.get(&ip).is_some_and(|(n, since)| {
            *n >= MAX_FAILURES && since.elapsed() < Duration::from_secs(60)
        })
    }

    /// How long a login to `name` from `ip` must wait before its password is checked
    /// (`None`: now), and takes the check's slot when it may go.
    pub fn account_wait(&self, name: &str, ip: std::net::IpAddr) -> Option<Duration> {
        let mut a = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let e = a.entry(name.to_string()).or_default();
        if e.first.is_some_and(|t| t.elapsed() >= ACCOUNT_WINDOW) {
            e.count = 0;
            e.first = None;
        }
        if e.count < MAX_ACCOUNT_FAILURES || e.known.contains(&ip) {
            return None;
        }
        let now = Instant::now();
        let wait = e
            .last_check
            .map(|t| ACCOUNT_SPACING.saturating_sub(now.duration_since(t)))
            .filter(|w| !w.is_zero());
        if wait.is_none() {
            e.last_check = Some(now);
        }
        wait
    }

    /// A login to `name` from `ip` failed (wrong password, or no such account).
    pub fn account_failed(&self, name: &str) {
        let mut a = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: names that are not accounts are kept only while few.
        if a.len() > 10_000 {
            a.retain(|_, e| !e.known.is_empty());
        }
        let e = a.entry(name.to_string()).or_default();
        e.count += 1;
        e.first.get_or_insert_with(Instant::now);
        e.last_check = Some(Instant::now());
    }

    /// A login to `name` from `ip` succeeded: that address is known to it from now on.
    pub fn account_succeeded(&self, name: &str, ip: std::net::IpAddr) {
        let mut a = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let e = a.entry(name.to_string()).or_default();
        if !e.known.contains(&ip) {
            e.known.push(ip);
            if e.known.len() > 64 {
                e.known.remove(0);
            }
        }
    }

    pub fn failed(&self, ip: std::net::IpAddr) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let e = f.entry(ip).or_insert((0, Instant::now()));
        if e.1.elapsed() >= Duration::from_secs(60) {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guesses at one account from many addresses are spaced out; its user, from an address
    /// that logged in before, is never held up, and a new address waits seconds, not forever.
    #[test]
    fn failed_logins_to_an_account_space_out_guesses_without_locking_its_user_out() {
        let s = Sessions::default();
        let (home, a, b): (std::net::IpAddr, std::net::IpAddr, std::net::IpAddr) = (
            "127.0.0.11".parse().unwrap(),
            "127.0.0.12".parse().unwrap(),
            "127.0.0.13".parse().unwrap(),
        );
        s.account_succeeded("lin", home);
        for _ in 0..MAX_ACCOUNT_FAILURES {
            assert_eq!(s.account_wait("lin", a), None);
            s.account_failed("lin");
        }
        // The next guess, from another address, must wait; so does one more from the first.
        let w = s.account_wait("lin", b).expect("spaced out");
        assert!(w <= ACCOUNT_SPACING && !w.is_zero());
        assert!(s.account_wait("lin", a).is_some());
        // The user at their usual address is not held up; other accounts are not touched.
        assert_eq!(s.account_wait("lin", home), None);
        assert_eq!(s.account_wait("wang", b), None);
    }

    #[test]
    fn accounts_and_passwords() {
        let dir = tempfile::tempdir().unwrap();
        add(dir.path(), "alice", Role::Agent, "correct horse").unwrap();
        assert!(add(dir.path(), "alice", Role::Viewer, "another one").is_err());
        assert!(add(dir.path(), "bob", Role::Viewer, "short").is_err());
        assert!(add(dir.path(), "bad name", Role::Viewer, "long enough").is_err());
        let users = load(dir.path()).unwrap();
        assert!(!users[0].hash.contains("correct horse"));
        assert!(users[0].hash.starts_with("$argon2id$"));
        assert_eq!(check(&users, "alice", "correct horse"), Some(Role::Agent));
        assert_eq!(check(&users, "alice", "wrong horse"), None);
        assert_eq!(check(&users, "nobody", "correct horse"), None);
        passwd(dir.path(), "alice", "battery staple").unwrap();
        let users = load(dir.path()).unwrap();
        assert_eq!(check(&users, "alice", "correct horse"), None);
        assert_eq!(check(&users, "alice", "battery staple"), Some(Role::Agent));
        remove(dir.path(), "alice").unwrap();
        assert!(load(dir.path()).unwrap().is_empty());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("users.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let s = Sessions::default();
        let id = s.open("bob", Role::Viewer).unwrap();
        assert_eq!(s.get(&id).unwrap().role, Role::Viewer);
        s.close(&id);
        assert!(s.get(&id).is_none());
        let ip: std::net::IpAddr = "10.0.0.9".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(!s.locked_out(ip));
            s.failed(ip);
        }
        assert!(s.locked_out(ip));
    }
}
