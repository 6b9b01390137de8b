//! parse -> validate -> map throughput on generated 1M-row CSV and JSON Lines inputs, one core;
//! decode -> parse -> validate -> map of the CSV compressed with gzip, zstd and bzip2 (and not); and
//! the same rows as a Parquet file read through `pipeline::parquet::read` from memory.
//! Run by scripts/bench.sh, which writes the figures to BENCHMARKS.md.

use connector_core::decode::{decode_limited, DecodeLimits};
use connector_core::mapping::{Mapper, Record};
use connector_core::model::{ListCursor, ObjectMeta, RowError};
use connector_core::parse::{parse_rows, ParseOptions, RawRow};
use connector_core::pipeline::{parquet, Emit, ReadOptions};
use connector_core::ports::{ListPage, ObjectBody, ObjectSource, SourceError};
use connector_core::template::Template;
use connector_core::text_encoding::TextEncoding;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::io::{Cursor, Write};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

pub const ROWS: usize = 1_000_000;

/// The benches' payment template (crates/bench/payment-template.json) in `format`.
fn template(format: &str) -> Mapper {
    let mut json: serde_json::Value =
        serde_json::from_str(include_str!("../../bench/payment-template.json")).expect("the bench template is JSON");
    json["format"]["type"] = format.into();
    Mapper::new(Template::from_json(&json.to_string()).unwrap())
}

/// The same rows as scripts/bench.sh gives the Python baseline.
fn row(i: usize) -> (String, String, &'static str, usize, &'static str, String, String) {
    (
        format!("py_{i:08}"),
        format!("{}.{:02}", i % 10_000, i % 100),
        ["usd", "eur", "gbp"][i % 3],
        i % 17,
        if i.is_multiple_of(2) { "true" } else { "false" },
        format!("2026-11-{:02}T{:02}:{:02}:{:02}Z", 1 + i % 28, i % 24, i % 60, (i / 60) % 60),
        format!("cus_{}", i % 50_000),
    )
}

fn csv_input() -> Vec<u8> {
    let mut out = String::from("id,amount,currency,quantity,captured,paid_at,customer\n");
    for i in 0..ROWS {
        let (id, amount, currency, quantity, captured, paid_at, customer) = row(i);
        out.push_str(&format!("{id},{amount},{currency},{quantity},{captured},{paid_at},{customer}\n"));
    }
    out.into_bytes()
}

fn jsonl_input() -> Vec<u8> {
    let mut out = String::new();
    for i in 0..ROWS {
        let (id, amount, currency, quantity, captured, paid_at, customer) = row(i);
        out.push_str(&format!(
            "{{\"id\":\"{id}\",\"amount\":{amount},\"currency\":\"{currency}\",\"quantity\":{quantity},\"captured\":{captured},\"paid_at\":\"{paid_at}\",\"customer\":\"{customer}\"}}\n"
        ));
    }
    out.into_bytes()
}

fn run(mapper: &Mapper, input: &[u8]) -> u64 {
    parse_all(mapper, &mut Cursor::new(input))
}

/// Parses and maps every row of `text`, checking none is rejected.
fn parse_all(mapper: &Mapper, text: &mut dyn std::io::BufRead) -> u64 {
    let mut records = 0u64;
    let summary = parse_rows(text, mapper, "bench#etag", ParseOptions::default(), &mut |record| {
        records += record.values.len() as u64;
        std::hint::black_box(record);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!((summary.rows_read, summary.rows_rejected), (ROWS as u64, 0));
    records
}

fn pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_validate_map");
    group.sample_size(10).measurement_time(Duration::from_secs(20)).throughput(Throughput::Elements(ROWS as u64));
    for (name, mapper, input) in
        [("csv", template("csv"), csv_input()), ("json_lines", template("json_lines"), jsonl_input())]
    {
        group.bench_function(name, |b| b.iter(|| run(&mapper, &input)));
    }
    group.finish();
}

/// The CSV compressed as each compression's command line tool does by default: gzip -6, zstd -3,
/// bzip2 -9.
fn compressed_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let csv = csv_input();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gzip.write_all(&csv).unwrap();
    let mut bzip2 = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
    bzip2.write_all(&csv).unwrap();
    vec![
        ("gzip", gzip.finish().unwrap()),
        ("zstd", zstd::stream::encode_all(csv.as_slice(), 3).unwrap()),
        ("bzip2", bzip2.finish().unwrap()),
        ("none", csv),
    ]
}

