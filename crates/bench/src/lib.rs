//! Benchmarks of the write path and of the whole worker, run by `scripts/bench.sh` (which also runs
//! a Python baseline of the same work and writes BENCHMARKS.md). Not part of the product and never
//! used by the test suite.
//!
//! - `ddb-latency` (binary): a local endpoint that answers DynamoDB `BatchWriteItem` with
//!   `{"UnprocessedItems":{}}` after a fixed latency, counts the items it received, and reports them
//!   on `GET /stats`;
//! - `write-pipeline` (binary): the real records writer ([`connector_aws::dynamodb::RecordsTable`],
//!   through the SDK client the product builds) with several `BatchWriteItem`s in flight, as the
//!   engine drives it, against that endpoint: rows/s against the ideal `in flight x 25 / latency`;
//! - `worker-cpu` (binary): the real sync engine reading a CSV object from moto's S3 and writing
//!   through the records writer to the endpoint: CPU seconds of the process per row;
//! - `events-latency` (binary): event-driven imports on moto, from PutObject to records through the
//!   intake, and the AWS requests per imported object through events or a scheduled scan, counted by
//!   [`requests`].
//!
//! This library holds what they share: the generated payment rows (the same as the criterion bench
//! in `crates/core/benches/pipeline.rs` and `scripts/bench/baseline.py`), the client factory, the
//! endpoint's statistics, and the process's CPU time; and [`requests`], the AWS requests of a
//! deployment's SDK clients counted by service and operation.

pub mod requests;

use anyhow::Context;
use connector_aws::config::Aws;
use connector_core::mapping::{Mapper, Record};
use connector_core::parse::{parse_rows, ParseOptions};
use connector_core::template::Template;
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::ops::ControlFlow;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The records table name the benches write to (the latency endpoint accepts any).
pub const RECORDS_TABLE: &str = "bench-records";

/// The payment template every bench uses (crates/bench/payment-template.json, read by
/// scripts/bench/memory.py and the criterion bench too): 7 columns, no primary key (ids are
/// `key#etag#row`).
pub fn payment_template() -> Template {
    Template::from_json(PAYMENT_TEMPLATE).expect("the bench template is valid")
}

/// The text of [`payment_template`].
pub const PAYMENT_TEMPLATE: &str = include_str!("../payment-template.json");

/// The header of [`payments_csv`].
pub const PAYMENTS_HEADER: &str = "id,amount,currency,quantity,captured,paid_at,customer";

/// Payment row `i`, without its line end: the same in the criterion bench and in
/// `scripts/bench/baseline.py`.
pub fn payment_row(i: usize, out: &mut String) {
    use std::fmt::Write;
    let _ = write!(
        out,
        "py_{i:08},{}.{:02},{},{},{},2026-11-{:02}T{:02}:{:02}:{:02}Z,cus_{}",
        i % 10_000,
        i % 100,
        ["usd", "eur", "gbp"][i % 3],
        i % 17,
        if i.is_multiple_of(2) { "true" } else { "false" },
        1 + i % 28,
        i % 24,
        i % 60,
        (i / 60) % 60,
        i % 50_000
    );
}

/// `rows` generated payment rows as CSV with a header.
pub fn payments_csv(rows: usize) -> Vec<u8> {
    let mut out = String::with_capacity(rows * 80 + 64);
    out.push_str(PAYMENTS_HEADER);
    out.push('\n');
    for i in 0..rows {
        payment_row(i, &mut out);
        out.push('\n');
    }
    out.into_bytes()
}

/// `rows` mapped records, parsed from [`payments_csv`] by the product's parser and mapper, with ids
/// as an import of `id_prefix` (`key#etag`) would give them.
pub fn payment_records(rows: usize, id_prefix: &str) -> anyhow::Result<Vec<Record>> {
    let mapper = Mapper::new(payment_template());
    let input = payments_csv(rows);
    let mut records = Vec::with_capacity(rows);
    let summary = parse_rows(&mut Cursor::new(input), &mapper, id_prefix, ParseOptions::default(), &mut |r| {
        records.push(r);
        ControlFlow::Continue(())
    })?;
    anyhow::ensure!(summary.rows_rejected == 0, "generated rows were rejected: {:?}", summary.row_errors);
    Ok(records)
}

/// A DynamoDB client for `endpoint`, built by the product's own factory ([`Aws::dynamodb`]: its retry
/// settings and HTTP client), with static test credentials in us-east-1.
pub async fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new("testing", "testing", None, None, "bench"))
        .load()
        .await;
    Aws::from_sdk(sdk).dynamodb()
}

/// The tokio runtime a bench runs on. The worker Lambda's is current-thread (the handler, and so the
/// engine's writes, on the main thread; the parser on a blocking thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Runtime {
    MultiThread,
    #[default]
    CurrentThread,
}

