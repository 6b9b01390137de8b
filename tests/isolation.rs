//! Tenant isolation against moto: every item one connection's run writes is under that connection's
//! own keys, and a run never touches another connection's records, ledger or state, even when both
//! read the same bucket and their files share names and record ids. External ids never repeat.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::TimeDelta;
use common::*;
use connector_core::model::SyncResult;
use std::collections::{HashMap, HashSet};

type Item = HashMap<String, AttributeValue>;

async fn scan(world: &World, table: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut pages = world.aws.dynamodb().scan().table_name(table).into_paginator().items().send();
    while let Some(item) = pages.next().await {
        items.push(item.unwrap());
    }
    items
}

fn s<'a>(item: &'a Item, name: &str) -> &'a str {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_writes_only_under_its_own_connection_and_touches_no_other() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    world.put("shared/a.csv", "id,amount\np1,1\np2,2\n").await;
    let (a, b) = (world.connection(Some("shared")).await, world.connection(Some("shared")).await);
    let settings = world.connector.settings.clone();

    world.completed(&a.id).await;
    let records_after_a = scan(&world, &settings.records_table).await;
    let state_after_a = scan(&world, &settings.state_table).await;
    // Every record of A's run is A's: its partition key, and its connection attribute.
    assert_eq!(records_after_a.len(), 2);
    for record in &records_after_a {
        assert!(s(record, "pk").starts_with(&format!("{}#", a.id)), "{record:?}");
        assert_eq!(s(record, "connection_id"), a.id);
    }
    // B's state was not touched by A's run: still pending, no run, no ledger entry.
    assert!(state_after_a.iter().all(|i| !s(i, "pk").starts_with(&format!("CONN#{}", b.id)) || s(i, "sk") == "CONN"));

    // B imports the same file, with the same record ids, into its own keys; A's items stay as they were.
    let run = world.completed(&b.id).await;
    assert_eq!((run.result, run.counts.rows_imported), (SyncResult::Succeeded, 2));
    let records = scan(&world, &settings.records_table).await;
    assert_eq!(records.len(), 4, "the same ids under two connections are two records each");
    let of = |id: &str| records.iter().filter(|r| s(r, "connection_id") == id).count();
    assert_eq!((of(&a.id), of(&b.id)), (2, 2));
    for record in records.iter().filter(|r| s(r, "connection_id") == a.id) {
        assert!(records_after_a.contains(record), "A's record changed: {record:?}");
    }
    let state = scan(&world, &settings.state_table).await;
    for item in state.iter().filter(|i| s(i, "pk").starts_with(&format!("CONN#{}", a.id))) {
        assert!(state_after_a.contains(item), "B's run changed A's state: {item:?}");
    }
    let ledger = |id: &str| {
        state.iter().filter(|i| s(i, "pk") == format!("CONN#{id}") && s(i, "sk").starts_with("OBJ#")).count()
    };
    assert_eq!((ledger(&a.id), ledger(&b.id)), (1, 1));

    // Deleting B (with its records) leaves A whole.
    world.connector.in_process().delete(&b.id, true).await.unwrap();
    assert_eq!(world.records(&a.id).await.len(), 2);
    assert!(world.connector.in_process().connection(&a.id).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_ids_are_unguessable_and_never_repeat_and_role_arns_name_the_connections_account() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let mut seen = HashSet::new();
    for _ in 0..50 {
        let c = world.connection(None).await;
        // 32 bytes of the CSPRNG, hex: 256 bits.
        assert_eq!(c.external_id.len(), 64);
        assert!(c.external_id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(seen.insert(c.external_id.clone()), "an external id repeated");
        assert_eq!(c.role_arn(), format!("arn:aws:iam::{}:role/{}", c.account_id, c.role_name));
        assert!(c.role_name.starts_with(connector_core::connections::ROLE_PREFIX));
    }
    let generated: HashSet<String> =
        (0..10_000).map(|_| connector_core::manage::connections::new_external_id()).collect();
    assert_eq!(generated.len(), 10_000);
    // Each hex digit about equally often: not a counter, not a clock.
    let mut counts = [0u32; 16];
    for id in &generated {
        for b in id.bytes() {
            counts[(b as char).to_digit(16).unwrap() as usize] += 1;
        }
    }
    let expected = 10_000.0 * 64.0 / 16.0;
    assert!(counts.iter().all(|&n| (n as f64 - expected).abs() < expected * 0.05), "{counts:?}");
}
