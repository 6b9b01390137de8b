//! Connection management, the one library behind the CLI and the HTTP API: list, preview, activate,
//! pause and resume, rename, change template, re-authenticate, delete; template versions.

use crate::errors::store_error;
use crate::state::{connection_key, delete_keys, key, partition_keys, s};
use crate::Deployment;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use connector_core::access::{self, AccessReport, SCAN_OBJECTS};
use connector_core::connections::{explain_access, normalise_name};
use connector_core::dispatch::{WorkerInvoker, WorkerRequest};
use connector_core::manage::ports::Templates;
use connector_core::model::{Connection, ConnectionStatus, ObjectMeta};
use connector_core::ports::{
    list_all, BucketAccess, Lease, ObjectSource, SourceError, StoreError, StoreErrorKind, SyncStore,
};
use connector_core::preview::{object_preview, sample, ObjectPreview, SamplePreview};
use futures::StreamExt;
use serde::Serialize;

/// Why a management call failed. Every variant but `Store` is the caller's to fix.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("no {what} '{id}'")]
    NotFound { what: &'static str, id: String },
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    /// The request does not fit the current state (resume an active connection, delete a template
    /// in use, a name taken).
    #[error("{0}")]
    Conflict(String),
    /// Our access to the customer's bucket does not work; the message says what to check.
    #[error("{0}")]
    Access(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a preview shows.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub connection_id: String,
    /// The first listed objects.
    pub objects: Vec<ObjectPreview>,
    /// Whether the listing went on past them.
    pub more: bool,
    pub sample: Option<SamplePreview>,
    /// The access check: the objects read, each with its result.
    pub access: AccessReport,
}

/// What activation and re-authentication return: the connection, and the access check that let it
/// become active, with each object it read (some may be unreadable: a sync fails those alone).
#[derive(Debug, Clone, Serialize)]
pub struct Activated {
    pub connection: Connection,
    pub access: AccessReport,
}

/// A source error of the access check: what to check when access as a whole is broken, else a
/// transient failure to try again.
fn check_failed(connection: &Connection, e: SourceError) -> ManageError {
    if e.kind.breaks_access() {
        ManageError::Access(explain_access(connection, &e))
    } else {
        ManageError::Store(StoreError::new(StoreErrorKind::Transient, e.message))
    }
}

/// Up to `max` objects of the connection's folder, in key order, and whether the listing went on.
async fn list_first(
    source: &dyn ObjectSource,
    connection: &Connection,
    max: usize,
) -> Result<(Vec<ObjectMeta>, bool), ManageError> {
    let mut listing = list_all(source, connection.folder.as_deref());
    let mut objects = Vec::new();
    while let Some(object) = listing.next().await {
        let object = object.map_err(|e| check_failed(connection, e))?;
        if objects.len() == max {
            return Ok((objects, true));
        }
        objects.push(object);
    }
    Ok((objects, false))
}

/// Reads a sample of `listed` ([`connector_core::access`]): the report, or `Access` when the role
/// reads none of the objects tried, naming each and why.
async fn read_access(
    source: &dyn ObjectSource,
    connection: &Connection,
    listed: &[ObjectMeta],
) -> Result<AccessReport, ManageError> {
    let report = access::check(source, listed).await.map_err(|e| check_failed(connection, e))?;
    match report.refusal(connection) {
        Some(message) => Err(ManageError::Access(message)),
        None => Ok(report),
    }
}

/// What `show` tells of a connection: the connection (its status and last sync), its most recent
/// runs, and the outcome of each object its last run finished, with their row errors.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionDetail {
    #[serde(flatten)]
    pub connection: Connection,
    pub recent_runs: Vec<connector_core::model::SyncRun>,
    pub last_run_files: Vec<connector_core::model::FileOutcome>,
}

impl Deployment {
    /// A connection with its recent runs and its last run's per-object outcomes.
    pub async fn show(&self, id: &str, runs: i32) -> Result<ConnectionDetail, ManageError> {
        let connection = self.connection(id).await?;
        let recent_runs = self.state.runs(id, runs).await?;
        let last_run_files = match &connection.sync.last_run_id {
            None => Vec::new(),
            Some(run) => self.state.outcomes(id).await?.into_iter().filter(|o| &o.run_id == run).collect(),
        };
        Ok(ConnectionDetail { connection, recent_runs, last_run_files })
    }

    /// A connection, or NotFound.
    pub async fn connection(&self, id: &str) -> Result<Connection, ManageError> {
        self.state.connection(id).await?.ok_or_else(|| ManageError::NotFound { what: "connection", id: id.to_owned() })
    }

