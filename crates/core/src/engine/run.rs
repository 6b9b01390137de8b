//! One invocation's part of a run, in order: the connection still syncable; the lease taken and kept
//! renewed beside the run; the checkpoint gone on from, or a new run begun; the listing and the
//! imports ([`super::listing`], [`super::import`]); then a hand-over to the next invocation, or the
//! run's end (its record, the connection's sync state and watermark). Every way out lets the lease
//! go, so that Lambda's retry of a failed invocation finds the connection free.

use super::{access_stop, store_stop, Engine, Invocation, Job, Stop, SyncError, SyncOutcome};
use crate::events::{announce, ConnectionStatusChanged, Event, StatusChange, SyncRunFinished};
use crate::mapping::Mapper;
use crate::model::{
    Checkpoint, Connection, ConnectionStatus, FailedFile, FileOutcome, FileStatus, ListCursor, NamedKey, ObjectMeta,
    PauseReason, RunCounts, RunPath, SyncResult, SyncRun, TemplateRef, FIRST_FAILURES,
};
use crate::object_events::ObjectKey;
use crate::ports::RunEnd;
use crate::selection;
use crate::template::Template;
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, info_span, warn, Instrument};

/// Kept keys one invocation takes on; the rest wait for the next.
const MAX_KEPT_PER_INVOCATION: usize = 1000;

/// Accumulates a run as it goes: what a checkpoint saves, and what only this invocation needs.
pub(super) struct RunState {
    pub(super) progress: Checkpoint,
    pub(super) pending: VecDeque<ObjectMeta>,
    pub(super) oldest_unfinished: Option<DateTime<Utc>>,
    pub(super) hand_over_at: Option<Instant>,
    /// Whether this invocation has done anything yet; it hands over only after it has, so every
    /// invocation moves the run on.
    pub(super) progressed: bool,
    /// What a failure of this run is counted under: its scheduled event, or the operator's request
    /// (the same in Lambda's retries, which count once).
    pub(super) failure_key: Option<String>,
    /// Keys kept for this run (events that came while it could not run) that this invocation took
    /// on: forgotten once the run has decided them or holds them in its checkpoint.
    pub(super) kept: Vec<NamedKey>,
}

impl RunState {
    pub(super) fn hand_over_due(&self) -> bool {
        self.progressed && self.hand_over_at.is_some_and(|at| Instant::now() >= at)
    }
}

