//! Webhooks: other systems (a WMS, a ticketing tool) told when an order's clip is sealed, an
//! order was scanned while no camera recorded, or an alarm is raised or cleared
//! (`[[notify]]`).
//!
//! Owns: one thread per `[[notify]]` that reads the manifest after the writer and POSTs one
//! JSON body per event, in the log's order, signed with HMAC-SHA256 under the hook's secret
//! (`X-Packwitness-Signature: sha256=<hex>`); a refused or failed delivery is tried again
//! (1 s, doubling to 60 s) before any later event, so a receiver sees every event once it
//! answers 2xx, in order. The data dir is the queue: `notify/<hook>.cursor` holds the last
//! line delivered (written after each delivery), so a restart resumes after it; a hook with
//! no cursor starts at the end of the log (it is told what happens from when it was
//! configured, not the history). Each hook's status (the last line delivered, the failure
//! and since when) is in `status --json` as `notify`; failing for ten minutes raises the
//! `notify_failing` warning. Alarms are not in the log: the alarm watch queues each raise
//! and clear as a file in `notify/<hook>.alarms/` ([`queue_alarm`]), delivered (in the order
//! they happened, before the next log event) and then removed; at most [`MAX_QUEUED_ALARMS`]
//! wait, the oldest dropped beyond. Never: runs in the capture or writer path, blocks
//! recording, holds more than one event in memory, or changes the log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hmac::{KeyInit, Mac};

use crate::config::NotifyConfig;
use crate::error::{Error, ErrorKind};
use crate::log::reader::LogReader;
use crate::log::{Body, Record};

/// Alarm events waiting for one hook at most (a receiver gone for weeks).
pub const MAX_QUEUED_ALARMS: usize = 1000;

/// How often the log is looked at when every event was delivered.
const IDLE: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A receiver has this long to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A webhook as `status` and the alarms see it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(default)]
pub struct HookStatus {
    pub url: String,
    /// The line of the last event delivered.
    pub delivered_line: Option<u64>,
    /// The last delivery's failure, while the next is not delivered.
    pub last_error: Option<String>,
    /// Since when (Unix ms) deliveries fail, without one delivered since.
    pub failing_since_ms: Option<i64>,
}

/// A hook failing this long raises the `notify_failing` alarm (a warning).
pub const FAILING_ALARM_MS: i64 = 10 * 60 * 1000;

/// What a `sealed` event carries of its `clip_sealed` record.
const SEALED: &[&str] = &[
    "order",
    "station",
    "camera",
    "clip",
    "reason",
    "started_at",
    "ended_at",
    "duration_ms",
    "file",
    "size",
    "sha256",
];
/// What a `no_video` event carries of its record (and `why`, the cameras in words).
const NO_VIDEO: &[&str] = &["order", "station", "box", "scanned_at"];

/// The body of an event, or `None` when the record is not one the hook asked for: the
/// event's name, the record's line and time, and the record's fields that say what happened.
pub fn event(rec: &Record, events: &[String]) -> Option<serde_json::Value> {
    let (name, fields) = match &rec.body {
        Body::ClipSealed { .. } => ("sealed", SEALED),
        Body::NoVideo { .. } => ("no_video", NO_VIDEO),
        _ => return None,
    };
    if !events.iter().any(|e| e == name) {
        return None;
    }
    let whole = serde_json::to_value(rec).ok()?;
    let mut out = serde_json::Map::new();
    out.insert("event".into(), name.into());
    out.insert("line".into(), rec.seq.into());
    out.insert("at".into(), rec.at.clone().into());
    for f in fields {
        out.insert(f.to_string(), whole[f].clone());
    }
    match &rec.body {
        Body::ClipSealed { dropped_frames, .. } => {
            out.insert("dropped_frames".into(), dropped_frames.unwrap_or(0).into());
        }
        Body::NoVideo { down, .. } => {
            out.insert("why".into(), crate::log::down_text(down).into());
        }
        _ => {}
    }
    Some(out.into())
}