    /// Every connection, by status then name.
    pub async fn connections(&self) -> Result<Vec<Connection>, ManageError> {
        let mut out = Vec::new();
        for status in [
            ConnectionStatus::Active,
            ConnectionStatus::NeedsReauth,
            ConnectionStatus::Pending,
            ConnectionStatus::Paused,
        ] {
            let mut items = self.state.status_query(status).into_paginator().items().send();
            while let Some(item) = items.next().await {
                let item = item.map_err(|e| store_error("listing connections", e))?;
                out.push(serde_dynamo::from_item(item).map_err(|e| crate::errors::corrupt_item("connection", e))?);
            }
        }
        Ok(out)
    }

    /// The access check of preview, activation and re-authentication: assumes the role, lists the
    /// first objects (up to [`SCAN_OBJECTS`]) and reads the last byte of a sample of them
    /// ([`connector_core::access`]). Ok with each object's result when the role can do what a sync
    /// does (some objects may still be unreadable: the report shows them); `Access` saying what to
    /// check when it cannot assume the role, list, reach the bucket, or read any object tried.
    pub async fn check_access(&self, connection: &Connection) -> Result<AccessReport, ManageError> {
        let source = self.sources.connect(connection).await.map_err(|e| check_failed(connection, e))?;
        let (listed, _) = list_first(source.as_ref(), connection, SCAN_OBJECTS).await?;
        read_access(source.as_ref(), connection, &listed).await
    }

    /// Checks access as [`Deployment::check_access`] does (failing as it fails), lists what the
    /// connection can see (the first `limit` objects, with what the next sync would do with each)
    /// and, if `sample_key` is given, parses its first `sample_rows` rows. One listing serves both.
    pub async fn preview(
        &self,
        id: &str,
        limit: usize,
        sample_key: Option<&str>,
        sample_rows: usize,
    ) -> Result<Preview, ManageError> {
        let connection = self.connection(id).await?;
        let template = self.template_of(&connection).await?;
        let source = self.sources.connect(&connection).await.map_err(|e| check_failed(&connection, e))?;
        // One listing for both: the objects shown, and those the access check chooses from.
        let (listed, listed_more) = list_first(source.as_ref(), &connection, SCAN_OBJECTS.max(limit)).await?;
        let access = read_access(source.as_ref(), &connection, &listed).await?;
        let more = listed_more || listed.len() > limit;
        let objects = &listed[..listed.len().min(limit)];
        let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
        let imported = self.state.ledger(&connection.id, &keys).await?;
        let cutoff = connector_core::selection::cutoff(
            connection.sync.watermark,
            chrono::Utc::now(),
            &self.settings.sync.selection,
        );
        let previews = objects
            .iter()
            .map(|o| object_preview(o, cutoff, &imported, &template, &self.settings.sync.selection, chrono::Utc::now()))
            .collect();
        let sample = match sample_key {
            None => None,
            Some(key) => {
                let object = match objects.iter().find(|o| o.key == key) {
                    Some(o) => o.clone(),
                    None => connector_core::model::ObjectMeta {
                        key: key.to_owned(),
                        etag: "*".to_owned(),
                        size: 0,
                        last_modified: chrono::Utc::now(),
                        storage_class: None,
                        attempts: 0,
                        replaces: None,
                    },
                };
                let body = source.open(&object, 0).await.map_err(|e| match e.kind {
                    connector_core::ports::SourceErrorKind::ObjectGone => ManageError::Invalid {
                        field: "sample",
                        message: format!("no object '{key}' in the connection's bucket"),
                    },
                    _ if e.kind.breaks_access() => ManageError::Access(explain_access(&connection, &e)),
                    _ => ManageError::Store(StoreError::new(StoreErrorKind::Transient, e.message)),
                })?;
                Some(sample(body, key, &template, sample_rows, self.settings.sync.read_limits()).await)
            }
        };
        Ok(Preview { connection_id: connection.id, objects: previews, more, sample, access })
    }

    async fn template_of(&self, connection: &Connection) -> Result<connector_core::template::Template, ManageError> {
        self.state
            .template(&connection.template_id, None)
            .await?
            .map(|(template, _)| template)
            .ok_or_else(|| ManageError::NotFound { what: "template", id: connection.template_id.clone() })
    }

    /// The dashboard's Done: checks access, sets the connection active, and starts its first import
    /// through `workers` (asynchronous in Lambda, in-process in the CLI).
    pub async fn activate(&self, id: &str, workers: &dyn WorkerInvoker) -> Result<Activated, ManageError> {
        let connection = self.connection(id).await?;
        if connection.status != ConnectionStatus::Pending {
            return Err(ManageError::Conflict(format!("connection is {}, not pending", connection.status.as_str())));
        }
        let access = self.check_access(&connection).await?;
        self.transition(&connection, &[ConnectionStatus::Pending], ConnectionStatus::Active).await?;
        workers.invoke(&WorkerRequest { connection_id: id.to_owned(), schedule_run: None }).await.map_err(|e| {
            ManageError::Store(StoreError::new(StoreErrorKind::Transient, format!("starting the first import: {e}")))
        })?;
        Ok(Activated { connection: self.connection(id).await?, access })
    }

