//! In-memory implementations of the ports, for unit tests of the engine and anything built on it.

use crate::manage::ports::Templates;
use crate::mapping::{Record, Value};
use crate::model::{Checkpoint, Connection, FileOutcome, NamedKey, ObjectMeta, Recheck, SyncRun};
use crate::ports::*;
use crate::template::Template;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// State store in memory.
#[derive(Default)]
pub struct MemoryStore {
    pub connections: Mutex<HashMap<String, Connection>>,
    /// Every saved version of each template, the first being version 1.
    pub templates: Mutex<HashMap<String, Vec<Template>>>,
    /// Templates whose current version was deleted (their versions stay readable).
    pub deleted_templates: Mutex<std::collections::HashSet<String>>,
    /// Holder, expiry and last renewal of each connection's lease.
    pub leases: Mutex<HashMap<String, (String, DateTime<Utc>, DateTime<Utc>)>>,
    pub outcomes: Mutex<HashMap<(String, String), FileOutcome>>,
    pub runs: Mutex<Vec<SyncRun>>,
    pub checkpoints: Mutex<HashMap<String, Checkpoint>>,
    /// Keys kept for connections' next runs, by connection and first reading of the key.
    pub kept_named: Mutex<BTreeMap<(String, String), NamedKey>>,
    /// When set, reading the ledger fails (to test a store failure in the middle of a listing).
    pub fail_ledger_reads: Mutex<bool>,
    /// When set, recording a run's end fails (a store error after the run).
    pub fail_finish: Mutex<bool>,
    /// When set, looking up the objects due to be tried again fails (a throttled index).
    pub fail_rechecks: Mutex<bool>,
    /// Recording a run's end takes this long after it lets the lease go (its clean-up).
    pub finish_tail_ms: Mutex<u64>,
}

impl MemoryStore {
    pub fn with(connection: Connection, template: Template) -> Self {
        let store = MemoryStore::default();
        store.save_template(template);
        store.connections.lock().unwrap().insert(connection.id.clone(), connection);
        store
    }

    /// Saves a template as its next version; returns the version.
    pub fn save_template(&self, template: Template) -> u32 {
        self.deleted_templates.lock().unwrap().remove(&template.id);
        let mut templates = self.templates.lock().unwrap();
        let versions = templates.entry(template.id.clone()).or_default();
        versions.push(template);
        versions.len() as u32
    }

    pub fn outcome(&self, connection_id: &str, key: &str) -> Option<FileOutcome> {
        self.outcomes.lock().unwrap().get(&(connection_id.to_owned(), key.to_owned())).cloned()
    }
}

#[async_trait]
impl Templates for MemoryStore {
    async fn template(&self, id: &str, version: Option<u32>) -> Result<Option<(Template, u32)>, StoreError> {
        if self.deleted_templates.lock().unwrap().contains(id) && version.is_none() {
            return Ok(None);
        }
        let templates = self.templates.lock().unwrap();
        let Some(versions) = templates.get(id) else { return Ok(None) };
        let version = version.unwrap_or(versions.len() as u32);
        Ok(versions.get((version as usize).wrapping_sub(1)).map(|t| (t.clone(), version)))
    }

    async fn templates(&self) -> Result<Vec<(Template, u32)>, StoreError> {
        let deleted = self.deleted_templates.lock().unwrap().clone();
        let templates = self.templates.lock().unwrap();
        let mut out: Vec<(Template, u32)> = templates
            .iter()
            .filter(|(id, _)| !deleted.contains(*id))
            .filter_map(|(_, versions)| versions.last().map(|t| (t.clone(), versions.len() as u32)))
            .collect();
        out.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        Ok(out)
    }

    async fn put_template(&self, template: &Template) -> Result<u32, StoreError> {
        Ok(self.save_template(template.clone()))
    }

    async fn delete_template(&self, id: &str) -> Result<(), StoreError> {
        self.deleted_templates.lock().unwrap().insert(id.to_owned());
        Ok(())
    }
}

#[async_trait]
impl SyncStore for MemoryStore {
    async fn connection(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        Ok(self.connections.lock().unwrap().get(id).cloned())
    }

