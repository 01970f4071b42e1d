//! The dispute helper on an order's page: an agent drops the buyer's photo or video, and
//! gets a one-page dispute sheet putting what that file declares (C2PA, GB 45438-2025 AI
//! label, EXIF, editing software) beside the order's proven first and last frames.
//!
//! Owns: the panel's form, `POST /order/{code}/dispute` and the sheet: a standalone,
//! print-ready HTML page (its styles inline, its pictures inside it as data), which the agent
//! prints to PDF or downloads and attaches to the evidence bundle it names. Never: keeps or
//! sends the buyer's file anywhere (it is read in memory and dropped), or says a picture is
//! genuine or fake: it states what the file declares and what that does not show.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Multipart, Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::i18n::Lang;
use super::page::url_escape;
use super::{blocking, Failure, Shared};
use crate::error::{Error, ErrorKind};
use crate::index::{self, FileCheck, Found};
use crate::provenance::reading::{self, Reading};

/// The largest file the helper reads (a phone's video of the parcel fits).
pub const MAX_BYTES: usize = 100 << 20;

fn w(lang: Lang, en: &'static str, zh: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

/// The panel on the order page.
pub fn panel(lang: Lang, code: &str) -> Markup {
    html! {
        details.dispute-panel {
            summary { (w(lang, "The buyer's photo: what it declares", "买家图片/视频：其声明的来源")) }
            form method="post" enctype="multipart/form-data" action={ "/order/" (url_escape(code)) "/dispute" } {
                p.note { (w(lang,
                    "Read here, kept nowhere, sent nowhere: its C2PA credentials, AI label (GB 45438-2025), EXIF and editing software, beside this order's proven first and last frames, on one printable sheet.",
                    "仅在本机读取，不保存、不外传：C2PA内容凭证、AI生成合成内容标识（GB 45438-2025）、EXIF与编辑软件，并与本订单经证明的首帧、末帧并列，生成一页可打印的纠纷说明。")) }
                input type="file" name="file" accept="image/*,video/*" required;
                " "
                label { input type="checkbox" name="download" value="1"; " " (w(lang, "download the sheet as a file", "下载为文件")) }
                " "
                button type="submit" { (w(lang, "Read and compare", "读取并对比")) }
            }
        }
    }
}

/// A still of the order: which clip, which frame, its JPEG, and its recorded time.
pub struct SheetStill {
    pub label: String,
    pub jpeg: Vec<u8>,
    pub at: String,
}

/// A sealed clip the sheet names (a station's index row or an archive's).
pub struct SheetClip {
    pub clip: u64,
    pub station: String,
    pub camera: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub sha256: Option<String>,
}

impl SheetClip {
    fn of(f: &Found) -> SheetClip {
        SheetClip {
            clip: f.clip.clip,
            station: f.clip.station.clone(),
            camera: f.clip.camera.clone(),
            started_at: f.clip.started_at.clone(),
            ended_at: f.clip.ended_at.clone(),
            sha256: f.clip.sha256.clone(),
        }
    }

    /// The caption of its first (`end` false) or last frame.
    pub fn caption(&self, end: bool) -> String {
        format!(
            "{} {} {} · clip {}",
            if end {
                "seal / 封箱"
            } else {
                "start / 开始"
            },
            self.station,
            self.camera,
            self.clip
        )
    }
}

/// The buyer's file from the panel's form: its name, its bytes, and whether the sheet is
/// to be downloaded.
pub async fn read_form(mut form: Multipart) -> Result<(String, Vec<u8>, bool), Failure> {
    let (mut name, mut bytes, mut download) = (String::new(), Vec::new(), false);
    while let Some(field) = form.next_field().await.map_err(|e| {
        Failure(
            StatusCode::BAD_REQUEST,
            format!("the form cannot be read: {e}"),
        )
    })? {
        match field.name() {
            Some("file") => {
                name = field.file_name().unwrap_or("upload").to_string();
                bytes = field
                    .bytes()
                    .await
                    .map_err(|e| {
                        Failure(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!(
                                "the file cannot be read (at most {} MB): {e}",
                                MAX_BYTES >> 20
                            ),
                        )
                    })?
                    .to_vec();
            }
            Some("download") => download = true,
            _ => {}
        }
    }
    if bytes.is_empty() {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            "choose the buyer's photo or video first".into(),
        ));
    }
    Ok((name, bytes, download))
}

