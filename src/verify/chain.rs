//! The chain pass: every manifest line checked in order, with state that does not grow with
//! the log (bitsets of clip ids, the clips still open, the tree's right edge).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};

use super::{Problem, ProblemKind, Report};

/// Where a `clip_sealed` record is in the manifest (the clip's file is checked after the
/// pass, unless a later record pruned it).
#[derive(Debug, Clone, Copy)]
pub(super) struct SealedAt {
    pub line: u64,
    pub clip: u64,
    pub offset: u64,
    pub len: u32,
}
use crate::digest;
use crate::log::tiles::{self, TileBuilder, TileStore};
use crate::log::{merkle, note, Body, Record, SealReason, FORMAT_VERSION, GENESIS};

/// A growable set of small integers (clip ids are manifest line numbers).
#[derive(Default)]
pub(super) struct Bits(Vec<u64>);

impl Bits {
    pub fn insert(&mut self, i: u64) -> bool {
        let (w, b) = ((i / 64) as usize, i % 64);
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        let was = self.0[w] & (1 << b) != 0;
        self.0[w] |= 1 << b;
        !was
    }

    pub fn contains(&self, i: u64) -> bool {
        self.0
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// The work on a line that does not depend on the lines before it (hashes, parsing), done on
/// any thread.
pub(super) struct Prepared {
    torn: bool,
    len: u32,
    hash: merkle::Hash,
    leaf: merkle::Hash,
    parsed: Result<Record, String>,
}

impl Prepared {
    pub fn of(bytes: &[u8]) -> Prepared {
        use sha2::{Digest, Sha256};
        let torn = !bytes.ends_with(b"\n");
        Prepared {
            torn,
            len: bytes.len() as u32,
            hash: Sha256::digest(bytes).into(),
            leaf: merkle::leaf_hash(bytes),
            parsed: if torn {
                Err("incomplete".into())
            } else {
                serde_json::from_slice(bytes).map_err(|e| e.to_string())
            },
        }
    }
}

/// What a sealed clip's record must agree with: its opening.
struct Opening {
    order: String,
    station: String,
    camera: String,
    file: String,
    started_at: String,
}

fn time(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok()
}

/// The chain pass.
pub(super) struct Chain<'a> {
    pub report: &'a mut Report,
    problems: HashSet<(u64, ProblemKind, Option<String>)>,
    pinned: Option<note::NoteVerifier>,
    /// The key in force (from the first `station_start`, then each signed rotation).
    key: Option<(String, note::NoteVerifier)>,
    frontier: merkle::Frontier,
    tiles: TileBuilder,
    store: Option<TileStore>,
    prev_hash: String,
    prev_seq: u64,
    /// Line k whose link to line k-1 is broken while seq numbers run on: either line k-1 was
    /// changed, or line k's own `prev` was. The next link tells which.
    pending: Option<u64>,
    last_checkpoint_ok: bool,
    opened: Bits,
    sealed: Bits,
    pub pruned: Bits,
    open: HashMap<u64, Opening>,
    /// The first and the last two good checkpoints (line, size, root, at): for the
    /// consistency checks at the end (at most three kept, however long the log).
    pub checkpoints: Vec<(u64, u64, merkle::Hash, String)>,
    interval: Option<Duration>,
    /// The first line after the last checkpoint, its time, and whether a crash explains it.
    uncovered: Option<(u64, String, bool)>,
    last_cp_at: Option<String>,
    /// The latest TSA time an `anchored` record gave (Unix ms), and its line: no later line
    /// may have been written before it.
    anchor_floor: Option<(i64, u64)>,
    /// Where the sealed records of clips not pruned are (by clip), for the file checks after
    /// the pass: bounded by the clips on disk, not by the length of the log.
    pub sealed_at: BTreeMap<u64, SealedAt>,
    /// Byte offset and length of the line being checked.
    pub offset: u64,
    line_len: u32,
    /// Line numbers and hashes wanted by the caller (the remembered checkpoint).
    pub want_line: Option<u64>,
    pub seen_line_hash: Option<String>,
}

impl<'a> Chain<'a> {
    pub fn new(
        report: &'a mut Report,
        pinned: Option<note::NoteVerifier>,
        interval: Option<Duration>,
        store: Option<TileStore>,
    ) -> Chain<'a> {
        Chain {
            report,
            problems: HashSet::new(),
            pinned,
            key: None,
            frontier: merkle::Frontier::default(),
            tiles: TileBuilder::default(),
            store,
            prev_hash: GENESIS.to_string(),
            prev_seq: 0,
            pending: None,
            last_checkpoint_ok: false,
            opened: Bits::default(),
            sealed: Bits::default(),
            pruned: Bits::default(),
            open: HashMap::new(),
            checkpoints: Vec::new(),
            interval,
            uncovered: None,
            last_cp_at: None,
            anchor_floor: None,
            sealed_at: BTreeMap::new(),
            offset: 0,
            line_len: 0,
            want_line: None,
            seen_line_hash: None,
        }
    }

