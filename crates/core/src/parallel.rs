//! Parsing and signature checking of many lines at once, across threads. The order of the
//! results is the order of the lines, so the chain can then accept them one by one and
//! report the first failure.

use crate::entry::{EntryError, KeyCache, ParsedEntry, SignedEntry, check_signatures};

/// Parses `lines` and checks their signatures on up to `threads` threads (at least one).
/// Result `i` belongs to line `i`.
pub fn parse_and_check(lines: &[Vec<u8>], threads: usize) -> Vec<Result<SignedEntry, EntryError>> {
    let threads = threads.max(1);
    let per = lines.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(per)
            .map(|chunk| scope.spawn(move || parse_and_check_one_thread(chunk)))
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

fn parse_and_check_one_thread(lines: &[Vec<u8>]) -> Vec<Result<SignedEntry, EntryError>> {
    let mut cache = KeyCache::default();
    let parsed: Vec<Result<ParsedEntry, EntryError>> =
        lines.iter().map(|l| ParsedEntry::parse(l)).collect();
    let good: Vec<ParsedEntry> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    let mut signed = check_signatures(good, &mut cache).into_iter();
    parsed
        .into_iter()
        .map(|p| match p {
            Ok(_) => signed
                .next()
                .ok_or_else(|| EntryError::Syntax("internal: lost an entry".into())),
            Err(e) => Err(e),
        })
        .collect()
}
