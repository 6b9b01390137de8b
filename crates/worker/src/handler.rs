//! The worker's handler: one event, one connection synced, or as much of it as the invocation's time
//! allows, the rest handed over to a new invocation of the worker; a run that finished or failed
//! writes its metrics on stdout.

use connector_aws::metrics::Metrics;
use connector_aws::{Deployment, SyncRequest};
use connector_core::dispatch::{invoke_with_retries, InvokeError, WorkerInvoker, WorkerRequest};
use connector_core::engine::report::SyncReport;
use connector_core::engine::{SyncError, SyncOutcome};
use std::time::Instant;

/// What the worker returns (and logs): the one report of a sync call, as the CLI prints it too.
pub type WorkerResponse = SyncReport;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The checkpoint is saved but the next invocation could not be started: failing makes Lambda
    /// retry this one, which goes on from the checkpoint.
    #[error("handing over to the next invocation: {0}")]
    HandOver(InvokeError),
}

/// Syncs the connection until it is done or `hand_over_at` passes, then starts the next invocation
/// through `next`. A run that failed on a transient error is an `Err`, so Lambda retries the
/// invocation; everything a retry cannot change (lease held, paused, unknown connection) is `Ok`.
/// A run that finished or failed writes its metrics (`metrics`) first, whatever follows.
pub async fn handle(
    deployment: &Deployment,
    request: WorkerRequest,
    hand_over_at: Option<Instant>,
    next: &dyn WorkerInvoker,
    metrics: &Metrics,
) -> Result<WorkerResponse, WorkerError> {
    let sync = SyncRequest {
        connection_id: &request.connection_id,
        schedule_run: request.schedule_run.as_deref(),
        request_id: request.request_id.as_deref(),
        hand_over_at,
    };
    let synced = deployment.sync(sync).await;
    let report = SyncReport::new(&request.connection_id, &synced);
    // The run's events the bus refused (counted by the publisher, since the last invocation).
    let events_not_published = deployment.events.take_not_published();
    if let Some(document) = metrics.for_run(&report, events_not_published) {
        metrics.emit(&document);
    }
    match synced {
        Ok(SyncOutcome::HandedOver { .. }) => {
            invoke_with_retries(next, &request, 5).await.map_err(WorkerError::HandOver)?;
            Ok(report)
        }
        Ok(_) | Err(SyncError::ConnectionNotFound(_)) => Ok(report),
        Err(e) => Err(e.into()),
    }
}

/// When to hand over: `margin` before the invocation's deadline (milliseconds since the epoch, as
/// the Lambda context gives it), or a quarter of the time left if that is shorter, so that a function
/// configured with a short timeout still gets work done in each invocation. `None` (run to the end)
/// when the runtime gives no deadline still ahead: Lambda always does, but `cargo lambda watch` sends
/// its timeout (600000) instead of a time, and handing over with no time to work would only loop.
pub fn hand_over_at(deadline_ms: u64, margin: std::time::Duration) -> Option<Instant> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let left = std::time::Duration::from_millis(deadline_ms).checked_sub(now).filter(|left| !left.is_zero());
    let Some(left) = left else {
        tracing::warn!(deadline_ms, "the runtime gave no deadline ahead; this invocation runs to the end");
        return None;
    };
    tracing::info!(time_left_ms = left.as_millis() as u64, "invocation starts");
    Some(Instant::now() + left.saturating_sub(margin.min(left / 4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_events_parse() {
        let event: WorkerRequest = serde_json::from_str(include_str!("../../../events/worker-invoke.json")).unwrap();
        assert_eq!(
            event,
            WorkerRequest { connection_id: "demo-connection".into(), schedule_run: None, request_id: None }
        );
        let event: WorkerRequest =
            serde_json::from_str(include_str!("../../../events/worker-invoke-scheduled.json")).unwrap();
        assert_eq!(event.schedule_run.as_deref(), Some("89d1a02d-5ec7-412e-82f5-13505f849b41"));
    }

    #[test]
    fn hands_over_the_margin_before_the_deadline() {
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        let margin = std::time::Duration::from_secs(60);
        let at = hand_over_at(now_ms + 900_000, margin).unwrap();
        let left = at.duration_since(Instant::now()).as_secs();
        assert!((838..=840).contains(&left), "{left}");
        // A timeout shorter than the margin keeps three quarters of it for work.
        let at = hand_over_at(now_ms + 20_000, margin).unwrap();
        let left = at.duration_since(Instant::now()).as_secs();
        assert!((14..=15).contains(&left), "{left}");
        // No deadline ahead (cargo lambda watch sends 600000): run to the end rather than hand over at once.
        assert_eq!(hand_over_at(600_000, margin), None);
        assert_eq!(hand_over_at(now_ms - 1_000, margin), None);
    }
}
