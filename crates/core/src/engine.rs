//! The sync engine: one run of one connection, from lease to watermark, over the ports.
//!
//! ```text
//! lease -> assume role -> list (keep candidates) -> ledger lookup -> select
//!   -> for each object, oldest first: GetObject -> [gzip] -> [BOM] -> parser -> mapper
//!        -> batches of 25 -> several BatchWriteItems in flight -> outcome in the ledger
//!   -> run record + sync state + watermark, lease released
//! ```
//!
//! Parsing is synchronous (csv, serde_json) and runs on a blocking thread reading the S3 body through
//! a bridge; records flow to the async writers through a bounded channel, so memory stays bounded by
//! the channel and the writes in flight, whatever the object's size.

use crate::decode::decoded;
use crate::mapping::{Mapper, Record};
use crate::model::{Connection, ConnectionStatus, FileOutcome, FileStatus, ObjectMeta, RunCounts, SyncResult, SyncRun};
use crate::parse::{parse_rows, FileError, ParseOptions, ParseSummary};
use crate::ports::*;
use crate::selection::{self, SelectionConfig};
use crate::template::{RowPolicy, Template};
use chrono::{DateTime, TimeDelta, Utc};
use futures::{stream, StreamExt, TryStreamExt};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;
use tracing::{info, info_span, warn, Instrument};

/// DynamoDB's BatchWriteItem limit.
pub const WRITE_BATCH: usize = 25;

#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub selection: SelectionConfig,
    /// BatchWriteItem requests in flight per object.
    pub write_concurrency: usize,
    /// How long a lease holds without renewal; longer than a Lambda invocation can run.
    pub lease_duration: TimeDelta,
    /// How long past the overlap an outcome stays in the ledger (its DynamoDB TTL).
    pub ledger_retention: TimeDelta,
    /// Records handed from the parser thread to the writers at a time.
    pub handoff_rows: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            selection: SelectionConfig::default(),
            write_concurrency: 8,
            lease_duration: TimeDelta::minutes(20),
            ledger_retention: TimeDelta::days(30),
            handoff_rows: 1000,
        }
    }
}

/// How a call to [`Engine::sync`] ended without an error.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncOutcome {
    /// The run finished (succeeded, partial or needs_reauth) and was recorded.
    Completed(SyncRun),
    /// Another worker holds the lease; nothing was done.
    LeaseHeld { owner: String, until: DateTime<Utc> },
    /// A run for this scheduled event already finished (a second delivery); nothing was done.
    AlreadySynced { schedule_run: String },
    /// The connection's status does not allow a sync (paused, needs_reauth).
    NotSyncable { status: ConnectionStatus },
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("connection {0} not found")]
    ConnectionNotFound(String),
    #[error("template {template_id} of connection {connection_id} not found")]
    TemplateNotFound { connection_id: String, template_id: String },
    /// A state store error before or after the run; nothing was recorded, retry.
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    /// The run stopped on an error a retry may cure; it was recorded as failed and the watermark
    /// did not pass the unfinished objects. Lambda should retry the invocation.
    #[error("sync {} failed and will be retried: {}", .0.run_id, .0.error.as_deref().unwrap_or("unknown error"))]
    Retryable(Box<SyncRun>),
}

/// Why a run stopped before its last object.
enum Stop {
    Access(String),
    Transient(String),
}

pub struct Engine<'a> {
    pub store: &'a dyn SyncStore,
    pub sink: &'a dyn RecordSink,
    pub connector: &'a dyn SourceConnector,
    pub clock: &'a dyn Clock,
    pub config: SyncConfig,
}

/// Accumulates a run as it goes.
struct RunState {
    counts: RunCounts,
    oldest_unfinished: Option<DateTime<Utc>>,
    listing_started: Option<DateTime<Utc>>,
    lease_until: DateTime<Utc>,
}

