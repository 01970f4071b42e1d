//! Share links: an agent makes a read-only link with a PIN to one order on its page; on a
//! phone the link asks for the PIN, then shows that order (it plays) and nothing else:
//! search, other orders, the station screen and other orders' clips are refused; every view
//! is recorded with the link's id; revoked, the link opens nothing. And the same from the
//! command line.

use crate::browser::Browser;
use crate::common::*;

/// The status of the page's fetch of `url`.
const STATUS: &str = "const done = arguments[arguments.length - 1];
fetch(arguments[0]).then((r) => done(r.status)).catch((e) => done(String(e)));";

#[test]
fn a_share_link_shows_one_order_on_a_phone_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let d = dir.to_str().unwrap();
    let cfg = tmp.path().join("pw.toml");
    let (mut station, port) = spawn_web_station(&dir, &cfg, "");
    let c = cfg.to_str().unwrap();
    add_user(&dir, "lin", "agent");
    for order in ["SH-1", "SH-2"] {
        station.scan(order);
        station.wait_record(&dir, "the clip's opening", |r| {
            r["kind"] == "clip_opened" && r["order"] == order
        });
        packing(1200);
    }
    station.scan("PW-STOP");
    let sealed = wait_records(&dir, "both sealed", 2, |r| r["kind"] == "clip_sealed");
    let other_clip = sealed.iter().find(|r| r["order"] == "SH-2").unwrap()["clip"].clone();

    // The agent makes a link with a PIN on the order's page.
    let web = format!("http://127.0.0.1:{port}");
    let agent = Browser::start("en-US", 1280, 900);
    agent.log_in(&web, "lin");
    agent.go(&format!("{web}/order/SH-1"));
    agent.wait_js(
        "the share panel",
        "return !!document.querySelector('details.share');",
    );
    agent.js(
        "document.querySelector('details.share').open = true;",
        serde_json::json!([]),
    );
    agent.type_into("details.share input[name=pin]", "2468");
    agent.click("details.share button[type=submit]");
    let link = agent.wait_js(
        "the link, shown once",
        "const i = document.getElementById('share-url'); return i && i.value;",
    );
    let link = link.as_str().unwrap().to_string();
    assert!(link.starts_with(&format!("{web}/s/shr-")), "{link}");
    agent.screenshot("share-made");
    let made = wait_record(&dir, "the share record", |r| {
        r["kind"] == "access" && r["action"] == "share"
    });
    assert_eq!(made["who"], "lin");
    assert_eq!(made["code"], "SH-1");
    let id = made["to"].as_str().unwrap().to_string();
    assert!(link.contains(&format!("/s/{id}.")), "{link} {id}");
    // The link's file keeps no secret.
    let stored = std::fs::read_to_string(dir.join("shares.json")).unwrap();
    assert!(!stored.contains(link.rsplit_once('.').unwrap().1) && !stored.contains("2468"));

    // On a phone, in Chinese: the PIN first; a wrong one says how many tries are left.
    let phone = Browser::start("zh-CN", 390, 844);
    phone.go(&link);
    phone.wait_js(
        "the PIN page",
        "return !!document.getElementById('pin') && document.body.innerText.includes('此链接需要 PIN');",
    );
    phone.type_into("#pin", "1111");
    phone.click("button[type=submit]");
    phone.wait_js(
        "a wrong PIN",
        "return document.body.innerText.includes('剩余次数： 4') || document.body.innerText.includes('剩余次数：4');",
    );
    phone.type_into("#pin", "2468");
    phone.click("button[type=submit]");
    phone.wait_js(
        "the shared order",
        "return document.querySelector('h1') && document.querySelector('h1').textContent.includes('SH-1') && !!document.querySelector('video.big');",
    );
    phone.js(
        "const v = document.querySelector('video.big'); v.muted = true; v.play();",
        serde_json::json!([]),
    );
    phone.wait_js(
        "the clip to play on the phone",
        "const v = document.querySelector('video.big'); return v.readyState >= 2 && v.currentTime > 0.3;",
    );
    let page = phone.js(
        "return [document.documentElement.scrollWidth, window.innerWidth, !!document.querySelector('input[type=search]'), [...document.querySelectorAll('a')].map((a) => a.getAttribute('href'))];",
        serde_json::json!([]),
    );
    assert!(
        page[0].as_u64() <= page[1].as_u64(),
        "wider than the phone: {page}"
    );
    assert_eq!(page[2], false, "a search box: {page}");
    for href in page[3].as_array().unwrap() {
        let h = href.as_str().unwrap_or("");
        assert!(
            h.starts_with("/s/") || h.starts_with('?'),
            "a way out of the shared order: {h}"
        );
    }
    phone.screenshot("share-phone-zh");

    // Nothing else: search, another order, the station screen, another order's clip.
    let token_path = link.strip_prefix(&web).unwrap().to_string();
    for path in [
        "/".to_string(),
        "/order/SH-2".to_string(),
        "/api/search?q=SH".to_string(),
        "/station/station-1".to_string(),
        format!("{token_path}/clips/{other_clip}"),
    ] {
        let status = phone.js_async(STATUS, serde_json::json!([path]));
        assert_eq!(status, 403, "{path}");
    }
    // Its own bundle, recorded as the link's.
    let status = phone.js_async(STATUS, serde_json::json!([format!("{token_path}/bundle")]));
    assert_eq!(status, 200);
    let views: Vec<String> = manifest(&dir)
        .into_iter()
        .filter(|r| r["kind"] == "access" && r["who"] == format!("share {id}"))
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        views.contains(&"view".to_string()) && views.contains(&"export".to_string()),
        "{views:?}"
    );

    // Revoked on the order page: the phone's link opens nothing, at once.
    agent.go(&format!("{web}/order/SH-1"));
    agent.js(
        "document.querySelector('details.share').open = true;",
        serde_json::json!([]),
    );
    agent.click(&format!("form[action='/share/{id}/revoke'] button"));
    agent.wait_js(
        "the link marked revoked",
        "return document.querySelector('details.share').innerText.includes('revoked');",
    );
    phone.go(&link);
    phone.wait_js(
        "the link revoked",
        "return document.body.innerText.includes('此链接已被撤销');",
    );
    let status = phone.js_async(STATUS, serde_json::json!([format!("{token_path}/bundle")]));
    assert_eq!(status, 403);
    drop(phone);
    drop(agent);

    // From the command line: made (printed once, with the configured address), listed,
    // revoked; both recorded.
    let mut with_url = std::fs::read_to_string(&cfg).unwrap();
    with_url = with_url.replace(
        "[server]\n",
        "[server]\npublic_url = \"https://evidence.example.com\"\n",
    );
    std::fs::write(&cfg, with_url).unwrap();
    let out = run(&[
        "--config",
        c,
        "--data-dir",
        d,
        "share",
        "create",
        "SH-2",
        "--days",
        "1",
        "--who",
        "wang",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    let printed = stdout(&out);
    assert!(
        printed
            .trim()
            .starts_with("https://evidence.example.com/s/shr-"),
        "{}",
        show(&out)
    );
    let listed = run(&["--config", c, "--data-dir", d, "share", "list"]);
    let listed = stdout(&listed);
    assert!(
        listed.contains("SH-2\twang") && listed.contains("revoked"),
        "{listed}"
    );
    let cli_id = printed
        .trim()
        .rsplit('/')
        .next()
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .to_string();
    let out = run(&["--config", c, "--data-dir", d, "share", "revoke", &cli_id]);
    assert!(out.status.success(), "{}", show(&out));
    let recorded: Vec<String> = manifest(&dir)
        .into_iter()
        .filter(|r| r["kind"] == "access" && r["to"] == cli_id)
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(recorded, ["share", "share_revoked"]);
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
}
