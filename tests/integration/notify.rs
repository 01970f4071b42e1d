//! Webhooks (`[[notify]]`): a receiver started by the test gets one signed POST per sealed
//! clip and per order without video, in the log's order; a refusal is sent again before any
//! later event; a restart resumes after the last event delivered.

use crate::common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

/// A request the receiver got: its headers (lowercase names) and body.
#[derive(Debug, Clone)]
struct Got {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// An HTTP receiver on a free port: answers 500 to the first `refuse` requests, 200 after.
fn receiver(refuse: usize) -> (u16, Arc<Mutex<Vec<Got>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut s) = conn else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            r.read_line(&mut line).unwrap_or(0);
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap_or(());
            let status = if n < refuse { "500 Busy" } else { "200 OK" };
            g.lock().unwrap().push(Got { headers, body });
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (port, got)
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    packwitness::notify::signature(secret, body)
}

#[test]
fn sealed_clips_and_orders_without_video_are_posted_signed_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let (port, got) = receiver(1);
    let secret = "a-shared-secret-0123";
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(
        &cfg,
        format!("[station]\npre_roll_s = 0.5\npost_roll_s = 0.5\n\n[[notify]]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"{secret}\"\n"),
    )
    .unwrap();
    let args = |_: ()| {
        vec![
            "--config".to_string(),
            cfg.display().to_string(),
            "--data-dir".to_string(),
            dir.display().to_string(),
            "run".to_string(),
            "--source".to_string(),
            "lavfi:testsrc2=size=320x240:rate=15".to_string(),
            "--scanner".to_string(),
            "stdin".to_string(),
        ]
    };
    let a = args(());
    let mut station = spawn_station(&a.iter().map(String::as_str).collect::<Vec<_>>());
    station.wait_record(&dir, "the station's start", |r| {
        r["kind"] == "station_start"
    });
    wait_camera_frames(&dir, 15);
    for order in ["SO-1001-HOOK", "SO-1002-HOOK"] {
        station.scan(order);
        station.wait_record(&dir, "the clip", |r| {
            r["kind"] == "clip_opened" && r["order"] == order
        });
        packing(300);
    }
    station.scan("PW-STOP");
    station.wait_record(&dir, "the second seal", |r| {
        r["kind"] == "clip_sealed" && r["order"] == "SO-1002-HOOK"
    });
    // The first delivery was refused and sent again: three requests for two events.
    wait_until("both events delivered", || got.lock().unwrap().len() >= 3);
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
    let all = got.lock().unwrap().clone();
    assert_eq!(
        all[0].body, all[1].body,
        "the refused event is sent again first"
    );
    let orders: Vec<String> = all[1..]
        .iter()
        .map(|g| g.json()["order"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(orders, ["SO-1001-HOOK", "SO-1002-HOOK"]);
    let sealed = manifest(&dir)
        .into_iter()
        .filter(|r| r["kind"] == "clip_sealed")
        .collect::<Vec<_>>();
    for (g, rec) in all[1..].iter().zip(&sealed) {
        let j = g.json();
        assert_eq!(j["event"], "sealed");
        assert_eq!(j["sha256"], rec["sha256"]);
        assert_eq!(j["line"], rec["seq"]);
        assert_eq!(g.header("x-packwitness-event"), "sealed");
        assert_eq!(g.header("x-packwitness-delivery"), rec["seq"].to_string());
        assert_eq!(
            g.header("x-packwitness-signature"),
            hmac_hex(secret, &g.body)
        );
    }

    // Restarted: nothing is sent twice; the next event follows.
    let mut station = spawn_station(&a.iter().map(String::as_str).collect::<Vec<_>>());
    station.wait_record(&dir, "the second start", |r| {
        r["kind"] == "station_start" && r["seq"].as_u64() > sealed.last().unwrap()["seq"].as_u64()
    });
    wait_camera_frames(&dir, 15);
    station.scan("SO-1003-HOOK");
    station.wait_record(&dir, "the third clip", |r| {
        r["kind"] == "clip_opened" && r["order"] == "SO-1003-HOOK"
    });
    packing(300);
    station.scan("PW-STOP");
    wait_until("the third event", || got.lock().unwrap().len() >= 4);
    let out = station.finish();
    assert!(out.status.success(), "{}", show(&out));
    let all = got.lock().unwrap().clone();
    assert_eq!(
        all.len(),
        4,
        "{:?}",
        all.iter().map(Got::json).collect::<Vec<_>>()
    );
    assert_eq!(all[3].json()["order"], "SO-1003-HOOK");
}

#[test]
fn an_order_without_video_is_posted_with_why_and_a_hook_that_cannot_work_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    let (port, got) = receiver(0);
    let cfg = tmp.path().join("pw.toml");
    let hook = |extra: &str| {
        format!("[[notify]]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"a-shared-secret-0123\"\nevents = [\"no_video\"]\n{extra}")
    };
    let run_args = [
        "--config",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "run",
        "--source",
        MISSING_CAMERA,
        "--scanner",
        "stdin",
    ];
    // Refused at start, each saying what to change.
    for (text, says) in [
        (
            hook("").replace("a-shared-secret-0123", "short"),
            "secret is shorter",
        ),
        (hook("").replace("127.0.0.1", "192.0.2.1"), "plain http://"),
        (
            hook("").replace("[\"no_video\"]", "[\"shipped\"]"),
            "not one of sealed, no_video",
        ),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let out = run(&run_args);
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        assert!(stderr(&out).contains(says), "{says}: {}", show(&out));
    }
    // A second hook whose receiver is gone: its failure is in the status.
    let gone = crate::rtsp::free_port();
    std::fs::write(
        &cfg,
        hook(&format!(
            "[[notify]]\nurl = \"http://127.0.0.1:{gone}/\"\nsecret = \"another-secret-0123\"\n"
        )),
    )
    .unwrap();
    let mut station = spawn_without_camera_configured(&dir, &cfg);
    station.scan("SO-1004-NV");
    wait_until("the event", || !got.lock().unwrap().is_empty());
    wait_until("the gone receiver's failure in the status", || {
        let (_, st) = status_json(&dir);
        st["notify"][1]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot reach"))
            && st["notify"][0]["delivered_line"].is_u64()
    });
    let _ = station.finish();
    let all = got.lock().unwrap().clone();
    assert_eq!(all.len(), 1);
    let j = all[0].json();
    assert_eq!(j["event"], "no_video");
    assert_eq!(j["order"], "SO-1004-NV");
    assert!(
        j["why"].as_str().unwrap().contains("plug the camera in"),
        "{j}"
    );
    assert_eq!(
        all[0].header("x-packwitness-signature"),
        hmac_hex("a-shared-secret-0123", &all[0].body)
    );
}