/// The sheet as a response: its own Content-Security-Policy (no script; its styles and
/// pictures inside it), an attachment when `download`.
pub fn sheet_response(html: String, code: &str, download: bool) -> Response {
    let mut res = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response();
    if download {
        super::attachment(
            &mut res,
            &format!("{}-dispute-sheet.html", crate::datadir::safe_name(code)),
        );
    }
    res
}

/// `POST /order/{code}/dispute`: the sheet.
pub(super) async fn sheet(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    UrlPath(code): UrlPath<String>,
    user: Option<axum::Extension<super::auth::WebUser>>,
    headers: axum::http::HeaderMap,
    form: Multipart,
) -> Result<Response, Failure> {
    let lang = super::i18n::pick(&super::i18n::LangQuery { lang: None }, &headers);
    let who = super::who(peer, user.as_ref().map(|u| &u.0));
    let (name, bytes, download) = read_form(form).await?;
    let s = shared.clone();
    let c = code.clone();
    let (found, reading, stills, bytes) = blocking(move || {
        let found = index::lookup(s.data_dir(), &c, s.config().codes.max_len, FileCheck::Size)?;
        if found.is_empty() {
            return Err(Error::msg(
                ErrorKind::NotFound,
                format!("no clip found for code {c:?}"),
            ));
        }
        let reading = reading::read_bytes(&name, &bytes, None);
        let (stills, shown) = stills_of(s.data_dir(), &found);
        // The frames shown are a viewing of their clips, recorded as the players' are.
        if !shown.is_empty() {
            let order = found[0].clip.order.clone();
            let to = Some("dispute sheet".to_string());
            super::files::record_access(&s, "view", &order, shown, who, to)?;
        }
        Ok((found, reading, stills, bytes))
    })
    .await?;
    let order = found
        .first()
        .map(|f| f.clip.order.clone())
        .unwrap_or(code.clone());
    let clips: Vec<SheetClip> = found.iter().map(SheetClip::of).collect();
    let html = sheet_page(lang, &order, &clips, &reading, &stills, &bytes);
    Ok(sheet_response(html, &code, download))
}

/// The first frame of the order's first clip and the last frame before the seal of its last,
/// and the clips they are of.
fn stills_of(data_dir: &std::path::Path, found: &[Found]) -> (Vec<SheetStill>, Vec<u64>) {
    let sealed: Vec<&Found> = found
        .iter()
        .filter(|f| f.file_status == "ok" && f.clip.sealed_line.is_some())
        .collect();
    let (Some(first), Some(last)) = (
        sealed
            .iter()
            .min_by(|a, b| a.clip.started_at.cmp(&b.clip.started_at)),
        sealed
            .iter()
            .max_by(|a, b| a.clip.ended_at.cmp(&b.clip.ended_at)),
    ) else {
        return (Vec::new(), Vec::new());
    };
    let (mut out, mut shown) = (Vec::new(), Vec::new());
    for (f, end) in [(first, false), (last, true)] {
        let path = data_dir.join(&f.clip.file);
        match crate::media::derived::still(&path, end, 640) {
            Ok(jpeg) => {
                if !shown.contains(&f.clip.clip) {
                    shown.push(f.clip.clip);
                }
                out.push(SheetStill {
                    label: SheetClip::of(f).caption(end),
                    jpeg,
                    at: if end {
                        f.clip.ended_at.clone().unwrap_or_default()
                    } else {
                        f.clip.started_at.clone()
                    },
                })
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "no still for the dispute sheet")
            }
        }
    }
    (out, shown)
}

