//! The verdict on each clip's claimed time: proven when the earliest independent proof
//! covering its seal (a checked time-stamp, a cosignature of a witness the reviewer gave) is
//! within the tolerance after it.
//!
//! Owns: those verdicts and their lines. Never: checks a proof (the checker of
//! [`super::check`] and [`super::anchors`] did) or opens a bundle.

/// Seconds in words: "40 s", "12 min", "3 h 5 min", "5 days 2 h".
fn human(s: i64) -> String {
    match s {
        s if s >= 86_400 => format!("{} days {} h", s / 86_400, (s % 86_400) / 3_600),
        s if s >= 3_600 => format!("{} h {} min", s / 3_600, (s % 3_600) / 60),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Each clip's claimed time against the earliest independent proof of it (a time-stamp
/// checked against the reviewer's CA, a cosignature of a witness the reviewer gave): proven
/// when that proof is at most `max_delay_s` after the clip's end. Returns whether every
/// clip's is, and a line per clip.
pub fn time_verdicts(
    clips: &[super::BundleClip],
    proofs: &[super::anchors::Proof],
    max_delay_s: i64,
) -> (bool, Vec<String>) {
    let mut all = !clips.is_empty();
    let mut lines = Vec::new();
    for c in clips {
        let what = format!("clip {} of {}", c.clip, c.order);
        let claimed = c.ended_at.as_deref().unwrap_or(&c.started_at);
        let end = chrono::DateTime::parse_from_rfc3339(claimed)
            .map(|t| t.timestamp())
            .ok();
        let first = proofs
            .iter()
            .filter(|p| p.clip == c.clip)
            .min_by_key(|p| p.time);
        let line = match (first, end) {
            (Some(p), Some(end)) => {
                let d = (p.time - end).max(0);
                let when = crate::clock::utc_seconds(u64::try_from(p.time).unwrap_or(0));
                if d <= max_delay_s {
                    format!("{what}: time proven: claims {claimed} (station clock); {} at {when}, {} later", p.by, human(d))
                } else {
                    all = false;
                    format!("{what}: time not proven: claims {claimed} (station clock); the earliest independent proof that it existed is {when} ({}), {} later", p.by, human(d))
                }
            }
            _ => {
                all = false;
                format!("{what}: time not proven: claims {claimed} (station clock); no independent proof that it existed (give --tsa-ca and the witness keys)")
            }
        };
        lines.push(line);
    }
    (all, lines)
}

#[cfg(test)]
#[path = "times_tests.rs"]
mod tests;