/// `sha256=<hex>` of HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes a key of any length: this cannot happen.
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!(
        "sha256={}",
        crate::digest::hex(&mac.finalize().into_bytes())
    )
}

/// The hook's name in `notify/`: the first 16 hex digits of its URL's SHA-256.
fn hook_name(hook: &NotifyConfig) -> String {
    crate::digest::sha256_hex(hook.url.as_bytes())[..16].to_string()
}

/// The hook's cursor file: its position in the log.
fn cursor_path(data_dir: &Path, hook: &NotifyConfig) -> PathBuf {
    data_dir
        .join("notify")
        .join(format!("{}.cursor", hook_name(hook)))
}

/// The hook's queue of alarm events: one file each, named so that they sort in order.
fn alarm_queue(data_dir: &Path, hook: &NotifyConfig) -> PathBuf {
    data_dir
        .join("notify")
        .join(format!("{}.alarms", hook_name(hook)))
}

/// An alarm raised or cleared, as its event's body.
pub fn alarm_event(
    raised: bool,
    kind: &str,
    station: Option<&str>,
    camera: Option<&str>,
    reason: &str,
    at: &str,
) -> serde_json::Value {
    serde_json::json!({
        "event": "alarm",
        "state": if raised { "raised" } else { "cleared" },
        "alarm": kind,
        "station": station,
        "camera": camera,
        "reason": reason,
        "at": at,
    })
}

/// Queues an alarm event for every hook that asks for alarms (written durably, so that a
/// restart still delivers it); the oldest are dropped beyond [`MAX_QUEUED_ALARMS`].
pub fn queue_alarm(data_dir: &Path, hooks: &[NotifyConfig], body: &serde_json::Value) {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!(
        "{:016}-{:06}.json",
        chrono::Utc::now().timestamp_micros(),
        n % 1_000_000
    );
    for hook in hooks
        .iter()
        .filter(|h| h.events.iter().any(|e| e == "alarm"))
    {
        let dir = alarm_queue(data_dir, hook);
        let put = crate::datadir::create_dir_durable(&dir).and_then(|()| {
            let tmp = dir.join(format!(".{name}"));
            std::fs::write(&tmp, body.to_string())?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, dir.join(&name))
        });
        if let Err(e) = put {
            tracing::warn!(error = %e, url = %hook.url, "webhook: cannot queue an alarm event");
            continue;
        }
        let mut queued = queued_alarms(&dir);
        while queued.len() > MAX_QUEUED_ALARMS {
            let old = queued.remove(0);
            tracing::warn!(url = %hook.url, file = %old.display(), "webhook: too many alarm events wait for an absent receiver; the oldest is dropped");
            let _ = std::fs::remove_file(old);
        }
    }
}

