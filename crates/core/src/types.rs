//! The small values of the format, each a type of its own that can only hold a valid value:
//! sequence numbers, hashes, calendar dates, record instants, identifiers and texts.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hex;
use crate::jcs::MAX_SAFE_INTEGER;

/// Why a value of the format was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A hash, key or signature that is not lowercase hex of the right length.
    #[error("{what}: {source}")]
    Hex {
        /// Which kind of value.
        what: &'static str,
        /// The underlying hex error.
        source: hex::HexError,
    },
    /// A date that is not `YYYY-MM-DD` or does not exist.
    #[error("date {0:?} is not a calendar date written YYYY-MM-DD")]
    Date(String),
    /// An instant that is not `YYYY-MM-DDTHH:MM:SSZ`.
    #[error("instant {0:?} is not a UTC time written YYYY-MM-DDTHH:MM:SSZ")]
    Instant(String),
    /// An identifier that does not match its pattern.
    #[error("{what} {value:?} is not valid: {rule}")]
    Identifier {
        /// Which kind of identifier.
        what: &'static str,
        /// The value refused (truncated if long).
        value: String,
        /// The pattern it must follow.
        rule: &'static str,
    },
    /// A text that is empty, too long or holds control characters.
    #[error("{what} is not valid: {rule}")]
    Text {
        /// Which kind of text.
        what: &'static str,
        /// What is wrong with it.
        rule: String,
    },
    /// A sequence number beyond 2^53 - 1.
    #[error("sequence number {0} is larger than 2^53 - 1")]
    Seq(u64),
}

/// The position of an entry in its ledger, from 0 (the treaty's registration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Seq(u64);

impl Seq {
    /// The first entry of every ledger.
    pub const GENESIS: Seq = Seq(0);

    /// A sequence number, if it is within the range every JSON reader holds exactly.
    pub fn new(n: u64) -> Result<Seq, ValueError> {
        if n <= MAX_SAFE_INTEGER {
            Ok(Seq(n))
        } else {
            Err(ValueError::Seq(n))
        }
    }

    /// The number itself.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The next sequence number, if there is one.
    pub fn next(self) -> Option<Seq> {
        Seq::new(self.0 + 1).ok()
    }
}

