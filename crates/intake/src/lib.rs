//! The intake: a batch of messages from the object-event queue (S3 "Object Created" events that
//! the customers' EventBridge rules forward to the deployment's bus) in, the keys they name
//! imported per connection, and the messages to deliver again out.
//!
//! Sorting the batch is [`connector_core::intake::sort`]; deciding and importing each key is the
//! engine's run of named keys, with the scan's selection rule, ledger and lease, so that nothing
//! is imported twice whatever the mix of events, retries and scans. What this adds is what to do
//! when a connection cannot run now:
//! - paused, needing re-authentication or pending: its keys are kept for its next run;
//! - another run holds its lease: its keys are kept, then the lease is tried once more. Either that
//!   run takes them, or the holder, which let go of the lease after the keys were kept, starts a
//!   run of them ([`connector_aws::Deployment::next_run`]);
//! - a run that needs more than this invocation's time hands over to the worker, and a connection
//!   whose turn comes after the hand-over time has its keys kept and run by the worker.
//!
//! A message is handed back to the queue (a batch item failure) only when a run of one of its
//! connections failed on something a retry can change, or its keys could not be kept.

pub mod poller;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use connector_aws::metrics::Metrics;
use connector_aws::{Deployment, SyncRequest};
use connector_core::dispatch::{invoke_with_retries, WorkerInvoker, WorkerRequest};
use connector_core::engine::{SyncError, SyncOutcome};
use connector_core::intake::{sort, ConnectionKeys, Message, Tally};
use connector_core::model::NamedKey;
use connector_core::ports::{StoreError, SyncStore};
use futures::StreamExt;
use std::collections::BTreeSet;
use std::time::Instant;
use tracing::{info, warn};

