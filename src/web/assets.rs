//! The pages' scripts and styles, embedded in the binary (no build step, nothing fetched
//! from elsewhere), and the headers every page is sent with.
//!
//! Owns: `/assets/<name>` and the Content-Security-Policy of the pages (scripts and styles
//! from this server only; pictures also from `blob:`, for the live preview). Never: serves a
//! file from disk.

use axum::extract::Path as UrlPath;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// (name, content type, bytes).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "station.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/station.js"),
    ),
    (
        "station.css",
        "text/css; charset=utf-8",
        include_str!("assets/station.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
];

const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; media-src 'self'; \
style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
form-action 'self'; base-uri 'none'";

/// An embedded asset.
pub async fn asset(UrlPath(name): UrlPath<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("no asset {name:?} (assets: station.js, station.css, app.js, app.css)\n"),
        )
            .into_response(),
    }
}

/// A page, with the headers that keep it to this server's own scripts.
pub fn page(html: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}
