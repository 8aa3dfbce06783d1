//! Verification of a whole chain from a stream of lines: parsing and signatures in
//! parallel, chunk by chunk, then each entry accepted in order, so memory stays bounded by
//! the chunk and the first failure is reported with its line.

use crate::chain::{Chain, ChainError, Head};
use crate::entry::{EntryError, VerifiedEntry};
use crate::parallel::parse_and_check;
use crate::types::Seq;

/// How many lines are read, parsed and signature-checked together.
pub const DEFAULT_CHUNK: usize = 4096;

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
            StreamError::Empty => None,
        }
    }

    /// The seq of the entry the error is about, if known.
    pub fn seq(&self) -> Option<u64> {
        match self {
            StreamError::Entry { expected_seq, .. } => Some(*expected_seq),
            StreamError::Chain { source, .. } => Some(source.seq().get()),
            StreamError::Rejected { line, .. } | StreamError::Input { line, .. } => Some(line - 1),
            StreamError::Empty => None,
        }
    }
}

/// Verifies the lines of `input` (one entry each, in order) as a chain that continues
/// `chain`, calling `on_entry` with each verified entry, in order. Returns the head.
///
/// `threads` workers parse and check signatures; `chunk` lines are held at a time.
pub fn verify_stream<I, E, F>(
    chain: &mut Chain,
    input: I,
    threads: usize,
    chunk: usize,
    mut on_entry: F,
) -> Result<Head, StreamError<E>>
where
    I: IntoIterator<Item = Result<Vec<u8>, E>>,
    E: std::error::Error + 'static,
    F: FnMut(&VerifiedEntry) -> Result<(), E>,
{
    let chunk = chunk.max(1);
    let mut input = input.into_iter();
    let mut line_no: u64 = 0;
    let mut buf: Vec<Vec<u8>> = Vec::with_capacity(chunk);
    loop {
        buf.clear();
        let first_line = line_no + 1;
        let mut input_error = None;
        for item in input.by_ref() {
            match item {
                Ok(l) => buf.push(l),
                Err(e) => {
                    input_error = Some(e);
                    break;
                }
            }
            if buf.len() == chunk {
                break;
            }
        }
        if buf.is_empty() && input_error.is_none() {
            break;
        }
        for (i, result) in parse_and_check(&buf, threads).into_iter().enumerate() {
            let line = first_line + i as u64;
            line_no = line;
            let expected_seq = chain.next_seq().map_or(u64::MAX, Seq::get);
            let signed = result.map_err(|source| StreamError::Entry {
                line,
                expected_seq,
                source,
            })?;
            let verified = chain
                .accept(signed)
                .map_err(|source| StreamError::Chain { line, source })?;
            on_entry(&verified).map_err(|source| StreamError::Rejected { line, source })?;
        }
        if let Some(source) = input_error {
            return Err(StreamError::Input {
                line: line_no + 1,
                source,
            });
        }
    }
    chain.head().copied().ok_or(StreamError::Empty)
}
