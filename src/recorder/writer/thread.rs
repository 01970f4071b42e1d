//! The writer thread: what cameras, stations, the web server and other processes send the
//! writer, group commit, and the handle they hold.
//!
//! Owns: the requests and their replies ([`WriterHandle`]), the thread's loop (every request
//! waiting is taken, their records written with one fsync, then the timer's work), the stop
//! (the last checkpoint), and [`open_appender`] for commands.
//! Never: writes a record itself: everything goes through [`Writer`].

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{MakeRecord, StatusFn, Writer, WriterStats};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::log::{Appender, Body, Record};
use crate::recorder::disk::DataDisk;
use crate::recorder::socket::{SocketAppender, SocketServer};

/// What the writer thread is asked.
enum Request {
    Append {
        make: MakeRecord,
        reply: Sender<Result<Record, Error>>,
    },
    /// Written now, or kept and written first when the manifest can be (`None`).
    AppendOrDefer {
        body: Box<Body>,
        reply: Sender<Result<Option<Record>, Error>>,
    },
    Checkpoint {
        reply: Sender<Result<Option<Record>, Error>>,
    },
    /// A clip whose file its camera could not finish: seal it from disk.
    Abandon {
        clip: u64,
    },
    /// Retention removes a sealed clip's file (the pruner thread chose it).
    Prune {
        clip: u64,
        file: String,
        reason: String,
        reply: Sender<Result<Record, Error>>,
    },
    Stop,
}

/// How a process reaches its writer thread. Cheap to clone; every call waits for its reply.
#[derive(Clone)]
pub struct WriterHandle {
    tx: Sender<Request>,
    verifier: String,
    data_dir: PathBuf,
    stats: Arc<Mutex<WriterStats>>,
    status: Arc<Mutex<Option<StatusFn>>>,
    disk: Arc<DataDisk>,
}

fn gone() -> Error {
    Error::msg(
        ErrorKind::Unavailable,
        "the manifest writer has stopped (see the log for why); restart packwitness",
    )
}

impl WriterHandle {
    /// Appends the record `make` builds for the `seq` it gets.
    pub fn append_with(&self, make: MakeRecord) -> Result<Record, Error> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Request::Append { make, reply })
            .map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }

    /// Appends `body` now, or (`Ok(None)`) keeps it to write first as soon as the manifest
    /// can be written again: what a scan or a gap record takes while the data disk is gone,
    /// so that nothing waits on it and nothing is lost.
    pub fn append_or_defer(&self, body: Body) -> Result<Option<Record>, Error> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Request::AppendOrDefer {
                body: Box::new(body),
                reply,
            })
            .map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }

    /// Hands a clip whose file could not be finished to the writer, which seals it from what
    /// is on disk when it can.
    pub fn abandon(&self, clip: u64) -> Result<(), Error> {
        self.tx.send(Request::Abandon { clip }).map_err(|_| gone())
    }

    /// Removes the file of sealed clip `clip` for retention: the `pruned` record first, then
    /// the file ([`Writer::prune_file`]).
    pub fn prune(&self, clip: u64, file: &str, reason: &str) -> Result<Record, Error> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Request::Prune {
                clip,
                file: file.to_string(),
                reason: reason.to_string(),
                reply,
            })
            .map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }

    /// The data disk as the writer last saw it.
    pub fn disk(&self) -> Arc<DataDisk> {
        self.disk.clone()
    }

    /// What the writer did lately.
    pub fn stats(&self) -> WriterStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The status `set_status` gave, now.
    pub fn status_now(&self) -> Option<super::super::status::ProcessStatus> {
        self.status
            .lock()
            .ok()
            .and_then(|f| f.as_ref().map(|f| f()))
    }

    /// Answers `packwitness status` over the socket with what `f` says.
    pub fn set_status(&self, f: StatusFn) {
        if let Ok(mut s) = self.status.lock() {
            *s = Some(f);
        }
    }

    /// The station's public key, in signed-note verifier form.
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

impl Appender for WriterHandle {
    fn append(&self, body: Body) -> Result<Record, Error> {
        self.append_with(Box::new(move |_| body))
    }

    fn checkpoint(&self) -> Result<Option<Record>, Error> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(Request::Checkpoint { reply })
            .map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }
}

/// The writer running on a thread of its own (and, with a socket, serving other processes).
pub struct WriterThread {
    handle: WriterHandle,
    thread: Option<JoinHandle<Result<(), Error>>>,
    socket: Option<SocketServer>,
}

