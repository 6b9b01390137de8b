//! The worker's handler: one event, one connection synced.

use connector_aws::Connector;
use connector_core::engine::{SyncError, SyncOutcome};
use connector_core::model::SyncRun;
use serde::{Deserialize, Serialize};

/// The invocation payload (events/worker-invoke.json).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WorkerEvent {
    pub connection_id: String,
}

/// What the worker returns (and logs).
#[derive(Debug, Clone, Serialize)]
pub struct WorkerResponse {
    pub connection_id: String,
    /// completed | lease_held | not_syncable | connection_not_found
    pub outcome: &'static str,
    pub detail: Option<String>,
    pub run: Option<SyncRun>,
}

/// Syncs the connection. A run that failed on a transient error is an `Err`, so Lambda retries the
/// invocation; everything a retry cannot change (lease held, paused, unknown connection) is `Ok`.
pub async fn handle(connector: &Connector, event: WorkerEvent) -> Result<WorkerResponse, SyncError> {
    let response = |outcome, detail: Option<String>, run| WorkerResponse {
        connection_id: event.connection_id.clone(),
        outcome,
        detail,
        run,
    };
    match connector.sync(&event.connection_id).await {
        Ok(SyncOutcome::Completed(run)) => Ok(response("completed", None, Some(run))),
        Ok(SyncOutcome::LeaseHeld { owner, until }) => {
            Ok(response("lease_held", Some(format!("another sync ({owner}) holds the lease until {until}")), None))
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
    fn the_sample_event_parses() {
        let event: WorkerEvent = serde_json::from_str(include_str!("../../../events/worker-invoke.json")).unwrap();
        assert_eq!(event, WorkerEvent { connection_id: "demo-connection".into() });
    }
}
