//! What the app serves as files: clips (byte ranges), downloads, evidence bundles built for
//! a request, and the `access` record each of them writes first.
//!
//! Owns: serving a file with ranges and conditional requests, naming a download, the
//! `view` record of a viewing and the `export` of a bundle built for the web; a clip pruned
//! here, fetched from the station's archive into `archive-cache/` (checked against its seal,
//! removed an hour after it was last played). Never: serves a clip that is not sealed, or a
//! clip's bytes before its access record is written.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path as UrlPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{auth, blocking, who, Failure, Shared, MAX_EXPORTS};
use crate::error::{Error, ErrorKind};
use crate::index::Index;
use crate::log::Body as Record;

/// Appends an `access` record for a view or a download (through the recorder's spool when
/// one holds the data dir).
pub(super) fn record_access(
    shared: &Shared,
    action: &str,
    code: &str,
    clips: Vec<u64>,
    who: String,
    to: Option<String>,
) -> Result<(), Error> {
    let appender = shared.appender()?;
    appender.append(Record::Access {
        action: action.into(),
        code: code.into(),
        clips,
        who,
        to,
        derived: None,
        log: None,
    })?;
    appender.checkpoint()?;
    Ok(())
}

/// The file of the sealed clip `clip` (a path inside the data dir), for a request that sees
/// it; when `first_view`, a `view` access record is written first. `None` when it is not a
/// sealed clip of this data dir.
pub(super) fn viewed_clip(
    shared: &Shared,
    clip: u64,
    first_view: bool,
    who: String,
) -> Result<Option<PathBuf>, Error> {
    let index = Index::open_read(shared.data_dir())?;
    let path = match index
        .sealed_file(clip)?
        .filter(|f| crate::datadir::is_safe_clip_path(f))
    {
        Some(file) => shared.data_dir().join(file),
        // Pruned here: from the archive, when the station has one and it holds the clip.
        None => match index.pruned_sha256(clip)? {
            Some(sha) if !shared.config().archive.url.trim().is_empty() => {
                match from_archive(shared, &sha)? {
                    Some(p) => p,
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        },
    };
    let order = index.order_of(clip)?.unwrap_or_default();
    drop(index);
    if first_view {
        record_access(shared, "view", &order, vec![clip], who, None)?;
    }
    Ok(Some(path))
}

/// Copies of pruned clips fetched from the archive to be played, in the data dir. A copy
/// not played for this long is removed at the next fetch.
const ARCHIVE_CACHE_S: u64 = 3600;

/// A clip this station pruned, as a local copy fetched from its archive (with the station's
/// token, checked against the seal's SHA-256 on the way), for a player's byte ranges; `None`
/// when the archive does not hold it.
fn from_archive(shared: &Shared, sha256: &str) -> Result<Option<PathBuf>, Error> {
    let dir = shared.data_dir().join("archive-cache");
    let path = dir.join(format!("{sha256}.mp4"));
    if path.exists() {
        // Played again: kept for another hour.
        if let Ok(f) = std::fs::File::options().append(true).open(&path) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        return Ok(Some(path));
    }
    std::fs::create_dir_all(&dir).map_err(|e| {
        Error::msg(
            crate::ErrorKind::Io,
            format!("{}: cannot make the archive's cache: {e}", dir.display()),
        )
    })?;
    if let Ok(list) = std::fs::read_dir(&dir) {
        let old = std::time::Duration::from_secs(ARCHIVE_CACHE_S);
        for e in list.flatten() {
            let stale = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > old);
            if stale {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let part = dir.join(format!("{sha256}.{}.part", std::process::id()));
    let client = crate::archive::client::Client::new(&shared.config().archive)?;
    match client.fetch_clip(sha256, &part)? {
        Some(_) => {
            std::fs::rename(&part, &path).map_err(|e| {
                Error::msg(
                    crate::ErrorKind::Io,
                    format!(
                        "{}: cannot keep the clip fetched from the archive: {e}",
                        path.display()
                    ),
                )
            })?;
            tracing::info!(
                sha256,
                "a clip pruned here was fetched from the archive to be played"
            );
            Ok(Some(path))
        }
        None => Ok(None),
    }
}

/// The answer for a clip that is not a sealed clip of this data dir.
pub(super) fn no_clip(clip: u64) -> Failure {
    Failure(
        StatusCode::NOT_FOUND,
        format!("clip {clip} is not a sealed clip of this data dir (still recording, pruned, or unknown)"),
    )
}

/// Marks a response as a download named `name`.
pub fn attachment(res: &mut Response, name: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
}

pub(super) async fn clip_file(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(clip): UrlPath<u64>,
    req: Request,
) -> Result<Response, Failure> {
    let user = req.extensions().get::<auth::WebUser>().cloned();
    // A player asks for many byte ranges: a viewing is recorded once, at whichever request
    // comes first (any range); a HEAD sends no video and records nothing.
    let first = req.method() != axum::http::Method::HEAD && shared.new_viewing(clip, peer.ip());
    let s = shared.clone();
    let path = blocking(move || viewed_clip(&s, clip, first, who(peer, user.as_ref())))
        .await?
        .ok_or_else(|| no_clip(clip))?;
    serve_file(&path, req, "video/mp4").await
}

/// Answers `req` from a file (byte ranges, conditional requests) with this content type.
pub async fn serve_file(
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

pub(super) async fn export_bundle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(code): UrlPath<String>,
    req: Request,
) -> Result<Response, Failure> {
    let user = req.extensions().get::<auth::WebUser>().cloned();
    bundle_download(shared, code, who(peer, user.as_ref()), req).await
}

/// The evidence bundle of `code`, built now for `who` (recorded as its export) and sent as
/// a download.
pub(super) async fn bundle_download(
    shared: Arc<Shared>,
    code: String,
    who: String,
    req: Request,
) -> Result<Response, Failure> {
    // A HEAD sends no bundle: nothing is built, nothing is recorded.
    if req.method() == axum::http::Method::HEAD {
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/zip"),
            )],
            Body::empty(),
        )
            .into_response());
    }
    let name = format!(
        "evidence-{}-{}.zip",
        crate::datadir::safe_name(&code),
        shared.deps.clock.now().format("%Y%m%d-%H%M%S")
    );
    let s = shared.clone();
    made_download(
        &shared,
        "bundle",
        name,
        "application/zip",
        req,
        move |out| {
            let appender = s.appender()?;
            crate::export::export(
                s.data_dir(),
                s.config(),
                appender.as_ref(),
                s.deps.clock.as_ref(),
                &crate::export::Request {
                    code: &code,
                    out,
                    who: &who,
                    burn_in: false,
                },
                &|_, _| {},
            )
            .map(|_| ())
        },
    )
    .await
}

