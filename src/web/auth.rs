//! Who may do what on the web app: accounts and sessions when the data dir has accounts
//! (`packwitness user add`), the `[server] token` otherwise (or as well, for integrations).
//!
//! Owns: the middleware every request passes (the Host and cross-site checks of
//! [`super::guard`] first), the login form and its rate limit, the session cookie
//! (`pw_session`: HttpOnly, SameSite=Strict, 12 hours), and the role each route needs:
//! viewer (search, play), agent (also export), admin (also scans over HTTP). On loopback,
//! `/healthz`, `/metrics` and the read-only log endpoints stay open.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::accounts::{self, Role};
use super::{guard, Shared};

/// The account a request was made by (in the request's extensions).
#[derive(Debug, Clone)]
pub struct WebUser(pub String);

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    token: Option<String>,
}

const COOKIE: &str = "pw_session";

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn session_id(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("pw_session=").map(str::to_string))
}

/// The role a route needs.
fn needs(method: &Method, path: &str) -> Role {
    if path.starts_with("/export/") {
        Role::Agent
    } else if *method == Method::POST && path.starts_with("/api/stations/") {
        Role::Admin
    } else {
        Role::Viewer
    }
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
    let token_ok = !want.is_empty()
        && bearer
            .or(q.token.as_deref())
            .is_some_and(|g| constant_time_eq(g.as_bytes(), want.as_bytes()));
    let users = shared.accounts.get(shared.data_dir());
    if users.is_empty() {
        if want.is_empty() || token_ok {
            return next.run(req).await;
        }
        return (
            StatusCode::UNAUTHORIZED,
            "this station needs its token: add ?token=... to the address, or send Authorization: Bearer ...\n",
        )
            .into_response();
    }
    let path = req.uri().path().to_string();
    let read_only_log = matches!(path.as_str(), "/healthz" | "/metrics" | "/checkpoint")
        || path.starts_with("/tile/");
    if path == "/login" || path == "/logout" || (read_only_log && peer.ip().is_loopback()) {
        return next.run(req).await;
    }
    // A session is as good as its account now: removed, it ends; its role is today's.
    let session = session_id(&req)
        .and_then(|id| shared.sessions.get(&id))
        .and_then(|s| {
            users
                .iter()
                .find(|u| u.name == s.name)
                .map(|u| (u.name.clone(), u.role))
        });
    let (name, role) = match (session, token_ok) {
        (Some(s), _) => s,
        (None, true) => ("token".to_string(), Role::Admin),
        (None, false) if *req.method() == Method::GET && path == "/" => {
            return Redirect::to("/login").into_response();
        }
        (None, false) => {
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
    req.extensions_mut().insert(WebUser(name));
    next.run(req).await
}

fn login_form(error: Option<&str>) -> Html<String> {
    let page = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "packwitness: log in / 登录" }
            }
            body style="font-family:sans-serif;max-width:24em;margin:3em auto" {
                h1 { "Log in / 登录" }
                @if let Some(e) = error { p style="color:#b00" { (e) } }
                form method="post" action="/login" {
                    p { label { "Name / 用户名" br; input type="text" name="name" autocomplete="username" required; } }
                    p { label { "Password / 密码" br; input type="password" name="password" autocomplete="current-password" required; } }
                    p { button type="submit" { "Log in / 登录" } }
                }
            }
        }
    };
    Html(page.into_string())
}

pub(super) async fn login_page() -> Html<String> {
    login_form(None)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    name: String,
    password: String,
}

pub(super) async fn login(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    let ip = peer.ip();
    if shared.sessions.locked_out(ip) {
        tracing::warn!(%ip, "login refused: too many failures from this address");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            login_form(Some("Too many failed logins from this address: wait a minute. / 失败次数过多，请稍后再试。")),
        )
            .into_response();
    }
    let s = shared.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let users = s.accounts.get(s.data_dir());
        accounts::check(&users, &f.name, &f.password).map(|r| (f.name, r))
    })
    .await
    .ok()
    .flatten();
    let Some((name, role)) = checked else {
        shared.sessions.failed(ip);
        tracing::warn!(%ip, "failed login");
        return (
            StatusCode::UNAUTHORIZED,
            login_form(Some("Wrong name or password. / 用户名或密码错误。")),
        )
            .into_response();
    };
    let Ok(id) = shared.sessions.open(&name, role) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot open a session\n").into_response();
    };
    tracing::info!(user = %name, role = role.as_str(), %ip, "logged in");
    let cookie = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        accounts::SESSION.as_secs()
    );
    let mut res = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
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
