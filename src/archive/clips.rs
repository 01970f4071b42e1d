//! Taking a clip's bytes (`PUT /v1/clips/<sha256>`), clips a station lost, and legal holds.
//!
//! Owns: streaming a clip to the store with the store's own SHA-256 check against the seal
//! and its lock until seal + `retention_days`; the rows that say a clip is stored or gone;
//! applying the legal holds wanted (from the stations' `hold` records or `archive hold`) until
//! the store has them; extending an order's retention in a dispute, with the objects its
//! proofs need (entry bundle, hash tiles on its path, the anchors covering it). Never: stores
//! bytes without the store's SHA-256 check, lifts a hold another seal of the same bytes still
//! wants, or shortens a lock.

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use super::objects::{clip_key, log_key, Bucket, PutClip};
use super::service::{get, json, text, unavailable, Archive, Station};
use super::wire::{self, ClipStored};
use super::{db, ArchiveError};
use crate::anchor::witness::Answer;
use crate::config::LockMode;

impl Archive {
    /// Puts on (or lifts) the legal hold of every stored clip of station `station_id` whose
    /// hold the store does not have as wanted yet (at most 100 at a time; the rest at the
    /// next push or store).
    pub async fn apply_holds(&self, station_id: i64) -> Result<u64, ArchiveError> {
        apply_holds(&self.pool, &self.bucket, Some(station_id)).await
    }

    /// `PUT /v1/clips/<sha256>`: the bytes of a sealed clip of this station, `len` long.
    pub async fn put_clip(&self, st: &Station, sha256: &str, len: u64, body: ByteStream) -> Answer {
        match self.put_clip_inner(st, sha256, len, body).await {
            Ok(a) => a,
            Err(e) => unavailable(e),
        }
    }

    async fn put_clip_inner(
        &self,
        st: &Station,
        sha256: &str,
        len: u64,
        body: ByteStream,
    ) -> Result<Answer, ArchiveError> {
        let Some(sum) = crate::digest::unhex32(sha256).filter(|_| sha256 == sha256.to_lowercase())
        else {
            return Ok(text(
                400,
                "a clip is named by its SHA-256 in 64 lowercase hex digits\n",
            ));
        };
        let client = get(&self.pool).await?;
        let row = client
            .query_opt(
                "SELECT size, sealed_at, stored_at, version_id, retain_until, retain_at_least FROM clips
                 WHERE station_id = $1 AND sha256 = $2 ORDER BY seal LIMIT 1",
                &[&st.id, &sha256],
            )
            .await
            .map_err(db("looking up the clip's seal"))?;
        let Some(row) = row else {
            return Ok(text(
                404,
                format!(
                    "no clip_sealed record of {} names {sha256}: push the log first\n",
                    st.origin
                ),
            ));
        };
        let size = row.get::<_, i64>(0) as u64;
        if size != len {
            return Ok(text(
                400,
                format!("the seal of {sha256} says {size} bytes; the request has {len}\n"),
            ));
        }
        let key = clip_key(sha256);
        let stored: Option<DateTime<Utc>> = row.get(2);
        if stored.is_some() {
            let until: Option<DateTime<Utc>> = row.get(4);
            return Ok(json(
                200,
                &ClipStored {
                    v: wire::VERSION,
                    sha256: sha256.to_string(),
                    key,
                    version_id: row.get::<_, Option<String>>(3).unwrap_or_default(),
                    lock_mode: lock_name(self.lock).into(),
                    retain_until: until.map(rfc3339).unwrap_or_default(),
                },
            ));
        }
        let sealed_at: DateTime<Utc> = row.get(1);
        // Seal + retention, but never a lock that has already run out (an old data dir sent
        // late): then a day from now, so that what is archived is always under lock.
        // A clip whose retention was extended (a dispute) before its bytes came: that long.
        let at_least: Option<DateTime<Utc>> = row.get(5);
        let until = (sealed_at.timestamp() + i64::from(self.retention_days) * 86_400)
            .max(Utc::now().timestamp() + 86_400)
            .max(at_least.map_or(0, |t| t.timestamp()));
        let locked = match self.bucket.head(&key).await? {
            // Stored before (the same bytes from another seal, or a row update lost).
            Some(l) if l.retain_until >= until => l,
            _ => match self
                .bucket
                .put_clip(&key, body, len, &sum, self.lock, until)
                .await?
            {
                PutClip::Stored(l) => l,
                PutClip::BadDigest(what) => {
                    tracing::warn!(station = %st.origin, sha256, what, "clip bytes refused by the store");
                    return Ok(text(
                        422,
                        format!("the object store found that these bytes are not the clip {sha256} sealed: nothing was stored\n"),
                    ));
                }
            },
        };
        let retain = DateTime::<Utc>::from_timestamp(locked.retain_until, 0);
        // A clip held before its bytes arrived gets its hold now (below, after the row).
        client
            .execute(
                "UPDATE clips SET stored_at = now(), version_id = $3, retain_until = $4
                 WHERE station_id = $1 AND sha256 = $2 AND stored_at IS NULL",
                &[&st.id, &sha256, &locked.version_id, &retain],
            )
            .await
            .map_err(db("recording the stored clip"))?;
        drop(client);
        if let Err(e) = self.apply_holds(st.id).await {
            tracing::warn!(station = %st.origin, error = %e, "cannot apply legal holds now; tried again at the next push");
        }
        Ok(json(
            200,
            &ClipStored {
                v: wire::VERSION,
                sha256: sha256.to_string(),
                key,
                version_id: locked.version_id,
                lock_mode: locked.mode,
                retain_until: retain.map(rfc3339).unwrap_or_default(),
            },
        ))
    }

