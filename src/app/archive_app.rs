//! The customer-service app served by `packwitness archive`: one app for every station, over
//! the archive's database and bucket, so that customer service need not know which station
//! packed an order, and a clip a station pruned or lost is still found, played and exported.
//!
//! Owns: the app's routes on the archive node (`/login`, `/logout`, `/` search,
//! `/api/suggest`, `/order/{code}`, `/order/{code}/hold`, `/board`, `/assets/`; the bytes,
//! `/order/{code}/upload.mp4` ([`super::archive_upload`]), share links (`/s/`, [`super::archive_share`]),
//! `/clips/{sha256}[/download|/still/{first,last}.jpg]` and `/order/{code}/bundle.zip?log=`, are
//! [`super::archive_downloads`]), the accounts' sessions (in PostgreSQL, any node answers) and
//! which stations each account sees, the commands that manage accounts and station groups,
//! and recording every play, download and export in the node's access log
//! ([`super::archive_access`]) before a byte of it is sent (a legal hold once it is applied).
//! Never: sends a clip's bytes or a bundle that was not recorded, shows a row of a station
//! the account may not see, or sends the browser to the object store (presigned addresses
//! would leave the access unchecked and unrecorded, and need the store reachable from every
//! desk): the bytes pass through the node, a range at a time.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::archive_access::{Access, AccessLog};
use super::archive_downloads as downloads;
use super::archive_pages::{board_page, order_page, search_page, OrderView, SearchView};
use super::archive_share as share;
use crate::archive::accounts::{self, Account, SESSION_HOURS};
use crate::archive::search::{Agent, FoundClip};
use crate::archive::service::Archive;
use crate::config::ArchiveServerConfig;
use crate::error::Error;
use crate::web::accounts::{Role, Sessions};
use crate::web::i18n::{self, t, Lang, LangQuery};
use crate::web::page::Viewer;
use crate::web::{blocking, html_page, Event, Failure};

/// The session cookie of the archive's app (not a station's `pw_session`: a browser sends
/// cookies to every port of a host).
const COOKIE: &str = "pwa_session";
/// Suggestions at most, and clips on the first page.
const SUGGESTIONS: i64 = 10;
const RECENT: i64 = 20;

/// What the app's handlers share.
pub struct App {
    pub archive: Arc<Archive>,
    pub access: AccessLog,
    /// The node's config: `[upload]` and `[encode]` for the MP4 for upload.
    pub config: crate::config::Config,
    /// Failed logins (per address and per account), as a station counts them.
    pub throttle: Sessions,
    pub exports: tokio::sync::Semaphore,
}

impl App {
    /// `[codes] max_len`: codes are normalised as at recording.
    pub fn max_len(&self) -> usize {
        self.config.codes.max_len
    }

    pub fn new(archive: Arc<Archive>, access: AccessLog, config: crate::config::Config) -> App {
        App {
            archive,
            access,
            config,
            throttle: Sessions::default(),
            exports: tokio::sync::Semaphore::new(downloads::MAX_EXPORTS),
        }
    }
}

/// The app's routes.
pub fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(search))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/api/suggest", get(suggest))
        .route("/order/{code}", get(order))
        .route("/order/{code}/bundle.zip", get(downloads::bundle))
        .route("/order/{code}/hold", post(hold))
        .route(
            "/order/{code}/upload.mp4",
            get(super::archive_upload::upload_mp4),
        )
        .route("/order/{code}/share", post(share::create))
        .route(
            "/order/{code}/dispute",
            post(super::archive_dispute::sheet).layer(axum::extract::DefaultBodyLimit::max(
                crate::web::dispute::MAX_BYTES,
            )),
        )
        .route("/share/{id}/revoke", post(share::revoke))
        .route("/s/{token}", get(share::page).post(share::pin))
        .route("/s/{token}/clips/{sha256}", get(share::clip))
        .route("/s/{token}/clips/{sha256}/still/{which}", get(share::still))
        .route("/s/{token}/bundle.zip", get(share::bundle))
        .route("/clips/{sha256}", get(downloads::play))
        .route("/clips/{sha256}/download", get(downloads::download))
        .route("/clips/{sha256}/still/{which}", get(downloads::still))
        .route("/board", get(board))
        .route("/assets/{name}", get(crate::web::asset))
        .with_state(app)
}

