//! JSON Lines (NDJSON): one JSON object per line, each read whole into one reused buffer (no longer
//! than the record limit) and mapped as a JSON object. Blank lines separate nothing; a line that is not
//! an object is a row error, and the next line goes on.

use super::bounded::{is_too_long, read_line_bounded};
use super::json_object::map_json_object;
use super::{text_error, FileError, ParseLimits, RawRow, Tally};
use crate::mapping::{FieldError, Mapper};
use crate::model::ParsePosition;
use std::io::BufRead;

/// Parses JSON Lines from `start` on.
pub(super) fn parse(
    input: &mut dyn BufRead,
    mapper: &Mapper,
    prefix: &str,
    start: ParsePosition,
    limits: ParseLimits,
    tally: &mut Tally,
) -> Result<(), FileError> {
    if start.offset == 0 {
        tally.expect_columns(mapper);
    }
    let mut buffer = Vec::with_capacity(4096);
    let (mut offset, mut line) = (start.offset, start.line);
    let limit = limits.max_record_bytes;
    loop {
        buffer.clear();
        let n = read_line_bounded(input, &mut buffer, limit).map_err(|e| match is_too_long(&e) {
            true => FileError::RecordTooLong { format: "JSON Lines", line: line + 1, limit },
            false => FileError::Io(e),
        })?;
        if n == 0 {
            return Ok(());
        }
        offset += n as u64;
        line += 1;
        if buffer.iter().all(u8::is_ascii_whitespace) {
            continue; // blank lines separate nothing in JSON Lines
        }
        let row = tally.next_row();
        let result = match std::str::from_utf8(&buffer) {
            Ok(text) => {
                let depth = limits.max_json_depth;
                let mapped = map_json_object(text, mapper, row, line, prefix, depth, &mut tally.summary.drift);
                tally.unmapped(line, &mapped.unmapped)?;
                mapped.result
            }
            Err(e) => Err(FieldError { column: None, reason: text_error(&buffer, e) }),
        };
        if tally.accept(row, line, result, RawRow::Text(&buffer)).is_break() {
            tally.stopped_at(ParsePosition { offset, line, ..ParsePosition::default() });
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::tests::{ids_and_amounts, mapper, parse};

    #[test]
    fn json_lines_edge_cases() {
        let m = mapper(r#"{"type": "json_lines"}"#, "");
        let input = b"{\"id\": \"a\", \"amount\": 12.50}\n\n  \r\n{\"id\": \"b\\u00e9\", \"amount\": \"3\"}\r\n{broken\n[1]\n{\"id\": {\"x\": 1}}\n{\"id\": \"c\", \"amount\": null}";
        let (summary, records) = parse(&m, input);
        let summary = summary.unwrap();
        assert_eq!(
            ids_and_amounts(&records),
            vec![("a".into(), Some("12.50".into())), ("b\u{e9}".into(), Some("3".into())), ("c".into(), None)]
        );
        assert_eq!(summary.rows_read, 6);
        let lines: Vec<_> = summary.row_errors.iter().map(|e| (e.line, e.reason.clone())).collect();
        assert_eq!(lines[0].0, 5);
        assert!(lines[0].1.starts_with("invalid JSON"), "{lines:?}");
        assert_eq!(lines[1], (6, "expected a JSON object".into()));
        assert_eq!(lines[2], (7, "expected a scalar value, found an object".into()));
    }
}
