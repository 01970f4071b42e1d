//! The archive's search API for customer service: `GET /v1/find/<code>`,
//! `/v1/suggest?prefix=P[&limit=N]`, `/v1/stats?day=YYYY-MM-DD` and `/v1/board`, with an
//! agent's bearer token (`archive add-agent`), over every station the agent may see.
//!
//! Owns: those routes and the agent's authentication. Never: answers without a token of an
//! agent, or shows a station the agent is not given (the queries of
//! [`crate::archive::search`] filter every row).

use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::archive::search::{self, Agent};
use crate::archive::service::Archive;
use crate::config::ArchiveServerConfig;
use crate::error::Error;

/// Suggestions a request gets at most.
const MAX_SUGGESTIONS: i64 = 50;

fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

fn json(value: &impl serde::Serialize) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(value).unwrap_or_default(),
    )
        .into_response()
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "archive search failed");
    plain(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the archive cannot answer now ({e}); try again\n"),
    )
}

/// The agent whose token the request carries, or the answer that refuses it.
async fn agent(a: &Archive, headers: &HeaderMap) -> Result<Agent, Response> {
    let Some(token) = super::archive::bearer(headers) else {
        return Err(plain(
            StatusCode::UNAUTHORIZED,
            "no agent token: send `Authorization: Bearer <token>` (`packwitness archive add-agent NAME` prints one)\n".into(),
        ));
    };
    match a.agent(token).await {
        Ok(Some(agent)) => Ok(agent),
        Ok(None) => Err(plain(
            StatusCode::UNAUTHORIZED,
            "this token belongs to no agent of this archive\n".into(),
        )),
        Err(e) => Err(unavailable(e)),
    }
}

async fn find(
    State(a): State<Arc<Archive>>,
    headers: HeaderMap,
    UrlPath(code): UrlPath<String>,
) -> Response {
    let agent = match agent(&a, &headers).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    match a.find(&agent, code.trim()).await {
        Ok(clips) => json(&clips),
        Err(e) => unavailable(e),
    }
}

#[derive(serde::Deserialize)]
struct SuggestQuery {
    prefix: String,
    limit: Option<i64>,
}

async fn suggest(
    State(a): State<Arc<Archive>>,
    headers: HeaderMap,
    Query(q): Query<SuggestQuery>,
) -> Response {
    let agent = match agent(&a, &headers).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let limit = q.limit.unwrap_or(10).clamp(1, MAX_SUGGESTIONS);
    match a.suggest(&agent, q.prefix.trim(), limit).await {
        Ok(codes) => json(&codes),
        Err(e) => unavailable(e),
    }
}

#[derive(serde::Deserialize)]
struct StatsQuery {
    day: String,
}

async fn stats(
    State(a): State<Arc<Archive>>,
    headers: HeaderMap,
    Query(q): Query<StatsQuery>,
) -> Response {
    let agent = match agent(&a, &headers).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let Ok(day) = chrono::NaiveDate::parse_from_str(q.day.trim(), "%Y-%m-%d") else {
        return plain(
            StatusCode::BAD_REQUEST,
            format!("day {:?} is not YYYY-MM-DD\n", q.day),
        );
    };
    match a.day_counts(&agent, day).await {
        Ok(counts) => json(&counts),
        Err(e) => unavailable(e),
    }
}

#[derive(serde::Deserialize)]
struct BoardQuery {
    day: Option<String>,
}

/// `GET /v1/board[?day=YYYY-MM-DD]`: every station's log, for an agent who sees every
/// station (the board names them all).
async fn board(
    State(a): State<Arc<Archive>>,
    headers: HeaderMap,
    Query(q): Query<BoardQuery>,
) -> Response {
    let agent = match agent(&a, &headers).await {
        Ok(g) => g,
        Err(r) => return r,
    };
    if agent.stations.is_some() {
        return plain(
            StatusCode::FORBIDDEN,
            format!(
                "the board names every station; agent {} is limited to some (use /v1/stats)\n",
                agent.name
            ),
        );
    }
    let day = match q.day.as_deref().map(str::trim) {
        None => chrono::Utc::now().date_naive(),
        Some(d) => match chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(d) => d,
            Err(_) => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    format!("day {d:?} is not YYYY-MM-DD\n"),
                )
            }
        },
    };
    let since = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    match a.board(since).await {
        Ok(rows) => json(&rows),
        Err(e) => unavailable(e),
    }
}

/// The search routes, to merge into the archive's router.
pub(super) fn routes() -> axum::Router<Arc<Archive>> {
    axum::Router::new()
        .route("/v1/find/{code}", get(find))
        .route("/v1/suggest", get(suggest))
        .route("/v1/stats", get(stats))
        .route("/v1/board", get(board))
}

/// Adds an agent of customer service (or gives it a new token); returns the token.
pub fn add_agent(
    cfg: &ArchiveServerConfig,
    name: &str,
    stations: Option<&[String]>,
) -> Result<String, Error> {
    super::archive::with_database(cfg, |pool| async move {
        search::add_agent(&pool, name, stations).await
    })
}
