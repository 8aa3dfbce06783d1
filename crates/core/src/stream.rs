//! Verification of a whole chain from a stream of lines: each chunk's signatures checked
//! as one batch on worker threads while the calling thread parses the chunks ahead and
//! accepts the entries of earlier ones in order, so memory stays bounded by the chunks in
//! flight and the first failure is reported with its line.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, mpsc};

use crate::chain::{Chain, ChainError, Head};
use crate::entry::{EntryError, KeyCache, ParsedEntry, SignatureBatch, SignedEntry, VerifiedEntry};
use crate::types::Seq;

/// How many lines are read and parsed together, and their signatures checked as one batch.
pub const DEFAULT_CHUNK: usize = 1024;

/// The outcomes of one chunk's lines, in order.
type Results = Vec<Result<SignedEntry, EntryError>>;

/// Where verification of a stream stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError<E: std::error::Error + 'static> {
    /// The input could not be read at a line.
    #[error("line {line}: {source}")]
    Input {
        /// One-based line number.
        line: u64,
        /// The reader's error.
        source: E,
    },
    /// A line is not a well-formed entry.
    #[error("line {line} (entry {expected_seq}): {source}")]
    Entry {
        /// One-based line number.
        line: u64,
        /// The seq the entry at this line should have.
        expected_seq: u64,
        /// What is wrong.
        source: EntryError,
    },
    /// An entry does not belong in the chain.
    #[error("line {line}: {source}")]
    Chain {
        /// One-based line number.
        line: u64,
        /// What is wrong.
        source: ChainError,
    },
    /// The caller's check of a verified entry failed (a rule of the treaty, a write).
    #[error("line {line}: {source}")]
    Rejected {
        /// One-based line number.
        line: u64,
        /// The caller's error.
        source: E,
    },
    /// A worker thread stopped before its work was done (a bug, never the input's fault).
    #[error("internal error: a verification worker stopped")]
    Worker,
    /// The stream held no entry.
    #[error("the ledger is empty: it holds no entry, not even the treaty's registration")]
    Empty,
}

impl<E: std::error::Error + 'static> StreamError<E> {
    /// The one-based line the error is at, if any.
    pub fn line(&self) -> Option<u64> {
        match self {
            StreamError::Input { line, .. }
            | StreamError::Entry { line, .. }
            | StreamError::Chain { line, .. }
            | StreamError::Rejected { line, .. } => Some(*line),
            StreamError::Empty | StreamError::Worker => None,
        }
    }

    /// The seq of the entry the error is about, if known.
    pub fn seq(&self) -> Option<u64> {
        match self {
            StreamError::Entry { expected_seq, .. } => Some(*expected_seq),
            StreamError::Chain { source, .. } => Some(source.seq().get()),
            StreamError::Rejected { line, .. } | StreamError::Input { line, .. } => Some(line - 1),
            StreamError::Empty | StreamError::Worker => None,
        }
    }
}

/// Verifies the lines of `input` (one entry each, in order) as a chain that continues
/// `chain`, handing each verified entry to `on_entry`, in order. Returns the head.
///
/// The calling thread reads and parses chunks of `chunk` lines and hands each chunk's
/// signatures, as one batch, to one of `threads` workers; meanwhile it accepts the entries
/// of earlier chunks into the chain, in order, and calls `on_entry`. At most `4 × threads`
/// chunks are in flight, so memory does not grow with the input.
///
/// The workers do nothing but batch verification, as the benchmark's reference does: the
/// entries are made, kept and freed by the calling thread alone, and each batch's buffers
/// go back to it to be used again. (When the workers parsed too, the calling thread freed
/// what they had allocated, and glibc's heaps for the workers were trimmed and grown again
/// at every chunk: a third of a page fault per entry.)
pub fn verify_stream<I, E, F>(
    chain: &mut Chain,
    input: I,
    threads: usize,
    chunk: usize,
    on_entry: F,
) -> Result<Head, StreamError<E>>
where
    I: IntoIterator<Item = Result<Vec<u8>, E>>,
    E: std::error::Error + 'static,
    F: FnMut(VerifiedEntry) -> Result<(), E>,
{
    verify_stream_from(chain, input, 1, threads, chunk, on_entry)
}

