//! Codes: what a scanned code is, decided the same way at recording and at lookup.
//!
//! Owns: normalising codes (full-width forms, spaces, case), telling control codes, operator
//! badges and the ordered `[[codes.rule]]` list apart, carrier check digits, and the printable
//! control sheet ([`sheet`]).
//! Never: reads a device (scanners do) or decides what a scan does to a clip.

use regex::Regex;

pub mod sheet;

use crate::config::{CheckDigit, CodeConfig, RuleConfig, RuleKind};

/// The built-in rules, from the file that documents them.
const DEFAULT_RULES: &str = include_str!("../../config/code-rules.toml");

/// What a scanned code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    Order,
    Tracking,
    Operator,
    Stop,
    Cancel,
    NextBox,
}

impl CodeKind {
    /// The name used in the manifest and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeKind::Order => "order",
            CodeKind::Tracking => "tracking",
            CodeKind::Operator => "operator",
            CodeKind::Stop => "stop",
            CodeKind::Cancel => "cancel",
            CodeKind::NextBox => "next_box",
        }
    }
}

/// A scan that was understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The code as the station uses it: normalised, and for rules with a `code` group, that part
    /// (an operator badge: the operator's name).
    pub code: String,
    pub kind: CodeKind,
    /// The rule that matched (`control`, `operator`, or a `[[codes.rule]]` name).
    pub rule: String,
}

/// Why a scanned code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("empty code")]
    Empty,
    #[error("code is {len} characters long; the limit is {max} (codes.max_len); was it two scans run together?")]
    TooLong { len: usize, max: usize },
    #[error("code contains a control character (U+{code:04X}) at position {pos}; check the scanner's suffix settings")]
    Control { code: u32, pos: usize },
    #[error("the scanner sent a key packwitness cannot translate (key code {key}); set the scanner to a US keyboard layout")]
    UnknownKey { key: u16 },
    #[error("code {code:?} matches no rule: not an order, waybill, badge or control code (see [[codes.rule]] in the config)")]
    NoRule { code: String },
    #[error("code {code:?} was rejected by rule {rule:?}: {message}")]
    Rejected {
        code: String,
        rule: String,
        message: String,
    },
    #[error("operator badge {code:?}: the name after the prefix must be 1 to 32 of A-Z 0-9 . _ -")]
    BadBadge { code: String },
    /// A valid scan the recorder could not record (nor keep to record later).
    #[error("NOT RECORDING: the scan could not be recorded ({0}); scan it again when the station shows it records")]
    NotRecorded(String),
}

impl CodeError {
    /// The reason's name, stable for pages and scripts (`reject_<name>` in the web's words).
    pub fn name(&self) -> &'static str {
        match self {
            CodeError::Empty => "empty",
            CodeError::TooLong { .. } => "too_long",
            CodeError::Control { .. } => "control",
            CodeError::UnknownKey { .. } => "unknown_key",
            CodeError::NoRule { .. } => "no_rule",
            CodeError::Rejected { .. } => "rejected",
            CodeError::BadBadge { .. } => "bad_badge",
            CodeError::NotRecorded(_) => "not_recorded",
        }
    }

    /// The merchant's own words of a `[[codes.rule]]` that refused the code, if any.
    pub fn rule_message(&self) -> Option<&str> {
        match self {
            CodeError::Rejected { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// A refused scan: what came in (escaped, shortened for logs) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub raw: String,
    pub error: CodeError,
}

/// A scan as logs and answers show it: escaped, at most 80 characters.
pub fn shorten(raw: &str) -> String {
    let escaped: String = raw.escape_debug().collect();
    if escaped.chars().count() > 80 {
        format!("{}...", escaped.chars().take(80).collect::<String>())
    } else {
        escaped
    }
}

impl From<CodeError> for crate::Error {
    fn from(e: CodeError) -> crate::Error {
        crate::Error::new(crate::ErrorKind::Invalid, e)
    }
}

impl From<RuleError> for crate::Error {
    fn from(e: RuleError) -> crate::Error {
        crate::Error::new(crate::ErrorKind::Invalid, e)
    }
}

/// Something wrong with the rules themselves (a config error).
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("codes.rule[{index}] ({name:?}): pattern {pattern:?} is not a valid regex: {message}")]
    Pattern {
        index: usize,
        name: String,
        pattern: String,
        message: String,
    },
    #[error("codes.rule[{index}] ({name:?}): {message}")]
    Invalid {
        index: usize,
        name: String,
        message: String,
    },
    #[error("the built-in rules (config/code-rules.toml) do not parse: {0}")]
    Builtin(String),
}