impl WriterThread {
    /// Starts the writer thread; with `serve_socket`, also the socket other processes use.
    pub fn spawn(writer: Writer, serve_socket: bool) -> Result<WriterThread, Error> {
        let (tx, rx) = mpsc::channel();
        let handle = WriterHandle {
            tx,
            verifier: writer.verifier(),
            data_dir: writer.data_dir.clone(),
            stats: writer.stats.clone(),
            status: Arc::default(),
            disk: writer.disk.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("manifest-writer".into())
            .spawn(move || writer_loop(writer, rx))
            .map_err(|e| {
                Error::internal(format!("cannot start the manifest writer thread: {e}"))
            })?;
        let mut me = WriterThread {
            handle,
            thread: Some(thread),
            socket: None,
        };
        if serve_socket {
            me.socket = Some(SocketServer::start(&me.handle)?);
        }
        Ok(me)
    }

    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// Writes the last checkpoint (everything recorded is covered by a signature) and stops
    /// the thread; returns the first error the writer met.
    pub fn stop(mut self) -> Result<(), Error> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), Error> {
        if let Some(s) = self.socket.take() {
            s.stop();
        }
        let last = self.handle.checkpoint().map(|_| ());
        let _ = self.handle.tx.send(Request::Stop);
        let joined = match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(Error::internal("the manifest writer thread panicked"))),
            None => Ok(()),
        };
        joined.and(last)
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        if self.thread.is_some() {
            if let Err(e) = self.finish() {
                tracing::error!(error = %e, "the manifest writer stopped with an error");
            }
        }
    }
}

fn writer_loop(mut w: Writer, rx: Receiver<Request>) -> Result<(), Error> {
    let mut wait = Duration::ZERO;
    loop {
        let first = match crate::clock::recv_timeout(w.clock().as_ref(), &rx, wait) {
            Ok(r) => Some(r),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        };
        let mut pending: Vec<Request> = first.into_iter().collect();
        while pending.len() < 256 {
            match rx.try_recv() {
                Ok(r) => pending.push(r),
                Err(_) => break,
            }
        }
        let mut stop = false;
        let mut makers = Vec::new();
        let mut replies = Vec::new();
        let mut checkpoints = Vec::new();
        for r in pending {
            match r {
                Request::Append { make, reply } => {
                    makers.push(make);
                    replies.push(reply);
                }
                Request::AppendOrDefer { body, reply } => {
                    // In its place among the others: what came before it is written first.
                    if !makers.is_empty() {
                        append_now(
                            &mut w,
                            std::mem::take(&mut makers),
                            std::mem::take(&mut replies),
                        );
                    }
                    let _ = reply.send(w.append_or_defer(*body));
                }
                Request::Abandon { clip } => w.abandon(clip),
                Request::Prune {
                    clip,
                    file,
                    reason,
                    reply,
                } => {
                    if !makers.is_empty() {
                        append_now(
                            &mut w,
                            std::mem::take(&mut makers),
                            std::mem::take(&mut replies),
                        );
                    }
                    let _ = reply.send(w.prune_file(clip, &file, &reason));
                }
                Request::Checkpoint { reply } => checkpoints.push(reply),
                Request::Stop => stop = true,
            }
        }
        if !makers.is_empty() {
            append_now(&mut w, makers, replies);
        }
        for reply in checkpoints {
            let _ = reply.send(w.checkpoint());
        }
        if stop {
            return Ok(());
        }
        wait = match w.tick() {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "a timed checkpoint failed; trying again");
                Duration::from_secs(1)
            }
        };
    }
}

/// Appends a group of records with one fsync and answers each of their callers.
fn append_now(
    w: &mut Writer,
    makers: Vec<MakeRecord>,
    replies: Vec<Sender<Result<Record, Error>>>,
) {
    match w.append_batch(makers) {
        Ok(recs) => {
            for (rec, reply) in recs.into_iter().zip(replies) {
                let _ = reply.send(Ok(rec));
            }
        }
        Err(e) => {
            let text = e.to_string();
            let kind = e.kind();
            if let Ok(mut st) = w.stats.lock() {
                st.broken = w.ledger.broken().map(str::to_string);
            }
            for reply in replies {
                let _ = reply.send(Err(Error::msg(kind, text.clone())));
            }
        }
    }
}

/// A writer opened by a command for its own records (no recorder holds the data dir).
struct DirectAppender(Mutex<Writer>);

impl DirectAppender {
    fn with<T>(&self, f: impl FnOnce(&mut Writer) -> Result<T, Error>) -> Result<T, Error> {
        let mut w = self
            .0
            .lock()
            .map_err(|_| Error::internal("the manifest writer panicked earlier"))?;
        f(&mut w)
    }
}

impl Appender for DirectAppender {
    fn append(&self, body: Body) -> Result<Record, Error> {
        self.with(|w| w.append(body))
    }

    fn checkpoint(&self) -> Result<Option<Record>, Error> {
        self.with(|w| w.checkpoint())
    }
}

/// An appender for a command's own records (an export's `access`, a `hold`): the data dir's
/// writer opened here when nothing else holds it, else the socket of the recorder that does.
pub fn open_appender(
    data_dir: &Path,
    config: &Config,
    clock: SharedClock,
) -> Result<Box<dyn Appender>, Error> {
    match Writer::open(data_dir, config, clock) {
        Ok(w) => Ok(Box::new(DirectAppender(Mutex::new(w)))),
        Err(e) if e.kind() == ErrorKind::Conflict => Ok(Box::new(SocketAppender {
            data_dir: data_dir.to_owned(),
        })),
        Err(e) => Err(e),
    }
}
