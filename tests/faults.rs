//! Faults in whole runs against moto, injected in the HTTP path of the SDK's clients
//! (tests/common/faults.rs): S3 errors and a connection reset in the middle of an object, DynamoDB
//! throttling and unprocessed items on every kind of batch write, credentials expiring during a run,
//! and an operator changing a connection while its sync runs. Each run's records are compared with
//! those of a run without faults.

mod common;

use connector_core::manage::connections::ConnectionChange;

use chrono::TimeDelta;
use common::faults::{Fault, Faults};
use common::*;
use connector_aws::s3::ReadAhead;
use connector_aws::Deployment;
use connector_core::engine::{SyncError, SyncOutcome};
use connector_core::manage::ports::ConnectionAdmin;
use connector_core::model::{ConnectionStatus, SyncResult, SyncRun};
use std::time::Duration;

/// A world whose SDK clients send every request through `faults`.
async fn faulty_world(faults: &Faults, read_ahead: ReadAhead) -> World {
    let aws = aws_at(&endpoint(), "testing", "testing").await;
    // The SDK's own HTTP client (hyper), without TLS: moto listens on plain HTTP.
    let inner = aws_smithy_http_client::Builder::new().build_http();
    let aws = connector_aws::config::Aws::from_sdk(aws.sdk.into_builder().http_client(faults.wrap(inner)).build());
    let world = World::at(aws, config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let mut settings = world.connector.settings.clone();
    settings.read_ahead = read_ahead;
    World { connector: Deployment::new(world.aws.clone(), settings), ..world }
}

/// Syncs until a run completes: a run that failed on a transient error is retried, as Lambda
/// retries the invocation. Returns the completed run and the failed ones before it.
async fn sync_with_retries(world: &World, connection_id: &str) -> (SyncRun, Vec<SyncRun>) {
    let mut failed = Vec::new();
    loop {
        match world.sync(connection_id).await {
            Ok(SyncOutcome::Completed(run)) => return (run, failed),
            Err(SyncError::Retryable(run)) if failed.len() < 5 => failed.push(*run),
            other => panic!("{other:?} after {failed:?}"),
        }
    }
}

fn csv_rows(prefix: &str, rows: usize) -> String {
    let body: String = (0..rows).map(|i| format!("{prefix}{i:05},{i}.{:02},eur\n", i % 100)).collect();
    format!("id,amount,currency\n{body}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_errors_and_a_reset_connection_in_the_middle_of_a_file_lose_and_duplicate_nothing() {
    needs!(Moto);
    let faults = Faults::default();
    // Ranged reads of 16 KiB, three at once: the large file is read in about 20 chunks.
    let world = faulty_world(&faults, ReadAhead { chunk_bytes: 16 * 1024, in_flight: 3 }).await;
    world.put("in/large.csv", csv_rows("l", 8_000)).await;
    world.put("in/small.csv", csv_rows("s", 50)).await;
    let reference = world.connection(Some("in")).await;
    let faulted = world.connection(Some("in")).await;
    let expected = world.completed(&reference.id).await;
    assert_eq!(expected.counts.rows_imported, 8_050);

    let bucket = world.bucket.clone();
    let b = bucket.clone();
    faults.add(move |s| s.is_list(&b), Fault::internal_error(), 0, 1);
    let b = bucket.clone();
    faults.add(move |s| s.is_get_object(&b, "in/large.csv"), Fault::slow_down(), 0, 2);
    let b = bucket.clone();
    // The fifth chunk's connection breaks after 5,000 bytes: the chunk is fetched again.
    faults.add(move |s| s.is_get_object(&b, "in/large.csv"), Fault::CutBody { after: 5000 }, 4, 1);
    let b = bucket.clone();
    // The small file is one stream: its reset fails the run's attempt, and the retry imports it.
    faults.add(move |s| s.is_get_object(&b, "in/small.csv"), Fault::CutBody { after: 100 }, 0, 1);

    let (run, failed) = sync_with_retries(&world, &faulted.id).await;

    assert_eq!(faults.injected().len(), 5, "every fault was met: {:?}", faults.injected());
    assert!(failed.len() <= 1, "only the one-stream reset fails an attempt: {failed:?}");
    assert_eq!(run.result, SyncResult::Succeeded, "{run:?}");
    assert_eq!(world.records(&faulted.id).await, world.records(&reference.id).await, "the same records, each once");
    let outcomes = world.connector.state.outcomes(&faulted.id).await.unwrap();
    assert_eq!(outcomes.iter().map(|o| o.rows_imported).sum::<u64>(), 8_050);

    // ExpectedBucketOwner is on every request the connector makes to the customer's bucket (with
    // the assumed role's session; the test's own uploads have none), faulted or not.
    let to_bucket: Vec<_> =
        faults.seen().into_iter().filter(|s| s.is_s3(&bucket) && s.header("x-amz-security-token").is_some()).collect();
    assert!(to_bucket.len() > 20, "{}", to_bucket.len());
    for request in &to_bucket {
        assert_eq!(request.header("x-amz-expected-bucket-owner"), Some(ACCOUNT), "{} {}", request.method, request.uri);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_throttling_and_unprocessed_items_on_every_batch_write_lose_nothing() {
    needs!(Moto);
    let faults = Faults::default();
    let world = faulty_world(&faults, ReadAhead::default()).await;
    world.put("a.csv", csv_rows("a", 500)).await;
    world.put("b.csv", csv_rows("b", 60)).await;
    let reference = world.connection(None).await;
    let faulted = world.connection(None).await;
    world.completed(&reference.id).await;

    // Throttled twice, then every batch write (records, and the state's deletes) and every ledger
    // read (BatchGetItem) gets only half of its items through and the rest back as unprocessed.
    faults.add(|s| s.is("BatchWriteItem"), Fault::throttled(), 0, 2);
    faults.add(|s| s.is("BatchWriteItem") || s.is("BatchGetItem"), Fault::HalfUnprocessed, 0, usize::MAX);

    let run = world.completed(&faulted.id).await;
    assert_eq!((run.result, run.counts.rows_imported), (SyncResult::Succeeded, 560), "{run:?}");
    assert_eq!(world.records(&faulted.id).await, world.records(&reference.id).await);
    let injected = faults.injected();
    let halved = |op: &str| {
        faults.seen().iter().filter(|s| s.is(op)).count() > 0
            && injected.iter().any(|(_, f)| matches!(f, Fault::HalfUnprocessed))
    };
    assert!(halved("BatchWriteItem") && halved("BatchGetItem"), "{injected:?}");
    assert_eq!(injected.iter().filter(|(_, f)| matches!(f, Fault::Respond { .. })).count(), 2);

    // A second sync reads the ledger (halved) and imports nothing again.
    let again = world.completed(&faulted.id).await;
    assert_eq!(again.counts.objects_selected, 0, "{again:?}");

    // Purging deletes with BatchWriteItem too: every record goes, halved or not.
    assert_eq!(world.connector.in_process().delete(&faulted.id, true).await.unwrap().records_purged, 560);
    assert!(world.records(&faulted.id).await.is_empty());
    assert!(world.connector.state.outcomes(&faulted.id).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_that_expire_during_a_run_are_assumed_again() {
    needs!(Moto);
    let faults = Faults::default();
    let world = faulty_world(&faults, ReadAhead { chunk_bytes: 16 * 1024, in_flight: 2 }).await;
    world.put("slow.csv", csv_rows("c", 8_000)).await;
    let c = world.connection(None).await;
    let bucket = world.bucket.clone();
    // Every role session lasts 11 s. The SDK's cache refreshes 10 s before a session ends, less a
    // jitter of up to 5 s: after 1 to 6 s. Every chunk takes 2 s more than moto needs: the reads
    // (8 chunks, 2 at once: about 8 s) outlive the first credentials.
    faults.add(|s| s.is("AssumeRole"), Fault::ExpireIn { seconds: 11 }, 0, usize::MAX);
    faults.add(move |s| s.is_get_object(&bucket, "slow.csv"), Fault::Delay { millis: 2000 }, 0, usize::MAX);

    let run = world.completed(&c.id).await;

    assert_eq!((run.result, run.counts.rows_imported), (SyncResult::Succeeded, 8_000), "{run:?}");
    let seen = faults.seen();
    let first_get = seen.iter().position(|s| s.method == "GET" && s.uri.contains("slow.csv")).unwrap();
    let assumed_after = seen[first_get..].iter().filter(|s| s.is("AssumeRole")).count();
    assert!(assumed_after >= 1, "the role was assumed again during the reads ({} requests)", seen.len());
    assert_eq!(world.records(&c.id).await.len(), 8_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_editing_a_connection_during_its_sync_loses_nothing_and_neither_does_the_sync() {
    needs!(Moto);
    let faults = Faults::default();
    let world = faulty_world(&faults, ReadAhead::default()).await;
    world.put("a.csv", csv_rows("a", 100)).await;
    let c = world.connection(None).await;
    world.connector.state.change_status(&c.id, c.status, ConnectionStatus::Active).await.unwrap();
    let bucket = world.bucket.clone();
    faults.add(move |s| s.is_get_object(&bucket, "a.csv"), Fault::Delay { millis: 1500 }, 0, 1);

    let operator = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        world
            .connector
            .in_process()
            .edit(&c.id, ConnectionChange { name: Some("renamed during the sync".into()), ..Default::default() })
            .await
            .unwrap();
        world.connector.in_process().pause(&c.id).await.unwrap();
    };
    let (run, ()) = tokio::join!(world.completed(&c.id), operator);

    assert_eq!((run.result, run.counts.rows_imported), (SyncResult::Succeeded, 100), "{run:?}");
    let shown = world.connector.in_process().connection(&c.id).await.unwrap();
    // The operator's changes stand...
    assert_eq!((shown.name.as_str(), shown.status), ("renamed during the sync", ConnectionStatus::Paused));
    // ...and so does the sync's.
    assert_eq!(shown.sync.last_run_id.as_deref(), Some(run.run_id.as_str()));
    assert_eq!(shown.sync.watermark, run.watermark_after);
    assert_eq!(shown.sync.last_counts.rows_imported, 100);
}
