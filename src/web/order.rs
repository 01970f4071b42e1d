//! The order page (`/order/{code}`): everything customer service needs for one dispute.
//!
//! Owns: the page (a large player per clip, its first and last frame, the order's timeline
//! from the manifest, legal hold, the access history, "download MP4" named after the order,
//! and the evidence bundle only once every clip is sealed), the MP4 download
//! (`/clips/{clip}/download`), the MP4 for upload (`/order/{code}/upload.mp4`), the stills
//! (`/clips/{clip}/still/{first,last}.jpg`), and the hold form (`POST /order/{code}/hold`).
//! Never: serves a clip's bytes without an `access` record: a download is recorded as
//! `download`, an MP4 for upload as `upload_mp4` with its SHA-256, a still as part of a
//! viewing.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, FromRequest, Path as UrlPath, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::i18n::{label, t, Lang};
use super::page::{self, show_time, url_escape, Viewer};
use super::search::{language, with_cookie};
use super::{
    attachment, auth, blocking, no_clip, record_access, serve_file, viewed_clip, who, Failure,
    Shared,
};
use crate::error::{Error, ErrorKind};
use crate::index::{self, FileCheck, Found, Index, Notes};

/// Records of an order shown in its timeline at most.
const TIMELINE: u32 = 500;

/// One line of the order's timeline: line number, time, the record.
pub struct Event {
    pub line: u64,
    pub at: String,
    pub kind: String,
    pub record: serde_json::Value,
}

impl Event {
    /// The event of a manifest line `line` (its bytes).
    pub fn of_line(line: u64, bytes: &[u8]) -> Event {
        let v: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
        Event {
            line,
            at: v["at"].as_str().unwrap_or("").to_string(),
            kind: v["kind"].as_str().unwrap_or("").to_string(),
            record: v,
        }
    }
}

/// An access of a clip (`ACTION by WHO at TIME`, as the index keeps it) in the page's
/// language and time format; as kept when it does not read so.
fn access_line(lang: Lang, a: &str) -> String {
    let parsed = a
        .rsplit_once(" at ")
        .and_then(|(rest, at)| Some((rest.split_once(" by ")?, at)));
    match parsed {
        Some(((action, who), at)) => format!(
            "{} · {who} · {}",
            label(lang, "action", action),
            page::show_time(at)
        ),
        None => a.to_string(),
    }
}

