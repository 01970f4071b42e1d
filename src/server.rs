//! Server: the station's web page and HTTP API.
//!
//! Owns: HTTP (axum on a tokio runtime of its own thread), the lookup page, clip playback with
//! byte ranges, evidence-bundle downloads, the stations' status, and scans sent over HTTP.
//! Never: records video or writes the manifest itself. Views and downloads are written as
//! `access` records through the same path as the CLI's exports (`append_or_spool`), and a scan
//! goes into the station's own event channel, so it is handled exactly like a scanner's.
//!
//! Routes (every one needs the token when `server.token` is set):
//!   GET  /                            the page: search by order or tracking code, status
//!   GET  /api/lookup/{code}           the clips of a code, as `lookup --json` prints them
//!   GET  /api/status                  what each station of this process records
//!   GET  /clips/{clip}                a sealed clip's MP4 (byte ranges for seeking)
//!   GET  /export/{code}               an evidence bundle (zip) of a code, as `export` makes
//!   POST /api/stations/{id}/scan      a scan (the code as the body): the station's answer

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::ledger::Body as Record;
use crate::station::Outcome;
use crate::trigger::{Classifier, Event, Rejected};
use crate::Error;

/// What a station is doing now, as the page and `/api/status` show it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StationStatus {
    pub id: String,
    pub cameras: Vec<String>,
    /// The order and box being recorded.
    pub order: Option<String>,
    #[serde(rename = "box")]
    pub box_no: Option<u32>,
    pub operator: Option<String>,
    /// Every camera's capture thread is running.
    pub running: bool,
    /// The last accepted scan: code, action, local time.
    pub last_scan: Option<(String, String, String)>,
}

impl StationStatus {
    /// Brings the status up to date after a scan's outcome.
    pub fn update(&mut self, outcome: &Outcome, code: &str) {
        self.order = outcome.recording.as_ref().map(|r| r.0.clone());
        self.box_no = outcome.recording.as_ref().map(|r| r.1);
        self.operator = outcome.operator.clone();
        self.last_scan = Some((
            code.to_string(),
            outcome.action.name().to_string(),
            chrono::Local::now().format("%H:%M:%S").to_string(),
        ));
    }
}

/// A running station, as the server reaches it.
#[derive(Clone)]
pub struct StationHandle {
    pub id: String,
    /// The channel the station's loop reads scans from.
    pub events: Sender<Event>,
    pub status: Arc<Mutex<StationStatus>>,
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

struct Shared {
    data_dir: PathBuf,
    config: Config,
    stations: Vec<StationHandle>,
    classifier: Classifier,
}

/// A server running on a thread of its own; stopped when dropped.
pub struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Binds `listen` at once (so a taken port is an error now, not later) and serves the data
    /// dir, and the stations given, on a thread of its own.
    pub fn start(
        listen: &str,
        data_dir: &Path,
        config: &Config,
        stations: Vec<StationHandle>,
    ) -> Result<Server, Error> {
        let bad = |what: String| Error::Server {
            listen: listen.to_string(),
            what,
        };
        let addr: SocketAddr = listen
            .parse()
            .map_err(|_| bad("not an address:port such as 127.0.0.1:8088".into()))?;
        let std_listener = std::net::TcpListener::bind(addr).map_err(|e| {
            bad(format!(
                "cannot listen: {e} (is another program using the port?)"
            ))
        })?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| bad(format!("cannot set up the socket: {e}")))?;
        let addr = std_listener
            .local_addr()
            .map_err(|e| bad(format!("cannot read the bound address: {e}")))?;
        if !addr.ip().is_loopback() && config.server.token.is_empty() {
            tracing::warn!(%addr, "the web page and API are open to the network without a token; set server.token");
        }
        let shared = Arc::new(Shared {
            data_dir: data_dir.to_owned(),
            config: config.clone(),
            stations,
            classifier: Classifier::new(&config.codes).map_err(|e| bad(e.to_string()))?,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("http")
            .enable_all()
            .build()
            .map_err(|e| bad(format!("cannot start the HTTP runtime: {e}")))?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
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
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Serves until the process is told to stop (SIGINT/SIGTERM).
    pub fn wait_for_signal(self) -> Result<(), Error> {
        let (tx, rx) = std::sync::mpsc::channel();
        ctrlc::set_handler(move || {
            let _ = tx.send(());
        })
        .map_err(|e| Error::Thread(format!("cannot install the SIGINT/SIGTERM handler: {e}")))?;
        let _ = rx.recv();
        self.stop();
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut();
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/lookup/{code}", get(api_lookup))
        .route("/api/status", get(api_status))
        .route("/clips/{clip}", get(clip_file))
        .route("/export/{code}", get(export_bundle))
        .route("/api/stations/{id}/scan", post(api_scan))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            require_token,
        ))
        .with_state(shared)
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// With `server.token` set, a request passes with `Authorization: Bearer TOKEN` or
/// `?token=TOKEN`; anything else gets 401.
async fn require_token(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<TokenQuery>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let want = &shared.config.server.token;
    if want.is_empty() {
        return next.run(req).await;
    }
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let given = bearer.or(q.token.as_deref());
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), want.as_bytes())) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            "this station needs its token: add ?token=... to the address, or send Authorization: Bearer ...\n",
        )
            .into_response()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error for people: the status and one line saying what failed and what to do.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, format!("{}\n", self.1)).into_response()
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let status = match e {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Code { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure(status, e.to_string())
    }
}

