//! Faults injected in the HTTP path of the SDK clients, between the product's code and moto: every
//! request the SDK sends goes through [`Faults`], which records it and may answer it with an error
//! (S3's 503 SlowDown, DynamoDB's throttling), cut its response body in the middle (a connection
//! reset), hand half of a batch back as unprocessed, or shorten the life of assumed credentials.
//! The product's retries, chunk re-reads and credential refreshes then meet real faults over real
//! HTTP, and moto does the rest.

use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body_util::BodyExt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// What a request is, as much as the faults need to tell requests apart.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    /// DynamoDB's operation (`X-Amz-Target`, without its prefix), or STS's `Action`.
    pub operation: Option<String>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// An S3 request for `bucket` (moto is addressed path-style).
    pub fn is_s3(&self, bucket: &str) -> bool {
        self.operation.is_none() && self.path().trim_start_matches('/').split('/').next() == Some(bucket)
    }

    /// An S3 GetObject of `key` in `bucket`.
    pub fn is_get_object(&self, bucket: &str, key: &str) -> bool {
        self.method == "GET" && self.path() == format!("/{bucket}/{key}")
    }

    /// An S3 ListObjectsV2 of `bucket`.
    pub fn is_list(&self, bucket: &str) -> bool {
        self.method == "GET"
            && self.path().trim_end_matches('/') == format!("/{bucket}")
            && self.uri.contains("list-type=2")
    }

    pub fn is(&self, operation: &str) -> bool {
        self.operation.as_deref() == Some(operation)
    }

    fn path(&self) -> &str {
        let without_scheme = self.uri.split_once("://").map_or(self.uri.as_str(), |(_, rest)| rest);
        let path = without_scheme.find('/').map_or("/", |i| &without_scheme[i..]);
        path.split('?').next().unwrap_or(path)
    }
}

/// What to do to a request that matches.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer it without sending it: this status and body.
    Respond { status: u16, content_type: &'static str, body: String },
    /// Send it, then let its response body break after this many bytes.
    CutBody { after: usize },
    /// A BatchWriteItem or BatchGetItem: send only the first half of its items or keys and answer
    /// the rest as unprocessed, as a throttled table does.
    HalfUnprocessed,
    /// An STS AssumeRole: send it, then make the credentials expire this many seconds from now.
    ExpireIn { seconds: i64 },
    /// Send it this much later (a slow service).
    Delay { millis: u64 },
    /// Send it, and keep a copy of its response body (see [`Faults::captured`]).
    Capture,
}

impl Fault {
    /// S3's answer to a request rate it will not take.
    pub fn slow_down() -> Fault {
        Fault::Respond {
            status: 503,
            content_type: "application/xml",
            body: "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".into(),
        }
    }

    /// S3's answer when it fails inside.
    pub fn internal_error() -> Fault {
        Fault::Respond {
            status: 500,
            content_type: "application/xml",
            body: "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
                .into(),
        }
    }

    /// DynamoDB's answer past a table's capacity.
    pub fn throttled() -> Fault {
        Fault::Respond {
            status: 400,
            content_type: "application/x-amz-json-1.0",
            body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected"}"#
                .into(),
        }
    }
}

type Matcher = Box<dyn Fn(&Seen) -> bool + Send + Sync>;

struct Rule {
    matches: Matcher,
    fault: Fault,
    /// How many more matching requests get the fault (`usize::MAX`: all).
    left: usize,
    /// Matching requests to let through before the fault applies.
    skip: usize,
}

/// The faults to inject and every request seen. Cheap to clone: clones share their state.
#[derive(Clone, Default)]
pub struct Faults {
    rules: Arc<Mutex<Vec<Rule>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    injected: Arc<Mutex<Vec<(String, Fault)>>>,
    captured: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Faults")
    }
}

impl Faults {
    /// Injects `fault` into `times` requests that match, after letting `skip` of them through.
    pub fn add(
        &self,
        matches: impl Fn(&Seen) -> bool + Send + Sync + 'static,
        fault: Fault,
        skip: usize,
        times: usize,
    ) {
        self.rules.lock().unwrap().push(Rule { matches: Box::new(matches), fault, left: times, skip });
    }

    /// Every request sent so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The response bodies kept by [`Fault::Capture`].
    pub fn captured(&self) -> Vec<String> {
        self.captured.lock().unwrap().clone()
    }

    /// Every fault injected so far, with the request's URI.
    pub fn injected(&self) -> Vec<(String, Fault)> {
        self.injected.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
        self.seen.lock().unwrap().clear();
        self.injected.lock().unwrap().clear();
    }

    fn fault_for(&self, seen: &Seen) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let rule = rules.iter_mut().find(|r| r.left > 0 && (r.matches)(seen))?;
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        rule.left = rule.left.saturating_sub(1);
        self.injected.lock().unwrap().push((seen.uri.clone(), rule.fault.clone()));
        Some(rule.fault.clone())
    }

    /// `inner` with these faults in its path.
    pub fn wrap(&self, inner: SharedHttpClient) -> SharedHttpClient {
        let faults = self.clone();
        http_client_fn(move |settings, components| {
            SharedHttpConnector::new(FaultyConnector {
                inner: inner.http_connector(settings, components),
                faults: faults.clone(),
            })
        })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Faults,
}

