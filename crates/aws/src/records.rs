//! The records table: accepted rows as items, written with BatchWriteItem.
//!
//! | pk                         | sk          | attributes                                                  |
//! |----------------------------|-------------|-------------------------------------------------------------|
//! | `<connection>#<shard 00-3f>` | record id | connection_id, record_type, source_key, source_etag, source_row, imported_at, data (map of fields) |
//!
//! The shard is a stable hash of the record id: one connection's records spread over 64 partition
//! keys, since one partition key takes at most 1,000 writes a second.

use crate::errors::{corrupt_item, store_error};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use chrono::SecondsFormat;
use connector_core::mapping::Value;
use connector_core::ports::{RecordBatch, RecordSink, StoreError, StoreErrorKind};
use connector_core::retry::backoff;
use std::collections::HashMap;
use std::hash::Hasher;

pub const SHARDS: u64 = 64;

/// The most records one [`RecordsTable::put`] takes: it writes them in one BatchWriteItem, and
/// DynamoDB refuses more than 25 requests in one (a ValidationException; moto does not check it).
pub const MAX_BATCH: usize = 25;
const MAX_ATTEMPTS: u32 = 12;

/// The partition key of a record: connection and a stable shard of its id.
pub fn partition_key(connection_id: &str, record_id: &str) -> String {
    // FNV-1a: stable across builds and platforms (std's SipHash keys are not part of its contract).
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(record_id.as_bytes());
    let shard = (hasher.finish() % SHARDS) as usize;
    // Per record: built by hand rather than through format!'s machinery.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(connection_id.len() + 3);
    key.push_str(connection_id);
    key.push('#');
    key.push(HEX[shard >> 4] as char);
    key.push(HEX[shard & 0xf] as char);
    key
}

fn attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Str(s) => AttributeValue::S(s.clone()),
        Value::Int(i) => AttributeValue::N(i.to_string()),
        Value::Decimal(d) => AttributeValue::N(d.clone()),
        Value::Bool(b) => AttributeValue::Bool(*b),
        other => AttributeValue::S(other.canonical().into_owned()),
    }
}

/// Where a page of a connection's records ends: the shard and the last record id read. Given back
/// as hex, so that it travels in a URL or a shell argument as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub shard: u64,
    pub after: String,
}

impl PageToken {
    pub fn parse(text: &str) -> Result<PageToken, String> {
        let bad = || "is not a page token given by a previous page".to_owned();
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad)?;
        let (shard, after) = bytes.split_first().ok_or_else(bad)?;
        let after = String::from_utf8(after.to_vec()).map_err(|_| bad())?;
        if u64::from(*shard) >= SHARDS || after.is_empty() {
            return Err(bad());
        }
        Ok(PageToken { shard: u64::from(*shard), after })
    }
}

impl std::fmt::Display for PageToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02x}", self.shard)?;
        self.after.bytes().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[derive(Clone, Debug)]
pub struct RecordsTable {
    pub client: Client,
    pub table: String,
}

