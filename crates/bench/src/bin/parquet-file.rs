//! Writes a Parquet file of payment rows, wide enough to be large in few rows, for the peak memory
//! of a whole sync of a Parquet object (scripts/bench/parquet_memory.py serves it with `s3-model
//! --file`). Benchmarks only.
//!
//! The columns are the payment rows of the criterion bench's Parquet file (crates/core/benches/
//! pipeline.rs: `id`, `amount` decimal(10, 2), `currency`, `quantity` int64, `captured` boolean,
//! `paid_at` a UTC timestamp, `customer`), then `note`: random text (64 letters, so snappy cannot
//! shrink it) that makes each row about `--row-bytes`, so that a large object holds as few rows as
//! moto can take as DynamoDB writes. Snappy; row groups of `--group-rows` rows; `note` without a
//! dictionary and in pages of about 1 MiB (Parquet's default page size: the writer checks it every
//! `PAGE_CHECK_ROWS` rows). Written `BATCH_ROWS` rows at a time, so the writer holds one row group
//! at most, never the file.
//!
//! Usage: `parquet-file --out PATH --rows N [--row-bytes 50000] [--group-rows 1000]`; prints one
//! JSON line: the file's size, rows, row groups and the largest row group's bytes as stored (what
//! the reader fetches of it, every column being read).

use anyhow::Context;
use arrow_array::{
    ArrayRef, BooleanArray, Decimal128Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use clap::Parser;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;

/// Rows given to the writer at a time.
const BATCH_ROWS: usize = 64;
/// Rows between the writer's checks of a page's size (its default, 1024 rows of 50 KB, would make
/// 50 MB pages).
const PAGE_CHECK_ROWS: usize = 16;

#[derive(Parser)]
#[command(about = "A Parquet file of wide payment rows (benchmarks only)")]
struct Args {
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    rows: usize,
    /// About how many bytes each row takes in the file (its `note` is this less 50).
    #[arg(long, default_value_t = 50_000)]
    row_bytes: usize,
    /// Rows per row group.
    #[arg(long, default_value_t = 1000)]
    group_rows: usize,
}

/// Random letters of a 64-letter alphabet, from xorshift64*, seeded by the row.
fn note(row: usize, len: usize, out: &mut String) {
    const LETTERS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state = (row as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    out.clear();
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let mut bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        for _ in 0..10.min(len - out.len()) {
            out.push(LETTERS[(bits & 63) as usize] as char);
            bits >>= 6;
        }
    }
}

/// Rows `rows` of the file.
fn batch(rows: std::ops::Range<usize>, note_bytes: usize) -> anyhow::Result<RecordBatch> {
    let paid_at = |i: usize| -> i64 {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 1 + (i % 28) as u32).expect("a day of November");
        let at = day.and_hms_opt((i % 24) as u32, (i % 60) as u32, ((i / 60) % 60) as u32).expect("a time");
        at.and_utc().timestamp_micros()
    };
    let mut text = String::with_capacity(note_bytes);
    let notes = StringArray::from_iter_values(rows.clone().map(|i| {
        note(i, note_bytes, &mut text);
        text.clone()
    }));
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(StringArray::from_iter_values(rows.clone().map(|i| format!("py_{i:08}"))))),
        (
            "amount",
            Arc::new(
                Decimal128Array::from_iter_values(rows.clone().map(|i| ((i % 10_000) * 100 + i % 100) as i128))
                    .with_precision_and_scale(10, 2)?,
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
        ("note", Arc::new(notes)),
    ];
    Ok(RecordBatch::try_from_iter(columns)?)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.rows > 0 && args.group_rows > 0, "--rows and --group-rows at least 1");
    anyhow::ensure!(args.row_bytes >= 100, "--row-bytes at least 100");
    let note_bytes = args.row_bytes - 50;
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(args.group_rows))
        .set_compression(Compression::SNAPPY)
        .set_write_batch_size(PAGE_CHECK_ROWS)
        .set_column_dictionary_enabled(ColumnPath::from("note"), false)
        .build();
    // Written beside, then renamed: a file cut short by a failure is never taken for a whole one.
    let partial = args.out.with_extension("partial");
    let file = std::fs::File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut writer = ArrowWriter::try_new(BufWriter::new(file), batch(0..1, note_bytes)?.schema(), Some(properties))?;
    for start in (0..args.rows).step_by(BATCH_ROWS) {
        writer.write(&batch(start..(start + BATCH_ROWS).min(args.rows), note_bytes)?)?;
    }
    let metadata = writer.close()?;
    std::fs::rename(&partial, &args.out)?;
    let groups = metadata.row_groups();
    let largest = groups.iter().map(|g| g.compressed_size()).max().unwrap_or(0);
    let bytes = std::fs::metadata(&args.out)?.len();
    println!(
        "{}",
        serde_json::json!({
            "path": args.out, "object_bytes": bytes, "rows": args.rows, "group_rows": args.group_rows,
            "row_groups": groups.len(), "largest_row_group_bytes": largest,
        })
    );
    Ok(())
}
