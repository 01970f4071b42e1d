//! Web: the station's web page and HTTP API.
//!
//! Owns: HTTP (axum on a tokio runtime of its own thread), the lookup page ([`page`]), clip
//! playback with byte ranges, evidence-bundle downloads, the stations' status, and scans sent
//! over HTTP.
//! Never: records video or writes the manifest itself. Views and downloads are written as
//! `access` records through an [`Appender`] (the recorder's writer in this process, or the
//! data dir's writer reached as a CLI command would), and a scan goes to the station through
//! [`Stations`], exactly like a scanner's.
//!
//! Routes (every one needs the token when `server.token` is set):
//!   GET  /                            the page: search by order or tracking code, status
//!   GET  /stats                       orders, no video, packing time per day, station, packer
//!   GET  /api/lookup/{code}           the clips of a code, as `lookup --json` prints them
//!   GET  /api/status                  what each station of this process records
//!   GET  /clips/{clip}                a sealed clip's MP4 (byte ranges for seeking)
//!   GET  /export/{code}               an evidence bundle (zip) of a code, as `export` makes
//!   GET  /order/{code}/upload.mp4     (agent) one MP4 of the order for upload (`export --mp4`)
//!   POST /order/{code}/share          (agent) a read-only link to the order; /share/{id}/revoke
//!   GET  /s/{token}[/clips/..|/bundle] what a share link opens: its one order, nothing else
//!   POST /api/stations/{id}/scan      a scan (the code as the body): the station's answer
//!   POST /pair                        a station screen trades a pairing code for its credential
//!   GET  /checkpoint                  the log's latest signed checkpoint (c2sp.org/tlog-tiles)
//!   GET  /tile/<L>/<N>[.p/<W>]        a tile of stored hashes, as c2sp.org/tlog-tiles serves it
//!   GET  /tile/entries/<N>[.p/<W>]    (agent, or [server] audit_token) an entry bundle: the manifest lines 256N+1.., each after
//!                                     its length (big-endian u16)

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::clock::SharedClock;
use crate::codes::{Classifier, Rejected, Scan};
use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::index::{self, FileCheck};
use crate::log::Appender;
use crate::recorder::{open_appender, Outcome, WriterHandle};

pub mod accounts;
mod assets;
mod auth;
mod conn;
pub mod dispute;
mod files;
mod guard;
pub use files::{attachment, scratch_dir, serve_file};
use files::{bundle_download, no_clip, record_access, viewed_clip};
pub mod health;
pub mod i18n;
mod kiosk;
mod order;
pub mod page;
mod screen;
pub mod screens;
mod search;
mod share;
pub mod shares;
mod stats;
mod store;

pub use crate::recorder::status::{Outside, ProcessStatus, StationStatus};
pub use assets::{asset, page as html_page};
pub use auth::{behind_tls, login_form};
pub use conn::{bind, runtime, Capped};
pub use order::{presets, timeline_table, upload_form, Event, UploadQuery};
pub use share::{pin_form, share_panel, LinkRow};

/// Why a scan sent over HTTP got no answer from a station.
#[derive(Debug)]
pub enum ScanRefused {
    /// No station of that id records in this process; the ids that do.
    NoSuchStation(Vec<String>),
    /// The station is stopping.
    Stopping,
    /// It did not answer in time.
    NoAnswer,
}

/// The stations of the process, as the server reaches them.
pub trait Stations: Send + Sync {
    fn statuses(&self) -> Vec<StationStatus>;
    /// The live picture of `camera` of `station`, when it records in this process.
    fn preview(
        &self,
        station: &str,
        camera: &str,
    ) -> Option<Arc<crate::recorder::preview::Preview>>;
    /// Hands a scan to station `id` like a scanner would, and waits for its answer.
    fn scan(
        &self,
        id: &str,
        result: Result<Scan, Rejected>,
    ) -> Result<serde_json::Value, ScanRefused>;
}

