//! Several stations in one process: `[[station]]` tables, each with its own cameras and
//! scanners, one manifest for all, and one signal that seals every station's open clips.

use crate::common::*;

use std::io::Write;
use std::time::Duration;

/// Station pack-1: two cameras, scans from standard input. Station pack-2: one camera, scans
/// from an evdev FIFO. Small pictures keep three encoders cheap on two cores.
fn two_stations(fifo: &std::path::Path) -> String {
    format!(
        r#"
[[station]]
id = "pack-1"
pre_roll_s = 1.0
post_roll_s = 0.5
[[station.scanner]]
id = "keyboard"
kind = "stdin"
[[station.camera]]
id = "top"
source = "lavfi:testsrc2=size=320x240:rate=30"
[[station.camera]]
id = "side"
source = "lavfi:testsrc=size=320x240:rate=30"

[[station]]
id = "pack-2"
pre_roll_s = 1.0
post_roll_s = 0.5
[[station.scanner]]
id = "hand"
kind = "evdev"
path = "{}"
[[station.camera]]
id = "top"
source = "lavfi:testsrc2=size=320x240:rate=30"
"#,
        fifo.display()
    )
}

fn terminate(r: &mut Station) -> std::process::Output {
    let pid = r.0.as_ref().unwrap().id();
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    r.finish_after(Duration::from_secs(30))
}

/// Starts the two stations of [`two_stations`] in one process; returns it, its data dir and
/// the write end of pack-2's scanner FIFO.
fn start_two(tmp: &std::path::Path) -> (Station, std::path::PathBuf, std::fs::File) {
    let dir = tmp.join("d");
    let fifo = tmp.join("hand-event-kbd");
    mkfifo(&fifo);
    let config = tmp.join("two.toml");
    std::fs::write(&config, two_stations(&fifo)).unwrap();
    let mut r = spawn_station(&[
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
    ]);
    // Opening the FIFO waits for pack-2's scanner to open it: the stations are up.
    let hand = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    r.wait_record(&dir, "pack-2's start", |r| {
        r["kind"] == "station_start" && r["station"] == "pack-2"
    });
    (r, dir, hand)
}

