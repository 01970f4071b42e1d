//! A minimal HTTP/1.1 client for RFC 3161 over HTTP (section 3.4): one POST, `Connection:
//! close`, a body read to its `Content-Length`, chunked, or to the end.
//!
//! Owns: `http://` only. A TSA behind TLS is reached through a local proxy or its plain HTTP
//! address (the token is signed: transport security adds nothing to what is checked).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::AnchorError;

/// The largest answer read (a token with its certificate chain is a few kilobytes).
const MAX_BODY: usize = 1 << 20;

/// An `http://host[:port]/path` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, AnchorError> {
        let bad = |what: &str| AnchorError::Config(format!("tsa {url:?}: {what}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// TSA addresses are supported (RFC 3161 over HTTP; the token is signed)"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad("bad port"))?),
            None => (authority, 80),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Url {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
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
    let u = Url::parse(url)?;
    let err = |what: String| AnchorError::Http {
        url: url.to_string(),
        what,
    };
    let addr = (u.host.as_str(), u.port)
        .to_socket_addrs()
        .map_err(|e| err(format!("cannot resolve {}: {e}", u.host)))?
        .next()
        .ok_or_else(|| err(format!("{} has no address", u.host)))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| err(format!("cannot connect: {e}")))?;
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .map_err(|e| err(e.to_string()))?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        u.path,
        u.host,
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(body))
        .map_err(|e| err(format!("cannot send: {e}")))?;
    let mut got = Vec::new();
    s.take(MAX_BODY as u64 + 16 * 1024)
        .read_to_end(&mut got)
        .map_err(|e| err(format!("cannot read the answer: {e}")))?;
    parse_response(&got).map_err(err)
}

/// The status and body of an answer.
fn parse_response(got: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer has no complete header")?;
    let head = String::from_utf8_lossy(&got[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {status:?}"))?;
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = v.trim().parse::<usize>().ok(),
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let rest = &got[end + 4..];
    if chunked {
        return dechunk(rest).map(|b| (code, b));
    }
    match length {
        Some(n) if n <= rest.len() && n <= MAX_BODY => Ok((code, rest[..n].to_vec())),
        Some(n) => Err(format!(
            "the answer was cut short ({} of {n} bytes)",
            rest.len()
        )),
        None => Ok((code, rest.to_vec())),
    }
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let i = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a bad chunk")?;
        let size_text = String::from_utf8_lossy(&rest[..i]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "a bad chunk size")?;
        rest = &rest[i + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 || out.len() + size > MAX_BODY {
            return Err("the answer was cut short".into());
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_answers() {
        let u = Url::parse("http://tsa.example:8080/ts").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("tsa.example", 8080, "/ts")
        );
        assert_eq!(Url::parse("http://tsa.example").unwrap().path, "/");
        assert!(Url::parse("https://tsa.example/").is_err());
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef";
        assert_eq!(parse_response(ok).unwrap(), (200, b"abc".to_vec()));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (200, b"abcde".to_vec()));
        let conflict = b"HTTP/1.1 409 Conflict\r\nContent-Length: 3\r\n\r\n12\n";
        assert_eq!(parse_response(conflict).unwrap(), (409, b"12\n".to_vec()));
        assert!(parse_response(b"HTTP/1.1 5xx Oops\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab").is_err());
    }
}
