//! What template.yaml makes for event-driven imports (issue 14), read as CloudFormation reads it
//! (see tests/common/template.rs): customers' accounts forward their buckets' Object Created events
//! to a bus of ours, whose one rule sends them to a queue that only that rule may write to, with a
//! dead-letter queue behind both the queue and the rule's target. The intake reads the queue
//! through an event source mapping with a batching window and per-message failures, with the
//! worker's grants and nothing wider. Alarms watch the dead letters, the queue's age and the
//! intake's errors, and the API may let customer accounts onto that bus only.

mod common;

use common::needs;
use common::template::*;
use connector_core::connections::{new_connection, ConnectionInput, ROLE_PREFIX};
use connector_core::model::SyncMode;
use connector_core::policies::events_rule_pattern;
use serde_json::{json, Value};

fn get_att(resource: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [resource, attribute] })
}

#[test]
fn the_buses_rule_sends_every_forwarded_object_created_event_to_the_queue_with_dead_letters() {
    needs!(CfnLint);
    let t = template();
    let bus = &t["Resources"]["ObjectEventBus"];
    assert_eq!(bus["Type"], "AWS::Events::EventBus");
    assert_eq!(bus["Properties"].get("Policy"), None, "the API's per-account statements survive stack updates");
    let rule = &t["Resources"]["ObjectEventRule"]["Properties"];
    assert_eq!(rule["EventBusName"], json!({ "Ref": "ObjectEventBus" }));
    assert_eq!(rule["State"], "ENABLED");
    // What a customer's rule forwards (policies::events_rule_pattern) is what ours takes.
    let input = ConnectionInput {
        tenant: "acme".into(),
        name: "acme".into(),
        account_id: "123456789012".into(),
        template_id: "payments".into(),
        mode: SyncMode::Events,
        ..Default::default()
    }
    .located(Some("acme-exports".into()), Some("us-east-1".into()), Some("exports".into()), false);
    let connection = new_connection(input, "c1".into(), "ext-1".into(), ROLE_PREFIX, chrono::Utc::now()).unwrap();
    let forwarded = events_rule_pattern(&connection);
    assert_eq!(
        rule["EventPattern"],
        json!({ "source": forwarded["source"], "detail-type": forwarded["detail-type"] }),
        "ours takes every bucket's: the customers' rules choose their bucket and folder"
    );
    let targets = rule["Targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "{targets:?}");
    let target = &targets[0];
    assert_eq!(target["Arn"], get_att("ObjectEventQueue", "Arn"));
    assert_eq!(target["DeadLetterConfig"], json!({ "Arn": get_att("ObjectEventDeadLetters", "Arn") }));
    let retry = &target["RetryPolicy"];
    assert!(retry["MaximumRetryAttempts"].as_i64().unwrap() > 0, "{retry}");
    assert_eq!(retry["MaximumEventAgeInSeconds"], 86_400, "EventBridge's longest: a day");
    assert_eq!(t["Outputs"]["ObjectEventBusArn"]["Value"], get_att("ObjectEventBus", "Arn"));
}

#[test]
fn only_the_buses_rule_may_send_to_the_queue_and_its_dead_letters() {
    needs!(CfnLint);
    let t = template();
    let policy = &t["Resources"]["ObjectEventQueuePolicy"]["Properties"];
    assert_eq!(policy["Queues"], json!([{ "Ref": "ObjectEventQueue" }, { "Ref": "ObjectEventDeadLetters" }]));
    let mut resources = Vec::new();
    for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow");
        assert_eq!(statement["Principal"], json!({ "Service": "events.amazonaws.com" }));
        assert_eq!(actions(statement), ["sqs:SendMessage"]);
        assert_eq!(
            statement["Condition"],
            json!({ "ArnEquals": { "aws:SourceArn": get_att("ObjectEventRule", "Arn") } }),
            "only for our rule: {statement}"
        );
        resources.push(statement["Resource"].clone());
    }
    assert_eq!(resources, [get_att("ObjectEventQueue", "Arn"), get_att("ObjectEventDeadLetters", "Arn")]);
    // No other grant in the template names either queue.
    for (holder, statement) in all_statements(&t) {
        let resource = statement["Resource"].to_string();
        if resource.contains("ObjectEventQueue") || resource.contains("ObjectEventDeadLetters") {
            assert_eq!(holder, "ObjectEventQueuePolicy", "{statement}");
        }
    }
}

