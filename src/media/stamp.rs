//! Stamp: what the evidence stamp says, from a template.
//!
//! Owns: the stamp template language (`{order}`, `{time}`, ... and `{{`/`}}` for braces) and
//! rendering it as text (the text track of passthrough clips, the burned-in copy).
//! Never: draws pixels (the encoder's drawtext does) or reads a clock (times are given).

/// What the stamp says besides the time.
#[derive(Debug, Clone, PartialEq)]
pub struct StampText {
    pub station: String,
    pub camera: String,
    /// The open order, or `None` while idle.
    pub order: Option<String>,
    /// The packer's badge, if one was scanned.
    pub operator: Option<String>,
    /// Tracking codes scanned during the open clip so far.
    pub tracking: Vec<String>,
    /// `encode.stamp_template`.
    pub template: String,
}

/// The placeholders a stamp template may use.
pub const STAMP_FIELDS: [&str; 7] = [
    "order", "tracking", "station", "camera", "operator", "time", "offset",
];

/// A piece of a stamp template.
#[derive(Debug, Clone, PartialEq)]
pub enum StampPart {
    Text(String),
    Field(String),
}

/// Splits a template such as `{order}  {station} {camera}  {time} {offset}` into literal text
/// and placeholders; `{{` and `}}` stand for braces. Unknown placeholders are an error.
pub fn parse_template(template: &str) -> Result<Vec<StampPart>, String> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                if !STAMP_FIELDS.contains(&name.as_str()) {
                    return Err(format!(
                        "unknown placeholder {{{name}}}; use {}",
                        STAMP_FIELDS.map(|f| format!("{{{f}}}")).join(" ")
                    ));
                }
                if !text.is_empty() {
                    parts.push(StampPart::Text(std::mem::take(&mut text)));
                }
                parts.push(StampPart::Field(name));
            }
            '}' => return Err("a lone '}' (write '}}' for a brace)".into()),
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        parts.push(StampPart::Text(text));
    }
    Ok(parts)
}

impl StampText {
    /// The stamp as text, with `time` and `offset` given (the text track of passthrough clips).
    pub fn render(&self, time: &str, offset: &str) -> String {
        self.fill(|t| t.to_string(), time.to_string(), offset.to_string())
    }

    /// The stamp with literal parts passed through `literal` and the given time and offset.
    pub fn fill(&self, literal: impl Fn(&str) -> String, time: String, offset: String) -> String {
        let parts = parse_template(&self.template)
            .unwrap_or_else(|_| parse_template(crate::config::DEFAULT_STAMP).unwrap_or_default());
        let mut out = String::new();
        for p in parts {
            match p {
                StampPart::Text(t) => out.push_str(&literal(&t)),
                StampPart::Field(f) => match f.as_str() {
                    "order" => {
                        out.push_str(&literal(self.order.as_deref().unwrap_or("(no order)")))
                    }
                    "tracking" => out.push_str(&literal(&self.tracking.join(" "))),
                    "station" => out.push_str(&literal(&self.station)),
                    "camera" => out.push_str(&literal(&self.camera)),
                    "operator" => out.push_str(&literal(self.operator.as_deref().unwrap_or(""))),
                    "time" => out.push_str(&time),
                    "offset" => out.push_str(&offset),
                    _ => {}
                },
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_and_bad_ones_are_refused() {
        let s = StampText {
            station: "st-1".into(),
            camera: "cam-1".into(),
            order: Some("A%B\\C'D".into()),
            operator: None,
            tracking: vec![],
            template: crate::config::DEFAULT_STAMP.into(),
        };
        assert_eq!(
            s.render("2026-11-25 20:31:02.054", "+0800"),
            "A%B\\C'D  st-1 cam-1  2026-11-25 20:31:02.054 +0800"
        );
        let custom = StampText {
            template: "{{{station}}} {order}/{tracking}/{operator}".into(),
            tracking: vec!["SF1".into(), "SF2".into()],
            ..s.clone()
        };
        assert_eq!(custom.render("t", "o"), "{st-1} A%B\\C'D/SF1 SF2/");
        assert!(parse_template("{order} {nope}")
            .unwrap_err()
            .contains("unknown placeholder {nope}"));
        assert!(parse_template("a } b").is_err());
    }
}
