//! What template.yaml grants and watches, read as CloudFormation reads it (cfn-lint's decoder, from
//! the project's virtualenv): the worker may assume only roles with the deployment's prefix and use
//! only its own tables, queue and itself; the dispatcher may only query the status index and invoke
//! the worker; the daily trigger is an EventBridge rule, whose event the dispatcher reads. Every
//! function logs JSON through Lambda's logging controls, is traced by X-Ray and knows the bus, the
//! metrics namespace and the deployment; only the worker and the API publish, to that one bus.
//! Alarms notify the topic in use, and only when there is one, and the webhook exists only with a
//! URL: [`deployed`] decides the template's conditions for given parameters as CloudFormation would.

mod common;

use common::needs;
use common::template::*;
use serde_json::{json, Value};

/// The one event bus the functions may publish to: EventBusName's, in the stack's account and Region.
const BUS: &str = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}";

#[test]
fn the_worker_may_assume_only_prefixed_roles_and_use_only_its_own_resources() {
    needs!(CfnLint);
    let t = template();
    let worker = statements(&t, "WorkerFunction");
    for statement in &worker {
        assert_eq!(statement["Effect"], "Allow");
        for action in actions(statement) {
            assert!(!action.contains('*'), "no wildcard actions: {action}");
            let resource = statement["Resource"].to_string();
            match action.split(':').next().unwrap() {
                "sts" => {
                    assert_eq!(action, "sts:AssumeRole");
                    assert_eq!(
                        statement["Resource"]["Fn::Sub"], "arn:${AWS::Partition}:iam::*:role/${RolePrefix}*",
                        "only roles with the prefix"
                    );
                }
                "dynamodb" => {
                    assert!(resource.contains("StateTable") || resource.contains("RecordsTable"), "{resource}");
                }
                "lambda" => assert!(resource.contains("${AWS::StackName}-worker"), "only itself: {resource}"),
                "sqs" => assert!(resource.contains("WorkerDeadLetterQueue"), "{resource}"),
                "events" => {
                    assert_eq!(action, "events:PutEvents");
                    assert_eq!(statement["Resource"], json!({ "Fn::Sub": BUS }), "only the named bus");
                }
                "s3" if action == "s3:ListBucket" => {
                    assert_eq!(statement["Resource"], json!({"Fn::GetAtt": ["RejectsBucket", "Arn"]}))
                }
                "s3" => assert_eq!(statement["Resource"], json!({"Fn::Sub": "${RejectsBucket.Arn}/*"}), "{action}"),
                other => panic!("the worker may not use {other}: {statement}"),
            }
        }
    }
    // The records table takes only writes from the worker, and the query that finds an earlier
    // version's records to replace.
    let on_records: Vec<String> =
        worker.iter().filter(|s| s["Resource"].to_string().contains("RecordsTable")).flat_map(actions).collect();
    assert_eq!(on_records, ["dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:Query"]);
    // The prefix the policies name is the one the code generates role names with.
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(env["S3C_ROLE_PREFIX"], json!({"Ref": "RolePrefix"}));
    assert_eq!(t["Parameters"]["RolePrefix"]["Default"], connector_core::connections::ROLE_PREFIX);
}