    /// Checks access of a needs_reauth connection again and sets it active; its next sync resumes
    /// from its watermark.
    pub async fn reauthenticate(&self, id: &str) -> Result<Activated, ManageError> {
        let connection = self.connection(id).await?;
        if connection.status != ConnectionStatus::NeedsReauth {
            return Err(ManageError::Conflict(format!(
                "connection is {}, not needs_reauth",
                connection.status.as_str()
            )));
        }
        let access = self.check_access(&connection).await?;
        self.transition(&connection, &[ConnectionStatus::NeedsReauth], ConnectionStatus::Active).await?;
        Ok(Activated { connection: self.connection(id).await?, access })
    }

    pub async fn pause(&self, id: &str) -> Result<Connection, ManageError> {
        let connection = self.connection(id).await?;
        self.transition(
            &connection,
            &[ConnectionStatus::Active, ConnectionStatus::Pending, ConnectionStatus::NeedsReauth],
            ConnectionStatus::Paused,
        )
        .await?;
        self.connection(id).await
    }

    pub async fn resume(&self, id: &str) -> Result<Connection, ManageError> {
        let connection = self.connection(id).await?;
        self.transition(&connection, &[ConnectionStatus::Paused], ConnectionStatus::Active).await?;
        self.connection(id).await
    }

    /// Moves a connection to `to` only from one of `from` (a conditional write: no lost update).
    async fn transition(
        &self,
        current: &Connection,
        from: &[ConnectionStatus],
        to: ConnectionStatus,
    ) -> Result<(), ManageError> {
        if !from.contains(&current.status) {
            return Err(ManageError::Conflict(format!(
                "connection is {}; cannot become {}",
                current.status.as_str(),
                to.as_str()
            )));
        }
        match self.state.change_status(&current.id, Some(current.status), to).await {
            Err(e) if e.kind == StoreErrorKind::Conflict => {
                Err(ManageError::Conflict("the connection changed meanwhile; try again".into()))
            }
            other => other.map_err(ManageError::Store),
        }
    }

    /// Renames a connection; see [`Deployment::edit`].
    pub async fn rename(&self, id: &str, name: &str) -> Result<Connection, ManageError> {
        self.edit(id, Some(name), None).await
    }

    /// Points a connection at another template (which must exist); see [`Deployment::edit`].
    pub async fn change_template(&self, id: &str, template_id: &str) -> Result<Connection, ManageError> {
        self.edit(id, None, Some(template_id)).await
    }

