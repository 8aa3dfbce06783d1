//! A fast reader for canonical entry lines: one pass over the bytes that checks the
//! canonical form and builds the [`Entry`] at once, for the events that fill ledgers.
//!
//! It is an optimisation with a safety net. It answers `None` for anything it does not
//! handle (entry 0's treaty, a participant's registration, and every malformed or unusual
//! line), and the caller then takes the general path: [`crate::jcs::check_canonical`] and
//! serde. The one property that matters: when it answers `Some(entry)`, the general path
//! accepts the same bytes and reads the same entry. Tests and the fuzz target `entry` check
//! exactly that.

use std::str::FromStr;

use crate::entry::{Entry, Version};
use crate::event::{
    AmendmentAccepted, AmendmentAdopted, AmendmentProposed, Correction, Denounced, Event,
    InstrumentKind, KeyAuthorized, KeyRevoked, Ratified, Role, Signed, Statement, StatementKind,
};
use crate::jcs::{self, MAX_SAFE_INTEGER};
use crate::types::{
    AmendmentId, Date, Digest32, EntryHash, Instant, Label, PartyId, PublicKey, Seq,
    SignatureBytes, Text,
};

/// Reads `line` if it is the canonical form of an entry this reader handles.
pub fn decode_entry(line: &[u8]) -> Option<Entry> {
    // UTF-8 is checked string by string: outside strings only ASCII punctuation, digits and
    // the literal member names are accepted, byte for byte.
    let mut c = Cursor { b: line, i: 0 };
    let mut scratch = String::new();
    c.lit(b"{\"event\":")?;
    let event = c.event(&mut scratch)?;
    c.lit(b",\"prev\":")?;
    let prev = EntryHash::from_bytes(c.hex()?);
    c.lit(b",\"recorded_at\":")?;
    let recorded_at: Instant = c.simple_str()?.parse().ok()?;
    c.lit(b",\"seq\":")?;
    let seq = Seq::new(c.uint()?).ok()?;
    c.lit(b",\"sig\":")?;
    let sig = SignatureBytes::from_bytes(c.hex()?);
    c.lit(b",\"signer\":")?;
    let signer = PublicKey::from_bytes(c.hex()?);
    c.lit(b",\"v\":1}")?;
    (c.i == line.len()).then_some(Entry {
        event,
        prev,
        recorded_at,
        seq,
        sig,
        signer,
        v: Version,
    })
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

/// The members an event of a handled type may have, as read.
#[derive(Default)]
struct Members<'a> {
    amendment: Option<AmendmentId>,
    date: Option<Date>,
    instrument: Option<&'a str>,
    key: Option<PublicKey>,
    kind: Option<&'a str>,
    name: Option<Label>,
    party: Option<PartyId>,
    place: Option<Label>,
    reason: Option<Label>,
    reference: Option<Label>,
    role: Option<&'a str>,
    text: Option<Text>,
    text_hash: Option<Digest32>,
    title: Option<Label>,
    type_: Option<&'a str>,
    voids: Option<Seq>,
    count: usize,
}

impl<'a> Cursor<'a> {
    fn lit(&mut self, s: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(s) {
            self.i += s.len();
            Some(())
        } else {
            None
        }
    }

    /// The length of the run of plain string bytes at `i`: up to the next `"` or `\\`,
    /// provided no control character comes first (a raw control character is never
    /// canonical).
    fn run(&self) -> Option<usize> {
        let rest = &self.b[self.i..];
        let len = memchr::memchr2(b'"', b'\\', rest)?;
        // A fold without an early exit, which the compiler turns into vector code: texts run
        // to hundreds of bytes.
        let control = rest[..len].iter().fold(false, |seen, &c| seen | (c < 0x20));
        (!control).then_some(len)
    }