fn seen(request: &HttpRequest) -> Seen {
    let headers: Vec<(String, String)> =
        request.headers().iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    let target = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("x-amz-target")).map(|(_, v)| v.clone());
    let action = request.body().bytes().and_then(|b| {
        let form = std::str::from_utf8(b).ok()?;
        form.split('&').find_map(|pair| pair.strip_prefix("Action=")).map(str::to_owned)
    });
    Seen {
        method: request.method().to_owned(),
        uri: request.uri().to_owned(),
        operation: target.map(|t| t.rsplit('.').next().unwrap_or(&t).to_owned()).or(action),
        headers,
    }
}

fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> HttpResponse {
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).expect("a valid status"), SdkBody::from(body.into()));
    response.headers_mut().insert("content-type", content_type.to_owned());
    response
}

async fn body_bytes(body: SdkBody) -> Bytes {
    body.collect().await.map(|c| c.to_bytes()).unwrap_or_default()
}

impl HttpConnector for FaultyConnector {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        let seen = seen(&request);
        self.faults.seen.lock().unwrap().push(seen.clone());
        let Some(fault) = self.faults.fault_for(&seen) else { return self.inner.call(request) };
        let inner = self.inner.clone();
        match fault {
            Fault::Respond { status, content_type, body } => {
                HttpConnectorFuture::ready(Ok(respond(status, content_type, body)))
            }
            Fault::Capture => {
                let captured = self.faults.captured.clone();
                HttpConnectorFuture::new(async move {
                    let mut response = inner.call(request).await?;
                    let body = body_bytes(response.take_body()).await;
                    captured.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
                    *response.body_mut() = SdkBody::from(body);
                    Ok(response)
                })
            }
            Fault::Delay { millis } => HttpConnectorFuture::new(async move {
                tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
                inner.call(request).await
            }),
            Fault::CutBody { after } => HttpConnectorFuture::new(async move {
                let mut response = inner.call(request).await?;
                let body = response.take_body();
                *response.body_mut() = SdkBody::from_body_1_x(CutBody { inner: body, left: after });
                Ok(response)
            }),
            Fault::ExpireIn { seconds } => HttpConnectorFuture::new(async move {
                let mut response = inner.call(request).await?;
                let text = String::from_utf8_lossy(&body_bytes(response.take_body()).await).into_owned();
                let expiration = (chrono::Utc::now() + chrono::TimeDelta::seconds(seconds)).to_rfc3339();
                let rewritten = match (text.find("<Expiration>"), text.find("</Expiration>")) {
                    (Some(start), Some(end)) => {
                        format!("{}<Expiration>{expiration}{}", &text[..start], &text[end..])
                    }
                    _ => text,
                };
                *response.body_mut() = SdkBody::from(rewritten);
                response.headers_mut().remove("content-length");
                Ok(response)
            }),
            Fault::HalfUnprocessed => HttpConnectorFuture::new(async move {
                let body = request.body().bytes().map(Bytes::copy_from_slice).unwrap_or_default();
                let Ok(mut document) = serde_json::from_slice::<serde_json::Value>(&body) else {
                    return inner.call(request).await;
                };
                let get =
                    document["RequestItems"].as_object().is_some_and(|t| t.values().any(|v| v.get("Keys").is_some()));
                let mut unprocessed = serde_json::Map::new();
                for (table, items) in document["RequestItems"].as_object_mut().into_iter().flatten() {
                    let list = if get { &mut items["Keys"] } else { &mut *items };
                    let all = list.as_array_mut().expect("a list of requests");
                    let rest = all.split_off(all.len().div_ceil(2));
                    if rest.is_empty() {
                        continue;
                    }
                    // BatchGetItem hands back the keys with the rest of the table's request.
                    let handed_back = if get {
                        let mut request = items.clone();
                        request["Keys"] = rest.into();
                        request
                    } else {
                        rest.into()
                    };
                    unprocessed.insert(table.clone(), handed_back);
                }
                let sent = serde_json::to_vec(&document).expect("JSON");
                *request.body_mut() = SdkBody::from(sent.clone());
                request.headers_mut().insert("content-length", sent.len().to_string());
                let mut response = inner.call(request).await?;
                let answer = body_bytes(response.take_body()).await;
                let mut answer: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
                answer[if get { "UnprocessedKeys" } else { "UnprocessedItems" }] = unprocessed.into();
                *response.body_mut() = SdkBody::from(serde_json::to_vec(&answer).expect("JSON"));
                response.headers_mut().remove("content-length");
                response.headers_mut().remove("x-amz-crc32");
                Ok(response)
            }),
        }
    }
}

/// A response body that breaks, as a reset connection does, after `left` bytes.
struct CutBody {
    inner: SdkBody,
    left: usize,
}

impl http_body::Body for CutBody {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(Some(Err("connection reset by peer (injected)".into())));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(mut data) => {
                    if data.len() > self.left {
                        data.truncate(self.left);
                    }
                    self.left -= data.len();
                    Poll::Ready(Some(Ok(http_body::Frame::data(data))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            // The body ended before the cut: cut at its end.
            Poll::Ready(None) => {
                self.left = 0;
                Poll::Ready(Some(Err("connection reset by peer (injected)".into())))
            }
            other => other,
        }
    }
}
