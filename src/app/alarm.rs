//! Alarms: the recording process watches its own status twice a second and says loudly when
//! something goes wrong or right again: an error line in the log (journald keeps it) and the
//! `[alarm] command`, run with what happened in its environment.
//!
//! Owns: which alarms are raised now (an alarm must last [`HOLD`] before it is raised, a
//! camera that is merely starting [`HOLD_STARTING`], so a start or a one-frame hiccup is not
//! an alarm), running the command without ever waiting for it.
//! Never: changes what is recorded.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::Error;
use crate::recorder::status::{alarms, Alarm, ProcessStatus};

/// How often the status is looked at.
const EVERY: Duration = Duration::from_millis(500);
/// How long a condition must last before it is an alarm.
const HOLD: Duration = Duration::from_secs(1);
/// ...and for a camera that is starting (opening its source, no frame yet).
const HOLD_STARTING: Duration = Duration::from_secs(10);

/// The alarm thread of a recording process.
pub struct Alarms {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What the thread remembers between looks.
#[derive(Default)]
struct Watch {
    /// Conditions seen, by key: since when, and whether raised.
    seen: BTreeMap<String, (Instant, bool, Alarm)>,
}

impl Watch {
    /// Takes the alarms of one look; returns the changes: (raised or cleared, alarm).
    fn look(&mut self, now: Instant, current: Vec<Alarm>) -> Vec<(bool, Alarm)> {
        let mut changes = Vec::new();
        let mut keep = BTreeMap::new();
        for a in current {
            let key = a.key();
            let (since, raised) = self
                .seen
                .remove(&key)
                .map_or((now, false), |(s, r, _)| (s, r));
            let hold = if a.kind == "camera_starting" {
                HOLD_STARTING
            } else {
                HOLD
            };
            let raise = !raised && now.duration_since(since) >= hold;
            if raise {
                changes.push((true, a.clone()));
            }
            keep.insert(key, (since, raised || raise, a));
        }
        for (_, (_, raised, a)) in std::mem::take(&mut self.seen) {
            if raised {
                changes.push((false, a));
            }
        }
        self.seen = keep;
        changes
    }
}

impl Alarms {
    /// Starts watching `status` (the process's status, composed anew at each look).
    pub fn start(
        config: &Config,
        data_dir: PathBuf,
        status: Arc<dyn Fn() -> ProcessStatus + Send + Sync>,
    ) -> Result<Alarms, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let (config, stopping) = (config.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("alarms".into())
            .spawn(move || {
                let mut watch = Watch::default();
                while !stopping.load(Ordering::Relaxed) {
                    let p = status();
                    for (raised, a) in watch.look(Instant::now(), alarms(&p, &config)) {
                        announce(&config, &data_dir, raised, &a);
                    }
                    std::thread::park_timeout(EVERY);
                }
            })
            .map_err(|e| Error::internal(format!("cannot start the alarm thread: {e}")))?;
        Ok(Alarms {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for Alarms {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Logs an alarm change, queues it for the webhooks that ask for alarms, and runs the
/// `[alarm] command` for it.
fn announce(config: &Config, data_dir: &std::path::Path, raised: bool, a: &Alarm) {
    let state = if raised { "raised" } else { "cleared" };
    if !config.notify.is_empty() {
        let body = crate::notify::alarm_event(
            raised,
            &a.kind,
            a.station.as_deref(),
            a.camera.as_deref(),
            &a.reason,
            &crate::clock::format_time(chrono::Utc::now().into()),
        );
        crate::notify::queue_alarm(data_dir, &config.notify, &body);
    }
    if raised {
        tracing::error!(alarm = %a.kind, station = a.station.as_deref().unwrap_or(""), camera = a.camera.as_deref().unwrap_or(""), reason = %a.reason, "ALARM raised");
    } else {
        tracing::warn!(alarm = %a.kind, station = a.station.as_deref().unwrap_or(""), camera = a.camera.as_deref().unwrap_or(""), reason = %a.reason, "alarm cleared");
    }
    let Some((program, args)) = config.alarm.command.split_first() else {
        return;
    };
    match std::process::Command::new(program)
        .args(args)
        .env("PACKWITNESS_ALARM", &a.kind)
        .env("PACKWITNESS_ALARM_STATE", state)
        .env("PACKWITNESS_STATION", a.station.as_deref().unwrap_or(""))
        .env("PACKWITNESS_CAMERA", a.camera.as_deref().unwrap_or(""))
        .env("PACKWITNESS_REASON", &a.reason)
        .env("PACKWITNESS_DATA_DIR", data_dir)
        .stdin(std::process::Stdio::null())
        .spawn()
    {
        // Reaped on a thread of its own: the watch never waits for a siren.
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => {
            tracing::error!(command = %program, error = %e, "the [alarm] command could not be started")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(kind: &str, camera: &str) -> Alarm {
        Alarm {
            kind: kind.into(),
            station: Some("s".into()),
            camera: Some(camera.into()),
            reason: format!("{camera} {kind}"),
        }
    }

    #[test]
    fn an_alarm_is_raised_once_it_lasts_and_cleared_when_it_goes() {
        let t0 = Instant::now();
        let mut w = Watch::default();
        let lost = alarm("camera_lost", "c1");
        assert!(w.look(t0, vec![lost.clone()]).is_empty());
        let c = w.look(t0 + HOLD, vec![lost.clone()]);
        assert_eq!(c, vec![(true, lost.clone())]);
        // Raised once, however long it lasts.
        assert!(w.look(t0 + HOLD * 3, vec![lost.clone()]).is_empty());
        let c = w.look(t0 + HOLD * 4, vec![]);
        assert_eq!(c, vec![(false, lost.clone())]);
        // A blip shorter than HOLD is never raised, so never cleared.
        assert!(w.look(t0 + HOLD * 5, vec![lost.clone()]).is_empty());
        assert!(w.look(t0 + HOLD * 5 + HOLD / 2, vec![]).is_empty());
        // A camera starting is given longer.
        let starting = alarm("camera_starting", "c2");
        assert!(w.look(t0, vec![starting.clone()]).is_empty());
        assert!(w.look(t0 + HOLD * 2, vec![starting.clone()]).is_empty());
        assert_eq!(
            w.look(t0 + HOLD_STARTING, vec![starting.clone()]),
            vec![(true, starting)]
        );
    }
}