impl Engine<'_> {
    /// Syncs one connection. `run_id` identifies the run and owns the lease; `schedule_run`, the
    /// scheduled event that asked for it, if any (EventBridge delivers at least once).
    pub async fn sync(
        &self,
        connection_id: &str,
        run_id: &str,
        schedule_run: Option<&str>,
    ) -> Result<SyncOutcome, SyncError> {
        let connection = self
            .store
            .connection(connection_id)
            .await?
            .ok_or_else(|| SyncError::ConnectionNotFound(connection_id.to_owned()))?;
        if matches!(connection.status, ConnectionStatus::Paused | ConnectionStatus::NeedsReauth) {
            info!(status = connection.status.as_str(), "connection is not syncable");
            return Ok(SyncOutcome::NotSyncable { status: connection.status });
        }
        let template =
            self.store.template(&connection.template_id).await?.ok_or_else(|| SyncError::TemplateNotFound {
                connection_id: connection.id.clone(),
                template_id: connection.template_id.clone(),
            })?;
        let started = self.clock.now();
        let lease_until = started + self.config.lease_duration;
        match self.store.acquire_lease(&connection.id, run_id, started, lease_until, schedule_run).await? {
            Lease::Acquired => {}
            Lease::Held { owner, until } => {
                info!(%owner, %until, "lease held by another worker; exiting");
                return Ok(SyncOutcome::LeaseHeld { owner, until });
            }
            Lease::AlreadyRan { schedule_run } => {
                info!(%schedule_run, "already synced for this scheduled event; exiting");
                return Ok(SyncOutcome::AlreadySynced { schedule_run });
            }
        }
        let mut state =
            RunState { counts: RunCounts::default(), oldest_unfinished: None, listing_started: None, lease_until };
        let stop = self
            .run(&connection, &template, run_id, &mut state)
            .instrument(info_span!("sync", connection_id = %connection.id, run_id))
            .await
            .err();
        let (result, error) = match stop {
            None if state.counts.files_failed + state.counts.files_partial > 0 => (SyncResult::Partial, None),
            None => (SyncResult::Succeeded, None),
            Some(Stop::Access(e)) => (SyncResult::NeedsReauth, Some(e)),
            Some(Stop::Transient(e)) => (SyncResult::Failed, Some(e)),
        };
        let watermark_before = connection.sync.watermark;
        // Access problems advance nothing; otherwise a completed listing moves the watermark, never
        // past what is unfinished.
        let watermark_after = match (result, state.listing_started) {
            (SyncResult::NeedsReauth, _) | (_, None) => watermark_before,
            (_, Some(listed)) => Some(selection::next_watermark(watermark_before, listed, state.oldest_unfinished)),
        };
        let run = SyncRun {
            run_id: run_id.to_owned(),
            connection_id: connection.id.clone(),
            started_at: started,
            finished_at: self.clock.now(),
            result,
            counts: state.counts,
            error,
            watermark_before,
            watermark_after,
        };
        let mut updated = connection.clone();
        updated.status = match (connection.status, result) {
            (_, SyncResult::NeedsReauth) => ConnectionStatus::NeedsReauth,
            (ConnectionStatus::Pending, SyncResult::Succeeded | SyncResult::Partial) => ConnectionStatus::Active,
            (status, _) => status,
        };
        updated.sync.watermark = watermark_after;
        updated.sync.last_sync_started = Some(run.started_at);
        updated.sync.last_sync_finished = Some(run.finished_at);
        updated.sync.last_result = Some(result);
        updated.sync.last_error = run.error.clone();
        updated.sync.last_run_id = Some(run.run_id.clone());
        updated.sync.last_counts = run.counts.clone();
        if result != SyncResult::Failed {
            updated.sync.last_schedule_run =
                schedule_run.map(str::to_owned).or(connection.sync.last_schedule_run.clone());
        }
        self.store
            .finish_run(RunEnd { run: &run, connection: &updated, status_before: connection.status }, run_id)
            .await?;
        info!(result = ?run.result, counts = ?run.counts, "sync finished");
        if result == SyncResult::Failed {
            return Err(SyncError::Retryable(Box::new(run)));
        }
        Ok(SyncOutcome::Completed(run))
    }

    async fn run(
        &self,
        connection: &Connection,
        template: &Template,
        run_id: &str,
        state: &mut RunState,
    ) -> Result<(), Stop> {
        let source = self.connector.connect(connection).await.map_err(|e| access_stop(connection, e))?;
        let cutoff = selection::cutoff(connection.sync.watermark, self.clock.now(), &self.config.selection);
        let listing_started = self.clock.now();
        // Keep only candidates: memory follows what is new, not the size of the bucket.
        let mut candidates = Vec::new();
        let mut listing = source.list(connection.folder.as_deref());
        while let Some(object) = listing.next().await {
            let object = object.map_err(|e| access_stop(connection, e))?;
            state.counts.objects_listed += 1;
            if object.last_modified >= cutoff {
                candidates.push(object);
            }
        }
        drop(listing);
        state.listing_started = Some(listing_started);
        let keys: Vec<&str> = candidates.iter().map(|o| o.key.as_str()).collect();
        let imported = self.store.imported_etags(&connection.id, &keys).await.map_err(store_stop)?;
        let selection = selection::select(candidates, cutoff, &imported, template, &self.config.selection);
        state.counts.objects_selected = (selection.import.len() + selection.settle.len()) as u64;
        info!(
            listed = state.counts.objects_listed,
            to_import = selection.import.len(),
            to_settle = selection.settle.len(),
            already_done = selection.already_done,
            %cutoff,
            "selected objects"
        );
        for (object, status, reason) in &selection.settle {
            let outcome = self.outcome(
                object,
                *status,
                Some(reason.clone()),
                &ParseSummary::default(),
                0,
                run_id,
                Instant::now(),
            );
            self.record(connection, &outcome, state).await?;
        }
        let mapper = Arc::new(Mapper::new(template.clone()));
        for (i, object) in selection.import.iter().enumerate() {
            let result = async {
                self.renew_lease(connection, run_id, state).await?;
                let outcome = self.import(source.as_ref(), connection, template, &mapper, object, run_id).await?;
                self.record(connection, &outcome, state).await
            }
            .instrument(info_span!("object", key = %object.key, etag = %object.etag, size = object.size))
            .await;
            if let Err(stop) = result {
                // This object and every later one stay unfinished; the watermark waits for them.
                state.oldest_unfinished = selection.import[i..].iter().map(|o| o.last_modified).min();
                return Err(stop);
            }
        }
        Ok(())
    }

    async fn renew_lease(&self, connection: &Connection, run_id: &str, state: &mut RunState) -> Result<(), Stop> {
        let now = self.clock.now();
        if state.lease_until - now > self.config.lease_duration / 2 {
            return Ok(());
        }
        let until = now + self.config.lease_duration;
        match self.store.acquire_lease(&connection.id, run_id, now, until, None).await.map_err(store_stop)? {
            Lease::Acquired => {
                state.lease_until = until;
                Ok(())
            }
            Lease::Held { owner, .. } => Err(Stop::Transient(format!("lease lost to {owner}"))),
            Lease::AlreadyRan { .. } => unreachable!("no schedule run is given when renewing"),
        }
    }

    async fn record(&self, connection: &Connection, outcome: &FileOutcome, state: &mut RunState) -> Result<(), Stop> {
        let expires = outcome.finished_at + self.config.selection.overlap + self.config.ledger_retention;
        self.store.record_outcome(&connection.id, outcome, expires).await.map_err(store_stop)?;
        state.counts.add_file(outcome);
        info!(status = ?outcome.status, rows_imported = outcome.rows_imported, rows_rejected = outcome.rows_rejected, reason = outcome.reason.as_deref().unwrap_or(""), "object finished");
        Ok(())
    }

    /// Imports one object. A bad file is an `Ok` outcome with status failed; only errors that should
    /// stop the run (access, transient) are `Err`.
    async fn import(
        &self,
        source: &dyn ObjectSource,
        connection: &Connection,
        template: &Template,
        mapper: &Arc<Mapper>,
        object: &ObjectMeta,
        run_id: &str,
    ) -> Result<FileOutcome, Stop> {
        let started = Instant::now();
        if template.row_policy == RowPolicy::FailFile {
            // Validate the whole file first, so a bad row means not one record of it lands.
            let check = self.pass(source, connection, template, mapper, object, false).await?;
            match check {
                Pass::Gone(reason) => {
                    return Ok(self.outcome(
                        object,
                        FileStatus::Skipped,
                        Some(reason),
                        &ParseSummary::default(),
                        0,
                        run_id,
                        started,
                    ))
                }
                Pass::Parsed { summary, file_error: Some(e), .. } => {
                    return Ok(self.outcome(object, FileStatus::Failed, Some(e), &summary, 0, run_id, started))
                }
                Pass::Parsed { summary, .. } if summary.rows_rejected > 0 => {
                    let reason = "a row was rejected and the template's row policy is fail_file".to_owned();
                    return Ok(self.outcome(object, FileStatus::Failed, Some(reason), &summary, 0, run_id, started));
                }
                Pass::Parsed { .. } => {}
            }
        }
        let (status, reason, summary, written) = match self
            .pass(source, connection, template, mapper, object, true)
            .await?
        {
            Pass::Gone(reason) => (FileStatus::Skipped, Some(reason), ParseSummary::default(), 0),
            Pass::Parsed { summary, file_error: Some(e), written } => (FileStatus::Failed, Some(e), summary, written),
            Pass::Parsed { summary, written, .. } if summary.rows_rejected > 0 => {
                (FileStatus::Partial, None, summary, written)
            }
            Pass::Parsed { summary, written, .. } => (FileStatus::Imported, None, summary, written),
        };
        Ok(self.outcome(object, status, reason, &summary, written, run_id, started))
    }

    #[allow(clippy::too_many_arguments)]
    fn outcome(
        &self,
        object: &ObjectMeta,
        status: FileStatus,
        reason: Option<String>,
        summary: &ParseSummary,
        rows_imported: u64,
        run_id: &str,
        started: Instant,
    ) -> FileOutcome {
        FileOutcome {
            key: object.key.clone(),
            etag: object.etag.clone(),
            size: object.size,
            last_modified: object.last_modified,
            status,
            reason,
            rows_read: summary.rows_read,
            rows_imported,
            rows_rejected: summary.rows_rejected,
            row_errors: summary.row_errors.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
            run_id: run_id.to_owned(),
            finished_at: self.clock.now(),
        }
    }

    /// One streaming pass over an object: parse and map on a blocking thread, and when `write` is set,
    /// write the records with up to `write_concurrency` batches in flight.
    async fn pass(
        &self,
        source: &dyn ObjectSource,
        connection: &Connection,
        template: &Template,
        mapper: &Arc<Mapper>,
        object: &ObjectMeta,
        write: bool,
    ) -> Result<Pass, Stop> {
        let body = match source.open(object).await {
            Ok(body) => body,
            Err(e) if e.kind == SourceErrorKind::ObjectGone => return Ok(Pass::Gone(e.message)),
            Err(e) => return Err(access_stop(connection, e)),
        };
        let transport_failure = Arc::new(Mutex::new(None));
        let reader = tokio_util::io::SyncIoBridge::new(FailureTap { inner: body, failure: transport_failure.clone() });
        let (sender, receiver) = mpsc::channel::<Vec<Record>>(2);
        let mapper = mapper.clone();
        let id_prefix = format!("{}#{}", object.key, object.etag.trim_matches('"'));
        let handoff = self.config.handoff_rows.max(WRITE_BATCH);
        let options = ParseOptions { stop_at_first_row_error: !write && template.row_policy == RowPolicy::FailFile };
        let parser = tokio::task::spawn_blocking(move || -> Result<ParseSummary, FileError> {
            let mut input = decoded(reader)?;
            let mut batch = Vec::with_capacity(handoff);
            let mut emit = |record: Record| {
                if !write {
                    return ControlFlow::Continue(());
                }
                batch.push(record);
                if batch.len() >= handoff
                    && sender.blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(handoff))).is_err()
                {
                    return ControlFlow::Break(()); // the writers stopped: their error is reported
                }
                ControlFlow::Continue(())
            };
            let summary = parse_rows(&mut input, &mapper, &id_prefix, options, &mut emit)?;
            if !batch.is_empty() {
                let _ = sender.blocking_send(batch);
            }
            Ok(summary)
        });
        let imported_at = self.clock.now();
        // poll_fn, not unfold with an async closure: with the latter rustc cannot prove the sync
        // future Send for every lifetime, which callers behind async_trait need.
        let mut receiver = receiver;
        let batches = stream::poll_fn(move |cx| receiver.poll_recv(cx));
        let written = batches
            .flat_map(|batch| stream::iter(chunks(batch)))
            .map(|records| {
                let n = records.len() as u64;
                let batch = RecordBatch { connection_id: &connection.id, template, object, imported_at, records };
                async move { self.sink.put(batch).await.map(|()| n) }
            })
            .buffer_unordered(self.config.write_concurrency.max(1))
            .try_fold(0u64, |total, n| futures::future::ready(Ok(total + n)))
            .await;
        let parsed = parser.await.map_err(|e| Stop::Transient(format!("parser thread failed: {e}")))?;
        let written = written.map_err(store_stop)?;
        if let Some(failure) = transport_failure.lock().map(|f| f.clone()).unwrap_or(None) {
            return Err(Stop::Transient(format!("reading s3://{}/{}: {failure}", connection.bucket, object.key)));
        }
        Ok(match parsed {
            Ok(summary) => Pass::Parsed { summary, file_error: None, written },
            Err(e) => {
                warn!(error = %e, "file failed");
                Pass::Parsed { summary: ParseSummary::default(), file_error: Some(file_error_reason(&e)), written }
            }
        })
    }
}