/// A scan's answer, as JSON: what the station did and what it records now.
pub fn outcome_json(outcome: &Outcome) -> serde_json::Value {
    serde_json::json!({
        "accepted": true,
        "action": outcome.action.name(),
        "detail": outcome.action.detail(),
        "order": outcome.recording.as_ref().map(|r| r.0.clone()),
        "box": outcome.recording.as_ref().map(|r| r.1),
        "operator": outcome.operator,
        "recording_video": outcome.recording.is_some() && outcome.not_recording.is_none(),
        "not_recording": outcome.not_recording,
    })
}

/// A refused scan's answer, as JSON.
pub fn rejected_json(rejected: &Rejected) -> serde_json::Value {
    serde_json::json!({
        "accepted": false,
        "scan": rejected.raw,
        "error": rejected.error.to_string(),
    })
}

/// What a server serves.
pub struct ServerDeps {
    pub data_dir: PathBuf,
    pub config: Config,
    pub clock: SharedClock,
    /// The stations recording in this process (none for `serve`).
    pub stations: Option<Arc<dyn Stations>>,
    /// This process's writer, when it records; otherwise access records go through
    /// [`open_appender`].
    pub writer: Option<WriterHandle>,
    /// The status of the recording process, composed by it (its stations, writer, anchors).
    pub status: Option<StatusSource>,
}

/// A function that composes the recording process's status anew at each call.
pub type StatusSource = Arc<dyn Fn() -> ProcessStatus + Send + Sync>;

struct Shared {
    deps: ServerDeps,
    classifier: Classifier,
    /// When the server started (monotonic): the uptime the rates are over.
    started: std::time::Duration,
    /// When each (clip, viewer) was last recorded as viewed: one record per viewing.
    views: std::sync::Mutex<std::collections::HashMap<(u64, std::net::IpAddr), std::time::Instant>>,
    /// Bundles being built at once.
    exports: tokio::sync::Semaphore,
    /// The process's status as the station screens were last sent it, and when: every screen
    /// and board of the server shares one composition per [`EVENT_STATUS_AGE`].
    screen_status: std::sync::Mutex<Option<(std::time::Instant, Arc<ProcessStatus>)>>,
    /// Set when the server stops: endless answers (a station screen's events) end with it.
    stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Who is logged in (when the data dir has accounts), and the accounts.
    sessions: accounts::Sessions,
    accounts: accounts::AccountsCache,
    /// The station screens paired as kiosks.
    screens: screens::ScreensCache,
    shares: shares::SharesCache,
}

/// The shortest `[server] token` accepted.
const MIN_TOKEN: usize = 16;
/// Bundles built at once; more are answered 503.
const MAX_EXPORTS: usize = 2;
/// Requests of one clip by one viewer within this time are one viewing (one `view` record).
const VIEWING: std::time::Duration = std::time::Duration::from_secs(30 * 60);

impl Shared {
    /// True when this request of `clip` by `peer` starts a viewing (and is now recorded so).
    fn new_viewing(&self, clip: u64, peer: std::net::IpAddr) -> bool {
        let now = std::time::Instant::now();
        let Ok(mut v) = self.views.lock() else {
            return true;
        };
        v.retain(|_, t| now.duration_since(*t) < VIEWING);
        match v.get(&(clip, peer)) {
            Some(_) => false,
            None => {
                v.insert((clip, peer), now);
                true
            }
        }
    }
}

impl Shared {
    fn data_dir(&self) -> &Path {
        &self.deps.data_dir
    }

    fn config(&self) -> &Config {
        &self.deps.config
    }

    fn appender(&self) -> Result<Box<dyn Appender>, Error> {
        match &self.deps.writer {
            Some(w) => Ok(Box::new(w.clone())),
            None => open_appender(self.data_dir(), self.config(), self.deps.clock.clone()),
        }
    }
}

