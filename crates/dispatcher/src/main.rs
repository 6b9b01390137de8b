//! Dispatcher Lambda: run by the EventBridge schedule, invokes the worker once per active connection.
//! `S3C_WORKER_FUNCTION` names the worker; `S3C_DISPATCH_CONCURRENCY` bounds invocations in flight;
//! metrics go to `S3C_METRICS_NAMESPACE` with the dimension `Deployment` = `S3C_DEPLOYMENT`.

mod handler;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use connector_aws::invoke::LambdaInvoker;
use connector_aws::metrics::Metrics;
use connector_aws::Deployment;
use connector_core::dispatch::DispatchConfig;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    connector_aws::init_lambda_tracing();
    let connector = Deployment::from_env().await?;
    let function = std::env::var("S3C_WORKER_FUNCTION").map_err(|_| "S3C_WORKER_FUNCTION is not set")?;
    let mut config = DispatchConfig::default();
    if let Ok(n) = std::env::var("S3C_DISPATCH_CONCURRENCY") {
        config.concurrency = n.parse().map_err(|e| format!("S3C_DISPATCH_CONCURRENCY '{n}': {e}"))?;
    }
    let workers = LambdaInvoker { client: connector.aws.lambda(), function };
    let metrics = Metrics::from_env();
    let (connector, workers, config, metrics) = (&connector, &workers, &config, &metrics);
    run(service_fn(move |event: LambdaEvent<EventBridgeEvent>| async move {
        handler::handle(connector, workers, config, metrics, event.payload).await.map_err(Error::from)
    }))
    .await
}
