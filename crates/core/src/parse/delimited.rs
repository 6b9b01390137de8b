//! CSV and TSV, over the csv crate: a header row resolved against the template's columns (or column
//! numbers without one), then one record per row, read into one reused `ByteRecord`. Ragged rows,
//! unbalanced quotes and bytes that are not UTF-8 are row errors naming the row; a header that lacks
//! a required column, or a record past the limit, fails the file.

use super::bounded::{is_too_long, RecordGuard};
use super::{fallback_id, text_error, FileError, ParseLimits, RawRow, Tally, NUL_HINT};
use crate::mapping::{FieldError, Mapper};
use crate::model::{ParsePosition, SchemaDrift};
use crate::rejects::is_added_by_rejects;
use crate::template::{ExtraColumns, FormatKind};
use std::borrow::Cow;
use std::cell::Cell;
use std::io::BufRead;
use std::rc::Rc;

/// The csv crate's error as the file's; `line` is where the record in progress began.
fn csv_error(e: csv::Error, line: u64, limit: u64) -> FileError {
    let at = e.position().map(|p| p.line()).unwrap_or(line);
    match e.into_kind() {
        csv::ErrorKind::Io(io) if is_too_long(&io) => FileError::RecordTooLong { format: "CSV", line, limit },
        csv::ErrorKind::Io(io) => FileError::Io(io),
        other => FileError::Malformed { format: "CSV", line: at, reason: format!("{other:?}") },
    }
}

/// The CSV reader's buffer: how far ahead of the record in progress it may read.
const CSV_BUFFER: usize = 256 * 1024;

/// Parses CSV or TSV (the template says which delimiter and quote) from `start` on.
pub(super) fn parse(
    input: &mut dyn BufRead,
    mapper: &Mapper,
    prefix: &str,
    start: ParsePosition,
    limits: ParseLimits,
    tally: &mut Tally,
) -> Result<(), FileError> {
    let format = &mapper.template.format;
    let record_start = Rc::new(Cell::new(0));
    let limit = limits.max_record_bytes;
    let guard =
        RecordGuard { inner: input, read: 0, record_start: record_start.clone(), allowed: limit + CSV_BUFFER as u64 };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(format.delimiter_byte())
        .quote(format.quote_byte())
        .has_headers(false)
        // Ragged rows become row errors naming the row, not a reader error.
        .flexible(true)
        // Records end at '\n' only; a '\r' before it is cut from the last field below. With the
        // default (any of CR, LF, CRLF) the csv crate reports every record after a CRLF one line short.
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(CSV_BUFFER)
        .from_reader(guard);
    let mut record = csv::ByteRecord::new();
    let mut header = start.header;
    if format.header && header.is_none() {
        // The first line that is not blank; a file without one has no header, so nothing says
        // which column is which: it fails rather than pass for a file of no rows.
        loop {
            let line_now = start.line + reader.position().line();
            if !reader.read_byte_record(&mut record).map_err(|e| csv_error(e, line_now, limit))? {
                let needs = match mapper.template.format.kind {
                    FormatKind::Tsv => "a TSV file of this template starts with its header row",
                    _ => "a CSV file of this template starts with its header row",
                };
                return Err(FileError::Empty { needs });
            }
            let end = reader.position().byte();
            if end - record_start.replace(end) > limit {
                return Err(FileError::RecordTooLong { format: "CSV", line: line_now, limit });
            }
            if !is_blank(&record) {
                break;
            }
        }
        if record.as_slice().contains(&0) {
            return Err(FileError::Header(format!("the header holds NUL bytes: {NUL_HINT}")));
        }
        header = Some(record.iter().map(|b| String::from_utf8_lossy(b).trim().to_owned()).collect());
    }
    let (positions, width) = if let Some(names) = &header {
        (resolve_header(names, mapper)?, Some(names.len()))
    } else {
        let positions = mapper.columns().iter().map(|c| c.source.parse::<usize>().ok().map(|n| n - 1)).collect();
        (positions, None)
    };
    // Without a header nothing names a column the template leaves out (validation refuses keep
    // and fail then).
    if let Some(names) = &header {
        tally.emit.header(names);
    }
    let extras = match &header {
        Some(names) => header_drift(names, mapper, &positions, &mut tally.summary.drift)?,
        None => Vec::new(),
    };
    // A row of the header's width mapped, with its unmapped columns when the template keeps them.
    let map = |record: &csv::ByteRecord, last: usize, row: u64, line: u64| {
        let result = mapper.map_row(
            row,
            line,
            |i| match positions[i].and_then(|p| record.get(p).map(|b| (p, b))) {
                None => Ok(None),
                Some((p, bytes)) => {
                    let bytes = if p == last { bytes.strip_suffix(b"\r").unwrap_or(bytes) } else { bytes };
                    match std::str::from_utf8(bytes) {
                        Ok(text) if !text.contains('\0') => Ok(Some(Cow::Borrowed(text))),
                        Ok(_) => Err(format!("holds a NUL byte: {NUL_HINT}")),
                        Err(e) => Err(text_error(bytes, e)),
                    }
                }
            },
            || fallback_id(prefix, row),
        );
        match extras.is_empty() {
            true => result,
            false => result.and_then(|r| mapper.with_extra(r, extra_values(record, &extras, last)?)),
        }
    };
    loop {
        let line_now = start.line + reader.position().line();
        if !reader.read_byte_record(&mut record).map_err(|e| csv_error(e, line_now, limit))? {
            break;
        }
        let end = reader.position().byte();
        if end - record_start.replace(end) > limit {
            return Err(FileError::RecordTooLong { format: "CSV", line: line_now, limit });
        }
        if is_blank(&record) {
            continue;
        }
        let last = record.len() - 1;
        let row = tally.next_row();
        let line = start.line + record.position().map(|p| p.line()).unwrap_or(0);
        let result = if let Some(width) = width.filter(|&w| w != record.len()) {
            let mut reason = format!("expected {width} fields as in the header, found {}", record.len());
            let breaks = record.as_slice().iter().filter(|&&b| b == b'\n').count();
            if breaks > 0 {
                reason.push_str(&format!(" (a quoted value runs over {} lines: an unbalanced quote?)", breaks + 1));
            }
            Err(FieldError { column: None, reason })
        } else {
            map(&record, last, row, line)
        };
        if tally.accept(row, line, result, RawRow::Fields(&record)).is_break() {
            let next = reader.position();
            tally.stopped_at(ParsePosition {
                offset: start.offset + next.byte(),
                line: start.line + next.line() - 1,
                header,
                row_group_rows: 0,
            });
            return Ok(());
        }
    }
    Ok(())
}

