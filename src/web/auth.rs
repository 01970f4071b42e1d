//! Who may do what on the web app: accounts and sessions when the data dir has accounts
//! (`packwitness user add`), the `[server] token` otherwise (or as well, for integrations).
//!
//! Owns: the middleware every request passes (the Host and cross-site checks of
//! [`super::guard`] first), the login form and its rate limit, the session cookie
//! (`pw_session`: HttpOnly, SameSite=Strict, 12 hours), and the role each route needs:
//! viewer (search, play), agent (also export), admin (also scans over HTTP). On loopback,
//! `/healthz`, `/metrics` and the read-only log endpoints stay open. A station screen paired
//! as a kiosk ([`super::screens`], cookie `pw_screen`) sees its own station's screen, events
//! and pictures, nothing else; a screen refused is shown its pairing page, never a bare error.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::accounts::{self, Role};
use super::i18n::{self, t, Lang, LangQuery};
use super::screens::Verdict;
use super::{guard, Shared};

/// Who made a request (in the request's extensions): the name recorded in access records,
/// whether it is a logged-in account (a logout button), and its role.
#[derive(Debug, Clone)]
pub struct WebUser(pub String, pub bool, pub Option<Role>);

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    token: Option<String>,
}

const COOKIE: &str = "pw_session";
/// A paired screen's credential (`<id>.<secret>`): 400 days (browsers keep no cookie
/// longer), renewed each time the screen's page loads, so it lasts while it is used.
pub(super) const SCREEN_COOKIE: &str = "pw_screen";
const SCREEN_COOKIE_DAYS: u64 = 400;

/// What an endless answer (a screen's events) checks on every tick: the paired screen or
/// the session it was opened with; revoked or ended, the answer ends.
#[derive(Debug, Clone)]
pub(super) enum Watch {
    Screen(String),
    Session(String),
}

impl Watch {
    pub(super) fn holds(&self, shared: &Shared) -> bool {
        match self {
            Watch::Screen(id) => shared.screens.still_paired(shared.data_dir(), id),
            // The session, and its account: a removed account's screen goes dark too.
            Watch::Session(id) => shared.sessions.get(id).is_some_and(|s| {
                let users = shared.accounts.get(shared.data_dir());
                users.iter().any(|u| u.name == s.name)
            }),
        }
    }
}

/// Why a station screen is shown its pairing page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unpaired {
    NotPaired,
    Revoked,
    LoggedOut,
    WrongCode,
    TooMany,
}

/// The station whose screen a path is: its page, its events, its cameras' pictures.
fn screen_station(path: &str) -> Option<&str> {
    if let Some(id) = path.strip_prefix("/station/") {
        return (!id.is_empty() && !id.contains('/')).then_some(id);
    }
    let (id, tail) = path.strip_prefix("/api/stations/")?.split_once('/')?;
    let picture = tail.starts_with("cameras/") && tail.ends_with("/preview.jpg");
    (tail == "events" || picture).then_some(id)
}

/// A station screen's page asked for without access: its pairing page, saying why.
fn refused_screen(shared: &Shared, req: &Request, screen_cookie: bool) -> Option<Response> {
    let station = req.uri().path().strip_prefix("/station/")?;
    if !matches!(*req.method(), Method::GET | Method::HEAD) || station.contains('/') {
        return None;
    }
    let why = if screen_cookie {
        Unpaired::Revoked
    } else if session_id(req).is_some() {
        Unpaired::LoggedOut
    } else {
        Unpaired::NotPaired
    };
    super::kiosk::unpaired_page(shared, req.headers(), station, why)
}

/// The `Set-Cookie` of a screen's credential.
pub(super) fn screen_cookie(credential: &str, secure: bool) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SCREEN_COOKIE}={credential}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        SCREEN_COOKIE_DAYS * 86_400,
        if secure { "; Secure" } else { "" }
    ))
    .ok()
}

pub(super) use crate::digest::constant_time_eq;

fn session_id(req: &Request) -> Option<String> {
    super::i18n::cookie(req.headers(), COOKIE)
}

