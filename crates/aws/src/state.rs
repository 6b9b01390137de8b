//! The state table: one DynamoDB table holding connections, their unique names, templates, leases,
//! the import ledger (one outcome per object key) and sync runs.
//!
//! | item        | pk                 | sk                               | notes                              |
//! |-------------|--------------------|----------------------------------|------------------------------------|
//! | connection  | `CONN#<id>`        | `CONN`                           | + lease_owner, lease_until (ms), status_key/name for the by-status index |
//! | name        | `NAME#<name>`      | `NAME`                           | makes names unique (conditional put) |
//! | template    | `TEMPLATES`        | `<template id>`                  | the current document and its `version` |
//! | template version | `TEMPLATE#<id>` | `V#<version, 6 digits>`         | every saved version, kept           |
//! | outcome     | `CONN#<id>`        | `OBJ#<key>` (a key too long for a sort key: its first bytes, `~` and its SHA-256) | latest outcome for the key (the whole key in `key`); the ledger; TTL `expires_at` |
//! | run         | `CONN#<id>`        | `RUN#<started, RFC 3339>#<run>`  | one per sync run                    |
//! | checkpoint  | `CONN#<id>`        | `CHECKPOINT#<invocation>#<n>`    | a handed-over run's checkpoint, JSON in 350 KB pieces; the connection item names the current one (`checkpoint_generation`, `checkpoint_pieces`) |

