//! What an archive node does with a station's request: the checks, then the writes to the
//! bucket and the database, in that order, under the station's row lock.
//!
//! Owns: registering stations and their tokens; taking a log extension (signature by the
//! registered key, `old` equal to what is held, the consistency proof, every line's `seq` and
//! `prev` chain, the root recomputed from the lines equal to the signed one) and storing it
//! as tiles, entry bundles and clip rows; taking a clip's bytes only through the store's own
//! SHA-256 check; the refusals kept as evidence.
//! Never: answers 200 before the database committed; holds anything but the request in
//! memory (the right edge of a log is a few kilobytes in its row); lets two nodes extend one
//! log at once (`SELECT ... FOR UPDATE` on the station's row serialises them).

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Pool};
use sha2::{Digest, Sha256};

use super::objects::{clip_key, log_key, Bucket, PutClip};
use super::wire::{self, ClipStored, LogHeld, PendingClip, PushLines};
use super::{db, ArchiveError};
use crate::anchor::cosign::WitnessKey;
use crate::anchor::witness::Answer;
use crate::config::{ArchiveServerConfig, LockMode};
use crate::log::merkle::{self, Hash};
use crate::log::note::{b64, unb64, Checkpoint, NoteVerifier};
use crate::log::tiles::{self, TileBuilder, WIDTH};
use crate::log::{Body, Record, GENESIS};

/// The largest push taken (lines and proof): a station sends at most this much at once.
pub const MAX_PUSH: usize = 8 << 20;

/// A registered station, as its token names it.
#[derive(Debug, Clone)]
pub struct Station {
    pub id: i64,
    pub key_id: String,
    pub origin: String,
    pub verifier: String,
}

/// An archive node.
pub struct Archive {
    pool: Pool,
    bucket: Bucket,
    key: WitnessKey,
    retention_days: u32,
    lock: LockMode,
}

fn text(status: u16, body: impl Into<String>) -> Answer {
    Answer {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.into(),
    }
}

fn json(status: u16, value: &impl serde::Serialize) -> Answer {
    Answer {
        status,
        content_type: "application/json",
        body: serde_json::to_string(value).unwrap_or_default(),
    }
}

fn unavailable(e: ArchiveError) -> Answer {
    tracing::error!(error = %e, "archive request failed");
    text(
        503,
        format!("the archive cannot answer now ({e}); try again\n"),
    )
}

/// SHA-256 of a token, as the database keeps it.
fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.trim().as_bytes()).to_vec()
}

