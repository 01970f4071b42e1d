//! The bytes of the customer-service app at the archive: a clip played (byte ranges proxied
//! from the bucket), its first and last frame, a clip's MP4 downloaded, an order's evidence
//! bundle made from the archive alone and downloaded.
//!
//! Owns: answering a player's byte ranges (one `bytes=` range 206, anything else whole, 416
//! past the end), the download names, making a bundle off the async threads (at most
//! [`MAX_EXPORTS`] at once per node). Never: sends a byte before its access is recorded, or a
//! bundle holding a clip of a station the account may not see.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::archive_access::Access;
use super::archive_app::{
    agent_only, failure, need, order_code, record, unavailable, visible, App,
};
use super::archive_export::{export_from, ExportRequest};
use crate::archive::accounts::Account;
use crate::archive::objects::clip_key;
use crate::archive::search::{Agent, FoundClip};
use crate::error::Error;
use crate::web::blocking;
use crate::web::Failure;

/// Bundles made at once by one node (each streams every clip of an order from the bucket).
pub(super) const MAX_EXPORTS: usize = 2;

/// The byte range a request asks of a file of `size` bytes: `None` for all of it (no
/// `Range`, or one this server answers whole: several ranges, another unit); `Err` when it
/// starts past the end.
fn range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') || size == 0 {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(first), Ok(last)) if first <= last => Some((first, last.min(size - 1))),
        (Ok(first), Err(_)) if b.is_empty() => Some((first, size - 1)),
        (Err(_), Ok(n)) if a.is_empty() && n > 0 => Some((size.saturating_sub(n), size - 1)),
        _ => None,
    };
    match parsed {
        Some((first, _)) if first >= size => Err(()),
        other => Ok(other),
    }
}

/// A clip's bytes (all, or the range asked) from the bucket, recorded as `action` first when
/// the request starts at its first byte (a player's many range requests are one viewing).
pub(super) async fn clip_for(
    app: Arc<App>,
    account: Account,
    headers: HeaderMap,
    method: Method,
    sha256: String,
    action: &'static str,
) -> Result<Response, Response> {
    if action == "download" {
        agent_only(&account, "download clips, only play them")?;
    }
    let found = app
        .archive
        .stored_clip(&account.agent(), &sha256)
        .await
        .map_err(unavailable)?;
    let Some(c) = found else {
        return Err(failure(
            StatusCode::NOT_FOUND,
            format!(
                "the archive holds no clip {sha256} that account {} may see",
                account.name
            ),
        )
        .into_response());
    };
    let asked = if action == "download" {
        Ok(None)
    } else {
        range(&headers, c.size)
    };
    let Ok(asked) = asked else {
        return Ok((
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{}", c.size))],
        )
            .into_response());
    };
    let (first, last) = asked.unwrap_or((0, c.size.saturating_sub(1)));
    let mut res_headers = vec![
        (header::CONTENT_TYPE, "video/mp4".to_string()),
        (header::ACCEPT_RANGES, "bytes".to_string()),
        (header::CONTENT_LENGTH, (last + 1 - first).to_string()),
        (header::CACHE_CONTROL, "private, no-store".to_string()),
    ];
    if asked.is_some() {
        res_headers.push((
            header::CONTENT_RANGE,
            format!("bytes {first}-{last}/{}", c.size),
        ));
    }
    if action == "download" {
        let name = format!(
            "{}_{}_{}.mp4",
            crate::datadir::safe_name(&c.order),
            crate::datadir::safe_name(&c.station),
            c.clip
        );
        res_headers.push((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ));
    }
    let status = if asked.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut res = Response::builder().status(status);
    for (k, v) in res_headers {
        res = res.header(k, v);
    }
    if method == Method::HEAD {
        return res
            .body(axum::body::Body::empty())
            .map_err(|e| unavailable(e).into_response());
    }
    if first == 0 {
        record(
            &app,
            Access {
                action,
                code: c.order.clone(),
                log: c.log.clone(),
                clips: vec![c.clip],
                who: account.name.clone(),
                to: None,
                derived: None,
            },
        )
        .await?;
    }
    let body = app
        .archive
        .bucket()
        .get_range(&clip_key(&sha256), c.version_id.as_deref(), first, last)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            unavailable(format!("clip {sha256} is listed but not in the bucket")).into_response()
        })?;
    res.body(super::archive::stream_body(body))
        .map_err(|e| unavailable(e).into_response())
}

