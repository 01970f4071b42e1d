//! Running the stations of a config in one process: the `run` command's engine.
//!
//! Owns: the writer thread of the process (with its socket for other processes), one loop
//! thread per station (scans in, actions out, timeouts on a timer), the scanner threads, the
//! web server of the process, SIGINT/SIGTERM, and the rule that whichever station stops first
//! stops them all. Never: prints (the caller's [`Feedback`] does).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::anchor::Feed;
use crate::clock::SharedClock;
use crate::codes::{Classifier, Rejected, Scan};
use crate::config::{Config, ScannerKind, StationConfig};
use crate::error::Error;
use crate::recorder::assembly::Fmp4Files;
use crate::recorder::camera::Opener;
use crate::recorder::preview::{Preview, Previews};
use crate::recorder::station::record_start;
use crate::recorder::{Outcome, Station, StationDeps, Writer, WriterHandle, WriterThread};
use crate::scanners;
use crate::web::{self, ScanRefused, StationStatus};

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

/// What reaches a station's loop.
pub enum StationEvent {
    /// From one of its scanners.
    Scanner(scanners::Event),
    /// A scan sent over HTTP: the station answers on `reply` (a JSON object) once the scan is
    /// recorded.
    Remote {
        scanner: String,
        result: Result<Scan, Rejected>,
        reply: Sender<serde_json::Value>,
    },
    /// Stop (a signal, or another station stopped).
    Shutdown,
}

/// What `run` records with.
pub struct Run<'a> {
    pub config: &'a Config,
    /// SHA-256 of the config file's bytes as parsed ("" hashed for built-in defaults).
    pub config_sha: &'a str,
    pub data_dir: &'a Path,
    pub clock: SharedClock,
    pub opener: Arc<dyn Opener>,
    pub feedback: &'a dyn Feedback,
}

/// The stations of this process, as the web server reaches them.
struct AppStations {
    stations: Vec<(String, Sender<StationEvent>, Arc<Mutex<StationStatus>>)>,
    previews: Arc<Previews>,
}

impl web::Stations for AppStations {
    fn preview(&self, station: &str, camera: &str) -> Option<Arc<Preview>> {
        self.previews.get(station, camera)
    }

    fn statuses(&self) -> Vec<StationStatus> {
        self.stations
            .iter()
            .map(|(_, _, s)| s.lock().map(|g| g.clone()).unwrap_or_default())
            .collect()
    }

    fn scan(
        &self,
        id: &str,
        result: Result<Scan, Rejected>,
    ) -> Result<serde_json::Value, ScanRefused> {
        let Some((_, tx, _)) = self.stations.iter().find(|(s, _, _)| s == id) else {
            return Err(ScanRefused::NoSuchStation(
                self.stations.iter().map(|s| s.0.clone()).collect(),
            ));
        };
        let (reply, rx) = mpsc::channel();
        tx.send(StationEvent::Remote {
            scanner: "http".into(),
            result,
            reply,
        })
        .map_err(|_| ScanRefused::Stopping)?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| ScanRefused::NoAnswer)
    }
}

/// Installs the SIGINT/SIGTERM handler of the process: `on_signal` runs on each.
pub fn on_signal(on_signal: impl Fn() + Send + 'static) -> Result<(), Error> {
    ctrlc::set_handler(on_signal)
        .map_err(|e| Error::internal(format!("cannot install the SIGINT/SIGTERM handler: {e}")))
}

/// Blocks until SIGINT or SIGTERM.
pub fn wait_for_signal() -> Result<(), Error> {
    let (tx, rx) = mpsc::channel();
    on_signal(move || {
        let _ = tx.send(());
    })?;
    let _ = rx.recv();
    Ok(())
}

/// How long a stop may take after SIGINT/SIGTERM before the process exits anyway with
/// [`EXIT_STOP_DEADLINE`]: within the shipped unit's `TimeoutStopSec` (30 s), so systemd never
/// has to kill it.
pub const STOP_DEADLINE: Duration = Duration::from_secs(25);
/// The exit code of a stop that did not finish (the deadline passed, or a second signal):
/// what was not sealed or checkpointed is sealed by the next start (README, "Commands").
pub const EXIT_STOP_DEADLINE: i32 = 4;

/// What the first SIGINT/SIGTERM stops, and how many came.
#[derive(Default)]
struct Stopping {
    signals: std::sync::atomic::AtomicUsize,
    stations: Mutex<Vec<Sender<StationEvent>>>,
}

