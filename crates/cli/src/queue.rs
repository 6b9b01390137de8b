//! `s3-connector intake`: the intake's handler on an object-event queue, in this process, as the
//! event source mapping runs the intake function (crates/intake: the handler and its poller).

use crate::Done;
use anyhow::Context;
use connector_aws::metrics::Metrics;
use connector_aws::Deployment;
use intake::poller::QueuePoller;
use intake::IntakeConfig;
use std::time::Duration;

/// Batches until the queue is quiet for `quiet` (or forever); one line per batch.
pub async fn run(
    deployment: &Deployment,
    queue_url: &str,
    window: Duration,
    batch_size: usize,
    quiet: Option<Duration>,
) -> anyhow::Result<Done> {
    let sqs = aws_sdk_sqs::Client::new(&deployment.aws.sdk);
    let poller = QueuePoller::new(sqs, queue_url).await.map_err(|e| anyhow::anyhow!(e)).context("reading the queue")?;
    let metrics = Metrics::from_env();
    let config = IntakeConfig::default();
    // Without --until-quiet-seconds a long poll at a time, until Ctrl-C.
    let wait = quiet.unwrap_or(Duration::from_secs(20));
    loop {
        let batch =
            poller.batch(window, batch_size, wait).await.map_err(|e| anyhow::anyhow!(e)).context("receiving")?;
        let Some(batch) = batch else {
            if quiet.is_some() {
                return Ok(Done::Ok);
            }
            continue;
        };
        // Runs that the intake hands over, and runs of kept keys, run here too.
        let handled = intake::handle(deployment, deployment, &metrics, &config, batch.event.clone(), None).await;
        let (response, tally) = handled.context("handling the batch")?;
        poller.settle(&batch, &response).await.map_err(|e| anyhow::anyhow!(e)).context("settling the batch")?;
        let d = &tally.dropped;
        let dropped = d.no_connection + d.outside_folder + d.wrong_account + d.scheduled + d.deletions;
        println!(
            "batch of {} messages in {} ms since its first: {} events routed, {} connections run, {} kept for later, {} dropped, {} handed back",
            tally.messages,
            batch.first_received.elapsed().as_millis(),
            tally.routed,
            tally.runs,
            tally.kept,
            dropped + d.other_events + d.test_messages + d.unreadable,
            tally.failed_messages,
        );
    }
}
