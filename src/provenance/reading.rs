//! What a file someone else made declares about itself: its C2PA manifest, the implicit AI
//! label China's GB 45438-2025 requires in generated content's metadata, the EXIF camera and
//! time, and the software its metadata says edited it.
//!
//! The label: an `AIGC` property (in XMP, namespace `http://www.tc260.org.cn/ns/AIGC/1.0/`,
//! or a PNG text chunk or EXIF comment named so) holding JSON with `Label` ("1" generated, "2"
//! possibly generated, "3" suspected), `ContentProducer`, `ProduceID`, `ReservedCode1`,
//! `ContentPropagator`, `PropagateID`, `ReservedCode2`.

use std::path::Path;

use serde::Serialize;

use super::credentials::{self, CredentialReport};
use super::{file_err, ProvenanceError};

/// The GB 45438-2025 implicit label found in a file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AigcLabel {
    /// Where: `XMP`, `PNG text`, `EXIF`.
    pub found_in: String,
    /// `Label` as written, and what it means.
    pub label: String,
    pub meaning: String,
    pub producer: Option<String>,
    pub produce_id: Option<String>,
    pub propagator: Option<String>,
    pub propagate_id: Option<String>,
    /// The field's whole text.
    pub raw: String,
}

/// The fields that say which camera and when: EXIF of a picture, the container's tags of a
/// video (QuickTime and Android keys, `creation_time`, `encoder`).
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ExifRead {
    /// `EXIF` or `video metadata`.
    pub source: String,
    pub make: Option<String>,
    pub model: Option<String>,
    /// `DateTimeOriginal` (camera local time, as written), with `OffsetTimeOriginal` if any.
    pub taken: Option<String>,
    pub software: Option<String>,
}

/// The whole reading of one file.
#[derive(Debug, Clone, Serialize)]
pub struct Reading {
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub format: String,
    pub c2pa: CredentialReport,
    pub aigc: Option<AigcLabel>,
    pub exif: Option<ExifRead>,
    /// Software the metadata names as having made or edited it (EXIF Software, XMP
    /// CreatorTool and history agents, C2PA actions' agents).
    pub software: Vec<String>,
    /// Some metadata declares the file made or partly made by AI.
    pub ai_declared: bool,
    /// What was found, in plain sentences (English, then Chinese).
    pub says: Vec<(String, String)>,
}

/// The sentences every reading ends with.
pub const LIMITS: (&str, &str) = (
    "This reads only what the file declares about itself. Metadata can be removed or written by anyone: \"none found\" is no proof that the picture is genuine, and no AI-detection model was used.",
    "本结果只读取文件自身声明的元数据。元数据可被删除或伪造：“未发现”并不证明图片真实；未使用任何AI检测模型。",
);

