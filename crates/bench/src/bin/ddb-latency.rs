//! A DynamoDB `BatchWriteItem` endpoint with a fixed latency, for benchmarks only (never the test
//! suite): `POST /` with `X-Amz-Target: DynamoDB_20120810.BatchWriteItem` is answered
//! `{"UnprocessedItems":{}}` once `--latency-ms` have passed since its request head arrived. It counts
//! the PutRequest entries it receives: `GET /stats` answers the totals as JSON, `POST /reset` restarts
//! the in-flight high-water mark, and SIGTERM or SIGINT prints the totals to stderr and exits.
//!
//! Usage: `ddb-latency [--latency-ms 10] [--port 0]`; prints `http://127.0.0.1:PORT` on its first line.
//!
//! The wait is a thread sleep (nanosleep, tens of microseconds late) on tokio's blocking pool rather
//! than `tokio::time::sleep`, whose millisecond timer wheel rounds every wait up by up to 1 ms: 10%
//! of a 10 ms latency, which would be charged to the client under test.

use bench::{CpuTime, Stats};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

const BATCH_WRITE_ITEM: &str = "DynamoDB_20120810.BatchWriteItem";
const JSON_1_0: &str = "application/x-amz-json-1.0";

#[derive(Parser)]
#[command(about = "A DynamoDB BatchWriteItem endpoint that answers after a fixed latency (benchmarks only)")]
struct Args {
    /// How long each BatchWriteItem is held before its answer, in milliseconds.
    #[arg(long, default_value_t = 10.0)]
    latency_ms: f64,
    /// The port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    items: AtomicU64,
    connections: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    held_nanos: AtomicU64,
}

struct Endpoint {
    latency: Duration,
    counters: Counters,
}

impl Endpoint {
    fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            latency_ms: self.latency.as_secs_f64() * 1e3,
            requests: c.requests.load(Ordering::Relaxed),
            items: c.items.load(Ordering::Relaxed),
            connections: c.connections.load(Ordering::Relaxed),
            in_flight: c.in_flight.load(Ordering::Relaxed),
            max_in_flight: c.max_in_flight.load(Ordering::Relaxed),
            held_seconds: c.held_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            cpu_seconds: CpuTime::now().total(),
        }
    }

    /// Serves one request; `first` is set until the connection's first BatchWriteItem is counted.
    async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        first: Arc<AtomicBool>,
    ) -> Result<Response<Full<Bytes>>, hyper::Error> {
        let arrived = Instant::now();
        match (request.method(), request.uri().path()) {
            (&Method::POST, "/") => {}
            (&Method::GET, "/stats") => return Ok(json(StatusCode::OK, &self.stats())),
            (&Method::POST, "/reset") => {
                let c = &self.counters;
                c.max_in_flight.store(c.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
                return Ok(json(StatusCode::OK, &self.stats()));
            }
            _ => return Ok(error(StatusCode::NOT_FOUND, "UnknownOperationException", "no such route")),
        }
        let target = request.headers().get("x-amz-target").and_then(|t| t.to_str().ok()).unwrap_or_default();
        if target != BATCH_WRITE_ITEM {
            let message = format!("only {BATCH_WRITE_ITEM} is served here, not '{target}'");
            return Ok(error(StatusCode::BAD_REQUEST, "UnknownOperationException", &message));
        }
        let c = &self.counters;
        if first.swap(false, Ordering::Relaxed) {
            c.connections.fetch_add(1, Ordering::Relaxed);
        }
        let now_in_flight = c.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        c.max_in_flight.fetch_max(now_in_flight, Ordering::Relaxed);
        let body = request.into_body().collect().await.map(|b| b.to_bytes());
        let items = body.as_ref().ok().map(|b| serde_json::from_slice::<BatchWrite>(b).map(|w| w.puts()));
        let deadline = arrived + self.latency;
        if !self.latency.is_zero() {
            // Join errors cannot happen: the closure does not panic.
            let _ = tokio::task::spawn_blocking(move || {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            })
            .await;
        }
        c.in_flight.fetch_sub(1, Ordering::Relaxed);
        match (body, items) {
            (Err(e), _) => Err(e),
            (_, Some(Ok(items))) => {
                c.requests.fetch_add(1, Ordering::Relaxed);
                c.items.fetch_add(items, Ordering::Relaxed);
                c.held_nanos.fetch_add(arrived.elapsed().as_nanos() as u64, Ordering::Relaxed);
                Ok(Response::builder()
                    .header("content-type", JSON_1_0)
                    .body(Full::new(Bytes::from_static(br#"{"UnprocessedItems":{}}"#)))
                    .expect("a static response is valid"))
            }
            (_, _) => Ok(error(StatusCode::BAD_REQUEST, "SerializationException", "not a BatchWriteItem request")),
        }
    }
}

/// The part of a BatchWriteItem request the endpoint reads: how many puts, per table; the items
/// themselves are scanned, not built.
#[derive(Deserialize)]
struct BatchWrite {
    #[serde(rename = "RequestItems")]
    request_items: HashMap<String, Vec<WriteRequest>>,
}

#[derive(Deserialize)]
struct WriteRequest {
    #[serde(rename = "PutRequest")]
    put_request: Option<IgnoredAny>,
}

impl BatchWrite {
    fn puts(&self) -> u64 {
        self.request_items.values().flatten().filter(|w| w.put_request.is_some()).count() as u64
    }
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(value).unwrap_or_default())))
        .expect("a JSON response is valid")
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": message});
    let mut response = json(status, &body);
    response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static(JSON_1_0));
    response
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.latency_ms >= 0.0 && args.latency_ms.is_finite(), "--latency-ms must be >= 0");
    let endpoint =
        Arc::new(Endpoint { latency: Duration::from_secs_f64(args.latency_ms / 1e3), counters: Counters::default() });
    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    let address = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "http://{address}")?;
        out.flush()?;
    }
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        };
        // Answers are small and written at once; no reason to let Nagle hold them.
        stream.set_nodelay(true)?;
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let first = Arc::new(AtomicBool::new(true));
            let service = service_fn(move |request| endpoint.clone().handle(request, first.clone()));
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                eprintln!("ddb-latency: connection: {e}");
            }
        });
    }
    eprintln!("ddb-latency: {}", serde_json::to_string(&endpoint.stats())?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_put_requests_of_every_table() {
        let body = br#"{"RequestItems": {
            "a": [{"PutRequest": {"Item": {"pk": {"S": "x"}, "n": {"M": {"q": {"N": "1"}}}}}},
                  {"DeleteRequest": {"Key": {"pk": {"S": "y"}}}}],
            "b": [{"PutRequest": {"Item": {"pk": {"S": "z"}}}}]}}"#;
        assert_eq!(serde_json::from_slice::<BatchWrite>(body).unwrap().puts(), 2);
        assert!(serde_json::from_slice::<BatchWrite>(b"{}").is_err(), "RequestItems is required");
    }
}
