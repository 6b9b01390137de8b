//! The object event bus against moto: activating an events-mode connection lets its customer's
//! account put events on the bus, once however often it is done, and a scheduled connection's
//! account is not let on; a file put in a bucket of another account reaches the intake through
//! that account's forwarding rule and our bus, and is imported.

mod common;

use chrono::TimeDelta;
use common::*;
use connector_aws::Deployment;
use connector_core::connections::ConnectionInput;
use connector_core::manage::connections::ConnectionChange;
use connector_core::model::{ConnectionStatus, SyncMode};

/// The deployment of `world` with an object event bus of its own; the bus's name.
async fn with_object_event_bus(world: &World) -> (Deployment, String) {
    let name = unique("object-events");
    let bus = world.aws.eventbridge().create_event_bus().name(&name).send().await.expect("creating the bus");
    let mut settings = world.connector.settings.clone();
    settings.object_event_bus = Some(bus.event_bus_arn().expect("the bus's ARN").to_owned());
    (Deployment::new(world.aws.clone(), settings), name)
}

/// The statements of the bus's policy, as (Sid, principal); none without a policy.
async fn statements(world: &World, bus: &str) -> Vec<(String, String)> {
    let described = world.aws.eventbridge().describe_event_bus().name(bus).send().await.expect("describing the bus");
    let Some(policy) = described.policy() else { return Vec::new() };
    let policy: serde_json::Value = serde_json::from_str(policy).expect("the policy is JSON");
    let statements = policy["Statement"].as_array().expect("a list of statements");
    statements
        .iter()
        .map(|s| (s["Sid"].as_str().unwrap_or_default().to_owned(), s["Principal"]["AWS"].to_string()))
        .collect()
}

fn input(world: &World, mode: SyncMode) -> ConnectionInput {
    ConnectionInput {
        tenant: "acme".into(),
        name: unique("customer"),
        account_id: ACCOUNT.into(),
        bucket: world.bucket.clone(),
        region: "us-east-1".into(),
        folder: Some("in".into()),
        template_id: "payments".into(),
        mode,
        ..ConnectionInput::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activating_events_connections_lets_their_account_onto_the_bus_once() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(1), TimeDelta::hours(1))).await;
    world.put("in/a.csv", "id,amount\na1,1\n").await;
    let (deployment, bus) = with_object_event_bus(&world).await;
    let service = deployment.in_process();

    let scheduled = service.create(input(&world, SyncMode::Scheduled)).await.expect("creating").connection;
    service.activate(&scheduled.id).await.expect("activating a scheduled connection");
    assert_eq!(statements(&world, &bus).await, [], "a scheduled connection's account is not let on");

    let root = format!("\"arn:aws:iam::{ACCOUNT}:root\"");
    let first = service.create(input(&world, SyncMode::Events)).await.expect("creating").connection;
    let activated = service.activate(&first.id).await.expect("activating an events connection");
    assert_eq!(activated.connection.status, ConnectionStatus::Active);
    let allowed = [(format!("s3c-account-{ACCOUNT}"), root.clone())];
    assert_eq!(statements(&world, &bus).await, allowed);

    // A second connection of the same account, and a scheduled one switched to events: still one.
    let second = service.create(input(&world, SyncMode::Events)).await.expect("creating").connection;
    service.activate(&second.id).await.expect("activating a second events connection");
    let to_events = ConnectionChange { mode: Some(SyncMode::Events), ..ConnectionChange::default() };
    service.edit(&scheduled.id, to_events).await.expect("switching to events mode");
    assert_eq!(statements(&world, &bus).await, allowed, "one statement per account");
}

/// The customer's own account on the same moto: AWS access in account 111111111111 (moto works in
/// the account of the role assumed), its bucket with EventBridge delivery on.
struct CustomerAccount {
    aws: connector_aws::config::Aws,
    bucket: String,
}

const CUSTOMER_ACCOUNT: &str = "111111111111";

