//! Whole runs of the engine over the in-memory ports ([`crate::memory`]), by room: [`run`] (an
//! invocation: lease, hand-over, schedule, how a run ends), [`listing`] (what is selected, and
//! when), [`import`] (what becomes of each file). This file holds the world they share.

use super::*;
use crate::memory::*;
use crate::model::{Connection, ConnectionStatus, FileStatus, PauseReason, SyncResult, SyncRun, SyncState};
use crate::ports::ObjectBody;
use crate::template::Template;
use chrono::{DateTime, TimeDelta, Utc};

mod events;
mod import;
mod listing;
mod parquet;
mod rejects;
mod run;

fn t(s: &str) -> DateTime<Utc> {
    format!("2026-06-{s}Z").parse().unwrap()
}

fn template(policy: &str) -> Template {
    Template::from_json(&format!(
        r#"{{"id": "tpl", "record_type": "payment", "format": {{"type": "csv"}}, "row_policy": "{policy}",
        "columns": [{{"source": "id", "field": "id", "type": "string", "required": true}},
                    {{"source": "amount", "field": "amount", "type": "decimal", "required": true}}]}}"#
    ))
    .unwrap()
}

fn connection() -> Connection {
    Connection {
        id: "c1".into(),
        tenant: "acme".into(),
        name: "acme".into(),
        account_id: "123456789012".into(),
        bucket: "b".into(),
        region: "us-east-1".into(),
        folder: Some("in/".into()),
        kms_key_arn: None,
        open_fields: Vec::new(),
        location_filled_at: None,
        link_generation: 0,
        role_name: "r".into(),
        external_id: "x".into(),
        template_id: "tpl".into(),
        status: ConnectionStatus::Pending,
        created_at: t("01T00:00:00"),
        overlap_seconds: None,
        mode: Default::default(),
        scan_every_hours: None,
        scan_owed: None,
        backfill_since: None,
        sync: SyncState::default(),
        failed_files: 0,
        pause_reason: None,
    }
}

struct World {
    store: MemoryStore,
    sink: MemorySink,
    bucket: MemoryBucket,
    events: RecordedEvents,
    clock: FixedClock,
    config: SyncConfig,
    rejects: MemoryRejects,
}

impl World {
    fn new(policy: &str) -> Self {
        World {
            store: MemoryStore::with(connection(), template(policy)),
            sink: MemorySink::default(),
            bucket: MemoryBucket::default(),
            events: RecordedEvents::default(),
            rejects: MemoryRejects::default(),
            clock: FixedClock::at(t("10T12:00:00.250")),
            config: SyncConfig::default(),
        }
    }
    fn engine(&self) -> Engine<'_> {
        Engine {
            store: &self.store,
            sink: &self.sink,
            buckets: &self.bucket,
            events: &self.events,
            rejects: Some(&self.rejects),
            clock: &self.clock,
            config: self.config.clone(),
        }
    }
    async fn sync(&self, run: &str) -> Result<SyncOutcome, SyncError> {
        self.engine().run(Invocation::new("c1", run)).await
    }
    async fn completed(&self, run: &str) -> SyncRun {
        match self.sync(run).await {
            Ok(SyncOutcome::Completed(run)) => run,
            other => panic!("expected a completed run, got {other:?}"),
        }
    }
    fn record_ids(&self) -> Vec<String> {
        self.sink.records.lock().unwrap().keys().map(|(_, id)| id.clone()).collect()
    }
    fn status(&self) -> ConnectionStatus {
        self.store.connections.lock().unwrap()["c1"].status
    }
}

use crate::decode::{compress, Compression};

fn gzip(data: &[u8]) -> Vec<u8> {
    compress(Compression::Gzip, data)
}
