//! Log: the append-only, hash-chained manifest (`manifest.jsonl`): its records, the one
//! writer that appends them, the Merkle tree over them, signed checkpoints and proofs.
//!
//! Owns: the record format (documented in docs/format.md), appending records durably
//! ([`writer`]), reading them back, RFC 6962 Merkle hashing ([`merkle`]), the station key and
//! C2SP signed notes ([`note`]), and inclusion proofs ([`proof`]).
//! Never: rewrites or deletes a line, or looks at clip files (verify does).
//!
//! Each line is one JSON object followed by `\n`. Its `prev` is the lowercase-hex SHA-256 of
//! the previous line's exact bytes, including that line's `\n`; the first line's `prev` is
//! [`GENESIS`]. So `sed -n 1p manifest.jsonl | sha256sum` must equal `prev` of line 2.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::datadir::MANIFEST;
use crate::error::{Error, ErrorKind};

pub mod merkle;
pub mod note;
pub mod orders;
mod parse;
pub mod proof;
pub mod reader;
pub mod state;
pub mod tiles;
#[cfg(test)]
mod vectors;
pub mod words;
pub mod writer;

pub use writer::Ledger;

/// The format version written in every record's `v`. Version 2 added the `scan`, `access` and
/// `hold` kinds and `clip_opened.box`; version 3 added `salt` to every record and the
/// `crash_recovered`, `key_rotation`, `no_video`, `camera_gap`, `clock_adjusted`,
/// `order_resumed` and `orphan_recovered` kinds. Readers accept
/// versions 1 to 3 (an older line is a newer one without what was added since).
pub const FORMAT_VERSION: u32 = 3;
/// `prev` of the first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Why a clip was sealed (`clip_sealed.reason`), written as the snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SealReason {
    /// The next order was scanned: it starts at the same frame.
    NextOrder,
    /// The stop code was scanned (after the post-roll).
    StopCode,
    /// The cancel code was scanned; the clip is kept.
    Cancelled,
    /// The order being recorded was scanned again (`rescan_same_order = "seal"`).
    Rescan,
    /// The next box of the same order starts.
    NextBox,
    /// The clip reached `max_clip_s`.
    Timeout,
    /// The process was told to stop.
    Shutdown,
    /// A file or test source reached its end.
    SourceEnded,
    /// The camera was lost; the order continues as the next part when it is back.
    CameraLost,
    /// The process died; recovery sealed the clip at its last complete fragment.
    Interrupted,
    /// Writing the clip failed (a full disk); sealed with its complete fragments.
    Error,
    /// A reason this program does not know (written by a newer one).
    #[serde(other)]
    Other,
}

impl SealReason {
    /// Whether a seal for this reason ends its order with no scan record to say so (a
    /// timeout, a stop, the end of a file source). A seal that a scan caused (the next order,
    /// the next box, a rescan, a stop or cancel code) is written after that scan's record,
    /// which already says what the station records next.
    pub fn ends_order_unscanned(self) -> bool {
        matches!(
            self,
            SealReason::Timeout | SealReason::Shutdown | SealReason::SourceEnded
        )
    }

    /// The name written in records.
    pub fn as_str(self) -> &'static str {
        match self {
            SealReason::NextOrder => "next_order",
            SealReason::StopCode => "stop_code",
            SealReason::Cancelled => "cancelled",
            SealReason::Rescan => "rescan",
            SealReason::NextBox => "next_box",
            SealReason::Timeout => "timeout",
            SealReason::Shutdown => "shutdown",
            SealReason::SourceEnded => "source_ended",
            SealReason::CameraLost => "camera_lost",
            SealReason::Interrupted => "interrupted",
            SealReason::Error => "error",
            SealReason::Other => "other",
        }
    }
}

impl std::fmt::Display for SealReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a scan did (`scan.action`), written as the snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanAction {
    Open,
    Switch,
    Seal,
    Attach,
    Operator,
    Ignored,
    /// An action this program does not know (written by a newer one).
    #[serde(other)]
    Other,
}