/// A server running on a thread of its own; stopped when dropped.
pub struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Binds `listen` at once (so a taken port is an error now, not later) and serves the data
    /// dir, and the stations given, on a thread of its own.
    pub fn start(listen: &str, deps: ServerDeps) -> Result<Server, Error> {
        let bad = |what: String| {
            Error::msg(
                ErrorKind::Unavailable,
                format!("web server on {listen}: {what} (set [server] listen in the config, or --listen)"),
            )
        };
        let (std_listener, addr) = conn::bind(listen, "127.0.0.1:8088").map_err(bad)?;
        let token = &deps.config.server.token;
        let accounts = accounts::load(&deps.data_dir).map_or(0, |u| u.len());
        if !addr.ip().is_loopback() && accounts == 0 {
            return Err(bad(
                "listening beyond this machine without an account is refused: clips are evidence and personal data, and each view must name who looked. Add one with `packwitness user add NAME --role admin` (a [server] token alone is a shared secret, for programs), or listen on 127.0.0.1".into(),
            ));
        }
        for (key, t) in [
            ("token", token),
            ("metrics_token", &deps.config.server.metrics_token),
            ("audit_token", &deps.config.server.audit_token),
        ] {
            if !t.is_empty() && t.chars().count() < MIN_TOKEN {
                return Err(bad(format!(
                    "[server] {key} is {} characters; use at least {MIN_TOKEN} (e.g. `openssl rand -hex 16`)",
                    t.chars().count()
                )));
            }
        }
        let (metrics, audit) = (
            &deps.config.server.metrics_token,
            &deps.config.server.audit_token,
        );
        if !audit.is_empty() && (audit == metrics || audit == token) {
            return Err(bad(
                "[server] audit_token must differ from token and metrics_token".into(),
            ));
        }
        if !token.is_empty() && *token == deps.config.server.metrics_token {
            return Err(bad(
                "[server] metrics_token must differ from token (it opens only health and the log)"
                    .into(),
            ));
        }
        let classifier = Classifier::new(&deps.config.codes).map_err(|e| bad(e.to_string()))?;
        let started = deps.clock.monotonic();
        let stopping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let shared = Arc::new(Shared {
            deps,
            classifier,
            started,
            views: std::sync::Mutex::new(std::collections::HashMap::new()),
            sessions: accounts::Sessions::default(),
            accounts: accounts::AccountsCache::default(),
            screens: screens::ScreensCache::default(),
            shares: shares::SharesCache::default(),
            exports: tokio::sync::Semaphore::new(MAX_EXPORTS),
            stopping: stopping.clone(),
            screen_status: std::sync::Mutex::new(None),
        });
        let runtime = conn::runtime("http").map_err(bad)?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let per_ip = shared.config().server.max_connections_per_ip as usize;
        let idle = std::time::Duration::from_secs(shared.config().server.idle_timeout_s.max(1));
        let head = std::time::Duration::from_secs(shared.config().server.header_timeout_s.max(1));
        let app = router(shared);
        let thread = std::thread::Builder::new()
            .name("http-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "HTTP server cannot use its socket");
                            return;
                        }
                    };
                    // (tap_io: so that the peer's SocketAddr reaches the handlers.)
                    let listener = axum::serve::ListenerExt::tap_io(
                        conn::Capped::new(listener, per_ip, idle, head),
                        |_| {},
                    );
                    let served = axum::serve(
                        listener,
                        app.into_make_service_with_connect_info::<SocketAddr>(),
                    )
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await;
                    if let Err(e) = served {
                        tracing::error!(error = %e, "HTTP server stopped");
                    }
                });
            })
            .map_err(|e| bad(format!("cannot start its thread: {e}")))?;
        tracing::info!(%addr, "web page and API at http://{addr}/");
        Ok(Server {
            addr,
            stop: Some(stop_tx),
            stopping,
            thread: Some(thread),
        })
    }

    /// The address actually bound (port 0 in `listen` picks a free one).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the server's thread; requests in flight finish first.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut();
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(search::search_page))
        .route("/order/{code}", get(order::order_page))
        .route("/order/{code}/hold", post(order::hold))
        .route("/order/{code}/upload.mp4", get(order::upload_mp4))
        .route("/order/{code}/share", post(share::create))
        .route(
            "/order/{code}/dispute",
            post(dispute::sheet).layer(axum::extract::DefaultBodyLimit::max(dispute::MAX_BYTES)),
        )
        .route("/share/{id}/revoke", post(share::revoke))
        .route("/s/{token}", get(share::page).post(share::pin))
        .route("/s/{token}/clips/{clip}", get(share::clip))
        .route("/s/{token}/clips/{clip}/still/{which}", get(share::still))
        .route("/s/{token}/bundle", get(share::bundle))
        .route("/station/{id}", get(screen::station_page))
        .route("/assets/{name}", get(assets::asset))
        .route("/stats", get(stats::stats_page))
        .route("/api/suggest", get(search::suggest))
        .route("/api/search", get(search::api_search))
        .route("/api/lookup/{code}", get(api_lookup))
        .route("/api/status", get(api_status))
        .route("/api/stations/{id}/events", get(screen::station_events))
        .route(
            "/api/stations/{id}/cameras/{camera}/preview.jpg",
            get(screen::camera_preview),
        )
        .route("/clips/{clip}", get(files::clip_file))
        .route("/clips/{clip}/download", get(order::download))
        .route("/clips/{clip}/still/{which}", get(order::still))
        .route("/export/{code}", get(files::export_bundle))
        .route("/api/stations/{id}/scan", post(api_scan))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/checkpoint", get(tlog_checkpoint))
        .route("/tile/{*path}", get(tlog_tile))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/pair", post(kiosk::pair))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            auth::authorize,
        ))
        // Scans, forms and logins are small: nothing bigger is read.
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(shared)
}

