//! Lookup beyond one exact code: prefixes, time ranges, station and operator filters, and an
//! index left by an older version.

use crate::common::*;

fn orders(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, Vec<String>) {
    let mut all = vec!["--data-dir", dir.to_str().unwrap(), "lookup", "--json"];
    all.extend_from_slice(args);
    let out = run(&all);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    let got = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["order"].as_str().unwrap().to_string())
        .collect();
    (out.status.code(), got)
}

#[test]
fn filters_combine() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let all = ["DEMO-0001", "DEMO-0002", "DEMO-0003"];
    assert_eq!(
        orders(&dir, &["--prefix", " demo-000"]),
        (Some(0), all.map(String::from).to_vec())
    );
    // `_` and `%` are literal characters, not wildcards.
    assert_eq!(orders(&dir, &["--prefix", "DEMO_"]).1, Vec::<String>::new());
    assert_eq!(orders(&dir, &["--prefix", "%"]).0, Some(1));
    // Time ranges, from the recorded scan times: [second scan, third scan) is the second clip.
    let scans: Vec<String> = manifest(&dir)
        .iter()
        .filter(|r| r["kind"] == "clip_opened")
        .map(|r| r["scanned_at"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        orders(&dir, &["--since", &scans[1], "--until", &scans[2]]).1,
        ["DEMO-0002"]
    );
    // A bare date: the whole local day.
    let day = chrono::DateTime::parse_from_rfc3339(&scans[0])
        .unwrap()
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d")
        .to_string();
    assert_eq!(orders(&dir, &["--since", &day, "--until", &day]).1.len(), 3);
    assert_eq!(orders(&dir, &["--until", "2001-01-01"]), (Some(1), vec![]));
    assert_eq!(
        orders(&dir, &["--station", "station-1", "--limit", "2"])
            .1
            .len(),
        2
    );
    assert_eq!(orders(&dir, &["--station", "elsewhere"]).1.len(), 0);
    assert_eq!(orders(&dir, &["--operator", "nobody"]).1.len(), 0);
    let out = run(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "lookup",
        "--since",
        "last week",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not a date or time"),
        "{}",
        show(&out)
    );
    let out = run(&["--data-dir", dir.to_str().unwrap(), "lookup"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("needs a CODE"), "{}", show(&out));
}

#[test]
fn an_index_of_an_older_schema_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    for f in ["index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    // The shape of a schema-2 index: no box, hold or time columns.
    let conn = rusqlite::Connection::open(dir.join("index.sqlite3")).unwrap();
    conn.execute_batch(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO meta VALUES ('schema_version', '2');
         CREATE TABLE clips (opened_seq INTEGER PRIMARY KEY, order_code TEXT NOT NULL);
         INSERT INTO clips VALUES (1, 'STALE');",
    )
    .unwrap();
    drop(conn);
    assert_eq!(orders(&dir, &["DEMO-0002"]).1, ["DEMO-0002"]);
    assert_eq!(orders(&dir, &["STALE"]), (Some(1), vec![]));
}

#[test]
fn reindex_reports_disagreements_and_stops_before_dropping_half() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let d = dir.to_str().unwrap();
    // An index that drifted: a changed hash and a clip the manifest never had.
    let idx = dir.join("index.sqlite3");
    let conn = rusqlite::Connection::open(&idx).unwrap();
    conn.execute_batch(
        "UPDATE clips SET sha256 = 'beef' WHERE order_code = 'DEMO-0002';
         INSERT INTO clips(opened_seq, order_code, station, camera, clip_group, scanned_at, file, started_at, first_frame)
         VALUES (999, 'GHOST', 's', 'c', 'g', 't', 'f', 't', 0);",
    )
    .unwrap();
    drop(conn);
    let out = run(&["--data-dir", d, "reindex"]);
    assert!(out.status.success(), "{}", show(&out));
    let text = stdout(&out);
    assert!(text.contains("2 difference(s)"), "{text}");
    assert!(text.contains("(DEMO-0002) differs"), "{text}");
    assert!(
        text.contains("clip 999 (GHOST) is in the index but not in the manifest"),
        "{text}"
    );
    assert!(text.contains("records/s"), "{text}");
    let out = run(&["--data-dir", d, "reindex"]);
    assert!(
        stdout(&out).contains("agreed with the manifest"),
        "{}",
        show(&out)
    );

    // A manifest cut down to its first clip: the rebuilt index would drop two of three clips.
    let m = std::fs::read_to_string(dir.join("manifest.jsonl")).unwrap();
    let lines: Vec<&str> = m.lines().collect();
    let first_sealed = lines
        .iter()
        .position(|l| l.contains("\"clip_sealed\""))
        .unwrap();
    let cut: String = lines[..=first_sealed]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("manifest.jsonl"), cut).unwrap();
    let out = run(&["--data-dir", d, "reindex"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(stderr(&out).contains("fewer than half"), "{}", show(&out));
    let conn = rusqlite::Connection::open(&idx).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM clips", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3, "the index was left alone");
    drop(conn);
    let out = run(&["--data-dir", d, "reindex", "--force"]);
    assert!(out.status.success(), "{}", show(&out));
    let conn = rusqlite::Connection::open(&idx).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM clips", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn full_width_input_and_inner_spaces_find_the_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let d = dir.to_str().unwrap();
    // What a Chinese keyboard types, and a code copied with a space in it.
    for asked in ["ＤＥＭＯ－０００１", "demo -00 01", "DEMO\u{3000}-0001"] {
        let out = run(&["--data-dir", d, "lookup", asked, "--json"]);
        assert!(out.status.success(), "{asked}: {}", show(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v[0]["order"], "DEMO-0001", "{asked}: {v}");
    }
}