use crate::errors::{corrupt_item, store_error};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, Select, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};
use connector_core::dispatch::{ConnectionIndex, DispatchCandidate};
use connector_core::keys::ledger_sort_key;
use connector_core::manage::ports::Templates;
use connector_core::model::{Checkpoint, Connection, ConnectionStatus, FileOutcome, SyncRun};
use connector_core::ports::{Lease, LedgerEntry, RunEnd, StoreError, StoreErrorKind, SyncStore};
use connector_core::template::Template;
use futures::stream::BoxStream;
use std::collections::HashMap;
use tracing::instrument;

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
    for chunk in keys.chunks(25) {
        let mut pending: Vec<aws_sdk_dynamodb::types::WriteRequest> = chunk
            .iter()
            .map(|k| {
                let delete = aws_sdk_dynamodb::types::DeleteRequest::builder()
                    .set_key(Some(k.clone()))
                    .build()
                    .map_err(|e| crate::errors::corrupt_item("delete", e))?;
                Ok(aws_sdk_dynamodb::types::WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<_, StoreError>>()?;
        for attempt in 0.. {
            let output = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(|e| store_error("deleting", e))?;
            pending = output.unprocessed_items.and_then(|mut u| u.remove(table)).unwrap_or_default();
            if pending.is_empty() {
                break;
            }
            if attempt >= 10 {
                return Err(StoreError::new(StoreErrorKind::Transient, "deletes left unprocessed after 10 attempts"));
            }
            tokio::time::sleep(connector_core::retry::backoff(attempt)).await;
        }
    }
    Ok(())
}

/// Whether a conditional write was applied: `false` when its condition did not hold.
fn applied<T>(written: Result<T, StoreError>) -> Result<bool, StoreError> {
    match written {
        Ok(_) => Ok(true),
        Err(e) if e.kind == StoreErrorKind::Conflict => Ok(false),
        Err(e) => Err(e),
    }
}

pub const STATUS_INDEX: &str = "by-status";
/// Ledger entries to try again, by time: `recheck_key` = `CONN#<id>`, `recheck_at` in milliseconds.
pub const RECHECK_INDEX: &str = "by-recheck";

/// A DynamoDB item holds at most 400 KB; a checkpoint (its pending objects) may be larger.
const CHECKPOINT_PIECE: usize = 350 * 1024;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

pub(crate) fn connection_key(id: &str) -> Item {
    key(format!("CONN#{id}"), "CONN")
}

/// The ledger entry of an object of a connection.
pub(crate) fn ledger_key(connection_id: &str, object_key: &str) -> Item {
    key(format!("CONN#{connection_id}"), &ledger_sort_key(object_key))
}

fn status_key(status: ConnectionStatus) -> AttributeValue {
    s(format!("STATUS#{}", status.as_str()))
}

/// The state table.
#[derive(Clone, Debug)]
pub struct StateTable {
    pub client: Client,
    pub table: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateConnectionError {
    #[error("a connection named '{0}' already exists")]
    NameTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn checkpoint_sk(generation: &str, piece: usize) -> String {
    format!("CHECKPOINT#{generation}#{piece:05}")
}

impl StateTable {
    /// Deletes a connection's checkpoint pieces, but those of `keep`'s generation.
    async fn delete_checkpoints(&self, connection_id: &str, keep: Option<&str>) -> Result<(), StoreError> {
        let keys =
            partition_keys(&self.client, &self.table, format!("CONN#{connection_id}"), Some("CHECKPOINT#")).await?;
        let kept = keep.map(|generation| format!("CHECKPOINT#{generation}#"));
        let stale = keys
            .into_iter()
            .filter(|k| match (k.get("sk"), &kept) {
                (Some(AttributeValue::S(sk)), Some(kept)) => !sk.starts_with(kept.as_str()),
                _ => true,
            })
            .collect();
        delete_keys(&self.client, &self.table, stale).await
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        StateTable { client, table: table.into() }
    }

    async fn get(&self, key: Item, context: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(context, e))?;
        Ok(output.item)
    }

    async fn put(&self, item: Item, context: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error(context, e))?;
        Ok(())
    }

    /// Saves a template (already validated) as its next version; returns the version. Two saves of
    /// one template cannot both take the same version (conditional write on the current one).
    pub async fn put_template(&self, template: &Template) -> Result<u32, StoreError> {
        let document = serde_json::to_string(template).map_err(|e| corrupt_item("template", e))?;
        let current = self.get(key("TEMPLATES".into(), &template.id), "reading template").await?;
        let previous = current.as_ref().and_then(|item| match item.get("version") {
            Some(AttributeValue::N(v)) => v.parse::<u32>().ok(),
            _ => None,
        });
        // Numbering goes on from the history, which outlives a deleted template: a template saved
        // again after a delete gets the next number, and no saved version is ever overwritten.
        let last_saved = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(format!("TEMPLATE#{}", template.id)))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("reading template history", e))?
            .items
            .unwrap_or_default()
            .first()
            .and_then(|item| match item.get("version") {
                Some(AttributeValue::N(v)) => v.parse::<u32>().ok(),
                _ => None,
            });
        let version = previous.max(last_saved).unwrap_or(0) + 1;
        let now = s(Utc::now().to_rfc3339());
        let mut latest = key("TEMPLATES".into(), &template.id);
        latest.insert("document".into(), s(&document));
        latest.insert("version".into(), n(version as i64));
        latest.insert("updated_at".into(), now.clone());
        let mut history = key(format!("TEMPLATE#{}", template.id), &format!("V#{version:06}"));
        history.insert("document".into(), s(document));
        history.insert("version".into(), n(version as i64));
        history.insert("saved_at".into(), now);
        let condition = match previous {
            None => "attribute_not_exists(pk)".to_owned(),
            Some(_) => "version = :previous".to_owned(),
        };
        let mut put_latest =
            Put::builder().table_name(&self.table).set_item(Some(latest)).condition_expression(condition);
        if let Some(p) = previous {
            put_latest = put_latest.expression_attribute_values(":previous", n(p as i64));
        }
        let put_latest = put_latest.build().map_err(|e| corrupt_item("template", e))?;
        let put_history = Put::builder()
            .table_name(&self.table)
            .set_item(Some(history))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| corrupt_item("template", e))?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_latest).build())
            .transact_items(TransactWriteItem::builder().put(put_history).build())
            .send()
            .await
            .map_err(|e| store_error("saving template", e))?;
        Ok(version)
    }

    /// Every template's current version: (template, version).
    pub async fn templates(&self) -> Result<Vec<(Template, u32)>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s("TEMPLATES"))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(template_item(item.map_err(|e| store_error("listing templates", e))?)?);
        }
        Ok(out)
    }

    /// A template's current version and its number.
    pub async fn template_version(&self, id: &str) -> Result<Option<(Template, u32)>, StoreError> {
        self.get(key("TEMPLATES".into(), id), "reading template").await?.map(template_item).transpose()
    }

    /// Deletes a template's current version (its history stays, for the record).
    pub async fn delete_template(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key("TEMPLATES".into(), id)))
            .send()
            .await
            .map_err(|e| store_error("deleting template", e))?;
        Ok(())
    }

    /// Creates a connection; its name is claimed by a conditional write in the same transaction, so
    /// two creations with one name cannot both succeed.
    pub async fn create_connection(&self, connection: &Connection) -> Result<(), CreateConnectionError> {
        let mut item: Item = serde_dynamo::to_item(connection).map_err(|e| corrupt_item("connection", e))?;
        item.extend(connection_key(&connection.id));
        item.insert("status_key".into(), status_key(connection.status));
        let mut name = key(format!("NAME#{}", connection.name), "NAME");
        name.insert("connection_id".into(), s(&connection.id));
        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| corrupt_item("connection", e))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let result =
            self.client.transact_write_items().transact_items(put(name)?).transact_items(put(item)?).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match store_error("creating connection", e) {
                conflict if conflict.kind == StoreErrorKind::Conflict => {
                    Err(CreateConnectionError::NameTaken(connection.name.clone()))
                }
                other => Err(other.into()),
            },
        }
    }

    /// A query of the by-status index for one status.
    pub(crate) fn status_query(
        &self,
        status: ConnectionStatus,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(STATUS_INDEX)
            .key_condition_expression("status_key = :status")
            .expression_attribute_values(":status", status_key(status))
    }

    /// Sets a connection's status (and its place in the by-status index).
    pub async fn set_status(&self, connection_id: &str, status: ConnectionStatus) -> Result<(), StoreError> {
        self.change_status(connection_id, None, status).await
    }

    /// Moves a connection to `to`; with `from`, only if it still has that status (a conditional
    /// write: `Conflict` otherwise, no lost update).
    pub(crate) async fn change_status(
        &self,
        connection_id: &str,
        from: Option<ConnectionStatus>,
        to: ConnectionStatus,
    ) -> Result<(), StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(connection_id)))
            .update_expression("SET #status = :status, status_key = :status_key")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(to.as_str()))
            .expression_attribute_values(":status_key", status_key(to));
        let request = match from {
            None => request.condition_expression("attribute_exists(pk)"),
            Some(from) => {
                request.condition_expression("#status = :from").expression_attribute_values(":from", s(from.as_str()))
            }
        };
        request.send().await.map_err(|e| store_error("changing the status", e))?;
        Ok(())
    }

    /// The latest outcome of one object, if it has one.
    pub async fn outcome(&self, connection_id: &str, key: &str) -> Result<Option<FileOutcome>, StoreError> {
        let item = self.get(ledger_key(connection_id, key), "reading an outcome").await?;
        item.map(|item| serde_dynamo::from_item(item).map_err(|e| corrupt_item("outcome", e))).transpose()
    }

    /// Marks an object's outcome to be decided again by the next sync (an operator's ask), and puts
    /// it in the index of objects to try again. `false` if the object has no outcome.
    pub async fn ask_again(&self, connection_id: &str, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let recheck = connector_core::model::Recheck::Operator { asked_at: now };
        let recheck = serde_dynamo::to_attribute_value(recheck).map_err(|e| corrupt_item("recheck", e))?;
        let asked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ledger_key(connection_id, key)))
            .update_expression(
                "SET #recheck = :recheck, recheck_key = :connection, recheck_at = :at, asked_at = :at, expires_at = :expires",
            )
            // The entry lives long enough for the next syncs to act on the ask.
            .expression_attribute_values(":expires", n((now + chrono::TimeDelta::days(31)).timestamp()))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#recheck", "recheck")
            .expression_attribute_values(":recheck", recheck)
            .expression_attribute_values(":connection", s(format!("CONN#{connection_id}")))
            .expression_attribute_values(":at", n(millis(now)))
            .send()
            .await;
        applied(asked.map_err(|e| store_error("asking for an object again", e)))
    }

    /// Sets (or, with `None`, removes) one top-level attribute of a connection's item, which must exist.
    pub(crate) async fn set_connection_attribute(
        &self,
        connection_id: &str,
        name: &str,
        value: Option<AttributeValue>,
    ) -> Result<(), StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(connection_id)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#attribute", name);
        let request = match value {
            Some(value) => {
                request.update_expression("SET #attribute = :value").expression_attribute_values(":value", value)
            }
            None => request.update_expression("REMOVE #attribute"),
        };
        request.send().await.map_err(|e| store_error(&format!("setting {name}"), e))?;
        Ok(())
    }

    /// The latest outcome of every object of a connection, by key.
    pub async fn outcomes(&self, connection_id: &str) -> Result<Vec<FileOutcome>, StoreError> {
        self.query_prefix(connection_id, "OBJ#", true, None).await
    }

    /// The most recent runs of a connection, newest first.
    pub async fn runs(&self, connection_id: &str, limit: i32) -> Result<Vec<SyncRun>, StoreError> {
        self.query_prefix(connection_id, "RUN#", false, Some(limit)).await
    }

    async fn query_prefix<T: serde::de::DeserializeOwned>(
        &self,
        connection_id: &str,
        prefix: &str,
        forward: bool,
        limit: Option<i32>,
    ) -> Result<Vec<T>, StoreError> {
        let pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(format!("CONN#{connection_id}")))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(forward)
            .set_limit(limit)
            .into_paginator()
            .items()
            .send();
        let mut pages = pages;
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| store_error("querying state", e))?;
            out.push(serde_dynamo::from_item(item).map_err(|e| corrupt_item(prefix, e))?);
            if limit.is_some_and(|l| out.len() >= l as usize) {
                break;
            }
        }
        Ok(out)
    }
}

