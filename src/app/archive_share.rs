//! Share links at the archive: an agent makes a read-only link to one order
//! (`POST /order/{code}/share`, revoked with `POST /share/{id}/revoke`) for a platform's
//! reviewer or the buyer, who opens it with no account (`/s/{token}`: the order's players,
//! stills, timeline and evidence bundles, behind its PIN if it has one).
//!
//! Owns: these routes, what a link may fetch (only its order's clips of the stations its
//! maker may see, its stills and bundles, while it works), the PIN's cookie (scoped to the
//! link's address), and the access records: `share` and `share_revoked` by the agent, each
//! play, still and bundle as `share <id>`. Never: shows anything beyond its one order, or
//! serves a byte unrecorded.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::archive_app::{
    agent_on, agent_only, failure, need, record_per_log, unavailable, visible, App,
};
use super::archive_downloads::{bundle_for, clip_for, still_for, BundleAsked};
use super::archive_pages::{pin_page, share_gone_page, share_made_page, shared_page};
use crate::archive::accounts::Account;
use crate::archive::search::FoundClip;
use crate::archive::shares::{self, Share};
use crate::web::html_page;
use crate::web::i18n::{self, LangQuery};
use crate::web::page::Viewer;

/// The cookie that proves a link's PIN was given (its path is the link's address).
const PIN_COOKIE: &str = "pwa_share_pin";

#[derive(Deserialize)]
pub(super) struct CreateForm {
    #[serde(default)]
    days: String,
    #[serde(default)]
    pin: String,
}

/// The address a link is sent as: this node as the browser reached it.
fn base_url(headers: &HeaderMap, peer: SocketAddr) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if crate::web::behind_tls(headers, peer) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// `POST /order/{code}/share`: a new link to the order, its address shown this once.
pub(super) async fn create(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(code): UrlPath<String>,
    headers: HeaderMap,
    Form(f): Form<CreateForm>,
) -> Result<Response, Response> {
    let (account, code) = agent_on(&app, &headers, &code, "share orders").await?;
    let bad = |status, text: String| failure(status, text).into_response();
    let clips = visible(&app, &account, &code).await?;
    if clips.is_empty() {
        return Err(bad(
            StatusCode::NOT_FOUND,
            format!("the archive holds no clip of order {code}"),
        ));
    }
    let days: u32 = f.days.trim().parse().unwrap_or(7);
    let pin = match f.pin.trim() {
        "" => None,
        typed => Some(
            crate::web::shares::pin_digits(typed)
                .map_err(|e| bad(StatusCode::BAD_REQUEST, e.to_string()))?,
        ),
    };
    let (share, token) = shares::create(
        app.archive.pool(),
        &code,
        account.stations.as_deref(),
        &account.name,
        days,
        pin.as_deref(),
    )
    .await
    .map_err(|e| match e {
        crate::archive::ArchiveError::Config(why) => bad(StatusCode::BAD_REQUEST, why),
        e => unavailable(e).into_response(),
    })?;
    record_per_log(&app, "share", &code, &clips, &account.name, Some(&share.id)).await?;
    let lang = i18n::pick(&LangQuery::default(), &headers);
    let link = format!("{}/s/{token}", base_url(&headers, peer));
    let v = Viewer {
        lang,
        user: Some(&account.name),
    };
    Ok(html_page(share_made_page(
        &v,
        &code,
        &link,
        &share.expires_at,
    )))
}

/// `POST /share/{id}/revoke`: the link stops working at once, on every node.
pub(super) async fn revoke(
    State(app): State<Arc<App>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let account = need(&app, &headers, false).await?;
    agent_only(&account, "revoke links")?;
    let pool = app.archive.pool();
    let Some(share) = shares::revoke(pool, &id).await.map_err(unavailable)? else {
        return Err(failure(StatusCode::NOT_FOUND, format!("no share link {id}")).into_response());
    };
    let clips = visible(&app, &account, &share.code).await?;
    record_per_log(
        &app,
        "share_revoked",
        &share.code,
        &clips,
        &account.name,
        Some(&share.id),
    )
    .await?;
    let to = format!("/order/{}", crate::web::page::url_escape(&share.code));
    Ok(Redirect::to(&to).into_response())
}

/// Who a link is when it fetches: its maker's stations, its id as the name.
fn as_account(share: &Share) -> Account {
    Account {
        name: format!("share {}", share.id),
        role: "agent".into(),
        stations: share.stations.clone(),
    }
}

