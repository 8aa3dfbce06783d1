//! Parsing and signature checking of many lines at once, across threads. The order of the
//! results is the order of the lines, so the chain can then accept them one by one and
//! report the first failure.

use crate::entry::{EntryError, KeyCache, ParsedEntry, SignedEntry, check_signatures_in_place};

/// Parses `lines` and checks their signatures on up to `threads` threads (at least one).
/// Result `i` belongs to line `i`.
pub fn parse_and_check(lines: &[Vec<u8>], threads: usize) -> Vec<Result<SignedEntry, EntryError>> {
    let threads = threads.max(1);
    let per = lines.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || {
                    parse_and_check_one_thread(chunk.to_vec(), &mut KeyCache::default())
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(results) => results,
                // A worker only panics on a bug; surface it rather than hide it.
                Err(payload) => std::panic::resume_unwind(payload),
            })
            .collect()
    })
}

/// Parses `lines` and checks their signatures (in one batch) on the calling thread, with
/// the keys decoded so far in `cache`.
pub fn parse_and_check_one_thread(
    lines: Vec<Vec<u8>>,
    cache: &mut KeyCache,
) -> Vec<Result<SignedEntry, EntryError>> {
    let mut out: Vec<_> = lines
        .into_iter()
        .map(|line| {
            ParsedEntry::parse_owned(line).map(|parsed| SignedEntry {
                parsed,
                signature: Ok(()),
            })
        })
        .collect();
    check_signatures_in_place(&mut out, cache);
    out
}