impl ScanAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ScanAction::Open => "open",
            ScanAction::Switch => "switch",
            ScanAction::Seal => "seal",
            ScanAction::Attach => "attach",
            ScanAction::Operator => "operator",
            ScanAction::Ignored => "ignored",
            ScanAction::Other => "other",
        }
    }
}

impl std::fmt::Display for ScanAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Appends records to a data dir's manifest: the recorder's writer thread, a writer opened
/// for one command, or the socket of a recorder running in another process. Every call
/// returns once the record is durable.
pub trait Appender: Send + Sync {
    /// Appends `body`; returns the record with its `seq`.
    fn append(&self, body: Body) -> Result<Record, Error>;
    /// Appends a signed checkpoint over everything so far (none if the last line is one).
    fn checkpoint(&self) -> Result<Option<Record>, Error>;
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("manifest {path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("manifest {path}: a write failed earlier ({what}); the writer refuses more records until it is reopened (restart packwitness)")]
    Broken { path: PathBuf, what: String },
    #[error("manifest {path}, line {line}: {what}; run `packwitness verify` for a full report")]
    Corrupt {
        path: PathBuf,
        line: u64,
        what: String,
    },
}

/// One manifest line. (Deserialised by [`parse`], in one pass.)
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Record {
    /// Format version, [`FORMAT_VERSION`].
    pub v: u32,
    /// 1 for the first line, then +1 per line.
    pub seq: u64,
    /// SHA-256 (hex) of the previous line's bytes including its newline; [`GENESIS`] for line 1.
    pub prev: String,
    /// Local time the record was written, RFC 3339 with milliseconds and UTC offset.
    pub at: String,
    /// Version 3: 128 random bits (32 lowercase hex digits), so that no line can be found by
    /// hashing guesses of its content: neither from a later line's `prev` nor from a sibling
    /// hash of an inclusion proof. Absent in versions 1 and 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    #[serde(flatten)]
    pub body: Body,
}

/// How a file handed out was made from sealed clips (an `access` record's `derived`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Derived {
    /// SHA-256 (hex) and size of the file made.
    pub sha256: String,
    pub size: u64,
    pub duration_ms: u64,
    pub width: u32,
    pub height: u32,
    /// The encoder and its settings (`libx264 veryfast crf 23 vbv 900k`), the frame rate and
    /// the cards: enough to make the same kind of file again.
    pub encoder: String,
    /// The clips in it, in the order they play.
    pub sources: Vec<DerivedSource>,
}

/// One clip in a [`Derived`] file: the span of it that plays, in milliseconds from its first
/// frame, and whether the stamp was burned in from its records (passthrough).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DerivedSource {
    pub clip: u64,
    pub sha256: String,
    pub from_ms: u64,
    pub to_ms: u64,
    pub burned_in: bool,
}

