//! The fixed test vectors of format version 3 (`tests/vectors/v3.jsonl`, quoted in
//! docs/format.md): a complete small log with one record of every kind, salts and times fixed,
//! signed with the published test keys below (Ed25519 signatures are deterministic). This test
//! builds the log from `Record` values and requires the file to be byte for byte what it
//! builds, so the file is what the writer writes; `PACKWITNESS_WRITE_VECTORS=1 cargo test
//! --lib vectors` rewrites it after a deliberate format change.

use super::note::{Checkpoint, StationKey};
use super::{merkle, Body, CameraDown, Record, ScanAction, SealReason, GENESIS};
use crate::digest;

/// The vector log's signing keys (test keys: published, never use them for a station).
pub const TEST_PRIVATE_KEY: &str = "PRIVATE+KEY+packwitness.local/vector/0001+549fcae7+AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB";
pub const TEST_PRIVATE_KEY_2: &str = "PRIVATE+KEY+packwitness.local/vector/0001+cfc46d9a+AQICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIC";

const STATION: &str = "station-1";

fn at(s: u32) -> String {
    format!("2026-11-25T20:31:{s:02}.054+08:00")
}

fn salt(seq: u64) -> String {
    format!(
        "{:032x}",
        0x5a17_0000_0000_0000_0000_0000_0000_0000u128 + u128::from(seq)
    )
}

fn push(out: &mut Vec<String>, leaves: &mut Vec<merkle::Hash>, body: Body, secs: u32) {
    let seq = out.len() as u64 + 1;
    let prev = out
        .last()
        .map_or_else(|| GENESIS.to_string(), |l| digest::sha256_hex(l.as_bytes()));
    let rec = Record {
        v: 3,
        seq,
        prev,
        at: at(secs),
        salt: Some(salt(seq)),
        body,
    };
    let line = serde_json::to_string(&rec).expect("a record serialises") + "\n";
    leaves.push(merkle::leaf_hash(line.as_bytes()));
    out.push(line);
}

/// The checkpoint record `seq` over `leaves`, signed by `key`.
fn checkpoint(seq: u64, leaves: &[merkle::Hash], key: &StationKey, secs: u32) -> Body {
    let cp = Checkpoint {
        origin: key.name().to_string(),
        size: leaves.len() as u64,
        root: merkle::root(leaves),
        time: Some(at(secs)),
        salt: Some(salt(seq)),
    };
    Body::Checkpoint {
        size: cp.size,
        root: digest::hex(&cp.root),
        note: key.sign(&cp.body()),
    }
}