// ---- the commands that manage accounts ----------------------------------------------------

fn bad_account_name(name: &str) -> Error {
    Error::msg(
        crate::ErrorKind::Invalid,
        format!("account name {name:?}: letters, digits and . - _ @ only, up to 64"),
    )
}

/// Adds (or changes) the account `name` of the archive's app.
pub fn add_account(
    cfg: &ArchiveServerConfig,
    name: &str,
    role: &str,
    password: &str,
    stations: Option<&[String]>,
    groups: Option<&[String]>,
) -> Result<(), Error> {
    if !crate::web::accounts::valid_name(name) {
        return Err(bad_account_name(name));
    }
    Role::parse(role)?;
    let hash = crate::web::accounts::hash(password)?;
    super::archive::with_database(cfg, |pool| async move {
        accounts::put_account(&pool, name, role, &hash, stations, groups).await
    })
}

/// Removes the account `name`; false when there was none.
pub fn remove_account(cfg: &ArchiveServerConfig, name: &str) -> Result<bool, Error> {
    super::archive::with_database(cfg, |pool| async move {
        accounts::remove_account(&pool, name).await
    })
}

/// The accounts of the archive's app.
pub fn list_accounts(cfg: &ArchiveServerConfig) -> Result<Vec<accounts::Listed>, Error> {
    super::archive::with_database(
        cfg,
        |pool| async move { accounts::list_accounts(&pool).await },
    )
}

/// Records `access` made by a command on the node's folder (`archive export`) in its access
/// log, then lists it in the database's index as the app does (a failure there is logged:
/// the signed record stands); its line.
pub fn record_command(
    cfg: &ArchiveServerConfig,
    log: &AccessLog,
    access: &Access,
) -> Result<u64, Error> {
    let line = log.record(access)?;
    let indexed = super::archive::with_database(cfg, |pool| async move {
        index(&pool, log, line, access).await;
        Ok(())
    });
    if let Err(e) = indexed {
        tracing::warn!(error = %e, line, "an access was recorded but not indexed: the order's page will not list it");
    }
    Ok(line)
}

/// Names the station group `name`.
pub fn put_group(cfg: &ArchiveServerConfig, name: &str, stations: &[String]) -> Result<(), Error> {
    super::archive::with_database(cfg, |pool| async move {
        accounts::put_group(&pool, name, stations).await
    })
}

pub(super) fn failure(status: StatusCode, text: impl Into<String>) -> Failure {
    Failure(status, text.into())
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> Failure {
    tracing::error!(error = %e, "the archive's app could not answer");
    failure(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the archive cannot answer now ({e}); try again"),
    )
}

/// The account of the request's session, if any.
async fn account(app: &App, headers: &HeaderMap) -> Result<Option<Account>, Failure> {
    let Some(token) = i18n::cookie(headers, COOKIE) else {
        return Ok(None);
    };
    accounts::session(app.archive.pool(), &token)
        .await
        .map_err(unavailable)
}

/// The account, or the answer for nobody: the login page for a page, 401 otherwise.
pub(super) async fn need(app: &App, headers: &HeaderMap, page: bool) -> Result<Account, Response> {
    match account(app, headers).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) if page => Err(Redirect::to("/login").into_response()),
        Ok(None) => Err(failure(
            StatusCode::UNAUTHORIZED,
            "log in at /login first (an account made with `packwitness archive add-account`)",
        )
        .into_response()),
        Err(f) => Err(f.into_response()),
    }
}

pub(super) fn may_export(a: &Account) -> bool {
    Role::parse(&a.role).is_ok_and(|r| r >= Role::Agent)
}

/// The logged-in agent of a request that changes or takes out something of order `raw` (a
/// download, a bundle, an MP4, a hold, a link): 401 for nobody, 403 for a viewer (`what`
/// says what it may not do), 400 for a code that is no code; the account and the code as
/// the seals name it.
pub(super) async fn agent_on(
    app: &App,
    headers: &HeaderMap,
    raw: &str,
    what: &str,
) -> Result<(Account, String), Response> {
    let account = need(app, headers, false).await?;
    agent_only(&account, what)?;
    Ok((account, order_code(app, raw)?))
}