/// Reads `path` (nothing is sent anywhere). `trust`: PEM anchors for C2PA signers.
pub fn read_file(path: &Path, trust: Option<&[u8]>) -> Result<Reading, ProvenanceError> {
    let bytes = std::fs::read(path).map_err(|e| file_err(path, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(read_bytes(&name, &bytes, trust))
}

/// The media type from the first bytes (the name may lie or be missing).
pub fn sniff(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else if bytes.len() > 12 && &bytes[4..8] == b"ftyp" {
        match &bytes[8..12] {
            b"heic" | b"heix" | b"mif1" | b"heim" | b"heis" => "image/heic",
            b"avif" => "image/avif",
            b"qt  " => "video/quicktime",
            _ => "video/mp4",
        }
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        "image/tiff"
    } else {
        "application/octet-stream"
    }
}

/// Reads a file's bytes; `name` is only shown.
pub fn read_bytes(name: &str, bytes: &[u8], trust: Option<&[u8]>) -> Reading {
    let format = sniff(bytes);
    let c2pa = if format == "application/octet-stream" {
        CredentialReport::default()
    } else {
        credentials::read(format, &mut std::io::Cursor::new(bytes), trust)
    };
    let xmp = xmp_packets(bytes);
    let mut software = Vec::new();
    let mut aigc = None;
    for packet in &xmp {
        let (label, tools) = read_xmp(packet);
        software.extend(tools);
        if aigc.is_none() {
            aigc = label;
        }
    }
    if aigc.is_none() {
        aigc = png_text(bytes)
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("AIGC"))
            .and_then(|(_, v)| label_from(&v, "PNG text"));
    }
    let (exif, exif_label) = if format.starts_with("video/") {
        (video_tags(bytes), None)
    } else {
        read_exif(bytes)
    };
    if aigc.is_none() {
        aigc = exif_label;
    }
    if let Some(s) = exif.as_ref().and_then(|e| e.software.clone()) {
        software.insert(0, s);
    }
    software.extend(c2pa.actions.iter().filter_map(|a| a.software_agent.clone()));
    let mut seen = std::collections::HashSet::new();
    software.retain(|s| !s.trim().is_empty() && seen.insert(s.clone()));
    let ai_declared = c2pa.ai_source || aigc.as_ref().is_some_and(|l| l.label == "1");
    let (sha256, size) = (crate::digest::sha256_hex(bytes), bytes.len() as u64);
    let mut reading = Reading {
        file: name.to_string(),
        size,
        sha256,
        format: format.to_string(),
        c2pa,
        aigc,
        exif,
        software,
        ai_declared,
        says: Vec::new(),
    };
    reading.says = sentences(&reading);
    reading
}

fn sentences(r: &Reading) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let c = &r.c2pa;
    if c.present {
        let who = c
            .signer
            .clone()
            .unwrap_or_else(|| "an unnamed signer".into());
        let state = match c.state.as_str() {
            "Trusted" => ("valid, and its signer is trusted", "有效，签名者受信任"),
            "Valid" if c.trust_checked => (
                "intact, but its signer is not trusted by the certificates given",
                "完整，但签名者不受所给证书信任",
            ),
            "Valid" => (
                "intact; its signer was not checked against a trust list",
                "完整；签名者未经信任列表核验",
            ),
            _ => (
                "INVALID: the file changed after signing or the signature is bad",
                "无效：签名后文件被改动或签名有误",
            ),
        };
        out.push((
            format!("C2PA content credentials signed by {who}: {}.", state.0),
            format!("发现C2PA内容凭证，签名者 {who}：{}。", state.1),
        ));
        if c.ai_source {
            out.push((
                "Its C2PA actions declare it made by a trained model (AI).".into(),
                "其C2PA操作声明该内容由AI模型生成。".into(),
            ));
        }
    } else if let Some(e) = &c.error {
        out.push((format!("C2PA: {e}"), format!("C2PA：无法读取（{e}）")));
    } else {
        out.push((
            "No C2PA content credentials found.".into(),
            "未发现C2PA内容凭证。".into(),
        ));
    }
    match &r.aigc {
        Some(l) => out.push((
            format!(
                "GB 45438-2025 AI label in {}: Label {} ({}), producer {}.",
                l.found_in,
                l.label,
                l.meaning,
                l.producer.as_deref().unwrap_or("not named")
            ),
            format!(
                "发现GB 45438-2025 AI生成合成内容隐式标识（{}）：Label {}，生成服务提供者 {}。",
                l.found_in,
                l.label,
                l.producer.as_deref().unwrap_or("未写明")
            ),
        )),
        None => out.push((
            "No GB 45438-2025 AI label found.".into(),
            "未发现GB 45438-2025 AI生成合成内容隐式标识。".into(),
        )),
    }
    match &r.exif {
        Some(e) => {
            let camera = [e.make.as_deref(), e.model.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            out.push((
                format!(
                    "{}: camera {}, taken {} (the device's own clock, settable by anyone).",
                    e.source,
                    if camera.is_empty() {
                        "not named"
                    } else {
                        &camera
                    },
                    e.taken.as_deref().unwrap_or("at no stated time")
                ),
                format!(
                    "{}：相机 {}，拍摄时间 {}（设备自身时钟，可被任意修改）。",
                    if e.source == "EXIF" {
                        "EXIF"
                    } else {
                        "视频元数据"
                    },
                    if camera.is_empty() {
                        "未写明"
                    } else {
                        &camera
                    },
                    e.taken.as_deref().unwrap_or("未写明")
                ),
            ));
        }
        None => out.push((
            "No EXIF or video metadata naming a camera or a time found.".into(),
            "未发现记载相机或时间的EXIF或视频元数据。".into(),
        )),
    }
    if !r.software.is_empty() {
        out.push((
            format!("Software named in its metadata: {}.", r.software.join(", ")),
            format!("元数据中记载的软件：{}。", r.software.join("，")),
        ));
    }
    out.push((LIMITS.0.to_string(), LIMITS.1.to_string()));
    out
}

/// Every XMP packet in the file, wherever the format keeps it (JPEG APP1, PNG iTXt, an MP4
/// or HEIF box, a WebP chunk): the text between `<x:xmpmeta` and its end.
pub fn xmp_packets(bytes: &[u8]) -> Vec<String> {
    static PACKET: std::sync::OnceLock<Option<regex::bytes::Regex>> = std::sync::OnceLock::new();
    let Some(re) = PACKET
        .get_or_init(|| regex::bytes::Regex::new(r"(?s)<x:xmpmeta.*?</x:xmpmeta>").ok())
        .as_ref()
    else {
        return Vec::new();
    };
    re.find_iter(bytes)
        .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
        .collect()
}

/// The AIGC label and the software named in one XMP packet.
pub fn read_xmp(packet: &str) -> (Option<AigcLabel>, Vec<String>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(packet);
    let mut label = None;
    let mut tools = Vec::new();
    // The local name of the element whose text is being read, when it is one we want.
    let mut inside: Option<String> = None;
    let wanted = |local: &[u8]| matches!(local, b"AIGC" | b"CreatorTool" | b"softwareAgent");
    let mut take = |local: &str, value: String, label: &mut Option<AigcLabel>| match local {
        "AIGC" => {
            if label.is_none() {
                *label = label_from(&value, "XMP");
            }
        }
        _ => tools.push(value.trim().to_string()),
    };
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                for a in e.attributes().flatten() {
                    let key = a.key.local_name();
                    if wanted(key.as_ref()) {
                        if let Ok(v) = a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
                            take(
                                &String::from_utf8_lossy(key.as_ref()),
                                v.into_owned(),
                                &mut label,
                            );
                        }
                    }
                }
                let local = e.local_name();
                inside = wanted(local.as_ref())
                    .then(|| String::from_utf8_lossy(local.as_ref()).into_owned());
            }
            Ok(Event::Text(t)) => {
                if let Some(local) = inside.take() {
                    if let Ok(v) = t.decode() {
                        let v = quick_xml::escape::unescape(&v)
                            .map(|c| c.into_owned())
                            .unwrap_or_else(|_| v.into_owned());
                        if !v.trim().is_empty() {
                            take(&local, v, &mut label);
                        }
                    }
                }
            }
            Ok(Event::End(_)) => inside = None,
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    (label, tools)
}

