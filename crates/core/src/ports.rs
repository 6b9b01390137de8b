//! The narrow ports the sync engine drives. The AWS crate implements them over S3, STS and
//! DynamoDB; `memory` (feature `test-support`) implements them in memory for tests.

use crate::mapping::Record;
pub use crate::model::ListCursor;
use crate::model::{Checkpoint, Connection, ConnectionStatus, FileOutcome, NamedKey, ObjectMeta, SyncRun};
use crate::template::Template;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use futures::stream::BoxStream;
use std::collections::HashMap;
use std::pin::Pin;
use tokio::io::AsyncRead;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A readable object body.
pub type ObjectBody = Pin<Box<dyn AsyncRead + Send>>;

/// Why the source failed, as far as the engine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceErrorKind {
    /// The role cannot be assumed, or it may not list or read (wrong account, role, external id,
    /// permissions), or the bucket belongs to another account.
    AccessDenied,
    NoSuchBucket,
    /// The bucket is not in the connection's region.
    WrongRegion,
    /// The object was deleted or replaced between listing and reading.
    ObjectGone,
    /// The bucket can be read but not this object, for now: the role may not read it (a KMS key it
    /// may not use, an object owned by another account, a policy denying this key). The object
    /// fails alone and is tried again later; the message names the cause and the fix.
    ObjectDenied,
    /// The object is in an archive tier (Glacier, Deep Archive, an Intelligent-Tiering archive
    /// tier) and has no restored copy: skipped, tried again later.
    ObjectArchived,
    /// The object can never be read by us as it is (encrypted with a customer-provided key,
    /// SSE-C): it fails until it is replaced.
    ObjectUnsupported,
    /// Throttling, 5xx, timeouts, a dropped connection: worth a retry.
    Transient,
    /// Anything else.
    Other,
}

impl SourceErrorKind {
    /// Errors only the customer can fix: the connection needs re-authentication.
    pub fn breaks_access(self) -> bool {
        matches!(self, Self::AccessDenied | Self::NoSuchBucket | Self::WrongRegion)
    }

    /// Errors of one object that leave the rest of the bucket readable: that object fails alone.
    pub fn object_only(self) -> bool {
        matches!(self, Self::ObjectDenied | Self::ObjectArchived | Self::ObjectUnsupported)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub kind: SourceErrorKind,
    pub message: String,
    #[source]
    pub source: Option<BoxError>,
}

impl SourceError {
    pub fn new(kind: SourceErrorKind, message: impl Into<String>) -> Self {
        SourceError { kind, message: message.into(), source: None }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectMeta>,
    /// Sub-folders (common prefixes), when the cursor fans out.
    pub prefixes: Vec<String>,
    /// The token of the next page; `None` when this was the last.
    pub next_token: Option<String>,
}

/// A bucket (or folder) as the connection's role sees it.
#[async_trait]
pub trait ObjectSource: Send + Sync {
    /// One page of the listing at `cursor`. S3 cannot filter by LastModified.
    async fn list_page(&self, cursor: &ListCursor) -> Result<ListPage, SourceError>;
    /// The body of exactly the listed version (same ETag) from byte `from` on, or `ObjectGone`.
    async fn open(&self, object: &ObjectMeta, from: u64) -> Result<ObjectBody, SourceError>;
    /// Bytes `from..from + len` of exactly the listed version, whole (a Parquet footer, a row
    /// group's column chunks): one ranged GET, retried as a read-ahead chunk is. Fewer bytes than
    /// asked for is an error. The default reads them through [`ObjectSource::open`].
    async fn read_range(&self, object: &ObjectMeta, from: u64, len: u64) -> Result<bytes::Bytes, SourceError> {
        read_range_by_open(self, object, from, len).await
    }
    /// The object under `key` now, as a listing would show it, or `None` when there is none. An
    /// object event may be late or repeated: what is imported is what this says, not the event.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, SourceError>;
}

/// [`ObjectSource::read_range`] through [`ObjectSource::open`]: the body from `from`, `len` bytes of it.
pub async fn read_range_by_open<S: ObjectSource + ?Sized>(
    source: &S,
    object: &ObjectMeta,
    from: u64,
    len: u64,
) -> Result<bytes::Bytes, SourceError> {
    use tokio::io::AsyncReadExt;
    let mut body = source.open(object, from).await?.take(len);
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0).min(64 << 20));
    body.read_to_end(&mut bytes).await.map_err(|e| read_failure(&object.key, e))?;
    if (bytes.len() as u64) < len {
        let message = format!("{}: {} of {len} bytes at {from} arrived", object.key, bytes.len());
        return Err(SourceError::new(SourceErrorKind::Transient, message));
    }
    Ok(bytes.into())
}

/// A body's read failure as the source's error: the source says what failed (a replaced object, a
/// denied chunk) inside the I/O error; anything else is the transport's, worth a retry.
pub fn read_failure(key: &str, e: std::io::Error) -> SourceError {
    let kind = e.get_ref().and_then(|inner| inner.downcast_ref::<SourceError>()).map(|s| s.kind);
    SourceError::new(kind.unwrap_or(SourceErrorKind::Transient), format!("reading {key}: {e}"))
}

