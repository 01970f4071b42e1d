//! Share links on the web: what a link opens (`/s/{token}`: one order's players, stills,
//! timeline and evidence bundle, on a phone too), its PIN form, and the agent's panel on the
//! order page that makes links (`POST /order/{code}/share`) and revokes them
//! (`POST /share/{id}/revoke`).
//!
//! Owns: these pages and what a link may fetch (only its order's clips, stills and bundle,
//! while it works), the PIN's cookie (scoped to the link's address), and the `access`
//! records: `share` and `share_revoked` by the agent, and each view, still and bundle as
//! `share <id>`. Never: shows anything beyond its one order (no search, no other order, no
//! station, not who at the merchant looked at it), and never serves a byte unrecorded.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, FromRequest, Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::i18n::{t, Lang, LangQuery};
use super::page::{self, url_escape};
use super::search::{language, with_cookie};
use super::shares::{self, PinCheck, Share, State as LinkState};
use super::{auth, blocking, record_access, serve_file, who, Failure, Shared};
use crate::error::{Error, ErrorKind};
use crate::index::{self, FileCheck, Index};

/// The cookie that proves a link's PIN was given (its path is the link's address).
const PIN_COOKIE: &str = "pw_share_pin";
/// Marks a browser that opened a share link (no secret in it): its requests beyond `/s/`
/// are refused (403), not sent to a login page it has no use for.
pub(super) const MARK_COOKIE: &str = "pw_share";

fn now(shared: &Shared) -> i64 {
    shared.deps.clock.now().timestamp()
}

/// Unix seconds in the station's zone, in the one format the pages show times in
/// ([`super::page::show_time`]: `2026-12-04 10:21:07 UTC+08:00`).
fn day_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|d| super::page::show_datetime(&d.with_timezone(&chrono::Local)))
        .unwrap_or_default()
}

/// A share link as an order page's panel lists it (a station's or the archive's).
pub struct LinkRow {
    pub id: String,
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    /// `active`, `expired`, `revoked` or `locked`.
    pub state: &'static str,
    pub has_pin: bool,
}

impl LinkRow {
    fn of(s: &Share, now: i64) -> LinkRow {
        LinkRow {
            id: s.id.clone(),
            created_by: s.created_by.clone(),
            created_at: s.created_at,
            expires_at: s.expires_at,
            state: s.state(now).as_str(),
            has_pin: s.has_pin(),
        }
    }
}

/// A station's order page's panel of its links.
pub(super) fn station_share_panel(lang: Lang, code: &str, links: &[Share]) -> Markup {
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<LinkRow> = links.iter().map(|s| LinkRow::of(s, now)).collect();
    share_panel(lang, code, &rows)
}

