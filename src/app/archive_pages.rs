//! The pages of the customer-service app served by the archive, rendered with maud (every
//! value escaped): the search page, an order's page and the board of every station. They
//! wear the station app's frame, styles, script (search as you type, the player's
//! controls) and words, in Chinese and English.
//!
//! Owns: how the archive's rows ([`FoundClip`], [`BoardRow`]) are shown. Never: reads the
//! database or the bucket, or decides who may see what ([`super::archive_app`] does).

use maud::{html, Markup};

use crate::archive::accounts::AccessRow;
use crate::archive::search::{BoardRow, FoundClip};
use crate::archive::shares::{self, Share};
use crate::web::i18n::{label, t, Lang};
use crate::web::page::{layout, show_datetime, show_time, url_escape, Viewer};
use crate::web::{share_panel, timeline_table, upload_form, Event, LinkRow};

/// What the search page shows.
pub struct SearchView<'a> {
    /// What was typed, the station and the station group asked for.
    pub q: &'a str,
    pub station: &'a str,
    pub group: &'a str,
    /// The station groups to choose from.
    pub groups: &'a [String],
    /// The clips found (the newest ones when nothing was typed).
    pub clips: &'a [FoundClip],
    /// Codes starting with what was typed, when it is no code of its own.
    pub codes: &'a [String],
    /// The account sees every station (the board is for it).
    pub every_station: bool,
}

/// A clip's length from its first to its last frame, `12.3 s`.
pub fn length(lang: Lang, c: &FoundClip) -> String {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    match (parse(&c.started_at), parse(&c.ended_at)) {
        (Some(a), Some(b)) if b >= a => format!(
            "{:.1} {}",
            (b - a).num_milliseconds() as f64 / 1000.0,
            t(lang, "seconds")
        ),
        _ => String::new(),
    }
}

fn order_link(code: &str) -> String {
    format!("/order/{}", url_escape(code))
}

fn clips_table(lang: Lang, clips: &[FoundClip]) -> Markup {
    html! {
        div.scroll { table.clips {
            thead { tr {
                th { (t(lang, "order")) } th { (t(lang, "station")) } th { (t(lang, "started")) }
                th { (t(lang, "length")) } th { (t(lang, "status")) }
            } }
            tbody { @for c in clips { tr {
                td.order { a href=(order_link(&c.order)) { (c.order) } }
                td { (c.station) " / " (c.camera) }
                td { (show_time(&c.started_at)) }
                td { (length(lang, c)) }
                td {
                    (t(lang, "sealed")) " (" (label(lang, "reason", &c.reason)) ")"
                    @if !c.archived { br; span.bad { (t(lang, "arc_on_its_way")) } }
                    @if c.held { br; b { (t(lang, "held")) } }
                }
            } } }
        } }
    }
}

/// The search page.
pub fn search_page(v: &Viewer<'_>, p: &SearchView<'_>) -> String {
    let lang = v.lang;
    let body = html! {
        form #search method="get" action="/" role="search" {
            div.searchbox {
                input #q type="search" name="q" value=(p.q) placeholder=(t(lang, "search_hint"))
                    autocomplete="off" autofocus aria-label=(t(lang, "search"));
                button type="submit" { (t(lang, "search")) }
                ul #suggest hidden {}
            }
            div.filters {
                label { (t(lang, "station")) " " input type="text" name="station" value=(p.station) size="10"; }
                @if !p.groups.is_empty() {
                    label { (t(lang, "arc_group")) " "
                        select name="group" {
                            option value="" { (t(lang, "any")) }
                            @for g in p.groups { option value=(g) selected[p.group == g.as_str()] { (g) } }
                        }
                    }
                }
            }
        }
        p.note { (t(lang, "arc_every_station")) }
        @if !p.codes.is_empty() {
            h2 { (t(lang, "arc_codes")) }
            ul.codes { @for c in p.codes { li { a href=(order_link(c)) { (c) } } } }
        }
        h2 { (t(lang, if p.q.is_empty() { "recent" } else { "results" })) " (" (p.clips.len()) ")" }
        @if p.clips.is_empty() && p.codes.is_empty() { p { (t(lang, "no_clip")) } }
        @if !p.clips.is_empty() { (clips_table(lang, p.clips)) }
        p.note { (t(lang, "times_in")) }
        @if p.every_station { p { a.button href="/board" { (t(lang, "arc_board")) } } }
    };
    layout(v, "packwitness", body)
}

