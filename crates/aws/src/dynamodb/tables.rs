//! Creates the two tables (for `s3-connector init`, the demo and tests; SAM declares them in AWS),
//! adds the indexes a table made by an older version lacks, and tells a missing table from other
//! errors.

use super::{BUCKET_INDEX, RECHECK_INDEX, STATUS_INDEX, TENANT_INDEX};
use crate::errors::store_error;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ProvisionedThroughput, ScalarAttributeType, TableDescription, TableStatus, TimeToLiveSpecification,
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

/// What [`create_tables`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TablesChanged {
    /// Tables it created.
    pub created: Vec<String>,
    /// Indexes it added to a table that existed without them (made by an older version), as
    /// `(table, index)`.
    pub indexes_added: Vec<(String, String)>,
}

/// A global secondary index and the definitions of its key attributes (which CreateTable and
/// UpdateTable both need).
struct Index {
    index: GlobalSecondaryIndex,
    attributes: Vec<AttributeDefinition>,
}

/// The state table's indexes, the one definition both creating a table and upgrading one use.
fn state_indexes() -> Result<Vec<Index>, StoreError> {
    let all = || Projection::builder().projection_type(ProjectionType::All).build();
    let status_index = build(
        GlobalSecondaryIndex::builder()
            .index_name(STATUS_INDEX)
            .key_schema(key("status_key", KeyType::Hash)?)
            .key_schema(key("name", KeyType::Range)?)
            .projection(all())
            .build(),
    )?;
    // A tenant's connections by name: only connections with `tenant_key` are in it.
    let tenant_index = build(
        GlobalSecondaryIndex::builder()
            .index_name(TENANT_INDEX)
            .key_schema(key("tenant_key", KeyType::Hash)?)
            .key_schema(key("name", KeyType::Range)?)
            .projection(all())
            .build(),
    )?;
    // The connections of a bucket, for the intake of object events: only connections with a bucket
    // are in it (`bucket_key`).
    let bucket_index = build(
        GlobalSecondaryIndex::builder()
            .index_name(BUCKET_INDEX)
            .key_schema(key("bucket_key", KeyType::Hash)?)
            .projection(all())
            .build(),
    )?;
    // Outcomes to try again by time: only items with `recheck_key` are in it (a sparse index).
    let recheck_index = build(
        GlobalSecondaryIndex::builder()
            .index_name(RECHECK_INDEX)
            .key_schema(key("recheck_key", KeyType::Hash)?)
            .key_schema(key("recheck_at", KeyType::Range)?)
            .projection(all())
            .build(),
    )?;
    let recheck_at = build(
        AttributeDefinition::builder().attribute_name("recheck_at").attribute_type(ScalarAttributeType::N).build(),
    )?;
    Ok(vec![
        Index { index: status_index, attributes: vec![attribute("status_key")?, attribute("name")?] },
        Index { index: recheck_index, attributes: vec![attribute("recheck_key")?, recheck_at] },
        Index { index: tenant_index, attributes: vec![attribute("tenant_key")?, attribute("name")?] },
        Index { index: bucket_index, attributes: vec![attribute("bucket_key")?] },
    ])
}

