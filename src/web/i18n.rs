//! The pages' languages: English and Chinese (Simplified).
//!
//! Owns: choosing a page's language (`?lang=`, then the `pw_lang` cookie the switch sets,
//! then the browser's `Accept-Language`, then English) and the strings of the pages and the
//! station screen's script. Never: translates what the evidence says: codes, records, reasons
//! written in the manifest are shown as recorded.

use axum::http::{header, HeaderMap};
use serde::Deserialize;

/// A page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// The BCP 47 tag of `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("zh") {
            Some(Lang::Zh)
        } else if s.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }
}

/// The value of cookie `name` of a request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then(|| v.to_string())
        })
}

/// `?lang=en|zh` on any page.
#[derive(Debug, Default, Deserialize)]
pub struct LangQuery {
    pub lang: Option<String>,
}

/// The language of a request: `?lang=`, the `pw_lang` cookie, `Accept-Language` (in the
/// browser's order of preference), English.
pub fn pick(q: &LangQuery, headers: &HeaderMap) -> Lang {
    if let Some(l) = q.lang.as_deref().and_then(Lang::parse) {
        return l;
    }
    let cookie = cookie(headers, "pw_lang").and_then(|c| Lang::parse(&c));
    if let Some(l) = cookie {
        return l;
    }
    from_accept(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    )
}

/// The first language of an `Accept-Language` header we have (by its q-values).
pub fn from_accept(accept: &str) -> Lang {
    let mut langs: Vec<(f32, Lang)> = accept
        .split(',')
        .filter_map(|part| {
            let mut it = part.split(';');
            let lang = Lang::parse(it.next()?)?;
            let q = it
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse().ok()))
                .unwrap_or(1.0);
            Some((q, lang))
        })
        .collect();
    // Stable: among equal q-values the header's order wins.
    langs.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    langs.first().map_or(Lang::En, |l| l.1)
}