/// The right edge of a log as its row keeps it: per level, a count byte and that many hashes.
pub fn encode_edge(levels: &[Vec<Hash>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in levels {
        out.push(l.len() as u8);
        for h in l {
            out.extend_from_slice(h);
        }
    }
    out
}

pub fn decode_edge(mut bytes: &[u8]) -> Option<Vec<Vec<Hash>>> {
    let mut levels = Vec::new();
    while let Some((&n, rest)) = bytes.split_first() {
        let len = n as usize * 32;
        if rest.len() < len {
            return None;
        }
        let hashes = rest[..len]
            .chunks_exact(32)
            .map(|c| c.try_into().ok())
            .collect::<Option<Vec<Hash>>>()?;
        levels.push(hashes);
        bytes = &rest[len..];
    }
    Some(levels)
}

/// The station name of a verifier key (`<name>+<id>+<key>`) and its key ID.
fn key_parts(verifier: &str) -> Result<(String, String), ArchiveError> {
    let v = NoteVerifier::parse(verifier).map_err(|e| {
        ArchiveError::Config(format!(
            "{verifier:?} is not a station key (`packwitness key` prints it): {e}"
        ))
    })?;
    let id = verifier
        .trim()
        .split('+')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Ok((v.name, id))
}

impl Archive {
    /// A node over the configured database and bucket, signing receipts with `key`. Checks
    /// the bucket (versioning and Object Lock) and migrates the schema.
    pub async fn open(cfg: &ArchiveServerConfig, key: WitnessKey) -> Result<Archive, ArchiveError> {
        let bucket = Bucket::new(cfg)?;
        bucket.check().await?;
        let pool = pool(cfg)?;
        let mut client = get(&pool).await?;
        super::schema::migrate(&mut client).await?;
        Ok(Archive {
            pool,
            bucket,
            key,
            retention_days: cfg.retention_days,
            lock: cfg.lock_mode,
        })
    }

    pub fn verifier(&self) -> String {
        self.key.verifier()
    }

    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    /// Registers a station's key; see [`add_station`].
    pub async fn add_station(&self, verifier: &str) -> Result<String, ArchiveError> {
        add_station(&self.pool, verifier).await
    }

    /// The station a bearer token belongs to.
    pub async fn station(&self, token: &str) -> Result<Option<Station>, ArchiveError> {
        let client = get(&self.pool).await?;
        let row = client
            .query_opt(
                "SELECT id, key_id, origin, verifier FROM stations WHERE token_sha256 = $1",
                &[&token_hash(token)],
            )
            .await
            .map_err(db("looking up a token"))?;
        Ok(row.map(|r| Station {
            id: r.get(0),
            key_id: r.get(1),
            origin: r.get(2),
            verifier: r.get(3),
        }))
    }

    /// `GET /v1/log`.
    pub async fn held(&self, st: &Station) -> Answer {
        match self.held_inner(st).await {
            Ok(h) => json(200, &h),
            Err(e) => unavailable(e),
        }
    }

    async fn held_inner(&self, st: &Station) -> Result<LogHeld, ArchiveError> {
        let client = get(&self.pool).await?;
        let row = client
            .query_one("SELECT size, root FROM stations WHERE id = $1", &[&st.id])
            .await
            .map_err(db("reading the station's log"))?;
        let (size, root): (i64, Vec<u8>) = (row.get(0), row.get(1));
        let pending = client
            .query(
                "SELECT seal, sha256, size, file, sealed_at FROM clips
                 WHERE station_id = $1 AND stored_at IS NULL AND gone IS NULL
                 ORDER BY seal LIMIT $2",
                &[&st.id, &wire::PENDING_LISTED],
            )
            .await
            .map_err(db("listing the clips it lacks"))?;
        let total: i64 = client
            .query_one(
                "SELECT count(*) FROM clips WHERE station_id = $1 AND stored_at IS NULL AND gone IS NULL",
                &[&st.id],
            )
            .await
            .map_err(db("counting the clips it lacks"))?
            .get(0);
        Ok(LogHeld {
            v: wire::VERSION,
            origin: st.origin.clone(),
            size: size as u64,
            root: if root.is_empty() {
                String::new()
            } else {
                b64(&root)
            },
            pending: pending
                .iter()
                .map(|r| PendingClip {
                    seal: r.get::<_, i64>(0) as u64,
                    sha256: r.get(1),
                    size: r.get::<_, i64>(2) as u64,
                    file: r.get(3),
                    sealed_at: r
                        .get::<_, DateTime<Utc>>(4)
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                })
                .collect(),
            pending_total: total as u64,
        })
    }

    /// `POST /v1/log`: takes lines `old+1 ..= size` with the checkpoint that signs them.
    pub async fn push(&self, st: &Station, req: &PushLines, now: u64) -> Answer {
        let checked = match check_request(st, req) {
            Ok(c) => c,
            Err(a) => return a,
        };
        match self.extend(st, req, checked, now).await {
            Ok(a) => a,
            Err(e) => unavailable(e),
        }
    }

    async fn extend(
        &self,
        st: &Station,
        req: &PushLines,
        c: Checked<'_>,
        now: u64,
    ) -> Result<Answer, ArchiveError> {
        let mut client = get(&self.pool).await?;
        let tx = client.transaction().await.map_err(db("starting a push"))?;
        let row = tx
            .query_one(
                "SELECT size, root, last_line, edge FROM stations WHERE id = $1 FOR UPDATE",
                &[&st.id],
            )
            .await
            .map_err(db("locking the station's log"))?;
        let size = row.get::<_, i64>(0) as u64;
        let root: Vec<u8> = row.get(1);
        let last_line: String = row.get(2);
        let edge: Vec<u8> = row.get(3);
        if req.old != size {
            return Ok(Answer {
                status: 409,
                content_type: "text/x.tlog.size",
                body: format!("{size}\n"),
            });
        }
        let held_root: Option<Hash> = root.as_slice().try_into().ok();
        let consistent = if c.cp.size == size {
            held_root == Some(c.cp.root) || size == 0
        } else if size == 0 {
            c.proof.is_empty()
        } else {
            held_root.is_some_and(|r| {
                merkle::verify_consistency(size, c.cp.size, &r, &c.cp.root, &c.proof)
            })
        };
        if !consistent {
            drop(tx);
            let why = format!(
                "not a consistent extension of the {size} lines the archive holds: a fork or a rewritten log"
            );
            return self.refuse(&mut client, st, &why, req).await;
        }
        // The lines: chained from the last one held, numbered on, and hashing to the signed root.
        let mut prev = if size == 0 {
            GENESIS.to_string()
        } else {
            last_line
        };
        let Some(levels) = decode_edge(&edge) else {
            return Err(ArchiveError::Database {
                what: format!("the right edge of {}'s log", st.origin),
                detail: "not readable: the row was changed outside packwitness".into(),
            });
        };
        let Some(mut builder) = TileBuilder::from_edge(size, levels) else {
            return Err(ArchiveError::Database {
                what: format!("the right edge of {}'s log", st.origin),
                detail: format!("does not fit its size {size}"),
            });
        };
        let mut full_tiles = Vec::new();
        let mut seals = Vec::new();
        let mut holds = Vec::new();
        for (i, line) in c.lines.iter().enumerate() {
            let n = size + 1 + i as u64;
            let rec: Record = match serde_json::from_slice(line) {
                Ok(r) => r,
                Err(e) => {
                    drop(tx);
                    let why = format!("line {n} is not a manifest record: {e}");
                    return self.refuse(&mut client, st, &why, req).await;
                }
            };
            if rec.seq != n || rec.prev != prev {
                drop(tx);
                let why = format!(
                    "line {n} does not continue the chain (its seq is {}, its prev {}; expected {n} and {prev})",
                    rec.seq, rec.prev
                );
                return self.refuse(&mut client, st, &why, req).await;
            }
            prev = crate::digest::sha256_hex(line);
            full_tiles.extend(builder.push(merkle::leaf_hash(line)));
            match &rec.body {
                Body::ClipSealed { .. } => seals.push(rec),
                Body::Hold {
                    clips, released, ..
                } => holds.push((
                    clips.iter().map(|c| *c as i64).collect::<Vec<i64>>(),
                    !released,
                )),
                _ => {}
            }
        }
        if builder.root() != c.cp.root {
            drop(tx);
            let why =
                "the lines sent are not the ones the checkpoint signs (their tree hash differs)";
            return self.refuse(&mut client, st, why, req).await;
        }
        // Objects first (each is a function of the verified log, so a write whose commit
        // is lost is rewritten identically), then the rows.
        let until = now as i64 + i64::from(self.retention_days) * 86_400;
        self.write_tiles(st, size, &c.lines, &full_tiles, &builder, until)
            .await?;
        for rec in &seals {
            insert_seal(&tx, st, rec).await?;
        }
        // The station's holds and releases, in log order (a clip sealed later than its hold
        // cannot be: a hold names clips the index already had).
        for (clips, on) in &holds {
            tx.execute(
                "UPDATE clips SET held = $3 WHERE station_id = $1 AND clip = ANY($2)",
                &[&st.id, clips, on],
            )
            .await
            .map_err(db("recording a hold"))?;
        }
        tx.execute(
            "UPDATE stations SET size = $2, root = $3, last_line = $4, edge = $5, checkpoint = $6, pushed_at = now() WHERE id = $1",
            &[
                &st.id,
                &(c.cp.size as i64),
                &c.cp.root.to_vec(),
                &prev,
                &encode_edge(builder.edge()),
                &req.checkpoint,
            ],
        )
        .await
        .map_err(db("recording the log's new size"))?;
        tx.commit().await.map_err(db("committing a push"))?;
        let cosig = self.key.cosign(&c.body, now);
        let note = format!("{}{cosig}", req.checkpoint);
        // After the commit, what the new size replaced: the partial tiles of the old size
        // and the older checkpoint objects (none of them locked; the rows hold the truth).
        let tidy = async {
            let key = log_key(&st.key_id, "checkpoint");
            let version = self.bucket.put(&key, note.into_bytes(), None).await?;
            self.bucket.drop_versions(&key, Some(&version)).await?;
            self.apply_holds(st.id).await?;
            if c.cp.size > size {
                for old in superseded_partials(size, c.cp.size) {
                    self.bucket
                        .drop_versions(&log_key(&st.key_id, &old), None)
                        .await?;
                }
            }
            Ok::<(), ArchiveError>(())
        };
        if let Err(e) = tidy.await {
            tracing::warn!(station = %st.origin, error = %e, "cannot replace the checkpoint object or remove superseded partial tiles (the rows hold the truth; the next push tries again)");
        }
        Ok(Answer {
            status: 200,
            content_type: "text/x.tlog.cosignature",
            body: cosig,
        })
    }

    /// Entry bundles and hash tiles of the lines after `old`: full ones locked, partial ones
    /// replaced.
    async fn write_tiles(
        &self,
        st: &Station,
        old: u64,
        lines: &[&[u8]],
        full_tiles: &[(u8, u64, Vec<Hash>)],
        builder: &TileBuilder,
        until: i64,
    ) -> Result<(), ArchiveError> {
        let lock = Some((self.lock, until));
        // Entry bundles: the partial bundle held, then the new lines.
        let mut bundle = Vec::new();
        let in_bundle = old % WIDTH;
        if in_bundle > 0 {
            let key = log_key(&st.key_id, &tiles::entries_path(old / WIDTH, in_bundle));
            bundle = self
                .bucket
                .get(&key)
                .await?
                .ok_or_else(|| ArchiveError::Store {
                    what: key.clone(),
                    detail: "the partial entry bundle of the lines held is missing".into(),
                })?;
        }
        let mut n = old;
        for line in lines {
            bundle.extend_from_slice(&(line.len() as u16).to_be_bytes());
            bundle.extend_from_slice(line);
            n += 1;
            if n.is_multiple_of(WIDTH) {
                let key = log_key(&st.key_id, &tiles::entries_path(n / WIDTH - 1, WIDTH));
                self.bucket
                    .put(&key, std::mem::take(&mut bundle), lock)
                    .await?;
            }
        }
        if !n.is_multiple_of(WIDTH) && n > old {
            let key = log_key(&st.key_id, &tiles::entries_path(n / WIDTH, n % WIDTH));
            self.bucket.put(&key, bundle, None).await?;
        }
        for (level, idx, hashes) in full_tiles {
            let key = log_key(&st.key_id, &tiles::tile_path(*level, *idx, WIDTH));
            self.bucket.put(&key, hashes.concat(), lock).await?;
        }
        if n > old {
            for (level, idx, hashes) in builder.partials() {
                let key = log_key(
                    &st.key_id,
                    &tiles::tile_path(level, idx, hashes.len() as u64),
                );
                self.bucket.put(&key, hashes.concat(), None).await?;
            }
        }
        Ok(())
    }

    /// Puts on (or lifts) the legal hold of every stored clip of station `station_id` whose
    /// hold the store does not have as wanted yet (at most 100 at a time; the rest at the
    /// next push or store).
    pub async fn apply_holds(&self, station_id: i64) -> Result<u64, ArchiveError> {
        apply_holds(&self.pool, &self.bucket, Some(station_id)).await
    }

    /// Keeps a refused push as evidence, marks the station (an alarm), answers 422.
    async fn refuse(
        &self,
        client: &mut Object,
        st: &Station,
        why: &str,
        req: &PushLines,
    ) -> Result<Answer, ArchiveError> {
        tracing::warn!(station = %st.origin, why, "push refused");
        let request = serde_json::to_string(req).unwrap_or_default();
        client
            .execute(
                "INSERT INTO refused (station_id, why, request) VALUES ($1, $2, $3)",
                &[&st.id, &why, &request],
            )
            .await
            .map_err(db("keeping a refused push"))?;
        client
            .execute(
                "UPDATE stations SET forked_at = now(), forked_why = $2 WHERE id = $1",
                &[&st.id, &why],
            )
            .await
            .map_err(db("marking the station"))?;
        Ok(text(422, format!("{why}\n")))
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
                "SELECT size, sealed_at, stored_at, version_id, retain_until FROM clips
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
        let until = sealed_at.timestamp() + i64::from(self.retention_days) * 86_400;
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

/// The partial tiles and entry bundle of a tree of `old` leaves that a tree of `new` leaves
/// no longer uses.
pub fn superseded_partials(old: u64, new: u64) -> Vec<String> {
    let mut out = Vec::new();
    if !old.is_multiple_of(WIDTH) {
        out.push(tiles::entries_path(old / WIDTH, old % WIDTH));
    }
    let mut level = 0u32;
    while old.checked_shr(8 * level).unwrap_or(0) > 0 {
        let (o, n) = (old >> (8 * level), new >> (8 * level));
        if o % WIDTH > 0 && o != n {
            out.push(tiles::tile_path(level as u8, o / WIDTH, o % WIDTH));
        }
        level += 1;
    }
    out
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn lock_name(m: LockMode) -> &'static str {
    match m {
        LockMode::Compliance => "COMPLIANCE",
        LockMode::Governance => "GOVERNANCE",
    }
}

/// A push request after the checks that need no database.
struct Checked<'a> {
    body: String,
    cp: Checkpoint,
    proof: Vec<Hash>,
    lines: Vec<&'a [u8]>,
}

fn check_request<'a>(st: &Station, req: &'a PushLines) -> Result<Checked<'a>, Answer> {
    if req.v != wire::VERSION {
        return Err(text(
            400,
            format!("push protocol version {} is not known here (1 is)\n", req.v),
        ));
    }
    let verifier = NoteVerifier::parse(&st.verifier)
        .map_err(|_| text(500, "the station's registered key is not valid\n"))?;
    let body = verifier
        .open(&req.checkpoint)
        .map_err(|e| {
            text(
                403,
                format!(
                    "the checkpoint is not signed by {}'s registered key: {e}\n",
                    st.origin
                ),
            )
        })?
        .to_string();
    let cp = Checkpoint::parse(&body).map_err(|e| text(400, format!("not a checkpoint: {e}\n")))?;
    if cp.origin != st.origin {
        return Err(text(
            403,
            format!(
                "the checkpoint is of log {:?}, not {:?}\n",
                cp.origin, st.origin
            ),
        ));
    }
    let proof = req
        .proof
        .iter()
        .map(|p| unb64(p).and_then(|h| Hash::try_from(h).ok()))
        .collect::<Option<Vec<Hash>>>()
        .filter(|p| p.len() <= 63)
        .ok_or_else(|| {
            text(
                400,
                "a proof hash is not 32 bytes of base64 (or more than 63)\n",
            )
        })?;
    let lines: Vec<&[u8]> = req
        .lines
        .as_bytes()
        .split_inclusive(|b| *b == b'\n')
        .collect();
    if lines.last().is_some_and(|l| !l.ends_with(b"\n")) {
        return Err(text(400, "the last line has no newline\n"));
    }
    if lines.iter().any(|l| l.len() > usize::from(u16::MAX)) {
        return Err(text(
            400,
            "a line is longer than an entry may be (64 KiB)\n",
        ));
    }
    if req.old.checked_add(lines.len() as u64) != Some(cp.size) {
        return Err(text(
            400,
            format!(
                "{} lines after line {} do not make the checkpoint's {} lines\n",
                lines.len(),
                req.old,
                cp.size
            ),
        ));
    }
    Ok(Checked {
        body,
        cp,
        proof,
        lines,
    })
}

