//! Large clips in parts (`/v1/clips/<sha256>/upload`, `.../upload/<n>`, `.../complete`): an
//! S3 multipart upload that either side may resume after a crash, and that becomes an object
//! only when every byte has been checked against the seal.
//!
//! Owns: the upload's state in the clip's row (the store's upload ID, the part size, the next
//! part, each stored part's ETag and SHA-256, and the SHA-256 state of the bytes so far), so
//! that any node continues where another stopped; streaming each part to the store with the
//! store's own check of the part's SHA-256 while hashing it here; completing only when the
//! hash of all parts is the seal's, and abandoning the upload otherwise.
//! Never: lets a part out of order into the hash, completes an upload whose bytes are not the
//! sealed ones (the object would be locked), or keeps a part in memory (it streams through).

use aws_sdk_s3::primitives::ByteStream;
use axum::body::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use super::objects::clip_key;
use super::service::{get, json, text, unavailable, Archive, Station};
use super::wire::{self, UploadState};
use super::{db, ArchiveError};
use crate::anchor::witness::Answer;
use crate::digest::ResumableSha256;

/// A request body as a stream the S3 client takes, and, when `hash` is given, the SHA-256
/// state after its bytes (hashed on their way through, from that state). The task answers
/// `None` when the body broke off, or when no hash was asked for.
pub fn forward_body<S, E>(
    body: S,
    mut hash: Option<ResumableSha256>,
) -> (ByteStream, tokio::task::JoinHandle<Option<ResumableSha256>>)
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    // The body goes on as it arrives (a channel makes it the `Sync` body the S3 client
    // takes); nothing of it is kept here.
    let (mut tx, chan) = http_body_util::channel::Channel::<Bytes, E>::new(4);
    let task = tokio::spawn(async move {
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            match chunk {
                // An empty chunk is not sent on: after the body's last byte the S3 client
                // asks for trailers, and any data frame then (even an empty one) fails the
                // whole request ("Trailers polled while body still has data").
                Ok(b) if b.is_empty() => {}
                Ok(b) => {
                    if let Some(h) = hash.as_mut() {
                        h.update(&b);
                    }
                    if tx.send_data(b).await.is_err() {
                        return None;
                    }
                }
                Err(e) => {
                    tx.abort(e);
                    return None;
                }
            }
        }
        hash
    });
    (ByteStream::from_body_1_x(chan), task)
}

/// A clip's upload as its row keeps it.
struct Upload {
    seal: i64,
    size: u64,
    stored: bool,
    sealed_at: DateTime<Utc>,
    retain_at_least: Option<DateTime<Utc>>,
    id: Option<String>,
    part_size: u64,
    next: i32,
    hash: Option<Vec<u8>>,
    /// (part, ETag, SHA-256 hex) of each stored part.
    parts: Vec<(i32, String, String)>,
}

impl Upload {
    fn parts_total(&self) -> i32 {
        if self.part_size == 0 {
            return 0;
        }
        self.size.div_ceil(self.part_size).max(1) as i32
    }

    fn state(&self) -> UploadState {
        UploadState {
            v: wire::VERSION,
            part_size: self.part_size,
            next_part: self.next as u32,
            parts: self.parts_total() as u32,
            stored: self.stored,
        }
    }

    /// The length of part `n`.
    fn part_len(&self, n: i32) -> u64 {
        let from = (n as u64 - 1) * self.part_size;
        self.size.saturating_sub(from).min(self.part_size)
    }
}

impl Archive {
    async fn upload_row(&self, st: &Station, sha256: &str) -> Result<Option<Upload>, ArchiveError> {
        let client = get(&self.pool).await?;
        let row = client
            .query_opt(
                "SELECT seal, size, stored_at IS NOT NULL, sealed_at, retain_at_least, upload_id,
                        upload_part_size, upload_next, upload_hash, upload_parts
                 FROM clips WHERE station_id = $1 AND sha256 = $2 ORDER BY seal LIMIT 1",
                &[&st.id, &sha256],
            )
            .await
            .map_err(db("looking up the clip's upload"))?;
        Ok(row.map(|r| Upload {
            seal: r.get(0),
            size: r.get::<_, i64>(1) as u64,
            stored: r.get(2),
            sealed_at: r.get(3),
            retain_at_least: r.get(4),
            id: r.get(5),
            part_size: r.get::<_, Option<i64>>(6).unwrap_or(0) as u64,
            next: r.get::<_, Option<i32>>(7).unwrap_or(1),
            hash: r.get(8),
            parts: r
                .get::<_, Option<String>>(9)
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or_default(),
        }))
    }

    fn no_seal(st: &Station, sha256: &str) -> Answer {
        text(
            404,
            format!(
                "no clip_sealed record of {} names {sha256}: push the log first\n",
                st.origin
            ),
        )
    }