    async fn acquire_lease(
        &self,
        id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        schedule_run: Option<&str>,
    ) -> Result<Lease, StoreError> {
        let Some(last) = self.connections.lock().unwrap().get(id).map(|c| c.sync.last_schedule_run.clone()) else {
            return Err(StoreError::new(StoreErrorKind::Conflict, format!("no connection {id}")));
        };
        if let Some(run) = schedule_run.filter(|r| last.as_deref() == Some(*r)) {
            return Ok(Lease::AlreadyRan { schedule_run: run.to_owned() });
        }
        let mut leases = self.leases.lock().unwrap();
        match leases.get(id) {
            Some((holder, expiry, renewed)) if holder != owner && *expiry > now => {
                Ok(Lease::Held { owner: holder.clone(), until: *expiry, renewed: Some(*renewed) })
            }
            _ => {
                leases.insert(id.to_owned(), (owner.to_owned(), until, now));
                Ok(Lease::Acquired)
            }
        }
    }

    async fn renew_lease(
        &self,
        connection_id: &str,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut leases = self.leases.lock().unwrap();
        match leases.get_mut(connection_id) {
            Some(lease) if lease.0 == owner => {
                *lease = (owner.to_owned(), until, now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_lease(&self, connection_id: &str, owner: &str) -> Result<(), StoreError> {
        let mut leases = self.leases.lock().unwrap();
        if leases.get(connection_id).is_some_and(|(holder, ..)| holder == owner) {
            leases.remove(connection_id);
        }
        Ok(())
    }

    async fn ledger(&self, connection_id: &str, keys: &[&str]) -> Result<HashMap<String, LedgerEntry>, StoreError> {
        if *self.fail_ledger_reads.lock().unwrap() {
            return Err(StoreError::new(StoreErrorKind::Transient, "ledger read throttled"));
        }
        let outcomes = self.outcomes.lock().unwrap();
        Ok(keys
            .iter()
            .filter_map(|k| {
                let o = outcomes.get(&(connection_id.to_owned(), k.to_string()))?;
                Some((
                    k.to_string(),
                    LedgerEntry { etag: o.etag.clone(), recheck: o.recheck.clone(), replaces: o.replaces.clone() },
                ))
            })
            .collect())
    }

    async fn due_rechecks(
        &self,
        connection_id: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<FileOutcome>, StoreError> {
        if *self.fail_rechecks.lock().unwrap() {
            return Err(StoreError::new(StoreErrorKind::Transient, "reading the index: throttled"));
        }
        let outcomes = self.outcomes.lock().unwrap();
        let mut due: Vec<FileOutcome> = outcomes
            .iter()
            .filter(|((c, _), o)| {
                c == connection_id && o.recheck.as_ref().and_then(Recheck::due_at).is_some_and(|at| at <= now)
            })
            .map(|(_, o)| o.clone())
            .collect();
        due.sort_by_key(|o| o.recheck.as_ref().and_then(Recheck::due_at));
        due.truncate(limit);
        Ok(due)
    }

    async fn record_outcome(
        &self,
        connection_id: &str,
        outcome: &FileOutcome,
        _expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut outcomes = self.outcomes.lock().unwrap();
        let entry = (connection_id.to_owned(), outcome.key.clone());
        let mut outcome = outcome.clone();
        // An operator's ask, or else their dismissal of this version, made after the object was
        // taken up stands.
        let stored = outcomes.get(&entry);
        let asked = stored.and_then(|o| match o.recheck {
            Some(Recheck::Operator { asked_at }) if asked_at > outcome.began() => Some(asked_at),
            _ => None,
        });
        let dismissed = stored
            .filter(|o| o.etag == outcome.etag && outcome.status == crate::model::FileStatus::Failed)
            .and_then(|o| o.dismissed_at)
            .filter(|at| *at > outcome.began());
        if let Some(asked_at) = asked {
            outcome.recheck = Some(Recheck::Operator { asked_at });
        } else if let Some(at) = dismissed {
            outcome.dismissed_at = Some(at);
            outcome.recheck = None;
        }
        // As DynamoDB's transaction does: the count moves with the outcome, or neither is written.
        let was_open = outcomes.get(&entry).is_some_and(FileOutcome::is_open_failure);
        if was_open != outcome.is_open_failure() {
            let mut connections = self.connections.lock().unwrap();
            let Some(connection) = connections.get_mut(connection_id) else {
                return Err(StoreError::new(StoreErrorKind::Conflict, format!("no connection {connection_id}")));
            };
            connection.failed_files =
                if was_open { connection.failed_files.saturating_sub(1) } else { connection.failed_files + 1 };
        }
        outcomes.insert(entry, outcome);
        Ok(())
    }

    async fn finish_run(&self, end: RunEnd<'_>, owner: &str) -> Result<bool, StoreError> {
        if *self.fail_finish.lock().unwrap() {
            return Err(StoreError::new(StoreErrorKind::Transient, "finishing the run: throttled"));
        }
        {
            let mut leases = self.leases.lock().unwrap();
            match leases.get(&end.connection.id) {
                Some((holder, ..)) if holder == owner => {
                    leases.remove(&end.connection.id);
                }
                _ => return Err(StoreError::new(StoreErrorKind::Conflict, "lease is not held by this run")),
            }
        }
        // As DynamoDB's update does: the sync state, and the status only if no operator changed it
        // during the run; the rest (a rename) is the operator's.
        let mut status_written = false;
        if let Some(stored) = self.connections.lock().unwrap().get_mut(&end.connection.id) {
            stored.sync = end.connection.sync.clone();
            if stored.status == end.status_before && stored.status != end.connection.status {
                stored.status = end.connection.status;
                stored.pause_reason = end.connection.pause_reason;
                status_written = true;
            }
            if end.run.path == crate::model::RunPath::Scan {
                stored.scan_owed = None;
            }
            if end.run.backfill_done() && stored.backfill_since == end.run.backfill_since {
                stored.backfill_since = None;
            }
        }
        self.runs.lock().unwrap().push(end.run.clone());
        self.checkpoints.lock().unwrap().remove(&end.connection.id);
        let tail = *self.finish_tail_ms.lock().unwrap();
        if tail > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(tail)).await;
        }
        Ok(status_written)
    }

    async fn checkpoint(&self, connection_id: &str) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.checkpoints.lock().unwrap().get(connection_id).cloned())
    }

    async fn hand_over(&self, connection_id: &str, owner: &str, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let mut leases = self.leases.lock().unwrap();
        match leases.get(connection_id) {
            Some((holder, ..)) if holder == owner => {
                leases.remove(connection_id);
            }
            _ => return Err(StoreError::new(StoreErrorKind::Conflict, "lease is not held by this run")),
        }
        self.checkpoints.lock().unwrap().insert(connection_id.to_owned(), checkpoint.clone());
        Ok(())
    }

    async fn keep_named(
        &self,
        connection_id: &str,
        keys: &[NamedKey],
        _expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut kept = self.kept_named.lock().unwrap();
        for named in keys {
            kept.insert((connection_id.to_owned(), named.key.first.clone()), named.clone());
        }
        Ok(())
    }

    async fn kept_named(&self, connection_id: &str, limit: usize) -> Result<Vec<NamedKey>, StoreError> {
        let kept = self.kept_named.lock().unwrap();
        Ok(kept.iter().filter(|((c, _), _)| c == connection_id).map(|(_, named)| named.clone()).take(limit).collect())
    }

    async fn forget_named(&self, connection_id: &str, keys: &[NamedKey]) -> Result<(), StoreError> {
        let mut kept = self.kept_named.lock().unwrap();
        for named in keys {
            let at = (connection_id.to_owned(), named.key.first.clone());
            if kept.get(&at) == Some(named) {
                kept.remove(&at);
            }
        }
        Ok(())
    }
}

/// Record sink in memory: items by (connection, record id), and how many writes arrived.
#[derive(Default)]
pub struct MemorySink {
    pub records: Mutex<BTreeMap<(String, String), Vec<Option<Value>>>>,
    pub writes: Mutex<u64>,
    /// Fail every write after this many records (to test transient write failures).
    pub fail_after: Mutex<Option<u64>>,
    /// Refuse (as DynamoDB refuses an invalid item) every batch holding a record id with this text.
    pub refuse_ids_containing: Mutex<Option<String>>,
    /// Answer each batch after 0-4 ms (a hash of its first id), so batches finish out of order.
    pub jitter: Mutex<bool>,
    /// Answer each batch after this many milliseconds (a slow table).
    pub delay_ms: Mutex<u64>,
}

/// The most records one put of [`MemorySink`] takes. Not DynamoDB's 25: the engine's tests then show
/// that its writers follow the sink's number, and a bigger batch is refused (as DynamoDB refuses
/// one, where moto does not).
pub const MEMORY_MAX_BATCH: usize = 20;

#[async_trait]
impl RecordSink for MemorySink {
    fn max_batch(&self) -> usize {
        MEMORY_MAX_BATCH
    }

