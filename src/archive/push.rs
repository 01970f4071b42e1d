//! The station's uploader: a thread of the recording process that sends what the writer
//! sealed to the archive, in order, and keeps the archive's receipt.
//!
//! Owns: `archive/receipt.note` in the data dir (the newest checkpoint the archive cosigned,
//! with its cosignature line) and the archive status the station shows. Its cursor is the
//! archive's own answer to `GET /v1/log` (the lines it holds, the clips it lacks), so a
//! restart of either side resumes exactly where the archive is: nothing is sent twice and
//! nothing is skipped. In a round: the lines the archive lacks (one push), the clips it lists
//! as missing, then the anchors (the TSA tokens it lists, each witness's cosignatures after
//! the newest it holds). Never: runs in the capture or writer path, holds more than one push
//! (at most [`PUSH_BYTES`] of lines), one clip's read buffer or one batch of anchors in
//! memory, or deletes anything.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use super::client::{AnchorsSent, Client, Pushed, Sent};
use super::wire::{self, AnchorFiles, LogHeld, PendingClip, PushAnchors, PushLines};
use super::ArchiveError;
use crate::config::ArchiveConfig;
use crate::log::note::b64;
use crate::log::reader::LogReader;
use crate::log::Body;

/// Lines sent in one push, at most (a push ends at a checkpoint, so it may pass this by the
/// lines up to the next one).
pub const PUSH_BYTES: usize = 1 << 20;
/// Clips sent in one round before the log is looked at again.
const CLIPS_PER_ROUND: usize = 8;
/// How often the log is looked at when everything was sent.
const IDLE: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How the archiving of this station is doing (`status`, `/healthz`, `/metrics`, the screen).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ArchiveStatus {
    pub url: String,
    /// Lines the archive confirmed (holds and cosigned), and lines in the log here.
    pub confirmed_lines: u64,
    pub log_lines: u64,
    /// Sealed clips the archive lacks, and the bytes of those listed (up to 32).
    pub clips_pending: u64,
    pub bytes_pending: u64,
    /// The seal time of the oldest clip the archive lacks, or of the oldest line it has not
    /// confirmed, whichever is older (RFC 3339), and its age in seconds.
    pub oldest_unconfirmed: Option<String>,
    pub oldest_unconfirmed_age_s: Option<u64>,
    /// The `archive_lag` alarm: the oldest unconfirmed seal is older than `max_lag_minutes`.
    pub lagging: bool,
    /// The newest receipt: its size, and whether its cosignature was checked against
    /// `[archive] key`.
    pub receipt_size: Option<u64>,
    pub receipt_checked: bool,
    pub last_ok: Option<String>,
    pub last_error: Option<String>,
    /// The archive refused this log as a fork or a rewrite (an alarm until resolved by hand).
    pub refused: Option<String>,
    /// Anchors (TSA tokens, witness cosignatures) the archive lacks, and why the archive
    /// refused the last one it refused (a file that is not what the log says).
    pub anchors_pending: u64,
    pub anchors_refused: Option<String>,
}

/// Where the newest receipt is kept.
pub fn receipt_path(data_dir: &Path) -> PathBuf {
    data_dir.join("archive").join("receipt.note")
}

struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
}

/// The uploader thread.
pub struct Uploader {
    shared: Arc<Shared>,
    status: Arc<Mutex<ArchiveStatus>>,
    thread: Option<JoinHandle<()>>,
}

/// What a round did.
#[derive(Debug, PartialEq, Eq)]
pub enum Round {
    /// Something was sent and more is waiting.
    More,
    /// Everything the log has signed was sent.
    Idle,
}

