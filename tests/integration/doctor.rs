//! `doctor`: every check of a station that is not ready says what failed and what to do, and
//! the exit code is 1 exactly when one failed.

use crate::common::*;

use std::os::unix::fs::PermissionsExt;

/// The clock's state read independently of packwitness (adjtimex through Python's ctypes): is
/// the kernel clock synchronised?
fn clock_synchronised() -> Option<bool> {
    let py = r#"
import ctypes
class Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("rest", ctypes.c_byte * 204)]
libc = ctypes.CDLL("libc.so.6")
t = Timex()
state = libc.adjtimex(ctypes.byref(t))
status = int.from_bytes(bytes(t.rest)[36:40], "little", signed=True)
print("unknown" if state < 0 else ("no" if state == 5 or status & 0x40 else "yes"))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", py])
        .output()
        .ok()?;
    match String::from_utf8_lossy(&out.stdout).trim() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

fn checks(out: &std::process::Output) -> Vec<(String, String, String, Option<String>)> {
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(out)));
    assert_eq!(
        v["ok"].as_bool(),
        Some(out.status.code() == Some(0)),
        "ok and the exit code agree: {}",
        show(out)
    );
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
                c["detail"].as_str().unwrap().to_string(),
                c["fix"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn verdict<'a>(
    all: &'a [(String, String, String, Option<String>)],
    name: &str,
) -> &'a (String, String, String, Option<String>) {
    all.iter()
        .find(|c| c.0 == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {all:?}"))
}

