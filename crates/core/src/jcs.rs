//! RFC 8785 JSON Canonicalization Scheme (JCS), restricted to the values the format uses.
//!
//! Two halves: [`to_canonical`] writes a [`serde_json::Value`] as canonical bytes, and
//! [`check_canonical`] decides, in one pass and without building a tree, whether a byte
//! string already *is* canonical. Verification uses the second on every line, so an entry
//! can be hashed and signed over the exact bytes that arrived.
//!
//! The format has no floating-point numbers. Integers are written as ECMAScript writes them
//! (plain decimal digits, no sign on zero, no exponent), which RFC 8785 requires, and are
//! limited to the range an IEEE 754 double holds exactly (|n| <= 2^53 - 1, as I-JSON says),
//! so that every JCS implementation agrees on them. A fraction or an exponent is refused.

use std::cmp::Ordering;

use serde_json::Value;

/// The largest integer magnitude the format admits: 2^53 - 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Nesting deeper than this is refused, so that hostile input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 32;

/// Why a value cannot be written canonically, or why bytes are not canonical.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    /// A number with a fraction or exponent, or outside +/-(2^53 - 1).
    #[error("number {0} is not allowed: the format has only integers within +/-(2^53 - 1)")]
    Number(String),
    /// Bytes that are not canonical JSON, with the byte offset where that was noticed.
    #[error("not canonical JSON (RFC 8785) at byte {offset}: {reason}")]
    NotCanonical {
        /// Zero-based byte offset into the input.
        offset: usize,
        /// What is wrong there.
        reason: &'static str,
    },
}

/// Writes `value` as RFC 8785 canonical bytes.
pub fn to_canonical(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out)?;
    Ok(out)
}

/// Appends the canonical bytes of `value` to `out`.
pub fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            let text = if let Some(u) = n.as_u64().filter(|u| *u <= MAX_SAFE_INTEGER) {
                u.to_string()
            } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER) {
                i.to_string()
            } else {
                return Err(CanonicalError::Number(n.to_string()));
            };
            out.extend_from_slice(text.as_bytes());
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // RFC 8785 3.2.3: members sorted by the UTF-16 code units of their names,
            // whatever order the map keeps them in.
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| utf16_cmp(a.0, b.0));
            out.push(b'{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_value(v, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Orders strings by their UTF-16 code units, as RFC 8785 sorts member names.
pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.as_bytes().cmp(b.as_bytes());
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Appends `s` as a canonical JSON string: only `"` and `\` and the C0 controls are
/// escaped, the controls with their two-character forms where JSON has one and as
/// `\u00xx` (lowercase) otherwise.
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            0x09 => Some(b"\\t"),
            0x0a => Some(b"\\n"),
            0x0c => Some(b"\\f"),
            0x0d => Some(b"\\r"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match escape {
            Some(e) => out.extend_from_slice(e),
            None => {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(DIGITS[usize::from(b >> 4)]);
                out.push(DIGITS[usize::from(b & 0x0f)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// What a canonical escape stands for. `letter` is the byte after the backslash and
/// `digits` the four bytes after it, for `\u`. Returns the character and how many bytes
/// beyond the letter the escape takes, or why it is not canonical: only `\"`, `\\`, the
/// two-character forms of the five controls that have one, and `\u00xx` (lowercase) for
/// the other C0 controls.
pub(crate) fn canonical_escape(
    letter: u8,
    digits: Option<&[u8]>,
) -> Result<(char, usize), &'static str> {
    let ch = match letter {
        b'"' => '"',
        b'\\' => '\\',
        b'b' => '\u{8}',
        b't' => '\t',
        b'n' => '\n',
        b'f' => '\u{c}',
        b'r' => '\r',
        b'u' => {
            let digits = digits.ok_or("truncated \\u escape")?;
            let code = match digits {
                [
                    b'0',
                    b'0',
                    hi @ (b'0' | b'1'),
                    lo @ (b'0'..=b'9' | b'a'..=b'f'),
                ] => {
                    let lo = if lo.is_ascii_digit() {
                        lo - b'0'
                    } else {
                        lo - b'a' + 10
                    };
                    ((hi - b'0') << 4) | lo
                }
                _ => {
                    return Err(
                        "\\u escape of a character that must appear as itself (only C0 controls are escaped, in lowercase hex)",
                    );
                }
            };
            if matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                return Err(
                    "\\u escape where the two-character escape (\\b \\t \\n \\f \\r) is canonical",
                );
            }
            return Ok((char::from(code), 4));
        }
        _ => return Err("escape that canonical JSON does not use"),
    };
    Ok((ch, 0))
}

/// Checks that `input` is exactly the RFC 8785 canonical form of some JSON value of the
/// format: valid UTF-8, no insignificant whitespace, members in strictly increasing
/// UTF-16 order (so no duplicates), minimal string escapes, integers only and in canonical
/// form, nesting at most [`MAX_DEPTH`], nothing after the value.
pub fn check_canonical(input: &[u8]) -> Result<(), CanonicalError> {
    if let Err(e) = std::str::from_utf8(input) {
        return Err(CanonicalError::NotCanonical {
            offset: e.valid_up_to(),
            reason: "invalid UTF-8",
        });
    }
    let mut c = Checker {
        input,
        pos: 0,
        scratch: [String::new(), String::new()],
    };
    c.value(0)?;
    if c.pos != input.len() {
        return Err(c.fail("trailing bytes after the value"));
    }
    Ok(())
}

