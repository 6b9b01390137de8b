//! Drafts of JSON samples, compressed samples, samples in other encodings, samples larger than
//! what a draft reads, and samples no template can be drafted from.

use super::tests::{column, described, draft_of, draft_with, reads_every_row};
use super::*;
use crate::decode::{compress, Compression};
use crate::template::{FieldType, FormatKind};
use std::sync::atomic::{AtomicU64, Ordering};

const NESTED_ARRAY: &str = r#"
[
  {"id": "a1", "amount": 1.50, "paid": true, "address": {"country": "FR", "city": "Paris"}, "tags": ["x"],
   "at": "2026-01-02T03:04:05Z", "note": null},
  {"id": "a2", "amount": 2, "paid": false, "address": {"country": "DE"}, "tags": [],
   "at": "2026-01-03T03:04:05+01:00", "extra": 5}
]
"#;

#[test]
fn a_json_array_of_nested_objects() {
    let drafted = draft_of("in/payments.json", NESTED_ARRAY.as_bytes());
    let template = &drafted.template;
    assert_eq!((template.format.kind, template.format.delimiter), (FormatKind::Json, None));
    use FieldType::*;
    assert_eq!(
        described(template),
        vec![
            column("id", "id", String, None, true),
            column("amount", "amount", Decimal, None, true),
            column("paid", "paid", Boolean, None, true),
            column("address.country", "address_country", String, None, true),
            column("address.city", "address_city", String, None, false),
            column("at", "at", Timestamp, None, true),
            column("note", "note", String, None, false),
            column("extra", "extra", Integer, None, false),
        ]
    );
    assert_eq!(
        drafted.warnings,
        [
            "member 'tags' holds arrays: left out (a template reads scalar values only)",
            "column 'note' is empty in every sampled row: typed string",
        ]
    );
    assert_eq!(drafted.rows_sampled, 2);
    // Named for no format: the content says it.
    assert_eq!(draft_of("in/payments", NESTED_ARRAY.as_bytes()).template.format.kind, FormatKind::Json);
    // A limit of rows stops inside the array.
    let options = DraftOptions { rows: 1, ..DraftOptions::default() };
    let first = draft_with("p.json", NESTED_ARRAY.as_bytes(), &options);
    assert_eq!((first.rows_sampled, first.template.columns.len()), (1, 7));
}

#[test]
fn json_lines_with_nested_objects() {
    let data = concat!(
        r#"{"id": 1, "customer": {"id": "c1", "address": {"country": "FR"}}, "amount": "12.50"}"#,
        "\n\n",
        r#"{"id": 2, "customer": {"id": "c2", "address": {"country": "DE"}}, "amount": "3"}"#,
        "\r\n",
        r#"{"id": 3, "customer": "c3", "amount": "4"}"#,
        "\n"
    );
    for name in ["events.jsonl", "events.ndjson", "events.json", "events.log"] {
        let drafted = draft_of(name, data.as_bytes());
        assert_eq!(drafted.template.format.kind, FormatKind::JsonLines, "{name}");
        use FieldType::*;
        assert_eq!(
            described(&drafted.template),
            vec![
                column("id", "id", Integer, None, true),
                column("customer.id", "customer_id", String, None, false),
                column("customer.address.country", "customer_address_country", String, None, false),
                column("amount", "amount", Decimal, None, true),
            ],
            "{name}"
        );
        assert_eq!(
            drafted.warnings,
            ["member 'customer' is an object in some rows and a value in others: left out (the members of the objects are read)"]
        );
        assert_eq!(drafted.rows_sampled, 3);
    }
}

#[test]
fn compressed_samples_are_read_through_their_compression() {
    let plain = draft_of("orders.csv", super::tests::EACH_TYPE.as_bytes());
    for (compression, name) in [
        (Compression::Gzip, "orders.csv.gz"),
        (Compression::Zstd, "orders.csv.zst"),
        (Compression::Bzip2, "orders.csv.bz2"),
    ] {
        let drafted = draft_of(name, &compress(compression, super::tests::EACH_TYPE.as_bytes()));
        assert_eq!(drafted, plain, "{compression}");
    }
    // By content, not by name.
    let drafted = draft_of("orders.csv", &compress(Compression::Zstd, super::tests::EACH_TYPE.as_bytes()));
    assert_eq!(drafted, plain);
}

