//! Accounts of the web app: `packwitness user add|list|remove|passwd` (password from standard
//! input), the login form, session cookies, roles on every route, failed logins rate-limited,
//! and views and exports recorded with the user's name.

use crate::common::*;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

fn user(dir: &Path, args: &[&str], password: Option<&str>) -> std::process::Output {
    let mut child = bin()
        .arg("--data-dir")
        .arg(dir)
        .arg("user")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        if let Some(p) = password {
            stdin.write_all(format!("{p}\n").as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

/// Logs in; returns the session cookie (`pw_session=...`), or the status when refused.
fn login(addr: &str, name: &str, password: &str) -> Result<String, u16> {
    let body = format!("name={name}&password={}", password.replace(' ', "+"));
    let r = http(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    );
    match r.header("set-cookie") {
        Some(c) if r.status == 303 => {
            assert!(
                c.contains("HttpOnly") && c.contains("SameSite=Strict"),
                "{c}"
            );
            Ok(c.split(';').next().unwrap().to_string())
        }
        _ => Err(r.status),
    }
}

#[test]
fn roles_sessions_and_names_on_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    for (name, role) in [("vera", "viewer"), ("alice", "agent")] {
        let out = user(&dir, &["add", name, "--role", role], Some("correct horse"));
        assert!(out.status.success(), "{}", show(&out));
    }
    let out = user(&dir, &["add", "shorty", "--role", "viewer"], Some("short"));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let list = user(&dir, &["list"], None);
    assert_eq!(stdout(&list), "vera\tviewer\nalice\tagent\n");
    let users = std::fs::read_to_string(dir.join("users.json")).unwrap();
    assert!(!users.contains("correct horse") && users.contains("$argon2id$"));

    let (_server, addr) = serve(&dir, None);
    // Not logged in: the page sends to the login form (a text and a password input), the API
    // says 401; on loopback the health and log endpoints stay readable.
    let r = http(&addr, "GET", "/", &[], b"");
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    let form = http(&addr, "GET", "/login", &[], b"").text();
    assert!(
        form.contains("type=\"password\"") && form.contains("type=\"text\""),
        "{form}"
    );
    assert_eq!(
        http(&addr, "GET", "/api/lookup/DEMO-0001", &[], b"").status,
        401
    );
    assert_eq!(http(&addr, "GET", "/checkpoint", &[], b"").status, 200);

    // A viewer searches and plays, and may not export.
    let vera = login(&addr, "vera", "correct horse").unwrap();
    let c = [("Cookie", vera.as_str())];
    let found = http(&addr, "GET", "/api/lookup/DEMO-0001", &c, b"");
    assert_eq!(found.status, 200);
    let clip = found.json()[0]["clip"].as_u64().unwrap();
    assert_eq!(
        http(&addr, "GET", &format!("/clips/{clip}"), &c, b"").status,
        200
    );
    assert_eq!(http(&addr, "GET", "/export/DEMO-0001", &c, b"").status, 403);
    // ... sees the app's pages and a clip's stills (the same viewing), and may neither
    // download the MP4 nor hold.
    for path in [
        "/",
        "/order/DEMO-0001",
        "/api/suggest?q=DEMO",
        "/api/search?q=DEMO",
    ] {
        assert_eq!(http(&addr, "GET", path, &c, b"").status, 200, "{path}");
    }
    let still = http(
        &addr,
        "GET",
        &format!("/clips/{clip}/still/first.jpg"),
        &c,
        b"",
    );
    assert_eq!(
        (still.status, still.header("content-type")),
        (200, Some("image/jpeg"))
    );
    let dl = format!("/clips/{clip}/download");
    assert_eq!(http(&addr, "GET", &dl, &c, b"").status, 403);
    let form = [
        ("Cookie", vera.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let hold = http(
        &addr,
        "POST",
        "/order/DEMO-0001/hold",
        &form,
        b"release=0&reason=x",
    );
    assert_eq!(hold.status, 403);
    // An agent downloads the MP4 (named after the order) and holds; a cross-site form
    // posting a hold is refused whoever is logged in.
    let alice = login(&addr, "alice", "correct horse").unwrap();
    let a = [("Cookie", alice.as_str())];
    let r = http(&addr, "GET", &dl, &a, b"");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-disposition")
            .unwrap()
            .contains("DEMO-0001-"),
        "{:?}",
        r.headers
    );
    let form = [
        ("Cookie", alice.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let mut cross = form.to_vec();
    cross.push(("Origin", "http://evil.example"));
    let refused = http(
        &addr,
        "POST",
        "/order/DEMO-0001/hold",
        &cross,
        b"release=0&reason=x",
    );
    assert_eq!(refused.status, 403);
    let hold = http(
        &addr,
        "POST",
        "/order/DEMO-0001/hold",
        &form,
        b"release=0&reason=dispute+42",
    );
    assert_eq!(
        (hold.status, hold.header("location")),
        (303, Some("/order/DEMO-0001"))
    );
    let page = http(&addr, "GET", "/order/DEMO-0001", &a, b"").text();
    assert!(
        page.contains("under legal hold") && page.contains("Release hold"),
        "{page}"
    );
    let held = manifest(&dir)
        .into_iter()
        .find(|r| r["kind"] == "hold")
        .expect("a hold record");
    assert_eq!(
        (held["who"].as_str(), held["reason"].as_str()),
        (Some("alice"), Some("dispute 42"))
    );
    // An agent exports; everything is on the record by name.
    let r = http(
        &addr,
        "GET",
        "/export/DEMO-0001",
        &[("Cookie", alice.as_str())],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let access: Vec<_> = manifest(&dir)
        .into_iter()
        .filter(|r| r["kind"] == "access")
        .collect();
    let by = |action: &str| {
        access
            .iter()
            .filter(|r| r["action"] == action)
            .map(|r| r["who"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(by("view"), ["vera"]);
    assert_eq!(by("download"), ["alice"]);
    assert_eq!(by("export"), ["alice"]);

    // A removed account's session ends at its next request.
    assert!(user(&dir, &["remove", "vera"], None).status.success());
    assert_eq!(
        http(&addr, "GET", "/api/lookup/DEMO-0001", &c, b"").status,
        401
    );
    // A changed password: the old one no longer logs in.
    assert!(user(&dir, &["passwd", "alice"], Some("battery staple"))
        .status
        .success());
    assert_eq!(login(&addr, "alice", "correct horse"), Err(401));
    assert!(login(&addr, "alice", "battery staple").is_ok());
    // Failed logins: after five in a minute (one above, four here), the address is refused
    // for the minute, even with the right password.
    for _ in 0..4 {
        assert_eq!(login(&addr, "alice", "wrong guess"), Err(401));
    }
    assert_eq!(login(&addr, "alice", "battery staple"), Err(429));
    // With an account, listening beyond loopback is allowed.
    let out = bin()
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "serve",
            "--listen",
            "0.0.0.0:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = Station(Some(out));
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(out.0.as_mut().unwrap().stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("serving"), "{line}");
}

#[test]
fn a_wms_scans_with_its_station_token_and_does_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let port = crate::rtsp::free_port();
    let addr = format!("127.0.0.1:{port}");
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(
        &cfg,
        format!(
            "[station]\nscan_token = \"wms-0123456789abcdef\"\n\n[server]\nlisten = \"{addr}\"\n"
        ),
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let mut st = spawn_station(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        d,
        "run",
        "--source",
        "testsrc",
        "--scanner",
        "stdin",
    ]);
    st.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    let out = user(
        &dir,
        &["add", "vera", "--role", "viewer"],
        Some("correct horse"),
    );
    assert!(out.status.success(), "{}", show(&out));
    let bearer = [("Authorization", "Bearer wms-0123456789abcdef")];
    let scan = http(
        &addr,
        "POST",
        "/api/stations/station-1/scan",
        &bearer,
        b"ORD-601",
    );
    assert_eq!(scan.status, 200, "{}", scan.text());
    assert_eq!(scan.json()["order"], "ORD-601");
    st.wait_record(&dir, "the WMS scan", |r| {
        r["kind"] == "scan" && r["code"] == "ORD-601" && r["scanner"] == "http"
    });
    // The scan token opens nothing else, and a viewer may not scan.
    for path in ["/api/lookup/ORD-601", "/", "/station/station-1"] {
        let r = http(&addr, "GET", path, &bearer, b"");
        assert!(r.status == 401 || r.status == 303, "{path}: {}", r.status);
    }
    let wrong = [("Authorization", "Bearer wms-0123456789abcdeX")];
    let r = http(
        &addr,
        "POST",
        "/api/stations/station-1/scan",
        &wrong,
        b"ORD-602",
    );
    assert_eq!(r.status, 401);
    let cookie = login(&addr, "vera", "correct horse").unwrap();
    let r = http(
        &addr,
        "POST",
        "/api/stations/station-1/scan",
        &[("Cookie", &cookie)],
        b"ORD-603",
    );
    assert_eq!(r.status, 403, "{}", r.text());
    // The viewer sees the station screen and its events.
    let screen = http(
        &addr,
        "GET",
        "/station/station-1",
        &[("Cookie", &cookie)],
        b"",
    );
    assert_eq!(screen.status, 200);
    assert!(screen.text().contains("/assets/station.js"));
    // A screen's events stream while the station records; stopping the station ends them
    // (an open screen never holds the recorder up).
    let mut events = std::net::TcpStream::connect(&addr).unwrap();
    events
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        events,
        "GET /api/stations/station-1/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("event: status") {
        let n = std::io::Read::read(&mut events, &mut buf).unwrap();
        assert!(n > 0, "the events ended early");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).to_string();
    assert!(
        text.contains("text/event-stream") && text.contains("ORD-601"),
        "{text}"
    );
    drop(st.0.as_mut().and_then(|c| c.stdin.take()));
    let out = st.finish_after(std::time::Duration::from_secs(60));
    assert!(
        out.status.success(),
        "stopped by itself with a screen open: {}",
        show(&out)
    );
    assert!(!manifest(&dir)
        .iter()
        .any(|r| r["code"] == "ORD-602" || r["code"] == "ORD-603"));
}

/// Issue 24: accounts that cannot be read lock everyone out, and the login page says so (503,
/// what to do) instead of "wrong name or password"; it is not counted as a failed login, and
/// `doctor` names the file and the reason.
#[test]
fn unreadable_accounts_are_said_on_the_login_page_and_by_doctor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let out = user(
        &dir,
        &["add", "ann", "--role", "admin"],
        Some("correct horse"),
    );
    assert!(out.status.success(), "{}", show(&out));
    let (_server, addr) = serve(&dir, None);
    assert!(login(&addr, "ann", "correct horse").is_ok());
    // The file damaged (root reads any file, so a broken file stands for an unreadable one).
    std::fs::write(dir.join("users.json"), b"{ not the accounts").unwrap();
    for _ in 0..3 {
        let body = "name=ann&password=correct+horse";
        let r = http(
            &addr,
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        );
        assert_eq!(r.status, 503, "{}", r.text());
        let page = r.text();
        assert!(page.contains("accounts file cannot be read"), "{page}");
        assert!(page.contains("packwitness doctor"), "{page}");
        assert!(!page.contains("Wrong name or password"), "{page}");
    }
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(&cfg, "[server]\nlisten = \"0.0.0.0:0\"\n").unwrap();
    let d = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "doctor",
        "--json",
        "--probe-s",
        "0.5",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&d.stdout).unwrap();
    let acc = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "accounts")
        .unwrap()
        .clone();
    assert_eq!(acc["verdict"], "fail", "{acc}");
    assert!(
        acc["detail"].as_str().unwrap().contains("users.json"),
        "{acc}"
    );
}