/// The role a route needs.
fn needs(method: &Method, path: &str) -> Role {
    let hold = *method == Method::POST && path.starts_with("/order/") && path.ends_with("/hold");
    if path.starts_with("/export/")
        || is_entries(path)
        || hold
        || (path.starts_with("/clips/") && path.ends_with("/download"))
        || (path.starts_with("/order/") && path.ends_with("/upload.mp4"))
        || (path.starts_with("/order/") && path.ends_with("/share"))
        || (path.starts_with("/order/") && path.ends_with("/dispute"))
        || path.starts_with("/share/")
    {
        Role::Agent
    } else if *method == Method::POST && path.starts_with("/api/stations/") {
        Role::Admin
    } else {
        Role::Viewer
    }
}

/// The manifest's lines (entry bundles): every order code in the log, so never open to the
/// metrics token or to loopback alone.
fn is_entries(path: &str) -> bool {
    path.starts_with("/tile/entries/")
}

/// Every request: Host and cross-site checks, then the token or the session.
pub(super) async fn authorize(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<TokenQuery>,
    mut req: Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(refused) = guard::refuse(&req, &shared.config().server.hosts) {
        return refused;
    }
    let want = &shared.config().server.token;
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let path = req.uri().path().to_string();
    // The pages' own scripts and styles hold nothing secret (the login page needs them). A
    // share link's pages check its token themselves.
    if path.starts_with("/assets/") || path == "/pair" || path.starts_with("/s/") {
        return next.run(req).await;
    }
    // A browser that opened a share link and has no session sees nothing else.
    let marked = super::i18n::cookie(req.headers(), super::share::MARK_COOKIE).is_some();
    let no_session = session_id(&req)
        .and_then(|id| shared.sessions.get(&id))
        .is_none();
    if marked && no_session && bearer.is_none() {
        return (
            StatusCode::FORBIDDEN,
            "this browser opened a share link: it shows one order and nothing else\n",
        )
            .into_response();
    }
    // A paired station screen: its own station's screen, events and pictures, to read.
    let screen = super::i18n::cookie(req.headers(), SCREEN_COOKIE);
    if let (Some(station), Some(credential)) = (screen_station(&path), screen.as_deref()) {
        let now = shared.deps.clock.now().timestamp();
        let read = matches!(*req.method(), Method::GET | Method::HEAD);
        if let Verdict::Paired(s) = shared.screens.check(shared.data_dir(), credential, now) {
            if read && s.station == station {
                req.extensions_mut()
                    .insert(WebUser(format!("screen {}", s.id), false, None));
                req.extensions_mut().insert(Watch::Screen(s.id));
                return next.run(req).await;
            }
        }
    }
    // A WMS sends one station's scans with that station's own token, and can do nothing else.
    if let Some(station) = scan_station(req.method(), &path) {
        let st = shared.config().station(station);
        if let (Some(st), Some(b)) = (st, bearer) {
            if !st.scan_token.is_empty() && constant_time_eq(b.as_bytes(), st.scan_token.as_bytes())
            {
                req.extensions_mut()
                    .insert(WebUser(format!("scan_token {}", st.id), false, None));
                return next.run(req).await;
            }
        }
    }
    // An auditor reads the manifest's lines with the audit token, from anywhere, and nothing
    // else.
    let audit = &shared.config().server.audit_token;
    if is_entries(&path)
        && !audit.is_empty()
        && bearer.is_some_and(|b| constant_time_eq(b.as_bytes(), audit.as_bytes()))
    {
        return next.run(req).await;
    }
    // A monitor (Prometheus, a witness) reads health, the checkpoint and the hash tiles with
    // the metrics token, from anywhere, and nothing else.
    let read_only_log = matches!(path.as_str(), "/healthz" | "/metrics" | "/checkpoint")
        || (path.starts_with("/tile/") && !is_entries(&path));
    let metrics = &shared.config().server.metrics_token;
    if read_only_log
        && !metrics.is_empty()
        && bearer.is_some_and(|b| constant_time_eq(b.as_bytes(), metrics.as_bytes()))
    {
        return next.run(req).await;
    }
    let by_query = q
        .token
        .as_deref()
        .is_some_and(|g| !want.is_empty() && constant_time_eq(g.as_bytes(), want.as_bytes()));
    let token_ok = by_query
        || (!want.is_empty()
            && bearer.is_some_and(|g| constant_time_eq(g.as_bytes(), want.as_bytes())));
    // A token in a page's address is traded for a session cookie, and the address is given
    // again without it (so it stays out of links, history and the Referer).
    if by_query && *req.method() == Method::GET && is_page(&path) {
        return token_session(&shared, &req, behind_tls(req.headers(), peer));
    }
    let users = shared.accounts.get(shared.data_dir());
    let session_key = session_id(&req);
    let session = session_key
        .as_deref()
        .and_then(|id| shared.sessions.get(id));
    if users.is_empty() {
        let token_session = session.as_ref().is_some_and(|s| s.name == TOKEN_USER);
        if is_entries(&path) && !(token_ok || token_session) {
            return (
                StatusCode::UNAUTHORIZED,
                "the manifest's lines name every order: read them with [server] audit_token (Authorization: Bearer ...), the [server] token, or an account with the agent role\n",
            )
                .into_response();
        }
        if want.is_empty() || token_ok || token_session {
            return next.run(req).await;
        }
        if let Some(page) = refused_screen(&shared, &req, screen.is_some()) {
            return page;
        }
        return (
            StatusCode::UNAUTHORIZED,
            "this station needs its token: open the page once as /?token=... (a session cookie is set), or send Authorization: Bearer ...\n",
        )
            .into_response();
    }
    let read_only_log = matches!(path.as_str(), "/healthz" | "/metrics" | "/checkpoint")
        || (path.starts_with("/tile/") && !is_entries(&path));
    if path == "/login" || path == "/logout" || (read_only_log && peer.ip().is_loopback()) {
        return next.run(req).await;
    }
    // A session is as good as its account now: removed, it ends; its role is today's.
    let session = session.and_then(|s| {
        users
            .iter()
            .find(|u| u.name == s.name)
            .map(|u| (u.name.clone(), u.role))
    });
    let (name, role) = match (session, token_ok) {
        (Some(s), _) => s,
        (None, true) => (TOKEN_USER.to_string(), Role::Admin),
        (None, false) => {
            if let Some(page) = refused_screen(&shared, &req, screen.is_some()) {
                return page;
            }
            if *req.method() == Method::GET && is_page(&path) {
                return Redirect::to("/login").into_response();
            }
            return (StatusCode::UNAUTHORIZED, "log in first: /login\n").into_response();
        }
    };
    let need = needs(req.method(), &path);
    if role < need {
        return (
            StatusCode::FORBIDDEN,
            format!(
                "{name} is a {}; this needs a{} {}\n",
                role.as_str(),
                if need == Role::Agent || need == Role::Admin {
                    "n"
                } else {
                    ""
                },
                need.as_str()
            ),
        )
            .into_response();
    }
    let logged_in = name != TOKEN_USER;
    // Logged in, the name came from the session of this cookie.
    if let (Some(id), true) = (session_key, logged_in) {
        req.extensions_mut().insert(Watch::Session(id));
    }
    req.extensions_mut()
        .insert(WebUser(name, logged_in, Some(role)));
    next.run(req).await
}

