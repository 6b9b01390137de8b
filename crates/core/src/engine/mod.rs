//! The sync engine: one run of one connection, from lease to watermark, over the ports.
//!
//! ```text
//! lease -> [checkpoint] -> assume role -> list prefixes in parallel, page by page (keep what is new)
//!   -> for each selected object, oldest first: GetObject -> [gzip] -> [BOM] -> parser -> mapper
//!        -> batches of 25 -> several BatchWriteItems in flight -> outcome in the ledger
//!   -> run record + sync state + watermark, lease released
//! ```
//!
//! Parsing is synchronous (csv, serde_json) and runs on a blocking thread reading the S3 body through
//! a bridge; records flow to the async writers through a bounded channel, so memory stays bounded by
//! the channel and the writes in flight, whatever the object's size.
//!
//! A run may outlive one invocation (Lambda stops at 15 minutes). Given a time to hand over, the
//! engine stops at the next listing page or record boundary once it has passed, waits for the writes
//! in flight, and saves a [`Checkpoint`]: the prefixes still to list with their continuation tokens,
//! the selected objects not finished, and the byte offset of the next record of the object in
//! progress. The next invocation takes the lease and goes on from there; every row before the offset
//! was written, none after it was, and record ids do not depend on the invocation.

use crate::decode::DecodeLimits;
use crate::mapping::{Mapper, Record};
use crate::model::{
    Checkpoint, Connection, ConnectionStatus, FileCheckpoint, FileOutcome, FileStatus, ListCursor, ObjectMeta, Recheck,
    RunCounts, SyncResult, SyncRun, TemplateRef,
};
use crate::parse::{ParseLimits, ParseSummary};
use crate::pipeline::{self, Emit, ReadLimits, ReadOptions};
use crate::ports::*;
use crate::selection::{self, SelectionConfig};
use crate::template::{RowPolicy, Template};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{HashMap, VecDeque};
use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tracing::{info, info_span, warn, Instrument};

mod lease;
mod writer;
pub use writer::write_in_lanes;

/// DynamoDB's BatchWriteItem limit.
pub const WRITE_BATCH: usize = 25;

/// Objects due to be tried again that one run takes on; the rest wait for the next run.
const MAX_RECHECKS_PER_RUN: usize = 1000;

#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub selection: SelectionConfig,
    /// BatchWriteItem requests in flight per object.
    pub write_concurrency: usize,
    /// How long a lease holds without renewal. The holder renews it every half term; a holder that
    /// stops (killed by its timeout or its memory) blocks the connection for at most this long.
    pub lease_duration: TimeDelta,
    /// How long past the overlap an outcome stays in the ledger (its DynamoDB TTL).
    pub ledger_retention: TimeDelta,
    /// Records handed from the parser thread to the writers at a time; also how often the parser
    /// looks at the clock for a hand-over.
    pub handoff_rows: usize,
    /// Listing pages fetched at once, one per prefix.
    pub list_concurrency: usize,
    /// List the folder's first level with a delimiter and each sub-folder on its own, in parallel.
    pub list_fan_out: bool,
    /// What one record may take (a longer one fails its file).
    pub parse_limits: ParseLimits,
    /// What decoding refuses (a gzip bomb fails its file).
    pub decode_limits: DecodeLimits,
}

impl SyncConfig {
    /// What reading an object refuses: the limits of every read, a sync's and a preview's.
    pub fn read_limits(&self) -> ReadLimits {
        ReadLimits { decode: self.decode_limits, parse: self.parse_limits }
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            selection: SelectionConfig::default(),
            write_concurrency: 8,
            lease_duration: TimeDelta::minutes(2),
            ledger_retention: TimeDelta::days(30),
            handoff_rows: 1000,
            list_concurrency: 8,
            list_fan_out: true,
            parse_limits: ParseLimits::default(),
            decode_limits: DecodeLimits::default(),
        }
    }
}

/// How a call to [`Engine::sync`] ended without an error.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncOutcome {
    /// The run finished (succeeded, partial or needs_reauth) and was recorded.
    Completed(SyncRun),
    /// The time to hand over came: the run's checkpoint is saved and the lease released; another
    /// invocation goes on with it.
    HandedOver { run_id: String, hand_overs: u32, counts: RunCounts },
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
    /// The lease could not be renewed, or another worker took it: this invocation stopped where it
    /// was, without recording anything. Retry.
    #[error("{0}")]
    LeaseLost(String),
    /// The run stopped on an error a retry may cure; it was recorded as failed and the watermark
    /// did not pass the unfinished objects. Lambda should retry the invocation.
    #[error("sync {} failed and will be retried: {}", .0.run_id, .0.error.as_deref().unwrap_or("unknown error"))]
    Retryable(Box<SyncRun>),
}

