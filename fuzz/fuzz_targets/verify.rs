//! `verify`: arbitrary bytes as an export (lines split on `\n`), verified as `depositary
//! verify` does: `stream::verify_stream` over a `Chain::new(None)`, with the projection
//! folded over the verified entries with `depositary_projection::fold` (records made from
//! entry 0's treaty, then every later entry applied), as `depositary verify` folds them.
//!
//! Properties checked on every input:
//! - verification never panics and ends (libFuzzer's `-timeout` catches a hang);
//! - its outcome does not depend on how the work is split: one thread with chunks of one
//!   line, and two threads with chunks of three lines, report the same head, or fail at the
//!   same line and seq with the same message;
//! - an export that verifies has one entry per line, in order: the head is the last line's
//!   seq (the number of lines minus one) and hash, and every verified entry's bytes are its
//!   line;
//! - an entry whose signature, link or authority is refused never reaches the projection:
//!   the projection sees exactly the entries before the failing line.

#![no_main]

use std::convert::Infallible;

use depositary_core::entry::entry_hash;
use depositary_core::stream::{StreamError, verify_stream};
use depositary_core::{Chain, VerifiedEntry};
use depositary_projection::{ApplyError, MemFacts};
use libfuzzer_sys::fuzz_target;

/// Why the fold refused an entry (the projection's rule, as text).
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// What one run of verification reports.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Valid {
        seq: u64,
        hash: String,
        seen: Vec<Vec<u8>>,
    },
    Invalid {
        line: Option<u64>,
        seq: Option<u64>,
        message: String,
        seen: usize,
        rejected_by_rules: bool,
    },
}

fn run(lines: &[Vec<u8>], threads: usize, chunk: usize) -> Outcome {
    let mut chain = Chain::new(None);
    let mut facts: Option<MemFacts> = None;
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let input = lines.iter().map(|l| Ok::<_, Refused>(l.clone()));
    let result = verify_stream(&mut chain, input, threads, chunk, |v: VerifiedEntry| {
        seen.push(v.line().to_vec());
        depositary_projection::fold(&mut facts, &v).map_err(|e: ApplyError<Infallible>| Refused(e.to_string()))
    });
    match result {
        Ok(head) => Outcome::Valid {
            seq: head.seq.get(),
            hash: head.hash.to_string(),
            seen,
        },
        Err(e) => Outcome::Invalid {
            line: e.line(),
            seq: e.seq(),
            message: e.to_string(),
            seen: seen.len(),
            rejected_by_rules: matches!(e, StreamError::Rejected { .. }),
        },
    }
}

fuzz_target!(|data: &[u8]| {
    // An export is lines each ended by a line feed; what follows the last one is a last
    // line without its line feed, verified all the same (the binary names that separately).
    let mut lines: Vec<Vec<u8>> = data.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    if lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    let one = run(&lines, 1, 1);
    let two = run(&lines, 2, 3);
    assert_eq!(one, two, "the outcome depends on threads and chunking");
    match one {
        Outcome::Valid { seq, hash, seen } => {
            assert_eq!(seq + 1, lines.len() as u64, "the head is not the last line");
            assert_eq!(
                hash,
                entry_hash(lines.last().expect("a valid export has a line")).to_string()
            );
            assert_eq!(seen, lines, "verified entries are not the lines, in order");
        }
        Outcome::Invalid {
            line,
            seq,
            seen,
            rejected_by_rules,
            ..
        } => {
            let Some(line) = line else {
                assert!(
                    lines.is_empty(),
                    "only an empty export fails without a line"
                );
                return;
            };
            assert!(line >= 1 && line <= lines.len() as u64, "line {line}");
            // The failing line is the entry of seq line - 1 (as the chain expects it).
            assert_eq!(seq, Some(line - 1), "seq reported at line {line}");
            // Entries before the failing line reached the projection; the failing one did
            // only if the projection itself refused it.
            let expected_seen = if rejected_by_rules { line } else { line - 1 };
            assert_eq!(
                seen as u64, expected_seen,
                "entries folded before line {line}"
            );
        }
    }
});