/// Every object under `prefix`, page by page, one prefix at a time (for previews; the engine lists in
/// parallel and resumably).
pub fn list_all<'a>(
    source: &'a dyn ObjectSource,
    prefix: Option<&str>,
) -> BoxStream<'a, Result<ObjectMeta, SourceError>> {
    let pages = futures::stream::try_unfold(Some(ListCursor::new(prefix, false)), move |cursor| async move {
        let Some(mut cursor) = cursor else { return Ok(None) };
        let page = source.list_page(&cursor).await?;
        cursor.token = page.next_token;
        let next = cursor.token.is_some().then_some(cursor);
        Ok(Some((futures::stream::iter(page.objects.into_iter().map(Ok)), next)))
    });
    Box::pin(futures::TryStreamExt::try_flatten(pages))
}

/// Opens a connection's bucket: assumes its role and checks nothing else.
#[async_trait]
pub trait BucketAccess: Send + Sync {
    async fn connect(&self, connection: &Connection) -> Result<Box<dyn ObjectSource + '_>, SourceError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// Throttling, 5xx, timeouts: worth a retry.
    Transient,
    /// A conditional write lost (the lease moved to another owner).
    Conflict,
    /// The service refused what was written (DynamoDB's ValidationException): the same items
    /// would be refused again, so a retry cannot help; the file they came from fails instead.
    Rejected,
    /// The caller's input is not the store's to take (a page token it did not give).
    Invalid,
    Other,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    pub kind: StoreErrorKind,
    pub message: String,
    #[source]
    pub source: Option<BoxError>,
}

impl StoreError {
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        StoreError { kind, message: message.into(), source: None }
    }
}

/// What the ledger holds of a key: the ETag its outcome is for, and what may bring it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub etag: String,
    pub recheck: Option<crate::model::Recheck>,
    /// An earlier version whose records are still to be removed (see `FileOutcome::replaces`).
    pub replaces: Option<String>,
}

/// The result of asking for a connection's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    Acquired,
    Held {
        owner: String,
        until: DateTime<Utc>,
        /// When the holder last took or renewed it: a live holder renews every half term, so one
        /// that has not for longer has stopped (killed by its timeout or its memory).
        renewed: Option<DateTime<Utc>>,
    },
    /// The connection already finished a run for this scheduled event.
    AlreadyRan {
        schedule_run: String,
    },
}

/// What a finished run writes back to the connection.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd<'a> {
    pub run: &'a SyncRun,
    /// The connection with its new status and sync state.
    pub connection: &'a Connection,
    /// Its status when the run began: a status changed meanwhile by an operator (paused) wins over
    /// the run's own change.
    pub status_before: ConnectionStatus,
}

/// The platform's data templates, every saved version kept.
#[async_trait]
pub trait Templates: Send + Sync {
    /// A template's current version (`version` None) or a saved one, with its version number.
    async fn template(&self, id: &str, version: Option<u32>) -> Result<Option<(Template, u32)>, StoreError>;
    /// Every template's current version, by id.
    async fn templates(&self) -> Result<Vec<(Template, u32)>, StoreError>;
    /// Saves a validated template as its next version and returns it; `Conflict` when another save
    /// of the same template won.
    async fn put_template(&self, template: &Template) -> Result<u32, StoreError>;
    /// Deletes a template's current version; its saved versions stay, for the runs that name them.
    /// Whether a connection uses it is the caller's to check.
    async fn delete_template(&self, id: &str) -> Result<(), StoreError>;
}

