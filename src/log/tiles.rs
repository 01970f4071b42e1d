//! Tiles: the log's stored Merkle hashes, in the C2SP tlog-tiles layout, beside the manifest.
//!
//! Owns: the tile files `tile/<L>/<N>` (256 hashes of level L: leaf hashes at level 0, at
//! level L the roots of 256^L consecutive leaves) and `tile/<L>/<N>.p/<W>` (the partial tile
//! of W < 256 hashes at the right edge), their paths (`x001/x234/067` for N = 1234067, as
//! c2sp.org/tlog-tiles writes them), the writer's in-memory right edge ([`TileWriter`]), and
//! reading the hashes a proof needs from them ([`TileHashes`]).
//! Never: is the truth. The manifest is; tiles are derived from it, checked against it, and
//! rebuilt from it when missing or wrong.
//!
//! A proof of a tree of n leaves needs O(log n) subtree hashes; each perfect subtree of
//! height h is one tile read (level h/8) and at most 127 hash operations.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::merkle::{self, Frontier, Hash, Subtrees};
use crate::datadir;

/// Hashes per full tile (tile height 8).
pub const WIDTH: u64 = 256;
/// Bytes of a hash in a tile.
pub const HASH: usize = 32;

/// Something wrong with the tiles.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    #[error("tile {path}: {what}: {source}")]
    Io {
        path: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("tile {path}: {what} (tiles are derived: `packwitness reindex` rebuilds them from the manifest)")]
    Bad { path: String, what: String },
    #[error("the tree has {size} leaves; {what}")]
    OutOfRange { size: u64, what: String },
    /// The source does not have the tile at hand (yet): a source that fetches tiles from
    /// elsewhere (the archive's bucket) fetches it and asks again.
    #[error("tile {level}/{n}: not fetched yet")]
    NotFetched { level: u8, n: u64 },
}

impl From<TileError> for crate::Error {
    fn from(e: TileError) -> crate::Error {
        let kind = match &e {
            TileError::Io { .. } => crate::ErrorKind::Io,
            TileError::Bad { .. } => crate::ErrorKind::Corrupt,
            TileError::OutOfRange { .. } => crate::ErrorKind::Invalid,
            TileError::NotFetched { .. } => crate::ErrorKind::Unavailable,
        };
        crate::Error::new(kind, e)
    }
}

/// The C2SP encoding of a tile index: groups of three digits, all but the last prefixed `x`.
fn index_path(n: u64) -> String {
    let mut parts = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        parts.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    parts.reverse();
    parts.join("/")
}

/// `tile/<level>/<N>`, or `tile/<level>/<N>.p/<width>` for a partial tile.
pub fn tile_path(level: u8, n: u64, width: u64) -> String {
    let p = if width >= WIDTH {
        String::new()
    } else {
        format!(".p/{width}")
    };
    format!("tile/{level}/{}{p}", index_path(n))
}

/// `tile/entries/<N>[.p/<width>]`: the entry bundle of leaves 256N.. (served, not stored).
pub fn entries_path(n: u64, width: u64) -> String {
    tile_path(0, n, width).replacen("tile/0/", "tile/entries/", 1)
}

/// What a tile URL path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRef {
    /// `None` for an entry bundle.
    pub level: Option<u8>,
    pub n: u64,
    /// 1..=256; 256 is a full tile.
    pub width: u64,
}

/// Parses `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`, refusing anything that is not
/// exactly how [`tile_path`] writes it.
pub fn parse_path(path: &str) -> Option<TileRef> {
    let rest = path.strip_prefix("tile/")?;
    let (kind, rest) = rest.split_once('/')?;
    let level = if kind == "entries" {
        None
    } else {
        let l: u8 = kind.parse().ok()?;
        if l >= 64 || kind != l.to_string() {
            return None;
        }
        Some(l)
    };
    let (index, width) = match rest.split_once(".p/") {
        Some((i, w)) => {
            let w: u64 = w.parse().ok()?;
            if !(1..WIDTH).contains(&w) {
                return None;
            }
            (i, w)
        }
        None => (rest, WIDTH),
    };
    let mut n: u64 = 0;
    for part in index.split('/') {
        let digits = part.strip_prefix('x').unwrap_or(part);
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(digits.parse().ok()?)?;
    }
    let t = TileRef { level, n, width };
    let back = match level {
        Some(l) => tile_path(l, n, width),
        None => entries_path(n, width),
    };
    (back == path).then_some(t)
}

