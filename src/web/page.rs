//! The customer-service app's pages, rendered with maud (every value escaped by default):
//! the search page (`/`: search, filters, recent clips, the live station board) and the
//! parts the order page ([`super::order`]) shares with it. Works without scripts;
//! `assets/app.js` adds search as you type, the live board and the player's controls.

use maud::{html, Markup, DOCTYPE};

use super::i18n::{label, t, Lang};
use super::StationStatus;
use crate::error::Error;
use crate::index::{Found, Notes};

/// Percent-encodes a code for a URL path segment or query value.
pub fn url_escape(s: &str) -> String {
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

/// A recorded time (RFC 3339, the station's zone) as people read it: date, time, UTC offset.
pub fn show_time(s: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => show_datetime(&t),
        Err(_) => s.to_string(),
    }
}

/// A time as the pages show every time: date, time to the second, UTC offset.
pub fn show_datetime<Tz: chrono::TimeZone>(t: &chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.format("%Y-%m-%d %H:%M:%S UTC%:z").to_string()
}

/// Who is looking, for the header.
pub struct Viewer<'a> {
    pub lang: Lang,
    /// The account's name, when logged in (a logout button).
    pub user: Option<&'a str>,
}

/// The frame of every app page: header with the language switch, the body, the script.
pub fn layout(v: &Viewer<'_>, title: &str, body: Markup) -> String {
    let nav = html! {
        a href="/#stations" { (t(v.lang, "stations")) }
        a href="/stats" { (t(v.lang, "stats")) }
    };
    frame(v, title, Some(nav), body)
}

/// A page with nothing to go to but the language: what a share link shows.
pub fn bare_layout(lang: Lang, title: &str, body: Markup) -> String {
    frame(&Viewer { lang, user: None }, title, None, body)
}

fn frame(v: &Viewer<'_>, title: &str, nav: Option<Markup>, body: Markup) -> String {
    let other = match v.lang {
        Lang::En => ("zh", "中文"),
        Lang::Zh => ("en", "English"),
    };
    html! {
        (DOCTYPE)
        html lang=(v.lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · packwitness" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body {
                header.top {
                    @if nav.is_some() { a.brand href="/" { "packwitness" } } @else { span.brand { "packwitness" } }
                    nav {
                        @if let Some(n) = &nav { (n) }
                        a #lang href={ "?lang=" (other.0) } { (other.1) }
                        @if let Some(u) = v.user {
                            form.inline method="post" action="/logout" {
                                span.user { (u) } " "
                                button type="submit" { (t(v.lang, "logout")) }
                            }
                        }
                    }
                }
                main { (body) }
                script type="module" src="/assets/app.js" {}
            }
        }
    }
    .into_string()
}

/// The search form's values.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    pub q: String,
    /// `YYYY-MM-DD`, in the station's zone.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub station: String,
    #[serde(default)]
    pub operator: String,
}

impl SearchForm {
    pub fn is_empty(&self) -> bool {
        self.q.trim().is_empty()
            && self.from.is_empty()
            && self.to.is_empty()
            && self.station.is_empty()
            && self.operator.trim().is_empty()
    }
}

fn search_form(lang: Lang, f: &SearchForm, stations: &[String]) -> Markup {
    html! {
        form #search method="get" action="/" role="search" {
            div.searchbox {
                input #q type="search" name="q" value=(f.q) placeholder=(t(lang, "search_hint"))
                    autocomplete="off" autofocus aria-label=(t(lang, "search"));
                button type="submit" { (t(lang, "search")) }
                ul #suggest hidden {}
            }
            div.filters {
                label { (t(lang, "from")) " " input type="date" name="from" value=(f.from); }
                label { (t(lang, "to")) " " input type="date" name="to" value=(f.to); }
                label { (t(lang, "station")) " "
                    select name="station" {
                        option value="" { (t(lang, "any")) }
                        @for s in stations { option value=(s) selected[f.station == *s] { (s) } }
                    }
                }
                label { (t(lang, "operator_col")) " " input type="text" name="operator" value=(f.operator) size="10"; }
            }
        }
    }
}