    /// Changes a connection's name, template, or both, all or nothing: everything is checked first,
    /// then one write (a transaction when the name changes: the new name is claimed by a conditional
    /// write and the old one released).
    pub async fn edit(
        &self,
        id: &str,
        name: Option<&str>,
        template_id: Option<&str>,
    ) -> Result<Connection, ManageError> {
        let name = name
            .map(normalise_name)
            .transpose()
            .map_err(|message| ManageError::Invalid { field: "name", message: message.to_owned() })?;
        if let Some(template_id) = template_id {
            if self.state.template(template_id, None).await?.is_none() {
                let message = format!("no template '{template_id}'");
                return Err(ManageError::Invalid { field: "template", message });
            }
        }
        let connection = self.connection(id).await?;
        let table = &self.state.table;
        let build = |e: aws_sdk_dynamodb::error::BuildError| ManageError::Store(crate::errors::corrupt_item("edit", e));
        // The connection item's update, guarded by what was read: a concurrent edit is a conflict.
        let mut update = Update::builder()
            .table_name(table)
            .set_key(Some(connection_key(id)))
            .condition_expression("#name = :old")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":old", s(&connection.name));
        let mut sets = Vec::new();
        let new_name = name.filter(|n| *n != connection.name);
        if let Some(name) = &new_name {
            sets.push("#name = :new");
            update = update.expression_attribute_values(":new", s(name));
        }
        if let Some(template_id) = template_id {
            sets.push("template_id = :template");
            update = update.expression_attribute_values(":template", s(template_id));
        }
        if sets.is_empty() {
            return Ok(connection);
        }
        let update = update.update_expression(format!("SET {}", sets.join(", "))).build().map_err(build)?;
        let mut transaction = self
            .state
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build());
        if let Some(name) = &new_name {
            let mut claimed = key(format!("NAME#{name}"), "NAME");
            claimed.insert("connection_id".into(), s(id));
            let claim = Put::builder()
                .table_name(table)
                .set_item(Some(claimed))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(build)?;
            let release = Delete::builder()
                .table_name(table)
                .set_key(Some(key(format!("NAME#{}", connection.name), "NAME")))
                .condition_expression("connection_id = :id")
                .expression_attribute_values(":id", s(id))
                .build()
                .map_err(build)?;
            transaction = transaction
                .transact_items(TransactWriteItem::builder().put(claim).build())
                .transact_items(TransactWriteItem::builder().delete(release).build());
        }
        match transaction.send().await.map_err(|e| store_error("editing connection", e)) {
            Ok(_) => {}
            Err(e) if e.kind == StoreErrorKind::Conflict => {
                return Err(match &new_name {
                    Some(name) => ManageError::Conflict(format!(
                        "a connection named '{name}' already exists, or the connection changed meanwhile"
                    )),
                    None => ManageError::Conflict("the connection changed meanwhile; try again".into()),
                })
            }
            Err(e) => return Err(e.into()),
        }
        self.connection(id).await
    }

    /// Deletes a connection, its name, sync state, runs and import ledger; its imported records too
    /// when `purge_records` is set. Returns how many records were deleted.
    ///
    /// It takes the connection's lease first, so it is refused while a sync runs and no sync starts
    /// while it deletes; records are purged before the connection goes, so a purge that fails half
    /// way can be asked for again.
    pub async fn delete_connection(&self, id: &str, purge_records: bool) -> Result<u64, ManageError> {
        let connection = self.connection(id).await?;
        let now = chrono::Utc::now();
        // One owner for every delete: a delete that failed half way holds the lease, and is retried.
        match self.state.acquire_lease(id, "delete", now, now + self.settings.sync.lease_duration, None).await? {
            Lease::Acquired => {}
            Lease::Held { owner, until, .. } => {
                return Err(ManageError::Conflict(format!(
                    "a sync ({owner}) is running until {until} at the latest; delete the connection after it ends"
                )))
            }
            Lease::AlreadyRan { .. } => unreachable!("no schedule run is given"),
        }
        // A purge of a large connection outlasts a lease term: renew it as a run would, so that no
        // sync takes the connection over half way (it would write into what is being deleted).
        let term = self.settings.sync.lease_duration;
        let keep = async {
            loop {
                tokio::time::sleep((term / 2).to_std().unwrap_or_default()).await;
                let now = chrono::Utc::now();
                if !matches!(self.state.renew_lease(id, "delete", now, now + term).await, Ok(true)) {
                    // The connection item is gone (the delete's last step) or a renewal failed: the
                    // delete goes on; a failed delete is retried by the operator.
                    return std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            deleted = self.delete_leased(id, &connection.name, purge_records) => deleted,
            () = keep => unreachable!("renewing never ends by itself"),
        }
    }

    async fn delete_leased(&self, id: &str, name: &str, purge_records: bool) -> Result<u64, ManageError> {
        let mut purged = 0;
        if purge_records {
            // The records' 64 partitions, eight at a time.
            let (client, table) = (&self.records.client, &self.records.table);
            let mut shards = futures::stream::iter(0..crate::records::SHARDS)
                .map(|shard| async move {
                    let keys = partition_keys(client, table, format!("{id}#{shard:02x}"), None).await?;
                    let n = keys.len() as u64;
                    delete_keys(client, table, keys).await.map(|()| n)
                })
                .buffer_unordered(8);
            while let Some(deleted) = shards.next().await {
                purged += deleted?;
            }
        }
        let mut keys = vec![key(format!("NAME#{name}"), "NAME")];
        keys.extend(partition_keys(&self.state.client, &self.state.table, format!("CONN#{id}"), None).await?);
        // The connection item last: a failure half-way leaves it there to delete again.
        keys.sort_by_key(|k| matches!(k.get("sk"), Some(AttributeValue::S(sk)) if sk == "CONN"));
        delete_keys(&self.state.client, &self.state.table, keys).await?;
        Ok(purged)
    }

    /// Saves a validated template as its next version.
    pub async fn put_template(&self, template: &connector_core::template::Template) -> Result<u32, ManageError> {
        match self.state.put_template(template).await {
            Err(e) if e.kind == StoreErrorKind::Conflict => {
                Err(ManageError::Conflict(format!("template '{}' was saved meanwhile; try again", template.id)))
            }
            other => Ok(other?),
        }
    }

    /// Deletes a template, refused while a connection uses it.
    pub async fn delete_template(&self, id: &str) -> Result<(), ManageError> {
        if self.state.template_version(id).await?.is_none() {
            return Err(ManageError::NotFound { what: "template", id: id.to_owned() });
        }
        let users: Vec<String> =
            self.connections().await?.into_iter().filter(|c| c.template_id == id).map(|c| c.name).collect();
        if !users.is_empty() {
            return Err(ManageError::Conflict(format!("template '{id}' is used by: {}", users.join(", "))));
        }
        Ok(self.state.delete_template(id).await?)
    }
}