/// Creates the state and records tables unless they exist, waits until they are active, adds any
/// index a table made by an older version lacks (waiting until it is active: DynamoDB indexes the
/// items already there first), and turns on TTL on the state table's `expires_at` (ledger entries).
/// Idempotent: run again, it changes nothing.
pub async fn create_tables(
    client: &Client,
    state_table: &str,
    records_table: &str,
) -> Result<TablesChanged, StoreError> {
    let indexes = state_indexes()?;
    let mut state = client
        .create_table()
        .table_name(state_table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?);
    // Each key attribute defined once, though two indexes may share one (`name`).
    let mut defined = vec!["pk".to_owned(), "sk".to_owned()];
    for Index { index, attributes } in &indexes {
        state = state.global_secondary_indexes(index.clone());
        for attribute in attributes {
            if !defined.iter().any(|d| d == attribute.attribute_name()) {
                defined.push(attribute.attribute_name().to_owned());
                state = state.attribute_definitions(attribute.clone());
            }
        }
    }
    let records = client
        .create_table()
        .table_name(records_table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?);
    let mut changed = TablesChanged::default();
    for (name, request, indexes) in [(state_table, state, &indexes[..]), (records_table, records, &[][..])] {
        match request.send().await {
            Ok(_) => {
                changed.created.push(name.to_owned());
                wait_active(client, name).await?;
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {
                wait_active(client, name).await?;
                for added in add_missing_indexes(client, name, indexes).await? {
                    changed.indexes_added.push((name.to_owned(), added));
                }
            }
            Err(e) => return Err(store_error(&format!("creating table {name}"), e)),
        }
    }
    let ttl = build(TimeToLiveSpecification::builder().attribute_name("expires_at").enabled(true).build())?;
    match client.update_time_to_live().table_name(state_table).time_to_live_specification(ttl).send().await {
        Ok(_) => Ok(changed),
        // Already enabled: DynamoDB refuses to enable it twice.
        Err(e) if format!("{:?}", e.as_service_error()).contains("already enabled") => Ok(changed),
        Err(e) => Err(store_error("enabling TTL", e)),
    }
}

async fn describe(client: &Client, table: &str) -> Result<TableDescription, StoreError> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| store_error(&format!("describing table {table}"), e))?;
    described.table.ok_or_else(|| StoreError::new(StoreErrorKind::Other, format!("table {table}: no description")))
}

/// Adds each of `wanted` that the existing `table` lacks, one UpdateTable at a time (DynamoDB
/// builds one new index at a time), and waits until every one of them is active, those a
/// previous, interrupted `init` began included. Returns the names of the indexes it added.
async fn add_missing_indexes(client: &Client, table: &str, wanted: &[Index]) -> Result<Vec<String>, StoreError> {
    let mut added = Vec::new();
    for Index { index, attributes } in wanted {
        let name = index.index_name();
        let described = describe(client, table).await?;
        if !described.global_secondary_indexes().iter().any(|i| i.index_name() == Some(name)) {
            tracing::info!(table, index = name, "adding a missing index");
            let mut create = CreateGlobalSecondaryIndexAction::builder()
                .index_name(name)
                .set_key_schema(Some(index.key_schema().to_vec()))
                .set_projection(index.projection().cloned());
            // A table someone made with provisioned capacity: the index gets the table's.
            let on_demand =
                described.billing_mode_summary().and_then(|b| b.billing_mode()) == Some(&BillingMode::PayPerRequest);
            if let Some(capacity) = described.provisioned_throughput().filter(|_| !on_demand) {
                create = create.provisioned_throughput(build(
                    ProvisionedThroughput::builder()
                        .read_capacity_units(capacity.read_capacity_units().unwrap_or(1).max(1))
                        .write_capacity_units(capacity.write_capacity_units().unwrap_or(1).max(1))
                        .build(),
                )?);
            }
            client
                .update_table()
                .table_name(table)
                .set_attribute_definitions(Some(attributes.clone()))
                .global_secondary_index_updates(
                    GlobalSecondaryIndexUpdate::builder().create(build(create.build())?).build(),
                )
                .send()
                .await
                .map_err(|e| store_error(&format!("adding index {name} to table {table}"), e))?;
            added.push(name.to_owned());
        }
        wait_index_active(client, table, name).await?;
    }
    Ok(added)
}

/// How long `init` waits for a new index: DynamoDB takes minutes to build one, more for a large
/// table. Past it, `init` fails saying so, and running it again goes on waiting.
const INDEX_WAIT: Duration = Duration::from_secs(15 * 60);

async fn wait_index_active(client: &Client, table: &str, index: &str) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    loop {
        let described = describe(client, table).await?;
        let status = described
            .global_secondary_indexes()
            .iter()
            .find(|i| i.index_name() == Some(index))
            .and_then(|i| i.index_status().cloned());
        if status == Some(IndexStatus::Active) && described.table_status() == Some(&TableStatus::Active) {
            return Ok(());
        }
        if started.elapsed() > INDEX_WAIT {
            let status = status.map_or("absent".to_owned(), |s| s.as_str().to_owned());
            return Err(StoreError::new(
                StoreErrorKind::Transient,
                format!(
                    "index {index} of table {table} is not active after {} minutes ({status}): DynamoDB is still \
                     building it; run `s3-connector init` again to wait for it",
                    INDEX_WAIT.as_secs() / 60
                ),
            ));
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
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
