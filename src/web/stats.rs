//! The statistics page (`/stats`): the numbers of `packwitness stats` for a range of days, in
//! the page's language, for a lead or customer service.
//!
//! Owns: the page's form (from, to: the stations' dates) and its tables (one row a day,
//! station and packer; the orders without video with why). Never: computes a number itself
//! ([`crate::index::stats`] does) or shows anything but counts, times and order codes an
//! account may already search for.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::i18n::t;
use super::page::{layout, Viewer};
use super::search::{language, with_cookie};
use super::{auth, Failure, Shared};

#[derive(Debug, Default, Deserialize)]
pub(super) struct Range {
    /// `YYYY-MM-DD` (default: six days before `to`).
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`, included (default: today).
    #[serde(default)]
    to: String,
    lang: Option<String>,
}

pub(super) async fn stats_page(
    State(shared): State<Arc<Shared>>,
    Query(asked): Query<Range>,
    req: Request,
) -> Result<Response, Failure> {
    let (lang, cookie) = language(&req, asked.lang.clone());
    let user = req.extensions().get::<auth::WebUser>().cloned();
    let today = shared.deps.clock.now().date_naive();
    let to = chrono::NaiveDate::parse_from_str(asked.to.trim(), "%Y-%m-%d").unwrap_or(today);
    let from = chrono::NaiveDate::parse_from_str(asked.from.trim(), "%Y-%m-%d")
        .unwrap_or(to - chrono::Duration::days(6));
    let (from_s, to_s) = (
        from.format("%Y-%m-%d").to_string(),
        to.format("%Y-%m-%d").to_string(),
    );
    let range = crate::clock::parse_local_time(&from_s, false)
        .and_then(|a| Ok((a, crate::clock::parse_local_time(&to_s, true)?)));
    let s = shared.clone();
    let found = tokio::task::spawn_blocking(move || match range {
        Ok((a, b)) => crate::index::stats(s.data_dir(), a, b).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    })
    .await
    .map_err(|e| Failure(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let secs = |v: Option<f64>| v.map_or("–".to_string(), |s| format!("{s:.0}"));
    let body = html! {
        h1 { (t(lang, "stats")) }
        form.filters method="get" action="/stats" {
            label { (t(lang, "from")) " " input type="date" name="from" value=(from_s); }
            label { (t(lang, "to")) " " input type="date" name="to" value=(to_s); }
            button type="submit" { (t(lang, "show")) }
        }
        @match &found {
            Err(e) => p.bad { (e) },
            Ok(st) if st.rows.is_empty() => p { (t(lang, "stats_none")) },
            Ok(st) => {
                div.scroll {
                    table #stats {
                        thead { tr {
                            th { (t(lang, "day")) } th { (t(lang, "station")) } th { (t(lang, "operator_col")) }
                            th { (t(lang, "orders")) } th { (t(lang, "boxes")) } th { (t(lang, "no_video")) }
                            th { (t(lang, "not_sealed")) } th { (t(lang, "interrupted")) }
                            th { (t(lang, "packing_time")) } th { "MB" }
                        } }
                        tbody {
                            @for r in &st.rows {
                                tr {
                                    td { (r.day) } td { (r.station) }
                                    td { @if r.packer.is_empty() { "–" } @else { (r.packer) } }
                                    td.n { (r.orders) } td.n { (r.boxes) }
                                    td.n.bad[r.no_video > 0] { (r.no_video) }
                                    td.n { (r.not_sealed) } td.n.bad[r.interrupted > 0] { (r.interrupted) }
                                    td.n { (secs(r.packing_median_s)) " / " (secs(r.packing_p90_s)) }
                                    td.n { (format!("{:.1}", r.bytes as f64 / 1e6)) }
                                }
                            }
                        }
                    }
                }
                p.note { (t(lang, "stats_note")) }
                @if !st.no_video.is_empty() {
                    h2 { (t(lang, "no_video")) }
                    ul.notes {
                        @for n in &st.no_video {
                            li { a href={ "/order/" (super::page::url_escape(&n.order)) } { (n.order) }
                                 " · " (super::page::show_time(&n.scanned_at)) " · " (n.station) ": " (n.why) }
                        }
                    }
                }
            },
        }
    };
    let viewer = Viewer {
        lang,
        user: user.as_ref().filter(|u| u.1).map(|u| u.0.as_str()),
    };
    Ok(with_cookie(
        super::assets::page(layout(&viewer, t(lang, "stats"), body)),
        cookie,
    ))
}