    async fn put(&self, batch: RecordBatch<'_>) -> Result<(), StoreError> {
        if batch.records.len() > MEMORY_MAX_BATCH {
            let message = format!("a batch of {} records; this sink takes {MEMORY_MAX_BATCH}", batch.records.len());
            return Err(StoreError::new(StoreErrorKind::Rejected, message));
        }
        let jitter = *self.jitter.lock().unwrap();
        if let Some(first) = batch.records.first().filter(|_| jitter) {
            let delay =
                first.id.bytes().chain(first.row.to_le_bytes()).fold(7u64, |h, b| h.wrapping_mul(31) ^ b as u64);
            tokio::time::sleep(std::time::Duration::from_millis(delay % 5)).await;
        }
        let delay = *self.delay_ms.lock().unwrap();
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        let mut writes = self.writes.lock().unwrap();
        if let Some(limit) = *self.fail_after.lock().unwrap() {
            if *writes + batch.records.len() as u64 > limit {
                return Err(StoreError::new(StoreErrorKind::Transient, "throttled"));
            }
        }
        if let Some(text) = self.refuse_ids_containing.lock().unwrap().as_deref() {
            if batch.records.iter().any(|r| r.id.contains(text)) {
                return Err(StoreError::new(StoreErrorKind::Rejected, "ValidationException: item too large"));
            }
        }
        *writes += batch.records.len() as u64;
        let mut records = self.records.lock().unwrap();
        for Record { id, values, .. } in batch.records {
            records.insert((batch.connection_id.to_owned(), id), values);
        }
        Ok(())
    }