/// (key, English, Chinese).
const STRINGS: &[(&str, &str, &str)] = &[
    // The station screen.
    ("rec", "REC", "录制中"),
    ("idle", "Ready", "待机"),
    ("starting", "Starting…", "即将录制…"),
    (
        "disk_missing",
        "The data disk is missing: reconnect or remount it. Recording resumes by itself within 2 s of it being back.",
        "数据盘不见了：请重新连接或挂载。数据盘恢复后 2 秒内自动继续录制。",
    ),
    (
        "disk_unwritable",
        "The data disk cannot be written: check that it is mounted read-write. Recording resumes by itself when it can.",
        "数据盘无法写入：请检查是否以读写方式挂载。可写后自动继续录制。",
    ),
    (
        "disk_replaced",
        "Another folder is where the data folder was: nothing is written into it. Put the original disk back, or ask the lead to start a new data folder.",
        "数据文件夹的位置上是另一个文件夹：不会写入其中。请装回原来的磁盘，或请负责人启用新的数据文件夹。",
    ),
    ("not_recording", "NOT RECORDING", "未在录制"),
    (
        "archive_waiting",
        "Archive: {n} clip(s) waiting, the oldest for {m} min",
        "归档：{n} 段视频待上传，最早的已等 {m} 分钟",
    ),
    (
        "archive_unreachable",
        "the archive cannot be reached",
        "无法连接归档服务器",
    ),
    (
        "archive_refused",
        "The archive refused this station's log: tell the lead",
        "归档服务器拒绝了本工位的日志：请告知负责人",
    ),
    (
        "no_connection",
        "NO CONNECTION TO THE RECORDER",
        "与录像程序的连接已断开",
    ),
    ("saved", "Saved", "已保存"),
    ("scanned", "Scanned", "已扫描"),
    ("rejected", "Rejected", "扫描被拒绝"),
    (
        "term_web",
        "packwitness: web page and API at {url}",
        "packwitness：网页和 API 位于 {url}",
    ),
    (
        "term_ready",
        "packwitness: recording station {station} into {dir}; scan or type an order code and press Enter ({stop} seals, Ctrl-D or Ctrl-C stops)",
        "packwitness：工位 {station} 录像存入 {dir}；扫描或输入订单号后按回车（{stop} 封存，Ctrl-D 或 Ctrl-C 停止）",
    ),
    ("term_recording", "recording {order}", "录制中 {order}"),
    ("term_box", "{order} box {box}", "{order} 第 {box} 箱"),
    ("term_ignored", "ignored: {why}", "已忽略：{why}"),
    ("term_twice", "ignored: scanned twice", "已忽略：重复扫描"),
    ("term_rejected", "REJECTED", "扫描被拒绝"),
    // `lookup` and `export` for people (labels padded to ten columns; a CJK character is two).
    ("cli_order", "order     ", "订单      "),
    ("cli_box_n", "box {n}", "第 {n} 箱"),
    ("cli_part_n", "part {n}", "第 {n} 段"),
    ("cli_clip", "  clip      #{clip} on {station} / {camera}", "  录像      #{clip}，{station} / {camera}"),
    (
        "cli_test_pattern",
        "  TEST PATTERN: recorded from a test pattern, not from a camera: not evidence",
        "  测试画面：由测试图案录制，不是摄像头画面：不是证据",
    ),
    ("cli_operator", "  operator  ", "  打包员    "),
    ("cli_codes", "  codes     ", "  关联单号  "),
    ("cli_hold", "  hold      under legal hold: never pruned", "  保全      法律保全中：永不删除"),
    ("cli_access", "  access    ", "  访问      "),
    ("cli_scanned", "  scanned   ", "  扫描时间  "),
    ("cli_synced", "  clock     synchronised (NTP) when recorded", "  时钟      录制时已同步（NTP）"),
    (
        "cli_not_synced",
        "  clock     NOT synchronised when recorded: its times may be off",
        "  时钟      录制时未同步：时间可能有偏差",
    ),
    ("cli_start", "  start     {t}  (with pre-roll)", "  开始      {t}（含预录）"),
    ("cli_end", "  end       ", "  结束      "),
    ("cli_open", "(open)", "（未封存）"),
    ("cli_duration", "  duration  {s} s", "  时长      {s} 秒"),
    ("cli_frames", "  frames    ", "  帧数      "),
    ("cli_sealed_by", "  sealed by ", "  封存原因  "),
    ("cli_file", "  file      ", "  文件      "),
    (
        "cli_status_hashed",
        "  status    ok: the file matches its SHA-256 (hashed now)",
        "  状态      正常：文件与其 SHA-256 一致（刚刚计算）",
    ),
    (
        "cli_status_sized",
        "  status    ok: the file is there with its recorded size (not re-hashed; `lookup --check` or `verify` hashes it)",
        "  状态      正常：文件存在且大小与记录一致（未重新计算；`lookup --check` 或 `verify` 会计算）",
    ),
    ("cli_status", "  status    ", "  状态      "),
    ("cli_clips_n", "{n} clip(s)", "共 {n} 段录像"),
    ("cli_no_match", "no clip matches in {dir}", "{dir} 中没有匹配的录像"),
    (
        "cli_not_found",
        "no clip found for code {code} in {dir} (order numbers and attached codes match exactly, case-insensitively)",
        "在 {dir} 中找不到条码 {code} 的录像（订单号和关联单号须完全一致，不区分大小写）",
    ),
    ("cli_similar", "codes starting with {prefix}: {codes}", "以 {prefix} 开头的条码：{codes}"),
    (
        "cli_no_video",
        "  NO VIDEO  scanned at {at} on {station}: {why}",
        "  无视频    {at} 在 {station} 扫描：{why}",
    ),
    (
        "cli_scanned_line",
        "  scanned   {t}  (manifest line {line})",
        "  扫描时间  {t}（清单第 {line} 行）",
    ),
    (
        "cli_gap",
        "  gap       {order} on {camera}: nothing recorded from {from} to {to} ({why})",
        "  缺口      {order} 的 {camera}：{from} 至 {to} 没有录像（{why}）",
    ),
    ("cli_gap_resumed", "; clip #{clip} resumed it", "；录像 #{clip} 接续"),
    ("cli_gap_ended", "; the order ended first", "；订单先结束了"),
    (
        "cli_wrote_bundle",
        "wrote {path} ({bytes} bytes): {n} clip(s) of {code}",
        "已写入 {path}（{bytes} 字节）：{code} 的 {n} 段录像",
    ),
    (
        "cli_bundle_clip",
        "  clip {clip} {camera} box {box} part {part}: {what}",
        "  录像 {clip} {camera} 第 {box} 箱 第 {part} 段：{what}",
    ),
    (
        "cli_bundle_pruned",
        "(pruned by retention: its records and proofs are in the bundle)",
        "（已按保留期限删除：其记录和证明在证据包中）",
    ),
    (
        "cli_in_archive",
        "in the archive {url} ({key}, {mode} until {until}): export and the app fetch it from there",
        "在归档 {url} 中（{key}，{mode} 锁定至 {until}）：导出和应用会从那里取回",
    ),
    (
        "cli_not_in_archive",
        "not in the archive {url} either",
        "归档 {url} 中也没有",
    ),
    (
        "cli_archive_unasked",
        "the archive {url} could not be asked ({error})",
        "无法询问归档 {url}（{error}）",
    ),
    (
        "cli_bundle_from_archive",
        "{file} (not on this station any more: fetched from the archive, checked against its seal)",
        "{file}（本工位已不再保存：取自归档，并已与封存记录核对）",
    ),
    ("cli_bundle_unsealed", "(not sealed: not exported)", "（未封存：未导出）"),
    (
        "cli_burned_in",
        "    with the stamp burned in: {file} (a viewing copy; the original is the evidence)",
        "    烧录水印的副本：{file}（供观看；原始录像才是证据）",
    ),
    (
        "cli_bundle_recorded",
        "the export is recorded in the manifest (line {line}); check the bundle with: packwitness verify-bundle {path} --key '{key}'",
        "本次导出已记入清单（第 {line} 行）；检查证据包：packwitness verify-bundle {path} --key '{key}'",
    ),
    (
        "cli_wrote_mp4",
        "wrote {path} ({bytes} bytes, {s} s, {w}x{h}): order {order} from {n} clip(s), for upload",
        "已写入 {path}（{bytes} 字节，{s} 秒，{w}x{h}）：订单 {order}，由 {n} 段录像生成，供上传",
    ),
    ("cli_encoded", "  encoded   ", "  编码      "),
    (
        "cli_share_made",
        "share link {id} to order {order}, works until {until}{pin}; send it (and the PIN apart); it is shown only now:",
        "订单 {order} 的分享链接 {id}，有效期至 {until}{pin}；请发送此链接（PIN 另行告知）；链接只显示这一次：",
    ),
    ("cli_share_pin", ", with a PIN", "，需 PIN"),
    (
        "cli_share_no_url",
        "<this server's address as people outside open it>",
        "<外部访问本服务器的地址>",
    ),
    ("cli_share_row", "made {made}\tuntil {until}\t{state}", "创建 {made}\t有效期至 {until}\t{state}"),
    (
        "cli_share_revoked",
        "share link {id} to order {order} revoked: it opens nothing now",
        "订单 {order} 的分享链接 {id} 已撤销：现在打不开任何内容",
    ),
    ("cli_stats_none", "no scans in this range", "此时间范围内没有扫描"),
    (
        "cli_stats_head",
        "day         station          packer       orders  boxes  no video  not sealed  interrupted  packing median/p90 (s)        MB",
        "日期        工位             打包员         订单     箱   无视频     未封存       中断      打包时间中位数/p90（秒）      MB",
    ),
    (
        "cli_stats_no_video",
        "no video: {order} at {at} on {station}: {why}",
        "无视频：{order}，{at}，{station}：{why}",
    ),
    (
        "cli_stats_test_pattern",
        "(some boxes were recorded from a test pattern: not evidence; --json counts them)",
        "（部分箱由测试图案录制：不是证据；--json 中有计数）",
    ),
    ("cli_mp4_clip", "  clip {clip}: {from} s to {to} s of it", "  录像 {clip}：第 {from} 秒至第 {to} 秒"),
    (
        "cli_mp4_burned",
        ", stamp burned in from its records",
        "，水印按其记录烧录",
    ),
    ("cli_not_in_it", "  not in it: ", "  未包含："),
    (
        "cli_mp4_recorded",
        "how it was made is recorded in the manifest (line {line}): a bundle of the order cites it, so a reviewer can tie this file to the sealed clips by its SHA-256",
        "生成方式已记入清单（第 {line} 行）：订单的证据包会引用它，审核方可凭 SHA-256 把此文件与封存录像对应起来",
    ),
    ("reject_empty", "an empty scan", "空扫描"),
    (
        "reject_too_long",
        "too long: two scans run together?",
        "条码过长：是否两次扫描连在了一起？",
    ),
    (
        "reject_control",
        "a control character: check the scanner's suffix settings",
        "含控制字符：请检查扫描枪的后缀设置",
    ),
    (
        "reject_unknown_key",
        "a key the scanner should not send: set it to a US keyboard layout",
        "扫描枪发送了无法识别的按键：请设为美式键盘布局",
    ),
    (
        "reject_no_rule",
        "not an order, waybill, badge or control code",
        "不是订单号、运单号、工牌或控制码",
    ),
    ("reject_rejected", "refused by a code rule", "被条码规则拒绝"),
    (
        "reject_bad_badge",
        "a badge name is 1 to 32 of A-Z 0-9 . _ -",
        "工牌名须为 1 到 32 个 A-Z 0-9 . _ - 字符",
    ),
    (
        "reject_not_recorded",
        "NOT RECORDING: scan it again when the station records",
        "未在录制：请在工位恢复录制后重新扫描",
    ),
    ("box", "box", "箱"),
    ("operator", "Packer", "打包员"),
    ("sound_on", "Sound on", "声音已开"),
    (
        "sound_off",
        "Sound off: tap to turn on",
        "声音已关：点击开启",
    ),
    ("no_picture", "no live picture", "无实时画面"),
    ("camera", "Camera", "摄像头"),
    (
        "scan_to_start",
        "Scan an order to start",
        "扫描订单开始录制",
    ),
    ("seconds", "s", "秒"),
    // What the station screen tells the packer, in plain words, and what to do.
    (
        "cam_unplugged",
        "Camera unplugged or not answering",
        "摄像头已断开或无响应",
    ),
    (
        "cam_unplugged_do",
        "Plug its USB cable back in (or into another port). Recording resumes by itself.",
        "请重新插好它的 USB 线（或换一个 USB 口）。恢复后自动继续录制。",
    ),
    ("cam_unreachable", "Network camera unreachable", "无法连接网络摄像头"),
    (
        "cam_unreachable_do",
        "Check the camera's power and network cable. Recording resumes by itself.",
        "请检查摄像头的电源和网线。恢复后自动继续录制。",
    ),
    ("cam_failed", "The video source cannot be read", "视频源无法读取"),
    (
        "cam_failed_do",
        "Tell the lead: this camera's source in the configuration cannot be read.",
        "请告知负责人：配置中这个摄像头的视频源无法读取。",
    ),
    (
        "cam_stalled",
        "Camera connected but sends no picture",
        "摄像头已连接但没有画面",
    ),
    (
        "cam_stalled_do",
        "Check its cable; if it stays so, unplug it and plug it in again.",
        "请检查线缆；如果一直如此，请拔下后重新插上。",
    ),
    ("cam_starting", "Camera starting", "摄像头正在启动"),
    // A camera's state on the stations' board.
    ("camstate_starting", "starting", "启动中"),
    ("camstate_live", "live", "正常"),
    ("camstate_stalled", "stalled", "卡住"),
    ("camstate_lost", "lost", "断开"),
    ("no_recorder", "no recorder", "无录制进程"),
    ("no_video_since_start", "orders without video since start:", "启动以来无录像的订单："),
    ("cam_starting_do", "Wait a few seconds.", "请稍候几秒。"),
    ("cam_all_down", "No camera gives a picture", "所有摄像头都没有画面"),
    (
        "cam_all_down_do",
        "Each camera's panel says what is wrong with it.",
        "每个摄像头的画面框里写明了原因。",
    ),
    ("disk_full", "The disk is full", "磁盘已满"),
    (
        "disk_full_do",
        "Tell the lead now: space must be freed or the disk replaced. Recording resumes by itself when there is room.",
        "请立即告知负责人：需要腾出空间或更换磁盘。有空间后自动继续录制。",
    ),
    ("disk_write", "Clips cannot be written to the disk", "视频无法写入磁盘"),
    (
        "disk_write_do",
        "Tell the lead now: the disk reports an error. Recording resumes by itself when it can write.",
        "请立即告知负责人：磁盘报错。可以写入后自动继续录制。",
    ),
    (
        "clock_unsynced",
        "The clock is not synchronised: tell the lead (recording goes on)",
        "时钟未同步：请告知负责人（录像照常进行）",
    ),
    ("order_not_recorded", "Order", "订单"),
    // A station screen that is not paired, or no longer.
    (
        "pair_not_paired",
        "This screen is not paired with station {id}",
        "此屏幕尚未与工位 {id} 配对",
    ),
    (
        "pair_revoked",
        "This screen was unpaired from station {id}",
        "此屏幕已与工位 {id} 解除配对",
    ),
    (
        "pair_logged_out",
        "The login of this screen has ended",
        "此屏幕的登录已结束",
    ),
    (
        "pair_wrong_code",
        "Wrong or expired code: ask for a new one",
        "配对码错误或已过期：请重新获取",
    ),
    (
        "pair_too_many",
        "Too many wrong codes: wait a minute",
        "错误次数过多：请等一分钟",
    ),
    (
        "pair_not_camera",
        "This is about this screen only, not the cameras.",
        "这只是本屏幕的问题，与摄像头无关。",
    ),
    (
        "pair_ask",
        "The lead runs `packwitness screen pair {id}` on the station PC and types the code it prints here:",
        "请负责人在工位电脑上运行 `packwitness screen pair {id}`，并在此输入它显示的配对码：",
    ),
    ("pair_button", "Pair this screen", "配对此屏幕"),
    ("login", "Log in", "登录"),
    (
        "frames_left_out",
        "{n} frames left out (behind real time)",
        "因落后于实时略去 {n} 帧",
    ),
    (
        "preset_step",
        "encoder preset {preset} from {at} ({why})",
        "自 {at} 起编码预设 {preset}（{why}）",
    ),
    ("login_name", "Name", "用户名"),
    ("login_password", "Password", "密码"),
    ("login_wrong", "Wrong name or password.", "用户名或密码错误。"),
    (
        "login_too_many_here",
        "Too many failed logins from this address: wait a minute.",
        "此地址登录失败次数过多，请等一分钟再试。",
    ),
    (
        "login_too_many_account",
        "Too many failed logins to this account: try again in {s} s.",
        "此账号登录失败次数过多，请 {s} 秒后再试。",
    ),
    (
        "login_unreadable",
        "Nobody can log in: the accounts file cannot be read. An administrator runs `packwitness doctor` on this PC, which says why and what to do.",
        "无法登录：账号文件无法读取。请管理员在本机运行 `packwitness doctor` 查看原因和处理方法。",
    ),
    ("pair_or_login", "or log in", "或登录"),
    ("released", "released", "已解除"),
    ("file", "File", "文件"),
    ("codes", "Codes", "关联单号"),
    ("part", "part", "段"),
    // The app.
    ("search", "Search", "搜索"),
    (
        "search_hint",
        "order or tracking number (a prefix is enough)",
        "订单号或运单号（输入开头即可）",
    ),
    ("stats", "Statistics", "统计"),
    ("show", "Show", "显示"),
    ("day", "Day", "日期"),
    ("orders", "Orders", "订单"),
    ("boxes", "Boxes", "箱数"),
    ("not_sealed", "Not sealed", "未封存"),
    ("interrupted", "Interrupted", "中断"),
    ("packing_time", "Packing s (median / p90)", "打包秒数（中位数 / p90）"),
    (
        "stats_none",
        "No order was scanned in these days.",
        "这几天没有扫描任何订单。",
    ),
    (
        "stats_note",
        "Days are the stations' own dates. Packing time runs from the scan to the end of the box's clip. Orders without video are counted without a packer; not sealed means still being packed, or a station that stopped and has not started again.",
        "日期按各工位的本地日期。打包时间从扫描到该箱视频结束。无录像的订单不计入打包员；未封存表示仍在打包，或工位停止后尚未重新启动。",
    ),
    ("from", "From", "从"),
    ("to", "To", "到"),
    ("station", "Station", "工位"),
    ("any", "any", "全部"),
    ("stations", "Stations", "工位"),
    ("recent", "Recent clips", "最近的录像"),
    ("results", "Clips found", "找到的录像"),
    ("no_clip", "No clip for this search.", "没有找到录像。"),
    ("order", "Order", "订单"),
    ("started", "Started", "开始"),
    ("length", "Length", "时长"),
    ("status", "Status", "状态"),
    ("recording", "recording", "录制中"),
    ("sealed", "sealed", "已封存"),
    ("download_mp4", "Download MP4", "下载 MP4"),
    ("download_bundle", "Download evidence bundle", "下载证据包"),
    ("upload_mp4", "Make MP4 for upload", "生成上传用 MP4"),
    ("share_link", "Share link", "分享链接"),
    (
        "share_note",
        "A read-only link to this order for a platform's reviewer or the buyer: its videos, stills, timeline and evidence bundle, nothing else. Every view is recorded. It works only where this server can be reached from outside (see docs/web.md).",
        "给平台审核人员或买家的只读链接：只能看到本订单的录像、画面、时间线和证据包，其他一概看不到。每次查看都会记录。只有当外部能访问本服务器时才可用（见 docs/web.md）。",
    ),
    ("share_days", "Works for", "有效期"),
    ("days", "days", "天"),
    ("share_pin", "PIN (optional, 4 to 8 digits)", "PIN（可选，4 到 8 位数字）"),
    ("share_create", "Create link", "创建链接"),
    ("share_revoke", "Revoke", "撤销"),
    ("share_state_active", "works", "有效"),
    ("share_state_expired", "expired", "已过期"),
    ("share_state_revoked", "revoked", "已撤销"),
    ("share_state_locked", "locked (wrong PINs)", "已锁定（PIN 错误次数过多）"),
    ("share_made", "Share link for order", "订单分享链接"),
    ("share_until", "Works until", "有效至"),
    (
        "share_once",
        "This address is shown only now: copy it and send it (and the PIN, separately). Anyone with it sees this order's videos, stills, timeline and evidence bundle until it expires or is revoked on the order page.",
        "此链接只显示这一次：请复制后发送（PIN 请另行发送）。任何持有链接的人都能看到本订单的录像、画面、时间线和证据包，直到过期或在订单页撤销。",
    ),
    ("shared_note", "Shared by the merchant for review: read only; every view is recorded.", "商家分享供审核：只读；每次查看都会记录。"),
    (
        "shared_bundle",
        "The evidence bundle holds the original clips, their proofs, report.html and verify.sh: check it without trusting the merchant.",
        "证据包包含原始录像、证明、report.html 和 verify.sh：无需信任商家即可自行检查。",
    ),
    ("share_gone_expired", "This link has expired.", "此链接已过期。"),
    ("share_gone_revoked", "This link was revoked.", "此链接已被撤销。"),
    ("share_gone_locked", "This link is locked after too many wrong PINs.", "PIN 输错次数过多，此链接已锁定。"),
    ("share_gone_unknown", "There is no such link.", "没有此链接。"),
    ("pin_title", "This link needs its PIN", "此链接需要 PIN"),
    ("pin_wrong", "Wrong PIN. Tries left:", "PIN 错误。剩余次数："),
    ("pin_open", "Open", "打开"),
    ("upload_for", "For", "用于"),
    ("upload_no_preset", "no limit", "不限"),
    ("upload_max_mb", "at most MB", "最大 MB"),
    ("upload_from_scan", "only from the scan to the seal", "只要从扫描到封存的部分"),
    (
        "upload_note",
        "One MP4 of the whole order (every box and camera in turn, the stamp burned in) for a platform's upload form. Its SHA-256 is recorded, so it can be tied to the sealed clips.",
        "整个订单合成一个 MP4（各箱、各摄像头依次播放，带水印），用于平台上传。其 SHA-256 会记入日志，可与封存的原始录像对应。",
    ),
    (
        "bundle_wait",
        "The evidence bundle can be downloaded once the order is sealed.",
        "订单封存后才能下载证据包。",
    ),
    ("hold", "Place legal hold", "设为法律保全"),
    ("release", "Release hold", "解除保全"),
    ("held", "under legal hold", "法律保全中"),
    ("timeline", "Timeline", "时间线"),
    ("access", "Access history", "访问记录"),
    ("stills", "First and last frame", "首帧和末帧"),
    ("no_video", "NO VIDEO", "无录像"),
    ("gap", "Nothing recorded", "未录制"),
    (
        "file_ok",
        "file present, size as recorded",
        "文件完好，大小与记录一致",
    ),
    (
        "file_archive",
        "pruned at this station: played from the archive (fetched when played, checked against its seal)",
        "本工位已删除：从归档播放（播放时取回，并与封存记录核对）",
    ),
    ("logout", "Log out", "退出"),
    ("screen", "station screen", "工位屏幕"),
    ("live", "live", "在线"),
    (
        "test_pattern",
        "TEST PATTERN: not evidence",
        "测试图案：不是证据",
    ),
    ("reason", "Reason", "原因"),
    ("camera_state", "Cameras", "摄像头"),
    ("operator_col", "Packer", "打包员"),
    ("last_scan", "Last scan", "最后扫描"),
    (
        "times_in",
        "Times are the station's, with its UTC offset.",
        "时间为工位当地时间（含 UTC 偏移）。",
    ),
    (
        "broad_prefix",
        "Codes that start with what you typed, newest first, at most 100: type more of the code for fewer.",
        "显示以所输入内容开头的单号，最新的在前，最多 100 条；多输入几位可缩小范围。",
    ),
    // The app served by the archive.
    ("arc_on_its_way", "not in the archive yet (on its way from the station)", "尚未到达归档（正从工位上传）"),
    ("arc_group", "Station group", "工位组"),
    (
        "arc_every_station",
        "The archive: the clips of every station you may see, also those a station no longer holds.",
        "归档：可查看您有权限的所有工位的录像，包括工位上已删除的录像。",
    ),
    ("arc_codes", "Codes that start like this", "以此开头的单号"),
    ("arc_board", "Every station", "全部工位"),
    ("arc_log", "Station log", "工位日志"),
    ("arc_line", "line", "行"),
    (
        "arc_locked",
        "in the archive's object store, under Object Lock",
        "已存入归档对象存储（对象锁定）",
    ),
    (
        "arc_bundle_wait",
        "The evidence bundle can be made once every clip of the order has reached the archive.",
        "订单的所有录像到达归档后才能生成证据包。",
    ),
    (
        "arc_bundle_note",
        "The bundle is made from the archive alone, with the archive's cosignature: check it with the station's key and the archive's key.",
        "证据包完全由归档生成，带归档的联署签名：请用工位公钥和归档公钥核验。",
    ),
    (
        "arc_recorded",
        "Every play, download and export here is recorded in the archive's signed access log.",
        "此处的每次播放、下载和导出都记录在归档的签名访问日志中。",
    ),
    ("arc_pushed", "Last push", "最后上传"),
    ("arc_last_seal", "Last seal", "最后封存"),
    ("arc_today", "Clips today (UTC)", "今日录像（UTC）"),
    ("arc_lag", "Archive lag", "归档延迟"),
    ("arc_forked", "FORKED LOG REFUSED", "分叉日志已拒收"),
    ("arc_caught_up", "every clip in", "录像已全部到达"),
    ("arc_waiting", "clip(s) waiting since", "段录像待上传，最早封存于"),
    (
        "arc_board_note",
        "One row per station log (a PC's data folder). Lag counts the sealed clips whose bytes the archive does not hold yet.",
        "每个工位日志（一台电脑的数据文件夹）一行。延迟是已封存但归档尚未收到内容的录像数。",
    ),
    (
        "arc_forbidden",
        "This order's clips belong to stations your account may not see.",
        "此订单的录像属于您的账号无权查看的工位。",
    ),
    (
        "arc_access_note",
        "From the index of the archive's access logs; each row names its signed record (node and line).",
        "来自归档访问日志的索引；每行注明其签名记录（节点和行号）。",
    ),
    ("arc_board_forbidden", "The board of every station is for accounts that see every station.", "全部工位一览仅对可查看所有工位的账号开放。"),
];

