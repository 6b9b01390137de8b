//! Connections as operators create and change them: the connection item with its name claimed
//! beside it (names are unique), status changes, edits, an object asked for again, and deletion.

use super::item::{applied, delete_keys, millis, n, partition_keys, s, Item};
use super::{keys, StateTable, STATUS_INDEX, TENANT_INDEX};
use crate::errors::{corrupt_item, store_error};
use async_trait::async_trait;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use connector_core::connections::Location;
use connector_core::manage::ports::{ConnectionAdmin, ConnectionEdit};
use connector_core::model::{Connection, ConnectionStatus, Recheck};
use connector_core::ports::{StoreError, StoreErrorKind};
use tracing::instrument;

/// How long a ledger entry asked for again lives at least: long enough for the next syncs to act.
const ASKED_ENTRY_DAYS: i64 = 31;

/// `error`, with `message` in place of its own when it is a lost condition (its source kept).
pub(super) fn conflict_says(error: StoreError, message: impl FnOnce() -> String) -> StoreError {
    match error.kind {
        StoreErrorKind::Conflict => StoreError { message: message(), ..error },
        _ => error,
    }
}

impl StateTable {
    /// A connection, read consistently: what both [`ConnectionAdmin::connection`] and the engine's
    /// [`connector_core::ports::SyncStore::connection`] answer.
    pub(super) async fn read_connection(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        self.get(keys::connection(id), "reading connection")
            .await?
            .map(|item| serde_dynamo::from_item(item).map_err(|e| corrupt_item("connection", e)))
            .transpose()
    }

    /// A query of the by-status index for one status.
    pub(super) fn status_query(&self, status: ConnectionStatus) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(STATUS_INDEX)
            .key_condition_expression("status_key = :status")
            .expression_attribute_values(":status", s(keys::status(status)))
    }

    /// Moves a connection to `to` (and its place in the by-status index); with `from`, only if it
    /// still has that status, else only if it exists (`Conflict` otherwise: no lost update).
    pub(super) async fn set_status(
        &self,
        connection_id: &str,
        from: Option<ConnectionStatus>,
        to: ConnectionStatus,
    ) -> Result<(), StoreError> {
        self.set_status_where(connection_id, from, to, None).await
    }

    /// [`Self::set_status`], also only if the connection still reads `location`.
    async fn set_status_where(
        &self,
        connection_id: &str,
        from: Option<ConnectionStatus>,
        to: ConnectionStatus,
        location: Option<&Location>,
    ) -> Result<(), StoreError> {
        // An operator's change: a pause is theirs; a resume starts the count of failures again.
        let update = match to {
            ConnectionStatus::Paused => "SET #status = :status, status_key = :status_key, pause_reason = :operator",
            ConnectionStatus::Active => {
                "SET #status = :status, status_key = :status_key, #sync.consecutive_failures = :zero \
                 REMOVE pause_reason, #sync.last_failure_key"
            }
            _ => "SET #status = :status, status_key = :status_key REMOVE pause_reason",
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::connection(connection_id)))
            .update_expression(update)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(to.as_str()))
            .expression_attribute_values(":status_key", s(keys::status(to)));
        request = match to {
            ConnectionStatus::Paused => request
                .expression_attribute_values(":operator", s(connector_core::model::PauseReason::Operator.as_str())),
            ConnectionStatus::Active => {
                request.expression_attribute_names("#sync", "sync").expression_attribute_values(":zero", n(0))
            }
            _ => request,
        };
        let (mut condition, mut request) = match from {
            None => ("attribute_exists(pk)".to_owned(), request),
            Some(from) => {
                ("#status = :from".to_owned(), request.expression_attribute_values(":from", s(from.as_str())))
            }
        };
        if let Some(location) = location {
            // Names, not the words: `bucket` and `region` are DynamoDB reserved words.
            condition.push_str(" AND #bucket = :bucket AND #region = :region AND ");
            condition.push_str(if location.folder.is_some() {
                "#folder = :folder"
            } else {
                "attribute_not_exists(#folder)"
            });
            request = request
                .expression_attribute_names("#bucket", "bucket")
                .expression_attribute_names("#region", "region")
                .expression_attribute_names("#folder", "folder")
                .expression_attribute_values(":bucket", s(&location.bucket))
                .expression_attribute_values(":region", s(&location.region));
            if let Some(folder) = &location.folder {
                request = request.expression_attribute_values(":folder", s(folder));
            }
        }
        request.condition_expression(condition).send().await.map_err(|e| store_error("changing the status", e))?;
        Ok(())
    }
}

