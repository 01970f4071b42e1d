//! Words for what the log records: each seal reason, record kind, scan action, access
//! action and code kind as people read it, in English and Chinese.
//!
//! Owns: the one table of these labels that the pages, the station screen and a bundle's
//! report all read (keys `<group>_<value>`: `reason_stop_code`, `kind_clip_sealed`,
//! `action_switch`, `code_kind_tracking`). Never: decides a language (its readers do), and
//! never stands in for a value it has no words for (readers show the value itself).

/// `(key, English, Chinese)`.
pub const WORDS: &[(&str, &str, &str)] = &[
    ("reason_next_order", "next order scanned", "扫描了下一单"),
    ("reason_stop_code", "stop code", "扫描结束码"),
    ("reason_cancelled", "cancelled", "已取消"),
    ("reason_rescan", "scanned again", "重复扫描"),
    ("reason_next_box", "next box", "下一箱"),
    ("reason_timeout", "longest clip reached", "达到最长时长"),
    ("reason_shutdown", "station stopped", "工位停止"),
    ("reason_source_ended", "source ended", "视频源结束"),
    ("reason_camera_lost", "camera lost", "摄像头断开"),
    (
        "reason_interrupted",
        "interrupted (the station crashed)",
        "中断（工位异常退出）",
    ),
    ("reason_error", "write error", "写入错误"),
    ("reason_other", "other", "其他"),
    ("kind_station_start", "station started", "工位启动"),
    ("kind_clip_opened", "clip opened", "开始录制"),
    ("kind_clip_sealed", "clip sealed", "视频封存"),
    ("kind_checkpoint", "signed checkpoint", "签名检查点"),
    (
        "kind_torn_line_removed",
        "torn line removed",
        "移除残缺记录",
    ),
    ("kind_no_video", "no video", "无录像"),
    ("kind_camera_gap", "camera gap", "摄像头中断"),
    ("kind_order_resumed", "order resumed", "订单恢复录制"),
    ("kind_orphan_recovered", "clip recovered", "找回视频"),
    ("kind_clock_adjusted", "clock adjusted", "时钟调整"),
    ("kind_anchored", "time-stamped", "可信时间戳"),
    ("kind_key_rotation", "key rotated", "更换签名密钥"),
    (
        "kind_crash_recovered",
        "recovered after a crash",
        "异常退出后恢复",
    ),
    ("kind_code_attached", "code attached", "关联单号"),
    ("kind_scan", "scan", "扫描"),
    ("kind_access", "access", "访问"),
    ("kind_hold", "hold", "保全"),
    ("kind_pruned", "removed by retention", "按保留策略删除"),
    ("action_open", "open", "开始"),
    ("action_switch", "next order", "切换订单"),
    ("action_seal", "seal", "封存"),
    ("action_attach", "attached", "已关联"),
    ("action_operator", "packer", "打包员"),
    ("action_ignored", "ignored", "忽略"),
    ("action_debounced", "repeat ignored", "重复扫描已忽略"),
    ("action_other", "other", "其他"),
    ("action_view", "viewed", "查看"),
    ("action_download", "downloaded", "下载"),
    ("action_export", "exported", "导出"),
    (
        "action_upload_mp4",
        "MP4 for upload made",
        "已生成上传用 MP4",
    ),
    ("action_share", "share link made", "已创建分享链接"),
    (
        "action_share_revoked",
        "share link revoked",
        "已撤销分享链接",
    ),
    ("action_hold", "legal hold placed", "已设为法律保全"),
    ("action_release", "legal hold lifted", "已解除法律保全"),
    ("code_kind_order", "order", "订单号"),
    ("code_kind_tracking", "waybill", "运单号"),
    ("code_kind_operator", "packer badge", "打包员工牌"),
    ("code_kind_stop", "stop code", "结束码"),
    ("code_kind_cancel", "cancel code", "取消码"),
    ("code_kind_next_box", "next box code", "下一箱码"),
];

/// The words for `value` of `group` (`reason`, `kind`, `action`, `code_kind`): (English,
/// Chinese), or `None` when there are none (a value of a newer program).
pub fn words(group: &str, value: &str) -> Option<(&'static str, &'static str)> {
    let key = format!("{group}_{value}");
    WORDS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, en, zh)| (*en, *zh))
}