fn template_item(item: Item) -> Result<(Template, u32), StoreError> {
    let Some(AttributeValue::S(document)) = item.get("document") else {
        return Err(corrupt_item("template", "no document"));
    };
    let version = match item.get("version") {
        Some(AttributeValue::N(v)) => v.parse().unwrap_or(1),
        _ => 1,
    };
    Ok((Template::from_json(document).map_err(|e| corrupt_item("template", e))?, version))
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The lease and dispatch fields of a connection item.
#[derive(serde::Deserialize)]
struct LeaseFields {
    id: String,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    lease_renewed: Option<i64>,
    #[serde(default)]
    sync: LeaseSync,
}

#[derive(serde::Deserialize, Default)]
struct LeaseSync {
    last_schedule_run: Option<String>,
}

struct Candidate {
    lease_owner: Option<String>,
    lease_until: Option<DateTime<Utc>>,
    lease_renewed: Option<DateTime<Utc>>,
    last_schedule_run: Option<String>,
    id: String,
}

fn dispatch_candidate(item: Item) -> Result<Candidate, StoreError> {
    let fields: LeaseFields = serde_dynamo::from_item(item).map_err(|e| corrupt_item("connection", e))?;
    Ok(Candidate {
        id: fields.id,
        lease_owner: fields.lease_owner,
        lease_until: fields.lease_until.and_then(DateTime::from_timestamp_millis),
        lease_renewed: fields.lease_renewed.and_then(DateTime::from_timestamp_millis),
        last_schedule_run: fields.sync.last_schedule_run,
    })
}

#[async_trait]
impl ConnectionIndex for StateTable {
    fn connections(&self, status: ConnectionStatus) -> BoxStream<'_, Result<DispatchCandidate, StoreError>> {
        let items = self
            .status_query(status)
            .projection_expression("#id, lease_owner, lease_until, #sync.last_schedule_run")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#sync", "sync")
            .into_paginator()
            .items()
            .send();
        let stream = futures::stream::unfold(items, |mut items| async move {
            let item = items.next().await?;
            let candidate = item.map_err(|e| store_error("reading the status index", e)).and_then(dispatch_candidate);
            Some((
                candidate.map(|c| DispatchCandidate {
                    id: c.id,
                    lease_until: c.lease_until,
                    last_schedule_run: c.last_schedule_run,
                }),
                items,
            ))
        });
        Box::pin(stream)
    }

    async fn count(&self, status: ConnectionStatus) -> Result<u64, StoreError> {
        let mut pages = self.status_query(status).select(Select::Count).into_paginator().send();
        let mut total = 0u64;
        while let Some(page) = pages.next().await {
            total += page.map_err(|e| store_error("counting connections", e))?.count.max(0) as u64;
        }
        Ok(total)
    }
}

