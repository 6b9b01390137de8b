//! A worker killed in the middle of a file (SIGKILL: no hand-over, no clean-up), then run again once
//! its lease has expired: the records equal those of one uninterrupted run, each once.

mod common;

use chrono::TimeDelta;
use common::*;
use connector_core::manage::ports::RecordAdmin;
use connector_core::model::SyncResult;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `s3-connector` binary that `cargo test --workspace` built beside this test.
fn cli() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(|deps| deps.parent()).unwrap().join("s3-connector");
    assert!(bin.exists(), "{} is missing: run the tests with scripts/test.sh (cargo test --workspace)", bin.display());
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_in_the_middle_of_a_file_then_run_again_ends_as_one_uninterrupted_run() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let rows: String = (0..6_000).map(|i| format!("k{i:05},{i}.5\n")).collect();
    world.put("big.csv", format!("id,amount\n{rows}")).await;
    let reference = world.connection(None).await;
    let crashed = world.connection(None).await;
    world.completed(&reference.id).await;

    // The worker, one batch in flight (240 BatchWriteItems to moto, a second or two), its lease 3 s.
    let settings = &world.connector.settings;
    let mut worker = Command::new(cli())
        .args(["sync", &crashed.id])
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("S3C_STATE_TABLE", &settings.state_table)
        .env("S3C_RECORDS_TABLE", &settings.records_table)
        .env("S3C_WRITE_CONCURRENCY", "1")
        .env("S3C_LEASE_SECONDS", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while world.connector.records.records_page(&crashed.id, 1, None).await.unwrap().records.is_empty() {
        assert!(worker.try_wait().unwrap().is_none(), "the worker ended before writing");
        assert!(started.elapsed() < Duration::from_secs(60), "no record was written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    worker.kill().unwrap(); // SIGKILL
    worker.wait().unwrap();
    let killed = Instant::now();
    let written = world.records(&crashed.id).await.len();
    assert!(written > 0 && written < 6_000, "killed in the middle of the file: {written} records");
    assert!(world.connector.state.outcomes(&crashed.id).await.unwrap().is_empty(), "no outcome yet");

    // The next sync (Lambda's retry) finds the lease of a holder that stopped renewing: it waits the
    // lease out (3 s at most) and imports the file again, instead of answering "lease held".
    let run = world.completed(&crashed.id).await;
    assert!(killed.elapsed() >= Duration::from_millis(1500), "it waited for the lease: {:?}", killed.elapsed());

    assert_eq!((run.result, run.counts.rows_imported), (SyncResult::Succeeded, 6_000), "{run:?}");
    assert_eq!(world.records(&crashed.id).await, world.records(&reference.id).await, "the same records, each once");
}
