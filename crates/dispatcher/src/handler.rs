//! The dispatcher's handler: a scheduled event in, one worker invocation per active connection out,
//! and its metrics (connections by status, workers invoked) on stdout.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use connector_aws::metrics::Metrics;
use connector_aws::Deployment;
use connector_core::dispatch::{DispatchConfig, DispatchSummary, WorkerInvoker};

/// Identifies one schedule run: EventBridge gives a second delivery of an event the same id.
pub fn schedule_run(event: &EventBridgeEvent) -> String {
    match (&event.id, &event.time) {
        (Some(id), _) => id.clone(),
        (None, Some(time)) => format!("{}@{}", event.source, time.to_rfc3339()),
        (None, None) => format!("{}@unknown", event.source),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("reading connections: {0}")]
    Store(#[from] connector_core::ports::StoreError),
    /// Some invocations failed. A retry of the dispatch re-invokes only those: the others are
    /// running (lease held) or done (already synced for this event).
    #[error("{} of {} worker invocations failed, first: {:?}", .0.failed, .0.found, .0.failures.first())]
    Invocations(DispatchSummary),
}

/// Dispatches the scheduled event and writes its metrics, also when some invocations failed (the
/// dispatch is then an error, for Lambda to retry it); a dispatch that could not read the
/// connections writes none.
pub async fn handle(
    connector: &Deployment,
    workers: &dyn WorkerInvoker,
    config: &DispatchConfig,
    metrics: &Metrics,
    event: EventBridgeEvent,
) -> Result<DispatchSummary, DispatchError> {
    // The scans due at the tick's time (a late delivery or a retry decides as the tick would).
    let config = DispatchConfig { due_at: event.time, ..config.clone() };
    let summary = connector.dispatch(workers, &schedule_run(&event), &config).await?;
    metrics.emit(&metrics.for_dispatch(&summary, chrono::Utc::now()));
    if summary.failed > 0 {
        return Err(DispatchError::Invocations(summary));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheduled_event_fixture_parses_and_names_its_run() {
        let event: EventBridgeEvent = serde_json::from_str(include_str!("../../../events/scheduled.json")).unwrap();
        assert_eq!(event.detail_type, "Scheduled Event");
        assert_eq!(schedule_run(&event), "89d1a02d-5ec7-412e-82f5-13505f849b41");
        let value: serde_json::Value = serde_json::from_str(include_str!("../../../events/scheduled.json")).unwrap();
        assert_eq!(serde_json::to_value(&event).unwrap()["id"], value["id"], "round-trips");
    }
}
