//! The indexer: keeps the lookup index up to date on a thread of its own.
//!
//! Owns: the writer side of `index.sqlite3` in a recording process: building it when it is
//! missing or of an older schema (at 100k+ records a second, so a new index over millions of
//! lines takes a while), then catching it up after every append it is told of.
//! Never: makes the recorder wait. Appends only notify it; lookups read the index as far as
//! it has got (a few milliseconds behind while recording, further while it is first built).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use crate::error::Error;
use crate::index::Index;

enum Msg {
    /// New lines are in the manifest.
    Appended,
    Stop,
}

/// The indexer thread of a writer.
pub struct Indexer {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl Indexer {
    /// Starts indexing `data_dir` (the caller holds its writer lock).
    pub fn start(data_dir: &Path) -> Result<Indexer, Error> {
        let (tx, rx) = mpsc::channel();
        let dir = data_dir.to_owned();
        let thread = std::thread::Builder::new()
            .name("indexer".into())
            .spawn(move || run(dir, rx))
            .map_err(|e| Error::internal(format!("cannot start the indexer thread: {e}")))?;
        Ok(Indexer {
            tx,
            thread: Some(thread),
        })
    }

    /// False once its thread has ended (the index could not be opened or updated).
    pub fn alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Says that lines were appended (never blocks).
    pub fn appended(&self) {
        let _ = self.tx.send(Msg::Appended);
    }

    /// Catches up with everything appended so far, then stops.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.finish();
    }
}

fn run(dir: PathBuf, rx: Receiver<Msg>) {
    let t = std::time::Instant::now();
    let mut index = match Index::open_writer(&dir) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "the lookup index cannot be opened; lookups fail until it is rebuilt (`packwitness reindex`)");
            return;
        }
    };
    tracing::info!(
        seconds = t.elapsed().as_secs_f64(),
        "lookup index up to date"
    );
    loop {
        let Ok(first) = rx.recv() else { return };
        // Everything queued so far is one catch-up.
        let mut stop = matches!(first, Msg::Stop);
        while let Ok(m) = rx.try_recv() {
            stop |= matches!(m, Msg::Stop);
        }
        if let Err(e) = index.catch_up() {
            tracing::error!(error = %e, "index update failed; it is rebuilt from the manifest on the next start");
            return;
        }
        if stop {
            return;
        }
    }
}