    async fn remove_other_versions(
        &self,
        connection_id: &str,
        object_key: &str,
        keep_etag: &str,
    ) -> Result<u64, StoreError> {
        // Ids of this key's versions: `key#etag#row` (short keys; the tests use those).
        let key_prefix = format!("{object_key}#");
        let keep = format!("{}#", crate::keys::record_id_prefix(object_key, keep_etag));
        let mut records = self.records.lock().unwrap();
        let before = records.len();
        records.retain(|(c, id), _| {
            let other_version = id.starts_with(&key_prefix)
                && !id.starts_with(&keep)
                && id[key_prefix.len()..].matches('#').count() == 1;
            !(c == connection_id && other_version)
        });
        Ok((before - records.len()) as u64)
    }
}

/// A bucket in memory.
#[derive(Default)]
pub struct MemoryBucket {
    pub objects: Mutex<BTreeMap<String, (ObjectMeta, Vec<u8>)>>,
    /// Objects a listing page holds at most (S3: 1,000); 0 means 1,000.
    pub page_size: Mutex<usize>,
    /// When set, connecting fails with this kind.
    pub deny: Mutex<Option<SourceErrorKind>>,
    /// Each listing page takes this long (a slow listing of a large bucket).
    pub list_delay_ms: Mutex<u64>,
    /// Objects that cannot be read, and how (one denied object among many, an archived one).
    pub unreadable: Mutex<HashMap<String, SourceErrorKind>>,
    /// Objects whose body breaks off after this many bytes with this error (an object replaced
    /// while it is read answers 412 to the next ranged GET).
    pub break_after: Mutex<HashMap<String, (usize, SourceErrorKind)>>,
    /// The ranged reads made (key, first byte, length), in order.
    pub ranges_read: Mutex<Vec<(String, u64, u64)>>,
}

/// A body that fails with a source error, as the S3 source's chunk fetch does.
struct FailingRead(Option<SourceError>);

impl tokio::io::AsyncRead for FailingRead {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let error = self.0.take().unwrap_or_else(|| SourceError::new(SourceErrorKind::Other, "read after failure"));
        std::task::Poll::Ready(Err(std::io::Error::other(error)))
    }
}

