//! Writing an outcome, and the count of open failures it moves: a ledger entry that is an open
//! failure (failed, not dismissed) carries `open_failure` and no TTL, and the connection item's
//! `failed_files` counts those entries. Every write that makes or ends one changes the count in the
//! same transaction, conditioned on what the entry held, so a list reads the count from the
//! connection instead of the ledger, and no retry or race counts a file twice.

use super::item::{millis, n, s, Item};
use super::{keys, StateTable};
use crate::errors::{corrupt_item, store_error};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use connector_core::model::{FileOutcome, FileStatus, Recheck};
use connector_core::ports::{StoreError, StoreErrorKind};

/// The attribute that marks an entry counted in its connection's `failed_files`. Entries written
/// before the count existed lack it and are not counted (see the README's upgrade notes).
const OPEN_FAILURE: &str = "open_failure";

/// Attempts at a write whose condition lost to a concurrent change (an operator's ask or
/// dismissal) or to another transaction on the connection item.
const ATTEMPTS: u32 = 6;

/// What a ledger entry held before a write replaces it, as far as the write depends on it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Before {
    /// Counted in the connection's `failed_files`.
    open_failure: bool,
    /// An operator's ask made after the object was taken up: it stands.
    asked_at: Option<DateTime<Utc>>,
    /// An operator's dismissal of this version's failure made after the object was taken up: it
    /// stands if the object fails again (and no ask came after it).
    dismissed: Option<(DateTime<Utc>, String)>,
}

impl Before {
    fn of(item: Option<&Item>, began: DateTime<Utc>) -> Self {
        let Some(item) = item else { return Before::default() };
        let after_began = |name: &str| {
            super::item::number(item, name).and_then(DateTime::from_timestamp_millis).filter(|at| *at > began)
        };
        let etag = match item.get("etag") {
            Some(AttributeValue::S(etag)) => etag.clone(),
            _ => String::new(),
        };
        Before {
            open_failure: item.contains_key(OPEN_FAILURE),
            asked_at: after_began("asked_at"),
            dismissed: after_began(DISMISSED_MS).map(|at| (at, etag)),
        }
    }

    /// `outcome` as it is written over this entry: with the ask or the dismissal that stands.
    fn applied_to(&self, outcome: &FileOutcome) -> FileOutcome {
        let mut written = outcome.clone();
        if let Some(asked_at) = self.asked_at {
            written.recheck = Some(Recheck::Operator { asked_at });
        } else if let Some((at, etag)) = &self.dismissed {
            if outcome.status == FileStatus::Failed && outcome.etag == *etag {
                written.dismissed_at = Some(*at);
                written.recheck = None;
            }
        }
        written
    }
}

/// A dismissal's time in milliseconds, for conditions (`dismissed_at` is text).
const DISMISSED_MS: &str = "dismissed_ms";

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    corrupt_item("outcome write", e)
}

/// The connection's count moved by `delta`, only while the connection exists.
fn count_update(table: &str, connection_id: &str, delta: i64) -> Result<TransactWriteItem, StoreError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(keys::connection(connection_id)))
        .update_expression("ADD failed_files :delta")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":delta", n(delta))
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The ledger item of `outcome`: in the by-recheck index while it waits for a time (the whole item
/// is written each time, so an outcome without one leaves the index), and either an open failure
/// or expiring after `expires_at`.
fn outcome_item(connection_id: &str, outcome: &FileOutcome, expires_at: DateTime<Utc>) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(outcome).map_err(|e| corrupt_item("outcome", e))?;
    item.extend(keys::ledger(connection_id, &outcome.key));
    if outcome.is_open_failure() {
        item.insert(OPEN_FAILURE.into(), AttributeValue::Bool(true));
    } else {
        item.insert("expires_at".into(), n(expires_at.timestamp()));
    }
    if let Some(at) = outcome.recheck.as_ref().and_then(Recheck::due_at) {
        item.insert("recheck_key".into(), s(keys::connection_pk(connection_id)));
        item.insert("recheck_at".into(), n(millis(at)));
    }
    if let Some(Recheck::Operator { asked_at }) = &outcome.recheck {
        item.insert("asked_at".into(), n(millis(*asked_at)));
    }
    if let Some(at) = outcome.dismissed_at {
        item.insert(DISMISSED_MS.into(), n(millis(at)));
    }
    Ok(item)
}