/// A record's few words for the timeline, in the page's language (codes, names and the
/// reasons people typed stay as recorded).
fn summary(lang: Lang, v: &serde_json::Value) -> String {
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    match v["kind"].as_str().unwrap_or("") {
        "scan" => format!(
            "{} · {} ({})",
            s("code"),
            label(lang, "action", &s("action")),
            s("scanner")
        ),
        "clip_opened" => format!("{} / {}", s("station"), s("camera")),
        "clip_sealed" => {
            let mut text = format!(
                "{} · {:.1} {} · {}",
                label(lang, "reason", &s("reason")),
                v["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0,
                t(lang, "seconds"),
                s("camera")
            );
            // Where the picture got sparser or its quality changed, and why.
            if let Some(n) = v["dropped_frames"].as_u64() {
                text.push_str(&format!(
                    " · {}",
                    t(lang, "frames_left_out").replace("{n}", &n.to_string())
                ));
            }
            for p in v["presets"].as_array().into_iter().flatten() {
                text.push_str(&format!(
                    " · {}",
                    t(lang, "preset_step")
                        .replace("{preset}", p["preset"].as_str().unwrap_or(""))
                        .replace("{at}", &show_time(p["at"].as_str().unwrap_or("")))
                        .replace("{why}", p["why"].as_str().unwrap_or(""))
                ));
            }
            text
        }
        "code_attached" => s("code"),
        "access" => format!("{} · {}", label(lang, "action", &s("action")), s("who")),
        "hold" => format!(
            "{} · {}{}",
            t(
                lang,
                if v["released"] == true {
                    "released"
                } else {
                    "held"
                }
            ),
            s("who"),
            v["reason"]
                .as_str()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        "no_video" | "camera_gap" => s("reason"),
        _ => String::new(),
    }
}

/// The order's records: its clips' opening and sealing, its scans and notes, oldest first.
pub(super) fn timeline(shared: &Shared, found: &[Found], order: &str) -> Result<Vec<Event>, Error> {
    let index = Index::open_read(shared.data_dir())?;
    let mut lines: Vec<u64> = index
        .order_lines(order, TIMELINE)?
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    drop(index);
    for f in found {
        lines.push(f.clip.clip);
        lines.extend(f.clip.sealed_line);
    }
    lines.sort_unstable();
    lines.dedup();
    let reader = crate::log::reader::LogReader::open(shared.data_dir())?;
    let mut out = Vec::new();
    for line in lines.into_iter().take(TIMELINE as usize) {
        out.push(Event::of_line(line, &reader.line(line)?));
    }
    Ok(out)
}

/// The MP4 file name a download gets: the order, its box and part, the camera.
pub fn download_name(f: &Found) -> String {
    let c = &f.clip;
    let mut name = crate::datadir::safe_name(&c.order);
    if c.box_no > 1 {
        name.push_str(&format!("-box{}", c.box_no));
    }
    if c.part > 1 {
        name.push_str(&format!("-part{}", c.part));
    }
    format!("{name}-{}.mp4", crate::datadir::safe_name(&c.camera))
}

/// A clip's section: its player, stills and facts; an agent's download and its access
/// history. `shared`: the address a share link serves the clip's video under (`/s/TOKEN`):
/// then nothing of the merchant's own (downloads, who looked at it) is shown.
pub(super) fn clip_section(
    lang: Lang,
    f: &Found,
    agent: bool,
    shared: Option<&str>,
) -> maud::Markup {
    let c = &f.clip;
    let ok = f.file_status == "ok" || f.file_status == "archive";
    let base = shared.unwrap_or("");
    let agent = agent && shared.is_none();
    html! {
        section.clip {
            h2 { (page::clip_label(lang, f)) " · " (c.station) " / " (c.camera) }
            @if c.test_pattern { p.bad { b { (t(lang, "test_pattern")) } } }
            @if f.file_status == "archive" {
                // Pruned here: the bytes come from the archive when Play is pressed (no
                // stills: they are made from the file).
                div.player { video.big controls preload="none" src={ (base) "/clips/" (c.clip) } {} }
            } @else if ok {
                // preload="none": nothing is fetched (or recorded as a view) until Play.
                div.player { video.big controls preload="none" poster={ (base) "/clips/" (c.clip) "/still/thumb.jpg" } src={ (base) "/clips/" (c.clip) } {} }
                details.stills {
                    summary { (t(lang, "stills")) }
                    img loading="lazy" alt="first frame" src={ (base) "/clips/" (c.clip) "/still/first.jpg" };
                    img loading="lazy" alt="last frame" src={ (base) "/clips/" (c.clip) "/still/last.jpg" };
                }
            } @else {
                p.bad { (f.file_status) " " (f.file_detail.as_deref().unwrap_or("")) }
            }
            dl {
                dt { (t(lang, "started")) } dd { (show_time(&c.started_at)) }
                dt { (t(lang, "length")) } dd { (page::length(lang, f)) }
                dt { (t(lang, "status")) } dd {
                    @match &c.reason { Some(r) => { (t(lang, "sealed")) " (" (label(lang, "reason", r)) ")" }, None => b.rec { (t(lang, "recording")) } }
                    @if c.held { " · " b { (t(lang, "held")) } }
                }
                @if let Some(o) = &c.operator { dt { (t(lang, "operator_col")) } dd { (o) } }
                @if !c.codes.is_empty() { dt { (t(lang, "codes")) } dd { (c.codes.join(" ")) } }
                dt { "SHA-256" } dd { code.hash { (c.sha256.as_deref().unwrap_or("")) } }
                @if f.file_status == "archive" { dt { (t(lang, "file")) } dd { (t(lang, "file_archive")) } }
                @else if ok { dt { (t(lang, "file")) } dd.ok { (t(lang, "file_ok")) } }
            }
            @if f.file_status == "ok" && agent {
                p { a.button href={ "/clips/" (c.clip) "/download" } download=(download_name(f)) { (t(lang, "download_mp4")) } }
            }
            @if !c.access.is_empty() && shared.is_none() {
                h3 { (t(lang, "access")) }
                ul.access { @for a in &c.access { li { (access_line(lang, a)) } } }
            }
        }
    }
}

struct OrderView<'a> {
    code: &'a str,
    found: &'a [Found],
    notes: &'a Notes,
    events: &'a [Event],
    role: Option<super::accounts::Role>,
    /// `[upload.presets]`: (name, label).
    presets: Vec<(String, String)>,
    /// The order's share links (an agent sees them).
    shares: Vec<super::shares::Share>,
}

/// `[upload.presets]` of `config` as the upload form offers them: (name, label).
pub fn presets(config: &crate::config::Config) -> Vec<(String, String)> {
    config
        .upload
        .presets
        .iter()
        .map(|(name, p)| {
            let shown = if p.label.is_empty() { name } else { &p.label };
            (name.clone(), shown.clone())
        })
        .collect()
}

/// The form that makes an order's MP4 for upload (a GET of `action`, with `hidden` fields):
/// a platform's preset of `presets` (name, label) or a size, and the span from the scan.
pub fn upload_form(
    lang: Lang,
    action: &str,
    hidden: &[(&str, &str)],
    presets: &[(String, String)],
) -> maud::Markup {
    html! {
        details.upload-panel {
        summary { (t(lang, "upload_mp4")) }
        form.upload method="get" action=(action) {
            @for (k, v) in hidden { input type="hidden" name=(k) value=(v); }
            p.note { (t(lang, "upload_note")) }
            label { (t(lang, "upload_for")) " "
                select name="preset" {
                    option value="" { (t(lang, "upload_no_preset")) }
                    @for (name, shown) in presets { option value=(name) { (shown) } }
                }
            }
            " "
            label { (t(lang, "upload_max_mb")) " " input type="number" name="max_mb" min="0.1" step="0.1"; }
            " "
            label { input type="checkbox" name="from_scan" value="1"; " " (t(lang, "upload_from_scan")) }
            " "
            button type="submit" { (t(lang, "upload_mp4")) }
        }
        }
    }
}

fn order_body(lang: Lang, o: &OrderView<'_>) -> maud::Markup {
    let agent = o.role.is_none_or(|r| r >= super::accounts::Role::Agent);
    let open = o.found.iter().any(|f| f.clip.reason.is_none());
    let held = o.found.iter().any(|f| f.clip.held);
    html! {
        p { a href="/" { "← " (t(lang, "search")) } }
        h1 { (t(lang, "order")) " " (o.code) }
        (page::notes_list(lang, o.notes))
        @if o.found.is_empty() && o.notes.is_empty() { p { (t(lang, "no_clip")) } }
        @if !o.found.is_empty() {
            div.actions {
                @if open {
                    p.note { (t(lang, "bundle_wait")) }
                } @else if agent {
                    a.button href={ "/export/" (url_escape(o.code)) } { (t(lang, "download_bundle")) }
                }
                @if agent {
                    form.inline method="post" action={ "/order/" (url_escape(o.code)) "/hold" } {
                        input type="hidden" name="release" value=(if held { "1" } else { "0" });
                        @if !held { input type="text" name="reason" placeholder=(t(lang, "reason")) size="16"; }
                        button type="submit" { (t(lang, if held { "release" } else { "hold" })) }
                    }
                }
            }
        }
        @if agent && !open && o.found.iter().any(|f| f.file_status == "ok") {
            (upload_form(lang, &format!("/order/{}/upload.mp4", url_escape(o.code)), &[], &o.presets))
        }
        @if agent { (super::share::station_share_panel(lang, o.code, &o.shares)) }
        @if agent && !o.found.is_empty() { (super::dispute::panel(lang, o.code)) }
        @for f in o.found { (clip_section(lang, f, agent, None)) }
        (timeline_table(lang, o.events))
    }
}

/// The order's timeline.
pub fn timeline_table(lang: Lang, events: &[Event]) -> maud::Markup {
    html! {
        @if !events.is_empty() {
            h2 { (t(lang, "timeline")) }
            div.scroll { table.timeline {
                @for e in events { tr { td { (show_time(&e.at)) } td { (label(lang, "kind", &e.kind)) } td { (summary(lang, &e.record)) } td.line { "#" (e.line) } } }
            } }
            p.note { (t(lang, "times_in")) }
        }
    }
}

/// `/order/{code}`.
pub(super) async fn order_page(
    State(shared): State<Arc<Shared>>,
    UrlPath(code): UrlPath<String>,
    Query(q): Query<super::i18n::LangQuery>,
    req: Request,
) -> Result<Response, Failure> {
    let (lang, cookie) = language(&req, q.lang);
    let user = req.extensions().get::<auth::WebUser>().cloned();
    let s = shared.clone();
    let c = code.clone();
    let (found, notes, events, shares) = blocking(move || {
        let max = s.config().codes.max_len;
        let mut found = index::lookup(s.data_dir(), &c, max, FileCheck::Size)?;
        // A clip pruned here plays from the station's archive (fetched when played, checked
        // against its seal); the page says so.
        if !s.config().archive.url.trim().is_empty() {
            for f in found.iter_mut().filter(|f| f.file_status == "pruned") {
                f.file_status = "archive".into();
            }
        }
        let notes = index::notes(s.data_dir(), &c, max)?;
        let order = found
            .first()
            .map(|f| f.clip.order.clone())
            .unwrap_or_else(|| crate::codes::normalize(&c, max).unwrap_or_default());
        let events = timeline(&s, &found, &order)?;
        let shares = s.shares.of_order(s.data_dir(), &order);
        Ok((found, notes, events, shares))
    })
    .await?;
    let status = if found.is_empty() && notes.is_empty() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    let view = OrderView {
        code: &code,
        found: &found,
        notes: &notes,
        events: &events,
        role: user.as_ref().and_then(|u| u.2),
        shares,
        presets: presets(shared.config()),
    };
    let html = page::layout(
        &Viewer {
            lang,
            user: user.as_ref().filter(|u| u.1).map(|u| u.0.as_str()),
        },
        &code,
        order_body(lang, &view),
    );
    let mut res = with_cookie(super::assets::page(html), cookie);
    *res.status_mut() = status;
    Ok(res)
}

/// The upload form's fields (an empty number field means none).
#[derive(Deserialize)]
pub struct UploadQuery {
    #[serde(default)]
    pub preset: String,
    #[serde(default)]
    pub max_mb: String,
    #[serde(default)]
    pub max_seconds: String,
    #[serde(default)]
    pub from_scan: String,
}

impl UploadQuery {
    /// The limits asked for, over the preset's (`[upload.presets]` of `config`).
    pub fn limits(
        &self,
        config: &crate::config::Config,
    ) -> Result<crate::export::upload::Limits, Error> {
        crate::export::upload::Limits::resolve(
            config,
            Some(self.preset.as_str()),
            crate::export::upload::Limits {
                max_mb: number("max_mb", &self.max_mb)?,
                max_seconds: number("max_seconds", &self.max_seconds)?,
                from_scan: !self.from_scan.is_empty(),
            },
        )
    }
}

fn number(field: &str, v: &str) -> Result<Option<f64>, Error> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| Error::invalid(format!("{field} = {v:?} is not a number")))
}