impl Stopping {
    fn asked(&self) -> bool {
        self.signals.load(std::sync::atomic::Ordering::SeqCst) > 0
    }

    /// The stations to tell; told at once if a signal came already.
    fn watch(&self, senders: Vec<Sender<StationEvent>>) {
        if let Ok(mut g) = self.stations.lock() {
            *g = senders;
        }
        if self.asked() {
            self.stop_stations();
        }
    }

    fn stop_stations(&self) {
        if let Ok(g) = self.stations.lock() {
            for tx in g.iter() {
                let _ = tx.send(StationEvent::Shutdown);
            }
        }
    }

    /// A signal: the first stops the stations and starts the deadline, the second ends the
    /// process at once.
    fn signal(&self, deadline: Duration) {
        let n = self
            .signals
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        if n >= 2 {
            tracing::error!(
                code = EXIT_STOP_DEADLINE,
                "a second SIGINT/SIGTERM: exiting now; the next start seals what is open"
            );
            std::process::exit(EXIT_STOP_DEADLINE);
        }
        tracing::info!(
            deadline_s = deadline.as_secs(),
            "stopping: sealing open clips and writing the last checkpoint"
        );
        self.stop_stations();
        let spawned = std::thread::Builder::new()
            .name("stop-deadline".into())
            .spawn(move || {
                std::thread::sleep(deadline);
                tracing::error!(seconds = deadline.as_secs(), code = EXIT_STOP_DEADLINE, "the stop took too long (a camera, a disk or a server that does not answer): exiting now; the next start seals what is open");
                std::process::exit(EXIT_STOP_DEADLINE);
            });
        if spawned.is_err() {
            std::process::exit(EXIT_STOP_DEADLINE);
        }
    }
}

/// One station's channel and the status the web page shows of it.
struct Lane {
    tx: Sender<StationEvent>,
    rx: mpsc::Receiver<StationEvent>,
    status: Arc<Mutex<StationStatus>>,
}

