//! `packwitness archive`: the archive service over HTTP (see [`crate::archive`]), and
//! registering stations with it.
//!
//! Owns: the routes of the push protocol (`/v1/log`, `/v1/anchors`, `/v1/clips/<sha256>` and
//! its upload in parts, its bytes back to the station that sent it), bearer-token authentication of stations, streaming a clip's body to
//! the object store without holding it, the archive's signing key in its folder (`archive.key`), and pushing
//! the node's access log (`access/` there, [`super::archive_access`]) into the archive itself.
//! Never: keeps state between requests; any number of nodes may serve one database and bucket.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::anchor::cosign::WitnessKey;
use crate::anchor::witness::Answer;
use crate::archive::service::{self, Archive, Station, MAX_PUSH};
use crate::archive::wire::{PushAnchors, PushLines};
use crate::config::{ArchiveServerConfig, Config};
use crate::error::{Error, ErrorKind};

/// Connections from one address at once (a station needs one or two; a proxy in front of
/// many stations needs more: put `--listen` behind it with care).
const PER_IP: usize = 64;

/// The archive's signing key in `dir` (created, named `name`, on first use).
pub fn key(dir: &Path, name: &str) -> Result<WitnessKey, Error> {
    crate::datadir::create_dir_durable(dir)
        .map_err(|e| Error::msg(ErrorKind::Io, format!("{}: {e}", dir.display())))?;
    WitnessKey::load_or_create(&dir.join("archive.key"), name)
        .map_err(|e| Error::msg(ErrorKind::Invalid, e.to_string()))
}

fn reply(a: Answer) -> Response {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, a.content_type)], a.body).into_response()
}

fn plain(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

/// The bearer token a request carries, if any.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The station whose token the request carries, or the answer that refuses it.
async fn station(a: &Archive, headers: &HeaderMap) -> Result<Station, Response> {
    let Some(token) = bearer(headers) else {
        return Err(plain(
            StatusCode::UNAUTHORIZED,
            "no station token: send `Authorization: Bearer <token>` ([archive] token)\n".into(),
        ));
    };
    match a.station(token).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(plain(
            StatusCode::UNAUTHORIZED,
            "this token belongs to no station registered here (`packwitness archive add-station STATION_KEY` prints one)\n".into(),
        )),
        Err(e) => Err(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the archive cannot check the token now ({e}); try again\n"),
        )),
    }
}

async fn held(State(a): State<Arc<Archive>>, headers: HeaderMap) -> Response {
    match station(&a, &headers).await {
        Ok(st) => reply(a.held(&st).await),
        Err(r) => r,
    }
}

/// Pushes a node takes in at once: the others wait before their bodies are read, so that a
/// node's memory is a few pushes whatever the number of stations catching up.
static PUSHES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// The JSON body of a push (lines or anchors), read once one of [`PUSHES`] is free.
async fn push_body<T: serde::de::DeserializeOwned>(
    body: Body,
) -> Result<(T, tokio::sync::SemaphorePermit<'static>), Response> {
    let Ok(permit) = PUSHES.acquire().await else {
        return Err(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the archive is stopping\n".into(),
        ));
    };
    let body = axum::body::to_bytes(body, MAX_PUSH).await.map_err(|e| {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a push is at most {MAX_PUSH} bytes ({e})\n"),
        )
    })?;
    let req = serde_json::from_slice(&body).map_err(|e| {
        plain(
            StatusCode::BAD_REQUEST,
            format!("not a push (JSON, protocol version 1): {e}\n"),
        )
    })?;
    Ok((req, permit))
}

fn now_s() -> u64 {
    chrono::Utc::now().timestamp().max(1) as u64
}

async fn push(State(a): State<Arc<Archive>>, headers: HeaderMap, body: Body) -> Response {
    let st = match station(&a, &headers).await {
        Ok(st) => st,
        Err(r) => return r,
    };
    match push_body::<PushLines>(body).await {
        Ok((req, _permit)) => reply(a.push(&st, &req, now_s()).await),
        Err(r) => r,
    }
}

async fn push_anchors(State(a): State<Arc<Archive>>, headers: HeaderMap, body: Body) -> Response {
    let st = match station(&a, &headers).await {
        Ok(st) => st,
        Err(r) => return r,
    };
    match push_body::<PushAnchors>(body).await {
        Ok((req, _permit)) => reply(a.push_anchors(&st, &req, now_s()).await),
        Err(r) => r,
    }
}