/// `/order/{code}/upload.mp4`: the order's MP4 for upload, made now within the limits asked
/// for (a preset, or at most `max_mb`), recorded as `upload_mp4` with its SHA-256, then sent
/// as a file. One encoder thread: the recorder beside it comes first.
pub(super) async fn upload_mp4(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(code): UrlPath<String>,
    Query(q): Query<UploadQuery>,
    req: Request,
) -> Result<Response, Failure> {
    let user = req.extensions().get::<auth::WebUser>().cloned();
    if req.method() == axum::http::Method::HEAD {
        return Ok(([(header::CONTENT_TYPE, "video/mp4")], "").into_response());
    }
    use crate::export::upload::{upload_mp4, UploadRequest};
    let name = format!("{}-upload.mp4", crate::datadir::safe_name(&code));
    let s = shared.clone();
    let who = who(peer, user.as_ref());
    super::files::made_download(&shared, "upload", name, "video/mp4", req, move |out| {
        let limits = q.limits(s.config())?;
        let appender = s.appender()?;
        let req = UploadRequest {
            code: &code,
            out,
            who: &who,
            limits,
            threads: 1,
        };
        upload_mp4(s.data_dir(), s.config(), appender.as_ref(), &req).map(|_| ())
    })
    .await
}

#[derive(Deserialize)]
pub(super) struct HoldForm {
    #[serde(default)]
    release: String,
    #[serde(default)]
    reason: String,
}

