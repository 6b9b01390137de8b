//! Run and status events as a platform receives them: a rule on the deployment's bus (EventBridge
//! on moto) targets an SQS queue, and the test reads what the queue got from real syncs (one that
//! imports and activates, one that partly fails, an operator's pause and resume, one that finds the
//! bucket gone) and checks each event's fields and its detail against its JSON Schema in
//! events/schema/. The samples in events/eventbridge/ pass the same schemas.

mod common;

use chrono::TimeDelta;
use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// The JSON Schema of each detail-type's detail.
fn schemas() -> HashMap<&'static str, jsonschema::Validator> {
    let load = |file: &str| {
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(format!("events/schema/{file}")).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{file} is not a schema: {e}"))
    };
    HashMap::from([
        ("Sync Run Finished", load("sync-run-finished.v1.json")),
        ("Connection Status Changed", load("connection-status-changed.v1.json")),
    ])
}

/// `event` (as EventBridge delivers it) is from s3-connector and its detail passes its schema.
fn check_event(schemas: &HashMap<&'static str, jsonschema::Validator>, event: &Value) {
    assert_eq!(event["source"], "s3-connector", "{event}");
    let detail_type = event["detail-type"].as_str().expect("a detail-type");
    let schema = schemas.get(detail_type).unwrap_or_else(|| panic!("no schema for '{detail_type}'"));
    let errors: Vec<String> =
        schema.iter_errors(&event["detail"]).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{detail_type}: {errors:?}\n{event:#}");
}

#[test]
fn the_samples_in_events_pass_their_schemas() {
    let schemas = schemas();
    let mut seen = Vec::new();
    for entry in std::fs::read_dir("events/eventbridge").unwrap() {
        let path = entry.unwrap().path();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        check_event(&schemas, &event);
        seen.push(event["detail-type"].as_str().unwrap().to_owned());
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["Connection Status Changed", "Sync Run Finished"], "a sample of each");
}

/// A queue that a rule on the world's bus fills with every s3-connector event.
async fn queue_of_events(world: &World) -> (aws_sdk_sqs::Client, String) {
    let sqs = aws_sdk_sqs::Client::new(&world.aws.sdk);
    let queue = sqs.create_queue().queue_name(unique("events")).send().await.unwrap();
    let url = queue.queue_url().unwrap().to_owned();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn = attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    let events = world.aws.eventbridge();
    let bus = &world.connector.settings.event_bus;
    let rule = unique("to-queue");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(r#"{"source": ["s3-connector"]}"#)
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(arn).build().unwrap();
    events.put_targets().rule(&rule).event_bus_name(bus).targets(target).send().await.unwrap();
    (sqs, url)
}

/// The next `n` events the queue holds, in the order they were published.
async fn received(sqs: &aws_sdk_sqs::Client, url: &str, n: usize) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..20 {
        let got = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap();
        for message in got.messages() {
            events.push(serde_json::from_str::<Value>(message.body().unwrap()).unwrap());
            sqs.delete_message().queue_url(url).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
        }
        if events.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(events.len(), n, "{events:#?}");
    // PutEvents sends a run's events in one request, in order; EventBridge stamps `time` in
    // seconds, so order by the detail's own times, then as published within one run.
    let when = |e: &Value| {
        let d = &e["detail"];
        d["finished_at"].as_str().or(d["changed_at"].as_str()).unwrap_or_default().to_owned()
    };
    events.sort_by_key(|e| (when(e), e["detail-type"] != "Sync Run Finished"));
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_on_the_bus_receives_each_event_of_real_syncs() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let (sqs, url) = queue_of_events(&world).await;
    let schemas = schemas();

    // A sync that imports: the run, and the connection activated by it.
    world.put("in/a.csv", "id,amount\na1,1\na2,2\n").await;
    let connection = world.connection(Some("in")).await;
    let first = world.completed(&connection.id).await;
    let events = received(&sqs, &url, 2).await;
    events.iter().for_each(|e| check_event(&schemas, e));
    let (run, activated) = (&events[0]["detail"], &events[1]["detail"]);
    assert_eq!(events[0]["detail-type"], "Sync Run Finished");
    assert_eq!(
        (run["connection_id"].as_str(), run["run_id"].as_str()),
        (Some(connection.id.as_str()), Some(first.run_id.as_str()))
    );
    assert_eq!(
        (run["result"].as_str(), run["connection_name"].as_str()),
        (Some("succeeded"), Some(connection.name.as_str()))
    );
    assert_eq!((&run["objects"]["imported"], &run["rows"]["imported"]), (&Value::from(1), &Value::from(2)));
    assert_eq!(run["bytes_read"], Value::from(first.counts.bytes_read));
    assert!(run["bytes_read"].as_u64().unwrap() > 0 && run["lag_seconds"].as_i64().is_some(), "{run}");
    assert_eq!(events[1]["detail-type"], "Connection Status Changed");
    assert_eq!((activated["from"].as_str(), activated["to"].as_str()), (Some("pending"), Some("active")));
    assert_eq!(
        (activated["reason"].as_str(), activated["run_id"].as_str()),
        (Some("activated"), Some(first.run_id.as_str()))
    );

    // A sync that partly fails: the failed file named with its reason.
    at_next_second().await;
    world.put("in/b.csv", "id,amount\nb1,1\nb2,x\n").await;
    world.put("in/no-id.csv", "payment,amount\np,1\n").await;
    world.completed(&connection.id).await;
    let events = received(&sqs, &url, 1).await;
    check_event(&schemas, &events[0]);
    let run = &events[0]["detail"];
    assert_eq!(run["result"], "partial");
    assert_eq!(
        (&run["objects"]["partial"], &run["objects"]["failed"], &run["rows"]["rejected"]),
        (&Value::from(1), &Value::from(1), &Value::from(1))
    );
    assert_eq!(run["failed_files"][0]["key"], "in/no-id.csv");
    assert!(run["failed_files"][0]["reason"].as_str().unwrap().contains("id"), "{run}");

    // An operator pauses and resumes it.
    let service = world.connector.in_process();
    service.pause(&connection.id).await.unwrap();
    service.resume(&connection.id).await.unwrap();
    let events = received(&sqs, &url, 2).await;
    let reasons: Vec<_> = events
        .iter()
        .map(|e| {
            check_event(&schemas, e);
            e["detail"]["reason"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(reasons, ["paused_by_operator", "resumed"]);

    // A sync that finds the bucket gone: needs_reauth, and the status says so with the error.
    for key in ["in/a.csv", "in/b.csv", "in/no-id.csv"] {
        world.s3.delete_object().bucket(&world.bucket).key(key).send().await.unwrap();
    }
    world.s3.delete_bucket().bucket(&world.bucket).send().await.unwrap();
    world.completed(&connection.id).await;
    let events = received(&sqs, &url, 2).await;
    events.iter().for_each(|e| check_event(&schemas, e));
    let (run, broken) = (&events[0]["detail"], &events[1]["detail"]);
    assert_eq!((run["result"].as_str(), run["consecutive_failures"].as_u64()), (Some("needs_reauth"), Some(1)));
    assert!(run["error"].as_str().is_some_and(|e| !e.is_empty()), "{run}");
    assert_eq!(
        (broken["from"].as_str(), broken["to"].as_str(), broken["reason"].as_str()),
        (Some("active"), Some("needs_reauth"), Some("needs_reauth"))
    );
    assert_eq!(broken["error"], run["error"]);
    assert_eq!(world.connector.events.take_not_published(), 0, "every event was published");
}

/// A bus that refuses the events (here: deleted) fails no sync: the run is recorded, its records
/// stay, and the events not published are counted for the worker's EventsNotPublished metric.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_bus_refuses_are_counted_and_fail_no_sync() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    world.aws.eventbridge().delete_event_bus().name(&world.connector.settings.event_bus).send().await.unwrap();
    world.put("in/a.csv", "id,amount\na1,1\n").await;
    let connection = world.connection(Some("in")).await;
    let run = world.completed(&connection.id).await;
    assert_eq!(
        (run.result, world.records(&connection.id).await.len()),
        (connector_core::model::SyncResult::Succeeded, 1)
    );
    assert_eq!(world.connector.events.take_not_published(), 2, "the run's and its activation's");
    assert_eq!(world.connector.events.take_not_published(), 0, "taken once");
}
