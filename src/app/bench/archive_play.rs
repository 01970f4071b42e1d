//! `bench archive`: a clip played through the archive's app against the same bytes read
//! straight from the bucket. The app proxies a player's byte ranges (each checked against
//! the account's session and stations, the play's start recorded in the access log) rather
//! than sending the browser to the store; this measures what that detour costs.

use std::time::Instant;

use crate::config::ArchiveServerConfig;
use crate::Error;

/// Target: a range read through the node takes at most this many times a direct read (p50).
pub const MAX_RANGE_RATIO: f64 = 2.0;
/// Target: a play's first range (the access record written first) within this (p50, ms).
pub const MAX_START_MS: f64 = 250.0;

/// The clips played: how many, and about how large (a couple of minutes of 720p).
pub const CLIPS: u64 = 4;
pub const CLIP_BYTES: usize = 24 << 20;
/// Bytes of each range read (what a browser's player asks for at a time is of this order).
const RANGE: u64 = 1 << 20;
/// Ranges read of each clip per round.
const PER_CLIP: u64 = 5;

/// What playing through the node measured.
#[derive(Debug, Clone, Default)]
pub struct PlayBench {
    pub ranges: u64,
    pub range_bytes: u64,
    pub node_p50_ms: f64,
    pub node_p99_ms: f64,
    pub direct_p50_ms: f64,
    pub direct_p99_ms: f64,
    /// A play's first range, from the clip's first byte: the access record is written
    /// (fsynced and signed) before it is sent.
    pub start_p50_ms: f64,
    pub start_p99_ms: f64,
}

impl PlayBench {
    pub fn ratio(&self) -> f64 {
        self.node_p50_ms / self.direct_p50_ms.max(1e-9)
    }
}

fn fail(what: impl Into<String>) -> Error {
    Error::msg(
        crate::ErrorKind::Unavailable,
        format!("bench archive (play): {}", what.into()),
    )
}

/// Plays the stored clips of the archive of `cfg` (served at `url`) through its app, and
/// reads the same ranges from the bucket with `client`.
pub fn play(
    rt: &tokio::runtime::Runtime,
    cfg: &ArchiveServerConfig,
    client: &aws_sdk_s3::Client,
    url: &str,
    station: &str,
) -> Result<PlayBench, Error> {
    let password = "bench-player-password";
    crate::app::archive_app::add_account(cfg, "bench-player", "agent", password, None, None)?;
    let clips: Vec<(String, u64, Option<String>)> = rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(&cfg.postgres_url, tokio_postgres::NoTls)
            .await
            .map_err(|e| fail(format!("PostgreSQL: {e}")))?;
        tokio::spawn(conn);
        let rows = c
            .query(
                "SELECT sha256, size, version_id FROM clips
                 WHERE stored_at IS NOT NULL AND station = $1",
                &[&station],
            )
            .await
            .map_err(|e| fail(format!("PostgreSQL: {e}")))?;
        Ok::<_, Error>(
            rows.iter()
                .map(|r| (r.get(0), r.get::<_, i64>(1) as u64, r.get(2)))
                .collect(),
        )
    })?;
    if clips.len() as u64 != CLIPS {
        return Err(fail(format!(
            "the archive holds {} of the {CLIPS} clips of {station} to play",
            clips.len()
        )));
    }
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| fail(format!("no HTTP client: {e}")))?;
    let login = http
        .post(format!("{url}/login"))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(format!("name=bench-player&password={password}"))
        .send()
        .map_err(|e| fail(format!("POST /login: {e}")))?;
    let cookie = login
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| {
            fail(format!(
                "POST /login answered {} with no session",
                login.status()
            ))
        })?;
    let through_node = |sha: &str, first: u64, last: u64| -> Result<f64, Error> {
        let t = Instant::now();
        let r = http
            .get(format!("{url}/clips/{sha}"))
            .header(reqwest::header::COOKIE, &cookie)
            .header(reqwest::header::RANGE, format!("bytes={first}-{last}"))
            .send()
            .map_err(|e| fail(format!("GET /clips/{sha}: {e}")))?;
        let status = r.status();
        let body = r
            .bytes()
            .map_err(|e| fail(format!("GET /clips/{sha}: {e}")))?;
        if status != reqwest::StatusCode::PARTIAL_CONTENT || body.len() as u64 != last + 1 - first {
            return Err(fail(format!(
                "GET /clips/{sha} bytes {first}-{last}: {status}, {} bytes",
                body.len()
            )));
        }
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    };
    let direct = |sha: &str, version: Option<&str>, first: u64, last: u64| -> Result<f64, Error> {
        let t = Instant::now();
        let got = rt.block_on(async {
            let o = client
                .get_object()
                .bucket(&cfg.s3_bucket)
                .key(crate::archive::objects::clip_key(sha))
                .set_version_id(version.map(str::to_string))
                .range(format!("bytes={first}-{last}"))
                .send()
                .await
                .map_err(|e| fail(format!("GET clips/{sha}: {e:?}")))?;
            o.body
                .collect()
                .await
                .map(|b| b.into_bytes().len())
                .map_err(|e| fail(format!("reading clips/{sha}: {e}")))
        })?;
        if got as u64 != last + 1 - first {
            return Err(fail(format!("clips/{sha}: {got} bytes of a range")));
        }
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    };
    let (mut node, mut bucket, mut start) = (Vec::new(), Vec::new(), Vec::new());
    let mut range_bytes = 0;
    // Twice over the clips, node and bucket in turn (neither always reads a warm object).
    for round in 0..2 {
        for (sha, size, version) in &clips {
            let len = RANGE.min(size / 2).max(1);
            start.push(through_node(sha, 0, len - 1)?);
            for k in 0..PER_CLIP {
                // Spread over the clip, not on a range boundary.
                let first =
                    ((size - len) * (k + 1) / (PER_CLIP + 1) + round * 4099).min(size - len);
                let last = first + len - 1;
                node.push(through_node(sha, first, last)?);
                bucket.push(direct(sha, version.as_deref(), first, last)?);
            }
            range_bytes = len;
        }
    }
    for v in [&mut node, &mut bucket, &mut start] {
        v.sort_by(f64::total_cmp);
    }
    use super::lookup::quantile;
    Ok(PlayBench {
        ranges: node.len() as u64,
        range_bytes,
        node_p50_ms: quantile(&node, 0.5),
        node_p99_ms: quantile(&node, 0.99),
        direct_p50_ms: quantile(&bucket, 0.5),
        direct_p99_ms: quantile(&bucket, 0.99),
        start_p50_ms: quantile(&start, 0.5),
        start_p99_ms: quantile(&start, 0.99),
    })
}