/// `POST /order/{code}/hold`: places or lifts a legal hold, then back to the order page.
pub(super) async fn hold(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(code): UrlPath<String>,
    req: Request,
) -> Result<Response, Failure> {
    let user = req.extensions().get::<auth::WebUser>().cloned();
    let Form(f) = Form::<HoldForm>::from_request(req, &())
        .await
        .map_err(|e| Failure(StatusCode::BAD_REQUEST, format!("the hold form: {e}")))?;
    let s = shared.clone();
    let c = code.clone();
    blocking(move || {
        let appender = s.appender()?;
        let reason = Some(f.reason.trim().to_string()).filter(|r| !r.is_empty());
        crate::export::prove::hold(
            s.data_dir(),
            s.config(),
            appender.as_ref(),
            &c,
            f.release == "1",
            reason,
            &who(peer, user.as_ref()),
        )
    })
    .await?;
    Ok(Redirect::to(&format!("/order/{}", url_escape(&code))).into_response())
}

/// The sealed, present clip `clip`, for a download or a still.
fn sealed_clip(shared: &Shared, clip: u64) -> Result<Option<Found>, Error> {
    let Some(order) = Index::open_read(shared.data_dir())?.order_of(clip)? else {
        return Ok(None);
    };
    let max = shared.config().codes.max_len;
    Ok(
        index::lookup(shared.data_dir(), &order, max, FileCheck::Size)?
            .into_iter()
            .find(|f| f.clip.clip == clip && f.file_status == "ok")
            .filter(|f| crate::datadir::is_safe_clip_path(&f.clip.file)),
    )
}