    /// Records a problem once (linear: a set, not a scan).
    pub fn add(&mut self, line: u64, kind: ProblemKind, file: Option<String>, detail: String) {
        if self.problems.insert((line, kind, file.clone())) {
            self.report.problems.push(Problem {
                line,
                kind,
                file,
                detail,
            });
        }
    }

    fn modified(k: u64) -> String {
        format!(
            "line {k} was modified (its SHA-256 no longer matches the prev recorded in line {})",
            k + 1
        )
    }

    /// Checks line `n` from its [`Prepared`] work; false when the pass must stop.
    pub fn apply(&mut self, n: u64, p: Prepared) -> bool {
        self.report.lines = n;
        self.line_len = p.len;
        if p.torn {
            self.add(n, ProblemKind::TornLine, None,
                format!("line {n} is incomplete (no newline): a write was cut short; starting packwitness on this data dir repairs it"));
            return false;
        }
        let Prepared {
            hash, leaf, parsed, ..
        } = p;
        let hash = digest::hex(&hash);
        if self.want_line == Some(n) {
            self.seen_line_hash = Some(hash.clone());
        }
        self.links(n, &parsed);
        self.last_checkpoint_ok = false;
        match &parsed {
            Err(e) => {
                self.add(
                    n,
                    ProblemKind::Malformed,
                    None,
                    format!("line {n} is not a valid record: {e}"),
                );
                self.prev_seq += 1;
            }
            Ok(rec) => {
                if !(1..=FORMAT_VERSION).contains(&rec.v) {
                    self.add(n, ProblemKind::Malformed, None, format!(
                        "line {n} has format version {} (this program reads 1 to {FORMAT_VERSION}; a newer packwitness wrote it?)",
                        rec.v));
                }
                if rec.v >= 3
                    && rec
                        .salt
                        .as_ref()
                        .is_none_or(|s| s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    self.add(
                        n,
                        ProblemKind::Malformed,
                        None,
                        format!("line {n} is version 3 but has no 128-bit salt"),
                    );
                }
                self.body(n, rec);
                self.prev_seq = rec.seq;
            }
        }
        let is_checkpoint = matches!(
            &parsed,
            Ok(Record {
                body: Body::Checkpoint { .. },
                ..
            })
        );
        self.report.uncovered_lines = if is_checkpoint {
            0
        } else {
            self.report.uncovered_lines + 1
        };
        self.frontier.push(leaf);
        for (level, tn, hashes) in self.tiles.push(leaf) {
            self.compare_tile(level, tn, &hashes, n);
        }
        self.prev_hash = hash;
        true
    }

