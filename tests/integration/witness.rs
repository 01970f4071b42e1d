//! Witnesses: two stations and one `packwitness witness`; cosignatures in bundles, checked by
//! verify-bundle and verify.sh with the witness key; a fork (the station key copied into a
//! new data dir, a log of its own under the same name) is refused by the witness, kept as
//! evidence, and its bundle fails the check with the witness key.

use crate::common::*;
use crate::rtsp::free_port;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A witness serving on `port`; killed when dropped.
pub(crate) struct WitnessProc(Child);

impl Drop for WitnessProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn start_witness(dir: &Path, port: u16) -> (WitnessProc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_packwitness"))
        .args([
            "witness",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (WitnessProc(child), line.trim().to_string())
}

fn config(tmp: &Path, name: &str, port: u16, witness_key: &str) -> PathBuf {
    let cfg = tmp.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            // No checkpoint_every: the seals' own checkpoints (a second after each burst of
            // seals, with anchoring on) are what the witness gets.
            "[station]\nid = \"{name}\"\n[anchor]\nevery_s = 1\n[[anchor.witness]]\nurl = \"http://127.0.0.1:{port}\"\nkey = \"{witness_key}\"\n"
        ),
    )
    .unwrap();
    cfg
}

fn witness_status(dir: &Path) -> serde_json::Value {
    let out = run(&["--data-dir", dir.to_str().unwrap(), "status", "--json"]);
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()["anchor"]
        ["witnesses"][0]
        .clone()
}

/// Records `orders` at a station, waiting until the witness cosigned the last seal (or, with
/// `refused`, until the witness refused it).
fn record(dir: &Path, cfg: &Path, orders: &[&str], refused: bool) {
    let mut st = spawn_station(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        "lavfi:testsrc2=size=320x240:rate=15",
    ]);
    st.wait_record(dir, "the station's start", |r| r["kind"] == "station_start");
    for o in orders {
        st.scan(o);
        st.wait_record(dir, "the clip", |r| {
            r["kind"] == "clip_opened" && r["order"] == *o
        });
        st.scan("PW-STOP");
        st.wait_record(dir, "the seal", |r| {
            r["kind"] == "clip_sealed" && r["order"] == *o
        });
    }
    let sealed = manifest(dir)
        .iter()
        .rev()
        .find(|r| r["kind"] == "clip_sealed")
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    if refused {
        wait_until("the witness to refuse the fork", || {
            witness_status(dir)["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("422"))
        });
    } else {
        wait_until("the witness to cosign the seal", || {
            witness_status(dir)["last_size"].as_u64().unwrap_or(0) >= sealed
        });
    }
    let out = st.finish();
    assert!(out.status.success(), "{}", show(&out));
}

