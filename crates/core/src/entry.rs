//! Entries: an event with its place in the chain, who signed it and when it was recorded;
//! their canonical bytes, their hash and the message their signature covers.
//!
//! Entries move through types as they are checked: bytes become a [`ParsedEntry`] (well
//! formed, canonical, hashed), then a [`SignedEntry`] (signature checked against its own
//! `signer`), then, in [`crate::chain`], a [`VerifiedEntry`] (in its place in the chain,
//! signed with authority). Only a `VerifiedEntry` reaches a projection.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::event::Event;
use crate::jcs;
use crate::keys::{self, KeyError, SecretKey};
use crate::types::{EntryHash, Instant, PublicKey, Seq, SignatureBytes};

/// The prefix of the entry hash input (see `docs/FORMAT.md`).
pub const ENTRY_HASH_DOMAIN: &[u8] = b"depositary:entry:v1\n";
/// The prefix of the signed message (see `docs/FORMAT.md`).
pub const ENTRY_SIG_DOMAIN: &[u8] = b"depositary:entry-sig:v1\n";
/// The longest line (canonical entry) accepted, in bytes.
pub const MAX_ENTRY_BYTES: usize = 1 << 20;

/// The format version, `v`: only 1 exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version;

impl Version {
    /// The number written.
    pub const NUMBER: u64 = 1;
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(Version::NUMBER)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        if n == Version::NUMBER {
            Ok(Version)
        } else {
            Err(serde::de::Error::custom(format_args!(
                "format version {n} is not supported (this build reads version {})",
                Version::NUMBER
            )))
        }
    }
}

/// An entry as the format defines it. Field order here is the canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The event.
    pub event: Event,
    /// The hash of the entry before (64 zeros for entry 0).
    pub prev: EntryHash,
    /// When it was recorded (record time).
    pub recorded_at: Instant,
    /// Its position.
    pub seq: Seq,
    /// The signature over the entry without `sig`.
    pub sig: SignatureBytes,
    /// The key that signed.
    pub signer: PublicKey,
    /// The format version.
    pub v: Version,
}

/// An entry before it is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnsignedEntry {
    /// The event.
    pub event: Event,
    /// The hash of the entry before.
    pub prev: EntryHash,
    /// When it is recorded.
    pub recorded_at: Instant,
    /// Its position.
    pub seq: Seq,
    /// The key that will sign.
    pub signer: PublicKey,
    /// The format version.
    pub v: Version,
}

