//! Worker Lambda: `{"connection_id": "..."}` in, one sync of that connection out.

mod handler;

use connector_aws::Connector;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    connector_aws::init_lambda_tracing();
    let connector = Connector::from_env().await?;
    let connector = &connector;
    run(service_fn(move |event: LambdaEvent<connector_core::dispatch::WorkerRequest>| async move {
        handler::handle(connector, event.payload).await.map_err(Error::from)
    }))
    .await
}
