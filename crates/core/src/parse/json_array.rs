//! One JSON array of objects, visited element by element through serde's `SeqAccess`, so the array is
//! never held whole: each element arrives as a raw value (bounded by the record limit), is mapped as a
//! JSON object, and is dropped. A hand-over resumes just after an element, by reading the rest of the
//! file as an array again.

use super::bounded::{is_too_long, Counter, CountingReader};
use super::json_object::map_json_object;
use super::{FileError, ParseLimits, RawRow, Tally};
use crate::mapping::Mapper;
use crate::model::ParsePosition;
use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::ops::ControlFlow;
use std::rc::Rc;

/// What a resumed JSON array is read after: the input then starts just after an element, at a comma
/// or the closing bracket, and this makes it an array again whose first element is not a row.
const RESUMED_ARRAY: &[u8] = b"[null";

/// Parses one JSON array from `start` on.
pub(super) fn parse(
    input: &mut dyn BufRead,
    mapper: &Mapper,
    prefix: &str,
    start: ParsePosition,
    limits: ParseLimits,
    tally: &mut Tally,
) -> Result<(), FileError> {
    let resumed = start.offset > 0;
    // Leading whitespace, counted as if serde_json had read it. An empty document is not JSON: the
    // file fails, saying so (an array of no objects is `[]`).
    let (lead_bytes, lead_lines) = if resumed { (0, 0) } else { skip_whitespace(input)? };
    let prefix_len = if resumed { RESUMED_ARRAY.len() as u64 } else { 0 };
    let counter = Rc::new(Counter {
        line: Cell::new(start.line.max(1) + lead_lines),
        bytes: Cell::new(lead_bytes),
        last: Cell::new(0),
        element_start: Cell::new(lead_bytes),
        limit: limits.max_record_bytes,
    });
    let reader: Box<dyn Read + '_> =
        if resumed { Box::new(io::Cursor::new(RESUMED_ARRAY).chain(input)) } else { Box::new(input) };
    let mut deserializer =
        serde_json::Deserializer::from_reader(CountingReader { inner: reader, counter: counter.clone() });
    if !resumed {
        tally.expect_columns(mapper);
    }
    let mut skip_first = resumed;
    let mut unmapped_failure = None;
    let mut on_element = |element: Box<RawValue>| {
        if std::mem::take(&mut skip_first) {
            return ControlFlow::Continue(());
        }
        counter.element_start.set(counter.bytes.get());
        let row = tally.next_row();
        let at = counter.line.get();
        let mapped =
            map_json_object(element.get(), mapper, row, at, prefix, limits.max_json_depth, &mut tally.summary.drift);
        if let Err(e) = tally.unmapped(at, &mapped.unmapped) {
            unmapped_failure = Some(e);
            return ControlFlow::Break(());
        }
        let flow = tally.accept(row, at, mapped.result, RawRow::Text(element.get().as_bytes()));
        if flow.is_break() {
            // serde_json reads one byte past a number to see where it ends; that byte is not the
            // element's.
            let peeked = element.get().ends_with(|c: char| c.is_ascii_digit());
            let (mut offset, mut line) = (counter.bytes.get() - prefix_len, counter.line.get());
            if peeked {
                offset -= 1;
                line -= u64::from(counter.last.get() == b'\n');
            }
            tally.stopped_at(ParsePosition { offset: start.offset + offset, line, ..ParsePosition::default() });
        }
        flow
    };
    let visited = deserializer.deserialize_seq(ArrayVisitor { on_element: &mut on_element });
    if let Some(e) = unmapped_failure {
        return Err(e);
    }
    let limit = limits.max_record_bytes;
    let malformed = |e: serde_json::Error| {
        if e.is_io() {
            let line = counter.line.get();
            let io: io::Error = e.into();
            if is_too_long(&io) {
                FileError::RecordTooLong { format: "JSON", line, limit }
            } else {
                FileError::Io(io)
            }
        } else {
            FileError::Malformed { format: "JSON", line: e.line() as u64, reason: e.to_string() }
        }
    };
    match visited {
        Ok(ArrayEnd::Stopped) => Ok(()),
        // serde_json checks for the closing bracket after a visitor that stopped early; the rest of
        // the array was left unread on purpose.
        Err(_) if tally.summary.stopped => Ok(()),
        Ok(ArrayEnd::Complete) => deserializer.end().map_err(malformed),
        Err(e) => Err(malformed(e)),
    }
}

