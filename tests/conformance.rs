//! The store conformance suites (crates/core/src/conformance/) against the DynamoDB state store on
//! moto: the in-memory store the engine's unit tests use passes the same suite, so what those tests
//! prove about leases, lost updates, scheduled events and checkpoints holds for the real store.

mod common;

use chrono::TimeDelta;
use common::*;

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
