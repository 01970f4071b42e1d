//! Tests of the time verdicts of a bundle's clips ([`super::time_verdicts`]).
//!
//! Owns: the cases of a clip's claimed time against the proofs that cover it. Never: opens
//! a bundle (the stranger's integration tests do).

use super::*;
use crate::export::anchors::Proof;

fn clip(n: u64, ended_at: &str) -> crate::export::BundleClip {
    serde_json::from_value(serde_json::json!({
        "clip": n, "order": "SO-1", "station": "st", "camera": "cam-1", "box": 1,
        "part": 1, "group": "g", "operator": null, "codes": [],
        "scanned_at": "2026-12-03T08:40:00+08:00", "started_at": "2026-12-03T08:40:00+08:00",
        "ended_at": ended_at, "duration_ms": 60000, "frames": 900, "reason": "stop_code",
        "sha256": null, "size": null, "file": null, "pruned": false,
        "still_start": null, "still_end": null, "records": []
    }))
    .unwrap()
}

#[test]
fn a_clip_is_proven_only_by_a_proof_within_the_delay_after_its_end() {
    // Ends 2026-12-03 00:41 UTC.
    let clips = [
        clip(3, "2026-12-03T08:41:00+08:00"),
        clip(9, "2026-12-03T08:41:00+08:00"),
        clip(12, "2026-12-03T08:41:00+08:00"),
    ];
    let end = chrono::DateTime::parse_from_rfc3339("2026-12-03T08:41:00+08:00")
        .unwrap()
        .timestamp();
    let proofs = [
        // Clip 3: a witness 40 s later (and a TSA later still: the earliest counts).
        Proof {
            clip: 3,
            time: end + 3_600,
            by: "time-stamp by T".into(),
        },
        Proof {
            clip: 3,
            time: end + 40,
            by: "witness W".into(),
        },
        // Clip 9: its only proof five days later (a staged clip stamped after the fact).
        Proof {
            clip: 9,
            time: end + 5 * 86_400 + 1_260,
            by: "time-stamp by T".into(),
        },
    ];
    let (all, lines) = time_verdicts(&clips, &proofs, 900);
    assert!(!all);
    assert_eq!(
        lines[0],
        "clip 3 of SO-1: time proven: claims 2026-12-03T08:41:00+08:00 (station clock); witness W at 2026-12-03T00:41:40Z, 40 s later"
    );
    assert_eq!(
        lines[1],
        "clip 9 of SO-1: time not proven: claims 2026-12-03T08:41:00+08:00 (station clock); the earliest independent proof that it existed is 2026-12-08T01:02:00Z (time-stamp by T), 5 days 0 h later"
    );
    assert!(lines[2].contains("no independent proof that it existed"));
    // Within a larger delay, clip 9 is proven too; clip 12 never is.
    let (all, _) = time_verdicts(&clips[..2], &proofs, 6 * 86_400);
    assert!(all);
    assert!(!time_verdicts(&clips, &proofs, 6 * 86_400).0);
    // No clip: nothing is proven.
    assert!(!time_verdicts(&[], &proofs, 900).0);
}
