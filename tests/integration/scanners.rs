//! Scanners without scanners: raw `input_event` records through a FIFO and a file standing in
//! for an evdev device, a pseudo-terminal standing in for a serial scanner, and a station run
//! end to end from them. Plus fuzzing of everything that parses scanner bytes.

use crate::common::*;

use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::Duration;

use packwitness::codes::{Classifier, CodeError, CodeKind};
use packwitness::config::{CodeConfig, ScannerConfig, ScannerKind, Terminator};
use packwitness::scanners::keys::{encode_event, type_code, KeyDecoder, EVENT_SIZE};
use packwitness::scanners::{spawn_scanner, Event};

fn scanner(kind: ScannerKind, path: &Path) -> (ScannerConfig, Receiver<Event>) {
    let cfg = ScannerConfig {
        id: "s1".into(),
        kind,
        path: path.to_owned(),
        terminator: Terminator::Any,
        ..ScannerConfig::default()
    };
    let classifier = Arc::new(Classifier::new(&CodeConfig::default()).unwrap());
    let (tx, rx) = mpsc::channel();
    spawn_scanner(&cfg, classifier, Box::new(move |ev| tx.send(ev).is_ok())).unwrap();
    (cfg, rx)
}

/// The next scan result: Ok((kind, code)) or Err(error); device events are skipped.
fn next(rx: &Receiver<Event>) -> Result<(CodeKind, String), CodeError> {
    loop {
        match rx.recv_timeout(PATIENCE) {
            Ok(Event::Scan { scanner, result }) => {
                assert_eq!(scanner, "s1");
                return result.map(|s| (s.kind, s.code)).map_err(|r| r.error);
            }
            Ok(Event::Connected { .. } | Event::Disconnected { .. }) => continue,
            other => panic!("expected a scan, got {other:?}"),
        }
    }
}

/// Waits for the scanner to report its device opened (`true`) or gone (`false`); a scan
/// before that fails the test.
fn wait_device(rx: &Receiver<Event>, connected: bool) {
    match rx.recv_timeout(PATIENCE) {
        Ok(Event::Connected { .. }) if connected => {}
        Ok(Event::Disconnected { .. }) if !connected => {}
        other => panic!(
            "expected the scanner to be {}, got {other:?}",
            if connected {
                "connected"
            } else {
                "disconnected"
            }
        ),
    }
}

#[test]
fn evdev_fifo_with_junk_shift_and_unplug_replug() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("usb-Scanner-event-kbd");
    mkfifo(&path);
    let (_cfg, rx) = scanner(ScannerKind::Evdev, &path);
    let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let mut bytes = evdev_records(&["so-2026-0001"]);
    // An F5 press spoils its own code only; a lone Enter is nothing; a partial record at the
    // end of a write is completed by the next write.
    bytes.extend_from_slice(&encode_event(1, 63, 1));
    bytes.extend(evdev_records(&["X9", "", "sf1234567890123"]));
    let half = EVENT_SIZE * 3 + 5;
    w.write_all(&bytes[..half]).unwrap();
    w.flush().unwrap();
    input_gap(100);
    w.write_all(&bytes[half..]).unwrap();
    assert_eq!(next(&rx), Ok((CodeKind::Order, "SO-2026-0001".into())));
    assert_eq!(next(&rx), Err(CodeError::UnknownKey { key: 63 }));
    assert_eq!(
        next(&rx),
        Ok((CodeKind::Tracking, "SF1234567890123".into()))
    );
    // Unplug mid-code: the device vanishes; the half-typed code is never sent.
    let partial = evdev_records(&["OP-BOB"]);
    w.write_all(&partial[..partial.len() - EVENT_SIZE * 6])
        .unwrap();
    // The node goes first, then the end of input: a reader reopening at once must not catch
    // the old FIFO (a real device node vanishes before its reader sees the error).
    std::fs::remove_file(&path).unwrap();
    drop(w);
    wait_device(&rx, false);
    assert!(rx.try_recv().is_err(), "nothing from an unplugged scanner");
    // Plugged back in at the same path: reopened, and scans flow again.
    mkfifo(&path);
    let mut w = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    w.write_all(&evdev_records(&["op-alice", "PW-STOP"]))
        .unwrap();
    assert_eq!(next(&rx), Ok((CodeKind::Operator, "ALICE".into())));
    assert_eq!(next(&rx), Ok((CodeKind::Stop, "PW-STOP".into())));
}

