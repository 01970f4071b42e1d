//! Retention: which sealed clips to remove when they are old or the disk is filling up.
//!
//! Owns: the policy (`[retention]`: an age limit and a free-space floor) and the choice of
//! clips, oldest first; the floor is `min_free_mb` or `reserve_minutes` of recording at the
//! rate the sealed clips were measured at ([`RecordingRate`]), whichever is larger. Never: removes a held clip, an open clip, or a clip younger than
//! `min_age_hours` for space; never deletes a file itself: the recorder's writer writes the
//! `pruned` record first (fsynced), then deletes, so a removal is always on the record.

use std::collections::BTreeMap;

use crate::config::RetentionConfig;

const MB: u64 = 1024 * 1024;

/// The oldest clips one retention pass considers: removal goes oldest first, so a pass never
/// reads more than this however long the log (a busy station seals about 1,000 a day).
pub const CANDIDATES: u32 = 1000;

/// How many bytes a second the station writes while it records, measured from the clips it
/// sealed: per camera, a moving average of each sealed clip's size over its duration; the
/// station's rate is the sum (every camera records while an order is open).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordingRate {
    cameras: BTreeMap<(String, String), f64>,
}

impl RecordingRate {
    /// A clip of `camera` at `station`: `size` bytes in `duration_ms`. Clips shorter than a
    /// second say little about the rate (a keyframe dominates) and are not counted.
    pub fn observe(&mut self, station: &str, camera: &str, size: u64, duration_ms: u64) {
        if duration_ms < 1000 {
            return;
        }
        let rate = size as f64 * 1000.0 / duration_ms as f64;
        self.cameras
            .entry((station.to_string(), camera.to_string()))
            .and_modify(|r| *r = 0.8 * *r + 0.2 * rate)
            .or_insert(rate);
    }

    /// Bytes a second while every camera records; 0 before any clip was measured.
    pub fn bytes_per_s(&self) -> f64 {
        self.cameras.values().sum()
    }

    /// The free space retention keeps: `min_free_mb`, or `reserve_minutes` of recording at
    /// the measured rate, whichever is larger (0: no floor).
    pub fn floor_bytes(&self, policy: &RetentionConfig) -> u64 {
        let reserve = self.bytes_per_s() * 60.0 * f64::from(policy.reserve_minutes);
        policy.min_free_mb.saturating_mul(MB).max(reserve as u64)
    }
}

/// A sealed clip that retention may remove (not held, not pruned yet).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Candidate {
    pub clip: u64,
    pub order: String,
    /// When its order was scanned, Unix milliseconds.
    pub scanned_ms: i64,
    pub size: u64,
    pub sha256: String,
    /// The archive's receipt for this clip when the archive confirmed holding it (`None`:
    /// not confirmed, or not asked).
    pub archived: Option<String>,
}