/// The state table's indexes are those `s3-connector init` creates ([`connector_aws::dynamodb::tables`]),
/// the by-tenant index among them, and only the API (the management service) may read a tenant's
/// list from it.
#[test]
fn the_state_table_indexes_connections_by_tenant_and_the_api_may_query_it() {
    needs!(CfnLint);
    let t = template();
    let table = &t["Resources"]["StateTable"]["Properties"];
    let index = |name: &str| {
        table["GlobalSecondaryIndexes"].as_array().unwrap().iter().find(|i| i["IndexName"] == name).cloned()
    };
    let by_tenant = index(connector_aws::dynamodb::TENANT_INDEX).expect("the by-tenant index");
    assert_eq!(
        (&by_tenant["KeySchema"], &by_tenant["Projection"]),
        (
            &json!([{"AttributeName": "tenant_key", "KeyType": "HASH"}, {"AttributeName": "name", "KeyType": "RANGE"}]),
            &json!({"ProjectionType": "ALL"})
        ),
        "as tables.rs declares it: {by_tenant}"
    );
    assert_eq!(index("by-status").map(|i| i["Projection"].clone()), Some(json!({"ProjectionType": "ALL"})));
    let defined: Vec<&Value> = table["AttributeDefinitions"].as_array().unwrap().iter().collect();
    assert!(defined.contains(&&json!({"AttributeName": "tenant_key", "AttributeType": "S"})), "{defined:?}");
    let names: Vec<&str> = defined.iter().map(|d| d["AttributeName"].as_str().unwrap()).collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names.len(), unique.len(), "each attribute defined once: {names:?}");

    let grants_on_index = |holder: &str| {
        all_statements(&t).into_iter().filter(|(id, _)| id == holder).any(|(_, s)| {
            s["Resource"].to_string().contains("/index/by-tenant") && actions(&s).contains(&"dynamodb:Query".to_owned())
        })
    };
    assert!(grants_on_index("ApiFunctionRole"), "the API lists a tenant's connections");
    for function in ["WorkerFunction", "DispatcherFunction"] {
        assert!(!grants_on_index(function), "{function} never reads a tenant's list");
    }
}

#[test]
fn the_dispatcher_may_only_read_the_status_index_and_invoke_the_worker_on_an_eventbridge_rule() {
    needs!(CfnLint);
    let t = template();
    let dispatcher = statements(&t, "DispatcherFunction");
    let granted: Vec<(String, String)> =
        dispatcher.iter().flat_map(|s| actions(s).into_iter().map(|a| (a, s["Resource"].to_string()))).collect();
    assert_eq!(granted.len(), 2, "{granted:?}");
    assert_eq!(granted[0].0, "dynamodb:Query");
    assert!(granted[0].1.contains("/index/by-status"), "{granted:?}");
    assert_eq!(granted[1].0, "lambda:InvokeFunction");
    assert!(granted[1].1.contains("WorkerFunction"), "{granted:?}");
    let trigger = &t["Resources"]["DispatcherFunction"]["Properties"]["Events"]["Daily"];
    assert_eq!(trigger["Type"], "Schedule", "an EventBridge rule sends the Scheduled Event the dispatcher reads");
}

#[test]
fn every_function_logs_json_through_lambda_and_is_traced() {
    needs!(CfnLint);
    let t = template();
    let globals = &t["Globals"]["Function"];
    assert_eq!(
        globals["LoggingConfig"],
        json!({"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"})
    );
    assert_eq!(globals["Tracing"], "Active");
    for (id, resource) in t["Resources"].as_object().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let properties = &resource["Properties"];
        for own in ["LoggingConfig", "Tracing"] {
            assert!(properties.get(own).is_none(), "{id} keeps the Globals' {own}");
        }
        // Lambda sets these from LoggingConfig; a value of our own would say something else.
        for variable in ["AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL"] {
            assert!(globals["Environment"]["Variables"].get(variable).is_none(), "Globals set {variable}");
            assert!(properties["Environment"]["Variables"].get(variable).is_none(), "{id} sets {variable}");
        }
    }
    // SAM gives the roles it generates AWSXrayWriteOnlyAccess; the API's own role grants exactly
    // what Lambda needs to send segments, and nothing else in the template grants X-Ray anything.
    let xray: Vec<(String, Value)> =
        all_statements(&t).into_iter().filter(|(_, s)| actions(s).iter().any(|a| a.starts_with("xray:"))).collect();
    assert_eq!(xray.len(), 1, "{xray:?}");
    let (holder, statement) = &xray[0];
    assert_eq!(holder, "ApiFunctionRole");
    assert_eq!(actions(statement), ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]);
    assert_eq!(statement["Resource"], "*", "X-Ray has no resource-level permissions for these");
}