#[async_trait]
impl ConnectionAdmin for StateTable {
    async fn connection(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        self.read_connection(id).await
    }

    #[instrument(skip(self))]
    async fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        let mut out = Vec::new();
        for status in [
            ConnectionStatus::Active,
            ConnectionStatus::NeedsReauth,
            ConnectionStatus::Pending,
            ConnectionStatus::Paused,
        ] {
            let mut items = self.status_query(status).into_paginator().items().send();
            while let Some(item) = items.next().await {
                let item = item.map_err(|e| store_error("listing connections", e))?;
                out.push(serde_dynamo::from_item(item).map_err(|e| corrupt_item("connection", e))?);
            }
        }
        Ok(out)
    }

    /// A query of the by-tenant index, page by page until `limit` (the index is sorted by name,
    /// so `after` is a key condition, not a filter).
    #[instrument(skip(self))]
    async fn tenant_connections(
        &self,
        tenant: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Vec<Connection>, StoreError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TENANT_INDEX)
            .expression_attribute_values(":tenant", s(keys::tenant(tenant)));
        query = match after {
            None => query.key_condition_expression("tenant_key = :tenant"),
            Some(after) => query
                .key_condition_expression("tenant_key = :tenant AND #name > :after")
                .expression_attribute_names("#name", "name")
                .expression_attribute_values(":after", s(after)),
        };
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = query
                .clone()
                .limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_error("listing the tenant's connections", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(serde_dynamo::from_item(item).map_err(|e| corrupt_item("connection", e))?);
            }
            start = page.last_evaluated_key;
            if start.is_none() || out.len() >= limit {
                out.truncate(limit);
                return Ok(out);
            }
        }
    }

    /// The name is claimed by a conditional write in the same transaction, so two creations with
    /// one name in one tenant cannot both succeed.
    #[instrument(skip_all, fields(connection_id = %connection.id))]
    async fn create_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut item: Item = serde_dynamo::to_item(connection).map_err(|e| corrupt_item("connection", e))?;
        item.extend(keys::connection(&connection.id));
        item.insert("status_key".into(), s(keys::status(connection.status)));
        if !connection.bucket.is_empty() {
            item.insert("bucket_key".into(), s(keys::bucket(&connection.bucket)));
        }
        if connection.lacks_tenant() {
            // As a connection stored before tenants: no tenant, in no tenant's list.
            item.remove("tenant");
        } else {
            item.insert("tenant_key".into(), s(keys::tenant(&connection.tenant)));
        }
        let mut name = keys::name(&connection.tenant, &connection.name);
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
        self.client
            .transact_write_items()
            .transact_items(put(name)?)
            .transact_items(put(item)?)
            .send()
            .await
            .map_err(|e| store_error("creating connection", e))
            .map_err(|e| conflict_says(e, || format!("a connection named '{}' already exists", connection.name)))?;
        Ok(())
    }

    /// One transaction: the connection item gets the tenant (only if it has none and still has the
    /// name read), the name is claimed in the tenant, and the claim without a tenant released.
    #[instrument(skip_all, fields(connection_id = %current.id, tenant))]
    async fn assign_tenant(&self, current: &Connection, tenant: &str) -> Result<(), StoreError> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| corrupt_item("tenant", e);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::connection(&current.id)))
            .update_expression("SET tenant = :tenant, tenant_key = :tenant_key")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(tenant_key) AND #name = :name")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":tenant", s(tenant))
            .expression_attribute_values(":tenant_key", s(keys::tenant(tenant)))
            .expression_attribute_values(":name", s(&current.name))
            .build()
            .map_err(build)?;
        let mut claimed = keys::name(tenant, &current.name);
        claimed.insert("connection_id".into(), s(&current.id));
        let claim = Put::builder()
            .table_name(&self.table)
            .set_item(Some(claimed))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build)?;
        let release = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::name("", &current.name)))
            .condition_expression("attribute_not_exists(pk) OR connection_id = :id")
            .expression_attribute_values(":id", s(&current.id))
            .build()
            .map_err(build)?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().put(claim).build())
            .transact_items(TransactWriteItem::builder().delete(release).build())
            .send()
            .await
            .map_err(|e| store_error("giving a connection its tenant", e))
            .map_err(|e| {
                conflict_says(e, || {
                    format!(
                        "tenant '{tenant}' has a connection named '{}', or the connection changed meanwhile",
                        current.name
                    )
                })
            })?;
        Ok(())
    }

    #[instrument(skip(self))]
    async fn change_status(&self, id: &str, from: ConnectionStatus, to: ConnectionStatus) -> Result<(), StoreError> {
        self.set_status(id, Some(from), to).await
    }

    #[instrument(skip(self, checked))]
    async fn activate_at(&self, id: &str, checked: &Location) -> Result<(), StoreError> {
        self.set_status_where(id, Some(ConnectionStatus::Pending), ConnectionStatus::Active, Some(checked)).await
    }

    /// One transaction: the connection item's update, guarded by the name read (a concurrent edit
    /// is a conflict), and, when the name changes, the new name's claim and the old one's release.
    #[instrument(skip_all, fields(connection_id = %current.id))]
    async fn edit_connection(&self, current: &Connection, edit: &ConnectionEdit) -> Result<(), StoreError> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| corrupt_item("edit", e);
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::connection(&current.id)))
            .condition_expression("#name = :old")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":old", s(&current.name));
        let (mut sets, mut removes) = (Vec::new(), Vec::new());
        let new_name = edit.name.as_deref().filter(|name| *name != current.name);
        if let Some(name) = new_name {
            sets.push("#name = :new");
            update = update.expression_attribute_values(":new", s(name));
        }
        if let Some(template_id) = &edit.template_id {
            sets.push("template_id = :template");
            update = update.expression_attribute_values(":template", s(template_id));
        }
        match edit.overlap_seconds {
            Some(Some(seconds)) => {
                sets.push("overlap_seconds = :overlap");
                update = update.expression_attribute_values(":overlap", AttributeValue::N(seconds.to_string()));
            }
            Some(None) => removes.push("overlap_seconds"),
            None => {}
        }
        if let Some(mode) = edit.mode {
            sets.push("#mode = :mode");
            update = update
                .expression_attribute_names("#mode", "mode")
                .expression_attribute_values(":mode", s(mode.as_str()));
            // A connection stored before the by-bucket index joins it when its mode is set.
            if !current.bucket.is_empty() {
                sets.push("bucket_key = :bucket_key");
                update = update.expression_attribute_values(":bucket_key", s(keys::bucket(&current.bucket)));
            }
        }
        match edit.scan_every_hours {
            Some(Some(hours)) => {
                sets.push("scan_every_hours = :every");
                update = update.expression_attribute_values(":every", AttributeValue::N(hours.to_string()));
            }
            Some(None) => removes.push("scan_every_hours"),
            None => {}
        }
        if let Some(since) = edit.backfill_since {
            let since = serde_dynamo::to_attribute_value(since).map_err(|e| corrupt_item("backfill", e))?;
            sets.push("backfill_since = :backfill");
            update = update.expression_attribute_values(":backfill", since);
        }
        if sets.is_empty() && removes.is_empty() {
            return Ok(());
        }
        let mut expression = Vec::new();
        if !sets.is_empty() {
            expression.push(format!("SET {}", sets.join(", ")));
        }
        if !removes.is_empty() {
            expression.push(format!("REMOVE {}", removes.join(", ")));
        }
        let update = update.update_expression(expression.join(" ")).build().map_err(build)?;
        let mut transaction =
            self.client.transact_write_items().transact_items(TransactWriteItem::builder().update(update).build());
        if let Some(name) = new_name {
            let mut claimed = keys::name(&current.tenant, name);
            claimed.insert("connection_id".into(), s(&current.id));
            let claim = Put::builder()
                .table_name(&self.table)
                .set_item(Some(claimed))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build)?;
            let release = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(keys::name(&current.tenant, &current.name)))
                .condition_expression("connection_id = :id")
                .expression_attribute_values(":id", s(&current.id))
                .build()
                .map_err(build)?;
            transaction = transaction
                .transact_items(TransactWriteItem::builder().put(claim).build())
                .transact_items(TransactWriteItem::builder().delete(release).build());
        }
        transaction.send().await.map_err(|e| store_error("editing connection", e)).map_err(|e| {
            conflict_says(e, || match new_name {
                Some(name) => {
                    format!("a connection named '{name}' already exists, or the connection changed meanwhile")
                }
                None => "the connection changed meanwhile; try again".to_owned(),
            })
        })?;
        Ok(())
    }

    async fn fill_location(&self, id: &str, location: &Location, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.save_filled_location(id, location, at).await
    }

    async fn withdraw_setup_links(&self, id: &str) -> Result<u64, StoreError> {
        self.next_link_generation(id).await
    }

    /// Marks the outcome with an operator's recheck, puts it in the index of objects to try again,
    /// and notes when it was asked (`asked_at`: a run that took the object up before keeps the ask).
    /// An entry that expires lives long enough for the next syncs to act; an open failure has no
    /// expiry and gets none.
    #[instrument(skip(self))]
    async fn ask_again(&self, connection_id: &str, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let recheck = Recheck::Operator { asked_at: now };
        let recheck: AttributeValue =
            serde_dynamo::to_attribute_value(recheck).map_err(|e| corrupt_item("recheck", e))?;
        let ask = |expiring: bool| {
            let request = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(keys::ledger(connection_id, key)))
                .expression_attribute_names("#recheck", "recheck")
                .expression_attribute_values(":recheck", recheck.clone())
                .expression_attribute_values(":connection", s(keys::connection_pk(connection_id)))
                .expression_attribute_values(":at", n(millis(now)));
            let set = "SET #recheck = :recheck, recheck_key = :connection, recheck_at = :at, asked_at = :at";
            if expiring {
                request
                    .update_expression(format!("{set}, expires_at = :expires"))
                    .condition_expression("attribute_exists(pk) AND attribute_exists(expires_at)")
                    .expression_attribute_values(
                        ":expires",
                        n((now + chrono::TimeDelta::days(ASKED_ENTRY_DAYS)).timestamp()),
                    )
            } else {
                request.update_expression(set).condition_expression("attribute_exists(pk)")
            }
        };
        let expiring = applied(ask(true).send().await.map_err(|e| store_error("asking for an object again", e)))?;
        if expiring {
            return Ok(true);
        }
        applied(ask(false).send().await.map_err(|e| store_error("asking for an object again", e)))
    }

    #[instrument(skip(self))]
    async fn dismiss(
        &self,
        connection_id: &str,
        key: &str,
        etag: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.dismiss_failure(connection_id, key, etag, now, expires_at).await
    }

    #[instrument(skip(self))]
    async fn recount_failures(&self, connection_id: &str, owner: &str) -> Result<u64, StoreError> {
        self.recount(connection_id, owner).await
    }

    #[instrument(skip_all, fields(connection_id = %connection.id))]
    async fn delete_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        // Its ledger, runs and checkpoints first, 25 a request; a failure half way leaves the
        // connection and its name in place, to delete again.
        let mut rest = partition_keys(&self.client, &self.table, keys::connection_pk(&connection.id), None).await?;
        rest.retain(|k| !matches!(k.get("sk"), Some(AttributeValue::S(sk)) if sk == keys::CONNECTION_SK));
        delete_keys(&self.client, &self.table, rest).await?;
        // Then the connection and its name in one transaction: the name is freed only with the
        // connection, and only if it is still this connection's.
        let build = |e: aws_sdk_dynamodb::error::BuildError| corrupt_item("delete", e);
        // Only with the tenant read: a tenant given meanwhile moved the name claim.
        let item = Delete::builder().table_name(&self.table).set_key(Some(keys::connection(&connection.id)));
        let item = match connection.lacks_tenant() {
            true => item.condition_expression("attribute_not_exists(tenant_key)"),
            false => item
                .condition_expression("attribute_not_exists(pk) OR tenant_key = :tenant")
                .expression_attribute_values(":tenant", s(keys::tenant(&connection.tenant))),
        };
        let item = item.build().map_err(build)?;
        let name = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::name(&connection.tenant, &connection.name)))
            .condition_expression("attribute_not_exists(pk) OR connection_id = :id")
            .expression_attribute_values(":id", s(&connection.id))
            .build()
            .map_err(build)?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(item).build())
            .transact_items(TransactWriteItem::builder().delete(name).build())
            .send()
            .await
            .map_err(|e| store_error("deleting connection", e))
            .map_err(|e| {
                conflict_says(e, || {
                    format!(
                        "the name '{}' belongs to another connection now, or the connection was given a tenant \
                         meanwhile; try again",
                        connection.name
                    )
                })
            })?;
        Ok(())
    }
}
