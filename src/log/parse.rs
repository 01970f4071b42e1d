//! Reading a manifest line into a [`Record`] in one pass.
//!
//! Owns: the deserializer of records. A derived one (a flattened, internally tagged enum)
//! buffers every line into an intermediate tree before it knows the kind; this one reads the
//! line once into a flat set of every field any kind has, then builds the kind's body. It is
//! what makes `verify` and index rebuilds read hundreds of thousands of lines a second. The
//! bytes written are unchanged: records are still serialised by serde's derive.
//! Never: accepts a record that lacks a field its kind requires (the error names it).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::{Body, Record, ScanAction, SealReason};

/// Every field of every record kind, as found in a line.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Flat {
    v: Option<u32>,
    seq: Option<u64>,
    prev: Option<String>,
    at: Option<String>,
    salt: Option<String>,
    kind: Option<String>,
    station: Option<String>,
    software: Option<String>,
    config_sha256: Option<String>,
    cameras: Option<Vec<String>>,
    sources: Option<Vec<String>>,
    key: Option<String>,
    order: Option<String>,
    camera: Option<String>,
    operator: Option<String>,
    group: Option<String>,
    part: Option<u32>,
    #[serde(rename = "box")]
    box_no: Option<u32>,
    file: Option<String>,
    started_at: Option<String>,
    scanned_at: Option<String>,
    first_frame: Option<u64>,
    clock_synced: Option<bool>,
    test_pattern: Option<bool>,
    clip: Option<u64>,
    reason: Option<String>,
    ended_at: Option<String>,
    duration_ms: Option<u64>,
    frames: Option<u64>,
    size: Option<u64>,
    sha256: Option<String>,
    fragments: Option<u64>,
    fragments_sha256: Option<String>,
    dropped_frames: Option<u64>,
    presets: Option<Vec<super::PresetStep>>,
    root: Option<String>,
    tsa: Option<String>,
    time: Option<String>,
    note: Option<String>,
    bytes: Option<u64>,
    kept_in: Option<String>,
    last_checkpoint: Option<u64>,
    from: Option<serde_json::Value>,
    down: Option<Vec<super::CameraDown>>,
    step_ms: Option<i64>,
    to: Option<serde_json::Value>,
    old: Option<String>,
    new: Option<String>,
    code: Option<String>,
    code_kind: Option<String>,
    scanner: Option<String>,
    rule: Option<String>,
    action: Option<String>,
    detail: Option<String>,
    clips: Option<Vec<u64>>,
    who: Option<String>,
    released: Option<bool>,
    derived: Option<super::Derived>,
    log: Option<String>,
}

fn need<T>(v: Option<T>, kind: &str, field: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("a {kind} record without its {field:?} field"))
}

fn seal_reason(s: &str) -> SealReason {
    serde_json::from_value(serde_json::Value::String(s.to_string())).unwrap_or(SealReason::Other)
}

fn scan_action(s: &str) -> ScanAction {
    serde_json::from_value(serde_json::Value::String(s.to_string())).unwrap_or(ScanAction::Other)
}

impl Flat {
    fn into_record(mut self) -> Result<Record, String> {
        let kind = need(self.kind.take(), "", "kind")?;
        let k = kind.as_str();
        let body = match self.recorder_body(k)? {
            Some(b) => b,
            None => self.other_body(k)?,
        };
        Ok(Record {
            v: need(self.v, k, "v")?,
            seq: need(self.seq, k, "seq")?,
            prev: need(self.prev, k, "prev")?,
            at: need(self.at, k, "at")?,
            salt: self.salt,
            body,
        })
    }

