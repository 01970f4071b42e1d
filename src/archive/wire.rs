//! The push protocol, version 1 (docs/format.md "Archive push protocol"): JSON bodies over
//! HTTP, every request with `Authorization: Bearer <station token>`.
//!
//! - `GET /v1/log`: what the archive holds of this station's log ([`LogHeld`]), and the first
//!   sealed clips whose bytes it still lacks.
//! - `POST /v1/log` ([`PushLines`]): lines `old+1 ..= size` of the log with the checkpoint of
//!   `size` lines that signs them and a consistency proof from the archive's `old` lines.
//!   200: a cosignature line of the checkpoint (`text/x.tlog.cosignature`, the receipt); 409:
//!   the size the archive holds (`text/x.tlog.size`); 422: refused as a fork or a rewrite.
//! - `PUT /v1/clips/<sha256>`: a clip's bytes; 200 with [`ClipStored`] once the object store
//!   holds them under lock; 404 when no seal of this station names that hash; 422 when the
//!   store found that the bytes are not the ones the seal names.
//! - `GET /v1/clips/<sha256>`: 200 with [`ClipStored`] when the bucket holds that clip of this
//!   station under lock, else 404 (retention asks before it removes a clip for age).
//! - `POST /v1/clips/<sha256>/gone`: the station no longer has the clip's bytes (pruned, or the
//!   file no longer matches its seal), with why as a text body.
//! - `POST /v1/clips/<sha256>/upload`, `PUT /v1/clips/<sha256>/upload/<n>` (with
//!   `x-packwitness-sha256`, the part's SHA-256), `POST /v1/clips/<sha256>/complete`: a large
//!   clip in parts ([`UploadState`]), resumable by either side; complete answers [`ClipStored`]
//!   once the hash of all parts is the seal's.
//! - `POST /v1/anchors` ([`PushAnchors`]): TSA tokens the log's `anchored` records name, and
//!   checkpoints a witness cosigned; 200 with [`AnchorsStored`]; 422 when one is not what it
//!   claims (those before it are kept). [`LogHeld`] lists the tokens the archive lacks and the
//!   newest cosigned size it holds per witness.
//!
//! Owns: these shapes. Never: changes a field's meaning without a new version.

use serde::{Deserialize, Serialize};

/// The protocol version in every body.
pub const VERSION: u32 = 1;

/// At most this many pending clips are listed in a [`LogHeld`].
pub const PENDING_LISTED: i64 = 32;

/// `GET /v1/log`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogHeld {
    pub v: u32,
    /// The station's log origin (its key's name).
    pub origin: String,
    /// Lines the archive holds, and the root of their tree (base64; empty at size 0).
    pub size: u64,
    pub root: String,
    /// Sealed clips (oldest first) whose bytes the archive lacks.
    pub pending: Vec<PendingClip>,
    /// How many clips in all the archive lacks.
    pub pending_total: u64,
    /// TSA tokens (oldest first) that `anchored` records name and the archive lacks.
    /// Absent in answers of archives before anchors were archived.
    #[serde(default)]
    pub tokens: Vec<PendingToken>,
    #[serde(default)]
    pub tokens_total: u64,
    /// Per witness, the newest checkpoint size whose cosignature the archive holds.
    #[serde(default)]
    pub witnessed: Vec<Witnessed>,
}

/// A TSA token the archive lacks, as the log's `anchored` record names it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingToken {
    /// The stamped checkpoint's size.
    pub size: u64,
    /// The token's file (relative to the data dir; its note is beside it, `.note`) and
    /// SHA-256.
    pub file: String,
    pub sha256: String,
}

/// The newest cosignature of one witness the archive holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Witnessed {
    /// The witness's key ID (8 hex digits).
    pub witness: String,
    pub size: u64,
}

/// `POST /v1/anchors`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PushAnchors {
    pub v: u32,
    pub anchors: Vec<AnchorFiles>,
}

/// One anchor's files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AnchorFiles {
    /// A TSA's token: the exact note stamped and the DER TimeStampResp (base64).
    Tsa {
        size: u64,
        note: String,
        tsr: String,
    },
    /// A witness's cosignature: the checkpoint note with the witness's cosignature line, and
    /// the witness's verifier key (its key ID is the folder name).
    Witness {
        witness_key: String,
        size: u64,
        note: String,
    },
}

/// The answer to `POST /v1/anchors`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AnchorsStored {
    pub v: u32,
    /// How many of those sent the bucket now holds under lock (also those it held already).
    pub stored: u64,
}

/// A sealed clip the archive lacks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PendingClip {
    /// The line number of its `clip_sealed` record.
    pub seal: u64,
    pub sha256: String,
    pub size: u64,
    /// Its file, relative to the data dir.
    pub file: String,
    /// The seal record's time (RFC 3339).
    pub sealed_at: String,
}

/// `POST /v1/log`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PushLines {
    pub v: u32,
    /// The size the archive holds (from [`LogHeld`] or the last receipt).
    pub old: u64,
    /// Consistency proof from `old` to the checkpoint's size (base64 hashes).
    pub proof: Vec<String>,
    /// The signed checkpoint note whose size is `old` + the number of lines.
    pub checkpoint: String,
    /// Lines `old+1 ..= size`, each with its newline, exactly as in the manifest.
    pub lines: String,
}

/// Where a clip's upload in parts is (`/v1/clips/<sha256>/upload...`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UploadState {
    pub v: u32,
    /// Every part is this long but the last.
    pub part_size: u64,
    /// The part to send next (1-based; `parts + 1` once all are stored), and how many there are.
    pub next_part: u32,
    pub parts: u32,
    /// The bucket holds the clip already (nothing to send).
    pub stored: bool,
}

/// The answer to a clip's `PUT`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClipStored {
    pub v: u32,
    pub sha256: String,
    /// The object's key and version in the bucket.
    pub key: String,
    pub version_id: String,
    /// Object Lock: mode and the time it holds until (RFC 3339).
    pub lock_mode: String,
    pub retain_until: String,
}
