//! The dispute sheet at the archive: the station app's helper ([`crate::web::dispute`]) over
//! every station's clips the account may see, their frames made from the bucket's bytes.
//!
//! Owns: `POST /order/{code}/dispute` at the archive (agents and admins), and the views of
//! the clips whose frames the sheet shows, recorded in the node's access log. Never: keeps
//! the buyer's file (read in memory, dropped with the answer) or sends it anywhere.

use std::sync::Arc;

use axum::extract::{Multipart, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::archive_access::Access;
use super::archive_app::{agent_on, failure, record, visible, App};
use crate::archive::search::FoundClip;
use crate::web::blocking;
use crate::web::dispute::{read_form, sheet_page, sheet_response, SheetClip, SheetStill};

fn sheet_clip(c: &FoundClip) -> SheetClip {
    SheetClip {
        clip: c.clip,
        station: c.station.clone(),
        camera: c.camera.clone(),
        started_at: c.started_at.clone(),
        ended_at: Some(c.ended_at.clone()),
        sha256: Some(c.sha256.clone()),
    }
}

/// `POST /order/{code}/dispute`.
pub(super) async fn sheet(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    UrlPath(raw): UrlPath<String>,
    form: Multipart,
) -> Result<Response, Response> {
    let (account, code) = agent_on(&app, &headers, &raw, "make a dispute sheet").await?;
    let lang = crate::web::i18n::pick(&crate::web::i18n::LangQuery { lang: None }, &headers);
    let (name, bytes, download) = read_form(form).await.map_err(|f| f.into_response())?;
    let clips = visible(&app, &account, &code)
        .await
        .map_err(|f| f.into_response())?;
    let archived: Vec<&FoundClip> = clips.iter().filter(|c| c.archived).collect();
    let (Some(first), Some(last)) = (
        archived
            .iter()
            .min_by(|a, b| a.started_at.cmp(&b.started_at)),
        archived.iter().max_by(|a, b| a.ended_at.cmp(&b.ended_at)),
    ) else {
        return Err(failure(
            StatusCode::NOT_FOUND,
            format!(
                "the archive holds no clip of order {code} that account {} may see",
                account.name
            ),
        )
        .into_response());
    };
    let mut stills = Vec::new();
    for (c, end) in [(*first, false), (*last, true)] {
        record(
            &app,
            Access {
                action: "view",
                code: c.order.clone(),
                log: c.log.clone(),
                clips: vec![c.clip],
                who: account.name.clone(),
                to: Some("dispute sheet".into()),
                derived: None,
            },
        )
        .await
        .map_err(|f| f.into_response())?;
        // A frame that cannot be made now leaves its place empty; the sheet still names
        // the clip.
        let jpeg = super::archive_downloads::bucket_still(&app, &c.sha256, end, 640)
            .await
            .ok();
        if let Some(jpeg) = jpeg {
            let sc = sheet_clip(c);
            stills.push(SheetStill {
                label: sc.caption(end),
                jpeg,
                at: if end {
                    c.ended_at.clone()
                } else {
                    c.started_at.clone()
                },
            });
        }
    }
    let (reading, bytes) = blocking(move || {
        Ok((
            crate::provenance::reading::read_bytes(&name, &bytes, None),
            bytes,
        ))
    })
    .await
    .map_err(|f| f.into_response())?;
    let rows: Vec<SheetClip> = clips.iter().map(sheet_clip).collect();
    let html = sheet_page(lang, &code, &rows, &reading, &stills, &bytes);
    Ok(sheet_response(html, &code, download))
}
