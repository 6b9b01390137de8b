//! parse -> validate -> map throughput on generated 1M-row CSV and JSON Lines inputs, one core; and
//! decode -> parse -> validate -> map of the CSV compressed with gzip, zstd and bzip2 (and not).
//! Run by scripts/bench.sh, which writes the figures to BENCHMARKS.md.

use connector_core::decode::{decode_limited, DecodeLimits};
use connector_core::mapping::Mapper;
use connector_core::parse::{parse_rows, ParseOptions};
use connector_core::template::Template;
use connector_core::text_encoding::TextEncoding;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::io::{Cursor, Write};
use std::ops::ControlFlow;
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

criterion_group!(benches, pipeline, compressed);
criterion_main!(benches);