/// Why a run stopped before its last object.
enum Stop {
    Access(String),
    Transient(String),
    /// Time to hand over to the next invocation; the checkpoint is up to date.
    HandOver,
}

pub struct Engine<'a> {
    pub store: &'a dyn SyncStore,
    pub sink: &'a dyn RecordSink,
    pub buckets: &'a dyn BucketAccess,
    pub clock: &'a dyn Clock,
    pub config: SyncConfig,
}

/// Accumulates a run as it goes: what a checkpoint saves, and what only this invocation needs.
struct RunState {
    progress: Checkpoint,
    pending: VecDeque<ObjectMeta>,
    oldest_unfinished: Option<DateTime<Utc>>,
    hand_over_at: Option<Instant>,
    /// Whether this invocation has done anything yet; it hands over only after it has, so every
    /// invocation moves the run on.
    progressed: bool,
}

impl RunState {
    fn hand_over_due(&self) -> bool {
        self.progressed && self.hand_over_at.is_some_and(|at| Instant::now() >= at)
    }
}

/// One invocation's part of a run.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'r> {
    pub connection_id: &'r str,
    /// Owns the lease; a new run takes it as its run id, a resumed run keeps its own.
    pub invocation_id: &'r str,
    /// The scheduled event that asked for the sync, if any (EventBridge delivers at least once).
    pub schedule_run: Option<&'r str>,
    /// When to stop and hand over to a new invocation; `None` runs to the end.
    pub hand_over_at: Option<Instant>,
}