fn export(dir: &Path, cfg: &Path, order: &str, zip: &Path) {
    let out = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "export",
        order,
        "-o",
        zip.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
#[ignore = "slow tier: a long scenario (two stations, a witness, a forked log); run with `cargo test --test integration -- --ignored --test-threads=1`"]
fn two_stations_are_cosigned_and_a_fork_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (d1, d2, wdir) = (t.join("d1"), t.join("d2"), t.join("witness"));
    let (k1, k2) = (station_key(&d1), station_key(&d2));
    let out = run(&[
        "witness",
        "--data-dir",
        wdir.to_str().unwrap(),
        "--add-log",
        &k1,
        "--add-log",
        &k2,
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let port = free_port();
    let (w, wkey) = start_witness(&wdir, port);
    // A name of its own (host name and a random tag), printed with its key ID by checkers.
    let (wname, wid) = {
        let mut p = wkey.split('+');
        (p.next().unwrap().to_string(), p.next().unwrap().to_string())
    };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        wname.starts_with(&format!("witness.{}.packwitness.local/", host.trim())),
        "{wname}"
    );
    // The same key again, from its folder.
    let again = run(&["witness", "--data-dir", wdir.to_str().unwrap(), "--key"]);
    assert_eq!(stdout(&again).trim(), wkey);
    let (c1, c2) = (
        config(t, "pack-1", port, &wkey),
        config(t, "pack-2", port, &wkey),
    );
    record(&d1, &c1, &["SO-1001-W"], false);
    record(&d2, &c2, &["SO-2001-W"], false);

    // Each bundle carries its cosignature; both checkers accept it with the witness key.
    for (dir, cfg, order) in [(&d1, &c1, "SO-1001-W"), (&d2, &c2, "SO-2001-W")] {
        let zip = t.join(format!("{order}.zip"));
        export(dir, cfg, order, &zip);
        let key = station_key(dir);
        let vb = run(&[
            "verify-bundle",
            zip.to_str().unwrap(),
            "--key",
            &key,
            "--witness",
            &wkey,
        ]);
        // The witness cosigned within seconds of the seal: every clip's time is proven.
        assert!(vb.status.success(), "{}", show(&vb));
        assert!(
            stdout(&vb).starts_with("VERIFIED")
                && stdout(&vb).contains(&format!("cosigned by witness {wname} (key ID {wid})"))
                && stdout(&vb).contains("time proven: claims 20"),
            "{}",
            show(&vb)
        );
        let u = t.join(format!("u-{order}"));
        unzip_to(&zip, &u);
        let sh = Command::new("bash")
            .arg("verify.sh")
            .arg(&key)
            .arg(&wkey)
            .current_dir(&u)
            .output()
            .unwrap();
        assert!(sh.status.success(), "{}", show(&sh));
        assert!(
            stdout(&sh).contains("VERIFIED: order")
                && stdout(&sh).contains(&format!("cosigned by witness {wname} (key ID {wid})"))
                && stdout(&sh).contains("time proven: claims 20")
                && stdout(&sh).contains(&format!("witness {wname} at 20")),
            "{}",
            show(&sh)
        );
    }

    // A fork: station 1's key copied into a new data dir, recording a longer log of its own.
    let fork = t.join("fork");
    std::fs::create_dir_all(key_dir(&fork)).unwrap();
    std::fs::copy(
        key_dir(&d1).join("station.key"),
        key_dir(&fork).join("station.key"),
    )
    .unwrap();
    assert_eq!(station_key(&fork), k1);
    record(&fork, &c1, &["SO-1001-W", "SO-1002-W", "SO-1003-W"], true);
    let refused = std::fs::read_to_string(wdir.join("refused.log")).unwrap();
    assert!(refused.contains("a fork or a rewritten log"), "{refused}");
    // The witness still holds station 1's log, not the fork's.
    let logs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(wdir.join("logs.json")).unwrap()).unwrap();
    let origin = k1.split('+').next().unwrap();
    let held = logs[origin]["size"].as_u64().unwrap();
    assert!(held <= manifest(&d1).len() as u64, "{logs}");
    // The fork's bundle: files and records hold with the station key alone, but its time is
    // not proven (nothing but the station vouches for it); with the witness key it fails.
    let zip = t.join("fork.zip");
    export(&fork, &c1, "SO-1002-W", &zip);
    let vb = run(&["verify-bundle", zip.to_str().unwrap(), "--key", &k1]);
    assert_eq!(vb.status.code(), Some(5), "{}", show(&vb));
    let vb = run(&[
        "verify-bundle",
        zip.to_str().unwrap(),
        "--key",
        &k1,
        "--witness",
        &wkey,
    ]);
    assert_eq!(vb.status.code(), Some(3), "{}", show(&vb));
    assert!(
        stdout(&vb).contains("in no checkpoint witness"),
        "{}",
        show(&vb)
    );
    let u = t.join("u-fork");
    unzip_to(&zip, &u);
    let sh = Command::new("bash")
        .arg("verify.sh")
        .arg(&k1)
        .arg(&wkey)
        .current_dir(&u)
        .output()
        .unwrap();
    assert_eq!(sh.status.code(), Some(3), "{}", show(&sh));

    // A rollback to an older checkpoint of station 1 is refused too (409 with the size held).
    // Signed by station 1's own key: a smaller tree than the witness holds.
    let key = packwitness::log::note::StationKey::load_or_create(
        &key_dir(&d1).join("station.key"),
        "unused",
    )
    .unwrap();
    let old_note = key.sign(&format!(
        "{}\n{}\n{}\n",
        key.name(),
        held - 1,
        packwitness::log::note::b64(&[3u8; 32])
    ));
    let addr = format!("127.0.0.1:{port}");
    let r = http(
        &addr,
        "POST",
        "/add-checkpoint",
        &[],
        format!("old 0\n\n{old_note}").as_bytes(),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.text().trim(), held.to_string());
    let r = http(
        &addr,
        "POST",
        "/add-checkpoint",
        &[],
        format!("old {held}\n\n{old_note}").as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    drop(w);
}
