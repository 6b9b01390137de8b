//! The AWS requests a deployment's SDK clients send, counted by service and operation.
//!
//! The count is taken in the HTTP path: [`RequestCounter::aws`] sets, on the `SdkConfig` a
//! [`connector_aws::Deployment`] is built from, an HTTP client that wraps the SDK's own and notes
//! every request it is handed. Every client the deployment builds from that config goes through it
//! (S3 with a connection's role, STS, DynamoDB, EventBridge, Lambda), and so do the refreshes of the
//! assumed role's credentials, which `AssumeRoleProvider` makes with a client of its own from the
//! same config; each retry is a request of its own. An interceptor (`aws_smithy_runtime_api`'s
//! `Intercept`) would name the operation directly, but it is set per client, and `SdkConfig` takes
//! none (aws-types 1.7): it would take a hook in every client factory of `connector_aws::config::Aws`
//! and would still miss the credentials provider's client.
//!
//! The service is the signing name in the request's SigV4 credential scope; the operation is the
//! JSON protocols' `X-Amz-Target` (DynamoDB, SQS, EventBridge), the query protocol's `Action` (STS),
//! or for S3's REST API what the method and URI say (moto is addressed path-style).

use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use connector_aws::config::Aws;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Requests of one operation: how many were sent, and how many were answered with a status of 400
/// or more or not answered at all (a HEAD of a missing key, a conditional write that lost).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counted {
    pub requests: u64,
    pub errors: u64,
}

/// One line of a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperationCount {
    pub service: String,
    pub operation: String,
    pub requests: u64,
    pub errors: u64,
}

/// Counts the requests of the clients built from [`RequestCounter::aws`]. Clones share the count.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<Mutex<BTreeMap<(String, String), Counted>>>);

impl RequestCounter {
    /// `aws`'s configuration with every request counted here, sent by the SDK's own HTTP client
    /// (hyper; plain HTTP, as moto listens).
    pub fn aws(&self, aws: &Aws) -> Aws {
        let inner = aws_smithy_http_client::Builder::new().build_http();
        Aws::from_sdk(aws.sdk.clone().into_builder().http_client(self.wrap(inner)).build())
    }

    /// `inner`, with each request it sends counted here.
    pub fn wrap(&self, inner: SharedHttpClient) -> SharedHttpClient {
        let counter = self.clone();
        http_client_fn(move |settings, components| {
            SharedHttpConnector::new(CountingConnector {
                inner: inner.http_connector(settings, components),
                counter: counter.clone(),
            })
        })
    }

    /// The count so far, by service and operation, and a fresh start.
    pub fn take(&self) -> Vec<OperationCount> {
        let counts = std::mem::take(&mut *self.0.lock().expect("the count's lock"));
        counts
            .into_iter()
            .map(|((service, operation), c)| OperationCount {
                service,
                operation,
                requests: c.requests,
                errors: c.errors,
            })
            .collect()
    }

    fn add(&self, service: String, operation: String, error: bool) {
        let mut counts = self.0.lock().expect("the count's lock");
        let counted = counts.entry((service, operation)).or_default();
        counted.requests += 1;
        counted.errors += u64::from(error);
    }
}

#[derive(Debug)]
struct CountingConnector {
    inner: SharedHttpConnector,
    counter: RequestCounter,
}

impl HttpConnector for CountingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (service, operation) = operation_of(&request);
        let counter = self.counter.clone();
        let sent = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let answer = sent.await;
            let error = answer.as_ref().map_or(true, |response| response.status().as_u16() >= 400);
            counter.add(service, operation, error);
            answer
        })
    }
}

