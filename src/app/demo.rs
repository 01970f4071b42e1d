//! The demo: the whole flow on the embedded default (a test-pattern camera), no hardware.
//!
//! Owns: checking the demo's order codes before anything is recorded, choosing a fresh data
//! dir, and playing a packer: each order scanned, packed for a few seconds, the stop code at
//! the end, the post-roll waited out.
//! Never: prints (the binary shows each record through the observer, then the lookup and the
//! verification).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::codes::{Classifier, CodeKind, Scan};
use crate::config::Config;
use crate::error::Error;
use crate::recorder::assembly::Fmp4Files;
use crate::recorder::camera::Opener;
use crate::recorder::station::record_start;
use crate::recorder::writer::Observer;
use crate::recorder::{Station, StationDeps, Writer, WriterThread};

/// What the demo will scan, checked before anything is recorded.
pub struct Plan {
    pub scans: Vec<Scan>,
    pub stop: Scan,
    pub clip_seconds: f64,
}

/// Checks the demo's orders (default `DEMO-0001`..`DEMO-0003`) and its clip length.
pub fn plan(config: &Config, orders: &[String], clip_seconds: f64) -> Result<Plan, Error> {
    if !(0.5..=3600.0).contains(&clip_seconds) {
        return Err(Error::invalid(format!(
            "--clip-seconds {clip_seconds} is out of range 0.5..=3600"
        )));
    }
    let orders: Vec<String> = if orders.is_empty() {
        (1..=3).map(|i| format!("DEMO-{i:04}")).collect()
    } else {
        orders.to_vec()
    };
    let classifier = Classifier::new(&config.codes)?;
    crate::media::font::check_config(config)?;
    let mut scans = Vec::new();
    for raw in &orders {
        let scan = classifier
            .classify(raw)
            .map_err(|e| Error::from(e).context(format!("order code {raw:?}")))?;
        if !matches!(scan.kind, CodeKind::Order | CodeKind::Tracking) {
            return Err(Error::invalid(format!(
                "demo order {raw:?} is not an order code (it is a {} code); choose another demo order code",
                scan.kind.as_str()
            )));
        }
        scans.push(scan);
    }
    let stop = classifier
        .classify(&config.codes.stop)
        .map_err(|e| Error::from(e).context(format!("stop code {:?}", config.codes.stop)))?;
    Ok(Plan {
        scans,
        stop,
        clip_seconds,
    })
}

/// A new `./packwitness-demo-<local time>` directory name that does not exist yet.
pub fn fresh_dir(clock: &SharedClock) -> PathBuf {
    let stamp = clock.now().format("%Y%m%d-%H%M%S");
    let base = PathBuf::from(format!("packwitness-demo-{stamp}"));
    let mut dir = base.clone();
    let mut n = 2;
    while dir.exists() {
        dir = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    dir
}

/// Records the plan on the config's first station into `dir`, in real time, showing every
/// record to `observer` as it becomes durable.
pub fn record(
    config: &Config,
    config_sha: &str,
    dir: &Path,
    plan: &Plan,
    opener: Arc<dyn Opener>,
    clock: SharedClock,
    observer: Observer,
) -> Result<(), Error> {
    crate::datadir::create(dir)?;
    let st = config.first_station();
    let mut writer = Writer::open(dir, config, clock.clone())?;
    writer.set_observer(observer);
    let writer = WriterThread::spawn(writer, true)?;
    let handle = writer.handle();
    record_start(&handle, st, config_sha, handle.verifier())?;
    let station = Station::start(
        config,
        st,
        StationDeps {
            records: Arc::new(handle.clone()),
            opener,
            files: Arc::new(Fmp4Files::default()),
            clock,
            data_dir: dir.to_owned(),
            previews: Default::default(),
            disk: handle.disk(),
        },
    )?;
    let played = (|| {
        for scan in &plan.scans {
            station.scan("demo", scan)?;
            // The packer packs: the demo runs in real time, as a station would.
            std::thread::sleep(Duration::from_secs_f64(plan.clip_seconds));
            if !station.running() {
                break;
            }
        }
        station.scan("demo", &plan.stop)?;
        // Let the post-roll run out before stopping.
        std::thread::sleep(Duration::from_secs_f64(st.post_roll_s + 0.3));
        Ok::<(), Error>(())
    })();
    let down = station.shutdown();
    let stopped = writer.stop();
    played.and(down).and(stopped)
}