/// A clip chosen for removal, and why (written as the `pruned` record's reason).
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub clip: u64,
    pub order: String,
    pub size: u64,
    pub reason: String,
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Chooses clips to remove. Without an archive (`archiving` false): every candidate older
/// than `keep_days` (when set). With one: only candidates the archive confirmed, older than
/// `keep_days` or `keep_days_after_archive`. Then, while the free space (plus what was already
/// chosen) is under `floor_bytes` (see [`RecordingRate::floor_bytes`]), the oldest remaining
/// candidates older than `min_age_hours`, those the archive confirmed first. `candidates` are
/// oldest first.
pub fn plan(
    candidates: &[Candidate],
    now_ms: i64,
    policy: &RetentionConfig,
    free_bytes: u64,
    floor_bytes: u64,
    archiving: bool,
) -> Vec<Planned> {
    let mut out = Vec::new();
    let mut free = free_bytes;
    let mut rest = Vec::new();
    let older =
        |c: &Candidate, days: u32| days > 0 && now_ms - c.scanned_ms > i64::from(days) * DAY_MS;
    for c in candidates {
        let reason = match (&c.archived, archiving) {
            (_, false) if older(c, policy.keep_days) => Some(format!(
                "retention: older than keep_days = {}",
                policy.keep_days
            )),
            (Some(r), true) if older(c, policy.keep_days) => Some(format!(
                "retention: older than keep_days = {}; archived: {r}",
                policy.keep_days
            )),
            (Some(r), true) if older(c, policy.keep_days_after_archive) => Some(format!(
                "retention: archived and older than keep_days_after_archive = {}; archived: {r}",
                policy.keep_days_after_archive
            )),
            _ => None,
        };
        match reason {
            Some(reason) => {
                free = free.saturating_add(c.size);
                out.push(Planned {
                    clip: c.clip,
                    order: c.order.clone(),
                    size: c.size,
                    reason,
                });
            }
            None => rest.push(c),
        }
    }
    let floor = floor_bytes;
    let min_age_ms = i64::from(policy.min_age_hours) * 3600 * 1000;
    // Archived clips first (a copy is kept under lock elsewhere), then the others.
    let (confirmed, unconfirmed): (Vec<&Candidate>, Vec<&Candidate>) =
        rest.into_iter().partition(|c| c.archived.is_some());
    for group in [confirmed, unconfirmed] {
        for c in group {
            if free >= floor {
                break;
            }
            if now_ms - c.scanned_ms < min_age_ms {
                // Oldest first: everything after this one is younger still.
                break;
            }
            free = free.saturating_add(c.size);
            let mut reason = format!(
                "retention: free space under {} MB (min_free_mb = {}, reserve_minutes = {})",
                floor / MB,
                policy.min_free_mb,
                policy.reserve_minutes
            );
            if let Some(r) = &c.archived {
                reason.push_str(&format!("; archived: {r}"));
            }
            out.push(Planned {
                clip: c.clip,
                order: c.order.clone(),
                size: c.size,
                reason,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clips(ages_h: &[i64], now: i64) -> Vec<Candidate> {
        ages_h
            .iter()
            .enumerate()
            .map(|(i, h)| Candidate {
                clip: i as u64 + 1,
                order: format!("O-{i}"),
                scanned_ms: now - h * 3600 * 1000,
                size: 100 * 1024 * 1024,
                ..Candidate::default()
            })
            .collect()
    }

    fn policy(keep_days: u32, min_free_mb: u64, min_age_hours: u32) -> RetentionConfig {
        RetentionConfig {
            keep_days,
            min_free_mb,
            min_age_hours,
            reserve_minutes: 0,
            keep_days_after_archive: 0,
        }
    }

    #[test]
    fn age_limit_removes_only_older_clips() {
        let now = 1_800_000_000_000;
        let c = clips(&[24 * 40, 24 * 31, 24 * 29, 1], now);
        let p = plan(&c, now, &policy(30, 0, 24), u64::MAX, 0, false);
        let ids: Vec<u64> = p.iter().map(|p| p.clip).collect();
        assert_eq!(ids, [1, 2]);
        assert!(p[0].reason.contains("keep_days = 30"));
        assert!(
            plan(&c, now, &policy(0, 0, 24), 0, 0, false).is_empty(),
            "nothing set: nothing removed"
        );
    }

    #[test]
    fn free_space_floor_removes_oldest_until_met_never_young_ones() {
        let now = 1_800_000_000_000;
        let c = clips(&[100, 90, 80, 2, 1], now);
        let mb = 1024 * 1024;
        // 150 MB free, floor 400 MB: three 100 MB clips, oldest first; never the young ones.
        let p = plan(&c, now, &policy(0, 400, 24), 150 * mb, 400 * MB, false);
        let ids: Vec<u64> = p.iter().map(|p| p.clip).collect();
        assert_eq!(ids, [1, 2, 3]);
        // Enough space: nothing.
        assert!(plan(&c, now, &policy(0, 400, 24), 500 * mb, 400 * MB, false).is_empty());
        // A floor that cannot be met stops at the young clips.
        let p = plan(&c, now, &policy(0, 100_000, 24), 0, 100_000 * MB, false);
        assert_eq!(p.len(), 3);
        // Age removals count towards the floor.
        let p = plan(&c, now, &policy(4, 250, 24), 100 * mb, 250 * MB, false);
        let ids: Vec<u64> = p.iter().map(|p| p.clip).collect();
        assert_eq!(ids, [1, 2]);
        assert!(p[0].reason.contains("keep_days"), "{p:?}");
        assert!(p[1].reason.contains("min_free_mb"), "{p:?}");
    }

    #[test]
    fn reserve_minutes_follow_the_measured_rate() {
        let mut rate = RecordingRate::default();
        let mut p = policy(0, 100, 0);
        p.reserve_minutes = 10;
        // Nothing measured yet: min_free_mb alone.
        assert_eq!(rate.floor_bytes(&p), 100 * MB);
        // Two cameras at 0.5 MB/s each (a sub-second clip does not count): 10 minutes of
        // recording is 600 MB, more than min_free_mb.
        rate.observe("s1", "cam-1", 5 * MB, 10_000);
        rate.observe("s1", "cam-2", 5 * MB, 10_000);
        rate.observe("s1", "cam-2", 50 * MB, 900);
        assert!((rate.bytes_per_s() - MB as f64).abs() < 1.0);
        assert_eq!(rate.floor_bytes(&p), 600 * MB);
        // A camera whose bit rate doubles moves the average a fifth of the way.
        rate.observe("s1", "cam-1", 10 * MB, 10_000);
        assert!((rate.bytes_per_s() - 1.1 * MB as f64).abs() < 1.0);
        // The floor drives the plan: 100 MB free, 600 MB wanted -> the 100 MB clips go
        // (5 of them, oldest first; none is younger than min_age_hours = 0).
        let now = 1_800_000_000_000;
        let c = clips(&[9, 8, 7, 6, 5, 4, 3], now);
        let planned = plan(&c, now, &p, 100 * MB, 600 * MB, false);
        assert_eq!(planned.len(), 5);
        assert!(
            planned[0].reason.contains("under 600 MB")
                && planned[0].reason.contains("reserve_minutes = 10"),
            "{planned:?}"
        );
    }

    #[test]
    fn with_an_archive_only_confirmed_clips_go_for_age_and_first_for_space() {
        let now = 1_800_000_000_000;
        let mut c = clips(&[24 * 40, 24 * 35, 24 * 10, 24 * 9, 2], now);
        c[1].archived = Some("receipt 1".into());
        c[2].archived = Some("receipt 2".into());
        let mut p = policy(30, 0, 24);
        p.keep_days_after_archive = 7;
        // Age: clip 1 (40 days, not confirmed) stays; 2 goes by keep_days, 3 by
        // keep_days_after_archive; 4 (9 days, not confirmed) stays.
        let planned = plan(&c, now, &p, u64::MAX, 0, true);
        let ids: Vec<u64> = planned.iter().map(|p| p.clip).collect();
        assert_eq!(ids, [2, 3]);
        assert!(planned[0]
            .reason
            .contains("keep_days = 30; archived: receipt 1"));
        assert!(planned[1]
            .reason
            .contains("keep_days_after_archive = 7; archived: receipt 2"));
        // Without an archive the same policy goes by age alone.
        let ids: Vec<u64> = plan(&c, now, &p, u64::MAX, 0, false)
            .iter()
            .map(|p| p.clip)
            .collect();
        assert_eq!(ids, [1, 2]);
        // Space: the confirmed ones first, then the oldest others; never the young one.
        c[1].archived = None;
        p.keep_days = 0;
        p.keep_days_after_archive = 0;
        p.min_free_mb = 250;
        let planned = plan(&c, now, &p, 0, 250 * MB, true);
        let ids: Vec<u64> = planned.iter().map(|p| p.clip).collect();
        assert_eq!(ids, [3, 1, 2]);
        assert!(planned[0].reason.contains("archived: receipt 2"));
    }
}
