//! What the connector announces, so that nobody has to look: one event when a run finishes and one
//! when a connection's status changes, published on an EventBridge bus (source [`SOURCE`]) through
//! the [`EventPublisher`] port. The detail's JSON is versioned ([`DETAIL_VERSION`]); a JSON Schema
//! of each is in events/schema/ and a sample as EventBridge delivers it in events/eventbridge/.
//!
//! Publishing never fails what it announces: a failure is logged and counted by the publisher,
//! and the import stands.

use crate::model::{Connection, ConnectionStatus, FailedFile, SyncResult, SyncRun};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::warn;

/// The events' `source` on the bus.
pub const SOURCE: &str = "s3-connector";

/// The version of the details' JSON: a field added keeps it, a field renamed, removed or changed
/// in meaning raises it.
pub const DETAIL_VERSION: u32 = 1;

/// An event, and its detail-type on the bus.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Event {
    SyncRunFinished(Box<SyncRunFinished>),
    ConnectionStatusChanged(ConnectionStatusChanged),
}

impl Event {
    pub fn detail_type(&self) -> &'static str {
        match self {
            Event::SyncRunFinished(_) => "Sync Run Finished",
            Event::ConnectionStatusChanged(_) => "Connection Status Changed",
        }
    }
}

/// A run finished (and was recorded): how it went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncRunFinished {
    pub version: u32,
    pub connection_id: String,
    /// The tenant the connection belongs to ("" for one not yet given a tenant), so that the
    /// platform can route the event to its customer.
    pub tenant: String,
    pub connection_name: String,
    pub run_id: String,
    /// The scheduled event that started it; null for an operator's sync.
    pub schedule_run: Option<String>,
    pub result: SyncResult,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub objects: ObjectCounts,
    pub rows: RowCounts,
    pub bytes_read: u64,
    /// The first failed files (up to ten) with their reasons; `objects.failed` counts them all.
    pub failed_files: Vec<FailedFile>,
    /// What stopped a failed or needs_reauth run.
    pub error: Option<String>,
    pub watermark_before: Option<DateTime<Utc>>,
    pub watermark_after: Option<DateTime<Utc>>,
    /// The LastModified of the newest object the run imported, and how long before the run's end
    /// it was: the delay between an upload and its import.
    pub newest_imported: Option<DateTime<Utc>>,
    pub lag_seconds: Option<i64>,
    /// Runs in a row that failed, this one included (0 after one that did not).
    pub consecutive_failures: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectCounts {
    pub listed: u64,
    pub selected: u64,
    pub imported: u64,
    pub partial: u64,
    pub failed: u64,
    pub skipped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowCounts {
    pub read: u64,
    pub imported: u64,
    pub rejected: u64,
    pub not_imported: u64,
}

/// Why a connection's status changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusChange {
    /// Its first import worked (or an operator activated it).
    Activated,
    /// A run found its access broken (role, external id, bucket, owner).
    NeedsReauth,
    /// An operator paused it.
    PausedByOperator,
    /// Its runs failed `S3C_PAUSE_AFTER_FAILURES` times in a row.
    Failing,
    /// An operator resumed it.
    Resumed,
    /// An operator re-authenticated it after the customer fixed its role.
    Reauthenticated,
}

crate::words::words!(StatusChange {
    Activated => "activated",
    NeedsReauth => "needs_reauth",
    PausedByOperator => "paused_by_operator",
    Failing => "failing",
    Resumed => "resumed",
    Reauthenticated => "reauthenticated",
});

/// A connection's status changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionStatusChanged {
    pub version: u32,
    pub connection_id: String,
    /// The tenant the connection belongs to ("" for one not yet given a tenant).
    pub tenant: String,
    pub connection_name: String,
    pub from: ConnectionStatus,
    pub to: ConnectionStatus,
    pub reason: StatusChange,
    /// The run that changed it, when a run did.
    pub run_id: Option<String>,
    /// What a run found, when it changed the status on an error.
    pub error: Option<String>,
    pub changed_at: DateTime<Utc>,
}

impl SyncRunFinished {
    /// The event of `run` of `connection` (as the run left it).
    pub fn of(connection: &Connection, run: &SyncRun, schedule_run: Option<&str>) -> Self {
        let c = &run.counts;
        SyncRunFinished {
            version: DETAIL_VERSION,
            connection_id: connection.id.clone(),
            tenant: connection.tenant.clone(),
            connection_name: connection.name.clone(),
            run_id: run.run_id.clone(),
            schedule_run: schedule_run.map(str::to_owned),
            result: run.result,
            started_at: run.started_at,
            finished_at: run.finished_at,
            duration_ms: (run.finished_at - run.started_at).num_milliseconds().max(0) as u64,
            objects: ObjectCounts {
                listed: c.objects_listed,
                selected: c.objects_selected,
                imported: c.files_imported,
                partial: c.files_partial,
                failed: c.files_failed,
                skipped: c.files_skipped,
            },
            rows: RowCounts {
                read: c.rows_read,
                imported: c.rows_imported,
                rejected: c.rows_rejected,
                not_imported: c.rows_not_imported,
            },
            bytes_read: c.bytes_read,
            failed_files: run.first_failures.clone(),
            error: run.error.clone(),
            watermark_before: run.watermark_before,
            watermark_after: run.watermark_after,
            newest_imported: run.newest_imported,
            lag_seconds: run.newest_imported.map(|newest| (run.finished_at - newest).num_seconds()),
            consecutive_failures: connection.sync.consecutive_failures,
        }
    }
}

impl ConnectionStatusChanged {
    /// `before` became `after` (their statuses differ) for `reason`.
    pub fn of(before: &Connection, after: ConnectionStatus, reason: StatusChange, at: DateTime<Utc>) -> Self {
        ConnectionStatusChanged {
            version: DETAIL_VERSION,
            connection_id: before.id.clone(),
            tenant: before.tenant.clone(),
            connection_name: before.name.clone(),
            from: before.status,
            to: after,
            reason,
            run_id: None,
            error: None,
            changed_at: at,
        }
    }
}

/// Events that could not be published, and why.
#[derive(Debug, thiserror::Error)]
#[error("{not_published} event(s) not published: {message}")]
pub struct PublishError {
    pub not_published: usize,
    pub message: String,
}

/// Where events go: an EventBridge bus in Lambda, a list in tests.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes `events`; an error says how many were not published and why.
    async fn publish(&self, events: &[Event]) -> Result<(), PublishError>;
}

/// Publishes `events`, logging a failure instead of returning it: an announcement lost never fails
/// what it announces. Returns how many were not published.
pub async fn announce(publisher: &dyn EventPublisher, events: &[Event]) -> usize {
    if events.is_empty() {
        return 0;
    }
    match publisher.publish(events).await {
        Ok(()) => 0,
        Err(e) => {
            warn!(error = %e, not_published = e.not_published, "publishing events failed; the run stands");
            e.not_published
        }
    }
}
