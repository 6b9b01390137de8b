//! Event-driven imports against moto: objects put in the customer's bucket reach the intake as S3
//! sends them (EventBridge, a rule, the queue, the event source mapping of tests/common/esm.rs) and
//! are imported without a scan, once, whatever the duplicates, the order, the scans and the lease.

mod common;

use aws_lambda_events::event::sqs::SqsBatchResponse;
use chrono::TimeDelta;
use common::esm::{bodies, Batch, ObjectEventQueue};
use common::*;
use connector_aws::metrics::Metrics;
use connector_core::dispatch::{WorkerInvoker, WorkerRequest};
use connector_core::intake::Tally;
use connector_core::manage::connections::ConnectionChange;
use connector_core::manage::ports::ConnectionAdmin;
use connector_core::memory::RecordedWorkers;
use connector_core::model::{Connection, ConnectionStatus, RunPath, SyncMode, SyncRun};
use connector_core::ports::{Lease, SyncStore};
use intake::IntakeConfig;
use std::time::{Duration, Instant};

/// An active connection of the world's bucket in events mode.
async fn events_connection(world: &World, folder: Option<&str>) -> Connection {
    let c = world.connection(folder).await;
    let change = ConnectionChange { mode: Some(SyncMode::Events), ..ConnectionChange::default() };
    world.connector.in_process().edit(&c.id, change).await.expect("setting the mode");
    world.connector.state.change_status(&c.id, c.status, ConnectionStatus::Active).await.expect("activating");
    SyncStore::connection(&world.connector.state, &c.id).await.unwrap().expect("stored")
}

/// Runs the intake on every batch the queue delivers until it is quiet for `quiet`; the tallies.
async fn intake_until_quiet(world: &World, queue: &ObjectEventQueue, quiet: Duration) -> Vec<Tally> {
    let mut tallies = Vec::new();
    while let Some(batch) = queue.batch(Duration::from_secs(1), 100, quiet).await {
        let (response, tally) = handle(world, &batch).await;
        queue.settle(&batch, &response).await;
        tallies.push(tally);
    }
    tallies
}

/// The intake's handler on a batch, as the event source mapping calls it, with the workers it
/// starts run in process.
async fn handle(world: &World, batch: &Batch) -> (SqsBatchResponse, Tally) {
    handle_with(world, batch, &world.connector, None).await
}

/// The intake's handler on a batch, the workers it starts recorded or run by `workers`, with its
/// invocation's hand-over time.
async fn handle_with(
    world: &World,
    batch: &Batch,
    workers: &dyn WorkerInvoker,
    hand_over_at: Option<Instant>,
) -> (SqsBatchResponse, Tally) {
    let metrics = Metrics::new("S3ConnectorTest", "test");
    let config = IntakeConfig::default();
    let handled = intake::handle(&world.connector, workers, &metrics, &config, batch.event.clone(), hand_over_at);
    handled.await.expect("the batch is handled")
}

/// Runs the worker's handler on each request recorded, and on those it starts in turn, until none
/// is left; how many ran.
async fn run_workers(world: &World, recorded: &RecordedWorkers) -> usize {
    let metrics = Metrics::new("S3ConnectorTest", "test");
    let mut ran = 0;
    loop {
        let requests = std::mem::take(&mut *recorded.requests.lock().unwrap());
        if requests.is_empty() {
            return ran;
        }
        for request in requests {
            worker::handle(&world.connector, request, None, recorded, &metrics).await.expect("the worker's run");
            ran += 1;
        }
    }
}