#[test]
fn the_queue_sets_failed_events_aside_and_keeps_a_batch_hidden_six_times_the_intakes_timeout() {
    needs!(CfnLint);
    let t = template();
    let queue = &t["Resources"]["ObjectEventQueue"]["Properties"];
    let dead = &t["Resources"]["ObjectEventDeadLetters"]["Properties"];
    assert_eq!(
        queue["RedrivePolicy"],
        json!({ "deadLetterTargetArn": get_att("ObjectEventDeadLetters", "Arn"), "maxReceiveCount": 10 })
    );
    assert_eq!(dead["MessageRetentionPeriod"], 1_209_600, "14 days, SQS's longest");
    for (id, properties) in [("ObjectEventQueue", queue), ("ObjectEventDeadLetters", dead)] {
        assert_eq!(properties["SqsManagedSseEnabled"], true, "{id} is encrypted");
    }
    let timeout = t["Resources"]["IntakeFunction"]["Properties"]["Timeout"].as_i64().unwrap();
    let visibility = queue["VisibilityTimeout"].as_i64().unwrap();
    assert!(visibility >= 6 * timeout, "Lambda's advice for SQS sources: {visibility} s < 6 x {timeout} s");
}

#[test]
fn the_intake_reads_the_queue_in_windowed_batches_and_reports_each_failed_message() {
    needs!(CfnLint);
    let t = template();
    let intake = &t["Resources"]["IntakeFunction"];
    assert_eq!(intake["Metadata"]["BuildMethod"], "rust-cargolambda");
    assert_eq!(intake["Metadata"]["BuildProperties"]["Binary"], "intake");
    assert_eq!(intake["Properties"]["CodeUri"], "crates/intake");
    let events = intake["Properties"]["Events"].as_object().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let source = &events["ObjectEvents"];
    assert_eq!(source["Type"], "SQS");
    let mapping = &source["Properties"];
    assert_eq!(mapping["Queue"], get_att("ObjectEventQueue", "Arn"));
    assert_eq!(mapping["BatchSize"], json!({ "Ref": "EventsBatchSize" }));
    assert_eq!(mapping["MaximumBatchingWindowInSeconds"], json!({ "Ref": "EventsBatchingWindowSeconds" }));
    assert_eq!(mapping["FunctionResponseTypes"], json!(["ReportBatchItemFailures"]));
    assert_eq!(mapping["ScalingConfig"], json!({ "MaximumConcurrency": { "Ref": "EventsMaximumConcurrency" } }));
    let parameter = |name: &str| {
        let p = &t["Parameters"][name];
        (p["Type"].as_str(), p["Default"].as_i64(), p["MinValue"].as_i64(), p["MaxValue"].as_i64())
    };
    // Lambda's ranges for an SQS mapping of a standard queue.
    assert_eq!(parameter("EventsBatchingWindowSeconds"), (Some("Number"), Some(30), Some(0), Some(300)));
    assert_eq!(parameter("EventsBatchSize"), (Some("Number"), Some(1000), Some(1), Some(10_000)));
    assert_eq!(parameter("EventsMaximumConcurrency"), (Some("Number"), Some(5), Some(2), Some(1000)));
    // Over 10 messages a batch needs a window: refused before the stack is made, not halfway.
    let rule = &t["Rules"]["EventsBatchOverTenNeedsWindow"];
    assert_eq!(rule["RuleCondition"], json!({ "Fn::Equals": [{ "Ref": "EventsBatchingWindowSeconds" }, "0"] }));
    let allowed = &rule["Assertions"][0]["Assert"]["Fn::Contains"];
    let sizes: Vec<&str> = allowed[0].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(sizes, (1..=10).map(|n| n.to_string()).collect::<Vec<_>>());
    assert_eq!(allowed[1], json!({ "Ref": "EventsBatchSize" }));
    // The worker it hands long imports over to, by the name the API and the dispatcher use.
    let env = environment(&t, "IntakeFunction");
    assert_eq!(env["S3C_WORKER_FUNCTION"], json!({ "Ref": "WorkerFunction" }));
    assert_eq!(env["S3C_STATE_TABLE"], json!({ "Ref": "StateTable" }));
    assert_eq!(env["S3C_RECORDS_TABLE"], json!({ "Ref": "RecordsTable" }));
}

/// A statement without its Sid: what it grants.
fn grant(statement: &Value) -> Value {
    let mut grant = statement.clone();
    grant.as_object_mut().unwrap().remove("Sid");
    grant
}

