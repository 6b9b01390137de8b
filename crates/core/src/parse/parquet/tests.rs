//! Parquet files written here with Arrow's own writer, read through the pipeline's ranged reads
//! over an in-memory bucket: each Arrow type as a template column reads it, nulls, nested fields,
//! drift, and the files that fail (not Parquet, cut short, encrypted, a row group or footer past
//! its limit, a list named as a column).

use crate::mapping::{Mapper, Record};
use crate::memory::MemoryBucket;
use crate::model::{FileCheckpoint, ObjectMeta, RowError};
use crate::pipeline::{parquet::read, Emit, ParquetLimits, ReadLimits, ReadOptions, ReadResult};
use crate::ports::SourceErrorKind;
use crate::rejects::RawRow;
use crate::template::Template;
use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::*;
use arrow_schema::{DataType, Field};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::ops::ControlFlow;
use std::sync::Arc;

/// Writes `batch` as a Parquet file with row groups of `group_rows` rows.
pub(crate) fn parquet_bytes(batch: &RecordBatch, group_rows: usize, compression: Compression) -> Vec<u8> {
    let properties =
        WriterProperties::builder().set_max_row_group_row_count(Some(group_rows)).set_compression(compression).build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    bytes
}

/// Every kind of column a template reads, five rows; row 3 has nulls everywhere it can.
fn typed_batch() -> RecordBatch {
    let customer = StructArray::from(vec![
        (
            Arc::new(Field::new("id", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec![Some("c1"), Some("c2"), None, Some("c4"), Some("c5")])) as ArrayRef,
        ),
        (
            Arc::new(Field::new("city", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec![Some("Oslo"), None, None, Some("Lima"), Some("Pune")])) as ArrayRef,
        ),
    ]);
    let mut tags = ListBuilder::new(StringBuilder::new());
    for row in 0..5 {
        tags.values().append_value(format!("t{row}"));
        tags.append(true);
    }
    let status: DictionaryArray<Int32Type> = vec!["paid", "open", "paid", "void", "paid"].into_iter().collect();
    RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])) as ArrayRef),
        (
            "amount",
            Arc::new(
                Decimal128Array::from(vec![Some(1050), Some(-25), None, Some(0), Some(99_999)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ),
        ("paid", Arc::new(BooleanArray::from(vec![Some(true), Some(false), None, Some(true), Some(false)]))),
        ("day", Arc::new(Date32Array::from(vec![Some(19_723), Some(19_724), None, Some(0), Some(20_000)]))),
        (
            "at",
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1_700_000_000_123_456), None, None, Some(0), Some(1)])
                    .with_timezone("UTC"),
            ),
        ),
        ("ratio", Arc::new(Float64Array::from(vec![Some(0.1), Some(2.5), None, Some(f64::NAN), Some(1e-7)]))),
        ("customer", Arc::new(customer)),
        ("status", Arc::new(status)),
        ("tags", Arc::new(tags.finish())),
    ])
    .unwrap()
}

fn template(format_extra: &str, columns: &str) -> Arc<Mapper> {
    Arc::new(Mapper::new(
        Template::from_json(&format!(
            r#"{{"id": "t", "record_type": "r", "format": {{"type": "parquet"}} {format_extra}, "columns": [{columns}]}}"#
        ))
        .unwrap(),
    ))
}

fn typed_template(extra: &str) -> Arc<Mapper> {
    template(
        extra,
        r#"{"source": "id", "field": "id", "type": "integer", "required": true},
           {"source": "amount", "field": "amount", "type": "decimal"},
           {"source": "paid", "field": "paid", "type": "boolean"},
           {"source": "day", "field": "day", "type": "date", "format": "%d/%m/%Y"},
           {"source": "at", "field": "at", "type": "timestamp"},
           {"source": "ratio", "field": "ratio", "type": "decimal"},
           {"source": "customer.city", "field": "city", "type": "string"},
           {"source": "status", "field": "status", "type": "enum", "values": ["paid", "open", "void"]}"#,
    )
}

/// Keeps what a read gives: records, and rejected rows as their rejects file would hold them.
#[derive(Default)]
struct Kept {
    records: Vec<Record>,
    rejected: Vec<(RowError, String)>,
    stop_after: Option<usize>,
}

