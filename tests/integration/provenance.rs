//! Provenance both ways, checked by an implementation we did not write: c2pa-python from
//! PyPI (`tests/c2pa_check.py`) reads and validates the content credentials packwitness signs
//! (a bundle's signed clip copy and stills, the MP4 for upload; ES256 and Ed25519 certificates
//! of a test CA, time-stamped by a real `openssl ts` TSA), and a changed byte breaks them;
//! `packwitness provenance` and the order page's dispute sheet read what a buyer's picture
//! declares: a C2PA AI source type signed by c2pa-python, a GB 45438-2025 label in XMP the
//! test writes, EXIF of a JPEG the test writes, and nothing for a plain picture.

use crate::anchor::{make_tsa, sh, Tsa};
use crate::common::*;
use crate::rtsp::free_port;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A test CA and a signing certificate it issued (`es256` or `ed25519`), with the extensions
/// C2PA asks of a signer: (chain, key, ca).
pub(crate) fn make_signer(dir: &Path, alg: &str) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("ext.cnf"),
        "[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=emailProtection\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    )
    .unwrap();
    let genkey = if alg == "ed25519" {
        "openssl genpkey -algorithm ED25519 -out leaf.key"
    } else {
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key"
    };
    sh(
        dir,
        &format!(
            "openssl ecparam -name prime256v1 -genkey -noout -out ca.key
             openssl req -x509 -new -key ca.key -sha256 -days 30 -subj '/CN=packwitness test signing CA/O=Test' \
               -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' -out ca.pem
             {genkey}
             openssl req -new -key leaf.key -subj '/CN=Test Shop {alg}/O=Test Shop' -out leaf.csr
             openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
               -extfile ext.cnf -extensions leaf -out leaf.pem 2>/dev/null
             cat leaf.pem ca.pem > chain.pem"
        ),
    );
    (
        dir.join("chain.pem"),
        dir.join("leaf.key"),
        dir.join("ca.pem"),
    )
}

