//! Trigger: scanned codes in, station commands out.
//!
//! Owns: normalising and validating scanned codes (the same rules at recording and at lookup),
//! telling order codes from control codes, and scanner inputs (standard input for now).
//! Never: touches video or files.

use std::io::BufRead;
use std::sync::mpsc::Sender;

use crate::config::CodeConfig;

/// What a station is told to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start (or switch to) the clip of this order.
    Order(String),
    /// Seal the open clip.
    Stop,
    /// Seal everything and end the session.
    Shutdown,
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
}

/// Normalises a code as scanned or typed: surrounding whitespace removed, ASCII letters
/// upper-cased (scanners and people disagree on case; order numbers do not depend on it).
/// Refuses empty codes, codes longer than `max_len` characters and control characters.
///
/// ```
/// use packwitness::trigger::{normalize, CodeError};
/// assert_eq!(normalize(" so-2026-001\r\n", 64).unwrap(), "SO-2026-001");
/// assert!(matches!(normalize("A\u{7}B", 64), Err(CodeError::Control { .. })));
/// ```
pub fn normalize(raw: &str, max_len: usize) -> Result<String, CodeError> {
    let code = raw.trim();
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

/// Turns one scan into a command.
pub fn classify(raw: &str, rules: &CodeConfig) -> Result<Command, CodeError> {
    let code = normalize(raw, rules.max_len)?;
    if code == rules.stop.to_ascii_uppercase() {
        Ok(Command::Stop)
    } else {
        Ok(Command::Order(code))
    }
}

/// Reads one scan per line from `input` (a terminal or a pipe) until end of input, then sends
/// [`Command::Shutdown`]. Refused scans are reported and never reach the station.
pub fn read_lines(input: impl BufRead, rules: &CodeConfig, to: &Sender<Command>) {
    for line in input.lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "reading scans from standard input failed; stopping");
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match classify(&line, rules) {
            Ok(cmd) => {
                tracing::info!(?cmd, "scan");
                if to.send(cmd).is_err() {
                    return;
                }
            }
            Err(e) => tracing::warn!(scan = %line.escape_debug(), error = %e, "scan refused"),
        }
    }
    let _ = to.send(Command::Shutdown);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        // A scanner's CR/LF suffix is surrounding whitespace; a control character inside is not.
        assert_eq!(normalize("  so-123\r\n", 64).unwrap(), "SO-123");
        assert_eq!(
            normalize("so\u{7}123", 64).unwrap_err(),
            CodeError::Control { code: 7, pos: 2 }
        );
        assert_eq!(normalize("  so-123 ", 64).unwrap(), "SO-123");
        assert_eq!(normalize("订单-a1", 64).unwrap(), "订单-A1");
        assert_eq!(normalize("", 64), Err(CodeError::Empty));
        assert!(matches!(
            normalize(&"9".repeat(500), 64),
            Err(CodeError::TooLong { len: 500, max: 64 })
        ));
        assert!(matches!(
            normalize("A\u{1b}[2J", 64),
            Err(CodeError::Control { code: 0x1b, .. })
        ));
        // Path-like codes are valid codes; the clip writer makes safe file names of them.
        assert_eq!(normalize("../a/b", 64).unwrap(), "../A/B");
    }

    #[test]
    fn stop_code_and_orders() {
        let rules = CodeConfig::default();
        assert_eq!(classify("pw-stop", &rules), Ok(Command::Stop));
        assert_eq!(
            classify("SF1234567890123", &rules),
            Ok(Command::Order("SF1234567890123".into()))
        );
    }

    #[test]
    fn stdin_lines_become_commands_then_shutdown() {
        let (tx, rx) = std::sync::mpsc::channel();
        let input = "A1\n\n\u{7}bad\nPW-STOP\n";
        read_lines(input.as_bytes(), &CodeConfig::default(), &tx);
        let got: Vec<_> = rx.try_iter().collect();
        assert_eq!(
            got,
            vec![
                Command::Order("A1".into()),
                Command::Stop,
                Command::Shutdown
            ]
        );
    }
}
