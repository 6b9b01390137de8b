//! Keys kept for a connection's next run: object events named them while the connection could not
//! run (paused, needing re-authentication, pending, its lease held). One item per key under the
//! connection's partition, replaced when kept again, expired by TTL, forgotten only as the version
//! that was read.

use super::item::{applied, n, put_items, s, Item};
use super::{keys, StateTable};
use crate::errors::{corrupt_item, store_error};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use connector_core::model::NamedKey;
use connector_core::ports::StoreError;

impl StateTable {
    pub(super) async fn keep_named_keys(
        &self,
        connection_id: &str,
        named: &[NamedKey],
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let items = each_key_once(named)
            .into_iter()
            .map(|named| {
                let mut item = keys::named(connection_id, &named.key.first);
                let json = serde_json::to_string(named).map_err(|e| corrupt_item("kept key", e))?;
                item.insert("named".into(), s(json));
                item.insert("expires_at".into(), n(expires_at.timestamp()));
                Ok(item)
            })
            .collect::<Result<Vec<Item>, StoreError>>()?;
        put_items(&self.client, &self.table, items, "keeping keys for the next run").await
    }

    pub(super) async fn kept_named_keys(&self, connection_id: &str, limit: usize) -> Result<Vec<NamedKey>, StoreError> {
        let mut items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::connection_pk(connection_id)))
            .expression_attribute_values(":prefix", s(keys::NAMED_PREFIX))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut kept = Vec::new();
        while kept.len() < limit {
            let Some(item) = items.next().await else { break };
            let item = item.map_err(|e| store_error("reading the keys kept for this run", e))?;
            let Some(AttributeValue::S(json)) = item.get("named") else {
                return Err(corrupt_item("kept key", "no `named` attribute"));
            };
            kept.push(serde_json::from_str(json).map_err(|e| corrupt_item("kept key", e))?);
        }
        Ok(kept)
    }

    /// Each key forgotten only if it is still the version the run took on: a key kept again while
    /// the run held it (a newer event's ETag) stays for the next run. One conditional delete a key,
    /// as BatchWriteItem takes no conditions; runs forget few keys.
    pub(super) async fn forget_named_keys(&self, connection_id: &str, named: &[NamedKey]) -> Result<(), StoreError> {
        use futures::StreamExt;
        let mut deletes = Vec::new();
        for named in each_key_once(named) {
            let json = serde_json::to_string(named).map_err(|e| corrupt_item("kept key", e))?;
            deletes.push(self.forget_named_key(connection_id, named, json));
        }
        // Made before they are streamed: futures made inside the stream's closure are not Send for
        // every lifetime, as a Lambda's future must be.
        let results: Vec<_> = futures::stream::iter(deletes).buffer_unordered(FORGETS_IN_FLIGHT).collect().await;
        results.into_iter().collect()
    }

    async fn forget_named_key(&self, connection_id: &str, named: &NamedKey, json: String) -> Result<(), StoreError> {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::named(connection_id, &named.key.first)))
            .condition_expression("named = :named")
            .expression_attribute_values(":named", s(json))
            .send()
            .await
            .map_err(|e| store_error("forgetting a kept key", e));
        applied(deleted).map(|_| ())
    }
}

/// Conditional deletes in flight at once.
const FORGETS_IN_FLIGHT: usize = 8;

/// Each key once (the last of a key wins): BatchWriteItem refuses a batch naming an item twice.
fn each_key_once(named: &[NamedKey]) -> Vec<&NamedKey> {
    let by_key: std::collections::BTreeMap<&str, &NamedKey> = named.iter().map(|n| (n.key.first.as_str(), n)).collect();
    by_key.into_values().collect()
}
