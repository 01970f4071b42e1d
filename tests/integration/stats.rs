//! `packwitness stats`: the numbers of a range, checked against what the manifest itself
//! says (orders, boxes, bytes, packing time from the scan to the end of the box's clips),
//! and an order scanned while no camera recorded counted with its reason.

use crate::common::*;

use std::collections::{BTreeMap, BTreeSet};

fn stats_json(dir: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--data-dir", dir.to_str().unwrap(), "stats"];
    all.extend(args);
    all.push("--json");
    let out = run(&all);
    assert!(out.status.success(), "{}", show(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)))
}

fn ms(t: &serde_json::Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

#[test]
fn the_days_numbers_agree_with_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    // What the manifest says, by box (one scan's clips): its order, scan, latest end, bytes.
    let log = manifest(&dir);
    let mut boxes: BTreeMap<String, (String, i64, i64, u64)> = BTreeMap::new();
    let mut group_of = BTreeMap::new();
    for r in &log {
        if r["kind"] == "clip_opened" {
            group_of.insert(
                r["seq"].as_u64().unwrap(),
                r["group"].as_str().unwrap().to_string(),
            );
            let b = boxes
                .entry(r["group"].as_str().unwrap().to_string())
                .or_insert((
                    r["order"].as_str().unwrap().to_string(),
                    ms(&r["scanned_at"]),
                    0,
                    0,
                ));
            b.1 = b.1.min(ms(&r["scanned_at"]));
        }
    }
    for r in &log {
        if r["kind"] == "clip_sealed" {
            let b = boxes
                .get_mut(&group_of[&r["clip"].as_u64().unwrap()])
                .unwrap();
            b.2 = b.2.max(ms(&r["ended_at"]));
            b.3 += r["size"].as_u64().unwrap();
        }
    }
    let orders: BTreeSet<&str> = boxes.values().map(|b| b.0.as_str()).collect();
    let mut packing: Vec<i64> = boxes.values().map(|b| b.2 - b.1).collect();
    packing.sort_unstable();
    let median = packing[packing.len().div_ceil(2) - 1] as f64 / 1000.0;

    let s = stats_json(&dir, &["--since", "2000-01-01"]);
    let rows = s["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{s}");
    let row = &rows[0];
    assert_eq!(row["station"], "station-1");
    assert_eq!(row["orders"], orders.len() as u64, "{s}");
    assert_eq!(row["boxes"], boxes.len() as u64, "{s}");
    assert_eq!(
        row["bytes"],
        boxes.values().map(|b| b.3).sum::<u64>(),
        "{s}"
    );
    assert_eq!(row["not_sealed"], 0);
    assert_eq!(
        row["test_pattern"],
        boxes.len() as u64,
        "the demo records a test pattern"
    );
    let got = row["packing_median_s"].as_f64().unwrap();
    assert!(
        (got - median).abs() < 0.002,
        "median {got} against {median}"
    );
    // A range before the recording has nothing; CSV has a header and one line a row.
    assert_eq!(
        stats_json(&dir, &["--since", "2000-01-01", "--until", "2000-01-02"])["rows"],
        serde_json::json!([])
    );
    // The page: the same numbers, in the page's language.
    let (_server, addr) = serve(&dir, None);
    let en = http(&addr, "GET", "/stats?from=2000-01-01", &[], b"");
    assert_eq!(en.status, 200, "{}", en.text());
    let page = en.text();
    assert!(
        page.contains("<table id=\"stats\">") && page.contains("station-1"),
        "{page}"
    );
    assert!(
        page.contains(&format!("<td class=\"n\">{}</td>", orders.len())),
        "{page}"
    );
    let zh = http(&addr, "GET", "/stats?from=2000-01-01&lang=zh", &[], b"").text();
    assert!(zh.contains("统计") && zh.contains("打包员"), "{zh}");
    let csv = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "stats",
        "--since",
        "2000-01-01",
        "--csv",
    ]);
    let text = stdout(&csv);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.starts_with("day,station,packer,orders,boxes,no_video"),
        "{text}"
    );
}

#[test]
fn an_order_scanned_while_no_camera_records_is_counted_with_why() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let mut station = spawn_without_camera(&dir);
    station.scan("SO-1003-NV");
    station.wait_record(&dir, "the order without video", |r| {
        r["kind"] == "no_video" && r["order"] == "SO-1003-NV"
    });
    let _ = station.finish();
    let s = stats_json(&dir, &[]);
    let row = &s["rows"][0];
    assert_eq!(row["no_video"], 1, "{s}");
    assert_eq!(row["orders"], 0, "{s}");
    let nv = &s["no_video"][0];
    assert_eq!(nv["order"], "SO-1003-NV");
    // The app finds it as it is typed, marked NO VIDEO; its search says why, not "no clip".
    let (_server, addr) = serve(&dir, None);
    let sug = http(&addr, "GET", "/api/suggest?q=SO-1003", &[], b"").json();
    assert_eq!(sug["codes"], serde_json::json!(["SO-1003-NV"]), "{sug}");
    assert_eq!(sug["no_video"], serde_json::json!(["SO-1003-NV"]), "{sug}");
    let page = http(&addr, "GET", "/?q=SO-1003-NV", &[], b"").text();
    assert!(
        page.contains("NO VIDEO") && !page.contains("No clip for this search"),
        "{page}"
    );
    assert!(
        nv["why"].as_str().unwrap().contains("lost")
            && nv["why"].as_str().unwrap().contains("plug the camera in"),
        "{s}"
    );
}
