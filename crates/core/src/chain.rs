//! The chain: sequence, hash links, record times, keys and their authority. A [`Chain`]
//! holds the state after the entries it has accepted and decides whether the next one
//! belongs; it verifies an export entry by entry and seals new entries for the store.

use std::collections::HashMap;

use crate::entry::{
    EntryError, ParsedEntry, SignatureError, SignedEntry, UnsignedEntry, VerifiedEntry, Version,
};
use crate::event::{Event, Role};
use crate::keys::{self, SecretKey};
use crate::types::{EntryHash, Instant, Label, PublicKey, Seq};

/// A key the chain has authorized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key.
    pub key: PublicKey,
    /// Who holds it (`root` for the key that registered the treaty).
    pub name: Label,
    /// Its role.
    pub role: Role,
    /// The entry that authorized it (0 for the first root key).
    pub authorized_at: Seq,
    /// The entry that revoked it, if any; it signs nothing after.
    pub revoked_at: Option<Seq>,
}

/// Every key the chain has authorized, revoked or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    keys: HashMap<PublicKey, KeyRecord>,
}

impl KeyRing {
    /// A key ring from records a store kept.
    pub fn from_records(records: impl IntoIterator<Item = KeyRecord>) -> KeyRing {
        KeyRing {
            keys: records.into_iter().map(|r| (r.key, r)).collect(),
        }
    }

    /// The record of `key`, if the chain ever authorized it.
    pub fn get(&self, key: &PublicKey) -> Option<&KeyRecord> {
        self.keys.get(key)
    }

    /// Every record, in no particular order.
    pub fn records(&self) -> impl Iterator<Item = &KeyRecord> {
        self.keys.values()
    }

    fn active_roots(&self) -> usize {
        self.keys
            .values()
            .filter(|r| r.role == Role::Root && r.revoked_at.is_none())
            .count()
    }
}

/// The last entry of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Its position.
    pub seq: Seq,
    /// Its hash.
    pub hash: EntryHash,
    /// When it was recorded.
    pub recorded_at: Instant,
}

/// Why an entry does not belong at the end of the chain. Each names the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The entry's `seq` is not the next one: an entry was deleted, duplicated, reordered
    /// or inserted.
    #[error(
        "entry {expected}: seq is {found}, expected {expected} (an entry is missing, repeated or out of order)"
    )]
    Seq {
        /// The position the entry holds.
        expected: Seq,
        /// The seq it claims.
        found: Seq,
    },
    /// The entry's `prev` is not the hash of the entry before.
    #[error("entry {seq}: prev is {found}, but the entry before hashes to {expected}")]
    Prev {
        /// The entry.
        seq: Seq,
        /// The hash of the entry before.
        expected: EntryHash,
        /// The `prev` it names.
        found: EntryHash,
    },
    /// Recorded before the entry before it.
    #[error("entry {seq}: recorded_at {found} is before the previous entry's {previous}")]
    RecordTimeWentBack {
        /// The entry.
        seq: Seq,
        /// The previous entry's record time.
        previous: Instant,
        /// This entry's.
        found: Instant,
    },
    /// Entry 0 is not `treaty_registered`, or a later entry is.
    #[error("entry {seq}: treaty_registered must be entry 0 and only entry 0")]
    Genesis {
        /// The entry.
        seq: Seq,
    },
    /// Entry 0 is signed by a key other than the trusted root.
    #[error("entry 0 is signed by {found}, not by the trusted root key {expected}")]
    UntrustedRoot {
        /// The key trusted.
        expected: PublicKey,
        /// The key that signed entry 0.
        found: PublicKey,
    },
    /// Signed by a key the chain never authorized.
    #[error("entry {seq}: signed by {signer}, a key this ledger never authorized")]
    UnknownSigner {
        /// The entry.
        seq: Seq,
        /// Its signer.
        signer: PublicKey,
    },
    /// Signed by a key after its revocation.
    #[error("entry {seq}: signed by {signer}, which entry {revoked_at} revoked")]
    RevokedSigner {
        /// The entry.
        seq: Seq,
        /// Its signer.
        signer: PublicKey,
        /// The revoking entry.
        revoked_at: Seq,
    },
    /// A key change signed by a registrar key.
    #[error("entry {seq}: {event} may be signed only by a root key; {signer} is a registrar key")]
    NotRoot {
        /// The entry.
        seq: Seq,
        /// Its signer.
        signer: PublicKey,
        /// The event type.
        event: &'static str,
    },
    /// The signature is bad.
    #[error("entry {seq}: {source}")]
    Signature {
        /// The entry.
        seq: Seq,
        /// What is wrong.
        source: SignatureError,
    },
    /// A key change that cannot be made.
    #[error("entry {seq}: {reason}")]
    KeyChange {
        /// The entry.
        seq: Seq,
        /// Why it cannot be made.
        reason: String,
    },
    /// The chain cannot grow further (seq beyond 2^53 - 1, or a date beyond 9999).
    #[error("the ledger is full: no entry can follow {0}")]
    Full(Seq),
    /// An entry this build could not encode.
    #[error("entry {seq}: {source}")]
    Encoding {
        /// The entry.
        seq: Seq,
        /// What went wrong.
        source: EntryError,
    },
}

