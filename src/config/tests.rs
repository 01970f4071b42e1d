//! The config file's shapes, defaults and checks.

use super::*;

#[test]
fn empty_file_gives_defaults() {
    let c = Config::parse("", Path::new("x.toml")).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.stations[0].cameras[0].source, "testsrc");
}

#[test]
fn shipped_example_parses() {
    let text = include_str!("../../config/packwitness.toml");
    let mut c = Config::parse(text, Path::new("config/packwitness.toml")).unwrap();
    // It documents the defaults: it must say what the program does without it. Its camera is
    // written out (the test pattern, to be replaced), so it is not the refused default.
    assert!(!c.stations[0].default_camera);
    c.stations[0].default_camera = true;
    assert_eq!(c, Config::default());
}

#[test]
fn a_config_without_cameras_has_only_the_default_test_pattern() {
    for text in ["", "[station]\nid = \"s1\"\n"] {
        let c = Config::parse(text, Path::new("x.toml")).unwrap();
        assert!(c.stations[0].default_camera, "{text:?}");
    }
    for text in [
        "[[camera]]\nid = \"c\"\nsource = \"rtsp://cam/x\"\n",
        "[station]\nid = \"s1\"\n[[station.camera]]\nid = \"c\"\nsource = \"rtsp://cam/x\"\n",
    ] {
        let c = Config::parse(text, Path::new("x.toml")).unwrap();
        assert!(!c.stations[0].default_camera, "{text:?}");
    }
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let text = "[station]\nid = \"s1\"\nmax_clip = 3\n";
    let err = Config::parse(text, Path::new("/etc/pw.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/etc/pw.toml"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("max_clip"), "{err}");
}

#[test]
fn bad_ids_and_ranges_are_rejected() {
    for text in [
        "[station]\nid = \"a/b\"\n",
        "[station]\nid = \"\"\n",
        "[encode]\ncrf = 60\n",
        "[[camera]]\nid = \"c\"\n[[camera]]\nid = \"c\"\n",
    ] {
        assert!(Config::parse(text, Path::new("x")).is_err(), "{text}");
    }
}

const TWO: &str = r#"
[[station]]
id = "pack-1"
pre_roll_s = 1.0
[[station.scanner]]
id = "hand"
kind = "stdin"
[[station.camera]]
id = "top"
source = "lavfi:testsrc2=size=320x240:rate=10"
[[station.camera]]
id = "side"

[[station]]
id = "pack-2"
[[station.scanner]]
id = "hand"
kind = "evdev"
path = "/dev/input/event7"
[[station.camera]]
id = "top"
source = "rtsp://10.0.0.2/stream1"
"#;

#[test]
fn several_stations_each_with_cameras_and_scanners() {
    let c = Config::parse(TWO, Path::new("two.toml")).unwrap();
    assert_eq!(c.stations.len(), 2);
    let (a, b) = (&c.stations[0], &c.stations[1]);
    assert_eq!((a.id.as_str(), b.id.as_str()), ("pack-1", "pack-2"));
    assert_eq!(a.pre_roll_s, 1.0);
    assert_eq!(b.pre_roll_s, StationConfig::default().pre_roll_s);
    let cams = |s: &StationConfig| s.cameras.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(cams(a), ["top", "side"]);
    assert_eq!(cams(b), ["top"]);
    assert_eq!(a.cameras[1].source, "testsrc");
    assert_eq!(b.cameras[0].source, "rtsp://10.0.0.2/stream1");
    assert_eq!(b.scanners[0].kind, ScannerKind::Evdev);
    assert_eq!(c.first_station().id, "pack-1");
    assert_eq!(c.station("pack-2"), Some(b));
    // Line numbers survive the two-pass parse.
    let typo = TWO.replace("pre_roll_s = 1.0", "pre_rol_s = 1.0");
    let err = Config::parse(&typo, Path::new("two.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 4") && err.contains("pre_rol_s"), "{err}");
}

#[test]
fn shipped_two_station_example_parses() {
    let text = include_str!("../../config/two-stations.toml");
    let c = Config::parse(text, Path::new("config/two-stations.toml")).unwrap();
    let ids: Vec<&str> = c.stations.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["pack-1", "pack-2"]);
    assert_eq!(c.stations[0].cameras.len(), 2);
    assert_eq!(c.stations[1].scanners[0].kind, ScannerKind::Serial);
}