/// As [`verify_stream`], for input whose first line is line `first_line` of its file (an
/// import that skipped the entries the ledger already holds).
pub fn verify_stream_from<I, E, F>(
    chain: &mut Chain,
    input: I,
    first_line: u64,
    threads: usize,
    chunk: usize,
    mut on_entry: F,
) -> Result<Head, StreamError<E>>
where
    I: IntoIterator<Item = Result<Vec<u8>, E>>,
    E: std::error::Error + 'static,
    F: FnMut(VerifiedEntry) -> Result<(), E>,
{
    let chunk = chunk.max(1);
    let threads = threads.max(1);
    let max_in_flight = 4 * threads;
    let mut input = input.into_iter();
    std::thread::scope(|scope| {
        let (results_tx, results_rx) =
            mpsc::sync_channel::<(u64, SignatureBatch, Vec<usize>)>(max_in_flight);
        // One queue that every worker takes from: a worker that is ahead takes the next
        // batch rather than waiting while the chunk everyone waits for sits in another's
        // queue (with a queue per worker, filled in turn, the two cores were idle 4 % of
        // the time).
        let (work_tx, work_rx) = mpsc::sync_channel::<(u64, SignatureBatch)>(max_in_flight);
        let work_rx = Arc::new(Mutex::new(work_rx));
        for _ in 0..threads {
            let work = Arc::clone(&work_rx);
            let results = results_tx.clone();
            scope.spawn(move || {
                loop {
                    let next = match work.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => break,
                    };
                    let Ok((index, batch)) = next else { break };
                    let invalid = batch.verify();
                    if results.send((index, batch, invalid)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(results_tx);

        let mut cache = KeyCache::default();
        // Batches back from the workers, to be filled again.
        let mut spare: Vec<SignatureBatch> = Vec::with_capacity(max_in_flight);
        // The chunks in flight, in order: the line number of the first line, the entries.
        let mut in_flight = VecDeque::with_capacity(max_in_flight);
        let mut next_chunk: u64 = 0; // the next chunk to send
        let mut next_line: u64 = first_line.max(1); // the line number of its first line
        let mut done: u64 = 0; // chunks accepted
        // Workers' outcomes for chunks that came back before an earlier one.
        let mut ready = BTreeMap::new();
        let mut input_error: Option<(u64, E)> = None;
        let mut input_done = false;
        loop {
            while !input_done && next_chunk - done < max_in_flight as u64 {
                let mut entries: Results = Vec::with_capacity(chunk);
                for item in input.by_ref() {
                    match item {
                        Ok(line) => {
                            entries.push(ParsedEntry::parse_owned(line).map(|parsed| SignedEntry {
                                parsed,
                                signature: Ok(()),
                            }))
                        }
                        Err(e) => {
                            input_error = Some((next_line + entries.len() as u64, e));
                            input_done = true;
                            break;
                        }
                    }
                    if entries.len() == chunk {
                        break;
                    }
                }
                if entries.len() < chunk {
                    input_done = true;
                }
                if entries.is_empty() {
                    break;
                }
                let mut batch = spare.pop().unwrap_or_default();
                batch.prepare(&mut entries, &mut cache);
                if work_tx.send((next_chunk, batch)).is_err() {
                    return Err(StreamError::Worker);
                }
                let lines = entries.len() as u64;
                in_flight.push_back((next_line, entries));
                next_line += lines;
                next_chunk += 1;
            }
            let Some((first, mut entries)) = in_flight.pop_front() else {
                break;
            };
            let invalid = loop {
                if let Some(invalid) = ready.remove(&done) {
                    break invalid;
                }
                match results_rx.recv() {
                    Ok((index, batch, invalid)) => {
                        spare.push(batch);
                        ready.insert(index, invalid);
                    }
                    // A worker died: only a bug does that.
                    Err(_) => return Err(StreamError::Worker),
                }
            };
            SignatureBatch::mark_invalid(&mut entries, &invalid);
            for (i, result) in entries.into_iter().enumerate() {
                let line = first + i as u64;
                let expected_seq = chain.next_seq().map_or(u64::MAX, Seq::get);
                let signed = result.map_err(|source| StreamError::Entry {
                    line,
                    expected_seq,
                    source,
                })?;
                let verified = chain
                    .accept(signed)
                    .map_err(|source| StreamError::Chain { line, source })?;
                on_entry(verified).map_err(|source| StreamError::Rejected { line, source })?;
            }
            done += 1;
        }
        if let Some((line, source)) = input_error {
            return Err(StreamError::Input { line, source });
        }
        chain.head().copied().ok_or(StreamError::Empty)
    })
}
