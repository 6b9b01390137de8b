//! What reads the customer's bucket before it changes anything: the preview, activation (the set-up
//! wizard's Done) and re-authentication. Each assumes the role, lists the first objects and reads a
//! sample of them ([`crate::access`]), and says what to check when that fails. Also a template
//! drafted from an object of the bucket ([`crate::draft`]), read as the preview reads its sample.

use super::{ManageError, Management};
use crate::access::{self, AccessReport, SCAN_OBJECTS};
use crate::connections::{explain_access, Location};
use crate::dispatch::WorkerRequest;
use crate::draft::{self, Draft, DraftError, DraftOptions, SampleHead};
use crate::model::{Connection, ConnectionStatus, ObjectMeta};
use crate::ports::{list_all, ObjectBody, ObjectSource, SourceError, SourceErrorKind, StoreError, StoreErrorKind};
use crate::preview::{object_preview, sample, ObjectPreview, SampleInput, SamplePreview};
use crate::template::{FormatKind, Template};
use futures::StreamExt;
use serde::Serialize;

/// What a preview shows.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub connection_id: String,
    /// The first listed objects, with what the next sync would do with each.
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

/// The largest Parquet row group a preview's sample reads (see `sample`).
const PREVIEW_ROW_GROUP_BYTES: u64 = 64 << 20;

/// No object `key` to sample: `Invalid` naming `field` and the whole key.
fn no_sample(connection: &Connection, key: &str, field: &str) -> ManageError {
    ManageError::invalid(
        field,
        format!(
            "no object '{key}' in the connection's bucket; a sample is named by its whole key, folder included{}",
            connection.folder.as_deref().map(|f| format!(" (e.g. '{f}{key}')")).unwrap_or_default()
        ),
    )
}

/// A sample's object that could not be opened: gone is no such object, else the access check's.
fn unopened(connection: &Connection, key: &str, field: &str, e: SourceError) -> ManageError {
    match e.kind {
        SourceErrorKind::ObjectGone => no_sample(connection, key, field),
        _ => check_failed(connection, e),
    }
}