async fn runs(world: &World, connection_id: &str) -> Vec<SyncRun> {
    world.connector.in_process().show(connection_id, 20).await.expect("showing").recent_runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_put_in_the_bucket_are_imported_through_their_events_once_whatever_the_duplicates_and_order() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let queue = ObjectEventQueue::for_bucket(&world).await;
    let c = events_connection(&world, Some("in")).await;
    world.put("in/a.csv", "id,amount\na1,1\na2,2\n").await;
    world.put("in/b.csv", "id,amount\nb1,1\n").await;
    world.put("out/c.csv", "id,amount\nc1,1\n").await;

    let tallies = intake_until_quiet(&world, &queue, Duration::from_secs(3)).await;
    let routed: u64 = tallies.iter().map(|t| t.routed).sum();
    let outside: u64 = tallies.iter().map(|t| t.dropped.outside_folder).sum();
    assert_eq!((routed, outside), (2, 1), "{tallies:?}");
    assert_eq!(payment_ids(&world.records(&c.id).await), ["a1", "a2", "b1"]);
    let all = runs(&world, &c.id).await;
    assert!(all.iter().all(|r| r.path == RunPath::Events), "no scan ran: {all:?}");
    assert_eq!(all.iter().map(|r| r.counts.objects_listed).sum::<u64>(), 0, "nothing was listed");
    assert_eq!(all.iter().map(|r| r.counts.files_imported).sum::<u64>(), 2);

    // The same events again, newest first, and twice: nothing is imported again.
    let mut delivered = Vec::new();
    for body in all_bodies_of(&world, &queue, &["in/a.csv", "in/b.csv"]).await {
        delivered.push(body);
    }
    delivered.reverse();
    queue.send_again(delivered.iter().chain(delivered.iter())).await;
    let tallies = intake_until_quiet(&world, &queue, Duration::from_secs(3)).await;
    assert_eq!(tallies.iter().map(|t| t.routed).sum::<u64>(), 4, "{tallies:?}");
    assert_eq!(payment_ids(&world.records(&c.id).await), ["a1", "a2", "b1"], "imported once");
    let again = runs(&world, &c.id).await;
    let new_runs = &again[..again.len() - all.len()];
    assert!(!new_runs.is_empty());
    assert_eq!(new_runs.iter().map(|r| r.counts.files_imported).sum::<u64>(), 0, "{new_runs:?}");

    // Replaced twice before the intake looks: the newest version is imported, once.
    world.put("in/a.csv", "id,amount\na1,10\n").await;
    world.put("in/a.csv", "id,amount\na1,100\na3,3\n").await;
    intake_until_quiet(&world, &queue, Duration::from_secs(3)).await;
    let records = world.records(&c.id).await;
    assert_eq!(payment_ids(&records), ["a1", "a3", "b1"], "a2 went with its version");
    let a1 = records.iter().find(|(_, d)| d["payment_id"] == "a1").expect("a1");
    assert_eq!(a1.1["amount"], serde_json::json!(100), "{a1:?}");
    let latest = runs(&world, &c.id).await;
    let imported: u64 = latest[..latest.len() - again.len()].iter().map(|r| r.counts.files_imported).sum();
    assert_eq!(imported, 1, "{latest:?}");
}

/// The bodies S3 sent for `keys` (a fresh put of each, whose events are read and handed back).
async fn all_bodies_of(world: &World, queue: &ObjectEventQueue, keys: &[&str]) -> Vec<String> {
    // Copy each object onto itself with the same content: S3 sends an Object Created of the same
    // key, which the ledger knows by its ETag.
    for key in keys {
        let source = format!("{}/{key}", world.bucket);
        let copy = world.s3.copy_object().bucket(&world.bucket).key(*key).copy_source(source);
        copy.metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace).send().await.expect("copying");
    }
    let mut out = Vec::new();
    while let Some(batch) = queue.batch(Duration::from_millis(500), 100, Duration::from_secs(3)).await {
        for (body, event) in batch.bodies.iter().zip(bodies(&batch)) {
            if keys.contains(&event["detail"]["object"]["key"].as_str().unwrap_or_default()) {
                out.push(body.clone());
            }
        }
        queue.settle(&batch, &Default::default()).await;
    }
    assert_eq!(out.len(), keys.len(), "one event per key");
    out
}

