//! One file: its passes through the read pipeline ([`crate::pipeline`]) with its records written in
//! lanes ([`super::writer`]), and its outcome. A template whose row policy is `fail_file` reads a
//! file twice, validating it whole before writing any of it. A bad file fails alone; an object that
//! cannot be read (replaced, denied, archived, SSE-C) fails or is skipped alone and may be tried
//! again; only what should stop the run (access lost, a transient failure) stops it. When the time
//! to hand over comes in the middle of a file, the pass stops at a record boundary with everything
//! before it written, and the file's checkpoint says where to go on.

use super::rejects::RejectsEnd;
use super::run::RunState;
use super::writer::{upload_parts, ToWriters};
use super::{access_stop, store_stop, write_in_lanes, Engine, Job, Stop};
use crate::model::{FileCheckpoint, FileOutcome, FileStatus, ObjectMeta, Recheck};
use crate::parse::ParseSummary;
use crate::pipeline::{self, ReadOptions, ReadResult};
use crate::ports::{ObjectBody, RecordBatch, SourceError, SourceErrorKind, StoreError, StoreErrorKind};
use crate::selection;
use crate::template::{FormatKind, RowPolicy};
use std::time::Instant;
use tracing::{info, warn};

/// How far one invocation got with an object.
enum FileRun {
    Done(Box<FileOutcome>),
    Paused(Box<FileCheckpoint>),
}

/// How one pass over an object ended.
enum Pass {
    /// Read to its end (or, validating, to its first rejected row).
    Read { summary: ParseSummary, written: u64 },
    /// The file failed: its bytes cannot be read as the template says, or the store refused its
    /// records. The rows before the failure were written, and are counted.
    Failed { reason: String, summary: ParseSummary, written: u64 },
    /// The object could not be read, when opened or part of the way through: replaced or deleted
    /// since the listing, denied, archived, SSE-C.
    Unreadable { kind: SourceErrorKind, reason: String, summary: ParseSummary, written: u64 },
    /// Stopped at a record boundary to hand over.
    Paused(FileCheckpoint),
}

/// How a file ended: what its outcome says besides the object and the time taken.
pub(super) struct Ending {
    status: FileStatus,
    reason: Option<String>,
    summary: ParseSummary,
    rows_imported: u64,
    recheck: Option<Recheck>,
}

impl Ending {
    /// A file settled by the selection rule without reading it.
    pub(super) fn settled(status: FileStatus, reason: String, recheck: Option<Recheck>) -> Ending {
        Ending { status, reason: Some(reason), summary: ParseSummary::default(), rows_imported: 0, recheck }
    }
}