pub(super) async fn play(
    State(app): State<Arc<App>>,
    UrlPath(sha256): UrlPath<String>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let account = need(&app, &headers, false).await?;
    clip_for(app, account, headers, method, sha256, "view").await
}

pub(super) async fn download(
    State(app): State<Arc<App>>,
    UrlPath(sha256): UrlPath<String>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let account = need(&app, &headers, false).await?;
    clip_for(app, account, headers, method, sha256, "download").await
}

/// `/clips/{sha256}/still/{first,last}.jpg`: the clip's first or last frame, made on the node
/// from its bytes (copied from the bucket into a scratch file, checked against their SHA-256,
/// removed after), recorded as a view first; a browser keeps it an hour.
pub(super) async fn still(
    State(app): State<Arc<App>>,
    UrlPath((sha256, which)): UrlPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let account = need(&app, &headers, false).await?;
    still_for(app, account, sha256, which).await
}

/// A still of `sha256` for `account` (a share link's too).
pub(super) async fn still_for(
    app: Arc<App>,
    account: Account,
    sha256: String,
    which: String,
) -> Result<Response, Response> {
    let last = match which.as_str() {
        "first.jpg" => false,
        "last.jpg" => true,
        _ => {
            return Err(failure(
                StatusCode::NOT_FOUND,
                format!("no still {which:?}: first.jpg or last.jpg"),
            )
            .into_response())
        }
    };
    let c = app
        .archive
        .stored_clip(&account.agent(), &sha256)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            failure(
                StatusCode::NOT_FOUND,
                format!(
                    "the archive holds no clip {sha256} that account {} may see",
                    account.name
                ),
            )
            .into_response()
        })?;
    record(
        &app,
        Access {
            action: "view",
            code: c.order.clone(),
            log: c.log.clone(),
            clips: vec![c.clip],
            who: account.name.clone(),
            to: None,
            derived: None,
        },
    )
    .await?;
    let jpeg = bucket_still(&app, &sha256, last, 0).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        jpeg,
    )
        .into_response())
}

