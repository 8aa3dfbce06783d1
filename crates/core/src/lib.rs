//! Depositary's ledger format: events, entries, their canonical bytes (RFC 8785), their
//! BLAKE3 hashes, Ed25519 keys and signatures, and the verification of a chain of entries.
//!
//! This crate does no I/O and never reads the clock: callers hand it bytes and instants.
//! `docs/FORMAT.md` is the normative description of what it implements.
//!
//! The path of an entry through the types:
//! bytes → [`ParsedEntry`] (canonical, well formed, hashed) → [`SignedEntry`] (signature
//! checked against its signer) → [`VerifiedEntry`] (accepted by a [`Chain`]: in sequence,
//! linked, signed with authority). New entries are made by [`Chain::seal`].

#![deny(missing_docs)]

pub mod chain;
pub mod decode;
pub mod entry;
pub mod event;
pub mod hex;
pub mod input;
pub mod jcs;
pub mod keys;
pub mod parallel;
pub mod stream;
pub mod treaty;
pub mod types;

pub use chain::{Chain, ChainError, Head, KeyRecord, KeyRing};
pub use entry::{
    Entry, EntryError, ParsedEntry, SignatureError, SignedEntry, VerifiedEntry, check_signatures,
};
pub use event::Event;
pub use keys::{KeyError, SecretKey};
pub use treaty::Treaty;
pub use types::{
    AmendmentId, Date, Digest32, EntryHash, Instant, Label, PartyId, PublicKey, Seq,
    SignatureBytes, Text, TreatyId, ValueError,
};
