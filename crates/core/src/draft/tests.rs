//! Drafts of delimited samples: each type and format, delimiters, headers and their names. Every
//! draft is checked by reading its sample with it, as a sync reads a file ([`reads_every_row`]).

use super::columns::{field_name, name_from_file};
use super::*;
use crate::parse::ParseSummary;
use crate::template::{Column, FieldType, FormatKind};

/// The draft of `data` named `name`, with the options given.
pub(super) fn draft_with(name: &str, data: &[u8], options: &DraftOptions) -> Draft {
    let drafted = draft(Cursor::new(data.to_vec()), name, options).unwrap_or_else(|e| panic!("{name}: {e}"));
    reads_every_row(&drafted, data);
    drafted
}

pub(super) fn draft_of(name: &str, data: &[u8]) -> Draft {
    draft_with(name, data, &DraftOptions::default())
}

/// Reads the sample's raw bytes with the drafted template through the sync's layers (decoding by
/// magic bytes, the template's encoding, its parser and mapping), as far as the draft read, and
/// asserts that no row is rejected and the file does not fail before.
pub(super) fn reads_every_row(draft: &Draft, data: &[u8]) -> ParseSummary {
    let template = &draft.template;
    let decoded =
        crate::decode::decode_limited(Cursor::new(data.to_vec()), DecodeLimits::default(), template.format.encoding);
    let mut text = decoded.unwrap_or_else(|e| panic!("decoding with {template:?}: {e}")).text;
    let mapper = Mapper::new(template.clone());
    let mut accepted = 0;
    let mut count = |_: crate::mapping::Record| {
        accepted += 1;
        if accepted >= draft.rows_sampled {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let mut records = crate::parse::Records(&mut count);
    let (summary, file_error) = parse_rows_counted(&mut text, &mapper, "k", ParseOptions::default(), &mut records);
    assert_eq!(summary.rows_rejected, 0, "{:?} of {template:#?}", summary.row_errors);
    assert!(file_error.is_none() || summary.rows_read >= draft.rows_sampled, "{file_error:?}: {template:#?}");
    assert_eq!(summary.rows_read, draft.rows_sampled, "{template:#?}");
    let failed = |w: &&String| w.contains("the draft rejects") || w.contains("the draft cannot read");
    assert!(!draft.warnings.iter().any(|w| failed(&w)), "{:?}", draft.warnings);
    summary
}

/// (source, field, type, format, required) of each column.
pub(super) fn described(template: &Template) -> Vec<(String, String, FieldType, Option<String>, bool)> {
    template
        .columns
        .iter()
        .map(|Column { source, field, field_type, format, required, .. }| {
            (source.clone(), field.clone(), *field_type, format.clone(), *required)
        })
        .collect()
}

pub(super) fn column(
    source: &str,
    field: &str,
    field_type: FieldType,
    format: Option<&str>,
    required: bool,
) -> (String, String, FieldType, Option<String>, bool) {
    (source.into(), field.into(), field_type, format.map(str::to_owned), required)
}

pub(super) const EACH_TYPE: &str = "\
Active,Count,Flag,Price,Day,Day EU,Paid At,Created,Name,Empty,Note
yes,1,0,1.50,2026-01-15,13/01/2026,2026-01-15T10:00:00Z,2026-01-15 10:00:00,alice,,x
no,-2,1,2.25,2026-02-01,01/02/2026,2026-01-15T10:00:00+01:00,2026-01-16 11:30:00.250,bob,,
Y,30,1,3,2026-03-31,31/03/2026,2026-01-17T10:00:00.5Z,2026-01-17 12:00:00,\"carol, jr\",,z
";

#[test]
fn each_type_is_the_narrowest_that_every_value_fits() {
    let drafted = draft_of("exports/orders-2026-11.csv", EACH_TYPE.as_bytes());
    let template = &drafted.template;
    assert_eq!((template.id.as_str(), template.record_type.as_str()), ("orders", "orders"));
    assert_eq!(template.format.kind, FormatKind::Csv);
    assert_eq!(
        (template.format.delimiter, template.format.quote, template.format.header),
        (Some(','), Some('"'), true)
    );
    assert_eq!(template.format.encoding, TextEncoding::Utf8);
    use FieldType::*;
    assert_eq!(
        described(template),
        vec![
            column("Active", "active", Boolean, None, true),
            column("Count", "count", Integer, None, true),
            column("Flag", "flag", Integer, None, true),
            column("Price", "price", Decimal, None, true),
            column("Day", "day", Date, Some("%Y-%m-%d"), true),
            column("Day EU", "day_eu", Date, Some("%d/%m/%Y"), true),
            column("Paid At", "paid_at", Timestamp, None, true),
            column("Created", "created", Timestamp, Some("%Y-%m-%d %H:%M:%S%.f"), true),
            column("Name", "name", String, None, true),
            column("Empty", "empty", String, None, false),
            column("Note", "note", String, None, false),
        ]
    );
    assert_eq!(drafted.rows_sampled, 3);
    assert_eq!(drafted.warnings, ["column 'Empty' is empty in every sampled row: typed string"]);
}

#[test]
fn dates_are_month_first_unless_a_day_above_12_says_otherwise() {
    let data = "us,either,eu,eu_time,us_time\n01/02/2026,01/02/2026,13/02/2026,13/02/2026 10:00,02/13/2026 10:00:00\n\
                12/31/2026,03/04/2026,01/12/2026,01/12/2026 23:59,01/02/2026 00:00:00\n";
    let drafted = draft_of("d.csv", data.as_bytes());
    let formats: Vec<_> = drafted.template.columns.iter().map(|c| (c.field_type, c.format.as_deref())).collect();
    use FieldType::*;
    assert_eq!(
        formats,
        [
            (Date, Some("%m/%d/%Y")),
            (Date, Some("%m/%d/%Y")),
            (Date, Some("%d/%m/%Y")),
            (Timestamp, Some("%d/%m/%Y %H:%M")),
            (Timestamp, Some("%m/%d/%Y %H:%M:%S")),
        ]
    );
    assert_eq!(
        drafted.warnings,
        ["dates in column 'either' could be day/month or month/day (no day above 12 in the sample): read as \
          month/day (%m/%d/%Y); make the format %d/%m/%Y if the day comes first"]
    );
}

#[test]
fn numbers_that_are_codes_or_dates_and_booleans_that_are_numbers() {
    let data = "zip,day,bits,tf,year\n01234,20260115,0,T,2026\n90210,20261231,1,f,2027\n";
    let drafted = draft_of("codes.csv", data.as_bytes());
    use FieldType::*;
    assert_eq!(
        described(&drafted.template),
        vec![
            column("zip", "zip", String, None, true),
            column("day", "day", Date, Some("%Y%m%d"), true),
            column("bits", "bits", Integer, None, true),
            column("tf", "tf", Boolean, None, true),
            column("year", "year", Integer, None, true),
        ]
    );
    assert_eq!(
        drafted.warnings,
        [
            "column 'zip' holds numbers with leading zeros (such as '01234'): typed string, which keeps them",
            "column 'day' holds 8-digit numbers that all read as dates: typed date (%Y%m%d); make it an integer if \
             they are numbers",
        ]
    );
}

#[test]
fn the_delimiter_is_the_one_that_splits_rows_alike() {
    let cases: [(&str, &str, FormatKind, char, usize); 5] = [
        ("semicolons, decimal commas", "id;amount;note\n1;1,5;a, b\n2;2,5;c\n", FormatKind::Csv, ';', 3),
        ("tabs in a .txt", "id\tamount\n1\t1.5\n2\t2\n", FormatKind::Tsv, '\t', 2),
        ("pipes", "id|name\n1|a,b\n2|c;d\n", FormatKind::Csv, '|', 2),
        ("commas inside quotes", "id,note\n1,\"a;b;c\"\n2,\"d;e;f\"\n", FormatKind::Csv, ',', 2),
        ("one column", "id\n1\n2\n", FormatKind::Csv, ',', 1),
    ];
    for (case, data, kind, delimiter, columns) in cases {
        let drafted = draft_of("sample.txt", data.as_bytes());
        let format = &drafted.template.format;
        assert_eq!(
            (format.kind, format.delimiter, drafted.template.columns.len()),
            (kind, Some(delimiter), columns),
            "{case}"
        );
    }
    let drafted = draft_of("amounts.csv", b"id;amount\n1;1,5\n2;2,25\n");
    assert_eq!(drafted.template.columns[1].field_type, FieldType::String, "1,5 is no decimal a template reads");
    let drafted = draft_of("a.tsv", b"id,x\tamount\n1,2\t3\n");
    assert_eq!((drafted.template.format.kind, drafted.template.columns[0].source.as_str()), (FormatKind::Tsv, "id,x"));
}

#[test]
fn a_first_row_of_data_is_no_header() {
    let data = "1,2.5,2026-01-01,alice\n2,3.5,2026-01-02,bob\n3,,2026-01-03,carol\n";
    let drafted = draft_of("headerless.csv", data.as_bytes());
    assert!(!drafted.template.format.header);
    use FieldType::*;
    assert_eq!(
        described(&drafted.template),
        vec![
            column("1", "column_1", Integer, None, true),
            column("2", "column_2", Decimal, None, false),
            column("3", "column_3", Date, Some("%Y-%m-%d"), true),
            column("4", "column_4", String, None, true),
        ]
    );
    assert_eq!(drafted.rows_sampled, 3);
    assert!(drafted.warnings[0].starts_with("the first row looks like data"), "{:?}", drafted.warnings);
    // The row limit counts the first row too when it is data.
    let options = DraftOptions { rows: 2, ..DraftOptions::default() };
    assert_eq!(draft_with("headerless.csv", data.as_bytes(), &options).rows_sampled, 2);

    let cases: [(&str, &str, bool); 6] = [
        ("names above numbers", "id,amount\n1,2\n", true),
        ("numbers as names above numbers", "id,2024,2025\n1,2,3\n", true),
        ("all text", "alice,smith\nbob,jones\n", true),
        ("all text, a name twice", "a,a,b\nc,d,e\n", false),
        ("one row of numbers", "1,2,3\n", false),
        ("one row of names", "id,amount\n", true),
    ];
    for (case, data, header) in cases {
        assert_eq!(draft_of("h.csv", data.as_bytes()).template.format.header, header, "{case}");
    }
}

#[test]
fn header_names_become_safe_unique_fields() {
    let data = "Order ID,orderId,Amount (EUR),,dup,dup,名前,x\n1,2,3.5,a,b,c,d,e\n";
    let drafted = draft_of("names.csv", data.as_bytes());
    let fields: Vec<(&str, &str)> =
        drafted.template.columns.iter().map(|c| (c.source.as_str(), c.field.as_str())).collect();
    assert_eq!(
        fields,
        [
            ("Order ID", "order_id"),
            ("orderId", "order_id_2"),
            ("Amount (EUR)", "amount_eur"),
            ("名前", "column_4"),
            ("x", "x")
        ]
    );
    assert_eq!(
        drafted.warnings,
        [
            "column 4 has no name in the header: left out (a template reads a column by its header name)",
            "the header names 'dup' more than once: those columns are left out (a template reads a column by its \
             header name, which must be unique)",
            "'Order ID' and 'orderId' make the same field name 'order_id': 'orderId' is field 'order_id_2'",
        ]
    );
}

#[test]
fn rows_a_template_rejects_are_said() {
    let data = "id,n\n1,2\n3,4,5\n6,7\n";
    let drafted = draft(Cursor::new(data.as_bytes()), "ragged.csv", &DraftOptions::default()).unwrap();
    assert_eq!(drafted.template.columns[1].field_type, FieldType::Integer, "typed without the ragged row");
    assert_eq!(drafted.rows_sampled, 3);
    assert_eq!(
        drafted.warnings,
        ["the draft rejects sampled row 2 (line 3): expected 2 fields as in the header, found 3"]
    );
}

#[test]
fn a_header_alone_gives_text_columns() {
    let drafted = draft_of("empty-export.csv", b"id,amount\r\n");
    assert_eq!(drafted.rows_sampled, 0);
    assert!(drafted.template.columns.iter().all(|c| c.field_type == FieldType::String && !c.required));
    assert_eq!(drafted.warnings, ["columns 'id', 'amount' are empty in every sampled row: typed string"]);
}

#[test]
fn a_sample_wider_than_a_template_is_cut_to_its_columns() {
    let header: Vec<String> = (0..1500).map(|i| if i % 2 == 0 { format!("c{i}") } else { String::new() }).collect();
    let row = vec!["1"; 1500].join(",");
    let data = format!("{}\n{row}\n{row}\n", header.join(","));
    let drafted = draft_of("wide.csv", data.as_bytes());
    assert_eq!(drafted.template.columns.len(), 500, "the named ones of the first 1000");
    assert_eq!(
        drafted.warnings,
        [
            "columns 2, 4, 6, 8, 10 and 495 more have no name in the header: left out (a template reads a column by \
             its header name)",
            "the header names 1500 columns: the draft has the first 1000",
        ]
    );
    let headerless = format!("{row}\n{row}\n");
    let drafted = draft_of("wide.csv", headerless.as_bytes());
    assert_eq!(drafted.template.columns.len(), 1000);
    assert_eq!(drafted.warnings[1], "the sample has 1500 columns: the draft has the first 1000");
}

#[test]
fn names_from_headers_and_files() {
    let fields = [
        ("Order ID", "order_id"),
        ("paidAt", "paid_at"),
        ("HTTPStatus", "httpstatus"),
        ("  amount  ", "amount"),
        ("Amount (€)", "amount"),
        ("a.b.c", "a_b_c"),
        ("address.country", "address_country"),
        ("2024", "2024"),
        ("€", ""),
    ];
    for (name, field) in fields {
        assert_eq!(field_name(name), field, "{name}");
    }
    let files = [
        ("orders-2026-11.csv", "orders"),
        ("exports/orders-2026-11.csv.gz", "orders"),
        ("2026-11-01_payments_v2.CSV.ZST", "payments_v2"),
        ("Customer Export 20261101T1200.json", "customer_export"),
        ("2026-11-01.csv", "draft"),
        ("data", "data"),
        (".csv", "csv"),
    ];
    for (file, id) in files {
        assert_eq!(name_from_file(file), id, "{file}");
    }
}

#[test]
fn an_id_given_names_the_template_and_its_records() {
    let options = DraftOptions { id: Some("payments-v2".into()), ..DraftOptions::default() };
    let drafted = draft_with("x.csv", b"id\n1\n", &options);
    assert_eq!((drafted.template.id.as_str(), drafted.template.record_type.as_str()), ("payments-v2", "payments-v2"));
    let options = DraftOptions { id: Some("pay ments".into()), ..DraftOptions::default() };
    let refused = draft(Cursor::new(b"id\n1\n".to_vec()), "x.csv", &options).unwrap_err();
    assert_eq!(refused.to_string(), "id: 'pay ments' must be 1-128 characters of letters, digits, '-', '_' or '.'");
}