impl Engine<'_> {
    /// Syncs one connection to the end in this call. `run_id` identifies the run and owns the lease.
    pub async fn sync(
        &self,
        connection_id: &str,
        run_id: &str,
        schedule_run: Option<&str>,
    ) -> Result<SyncOutcome, SyncError> {
        self.run_invocation(Invocation { connection_id, invocation_id: run_id, schedule_run, hand_over_at: None }).await
    }

    /// Syncs one connection, or goes on with the run a checkpoint left, until it finishes or it is
    /// time to hand over.
    pub async fn run_invocation(&self, call: Invocation<'_>) -> Result<SyncOutcome, SyncError> {
        let connection_id = call.connection_id;
        let connection = self
            .store
            .connection(connection_id)
            .await?
            .ok_or_else(|| SyncError::ConnectionNotFound(connection_id.to_owned()))?;
        if matches!(connection.status, ConnectionStatus::Paused | ConnectionStatus::NeedsReauth) {
            info!(status = connection.status.as_str(), "connection is not syncable");
            return Ok(SyncOutcome::NotSyncable { status: connection.status });
        }
        let owner = call.invocation_id;
        let lease_until = match self.take_lease(&connection.id, owner, call.schedule_run).await? {
            Ok(until) => until,
            Err(outcome) => return Ok(outcome),
        };
        // The lease is ours: it is renewed for as long as the run goes on (listing, reading), and
        // every way out lets it go, so that Lambda's retry of a failed invocation finds the
        // connection free. Once the run writes its end (which lets the lease go), renewing stops.
        let finishing = AtomicBool::new(false);
        let leased = async {
            // Read again under the lease: taking it may have waited out another run, which moved
            // the watermark, or an operator may have paused the connection meanwhile.
            let connection = match self.store.connection(connection_id).await? {
                Some(c) if matches!(c.status, ConnectionStatus::Paused | ConnectionStatus::NeedsReauth) => {
                    self.store.release_lease(connection_id, owner).await?;
                    return Ok(SyncOutcome::NotSyncable { status: c.status });
                }
                Some(c) => c,
                None => return Err(SyncError::ConnectionNotFound(connection_id.to_owned())),
            };
            self.run_leased(&connection, call, &finishing).await
        };
        let result = tokio::select! {
            result = leased => result,
            lost = self.keep_lease(&connection.id, owner, lease_until, &finishing) => Err(SyncError::LeaseLost(lost)),
        };
        if result.is_err() {
            if let Err(e) = self.store.release_lease(&connection.id, owner).await {
                warn!(error = %e, "could not let the lease go; it expires by itself");
            }
        }
        result
    }

    /// The run, once the lease is held.
    async fn run_leased(
        &self,
        connection: &Connection,
        call: Invocation<'_>,
        finishing: &AtomicBool,
    ) -> Result<SyncOutcome, SyncError> {
        let owner = call.invocation_id;
        let started = self.clock.now();
        // Read under the lease: a checkpoint is only written by the lease's holder.
        let checkpoint = self.store.checkpoint(&connection.id).await?;
        // A run reads every file with the template version it began with; an edit applies from the
        // next run.
        let pinned = checkpoint.as_ref().and_then(|c| c.template.clone());
        let (template_id, version) = match &pinned {
            Some(t) => (t.id.as_str(), Some(t.version)),
            None => (connection.template_id.as_str(), None),
        };
        let (template, version) = self.store.template(template_id, version).await?.ok_or_else(|| {
            SyncError::TemplateNotFound { connection_id: connection.id.clone(), template_id: template_id.to_owned() }
        })?;
        let template_ref = TemplateRef { id: template_id.to_owned(), version };
        let mut progress = match checkpoint {
            Some(mut checkpoint) => {
                info!(run_id = %checkpoint.run_id, hand_overs = checkpoint.hand_overs, template = %template_ref.id, template_version = version, "going on from a checkpoint");
                checkpoint.template = Some(template_ref);
                checkpoint
            }
            None => Checkpoint {
                run_id: owner.to_owned(),
                started_at: started,
                schedule_run: call.schedule_run.map(str::to_owned),
                hand_overs: 0,
                template: Some(template_ref),
                counts: RunCounts::default(),
                cutoff: self.cutoff(connection, started),
                backfill_since: connection.backfill_since,
                listing_started: started,
                listing: vec![ListCursor::new(connection.folder.as_deref(), self.config.list_fan_out)],
                pending: Vec::new(),
                rechecked: false,
                file: None,
            },
        };
        let mut state = RunState {
            pending: std::mem::take(&mut progress.pending).into(),
            progress,
            oldest_unfinished: None,
            hand_over_at: call.hand_over_at,
            progressed: false,
        };
        let run_id = state.progress.run_id.clone();
        let stop = self
            .run(connection, &template, &mut state)
            .instrument(info_span!("sync", connection_id = %connection.id, %run_id))
            .await
            .err();
        if matches!(stop, Some(Stop::Access(_) | Stop::Transient(_))) {
            // Whatever stopped the run (the listing, the objects to try again, a file), what it
            // selected and did not finish holds the watermark back.
            let pending = state.pending.iter().map(|o| o.last_modified).min();
            state.oldest_unfinished = state.oldest_unfinished.into_iter().chain(pending).min();
        }
        finishing.store(true, std::sync::atomic::Ordering::SeqCst);
        let (result, error) = match stop {
            Some(Stop::HandOver) => return self.hand_over(connection, owner, state).await,
            None if state.progress.counts.files_failed + state.progress.counts.files_partial > 0 => {
                (SyncResult::Partial, None)
            }
            None => (SyncResult::Succeeded, None),
            Some(Stop::Access(e)) => (SyncResult::NeedsReauth, Some(e)),
            Some(Stop::Transient(e)) => (SyncResult::Failed, Some(e)),
        };
        let progress = &state.progress;
        let watermark_before = connection.sync.watermark;
        // Access problems advance nothing; otherwise a completed listing moves the watermark, never
        // past what is unfinished.
        let listed = progress.listing.is_empty().then_some(progress.listing_started);
        let watermark_after = match (result, listed) {
            (SyncResult::NeedsReauth, _) | (_, None) => watermark_before,
            (_, Some(listed)) => Some(selection::next_watermark(watermark_before, listed, state.oldest_unfinished)),
        };
        let run = SyncRun {
            run_id: run_id.clone(),
            connection_id: connection.id.clone(),
            template: progress.template.clone(),
            backfill_since: progress.backfill_since,
            started_at: progress.started_at,
            finished_at: self.clock.now(),
            result,
            counts: progress.counts.clone(),
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
                progress.schedule_run.clone().or(connection.sync.last_schedule_run.clone());
        }
        self.store
            .finish_run(RunEnd { run: &run, connection: &updated, status_before: connection.status }, owner)
            .await?;
        info!(result = ?run.result, counts = ?run.counts, "sync finished");
        if result == SyncResult::Failed {
            return Err(SyncError::Retryable(Box::new(run)));
        }
        Ok(SyncOutcome::Completed(run))
    }

    /// Saves where the run stands and lets the lease go, for the next invocation.
    async fn hand_over(&self, connection: &Connection, owner: &str, state: RunState) -> Result<SyncOutcome, SyncError> {
        let mut checkpoint = state.progress;
        checkpoint.pending = state.pending.into();
        checkpoint.hand_overs += 1;
        self.store.hand_over(&connection.id, owner, &checkpoint).await?;
        info!(
            hand_overs = checkpoint.hand_overs,
            prefixes_to_list = checkpoint.listing.len(),
            objects_pending = checkpoint.pending.len(),
            file = checkpoint.file.as_ref().map(|f| f.key.as_str()).unwrap_or(""),
            offset = checkpoint.file.as_ref().map(|f| f.position.offset).unwrap_or(0),
            "handing over to the next invocation"
        );
        Ok(SyncOutcome::HandedOver {
            run_id: checkpoint.run_id,
            hand_overs: checkpoint.hand_overs,
            counts: checkpoint.counts,
        })
    }

    async fn run(&self, connection: &Connection, template: &Template, state: &mut RunState) -> Result<(), Stop> {
        let source = self.buckets.connect(connection).await.map_err(|e| access_stop(connection, e))?;
        self.list(source.as_ref(), connection, template, state).await?;
        let mapper = Arc::new(Mapper::new(template.clone()));
        while let Some(object) = state.pending.front().cloned() {
            if state.progress.file.is_none() && state.hand_over_due() {
                return Err(Stop::HandOver);
            }
            let resume = state.progress.file.take().filter(|f| f.key == object.key && f.etag == object.etag);
            let result = async {
                let run_id = state.progress.run_id.clone();
                let hand_over_at = state.hand_over_at;
                let file_run = self
                    .import(source.as_ref(), connection, template, &mapper, &object, &run_id, resume, hand_over_at)
                    .await?;
                match file_run {
                    FileRun::Done(outcome) => {
                        // The table says what the bucket holds: once a new version is imported, the
                        // records of the others are removed, before its outcome is recorded (a
                        // failure here leaves the run to be retried, and the removal with it).
                        let mut outcome = *outcome;
                        let imported = matches!(outcome.status, FileStatus::Imported | FileStatus::Partial);
                        if imported || !template.primary_key.is_empty() {
                            let earlier = outcome.replaces.take();
                            if let Some(earlier) = earlier.filter(|_| template.primary_key.is_empty()) {
                                let removed = self
                                    .sink
                                    .remove_other_versions(&connection.id, &object.key, &object.etag)
                                    .await
                                    .map_err(store_stop)?;
                                info!(%earlier, removed, "records of earlier versions removed");
                            }
                        }
                        self.record(connection, &outcome, state).await
                    }
                    FileRun::Paused(checkpoint) => {
                        state.progress.file = Some(*checkpoint);
                        Err(Stop::HandOver)
                    }
                }
            }
            .instrument(info_span!("object", key = %object.key, etag = %object.etag, size = object.size))
            .await;
            match result {
                Ok(()) => {
                    state.pending.pop_front();
                    state.progressed = true;
                }
                Err(Stop::HandOver) => return Err(Stop::HandOver),
                Err(stop) => {
                    // This object and every later one stay unfinished; the watermark waits for them.
                    state.oldest_unfinished = state.pending.iter().map(|o| o.last_modified).min();
                    return Err(stop);
                }
            }
        }
        Ok(())
    }

    /// Lists what the run has still to list, a page per prefix at a time and several prefixes at once,
    /// keeping only the selected objects: memory follows what is new, not the size of the bucket.
    async fn list(
        &self,
        source: &dyn ObjectSource,
        connection: &Connection,
        template: &Template,
        state: &mut RunState,
    ) -> Result<(), Stop> {
        let cutoff = state.progress.cutoff;
        while !state.progress.listing.is_empty() {
            if state.hand_over_due() {
                return Err(Stop::HandOver);
            }
            // The listing moves on only once its pages are listed, looked up and settled: a run that
            // stops in between does not move the watermark past what it did not see.
            let take = self.config.list_concurrency.clamp(1, state.progress.listing.len());
            let cursors = &state.progress.listing[..take];
            let pages = futures::future::join_all(cursors.iter().map(|cursor| source.list_page(cursor))).await;
            let mut candidates = Vec::new();
            let mut listed_next = Vec::new();
            let mut failure = None;
            for (cursor, page) in cursors.iter().zip(pages) {
                let page = match page {
                    Ok(page) => page,
                    Err(e) => {
                        // Listed again by the next attempt, from the same token.
                        failure.get_or_insert(e);
                        continue;
                    }
                };
                state.progress.counts.objects_listed += page.objects.len() as u64;
                candidates.extend(page.objects.into_iter().filter(|o| o.last_modified >= cutoff));
                listed_next.extend(page.prefixes.into_iter().map(|p| ListCursor::new(Some(&p), false)));
                if let Some(token) = page.next_token {
                    listed_next.push(ListCursor { token: Some(token), ..cursor.clone() });
                }
            }
            if let Some(e) = failure {
                return Err(access_stop(connection, e));
            }
            let keys: Vec<&str> = candidates.iter().map(|o| o.key.as_str()).collect();
            let recorded = self.store.ledger(&connection.id, &keys).await.map_err(store_stop)?;
            self.select(connection, template, cutoff, candidates, recorded, state).await?;
            state.progress.listing.drain(..take);
            state.progress.listing.extend(listed_next);
            state.progressed = true;
        }
        if !state.progress.rechecked {
            self.add_due_rechecks(connection, template, state).await?;
        }
        // Oldest first, ties by key, across every page and prefix.
        state.pending.make_contiguous().sort_by(selection::processing_order);
        info!(
            listed = state.progress.counts.objects_listed,
            to_import = state.pending.len(),
            selected = state.progress.counts.objects_selected,
            %cutoff,
            "listing complete"
        );
        Ok(())
    }

    /// Applies the selection rule to candidates, given their ledger entries (`recorded`, read
    /// consistently by the caller): what to read joins the pending objects, what is settled
    /// without reading is recorded at once.
    async fn select(
        &self,
        connection: &Connection,
        template: &Template,
        cutoff: DateTime<Utc>,
        candidates: Vec<ObjectMeta>,
        mut recorded: HashMap<String, LedgerEntry>,
        state: &mut RunState,
    ) -> Result<(), Stop> {
        let now = self.clock.now();
        // An operator's backfill: every object modified since then is decided again, as if asked
        // one by one.
        if let Some(since) = state.progress.backfill_since {
            for object in candidates.iter().filter(|o| o.last_modified >= since) {
                if let Some(entry) = recorded.get_mut(&object.key) {
                    entry.recheck = Some(Recheck::Operator { asked_at: since });
                }
            }
        }
        let selection = selection::select(candidates, cutoff, &recorded, template, &self.config.selection, now);
        state.progress.counts.objects_selected += (selection.import.len() + selection.settle.len()) as u64;
        for (object, status, reason, recheck) in selection.settle {
            let outcome =
                self.outcome(&object, status, Some(reason), &ParseSummary::default(), 0, &state.progress.run_id, 0);
            self.record(connection, &FileOutcome { recheck, ..outcome }, state).await?;
        }
        state.pending.extend(selection.import);
        Ok(())
    }

    /// Where the run's window starts: the watermark less the connection's overlap (90 days back on a
    /// first sync), and no later than an operator's backfill.
    fn cutoff(&self, connection: &Connection, now: DateTime<Utc>) -> DateTime<Utc> {
        let selection = SelectionConfig {
            overlap: connection.overlap(self.config.selection.overlap),
            ..self.config.selection.clone()
        };
        let cutoff = selection::cutoff(connection.sync.watermark, now, &selection);
        connection.backfill_since.map_or(cutoff, |since| cutoff.min(since))
    }

    /// Objects whose retry has come, or that an operator asked for, join the run even when the
    /// listing's window has passed them: a failed object is tried again without holding the
    /// watermark back. Each is decided again with its ledger entry, read consistently.
    async fn add_due_rechecks(
        &self,
        connection: &Connection,
        template: &Template,
        state: &mut RunState,
    ) -> Result<(), Stop> {
        let now = self.clock.now();
        // Best effort: the objects to try again wait for the next run rather than stop this one.
        let due = match self.store.due_rechecks(&connection.id, now, MAX_RECHECKS_PER_RUN).await {
            Ok(due) => due,
            Err(e) => {
                warn!(error = %e, "could not read the objects to try again; the next run looks again");
                state.progress.rechecked = true;
                return Ok(());
            }
        };
        let listed: std::collections::HashSet<&str> = state.pending.iter().map(|o| o.key.as_str()).collect();
        // The index lags its table: an entry this run (or another) has since replaced, or whose
        // retry is no longer due, is left alone.
        let keys: Vec<&str> = due.iter().map(|o| o.key.as_str()).collect();
        let current = self.store.ledger(&connection.id, &keys).await.map_err(store_stop)?;
        let still_due = |o: &FileOutcome| {
            current.get(&o.key).is_some_and(|entry| {
                entry.etag == o.etag && matches!(&entry.recheck, Some(r) if r.due_at().is_some_and(|at| at <= now))
            })
        };
        let candidates: Vec<ObjectMeta> = due
            .into_iter()
            .filter(|o| !listed.contains(o.key.as_str()) && still_due(o))
            .map(|o| ObjectMeta {
                key: o.key,
                etag: o.etag,
                size: o.size,
                last_modified: o.last_modified,
                storage_class: None,
                attempts: 0,
                replaces: None,
            })
            .collect();
        if !candidates.is_empty() {
            info!(objects = candidates.len(), "objects due to be tried again");
            self.select(connection, template, DateTime::<Utc>::MIN_UTC, candidates, current, state).await?;
        }
        state.progress.rechecked = true;
        Ok(())
    }

    async fn record(&self, connection: &Connection, outcome: &FileOutcome, state: &mut RunState) -> Result<(), Stop> {
        let overlap = connection.overlap(self.config.selection.overlap);
        let expires = outcome.finished_at + overlap + self.config.ledger_retention;
        self.store.record_outcome(&connection.id, outcome, expires).await.map_err(store_stop)?;
        state.progress.counts.add_file(outcome);
        info!(status = ?outcome.status, rows_imported = outcome.rows_imported, rows_rejected = outcome.rows_rejected, reason = outcome.reason.as_deref().unwrap_or(""), "object finished");
        Ok(())
    }

    /// Imports one object, or goes on with it from a checkpoint. A bad file is a `Done` outcome with
    /// status failed; only errors that should stop the run (access, transient) are `Err`.
    #[allow(clippy::too_many_arguments)]
    async fn import(
        &self,
        source: &dyn ObjectSource,
        connection: &Connection,
        template: &Template,
        mapper: &Arc<Mapper>,
        object: &ObjectMeta,
        run_id: &str,
        resume: Option<FileCheckpoint>,
        hand_over_at: Option<Instant>,
    ) -> Result<FileRun, Stop> {
        let started = Instant::now();
        let elapsed_before = resume.as_ref().map_or(0, |f| f.elapsed_ms);
        let elapsed = || elapsed_before + started.elapsed().as_millis() as u64;
        let done = |status, reason, summary: &ParseSummary, written| {
            Ok(FileRun::Done(Box::new(self.outcome(object, status, reason, summary, written, run_id, elapsed()))))
        };
        // An object that cannot be read (replaced, denied, archived, SSE-C) fails or is skipped
        // alone; what may change without a new version is tried again later.
        let unreadable = |kind: SourceErrorKind, reason: String, summary: &ParseSummary, written| {
            let status = match kind {
                SourceErrorKind::ObjectArchived => FileStatus::Skipped,
                SourceErrorKind::ObjectGone if summary.rows_read == 0 => FileStatus::Skipped,
                _ => FileStatus::Failed,
            };
            let (recheck, reason) = match kind {
                SourceErrorKind::ObjectDenied | SourceErrorKind::ObjectArchived => self.retry(object, reason),
                SourceErrorKind::ObjectGone if summary.rows_read > 0 => (
                    None,
                    format!(
                        "{reason}: the object was replaced or deleted while it was read ({written} rows of this \
                         version were written); a new version is imported by the next sync"
                    ),
                ),
                _ => (None, reason),
            };
            let outcome = self.outcome(object, status, Some(reason), summary, written, run_id, elapsed());
            Ok(FileRun::Done(Box::new(FileOutcome { recheck, ..outcome })))
        };
        let mut resume = resume;
        let validating = resume.as_ref().is_none_or(|f| !f.writing);
        if template.row_policy == RowPolicy::FailFile && validating {
            // Validate the whole file first, so a bad row means not one record of it lands.
            let from = resume.take();
            match self.pass(source, connection, template, mapper, object, false, from.as_ref(), hand_over_at).await? {
                Pass::Unreadable { kind, reason } => return unreadable(kind, reason, &ParseSummary::default(), 0),
                Pass::Paused(checkpoint) => {
                    return Ok(FileRun::Paused(Box::new(FileCheckpoint { elapsed_ms: elapsed(), ..checkpoint })))
                }
                Pass::Parsed { summary, file_error: Some(e), object: Some(kind), .. } => {
                    return unreadable(kind, e, &summary, 0)
                }
                // Failed at its header or before any row: nothing was read to be left out.
                Pass::Parsed { summary, file_error: Some(e), .. } if summary.rows_read == 0 => {
                    return done(FileStatus::Failed, Some(e), &summary, 0);
                }
                Pass::Parsed { summary, file_error: Some(e), .. } => {
                    let reason = format!(
                        "{e}; none of the {} rows read was imported (the row policy fail_file writes nothing of a \
                         failing file)",
                        summary.rows_read
                    );
                    return done(FileStatus::Failed, Some(reason), &summary, 0);
                }
                Pass::Parsed { summary, .. } if summary.rows_rejected > 0 => {
                    let reason = "a row was rejected and the template's row policy is fail_file".to_owned();
                    return done(FileStatus::Failed, Some(reason), &summary, 0);
                }
                Pass::Parsed { .. } => {}
            }
        }
        let (status, reason, summary, written) =
            match self.pass(source, connection, template, mapper, object, true, resume.as_ref(), hand_over_at).await? {
                Pass::Unreadable { kind, reason } => return unreadable(kind, reason, &ParseSummary::default(), 0),
                Pass::Paused(checkpoint) => {
                    return Ok(FileRun::Paused(Box::new(FileCheckpoint { elapsed_ms: elapsed(), ..checkpoint })))
                }
                Pass::Parsed { summary, file_error: Some(e), written, object: Some(kind) } => {
                    return unreadable(kind, e, &summary, written)
                }
                Pass::Parsed { summary, file_error: Some(e), written, .. } => {
                    (FileStatus::Failed, Some(e), summary, written)
                }
                Pass::Parsed { summary, written, .. } if summary.rows_rejected > 0 => {
                    (FileStatus::Partial, None, summary, written)
                }
                Pass::Parsed { summary, written, .. } => (FileStatus::Imported, None, summary, written),
            };
        done(status, reason, &summary, written)
    }

    /// The recheck of an object that could not be read for now (see [`selection::retry_recheck`]);
    /// once the attempts are spent, the reason says so.
    fn retry(&self, object: &ObjectMeta, reason: String) -> (Option<Recheck>, String) {
        match selection::retry_recheck(object.attempts, self.clock.now(), &self.config.selection) {
            Some(recheck) => (Some(recheck), reason),
            None => {
                let attempts = object.attempts + 1;
                (
                    None,
                    format!(
                        "{reason} (no more automatic attempts after {attempts}; `s3-connector files retry` asks again)"
                    ),
                )
            }
        }
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
        duration_ms: u64,
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
            rows_not_imported: summary.rows_read.saturating_sub(rows_imported + summary.rows_rejected),
            row_errors: summary.row_errors.clone(),
            duration_ms,
            run_id: run_id.to_owned(),
            finished_at: self.clock.now(),
            recheck: None,
            // Until a version of the key is imported, the earlier version's removal waits.
            replaces: object.replaces.clone(),
        }
    }

    /// One streaming pass over an object, from its start or from a checkpoint: parse and map on a
    /// blocking thread, and when `write` is set, write the records with up to `write_concurrency`
    /// batches in flight. Past `hand_over_at` it stops at the next batch boundary, once every record
    /// before it is written.
    #[allow(clippy::too_many_arguments)]
    async fn pass(
        &self,
        source: &dyn ObjectSource,
        connection: &Connection,
        template: &Template,
        mapper: &Arc<Mapper>,
        object: &ObjectMeta,
        write: bool,
        resume: Option<&FileCheckpoint>,
        hand_over_at: Option<Instant>,
    ) -> Result<Pass, Stop> {
        // A hand-over after the last row leaves nothing to fetch (S3 refuses a range past the end).
        let from = resume.map_or(0, pipeline::body_offset);
        let opened = if from > 0 && from >= object.size {
            Ok(Box::pin(tokio::io::empty()) as ObjectBody)
        } else {
            source.open(object, from).await
        };
        let body = match opened {
            Ok(body) => body,
            Err(e) if e.kind == SourceErrorKind::ObjectGone || e.kind.object_only() => {
                return Ok(Pass::Unreadable { kind: e.kind, reason: e.message })
            }
            Err(e) => return Err(access_stop(connection, e)),
        };
        let (sender, receiver) = mpsc::channel::<Vec<Record>>(2);
        let handoff = self.config.handoff_rows.max(WRITE_BATCH);
        let batch = Vec::with_capacity(handoff);
        let to_writers = ToWriters { write, sender: Some(sender), batch, handoff, since_check: 0, hand_over_at };
        let options = ReadOptions {
            limits: self.config.read_limits(),
            stop_at_first_row_error: !write && template.row_policy == RowPolicy::FailFile,
            resume: resume.cloned(),
        };
        let id_prefix = crate::keys::record_id_prefix(&object.key, &object.etag);
        let written_before = resume.map_or(0, |f| f.rows_imported);
        let imported_at = self.clock.now();
        let make_batch =
            |records| RecordBatch { connection_id: &connection.id, template, object, imported_at, records };
        let (read, (written, write_error)) = tokio::join!(
            pipeline::read(body, mapper.clone(), id_prefix, options, to_writers),
            write_in_lanes(self.sink, self.config.write_concurrency, receiver, make_batch)
        );
        let written = written_before + written;
        let (read, _) = read.map_err(|e| Stop::Transient(format!("parser thread failed: {e}")))?;
        match write_error {
            None => {}
            // Records DynamoDB refuses would be refused again: the file fails alone, saying why.
            Some(e) if e.kind == StoreErrorKind::Rejected => {
                warn!(error = %e, "records refused; the file fails");
                let reason = format!("DynamoDB refused records of this file ({written} were written): {e}");
                return Ok(Pass::Parsed {
                    summary: ParseSummary { resume_at: None, ..read.summary },
                    file_error: Some(reason),
                    written,
                    object: None,
                });
            }
            Some(e) => return Err(store_stop(e)),
        }
        match read.transport.clone() {
            None => {}
            // This object can no longer be read; the rows written before are counted.
            Some((kind, failure)) if kind == SourceErrorKind::ObjectGone || kind.object_only() => {
                let summary = ParseSummary { resume_at: None, ..read.summary };
                return Ok(Pass::Parsed { summary, file_error: Some(failure), written, object: Some(kind) });
            }
            // The bucket itself went (deleted, another owner's, moved) while the object was read.
            Some((kind, failure)) if kind.breaks_access() => {
                return Err(access_stop(connection, SourceError::new(kind, failure)));
            }
            Some((_, failure)) => {
                return Err(Stop::Transient(format!("reading s3://{}/{}: {failure}", connection.bucket, object.key)))
            }
        }
        if let Some((at, reason)) = read.failure() {
            // The rows before the failure were written; the outcome counts them.
            warn!(error = %reason, rows_read = read.summary.rows_read, "file failed {at}");
            let summary = ParseSummary { resume_at: None, ..read.summary };
            return Ok(Pass::Parsed { summary, file_error: Some(reason), written, object: None });
        }
        Ok(match read.summary.resume_at.clone() {
            // Every record before the position is written (the writers drained above).
            Some(position) => Pass::Paused(FileCheckpoint {
                key: object.key.clone(),
                etag: object.etag.clone(),
                writing: write,
                position,
                gzip: read.gzip,
                bom: read.bom,
                rows_read: read.summary.rows_read,
                rows_rejected: read.summary.rows_rejected,
                row_errors: read.summary.row_errors,
                rows_imported: written,
                elapsed_ms: 0,
            }),
            None => Pass::Parsed { summary: read.summary, file_error: None, written, object: None },
        })
    }
}

