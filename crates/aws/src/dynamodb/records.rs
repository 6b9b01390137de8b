//! The records table: accepted rows as items, written with BatchWriteItem ([`RecordSink`]), read
//! back page by page and purged ([`RecordAdmin`]). Its keys are in [`super::keys`]; its items, in
//! [`super`].

use super::item::{delete_keys, partition_keys, Item};
use super::keys::{self, SHARDS};
use crate::errors::{corrupt_item, store_error};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use chrono::SecondsFormat;
use connector_core::manage::ports::{RecordAdmin, RecordsPage};
use connector_core::mapping::Value;
use connector_core::ports::{RecordBatch, RecordSink, StoreError, StoreErrorKind};
use connector_core::retry::backoff;
use futures::StreamExt;
use std::collections::HashMap;

/// The most records one [`RecordsTable::put`] takes: it writes them in one BatchWriteItem, and
/// DynamoDB refuses more than 25 requests in one (a ValidationException; moto does not check it).
pub const MAX_BATCH: usize = 25;
const MAX_ATTEMPTS: u32 = 12;

fn attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Str(s) => AttributeValue::S(s.clone()),
        Value::Int(i) => AttributeValue::N(i.to_string()),
        Value::Decimal(d) => AttributeValue::N(d.clone()),
        Value::Bool(b) => AttributeValue::Bool(*b),
        other => AttributeValue::S(other.canonical().into_owned()),
    }
}

/// Where a page of a connection's records ends: the shard and the last record id read. Given out
/// as hex, so that it travels in a URL or a shell argument as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PageToken {
    shard: u64,
    after: String,
}

