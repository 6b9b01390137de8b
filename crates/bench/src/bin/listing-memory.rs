//! Memory of a sync that lists a large bucket of which a few objects are new: the real engine
//! (default configuration: the folder's first level listed with a delimiter, then 8 sub-folders at
//! once, pages of 1,000, a ledger lookup per page) over a generated bucket, the state in memory, the
//! records counted. The bucket is an in-process source standing for S3's ListObjectsV2 pages:
//! `--objects` keys spread over 100 sub-folders, made as their page is asked for, so that nothing but
//! the engine holds them; all are 30 days old but the last `--new`, which are minutes old and hold
//! one row each. The connection's watermark is an hour old, so the old objects are past the overlap.
//! Prints one JSON line: objects listed, selected, rows imported, wall seconds, peak RSS.
//!
//! Usage: `listing-memory [--objects 1000000] [--new 300]` (run each size in a process of its own).

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use clap::Parser;
use connector_core::connections::{new_connection, ConnectionInput, ROLE_PREFIX};
use connector_core::engine::{Engine, Invocation, SyncConfig, SyncOutcome};
use connector_core::memory::{MemoryStore, RecordedEvents};
use connector_core::model::{Connection, ListCursor, ObjectMeta};
use connector_core::ports::{BucketAccess, ListPage, ObjectBody, ObjectSource, SourceError, SystemClock};
use connector_core::template::Template;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const FOLDERS: u64 = 100;
const PAGE: u64 = 1000;

#[derive(Parser)]
#[command(about = "Peak memory of a sync listing a large bucket with a few new objects")]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    objects: u64,
    #[arg(long, default_value_t = 300)]
    new: u64,
}

struct GeneratedBucket {
    objects: u64,
    new: u64,
    now: DateTime<Utc>,
    pages: AtomicU64,
}

impl GeneratedBucket {
    fn meta(&self, i: u64) -> ObjectMeta {
        let new = i >= self.objects - self.new;
        ObjectMeta {
            key: format!("in/{:02}/obj-{i:08}.csv", i % FOLDERS),
            etag: format!("\"{i:032x}\""),
            size: 32,
            last_modified: self.now - if new { TimeDelta::minutes(10) } else { TimeDelta::days(30) },
            storage_class: Some("STANDARD".into()),
            attempts: 0,
            replaces: None,
        }
    }
}

#[async_trait]
impl ObjectSource for GeneratedBucket {
    async fn list_page(&self, cursor: &ListCursor) -> Result<ListPage, SourceError> {
        self.pages.fetch_add(1, Ordering::Relaxed);
        if cursor.fan_out {
            // The folder's first level: its sub-folders, no objects.
            let prefixes = (0..FOLDERS.min(self.objects)).map(|f| format!("in/{f:02}/")).collect();
            return Ok(ListPage { objects: vec![], prefixes, next_token: None });
        }
        let folder: u64 = cursor.prefix.trim_start_matches("in/").trim_end_matches('/').parse().unwrap_or(0);
        let in_folder = (self.objects + FOLDERS - 1 - folder) / FOLDERS;
        let start: u64 = cursor.token.as_deref().and_then(|t| t.parse().ok()).unwrap_or(0);
        let end = (start + PAGE).min(in_folder);
        let objects = (start..end).map(|k| self.meta(folder + k * FOLDERS)).collect();
        Ok(ListPage { objects, prefixes: vec![], next_token: (end < in_folder).then(|| end.to_string()) })
    }

    async fn open(&self, object: &ObjectMeta, _from: u64) -> Result<ObjectBody, SourceError> {
        let body = format!("id,amount\n{},1\n", object.key).into_bytes();
        Ok(Box::pin(std::io::Cursor::new(body)))
    }

    /// The object whose key [`GeneratedBucket::meta`] gives, if its number is one of the bucket's.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, SourceError> {
        let number = key.rsplit_once("obj-").and_then(|(_, n)| n.strip_suffix(".csv")).and_then(|n| n.parse().ok());
        Ok(number.filter(|&i| i < self.objects).map(|i| self.meta(i)).filter(|meta| meta.key == key))
    }
}

#[async_trait]
impl BucketAccess for GeneratedBucket {
    async fn connect(&self, _connection: &Connection) -> Result<Box<dyn ObjectSource + '_>, SourceError> {
        Ok(Box::new(GeneratedSource(self)))
    }
}

struct GeneratedSource<'a>(&'a GeneratedBucket);

#[async_trait]
impl ObjectSource for GeneratedSource<'_> {
    async fn list_page(&self, cursor: &ListCursor) -> Result<ListPage, SourceError> {
        self.0.list_page(cursor).await
    }
    async fn open(&self, object: &ObjectMeta, from: u64) -> Result<ObjectBody, SourceError> {
        self.0.open(object, from).await
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, SourceError> {
        self.0.head(key).await
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.new <= args.objects, "--new must not exceed --objects");
    let now = Utc::now();
    let template = Template::from_json(
        r#"{"id": "t", "record_type": "r", "format": {"type": "csv"}, "columns": [
            {"source": "id", "field": "id", "type": "string", "required": true},
            {"source": "amount", "field": "amount", "type": "decimal"}]}"#,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let input = ConnectionInput {
        tenant: "acme".into(),
        name: "listing bench".into(),
        account_id: "123456789012".into(),
        bucket: "bench".into(),
        region: "us-east-1".into(),
        folder: Some("in".into()),
        template_id: "t".into(),
        kms_key_arn: None,
        open_fields: Vec::new(),
        mode: Default::default(),
    };
    let mut connection =
        new_connection(input, "bench".into(), "x".into(), ROLE_PREFIX, now).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    connection.sync.watermark = Some(now - TimeDelta::hours(1));
    let store = MemoryStore::with(connection, template);
    let bucket = GeneratedBucket { objects: args.objects, new: args.new, now, pages: AtomicU64::new(0) };
    let sink = bench::CountingSink::default();
    let events = RecordedEvents::default();
    let engine = Engine {
        store: &store,
        sink: &sink,
        buckets: &bucket,
        events: &events,
        rejects: None,
        clock: &SystemClock,
        config: SyncConfig::default(),
    };
    let started = Instant::now();
    let run = match engine.run(Invocation::new("bench", "listing-bench")).await? {
        SyncOutcome::Completed(run) => run,
        other => anyhow::bail!("the sync did not complete: {other:?}"),
    };
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        run.counts.objects_listed == args.objects && run.counts.rows_imported == args.new,
        "listed {} of {}, imported {} of {}",
        run.counts.objects_listed,
        args.objects,
        run.counts.rows_imported,
        args.new
    );
    println!(
        "{}",
        serde_json::json!({
            "objects": args.objects,
            "new": args.new,
            "objects_listed": run.counts.objects_listed,
            "objects_selected": run.counts.objects_selected,
            "rows_imported": sink.0.load(Ordering::Relaxed),
            "pages": bucket.pages.load(Ordering::Relaxed),
            "seconds": seconds,
            "peak_rss_mb": bench::peak_rss_mb(),
        })
    );
    Ok(())
}