    /// The chain links: a line whose `prev` is not the previous line's hash.
    fn links(&mut self, n: u64, parsed: &Result<Record, String>) {
        let link_broken = matches!(parsed, Ok(r) if r.prev != self.prev_hash);
        let seq_gap = matches!(parsed, Ok(r) if r.seq > self.prev_seq + 1);
        let mut explained = false;
        if let Some(p) = self.pending.take() {
            if link_broken && !seq_gap {
                // Both links of line p are broken: line p itself changed (its prev field).
                self.add(
                    p,
                    ProblemKind::LineModified,
                    None,
                    format!(
                        "line {p} was modified (its prev field no longer matches line {})",
                        p - 1
                    ),
                );
                explained = true;
            } else {
                self.add(
                    p - 1,
                    ProblemKind::LineModified,
                    None,
                    Self::modified(p - 1),
                );
            }
        }
        if link_broken && !explained {
            if seq_gap {
                if let Ok(r) = parsed {
                    let first = self.prev_seq + 1;
                    self.add(n, ProblemKind::LinesMissing, None, format!(
                        "record(s) seq {first}..={} are missing before line {n}: lines were deleted",
                        r.seq - 1));
                }
            } else if n == 1 {
                self.add(
                    1,
                    ProblemKind::LineModified,
                    None,
                    "line 1 does not start the chain (its prev is not the genesis value)".into(),
                );
            } else {
                self.pending = Some(n);
            }
        }
        if let Ok(r) = parsed {
            if !link_broken && r.seq != self.prev_seq + 1 {
                self.add(
                    n,
                    ProblemKind::Malformed,
                    None,
                    format!(
                        "line {n} has seq {} where {} was expected",
                        r.seq,
                        self.prev_seq + 1
                    ),
                );
            }
        }
    }

    /// After the last line: a link broken at the end.
    pub fn finish(&mut self) {
        if let Some(k) = self.pending.take() {
            // The break is at the last line: if it is a checkpoint that vouches for the lines
            // before it, the last line itself changed; otherwise the one before it did.
            if self.last_checkpoint_ok && k == self.report.lines {
                self.add(
                    k,
                    ProblemKind::LineModified,
                    None,
                    format!(
                        "line {k} was modified (its prev field no longer matches line {})",
                        k - 1
                    ),
                );
            } else {
                self.add(
                    k - 1,
                    ProblemKind::LineModified,
                    None,
                    Self::modified(k - 1),
                );
            }
        }
        for (level, tn, hashes) in self.tiles.partials() {
            self.compare_tile(level, tn, &hashes, self.report.lines);
        }
        self.report.clips_open = self.open.len() as u64;
    }

    /// The files of the clips still open (their `.partial` files are expected).
    pub fn open_files(&self) -> Vec<String> {
        self.open.values().map(|o| o.file.clone()).collect()
    }

    fn compare_tile(&mut self, level: u8, n: u64, hashes: &[merkle::Hash], line: u64) {
        let Some(store) = &self.store else { return };
        if let Some(what) = tiles::compare(store, level, n, hashes) {
            let path = tiles::tile_path(level, n, hashes.len() as u64);
            self.add(line, ProblemKind::TileMismatch, Some(path.clone()), format!(
                "{path}: {what}; the tiles are derived: the recorder rebuilds a missing one when it starts, `packwitness reindex` rebuilds them all"));
        }
    }

