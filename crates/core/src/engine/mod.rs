//! The sync engine: one run of one connection, from lease to watermark, over the ports.
//!
//! ```text
//! lease -> [checkpoint] -> assume role -> list prefixes in parallel, page by page (keep what is new)
//!   -> for each selected object, oldest first: GetObject -> [gzip/zstd/bzip2] -> [BOM] -> parser -> mapper
//!        -> batches of the sink's size (DynamoDB's: 25) -> several in flight -> outcome in the ledger
//!   -> run record + sync state + watermark, lease released
//! ```
//!
//! Parsing is synchronous (csv, serde_json) and runs on a blocking thread reading the S3 body through
//! a bridge ([`crate::pipeline`]); records flow to the async writers through a bounded channel, so
//! memory stays bounded by the channel and the writes in flight, whatever the object's size.
//!
//! A run may outlive one invocation (Lambda stops at 15 minutes). Given a time to hand over, the
//! engine stops at the next listing page or record boundary once it has passed, waits for the writes
//! in flight, and saves a [`Checkpoint`](crate::model::Checkpoint): the prefixes still to list with
//! their continuation tokens, the selected objects not finished, and the byte offset of the next
//! record of the object in progress. The next invocation takes the lease and goes on from there;
//! every row before the offset was written, none after it was, and record ids do not depend on the
//! invocation.
//!
//! This file holds the engine's door (its configuration, [`Engine`], [`Invocation`], what a run
//! ends with) and the vocabulary its rooms share. The rooms:
//!
//! - [`run`]: one invocation's part of a run: lease, checkpoint or a new run, the listing and the
//!   imports, then hand over or finish (run record, sync state, watermark);
//! - [`lease`]: taking the connection's lease, and keeping it renewed beside the run;
//! - [`listing`]: listing page by page, the selection rule, the objects due to be tried again;
//! - [`import`]: one file: its passes through the read pipeline, and its outcome;
//! - [`writer`]: the records of a file, written in lanes by record id;
//! - [`report`]: how a sync call ended, in one vocabulary for the worker, the CLI and logs;
//! - `tests`: whole runs over the in-memory ports, by room.

use crate::decode::DecodeLimits;
use crate::events::EventPublisher;
use crate::mapping::Mapper;
use crate::model::{Connection, ConnectionStatus, NamedKey, RunCounts, SyncRun};
use crate::parse::ParseLimits;
use crate::pipeline::{ParquetLimits, ReadLimits};
use crate::ports::{BucketAccess, Clock, ObjectSource, RecordSink, SourceError, StoreError, SyncStore};
use crate::selection::SelectionConfig;
use crate::template::Template;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use std::time::Instant;

mod import;
mod lease;
mod listing;
mod rejects;
pub mod report;
mod run;
mod writer;
pub use writer::write_in_lanes;

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
    /// An active connection whose runs failed this many times in a row is paused (reason
    /// `failing`); 0 never pauses.
    pub pause_after_failures: u32,
    /// Records handed from the parser thread to the writers at a time; also how often the parser
    /// looks at the clock for a hand-over.
    pub handoff_rows: usize,
    /// Listing pages fetched at once, one per prefix.
    pub list_concurrency: usize,
    /// List the folder's first level with a delimiter and each sub-folder on its own, in parallel.
    pub list_fan_out: bool,
    /// What one record may take (a longer one fails its file).
    pub parse_limits: ParseLimits,
    /// What one Parquet file's footer and row group may take (a larger one fails its file).
    pub parquet_limits: ParquetLimits,
    /// What decoding refuses (a decompression bomb fails its file).
    pub decode_limits: DecodeLimits,
}

