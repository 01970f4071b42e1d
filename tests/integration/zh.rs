//! Every page in Chinese says what the log records in words: a walk over the app's pages
//! (search, an order with two boxes, a waybill and a stop code, statistics, the station
//! screen, a share link's page, a bundle's report) asked for in zh-CN finds none of the log's
//! names for seal reasons, scan actions, record kinds, access actions or states in their
//! text. And the statistics page on a phone in Chromium.

use crate::common::*;

/// The log's own names, as they must never reach a Chinese reader.
const NAMES: &[&str] = &[
    // seal reasons
    "next_order",
    "stop_code",
    "cancelled",
    "rescan",
    "next_box",
    "timeout",
    "shutdown",
    "source_ended",
    "camera_lost",
    "interrupted",
    // scan actions
    "switch",
    "attach",
    "ignored",
    "debounced",
    // record kinds
    "station_start",
    "clip_opened",
    "clip_sealed",
    "code_attached",
    "checkpoint",
    "no_video",
    "camera_gap",
    "order_resumed",
    "orphan_recovered",
    "clock_adjusted",
    "anchored",
    "key_rotation",
    "crash_recovered",
    "pruned",
    // access actions
    "export",
    "download",
    "upload_mp4",
    "share_revoked",
    // states
    "recording",
    "sealed",
    "idle",
    "not_recording",
    "starting",
    // a camera's state and the board's last scan
    "live",
    "stalled",
    "lost",
    "seal",
];

