//! Runs that outlive one invocation, against moto: a deadline that has always passed makes every
//! invocation do one step (a listing page, a batch of rows) and hand over. The final records, outcomes
//! and counts equal those of one uninterrupted run of the same bucket.

mod common;

use chrono::TimeDelta;
use common::*;
use connector_aws::Deployment;
use connector_core::decode::{compress, Compression};
use connector_core::engine::SyncOutcome;
use connector_core::ports::SyncStore;
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_deadline_hands_over_mid_listing_and_mid_file_and_ends_as_one_uninterrupted_run() {
    needs!(Moto);
    // GIVEN files in a folder and its sub-folders: small ones, a large one, a gzip, a zstd and a bzip2
    // one, one with bad rows
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    for i in 0..9 {
        let folder = ["in/", "in/a/", "in/b/c/"][i % 3];
        world.put(&format!("{folder}{i}.csv"), format!("id,amount\ns{i},{i}.5\n")).await;
    }
    let rows: String = (0..600).map(|i| format!("big{i},{i}.25,eur\r\n")).collect();
    world.put("in/a/big.csv", format!("\u{feff}id,amount,currency\r\n{rows}")).await;
    let rows: String = (0..300).map(|i| format!("gz{i},{i}\n")).collect();
    world.put("in/b/zipped.csv.gz", gzip(format!("id,amount\n{rows}").as_bytes())).await;
    for (key, compression) in [("in/b/c/z.csv.zst", Compression::Zstd), ("in/c.csv.bz2", Compression::Bzip2)] {
        let rows: String = (0..200).map(|i| format!("{compression}{i},{i}\n")).collect();
        world.put(key, compress(compression, format!("id,amount\n{rows}").as_bytes())).await;
    }
    let rows: String = (0..120).map(|i| format!("bad{i},{}\n", if i % 50 == 7 { "x" } else { "1" })).collect();
    world.put("in/bad.csv", format!("id,amount\n{rows}")).await;
    let uninterrupted = world.connection(Some("in")).await;
    let handed_over = world.connection(Some("in")).await;

    // WHEN one connection syncs in one go
    let expected = world.completed(&uninterrupted.id).await;

    // AND the other in invocations that each list one page of two keys or write one batch of 25 rows
    let mut settings = world.connector.settings.clone();
    settings.list_page_size = Some(2);
    settings.sync.handoff_rows = 25;
    settings.sync.list_concurrency = 2;
    // Large objects read as ranged GETs of 512 bytes, three at once (the uninterrupted run reads each
    // object as one stream): the same bytes, from any offset a hand-over resumes at.
    settings.read_ahead = connector_aws::s3::ReadAhead { chunk_bytes: 512, in_flight: 3 };
    let stepwise = Deployment::new(world.aws.clone(), settings);
    let (mut mid_listing, mut mid_file, mut invocations) = (0, 0, 0);
    let run = loop {
        invocations += 1;
        assert!(invocations < 500, "the run does not end");
        let step = connector_aws::SyncRequest::new(&handed_over.id);
        match stepwise.sync(connector_aws::SyncRequest { hand_over_at: Some(Instant::now()), ..step }).await.unwrap() {
            SyncOutcome::HandedOver { hand_overs, .. } => {
                assert_eq!(hand_overs, invocations);
                let checkpoint = stepwise.state.checkpoint(&handed_over.id).await.unwrap().expect("a checkpoint");
                mid_listing += usize::from(!checkpoint.listing.is_empty());
                mid_file += usize::from(checkpoint.file.is_some_and(|f| f.position.offset > 0));
            }
            SyncOutcome::Completed(run) => break run,
            other => panic!("{other:?}"),
        }
    };

    // THEN it handed over in the middle of the listing and of files, and ended as the other did
    assert!(mid_listing >= 3, "{mid_listing} hand-overs in the middle of the listing");
    assert!(mid_file >= 20, "{mid_file} hand-overs in the middle of a file");
    let (a, b) = (world.records(&uninterrupted.id).await, world.records(&handed_over.id).await);
    assert_eq!(a.len(), 9 + 600 + 300 + 2 * 200 + 120 - 3);
    assert_eq!(a, b, "the same records, each once");
    // Every count alike but the bytes read: a resumed file is read again from its checkpoint (a compressed
    // one from its start), and what the bridge had read ahead of the checkpoint is read twice.
    let counts = connector_core::model::RunCounts { bytes_read: expected.counts.bytes_read, ..run.counts.clone() };
    assert_eq!((run.result, &counts), (expected.result, &expected.counts));
    assert!(run.counts.bytes_read >= expected.counts.bytes_read && expected.counts.bytes_read > 0);
    // Each run's watermark is its own listing's start, floored: the run that handed over began later.
    assert!(run.watermark_after >= expected.watermark_after);
    let outcomes = |id: String| {
        let state = &world.connector.state;
        async move {
            let mut all: Vec<_> = state
                .outcomes(&id)
                .await
                .unwrap()
                .into_iter()
                .map(|o| (o.key, o.status, o.rows_read, o.rows_imported, o.row_errors, o.drift))
                .collect();
            all.sort_by(|x, y| x.0.cmp(&y.0));
            all
        }
    };
    assert_eq!(outcomes(uninterrupted.id.clone()).await, outcomes(handed_over.id.clone()).await);
    assert_eq!(stepwise.state.checkpoint(&handed_over.id).await.unwrap(), None, "the finished run leaves none");
}