/// Why bytes are not a well-formed entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The line is longer than [`MAX_ENTRY_BYTES`].
    #[error("entry is {0} bytes long; at most {MAX_ENTRY_BYTES} are allowed")]
    TooLong(usize),
    /// Not canonical JSON.
    #[error(transparent)]
    Canonical(#[from] jcs::CanonicalError),
    /// Canonical JSON, but not an entry: a missing or unknown field, a wrong type, a bad
    /// value. The message names the field.
    #[error("not a valid entry: {0}")]
    Syntax(String),
    /// A treaty whose registry or rules are inconsistent.
    #[error("treaty_registered: {0}")]
    Treaty(#[from] crate::treaty::TreatyError),
}

impl UnsignedEntry {
    /// The canonical bytes of the entry without `sig`.
    pub fn canonical(&self) -> Result<Vec<u8>, EntryError> {
        // The envelope's members are fixed and already in canonical order; only the event
        // goes through the general writer.
        let event = canonical_of(&self.event)?;
        let mut out = Vec::with_capacity(event.len() + 220);
        out.extend_from_slice(b"{\"event\":");
        out.extend_from_slice(&event);
        out.extend_from_slice(b",\"prev\":\"");
        crate::hex::encode_into(self.prev.as_bytes(), &mut out);
        out.extend_from_slice(b"\",\"recorded_at\":\"");
        out.extend_from_slice(self.recorded_at.to_string().as_bytes());
        out.extend_from_slice(b"\",\"seq\":");
        out.extend_from_slice(self.seq.to_string().as_bytes());
        out.extend_from_slice(b",\"signer\":\"");
        crate::hex::encode_into(self.signer.as_bytes(), &mut out);
        out.extend_from_slice(b"\",\"v\":1}");
        debug_assert_eq!(
            Ok(&out),
            canonical_of(self).as_ref(),
            "the envelope is canonical"
        );
        Ok(out)
    }

    /// Signs the entry with `key`, which must be the `signer` named in it.
    pub fn sign(self, key: &SecretKey) -> Result<ParsedEntry, EntryError> {
        debug_assert_eq!(
            key.public(),
            self.signer,
            "an entry is signed by its signer"
        );
        let unsigned = self.canonical()?;
        let mut message = Vec::with_capacity(ENTRY_SIG_DOMAIN.len() + unsigned.len());
        message.extend_from_slice(ENTRY_SIG_DOMAIN);
        message.extend_from_slice(&unsigned);
        let sig = key.sign(&message);
        let entry = Entry {
            event: self.event,
            prev: self.prev,
            recorded_at: self.recorded_at,
            seq: self.seq,
            sig,
            signer: self.signer,
            v: Version,
        };
        // The signed line is the unsigned one with the sig member put in its canonical
        // place, right before `,"signer":"…","v":1}` (83 bytes at the end).
        let at = unsigned
            .len()
            .checked_sub(83)
            .filter(|at| unsigned[*at..].starts_with(b",\"signer\":\""));
        let line = match at {
            Some(at) => {
                let mut line = Vec::with_capacity(unsigned.len() + SIG_MEMBER_LEN);
                line.extend_from_slice(&unsigned[..at]);
                line.extend_from_slice(SIG_MEMBER_START);
                crate::hex::encode_into(sig.as_bytes(), &mut line);
                line.push(b'"');
                line.extend_from_slice(&unsigned[at..]);
                line
            }
            None => canonical_of(&entry)?,
        };
        debug_assert_eq!(
            Ok(&line),
            canonical_of(&entry).as_ref(),
            "the spliced line is canonical"
        );
        Ok(ParsedEntry::from_parts(entry, line))
    }
}

fn canonical_of<T: Serialize>(value: &T) -> Result<Vec<u8>, EntryError> {
    let value = serde_json::to_value(value).map_err(|e| EntryError::Syntax(e.to_string()))?;
    Ok(jcs::to_canonical(&value)?)
}

/// An entry read from its canonical bytes, with its hash. Its signature is not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEntry {
    entry: Entry,
    line: Vec<u8>,
    hash: EntryHash,
    /// Where the `,"sig":"…"` member sits in `line`, to cut it out for the signed message.
    sig_member: (usize, usize),
}

/// The bytes of the `sig` member, as the canonical form writes it, from its comma.
const SIG_MEMBER_START: &[u8] = b",\"sig\":\"";
const SIG_MEMBER_LEN: usize = SIG_MEMBER_START.len() + 128 + 1;

impl ParsedEntry {
    /// Reads one entry from its line (without the line break): checks that the bytes are
    /// canonical, that they are an entry, and computes the entry hash.
    pub fn parse(line: &[u8]) -> Result<ParsedEntry, EntryError> {
        ParsedEntry::parse_owned(line.to_vec())
    }