async fn put_clip(
    State(a): State<Arc<Archive>>,
    UrlPath(sha256): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let st = match station(&a, &headers).await {
        Ok(st) => st,
        Err(r) => return r,
    };
    let Some(len) = content_length(&headers) else {
        return plain(
            StatusCode::LENGTH_REQUIRED,
            "a clip is sent with its Content-Length\n".into(),
        );
    };
    // The body goes to the store as it arrives; nothing of it is kept here.
    // The body goes to the store as it arrives (the store checks its SHA-256); nothing of it
    // is kept or hashed here.
    let (stream, _) = crate::archive::upload::forward_body(body.into_data_stream(), None);
    reply(a.put_clip(&st, &sha256, len, stream).await)
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

async fn upload_start(
    State(a): State<Arc<Archive>>,
    UrlPath(sha256): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    match station(&a, &headers).await {
        Ok(st) => reply(a.upload_start(&st, &sha256).await),
        Err(r) => r,
    }
}

async fn upload_part(
    State(a): State<Arc<Archive>>,
    UrlPath((sha256, n)): UrlPath<(String, i32)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let st = match station(&a, &headers).await {
        Ok(st) => st,
        Err(r) => return r,
    };
    let Some(len) = content_length(&headers) else {
        return plain(
            StatusCode::LENGTH_REQUIRED,
            "a part is sent with its Content-Length\n".into(),
        );
    };
    let sum = headers
        .get("x-packwitness-sha256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    reply(
        a.upload_part(&st, &sha256, n, len, &sum, body.into_data_stream())
            .await,
    )
}

async fn upload_complete(
    State(a): State<Arc<Archive>>,
    UrlPath(sha256): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    match station(&a, &headers).await {
        Ok(st) => reply(a.upload_complete(&st, &sha256).await),
        Err(r) => r,
    }
}

async fn clip_stored(
    State(a): State<Arc<Archive>>,
    UrlPath(sha256): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    match station(&a, &headers).await {
        Ok(st) => reply(a.clip_stored(&st, &sha256).await),
        Err(r) => r,
    }
}

/// `GET /v1/clips/<sha256>/bytes`: a clip the station sent, back to it (a clip it pruned or
/// lost), streamed from the object store.
async fn clip_bytes(
    State(a): State<Arc<Archive>>,
    UrlPath(sha256): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let st = match station(&a, &headers).await {
        Ok(st) => st,
        Err(r) => return r,
    };
    match a.clip_bytes(&st, &sha256).await {
        Ok(Some((len, body))) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "video/mp4".to_string()),
                (header::CONTENT_LENGTH, len.to_string()),
            ],
            stream_body(body),
        )
            .into_response(),
        Ok(None) => plain(
            StatusCode::NOT_FOUND,
            format!("the archive holds no clip {sha256} of {}\n", st.origin),
        ),
        Err(e) => {
            tracing::error!(error = %e, sha256 = %sha256, "a clip's bytes could not be read back");
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the archive cannot answer now ({e}); try again\n"),
            )
        }
    }
}

/// An object's body as it streams from the store, as a response body (never held whole).
pub(super) fn stream_body(body: aws_sdk_s3::primitives::ByteStream) -> Body {
    let chunks = futures_util::stream::unfold(Some(body), |body| async move {
        let mut body = body?;
        match body.try_next().await {
            Ok(Some(bytes)) => Some((Ok(bytes), Some(body))),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(e)), None)),
        }
    });
    Body::from_stream(chunks)
}

async fn gone(
    State(a): State<Arc<Archive>>,
    UrlPath(sha256): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let st = match station(&a, &headers).await {
        Ok(st) => st,
        Err(r) => return r,
    };
    let why = String::from_utf8_lossy(&body)
        .trim()
        .chars()
        .take(500)
        .collect::<String>();
    reply(a.gone(&st, &sha256, &why).await)
}

fn unavailable(what: impl std::fmt::Display) -> Error {
    Error::msg(ErrorKind::Unavailable, what.to_string())
}