#[test]
fn evdev_record_file_is_replayed_then_ends() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("events.bin");
    let mut bytes = evdev_records(&["A-1", "PW-BOX", "hello"]);
    bytes.extend_from_slice(&[1, 2, 3]); // a torn last record is dropped
    std::fs::write(&path, bytes).unwrap();
    let (_cfg, rx) = scanner(ScannerKind::Evdev, &path);
    assert_eq!(next(&rx), Ok((CodeKind::Order, "A-1".into())));
    assert_eq!(next(&rx), Ok((CodeKind::NextBox, "PW-BOX".into())));
    assert!(matches!(next(&rx), Err(CodeError::NoRule { .. })));
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(Event::Ended { .. })
    ));
}

/// A pseudo-terminal; the returned path is a symlink (like /dev/serial/by-id/...) to its
/// slave side, and the master is written as the scanner would.
fn pty(link: &Path) -> std::fs::File {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two fds; null name/termios/winsize are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: slave is an open fd; ttyname returns a static buffer we copy at once.
    let name = unsafe { std::ffi::CStr::from_ptr(libc::ttyname(slave)) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: slave is ours; the scanner opens the device by name.
    unsafe { libc::close(slave) };
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(&name, link).unwrap();
    // SAFETY: master is an open fd we own from here on.
    unsafe { std::fs::File::from_raw_fd(master) }
}

#[test]
fn serial_scanner_on_a_pty_with_replug() {
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("usb-Scanner-if00");
    let mut master = pty(&link);
    let (_cfg, rx) = scanner(ScannerKind::Serial, &link);
    wait_device(&rx, true);
    master.write_all(b"SO-7\r\njunk\x07x\r").unwrap();
    assert_eq!(next(&rx), Ok((CodeKind::Order, "SO-7".into())));
    assert!(matches!(next(&rx), Err(CodeError::Control { code: 7, .. })));
    // Unplugged: the port goes away (and its by-id link with it).
    drop(master);
    std::fs::remove_file(&link).unwrap();
    wait_device(&rx, false);
    let mut master = pty(&link);
    wait_device(&rx, true);
    master.write_all(b"1Z999AA10123456784\n").unwrap();
    assert_eq!(
        next(&rx),
        Ok((CodeKind::Tracking, "1Z999AA10123456784".into()))
    );
}

#[test]
fn station_run_from_an_evdev_scanner_records_boxes_waybills_and_operators() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let fifo = tmp.path().join("scanner-event-kbd");
    mkfifo(&fifo);
    let mut r = spawn_station_logging(
        &[
            "--data-dir",
            dir.to_str().unwrap(),
            "run",
            "--source",
            "testsrc",
            "--scanner",
            &format!("evdev:{}", fifo.display()),
            "--scanner",
            "stdin",
        ],
        "info",
    );
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    r.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    // Each group of codes, then the packer's time until the next (a clip's length, or a
    // double read inside the debounce window).
    let mut type_ = |codes: &[&str], wait_ms: u64| {
        w.write_all(&evdev_records(codes)).unwrap();
        packing(wait_ms);
    };
    type_(&["OP-ALICE", "ORD-77"], 1200);
    type_(&["ORD-77"], 200); // a double read: debounced
    type_(&["SF1234567890123", "6901234567892"], 1000); // a waybill, then a product barcode
    type_(&["PW-BOX"], 1200);
    type_(&["PW-STOP"], 2600);
    type_(&["YT1234567890123"], 1200); // a waybill with nothing open starts a clip
    type_(&["PW-CANCEL"], 300);
    let out = r.finish(); // stdin closed: the station stops
    assert!(out.status.success(), "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains("product barcode"), "{err}");

    let records = manifest(&dir);
    let scans: Vec<(String, String)> = records
        .iter()
        .filter(|r| r["kind"] == "scan")
        .map(|r| {
            (
                r["code"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("ALICE", "operator"),
        ("ORD-77", "open"),
        ("SF1234567890123", "attach"),
        ("PW-BOX", "switch"),
        ("PW-STOP", "seal"),
        ("YT1234567890123", "open"),
        ("PW-CANCEL", "seal"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(scans, want);
    let sealed = sealed(&dir);
    let got: Vec<(&str, &str)> = sealed
        .iter()
        .map(|r| (r["order"].as_str().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("ORD-77", "next_box"),
            ("ORD-77", "stop_code"),
            ("YT1234567890123", "cancelled")
        ]
    );
    let opened: Vec<_> = records
        .iter()
        .filter(|r| r["kind"] == "clip_opened")
        .collect();
    assert_eq!(opened[0]["box"], 1);
    assert_eq!(opened[1]["box"], 2);
    assert_eq!(opened[0]["operator"], "ALICE");
    assert_eq!(opened[1]["operator"], "ALICE");
    // The waybill finds the order's first box by lookup; the order finds both boxes in order.
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "lookup",
        "sf1234567890123",
        "--json",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let found: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["order"], "ORD-77");
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "lookup",
        "ORD-77",
        "--json",
    ]);
    let found: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let boxes: Vec<_> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["box"].as_u64().unwrap())
        .collect();
    assert_eq!(boxes, [1, 2]);
    assert_eq!(found[0]["codes"][0], "SF1234567890123");
    let out = run(&["--data-dir", dir.to_str().unwrap(), "lookup", "ORD-77"]);
    let table = stdout(&out);
    for want in [
        "order     ORD-77\n",
        "order     ORD-77  box 2\n",
        "operator  ALICE",
        "codes     SF1234567890123",
    ] {
        assert!(table.contains(want), "{want:?} in {table}");
    }
    assert_verifies(&dir);
}

#[test]
fn control_sheet_barcodes_decode_with_zbar() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(&cfg, "[codes]\noperators = [\"ALICE\", \"bob.k\"]\n").unwrap();
    let page = tmp.path().join("sheet.html");
    let out = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "control-sheet",
        "-o",
        page.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    // Rasterise each SVG of the page (its bars are <rect>s) and let a real decoder read it.
    let mut decoded = Vec::new();
    for (i, svg) in html.split("<svg ").skip(1).enumerate() {
        let attr = |name: &str| -> String {
            let at = svg.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            svg[at..at + svg[at..].find('"').unwrap()].to_string()
        };
        let (w, h): (usize, usize) = (
            attr("width").parse().unwrap(),
            attr("height").parse().unwrap(),
        );
        let mut row = vec![255u8; w];
        let body = &svg[..svg.find("</svg>").unwrap()];
        for rect in body.split("<rect x=\"").skip(1) {
            let x: usize = rect[..rect.find('"').unwrap()].parse().unwrap();
            let wpos = rect.find("width=\"").unwrap() + 7;
            let rw: usize = rect[wpos..wpos + rect[wpos..].find('"').unwrap()]
                .parse()
                .unwrap();
            row[x..x + rw].fill(0);
        }
        let pgm = tmp.path().join(format!("code{i}.pgm"));
        let mut f = std::fs::File::create(&pgm).unwrap();
        writeln!(f, "P5 {w} {h} 255").unwrap();
        for _ in 0..h {
            f.write_all(&row).unwrap();
        }
        drop(f);
        let z = std::process::Command::new("zbarimg")
            .args(["-q", "--raw"])
            .arg(&pgm)
            .output()
            .expect("zbarimg (Debian package zbar-tools) must be installed");
        decoded.push(String::from_utf8_lossy(&z.stdout).trim().to_string());
    }
    assert_eq!(
        decoded,
        ["PW-STOP", "PW-CANCEL", "PW-BOX", "OP-ALICE", "OP-bob.k"]
    );
    // Every code on the sheet does what its caption says when scanned.
    let c = Classifier::new(&CodeConfig::default()).unwrap();
    assert_eq!(c.classify(&decoded[4]).unwrap().code, "BOB.K");
}

mod fuzz {
    use super::*;
    use packwitness::scanners::keys::parse_event;
    use packwitness::scanners::LineSplitter;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn classifier_never_panics(s in "\\PC*", raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            static C: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
            let c = C.get_or_init(|| Classifier::new(&CodeConfig::default()).unwrap());
            let _ = c.classify(&s);
            let _ = c.classify(&String::from_utf8_lossy(&raw));
        }

        #[test]
        fn key_decoder_never_panics_and_codes_are_printable(
            raw in proptest::collection::vec(any::<u8>(), 0..EVENT_SIZE * 64)
        ) {
            let mut d = KeyDecoder::new();
            for chunk in raw.chunks_exact(EVENT_SIZE) {
                let rec: &[u8; EVENT_SIZE] = chunk.try_into().unwrap();
                if let Some(packwitness::scanners::keys::Typed::Code(s)) = d.feed(parse_event(rec)) {
                    prop_assert!(s.chars().all(|c| (' '..='~').contains(&c)), "{s:?}");
                }
            }
        }

        #[test]
        fn typed_codes_round_trip(code in "[A-Za-z0-9_./-]{1,40}") {
            let mut d = KeyDecoder::new();
            let got: Vec<_> = type_code(&code).into_iter().filter_map(|e| d.feed(e)).collect();
            prop_assert_eq!(got, vec![packwitness::scanners::keys::Typed::Code(code.clone())]);
        }

        #[test]
        fn serial_splitter_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..600)) {
            for t in [Terminator::Any, Terminator::Cr, Terminator::Lf, Terminator::Crlf, Terminator::Tab] {
                let mut s = LineSplitter::new(t);
                for chunk in raw.chunks(7) {
                    for line in s.feed(chunk) {
                        prop_assert!(!line.trim().is_empty());
                    }
                }
            }
        }
    }
}