/// Records every station of the config into the data dir until SIGINT/SIGTERM, the end of a
/// scanner's input, a camera that ends, or an error. Whichever station stops first stops them
/// all, each sealing its open clips, so a supervisor sees one process that records everything
/// or none. Installs the process's SIGINT/SIGTERM handler.
pub fn run(r: Run<'_>) -> Result<(), Error> {
    no_huge_pages();
    run_first(r.config.recorder.nice);
    // Signals are taken from the first moment: a stop asked during a long start is honoured
    // as soon as the stations exist, and always within the deadline.
    let stopping = Arc::new(Stopping::default());
    {
        let stopping = stopping.clone();
        on_signal(move || stopping.signal(STOP_DEADLINE))?;
    }
    let config = r.config;
    let classifier = Arc::new(Classifier::new(&config.codes)?);
    // A stamp the font cannot draw is refused before anything is recorded.
    crate::media::font::check_config(config)?;
    clock_not_behind(
        r.data_dir,
        r.clock.as_ref(),
        config.recorder.max_clock_behind_s,
    )?;
    let mut opened = Writer::open(r.data_dir, config, r.clock.clone())?;
    let resumable = opened.take_resumable();
    // Checkpoints go to the TSA and the witnesses from threads of their own: the writer only
    // hands them over.
    let invalid = |e: crate::anchor::AnchorError| {
        Error::msg(crate::error::ErrorKind::Invalid, format!("[anchor] {e}"))
    };
    let anchorer = crate::anchor::Anchorer::start(r.data_dir, &config.anchor).map_err(invalid)?;
    let cosigner = crate::anchor::witness_client::Cosigner::start(r.data_dir, &config.anchor)
        .map_err(invalid)?;
    if anchorer.is_some() || cosigner.is_some() {
        let feeds: Vec<Feed> = anchorer
            .as_ref()
            .map(|a| Box::new(a.feeder()) as Feed)
            .into_iter()
            .chain(cosigner.as_ref().map(|c| Box::new(c.feeder()) as Feed))
            .collect();
        opened.set_observer(crate::anchor::checkpoint_observer(feeds));
    }
    let writer = WriterThread::spawn(opened, true)?;
    // What the writer sealed goes to the archive from a thread of its own, read back from
    // the data dir.
    let uploader =
        crate::archive::push::Uploader::start(r.data_dir, &config.archive, &config.anchor)
            .map_err(|e| Error::msg(crate::error::ErrorKind::Invalid, format!("[archive] {e}")))?;
    // Webhooks, each from a thread of its own, read back from the data dir like the archive.
    let notifier = crate::notify::Notifier::start(r.data_dir, &config.notify)?;
    if let Some(a) = &anchorer {
        a.attach(Box::new(writer.handle()));
    }
    let handle = writer.handle();
    // Retention on its own thread: the writer every camera waits on only appends.
    let pruner = crate::recorder::pruner::Pruner::start(
        r.data_dir,
        config.retention.clone(),
        handle.clone(),
        r.clock.clone(),
        uploader.is_some(),
        receipts(config),
    )?;
    let lanes: Vec<Lane> = config
        .stations
        .iter()
        .map(|st| {
            let (tx, rx) = mpsc::channel();
            let status = Arc::new(Mutex::new(StationStatus {
                id: st.id.clone(),
                cameras: st.cameras.iter().map(|c| c.id.clone()).collect(),
                running: true,
                ..Default::default()
            }));
            Lane { tx, rx, status }
        })
        .collect();
    // What `packwitness status`, the alarms and `/healthz` see of this process.
    let status = process_status(
        &r,
        &lanes,
        &handle,
        anchorer.as_ref().map(|a| a.status_handle()),
        cosigner.as_ref().map(|c| c.status_handle()),
        uploader.as_ref().map(|u| u.status_handle()),
        notifier.as_ref().map(|n| n.status_handle()),
    );
    {
        let status = status.clone();
        handle.set_status(Box::new(move || status()));
    }
    // The web server first: a port in use stops the start before any camera is opened.
    let previews = Arc::new(Previews::default());
    let web = start_web(&r, &lanes, &handle, status.clone(), &previews)?;
    let stations = start_stations(&r, &handle, &previews)?;
    // Orders open when the process before died are recorded again, as their next part.
    for (st, station) in &stations {
        for o in resumable.iter().filter(|o| o.station == st.id) {
            if let Err(e) = station.resume(o) {
                tracing::error!(station = %st.id, order = %o.order, error = %e, "could not resume the order");
            }
        }
    }
    let alarms = super::alarm::Alarms::start(config, r.data_dir.to_owned(), status)?;
    stopping.watch(lanes.iter().map(|l| l.tx.clone()).collect());
    // A signal and a station that stops first stop the stations the same way.
    let stop_all = {
        let stopping = stopping.clone();
        move || stopping.stop_stations()
    };
    if let Err(e) = listen(&stations, &lanes, &classifier) {
        for (_, s) in stations {
            let _ = s.shutdown();
        }
        return Err(e);
    }
    let ids: Vec<&str> = stations.iter().map(|(st, _)| st.id.as_str()).collect();
    let stdin = stations
        .iter()
        .find(|(st, _)| st.scanners.iter().any(|s| s.kind == ScannerKind::Stdin))
        .map(|(st, _)| st.id.as_str());
    r.feedback
        .ready(&ids, stdin, web.as_ref().map(|w| w.addr()));
    let mut first_err = join_stations(&r, stations, lanes, stop_all);
    alarms.stop();
    if let Some(web) = web {
        web.stop();
    }
    pruner.stop();
    // A stamp under way writes its record while the writer still takes records; none starts
    // after (the shutdown checkpoint is queued for the next start).
    if let Some(a) = &anchorer {
        a.quiesce();
    }
    // The shutdown checkpoint: everything recorded is covered by a signature.
    if let Err(e) = writer.stop() {
        tracing::error!(error = %e, "could not write the shutdown checkpoint");
        first_err.get_or_insert(e);
    }
    // After the writer: its shutdown checkpoint is queued for the TSA (sent at the next start
    // if not now).
    if let Some(a) = anchorer {
        a.stop();
    }
    if let Some(c) = cosigner {
        c.stop();
    }
    if let Some(u) = uploader {
        u.stop();
    }
    if let Some(n) = notifier {
        n.stop();
    }
    first_err.map_or(Ok(()), Err)
}

