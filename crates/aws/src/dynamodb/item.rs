//! What several files of the module share: items and their attributes, one consistent read and one
//! put, whether a conditional write was applied, the keys under a partition, and batched puts and
//! deletes.

use crate::errors::{corrupt_item, store_error};
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use connector_core::ports::{StoreError, StoreErrorKind};
use std::collections::HashMap;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A Number attribute of `item`, if it has one that parses.
pub(crate) fn number<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// Times in items and conditions: milliseconds since the epoch.
pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// One item, read consistently.
pub(crate) async fn get(client: &Client, table: &str, key: Item, context: &str) -> Result<Option<Item>, StoreError> {
    let output = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| store_error(context, e))?;
    Ok(output.item)
}

/// Writes an item whole, whatever was there.
pub(crate) async fn put(client: &Client, table: &str, item: Item, context: &str) -> Result<(), StoreError> {
    client.put_item().table_name(table).set_item(Some(item)).send().await.map_err(|e| store_error(context, e))?;
    Ok(())
}

/// Whether a conditional write was applied: `false` when its condition did not hold.
pub(crate) fn applied<T>(written: Result<T, StoreError>) -> Result<bool, StoreError> {
    match written {
        Ok(_) => Ok(true),
        Err(e) if e.kind == StoreErrorKind::Conflict => Ok(false),
        Err(e) => Err(e),
    }
}

/// The keys of every item under one partition key, or of those whose sort key starts with `sk_prefix`.
pub(crate) async fn partition_keys(
    client: &Client,
    table: &str,
    pk: String,
    sk_prefix: Option<&str>,
) -> Result<Vec<Item>, StoreError> {
    let mut query = client.query().table_name(table).expression_attribute_values(":pk", s(pk));
    query = match sk_prefix {
        Some(prefix) => query
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":prefix", s(prefix)),
        None => query.key_condition_expression("pk = :pk"),
    };
    let mut items = query.projection_expression("pk, sk").into_paginator().items().send();
    let mut keys = Vec::new();
    while let Some(item) = items.next().await {
        keys.push(item.map_err(|e| store_error("listing keys to delete", e))?);
    }
    Ok(keys)
}

/// BatchWriteItem deletes, 25 a request, unprocessed ones retried.
pub(crate) async fn delete_keys(client: &Client, table: &str, keys: Vec<Item>) -> Result<(), StoreError> {
    let deletes = keys
        .into_iter()
        .map(|k| {
            let delete = DeleteRequest::builder().set_key(Some(k)).build().map_err(|e| corrupt_item("delete", e))?;
            Ok(WriteRequest::builder().delete_request(delete).build())
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    write_batches(client, table, deletes, "deleting").await
}

/// BatchWriteItem puts of whole items, 25 a request, unprocessed ones retried.
pub(crate) async fn put_items(client: &Client, table: &str, items: Vec<Item>, context: &str) -> Result<(), StoreError> {
    let puts = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder().set_item(Some(item)).build().map_err(|e| corrupt_item("put", e))?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    write_batches(client, table, puts, context).await
}

/// BatchWriteItem, 25 requests at a time, what DynamoDB leaves unprocessed sent again.
async fn write_batches(
    client: &Client,
    table: &str,
    requests: Vec<WriteRequest>,
    context: &str,
) -> Result<(), StoreError> {
    for chunk in requests.chunks(25) {
        let mut pending = chunk.to_vec();
        for attempt in 0.. {
            let output = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(|e| store_error(context, e))?;
            pending = output.unprocessed_items.and_then(|mut u| u.remove(table)).unwrap_or_default();
            if pending.is_empty() {
                break;
            }
            if attempt >= 10 {
                let message = format!("{context}: writes left unprocessed after 10 attempts");
                return Err(StoreError::new(StoreErrorKind::Transient, message));
            }
            tokio::time::sleep(connector_core::retry::backoff(attempt)).await;
        }
    }
    Ok(())
}