struct Checker<'a> {
    input: &'a [u8],
    pos: usize,
    /// Decoded member names, kept to compare each with the one before.
    scratch: [String; 2],
}

impl Checker<'_> {
    fn fail(&self, reason: &'static str) -> CanonicalError {
        CanonicalError::NotCanonical {
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn expect(&mut self, b: u8, reason: &'static str) -> Result<(), CanonicalError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.fail(reason))
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), CanonicalError> {
        if depth > MAX_DEPTH {
            return Err(self.fail("nested too deeply"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string(None),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b' ' | b'\t' | b'\n' | b'\r') => Err(self.fail("whitespace outside a string")),
            Some(_) => Err(self.fail("expected a JSON value")),
            None => Err(self.fail("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), CanonicalError> {
        if self.input[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.fail("expected true, false or null"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<(), CanonicalError> {
        self.pos += 1;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        let mut first = true;
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.fail("expected a member name"));
            }
            let name_at = self.pos;
            let mut name = std::mem::take(&mut self.scratch[1]);
            name.clear();
            self.string(Some(&mut name))?;
            if !first && utf16_cmp(&self.scratch[0], &name) != Ordering::Less {
                self.pos = name_at;
                return Err(self.fail(
                    "member names out of order or repeated (RFC 8785 sorts them by UTF-16 code units)",
                ));
            }
            first = false;
            self.scratch[1] = std::mem::replace(&mut self.scratch[0], name);
            self.expect(b':', "expected ':' right after a member name")?;
            // Member names of a nested object are compared among themselves.
            let saved = std::mem::take(&mut self.scratch[0]);
            self.value(depth + 1)?;
            self.scratch[0] = saved;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.fail("expected ',' or '}' right after a member")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), CanonicalError> {
        self.pos += 1;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.value(depth + 1)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.fail("expected ',' or ']' right after an element")),
            }
        }
    }

    /// Checks a string at `pos`; when `decoded` is given, writes the string's value to it.
    fn string(&mut self, mut decoded: Option<&mut String>) -> Result<(), CanonicalError> {
        self.pos += 1;
        let mut run_start = self.pos;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.fail("unterminated string"));
            };
            match b {
                b'"' => {
                    if let Some(d) = decoded.as_deref_mut() {
                        d.push_str(self.utf8(run_start, self.pos));
                    }
                    self.pos += 1;
                    return Ok(());
                }
                0x00..=0x1f => return Err(self.fail("raw control character in a string")),
                b'\\' => {
                    if let Some(d) = decoded.as_deref_mut() {
                        d.push_str(self.utf8(run_start, self.pos));
                    }
                    let ch = self.escape()?;
                    if let Some(d) = decoded.as_deref_mut() {
                        d.push(ch);
                    }
                    run_start = self.pos;
                }
                _ => self.pos += 1,
            }
        }
    }

    fn utf8(&self, from: usize, to: usize) -> &str {
        // The whole input was checked to be UTF-8 and runs end at ASCII bytes.
        std::str::from_utf8(&self.input[from..to]).unwrap_or_default()
    }

    /// Checks one escape sequence at `pos` (which holds the backslash) and returns the
    /// character it stands for.
    fn escape(&mut self) -> Result<char, CanonicalError> {
        self.pos += 1;
        let Some(b) = self.peek() else {
            return Err(self.fail("unterminated string"));
        };
        let (ch, extra) = canonical_escape(b, self.input.get(self.pos + 1..self.pos + 5))
            .map_err(|reason| self.fail(reason))?;
        self.pos += 1 + extra;
        Ok(ch)
    }

    fn number(&mut self) -> Result<(), CanonicalError> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if negative {
                    return Err(self.fail("-0 is not canonical (it is written 0)"));
                }
            }
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
            }
            _ => return Err(self.fail("expected a digit")),
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(self.fail("fraction or exponent: the format has no floating-point numbers"));
        }
        if matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.fail("leading zero"));
        }
        let digits = &self.input[start + usize::from(negative)..self.pos];
        let magnitude = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<u64>().ok());
        match magnitude {
            Some(m) if m <= MAX_SAFE_INTEGER => Ok(()),
            _ => {
                self.pos = start;
                Err(self.fail("integer outside +/-(2^53 - 1)"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(v: &Value) -> String {
        String::from_utf8(to_canonical(v).expect("canonical")).expect("utf8")
    }

    fn reason(input: &[u8]) -> (usize, &'static str) {
        match check_canonical(input) {
            Err(CanonicalError::NotCanonical { offset, reason }) => (offset, reason),
            other => panic!("expected NotCanonical for {input:?}, got {other:?}"),
        }
    }

    #[test]
    fn writes_sorted_compact_output() {
        let v = json!({"b": [1, true, null], "a": {"d": "x", "c": -7}, "": 0});
        assert_eq!(
            canonical(&v),
            r#"{"":0,"a":{"c":-7,"d":"x"},"b":[1,true,null]}"#
        );
    }

    /// RFC 8785 section 3.2.3, the sorting example. Its values are floats in the RFC; here
    /// they are replaced by integers (the format has no floats), the names are the RFC's.
    #[test]
    fn rfc8785_sorting_example_names() {
        let v = json!({
            "\u{20ac}": "Euro Sign",
            "\r": "Carriage Return",
            "\u{fb33}": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\u{1f600}": "Emoji: Grinning Face",
            "\u{80}": "Control",
            "\u{f6}": "Latin Small Letter O With Diaeresis"
        });
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        assert_eq!(canonical(&v), expected);
        assert_eq!(check_canonical(expected.as_bytes()), Ok(()));
    }

    /// RFC 8785 section 3.2.2.2, the string example: only `"`, `\` and controls escaped.
    #[test]
    fn rfc8785_string_escapes() {
        let v = json!(["\u{20ac}$\u{f}\nA'B\"\\\\\"/"]);
        let expected = "[\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"]";
        assert_eq!(canonical(&v), expected);
        assert_eq!(check_canonical(expected.as_bytes()), Ok(()));
    }

    #[test]
    fn refuses_floats_and_unsafe_integers_when_writing() {
        assert!(matches!(
            to_canonical(&json!(1.5)),
            Err(CanonicalError::Number(_))
        ));
        assert!(matches!(
            to_canonical(&json!(9_007_199_254_740_992u64)),
            Err(CanonicalError::Number(_))
        ));
        assert_eq!(
            canonical(&json!(9_007_199_254_740_991u64)),
            "9007199254740991"
        );
        assert_eq!(
            canonical(&json!(-9_007_199_254_740_991i64)),
            "-9007199254740991"
        );
    }

    #[test]
    fn accepts_canonical_input() {
        for ok in [
            &b"{}"[..],
            b"[]",
            b"0",
            b"-1",
            b"\"\\u001f\\b\\t\\n\\f\\r\\\"\\\\\"",
            b"{\"a\":{\"b\":1,\"c\":[{\"a\":null}]},\"b\":false}",
            "{\"\u{1f600}\":1,\"\u{e000}\":2}".as_bytes(),
        ] {
            assert_eq!(
                check_canonical(ok),
                Ok(()),
                "{}",
                String::from_utf8_lossy(ok)
            );
        }
    }

    #[test]
    fn refuses_each_kind_of_non_canonical_input() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"{\"a\": 1}", 5, "whitespace outside a string"),
            (
                b"{\"b\":1,\"a\":2}",
                7,
                "member names out of order or repeated (RFC 8785 sorts them by UTF-16 code units)",
            ),
            (
                b"{\"a\":1,\"a\":2}",
                7,
                "member names out of order or repeated (RFC 8785 sorts them by UTF-16 code units)",
            ),
            (
                b"1.0",
                1,
                "fraction or exponent: the format has no floating-point numbers",
            ),
            (
                b"1e3",
                1,
                "fraction or exponent: the format has no floating-point numbers",
            ),
            (b"-0", 2, "-0 is not canonical (it is written 0)"),
            (b"01", 1, "leading zero"),
            (b"9007199254740992", 0, "integer outside +/-(2^53 - 1)"),
            (
                b"\"\\u0041\"",
                2,
                "\\u escape of a character that must appear as itself (only C0 controls are escaped, in lowercase hex)",
            ),
            (
                b"\"\\u001F\"",
                2,
                "\\u escape of a character that must appear as itself (only C0 controls are escaped, in lowercase hex)",
            ),
            (
                b"\"\\u000a\"",
                2,
                "\\u escape where the two-character escape (\\b \\t \\n \\f \\r) is canonical",
            ),
            (b"\"\\/\"", 2, "escape that canonical JSON does not use"),
            (b"\"a\nb\"", 2, "raw control character in a string"),
            (b"{}x", 2, "trailing bytes after the value"),
            (b"\"abc", 4, "unterminated string"),
            (b"tru", 0, "expected true, false or null"),
            (b"", 0, "unexpected end of input"),
            (b"\"\xff\"", 1, "invalid UTF-8"),
        ];
        for (input, offset, why) in cases {
            assert_eq!(
                reason(input),
                (*offset, *why),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn refuses_deep_nesting_without_overflowing() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(reason(deep.as_bytes()).1, "nested too deeply");
    }

    #[test]
    fn utf16_order_differs_from_code_point_order_above_the_bmp() {
        // U+1F600 is a surrogate pair (D83D DE00), which sorts before U+E000 in UTF-16.
        assert_eq!(utf16_cmp("\u{1f600}", "\u{e000}"), Ordering::Less);
        assert_eq!(
            check_canonical("{\"\u{1f600}\":1,\"\u{e000}\":2}".as_bytes()),
            Ok(())
        );
        assert!(check_canonical("{\"\u{e000}\":1,\"\u{1f600}\":2}".as_bytes()).is_err());
    }
}