/// How retention asks the archive whether it holds a clip (`[archive]`), naming the receipt.
fn receipts(config: &Config) -> Option<crate::recorder::pruner::Receipts> {
    if config.archive.url.is_empty() {
        return None;
    }
    let client = crate::archive::push::Client::new(&config.archive).ok()?;
    Some(Arc::new(move |sha256: &str| {
        client
            .stored(sha256)
            .map(|s| {
                s.map(|s| {
                    format!(
                        "{} {} version {}, {} until {}",
                        client.url(),
                        s.key,
                        s.version_id,
                        s.lock_mode,
                        s.retain_until
                    )
                })
            })
            .map_err(|e| e.to_string())
    }))
}

/// Sets the process's nice value (`[recorder] nice`) before any thread starts, so that
/// every thread of the recorder has it: capture and writing are not starved by other work
/// (a busy PC cost over a second of video at a crash). Where the system does not allow it,
/// says how to.
fn run_first(nice: i32) {
    if nice == 0 {
        return;
    }
    // SAFETY: setpriority(2) with plain integers, on this thread (which every later thread
    // inherits from).
    let set = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if set != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!(nice, error = %e, "cannot raise the recorder's priority ([recorder] nice): run it as root, give it CAP_SYS_NICE, or set Nice= in its systemd unit");
    } else {
        tracing::debug!(nice, "recorder priority set");
    }
}

/// Transparent huge pages would round the encoders' large buffers up to 2 MB pages (a third
/// of a two-camera station's memory): a recorder that runs for months keeps to what it uses.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and changes only this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// The status of this process, composed anew at each call from its stations' statuses.
fn process_status(
    r: &Run<'_>,
    lanes: &[Lane],
    handle: &WriterHandle,
    anchor: Option<Arc<Mutex<crate::anchor::AnchorStatus>>>,
    witnesses: Option<Arc<Mutex<Vec<crate::anchor::witness_client::WitnessStatus>>>>,
    archive: Option<Arc<Mutex<crate::archive::push::ArchiveStatus>>>,
    notify: Option<Arc<Mutex<Vec<crate::notify::HookStatus>>>>,
) -> web::StatusSource {
    let statuses: Vec<Arc<Mutex<StationStatus>>> = lanes.iter().map(|l| l.status.clone()).collect();
    let (data_dir, config, clock, writer) = (
        r.data_dir.to_owned(),
        r.config.clone(),
        r.clock.clone(),
        handle.clone(),
    );
    let started = clock.monotonic();
    Arc::new(move || {
        let stations = statuses
            .iter()
            .map(|s| s.lock().map(|g| g.clone()).unwrap_or_default())
            .collect();
        let uptime = clock.monotonic().saturating_sub(started).as_secs_f64();
        let mut anchor = anchor
            .as_ref()
            .and_then(|a| a.lock().ok().map(|g| g.clone()));
        if let Some(w) = witnesses
            .as_ref()
            .and_then(|w| w.lock().ok().map(|g| g.clone()))
        {
            anchor.get_or_insert_with(Default::default).witnesses = w;
        }
        web::ProcessStatus::compose(
            &data_dir,
            &config,
            stations,
            Some(&writer),
            &clock,
            uptime,
            web::Outside {
                anchor,
                archive: archive
                    .as_ref()
                    .and_then(|a| a.lock().ok().map(|g| g.clone())),
                notify: notify
                    .as_ref()
                    .and_then(|n| n.lock().ok().map(|g| g.clone()))
                    .unwrap_or_default(),
            },
        )
    })
}

/// The web server of the process, when `[server] listen` is set.
fn start_web(
    r: &Run<'_>,
    lanes: &[Lane],
    handle: &WriterHandle,
    status: web::StatusSource,
    previews: &Arc<Previews>,
) -> Result<Option<web::Server>, Error> {
    let config = r.config;
    if config.server.listen.is_empty() {
        return Ok(None);
    }
    let stations = AppStations {
        stations: config
            .stations
            .iter()
            .zip(lanes)
            .map(|(st, l)| (st.id.clone(), l.tx.clone(), l.status.clone()))
            .collect(),
        previews: previews.clone(),
    };
    Ok(Some(web::Server::start(
        &config.server.listen,
        web::ServerDeps {
            data_dir: r.data_dir.to_owned(),
            config: config.clone(),
            clock: r.clock.clone(),
            stations: Some(Arc::new(stations)),
            writer: Some(handle.clone()),
            status: Some(status),
        },
    )?))
}

