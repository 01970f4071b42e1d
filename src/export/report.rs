//! The bundle's report: one self-contained HTML page for people (stills inlined).
//!
//! Owns: what a reviewer reads first: the clips, their stills and timeline, and how to check
//! the bundle by hand. Never: is evidence itself (every fact in it is proven by the records).
//! Built with maud, which escapes every value it is given.

use std::collections::BTreeMap;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::Evidence;
use crate::log::note::b64;

const STYLE: &str = "*{box-sizing:border-box}body{font-family:sans-serif;margin:1em;max-width:75em}\
table{border-collapse:collapse}.scroll{overflow-x:auto;max-width:100%}\
td,th{border:1px solid #bbb;padding:.3em .5em;font-size:.9em;vertical-align:top;word-break:break-word}code,pre{font-size:.85em;word-break:break-all}\
figure{display:inline-block;margin:0 1em 1em 0;max-width:100%}img{max-width:36em;width:100%;border:1px solid #888}\
pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}html[lang^=zh] .en{display:none}html:not([lang^=zh]) .zh{display:none}\
.verdict{font-size:1.2em;font-weight:bold;padding:.6em .8em;border-radius:.3em;background:#eee}\
.verdict.good{background:#cfc;color:#060}.verdict.bad{background:#fcc;color:#900}.verdict.partial{background:#ffd}\
.verdict.unknown{background:#eee;color:#444}#pw-claimed.differs,tr.differs{background:#fcc;color:#900}tr.proven td:first-child::after{content:' \\2713'}#pw-drop{border:2px dashed #888;padding:1em;margin:.6em 0}\
#pw-drop.over{background:#eef}#pw-key{width:100%;font-family:monospace}";

/// The report's own check, run in the reviewer's browser (WebCrypto).
const CHECK_JS: &str = include_str!("report_check.js");

/// A text in both languages; the page shows the reader's.
fn tr(en: &str, zh: &str) -> Markup {
    html! { span.en { (en) } span.zh { (zh) } }
}

/// A value the log records (`reason`, `action`, `code_kind`) in words; the value itself when
/// there are none (a newer program's).
fn word(group: &str, value: &str) -> Markup {
    match crate::log::words::words(group, value) {
        Some((en, zh)) => tr(en, zh),
        None => html! { (value) },
    }
}

const MANUAL_CHECK: &str =
    "# 0. The station key the merchant published before the dispute. Not station.pub from this