/// The engine's end of the read pipeline: records in batches of `handoff` to the writers (when the
/// pass writes), and a look at the clock every `handoff` records, to stop for a hand-over.
struct ToWriters {
    write: bool,
    /// Let go at the end of the read, so that the writers see the end of the records.
    sender: Option<mpsc::Sender<Vec<Record>>>,
    batch: Vec<Record>,
    handoff: usize,
    since_check: usize,
    hand_over_at: Option<Instant>,
}

impl ToWriters {
    /// Sends a batch; `false` once the writers have stopped (their error is reported).
    fn send(&mut self, batch: Vec<Record>) -> bool {
        self.sender.as_ref().is_some_and(|sender| sender.blocking_send(batch).is_ok())
    }
}

impl Emit for ToWriters {
    fn record(&mut self, record: Record) -> ControlFlow<()> {
        if self.write {
            self.batch.push(record);
            if self.batch.len() >= self.handoff {
                let full = std::mem::replace(&mut self.batch, Vec::with_capacity(self.handoff));
                if !self.send(full) {
                    return ControlFlow::Break(());
                }
            }
        }
        self.since_check += 1;
        if self.since_check >= self.handoff {
            self.since_check = 0;
            if self.hand_over_at.is_some_and(|at| Instant::now() >= at) {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }

    fn end(&mut self) {
        if !self.batch.is_empty() {
            let rest = std::mem::take(&mut self.batch);
            self.send(rest);
        }
        self.sender = None;
    }
}

/// How far one invocation got with an object.
enum FileRun {
    Done(Box<FileOutcome>),
    Paused(Box<FileCheckpoint>),
}

enum Pass {
    /// The object could not be opened: replaced or deleted since the listing, denied, archived, SSE-C.
    Unreadable { kind: SourceErrorKind, reason: String },
    Parsed {
        summary: ParseSummary,
        file_error: Option<String>,
        written: u64,
        /// Set when the file failed because the object itself could no longer be read part of the
        /// way through (replaced, denied).
        object: Option<SourceErrorKind>,
    },
    /// Stopped at a record boundary to hand over.
    Paused(FileCheckpoint),
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

#[cfg(test)]
mod tests;