/// Starts every station (its `station_start` record, then its cameras). Every station's
/// cameras are opened before any scanner is read: a config error stops the start (sealing
/// nothing, since nothing was scanned), not a station already recording.
fn start_stations<'c>(
    r: &Run<'c>,
    handle: &WriterHandle,
    previews: &Arc<Previews>,
) -> Result<Vec<(&'c StationConfig, Station)>, Error> {
    let mut stations = Vec::new();
    for st in &r.config.stations {
        let deps = StationDeps {
            records: Arc::new(handle.clone()),
            opener: r.opener.clone(),
            files: Arc::new(Fmp4Files::default()),
            clock: r.clock.clone(),
            data_dir: r.data_dir.to_owned(),
            previews: previews.clone(),
            disk: handle.disk(),
        };
        let started = record_start(handle, st, r.config_sha, handle.verifier())
            .and_then(|_| Station::start(r.config, st, deps));
        match started {
            Ok(started) => stations.push((st, started)),
            Err(e) => {
                for (_, s) in stations {
                    let _ = s.shutdown();
                }
                return Err(e.context(format!("station {}", st.id)));
            }
        }
    }
    Ok(stations)
}

/// Starts every scanner thread.
fn listen(
    stations: &[(&StationConfig, Station)],
    lanes: &[Lane],
    classifier: &Arc<Classifier>,
) -> Result<(), Error> {
    for ((st, _), lane) in stations.iter().zip(lanes) {
        for s in &st.scanners {
            let tx = lane.tx.clone();
            let sink: scanners::Sink =
                Box::new(move |ev| tx.send(StationEvent::Scanner(ev)).is_ok());
            scanners::spawn_scanner(s, classifier.clone(), sink).map_err(|e| {
                Error::internal(format!(
                    "cannot start scanner {} of station {}: {e}",
                    s.id, st.id
                ))
            })?;
        }
    }
    Ok(())
}

