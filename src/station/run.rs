//! Running the stations of a config in one process: the `run` command's engine.
//!
//! Owns: one loop thread per station (scans in, actions out, a tick when idle), the scanner
//! threads, the web server of the process, SIGINT/SIGTERM, and the rule that whichever station
//! stops first stops them all. Never: prints (the caller's [`Feedback`] does).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{record_start, Evidence, Outcome, Station};
use crate::config::{Config, ScannerKind};
use crate::server::{self, StationHandle, StationStatus};
use crate::trigger::{self, Classifier, Event, Rejected, Scan};
use crate::Error;

/// How the packer (and whoever started the process) hears what happens.
pub trait Feedback: Sync {
    /// Recording has started: the stations, the one reading standard input (if any), and the
    /// web server's address (if any).
    fn ready(&self, stations: &[&str], stdin: Option<&str>, web: Option<SocketAddr>);
    /// A scan was accepted and acted on (it is in the manifest).
    fn accepted(&self, station: &str, scanner: &str, scan: &Scan, outcome: &Outcome);
    /// A scan was refused; recording is untouched.
    fn rejected(&self, station: &str, scanner: &str, rejected: &Rejected);
}

/// Records every station of `config` into `dir` until SIGINT/SIGTERM, the end of a scanner's
/// input, a camera that ends, or an error. Whichever station stops first stops them all, each
/// sealing its open clips, so a supervisor sees one process that records everything or none.
/// Installs the process's SIGINT/SIGTERM handler.
pub fn run(
    config: &Config,
    config_sha: &str,
    dir: &Path,
    feedback: &dyn Feedback,
) -> Result<(), Error> {
    let classifier =
        Arc::new(Classifier::new(&config.codes).map_err(|e| Error::Thread(e.to_string()))?);
    let evidence = Arc::new(Mutex::new(Evidence::open(dir, config, None)?));
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in &config.stations {
        let (tx, rx) = mpsc::channel();
        senders.push(tx);
        receivers.push(rx);
    }
    let statuses: Vec<Arc<Mutex<StationStatus>>> = config
        .stations
        .iter()
        .map(|st| {
            Arc::new(Mutex::new(StationStatus {
                id: st.id.clone(),
                cameras: st.cameras.iter().map(|c| c.id.clone()).collect(),
                running: true,
                ..Default::default()
            }))
        })
        .collect();
    // The web server first: a port in use stops the start before any camera is opened.
    let web = if config.server.listen.is_empty() {
        None
    } else {
        let handles = config
            .stations
            .iter()
            .zip(&senders)
            .zip(&statuses)
            .map(|((st, tx), status)| StationHandle {
                id: st.id.clone(),
                events: tx.clone(),
                status: status.clone(),
            })
            .collect();
        Some(server::Server::start(
            &config.server.listen,
            dir,
            config,
            handles,
        )?)
    };
    // Every station's cameras are opened before any scanner is read: a config error stops the
    // start (sealing nothing, since nothing was scanned), not a station already recording.
    let mut stations = Vec::new();
    for st in &config.stations {
        let started = record_start(&evidence, st, config_sha)
            .and_then(|_| Station::start(config, st, evidence.clone()));
        match started {
            Ok(started) => stations.push((st, started)),
            Err(e) => {
                for (_, s) in stations {
                    let _ = s.shutdown();
                }
                return Err(Error::Station {
                    station: st.id.clone(),
                    source: Box::new(e),
                });
            }
        }
    }
    let stop_all = {
        let senders = senders.clone();
        move || {
            for tx in &senders {
                let _ = tx.send(Event::Shutdown);
            }
        }
    };
    let listening = (|| {
        ctrlc::set_handler(stop_all.clone()).map_err(|e| {
            Error::Thread(format!("cannot install the SIGINT/SIGTERM handler: {e}"))
        })?;
        for ((st, _), tx) in stations.iter().zip(&senders) {
            for s in &st.scanners {
                trigger::spawn_scanner(s, classifier.clone(), tx.clone()).map_err(|e| {
                    Error::Thread(format!(
                        "cannot start scanner {} of station {}: {e}",
                        s.id, st.id
                    ))
                })?;
            }
        }
        Ok(())
    })();
    if let Err(e) = listening {
        for (_, s) in stations {
            let _ = s.shutdown();
        }
        return Err(e);
    }
    drop(senders);
    let ids: Vec<&str> = stations.iter().map(|(st, _)| st.id.as_str()).collect();
    let stdin = stations
        .iter()
        .find(|(st, _)| st.scanners.iter().any(|s| s.kind == ScannerKind::Stdin))
        .map(|(st, _)| st.id.as_str());
    feedback.ready(&ids, stdin, web.as_ref().map(|w| w.addr()));
    let mut first_err = None;
    std::thread::scope(|scope| {
        let handles: Vec<_> = stations
            .into_iter()
            .zip(receivers)
            .zip(&statuses)
            .map(|(((st, started), rx), status)| {
                let stop_all = stop_all.clone();
                let id = st.id.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("station-{id}"))
                    .spawn_scoped(scope, move || {
                        let res = station_loop(&started, rx, feedback, status);
                        // Whichever station stops first stops them all.
                        stop_all();
                        let down = started.shutdown();
                        res.and(down)
                    });
                (id, handle)
            })
            .collect();
        for (id, handle) in handles {
            let res = match handle {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err(Error::Thread("its thread panicked".into()))),
                Err(e) => {
                    stop_all();
                    Err(Error::Thread(format!("cannot start its thread: {e}")))
                }
            };
            if let Err(e) = res {
                tracing::error!(station = %id, error = %e, "station stopped with an error");
                first_err.get_or_insert(Error::Station {
                    station: id,
                    source: Box::new(e),
                });
            }
        }
    });
    if let Some(web) = web {
        web.stop();
    }
    first_err.map_or(Ok(()), Err)
}

