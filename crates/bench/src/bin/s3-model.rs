//! A model of S3 for benchmarks only (never the test suite): one bucket, `bench`, holding one
//! object, served with S3's first-byte latency and a per-connection bandwidth. The object is either a
//! CSV, `payments.csv`, of payment rows padded to a fixed width and generated as they are sent (so
//! the object can be larger than memory), or a file on disk (`--file`, e.g. a Parquet file written
//! by `parquet-file`), read range by range. It lets a benchmark compare one GetObject stream with
//! ranged GETs fetched ahead, and stream a 5 GB object through the worker; moto cannot: it answers
//! every ranged GET by reading the whole object first, and keeps objects in memory.
//!
//! Served: `GET /bench?list-type=2` (ListObjectsV2: the one object), `GET` and `HEAD /bench/KEY`
//! (206 with Content-Range for `Range: bytes=a-b` or `bytes=a-`; If-Match checked against the ETag).
//! Each answer waits `--ttfb-ms`, then sends its body in 256 KiB frames no faster than
//! `--mb-per-second` (10^6 bytes) per connection.
//!
//! Usage: `s3-model [--rows 2000000] [--row-bytes 80] [--ttfb-ms 20] [--mb-per-second 80] [--port 0]
//! [--file PATH [--key KEY]]`; prints `http://127.0.0.1:PORT` on its first line and the object's size
//! on its second. Every generated row is `--row-bytes` long: the payment columns of
//! `bench::payment_row`, then an unmapped `padding` column.

use anyhow::Context;
use bytes::Bytes;
use clap::Parser;
use futures::StreamExt;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const BUCKET: &str = "/bench";
const ETAG: &str = "\"s3-model\"";
const FRAME: u64 = 256 * 1024;

#[derive(Parser)]
#[command(about = "S3 with a first-byte latency and a per-connection bandwidth, one object (benchmarks only)")]
struct Args {
    /// Rows in the object.
    #[arg(long, default_value_t = 2_000_000)]
    rows: u64,
    /// Bytes of every row, line end included (at least 80).
    #[arg(long, default_value_t = 80)]
    row_bytes: u64,
    /// Time to the first byte of each answer.
    #[arg(long, default_value_t = 20.0)]
    ttfb_ms: f64,
    /// Bandwidth of one connection, in MB (10^6 bytes) per second.
    #[arg(long, default_value_t = 80.0)]
    mb_per_second: f64,
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Serve this file (read range by range, never whole) instead of generated rows.
    #[arg(long)]
    file: Option<PathBuf>,
    /// The object's key.
    #[arg(long, default_value = "payments.csv")]
    key: String,
}

/// The object: a header line, then `rows` lines of exactly `row_bytes`.
struct Object {
    header: String,
    rows: u64,
    row_bytes: u64,
}

impl Object {
    fn len(&self) -> u64 {
        self.header.len() as u64 + self.rows * self.row_bytes
    }

    /// The bytes `start..end` of the object.
    fn bytes(&self, start: u64, end: u64) -> Bytes {
        let header = self.header.len() as u64;
        let mut out = Vec::with_capacity((end - start) as usize);
        if start < header {
            out.extend_from_slice(&self.header.as_bytes()[start as usize..header.min(end) as usize]);
        }
        let first = start.max(header) - header;
        let mut row = first / self.row_bytes;
        let mut line = String::with_capacity(self.row_bytes as usize);
        while header + row * self.row_bytes < end && row < self.rows {
            line.clear();
            bench::payment_row(row as usize, &mut line);
            line.push(',');
            let padding = (self.row_bytes as usize).saturating_sub(line.len() + 1);
            line.extend(std::iter::repeat_n('x', padding));
            line.push('\n');
            let row_start = header + row * self.row_bytes;
            let from = start.max(row_start) - row_start;
            let to = end.min(row_start + self.row_bytes) - row_start;
            out.extend_from_slice(&line.as_bytes()[from as usize..to as usize]);
            row += 1;
        }
        Bytes::from(out)
    }
}

/// What the one object holds.
enum Content {
    Generated(Object),
    File { file: Arc<std::fs::File>, len: u64 },
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Generated(object) => object.len(),
            Content::File { len, .. } => *len,
        }
    }

    /// The bytes `start..end` of the object (a file's read on a blocking thread).
    async fn bytes(&self, start: u64, end: u64) -> std::io::Result<Bytes> {
        match self {
            Content::Generated(object) => Ok(object.bytes(start, end)),
            Content::File { file, .. } => {
                let file = file.clone();
                tokio::task::spawn_blocking(move || {
                    let mut out = vec![0; (end - start) as usize];
                    file.read_exact_at(&mut out, start)?;
                    Ok(Bytes::from(out))
                })
                .await?
            }
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            Content::Generated(_) => "text/csv",
            Content::File { .. } => "application/octet-stream",
        }
    }
}

struct Model {
    content: Content,
    key: String,
    last_modified: chrono::DateTime<chrono::Utc>,
    ttfb: Duration,
    bytes_per_second: f64,
}

/// A body's error ends the connection, so the client sees a body cut short.
type Body = BoxBody<Bytes, std::io::Error>;

fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).map_err(|never| match never {}).boxed()
}

fn plain(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder().status(status).body(full(body)).expect("a static response is valid")
}

/// `bytes=a-b` or `bytes=a-` within `len`: the inclusive range, or None when there is none.
fn range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header else { return Ok(None) };
    let (start, end) = spec.strip_prefix("bytes=").and_then(|r| r.split_once('-')).ok_or(())?;
    let start: u64 = start.parse().map_err(|_| ())?;
    let end: u64 = if end.is_empty() { len - 1 } else { end.parse::<u64>().map_err(|_| ())?.min(len - 1) };
    if start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

