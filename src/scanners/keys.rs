//! Keyboard-wedge scanners: Linux `input_event` records in, typed codes out (US layout).

use evdev::KeyCode;

/// `EV_KEY` in `linux/input-event-codes.h`.
const EV_KEY: u16 = 0x01;

/// The size of one `struct input_event` on this machine (24 bytes on 64-bit Linux).
pub const EVENT_SIZE: usize = std::mem::size_of::<libc::input_event>();

/// The longest code kept while typing; longer ones are reported with their length.
const MAX_TYPED: usize = 4096;

/// One decoded record: the `type`, `code` and `value` fields of `struct input_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEvent {
    pub kind: u16,
    pub code: u16,
    pub value: i32,
}

/// Reads the fields of one native-endian `struct input_event` (the time is not used).
pub fn parse_event(record: &[u8; EVENT_SIZE]) -> KeyEvent {
    let at = EVENT_SIZE - 8;
    let u16_at = |i: usize| u16::from_ne_bytes([record[i], record[i + 1]]);
    KeyEvent {
        kind: u16_at(at),
        code: u16_at(at + 2),
        value: i32::from_ne_bytes([
            record[at + 4],
            record[at + 5],
            record[at + 6],
            record[at + 7],
        ]),
    }
}

/// Encodes one record (for tests and tools that stand in for a device).
pub fn encode_event(kind: u16, code: u16, value: i32) -> [u8; EVENT_SIZE] {
    let mut out = [0u8; EVENT_SIZE];
    let at = EVENT_SIZE - 8;
    out[at..at + 2].copy_from_slice(&kind.to_ne_bytes());
    out[at + 2..at + 4].copy_from_slice(&code.to_ne_bytes());
    out[at + 4..at + 8].copy_from_slice(&value.to_ne_bytes());
    out
}

/// What a finished line of keys was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// The characters typed before Enter or Tab.
    Code(String),
    /// A key with no character in the US layout (or pressed with Ctrl/Alt) was among them.
    UnknownKey { key: u16 },
    /// More than [`MAX_TYPED`] characters came without an Enter.
    TooLong { len: usize },
}

/// Turns key presses into codes: shift and caps lock handled, Enter, keypad Enter or Tab end a
/// code, anything that is not a key press (sync, scan-code, LED, repeat of modifiers) is skipped.
#[derive(Debug, Default)]
pub struct KeyDecoder {
    left_shift: bool,
    right_shift: bool,
    caps: bool,
    ctrl_alt: u8,
    buf: String,
    len: usize,
    bad: Option<u16>,
}

impl KeyDecoder {
    pub fn new() -> KeyDecoder {
        KeyDecoder::default()
    }

    /// Forgets a code cut short (the device went away mid-scan).
    pub fn reset(&mut self) {
        *self = KeyDecoder::default();
    }

    /// Feeds one event; returns a finished code on Enter or Tab.
    pub fn feed(&mut self, ev: KeyEvent) -> Option<Typed> {
        if ev.kind != EV_KEY {
            return None;
        }
        let key = KeyCode::new(ev.code);
        let pressed = ev.value != 0;
        match key {
            KeyCode::KEY_LEFTSHIFT => self.left_shift = pressed,
            KeyCode::KEY_RIGHTSHIFT => self.right_shift = pressed,
            KeyCode::KEY_LEFTCTRL
            | KeyCode::KEY_RIGHTCTRL
            | KeyCode::KEY_LEFTALT
            | KeyCode::KEY_RIGHTALT
            | KeyCode::KEY_LEFTMETA
            | KeyCode::KEY_RIGHTMETA => {
                let index = [29u16, 97, 56, 100, 125, 126]
                    .iter()
                    .position(|&c| c == ev.code)
                    .unwrap_or(0);
                let bit = 1u8 << index;
                if pressed {
                    self.ctrl_alt |= bit;
                } else {
                    self.ctrl_alt &= !bit;
                }
            }
            KeyCode::KEY_CAPSLOCK if ev.value == 1 => self.caps = !self.caps,
            KeyCode::KEY_CAPSLOCK => {}
            KeyCode::KEY_ENTER | KeyCode::KEY_KPENTER | KeyCode::KEY_TAB if ev.value == 1 => {
                return self.finish();
            }
            _ if !pressed => {}
            _ => {
                let shift = self.left_shift || self.right_shift;
                match (self.ctrl_alt == 0).then(|| us_char(key, shift)).flatten() {
                    Some(c) => {
                        let c = if self.caps && c.is_ascii_alphabetic() {
                            if c.is_ascii_lowercase() {
                                c.to_ascii_uppercase()
                            } else {
                                c.to_ascii_lowercase()
                            }
                        } else {
                            c
                        };
                        self.len += 1;
                        if self.buf.len() < MAX_TYPED {
                            self.buf.push(c);
                        }
                    }
                    None => {
                        self.bad.get_or_insert(ev.code);
                    }
                }
            }
        }
        None
    }