impl SyncConfig {
    /// What reading an object refuses: the limits of every read, a sync's and a preview's.
    pub fn read_limits(&self) -> ReadLimits {
        ReadLimits { decode: self.decode_limits, parse: self.parse_limits, parquet: self.parquet_limits }
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            selection: SelectionConfig::default(),
            write_concurrency: 8,
            lease_duration: TimeDelta::minutes(2),
            ledger_retention: TimeDelta::days(30),
            pause_after_failures: 7,
            handoff_rows: 1000,
            list_concurrency: 8,
            list_fan_out: true,
            parse_limits: ParseLimits::default(),
            parquet_limits: ParquetLimits::default(),
            decode_limits: DecodeLimits::default(),
        }
    }
}

/// How a call to [`Engine::run`] ended without an error.
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

/// A run's engine: the ports it drives, and its configuration.
pub struct Engine<'a> {
    pub store: &'a dyn SyncStore,
    pub sink: &'a dyn RecordSink,
    pub buckets: &'a dyn BucketAccess,
    /// Where a finished run and a status it changed are announced.
    pub events: &'a dyn EventPublisher,
    /// The deployment's rejects bucket, where every file's rejected rows are handed back; none:
    /// they are counted and the first ones recorded, as always, and no object is written.
    pub rejects: Option<&'a dyn crate::ports::RejectsStore>,
    pub clock: &'a dyn Clock,
    pub config: SyncConfig,
}

/// One invocation's part of a run.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'r> {
    pub connection_id: &'r str,
    /// Owns the lease; a new run takes it as its run id, a resumed run keeps its own.
    pub invocation_id: &'r str,
    /// The scheduled event that asked for the sync, if any (EventBridge delivers at least once).
    pub schedule_run: Option<&'r str>,
    /// An operator's sync's id, the same in Lambda's retries of it (see
    /// [`crate::dispatch::WorkerRequest::request_id`]).
    pub request_id: Option<&'r str>,
    /// When to stop and hand over to a new invocation; `None` runs to the end.
    pub hand_over_at: Option<Instant>,
    /// Keys named by object events: a run of its own that lists nothing and decides these (or,
    /// when a handed-over run is waiting for its next invocation, keys that run takes on).
    pub named: Option<&'r [NamedKey]>,
}

impl<'r> Invocation<'r> {
    /// An invocation of `connection_id`, owning the lease as `invocation_id`, that runs to the end
    /// and was asked for by no scheduled event (an operator's sync, a test's).
    pub fn new(connection_id: &'r str, invocation_id: &'r str) -> Self {
        Invocation {
            connection_id,
            invocation_id,
            schedule_run: None,
            request_id: None,
            hand_over_at: None,
            named: None,
        }
    }

    /// For the keys object events named: the objects under them now are decided by the selection
    /// rule and the ledger, as a scan would decide them, whatever their LastModified.
    pub fn for_events(self, named: &'r [NamedKey]) -> Self {
        Invocation { named: Some(named), ..self }
    }

    /// Asked for by the scheduled event `schedule_run`: a second delivery of it syncs nothing.
    pub fn scheduled(self, schedule_run: &'r str) -> Self {
        Invocation { schedule_run: Some(schedule_run), ..self }
    }

    /// Handing over to a new invocation once `at` has passed.
    pub fn handing_over_at(self, at: Instant) -> Self {
        Invocation { hand_over_at: Some(at), ..self }
    }
}

/// Why a run stopped before its last object.
enum Stop {
    Access(String),
    Transient(String),
    /// Time to hand over to the next invocation; the checkpoint is up to date.
    HandOver,
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

/// What one invocation of a run works with, listing and importing: the bucket as the connection's
/// role sees it, the connection, the template the run reads with (and its mapper), the run's id,
/// and when to hand over.
struct Job<'a> {
    source: &'a dyn ObjectSource,
    connection: &'a Connection,
    template: &'a Template,
    mapper: Arc<Mapper>,
    run_id: &'a str,
    hand_over_at: Option<Instant>,
    /// Bytes of object bodies read by this invocation (the run's `bytes_read` adds them up).
    bytes_read: Arc<std::sync::atomic::AtomicU64>,
}

#[cfg(test)]
mod tests;