impl FromStr for Seq {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Seq, ValueError> {
        let digits_only = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match s.parse::<u64>() {
            Ok(n) if digits_only => Seq::new(n),
            _ => Err(ValueError::Identifier {
                what: "entry number",
                value: clip(s),
                rule: "a whole number from 0 to 2^53 - 1",
            }),
        }
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Seq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Seq::new(u64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

macro_rules! hex_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Wraps raw bytes.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                $name(bytes)
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hex, as the format writes it.
            pub fn to_hex(&self) -> String {
                hex::encode(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                hex::decode_array::<$len>(s)
                    .map($name)
                    .map_err(|source| ValueError::Hex { what: $what, source })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_bytes!(
    /// The BLAKE3 hash of an entry (see `docs/FORMAT.md`), which the next entry names as `prev`.
    EntryHash,
    32,
    "entry hash"
);
hex_bytes!(
    /// An Ed25519 public key as its 32-byte encoding (RFC 8032). Whether it is a usable key
    /// (a point on the curve, not of small order) is checked where it is used.
    PublicKey,
    32,
    "public key"
);
hex_bytes!(
    /// An Ed25519 signature (RFC 8032): R then S, 64 bytes.
    SignatureBytes,
    64,
    "signature"
);
hex_bytes!(
    /// A SHA-256 or BLAKE3 digest of a document (an amendment's text), 32 bytes.
    Digest32,
    32,
    "text hash"
);

impl EntryHash {
    /// The `prev` of entry 0: 64 zeros.
    pub const ZERO: EntryHash = EntryHash([0; 32]);
}

/// A calendar date (valid time): the day an act legally happened. No time, no zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(NaiveDate);

impl Date {
    /// The last day the format can write, 9999-12-31: "everything, whatever its date".
    pub const LAST: Date = match NaiveDate::from_ymd_opt(9999, 12, 31) {
        Some(d) => Date(d),
        None => Date(NaiveDate::MAX),
    };

    /// A date from its year, month and day, if it exists and its year has four digits.
    pub fn from_ymd(y: i32, m: u32, d: u32) -> Option<Date> {
        NaiveDate::from_ymd_opt(y, m, d)
            .filter(|d| (1..=9999).contains(&d.year()))
            .map(Date)
    }

    /// The chrono value.
    pub fn naive(self) -> NaiveDate {
        self.0
    }

    /// Days since 0001-01-01 (which is day 1), for compact storage.
    pub fn to_days(self) -> i32 {
        self.0.num_days_from_ce()
    }

    /// The date `days` days after 0000-12-31 (the inverse of [`Date::to_days`]).
    pub fn from_days(days: i32) -> Option<Date> {
        NaiveDate::from_num_days_from_ce_opt(days)
            .filter(|d| (1..=9999).contains(&d.year()))
            .map(Date)
    }

    /// The date `days` calendar days later ("the ninetieth day after" = `plus_days(90)`).
    pub fn plus_days(self, days: u32) -> Option<Date> {
        self.0
            .checked_add_days(chrono::Days::new(u64::from(days)))
            .filter(|d| d.year() <= 9999)
            .map(Date)
    }

    /// The same day `months` months later; a day the target month lacks becomes its last
    /// day (31 January + 1 month = 28 or 29 February; 29 February + 12 months = 28 February).
    pub fn plus_months(self, months: u32) -> Option<Date> {
        self.0
            .checked_add_months(Months::new(months))
            .filter(|d| d.year() <= 9999)
            .map(Date)
    }

    /// Formats as the UN Treaty Collection does: `25 Oct 2025`.
    pub fn display_long(self) -> String {
        self.0.format("%-d %b %Y").to_string()
    }
}

/// Reads `N` ASCII digits as a number.
fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

/// Reads `YYYY-MM-DD` from the first ten bytes.
fn parse_ymd(b: &[u8]) -> Option<NaiveDate> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = i32::try_from(digits(&b[..4])?).ok()?;
    NaiveDate::from_ymd_opt(y, digits(&b[5..7])?, digits(&b[8..10])?).filter(|d| d.year() >= 1)
}

impl FromStr for Date {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Date, ValueError> {
        let b = s.as_bytes();
        (b.len() == 10)
            .then(|| parse_ymd(b))
            .flatten()
            .map(Date)
            .ok_or_else(|| ValueError::Date(clip(s)))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            self.0.month(),
            self.0.day()
        )
    }
}

/// A UTC instant to the second (record time): when the registrar recorded an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(NaiveDateTime);

impl Instant {
    /// The instant at the start (00:00:00Z) of a date.
    pub fn start_of(date: Date) -> Instant {
        Instant(date.0.and_time(NaiveTime::MIN))
    }

    /// An instant from a chrono UTC time, truncated to the second.
    pub fn from_naive_utc(t: NaiveDateTime) -> Option<Instant> {
        let t = t.with_nanosecond(0)?;
        (1..=9999).contains(&t.year()).then_some(Instant(t))
    }

    /// The calendar date of this instant in UTC.
    pub fn date(self) -> Date {
        Date(self.0.date())
    }

    /// The chrono value.
    pub fn naive(self) -> NaiveDateTime {
        self.0
    }
}

impl FromStr for Instant {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Instant, ValueError> {
        let b = s.as_bytes();
        let parsed =
            (b.len() == 20 && b[10] == b'T' && b[13] == b':' && b[16] == b':' && b[19] == b'Z')
                .then(|| {
                    let date = parse_ymd(b)?;
                    let time = NaiveTime::from_hms_opt(
                        digits(&b[11..13])?,
                        digits(&b[14..16])?,
                        digits(&b[17..19])?,
                    )?;
                    Some(Instant(date.and_time(time)))
                })
                .flatten();
        parsed.ok_or_else(|| ValueError::Instant(clip(s)))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (d, t) = (self.0.date(), self.0.time());
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            d.month(),
            d.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

macro_rules! string_serde {
    ($name:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

string_serde!(Date);
string_serde!(Instant);

/// Shortens a refused value for an error message.
fn clip(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $what:expr, $rule:expr, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// The identifier as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                let check: fn(&[u8]) -> bool = $check;
                if check(s.as_bytes()) {
                    Ok($name(Arc::from(s)))
                } else {
                    Err(ValueError::Identifier { what: $what, value: clip(s), rule: $rule })
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        string_serde!($name);
    };
}

/// A participant: ISO 3166-1 alpha-3 for a State (`FRA`), a short code for an organization
/// (`EU`). Two to sixteen characters: an uppercase letter, then uppercase letters or digits.
///
/// Held inline, padded with zero bytes (which no id contains, so byte order is the order of
/// the ids as text): most entries name one, and reading it allocates nothing.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartyId([u8; PartyId::MAX]);

impl PartyId {
    const MAX: usize = 16;

    /// The identifier as written.
    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|b| *b == 0).unwrap_or(Self::MAX);
        // Only ASCII letters and digits are ever stored.
        std::str::from_utf8(&self.0[..len]).unwrap_or_default()
    }
}

impl FromStr for PartyId {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        if (2..=Self::MAX).contains(&b.len())
            && b[0].is_ascii_uppercase()
            && b.iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            let mut id = [0u8; Self::MAX];
            id[..b.len()].copy_from_slice(b);
            Ok(PartyId(id))
        } else {
            Err(ValueError::Identifier {
                what: "participant id",
                value: clip(s),
                rule: "2 to 16 characters, an uppercase letter then uppercase letters or digits (FRA, EU)",
            })
        }
    }
}

impl fmt::Display for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PartyId({:?})", self.as_str())
    }
}

string_serde!(PartyId);

identifier!(
    /// An amendment's identifier, chosen by the registrar (`A1`, `2031-1`): one to 64
    /// characters, a letter or digit, then letters, digits, `.`, `_` or `-`.
    AmendmentId,
    "amendment id",
    "1 to 64 characters: a letter or digit, then letters, digits, '.', '_' or '-'",
    |b| (1..=64).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
);

identifier!(
    /// A treaty's identifier in its depositary's collection (`XVIII-16`): one to 64
    /// printable ASCII characters without spaces.
    TreatyId,
    "treaty id",
    "1 to 64 printable ASCII characters without spaces",
    |b| (1..=64).contains(&b.len()) && b.iter().all(|c| c.is_ascii_graphic())
);

/// Checks a text: not empty, at most `max` bytes, no control characters but those allowed.
fn check_text(
    what: &'static str,
    s: &str,
    max: usize,
    allow_newlines: bool,
) -> Result<(), ValueError> {
    let fail = |rule: String| Err(ValueError::Text { what, rule });
    if s.trim().is_empty() {
        return fail("must not be empty or only spaces".into());
    }
    if s.len() > max {
        return fail(format!(
            "is {} bytes long; at most {max} are allowed",
            s.len()
        ));
    }
    let allowed = |c: char| allow_newlines && matches!(c, '\n' | '\t');
    // Printable ASCII (the usual case) is told in one pass over the bytes, a fold without an
    // early exit that the compiler turns into vector code; anything else is checked by
    // character below (the controls of UTF-8 beyond ASCII are U+0080 to U+009F).
    if s.bytes()
        .fold(true, |plain, b| plain & (0x20..0x7f).contains(&b))
    {
        return Ok(());
    }
    if let Some((i, c)) = s
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && !allowed(*c))
    {
        return fail(format!(
            "holds control character U+{:04X} at character {i}",
            u32::from(c)
        ));
    }
    Ok(())
}