    /// A line written, by its own time, before a TSA time that an earlier line recorded was
    /// re-dated (or the clock set back): every later line was written after that time.
    fn anchor_time(&mut self, n: u64, rec: &Record) {
        const TOLERANCE_MS: i64 = 2000;
        let ms = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|d| d.timestamp_millis())
        };
        if let (Some((floor, line)), Some(at)) = (self.anchor_floor, ms(&rec.at)) {
            if at + TOLERANCE_MS < floor {
                self.add(
                    n,
                    ProblemKind::Inconsistent,
                    None,
                    format!("line {n}: written at {}, before the TSA time recorded on line {line}: the log was re-dated (or the station clock set back)", rec.at),
                );
            }
        }
        if let Body::Anchored { time, .. } = &rec.body {
            if let Some(t) = ms(time) {
                if self.anchor_floor.is_none_or(|(f, _)| t > f) {
                    self.anchor_floor = Some((t, n));
                }
            }
        }
    }

    fn body(&mut self, n: u64, rec: &Record) {
        self.coverage(n, rec);
        self.anchor_time(n, rec);
        match &rec.body {
            Body::StationStart { key, .. } => self.station_key(n, key),
            Body::KeyRotation {
                old,
                new,
                note: text,
            } => self.rotation(n, old, new, text),
            Body::ClipOpened {
                order,
                station,
                camera,
                file,
                started_at,
                ..
            } => {
                self.opened.insert(rec.seq);
                self.open.insert(
                    rec.seq,
                    Opening {
                        order: order.clone(),
                        station: station.clone(),
                        camera: camera.clone(),
                        file: file.clone(),
                        started_at: started_at.clone(),
                    },
                );
            }
            Body::ClipSealed { .. } => self.sealed(n, rec),
            Body::Checkpoint {
                size,
                root,
                note: text,
            } => self.checkpoint(n, rec, *size, root, text),
            Body::CodeAttached { clip, .. } => {
                if !self.opened.contains(*clip) {
                    self.add(n, ProblemKind::Malformed, None, format!("line {n}: attaches a code to clip {clip}, which no earlier line opened"));
                }
            }
            Body::Pruned { clip, .. } => {
                if !self.opened.contains(*clip) {
                    self.add(
                        n,
                        ProblemKind::Malformed,
                        None,
                        format!("line {n}: prunes clip {clip}, which no earlier line opened"),
                    );
                }
                if self.pruned.insert(*clip) {
                    self.report.clips_pruned += 1;
                }
                self.sealed_at.remove(clip);
            }
            Body::CrashRecovered { .. } => {
                if let Some(u) = self.uncovered.as_mut() {
                    u.2 = true;
                }
            }
            Body::OrphanRecovered { .. } => {
                // Its file is checked like a sealed clip's; its line is its id.
                self.report.clips_sealed += 1;
                self.report.clips_interrupted += 1;
                self.opened.insert(n);
                self.sealed.insert(n);
                self.sealed_at.insert(
                    n,
                    SealedAt {
                        line: n,
                        clip: n,
                        offset: self.offset,
                        len: self.line_len,
                    },
                );
            }
            Body::CameraGap {
                clip: Some(clip), ..
            } => {
                if !self.opened.contains(*clip) {
                    self.add(n, ProblemKind::Malformed, None, format!("line {n}: a camera gap names clip {clip}, which no earlier line opened"));
                }
            }
            Body::CameraGap { clip: None, .. }
            | Body::NoVideo { .. }
            | Body::OrderResumed { .. }
            | Body::ClockAdjusted { .. }
            | Body::Anchored { .. }
            | Body::TornLineRemoved { .. }
            | Body::Scan { .. }
            | Body::Access { .. }
            | Body::Hold { .. } => {}
        }
    }

    /// The station key: the first one is in force; a change needs a rotation record.
    fn station_key(&mut self, n: u64, key: &str) {
        let v = match note::NoteVerifier::parse(key) {
            Ok(v) => v,
            Err(e) => {
                self.add(n, ProblemKind::Malformed, None, format!("line {n}: {e}"));
                return;
            }
        };
        if let Some(p) = &self.pinned {
            if key.trim() != p_text(p).trim() {
                self.add(
                    n,
                    ProblemKind::BadSignature,
                    None,
                    format!("line {n}: the station key {key} is not the pinned key"),
                );
            }
        }
        match &self.key {
            Some((current, _)) if current.trim() != key.trim() => {
                let current = current.clone();
                self.add(n, ProblemKind::KeyChanged, None, format!(
                    "line {n}: the station key changes to {key} without a key_rotation record signed by the key in force ({current}): a log under another key was spliced in, or the key was replaced"));
            }
            _ => {}
        }
        self.key = Some((key.to_string(), v));
    }

    fn rotation(&mut self, n: u64, old: &str, new: &str, text: &str) {
        let ok = match &self.key {
            Some((current, v)) if current.trim() == old.trim() => v.open(text).is_ok_and(|body| {
                body == format!("packwitness key rotation\nold {old}\nnew {new}\n")
            }),
            _ => false,
        };
        if let (true, Ok(v)) = (ok, note::NoteVerifier::parse(new)) {
            // From here on the new key is in force (the next checkpoint is signed by it).
            self.key = Some((new.to_string(), v));
        } else {
            self.add(
                n,
                ProblemKind::BadSignature,
                None,
                format!("line {n}: the key rotation to {new} is not signed by the key in force"),
            );
        }
    }

    fn sealed(&mut self, n: u64, rec: &Record) {
        let Body::ClipSealed {
            clip,
            order,
            station,
            camera,
            file,
            size,
            reason,
            started_at,
            ended_at,
            duration_ms,
            frames,
            ..
        } = &rec.body
        else {
            return;
        };
        self.report.clips_sealed += 1;
        if *reason == SealReason::Interrupted {
            self.report.clips_interrupted += 1;
        }
        if !self.sealed.insert(*clip) {
            self.add(
                n,
                ProblemKind::Inconsistent,
                None,
                format!("line {n}: clip {clip} is sealed a second time"),
            );
        }
        match self.open.remove(clip) {
            None => self.add(
                n,
                ProblemKind::Inconsistent,
                None,
                format!("line {n}: seals clip {clip}, which no earlier line opened"),
            ),
            Some(o) => {
                if o.order != *order
                    || o.station != *station
                    || o.camera != *camera
                    || o.file != *file
                    || o.started_at != *started_at
                {
                    self.add(n, ProblemKind::Inconsistent, None, format!(
                        "line {n}: the seal of clip {clip} names another order, station, camera, file or start than its opening"));
                }
            }
        }
        match (time(started_at), time(ended_at)) {
            (Some(s), Some(e)) => {
                let span_ms = (e - s).num_milliseconds();
                if span_ms < 0 {
                    self.add(
                        n,
                        ProblemKind::Inconsistent,
                        None,
                        format!(
                        "line {n}: clip {clip} ends ({ended_at}) before it starts ({started_at})"),
                    );
                } else if *frames > 0 {
                    // duration = span + one frame; allow a frame at 1 fps and rounding.
                    let slack = 1_000 + (*duration_ms as i64) / 20;
                    if (*duration_ms as i64 - span_ms).abs() > slack {
                        self.add(n, ProblemKind::Inconsistent, None, format!(
                            "line {n}: clip {clip} lasts {duration_ms} ms by its record, but {span_ms} ms from start to end"));
                    }
                    let fps = *frames as f64 * 1000.0 / (*duration_ms).max(1) as f64;
                    if !(0.2..=241.0).contains(&fps) {
                        self.add(n, ProblemKind::Inconsistent, None, format!(
                            "line {n}: clip {clip} has {frames} frames in {duration_ms} ms ({fps:.1} frames a second)"));
                    }
                }
            }
            _ => self.add(
                n,
                ProblemKind::Malformed,
                None,
                format!("line {n}: a time of clip {clip} is not RFC 3339"),
            ),
        }
        if *frames == 0
            && *size > 0
            && *reason != SealReason::Interrupted
            && *reason != SealReason::Error
        {
            self.add(
                n,
                ProblemKind::Inconsistent,
                None,
                format!("line {n}: clip {clip} has bytes but no frames"),
            );
        }
        if !self.pruned.contains(*clip) {
            self.sealed_at.insert(
                *clip,
                SealedAt {
                    line: n,
                    clip: *clip,
                    offset: self.offset,
                    len: self.line_len,
                },
            );
        }
    }

    fn checkpoint(&mut self, n: u64, rec: &Record, size: u64, root: &str, text: &str) {
        self.report.checkpoints += 1;
        let actual = self.frontier.root();
        let root_ok = size == self.frontier.size() && root == digest::hex(&actual);
        if !root_ok {
            self.add(n, ProblemKind::CheckpointMismatch, None, format!(
                "line {n}: checkpoint says {size} lines with root {root}; the {} lines before it hash to {}",
                self.frontier.size(), digest::hex(&actual)));
        }
        let verifier = self.pinned.as_ref().or(self.key.as_ref().map(|k| &k.1));
        match verifier.map(|v| v.open(text)) {
            None => self.add(n, ProblemKind::BadSignature, None, format!("line {n}: checkpoint with no station key before it")),
            Some(Err(e)) => self.add(n, ProblemKind::BadSignature, None, format!("line {n}: {e}")),
            Some(Ok(body)) => match note::Checkpoint::parse(body) {
                Ok(cp) if cp.size == size && digest::hex(&cp.root) == root
                    && cp.time.as_deref() == Some(rec.at.as_str()) && cp.salt == rec.salt => {
                    self.last_checkpoint_ok = root_ok;
                    if root_ok {
                        if self.checkpoints.len() == 3 {
                            self.checkpoints.remove(1);
                        }
                        self.checkpoints.push((n, size, actual, rec.at.clone()));
                    }
                }
                _ => self.add(n, ProblemKind::CheckpointMismatch, None,
                    format!("line {n}: the signed note does not match the record's size, root, time or salt")),
            },
        }
    }

    /// Lines must be covered by a checkpoint within the interval (or explained by a crash).
    fn coverage(&mut self, n: u64, rec: &Record) {
        if let Body::Checkpoint { .. } = rec.body {
            if let (Some((first, first_at, crashed)), Some(interval)) =
                (self.uncovered.take(), self.interval)
            {
                if !crashed {
                    if let Some(late) = self.late(&first_at, &rec.at, interval) {
                        self.add(first, ProblemKind::StaleCheckpoint, None, format!(
                            "lines {first}..={} waited {late} for a signed checkpoint (ledger.checkpoint_minutes is {} min) and no crash explains it",
                            n - 1, interval.as_secs() / 60));
                    }
                }
            }
            self.uncovered = None;
            self.last_cp_at = Some(rec.at.clone());
        } else if self.uncovered.is_none() {
            self.uncovered = Some((n, rec.at.clone(), false));
        }
    }

    /// How late a checkpoint at `cp_at` is for lines first written at `first_at`, if late:
    /// the writer signs within the interval of the last checkpoint, or at the first tick
    /// after a record when that interval has passed.
    fn late(&self, first_at: &str, cp_at: &str, interval: Duration) -> Option<String> {
        let (f, c) = (time(first_at)?, time(cp_at)?);
        let last = self.last_cp_at.as_deref().and_then(time).unwrap_or(f);
        let due = (last + chrono::Duration::from_std(interval).ok()?).max(f)
            + chrono::Duration::seconds(60);
        (c > due).then(|| format!("{} s", (c - f).num_seconds()))
    }

    /// The last lines not covered by a checkpoint (first line, time, explained by a crash).
    pub fn uncovered_tail(&self) -> Option<(u64, String, bool)> {
        self.uncovered.clone()
    }

    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// Whether the tail's checkpoint is late at time `now`.
    pub fn tail_late(&self, now: &str) -> Option<String> {
        let (first, at, crashed) = self.uncovered.as_ref()?;
        let _ = first;
        if *crashed {
            return None;
        }
        self.late(at, now, self.interval?)
    }
}

fn p_text(v: &note::NoteVerifier) -> String {
    v.text().to_string()
}
