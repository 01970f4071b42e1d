//! The stamp's font: which one (a CJK-capable default when installed), and whether it can
//! draw what the stamp will say.
//!
//! Owns: resolving `encode.font_file` (empty: the first installed of [`DEFAULT_FONTS`]) and
//! the glyph check at start: the template's own text, the station and camera ids and the
//! characters of the time must all be in the font, or the start is refused naming the
//! missing characters (a stamp of empty boxes is no stamp). Never: draws (drawtext does).

use std::path::{Path, PathBuf};

use super::stamp::{parse_template, StampPart};

/// Fonts tried, in order, when `encode.font_file` is empty: CJK-capable first (Debian's
/// fonts-wqy-microhei, fonts-noto-cjk), then DejaVu (Latin, Greek, Cyrillic).
pub const DEFAULT_FONTS: [&str; 3] = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
];

/// The font file the stamp uses.
pub fn resolve(font_file: &Path) -> PathBuf {
    if !font_file.as_os_str().is_empty() {
        return font_file.to_owned();
    }
    DEFAULT_FONTS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_FONTS[0]))
}

/// The characters of `text` that the font `font` (face 0 of a collection) has no glyph for.
pub fn missing(font: &Path, text: &str) -> Result<Vec<char>, String> {
    let data = std::fs::read(font).map_err(|e| {
        format!(
            "font file {} cannot be read: {e} (install fonts-wqy-microhei or set encode.font_file)",
            font.display()
        )
    })?;
    let face = ttf_parser::Face::parse(&data, 0)
        .map_err(|e| format!("font file {} is not a font: {e}", font.display()))?;
    let mut out: Vec<char> = text
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .filter(|&c| face.glyph_index(c).is_none())
        .collect();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Checks, at start, that the stamp can be drawn: the template's text, `names` (station and
/// camera ids) and the time's characters are all in the font.
pub fn check_stamp(font_file: &Path, template: &str, names: &[&str]) -> Result<(), String> {
    let font = resolve(font_file);
    let mut text: String = parse_template(template)?
        .into_iter()
        .filter_map(|p| match p {
            StampPart::Text(t) => Some(t),
            StampPart::Field(_) => None,
        })
        .collect();
    for n in names {
        text.push_str(n);
    }
    text.push_str("0123456789-:.+");
    let lacking = missing(&font, &text)?;
    if lacking.is_empty() {
        return Ok(());
    }
    let list: String = lacking
        .iter()
        .map(|c| format!("{c} (U+{:04X})", *c as u32))
        .collect::<Vec<_>>()
        .join(", ");
    Err(format!(
        "the stamp font {} has no glyph for {list}: the stamp would show empty boxes; install a font that has them (fonts-wqy-microhei or fonts-noto-cjk for Chinese) and set encode.font_file, or change encode.stamp_template / the station and camera ids",
        font.display()
    ))
}

/// The start check of a whole config: every station's and camera's id and the operators'
/// names (their badges are stamped) with the template.
pub fn check_config(config: &crate::config::Config) -> Result<(), crate::error::Error> {
    if !config.encode.stamp {
        return Ok(());
    }
    let names: Vec<&str> = config
        .stations
        .iter()
        .flat_map(|s| std::iter::once(s.id.as_str()).chain(s.cameras.iter().map(|c| c.id.as_str())))
        .chain(config.codes.operators.iter().map(String::as_str))
        .collect();
    check_stamp(
        &config.encode.font_file,
        &config.encode.stamp_template,
        &names,
    )
    .map_err(|e| crate::error::Error::msg(crate::error::ErrorKind::Invalid, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_needs_a_cjk_font() {
        let dejavu = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
        if !dejavu.is_file() {
            return; // .ci/deps installs it; nothing to check without it
        }
        assert_eq!(
            missing(dejavu, "SO-1 station-1 Ωж").unwrap(),
            Vec::<char>::new()
        );
        assert_eq!(missing(dejavu, "打包台 1").unwrap(), vec!['包', '台', '打']);
        let e = check_stamp(dejavu, "{order} 打包台", &["cam-1"]).unwrap_err();
        assert!(
            e.contains("打 (U+6253)") && e.contains("fonts-wqy-microhei"),
            "{e}"
        );
        assert!(check_stamp(dejavu, "{order} {time}", &["station-1", "cam-1"]).is_ok());
        let cjk = Path::new(DEFAULT_FONTS[0]);
        if cjk.is_file() {
            assert!(check_stamp(cjk, "{order} 打包台 {time}", &["一号台"]).is_ok());
        }
        assert!(missing(Path::new("/nonexistent.ttf"), "a").is_err());
    }
}
