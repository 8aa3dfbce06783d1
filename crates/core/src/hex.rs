//! Lowercase hexadecimal, the only spelling of hashes, keys and signatures in the format.

/// Encodes bytes as lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    encode_into(bytes, &mut out);
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the lowercase hex of `bytes` to `out`.
pub fn encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
}

/// Why a hex string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HexError {
    /// The string does not have the expected number of digits.
    #[error("expected {expected} lowercase hex digits, found {found} characters")]
    Length {
        /// Digits expected.
        expected: usize,
        /// Characters found.
        found: usize,
    },
    /// A character that is not a lowercase hex digit.
    #[error("character {index} is not a lowercase hex digit (0-9, a-f)")]
    Digit {
        /// Zero-based index of the offending character.
        index: usize,
    },
}

/// The value of each lowercase hex digit; 0xff for every other byte.
const NIBBLES: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

fn nibble(c: u8) -> Option<u8> {
    let v = NIBBLES[usize::from(c)];
    (v != 0xff).then_some(v)
}

/// Decodes `N` bytes from exactly `2 * N` lowercase hex digits given as bytes, or `None`
/// if there are not exactly that many or one is not a lowercase hex digit. Every digit is
/// looked up without a branch; one test at the end says whether any was bad.
pub fn decode_bytes<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    // A digit's value is below 16; a bad one's is 0xff, which leaves high bits set here.
    let mut seen = 0u8;
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let hi = NIBBLES[usize::from(pair[0])];
        let lo = NIBBLES[usize::from(pair[1])];
        seen |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    (seen < 16).then_some(out)
}

/// Decodes exactly `N` bytes from `2 * N` lowercase hex digits. Uppercase is refused: the
/// format has one spelling for every value.
pub fn decode_array<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let bytes = s.as_bytes();
    if bytes.len() != 2 * N {
        return Err(HexError::Length {
            expected: 2 * N,
            found: s.chars().count(),
        });
    }
    decode_bytes(bytes).ok_or_else(|| HexError::Digit {
        index: bytes.iter().position(|c| nibble(*c).is_none()).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        let bytes = [0x00, 0x7f, 0x80, 0xff, 0x1a];
        let s = encode(&bytes);
        assert_eq!(s, "007f80ff1a");
        assert_eq!(decode_array::<5>(&s), Ok(bytes));
        let mut v = Vec::new();
        encode_into(&bytes, &mut v);
        assert_eq!(v, s.as_bytes());
        assert_eq!(
            decode_array::<5>("007F80ff1a"),
            Err(HexError::Digit { index: 3 })
        );
        assert_eq!(
            decode_array::<5>("007f80ff1"),
            Err(HexError::Length {
                expected: 10,
                found: 9
            })
        );
        assert_eq!(decode_array::<1>("é"), Err(HexError::Digit { index: 0 }));
        assert_eq!(decode_bytes::<2>(b"0aff"), Some([0x0a, 0xff]));
        for bad in [b"0aFf", b"0a\"f", b"g0ff", b"0a f"] {
            assert_eq!(decode_bytes::<2>(bad), None);
        }
        assert_eq!(decode_bytes::<2>(b"0af"), None);
    }
}
