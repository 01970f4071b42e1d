//! A station's anchors at the archive: the TSA tokens its log's `anchored` records name, and
//! the checkpoints its witnesses cosigned (`POST /v1/anchors`).
//!
//! Owns: the `anchors` and `witnessed` rows (schema version 3) and the objects under
//! `logs/<key id>/anchors/`. Each anchor is checked against the log the archive already
//! holds before it is stored: a token must be the bytes its `anchored` record names (SHA-256)
//! and stamp the note sent with it (its imprint); a cosigned note must carry a valid
//! cosignature of the witness key sent with it; and every note must be a checkpoint whose
//! root is the archive's own root of the log at that size (from its tiles).
//! Never: judges whether a TSA or a witness deserves trust (that is the reviewer's, with
//! their own CA and keys), or stores an anchor of lines the archive does not hold.

use chrono::{DateTime, Utc};

use super::objects::log_key;
use super::service::{get, json, text, unavailable, Archive, Station};
use super::tree::TreeView;
use super::wire::{self, AnchorFiles, AnchorsStored, PendingToken, PushAnchors, Witnessed};
use super::{db, ArchiveError};
use crate::anchor::cosign::WitnessVerifier;
use crate::anchor::witness::Answer;
use crate::anchor::witness_client::witness_id;
use crate::log::note::{unb64, Checkpoint};
use crate::log::{Body, Record};

/// Anchors taken in one request, at most.
pub const MAX_ANCHORS: usize = 256;

/// `logs/<key id>/anchors/tsa/<size>.note` (and `.tsr`), `.../witness/<id>/<size>.note`.
pub fn anchor_key(key_id: &str, witness: Option<&str>, size: u64, ext: &str) -> String {
    match witness {
        None => log_key(key_id, &format!("anchors/tsa/{size:020}.{ext}")),
        Some(w) => log_key(key_id, &format!("anchors/witness/{w}/{size:020}.{ext}")),
    }
}

/// Records, while a push is taken, the token an `anchored` record names (its files come
/// later, by `POST /v1/anchors`).
pub(super) async fn insert_token(
    tx: &deadpool_postgres::Transaction<'_>,
    st: &Station,
    rec: &Record,
) -> Result<(), ArchiveError> {
    let Body::Anchored {
        size,
        time,
        file,
        sha256,
        ..
    } = &rec.body
    else {
        return Ok(());
    };
    let time = DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&Utc));
    tx.execute(
        "INSERT INTO anchors (station_id, kind, size, line, sha256, file, time)
         VALUES ($1, 'tsa', $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        &[
            &st.id,
            &(*size as i64),
            &(rec.seq as i64),
            sha256,
            file,
            &time,
        ],
    )
    .await
    .map_err(db("recording an anchored checkpoint"))?;
    Ok(())
}

/// What `GET /v1/log` says of anchors: the first tokens the archive lacks, how many it lacks,
/// and the newest cosigned size per witness.
pub(super) async fn held(
    client: &deadpool_postgres::Object,
    st: &Station,
) -> Result<(Vec<PendingToken>, u64, Vec<Witnessed>), ArchiveError> {
    let rows = client
        .query(
            "SELECT size, file, sha256 FROM anchors
             WHERE station_id = $1 AND stored_at IS NULL ORDER BY size LIMIT $2",
            &[&st.id, &wire::PENDING_LISTED],
        )
        .await
        .map_err(db("listing the tokens it lacks"))?;
    let tokens = rows
        .iter()
        .map(|r| PendingToken {
            size: r.get::<_, i64>(0) as u64,
            file: r.get::<_, Option<String>>(1).unwrap_or_default(),
            sha256: r.get::<_, Option<String>>(2).unwrap_or_default(),
        })
        .collect();
    let total: i64 = client
        .query_one(
            "SELECT count(*) FROM anchors WHERE station_id = $1 AND stored_at IS NULL",
            &[&st.id],
        )
        .await
        .map_err(db("counting the tokens it lacks"))?
        .get(0);
    let witnessed = client
        .query(
            "SELECT witness, size FROM witnessed WHERE station_id = $1 ORDER BY witness",
            &[&st.id],
        )
        .await
        .map_err(db("reading the witnessed sizes"))?
        .iter()
        .map(|r| Witnessed {
            witness: r.get(0),
            size: r.get::<_, i64>(1) as u64,
        })
        .collect();
    Ok((tokens, total as u64, witnessed))
}

