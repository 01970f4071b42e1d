//! The server's connections: at most [`MAX_CONNECTIONS`] at once and
//! `[server] max_connections_per_ip` from one address (more are closed as they come), and
//! a connection with no byte in either direction for `[server] idle_timeout_s` is closed, and
//! so is one whose request head (request line and headers) is not complete
//! `[server] header_timeout_s` after its first byte (a client that opens connections and
//! trickles its requests cannot hold the station's page hostage).

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

/// Where a connection is in its request, as far as the head's timeout cares.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Head {
    /// Between requests: no head timeout.
    Waiting,
    /// A request head is coming: the last bytes seen (to find its blank line across reads).
    Reading(u32),
    /// The head is complete: its body and its answer are the idle timeout's business.
    Read,
}

impl Head {
    /// After `bytes` were read.
    fn read(self, bytes: &[u8]) -> Head {
        let mut tail = match self {
            Head::Read => return Head::Read,
            Head::Waiting => 0u32,
            Head::Reading(t) => t,
        };
        for &b in bytes {
            tail = (tail << 8) | u32::from(b);
            if tail == u32::from_be_bytes(*b"\r\n\r\n") {
                return Head::Read;
            }
        }
        Head::Reading(tail)
    }
}

impl Guarded {
    fn progressed(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    fn read_bytes(&mut self, bytes: &[u8]) {
        let before = self.head;
        self.head = before.read(bytes);
        if before == Head::Waiting && self.head != Head::Read {
            self.head_deadline
                .as_mut()
                .reset(Instant::now() + self.header);
        }
    }

    /// A request whose head is still coming after the head timeout: an error.
    fn head_check(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if !matches!(self.head, Head::Reading(_)) {
            return Poll::Pending;
        }
        match self.head_deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request head was not complete in time",
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
}
