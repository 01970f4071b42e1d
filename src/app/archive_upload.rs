//! The MP4 for upload made at the archive (`/order/{code}/upload.mp4?log=`): the station's
//! MP4 for a platform's upload form (the same cards, trims and limits, the same code), made
//! from one station log's clips of an order as the archive holds them.
//!
//! Owns: the order's clip rows rebuilt from the archived log (each clip's `clip_opened` and
//! `clip_sealed` lines and attached codes, read from the entry bundles), the scans that ended
//! its boxes (for `from_scan`), the clips' bytes copied from the bucket into a scratch
//! folder (checked against their seals), and the `upload_mp4` access record with the file's
//! SHA-256 and how it was made, written before the file is sent.
//! Never: makes the file from bytes that are not the sealed ones, or sends it unrecorded.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::archive_access::Access;
use super::archive_app::{agent_on, failure, unavailable, App};
use crate::archive::evidence::ArchivedLog;
use crate::error::Error;
use crate::index::{ClipRow, Found};
use crate::log::{Body, Record, ScanAction};
use crate::web::Failure;

#[derive(Deserialize)]
pub(super) struct UploadAsked {
    log: Option<String>,
    #[serde(flatten)]
    limits: crate::web::UploadQuery,
}

fn record_of(log: &ArchivedLog<'_>, line: u64, bytes: &[u8]) -> Result<Record, Failure> {
    serde_json::from_slice(bytes).map_err(|e| {
        unavailable(format!(
            "line {line} of {} is not a record: {e}",
            log.station.origin
        ))
    })
}

/// The order's clips in `log` as rows, with their bytes copied into `dir` (a clip whose bytes
/// the bucket lacks is left out, saying why), and the times of the scans that ended a box.
async fn gather(
    app: &App,
    code: &str,
    log_name: &str,
    dir: &Path,
) -> Result<(Vec<Found>, Vec<i64>), Failure> {
    let held = app.archive.order_clips(code).await.map_err(unavailable)?;
    let mine: Vec<_> = held
        .iter()
        .filter(|c| c.station.origin == log_name)
        .collect();
    let Some(first) = mine.first() else {
        return Err(failure(
            StatusCode::NOT_FOUND,
            format!("order {code} has no clip in station log {log_name}"),
        ));
    };
    let log = app
        .archive
        .log_of(&first.station)
        .await
        .map_err(unavailable)?;
    let mut found = Vec::new();
    let mut orders: Vec<String> = Vec::new();
    for c in &mine {
        let line = |n: u64| log.line(n);
        let opened = record_of(&log, c.clip, &line(c.clip).await.map_err(unavailable)?)?;
        let sealed = record_of(&log, c.seal, &line(c.seal).await.map_err(unavailable)?)?;
        let (
            Body::ClipOpened {
                order,
                station,
                camera,
                operator,
                group,
                part,
                box_no,
                started_at,
                scanned_at,
                clock_synced,
                test_pattern,
                ..
            },
            Body::ClipSealed {
                reason,
                ended_at,
                duration_ms,
                frames,
                size,
                sha256,
                ..
            },
        ) = (opened.body, sealed.body)
        else {
            return Err(unavailable(format!(
                "lines {} and {} of {log_name} are not clip {}'s opening and seal",
                c.clip, c.seal, c.clip
            )));
        };
        let codes = log.attached(c.clip).await.map_err(unavailable)?;
        let path = dir.join(format!("clip-{}.mp4", c.clip));
        let there = c.stored
            && app
                .archive
                .clip_to_file(&c.sha256, &path)
                .await
                .map_err(unavailable)?;
        if !orders.contains(&order) {
            orders.push(order.clone());
        }
        found.push(Found {
            kind: "clip",
            clip: ClipRow {
                clip: c.clip,
                order,
                station,
                camera,
                file: path.display().to_string(),
                started_at,
                sealed_line: Some(c.seal),
                reason: Some(reason.as_str().to_string()),
                ended_at: Some(ended_at),
                duration_ms: Some(duration_ms),
                frames: Some(frames),
                size: Some(size),
                sha256: Some(sha256),
                operator,
                pruned: false,
                pruned_line: None,
                group,
                scanned_at,
                part,
                box_no,
                codes: codes.into_iter().map(|(_, code)| code).collect(),
                held: false,
                access: Vec::new(),
                test_pattern: test_pattern.unwrap_or(false),
                station_start_line: None,
                clock_synced,
            },
            file_status: if there { "ok" } else { "not in the archive" }.to_string(),
            file_detail: None,
            hash_checked: there,
        });
    }
    // The scans that ended a box of the order (a stop code, the next box): the trims of
    // `from_scan`.
    let mut ends = Vec::new();
    for order in &orders {
        for (line, kind) in log.order_lines(order, 2000).await.map_err(unavailable)? {
            if kind != "scan" {
                continue;
            }
            let rec = record_of(&log, line, &log.line(line).await.map_err(unavailable)?)?;
            if let Body::Scan {
                action: ScanAction::Seal | ScanAction::Switch,
                scanned_at,
                ..
            } = rec.body
            {
                ends.extend(
                    chrono::DateTime::parse_from_rfc3339(&scanned_at).map(|t| t.timestamp_millis()),
                );
            }
        }
    }
    Ok((found, ends))
}

/// `/order/{code}/upload.mp4?log=&preset=&max_mb=&from_scan=`: an agent's MP4 for upload.
pub(super) async fn upload_mp4(
    State(app): State<Arc<App>>,
    UrlPath(code): UrlPath<String>,
    Query(asked): Query<UploadAsked>,
    req: Request,
) -> Result<Response, Response> {
    let (account, code) = agent_on(&app, req.headers(), &code, "make MP4s").await?;
    let limits = asked
        .limits
        .limits(&app.config)
        .map_err(|e| Failure::from(e).into_response())?;
    let log =
        super::archive_downloads::one_log(&app, &account, &code, asked.log.as_deref()).await?;
    let _permit = app.exports.try_acquire().map_err(|_| {
        failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "bundles and MP4s are being made on this node now; try again in a minute",
        )
        .into_response()
    })?;
    let dir = crate::web::scratch_dir("archive-upload").map_err(unavailable)?;
    let name = format!("{}-upload.mp4", crate::datadir::safe_name(&code));
    let out = dir.join(&name);
    let made = async {
        let (found, ends) = gather(&app, &code, &log, &dir).await?;
        let (a, o, c, who) = (app.clone(), out.clone(), code.clone(), account.name.clone());
        crate::web::blocking(move || {
            let req = crate::export::upload::UploadRequest {
                code: &c,
                out: &o,
                who: &who,
                limits,
                threads: 0,
            };
            crate::export::upload::make_for_upload(
                &a.config,
                found,
                &|f: &Found| std::path::PathBuf::from(&f.clip.file),
                &|_: &str| Ok::<_, Error>(ends.clone()),
                "the archive's access log",
                &req,
            )
        })
        .await
    }
    .await;
    let made = made.map(|made| Access {
        action: "upload_mp4",
        code: code.clone(),
        log: log.clone(),
        clips: made.clips,
        who: account.name.clone(),
        to: made.name,
        derived: Some(made.derived),
    });
    super::archive_downloads::send_made(&app, made, &dir, &name, "video/mp4", req).await
}
