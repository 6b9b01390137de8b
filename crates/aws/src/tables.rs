//! Creates the two tables (for `s3-connector init`, the demo and tests; SAM declares them in AWS),
//! and tells a missing table from other errors.

use crate::errors::store_error;
use crate::state::{RECHECK_INDEX, STATUS_INDEX};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use connector_core::ports::{StoreError, StoreErrorKind};
use std::time::Duration;

fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::new(StoreErrorKind::Other, format!("building a table definition: {e}")))
}

fn attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    build(AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build())
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    build(KeySchemaElement::builder().attribute_name(name).key_type(kind).build())
}

/// Whether `error` or an error it was caused by is DynamoDB's ResourceNotFoundException: a table
/// that does not exist (for the CLI, one `init` has not created). Typed, so S3's or Lambda's
/// not-found errors are not taken for it; every DynamoDB operation's error leads to the same type.
pub fn is_missing_table(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source())
        .any(|e| e.is::<aws_sdk_dynamodb::types::error::ResourceNotFoundException>())
}

/// Creates the state and records tables unless they exist, waits until they are active, and turns on
/// TTL on the state table's `expires_at` (ledger entries).
pub async fn create_tables(client: &Client, state_table: &str, records_table: &str) -> Result<(), StoreError> {
    let status_index = build(
        GlobalSecondaryIndex::builder()
            .index_name(STATUS_INDEX)
            .key_schema(key("status_key", KeyType::Hash)?)
            .key_schema(key("name", KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build(),
    )?;
    // Outcomes to try again by time: only items with `recheck_key` are in it (a sparse index).
    let recheck_index = build(
        GlobalSecondaryIndex::builder()
            .index_name(RECHECK_INDEX)
            .key_schema(key("recheck_key", KeyType::Hash)?)
            .key_schema(key("recheck_at", KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build(),
    )?;
    let recheck_at = build(
        AttributeDefinition::builder().attribute_name("recheck_at").attribute_type(ScalarAttributeType::N).build(),
    )?;
    let state = client
        .create_table()
        .table_name(state_table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .attribute_definitions(attribute("status_key")?)
        .attribute_definitions(attribute("name")?)
        .attribute_definitions(attribute("recheck_key")?)
        .attribute_definitions(recheck_at)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(status_index)
        .global_secondary_indexes(recheck_index);
    let records = client
        .create_table()
        .table_name(records_table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?);
    for (name, request) in [(state_table, state), (records_table, records)] {
        match request.send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(store_error(&format!("creating table {name}"), e)),
        }
        wait_active(client, name).await?;
    }
    let ttl = build(TimeToLiveSpecification::builder().attribute_name("expires_at").enabled(true).build())?;
    match client.update_time_to_live().table_name(state_table).time_to_live_specification(ttl).send().await {
        Ok(_) => Ok(()),
        // Already enabled: DynamoDB refuses to enable it twice.
        Err(e) if format!("{:?}", e.as_service_error()).contains("already enabled") => Ok(()),
        Err(e) => Err(store_error("enabling TTL", e)),
    }
}

async fn wait_active(client: &Client, table: &str) -> Result<(), StoreError> {
    for _ in 0..120 {
        let described =
            client.describe_table().table_name(table).send().await.map_err(|e| store_error("describing table", e))?;
        if described.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(StoreError::new(StoreErrorKind::Transient, format!("table {table} did not become active in 60 s")))
}