/// Serves the archive on `listen` until SIGINT/SIGTERM; `ready` is told its verifier key and
/// address once it listens (after the bucket was checked and the schema migrated).
pub fn serve(
    listen: &str,
    config: &Config,
    dir: &Path,
    key: WitnessKey,
    ready: impl FnOnce(&str, SocketAddr),
) -> Result<(), Error> {
    let cfg = &config.archive_server;
    let access = super::archive_access::AccessLog::open(dir, key.name())?;
    let runtime = crate::web::runtime("archive").map_err(unavailable)?;
    let archive = Arc::new(
        runtime
            .block_on(Archive::open(cfg, key))
            .map_err(Error::from)?,
    );
    let (std_listener, addr) = crate::web::bind(listen, "127.0.0.1:8090")
        .map_err(|e| unavailable(format!("archive on {listen}: {e}")))?;
    let verifier = archive.verifier();
    let app = axum::Router::new()
        .route(
            "/v1/log",
            get(held).post(push).layer(DefaultBodyLimit::max(MAX_PUSH)),
        )
        .route(
            "/v1/anchors",
            post(push_anchors).layer(DefaultBodyLimit::max(MAX_PUSH)),
        )
        .route(
            "/v1/clips/{sha256}",
            put(put_clip)
                .get(clip_stored)
                .layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/clips/{sha256}/bytes", get(clip_bytes))
        .route("/v1/clips/{sha256}/upload", post(upload_start))
        .route(
            "/v1/clips/{sha256}/upload/{n}",
            put(upload_part).layer(DefaultBodyLimit::disable()),
        )
        .route("/v1/clips/{sha256}/complete", post(upload_complete))
        .route(
            "/v1/clips/{sha256}/gone",
            post(gone).layer(DefaultBodyLimit::max(4096)),
        )
        .merge(super::archive_search::routes())
        .with_state(archive.clone());
    // The node's access log goes into the archive like a station's log: registered as a
    // log of its own (a new token at each start), pushed by the station's uploader to this
    // node, so that it outlives the node's disk and is locked like any log.
    access.begin()?;
    let own_token = runtime
        .block_on(archive.add_access_log(&access.verifier()))
        .map_err(Error::from)?;
    let own = crate::config::ArchiveConfig {
        url: format!("http://{}", own_address(addr)),
        token: own_token,
        key: verifier.clone(),
        allow_http: true,
        ..crate::config::ArchiveConfig::default()
    };
    let access_dir = access.dir().to_owned();
    let app = app.merge(super::archive_app::routes(Arc::new(
        super::archive_app::App::new(archive, access, config.clone()),
    )));
    let uploader = crate::archive::push::Uploader::start(
        &access_dir,
        &own,
        &crate::config::AnchorConfig::default(),
    )
    .map_err(Error::from)?;
    let served = super::serve_until_signal(
        &runtime,
        std_listener,
        app,
        super::Caps {
            per_ip: PER_IP,
            idle: std::time::Duration::from_secs(120),
            // A whole request, a clip's body included: 200 MB at 2 Mbit/s.
            request: std::time::Duration::from_secs(900),
        },
        &format!("archive on {listen}"),
        || ready(&verifier, addr),
    );
    if let Some(u) = uploader {
        u.stop();
    }
    served
}

/// The address this node reaches itself at: its own, or loopback when it listens on every
/// interface.
fn own_address(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = match addr {
            SocketAddr::V4(_) => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            SocketAddr::V6(_) => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

/// Runs `f` on the archive's database (migrated first), for a command.
pub(super) fn with_database<T, F>(
    cfg: &ArchiveServerConfig,
    f: impl FnOnce(deadpool_postgres::Pool) -> F,
) -> Result<T, Error>
where
    F: std::future::Future<Output = Result<T, crate::archive::ArchiveError>>,
{
    let runtime = crate::web::runtime("archive").map_err(unavailable)?;
    runtime
        .block_on(async {
            let pool = service::pool(cfg)?;
            let mut client = service::get(&pool).await?;
            crate::archive::schema::migrate(&mut client).await?;
            drop(client);
            f(pool).await
        })
        .map_err(Error::from)
}

/// Registers a station key with the archive's database; returns the station's token.
pub fn add_station(cfg: &ArchiveServerConfig, station_key: &str) -> Result<String, Error> {
    with_database(cfg, |pool| async move {
        service::add_station(&pool, station_key).await
    })
}

pub use crate::archive::clips::Held;

/// Holds (or releases) every archived clip of `order`. A hold also keeps the clips and the
/// objects their proofs need locked for at least `retain_days` (default: `retention_days`)
/// from now; a release lifts the legal holds only (a lock is never shortened).
pub fn hold(
    cfg: &ArchiveServerConfig,
    order: &str,
    on: bool,
    retain_days: Option<u32>,
) -> Result<Held, Error> {
    let bucket = crate::archive::objects::Bucket::new(cfg)?;
    let lock = cfg.lock_mode;
    let retain = (on || retain_days.is_some()).then(|| retain_days.unwrap_or(cfg.retention_days));
    with_database(cfg, |pool| async move {
        crate::archive::clips::hold(&pool, &bucket, lock, order, on, retain).await
    })
}

/// Sends what `data_dir` holds to the archive of `cfg` until everything signed is confirmed;
/// the archive status at the end.
pub fn push_data_dir(
    data_dir: &Path,
    cfg: &crate::config::ArchiveConfig,
    anchor: &crate::config::AnchorConfig,
) -> Result<crate::archive::push::ArchiveStatus, Error> {
    use crate::archive::push::{round, ArchiveStatus, Client, Round};
    if cfg.url.trim().is_empty() {
        return Err(Error::msg(
            ErrorKind::Invalid,
            "no archive: set [archive] url (and token) in --config, or give --url",
        ));
    }
    let client = Client::new(cfg)
        .map_err(Error::from)?
        .with_witnesses(anchor);
    let status = std::sync::Mutex::new(ArchiveStatus::default());
    let max_lag = std::time::Duration::from_secs(cfg.max_lag_minutes.max(1) * 60);
    while round(&client, data_dir, max_lag, &status)? == Round::More {}
    Ok(status.into_inner().unwrap_or_default())
}