/// Hands the intake one batch, which it takes whole.
async fn intake_once(world: &World, batch: &Batch) -> Tally {
    let (response, tally) = handle(world, batch).await;
    assert!(response.batch_item_failures.is_empty(), "{tally:?}");
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_begun_before_the_scans_window_and_completed_after_it_is_imported_through_its_event() {
    needs!(Moto);
    // No overlap: the next scan looks only at what is newer than the last scan's start.
    let world = World::new(config(TimeDelta::days(90), TimeDelta::zero())).await;
    let queue = ObjectEventQueue::for_bucket(&world).await;
    let c = events_connection(&world, None).await;
    let key = "late-upload.csv";
    let upload = Upload::begin(&world, key).await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    world.put("early.csv", "id,amount\ne1,1\n").await;
    let scan = world.completed(&c.id).await;
    assert_eq!((scan.path, scan.counts.files_imported), (RunPath::Scan, 1));

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    upload.complete(&world, "id,amount\nm1,1\n").await;
    assert!(world.last_modified(key).await < scan.watermark_after.expect("a watermark"), "stamped before the scan");

    // The scan's next run cannot see it: older than its window.
    let next_scan = world.completed(&c.id).await;
    assert_eq!(next_scan.counts.files_imported, 0, "{next_scan:?}");
    assert_eq!(payment_ids(&world.records(&c.id).await), ["e1"]);

    // Its event (the early file's too, which the ledger has) brings it in.
    intake_until_quiet(&world, &queue, Duration::from_secs(3)).await;
    assert_eq!(payment_ids(&world.records(&c.id).await), ["e1", "m1"]);
    let events_runs: Vec<SyncRun> =
        runs(&world, &c.id).await.into_iter().filter(|r| r.path == RunPath::Events).collect();
    assert_eq!(events_runs.iter().map(|r| r.counts.files_imported).sum::<u64>(), 1, "{events_runs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_whose_event_was_lost_is_imported_by_the_scan_and_the_event_arriving_late_imports_nothing() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let queue = ObjectEventQueue::for_bucket(&world).await;
    let c = events_connection(&world, None).await;
    world.put("lost.csv", "id,amount\nl1,1\n").await;
    let lost = queue.batch(Duration::from_secs(1), 10, Duration::from_secs(5)).await.expect("its event");
    queue.settle(&lost, &Default::default()).await;

    let scan = world.completed(&c.id).await;
    assert_eq!((scan.path, scan.counts.files_imported), (RunPath::Scan, 1), "the scan is the safety net");
    assert_eq!(payment_ids(&world.records(&c.id).await), ["l1"]);

    queue.send_again(&lost.bodies).await;
    let late = queue.batch(Duration::from_secs(1), 10, Duration::from_secs(5)).await.expect("the late event");
    let tally = intake_once(&world, &late).await;
    queue.settle(&late, &Default::default()).await;
    assert_eq!((tally.routed, tally.runs), (1, 1), "{tally:?}");
    let latest = runs(&world, &c.id).await;
    assert_eq!((latest[0].path, latest[0].counts.files_imported), (RunPath::Events, 0), "{:?}", latest[0]);
    assert_eq!(payment_ids(&world.records(&c.id).await), ["l1"], "once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_a_scan_holds_the_lease_events_are_kept_and_run_after_it_and_scan_and_events_at_once_import_once() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let queue = ObjectEventQueue::for_bucket(&world).await;
    let c = events_connection(&world, None).await;
    let state = &world.connector.state;
    let now = chrono::Utc::now();
    let held = state.acquire_lease(&c.id, "a-scan", now, now + TimeDelta::minutes(10), None).await.unwrap();
    assert_eq!(held, Lease::Acquired);
    world.put("while-held.csv", "id,amount\nh1,1\n").await;
    let batch = queue.batch(Duration::from_secs(1), 10, Duration::from_secs(5)).await.expect("its event");
    let tally = intake_once(&world, &batch).await;
    queue.settle(&batch, &Default::default()).await;
    assert_eq!((tally.runs, tally.kept), (0, 1), "{tally:?}");
    assert!(world.records(&c.id).await.is_empty(), "nothing ran beside the lease's holder");

    // The holder lets go and, as the worker does, starts a run of the keys kept meanwhile.
    state.release_lease(&c.id, "a-scan").await.unwrap();
    let follow_up = world.connector.next_run(&c.id).await.expect("kept keys to run");
    assert!(follow_up.events, "{follow_up:?}");
    connector_core::dispatch::WorkerInvoker::invoke(&world.connector, &follow_up).await.expect("the run of kept keys");
    assert_eq!(payment_ids(&world.records(&c.id).await), ["h1"]);
    assert_eq!(world.connector.next_run(&c.id).await, None, "forgotten once run");

    // A scan and a batch of events of the same files at once: each file is imported once,
    // whichever of the two runs it (the other is kept out by the lease and its keys run after).
    for n in 0..5 {
        world.put(&format!("both-{n}.csv"), format!("id,amount\nb{n},1\n")).await;
    }
    let batch = queue.batch(Duration::from_secs(1), 10, Duration::from_secs(5)).await.expect("their events");
    let (scan, tally) = tokio::join!(world.sync(&c.id), intake_once(&world, &batch));
    queue.settle(&batch, &Default::default()).await;
    scan.expect("the scan");
    if let Some(follow_up) = world.connector.next_run(&c.id).await {
        connector_core::dispatch::WorkerInvoker::invoke(&world.connector, &follow_up).await.expect("kept keys");
    }
    assert_eq!(payment_ids(&world.records(&c.id).await), ["b0", "b1", "b2", "b3", "b4", "h1"], "{tally:?}");
    let imported: u64 = runs(&world, &c.id).await.iter().map(|r| r.counts.files_imported).sum();
    assert_eq!(imported, 6, "each file once in all runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_of_a_paused_connection_wait_for_its_next_run() {
    needs!(Moto);
    // No overlap, and an upload begun before the last scan: no scan's window holds it, so only its
    // kept key can bring it in.
    let world = World::new(config(TimeDelta::days(90), TimeDelta::zero())).await;
    let queue = ObjectEventQueue::for_bucket(&world).await;
    let c = events_connection(&world, None).await;
    let upload = Upload::begin(&world, "paused.csv").await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let scan = world.completed(&c.id).await;
    world.connector.in_process().pause(&c.id).await.expect("pausing");
    upload.complete(&world, "id,amount\np1,1\n").await;
    assert!(world.last_modified("paused.csv").await < scan.watermark_after.expect("a watermark"));
    let batch = queue.batch(Duration::from_secs(1), 10, Duration::from_secs(5)).await.expect("its event");
    let tally = intake_once(&world, &batch).await;
    queue.settle(&batch, &Default::default()).await;
    assert_eq!((tally.runs, tally.kept), (0, 1), "{tally:?}");
    assert!(world.records(&c.id).await.is_empty());
    assert!(world.connector.next_run(&c.id).await.is_some(), "kept");

    world.connector.in_process().resume(&c.id).await.expect("resuming");
    let run = world.completed(&c.id).await;
    assert_eq!((run.path, run.counts.objects_named, run.counts.files_imported), (RunPath::Scan, 1, 1), "{run:?}");
    assert_eq!(payment_ids(&world.records(&c.id).await), ["p1"]);
    assert_eq!(world.connector.next_run(&c.id).await, None, "taken and forgotten by the run");
}

/// A multipart upload: its object's LastModified is when it began, whenever it completes.
struct Upload {
    key: String,
    id: String,
}

impl Upload {
    async fn begin(world: &World, key: &str) -> Upload {
        let started = world.s3.create_multipart_upload().bucket(&world.bucket).key(key).send().await.unwrap();
        Upload { key: key.to_owned(), id: started.upload_id().expect("an upload id").to_owned() }
    }

    async fn complete(self, world: &World, body: &str) {
        let part = world.s3.upload_part().bucket(&world.bucket).key(&self.key).upload_id(&self.id).part_number(1);
        let body = aws_sdk_s3::primitives::ByteStream::from(body.as_bytes().to_vec());
        let part = part.body(body).send().await.expect("uploading the part");
        let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
            .parts(aws_sdk_s3::types::CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
            .build();
        let complete = world.s3.complete_multipart_upload().bucket(&world.bucket).key(&self.key).upload_id(&self.id);
        complete.multipart_upload(parts).send().await.expect("completing the upload");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_whose_invocation_has_no_time_left_keeps_its_keys_for_the_worker_which_imports_them() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let queue = ObjectEventQueue::for_bucket(&world).await;
    let c = events_connection(&world, None).await;
    world.put("late-turn.csv", "id,amount\nt1,1\n").await;
    let batch = queue.batch(Duration::from_secs(1), 10, Duration::from_secs(5)).await.expect("its event");
    let workers = RecordedWorkers::default();
    let (response, tally) = handle_with(&world, &batch, &workers, Some(Instant::now())).await;
    queue.settle(&batch, &response).await;
    assert!(response.batch_item_failures.is_empty(), "{tally:?}");
    assert_eq!((tally.runs, tally.kept), (0, 1), "{tally:?}");
    assert_eq!(*workers.requests.lock().unwrap(), [WorkerRequest::for_kept_keys(&c.id)]);
    assert!(world.records(&c.id).await.is_empty(), "no run started after the hand-over time");

    assert_eq!(run_workers(&world, &workers).await, 1);
    assert_eq!(payment_ids(&world.records(&c.id).await), ["t1"]);
    let latest = runs(&world, &c.id).await;
    assert_eq!((latest[0].path, latest[0].counts.objects_named), (RunPath::Events, 1), "{:?}", latest[0]);
    assert_eq!(world.connector.next_run(&c.id).await, None, "nothing left kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_the_intake_hands_over_is_finished_by_the_worker_each_file_once() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let queue = ObjectEventQueue::for_bucket(&world).await;
    let c = events_connection(&world, None).await;
    let files = 40;
    for n in 0..files {
        world.put(&format!("many-{n:02}.csv"), format!("id,amount\nm{n:02},1\n")).await;
    }
    let (mut delivered, mut started) = (0, 0);
    let workers = RecordedWorkers::default();
    while delivered < files {
        let batch = queue.batch(Duration::from_secs(1), 100, Duration::from_secs(5)).await.expect("their events");
        delivered += batch.bodies.len();
        // 300 ms: time to sort the batch and start its run (a handful of requests), not for forty
        // imports of three requests each; the run hands over.
        let hand_over_at = Some(Instant::now() + Duration::from_millis(300));
        let (response, tally) = handle_with(&world, &batch, &workers, hand_over_at).await;
        queue.settle(&batch, &response).await;
        assert!(response.batch_item_failures.is_empty(), "{tally:?}");
        started += tally.runs;
    }
    assert!(started >= 1, "the intake started a run, which handed over (rather than keeping the keys at once)");
    let handed: Vec<WorkerRequest> = workers.requests.lock().unwrap().clone();
    assert!(!handed.is_empty() && handed.iter().all(|r| r.events && r.schedule_run.is_none()), "{handed:?}");
    assert!(world.records(&c.id).await.len() < files, "the intake handed over before the end");

    run_workers(&world, &workers).await;
    let ids = payment_ids(&world.records(&c.id).await).iter().map(|id| id.to_string()).collect::<Vec<_>>();
    let expected: Vec<String> = (0..files).map(|n| format!("m{n:02}")).collect();
    assert_eq!(ids, expected, "each file once");
    let all = runs(&world, &c.id).await;
    assert!(all.iter().all(|r| r.path == RunPath::Events), "no scan: {all:?}");
    assert_eq!(all.iter().map(|r| r.counts.files_imported).sum::<u64>(), files as u64);
}