    /// As [`ParsedEntry::parse`], keeping the line it is given.
    pub fn parse_owned(line: Vec<u8>) -> Result<ParsedEntry, EntryError> {
        if line.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLong(line.len()));
        }
        // The fast reader handles the common entries; everything else, and every error
        // message, comes from the general path.
        if let Some(entry) = crate::decode::decode_entry(&line) {
            return Ok(ParsedEntry::from_parts(entry, line));
        }
        jcs::check_canonical(&line)?;
        let entry: Entry =
            crate::input::from_json_with_path(&line).map_err(|e| EntryError::Syntax(e.0))?;
        entry.event.check()?;
        Ok(ParsedEntry::from_parts(entry, line))
    }

    fn from_parts(entry: Entry, line: Vec<u8>) -> ParsedEntry {
        let hash = entry_hash(&line);
        // In canonical form the top-level members after `seq` are `sig`, `signer` and `v`,
        // whose values are lowercase hex and a digit: the last `,"sig":"` is the member.
        // `,"signer":"<64 hex>","v":1}` ends every line: 83 bytes.
        let expected = line.len().checked_sub(83 + SIG_MEMBER_LEN);
        let start = match expected {
            Some(at) if line[at..].starts_with(SIG_MEMBER_START) => at,
            _ => memrchr_seq(&line, SIG_MEMBER_START).unwrap_or(0),
        };
        ParsedEntry {
            entry,
            line,
            hash,
            sig_member: (start, start + SIG_MEMBER_LEN),
        }
    }

    /// The entry.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// Its canonical bytes: exactly the line of the export.
    pub fn line(&self) -> &[u8] {
        &self.line
    }

    /// Its hash: BLAKE3 of [`ENTRY_HASH_DOMAIN`] then the line.
    pub fn hash(&self) -> EntryHash {
        self.hash
    }

    /// The message the signature covers: [`ENTRY_SIG_DOMAIN`] then the canonical bytes of
    /// the entry without its `sig` member.
    pub fn signed_message(&self) -> Vec<u8> {
        let (a, b) = self.sig_member;
        let mut m = Vec::with_capacity(ENTRY_SIG_DOMAIN.len() + self.line.len() - (b - a));
        m.extend_from_slice(ENTRY_SIG_DOMAIN);
        m.extend_from_slice(&self.line[..a]);
        m.extend_from_slice(&self.line[b..]);
        m
    }
}

fn memrchr_seq(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

/// The hash of an entry from its canonical bytes.
pub fn entry_hash(line: &[u8]) -> EntryHash {
    let mut h = blake3::Hasher::new();
    h.update(ENTRY_HASH_DOMAIN);
    h.update(line);
    EntryHash::from_bytes(*h.finalize().as_bytes())
}

/// Why a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signer is not a usable key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The signature's encoding is not canonical (S not reduced, R not canonical or of
    /// small order); such signatures are refused whatever they verify to.
    #[error("signature is not in canonical form: {0}")]
    Malformed(&'static str),
    /// The signature does not verify for this message and key.
    #[error("signature does not verify for this entry and its signer")]
    Invalid,
}

/// An entry whose signature has been checked against its own `signer` (authority is
/// checked later, in its place in the chain).
#[derive(Debug, Clone)]
pub struct SignedEntry {
    pub(crate) parsed: ParsedEntry,
    pub(crate) signature: Result<(), SignatureError>,
}

impl SignedEntry {
    /// The entry.
    pub fn entry(&self) -> &Entry {
        self.parsed.entry()
    }

    /// The outcome of the signature check.
    pub fn signature(&self) -> &Result<(), SignatureError> {
        &self.signature
    }
}

/// Decompressed public keys, each checked once for being a usable point.
#[derive(Debug, Default)]
pub struct KeyCache {
    keys: HashMap<PublicKey, Result<VerifyingKey, KeyError>>,
}

impl KeyCache {
    fn get(&mut self, key: PublicKey) -> Result<VerifyingKey, KeyError> {
        self.keys
            .entry(key)
            .or_insert_with(|| keys::check_public(key))
            .clone()
    }
}

/// The group order L of Ed25519, little-endian: a canonical S is below it.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The canonical encodings of the eight points of small order; an R among them is refused,
/// as `verify_strict` refuses it.
const SMALL_ORDER_R: [[u8; 32]; 8] = [
    point(0x01, 0x00, 0x00),
    point(0xec, 0xff, 0x7f),
    point(0x00, 0x00, 0x00),
    point(0x00, 0x00, 0x80),
    TORSION_8[0],
    TORSION_8[1],
    TORSION_8[2],
    TORSION_8[3],
];

/// 32 bytes: `first`, thirty times `fill`, `last`.
const fn point(first: u8, fill: u8, last: u8) -> [u8; 32] {
    let mut out = [fill; 32];
    out[0] = first;
    out[31] = last;
    out
}

const TORSION_8: [[u8; 32]; 4] = [
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0xfa,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x85,
    ],
];

