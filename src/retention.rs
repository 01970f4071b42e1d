//! Retention: which sealed clips to remove when they are old or the disk is filling up.
//!
//! Owns: the policy (`[retention]`: an age limit and a free-space floor) and the choice of
//! clips, oldest first. Never: removes a held clip, an open clip, or a clip younger than
//! `min_age_hours` for space; never deletes a file itself: the recorder's writer writes the
//! `pruned` record first (fsynced), then deletes, so a removal is always on the record.

use crate::config::RetentionConfig;

/// A sealed clip that retention may remove (not held, not pruned yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub clip: u64,
    pub order: String,
    /// When its order was scanned, Unix milliseconds.
    pub scanned_ms: i64,
    pub size: u64,
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

/// Chooses clips to remove: every candidate older than `keep_days` (when set), then, while
/// the free space (plus what was already chosen) is under `min_free_mb`, the oldest
/// remaining candidates older than `min_age_hours`. `candidates` are oldest first.
pub fn plan(
    candidates: &[Candidate],
    now_ms: i64,
    policy: &RetentionConfig,
    free_bytes: u64,
) -> Vec<Planned> {
    let mut out = Vec::new();
    let mut free = free_bytes;
    let mut rest = Vec::new();
    for c in candidates {
        if policy.keep_days > 0 && now_ms - c.scanned_ms > i64::from(policy.keep_days) * DAY_MS {
            free = free.saturating_add(c.size);
            out.push(Planned {
                clip: c.clip,
                order: c.order.clone(),
                size: c.size,
                reason: format!("retention: older than keep_days = {}", policy.keep_days),
            });
        } else {
            rest.push(c);
        }
    }
    let floor = policy.min_free_mb.saturating_mul(1024 * 1024);
    let min_age_ms = i64::from(policy.min_age_hours) * 3600 * 1000;
    for c in rest {
        if free >= floor {
            break;
        }
        if now_ms - c.scanned_ms < min_age_ms {
            // Oldest first: everything after this one is younger still.
            break;
        }
        free = free.saturating_add(c.size);
        out.push(Planned {
            clip: c.clip,
            order: c.order.clone(),
            size: c.size,
            reason: format!(
                "retention: free space under min_free_mb = {}",
                policy.min_free_mb
            ),
        });
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
            })
            .collect()
    }

    fn policy(keep_days: u32, min_free_mb: u64, min_age_hours: u32) -> RetentionConfig {
        RetentionConfig {
            keep_days,
            min_free_mb,
            min_age_hours,
        }
    }

    #[test]
    fn age_limit_removes_only_older_clips() {
        let now = 1_800_000_000_000;
        let c = clips(&[24 * 40, 24 * 31, 24 * 29, 1], now);
        let p = plan(&c, now, &policy(30, 0, 24), u64::MAX);
        let ids: Vec<u64> = p.iter().map(|p| p.clip).collect();
        assert_eq!(ids, [1, 2]);
        assert!(p[0].reason.contains("keep_days = 30"));
        assert!(
            plan(&c, now, &policy(0, 0, 24), 0).is_empty(),
            "nothing set: nothing removed"
        );
    }

    #[test]
    fn free_space_floor_removes_oldest_until_met_never_young_ones() {
        let now = 1_800_000_000_000;
        let c = clips(&[100, 90, 80, 2, 1], now);
        let mb = 1024 * 1024;
        // 150 MB free, floor 400 MB: three 100 MB clips, oldest first; never the young ones.
        let p = plan(&c, now, &policy(0, 400, 24), 150 * mb);
        let ids: Vec<u64> = p.iter().map(|p| p.clip).collect();
        assert_eq!(ids, [1, 2, 3]);
        // Enough space: nothing.
        assert!(plan(&c, now, &policy(0, 400, 24), 500 * mb).is_empty());
        // A floor that cannot be met stops at the young clips.
        let p = plan(&c, now, &policy(0, 100_000, 24), 0);
        assert_eq!(p.len(), 3);
        // Age removals count towards the floor.
        let p = plan(&c, now, &policy(4, 250, 24), 100 * mb);
        let ids: Vec<u64> = p.iter().map(|p| p.clip).collect();
        assert_eq!(ids, [1, 2]);
        assert!(p[0].reason.contains("keep_days"), "{p:?}");
        assert!(p[1].reason.contains("min_free_mb"), "{p:?}");
    }
}