#[test]
fn samples_in_other_encodings_say_theirs() {
    let latin = "name,city,amount\nRené,Genève,1.5\nJürgen,Köln,2\n";
    let (windows1252, _, unmappable) = encoding_rs::WINDOWS_1252.encode(latin);
    assert!(!unmappable);
    let drafted = draft_of("people.csv", &windows1252);
    assert_eq!(drafted.template.format.encoding, TextEncoding::Windows1252);
    assert_eq!(drafted.template.columns[2].field_type, FieldType::Decimal);

    let utf16le: Vec<u8> = [0xff, 0xfe].into_iter().chain(latin.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let drafted = draft_of("people.csv", &utf16le);
    assert_eq!(drafted.template.format.encoding, TextEncoding::Utf16);
    assert_eq!(drafted.template.columns[0].source, "name");
    let utf16be: Vec<u8> = [0xfe, 0xff].into_iter().chain(latin.encode_utf16().flat_map(u16::to_be_bytes)).collect();
    assert_eq!(draft_of("people.csv.gz", &compress(Compression::Gzip, &utf16be)).template, drafted.template);

    // A UTF-8 sample with a byte-order mark is UTF-8: no encoding in the draft.
    let bom: Vec<u8> = b"\xef\xbb\xbf".iter().chain(latin.as_bytes()).copied().collect();
    let drafted = draft_of("people.csv", &bom);
    assert_eq!(
        (drafted.template.format.encoding, drafted.template.columns[0].source.as_str()),
        (TextEncoding::Utf8, "name")
    );

    let without_bom: Vec<u8> = latin.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let refused = draft(Cursor::new(without_bom), "people.csv", &DraftOptions::default()).unwrap_err();
    assert!(matches!(refused, DraftError::Encoding(_)), "{refused}");
    assert!(refused.to_string().contains("looks like UTF-16LE without a byte-order mark"), "{refused}");
}

/// Counts the bytes read from a reader.
struct Counted<'a, R> {
    inner: R,
    read: &'a AtomicU64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// `rows` rows of a header and `width` bytes each (a number, then filler).
fn rows_of(rows: usize, width: usize) -> Vec<u8> {
    let mut data = b"n,filler\n".to_vec();
    for n in 0..rows {
        let filler = "x".repeat(width.saturating_sub(10));
        data.extend(format!("{n:08},{filler}\n").as_bytes());
    }
    data
}

#[test]
fn a_sample_larger_than_the_limits_is_read_only_as_far_as_they_go() {
    let data = rows_of(100, 20);
    let options = DraftOptions { rows: 10, ..DraftOptions::default() };
    let drafted = draft_with("big.csv", &data, &options);
    assert_eq!(drafted.rows_sampled, 10);

    // 20 MiB of rows: the first MAX_SAMPLE_BYTES are read, and the default 1,000 rows of them used.
    let data = rows_of(20 * 1024, 1024);
    let read = AtomicU64::new(0);
    let drafted =
        draft(Counted { inner: Cursor::new(&data), read: &read }, "big.csv", &DraftOptions::default()).unwrap();
    assert_eq!(drafted.rows_sampled, DEFAULT_ROWS as u64);
    assert!(read.load(Ordering::Relaxed) <= MAX_SAMPLE_BYTES as u64 + 1, "{read:?}");
    reads_every_row(&drafted, &data);

    // More rows asked for than the head holds: the whole rows in it, the one cut short left out.
    let options = DraftOptions { rows: MAX_ROWS, ..DraftOptions::default() };
    let drafted = draft_with("big.csv", &data, &options);
    let whole_rows = (MAX_SAMPLE_BYTES - 9) / 1024;
    assert!(
        drafted.rows_sampled as usize == whole_rows || drafted.rows_sampled as usize == whole_rows - 1,
        "{}",
        drafted.rows_sampled
    );
    assert_eq!(drafted.template.columns[0].field_type, FieldType::String, "numbers with leading zeros");

    // A compressed sample whose head ends inside its stream: read as far as the text limit goes.
    use rand::{Rng, SeedableRng};
    let mut random = rand::rngs::StdRng::seed_from_u64(15);
    let mut noisy = b"id,noise\n".to_vec();
    while noisy.len() < 3 * MAX_SAMPLE_BYTES {
        let noise: String = (0..200).map(|_| char::from(random.random_range(b'a'..=b'z'))).collect();
        noisy.extend(format!("{},{noise}\n", noisy.len()).as_bytes());
    }
    let gzipped = compress(Compression::Gzip, &noisy);
    assert!(gzipped.len() > MAX_SAMPLE_BYTES, "the test needs a head cut inside the stream");
    let drafted = draft_with("noise.csv.gz", &gzipped, &options);
    assert!(drafted.rows_sampled > 1000, "{}", drafted.rows_sampled);
    assert_eq!(drafted.template.columns[0].field_type, FieldType::Integer);
}

#[test]
fn samples_no_template_can_be_drafted_from_say_why() {
    let empty = compress(Compression::Gzip, b"");
    let cases: [(&str, &[u8], &str); 10] = [
        ("a.csv", b"", "the sample is empty"),
        ("a.csv", b"\xef\xbb\xbf", "the sample is empty"),
        ("a.jsonl", b" \n\r\n\n", "the sample is empty"),
        ("a.csv.gz", &empty, "the sample is empty"),
        ("a.json", b"[]", "no column to draft: the sample has no rows"),
        ("a.json", b"[1, 2]", "no column to draft: no sampled value can be a column"),
        ("a.json", b"{\n  \"id\": 1\n}\n", "the sample's first line is not a JSON object"),
        (
            "a.json",
            b"[{\"id\": 1},",
            "the sample is not a JSON array of objects: after 1 element(s): the array is not closed",
        ),
        ("a.avro", b"Obj", "'a.avro' is named as a format no template reads"),
        ("a.parquet", b"PAR1", "'a.parquet' is a Parquet file: drafts are made from text samples"),
    ];
    for (name, data, expected) in cases {
        let refused = draft(Cursor::new(data), name, &DraftOptions::default()).unwrap_err();
        assert!(refused.to_string().contains(expected), "{name} {data:?}: {refused}");
    }
    let mut corrupt = compress(Compression::Gzip, super::tests::EACH_TYPE.as_bytes());
    corrupt.truncate(corrupt.len() / 2);
    let refused = draft(Cursor::new(corrupt), "a.csv.gz", &DraftOptions::default()).unwrap_err();
    assert!(matches!(refused, DraftError::Decode(_)), "{refused}");
    assert!(refused.to_string().starts_with("cannot decode the sample: gzip: "), "{refused}");
}