/// The name access records give the `[server] token`.
const TOKEN_USER: &str = "token";

/// The station a request sends a scan to, if it is one.
fn scan_station<'p>(method: &Method, path: &'p str) -> Option<&'p str> {
    if *method != Method::POST {
        return None;
    }
    path.strip_prefix("/api/stations/")?.strip_suffix("/scan")
}

/// A page people open (not an API, a clip or a bundle, which scripts fetch with the token).
fn is_page(path: &str) -> bool {
    path == "/" || path == "/stats" || path.starts_with("/order/") || path.starts_with("/station/")
}

/// True when a reverse proxy on this machine says the browser reached it over HTTPS (the
/// session cookie is then `Secure`).
pub fn behind_tls(headers: &axum::http::HeaderMap, peer: SocketAddr) -> bool {
    peer.ip().is_loopback()
        && headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn session_cookie(id: &str, secure: bool) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        accounts::SESSION.as_secs(),
        if secure { "; Secure" } else { "" }
    ))
    .ok()
}

/// The page asked for again without `token=` in its address, with a session cookie.
fn token_session(shared: &Shared, req: &Request, secure: bool) -> Response {
    let Ok(id) = shared.sessions.open(TOKEN_USER, Role::Admin) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot open a session\n").into_response();
    };
    let query: Vec<&str> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("token="))
        .collect();
    let mut to = req.uri().path().to_string();
    if !query.is_empty() {
        to = format!("{to}?{}", query.join("&"));
    }
    let mut res = Redirect::to(&to).into_response();
    if let Some(c) = session_cookie(&id, secure) {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    res
}

