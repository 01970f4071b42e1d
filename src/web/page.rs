//! The station's web page, rendered with maud (every value escaped by default).

use maud::{html, Markup, DOCTYPE};

use super::StationStatus;
use crate::error::Error;
use crate::index::{Found, Notes};

const STYLE: &str =
    "body{font-family:sans-serif;margin:1.5em;max-width:70em}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.bad{color:#b00}.ok{color:#070}\
input,button{font-size:1.1em}video{max-width:100%}";

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

fn stations_table(stations: &[StationStatus]) -> Markup {
    html! {
        h2 { "Stations" }
        table {
            tr { th { "station" } th { "cameras" } th { "recording" } th { "operator" } th { "last scan" } }
            @for s in stations {
                tr {
                    td { (s.id) }
                    td {
                        @if let Some(h) = &s.health {
                            @for c in &h.cameras {
                                @let live = c.state == crate::recorder::health::CameraState::Live;
                                span class=(if live { "ok" } else { "bad" }) {
                                    (c.camera) " " (c.state.as_str())
                                    @if live { " " (format!("{:.0} fps", c.fps)) }
                                    @if let Some(r) = &c.reason { " (" (r) ")" }
                                }
                                br;
                            }
                        } @else {
                            (s.cameras.join(", "))
                        }
                        @if !s.running { " " b { "(a camera stopped)" } }
                    }
                    td {
                        @if let Some(why) = s.health.as_ref().and_then(|h| h.not_recording.as_ref()) {
                            b class="bad" { "NOT RECORDING " (s.order.as_deref().unwrap_or("")) }
                            br;
                            span class="bad" { (why) }
                        } @else {
                            @match (&s.order, s.box_no) {
                                (Some(o), Some(b)) if b > 1 => { "REC " (o) " box " (b) }
                                (Some(o), _) => { "REC " (o) }
                                _ => "idle",
                            }
                        }
                    }
                    td { (s.operator.as_deref().unwrap_or("")) }
                    td {
                        @if let Some((c, a, t)) = &s.last_scan { (c) " " (a) " at " (t) }
                    }
                }
            }
        }
    }
}

fn order_label(f: &Found) -> String {
    let c = &f.clip;
    match (c.box_no, c.part) {
        (1, 1) => c.order.clone(),
        (b, 1) => format!("{} box {b}", c.order),
        (1, p) => format!("{} part {p}", c.order),
        (b, p) => format!("{} box {b} part {p}", c.order),
    }
}

/// Orders scanned while no camera recorded, and gaps in an order's video.
fn notes_list(notes: &Notes) -> Markup {
    html! {
        @for n in &notes.no_video {
            p class="bad" {
                b { "NO VIDEO" } " for " (n.order) ": scanned at " (n.scanned_at) " on " (n.station)
                " while no camera recorded: " (n.reason)
            }
        }
        @for g in &notes.gaps {
            p class="bad" {
                "Nothing recorded by " (g.camera) " from " (g.from) " to " (g.to) ": " (g.reason)
            }
        }
    }
}

fn results(code: &str, list: &[Found], tq: &str) -> Markup {
    html! {
        p {
            (list.len()) " clip(s) for " b { (code) } " · "
            a href={ "/export/" (url_escape(code)) (tq) } { "download the evidence bundle" }
            " (clips, signed records and proofs; checkable offline with " code { "packwitness verify-bundle" }
            " or its " code { "verify.sh" } "; the download is recorded)"
        }
        table {
            tr { th { "order" } th { "station / camera" } th { "started" } th { "length" } th { "sealed" } th { "codes" } th { "file" } }
            @for f in list {
                @let c = &f.clip;
                tr {
                    td { (order_label(f)) }
                    td {
                        (c.station) " / " (c.camera)
                        @if c.test_pattern { br; b class="bad" { "TEST PATTERN: not evidence" } }
                    }
                    td { (c.started_at) }
                    td { @if let Some(ms) = c.duration_ms { (format!("{:.1} s", ms as f64 / 1000.0)) } }
                    td { (c.reason.as_deref().unwrap_or("recording")) }
                    td { (c.codes.join(" ")) }
                    td {
                        @if f.file_status == "ok" {
                            // preload="none": nothing is fetched (or recorded as a view) until Play.
                            video controls preload="none" width="320" src={ "/clips/" (c.clip) (tq) } {}
                            br;
                            a href={ "/clips/" (c.clip) (tq) } { "open" }
                            " "
                            span class="ok" { "present, size as recorded" }
                        } @else {
                            span class="bad" { (f.file_status) " " (f.file_detail.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

/// The whole page: the stations of this process, a search form, and the clips found.
pub fn render(
    stations: &[StationStatus],
    code: &str,
    found: Option<Result<(Vec<Found>, Notes), Error>>,
    token: &str,
) -> String {
    let tq = if token.is_empty() {
        String::new()
    } else {
        format!("?token={}", url_escape(token))
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // The station table is live: without a search, the page reloads itself.
                @if found.is_none() && !stations.is_empty() { meta http-equiv="refresh" content="5"; }
                title { "packwitness" }
                style { (STYLE) }
            }
            body {
                h1 { "packwitness" }
                @if !stations.is_empty() { (stations_table(stations)) }
                h2 { "Find an order" }
                form method="get" action="/" {
                    input name="code" value=(code) placeholder="order or tracking number" autofocus size="40";
                    @if !token.is_empty() { input type="hidden" name="token" value=(token); }
                    button { "Look up" }
                }
                @match &found {
                    None => {}
                    Some(Err(e)) => p class="bad" { (e.to_string()) },
                    Some(Ok((list, notes))) if list.is_empty() && notes.is_empty() => p {
                        "No clip for " b { (code) } ". Check the code, or try the order number instead of the waybill."
                    },
                    Some(Ok((list, notes))) => {
                        (notes_list(notes))
                        @if !list.is_empty() { (results(code, list, &tq)) }
                    },
                }
            }
        }
    };
    page.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_escaped_in_urls_and_html() {
        assert_eq!(url_escape("SO-1/2 x"), "SO-1%2F2%20x");
        let page = render(&[], "<b>", Some(Ok((Vec::new(), Notes::default()))), "");
        assert!(
            page.contains("&lt;b&gt;") && !page.contains("<b><"),
            "{page}"
        );
    }
}
