//! The object event bus's policy against moto: activating an events-mode connection lets its
//! customer's account put events on the bus, once however often it is done, and a scheduled
//! connection's account is not let on.

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