/// A clip's order, box and part in one label.
pub fn clip_label(lang: Lang, f: &Found) -> String {
    let c = &f.clip;
    let (bx, part) = (t(lang, "box"), t(lang, "part"));
    match (c.box_no, c.part) {
        (1, 1) => c.order.clone(),
        (b, 1) => format!("{} {bx} {b}", c.order),
        (1, p) => format!("{} {part} {p}", c.order),
        (b, p) => format!("{} {bx} {b} {part} {p}", c.order),
    }
}

/// A clip's length, `12.3 s`.
pub fn length(lang: Lang, f: &Found) -> String {
    f.clip
        .duration_ms
        .map(|ms| format!("{:.1} {}", ms as f64 / 1000.0, t(lang, "seconds")))
        .unwrap_or_default()
}

fn clips_table(lang: Lang, list: &[Found]) -> Markup {
    html! {
        div.scroll {
            table.clips {
                thead { tr {
                    th {} th { (t(lang, "order")) } th { (t(lang, "station")) } th { (t(lang, "started")) }
                    th { (t(lang, "length")) } th { (t(lang, "status")) } th { (t(lang, "operator_col")) }
                } }
                tbody {
                    @for f in list {
                        @let c = &f.clip;
                        tr {
                            td.thumb { @if f.file_status == "ok" { a href={ "/order/" (url_escape(&c.order)) } tabindex="-1" { img loading="lazy" alt="" src={ "/clips/" (c.clip) "/still/thumb.jpg" }; } } }
                            td.order { a href={ "/order/" (url_escape(&c.order)) } { (clip_label(lang, f)) }
                                @for code in &c.codes { br; small { (code) } } }
                            td { (c.station) " / " (c.camera)
                                @if c.test_pattern { br; b.bad { (t(lang, "test_pattern")) } } }
                            td { (show_time(&c.started_at)) }
                            td { (length(lang, f)) }
                            td {
                                @match &c.reason { Some(r) => { (t(lang, "sealed")) " (" (label(lang, "reason", r)) ")" }, None => b.rec { (t(lang, "recording")) } }
                                @if c.held { br; b { (t(lang, "held")) } }
                                @if f.file_status != "ok" && f.file_status != "open" { br; span.bad { (f.file_status) } }
                            }
                            td { (c.operator.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

/// The words the board's script needs, in the page's language (one table: the server's).
fn board_words(lang: Lang) -> String {
    let mut w = serde_json::Map::new();
    for k in [
        "recording",
        "not_recording",
        "idle",
        "starting",
        "no_recorder",
        "no_video",
        "no_video_since_start",
        "no_connection",
    ] {
        w.insert(k.into(), t(lang, k).into());
    }
    for s in ["starting", "live", "stalled", "lost"] {
        w.insert(
            format!("camstate_{s}"),
            t(lang, &format!("camstate_{s}")).into(),
        );
    }
    for a in [
        "open",
        "switch",
        "seal",
        "attach",
        "operator",
        "ignored",
        "debounced",
    ] {
        w.insert(format!("action_{a}"), label(lang, "action", a).into());
    }
    serde_json::Value::Object(w).to_string()
}

fn board(lang: Lang, stations: &[StationStatus], configured: &[String]) -> Markup {
    html! {
        section #stations {
            h2 { (t(lang, "stations")) }
            div.scroll { table #board data-words=(board_words(lang)) {
                thead { tr {
                    th { (t(lang, "station")) } th { (t(lang, "status")) } th { (t(lang, "order")) }
                    th { (t(lang, "operator_col")) } th { (t(lang, "camera_state")) } th { (t(lang, "last_scan")) }
                } }
                tbody {
                    @for id in configured {
                        @let s = stations.iter().find(|s| s.id == *id);
                        @let h = s.and_then(|s| s.health.as_ref());
                        tr data-station=(id) {
                            td { a href={ "/station/" (url_escape(id)) } { (id) } br; small { (t(lang, "screen")) } }
                            td.state { @match h.map(|h| h.state.as_str()) {
                                Some("recording") => b.rec { (t(lang, "recording")) },
                                Some("not_recording") => b.bad { (t(lang, "not_recording")) },
                                Some("starting") => span { (t(lang, "starting")) },
                                Some(_) => span { (t(lang, "idle")) },
                                None => span.bad { (t(lang, "no_recorder")) },
                            }
                            @if let Some(n) = h.map(|h| h.no_video).filter(|n| *n > 0) {
                                br; b.bad.nv title=(t(lang, "no_video_since_start")) { (t(lang, "no_video")) " ×" (n) }
                            } }
                            td.order { (h.and_then(|h| h.order.as_deref()).unwrap_or("")) }
                            td.operator { (h.and_then(|h| h.operator.as_deref()).unwrap_or("")) }
                            td.cams { @if let Some(h) = h { @for c in &h.cameras {
                                span class=(if c.state == crate::recorder::health::CameraState::Live { "ok" } else { "bad" }) {
                                    (c.camera) " " (t(lang, &format!("camstate_{}", c.state.as_str()))) } " " } } }
                            td.scan { @if let Some(l) = h.and_then(|h| h.last_scan.as_ref()) { (l.code) " " (label(lang, "action", &l.action)) " " (show_time(&l.at)) } }
                        }
                    }
                }
            } }
        }
    }
}

/// What the search page shows.
pub struct SearchPage<'a> {
    pub form: &'a SearchForm,
    pub stations: &'a [StationStatus],
    pub configured: &'a [String],
    /// The clips found (or the recent ones when nothing was asked).
    pub found: Result<Vec<Found>, Error>,
    pub notes: Notes,
}

/// The search page.
pub fn search_page(v: &Viewer<'_>, p: SearchPage<'_>) -> String {
    let lang = v.lang;
    let asked = !p.form.is_empty();
    let body = html! {
        (search_form(lang, p.form, p.configured))
        (notes_list(lang, &p.notes))
        @match &p.found {
            Err(e) => p.bad { (e.to_string()) },
            Ok(list) => {
                h2 { (t(lang, if asked { "results" } else { "recent" })) " (" (list.len()) ")" }
                @if list.is_empty() && p.notes.is_empty() { p { (t(lang, "no_clip")) } }
                @else if !list.is_empty() { (clips_table(lang, list)) }
                @if !p.form.q.trim().is_empty() { p.note { (t(lang, "broad_prefix")) } }
            },
        }
        p.note { (t(lang, "times_in")) }
        (board(lang, p.stations, p.configured))
    };
    layout(v, "packwitness", body)
}

/// Orders scanned while no camera recorded, and gaps in an order's video.
pub fn notes_list(lang: Lang, notes: &Notes) -> Markup {
    html! {
        @for n in &notes.no_video {
            p.bad {
                b { (t(lang, "no_video")) } " " a href={ "/order/" (url_escape(&n.order)) } { (n.order) } ": " (show_time(&n.scanned_at)) " " (n.station)
                " · " (t(lang, "reason")) ": " (n.reason)
            }
        }
        @for g in &notes.gaps {
            p.bad {
                (t(lang, "gap")) " " (g.camera) ": " (show_time(&g.from)) " – " (show_time(&g.to)) " · " (g.reason)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_escaped_in_urls_and_html() {
        assert_eq!(url_escape("SO-1/2 x"), "SO-1%2F2%20x");
        let form = SearchForm {
            q: "<b>".into(),
            ..Default::default()
        };
        let page = search_page(
            &Viewer {
                lang: Lang::Zh,
                user: None,
            },
            SearchPage {
                form: &form,
                stations: &[],
                configured: &["station-1".into()],
                found: Ok(Vec::new()),
                notes: Notes::default(),
            },
        );
        assert!(
            page.contains("&lt;b&gt;") && !page.contains("<b><"),
            "{page}"
        );
        assert!(page.contains("没有找到录像") && page.contains("lang=\"zh-CN\""));
        assert!(page.contains("type=\"search\""));
    }

    #[test]
    fn times_show_the_station_offset() {
        assert_eq!(
            show_time("2026-11-25T20:31:02.054+08:00"),
            "2026-11-25 20:31:02 UTC+08:00"
        );
        assert_eq!(show_time("junk"), "junk");
    }
}
