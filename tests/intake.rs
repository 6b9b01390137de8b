//! Event-driven imports against moto: objects put in the customer's bucket reach the intake as S3
//! sends them (EventBridge, a rule, the queue, the event source mapping of tests/common/esm.rs) and
//! are imported without a scan, once, whatever the duplicates, the order, the scans and the lease.

mod common;

use chrono::TimeDelta;
use common::esm::{bodies, ObjectEventQueue};
use common::*;
use connector_aws::metrics::Metrics;
use connector_core::intake::Tally;
use connector_core::manage::connections::ConnectionChange;
use connector_core::manage::ports::ConnectionAdmin;
use connector_core::model::{Connection, ConnectionStatus, RunPath, SyncMode, SyncRun};
use connector_core::ports::SyncStore;
use intake::IntakeConfig;
use std::time::Duration;

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
    let metrics = Metrics::new("S3ConnectorTest", "test");
    let mut tallies = Vec::new();
    while let Some(batch) = queue.batch(Duration::from_secs(1), 100, quiet).await {
        let handled = intake::handle(
            &world.connector,
            &world.connector,
            &metrics,
            &IntakeConfig::default(),
            batch.event.clone(),
            None,
        )
        .await;
        let (response, tally) = handled.expect("the batch is handled");
        queue.settle(&batch, &response).await;
        tallies.push(tally);
    }
    tallies
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
