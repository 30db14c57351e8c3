//! restic stores node names as Go's `strconv.Quote` output without the surrounding
//! quotes: arbitrary bytes (non-UTF-8 included) survive as `\xNN` escapes. This module
//! writes that form and reads it back (`strconv.Unquote` must accept what we write).

use std::fmt::Write;

fn is_printable(c: char) -> bool {
    // Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space.
    // Controls, format characters and separators other than ' ' are escaped.
    !(c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
            | '\u{e000}'..='\u{f8ff}'))
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if is_printable(c) => out.push(c),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// Quotes raw bytes the way Go's `strconv.Quote` does, without the outer quotes.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                s.chars().for_each(|c| push_escaped(&mut out, c));
                return out;
            }
            Err(e) => {
                let (valid, bad) = rest.split_at(e.valid_up_to());
                std::str::from_utf8(valid)
                    .expect("valid prefix")
                    .chars()
                    .for_each(|c| push_escaped(&mut out, c));
                let n = e.error_len().unwrap_or(bad.len());
                for b in &bad[..n] {
                    let _ = write!(out, "\\x{b:02x}");
                }
                rest = &bad[n..];
            }
        }
    }
}

/// Reverses [`quote`] (and accepts every escape Go's `strconv.Unquote` does).
pub fn unquote(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    let hex = |chars: &mut std::str::Chars, n: usize| -> Option<u32> {
        let h: String = chars.by_ref().take(n).collect();
        if h.len() != n {
            return None;
        }
        u32::from_str_radix(&h, 16).ok()
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        let e = chars.next()?;
        let simple = match e {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            '\'' => Some(b'\''),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        match e {
            'x' => out.push(hex(&mut chars, 2)? as u8),
            'u' | 'U' => {
                let c = char::from_u32(hex(&mut chars, if e == 'u' { 4 } else { 8 })?)?;
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&format!("{e}{rest}"), 8).ok()?);
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for name in [
            &b"plain.txt"[..],
            b"with space",
            b"new\nline",
            b"quote\"and\\back",
            b"\xff\xfeinvalid",
            "ünïcødé ✓".as_bytes(),
            b"tab\tbell\x07del\x7f",
            "nbsp\u{a0}".as_bytes(),
        ] {
            let q = quote(name);
            assert!(!q.contains('\n'));
            assert_eq!(unquote(&q).unwrap(), name, "{q}");
        }
        assert_eq!(quote(b"a\xffb"), "a\\xffb");
        assert_eq!(quote("a\"b".as_bytes()), "a\\\"b");
    }
}