/// Whether a transaction failed on its item `index`'s condition (DynamoDB names each item's reason).
fn failed_on<R>(error: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError, R>, index: usize) -> bool {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .get(index)
            .is_some_and(|reason| reason.code() == Some("ConditionalCheckFailed")),
        _ => false,
    }
}

impl StateTable {
    /// [`connector_core::ports::SyncStore::record_outcome`]: first as if the entry held no open
    /// failure and no newer ask or dismissal (a new object, or one imported before: one write); a
    /// lost condition reads the entry and writes again on what it holds.
    pub(super) async fn write_outcome(
        &self,
        connection_id: &str,
        outcome: &FileOutcome,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = keys::ledger(connection_id, &outcome.key);
        let began = outcome.began();
        let mut before = Before::default();
        for attempt in 0.. {
            let written = before.applied_to(outcome);
            let item = outcome_item(connection_id, &written, expires_at)?;
            let state = if before.open_failure { "attribute_exists" } else { "attribute_not_exists" };
            let condition = format!(
                "(attribute_not_exists(asked_at) OR asked_at <= :asked) \
                 AND (attribute_not_exists({DISMISSED_MS}) OR {DISMISSED_MS} <= :dismissed) AND {state}({OPEN_FAILURE})"
            );
            let asked = n(millis(before.asked_at.unwrap_or(began)));
            let dismissed = n(millis(before.dismissed.as_ref().map_or(began, |(at, _)| *at)));
            let delta = i64::from(written.is_open_failure()) - i64::from(before.open_failure);
            let result = if delta == 0 {
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression(condition)
                    .expression_attribute_values(":asked", asked)
                    .expression_attribute_values(":dismissed", dismissed)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| store_error("recording an outcome", e))
            } else {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression(condition)
                    .expression_attribute_values(":asked", asked)
                    .expression_attribute_values(":dismissed", dismissed)
                    .build()
                    .map_err(build_error)?;
                let sent = self
                    .client
                    .transact_write_items()
                    .transact_items(TransactWriteItem::builder().put(put).build())
                    .transact_items(count_update(&self.table, connection_id, delta)?)
                    .send()
                    .await;
                match sent {
                    Err(e) if failed_on(&e, 1) => {
                        let error = store_error("recording an outcome: the connection was deleted", e);
                        return Err(error);
                    }
                    other => other.map(drop).map_err(|e| store_error("recording an outcome", e)),
                }
            };
            match result {
                Err(e) if attempt + 1 < ATTEMPTS && e.kind == StoreErrorKind::Transient => {
                    tokio::time::sleep(connector_core::retry::backoff(attempt)).await;
                }
                Err(e) if attempt + 1 < ATTEMPTS && e.kind == StoreErrorKind::Conflict => {}
                other => return other,
            }
            before = Before::of(self.get(key.clone(), "recording an outcome").await?.as_ref(), began);
        }
        unreachable!("the loop returns by its last attempt")
    }

    /// [`connector_core::manage::ports::ConnectionAdmin::dismiss`]: read, then one conditional
    /// write, again on a conflict with another transaction (a sync's count update).
    pub(super) async fn dismiss_failure(
        &self,
        connection_id: &str,
        object_key: &str,
        etag: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        for attempt in 0.. {
            match self.try_dismiss(connection_id, object_key, etag, now, expires_at).await {
                Err(e) if attempt + 1 < ATTEMPTS && e.kind == StoreErrorKind::Transient => {
                    tokio::time::sleep(connector_core::retry::backoff(attempt)).await;
                }
                other => return other,
            }
        }
        unreachable!("the loop returns by its last attempt")
    }

    async fn try_dismiss(
        &self,
        connection_id: &str,
        object_key: &str,
        etag: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let key = keys::ledger(connection_id, object_key);
        let Some(item) = self.get(key.clone(), "dismissing a failure").await? else { return Ok(false) };
        let outcome: FileOutcome = serde_dynamo::from_item(item.clone()).map_err(|e| corrupt_item("outcome", e))?;
        if outcome.etag != etag || !outcome.is_open_failure() {
            return Ok(false);
        }
        // An entry from before the count was kept is dismissed alike, without moving the count.
        let counted = item.contains_key(OPEN_FAILURE);
        let state = if counted {
            format!("attribute_exists({OPEN_FAILURE})")
        } else {
            format!("attribute_not_exists({OPEN_FAILURE}) AND #status = :failed AND attribute_not_exists(dismissed_at)")
        };
        let dismissed_at = serde_dynamo::to_attribute_value(now).map_err(|e| corrupt_item("dismissal", e))?;
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(format!(
                "SET dismissed_at = :now, {DISMISSED_MS} = :now_ms, expires_at = :expires \
                 REMOVE {OPEN_FAILURE}, #recheck, recheck_key, recheck_at, asked_at"
            ))
            .condition_expression(format!("etag = :etag AND {state}"))
            .expression_attribute_names("#recheck", "recheck")
            .expression_attribute_values(":now", dismissed_at)
            .expression_attribute_values(":now_ms", n(millis(now)))
            .expression_attribute_values(":expires", n(expires_at.timestamp()))
            .expression_attribute_values(":etag", s(etag));
        if !counted {
            update = update
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":failed", s(FileStatus::Failed.as_str()));
        }
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update.build().map_err(build_error)?).build());
        if counted {
            transaction = transaction.transact_items(count_update(&self.table, connection_id, -1)?);
        }
        super::item::applied(transaction.send().await.map_err(|e| store_error("dismissing a failure", e)))
    }

    /// [`connector_core::manage::ports::ConnectionAdmin::recount_failures`]: one consistent query
    /// of the ledger (its status and marks only), a conditional update of each failed, undismissed
    /// entry that has no mark, then the count, set only while `owner` holds the lease.
    pub(super) async fn recount(&self, connection_id: &str, owner: &str) -> Result<u64, StoreError> {
        let mut entries = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::connection_pk(connection_id)))
            .expression_attribute_values(":prefix", s(keys::LEDGER_PREFIX))
            .projection_expression(format!("pk, sk, #status, dismissed_at, {OPEN_FAILURE}"))
            .expression_attribute_names("#status", "status")
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let failed = s(FileStatus::Failed.as_str());
        let mut open = 0u64;
        while let Some(entry) = entries.next().await {
            let entry = entry.map_err(|e| store_error("reading the ledger", e))?;
            if entry.get("status") != Some(&failed) || entry.contains_key("dismissed_at") {
                continue;
            }
            if !entry.contains_key(OPEN_FAILURE) {
                let key = [("pk", &entry["pk"]), ("sk", &entry["sk"])].map(|(k, v)| (k.to_owned(), v.clone()));
                let adopted = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key.into_iter().collect()))
                    .update_expression(format!("SET {OPEN_FAILURE} = :yes REMOVE expires_at"))
                    .condition_expression("#status = :failed AND attribute_not_exists(dismissed_at)")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":yes", AttributeValue::Bool(true))
                    .expression_attribute_values(":failed", failed.clone())
                    .send()
                    .await;
                // Changed meanwhile (dismissed by an operator): not counted.
                if !super::item::applied(adopted.map_err(|e| store_error("marking an open failure", e)))? {
                    continue;
                }
            }
            open += 1;
        }
        let set = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::connection(connection_id)))
            .update_expression("SET failed_files = :open")
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":open", n(open as i64))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        set.map_err(|e| store_error("setting the count of failed files", e))?;
        Ok(open)
    }
}