/// 403 unless `account` is an agent (or admin); `what` says what a viewer may not do.
pub(super) fn agent_only(account: &Account, what: &str) -> Result<(), Failure> {
    if may_export(account) {
        return Ok(());
    }
    Err(failure(
        StatusCode::FORBIDDEN,
        format!("account {} may not {what} (role viewer)", account.name),
    ))
}

/// The order code `raw` as the seals name it (normalised as at recording), or 400.
pub(super) fn order_code(app: &App, raw: &str) -> Result<String, Failure> {
    crate::codes::normalize(raw, app.max_len())
        .map_err(|e| failure(StatusCode::BAD_REQUEST, format!("order {raw:?}: {e}")))
}

/// The page's language (the address's `lang=`, the switch's cookie, the browser's), and
/// the cookie that keeps a switch.
fn language(lang: Option<String>, headers: &HeaderMap) -> (Lang, Option<HeaderValue>) {
    let asked = LangQuery { lang };
    let l = i18n::pick(&asked, headers);
    let keep = asked.lang.as_ref().and_then(|_| {
        HeaderValue::from_str(&format!(
            "pw_lang={}; Path=/; SameSite=Strict; Max-Age=31536000",
            if l == Lang::Zh { "zh" } else { "en" }
        ))
        .ok()
    });
    (l, keep)
}

fn page_with(html: String, keep: Option<HeaderValue>) -> Response {
    let mut res = html_page(html);
    if let Some(c) = keep {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

// ---- logging in ---------------------------------------------------------------------------

async fn login_page(Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    crate::web::login_form(i18n::pick(&q, &headers), None).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
}

async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let (ip, lang) = (peer.ip(), i18n::pick(&LangQuery::default(), &headers));
    let refuse =
        |status, text: &str| (status, crate::web::login_form(lang, Some(text))).into_response();
    if app.throttle.locked_out(ip) {
        tracing::warn!(%ip, "archive login refused: too many failures from this address");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            t(lang, "login_too_many_here"),
        );
    }
    if let Some(wait) = app.throttle.account_wait(&f.name, ip) {
        let text =
            t(lang, "login_too_many_account").replace("{s}", &wait.as_secs().max(1).to_string());
        return refuse(StatusCode::TOO_MANY_REQUESTS, &text);
    }
    let hash = match accounts::credentials(app.archive.pool(), &f.name).await {
        Ok(h) => h,
        Err(e) => return unavailable(e).into_response(),
    };
    let password = f.password;
    let right = match hash {
        Some(h) => {
            tokio::task::spawn_blocking(move || crate::web::accounts::matches(&h, &password))
                .await
                .unwrap_or(false)
        }
        None => false,
    };
    if !right {
        app.throttle.failed(ip);
        app.throttle.account_failed(&f.name);
        tracing::warn!(%ip, user = %f.name, "failed login at the archive");
        return refuse(StatusCode::UNAUTHORIZED, t(lang, "login_wrong"));
    }
    let token = match accounts::open_session(app.archive.pool(), &f.name).await {
        Ok(t) => t,
        Err(e) => return unavailable(e).into_response(),
    };
    app.throttle.account_succeeded(&f.name, ip);
    tracing::info!(user = %f.name, %ip, "logged in at the archive");
    let mut res = Redirect::to("/").into_response();
    let secure = crate::web::behind_tls(&headers, peer);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        SESSION_HOURS * 3600,
        if secure { "; Secure" } else { "" }
    )) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(token) = i18n::cookie(&headers, COOKIE) {
        if let Err(e) = accounts::close_session(app.archive.pool(), &token).await {
            return unavailable(e).into_response();
        }
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("pwa_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    res
}

// ---- finding ------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct Asked {
    #[serde(default)]
    q: String,
    #[serde(default)]
    station: String,
    #[serde(default)]
    group: String,
    lang: Option<String>,
}