/// An error for people: the status and one line saying what failed and what to do.
pub struct Failure(pub StatusCode, pub String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, format!("{}\n", self.1)).into_response()
    }
}

impl From<Failure> for Response {
    fn from(f: Failure) -> Response {
        f.into_response()
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let status = StatusCode::from_u16(e.kind().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Failure(status, e.to_string())
    }
}

/// Runs blocking work (SQLite, files, FFmpeg) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| {
            Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("a request failed: {e}"),
            )
        })?
        .map_err(Failure::from)
}

/// Who asked, for access records: the peer's address.
fn who(peer: SocketAddr, user: Option<&auth::WebUser>) -> String {
    match user {
        Some(u) => u.0.clone(),
        None => format!("web {}", peer.ip()),
    }
}

async fn api_lookup(
    State(shared): State<Arc<Shared>>,
    UrlPath(code): UrlPath<String>,
) -> Result<Response, Failure> {
    let (found, notes) = blocking(move || {
        let max = shared.config().codes.max_len;
        let found = index::lookup(shared.data_dir(), &code, max, FileCheck::Size)?;
        Ok((found, index::notes(shared.data_dir(), &code, max)?))
    })
    .await?;
    let status = if found.is_empty() && notes.is_empty() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    Ok((status, Json(index::lookup_entries(&found, &notes))).into_response())
}

/// How old the status pushed to station screens may be.
const EVENT_STATUS_AGE: std::time::Duration = std::time::Duration::from_millis(200);

/// [`process_status`], composed at most once per [`EVENT_STATUS_AGE`] for all the screens.
fn screen_status(shared: &Shared) -> Arc<ProcessStatus> {
    let mut g = shared
        .screen_status
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    match g.as_ref() {
        Some((at, p)) if at.elapsed() < EVENT_STATUS_AGE => p.clone(),
        _ => {
            let p = Arc::new(process_status(shared));
            *g = Some((std::time::Instant::now(), p.clone()));
            p
        }
    }
}

/// The status of the recording process: this one's stations, or, for `serve`, the recorder
/// on the same data dir asked over its socket.
fn process_status(shared: &Shared) -> ProcessStatus {
    let deps = &shared.deps;
    if let Some(status) = &deps.status {
        return status();
    }
    match &deps.stations {
        Some(st) => ProcessStatus::compose(
            &deps.data_dir,
            &deps.config,
            st.statuses(),
            deps.writer.as_ref(),
            &deps.clock,
            deps.clock
                .monotonic()
                .saturating_sub(shared.started)
                .as_secs_f64(),
            Default::default(),
        ),
        None => match crate::recorder::writer::recorder_status(&deps.data_dir) {
            Ok(p) => p,
            Err(e) => ProcessStatus::no_recorder(&deps.data_dir, &e.to_string()),
        },
    }
}

