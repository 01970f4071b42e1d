//! The station screen: `/station/{id}`, full screen on the monitor above the packing table.
//!
//! Owns: the screen's page (its strings in the packer's language; the rest is
//! `assets/station.js`), the events it is pushed (`/api/stations/{id}/events`: the station's
//! status as server-sent events, whenever it changes, from the same status `/healthz` reads),
//! and the cameras' live pictures (`.../cameras/{camera}/preview.jpg`, made by the recorder's
//! preview tap only while a screen asks). Never: says a station records when its frames do not
//! reach the disk: the events carry the cameras' own state, and a screen that loses its events
//! says so.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, PreEscaped, DOCTYPE};
use serde::Deserialize;

use super::auth::{Watch, SCREEN_COOKIE};
use super::i18n;
use super::{screen_status, Failure, Shared};
use crate::media::source::SourceSpec;
use crate::recorder::health::{CameraState, CameraStatus};

/// How often the events' source looks for a change of the station.
const EVENT_TICK: Duration = Duration::from_millis(250);
/// How long a preview request waits for a picture newer than the one the screen has.
const PREVIEW_WAIT: Duration = Duration::from_secs(3);

/// The strings the screen's script shows, in the page's language.
const SCREEN_KEYS: &[&str] = &[
    "rec",
    "idle",
    "starting",
    "disk_missing",
    "disk_unwritable",
    "disk_replaced",
    "not_recording",
    "no_connection",
    "saved",
    "scanned",
    "rejected",
    "reject_empty",
    "reject_too_long",
    "reject_control",
    "reject_unknown_key",
    "reject_no_rule",
    "reject_rejected",
    "reject_bad_badge",
    "reject_not_recorded",
    "box",
    "operator",
    "sound_on",
    "sound_off",
    "no_picture",
    "camera",
    "scan_to_start",
    "seconds",
    "archive_waiting",
    "archive_unreachable",
    "archive_refused",
    "cam_unplugged",
    "cam_unplugged_do",
    "cam_unreachable",
    "cam_unreachable_do",
    "cam_failed",
    "cam_failed_do",
    "cam_stalled",
    "cam_stalled_do",
    "cam_starting",
    "cam_starting_do",
    "cam_all_down",
    "cam_all_down_do",
    "disk_full",
    "disk_full_do",
    "disk_write",
    "disk_write_do",
    "clock_unsynced",
    "order_not_recorded",
    "action_open",
    "action_switch",
    "action_seal",
    "action_attach",
    "action_operator",
    "action_ignored",
    "action_debounced",
    "action_other",
];

/// What the packer is told of a camera that records nothing now, in plain words: a key of
/// the screen's strings (`KEY` says what is wrong, `KEY_do` the one thing to do), from the
/// camera's own state and the kind of its source; `None` while it records.
fn camera_trouble(c: &CameraStatus) -> Option<&'static str> {
    match c.state {
        CameraState::Live => c.write_error.as_deref().map(disk_trouble),
        CameraState::Starting => Some("cam_starting"),
        CameraState::Stalled => Some("cam_stalled"),
        CameraState::Lost => Some(match SourceSpec::parse(&c.source) {
            SourceSpec::Usb(_) | SourceSpec::UsbPath(_) => "cam_unplugged",
            SourceSpec::Url(_) => "cam_unreachable",
            SourceSpec::File(_) | SourceSpec::Lavfi(_) => "cam_failed",
        }),
    }
}

/// A clip writer's failure: the disk full (no space, or under the room a clip needs) or
/// another write error.
fn disk_trouble(error: &str) -> &'static str {
    let full = ["No space left", "os error 28", "MB free", "disk is full"];
    if full.iter().any(|f| error.contains(f)) {
        "disk_full"
    } else {
        "disk_write"
    }
}

/// Why a station with an open order records nothing, in plain words: the disk, or its
/// cameras' one shared trouble, or "no camera gives a picture".
fn station_trouble(cameras: &[CameraStatus]) -> Option<&'static str> {
    let troubles: Vec<&'static str> = cameras.iter().filter_map(camera_trouble).collect();
    if troubles.len() < cameras.len() {
        return None;
    }
    if let Some(disk) = troubles.iter().find(|t| t.starts_with("disk_")) {
        return Some(disk);
    }
    match troubles.first() {
        Some(first) if troubles.iter().all(|t| t == first) => Some(first),
        Some(_) => Some("cam_all_down"),
        None => None,
    }
}

fn known_station(shared: &Shared, id: &str) -> bool {
    shared.config().stations.iter().any(|s| s.id == id)
}

