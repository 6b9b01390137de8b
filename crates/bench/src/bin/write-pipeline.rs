//! Write pipelining: the product's records writer ([`RecordsTable`], a [`RecordSink`]) driven by the
//! engine's own write path ([`write_in_lanes`]: records spread over as many lanes as BatchWriteItems
//! in flight, batches of the table's [`RecordSink::max_batch`], 25), through the SDK client the
//! product builds, against `ddb-latency`. Each in-flight level prints one JSON line: rows/s, the
//! ideal `in_flight x 25 / latency`, and what the endpoint saw (requests held at once, connections
//! opened).
//!
//! Usage: `write-pipeline --endpoint http://127.0.0.1:PORT [--rows 100000] [--in-flight 8,16,32]`
//! (the engine's default `write_concurrency` is always measured too).

use async_trait::async_trait;
use bench::{endpoint_reset, endpoint_stats, payment_records, payment_template, CpuTime, Runtime, RECORDS_TABLE};
use clap::Parser;
use connector_aws::dynamodb::RecordsTable;
use connector_core::engine::{write_in_lanes, SyncConfig};
use connector_core::mapping::Record;
use connector_core::model::ObjectMeta;
use connector_core::ports::{RecordBatch, RecordSink, StoreError};
use connector_core::template::Template;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CONNECTION: &str = "benchwrites";

/// Records the parser hands to the writers at a time (the engine's default `handoff_rows`).
const HANDOFF: usize = 1000;

#[derive(Parser)]
#[command(about = "Rows/s of the records writer against a fixed-latency BatchWriteItem endpoint")]
struct Args {
    /// The ddb-latency endpoint.
    #[arg(long)]
    endpoint: String,
    /// Records written per in-flight level.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// BatchWriteItem requests in flight, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "8,16,32")]
    in_flight: Vec<usize>,
    /// The tokio runtime (the worker's is multi-thread).
    #[arg(long, value_enum, default_value_t)]
    runtime: Runtime,
}

/// The sink it wraps, timing each put: what the caller of `put` saw, summed over the puts.
struct TimedSink<'a> {
    inner: &'a dyn RecordSink,
    busy_nanos: AtomicU64,
}

#[async_trait]
impl RecordSink for TimedSink<'_> {
    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }

    async fn put(&self, batch: RecordBatch<'_>) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.inner.put(batch).await;
        self.busy_nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        result
    }

    async fn remove_other_versions(&self, connection_id: &str, key: &str, keep: &str) -> Result<u64, StoreError> {
        self.inner.remove_other_versions(connection_id, key, keep).await
    }
}

/// Writes every record through the engine's write path with `in_flight` lanes, fed in handoffs as
/// the parser feeds it; returns the rows written and the time spent inside `put`, summed.
async fn write_all(
    sink: &dyn RecordSink,
    template: &Template,
    object: &ObjectMeta,
    handoffs: Vec<Vec<Record>>,
    in_flight: usize,
) -> Result<(u64, Duration), StoreError> {
    let imported_at = chrono::Utc::now();
    let timed = TimedSink { inner: sink, busy_nanos: AtomicU64::new(0) };
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    let feed = async move {
        for handoff in handoffs {
            if sender.send(handoff).await.is_err() {
                break;
            }
        }
    };
    let make_batch = |records| RecordBatch { connection_id: CONNECTION, template, object, imported_at, records };
    let ((written, error), ()) =
        futures::future::join(write_in_lanes(&timed, in_flight, receiver, make_batch), feed).await;
    match error {
        Some(e) => Err(e),
        None => Ok((written, Duration::from_nanos(timed.busy_nanos.load(Ordering::Relaxed)))),
    }
}

fn handoffs(records: &[Record]) -> Vec<Vec<Record>> {
    records.chunks(HANDOFF).map(<[Record]>::to_vec).collect()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.runtime.build()?.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let object = ObjectMeta {
        key: "bench/payments.csv".into(),
        etag: "\"bench\"".into(),
        size: 0,
        last_modified: chrono::Utc::now(),
        storage_class: None,
        attempts: 0,
        replaces: None,
    };
    let template = payment_template();
    let records = payment_records(args.rows, "bench/payments.csv#bench")?;
    let sink = RecordsTable::new(bench::dynamodb_client(&args.endpoint).await, RECORDS_TABLE);
    let mut levels = vec![SyncConfig::default().write_concurrency];
    levels.extend(&args.in_flight);
    levels.sort_unstable();
    levels.dedup();
    let batch = sink.max_batch();
    for in_flight in levels {
        // Warm the client's connection pool to this level first, as a long import would have it.
        let warm = records[..(in_flight * 2 * batch).min(records.len())].to_vec();
        write_all(&sink, &template, &object, handoffs(&warm), in_flight).await?;
        let work = handoffs(&records);
        let before = endpoint_reset(&args.endpoint).await?;
        let cpu = CpuTime::now();
        let started = Instant::now();
        let (written, in_put) = write_all(&sink, &template, &object, work, in_flight).await?;
        let seconds = started.elapsed().as_secs_f64();
        let cpu = CpuTime::now().since(cpu);
        let after = endpoint_stats(&args.endpoint).await?;
        let received = after.items - before.items;
        anyhow::ensure!(
            written == args.rows as u64 && received == written,
            "wrote {written} of {} rows; the endpoint received {received}",
            args.rows
        );
        let rate = written as f64 / seconds;
        let ideal = (in_flight * batch) as f64 / (after.latency_ms / 1e3);
        let requests = after.requests - before.requests;
        println!(
            "{}",
            serde_json::json!({
                "in_flight": in_flight,
                "runtime": args.runtime.name(),
                "allocator": bench::ALLOCATOR_NAME,
                "rows": written,
                "seconds": seconds,
                "rows_per_second": rate,
                "latency_ms": after.latency_ms,
                "ideal_rows_per_second": ideal,
                "percent_of_ideal": 100.0 * rate / ideal,
                "requests": requests,
                // Per request: how long a slot of the pipeline took, how long the put took as the
                // caller saw it, and how long the endpoint held it.
                "slot_ms": seconds * 1e3 * in_flight as f64 / requests as f64,
                "put_ms": in_put.as_secs_f64() * 1e3 / requests as f64,
                "held_ms": (after.held_seconds - before.held_seconds) * 1e3 / requests as f64,
                "endpoint_max_in_flight": after.max_in_flight,
                "connections_opened": after.connections - before.connections,
                "client_cpu_seconds": cpu.total(),
                "endpoint_cpu_seconds": after.cpu_seconds - before.cpu_seconds,
            })
        );
    }
    Ok(())
}
