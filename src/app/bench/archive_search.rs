//! `bench archive --clips N`: the archive's search at scale. N synthetic clip rows (spread
//! over a year and 50 stations, codes like a marketplace's) are added to the archive's
//! PostgreSQL beside the clips the ingest stored, then an agent's exact lookups, prefix
//! suggestions and a day's counts are timed through the HTTP API of the running node.

use std::time::Instant;

use crate::config::ArchiveServerConfig;
use crate::Error;

/// Targets: exact lookup p99, suggestions p99 (ms), a day's counts (ms).
pub const MAX_FIND_P99_MS: f64 = 20.0;
pub const MAX_SUGGEST_P99_MS: f64 = 50.0;
pub const MAX_DAY_MS: f64 = 1000.0;
/// The board of every station's log (ms).
pub const MAX_BOARD_MS: f64 = 1000.0;

/// Rows added in one statement.
const BATCH: u64 = 500_000;

/// What the search measured.
#[derive(Debug, Clone, Default)]
pub struct SearchBench {
    /// Clip rows in the database when searched, and the seconds the synthetic ones took to
    /// load.
    pub rows: u64,
    pub load_s: f64,
    pub finds: u64,
    pub find_p50_ms: f64,
    pub find_p99_ms: f64,
    pub suggest_p50_ms: f64,
    pub suggest_p99_ms: f64,
    /// The slowest of five counts of yesterday's clips, and how many that day had.
    pub day_ms: f64,
    pub day_clips: u64,
    /// The slowest of five reads of the board, and the logs it showed.
    pub board_ms: f64,
    pub board_logs: u64,
}

fn fail(what: impl Into<String>) -> Error {
    Error::msg(
        crate::ErrorKind::Unavailable,
        format!("bench archive (search): {}", what.into()),
    )
}

/// The synthetic order code of row `g`: "SO" and ten digits, spread over the whole range.
fn code(g: u64) -> String {
    format!("SO{:010}", (g.wrapping_mul(7919)) % 10_000_000_000)
}

/// Adds `clips` synthetic rows to the archive of `cfg` (served at `url`) and times its
/// search API.
pub fn search(
    rt: &tokio::runtime::Runtime,
    cfg: &ArchiveServerConfig,
    url: &str,
    clips: u64,
) -> Result<SearchBench, Error> {
    let token = crate::app::archive_search::add_agent(cfg, "bench", None)?;
    let t = Instant::now();
    let rows = rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(&cfg.postgres_url, tokio_postgres::NoTls)
            .await
            .map_err(|e| fail(format!("PostgreSQL: {e}")))?;
        tokio::spawn(conn);
        let station: i64 = c
            .query_one("SELECT min(id) FROM stations WHERE NOT access_log", &[])
            .await
            .map_err(|e| fail(format!("PostgreSQL: {e}")))?
            .get::<_, Option<i64>>(0)
            .ok_or_else(|| fail("no station row"))?;
        let mut from = 0u64;
        while from < clips {
            let to = (from + BATCH).min(clips);
            // The same codes as `code` computes (g * 7919 mod 10^10), one row a clip: the
            // last day holds the rows with g % 365 = 0.
            c.execute(
                "INSERT INTO clips (station_id, seal, clip, order_code, station, camera, file,
                     sha256, size, reason, started_at, ended_at, sealed_at, stored_at)
                 SELECT $1, 2000000000 + 2 * g, 1999999999 + 2 * g,
                        'SO' || lpad(((g * 7919) % 10000000000)::text, 10, '0'),
                        'bench-' || (g % 50), 'cam-1', 'clips/bench.mp4',
                        md5(g::text) || md5((g + 1)::text), 1000000, 'stop_code', '', '',
                        now() - make_interval(days => (g % 365)::int, secs => (g % 80000)::float8),
                        now()
                 FROM generate_series($2::bigint, $3::bigint) g",
                &[&station, &(from as i64), &(to as i64 - 1)],
            )
            .await
            .map_err(|e| fail(format!("loading synthetic rows: {e}")))?;
            from = to;
        }
        c.batch_execute("ANALYZE clips")
            .await
            .map_err(|e| fail(format!("ANALYZE: {e}")))?;
        let n: i64 = c
            .query_one("SELECT count(*) FROM clips", &[])
            .await
            .map_err(|e| fail(format!("PostgreSQL: {e}")))?
            .get(0);
        Ok::<_, Error>(n as u64)
    })?;
    let load_s = t.elapsed().as_secs_f64();

    let http = reqwest::blocking::Client::new();
    let get = |path: &str| -> Result<(f64, serde_json::Value), Error> {
        let t = Instant::now();
        let r = http
            .get(format!("{url}{path}"))
            .bearer_auth(&token)
            .send()
            .map_err(|e| fail(format!("GET {path}: {e}")))?;
        if !r.status().is_success() {
            return Err(fail(format!("GET {path}: {}", r.status())));
        }
        let body = r.bytes().map_err(|e| fail(format!("GET {path}: {e}")))?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| fail(format!("GET {path}: {e}")))?;
        Ok((t.elapsed().as_secs_f64() * 1000.0, v))
    };
    let finds = 300u64;
    let (mut find, mut suggest) = (Vec::new(), Vec::new());
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..finds {
        let c = code(next() % clips.max(1));
        let (ms, v) = get(&format!("/v1/find/{c}"))?;
        if v.as_array().is_none_or(Vec::is_empty) {
            return Err(fail(format!("the archive did not find {c}")));
        }
        find.push(ms);
        let len = 1 + (next() % 12) as usize;
        let (ms, v) = get(&format!("/v1/suggest?prefix={}", &c[..len]))?;
        if v.as_array().is_none_or(Vec::is_empty) {
            return Err(fail(format!("no suggestion for {}", &c[..len])));
        }
        suggest.push(ms);
    }
    find.sort_by(f64::total_cmp);
    suggest.sort_by(f64::total_cmp);
    // Yesterday (UTC): a whole day of rows, whatever the hour the bench runs at.
    let day = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    let (mut day_ms, mut day_clips) = (0.0f64, 0u64);
    for _ in 0..5 {
        let (ms, v) = get(&format!("/v1/stats?day={day}"))?;
        day_ms = day_ms.max(ms);
        day_clips = v
            .as_array()
            .map(|a| a.iter().filter_map(|s| s["clips"].as_u64()).sum())
            .unwrap_or(0);
    }
    let (mut board_ms, mut board_logs) = (0.0f64, 0u64);
    for _ in 0..5 {
        let (ms, v) = get("/v1/board")?;
        board_ms = board_ms.max(ms);
        board_logs = v.as_array().map_or(0, |a| a.len() as u64);
    }
    use super::lookup::quantile;
    Ok(SearchBench {
        rows,
        load_s,
        finds,
        find_p50_ms: quantile(&find, 0.5),
        find_p99_ms: quantile(&find, 0.99),
        suggest_p50_ms: quantile(&suggest, 0.5),
        suggest_p99_ms: quantile(&suggest, 0.99),
        day_ms,
        day_clips,
        board_ms,
        board_logs,
    })
}