    /// The kinds the recorder writes about its own log and clips; `None` for the others.
    fn recorder_body(&mut self, k: &str) -> Result<Option<Body>, String> {
        macro_rules! req {
            ($field:ident) => {
                need(self.$field.take(), k, stringify!($field))?
            };
        }
        let to_u64 = |v: &Option<serde_json::Value>, field: &str| -> Result<u64, String> {
            v.as_ref()
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| format!("a {k} record without its {field:?} line"))
        };
        Ok(Some(match k {
            "station_start" => Body::StationStart {
                station: req!(station),
                software: req!(software),
                config_sha256: req!(config_sha256),
                cameras: req!(cameras),
                key: req!(key),
                sources: self.sources.take().unwrap_or_default(),
            },
            "clip_opened" => Body::ClipOpened {
                order: req!(order),
                station: req!(station),
                camera: req!(camera),
                operator: self.operator.take(),
                group: req!(group),
                part: req!(part),
                box_no: self.box_no.unwrap_or(1),
                file: req!(file),
                started_at: req!(started_at),
                scanned_at: req!(scanned_at),
                first_frame: req!(first_frame),
                clock_synced: self.clock_synced,
                test_pattern: self.test_pattern,
            },
            "clip_sealed" => Body::ClipSealed {
                clip: req!(clip),
                order: req!(order),
                station: req!(station),
                camera: req!(camera),
                file: req!(file),
                reason: seal_reason(&req!(reason)),
                started_at: req!(started_at),
                ended_at: req!(ended_at),
                duration_ms: req!(duration_ms),
                frames: req!(frames),
                first_frame: req!(first_frame),
                size: req!(size),
                sha256: req!(sha256),
                fragments: req!(fragments),
                fragments_sha256: req!(fragments_sha256),
                dropped_frames: self.dropped_frames,
                presets: self.presets.take().unwrap_or_default(),
            },
            "checkpoint" => Body::Checkpoint {
                size: req!(size),
                root: req!(root),
                note: req!(note),
            },
            "torn_line_removed" => Body::TornLineRemoved {
                bytes: req!(bytes),
                sha256: req!(sha256),
                kept_in: req!(kept_in),
                reason: self.reason.take(),
            },
            "crash_recovered" => Body::CrashRecovered {
                last_checkpoint: req!(last_checkpoint),
                from: to_u64(&self.from, "from")?,
                to: to_u64(&self.to, "to")?,
            },
            "key_rotation" => Body::KeyRotation {
                old: req!(old),
                new: req!(new),
                note: req!(note),
            },
            _ => return Ok(None),
        }))
    }

    /// Scans, codes, access, holds and retention.
    fn other_body(&mut self, k: &str) -> Result<Body, String> {
        macro_rules! req {
            ($field:ident) => {
                need(self.$field.take(), k, stringify!($field))?
            };
        }
        let to_string =
            |v: &Option<serde_json::Value>, field: &str| -> Result<Option<String>, String> {
                match v {
                    None | Some(serde_json::Value::Null) => Ok(None),
                    Some(serde_json::Value::String(s)) => Ok(Some(s.to_string())),
                    Some(_) => Err(format!("a {k} record whose {field:?} is not text")),
                }
            };
        Ok(match k {
            "code_attached" => Body::CodeAttached {
                clip: req!(clip),
                code: req!(code),
                code_kind: req!(code_kind),
            },
            "scan" => Body::Scan {
                station: req!(station),
                scanner: req!(scanner),
                code: req!(code),
                code_kind: req!(code_kind),
                rule: req!(rule),
                action: scan_action(&req!(action)),
                detail: self.detail.take(),
                order: self.order.take(),
                box_no: self.box_no,
                group: self.group.take(),
                operator: self.operator.take(),
                scanned_at: req!(scanned_at),
            },
            "access" => Body::Access {
                action: req!(action),
                code: req!(code),
                clips: req!(clips),
                who: req!(who),
                to: to_string(&self.to, "to")?,
                derived: self.derived.take(),
                log: self.log.take(),
            },
            "hold" => Body::Hold {
                code: req!(code),
                clips: req!(clips),
                released: req!(released),
                who: req!(who),
                reason: self.reason.take(),
            },
            "pruned" => Body::Pruned {
                clip: req!(clip),
                file: req!(file),
                reason: req!(reason),
            },
            "no_video" => Body::NoVideo {
                station: req!(station),
                order: req!(order),
                box_no: self.box_no.unwrap_or(1),
                group: req!(group),
                scanned_at: req!(scanned_at),
                down: req!(down),
            },
            "camera_gap" => Body::CameraGap {
                station: req!(station),
                camera: req!(camera),
                order: req!(order),
                group: req!(group),
                from: need(to_string(&self.from, "from")?, k, "from")?,
                to: need(to_string(&self.to, "to")?, k, "to")?,
                clip: self.clip,
                reason: req!(reason),
            },
            "orphan_recovered" => Body::OrphanRecovered {
                station: req!(station),
                camera: req!(camera),
                order: req!(order),
                file: req!(file),
                size: req!(size),
                sha256: req!(sha256),
                fragments: req!(fragments),
                fragments_sha256: req!(fragments_sha256),
                frames: req!(frames),
                duration_ms: req!(duration_ms),
                reason: req!(reason),
            },
            "anchored" => Body::Anchored {
                size: req!(size),
                tsa: req!(tsa),
                time: req!(time),
                file: req!(file),
                sha256: req!(sha256),
            },
            "clock_adjusted" => Body::ClockAdjusted {
                station: req!(station),
                camera: req!(camera),
                step_ms: self
                    .step_ms
                    .ok_or_else(|| format!("a {k} record without its \"step_ms\" field"))?,
                reason: req!(reason),
            },
            "order_resumed" => Body::OrderResumed {
                station: req!(station),
                order: req!(order),
                box_no: self.box_no.unwrap_or(1),
                group: req!(group),
                scanned_at: req!(scanned_at),
                reason: req!(reason),
            },
            other => return Err(format!("unknown record kind {other:?}")),
        })
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Record, D::Error> {
        Flat::deserialize(d)?
            .into_record()
            .map_err(D::Error::custom)
    }
}