#    bundle: whoever made the bundle chose that one.
KEY='name+id+key'
{ printf '\\x30\\x2a\\x30\\x05\\x06\\x03\\x2b\\x65\\x70\\x03\\x21\\x00'
  printf '%s' \"$KEY\" | cut -d+ -f3- | base64 -d | tail -c 32; } > key.der
openssl pkey -pubin -inform DER -in key.der -out key.pem

# 1. The checkpoint is signed by that key (Ed25519). The signed text ends at the last blank
#    line; the station's signature line starts with an em dash and the key's name (other
#    lines, a witness's cosignature, are other keys').
n=$(grep -n '^$' checkpoint.note | tail -n 1 | cut -d: -f1)
head -n $((n - 1)) checkpoint.note > body.txt
grep \"^— ${KEY%%+*} \" checkpoint.note | cut -d' ' -f3 | base64 -d | tail -c 64 > sig.bin
openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in body.txt -sigfile sig.bin

# 2. No file of the bundle was changed after export: bundle.note is signed like step 1
#    (made at the archive, with archive.pub: cosigned by the archive's key instead, as
#    verify.sh checks) and lists the SHA-256 of every other file.
sed '1d;/^$/,$d' bundle.note | sha256sum -c

# 3. Each record is in that signed log: recompute the RFC 6962 Merkle path of
#    proofs/line-N.tlog-proof from the leaf SHA-256(0x00 || record line) up to the root
#    (verify.sh does it with openssl dgst); the record inside each proof is its record file:
for p in proofs/line-*.tlog-proof; do r=records/$(basename \"$p\" .tlog-proof).jsonl
  sed -n 's/^extra //p' \"$p\" | base64 -d | cmp - \"$r\" && echo \"$r: in the proof\"; done

# 4. The records are of this order: each clip_opened record names it (or a code_attached
#    record attaches it to the clip), each has its clip_sealed record, and the access
#    record (the export) lists exactly these clips.
grep -h '\"kind\":\"\\(clip_opened\\|access\\)\"' records/line-*.jsonl

# 5. The clips are the ones recorded: their SHA-256 equals the hash in the sealed records.
sha256sum -c SHA256SUMS
grep -o '\"sha256\":\"[0-9a-f]*\"' records/line-*.jsonl
";

/// [`MANUAL_CHECK`] with its comments in Chinese (the commands are the same).
const MANUAL_CHECK_ZH: &str = "# 0. 商家在纠纷前公布的工位密钥。不是本证据包里的 station.pub：
#    那是制作证据包的人选的。
KEY='name+id+key'
{ printf '\\x30\\x2a\\x30\\x05\\x06\\x03\\x2b\\x65\\x70\\x03\\x21\\x00'
  printf '%s' \"$KEY\" | cut -d+ -f3- | base64 -d | tail -c 32; } > key.der
openssl pkey -pubin -inform DER -in key.der -out key.pem

# 1. 检查点由该密钥签名（Ed25519）。签名的文本到最后一个空行为止；工位的签名行
#    以长破折号和密钥名开头（其他行，如见证者的联署，属于其他密钥）。
n=$(grep -n '^$' checkpoint.note | tail -n 1 | cut -d: -f1)
head -n $((n - 1)) checkpoint.note > body.txt
grep \"^— ${KEY%%+*} \" checkpoint.note | cut -d' ' -f3 | base64 -d | tail -c 64 > sig.bin
openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in body.txt -sigfile sig.bin

# 2. 导出后证据包中没有文件被改动：bundle.note 与第 1 步一样有签名
#    （在归档端生成、带 archive.pub 的证据包：改由归档密钥副署，verify.sh 会检查），
#    并列出其他每个文件的 SHA-256。
sed '1d;/^$/,$d' bundle.note | sha256sum -c

# 3. 每条记录都在该签名日志中：从叶子 SHA-256(0x00 || 记录行) 起重新计算
#    proofs/line-N.tlog-proof 的 RFC 6962 默克尔路径直到根（verify.sh 用 openssl dgst
#    完成）；每个证明里的记录就是对应的记录文件：
for p in proofs/line-*.tlog-proof; do r=records/$(basename \"$p\" .tlog-proof).jsonl
  sed -n 's/^extra //p' \"$p\" | base64 -d | cmp - \"$r\" && echo \"$r: in the proof\"; done

# 4. 这些记录属于本订单：每条 clip_opened 记录写有订单号（或由 code_attached 记录
#    关联到该录像），每段录像都有 clip_sealed 记录，访问记录（本次导出）恰好列出这些录像。
grep -h '\"kind\":\"\\(clip_opened\\|access\\)\"' records/line-*.jsonl

# 5. 录像文件就是当时录制的：其 SHA-256 与封存记录中的哈希相同。
sha256sum -c SHA256SUMS
grep -o '\"sha256\":\"[0-9a-f]*\"' records/line-*.jsonl
";

/// A still with its caption in both languages (`[en, zh]`).
fn figure(
    stills: &BTreeMap<String, Vec<u8>>,
    name: &Option<String>,
    clip: u64,
    which: &str,
    caption: [String; 2],
) -> Markup {
    match name.as_ref().and_then(|n| stills.get(n)) {
        Some(b) => html! {
            figure data-clip=(clip) data-which=(which) {
                img alt=(caption[0]) src={ "data:image/jpeg;base64," (b64(b)) };
                figcaption { (tr(&caption[0], &caption[1])) }
            }
        },
        None => html! {},
    }
}

/// Records the report shows beyond the clips' own.
pub struct Cited<'a> {
    /// `upload_mp4` access records.
    pub uploads: &'a [crate::log::Record],
    /// The order's scans.
    pub scans: &'a [crate::log::Record],
}

/// `2026-12-04T10:21:07.512+08:00` as `2026-12-04 10:21:07.512 +08:00 (02:21:07.512 UTC)`:
/// the station's zone, and UTC.
fn zones(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(d) => format!(
            "{} ({} UTC)",
            d.format("%Y-%m-%d %H:%M:%S%.3f %:z"),
            d.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S%.3f")
        ),
        Err(_) => t.to_string(),
    }
}

/// The waybills (tracking codes) of the order: attached to its clips or scanned for it.
fn waybills(ev: &Evidence, scans: &[crate::log::Record]) -> Vec<String> {
    let mut out: Vec<String> = ev.clips.iter().flat_map(|c| c.codes.clone()).collect();
    for r in scans {
        if let crate::log::Body::Scan {
            code, code_kind, ..
        } = &r.body
        {
            if code_kind == "tracking" {
                out.push(code.clone());
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|c| seen.insert(c.clone()));
    out
}

/// Every code scanned for the order, in order.
fn scans_section(scans: &[crate::log::Record]) -> Markup {
    html! {
        h2 { (tr("Codes scanned for this order", "本订单扫描的条码")) }
        p.note {
            (tr("Each scan the station acted on for this order (as the bundle says until the check above has run; then from the proven records): the order code that opened the clip, waybills attached to it, the next box, the stop code.",
                "工位为本订单处理的每一次扫描（检查运行前为证据包所述；运行后来自已证明的记录）：开始录像的订单号、关联的运单号、下一箱、结束码。"))
        }
        div.scroll { table #pw-scans {
            tr {
                th { (tr("scanned", "扫描时间")) } th { (tr("code", "条码")) } th { (tr("kind", "类型")) }
                th { (tr("what it did", "作用")) } th { (tr("scanner", "扫描枪")) }
            }
            @for r in scans {
                @if let crate::log::Body::Scan { code, code_kind, action, detail, scanner, scanned_at, .. } = &r.body {
                    tr data-line=(r.seq) {
                        td { (zones(scanned_at)) } td { code { (code) } } td { (word("code_kind", code_kind)) }
                        td { (word("action", action.as_str())) @if let Some(d) = detail { " (" (word("reason", d)) ")" } }
                        td { (scanner) }
                    }
                }
            }
        } }
    }
}

/// The HTML report: self-contained (stills inlined), for people.
/// `proofs`: the bundle's inclusion proofs against `checkpoint` (file name, text), which the
/// page's own check reads.
pub fn report(
    ev: &Evidence,
    stills: &BTreeMap<String, Vec<u8>>,
    checkpoint: &str,
    proofs: &BTreeMap<String, String>,
    cited: &Cited<'_>,
) -> String {
    let uploads = cited.uploads;
    let waybills = waybills(ev, cited.scans);
    // The words for the values records hold (seal reasons, scan actions, code kinds), so
    // that the page can write the proven records in words after its check.
    let words: BTreeMap<&str, [&str; 2]> = crate::log::words::WORDS
        .iter()
        .map(|(k, en, zh)| (*k, [*en, *zh]))
        .collect();
    let data = serde_json::json!({ "checkpoint": checkpoint, "proofs": proofs, "words": words });
    // Inside a <script>, "</" would end it; JSON may write it "<\/".
    let data = data.to_string().replace("</", "<\\/");
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Evidence for " (ev.code) " / 证据 " (ev.code) }
                style { (STYLE) }
            }
            body {
                p { button #pw-lang type="button" { "中文 / English" } }
                h1 { (tr("Packing video evidence: ", "打包视频证据：")) span #pw-code { (ev.code) } }
                @if !waybills.is_empty() {
                    p #pw-waybills { b { (tr("Waybills: ", "运单号：")) } (waybills.join(", ")) }
                }
                @if !ev.statement.is_empty() {
                    // The merchant's own words until the page's check has run; the check puts
                    // its computed statement beside them and flags them when they differ.
                    p #pw-claimed {
                        b { (tr("Claimed by the merchant, not checked: ", "商家声称（未检查）：")) }
                        span #pw-claimed-text { (ev.statement) } "."
                    }
                }
                (check_section())
                p.note #pw-claims {
                    (tr("Below, up to the instructions, is what the bundle says (claimed by the merchant, not checked): once the check above has run, the orders, codes, times, hashes and reasons below are shown from the records it proved instead; verify.sh and verify-bundle check the rest.",
                        "以下直到检查说明为止，是证据包所述（商家声称，未检查）：上面的检查运行后，下面的订单、条码、时间、哈希和原因改为显示它已证明的记录；其余由 verify.sh 和 verify-bundle 检查。"))
                }
                @if !ev.anchors.is_empty() {
                    p {
                        span.en {
                            "Time-stamps (RFC 3161), as the bundle says: "
                            @for a in &ev.anchors {
                                "the checkpoint of " (a.size) " lines at " (a.gen_time) " by " (a.tsa) "; "
                            }
                            "check them against the TSA's published certificates (TSA_CA=FILE for verify.sh, --tsa-ca for verify-bundle)."
                        }
                        span.zh {
                            "时间戳（RFC 3161），证据包所述："
                            @for a in &ev.anchors {
                                (a.tsa) " 于 " (a.gen_time) " 为 " (a.size) " 行的检查点盖章；"
                            }
                            "请用时间戳机构公布的证书检查（verify.sh 用 TSA_CA=FILE，verify-bundle 用 --tsa-ca）。"
                        }
                    }
                }
                @if !ev.witnessed.is_empty() {
                    p {
                        span.en {
                            "Witness cosignatures (c2sp.org/tlog-cosignature), as the bundle says: "
                            @for w in &ev.witnessed {
                                "the checkpoint of " (w.size) " lines by " (w.witness) " (key ID " (w.key_id) ") at " (w.time) "; "
                            }
                            "they count only once checked with the witness's key, obtained from the witness: "
                        }
                        span.zh {
                            "见证者联署（c2sp.org/tlog-cosignature），证据包所述："
                            @for w in &ev.witnessed {
                                (w.witness) "（密钥 ID " (w.key_id) "）于 " (w.time) " 联署了 " (w.size) " 行的检查点；"
                            }
                            "只有用从见证者本人处获得的密钥检查后才算数："
                        }
                        code { "bash verify.sh STATION_KEY WITNESS_KEY" } "."
                    }
                }
                @if let Some(signer) = &ev.credentials_signer {
                    p #pw-credentials {
                        span.en {
                            "Content credentials (C2PA), as the bundle says: the stills and the signed copies (clips/*.c2pa.mp4, beside the sealed clips, which stay byte for byte) are signed by " (signer)
                            ", each naming the clip's sealed record. This page does not check them: any C2PA reader does (c2patool, contentcredentials.org/verify), and "
                        }
                        span.zh {
                            "内容凭证（C2PA），证据包所述：截图与签名副本（clips/*.c2pa.mp4，与逐字节不变的封存录像并列）由 " (signer)
                            " 签名，每份都写明该录像的封存记录。本页不检查它们：任何 C2PA 阅读器均可检查（c2patool、contentcredentials.org/verify），"
                        }
                        code { "packwitness verify-bundle --c2pa-trust CA.pem" } "."
                    }
                }
                p #pw-exported {
                    span.en { "Exported " (ev.exported_at) " by " (ev.exported_by) " with " (ev.software) ". Station key " }
                    span.zh { "导出时间 " (ev.exported_at) "，导出人 " (ev.exported_by) "，软件 " (ev.software) "。工位密钥 " }
                    code { (ev.station_key) } "."
                }
                p #pw-log {
                    span.en {
                        "Every clip below was recorded by the station, its SHA-256 written into the station's append-only, "
                        "hash-chained manifest when it was sealed, and that manifest line is proven to be in the station's "
                        "signed log (checkpoint of " (ev.checkpoint.size) " lines, root "
                    }
                    span.zh {
                        "以下每段录像都由工位录制；封存时其 SHA-256 写入工位只可追加、哈希链接的清单，"
                        "且该清单行已被证明在工位签名的日志中（" (ev.checkpoint.size) " 行的检查点，根 "
                    }
                    code { (ev.checkpoint.root) }
                    @if let Some(t) = &ev.checkpoint.time { (tr(", signed ", "，签名于 ")) (t) }
                    (tr(").", "）。"))
                }
                h2 { (tr("Stills", "画面")) }
                p.note {
                    (tr("A clip's first frame is from before its order was scanned (the pre-roll, a few seconds the station keeps so that nothing before the scan is missed): it shows no order in the stamp yet.",
                        "录像的第一帧早于扫描订单的时刻（预录：工位保留扫描前的几秒钟，以免遗漏扫描前的画面），所以水印上还没有订单号。"))
                }
                @for c in &ev.clips {
                    (figure(stills, &c.still_start, c.clip, "start", [
                        format!("clip {} first frame, pre-roll ({}); order scanned {}", c.clip, zones(&c.started_at), zones(&c.scanned_at)),
                        format!("录像 {} 第一帧，预录（{}）；订单扫描于 {}", c.clip, zones(&c.started_at), zones(&c.scanned_at)),
                    ]))
                    (figure(stills, &c.still_end, c.clip, "end", [
                        format!("clip {} last frame before the seal ({})", c.clip, c.ended_at.as_deref().map(zones).unwrap_or_default()),
                        format!("录像 {} 封存前最后一帧（{}）", c.clip, c.ended_at.as_deref().map(zones).unwrap_or_default()),
                    ]))
                }
                h2 { (tr("Timeline", "时间线")) }
                p.note #pw-timeline-note {
                    (tr("As the bundle says (claimed by the merchant, not checked); once the check above has run, the rows are the proven records', each marked when the bundle's own row differed.",
                        "以下为证据包所述（商家声称，未检查）；上面的检查运行后，各行改为已证明的记录，并标出证据包原有内容不符的行。"))
                }
                div.scroll { table #pw-timeline {
                    tr {
                        th { (tr("clip", "录像")) } th { (tr("camera", "摄像头")) } th { (tr("box", "箱")) }
                        th { (tr("part", "段")) } th { (tr("scanned", "扫描时间")) }
                        th { (tr("start (with pre-roll)", "开始（含预录）")) } th { (tr("end", "结束")) }
                        th { (tr("sealed by", "封存原因")) } th { (tr("operator", "打包员")) }
                        th { "SHA-256" } th { (tr("file", "文件")) }
                    }
                    @for c in &ev.clips {
                        tr data-clip=(c.clip) data-start=(c.started_at)
                            data-file=(c.file.as_deref().unwrap_or(""))
                            data-end=(c.ended_at.as_deref().unwrap_or(""))
                            data-sha=(c.sha256.as_deref().unwrap_or("")) {
                            td { (c.clip) }
                            td {
                                (c.camera)
                                @if c.test_pattern { br; b { (tr("TEST PATTERN: not evidence", "测试画面：不是证据")) } }
                            }
                            td { (c.box_no) }
                            td { (c.part) }
                            td {
                                (zones(&c.scanned_at))
                                @if c.clock_synced == Some(false) { br; b { (tr("clock not synchronised", "时钟未同步")) } }
                            }
                            td { (zones(&c.started_at)) }
                            td {
                                @match c.ended_at.as_deref() {
                                    Some(t) => (zones(t)),
                                    None => (tr("(open)", "（未封存）")),
                                }
                            }
                            td {
                                @if let Some(r) = &c.reason { (word("reason", r)) }
                                @if let Some(n) = c.dropped_frames {
                                    br; (tr(&format!("{n} frames left out (behind real time)"), &format!("因落后于实时略去 {n} 帧")))
                                }
                                @for p in &c.presets {
                                    br; (tr(&format!("preset {} from {}: {}", p.preset, zones(&p.at), p.why), &format!("自 {} 起编码预设 {}：{}", zones(&p.at), p.preset, p.why)))
                                }
                            }
                            td { (c.operator.as_deref().unwrap_or("")) }
                            td { code { (c.sha256.as_deref().unwrap_or("")) } }
                            td {
                                @match (&c.file, c.pruned) {
                                    (Some(f), true) => { (f) br; (tr("pruned at the station; these bytes came from its archive", "工位上已删除；此文件取自其归档")) },
                                    (Some(f), false) => (f),
                                    (None, true) => (tr("pruned by retention; its records are proven below", "已按保留期限删除；其记录在下方得到证明")),
                                    (None, false) => (tr("not sealed", "未封存")),
                                }
                            }
                        }
                    }
                } }
                @if !cited.scans.is_empty() { (scans_section(cited.scans)) }
                @if !uploads.is_empty() { (uploads_section(uploads)) }
                h2 { (tr("How to check this bundle yourself", "如何自行检查本证据包")) }
                p {
                    span.en {
                        "You need nothing from the station or from packwitness: bash, coreutils and openssl (3.0 or newer). "
                        "Unzip the bundle and run "
                    }
                    span.zh { "无需工位或 packwitness 提供任何东西：只要 bash、coreutils 和 openssl（3.0 或更新）。解压证据包后运行 " }
                    code { "bash verify.sh 'STATION_KEY'" }
                    (tr(" with the station key the merchant published before the dispute (and TSA_CA=FILE with the TSA's published CA certificates, and the witness keys after the station key); it does exactly these steps and says VERIFIED only if all pass and every clip's time is proven by a time-stamp or cosignature, TIME NOT PROVEN (exit 5) when the times rest on the station's clock:",
                        "，STATION_KEY 为商家在纠纷前公布的工位密钥（另加 TSA_CA=FILE 指向时间戳机构公布的 CA 证书，并在工位密钥后给出见证者密钥）；它正是执行以下步骤，只有全部通过且每段录像的时间都由时间戳或联署证明时才显示 VERIFIED（已验证），时间仅凭工位时钟时显示 TIME NOT PROVEN（时间未证明，退出码 5）："))
                }
                pre.en { (MANUAL_CHECK) }
                pre.zh { (MANUAL_CHECK_ZH) }
                p {
                    (tr("Or, with packwitness: ", "或者用 packwitness："))
                    code { "packwitness verify-bundle BUNDLE.zip --key '" (ev.station_key) "'" } ". "
                    (tr("Compare the station key with the one the merchant published before the dispute.",
                        "请把工位密钥与商家在纠纷前公布的密钥比对。"))
                }
                script #pw-data type="application/json" { (PreEscaped(data)) }
                script { (PreEscaped(CHECK_JS)) }
            }
        }
    };
    page.into_string()
}