    /// A string without escapes (hex, dates, ids, words), as a slice of the line.
    fn simple_str(&mut self) -> Option<&'a str> {
        self.lit(b"\"")?;
        let start = self.i;
        let len = self.run()?;
        if self.b[start + len] != b'"' {
            return None;
        }
        self.i = start + len + 1;
        std::str::from_utf8(&self.b[start..start + len]).ok()
    }

    /// A string of exactly `2 * N` lowercase hex digits (hashes, keys, signatures), decoded.
    /// Hex digits need no escape and are ASCII, so the bytes are read directly.
    fn hex<const N: usize>(&mut self) -> Option<[u8; N]> {
        let end = self.i + 2 * N + 1;
        if self.b.get(self.i) != Some(&b'"') || self.b.get(end) != Some(&b'"') {
            return None;
        }
        let out = crate::hex::decode_bytes(&self.b[self.i + 1..end])?;
        self.i = end + 1;
        Some(out)
    }

    /// A string, checked to be escaped canonically, decoded into `out`.
    fn string(&mut self, out: &mut String) -> Option<()> {
        out.clear();
        self.lit(b"\"")?;
        loop {
            let start = self.i;
            let len = self.run()?;
            out.push_str(std::str::from_utf8(&self.b[start..start + len]).ok()?);
            self.i = start + len;
            match self.b[self.i] {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => {
                    let letter = *self.b.get(self.i + 1)?;
                    let (ch, extra) =
                        jcs::canonical_escape(letter, self.b.get(self.i + 2..self.i + 6)).ok()?;
                    out.push(ch);
                    self.i += 2 + extra;
                }
                _ => return None,
            }
        }
    }

    /// A canonical non-negative integer within 2^53 - 1.
    fn uint(&mut self) -> Option<u64> {
        let start = self.i;
        let len = self.b[start..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .unwrap_or(self.b.len() - start);
        if len == 0 || len > 16 || (len > 1 && self.b[start] == b'0') {
            return None;
        }
        self.i += len;
        let n: u64 = std::str::from_utf8(&self.b[start..self.i])
            .ok()?
            .parse()
            .ok()?;
        (n <= MAX_SAFE_INTEGER).then_some(n)
    }

    fn parsed<T: FromStr>(&mut self, scratch: &mut String) -> Option<T> {
        // Most strings have no escapes: read them in place.
        let at = self.i;
        if let Some(plain) = self.simple_str() {
            return plain.parse().ok();
        }
        self.i = at;
        self.string(scratch)?;
        scratch.parse().ok()
    }

    fn event(&mut self, scratch: &mut String) -> Option<Event> {
        self.lit(b"{")?;
        let mut m = Members::default();
        let mut previous: &[u8] = b"";
        loop {
            let name = self.simple_str()?.as_bytes();
            // Members strictly increasing: canonical order, no repeats.
            if m.count > 0 && name <= previous {
                return None;
            }
            previous = name;
            m.count += 1;
            self.lit(b":")?;
            match name {
                b"amendment" => m.amendment = Some(self.parsed(scratch)?),
                b"date" => m.date = Some(self.simple_str()?.parse().ok()?),
                b"instrument" => m.instrument = Some(self.simple_str()?),
                b"key" => m.key = Some(PublicKey::from_bytes(self.hex()?)),
                b"kind" => m.kind = Some(self.simple_str()?),
                b"name" => m.name = Some(self.parsed(scratch)?),
                b"party" => m.party = Some(self.parsed(scratch)?),
                b"place" => m.place = Some(self.parsed(scratch)?),
                b"reason" => m.reason = Some(self.parsed(scratch)?),
                b"reference" => m.reference = Some(self.parsed(scratch)?),
                b"role" => m.role = Some(self.simple_str()?),
                b"text" => m.text = Some(self.parsed(scratch)?),
                b"text_hash" => m.text_hash = Some(Digest32::from_bytes(self.hex()?)),
                b"title" => m.title = Some(self.parsed(scratch)?),
                b"type" => m.type_ = Some(self.simple_str()?),
                b"voids" => m.voids = Some(Seq::new(self.uint()?).ok()?),
                _ => return None,
            }
            match self.b.get(self.i)? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        m.build()
    }
}

impl Members<'_> {
    /// The event, if the members are exactly those of its type.
    fn build(self) -> Option<Event> {
        // How many members each type has, required and optional, to refuse extra ones.
        let present = |fields: &[bool]| fields.iter().filter(|p| **p).count() + 1;
        let m = self;
        let event = match m.type_? {
            "signed" => {
                let n = present(&[true, true, m.place.is_some(), m.reference.is_some()]);
                (n == m.count).then_some(())?;
                Event::Signed(Signed {
                    party: m.party?,
                    date: m.date?,
                    place: m.place,
                    reference: m.reference,
                })
            }
            "ratified" => {
                (present(&[true, true, true, m.reference.is_some()]) == m.count).then_some(())?;
                Event::Ratified(Ratified {
                    party: m.party?,
                    date: m.date?,
                    instrument: match m.instrument? {
                        "ratification" => InstrumentKind::Ratification,
                        "acceptance" => InstrumentKind::Acceptance,
                        "approval" => InstrumentKind::Approval,
                        "accession" => InstrumentKind::Accession,
                        _ => return None,
                    },
                    reference: m.reference,
                })
            }
            "statement" => {
                (present(&[true, true, true, true, m.reference.is_some()]) == m.count)
                    .then_some(())?;
                Event::Statement(Statement {
                    party: m.party?,
                    date: m.date?,
                    kind: StatementKind::ALL
                        .into_iter()
                        .find(|k| Some(k.as_str()) == m.kind)?,
                    text: m.text?,
                    reference: m.reference,
                })
            }
            "correction" => {
                (present(&[true, true]) == m.count).then_some(())?;
                Event::Correction(Correction {
                    voids: m.voids?,
                    reason: m.reason?,
                })
            }
            "denounced" => {
                (present(&[true, true, m.reference.is_some()]) == m.count).then_some(())?;
                Event::Denounced(Denounced {
                    party: m.party?,
                    date: m.date?,
                    reference: m.reference,
                })
            }
            "amendment_proposed" => {
                let n = present(&[
                    true,
                    true,
                    true,
                    true,
                    m.text_hash.is_some(),
                    m.reference.is_some(),
                ]);
                (n == m.count).then_some(())?;
                Event::AmendmentProposed(AmendmentProposed {
                    amendment: m.amendment?,
                    party: m.party?,
                    date: m.date?,
                    title: m.title?,
                    text_hash: m.text_hash,
                    reference: m.reference,
                })
            }
            "amendment_adopted" => {
                (present(&[true, true, m.reference.is_some()]) == m.count).then_some(())?;
                Event::AmendmentAdopted(AmendmentAdopted {
                    amendment: m.amendment?,
                    date: m.date?,
                    reference: m.reference,
                })
            }
            "amendment_accepted" => {
                (present(&[true, true, true, m.reference.is_some()]) == m.count).then_some(())?;
                Event::AmendmentAccepted(AmendmentAccepted {
                    amendment: m.amendment?,
                    party: m.party?,
                    date: m.date?,
                    reference: m.reference,
                })
            }
            "key_authorized" => {
                (present(&[true, true, true]) == m.count).then_some(())?;
                Event::KeyAuthorized(KeyAuthorized {
                    key: m.key?,
                    name: m.name?,
                    role: match m.role? {
                        "root" => Role::Root,
                        "registrar" => Role::Registrar,
                        _ => return None,
                    },
                })
            }
            "key_revoked" => {
                (present(&[true, true]) == m.count).then_some(())?;
                Event::KeyRevoked(KeyRevoked {
                    key: m.key?,
                    reason: m.reason?,
                })
            }
            _ => return None,
        };
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::decode_entry;
    use crate::entry::Entry;

    fn slow(line: &[u8]) -> Option<Entry> {
        crate::jcs::check_canonical(line).ok()?;
        let e: Entry = serde_json::from_slice(line).ok()?;
        e.event.check().ok()?;
        Some(e)
    }

    /// Every line of the vector ledger, and one-byte changes of each, read the same both ways
    /// whenever the fast reader answers.
    #[test]
    fn agrees_with_the_general_path_on_vectors_and_their_mutations() {
        let ledger = include_bytes!("../../../fixtures/vectors/ledger.jsonl");
        let mut fast_answers = 0;
        for line in ledger.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if let Some(e) = decode_entry(line) {
                fast_answers += 1;
                assert_eq!(slow(line), Some(e));
            }
            let mut m = line.to_vec();
            for i in 0..m.len() {
                let original = m[i];
                for replacement in [b' ', b'"', b'\\', b'0', b'a', b'A', b'}', b',', 0x7f, 0xc3] {
                    m[i] = replacement;
                    if let Some(e) = decode_entry(&m) {
                        assert_eq!(slow(&m), Some(e), "{}", String::from_utf8_lossy(&m));
                    }
                }
                m[i] = original;
            }
        }
        // Entries 1 to 12 are of handled types; entry 0 (the treaty) is not.
        assert_eq!(fast_answers, 12);
    }
}