impl ChainError {
    /// The entry the error is about.
    pub fn seq(&self) -> Seq {
        match self {
            ChainError::Seq { expected: seq, .. }
            | ChainError::Prev { seq, .. }
            | ChainError::RecordTimeWentBack { seq, .. }
            | ChainError::Genesis { seq }
            | ChainError::UnknownSigner { seq, .. }
            | ChainError::RevokedSigner { seq, .. }
            | ChainError::NotRoot { seq, .. }
            | ChainError::Signature { seq, .. }
            | ChainError::KeyChange { seq, .. }
            | ChainError::Encoding { seq, .. }
            | ChainError::Full(seq) => *seq,
            ChainError::UntrustedRoot { .. } => Seq::GENESIS,
        }
    }
}

/// The state of a chain after the entries it accepted: its head and its keys.
#[derive(Debug, Clone)]
pub struct Chain {
    head: Option<Head>,
    keys: KeyRing,
    trust: Option<PublicKey>,
}

impl Chain {
    /// An empty chain. With `trust`, entry 0 must be signed by that root key.
    pub fn new(trust: Option<PublicKey>) -> Chain {
        Chain {
            head: None,
            keys: KeyRing::default(),
            trust,
        }
    }

    /// A chain resumed from the head and keys a store kept (which `verify` re-derives).
    pub fn resume(head: Head, keys: KeyRing) -> Chain {
        Chain {
            head: Some(head),
            keys,
            trust: None,
        }
    }

    /// The last accepted entry, if any.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// The keys.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// The seq the next entry must have.
    pub fn next_seq(&self) -> Result<Seq, ChainError> {
        match &self.head {
            None => Ok(Seq::GENESIS),
            Some(h) => h.seq.next().ok_or(ChainError::Full(h.seq)),
        }
    }

    /// Accepts the next entry if it belongs: checks, in this order, its seq, its `prev`,
    /// its record time, its place (genesis), its signer's authority, its signature and the
    /// key change it makes.
    pub fn accept(&mut self, signed: SignedEntry) -> Result<VerifiedEntry, ChainError> {
        let e = signed.parsed.entry();
        let expected = self.next_seq()?;
        if e.seq != expected {
            return Err(ChainError::Seq {
                expected,
                found: e.seq,
            });
        }
        let seq = e.seq;
        let expected_prev = self.head.map_or(EntryHash::ZERO, |h| h.hash);
        if e.prev != expected_prev {
            return Err(ChainError::Prev {
                seq,
                expected: expected_prev,
                found: e.prev,
            });
        }
        if let Some(h) = &self.head
            && e.recorded_at < h.recorded_at
        {
            return Err(ChainError::RecordTimeWentBack {
                seq,
                previous: h.recorded_at,
                found: e.recorded_at,
            });
        }
        let is_genesis_event = matches!(e.event, Event::TreatyRegistered(_));
        if is_genesis_event != (seq == Seq::GENESIS) {
            return Err(ChainError::Genesis { seq });
        }
        if seq == Seq::GENESIS {
            if let Some(trusted) = self.trust
                && trusted != e.signer
            {
                return Err(ChainError::UntrustedRoot {
                    expected: trusted,
                    found: e.signer,
                });
            }
        } else {
            self.check_authority(seq, e.signer, &e.event)?;
        }
        if let Err(source) = &signed.signature {
            return Err(ChainError::Signature {
                seq,
                source: source.clone(),
            });
        }
        self.apply_key_change(seq, e)?;
        self.head = Some(Head {
            seq,
            hash: signed.parsed.hash(),
            recorded_at: e.recorded_at,
        });
        Ok(VerifiedEntry(signed.parsed))
    }