/// The link of `token` when it works and its PIN (if any) was given; otherwise the page
/// that says why not.
async fn admit(app: &App, token: &str, headers: &HeaderMap) -> Result<Share, Response> {
    let lang = i18n::pick(&LangQuery::default(), headers);
    let found = shares::find(app.archive.pool(), token)
        .await
        .map_err(unavailable)?;
    let Some(share) = found else {
        return Err((
            StatusCode::NOT_FOUND,
            html_page(share_gone_page(lang, None)),
        )
            .into_response());
    };
    let state = shares::state(&share, chrono::Utc::now());
    if state != "active" {
        return Err((
            StatusCode::GONE,
            html_page(share_gone_page(lang, Some(state))),
        )
            .into_response());
    }
    if let Some(proof) = share.pin_proof(token) {
        let given = i18n::cookie(headers, PIN_COOKIE);
        if !given.is_some_and(|g| crate::digest::constant_time_eq(g.as_bytes(), proof.as_bytes())) {
            return Err((
                StatusCode::UNAUTHORIZED,
                html_page(pin_page(lang, token, None)),
            )
                .into_response());
        }
    }
    Ok(share)
}

/// The clips a working link shows.
async fn clips_of(app: &App, share: &Share) -> Result<Vec<FoundClip>, Response> {
    visible(app, &as_account(share), &share.code)
        .await
        .map_err(IntoResponse::into_response)
}

/// `GET /s/{token}`.
pub(super) async fn page(
    State(app): State<Arc<App>>,
    UrlPath(token): UrlPath<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let share = admit(&app, &token, &headers).await?;
    let lang = i18n::pick(&q, &headers);
    let clips = clips_of(&app, &share).await?;
    let events = super::archive_app::timeline(&app, &share.code, &clips)
        .await
        .map_err(|f| f.1);
    let mut res = html_page(shared_page(lang, &token, &share.code, &clips, &events));
    res.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(res)
}

#[derive(Deserialize)]
pub(super) struct PinForm {
    #[serde(default)]
    pin: String,
}

/// `POST /s/{token}`: the PIN typed; right, a cookie for the link's address proves it.
pub(super) async fn pin(
    State(app): State<Arc<App>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    Form(f): Form<PinForm>,
) -> Result<Response, Response> {
    let lang = i18n::pick(&LangQuery::default(), &headers);
    let pool = app.archive.pool();
    let found = shares::find(pool, &token).await.map_err(unavailable)?;
    let Some(share) = found.filter(|s| shares::state(s, chrono::Utc::now()) == "active") else {
        return admit(&app, &token, &headers)
            .await
            .map(|_| Redirect::to(&format!("/s/{token}")).into_response());
    };
    let typed = crate::web::shares::pin_digits(&f.pin).unwrap_or_default();
    match shares::check_pin(pool, &share, &typed)
        .await
        .map_err(unavailable)?
    {
        None => {
            let mut res = Redirect::to(&format!("/s/{token}")).into_response();
            if let Some(cookie) = share.pin_proof(&token).and_then(|proof| {
                HeaderValue::from_str(&format!(
                    "{PIN_COOKIE}={proof}; HttpOnly; SameSite=Strict; Path=/s/{token}"
                ))
                .ok()
            }) {
                res.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            Ok(res)
        }
        Some(0) => Ok((
            StatusCode::GONE,
            html_page(share_gone_page(lang, Some("locked"))),
        )
            .into_response()),
        Some(left) => Ok((
            StatusCode::UNAUTHORIZED,
            html_page(pin_page(lang, &token, Some(left))),
        )
            .into_response()),
    }
}

/// The clip `sha256` when it is one of the link's.
async fn one_of_its_clips(app: &App, share: &Share, sha256: &str) -> Result<(), Response> {
    if clips_of(app, share)
        .await?
        .iter()
        .any(|c| c.sha256 == sha256)
    {
        Ok(())
    } else {
        Err(failure(
            StatusCode::NOT_FOUND,
            format!("share link {} shows no clip {sha256}", share.id),
        )
        .into_response())
    }
}

/// `GET /s/{token}/clips/{sha256}`: a clip of the link's order, with byte ranges.
pub(super) async fn clip(
    State(app): State<Arc<App>>,
    UrlPath((token, sha256)): UrlPath<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let share = admit(&app, &token, &headers).await?;
    one_of_its_clips(&app, &share, &sha256).await?;
    clip_for(app, as_account(&share), headers, method, sha256, "view").await
}

/// `GET /s/{token}/clips/{sha256}/still/{which}`.
pub(super) async fn still(
    State(app): State<Arc<App>>,
    UrlPath((token, sha256, which)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let share = admit(&app, &token, &headers).await?;
    one_of_its_clips(&app, &share, &sha256).await?;
    still_for(app, as_account(&share), sha256, which).await
}

/// `GET /s/{token}/bundle.zip?log=`: the link's order's bundle of one station log.
pub(super) async fn bundle(
    State(app): State<Arc<App>>,
    UrlPath(token): UrlPath<String>,
    Query(asked): Query<BundleAsked>,
    req: Request,
) -> Result<Response, Response> {
    let share = admit(&app, &token, req.headers()).await?;
    let code = share.code.clone();
    bundle_for(app, as_account(&share), code, asked, req).await
}
