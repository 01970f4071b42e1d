//! A bundle from the archive alone (`packwitness archive export`): a station with a real TSA
//! and a witness pushes into the archive and its disk is then lost; the archive's bundle of an
//! order verifies with the station's key, the TSA's CA, the witness and the archive's key
//! (verify-bundle and verify.sh) with the same statement as the station's own bundle made
//! before the loss; without the archive's key it is not verified, and a changed clip fails.

use crate::archive::{
    anchored_station, archive_cmd, evidence_servers, notes_under, pack, record, start_archive,
};
use crate::common::*;
use std::path::Path;

pub(crate) fn verify_bundle(zip: &Path, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut all = vec!["verify-bundle", zip.to_str().unwrap(), "--json"];
    all.extend(args);
    let out = run(&all);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    (out.status.code(), v)
}

fn verify_sh(dir: &Path, tsa_ca: &Path, keys: &[&str]) -> std::process::Output {
    std::process::Command::new("bash")
        .arg("verify.sh")
        .args(keys)
        .env("TSA_CA", tsa_ca)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
#[ignore = "slow tier: PostgreSQL, SeaweedFS, a TSA and a witness; run with `cargo test --test integration -- --ignored --test-threads=1`"]
fn an_order_is_exported_from_the_archive_alone_once_the_station_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let (pg, _sw, port, cfg) = evidence_servers(tmp.path());
    let archive_dir = tmp.path().join("archive");
    let (_node, archive_key) = start_archive(&cfg, &archive_dir);
    let anchored = anchored_station(tmp.path(), port, &cfg, &archive_key);
    let (d, c, ca, w_key) = (
        anchored.dir.clone(),
        anchored.cfg.clone(),
        anchored.ca.clone(),
        anchored.w_key.clone(),
    );
    let st_key = station_key(&d);
    let mut st = record(&c, &d);
    // E-1 gets a waybill; the order is found by it at the archive too.
    st.scan("E-1");
    st.scan("SF1234567890123");
    st.wait_record(&d, "the waybill attached", |r| r["kind"] == "code_attached");
    pack(&mut st, &d, &["E-2"]);
    let last_seal = sealed(&d)
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .max()
        .unwrap();
    st.wait_record(&d, "a TSA's stamp of the last seal", |r| {
        r["kind"] == "anchored" && r["size"].as_u64().is_some_and(|s| s >= last_seal)
    });
    wait_until("a witness's cosignature", || {
        !notes_under(&d.join("anchors/witness")).is_empty()
    });
    st.finish();
    // The station's own commands, on its config and data dir.
    let at_station = |args: &[&str]| {
        let mut all = vec![
            "--config",
            c.to_str().unwrap(),
            "--data-dir",
            d.to_str().unwrap(),
        ];
        all.extend(args);
        let out = run(&all);
        assert!(out.status.success(), "{}", show(&out));
        out
    };
    // An MP4 made for a platform's upload form: its record goes to the archive with the log.
    let mp4 = tmp.path().join("upload.mp4");
    at_station(&["export", "E-1", "--mp4", mp4.to_str().unwrap()]);
    let out = at_station(&["archive", "push"]);
    assert!(
        out.status.success() && stdout(&out).contains("0 clip(s) and 0 anchor(s) still missing"),
        "{}",
        show(&out)
    );

    // The station's own bundle, while it still has its disk.
    let station_zip = tmp.path().join("station.zip");
    at_station(&[
        "export",
        "SF1234567890123",
        "-o",
        station_zip.to_str().unwrap(),
    ]);
    let trust = [
        "--key",
        st_key.as_str(),
        "--tsa-ca",
        ca.to_str().unwrap(),
        "--witness",
        w_key.as_str(),
    ];
    let (code, station_v) = verify_bundle(&station_zip, &trust);
    assert_eq!(code, Some(0), "{station_v}");

    // The disk is gone.
    std::fs::remove_dir_all(&d).unwrap();

    // Customer service finds the order at the archive by its waybill; an agent limited to
    // another station does not, and no token gets nothing.
    let agent = |args: &[&str]| {
        let mut all = vec!["add-agent"];
        all.extend(args);
        let out = archive_cmd(&cfg, &all).output().unwrap();
        assert!(out.status.success(), "{}", show(&out));
        stdout(&out).lines().last().unwrap().trim().to_string()
    };
    let (cs_token, other_token) = (agent(&["cs"]), agent(&["outsider", "--stations", "other"]));
    let addr = format!("127.0.0.1:{port}");
    // GET `path` as the agent of `token`.
    let ask = |token: &str, path: &str| {
        let auth = format!("Bearer {token}");
        http(&addr, "GET", path, &[("Authorization", &auth)], b"")
    };
    let find = |token: &str| ask(token, "/v1/find/SF1234567890123");
    let r = find(&cs_token);
    assert_eq!(r.status, 200, "{}", r.text());
    let found: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found[0]["order"], "E-1", "{found}");
    assert_eq!(found[0]["station"], "st", "{found}");
    assert_eq!(found[0]["archived"], true, "{found}");
    let r = find(&other_token);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text().trim(), "[]");
    assert_eq!(find("pwg1_nobody").status, 401);
    let r = ask(&cs_token, "/v1/suggest?prefix=E-");
    assert_eq!(r.text().trim(), r#"["E-1","E-2"]"#, "{}", r.text());
    let today = chrono::Utc::now().date_naive();
    let r = ask(&cs_token, &format!("/v1/stats?day={today}"));
    let counts: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(counts[0]["station"], "st", "{counts}");
    assert_eq!(counts[0]["orders"], 2, "{counts}");
    // The board of every station's log: what it pushed, its last seal, what is missing.
    let r = ask(&cs_token, "/v1/board");
    assert_eq!(r.status, 200, "{}", r.text());
    let board: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(board.as_array().map(Vec::len), Some(1), "{board}");
    assert_eq!(board[0]["last_station"], "st", "{board}");
    assert_eq!(board[0]["clips_today"], 2, "{board}");
    assert_eq!(board[0]["clips_pending"], 0, "{board}");
    assert!(board[0]["lines"].as_u64().is_some_and(|l| l > 5), "{board}");
    assert!(board[0]["pushed_at"].is_string(), "{board}");
    let r = ask(&other_token, "/v1/board");
    assert_eq!(
        r.status,
        403,
        "an agent limited to some stations: {}",
        r.text()
    );

    // The archive signs content credentials into the bundle's stills and clip copies when its
    // config has [c2pa].
    let (chain, leaf, c2pa_ca) = crate::provenance::make_signer(&tmp.path().join("c2pa"), "es256");
    let cfg_c2pa = tmp.path().join("archive-c2pa.toml");
    std::fs::write(
        &cfg_c2pa,
        format!(
            "{}\n[c2pa]\ncert = {chain:?}\nkey = {leaf:?}\ntimestamp = false\n",
            std::fs::read_to_string(&cfg).unwrap()
        ),
    )
    .unwrap();
    let zip = tmp.path().join("from-archive.zip");
    let out = archive_cmd(
        &cfg_c2pa,
        &[
            "export",
            "SF1234567890123",
            "-o",
            zip.to_str().unwrap(),
            "--data-dir",
            archive_dir.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout(&out).contains("1 clip(s) of SF1234567890123"),
        "{}",
        show(&out)
    );
    // The export is recorded in the node's access log (beside the running node, taking turns
    // with it) and listed in the database's index of accesses, as the app's are.
    let exported = manifest(&archive_dir.join("access"))
        .into_iter()
        .filter(|r| r["kind"] == "access" && r["action"] == "export")
        .collect::<Vec<_>>();
    assert_eq!(exported.len(), 1, "{exported:?}");
    assert_eq!(exported[0]["code"], "SF1234567890123");
    assert_eq!(exported[0]["to"], "from-archive.zip");
    let rows = crate::archive::sql(
        &pg,
        "SELECT action, line FROM accesses WHERE code = 'SF1234567890123'",
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].get::<_, i64>(1) as u64,
        exported[0]["seq"].as_u64().unwrap()
    );
    let out = archive_cmd(
        &cfg,
        &[
            "export",
            "E-404",
            "-o",
            tmp.path().join("none.zip").to_str().unwrap(),
            "--data-dir",
            archive_dir.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stderr(&out).contains("the archive holds no clip of order \"E-404\""),
        "{}",
        show(&out)
    );

    // With the archive's key as well: verified, with the station bundle's statement.
    let mut all = trust.to_vec();
    all.extend(["--witness", archive_key.as_str()]);
    let (code, v) = verify_bundle(&zip, &all);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["verdict"], "VERIFIED", "{v}");
    let r = &v["report"];
    assert_eq!(r["clips_ok"], 1, "{v}");
    assert_eq!(r["statement"], station_v["report"]["statement"], "{v}");
    let (_, with_c2pa) = verify_bundle(
        &zip,
        &[&all[..], &["--c2pa-trust", c2pa_ca.to_str().unwrap()]].concat(),
    );
    let lines = with_c2pa["report"]["credentials"].as_array().unwrap();
    assert_eq!(lines.len(), 3, "a signed copy and two stills: {with_c2pa}");
    assert!(lines.iter().all(|l| l
        .as_str()
        .unwrap()
        .contains("signer the certificates given trust")));
    // The same records as the station's bundle, but the station's record of its own export:
    // the order's scans, the waybill attached to its clip, the MP4 made for upload.
    assert_eq!(
        r["records_proven"].as_u64().unwrap() + 1,
        station_v["report"]["records_proven"].as_u64().unwrap(),
        "{v}\n{station_v}"
    );
    assert_eq!(r["uploads"], station_v["report"]["uploads"], "{v}");
    assert_eq!(r["uploads"].as_array().map(Vec::len), Some(1), "{v}");
    assert!(
        r["statement"]
            .as_str()
            .is_some_and(|s| s.contains("RFC 3161 time-stamp")),
        "{v}"
    );
    assert!(
        r["made_at"]
            .as_str()
            .is_some_and(|m| m.contains("the key given")),
        "{v}"
    );
    let witnessed = r["witnessed"].to_string();
    let archive_name = archive_key.split('+').next().unwrap();
    assert!(
        witnessed.contains(archive_name) && witnessed.contains(w_key.split('+').next().unwrap()),
        "both the witness and the archive's receipt prove the seal: {v}"
    );

    // Without the archive's key: the list of clips rests on a key the bundle carries.
    let (code, v) = verify_bundle(&zip, &trust);
    assert_eq!(code, Some(4), "{v}");
    assert_eq!(v["verdict"], "NOT VERIFIED", "{v}");

    // verify.sh, with bash, coreutils and openssl only.
    let unzipped = tmp.path().join("unzipped");
    unzip_to(&zip, &unzipped);
    let out = verify_sh(&unzipped, &ca, &[&st_key, &w_key, &archive_key]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let said = stdout(&out);
    assert!(
        said.contains("VERIFIED: order SF1234567890123")
            && said.contains("made at the archive")
            && said.contains("MP4 for upload"),
        "{said}"
    );
    let out = verify_sh(&unzipped, &ca, &[&st_key, &w_key]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));

    // A clip changed after the archive made the bundle: both checkers fail it.
    let clip = std::fs::read_dir(unzipped.join("clips"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&clip).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&clip, bytes).unwrap();
    let out = verify_sh(&unzipped, &ca, &[&st_key, &w_key, &archive_key]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let forged = tmp.path().join("forged.zip");
    zip_dir(&unzipped, &forged);
    let (code, v) = verify_bundle(&forged, &all);
    assert_eq!(code, Some(3), "{v}");
}

/// Zips the files under `dir` (paths relative to it).
fn zip_dir(dir: &Path, to: &Path) {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::fs::File::create(to).unwrap());
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = path
                .strip_prefix(dir)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            z.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(&std::fs::read(&path).unwrap()).unwrap();
        }
    }
    z.finish().unwrap();
}