impl RecordsTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        RecordsTable { client, table: table.into() }
    }

    /// Up to `limit` records of a connection, shard by shard (for operators and the demo).
    pub async fn sample(&self, connection_id: &str, limit: usize) -> Result<Vec<serde_json::Value>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..SHARDS {
            if out.len() >= limit {
                break;
            }
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(format!("{connection_id}#{shard:02x}")))
                .limit((limit - out.len()) as i32)
                .send()
                .await
                .map_err(|e| store_error("reading records", e))?;
            for item in output.items.unwrap_or_default() {
                out.push(item_json(item));
            }
        }
        Ok(out)
    }

    /// Up to `limit` records of a connection from `after`, shard by shard, and where the next page
    /// starts (`None` after the last).
    pub async fn page(
        &self,
        connection_id: &str,
        limit: usize,
        after: Option<PageToken>,
    ) -> Result<(Vec<serde_json::Value>, Option<PageToken>), StoreError> {
        let mut out = Vec::new();
        let (first_shard, mut start) = match after {
            Some(token) => (token.shard, Some(token.after)),
            None => (0, None),
        };
        for shard in first_shard..SHARDS {
            let pk = format!("{connection_id}#{shard:02x}");
            loop {
                let exclusive_start = start.take().map(|sk| {
                    HashMap::from([
                        ("pk".to_owned(), AttributeValue::S(pk.clone())),
                        ("sk".to_owned(), AttributeValue::S(sk)),
                    ])
                });
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                    .set_exclusive_start_key(exclusive_start)
                    .limit((limit - out.len()) as i32)
                    .send()
                    .await
                    .map_err(|e| store_error("reading records", e))?;
                let mut last = None;
                for item in output.items.unwrap_or_default() {
                    last = item.get("sk").and_then(|v| v.as_s().ok()).cloned();
                    out.push(item_json(item));
                }
                if out.len() >= limit {
                    let next = last.map(|after| PageToken { shard, after });
                    return Ok((out, next));
                }
                match output.last_evaluated_key.and_then(|k| k.get("sk").and_then(|v| v.as_s().ok()).cloned()) {
                    Some(sk) => start = Some(sk),
                    None => break,
                }
            }
        }
        Ok((out, None))
    }

    /// Every record of a connection (tests and small exports; large tables want an export job).
    pub async fn all(&self, connection_id: &str) -> Result<Vec<serde_json::Value>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..SHARDS {
            let mut pages = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(format!("{connection_id}#{shard:02x}")))
                .into_paginator()
                .items()
                .send();
            while let Some(item) = pages.next().await {
                out.push(item_json(item.map_err(|e| store_error("reading records", e))?));
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl RecordSink for RecordsTable {
    /// One BatchWriteItem's worth: [`MAX_BATCH`].
    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    async fn remove_other_versions(
        &self,
        connection_id: &str,
        object_key: &str,
        keep_etag: &str,
    ) -> Result<u64, StoreError> {
        let prefix = connector_core::keys::record_id_key_prefix(object_key);
        // Ids spread over every shard: one query per shard, for the keys and sources only; another
        // key whose ids share the prefix (`a.csv` and `a.csv#x`) is told apart by `source_key`.
        let mut removed = 0;
        for shard in 0..SHARDS {
            let mut items = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .filter_expression("source_key = :key AND source_etag <> :keep")
                .expression_attribute_values(":pk", AttributeValue::S(format!("{connection_id}#{shard:02x}")))
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.clone()))
                .expression_attribute_values(":key", AttributeValue::S(object_key.to_owned()))
                .expression_attribute_values(":keep", AttributeValue::S(keep_etag.to_owned()))
                .projection_expression("pk, sk")
                .into_paginator()
                .items()
                .send();
            let mut keys = Vec::new();
            while let Some(item) = items.next().await {
                keys.push(item.map_err(|e| store_error("finding an earlier version's records", e))?);
            }
            removed += keys.len() as u64;
            crate::state::delete_keys(&self.client, &self.table, keys).await?;
        }
        Ok(removed)
    }

    async fn put(&self, batch: RecordBatch<'_>) -> Result<(), StoreError> {
        let imported_at = AttributeValue::S(batch.imported_at.to_rfc3339_opts(SecondsFormat::Millis, true));
        let columns = &batch.template.columns;
        // BatchWriteItem rejects two requests for one key: the last row of a primary key wins.
        // Without a primary key ids are object key # ETag # row, unique by construction.
        let mut last_of_id: HashMap<&str, usize> = HashMap::new();
        if !batch.template.primary_key.is_empty() {
            for (i, record) in batch.records.iter().enumerate() {
                last_of_id.insert(&record.id, i);
            }
        }
        let mut requests = Vec::with_capacity(batch.records.len());
        for (i, record) in batch.records.iter().enumerate() {
            if last_of_id.get(record.id.as_str()).is_some_and(|&last| last != i) {
                continue;
            }
            // Sized once: collecting from a filtered iterator would grow (and rehash) the map.
            let mut data = HashMap::with_capacity(columns.len());
            for (column, value) in columns.iter().zip(&record.values) {
                if let Some(value) = value {
                    data.insert(column.field.clone(), attribute(value));
                }
            }
            let item = HashMap::from([
                ("pk".to_owned(), AttributeValue::S(partition_key(batch.connection_id, &record.id))),
                ("sk".to_owned(), AttributeValue::S(record.id.clone())),
                ("connection_id".to_owned(), AttributeValue::S(batch.connection_id.to_owned())),
                ("record_type".to_owned(), AttributeValue::S(batch.template.record_type.clone())),
                ("source_key".to_owned(), AttributeValue::S(batch.object.key.clone())),
                ("source_etag".to_owned(), AttributeValue::S(batch.object.etag.clone())),
                ("source_row".to_owned(), AttributeValue::N(itoa::Buffer::new().format(record.row).to_owned())),
                ("imported_at".to_owned(), imported_at.clone()),
                ("data".to_owned(), AttributeValue::M(data)),
            ]);
            let put = PutRequest::builder().set_item(Some(item)).build().map_err(|e| corrupt_item("record", e))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        let mut pending = requests;
        for attempt in 0..MAX_ATTEMPTS {
            let output = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| store_error("writing records", e))?;
            pending = output.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(StoreError::new(
            StoreErrorKind::Transient,
            format!("writing records: {} items still unprocessed after {MAX_ATTEMPTS} attempts", pending.len()),
        ))
    }
}

