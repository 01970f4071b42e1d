//! Lookup beyond one exact code: prefixes, time ranges, station and operator filters, and an
//! index left by an older version.

mod common;
use common::*;

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