/// Consumes the whitespace at the start of `input`: its bytes and line ends, or `Empty` when
/// nothing else follows.
fn skip_whitespace(input: &mut dyn BufRead) -> Result<(u64, u64), FileError> {
    let (mut bytes, mut lines) = (0u64, 0u64);
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            return Err(FileError::Empty { needs: "a JSON file holds one array of objects ([] when there are none)" });
        }
        let blank = available.iter().take_while(|b| b.is_ascii_whitespace()).count();
        lines += available[..blank].iter().filter(|&&b| b == b'\n').count() as u64;
        bytes += blank as u64;
        let more = blank == available.len();
        input.consume(blank);
        if !more {
            return Ok((bytes, lines));
        }
    }
}

enum ArrayEnd {
    Complete,
    Stopped,
}

/// Visits a JSON array one element at a time, so the array is never held whole.
struct ArrayVisitor<'f> {
    on_element: &'f mut dyn FnMut(Box<RawValue>) -> ControlFlow<()>,
}

impl<'de> Visitor<'de> for ArrayVisitor<'_> {
    type Value = ArrayEnd;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ArrayEnd, A::Error> {
        while let Some(element) = seq.next_element::<Box<RawValue>>()? {
            if (self.on_element)(element).is_break() {
                return Ok(ArrayEnd::Stopped);
            }
        }
        Ok(ArrayEnd::Complete)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::RowError;
    use crate::parse::tests::{ids_and_amounts, mapper, parse};
    use crate::parse::{parse_rows, FileError, ParseOptions};
    use crate::value::Value;
    use std::io::{self, Cursor, Read};
    use std::ops::ControlFlow;

    #[test]
    fn json_array_streams_elements_and_reports_lines() {
        let m = mapper(r#"{"type": "json"}"#, "");
        let input = b"[\n {\"id\": \"a\", \"amount\": 1},\n {\"amount\": 2},\n {\"id\": \"c\", \"nested\": {\"deep\": [1, 2]}}\n]\n";
        let (summary, records) = parse(&m, input);
        let summary = summary.unwrap();
        assert_eq!(ids_and_amounts(&records), vec![("a".into(), Some("1".into())), ("c".into(), None)]);
        assert_eq!(
            summary.row_errors,
            vec![RowError { row: 2, line: 3, column: Some("id".into()), reason: "required value is missing".into() }]
        );
    }

    #[test]
    fn json_array_arriving_in_one_byte_pieces() {
        struct Trickle(Cursor<Vec<u8>>);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(1);
                self.0.read(&mut buf[..n])
            }
        }
        let m = mapper(r#"{"type": "json"}"#, "");
        let body: String =
            (0..500).map(|i| format!("{{\"id\": \"r{i}\", \"amount\": {i}.25}}")).collect::<Vec<_>>().join(",");
        let mut reader = io::BufReader::with_capacity(1, Trickle(Cursor::new(format!("[{body}]").into_bytes())));
        let mut n = 0;
        let summary = parse_rows(&mut reader, &m, "k", ParseOptions::default(), &mut |r| {
            assert_eq!(r.values[1], Some(Value::Decimal(format!("{n}.25"))));
            n += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!((n, summary.rows_read), (500, 500));
    }

    #[test]
    fn malformed_json_arrays_fail_the_file() {
        let m = mapper(r#"{"type": "json"}"#, "");
        for (name, input) in [
            ("truncated", &b"[{\"id\": \"a\"}, {\"id\": "[..]),
            ("not an array", b"{\"id\": \"a\"}"),
            ("trailing garbage", b"[{\"id\": \"a\"}] x"),
        ] {
            let (result, _) = parse(&m, input);
            assert!(matches!(result, Err(FileError::Malformed { .. })), "{name}: {result:?}");
        }
    }
}
