//! What every request passes before a handler: the `Host` it names must be this server's
//! (no DNS rebinding), and a request that changes something must not come from another
//! site's page (no cross-site request forgery).
//!
//! Owns: the Host check (an IP literal, `localhost`, or a name of `[server] hosts`) and the
//! cross-site check of state-changing requests, and of GETs that record or build something
//! (`/clips/...`, `/export/...`), by `Sec-Fetch-Site` and `Origin` against the Host (a client
//! that sends neither, `curl` or a WMS, is not a browser page).

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// The host part of a `Host` header or an origin's authority (`[v6]:port`, `name:port`).
fn host_of(authority: &str) -> &str {
    let a = authority.trim();
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    a.rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(a, |(h, _)| h)
}

/// Is `host` one this server answers to?
pub fn host_allowed(host: &str, names: &[String]) -> bool {
    let h = host_of(host).trim_end_matches('.').to_ascii_lowercase();
    h.parse::<std::net::IpAddr>().is_ok()
        || h == "localhost"
        || names.iter().any(|n| n.trim().eq_ignore_ascii_case(&h))
}

/// Why a request is refused before its handler, if it is.
pub fn refuse(req: &Request, names: &[String]) -> Option<Response> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host, names) {
        return Some(
            (
                StatusCode::MISDIRECTED_REQUEST,
                format!("Host {host:?} is not a name this station answers to; add it to [server] hosts\n"),
            )
                .into_response(),
        );
    }
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // A GET that records or builds something (a viewing of a clip, a download, a bundle with
    // its access record) is a change too: another site's page may not make one happen.
    let path = req.uri().path();
    let records = *req.method() == Method::GET
        && (path.starts_with("/export/")
            || path.starts_with("/clips/")
            || path.ends_with("/upload.mp4")
            || (path.starts_with("/s/")
                && (path.contains("/clips/") || path.ends_with("/bundle"))));
    if !changes && !records {
        return None;
    }
    let site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let cross_site = matches!(site, Some(s) if s != "same-origin" && s != "none")
        || origin.is_some_and(|o| {
            let authority = o.split_once("://").map_or(o, |(_, a)| a);
            o == "null" || !authority.eq_ignore_ascii_case(host.trim())
        });
    cross_site.then(|| {
        (
            StatusCode::FORBIDDEN,
            "a request from another site's page may not change anything here\n",
        )
            .into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, host: &str, extra: &[(&str, &str)]) -> Request {
        req_to(method, "/x", host, extra)
    }

    fn req_to(method: &str, uri: &str, host: &str, extra: &[(&str, &str)]) -> Request {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", host);
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn hosts_and_sites() {
        let names = vec!["pack-1.warehouse.lan".to_string()];
        for ok in [
            "127.0.0.1:8088",
            "localhost:8088",
            "[::1]:8088",
            "10.0.0.5",
            "PACK-1.warehouse.lan:80",
        ] {
            assert!(refuse(&req("GET", ok, &[]), &names).is_none(), "{ok}");
        }
        // DNS rebinding: the attacker's name resolves to the station, the Host says so.
        let r = refuse(&req("GET", "evil.example:8088", &[]), &names).unwrap();
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
        // A cross-site form or fetch POST is refused; the same page, or curl, is not.
        let cross = [
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ];
        for h in [&cross[..1], &cross[1..]] {
            let r = refuse(&req("POST", "127.0.0.1:8088", h), &names).unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN);
        }
        let same = [
            ("origin", "http://127.0.0.1:8088"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert!(refuse(&req("POST", "127.0.0.1:8088", &same), &names).is_none());
        assert!(refuse(&req("POST", "127.0.0.1:8088", &[]), &names).is_none());
        assert!(refuse(
            &req("POST", "127.0.0.1:8088", &[("origin", "null")]),
            &names
        )
        .is_some());
    }

    /// Issue 20: a GET that records a viewing, a download or builds a bundle is refused from
    /// another site's page (an <img>, <video> or link there), never from the page itself or a
    /// typed address; other GETs are not.
    #[test]
    fn cross_site_gets_that_record_are_refused() {
        let names = Vec::new();
        let host = "127.0.0.1:8088";
        for uri in [
            "/export/ORDER-1",
            "/clips/7",
            "/clips/7/download",
            "/clips/7/still/first",
        ] {
            for h in [
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://evil.example"),
            ] {
                let r = refuse(&req_to("GET", uri, host, &[h]), &names).expect(uri);
                assert_eq!(r.status(), StatusCode::FORBIDDEN, "{uri}");
            }
            for h in [
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-site", "none"),
            ] {
                assert!(
                    refuse(&req_to("GET", uri, host, &[h]), &names).is_none(),
                    "{uri}"
                );
            }
            assert!(
                refuse(&req_to("GET", uri, host, &[]), &names).is_none(),
                "{uri}"
            );
        }
        let page = [("sec-fetch-site", "cross-site")];
        assert!(refuse(&req_to("GET", "/order/ORDER-1", host, &page), &names).is_none());
        assert!(refuse(&req_to("HEAD", "/export/ORDER-1", host, &page), &names).is_none());
    }
}