/// c2pa-python's reading of `files`, trusting the certificates of `trust`.
fn c2pa_python(trust: &Path, files: &[&Path]) -> Vec<serde_json::Value> {
    let o = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c2pa_check.py"))
        .arg("read")
        .arg(trust)
        .args(files)
        .output()
        .unwrap();
    assert!(o.status.success(), "c2pa-python:\n{}", show(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn flipped(src: &Path, dst: &Path) -> PathBuf {
    let mut b = std::fs::read(src).unwrap();
    let at = b.len() * 2 / 3;
    b[at] ^= 0x01;
    std::fs::write(dst, b).unwrap();
    dst.to_owned()
}

fn sha256(path: &Path) -> String {
    packwitness::digest::sha256_file(path).unwrap().0
}

#[test]
fn content_credentials_hold_for_c2pa_python_and_break_on_a_changed_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let dir = demo_copy(t);
    let key = station_key(&dir);
    let (chain, leaf, ca) = make_signer(&t.join("es"), "es256");
    let (chain_ed, leaf_ed, ca_ed) = make_signer(&t.join("ed"), "ed25519");
    let tsa_cfg = make_tsa(&t.join("tsa"));
    let port = free_port();
    let _tsa = Tsa::start(port, &tsa_cfg, &t.join("tsa"));
    let trust = t.join("trust.pem");
    let anchors = [&ca, &ca_ed, &t.join("tsa/ca.pem")]
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<String>();
    std::fs::write(&trust, anchors).unwrap();
    let config = |name: &str, chain: &Path, leaf: &Path| {
        let cfg = t.join(name);
        std::fs::write(
            &cfg,
            format!(
                "[anchor]\ntsa = [\"http://127.0.0.1:{port}/\"]\ntsa_ca = {:?}\n[c2pa]\ncert = {:?}\nkey = {:?}\n",
                t.join("tsa/ca.pem"),
                chain,
                leaf
            ),
        )
        .unwrap();
        cfg
    };
    let es = config("es.toml", &chain, &leaf);
    let ed = config("ed.toml", &chain_ed, &leaf_ed);
    let pw = |cfg: &Path, args: &[&str]| {
        let mut all = vec![
            "--config",
            cfg.to_str().unwrap(),
            "--data-dir",
            dir.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        let out = run(&all);
        assert!(out.status.success(), "{args:?}\n{}", show(&out));
        out
    };
    let zip = t.join("b.zip");
    pw(&es, &["export", "DEMO-0001", "-o", zip.to_str().unwrap()]);
    let up = t.join("up.mp4");
    pw(&es, &["export", "DEMO-0002", "--mp4", up.to_str().unwrap()]);
    let zip_ed = t.join("ed.zip");
    pw(
        &ed,
        &["export", "DEMO-0003", "-o", zip_ed.to_str().unwrap()],
    );

    // packwitness's own checker: every credential intact, trusted, agreeing with the seal.
    let v = run(&[
        "verify-bundle",
        zip.to_str().unwrap(),
        "--key",
        &key,
        "--c2pa-trust",
        trust.to_str().unwrap(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&v)).unwrap();
    assert!(
        report["report"]["problems"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    let lines = report["report"]["credentials"].as_array().unwrap();
    assert_eq!(lines.len(), 3, "{report:#}");
    for l in lines {
        let l = l.as_str().unwrap();
        assert!(
            l.contains("intact") && l.contains("signer the certificates given trust"),
            "{l}"
        );
        assert!(l.contains("time-stamped"), "{l}");
    }

    // c2pa-python: the signed copy, both stills and the MP4 for upload are trusted.
    let u = t.join("u");
    unzip_to(&zip, &u);
    let ev: serde_json::Value =
        serde_json::from_slice(&std::fs::read(u.join("evidence.json")).unwrap()).unwrap();
    let clip = &ev["clips"][0];
    let original = u.join(clip["file"].as_str().unwrap());
    let copy = u.join(clip["signed_copy"].as_str().unwrap());
    let stills = [
        u.join(clip["still_start"].as_str().unwrap()),
        u.join(clip["still_end"].as_str().unwrap()),
    ];
    assert_eq!(
        clip["sha256"].as_str().unwrap(),
        sha256(&original),
        "the sealed clip is untouched"
    );
    let u_ed = t.join("u-ed");
    unzip_to(&zip_ed, &u_ed);
    let ev_ed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(u_ed.join("evidence.json")).unwrap()).unwrap();
    let copy_ed = u_ed.join(ev_ed["clips"][0]["signed_copy"].as_str().unwrap());
    let read = c2pa_python(
        &trust,
        &[&copy, &stills[0], &stills[1], &up, &copy_ed, &original],
    );
    for r in &read[..5] {
        assert_eq!(r["state"], "Trusted", "{r:#}");
        assert!(r["codes"].as_array().unwrap().is_empty(), "{r:#}");
        assert!(r["time"].is_string(), "time-stamped by the TSA: {r:#}");
        assert_eq!(r["actions"][0], "c2pa.created", "{r:#}");
        assert_eq!(r["evidence"]["version"], 1, "{r:#}");
    }
    assert_eq!(read[0]["signer"], "Test Shop es256");
    assert_eq!(read[4]["signer"], "Test Shop ed25519");
    assert_eq!(read[0]["evidence"]["what"], "clip");
    assert_eq!(read[0]["evidence"]["sealed_sha256"], clip["sha256"]);
    assert_eq!(read[0]["evidence"]["order"], "DEMO-0001");
    assert_eq!(read[1]["evidence"]["what"], "still-start");
    assert_eq!(read[2]["evidence"]["what"], "still-end");
    let sealed_record = clip["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "clip_sealed")
        .unwrap();
    let cited = read[0]["evidence"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "clip_sealed")
        .unwrap();
    assert_eq!(cited["record"], sealed_record["record"]);
    assert_eq!(cited["proof"], sealed_record["proof"]);
    assert!(read[0]["evidence"]["checkpoint"]
        .as_str()
        .unwrap()
        .contains("packwitness"));
    // The MP4 for upload: the sealed clip as its ingredient, placed, trimmed, re-encoded.
    assert_eq!(read[3]["evidence"]["what"], "upload_mp4");
    assert_eq!(
        read[3]["actions"],
        serde_json::json!([
            "c2pa.created",
            "c2pa.placed",
            "c2pa.edited",
            "c2pa.transcoded"
        ])
    );
    assert_eq!(read[3]["ingredients"].as_array().unwrap().len(), 1);
    let upload_rec = manifest(&dir)
        .into_iter()
        .rfind(|r| r["kind"] == "access" && r["action"] == "upload_mp4")
        .unwrap();
    assert_eq!(
        upload_rec["derived"]["sha256"].as_str().unwrap(),
        sha256(&up),
        "the record names the signed file's SHA-256"
    );
    assert_eq!(
        read[3]["evidence"]["clips"][0]["sealed_sha256"],
        upload_rec["derived"]["sources"][0]["sha256"]
    );
    // The sealed original carries none.
    assert!(read[5]["state"].is_null(), "{:#}", read[5]);

    // A key that is not the certificate's: doctor says so (an export would go without).
    let wrong = config("wrong.toml", &chain, &leaf_ed);
    let d = run(&[
        "--config",
        wrong.to_str().unwrap(),
        "doctor",
        "--probe-s",
        "0.5",
    ]);
    assert!(
        stdout(&d).contains("FAIL     content credentials")
            && stdout(&d).contains("is the key the certificate's"),
        "{}",
        show(&d)
    );

    // ... and the MP4 for upload is still made, claiming nothing: no credentials in it.
    let plain_up = t.join("plain-up.mp4");
    pw(
        &wrong,
        &["export", "DEMO-0003", "--mp4", plain_up.to_str().unwrap()],
    );
    assert_eq!(provenance(&plain_up)["c2pa"]["present"], false);

    // A changed byte: c2pa-python and packwitness say so.
    let bad: Vec<PathBuf> = [&copy, &stills[1], &up]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ext = p.extension().unwrap().to_str().unwrap().to_string();
            flipped(p, &t.join(format!("bad{i}.{ext}")))
        })
        .collect();
    let refs: Vec<&Path> = bad.iter().map(|p| p.as_path()).collect();
    for r in c2pa_python(&trust, &refs) {
        assert_eq!(r["state"], "Invalid", "{r:#}");
        assert!(!r["codes"].as_array().unwrap().is_empty(), "{r:#}");
    }
    for b in &bad {
        let o = run(&["provenance", b.to_str().unwrap(), "--json"]);
        assert!(o.status.success(), "{}", show(&o));
        let j: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(j["c2pa"]["state"], "Invalid", "{j:#}");
        assert!(stdout(&run(&["provenance", b.to_str().unwrap()])).contains("INVALID"));
    }
}

/// `plain` with an APP1 segment inserted after its SOI.
fn with_app1(plain: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&plain[2..]);
    out
}

/// An EXIF block (little-endian TIFF): Make, Model, Software in IFD0; DateTimeOriginal in the
/// Exif IFD. Every value is longer than four bytes, so each lives in the data area.
fn exif(make: &str, model: &str, software: &str, taken: &str) -> Vec<u8> {
    let ifd0 = [(0x010fu16, make), (0x0110, model), (0x0131, software)];
    let sub = [(0x9003u16, taken)];
    let exif_at = 8 + 2 + 12 * (ifd0.len() + 1) + 4;
    let data_at = exif_at + 2 + 12 * sub.len() + 4;
    let (mut head, mut data) = (b"II\x2a\x00\x08\x00\x00\x00".to_vec(), Vec::new());
    let mut entry = |head: &mut Vec<u8>, tag: u16, s: &str| {
        head.extend_from_slice(&tag.to_le_bytes());
        head.extend_from_slice(&2u16.to_le_bytes());
        head.extend_from_slice(&((s.len() + 1) as u32).to_le_bytes());
        head.extend_from_slice(&((data_at + data.len()) as u32).to_le_bytes());
        data.extend_from_slice(s.as_bytes());
        data.push(0);
        if data.len() % 2 == 1 {
            data.push(0);
        }
    };
    head.extend_from_slice(&((ifd0.len() + 1) as u16).to_le_bytes());
    for (tag, s) in ifd0 {
        entry(&mut head, tag, s);
    }
    head.extend_from_slice(&0x8769u16.to_le_bytes());
    head.extend_from_slice(&4u16.to_le_bytes());
    head.extend_from_slice(&1u32.to_le_bytes());
    head.extend_from_slice(&(exif_at as u32).to_le_bytes());
    head.extend_from_slice(&0u32.to_le_bytes());
    head.extend_from_slice(&(sub.len() as u16).to_le_bytes());
    for (tag, s) in sub {
        entry(&mut head, tag, s);
    }
    head.extend_from_slice(&0u32.to_le_bytes());
    head.extend_from_slice(&data);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&head);
    payload
}

const AIGC_XMP: &str = r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/"><TC260:AIGC>{"Label":"1","ContentProducer":"001191110108MA01TEST","ProduceID":"img-20261130-0042","ReservedCode1":"","ContentPropagator":"","PropagateID":"","ReservedCode2":""}</TC260:AIGC></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"#;

/// The buyer's pictures of the test: plain, C2PA-signed as AI by c2pa-python, AI-labelled in
/// XMP, with EXIF: their paths.
fn buyer_pictures(t: &Path) -> [PathBuf; 4] {
    let plain = t.join("plain.jpg");
    let o = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240",
            "-frames:v",
            "1",
            "-y",
        ])
        .arg(&plain)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let bytes = std::fs::read(&plain).unwrap();
    let (chain, leaf, _) = make_signer(&t.join("gen"), "es256");
    let ai = t.join("ai.jpg");
    let o = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c2pa_check.py"))
        .arg("sign-ai")
        .args([&chain, &leaf, &plain, &ai])
        .output()
        .unwrap();
    assert!(o.status.success(), "c2pa-python sign:\n{}", show(&o));
    let labelled = t.join("labelled.jpg");
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp.extend_from_slice(AIGC_XMP.as_bytes());
    std::fs::write(&labelled, with_app1(&bytes, &xmp)).unwrap();
    let camera = t.join("camera.jpg");
    let e = exif(
        "TestCam Corp",
        "TC-100 Pro",
        "PhotoFix 9.1",
        "2026:11:30 10:15:00",
    );
    std::fs::write(&camera, with_app1(&bytes, &e)).unwrap();
    [plain, ai, labelled, camera]
}

