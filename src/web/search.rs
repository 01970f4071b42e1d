//! Search: the app's first page (`/`), and the suggestions it asks for as the agent types.
//!
//! Owns: reading the search form (code or prefix, normalised as at recording: full-width
//! forms, inner spaces, case; dates in the station's zone, station, packer), the recent clips
//! when nothing is asked, `/api/suggest` (codes starting with what was typed) and
//! `/api/search` (the same search as JSON). Never: records anything: a search is not a view.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;

use super::i18n::{self, LangQuery};
use super::page::{self, SearchForm, SearchPage, Viewer};
use super::{auth, blocking, statuses, Failure, Shared};
use crate::error::Error;
use crate::index::{self, FileCheck, Filter, Found, Notes};

/// Clips listed at most on one page.
const PAGE_CLIPS: u32 = 100;
/// Recent clips on the first page.
const RECENT: u32 = 20;
/// Orders without video shown above the recent clips at most.
const RECENT_NO_VIDEO: u32 = 5;
/// Suggestions at most.
const SUGGESTIONS: u32 = 10;

/// Unix milliseconds of the start of `date` (`YYYY-MM-DD`) in the zone of `now`, plus `days`.
fn day_start(
    date: &str,
    now: chrono::DateTime<chrono::FixedOffset>,
    days: i64,
) -> Result<i64, Error> {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_err(|_| Error::invalid(format!("date {date:?}: use YYYY-MM-DD")))?;
    let start = (d + chrono::Duration::days(days))
        .and_hms_opt(0, 0, 0)
        .ok_or_else(|| Error::invalid(format!("date {date:?} has no midnight")))?;
    let local = start
        .and_local_timezone(*now.offset())
        .single()
        .ok_or_else(|| Error::invalid(format!("date {date:?}: no such local time")))?;
    Ok(local.timestamp_millis())
}

/// The index filter of a search form (codes normalised as at recording).
fn filter(shared: &Shared, f: &SearchForm) -> Result<Filter, Error> {
    let max = shared.config().codes.max_len;
    let now = shared.deps.clock.now();
    let q = f.q.trim();
    let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    Ok(Filter {
        prefix: if q.is_empty() {
            None
        } else {
            Some(
                crate::codes::normalize(q, max)
                    .map_err(|e| Error::from(e).context(format!("search {q:?}")))?,
            )
        },
        since_ms: opt(&f.from).map(|d| day_start(&d, now, 0)).transpose()?,
        until_ms: opt(&f.to).map(|d| day_start(&d, now, 1)).transpose()?,
        station: opt(&f.station),
        operator: opt(&f.operator).map(|o| o.to_ascii_uppercase()),
        limit: Some(if f.is_empty() { RECENT } else { PAGE_CLIPS }),
        newest_first: true,
        ..Filter::default()
    })
}

/// The clips of a search form (the recent ones for an empty form), and the notes of an
/// exact code.
fn find(shared: &Shared, f: &SearchForm) -> Result<(Vec<Found>, Notes), Error> {
    let filter = filter(shared, f)?;
    let mut found = index::search(shared.data_dir(), &filter, FileCheck::Size)?;
    let q = f.q.trim();
    let mut notes = Notes::default();
    if !q.is_empty() {
        let max = shared.config().codes.max_len;
        notes = index::notes(shared.data_dir(), q, max)?;
        // A code recorded before codes were folded is still found by its exact form.
        if found.is_empty() {
            found = index::lookup(shared.data_dir(), q, max, FileCheck::Size)?;
        }
    }
    // Orders scanned while no camera recorded, beside the clips: the newest few, or those the
    // search matches.
    let limit = if f.is_empty() {
        RECENT_NO_VIDEO
    } else {
        PAGE_CLIPS
    };
    let index = index::Index::open_read(shared.data_dir())?;
    for n in index.no_video_matching(&filter, limit)? {
        if !notes.no_video.iter().any(|x| x.line == n.line) {
            notes.no_video.push(n);
        }
    }
    Ok((found, notes))
}