impl Runtime {
    pub fn build(self) -> std::io::Result<tokio::runtime::Runtime> {
        match self {
            Runtime::MultiThread => tokio::runtime::Builder::new_multi_thread(),
            Runtime::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        }
        .enable_all()
        .build()
    }

    pub fn name(self) -> &'static str {
        match self {
            Runtime::MultiThread => "multi_thread",
            Runtime::CurrentThread => "current_thread",
        }
    }
}

/// mimalloc, as the worker's binary; `--features system-allocator` measures glibc's instead.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The allocator this build uses.
pub const ALLOCATOR_NAME: &str = if cfg!(feature = "system-allocator") { "system" } else { "mimalloc" };

/// User and system CPU time of this process (every thread), from getrusage(RUSAGE_SELF).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CpuTime {
    pub user: f64,
    pub system: f64,
}

impl CpuTime {
    pub fn now() -> CpuTime {
        use nix::sys::resource::{getrusage, UsageWho};
        let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        match getrusage(UsageWho::RUSAGE_SELF) {
            Ok(usage) => CpuTime { user: seconds(usage.user_time()), system: seconds(usage.system_time()) },
            Err(_) => CpuTime::default(),
        }
    }

    pub fn total(self) -> f64 {
        self.user + self.system
    }

    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime { user: self.user - earlier.user, system: self.system - earlier.system }
    }
}

/// A sink that only counts what it is given: the engine's cost without the write path's.
#[derive(Default)]
pub struct CountingSink(pub std::sync::atomic::AtomicU64);

#[async_trait::async_trait]
impl connector_core::ports::RecordSink for CountingSink {
    /// The records table's batch, so that the engine hands over records as it does in a sync.
    fn max_batch(&self) -> usize {
        connector_aws::dynamodb::records::MAX_BATCH
    }

    async fn put(
        &self,
        batch: connector_core::ports::RecordBatch<'_>,
    ) -> Result<(), connector_core::ports::StoreError> {
        self.0.fetch_add(batch.records.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Nothing is kept, so nothing is removed.
    async fn remove_other_versions(&self, _: &str, _: &str, _: &str) -> Result<u64, connector_core::ports::StoreError> {
        Ok(0)
    }
}

/// This process's peak resident set so far (getrusage's ru_maxrss), in MiB.
pub fn peak_rss_mb() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF).map(|u| u.max_rss() as f64 / 1024.0).unwrap_or(0.0)
}

/// What the latency endpoint has seen since it started (`GET /stats`). `max_in_flight` counts from
/// the last `POST /reset`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// The latency each BatchWriteItem answer is held for.
    pub latency_ms: f64,
    pub requests: u64,
    /// PutRequest entries received.
    pub items: u64,
    /// TCP connections that carried a BatchWriteItem.
    pub connections: u64,
    /// Requests being held right now, and the most held at once.
    pub in_flight: u64,
    pub max_in_flight: u64,
    /// Total time requests were held, from their head's arrival to their answer (over `requests`:
    /// the latency the client actually saw, less its own share).
    pub held_seconds: f64,
    /// The endpoint's own CPU time (user + system), to tell whether it kept up.
    pub cpu_seconds: f64,
}

/// `GET /stats` of the latency endpoint.
pub async fn endpoint_stats(endpoint: &str) -> anyhow::Result<Stats> {
    endpoint_call(endpoint, "GET", "/stats").await
}

/// `POST /reset` of the latency endpoint: restarts `max_in_flight`; returns the statistics.
pub async fn endpoint_reset(endpoint: &str) -> anyhow::Result<Stats> {
    endpoint_call(endpoint, "POST", "/reset").await
}

/// One HTTP/1.0 exchange on a connection of its own, so it never queues behind the benched client.
async fn endpoint_call(endpoint: &str, method: &str, path: &str) -> anyhow::Result<Stats> {
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream =
        tokio::net::TcpStream::connect(address).await.with_context(|| format!("connecting to {address}"))?;
    let request = format!("{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (_, body) = response.split_once("\r\n\r\n").context("no body in the endpoint's answer")?;
    serde_json::from_str(body).with_context(|| format!("reading the endpoint's stats: {body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_rows_all_map() {
        let records = payment_records(1000, "k#e").unwrap();
        assert_eq!(records.len(), 1000);
        assert_eq!(records[7].id, "k#e#8", "ids are key#etag#row, rows counted from 1");
        assert!(records.iter().all(|r| r.values.iter().all(Option::is_some)));
    }

    #[test]
    fn the_python_baseline_shards_records_as_the_writer_does() {
        // scripts/bench/ddb.py's partition_key gives these (FNV-1a 64 of the id, mod 64).
        use connector_aws::dynamodb::keys::record_pk;
        assert_eq!(record_pk("benchwrites", "bench/payments.csv#bench#1"), "benchwrites#06");
        assert_eq!(record_pk("c", "k#e#7"), "c#14");
    }
}