/// The tile files of a data dir.
#[derive(Debug, Clone)]
pub struct TileStore {
    data_dir: PathBuf,
}

fn to_bytes(hashes: &[Hash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hashes.len() * HASH);
    for h in hashes {
        out.extend_from_slice(h);
    }
    out
}

fn to_hashes(data: &[u8]) -> Vec<Hash> {
    data.chunks_exact(HASH)
        .map(|c| {
            let mut h = [0u8; HASH];
            h.copy_from_slice(c);
            h
        })
        .collect()
}

impl TileStore {
    pub fn new(data_dir: &Path) -> TileStore {
        TileStore {
            data_dir: data_dir.to_owned(),
        }
    }

    fn file(&self, rel: &str) -> PathBuf {
        self.data_dir.join(rel)
    }

    fn io(rel: &str, what: &'static str) -> impl FnOnce(std::io::Error) -> TileError {
        let path = rel.to_string();
        move |source| TileError::Io { path, what, source }
    }

    /// The first `width` hashes of tile `n` of `level`, from the full tile or from the widest
    /// partial one on disk.
    pub fn read(&self, level: u8, n: u64, width: u64) -> Result<Vec<u8>, TileError> {
        let want = width as usize * HASH;
        let full = tile_path(level, n, WIDTH);
        let data = match fs::read(self.file(&full)) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.read_partial(level, n)?,
            Err(e) => return Err(Self::io(&full, "cannot read it")(e)),
        };
        if data.len() < want || data.len() % HASH != 0 {
            return Err(TileError::Bad {
                path: tile_path(level, n, width),
                what: format!(
                    "{} bytes on disk where {} hashes were expected",
                    data.len(),
                    width
                ),
            });
        }
        Ok(data[..want].to_vec())
    }

    /// The widest partial tile `n` of `level` on disk.
    fn read_partial(&self, level: u8, n: u64) -> Result<Vec<u8>, TileError> {
        let dir_rel = format!("{}.p", tile_path(level, n, WIDTH));
        let widest = fs::read_dir(self.file(&dir_rel))
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
            .filter(|w| (1..WIDTH).contains(w))
            .max();
        let Some(w) = widest else {
            return Err(TileError::Bad {
                path: tile_path(level, n, WIDTH),
                what: "missing (neither the full tile nor a partial one is on disk)".into(),
            });
        };
        let rel = tile_path(level, n, w);
        fs::read(self.file(&rel)).map_err(Self::io(&rel, "cannot read it"))
    }

    /// Writes a file durably: a new file (never a half-written one in place), fsynced, then
    /// renamed into place.
    fn write_file(&self, rel: &str, data: &[u8]) -> Result<(), TileError> {
        let path = self.file(rel);
        let dir = path.parent().unwrap_or(&self.data_dir).to_owned();
        datadir::create_dir_durable(&dir).map_err(Self::io(rel, "cannot create its directory"))?;
        let tmp = dir.join(format!(
            ".{}.tmp",
            path.file_name()
                .map_or_else(|| "tile".into(), |n| n.to_string_lossy())
        ));
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(Self::io(rel, "cannot create it"))?;
        f.write_all(data)
            .and_then(|()| f.sync_data())
            .map_err(Self::io(rel, "cannot write it"))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(Self::io(rel, "cannot move it into place"))?;
        datadir::sync_dir(&dir).map_err(Self::io(rel, "fsync of its directory"))
    }

    /// Writes a full tile and removes its partial ones.
    fn write_full(&self, level: u8, n: u64, hashes: &[Hash]) -> Result<(), TileError> {
        let rel = tile_path(level, n, WIDTH);
        self.write_file(&rel, &to_bytes(hashes))?;
        let _ = fs::remove_dir_all(self.file(&format!("{rel}.p")));
        Ok(())
    }

    /// Writes the partial tile of `hashes.len()` (< 256) hashes and removes narrower ones.
    fn write_partial(&self, level: u8, n: u64, hashes: &[Hash]) -> Result<(), TileError> {
        let w = hashes.len() as u64;
        let rel = tile_path(level, n, w);
        self.write_file(&rel, &to_bytes(hashes))?;
        let dir = self.file(&format!("{}.p", tile_path(level, n, WIDTH)));
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name();
            let keep = name.to_str().is_some_and(|s| s == w.to_string());
            if !keep && !name.to_string_lossy().starts_with('.') {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(())
    }

    /// Removes every tile (before a rebuild).
    pub fn clear(&self) -> std::io::Result<()> {
        match fs::remove_dir_all(self.file("tile")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Tiles computed from leaves in memory, as they come (verify compares them with the stored
/// ones without keeping more than the right edge).
#[derive(Default)]
pub struct TileBuilder {
    size: u64,
    levels: Vec<Vec<Hash>>,
}

impl TileBuilder {
    /// Appends a leaf hash; returns the full tiles it completed: (level, N, hashes).
    pub fn push(&mut self, leaf: Hash) -> Vec<(u8, u64, Vec<Hash>)> {
        let mut done = Vec::new();
        let mut h = leaf;
        let mut level = 0usize;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(h);
            if self.levels[level].len() < WIDTH as usize {
                break;
            }
            let full = std::mem::take(&mut self.levels[level]);
            let n = ((self.size + 1) >> (8 * level as u64)) / WIDTH - 1;
            h = merkle::root(&full);
            done.push((level as u8, n, full));
            level += 1;
        }
        self.size += 1;
        done
    }

    /// The right edge of a tree of `size` leaves from the hashes of its partial tiles
    /// (`levels[L]`: the partial tile of level L, fewer than 256 hashes); `None` when they do
    /// not fit `size`.
    pub fn from_edge(size: u64, levels: Vec<Vec<Hash>>) -> Option<TileBuilder> {
        let mut want = Vec::new();
        let mut l = 0u32;
        while size.checked_shr(8 * l).unwrap_or(0) > 0 {
            want.push((size >> (8 * l)) % WIDTH);
            l += 1;
        }
        let fits = levels.len() <= want.len().max(1)
            && want
                .iter()
                .enumerate()
                .all(|(i, w)| levels.get(i).map_or(0, |h| h.len() as u64) == *w);
        fits.then_some(TileBuilder { size, levels })
    }

    /// The partial tile of every level (see [`TileBuilder::from_edge`]).
    pub fn edge(&self) -> &[Vec<Hash>] {
        &self.levels
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree hash of every leaf pushed so far.
    pub fn root(&self) -> Hash {
        edge_frontier(self.size, &self.levels).root()
    }

    /// The partial tiles at the right edge: (level, N, hashes), non-empty ones only.
    pub fn partials(&self) -> Vec<(u8, u64, Vec<Hash>)> {
        self.levels
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.is_empty())
            .map(|(l, h)| (l as u8, (self.size >> (8 * l as u64)) / WIDTH, h.clone()))
            .collect()
    }
}

/// The roots of the perfect subtrees of a tree of `size` leaves, largest first, from the
/// partial tile of each level.
fn edge_frontier(size: u64, levels: &[Vec<Hash>]) -> Frontier {
    let mut nodes = Vec::new();
    for hashes in levels.iter().rev() {
        let mut off = 0usize;
        for bit in (0..8).rev() {
            let len = 1usize << bit;
            if hashes.len() & len != 0 {
                nodes.push(merkle::root(&hashes[off..off + len]));
                off += len;
            }
        }
    }
    Frontier::from_parts(size, nodes)
}

/// Compares tile hashes computed from the manifest with the stored tile: `None` when they
/// agree, else what is wrong.
pub fn compare(store: &TileStore, level: u8, n: u64, hashes: &[Hash]) -> Option<String> {
    match store.read(level, n, hashes.len() as u64) {
        Ok(data) if data == to_bytes(hashes) => None,
        Ok(_) => Some("its hashes are not those of the manifest's lines".into()),
        Err(e) => Some(e.to_string()),
    }
}

/// The writer's right edge of the tree: the partial tile of every level, in memory, written
/// out as leaves are appended.
pub struct TileWriter {
    store: TileStore,
    size: u64,
    /// `levels[L]`: the hashes of the partial tile of level L (fewer than 256).
    levels: Vec<Vec<Hash>>,
    /// Full tiles completed since the last flush: (level, N, hashes).
    completed: Vec<(u8, u64, Vec<Hash>)>,
    dirty: Vec<bool>,
}

impl TileWriter {
    /// The right edge of a tree of `size` leaves, read from the partial tiles on disk.
    pub fn load(store: TileStore, size: u64) -> Result<TileWriter, TileError> {
        let mut levels = Vec::new();
        let mut level = 0u8;
        while size >> (8 * level as u64) > 0 {
            let count = size >> (8 * level as u64);
            let w = count % WIDTH;
            levels.push(if w > 0 {
                to_hashes(&store.read(level, count / WIDTH, w)?)
            } else {
                Vec::new()
            });
            level += 1;
        }
        let dirty = vec![false; levels.len()];
        Ok(TileWriter {
            store,
            size,
            levels,
            completed: Vec::new(),
            dirty,
        })
    }

    /// An empty tree.
    pub fn empty(store: TileStore) -> TileWriter {
        TileWriter {
            store,
            size: 0,
            levels: Vec::new(),
            completed: Vec::new(),
            dirty: Vec::new(),
        }
    }

    /// Appends a leaf hash (written by the next [`TileWriter::flush`]).
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut level = 0usize;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
                self.dirty.push(false);
            }
            self.levels[level].push(h);
            self.dirty[level] = true;
            if self.levels[level].len() < WIDTH as usize {
                break;
            }
            // A full tile: its hashes go to disk, its root up a level.
            let full = std::mem::take(&mut self.levels[level]);
            let n = ((self.size + 1) >> (8 * level as u64)) / WIDTH - 1;
            h = merkle::root(&full);
            self.completed.push((level as u8, n, full));
            level += 1;
        }
        self.size += 1;
    }

    /// Writes the tiles completed and the partial tiles changed since the last flush, each
    /// durably.
    pub fn flush(&mut self) -> Result<(), TileError> {
        for (level, n, hashes) in std::mem::take(&mut self.completed) {
            self.store.write_full(level, n, &hashes)?;
        }
        for level in 0..self.levels.len() {
            if !self.dirty[level] {
                continue;
            }
            let hashes = &self.levels[level];
            if !hashes.is_empty() {
                let n = (self.size >> (8 * level as u64)) / WIDTH;
                self.store.write_partial(level as u8, n, hashes)?;
            }
            self.dirty[level] = false;
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots of the perfect subtrees on the right edge, largest first.
    pub fn frontier(&self) -> Frontier {
        edge_frontier(self.size, &self.levels)
    }

    /// The tree hash of everything so far.
    pub fn root(&self) -> Hash {
        self.frontier().root()
    }
}

/// Where [`TileHashes`] reads tiles: a data dir's files ([`TileStore`]) or the tiles an
/// archive fetched from its bucket.
pub trait TileSource {
    /// The first `width` hashes (as bytes) of tile `n` of `level`.
    fn read_tile(&self, level: u8, n: u64, width: u64) -> Result<Vec<u8>, TileError>;
}

impl TileSource for TileStore {
    fn read_tile(&self, level: u8, n: u64, width: u64) -> Result<Vec<u8>, TileError> {
        self.read(level, n, width)
    }
}

/// Reads the subtree hashes proofs need from the tiles of a tree of `size` leaves, caching
/// the tiles it read.
pub struct TileHashes<'a> {
    store: &'a dyn TileSource,
    size: u64,
    cache: RefCell<HashMap<(u8, u64), Vec<Hash>>>,
}

impl<'a> TileHashes<'a> {
    pub fn new(store: &'a dyn TileSource, size: u64) -> TileHashes<'a> {
        TileHashes {
            store,
            size,
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// The hashes of tile `n` of `level` as far as the tree has them.
    fn tile(&self, level: u8, n: u64) -> Result<Vec<Hash>, TileError> {
        if let Some(t) = self.cache.borrow().get(&(level, n)) {
            return Ok(t.clone());
        }
        let count = self.size >> (8 * level as u64);
        let width = count.saturating_sub(n * WIDTH).min(WIDTH);
        if width == 0 {
            return Err(TileError::OutOfRange {
                size: self.size,
                what: format!("tile {} is past its end", tile_path(level, n, WIDTH)),
            });
        }
        let hashes = to_hashes(&self.store.read_tile(level, n, width)?);
        self.cache.borrow_mut().insert((level, n), hashes.clone());
        Ok(hashes)
    }

    /// The root of the perfect subtree of height `h` with index `i` (leaves i·2^h ..
    /// (i+1)·2^h).
    pub fn node(&self, h: u32, i: u64) -> Result<Hash, TileError> {
        if h > 63 || ((i + 1) << h) > self.size {
            return Err(TileError::OutOfRange {
                size: self.size,
                what: format!("no complete subtree of height {h} at index {i}"),
            });
        }
        let (level, r) = ((h / 8) as u8, h % 8);
        let first = i << r;
        let t = self.tile(level, first / WIDTH)?;
        let off = (first % WIDTH) as usize;
        let len = 1usize << r;
        t.get(off..off + len)
            .map(merkle::root)
            .ok_or_else(|| TileError::Bad {
                path: tile_path(level, first / WIDTH, WIDTH),
                what: "shorter than the tree needs".into(),
            })
    }

    /// The tree hash of the first `n` leaves.
    pub fn tree_hash(&self, n: u64) -> Result<Hash, TileError> {
        if n == 0 {
            return Ok(merkle::root(&[]));
        }
        self.subtree(0, n)
    }
}

impl Subtrees for TileHashes<'_> {
    type Error = TileError;

    fn subtree(&self, lo: u64, hi: u64) -> Result<Hash, TileError> {
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            return self.node(n.trailing_zeros(), lo / n);
        }
        let k = 1u64 << (63 - (n - 1).leading_zeros());
        Ok(merkle::node_hash(
            &self.subtree(lo, lo + k)?,
            &self.subtree(lo + k, hi)?,
        ))
    }
}

/// Opens a file for reading, with the tile error of its path.
pub fn open(path: &Path) -> Result<File, TileError> {
    File::open(path).map_err(|source| TileError::Io {
        path: path.display().to_string(),
        what: "cannot open it",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_builder_goes_on_from_its_edge() {
        let leaves: Vec<Hash> = (0..70_000u32)
            .map(|i| merkle::leaf_hash(&i.to_le_bytes()))
            .collect();
        let mut whole = TileBuilder::default();
        let emitted: Vec<_> = leaves.iter().map(|l| whole.push(*l)).collect();
        let mut prefix = TileBuilder::default();
        for (i, leaf) in leaves.iter().enumerate() {
            prefix.push(*leaf);
            let n = i + 1;
            if [1, 255, 256, 257, 511, 65_535, 65_536, 65_537].contains(&n) {
                let edge = prefix.edge().to_vec();
                let mut again = TileBuilder::from_edge(n as u64, edge).unwrap();
                assert_eq!(again.root(), merkle::root(&leaves[..n]), "size {n}");
                // It completes the same full tiles as the builder that saw every leaf.
                for j in n..(n + 600).min(leaves.len()) {
                    assert_eq!(again.push(leaves[j]), emitted[j], "leaf {j} after {n}");
                }
                // An edge that does not fit the size is refused.
                assert!(TileBuilder::from_edge(n as u64 + 1, prefix.edge().to_vec()).is_none());
            }
        }
        assert_eq!(
            TileBuilder::from_edge(0, Vec::new()).unwrap().root(),
            merkle::root(&[])
        );
    }

    #[test]
    fn paths_as_c2sp_writes_them() {
        assert_eq!(tile_path(0, 0, 256), "tile/0/000");
        assert_eq!(tile_path(1, 1234067, 256), "tile/1/x001/x234/067");
        assert_eq!(tile_path(0, 1234067, 1), "tile/0/x001/x234/067.p/1");
        assert_eq!(entries_path(5, 7), "tile/entries/005.p/7");
        assert_eq!(
            parse_path("tile/1/x001/x234/067"),
            Some(TileRef {
                level: Some(1),
                n: 1234067,
                width: 256
            })
        );
        assert_eq!(
            parse_path("tile/entries/005.p/7"),
            Some(TileRef {
                level: None,
                n: 5,
                width: 7
            })
        );
        for bad in [
            "tile/0/1",
            "tile/0/x000/001",
            "tile/0/001.p/256",
            "tile/0/001.p/0",
            "tile/00/001",
            "tile/0/../001",
            "tiles/0/001",
            "tile/0/001.p/07",
        ] {
            assert_eq!(parse_path(bad), None, "{bad}");
        }
    }

    /// Tiles written leaf by leaf (with flushes at odd moments) give, for every size, the
    /// roots and proofs of the in-memory tree; a partial tile is read back after a restart.
    #[test]
    fn tiles_give_the_roots_and_proofs_of_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let store = TileStore::new(dir.path());
        let leaves: Vec<Hash> = (0..70_000u32)
            .map(|i| merkle::leaf_hash(&i.to_le_bytes()))
            .collect();
        let mut w = TileWriter::empty(store.clone());
        for (i, l) in leaves.iter().enumerate() {
            w.push(*l);
            if i % 997 == 0 || i == leaves.len() - 1 {
                w.flush().unwrap();
            }
        }
        let n = leaves.len() as u64;
        assert_eq!(w.root(), merkle::root(&leaves));
        let reloaded = TileWriter::load(store.clone(), n).unwrap();
        assert_eq!(reloaded.root(), merkle::root(&leaves));
        let t = TileHashes::new(&store, n);
        for size in [
            1u64, 2, 255, 256, 257, 65_535, 65_536, 65_537, 69_999, 70_000,
        ] {
            assert_eq!(
                t.tree_hash(size).unwrap(),
                merkle::root(&leaves[..size as usize]),
                "{size}"
            );
        }
        for (index, size) in [
            (0u64, 70_000u64),
            (65_536, 70_000),
            (69_999, 70_000),
            (300, 301),
            (255, 65_536),
        ] {
            let p = merkle::prove_inclusion(&t, index, size).unwrap().unwrap();
            assert_eq!(
                Some(p),
                merkle::inclusion_proof(&leaves[..size as usize], index as usize)
            );
        }
        for (m, size) in [
            (1u64, 70_000u64),
            (256, 70_000),
            (65_536, 69_999),
            (12_345, 70_000),
        ] {
            let p = merkle::prove_consistency(&t, m, size).unwrap().unwrap();
            assert_eq!(
                Some(p),
                merkle::consistency_proof(&leaves[..size as usize], m)
            );
        }
    }
}