#[derive(Deserialize)]
pub(super) struct Asked {
    #[serde(flatten)]
    form: SearchForm,
    /// The form before search as you type (`/?code=X`): that code's order page.
    code: Option<String>,
    lang: Option<String>,
}

/// The language of a request, and a cookie that keeps it when it was switched.
pub(super) fn language(req: &Request, lang: Option<String>) -> (i18n::Lang, Option<HeaderValue>) {
    let asked = LangQuery { lang };
    let l = i18n::pick(&asked, req.headers());
    let cookie = asked.lang.as_ref().and_then(|_| {
        HeaderValue::from_str(&format!(
            "pw_lang={}; Path=/; SameSite=Strict; Max-Age=31536000",
            if l == i18n::Lang::Zh { "zh" } else { "en" }
        ))
        .ok()
    });
    (l, cookie)
}

/// A page with its language cookie.
pub(super) fn with_cookie(mut res: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// `/`: the search form, what it found (or the recent clips), the live station board.
pub(super) async fn search_page(
    State(shared): State<Arc<Shared>>,
    Query(asked): Query<Asked>,
    req: Request,
) -> Result<Response, Failure> {
    if let Some(code) = asked
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        return Ok(Redirect::to(&format!("/order/{}", page::url_escape(code))).into_response());
    }
    let (lang, cookie) = language(&req, asked.lang.clone());
    let user = req.extensions().get::<auth::WebUser>().cloned();
    let s = shared.clone();
    let form = asked.form.clone();
    let found = tokio::task::spawn_blocking(move || find(&s, &form))
        .await
        .map_err(|e| Failure(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let (found, notes) = match found {
        Ok((f, n)) => (Ok(f), n),
        Err(e) => (Err(e), Notes::default()),
    };
    let configured: Vec<String> = shared
        .config()
        .stations
        .iter()
        .map(|s| s.id.clone())
        .collect();
    let html = page::search_page(
        &Viewer {
            lang,
            user: user.as_ref().filter(|u| u.1).map(|u| u.0.as_str()),
        },
        SearchPage {
            form: &asked.form,
            stations: &statuses(&shared),
            configured: &configured,
            found,
            notes,
        },
    );
    Ok(with_cookie(super::assets::page(html), cookie))
}

#[derive(Deserialize)]
pub(super) struct Typed {
    #[serde(default)]
    q: String,
}

/// Codes (orders and waybills) starting with what was typed, normalised as at recording.
pub(super) async fn suggest(
    State(shared): State<Arc<Shared>>,
    Query(typed): Query<Typed>,
) -> Result<Json<serde_json::Value>, Failure> {
    let q = typed.q.trim().to_string();
    if q.is_empty() {
        return Ok(Json(serde_json::json!({ "normalized": "", "codes": [] })));
    }
    let max = shared.config().codes.max_len;
    let (norm, codes) = blocking(move || {
        let norm = crate::codes::normalize(&q, max)
            .map_err(|e| Error::from(e).context(format!("search {q:?}")))?;
        let index = index::Index::open_read(shared.data_dir())?;
        let codes = index.codes_with_prefix(&norm, SUGGESTIONS)?;
        let no_video = index.without_video(&codes)?;
        Ok((norm, (codes, no_video)))
    })
    .await?;
    let (codes, no_video) = codes;
    Ok(Json(
        serde_json::json!({ "normalized": norm, "codes": codes, "no_video": no_video }),
    ))
}

/// The search of the first page, as JSON (the entries of `lookup --json`).
pub(super) async fn api_search(
    State(shared): State<Arc<Shared>>,
    Query(form): Query<SearchForm>,
) -> Result<Json<Vec<serde_json::Value>>, Failure> {
    let (found, notes) = blocking(move || find(&shared, &form)).await?;
    Ok(Json(index::lookup_entries(&found, &notes)))
}
