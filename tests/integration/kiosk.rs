//! The station screen as a kiosk: `packwitness screen pair|list|revoke`, the pairing page a
//! screen without access is shown (in its language, never as a camera fault), `POST /pair`,
//! and what a screen's credential opens: its own station's screen, nothing else, until it is
//! revoked (an open stream of events ends then).

use crate::common::*;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;

fn screen(dir: &Path, args: &[&str]) -> std::process::Output {
    bin()
        .arg("--data-dir")
        .arg(dir)
        .arg("screen")
        .args(args)
        .output()
        .unwrap()
}

fn pair(addr: &str, station: &str, code: &str) -> Reply {
    http(
        addr,
        "POST",
        "/pair",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("station={station}&code={code}").as_bytes(),
    )
}

/// Opens the station's events with `cookie`; returns the connection once the first status
/// came.
fn open_events(addr: &str, cookie: &str) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        s,
        "GET /api/stations/station-1/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("event: status") {
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the events ended: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    s
}

#[test]
fn a_screen_paired_once_sees_its_own_station_only_until_it_is_revoked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    // An account: everything else asks for a login.
    let mut add = bin()
        .arg("--data-dir")
        .arg(&dir)
        .args(["user", "add", "lead", "--role", "admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "correct horse").unwrap();
    assert!(add.wait().unwrap().success());
    let (_server, addr) = serve(&dir, None);

    // Not paired: the station's address is its pairing page, in the screen's language.
    let r = http(&addr, "GET", "/station/station-1", &[], b"");
    let page = r.text();
    assert_eq!(r.status, 401, "{page}");
    for said in [
        "This screen is not paired with station station-1",
        "not the cameras",
        "packwitness screen pair station-1",
        "name=\"code\"",
    ] {
        assert!(page.contains(said), "{said}: {page}");
    }
    let zh = http(
        &addr,
        "GET",
        "/station/station-1",
        &[("Accept-Language", "zh-CN,zh;q=0.9")],
        b"",
    );
    assert!(
        zh.text().contains("此屏幕尚未与工位 station-1 配对"),
        "{}",
        zh.text()
    );
    // The pairing page is for this config's stations only (another address goes to the login).
    let nowhere = http(&addr, "GET", "/station/nowhere", &[], b"");
    assert_eq!(nowhere.status, 303);
    assert!(!nowhere.text().contains("name=\"code\""));

    // A wrong code says so; the lead's code pairs the screen, once.
    let wrong = pair(&addr, "station-1", "0000-0000");
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.text().contains("Wrong or expired code"),
        "{}",
        wrong.text()
    );
    let out = screen(&dir, &["pair", "station-1", "--label", "table 3"]);
    assert!(out.status.success(), "{}", show(&out));
    let code = stdout(&out).trim().to_string();
    assert!(
        regex::Regex::new(r"^\d{4}-\d{4}$").unwrap().is_match(&code),
        "{code}"
    );
    assert!(
        stderr(&out).contains("/station/station-1"),
        "{}",
        show(&out)
    );
    assert!(!screen(&dir, &["pair", "station-9"]).status.success());
    let paired = pair(&addr, "station-1", &code);
    assert_eq!(paired.status, 303, "{}", paired.text());
    assert_eq!(paired.header("location"), Some("/station/station-1"));
    let set = paired.header("set-cookie").unwrap_or("").to_string();
    assert!(
        set.starts_with("pw_screen=")
            && set.contains("HttpOnly")
            && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    assert_eq!(pair(&addr, "station-1", &code).status, 401, "used once");

    // Its station's screen (the credential renewed as the page loads) and events.
    let c = [("Cookie", cookie.as_str())];
    let r = http(&addr, "GET", "/station/station-1", &c, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.headers
            .iter()
            .any(|(k, v)| k == "set-cookie" && v.starts_with("pw_screen=")),
        "renewed"
    );
    // Nothing else: not the search, an order, a clip, a bundle, the status or a scan.
    for path in [
        "/",
        "/order/DEMO-0001",
        "/api/lookup/DEMO-0001",
        "/api/status",
        "/clips/1",
        "/export/DEMO-0001",
        "/tile/entries/000.p/3",
    ] {
        let r = http(&addr, "GET", path, &c, b"");
        assert!(r.status == 401 || r.status == 303, "{path}: {}", r.status);
    }
    let scan = http(&addr, "POST", "/api/stations/station-1/scan", &c, b"ORD-1");
    assert_eq!(scan.status, 401);
    let listed = stdout(&screen(&dir, &["list"]));
    assert!(
        listed.contains("station-1") && listed.contains("table 3") && listed.contains("scr-"),
        "{listed}"
    );

    // Revoked: the open stream of events ends, and the screen is shown why.
    let mut events = open_events(&addr, &cookie);
    let out = screen(&dir, &["revoke", "station-1"]);
    assert!(out.status.success(), "{}", show(&out));
    let mut rest = Vec::new();
    let ended = events.read_to_end(&mut rest);
    assert!(ended.is_ok(), "the stream did not end: {ended:?}");
    let r = http(&addr, "GET", "/station/station-1", &c, b"");
    assert_eq!(r.status, 401);
    assert!(
        r.text()
            .contains("This screen was unpaired from station station-1"),
        "{}",
        r.text()
    );
    assert_eq!(
        http(&addr, "GET", "/api/stations/station-1/events", &c, b"").status,
        401
    );
    let again = screen(&dir, &["revoke", "station-1"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("screen list"), "{}", show(&again));
}