/// A refusal of one anchor: its status and why.
struct Refusal(u16, String);

impl From<ArchiveError> for Refusal {
    fn from(e: ArchiveError) -> Refusal {
        Refusal(503, e.to_string())
    }
}

/// The checkpoint a note signs, without judging its signatures (the root is what binds it).
fn checkpoint_of(note: &str) -> Result<Checkpoint, Refusal> {
    let body = note.rfind("\n\n").map(|i| &note[..i + 1]).ok_or_else(|| {
        Refusal(
            400,
            "the note has no blank line before its signatures".into(),
        )
    })?;
    Checkpoint::parse(body).map_err(|e| Refusal(400, format!("the note is not a checkpoint: {e}")))
}

impl Archive {
    /// `POST /v1/anchors`: stores each anchor that checks, in order; the first that does not
    /// ends the request with why (those before it are kept).
    pub async fn push_anchors(&self, st: &Station, req: &PushAnchors, now: u64) -> Answer {
        if req.v != wire::VERSION {
            return text(
                400,
                format!("push protocol version {} is not known here (1 is)\n", req.v),
            );
        }
        if req.anchors.len() > MAX_ANCHORS {
            return text(
                400,
                format!("at most {MAX_ANCHORS} anchors in one request\n"),
            );
        }
        let held = match self.held_size(st).await {
            Ok(h) => h,
            Err(e) => return unavailable(e),
        };
        let tree = TreeView::new(&st.key_id, held);
        let until = now as i64 + i64::from(self.retention_days) * 86_400;
        let mut stored = 0;
        for a in &req.anchors {
            let done = match a {
                AnchorFiles::Tsa { size, note, tsr } => {
                    self.store_token(st, &tree, *size, note, tsr, until).await
                }
                AnchorFiles::Witness {
                    witness_key,
                    size,
                    note,
                } => {
                    self.store_cosigned(st, &tree, witness_key, *size, note, until)
                        .await
                }
            };
            match done {
                Ok(()) => stored += 1,
                Err(Refusal(503, why)) => {
                    tracing::error!(station = %st.origin, why, "cannot store an anchor");
                    return text(
                        503,
                        format!("the archive cannot answer now ({why}); try again\n"),
                    );
                }
                Err(Refusal(status, why)) => {
                    tracing::warn!(station = %st.origin, why, "anchor refused");
                    return text(status, format!("{why}\n"));
                }
            }
        }
        json(
            200,
            &AnchorsStored {
                v: wire::VERSION,
                stored,
            },
        )
    }

