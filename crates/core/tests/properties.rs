//! Property tests (proptest) of the format and the chain:
//!
//! - any sequence of appends that is valid at the chain level (a treaty, then statements,
//!   signatures, corrections, key authorizations and revocations by a root, by random keys,
//!   at non-decreasing record times) verifies from its lines, with its root pinned, to the
//!   head the sealing chain reached;
//! - any single change of one byte of one line is refused at that line's entry, and no
//!   deleted, duplicated or swapped entry goes unnoticed (but for the truncation of the last
//!   entry, which `docs/FORMAT.md` section 9 says a bare chain cannot detect);
//! - `jcs::to_canonical` writes what `jcs::check_canonical` accepts, what an independent
//!   RFC 8785 implementation writes, and what reads back as the same value.
//!
//! Case counts are modest so that `cargo test --workspace` stays quick in debug builds; the
//! fuzz targets of `fuzz/` (docs/FUZZING.md) explore the same ground at length.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use depositary_core::event::{
    Correction, KeyAuthorized, KeyRevoked, Role, Signed, Statement, StatementKind, TreatyRegistered,
};
use depositary_core::jcs;
use depositary_core::parallel::parse_and_check;
use depositary_core::{Chain, Date, Event, Head, Instant, PublicKey, SecretKey, Seq, Treaty};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

/// `cases` cases, and no failure files written into the source tree (a failure prints its
/// minimal case, which a test can then pin).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

/// How many keys the generated chains draw from; key 0 registers the treaty.
const KEYS: usize = 6;

fn treaty() -> Treaty {
    serde_json::from_value(serde_json::json!({
        "id": "PROP-1",
        "title": "Treaty for property tests",
        "adopted": "2024-01-01",
        "depositary": "Test Depositary",
        "rules": {
            "signature": {"opens": "2024-01-01", "closes": "2030-12-31"},
            "entry_into_force": {"threshold": {"at_least": 2}, "organizations": "not_additional", "takes_effect": {"days": 30}, "later_participants": {"days": 30}},
            "amendments": {"proposal_after": {"years": 1}, "threshold": {"more_than": 1}, "organizations": "not_additional", "takes_effect": {"days": 90}},
            "denunciation": {"takes_effect": {"years": 1}},
            "organizations": {"member_first": true}
        },
        "participants": [
            {"id": "AAA", "name": "A", "kind": "state"},
            {"id": "BBB", "name": "B", "kind": "state"},
            {"id": "CCC", "name": "C", "kind": "state"}
        ]
    }))
    .expect("treaty")
}

const PARTIES: [&str; 3] = ["AAA", "BBB", "CCC"];

/// The instant `secs` seconds after 2024-01-01T00:00:00Z.
fn instant(secs: u64) -> Instant {
    let start: Date = "2024-01-01".parse().expect("date");
    let day = start
        .plus_days(u32::try_from(secs / 86_400).expect("days"))
        .expect("date");
    let s = secs % 86_400;
    format!("{day}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
        .parse()
        .expect("instant")
}

/// A label that is never blank, with any characters but controls.
fn label() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][^\\p{Cc}]{0,24}"
}

/// One step of a generated chain: what to append, and how far record time moves first.
/// Indices pick among what is possible at that point, so every step makes a valid entry.
#[derive(Debug, Clone)]
enum Op {
    Statement {
        signer: Index,
        party: Index,
        kind: Index,
        text: String,
    },
    Signed {
        signer: Index,
        party: Index,
        place: Option<String>,
    },
    Correction {
        signer: Index,
        voids: Index,
    },
    Authorize {
        by: Index,
        key: Index,
        root: bool,
        name: String,
    },
    Revoke {
        by: Index,
        key: Index,
        reason: String,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<Index>(), any::<Index>(), any::<Index>(), "[A-Za-z][^\\p{Cc}]{0,30}(\n\t[^\\p{Cc}]{1,8})?")
            .prop_map(|(signer, party, kind, text)| Op::Statement { signer, party, kind, text }),
        3 => (any::<Index>(), any::<Index>(), proptest::option::of(label()))
            .prop_map(|(signer, party, place)| Op::Signed { signer, party, place }),
        1 => (any::<Index>(), any::<Index>())
            .prop_map(|(signer, voids)| Op::Correction { signer, voids }),
        2 => (any::<Index>(), any::<Index>(), any::<bool>(), label())
            .prop_map(|(by, key, root, name)| Op::Authorize { by, key, root, name }),
        2 => (any::<Index>(), any::<Index>(), label())
            .prop_map(|(by, key, reason)| Op::Revoke { by, key, reason }),
    ]
}