/// The lines after `old` up to a checkpoint of the log, with that checkpoint: `None` when no
/// checkpoint after `old` exists yet.
pub fn next_push(reader: &LogReader, old: u64) -> Result<Option<PushLines>, crate::Error> {
    let size = reader.size();
    let mut lines = String::new();
    let mut best: Option<(u64, usize, String)> = None;
    let mut n = old + 1;
    while n <= size {
        let bytes = reader.line(n)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            crate::Error::msg(
                crate::ErrorKind::Corrupt,
                format!("manifest line {n} is not UTF-8"),
            )
        })?;
        // A checkpoint's own line is the one after the lines it covers.
        if text.contains("\"kind\":\"checkpoint\"") {
            if let Body::Checkpoint { size: cs, note, .. } = reader.record(n)?.body {
                if cs == n - 1 && cs > old {
                    best = Some((cs, lines.len(), note));
                }
            }
        }
        lines.push_str(&text);
        if lines.len() >= PUSH_BYTES && best.is_some() {
            break;
        }
        n += 1;
    }
    let Some((cs, len, note)) = best else {
        return Ok(None);
    };
    lines.truncate(len);
    let proof = if old == 0 {
        Vec::new()
    } else {
        reader
            .consistency(old, cs)?
            .iter()
            .map(|h| b64(h))
            .collect()
    };
    Ok(Some(PushLines {
        v: wire::VERSION,
        old,
        proof,
        checkpoint: note,
        lines,
    }))
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One round: the lines the archive lacks (one push), then up to [`CLIPS_PER_ROUND`] clips.
pub fn round(
    client: &Client,
    data_dir: &Path,
    max_lag: Duration,
    status: &Mutex<ArchiveStatus>,
) -> Result<Round, crate::Error> {
    let held = client.held()?;
    let reader = LogReader::open(data_dir)?;
    if held.size > reader.size() {
        return Err(ArchiveError::Config(format!(
            "the archive holds {} lines of log {}, this data dir only {}: is this the data dir that was archived?",
            held.size,
            held.origin,
            reader.size()
        ))
        .into());
    }
    let mut more = false;
    let mut confirmed = held.size;
    if let Some(push) = next_push(&reader, held.size)? {
        match client.push(&push)? {
            Pushed::Cosigned(cosig) => {
                let note = format!("{}{cosig}", push.checkpoint);
                let checked = match &client.verifier {
                    Some(v) => {
                        if v.cosigned(&note).is_none() {
                            return Err(ArchiveError::Config(format!(
                                "the archive's receipt is not signed by [archive] key {}: is the key (or the URL) right?",
                                v.name
                            ))
                            .into());
                        }
                        true
                    }
                    None => false,
                };
                crate::anchor::write_durable(&receipt_path(data_dir), note.as_bytes()).map_err(
                    |e| ArchiveError::Io {
                        path: receipt_path(data_dir).display().to_string(),
                        what: format!("cannot keep the archive's receipt: {e}"),
                    },
                )?;
                confirmed = push.old + push.lines.lines().count() as u64;
                if let Ok(mut s) = status.lock() {
                    s.receipt_size = Some(confirmed);
                    s.receipt_checked = checked;
                    s.refused = None;
                }
                more = true;
            }
            Pushed::Holds(n) => {
                tracing::info!(
                    held = n,
                    "the archive holds another size than asked; asking again"
                );
                more = true;
            }
            Pushed::Refused(why) => {
                if let Ok(mut s) = status.lock() {
                    s.refused = Some(why.clone());
                }
                return Err(ArchiveError::Answer {
                    url: client.url.clone(),
                    status: 422,
                    text: why,
                }
                .into());
            }
        }
    }
    let mut sent = 0;
    for p in held.pending.iter().filter(|p| p.seal <= confirmed) {
        if sent == CLIPS_PER_ROUND {
            more = true;
            break;
        }
        send_clip(client, data_dir, p)?;
        sent += 1;
        more = true;
    }
    let (anchors_sent, anchors_left) = send_anchors(client, data_dir, &held, confirmed, status)?;
    more |= anchors_sent;
    // The status from what the archive said before this round's sends.
    let oldest_clip = held.pending.first().map(|p| p.sealed_at.clone());
    let oldest_line = if confirmed < reader.size() {
        reader.record(confirmed + 1).ok().map(|r| r.at)
    } else {
        None
    };
    let oldest = [oldest_clip, oldest_line]
        .into_iter()
        .flatten()
        .filter_map(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .min();
    let age = oldest.map(|t| {
        (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
            .num_seconds()
            .max(0) as u64
    });
    if let Ok(mut s) = status.lock() {
        s.confirmed_lines = confirmed;
        s.log_lines = reader.size();
        s.clips_pending = held.pending_total.saturating_sub(sent as u64);
        s.bytes_pending = held.pending.iter().skip(sent).map(|p| p.size).sum();
        s.anchors_pending = anchors_left;
        s.oldest_unconfirmed = oldest.map(|t| t.to_rfc3339());
        s.oldest_unconfirmed_age_s = age;
        s.lagging = age.is_some_and(|a| a > max_lag.as_secs());
        s.last_ok = Some(now_rfc3339());
        s.last_error = None;
    }
    Ok(if more { Round::More } else { Round::Idle })
}

/// Anchors sent in one request, at most.
const ANCHORS_PER_PUSH: usize = 64;

/// A file of the data dir an anchor names (never outside `anchors/`).
fn anchor_file(data_dir: &Path, rel: &str) -> Result<Vec<u8>, ArchiveError> {
    let safe = rel.starts_with("anchors/")
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !safe {
        return Err(ArchiveError::Io {
            path: rel.to_string(),
            what: "an anchor's file must be under anchors/ in the data dir".into(),
        });
    }
    let path = data_dir.join(rel);
    std::fs::read(&path).map_err(|e| ArchiveError::Io {
        path: path.display().to_string(),
        what: format!("cannot read the anchor to archive it: {e}"),
    })
}

/// The anchors the archive lacks, up to [`ANCHORS_PER_PUSH`]: the TSA tokens it listed,
/// then each witness's cosignatures after the newest it holds (of lines it confirmed), and
/// how many are left in all.
fn anchors_to_send(
    client: &Client,
    data_dir: &Path,
    held: &LogHeld,
    confirmed: u64,
) -> (Vec<AnchorFiles>, u64) {
    let mut out = Vec::new();
    let mut left = held.tokens_total;
    for t in held.tokens.iter().take(ANCHORS_PER_PUSH) {
        let note_rel = t.file.replace(".tsr", ".note");
        match (
            anchor_file(data_dir, &t.file),
            anchor_file(data_dir, &note_rel),
        ) {
            (Ok(tsr), Ok(note)) => out.push(AnchorFiles::Tsa {
                size: t.size,
                note: String::from_utf8_lossy(&note).into_owned(),
                tsr: b64(&tsr),
            }),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, size = t.size, "a TSA token the log names cannot be sent to the archive");
            }
        }
    }
    for (id, key) in &client.witnesses {
        let from = held
            .witnessed
            .iter()
            .find(|w| &w.witness == id)
            .map_or(0, |w| w.size);
        let index = crate::anchor::StampIndex::witness(data_dir, id);
        left += index.count_between(from + 1, confirmed);
        let room = ANCHORS_PER_PUSH.saturating_sub(out.len());
        for e in index.between(from + 1, confirmed, room) {
            match std::fs::read_to_string(&e.note) {
                Ok(note) => out.push(AnchorFiles::Witness {
                    witness_key: key.clone(),
                    size: e.size,
                    note,
                }),
                Err(err) => {
                    tracing::warn!(file = %e.note.display(), error = %err, "a witness cosignature cannot be read to archive it");
                }
            }
        }
    }
    (out, left)
}

