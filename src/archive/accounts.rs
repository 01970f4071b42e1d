//! Accounts of the customer-service app at the archive, their station groups and their
//! sessions, in PostgreSQL (schema version 5) so that every node sees the same ones.
//!
//! Owns: the `accounts`, `station_groups` and `sessions` rows; what stations an account may
//! see (its own list and its groups' stations together; neither: every station); a session's
//! life (a random 256-bit cookie, 12 hours, only its SHA-256 stored); the `accesses` index of
//! the nodes' access logs (each row points at its signed record).
//! Never: hashes or checks a password (the app does, with the station's argon2id code) or
//! keeps a session's cookie itself.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::search::Agent;
use super::service::{get, new_token, token_hash};
use super::{db, ArchiveError};

/// How long a session lasts (a station's too).
pub const SESSION_HOURS: i64 = 12;

/// An account at the archive as a request sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub name: String,
    /// `viewer`, `agent` or `admin`.
    pub role: String,
    /// The stations it may see, its own and its groups' (`None`: every station).
    pub stations: Option<Vec<String>>,
}

impl Account {
    /// The account as the searches take it.
    pub fn agent(&self) -> Agent {
        Agent {
            name: self.name.clone(),
            stations: self.stations.clone(),
        }
    }

    /// Whether it may see station `name`'s clips.
    pub fn sees(&self, station: &str) -> bool {
        self.stations
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == station))
    }
}

/// An account row, for `archive account list`.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub name: String,
    pub role: String,
    pub stations: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
}

/// What an account may see, resolved from its row: its stations and its groups' stations.
const SEES: &str = "CASE WHEN a.stations IS NULL AND a.groups IS NULL THEN NULL
     ELSE ARRAY(SELECT unnest(coalesce(a.stations, '{}'))
                UNION SELECT unnest(g.stations) FROM station_groups g
                      WHERE g.name = ANY(coalesce(a.groups, '{}'))) END";

/// Adds the account `name` or changes its role, password hash and limits.
pub async fn put_account(
    pool: &Pool,
    name: &str,
    role: &str,
    hash: &str,
    stations: Option<&[String]>,
    groups: Option<&[String]>,
) -> Result<(), ArchiveError> {
    get(pool)
        .await?
        .execute(
            "INSERT INTO accounts (name, role, hash, stations, groups) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO UPDATE SET role = $2, hash = $3, stations = $4, groups = $5",
            &[&name, &role, &hash, &stations, &groups],
        )
        .await
        .map_err(db(format!("adding the account {name}")))?;
    Ok(())
}

/// Removes the account `name` and its sessions; false when there was none.
pub async fn remove_account(pool: &Pool, name: &str) -> Result<bool, ArchiveError> {
    let n = get(pool)
        .await?
        .execute("DELETE FROM accounts WHERE name = $1", &[&name])
        .await
        .map_err(db(format!("removing the account {name}")))?;
    Ok(n > 0)
}

/// Every account, by name.
pub async fn list_accounts(pool: &Pool) -> Result<Vec<Listed>, ArchiveError> {
    let rows = get(pool)
        .await?
        .query(
            "SELECT name, role, stations, groups FROM accounts ORDER BY name",
            &[],
        )
        .await
        .map_err(db("listing the accounts"))?;
    Ok(rows
        .iter()
        .map(|r| Listed {
            name: r.get(0),
            role: r.get(1),
            stations: r.get(2),
            groups: r.get(3),
        })
        .collect())
}

/// Names (or renames the stations of) the station group `name`.
pub async fn put_group(pool: &Pool, name: &str, stations: &[String]) -> Result<(), ArchiveError> {
    get(pool)
        .await?
        .execute(
            "INSERT INTO station_groups (name, stations) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET stations = $2",
            &[&name, &stations],
        )
        .await
        .map_err(db(format!("naming the station group {name}")))?;
    Ok(())
}