/// 200 when every camera of every station delivers frames and nothing else is wrong; 503
/// with the reasons otherwise.
async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let p = match tokio::task::spawn_blocking(move || process_status(&shared)).await {
        Ok(p) => p,
        Err(e) => {
            ProcessStatus::no_recorder(Path::new(""), &format!("the status task failed: {e}"))
        }
    };
    let code = if p.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({ "ok": p.healthy(), "problems": p.problems });
    (code, Json(body)).into_response()
}

/// The process's figures in the Prometheus text format.
async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    match tokio::task::spawn_blocking(move || process_status(&shared)).await {
        Ok(p) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            health::metrics_text(&p),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn api_status(State(shared): State<Arc<Shared>>) -> Json<Vec<StationStatus>> {
    Json(statuses(&shared))
}

fn statuses(shared: &Shared) -> Vec<StationStatus> {
    shared
        .deps
        .stations
        .as_ref()
        .map(|s| s.statuses())
        .unwrap_or_default()
}

async fn api_scan(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> Result<Response, Failure> {
    let Some(stations) = shared.deps.stations.clone() else {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            format!("no station {id:?} records in this process (stations: none; `serve` only looks clips up, `run` records)"),
        ));
    };
    let raw = body.trim_end_matches(['\r', '\n']).to_string();
    let result = shared.classifier.classify(&raw).map_err(|error| Rejected {
        raw: crate::codes::shorten(&raw),
        error,
    });
    let id2 = id.clone();
    let answer = tokio::task::spawn_blocking(move || stations.scan(&id2, result))
        .await
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let answer = match answer {
        Ok(a) => a,
        Err(ScanRefused::NoSuchStation(known)) => {
            return Err(Failure(
                StatusCode::NOT_FOUND,
                format!(
                    "no station {id:?} records in this process (stations: {})",
                    known.join(", ")
                ),
            ))
        }
        Err(ScanRefused::Stopping) => {
            return Err(Failure(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("station {id} is stopping; try again when it is back"),
            ))
        }
        Err(ScanRefused::NoAnswer) => {
            return Err(Failure(
                StatusCode::GATEWAY_TIMEOUT,
                format!("station {id} did not answer in 10 s; see its log"),
            ))
        }
    };
    let status = if answer["accepted"] == true {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(answer)).into_response())
}

/// The latest signed checkpoint, as a tlog client asks for it.
async fn tlog_checkpoint(State(shared): State<Arc<Shared>>) -> Result<Response, Failure> {
    let note = blocking(move || {
        let r = crate::log::reader::LogReader::open(shared.data_dir())?;
        r.latest_checkpoint()?
            .map(|c| c.note)
            .ok_or_else(|| Error::msg(ErrorKind::NotFound, "the log has no signed checkpoint yet"))
    })
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        note,
    )
        .into_response())
}

/// A tile or an entry bundle (c2sp.org/tlog-tiles); full ones never change.
async fn tlog_tile(
    State(shared): State<Arc<Shared>>,
    UrlPath(path): UrlPath<String>,
) -> Result<Response, Failure> {
    let full_path = format!("tile/{path}");
    let Some(t) = crate::log::tiles::parse_path(&full_path) else {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            format!("{full_path} is not a tile path (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>], N as x001/x234/067)"),
        ));
    };
    let bytes = blocking(move || {
        let r = crate::log::reader::LogReader::open(shared.data_dir())?;
        match t.level {
            Some(level) => r.tile(level, t.n, t.width),
            None => r.entries(t.n, t.width),
        }
    })
    .await?;
    let cache = if t.width == crate::log::tiles::WIDTH {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth::constant_time_eq;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
