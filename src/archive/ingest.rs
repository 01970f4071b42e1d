//! Taking a station's log extension (`POST /v1/log`): the checks, then the writes to the
//! bucket and the database, in that order, under the station's row lock.
//!
//! Owns: the checks of a push (signature by the registered key, `old` equal to what is held,
//! the consistency proof, every line's `seq` and `prev` chain, the root recomputed from the
//! lines equal to the signed one), storing the lines as tiles, entry bundles and clip rows,
//! the station's holds, the refusals kept as evidence, and removing what a new size
//! supersedes. Never: stores or cosigns a line that failed a check, or locks a partial tile.

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;

use super::objects::log_key;
use super::service::{get, text, unavailable, Archive, Station};
use super::wire::{self, PushLines};
use super::{db, ArchiveError};
use crate::anchor::witness::Answer;
use crate::log::merkle::{self, Hash};
use crate::log::note::{unb64, Checkpoint, NoteVerifier};
use crate::log::tiles::{self, TileBuilder, WIDTH};
use crate::log::{Body, Record, GENESIS};

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

impl Archive {
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
        let mut tokens = Vec::new();
        let mut holds = Vec::new();
        let mut about = Vec::new();
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
            if crate::log::orders::about(&rec.body).is_some() {
                about.push(rec);
                continue;
            }
            match &rec.body {
                Body::ClipSealed { .. } => seals.push(rec),
                Body::Anchored { .. } => tokens.push(rec),
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
        for rec in &tokens {
            super::anchors::insert_token(&tx, st, rec).await?;
        }
        insert_order_lines(&tx, st, &about).await?;
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
        if let Some(key) = &c.rotated {
            // The log keeps its folder (`logs/<first key ID>/`); later checkpoints are
            // checked with the key the log handed over to.
            tx.execute(
                "UPDATE stations SET verifier = $2, origin = $3 WHERE id = $1",
                &[&st.id, key, &c.cp.origin],
            )
            .await
            .map_err(db("recording the station's new key"))?;
        }
        // The receipt, kept with the push (the first one of a size stays: the earliest).
        let cosig = self.key.cosign(&c.body, now);
        let note = format!("{}{cosig}", req.checkpoint);
        let at = DateTime::<Utc>::from_timestamp(now as i64, 0).unwrap_or_else(Utc::now);
        tx.execute(
            "INSERT INTO receipts (station_id, size, note, cosigned_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&st.id, &(c.cp.size as i64), &note, &at],
        )
        .await
        .map_err(db("keeping the receipt"))?;
        tx.commit().await.map_err(db("committing a push"))?;
        // Back to the pool before anything else takes one (holds below): a request never
        // holds two connections, so a full pool cannot deadlock.
        drop(client);
        // After the commit, what the new size replaced: the partial tiles of the old size
        // and the older checkpoint objects (none of them locked; the rows hold the truth).
        let tidy = async {
            let key = log_key(&st.key_id, "checkpoint");
            let version = self.bucket.put(&key, note.into_bytes(), None).await?;
            self.bucket.drop_versions(&key, Some(&version)).await?;
            self.apply_holds(st.id).await?;
            // A hold in the station's log also keeps the held clips' proofs (and the clips)
            // locked for `retention_days` from now, as `archive hold` does.
            let until = now as i64 + i64::from(self.retention_days) * 86_400;
            for (clips, _) in holds.iter().filter(|(_, on)| *on) {
                super::clips::extend(
                    &self.pool,
                    &self.bucket,
                    self.lock,
                    super::clips::Clips::Station(st.id, clips),
                    until,
                )
                .await?;
            }
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

/// A push request after the checks that need no database.
struct Checked<'a> {
    body: String,
    cp: Checkpoint,
    proof: Vec<Hash>,
    lines: Vec<&'a [u8]>,
    /// The key in force after the lines, when a rotation among them changed it.
    rotated: Option<String>,
}

fn check_request<'a>(st: &Station, req: &'a PushLines) -> Result<Checked<'a>, Answer> {
    if req.v != wire::VERSION {
        return Err(text(
            400,
            format!("push protocol version {} is not known here (1 is)\n", req.v),
        ));
    }
    let lines: Vec<&[u8]> = req
        .lines
        .as_bytes()
        .split_inclusive(|b| *b == b'\n')
        .collect();
    // The key that must sign the checkpoint: the registered one, or the one a signed
    // `key_rotation` among the lines handed over to (as `verify` follows them).
    let signer = key_in_force(st, req.old, &lines)?;
    let verifier = NoteVerifier::parse(&signer)
        .map_err(|_| text(500, "the station's registered key is not valid\n"))?;
    let body = verifier
        .open(&req.checkpoint)
        .map_err(|e| {
            text(
                403,
                format!(
                    "the checkpoint is not signed by {}'s registered key (or one a signed rotation handed over to): {e}\n",
                    st.origin
                ),
            )
        })?
        .to_string();
    let cp = Checkpoint::parse(&body).map_err(|e| text(400, format!("not a checkpoint: {e}\n")))?;
    if cp.origin != verifier.name {
        return Err(text(
            403,
            format!(
                "the checkpoint is of log {:?}, not {:?}\n",
                cp.origin, verifier.name
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
    let rotated = (signer != st.verifier).then_some(signer);
    Ok(Checked {
        body,
        cp,
        proof,
        lines,
        rotated,
    })
}

/// The station key in force after `lines` (numbered from `old + 1`): the registered one,
/// handed over by each `key_rotation` that the key in force signed. A rotation not signed
/// by the key in force is refused (403), as `verify` flags it.
fn key_in_force(st: &Station, old: u64, lines: &[&[u8]]) -> Result<String, Answer> {
    let mut key = st.verifier.clone();
    for (i, line) in lines.iter().enumerate() {
        // Only a line that names the kind is parsed here (the chain pass parses them all).
        if !line.windows(14).any(|w| w == b"\"key_rotation\"") {
            continue;
        }
        let Ok(Record {
            body:
                Body::KeyRotation {
                    old: from,
                    new,
                    note,
                },
            ..
        }) = serde_json::from_slice::<Record>(line)
        else {
            continue;
        };
        let n = old + 1 + i as u64;
        let signed = NoteVerifier::parse(&key).ok().is_some_and(|v| {
            from.trim() == key.trim()
                && v.open(&note).is_ok_and(|body| {
                    body == format!("packwitness key rotation\nold {from}\nnew {new}\n")
                })
        });
        if !signed || NoteVerifier::parse(&new).is_err() {
            return Err(text(
                403,
                format!("line {n}: the key rotation to {new} is not signed by the key in force\n"),
            ));
        }
        key = new.trim().to_string();
    }
    Ok(key)
}

/// A row of `order_lines`.
#[derive(Default)]
struct OrderRow<'a> {
    kind: &'a str,
    station: Option<&'a str>,
    order: Option<String>,
    clip: Option<i64>,
    code: Option<&'a str>,
    clips: Option<Vec<i64>>,
}

/// The lines about an order beyond its clips (see [`crate::log::orders`]), one row each; a
/// stop code's row names the order its station scanned last.
async fn insert_order_lines(
    tx: &deadpool_postgres::Transaction<'_>,
    st: &Station,
    records: &[Record],
) -> Result<(), ArchiveError> {
    use crate::log::orders::{about, About};
    let mut last_scanned: std::collections::HashMap<String, Option<String>> = Default::default();
    for rec in records {
        let line = rec.seq as i64;
        let Some(what) = about(&rec.body) else {
            continue;
        };
        let row = match what {
            About::Order {
                order,
                station,
                kind,
            } => {
                let order = match order {
                    Some(o) => Some(o.to_string()),
                    None => match last_scanned.get(station) {
                        Some(o) => o.clone(),
                        None => tx
                            .query_opt(
                                "SELECT order_code FROM order_lines WHERE station_id = $1
                                 AND station = $2 AND kind = 'scan' ORDER BY line DESC LIMIT 1",
                                &[&st.id, &station],
                            )
                            .await
                            .map_err(db("finding the order a stop code stopped"))?
                            .and_then(|r| r.get::<_, Option<String>>(0)),
                    },
                };
                if kind == "scan" {
                    last_scanned.insert(station.to_string(), order.clone());
                }
                if order.is_none() {
                    continue;
                }
                OrderRow {
                    kind,
                    station: Some(station),
                    order,
                    ..OrderRow::default()
                }
            }
            About::Attached { clip, code } => OrderRow {
                kind: "code_attached",
                clip: Some(clip as i64),
                code: Some(code),
                ..OrderRow::default()
            },
            About::Upload { clips } => OrderRow {
                kind: "upload_mp4",
                clips: Some(clips.iter().map(|c| *c as i64).collect()),
                ..OrderRow::default()
            },
        };
        tx.execute(
            "INSERT INTO order_lines (station_id, line, kind, station, order_code, clip, code, clips)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            &[
                &st.id,
                &line,
                &row.kind,
                &row.station,
                &row.order,
                &row.clip,
                &row.code,
                &row.clips,
            ],
        )
        .await
        .map_err(db("recording a line about an order"))?;
    }
    Ok(())
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
    fn a_rotation_signed_by_the_key_in_force_hands_over_and_no_other_does() {
        use crate::log::note::StationKey;
        let k1 = StationKey::generate("st1").unwrap();
        let k2 = StationKey::generate("st1").unwrap();
        let st = Station {
            id: 1,
            key_id: "00000000".into(),
            origin: k1.name().into(),
            verifier: k1.verifier(),
        };
        let body = format!(
            "packwitness key rotation\nold {}\nnew {}\n",
            k1.verifier(),
            k2.verifier()
        );
        let line = |signer: &StationKey| {
            let rec = Record {
                v: 3,
                seq: 8,
                prev: GENESIS.into(),
                at: "2026-12-03T12:00:00.000+08:00".into(),
                salt: None,
                body: Body::KeyRotation {
                    old: k1.verifier(),
                    new: k2.verifier(),
                    note: signer.sign(&body),
                },
            };
            format!("{}\n", serde_json::to_string(&rec).unwrap())
        };
        let good = line(&k1);
        assert_eq!(
            key_in_force(&st, 7, &[good.as_bytes()]).unwrap(),
            k2.verifier()
        );
        // Signed by the new key itself: refused, as `verify` refuses it.
        let forged = line(&k2);
        let refused = key_in_force(&st, 7, &[forged.as_bytes()]).unwrap_err();
        assert_eq!(refused.status, 403);
        assert!(refused.body.contains("line 8"), "{}", refused.body);
        // A push whose checkpoint the new key signs, after the rotation: taken, rotated.
        let root = merkle::leaf_hash(good.as_bytes());
        let cp = Checkpoint {
            origin: k2.name().into(),
            size: 1,
            root,
            time: None,
            salt: None,
        };
        let req = PushLines {
            v: 1,
            old: 0,
            proof: vec![],
            checkpoint: k2.sign(&cp.body()),
            lines: good.clone(),
        };
        let checked = check_request(&st, &req).unwrap();
        assert_eq!(checked.rotated, Some(k2.verifier()));
        // The same checkpoint without the rotation among the lines: not the registered key.
        let req = PushLines {
            lines: "{}\n".into(),
            ..req
        };
        assert_eq!(check_request(&st, &req).err().unwrap().status, 403);
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
        let held: wire::LogHeld = serde_json::from_str(
            r#"{"v":1,"origin":"o","size":3,"root":"","pending":[{"seal":2,"sha256":"ab","size":5,"file":"clips/x.mp4","sealed_at":"2026-12-03T12:00:00.000Z"}],"pending_total":1}"#,
        )
        .unwrap();
        assert_eq!(held.pending[0].seal, 2);
    }
}