/// The login page in the request's language, with what went wrong if anything.
pub fn login_form(lang: Lang, error: Option<&str>) -> Html<String> {
    let page = html! {
        (maud::DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "packwitness: " (t(lang, "login")) }
                link rel="stylesheet" href="/assets/app.css";
            }
            body.login {
                h1 { (t(lang, "login")) }
                @if let Some(e) = error { p.bad { (e) } }
                form method="post" action="/login" {
                    p { label { (t(lang, "login_name")) br; input type="text" name="name" autocomplete="username" required; } }
                    p { label { (t(lang, "login_password")) br; input type="password" name="password" autocomplete="current-password" required; } }
                    p { button type="submit" { (t(lang, "login")) } }
                }
            }
        }
    };
    Html(page.into_string())
}

pub(super) async fn login_page(
    Query(q): Query<LangQuery>,
    headers: axum::http::HeaderMap,
) -> Html<String> {
    login_form(i18n::pick(&q, &headers), None)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    name: String,
    password: String,
}

pub(super) async fn login(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let ip = peer.ip();
    let secure = behind_tls(&headers, peer);
    let lang = i18n::pick(&LangQuery::default(), &headers);
    if shared.sessions.locked_out(ip) {
        tracing::warn!(%ip, "login refused: too many failures from this address");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            login_form(lang, Some(t(lang, "login_too_many_here"))),
        )
            .into_response();
    }
    if let Some(wait) = shared.sessions.account_wait(&f.name, ip) {
        tracing::warn!(%ip, user = %f.name, "login refused for now: too many failed logins to this account");
        let text =
            t(lang, "login_too_many_account").replace("{s}", &wait.as_secs().max(1).to_string());
        return (StatusCode::TOO_MANY_REQUESTS, login_form(lang, Some(&text))).into_response();
    }
    let s = shared.clone();
    let tried = f.name.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let users = s.accounts.get(s.data_dir());
        accounts::check(&users, &f.name, &f.password).map(|r| (f.name, r))
    })
    .await
    .ok()
    .flatten();
    let Some((name, role)) = checked else {
        if shared.accounts.unreadable().is_some() {
            // Nobody's password is wrong: the accounts cannot be read. Said on the page (the
            // reason, with the file's path, is in the log and in `doctor`), not counted as a
            // failed login.
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                login_form(lang, Some(t(lang, "login_unreadable"))),
            )
                .into_response();
        }
        shared.sessions.failed(ip);
        shared.sessions.account_failed(&tried);
        tracing::warn!(%ip, user = %tried, "failed login");
        return (
            StatusCode::UNAUTHORIZED,
            login_form(lang, Some(t(lang, "login_wrong"))),
        )
            .into_response();
    };
    let Ok(id) = shared.sessions.open(&name, role) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot open a session\n").into_response();
    };
    shared.sessions.account_succeeded(&name, ip);
    tracing::info!(user = %name, role = role.as_str(), %ip, "logged in");
    let mut res = Redirect::to("/").into_response();
    if let Some(v) = session_cookie(&id, secure) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

pub(super) async fn logout(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    if let Some(id) = session_id(&req) {
        shared.sessions.close(&id);
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("pw_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    res
}