/// One station's loop: scans in, actions out, a tick when nothing happens. Returns when told
/// to stop, when a scanner input ends, or when a camera stops. `status` is what the web page
/// shows of the station.
fn station_loop(
    station: &Station,
    rx: mpsc::Receiver<Event>,
    feedback: &dyn Feedback,
    status: &Mutex<StationStatus>,
) -> Result<(), Error> {
    let set_status = |f: &dyn Fn(&mut StationStatus)| {
        if let Ok(mut s) = status.lock() {
            f(&mut s);
        }
    };
    // A scan from a scanner or from HTTP: what the station did, for the answer.
    let handle =
        |scanner: &str, result: Result<Scan, Rejected>| -> Result<serde_json::Value, Error> {
            match result {
                Ok(scan) => {
                    let outcome = station.scan(scanner, &scan)?;
                    feedback.accepted(station.id(), scanner, &scan, &outcome);
                    set_status(&|s| s.update(&outcome, &scan.code));
                    Ok(server::outcome_json(&outcome))
                }
                Err(rejected) => {
                    station.reject(scanner, &rejected);
                    feedback.rejected(station.id(), scanner, &rejected);
                    Ok(server::rejected_json(&rejected))
                }
            }
        };
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Event::Shutdown) | Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            Ok(Event::Ended { scanner }) => {
                // Standard input or a recorded file ran out: the session is over.
                tracing::info!(station = %station.id(), scanner = %scanner, "scanner input ended; stopping");
                return Ok(());
            }
            Ok(Event::Scan { scanner, result }) => {
                handle(&scanner, result)?;
            }
            Ok(Event::Remote {
                scanner,
                result,
                reply,
            }) => {
                let answer = handle(&scanner, result);
                let _ = reply.send(match &answer {
                    Ok(a) => a.clone(),
                    Err(e) => serde_json::json!({"accepted": false, "error": e.to_string()}),
                });
                answer?;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                station.tick()?;
                let running = station.running();
                set_status(&|s| s.running = running);
                if !running {
                    tracing::warn!(station = %station.id(), "a camera stopped; shutting down");
                    return Ok(());
                }
            }
        }
    }
}