    /// `GET /v1/clips/<sha256>`: how the store holds a clip of this station (200), or 404.
    pub async fn clip_stored(&self, st: &Station, sha256: &str) -> Answer {
        let found = async {
            let client = get(&self.pool).await?;
            client
                .query_opt(
                    "SELECT version_id, retain_until FROM clips
                     WHERE station_id = $1 AND sha256 = $2 AND stored_at IS NOT NULL LIMIT 1",
                    &[&st.id, &sha256],
                )
                .await
                .map_err(db("looking up a stored clip"))
        };
        match found.await {
            Ok(Some(row)) => json(
                200,
                &ClipStored {
                    v: wire::VERSION,
                    sha256: sha256.to_string(),
                    key: clip_key(sha256),
                    version_id: row.get::<_, Option<String>>(0).unwrap_or_default(),
                    lock_mode: lock_name(self.lock).into(),
                    retain_until: row
                        .get::<_, Option<DateTime<Utc>>>(1)
                        .map(rfc3339)
                        .unwrap_or_default(),
                },
            ),
            Ok(None) => text(
                404,
                format!("the archive holds no clip {sha256} of {}\n", st.origin),
            ),
            Err(e) => unavailable(e),
        }
    }

    /// `GET /v1/clips/<sha256>/bytes`: the stored bytes of a clip of this station (and of no
    /// other: a station's token reads its own log's clips only), streaming from the store;
    /// `Ok(None)` when the archive holds no such clip of it.
    pub async fn clip_bytes(
        &self,
        st: &Station,
        sha256: &str,
    ) -> Result<Option<(u64, aws_sdk_s3::primitives::ByteStream)>, ArchiveError> {
        let client = get(&self.pool).await?;
        let held = client
            .query_opt(
                "SELECT 1 FROM clips
                 WHERE station_id = $1 AND sha256 = $2 AND stored_at IS NOT NULL LIMIT 1",
                &[&st.id, &sha256],
            )
            .await
            .map_err(db("looking up a stored clip"))?;
        if held.is_none() {
            return Ok(None);
        }
        drop(client);
        self.bucket.get_stream(&clip_key(sha256)).await
    }

