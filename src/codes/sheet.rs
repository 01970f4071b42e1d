//! The control sheet: a printable page of Code 128 barcodes for the control codes and operator
//! badges, so a station is run with the scanner alone. HTML through maud (escaped by default).

use barcoders::sym::code128::Code128;
use maud::{html, Markup, DOCTYPE};

use crate::config::CodeConfig;

/// One barcode on the sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// What the scanner reads.
    pub code: String,
    /// What the barcode is for, in words.
    pub caption: String,
}

/// The labels of a config: the three control codes, then one badge per configured operator.
pub fn labels(codes: &CodeConfig) -> Vec<Label> {
    let mut out = vec![
        Label {
            code: codes.stop.clone(),
            caption: "Parcel sealed: stop recording (after the post-roll)".into(),
        },
        Label {
            code: codes.cancel.clone(),
            caption: "Cancel: seal the clip as cancelled (it is kept)".into(),
        },
        Label {
            code: codes.next_box.clone(),
            caption: "Next box of the same order".into(),
        },
    ];
    for op in &codes.operators {
        out.push(Label {
            code: format!("{}{}", codes.operator_prefix, op),
            caption: format!("Operator {op}"),
        });
    }
    out
}

/// The bars and spaces of `code` in Code 128 (character set B): one entry per module,
/// `true` for a bar, without quiet zones.
pub fn modules(code: &str) -> Result<Vec<bool>, String> {
    if code.is_empty() || !code.chars().all(|c| (' '..='~').contains(&c)) {
        return Err(format!(
            "{code:?} cannot be printed as Code 128: use printable ASCII only"
        ));
    }
    let sym = Code128::new(format!("\u{0181}{code}"))
        .map_err(|e| format!("{code:?} cannot be encoded as Code 128: {e}"))?;
    Ok(sym.encode().into_iter().map(|m| m == 1).collect())
}

/// An SVG of the barcode: one `rect` per bar, 10 modules of quiet zone on each side.
pub fn svg(code: &str, module_px: u32, height_px: u32) -> Result<Markup, String> {
    let m = modules(code)?;
    let quiet = 10;
    let width = (m.len() as u32 + 2 * quiet) * module_px;
    let mut bars = Vec::new();
    let mut i = 0;
    while i < m.len() {
        if m[i] {
            let start = i;
            while i < m.len() && m[i] {
                i += 1;
            }
            bars.push((
                (start as u32 + quiet) * module_px,
                (i - start) as u32 * module_px,
            ));
        } else {
            i += 1;
        }
    }
    Ok(html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(width) height=(height_px)
            viewBox={ "0 0 " (width) " " (height_px) } shape-rendering="crispEdges" data-code=(code) {
            rect width=(width) height=(height_px) fill="#fff" {}
            @for (x, w) in &bars {
                rect x=(x) y="0" width=(w) height=(height_px) fill="#000" {}
            }
        }
    })
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5cm}figure{display:inline-block;margin:0 1cm 1cm 0;\
padding:.4cm;border:1px dashed #999;break-inside:avoid}figcaption{text-align:center;margin-top:.2cm}\
@media print{figure{border-color:#ccc}}";

/// The whole printable page (no external assets), for `station`.
pub fn html(codes: &CodeConfig, station: &str) -> Result<String, String> {
    let mut cards = Vec::new();
    for l in labels(codes) {
        cards.push((svg(&l.code, 3, 110)?, l));
    }
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "packwitness control sheet: " (station) }
                style { (STYLE) }
            }
            body {
                h1 { "Control codes: station " (station) }
                p {
                    "Scan a code below with the station's scanner. Order numbers and waybills start and tag clips; "
                    "these codes control them. Print at 100% scale."
                }
                @for (svg, l) in &cards {
                    figure {
                        (svg)
                        figcaption { b { (l.code) } br; (l.caption) }
                    }
                }
            }
        }
    };
    Ok(page.into_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code128_structure() {
        let m = modules("PW-STOP").unwrap();
        // Start B (11) + 7 characters (11 each) + check (11) + stop (13) modules.
        assert_eq!(m.len(), 11 * 9 + 13);
        // Start B is 11010010000; the stop pattern ends with 11 bars.
        let start: String = m[..11].iter().map(|&b| if b { '1' } else { '0' }).collect();
        assert_eq!(start, "11010010000");
        assert!(m[m.len() - 2..].iter().all(|&b| b));
        assert!(modules("é").is_err());
        assert!(modules("").is_err());
    }

    #[test]
    fn sheet_has_controls_and_badges() {
        let codes = CodeConfig {
            operators: vec!["ALICE".into(), "<B>".into()],
            ..CodeConfig::default()
        };
        let page = html(&codes, "st-1").unwrap();
        for code in ["PW-STOP", "PW-CANCEL", "PW-BOX", "OP-ALICE", "OP-&lt;B&gt;"] {
            assert!(page.contains(&format!("data-code=\"{code}\"")), "{code}");
        }
        // Self-contained: nothing is fetched when the page is opened or printed.
        assert!(!page.contains("src=") && !page.contains("<link") && !page.contains("url("));
    }
}