#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// Connections whose keys are imported at once.
    pub concurrency: usize,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig { concurrency: 4 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The connections of a bucket could not be read: the whole batch comes back.
    #[error("routing the batch: {0}")]
    Routing(#[from] StoreError),
}

/// What became of one connection's keys.
enum Done {
    Ran,
    Kept,
    /// Its messages go back to the queue.
    Failed(String),
}

/// Imports the keys a batch names; the messages to deliver again are the response's failures.
pub async fn handle(
    deployment: &Deployment,
    workers: &dyn WorkerInvoker,
    metrics: &Metrics,
    config: &IntakeConfig,
    event: SqsEvent,
    hand_over_at: Option<Instant>,
) -> Result<(SqsBatchResponse, Tally), IntakeError> {
    let messages: Vec<Message> = event
        .records
        .into_iter()
        .map(|m| Message { id: m.message_id.unwrap_or_default(), body: m.body.unwrap_or_default() })
        .collect();
    let sorted = sort(&messages, &deployment.state).await?;
    let mut tally = Tally {
        messages: messages.len() as u64,
        routed: sorted.routed,
        dropped: sorted.dropped.clone(),
        ..Tally::default()
    };
    let mut failed = BTreeSet::new();
    for (connection_id, keys) in &sorted.waiting {
        match keep(deployment, connection_id, &keys.keys).await {
            Ok(()) => tally.kept += 1,
            Err(e) => {
                warn!(connection_id, error = %e, "could not keep the keys of a connection that cannot run; handed back");
                failed.extend(keys.messages.iter().cloned());
            }
        }
    }
    let runs = futures::stream::iter(&sorted.now)
        .map(|(connection_id, keys)| async move {
            (keys, run(deployment, workers, connection_id, keys, hand_over_at).await)
        })
        .buffer_unordered(config.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    for (keys, done) in runs {
        match done {
            Done::Ran => tally.runs += 1,
            Done::Kept => tally.kept += 1,
            Done::Failed(error) => {
                warn!(%error, messages = keys.messages.len(), "a run of named keys failed; its messages are handed back");
                failed.extend(keys.messages.iter().cloned());
            }
        }
    }
    tally.failed_messages = failed.len() as u64;
    info!(?tally, "batch done");
    metrics.emit(&metrics.for_intake(&tally, chrono::Utc::now()));
    let mut response = SqsBatchResponse::default();
    for id in failed {
        response.add_failure(id);
    }
    Ok((response, tally))
}

/// Runs one connection's keys now, or keeps them for its next run.
async fn run(
    deployment: &Deployment,
    workers: &dyn WorkerInvoker,
    connection_id: &str,
    keys: &ConnectionKeys,
    hand_over_at: Option<Instant>,
) -> Done {
    if hand_over_at.is_some_and(|at| Instant::now() >= at) {
        // No time left in this invocation for a run (the others of the batch took it): the keys
        // are kept and the worker runs them.
        if let Err(e) = keep(deployment, connection_id, &keys.keys).await {
            return Done::Failed(format!("keeping keys at the hand-over time: {e}"));
        }
        return match invoke_with_retries(workers, &WorkerRequest::for_kept_keys(connection_id), 5).await {
            Ok(()) => Done::Kept,
            Err(e) => Done::Failed(format!("handing kept keys to the worker: {e}")),
        };
    }
    let sync = |named| SyncRequest { hand_over_at, named: Some(named), ..SyncRequest::new(connection_id) };
    let mut synced = deployment.sync(sync(&keys.keys)).await;
    if let Ok(SyncOutcome::LeaseHeld { .. }) = synced {
        // Kept first, then the lease tried again: if it is still held, its holder lets go after the
        // keys were kept, and starts a run of them.
        if let Err(e) = keep(deployment, connection_id, &keys.keys).await {
            return Done::Failed(format!("keeping keys while the lease is held: {e}"));
        }
        synced = deployment.sync(sync(&[])).await;
        if let Ok(SyncOutcome::LeaseHeld { .. }) = synced {
            info!(connection_id, "another run holds the lease; it takes the kept keys on when it ends");
            return Done::Kept;
        }
    }
    match synced {
        Ok(SyncOutcome::Completed(_)) => {
            follow_up(workers, deployment.next_run(connection_id).await).await;
            Done::Ran
        }
        Ok(SyncOutcome::HandedOver { .. }) => {
            // The keys are in the run's checkpoint; the worker goes on with it. A request for kept
            // keys: should another invocation finish the checkpoint first, it lists nothing.
            match invoke_with_retries(workers, &WorkerRequest::for_kept_keys(connection_id), 5).await {
                Ok(()) => Done::Ran,
                Err(e) => Done::Failed(format!("handing over to the worker: {e}")),
            }
        }
        // Its status changed since the batch was sorted: as if it had been sorted so.
        Ok(SyncOutcome::NotSyncable { .. }) | Ok(SyncOutcome::LeaseHeld { .. }) => {
            match keep(deployment, connection_id, &keys.keys).await {
                Ok(()) => Done::Kept,
                Err(e) => Done::Failed(format!("keeping keys: {e}")),
            }
        }
        Ok(SyncOutcome::AlreadySynced { .. }) => Done::Ran,
        // Deleted since the batch was sorted: nothing is to be imported for it.
        Err(SyncError::ConnectionNotFound(_)) => Done::Ran,
        Err(e) => Done::Failed(e.to_string()),
    }
}

async fn follow_up(workers: &dyn WorkerInvoker, request: Option<WorkerRequest>) {
    if let Some(request) = request {
        if let Err(e) = invoke_with_retries(workers, &request, 5).await {
            warn!(error = %e, "could not start a run of the kept keys; the next run takes them");
        }
    }
}

/// Keeps keys for the connection's next run, as long as the ledger keeps outcomes.
async fn keep(deployment: &Deployment, connection_id: &str, keys: &[NamedKey]) -> Result<(), StoreError> {
    let expires_at = chrono::Utc::now() + deployment.settings.sync.ledger_retention;
    deployment.state.keep_named(connection_id, keys, expires_at).await
}
