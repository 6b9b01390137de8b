//! The worker's handler: one event, one connection synced.

use connector_aws::Connector;
use connector_core::dispatch::WorkerRequest;
use connector_core::engine::{SyncError, SyncOutcome};
use connector_core::model::SyncRun;
use serde::Serialize;

/// What the worker returns (and logs).
#[derive(Debug, Clone, Serialize)]
pub struct WorkerResponse {
    pub connection_id: String,
    /// completed | lease_held | already_synced | not_syncable | connection_not_found
    pub outcome: &'static str,
    pub detail: Option<String>,
    pub run: Option<SyncRun>,
}

/// Syncs the connection. A run that failed on a transient error is an `Err`, so Lambda retries the
/// invocation; everything a retry cannot change (lease held, paused, unknown connection) is `Ok`.
pub async fn handle(connector: &Connector, request: WorkerRequest) -> Result<WorkerResponse, SyncError> {
    let response = |outcome, detail: Option<String>, run| WorkerResponse {
        connection_id: request.connection_id.clone(),
        outcome,
        detail,
        run,
    };
    match connector.sync_for(&request.connection_id, request.schedule_run.as_deref()).await {
        Ok(SyncOutcome::Completed(run)) => Ok(response("completed", None, Some(run))),
        Ok(SyncOutcome::LeaseHeld { owner, until }) => {
            Ok(response("lease_held", Some(format!("another sync ({owner}) holds the lease until {until}")), None))
        }
        Ok(SyncOutcome::AlreadySynced { schedule_run }) => {
            Ok(response("already_synced", Some(format!("already synced for scheduled event {schedule_run}")), None))
        }
        Ok(SyncOutcome::NotSyncable { status }) => {
            Ok(response("not_syncable", Some(format!("connection is {}", status.as_str())), None))
        }
        Err(SyncError::ConnectionNotFound(id)) => {
            Ok(response("connection_not_found", Some(format!("no connection {id}")), None))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_events_parse() {
        let event: WorkerRequest = serde_json::from_str(include_str!("../../../events/worker-invoke.json")).unwrap();
        assert_eq!(event, WorkerRequest { connection_id: "demo-connection".into(), schedule_run: None });
        let event: WorkerRequest =
            serde_json::from_str(include_str!("../../../events/worker-invoke-scheduled.json")).unwrap();
        assert_eq!(event.schedule_run.as_deref(), Some("89d1a02d-5ec7-412e-82f5-13505f849b41"));
    }
}