impl CustomerAccount {
    async fn new(world: &World) -> CustomerAccount {
        let role = format!("arn:aws:iam::{CUSTOMER_ACCOUNT}:role/customer-admin");
        let assumed = world.aws.sts().assume_role().role_arn(role).role_session_name("customer").send().await;
        let credentials = assumed.expect("assuming a role of the customer's account").credentials.expect("keys");
        let keys = aws_sdk_s3::config::Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_owned()),
            None,
            "customer",
        );
        let sdk = world
            .aws
            .sdk
            .to_builder()
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(keys))
            .build();
        let aws = connector_aws::config::Aws::from_sdk(sdk);
        let identity = aws.sts().get_caller_identity().send().await.expect("who the customer is");
        assert_eq!(identity.account(), Some(CUSTOMER_ACCOUNT), "working in the customer's account");
        let bucket = unique("customer-bucket");
        let s3 = aws.s3_own();
        s3.create_bucket().bucket(&bucket).send().await.expect("creating the customer's bucket");
        let notifications = aws_sdk_s3::types::NotificationConfiguration::builder()
            .event_bridge_configuration(aws_sdk_s3::types::EventBridgeConfiguration::builder().build())
            .build();
        let on = s3.put_bucket_notification_configuration().bucket(&bucket).notification_configuration(notifications);
        on.send().await.expect("turning on the bucket's EventBridge delivery");
        CustomerAccount { aws, bucket }
    }

    /// What the set-up page asks the customer to create: the rule on their default bus with the
    /// generated pattern, sending to our bus with the generated forwarding role.
    async fn forward(&self, connection: &connector_core::model::Connection, our_bus_arn: &str) {
        let events = self.aws.eventbridge();
        let rule = unique("s3-connector-forwarding");
        let pattern = connector_core::policies::events_rule_pattern(connection);
        events.put_rule().name(&rule).event_pattern(pattern.to_string()).send().await.expect("the customer's rule");
        let role = connector_core::policies::events_forwarding_role_name(connection);
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("s3-connector")
            .arn(our_bus_arn)
            .role_arn(format!("arn:aws:iam::{CUSTOMER_ACCOUNT}:role/{role}"))
            .build()
            .expect("a target");
        events.put_targets().rule(&rule).targets(target).send().await.expect("targeting our bus");
    }

    async fn put(&self, key: &str, body: &str) {
        let put = self.aws.s3_own().put_object().bucket(&self.bucket).key(key);
        put.body(body.as_bytes().to_vec().into()).send().await.expect("the customer's upload");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_put_in_another_accounts_bucket_is_forwarded_by_its_rule_to_our_bus_and_imported() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(1), TimeDelta::hours(1))).await;
    let (deployment, bus) = with_object_event_bus(&world).await;
    let bus_arn = deployment.settings.object_event_bus.clone().expect("the bus's ARN");
    // Our side, as template.yaml makes it: the bus's rule into the intake's queue.
    let sqs = aws_sdk_sqs::Client::new(&world.aws.sdk);
    let queue = sqs.create_queue().queue_name(unique("object-events")).send().await.expect("the queue");
    let poller = intake::poller::QueuePoller::new(sqs, queue.queue_url().expect("a url")).await.expect("the queue");
    let events = world.aws.eventbridge();
    let ours = unique("object-events");
    let pattern = serde_json::json!({"source": ["aws.s3"], "detail-type": ["Object Created"]});
    events.put_rule().name(&ours).event_bus_name(&bus).event_pattern(pattern.to_string()).send().await.unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(&poller.arn).build().unwrap();
    events.put_targets().rule(&ours).event_bus_name(&bus).targets(target).send().await.unwrap();

    // The customer's side, in their own account: the bucket, the connection made for it and
    // activated (which lets their account onto our bus), and the rule they create.
    let customer = CustomerAccount::new(&world).await;
    let input = ConnectionInput {
        account_id: CUSTOMER_ACCOUNT.into(),
        bucket: customer.bucket.clone(),
        mode: SyncMode::Events,
        ..input(&world, SyncMode::Events)
    };
    let service = deployment.in_process();
    let connection = service.create(input).await.expect("creating").connection;
    service.activate(&connection.id).await.expect("activating: our worker reads the customer's bucket");
    let allowed = statements(&world, &bus).await;
    assert!(allowed.iter().any(|(sid, _)| *sid == format!("s3c-account-{CUSTOMER_ACCOUNT}")), "{allowed:?}");
    customer.forward(&connection, &bus_arn).await;

    customer.put("in/a b.csv", "id,amount\nx1,1\nx2,2\n").await;
    customer.put("elsewhere/b.csv", "id,amount\ny1,1\n").await;
    let metrics = connector_aws::metrics::Metrics::new("S3ConnectorTest", "test");
    let config = intake::IntakeConfig::default();
    let mut routed = 0;
    let wait = std::time::Duration::from_secs(3);
    while let Some(batch) = poller.batch(std::time::Duration::from_secs(1), 100, wait).await.expect("receiving") {
        let handled = intake::handle(&deployment, &deployment, &metrics, &config, batch.event.clone(), None).await;
        let (response, tally) = handled.expect("the batch is handled");
        poller.settle(&batch, &response).await.expect("settling");
        assert!(response.batch_item_failures.is_empty(), "{tally:?}");
        routed += tally.routed;
    }
    assert_eq!(routed, 1, "only the folder's file left the customer's account");
    let records = world.records(&connection.id).await;
    assert_eq!(payment_ids(&records), ["x1", "x2"]);
    let runs = service.show(&connection.id, 5).await.unwrap().recent_runs;
    assert_eq!((runs[0].path, runs[0].counts.objects_listed), (connector_core::model::RunPath::Events, 0), "{runs:?}");
}