/// The first (`last` false) or last frame of the archived clip `sha256`, `width` wide (0:
/// as recorded), made at the node from the bucket's bytes copied into a scratch folder.
pub(super) async fn bucket_still(
    app: &App,
    sha256: &str,
    last: bool,
    width: u32,
) -> Result<Vec<u8>, Failure> {
    let dir = crate::web::scratch_dir("archive-still").map_err(unavailable)?;
    let path = dir.join("clip.mp4");
    let made = async {
        if !app
            .archive
            .clip_to_file(sha256, &path)
            .await
            .map_err(unavailable)?
        {
            return Err(unavailable(format!(
                "clip {sha256} is listed but not in the bucket"
            )));
        }
        let (p, sha) = (path.clone(), sha256.to_string());
        blocking(move || {
            crate::media::derived::still(&p, last, width).map_err(|e| {
                Error::msg(
                    crate::ErrorKind::Internal,
                    format!("clip {sha}: no still: {e}"),
                )
            })
        })
        .await
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    made
}

/// The one station log whose clips of `code` a bundle or an MP4 for upload is made from:
/// the one asked for, or the only one; refused (403) when the account may not see every clip
/// of the order in it.
pub(super) async fn one_log(
    app: &App,
    account: &Account,
    code: &str,
    asked: Option<&str>,
) -> Result<String, Response> {
    let bad = |status, text: String| failure(status, text).into_response();
    let mine = visible(app, account, code).await?;
    let mut logs: Vec<&str> = mine.iter().map(|c| c.log.as_str()).collect();
    logs.dedup();
    let log = match (asked, logs.as_slice()) {
        (Some(l), _) => l.to_string(),
        (None, [one]) => one.to_string(),
        (None, []) => {
            return Err(bad(
                StatusCode::NOT_FOUND,
                format!("the archive holds no clip of order {code}"),
            ))
        }
        (None, _) => {
            return Err(bad(
                StatusCode::BAD_REQUEST,
                format!(
                    "order {code} has clips of several station logs ({}): add ?log=NAME",
                    logs.join(", ")
                ),
            ))
        }
    };
    // A bundle holds every clip of the order in that log: all of them must be the account's.
    let every = Agent {
        name: account.name.clone(),
        stations: None,
    };
    let all = app.archive.find(&every, code).await.map_err(unavailable)?;
    let of_log = |list: &[FoundClip]| -> Vec<u64> {
        list.iter()
            .filter(|c| c.log == log)
            .map(|c| c.seal)
            .collect()
    };
    if of_log(&all).is_empty() {
        return Err(bad(
            StatusCode::NOT_FOUND,
            format!("order {code} has no clip in station log {log}"),
        ));
    }
    if of_log(&all) != of_log(&mine) {
        return Err(bad(
            StatusCode::FORBIDDEN,
            format!(
                "order {code}'s clips in {log} include clips of stations account {} may not see",
                account.name
            ),
        ));
    }
    Ok(log)
}

#[derive(Deserialize)]
pub(super) struct BundleAsked {
    pub(super) log: Option<String>,
}

/// An order's evidence bundle of one station log, made from the archive alone and recorded
/// as an `export` before it is sent.
pub(super) async fn bundle(
    State(app): State<Arc<App>>,
    UrlPath(code): UrlPath<String>,
    Query(asked): Query<BundleAsked>,
    req: Request,
) -> Result<Response, Response> {
    let account = need(&app, req.headers(), false).await?;
    bundle_for(app, account, code, asked, req).await
}

/// The bundle of `code` for `account` (a share link's too).
pub(super) async fn bundle_for(
    app: Arc<App>,
    account: Account,
    code: String,
    asked: BundleAsked,
    req: Request,
) -> Result<Response, Response> {
    let bad = |status, text: String| failure(status, text).into_response();
    agent_only(&account, "export")?;
    let code = order_code(&app, &code)?;
    let log = one_log(&app, &account, &code, asked.log.as_deref()).await?;
    let _permit = app.exports.try_acquire().map_err(|_| {
        bad(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_EXPORTS} bundles are being made on this node now; try again in a minute"),
        )
    })?;
    let name = format!(
        "evidence-{}-{}.zip",
        crate::datadir::safe_name(&code),
        chrono::Utc::now().format("%Y%m%d-%H%M%S")
    );
    let dir = crate::web::scratch_dir("archive-bundle").map_err(unavailable)?;
    let out = dir.join(&name);
    let (a, who, o, c, l) = (
        app.clone(),
        account.name.clone(),
        out.clone(),
        code.clone(),
        log.clone(),
    );
    let handle = tokio::runtime::Handle::current();
    let made = tokio::task::spawn_blocking(move || -> Result<Vec<u64>, Error> {
        let req = ExportRequest {
            code: &c,
            out: &o,
            who: &who,
            station: Some(&l),
        };
        let made = handle.block_on(export_from(&a.archive, &a.config, &req, &|_, _| {}))?;
        Ok(made.evidence.clips.iter().map(|c| c.clip).collect())
    })
    .await
    .map_err(unavailable)
    .and_then(|r| r.map_err(Failure::from));
    let made = made.map(|clips| Access {
        action: "export",
        code: code.clone(),
        log: log.clone(),
        clips,
        who: account.name.clone(),
        to: Some(name.clone()),
        derived: None,
    });
    send_made(&app, made, &dir, &name, "application/zip", req).await
}

/// Sends the file `name` made for one download in the scratch folder `dir` (removed after:
/// streamed from the open file, its space is freed when the download ends), once `made`'s
/// access is recorded; nothing when it could not be made or recorded.
pub(super) async fn send_made(
    app: &Arc<App>,
    made: Result<Access, Failure>,
    dir: &std::path::Path,
    name: &str,
    content_type: &'static str,
    req: Request,
) -> Result<Response, Response> {
    let sent = async {
        let access = made?;
        record(app, access).await?;
        let mut res = crate::web::serve_file(&dir.join(name), req, content_type).await?;
        crate::web::attachment(&mut res, name);
        Ok(res)
    }
    .await;
    let _ = std::fs::remove_dir_all(dir);
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_player_s_byte_ranges_are_answered_and_others_whole() {
        let h = |r: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::RANGE, r.parse().unwrap());
            h
        };
        assert_eq!(range(&HeaderMap::new(), 100), Ok(None));
        assert_eq!(range(&h("bytes=0-"), 100), Ok(Some((0, 99))));
        assert_eq!(range(&h("bytes=10-19"), 100), Ok(Some((10, 19))));
        assert_eq!(range(&h("bytes=90-200"), 100), Ok(Some((90, 99))));
        assert_eq!(range(&h("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(range(&h("bytes=100-"), 100), Err(()));
        assert_eq!(range(&h("bytes=0-1,5-6"), 100), Ok(None));
        assert_eq!(range(&h("items=0-1"), 100), Ok(None));
        assert_eq!(range(&h("bytes=9-3"), 100), Ok(None));
    }
}