/// Checks the encoding of a signature: S below the group order, R a canonical encoding
/// (its y below 2^255 - 19) and not a point of small order.
fn check_encoding(sig: &[u8; 64]) -> Result<(), SignatureError> {
    let (r, s) = sig.split_at(32);
    let s_canonical = s.iter().rev().cmp(GROUP_ORDER.iter().rev()) == std::cmp::Ordering::Less;
    if !s_canonical {
        return Err(SignatureError::Malformed(
            "S is not reduced modulo the group order",
        ));
    }
    // y >= p = 2^255 - 19 exactly when the top 255 bits are all ones from bit 4 of the
    // first byte up and the first byte is at least 0xed.
    let y_top_ones = r[1..31].iter().all(|b| *b == 0xff) && r[31] & 0x7f == 0x7f;
    if y_top_ones && r[0] >= 0xed {
        return Err(SignatureError::Malformed(
            "R is not a canonical point encoding",
        ));
    }
    if SMALL_ORDER_R.iter().any(|p| p[..] == *r) {
        return Err(SignatureError::Malformed("R is a point of small order"));
    }
    Ok(())
}

/// Checks the signatures of a run of parsed entries, each against its own `signer`, with
/// Ed25519 batch verification; if the batch fails, each signature is checked alone with
/// `verify_strict` to find which. Returns the entries with their outcomes, in order.
///
/// Batch verification skips two checks of `verify_strict`, which are made here instead:
/// weak keys (once per key, in `cache`) and the encoding of R and S (per signature).
pub fn check_signatures(entries: Vec<ParsedEntry>, cache: &mut KeyCache) -> Vec<SignedEntry> {
    let mut signed: Vec<Result<SignedEntry, EntryError>> = entries
        .into_iter()
        .map(|parsed| {
            Ok(SignedEntry {
                parsed,
                signature: Ok(()),
            })
        })
        .collect();
    check_signatures_in_place(&mut signed, cache);
    signed.into_iter().flatten().collect()
}

/// As [`check_signatures`], in place: sets the `signature` outcome of every entry of
/// `entries` that parsed (an `Err` is left as it is), with the keys decoded so far in
/// `cache`.
pub fn check_signatures_in_place(
    entries: &mut [Result<SignedEntry, EntryError>],
    cache: &mut KeyCache,
) {
    let mut batch = SignatureBatch::default();
    batch.prepare(entries, cache);
    let invalid = batch.verify();
    SignatureBatch::mark_invalid(entries, &invalid);
}

/// The signatures of a run of entries, assembled for one Ed25519 batch verification, which
/// can then run on another thread than the one that holds the entries. Made in three
/// steps: [`SignatureBatch::prepare`] (which also records the checks that batch
/// verification skips), [`SignatureBatch::verify`], [`SignatureBatch::mark_invalid`]. A
/// batch can be used again: `prepare` clears it and keeps its buffers.
#[derive(Debug, Default)]
pub struct SignatureBatch {
    /// Every signed message, one after the other.
    messages: Vec<u8>,
    /// Where each message sits in `messages`.
    ranges: Vec<std::ops::Range<usize>>,
    sigs: Vec<ed25519_dalek::Signature>,
    keys: Vec<VerifyingKey>,
    /// The index of each signature's entry in the run `prepare` was given.
    entries: Vec<usize>,
}

impl SignatureBatch {
    /// Assembles the signatures of the entries of `entries` that parsed, each with its own
    /// `signer`'s key (decoded once, in `cache`). An entry whose key is unusable or whose
    /// signature is not canonically encoded gets that error now and stays out of the batch;
    /// every other entry's outcome is set to `Ok`, to be overturned by
    /// [`SignatureBatch::mark_invalid`].
    pub fn prepare(
        &mut self,
        entries: &mut [Result<SignedEntry, EntryError>],
        cache: &mut KeyCache,
    ) {
        self.messages.clear();
        self.ranges.clear();
        self.sigs.clear();
        self.keys.clear();
        self.entries.clear();
        self.messages.reserve(
            entries
                .iter()
                .flatten()
                .map(|s| s.parsed.line.len() + ENTRY_SIG_DOMAIN.len())
                .sum(),
        );
        for (i, item) in entries.iter_mut().enumerate() {
            let Ok(signed) = item else { continue };
            let p = &signed.parsed;
            let sig_bytes = p.entry.sig.as_bytes();
            let pre = cache
                .get(p.entry.signer)
                .map_err(SignatureError::from)
                .and_then(|vk| check_encoding(sig_bytes).map(|()| vk));
            match pre {
                Ok(vk) => {
                    let start = self.messages.len();
                    let (a, b) = p.sig_member;
                    self.messages.extend_from_slice(ENTRY_SIG_DOMAIN);
                    self.messages.extend_from_slice(&p.line[..a]);
                    self.messages.extend_from_slice(&p.line[b..]);
                    self.ranges.push(start..self.messages.len());
                    self.sigs
                        .push(ed25519_dalek::Signature::from_bytes(sig_bytes));
                    self.keys.push(vk);
                    self.entries.push(i);
                    signed.signature = Ok(());
                }
                Err(e) => signed.signature = Err(e),
            }
        }
    }

