//! A station's Merkle tree as the archive's bucket holds it: the root at any size held (and
//! any subtree hash a proof needs), read from the tiles under `logs/<key id>/`.
//!
//! Owns: which tile object holds a tile at the size the archive holds (the full tile, or the
//! partial one of the right edge), and fetching only the tiles a question needs (a few per
//! question, however long the log). Never: writes to the bucket, or answers from a tile it
//! did not read.

use std::collections::HashMap;
use std::sync::Mutex;

use super::objects::log_key;
use super::service::Archive;
use super::ArchiveError;
use crate::log::merkle::Hash;
use crate::log::tiles::{self, TileError, TileHashes, TileSource, WIDTH};

/// Tiles fetched so far for one question, over a tree of `held` leaves.
struct Fetched {
    held: u64,
    tiles: Mutex<HashMap<(u8, u64), Vec<u8>>>,
}

impl Fetched {
    /// The tile's object at the size held: the full tile, or the partial one.
    fn path(&self, level: u8, n: u64) -> String {
        let count = self.held >> (8 * u32::from(level));
        let width = count.saturating_sub(n * WIDTH).min(WIDTH);
        tiles::tile_path(level, n, width)
    }
}

impl TileSource for Fetched {
    fn read_tile(&self, level: u8, n: u64, width: u64) -> Result<Vec<u8>, TileError> {
        let tiles = self.tiles.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bytes) = tiles.get(&(level, n)) else {
            return Err(TileError::NotFetched { level, n });
        };
        let want = width as usize * 32;
        bytes
            .get(..want)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| TileError::Bad {
                path: self.path(level, n),
                what: format!("{} bytes where {width} hashes were expected", bytes.len()),
            })
    }
}

/// One station's tree at the size the archive holds, with the tiles fetched so far (kept for
/// the questions of one request: tiles near the root serve them all).
pub(super) struct TreeView {
    key_id: String,
    src: Fetched,
}

impl TreeView {
    pub fn new(key_id: &str, held: u64) -> TreeView {
        TreeView {
            key_id: key_id.to_string(),
            src: Fetched {
                held,
                tiles: Mutex::new(HashMap::new()),
            },
        }
    }

    pub fn held(&self) -> u64 {
        self.src.held
    }

    fn bad(&self, detail: String) -> ArchiveError {
        ArchiveError::Store {
            what: format!("the tiles of log {}", self.key_id),
            detail,
        }
    }

    /// Runs `question` over the tree of the first `size` leaves (`size <= held`), fetching
    /// each tile it asks for.
    pub async fn ask<T>(
        &self,
        archive: &Archive,
        size: u64,
        question: impl Fn(&TileHashes) -> Result<T, TileError>,
    ) -> Result<T, ArchiveError> {
        if size > self.src.held {
            return Err(self.bad(format!(
                "{size} leaves asked of a log of {} held",
                self.src.held
            )));
        }
        // Each round fetches one more tile; a question needs at most a few per level.
        for _ in 0..64 {
            let answer = question(&TileHashes::new(&self.src, size));
            match answer {
                Ok(v) => return Ok(v),
                Err(TileError::NotFetched { level, n }) => {
                    let key = log_key(&self.key_id, &self.src.path(level, n));
                    let bytes = archive.bucket.get(&key).await?.ok_or_else(|| {
                        self.bad(format!(
                            "{key} is missing (a push replaced it meanwhile? ask again)"
                        ))
                    })?;
                    self.src
                        .tiles
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert((level, n), bytes);
                }
                Err(e) => return Err(self.bad(e.to_string())),
            }
        }
        Err(self.bad("a question asked for more than 64 tiles".into()))
    }

    /// The root of the first `size` leaves.
    pub async fn root(&self, archive: &Archive, size: u64) -> Result<Hash, ArchiveError> {
        self.ask(archive, size, |t| t.tree_hash(size)).await
    }
}