/// A label from the `AIGC` field's JSON text, or `None` when it is not such JSON.
pub fn label_from(text: &str, found_in: &str) -> Option<AigcLabel> {
    let v: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    // Some writers nest it: {"AIGC": {...}}.
    let v = if v.get("AIGC").is_some() {
        v["AIGC"].clone()
    } else {
        v
    };
    let field = |k: &str| match &v[k] {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let label = field("Label")?;
    let meaning = match label.as_str() {
        "1" => "AI-generated (生成合成内容)",
        "2" => "possibly AI-generated (可能为生成合成内容)",
        "3" => "suspected AI-generated (疑似为生成合成内容)",
        _ => "a value the standard does not define",
    };
    Some(AigcLabel {
        found_in: found_in.to_string(),
        label,
        meaning: meaning.to_string(),
        producer: field("ContentProducer"),
        produce_id: field("ProduceID"),
        propagator: field("ContentPropagator"),
        propagate_id: field("PropagateID"),
        raw: text.trim().to_string(),
    })
}

/// A PNG's uncompressed text chunks (`tEXt`, and `iTXt` without compression): keyword, text.
pub fn png_text(bytes: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return out;
    }
    let mut at = 8;
    while at + 12 <= bytes.len() {
        let len =
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let kind = &bytes[at + 4..at + 8];
        let Some(data) = bytes.get(at + 8..at + 8 + len) else {
            break;
        };
        if kind == b"tEXt" || kind == b"iTXt" {
            if let Some(nul) = data.iter().position(|&b| b == 0) {
                let key = String::from_utf8_lossy(&data[..nul]).into_owned();
                let rest = &data[nul + 1..];
                let text = if kind == b"tEXt" {
                    Some(rest)
                } else if rest.first() == Some(&0) {
                    // iTXt: compression flag, method, language tag\0, translated key\0, text.
                    rest.get(2..).and_then(|r| {
                        let mut parts = r.splitn(3, |&b| b == 0);
                        parts.next();
                        parts.next();
                        parts.next()
                    })
                } else {
                    None
                };
                if let Some(t) = text {
                    out.push((key, String::from_utf8_lossy(t).into_owned()));
                }
            }
        }
        if kind == b"IEND" {
            break;
        }
        at += 12 + len;
    }
    out
}