impl Engine<'_> {
    /// Imports one object (or goes on with it from a checkpoint) and records its outcome, once an
    /// imported version's earlier versions are removed. A checkpoint in the middle of the object is
    /// a hand-over: `Err(Stop::HandOver)`, with the checkpoint in `state`.
    pub(super) async fn import_and_record(
        &self,
        job: &Job<'_>,
        object: &ObjectMeta,
        resume: Option<FileCheckpoint>,
        state: &mut RunState,
    ) -> Result<(), Stop> {
        let mut outcome = match self.import(job, object, resume).await? {
            FileRun::Done(outcome) => *outcome,
            FileRun::Paused(checkpoint) => {
                state.progress.file = Some(*checkpoint);
                return Err(Stop::HandOver);
            }
        };
        // The table says what the bucket holds: once a new version is imported, the records of the
        // others are removed, before its outcome is recorded (a failure here leaves the run to be
        // retried, and the removal with it).
        let imported = matches!(outcome.status, FileStatus::Imported | FileStatus::Partial);
        let keyed = !job.template.primary_key.is_empty();
        if imported || keyed {
            let earlier = outcome.replaces.take();
            if let Some(earlier) = earlier.filter(|_| !keyed) {
                let removed = self
                    .sink
                    .remove_other_versions(&job.connection.id, &object.key, &object.etag)
                    .await
                    .map_err(store_stop)?;
                info!(%earlier, removed, "records of earlier versions removed");
            }
        }
        self.record(job.connection, &outcome, state).await
    }

    /// Imports one object, or goes on with it from a checkpoint. A bad file is a `Done` outcome with
    /// status failed; only errors that should stop the run (access, transient) are `Err`.
    async fn import(
        &self,
        job: &Job<'_>,
        object: &ObjectMeta,
        resume: Option<FileCheckpoint>,
    ) -> Result<FileRun, Stop> {
        let started = Instant::now();
        let elapsed_before = resume.as_ref().map_or(0, |f| f.elapsed_ms);
        let elapsed = || elapsed_before + started.elapsed().as_millis() as u64;
        let mut resume = resume;
        let validating = resume.as_ref().is_none_or(|f| !f.writing);
        if job.template.row_policy == RowPolicy::FailFile && validating {
            // Validate the whole file first, so a bad row means not one record of it lands.
            let (checked, _) = self.pass(job, object, false, resume.take().as_ref()).await?;
            if let Some(invalid) = invalid(checked) {
                return Ok(self.file_run(job, object, invalid, RejectsEnd::default(), elapsed()));
            }
        }
        let (pass, rejects) = self.pass(job, object, true, resume.as_ref()).await?;
        Ok(self.file_run(job, object, pass, rejects, elapsed()))
    }

    /// What a file's last pass makes of it: its outcome, or its checkpoint.
    fn file_run(
        &self,
        job: &Job<'_>,
        object: &ObjectMeta,
        pass: Pass,
        rejects: RejectsEnd,
        elapsed_ms: u64,
    ) -> FileRun {
        let ending = match pass {
            Pass::Paused(checkpoint) => return FileRun::Paused(Box::new(FileCheckpoint { elapsed_ms, ..checkpoint })),
            Pass::Read { summary, written } => Ending {
                status: if summary.rows_rejected > 0 { FileStatus::Partial } else { FileStatus::Imported },
                reason: None,
                summary,
                rows_imported: written,
                recheck: None,
            },
            Pass::Failed { reason, summary, written } => Ending {
                status: FileStatus::Failed,
                reason: Some(reason),
                summary,
                rows_imported: written,
                recheck: None,
            },
            Pass::Unreadable { kind, reason, summary, written } => {
                self.unreadable(object, kind, reason, summary, written)
            }
        };
        let mut outcome = self.outcome(object, ending, job.run_id, elapsed_ms);
        outcome.rejects = rejects.key;
        if let Some(failure) = rejects.failure {
            let note = format!("its rejected rows could not be handed back as a file: {failure}");
            outcome.reason = Some(match outcome.reason.take() {
                Some(reason) => format!("{reason}; {note}"),
                None => note,
            });
        }
        FileRun::Done(Box::new(outcome))
    }

    /// An object that cannot be read (replaced, denied, archived, SSE-C) fails or is skipped alone;
    /// what may change without a new version is tried again later.
    fn unreadable(
        &self,
        object: &ObjectMeta,
        kind: SourceErrorKind,
        reason: String,
        summary: ParseSummary,
        written: u64,
    ) -> Ending {
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
                    "{reason}: the object was replaced or deleted while it was read ({written} rows of this version \
                     were written); a new version is imported by the next sync"
                ),
            ),
            _ => (None, reason),
        };
        Ending { status, reason: Some(reason), summary, rows_imported: written, recheck }
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

    /// The outcome of `object` for the ledger, finished now.
    pub(super) fn outcome(&self, object: &ObjectMeta, ending: Ending, run_id: &str, duration_ms: u64) -> FileOutcome {
        let Ending { status, reason, summary, rows_imported, recheck } = ending;
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
            row_errors: summary.row_errors,
            drift: summary.drift,
            rejects: None,
            rejects_url: None,
            duration_ms,
            run_id: run_id.to_owned(),
            finished_at: self.clock.now(),
            recheck,
            // Until a version of the key is imported, the earlier version's removal waits.
            replaces: object.replaces.clone(),
            dismissed_at: None,
        }
    }

    /// One streaming pass over an object, from its start or from a checkpoint, through the read
    /// pipeline; when `write` is set, its records are written with up to `write_concurrency`
    /// batches in flight. Past the job's `hand_over_at` it stops at the next batch boundary, once
    /// every record before it is written.
    async fn pass(
        &self,
        job: &Job<'_>,
        object: &ObjectMeta,
        write: bool,
        resume: Option<&FileCheckpoint>,
    ) -> Result<(Pass, RejectsEnd), Stop> {
        // Parquet is read by ranges (footer, then row groups), not as a body from a byte on.
        let parquet = job.template.format.kind == FormatKind::Parquet;
        let body = match self.open(job, object, resume, parquet).await? {
            Ok(body) => body,
            // The rows earlier invocations rejected are still handed back.
            Err(unreadable) => {
                let rejects = match (write, resume) {
                    (true, Some(_)) => self.rejects_for(job, object, resume).await?,
                    _ => None,
                };
                let end = match rejects {
                    Some((r, mut file)) => r.finish(file.take_tail(), file.rows(), &job.template.format).await?,
                    None => RejectsEnd::default(),
                };
                return Ok((unreadable, end));
            }
        };
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let handoff = self.config.handoff_rows.max(self.sink.max_batch());
        let mut to_writers = ToWriters::new(write, sender, handoff, job.hand_over_at);
        // Rejected rows are handed back by the pass that writes (a fail_file template's validation
        // writes nothing, and a file it fails is sent again whole).
        let (mut rejects, file) = match write {
            true => self.rejects_for(job, object, resume).await?.map_or((None, None), |(r, f)| (Some(r), Some(f))),
            false => (None, None),
        };
        let (parts, parts_received) = tokio::sync::mpsc::channel(1);
        // The parser's is the only sender: the uploader ends when the read does.
        match file.filter(|_| rejects.as_ref().is_some_and(|r| r.upload.failed.is_none())) {
            Some(file) => (to_writers.rejects, to_writers.parts) = (Some(file), Some(parts)),
            None => drop(parts),
        }
        let options = ReadOptions {
            limits: self.config.read_limits(),
            stop_at_first_row_error: !write && job.template.row_policy == RowPolicy::FailFile,
            resume: resume.cloned(),
        };
        let id_prefix = crate::keys::record_id_prefix(&object.key, &object.etag);
        let imported_at = self.clock.now();
        let (connection_id, template) = (job.connection.id.as_str(), job.template);
        let make_batch = |records| RecordBatch { connection_id, template, object, imported_at, records };
        let uploads = async {
            match rejects.as_mut() {
                Some(r) => upload_parts(r.store, &r.key, &mut r.upload, parts_received).await,
                None => None,
            }
        };
        let read = async {
            match body {
                Some(body) => pipeline::read(body, job.mapper.clone(), id_prefix, options, to_writers).await,
                None => {
                    let read =
                        pipeline::parquet::read(job.source, object, job.mapper.clone(), id_prefix, options, to_writers);
                    read.await
                }
            }
        };
        let (read, (written, write_error), upload_error) =
            tokio::join!(read, write_in_lanes(self.sink, self.config.write_concurrency, receiver, make_batch), uploads);
        let (read, mut emitted) = read.map_err(|e| Stop::Transient(format!("parser thread failed: {e}")))?;
        job.bytes_read.fetch_add(read.fetched, std::sync::atomic::Ordering::Relaxed);
        let written = resume.map_or(0, |f| f.rows_imported) + written;
        let mut pass = end_of_pass(job, object, write, read, written, write_error)?;
        if let Some(e) = upload_error {
            // A part S3 could not take for now: the retry goes on from the checkpoint before.
            return Err(Stop::Transient(format!("uploading a rejects part: {e}")));
        }
        let (tail, rows) = emitted.rejects.take().map(|mut file| (file.take_tail(), file.rows())).unwrap_or_default();
        let end = match (rejects, &mut pass) {
            (None, _) => RejectsEnd::default(),
            (Some(r), Pass::Paused(checkpoint)) => {
                checkpoint.rejects = Some(r.stage(tail, rows).await?);
                RejectsEnd::default()
            }
            (Some(r), _) => r.finish(tail, rows, &job.template.format).await?,
        };
        Ok((pass, end))
    }

    /// The object's body from where the pass starts (`None` for an object read by ranges), or how
    /// the object could not be opened.
    async fn open(
        &self,
        job: &Job<'_>,
        object: &ObjectMeta,
        resume: Option<&FileCheckpoint>,
        by_ranges: bool,
    ) -> Result<Result<Option<ObjectBody>, Pass>, Stop> {
        if by_ranges {
            // Its first read's failure is classified as a body's is (end_of_pass).
            return Ok(Ok(None));
        }
        let from = resume.map_or(0, pipeline::body_offset);
        // A hand-over after the last row leaves nothing to fetch (S3 refuses a range past the end).
        if from > 0 && from >= object.size {
            return Ok(Ok(Some(Box::pin(tokio::io::empty()))));
        }
        match job.source.open(object, from).await {
            Ok(body) => Ok(Ok(Some(Box::pin(Counted { inner: body, read: job.bytes_read.clone() })))),
            // A part-read object (a checkpoint's) counts what the invocations before read and wrote.
            Err(e) if e.kind == SourceErrorKind::ObjectGone || e.kind.object_only() => {
                let summary = resume.map(pipeline::so_far).unwrap_or_default();
                let written = resume.map_or(0, |f| f.rows_imported);
                Ok(Err(Pass::Unreadable { kind: e.kind, reason: e.message, summary, written }))
            }
            Err(e) => Err(access_stop(job.connection, e)),
        }
    }
}

