//! `packwitness witness`: a c2sp.org/tlog-witness server for station logs (see
//! [`crate::anchor::witness`]), over HTTP: `POST /add-checkpoint`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::anchor::witness::Witness;
use crate::error::{Error, ErrorKind};

/// Connections from one address at once (a station needs one).
const WITNESS_PER_IP: usize = 8;

/// The largest request taken (an old size, 63 hashes and a checkpoint with a few signatures).
const MAX_REQUEST: usize = 16 * 1024;

async fn add_checkpoint(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not UTF-8\n").into_response();
    };
    let now = chrono::Utc::now().timestamp().max(1) as u64;
    let a = w.add_checkpoint(text, now);
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, a.content_type)], a.body).into_response()
}

/// Serves the witness of `dir` on `listen` until SIGINT/SIGTERM; `ready` is told its
/// verifier key and address once it listens.
pub fn serve(
    listen: &str,
    witness: Witness,
    ready: impl FnOnce(&str, SocketAddr),
) -> Result<(), Error> {
    let bad = |what: String| {
        Error::msg(
            ErrorKind::Unavailable,
            format!("witness on {listen}: {what}"),
        )
    };
    let (std_listener, addr) = crate::web::bind(listen, "127.0.0.1:8089").map_err(bad)?;
    let key = witness.verifier();
    let app = axum::Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_REQUEST))
        .with_state(Arc::new(witness));
    let runtime = crate::web::runtime("witness").map_err(bad)?;
    // Open to the internet: the same caps and timeouts as the station's server.
    super::serve_until_signal(
        &runtime,
        std_listener,
        app,
        super::Caps {
            per_ip: WITNESS_PER_IP,
            idle: std::time::Duration::from_secs(30),
            request: std::time::Duration::from_secs(10),
        },
        &format!("witness on {listen}"),
        || ready(&key, addr),
    )
}

/// Opens the witness of `dir` (creating its key named `name` the first time).
pub fn open(dir: &Path, name: &str) -> Result<Witness, Error> {
    Witness::open(dir, name).map_err(|e| Error::msg(ErrorKind::Invalid, e.to_string()))
}