#[test]
fn alarms_are_posted_when_raised_from_a_queue_that_survives_the_receiver_being_away() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    // The receiver refuses the first two: the alarm waits in its queue and comes again.
    let (port, got) = receiver(2);
    let cfg = tmp.path().join("pw.toml");
    std::fs::write(
        &cfg,
        format!("[[notify]]\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"a-shared-secret-0123\"\nevents = [\"alarm\"]\n"),
    )
    .unwrap();
    let mut station = spawn_without_camera_configured(&dir, &cfg);
    wait_until("the camera_lost alarm delivered", || {
        got.lock()
            .unwrap()
            .iter()
            .skip(2)
            .any(|g| g.json()["alarm"] == "camera_lost")
    });
    let all = got.lock().unwrap().clone();
    // The two refused tries were the same event as the one delivered.
    let first = all
        .iter()
        .position(|g| g.json()["alarm"] == "camera_lost")
        .unwrap();
    let delivered = all
        .iter()
        .skip(2)
        .find(|g| g.json()["alarm"] == "camera_lost")
        .unwrap();
    assert_eq!(all[first].body, delivered.body);
    assert_eq!(
        all[first].header("x-packwitness-delivery"),
        delivered.header("x-packwitness-delivery")
    );
    let j = delivered.json();
    assert_eq!(j["event"], "alarm");
    assert_eq!(j["state"], "raised");
    assert_eq!(j["station"], "station-1");
    assert!(j["reason"].as_str().unwrap_or("").len() > 10, "{j}");
    assert_eq!(delivered.header("x-packwitness-event"), "alarm");
    assert_eq!(
        delivered.header("x-packwitness-signature"),
        hmac_hex("a-shared-secret-0123", &delivered.body)
    );
    // No sealed or no_video events to a hook that asked for alarms only.
    assert!(all.iter().all(|g| g.json()["event"] == "alarm"));
    let _ = station.finish();
    // Delivered events leave the queue.
    let queues: Vec<_> = std::fs::read_dir(dir.join("notify"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "alarms"))
        .collect();
    assert_eq!(queues.len(), 1);
    let waiting = std::fs::read_dir(queues[0].path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let p = e.path();
            let delivered_already = all.iter().skip(2).any(|g| {
                g.header("x-packwitness-delivery")
                    == format!("alarm-{}", p.file_stem().unwrap().to_string_lossy())
            });
            delivered_already
        })
        .count();
    assert_eq!(waiting, 0, "a delivered alarm is still queued");
}