/// The service and operation of a signed request.
pub fn operation_of(request: &HttpRequest) -> (String, String) {
    let headers = request.headers();
    let service = headers
        .get("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or("unsigned")
        .to_owned();
    if let Some(target) = headers.get("x-amz-target") {
        return (service, target.rsplit('.').next().unwrap_or(target).to_owned());
    }
    let action = request.body().bytes().and_then(|body| {
        let form = std::str::from_utf8(body).ok()?;
        form.split('&').find_map(|pair| pair.strip_prefix("Action=")).map(str::to_owned)
    });
    if let Some(action) = action {
        return (service, action);
    }
    let method = request.method();
    let uri = request.uri();
    let without_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let path_and_query = without_scheme.find('/').map_or("/", |i| &without_scheme[i..]);
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let operation = match service.as_str() {
        "s3" => s3_operation(method, path, query),
        "lambda" if path.ends_with("/invocations") => "Invoke".to_owned(),
        _ => format!("{method} {path}"),
    };
    (service, operation)
}

/// What a path-style S3 request is, for the operations the connector sends.
fn s3_operation(method: &str, path: &str, query: &str) -> String {
    let object = path.trim_start_matches('/').split_once('/').is_some_and(|(_, key)| !key.is_empty());
    let has = |name: &str| query.split('&').any(|pair| pair.split('=').next() == Some(name));
    match (method, object) {
        ("HEAD", true) => "HeadObject".into(),
        ("GET", true) => "GetObject".into(),
        ("PUT", true) => "PutObject".into(),
        ("GET", false) if has("list-type") => "ListObjectsV2".into(),
        ("GET", false) => "ListObjects".into(),
        ("HEAD", false) => "HeadBucket".into(),
        (method, _) => format!("{method} {}", if object { "object" } else { "bucket" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn request(method: &str, uri: &str, headers: &[(&'static str, &str)], body: &str) -> HttpRequest {
        let mut request = HttpRequest::new(body.to_owned().into());
        request.set_method(method).expect("a method");
        request.set_uri(uri).expect("a URI");
        for (name, value) in headers {
            request.headers_mut().insert(*name, value.to_string());
        }
        request
    }

    fn signed(service: &str) -> (&'static str, String) {
        ("authorization", format!("AWS4-HMAC-SHA256 Credential=testing/20261125/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"))
    }

    #[test]
    fn requests_are_named_by_their_service_and_operation() {
        let cases = [
            ("HEAD", "http://127.0.0.1:5000/bucket/in/a.csv", "s3", None, "", "HeadObject"),
            ("GET", "http://127.0.0.1:5000/bucket/in/a.csv", "s3", None, "", "GetObject"),
            ("GET", "http://127.0.0.1:5000/bucket?list-type=2&prefix=in%2F", "s3", None, "", "ListObjectsV2"),
            ("GET", "http://127.0.0.1:5000/bucket/?list-type=2", "s3", None, "", "ListObjectsV2"),
            (
                "POST",
                "http://127.0.0.1:5000/",
                "dynamodb",
                Some("DynamoDB_20120810.BatchWriteItem"),
                "{}",
                "BatchWriteItem",
            ),
            ("POST", "http://127.0.0.1:5000/", "sqs", Some("AmazonSQS.ReceiveMessage"), "{}", "ReceiveMessage"),
            ("POST", "http://127.0.0.1:5000/", "events", Some("AWSEvents.PutEvents"), "{}", "PutEvents"),
            ("POST", "http://127.0.0.1:5000/", "sts", None, "Action=AssumeRole&Version=2011-06-15", "AssumeRole"),
            ("POST", "http://127.0.0.1:5000/2015-03-31/functions/worker/invocations", "lambda", None, "{}", "Invoke"),
        ];
        for (method, uri, service, target, body, operation) in cases {
            let (name, value) = signed(service);
            let mut headers = vec![(name, value.as_str())];
            if let Some(target) = target {
                headers.push(("x-amz-target", target));
            }
            let seen = operation_of(&request(method, uri, &headers, body));
            assert_eq!(seen, (service.to_owned(), operation.to_owned()), "{method} {uri}");
        }
    }
}
