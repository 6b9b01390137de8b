//! Worker Lambda: `{"connection_id": "..."}` in, one sync of that connection out. A sync that needs
//! more than one invocation's time hands over to a new invocation of this same function.

use connector_aws::invoke::LambdaInvoker;
use connector_aws::metrics::Metrics;
use connector_aws::Deployment;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

/// mimalloc rather than glibc's allocator: the engine allocates per row and frees on other threads
/// (records made by the parser thread are written and dropped by the runtime's), where glibc's
/// arenas cost a third of the worker's CPU (BENCHMARKS.md, whole-worker CPU cost).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One thread for the runtime: a Lambda of the worker's size has about a third of a vCPU, and the
/// parser runs on a blocking thread of its own anyway; the multi-thread scheduler only adds wake-ups.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    connector_aws::init_lambda_tracing();
    let connector = Deployment::from_env().await?;
    let connector = &connector;
    // Lambda names the function it runs; the next part of a run goes to the same function.
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "worker".into());
    let next = LambdaInvoker { client: connector.aws.lambda(), function };
    let next = &next;
    let margin = connector.settings.hand_over_margin;
    // S3C_METRICS_NAMESPACE, and S3C_DEPLOYMENT for the metrics' one dimension.
    let metrics = Metrics::from_env();
    let metrics = &metrics;
    run(service_fn(move |event: LambdaEvent<connector_core::dispatch::WorkerRequest>| async move {
        let hand_over_at = connector_aws::hand_over_at(event.context.deadline, margin);
        worker::handle(connector, event.payload, hand_over_at, next, metrics).await.map_err(Error::from)
    }))
    .await
}