impl MemoryBucket {
    pub fn put(&self, key: &str, etag: &str, modified: DateTime<Utc>, body: &[u8]) {
        let meta = ObjectMeta {
            key: key.into(),
            etag: etag.into(),
            size: body.len() as u64,
            last_modified: modified,
            storage_class: None,
            attempts: 0,
            replaces: None,
        };
        self.objects.lock().unwrap().insert(key.into(), (meta, body.to_vec()));
    }

    /// The bucket as a connection's role sees it, without connecting.
    pub fn source(&self) -> Box<dyn ObjectSource + '_> {
        Box::new(MemorySource(self))
    }
}

struct MemorySource<'a>(&'a MemoryBucket);

#[async_trait]
impl BucketAccess for MemoryBucket {
    async fn connect(&self, _connection: &Connection) -> Result<Box<dyn ObjectSource + '_>, SourceError> {
        match *self.deny.lock().unwrap() {
            Some(kind) => Err(SourceError::new(kind, "denied by the test")),
            None => Ok(Box::new(MemorySource(self))),
        }
    }
}

#[async_trait]
impl ObjectSource for MemorySource<'_> {
    /// As S3 does: keys in order, after the token (here the last key of the previous page); with
    /// `fan_out`, keys below a '/' after the prefix roll up into one common prefix each.
    async fn list_page(&self, cursor: &ListCursor) -> Result<ListPage, SourceError> {
        let delay = *self.0.list_delay_ms.lock().unwrap();
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        let page_size = match *self.0.page_size.lock().unwrap() {
            0 => 1000,
            n => n,
        };
        let objects = self.0.objects.lock().unwrap();
        let after = cursor.token.clone().unwrap_or_default();
        let mut page = ListPage::default();
        let mut entries = 0;
        let mut last = None;
        for (key, (meta, _)) in objects.range(after.clone()..) {
            let rolled_up = page.prefixes.last().is_some_and(|p| key.starts_with(p.as_str()));
            if key.as_str() <= after.as_str() && cursor.token.is_some() || !key.starts_with(&cursor.prefix) || rolled_up
            {
                continue;
            }
            if entries == page_size {
                page.next_token = last;
                return Ok(page);
            }
            let rest = &key[cursor.prefix.len()..];
            match rest.find('/').filter(|_| cursor.fan_out) {
                Some(slash) => {
                    let prefix = format!("{}{}", cursor.prefix, &rest[..=slash]);
                    // The next page starts after every key under this prefix, as in S3.
                    last = Some(format!("{prefix}\u{10FFFF}"));
                    page.prefixes.push(prefix);
                    entries += 1;
                    continue;
                }
                None => {
                    page.objects.push(meta.clone());
                    entries += 1;
                }
            }
            last = Some(key.clone());
        }
        Ok(page)
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, SourceError> {
        // As S3 answers HEAD: a denied object is denied there too (an archived one is not).
        if let Some(SourceErrorKind::ObjectDenied) = self.0.unreadable.lock().unwrap().get(key) {
            return Err(SourceError::new(
                SourceErrorKind::ObjectDenied,
                format!("looking at {key}: denied by the test"),
            ));
        }
        Ok(self.0.objects.lock().unwrap().get(key).map(|(meta, _)| meta.clone()))
    }

    async fn open(&self, object: &ObjectMeta, from: u64) -> Result<ObjectBody, SourceError> {
        if let Some(kind) = self.0.unreadable.lock().unwrap().get(&object.key) {
            return Err(SourceError::new(*kind, format!("reading {}: denied by the test", object.key)));
        }
        match self.0.objects.lock().unwrap().get(&object.key) {
            Some((meta, body)) if meta.etag == object.etag => {
                // As S3 answers a range that starts past the end: 416.
                match body.get(from as usize..).filter(|rest| !rest.is_empty() || from == 0) {
                    Some(rest) => match self.0.break_after.lock().unwrap().get(&object.key) {
                        Some(&(at, kind)) => {
                            use tokio::io::AsyncReadExt;
                            let head =
                                std::io::Cursor::new(rest[..at.saturating_sub(from as usize).min(rest.len())].to_vec());
                            let error =
                                SourceError::new(kind, format!("reading {}: broken off by the test", object.key));
                            Ok(Box::pin(head.chain(FailingRead(Some(error)))))
                        }
                        None => Ok(Box::pin(std::io::Cursor::new(rest.to_vec()))),
                    },
                    None => Err(SourceError::new(SourceErrorKind::Other, "InvalidRange: range not satisfiable")),
                }
            }
            _ => Err(SourceError::new(SourceErrorKind::ObjectGone, "object deleted or replaced since listing")),
        }
    }

    async fn read_range(&self, object: &ObjectMeta, from: u64, len: u64) -> Result<bytes::Bytes, SourceError> {
        self.0.ranges_read.lock().unwrap().push((object.key.clone(), from, len));
        crate::ports::read_range_by_open(self, object, from, len).await
    }
}

