//! The readers that bound one record: whatever a file holds (a quote that never closes, a file
//! without line ends, a JSON element that never ends), no record takes more memory than
//! [`ParseLimits::max_record_bytes`](super::ParseLimits) and a buffer. Each parser reads through one:
//! CSV/TSV through [`RecordGuard`], JSON Lines through [`read_line_bounded`], a JSON array through
//! [`CountingReader`]. Past the limit they fail with an I/O error that [`is_too_long`] tells apart.

use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

/// The I/O error a reader gives when a record outgrows the limit.
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("record too long")
    }
}

impl std::error::Error for RecordTooLong {}

/// The error of a record past the limit, as a reader gives it.
pub(super) fn too_long() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, RecordTooLong)
}

/// Whether a reader's error is [`too_long`]'s (and not the input's own).
pub(super) fn is_too_long(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<RecordTooLong>())
}

/// Reads for the CSV parser, refusing to let one record grow past the limit: the parser says
/// where each record ends (`record_start`), and the guard fails once it has handed out more than
/// the limit and a buffer beyond it. Memory stays bounded even by a quote that never closes.
pub(super) struct RecordGuard<'a> {
    pub(super) inner: &'a mut dyn BufRead,
    pub(super) read: u64,
    pub(super) record_start: Rc<Cell<u64>>,
    pub(super) allowed: u64,
}

impl Read for RecordGuard<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read - self.record_start.get() > self.allowed {
            return Err(too_long());
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads up to and including the next line end, but no more than `limit` bytes of one line.
pub(super) fn read_line_bounded(input: &mut dyn BufRead, buffer: &mut Vec<u8>, limit: u64) -> io::Result<usize> {
    let mut n = 0;
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            return Ok(n);
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if (n + take) as u64 > limit + 1 {
            return Err(too_long());
        }
        buffer.extend_from_slice(&available[..take]);
        input.consume(take);
        n += take;
        if done {
            return Ok(n);
        }
    }
}

/// What serde_json has consumed of a JSON array: lines, to place row errors, and bytes, to resume
/// and to hold each element to the record limit.
pub(super) struct Counter {
    pub(super) line: Cell<u64>,
    pub(super) bytes: Cell<u64>,
    pub(super) last: Cell<u8>,
    /// Where the element in progress began (just after the last one).
    pub(super) element_start: Cell<u64>,
    pub(super) limit: u64,
}

/// Reads for serde_json, counting into a [`Counter`], and fails once the element in progress
/// outgrows the limit.
pub(super) struct CountingReader<'a> {
    pub(super) inner: Box<dyn Read + 'a>,
    pub(super) counter: Rc<Counter>,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.counter.bytes.get() - self.counter.element_start.get() > self.counter.limit {
            return Err(too_long());
        }
        let n = self.inner.read(buf)?;
        let read = &buf[..n];
        let counter = &self.counter;
        counter.line.set(counter.line.get() + read.iter().filter(|&&b| b == b'\n').count() as u64);
        counter.bytes.set(counter.bytes.get() + n as u64);
        if let Some(&last) = read.last() {
            counter.last.set(last);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_read_whole_up_to_the_limit_and_refused_past_it() {
        let limit = 8;
        let mut buffer = Vec::new();
        // Exactly the limit, with its line end: read, line end included.
        let mut input = io::Cursor::new(b"12345678\nnext".to_vec());
        assert_eq!(read_line_bounded(&mut input, &mut buffer, limit).unwrap(), 9);
        assert_eq!(buffer, b"12345678\n");
        // The rest of the input is the next line, without a line end.
        buffer.clear();
        assert_eq!(read_line_bounded(&mut input, &mut buffer, limit).unwrap(), 4);
        assert_eq!(buffer, b"next");
        // One byte more: refused, with the error the parsers recognise.
        buffer.clear();
        let e = read_line_bounded(&mut io::Cursor::new(b"123456789\n".to_vec()), &mut buffer, limit).unwrap_err();
        assert!(is_too_long(&e), "{e}");
        assert!(!is_too_long(&io::Error::other("another error")));
    }

    #[test]
    fn the_csv_guard_fails_once_a_record_outgrows_its_allowance() {
        let record_start = Rc::new(Cell::new(0));
        let mut input = io::Cursor::new(vec![b'x'; 100]);
        let mut guard = RecordGuard { inner: &mut input, read: 0, record_start: record_start.clone(), allowed: 10 };
        let mut buf = [0u8; 16];
        assert_eq!(guard.read(&mut buf).unwrap(), 16, "the first read is within the allowance");
        assert!(is_too_long(&guard.read(&mut buf).unwrap_err()), "16 bytes into one record, past 10");
        // The parser says a record ended at byte 16: the next one has its own allowance.
        record_start.set(16);
        assert_eq!(guard.read(&mut buf).unwrap(), 16);
    }
}