/// A file made for one download (a bundle, an MP4 for upload): `make` writes it at the path
/// it is given, in a scratch directory of its own, off the async threads; it is then sent as
/// `name` and its scratch copy removed (streamed from the open file, its space is freed when
/// the download ends). At most [`MAX_EXPORTS`] are made at once (503 beyond).
pub(super) async fn made_download(
    shared: &Shared,
    what: &'static str,
    name: String,
    content_type: &'static str,
    req: Request,
    make: impl FnOnce(&Path) -> Result<(), Error> + Send + 'static,
) -> Result<Response, Failure> {
    let _permit = shared.exports.try_acquire().map_err(|_| {
        Failure(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_EXPORTS} exports are being made now; try again in a minute"),
        )
    })?;
    let file = name.clone();
    let (dir, out) = blocking(move || {
        let dir = scratch_dir(what)?;
        let out = dir.join(&file);
        if let Err(e) = make(&out) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok((dir, out))
    })
    .await?;
    let res = serve_file(&out, req, content_type).await;
    let _ = std::fs::remove_dir_all(&dir);
    let mut res = res?;
    attachment(&mut res, &name);
    Ok(res)
}

/// A new scratch directory for a file made for one download (removed once it is sent).
pub fn scratch_dir(what: &str) -> Result<std::path::PathBuf, Error> {
    let dir = std::env::temp_dir().join(format!(
        "packwitness-web-{what}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| {
        Error::msg(
            ErrorKind::Io,
            format!(
                "{}: cannot make a scratch directory for the {what}: {e}",
                dir.display()
            ),
        )
    })?;
    Ok(dir)
}
