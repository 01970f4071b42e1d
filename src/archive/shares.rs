//! Share links made at the archive: read-only links to one order's evidence that an agent
//! sends to a platform's reviewer or to the buyer, as a station's are, kept in PostgreSQL
//! (schema version 5) so that any node opens them.
//!
//! Owns: the `shares` rows and a link's life (made for one order by an agent, seeing what
//! that agent's stations allow, working until it expires or is revoked; an optional PIN, the
//! link locked after [`MAX_PIN_TRIES`] wrong ones, counted in the database across nodes),
//! and checking a link's token and the proof that its PIN was given. Never: stores a token
//! or a PIN, only their SHA-256; decides what a link shows (the app does).

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::service::get;
use super::{db, ArchiveError};

/// The longest a link can be made to work (a station's too).
pub const MAX_DAYS: u32 = 90;
/// Wrong PINs after which a link stops working.
pub const MAX_PIN_TRIES: i32 = 5;

/// A share link.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// `shr-` and 8 hex digits: what a revocation takes and what its accesses name.
    pub id: String,
    pub code: String,
    /// The stations of the agent who made it (`None`: every station): what it may show.
    pub stations: Option<Vec<String>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pin_sha256: Option<String>,
    pub pin_failures: i32,
}

/// Whether a link works now, and if not, why (a station's words: `active`, `expired`,
/// `revoked`, `locked`).
pub fn state(s: &Share, now: DateTime<Utc>) -> &'static str {
    if s.revoked_at.is_some() {
        "revoked"
    } else if s.pin_failures >= MAX_PIN_TRIES {
        "locked"
    } else if now >= s.expires_at {
        "expired"
    } else {
        "active"
    }
}

impl Share {
    pub fn has_pin(&self) -> bool {
        self.pin_sha256.is_some()
    }

    /// What the browser keeps once the PIN was right (a cookie for the link's address):
    /// derived from the token and the PIN's hash, it proves both and reveals neither.
    pub fn pin_proof(&self, token: &str) -> Option<String> {
        let pin = self.pin_sha256.as_ref()?;
        Some(crate::digest::sha256_hex(
            format!("packwitness share pin\n{token}\n{pin}\n").as_bytes(),
        ))
    }
}

fn pin_hash(id: &str, pin: &str) -> String {
    crate::digest::sha256_hex(format!("{id}:{pin}").as_bytes())
}

fn random_hex(n: usize) -> Result<String, ArchiveError> {
    let mut raw = vec![0u8; n];
    getrandom::getrandom(&mut raw)
        .map_err(|e| ArchiveError::Config(format!("no randomness for a share link: {e}")))?;
    Ok(crate::digest::hex(&raw))
}

const COLUMNS: &str = "id, code, stations, created_by, created_at, expires_at, revoked_at,
    pin_sha256, pin_failures, secret_sha256";

fn share_of(r: &tokio_postgres::Row) -> Share {
    Share {
        id: r.get(0),
        code: r.get(1),
        stations: r.get(2),
        created_by: r.get(3),
        created_at: r.get(4),
        expires_at: r.get(5),
        revoked_at: r.get(6),
        pin_sha256: r.get(7),
        pin_failures: r.get(8),
    }
}

/// A new link to `code`, seeing `stations`, for `days` (1 to [`MAX_DAYS`]), with a PIN of 4
/// to 8 digits if given: the link and its token (`<id>.<secret>`), shown this once.
pub async fn create(
    pool: &Pool,
    code: &str,
    stations: Option<&[String]>,
    who: &str,
    days: u32,
    pin: Option<&str>,
) -> Result<(Share, String), ArchiveError> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ArchiveError::Config(format!(
            "a share link works 1 to {MAX_DAYS} days, not {days}"
        )));
    }
    let id = format!("shr-{}", random_hex(4)?);
    let secret = random_hex(32)?;
    let token = format!("{id}.{secret}");
    let until = Utc::now() + chrono::Duration::days(i64::from(days));
    let pin = pin.map(|p| pin_hash(&id, p));
    let row = get(pool)
        .await?
        .query_one(
            &format!(
                "INSERT INTO shares (id, secret_sha256, code, stations, created_by, expires_at, pin_sha256)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
            ),
            &[
                &id,
                &crate::digest::sha256_hex(secret.as_bytes()),
                &code,
                &stations,
                &who,
                &until,
                &pin,
            ],
        )
        .await
        .map_err(db(format!("making a share link to {code}")))?;
    Ok((share_of(&row), token))
}

/// The link of `token`, whatever its state; `None` for no such link or a wrong secret.
pub async fn find(pool: &Pool, token: &str) -> Result<Option<Share>, ArchiveError> {
    let Some((id, secret)) = token.split_once('.') else {
        return Ok(None);
    };
    let row = get(pool)
        .await?
        .query_opt(
            &format!("SELECT {COLUMNS} FROM shares WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(db("reading a share link"))?;
    Ok(row.and_then(|r| {
        let want: String = r.get(9);
        let got = crate::digest::sha256_hex(secret.as_bytes());
        crate::digest::constant_time_eq(want.as_bytes(), got.as_bytes()).then(|| share_of(&r))
    }))
}

/// The links to `code`, newest first.
pub async fn of_code(pool: &Pool, code: &str) -> Result<Vec<Share>, ArchiveError> {
    let rows = get(pool)
        .await?
        .query(
            &format!("SELECT {COLUMNS} FROM shares WHERE code = $1 ORDER BY created_at DESC"),
            &[&code],
        )
        .await
        .map_err(db("listing an order's share links"))?;
    Ok(rows.iter().map(share_of).collect())
}

/// Revokes the link `id`; the link, or `None` when there is none.
pub async fn revoke(pool: &Pool, id: &str) -> Result<Option<Share>, ArchiveError> {
    let row = get(pool)
        .await?
        .query_opt(
            &format!(
                "UPDATE shares SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
                 RETURNING {COLUMNS}"
            ),
            &[&id],
        )
        .await
        .map_err(db("revoking a share link"))?;
    Ok(row.as_ref().map(share_of))
}

/// Checks a PIN typed for `share`: `Ok(None)` when right, `Ok(Some(left))` with the tries
/// left when wrong (each wrong one counted in the database, whichever node took it).
pub async fn check_pin(
    pool: &Pool,
    share: &Share,
    typed: &str,
) -> Result<Option<i32>, ArchiveError> {
    let want = share.pin_sha256.as_deref().unwrap_or_default();
    if crate::digest::constant_time_eq(
        pin_hash(&share.id, typed.trim()).as_bytes(),
        want.as_bytes(),
    ) {
        return Ok(None);
    }
    let row = get(pool)
        .await?
        .query_one(
            "UPDATE shares SET pin_failures = pin_failures + 1 WHERE id = $1 RETURNING pin_failures",
            &[&share.id],
        )
        .await
        .map_err(db("counting a wrong PIN"))?;
    Ok(Some((MAX_PIN_TRIES - row.get::<_, i32>(0)).max(0)))
}