macro_rules! text {
    ($(#[$doc:meta])* $name:ident, $what:expr, $max:expr, $newlines:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// The longest text allowed, in bytes of UTF-8.
            pub const MAX_BYTES: usize = $max;

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, ValueError> {
                check_text($what, s, $max, $newlines).map(|()| $name(Arc::from(s)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        string_serde!($name);
    };
}

text!(
    /// A short single-line text: a name, a title, a place, a reason, a reference.
    /// At most 1,024 bytes, no control characters.
    Label,
    "text",
    1024,
    false
);
text!(
    /// A long text, such as the words of a reservation: at most 65,536 bytes; line breaks
    /// and tabs allowed, no other control characters.
    Text,
    "text",
    65536,
    true
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_ids_read_print_and_sort_as_their_text() {
        let ids = ["EU", "EUR", "FRA", "N01523", "Z9", "ABCDEFGHIJKLMNOP"];
        let parsed: Vec<PartyId> = ids.iter().map(|s| s.parse().expect("an id")).collect();
        for (id, s) in parsed.iter().zip(ids) {
            assert_eq!(id.as_str(), s);
            assert_eq!(id.to_string(), s);
            assert_eq!(format!("{id:?}"), format!("PartyId({s:?})"));
        }
        for a in &parsed {
            for b in &parsed {
                assert_eq!(a.cmp(b), a.as_str().cmp(b.as_str()), "{a} {b}");
                assert_eq!(a == b, a.as_str() == b.as_str());
            }
        }
        for bad in ["", "E", "eu", "1EU", "E U", "ABCDEFGHIJKLMNOPQ", "EU\0"] {
            assert!(bad.parse::<PartyId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dates_parse_strictly_and_print_back() {
        for ok in ["2025-10-25", "2024-02-29", "0001-01-01", "9999-12-31"] {
            let d: Date = ok.parse().expect(ok);
            assert_eq!(d.to_string(), ok);
        }
        for bad in [
            "2025-10-5",
            "2025-13-01",
            "2023-02-29",
            "25-10-2025",
            "2025/10/25",
            "+2025-10-25",
            "2025-10-25 ",
            "0000-01-01",
        ] {
            assert!(bad.parse::<Date>().is_err(), "{bad}");
        }
    }

    #[test]
    fn date_arithmetic_follows_the_domain_rules() {
        let d = |s: &str| s.parse::<Date>().expect(s);
        // DOMAIN.md: a deposit on 2005-09-15 enters into force on 2005-12-14.
        assert_eq!(d("2005-09-15").plus_days(90), Some(d("2005-12-14")));
        assert_eq!(d("2024-02-29").plus_months(12), Some(d("2025-02-28")));
        assert_eq!(d("2025-01-31").plus_months(1), Some(d("2025-02-28")));
        assert_eq!(d("2028-01-31").plus_months(1), Some(d("2028-02-29")));
        assert_eq!(d("2027-12-31").plus_days(60), Some(d("2028-02-29")));
        assert_eq!(d("9999-12-31").plus_days(1), None);
        assert_eq!(d("2025-10-25").display_long(), "25 Oct 2025");
        assert_eq!(d("2026-01-05").display_long(), "5 Jan 2026");
    }

    #[test]
    fn instants_parse_strictly() {
        let t: Instant = "2025-10-25T09:30:00Z".parse().expect("instant");
        assert_eq!(t.to_string(), "2025-10-25T09:30:00Z");
        assert_eq!(t.date().to_string(), "2025-10-25");
        for bad in [
            "2025-10-25T09:30:00",
            "2025-10-25T09:30:00.5Z",
            "2025-10-25 09:30:00Z",
            "2025-10-25T24:00:00Z",
            "2025-10-25T09:30:60Z",
            "2025-10-25T09:30:00+00:00",
        ] {
            assert!(bad.parse::<Instant>().is_err(), "{bad}");
        }
    }

    #[test]
    fn identifiers_and_texts() {
        assert!("FRA".parse::<PartyId>().is_ok());
        assert!("EU".parse::<PartyId>().is_ok());
        for bad in ["fra", "F", "F R", "1AB", "ABCDEFGHIJKLMNOPQ", ""] {
            assert!(bad.parse::<PartyId>().is_err(), "{bad}");
        }
        assert!("2031-1".parse::<AmendmentId>().is_ok());
        assert!("-1".parse::<AmendmentId>().is_err());
        assert!("XVIII-16".parse::<TreatyId>().is_ok());
        assert!("a b".parse::<TreatyId>().is_err());
        assert!("Hanoi".parse::<Label>().is_ok());
        assert!("two\nlines".parse::<Label>().is_err());
        assert!("two\nlines".parse::<Text>().is_ok());
        assert!("bell\u{7}".parse::<Text>().is_err());
        assert!("  ".parse::<Label>().is_err());
        assert!("x".repeat(1025).parse::<Label>().is_err());
        assert!("x".repeat(1024).parse::<Label>().is_ok());
    }

    #[test]
    fn seq_is_bounded() {
        assert!(Seq::new(MAX_SAFE_INTEGER).is_ok());
        assert_eq!(
            Seq::new(MAX_SAFE_INTEGER + 1),
            Err(ValueError::Seq(MAX_SAFE_INTEGER + 1))
        );
        assert_eq!(Seq::new(MAX_SAFE_INTEGER).expect("max").next(), None);
    }
}