/// The stations a search covers: the account's, narrowed to a station or a group asked for.
async fn narrowed(app: &App, account: &Account, asked: &Asked) -> Result<Agent, Failure> {
    let mut agent = account.agent();
    let mut only: Option<Vec<String>> = None;
    if !asked.group.is_empty() {
        let groups = accounts::groups(app.archive.pool())
            .await
            .map_err(unavailable)?;
        only = Some(
            groups
                .into_iter()
                .find(|(g, _)| *g == asked.group)
                .map(|(_, s)| s)
                .unwrap_or_default(),
        );
    }
    let station = asked.station.trim();
    if !station.is_empty() {
        only = Some(match only {
            Some(s) => s.into_iter().filter(|x| x == station).collect(),
            None => vec![station.to_string()],
        });
    }
    if let Some(only) = only {
        agent.stations = Some(match agent.stations {
            Some(mine) => only.into_iter().filter(|s| mine.contains(s)).collect(),
            None => only,
        });
    }
    Ok(agent)
}

async fn search(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(asked): Query<Asked>,
) -> Result<Response, Response> {
    let account = need(&app, &headers, true).await?;
    let (lang, keep) = language(asked.lang.clone(), &headers);
    let found = async {
        let agent = narrowed(&app, &account, &asked).await?;
        let groups = accounts::groups(app.archive.pool())
            .await
            .map_err(unavailable)?;
        let q = asked.q.trim();
        let (clips, codes) = if q.is_empty() {
            let recent = app.archive.recent(&agent, RECENT).await;
            (recent.map_err(unavailable)?, Vec::new())
        } else {
            let code = crate::codes::normalize(q, app.max_len())
                .map_err(|e| failure(StatusCode::BAD_REQUEST, format!("search {q:?}: {e}")))?;
            let clips = app.archive.find(&agent, &code).await.map_err(unavailable)?;
            let codes = if clips.is_empty() {
                let s = app.archive.suggest(&agent, &code, SUGGESTIONS * 10);
                s.await.map_err(unavailable)?
            } else {
                Vec::new()
            };
            (clips, codes)
        };
        Ok::<_, Failure>((clips, codes, groups))
    }
    .await?;
    let (clips, codes, groups) = found;
    let groups: Vec<String> = groups.into_iter().map(|(g, _)| g).collect();
    let html = search_page(
        &Viewer {
            lang,
            user: Some(&account.name),
        },
        &SearchView {
            q: asked.q.trim(),
            station: asked.station.trim(),
            group: &asked.group,
            groups: &groups,
            clips: &clips,
            codes: &codes,
            every_station: account.stations.is_none(),
        },
    );
    Ok(page_with(html, keep))
}

#[derive(Deserialize)]
struct Typed {
    #[serde(default)]
    q: String,
}

/// `/api/suggest?q=`: the codes starting with what was typed, as the station's app has them.
async fn suggest(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(typed): Query<Typed>,
) -> Result<Json<serde_json::Value>, Response> {
    let account = need(&app, &headers, false).await?;
    let q = typed.q.trim();
    if q.is_empty() {
        return Ok(Json(serde_json::json!({ "normalized": "", "codes": [] })));
    }
    let norm = crate::codes::normalize(q, app.max_len()).map_err(|e| {
        failure(StatusCode::BAD_REQUEST, format!("search {q:?}: {e}")).into_response()
    })?;
    let codes = app
        .archive
        .suggest(&account.agent(), &norm, SUGGESTIONS)
        .await
        .map_err(unavailable)?;
    Ok(Json(
        serde_json::json!({ "normalized": norm, "codes": codes, "no_video": [] }),
    ))
}

/// The clips of `code` the account sees; 403 when the order has clips but none of them
/// (so that an agent limited to some stations is told, not shown an empty order).
pub(super) async fn visible(
    app: &App,
    account: &Account,
    code: &str,
) -> Result<Vec<FoundClip>, Failure> {
    let mine = app
        .archive
        .find(&account.agent(), code)
        .await
        .map_err(unavailable)?;
    if mine.is_empty() && account.stations.is_some() {
        let every = Agent {
            name: account.name.clone(),
            stations: None,
        };
        let any = app.archive.find(&every, code).await.map_err(unavailable)?;
        if !any.is_empty() {
            return Err(failure(
                StatusCode::FORBIDDEN,
                format!(
                    "order {code}: its clips belong to stations account {} may not see",
                    account.name
                ),
            ));
        }
    }
    Ok(mine)
}

/// Records of an order shown in its timeline at most (a station's page shows as many).
const TIMELINE: usize = 500;
/// Accesses of an order listed on its page at most, newest first.
const ACCESSES: i64 = 100;