/// Normalises a code as scanned or typed: surrounding whitespace removed, ASCII letters
/// upper-cased (scanners and people disagree on case; order numbers do not depend on it).
/// Refuses empty codes, codes longer than `max_len` characters and control characters.
///
/// ```
/// use packwitness::codes::{normalize, CodeError};
/// assert_eq!(normalize(" so-2026-001\r\n", 64).unwrap(), "SO-2026-001");
/// assert!(matches!(normalize("A\u{7}B", 64), Err(CodeError::Control { .. })));
/// ```
pub fn normalize(raw: &str, max_len: usize) -> Result<String, CodeError> {
    // Full-width forms (a Chinese keyboard's ＳＦ１２３) are their ASCII letters and digits,
    // and spaces inside a code (typed, or an ideographic space) are not part of it.
    let folded: String = raw
        .chars()
        .map(half_width)
        .filter(|c| !c.is_whitespace())
        .collect();
    let code = folded.as_str();
    if code.is_empty() {
        return Err(CodeError::Empty);
    }
    if let Some((pos, c)) = code.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(CodeError::Control {
            code: c as u32,
            pos,
        });
    }
    let len = code.chars().count();
    if len > max_len {
        return Err(CodeError::TooLong { len, max: max_len });
    }
    Ok(code.to_ascii_uppercase())
}

/// The ASCII character of a full-width form (U+FF01..U+FF5E), a space for the ideographic
/// space (U+3000); any other character as it is.
fn half_width(c: char) -> char {
    match c as u32 {
        0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        0x3000 => ' ',
        _ => c,
    }
}

/// A code as releases before 0.2 recorded it (trimmed, ASCII upper case only): what lookup
/// also tries, so that codes recorded then are still found.
pub fn legacy_normalize(raw: &str) -> String {
    raw.trim().to_ascii_uppercase()
}

struct Rule {
    name: String,
    kind: RuleKind,
    regex: Regex,
    check: Option<CheckDigit>,
    message: String,
}

/// Classifies scans by the rules of a config. Cheap to share between scanner threads.
pub struct Classifier {
    max_len: usize,
    stop: String,
    cancel: String,
    next_box: String,
    operator_prefix: String,
    rules: Vec<Rule>,
}

#[derive(serde::Deserialize)]
struct BuiltinFile {
    codes: BuiltinCodes,
}

#[derive(serde::Deserialize)]
struct BuiltinCodes {
    rule: Vec<RuleConfig>,
}

/// The built-in rules (the `[[codes.rule]]` tables of `config/code-rules.toml`).
pub fn default_rules() -> Result<Vec<RuleConfig>, RuleError> {
    toml::from_str::<BuiltinFile>(DEFAULT_RULES)
        .map(|f| f.codes.rule)
        .map_err(|e| RuleError::Builtin(e.to_string()))
}