    /// `POST /v1/clips/<sha256>/upload`: starts (or finds) the clip's upload; where it is.
    pub async fn upload_start(&self, st: &Station, sha256: &str) -> Answer {
        match self.upload_start_inner(st, sha256).await {
            Ok(a) => a,
            Err(e) => unavailable(e),
        }
    }

    async fn upload_start_inner(&self, st: &Station, sha256: &str) -> Result<Answer, ArchiveError> {
        let Some(mut up) = self.upload_row(st, sha256).await? else {
            return Ok(Self::no_seal(st, sha256));
        };
        if up.stored || up.id.is_some() {
            return Ok(json(200, &up.state()));
        }
        let until = (up.sealed_at.timestamp() + i64::from(self.retention_days) * 86_400)
            .max(Utc::now().timestamp() + 86_400)
            .max(up.retain_at_least.map_or(0, |t| t.timestamp()));
        let id = self
            .bucket
            .start_upload(&clip_key(sha256), self.lock, until)
            .await?;
        let client = get(&self.pool).await?;
        let taken = client
            .execute(
                "UPDATE clips SET upload_id = $3, upload_part_size = $4, upload_next = 1,
                        upload_hash = $5, upload_parts = '[]'
                 WHERE station_id = $1 AND seal = $2 AND upload_id IS NULL",
                &[
                    &st.id,
                    &up.seal,
                    &id,
                    &(self.part_size as i64),
                    &ResumableSha256::default().to_bytes(),
                ],
            )
            .await
            .map_err(db("recording the clip's upload"))?;
        drop(client);
        if taken == 0 {
            // Another node started one meanwhile: that one goes on, this one is dropped.
            let _ = self.bucket.abort_upload(&clip_key(sha256), &id).await;
            return match self.upload_row(st, sha256).await? {
                Some(up) => Ok(json(200, &up.state())),
                None => Ok(Self::no_seal(st, sha256)),
            };
        }
        up.id = Some(id);
        up.part_size = self.part_size;
        up.next = 1;
        Ok(json(200, &up.state()))
    }

