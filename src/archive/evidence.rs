//! What a bundle made at the archive needs, read from the bucket and the database: an order's
//! archived clips, the log lines a bundle cites (from the entry bundles), their proofs (from
//! the hash tiles), the TSA tokens, witness cosignatures and the archive's own receipts that
//! cover each seal, and the clips' bytes.
//!
//! Owns: those reads, each of a few objects or rows whatever the size of the log. Never:
//! writes to the bucket or the database, or judges what it read: the bundle's checker proves
//! every line against the station's signed checkpoint, and the clip's bytes against its seal.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use super::objects::{clip_key, log_key};
use super::service::{get, Archive, Station};
use super::tree::TreeView;
use super::{db, ArchiveError};
use crate::log::merkle::{self, Hash};
use crate::log::tiles::{self, WIDTH};

/// A clip of an order as the archive holds it.
#[derive(Debug, Clone)]
pub struct ArchivedClip {
    pub station: Station,
    /// The `clip_opened` line and the `clip_sealed` line.
    pub clip: u64,
    pub seal: u64,
    pub sha256: String,
    /// The bytes are in the bucket (not still on their way, not `gone`).
    pub stored: bool,
}

/// A stamped checkpoint the archive holds: the note the TSA stamped and its token.
#[derive(Debug, Clone)]
pub struct ArchivedStamp {
    pub size: u64,
    pub note: Vec<u8>,
    pub tsr: Vec<u8>,
}

/// A checkpoint a witness (or the archive itself, in a receipt) cosigned.
#[derive(Debug, Clone)]
pub struct ArchivedCosigned {
    /// The witness's key (`name+id+key`); its key ID is the second field.
    pub witness_key: String,
    pub size: u64,
    pub note: String,
}

/// One station's log as the archive holds it, read a few objects at a time.
pub struct ArchivedLog<'a> {
    archive: &'a Archive,
    pub station: Station,
    /// Lines held, and the newest checkpoint of that size (signed by the station).
    pub size: u64,
    pub checkpoint: String,
    tree: TreeView,
    /// Entry bundles read so far, by index.
    entries: Mutex<HashMap<u64, Vec<Vec<u8>>>>,
}

impl Archive {
    /// The clips of `order` (or with `order` attached to them as a code) of every station,
    /// oldest first per station.
    pub async fn order_clips(&self, order: &str) -> Result<Vec<ArchivedClip>, ArchiveError> {
        let client = get(&self.pool).await?;
        let rows = client
            .query(
                &format!(
                    "{}
                 SELECT s.id, s.key_id, s.origin, s.verifier, c.clip, c.seal, c.sha256,
                        c.stored_at IS NOT NULL
                 FROM clips c JOIN stations s ON s.id = c.station_id
                 WHERE (c.station_id, c.seal) IN (SELECT * FROM of_code)
                 ORDER BY s.id, c.seal",
                    super::search::OF_CODE
                ),
                &[&order],
            )
            .await
            .map_err(db("finding the order's clips"))?;
        Ok(rows
            .iter()
            .map(|r| ArchivedClip {
                station: Station {
                    id: r.get(0),
                    key_id: r.get(1),
                    origin: r.get(2),
                    verifier: r.get(3),
                },
                clip: r.get::<_, i64>(4) as u64,
                seal: r.get::<_, i64>(5) as u64,
                sha256: r.get(6),
                stored: r.get(7),
            })
            .collect())
    }

    /// The log of `station` at the size the archive holds now.
    pub async fn log_of(&self, station: &Station) -> Result<ArchivedLog<'_>, ArchiveError> {
        let client = get(&self.pool).await?;
        let row = client
            .query_one(
                "SELECT size, checkpoint FROM stations WHERE id = $1",
                &[&station.id],
            )
            .await
            .map_err(db("reading the log's size"))?;
        let size = row.get::<_, i64>(0) as u64;
        Ok(ArchivedLog {
            archive: self,
            station: station.clone(),
            size,
            checkpoint: row.get(1),
            tree: TreeView::new(&station.key_id, size),
            entries: Mutex::new(HashMap::new()),
        })
    }

    /// `note` (a signed checkpoint) with the archive's cosignature of `now` added.
    pub fn cosigned(&self, note: &str, now: u64) -> Result<String, ArchiveError> {
        let body =
            note.rfind("\n\n")
                .map(|i| &note[..i + 1])
                .ok_or_else(|| ArchiveError::Store {
                    what: "the checkpoint the archive holds".into(),
                    detail: "no blank line before its signatures".into(),
                })?;
        Ok(format!("{note}{}", self.cosign(body, now)))
    }

    /// The archive's cosignature line over the note body `body`, at `now`.
    pub fn cosign(&self, body: &str, now: u64) -> String {
        self.key.cosign(body, now)
    }

    /// The archive's own key, as a checker is given it (`--witness`).
    pub fn witness_key(&self) -> String {
        self.key.verifier()
    }

    /// Writes the bytes of the clip `sha256` to `dest`, checking them against that hash on
    /// the way; false when the bucket does not hold them.
    pub async fn clip_to_file(&self, sha256: &str, dest: &Path) -> Result<bool, ArchiveError> {
        use sha2::Digest;
        use tokio::io::AsyncWriteExt;
        let Some((_, mut body)) = self.bucket.get_stream(&clip_key(sha256)).await? else {
            return Ok(false);
        };
        let io = |what: &str, e: std::io::Error| ArchiveError::Io {
            path: dest.display().to_string(),
            what: format!("{what}: {e}"),
        };
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| io("cannot create the clip's copy", e))?;
        let mut hasher = sha2::Sha256::new();
        while let Some(chunk) = body.try_next().await.map_err(|e| ArchiveError::Store {
            what: format!("reading clip {sha256}"),
            detail: e.to_string(),
        })? {
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| io("cannot write the clip's copy", e))?;
        }
        file.sync_all()
            .await
            .map_err(|e| io("cannot sync the clip's copy", e))?;
        let got = crate::digest::hex(&hasher.finalize());
        if got != sha256 {
            return Err(ArchiveError::Store {
                what: format!("clip {sha256}"),
                detail: format!("the bucket's bytes hash to {got}: not the sealed clip"),
            });
        }
        Ok(true)
    }
}

