//! Reading files with bounds: JSON Lines a line at a time with a bound on line length, and
//! whole small files with a bound on size, so that a hostile file (or `/dev/zero`) cannot
//! make us hold gigabytes in memory.

use std::io::{self, BufRead, Read as _};
use std::path::Path;

/// Reads a whole file of at most `max` bytes; a longer one (whatever its metadata says, as
/// devices and pipes say nothing) is refused.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(max.saturating_add(1))
        .read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it is more than {max} bytes long; at most {max} are read"),
        ));
    }
    Ok(out)
}

/// Why a line could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The reader failed.
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    /// A line is longer than allowed.
    #[error("the line is longer than {0} bytes")]
    TooLong(usize),
    /// A line ends with a carriage return (CRLF line breaks).
    #[error("the line ends with a carriage return: exports use LF line breaks, not CRLF")]
    CarriageReturn,
    /// The last line has no line break.
    #[error("the last line has no line break (is the file truncated?)")]
    Unterminated,
}

/// The lines of a reader, without their `\n`, each at most `max` bytes. With `strict`,
/// every line must end with `\n` (as an export's do).
pub struct Lines<R> {
    reader: R,
    max: usize,
    strict: bool,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    /// Lines of `reader`.
    pub fn new(reader: R, max: usize, strict: bool) -> Lines<R> {
        Lines {
            reader,
            max,
            strict,
            done: false,
        }
    }

    fn read_line(&mut self) -> Result<Option<Vec<u8>>, LineError> {
        let mut line = Vec::new();
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                if line.is_empty() {
                    return Ok(None);
                }
                if self.strict {
                    return Err(LineError::Unterminated);
                }
                return Ok(Some(line));
            }
            let (take, found) = match memchr(buf) {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            if line.len() + take > self.max {
                return Err(LineError::TooLong(self.max));
            }
            line.extend_from_slice(&buf[..take]);
            self.reader.consume(take + usize::from(found));
            if found {
                if self.strict && line.last() == Some(&b'\r') {
                    return Err(LineError::CarriageReturn);
                }
                return Ok(Some(line));
            }
        }
    }
}

fn memchr(buf: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', buf)
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = Result<Vec<u8>, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_line() {
            Ok(Some(l)) => Some(Ok(l)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], max: usize, strict: bool) -> Vec<Result<Vec<u8>, String>> {
        Lines::new(input, max, strict)
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn splits_bounds_and_notices_truncation() {
        assert_eq!(
            read(b"a\nbb\n", 10, true),
            vec![Ok(b"a".to_vec()), Ok(b"bb".to_vec())]
        );
        assert_eq!(
            read(b"a\nbb", 10, false),
            vec![Ok(b"a".to_vec()), Ok(b"bb".to_vec())]
        );
        assert_eq!(
            read(b"a\nbb", 10, true),
            vec![
                Ok(b"a".to_vec()),
                Err("the last line has no line break (is the file truncated?)".into())
            ]
        );
        assert_eq!(
            read(b"abcdef\n", 3, true),
            vec![Err("the line is longer than 3 bytes".into())]
        );
        assert_eq!(read(b"", 3, true), vec![]);
        assert_eq!(read(b"\n", 3, true), vec![Ok(vec![])]);
    }
}