/// A station set up from the package's own config shape with a test pattern: doctor reports
/// the test pattern as not evidence and fails for that reason alone (and for the clock where
/// this machine's clock is indeed not synchronised).
#[test]
fn a_test_pattern_is_the_only_failure_of_a_station_otherwise_ready() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("scanner");
    mkfifo(&fifo);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\n[station]\nid = \"station-1\"\n[[station.scanner]]\nid = \"hand-1\"\nkind = \"evdev\"\npath = \"{}\"\n[[camera]]\nid = \"cam-1\"\nsource = \"testsrc\"\n[server]\nlisten = \"127.0.0.1:{port}\"\n[retention]\nmin_free_mb = 0\n",
            tmp.path().join("data").display(),
            fifo.display()
        ),
    )
    .unwrap();
    let out = run(&["--config", cfg.to_str().unwrap(), "doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let all = checks(&out);
    let cam = verdict(&all, "camera station-1/cam-1");
    assert_eq!(cam.1, "fail");
    assert!(cam.2.contains("test pattern, not evidence"), "{cam:?}");
    assert!(cam.3.as_deref().unwrap().contains("usb:0"), "{cam:?}");
    let clock_ok = clock_synchronised();
    for c in &all {
        let expected = match c.0.as_str() {
            "camera station-1/cam-1" => "fail",
            "clock" => match clock_ok {
                Some(true) => "pass",
                Some(false) => "fail",
                None => "skipped",
            },
            "accounts" | "service" => c.1.as_str(), // loopback; systemd may not run here
            _ => "pass",
        };
        assert_eq!(c.1, expected, "{c:?}");
        if c.1 == "fail" {
            assert!(c.3.is_some(), "a failure says what to do: {c:?}");
        }
    }
    // The text form: one line a check, the fix under each failure, the verdict last.
    let text = run(&["--config", cfg.to_str().unwrap(), "doctor"]);
    assert_eq!(text.status.code(), Some(1));
    let t = stdout(&text);
    assert!(
        t.contains("FAIL     camera station-1/cam-1: testsrc: a test pattern, not evidence"),
        "{t}"
    );
    assert!(t.contains("         -> set the camera's source"), "{t}");
    assert!(t.trim_end().ends_with("check(s) failed"), "{t}");
}

/// Everything that can be wrong at once: each check names it and what to do.
#[test]
fn each_problem_is_named_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    // A data dir with a key that others can read, and no account although the server listens
    // on every interface.
    let data = tmp.path().join("data");
    let demo = run(&[
        "--data-dir",
        data.to_str().unwrap(),
        "demo",
        "--clip-seconds",
        "2",
    ]);
    assert!(demo.status.success(), "{}", show(&demo));
    let key = tmp.path().join("data.key/station.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A port another program holds, a TSA nobody answers, a witness that answers.
    let held = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let held_port = held.local_addr().unwrap().port();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let answering = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let answering_port = answering.local_addr().unwrap().port();
    // A camera from a file (it delivers frames), a scanner that is not there, one on stdin.
    let clip = data.join(sealed(&data)[0]["file"].as_str().unwrap());
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = \"{}\"\n[anchor]\ntsa = [\"http://127.0.0.1:{closed}/tsa\"]\n[[anchor.witness]]\nurl = \"http://127.0.0.1:{answering_port}/\"\nkey = \"w.example/w+01020304+AQ\"\n[[station]]\nid = \"station-1\"\n[[station.scanner]]\nid = \"gone\"\nkind = \"serial\"\npath = \"{}\"\n[[station.scanner]]\nid = \"keys\"\nkind = \"stdin\"\n[[station.camera]]\nid = \"file\"\nsource = \"{}\"\n[server]\nlisten = \"0.0.0.0:{held_port}\"\n",
            data.display(),
            tmp.path().join("no-such-scanner").display(),
            clip.display()
        ),
    )
    .unwrap();
    let out = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "doctor",
        "--json",
        "--probe-s",
        "1",
    ]);
    if out.status.code() == Some(2) {
        // The witness key above is made up: a config that refuses it is also an answer, but
        // then the test must use a real one.
        panic!("{}", show(&out));
    }
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let all = checks(&out);
    let cam = verdict(&all, "camera station-1/file");
    assert_eq!(cam.1, "pass", "{cam:?}");
    assert!(cam.2.contains("frames in"), "{cam:?}");
    let gone = verdict(&all, "scanner station-1/gone");
    assert_eq!(
        (gone.1.as_str(), gone.2.contains("does not exist")),
        ("fail", true),
        "{gone:?}"
    );
    assert!(
        gone.3.as_deref().unwrap().contains("/dev/serial/by-id/"),
        "{gone:?}"
    );
    let keys = verdict(&all, "scanner station-1/keys");
    assert_eq!(keys.1, "fail");
    assert!(keys.2.contains("/dev/null under systemd"), "{keys:?}");
    let listen = verdict(&all, "listen");
    assert_eq!(listen.1, "fail", "{listen:?}");
    assert!(
        listen.3.as_deref().unwrap().contains("[server] listen"),
        "{listen:?}"
    );
    let k = verdict(&all, "station key");
    assert_eq!(k.1, "fail");
    assert_eq!(
        k.3.as_deref(),
        Some(format!("chmod 600 {}", key.display()).as_str())
    );
    let acc = verdict(&all, "accounts");
    assert_eq!(acc.1, "fail", "{acc:?}");
    assert!(
        acc.3.as_deref().unwrap().contains("packwitness user add"),
        "{acc:?}"
    );
    let tsa = verdict(&all, &format!("tsa http://127.0.0.1:{closed}/tsa"));
    assert_eq!(tsa.1, "fail", "{tsa:?}");
    let w = verdict(&all, &format!("witness http://127.0.0.1:{answering_port}/"));
    assert_eq!(w.1, "pass", "{w:?}");
    // The hours the free space holds at the rate the demo's clips were recorded at (a pass or
    // not by this machine's free space).
    let disk = verdict(&all, "disk");
    assert!(
        disk.2.contains("hours of recording at the measured"),
        "{disk:?}"
    );
    // Fixed: the key's mode, an account; those two checks pass now.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut add = bin()
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "user",
            "add",
            "ann",
            "--role",
            "admin",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        writeln!(add.stdin.take().unwrap(), "a long enough password").unwrap();
    }
    assert!(add.wait().unwrap().success());
    let again = checks(&run(&[
        "--config",
        cfg.to_str().unwrap(),
        "doctor",
        "--json",
        "--probe-s",
        "0.5",
    ]));
    assert_eq!(verdict(&again, "accounts").1, "pass");
    // The key's mode is right now, but nobody confirmed a backup: doctor says how.
    let k = verdict(&again, "station key");
    assert_eq!(k.1, "fail", "{k:?}");
    assert!(k.2.contains("not confirmed as backed up"), "{k:?}");
    assert!(
        k.3.as_deref()
            .unwrap()
            .ends_with("packwitness key --backed-up"),
        "{k:?}"
    );
    let confirm = run(&["--data-dir", data.to_str().unwrap(), "key", "--backed-up"]);
    assert!(confirm.status.success(), "{}", show(&confirm));
    assert!(
        stderr(&confirm).contains("belongs offline"),
        "{}",
        show(&confirm)
    );
    let last = checks(&run(&[
        "--config",
        cfg.to_str().unwrap(),
        "doctor",
        "--json",
        "--probe-s",
        "0.5",
    ]));
    let k = verdict(&last, "station key");
    assert_eq!(k.1, "pass", "{k:?}");
    assert!(
        k.2.contains("backed up (confirmed 20") && k.2.contains("publish its public key"),
        "{k:?}"
    );
    drop((held, answering));
}
