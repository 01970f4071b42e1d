//! HTTP(S) for RFC 3161 (section 3.4) and c2sp.org/tlog-witness: one POST and its answer,
//! through the program's one HTTPS client (`reqwest` with rustls, as the archive's uploader).
//!
//! Owns: checking an address (`http://` or `https://`, a host, a port) and reading an answer
//! of at most [`MAX_BODY`] bytes. Never: trusts the transport for what it carries (tokens and
//! cosignatures are signed and checked by their callers); TLS only adds privacy and
//! reachability.

use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

use super::AnchorError;

/// The largest answer read (a token with its certificate chain is a few kilobytes).
pub const MAX_BODY: usize = 1 << 20;

/// An `http(s)://host[:port]/path` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, AnchorError> {
        let bad = |what: &str| AnchorError::Config(format!("{url:?}: {what}"));
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("not an http:// or https:// address"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad("bad port"))?),
            None => (authority, if https { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Url {
            https,
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
}

/// The one client (connections are reused between requests).
fn client(url: &str) -> Result<&'static reqwest::blocking::Client, AnchorError> {
    static CLIENT: OnceLock<Result<reqwest::blocking::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::blocking::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| AnchorError::Http {
            url: url.to_string(),
            what: format!("cannot make an HTTPS client: {e}"),
        })
}

/// POSTs `body` and returns the answer's body when the status is 200.
pub fn post(
    url: &str,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, AnchorError> {
    let (status, got) = post_status(url, content_type, body, timeout)?;
    if status != 200 {
        return Err(AnchorError::Http {
            url: url.to_string(),
            what: format!(
                "answered {status}: {}",
                String::from_utf8_lossy(&got).trim()
            ),
        });
    }
    Ok(got)
}

/// POSTs `body`; returns the answer's status and body, whatever the status.
pub fn post_status(
    url: &str,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<(u16, Vec<u8>), AnchorError> {
    Url::parse(url)?;
    let err = |what: String| AnchorError::Http {
        url: url.to_string(),
        what,
    };
    let answer = client(url)?
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body.to_vec())
        .timeout(timeout)
        .send()
        .map_err(|e| {
            let why = if e.is_connect() {
                "cannot connect"
            } else if e.is_timeout() {
                "no answer in time"
            } else {
                "cannot send"
            };
            err(format!("{why}: {}", chain(&e)))
        })?;
    let status = answer.status().as_u16();
    let mut got = Vec::new();
    answer
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut got)
        .map_err(|e| err(format!("cannot read the answer: {e}")))?;
    if got.len() > MAX_BODY {
        return Err(err(format!("the answer is longer than {MAX_BODY} bytes")));
    }
    Ok((status, got))
}

/// An error with its causes (a refused connection says so only in a cause).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(&format!(": {c}"));
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let u = Url::parse("http://tsa.example:8080/ts").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.path.as_str()),
            (false, "tsa.example", 8080, "/ts")
        );
        assert_eq!(Url::parse("http://tsa.example").unwrap().path, "/");
        let s = Url::parse("https://tsa.example/").unwrap();
        assert_eq!((s.https, s.port), (true, 443));
        assert!(Url::parse("ftp://tsa.example/").is_err());
        assert!(Url::parse("http://:80/").is_err());
        assert!(Url::parse("http://tsa.example:x/").is_err());
    }

    #[test]
    fn a_server_that_is_not_there_is_named() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/ts");
        let e = post(
            &url,
            "application/timestamp-query",
            b"x",
            Duration::from_secs(5),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(&url) && e.to_lowercase().contains("connect"),
            "{e}"
        );
    }
}
