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
    let n = lines.len();
    let mut errors = Vec::new();
    let mut good = Vec::with_capacity(n);
    for (i, line) in lines.into_iter().enumerate() {
        match ParsedEntry::parse_owned(line) {
            Ok(p) => good.push(p),
            Err(e) => errors.push((i, e)),
        }
    }
    let mut signed = check_signatures(good, cache).into_iter();
    let mut errors = errors.into_iter().peekable();
    (0..n)
        .map(|i| match errors.next_if(|(at, _)| *at == i) {
            Some((_, e)) => Err(e),
            None => signed
                .next()
                .ok_or_else(|| EntryError::Syntax("internal: lost an entry".into())),
        })
        .collect()
}