/// The vector log's lines, each with its newline.
pub fn lines() -> Vec<String> {
    let k1 = StationKey::parse(TEST_PRIVATE_KEY).expect("test key 1");
    let k2 = StationKey::parse(TEST_PRIVATE_KEY_2).expect("test key 2");
    let file = "clips/station-1/2026-11-25/SO-2026-0001_cam-1_000003.mp4".to_string();
    let rotation = format!(
        "packwitness key rotation\nold {}\nnew {}\n",
        k1.verifier(),
        k2.verifier()
    );
    let bodies: Vec<Body> = vec![
        Body::StationStart {
            station: STATION.into(),
            software: "packwitness 0.1.0".into(),
            config_sha256: digest::sha256_hex(b""),
            cameras: vec!["cam-1".into()],
            key: k1.verifier(),
            sources: vec!["rtsp://admin:***@10.0.0.5:554/h264".into()],
        },
        Body::Scan {
            station: STATION.into(),
            scanner: "hand-1".into(),
            code: "SO-2026-0001".into(),
            code_kind: "order".into(),
            rule: "so".into(),
            action: ScanAction::Open,
            detail: None,
            order: Some("SO-2026-0001".into()),
            box_no: Some(1),
            group: Some("1764073862054-1".into()),
            operator: Some("ALICE".into()),
            scanned_at: at(3),
        },
        Body::ClipOpened {
            order: "SO-2026-0001".into(),
            station: STATION.into(),
            camera: "cam-1".into(),
            operator: Some("ALICE".into()),
            group: "1764073862054-1".into(),
            part: 1,
            box_no: 1,
            file: file.clone(),
            started_at: at(1),
            scanned_at: at(3),
            first_frame: 0,
            clock_synced: Some(true),
            test_pattern: None,
        },
        Body::CodeAttached {
            clip: 3,
            code: "SF1234567890123".into(),
            code_kind: "tracking".into(),
        },
        Body::ClipSealed {
            clip: 3,
            order: "SO-2026-0001".into(),
            station: STATION.into(),
            camera: "cam-1".into(),
            file: file.clone(),
            reason: SealReason::StopCode,
            started_at: at(1),
            ended_at: at(16),
            duration_ms: 15_033,
            frames: 451,
            first_frame: 0,
            size: 8_123_456,
            sha256: digest::sha256_hex(b"the clip's bytes"),
            fragments: 157,
            fragments_sha256: digest::sha256_hex(b"the pieces' digests"),
            dropped_frames: None,
            presets: Vec::new(),
        },
        Body::Access {
            action: "export".into(),
            code: "SF1234567890123".into(),
            clips: vec![3],
            who: "cs-lin".into(),
            to: Some("SF1234567890123.zip".into()),
            derived: None,
            log: None,
        },
        Body::Hold {
            code: "SO-2026-0001".into(),
            clips: vec![3],
            released: false,
            who: "cs-lin".into(),
            reason: Some("dispute 88231".into()),
        },
        Body::Pruned {
            clip: 3,
            file,
            reason: "retention: older than keep_days = 30".into(),
        },
        Body::NoVideo {
            station: STATION.into(),
            order: "SO-2026-0002".into(),
            box_no: 1,
            group: "1764073862054-2".into(),
            scanned_at: at(33),
            down: vec![CameraDown {
                camera: "cam-1".into(),
                state: "lost".into(),
                since: Some(at(32)),
                reason: Some("connection refused".into()),
            }],
        },
        Body::CameraGap {
            station: STATION.into(),
            camera: "cam-1".into(),
            order: "SO-2026-0002".into(),
            group: "1764073862054-2".into(),
            from: at(33),
            to: at(37),
            clip: None,
            reason: "cam-1 down since 20:31:32: connection refused".into(),
        },
        Body::ClockAdjusted {
            station: STATION.into(),
            camera: "cam-1".into(),
            step_ms: -903,
            reason: "frames arrived earlier than their mapped time: the first reading of the session was late (buffered packets)".into(),
        },
        Body::OrderResumed {
            station: STATION.into(),
            order: "SO-2026-0002".into(),
            box_no: 1,
            group: "1764073862054-2".into(),
            scanned_at: at(33),
            reason: "the process died while the order was open; it is recorded again from its restart".into(),
        },
        Body::OrphanRecovered {
            station: STATION.into(),
            camera: "cam-1".into(),
            order: "SO-2026-0003".into(),
            file: "clips/station-1/2026-11-25/SO-2026-0003_cam-1_000013.mp4".into(),
            size: 1_234_567,
            sha256: digest::sha256_hex(b"an orphan's bytes"),
            fragments: 24,
            fragments_sha256: digest::sha256_hex(b"an orphan's pieces"),
            frames: 180,
            duration_ms: 6_000,
            reason: "its clip_opened record was lost in a crash (order and camera from its file name)".into(),
        },
        Body::Pruned {
            clip: 13,
            file: "clips/station-1/2026-11-25/SO-2026-0003_cam-1_000013.mp4".into(),
            reason: "retention: older than keep_days = 30".into(),
        },
        Body::Anchored {
            size: 9,
            tsa: "CN=packwitness test TSA".into(),
            time: "2026-11-25T12:31:31Z".into(),
            file: "anchors/tsa/2026-11-25/00000000000000000009.tsr".into(),
            sha256: digest::sha256_hex(b"a time-stamp token"),
        },
        Body::TornLineRemoved {
            bytes: 17,
            sha256: digest::sha256_hex(b"{\"v\":3,\"seq\":9,\"p"),
            kept_in: "manifest.torn-1764073905000".into(),
            reason: Some("incomplete (no newline): a write cut short".into()),
        },
        Body::CrashRecovered {
            last_checkpoint: 0,
            from: 1,
            to: 15,
        },
    ];
    let mut out: Vec<String> = Vec::new();
    let mut leaves = Vec::new();
    for (i, b) in bodies.into_iter().enumerate() {
        push(&mut out, &mut leaves, b, 2 + 3 * i as u32);
    }
    let cp = checkpoint(out.len() as u64 + 1, &leaves, &k1, 58);
    push(&mut out, &mut leaves, cp, 58);
    let rot = Body::KeyRotation {
        old: k1.verifier(),
        new: k2.verifier(),
        note: k1.sign(&rotation),
    };
    push(&mut out, &mut leaves, rot, 59);
    let cp = checkpoint(out.len() as u64 + 1, &leaves, &k2, 59);
    push(&mut out, &mut leaves, cp, 59);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/v3.jsonl");

    #[test]
    fn version_3_vectors_are_what_the_writer_writes() {
        let text = lines().concat();
        if std::env::var_os("PACKWITNESS_WRITE_VECTORS").is_some() {
            std::fs::write(PATH, &text).unwrap();
        }
        let file = std::fs::read_to_string(PATH).unwrap();
        assert_eq!(
            file, text,
            "tests/vectors/v3.jsonl is not what the writer writes"
        );
        // Each line reads back as the record it was made from, every kind is there, and the
        // signatures are those of the test keys.
        let mut kinds = std::collections::BTreeSet::new();
        for line in file.lines() {
            let rec: Record = serde_json::from_str(line).unwrap();
            assert_eq!(serde_json::to_string(&rec).unwrap(), line);
            kinds.insert(
                serde_json::to_value(&rec).unwrap()["kind"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        assert_eq!(kinds.len(), 18, "{kinds:?}");
        // `clip_sealed.dropped_frames` is optional: absent in the vector (none left out),
        // and, when set, the last field of the line, read back as written.
        let sealed = file
            .lines()
            .find(|l| l.contains("\"kind\":\"clip_sealed\""))
            .unwrap();
        let mut rec: Record = serde_json::from_str(sealed).unwrap();
        let Body::ClipSealed { dropped_frames, .. } = &mut rec.body else {
            panic!("{sealed}");
        };
        assert_eq!(*dropped_frames, None);
        *dropped_frames = Some(12);
        let with = serde_json::to_string(&rec).unwrap();
        assert_eq!(
            with,
            format!(
                "{},\"dropped_frames\":12}}",
                sealed.strip_suffix('}').unwrap()
            )
        );
        let back: Record = serde_json::from_str(&with).unwrap();
        assert!(matches!(
            back.body,
            Body::ClipSealed {
                dropped_frames: Some(12),
                ..
            }
        ));
        let (k1, k2) = (
            StationKey::parse(TEST_PRIVATE_KEY).unwrap(),
            StationKey::parse(TEST_PRIVATE_KEY_2).unwrap(),
        );
        assert_eq!(
            TEST_PRIVATE_KEY.split('+').nth(3),
            Some(digest::hex(&k1.key_id()).as_str())
        );
        assert_eq!(
            TEST_PRIVATE_KEY_2.split('+').nth(3),
            Some(digest::hex(&k2.key_id()).as_str())
        );
    }
}
