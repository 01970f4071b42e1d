//! Scanners: the barcode scanners of a station, each on a thread of its own.
//!
//! Owns: reading codes from standard input, keyboard-wedge scanners (evdev, with the key
//! decoder in [`keys`]) and serial scanners; waiting for an unplugged device and reopening it
//! by its path; handing every code to the classifier and the result to the station's sink.
//! Never: decides what a scan does (the recorder's state machine does) or blocks recording.

use std::fs::File;
use std::io::{BufRead, ErrorKind, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub mod keys;

use crate::codes::{shorten, Classifier, CodeError, Rejected, Scan};
use crate::config::{ScannerConfig, ScannerKind, Terminator};
use keys::{parse_event, KeyDecoder, KeyEvent, Typed, EVENT_SIZE};

/// What a scanner tells its station.
#[derive(Debug)]
pub enum Event {
    /// One code was scanned: understood, or refused with the reason.
    Scan {
        scanner: String,
        result: Result<Scan, Rejected>,
    },
    /// A scanner whose input has an end (standard input, a recorded file) reached it.
    Ended { scanner: String },
    /// A scanner device was opened (at start, or plugged back in).
    Connected { scanner: String },
    /// A scanner device went away (unplugged); it is reopened when it is back.
    Disconnected { scanner: String },
}

/// Where a scanner thread sends its events; false when nobody listens any more.
pub type Sink = Box<dyn Fn(Event) -> bool + Send>;

/// How a scanner is named on the command line: `stdin`, `evdev:PATH`, `serial:PATH[@BAUD]`.
pub fn parse_scanner_spec(spec: &str) -> Result<ScannerConfig, String> {
    let base = ScannerConfig::default();
    if spec == "stdin" {
        return Ok(base);
    }
    if let Some(path) = spec.strip_prefix("evdev:") {
        return Ok(ScannerConfig {
            kind: ScannerKind::Evdev,
            path: PathBuf::from(path),
            ..base
        });
    }
    if let Some(rest) = spec.strip_prefix("serial:") {
        let (path, baud) = match rest.rsplit_once('@') {
            Some((p, b)) => (
                p,
                b.parse::<u32>()
                    .map_err(|_| format!("--scanner {spec:?}: {b:?} is not a baud rate"))?,
            ),
            None => (rest, base.baud),
        };
        return Ok(ScannerConfig {
            kind: ScannerKind::Serial,
            path: PathBuf::from(path),
            baud,
            ..base
        });
    }
    Err(format!(
        "--scanner {spec:?} is not a scanner; use stdin, evdev:/dev/input/by-id/...-event-kbd or serial:/dev/ttyACM0[@9600]"
    ))
}

/// Starts a scanner thread sending to `to`. It stops when the receiver is gone, and for
/// inputs with an end (standard input, a regular file of events) after sending [`Event::Ended`].
pub fn spawn_scanner(
    cfg: &ScannerConfig,
    classifier: Arc<Classifier>,
    to: Sink,
) -> std::io::Result<JoinHandle<()>> {
    let cfg = cfg.clone();
    std::thread::Builder::new()
        .name(format!("scanner-{}", cfg.id))
        .spawn(move || {
            let out = Out {
                id: cfg.id.clone(),
                classifier,
                to,
            };
            match cfg.kind {
                ScannerKind::Stdin => read_lines(std::io::stdin().lock(), &out),
                ScannerKind::Evdev => read_evdev(&cfg.path, cfg.grab, &out),
                ScannerKind::Serial => read_serial(&cfg, &out),
            }
        })
}

/// Where a scanner's codes go.
pub struct Out {
    pub id: String,
    pub classifier: Arc<Classifier>,
    pub to: Sink,
}

impl Out {
    /// Sends one typed code; false when nobody listens any more.
    fn code(&self, raw: &str) -> bool {
        let result = self.classifier.classify(raw).map_err(|error| Rejected {
            raw: shorten(raw),
            error,
        });
        self.send(result)
    }

    fn reject(&self, raw: &str, error: CodeError) -> bool {
        self.send(Err(Rejected {
            raw: shorten(raw),
            error,
        }))
    }

    fn send(&self, result: Result<Scan, Rejected>) -> bool {
        (self.to)(Event::Scan {
            scanner: self.id.clone(),
            result,
        })
    }

    fn ended(&self) {
        (self.to)(Event::Ended {
            scanner: self.id.clone(),
        });
    }

    fn connected(&self) -> bool {
        (self.to)(Event::Connected {
            scanner: self.id.clone(),
        })
    }

    fn disconnected(&self) -> bool {
        (self.to)(Event::Disconnected {
            scanner: self.id.clone(),
        })
    }

    fn typed(&self, t: Typed) -> bool {
        match t {
            Typed::Code(s) => self.code(&s),
            Typed::UnknownKey { key } => self.reject("", CodeError::UnknownKey { key }),
            Typed::TooLong { len } => self.reject(
                "",
                CodeError::TooLong {
                    len,
                    max: self.classifier.max_len(),
                },
            ),
        }
    }
}

/// One scan per line from a terminal or a pipe, until end of input.
pub fn read_lines(input: impl BufRead, out: &Out) {
    for line in input.split(b'\n') {
        let line = match line {
            Ok(l) => String::from_utf8_lossy(&l).into_owned(),
            Err(e) => {
                tracing::error!(scanner = %out.id, error = %e, "reading scans from standard input failed; stopping");
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        if !out.code(&line) {
            return;
        }
    }
    out.ended();
}

/// Waits until `path` exists, saying so once.
fn wait_for(path: &Path, id: &str) {
    let mut said = false;
    while !path.exists() {
        if !said {
            tracing::warn!(scanner = %id, path = %path.display(), "scanner is not there (unplugged?); waiting for it to come back");
            said = true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if said {
        tracing::warn!(scanner = %id, path = %path.display(), "scanner is back");
    }
}

/// A keyboard-wedge scanner: its event device (grabbed), or a FIFO or file of raw
/// `struct input_event` records standing in for one.
pub fn read_evdev(path: &Path, grab: bool, out: &Out) {
    let mut decoder = KeyDecoder::new();
    let mut backoff = Duration::from_millis(200);
    loop {
        wait_for(path, &out.id);
        let is_device = std::fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device());
        let result = if is_device {
            read_device(path, grab, &mut decoder, out)
        } else {
            read_records(path, &mut decoder, out)
        };
        decoder.reset(); // a code cut short by an unplug is never half-sent
        match result {
            Ok(Flow::Ended) => {
                out.ended();
                return;
            }
            Ok(Flow::Closed) => return,
            Ok(Flow::Gone) => {
                tracing::warn!(scanner = %out.id, path = %path.display(), "scanner disconnected; reopening it when it is back");
                if !out.disconnected() {
                    return;
                }
                backoff = Duration::from_millis(200);
            }
            Err(e) => {
                tracing::warn!(scanner = %out.id, path = %path.display(), error = %e, retry_in = ?backoff, "cannot read the scanner; check that packwitness may read it (group `input`)");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Why a read loop stopped.
enum Flow {
    /// The input has an end and reached it.
    Ended,
    /// The device (or the writer of a FIFO) went away: wait for it and reopen.
    Gone,
    /// Nobody listens any more.
    Closed,
}

fn read_device(
    path: &Path,
    grab: bool,
    decoder: &mut KeyDecoder,
    out: &Out,
) -> std::io::Result<Flow> {
    let mut dev = evdev::Device::open(path)?;
    if grab {
        // Scans then type into no other window on this machine.
        if let Err(e) = dev.grab() {
            tracing::warn!(scanner = %out.id, path = %path.display(), error = %e, "cannot grab the scanner; its scans also type into the focused window");
        }
    }
    tracing::info!(scanner = %out.id, path = %path.display(), name = dev.name().unwrap_or("?"), "scanner opened");
    if !out.connected() {
        return Ok(Flow::Closed);
    }
    loop {
        let events = match dev.fetch_events() {
            Ok(evs) => evs
                .map(|e| KeyEvent {
                    kind: e.event_type().0,
                    code: e.code(),
                    value: e.value(),
                })
                .collect::<Vec<_>>(),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Ok(Flow::Gone), // ENODEV: unplugged
        };
        for ev in events {
            if let Some(t) = decoder.feed(ev) {
                if !out.typed(t) {
                    return Ok(Flow::Closed);
                }
            }
        }
    }
}

fn read_records(path: &Path, decoder: &mut KeyDecoder, out: &Out) -> std::io::Result<Flow> {
    let regular = std::fs::metadata(path)?.is_file();
    let mut file = File::open(path)?; // a FIFO: blocks until a writer opens it
    if !out.connected() {
        return Ok(Flow::Closed);
    }
    let mut record = [0u8; EVENT_SIZE];
    loop {
        match read_full(&mut file, &mut record) {
            Ok(true) => {}
            Ok(false) if regular => return Ok(Flow::Ended),
            Ok(false) => return Ok(Flow::Gone),
            Err(e) => return Err(e),
        }
        if let Some(t) = decoder.feed(parse_event(&record)) {
            if !out.typed(t) {
                return Ok(Flow::Closed);
            }
        }
    }
}

/// Reads one whole record; false at end of input (a trailing partial record is dropped).
fn read_full(file: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => return Ok(false),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Splits a serial byte stream into codes at the configured terminator.
#[derive(Debug)]
pub struct LineSplitter {
    terminator: Terminator,
    buf: Vec<u8>,
    overflow: usize,
}

impl LineSplitter {
    pub fn new(terminator: Terminator) -> LineSplitter {
        LineSplitter {
            terminator,
            buf: Vec::new(),
            overflow: 0,
        }
    }

    /// Feeds bytes; returns the codes they complete (empty lines are skipped).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut done = Vec::new();
        for &b in bytes {
            let end = match self.terminator {
                Terminator::Any => b == b'\r' || b == b'\n',
                Terminator::Cr => b == b'\r',
                Terminator::Lf => b == b'\n',
                Terminator::Tab => b == b'\t',
                Terminator::Crlf => b == b'\n' && self.buf.last() == Some(&b'\r'),
            };
            if !end {
                if self.buf.len() < 4096 {
                    self.buf.push(b);
                } else {
                    self.overflow += 1;
                }
                continue;
            }
            if self.terminator == Terminator::Crlf {
                self.buf.pop();
            }
            let mut line = String::from_utf8_lossy(&self.buf).into_owned();
            if self.overflow > 0 {
                // Keep the length visible: normalisation reports it as too long.
                line.extend(std::iter::repeat_n('0', self.overflow));
            }
            self.buf.clear();
            self.overflow = 0;
            if !line.trim().is_empty() {
                done.push(line);
            }
        }
        done
    }
}

/// A serial scanner (`/dev/ttyACM0`, `/dev/ttyUSB0`, ...), reopened by path after an unplug.
pub fn read_serial(cfg: &ScannerConfig, out: &Out) {
    let mut backoff = Duration::from_millis(200);
    loop {
        wait_for(&cfg.path, &out.id);
        let path = cfg.path.to_string_lossy().into_owned();
        let port = serialport::new(path.as_str(), cfg.baud)
            .timeout(Duration::from_millis(500))
            .open();
        let mut port = match port {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(scanner = %out.id, path = %path, error = %e, retry_in = ?backoff, "cannot open the serial scanner; check the path and that packwitness may use it (group `dialout`)");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        tracing::info!(scanner = %out.id, path = %path, baud = cfg.baud, "serial scanner opened");
        if !out.connected() {
            return;
        }
        backoff = Duration::from_millis(200);
        let mut lines = LineSplitter::new(cfg.terminator);
        let mut buf = [0u8; 256];
        loop {
            match port.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for line in lines.feed(&buf[..n]) {
                        if !out.code(&line) {
                            return;
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::Interrupted => {
                    if !cfg.path.exists() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        tracing::warn!(scanner = %out.id, path = %path, "serial scanner disconnected; reopening it when it is back");
        if !out.disconnected() {
            return;
        }
        // Give a vanishing device node time to go, so the same dead port is not reopened.
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_specs() {
        assert_eq!(
            parse_scanner_spec("stdin").unwrap().kind,
            ScannerKind::Stdin
        );
        let e = parse_scanner_spec("evdev:/dev/input/event3").unwrap();
        assert_eq!(
            (e.kind, e.path),
            (ScannerKind::Evdev, PathBuf::from("/dev/input/event3"))
        );
        let s = parse_scanner_spec("serial:/dev/ttyACM0@115200").unwrap();
        assert_eq!((s.kind, s.baud), (ScannerKind::Serial, 115200));
        assert_eq!(parse_scanner_spec("serial:/dev/ttyS0").unwrap().baud, 9600);
        assert!(parse_scanner_spec("serial:/dev/ttyS0@fast").is_err());
        assert!(parse_scanner_spec("keyboard").is_err());
    }

    #[test]
    fn serial_terminators() {
        let mut any = LineSplitter::new(Terminator::Any);
        assert_eq!(any.feed(b"A1\r\nB2\rC"), vec!["A1", "B2"]);
        assert_eq!(any.feed(b"3\n\n"), vec!["C3"]);
        let mut crlf = LineSplitter::new(Terminator::Crlf);
        assert_eq!(crlf.feed(b"A\r1\r\nB2\n"), vec!["A\r1"]);
        let mut tab = LineSplitter::new(Terminator::Tab);
        assert_eq!(tab.feed(b"X9\tY"), vec!["X9"]);
        let mut long = LineSplitter::new(Terminator::Lf);
        let got = long.feed(&[b'7'; 5000]);
        assert!(got.is_empty());
        assert_eq!(long.feed(b"\n")[0].len(), 5000);
    }
}