/// What a record says. The `kind` field names the variant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// A recording process started on this data dir.
    StationStart {
        station: String,
        software: String,
        /// SHA-256 of the config text in force (of the empty string when defaults were used).
        config_sha256: String,
        cameras: Vec<String>,
        /// The station's public signing key (signed-note verifier form) for checkpoints.
        key: String,
        /// Each camera's source, in the order of `cameras` (`testsrc` and `lavfi:...` are
        /// test patterns: their clips are no evidence). Absent in records written before it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sources: Vec<String>,
    },
    /// Recording of a clip began; written before the first byte of video is.
    ClipOpened {
        order: String,
        station: String,
        camera: String,
        /// The packer's badge scanned before this clip, if any (`null` otherwise).
        operator: Option<String>,
        /// Shared by the clips that one scan opened on the station's cameras.
        group: String,
        /// 1; 2, 3, ... when the camera was lost during the order and came back.
        part: u32,
        /// 1; 2, 3, ... for the next boxes of the same order (`PW-BOX`). Absent in records
        /// written before boxes existed, meaning 1.
        #[serde(rename = "box", default = "one")]
        box_no: u32,
        /// Path relative to the data dir, `/`-separated.
        file: String,
        /// Wall-clock time of the first frame (the start of the pre-roll).
        started_at: String,
        /// Wall-clock time of the frame at which the order was scanned.
        scanned_at: String,
        /// Camera-session frame number of the first frame.
        first_frame: u64,
        /// Whether the system clock was synchronised (NTP) when the clip started; `null` when
        /// the system cannot tell.
        clock_synced: Option<bool>,
        /// Whether the camera's source is a test pattern (`testsrc`, `lavfi:...`): its clips
        /// are no evidence. Written by every station since it existed, so that a bundle need
        /// not cite the `station_start` (its sources and config hash) to say so; absent in
        /// records written before, where the `station_start` in force tells.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        test_pattern: Option<bool>,
    },
    /// A clip file is complete, fsynced and in place; `clip` is the `seq` of its `clip_opened`.
    ClipSealed {
        clip: u64,
        order: String,
        station: String,
        camera: String,
        file: String,
        /// Why it was sealed.
        reason: SealReason,
        started_at: String,
        /// Wall-clock time of the last frame.
        ended_at: String,
        duration_ms: u64,
        frames: u64,
        /// Camera-session frame number of the first frame (0 = first frame the camera delivered).
        first_frame: u64,
        size: u64,
        sha256: String,
        /// Pieces of the file (header, each `moof`+`mdat` fragment, trailer) and the SHA-256
        /// over their raw 32-byte digests in order; the pieces are listed, with offsets, in
        /// `<file>.fragments`, so a modified clip can be located to the fragment.
        fragments: u64,
        fragments_sha256: String,
        /// Frames the camera delivered during the clip that were left out because the recorder
        /// was behind real time (busy CPUs, a slow disk): the frame rate stepped down so the
        /// clip kept up with the clock. `first_frame + frames + dropped_frames` is the next
        /// frame's number. Absent when none was (and in records written before it existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dropped_frames: Option<u64>,
        /// The encoder's preset during the clip when it was not the configured one: stepped
        /// to a faster one while the recorder was behind real time, back when it caught up
        /// (the picture's quality changes there). Absent when it never was.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        presets: Vec<PresetStep>,
    },
    /// A signed tree head over every line before this one (RFC 6962 tree, C2SP checkpoint).
    Checkpoint {
        /// Number of lines covered: lines 1..=size.
        size: u64,
        /// Merkle tree hash of those lines, lowercase hex.
        root: String,
        /// The signed checkpoint note, as text.
        note: String,
    },
    /// On start, the manifest ended in an incomplete line (a write cut short by a crash). The
    /// bytes were moved to `kept_in` (relative to the data dir) and the chain continues.
    TornLineRemoved {
        bytes: u64,
        sha256: String,
        kept_in: String,
        /// Version 3: why the line was bad (`incomplete (no newline): ...` or `complete but
        /// not a valid record`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An order was scanned while no camera of its station delivered frames, and none did
    /// within a few seconds: from its scan on, the order has no video, and `down` says why of
    /// each camera. (A camera that comes back while the order is open records it from then
    /// on, after a `camera_gap`.) Version 3.
    NoVideo {
        station: String,
        order: String,
        #[serde(rename = "box")]
        box_no: u32,
        group: String,
        scanned_at: String,
        down: Vec<CameraDown>,
    },
    /// A camera recorded nothing of an open order from `from` to `to` (wall-clock times):
    /// it was lost during the order, or down when the order was scanned. `clip` is the clip
    /// that resumed the order when the camera came back (the `seq` of its `clip_opened`), or
    /// `null` when the order ended first. Version 3.
    CameraGap {
        station: String,
        camera: String,
        order: String,
        group: String,
        from: String,
        to: String,
        clip: Option<u64>,
        reason: String,
    },
    /// A start after a crash resumed the order the station had open when the process died:
    /// its cameras record it again, as its next part, until its stop code, the next scan or
    /// `max_clip_s`. Version 3.
    OrderResumed {
        station: String,
        order: String,
        #[serde(rename = "box")]
        box_no: u32,
        group: String,
        /// When the order was scanned, before the crash.
        scanned_at: String,
        reason: String,
    },
    /// A start found a clip file being written (`.partial`) that no record names: its
    /// `clip_opened` line was lost in a crash. The file was recovered like an interrupted
    /// clip (cut to its last good fragment, hashed, renamed to `file`) and is named here, so
    /// that it is evidence, not a stray file. `order` and `camera` come from its file name.
    /// Version 3.
    OrphanRecovered {
        station: String,
        camera: String,
        order: String,
        file: String,
        size: u64,
        sha256: String,
        fragments: u64,
        fragments_sha256: String,
        frames: u64,
        duration_ms: u64,
        reason: String,
    },
    /// A camera's frame times stepped by `step_ms` (negative: earlier): frames came earlier
    /// than their mapped wall-clock time, so the session's first reading was late. Frame
    /// times after this record use the corrected map. Version 3.
    ClockAdjusted {
        station: String,
        camera: String,
        step_ms: i64,
        reason: String,
    },
    /// A time-stamp authority stamped the checkpoint of `size` lines: its token (the DER
    /// TimeStampResp, `file` relative to the data dir, with its SHA-256) says `time`. Every
    /// later line was written after that time. Version 3.
    Anchored {
        size: u64,
        tsa: String,
        time: String,
        file: String,
        sha256: String,
    },
    /// The station key changes: the old key (the one in force) signs the new one. A
    /// `station_start` with another key than the one in force is refused by verify unless
    /// this record introduced it. `note` is a signed note by the old key whose body is
    /// `packwitness key rotation\nold <old>\nnew <new>\n`. Version 3.
    KeyRotation {
        old: String,
        new: String,
        note: String,
    },
    /// On start, the last record was not a checkpoint: the process before died (a crash, a
    /// power cut, kill -9). Lines `from..=to` were not covered by a signature when it died;
    /// the checkpoint after this record covers them. Version 3.
    CrashRecovered {
        /// The line of the last checkpoint before the crash (0: none).
        last_checkpoint: u64,
        from: u64,
        to: u64,
    },
    /// Another code (a tracking number, say) scanned during clip `clip`: lookup finds the clip
    /// by it too.
    CodeAttached {
        clip: u64,
        code: String,
        /// What the code is: `tracking`, or another rule name.
        code_kind: String,
    },
    /// A scan the station acted on, written before the action is acknowledged to the packer.
    Scan {
        station: String,
        /// The scanner's id (`[[station.scanner]]`, or `scanner` for standard input).
        scanner: String,
        /// The code as classified (normalised; a badge: the operator's name).
        code: String,
        /// `order`, `tracking`, `operator`, `stop`, `cancel` or `next_box`.
        code_kind: String,
        /// The rule that matched.
        rule: String,
        /// What the scan did.
        action: ScanAction,
        /// The seal reason of `switch`/`seal`, or why the scan was `ignored`.
        detail: Option<String>,
        /// The order (and box) recording after the scan, with its clip group.
        order: Option<String>,
        #[serde(rename = "box")]
        box_no: Option<u32>,
        group: Option<String>,
        operator: Option<String>,
        /// Wall-clock time of the scan.
        scanned_at: String,
    },
    /// Someone exported clips (an evidence bundle) or looked at them.
    Access {
        /// `export`.
        action: String,
        /// The code asked for, normalised.
        code: String,
        /// The clips (`seq` of their `clip_opened`).
        clips: Vec<u64>,
        /// The user account that asked (`$USER`, or `--who`).
        who: String,
        /// Where it went (the bundle's file name), if anywhere.
        to: Option<String>,
        /// A file made from the clips (`upload_mp4`): what it is and how it was made, so that
        /// the file a platform received can be tied to the sealed clips. Absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        derived: Option<Derived>,
        /// In the archive's access log: the station log (its key's name) whose lines `clips`
        /// are. Absent in a station's own log, whose clips are its own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log: Option<String>,
    },
    /// A legal hold placed on (or, `released`, lifted from) clips: held clips are never pruned.
    Hold {
        code: String,
        clips: Vec<u64>,
        released: bool,
        who: String,
        reason: Option<String>,
    },
    /// Retention removed the file of clip `clip` (and its fragment list). Its `clip_sealed`
    /// record, with the hashes, stays in the chain and can still be proven.
    Pruned {
        clip: u64,
        file: String,
        reason: String,
    },
}