    fn check_authority(
        &self,
        seq: Seq,
        signer: PublicKey,
        event: &Event,
    ) -> Result<(), ChainError> {
        let Some(record) = self.keys.get(&signer) else {
            return Err(ChainError::UnknownSigner { seq, signer });
        };
        if let Some(revoked_at) = record.revoked_at {
            return Err(ChainError::RevokedSigner {
                seq,
                signer,
                revoked_at,
            });
        }
        if event.needs_root() && record.role != Role::Root {
            return Err(ChainError::NotRoot {
                seq,
                signer,
                event: event.type_name(),
            });
        }
        Ok(())
    }

    fn apply_key_change(&mut self, seq: Seq, e: &crate::entry::Entry) -> Result<(), ChainError> {
        let refuse = |reason: String| Err(ChainError::KeyChange { seq, reason });
        match &e.event {
            Event::TreatyRegistered(_) => {
                let root_name = "root"
                    .parse::<Label>()
                    .map_err(|_| ChainError::Genesis { seq })?;
                if let Err(err) = keys::check_public(e.signer) {
                    return Err(ChainError::Signature {
                        seq,
                        source: err.into(),
                    });
                }
                self.keys.keys.insert(
                    e.signer,
                    KeyRecord {
                        key: e.signer,
                        name: root_name,
                        role: Role::Root,
                        authorized_at: seq,
                        revoked_at: None,
                    },
                );
            }
            Event::KeyAuthorized(k) => {
                if let Some(existing) = self.keys.get(&k.key) {
                    return refuse(match existing.revoked_at {
                        Some(r) => format!(
                            "key {} was revoked by entry {r} and cannot be authorized again",
                            k.key
                        ),
                        None => format!(
                            "key {} is already authorized (entry {})",
                            k.key, existing.authorized_at
                        ),
                    });
                }
                if let Err(err) = keys::check_public(k.key) {
                    return refuse(err.to_string());
                }
                self.keys.keys.insert(
                    k.key,
                    KeyRecord {
                        key: k.key,
                        name: k.name.clone(),
                        role: k.role,
                        authorized_at: seq,
                        revoked_at: None,
                    },
                );
            }
            Event::KeyRevoked(k) => {
                let last_root = self.keys.active_roots() == 1;
                let Some(record) = self.keys.keys.get_mut(&k.key) else {
                    return refuse(format!(
                        "key {} was never authorized, so it cannot be revoked",
                        k.key
                    ));
                };
                if let Some(r) = record.revoked_at {
                    return refuse(format!("key {} was already revoked by entry {r}", k.key));
                }
                if record.role == Role::Root && last_root {
                    return refuse(format!(
                        "key {} is the last root key; authorize another root key before revoking it",
                        k.key
                    ));
                }
                record.revoked_at = Some(seq);
            }
            _ => {}
        }
        Ok(())
    }

    /// Makes, signs and accepts the next entry: `event` recorded at `recorded_at`, signed
    /// by `key`. The same checks apply as to an entry read from an export.
    pub fn seal(
        &mut self,
        event: Event,
        recorded_at: Instant,
        key: &SecretKey,
    ) -> Result<VerifiedEntry, ChainError> {
        let seq = self.next_seq()?;
        event
            .check()
            .map_err(|source| ChainError::Encoding { seq, source })?;
        let unsigned = UnsignedEntry {
            event,
            prev: self.head.map_or(EntryHash::ZERO, |h| h.hash),
            recorded_at,
            seq,
            signer: key.public(),
            v: Version,
        };
        let parsed: ParsedEntry = unsigned
            .sign(key)
            .map_err(|source| ChainError::Encoding { seq, source })?;
        self.accept(SignedEntry {
            parsed,
            signature: Ok(()),
        })
    }
}
