//! The server's connections: at most [`MAX_CONNECTIONS`] at once and
//! `[server] max_connections_per_ip` from one address (more are closed as they come), and
//! a connection with no byte in either direction for `[server] idle_timeout_s` is closed, and
//! so is one whose whole request (request line, headers and a `Content-Length` body) is not
//! in `[server] header_timeout_s` after its first byte (a client that opens connections and
//! trickles its requests, head or body, cannot hold the station's page hostage). A chunked
//! body is held to the same time until the answer starts.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Binds `listen` now (so a taken port is an error at once, not later), non-blocking, for a
/// server's runtime; `example` is an address to show when `listen` is not one. The error
/// says what failed, for the caller to name its server.
pub fn bind(listen: &str, example: &str) -> Result<(std::net::TcpListener, SocketAddr), String> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| format!("not an address:port such as {example}"))?;
    let l = std::net::TcpListener::bind(addr)
        .map_err(|e| format!("cannot listen: {e} (is another program using the port?)"))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("cannot set up the socket: {e}"))?;
    let addr = l
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    Ok((l, addr))
}

/// The runtime a server runs on: two threads named `name`.
pub fn runtime(name: &str) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP runtime: {e}"))
}

/// Connections served at once, from all addresses.
pub const MAX_CONNECTIONS: usize = 256;

/// A listener that caps connections and closes idle ones.
pub struct Capped {
    inner: TcpListener,
    total: Arc<Semaphore>,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    max_per_ip: usize,
    idle: Duration,
    header: Duration,
}

impl Capped {
    pub fn new(inner: TcpListener, max_per_ip: usize, idle: Duration, header: Duration) -> Capped {
        Capped {
            inner,
            total: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            per_ip: Arc::default(),
            max_per_ip: max_per_ip.max(1),
            idle,
            header,
        }
    }
}

impl axum::serve::Listener for Capped {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        loop {
            let Ok(permit) = self.total.clone().acquire_owned().await else {
                // The semaphore is never closed; should it be, stop taking connections.
                std::future::pending::<()>().await;
                continue;
            };
            let (stream, addr) = match self.inner.accept().await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let ip = addr.ip();
            {
                let mut m = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
                let n = m.entry(ip).or_insert(0);
                if *n >= self.max_per_ip {
                    tracing::warn!(%ip, max = self.max_per_ip, "too many connections from one address; closing the newest");
                    continue;
                }
                *n += 1;
            }
            let guarded = Guarded {
                io: stream,
                _permit: permit,
                ip,
                per_ip: self.per_ip.clone(),
                idle: self.idle,
                deadline: Box::pin(tokio::time::sleep(self.idle)),
                header: self.header,
                head: Head::Waiting,
                head_deadline: Box::pin(tokio::time::sleep(self.header)),
            };
            return (guarded, addr);
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection, counted while it is open, closed when idle.
pub struct Guarded {
    io: TcpStream,
    _permit: OwnedSemaphorePermit,
    ip: IpAddr,
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    header: Duration,
    head: Head,
    head_deadline: Pin<Box<Sleep>>,
}

/// Where a connection is in its request, as far as the request's timeout cares.
#[derive(Debug, Clone, PartialEq)]
enum Head {
    /// Between requests: no timeout but the idle one.
    Waiting,
    /// A request head is coming: its bytes so far (to find its end and its length).
    Reading(Vec<u8>),
    /// The head is in; this many body bytes are still to come (`None`: chunked, until the
    /// answer starts).
    Body(Option<u64>),
    /// The whole request is in: its answer is the idle timeout's business.
    Read,
}

/// A head longer than this is refused by the HTTP layer anyway: no more is kept.
const HEAD_MAX: usize = 64 * 1024;

/// The body length a complete request head announces: `Some(n)` for `Content-Length: n`
/// (0 without one), `None` for a chunked body.
fn body_length(head: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(head);
    let mut length = Some(0);
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            return None;
        }
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok().or(Some(0));
        }
    }
    length
}

impl Head {
    /// After `bytes` were read.
    fn read(self, bytes: &[u8]) -> Head {
        let mut head = match self {
            Head::Read => return Head::Read,
            Head::Body(None) => return Head::Body(None),
            Head::Body(Some(left)) => {
                let left = left.saturating_sub(bytes.len() as u64);
                return if left == 0 {
                    Head::Read
                } else {
                    Head::Body(Some(left))
                };
            }
            Head::Waiting => Vec::new(),
            Head::Reading(h) => h,
        };
        let before = head.len();
        let start = before.saturating_sub(3);
        head.extend_from_slice(&bytes[..bytes.len().min(HEAD_MAX.saturating_sub(before))]);
        let Some(end) = head[start..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| start + i + 4)
        else {
            return Head::Reading(head);
        };
        // Bytes of this read after the head's end are body bytes.
        let body_here = (before + bytes.len()).saturating_sub(end) as u64;
        match body_length(&head[..end]) {
            None => Head::Body(None),
            Some(n) if n > body_here => Head::Body(Some(n - body_here)),
            Some(_) => Head::Read,
        }
    }

    /// True while the request is still coming in (its timeout runs).
    fn incoming(&self) -> bool {
        matches!(self, Head::Reading(_) | Head::Body(_))
    }
}

impl Guarded {
    fn progressed(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    fn read_bytes(&mut self, bytes: &[u8]) {
        let waiting = self.head == Head::Waiting;
        self.head = std::mem::replace(&mut self.head, Head::Read).read(bytes);
        if waiting && self.head.incoming() {
            self.head_deadline
                .as_mut()
                .reset(Instant::now() + self.header);
        }
    }

    /// A request still coming in after the request timeout: an error.
    fn head_check(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if !self.head.incoming() {
            return Poll::Pending;
        }
        match self.head_deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request (head and body) was not complete in time",
            )),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A pending read or write: an error once the connection has been idle too long.
    fn idle_check(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection was idle too long",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let mut m = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.progressed();
                    let got = buf.filled()[before..].to_vec();
                    self.read_bytes(&got);
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                if let Poll::Ready(e) = self.head_check(cx) {
                    return Poll::Ready(Err(e));
                }
                self.idle_check(cx).map(Err)
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write(cx, data) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.progressed();
                    // An answer is going out: the next bytes read start a new request.
                    self.head = Head::Waiting;
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.idle_check(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::Head;

    #[test]
    fn a_head_ends_at_its_blank_line_across_reads() {
        let h = Head::Waiting.read(b"GET / HTTP/1.1\r\nHost: x\r");
        assert!(matches!(h, Head::Reading(_)));
        let h = h.read(b"\n\r");
        assert!(matches!(h, Head::Reading(_)));
        assert_eq!(h.read(b"\nbody"), Head::Read);
        assert_eq!(Head::Read.read(b"more body"), Head::Read);
        assert!(matches!(Head::Waiting.read(b"\r\n"), Head::Reading(_)));
    }

    /// Issue 20: the body counts as part of the request, so one trickled byte by byte stays
    /// "incoming" (under the request timeout) until its last byte.
    #[test]
    fn a_body_is_part_of_the_request_until_its_last_byte() {
        let h = Head::Waiting
            .read(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nname");
        assert_eq!(h, Head::Body(Some(6)));
        assert!(h.incoming());
        let h = h.read(b"=a&p");
        assert_eq!(h, Head::Body(Some(2)));
        assert_eq!(h.read(b"=b"), Head::Read);
        let chunked = Head::Waiting.read(b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!(chunked, Head::Body(None));
        assert!(chunked.read(b"5\r\nhello").incoming());
        assert!(!Head::Read.incoming() && !Head::Waiting.incoming());
    }
}