impl Engine<'_> {
    /// The one way to sync a connection: one invocation's part of a run. It goes on with the run a
    /// checkpoint left, if any, or begins one, until the run finishes or it is time to hand over
    /// (`call.hand_over_at`; `None` runs to the end).
    pub async fn run(&self, call: Invocation<'_>) -> Result<SyncOutcome, SyncError> {
        let connection = match self.syncable(call.connection_id).await? {
            Ok(connection) => connection,
            Err(not_syncable) => return Ok(not_syncable),
        };
        let owner = call.invocation_id;
        let lease_until = match self.take_lease(&connection.id, owner, call.schedule_run, call.named.is_none()).await? {
            Ok(until) => until,
            Err(outcome) => return Ok(outcome),
        };
        // The lease is ours: it is renewed for as long as the run goes on (listing, reading), and
        // every way out lets it go. Once the run writes its end (which lets the lease go), renewing
        // stops.
        let finishing = AtomicBool::new(false);
        let result = tokio::select! {
            result = self.run_leased(call, &finishing) => result,
            lost = self.keep_lease(&connection.id, owner, lease_until, &finishing) => Err(SyncError::LeaseLost(lost)),
        };
        if result.is_err() {
            if let Err(e) = self.store.release_lease(&connection.id, owner).await {
                warn!(error = %e, "could not let the lease go; it expires by itself");
            }
        }
        result
    }

    /// The connection, or `Err(NotSyncable)` when its status does not allow a sync.
    async fn syncable(&self, connection_id: &str) -> Result<Result<Connection, SyncOutcome>, SyncError> {
        let connection = self
            .store
            .connection(connection_id)
            .await?
            .ok_or_else(|| SyncError::ConnectionNotFound(connection_id.to_owned()))?;
        // A location the customer has not filled is no bucket to read (a pending connection is
        // never dispatched; this holds an invocation asked for by hand too).
        if !connection.unfilled_fields().is_empty() {
            info!(unfilled = ?connection.unfilled_fields(), "connection's location is not filled yet");
            return Ok(Err(SyncOutcome::NotSyncable { status: connection.status }));
        }
        if matches!(connection.status, ConnectionStatus::Paused | ConnectionStatus::NeedsReauth) {
            info!(status = connection.status.as_str(), "connection is not syncable");
            return Ok(Err(SyncOutcome::NotSyncable { status: connection.status }));
        }
        Ok(Ok(connection))
    }

    /// The run, once the lease is held: begin or go on, list and import, then hand over or finish.
    async fn run_leased(&self, call: Invocation<'_>, finishing: &AtomicBool) -> Result<SyncOutcome, SyncError> {
        let owner = call.invocation_id;
        // Read again under the lease: taking it may have waited out another run, which moved the
        // watermark, or an operator may have paused the connection meanwhile.
        let connection = match self.syncable(call.connection_id).await? {
            Ok(connection) => connection,
            Err(not_syncable) => {
                self.store.release_lease(call.connection_id, owner).await?;
                return Ok(not_syncable);
            }
        };
        let (template, mut state) = self.begin(&connection, call).await?;
        let run_id = state.progress.run_id.clone();
        let stop = self
            .list_and_import(&connection, &template, &mut state)
            .instrument(info_span!("sync", connection_id = %connection.id, %run_id))
            .await
            .err();
        finishing.store(true, Ordering::SeqCst);
        let (result, error) = match stop {
            Some(Stop::HandOver) => return self.hand_over(&connection, owner, state).await,
            None if state.progress.counts.files_failed + state.progress.counts.files_partial > 0 => {
                (SyncResult::Partial, None)
            }
            None => (SyncResult::Succeeded, None),
            Some(Stop::Access(e)) => (SyncResult::NeedsReauth, Some(e)),
            Some(Stop::Transient(e)) => (SyncResult::Failed, Some(e)),
        };
        self.finish(&connection, owner, state, result, error).await
    }

    /// The template the run reads with and where it stands: the checkpoint a hand-over left (read
    /// under the lease: only the lease's holder writes one), or a new run. A run reads every file
    /// with the template version it began with; an edit applies from the next run.
    async fn begin(&self, connection: &Connection, call: Invocation<'_>) -> Result<(Template, RunState), SyncError> {
        let started = self.clock.now();
        let checkpoint = self.store.checkpoint(&connection.id).await?;
        let pinned = checkpoint.as_ref().and_then(|c| c.template.clone());
        let (template_id, version) = match &pinned {
            Some(t) => (t.id.as_str(), Some(t.version)),
            None => (connection.template_id.as_str(), None),
        };
        let (template, version) = self.store.template(template_id, version).await?.ok_or_else(|| {
            SyncError::TemplateNotFound { connection_id: connection.id.clone(), template_id: template_id.to_owned() }
        })?;
        let template_ref = TemplateRef { id: template_id.to_owned(), version };
        let named = call.named.unwrap_or_default();
        let mut progress = match checkpoint {
            Some(mut checkpoint) => {
                info!(run_id = %checkpoint.run_id, hand_overs = checkpoint.hand_overs, template = %template_ref.id, template_version = version, "going on from a checkpoint");
                checkpoint.template = Some(template_ref);
                // Events that came while the run waited for this invocation: it takes their keys on.
                checkpoint.named.extend_from_slice(named);
                checkpoint
            }
            // Object events' keys: nothing to list, and the objects due to be tried again are the
            // scan's to take on.
            None if call.named.is_some() => Checkpoint {
                run_id: call.invocation_id.to_owned(),
                started_at: started,
                path: RunPath::Events,
                named: named.to_vec(),
                schedule_run: None,
                hand_overs: 0,
                template: Some(template_ref),
                counts: RunCounts::default(),
                cutoff: DateTime::<Utc>::MIN_UTC,
                backfill_since: None,
                listing_started: started,
                listing: Vec::new(),
                pending: Vec::new(),
                rechecked: true,
                file: None,
                newest_imported: None,
                first_failures: Vec::new(),
            },
            None => Checkpoint {
                run_id: call.invocation_id.to_owned(),
                started_at: started,
                path: RunPath::Scan,
                named: Vec::new(),
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
                newest_imported: None,
                first_failures: Vec::new(),
            },
        };
        // Keys kept while the connection could not run: best effort, as the objects to try again
        // (they stay kept for the next run).
        let kept = match self.store.kept_named(&connection.id, MAX_KEPT_PER_INVOCATION).await {
            Ok(kept) => kept,
            Err(e) => {
                warn!(error = %e, "could not read the keys kept for this run; the next run looks again");
                Vec::new()
            }
        };
        if !kept.is_empty() {
            info!(keys = kept.len(), "taking on keys kept while the connection could not run");
        }
        progress.named.extend(kept.iter().cloned());
        let state = RunState {
            pending: std::mem::take(&mut progress.pending).into(),
            kept,
            progress,
            oldest_unfinished: None,
            hand_over_at: call.hand_over_at,
            progressed: false,
            failure_key: call.schedule_run.or(call.request_id).map(str::to_owned),
        };
        Ok((template, state))
    }

    /// Opens the bucket with the connection's role, lists what is left to list, and imports the
    /// selected objects, oldest first (ties by key), until the last one or a stop.
    async fn list_and_import(
        &self,
        connection: &Connection,
        template: &Template,
        state: &mut RunState,
    ) -> Result<(), Stop> {
        let source = self.buckets.connect(connection).await.map_err(|e| access_stop(connection, e))?;
        let run_id = state.progress.run_id.clone();
        let job = Job {
            source: source.as_ref(),
            connection,
            template,
            mapper: Arc::new(Mapper::new(template.clone())),
            run_id: &run_id,
            hand_over_at: state.hand_over_at,
            bytes_read: Arc::default(),
        };
        let imported = self.list_and_import_job(&job, state).await;
        state.progress.counts.bytes_read += job.bytes_read.load(Ordering::Relaxed);
        imported
    }

    async fn list_and_import_job(&self, job: &Job<'_>, state: &mut RunState) -> Result<(), Stop> {
        self.list(job, state).await?;
        while let Some(object) = state.pending.front().cloned() {
            if state.progress.file.is_none() && state.hand_over_due() {
                return Err(Stop::HandOver);
            }
            let resume = state.progress.file.take().filter(|f| f.key == object.key && f.etag == object.etag);
            let span = info_span!("object", key = %object.key, etag = %object.etag, size = object.size);
            match self.import_and_record(job, &object, resume, state).instrument(span).await {
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

    /// Records an object's outcome in the ledger (from then on its key and ETag are not selected
    /// again) and counts it in the run.
    pub(super) async fn record(
        &self,
        connection: &Connection,
        outcome: &FileOutcome,
        state: &mut RunState,
    ) -> Result<(), Stop> {
        let overlap = connection.overlap(self.config.selection.overlap);
        let expires = outcome.finished_at + overlap + self.config.ledger_retention;
        self.store.record_outcome(&connection.id, outcome, expires).await.map_err(store_stop)?;
        let progress = &mut state.progress;
        progress.counts.add_file(outcome);
        if matches!(outcome.status, FileStatus::Imported | FileStatus::Partial) {
            progress.newest_imported = progress.newest_imported.max(Some(outcome.last_modified));
        }
        if outcome.status == FileStatus::Failed && progress.first_failures.len() < FIRST_FAILURES {
            let reason = outcome.reason.clone().unwrap_or_default();
            progress.first_failures.push(FailedFile { key: outcome.key.clone(), reason });
        }
        info!(status = ?outcome.status, rows_imported = outcome.rows_imported, rows_rejected = outcome.rows_rejected, reason = outcome.reason.as_deref().unwrap_or(""), "object finished");
        Ok(())
    }

    /// Saves where the run stands and lets the lease go, for the next invocation.
    async fn hand_over(&self, connection: &Connection, owner: &str, state: RunState) -> Result<SyncOutcome, SyncError> {
        let mut checkpoint = state.progress;
        checkpoint.pending = state.pending.into();
        checkpoint.hand_overs += 1;
        self.store.hand_over(&connection.id, owner, &checkpoint).await?;
        // The checkpoint holds the kept keys now (still to look at, pending, or decided).
        self.forget_kept(&connection.id, &state.kept).await;
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

    /// Ends the run with `result` (and the `error` that stopped it, if any): its record, the
    /// connection's new status and sync state, the lease let go, in one write. A run that failed on
    /// an error a retry may cure is recorded, then returned as [`SyncError::Retryable`].
    async fn finish(
        &self,
        connection: &Connection,
        owner: &str,
        mut state: RunState,
        result: SyncResult,
        error: Option<String>,
    ) -> Result<SyncOutcome, SyncError> {
        if error.is_some() {
            // Whatever stopped the run (the listing, the objects to try again, a file), what it
            // selected and did not finish holds the watermark back.
            let pending = state.pending.iter().map(|o| o.last_modified).min();
            state.oldest_unfinished = state.oldest_unfinished.into_iter().chain(pending).min();
        }
        // What it did not decide of the keys events named is kept for the next run while this one
        // still holds the lease, so no run can take the kept keys between (a handed-over run's
        // messages are gone; its checkpoint goes with this end). Should that fail, the run ends
        // here as an error, its checkpoint and kept keys as they were, for Lambda's retry.
        if !matches!(result, SyncResult::Succeeded | SyncResult::Partial) {
            self.keep_undecided(&connection.id, &state).await.map_err(SyncError::Store)?;
        }
        let run = self.run_record(connection, &state, result, error);
        let updated = connection_after(
            connection,
            &run,
            state.progress.schedule_run.as_deref(),
            state.failure_key.as_deref(),
            self.config.pause_after_failures,
        );
        let status_written = self
            .store
            .finish_run(RunEnd { run: &run, connection: &updated, status_before: connection.status }, owner)
            .await?;
        info!(result = ?run.result, counts = ?run.counts, "sync finished");
        // Decided: forgotten. A run that stopped short kept them (above).
        if matches!(result, SyncResult::Succeeded | SyncResult::Partial) {
            self.forget_kept(&connection.id, &state.kept).await;
        }
        let schedule_run = state.progress.schedule_run.as_deref();
        let mut events = vec![Event::SyncRunFinished(Box::new(SyncRunFinished::of(&updated, &run, schedule_run)))];
        // Only a change the store wrote: an operator's change during the run stands, unannounced again.
        let reason = match updated.status {
            _ if !status_written => None,
            ConnectionStatus::NeedsReauth => Some(StatusChange::NeedsReauth),
            ConnectionStatus::Active => Some(StatusChange::Activated),
            ConnectionStatus::Paused => Some(StatusChange::Failing),
            ConnectionStatus::Pending => None,
        };
        if let Some(reason) = reason {
            let changed = ConnectionStatusChanged {
                run_id: Some(run.run_id.clone()),
                error: run.error.clone(),
                ..ConnectionStatusChanged::of(connection, updated.status, reason, run.finished_at)
            };
            events.push(Event::ConnectionStatusChanged(changed));
        }
        announce(self.events, &events).await;
        if result == SyncResult::Failed {
            return Err(SyncError::Retryable(Box::new(run)));
        }
        Ok(SyncOutcome::Completed(run))
    }

    /// Keeps, for the next run, the named objects a run that stopped short had not decided: the
    /// keys it had not looked at yet, and the objects it had selected but not read whose next scan
    /// may not see them (every one of an events run; in a scan, those older than its window, which
    /// only a name brought in).
    async fn keep_undecided(&self, connection_id: &str, state: &RunState) -> Result<(), crate::ports::StoreError> {
        let progress = &state.progress;
        let named_only = |o: &&ObjectMeta| progress.path == RunPath::Events || o.last_modified < progress.cutoff;
        let pending = state.pending.iter().filter(named_only);
        let undecided: Vec<NamedKey> = progress
            .named
            .iter()
            .cloned()
            .chain(pending.map(|o| NamedKey { key: ObjectKey::exact(&o.key), etag: Some(o.etag.clone()) }))
            .collect();
        if undecided.is_empty() {
            return Ok(());
        }
        let expires_at = self.clock.now() + self.config.ledger_retention;
        self.store.keep_named(connection_id, &undecided, expires_at).await?;
        info!(keys = undecided.len(), "kept the named keys this run did not decide, for the next run");
        Ok(())
    }

    /// Forgets kept keys the run is done with; should that fail, the next run takes them on again
    /// and finds them in the ledger.
    async fn forget_kept(&self, connection_id: &str, kept: &[NamedKey]) {
        if kept.is_empty() {
            return;
        }
        if let Err(e) = self.store.forget_named(connection_id, kept).await {
            warn!(error = %e, keys = kept.len(), "could not forget the kept keys; the next run decides them again");
        }
    }

    /// The record of a run that ends with `result`. Access problems advance nothing; otherwise a
    /// completed listing moves the watermark, never past what is unfinished. A run of object
    /// events listed nothing: it leaves the watermark where the last scan put it, so that the next
    /// scan's window still holds whatever an event never told of.
    fn run_record(
        &self,
        connection: &Connection,
        state: &RunState,
        result: SyncResult,
        error: Option<String>,
    ) -> SyncRun {
        let progress = &state.progress;
        let watermark_before = connection.sync.watermark;
        let listed =
            (progress.path == RunPath::Scan && progress.listing.is_empty()).then_some(progress.listing_started);
        let watermark_after = match (result, listed) {
            (SyncResult::NeedsReauth, _) | (_, None) => watermark_before,
            (_, Some(listed)) => Some(selection::next_watermark(watermark_before, listed, state.oldest_unfinished)),
        };
        SyncRun {
            run_id: progress.run_id.clone(),
            connection_id: connection.id.clone(),
            path: progress.path,
            template: progress.template.clone(),
            backfill_since: progress.backfill_since,
            started_at: progress.started_at,
            finished_at: self.clock.now(),
            result,
            counts: progress.counts.clone(),
            error,
            watermark_before,
            watermark_after,
            newest_imported: progress.newest_imported,
            first_failures: progress.first_failures.clone(),
        }
    }
}

/// The connection as a run leaves it: a pending connection that synced becomes active, one whose
/// access broke needs re-authentication, an active one whose runs failed `pause_after` times in a
/// row is paused (reason `failing`); its sync state says how the run went. A failed run does not
/// mark its scheduled event done, so that the event's retry syncs; the retries of one scheduled
/// event or operator's request (`failure_key`) count as one failure.
pub(super) fn connection_after(
    connection: &Connection,
    run: &SyncRun,
    schedule_run: Option<&str>,
    failure_key: Option<&str>,
    pause_after: u32,
) -> Connection {
    let mut updated = connection.clone();
    let sync = &mut updated.sync;
    if run.path == RunPath::Events && run.result == SyncResult::Failed {
        // A failed run of object events' keys comes back with each redelivery of its messages
        // (every 12 minutes): counted, it would pause the connection within hours of a brief
        // outage. The queue's retries and dead letters are its measure; scans count.
    } else if matches!(run.result, SyncResult::Failed | SyncResult::NeedsReauth) {
        let retry = failure_key.is_some() && sync.last_failure_key.as_deref() == failure_key;
        if !retry {
            sync.consecutive_failures += 1;
        }
        sync.last_failure_key = failure_key.map(str::to_owned);
    } else {
        sync.consecutive_failures = 0;
        sync.last_failure_key = None;
    }
    let failing = pause_after > 0 && sync.consecutive_failures >= pause_after;
    updated.status = match (connection.status, run.result) {
        (_, SyncResult::NeedsReauth) => ConnectionStatus::NeedsReauth,
        (ConnectionStatus::Pending, SyncResult::Succeeded | SyncResult::Partial) => ConnectionStatus::Active,
        (ConnectionStatus::Active, SyncResult::Failed) if failing => ConnectionStatus::Paused,
        (status, _) => status,
    };
    if updated.status == ConnectionStatus::Paused && connection.status != ConnectionStatus::Paused {
        updated.pause_reason = Some(PauseReason::Failing);
    }
    updated.sync.newest_imported = updated.sync.newest_imported.max(run.newest_imported);
    updated.sync.watermark = run.watermark_after;
    updated.sync.last_sync_started = Some(run.started_at);
    updated.sync.last_sync_finished = Some(run.finished_at);
    updated.sync.last_result = Some(run.result);
    updated.sync.last_error = run.error.clone();
    updated.sync.last_run_id = Some(run.run_id.clone());
    updated.sync.last_counts = run.counts.clone();
    // Any scan's end restarts the connection's interval, a failed one's too: a failing connection
    // is tried once an interval (and by Lambda's retries of that invocation), so that its failures
    // count toward the pause at the pace of its schedule, not of the dispatcher's ticks.
    if run.path == RunPath::Scan {
        updated.sync.last_scan_started = Some(run.started_at);
    }
    if run.result != SyncResult::Failed {
        updated.sync.last_schedule_run = schedule_run.map(str::to_owned).or(connection.sync.last_schedule_run.clone());
    }
    updated
}