/// The object's bytes through the whole read chain: decompression (by its magic bytes), the text
/// layer, the parser and the mapper.
fn run_decoded(mapper: &Mapper, raw: &[u8]) -> u64 {
    let mut text = decode_limited(Cursor::new(raw), DecodeLimits::default(), TextEncoding::Utf8).unwrap().text;
    parse_all(mapper, &mut text)
}

fn compressed(c: &mut Criterion) {
    let mapper = template("csv");
    let inputs = compressed_inputs();
    // The sizes, for BENCHMARKS.md's ratios.
    let sizes: serde_json::Map<String, serde_json::Value> =
        inputs.iter().map(|(name, raw)| (name.to_string(), raw.len().into())).collect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/criterion/decode_parse_map");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sizes.json"), serde_json::Value::Object(sizes).to_string()).unwrap();
    let mut group = c.benchmark_group("decode_parse_map");
    group.sample_size(10).measurement_time(Duration::from_secs(20)).throughput(Throughput::Elements(ROWS as u64));
    for (name, raw) in &inputs {
        group.bench_function(*name, |b| b.iter(|| run_decoded(&mapper, raw)));
    }
    group.finish();
}

/// Rows per row group of the Parquet file: 128 Ki rows, so that the read goes through several row
/// groups (arrow-rs's default, 1 Mi rows, would make the file one row group).
const PARQUET_GROUP_ROWS: usize = 128 * 1024;

/// The rows of [`row`] as typed Arrow columns, as a Parquet writer would hold payments: the amount
/// a decimal(10, 2), the quantity an int64, `captured` a boolean, `paid_at` a UTC timestamp.
fn payment_batch(rows: std::ops::Range<usize>) -> arrow_array::RecordBatch {
    use arrow_array::{ArrayRef, BooleanArray, Decimal128Array, Int64Array, StringArray, TimestampMicrosecondArray};
    let paid_at = |i: usize| {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 1 + (i % 28) as u32).unwrap();
        let at = day.and_hms_opt((i % 24) as u32, (i % 60) as u32, ((i / 60) % 60) as u32).unwrap();
        at.and_utc().timestamp_micros()
    };
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(StringArray::from_iter_values(rows.clone().map(|i| format!("py_{i:08}"))))),
        (
            "amount",
            Arc::new(
                Decimal128Array::from_iter_values(rows.clone().map(|i| ((i % 10_000) * 100 + i % 100) as i128))
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ),
        ("currency", Arc::new(StringArray::from_iter_values(rows.clone().map(|i| ["usd", "eur", "gbp"][i % 3])))),
        ("quantity", Arc::new(Int64Array::from_iter_values(rows.clone().map(|i| (i % 17) as i64)))),
        ("captured", Arc::new(BooleanArray::from_iter(rows.clone().map(|i| Some(i.is_multiple_of(2)))))),
        (
            "paid_at",
            Arc::new(TimestampMicrosecondArray::from_iter_values(rows.clone().map(paid_at)).with_timezone("UTC")),
        ),
        ("customer", Arc::new(StringArray::from_iter_values(rows.map(|i| format!("cus_{}", i % 50_000))))),
    ];
    arrow_array::RecordBatch::try_from_iter(columns).unwrap()
}