impl Emit for Kept {
    fn record(&mut self, record: Record) -> ControlFlow<()> {
        self.records.push(record);
        match self.stop_after {
            Some(n) if self.records.len().is_multiple_of(n) => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    }
    fn rejected(&mut self, error: &RowError, raw: RawRow<'_>) -> ControlFlow<()> {
        let RawRow::Text(text) = raw else { panic!("a Parquet row is given back as JSON text") };
        self.rejected.push((error.clone(), String::from_utf8(text.to_vec()).unwrap()));
        ControlFlow::Continue(())
    }
}

struct Bucket(MemoryBucket);

impl Bucket {
    fn with(key: &str, bytes: &[u8]) -> Bucket {
        let bucket = MemoryBucket::default();
        bucket.put(key, "\"e\"", chrono::Utc::now(), bytes);
        Bucket(bucket)
    }
    fn object(&self, key: &str) -> ObjectMeta {
        self.0.objects.lock().unwrap()[key].0.clone()
    }
    async fn read(&self, key: &str, mapper: Arc<Mapper>, options: ReadOptions, emit: Kept) -> (ReadResult, Kept) {
        let source = self.0.source();
        read(source.as_ref(), &self.object(key), mapper, format!("{key}#e"), options, emit).await.unwrap()
    }
}

fn values(record: &Record) -> Vec<Option<String>> {
    record.values.iter().map(|v| v.as_ref().map(|v| v.to_json().to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_type_is_read_as_its_column_says_and_nulls_are_absent() {
    for compression in [
        Compression::UNCOMPRESSED,
        Compression::SNAPPY,
        Compression::ZSTD(Default::default()),
        Compression::GZIP(Default::default()),
        Compression::LZ4,
        Compression::LZ4_RAW,
    ] {
        let bucket = Bucket::with("in/p.parquet", &parquet_bytes(&typed_batch(), 2, compression));
        let (read, kept) =
            bucket.read("in/p.parquet", typed_template(""), ReadOptions::default(), Kept::default()).await;
        assert!(read.file_error.is_none() && read.transport.is_none(), "{:?}", read.file_error);
        assert_eq!((read.summary.rows_read, read.summary.rows_rejected), (5, 1), "{compression:?}");
        let rows: Vec<_> = kept.records.iter().map(|r| (r.row, values(r))).collect();
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            rows[0],
            (
                1,
                vec![
                    s("1"),
                    s("\"10.50\""),
                    s("true"),
                    s("\"2024-01-01\""),
                    s("\"2023-11-14T22:13:20.123456Z\""),
                    s("\"0.1\""),
                    s("\"Oslo\""),
                    s("\"paid\"")
                ]
            )
        );
        // Row 3: nulls everywhere but the id, the dictionary's value, and a group's null city.
        assert_eq!(rows[2], (3, vec![s("3"), None, None, None, None, None, None, s("\"paid\"")]));
        // Row 4 is rejected (below); row 5's date, and a float's shortest text: 1e-7 as 0.0000001.
        assert_eq!((rows[3].0, &rows[3].1[3], &rows[3].1[5]), (5, &s("\"2024-10-04\""), &s("\"0.0000001\"")));
        // Row 4's NaN is no decimal: its row is rejected, named, and given back with the values read.
        let (error, raw) = &kept.rejected[0];
        assert_eq!((error.row, error.line, error.column.as_deref()), (4, 4, Some("ratio")));
        assert!(error.reason.contains("'NaN' is not a decimal"), "{}", error.reason);
        let raw: serde_json::Value = serde_json::from_str(raw).unwrap();
        assert_eq!(
            (raw["id"].as_str(), raw["ratio"].as_str(), raw["customer.city"].as_str()),
            (Some("4"), Some("NaN"), Some("Lima"))
        );
        assert_eq!(kept.records[0].id, "in/p.parquet#e#1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_names_the_unmapped_fields_and_keep_and_fail_do_what_they_say() {
    let bytes = parquet_bytes(&typed_batch(), 10, Compression::SNAPPY);
    let bucket = Bucket::with("p.parquet", &bytes);
    let narrow = || {
        r#"{"source": "id", "field": "id", "type": "integer"},
           {"source": "customer.city", "field": "city", "type": "string"},
           {"source": "gone", "field": "gone", "type": "string"}"#
    };
    let (read, _) = bucket.read("p.parquet", template("", narrow()), ReadOptions::default(), Kept::default()).await;
    let drift = &read.summary.drift;
    assert_eq!(drift.missing_columns, ["gone"]);
    assert_eq!(drift.unmapped_columns, ["amount", "paid", "day", "at", "ratio", "customer.id", "status", "tags"]);
    let (read, kept) = bucket
        .read("p.parquet", template(r#", "extra_columns": "keep""#, narrow()), ReadOptions::default(), Kept::default())
        .await;
    assert!(read.file_error.is_none());
    // Kept as text, nulls left out; a list cannot be one value and is only named in the drift.
    let extra: Vec<_> = kept.records[0].extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(
        extra,
        [
            "amount=10.50",
            "paid=true",
            "day=2024-01-01",
            "at=2023-11-14T22:13:20.123456Z",
            "ratio=0.1",
            "customer.id=c1",
            "status=paid"
        ]
    );
    let (read, kept) = bucket
        .read("p.parquet", template(r#", "extra_columns": "fail""#, narrow()), ReadOptions::default(), Kept::default())
        .await;
    let failure = read.failure().map(|(at, why)| format!("{at}: {why}")).unwrap();
    assert!(
        failure.starts_with("at its header: the file has columns the template does not map: amount, paid"),
        "{failure}"
    );
    assert!(kept.records.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_template_cannot_read_fails_at_its_schema_saying_why() {
    let bucket = Bucket::with("p.parquet", &parquet_bytes(&typed_batch(), 10, Compression::SNAPPY));
    let cases = [
        (r#"{"source": "tags", "field": "tags", "type": "string"}"#, "the file's column 'tags' is a list of values"),
        (r#"{"source": "tags.list.item", "field": "t", "type": "string"}"#, "is a field inside a list"),
        (
            r#"{"source": "customer", "field": "c", "type": "string"}"#,
            "is a group of fields (name one of them by its dotted path)",
        ),
        (
            r#"{"source": "missing", "field": "m", "type": "string", "required": true}"#,
            "the file lacks required column(s): missing",
        ),
    ];
    for (column, expected) in cases {
        let (read, kept) =
            bucket.read("p.parquet", template("", column), ReadOptions::default(), Kept::default()).await;
        let failure = read.failure().map(|(at, why)| format!("{at}: {why}")).unwrap_or_else(|| format!("{read:?}"));
        assert!(failure.starts_with("at its header: ") && failure.contains(expected), "{column}: {failure}");
        assert!(kept.records.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_a_whole_parquet_file_fails_before_any_row_saying_what_it_is() {
    let good = parquet_bytes(&typed_batch(), 10, Compression::SNAPPY);
    let mut encrypted = good.clone();
    let end = encrypted.len();
    encrypted[end - 4..].copy_from_slice(b"PARE");
    let lying = |length: u32| {
        let mut lying = good.clone();
        lying[end - 8..end - 4].copy_from_slice(&length.to_le_bytes());
        lying
    };
    let cases: [(&str, Vec<u8>, &str); 8] = [
        ("empty", vec![], "not a Parquet file: empty (0 bytes)"),
        ("csv", b"id,amount\n1,2\n".to_vec(), "it does not end with Parquet's magic bytes PAR1"),
        ("cut short", good[..good.len() - 100].to_vec(), "it does not end with Parquet's magic bytes PAR1"),
        ("encrypted", encrypted, "the Parquet file is encrypted"),
        ("footer past its limit", lying(u32::MAX - 1), "the Parquet footer's metadata is 4294967294 bytes, more than"),
        ("footer past the file", lying(end as u32), "its length says"),
        ("footer shorter than it is", lying(20), "cannot read the Parquet footer"),
        (
            "garbled metadata",
            {
                let mut g = good.clone();
                let n = g.len();
                g[n - 60..n - 8].fill(0xAB);
                g
            },
            "cannot read the Parquet footer",
        ),
    ];
    for (name, bytes, expected) in cases {
        let bucket = Bucket::with("p.parquet", &bytes);
        let (read, kept) = bucket.read("p.parquet", typed_template(""), ReadOptions::default(), Kept::default()).await;
        let failure = read.failure().map(|(at, why)| format!("{at}: {why}")).unwrap_or_default();
        assert!(failure.starts_with("before any row was read: ") && failure.contains(expected), "{name}: {failure}");
        assert!(kept.records.is_empty() && read.transport.is_none(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_footer_and_the_columns_read_are_fetched_and_a_row_group_past_its_limit_fails_the_file() {
    // A wide column no template column reads: its bytes are never fetched.
    let n = 3000;
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef),
        ("blob", Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("{i:0>200}"))))),
    ])
    .unwrap();
    let bytes = parquet_bytes(&batch, 1000, Compression::UNCOMPRESSED);
    let bucket = Bucket::with("p.parquet", &bytes);
    let ids = || template("", r#"{"source": "id", "field": "id", "type": "integer", "required": true}"#);
    let (read, kept) = bucket.read("p.parquet", ids(), ReadOptions::default(), Kept::default()).await;
    assert_eq!((read.summary.rows_read, kept.records.len()), (3000, 3000));
    assert!(read.fetched < bytes.len() as u64 / 5, "fetched {} of {}", read.fetched, bytes.len());
    let ranges = bucket.0.ranges_read.lock().unwrap().clone();
    // The tail (64 KiB or the whole of a smaller file), then one range per row group.
    assert_eq!(ranges.len(), 4, "{ranges:?}");
    // A row group larger than allowed fails the file there, the rows before it read.
    let limits = ReadLimits {
        parquet: ParquetLimits { max_row_group_bytes: 1000, ..ParquetLimits::default() },
        ..ReadLimits::default()
    };
    let wide = template("", r#"{"source": "blob", "field": "blob", "type": "string"}"#);
    let (read, _) =
        bucket.read("p.parquet", wide, ReadOptions { limits, ..ReadOptions::default() }, Kept::default()).await;
    let failure = read.failure().map(|(at, why)| format!("{at}: {why}")).unwrap();
    assert!(failure.contains("row group 0 holds") && failure.contains("S3C_MAX_PARQUET_ROW_GROUP_BYTES"), "{failure}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_footer_past_the_first_64_kib_is_fetched_unless_it_is_past_its_limit() {
    // 1,500 columns: metadata of more than the 64 KiB fetched first.
    let columns = (0..1500).map(|i| (format!("c{i}"), Arc::new(Int32Array::from(vec![i])) as ArrayRef));
    let bytes = parquet_bytes(&RecordBatch::try_from_iter(columns).unwrap(), 10, Compression::UNCOMPRESSED);
    let bucket = Bucket::with("p.parquet", &bytes);
    let c7 = || template("", r#"{"source": "c7", "field": "c7", "type": "integer", "required": true}"#);
    let (read, kept) = bucket.read("p.parquet", c7(), ReadOptions::default(), Kept::default()).await;
    assert!(read.file_error.is_none(), "{:?}", read.file_error);
    assert_eq!(kept.records.iter().map(values).collect::<Vec<_>>(), [vec![Some("7".to_owned())]]);
    let tail = bucket.0.ranges_read.lock().unwrap()[..2].to_vec();
    // The last 64 KiB, then the whole metadata (before the footer's length and magic).
    let size = bytes.len() as u64;
    assert_eq!((tail[0].1, tail[0].2), (size - 64 * 1024, 64 * 1024));
    assert!(tail[1].1 < tail[0].1 && tail[1].1 + tail[1].2 == size - 8, "{tail:?}");
    let limits = ReadLimits {
        parquet: ParquetLimits { max_footer_bytes: 64 * 1024, ..ParquetLimits::default() },
        ..ReadLimits::default()
    };
    let (read, _) =
        bucket.read("p.parquet", c7(), ReadOptions { limits, ..ReadOptions::default() }, Kept::default()).await;
    let failure = read.failure().map(|(at, why)| format!("{at}: {why}")).unwrap();
    assert!(
        failure.contains("the Parquet footer's metadata is") && failure.contains("S3C_MAX_PARQUET_FOOTER_BYTES"),
        "{failure}"
    );
}

/// Reads `p.parquet` stopping after every `every` records, going on from each checkpoint: the records
/// and rejected rows of all the reads, the last summary, and how many times it stopped.
async fn read_in_steps(
    bucket: &Bucket,
    mapper: &Arc<Mapper>,
    every: usize,
) -> (Vec<Record>, Vec<(RowError, String)>, crate::parse::ParseSummary, usize) {
    let (mut records, mut rejected, mut resume, mut stops) = (Vec::new(), Vec::new(), None::<FileCheckpoint>, 0);
    loop {
        let options = ReadOptions { resume: resume.clone(), ..ReadOptions::default() };
        let emit = Kept { stop_after: Some(every), ..Kept::default() };
        let (read, kept) = bucket.read("p.parquet", mapper.clone(), options, emit).await;
        assert!(read.file_error.is_none(), "{:?}", read.file_error);
        records.extend(kept.records);
        rejected.extend(kept.rejected);
        let Some(position) = read.summary.resume_at.clone() else { return (records, rejected, read.summary, stops) };
        stops += 1;
        let s = read.summary;
        resume = Some(FileCheckpoint {
            key: "p.parquet".into(),
            etag: "\"e\"".into(),
            writing: true,
            position,
            from_start: false,
            bom: 0,
            rows_read: s.rows_read,
            rows_rejected: s.rows_rejected,
            row_errors: s.row_errors,
            rows_imported: 0,
            elapsed_ms: 0,
            drift: s.drift,
            rejects: None,
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_stopped_anywhere_goes_on_from_its_row_group_and_ends_as_one_uninterrupted_read() {
    let n = 250;
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef),
        (
            "amount",
            Arc::new(StringArray::from_iter_values((0..n).map(|i| {
                if i % 40 == 7 {
                    "x".into()
                } else {
                    format!("{i}.5")
                }
            }))),
        ),
    ])
    .unwrap();
    let bucket = Bucket::with("p.parquet", &parquet_bytes(&batch, 60, Compression::SNAPPY));
    let mapper = template(
        "",
        r#"{"source": "id", "field": "id", "type": "integer", "required": true},
           {"source": "amount", "field": "amount", "type": "decimal", "required": true}"#,
    );
    let (whole, all) = bucket.read("p.parquet", mapper.clone(), ReadOptions::default(), Kept::default()).await;
    assert_eq!((whole.summary.rows_read, whole.summary.rows_rejected, all.records.len()), (250, 7, 243));
    for every in [1, 13, 60, 61] {
        let (records, rejected, summary, stops) = read_in_steps(&bucket, &mapper, every).await;
        assert!(stops >= 243 / every, "every {every}: {stops} stops");
        assert_eq!(records, all.records, "every {every}");
        assert_eq!(rejected, all.rejected, "every {every}");
        assert_eq!(
            (summary.rows_read, summary.rows_rejected, summary.row_errors),
            (250, 7, whole.summary.row_errors.clone())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_that_cannot_be_read_is_the_sources_failure_not_the_files() {
    let bucket = Bucket::with("p.parquet", &parquet_bytes(&typed_batch(), 2, Compression::SNAPPY));
    bucket.0.unreadable.lock().unwrap().insert("p.parquet".into(), SourceErrorKind::ObjectDenied);
    let (read, _) = bucket.read("p.parquet", typed_template(""), ReadOptions::default(), Kept::default()).await;
    assert!(read.file_error.is_none());
    assert_eq!(read.transport.map(|(kind, _)| kind), Some(SourceErrorKind::ObjectDenied));
}

/// The fuzz target's template (fuzz/src/lib.rs), which its seeds are read with.
fn fuzz_template() -> Arc<Mapper> {
    template(
        "",
        r#"{"source": "id", "field": "id", "type": "string", "required": true},
           {"source": "amount", "field": "amount", "type": "decimal"},
           {"source": "kind", "field": "kind", "type": "enum", "values": ["a", "b"], "default": "a"}"#,
    )
}

/// Files found by fuzzing: one on which parquet 60.1's reader panicked (a division by zero decoding a
/// corrupt dictionary page; its pages are now checked first), one whose metadata points past the
/// file's end (S3 would answer 416).
/// Each fails alone, saying why, as the file's failure (not the source's, which would be retried).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_files_found_by_fuzzing_fail_alone() {
    let seeds = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/parse_parquet/");
    for (seed, expected) in [
        // Now refused before the reader sees it: a page header it would have trusted is cut short.
        ("reader-panics-dividing-by-zero", "column 2: a page's header: it ends in the middle of a value"),
        ("metadata-points-past-the-end", "the Parquet file's metadata points at bytes"),
    ] {
        let input = std::fs::read(format!("{seeds}{seed}")).unwrap();
        let bucket = Bucket::with("p.parquet", &input[1..]);
        let mapper = fuzz_template();
        let (read, _) = bucket.read("p.parquet", mapper, ReadOptions::default(), Kept::default()).await;
        assert!(read.transport.is_none(), "{seed}: {:?}", read.transport);
        let failure = read.failure().map(|(at, why)| format!("{at}: {why}")).unwrap();
        assert!(failure.contains(expected), "{seed}: {failure}");
    }
}

/// A file found by fuzzing whose row groups decode to other numbers of rows than its metadata says:
/// a hand-over goes on by the rows decoded, so the read in steps still equals the whole read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_group_holding_other_rows_than_it_says_is_gone_on_with_by_the_rows_decoded() {
    let seed =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/seeds/parse_parquet/row-group-holds-other-rows-than-it-says");
    let input = std::fs::read(seed).unwrap();
    let bucket = Bucket::with("p.parquet", &input[1..]);
    let mapper = fuzz_template();
    let (whole, all) = bucket.read("p.parquet", mapper.clone(), ReadOptions::default(), Kept::default()).await;
    assert!(whole.file_error.is_none() && all.records.len() > 10, "{:?}", whole.file_error);
    for every in [1, 2, 3, 5] {
        let (records, rejected, summary, _) = read_in_steps(&bucket, &mapper, every).await;
        assert_eq!((records, rejected), (all.records.clone(), all.rejected.clone()), "every {every}");
        assert_eq!(summary.rows_read, whole.summary.rows_read);
    }
}

/// A file of `sizes` row groups (some of no rows, as pyarrow writes an empty table) of one column `id`.
fn row_groups_of(sizes: &[i64]) -> Vec<u8> {
    use parquet::data_type::Int64Type;
    use parquet::file::writer::SerializedFileWriter;
    let schema =
        Arc::new(parquet::schema::parser::parse_message_type("message schema { required int64 id; }").unwrap());
    let (mut bytes, mut next) = (Vec::new(), 0i64);
    let mut writer = SerializedFileWriter::new(&mut bytes, schema, Default::default()).unwrap();
    for &n in sizes {
        let mut group = writer.next_row_group().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column.typed::<Int64Type>().write_batch(&(next..next + n).collect::<Vec<_>>(), None, None).unwrap();
        next += n;
        column.close().unwrap();
        group.close().unwrap();
    }
    writer.close().unwrap();
    bytes
}

/// Found by review: the decoder passes over a row group of no rows, and a checkpoint after one named
/// the row group before, so a read in steps imported rows twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_row_groups_do_not_shift_where_a_hand_over_goes_on() {
    let bucket = Bucket::with("p.parquet", &row_groups_of(&[10, 0, 10, 0, 0, 10]));
    let mapper = template("", r#"{"source": "id", "field": "id", "type": "integer", "required": true}"#);
    let (_, all) = bucket.read("p.parquet", mapper.clone(), ReadOptions::default(), Kept::default()).await;
    assert_eq!(all.records.len(), 30);
    for every in [1, 5, 10, 7] {
        let (records, _, summary, _) = read_in_steps(&bucket, &mapper, every).await;
        assert_eq!((records, summary.rows_read), (all.records.clone(), 30), "every {every}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_values_are_read_as_what_they_are_whatever_the_columns_text_format() {
    let uuid: [u8; 16] = *b"\x12\x34\x56\x78\x9a\xbc\xde\xf0\x12\x34\x56\x78\x9a\xbc\xde\xf0";
    let batch = RecordBatch::try_from_iter_with_nullable(vec![
        ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef, false),
        // pandas' column of None everywhere is of the null type.
        ("note", Arc::new(NullArray::new(1)) as ArrayRef, true),
        // pandas keeps dates as nanosecond timestamps.
        ("day", Arc::new(TimestampNanosecondArray::from(vec![1_704_067_200_000_000_000])) as ArrayRef, false),
        ("born", Arc::new(Date32Array::from(vec![-17_046])) as ArrayRef, false),
        (
            "at",
            Arc::new(TimestampMillisecondArray::from(vec![1_700_000_000_123]).with_timezone("+02:00")) as ArrayRef,
            false,
        ),
        ("half", Arc::new(Float16Array::from(vec![half::f16::from_f32(0.1)])) as ArrayRef, false),
        ("big", Arc::new(UInt64Array::from(vec![u64::MAX])) as ArrayRef, false),
        ("key", Arc::new(FixedSizeBinaryArray::try_from_iter(std::iter::once(uuid)).unwrap()) as ArrayRef, false),
    ])
    .unwrap();
    let bucket = Bucket::with("p.parquet", &parquet_bytes(&batch, 10, Compression::SNAPPY));
    let mapper = template(
        "",
        r#"{"source": "id", "field": "id", "type": "integer", "required": true},
           {"source": "note", "field": "note", "type": "string"},
           {"source": "day", "field": "day", "type": "date", "format": "%d/%m/%y"},
           {"source": "born", "field": "born", "type": "date", "format": "%d/%m/%y"},
           {"source": "at", "field": "at", "type": "timestamp", "format": "%Y-%m-%d %H:%M"},
           {"source": "half", "field": "half", "type": "decimal"},
           {"source": "big", "field": "big", "type": "string"},
           {"source": "key", "field": "key", "type": "string"}"#,
    );
    let (read, kept) = bucket.read("p.parquet", mapper, ReadOptions::default(), Kept::default()).await;
    assert_eq!((read.summary.rows_rejected, kept.rejected.clone()), (0, vec![]));
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        values(&kept.records[0]),
        vec![
            s("1"),
            None,
            s("\"2024-01-01\""),
            s("\"1923-05-02\""),
            s("\"2023-11-14T22:13:20.123Z\""),
            s("\"0.1\""),
            s("\"18446744073709551615\""),
            s("\"12345678-9abc-def0-1234-56789abcdef0\"")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_none_of_the_templates_columns_fails_at_its_schema() {
    let bucket = Bucket::with("p.parquet", &row_groups_of(&[10]));
    let mapper = template("", r#"{"source": "other", "field": "other", "type": "string"}"#);
    let (read, kept) = bucket.read("p.parquet", mapper, ReadOptions::default(), Kept::default()).await;
    let failure = read.failure().map(|(at, why)| format!("{at}: {why}")).unwrap();
    assert_eq!(failure, "at its header: the file has none of the template's columns (other)");
    assert!(kept.records.is_empty());
}

/// Found by review: a thread of a row group that panics (a defect in an emitter) is the read's
/// `Err`, as the text pipeline's is, not a panic of the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_group_thread_that_panics_is_an_error_of_the_read() {
    struct Panics;
    impl Emit for Panics {
        fn record(&mut self, _: Record) -> ControlFlow<()> {
            panic!("an emitter's defect")
        }
    }
    let bucket = Bucket::with("p.parquet", &row_groups_of(&[3]));
    let (source, object) = (bucket.0.source(), bucket.object("p.parquet"));
    let mapper = template("", r#"{"source": "id", "field": "id", "type": "integer"}"#);
    let read = read(source.as_ref(), &object, mapper, "p#e".into(), ReadOptions::default(), Panics).await;
    assert!(read.is_err_and(|e| e.is_panic()));
}

/// A footer written by hand in Thrift's compact protocol: a schema of `elements` fields, each the
/// only child of the one before when `deep`, no row groups.
fn schema_only(elements: usize, deep: bool) -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80)
        }
    }
    // FileMetaData: version 1, then the schema list (field 2) of elements + 1 structs.
    let mut m = vec![0x15, 0x02, 0x19, 0xFC];
    varint(elements as u64 + 1, &mut m);
    // The root: name "schema", num_children (zigzag).
    m.extend([0x48, 6]);
    m.extend(b"schema");
    m.push(0x15);
    varint(if deep { 2 } else { 2 * elements as u64 }, &mut m);
    m.push(0);
    for i in 0..elements {
        if deep && i + 1 < elements {
            // repetition_type 1 (optional), name "a", num_children 1.
            m.extend([0x35, 0x02, 0x18, 1, b'a', 0x15, 0x02, 0x00]);
        } else {
            let name = format!("c{i}");
            m.extend([0x15, 0x02, 0x25, 0x02, 0x18, name.len() as u8]);
            m.extend(name.as_bytes());
            m.push(0);
        }
    }
    // num_rows 0, row_groups: an empty list, end.
    m.extend([0x16, 0x00, 0x19, 0x0C, 0x00]);
    let mut file = b"PAR1".to_vec();
    let length = m.len() as u32;
    file.extend(m);
    file.extend(length.to_le_bytes());
    file.extend(b"PAR1");
    file
}

/// Found by review: parquet 60.1 builds a schema by recursion, and a few KB of footer nesting
/// thousands of groups overflowed the stack, aborting the worker: refused before it is decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_nesting_too_deep_fails_the_file_before_it_is_decoded() {
    let c = || template("", r#"{"source": "c0", "field": "c0", "type": "integer"}"#);
    let bucket = Bucket::with("p.parquet", &schema_only(3, false));
    let (read, _) = bucket.read("p.parquet", c(), ReadOptions::default(), Kept::default()).await;
    assert!(read.file_error.is_none(), "a hand-written footer reads: {:?}", read.file_error);
    let bucket = Bucket::with("p.parquet", &schema_only(8000, true));
    let (read, _) = bucket.read("p.parquet", c(), ReadOptions::default(), Kept::default()).await;
    let failure = read.failure().map(|(at, why)| format!("{at}: {why}")).unwrap();
    assert!(failure.contains("its schema nests 8000 groups deep, more than the 64 read"), "{failure}");
}

/// Found by review: the reader allocates a page's buffer as its header claims, so a 2 MB file whose
/// page headers claim 128 MiB each took 880 MB. The claims are held to the row group's budget first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_claiming_more_than_the_budget_fail_the_file_before_they_are_decoded() {
    let (honest, at) = ids_in_one_page(Compression::SNAPPY);
    let mut lying = honest.clone();
    lying[at + 3..at + 7].copy_from_slice(&[0xFE, 0xFF, 0xFF, 0x7F]);
    let limits = ReadLimits {
        parquet: ParquetLimits { max_row_group_bytes: 8 << 20, ..ParquetLimits::default() },
        ..ReadLimits::default()
    };
    let options = || ReadOptions { limits, ..ReadOptions::default() };
    let ids = || template("", r#"{"source": "id", "field": "id", "type": "integer", "required": true}"#);
    let bucket = Bucket::with("p.parquet", &honest);
    let (read, kept) = bucket.read("p.parquet", ids(), options(), Kept::default()).await;
    assert_eq!((read.file_error.is_none(), kept.records.len()), (true, 200_000), "{:?}", read.file_error);
    let bucket = Bucket::with("p.parquet", &lying);
    let (read, kept) = bucket.read("p.parquet", ids(), options(), Kept::default()).await;
    let failure = read.failure().map(|(at, why)| format!("{at}: {why}")).unwrap();
    assert_eq!(
        failure,
        "before any row was read: row group 0: its pages would decompress to 134217727 bytes at once (as their headers \
         say), more than the 8388608 one may hold (S3C_MAX_PARQUET_ROW_GROUP_BYTES)"
    );
    assert!(kept.records.is_empty());
}

/// 200,000 ids (0..) as one data page of `codec`, and where the page starts: a data page (type 0),
/// then its uncompressed size as a varint of 4 bytes (1.6 MB), for a test to claim otherwise.
fn ids_in_one_page(codec: Compression) -> (Vec<u8>, usize) {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let batch =
        RecordBatch::try_from_iter(vec![("id", Arc::new(Int64Array::from_iter_values(0..200_000)) as ArrayRef)])
            .unwrap();
    let properties = WriterProperties::builder()
        .set_compression(codec)
        .set_dictionary_enabled(false)
        .set_data_page_size_limit(64 << 20)
        .set_data_page_row_count_limit(usize::MAX)
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes.clone())).unwrap();
    let at = reader.metadata().row_group(0).column(0).data_page_offset() as usize;
    assert_eq!((&bytes[at..at + 3], bytes[at + 6] & 0x80), (&[0x15, 0x00, 0x15][..], 0));
    (bytes, at)
}

/// parquet's gzip reads a page to its end whatever its header claims: a page that inflates past its
/// claim (a bomb) fails the file before the reader sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_page_inflating_past_its_claim_fails_the_file() {
    let (honest, at) = ids_in_one_page(Compression::GZIP(Default::default()));
    // A claim of 1,100,000 bytes (zigzag, 4 bytes of varint) for a page of 1,600,000.
    let mut lying = honest.clone();
    let mut claim = Vec::new();
    let mut v = 1_100_000u64 * 2;
    while v >= 0x80 {
        claim.push((v as u8) | 0x80);
        v >>= 7;
    }
    claim.push(v as u8);
    lying[at + 3..at + 7].copy_from_slice(&claim);
    let ids = || template("", r#"{"source": "id", "field": "id", "type": "integer", "required": true}"#);
    let (read, kept) =
        Bucket::with("p.parquet", &honest).read("p.parquet", ids(), ReadOptions::default(), Kept::default()).await;
    assert_eq!((read.file_error.is_none(), kept.records.len()), (true, 200_000), "{:?}", read.file_error);
    let (read, kept) =
        Bucket::with("p.parquet", &lying).read("p.parquet", ids(), ReadOptions::default(), Kept::default()).await;
    let failure = read.failure().map(|(at, why)| format!("{at}: {why}")).unwrap();
    assert!(
        failure.ends_with("row group 0: column 0: a gzip page inflates past the 1100000 bytes its header says"),
        "{failure}"
    );
    assert!(kept.records.is_empty());
}