/// Runs blocking work (SQLite, files, FFmpeg) off the async threads.
async fn blocking<T: Send + 'static>(
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
fn who(peer: SocketAddr) -> String {
    format!("web {}", peer.ip())
}

async fn api_lookup(
    State(shared): State<Arc<Shared>>,
    UrlPath(code): UrlPath<String>,
) -> Result<Response, Failure> {
    let found =
        blocking(move || crate::lookup(&shared.data_dir, &code, shared.config.codes.max_len))
            .await?;
    let status = if found.is_empty() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    Ok((status, Json(found)).into_response())
}

async fn api_status(State(shared): State<Arc<Shared>>) -> Json<Vec<StationStatus>> {
    Json(statuses(&shared))
}

fn statuses(shared: &Shared) -> Vec<StationStatus> {
    shared
        .stations
        .iter()
        .map(|s| s.status.lock().map(|g| g.clone()).unwrap_or_default())
        .collect()
}

async fn api_scan(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> Result<Response, Failure> {
    let Some(station) = shared.stations.iter().find(|s| s.id == id).cloned() else {
        let known: Vec<&str> = shared.stations.iter().map(|s| s.id.as_str()).collect();
        return Err(Failure(
            StatusCode::NOT_FOUND,
            format!(
                "no station {id:?} records in this process (stations: {})",
                if known.is_empty() {
                    "none; `serve` only looks clips up, `run` records".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    };
    let raw = body.trim_end_matches(['\r', '\n']).to_string();
    let result = shared.classifier.classify(&raw).map_err(|error| Rejected {
        raw: crate::trigger::printable(&raw),
        error,
    });
    let (tx, rx) = std::sync::mpsc::channel();
    station
        .events
        .send(Event::Remote {
            scanner: "http".into(),
            result,
            reply: tx,
        })
        .map_err(|_| {
            Failure(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("station {id} is stopping; try again when it is back"),
            )
        })?;
    let answer = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(10)))
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| {
            Failure(
                StatusCode::GATEWAY_TIMEOUT,
                format!("station {id} did not answer in 10 s; see its log"),
            )
        })?;
    let status = if answer["accepted"] == true {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(answer)).into_response())
}

/// Appends an `access` record for a view or a download (through the recorder's spool when
/// one holds the data dir).
fn record_access(
    shared: &Shared,
    action: &str,
    code: &str,
    clips: Vec<u64>,
    who: String,
    to: Option<String>,
) -> Result<(), Error> {
    crate::station::append_or_spool(
        &shared.data_dir,
        &shared.config,
        Record::Access {
            action: action.into(),
            code: code.into(),
            clips,
            who,
            to,
        },
        Duration::from_secs(30),
    )
}

async fn clip_file(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(clip): UrlPath<u64>,
    req: Request,
) -> Result<Response, Failure> {
    // A player asks for many byte ranges: a view is recorded once, at its first request.
    let first = req
        .headers()
        .get(header::RANGE)
        .and_then(|r| r.to_str().ok())
        .is_none_or(|r| r.trim_start().starts_with("bytes=0-"));
    let s = shared.clone();
    let path = blocking(move || {
        let index = crate::index::Index::open(&s.data_dir)?;
        let Some(file) = index
            .sealed_file(clip)?
            .filter(|f| crate::ledger::is_safe_clip_path(f))
        else {
            return Ok(None);
        };
        let order = index.order_of(clip)?.unwrap_or_default();
        drop(index);
        if first {
            record_access(&s, "view", &order, vec![clip], who(peer), None)?;
        }
        Ok(Some(s.data_dir.join(file)))
    })
    .await?
    .ok_or_else(|| {
        Failure(
            StatusCode::NOT_FOUND,
            format!("clip {clip} is not a sealed clip of this data dir (still recording, pruned, or unknown)"),
        )
    })?;
    serve_file(&path, req, "video/mp4").await
}

/// Answers `req` from a file (byte ranges, conditional requests) with this content type.
async fn serve_file(
    path: &Path,
    req: Request,
    content_type: &'static str,
) -> Result<Response, Failure> {
    let mut res = tower::ServiceExt::oneshot(tower_http::services::ServeFile::new(path), req)
        .await
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map(Body::new);
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(res)
}

async fn export_bundle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(code): UrlPath<String>,
    req: Request,
) -> Result<Response, Failure> {
    let (dir, out, name) = blocking(move || {
        let dir = std::env::temp_dir().join(format!(
            "packwitness-web-export-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::DataDir {
            path: dir.clone(),
            what: format!("cannot make a scratch directory for the bundle: {e}"),
        })?;
        let name = format!(
            "evidence-{}-{}.zip",
            crate::clip::safe_name(&code),
            chrono::Local::now().format("%Y%m%d-%H%M%S")
        );
        let out = dir.join(&name);
        let made = crate::export::export(
            &shared.data_dir,
            &shared.config,
            &code,
            &out,
            &who(peer),
            false,
            &|_, _| {},
        );
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok((dir, out, name))
    })
    .await?;
    // Streamed from the file (a bundle holds whole clips): once the response has it open, the
    // scratch copy is unlinked, and its space is freed when the download ends.
    let res = serve_file(&out, req, "application/zip").await;
    let _ = std::fs::remove_dir_all(&dir);
    let mut res = res?;
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

#[derive(Deserialize)]
struct PageQuery {
    code: Option<String>,
    token: Option<String>,
}

async fn page(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, Failure> {
    let code = q.code.unwrap_or_default().trim().to_string();
    let token = q.token.unwrap_or_default();
    let found = if code.is_empty() {
        None
    } else {
        let s = shared.clone();
        let c = code.clone();
        Some(
            tokio::task::spawn_blocking(move || {
                crate::lookup(&s.data_dir, &c, s.config.codes.max_len)
            })
            .await
            .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
        )
    };
    Ok(Html(render_page(&statuses(&shared), &code, found, &token)))
}

fn render_page(
    stations: &[StationStatus],
    code: &str,
    found: Option<Result<Vec<crate::Found>, Error>>,
    token: &str,
) -> String {
    use crate::trigger::sheet::escape;
    let tq = |first: char| {
        if token.is_empty() {
            String::new()
        } else {
            format!("{first}token={}", url_escape(token))
        }
    };
    let mut body = String::new();
    if !stations.is_empty() {
        body.push_str("<h2>Stations</h2><table><tr><th>station</th><th>cameras</th><th>recording</th><th>operator</th><th>last scan</th></tr>\n");
        for s in stations {
            let rec = match (&s.order, s.box_no) {
                (Some(o), Some(b)) if b > 1 => format!("{} box {b}", escape(o)),
                (Some(o), _) => escape(o),
                _ => "idle".into(),
            };
            let cams = if s.running {
                escape(&s.cameras.join(", "))
            } else {
                format!(
                    "{} <b>(a camera stopped)</b>",
                    escape(&s.cameras.join(", "))
                )
            };
            let last = s
                .last_scan
                .as_ref()
                .map(|(c, a, t)| format!("{} {} at {}", escape(c), escape(a), escape(t)))
                .unwrap_or_default();
            body.push_str(&format!(
                "<tr><td>{}</td><td>{cams}</td><td>{rec}</td><td>{}</td><td>{last}</td></tr>\n",
                escape(&s.id),
                escape(s.operator.as_deref().unwrap_or(""))
            ));
        }
        body.push_str("</table>\n");
    }
    body.push_str(&format!(
        "<h2>Find an order</h2><form method=\"get\" action=\"/\"><input name=\"code\" value=\"{}\" placeholder=\"order or tracking number\" autofocus size=\"40\">{}<button>Look up</button></form>\n",
        escape(code),
        if token.is_empty() {
            String::new()
        } else {
            format!("<input type=\"hidden\" name=\"token\" value=\"{}\">", escape(token))
        }
    ));
    match found {
        None => {}
        Some(Err(e)) => body.push_str(&format!("<p class=\"bad\">{}</p>\n", escape(&e.to_string()))),
        Some(Ok(list)) if list.is_empty() => body.push_str(&format!(
            "<p>No clip for <b>{}</b>. Check the code, or try the order number instead of the waybill.</p>\n",
            escape(code)
        )),
        Some(Ok(list)) => {
            body.push_str(&format!(
                "<p>{} clip(s) for <b>{}</b> &middot; <a href=\"/export/{}{}\">download the evidence bundle</a> (clips, signed records and proofs; checkable offline with <code>packwitness verify-bundle</code> or its <code>verify.sh</code>; the download is recorded)</p>\n",
                list.len(),
                escape(code),
                url_escape(code),
                tq('?')
            ));
            body.push_str("<table><tr><th>order</th><th>station / camera</th><th>started</th><th>length</th><th>sealed</th><th>codes</th><th>file</th></tr>\n");
            for f in &list {
                let c = &f.clip;
                let order = match (c.box_no, c.part) {
                    (1, 1) => escape(&c.order),
                    (b, 1) => format!("{} box {b}", escape(&c.order)),
                    (1, p) => format!("{} part {p}", escape(&c.order)),
                    (b, p) => format!("{} box {b} part {p}", escape(&c.order)),
                };
                let length = c
                    .duration_ms
                    .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
                    .unwrap_or_default();
                let file = if f.file_status == "ok" {
                    // preload="none": nothing is fetched (or recorded as a view) until Play.
                    format!(
                        "<video controls preload=\"none\" width=\"320\" src=\"/clips/{clip}{t}\"></video><br><a href=\"/clips/{clip}{t}\">open</a> <span class=\"ok\">hash ok</span>",
                        clip = c.clip,
                        t = tq('?')
                    )
                } else {
                    format!(
                        "<span class=\"bad\">{}</span>",
                        escape(&format!(
                            "{} {}",
                            f.file_status,
                            f.file_detail.as_deref().unwrap_or("")
                        ))
                    )
                };
                body.push_str(&format!(
                    "<tr><td>{order}</td><td>{} / {}</td><td>{}</td><td>{length}</td><td>{}</td><td>{}</td><td>{file}</td></tr>\n",
                    escape(&c.station),
                    escape(&c.camera),
                    escape(&c.started_at),
                    escape(c.reason.as_deref().unwrap_or("recording")),
                    escape(&c.codes.join(" ")),
                ));
            }
            body.push_str("</table>\n");
        }
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>packwitness</title>\
<meta name=\"viewport\" content=\"width=device-width\">\
<style>body{{font-family:sans-serif;margin:1.5em;max-width:70em}}table{{border-collapse:collapse}}\
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}.bad{{color:#b00}}.ok{{color:#070}}\
input,button{{font-size:1.1em}}</style></head><body><h1>packwitness</h1>\n{body}</body></html>\n"
    )
}

/// Percent-encodes a code for a URL path segment or query value.
fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn codes_are_escaped_in_urls_and_html() {
        assert_eq!(url_escape("SO-1/2 x"), "SO-1%2F2%20x");
        let page = render_page(&[], "<b>", Some(Ok(Vec::new())), "");
        assert!(
            page.contains("&lt;b&gt;") && !page.contains("<b><"),
            "{page}"
        );
    }
}