impl ArchivedLog<'_> {
    fn bad(&self, detail: String) -> ArchiveError {
        ArchiveError::Store {
            what: format!(
                "the log of {} ({})",
                self.station.origin, self.station.key_id
            ),
            detail,
        }
    }

    /// Line `n` (1-based), its bytes as the station wrote them (newline included).
    pub async fn line(&self, n: u64) -> Result<Vec<u8>, ArchiveError> {
        if n == 0 || n > self.size {
            return Err(self.bad(format!("line {n} asked of {} lines held", self.size)));
        }
        let (bundle, at) = ((n - 1) / WIDTH, ((n - 1) % WIDTH) as usize);
        if let Some(e) = self.cached(bundle, at) {
            return Ok(e);
        }
        let width = (self.size - bundle * WIDTH).min(WIDTH);
        let key = log_key(&self.station.key_id, &tiles::entries_path(bundle, width));
        let bytes = self
            .archive
            .bucket
            .get(&key)
            .await?
            .ok_or_else(|| self.bad(format!("{key} is missing")))?;
        let mut entries = Vec::new();
        let mut rest = bytes.as_slice();
        while let Some((len, tail)) = rest.split_first_chunk::<2>() {
            let len = u16::from_be_bytes(*len) as usize;
            let entry = tail
                .get(..len)
                .ok_or_else(|| self.bad(format!("{key} ends inside an entry")))?;
            entries.push(entry.to_vec());
            rest = &tail[len..];
        }
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(bundle, entries);
        self.cached(bundle, at)
            .ok_or_else(|| self.bad(format!("{key} holds no line {n}")))
    }

    fn cached(&self, bundle: u64, at: usize) -> Option<Vec<u8>> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&bundle)
            .and_then(|e| e.get(at).cloned())
    }

    /// The inclusion path of line `line` in the tree of the first `size` lines.
    pub async fn inclusion(&self, line: u64, size: u64) -> Result<Vec<Hash>, ArchiveError> {
        let path = self
            .tree
            .ask(self.archive, size, |t| {
                merkle::prove_inclusion(t, line.wrapping_sub(1), size)
            })
            .await?;
        path.ok_or_else(|| self.bad(format!("line {line} is not in a tree of {size} lines")))
    }

    /// The consistency proof from the tree of `m` lines to the tree of `n`.
    pub async fn consistency(&self, m: u64, n: u64) -> Result<Vec<Hash>, ArchiveError> {
        if m == n {
            return Ok(Vec::new());
        }
        let proof = self
            .tree
            .ask(self.archive, n, |t| merkle::prove_consistency(t, m, n))
            .await?;
        proof.ok_or_else(|| self.bad(format!("no consistency proof from {m} to {n} lines")))
    }

    /// The size of the earliest stamped checkpoint the bucket holds whose size holds line
    /// `line`, at most `upto` lines.
    pub async fn stamp_covering(&self, line: u64, upto: u64) -> Result<Option<u64>, ArchiveError> {
        let row = get(&self.archive.pool)
            .await?
            .query_opt(
                "SELECT size FROM anchors WHERE station_id = $1 AND kind = 'tsa'
                 AND size >= $2 AND size <= $3 AND stored_at IS NOT NULL ORDER BY size LIMIT 1",
                &[&self.station.id, &(line as i64), &(upto as i64)],
            )
            .await
            .map_err(db("finding the time-stamp of a seal"))?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    /// The stamped checkpoint of `size` lines, when the bucket holds its files.
    pub async fn stamp(&self, size: u64) -> Result<Option<ArchivedStamp>, ArchiveError> {
        use super::anchors::anchor_key;
        let id = &self.station.key_id;
        let note = self
            .archive
            .bucket
            .get(&anchor_key(id, None, size, "note"))
            .await?;
        let tsr = self
            .archive
            .bucket
            .get(&anchor_key(id, None, size, "tsr"))
            .await?;
        Ok(match (note, tsr) {
            (Some(note), Some(tsr)) => Some(ArchivedStamp { size, note, tsr }),
            _ => None,
        })
    }

    /// The last `anchored` record before line `line`: (its line, the size it stamped).
    pub async fn anchored_before(&self, line: u64) -> Result<Option<(u64, u64)>, ArchiveError> {
        let row = get(&self.archive.pool)
            .await?
            .query_opt(
                "SELECT line, size FROM anchors WHERE station_id = $1 AND kind = 'tsa'
                 AND line < $2 ORDER BY line DESC LIMIT 1",
                &[&self.station.id, &(line as i64)],
            )
            .await
            .map_err(db("finding the anchored record before a clip"))?;
        Ok(row.and_then(|r| {
            let line: Option<i64> = r.get(0);
            line.map(|l| (l as u64, r.get::<_, i64>(1) as u64))
        }))
    }

    /// Per witness of the station, the earliest checkpoint it cosigned (held in the bucket)
    /// whose size holds line `line`, at most `upto` lines.
    pub async fn cosigned_covering(
        &self,
        line: u64,
        upto: u64,
    ) -> Result<Vec<ArchivedCosigned>, ArchiveError> {
        let rows = get(&self.archive.pool)
            .await?
            .query(
                "SELECT DISTINCT ON (witness) witness, size, witness_key FROM anchors
                 WHERE station_id = $1 AND kind = 'witness' AND size >= $2 AND size <= $3
                 AND stored_at IS NOT NULL ORDER BY witness, size",
                &[&self.station.id, &(line as i64), &(upto as i64)],
            )
            .await
            .map_err(db("finding the cosignatures of a seal"))?;
        let mut out = Vec::new();
        for r in rows {
            let (witness, size): (String, i64) = (r.get(0), r.get(1));
            let key = super::anchors::anchor_key(
                &self.station.key_id,
                Some(&witness),
                size as u64,
                "note",
            );
            let Some(note) = self.archive.bucket.get(&key).await? else {
                continue;
            };
            out.push(ArchivedCosigned {
                witness_key: r.get::<_, Option<String>>(2).unwrap_or_default(),
                size: size as u64,
                note: String::from_utf8_lossy(&note).into_owned(),
            });
        }
        Ok(out)
    }

    /// The `code_attached` lines of clip `clip` held: (line, code), oldest first.
    pub async fn attached(&self, clip: u64) -> Result<Vec<(u64, String)>, ArchiveError> {
        let rows = get(&self.archive.pool)
            .await?
            .query(
                "SELECT line, code FROM order_lines WHERE station_id = $1 AND clip = $2
                 AND kind = 'code_attached' AND line <= $3 ORDER BY line",
                &[&self.station.id, &(clip as i64), &(self.size as i64)],
            )
            .await
            .map_err(db("finding the codes attached to a clip"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect())
    }

    /// The lines about `order` beyond its clips (its scans, `no_video`, `camera_gap`,
    /// `order_resumed`) held, oldest first, at most `limit`: (line, kind).
    pub async fn order_lines(
        &self,
        order: &str,
        limit: i64,
    ) -> Result<Vec<(u64, String)>, ArchiveError> {
        let rows = get(&self.archive.pool)
            .await?
            .query(
                "SELECT line, kind FROM order_lines WHERE order_code = $1 AND station_id = $2
                 AND line <= $3 ORDER BY line LIMIT $4",
                &[&order, &self.station.id, &(self.size as i64), &limit],
            )
            .await
            .map_err(db("finding the order's records"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect())
    }

    /// The `upload_mp4` records made from any of `clips`, held, oldest first.
    pub async fn uploads(&self, clips: &[u64]) -> Result<Vec<u64>, ArchiveError> {
        let clips: Vec<i64> = clips.iter().map(|c| *c as i64).collect();
        let rows = get(&self.archive.pool)
            .await?
            .query(
                "SELECT line FROM order_lines WHERE clips && $2 AND station_id = $1
                 AND line <= $3 ORDER BY line",
                &[&self.station.id, &clips, &(self.size as i64)],
            )
            .await
            .map_err(db("finding the MP4s made from the clips"))?;
        Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect())
    }

    /// The archive's earliest receipt whose size holds line `line`, at most `upto` lines.
    pub async fn receipt_covering(
        &self,
        line: u64,
        upto: u64,
    ) -> Result<Option<ArchivedCosigned>, ArchiveError> {
        let row = get(&self.archive.pool)
            .await?
            .query_opt(
                "SELECT size, note FROM receipts WHERE station_id = $1 AND size >= $2
                 AND size <= $3 ORDER BY size LIMIT 1",
                &[&self.station.id, &(line as i64), &(upto as i64)],
            )
            .await
            .map_err(db("finding the archive's receipt of a seal"))?;
        Ok(row.map(|r| ArchivedCosigned {
            witness_key: self.archive.key.verifier(),
            size: r.get::<_, i64>(0) as u64,
            note: r.get(1),
        }))
    }
}
