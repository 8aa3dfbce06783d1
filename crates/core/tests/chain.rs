//! A chain built with `Chain::seal` verifies entry by entry from its lines, and the checks
//! of `Chain::accept` catch what they promise to.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use depositary_core::event::{KeyAuthorized, KeyRevoked, Role, Signed};
use depositary_core::parallel::parse_and_check;
use depositary_core::{
    Chain, ChainError, Event, Instant, ParsedEntry, SecretKey, check_signatures,
};

fn at(s: &str) -> Instant {
    s.parse().expect("instant")
}

fn signed(party: &str) -> Event {
    Event::Signed(Signed {
        party: party.parse().expect("party"),
        date: "2024-02-01".parse().expect("date"),
        place: None,
        reference: None,
    })
}

/// Root key, registrar key, and the lines of a small chain signed by them.
fn build() -> (SecretKey, SecretKey, Vec<Vec<u8>>) {
    let root = SecretKey::from_seed(&[1; 32]);
    let registrar = SecretKey::from_seed(&[2; 32]);
    let mut chain = Chain::new(None);
    let mut lines = Vec::new();
    let mut push = |chain: &mut Chain, e: Event, t: &str, k: &SecretKey| {
        let v = chain.seal(e, at(t), k).expect("seal");
        lines.push(v.line().to_vec());
    };
    push(
        &mut chain,
        Event::TreatyRegistered(depositary_core::event::TreatyRegistered {
            treaty: common::treaty(),
        }),
        "2024-02-01T00:00:00Z",
        &root,
    );
    push(
        &mut chain,
        Event::KeyAuthorized(KeyAuthorized {
            key: registrar.public(),
            name: "Registrar".parse().expect("label"),
            role: Role::Registrar,
        }),
        "2024-02-01T00:00:01Z",
        &root,
    );
    push(
        &mut chain,
        signed("AAA"),
        "2024-02-02T00:00:00Z",
        &registrar,
    );
    push(
        &mut chain,
        signed("BBB"),
        "2024-02-02T00:00:00Z",
        &registrar,
    );
    (root, registrar, lines)
}

fn verify(lines: &[Vec<u8>], trust: Option<depositary_core::PublicKey>) -> Result<usize, String> {
    let mut chain = Chain::new(trust);
    for (i, r) in parse_and_check(lines, 2).into_iter().enumerate() {
        let signed = r.map_err(|e| format!("line {}: {e}", i + 1))?;
        chain.accept(signed).map_err(|e| e.to_string())?;
    }
    Ok(lines.len())
}

#[test]
fn a_sealed_chain_verifies_from_its_lines() {
    let (root, _, lines) = build();
    assert_eq!(verify(&lines, Some(root.public())), Ok(4));
    // Every line re-encodes to itself.
    for l in &lines {
        let p = ParsedEntry::parse(l).expect("parse");
        assert_eq!(
            serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(l).expect("json"))
                .expect("json")
                .len(),
            l.len()
        );
        assert_eq!(p.line(), &l[..]);
    }
}

#[test]
fn wrong_trust_anchor_is_reported_at_entry_0() {
    let (_, registrar, lines) = build();
    let err = verify(&lines, Some(registrar.public())).expect_err("untrusted");
    assert!(err.starts_with("entry 0 is signed by"), "{err}");
}

#[test]
fn a_registrar_cannot_authorize_keys_and_a_revoked_key_cannot_sign() {
    let (root, registrar, lines) = build();
    let mut chain = Chain::new(None);
    for r in parse_and_check(&lines, 1) {
        chain.accept(r.expect("parse")).expect("accept");
    }
    let third = SecretKey::from_seed(&[3; 32]);
    let grant = Event::KeyAuthorized(KeyAuthorized {
        key: third.public(),
        name: "X".parse().expect("label"),
        role: Role::Root,
    });
    let err = chain
        .clone()
        .seal(grant, at("2024-02-03T00:00:00Z"), &registrar)
        .expect_err("not root");
    assert!(matches!(err, ChainError::NotRoot { .. }), "{err}");

    let revoke = Event::KeyRevoked(KeyRevoked {
        key: registrar.public(),
        reason: "left office".parse().expect("label"),
    });
    chain
        .seal(revoke, at("2024-02-03T00:00:00Z"), &root)
        .expect("revoke");
    let err = chain
        .clone()
        .seal(signed("AAA"), at("2024-02-04T00:00:00Z"), &registrar)
        .expect_err("revoked");
    assert!(
        matches!(err, ChainError::RevokedSigner { revoked_at, .. } if revoked_at.get() == 4),
        "{err}"
    );

    let last_root = Event::KeyRevoked(KeyRevoked {
        key: root.public(),
        reason: "oops".parse().expect("label"),
    });
    let err = chain
        .seal(last_root, at("2024-02-04T00:00:00Z"), &root)
        .expect_err("last root");
    assert!(err.to_string().contains("last root key"), "{err}");
}

#[test]
fn record_time_may_not_go_back() {
    let (_, registrar, lines) = build();
    let mut chain = Chain::new(None);
    for r in parse_and_check(&lines, 1) {
        chain.accept(r.expect("parse")).expect("accept");
    }
    let err = chain
        .seal(signed("AAA"), at("2024-02-01T23:59:59Z"), &registrar)
        .expect_err("back");
    assert!(
        matches!(err, ChainError::RecordTimeWentBack { .. }),
        "{err}"
    );
}

#[test]
fn a_flipped_signature_bit_is_found_in_a_batch() {
    let (_, _, mut lines) = build();
    // Flip one hex digit of entry 2's signature: still canonical, no longer valid.
    let l = &mut lines[2];
    let at = l.windows(7).position(|w| w == b"\"sig\":\"").expect("sig") + 7;
    l[at] = if l[at] == b'0' { b'1' } else { b'0' };
    let mut cache = Default::default();
    let parsed: Vec<_> = lines
        .iter()
        .map(|l| ParsedEntry::parse(l).expect("parse"))
        .collect();
    let outcomes: Vec<bool> = check_signatures(parsed, &mut cache)
        .iter()
        .map(|s| s.signature().is_ok())
        .collect();
    assert_eq!(outcomes, vec![true, true, false, true]);
    let err = verify(&lines, None).expect_err("bad sig");
    assert!(err.starts_with("entry 2: signature"), "{err}");
}