/// The EXIF camera, time and software, and an AIGC label written into an EXIF comment.
pub fn read_exif(bytes: &[u8]) -> (Option<ExifRead>, Option<AigcLabel>) {
    use exif::{In, Tag, Value};
    let Ok(found) = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes))
    else {
        return (None, None);
    };
    let text = |tag: Tag| -> Option<String> {
        let f = found.get_field(tag, In::PRIMARY)?;
        match &f.value {
            Value::Ascii(parts) => parts
                .first()
                .map(|p| {
                    String::from_utf8_lossy(p)
                        .trim_end_matches('\0')
                        .trim()
                        .to_string()
                })
                .filter(|s| !s.is_empty()),
            Value::Undefined(raw, _) => {
                // UserComment: an 8-byte character code, then the text.
                let body = raw.get(8..).unwrap_or(raw);
                Some(
                    String::from_utf8_lossy(body)
                        .trim_end_matches('\0')
                        .trim()
                        .to_string(),
                )
                .filter(|s| !s.is_empty())
            }
            _ => None,
        }
    };
    let taken = text(Tag::DateTimeOriginal)
        .or_else(|| text(Tag::DateTime))
        .map(|t| match text(Tag::OffsetTimeOriginal) {
            Some(o) => format!("{t} {o}"),
            None => t,
        });
    let read = ExifRead {
        source: "EXIF".into(),
        make: text(Tag::Make),
        model: text(Tag::Model),
        taken,
        software: text(Tag::Software),
    };
    let label = [Tag::UserComment, Tag::ImageDescription]
        .into_iter()
        .filter_map(text)
        .find_map(|t| label_from(&t, "EXIF"));
    let any = read.make.is_some()
        || read.model.is_some()
        || read.taken.is_some()
        || read.software.is_some();
    (any.then_some(read), label)
}

/// A video's camera, time and software from its container's tags (iPhone, Android, FFmpeg).
fn video_tags(bytes: &[u8]) -> Option<ExifRead> {
    let tags = crate::media::derived::container_tags(bytes);
    let first = |keys: &[&str]| {
        keys.iter().find_map(|k| {
            tags.iter()
                .find(|(t, v)| t.eq_ignore_ascii_case(k) && !v.trim().is_empty())
                .map(|(_, v)| v.trim().to_string())
        })
    };
    let read = ExifRead {
        source: "video metadata".into(),
        make: first(&[
            "com.apple.quicktime.make",
            "com.android.manufacturer",
            "make",
        ]),
        model: first(&["com.apple.quicktime.model", "com.android.model", "model"]),
        taken: first(&["com.apple.quicktime.creationdate", "creation_time", "date"]),
        software: first(&["com.apple.quicktime.software", "software", "encoder"]),
    };
    (read.make.is_some() || read.model.is_some() || read.taken.is_some() || read.software.is_some())
        .then_some(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aigc_label_is_read_from_xmp_as_element_and_as_attribute() {
        let element = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Gen 2.1"><TC260:AIGC>{"Label":"1","ContentProducer":"001191110108MA01","ProduceID":"abc","ReservedCode1":"","ContentPropagator":"shop","PropagateID":"x1","ReservedCode2":""}</TC260:AIGC></rdf:Description></rdf:RDF></x:xmpmeta>"#;
        let (label, tools) = read_xmp(element);
        let label = label.expect("label");
        assert_eq!(label.label, "1");
        assert_eq!(label.producer.as_deref(), Some("001191110108MA01"));
        assert_eq!(label.propagator.as_deref(), Some("shop"));
        assert_eq!(tools, vec!["Gen 2.1".to_string()]);
        let attribute = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/" TC260:AIGC="{&quot;Label&quot;:&quot;3&quot;,&quot;ContentProducer&quot;:&quot;p&quot;}"/></rdf:RDF></x:xmpmeta>"#;
        let label = read_xmp(attribute).0.expect("label");
        assert_eq!(label.label, "3");
        assert!(label.meaning.contains("suspected"));
        let mut file = b"\xff\xd8\xff\xe1junk".to_vec();
        file.extend_from_slice(element.as_bytes());
        file.extend_from_slice(b"\xff\xd9");
        assert_eq!(xmp_packets(&file).len(), 1);
        assert!(read_bytes("a.jpg", &file, None).ai_declared);
    }

    #[test]
    fn no_label_is_not_made_from_other_json_or_plain_text() {
        assert!(label_from("not json", "XMP").is_none());
        assert!(label_from(r#"{"Producer":"x"}"#, "XMP").is_none());
        let r = read_bytes("plain.bin", b"nothing here", None);
        assert!(r.aigc.is_none() && r.exif.is_none() && !r.ai_declared && !r.c2pa.present);
        assert!(r.says.iter().any(|(en, _)| en.contains("No GB 45438-2025")));
        assert_eq!(r.says.last().map(|s| s.0.as_str()), Some(LIMITS.0));
    }

    #[test]
    fn png_text_chunks_are_read() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let data = b"AIGC\0{\"Label\":\"2\",\"ContentProducer\":\"m\"}";
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        png.extend_from_slice(b"tEXt");
        png.extend_from_slice(data);
        png.extend_from_slice(&[0, 0, 0, 0]);
        let r = read_bytes("b.png", &png, None);
        let l = r.aigc.expect("label");
        assert_eq!((l.found_in.as_str(), l.label.as_str()), ("PNG text", "2"));
        assert!(!r.ai_declared, "Label 2 is 'possibly', not a declaration");
    }
}
