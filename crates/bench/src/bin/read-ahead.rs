//! What ranged GETs fetched ahead give against one stream: the product's S3 source
//! ([`S3Source::open`]) reads the `s3-model` object, and the engine's chain (SyncIoBridge -> decode
//! -> CSV parser -> mapper, on a blocking thread, as `Engine::pass` runs it) maps every row; the
//! records are counted and dropped. One JSON line per way of reading: rows/s, MB/s, and the process's
//! peak RSS so far (run one way per process for a peak of its own).
//!
//! Usage: `read-ahead --endpoint http://127.0.0.1:PORT --size BYTES [--chunk-mib 8] [--in-flight 2,4,8]
//! [--no-one-stream]`.

use bench::payment_template;
use clap::Parser;
use connector_aws::config::Aws;
use connector_aws::s3::{ReadAhead, S3Source};
use connector_core::decode::decode;
use connector_core::mapping::Mapper;
use connector_core::model::ObjectMeta;
use connector_core::parse::{parse_rows, ParseOptions};
use connector_core::ports::ObjectSource;
use std::ops::ControlFlow;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Rows/s reading one object as one stream and as ranged GETs fetched ahead")]
struct Args {
    /// The s3-model endpoint.
    #[arg(long)]
    endpoint: String,
    /// The object's size (s3-model's second line).
    #[arg(long)]
    size: u64,
    /// Chunk size of the ranged reads, in MiB.
    #[arg(long, default_value_t = 8)]
    chunk_mib: u64,
    /// Ranged GETs in flight, comma-separated; 1 is one stream.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    in_flight: Vec<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&args.endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new("testing", "testing", None, None, "bench"))
        .load()
        .await;
    let client = Aws::from_sdk(sdk).s3_own();
    let object = ObjectMeta {
        key: "payments.csv".into(),
        etag: "\"s3-model\"".into(),
        size: args.size,
        last_modified: chrono::Utc::now(),
        storage_class: None,
        attempts: 0,
        replaces: None,
    };
    let chunk_bytes = args.chunk_mib * 1024 * 1024;
    let modes = args.in_flight.iter().map(|&in_flight| match in_flight {
        0 | 1 => ReadAhead::ONE_STREAM,
        in_flight => ReadAhead { chunk_bytes, in_flight },
    });
    for read_ahead in modes {
        let source = S3Source {
            client: client.clone(),
            bucket: "bench".into(),
            owner: "123456789012".into(),
            page_size: None,
            read_ahead,
        };
        let started = Instant::now();
        let body = source.open(&object, 0).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let reader = tokio_util::io::SyncIoBridge::new(body);
        let rows = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let mapper = Mapper::new(payment_template());
            let mut text = decode(reader)?.text;
            let mut rows = 0u64;
            let summary =
                parse_rows(&mut text, &mapper, "payments.csv#s3-model", ParseOptions::default(), &mut |_| {
                    rows += 1;
                    ControlFlow::Continue(())
                })?;
            anyhow::ensure!(summary.rows_rejected == 0, "rows were rejected: {:?}", summary.row_errors);
            Ok(rows)
        })
        .await??;
        let seconds = started.elapsed().as_secs_f64();
        let one_stream = read_ahead == ReadAhead::ONE_STREAM;
        println!(
            "{}",
            serde_json::json!({
                "mode": if one_stream { "one stream".to_owned() } else {
                    format!("{} MiB ranges, {} in flight", args.chunk_mib, read_ahead.in_flight)
                },
                "in_flight": if one_stream { 1 } else { read_ahead.in_flight },
                "chunk_mib": if one_stream { None } else { Some(args.chunk_mib) },
                "rows": rows,
                "object_bytes": args.size,
                "seconds": seconds,
                "rows_per_second": rows as f64 / seconds,
                "mb_per_second": args.size as f64 / 1e6 / seconds,
                "peak_rss_mb": bench::peak_rss_mb(),
            })
        );
    }
    Ok(())
}
