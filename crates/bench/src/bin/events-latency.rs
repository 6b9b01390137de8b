//! Event-driven imports against moto (issue 14): how long from an object's PutObject to its records
//! in the records table, and how many AWS requests the connector makes per imported object, through
//! object events or through a scheduled scan of the same objects. Prints one JSON line (last on
//! stdout: the intake writes its metrics documents there too).
//!
//! `--path events`: an active events-mode connection of a bucket whose object events reach a queue as
//! deployed (the bucket's EventBridge switch on, a rule with the customer's pattern,
//! `connector_core::policies::events_rule_pattern`, on a bus, targeting an SQS queue). A thread of its
//! own puts `--objects` small CSV objects, one every `--interval-ms`, and notes when each PutObject
//! returned; meanwhile the intake's handler (`intake::handle`, on a current-thread runtime as the
//! intake Lambda runs) takes the batches of the event source mapping's emulation
//! (`intake::poller::QueuePoller`: `--window-seconds` since a batch's first message, at most
//! `--batch-size` messages, one batch at a time). An object's latency is from its PutObject's return
//! to its outcome's `finished_at` in the ledger, stamped once its records were written (one clock:
//! this process's).
//!
//! `--path scan`: the same objects in a bucket of a scheduled connection whose last scan ran before
//! they were put, imported by one scheduled scan (`Deployment::sync` with a schedule run, then
//! `Deployment::next_run`, as the worker's handler does). With `--old-objects K`, the bucket also
//! holds K objects the connection's earlier scans passed: they were put first, and the connection's
//! first scan, run with a lookback of one second, left them behind its watermark; the measured scan
//! runs with the connection's overlap at 0 hours, so that those objects, written seconds before,
//! stand for objects older than the default 24-hour overlap (moto stamps an object with the time it
//! is written and cannot be told otherwise). The scan lists them and reads nothing of them, as it
//! does objects older than its window.
//!
//! Requests are counted in the HTTP path of the measured deployment's SDK clients
//! ([`bench::requests`]); the set-up (buckets, tables, queue, rule, the objects' PutObjects, the
//! connection's creation, activation and first scan) goes through clients of its own and is not
//! counted. In events mode the emulated event source mapping's SQS requests are counted apart.
//!
//! Usage: `events-latency --path events [--objects 200] [--rows 10] [--interval-ms 50]
//! [--window-seconds 1] [--batch-size 100]`, `events-latency --path scan [--objects 200]
//! [--old-objects 10000]`, with AWS_ENDPOINT_URL set to moto.

use anyhow::{bail, ensure, Context};
use aws_sdk_s3::primitives::ByteStream;
use bench::requests::{OperationCount, RequestCounter};
use chrono::{DateTime, Utc};
use clap::Parser;
use connector_aws::config::{Aws, Settings};
use connector_aws::dynamodb::tables;
use connector_aws::metrics::Metrics;
use connector_aws::{Deployment, SyncRequest};
use connector_core::connections::ConnectionInput;
use connector_core::engine::SyncOutcome;
use connector_core::manage::connections::ConnectionChange;
use connector_core::manage::ports::RunHistory;
use connector_core::model::{Connection, FileStatus, RunPath, SyncMode};
use connector_core::ports::Templates;
use futures::StreamExt;
use intake::poller::QueuePoller;
use intake::IntakeConfig;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// moto's account: the buckets' owner.
const ACCOUNT: &str = "123456789012";
/// The connections' folder.
const FOLDER: &str = "in";

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Path {
    Events,
    Scan,
}

#[derive(Parser)]
#[command(
    about = "PutObject to records latency through object events, and AWS requests per imported object (events or scan)"
)]
struct Args {
    #[arg(long, value_enum)]
    path: Path,
    /// New objects to import.
    #[arg(long, default_value_t = 200)]
    objects: usize,
    /// Payment rows per object.
    #[arg(long, default_value_t = 10)]
    rows: usize,
    /// Events: time between one PutObject's start and the next's.
    #[arg(long, default_value_t = 50)]
    interval_ms: u64,
    /// Events: the batching window, from a batch's first message.
    #[arg(long, default_value_t = 1)]
    window_seconds: u64,
    /// Events: the most messages in a batch.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Scan: objects in the folder beside the new ones, older than the scan's window.
    #[arg(long, default_value_t = 0)]
    old_objects: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The intake's and the worker's runtime.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(async {
        anyhow::ensure!(std::env::var_os("AWS_ENDPOINT_URL").is_some(), "AWS_ENDPOINT_URL (moto) is not set");
        match args.path {
            Path::Events => events(&args).await,
            Path::Scan => scan(&args).await,
        }
    })?;
    println!("{result}");
    Ok(())
}

