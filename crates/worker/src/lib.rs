//! The worker's handler: one event, one connection synced, or as much of it as the invocation's time
//! allows, the rest handed over to a new invocation of the worker; a run that finished or failed
//! writes its metrics on stdout. A library beside `main.rs` so that tests/ can drive what the
//! handler starts next (a hand-over, a scan owed, kept keys) with recorded workers.

use connector_aws::metrics::Metrics;
use connector_aws::{Deployment, SyncRequest};
use connector_core::dispatch::{invoke_with_retries, ConnectionIndex, InvokeError, WorkerInvoker, WorkerRequest};
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
    let sync = SyncRequest { hand_over_at, ..SyncRequest::of_worker(&request) };
    let mut synced = deployment.sync(sync).await;
    if let (Ok(SyncOutcome::LeaseHeld { .. }), Some(schedule_run)) = (&synced, sync.schedule_run) {
        // The day's scan found another run holding the lease (the dispatcher saw it free): owed,
        // for the holder to start when it lets go; let go meanwhile, it runs now.
        let now = chrono::Utc::now();
        match ConnectionIndex::owe_scan(&deployment.state, sync.connection_id, schedule_run, now).await {
            Ok(true) => tracing::info!(schedule_run, "lease held: the scan is owed to the holder"),
            Ok(false) => synced = deployment.sync(sync).await,
            Err(e) => return Err(SyncError::Store(e).into()),
        }
    }
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
        Ok(SyncOutcome::Completed(_)) => {
            if let Some(kept) = deployment.next_run(&request.connection_id).await {
                // Best effort: the keys stay kept for the connection's next run.
                if let Err(e) = invoke_with_retries(next, &kept, 5).await {
                    tracing::warn!(error = %e, "could not start a run of the kept keys; the next run takes them");
                }
            }
            Ok(report)
        }
        Ok(_) | Err(SyncError::ConnectionNotFound(_)) => Ok(report),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_events_parse() {
        let event: WorkerRequest = serde_json::from_str(include_str!("../../../events/worker-invoke.json")).unwrap();
        assert_eq!(event, WorkerRequest::new("demo-connection"));
        let event: WorkerRequest =
            serde_json::from_str(include_str!("../../../events/worker-invoke-scheduled.json")).unwrap();
        assert_eq!(event.schedule_run.as_deref(), Some("89d1a02d-5ec7-412e-82f5-13505f849b41"));
        let event: WorkerRequest =
            serde_json::from_str(include_str!("../../../events/worker-invoke-kept-keys.json")).unwrap();
        assert_eq!(event, WorkerRequest::for_kept_keys("demo-connection"));
        assert_eq!(serde_json::to_value(WorkerRequest::new("c")).unwrap(), serde_json::json!({"connection_id": "c"}));
    }
}
