//! The customer-service app served by the archive, in Debian's Chromium, over real
//! PostgreSQL and SeaweedFS: two stations push into one archive; an agent logged in at the
//! archive finds an order of each by a typed prefix, plays one from the object store and
//! downloads its bundle, which verifies with the station's key and the archive's key; an
//! agent limited (through a station group) to one station gets 403 for the other's order and
//! does not see it in suggestions, nor holds it; a viewer plays but may not download; a legal
//! hold placed from the page reaches the object store. The archive's access log then
//! verifies with `packwitness verify` and holds the plays, the export and the hold.

use crate::archive::{
    add_station, archive_cmd, evidence_servers, pack, record, sql, start_archive, station_config,
    wait_archived,
};
use crate::archive_export::verify_bundle;
use crate::browser::{no_horizontal_scroll, Browser, FETCH_B64, FETCH_SHA};
use crate::common::*;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

/// Runs `archive ARGS` on the archive's config; its output (asserted a success).
fn at_archive(cfg: &Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = archive_cmd(cfg, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        writeln!(child.stdin.take().unwrap(), "{text}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "archive {args:?}: {}", show(&out));
    out
}

/// What the browser's session fetches at `path`: its status and body (base64-decoded).
fn fetch(b: &Browser, path: &str) -> (u64, Vec<u8>) {
    use base64::Engine;
    let got = b.js_async(FETCH_B64, serde_json::json!([path]));
    let body = base64::engine::general_purpose::STANDARD
        .decode(got["b64"].as_str().unwrap_or(""))
        .unwrap_or_default();
    (got["status"].as_u64().unwrap_or(0), body)
}

/// Types `prefix` into the search box and waits for the suggestions; their codes.
fn suggestions(b: &Browser, prefix: &str) -> Vec<String> {
    b.js(
        "document.querySelector('#q').value = ''; const l = document.querySelector('#suggest'); l.hidden = true; l.replaceChildren(); return 1;",
        serde_json::json!([]),
    );
    b.type_into("#q", prefix);
    let got = b.wait_js(
        &format!("suggestions for {prefix}"),
        "const l = document.querySelector('#suggest'); return !l.hidden && l.children.length > 0 && [...l.querySelectorAll('li a')].map(a => a.textContent.trim());",
    );
    got.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect()
}

fn log_out(b: &Browser) {
    b.js_async(
        "const done = arguments[arguments.length - 1]; fetch('/logout', {method: 'POST'}).then(() => done(1));",
        serde_json::json!([]),
    );
}

#[test]
#[ignore = "slow tier: PostgreSQL, SeaweedFS, two stations and Chromium; run with `cargo test --test integration -- --ignored --test-threads=1`"]
fn customer_service_finds_plays_and_exports_any_station_s_order_at_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let (pg, _sw, port, cfg) = evidence_servers(tmp.path());
    let archive_dir = tmp.path().join("archive");
    let (_node, archive_key) = start_archive(&cfg, &archive_dir);

    // Two stations (two PCs, two logs) push into the archive.
    let (a, b_dir) = (tmp.path().join("st-a"), tmp.path().join("st-b"));
    for d in [&a, &b_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let ca = station_config(
        tmp.path(),
        "st-a",
        port,
        &add_station(&cfg, &a),
        &archive_key,
    );
    let cb = station_config(
        tmp.path(),
        "st-b",
        port,
        &add_station(&cfg, &b_dir),
        &archive_key,
    );
    let mut sa = record(&ca, &a);
    let mut sb = record(&cb, &b_dir);
    pack(&mut sa, &a, &["SOA-1001"]);
    pack(&mut sb, &b_dir, &["SOB-2002"]);
    wait_archived(&a);
    wait_archived(&b_dir);
    assert!(sa.finish().status.success());
    assert!(sb.finish().status.success());
    let seal_of = |dir: &Path, order: &str| {
        sealed(dir)
            .into_iter()
            .find(|r| r["order"] == order)
            .unwrap()
    };
    let (seal_a, seal_b) = (seal_of(&a, "SOA-1001"), seal_of(&b_dir, "SOB-2002"));
    let sha_a = seal_a["sha256"].as_str().unwrap().to_string();
    let sha_b = seal_b["sha256"].as_str().unwrap().to_string();

    // Accounts at the archive: alice sees every station; bob only warehouse A (a group);
    // vera may play, not download.
    let pw = Some("correct-horse-1");
    at_archive(&cfg, &["group", "warehouse-a", "--stations", "st-a"], None);
    at_archive(&cfg, &["add-account", "alice", "--role", "agent"], pw);
    at_archive(
        &cfg,
        &[
            "add-account",
            "bob",
            "--role",
            "agent",
            "--groups",
            "warehouse-a",
        ],
        pw,
    );
    at_archive(&cfg, &["add-account", "vera", "--role", "viewer"], pw);
    let listed = stdout(&at_archive(&cfg, &["accounts"], None));
    assert!(
        listed.contains("bob\tagent\tstations -\tgroups warehouse-a"),
        "{listed}"
    );
    let web = format!("http://127.0.0.1:{port}");

    // Nobody logged in gets the login page, and no bytes.
    let r = http(
        &format!("127.0.0.1:{port}"),
        "GET",
        &format!("/clips/{sha_a}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 401, "{}", r.text());

    let b = Browser::start("en", 1200, 900);
    b.log_in(&web, "alice");
    // One app for every station: each order is found by a typed prefix.
    assert_eq!(suggestions(&b, "soa"), ["SOA-1001"]);
    assert_eq!(suggestions(&b, "SO"), ["SOA-1001", "SOB-2002"]);
    b.screenshot("archive-search");
    b.go(&format!("{web}/order/SOB-2002"));
    b.wait_js(
        "station B's order page",
        "return document.querySelectorAll('video.big').length === 1;",
    );
    // Played from the object store: the player gets through the clip's first second.
    b.js("document.querySelector('video.big').muted = true; document.querySelector('video.big').play(); return 1;", serde_json::json!([]));
    b.wait_js(
        "the clip to play from the archive",
        "const v = document.querySelector('video.big'); return v.currentTime > 0.5 && v.readyState >= 2;",
    );
    // Its first and last frames, made at the node from the bucket's bytes.
    b.js(
        "document.querySelector('details.stills').open = true; return 1;",
        serde_json::json!([]),
    );
    b.wait_js(
        "the first and last frames",
        "const i = [...document.querySelectorAll('details.stills img')]; return i.length === 2 && i.every(x => x.complete && x.naturalWidth === 320);",
    );
    b.screenshot("archive-order");
    // The bytes the player gets are the sealed ones; a range is a range.
    let got = b.js_async(FETCH_SHA, serde_json::json!([format!("/clips/{sha_b}")]));
    assert_eq!(got["sha"], sha_b.as_str(), "{got}");
    let ranged = b.js_async(
        "const done = arguments[arguments.length - 1]; fetch(arguments[0], {headers: {Range: 'bytes=100-199'}}).then(async r => done({status: r.status, len: (await r.arrayBuffer()).byteLength, range: r.headers.get('content-range')}));",
        serde_json::json!([format!("/clips/{sha_b}")]),
    );
    assert_eq!(ranged["status"], 206, "{ranged}");
    assert_eq!(ranged["len"], 100, "{ranged}");
    let size_b = seal_b["size"].as_u64().unwrap();
    assert_eq!(ranged["range"], format!("bytes 100-199/{size_b}").as_str());

    // Its evidence bundle, made from the archive alone, verifies with the station's key and
    // the archive's key.
    let href = b.wait_js(
        "the bundle link",
        "const a = document.querySelector('a.bundle'); return a && a.getAttribute('href');",
    );
    let (status, zip) = fetch(&b, href.as_str().unwrap());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&zip));
    let zip_path = tmp.path().join("b.zip");
    std::fs::write(&zip_path, &zip).unwrap();
    let key_b = station_key(&b_dir);
    let (code, v) = verify_bundle(&zip_path, &["--key", &key_b, "--witness", &archive_key]);
    // VERIFIED, its time proven by the archive's receipt of the push that brought the seal.
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["report"]["clips_ok"], 1, "{v}");
    assert_eq!(v["report"]["problems"], serde_json::json!([]), "{v}");
    // Without the archive's key the list of the order's clips rests on nothing trusted.
    let (code, _) = verify_bundle(&zip_path, &["--key", &key_b]);
    assert_eq!(code, Some(4));

    // The MP4 for a platform's upload form, made at the archive from the sealed bytes.
    let upload = b.js_async(
        FETCH_SHA,
        serde_json::json!(["/order/SOB-2002/upload.mp4?max_mb=5"]),
    );
    assert_eq!(upload["status"], 200, "{upload}");
    assert!(
        upload["disposition"]
            .as_str()
            .is_some_and(|d| d.contains("SOB-2002-upload.mp4")),
        "{upload}"
    );

    // The buyer's picture (here a frame of the clip itself) on a dispute sheet, beside the
    // order's frames made from the bucket's bytes, naming the sealed clip.
    let sheet = b.js_async(
        "const done = arguments[arguments.length - 1]; (async () => { const pic = await (await fetch(arguments[0])).blob(); const f = new FormData(); f.append('file', pic, 'buyer.jpg'); const r = await fetch('/order/SOB-2002/dispute', {method: 'POST', body: f}); done({status: r.status, text: await r.text()}); })();",
        serde_json::json!([format!("/clips/{sha_b}/still/first.jpg")]),
    );
    assert_eq!(sheet["status"], 200, "{sheet}");
    let text = sheet["text"].as_str().unwrap();
    assert_eq!(
        text.matches("src=\"data:image/jpeg;base64,").count(),
        3,
        "{text}"
    );
    assert!(text.contains(sha_b.as_str()) && text.contains("No GB 45438-2025 AI label found"));

    // A dispute: alice places a legal hold from the page; the store holds the clip.
    b.click("form.hold button");
    b.wait_js(
        "the order under legal hold",
        "return document.body.innerText.includes('under legal hold') && document.querySelector('form.hold input[name=release]').value === '1';",
    );
    // The page, reloaded, lists alice's play, export and hold (newest first), and the order's
    // records read back from the archived log: its scan, the clip's opening and its seal.
    let page = b.wait_js(
        "the order's access history and timeline",
        "const a = [...document.querySelectorAll('table.access tr')].map(r => r.innerText); const t = [...document.querySelectorAll('table.timeline tr')].map(r => r.innerText); return a.length >= 3 && t.length >= 3 && {a, t};",
    );
    let rows = |k: &str| {
        page[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_lowercase())
            .collect::<Vec<_>>()
    };
    let (accesses, timeline) = (rows("a"), rows("t"));
    assert!(
        accesses[0].contains("hold") && accesses.iter().all(|r| r.contains("alice")),
        "{accesses:?}"
    );
    assert!(
        accesses.iter().any(|r| r.contains("export")),
        "{accesses:?}"
    );
    assert!(timeline.iter().any(|r| r.contains("scan")), "{timeline:?}");
    assert!(
        timeline.iter().any(|r| r.contains("sealed")),
        "{timeline:?}"
    );
    let held = sql(
        &pg,
        "SELECT held, hold_applied FROM clips WHERE order_code = 'SOB-2002'",
    );
    assert!(held
        .iter()
        .all(|r| r.get::<_, bool>(0) && r.get::<_, bool>(1)));
    log_out(&b);

    // bob sees warehouse A only: B's order is refused, its clip unknown, its code never
    // suggested.
    b.log_in(&web, "bob");
    assert_eq!(suggestions(&b, "SO"), ["SOA-1001"]);
    let (status, _) = fetch(&b, "/order/SOB-2002");
    assert_eq!(status, 403);
    let (status, _) = fetch(&b, "/order/SOB-2002/bundle.zip");
    assert_eq!(status, 403);
    let (status, _) = fetch(&b, &format!("/clips/{sha_b}"));
    assert_eq!(status, 404);
    let (status, _) = fetch(&b, "/board");
    assert_eq!(status, 403);
    let refused = b.js_async(
        "const done = arguments[arguments.length - 1]; fetch('/order/SOB-2002/hold', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'release=1'}).then(r => done(r.status));",
        serde_json::json!([]),
    );
    assert_eq!(refused, 403);
    let (status, body) = fetch(&b, &format!("/clips/{sha_a}"));
    assert_eq!(status, 200);
    assert_eq!(packwitness::digest::sha256_hex(&body), sha_a);
    log_out(&b);

    // vera plays, but downloads and exports nothing.
    b.log_in(&web, "vera");
    let (status, _) = fetch(&b, &format!("/clips/{sha_a}/download"));
    assert_eq!(status, 403);
    let (status, _) = fetch(&b, "/order/SOA-1001/bundle.zip");
    assert_eq!(status, 403);
    log_out(&b);

    // The board of every station, for alice.
    b.log_in(&web, "alice");
    b.go(&format!("{web}/board"));
    let rows = b.wait_js(
        "the board",
        "return document.querySelectorAll('#archive-board tbody tr').length;",
    );
    assert_eq!(rows, 2);

    // A read-only link to B's order for the platform's reviewer, with a PIN.
    let made = b.js_async(
        "const done = arguments[arguments.length - 1]; fetch('/order/SOB-2002/share', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'days=7&pin=2468'}).then(async r => done({status: r.status, text: await r.text()}));",
        serde_json::json!([]),
    );
    assert_eq!(made["status"], 200, "{made}");
    let text = made["text"].as_str().unwrap();
    let at = text
        .find(&format!("{web}/s/"))
        .unwrap_or_else(|| panic!("{text}"));
    let link: String = text[at..].chars().take_while(|c| *c != '"').collect();
    let token = link.rsplit('/').next().unwrap().to_string();
    let id = token.split('.').next().unwrap().to_string();
    // The reviewer, with no account: the PIN first (a wrong one counted), then the order.
    let reviewer = Browser::start("en", 1200, 900);
    reviewer.go(&link);
    reviewer.wait_js("the PIN form", "return !!document.querySelector('#pin');");
    reviewer.type_into("#pin", "1111");
    reviewer.click("button[type=submit]");
    reviewer.wait_js(
        "a wrong PIN said",
        "return document.body.innerText.includes('Wrong PIN') && !!document.querySelector('#pin');",
    );
    reviewer.type_into("#pin", "2468");
    reviewer.click("button[type=submit]");
    reviewer.wait_js(
        "the shared order",
        "return document.querySelectorAll('video.big').length === 1 && !document.querySelector('#q');",
    );
    reviewer.js(
        "const v = document.querySelector('video.big'); v.muted = true; v.play(); return 1;",
        serde_json::json!([]),
    );
    reviewer.wait_js(
        "the shared clip to play",
        "const v = document.querySelector('video.big'); return v.currentTime > 0.5;",
    );
    let got = reviewer.js_async(
        FETCH_SHA,
        serde_json::json!([format!("/s/{token}/clips/{sha_b}")]),
    );
    assert_eq!(got["sha"], sha_b.as_str(), "{got}");
    // Nothing beyond its order: A's clip, the search, another order.
    let other = reviewer.js_async(
        FETCH_SHA,
        serde_json::json!([format!("/s/{token}/clips/{sha_a}")]),
    );
    assert_eq!(other["status"], 404, "{other}");
    let search = reviewer.js_async(FETCH_SHA, serde_json::json!(["/api/suggest?q=SO"]));
    assert_eq!(search["status"], 401, "{search}");
    // Its bundle, from the link, verifies like alice's.
    let (status, zip) = fetch(&reviewer, &format!("/s/{token}/bundle.zip"));
    assert_eq!(status, 200);
    let shared_zip = tmp.path().join("shared.zip");
    std::fs::write(&shared_zip, &zip).unwrap();
    let (code, v) = verify_bundle(&shared_zip, &["--key", &key_b, "--witness", &archive_key]);
    assert_eq!(code, Some(0), "{v}");
    // alice revokes it: the link stops at once.
    let revoked = b.js_async(
        "const done = arguments[arguments.length - 1]; fetch(arguments[0], {method: 'POST'}).then(r => done(r.status));",
        serde_json::json!([format!("/share/{id}/revoke")]),
    );
    assert_eq!(revoked, 200);
    let gone = reviewer.js_async(FETCH_SHA, serde_json::json!([format!("/s/{token}")]));
    assert_eq!(gone["status"], 410, "{gone}");
    drop(reviewer);
    drop(b);

    // On a phone, in Chinese: the same app, every word of it in Chinese, nothing wider than
    // the screen.
    let zh = Browser::start("zh-CN", 390, 844);
    zh.log_in(&web, "alice");
    let text = zh.js(
        "return document.documentElement.lang + ' ' + document.body.innerText;",
        serde_json::json!([]),
    );
    let text = text.as_str().unwrap();
    assert!(
        text.starts_with("zh-CN") && text.contains("归档") && text.contains("全部工位"),
        "{text}"
    );
    no_horizontal_scroll(&zh, "the archive's search page on a phone");
    zh.go(&format!("{web}/order/SOB-2002"));
    let text = zh.wait_js(
        "the order page in Chinese",
        "return document.querySelector('table.timeline') && document.body.innerText;",
    );
    let text = text.as_str().unwrap();
    for words in [
        "订单 SOB-2002",
        "下载证据包",
        "访问记录",
        "时间线",
        "法律保全中",
        "导出",
    ] {
        assert!(text.contains(words), "{words} not in: {text}");
    }
    no_horizontal_scroll(&zh, "the archive's order page on a phone");
    zh.screenshot("archive-order-zh-phone");
    zh.go(&format!("{web}/board"));
    zh.wait_js(
        "the board in Chinese",
        "return document.querySelector('#archive-board');",
    );
    no_horizontal_scroll(&zh, "the archive's board on a phone");
    drop(zh);

    // The archive's access log: a station's ledger, signed by the node's access key; it
    // holds alice's play and export of B's order and bob's play of A's.
    let access_key = stdout(&at_archive(
        &cfg,
        &["access-key", "--data-dir", archive_dir.to_str().unwrap()],
        None,
    ))
    .trim()
    .to_string();
    let access = archive_dir.join("access");
    let out = run(&[
        "--data-dir",
        access.to_str().unwrap(),
        "verify",
        "--key",
        &access_key,
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let recs = manifest(&access);
    let accessed = |action: &str, who: &str, order: &str| {
        recs.iter().any(|r| {
            r["kind"] == "access" && r["action"] == action && r["who"] == who && r["code"] == order
        })
    };
    assert!(accessed("view", "alice", "SOB-2002"), "{recs:?}");
    assert!(accessed("export", "alice", "SOB-2002"), "{recs:?}");
    assert!(accessed("view", "bob", "SOA-1001"), "{recs:?}");
    assert!(accessed("hold", "alice", "SOB-2002"), "{recs:?}");
    assert!(accessed("share", "alice", "SOB-2002"), "{recs:?}");
    assert!(accessed("share_revoked", "alice", "SOB-2002"), "{recs:?}");
    assert!(
        accessed("view", &format!("share {id}"), "SOB-2002"),
        "{recs:?}"
    );
    assert!(
        accessed("export", &format!("share {id}"), "SOB-2002"),
        "{recs:?}"
    );
    // The MP4 for upload is tied to the sealed clip by its record: its SHA-256, its source's.
    let made = recs
        .iter()
        .find(|r| r["kind"] == "access" && r["action"] == "upload_mp4")
        .unwrap_or_else(|| panic!("no upload_mp4 record: {recs:?}"));
    assert_eq!(made["who"], "alice", "{made}");
    assert_eq!(made["derived"]["sha256"], upload["sha"], "{made}");
    assert_eq!(
        made["derived"]["sources"][0]["sha256"],
        sha_b.as_str(),
        "{made}"
    );
    assert!(!accessed("release", "bob", "SOB-2002"), "{recs:?}");
    assert!(!accessed("download", "vera", "SOA-1001"), "{recs:?}");
    let export = recs
        .iter()
        .find(|r| r["kind"] == "access" && r["action"] == "export")
        .unwrap();
    assert_eq!(
        export["clips"],
        serde_json::json!([seal_b["clip"]]),
        "{export}"
    );
    assert_eq!(export["log"].as_str(), key_b.split('+').next(), "{export}");
    assert!(export["to"].as_str().unwrap().ends_with(".zip"), "{export}");

    // The node pushes its access log into the archive like a station's: every line up to its
    // last checkpoint is held (the checkpoint's own line the next one covers), off the board.
    let name = access_key.split('+').next().unwrap().to_string();
    let lines = recs.len() as i64;
    wait_until("the archive to hold the node's access log", || {
        let rows = sql(
            &pg,
            &format!("SELECT size, access_log FROM stations WHERE origin = '{name}'"),
        );
        rows.len() == 1 && rows[0].get::<_, bool>(1) && rows[0].get::<_, i64>(0) == lines - 1
    });
}