    fn finish(&mut self) -> Option<Typed> {
        let out = if let Some(key) = self.bad.take() {
            Typed::UnknownKey { key }
        } else if self.len > MAX_TYPED {
            Typed::TooLong { len: self.len }
        } else if self.buf.is_empty() {
            return None; // a bare Enter: nothing was scanned
        } else {
            Typed::Code(std::mem::take(&mut self.buf))
        };
        self.buf.clear();
        self.len = 0;
        Some(out)
    }
}

/// The character a key types on a US keyboard.
fn us_char(key: KeyCode, shift: bool) -> Option<char> {
    const LETTERS: [(KeyCode, char); 26] = [
        (KeyCode::KEY_A, 'a'),
        (KeyCode::KEY_B, 'b'),
        (KeyCode::KEY_C, 'c'),
        (KeyCode::KEY_D, 'd'),
        (KeyCode::KEY_E, 'e'),
        (KeyCode::KEY_F, 'f'),
        (KeyCode::KEY_G, 'g'),
        (KeyCode::KEY_H, 'h'),
        (KeyCode::KEY_I, 'i'),
        (KeyCode::KEY_J, 'j'),
        (KeyCode::KEY_K, 'k'),
        (KeyCode::KEY_L, 'l'),
        (KeyCode::KEY_M, 'm'),
        (KeyCode::KEY_N, 'n'),
        (KeyCode::KEY_O, 'o'),
        (KeyCode::KEY_P, 'p'),
        (KeyCode::KEY_Q, 'q'),
        (KeyCode::KEY_R, 'r'),
        (KeyCode::KEY_S, 's'),
        (KeyCode::KEY_T, 't'),
        (KeyCode::KEY_U, 'u'),
        (KeyCode::KEY_V, 'v'),
        (KeyCode::KEY_W, 'w'),
        (KeyCode::KEY_X, 'x'),
        (KeyCode::KEY_Y, 'y'),
        (KeyCode::KEY_Z, 'z'),
    ];
    // (key, unshifted, shifted)
    const OTHERS: [(KeyCode, char, char); 22] = [
        (KeyCode::KEY_1, '1', '!'),
        (KeyCode::KEY_2, '2', '@'),
        (KeyCode::KEY_3, '3', '#'),
        (KeyCode::KEY_4, '4', '$'),
        (KeyCode::KEY_5, '5', '%'),
        (KeyCode::KEY_6, '6', '^'),
        (KeyCode::KEY_7, '7', '&'),
        (KeyCode::KEY_8, '8', '*'),
        (KeyCode::KEY_9, '9', '('),
        (KeyCode::KEY_0, '0', ')'),
        (KeyCode::KEY_MINUS, '-', '_'),
        (KeyCode::KEY_EQUAL, '=', '+'),
        (KeyCode::KEY_LEFTBRACE, '[', '{'),
        (KeyCode::KEY_RIGHTBRACE, ']', '}'),
        (KeyCode::KEY_SEMICOLON, ';', ':'),
        (KeyCode::KEY_APOSTROPHE, '\'', '"'),
        (KeyCode::KEY_GRAVE, '`', '~'),
        (KeyCode::KEY_BACKSLASH, '\\', '|'),
        (KeyCode::KEY_COMMA, ',', '<'),
        (KeyCode::KEY_DOT, '.', '>'),
        (KeyCode::KEY_SLASH, '/', '?'),
        (KeyCode::KEY_SPACE, ' ', ' '),
    ];
    // The keypad types the same with or without shift (num lock on, as scanners send it).
    const KEYPAD: [(KeyCode, char); 15] = [
        (KeyCode::KEY_KP0, '0'),
        (KeyCode::KEY_KP1, '1'),
        (KeyCode::KEY_KP2, '2'),
        (KeyCode::KEY_KP3, '3'),
        (KeyCode::KEY_KP4, '4'),
        (KeyCode::KEY_KP5, '5'),
        (KeyCode::KEY_KP6, '6'),
        (KeyCode::KEY_KP7, '7'),
        (KeyCode::KEY_KP8, '8'),
        (KeyCode::KEY_KP9, '9'),
        (KeyCode::KEY_KPMINUS, '-'),
        (KeyCode::KEY_KPPLUS, '+'),
        (KeyCode::KEY_KPDOT, '.'),
        (KeyCode::KEY_KPSLASH, '/'),
        (KeyCode::KEY_KPASTERISK, '*'),
    ];
    if let Some(&(_, c)) = LETTERS.iter().find(|(k, _)| *k == key) {
        return Some(if shift { c.to_ascii_uppercase() } else { c });
    }
    if let Some(&(_, plain, shifted)) = OTHERS.iter().find(|(k, _, _)| *k == key) {
        return Some(if shift { shifted } else { plain });
    }
    KEYPAD.iter().find(|(k, _)| *k == key).map(|&(_, c)| c)
}

