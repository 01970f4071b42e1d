//! Which order or clip a record is about, beyond the clip records themselves: what an index
//! keeps so that a bundle can cite an order's scans, the codes attached to its clips and the
//! MP4s made for upload from them.
//!
//! Owns: that classification, in one place for the station's index and the archive's.
//! Never: reads or keeps state: the order a stop code stopped (the station's last scanned
//! order) is the caller's to find.

use super::{Body, ScanAction};

/// What a record is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum About<'a> {
    /// A record about an order (`kind`: `scan`, `no_video`, `camera_gap`, `order_resumed`)
    /// at `station`; `order` is `None` for a stop code, about the order it stopped.
    Order {
        order: Option<&'a str>,
        station: &'a str,
        kind: &'static str,
    },
    /// A code attached to a clip (`code_attached`).
    Attached { clip: u64, code: &'a str },
    /// An MP4 made for upload from these clips (an `access` record of `upload_mp4`).
    Upload { clips: &'a [u64] },
}

/// What `body` is about, when it is one of the records above.
pub fn about(body: &Body) -> Option<About<'_>> {
    match body {
        Body::Scan {
            station,
            order,
            action,
            ..
        } if order.is_some() || *action == ScanAction::Seal => Some(About::Order {
            order: order.as_deref(),
            station,
            kind: "scan",
        }),
        Body::NoVideo { station, order, .. } => Some(About::Order {
            order: Some(order),
            station,
            kind: "no_video",
        }),
        Body::CameraGap { station, order, .. } => Some(About::Order {
            order: Some(order),
            station,
            kind: "camera_gap",
        }),
        Body::OrderResumed { station, order, .. } => Some(About::Order {
            order: Some(order),
            station,
            kind: "order_resumed",
        }),
        Body::CodeAttached { clip, code, .. } => Some(About::Attached { clip: *clip, code }),
        Body::Access { action, clips, .. } if action == "upload_mp4" => {
            Some(About::Upload { clips })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(order: Option<&str>, action: ScanAction) -> Body {
        Body::Scan {
            station: "station-1".into(),
            scanner: "hand-1".into(),
            code: "PW-STOP".into(),
            code_kind: "control".into(),
            rule: "".into(),
            action,
            detail: None,
            order: order.map(str::to_string),
            box_no: None,
            group: None,
            operator: None,
            scanned_at: "2026-12-04T10:00:00.000+08:00".into(),
        }
    }

    fn access(action: &str) -> Body {
        Body::Access {
            action: action.into(),
            code: "SO-1".into(),
            clips: vec![3, 7],
            who: "cs".into(),
            to: None,
            derived: None,
            log: None,
        }
    }

    #[test]
    fn scans_stops_codes_and_uploads_are_about_their_order_or_clips() {
        let open = scan(Some("SO-1"), ScanAction::Open);
        assert_eq!(
            about(&open),
            Some(About::Order {
                order: Some("SO-1"),
                station: "station-1",
                kind: "scan"
            })
        );
        // A stop code is about the order it stopped, which the caller knows.
        let stop = scan(None, ScanAction::Seal);
        assert!(matches!(
            about(&stop),
            Some(About::Order {
                order: None,
                kind: "scan",
                ..
            })
        ));
        // A scan that opened nothing and stopped nothing is about no order.
        assert_eq!(about(&scan(None, ScanAction::Ignored)), None);
        let attached = Body::CodeAttached {
            clip: 3,
            code: "SF1".into(),
            code_kind: "tracking".into(),
        };
        assert_eq!(
            about(&attached),
            Some(About::Attached {
                clip: 3,
                code: "SF1"
            })
        );
        assert_eq!(
            about(&access("upload_mp4")),
            Some(About::Upload { clips: &[3, 7] })
        );
        // An export's own access record is cited by the export itself, not as the order's.
        assert_eq!(about(&access("export")), None);
    }
}