/// The order's records in the station logs of the clips `shown`: their openings, attached
/// codes and seals, the order's scans and other records, oldest first, read from the
/// archived entry bundles (a bundle's 256 lines at a time).
pub(super) async fn timeline(
    app: &App,
    code: &str,
    shown: &[FoundClip],
) -> Result<Vec<Event>, Failure> {
    let held = app.archive.order_clips(code).await.map_err(unavailable)?;
    let is_shown = |c: &crate::archive::evidence::ArchivedClip| {
        shown
            .iter()
            .any(|s| s.log == c.station.origin && s.seal == c.seal)
    };
    let mut orders: Vec<&str> = shown.iter().map(|c| c.order.as_str()).collect();
    orders.sort_unstable();
    orders.dedup();
    let mut events: Vec<(i64, Event)> = Vec::new();
    let mut done: Vec<i64> = Vec::new();
    for c in held.iter().filter(|c| is_shown(c)) {
        if done.contains(&c.station.id) {
            continue;
        }
        done.push(c.station.id);
        let log = app.archive.log_of(&c.station).await.map_err(unavailable)?;
        let mut lines = Vec::new();
        for mine in held
            .iter()
            .filter(|m| m.station.id == c.station.id && is_shown(m))
        {
            lines.extend([mine.clip, mine.seal]);
            let attached = log.attached(mine.clip).await.map_err(unavailable)?;
            lines.extend(attached.into_iter().map(|(l, _)| l));
        }
        for order in &orders {
            let of = log.order_lines(order, TIMELINE as i64).await;
            lines.extend(of.map_err(unavailable)?.into_iter().map(|(l, _)| l));
        }
        lines.sort_unstable();
        lines.dedup();
        for line in lines.into_iter().filter(|l| *l <= log.size).take(TIMELINE) {
            let e = Event::of_line(line, &log.line(line).await.map_err(unavailable)?);
            let at =
                chrono::DateTime::parse_from_rfc3339(&e.at).map_or(0, |t| t.timestamp_millis());
            events.push((at, e));
        }
    }
    events.sort_by_key(|(at, _)| *at);
    Ok(events.into_iter().map(|(_, e)| e).take(TIMELINE).collect())
}

