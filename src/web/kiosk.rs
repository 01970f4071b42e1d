//! The station screen as a kiosk: the page a screen without access is shown, and the
//! pairing that gives it access (`POST /pair`: a one-time code from `packwitness screen pair`
//! traded for the `pw_screen` credential).
//!
//! Owns: the pairing page (large type, the screen's language, why the screen cannot show
//! the station and the one thing to do, the code's form) and the trade itself, rate-limited
//! like logins. Never: shows anything of the station to a screen without access, or says
//! anything of the cameras (a screen that cannot show the station is not a camera fault).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, DOCTYPE};
use serde::Deserialize;

use super::auth::Unpaired;
use super::i18n::{self, Lang};
use super::Shared;

/// The page a station screen without access is shown (401), or `None` when `station` is
/// not one of this config's (the caller's own answer stands then).
pub(super) fn unpaired_page(
    shared: &Shared,
    headers: &HeaderMap,
    station: &str,
    why: Unpaired,
) -> Option<Response> {
    shared.config().station(station)?;
    let lang = i18n::pick(&i18n::LangQuery::default(), headers);
    let status = match why {
        Unpaired::TooMany => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::UNAUTHORIZED,
    };
    Some((status, page(lang, station, why)).into_response())
}

fn page(lang: Lang, station: &str, why: Unpaired) -> Response {
    let key = match why {
        Unpaired::NotPaired => "pair_not_paired",
        Unpaired::Revoked => "pair_revoked",
        Unpaired::LoggedOut => "pair_logged_out",
        Unpaired::WrongCode => "pair_wrong_code",
        Unpaired::TooMany => "pair_too_many",
    };
    let title = i18n::t(lang, key).replace("{id}", station);
    let ask = i18n::t(lang, "pair_ask").replace("{id}", station);
    let body = html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (station) " · packwitness" }
                link rel="stylesheet" href="/assets/station.css";
            }
            body.screen.unpaired data-why=(format!("{why:?}")) {
                header.bar { span.station { (station) } }
                main.pairing {
                    h1 #unpaired { (title) }
                    p.calm { (i18n::t(lang, "pair_not_camera")) }
                    p { (ask) }
                    form method="post" action="/pair" {
                        input type="hidden" name="station" value=(station);
                        input #code type="text" name="code" inputmode="numeric" autocomplete="off"
                            placeholder="1234-5678" maxlength="20" required autofocus;
                        button type="submit" { (i18n::t(lang, "pair_button")) }
                    }
                    p.small { a href="/login" { (i18n::t(lang, "pair_or_login")) } }
                }
            }
        }
    };
    super::assets::page(body.into_string())
}

#[derive(Deserialize)]
pub(super) struct PairForm {
    station: String,
    code: String,
}

/// `POST /pair`: a code typed on a station's screen. Right, the browser gets the screen's
/// credential and goes to the station's screen; wrong, the page again, saying so.
pub(super) async fn pair(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<PairForm>,
) -> Response {
    let ip = peer.ip();
    let refused = |why| {
        unpaired_page(&shared, &headers, &f.station, why).unwrap_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                format!("no station {:?} in this config\n", f.station),
            )
                .into_response()
        })
    };
    if shared.config().station(&f.station).is_none() {
        return refused(Unpaired::NotPaired);
    }
    if shared.sessions.locked_out(ip) {
        tracing::warn!(%ip, "pairing refused: too many wrong codes from this address");
        return refused(Unpaired::TooMany);
    }
    let now = shared.deps.clock.now().timestamp();
    let (s, station, code) = (shared.clone(), f.station.clone(), f.code.clone());
    let traded = tokio::task::spawn_blocking(move || {
        super::screens::redeem(s.data_dir(), &station, &code, now)
    })
    .await;
    match traded {
        Ok(Ok(Some((screen, credential)))) => {
            tracing::info!(screen = %screen.id, station = %screen.station, %ip, "a station screen was paired");
            let to = format!("/station/{}", screen.station);
            let mut res = Redirect::to(&to).into_response();
            let secure = super::auth::behind_tls(&headers, peer);
            if let Some(c) = super::auth::screen_cookie(&credential, secure) {
                res.headers_mut().insert(header::SET_COOKIE, c);
            }
            res
        }
        Ok(Ok(None)) => {
            shared.sessions.failed(ip);
            tracing::warn!(%ip, station = %f.station, "a wrong or expired pairing code");
            refused(Unpaired::WrongCode)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot pair a station screen");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot pair this screen: {e}\n"),
            )
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}
