//! Schema drift, in every format: the columns a file has that the template does not map, the
//! template's columns it lacks, and the template's `extra_columns` (ignore, keep, fail).

use super::tests::{ids_and_amounts, mapper, parse};
use super::*;

fn with_extra(format: &str, policy: &str) -> Mapper {
    mapper(format, &format!(r#""extra_columns": "{policy}","#))
}

fn extras(records: &[Record]) -> Vec<Vec<(String, String)>> {
    records.iter().map(|r| r.extra.clone()).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn a_header_with_new_and_without_optional_columns_is_reported_and_read_as_the_policy_says() {
    let csv = r#"{"type": "csv"}"#;
    let input = b"id,note,region\r\na,hello,eu\r\nb,,us\r\n";
    // ignore (the default): read as before, the drift said.
    let (summary, records) = parse(&with_extra(csv, "ignore"), input);
    let summary = summary.unwrap();
    assert_eq!(summary.drift.unmapped_columns, ["note", "region"]);
    assert_eq!(summary.drift.missing_columns, ["amount"]);
    assert_eq!(ids_and_amounts(&records), [("a".into(), None), ("b".into(), None)]);
    assert!(records.iter().all(|r| r.extra.is_empty()));
    // keep: the values in `_extra`, the last column without its CR, empty values left out.
    let (summary, records) = parse(&with_extra(csv, "keep"), input);
    assert_eq!(summary.unwrap().drift.unmapped_columns, ["note", "region"]);
    assert_eq!(extras(&records), [pairs(&[("note", "hello"), ("region", "eu")]), pairs(&[("region", "us")])]);
    // fail: the file fails at its header, naming the columns.
    let (result, records) = parse(&with_extra(csv, "fail"), input);
    let e = result.unwrap_err();
    assert!(matches!(e, FileError::Header(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "the header has columns the template does not map: note, region (the template's extra_columns is fail)"
    );
    assert!(records.is_empty());
    // A header that matches has no drift, and fail reads it.
    let (summary, records) = parse(&with_extra(csv, "fail"), b"amount,id\n1,a\n");
    assert_eq!((summary.unwrap().drift, records.len()), (SchemaDrift::default(), 1));
}

#[test]
fn json_members_no_column_reads_are_reported_by_path_and_kept_as_their_text() {
    let m = mapper(r#"{"type": "json_lines"}"#, r#""extra_columns": "keep","#);
    let input = concat!(
        "{\"id\": \"a\", \"amount\": 1, \"tags\": [1, 2], \"meta\": {\"x\": 1}}\n",
        "{\"id\": \"b\", \"amount\": 2, \"flag\": true, \"none\": null, \"note\": \"h\\u00e9\"}\n"
    );
    let (summary, records) = parse(&m, input.as_bytes());
    let summary = summary.unwrap();
    assert_eq!(summary.drift.unmapped_columns, ["tags", "meta", "flag", "none", "note"]);
    assert!(summary.drift.missing_columns.is_empty(), "every column was in some record");
    assert_eq!(
        extras(&records),
        [pairs(&[("tags", "[1, 2]"), ("meta", "{\"x\": 1}")]), pairs(&[("flag", "true"), ("note", "hé")])]
    );
}

#[test]
fn a_json_member_on_the_way_to_a_dotted_column_is_looked_into() {
    let json = r#"{"id": "t", "record_type": "r", "format": {"type": "json"},
        "columns": [{"source": "customer.id", "field": "id", "type": "string", "required": true},
                    {"source": "customer.country", "field": "country", "type": "string"},
                    {"source": "amount", "field": "amount", "type": "decimal"}]}"#;
    let m = Mapper::new(crate::template::Template::from_json(json).unwrap());
    let input = br#"[{"customer": {"id": "c1", "zip": "75001"}, "channel": "web"}, {"customer": {"id": "c2"}}]"#;
    let (summary, records) = parse(&m, input);
    let drift = summary.unwrap().drift;
    assert_eq!(records.len(), 2);
    assert_eq!(drift.unmapped_columns, ["customer.zip", "channel"]);
    // No record had a country or an amount.
    assert_eq!(drift.missing_columns, ["customer.country", "amount"]);
}

#[test]
fn a_json_file_fails_at_the_first_record_with_an_unmapped_member_and_keeps_the_rows_before() {
    for format in [r#"{"type": "json_lines"}"#, r#"{"type": "json"}"#] {
        let m = with_extra(format, "fail");
        let rows = ["{\"id\": \"a\"}", "{\"id\": \"b\", \"extra\": 1}", "{\"id\": \"c\"}"];
        let input = if format.contains("lines") { rows.join("\n") } else { format!("[{}]", rows.join(",\n")) };
        let (summary, counted) = {
            let mut records = Vec::new();
            let options = ParseOptions::default();
            let mut keep = |r: Record| {
                records.push(r);
                ControlFlow::Continue(())
            };
            let mut sink = Records(&mut keep);
            let (summary, error) = parse_rows_counted(&mut std::io::Cursor::new(input), &m, "k#e", options, &mut sink);
            ((summary, error), records)
        };
        let (summary, error) = summary;
        let error = error.expect("the file fails");
        assert_eq!(
            error.to_string(),
            "the record at line 2 holds members the template does not map: extra (the template's extra_columns is fail)",
            "{format}"
        );
        assert_eq!((counted.len(), summary.rows_read), (1, 2), "{format}: the row before is kept");
        assert_eq!(summary.drift.unmapped_columns, ["extra"]);
    }
}

#[test]
fn unmapped_names_are_bounded_and_an_empty_json_file_lacks_nothing() {
    let m = mapper(r#"{"type": "json_lines"}"#, "");
    let input: String = (0..200).map(|i| format!("{{\"id\": \"r{i}\", \"m{i}\": 1}}\n")).collect();
    let (summary, records) = parse(&m, input.as_bytes());
    let drift = summary.unwrap().drift;
    assert_eq!((records.len(), drift.unmapped_columns.len()), (200, SchemaDrift::MAX_NAMES));
    assert_eq!(drift.unmapped_columns[49], "m49");
    assert_eq!(drift.missing_columns, ["amount"]);
    let (summary, _) = parse(&mapper(r#"{"type": "json"}"#, ""), b"[]");
    assert_eq!(summary.unwrap().drift, SchemaDrift::default());
}

#[test]
fn keep_and_fail_need_a_header_and_keep_reserves_its_field() {
    let headerless = r#"{"id": "t", "record_type": "r", "format": {"type": "csv", "header": false}, "extra_columns": "keep",
        "columns": [{"source": "1", "field": "id", "type": "string"}]}"#;
    let e = crate::template::Template::from_json(headerless).unwrap_err().to_string();
    assert!(e.contains("extra_columns: needs a header row"), "{e}");
    let clash = r#"{"id": "t", "record_type": "r", "format": {"type": "csv"}, "extra_columns": "keep",
        "columns": [{"source": "x", "field": "_extra", "type": "string"}]}"#;
    let e = crate::template::Template::from_json(clash).unwrap_err().to_string();
    assert!(e.contains("columns[0].field: '_extra' holds the unmapped columns"), "{e}");
}

#[test]
fn a_null_on_the_way_to_a_dotted_column_is_no_drift_and_a_fixed_rejects_file_has_none() {
    let json = r#"{"id": "t", "record_type": "r", "format": {"type": "json_lines"}, "extra_columns": "fail",
        "columns": [{"source": "id", "field": "id", "type": "string", "required": true},
                    {"source": "address.country", "field": "country", "type": "string"}]}"#;
    let m = Mapper::new(crate::template::Template::from_json(json).unwrap());
    let (summary, records) = parse(&m, b"{\"id\": \"a\", \"address\": null}\n{\"id\": \"b\", \"address\": \"x\"}\n");
    let summary = summary.expect("no member is unmapped");
    assert_eq!((records.len(), summary.drift.unmapped_columns.len()), (2, 0));
    assert_eq!(summary.drift.missing_columns, ["address.country"]);
    // The columns a rejects object adds, as a fixed file sent back carries them.
    let csv = with_extra(r#"{"type": "csv"}"#, "fail");
    let (summary, records) = parse(&csv, b"id,amount,_line,_column,_reason\na,1,3,amount,bad\n");
    assert_eq!((summary.unwrap().drift, records.len()), (SchemaDrift::default(), 1));
    let lines = with_extra(r#"{"type": "json_lines"}"#, "fail");
    let (summary, records) =
        parse(&lines, b"{\"_line\":2,\"_column\":null,\"_reason\":\"bad\",\"id\": \"a\", \"amount\": 1}\n");
    assert_eq!((summary.unwrap().drift, records.len()), (SchemaDrift::default(), 1));
}