fn no_station(shared: &Shared, id: &str) -> Failure {
    let ids: Vec<&str> = shared
        .config()
        .stations
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    Failure(
        StatusCode::NOT_FOUND,
        format!(
            "no station {id:?} in this config (stations: {})",
            ids.join(", ")
        ),
    )
}

/// The screen's page.
pub(super) async fn station_page(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<i18n::LangQuery>,
    watch: Option<Extension<Watch>>,
    req: axum::extract::Request,
) -> Result<Response, Failure> {
    if !known_station(&shared, &id) {
        return Err(no_station(&shared, &id));
    }
    let (lang, cookie) = super::search::language(&req, q.lang);
    // A paired screen's credential is renewed each time its page loads: in use, it lasts.
    let renewed = match watch.as_deref() {
        Some(Watch::Screen(_)) => i18n::cookie(req.headers(), SCREEN_COOKIE).and_then(|c| {
            super::auth::screen_cookie(&c, super::auth::behind_tls(req.headers(), peer(&req)))
        }),
        _ => None,
    };
    let strings: serde_json::Map<String, serde_json::Value> = SCREEN_KEYS
        .iter()
        .map(|k| (k.to_string(), i18n::t(lang, k).into()))
        .collect();
    let cameras: Vec<String> = shared
        .config()
        .station(&id)
        .map(|s| s.cameras.iter().map(|c| c.id.clone()).collect())
        .unwrap_or_default();
    let boot = serde_json::json!({ "station": id, "cameras": cameras, "strings": strings });
    // Inside a <script>, "</" would end it: JSON lets it be written "<\/".
    let boot = boot.to_string().replace("</", "<\\/");
    let page = html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (id) " · packwitness" }
                link rel="stylesheet" href="/assets/station.css";
            }
            body.screen {
                header.bar {
                    span.station { (id) }
                    span #clock {}
                    button #sound type="button" { (i18n::t(lang, "sound_off")) }
                }
                main {
                    section #cameras {}
                    section #order-box {
                        div #rec { span.dot {} " " span #rec-label { (i18n::t(lang, "idle")) } " " span #elapsed {} }
                        div #order.prompt { (i18n::t(lang, "scan_to_start")) }
                        div #detail {}
                    }
                    div #last-scan {}
                    div #saved hidden {}
                    div #problems hidden {}
                }
                div #alert hidden {
                    div #alert-title {}
                    div #alert-order {}
                    div #alert-why {}
                    div #alert-do {}
                    div #alert-detail {}
                }
                script #boot type="application/json" { (PreEscaped(boot)) }
                script type="module" src="/assets/station.js" {}
            }
        }
    };
    let res = super::search::with_cookie(super::assets::page(page.into_string()), cookie);
    Ok(super::search::with_cookie(res, renewed))
}

/// The peer of a request (for the `Secure` flag behind a TLS proxy on this machine).
fn peer(req: &axum::extract::Request) -> std::net::SocketAddr {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| ([0, 0, 0, 0], 0).into(), |c| c.0)
}

/// Alarms the screen tells in plain words (a camera's panel, NOT RECORDING, the data disk,
/// the clock), so not again as the recorder says them.
fn told_plainly(kind: &str) -> bool {
    kind.starts_with("data_d")
        || matches!(
            kind,
            "camera_starting"
                | "camera_stalled"
                | "camera_lost"
                | "not_recording"
                | "write_failed"
                | "clock_unsynchronised"
        )
}

/// What a screen is pushed: the station, and what is wrong with the process.
fn snapshot(shared: &Shared, id: &str) -> Option<serde_json::Value> {
    let p = screen_status(shared);
    let station = p.stations.iter().find(|s| s.id == id)?;
    Some(serde_json::json!({
        "station": station,
        "recording_process": p.recording_process,
        "problems": p.problems,
        // A data disk gone is NOT RECORDING even before the next scan: the whole screen says it.
        "data_disk": p.data_disk.as_ref().map(|d| format!("{} ({})", d.problem.advice(), d.what)),
        "data_disk_problem": p.data_disk.as_ref().map(|d| d.problem),
        "data_disk_what": p.data_disk.as_ref().map(|d| d.what.clone()),
        // The archive, for the detail line: only what the packer or the lead should see.
        "archive": p.archive.as_ref().map(|a| serde_json::json!({
            "clips": a.clips_pending,
            "age_s": a.oldest_unconfirmed_age_s,
            "failing": a.last_error.is_some(),
            "refused": a.refused.is_some(),
            "lagging": a.lagging,
        })),
        // Each camera's trouble and the station's, as keys of the screen's strings.
        "troubles": station.health.as_ref().map(|h| h.cameras.iter().map(|c| serde_json::json!({
            "camera": c.camera,
            "trouble": camera_trouble(c),
            "detail": c.write_error.as_ref().or(c.reason.as_ref()),
        })).collect::<Vec<_>>()),
        "station_trouble": station.health.as_ref().and_then(|h| station_trouble(&h.cameras)),
        "clock_unsynced": p.clock_synced == Some(false),
        // The rest of what is wrong with the recorder, as it says it (for the lead): what
        // the panels, the alarm and the clock line above say in plain words is left out.
        "other": crate::recorder::status::alarms(&p, shared.config())
            .into_iter()
            .filter(|a| a.station.as_deref().is_none_or(|s| s == id) && !told_plainly(&a.kind))
            .map(|a| a.reason)
            .collect::<Vec<_>>(),
        "now": shared.deps.clock.now().format("%H:%M:%S").to_string(),
    }))
}