/// One bench's world on moto: its own tables, run-event bus and bucket; the deployment that sets up
/// and reads (not counted) and the one measured (counted), over the same tables.
struct World {
    plain: Aws,
    setup: Deployment,
    measured: Deployment,
    counter: RequestCounter,
    bucket: String,
    s3: aws_sdk_s3::Client,
}

/// A name of this run's own (the clock's nanoseconds, in hex).
fn unique(prefix: &str) -> String {
    format!("{prefix}-{:x}", Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

impl World {
    async fn new() -> anyhow::Result<World> {
        let plain = Aws::from_env().await;
        let mut settings = Settings::from_env().context("settings")?;
        settings.state_table = unique("bench-state");
        settings.records_table = unique("bench-records");
        settings.event_bus = unique("bench-run-events");
        settings.object_event_bus = None;
        let counter = RequestCounter::default();
        let setup = Deployment::new(plain.clone(), settings.clone());
        let measured = Deployment::new(counter.aws(&plain), settings);
        let s = &setup.settings;
        tables::create_tables(&plain.dynamodb(), &s.state_table, &s.records_table).await.context("creating tables")?;
        setup.state.put_template(&bench::payment_template()).await.context("saving the template")?;
        plain.eventbridge().create_event_bus().name(&s.event_bus).send().await.context("creating the run-event bus")?;
        let bucket = unique("bench-events");
        let s3 = plain.s3_own();
        s3.create_bucket().bucket(&bucket).send().await.context("creating the bucket")?;
        Ok(World { plain, setup, measured, counter, bucket, s3 })
    }

    /// A connection of the bucket's folder, activated (its first scan run) by `activator`.
    async fn connection(&self, mode: SyncMode, activator: &Deployment) -> anyhow::Result<Connection> {
        let input = ConnectionInput {
            tenant: "bench".into(),
            name: unique("bench"),
            account_id: ACCOUNT.into(),
            bucket: self.bucket.clone(),
            region: "us-east-1".into(),
            folder: Some(FOLDER.into()),
            template_id: bench::payment_template().id,
            kms_key_arn: None,
            open_fields: Vec::new(),
            mode,
        };
        let created = self.setup.in_process().create(input).await.map_err(|e| anyhow::anyhow!("creating: {e:?}"))?;
        let id = created.connection.id;
        activator.in_process().activate(&id).await.map_err(|e| anyhow::anyhow!("activating: {e:?}"))?;
        let connection = self.setup.in_process().connection(&id).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        ensure!(connection.sync.watermark.is_some(), "the activation's first scan left no watermark: {connection:?}");
        Ok(connection)
    }

    async fn put(&self, key: &str, body: &[u8]) -> anyhow::Result<()> {
        let put = self.s3.put_object().bucket(&self.bucket).key(key).body(ByteStream::from(body.to_vec()));
        put.send().await.with_context(|| format!("putting {key}"))?;
        Ok(())
    }

    /// Puts `keys`, 16 at a time.
    async fn put_all(&self, keys: &[String], body: &[u8]) -> anyhow::Result<()> {
        let puts = futures::stream::iter(keys).map(|key| self.put(key, body)).buffer_unordered(16);
        puts.collect::<Vec<_>>().await.into_iter().collect()
    }

    /// Every object's outcome, by key (read by the set-up deployment: not counted).
    async fn outcomes(
        &self,
        connection_id: &str,
    ) -> anyhow::Result<HashMap<String, connector_core::model::FileOutcome>> {
        let outcomes = RunHistory::outcomes(&self.setup.state, connection_id).await?;
        Ok(outcomes.into_iter().map(|o| (o.key.clone(), o)).collect())
    }
}

fn new_keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{FOLDER}/new-{i:05}.csv")).collect()
}

/// Milliseconds between two instants of this process's clock.
fn millis(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e3
}

/// Nearest-rank percentiles and the extremes of a sample, in its unit.
fn summary(mut values: Vec<f64>) -> serde_json::Value {
    values.sort_by(f64::total_cmp);
    let rank = |p: f64| values[((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    json!({
        "count": values.len(),
        "min": values[0],
        "p50": rank(0.50),
        "p95": rank(0.95),
        "max": values[values.len() - 1],
        "mean": values.iter().sum::<f64>() / values.len() as f64,
    })
}

/// The key an Object Created event names (EventBridge's shape).
fn event_key(body: &str) -> Option<String> {
    let event: serde_json::Value = serde_json::from_str(body).ok()?;
    event["detail"]["object"]["key"].as_str().map(str::to_owned)
}

async fn events(args: &Args) -> anyhow::Result<serde_json::Value> {
    ensure!(args.objects > 0 && args.batch_size > 0, "--objects and --batch-size must be at least 1");
    let world = World::new().await?;
    let connection = world.connection(SyncMode::Events, &world.setup).await?;

    // The object-event path as deployed, in moto: the bucket's EventBridge switch, a rule with the
    // customer's pattern (moto gives every bus of the account S3's events, where AWS gives them to
    // the customer's default bus, from which that rule forwards them), the queue it targets.
    let notifications = aws_sdk_s3::types::NotificationConfiguration::builder()
        .event_bridge_configuration(aws_sdk_s3::types::EventBridgeConfiguration::builder().build())
        .build();
    let switch = world.s3.put_bucket_notification_configuration().bucket(&world.bucket);
    switch.notification_configuration(notifications).send().await.context("turning on EventBridge delivery")?;
    let plain_sqs = aws_sdk_sqs::Client::new(&world.plain.sdk);
    let queue = plain_sqs.create_queue().queue_name(unique("bench-object-events")).send().await?;
    let queue_url = queue.queue_url().context("a queue URL")?.to_owned();
    // The mapping's own requests, counted apart from the connector's.
    let esm_counter = RequestCounter::default();
    let esm_sqs = aws_sdk_sqs::Client::new(&esm_counter.aws(&world.plain).sdk);
    let poller = QueuePoller::new(esm_sqs, &queue_url).await.map_err(|e| anyhow::anyhow!(e)).context("the queue")?;
    let bus = unique("bench-object-bus");
    let events = world.plain.eventbridge();
    events.create_event_bus().name(&bus).send().await.context("creating the object-event bus")?;
    let pattern = connector_core::policies::events_rule_pattern(&connection);
    let rule = unique("bench-object-events");
    events.put_rule().name(&rule).event_bus_name(&bus).event_pattern(pattern.to_string()).send().await?;
    let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(&poller.arn).build()?;
    events.put_targets().rule(&rule).event_bus_name(&bus).targets(target).send().await?;

    // Nothing the set-up did is counted.
    world.counter.take();
    esm_counter.take();

    // The uploads, on a thread and runtime of their own so that the intake's work never delays a
    // PutObject or the note of its return.
    let keys = new_keys(args.objects);
    let body = bench::payments_csv(args.rows);
    let (s3, bucket, interval) = (world.s3.clone(), world.bucket.clone(), Duration::from_millis(args.interval_ms));
    let uploads_keys = keys.clone();
    let uploads = std::thread::spawn(move || -> anyhow::Result<Vec<(String, DateTime<Utc>)>> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut put = Vec::with_capacity(uploads_keys.len());
            for key in uploads_keys {
                ticks.tick().await;
                let request = s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(body.clone()));
                request.send().await.with_context(|| format!("putting {key}"))?;
                put.push((key, Utc::now()));
            }
            Ok(put)
        })
    });

    // The event source mapping and the intake, until the uploads are done and the queue is quiet.
    let started = Instant::now();
    let window = Duration::from_secs(args.window_seconds);
    let metrics = Metrics::new("S3ConnectorBench", "bench");
    let config = IntakeConfig::default();
    let mut handed: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut batch_sizes = Vec::new();
    let mut runs = 0;
    loop {
        let batch = poller.batch(window, args.batch_size, Duration::from_secs(3)).await;
        let Some(batch) = batch.map_err(|e| anyhow::anyhow!(e)).context("receiving a batch")? else {
            if uploads.is_finished() {
                break;
            }
            continue;
        };
        let handed_at = Utc::now();
        for key in batch.bodies.iter().filter_map(|b| event_key(b)) {
            handed.entry(key).or_insert(handed_at);
        }
        let handled = intake::handle(&world.measured, &world.measured, &metrics, &config, batch.event.clone(), None);
        let (response, tally) = handled.await.context("the intake's handler")?;
        poller.settle(&batch, &response).await.map_err(|e| anyhow::anyhow!(e)).context("settling")?;
        ensure!(response.batch_item_failures.is_empty(), "the intake handed messages back: {tally:?}");
        batch_sizes.push(tally.messages);
        runs += tally.runs;
    }
    let seconds = started.elapsed().as_secs_f64();
    let put = uploads.join().map_err(|_| anyhow::anyhow!("the uploads' thread panicked"))??;
    let connector_requests = world.counter.take();
    let esm_requests = esm_counter.take();

    let outcomes = world.outcomes(&connection.id).await?;
    let (mut latency, mut waited, mut imported) = (Vec::new(), Vec::new(), Vec::new());
    for (key, put_at) in &put {
        let Some(outcome) = outcomes.get(key) else { bail!("{key} has no outcome: its event never ran") };
        ensure!(
            outcome.status == FileStatus::Imported && outcome.rows_imported == args.rows as u64,
            "{key} was not imported whole: {outcome:?}"
        );
        latency.push(millis(*put_at, outcome.finished_at));
        let handed_at = handed.get(key).with_context(|| format!("no event of {key} reached the intake"))?;
        waited.push(millis(*put_at, *handed_at));
        imported.push(millis(*handed_at, outcome.finished_at));
    }
    let history = RunHistory::runs(&world.setup.state, &connection.id, 10_000).await?;
    let events_runs: Vec<_> = history.iter().filter(|r| r.path == RunPath::Events).collect();
    let files: u64 = events_runs.iter().map(|r| r.counts.files_imported).sum();
    ensure!(files == args.objects as u64, "events runs imported {files} files, not {}", args.objects);
    ensure!(history.iter().all(|r| r.path == RunPath::Events || r.counts.files_imported == 0), "a scan imported files");
    Ok(json!({
        "path": "events",
        "objects": args.objects,
        "rows_per_object": args.rows,
        "object_bytes": bench::payments_csv(args.rows).len(),
        "interval_ms": args.interval_ms,
        "window_seconds": args.window_seconds,
        "batch_size": args.batch_size,
        "batches": batch_sizes.len(),
        "largest_batch": batch_sizes.iter().max(),
        "intake_runs": runs,
        "events_runs": events_runs.len(),
        "files_imported": files,
        "seconds": seconds,
        "latency_ms": summary(latency),
        "waited_for_batch_ms": summary(waited),
        "imported_after_batch_ms": summary(imported),
        "requests": connector_requests,
        "esm_requests": esm_requests,
    }))
}

