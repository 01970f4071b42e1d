//! Finding clips across every station: the customer-service side of the archive. An agent
//! (a name and a bearer token, limited or not to some stations) looks an order or a waybill
//! up exactly, gets suggestions for a prefix, and reads a day's counts per station.
//!
//! Owns: the `agents` rows (schema version 4) and these queries, each answered along an index
//! (`clips_order_prefix`, `clips_sealed_at`, `order_lines_code`), so that their cost follows
//! what they return, not the number of clips held. Never: returns a row of a station the
//! agent may not see, or keeps a token (only its SHA-256).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use deadpool_postgres::Pool;

use super::service::{get, new_token, token_hash, Archive};
use super::{db, ArchiveError};

/// An agent of customer service at the archive.
#[derive(Debug, Clone)]
pub struct Agent {
    pub name: String,
    /// The station names it may see; `None`: every station.
    pub stations: Option<Vec<String>>,
}

/// A clip as a search shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FoundClip {
    /// The station log it was sealed in (its key's name), as `archive export --station` takes it.
    pub log: String,
    pub station: String,
    pub camera: String,
    pub order: String,
    /// Its `clip_opened` and `clip_sealed` lines in the station's log.
    pub clip: u64,
    pub seal: u64,
    pub sha256: String,
    pub size: u64,
    pub reason: String,
    pub started_at: String,
    pub ended_at: String,
    /// The bucket holds its bytes, under lock.
    pub archived: bool,
    pub held: bool,
}

/// A clip whose bytes the bucket holds, as the app plays it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredClip {
    pub log: String,
    pub station: String,
    pub order: String,
    pub clip: u64,
    pub size: u64,
    /// The object's locked version.
    pub version_id: Option<String>,
}

/// A station's log on the board of every station.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BoardRow {
    /// The log's name (its key's) and key ID.
    pub log: String,
    pub key_id: String,
    /// Lines of its log the archive holds, and when it last pushed (RFC 3339).
    pub lines: u64,
    pub pushed_at: Option<String>,
    /// The station of its last seal, and that seal's time.
    pub last_station: Option<String>,
    pub last_seal_at: Option<String>,
    /// Clips sealed since `since` (the start of the day asked for).
    pub clips_today: u64,
    /// Clips sealed whose bytes the bucket does not hold yet, and the oldest one's seal
    /// time: how far the archive is behind this station.
    pub clips_pending: u64,
    pub oldest_pending_at: Option<String>,
    /// When the archive refused a push of this log as a fork, if it did.
    pub forked_at: Option<String>,
}

/// A station's counts of a day.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DayCount {
    pub station: String,
    pub clips: u64,
    pub orders: u64,
}

/// `WITH of_code`: the (station_id, seal) of the clips of the order `$1`, or of the clips the
/// code `$1` (a waybill) is attached to; each half along its index.
pub(super) const OF_CODE: &str = "WITH of_code AS (
    SELECT station_id, seal FROM clips WHERE order_code = $1
    UNION
    SELECT k.station_id, k.seal FROM order_lines o
    JOIN clips k ON k.station_id = o.station_id AND k.clip = o.clip
    WHERE o.code = $1)";

/// Adds the agent `name` (or gives it a new token, revoking the old one), limited to
/// `stations` when given; returns its token.
pub async fn add_agent(
    pool: &Pool,
    name: &str,
    stations: Option<&[String]>,
) -> Result<String, ArchiveError> {
    // Not a station's token (`pwa1_`): an agent's reads, never pushes.
    let token = new_token("pwg1")?;
    get(pool)
        .await?
        .execute(
            "INSERT INTO agents (name, token_sha256, stations) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET token_sha256 = $2, stations = $3",
            &[&name, &token_hash(&token), &stations],
        )
        .await
        .map_err(db("adding the agent"))?;
    Ok(token)
}