/// Steps: each an operation and the seconds record time advances before it (often none).
fn steps(max: usize) -> impl Strategy<Value = Vec<(Op, u64)>> {
    proptest::collection::vec((op(), prop_oneof![Just(0u64), 0u64..200_000]), 0..max)
}

/// A chain sealed from generated steps.
struct Built {
    root: PublicKey,
    lines: Vec<Vec<u8>>,
    head: Head,
}

/// Seals the treaty, then every step, with the chain's own checks; every seal must succeed.
fn build(steps: &[(Op, u64)]) -> Built {
    let keys: Vec<SecretKey> = (1..=KEYS as u8)
        .map(|n| SecretKey::from_seed(&[n; 32]))
        .collect();
    // For each key: never authorized, or its role and whether it was revoked.
    let mut state: Vec<Option<(Role, bool)>> = vec![None; KEYS];
    state[0] = Some((Role::Root, false));
    let mut chain = Chain::new(None);
    let mut lines = Vec::new();
    let mut t = 0u64;
    let genesis = Event::TreatyRegistered(TreatyRegistered { treaty: treaty() });
    lines.push(
        chain
            .seal(genesis, instant(t), &keys[0])
            .expect("genesis")
            .line()
            .to_vec(),
    );
    for (op, advance) in steps {
        t += advance;
        let active: Vec<usize> = (0..KEYS)
            .filter(|&k| matches!(state[k], Some((_, false))))
            .collect();
        let roots: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&k| matches!(state[k], Some((Role::Root, _))))
            .collect();
        let date = instant(t).date();
        let (event, signer) = match op {
            Op::Statement {
                signer,
                party,
                kind,
                text,
            } => (
                Event::Statement(Statement {
                    party: party.get(&PARTIES).parse().expect("party"),
                    date,
                    kind: *kind.get(&StatementKind::ALL),
                    text: text.parse().expect("text"),
                    reference: None,
                }),
                *signer.get(&active),
            ),
            Op::Signed {
                signer,
                party,
                place,
            } => (
                Event::Signed(Signed {
                    party: party.get(&PARTIES).parse().expect("party"),
                    date,
                    place: place.as_ref().map(|p| p.parse().expect("place")),
                    reference: None,
                }),
                *signer.get(&active),
            ),
            Op::Correction { signer, voids } => {
                let last = chain.head().expect("head").seq.get();
                let voids = Seq::new(voids.index(last as usize + 1) as u64).expect("seq");
                (
                    Event::Correction(Correction {
                        voids,
                        reason: "generated".parse().expect("reason"),
                    }),
                    *signer.get(&active),
                )
            }
            Op::Authorize {
                by,
                key,
                root,
                name,
            } => {
                let fresh: Vec<usize> = (0..KEYS).filter(|&k| state[k].is_none()).collect();
                if fresh.is_empty() {
                    continue;
                }
                let k = *key.get(&fresh);
                let role = if *root { Role::Root } else { Role::Registrar };
                state[k] = Some((role, false));
                (
                    Event::KeyAuthorized(KeyAuthorized {
                        key: keys[k].public(),
                        name: name.parse().expect("name"),
                        role,
                    }),
                    *by.get(&roots),
                )
            }
            Op::Revoke { by, key, reason } => {
                let revocable: Vec<usize> = active
                    .iter()
                    .copied()
                    .filter(|&k| !(roots.len() == 1 && roots[0] == k))
                    .collect();
                if revocable.is_empty() {
                    continue;
                }
                let k = *key.get(&revocable);
                let signer = *by.get(&roots);
                if let Some((_, revoked)) = &mut state[k] {
                    *revoked = true;
                }
                (
                    Event::KeyRevoked(KeyRevoked {
                        key: keys[k].public(),
                        reason: reason.parse().expect("reason"),
                    }),
                    signer,
                )
            }
        };
        let verified = chain
            .seal(event.clone(), instant(t), &keys[signer])
            .unwrap_or_else(|e| panic!("sealing {event:?} by key {signer}: {e}"));
        lines.push(verified.line().to_vec());
    }
    Built {
        root: keys[0].public(),
        lines,
        head: *chain.head().expect("head"),
    }
}