/// The string `key` in `lang`, if the table has it.
pub(super) fn lookup(lang: Lang, key: &str) -> Option<&'static str> {
    STRINGS
        .iter()
        .chain(crate::log::words::WORDS)
        .find(|(k, _, _)| *k == key)
        .map(|(_, en, zh)| match lang {
            Lang::En => *en,
            Lang::Zh => *zh,
        })
}

/// A value the log records (`group` `reason`, `kind` or `action`) in the page's language;
/// the value itself when it has no label (a newer program's), never "?".
pub fn label(lang: Lang, group: &str, value: &str) -> String {
    lookup(lang, &format!("{group}_{value}")).map_or_else(|| value.to_string(), str::to_string)
}

pub fn t(lang: Lang, key: &str) -> &'static str {
    lookup(lang, key).unwrap_or_else(|| {
        tracing::warn!(key, "no such page string");
        "?"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_language_picks_the_page_language() {
        assert_eq!(from_accept("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(from_accept("en-US,en;q=0.9,zh-CN;q=0.8"), Lang::En);
        assert_eq!(from_accept("fr-FR,zh-TW;q=0.5"), Lang::Zh);
        assert_eq!(from_accept("de"), Lang::En);
        assert_eq!(from_accept("en;q=0.2,zh;q=0.9"), Lang::Zh);
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, "zh-CN".parse().unwrap());
        h.insert(header::COOKIE, "pw_lang=en".parse().unwrap());
        assert_eq!(pick(&LangQuery::default(), &h), Lang::En, "the switch wins");
        let q = LangQuery {
            lang: Some("zh".into()),
        };
        assert_eq!(pick(&q, &h), Lang::Zh, "the address wins");
    }

    /// Every key a page asks for by name is in the table: a missing one would show "?" (it
    /// did under every result list, issue 25).
    #[test]
    fn every_key_the_pages_ask_for_exists() {
        let call =
            regex::Regex::new(r#"\bt\((?:lang|v\.lang|l|p\.lang|self\.lang), "([a-z_0-9]+)""#)
                .unwrap();
        let mut asked = 0;
        for src in [
            include_str!("page.rs"),
            include_str!("order.rs"),
            include_str!("screen.rs"),
            include_str!("stats.rs"),
            include_str!("kiosk.rs"),
            include_str!("auth.rs"),
            include_str!("share.rs"),
            include_str!("../app/archive_pages.rs"),
            include_str!("../app/archive_app.rs"),
        ] {
            for key in call.captures_iter(src).map(|c| c[1].to_string()) {
                asked += 1;
                assert!(
                    STRINGS.iter().any(|(k, _, _)| *k == key),
                    "the pages ask for {key:?}, which has no strings"
                );
            }
        }
        assert!(
            asked > 30,
            "only {asked} keys found: the pattern no longer matches the calls"
        );
    }

    /// Every seal reason, record kind and scan action the log can hold has a label in both
    /// languages (read from the enums themselves, so a new one without a label fails here).
    #[test]
    fn every_value_the_log_records_has_a_label() {
        let log = include_str!("../log/mod.rs");
        let variants = |enum_name: &str| -> Vec<String> {
            let start = log
                .find(&format!("pub enum {enum_name} {{"))
                .unwrap_or_else(|| panic!("no enum {enum_name}"));
            let body = &log[start..start + log[start..].find("\n}\n").unwrap_or(0)];
            let re = regex::Regex::new(r"(?m)^    ([A-Z][A-Za-z]*)(?: \{|,|\()").unwrap();
            re.captures_iter(body)
                .map(|c| {
                    let mut snake = String::new();
                    for (i, ch) in c[1].chars().enumerate() {
                        if ch.is_ascii_uppercase() && i > 0 {
                            snake.push('_');
                        }
                        snake.push(ch.to_ascii_lowercase());
                    }
                    snake
                })
                .collect()
        };
        let mut asked: Vec<(String, String)> = Vec::new();
        for (group, enum_name) in [
            ("reason", "SealReason"),
            ("action", "ScanAction"),
            ("kind", "Body"),
        ] {
            let names = variants(enum_name);
            assert!(names.len() > 5, "{enum_name}: {names:?}");
            asked.extend(names.into_iter().map(|n| (group.to_string(), n)));
        }
        for a in ["debounced", "view", "download", "export"] {
            asked.push(("action".into(), a.into()));
        }
        for (group, value) in asked {
            let key = format!("{group}_{value}");
            assert!(
                crate::log::words::WORDS.iter().any(|(k, _, _)| *k == key),
                "no label {key:?} for what the log records"
            );
            assert_ne!(label(Lang::Zh, &group, &value), value, "{key} in Chinese");
        }
        assert_eq!(
            label(Lang::Zh, "reason", "from_a_newer_program"),
            "from_a_newer_program"
        );
    }

    #[test]
    fn every_string_is_in_both_languages_once() {
        let mut keys = std::collections::HashSet::new();
        for (k, en, zh) in STRINGS.iter().chain(crate::log::words::WORDS) {
            assert!(keys.insert(k), "{k} twice");
            assert!(!en.is_empty() && !zh.is_empty(), "{k}");
        }
    }
}