#[test]
fn one_station_cameras_may_be_nested_too() {
    let nested = "[station]\nid = \"s\"\n[[station.camera]]\nid = \"a\"\n";
    let c = Config::parse(nested, Path::new("x")).unwrap();
    assert_eq!(c.stations[0].cameras[0].id, "a");
    let both = "[[camera]]\nid = \"b\"\n[station]\nid = \"s\"\n[[station.camera]]\nid = \"a\"\n";
    let err = Config::parse(both, Path::new("x")).unwrap_err().to_string();
    assert!(err.contains("use one of the two"), "{err}");
}

#[test]
fn several_stations_misconfigured_are_explained() {
    let cases = [
        (TWO.replace("id = \"pack-2\"", "id = \"pack-1\""), "used twice"),
        (format!("{TWO}\n[[camera]]\nid = \"x\"\n"), "[[station.camera]]"),
        (TWO.replace("kind = \"evdev\"\npath = \"/dev/input/event7\"", "kind = \"stdin\""), "standard input"),
        (
            TWO.replace("[[station.scanner]]\nid = \"hand\"\nkind = \"evdev\"\npath = \"/dev/input/event7\"\n", ""),
            "no [[station.scanner]]",
        ),
        (
            TWO.replace("[[station.camera]]\nid = \"top\"\nsource = \"rtsp://10.0.0.2/stream1\"\n", ""),
            "has no camera",
        ),
        (TWO.replace("id = \"side\"", "id = \"top\""), "used twice in station"),
        (
            TWO.replace("kind = \"stdin\"", "kind = \"evdev\"\npath = \"/dev/input/event7\""),
            "is used twice (stations",
        ),
    ];
    for (text, want) in cases {
        let err = match Config::parse(&text, Path::new("two.toml")) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(want), "{want:?} not in {err}");
    }
}

/// `[alarm] strict` names warnings only; anything else is refused, naming what it can be.
#[test]
fn alarm_strict_names_only_warnings() {
    let ok = Config::parse(
        "[alarm]\nstrict = [\"clock_unsynchronised\"]\n",
        Path::new("x.toml"),
    )
    .unwrap();
    assert!(ok.alarm.is_problem("clock_unsynchronised"));
    let e = Config::parse("[alarm]\nstrict = [\"camera_lost\"]\n", Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("camera_lost") && e.contains("archive_lag"),
        "{e}"
    );
}

#[test]
fn feedback_lang_is_auto_en_or_zh_and_auto_follows_the_locale() {
    use super::FeedbackLang;
    let lang = |text: &str| Config::parse(text, Path::new("x.toml")).map(|c| c.feedback.lang);
    assert_eq!(lang("").unwrap(), FeedbackLang::Auto);
    assert_eq!(
        lang("[feedback]\nlang = \"zh-CN\"").unwrap(),
        FeedbackLang::Zh
    );
    assert_eq!(lang("[feedback]\nlang = \"zh\"").unwrap(), FeedbackLang::Zh);
    assert_eq!(lang("[feedback]\nlang = \"en\"").unwrap(), FeedbackLang::En);
    let bad = lang("[feedback]\nlang = \"fr\"").unwrap_err().to_string();
    assert!(bad.contains("auto") && bad.contains("zh-CN"), "{bad}");
    let zh = |v: &str| Some(v.to_string());
    assert!(FeedbackLang::Auto.chinese(&[None, None, zh("zh_CN.UTF-8")]));
    // LC_ALL first; an empty one is not set.
    assert!(!FeedbackLang::Auto.chinese(&[zh("C.UTF-8"), None, zh("zh_CN.UTF-8")]));
    assert!(FeedbackLang::Auto.chinese(&[zh(""), None, zh("zh_TW.UTF-8")]));
    assert!(!FeedbackLang::Auto.chinese(&[None, None, None]));
    assert!(!FeedbackLang::En.chinese(&[zh("zh_CN.UTF-8")]));
    assert!(FeedbackLang::Zh.chinese(&[]));
}