/// What the validation pass of a `fail_file` template makes of a file: `None` when it is valid (and
/// is to be written), or how it ends, with not one of its records written.
fn invalid(checked: Pass) -> Option<Pass> {
    match checked {
        Pass::Read { summary, .. } if summary.rows_rejected == 0 => None,
        Pass::Read { summary, .. } => {
            let reason = "a row was rejected and the template's row policy is fail_file".to_owned();
            Some(Pass::Failed { reason, summary, written: 0 })
        }
        // Failed at its header or before any row: nothing was read to be left out.
        Pass::Failed { reason, summary, .. } if summary.rows_read == 0 => {
            Some(Pass::Failed { reason, summary, written: 0 })
        }
        Pass::Failed { reason, summary, .. } => {
            let reason = format!(
                "{reason}; none of the {} rows read was imported (the row policy fail_file writes nothing of a \
                 failing file)",
                summary.rows_read
            );
            Some(Pass::Failed { reason, summary, written: 0 })
        }
        Pass::Unreadable { kind, reason, summary, .. } => Some(Pass::Unreadable { kind, reason, summary, written: 0 }),
        paused @ Pass::Paused(_) => Some(paused),
    }
}

/// How a pass ended, from what its read and its writes gave: the store's refusal or failure first,
/// then a failure of the body itself, then the file's own failure, then a hand-over's stop.
fn end_of_pass(
    job: &Job<'_>,
    object: &ObjectMeta,
    write: bool,
    read: ReadResult,
    written: u64,
    write_error: Option<StoreError>,
) -> Result<Pass, Stop> {
    // After a failure, there is nowhere to go on from.
    let summary_to_here = |summary: ParseSummary| ParseSummary { resume_at: None, ..summary };
    match write_error {
        None => {}
        // Records DynamoDB refuses would be refused again: the file fails alone, saying why.
        Some(e) if e.kind == StoreErrorKind::Rejected => {
            warn!(error = %e, "records refused; the file fails");
            let reason = format!("DynamoDB refused records of this file ({written} were written): {e}");
            return Ok(Pass::Failed { reason, summary: summary_to_here(read.summary), written });
        }
        Some(e) => return Err(store_stop(e)),
    }
    match read.transport.clone() {
        None => {}
        // This object can no longer be read; the rows written before are counted.
        Some((kind, failure)) if kind == SourceErrorKind::ObjectGone || kind.object_only() => {
            let summary = summary_to_here(read.summary);
            return Ok(Pass::Unreadable { kind, reason: failure, summary, written });
        }
        // The bucket itself went (deleted, another owner's, moved) while the object was read.
        Some((kind, failure)) if kind.breaks_access() => {
            return Err(access_stop(job.connection, SourceError::new(kind, failure)));
        }
        Some((_, failure)) => {
            let bucket = &job.connection.bucket;
            return Err(Stop::Transient(format!("reading s3://{bucket}/{}: {failure}", object.key)));
        }
    }
    if let Some((at, reason)) = read.failure() {
        // The rows before the failure were written; the outcome counts them.
        warn!(error = %reason, rows_read = read.summary.rows_read, "file failed {at}");
        return Ok(Pass::Failed { reason, summary: summary_to_here(read.summary), written });
    }
    Ok(match read.summary.resume_at.clone() {
        // Every record before the position is written: the writers were drained (both halves of the
        // pass have ended).
        Some(position) => Pass::Paused(FileCheckpoint {
            key: object.key.clone(),
            etag: object.etag.clone(),
            writing: write,
            position,
            from_start: read.from_start,
            bom: read.bom,
            rows_read: read.summary.rows_read,
            rows_rejected: read.summary.rows_rejected,
            row_errors: read.summary.row_errors,
            rows_imported: written,
            elapsed_ms: 0,
            drift: read.summary.drift,
            rejects: None,
        }),
        None => Pass::Read { summary: read.summary, written },
    })
}

/// A body that adds the bytes read from it to a count: the run's `bytes_read`.
struct Counted {
    inner: crate::ports::ObjectBody,
    read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = self.inner.as_mut().poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        self.read.fetch_add(read, std::sync::atomic::Ordering::Relaxed);
        polled
    }
}