/// Every station group, by name.
pub async fn groups(pool: &Pool) -> Result<Vec<(String, Vec<String>)>, ArchiveError> {
    let rows = get(pool)
        .await?
        .query(
            "SELECT name, stations FROM station_groups ORDER BY name",
            &[],
        )
        .await
        .map_err(db("listing the station groups"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The password hash and role of the account `name`, for a login.
pub async fn credentials(pool: &Pool, name: &str) -> Result<Option<String>, ArchiveError> {
    let row = get(pool)
        .await?
        .query_opt("SELECT hash FROM accounts WHERE name = $1", &[&name])
        .await
        .map_err(db("reading an account"))?;
    Ok(row.map(|r| r.get(0)))
}

/// Opens a session of `name`; returns its cookie value. Sessions ended for good are
/// dropped on the way.
pub async fn open_session(pool: &Pool, name: &str) -> Result<String, ArchiveError> {
    let token = new_token("pws1")?;
    let until: DateTime<Utc> = Utc::now() + chrono::Duration::hours(SESSION_HOURS);
    let client = get(pool).await?;
    client
        .execute("DELETE FROM sessions WHERE expires_at < now()", &[])
        .await
        .map_err(db("dropping ended sessions"))?;
    client
        .execute(
            "INSERT INTO sessions (token_sha256, account, expires_at) VALUES ($1, $2, $3)",
            &[&token_hash(&token), &name, &until],
        )
        .await
        .map_err(db(format!("opening a session of {name}")))?;
    Ok(token)
}

/// The account of a live session.
pub async fn session(pool: &Pool, token: &str) -> Result<Option<Account>, ArchiveError> {
    let row = get(pool)
        .await?
        .query_opt(
            &format!(
                "SELECT a.name, a.role, {SEES} FROM sessions s JOIN accounts a ON a.name = s.account
                 WHERE s.token_sha256 = $1 AND s.expires_at > now()"
            ),
            &[&token_hash(token)],
        )
        .await
        .map_err(db("reading a session"))?;
    Ok(row.map(|r| Account {
        name: r.get(0),
        role: r.get(1),
        stations: r.get(2),
    }))
}

/// Ends a session.
pub async fn close_session(pool: &Pool, token: &str) -> Result<(), ArchiveError> {
    get(pool)
        .await?
        .execute(
            "DELETE FROM sessions WHERE token_sha256 = $1",
            &[&token_hash(token)],
        )
        .await
        .map_err(db("ending a session"))?;
    Ok(())
}

/// An access recorded in a node's access log, as an order's page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRow {
    /// The node's access log (its key's name) and the record's line in it.
    pub node: String,
    pub line: u64,
    pub at: DateTime<Utc>,
    pub action: String,
    pub who: String,
    pub log: String,
    pub clips: Vec<u64>,
}

/// Indexes an access the node `node` recorded at `line` of its log.
pub async fn index_access(pool: &Pool, row: &AccessRow, code: &str) -> Result<(), ArchiveError> {
    let clips: Vec<i64> = row.clips.iter().map(|c| *c as i64).collect();
    get(pool)
        .await?
        .execute(
            "INSERT INTO accesses (node, line, at, action, who, code, log, clips)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            &[
                &row.node,
                &(row.line as i64),
                &row.at,
                &row.action,
                &row.who,
                &code,
                &row.log,
                &clips,
            ],
        )
        .await
        .map_err(db("indexing an access"))?;
    Ok(())
}

/// The newest `limit` accesses of `code` to clips of the station logs `logs`, newest first.
pub async fn accesses(
    pool: &Pool,
    code: &str,
    logs: &[String],
    limit: i64,
) -> Result<Vec<AccessRow>, ArchiveError> {
    let rows = get(pool)
        .await?
        .query(
            "SELECT node, line, at, action, who, log, clips FROM accesses
             WHERE code = $1 AND log = ANY($2) ORDER BY at DESC LIMIT $3",
            &[&code, &logs, &limit],
        )
        .await
        .map_err(db("reading an order's accesses"))?;
    Ok(rows
        .iter()
        .map(|r| AccessRow {
            node: r.get(0),
            line: r.get::<_, i64>(1) as u64,
            at: r.get(2),
            action: r.get(3),
            who: r.get(4),
            log: r.get(5),
            clips: r
                .get::<_, Vec<i64>>(6)
                .into_iter()
                .map(|c| c as u64)
                .collect(),
        })
        .collect())
}