    async fn held_size(&self, st: &Station) -> Result<u64, ArchiveError> {
        let client = get(&self.pool).await?;
        let row = client
            .query_one("SELECT size FROM stations WHERE id = $1", &[&st.id])
            .await
            .map_err(db("reading the station's log"))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// The note is a checkpoint of `size` lines of this log: its root is the archive's.
    async fn check_note(&self, tree: &TreeView, size: u64, note: &str) -> Result<(), Refusal> {
        let cp = checkpoint_of(note)?;
        if cp.size != size {
            return Err(Refusal(
                400,
                format!("the note is a checkpoint of {} lines, not {size}", cp.size),
            ));
        }
        if size == 0 || size > tree.held() {
            return Err(Refusal(
                409,
                format!(
                    "the archive holds {} lines of this log, not the {size} this anchor is of: push the log first",
                    tree.held()
                ),
            ));
        }
        if tree.root(self, size).await? != cp.root {
            return Err(Refusal(
                422,
                format!("the checkpoint of {size} lines is not of the log the archive holds (its root differs): a fork"),
            ));
        }
        Ok(())
    }

    async fn store_token(
        &self,
        st: &Station,
        tree: &TreeView,
        size: u64,
        note: &str,
        tsr: &str,
        until: i64,
    ) -> Result<(), Refusal> {
        let client = get(&self.pool).await?;
        let row = client
            .query_opt(
                "SELECT sha256, stored_at IS NOT NULL FROM anchors
                 WHERE station_id = $1 AND kind = 'tsa' AND witness = '' AND size = $2",
                &[&st.id, &(size as i64)],
            )
            .await
            .map_err(db("looking up an anchored record"))?;
        drop(client);
        let Some(row) = row else {
            return Err(Refusal(
                404,
                format!("no `anchored` record of this log names a token of checkpoint {size}: push the log first"),
            ));
        };
        let (want, stored): (Option<String>, bool) = (row.get(0), row.get(1));
        if stored {
            return Ok(());
        }
        let der = unb64(tsr).ok_or_else(|| Refusal(400, "the token is not base64".into()))?;
        if Some(crate::digest::sha256_hex(&der)) != want {
            return Err(Refusal(
                422,
                format!("the token of checkpoint {size} is not the one its `anchored` record names (SHA-256 differs)"),
            ));
        }
        let time = crate::anchor::tsp::claimed_time(&der, note.as_bytes())
            .map_err(|e| Refusal(422, format!("the token of checkpoint {size}: {e}")))?;
        self.check_note(tree, size, note).await?;
        let lock = Some((self.lock, until));
        self.bucket
            .put(
                &anchor_key(&st.key_id, None, size, "note"),
                note.as_bytes().to_vec(),
                lock,
            )
            .await?;
        self.bucket
            .put(&anchor_key(&st.key_id, None, size, "tsr"), der, lock)
            .await?;
        let time = DateTime::parse_from_rfc3339(&time)
            .ok()
            .map(|t| t.with_timezone(&Utc));
        let until = DateTime::from_timestamp(until, 0);
        let client = get(&self.pool).await?;
        client
            .execute(
                "UPDATE anchors SET stored_at = now(), time = $3, retain_until = $4
                 WHERE station_id = $1 AND kind = 'tsa' AND witness = '' AND size = $2",
                &[&st.id, &(size as i64), &time, &until],
            )
            .await
            .map_err(db("recording a stored token"))?;
        Ok(())
    }

    async fn store_cosigned(
        &self,
        st: &Station,
        tree: &TreeView,
        witness_key: &str,
        size: u64,
        note: &str,
        until: i64,
    ) -> Result<(), Refusal> {
        let v = WitnessVerifier::parse(witness_key)
            .map_err(|e| Refusal(400, format!("not a witness key: {e}")))?;
        let id = witness_id(witness_key);
        let Some(time) = v.cosigned(note) else {
            return Err(Refusal(
                422,
                format!(
                    "the note of checkpoint {size} has no valid cosignature by witness {} ({id})",
                    v.name
                ),
            ));
        };
        self.check_note(tree, size, note).await?;
        let lock = Some((self.lock, until));
        self.bucket
            .put(
                &anchor_key(&st.key_id, Some(&id), size, "note"),
                note.as_bytes().to_vec(),
                lock,
            )
            .await?;
        let time = DateTime::from_timestamp(time as i64, 0);
        let until = DateTime::from_timestamp(until, 0);
        let mut client = get(&self.pool).await?;
        let tx = client
            .transaction()
            .await
            .map_err(db("starting to record a cosignature"))?;
        tx.execute(
            "INSERT INTO anchors (station_id, kind, witness, size, witness_key, time, stored_at, retain_until)
             VALUES ($1, 'witness', $2, $3, $4, $5, now(), $6) ON CONFLICT DO NOTHING",
            &[&st.id, &id, &(size as i64), &witness_key.trim(), &time, &until],
        )
        .await
        .map_err(db("recording a cosignature"))?;
        tx.execute(
            "INSERT INTO witnessed (station_id, witness, size) VALUES ($1, $2, $3)
             ON CONFLICT (station_id, witness) DO UPDATE SET size = GREATEST(witnessed.size, EXCLUDED.size)",
            &[&st.id, &id, &(size as i64)],
        )
        .await
        .map_err(db("recording the newest cosigned size"))?;
        tx.commit().await.map_err(db("committing a cosignature"))?;
        Ok(())
    }
}