    /// `POST /v1/clips/<sha256>/gone`: the station cannot send these bytes any more.
    pub async fn gone(&self, st: &Station, sha256: &str, why: &str) -> Answer {
        let done = async {
            let client = get(&self.pool).await?;
            client
                .execute(
                    "UPDATE clips SET gone = $3 WHERE station_id = $1 AND sha256 = $2 AND stored_at IS NULL AND gone IS NULL",
                    &[&st.id, &sha256, &why],
                )
                .await
                .map_err(db("recording a clip the station lost"))
        };
        match done.await {
            Ok(n) => {
                tracing::warn!(station = %st.origin, sha256, why, "a station cannot send a sealed clip");
                text(200, format!("{n} clip(s) recorded as gone\n"))
            }
            Err(e) => unavailable(e),
        }
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(super) fn lock_name(m: LockMode) -> &'static str {
    match m {
        LockMode::Compliance => "COMPLIANCE",
        LockMode::Governance => "GOVERNANCE",
    }
}

/// Applies the legal holds the store lacks (of one station, or of all), 100 at a time;
/// returns how many were applied.
pub async fn apply_holds(
    pool: &Pool,
    bucket: &Bucket,
    station_id: Option<i64>,
) -> Result<u64, ArchiveError> {
    let client = get(pool).await?;
    let rows = client
        .query(
            "SELECT station_id, seal, sha256, held FROM clips
             WHERE held <> hold_applied AND stored_at IS NOT NULL
               AND ($1::bigint IS NULL OR station_id = $1) LIMIT 100",
            &[&station_id],
        )
        .await
        .map_err(db("listing holds to apply"))?;
    let mut n = 0;
    for r in rows {
        let (sid, seal, sha, held): (i64, i64, String, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        // The same bytes sealed twice are one object: released only when no row holds it.
        let others: i64 = client
            .query_one(
                "SELECT count(*) FROM clips WHERE sha256 = $1 AND held AND NOT (station_id = $2 AND seal = $3)",
                &[&sha, &sid, &seal],
            )
            .await
            .map_err(db("looking for other holds"))?
            .get(0);
        if held || others == 0 {
            bucket.legal_hold(&clip_key(&sha), held).await?;
        }
        client
            .execute(
                "UPDATE clips SET hold_applied = $3 WHERE station_id = $1 AND seal = $2",
                &[&sid, &seal, &held],
            )
            .await
            .map_err(db("recording an applied hold"))?;
        n += 1;
    }
    Ok(n)
}

/// What holding an order did.
#[derive(Debug, Default)]
pub struct Held {
    /// Clips of the order, legal holds changed in the store now.
    pub clips: u64,
    pub holds_applied: u64,
    /// Objects (clips and the objects their proofs need) whose lock was extended now, and
    /// until when (Unix seconds; 0 when nothing was extended).
    pub extended: u64,
    pub until: i64,
}

/// Holds (or releases) every archived clip of `order`, of every station; with `retain`, also
/// keeps the clips and the objects their proofs need locked (`lock`) for at least that many
/// days from now (a lock is never shortened).
pub async fn hold(
    pool: &Pool,
    bucket: &Bucket,
    lock: LockMode,
    order: &str,
    on: bool,
    retain: Option<u32>,
) -> Result<Held, ArchiveError> {
    let (clips, holds_applied) = hold_order(pool, bucket, order, on).await?;
    let mut held = Held {
        clips,
        holds_applied,
        ..Held::default()
    };
    if let Some(days) = retain {
        held.until = chrono::Utc::now().timestamp() + i64::from(days) * 86_400;
        let (_, extended) = extend(pool, bucket, lock, Clips::Order(order), held.until).await?;
        held.extended = extended;
    }
    Ok(held)
}

impl super::service::Archive {
    /// Holds (or releases) every clip of `order`; a hold keeps them locked for at least
    /// `retention_days` from now.
    pub async fn hold(&self, order: &str, on: bool) -> Result<Held, ArchiveError> {
        let retain = on.then_some(self.retention_days);
        hold(&self.pool, &self.bucket, self.lock, order, on, retain).await
    }
}

/// `archive hold ORDER`: holds (or releases) every clip of an order, of every station, at the
/// archive itself; returns the clips and how many holds were applied now.
pub async fn hold_order(
    pool: &Pool,
    bucket: &Bucket,
    order: &str,
    on: bool,
) -> Result<(u64, u64), ArchiveError> {
    let client = get(pool).await?;
    let clips = client
        .execute(
            "UPDATE clips SET held = $2 WHERE order_code = $1",
            &[&order, &on],
        )
        .await
        .map_err(db("holding the order's clips"))?;
    drop(client);
    let mut applied = 0;
    loop {
        let n = apply_holds(pool, bucket, None).await?;
        applied += n;
        if n < 100 {
            break;
        }
    }
    Ok((clips, applied))
}

/// The objects a bundle of the clip sealed on line `seal` needs besides the clip, as far as
/// they are locked objects: its entry bundle and the hash tiles on its path (full ones; the
/// right edge is replaced by later pushes, locked then), and the earliest TSA token and
/// cosignature of each witness covering it.
async fn proof_keys(
    client: &deadpool_postgres::Object,
    station_id: i64,
    key_id: &str,
    size: u64,
    seal: u64,
) -> Result<Vec<String>, ArchiveError> {
    use crate::log::tiles::{entries_path, tile_path, WIDTH};
    let mut keys = Vec::new();
    let i = seal.saturating_sub(1);
    if (i / WIDTH + 1) * WIDTH <= size {
        keys.push(log_key(key_id, &entries_path(i / WIDTH, WIDTH)));
    }
    let mut level = 0u32;
    while level < 8 && (size >> (8 * level)) > 0 {
        let n = i >> (8 * (level + 1));
        if (n + 1) * WIDTH > size >> (8 * level) {
            break;
        }
        keys.push(log_key(key_id, &tile_path(level as u8, n, WIDTH)));
        level += 1;
    }
    let mut parties = vec![("tsa".to_string(), String::new())];
    for r in client
        .query(
            "SELECT witness FROM witnessed WHERE station_id = $1",
            &[&station_id],
        )
        .await
        .map_err(db("listing the station's witnesses"))?
    {
        parties.push(("witness".into(), r.get(0)));
    }
    for (kind, witness) in parties {
        let row = client
            .query_opt(
                "SELECT size FROM anchors WHERE station_id = $1 AND kind = $2 AND witness = $3
                 AND size >= $4 AND stored_at IS NOT NULL ORDER BY size LIMIT 1",
                &[&station_id, &kind, &witness, &(seal as i64)],
            )
            .await
            .map_err(db("finding the anchors of a clip"))?;
        let Some(row) = row else { continue };
        let at = row.get::<_, i64>(0) as u64;
        if kind == "tsa" {
            keys.push(super::anchors::anchor_key(key_id, None, at, "note"));
            keys.push(super::anchors::anchor_key(key_id, None, at, "tsr"));
        } else {
            keys.push(super::anchors::anchor_key(
                key_id,
                Some(&witness),
                at,
                "note",
            ));
        }
    }
    Ok(keys)
}

/// Which clips [`extend`] keeps locked.
pub enum Clips<'a> {
    /// Every clip of an order, of every station (`archive hold`).
    Order(&'a str),
    /// Clips of one station by their `clip_opened` line (a station's `hold` record).
    Station(i64, &'a [i64]),
}

/// Keeps the clips chosen and the objects their proofs need locked until at least `until`
/// (Unix seconds); a clip whose bytes have not arrived gets that lock when they do. Returns
/// (clips, objects whose lock was extended now).
pub async fn extend(
    pool: &Pool,
    bucket: &Bucket,
    lock: LockMode,
    which: Clips<'_>,
    until: i64,
) -> Result<(u64, u64), ArchiveError> {
    let at = DateTime::<Utc>::from_timestamp(until, 0);
    let client = get(pool).await?;
    const SET: &str = "UPDATE clips c SET retain_at_least = GREATEST(c.retain_at_least, $1)
             FROM stations s WHERE s.id = c.station_id AND ";
    const RETURNING: &str =
        " RETURNING c.station_id, s.key_id, s.size, c.seal, c.sha256, c.stored_at IS NOT NULL";
    let rows = match which {
        Clips::Order(order) => {
            client
                .query(
                    &format!("{SET}c.order_code = $2{RETURNING}"),
                    &[&at, &order],
                )
                .await
        }
        Clips::Station(sid, clips) => {
            client
                .query(
                    &format!("{SET}c.station_id = $2 AND c.clip = ANY($3){RETURNING}"),
                    &[&at, &sid, &clips],
                )
                .await
        }
    }
    .map_err(db("extending the retention of held clips"))?;
    let mut extended = 0;
    for r in &rows {
        let (sid, key_id, size, seal, sha, stored): (i64, String, i64, i64, String, bool) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
        let mut keys = proof_keys(&client, sid, &key_id, size as u64, seal as u64).await?;
        if stored {
            keys.push(clip_key(&sha));
        }
        for key in keys {
            if bucket.extend_retention(&key, lock, until).await? == Some(true) {
                extended += 1;
            }
        }
        if stored {
            client
                .execute(
                    "UPDATE clips SET retain_until = GREATEST(retain_until, $3) WHERE station_id = $1 AND seal = $2",
                    &[&sid, &seal, &at],
                )
                .await
                .map_err(db("recording a clip's extended retention"))?;
        }
    }
    Ok((rows.len() as u64, extended))
}