async fn order(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(code): UrlPath<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, Response> {
    let account = need(&app, &headers, true).await?;
    let (lang, keep) = language(q.lang, &headers);
    let code = order_code(&app, &code)?;
    let clips = match visible(&app, &account, &code).await {
        Ok(c) => c,
        Err(Failure(StatusCode::FORBIDDEN, _)) => {
            let body = maud::html! { p.bad { (t(lang, "arc_forbidden")) } p { a href="/" { (t(lang, "search")) } } };
            let v = Viewer {
                lang,
                user: Some(&account.name),
            };
            let html = crate::web::page::layout(&v, &code, body);
            return Ok((StatusCode::FORBIDDEN, page_with(html, keep)).into_response());
        }
        Err(f) => return Err(f.into_response()),
    };
    // A page without its timeline rather than none when the bucket cannot be read now.
    let events = timeline(&app, &code, &clips).await.map_err(|f| f.1);
    let mut logs: Vec<String> = clips.iter().map(|c| c.log.clone()).collect();
    logs.dedup();
    let accesses = accounts::accesses(app.archive.pool(), &code, &logs, ACCESSES)
        .await
        .map_err(|e| e.to_string());
    let links = if may_export(&account) {
        crate::archive::shares::of_code(app.archive.pool(), &code)
            .await
            .map_err(unavailable)?
    } else {
        Vec::new()
    };
    let html = order_page(
        &Viewer {
            lang,
            user: Some(&account.name),
        },
        &OrderView {
            code: &code,
            clips: &clips,
            agent: may_export(&account),
            events: &events,
            accesses: &accesses,
            presets: &crate::web::presets(&app.config),
            shares: &links,
        },
    );
    Ok(page_with(html, keep))
}

async fn board(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, Response> {
    let account = need(&app, &headers, true).await?;
    let (lang, keep) = language(q.lang, &headers);
    if account.stations.is_some() {
        return Err((StatusCode::FORBIDDEN, t(lang, "arc_board_forbidden")).into_response());
    }
    let today = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let rows = app.archive.board(today).await.map_err(unavailable)?;
    let v = Viewer {
        lang,
        user: Some(&account.name),
    };
    Ok(page_with(board_page(&v, &rows), keep))
}

/// Lists the access recorded at `line` of the node's log `log` in the database's index
/// (what an order's page shows); a failure is logged: the signed record stands.
async fn index(pool: &deadpool_postgres::Pool, log: &AccessLog, line: u64, access: &Access) {
    let row = accounts::AccessRow {
        node: log.name().to_string(),
        line,
        at: chrono::Utc::now(),
        action: access.action.to_string(),
        who: access.who.clone(),
        log: access.log.clone(),
        clips: access.clips.clone(),
    };
    if let Err(e) = accounts::index_access(pool, &row, &access.code).await {
        tracing::warn!(error = %e, line, "an access was recorded but not indexed: the order's page will not list it");
    }
}

/// Records `access` in the node's access log (off the async threads), then lists it in the
/// database's index of accesses.
pub(super) async fn record(app: &Arc<App>, access: Access) -> Result<u64, Failure> {
    let (a, kept) = (app.clone(), access.clone());
    let line = blocking(move || a.access.record(&access)).await?;
    index(app.archive.pool(), &app.access, line, &kept).await;
    Ok(line)
}

/// Records `action` by `who` on `code` (to `to`, if anything), once per station log of
/// `clips`, each record naming that log's clips.
pub(super) async fn record_per_log(
    app: &Arc<App>,
    action: &'static str,
    code: &str,
    clips: &[FoundClip],
    who: &str,
    to: Option<&str>,
) -> Result<(), Failure> {
    let mut logs: Vec<&str> = clips.iter().map(|c| c.log.as_str()).collect();
    logs.sort_unstable();
    logs.dedup();
    for log in logs {
        let access = Access {
            action,
            code: code.to_string(),
            log: log.to_string(),
            clips: clips
                .iter()
                .filter(|c| c.log == log)
                .map(|c| c.clip)
                .collect(),
            who: who.to_string(),
            to: to.map(str::to_string),
            derived: None,
        };
        record(app, access).await?;
    }
    Ok(())
}

#[derive(Deserialize)]
struct HoldForm {
    /// `1`: lift the hold.
    #[serde(default)]
    release: String,
}

/// Places (or lifts) a legal hold on every clip of an order, of every station, as
/// `archive hold` does; only for an account that sees every one of them. Recorded per
/// station log as a `hold` (or `release`) access once applied.
async fn hold(
    State(app): State<Arc<App>>,
    UrlPath(code): UrlPath<String>,
    headers: HeaderMap,
    Form(f): Form<HoldForm>,
) -> Result<Response, Response> {
    let (account, code) = agent_on(&app, &headers, &code, "hold orders").await?;
    let bad = |status, text: String| failure(status, text).into_response();
    let mine = visible(&app, &account, &code).await?;
    let every = Agent {
        name: account.name.clone(),
        stations: None,
    };
    let all = app.archive.find(&every, &code).await.map_err(unavailable)?;
    if all.is_empty() {
        return Err(bad(
            StatusCode::NOT_FOUND,
            format!("the archive holds no clip of order {code}"),
        ));
    }
    if mine.len() != all.len() {
        return Err(bad(
            StatusCode::FORBIDDEN,
            format!(
                "order {code} has clips of stations account {} may not see: ask an account that sees them all",
                account.name
            ),
        ));
    }
    let on = f.release != "1";
    // Applied first, then recorded: the record says what was done, not what was tried.
    let held = app.archive.hold(&code, on).await.map_err(unavailable)?;
    let action = if on { "hold" } else { "release" };
    record_per_log(&app, action, &code, &all, &account.name, None)
        .await
        .map_err(|f| {
            failure(
                f.0,
                format!(
                    "the legal hold of order {code} is {}, but the access log could not record it: {}",
                    if on { "in place" } else { "lifted" },
                    f.1
                ),
            )
            .into_response()
        })?;
    tracing::info!(order = %code, on, clips = held.clips, applied = held.holds_applied, who = %account.name, "legal hold at the archive");
    Ok(Redirect::to(&format!("/order/{}", crate::web::page::url_escape(&code))).into_response())
}
