//! API Lambda: the connection management HTTP API behind API Gateway (HTTP API, IAM auth).
//! `S3C_WORKER_FUNCTION` names the worker that activation starts.

use api::{handle, Api};
use connector_aws::invoke::LambdaInvoker;
use connector_aws::Deployment;
use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    connector_aws::init_lambda_tracing();
    let deployment = Deployment::from_env().await?;
    let function = std::env::var("S3C_WORKER_FUNCTION").map_err(|_| "S3C_WORKER_FUNCTION is not set")?;
    let workers = LambdaInvoker { client: deployment.aws.lambda(), function };
    let api = Api { service: deployment.management(&workers) };
    let api = &api;
    run(service_fn(move |request: Request| async move { Ok::<_, Error>(handle(api, request).await) })).await
}