/// The columns of a [`FoundClip`] (`clips c` joined with `stations s`).
const FOUND: &str = "c.station, c.camera, c.order_code, c.clip, c.seal, c.sha256, c.size,
    c.reason, c.started_at, c.ended_at, c.stored_at IS NOT NULL, c.held, s.origin";

fn found(r: &tokio_postgres::Row) -> FoundClip {
    FoundClip {
        log: r.get(12),
        station: r.get(0),
        camera: r.get(1),
        order: r.get(2),
        clip: r.get::<_, i64>(3) as u64,
        seal: r.get::<_, i64>(4) as u64,
        sha256: r.get(5),
        size: r.get::<_, i64>(6) as u64,
        reason: r.get(7),
        started_at: r.get(8),
        ended_at: r.get(9),
        archived: r.get(10),
        held: r.get(11),
    }
}

/// `LIKE` pattern of the codes starting with `prefix` (`%`, `_` and `\` taken literally).
fn starts_with(prefix: &str) -> String {
    let mut p = String::with_capacity(prefix.len() + 1);
    for ch in prefix.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

impl Archive {
    /// The agent a bearer token belongs to.
    pub async fn agent(&self, token: &str) -> Result<Option<Agent>, ArchiveError> {
        let row = get(&self.pool)
            .await?
            .query_opt(
                "SELECT name, stations FROM agents WHERE token_sha256 = $1",
                &[&token_hash(token)],
            )
            .await
            .map_err(db("looking up an agent's token"))?;
        Ok(row.map(|r| Agent {
            name: r.get(0),
            stations: r.get(1),
        }))
    }

    /// The clips of the order `code`, or of the clips a waybill `code` is attached to, that
    /// `agent` may see, oldest first.
    pub async fn find(&self, agent: &Agent, code: &str) -> Result<Vec<FoundClip>, ArchiveError> {
        let rows = get(&self.pool)
            .await?
            .query(
                &format!(
                    "{OF_CODE}
                 SELECT {FOUND} FROM clips c JOIN stations s ON s.id = c.station_id
                 WHERE (c.station_id, c.seal) IN (SELECT * FROM of_code)
                   AND ($2::text[] IS NULL OR c.station = ANY($2))
                 ORDER BY c.sealed_at, c.station_id, c.seal LIMIT 1000"
                ),
                &[&code, &agent.stations],
            )
            .await
            .map_err(db("finding an order"))?;
        Ok(rows.iter().map(found).collect())
    }

    /// The `limit` clips sealed last that `agent` may see, newest first.
    pub async fn recent(&self, agent: &Agent, limit: i64) -> Result<Vec<FoundClip>, ArchiveError> {
        let rows = get(&self.pool)
            .await?
            .query(
                &format!(
                    "SELECT {FOUND} FROM clips c JOIN stations s ON s.id = c.station_id
                 WHERE ($1::text[] IS NULL OR c.station = ANY($1))
                 ORDER BY c.sealed_at DESC LIMIT $2"
                ),
                &[&agent.stations, &limit],
            )
            .await
            .map_err(db("listing the newest clips"))?;
        Ok(rows.iter().map(found).collect())
    }

    /// The clip of SHA-256 `sha256` that `agent` may see and the bucket holds.
    pub async fn stored_clip(
        &self,
        agent: &Agent,
        sha256: &str,
    ) -> Result<Option<StoredClip>, ArchiveError> {
        let row = get(&self.pool)
            .await?
            .query_opt(
                "SELECT s.origin, c.station, c.order_code, c.clip, c.size, c.version_id
                 FROM clips c JOIN stations s ON s.id = c.station_id
                 WHERE c.sha256 = $1 AND c.stored_at IS NOT NULL
                   AND ($2::text[] IS NULL OR c.station = ANY($2))
                 ORDER BY c.sealed_at LIMIT 1",
                &[&sha256, &agent.stations],
            )
            .await
            .map_err(db("finding a stored clip"))?;
        Ok(row.map(|r| StoredClip {
            log: r.get(0),
            station: r.get(1),
            order: r.get(2),
            clip: r.get::<_, i64>(3) as u64,
            size: r.get::<_, i64>(4) as u64,
            version_id: r.get(5),
        }))
    }

    /// Up to `limit` order codes starting with `prefix` that `agent` may see, in order.
    pub async fn suggest(
        &self,
        agent: &Agent,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<String>, ArchiveError> {
        let rows = get(&self.pool)
            .await?
            .query(
                // Along `clips_order_prefix` (byte order), stopping at `limit` codes: a
                // one-letter prefix costs what a long one does.
                "SELECT DISTINCT order_code COLLATE \"C\" FROM clips
                 WHERE order_code COLLATE \"C\" LIKE $1
                   AND ($2::text[] IS NULL OR station = ANY($2))
                 ORDER BY 1 LIMIT $3",
                &[&starts_with(prefix), &agent.stations, &limit],
            )
            .await
            .map_err(db("suggesting codes"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Every station's log: what it pushed, its last seal, its clips since `since`, what
    /// the archive still lacks. A few index reads a log, whatever the clips held.
    pub async fn board(&self, since: DateTime<Utc>) -> Result<Vec<BoardRow>, ArchiveError> {
        let time = |t: Option<DateTime<Utc>>| {
            t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        };
        let rows = get(&self.pool)
            .await?
            .query(
                "SELECT s.origin, s.key_id, s.size, s.pushed_at, s.forked_at,
                        l.station, l.sealed_at, t.n, p.n, p.oldest
                 FROM stations s
                 LEFT JOIN LATERAL (SELECT station, sealed_at FROM clips
                     WHERE station_id = s.id ORDER BY seal DESC LIMIT 1) l ON true
                 LEFT JOIN LATERAL (SELECT count(*) n FROM clips
                     WHERE station_id = s.id AND sealed_at >= $1) t ON true
                 LEFT JOIN LATERAL (SELECT count(*) n, min(sealed_at) oldest FROM clips
                     WHERE station_id = s.id AND stored_at IS NULL AND gone IS NULL) p ON true
                 WHERE NOT s.access_log
                 ORDER BY s.origin",
                &[&since],
            )
            .await
            .map_err(db("reading the board"))?;
        Ok(rows
            .iter()
            .map(|r| BoardRow {
                log: r.get(0),
                key_id: r.get(1),
                lines: r.get::<_, i64>(2) as u64,
                pushed_at: time(r.get(3)),
                forked_at: time(r.get(4)),
                last_station: r.get(5),
                last_seal_at: time(r.get(6)),
                clips_today: r.get::<_, Option<i64>>(7).unwrap_or(0) as u64,
                clips_pending: r.get::<_, Option<i64>>(8).unwrap_or(0) as u64,
                oldest_pending_at: time(r.get(9)),
            })
            .collect())
    }

    /// The clips sealed and orders recorded on `day` (UTC), per station `agent` may see.
    pub async fn day_counts(
        &self,
        agent: &Agent,
        day: NaiveDate,
    ) -> Result<Vec<DayCount>, ArchiveError> {
        let from: DateTime<Utc> = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let to = from + chrono::Duration::days(1);
        let rows = get(&self.pool)
            .await?
            .query(
                "SELECT station, count(*), count(DISTINCT order_code) FROM clips
                 WHERE sealed_at >= $1 AND sealed_at < $2
                   AND ($3::text[] IS NULL OR station = ANY($3))
                 GROUP BY station ORDER BY station",
                &[&from, &to, &agent.stations],
            )
            .await
            .map_err(db("counting a day"))?;
        Ok(rows
            .iter()
            .map(|r| DayCount {
                station: r.get(0),
                clips: r.get::<_, i64>(1) as u64,
                orders: r.get::<_, i64>(2) as u64,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_prefix_is_taken_literally() {
        assert_eq!(super::starts_with("SO-1"), "SO-1%");
        assert_eq!(super::starts_with("50%_a\\"), "50\\%\\_a\\\\%");
    }
}