#[test]
fn two_stations_record_side_by_side_into_one_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut r, dir, mut hand) = start_two(tmp.path());
    r.scan("ORD-101");
    hand.write_all(&evdev_records(&["ORD-201"])).unwrap();
    for order in ["ORD-101", "ORD-201"] {
        wait_record(&dir, order, |r| {
            r["kind"] == "clip_opened" && r["order"] == order
        });
    }
    packing(1500);
    r.scan("ORD-102"); // pack-1 switches; pack-2 keeps recording ORD-201
    wait_record(&dir, "ORD-102", |r| {
        r["kind"] == "clip_opened" && r["order"] == "ORD-102"
    });
    packing(1200);
    hand.write_all(&evdev_records(&["PW-STOP"])).unwrap();
    wait_record(&dir, "ORD-201 sealed", |r| {
        r["kind"] == "clip_sealed" && r["order"] == "ORD-201"
    });
    hand.write_all(&evdev_records(&["ORD-202"])).unwrap();
    wait_record(&dir, "ORD-202", |r| {
        r["kind"] == "clip_opened" && r["order"] == "ORD-202"
    });
    packing(1500);
    // Both stations have an open clip: one signal seals them all.
    let out = terminate(&mut r);
    assert!(out.status.success(), "{}", show(&out));

    let records = manifest(&dir);
    let starts: Vec<(String, Vec<String>)> = records
        .iter()
        .filter(|r| r["kind"] == "station_start")
        .map(|r| {
            (
                r["station"].as_str().unwrap().to_string(),
                serde_json::from_value(r["cameras"].clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        starts,
        [
            ("pack-1".to_string(), vec!["top".to_string(), "side".into()]),
            ("pack-2".to_string(), vec!["top".to_string()]),
        ]
    );
    let scans: Vec<(&str, &str, &str)> = records
        .iter()
        .filter(|r| r["kind"] == "scan")
        .map(|r| {
            (
                r["station"].as_str().unwrap(),
                r["scanner"].as_str().unwrap(),
                r["code"].as_str().unwrap(),
            )
        })
        .collect();
    for want in [
        ("pack-1", "keyboard", "ORD-101"),
        ("pack-2", "hand", "ORD-201"),
        ("pack-1", "keyboard", "ORD-102"),
        ("pack-2", "hand", "PW-STOP"),
        ("pack-2", "hand", "ORD-202"),
    ] {
        assert!(scans.contains(&want), "{want:?} not in {scans:?}");
    }

    // Every clip is sealed by its own station, with one clip per camera of that station.
    let mut got: Vec<(String, String, String, String)> = sealed(&dir)
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap().to_string();
            (s("station"), s("order"), s("camera"), s("reason"))
        })
        .collect();
    got.sort();
    let want: Vec<(String, String, String, String)> = [
        ("pack-1", "ORD-101", "side", "next_order"),
        ("pack-1", "ORD-101", "top", "next_order"),
        ("pack-1", "ORD-102", "side", "shutdown"),
        ("pack-1", "ORD-102", "top", "shutdown"),
        ("pack-2", "ORD-201", "top", "stop_code"),
        ("pack-2", "ORD-202", "top", "shutdown"),
    ]
    .iter()
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
    .collect();
    assert_eq!(got, want);
    for r in sealed(&dir) {
        let file = r["file"].as_str().unwrap();
        let station = r["station"].as_str().unwrap();
        assert!(
            file.starts_with(&format!("clips/{station}/")),
            "{file} of {station}"
        );
        let (codec, frames, _, _) = probe(&dir.join(file));
        assert_eq!(codec, "h264");
        assert_eq!(frames, r["frames"].as_u64().unwrap(), "{file}");
    }
    // The two cameras of an order share its clip group; the stations' groups differ.
    let opened: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["kind"] == "clip_opened")
        .collect();
    let group = |order: &str| -> Vec<&str> {
        opened
            .iter()
            .filter(|r| r["order"] == order)
            .map(|r| r["group"].as_str().unwrap())
            .collect()
    };
    let a1 = group("ORD-101");
    assert_eq!(a1.len(), 2);
    assert_eq!(a1[0], a1[1]);
    assert_ne!(group("ORD-201")[0], a1[0]);

    // Lookup narrows by station.
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "lookup",
        "--station",
        "pack-2",
        "--json",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let found: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let orders: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["order"].as_str().unwrap())
        .collect();
    assert_eq!(orders.len(), 2, "{found}");
    assert!(orders.contains(&"ORD-201") && orders.contains(&"ORD-202"));
    assert_verifies(&dir);
}

#[test]
fn end_of_one_stations_input_stops_every_station() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut r, dir, mut hand) = start_two(tmp.path());
    hand.write_all(&evdev_records(&["ORD-209"])).unwrap();
    wait_record(&dir, "ORD-209", |r| {
        r["kind"] == "clip_opened" && r["order"] == "ORD-209"
    });
    packing(1000);
    // Standard input (pack-1's scanner) ends: the whole process stops, and pack-2's open
    // clip is sealed, not lost.
    let out = r.finish();
    assert!(out.status.success(), "{}", show(&out));
    let got: Vec<(String, String)> = sealed(&dir)
        .iter()
        .map(|r| {
            (
                r["order"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, [("ORD-209".to_string(), "shutdown".to_string())]);
    assert_verifies(&dir);
}

#[test]
fn one_station_flags_are_refused_with_a_several_station_config() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("hand-event-kbd");
    let config = tmp.path().join("two.toml");
    std::fs::write(&config, two_stations(&fifo)).unwrap();
    let dir = tmp.path().join("d");
    let out = run(&[
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "testsrc",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("2 stations") && err.contains("--source"),
        "{err}"
    );
    assert!(!dir.join("manifest.jsonl").exists(), "nothing recorded");
}