impl PageToken {
    /// A token a page gave, or `Invalid`.
    fn parse(text: &str) -> Result<PageToken, StoreError> {
        let bad = || StoreError::new(StoreErrorKind::Invalid, "is not a page token given by a previous page");
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

    /// Up to `limit` records of a connection from `after`, shard by shard, and where the next page
    /// starts (`None` after the last).
    async fn page(
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
            let pk = keys::shard_pk(connection_id, shard);
            loop {
                let exclusive_start = start.take().map(|sk| keys::record(&pk, &sk));
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                    .set_exclusive_start_key(exclusive_start)
                    .limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX))
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
}

#[async_trait]
impl RecordAdmin for RecordsTable {
    async fn records_page(
        &self,
        connection_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<RecordsPage, StoreError> {
        let after = after.map(PageToken::parse).transpose()?;
        if limit == 0 {
            return Ok(RecordsPage { records: Vec::new(), next: after.map(|t| t.to_string()) });
        }
        let (records, next) = self.page(connection_id, limit, after).await?;
        Ok(RecordsPage { records, next: next.map(|t| t.to_string()) })
    }

    /// The connection's shards, eight at a time: each one's keys listed, then deleted 25 a request.
    async fn purge_records(&self, connection_id: &str) -> Result<u64, StoreError> {
        let (client, table) = (&self.client, self.table.as_str());
        let mut shards = futures::stream::iter(0..SHARDS)
            .map(|shard| async move {
                let found = partition_keys(client, table, keys::shard_pk(connection_id, shard), None).await?;
                let count = found.len() as u64;
                delete_keys(client, table, found).await.map(|()| count)
            })
            .buffer_unordered(8);
        let mut purged = 0;
        while let Some(deleted) = shards.next().await {
            purged += deleted?;
        }
        Ok(purged)
    }

    /// Query's Select COUNT over each shard, eight at a time: DynamoDB counts on its side (each
    /// page up to 1 MB of items read), nothing comes back but the numbers.
    async fn count_records(&self, connection_id: &str) -> Result<u64, StoreError> {
        let (client, table) = (&self.client, self.table.as_str());
        let mut shards = futures::stream::iter(0..SHARDS)
            .map(|shard| async move {
                let mut pages = client
                    .query()
                    .table_name(table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", AttributeValue::S(keys::shard_pk(connection_id, shard)))
                    .select(aws_sdk_dynamodb::types::Select::Count)
                    .into_paginator()
                    .send();
                let mut count = 0u64;
                while let Some(page) = pages.next().await {
                    count += page.map_err(|e| store_error("counting records", e))?.count as u64;
                }
                Ok::<_, StoreError>(count)
            })
            .buffer_unordered(8);
        let mut total = 0;
        while let Some(count) = shards.next().await {
            total += count?;
        }
        Ok(total)
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
                .expression_attribute_values(":pk", AttributeValue::S(keys::shard_pk(connection_id, shard)))
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.clone()))
                .expression_attribute_values(":key", AttributeValue::S(object_key.to_owned()))
                .expression_attribute_values(":keep", AttributeValue::S(keep_etag.to_owned()))
                .projection_expression("pk, sk")
                .into_paginator()
                .items()
                .send();
            let mut found = Vec::new();
            while let Some(item) = items.next().await {
                found.push(item.map_err(|e| store_error("finding an earlier version's records", e))?);
            }
            removed += found.len() as u64;
            delete_keys(&self.client, &self.table, found).await?;
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
            if !record.extra.is_empty() {
                let extra = record.extra.iter().map(|(k, v)| (k.clone(), AttributeValue::S(v.clone()))).collect();
                data.insert(connector_core::template::EXTRA_FIELD.to_owned(), AttributeValue::M(extra));
            }
            // Sized once, keys and all: this runs for every row.
            let item: Item = HashMap::from([
                ("pk".to_owned(), AttributeValue::S(keys::record_pk(batch.connection_id, &record.id))),
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

/// An item as JSON for people and tests. Numbers are shown exactly, never through a float: an
/// integer that fits an i64 as a JSON number, any other number as a string of its digits as stored
/// (`4.00` stays `"4.00"`).
pub fn item_json(item: Item) -> serde_json::Value {
    serde_json::Value::Object(item.into_iter().map(|(k, v)| (k, attribute_json(v))).collect())
}

fn attribute_json(value: AttributeValue) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        AttributeValue::S(s) => J::String(s),
        AttributeValue::N(n) => match n.parse::<i64>() {
            // Only the integer's own spelling: `007` or `+7` would not read back as stored.
            Ok(i) if i.to_string() == n => J::from(i),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_that_fit_an_i64_are_numbers_and_every_other_number_its_digits_as_stored() {
        let cases = [
            ("12", serde_json::json!(12)),
            ("-3", serde_json::json!(-3)),
            ("0", serde_json::json!(0)),
            ("9223372036854775807", serde_json::json!(i64::MAX)),
            ("9223372036854775808", serde_json::json!("9223372036854775808")),
            ("99999999999999999999", serde_json::json!("99999999999999999999")),
            ("4.00", serde_json::json!("4.00")),
            ("1.50", serde_json::json!("1.50")),
            ("12.5", serde_json::json!("12.5")),
            ("120.000000000000000001", serde_json::json!("120.000000000000000001")),
            ("1E+2", serde_json::json!("1E+2")),
            ("007", serde_json::json!("007")),
        ];
        for (stored, shown) in cases {
            assert_eq!(attribute_json(AttributeValue::N(stored.into())), shown, "N {stored}");
        }
        let nested = AttributeValue::M(HashMap::from([("amount".to_owned(), AttributeValue::N("1.50".into()))]));
        assert_eq!(attribute_json(nested), serde_json::json!({"amount": "1.50"}), "inside a map too");
    }

    #[test]
    fn page_tokens_read_back_and_refuse_what_no_page_gave() {
        let token = PageToken { shard: 63, after: "payment#k 1/ü".into() };
        assert_eq!(PageToken::parse(&token.to_string()).unwrap(), token);
        for bad in ["", "4", "zz", "40", "4061", "00"] {
            let refused = PageToken::parse(bad).expect_err(bad);
            assert_eq!(refused.kind, StoreErrorKind::Invalid, "{bad}");
            assert_eq!(refused.message, "is not a page token given by a previous page", "{bad}");
        }
    }
}
