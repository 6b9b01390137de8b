//! Authorizer Lambda: API Gateway asks it, before each dashboard route, whether the request's
//! session cookie holds a valid sign-in token (see the lib part). Reads `S3C_DASHBOARD_ISSUER`,
//! `S3C_DASHBOARD_CLIENT_ID` and optionally `S3C_DASHBOARD_DISCOVERY_URL`, as the api function does.

use authorizer::{authorize, Request, Settings};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

/// One thread: a check is a signature verification, and a small function has a fraction of a vCPU.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    connector_aws::init_lambda_tracing();
    let settings = Settings::from_env()?;
    let tokens = settings.token_check().await;
    let tokens = &tokens;
    run(service_fn(move |event: LambdaEvent<Request>| async move {
        Ok::<_, Error>(authorize(tokens, &event.payload).await)
    }))
    .await
}
