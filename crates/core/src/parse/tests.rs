//! What every format must do alike: empty and blank files, each kind of bad input at its level (a row
//! error or a file error), the validation pass's stop at the first row error, and a parse stopped at
//! any row going on from its position with the same rows and errors. Also the helpers the formats'
//! own tests share.

use super::*;
use crate::template::Template;
use crate::value::Value;
use std::io::Cursor;

/// A template of a required `id` and an optional decimal `amount`, in `format`.
pub(super) fn mapper(format: &str, extra: &str) -> Mapper {
    let json = format!(
        r#"{{"id": "t", "record_type": "r", "format": {format}, {extra}
        "columns": [
            {{"source": "id", "field": "id", "type": "string", "required": true}},
            {{"source": "amount", "field": "amount", "type": "decimal"}}
        ]}}"#
    );
    Mapper::new(Template::from_json(&json).unwrap())
}

pub(super) fn csv() -> Mapper {
    mapper(r#"{"type": "csv"}"#, "")
}

/// Parses `input` whole, keeping every record.
pub(super) fn parse(m: &Mapper, input: &[u8]) -> (Result<ParseSummary, FileError>, Vec<Record>) {
    let mut records = Vec::new();
    let mut reader = Cursor::new(input.to_vec());
    let summary = parse_rows(&mut reader, m, "k#e", ParseOptions::default(), &mut |r| {
        records.push(r);
        ControlFlow::Continue(())
    });
    (summary, records)
}

/// Each record's id and amount as text.
pub(super) fn ids_and_amounts(records: &[Record]) -> Vec<(String, Option<String>)> {
    records
        .iter()
        .map(|r| {
            let Some(Value::Str(id)) = &r.values[0] else { panic!("{r:?}") };
            let amount = r.values[1].as_ref().map(|v| v.canonical().into_owned());
            (id.clone(), amount)
        })
        .collect()
}

/// A file with no content: 0 bytes, a byte-order mark alone (the decoder removes it), only
/// whitespace, or a gzip stream of nothing. What each format makes of it (README, "Empty files"):
/// a format that needs something at the start (a CSV/TSV header row, a JSON document) fails the
/// file and says so; one whose every line is a record (JSON Lines, CSV/TSV without a header) has
/// read zero records, and the file is imported with 0 rows.
#[test]
fn empty_blank_and_bom_only_files_per_format() {
    let headerless = r#"{"type": "csv", "header": false}"#;
    let formats: [(&str, Mapper, Option<&str>); 6] = [
        ("csv", csv(), Some("the file is empty (no bytes, or only a byte-order mark or whitespace): a CSV file of this template starts with its header row")),
        ("tsv", mapper(r#"{"type": "tsv"}"#, ""), Some("a TSV file of this template starts with its header row")),
        ("csv without header", Mapper::new(Template::from_json(&format!(
            r#"{{"id": "t", "record_type": "r", "format": {headerless},
            "columns": [{{"source": "1", "field": "id", "type": "string", "required": true}}]}}"#)).unwrap()), None),
        ("tsv without header", Mapper::new(Template::from_json(
            r#"{"id": "t", "record_type": "r", "format": {"type": "tsv", "header": false},
            "columns": [{"source": "1", "field": "id", "type": "string", "required": true}]}"#).unwrap()), None),
        ("json lines", mapper(r#"{"type": "json_lines"}"#, ""), None),
        ("json", mapper(r#"{"type": "json"}"#, ""), Some("a JSON file holds one array of objects ([] when there are none)")),
    ];
    let gzip_of_nothing = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        io::Write::write_all(&mut e, b"").unwrap();
        e.finish().unwrap()
    };
    let inputs: [(&str, &[u8]); 6] = [
        ("0 bytes", b""),
        ("byte-order mark only", b"\xef\xbb\xbf"),
        ("byte-order mark and line ends", b"\xef\xbb\xbf\r\n\n"),
        ("spaces and line ends", b"  \n\r\n \r\n\n   "),
        ("one line end", b"\n"),
        ("gzip of nothing", &gzip_of_nothing),
    ];
    for (format, m, failure) in &formats {
        for (input_name, raw) in inputs {
            let mut text = crate::decode::decoded(Cursor::new(raw.to_vec())).unwrap();
            let mut records = 0;
            let result = parse_rows(&mut text, m, "k#e", ParseOptions::default(), &mut |_| {
                records += 1;
                ControlFlow::Continue(())
            });
            let case = format!("{format}, {input_name}");
            match (failure, result) {
                (None, Ok(summary)) => {
                    assert_eq!((summary.rows_read, summary.rows_rejected, records), (0, 0, 0), "{case}")
                }
                (Some(expected), Err(e @ FileError::Empty { .. })) => {
                    assert!(e.to_string().contains(expected), "{case}: {e}")
                }
                (expected, got) => panic!("{case}: expected {expected:?}, got {got:?}"),
            }
        }
    }
    // Not empty: a header alone, or an empty array, is a file of no rows.
    for (format, m, input) in [
        ("csv header only", csv(), &b"id,amount\n"[..]),
        ("tsv header only after blank lines", mapper(r#"{"type": "tsv"}"#, ""), b"\n  \r\nid\tamount\r\n"),
        ("json empty array", mapper(r#"{"type": "json"}"#, ""), b" \n[ ]\n"),
    ] {
        let (result, records) = parse(&m, input);
        let summary = result.unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!((summary.rows_read, records.len()), (0, 0), "{format}");
    }
    // Leading blank lines are skipped, and the lines of row errors still count them.
    let (result, _) = parse(&csv(), b"\n \nid,amount\nx,bad\n");
    assert_eq!(result.unwrap().row_errors[0].line, 4);
    let (result, _) = parse(&mapper(r#"{"type": "json"}"#, ""), b"\n\n[\n{\"amount\": 1}]");
    assert_eq!(result.unwrap().row_errors[0].line, 4);
}

/// Each kind of bad input, and the level its error lands at: a row error (the file goes on) or a
/// file error (the file fails), with a message that says what is wrong.
#[test]
fn bad_input_gets_an_error_at_its_level() {
    let small = ParseLimits { max_record_bytes: 1024, max_json_depth: 8 };
    let parse_with = |m: &Mapper, input: &[u8]| {
        let mut records = 0;
        let options = ParseOptions { limits: small, ..ParseOptions::default() };
        let summary = parse_rows(&mut Cursor::new(input.to_vec()), m, "k#e", options, &mut |_| {
            records += 1;
            ControlFlow::Continue(())
        });
        (summary, records)
    };
    let numbers = Mapper::new(
        Template::from_json(
            r#"{"id": "t", "record_type": "r", "format": {"type": "json_lines"}, "columns": [
                {"source": "id", "field": "id", "type": "string", "required": true},
                {"source": "amount", "field": "amount", "type": "decimal"},
                {"source": "count", "field": "count", "type": "integer"}]}"#,
        )
        .unwrap(),
    );
    let long_line = format!("id,amount\nok,1\n{},1\n", "x".repeat(3000));
    let runaway_quote = format!("id,amount\nok,1\n\"a,1\n{}", "b,2\n".repeat(500));
    let long_json_line = format!("{{\"id\": \"{}\"}}\n", "x".repeat(3000));
    let long_element = format!("[{{\"id\": \"a\"}}, {{\"id\": \"{}\"}}]", "x".repeat(3000));
    let deep = format!("{{\"id\": \"a\", \"x\": {}1{}}}\n{{\"id\": \"b\"}}\n", "[".repeat(20), "]".repeat(20));
    let json_lines = mapper(r#"{"type": "json_lines"}"#, "");
    let csv = csv();
    let json = mapper(r#"{"type": "json"}"#, "");
    // (case, mapper, input, records, row error or file error expected to contain)
    let row_errors: Vec<(&str, &Mapper, &[u8], u64, &str)> = vec![
        ("csv unbalanced quote", &csv, b"id,amount\nok,1\n\"a,1\nb,2\n", 1, "an unbalanced quote?"),
        ("csv NUL byte", &csv, b"id,amount\nok,1\nn\0ul,1\n", 1, "holds a NUL byte"),
        ("csv Latin-1", &csv, b"id,amount\nok,1\ncaf\xe9,1\n", 1, "is the file Latin-1"),
        ("csv ragged", &csv, b"id,amount\nok,1\na,1,2\n", 1, "expected 2 fields as in the header, found 3"),
        ("jsonl blank and broken lines", &json_lines, b"{\"id\": \"ok\"}\n\n{\"id\": \n", 1, "invalid JSON"),
        ("json nested too deep", &json_lines, deep.as_bytes(), 1, "nested deeper than 8 levels"),
        (
            "number beyond f64",
            &numbers,
            b"{\"id\": \"ok\"}\n{\"id\": \"a\", \"amount\": 1e400}\n",
            1,
            "between 1E-130 and 1E+126",
        ),
        (
            "number beyond i64",
            &numbers,
            b"{\"id\": \"ok\"}\n{\"id\": \"a\", \"count\": 9223372036854775808}\n",
            1,
            "64-bit range",
        ),
        (
            "duplicate keys",
            &json_lines,
            b"{\"id\": \"ok\"}\n{\"id\": \"a\", \"id\": \"b\"}\n",
            1,
            "appears more than once",
        ),
    ];
    for (case, m, input, records, expected) in row_errors {
        let (summary, got) = parse_with(m, input);
        let summary = summary.unwrap_or_else(|e| panic!("{case}: a file error {e}"));
        assert_eq!((got, summary.rows_rejected), (records, 1), "{case}: {summary:?}");
        assert!(summary.row_errors[0].reason.contains(expected), "{case}: {:?}", summary.row_errors);
    }
    let file_errors: Vec<(&str, &Mapper, &[u8], &str)> = vec![
        ("csv line over the limit", &csv, long_line.as_bytes(), "longer than 1024 bytes"),
        (
            "csv runaway quote over the limit",
            &csv,
            runaway_quote.as_bytes(),
            "an unbalanced quote, or a line that never ends?",
        ),
        ("csv header missing a required column", &csv, b"amount\n1\n", "lacks required column(s): id"),
        ("csv duplicate headers", &csv, b"id,id,amount\n1,2,3\n", "more than once"),
        ("UTF-16 without a byte-order mark", &csv, b"i\0d\0,\0a\0\n\0", "UTF-16"),
        (
            "jsonl line over the limit",
            &json_lines,
            long_json_line.as_bytes(),
            "JSON Lines record at line 1 is longer than 1024 bytes",
        ),
        (
            "json element over the limit",
            &json,
            long_element.as_bytes(),
            "JSON record at line 1 is longer than 1024 bytes",
        ),
        ("json truncated", &json, b"[{\"id\": \"a\"}, {\"id\"", "malformed JSON"),
        ("json not an array", &json, b"{\"id\": \"a\"}", "malformed JSON"),
    ];
    for (case, m, input, expected) in file_errors {
        let (summary, _) = parse_with(m, input);
        let error = summary.expect_err(case).to_string();
        assert!(error.contains(expected), "{case}: {error}");
    }
}

#[test]
fn stop_at_first_row_error_for_validation_pass() {
    let mut reader = Cursor::new(b"id,amount\n,1\nb,2\n".to_vec());
    let summary = parse_rows(
        &mut reader,
        &csv(),
        "k",
        ParseOptions { stop_at_first_row_error: true, ..ParseOptions::default() },
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    assert!(summary.stopped);
    assert_eq!((summary.rows_read, summary.rows_rejected), (1, 1));
}

/// Parses `input` stopping after every `every` accepted rows and going on from the position it
/// gives, as a hand-over does, over the bytes from that offset on.
fn parse_in_pieces(m: &Mapper, input: &[u8], every: usize) -> (ParseSummary, Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut resume: Option<(ParsePosition, ParseSummary)> = None;
    for pieces in 1.. {
        let offset = resume.as_ref().map_or(0, |(p, _)| p.offset as usize);
        let mut reader = Cursor::new(input[offset..].to_vec());
        let mut taken = 0;
        let options = ParseOptions { resume: resume.take(), ..ParseOptions::default() };
        let summary = parse_rows(&mut reader, m, "k#e", options, &mut |r| {
            records.push(r);
            taken += 1;
            if taken == every {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        match summary.resume_at.clone() {
            Some(position) => resume = Some((position, summary)),
            None => return (summary, records, pieces),
        }
    }
    unreachable!()
}

#[test]
fn a_parse_stopped_at_any_row_goes_on_from_its_position_with_the_same_rows_and_errors() {
    let rows: Vec<(String, String)> =
        (1..=40).map(|i| (format!("r{i}"), if i % 7 == 0 { "bad".to_string() } else { format!("{i}.5") })).collect();
    let delimited = |sep: &str, crlf: bool| {
        let end = if crlf { "\r\n" } else { "\n" };
        let mut text = format!("id{sep}amount{end}");
        for (i, (id, amount)) in rows.iter().enumerate() {
            // A quoted field spanning lines and a blank line move line numbers away from rows.
            let id = if i == 3 { format!("\"{id}\n\"") } else { id.clone() };
            text += &format!("{id}{sep}{amount}{end}");
            if i == 10 {
                text += end;
            }
        }
        text
    };
    let number = |amount: &str| if amount == "bad" { "\"bad\"".to_string() } else { amount.to_string() };
    // Members no column reads, met along the way: the drift carries over a stop.
    let member = |i: usize| if i.is_multiple_of(5) { format!("\"note{}\": 1, ", i % 3) } else { String::new() };
    let lines: String = rows
        .iter()
        .enumerate()
        .map(|(i, (id, a))| format!("{{{}\"id\": \"{id}\", \"amount\": {}}}\n\n", member(i), number(a)))
        .collect();
    // Numbers last, so serde_json reads one byte past each element; and elements over lines.
    let array = format!(
        "[\n{}\n]\n",
        rows.iter()
            .enumerate()
            .map(|(i, (id, a))| format!("{{{}\"id\": \"{id}\",\n \"amount\": {}}}", member(i), number(a)))
            .collect::<Vec<_>>()
            .join(" ,\n")
    );
    let cases = [
        ("csv", csv(), delimited(",", false)),
        ("csv crlf", csv(), delimited(",", true)),
        ("tsv", mapper(r#"{"type": "tsv"}"#, ""), delimited("\t", false)),
        ("json lines", mapper(r#"{"type": "json_lines"}"#, ""), lines),
        ("json array after blank lines", mapper(r#"{"type": "json"}"#, ""), format!("\r\n \n{array}")),
        ("csv after blank lines", csv(), format!("\n  \r\n{}", delimited(",", true))),
        ("json array", mapper(r#"{"type": "json"}"#, ""), array),
    ];
    for (name, m, text) in cases {
        let (whole, whole_records) = parse(&m, text.as_bytes());
        let whole = whole.unwrap();
        assert_eq!((whole.rows_read, whole.rows_rejected), (40, 5), "{name}");
        if name.starts_with("json") {
            assert_eq!(whole.drift.unmapped_columns, ["note0", "note2", "note1"], "{name}");
        }
        for every in [1, 2, 5, 33] {
            let (summary, records, pieces) = parse_in_pieces(&m, text.as_bytes(), every);
            assert!(pieces > 1, "{name}: never stopped");
            assert_eq!(
                records.iter().map(|r| &r.id).collect::<Vec<_>>(),
                whole_records.iter().map(|r| &r.id).collect::<Vec<_>>(),
                "{name}, stopping every {every} rows"
            );
            assert_eq!(ids_and_amounts(&records), ids_and_amounts(&whole_records), "{name}, every {every}");
            assert_eq!(
                (summary.rows_read, summary.rows_rejected, &summary.row_errors, &summary.drift),
                (whole.rows_read, whole.rows_rejected, &whole.row_errors, &whole.drift),
                "{name}, every {every}: the same rows rejected, at the same rows and lines"
            );
        }
    }
}
