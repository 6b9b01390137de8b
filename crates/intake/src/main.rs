//! Intake Lambda, fed by the object-event queue through an event source mapping (with
//! ReportBatchItemFailures): imports the keys S3 object events name. `S3C_WORKER_FUNCTION` names the
//! worker that long runs are handed over to; `S3C_INTAKE_CONCURRENCY` bounds the connections run
//! at once.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use connector_aws::invoke::LambdaInvoker;
use connector_aws::metrics::Metrics;
use connector_aws::Deployment;
use intake::IntakeConfig;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

/// The worker's allocator, for the same reason (BENCHMARKS.md, whole-worker CPU cost).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    connector_aws::init_lambda_tracing();
    let connector = Deployment::from_env().await?;
    let function = std::env::var("S3C_WORKER_FUNCTION").map_err(|_| "S3C_WORKER_FUNCTION is not set")?;
    let mut config = IntakeConfig::default();
    if let Ok(n) = std::env::var("S3C_INTAKE_CONCURRENCY") {
        config.concurrency = n.parse().map_err(|e| format!("S3C_INTAKE_CONCURRENCY '{n}': {e}"))?;
    }
    let workers = LambdaInvoker { client: connector.aws.lambda(), function };
    let metrics = Metrics::from_env();
    let margin = connector.settings.hand_over_margin;
    let (connector, workers, metrics, config) = (&connector, &workers, &metrics, &config);
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let hand_over_at = connector_aws::hand_over_at(event.context.deadline, margin);
        let (response, _) = intake::handle(connector, workers, metrics, config, event.payload, hand_over_at).await?;
        Ok::<SqsBatchResponse, Error>(response)
    }))
    .await
}
