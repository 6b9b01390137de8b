//! Starts worker invocations through the Lambda API (asynchronous: InvocationType Event).

use crate::errors::describe;
use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use connector_core::dispatch::{InvokeError, WorkerInvoker, WorkerRequest};

pub struct LambdaInvoker {
    pub client: aws_sdk_lambda::Client,
    /// Name or ARN of the worker function.
    pub function: String,
}

#[async_trait]
impl WorkerInvoker for LambdaInvoker {
    async fn invoke(&self, request: &WorkerRequest) -> Result<(), InvokeError> {
        let payload = serde_json::to_vec(request)
            .map_err(|e| InvokeError { retryable: false, message: format!("encoding the request: {e}") })?;
        let result = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let throttled = e.as_service_error().is_some_and(|s| s.is_too_many_requests_exception());
                let retryable =
                    throttled || status.is_some_and(|s| s == 429 || s >= 500) || e.as_service_error().is_none();
                Err(InvokeError { retryable, message: describe(&e) })
            }
        }
    }
}