/// The [`ROWS`] payment rows as a Parquet file (snappy, row groups of [`PARQUET_GROUP_ROWS`]),
/// written by Arrow's own writer 64 Ki rows at a time.
fn parquet_input() -> Vec<u8> {
    use ::parquet::arrow::ArrowWriter;
    use ::parquet::basic::Compression;
    use ::parquet::file::properties::WriterProperties;
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(PARQUET_GROUP_ROWS))
        .set_compression(Compression::SNAPPY)
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, payment_batch(0..1).schema(), Some(properties)).unwrap();
    for start in (0..ROWS).step_by(64 * 1024) {
        writer.write(&payment_batch(start..(start + 64 * 1024).min(ROWS))).unwrap();
    }
    writer.close().unwrap();
    bytes
}

/// One object held in memory, read by ranges: each range is copied out, as a ranged GET's body
/// arrives in a buffer of its own.
struct InMemory(bytes::Bytes);

#[async_trait::async_trait]
impl ObjectSource for InMemory {
    async fn list_page(&self, _cursor: &ListCursor) -> Result<ListPage, SourceError> {
        unreachable!("the bench reads one object it names")
    }
    async fn open(&self, _object: &ObjectMeta, from: u64) -> Result<ObjectBody, SourceError> {
        Ok(Box::pin(Cursor::new(self.0.slice(from as usize..))))
    }
    async fn read_range(&self, _object: &ObjectMeta, from: u64, len: u64) -> Result<bytes::Bytes, SourceError> {
        Ok(bytes::Bytes::copy_from_slice(&self.0[from as usize..(from + len) as usize]))
    }
    async fn head(&self, _key: &str) -> Result<Option<ObjectMeta>, SourceError> {
        unreachable!("the bench reads one object it names")
    }
}

/// Counts the records a read gives; a rejected row fails the bench.
struct Count(u64);

impl Emit for Count {
    fn record(&mut self, record: Record) -> ControlFlow<()> {
        self.0 += record.values.len() as u64;
        std::hint::black_box(record);
        ControlFlow::Continue(())
    }
    fn rejected(&mut self, error: &RowError, _raw: RawRow<'_>) -> ControlFlow<()> {
        panic!("a bench row was rejected: {error:?}")
    }
}

/// The whole Parquet read of the object: footer, each row group's column chunks by ranged reads,
/// decoded and mapped on the blocking thread, on a current-thread runtime with one blocking thread
/// (the two never run at once: the async side waits for each row group's thread).
fn run_parquet(runtime: &tokio::runtime::Runtime, mapper: &Arc<Mapper>, source: &InMemory, object: &ObjectMeta) -> u64 {
    let read = parquet::read(source, object, mapper.clone(), "bench#etag".into(), ReadOptions::default(), Count(0));
    let (result, count) = runtime.block_on(read).unwrap();
    assert!(result.file_error.is_none() && result.transport.is_none(), "{:?}", result.file_error);
    assert_eq!((result.summary.rows_read, result.summary.rows_rejected), (ROWS as u64, 0));
    count.0
}

fn parquet_read(c: &mut Criterion) {
    let mapper = Arc::new(template("parquet"));
    let file = parquet_input();
    // The file itself, for the Python baseline (scripts/bench/parquet.py) to read the same bytes.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/criterion/parquet_read");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("payments.parquet"), &file).unwrap();
    let object = ObjectMeta {
        key: "payments.parquet".into(),
        etag: "\"bench\"".into(),
        size: file.len() as u64,
        last_modified: chrono::Utc::now(),
        storage_class: None,
        attempts: 0,
        replaces: None,
    };
    let source = InMemory(file.into());
    let runtime = tokio::runtime::Builder::new_current_thread().max_blocking_threads(1).build().unwrap();
    let mut group = c.benchmark_group("parquet_read");
    group.sample_size(10).measurement_time(Duration::from_secs(20)).throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("snappy", |b| b.iter(|| run_parquet(&runtime, &mapper, &source, &object)));
    group.finish();
}

criterion_group!(benches, pipeline, compressed, parquet_read);
criterion_main!(benches);