/// `/clips/{clip}/download`: the clip's MP4 as a file named after its order (a `download`
/// access record first).
pub(super) async fn download(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath(clip): UrlPath<u64>,
    req: Request,
) -> Result<Response, Failure> {
    let user = req.extensions().get::<auth::WebUser>().cloned();
    let head = req.method() == axum::http::Method::HEAD;
    let s = shared.clone();
    let (path, name) = blocking(move || {
        let Some(f) = sealed_clip(&s, clip)? else {
            return Ok(None);
        };
        let name = download_name(&f);
        if !head {
            record_access(
                &s,
                "download",
                &f.clip.order,
                vec![clip],
                who(peer, user.as_ref()),
                Some(name.clone()),
            )?;
        }
        Ok(Some((s.data_dir().join(&f.clip.file), name)))
    })
    .await?
    .ok_or_else(|| no_clip(clip))?;
    let mut res = serve_file(&path, req, "video/mp4").await?;
    attachment(&mut res, &name);
    Ok(res)
}

/// `/clips/{clip}/still/{first,last}.jpg`: part of a viewing (recorded once, as a view).
pub(super) async fn still(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    UrlPath((clip, which)): UrlPath<(u64, String)>,
    req: Request,
) -> Result<Response, Failure> {
    let user = req.extensions().get::<auth::WebUser>().cloned();
    still_of(shared, peer, clip, &which, who(peer, user.as_ref())).await
}