/// The MP4s made for upload from these clips: how to tie the file a platform received to
/// the sealed clips.
fn uploads_section(uploads: &[crate::log::Record]) -> Markup {
    html! {
        h2 { (tr("MP4s made for upload", "为平台上传生成的 MP4")) }
        p {
            (tr("The merchant made these files from the sealed clips for a platform's upload form (re-encoded, the stamp burned in, a card before and after). They are not the evidence; the sealed clips are. Each was recorded in the station's log with its SHA-256 when it was made, and the record is proven like the others (verify.sh prints them). A file that a platform received is one of them when its SHA-256 (",
                "商家为平台上传表单从封存录像生成了以下文件（重新编码、烧录水印、前后各加一张说明画面）。它们不是证据，封存的原始录像才是。每个文件生成时其 SHA-256 都已记入工位日志，该记录与其他记录一样可被证明（verify.sh 会列出）。平台收到的文件，若其 SHA-256（"))
            code { "sha256sum FILE.mp4" } ", " code { "certutil -hashfile FILE.mp4 SHA256" }
            (tr(") equals one below; the record names the clips, and the part of each, it was made from.",
                "）与下表某一行相同，即为该文件；记录写明了它由哪些录像的哪一段生成。"))
        }
        div.scroll { table #pw-uploads {
            tr {
                th { (tr("file", "文件")) } th { "SHA-256" } th { (tr("bytes", "字节")) } th { (tr("made", "生成时间")) }
                th { (tr("by", "操作人")) } th { (tr("from clips (seconds of each)", "来源录像（各段秒数）")) } th { (tr("encoded", "编码")) }
            }
            @for r in uploads {
                @if let crate::log::Body::Access { derived: Some(d), who, to, .. } = &r.body {
                    tr data-line=(r.seq) {
                        td { (to.as_deref().unwrap_or("")) } td { code { (d.sha256) } } td { (d.size) }
                        td { (r.at) } td { (who) }
                        td { @for s in &d.sources { (s.clip) " (" (format!("{:.1}–{:.1} s", s.from_ms as f64 / 1000.0, s.to_ms as f64 / 1000.0)) @if s.burned_in { (tr(", stamp burned in", "，已烧录水印")) } ") " } }
                        td { (d.encoder) " · " (d.width) "×" (d.height) }
                    }
                }
            }
        } }
    }
}