/// The station's status as server-sent events: one when a screen connects and one at each
/// change (looked at four times a second), with a keep-alive comment every 15 s.
pub(super) async fn station_events(
    State(shared): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    watch: Option<Extension<Watch>>,
) -> Result<Response, Failure> {
    if !known_station(&shared, &id) {
        return Err(no_station(&shared, &id));
    }
    let watch = watch.map(|w| w.0);
    let state = (shared, id, String::new());
    let stream = futures_util::stream::unfold(state, move |(shared, id, last)| {
        let watch = watch.clone();
        async move {
            loop {
                // A stopping server ends its screens' streams (they reconnect to the next one).
                if shared.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                    return None;
                }
                // A screen unpaired, or a session ended, ends its stream: the screen, refused
                // when it reconnects, shows its pairing page.
                if watch.as_ref().is_some_and(|w| !w.holds(&shared)) {
                    return None;
                }
                let (s, i) = (shared.clone(), id.clone());
                let snap = tokio::task::spawn_blocking(move || snapshot(&s, &i))
                    .await
                    .ok()
                    .flatten();
                let data = match snap {
                    Some(v) => v.to_string(),
                    None => serde_json::json!({
                        "station": null,
                        "recording_process": false,
                        "problems": [format!("no recording process has station {id}")],
                    })
                    .to_string(),
                };
                // The clock field changes every second, so a quiet station still shows that
                // the connection lives.
                if data != last {
                    let event = Event::default().event("status").data(data.clone());
                    return Some((Ok::<Event, Infallible>(event), (shared, id, data)));
                }
                tokio::time::sleep(EVENT_TICK).await;
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

#[derive(Deserialize)]
pub(super) struct PreviewQuery {
    #[serde(default)]
    after: u64,
}

/// A camera's live picture, newer than `after` (waits up to 3 s for one).
pub(super) async fn camera_preview(
    State(shared): State<Arc<Shared>>,
    UrlPath((id, camera)): UrlPath<(String, String)>,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, Failure> {
    let preview = shared
        .deps
        .stations
        .as_ref()
        .and_then(|s| s.preview(&id, &camera))
        .ok_or_else(|| {
            Failure(
                StatusCode::NOT_FOUND,
                format!("no live picture of camera {camera:?} of station {id:?} here (only the process that records it, `run --listen`, has one)"),
            )
        })?;
    let picture = tokio::task::spawn_blocking(move || preview.newer_than(q.after, PREVIEW_WAIT))
        .await
        .map_err(|e| Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| Failure(StatusCode::SERVICE_UNAVAILABLE, e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (
                header::HeaderName::from_static("x-preview-seq"),
                picture.seq.to_string(),
            ),
        ],
        picture.jpeg.as_ref().clone(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::CodeError;
    use i18n::Lang;

    /// Every string the screen's script is given exists in both languages, and every reason
    /// a scan can be refused for is one of them (the script shows `reject_<name>`).
    #[test]
    fn the_screen_has_words_for_every_refusal() {
        for key in SCREEN_KEYS {
            for lang in [Lang::En, Lang::Zh] {
                assert!(
                    i18n::lookup(lang, key).is_some(),
                    "the screen's {key:?} has no {lang:?} string"
                );
            }
        }
        let every = [
            CodeError::Empty,
            CodeError::TooLong { len: 0, max: 0 },
            CodeError::Control { code: 0, pos: 0 },
            CodeError::UnknownKey { key: 0 },
            CodeError::NoRule {
                code: String::new(),
            },
            CodeError::Rejected {
                code: String::new(),
                rule: String::new(),
                message: String::new(),
            },
            CodeError::BadBadge {
                code: String::new(),
            },
            CodeError::NotRecorded(String::new()),
        ];
        for e in every {
            let key = format!("reject_{}", e.name());
            assert!(
                SCREEN_KEYS.contains(&key.as_str()),
                "the screen has no words for a scan refused as {key}"
            );
        }
    }
}