#[test]
fn only_the_worker_and_the_api_may_publish_events_and_only_to_the_named_bus() {
    needs!(CfnLint);
    let t = template();
    let all = all_statements(&t);
    // Grants only: a deny may be wide (the role template bucket's refuses every plain-HTTP request).
    for (holder, statement) in all.iter().filter(|(_, s)| s["Effect"] != "Deny") {
        for action in actions(statement) {
            assert!(!action.contains('*'), "{holder}: no wildcard actions: {action}");
        }
    }
    let publishers: Vec<(&str, &Value)> = all
        .iter()
        .filter(|(_, s)| actions(s).iter().any(|a| a == "events:PutEvents"))
        .map(|(holder, s)| (holder.as_str(), s))
        .collect();
    let mut holders: Vec<&str> = publishers.iter().map(|(h, _)| *h).collect();
    holders.sort_unstable();
    assert_eq!(holders, ["ApiFunctionRole", "IntakeFunction", "WorkerFunction"], "the dispatcher publishes no events");
    for (holder, statement) in publishers {
        assert_eq!(actions(statement), ["events:PutEvents"], "{holder}");
        assert_eq!(statement["Resource"], json!({ "Fn::Sub": BUS }), "{holder}: only the named bus");
    }
    assert_eq!(t["Parameters"]["EventBusName"]["Default"], "default", "the account's default bus");
    // Besides publishing, EventBridge may call the webhook's destination, and the API may let
    // customers' accounts onto the object event bus (tests/template_events.rs), and nothing else.
    for (holder, statement) in &all {
        for action in actions(statement).into_iter().filter(|a| a.starts_with("events:")) {
            match action.as_str() {
                "events:PutEvents" => {}
                "events:InvokeApiDestination" => {
                    assert_eq!(holder, "WebhookRole");
                    assert_eq!(actions(statement), [action.as_str()]);
                    assert_eq!(statement["Resource"], json!({ "Fn::GetAtt": ["WebhookDestination", "Arn"] }));
                }
                "events:PutPermission" | "events:RemovePermission" | "events:DescribeEventBus" => {
                    assert_eq!(holder, "ApiFunctionRole");
                    assert_eq!(statement["Resource"], json!({ "Fn::GetAtt": ["ObjectEventBus", "Arn"] }));
                }
                other => panic!("{holder} may not {other}"),
            }
        }
    }
}

#[test]
fn every_function_knows_its_bus_namespace_and_deployment_and_the_pausers_the_threshold() {
    needs!(CfnLint);
    let t = template();
    let reference = |name: &str| json!({ "Ref": name });
    for function in ["WorkerFunction", "DispatcherFunction", "ApiFunction", "IntakeFunction"] {
        let env = environment(&t, function);
        assert_eq!(env["S3C_EVENT_BUS"], reference("EventBusName"), "{function}");
        assert_eq!(env["S3C_METRICS_NAMESPACE"], reference("MetricsNamespace"), "{function}");
        assert_eq!(env["S3C_DEPLOYMENT"], reference("AWS::StackName"), "{function}");
        let pauses = function != "DispatcherFunction";
        assert_eq!(
            env.get("S3C_PAUSE_AFTER_FAILURES"),
            pauses.then(|| reference("PauseAfterFailures")).as_ref(),
            "{function}"
        );
    }
    let pause = &t["Parameters"]["PauseAfterFailures"];
    assert_eq!(
        (pause["Type"].as_str(), pause["Default"].as_i64(), pause["MinValue"].as_i64()),
        (Some("Number"), Some(7), Some(0))
    );
    assert_eq!(t["Parameters"]["MetricsNamespace"]["Default"], "S3Connector");
}

const WEBHOOK: &str = "https://hooks.example.com/s3-connector";
const ALARM_EMAIL: &str = "ops@example.com";
const ALARM_TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:ops";