enum Pass {
    Gone(String),
    Parsed { summary: ParseSummary, file_error: Option<String>, written: u64 },
}

fn file_error_reason(e: &FileError) -> String {
    match e {
        // Not a transport failure (that is caught by the tap): the decoder found bad bytes.
        FileError::Io(io) => format!("cannot decode the file: {io}"),
        other => other.to_string(),
    }
}

/// Splits a handoff into BatchWriteItem-sized chunks.
fn chunks(mut records: Vec<Record>) -> Vec<Vec<Record>> {
    let mut out = Vec::with_capacity(records.len().div_ceil(WRITE_BATCH));
    while records.len() > WRITE_BATCH {
        let rest = records.split_off(WRITE_BATCH);
        out.push(std::mem::replace(&mut records, rest));
    }
    if !records.is_empty() {
        out.push(records);
    }
    out
}

/// Access problems stop the run with a message saying what to check; anything else may be retried.
fn access_stop(connection: &Connection, e: SourceError) -> Stop {
    if e.kind.breaks_access() {
        Stop::Access(crate::connections::explain_access(connection, &e))
    } else {
        Stop::Transient(e.message)
    }
}

fn store_stop(e: StoreError) -> Stop {
    Stop::Transient(format!("state store: {e}"))
}

/// Remembers a failure of the object body itself, so that a broken download is told apart from a
/// corrupt file when both surface as I/O errors from the decoder.
struct FailureTap {
    inner: ObjectBody,
    failure: Arc<Mutex<Option<String>>>,
}