/// A camera that recorded nothing, as a `no_video` record says it.
/// A step of a transcoding camera's encoder preset during a clip (`clip_sealed.presets`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PresetStep {
    /// From when (the frame's time; the clip's start when it began at this preset).
    pub at: String,
    /// The libx264 preset from then on.
    pub preset: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CameraDown {
    pub camera: String,
    /// `starting`, `stalled` or `lost`.
    pub state: String,
    /// Since when it delivered no frame (wall-clock), if it ever did or was seen failing.
    pub since: Option<String>,
    /// The last error of its source, if any.
    pub reason: Option<String>,
}

/// Why cameras recorded nothing, for people: `cam-1 lost since 06:02:11 (connection
/// refused)`.
pub fn down_text(down: &[CameraDown]) -> String {
    if down.is_empty() {
        return "the station has no camera".into();
    }
    down.iter()
        .map(|d| {
            let mut t = format!("{} {}", d.camera, d.state);
            if let Some(s) = &d.since {
                t.push_str(&format!(" since {}", crate::clock::short_time(s)));
            }
            if let Some(r) = &d.reason {
                t.push_str(&format!(" ({r})"));
            }
            t
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn one() -> u32 {
    1
}

impl From<LedgerError> for Error {
    fn from(e: LedgerError) -> Error {
        let kind = match &e {
            LedgerError::Io { .. } => ErrorKind::Io,
            LedgerError::Broken { .. } => ErrorKind::Unavailable,
            LedgerError::Corrupt { .. } => ErrorKind::Corrupt,
        };
        Error::new(kind, e)
    }
}

/// Reads manifest lines in order with their 1-based number and byte offset.
pub struct LineReader<R> {
    reader: R,
    line: u64,
    offset: u64,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(reader: R) -> Self {
        LineReader {
            reader,
            line: 0,
            offset: 0,
        }
    }

    /// Starts at `offset`, which must be the start of line `line + 1`.
    pub fn starting_at(reader: R, line: u64, offset: u64) -> Self {
        LineReader {
            reader,
            line,
            offset,
        }
    }

    /// Next line's (number, offset, bytes including the newline if present).
    pub fn next_line(&mut self) -> std::io::Result<Option<(u64, u64, Vec<u8>)>> {
        let mut buf = Vec::new();
        let n = self.reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        let at = self.offset;
        self.offset += n as u64;
        Ok(Some((self.line, at, buf)))
    }
}

/// Opens the manifest of a data dir for reading.
pub fn open_manifest(data_dir: &Path) -> Result<LineReader<BufReader<File>>, LedgerError> {
    let path = data_dir.join(MANIFEST);
    let file = File::open(&path).map_err(|source| LedgerError::Io {
        path: path.clone(),
        what: "opening (is this a packwitness data dir?)",
        source,
    })?;
    Ok(LineReader::new(BufReader::new(file)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest;

    /// A public key in signed-note verifier form (from Go's sumdb/note documentation).
    const TEST_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    #[test]
    fn fixed_vector_record_layout() {
        // The exact bytes of a record are a public contract (README, "Manifest format").
        let rec = Record {
            v: 1,
            seq: 1,
            prev: GENESIS.into(),
            at: "2026-11-25T20:31:02.054+08:00".into(),
            salt: None,
            body: Body::StationStart {
                station: "station-1".into(),
                software: "packwitness 0.1.0".into(),
                config_sha256: digest::sha256_hex(b""),
                cameras: vec!["cam-1".into()],
                key: TEST_KEY.into(),
                sources: Vec::new(),
            },
        };
        let line = serde_json::to_string(&rec).unwrap() + "\n";
        assert_eq!(
            line,
            "{\"v\":1,\"seq\":1,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"at\":\"2026-11-25T20:31:02.054+08:00\",\"kind\":\"station_start\",\"station\":\"station-1\",\"software\":\"packwitness 0.1.0\",\"config_sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"cameras\":[\"cam-1\"],\"key\":\"PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\"}\n"
        );
        assert_eq!(
            line,
            include_str!("../../tests/vectors/station_start.jsonl")
        );
        assert_eq!(
            digest::sha256_hex(line.as_bytes()),
            include_str!("../../tests/vectors/station_start.sha256").trim()
        );
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn fixed_vector_scan_record_version_2() {
        // The second line of the chain started by the station_start vector.
        let rec = Record {
            v: 2,
            seq: 2,
            prev: include_str!("../../tests/vectors/station_start.sha256")
                .trim()
                .into(),
            at: "2026-11-25T20:31:05.120+08:00".into(),
            salt: None,
            body: Body::Scan {
                station: "station-1".into(),
                scanner: "hand-1".into(),
                code: "SF1234567890123".into(),
                code_kind: "tracking".into(),
                rule: "sf".into(),
                action: ScanAction::Attach,
                detail: None,
                order: Some("SO-2026-0001".into()),
                box_no: Some(2),
                group: Some("1764073862054-1".into()),
                operator: Some("ALICE".into()),
                scanned_at: "2026-11-25T20:31:05.118+08:00".into(),
            },
        };
        let line = serde_json::to_string(&rec).unwrap() + "\n";
        assert_eq!(line, include_str!("../../tests/vectors/scan.jsonl"));
        assert_eq!(
            digest::sha256_hex(line.as_bytes()),
            include_str!("../../tests/vectors/scan.sha256").trim()
        );
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn version_1_clip_opened_reads_as_box_1() {
        let line = r#"{"v":1,"seq":3,"prev":"00","at":"t","kind":"clip_opened","order":"A","station":"s","camera":"c","operator":null,"group":"g","part":1,"file":"clips/a.mp4","started_at":"t","scanned_at":"t","first_frame":0,"clock_synced":null}"#;
        let rec: Record = serde_json::from_str(line).unwrap();
        assert!(matches!(rec.body, Body::ClipOpened { box_no: 1, .. }));
    }

    /// `test_pattern` on `clip_opened`: written last when known, absent (unknown) in older
    /// lines, which read as before.
    #[test]
    fn clip_opened_says_whether_its_source_is_a_test_pattern() {
        let line = r#"{"v":3,"seq":3,"prev":"00","at":"t","salt":"5a170000000000000000000000000003","kind":"clip_opened","order":"A","station":"s","camera":"c","operator":null,"group":"9f86d081884c7d65","part":1,"box":1,"file":"clips/a.mp4","started_at":"t","scanned_at":"t","first_frame":0,"clock_synced":true,"test_pattern":false}"#;
        let rec: Record = serde_json::from_str(line).unwrap();
        assert!(matches!(
            rec.body,
            Body::ClipOpened {
                test_pattern: Some(false),
                ..
            }
        ));
        assert_eq!(serde_json::to_string(&rec).unwrap(), line);
        let older = line.replace(r#","test_pattern":false"#, "");
        let rec: Record = serde_json::from_str(&older).unwrap();
        assert!(matches!(
            rec.body,
            Body::ClipOpened {
                test_pattern: None,
                ..
            }
        ));
        assert_eq!(serde_json::to_string(&rec).unwrap(), older);
    }
}