/// The state the engine reads and writes: connections, templates (read through [`Templates`]),
/// leases, the import ledger, runs.
#[async_trait]
pub trait SyncStore: Templates {
    async fn connection(&self, id: &str) -> Result<Option<Connection>, StoreError>;
    /// Takes or renews the lease if it is free, expired, or already `owner`'s, and, when
    /// `schedule_run` is given, only if the connection's last finished run was not for that event.
    async fn acquire_lease(
        &self,
        connection_id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        schedule_run: Option<&str>,
    ) -> Result<Lease, StoreError>;
    /// Extends the lease to `until` only if `owner` still holds it; `false` if it does not (a lease
    /// let go is never taken back by a late renewal).
    async fn renew_lease(
        &self,
        connection_id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Lets the lease go if `owner` still holds it (nothing otherwise): a run that stops on an error
    /// frees the connection for Lambda's retry at once instead of a lease term later.
    async fn release_lease(&self, connection_id: &str, owner: &str) -> Result<(), StoreError>;
    /// The ledger entry (ETag of the recorded outcome, and its recheck) of each of the given keys
    /// that has one. Read consistently.
    async fn ledger(&self, connection_id: &str, keys: &[&str]) -> Result<HashMap<String, LedgerEntry>, StoreError>;
    /// Up to `limit` outcomes whose retry has come by `now` or that an operator asked to decide
    /// again (`Recheck::Retry`, `Recheck::Operator`), whether or not their objects are still in the
    /// listing's window. May lag a just-recorded outcome (an index): check with [`SyncStore::ledger`].
    async fn due_rechecks(
        &self,
        connection_id: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<FileOutcome>, StoreError>;
    /// Records an object's outcome; from then on that key and ETag are never selected again. The entry
    /// may be expired (DynamoDB TTL) after `expires_at`, except an open failure
    /// ([`FileOutcome::is_open_failure`]), kept until it is replaced or dismissed. The connection's
    /// `failed_files` moves with it, in the same write: up when an open failure replaces anything
    /// else, down when anything else replaces one. An operator's ask made after the object was
    /// taken up (`finished_at - duration_ms`) is kept: the next run decides it again.
    async fn record_outcome(
        &self,
        connection_id: &str,
        outcome: &FileOutcome,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Writes the run and the connection's new status and sync state, drops the run's checkpoint, and
    /// releases the lease, only if `owner` still holds it (otherwise `Conflict`: no lost update).
    /// Returns whether the run's change of status was written: `false` when it changed none, or
    /// when an operator changed the status during the run (theirs stands).
    async fn finish_run(&self, end: RunEnd<'_>, owner: &str) -> Result<bool, StoreError>;
    /// The checkpoint a run left when it handed over to the next invocation, if any.
    async fn checkpoint(&self, connection_id: &str) -> Result<Option<Checkpoint>, StoreError>;
    /// Saves the checkpoint (replacing any earlier one) and releases the lease, only if `owner` still
    /// holds it (otherwise `Conflict`), so that the next invocation can take both.
    async fn hand_over(&self, connection_id: &str, owner: &str, checkpoint: &Checkpoint) -> Result<(), StoreError>;
    /// Keeps keys that object events named while the connection could not run (paused, needing
    /// re-authentication, pending, its lease held), for its next run, until `expires_at`. A key
    /// kept again replaces itself.
    async fn keep_named(
        &self,
        connection_id: &str,
        keys: &[NamedKey],
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Up to `limit` of the connection's kept keys.
    async fn kept_named(&self, connection_id: &str, limit: usize) -> Result<Vec<NamedKey>, StoreError>;
    /// Forgets kept keys: a run has decided them, or holds them in its checkpoint. A key kept again
    /// since it was read (another ETag, or another reading) is not forgotten: the run did not
    /// decide that one.
    async fn forget_named(&self, connection_id: &str, keys: &[NamedKey]) -> Result<(), StoreError>;
}

/// At most [`RecordSink::max_batch`] records of one object, ready to write.
#[derive(Debug)]
pub struct RecordBatch<'a> {
    pub connection_id: &'a str,
    pub template: &'a Template,
    pub object: &'a ObjectMeta,
    pub imported_at: DateTime<Utc>,
    pub records: Vec<Record>,
}

/// Where accepted rows go. Writes are idempotent: a record's id decides its item.
#[async_trait]
pub trait RecordSink: Send + Sync {
    /// The most records one [`RecordSink::put`] takes: the sink's own limit (DynamoDB's
    /// BatchWriteItem takes 25). The engine's writers never give it more at once.
    fn max_batch(&self) -> usize;
    async fn put(&self, batch: RecordBatch<'_>) -> Result<(), StoreError>;
    /// Removes the records that versions of an object other than `keep_etag` wrote without a
    /// primary key (ids `key # etag # row`, `source_key` the object's key); returns how many.
    /// Idempotent.
    async fn remove_other_versions(
        &self,
        connection_id: &str,
        object_key: &str,
        keep_etag: &str,
    ) -> Result<u64, StoreError>;
}

/// The deployment's bucket of rejects objects ([`crate::rejects`]): rejected rows handed back.
/// Objects are written whole or as multipart uploads, as S3 does; links download one for a while.
#[async_trait]
pub trait RejectsStore: Send + Sync {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError>;
    /// The object's bytes; `None` if there is none.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Whether an object `key` exists (a HEAD).
    async fn exists(&self, key: &str) -> Result<bool, StoreError>;
    /// Starts a multipart upload of `key`; gives its id.
    async fn start_upload(&self, key: &str) -> Result<String, StoreError>;
    /// Uploads part `number` (from 1); gives its ETag. Every part but the last holds at least
    /// [`crate::rejects::PART_BYTES`]. Uploading a number again replaces that part.
    async fn upload_part(&self, key: &str, upload_id: &str, number: i32, body: Vec<u8>) -> Result<String, StoreError>;
    async fn complete_upload(&self, key: &str, upload_id: &str, parts: &[(i32, String)]) -> Result<(), StoreError>;
    /// A link that downloads `key` for `valid_for` (a pre-signed GET).
    async fn link(&self, key: &str, valid_for: std::time::Duration) -> Result<String, StoreError>;
}

/// The time, injectable for tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Waits `duration` of this clock's time (a test clock moves itself forward at once).
    fn sleep(&self, duration: TimeDelta) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration.to_std().unwrap_or_default()))
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
