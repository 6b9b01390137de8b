//! End to end: the real dispatcher and worker binaries under `cargo lambda watch`, against moto.
//! A scheduled event goes in; every active connection is synced by its own worker invocation.

mod common;

use aws_sdk_lambda::primitives::Blob;
use chrono::TimeDelta;
use common::*;
use connector_core::manage::ports::ConnectionAdmin;
use connector_core::model::{ConnectionStatus, SyncResult};
use std::time::{Duration, Instant};

async fn invoke(client: &aws_sdk_lambda::Client, function: &str, payload: &str) -> serde_json::Value {
    let output = client
        .invoke()
        .function_name(function)
        .payload(Blob::new(payload.as_bytes()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("invoking {function}: {e:?}"));
    assert_eq!(output.function_error(), None, "{function} failed: {:?}", output.payload);
    serde_json::from_slice(output.payload.unwrap().as_ref()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_event_syncs_every_active_connection_through_the_real_lambdas() {
    needs!(Moto);
    needs!(CargoLambda);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    world.put("a/1.csv", "id,amount\na1,1\na2,2\n").await;
    world.put("b/1.csv", "id,amount\nb1,1\n").await;
    let a = world.connection(Some("a")).await;
    let b = world.connection(Some("b")).await;
    let paused = world.connection(Some("a")).await;
    for (c, status) in
        [(&a, ConnectionStatus::Active), (&b, ConnectionStatus::Active), (&paused, ConnectionStatus::Paused)]
    {
        world.connector.state.change_status(&c.id, c.status, status).await.unwrap();
    }
    let settings = &world.connector.settings;
    let watch = LambdaWatch::start(&[
        ("S3C_STATE_TABLE", settings.state_table.clone()),
        ("S3C_RECORDS_TABLE", settings.records_table.clone()),
        ("S3C_WORKER_FUNCTION", "worker".into()),
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
    ])
    .await;
    let lambda = watch.client().await;
    let scheduled = include_str!("../events/scheduled.json");

    let summary = invoke(&lambda, "dispatcher", scheduled).await;
    assert_eq!((summary["found"].as_u64(), summary["invoked"].as_u64()), (Some(3), Some(2)), "{summary}");
    assert_eq!(summary["skipped"]["paused"], 1, "{summary}");

    // The workers run asynchronously: wait for both to finish.
    let deadline = Instant::now() + Duration::from_secs(600);
    for c in [&a, &b] {
        loop {
            let shown = world.connector.state.connection(&c.id).await.unwrap().unwrap();
            if shown.sync.last_result.is_some() {
                assert_eq!(shown.sync.last_result, Some(SyncResult::Succeeded), "{shown:?}");
                assert_eq!(shown.sync.last_schedule_run.as_deref(), Some("89d1a02d-5ec7-412e-82f5-13505f849b41"));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "worker for {} did not finish; see {}/cargo-lambda-watch-*.log",
                c.id,
                env!("CARGO_TARGET_TMPDIR")
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    assert_eq!(world.records(&a.id).await.len(), 2);
    assert_eq!(world.records(&b.id).await.len(), 1);
    assert!(world.records(&paused.id).await.is_empty());

    // The same event delivered again starts nothing.
    let again = invoke(&lambda, "dispatcher", scheduled).await;
    assert_eq!((again["invoked"].as_u64(), again["skipped"]["already_synced"].as_u64()), (Some(0), Some(2)), "{again}");

    // A direct worker invocation (events/worker-invoke.json's shape) answers with its outcome.
    let direct = invoke(&lambda, "worker", &format!(r#"{{"connection_id": "{}"}}"#, a.id)).await;
    assert_eq!(direct["outcome"], "completed", "{direct}");
    assert_eq!(direct["run"]["counts"]["objects_selected"], 0, "nothing new: {direct}");
}