/// Where alarms go, for each way of setting AlarmTopicArn and AlarmEmail: the topic they notify,
/// if any (AlarmTopicArn wins; the stack's own AlarmTopic exists only for AlarmEmail alone).
fn alarm_destinations() -> [(Vec<(&'static str, &'static str)>, Option<Value>); 4] {
    [
        (vec![], None),
        (vec![("AlarmEmail", ALARM_EMAIL)], Some(json!({ "Ref": "AlarmTopic" }))),
        (vec![("AlarmTopicArn", ALARM_TOPIC)], Some(json!(ALARM_TOPIC))),
        (vec![("AlarmTopicArn", ALARM_TOPIC), ("AlarmEmail", ALARM_EMAIL)], Some(json!(ALARM_TOPIC))),
    ]
}

#[test]
fn every_alarm_notifies_the_topic_in_use_on_alarm_and_ok_and_nothing_without_one() {
    needs!(CfnLint);
    let t = template();
    for ((mut given, topic), webhook) in alarm_destinations().into_iter().flat_map(|c| [(c.clone(), false), (c, true)])
    {
        if webhook {
            given.extend([("WebhookUrl", WEBHOOK), ("WebhookSecret", "key")]);
        }
        let d = deployed(&t, &given);
        let alarms = of_type(&d, "AWS::CloudWatch::Alarm");
        assert_eq!(alarms.len(), if webhook { 10 } else { 9 }, "{given:?}");
        let expected = topic.as_ref().map(|topic| json!([topic]));
        for (id, alarm) in alarms {
            let properties = &alarm["Properties"];
            for actions in ["AlarmActions", "OKActions"] {
                assert_eq!(properties.get(actions), expected.as_ref(), "{id}'s {actions} with {given:?}");
            }
            assert_eq!(properties.get("InsufficientDataActions"), None, "{id}");
        }
        let created = of_type(&d, "AWS::SNS::Topic");
        let creates = topic == Some(json!({ "Ref": "AlarmTopic" }));
        assert_eq!(
            created.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            creates.then_some("AlarmTopic").as_slice(),
            "{given:?}"
        );
        for (_, created) in created {
            assert_eq!(
                created["Properties"]["Subscription"],
                json!([{ "Protocol": "email", "Endpoint": ALARM_EMAIL }])
            );
        }
        assert_eq!(d["Outputs"].get("AlarmTopic").map(|o| &o["Value"]), topic.as_ref(), "{given:?}");
    }
}

