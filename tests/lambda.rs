//! End to end: the real dispatcher and worker binaries under `cargo lambda watch`, against moto.
//! A scheduled event goes in; every active connection is synced by its own worker invocation. The
//! functions run with the template's logging (JSON, INFO), and the metrics they write on stdout are
//! read back from their output and checked against the embedded metric format.

mod common;

use aws_sdk_lambda::primitives::Blob;
use chrono::TimeDelta;
use common::*;
use connector_core::manage::ports::ConnectionAdmin;
use connector_core::model::{ConnectionStatus, SyncResult};
use serde_json::Value;
use std::collections::BTreeMap;
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
    let deployment = unique("deployment");
    let watch = LambdaWatch::start(&[
        ("S3C_METRICS_NAMESPACE", NAMESPACE.into()),
        ("S3C_DEPLOYMENT", deployment.clone()),
        // As template.yaml's LoggingConfig sets them.
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO".into()),
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

    // The functions' output: every JSON line parses, their logs are JSON with a level (Lambda's
    // filter reads it), and their metrics are EMF documents: one per dispatch, one per run.
    let runs = |id: &str| {
        let id = id.to_owned();
        let state = &world.connector.state;
        async move { state.runs(&id, 10).await.unwrap() }
    };
    let (a_runs, b_runs) = (runs(&a.id).await, runs(&b.id).await);
    assert_eq!((a_runs.len(), b_runs.len()), (2, 1), "the scheduled runs and the direct one");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (logs, documents) = loop {
        let (logs, documents) = function_output(&watch.log, &deployment);
        let worker_documents = documents.iter().filter(|d| d.get("ConnectionId").is_some()).count();
        if worker_documents >= 3 || Instant::now() > deadline {
            break (logs, documents);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let see = format!("see {}", watch.log.display());
    assert!(
        logs.iter().any(|l| l["level"] == "INFO" && l["fields"]["message"] == "sync finished"),
        "the worker logs JSON under AWS_LAMBDA_LOG_FORMAT=JSON; {see}"
    );
    assert!(logs.iter().all(|l| l["level"].is_string()), "every log line has a level; {see}");

    let dispatches: Vec<&Value> = documents.iter().filter(|d| d.get("ScheduleRun").is_some()).collect();
    assert_eq!(dispatches.len(), 2, "one document per dispatch; {see}");
    for (dispatch, invoked) in dispatches.iter().zip([2, 0]) {
        let values = metric_values(dispatch);
        let expected = [
            ("ConnectionsActive", 2.0),
            ("ConnectionsNeedingReauth", 0.0),
            ("ConnectionsPaused", 1.0),
            ("ConnectionsPending", 0.0),
            ("WorkersInvoked", invoked as f64),
        ];
        let expected: BTreeMap<String, f64> = expected.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        assert_eq!(values, expected, "{dispatch}");
        assert_eq!(dispatch["ScheduleRun"], "89d1a02d-5ec7-412e-82f5-13505f849b41", "{dispatch}");
    }

    let of = |id: &str| -> Vec<&Value> { documents.iter().filter(|d| d["ConnectionId"] == id).collect() };
    assert!(of(&paused.id).is_empty(), "a paused connection is not synced, so it has no run metrics");
    let (mut a_documents, b_documents) = (of(&a.id), of(&b.id));
    // The scheduled run, then the direct one (the document's time is the run's end).
    a_documents.sort_by_key(|d| d["_aws"]["Timestamp"].as_i64());
    assert_eq!((a_documents.len(), b_documents.len()), (2, 1), "one document per run; {see}");
    let a_bytes = "id,amount\na1,1\na2,2\n".len() as f64;
    for (document, rows, bytes, runs) in [
        (a_documents[0], 2.0, a_bytes, &a_runs),
        (b_documents[0], 1.0, "id,amount\nb1,1\n".len() as f64, &b_runs),
        (a_documents[1], 0.0, 0.0, &a_runs),
    ] {
        let values = metric_values(document);
        let expected = [
            ("RowsImported", rows),
            ("RowsRejected", 0.0),
            ("FilesImported", if rows > 0.0 { 1.0 } else { 0.0 }),
            ("FilesPartial", 0.0),
            ("FilesFailed", 0.0),
            ("FilesSkipped", 0.0),
            ("BytesRead", bytes),
            ("RunsFailed", 0.0),
            ("EventsNotPublished", 0.0),
        ];
        for (name, value) in expected {
            assert_eq!(values.get(name), Some(&value), "{name} in {document}");
        }
        assert!((0.0..600_000.0).contains(&values["RunDurationMs"]), "{document}");
        // Lag: the run's end less the newest object it imported; none when it imported nothing.
        match values.get("LagSeconds") {
            Some(lag) => assert!(rows > 0.0 && (0.0..600.0).contains(lag), "{document}"),
            None => assert_eq!(rows, 0.0, "a run that imported has a lag: {document}"),
        }
        assert!(runs.iter().any(|r| document["RunId"] == r.run_id.as_str()), "{document}");
        assert_eq!(document["Result"], "succeeded", "{document}");
    }
}

const NAMESPACE: &str = "S3ConnectorTest";

/// The functions' lines in `log` that are JSON: (their logs, their EMF documents checked against
/// the specification and our metrics' namespace and dimension). Any other line starting with `{`
/// fails the test: CloudWatch would not read it as JSON either.
fn function_output(log: &std::path::Path, deployment: &str) -> (Vec<Value>, Vec<Value>) {
    let text = std::fs::read_to_string(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let (mut logs, mut documents) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| l.starts_with('{')) {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if value.get("_aws").is_some() {
            check_emf(&value, deployment).unwrap_or_else(|e| panic!("not an EMF document of ours: {e}\n{line}"));
            documents.push(value);
        } else {
            logs.push(value);
        }
    }
    (logs, documents)
}

/// Checks `document` against CloudWatch's "Specification: Embedded metric format" (the root's
/// `_aws` with an integer Timestamp within the accepted window and one or more metric directives;
/// each directive's Namespace, dimension sets of names whose values are strings at the root, and
/// metric definitions whose values are numbers at the root, with a unit CloudWatch knows) and
/// against our contract: our namespace, one dimension set, `Deployment`, with this deployment.
fn check_emf(document: &Value, deployment: &str) -> Result<(), String> {
    const UNITS: &[&str] = &[
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    let root = document.as_object().ok_or("the document is not an object")?;
    let aws = root["_aws"].as_object().ok_or("_aws is not an object")?;
    let timestamp = aws.get("Timestamp").and_then(Value::as_i64).ok_or("_aws.Timestamp is not an integer")?;
    let now = chrono::Utc::now().timestamp_millis();
    // CloudWatch takes events up to two weeks old and two hours ahead.
    if !(now - 14 * 86_400_000..=now + 2 * 3_600_000).contains(&timestamp) {
        return Err(format!("Timestamp {timestamp} is outside the window CloudWatch accepts (now {now})"));
    }
    let directives = aws.get("CloudWatchMetrics").and_then(Value::as_array).ok_or("no CloudWatchMetrics array")?;
    if directives.len() != 1 {
        return Err(format!("{} metric directives, we write one", directives.len()));
    }
    for directive in directives {
        let namespace = directive.get("Namespace").and_then(Value::as_str).ok_or("no Namespace")?;
        if namespace != NAMESPACE {
            return Err(format!("Namespace {namespace}, not S3C_METRICS_NAMESPACE's {NAMESPACE}"));
        }
        let sets = directive.get("Dimensions").and_then(Value::as_array).ok_or("no Dimensions array")?;
        for set in sets {
            let names = set.as_array().ok_or("a dimension set is not an array")?;
            if names.len() > 30 {
                return Err("more than 30 dimensions in a set".into());
            }
            for name in names {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                root.get(name).and_then(Value::as_str).ok_or(format!("dimension {name} has no string value"))?;
            }
        }
        if sets != &[serde_json::json!(["Deployment"])] {
            return Err(format!("Dimensions {sets:?}, not the one set [[\"Deployment\"]]"));
        }
        if root["Deployment"] != deployment {
            return Err(format!("Deployment {}, not S3C_DEPLOYMENT's {deployment}", root["Deployment"]));
        }
        let metrics = directive.get("Metrics").and_then(Value::as_array).ok_or("no Metrics array")?;
        if metrics.is_empty() || metrics.len() > 100 {
            return Err(format!("{} metrics in a directive (1 to 100)", metrics.len()));
        }
        for metric in metrics {
            let name = metric.get("Name").and_then(Value::as_str).ok_or("a metric without a Name")?;
            if let Some(unit) = metric.get("Unit") {
                let unit = unit.as_str().ok_or(format!("{name}'s Unit is not a string"))?;
                if !UNITS.contains(&unit) {
                    return Err(format!("{name}'s Unit {unit} is not a CloudWatch unit"));
                }
            }
            root.get(name).filter(|v| v.is_number()).ok_or(format!("metric {name} has no number at the root"))?;
        }
    }
    Ok(())
}

/// Each metric of a (checked) document: its name and value.
fn metric_values(document: &Value) -> BTreeMap<String, f64> {
    document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m["Name"].as_str().unwrap();
            (name.to_owned(), document[name].as_f64().unwrap())
        })
        .collect()
}