/// Sends one batch of the anchors the archive lacks: (whether one was sent, how many are
/// left). A refusal is shown in the status, not retried at once.
fn send_anchors(
    client: &Client,
    data_dir: &Path,
    held: &LogHeld,
    confirmed: u64,
    status: &Mutex<ArchiveStatus>,
) -> Result<(bool, u64), crate::Error> {
    let (anchors, left) = anchors_to_send(client, data_dir, held, confirmed);
    if anchors.is_empty() {
        return Ok((false, left));
    }
    let n = anchors.len() as u64;
    let sent = client.push_anchors(&PushAnchors {
        v: wire::VERSION,
        anchors,
    })?;
    match sent {
        AnchorsSent::Stored(_) => Ok((true, left.saturating_sub(n))),
        AnchorsSent::NotYet(why) => {
            tracing::debug!(why, "the archive takes these anchors after the next push");
            Ok((false, left))
        }
        AnchorsSent::Refused(why) => {
            tracing::error!(why, "the archive refused an anchor of this station");
            if let Ok(mut s) = status.lock() {
                s.anchors_refused = Some(why);
            }
            Ok((false, left))
        }
    }
}

/// Sends one clip the archive lacks, or tells it why it cannot.
fn send_clip(client: &Client, data_dir: &Path, p: &PendingClip) -> Result<(), crate::Error> {
    if !crate::datadir::is_safe_clip_path(&p.file) {
        client.gone(&p.sha256, "the seal names a path outside the data dir")?;
        return Ok(());
    }
    let path = data_dir.join(&p.file);
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            client.gone(&p.sha256, "removed from the station before it was archived")?;
            return Ok(());
        }
        Err(e) => {
            return Err(ArchiveError::Io {
                path: path.display().to_string(),
                what: format!("cannot look at the clip: {e}"),
            }
            .into())
        }
        Ok(m) if m.len() != p.size => {
            client.gone(
                &p.sha256,
                &format!(
                    "the file at the station has {} bytes, its seal says {}",
                    m.len(),
                    p.size
                ),
            )?;
            return Ok(());
        }
        Ok(_) => {}
    }
    let sent = if p.size > client.multipart_bytes {
        client.put_clip_in_parts(&path, &p.sha256, p.size)?
    } else {
        client.put_clip(&path, &p.sha256, p.size)?
    };
    match sent {
        Sent::Stored => Ok(()),
        Sent::Mismatch(why) => {
            // The store saw other bytes: are they other here too, or was it the way there?
            let (local, _) = crate::digest::sha256_file(&path).map_err(|e| ArchiveError::Io {
                path: path.display().to_string(),
                what: format!("cannot read the clip: {e}"),
            })?;
            if local != p.sha256 {
                tracing::error!(file = %path.display(), "a sealed clip no longer matches its seal; the archive is told");
                client.gone(
                    &p.sha256,
                    "the file at the station no longer matches its seal",
                )?;
                Ok(())
            } else {
                Err(ArchiveError::Answer {
                    url: client.url.clone(),
                    status: 422,
                    text: why,
                }
                .into())
            }
        }
    }
}