#[async_trait]
impl Templates for StateTable {
    #[instrument(skip(self))]
    async fn template(&self, id: &str, version: Option<u32>) -> Result<Option<(Template, u32)>, StoreError> {
        let key = match version {
            None => key("TEMPLATES".into(), id),
            Some(v) => key(format!("TEMPLATE#{id}"), &format!("V#{v:06}")),
        };
        self.get(key, "reading template").await?.map(template_item).transpose()
    }

    async fn templates(&self) -> Result<Vec<(Template, u32)>, StoreError> {
        StateTable::templates(self).await
    }

    async fn put_template(&self, template: &Template) -> Result<u32, StoreError> {
        StateTable::put_template(self, template).await
    }

    async fn delete_template(&self, id: &str) -> Result<(), StoreError> {
        StateTable::delete_template(self, id).await
    }
}

#[async_trait]
impl SyncStore for StateTable {
    #[instrument(skip(self))]
    async fn connection(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        self.get(connection_key(id), "reading connection")
            .await?
            .map(|item| serde_dynamo::from_item(item).map_err(|e| corrupt_item("connection", e)))
            .transpose()
    }

    #[instrument(skip(self))]
    async fn acquire_lease(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        schedule_run: Option<&str>,
    ) -> Result<Lease, StoreError> {
        let free = "attribute_exists(pk) AND (attribute_not_exists(lease_owner) OR lease_until < :now OR lease_owner = :owner)";
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(id)))
            .update_expression("SET lease_owner = :owner, lease_until = :until, lease_renewed = :now")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(millis(until)))
            .expression_attribute_values(":now", n(millis(now)));
        request = match schedule_run {
            None => request.condition_expression(free),
            Some(run) => request
                .condition_expression(format!(
                    "{free} AND (attribute_not_exists(#sync.last_schedule_run) OR #sync.last_schedule_run <> :run)"
                ))
                .expression_attribute_names("#sync", "sync")
                .expression_attribute_values(":run", s(run)),
        };
        let error = match request.send().await {
            Ok(_) => return Ok(Lease::Acquired),
            Err(e) => store_error("taking the lease", e),
        };
        if error.kind != StoreErrorKind::Conflict {
            return Err(error);
        }
        // Say why: another live lease, or this scheduled event already ran.
        let item = self.get(connection_key(id), "reading the lease").await?.ok_or(error)?;
        let candidate = dispatch_candidate(item)?;
        match (candidate.lease_until, candidate.last_schedule_run) {
            (_, Some(last)) if schedule_run == Some(last.as_str()) => Ok(Lease::AlreadyRan { schedule_run: last }),
            (until, _) => Ok(Lease::Held {
                owner: candidate.lease_owner.unwrap_or_else(|| "unknown".into()),
                until: until.unwrap_or_default(),
                renewed: candidate.lease_renewed,
            }),
        }
    }

    #[instrument(skip(self))]
    async fn renew_lease(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let renewed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(id)))
            .update_expression("SET lease_until = :until, lease_renewed = :now")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":until", n(millis(until)))
            .expression_attribute_values(":now", n(millis(now)))
            .send()
            .await;
        applied(renewed.map_err(|e| store_error("renewing the lease", e)))
    }

    #[instrument(skip(self))]
    async fn release_lease(&self, id: &str, owner: &str) -> Result<(), StoreError> {
        let released = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(id)))
            .update_expression("REMOVE lease_owner, lease_until, lease_renewed")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        // Not held by `owner` (any more): nothing to let go.
        applied(released.map_err(|e| store_error("letting the lease go", e))).map(|_| ())
    }

    #[instrument(skip(self, keys), fields(keys = keys.len()))]
    async fn ledger(&self, connection_id: &str, keys: &[&str]) -> Result<HashMap<String, LedgerEntry>, StoreError> {
        let mut found = HashMap::new();
        let mut unique: Vec<&str> = keys.to_vec();
        unique.sort_unstable();
        unique.dedup();
        for chunk in unique.chunks(100) {
            let mut request = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|k| ledger_key(connection_id, k)).collect()))
                .projection_expression("#key, etag, #recheck, replaces")
                .expression_attribute_names("#key", "key")
                .expression_attribute_names("#recheck", "recheck")
                .consistent_read(true)
                .build()
                .map_err(|e| corrupt_item("ledger lookup", e))?;
            for attempt in 0.. {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request.clone())
                    .send()
                    .await
                    .map_err(|e| store_error("reading the import ledger", e))?;
                for item in output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    if let (Some(AttributeValue::S(k)), Some(AttributeValue::S(etag))) =
                        (item.get("key"), item.get("etag"))
                    {
                        let recheck = match item.get("recheck") {
                            Some(value) => serde_dynamo::from_attribute_value(value.clone())
                                .map_err(|e| corrupt_item("ledger", e))?,
                            None => None,
                        };
                        let replaces = match item.get("replaces") {
                            Some(AttributeValue::S(earlier)) => Some(earlier.clone()),
                            _ => None,
                        };
                        found.insert(k.clone(), LedgerEntry { etag: etag.clone(), recheck, replaces });
                    }
                }
                match output.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                    Some(rest) if !rest.keys.is_empty() => {
                        if attempt >= 10 {
                            return Err(StoreError::new(
                                StoreErrorKind::Transient,
                                "ledger lookup: keys left unprocessed after 10 attempts",
                            ));
                        }
                        tokio::time::sleep(connector_core::retry::backoff(attempt)).await;
                        request = rest;
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    #[instrument(skip(self))]
    async fn due_rechecks(
        &self,
        connection_id: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<FileOutcome>, StoreError> {
        let mut items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(RECHECK_INDEX)
            .key_condition_expression("recheck_key = :connection AND recheck_at <= :now")
            .expression_attribute_values(":connection", s(format!("CONN#{connection_id}")))
            .expression_attribute_values(":now", n(millis(now)))
            .into_paginator()
            .items()
            .send();
        let mut due = Vec::new();
        while due.len() < limit {
            let Some(item) = items.next().await else { break };
            let item = item.map_err(|e| store_error("reading the objects to try again", e))?;
            due.push(serde_dynamo::from_item(item).map_err(|e| corrupt_item("outcome", e))?);
        }
        Ok(due)
    }

    #[instrument(skip(self, outcome), fields(key = %outcome.key))]
    async fn record_outcome(
        &self,
        connection_id: &str,
        outcome: &FileOutcome,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let item = |outcome: &FileOutcome| -> Result<Item, StoreError> {
            let mut item: Item = serde_dynamo::to_item(outcome).map_err(|e| corrupt_item("outcome", e))?;
            item.extend(ledger_key(connection_id, &outcome.key));
            item.insert("expires_at".into(), n(expires_at.timestamp()));
            // In the index of outcomes to try again while it waits for a time (the whole item is
            // written each time, so an outcome without one leaves the index).
            if let Some(at) = outcome.recheck.as_ref().and_then(connector_core::model::Recheck::due_at) {
                item.insert("recheck_key".into(), s(format!("CONN#{connection_id}")));
                item.insert("recheck_at".into(), n(millis(at)));
            }
            if let Some(connector_core::model::Recheck::Operator { asked_at }) = &outcome.recheck {
                item.insert("asked_at".into(), n(millis(*asked_at)));
            }
            Ok(item)
        };
        // An operator's ask made after the object was taken up stands (`asked_at`, set by ask_again).
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(outcome)?))
            .condition_expression("attribute_not_exists(asked_at) OR asked_at <= :began")
            .expression_attribute_values(":began", n(millis(outcome.began())))
            .send()
            .await
            .map_err(|e| store_error("recording an outcome", e));
        match written {
            Err(e) if e.kind == StoreErrorKind::Conflict => {
                let current = self.get(ledger_key(connection_id, &outcome.key), "recording an outcome").await?;
                let asked_at = current
                    .as_ref()
                    .and_then(|i| i.get("asked_at"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|ms| ms.parse().ok())
                    .and_then(DateTime::from_timestamp_millis)
                    .unwrap_or_else(Utc::now);
                let recheck = Some(connector_core::model::Recheck::Operator { asked_at });
                self.put(item(&FileOutcome { recheck, ..outcome.clone() })?, "recording an outcome").await
            }
            other => other.map(|_| ()),
        }
    }

    #[instrument(skip_all, fields(connection_id = %end.connection.id, run_id = %end.run.run_id))]
    async fn finish_run(&self, end: RunEnd<'_>, owner: &str) -> Result<(), StoreError> {
        let mut run: Item = serde_dynamo::to_item(end.run).map_err(|e| corrupt_item("run", e))?;
        let started = end.run.started_at.to_rfc3339_opts(SecondsFormat::Millis, true);
        run.extend(key(format!("CONN#{}", end.connection.id), &format!("RUN#{started}#{}", end.run.run_id)));
        self.put(run, "recording the run").await?;

        let sync: AttributeValue =
            serde_dynamo::to_attribute_value(&end.connection.sync).map_err(|e| corrupt_item("sync state", e))?;
        let change_status = end.connection.status != end.status_before;
        let update = |with_status: bool| {
            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(connection_key(&end.connection.id)))
                .expression_attribute_values(":owner", s(owner))
                .expression_attribute_values(":sync", sync.clone());
            if with_status {
                request = request
                    .update_expression("SET #sync = :sync, #status = :status, status_key = :status_key REMOVE lease_owner, lease_until, lease_renewed, checkpoint_generation, checkpoint_pieces")
                    .condition_expression("lease_owner = :owner AND #status = :before")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(end.connection.status.as_str()))
                    .expression_attribute_values(":status_key", status_key(end.connection.status))
                    .expression_attribute_values(":before", s(end.status_before.as_str()));
            } else {
                request = request
                    .update_expression(
                        "SET #sync = :sync REMOVE lease_owner, lease_until, lease_renewed, checkpoint_generation, checkpoint_pieces",
                    )
                    .condition_expression("lease_owner = :owner");
            }
            request.expression_attribute_names("#sync", "sync").send()
        };
        match update(change_status).await.map_err(|e| store_error("finishing the run", e)) {
            // An operator changed the status during the run (paused it): keep theirs, save ours.
            Err(e) if change_status && e.kind == StoreErrorKind::Conflict => {
                update(false).await.map_err(|e| store_error("finishing the run", e))?;
            }
            other => other.map(|_| ())?,
        }
        // A backfill carried out is cleared, unless an operator asked for another meanwhile.
        if let Some(since) = end.run.backfill_since.filter(|_| end.run.backfill_done()) {
            let since = serde_dynamo::to_attribute_value(since).map_err(|e| corrupt_item("backfill", e))?;
            let cleared = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(connection_key(&end.connection.id)))
                .update_expression("REMOVE backfill_since")
                .condition_expression("backfill_since = :since")
                .expression_attribute_values(":since", since)
                .send()
                .await
                .map_err(|e| store_error("clearing the backfill", e));
            applied(cleared)?;
        }
        // The run is over: its checkpoints, if it handed over, are no longer named by anything.
        self.delete_checkpoints(&end.connection.id, None).await
    }

    #[instrument(skip(self))]
    async fn checkpoint(&self, connection_id: &str) -> Result<Option<Checkpoint>, StoreError> {
        let Some(item) = self.get(connection_key(connection_id), "reading the checkpoint").await? else {
            return Ok(None);
        };
        let (Some(AttributeValue::S(generation)), Some(AttributeValue::N(pieces))) =
            (item.get("checkpoint_generation"), item.get("checkpoint_pieces"))
        else {
            return Ok(None);
        };
        let pieces: usize = pieces.parse().map_err(|e| corrupt_item("checkpoint", e))?;
        let mut json = Vec::new();
        for i in 0..pieces {
            let piece = self
                .get(key(format!("CONN#{connection_id}"), &checkpoint_sk(generation, i)), "reading the checkpoint")
                .await?
                .ok_or_else(|| corrupt_item("checkpoint", format!("piece {i} of {generation} is missing")))?;
            let Some(AttributeValue::B(bytes)) = piece.get("data") else {
                return Err(corrupt_item("checkpoint", "a piece has no data"));
            };
            json.extend_from_slice(bytes.as_ref());
        }
        serde_json::from_slice(&json).map(Some).map_err(|e| corrupt_item("checkpoint", e))
    }

    #[instrument(skip(self, checkpoint), fields(run_id = %checkpoint.run_id))]
    async fn hand_over(&self, connection_id: &str, owner: &str, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let json = serde_json::to_vec(checkpoint).map_err(|e| corrupt_item("checkpoint", e))?;
        // The pieces go under this invocation's own name first; then one conditional write names them
        // and lets the lease go, so a reader sees the old checkpoint or the new one, never a mix.
        let pieces: Vec<&[u8]> = json.chunks(CHECKPOINT_PIECE).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let mut item = key(format!("CONN#{connection_id}"), &checkpoint_sk(owner, i));
            item.insert("data".into(), AttributeValue::B(aws_smithy_types::Blob::new(*piece)));
            self.put(item, "saving the checkpoint").await?;
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(connection_id)))
            .update_expression(
                "SET checkpoint_generation = :generation, checkpoint_pieces = :pieces REMOVE lease_owner, lease_until, lease_renewed",
            )
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":generation", s(owner))
            .expression_attribute_values(":pieces", n(pieces.len() as i64))
            .send()
            .await
            .map_err(|e| store_error("handing over", e))?;
        // Earlier checkpoints of the run are no longer named; a failure here leaves litter that the
        // run's end removes.
        if let Err(e) = self.delete_checkpoints(connection_id, Some(owner)).await {
            tracing::warn!(error = %e, "could not delete earlier checkpoints");
        }
        Ok(())
    }
}

/// The store conformance suite (connector_core::conformance) runs against this store on moto
/// (tests/conformance.rs).
#[cfg(feature = "test-support")]
#[async_trait]
impl connector_core::conformance::StoreUnderTest for StateTable {
    async fn save_connection(&self, connection: &Connection, template: &Template) {
        self.put_template(template).await.expect("saving the template");
        self.create_connection(connection).await.expect("saving the connection");
    }

    async fn save_template_version(&self, template: &Template) {
        self.put_template(template).await.expect("saving the template");
    }

    async fn ask_again(&self, connection_id: &str, key: &str, at: DateTime<Utc>) {
        assert!(self.ask_again(connection_id, key, at).await.expect("asking again"), "an outcome to ask about");
    }

    async fn set_status_as_operator(&self, connection_id: &str, status: ConnectionStatus) {
        self.set_status(connection_id, status).await.expect("changing the status");
    }
}