/// An item as JSON for people and tests. Numbers stay exact: one that a JSON reader would round
/// (through a float) is shown as a string of its digits.
pub fn item_json(item: HashMap<String, AttributeValue>) -> serde_json::Value {
    serde_json::Value::Object(item.into_iter().map(|(k, v)| (k, attribute_json(v))).collect())
}

fn attribute_json(value: AttributeValue) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        AttributeValue::S(s) => J::String(s),
        AttributeValue::N(n) => match (n.parse::<i64>(), n.parse::<f64>()) {
            (Ok(i), _) => J::from(i),
            (_, Ok(f)) if f.is_finite() && f.to_string() == trim_fraction(&n) => J::from(f),
            _ => J::String(n),
        },
        AttributeValue::Bool(b) => J::Bool(b),
        AttributeValue::Null(_) => J::Null,
        AttributeValue::M(m) => item_json(m),
        AttributeValue::L(l) => J::Array(l.into_iter().map(attribute_json).collect()),
        AttributeValue::Ss(ss) => J::from(ss),
        other => J::String(format!("{other:?}")),
    }
}

/// `1.10` -> `1.1`, `2.0` -> `2`: the digits a float prints back, for numbers stored unnormalised.
fn trim_fraction(n: &str) -> &str {
    if n.contains('.') && !n.contains(['e', 'E']) {
        n.trim_end_matches('0').trim_end_matches('.')
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_that_a_float_would_round_are_shown_as_strings() {
        let n = |s: &str| attribute_json(AttributeValue::N(s.into()));
        assert_eq!(n("12"), serde_json::json!(12));
        assert_eq!(n("12.5"), serde_json::json!(12.5));
        assert_eq!(n("1.10"), serde_json::json!(1.1));
        assert_eq!(n("120.000000000000000001"), serde_json::json!("120.000000000000000001"));
        assert_eq!(n("99999999999999999999"), serde_json::json!("99999999999999999999"));
    }

    #[test]
    fn page_tokens_read_back_and_refuse_what_no_page_gave() {
        let token = PageToken { shard: 63, after: "payment#k 1/ü".into() };
        assert_eq!(PageToken::parse(&token.to_string()), Ok(token));
        for bad in ["", "4", "zz", "40", "4061", "00"] {
            assert!(PageToken::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn partition_keys_are_stable_and_spread() {
        assert_eq!(partition_key("c", "a.csv#e#1"), partition_key("c", "a.csv#e#1"));
        let shards: std::collections::HashSet<_> =
            (0..10_000).map(|i| partition_key("c", &format!("k#e#{i}"))).collect();
        assert_eq!(shards.len(), SHARDS as usize, "10,000 rows should touch every shard");
    }
}
