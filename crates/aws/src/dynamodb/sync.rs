//! The state table as the engine's store: leases, the import ledger and its rechecks, a run's end.
//! A handed-over run's checkpoint is in `checkpoints`; reading templates, in `templates`.

use super::item::{applied, millis, n, s, Item};
use super::{keys, StateTable, RECHECK_INDEX};
use crate::errors::{corrupt_item, store_error};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use chrono::{DateTime, Utc};
use connector_core::model::{Checkpoint, Connection, FileOutcome, NamedKey, RunPath, SyncResult};
use connector_core::ports::{Lease, LedgerEntry, RunEnd, StoreError, StoreErrorKind, SyncStore};
use std::collections::HashMap;
use tracing::instrument;

/// The lease and dispatch fields of a connection item.
#[derive(serde::Deserialize)]
struct LeaseFields {
    id: String,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    lease_renewed: Option<i64>,
    scan_every_hours: Option<u32>,
    #[serde(default)]
    sync: LeaseSync,
}

#[derive(serde::Deserialize, Default)]
struct LeaseSync {
    last_schedule_run: Option<String>,
    last_scan_started: Option<DateTime<Utc>>,
    last_sync_started: Option<DateTime<Utc>>,
    last_result: Option<SyncResult>,
}

/// Who holds a connection's lease, the scheduled event it last finished, and when its next scan is
/// due.
pub(super) struct Candidate {
    pub id: String,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub lease_renewed: Option<DateTime<Utc>>,
    pub last_schedule_run: Option<String>,
    pub scan_every_hours: Option<u32>,
    pub last_scan_started: Option<DateTime<Utc>>,
    pub last_sync_started: Option<DateTime<Utc>>,
    pub last_result: Option<SyncResult>,
}

pub(super) fn dispatch_candidate(item: Item) -> Result<Candidate, StoreError> {
    let fields: LeaseFields = serde_dynamo::from_item(item).map_err(|e| corrupt_item("connection", e))?;
    Ok(Candidate {
        id: fields.id,
        lease_owner: fields.lease_owner,
        lease_until: fields.lease_until.and_then(DateTime::from_timestamp_millis),
        lease_renewed: fields.lease_renewed.and_then(DateTime::from_timestamp_millis),
        last_schedule_run: fields.sync.last_schedule_run,
        scan_every_hours: fields.scan_every_hours,
        last_scan_started: fields.sync.last_scan_started,
        last_sync_started: fields.sync.last_sync_started,
        last_result: fields.sync.last_result,
    })
}

#[async_trait]
impl SyncStore for StateTable {
    #[instrument(skip(self))]
    async fn connection(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        self.read_connection(id).await
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
            .set_key(Some(keys::connection(id)))
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
        let item = self.get(keys::connection(id), "reading the lease").await?.ok_or(error)?;
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
            .set_key(Some(keys::connection(id)))
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
            .set_key(Some(keys::connection(id)))
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
                .set_keys(Some(chunk.iter().map(|k| keys::ledger(connection_id, k)).collect()))
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
            .expression_attribute_values(":connection", s(keys::connection_pk(connection_id)))
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
        self.write_outcome(connection_id, outcome, expires_at).await
    }