/// A clock that stands still until moved.
pub struct FixedClock(pub Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        FixedClock(Mutex::new(t))
    }
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
    /// Moves the clock forward instead of waiting.
    fn sleep(&self, duration: chrono::TimeDelta) -> futures::future::BoxFuture<'static, ()> {
        *self.0.lock().unwrap() += duration;
        Box::pin(std::future::ready(()))
    }
}

#[async_trait]
impl crate::conformance::StoreUnderTest for MemoryStore {
    async fn save_connection(&self, connection: &Connection, template: &Template) {
        if self.templates.lock().unwrap().get(&template.id).and_then(|v| v.last()) != Some(template) {
            self.save_template(template.clone());
        }
        self.connections.lock().unwrap().insert(connection.id.clone(), connection.clone());
    }

    async fn ask_again(&self, connection_id: &str, key: &str, at: DateTime<Utc>) {
        let mut outcomes = self.outcomes.lock().unwrap();
        let outcome = outcomes.get_mut(&(connection_id.to_owned(), key.to_owned())).expect("a recorded outcome");
        outcome.recheck = Some(Recheck::Operator { asked_at: at });
    }

    async fn save_template_version(&self, template: &Template) {
        self.save_template(template.clone());
    }

    async fn set_status_as_operator(&self, connection_id: &str, status: crate::model::ConnectionStatus) {
        self.connections.lock().unwrap().get_mut(connection_id).expect("a saved connection").status = status;
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_memory_store_conforms() {
        crate::conformance::check_store(&super::MemoryStore::default(), "memory").await;
    }

    #[tokio::test]
    async fn the_memory_management_ports_conform() {
        let (store, sink) = (super::MemoryStore::default(), super::MemorySink::default());
        crate::conformance::check_management(&store, &sink, "memory").await;
    }
}

mod admin;
mod rejects;
mod sessions;
pub use admin::{FixedPrincipals, MemoryForwarding, RecordedWorkers};
pub use rejects::MemoryRejects;
pub use sessions::MemoryRevokedSessions;

/// Events in memory: what was published, in order; with `fail` set, publishing fails (nothing is
/// kept), as a bus that refuses would.
#[derive(Default)]
pub struct RecordedEvents {
    pub events: Mutex<Vec<crate::events::Event>>,
    pub fail: Mutex<bool>,
}

impl RecordedEvents {
    /// The detail-types published so far, in order.
    pub fn detail_types(&self) -> Vec<&'static str> {
        self.events.lock().unwrap().iter().map(crate::events::Event::detail_type).collect()
    }
}

#[async_trait]
impl crate::events::EventPublisher for RecordedEvents {
    async fn publish(&self, events: &[crate::events::Event]) -> Result<(), crate::events::PublishError> {
        if *self.fail.lock().unwrap() {
            return Err(crate::events::PublishError { not_published: events.len(), message: "the bus refused".into() });
        }
        self.events.lock().unwrap().extend(events.iter().cloned());
        Ok(())
    }
}