    /// `PUT /v1/clips/<sha256>/upload/<n>`: part `n` (`len` bytes, SHA-256 `part_sha256` as
    /// the station computed it; the store checks it).
    pub async fn upload_part<S, E>(
        &self,
        st: &Station,
        sha256: &str,
        n: i32,
        len: u64,
        part_sha256: &str,
        body: S,
    ) -> Answer
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        match self
            .upload_part_inner(st, sha256, n, len, part_sha256, body)
            .await
        {
            Ok(a) => a,
            Err(e) => unavailable(e),
        }
    }

    async fn upload_part_inner<S, E>(
        &self,
        st: &Station,
        sha256: &str,
        n: i32,
        len: u64,
        part_sha256: &str,
        body: S,
    ) -> Result<Answer, ArchiveError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let Some(part_sum) = crate::digest::unhex32(part_sha256) else {
            return Ok(text(
                400,
                "a part is sent with its SHA-256 (x-packwitness-sha256: 64 hex digits)\n",
            ));
        };
        let Some(up) = self.upload_row(st, sha256).await? else {
            return Ok(Self::no_seal(st, sha256));
        };
        let Some(id) = up.id.clone().filter(|_| !up.stored) else {
            return Ok(json(409, &up.state()));
        };
        // Parts go in order: the hash is carried from one to the next.
        if n != up.next || n > up.parts_total() {
            return Ok(json(409, &up.state()));
        }
        if len != up.part_len(n) {
            return Ok(text(
                400,
                format!(
                    "part {n} of {sha256} is {} bytes; the request has {len}\n",
                    up.part_len(n)
                ),
            ));
        }
        let Some(state) = up.hash.as_deref().and_then(ResumableSha256::from_bytes) else {
            return Err(ArchiveError::Database {
                what: format!("the upload of {sha256}"),
                detail: "its hash state is not readable: abandon it (POST .../complete answers 422 and starts over)".into(),
            });
        };
        let (stream, hashed) = forward_body(body, Some(state));
        let key = clip_key(sha256);
        let etag = match self
            .bucket
            .upload_part(&key, &id, n, stream, len, &part_sum)
            .await?
        {
            Ok(etag) => etag,
            Err(what) => {
                tracing::warn!(station = %st.origin, sha256, part = n, what, "part bytes refused by the store");
                return Ok(text(
                    422,
                    format!("the object store found that part {n} is not the bytes whose SHA-256 was sent: send it again\n"),
                ));
            }
        };
        let Ok(Some(state)) = hashed.await else {
            return Err(ArchiveError::Io {
                path: key,
                what: format!("part {n} broke off on its way"),
            });
        };
        let mut parts = up.parts.clone();
        parts.retain(|(p, _, _)| *p != n);
        parts.push((n, etag, part_sha256.to_lowercase()));
        let client = get(&self.pool).await?;
        let moved = client
            .execute(
                "UPDATE clips SET upload_next = $4, upload_hash = $5, upload_parts = $6
                 WHERE station_id = $1 AND seal = $2 AND upload_id = $3 AND upload_next = $7",
                &[
                    &st.id,
                    &up.seal,
                    &id,
                    &(n + 1),
                    &state.to_bytes(),
                    &serde_json::to_string(&parts).unwrap_or_default(),
                    &n,
                ],
            )
            .await
            .map_err(db("recording a stored part"))?;
        drop(client);
        match self.upload_row(st, sha256).await? {
            Some(now) => Ok(json(if moved == 1 { 200 } else { 409 }, &now.state())),
            None => Ok(Self::no_seal(st, sha256)),
        }
    }

    /// `POST /v1/clips/<sha256>/complete`: the object, once every part is stored and the
    /// hash of all of them is the seal's; otherwise the upload is abandoned (422).
    pub async fn upload_complete(&self, st: &Station, sha256: &str) -> Answer {
        match self.upload_complete_inner(st, sha256).await {
            Ok(a) => a,
            Err(e) => unavailable(e),
        }
    }

    async fn upload_complete_inner(
        &self,
        st: &Station,
        sha256: &str,
    ) -> Result<Answer, ArchiveError> {
        let Some(up) = self.upload_row(st, sha256).await? else {
            return Ok(Self::no_seal(st, sha256));
        };
        if up.stored {
            return Ok(self.clip_stored(st, sha256).await);
        }
        let Some(id) = up.id.clone() else {
            return Ok(json(409, &up.state()));
        };
        if up.next <= up.parts_total() {
            return Ok(json(409, &up.state()));
        }
        let key = clip_key(sha256);
        let state = up.hash.as_deref().and_then(ResumableSha256::from_bytes);
        let whole = state
            .as_ref()
            .filter(|s| s.len() == up.size)
            .map(|s| crate::digest::hex(&s.finish()));
        let parts: Option<Vec<(i32, String, [u8; 32])>> = up
            .parts
            .iter()
            .map(|(n, etag, sum)| Some((*n, etag.clone(), crate::digest::unhex32(sum)?)))
            .collect();
        let (Some(whole), Some(mut parts)) = (whole, parts) else {
            return self
                .abandon(st, &up, &id, sha256, "its state is not readable")
                .await;
        };
        if whole != sha256 {
            tracing::warn!(station = %st.origin, sha256, got = whole, "uploaded parts are not the sealed clip");
            return self
                .abandon(
                    st,
                    &up,
                    &id,
                    sha256,
                    "the parts sent are not the bytes the seal names",
                )
                .await;
        }
        parts.sort_by_key(|p| p.0);
        let version = self.bucket.complete_upload(&key, &id, &parts).await?;
        let locked = self
            .bucket
            .head(&key)
            .await?
            .ok_or_else(|| ArchiveError::Store {
                what: key.clone(),
                detail: "not in the bucket right after its upload completed".into(),
            })?;
        let retain = DateTime::<Utc>::from_timestamp(locked.retain_until, 0);
        let client = get(&self.pool).await?;
        client
            .execute(
                "UPDATE clips SET stored_at = now(), version_id = $3, retain_until = $4,
                        upload_id = NULL, upload_hash = NULL, upload_parts = NULL, upload_next = NULL
                 WHERE station_id = $1 AND sha256 = $2 AND stored_at IS NULL",
                &[&st.id, &sha256, &version, &retain],
            )
            .await
            .map_err(db("recording the stored clip"))?;
        drop(client);
        if let Err(e) = self.apply_holds(st.id).await {
            tracing::warn!(station = %st.origin, error = %e, "cannot apply legal holds now; tried again at the next push");
        }
        Ok(self.clip_stored(st, sha256).await)
    }

    /// Abandons an upload whose bytes cannot be the sealed ones: 422, and the next start
    /// begins again from part 1.
    async fn abandon(
        &self,
        st: &Station,
        up: &Upload,
        id: &str,
        sha256: &str,
        why: &str,
    ) -> Result<Answer, ArchiveError> {
        if let Err(e) = self.bucket.abort_upload(&clip_key(sha256), id).await {
            tracing::warn!(sha256, error = %e, "cannot abandon the upload in the store (its parts stay until the bucket's lifecycle removes them)");
        }
        let client = get(&self.pool).await?;
        client
            .execute(
                "UPDATE clips SET upload_id = NULL, upload_hash = NULL, upload_parts = NULL, upload_next = NULL
                 WHERE station_id = $1 AND seal = $2 AND upload_id = $3",
                &[&st.id, &up.seal, &id],
            )
            .await
            .map_err(db("abandoning the upload"))?;
        Ok(text(
            422,
            format!("{sha256}: {why}; nothing was stored (start again)\n"),
        ))
    }
}