    /// Verifies the batch: the indices (in the run given to `prepare`) of the entries whose
    /// signature is invalid, none if the batch holds. If the batch fails, each signature is
    /// checked alone with `verify_strict` to find which.
    pub fn verify(&self) -> Vec<usize> {
        if self.entries.is_empty() {
            return Vec::new();
        }
        let refs: Vec<&[u8]> = self
            .ranges
            .iter()
            .map(|r| &self.messages[r.clone()])
            .collect();
        if ed25519_dalek::verify_batch(&refs, &self.sigs, &self.keys).is_ok() {
            return Vec::new();
        }
        self.entries
            .iter()
            .enumerate()
            .filter(|&(k, _)| self.keys[k].verify_strict(refs[k], &self.sigs[k]).is_err())
            .map(|(_, &i)| i)
            .collect()
    }

    /// Sets the outcome of each entry of `entries` listed in `invalid` (what
    /// [`SignatureBatch::verify`] returned for them) to an invalid signature.
    pub fn mark_invalid(entries: &mut [Result<SignedEntry, EntryError>], invalid: &[usize]) {
        for &i in invalid {
            if let Some(Ok(signed)) = entries.get_mut(i) {
                signed.signature = Err(SignatureError::Invalid);
            }
        }
    }
}

/// An entry that passed every check of the chain up to and including itself. Only
/// [`crate::chain::Chain`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry(pub(crate) ParsedEntry);

impl VerifiedEntry {
    /// The entry.
    pub fn entry(&self) -> &Entry {
        &self.0.entry
    }

    /// Its position.
    pub fn seq(&self) -> Seq {
        self.0.entry.seq
    }

    /// Its event.
    pub fn event(&self) -> &Event {
        &self.0.entry.event
    }

    /// Its canonical bytes.
    pub fn line(&self) -> &[u8] {
        &self.0.line
    }

    /// Its canonical bytes, kept.
    pub fn into_line(self) -> Vec<u8> {
        self.0.line
    }

    /// Its hash.
    pub fn hash(&self) -> EntryHash {
        self.0.hash
    }

    /// When it was recorded.
    pub fn recorded_at(&self) -> Instant {
        self.0.entry.recorded_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_small_order_list_is_exactly_the_small_order_points() {
        let mut seen = std::collections::HashSet::new();
        for p in SMALL_ORDER_R {
            let vk = VerifyingKey::from_bytes(&p).expect("a point");
            assert!(vk.is_weak(), "{}", crate::hex::encode(&p));
            assert!(seen.insert(p));
        }
    }

    #[test]
    fn encoding_checks() {
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&SMALL_ORDER_R[5]);
        assert_eq!(
            check_encoding(&sig),
            Err(SignatureError::Malformed("R is a point of small order"))
        );
        let mut sig = [0x11u8; 64];
        sig[32..].copy_from_slice(&GROUP_ORDER);
        assert_eq!(
            check_encoding(&sig),
            Err(SignatureError::Malformed(
                "S is not reduced modulo the group order"
            ))
        );
        let mut sig = [0u8; 64];
        sig[0] = 0xee;
        sig[1..31].fill(0xff);
        sig[31] = 0x7f;
        assert_eq!(
            check_encoding(&sig),
            Err(SignatureError::Malformed(
                "R is not a canonical point encoding"
            ))
        );
    }
}