/// What an order's page shows.
pub struct OrderView<'a> {
    pub code: &'a str,
    pub clips: &'a [FoundClip],
    /// The account may download and export.
    pub agent: bool,
    /// The order's records from the archived logs, or why they cannot be read now.
    pub events: &'a Result<Vec<Event>, String>,
    /// Who played, downloaded, exported or held it at the archive, newest first.
    pub accesses: &'a Result<Vec<AccessRow>, String>,
    /// `[upload.presets]`: (name, label).
    pub presets: &'a [(String, String)],
    /// The order's share links.
    pub shares: &'a [Share],
}

fn day_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    show_datetime(&t.with_timezone(&chrono::Local))
}

/// The order's links as the panel lists them.
fn link_rows(links: &[Share]) -> Vec<LinkRow> {
    let now = chrono::Utc::now();
    links
        .iter()
        .map(|l| LinkRow {
            id: l.id.clone(),
            created_by: l.created_by.clone(),
            created_at: l.created_at.timestamp(),
            expires_at: l.expires_at.timestamp(),
            state: shares::state(l, now),
            has_pin: l.has_pin(),
        })
        .collect()
}

/// The page a share link shows once made: its address, this once.
pub fn share_made_page(
    v: &Viewer<'_>,
    code: &str,
    link: &str,
    until: &chrono::DateTime<chrono::Utc>,
) -> String {
    let lang = v.lang;
    let body = html! {
        p { a href={ "/order/" (url_escape(code)) } { "← " (t(lang, "order")) " " (code) } }
        h1 { (t(lang, "share_made")) " " (code) }
        p { input #share-link type="text" readonly value=(link) size="60"; }
        p { (t(lang, "share_until")) " " (day_time(until)) }
        p.note { (t(lang, "share_once")) }
    };
    layout(v, t(lang, "share_made"), body)
}

/// What a share link opens: the one order, nothing else (no search, no other order, no
/// station's board, not who at the merchant looked at it).
pub fn shared_page(
    lang: Lang,
    token: &str,
    code: &str,
    clips: &[FoundClip],
    events: &Result<Vec<Event>, String>,
) -> String {
    let base = format!("/s/{token}");
    let mut logs: Vec<&str> = clips.iter().map(|c| c.log.as_str()).collect();
    logs.sort_unstable();
    logs.dedup();
    let body = html! {
        h1 { (t(lang, "order")) " " (code) }
        p.note { (t(lang, "shared_note")) }
        @for log in &logs {
            @if clips.iter().filter(|c| c.log == *log).all(|c| c.archived) {
                p { a.button.bundle href={ (base) "/bundle.zip?log=" (url_escape(log)) } {
                    (t(lang, "download_bundle")) @if logs.len() > 1 { " · " (log) }
                } }
            }
        }
        p.note { (t(lang, "shared_bundle")) }
        @for c in clips { (clip_section(lang, c, false, &base)) }
        @match events {
            Ok(events) => (timeline_table(lang, events)),
            Err(why) => p.bad { (t(lang, "timeline")) ": " (why) },
        }
    };
    crate::web::page::bare_layout(lang, code, body)
}

/// A share link's PIN form (`left`: tries left after a wrong one).
pub fn pin_page(lang: Lang, token: &str, left: Option<i32>) -> String {
    let left = left.map(|n| n.max(0) as u32);
    crate::web::page::bare_layout(lang, "packwitness", crate::web::pin_form(lang, token, left))
}

/// What a link that does not work shows (`state`: `expired`, `revoked`, `locked`; `None`: no
/// such link).
pub fn share_gone_page(lang: Lang, state: Option<&str>) -> String {
    let key = format!("share_gone_{}", state.unwrap_or("unknown"));
    crate::web::page::bare_layout(lang, "packwitness", html! { h1 { (t(lang, &key)) } })
}

fn access_table(lang: Lang, accesses: &Result<Vec<AccessRow>, String>) -> Markup {
    html! {
        h2 { (t(lang, "access")) }
        @match accesses {
            Err(why) => p.bad { (why) },
            Ok(rows) if rows.is_empty() => p { "-" },
            Ok(rows) => div.scroll { table.access {
                @for a in rows { tr {
                    td { (show_datetime(&a.at.with_timezone(&chrono::Local))) }
                    td { (label(lang, "action", &a.action)) }
                    td { (a.who) }
                    td { small { (t(lang, "arc_log")) " " code { (a.log) } " · " (a.clips.len()) } }
                    td.line { small { code { (a.node) } " #" (a.line) } }
                } }
            } },
        }
        p.note { (t(lang, "arc_access_note")) }
    }
}

/// A clip's section; its addresses under `base` (`""`, or a share link's `/s/TOKEN`).
fn clip_section(lang: Lang, c: &FoundClip, agent: bool, base: &str) -> Markup {
    html! {
        section.clip {
            h2 { (c.order) " · " (c.station) " / " (c.camera) }
            @if c.archived {
                // preload="none": nothing is fetched (or recorded as a view) until Play.
                div.player { video.big controls preload="none" src={ (base) "/clips/" (c.sha256) } {} }
                details.stills {
                    // Made (and recorded as a view) only when opened: lazy pictures in a
                    // closed <details> are not fetched.
                    summary { (t(lang, "stills")) }
                    img loading="lazy" alt="first frame" src={ (base) "/clips/" (c.sha256) "/still/first.jpg" };
                    img loading="lazy" alt="last frame" src={ (base) "/clips/" (c.sha256) "/still/last.jpg" };
                }
            } @else {
                p.bad { (t(lang, "arc_on_its_way")) }
            }
            dl {
                dt { (t(lang, "started")) } dd { (show_time(&c.started_at)) }
                dt { (t(lang, "length")) } dd { (length(lang, c)) }
                dt { (t(lang, "status")) } dd {
                    (t(lang, "sealed")) " (" (label(lang, "reason", &c.reason)) ")"
                    @if c.held { " · " b { (t(lang, "held")) } }
                }
                dt { "SHA-256" } dd { code.hash { (c.sha256) } }
                dt { (t(lang, "arc_log")) } dd { code { (c.log) } " · " (t(lang, "arc_line")) " " (c.clip) }
                @if c.archived { dt { (t(lang, "file")) } dd.ok { (t(lang, "arc_locked")) } }
            }
            @if c.archived && agent {
                p { a.button href={ "/clips/" (c.sha256) "/download" } { (t(lang, "download_mp4")) } }
            }
        }
    }
}

/// An order's page: its clips of every station the account sees, one bundle per station log.
pub fn order_page(v: &Viewer<'_>, o: &OrderView<'_>) -> String {
    let lang = v.lang;
    let mut logs: Vec<&str> = o.clips.iter().map(|c| c.log.as_str()).collect();
    logs.sort_unstable();
    logs.dedup();
    let body = html! {
        p { a href="/" { "← " (t(lang, "search")) } }
        h1 { (t(lang, "order")) " " (o.code) }
        @if o.clips.is_empty() { p { (t(lang, "no_clip")) } }
        @if o.agent && !o.clips.is_empty() {
            div.actions {
                @for log in &logs {
                    @let ready = o.clips.iter().filter(|c| c.log == *log).all(|c| c.archived);
                    @if ready {
                        a.button.bundle href={ "/order/" (url_escape(o.code)) "/bundle.zip?log=" (url_escape(log)) } {
                            (t(lang, "download_bundle")) @if logs.len() > 1 { " · " (log) }
                        }
                        " "
                    } @else {
                        p.note { (t(lang, "arc_bundle_wait")) }
                    }
                }
            }
            p.note { (t(lang, "arc_bundle_note")) }
            @for log in &logs {
                @if o.clips.iter().filter(|c| c.log == *log).all(|c| c.archived) {
                    (upload_form(lang, &format!("/order/{}/upload.mp4", url_escape(o.code)), &[("log", log)], o.presets))
                }
            }
            @let held = o.clips.iter().any(|c| c.held);
            form.inline.hold method="post" action={ "/order/" (url_escape(o.code)) "/hold" } {
                input type="hidden" name="release" value=(if held { "1" } else { "0" });
                button type="submit" { (t(lang, if held { "release" } else { "hold" })) }
            }
        }
        @if o.agent && !o.clips.is_empty() { (share_panel(lang, o.code, &link_rows(o.shares))) }
        @if o.agent && !o.clips.is_empty() { (crate::web::dispute::panel(lang, o.code)) }
        @for c in o.clips { (clip_section(lang, c, o.agent, "")) }
        (access_table(lang, o.accesses))
        @match o.events {
            Ok(events) => (timeline_table(lang, events)),
            Err(why) => p.bad { (t(lang, "timeline")) ": " (why) },
        }
        p.note { (t(lang, "arc_recorded")) }
    };
    layout(v, o.code, body)
}

/// The board of every station's log.
pub fn board_page(v: &Viewer<'_>, rows: &[BoardRow]) -> String {
    let lang = v.lang;
    let time = |t: &Option<String>| t.as_deref().map(show_time).unwrap_or_default();
    let body = html! {
        p { a href="/" { "← " (t(lang, "search")) } }
        h1 { (t(lang, "arc_board")) }
        div.scroll { table #archive-board {
            thead { tr {
                th { (t(lang, "arc_log")) } th { (t(lang, "station")) } th { (t(lang, "arc_pushed")) }
                th { (t(lang, "arc_last_seal")) } th { (t(lang, "arc_today")) } th { (t(lang, "arc_lag")) }
            } }
            tbody { @for r in rows { tr data-log=(r.log) {
                td { code { (r.log) } @if r.forked_at.is_some() { br; b.bad { (t(lang, "arc_forked")) " " (time(&r.forked_at)) } } }
                td { (r.last_station.as_deref().unwrap_or("")) }
                td { (time(&r.pushed_at)) }
                td { (time(&r.last_seal_at)) }
                td.today { (r.clips_today) }
                td.lag {
                    @if r.clips_pending == 0 { span.ok { (t(lang, "arc_caught_up")) } }
                    @else { b.bad { (r.clips_pending) " " (t(lang, "arc_waiting")) " " (time(&r.oldest_pending_at)) } }
                }
            } } }
        } }
        p.note { (t(lang, "arc_board_note")) }
    };
    layout(v, t(lang, "arc_board"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(order: &str, archived: bool) -> FoundClip {
        FoundClip {
            log: "packwitness.local/st-1/00aa".into(),
            station: "st-1".into(),
            camera: "cam-1".into(),
            order: order.into(),
            clip: 3,
            seal: 9,
            sha256: "ab".repeat(32),
            size: 1000,
            reason: "scan".into(),
            started_at: "2026-12-04T10:00:00.000+08:00".into(),
            ended_at: "2026-12-04T10:00:12.500+08:00".into(),
            archived,
            held: false,
        }
    }

    #[test]
    fn an_order_page_plays_from_the_archive_and_offers_a_bundle_only_when_every_clip_is_in() {
        let v = Viewer {
            lang: Lang::Zh,
            user: Some("alice"),
        };
        let clips = [clip("<SO-1>", true)];
        let page = order_page(
            &v,
            &OrderView {
                code: "<SO-1>",
                clips: &clips,
                agent: true,
                events: &Ok(Vec::new()),
                accesses: &Ok(Vec::new()),
                presets: &[],
                shares: &[],
            },
        );
        assert!(page.contains(&format!("src=\"/clips/{}\"", "ab".repeat(32))));
        assert!(page.contains("bundle.zip?log=packwitness.local%2Fst-1%2F00aa"));
        assert!(page.contains("&lt;SO-1&gt;") && !page.contains("<SO-1>"));
        assert!(page.contains("12.5 秒"), "{page}");
        let waiting = [clip("SO-2", false)];
        let page = order_page(
            &v,
            &OrderView {
                code: "SO-2",
                clips: &waiting,
                agent: true,
                events: &Err("the bucket cannot be read now".into()),
                accesses: &Ok(Vec::new()),
                presets: &[],
                shares: &[],
            },
        );
        assert!(!page.contains("bundle.zip") && !page.contains("<video"));
        assert!(page.contains("the bucket cannot be read now"), "{page}");
        let viewer = order_page(
            &v,
            &OrderView {
                code: "<SO-1>",
                clips: &clips,
                agent: false,
                events: &Ok(vec![Event::of_line(
                    3,
                    br#"{"at":"2026-12-04T10:00:00.000+08:00","kind":"clip_opened","order":"<SO-1>"}"#,
                )]),
                accesses: &Ok(vec![AccessRow {
                    node: "archive.test/access/00".into(),
                    line: 4,
                    at: chrono::Utc::now(),
                    action: "export".into(),
                    who: "alice".into(),
                    log: "packwitness.local/st-1/00aa".into(),
                    clips: vec![3],
                }]),
                presets: &[],
                shares: &[],
            },
        );
        assert!(!viewer.contains("bundle.zip") && !viewer.contains("/download"));
        assert!(
            viewer.contains("table class=\"timeline\"") && viewer.contains("#3"),
            "{viewer}"
        );
        assert!(
            viewer.contains("alice") && viewer.contains("archive.test/access/00"),
            "{viewer}"
        );
    }
}
