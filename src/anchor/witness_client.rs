//! The station side of c2sp.org/tlog-witness: each new checkpoint (at most every
//! `[anchor] every_s`) goes to every `[[anchor.witness]]` with a consistency proof from the
//! last one that witness cosigned; the returned cosignature is checked against the
//! configured witness key and kept with the note.
//!
//! On disk (data dir): `anchors/witness/<witness id>/<day>/<size>.note` (the checkpoint note
//! with the witness's cosignature line added; `<witness id>`: the key ID in hex, `<day>`: the
//! cosignature's date, UTC) and `anchors/witness/<witness id>.idx` (as `tsa.idx`). A witness
//! that is down is tried again with a backoff; the newest checkpoint is what is sent then.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cosign::WitnessVerifier;
use super::{anchors_dir, http, AnchorError};
use crate::config::AnchorConfig;

/// How one witness is doing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WitnessStatus {
    pub url: String,
    pub name: String,
    /// The last checkpoint it cosigned for us, and the cosignature's time (RFC 3339, UTC).
    pub last_size: Option<u64>,
    pub last_time: Option<String>,
    /// Why the last try failed (a fork refused says so here).
    pub last_error: Option<String>,
}

struct Client {
    url: String,
    verifier: WitnessVerifier,
    /// The folder name: the witness's key ID.
    id: String,
    /// The size the witness last cosigned, as far as we know (0: ask).
    old: u64,
    next_try: Instant,
    backoff: Duration,
    sent_size: u64,
    sent_at: Option<Instant>,
}

/// The witnesses' folder and index of a data dir for the witness with key ID `id`.
pub fn witness_dir(data_dir: &Path, id: &str) -> PathBuf {
    anchors_dir(data_dir).join("witness").join(id)
}

/// The key ID (hex) of a witness verifier key.
pub fn witness_id(key: &str) -> String {
    key.trim()
        .split('+')
        .nth(1)
        .unwrap_or("unknown")
        .to_string()
}

enum Msg {
    Checkpoint(u64, String),
    Stop,
}

/// The thread that sends checkpoints to the witnesses.
pub struct Cosigner {
    tx: Sender<Msg>,
    status: Arc<Mutex<Vec<WitnessStatus>>>,
    thread: Option<JoinHandle<()>>,
}

impl Cosigner {
    /// Starts when `[[anchor.witness]]` names a witness (`None` otherwise).
    pub fn start(data_dir: &Path, cfg: &AnchorConfig) -> Result<Option<Cosigner>, AnchorError> {
        if cfg.witness.is_empty() {
            return Ok(None);
        }
        let mut clients = Vec::new();
        for w in &cfg.witness {
            http::Url::parse(&w.url)?;
            let verifier = WitnessVerifier::parse(&w.key)?;
            clients.push(Client {
                url: w.url.trim_end_matches('/').to_string(),
                id: witness_id(&w.key),
                verifier,
                old: 0,
                next_try: Instant::now(),
                backoff: Duration::ZERO,
                sent_size: 0,
                sent_at: None,
            });
        }
        let status = Arc::new(Mutex::new(
            clients
                .iter()
                .map(|c| WitnessStatus {
                    url: c.url.clone(),
                    name: c.verifier.name.clone(),
                    ..WitnessStatus::default()
                })
                .collect(),
        ));
        let (tx, rx) = mpsc::channel();
        let (st, dir, every) = (
            status.clone(),
            data_dir.to_owned(),
            Duration::from_secs(cfg.every_s.max(1)),
        );
        let thread = std::thread::Builder::new()
            .name("witness-client".into())
            .spawn(move || cosign_loop(&dir, clients, every, rx, &st))
            .map_err(|e| super::io(data_dir, format!("cannot start the witness thread: {e}")))?;
        Ok(Some(Cosigner {
            tx,
            status,
            thread: Some(thread),
        }))
    }

