//! Whole-worker CPU cost: the real sync engine, with the real S3 source (STS AssumeRole, ListObjectsV2,
//! GetObject against moto at `AWS_ENDPOINT_URL`) and the real records writer (BatchWriteItem to
//! `ddb-latency`), the state in memory. Prints one JSON line per sink: CPU seconds of this process
//! (user + system, getrusage) during the sync, per row.
//!
//! The object is synced `--repeat` times into the records table (the figure), then as many times
//! into a sink that only counts, which leaves what reading, decoding, parsing and mapping cost; the
//! difference is the write path's (items, JSON, signing, HTTP). Each sync has a fresh state store,
//! so each imports the whole object.
//!
//! Usage: `worker-cpu --endpoint http://127.0.0.1:PORT [--rows 200000] [--repeat 1]
//! [--runtime multi-thread|current-thread]`, with AWS_ENDPOINT_URL set.

use anyhow::Context;
use bench::{payment_template, payments_csv, CpuTime, Runtime, RECORDS_TABLE};
use clap::Parser;
use connector_aws::config::Aws;
use connector_aws::dynamodb::RecordsTable;
use connector_aws::s3::RoleAccess;
use connector_core::connections::{new_connection, ConnectionInput};
use connector_core::engine::{Engine, Invocation, SyncConfig, SyncOutcome};
use connector_core::memory::{MemoryStore, RecordedEvents};
use connector_core::model::RunCounts;
use connector_core::ports::{BucketAccess, RecordSink, SystemClock};
use std::sync::atomic::Ordering;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "CPU seconds per row of a whole sync: moto S3 -> engine -> records writer -> ddb-latency")]
struct Args {
    /// The ddb-latency endpoint the records are written to.
    #[arg(long)]
    endpoint: String,
    /// Rows in the CSV object.
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Syncs of the object per sink (each prints its line).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// The tokio runtime (the worker's is multi-thread).
    #[arg(long, value_enum, default_value_t)]
    runtime: Runtime,
}

/// The one call of the engine's API here: one sync of one connection to its end, with the default
/// configuration, as the worker runs it.
async fn sync_once(
    store: &MemoryStore,
    sink: &dyn RecordSink,
    buckets: &dyn BucketAccess,
    connection_id: &str,
) -> anyhow::Result<RunCounts> {
    // The run's events are kept in memory: the benchmark measures the import, not a bus.
    let events = RecordedEvents::default();
    let engine = Engine {
        store,
        sink,
        buckets,
        events: &events,
        rejects: None,
        clock: &SystemClock,
        config: SyncConfig::default(),
    };
    match engine.run(Invocation::new(connection_id, "bench-cpu-run")).await? {
        SyncOutcome::Completed(run) => Ok(run.counts),
        other => anyhow::bail!("the sync did not complete: {other:?}"),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.runtime.build()?.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(std::env::var_os("AWS_ENDPOINT_URL").is_some(), "AWS_ENDPOINT_URL (moto) is not set");
    let aws = Aws::from_env().await;
    let bucket = format!("bench-cpu-{}", chrono::Utc::now().timestamp_millis());
    let key = "payments/payments.csv";
    let body = payments_csv(args.rows);
    let object_bytes = body.len();
    let s3 = aws.s3_own();
    s3.create_bucket().bucket(&bucket).send().await.context("creating the bench bucket in moto")?;
    s3.put_object().bucket(&bucket).key(key).body(body.into()).send().await.context("uploading the object")?;

    let template = payment_template();
    let buckets = RoleAccess { aws: aws.clone(), page_size: None, read_ahead: Default::default() };
    let records = RecordsTable::new(bench::dynamodb_client(&args.endpoint).await, RECORDS_TABLE);
    let counting = bench::CountingSink::default();
    let sinks: [(&str, &dyn RecordSink); 2] = [("records_table", &records), ("count_only", &counting)];
    for (name, sink) in sinks.into_iter().flat_map(|s| std::iter::repeat_n(s, args.repeat)) {
        let connection = new_connection(
            ConnectionInput {
                tenant: "acme".into(),
                name: format!("bench cpu {name}"),
                account_id: "123456789012".into(), // moto's own account: the bucket's owner
                bucket: bucket.clone(),
                region: "us-east-1".into(),
                folder: Some("payments".into()),
                template_id: template.id.clone(),
                kms_key_arn: None,
                open_fields: Vec::new(),
                mode: Default::default(),
            },
            connector_core::manage::connections::new_connection_id(),
            "0".repeat(64),
            connector_core::connections::ROLE_PREFIX,
            chrono::Utc::now(),
        )
        .map_err(|e| anyhow::anyhow!("bench connection: {e:?}"))?;
        let id = connection.id.clone();
        let store = MemoryStore::with(connection, template.clone());
        let items_before = bench::endpoint_stats(&args.endpoint).await?.items;
        let cpu = CpuTime::now();
        let started = Instant::now();
        let counts = sync_once(&store, sink, &buckets, &id).await?;
        let wall = started.elapsed().as_secs_f64();
        let cpu = CpuTime::now().since(cpu);
        let stats = bench::endpoint_stats(&args.endpoint).await?;
        let received = match name {
            "records_table" => stats.items - items_before,
            _ => counting.0.swap(0, Ordering::Relaxed),
        };
        anyhow::ensure!(
            counts.rows_imported == args.rows as u64 && received == counts.rows_imported,
            "imported {} of {} rows; the sink received {received}: {counts:?}",
            counts.rows_imported,
            args.rows
        );
        println!(
            "{}",
            serde_json::json!({
                "sink": name,
                "runtime": args.runtime.name(),
                "allocator": bench::ALLOCATOR_NAME,
                "rows": counts.rows_imported,
                "object_bytes": object_bytes,
                "bucket": bucket,
                "key": key,
                "latency_ms": stats.latency_ms,
                "write_concurrency": SyncConfig::default().write_concurrency,
                "wall_seconds": wall,
                "user_seconds": cpu.user,
                "system_seconds": cpu.system,
                "cpu_seconds": cpu.total(),
                "rows_per_cpu_second": counts.rows_imported as f64 / cpu.total(),
                "cpu_microseconds_per_row": cpu.total() * 1e6 / counts.rows_imported as f64,
            })
        );
    }
    Ok(())
}
