//! The writer's socket: how other processes reach the recorder of a data dir.
//!
//! Owns: `packwitness.sock` in the data dir (or its `/proc/self/fd` path when the data dir's
//! path is too long for a socket address), one JSON line per request and per answer: append
//! an `access` or `hold` record (then a checkpoint), write a checkpoint, or give the recording
//! process's typed status (`status::ProcessStatus`, the same value on both sides); the client
//! side of all three.
//! Never: appends anything but `access` and `hold` records for another process.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::status::ProcessStatus;
use super::writer::WriterHandle;
use crate::datadir::{self, SOCKET};
use crate::error::{Error, ErrorKind};
use crate::log::{Appender, Body, Record};

/// A request over the writer's socket: one JSON line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SocketRequest {
    /// Append this record (only `access` and `hold` are taken from other processes), then a
    /// checkpoint that covers it.
    Append(Box<Body>),
    /// Write a checkpoint now (if any record is not covered yet).
    Checkpoint,
    /// The recording process's status (`packwitness status`).
    Status,
}

/// The answer: one JSON line.
#[derive(Debug, Serialize, Deserialize)]
struct SocketReply {
    record: Option<Record>,
    /// The recording process's status, typed on both sides (`status::ProcessStatus`).
    #[serde(default)]
    status: Option<Box<ProcessStatus>>,
    error: Option<String>,
    /// `conflict`, `invalid`, ...: the error's kind.
    kind: Option<String>,
}

fn kind_name(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::NotFound => "not_found",
        ErrorKind::Invalid => "invalid",
        ErrorKind::Conflict => "conflict",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::Corrupt => "corrupt",
        ErrorKind::Io => "io",
        ErrorKind::Internal => "internal",
    }
}

fn kind_from_name(s: &str) -> ErrorKind {
    match s {
        "not_found" => ErrorKind::NotFound,
        "invalid" => ErrorKind::Invalid,
        "conflict" => ErrorKind::Conflict,
        "unavailable" => ErrorKind::Unavailable,
        "corrupt" => ErrorKind::Corrupt,
        "io" => ErrorKind::Io,
        _ => ErrorKind::Internal,
    }
}

/// The socket's address: its path in the data dir, or, when that path is too long for a
/// socket address (108 bytes), the same file reached through `/proc/self/fd` of an open
/// handle on the data dir.
struct SocketPath {
    path: PathBuf,
    _dir: Option<std::fs::File>,
}

fn socket_path(data_dir: &Path) -> Result<SocketPath, Error> {
    let full = data_dir.join(SOCKET);
    if full.as_os_str().len() < 100 {
        return Ok(SocketPath {
            path: full,
            _dir: None,
        });
    }
    let dir = std::fs::File::open(data_dir)?;
    use std::os::fd::AsRawFd;
    Ok(SocketPath {
        path: PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", dir.as_raw_fd())),
        _dir: Some(dir),
    })
}

/// Serves the writer's socket on a thread of its own.
pub(super) struct SocketServer {
    path: SocketPath,
    thread: Option<JoinHandle<()>>,
    stopping: Arc<Mutex<bool>>,
    /// The listening socket itself, to wake its accept loop at a stop without its path
    /// (which goes with a data disk that went away).
    listener: UnixListener,
}

impl SocketServer {
    pub(super) fn start(handle: &WriterHandle) -> Result<SocketServer, Error> {
        let path = socket_path(handle.data_dir())?;
        // We hold the writer lock: a socket file left by a dead recorder is stale.
        let _ = std::fs::remove_file(&path.path);
        let listener = UnixListener::bind(&path.path).map_err(|e| {
            Error::msg(
                ErrorKind::Io,
                format!(
                    "cannot open the writer socket {}: {e}",
                    handle.data_dir().join(SOCKET).display()
                ),
            )
        })?;
        let stopping = Arc::new(Mutex::new(false));
        let (h, stop) = (handle.clone(), stopping.clone());
        let kept = listener.try_clone().map_err(|e| {
            Error::msg(
                ErrorKind::Io,
                format!("cannot keep the writer socket {}: {e}", path.path.display()),
            )
        })?;
        let thread = std::thread::Builder::new()
            .name("writer-socket".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop.lock().map_or(true, |s| *s) {
                        break;
                    }
                    match conn {
                        Ok(stream) => {
                            let h = h.clone();
                            let _ = std::thread::Builder::new()
                                .name("writer-client".into())
                                .spawn(move || serve_client(stream, &h));
                        }
                        Err(e) => tracing::warn!(error = %e, "writer socket: a connection failed"),
                    }
                }
            })
            .map_err(|e| Error::internal(format!("cannot start the writer socket thread: {e}")))?;
        Ok(SocketServer {
            path,
            thread: Some(thread),
            stopping,
            listener: kept,
        })
    }

    pub(super) fn stop(mut self) {
        if let Ok(mut s) = self.stopping.lock() {
            *s = true;
        }
        // Wake the accept loop: shutting a listening socket down makes a blocked accept
        // return at once (Linux), whether or not its path still leads to it.
        use std::os::fd::AsRawFd;
        // SAFETY: shutdown(2) on a socket this struct owns.
        unsafe { libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR) };
        let _ = UnixStream::connect(&self.path.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path.path);
    }
}