async fn scan(args: &Args) -> anyhow::Result<serde_json::Value> {
    ensure!(args.objects > 0, "--objects must be at least 1");
    let world = World::new().await?;
    let body = bench::payments_csv(args.rows);
    let connection = if args.old_objects > 0 {
        let old: Vec<String> = (0..args.old_objects).map(|i| format!("{FOLDER}/old-{i:06}.csv")).collect();
        let putting = Instant::now();
        world.put_all(&old, &body).await?;
        eprintln!("put {} old objects in {:.1} s", old.len(), putting.elapsed().as_secs_f64());
        // Two seconds on, in whole seconds (S3's LastModified), they are older than the first scan's
        // one-second lookback, and the watermark it leaves.
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        let mut settings = world.setup.settings.clone();
        settings.sync.selection.initial_lookback = chrono::TimeDelta::seconds(1);
        let first_scan = Deployment::new(world.plain.clone(), settings);
        let connection = world.connection(SyncMode::Scheduled, &first_scan).await?;
        let change = ConnectionChange { overlap_hours: Some(Some(0)), ..ConnectionChange::default() };
        let edit = world.setup.in_process().edit(&connection.id, change).await;
        edit.map_err(|e| anyhow::anyhow!("setting the overlap: {e:?}"))?
    } else {
        world.connection(SyncMode::Scheduled, &world.setup).await?
    };
    let first = RunHistory::runs(&world.setup.state, &connection.id, 10).await?;
    ensure!(first.len() == 1 && first[0].counts.files_imported == 0, "the first scan imported objects: {first:?}");
    ensure!(first[0].counts.objects_listed == args.old_objects as u64, "{first:?}");

    // The new objects, after the watermark the first scan left.
    let keys = new_keys(args.objects);
    world.put_all(&keys, &body).await?;
    world.counter.take();

    // What the worker does for the day's scheduled event.
    let started = Instant::now();
    let schedule_run = unique("bench-schedule");
    let request = SyncRequest { schedule_run: Some(&schedule_run), ..SyncRequest::new(&connection.id) };
    let run = match world.measured.sync(request).await? {
        SyncOutcome::Completed(run) => run,
        other => bail!("the scan did not complete: {other:?}"),
    };
    let follow_up = world.measured.next_run(&connection.id).await;
    let seconds = started.elapsed().as_secs_f64();
    let requests: Vec<OperationCount> = world.counter.take();
    ensure!(follow_up.is_none(), "nothing was owed, yet: {follow_up:?}");
    ensure!(run.path == RunPath::Scan, "{run:?}");
    ensure!(
        run.counts.files_imported == args.objects as u64
            && run.counts.rows_imported == (args.objects * args.rows) as u64
            && run.counts.objects_listed == (args.objects + args.old_objects) as u64,
        "the scan did not import exactly the new objects: {:?}",
        run.counts
    );
    let outcomes = world.outcomes(&connection.id).await?;
    ensure!(keys.iter().all(|k| outcomes.get(k).is_some_and(|o| o.status == FileStatus::Imported)));
    Ok(json!({
        "path": "scan",
        "objects": args.objects,
        "old_objects": args.old_objects,
        "rows_per_object": args.rows,
        "object_bytes": body.len(),
        "overlap_hours": connection.overlap(world.measured.settings.sync.selection.overlap).num_seconds() as f64 / 3600.0,
        "objects_listed": run.counts.objects_listed,
        "files_imported": run.counts.files_imported,
        "seconds": seconds,
        "requests": requests,
    }))
}