/// A blank line: one field of nothing but whitespace (a '\r' left by CRLF, spaces). Not a row, as
/// blank lines are not in JSON Lines; a line with a delimiter is a row of empty fields.
fn is_blank(record: &csv::ByteRecord) -> bool {
    record.len() == 1 && record[0].iter().all(u8::is_ascii_whitespace)
}

/// The header's drift from the template: its names no column reads, and the template's columns it
/// lacks. Fails the file when the template says so (`extra_columns: fail`); gives the unmapped
/// columns' positions and names when it keeps them.
fn header_drift(
    names: &[String],
    mapper: &Mapper,
    positions: &[Option<usize>],
    drift: &mut SchemaDrift,
) -> Result<Vec<(usize, String)>, FileError> {
    let columns = mapper.columns();
    let unmapped: Vec<(usize, &String)> = names
        .iter()
        .enumerate()
        .filter(|(_, name)| {
            !name.is_empty() && !is_added_by_rejects(name) && !columns.iter().any(|c| &c.source == *name)
        })
        .collect();
    *drift = SchemaDrift::default();
    for (_, name) in &unmapped {
        drift.add_unmapped(name);
    }
    drift.missing_columns =
        columns.iter().zip(positions).filter(|(_, p)| p.is_none()).map(|(c, _)| c.source.clone()).collect();
    match mapper.template.extra_columns {
        ExtraColumns::Ignore => Ok(Vec::new()),
        ExtraColumns::Keep => Ok(unmapped.into_iter().map(|(i, name)| (i, name.clone())).collect()),
        ExtraColumns::Fail if unmapped.is_empty() => Ok(Vec::new()),
        ExtraColumns::Fail => {
            let names: Vec<&str> = unmapped.iter().map(|(_, n)| n.as_str()).collect();
            Err(FileError::Header(format!(
                "the header has columns the template does not map: {} (the template's extra_columns is fail)",
                names.join(", ")
            )))
        }
    }
}

/// The row's values of the unmapped columns at `extras`, as text; empty ones left out.
fn extra_values(
    record: &csv::ByteRecord,
    extras: &[(usize, String)],
    last: usize,
) -> Result<Vec<(String, String)>, FieldError> {
    let mut values = Vec::new();
    for (p, name) in extras {
        let Some(bytes) = record.get(*p) else { continue };
        let bytes = if *p == last { bytes.strip_suffix(b"\r").unwrap_or(bytes) } else { bytes };
        let text = std::str::from_utf8(bytes)
            .map_err(|e| FieldError { column: Some(name.clone()), reason: text_error(bytes, e) })?;
        if !text.trim().is_empty() {
            values.push((name.clone(), text.to_owned()));
        }
    }
    Ok(values)
}

/// Finds each template column in the header. A required column without a default must be present;
/// a column the template reads must not appear twice.
fn resolve_header(names: &[String], mapper: &Mapper) -> Result<Vec<Option<usize>>, FileError> {
    let mut missing = Vec::new();
    let mut positions = Vec::new();
    for column in mapper.columns() {
        let mut found = names.iter().enumerate().filter(|(_, n)| **n == column.source).map(|(i, _)| i);
        let position = found.next();
        if found.next().is_some() {
            return Err(FileError::Header(format!("header names column '{}' more than once", column.source)));
        }
        if position.is_none() && column.required && column.default.is_none() {
            missing.push(column.source.as_str());
        }
        positions.push(position);
    }
    if !missing.is_empty() {
        return Err(FileError::Header(format!("header lacks required column(s): {}", missing.join(", "))));
    }
    Ok(positions)
}