/// A source error of the access check: what to check when access as a whole is broken, else a
/// transient failure to try again (its source kept).
fn check_failed(connection: &Connection, e: SourceError) -> ManageError {
    if e.kind.breaks_access() {
        ManageError::Access(explain_access(connection, &e))
    } else {
        let message = format!("reading the bucket: {e}");
        ManageError::Store(StoreError { kind: StoreErrorKind::Transient, message, source: Some(Box::new(e)) })
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

/// Reads a sample of `listed`: the report, or `Access` when the role reads none of the objects
/// tried, naming each and why.
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

impl Management<'_> {
    /// The access check of preview, activation and re-authentication: assumes the role, lists the
    /// first objects (up to [`SCAN_OBJECTS`]) and reads the last byte of a sample of them. Ok with
    /// each object's result when the role can do what a sync does (some objects may still be
    /// unreadable: the report shows them); `Access` saying what to check when it cannot assume the
    /// role, list, reach the bucket, or read any object tried.
    pub async fn check_access(&self, connection: &Connection) -> Result<AccessReport, ManageError> {
        super::customer::require_location(connection)?;
        let source = self.buckets.connect(connection).await.map_err(|e| check_failed(connection, e))?;
        let (listed, _) = list_first(source.as_ref(), connection, SCAN_OBJECTS).await?;
        read_access(source.as_ref(), connection, &listed).await
    }

    /// Checks access as [`Management::check_access`] does (failing as it fails), lists what the
    /// connection can see (the first `limit` objects, with what the next sync would do with each)
    /// and, if `sample_key` is given, parses its first `sample_rows` rows with the limits a sync
    /// applies. One listing serves both.
    pub async fn preview(
        &self,
        id: &str,
        limit: usize,
        sample_key: Option<&str>,
        sample_rows: usize,
    ) -> Result<Preview, ManageError> {
        let connection = self.connection(id).await?;
        super::customer::require_location(&connection)?;
        let template = self.current_template(&connection).await?;
        let source = self.buckets.connect(&connection).await.map_err(|e| check_failed(&connection, e))?;
        let (listed, listed_more) = list_first(source.as_ref(), &connection, SCAN_OBJECTS.max(limit)).await?;
        let access = read_access(source.as_ref(), &connection, &listed).await?;
        let more = listed_more || listed.len() > limit;
        let objects = &listed[..listed.len().min(limit)];
        let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
        let imported = self.store.ledger(&connection.id, &keys).await?;
        let now = self.clock.now();
        let selection = &self.config.sync.selection;
        let cutoff = crate::selection::cutoff(connection.sync.watermark, now, selection);
        let previews =
            objects.iter().map(|o| object_preview(o, cutoff, &imported, &template, selection, now)).collect();
        let sample = match sample_key {
            None => None,
            Some(key) => Some(self.sample(source.as_ref(), &connection, objects, key, &template, sample_rows).await?),
        };
        Ok(Preview { connection_id: connection.id, objects: previews, more, sample, access })
    }

    async fn sample(
        &self,
        source: &dyn ObjectSource,
        connection: &Connection,
        listed: &[ObjectMeta],
        key: &str,
        template: &Template,
        rows: usize,
    ) -> Result<SamplePreview, ManageError> {
        let object = self.sample_object(source, connection, listed, key, "sample").await?;
        let mut limits = self.config.sync.read_limits();
        if template.format.kind == FormatKind::Parquet {
            // The API's function has 256 MB: a sample reads a row group of up to 64 MiB, whatever
            // a sync is allowed (S3C_MAX_PARQUET_ROW_GROUP_BYTES may be raised with the worker's memory).
            let budget = &mut limits.parquet.max_row_group_bytes;
            *budget = (*budget).min(PREVIEW_ROW_GROUP_BYTES);
            let sampled = sample(SampleInput::Ranges(source, &object), key, template, rows, limits).await;
            return sampled.map_err(|e| unopened(connection, key, "sample", e));
        }
        let body = self.open_sample(source, connection, object, key, "sample").await?;
        let sampled = sample(SampleInput::Body(body), key, template, rows, limits).await;
        sampled.map_err(|e| unopened(connection, key, "sample", e))
    }

    /// The object `key` to read a sample of: the listed version when it is among `listed`, else
    /// the one there now (HEAD). No such object is `Invalid` naming `field` and the whole key;
    /// other failures are the access check's.
    async fn sample_object(
        &self,
        source: &dyn ObjectSource,
        connection: &Connection,
        listed: &[ObjectMeta],
        key: &str,
        field: &str,
    ) -> Result<ObjectMeta, ManageError> {
        match listed.iter().find(|o| o.key == key) {
            Some(object) => Ok(object.clone()),
            None => source
                .head(key)
                .await
                .map_err(|e| check_failed(connection, e))?
                .ok_or_else(|| no_sample(connection, key, field)),
        }
    }

    /// Opens `object` (see [`Self::sample_object`]) to read a sample of it from its start.
    async fn open_sample(
        &self,
        source: &dyn ObjectSource,
        connection: &Connection,
        object: ObjectMeta,
        key: &str,
        field: &str,
    ) -> Result<ObjectBody, ManageError> {
        // Size 0: one GET from the start, not the sync's ranged read-ahead, which would fetch
        // chunks ahead of a read that stops after its first rows.
        let object = ObjectMeta { size: 0, ..object };
        source.open(&object, 0).await.map_err(|e| unopened(connection, key, field, e))
    }

    /// Drafts a template from the first `rows` rows of the object `key` of the connection's bucket
    /// ([`crate::draft`]): opened through the connection's role as a preview's sample is, failing
    /// as it fails, and decoded with the sync's limits. Reads the object's head only
    /// ([`draft::MAX_SAMPLE_BYTES`]). `id` names the template (and its record type); without it,
    /// the key's file name does. A sample no template can be drafted from is `Invalid` naming
    /// `key` and saying why.
    pub async fn draft_template(
        &self,
        connection_id: &str,
        key: &str,
        rows: usize,
        id: Option<&str>,
    ) -> Result<Draft, ManageError> {
        if !(1..=draft::MAX_ROWS).contains(&rows) {
            return Err(ManageError::invalid("rows", format!("must be 1 to {}", draft::MAX_ROWS)));
        }
        let connection = self.connection(connection_id).await?;
        super::customer::require_location(&connection)?;
        let source = self.buckets.connect(&connection).await.map_err(|e| check_failed(&connection, e))?;
        let object = self.sample_object(source.as_ref(), &connection, &[], key, "key").await?;
        let body = self.open_sample(source.as_ref(), &connection, object, key, "key").await?;
        let head = SampleHead::read_body(body).await.map_err(|e| {
            let message = format!("reading s3://{}/{key}: {e}", connection.bucket);
            ManageError::Store(StoreError { kind: StoreErrorKind::Transient, message, source: Some(Box::new(e)) })
        })?;
        let options = DraftOptions { rows, id: id.map(str::to_owned), limits: self.config.sync.read_limits().decode };
        // Parsing and typing up to a few MiB of text is work for a blocking thread, as a sync's is.
        let name = key.to_owned();
        let drafted = tokio::task::spawn_blocking(move || draft::draft_from(&head, &name, &options)).await;
        let drafted = drafted.map_err(|e| {
            let message = format!("drafting from '{key}' failed: {e}");
            ManageError::Store(StoreError { kind: StoreErrorKind::Transient, message, source: Some(Box::new(e)) })
        })?;
        drafted.map_err(|e| match e {
            DraftError::InvalidId(id) => ManageError::invalid("id", format!("'{id}' {}", draft::ID_RULE)),
            e @ DraftError::Invalid(_) => ManageError::invalid("template", e.to_string()),
            other => ManageError::invalid("key", format!("'{key}': {other}")),
        })
    }

    /// The connection's template as it is now.
    async fn current_template(&self, connection: &Connection) -> Result<Template, ManageError> {
        self.store
            .template(&connection.template_id, None)
            .await?
            .map(|(template, _)| template)
            .ok_or_else(|| ManageError::NotFound { what: "template", id: connection.template_id.clone() })
    }

    /// The set-up's Done: checks access, lets an events-mode connection's account onto the
    /// deployment's object event bus, sets the connection active, and starts its first import
    /// (asynchronous in Lambda, in-process in the CLI).
    pub async fn activate(&self, id: &str) -> Result<Activated, ManageError> {
        let connection = self.connection(id).await?;
        if connection.status != ConnectionStatus::Pending {
            return Err(ManageError::Conflict(format!("connection is {}, not pending", connection.status)));
        }
        let access = self.check_access(&connection).await?;
        self.allow_forwarding(&connection, connection.mode, "activated").await?;
        // Active only where access was checked: a location the customer saved meanwhile loses.
        let checked = Location {
            bucket: connection.bucket.clone(),
            region: connection.region.clone(),
            folder: connection.folder.clone(),
        };
        self.admin.activate_at(id, &checked).await.map_err(|e| {
            ManageError::conflict_or_store(e, || {
                "the connection changed while its access was checked (a new location saved?): activate again".into()
            })
        })?;
        self.announce_status(&connection, ConnectionStatus::Active, crate::events::StatusChange::Activated).await;
        self.start_sync(id).await?;
        Ok(Activated { connection: self.connection(id).await?, access })
    }

    /// Checks access of a needs_reauth connection again and sets it active; its next sync resumes
    /// from its watermark.
    pub async fn reauthenticate(&self, id: &str) -> Result<Activated, ManageError> {
        let connection = self.connection(id).await?;
        if connection.status != ConnectionStatus::NeedsReauth {
            return Err(ManageError::Conflict(format!("connection is {}, not needs_reauth", connection.status)));
        }
        let access = self.check_access(&connection).await?;
        let connection = self
            .transition(&connection, ConnectionStatus::Active, crate::events::StatusChange::Reauthenticated)
            .await?;
        Ok(Activated { connection, access })
    }

    /// Starts a sync of the connection through the service's workers.
    pub(super) async fn start_sync(&self, id: &str) -> Result<(), ManageError> {
        let request_id = Some(super::connections::new_request_id());
        let request = WorkerRequest { request_id, ..WorkerRequest::new(id) };
        self.workers.invoke(&request).await.map_err(|e| {
            let message = format!("starting a sync: {e}");
            ManageError::Store(StoreError { kind: StoreErrorKind::Transient, message, source: Some(Box::new(e)) })
        })
    }
}