fn provenance(path: &Path) -> serde_json::Value {
    let o = run(&["provenance", path.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", show(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn provenance_reads_what_a_buyers_picture_declares_and_finds_nothing_in_a_plain_one() {
    let tmp = tempfile::tempdir().unwrap();
    let [plain, ai, labelled, camera] = buyer_pictures(tmp.path());

    let p = provenance(&plain);
    assert_eq!(p["c2pa"]["present"], false, "{p:#}");
    assert!(
        p["aigc"].is_null() && p["exif"].is_null() && p["ai_declared"] == false,
        "{p:#}"
    );
    let says = p["says"].to_string();
    for s in [
        "No C2PA content credentials found",
        "No GB 45438-2025 AI label found",
        "No EXIF or video metadata naming a camera or a time found",
        "no AI-detection model was used",
        "未发现C2PA内容凭证",
    ] {
        assert!(says.contains(s), "{s}: {says}");
    }

    let a = provenance(&ai);
    assert_eq!(a["c2pa"]["present"], true, "{a:#}");
    assert_eq!(a["c2pa"]["ai_source"], true, "{a:#}");
    assert_eq!(a["ai_declared"], true);
    assert_eq!(
        a["c2pa"]["actions"][0]["digital_source_type"],
        "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    );
    assert!(
        a["software"].to_string().contains("Test Image Model 3"),
        "{a:#}"
    );
    let text = stdout(&run(&["provenance", ai.to_str().unwrap()]));
    assert!(
        text.contains("declare it made by a trained model (AI)"),
        "{text}"
    );

    let l = provenance(&labelled);
    assert_eq!(l["aigc"]["found_in"], "XMP", "{l:#}");
    assert_eq!(l["aigc"]["label"], "1");
    assert_eq!(l["aigc"]["producer"], "001191110108MA01TEST");
    assert_eq!(l["aigc"]["produce_id"], "img-20261130-0042");
    assert_eq!(l["ai_declared"], true);
    assert_eq!(l["c2pa"]["present"], false);

    // A phone's video: its container's tags name the camera and the time.
    let phone = tmp.path().join("phone.mov");
    let o = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=d=1:s=160x120",
            "-c:v",
            "libx264",
        ])
        .args([
            "-movflags",
            "use_metadata_tags",
            "-metadata",
            "com.apple.quicktime.make=Apple",
        ])
        .args(["-metadata", "com.apple.quicktime.model=iPhone 15"])
        .args(["-metadata", "creation_time=2026-11-30T10:15:00Z", "-y"])
        .arg(&phone)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let v = provenance(&phone);
    assert_eq!(v["exif"]["source"], "video metadata", "{v:#}");
    assert_eq!(v["exif"]["make"], "Apple");
    assert_eq!(v["exif"]["model"], "iPhone 15");
    assert_eq!(v["exif"]["taken"], "2026-11-30T10:15:00Z");
    assert!(
        v["software"][0].as_str().unwrap().starts_with("Lavf"),
        "the FFmpeg that wrote it: {v:#}"
    );

    let c = provenance(&camera);
    assert_eq!(c["exif"]["source"], "EXIF", "{c:#}");
    assert_eq!(c["exif"]["make"], "TestCam Corp", "{c:#}");
    assert_eq!(c["exif"]["model"], "TC-100 Pro");
    assert_eq!(c["exif"]["taken"], "2026:11:30 10:15:00");
    assert_eq!(c["software"][0], "PhotoFix 9.1");
    assert!(c["aigc"].is_null() && c["ai_declared"] == false);
}

#[test]
fn the_order_page_puts_a_buyers_picture_beside_the_proven_frames_on_a_dispute_sheet() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = demo_copy(tmp.path());
    let [_, _, labelled, _] = buyer_pictures(tmp.path());
    let (_server, addr) = serve(&dir, None);
    let page = http(&addr, "GET", "/order/DEMO-0001", &[], b"").text();
    assert!(
        page.contains("/order/DEMO-0001/dispute"),
        "the panel is on the order page"
    );
    let picture = std::fs::read(&labelled).unwrap();
    let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"buyer.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n".to_vec();
    body.extend_from_slice(&picture);
    body.extend_from_slice(
        b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"download\"\r\n\r\n1\r\n--XyZ--\r\n",
    );
    let r = http(
        &addr,
        "POST",
        "/order/DEMO-0001/dispute",
        &[
            ("Content-Type", "multipart/form-data; boundary=XyZ"),
            ("Accept-Language", "en"),
        ],
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("content-disposition")
        .is_some_and(|d| d.contains("DEMO-0001-dispute-sheet.html")));
    let sheet = r.text();
    assert!(
        sheet.contains("GB 45438-2025 AI label in XMP: Label 1"),
        "{sheet}"
    );
    assert!(sheet.contains("no AI-detection model was used"));
    assert_eq!(
        sheet.matches("src=\"data:image/jpeg;base64,").count(),
        3,
        "the buyer's picture and two proven frames"
    );
    assert!(
        sealed(&dir)
            .iter()
            .any(|s| sheet.contains(s["sha256"].as_str().unwrap())),
        "the sheet names the sealed clip it compares with"
    );
    assert!(!sheet.contains("<script"), "the sheet runs nothing");
    // The frames it shows are a viewing of the clip, recorded.
    assert!(
        manifest(&dir)
            .iter()
            .any(|r| r["kind"] == "access" && r["action"] == "view" && r["to"] == "dispute sheet"),
        "a view recorded for the sheet"
    );
    // Nothing of the buyer's file is kept at the station.
    let found = Command::new("grep")
        .args(["-rl", "001191110108MA01TEST"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(stdout(&found).trim().is_empty(), "{}", stdout(&found));
}