    #[instrument(skip_all, fields(connection_id = %end.connection.id, run_id = %end.run.run_id))]
    async fn finish_run(&self, end: RunEnd<'_>, owner: &str) -> Result<bool, StoreError> {
        let mut run: Item = serde_dynamo::to_item(end.run).map_err(|e| corrupt_item("run", e))?;
        run.extend(keys::run(&end.connection.id, end.run.started_at, &end.run.run_id));
        self.put(run, "recording the run").await?;

        let sync: AttributeValue =
            serde_dynamo::to_attribute_value(&end.connection.sync).map_err(|e| corrupt_item("sync state", e))?;
        let change_status = end.connection.status != end.status_before;
        // A scan's end pays any scan owed; a run of object events' keys leaves it owed.
        let owed = if end.run.path == RunPath::Scan { ", scan_owed" } else { "" };
        let update = |with_status: bool| {
            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(keys::connection(&end.connection.id)))
                .expression_attribute_values(":owner", s(owner))
                .expression_attribute_values(":sync", sync.clone());
            if with_status {
                // The run's own change of status (needs_reauth, active, paused for failing) comes
                // with its reason, or clears the one an operator's pause left.
                let reason = match end.connection.pause_reason {
                    Some(reason) => {
                        request = request.expression_attribute_values(":reason", s(reason.as_str()));
                        ", pause_reason = :reason REMOVE"
                    }
                    None => " REMOVE pause_reason,",
                };
                request = request
                    .update_expression(format!("SET #sync = :sync, #status = :status, status_key = :status_key{reason} lease_owner, lease_until, lease_renewed, checkpoint_generation, checkpoint_pieces{owed}"))
                    .condition_expression("lease_owner = :owner AND #status = :before")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(end.connection.status.as_str()))
                    .expression_attribute_values(":status_key", s(keys::status(end.connection.status)))
                    .expression_attribute_values(":before", s(end.status_before.as_str()));
            } else {
                request = request
                    .update_expression(format!(
                        "SET #sync = :sync REMOVE lease_owner, lease_until, lease_renewed, checkpoint_generation, checkpoint_pieces{owed}"
                    ))
                    .condition_expression("lease_owner = :owner");
            }
            request.expression_attribute_names("#sync", "sync").send()
        };
        let status_written = match update(change_status).await.map_err(|e| store_error("finishing the run", e)) {
            // An operator changed the status during the run (paused it): keep theirs, save ours.
            Err(e) if change_status && e.kind == StoreErrorKind::Conflict => {
                update(false).await.map_err(|e| store_error("finishing the run", e))?;
                false
            }
            other => other.map(|_| change_status)?,
        };
        // The run is recorded and the lease let go: what follows only tidies up, and a failure of
        // it is logged rather than failing a run that is over (a backfill not cleared is carried
        // out again; checkpoint pieces no longer named by the connection are only left over).
        if let Err(e) = self.tidy_after_run(&end).await {
            tracing::warn!(error = %e, "tidying up after the run; it is recorded all the same");
        }
        Ok(status_written)
    }

    #[instrument(skip(self))]
    async fn checkpoint(&self, connection_id: &str) -> Result<Option<Checkpoint>, StoreError> {
        self.read_checkpoint(connection_id).await
    }

    #[instrument(skip(self, checkpoint), fields(run_id = %checkpoint.run_id))]
    async fn hand_over(&self, connection_id: &str, owner: &str, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        self.save_checkpoint_and_release(connection_id, owner, checkpoint).await
    }

    #[instrument(skip(self, keys), fields(keys = keys.len()))]
    async fn keep_named(
        &self,
        connection_id: &str,
        keys: &[NamedKey],
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.keep_named_keys(connection_id, keys, expires_at).await
    }

    #[instrument(skip(self))]
    async fn kept_named(&self, connection_id: &str, limit: usize) -> Result<Vec<NamedKey>, StoreError> {
        self.kept_named_keys(connection_id, limit).await
    }

    #[instrument(skip(self, keys), fields(keys = keys.len()))]
    async fn forget_named(&self, connection_id: &str, keys: &[NamedKey]) -> Result<(), StoreError> {
        self.forget_named_keys(connection_id, keys).await
    }
}

impl StateTable {
    /// After a run's end is written: its backfill cleared, its checkpoints deleted.
    async fn tidy_after_run(&self, end: &RunEnd<'_>) -> Result<(), StoreError> {
        // A backfill carried out is cleared, unless an operator asked for another meanwhile.
        if let Some(since) = end.run.backfill_since.filter(|_| end.run.backfill_done()) {
            let since = serde_dynamo::to_attribute_value(since).map_err(|e| corrupt_item("backfill", e))?;
            let cleared = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(keys::connection(&end.connection.id)))
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
}