impl Uploader {
    /// Starts when `[archive] url` is set (`None` otherwise).
    pub fn start(
        data_dir: &Path,
        cfg: &ArchiveConfig,
        anchor: &crate::config::AnchorConfig,
    ) -> Result<Option<Uploader>, ArchiveError> {
        if cfg.url.trim().is_empty() {
            return Ok(None);
        }
        let client = Client::new(cfg)?.with_witnesses(anchor);
        let status = Arc::new(Mutex::new(ArchiveStatus {
            url: client.url.clone(),
            ..ArchiveStatus::default()
        }));
        let shared = Arc::new(Shared {
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let (st, sh, dir) = (status.clone(), shared.clone(), data_dir.to_owned());
        let max_lag = Duration::from_secs(cfg.max_lag_minutes.max(1) * 60);
        let thread = std::thread::Builder::new()
            .name("archive-push".into())
            .spawn(move || upload_loop(&client, &dir, max_lag, &st, &sh))
            .map_err(|e| ArchiveError::Io {
                path: data_dir.display().to_string(),
                what: format!("cannot start the archive thread: {e}"),
            })?;
        Ok(Some(Uploader {
            shared,
            status,
            thread: Some(thread),
        }))
    }

    pub fn status_handle(&self) -> Arc<Mutex<ArchiveStatus>> {
        self.status.clone()
    }

    /// Stops after the request under way (an upload cut short is sent again whole next time).
    pub fn stop(mut self) {
        if let Ok(mut s) = self.shared.stop.lock() {
            *s = true;
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Waits `d` unless told to stop; true when stopping.
fn pause(shared: &Shared, d: Duration) -> bool {
    let Ok(guard) = shared.stop.lock() else {
        return true;
    };
    if *guard {
        return true;
    }
    match shared.wake.wait_timeout_while(guard, d, |s| !*s) {
        Ok((g, _)) => *g,
        Err(_) => true,
    }
}

fn upload_loop(
    client: &Client,
    data_dir: &Path,
    max_lag: Duration,
    status: &Mutex<ArchiveStatus>,
    shared: &Shared,
) {
    let mut backoff = Duration::ZERO;
    loop {
        let started = Instant::now();
        let wait = match round(client, data_dir, max_lag, status) {
            Ok(Round::More) => {
                backoff = Duration::ZERO;
                Duration::ZERO
            }
            Ok(Round::Idle) => {
                backoff = Duration::ZERO;
                IDLE
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                tracing::warn!(error = %e, retry_in_s = backoff.as_secs(), "archive: cannot send now");
                if let Ok(mut s) = status.lock() {
                    s.last_error = Some(e.to_string());
                }
                backoff
            }
        };
        tracing::trace!(
            took_ms = started.elapsed().as_millis() as u64,
            "archive round"
        );
        if pause(shared, wait) {
            return;
        }
    }
}