/// The text a reader sees: tags, scripts and styles taken out.
fn visible(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        out.push(' ');
        let after = &rest[lt..];
        let skip_to = if after.starts_with("<pre") {
            // Commands to run, as typed (the report's manual check), are not prose.
            after.find("</pre>").map(|e| e + 6)
        } else if after.starts_with("<script") {
            after.find("</script>").map(|e| e + 9)
        } else if after.starts_with("<style") {
            after.find("</style>").map(|e| e + 8)
        } else {
            after.find('>').map(|e| e + 1)
        };
        match skip_to {
            Some(n) => rest = &after[n..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// The log names that `text` holds as words.
fn english_names(text: &str) -> Vec<&'static str> {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    NAMES
        .iter()
        .copied()
        .filter(|n| words.contains(n))
        .collect()
}

#[test]
fn the_pages_in_chinese_name_nothing_by_the_logs_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let d = dir.to_str().unwrap();
    let cfg = tmp.path().join("pw.toml");
    let (mut station, port) = spawn_web_station(&dir, &cfg, "");
    let c = cfg.to_str().unwrap();
    station.scan("ZH-1");
    station.wait_record(&dir, "box 1", |r| r["kind"] == "clip_opened");
    station.scan("SF1234567890123");
    packing(800);
    station.scan("PW-BOX");
    station.wait_record(&dir, "box 2", |r| {
        r["kind"] == "clip_opened" && r["box"] == 2
    });
    packing(800);
    station.scan("PW-STOP");
    wait_records(&dir, "both boxes sealed", 2, |r| r["kind"] == "clip_sealed");
    // A download, so that the access history has an entry.
    let clip = manifest(&dir)
        .into_iter()
        .find(|r| r["kind"] == "clip_sealed")
        .unwrap()["clip"]
        .clone();
    let web = format!("127.0.0.1:{port}");
    let got = http(&web, "GET", &format!("/clips/{clip}/download"), &[], b"");
    assert_eq!(got.status, 200);
    let zh = [("Accept-Language", "zh-CN,zh;q=0.9")];
    for page in [
        "/",
        "/?q=zh",
        "/order/ZH-1",
        "/order/SF1234567890123",
        "/stats",
        "/station/station-1",
    ] {
        let r = http(&web, "GET", page, &zh, b"");
        assert_eq!(r.status, 200, "{page}");
        let text = visible(&r.text());
        let found = english_names(&text);
        assert!(
            found.is_empty(),
            "{page} in Chinese shows {found:?}:\n{text}"
        );
    }
    // What a share link opens, in Chinese too.
    let made = run(&["--config", c, "--data-dir", d, "share", "create", "ZH-1"]);
    assert!(made.status.success(), "{}", show(&made));
    let link = stdout(&made);
    let path = &link[link.find("/s/").unwrap()..].trim().to_string();
    let r = http(&web, "GET", path, &zh, b"");
    assert_eq!(r.status, 200);
    let text = visible(&r.text());
    assert!(
        english_names(&text).is_empty() && text.contains("订单 ZH-1"),
        "the shared order in Chinese:\n{text}"
    );
    // The day's numbers on a phone, in Chinese: one row for the station, the order counted,
    // nothing wider than the screen.
    let phone = crate::browser::Browser::start("zh-CN", 390, 844);
    phone.go(&format!("http://{web}/stats"));
    let row = phone.wait_js(
        "the statistics",
        "const r = document.querySelector('#stats tbody tr'); return r && [...r.cells].map((c) => c.textContent);",
    );
    assert_eq!(row[1], "station-1", "{row}");
    assert_eq!(row[3], "1", "one order: {row}");
    assert_eq!(row[4], "2", "two boxes: {row}");
    let wide = phone.js(
        "const lines = (c) => { const r = document.createRange(); r.selectNodeContents(c); return r.getClientRects().length; }; const cells = document.querySelector('#stats tbody tr').cells; return [document.documentElement.scrollWidth, innerWidth, document.documentElement.lang, lines(cells[0]), lines(cells[1])];",
        serde_json::json!([]),
    );
    assert!(wide[0].as_u64() <= wide[1].as_u64(), "{wide}");
    assert_eq!(wide[2], "zh-CN");
    assert_eq!(
        (&wide[3], &wide[4]),
        (&1.into(), &1.into()),
        "the day or the station broke: {wide}"
    );
    phone.screenshot("stats-phone-zh");
    drop(phone);
    // The bundle's report: its scans, seals and timeline in words, not the log's names.
    let zip = tmp.path().join("zh.zip");
    let out = run(&[
        "--data-dir",
        d,
        "export",
        "ZH-1",
        "-o",
        zip.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let u = tmp.path().join("u");
    unzip_to(&zip, &u);
    let report = std::fs::read_to_string(u.join("report.html")).unwrap();
    let text = visible(&report);
    let found: Vec<&str> = english_names(&text)
        .into_iter()
        .filter(|n| n.contains('_'))
        .collect();
    assert!(found.is_empty(), "report.html shows {found:?}:\n{text}");
    assert!(
        text.contains("扫描结束码") && text.contains("运单号"),
        "{text}"
    );
    // What a reader in Chinese sees of it (the English spans and the code left out, and the
    // merchant's statement, quoted as the bundle signed it: the page's check states its own
    // in the reader's language): no English word but the names of tools, standards and
    // values (the exporting user, the scanner's id).
    let body = &report[report.find("<body").unwrap()..];
    let claimed = body.find("<span id=\"pw-claimed-text\">").unwrap();
    let body = format!(
        "{}{}",
        &body[..claimed],
        &body[claimed..][body[claimed..].find("</span>").unwrap()..]
    );
    let zh_view = visible(&without(&without(&body, "en"), "code"));
    let english = english_words(
        &zh_view,
        &[
            "sha",
            "rfc",
            "utc",
            "tsa",
            "packwitness",
            "bash",
            "coreutils",
            "openssl",
            "verify",
            "webcrypto",
            "c2sp",
            "org",
            "tlog",
            "cosignature",
            "bundle",
            "zip",
            "verified",
            "time",
            "not",
            "proven",
            "station_key",
            "witness_key",
            "file",
            "key",
            "mp4",
            "clips",
            "note",
            "pub",
            "station",
            "checkpoint",
            "jsonl",
            "proofs",
            "line",
            "proof",
            "records",
            "dgst",
            "clip_opened",
            "code_attached",
            "clip_sealed",
            "tsa_ca",
            "cam",
            "english",
            "uid",
            "scanner",
            "report",
            "html",
        ],
    );
    assert!(
        english.is_empty(),
        "report.html in Chinese shows {english:?}:\n{zh_view}"
    );
    // The same walk in English does meet some of these words (the check is not blind).
    let en = http(
        &web,
        "GET",
        "/order/ZH-1",
        &[("Accept-Language", "en-US")],
        b"",
    );
    assert!(
        english_names(&visible(&en.text())).contains(&"sealed"),
        "{}",
        en.text()
    );
    // An agent at a terminal whose locale is Chinese: lookup and export speak Chinese.
    let zh_cli = |args: &[&str]| {
        let out = bin()
            .env("LANG", "zh_CN.UTF-8")
            .args(["--config", c, "--data-dir", d])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", show(&out));
        stdout(&out)
    };
    let looked = zh_cli(&["lookup", "ZH-1"]);
    for words in [
        "订单      ZH-1",
        "第 2 箱",
        "封存原因  下一箱",
        "扫描时间",
        "状态      正常",
    ] {
        assert!(
            looked.contains(words),
            "lookup in Chinese lacks {words:?}:\n{looked}"
        );
    }
    // The hashes' hex digits aside.
    let words: String = looked
        .lines()
        .filter(|l| !l.trim_start().starts_with("sha256"))
        .collect::<Vec<_>>()
        .join("\n");
    let english = english_words(
        &words,
        &[
            "station", "cam", "clips", "mp4", "sha", "ntp", "lookup", "check", "verify", "web",
            "uid",
        ],
    );
    assert!(
        english.is_empty(),
        "lookup in Chinese shows {english:?}:\n{looked}"
    );
    let zip2 = tmp.path().join("zh2.zip");
    let exported = zh_cli(&["export", "ZH-1", "-o", zip2.to_str().unwrap()]);
    assert!(
        exported.contains("已写入") && exported.contains("本次导出已记入清单"),
        "{exported}"
    );
    let listed = zh_cli(&["share", "list"]);
    assert!(
        listed.contains("有效期至") && listed.contains("有效"),
        "{listed}"
    );
    let stats = zh_cli(&["stats"]);
    assert!(
        stats.contains("日期") && stats.contains("打包员"),
        "{stats}"
    );
    // With an account, a screen that was never paired gets the pairing page, and a browser
    // the login page: every word Chinese (the station's id and the brand aside).
    add_user(&dir, "lead", "admin");
    for (page, status) in [("/station/station-1", 401), ("/login", 200)] {
        let r = http(&web, "GET", page, &zh, b"");
        assert_eq!(r.status, status, "{page}: {}", r.text());
        let text = visible(&r.text());
        let english = english_words(&text, &["station", "packwitness", "screen", "pair"]);
        assert!(
            english.is_empty() && text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{page} in Chinese shows {english:?}:\n{text}"
        );
    }
    let _ = station.finish();
}

/// `html` without the elements of class `class` (for `code`: the `<code>` elements), which
/// hold no element of their own kind.
fn without(html: &str, class: &str) -> String {
    let (open, close) = match class {
        "code" => ("<code>".to_string(), "</code>"),
        c => (format!(" class=\"{c}\">"), "</"),
    };
    let mut out = String::new();
    let mut rest = html;
    while let Some(i) = rest.find(&open) {
        // Back to the start of the tag.
        let start = rest[..i]
            .rfind('<')
            .filter(|_| class != "code")
            .unwrap_or(i);
        out.push_str(&rest[..start]);
        let after = &rest[i + open.len()..];
        let end = after.find(close).unwrap_or(after.len());
        let tail = &after[end..];
        rest = &tail[tail.find('>').map_or(tail.len(), |e| e + 1)..];
    }
    out.push_str(rest);
    out
}

/// Words of three or more Latin letters in `text`, except those in `allowed` (the station's
/// id, a command the page quotes).
fn english_words<'a>(text: &'a str, allowed: &[&str]) -> Vec<&'a str> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3 && !allowed.contains(&w.to_ascii_lowercase().as_str()))
        .collect()
}

#[test]
fn visible_text_leaves_out_tags_and_scripts() {
    let t =
        visible("<p class=\"clip_sealed\">封存 <b>x</b></p><script>let a = 'stop_code';</script>y");
    assert_eq!(english_names(&t), Vec::<&str>::new());
    assert!(t.contains("封存") && t.contains('y'));
    assert_eq!(english_names("由 stop_code 封存"), ["stop_code"]);
}