/// Runs each station's loop on a thread of its own until one stops (which stops them all),
/// shuts each down, and returns the first error.
fn join_stations(
    r: &Run<'_>,
    stations: Vec<(&StationConfig, Station)>,
    lanes: Vec<Lane>,
    stop_all: impl Fn() + Send + Clone,
) -> Option<Error> {
    let mut first_err = None;
    std::thread::scope(|scope| {
        let handles: Vec<_> = stations
            .into_iter()
            .zip(lanes)
            .map(|((st, started), lane)| {
                let stop_all = stop_all.clone();
                let id = st.id.clone();
                let feedback = r.feedback;
                let clock = r.clock.clone();
                let handle = std::thread::Builder::new()
                    .name(format!("station-{id}"))
                    .spawn_scoped(scope, move || {
                        let res = station_loop(&started, lane.rx, feedback, &lane.status, &clock);
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
                    .unwrap_or_else(|_| Err(Error::internal("its thread panicked"))),
                Err(e) => {
                    stop_all();
                    Err(Error::internal(format!("cannot start its thread: {e}")))
                }
            };
            if let Err(e) = res {
                tracing::error!(station = %id, error = %e, "station stopped with an error");
                first_err.get_or_insert(e.context(format!("station {id}")));
            }
        }
    });
    first_err
}

/// A scan that could not be recorded at all (not even kept for later): the packer hears it
/// as a refusal, the log says why, and the station goes on.
fn refused(station: &Station, feedback: &dyn Feedback, scanner: &str, raw: String, e: &Error) {
    tracing::error!(station = %station.id(), scanner, scan = %raw, error = %e, "NOT RECORDING: a scan could not be recorded");
    let rejected = Rejected {
        raw,
        error: crate::codes::CodeError::NotRecorded(e.to_string()),
    };
    station.reject(scanner, &rejected);
    feedback.rejected(station.id(), scanner, &rejected);
}

/// What was scanned, for a refusal's message.
fn scanned(result: &Result<Scan, Rejected>) -> String {
    match result {
        Ok(s) => s.code.clone(),
        Err(r) => r.raw.clone(),
    }
}

/// How often a station checks its timeout even while scans keep coming.
const TICK: Duration = Duration::from_millis(200);

/// One station's loop: scans in, actions out, a tick every 200 ms whatever comes in. Returns
/// when told to stop, when a scanner input ends, or when a camera stops. `status` is what the
/// web page shows of the station.
fn station_loop(
    station: &Station,
    rx: mpsc::Receiver<StationEvent>,
    feedback: &dyn Feedback,
    status: &Mutex<StationStatus>,
    clock: &SharedClock,
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
                    let at = clock.now().format("%H:%M:%S").to_string();
                    let report = station.report();
                    set_status(&|s| {
                        s.update(&outcome, &scan.code, at.clone());
                        s.state = report.state;
                        s.health = Some(report.clone());
                    });
                    Ok(web::outcome_json(&outcome))
                }
                Err(rejected) => {
                    station.reject(scanner, &rejected);
                    feedback.rejected(station.id(), scanner, &rejected);
                    Ok(web::rejected_json(&rejected))
                }
            }
        };
    let mut last_tick = clock.monotonic();
    loop {
        let event = crate::clock::recv_timeout(clock.as_ref(), &rx, TICK);
        let now = clock.monotonic();
        if now.saturating_sub(last_tick) >= TICK || matches!(event, Err(RecvTimeoutError::Timeout))
        {
            last_tick = now;
            // One failed record never stops a station (the failure policy, docs/design.md).
            if let Err(e) = station.tick() {
                tracing::error!(station = %station.id(), error = %e, "a timed record could not be written; the station goes on");
            }
            let running = station.running();
            let report = station.report();
            set_status(&|s| {
                s.running = running;
                s.state = report.state;
                s.health = Some(report.clone());
            });
            if !running {
                tracing::warn!(station = %station.id(), "a camera stopped; shutting down");
                return Ok(());
            }
        }
        match event {
            Ok(StationEvent::Shutdown) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
            Ok(StationEvent::Scanner(scanners::Event::Ended { scanner })) => {
                // Standard input or a recorded file ran out: the session is over.
                tracing::info!(station = %station.id(), scanner = %scanner, "scanner input ended; stopping");
                return Ok(());
            }
            Ok(StationEvent::Scanner(scanners::Event::Scan { scanner, result })) => {
                let raw = scanned(&result);
                if let Err(e) = handle(&scanner, result) {
                    refused(station, feedback, &scanner, raw, &e);
                }
            }
            Ok(StationEvent::Scanner(scanners::Event::Connected { scanner })) => {
                tracing::info!(station = %station.id(), scanner = %scanner, "scanner connected");
            }
            Ok(StationEvent::Scanner(scanners::Event::Disconnected { scanner })) => {
                tracing::warn!(station = %station.id(), scanner = %scanner, "scanner disconnected");
            }
            Ok(StationEvent::Remote {
                scanner,
                result,
                reply,
            }) => {
                let raw = scanned(&result);
                let answer = handle(&scanner, result);
                let _ = reply.send(match &answer {
                    Ok(a) => a.clone(),
                    Err(e) => serde_json::json!({"accepted": false, "not_recording": true, "error": e.to_string()}),
                });
                if let Err(e) = &answer {
                    refused(station, feedback, &scanner, raw, e);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Refuses to record with a clock more than `max_s` behind the last record of the data dir:
/// every record and clip would claim a time before what was already recorded.
fn clock_not_behind(
    data_dir: &Path,
    clock: &dyn crate::clock::Clock,
    max_s: u64,
) -> Result<(), Error> {
    let Ok(reader) = crate::log::reader::LogReader::open(data_dir) else {
        return Ok(());
    };
    if reader.size() == 0 {
        return Ok(());
    }
    let last = reader.record(reader.size())?;
    let Ok(last_at) = chrono::DateTime::parse_from_rfc3339(&last.at) else {
        return Ok(());
    };
    let now = clock.now();
    let behind = last_at.signed_duration_since(now);
    if behind.num_seconds() > max_s as i64 {
        return Err(Error::msg(
            crate::error::ErrorKind::Invalid,
            format!(
                "this machine's clock says {}, {} before the last record of {} ({}): new clips would claim a time before what is already recorded. Set the clock (`timedatectl set-ntp true`, or `date -s`), then start again ([recorder] max_clock_behind_s = {max_s})",
                crate::clock::format_time(now),
                human_duration(behind.num_seconds()),
                data_dir.display(),
                last.at
            ),
        ));
    }
    Ok(())
}

fn human_duration(s: i64) -> String {
    match s {
        s if s >= 86_400 => format!("{:.1} days", s as f64 / 86_400.0),
        s if s >= 3_600 => format!("{:.1} hours", s as f64 / 3_600.0),
        s if s >= 60 => format!("{} minutes", s / 60),
        s => format!("{s} s"),
    }
}
