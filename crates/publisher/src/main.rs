//! Publisher Lambda: the custom resource that puts roles/customer-role.yaml in the deployment's
//! role template bucket (see the lib part). Called by CloudFormation only, at deploys.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    connector_aws::init_lambda_tracing();
    let s3 = connector_aws::config::Aws::from_env().await.s3_own();
    let http = reqwest::Client::new();
    let (s3, http) = (&s3, &http);
    run(service_fn(move |event: LambdaEvent<publisher::Request>| async move {
        publisher::handle(s3, http, &event.payload).await.map_err(Error::from)
    }))
    .await
}