#[test]
fn the_alarms_watch_the_failures_queue_errors_the_dispatchers_silence_reauth_and_lag() {
    needs!(CfnLint);
    let t = template();
    let function = |id: &str| json!([{ "Name": "FunctionName", "Value": { "Ref": id } }]);
    let deployment = json!([{ "Name": "Deployment", "Value": { "Ref": "AWS::StackName" } }]);
    let ours = json!({ "Ref": "MetricsNamespace" });
    let queue = json!([{ "Name": "QueueName", "Value": { "Fn::GetAtt": ["WorkerDeadLetterQueue", "QueueName"] } }]);
    let expected = [
        // alarm, namespace, metric, dimensions, statistic, comparison, threshold, missing data
        (
            "WorkerDeadLetterAlarm",
            json!("AWS/SQS"),
            "ApproximateNumberOfMessagesVisible",
            queue,
            "Maximum",
            "GreaterThanThreshold",
            json!(0),
            "notBreaching",
        ),
        (
            "WorkerErrorsAlarm",
            json!("AWS/Lambda"),
            "Errors",
            function("WorkerFunction"),
            "Sum",
            "GreaterThanThreshold",
            json!(0),
            "notBreaching",
        ),
        (
            "DispatcherErrorsAlarm",
            json!("AWS/Lambda"),
            "Errors",
            function("DispatcherFunction"),
            "Sum",
            "GreaterThanThreshold",
            json!(0),
            "notBreaching",
        ),
        (
            "DispatcherNotRunAlarm",
            json!("AWS/Lambda"),
            "Invocations",
            function("DispatcherFunction"),
            "Sum",
            "LessThanThreshold",
            json!(1),
            "breaching",
        ),
        (
            "ConnectionsNeedingReauthAlarm",
            ours.clone(),
            "ConnectionsNeedingReauth",
            deployment.clone(),
            "Maximum",
            "GreaterThanThreshold",
            json!(0),
            "ignore",
        ),
        (
            "LagAlarm",
            ours,
            "LagSeconds",
            deployment,
            "Maximum",
            "GreaterThanThreshold",
            json!({ "Ref": "LagAlarmSeconds" }),
            "ignore",
        ),
    ];
    for (id, namespace, metric, dimensions, statistic, comparison, threshold, missing) in expected {
        let p = &t["Resources"][id]["Properties"];
        assert_eq!(
            (&p["Namespace"], p["MetricName"].as_str(), &p["Dimensions"], p["Statistic"].as_str()),
            (&namespace, Some(metric), &dimensions, Some(statistic)),
            "{id}"
        );
        assert_eq!(
            (p["ComparisonOperator"].as_str(), &p["Threshold"], p["TreatMissingData"].as_str()),
            (Some(comparison), &threshold, Some(missing)),
            "{id}"
        );
    }
    // No run for 26 hours: 26 hourly periods, every one of them without an invocation. CloudWatch
    // evaluates at most a day of periods under an hour, at most seven days of longer ones.
    let silence = &t["Resources"]["DispatcherNotRunAlarm"]["Properties"];
    assert_eq!(silence["Period"].as_i64().unwrap() * silence["EvaluationPeriods"].as_i64().unwrap(), 26 * 3600);
    assert_eq!(silence["DatapointsToAlarm"], silence["EvaluationPeriods"]);
    for (id, alarm) in of_type(&t, "AWS::CloudWatch::Alarm") {
        let period = alarm["Properties"]["Period"].as_i64().unwrap();
        let range = period * alarm["Properties"]["EvaluationPeriods"].as_i64().unwrap();
        assert!(range <= if period < 3600 { 86_400 } else { 604_800 }, "{id}: {range} s");
    }
    let lag = &t["Parameters"]["LagAlarmSeconds"];
    assert_eq!((lag["Type"].as_str(), lag["Default"].as_i64()), (Some("Number"), Some(172_800)));
}

#[test]
fn without_a_webhook_url_there_is_no_webhook() {
    needs!(CfnLint);
    let t = template();
    let d = deployed(&t, &[]);
    for id in d["Resources"].as_object().unwrap().keys().chain(d["Outputs"].as_object().unwrap().keys()) {
        assert!(!id.starts_with("Webhook"), "{id} without a WebhookUrl");
    }
    for kind in ["AWS::Events::Connection", "AWS::Events::ApiDestination"] {
        assert!(of_type(&d, kind).is_empty(), "{kind}");
    }
    // The one rule left is the object events' own, on its own bus (tests/template_events.rs).
    let rules: Vec<&String> = of_type(&d, "AWS::Events::Rule").into_iter().map(|(id, _)| id).collect();
    assert_eq!(rules, ["ObjectEventRule"]);
    assert_eq!(refused(&t, &[]), Vec::<String>::new());
    assert_eq!(refused(&t, &[("WebhookAuth", "Basic")]), Vec::<String>::new(), "no webhook, nothing to authenticate");
}