fn serve_client(stream: UnixStream, h: &WriterHandle) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut line = String::new();
    let mut reader = BufReader::new(&stream);
    if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
        return;
    }
    let request = serde_json::from_str::<SocketRequest>(&line);
    if let Ok(SocketRequest::Status) = request {
        let status = h.status_now();
        return reply_line(
            &stream,
            SocketReply {
                record: None,
                error: status
                    .is_none()
                    .then(|| "this process keeps no status".to_string()),
                kind: status.is_none().then(|| "unavailable".to_string()),
                status: status.map(Box::new),
            },
        );
    }
    let answer = match request {
        Err(e) => Err(Error::invalid(format!("not a writer request: {e}"))),
        Ok(SocketRequest::Status) => Ok(None),
        Ok(SocketRequest::Append(body)) => match *body {
            body @ (Body::Access { .. } | Body::Hold { .. }) => h
                .append(body)
                .and_then(|rec| h.checkpoint().map(|_| Some(rec))),
            _ => Err(Error::invalid(
                "only access and hold records are taken from other processes",
            )),
        },
        Ok(SocketRequest::Checkpoint) => h.checkpoint(),
    };
    let reply = match answer {
        Ok(rec) => SocketReply {
            record: rec,
            status: None,
            error: None,
            kind: None,
        },
        Err(e) => SocketReply {
            record: None,
            status: None,
            error: Some(e.to_string()),
            kind: Some(kind_name(e.kind()).into()),
        },
    };
    reply_line(&stream, reply);
}

fn reply_line(stream: &UnixStream, reply: SocketReply) {
    if let Ok(mut text) = serde_json::to_string(&reply) {
        text.push('\n');
        let mut w = stream;
        let _ = w.write_all(text.as_bytes());
    }
}

/// Sends records to a recorder running in another process, through its socket.
pub(super) struct SocketAppender {
    pub(super) data_dir: PathBuf,
}

impl SocketAppender {
    fn call(&self, req: &SocketRequest) -> Result<Option<Record>, Error> {
        self.exchange(req).and_then(|r| match (r.record, r.error) {
            (_, Some(e)) => Err(Error::msg(
                kind_from_name(r.kind.as_deref().unwrap_or("")),
                e,
            )),
            (rec, None) => Ok(rec),
        })
    }

    fn exchange(&self, req: &SocketRequest) -> Result<SocketReply, Error> {
        let path = socket_path(&self.data_dir)?;
        let unavailable = |what: String| {
            Error::msg(
                ErrorKind::Unavailable,
                format!(
                    "data dir {}: a recording process holds it, but its writer socket {}: {what}; is it still running?",
                    self.data_dir.display(),
                    self.data_dir.join(SOCKET).display()
                ),
            )
        };
        let stream = UnixStream::connect(&path.path)
            .map_err(|e| unavailable(format!("cannot connect ({e})")))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let mut text = serde_json::to_string(req).map_err(|e| Error::internal(e.to_string()))?;
        text.push('\n');
        (&stream)
            .write_all(text.as_bytes())
            .map_err(|e| unavailable(format!("cannot send ({e})")))?;
        let mut line = String::new();
        BufReader::new(&stream)
            .read_line(&mut line)
            .map_err(|e| unavailable(format!("no answer ({e})")))?;
        serde_json::from_str(&line).map_err(|e| unavailable(format!("a bad answer ({e})")))
    }
}

/// The status of the recorder running on a data dir, asked over its socket. An error of kind
/// `unavailable` when no recorder runs there.
pub fn recorder_status(data_dir: &Path) -> Result<ProcessStatus, Error> {
    if !datadir::writer_running(data_dir) {
        return Err(Error::msg(
            ErrorKind::Unavailable,
            format!("no recorder is running on {}", data_dir.display()),
        ));
    }
    let reply = SocketAppender {
        data_dir: data_dir.to_owned(),
    }
    .exchange(&SocketRequest::Status)?;
    match (reply.status, reply.error) {
        (Some(s), _) => Ok(*s),
        (None, e) => Err(Error::msg(
            ErrorKind::Unavailable,
            format!(
                "the process recording {} gave no status: {}",
                data_dir.display(),
                e.unwrap_or_default()
            ),
        )),
    }
}

impl Appender for SocketAppender {
    fn append(&self, body: Body) -> Result<Record, Error> {
        self.call(&SocketRequest::Append(Box::new(body)))?
            .ok_or_else(|| Error::internal("the recorder answered without the record"))
    }

    fn checkpoint(&self) -> Result<Option<Record>, Error> {
        self.call(&SocketRequest::Checkpoint)
    }
}