#[cfg(test)]
mod tests {
    use crate::mapping::Mapper;
    use crate::model::RowError;
    use crate::parse::tests::{csv, ids_and_amounts, mapper, parse};
    use crate::parse::FileError;
    use crate::template::Template;

    #[test]
    fn csv_edge_cases() {
        let cases: &[(&str, &[u8], &[(&str, Option<&str>)], u64)] = &[
            ("quoted comma and newline", b"id,amount\n\"a,\nb\",1.5\n", &[("a,\nb", Some("1.5"))], 0),
            ("crlf", b"id,amount\r\nx,1\r\ny,2\r\n\r\n", &[("x", Some("1")), ("y", Some("2"))], 0),
            ("crlf, quoted last field", b"id,amount\r\n\"a\r\nb\",\"1\"\r\n", &[("a\r\nb", Some("1"))], 0),
            ("blank lines", b"id,amount\n\nx,1\n\n", &[("x", Some("1"))], 0),
            ("no final newline", b"id,amount\nx,1", &[("x", Some("1"))], 0),
            ("header only", b"id,amount\n", &[], 0),
            ("reordered and extra header", b"note,amount,id\nhi,3,z\n", &[("z", Some("3"))], 0),
            ("optional column absent", b"id\nq\n", &[("q", None)], 0),
            ("ragged rows", b"id,amount\nx,1,extra\ny\nz,3\n", &[("z", Some("3"))], 2),
            ("escaped quotes", b"id,amount\n\"say \"\"hi\"\"\",1\n", &[("say \"hi\"", Some("1"))], 0),
            ("invalid utf-8", b"id,amount\n\xff\xfe,1\nok,2\n", &[("ok", Some("2"))], 1),
            ("bad decimal", b"id,amount\nx,abc\ny,2\n", &[("y", Some("2"))], 1),
        ];
        let m = csv();
        for (name, input, expected, rejected) in cases {
            let (summary, records) = parse(&m, input);
            let summary = summary.unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected: Vec<_> = expected.iter().map(|(a, b)| (a.to_string(), b.map(str::to_owned))).collect();
            assert_eq!(ids_and_amounts(&records), expected, "case {name}");
            assert_eq!(summary.rows_rejected, *rejected, "case {name}: {:?}", summary.row_errors);
        }
    }

    #[test]
    fn row_errors_say_row_line_column_and_why() {
        let (summary, _) = parse(&csv(), b"id,amount\n\"multi\nline\",1\nx,1,2\n,5\ny,\xff\n");
        let errors = summary.unwrap().row_errors;
        let expected = vec![
            RowError { row: 2, line: 4, column: None, reason: "expected 2 fields as in the header, found 3".into() },
            RowError { row: 3, line: 5, column: Some("id".into()), reason: "required value is missing".into() },
            RowError {
                row: 4,
                line: 6,
                column: Some("amount".into()),
                reason: "invalid UTF-8 at byte 0 of the value (the template reads UTF-8; is the file Latin-1 or Windows-1252? Then set its encoding)".into(),
            },
        ];
        assert_eq!(errors, expected);
    }

    #[test]
    fn crlf_files_report_the_right_lines() {
        let (summary, _) = parse(&csv(), b"id,amount\r\nx,1\r\ny,bad\r\n\"multi\r\nline\",1\r\nz,bad\r\n");
        let lines: Vec<_> = summary.unwrap().row_errors.iter().map(|e| (e.row, e.line)).collect();
        assert_eq!(lines, [(2, 3), (4, 6)]);
    }

    #[test]
    fn row_ids_without_primary_key_are_prefix_and_row() {
        let (_, records) = parse(&csv(), b"id,amount\na,1\nb,2\n");
        assert_eq!(records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["k#e#1", "k#e#2"]);
    }

    #[test]
    fn header_problems_fail_the_file() {
        let (r, _) = parse(&csv(), b"amount\n1\n");
        assert!(matches!(r, Err(FileError::Header(m)) if m.contains("lacks required column(s): id")));
        let (r, _) = parse(&csv(), b"id,id,amount\n1,2,3\n");
        assert!(matches!(r, Err(FileError::Header(m)) if m.contains("'id' more than once")));
    }

    #[test]
    fn tsv_and_headerless_csv() {
        let tsv = mapper(r#"{"type": "tsv"}"#, "");
        let (_, records) = parse(&tsv, b"id\tamount\na,b\t1\n");
        assert_eq!(ids_and_amounts(&records), vec![("a,b".into(), Some("1".into()))]);

        let headerless = Mapper::new(
            Template::from_json(
                r#"{"id": "t", "record_type": "r", "format": {"type": "csv", "header": false, "delimiter": ";"},
                "columns": [{"source": "2", "field": "id", "type": "string", "required": true},
                            {"source": "1", "field": "amount", "type": "decimal"}]}"#,
            )
            .unwrap(),
        );
        let (_, records) = parse(&headerless, b"7;x\n8;y\n");
        assert_eq!(ids_and_amounts(&records), vec![("x".into(), Some("7".into())), ("y".into(), Some("8".into()))]);
    }
}