/// The width of a clip's thumbnail (`still/thumb.jpg`): its poster and its picture in a
/// list of results.
const THUMB_WIDTH: u32 = 480;

/// A still of `clip` for `who`: `first.jpg` or `last.jpg`, part of a viewing (recorded once
/// per viewing); `thumb.jpg`, the first frame small, a poster, which is no viewing.
pub(super) async fn still_of(
    shared: Arc<Shared>,
    peer: SocketAddr,
    clip: u64,
    which: &str,
    who: String,
) -> Result<Response, Failure> {
    let (last, width) = match which {
        "first.jpg" => (false, 0),
        "last.jpg" => (true, 0),
        "thumb.jpg" => (false, THUMB_WIDTH),
        _ => {
            return Err(Failure(
                StatusCode::NOT_FOUND,
                format!("no still {which:?}: first.jpg, last.jpg or thumb.jpg"),
            ))
        }
    };
    let first_view = width == 0 && shared.new_viewing(clip, peer.ip());
    let s = shared.clone();
    let jpeg = blocking(move || {
        let Some(path) = viewed_clip(&s, clip, first_view, who)? else {
            return Ok(None);
        };
        crate::media::derived::still(&path, last, width)
            .map(Some)
            .map_err(|e| Error::msg(ErrorKind::Internal, format!("clip {clip}: no still: {e}")))
    })
    .await?
    .ok_or_else(|| no_clip(clip))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        jpeg,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::{access_line, Lang};

    #[test]
    fn an_access_reads_in_the_pages_language() {
        assert_eq!(
            access_line(Lang::Zh, "download by lin at 2026-12-03T14:02:11.532+08:00"),
            "下载 · lin · 2026-12-03 14:02:11 UTC+08:00"
        );
        assert_eq!(access_line(Lang::En, "something else"), "something else");
    }
}

#[cfg(test)]
mod seal_tests {
    use super::*;

    /// A seal's timeline entry says where the picture got sparser or its quality changed,
    /// in the page's language.
    #[test]
    fn a_seal_says_frames_left_out_and_preset_steps() {
        let v = serde_json::json!({
            "kind": "clip_sealed", "reason": "stop_code", "duration_ms": 61_200,
            "camera": "cam-1", "dropped_frames": 7,
            "presets": [{"at": "2026-12-04T10:21:07.512+08:00", "preset": "superfast",
                         "why": "1.2 s behind real time, 5 frames left out"}]
        });
        let en = summary(Lang::En, &v);
        assert!(
            en.contains("7 frames left out")
                && en.contains("encoder preset superfast from 2026-12-04 10:21:07 UTC+08:00"),
            "{en}"
        );
        let zh = summary(Lang::Zh, &v);
        assert!(
            zh.contains("略去 7 帧") && zh.contains("编码预设 superfast"),
            "{zh}"
        );
        let plain = summary(
            Lang::En,
            &serde_json::json!({"kind": "clip_sealed", "reason": "stop_code", "duration_ms": 1000, "camera": "c"}),
        );
        assert!(
            !plain.contains("left out") && !plain.contains("preset"),
            "{plain}"
        );
    }
}