/// The key presses that type `text` on a US keyboard, each followed by a release, with shift
/// around shifted characters, then Enter: what a keyboard-wedge scanner sends for one code.
/// Characters with no key are skipped. For tests and for feeding a station by hand.
pub fn type_code(text: &str) -> Vec<KeyEvent> {
    let mut out = Vec::new();
    let key = |code: KeyCode, value| KeyEvent {
        kind: EV_KEY,
        code: code.code(),
        value,
    };
    for c in text.chars() {
        let found = (0u16..256).map(KeyCode::new).find_map(|k| {
            if us_char(k, false) == Some(c) && !is_keypad(k) {
                Some((k, false))
            } else if us_char(k, true) == Some(c) && !is_keypad(k) {
                Some((k, true))
            } else {
                None
            }
        });
        let Some((k, shift)) = found else { continue };
        if shift {
            out.push(key(KeyCode::KEY_LEFTSHIFT, 1));
        }
        out.push(key(k, 1));
        out.push(key(k, 0));
        if shift {
            out.push(key(KeyCode::KEY_LEFTSHIFT, 0));
        }
    }
    out.push(key(KeyCode::KEY_ENTER, 1));
    out.push(key(KeyCode::KEY_ENTER, 0));
    out
}

fn is_keypad(k: KeyCode) -> bool {
    (71..=83).contains(&k.code()) || [55, 98].contains(&k.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(events: &[KeyEvent]) -> Vec<Typed> {
        let mut d = KeyDecoder::new();
        events.iter().filter_map(|e| d.feed(*e)).collect()
    }

    #[test]
    fn records_round_trip_and_are_24_bytes_on_x86_64() {
        #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
        assert_eq!(EVENT_SIZE, 24);
        let r = encode_event(1, 30, 1);
        assert_eq!(
            parse_event(&r),
            KeyEvent {
                kind: 1,
                code: 30,
                value: 1
            }
        );
    }

    #[test]
    fn shift_caps_keypad_and_terminators() {
        assert_eq!(
            decode(&type_code("So-2026_a./b")),
            vec![Typed::Code("So-2026_a./b".into())]
        );
        let k = |code: u16, value| KeyEvent {
            kind: 1,
            code,
            value,
        };
        // Caps lock inverts letters only; keypad digits; Tab ends a code like Enter.
        let events = [
            k(58, 1),
            k(58, 0),
            k(30, 1),
            k(30, 0),
            k(2, 1),
            k(2, 0),
            k(58, 1),
            k(58, 0),
            k(79, 1),
            k(79, 0),
            k(15, 1),
            k(15, 0),
        ];
        assert_eq!(decode(&events), vec![Typed::Code("A11".into())]);
        // Right shift, autorepeat (value 2) types again; sync and scan-code events are skipped.
        let events = [
            KeyEvent {
                kind: 4,
                code: 4,
                value: 0x70004,
            },
            k(54, 1),
            k(48, 1),
            k(48, 2),
            k(48, 0),
            k(54, 0),
            KeyEvent {
                kind: 0,
                code: 0,
                value: 0,
            },
            k(96, 1),
        ];
        assert_eq!(decode(&events), vec![Typed::Code("BB".into())]);
    }

    #[test]
    fn unknown_keys_and_ctrl_spoil_only_their_own_code() {
        let k = |code: u16, value| KeyEvent {
            kind: 1,
            code,
            value,
        };
        let mut events = vec![k(59, 1), k(59, 0)]; // F1
        events.extend(type_code("A1"));
        events.extend(type_code("B2"));
        events.extend([k(29, 1), k(46, 1), k(46, 0), k(29, 0)]); // Ctrl-C
        events.extend(type_code("C3"));
        assert_eq!(
            decode(&events),
            vec![
                Typed::UnknownKey { key: 59 },
                Typed::Code("B2".into()),
                Typed::UnknownKey { key: 46 },
            ]
        );
        // A bare Enter is nothing.
        assert_eq!(decode(&type_code("")), vec![]);
    }

    #[test]
    fn an_endless_code_is_reported_with_its_length() {
        let one = type_code("7");
        let mut events = Vec::new();
        for _ in 0..5000 {
            events.extend_from_slice(&one[..2]);
        }
        events.extend_from_slice(&one[2..]);
        assert_eq!(decode(&events), vec![Typed::TooLong { len: 5000 }]);
    }
}