#[test]
fn the_webhook_receives_the_connectors_events_authenticated_retried_and_kept_when_undeliverable() {
    needs!(CfnLint);
    let t = template();
    let secret = json!({ "Fn::Sub": "${WebhookSecret}" });
    let cases = [
        (
            vec![("WebhookUrl", WEBHOOK), ("WebhookSecret", "key")],
            "API_KEY",
            json!({ "ApiKeyAuthParameters": { "ApiKeyName": "x-api-key", "ApiKeyValue": secret } }),
        ),
        (
            vec![("WebhookUrl", WEBHOOK), ("WebhookSecret", "key"), ("WebhookApiKeyName", "Authorization")],
            "API_KEY",
            json!({ "ApiKeyAuthParameters": { "ApiKeyName": "Authorization", "ApiKeyValue": secret } }),
        ),
        (
            vec![
                ("WebhookUrl", WEBHOOK),
                ("WebhookAuth", "Basic"),
                ("WebhookUsername", "s3c"),
                ("WebhookSecret", "pw"),
            ],
            "BASIC",
            json!({ "BasicAuthParameters": { "Username": { "Fn::Sub": "${WebhookUsername}" }, "Password": secret } }),
        ),
    ];
    for (given, authorization, parameters) in cases {
        assert_eq!(refused(&t, &given), Vec::<String>::new(), "{given:?}");
        let d = deployed(&t, &given);
        let resource = |id: &str| &d["Resources"][id]["Properties"];
        let connection = resource("WebhookConnection");
        assert_eq!(
            (&connection["AuthorizationType"], &connection["AuthParameters"]),
            (&json!(authorization), &parameters)
        );

        let destination = resource("WebhookDestination");
        assert_eq!(destination["ConnectionArn"], json!({ "Fn::GetAtt": ["WebhookConnection", "Arn"] }));
        assert_eq!(
            (destination["HttpMethod"].as_str(), destination["InvocationEndpoint"].as_str()),
            (Some("POST"), Some(WEBHOOK))
        );
        let rate = destination["InvocationRateLimitPerSecond"].as_i64().unwrap();
        assert!((1..=300).contains(&rate), "{rate}: at most EventBridge's default of 300");

        let rule = resource("WebhookRule");
        assert_eq!(rule["EventBusName"], "default", "the bus the functions publish to");
        assert_eq!(
            rule["EventPattern"],
            json!({ "source": ["s3-connector"], "detail-type": ["Sync Run Finished", "Connection Status Changed"] })
        );
        let targets = rule["Targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1);
        let target = &targets[0];
        assert_eq!(target["Arn"], json!({ "Fn::GetAtt": ["WebhookDestination", "Arn"] }));
        assert_eq!(target["RoleArn"], json!({ "Fn::GetAtt": ["WebhookRole", "Arn"] }));
        assert_eq!(target["DeadLetterConfig"]["Arn"], json!({ "Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"] }));
        let retry = &target["RetryPolicy"];
        assert!(
            retry["MaximumRetryAttempts"].as_i64().unwrap() > 0
                && retry["MaximumEventAgeInSeconds"].as_i64().unwrap() > 0
        );

        // EventBridge assumes the role, in this account only, to invoke that destination only.
        let role = resource("WebhookRole");
        let trust = role["AssumeRolePolicyDocument"]["Statement"].as_array().unwrap();
        assert_eq!(trust.len(), 1);
        assert_eq!(trust[0]["Principal"], json!({ "Service": "events.amazonaws.com" }));
        assert_eq!(
            trust[0]["Condition"],
            json!({ "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } } })
        );
        assert!(role.get("ManagedPolicyArns").is_none());
        let granted: Vec<(Vec<String>, &Value)> = role["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
            .map(|s| (actions(s), &s["Resource"]))
            .collect();
        let destination_arn = json!({ "Fn::GetAtt": ["WebhookDestination", "Arn"] });
        assert_eq!(granted, [(vec!["events:InvokeApiDestination".to_owned()], &destination_arn)]);

        // The dead-letter queue takes messages from EventBridge, for this rule only.
        let policy = resource("WebhookDeadLetterQueuePolicy");
        assert_eq!(policy["Queues"], json!([{ "Ref": "WebhookDeadLetterQueue" }]));
        assert_eq!(
            policy["PolicyDocument"]["Statement"],
            json!([{
                "Sid": "UndeliveredWebhookEvents",
                "Effect": "Allow",
                "Principal": { "Service": "events.amazonaws.com" },
                "Action": "sqs:SendMessage",
                "Resource": { "Fn::GetAtt": ["WebhookDeadLetterQueue", "Arn"] },
                "Condition": { "ArnEquals": { "aws:SourceArn": { "Fn::GetAtt": ["WebhookRule", "Arn"] } } }
            }])
        );
        let alarm = resource("WebhookDeadLetterAlarm");
        assert_eq!(
            alarm["Dimensions"],
            json!([{ "Name": "QueueName", "Value": { "Fn::GetAtt": ["WebhookDeadLetterQueue", "QueueName"] } }])
        );
        assert_eq!(
            (alarm["MetricName"].as_str(), alarm["Threshold"].as_i64()),
            (Some("ApproximateNumberOfMessagesVisible"), Some(0))
        );
        assert_eq!(d["Outputs"]["WebhookDeadLetterQueueUrl"]["Value"], json!({ "Ref": "WebhookDeadLetterQueue" }));
    }
    // On a bus of the deployment's choosing.
    let d = deployed(&t, &[("WebhookUrl", WEBHOOK), ("WebhookSecret", "key"), ("EventBusName", "ops")]);
    assert_eq!(d["Resources"]["WebhookRule"]["Properties"]["EventBusName"], "ops");
    // The secret is never echoed; a webhook without it, or Basic without a user, is refused up front.
    assert_eq!(t["Parameters"]["WebhookSecret"]["NoEcho"], true);
    assert_eq!(refused(&t, &[("WebhookUrl", WEBHOOK)]).len(), 1);
    assert_eq!(refused(&t, &[("WebhookUrl", WEBHOOK), ("WebhookAuth", "Basic"), ("WebhookSecret", "pw")]).len(), 1);
    assert_eq!(t["Parameters"]["WebhookAuth"]["AllowedValues"], json!(["ApiKey", "Basic"]));
}

/// Rejected rows handed back (issue 15): a bucket of the deployment's own, private and encrypted,
/// whose objects expire after RejectsRetentionDays; the worker and the intake write its objects, the
/// API only reads them (the links it signs), and no other function or role touches S3.
#[test]
fn the_rejects_bucket_is_private_encrypted_expiring_and_written_only_by_the_importers() {
    needs!(CfnLint);
    let t = template();
    let bucket = &t["Resources"]["RejectsBucket"];
    assert_eq!(bucket["Type"], "AWS::S3::Bucket");
    let properties = &bucket["Properties"];
    let block = &properties["PublicAccessBlockConfiguration"];
    for setting in ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"] {
        assert_eq!(block[setting], true, "{setting}");
    }
    let encryption = &properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0];
    assert_eq!(encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256");
    let rule = &properties["LifecycleConfiguration"]["Rules"][0];
    assert_eq!(
        (&rule["Status"], &rule["ExpirationInDays"]),
        (&json!("Enabled"), &json!({"Ref": "RejectsRetentionDays"}))
    );
    assert!(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"].as_u64().is_some_and(|d| d >= 1));
    assert_eq!(t["Parameters"]["RejectsRetentionDays"]["Default"], 30);
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    assert_eq!(env["S3C_REJECTS_BUCKET"], json!({"Ref": "RejectsBucket"}));
    let objects = json!({"Fn::Sub": "${RejectsBucket.Arn}/*"});
    let writes: Vec<String> =
        ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"].map(String::from).into();
    let mut on_rejects: Vec<(String, Vec<String>)> = all_statements(&t)
        .into_iter()
        .filter(|(_, s)| s["Resource"] == objects)
        .map(|(holder, s)| (holder, actions(&s)))
        .collect();
    on_rejects.sort();
    let mut listing: Vec<(String, Vec<String>)> = all_statements(&t)
        .into_iter()
        .filter(|(_, s)| s["Resource"] == json!({"Fn::GetAtt": ["RejectsBucket", "Arn"]}))
        .map(|(holder, s)| (holder, actions(&s)))
        .collect();
    listing.sort();
    let list = vec!["s3:ListBucket".to_owned()];
    assert_eq!(listing, [("IntakeFunction".to_owned(), list.clone()), ("WorkerFunction".to_owned(), list)]);
    assert_eq!(
        on_rejects,
        [
            ("ApiFunctionRole".to_owned(), vec!["s3:GetObject".to_owned()]),
            ("IntakeFunction".to_owned(), writes.clone()),
            ("WorkerFunction".to_owned(), writes)
        ]
    );
}