async fn insert_seal(
    tx: &deadpool_postgres::Transaction<'_>,
    st: &Station,
    rec: &Record,
) -> Result<(), ArchiveError> {
    let Body::ClipSealed {
        clip,
        order,
        station,
        camera,
        file,
        reason,
        started_at,
        ended_at,
        size,
        sha256,
        ..
    } = &rec.body
    else {
        return Ok(());
    };
    let sealed_at = DateTime::parse_from_rfc3339(&rec.at)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now());
    tx.execute(
        "INSERT INTO clips (station_id, seal, clip, order_code, station, camera, file, sha256, size, reason, started_at, ended_at, sealed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
        &[
            &st.id,
            &(rec.seq as i64),
            &(*clip as i64),
            order,
            station,
            camera,
            file,
            sha256,
            &(*size as i64),
            &reason.as_str(),
            started_at,
            ended_at,
            &sealed_at,
        ],
    )
    .await
    .map_err(db("recording a sealed clip"))?;
    Ok(())
}

/// Registers a station's key in the database of `pool`; returns its new token (shown once:
/// only its hash is kept). A station already registered gets a new token (the old one stops
/// working); another key with the same key ID is refused.
pub async fn add_station(pool: &Pool, verifier: &str) -> Result<String, ArchiveError> {
    let (origin, key_id) = key_parts(verifier)?;
    let mut raw = [0u8; 32];
    getrandom::getrandom(&mut raw)
        .map_err(|e| ArchiveError::Config(format!("no randomness for a token: {e}")))?;
    let token = format!("pwa1_{}", crate::digest::hex(&raw));
    let client = get(pool).await?;
    let taken = client
        .query_opt(
            "SELECT verifier FROM stations WHERE key_id = $1",
            &[&key_id],
        )
        .await
        .map_err(db("looking for the station"))?;
    if let Some(row) = taken {
        let v: String = row.get(0);
        if v != verifier.trim() {
            return Err(ArchiveError::Config(format!(
                "another station key with the key ID {key_id} is registered ({v}); give this station a new key (`packwitness key --rotate`)"
            )));
        }
    }
    client
        .execute(
            "INSERT INTO stations (key_id, origin, verifier, token_sha256) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key_id) DO UPDATE SET token_sha256 = EXCLUDED.token_sha256",
            &[&key_id, &origin, &verifier.trim(), &token_hash(&token)],
        )
        .await
        .map_err(db("registering the station"))?;
    Ok(token)
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

/// A connection pool over `[archive_server] postgres_url`.
pub fn pool(cfg: &ArchiveServerConfig) -> Result<Pool, ArchiveError> {
    if cfg.postgres_url.is_empty() {
        return Err(ArchiveError::Config(
            "[archive_server] postgres_url is needed (e.g. postgresql://packwitness@localhost/packwitness)".into(),
        ));
    }
    let mut pc = deadpool_postgres::Config::new();
    pc.url = Some(cfg.postgres_url.clone());
    pc.pool = Some(deadpool_postgres::PoolConfig::new(8));
    pc.create_pool(
        Some(deadpool_postgres::Runtime::Tokio1),
        tokio_postgres::NoTls,
    )
    .map_err(|e| ArchiveError::Config(format!("[archive_server] postgres_url: {e}")))
}

/// A connection from the pool.
pub async fn get(pool: &Pool) -> Result<Object, ArchiveError> {
    pool.get().await.map_err(|e| ArchiveError::Database {
        what: "connecting".into(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_is_kept_and_read_back() {
        let mut b = TileBuilder::default();
        for i in 0..70_000u32 {
            b.push(merkle::leaf_hash(&i.to_be_bytes()));
        }
        let bytes = encode_edge(b.edge());
        // 70,000 = 1·65,536 + 17·256 + 112: three levels, 112 + 17 + 1 hashes.
        assert_eq!(bytes.len(), 3 + (112 + 17 + 1) * 32);
        let back = decode_edge(&bytes).unwrap();
        assert_eq!(back, b.edge());
        assert_eq!(
            TileBuilder::from_edge(70_000, back).unwrap().root(),
            b.root()
        );
        assert!(decode_edge(&[3, 0, 0]).is_none());
        assert_eq!(decode_edge(&[]).unwrap(), Vec::<Vec<Hash>>::new());
    }

    #[test]
    fn superseded_partials_are_the_old_sizes_right_edge() {
        assert_eq!(
            superseded_partials(13, 20),
            ["tile/entries/000.p/13", "tile/0/000.p/13"]
        );
        assert_eq!(
            superseded_partials(255, 256),
            ["tile/entries/000.p/255", "tile/0/000.p/255"]
        );
        // At 256 leaves the level-1 partial (one hash) is still the one of 300 leaves.
        assert!(superseded_partials(256, 300).is_empty());
        assert_eq!(
            superseded_partials(513, 1000),
            ["tile/entries/002.p/1", "tile/0/002.p/1", "tile/1/000.p/2"]
        );
        assert!(superseded_partials(0, 5).is_empty());
    }

    #[test]
    fn the_push_body_is_version_1_as_documented() {
        // docs/format.md "Archive push protocol": these names, this shape.
        let p = PushLines {
            v: 1,
            old: 2,
            proof: vec!["AAAA".into()],
            checkpoint: "origin\n3\nroot\n\n— origin sig\n".into(),
            lines: "{\"v\":3}\n".into(),
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"v":1,"old":2,"proof":["AAAA"],"checkpoint":"origin\n3\nroot\n\n— origin sig\n","lines":"{\"v\":3}\n"}"#
        );
        let held: LogHeld = serde_json::from_str(
            r#"{"v":1,"origin":"o","size":3,"root":"","pending":[{"seal":2,"sha256":"ab","size":5,"file":"clips/x.mp4","sealed_at":"2026-12-03T12:00:00.000Z"}],"pending_total":1}"#,
        )
        .unwrap();
        assert_eq!(held.pending[0].seal, 2);
    }
}