    /// A function the writer calls with every checkpoint it signs (never blocks).
    pub fn feeder(&self) -> impl Fn(u64, &str) + Send + 'static {
        let tx = self.tx.clone();
        move |size, note| {
            let _ = tx.send(Msg::Checkpoint(size, note.to_string()));
        }
    }

    pub fn status_handle(&self) -> Arc<Mutex<Vec<WitnessStatus>>> {
        self.status.clone()
    }

    pub fn stop(mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn cosign_loop(
    data_dir: &Path,
    mut clients: Vec<Client>,
    every: Duration,
    rx: mpsc::Receiver<Msg>,
    status: &Mutex<Vec<WitnessStatus>>,
) {
    let mut latest: Option<(u64, String)> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(Msg::Checkpoint(size, note)) => {
                if latest.as_ref().is_none_or(|l| size > l.0) {
                    latest = Some((size, note));
                }
            }
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let Some((size, note)) = latest.clone() else {
            continue;
        };
        for (i, c) in clients.iter_mut().enumerate() {
            let due = c.sent_size < size
                && Instant::now() >= c.next_try
                && c.sent_at.is_none_or(|t| t.elapsed() >= every);
            if !due {
                continue;
            }
            c.sent_at = Some(Instant::now());
            let result = c.submit(data_dir, size, &note);
            if let Ok(mut st) = status.lock() {
                if let Some(s) = st.get_mut(i) {
                    match &result {
                        Ok(time) => {
                            s.last_size = Some(size);
                            s.last_time = Some(time.clone());
                            s.last_error = None;
                        }
                        Err(e) => s.last_error = Some(e.to_string()),
                    }
                }
            }
            match result {
                Ok(_) => {
                    c.sent_size = size;
                    c.backoff = Duration::ZERO;
                }
                Err(e) => {
                    c.backoff = (c.backoff * 2).clamp(Duration::from_secs(1), super::MAX_BACKOFF);
                    c.next_try = Instant::now() + c.backoff;
                    tracing::warn!(witness = %c.url, size, error = %e, "the witness did not cosign; tried again later");
                }
            }
        }
    }
}

impl Client {
    /// Sends the checkpoint `note` of `size` lines; on success keeps the cosigned note and
    /// returns the cosignature's time.
    fn submit(&mut self, data_dir: &Path, size: u64, note: &str) -> Result<String, AnchorError> {
        let url = format!("{}/add-checkpoint", self.url);
        let err = |what: String| AnchorError::Http {
            url: url.clone(),
            what,
        };
        for _ in 0..2 {
            let body = self.request(data_dir, size, note)?;
            let (status, answer) =
                http::post_status(&url, "text/plain", body.as_bytes(), super::REQUEST_TIMEOUT)?;
            let text = String::from_utf8_lossy(&answer).into_owned();
            match status {
                200 => {
                    return self
                        .keep(data_dir, size, note, &text)
                        .map_err(|e| err(e.to_string()))
                }
                409 => {
                    // The witness last cosigned another size: prove from there.
                    self.old = text
                        .trim()
                        .parse()
                        .map_err(|_| err(format!("answered 409 without a size: {text:?}")))?;
                    if self.old > size {
                        return Err(err(format!(
                            "the witness cosigned {} lines already, more than this log's {size}: the log was cut back, or the witness serves another log under this name",
                            self.old
                        )));
                    }
                }
                _ => return Err(err(format!("answered {status}: {}", text.trim()))),
            }
        }
        Err(err("the witness kept changing its size".into()))
    }

    fn request(&self, data_dir: &Path, size: u64, note: &str) -> Result<String, AnchorError> {
        let mut body = format!("old {}\n", self.old);
        if self.old > 0 && self.old < size {
            let reader = crate::log::reader::LogReader::open(data_dir)
                .map_err(|e| super::io(data_dir, e))?;
            for h in reader
                .consistency(self.old, size)
                .map_err(|e| super::io(data_dir, e))?
            {
                body.push_str(&crate::log::note::b64(&h));
                body.push('\n');
            }
        }
        body.push('\n');
        body.push_str(note);
        Ok(body)
    }

    /// Checks the cosignature lines against the configured key and keeps the cosigned note.
    fn keep(
        &mut self,
        data_dir: &Path,
        size: u64,
        note: &str,
        answer: &str,
    ) -> Result<String, AnchorError> {
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| AnchorError::Token("the checkpoint note has no signatures".into()))?;
        let body = &note[..split + 1];
        let (line, time) = answer
            .lines()
            .find_map(|l| self.verifier.check_line(body, l).map(|t| (l, t)))
            .ok_or_else(|| {
                AnchorError::Token(format!(
                    "the answer carries no valid cosignature by {}",
                    self.verifier.name
                ))
            })?;
        let when = crate::clock::utc_seconds(time);
        let day = when.get(..10).unwrap_or("unknown").to_string();
        let dir = witness_dir(data_dir, &self.id);
        let mut cosigned = note.to_string();
        if !cosigned.ends_with('\n') {
            cosigned.push('\n');
        }
        cosigned.push_str(line);
        cosigned.push('\n');
        super::write_durable(
            &dir.join(&day).join(format!("{size:020}.note")),
            cosigned.as_bytes(),
        )?;
        super::append_index_at(&dir.with_extension("idx"), size, &day)?;
        self.old = size;
        tracing::info!(witness = %self.verifier.name, size, time = %when, "checkpoint cosigned by the witness");
        Ok(when)
    }
}
