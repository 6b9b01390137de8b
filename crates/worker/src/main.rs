//! Worker Lambda: `{"connection_id": "..."}` in, one sync of that connection out.

mod handler;

use connector_aws::Connector;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let connector = Connector::from_env().await?;
    let connector = &connector;
    run(service_fn(move |event: LambdaEvent<connector_core::dispatch::WorkerRequest>| async move {
        handler::handle(connector, event.payload).await.map_err(Error::from)
    }))
    .await
}

/// JSON logs under Lambda's JSON log format, plain text otherwise.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).without_time();
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}