/// The alarm events waiting in a hook's queue, oldest first.
fn queued_alarms(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Delivers the hook's queued alarm events, oldest first, each removed once answered 2xx;
/// the first failure stops (and is sent again first next time).
fn deliver_alarms(
    dir: &Path,
    hook: &NotifyConfig,
    http: &reqwest::blocking::Client,
) -> Result<usize, String> {
    let mut sent = 0;
    for file in queued_alarms(&alarm_queue(dir, hook)) {
        let Ok(text) = std::fs::read(&file) else {
            continue;
        };
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(&text) else {
            tracing::warn!(file = %file.display(), "webhook: an unreadable queued alarm is dropped");
            let _ = std::fs::remove_file(&file);
            continue;
        };
        let id = file
            .file_stem()
            .map(|s| format!("alarm-{}", s.to_string_lossy()))
            .unwrap_or_default();
        post(http, hook, &id, &body)?;
        if let Err(e) = std::fs::remove_file(&file) {
            tracing::warn!(error = %e, file = %file.display(), "webhook: a delivered alarm stays queued and may be sent again");
        }
        sent += 1;
    }
    Ok(sent)
}

fn read_cursor(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn write_cursor(path: &Path, line: u64) -> Result<(), Error> {
    let io = |e: std::io::Error| {
        Error::msg(
            ErrorKind::Io,
            format!("{}: cannot keep the webhook's place: {e}", path.display()),
        )
    };
    if let Some(dir) = path.parent() {
        crate::datadir::create_dir_durable(dir).map_err(io)?;
    }
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, format!("{line}\n")).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

struct Stop {
    stop: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// Waits `d` unless told to stop; true when stopping.
    fn pause(&self, d: Duration) -> bool {
        let Ok(g) = self.stop.lock() else {
            return true;
        };
        if *g {
            return true;
        }
        self.wake
            .wait_timeout_while(g, d, |s| !*s)
            .map_or(true, |(g, _)| *g)
    }
}

/// The webhooks of a recording process, one thread each.
pub struct Notifier {
    stop: Arc<Stop>,
    threads: Vec<JoinHandle<()>>,
    status: Arc<Mutex<Vec<HookStatus>>>,
}

impl Notifier {
    /// Starts a thread per hook; `None` when there is none. A hook that cannot work is
    /// refused, saying what to change (as the config's check does at load).
    pub fn start(data_dir: &Path, hooks: &[NotifyConfig]) -> Result<Option<Notifier>, Error> {
        if hooks.is_empty() {
            return Ok(None);
        }
        for hook in hooks {
            hook.check()
                .map_err(|e| Error::msg(ErrorKind::Invalid, e))?;
        }
        let stop = Arc::new(Stop {
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let http = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| Error::internal(format!("cannot make an HTTPS client: {e}")))?;
        let status = Arc::new(Mutex::new(
            hooks
                .iter()
                .map(|h| HookStatus {
                    url: h.url.clone(),
                    ..HookStatus::default()
                })
                .collect::<Vec<_>>(),
        ));
        let mut threads = Vec::new();
        for (i, hook) in hooks.iter().enumerate() {
            let st = status.clone();
            let (hook, dir, stop, http) = (
                hook.clone(),
                data_dir.to_owned(),
                stop.clone(),
                http.clone(),
            );
            let t = std::thread::Builder::new()
                .name(format!("notify-{}", i + 1))
                .spawn(move || deliver_loop(&dir, &hook, &http, &stop, (&st, i)))
                .map_err(|e| Error::internal(format!("cannot start a webhook thread: {e}")))?;
            threads.push(t);
        }
        Ok(Some(Notifier {
            stop,
            threads,
            status,
        }))
    }

    /// The hooks' status, kept up to date by their threads.
    pub fn status_handle(&self) -> Arc<Mutex<Vec<HookStatus>>> {
        self.status.clone()
    }

    /// Stops after the delivery under way (an event not answered yet is sent again at the
    /// next start).
    pub fn stop(self) {
        if let Ok(mut s) = self.stop.stop.lock() {
            *s = true;
        }
        self.stop.wake.notify_all();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn deliver_loop(
    dir: &Path,
    hook: &NotifyConfig,
    http: &reqwest::blocking::Client,
    stop: &Stop,
    status: (&Mutex<Vec<HookStatus>>, usize),
) {
    // The hook's entry of the shared status.
    let set = |f: &mut dyn FnMut(&mut HookStatus)| {
        if let Ok(mut g) = status.0.lock() {
            if let Some(h) = g.get_mut(status.1) {
                f(h);
            }
        }
    };
    let cursor = cursor_path(dir, hook);
    let mut done = read_cursor(&cursor);
    let alarms = hook.events.iter().any(|e| e == "alarm");
    let mut backoff = Duration::ZERO;
    loop {
        let reader = match LogReader::open(dir) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, url = %hook.url, "webhook: cannot read the log yet");
                if stop.pause(Duration::from_secs(1)) {
                    return;
                }
                continue;
            }
        };
        // Alarms queued since the last look go first (they are few, and urgent).
        let delivered = if alarms {
            deliver_alarms(dir, hook, http)
        } else {
            Ok(0)
        };
        match delivered {
            Ok(0) => {}
            Ok(_) => {
                backoff = Duration::ZERO;
                set(&mut |h| {
                    h.last_error = None;
                    h.failing_since_ms = None;
                });
            }
            Err(e) => {
                let now = chrono::Utc::now().timestamp_millis();
                set(&mut |h| {
                    h.last_error = Some(e.clone());
                    h.failing_since_ms.get_or_insert(now);
                });
                backoff = (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                tracing::warn!(url = %hook.url, error = %e, retry_s = backoff.as_secs(), "webhook: alarm not delivered; it is sent again first");
                if stop.pause(backoff) {
                    return;
                }
                continue;
            }
        }
        let size = reader.size();
        // A new hook starts at the end of the log: from now on, not the history. Its place
        // is kept at once, so an event that fails before the next start is not skipped.
        let from = match done {
            Some(d) => d,
            None => {
                if let Err(e) = write_cursor(&cursor, size) {
                    tracing::warn!(error = %e, "webhook: cannot keep its place");
                }
                *done.insert(size)
            }
        };
        if from >= size {
            if stop.pause(IDLE) {
                return;
            }
            continue;
        }
        // Every line the log has now, through this one reader (opened again only for the
        // lines written after it).
        for line in from + 1..=size {
            let sent = match reader.record(line) {
                Ok(rec) => match event(&rec, &hook.events) {
                    Some(body) => send(http, hook, &rec, &body).map(|()| true),
                    None => Ok(false),
                },
                Err(e) => Err(e.to_string()),
            };
            match sent {
                Ok(delivered) => {
                    done = Some(line);
                    backoff = Duration::ZERO;
                    // Kept after each delivery (the lines between are read again after a
                    // restart, and hold no event).
                    if delivered {
                        set(&mut |h| {
                            h.delivered_line = Some(line);
                            h.last_error = None;
                            h.failing_since_ms = None;
                        });
                        if let Err(e) = write_cursor(&cursor, line) {
                            tracing::warn!(error = %e, "webhook: the next start may send this event again");
                        }
                    }
                    if stop.pause(Duration::ZERO) {
                        return;
                    }
                }
                Err(e) => {
                    let now = chrono::Utc::now().timestamp_millis();
                    set(&mut |h| {
                        h.last_error = Some(e.clone());
                        h.failing_since_ms.get_or_insert(now);
                    });
                    backoff = (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                    tracing::warn!(url = %hook.url, line, error = %e, retry_s = backoff.as_secs(), "webhook not delivered; it is sent again before any later event");
                    if stop.pause(backoff) {
                        return;
                    }
                    break;
                }
            }
        }
    }
}

fn send(
    http: &reqwest::blocking::Client,
    hook: &NotifyConfig,
    rec: &Record,
    body: &serde_json::Value,
) -> Result<(), String> {
    post(http, hook, &rec.seq.to_string(), body)
}

/// POSTs one event, signed; `delivery` names it (`X-Packwitness-Delivery`).
fn post(
    http: &reqwest::blocking::Client,
    hook: &NotifyConfig,
    delivery: &str,
    body: &serde_json::Value,
) -> Result<(), String> {
    let bytes = body.to_string().into_bytes();
    let kind = body["event"].as_str().unwrap_or("");
    let r = http
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("x-packwitness-event", kind)
        .header("x-packwitness-delivery", delivery)
        .header("x-packwitness-signature", signature(&hook.secret, &bytes))
        .body(bytes)
        .send()
        .map_err(|e| format!("cannot reach {}: {e}", hook.url))?;
    if r.status().is_success() {
        Ok(())
    } else {
        Err(format!("{} answered {}", hook.url, r.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    #[test]
    fn the_signature_is_hmac_sha256() {
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