fn data_url(kind: &str, bytes: &[u8]) -> String {
    format!(
        "data:{kind};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

const STYLE: &str = "body{font:14px/1.45 system-ui,'Noto Sans CJK SC','WenQuanYi Micro Hei',sans-serif;max-width:60em;margin:1.5em auto;padding:0 1em;color:#111}\
h1{font-size:1.3em}h2{font-size:1.05em;margin-top:1.2em}.row{display:flex;gap:1em;flex-wrap:wrap}\
figure{margin:0;flex:1 1 16em}figure img{width:100%;border:1px solid #999}figcaption{font-size:.9em}\
li{margin:.3em 0}.ai{color:#a00;font-weight:bold}.mono{font-family:monospace;word-break:break-all;font-size:.85em}\
.limits{border:1px solid #999;padding:.5em;background:#f6f6f6}@media print{.noprint{display:none}body{margin:0}}";

/// The sheet of `order`: the reading `r` of the buyer's file (`bytes`) beside `stills`,
/// naming the sealed `clips`.
pub fn sheet_page(
    lang: Lang,
    order: &str,
    clips: &[SheetClip],
    r: &Reading,
    stills: &[SheetStill],
    bytes: &[u8],
) -> String {
    let image =
        r.format.starts_with("image/") && r.format != "image/heic" && r.format != "image/tiff";
    html! {
        (DOCTYPE)
        html lang=(if lang == Lang::En { "en" } else { "zh-CN" }) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (w(lang, "Dispute sheet", "纠纷说明")) " " (order) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (w(lang, "Dispute sheet: order ", "纠纷说明：订单 ")) (order) }
                p.noprint { (w(lang, "Print this page to PDF (Ctrl+P), or save it, and attach it with the order's evidence bundle.", "请打印为PDF（Ctrl+P）或保存本页，与订单证据包一并提交。")) }
                h2 { (w(lang, "What the buyer's file declares", "买家文件声明的内容")) }
                p.mono { (r.file) " · " (r.format) " · " (r.size) " bytes · SHA-256 " (r.sha256) }
                ul {
                    @for (i, (en, zh)) in r.says.iter().enumerate() {
                        @let last = i + 1 == r.says.len();
                        @if !last {
                            li class=[(r.ai_declared && (en.contains("AI") || en.contains("trained model"))).then_some("ai")] {
                                (if lang == Lang::En { en.as_str() } else { zh.as_str() })
                            }
                        }
                    }
                }
                @if let Some(l) = &r.aigc { p.mono { "AIGC: " (l.raw) } }
                @if let Some(e) = &r.c2pa.error { p.mono { "C2PA: " (e) } }
                h2 { (w(lang, "Beside the order's proven frames", "与订单经证明的画面对比")) }
                div.row {
                    figure {
                        @if image { img src=(data_url(&r.format, bytes)) alt="buyer"; }
                        @else { p { (w(lang, "(a video or a format a browser may not show: see its reading above)", "（视频或浏览器可能无法显示的格式：见上方读取结果）")) } }
                        figcaption { (w(lang, "The buyer's file", "买家文件")) }
                    }
                    @for s in stills {
                        figure {
                            img src=(data_url("image/jpeg", &s.jpeg)) alt=(s.label);
                            figcaption { (s.label) br; (w(lang, "recorded ", "录制于 ")) (s.at) }
                        }
                    }
                }
                h2 { (w(lang, "The evidence this refers to", "本说明所依据的证据")) }
                ul {
                    @for c in clips {
                        li.mono { "clip " (c.clip) " · " (c.station) " " (c.camera) " · " (c.started_at) " → " (c.ended_at.as_deref().unwrap_or("?")) " · SHA-256 " (c.sha256.as_deref().unwrap_or("(open)")) }
                    }
                }
                p { (w(lang,
                    "The clips, their sealed records, inclusion proofs and time anchors are in the order's evidence bundle; the times above are the station's records, proven by that bundle (check it with packwitness verify-bundle or its verify.sh).",
                    "录像、封存记录、包含证明与时间锚定均在本订单的证据包中；上方时间取自工位记录，由该证据包证明（可用 packwitness verify-bundle 或包内 verify.sh 检验）。")) }
                p.limits { (if lang == Lang::En { reading::LIMITS.0 } else { reading::LIMITS.1 }) }
            }
        }
    }
    .into_string()
}