impl Classifier {
    /// Compiles the rules of `config` (the built-in ones when it has none).
    pub fn new(config: &CodeConfig) -> Result<Classifier, RuleError> {
        let list = match &config.rules {
            Some(list) => list.clone(),
            None => default_rules()?,
        };
        let mut rules = Vec::with_capacity(list.len());
        for (index, r) in list.into_iter().enumerate() {
            let invalid = |message: String| RuleError::Invalid {
                index,
                name: r.name.clone(),
                message,
            };
            if r.name.trim().is_empty() {
                return Err(invalid("the rule needs a name".into()));
            }
            // Anchored: a rule describes the whole code, never a part of it.
            let regex =
                Regex::new(&format!("^(?:{})$", r.pattern)).map_err(|e| RuleError::Pattern {
                    index,
                    name: r.name.clone(),
                    pattern: r.pattern.clone(),
                    message: e.to_string(),
                })?;
            if r.kind == RuleKind::Reject && r.message.is_none() {
                return Err(invalid(
                    "a reject rule needs a message telling the packer what was scanned".into(),
                ));
            }
            rules.push(Rule {
                message: r.message.clone().unwrap_or_default(),
                name: r.name,
                kind: r.kind,
                regex,
                check: r.check,
            });
        }
        let upper = |s: &str| s.trim().to_ascii_uppercase();
        Ok(Classifier {
            max_len: config.max_len,
            stop: upper(&config.stop),
            cancel: upper(&config.cancel),
            next_box: upper(&config.next_box),
            operator_prefix: upper(&config.operator_prefix),
            rules,
        })
    }

    /// The longest code accepted.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Turns one scan into what it means, or says why it is refused.
    pub fn classify(&self, raw: &str) -> Result<Scan, CodeError> {
        let code = normalize(raw, self.max_len)?;
        let control = |kind| Scan {
            code: code.clone(),
            kind,
            rule: "control".into(),
        };
        if code == self.stop {
            return Ok(control(CodeKind::Stop));
        }
        if code == self.cancel {
            return Ok(control(CodeKind::Cancel));
        }
        if code == self.next_box {
            return Ok(control(CodeKind::NextBox));
        }
        if !self.operator_prefix.is_empty() {
            if let Some(name) = code.strip_prefix(&self.operator_prefix) {
                return operator(name, &code, "operator");
            }
        }
        for rule in &self.rules {
            let Some(caps) = rule.regex.captures(&code) else {
                continue;
            };
            let kept = caps.name("code").map_or(code.as_str(), |m| m.as_str());
            if let Some(check) = rule.check {
                if !check_digit(check, kept) {
                    continue;
                }
            }
            let kind = match rule.kind {
                RuleKind::Order => CodeKind::Order,
                RuleKind::Tracking => CodeKind::Tracking,
                RuleKind::Operator => return operator(kept, &code, &rule.name),
                RuleKind::Reject => {
                    return Err(CodeError::Rejected {
                        code,
                        rule: rule.name.clone(),
                        message: rule.message.clone(),
                    })
                }
            };
            return Ok(Scan {
                code: kept.to_string(),
                kind,
                rule: rule.name.clone(),
            });
        }
        Err(CodeError::NoRule { code })
    }
}

fn operator(name: &str, code: &str, rule: &str) -> Result<Scan, CodeError> {
    let ok = (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return Err(CodeError::BadBadge { code: code.into() });
    }
    Ok(Scan {
        code: name.to_string(),
        kind: CodeKind::Operator,
        rule: rule.to_string(),
    })
}

/// Whether `code` passes the check-digit algorithm.
pub fn check_digit(check: CheckDigit, code: &str) -> bool {
    let b = code.as_bytes();
    match check {
        CheckDigit::Gs1 => digits(b).is_some_and(|d| d.len() >= 2 && gs1(&d)),
        CheckDigit::Mod7 => digits(b).is_some_and(|d| {
            let (body, last) = d.split_at(d.len().saturating_sub(1));
            !body.is_empty()
                && body.len() <= 18
                && body.iter().fold(0u64, |n, &x| n * 10 + x as u64) % 7 == last[0] as u64
        }),
        CheckDigit::Fedex12 => digits(b).is_some_and(|d| {
            let (body, last) = d.split_at(d.len().saturating_sub(1));
            let sum: u32 = body
                .iter()
                .rev()
                .zip([1u32, 3, 7].iter().cycle())
                .map(|(&x, &w)| x as u32 * w)
                .sum();
            !body.is_empty() && sum % 11 % 10 == last[0] as u32
        }),
        CheckDigit::Ups => {
            // 1Z + 15 characters + check digit; letters count as (ASCII - 63) mod 10.
            if b.len() != 18 || &b[..2] != b"1Z" {
                return false;
            }
            let mut sum = 0u32;
            for (i, &c) in b[2..17].iter().enumerate() {
                let v = match c {
                    b'0'..=b'9' => (c - b'0') as u32,
                    b'A'..=b'Z' => (c as u32 - 63) % 10,
                    _ => return false,
                };
                sum += if i % 2 == 1 { v * 2 } else { v };
            }
            b[17].is_ascii_digit() && (10 - sum % 10) % 10 == (b[17] - b'0') as u32
        }
        CheckDigit::S10 => {
            // Two letters, 8 serial digits, a check digit, two letters.
            if b.len() != 13 {
                return false;
            }
            let Some(d) = digits(&b[2..11]) else {
                return false;
            };
            let sum: u32 = d[..8]
                .iter()
                .zip([8u32, 6, 4, 2, 3, 5, 9, 7])
                .map(|(&x, w)| x as u32 * w)
                .sum();
            let check = match 11 - sum % 11 {
                10 => 0,
                11 => 5,
                c => c,
            };
            check == d[8] as u32
        }
    }
}