/// The in-browser check: the published key, the clip files, the verdict.
fn check_section() -> Markup {
    html! {
        section #pw-checker {
            h2 { (tr("Check it here", "在此检查")) }
            p #pw-verdict.verdict.unknown {
                (tr("NOT CHECKED: this check needs the page's script (open report.html in a current browser).",
                    "未检查：此检查需要页面脚本（请在新版浏览器中打开 report.html）。"))
            }
            p #pw-computed hidden {}
            p {
                (tr("1. Paste the station key the merchant published before the dispute (not station.pub from this bundle: whoever made the bundle chose that one):",
                    "1. 粘贴商家在纠纷前公布的工位密钥（不是本证据包里的 station.pub：那是制作证据包的人选的）："))
                br;
                input #pw-key type="text" autocomplete="off" spellcheck="false" placeholder="name+id+key";
                " "
                button #pw-check type="button" { (tr("Check", "检查")) }
            }
            div #pw-drop {
                (tr("2. Drop the clip files (clips/*.mp4 of the unzipped bundle) here, or choose them: ",
                    "2. 把录像文件（解压后的 clips/*.mp4）拖到这里，或选择文件："))
                input #pw-files type="file" multiple accept="video/mp4";
            }
            p {
                (tr("The page checks, with your browser's WebCrypto and nothing sent anywhere: the key's ID, the checkpoint's Ed25519 signature by that key, every record's inclusion proof up to the signed checkpoint, and each clip file's SHA-256 against its sealed record. It says when it could not check. Time-stamps, witness cosignatures and that no record of the order is missing are checked by verify.sh (below).",
                    "本页用浏览器自带的 WebCrypto 检查（不发送任何数据）：密钥 ID、该密钥对检查点的 Ed25519 签名、每条记录到已签名检查点的包含证明、以及每个录像文件的 SHA-256 与其封存记录是否一致。无法检查时会明确说明。时间戳、见证签名以及订单记录是否完整，请用下面的 verify.sh 检查。"))
            }
        }
    }
}
