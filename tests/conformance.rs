//! The store conformance suites (crates/core/src/conformance/) against the DynamoDB state store on
//! moto: the in-memory store the engine's unit tests use passes the same suite, so what those tests
//! prove about leases, lost updates, scheduled events and checkpoints holds for the real store.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeDelta, Utc};
use common::*;
use connector_aws::dynamodb::keys;
use connector_core::manage::ports::{ConnectionAdmin, RunHistory};
use connector_core::model::{FileOutcome, FileStatus, Recheck};
use connector_core::ports::{Lease, SyncStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_state_store_conforms() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    connector_core::conformance::check_store(&world.connector.state, &unique("conformance")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dynamodb_management_ports_conform() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let (state, records) = (&world.connector.state, &world.connector.records);
    connector_core::conformance::check_management(state, records, &unique("management")).await;
}

/// What only DynamoDB's items show: an open failure has no TTL (it stays until it is imported,
/// replaced or dismissed) and an operator's ask gives it none; a dismissal gives it the TTL and
/// takes it out of the count and the index of retries. A failure recorded before the count existed
/// (no `open_failure`) is dismissed alike, without moving the count below what it counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_failure_stays_until_dismissed_then_expires() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let state = &world.connector.state;
    let id = world.connection(Some("in")).await.id;
    let item = |key: &'static str| {
        let request = state.client.get_item().table_name(&state.table).consistent_read(true);
        let request = request.set_key(Some(keys::ledger(&id, key)));
        async move { request.send().await.unwrap().item.expect("an entry") }
    };
    let count = || async { ConnectionAdmin::connection(state, &id).await.unwrap().unwrap().failed_files };
    let now = Utc::now();
    let expires = now + TimeDelta::days(30);
    let failed = |key: &str| FileOutcome {
        status: FileStatus::Failed,
        reason: Some("the role may not read this object".into()),
        recheck: Some(Recheck::Retry { attempt: 1, next_at: now + TimeDelta::hours(1) }),
        ..connector_core::conformance::outcome(key, "\"e1\"")
    };
    state.record_outcome(&id, &failed("in/bad.csv"), expires).await.unwrap();
    let open = item("in/bad.csv").await;
    assert!(open.contains_key("open_failure") && !open.contains_key("expires_at"), "{open:?}");
    assert!(ConnectionAdmin::ask_again(state, &id, "in/bad.csv", now).await.unwrap());
    assert!(!item("in/bad.csv").await.contains_key("expires_at"), "an ask gives an open failure no TTL");
    assert_eq!(count().await, 1);

    let at = now + TimeDelta::seconds(1);
    assert!(ConnectionAdmin::dismiss(state, &id, "in/bad.csv", "\"e1\"", at, expires).await.unwrap());
    let dismissed = item("in/bad.csv").await;
    assert_eq!(dismissed.get("expires_at").and_then(|v| v.as_n().ok()), Some(&expires.timestamp().to_string()));
    for gone in ["open_failure", "recheck_key", "recheck_at", "asked_at", "recheck"] {
        assert!(!dismissed.contains_key(gone), "{gone}: {dismissed:?}");
    }
    assert_eq!(count().await, 0);

    // A failure from before the count: no marker, a TTL, not counted.
    state.record_outcome(&id, &failed("in/old.csv"), expires).await.unwrap();
    let client = &state.client;
    let ledger = keys::ledger(&id, "in/old.csv");
    let legacy = client.update_item().table_name(&state.table).set_key(Some(ledger));
    let legacy = legacy.update_expression("REMOVE open_failure SET expires_at = :e");
    legacy.expression_attribute_values(":e", AttributeValue::N(expires.timestamp().to_string())).send().await.unwrap();
    let uncounted = client.update_item().table_name(&state.table).set_key(Some(keys::connection(&id)));
    uncounted
        .update_expression("SET failed_files = :zero")
        .expression_attribute_values(":zero", AttributeValue::N("0".into()))
        .send()
        .await
        .unwrap();
    assert!(ConnectionAdmin::dismiss(state, &id, "in/old.csv", "\"e1\"", at, expires).await.unwrap());
    assert_eq!(count().await, 0, "never counted, not uncounted");
    assert!(state.outcome(&id, "in/old.csv").await.unwrap().unwrap().dismissed_at.is_some());

    // A recount adopts such a failure (counted, no longer expiring) and repairs a wrong count;
    // it is refused while a sync holds the lease.
    state.record_outcome(&id, &failed("in/legacy.csv"), expires).await.unwrap();
    let legacy = client.update_item().table_name(&state.table).set_key(Some(keys::ledger(&id, "in/legacy.csv")));
    let legacy = legacy.update_expression("REMOVE open_failure SET expires_at = :e");
    legacy.expression_attribute_values(":e", AttributeValue::N(expires.timestamp().to_string())).send().await.unwrap();
    let wrong = client.update_item().table_name(&state.table).set_key(Some(keys::connection(&id)));
    wrong
        .update_expression("SET failed_files = :n")
        .expression_attribute_values(":n", AttributeValue::N("5".into()))
        .send()
        .await
        .unwrap();
    let service = world.connector.in_process();
    let until = now + TimeDelta::minutes(2);
    state.acquire_lease(&id, "a sync", now, until, None).await.unwrap();
    let refused = service.recount_failures(&id).await.expect_err("a sync holds the lease");
    assert!(refused.to_string().contains("a sync (a sync) is running"), "{refused}");
    state.release_lease(&id, "a sync").await.unwrap();
    assert_eq!(service.recount_failures(&id).await.unwrap().failed_files, 1);
    let adopted = item("in/legacy.csv").await;
    assert!(adopted.contains_key("open_failure") && !adopted.contains_key("expires_at"), "{adopted:?}");
    assert_eq!(state.acquire_lease(&id, "next", now, until, None).await.unwrap(), Lease::Acquired, "let go");
}