impl AsyncRead for FailureTap {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let polled = self.inner.as_mut().poll_read(cx, buf);
        if let Poll::Ready(Err(e)) = &polled {
            if let Ok(mut failure) = self.failure.lock() {
                *failure = Some(e.to_string());
            }
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::*;
    use crate::model::SyncState;

    fn t(s: &str) -> DateTime<Utc> {
        format!("2026-06-{s}Z").parse().unwrap()
    }

    fn template(policy: &str) -> Template {
        Template::from_json(&format!(
            r#"{{"id": "tpl", "record_type": "payment", "format": {{"type": "csv"}}, "row_policy": "{policy}",
            "columns": [{{"source": "id", "field": "id", "type": "string", "required": true}},
                        {{"source": "amount", "field": "amount", "type": "decimal", "required": true}}]}}"#
        ))
        .unwrap()
    }

    fn connection() -> Connection {
        Connection {
            id: "c1".into(),
            name: "acme".into(),
            account_id: "123456789012".into(),
            bucket: "b".into(),
            region: "us-east-1".into(),
            folder: Some("in/".into()),
            role_name: "r".into(),
            external_id: "x".into(),
            template_id: "tpl".into(),
            status: ConnectionStatus::Pending,
            created_at: t("01T00:00:00"),
            sync: SyncState::default(),
        }
    }

    struct World {
        store: MemoryStore,
        sink: MemorySink,
        bucket: MemoryBucket,
        clock: FixedClock,
    }

    impl World {
        fn new(policy: &str) -> Self {
            World {
                store: MemoryStore::with(connection(), template(policy)),
                sink: MemorySink::default(),
                bucket: MemoryBucket::default(),
                clock: FixedClock::at(t("10T12:00:00.250")),
            }
        }
        fn engine(&self) -> Engine<'_> {
            Engine {
                store: &self.store,
                sink: &self.sink,
                connector: &self.bucket,
                clock: &self.clock,
                config: SyncConfig::default(),
            }
        }
        async fn sync(&self, run: &str) -> Result<SyncOutcome, SyncError> {
            self.engine().sync("c1", run, None).await
        }
        async fn completed(&self, run: &str) -> SyncRun {
            match self.sync(run).await {
                Ok(SyncOutcome::Completed(run)) => run,
                other => panic!("expected a completed run, got {other:?}"),
            }
        }
        fn record_ids(&self) -> Vec<String> {
            self.sink.records.lock().unwrap().keys().map(|(_, id)| id.clone()).collect()
        }
        fn status(&self) -> ConnectionStatus {
            self.store.connections.lock().unwrap()["c1"].status
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn first_sync_imports_the_folder_within_the_lookback_then_only_what_is_new() {
        let w = World::new("skip_row");
        w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na1,1\na2,2\n");
        w.bucket.put("in/old.csv", "\"eo\"", t("01T00:00:00") - TimeDelta::days(120), b"id,amount\no,1\n");
        w.bucket.put("out/x.csv", "\"ex\"", t("09T00:00:00"), b"id,amount\nx,1\n");
        w.bucket.put("in/", "\"ed\"", t("09T00:00:00"), b"");

        let run = w.completed("run1").await;
        assert_eq!(run.result, SyncResult::Succeeded);
        assert_eq!((run.counts.objects_listed, run.counts.files_imported, run.counts.files_skipped), (3, 1, 1));
        assert_eq!(w.record_ids(), ["in/a.csv#ea#1", "in/a.csv#ea#2"]);
        assert_eq!(run.watermark_after, Some(t("10T12:00:00")), "watermark floored to the listing's second");
        assert_eq!(w.status(), ConnectionStatus::Active);
        assert_eq!(w.store.outcome("c1", "in/").unwrap().reason.as_deref(), Some("folder placeholder"));

        // Same second as the first listing, a replaced file, and nothing else new.
        w.bucket.put("in/late.csv", "\"el\"", t("10T12:00:00"), b"id,amount\nl,1\n");
        w.bucket.put("in/a.csv", "\"ea2\"", t("10T12:00:00"), b"id,amount\na1,10\n");
        w.clock.set(t("11T12:00:00"));
        let writes_before = *w.sink.writes.lock().unwrap();
        let run = w.completed("run2").await;
        assert_eq!(run.counts.files_imported, 2, "{run:?}");
        assert_eq!(*w.sink.writes.lock().unwrap() - writes_before, 2, "only the two new rows were written");
        assert!(w.record_ids().contains(&"in/late.csv#el#1".to_string()));
        assert!(w.record_ids().contains(&"in/a.csv#ea2#1".to_string()));

        // Nothing new: nothing written.
        w.clock.set(t("12T12:00:00"));
        let writes_before = *w.sink.writes.lock().unwrap();
        let run = w.completed("run3").await;
        assert_eq!((run.counts.objects_selected, *w.sink.writes.lock().unwrap()), (0, writes_before));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_rows_and_bad_files_fail_alone() {
        let w = World::new("skip_row");
        w.bucket.put("in/1.csv", "\"e1\"", t("09T00:00:00"), b"id,amount\nok,1\nbad,x\n");
        w.bucket.put("in/2.csv", "\"e2\"", t("09T00:00:01"), b"amount\n1\n");
        w.bucket.put("in/3.csv.gz", "\"e3\"", t("09T00:00:02"), &[0x1f, 0x8b, 8, 0, 0, 0]);
        w.bucket.put("in/4.csv", "\"e4\"", t("09T00:00:03"), b"id,amount\ngood,2\n");
        let run = w.completed("run1").await;
        assert_eq!(run.result, SyncResult::Partial);
        assert_eq!((run.counts.files_imported, run.counts.files_partial, run.counts.files_failed), (1, 1, 2));
        let partial = w.store.outcome("c1", "in/1.csv").unwrap();
        assert_eq!(partial.row_errors[0].row, 2);
        assert_eq!(partial.row_errors[0].line, 3);
        assert_eq!(partial.row_errors[0].column.as_deref(), Some("amount"));
        assert!(w.store.outcome("c1", "in/2.csv").unwrap().reason.unwrap().contains("lacks required column(s): id"));
        assert!(w.store.outcome("c1", "in/3.csv.gz").unwrap().reason.unwrap().starts_with("cannot decode the file"));
        assert_eq!(w.record_ids(), ["in/1.csv#e1#1", "in/4.csv#e4#1"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fail_file_policy_writes_nothing_from_a_file_with_a_bad_row() {
        let w = World::new("fail_file");
        w.bucket.put("in/1.csv", "\"e1\"", t("09T00:00:00"), b"id,amount\nok,1\nbad,x\nok2,3\n");
        w.bucket.put("in/2.csv", "\"e2\"", t("09T00:00:01"), b"id,amount\ngood,2\n");
        let run = w.completed("run1").await;
        assert_eq!((run.counts.files_failed, run.counts.files_imported), (1, 1));
        assert_eq!(w.record_ids(), ["in/2.csv#e2#1"]);
        let failed = w.store.outcome("c1", "in/1.csv").unwrap();
        assert_eq!((failed.rows_imported, failed.row_errors[0].row), (0, 2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_held_lease_stops_a_second_worker() {
        let w = World::new("skip_row");
        w.store.acquire_lease("c1", "other", t("10T12:00:00"), t("10T12:10:00"), None).await.unwrap();
        assert_eq!(
            w.sync("run1").await.unwrap(),
            SyncOutcome::LeaseHeld { owner: "other".into(), until: t("10T12:10:00") }
        );
        // An expired lease left by a crashed worker does not block.
        w.clock.set(t("10T12:10:01"));
        assert!(matches!(w.sync("run2").await, Ok(SyncOutcome::Completed(_))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_delivery_of_a_scheduled_event_starts_no_second_sync() {
        let w = World::new("skip_row");
        w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
        let first = w.engine().sync("c1", "run1", Some("event-1")).await.unwrap();
        assert!(matches!(first, SyncOutcome::Completed(_)), "{first:?}");
        let again = w.engine().sync("c1", "run2", Some("event-1")).await.unwrap();
        assert_eq!(again, SyncOutcome::AlreadySynced { schedule_run: "event-1".into() });
        let next_day = w.engine().sync("c1", "run3", Some("event-2")).await.unwrap();
        assert!(matches!(next_day, SyncOutcome::Completed(_)), "{next_day:?}");
        // Unscheduled syncs (operators, retries) always run.
        assert!(matches!(w.engine().sync("c1", "run4", None).await.unwrap(), SyncOutcome::Completed(_)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_scheduled_run_can_be_retried_for_the_same_event() {
        let w = World::new("skip_row");
        w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
        *w.sink.fail_after.lock().unwrap() = Some(0);
        assert!(matches!(w.engine().sync("c1", "run1", Some("event-1")).await, Err(SyncError::Retryable(_))));
        *w.sink.fail_after.lock().unwrap() = None;
        let retry = w.engine().sync("c1", "run2", Some("event-1")).await.unwrap();
        assert!(matches!(retry, SyncOutcome::Completed(ref r) if r.counts.rows_imported == 1), "{retry:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn denied_access_sets_needs_reauth_and_advances_nothing() {
        let w = World::new("skip_row");
        w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
        *w.bucket.deny.lock().unwrap() = Some(SourceErrorKind::AccessDenied);
        let run = w.completed("run1").await;
        assert_eq!((run.result, run.watermark_after), (SyncResult::NeedsReauth, None));
        assert_eq!(w.status(), ConnectionStatus::NeedsReauth);
        assert!(w.record_ids().is_empty());
        assert_eq!(w.sync("run2").await.unwrap(), SyncOutcome::NotSyncable { status: ConnectionStatus::NeedsReauth });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transient_write_failure_is_retryable_and_the_retry_duplicates_nothing() {
        let w = World::new("skip_row");
        w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
        let rows: String = (0..100).map(|i| format!("b{i},{i}\n")).collect();
        w.bucket.put("in/b.csv", "\"eb\"", t("09T00:00:01"), format!("id,amount\n{rows}").as_bytes());
        *w.sink.fail_after.lock().unwrap() = Some(30);
        let Err(SyncError::Retryable(run)) = w.sync("run1").await else { panic!("expected a retryable failure") };
        assert_eq!(run.result, SyncResult::Failed);
        assert_eq!(run.watermark_after, Some(t("09T00:00:01")), "held back at the unfinished object");
        assert!(w.store.outcome("c1", "in/b.csv").is_none());

        *w.sink.fail_after.lock().unwrap() = None;
        w.clock.set(t("11T00:00:00"));
        let run = w.completed("run2").await;
        assert_eq!(run.counts.files_imported, 1, "only the unfinished file is imported again");
        assert_eq!(w.record_ids().len(), 101);
        assert_eq!(w.status(), ConnectionStatus::Active);
    }
}