impl Model {
    fn list(&self) -> Response<Body> {
        let xml = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bench</Name><Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;s3-model&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>"#,
            self.key,
            self.last_modified.format("%Y-%m-%dT%H:%M:%S.000Z"),
            self.content.len()
        );
        plain(StatusCode::OK, xml)
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Result<Response<Body>, hyper::Error> {
        let path = request.uri().path();
        if path.trim_end_matches('/') == BUCKET && request.uri().query().is_some_and(|q| q.contains("list-type=2")) {
            tokio::time::sleep(self.ttfb).await;
            return Ok(self.list());
        }
        if path.strip_prefix(BUCKET).and_then(|p| p.strip_prefix('/')) != Some(self.key.as_str()) {
            return Ok(plain(StatusCode::NOT_FOUND, "no such key"));
        }
        if request.headers().get("if-match").is_some_and(|m| m.as_bytes() != ETAG.as_bytes()) {
            return Ok(plain(StatusCode::PRECONDITION_FAILED, "precondition failed"));
        }
        let len = self.content.len();
        let header = request.headers().get("range").and_then(|r| r.to_str().ok());
        let Ok(range) = range(header, len) else { return Ok(plain(StatusCode::RANGE_NOT_SATISFIABLE, "")) };
        let (start, end) = range.unwrap_or((0, len - 1));
        let mut response = Response::builder()
            .status(if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK })
            .header("etag", ETAG)
            .header("last-modified", self.last_modified.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
            .header("content-type", self.content.content_type())
            .header("content-length", end - start + 1);
        if range.is_some() {
            response = response.header("content-range", format!("bytes {start}-{end}/{len}"));
        }
        tokio::time::sleep(self.ttfb).await;
        if request.method() == Method::HEAD {
            return Ok(response.body(full(Bytes::new())).expect("a valid response"));
        }
        let began = Instant::now();
        let model = self.clone();
        let frames = futures::stream::iter((start..=end).step_by(FRAME as usize)).then(move |offset| {
            let model = model.clone();
            // Paced from the first byte, so timer rounding does not add up.
            let due = began + Duration::from_secs_f64((offset - start) as f64 / model.bytes_per_second);
            async move {
                tokio::time::sleep_until(due.into()).await;
                let frame = model.content.bytes(offset, (offset + FRAME).min(end + 1)).await?;
                Ok::<_, std::io::Error>(Frame::data(frame))
            }
        });
        Ok(response.body(BodyExt::boxed(StreamBody::new(frames))).expect("a valid response"))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.mb_per_second > 0.0 && args.ttfb_ms >= 0.0, "--mb-per-second > 0, --ttfb-ms >= 0");
    anyhow::ensure!(args.row_bytes >= 80 && args.rows > 0, "--row-bytes at least 80, --rows at least 1");
    let content = match &args.file {
        Some(path) => {
            let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let len = file.metadata()?.len();
            anyhow::ensure!(len > 0, "{} is empty", path.display());
            Content::File { file: Arc::new(file), len }
        }
        None => Content::Generated(Object {
            header: format!("{},padding\n", bench::PAYMENTS_HEADER),
            rows: args.rows,
            row_bytes: args.row_bytes,
        }),
    };
    let model = Arc::new(Model {
        content,
        key: args.key,
        last_modified: chrono::Utc::now(),
        ttfb: Duration::from_secs_f64(args.ttfb_ms / 1e3),
        bytes_per_second: args.mb_per_second * 1e6,
    });
    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "http://{}", listener.local_addr()?)?;
        writeln!(out, "{}", model.content.len())?;
        out.flush()?;
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let model = model.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| model.clone().handle(request));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_s3_reads_them() {
        assert_eq!(range(None, 10), Ok(None));
        assert_eq!(range(Some("bytes=2-5"), 10), Ok(Some((2, 5))));
        assert_eq!(range(Some("bytes=2-"), 10), Ok(Some((2, 9))));
        assert_eq!(range(Some("bytes=8-20"), 10), Ok(Some((8, 9))));
        assert_eq!(range(Some("bytes=5-2"), 10), Err(()));
        assert_eq!(range(Some("items=1-2"), 10), Err(()));
    }

    #[test]
    fn any_range_is_the_same_bytes_as_the_whole() {
        let object = Object { header: "h1,h2\n".into(), rows: 50, row_bytes: 97 };
        let whole = object.bytes(0, object.len());
        assert_eq!(whole.len() as u64, object.len());
        assert!(whole.split(|&b| b == b'\n').skip(1).filter(|l| !l.is_empty()).all(|l| l.len() == 96));
        for (start, end) in [(0, 3), (3, 200), (6, 103), (500, object.len()), (1000, 1001)] {
            assert_eq!(object.bytes(start, end), whole.slice(start as usize..end as usize), "{start}..{end}");
        }
    }

    #[tokio::test]
    async fn a_file_is_served_range_by_range_as_it_is_on_disk() {
        let path = std::env::temp_dir().join(format!("s3-model-{}.bin", std::process::id()));
        let whole: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &whole).unwrap();
        let content = Content::File { file: Arc::new(std::fs::File::open(&path).unwrap()), len: whole.len() as u64 };
        for (start, end) in [(0, 1), (10, 70_000), (99_990, 100_000)] {
            assert_eq!(
                content.bytes(start, end).await.unwrap(),
                &whole[start as usize..end as usize],
                "{start}..{end}"
            );
        }
        assert!(content.bytes(99_990, 100_001).await.is_err(), "past the end is an error, not a short frame");
        std::fs::remove_file(path).unwrap();
    }
}
