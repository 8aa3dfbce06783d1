//! `verify_stream` over many small chunks and two workers: every entry reaches the caller
//! once and in order, batches come back out of order and are used again, and the first
//! failure, wherever it is, is reported at its line with nothing after it accepted.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use depositary_core::entry::SignatureError;
use depositary_core::event::{KeyAuthorized, Role, Signed};
use depositary_core::stream::{StreamError, verify_stream, verify_stream_from};
use depositary_core::{Chain, ChainError, EntryError, Event, Instant, SecretKey};

/// How many lines a chunk takes in these tests: small, so that 40 entries make 14 chunks
/// and the two workers pass each other.
const CHUNK: usize = 3;
const ENTRIES: usize = 40;

/// The lines of a chain of `ENTRIES` entries: the treaty, a registrar key, then signatures
/// (the chain checks links, time, authority and signatures, not the treaty's rules).
fn lines() -> (SecretKey, Vec<Vec<u8>>) {
    let root = SecretKey::from_seed(&[1; 32]);
    let registrar = SecretKey::from_seed(&[2; 32]);
    let mut chain = Chain::new(None);
    let mut out = Vec::new();
    let mut push = |e: Event, k: &SecretKey, second: usize| {
        let t: Instant = format!("2024-02-01T00:{:02}:{:02}Z", second / 60, second % 60)
            .parse()
            .expect("instant");
        out.push(chain.seal(e, t, k).expect("seal").line().to_vec());
    };
    push(
        Event::TreatyRegistered(depositary_core::event::TreatyRegistered {
            treaty: common::treaty(),
        }),
        &root,
        0,
    );
    push(
        Event::KeyAuthorized(KeyAuthorized {
            key: registrar.public(),
            name: "Registrar".parse().expect("label"),
            role: Role::Registrar,
        }),
        &root,
        1,
    );
    for i in 2..ENTRIES {
        push(
            Event::Signed(Signed {
                party: "AAA".parse().expect("party"),
                date: "2024-02-01".parse().expect("date"),
                place: None,
                reference: None,
            }),
            &registrar,
            i,
        );
    }
    (root, out)
}

/// Streams `input` with two workers and chunks of `CHUNK`: the seqs handed to the caller
/// and the outcome.
fn stream(
    root: &SecretKey,
    input: Vec<Result<Vec<u8>, std::io::Error>>,
) -> (Vec<u64>, Result<u64, StreamError<std::io::Error>>) {
    let mut chain = Chain::new(Some(root.public()));
    let mut seen = Vec::new();
    let outcome = verify_stream(&mut chain, input, 2, CHUNK, |v| {
        seen.push(v.seq().get());
        Ok(())
    })
    .map(|head| head.seq.get());
    (seen, outcome)
}

fn ok(lines: &[Vec<u8>]) -> Vec<Result<Vec<u8>, std::io::Error>> {
    lines.iter().cloned().map(Ok).collect()
}

#[test]
fn every_entry_reaches_the_caller_once_and_in_order() {
    let (root, lines) = lines();
    let (seen, outcome) = stream(&root, ok(&lines));
    assert_eq!(outcome.expect("verifies"), ENTRIES as u64 - 1);
    assert_eq!(seen, (0..ENTRIES as u64).collect::<Vec<_>>());
}

/// Flips a hex digit of the low byte of S: still canonical, so the batch is tried and fails.
fn spoil_signature(line: &mut [u8]) {
    let text = std::str::from_utf8(line).expect("utf-8");
    let at = text.find("\"sig\":\"").expect("a sig member") + "\"sig\":\"".len() + 64;
    line[at] = if line[at] == b'0' { b'1' } else { b'0' };
}

#[test]
fn a_bad_signature_anywhere_is_reported_at_its_line_and_stops_there() {
    let (root, lines) = lines();
    // The first line of a chunk, one in the middle, the last of a chunk, the last line.
    for bad in [CHUNK * 4, CHUNK * 5 + 1, CHUNK * 7 - 1, ENTRIES - 1] {
        let mut spoiled = lines.clone();
        spoil_signature(&mut spoiled[bad]);
        let (seen, outcome) = stream(&root, ok(&spoiled));
        let err = outcome.expect_err("a bad signature");
        assert_eq!(err.line(), Some(bad as u64 + 1), "{err}");
        assert!(
            matches!(
                err,
                StreamError::Chain {
                    source: ChainError::Signature {
                        source: SignatureError::Invalid,
                        ..
                    },
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(seen, (0..bad as u64).collect::<Vec<_>>());
    }
}

#[test]
fn two_bad_signatures_in_flight_report_the_first() {
    let (root, lines) = lines();
    let mut spoiled = lines.clone();
    spoil_signature(&mut spoiled[30]);
    spoil_signature(&mut spoiled[10]);
    let (seen, outcome) = stream(&root, ok(&spoiled));
    assert_eq!(outcome.expect_err("bad").line(), Some(11));
    assert_eq!(seen.len(), 10);
}

#[test]
fn a_line_that_does_not_parse_is_reported_after_the_entries_before_it() {
    let (root, lines) = lines();
    let mut broken = lines.clone();
    broken[17] = b"{\"not\":\"an entry\"}".to_vec();
    // A bad signature after it does not take its place.
    spoil_signature(&mut broken[20]);
    let (seen, outcome) = stream(&root, ok(&broken));
    let err = outcome.expect_err("a broken line");
    assert!(
        matches!(
            err,
            StreamError::Entry {
                line: 18,
                expected_seq: 17,
                source: EntryError::Syntax(_) | EntryError::Canonical(_),
            }
        ),
        "{err:?}"
    );
    assert_eq!(seen, (0..17).collect::<Vec<_>>());
}

#[test]
fn an_input_error_is_reported_at_its_line_after_every_entry_before_it() {
    let (root, lines) = lines();
    let mut input = ok(&lines[..23]);
    input.push(Err(std::io::Error::other("the disk went away")));
    input.extend(ok(&lines[23..]));
    let (seen, outcome) = stream(&root, input);
    let err = outcome.expect_err("an input error");
    assert!(
        matches!(err, StreamError::Input { line: 24, .. }),
        "{err:?}"
    );
    assert_eq!(seen, (0..23).collect::<Vec<_>>());
}

#[test]
fn a_stream_that_continues_a_chain_numbers_its_lines_from_where_it_starts() {
    let (root, lines) = lines();
    let mut chain = Chain::new(Some(root.public()));
    let first = 25;
    verify_stream(&mut chain, ok(&lines[..first]), 2, CHUNK, |_| Ok(())).expect("the start");
    let mut rest = lines[first..].to_vec();
    spoil_signature(&mut rest[8]);
    let err = verify_stream_from(&mut chain, ok(&rest), first as u64 + 1, 2, CHUNK, |_| {
        Ok::<(), std::io::Error>(())
    })
    .expect_err("a bad signature");
    assert_eq!(err.line(), Some(first as u64 + 9));
}

#[test]
fn an_empty_stream_is_refused() {
    let (root, _) = lines();
    let (seen, outcome) = stream(&root, Vec::new());
    assert!(matches!(outcome, Err(StreamError::Empty)));
    assert!(seen.is_empty());
}