/// An order page's panel: make a link (how many days, an optional PIN; `POST
/// /order/CODE/share`), and the order's links with their state, each revocable while it
/// works (`POST /share/ID/revoke`).
pub fn share_panel(lang: Lang, code: &str, links: &[LinkRow]) -> Markup {
    html! {
        details.share open[!links.is_empty()] {
            summary { (t(lang, "share_link")) }
            p.note { (t(lang, "share_note")) }
            form.upload method="post" action={ "/order/" (url_escape(code)) "/share" } {
                label { (t(lang, "share_days")) " "
                    select name="days" {
                        option value="1" { "1 " (t(lang, "days")) }
                        option value="7" selected { "7 " (t(lang, "days")) }
                        option value="30" { "30 " (t(lang, "days")) }
                    }
                }
                " "
                label { (t(lang, "share_pin")) " " input type="text" name="pin" inputmode="numeric" pattern="[0-9]{4,8}" autocomplete="off"; }
                " "
                button type="submit" { (t(lang, "share_create")) }
            }
            @if !links.is_empty() {
                ul.access {
                    @for s in links {
                        li data-share=(s.id) {
                            code { (s.id) } " · " (s.created_by) " · " (day_time(s.created_at))
                            " → " (day_time(s.expires_at)) " · "
                            b { (t(lang, &format!("share_state_{}", s.state))) }
                            @if s.has_pin { " · PIN" }
                            @if s.state == "active" {
                                " "
                                form.inline method="post" action={ "/share/" (s.id) "/revoke" } {
                                    button type="submit" { (t(lang, "share_revoke")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct CreateForm {
    #[serde(default)]
    days: String,
    #[serde(default)]
    pin: String,
}

/// Where people outside open this server: `[server] public_url`, else the address the agent
/// used.
fn base_url(shared: &Shared, req: &Request, peer: SocketAddr) -> String {
    let configured = &shared.config().server.public_url;
    if !configured.is_empty() {
        return configured.clone();
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if auth::behind_tls(req.headers(), peer) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// `POST /order/{code}/share`: a new link to the order, shown this once.
pub(super) async fn create(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(code): UrlPath<String>,
    Query(q): Query<LangQuery>,
    req: Request,
) -> Result<Response, Failure> {
    let (lang, _) = language(&req, q.lang);
    let user = req.extensions().get::<auth::WebUser>().cloned();
    let base = base_url(&shared, &req, peer);
    let Form(f) = Form::<CreateForm>::from_request(req, &())
        .await
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("the share form: {e}")))?;
    let s = shared.clone();
    let who_made = who(peer, user.as_ref());
    let (share, token) = blocking(move || {
        let days: u32 =
            f.days.trim().parse().map_err(|_| {
                Error::invalid(format!("days = {:?}: give a number of days", f.days))
            })?;
        let found = index::lookup(
            s.data_dir(),
            &code,
            s.config().codes.max_len,
            FileCheck::Size,
        )?;
        let Some(first) = found.first() else {
            return Err(Error::msg(
                ErrorKind::NotFound,
                format!("no clip of {code:?} to share"),
            ));
        };
        let order = first.clip.order.clone();
        let made = shares::create(s.data_dir(), &order, &who_made, days, Some(&f.pin), now(&s))?;
        let clips = found.iter().map(|f| f.clip.clip).collect();
        record_access(
            &s,
            "share",
            &order,
            clips,
            who_made,
            Some(made.0.id.clone()),
        )?;
        Ok(made)
    })
    .await?;
    let url = format!("{base}/s/{token}");
    let html = page::layout(
        &page::Viewer {
            lang,
            user: user.as_ref().filter(|u| u.1).map(|u| u.0.as_str()),
        },
        &share.code,
        html! {
            p { a href={ "/order/" (url_escape(&share.code)) } { "← " (t(lang, "order")) " " (share.code) } }
            h1 { (t(lang, "share_made")) " " (share.code) }
            p { input #share-url.wide type="text" readonly value=(url); }
            p { (t(lang, "share_until")) " " b { (day_time(share.expires_at)) } @if share.has_pin() { " · PIN" } }
            p.note { (t(lang, "share_once")) }
        },
    );
    Ok(super::assets::page(html))
}

/// `POST /share/{id}/revoke`: the link stops working at once; back to its order.
pub(super) async fn revoke(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(id): UrlPath<String>,
    req: Request,
) -> Result<Response, Failure> {
    let user = req.extensions().get::<auth::WebUser>().cloned();
    let s = shared.clone();
    let code = blocking(move || {
        let share = shares::revoke(s.data_dir(), &id, now(&s))?
            .ok_or_else(|| Error::msg(ErrorKind::NotFound, format!("no share link {id}")))?;
        let index = Index::open_read(s.data_dir())?;
        let clips = index.lookup(&share.code)?.iter().map(|c| c.clip).collect();
        drop(index);
        record_access(
            &s,
            "share_revoked",
            &share.code,
            clips,
            who(peer, user.as_ref()),
            Some(share.id.clone()),
        )?;
        Ok(share.code)
    })
    .await?;
    Ok(Redirect::to(&format!("/order/{}", url_escape(&code))).into_response())
}

/// What a request with a link's token may do.
enum Admit {
    /// See the order.
    See(Share),
    /// Give the PIN first.
    Pin,
    /// Nothing: the link's state, or `None` when there is no such link.
    Refused(Option<LinkState>),
}

fn admit(shared: &Shared, token: &str, req: &Request) -> Admit {
    let Some(share) = shared.shares.find(shared.data_dir(), token) else {
        return Admit::Refused(None);
    };
    let state = share.state(now(shared));
    if state != LinkState::Active {
        return Admit::Refused(Some(state));
    }
    if let Some(proof) = share.pin_proof(token) {
        let given = super::i18n::cookie(req.headers(), PIN_COOKIE);
        if !given.is_some_and(|g| auth::constant_time_eq(g.as_bytes(), proof.as_bytes())) {
            return Admit::Pin;
        }
    }
    Admit::See(share)
}

/// The page a link shows: the order alone, no way to anything else.
fn shared_page(lang: Lang, title: &str, body: Markup) -> Response {
    let html = page::bare_layout(lang, title, body);
    let mut res = super::assets::page(html);
    res.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("pw_share=1; Path=/; SameSite=Lax; HttpOnly"),
    );
    res
}

fn refused_page(lang: Lang, state: Option<LinkState>) -> Response {
    let key = match state {
        Some(LinkState::Expired) => "share_gone_expired",
        Some(LinkState::Revoked) => "share_gone_revoked",
        Some(LinkState::Locked) => "share_gone_locked",
        _ => "share_gone_unknown",
    };
    let mut res = shared_page(lang, "packwitness", html! { h1 { (t(lang, key)) } });
    *res.status_mut() = if state.is_some() {
        StatusCode::GONE
    } else {
        StatusCode::NOT_FOUND
    };
    res
}

/// A share link's PIN form, posted to `/s/TOKEN` (`left`: tries left after a wrong one).
pub fn pin_form(lang: Lang, token: &str, left: Option<u32>) -> Markup {
    html! {
        h1 { (t(lang, "pin_title")) }
        @if let Some(n) = left { p.bad { (t(lang, "pin_wrong")) " " (n) } }
        form method="post" action={ "/s/" (token) } {
            input #pin type="password" name="pin" inputmode="numeric" autocomplete="off" autofocus;
            " "
            button type="submit" { (t(lang, "pin_open")) }
        }
    }
}

fn pin_page(lang: Lang, token: &str, left: Option<u32>) -> Response {
    let mut res = shared_page(lang, "packwitness", pin_form(lang, token, left));
    *res.status_mut() = StatusCode::UNAUTHORIZED;
    res
}

/// `GET /s/{token}`.
pub(super) async fn page(
    State(shared): State<Arc<Shared>>,
    UrlPath(token): UrlPath<String>,
    Query(q): Query<LangQuery>,
    req: Request,
) -> Result<Response, Failure> {
    let (lang, cookie) = language(&req, q.lang);
    let share = match admit(&shared, &token, &req) {
        Admit::See(s) => s,
        Admit::Pin => return Ok(with_cookie(pin_page(lang, &token, None), cookie)),
        Admit::Refused(state) => return Ok(with_cookie(refused_page(lang, state), cookie)),
    };
    let s = shared.clone();
    let code = share.code.clone();
    let (found, events) = blocking(move || {
        let found = index::lookup(
            s.data_dir(),
            &code,
            s.config().codes.max_len,
            FileCheck::Size,
        )?;
        let events = super::order::timeline(&s, &found, &code)?;
        Ok((found, events))
    })
    .await?;
    let base = format!("/s/{token}");
    let sealed = !found.is_empty() && found.iter().all(|f| f.clip.reason.is_some());
    let body = html! {
        h1 { (t(lang, "order")) " " (share.code) }
        p.note { (t(lang, "shared_note")) " " (t(lang, "share_until")) " " (day_time(share.expires_at)) "." }
        @if sealed {
            p { a.button href={ (base) "/bundle" } { (t(lang, "download_bundle")) } }
            p.note { (t(lang, "shared_bundle")) }
        }
        @for f in &found { (super::order::clip_section(lang, f, false, Some(&base))) }
        (super::order::timeline_table(lang, &events))
    };
    Ok(with_cookie(shared_page(lang, &share.code, body), cookie))
}

#[derive(Deserialize)]
pub(super) struct PinForm {
    #[serde(default)]
    pin: String,
}

/// `POST /s/{token}`: the PIN; right, the browser keeps its proof for this link.
pub(super) async fn pin(
    State(shared): State<Arc<Shared>>,
    UrlPath(token): UrlPath<String>,
    Query(q): Query<LangQuery>,
    req: Request,
) -> Result<Response, Failure> {
    let (lang, _) = language(&req, q.lang);
    let Form(f) = Form::<PinForm>::from_request(req, &())
        .await
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("the PIN form: {e}")))?;
    let s = shared.clone();
    let t2 = token.clone();
    let checked = blocking(
        move || match shares::check_pin(s.data_dir(), &t2, &f.pin, now(&s)) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(PinCheck::Refused(LinkState::Revoked)),
            other => other,
        },
    )
    .await?;
    Ok(match checked {
        PinCheck::Right(proof) => {
            let mut res = Redirect::to(&format!("/s/{token}")).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!(
                "{PIN_COOKIE}={proof}; Path=/s/{token}; HttpOnly; SameSite=Lax; Max-Age={}",
                shares::MAX_DAYS * 86_400
            )) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            res
        }
        PinCheck::Wrong(left) => pin_page(lang, &token, Some(left)),
        PinCheck::Refused(state) => refused_page(lang, Some(state)),
    })
}

/// The link's share when it may see its order now.
fn seeing(shared: &Shared, token: &str, req: &Request) -> Result<Share, Failure> {
    match admit(shared, token, req) {
        Admit::See(s) => Ok(s),
        _ => Err(Failure(
            StatusCode::FORBIDDEN,
            "this link does not open this now".into(),
        )),
    }
}

/// The link's share when it may see clip `clip` now (one of its order's).
async fn clip_of_link(shared: &Arc<Shared>, share: Share, clip: u64) -> Result<Share, Failure> {
    let s = shared.clone();
    let order = blocking(move || {
        Index::open_read(s.data_dir())?
            .order_of(clip)
            .map_err(Error::from)
    })
    .await?;
    if order.as_deref() != Some(share.code.as_str()) {
        return Err(Failure(
            StatusCode::FORBIDDEN,
            "this link shows one order; that clip is not of it".into(),
        ));
    }
    Ok(share)
}

/// `GET /s/{token}/clips/{clip}`: its order's clip (byte ranges); a viewing recorded once,
/// by the link's id.
pub(super) async fn clip(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath((token, clip)): UrlPath<(String, u64)>,
    req: Request,
) -> Result<Response, Failure> {
    let share = seeing(&shared, &token, &req)?;
    let share = clip_of_link(&shared, share, clip).await?;
    let first = req.method() != axum::http::Method::HEAD && shared.new_viewing(clip, peer.ip());
    let s = shared.clone();
    let path = blocking(move || super::viewed_clip(&s, clip, first, format!("share {}", share.id)))
        .await?
        .ok_or_else(|| super::no_clip(clip))?;
    serve_file(&path, req, "video/mp4").await
}

/// `GET /s/{token}/clips/{clip}/still/{which}`.
pub(super) async fn still(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath((token, clip, which)): UrlPath<(String, u64, String)>,
    req: Request,
) -> Result<Response, Failure> {
    let share = seeing(&shared, &token, &req)?;
    let share = clip_of_link(&shared, share, clip).await?;
    super::order::still_of(shared, peer, clip, &which, format!("share {}", share.id)).await
}

/// `GET /s/{token}/bundle`: the order's evidence bundle, recorded as exported by the link.
pub(super) async fn bundle(
    State(shared): State<Arc<Shared>>,
    UrlPath(token): UrlPath<String>,
    req: Request,
) -> Result<Response, Failure> {
    let share = seeing(&shared, &token, &req)?;
    super::bundle_download(
        shared,
        share.code.clone(),
        format!("share {}", share.id),
        req,
    )
    .await
}