fn digits(b: &[u8]) -> Option<Vec<u8>> {
    b.iter()
        .map(|&c| c.is_ascii_digit().then(|| c - b'0'))
        .collect()
}

/// GS1 mod 10: weights 3, 1, 3, ... from the digit left of the check digit.
fn gs1(d: &[u8]) -> bool {
    let (body, last) = d.split_at(d.len() - 1);
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| x as u32 * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    (10 - sum % 10) % 10 == last[0] as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(raw: &str) -> Result<(CodeKind, String, String), CodeError> {
        let c = Classifier::new(&CodeConfig::default()).unwrap();
        c.classify(raw).map(|s| (s.kind, s.rule, s.code))
    }

    #[test]
    fn check_digits_against_published_examples() {
        assert!(check_digit(CheckDigit::Ups, "1Z999AA10123456784"));
        assert!(check_digit(CheckDigit::Ups, "1Z879E930346834440"));
        assert!(!check_digit(CheckDigit::Ups, "1Z999AA10123456785"));
        assert!(check_digit(CheckDigit::S10, "RB123456785GB"));
        assert!(!check_digit(CheckDigit::S10, "RB123456784GB"));
        assert!(check_digit(CheckDigit::Gs1, "4006381333931")); // EAN-13 from GS1's example
        assert!(check_digit(CheckDigit::Gs1, "9400111899223197428497")); // a 22-digit USPS IMpb number
        assert!(!check_digit(CheckDigit::Gs1, "4006381333932"));
        assert!(check_digit(CheckDigit::Mod7, "1234567891")); // 123456789 mod 7 = 1
        assert!(!check_digit(CheckDigit::Mod7, "1234567892"));
        // 98657878885: weights 1,3,7 from the right; sum mod 11 mod 10 is the check digit.
        assert!(check_digit(CheckDigit::Fedex12, "986578788855"));
        assert!(!check_digit(CheckDigit::Gs1, "12A4"));
    }

    #[test]
    fn control_codes_badges_and_defaults() {
        use CodeKind::*;
        let kind = |s: &str| classify(s).map(|t| t.0);
        assert_eq!(kind(" pw-stop\r"), Ok(Stop));
        assert_eq!(kind("PW-CANCEL"), Ok(Cancel));
        assert_eq!(kind("pw-box"), Ok(NextBox));
        assert_eq!(
            classify("op-alice").unwrap(),
            (Operator, "operator".into(), "ALICE".into())
        );
        assert!(matches!(classify("OP-"), Err(CodeError::BadBadge { .. })));
        assert!(matches!(
            classify("OP-A/B"),
            Err(CodeError::BadBadge { .. })
        ));
        // A space inside a badge is not part of it, as in any code.
        assert_eq!(
            classify("OP-A B").unwrap(),
            (Operator, "operator".into(), "AB".into())
        );
        for (code, rule) in [
            ("SF1234567890123", "sf"),
            ("sf1402018340210", "sf"),
            ("JDVA00012345678", "jd"),
            ("JDX012345678901", "jd"),
            ("YT7412345678901", "yto"),
            ("JT5012345678901", "jt"),
            ("73100012345678", "zto"),
            ("773012345678901", "sto"),
            ("4312345678901", "yunda"),
            ("9812345678901", "ems_cn"),
            ("EE123456785CN", "s10"),
            ("1Z999AA10123456784", "ups"),
            ("9400111899223197428497", "usps"),
            ("TBA123456789012", "amazon"),
            ("986578788855", "fedex"),
            ("1234567891", "dhl_express"),
            ("GM2951173225174494", "dhl_ecommerce"),
            ("LP00123456789012", "cainiao"),
        ] {
            let got = classify(code);
            assert!(
                matches!(&got, Ok((Tracking, r, _)) if r == rule),
                "{code}: {got:?}"
            );
        }
        // The USPS routing prefix is dropped: the tracking number is what lookup needs.
        assert_eq!(
            classify("42094107 9400111899223197428497".replace(' ', "").as_str())
                .unwrap()
                .2,
            "9400111899223197428497"
        );
        for (code, rule) in [
            ("SO-2026-0001", "prefixed"),
            ("demo-0001", "prefixed"),
            ("A1", "prefixed"),
            ("3745123456789012345", "marketplace_long"),
            ("231125-123456789012345", "pinduoduo"),
            ("112-1234567-1234567", "amazon_order"),
            ("#1001", "numeric"),
            ("300012345678", "numeric"),
        ] {
            let got = classify(code);
            assert!(
                matches!(&got, Ok((Order, r, _)) if r == rule),
                "{code}: {got:?}"
            );
        }
        // A product barcode is not an order: switching orders on it would misroute video.
        assert!(matches!(
            classify("6901234567892"),
            Err(CodeError::Rejected { .. })
        ));
        assert!(matches!(classify("HELLO"), Err(CodeError::NoRule { .. })));
        assert!(matches!(classify("a b c"), Err(CodeError::NoRule { .. })));
    }

    #[test]
    fn config_rules_replace_the_defaults_and_bad_ones_are_named() {
        let mut cfg = CodeConfig {
            rules: Some(vec![RuleConfig {
                name: "ours".into(),
                kind: RuleKind::Order,
                pattern: r"\d{12}".into(),
                check: None,
                message: None,
            }]),
            ..CodeConfig::default()
        };
        let c = Classifier::new(&cfg).unwrap();
        assert_eq!(c.classify("986578788855").unwrap().kind, CodeKind::Order);
        assert!(c.classify("SF1234567890123").is_err());
        cfg.rules.as_mut().unwrap()[0].pattern = "(".into();
        let err = Classifier::new(&cfg).err().unwrap().to_string();
        assert!(
            err.contains("codes.rule[0]") && err.contains("ours"),
            "{err}"
        );
    }

    #[test]
    fn normalisation() {
        // A scanner's CR/LF suffix is surrounding whitespace; a control character inside is not.
        assert_eq!(normalize("  so-123\r\n", 64).unwrap(), "SO-123");
        // Full-width input and spaces inside a code: as the scanner would have sent it.
        assert_eq!(normalize("ＳＦ１２３４　５６", 64).unwrap(), "SF123456");
        assert_eq!(normalize("sf 1234 56", 64).unwrap(), "SF123456");
        assert!(normalize("\u{3000} \u{3000}", 64).is_err());
        assert_eq!(
            normalize("so\u{7}123", 64).unwrap_err(),
            CodeError::Control { code: 7, pos: 2 }
        );
        assert_eq!(normalize("订单-a1", 64).unwrap(), "订单-A1");
        assert_eq!(normalize("", 64), Err(CodeError::Empty));
        assert!(matches!(
            normalize(&"9".repeat(500), 64),
            Err(CodeError::TooLong { len: 500, max: 64 })
        ));
        assert_eq!(normalize("../a/b", 64).unwrap(), "../A/B");
    }
}
