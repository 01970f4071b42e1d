//! The pages in a real browser: Debian's Chromium, headless, driven by chromedriver over the
//! WebDriver protocol. A recorder with an RTSP camera (GStreamer's server, started here) and
//! an account; the test logs in, searches by a typed prefix and a full-width waybill, plays a
//! clip, downloads the MP4 and the bundle and checks them, watches the station screen show
//! REC and then NOT RECORDING when the camera dies, reads the page in Chinese, and checks a
//! phone-sized viewport has no horizontal scroll. Screenshots go to the test's output dir.

use crate::common::*;
use crate::rtsp::{free_port, start_server};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Where this run's screenshots go.
fn shots_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// True once chromedriver answers that it is ready (it may close connections before).
fn driver_ready(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    let req = format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    // Read what comes (chromedriver may keep the connection open after its answer).
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&got).contains("\"ready\":true") {
            return true;
        }
    }
    false
}

/// One WebDriver request: the status and the JSON answer (read by its Content-Length, since
/// chromedriver keeps connections open).
fn wd(addr: &str, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("chromedriver's port");
    s.set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut len = 0usize;
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).unwrap();
    (
        status,
        serde_json::from_slice(&buf).unwrap_or(serde_json::Value::Null),
    )
}

/// chromedriver, and one browser session of it.
pub struct Browser {
    _driver: Station,
    addr: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A headless Chromium with a fresh profile, its pages in `lang`, `w`×`h` pixels.
    pub fn start(lang: &str, w: u32, h: u32) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
            "the browser tests need Debian's chromium and chromium-driver (bash .ci/deps installs them)"
        );
        let port = free_port();
        // Chromium's scoped dirs go into the profile's folder, removed with it.
        let profile = tempfile::tempdir().unwrap();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .env("TMPDIR", profile.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let driver = Station(Some(child));
        let addr = format!("127.0.0.1:{port}");
        wait_until("chromedriver", || driver_ready(&addr));
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--autoplay-policy=no-user-gesture-required",
                    format!("--user-data-dir={}", profile.path().join("profile").display()),
                    format!("--window-size={w},{h}"),
                    format!("--lang={lang}"),
                ],
                "prefs": {"intl.accept_languages": lang},
            }
        }}});
        let (_, v) = wd(&addr, "POST", "/session", &caps.to_string());
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        Browser {
            _driver: driver,
            addr,
            session,
            _profile: profile,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
        let path = format!("/session/{}{path}", self.session);
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (status, v) = wd(&self.addr, method, &path, &body);
        assert_eq!(status, 200, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    /// Logs in at `web` (`http://host:port`) as `name` (password `correct-horse-1`, as
    /// [`add_user`] gives it) and waits for the app.
    pub fn log_in(&self, web: &str, name: &str) {
        self.go(&format!("{web}/login"));
        self.type_into("input[name=name]", name);
        self.type_into("input[type=password]", "correct-horse-1");
        self.click("button[type=submit]");
        self.wait_js(
            "the app after login",
            "return location.pathname === '/' && !!document.querySelector('input[type=search]');",
        );
    }

    pub fn go(&self, url: &str) {
        self.cmd("POST", "/url", serde_json::json!({ "url": url }));
    }

    pub fn js(&self, script: &str, args: serde_json::Value) -> serde_json::Value {
        self.cmd(
            "POST",
            "/execute/sync",
            serde_json::json!({ "script": script, "args": args }),
        )
    }

    /// Runs `script` (which calls its last argument with the result) and returns the result.
    pub fn js_async(&self, script: &str, args: serde_json::Value) -> serde_json::Value {
        self.cmd(
            "POST",
            "/execute/async",
            serde_json::json!({ "script": script, "args": args }),
        )
    }

    /// Waits until `script` returns something truthy; returns it.
    pub fn wait_js(&self, what: &str, script: &str) -> serde_json::Value {
        let mut got = serde_json::Value::Null;
        wait_until(what, || {
            got = self.js(script, serde_json::json!([]));
            !(got.is_null() || got == false || got == "")
        });
        got
    }

    fn element(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "/element",
            serde_json::json!({"using": "css selector", "value": css}),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(|e| e.as_str())
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            serde_json::json!({ "text": text }),
        );
    }

    pub fn click(&self, css: &str) {
        let e = self.element(css);
        self.cmd(
            "POST",
            &format!("/element/{e}/click"),
            serde_json::json!({}),
        );
    }

    /// Saves a screenshot as `<name>.png` in the test's output dir.
    pub fn screenshot(&self, name: &str) {
        use base64::Engine;
        let v = self.cmd("GET", "/screenshot", serde_json::Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .unwrap();
        std::fs::write(shots_dir().join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = std::panic::catch_unwind(|| wd(&self.addr, "DELETE", &path, ""));
    }
}

/// SHA-256 (hex) of what the page fetches at `url`, computed in the browser.
pub(crate) const FETCH_SHA: &str = "const done = arguments[arguments.length - 1];
fetch(arguments[0]).then(async (r) => {
  const b = await r.arrayBuffer();
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', b));
  done({status: r.status, disposition: r.headers.get('content-disposition'),
        sha: [...h].map((x) => x.toString(16).padStart(2, '0')).join('')});
}).catch((e) => done({error: String(e)}));";

/// The bytes the page fetches at `url`, base64.
pub(crate) const FETCH_B64: &str = "const done = arguments[arguments.length - 1];
fetch(arguments[0]).then(async (r) => {
  const b = new Uint8Array(await r.arrayBuffer());
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  done({status: r.status, b64: btoa(s)});
}).catch((e) => done({error: String(e)}));";

pub(crate) fn no_horizontal_scroll(b: &Browser, what: &str) {
    let v = b.js(
        "return [document.documentElement.scrollWidth, window.innerWidth];",
        serde_json::json!([]),
    );
    let (scroll, width) = (v[0].as_u64().unwrap(), v[1].as_u64().unwrap());
    assert!(
        scroll <= width,
        "{what}: {scroll} px wide in a {width} px viewport"
    );
}

#[test]
fn an_agent_finds_plays_and_downloads_and_the_packer_sees_rec_and_not_recording() {
    let (cam_port, cam2_port, web_port, no_archive) =
        (free_port(), free_port(), free_port(), free_port());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let d = dir.to_str().unwrap();
    let cfg = tmp.path().join("pw.toml");
    // Two network cameras; an archive that cannot be reached (nothing listens on its port):
    // the screen says so.
    std::fs::write(
        &cfg,
        format!("[server]\nlisten = \"127.0.0.1:{web_port}\"\n\n[archive]\nurl = \"http://127.0.0.1:{no_archive}\"\ntoken = \"pwa1_test\"\n\n[[station]]\nid = \"station-1\"\npre_roll_s = 0.5\npost_roll_s = 0.5\n[[station.scanner]]\nid = \"keys\"\nkind = \"stdin\"\n[[station.camera]]\nid = \"cam-1\"\nsource = \"rtsp://127.0.0.1:{cam_port}/cam\"\n[[station.camera]]\nid = \"cam-2\"\nsource = \"rtsp://127.0.0.1:{cam2_port}/cam\"\n"),
    )
    .unwrap();
    let mut camera = Some(start_server(cam_port));
    let mut camera2 = Some(start_server(cam2_port));
    let mut station = spawn_station(&["--config", cfg.to_str().unwrap(), "--data-dir", d, "run"]);
    station.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    // An account (the app asks for a login once there is one).
    add_user(&dir, "lin", "agent");
    let web = format!("http://127.0.0.1:{web_port}");

    let b = Browser::start("en-US", 1280, 900);
    b.go(&format!("{web}/"));
    b.wait_js("the login form", "return location.pathname === '/login' && !!document.querySelector('input[type=password]');");
    b.log_in(&web, "lin");

    // The station screen while an order records: REC, the order in large type, a live picture.
    b.go(&format!("{web}/station/station-1"));
    b.wait_js(
        "the screen's first event",
        "return !!document.body.dataset.state;",
    );
    station.scan("ORD-7001");
    station.wait_record(&dir, "the clip's opening", |r| {
        r["kind"] == "clip_opened" && r["order"] == "ORD-7001"
    });
    b.wait_js("REC and the order on the screen", "return document.getElementById('rec').classList.contains('on') && document.getElementById('order').textContent === 'ORD-7001';");
    // The order number on one line, within its box.
    let one_line = b.js(
        "const o = document.getElementById('order'); return [o.scrollWidth <= o.clientWidth, o.getClientRects().length, getComputedStyle(o).whiteSpace];",
        serde_json::json!([]),
    );
    assert_eq!(one_line, serde_json::json!([true, 1, "nowrap"]));
    b.wait_js("a live picture", "const i = document.querySelector('#cameras img'); return i && i.src.startsWith('blob:') && i.naturalWidth > 0;");
    b.wait_js(
        "the time since the scan",
        "return /^\\d\\d:\\d\\d$/.test(document.getElementById('elapsed').textContent);",
    );
    b.wait_js(
        "the start sound",
        "return window.packwitnessSounds.includes('start');",
    );
    b.screenshot("station-recording");
    station.scan("SF1234567890123");
    station.scan("PW-STOP");
    station.wait_record(&dir, "the clip's seal", |r| {
        r["kind"] == "clip_sealed" && r["order"] == "ORD-7001"
    });
    b.wait_js("the saved confirmation", "const s = document.getElementById('saved'); return !s.hidden && s.textContent.includes('ORD-7001');");
    b.wait_js(
        "the archive line",
        "return document.getElementById('detail').textContent.includes('the archive cannot be reached');",
    );
    b.screenshot("station-saved");

    // Search as you type: a prefix, and a waybill typed on a Chinese keyboard (full width).
    b.go(&format!("{web}/"));
    b.type_into("input[type=search]", "ORD-70");
    b.wait_js("a suggestion for the prefix", "return [...document.querySelectorAll('#suggest a')].some((a) => a.textContent === 'ORD-7001');");
    b.screenshot("app-suggest");
    b.js(
        "document.getElementById('q').value = '';",
        serde_json::json!([]),
    );
    b.type_into("input[type=search]", "ＳＦ１２３４５６７８９０１２３");
    b.wait_js("the full-width waybill found", "return [...document.querySelectorAll('#suggest a')].some((a) => a.textContent === 'SF1234567890123');");
    b.go(&format!("{web}/order/SF1234567890123"));
    b.wait_js(
        "the order page",
        "return document.querySelector('video.big') !== null;",
    );
    // Play: the video decodes and its time advances.
    b.js(
        "const v = document.querySelector('video.big'); v.muted = true; v.play();",
        serde_json::json!([]),
    );
    b.wait_js("the clip to play", "const v = document.querySelector('video.big'); return v.readyState >= 2 && v.currentTime > 0.3;");
    // The whole picture, its stamp at the bottom included, is in the window without
    // scrolling (a laptop's, 1280x900).
    let fits = b.js(
        "const r = document.querySelector('video.big').getBoundingClientRect(); return [r.bottom, innerHeight];",
        serde_json::json!([]),
    );
    assert!(
        fits[0].as_f64() <= fits[1].as_f64(),
        "the player ends below the window: {fits}"
    );
    b.screenshot("app-order");
    // The player's poster: the first frame, before Play.
    let poster = b.js(
        "return document.querySelector('video.big').getAttribute('poster');",
        serde_json::json!([]),
    );
    assert!(
        poster.as_str().unwrap_or("").ends_with("/still/thumb.jpg"),
        "{poster}"
    );
    let got = b.js_async(FETCH_SHA, serde_json::json!([poster]));
    assert_eq!(got["status"], 200, "{got}");

    // The MP4 and the bundle, fetched by the page, against the manifest.
    let sealed = manifest(&dir)
        .into_iter()
        .find(|r| r["kind"] == "clip_sealed" && r["order"] == "ORD-7001" && r["camera"] == "cam-1")
        .unwrap();
    let link = b.js(
        "const a = document.querySelector('a[download$=\"-cam-1.mp4\"]'); return [a.getAttribute('href'), a.getAttribute('download')];",
        serde_json::json!([]),
    );
    assert_eq!(link[1], "ORD-7001-cam-1.mp4", "{link}");
    let got = b.js_async(FETCH_SHA, serde_json::json!([link[0]]));
    assert_eq!(got["status"], 200, "{got}");
    assert_eq!(got["sha"], sealed["sha256"], "{got}");
    assert!(
        got["disposition"]
            .as_str()
            .unwrap_or("")
            .contains("ORD-7001-cam-1.mp4"),
        "{got}"
    );
    let bundle_href = b.js(
        "return [...document.querySelectorAll('a.button')].map((a) => a.getAttribute('href')).find((h) => h.startsWith('/export/'));",
        serde_json::json!([]),
    );
    let zip = b.js_async(FETCH_B64, serde_json::json!([bundle_href]));
    assert_eq!(zip["status"], 200, "{zip}");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(zip["b64"].as_str().unwrap())
        .unwrap();
    let zip_path = tmp.path().join("b.zip");
    std::fs::write(&zip_path, bytes).unwrap();
    let key = station_key(&dir);
    let checked = run(&["verify-bundle", zip_path.to_str().unwrap(), "--key", &key]);
    // Files and records hold; no time-stamp or witness here: the time is not proven.
    assert_eq!(checked.status.code(), Some(5), "{}", show(&checked));
    let report = report_checks_in_the_browser(&b, &zip_path, &key, tmp.path());
    a_test_pattern_report_is_never_green(&b, tmp.path());
    // Both are in the log with the account's name.
    let access: Vec<_> = manifest(&dir)
        .into_iter()
        .filter(|r| r["kind"] == "access" && r["who"] == "lin")
        .map(|r| r["action"].as_str().unwrap_or("").to_string())
        .collect();
    for action in ["view", "download", "export"] {
        assert!(access.iter().any(|a| a == action), "{action}: {access:?}");
    }

    // A phone: nothing wider than the screen.
    b.cmd(
        "POST",
        "/window/rect",
        serde_json::json!({"width": 390, "height": 844}),
    );
    b.go(&format!("{web}/order/ORD-7001"));
    b.wait_js(
        "the order page on a phone",
        "return document.readyState === 'complete';",
    );
    no_horizontal_scroll(&b, "the order page on a phone");
    b.screenshot("phone-order");
    let views_before = manifest(&dir)
        .iter()
        .filter(|r| r["kind"] == "access" && r["action"] == "view")
        .count();
    b.go(&format!("{web}/"));
    b.wait_js(
        "the search page on a phone",
        "return document.readyState === 'complete';",
    );
    // Results as cards, each with its thumbnail, which is no viewing.
    b.wait_js(
        "the results as cards with thumbnails",
        "const r = document.querySelector('table.clips tbody tr'); const i = r && r.querySelector('td.thumb img'); return r && getComputedStyle(r).display === 'grid' && i && i.complete && i.naturalWidth > 0;",
    );
    no_horizontal_scroll(&b, "the search page on a phone");
    let views_after = manifest(&dir)
        .iter()
        .filter(|r| r["kind"] == "access" && r["action"] == "view")
        .count();
    assert_eq!(
        views_before, views_after,
        "a thumbnail was recorded as a viewing"
    );
    b.screenshot("phone-search");
    b.cmd(
        "POST",
        "/window/rect",
        serde_json::json!({"width": 1280, "height": 900}),
    );

    // The station screen again, logged in; and a kiosk's browser in Chinese, never logged
    // in: its station's address is its pairing page until the lead's code is typed there.
    b.go(&format!("{web}/station/station-1"));
    b.wait_js(
        "the screen's first event",
        "return !!document.body.dataset.state;",
    );
    let zh = Browser::start("zh-CN", 1280, 900);
    zh.go(&format!("{web}/station/station-1"));
    zh.wait_js("the pairing page in Chinese", "return document.body.dataset.why === 'NotPaired' && document.getElementById('unpaired').textContent.includes('此屏幕尚未与工位 station-1 配对');");
    zh.screenshot("station-unpaired-zh");
    let code = run(&[
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        d,
        "screen",
        "pair",
        "station-1",
    ]);
    assert!(code.status.success(), "{}", show(&code));
    zh.type_into("#code", stdout(&code).trim());
    zh.click("button[type=submit]");
    zh.wait_js(
        "the paired screen's first event",
        "return location.pathname === '/station/station-1' && !!document.body.dataset.state;",
    );
    station.scan("ORD-7002");
    zh.wait_js("REC and the order on the kiosk", "return document.getElementById('rec').classList.contains('on') && document.getElementById('order').textContent === 'ORD-7002';");
    // A code no rule takes: refused, and the kiosk says why in its own language.
    station.scan("hello?");
    zh.wait_js(
        "the refusal in Chinese",
        "return document.getElementById('last-scan').textContent === '扫描被拒绝: hello? (不是订单号、运单号、工牌或控制码)';",
    );

    // One camera dies: its own panel goes red and says, in plain words, what to do; the
    // other stays live and the order records on (no screen-wide alarm).
    drop(camera.take());
    let one_down = |br: &Browser, what: &str| {
        let script = format!("const [c1, c2] = document.querySelectorAll('figure.cam'); return c1.classList.contains('down') && c1.querySelector('.what').textContent === {} && c1.querySelector('.do').textContent.length > 10 && !c2.classList.contains('down') && document.getElementById('alert').hidden && document.getElementById('rec').classList.contains('on');", serde_json::json!(what));
        br.wait_js("camera 1's own panel red, camera 2 live, REC on", &script);
    };
    one_down(&zh, "无法连接网络摄像头");
    one_down(&b, "Network camera unreachable");
    b.screenshot("station-one-camera-lost");
    zh.screenshot("station-one-camera-lost-zh");

    // Both die: NOT RECORDING over the screen, with the order and the plain reason.
    drop(camera2.take());
    b.wait_js("NOT RECORDING on the screen", "const a = document.getElementById('alert'); return !a.hidden && document.getElementById('alert-title').textContent === 'NOT RECORDING' && document.getElementById('alert-order').textContent.includes('ORD-7002') && document.getElementById('alert-why').textContent === 'Network camera unreachable';");
    b.wait_js(
        "the alarm sound",
        "return window.packwitnessSounds.includes('alarm');",
    );
    b.screenshot("station-not-recording");
    drop(b);
    zh.wait_js(
        "the kiosk in Chinese",
        "return document.getElementById('alert-title').textContent === '未在录制' && document.getElementById('alert-order').textContent.includes('ORD-7002') && document.getElementById('detail').textContent.includes('无法连接归档服务器');",
    );
    zh.screenshot("station-zh");

    // Unpaired by the lead: the kiosk says so in large type, not as a camera fault.
    let revoked = run(&["--data-dir", d, "screen", "revoke", "station-1"]);
    assert!(revoked.status.success(), "{}", show(&revoked));
    zh.wait_js("the kiosk unpaired", "return document.body.dataset.why === 'Revoked' && document.getElementById('unpaired').textContent.includes('此屏幕已与工位 station-1 解除配对');");
    zh.screenshot("station-revoked-zh");

    // The app in Chinese, from the browser's language.
    zh.log_in(&web, "lin");
    zh.wait_js("the app in Chinese", "return document.documentElement.lang === 'zh-CN' && document.body.textContent.includes('最近的录像');");
    zh.screenshot("app-zh");
    // An order's page in Chinese: the seal's reason and the timeline's records in words, not
    // the log's names.
    zh.go(&format!("{web}/order/ORD-7001"));
    zh.wait_js("the order page in Chinese", "const t = document.body.innerText; return t.includes('扫描结束码') && t.includes('视频封存') && t.includes('开始录制') && !t.includes('stop_code') && !t.includes('clip_sealed');");
    zh.screenshot("order-zh");
    zh.go(&report);
    zh.wait_js("the report in Chinese", "return document.documentElement.lang === 'zh-CN' && document.body.innerText.includes('打包视频证据') && document.getElementById('pw-verdict').innerText.startsWith('未检查');");
    zh.screenshot("report-zh");
    drop(zh);
    let _ = station.finish();
}

/// The report of a bundle of test-pattern clips (the demo's): checked with the key and its
/// clips, it says so in its verdict and its statement, marks each clip, and is not green.
fn a_test_pattern_report_is_never_green(b: &Browser, tmp: &Path) {
    let dir = demo_copy(tmp);
    let zip = tmp.join("pattern.zip");
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "export",
        "DEMO-0002",
        "-o",
        zip.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let u = tmp.join("pattern");
    unzip_to(&zip, &u);
    let clips: Vec<String> = std::fs::read_dir(u.join("clips"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    b.go(&format!("file://{}", u.join("report.html").display()));
    b.type_into("#pw-key", &station_key(&dir));
    b.click("#pw-check");
    b.wait_js(
        "partly checked",
        "return document.getElementById('pw-verdict').textContent.startsWith('PARTLY CHECKED');",
    );
    b.type_into("#pw-files", &clips.join("\n"));
    let v = b.wait_js("the clips checked", "const t = document.getElementById('pw-verdict').textContent; return t.startsWith('TIME NOT PROVEN') || t.startsWith('FAILED') ? t : '';");
    assert!(v.as_str().unwrap().contains("TEST PATTERN"), "{v}");
    let seen = b.js(
        "return [document.getElementById('pw-verdict').className, document.getElementById('pw-computed').textContent, document.getElementById('pw-timeline').innerText];",
        serde_json::json!([]),
    );
    assert!(!seen[0].as_str().unwrap().contains("good"), "{seen}");
    assert!(seen[1].as_str().unwrap().contains("TEST PATTERN"), "{seen}");
    assert!(
        seen[2]
            .as_str()
            .unwrap()
            .contains("TEST PATTERN: not evidence"),
        "{seen}"
    );
    b.screenshot("report-test-pattern");
}

/// The bundle's report.html, opened offline from the unzipped bundle: with the published key
/// and the clip files dropped on it, it says TIME NOT PROVEN (it checks no time-stamp: never
/// green); a changed clip FAILED; without a key it claims nothing.
fn report_checks_in_the_browser(b: &Browser, zip: &Path, key: &str, tmp: &Path) -> String {
    let out = tmp.join("unzipped");
    unzip_to(zip, &out);
    let clips: Vec<PathBuf> = std::fs::read_dir(out.join("clips"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!clips.is_empty());
    let report = format!("file://{}", out.join("report.html").display());
    let verdict = "return document.getElementById('pw-verdict').textContent;";
    b.go(&report);
    let v = b.wait_js("the report's verdict", verdict);
    assert!(v.as_str().unwrap().starts_with("NOT CHECKED"), "{v}");
    b.type_into("#pw-key", key);
    b.click("#pw-check");
    b.wait_js(
        "partly checked",
        "return document.getElementById('pw-verdict').textContent.startsWith('PARTLY CHECKED');",
    );
    let paths: Vec<String> = clips.iter().map(|p| p.display().to_string()).collect();
    b.type_into("#pw-files", &paths.join("\n"));
    // The page checks no time-stamp or cosignature: it never says VERIFIED, nor green.
    let v = b.wait_js("the clips checked", "const t = document.getElementById('pw-verdict').textContent; return t.startsWith('TIME NOT PROVEN') || t.startsWith('VERIFIED') || t.startsWith('FAILED') ? t : '';");
    assert!(v.as_str().unwrap().starts_with("TIME NOT PROVEN"), "{v}");
    assert!(v.as_str().unwrap().contains("ORD-7001"), "{v}");
    let class = b.js(
        "return document.getElementById('pw-verdict').className;",
        serde_json::json!([]),
    );
    assert!(!class.as_str().unwrap().contains("good"), "{class}");
    // Its own statement, from the proven records, beside the merchant's (which agrees).
    let computed = b.js(
        "return [document.getElementById('pw-computed').textContent, document.getElementById('pw-claimed').className];",
        serde_json::json!([]),
    );
    assert!(
        computed[0]
            .as_str()
            .unwrap()
            .contains("from the proven records")
            && computed[0].as_str().unwrap().contains("ORD-7001")
            && computed[0]
                .as_str()
                .unwrap()
                .contains("recorded between 20"),
        "{computed}"
    );
    assert!(
        !computed[1].as_str().unwrap().contains("differs"),
        "{computed}"
    );
    // Each timeline row is found in the proven records.
    let rows = b.js(
        "return [...document.querySelectorAll('#pw-timeline tr[data-clip]')].map((r) => r.className);",
        serde_json::json!([]),
    );
    assert!(
        rows.as_array()
            .is_some_and(|r| !r.is_empty() && r.iter().all(|c| c == "proven")),
        "{rows}"
    );
    b.screenshot("report-time-not-proven");
    // A clip changed by one byte: refused.
    let mut bytes = std::fs::read(&clips[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let bad = tmp.join("tampered.mp4");
    std::fs::write(&bad, bytes).unwrap();
    b.go(&report);
    b.type_into("#pw-key", key);
    b.click("#pw-check");
    b.wait_js(
        "partly checked",
        "return document.getElementById('pw-verdict').textContent.startsWith('PARTLY CHECKED');",
    );
    b.type_into("#pw-files", &bad.display().to_string());
    let v = b.wait_js("the changed clip refused", "const t = document.getElementById('pw-verdict').textContent; return t.startsWith('FAILED') ? t : '';");
    assert!(v.as_str().unwrap().contains("tampered.mp4"), "{v}");
    b.screenshot("report-failed");
    // A sentence of the page edited to claim another time: the page's own statement shows
    // the proven times, and the edited text is flagged as differing from them.
    // The page's other text edited too: the order in its title and a clip's SHA-256 in the
    // timeline. Before the check the edits show (as the merchant's claims); after it, the
    // page shows the proven records instead.
    let html_path = out.join("report.html");
    let page = std::fs::read_to_string(&html_path).unwrap();
    let at = page.find("recorded between 20").unwrap() + "recorded between ".len();
    let sha_at = page.find("data-sha=\"").unwrap() + "data-sha=\"".len();
    let sha = page[sha_at..sha_at + 64].to_string();
    let fake = "0123456789abcdef".repeat(4);
    let code_at = page.find("<span id=\"pw-code\">").unwrap() + "<span id=\"pw-code\">".len();
    let code = page[code_at..code_at + page[code_at..].find('<').unwrap()].to_string();
    let edited = format!("{}2019{}", &page[..at], &page[at + 4..])
        .replace(
            &format!("<code>{sha}</code>"),
            &format!("<code>{fake}</code>"),
        )
        .replace(
            &format!("<span id=\"pw-code\">{code}</span>"),
            "<span id=\"pw-code\">ORD-6999</span>",
        );
    std::fs::write(&html_path, edited).unwrap();
    b.go(&report);
    let shown = b.js("return document.body.innerText;", serde_json::json!([]));
    assert!(
        shown.as_str().unwrap().contains(&fake) && shown.as_str().unwrap().contains("ORD-6999"),
        "the edits show before the check: {shown}"
    );
    b.type_into("#pw-key", key);
    b.click("#pw-check");
    let flagged = b.wait_js("the edit flagged", "const c = document.getElementById('pw-claimed'); return c.classList.contains('differs') ? c.textContent : '';");
    assert!(
        flagged
            .as_str()
            .unwrap()
            .contains("DIFFERS FROM THE PROVEN RECORDS")
            && flagged.as_str().unwrap().contains("recorded between 2019"),
        "{flagged}"
    );
    let computed = b.js(
        "return document.getElementById('pw-computed').textContent;",
        serde_json::json!([]),
    );
    assert!(!computed.as_str().unwrap().contains("2019"), "{computed}");
    let shown = b.js("return document.body.innerText;", serde_json::json!([]));
    let shown = shown.as_str().unwrap();
    assert!(
        !shown.contains(&fake) && shown.contains(&sha) && !shown.contains("ORD-6999"),
        "after the check the page shows the proven records: {shown}"
    );
    assert_eq!(
        b.js(
            "return document.getElementById('pw-code').textContent;",
            serde_json::json!([])
        ),
        code.as_str()
    );
    b.screenshot("report-edited");
    std::fs::write(&html_path, page).unwrap();
    // Another key (a forger's): refused before any clip is looked at.
    b.go(&report);
    let other =
        "packwitness.local/station-1/x+12345678+AXm5sBDdfkQ5vJ1Eq8wHcYyBq4y8F8ip2G0sy9VdZ1aK";
    b.type_into("#pw-key", other);
    b.click("#pw-check");
    let v = b.wait_js("another key refused", "const t = document.getElementById('pw-verdict').textContent; return t.startsWith('FAILED') ? t : '';");
    assert!(!v.as_str().unwrap().contains("VERIFIED"), "{v}");
    report
}