#[test]
fn the_intake_has_the_workers_grants_the_by_bucket_index_and_invoking_the_worker_nothing_more() {
    needs!(CfnLint);
    let t = template();
    let worker: Vec<Value> = statements(&t, "WorkerFunction").iter().map(grant).collect();
    let own = [
        // Where an event's connections are found (connector_aws::dynamodb::routes).
        json!({ "Effect": "Allow", "Action": "dynamodb:Query",
                "Resource": { "Fn::Sub": "${StateTable.Arn}/index/by-bucket" } }),
        // A long import goes on in the worker, as the worker hands over to itself.
        json!({ "Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": get_att("WorkerFunction", "Arn") }),
    ];
    // The worker's own, but its failure queue (the intake is never invoked asynchronously) and
    // invoking itself (the intake invokes the worker instead).
    let from_worker = worker.iter().filter(|w| {
        let actions = actions(w);
        !actions.iter().any(|a| a == "sqs:SendMessage" || a == "lambda:InvokeFunction")
    });
    // Compared as values, not as text: serde_json keeps keys in insertion order when a crate of
    // the workspace turns on its preserve_order feature (cargo test --workspace does), and a
    // Value's equality ignores key order either way.
    let expected: Vec<Value> = from_worker.cloned().chain(own).collect();
    let intake: Vec<Value> = statements(&t, "IntakeFunction").iter().map(grant).collect();
    let missing: Vec<&Value> = expected.iter().filter(|e| !intake.contains(e)).collect();
    let extra: Vec<&Value> = intake.iter().filter(|i| !expected.contains(i)).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:#?}, not the worker's {extra:#?}");
    assert_eq!(intake.len(), expected.len(), "{intake:#?}");
    for statement in intake.iter().filter(|s| s["Resource"].to_string().contains('*')) {
        assert!(worker.iter().any(|w| w["Resource"] == statement["Resource"]), "a wildcard of its own: {statement}");
    }
}

#[test]
fn alarms_watch_the_dead_letters_the_queues_age_and_the_intakes_errors() {
    needs!(CfnLint);
    let t = template();
    let queue = |id: &str| json!([{ "Name": "QueueName", "Value": get_att(id, "QueueName") }]);
    let expected = [
        // alarm, namespace, metric, dimensions, statistic, threshold
        (
            "ObjectEventDeadLetterAlarm",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            queue("ObjectEventDeadLetters"),
            "Maximum",
            json!(0),
        ),
        (
            "ObjectEventAgeAlarm",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            queue("ObjectEventQueue"),
            "Maximum",
            json!({ "Ref": "EventsQueueAgeAlarmSeconds" }),
        ),
        (
            "IntakeErrorsAlarm",
            "AWS/Lambda",
            "Errors",
            json!([{ "Name": "FunctionName", "Value": { "Ref": "IntakeFunction" } }]),
            "Sum",
            json!(0),
        ),
    ];
    let names = t["Outputs"]["AlarmNames"]["Value"]["Fn::Join"][1].as_array().unwrap();
    for (id, namespace, metric, dimensions, statistic, threshold) in expected {
        let p = &t["Resources"][id]["Properties"];
        assert_eq!(
            (p["Namespace"].as_str(), p["MetricName"].as_str(), &p["Dimensions"], p["Statistic"].as_str()),
            (Some(namespace), Some(metric), &dimensions, Some(statistic)),
            "{id}"
        );
        assert_eq!(
            (p["ComparisonOperator"].as_str(), &p["Threshold"], p["TreatMissingData"].as_str()),
            (Some("GreaterThanThreshold"), &threshold, Some("notBreaching")),
            "{id}"
        );
        assert!(names.contains(&json!({ "Ref": id })), "{id} is in the AlarmNames output");
    }
    // Where they notify: tests/template.rs checks every alarm against the topic in use.
    let d = deployed(&t, &[("AlarmEmail", "ops@example.com")]);
    for id in ["ObjectEventDeadLetterAlarm", "ObjectEventAgeAlarm", "IntakeErrorsAlarm"] {
        assert_eq!(d["Resources"][id]["Properties"]["AlarmActions"], json!([{ "Ref": "AlarmTopic" }]), "{id}");
    }
}

#[test]
fn the_api_may_let_customer_accounts_onto_the_object_event_bus_only_and_knows_its_arn() {
    needs!(CfnLint);
    let t = template();
    let bus = get_att("ObjectEventBus", "Arn");
    let managing: Vec<(String, Value)> = all_statements(&t)
        .into_iter()
        .filter(|(_, s)| actions(s).iter().any(|a| a == "events:PutPermission" || a == "events:RemovePermission"))
        .collect();
    assert_eq!(managing.len(), 1, "{managing:?}");
    let (holder, statement) = &managing[0];
    assert_eq!(holder, "ApiFunctionRole");
    assert_eq!(actions(statement), ["events:PutPermission", "events:RemovePermission", "events:DescribeEventBus"]);
    assert_eq!(statement["Resource"], bus, "that bus only");
    assert_eq!(environment(&t, "ApiFunction")["S3C_OBJECT_EVENT_BUS_ARN"], bus);
}