/// Verifies lines as `verify` does (parse and signatures on two threads, then the chain, in
/// order), with the root pinned. On failure: the index of the first refused line.
fn verify(lines: &[Vec<u8>], root: PublicKey) -> Result<Head, usize> {
    let mut chain = Chain::new(Some(root));
    for (i, r) in parse_and_check(lines, 2).into_iter().enumerate() {
        let signed = r.map_err(|_| i)?;
        if let Err(e) = chain.accept(signed) {
            assert_eq!(e.seq().get(), i as u64, "the chain names the entry: {e}");
            return Err(i);
        }
    }
    chain.head().copied().ok_or(lines.len())
}

proptest! {
    #![proptest_config(config(32))]

    #[test]
    fn any_sequence_of_valid_appends_verifies(steps in steps(24)) {
        let built = build(&steps);
        prop_assert_eq!(verify(&built.lines, built.root), Ok(built.head));
        prop_assert_eq!(built.head.seq.get() + 1, built.lines.len() as u64);
    }

    #[test]
    fn one_changed_byte_is_refused_at_its_entry(
        steps in steps(10),
        line in any::<Index>(),
        at in any::<Index>(),
        delta in 1u8..=255,
    ) {
        let built = build(&steps);
        let mut lines = built.lines;
        let i = line.index(lines.len());
        let j = at.index(lines[i].len());
        lines[i][j] = lines[i][j].wrapping_add(delta);
        prop_assert_eq!(verify(&lines, built.root), Err(i));
    }

    #[test]
    fn deleted_duplicated_and_swapped_entries_are_refused(
        steps in steps(10),
        a in any::<Index>(),
        b in any::<Index>(),
    ) {
        let built = build(&steps);
        let n = built.lines.len();
        let root = built.root;
        let i = a.index(n);
        let mut deleted = built.lines.clone();
        deleted.remove(i);
        if i + 1 == n {
            // Truncation: a shorter valid chain (docs/FORMAT.md section 9), unless nothing is
            // left of it.
            let expect = if n == 1 { Err(0) } else { Ok(built.lines.len() as u64 - 2) };
            prop_assert_eq!(verify(&deleted, root).map(|h| h.seq.get()), expect);
        } else {
            prop_assert_eq!(verify(&deleted, root), Err(i));
        }
        let mut duplicated = built.lines.clone();
        duplicated.insert(i + 1, built.lines[i].clone());
        prop_assert_eq!(verify(&duplicated, root), Err(i + 1));
        let j = b.index(n);
        if i != j {
            let mut swapped = built.lines.clone();
            swapped.swap(i, j);
            prop_assert_eq!(verify(&swapped, root), Err(i.min(j)));
        }
    }
}

/// JSON values of the format's kind: no floats, integers within +/-(2^53 - 1), strings of
/// any characters (controls, quotes, backslashes, beyond the BMP), nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let max = jcs::MAX_SAFE_INTEGER as i64;
    let string = proptest::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-max..=max).prop_map(Value::from),
        prop_oneof![Just(max), Just(-max), Just(0i64), -1000i64..1000].prop_map(Value::from),
        string.clone().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(string.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn canonical_json_is_checked_agreed_and_read_back(value in json_value()) {
        let written = jcs::to_canonical(&value).expect("writable");
        prop_assert_eq!(jcs::check_canonical(&written), Ok(()));
        let other = serde_json_canonicalizer::to_vec(&value).expect("other writer");
        prop_assert_eq!(
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(&other)
        );
        let back: Value = serde_json::from_slice(&written).expect("JSON");
        prop_assert_eq!(&back, &value);
        prop_assert_eq!(jcs::to_canonical(&back).expect("writable"), written);
    }
}
