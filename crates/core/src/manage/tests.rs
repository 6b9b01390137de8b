//! The management service against the in-memory ports: its rules, one case each.

use super::connections::{ConnectionChange, NamedConnection, MAX_OVERLAP_HOURS};
use super::recovery::FileSelection;
use super::*;
use crate::connections::ConnectionInput;
use crate::manage::ports::ConnectionAdmin;
use crate::memory::*;
use crate::model::{ConnectionStatus, FileOutcome, FileStatus, SyncRun};
use crate::ports::{Lease, SourceErrorKind, SyncStore};
use crate::template::Template;
use chrono::{DateTime, TimeDelta, Utc};

mod customer;
mod draft;

fn t(s: &str) -> DateTime<Utc> {
    format!("2026-06-{s}Z").parse().unwrap()
}

const TEMPLATE: &str = r#"{"id": "tpl", "record_type": "payment", "format": {"type": "csv"},
    "columns": [{"source": "id", "field": "id", "type": "string", "required": true},
                {"source": "amount", "field": "amount", "type": "decimal", "required": true}]}"#;

struct World {
    store: MemoryStore,
    sink: MemorySink,
    bucket: MemoryBucket,
    workers: RecordedWorkers,
    principals: FixedPrincipals,
    events: RecordedEvents,
    forwarding: MemoryForwarding,
    rejects: MemoryRejects,
    clock: FixedClock,
    config: ManageConfig,
}

impl World {
    fn new() -> Self {
        let store = MemoryStore::default();
        store.save_template(Template::from_json(TEMPLATE).unwrap());
        World {
            store,
            sink: MemorySink::default(),
            bucket: MemoryBucket::default(),
            workers: RecordedWorkers::default(),
            principals: FixedPrincipals(vec!["arn:aws:iam::111122223333:role/worker".into()]),
            events: RecordedEvents::default(),
            forwarding: MemoryForwarding::default(),
            rejects: MemoryRejects::default(),
            clock: FixedClock::at(t("10T12:00:00")),
            config: ManageConfig::default(),
        }
    }

    fn service(&self) -> Management<'_> {
        Management {
            admin: &self.store,
            store: &self.store,
            history: &self.store,
            records: &self.sink,
            buckets: &self.bucket,
            workers: &self.workers,
            principals: &self.principals,
            events: &self.events,
            forwarding: Some(&self.forwarding),
            rejects: Some(&self.rejects),
            clock: &self.clock,
            config: &self.config,
        }
    }

    async fn created(&self, name: &str) -> crate::model::Connection {
        self.service().create(input(name)).await.expect("creating").connection
    }

    fn stored(&self, id: &str) -> crate::model::Connection {
        self.store.connections.lock().unwrap()[id].clone()
    }

    /// Records an outcome as a run does (the connection's count of open failures moves with it).
    async fn outcome(&self, id: &str, key: &str, status: FileStatus, run: &str) {
        self.record(id, outcome(key, status, run)).await;
    }

    async fn record(&self, id: &str, outcome: FileOutcome) {
        self.store.record_outcome(id, &outcome, t("30T00:00:00")).await.expect("recording");
    }
}

fn outcome(key: &str, status: FileStatus, run: &str) -> FileOutcome {
    FileOutcome {
        key: key.into(),
        etag: "e1".into(),
        size: 10,
        last_modified: t("09T00:00:00"),
        status,
        reason: None,
        rows_read: 1,
        rows_imported: 1,
        rows_rejected: 0,
        rows_not_imported: 0,
        row_errors: vec![],
        duration_ms: 1,
        run_id: run.into(),
        finished_at: t("09T00:00:01"),
        recheck: None,
        replaces: None,
        dismissed_at: None,
        drift: Default::default(),
        rejects: None,
        rejects_url: None,
    }
}

fn input(name: &str) -> ConnectionInput {
    ConnectionInput {
        tenant: "acme".into(),
        name: name.into(),
        account_id: "123456789012".into(),
        bucket: "acme-exports".into(),
        region: "eu-west-1".into(),
        folder: Some("in".into()),
        template_id: "tpl".into(),
        kms_key_arn: None,
        open_fields: Vec::new(),
        mode: Default::default(),
    }
}

fn fields(e: &ManageError) -> Vec<&str> {
    match e {
        ManageError::Invalid(errors) => errors.iter().map(|e| e.field.as_str()).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn create_checks_every_field_first_and_returns_the_roles_documents() {
    let w = World::new();
    let bad = ConnectionInput { account_id: "123".into(), bucket: "Not_A_Bucket".into(), ..input("") };
    let e = w.service().create(bad).await.unwrap_err();
    assert_eq!(fields(&e), ["name", "account_id", "bucket"], "{e}");
    assert!(w.store.connections.lock().unwrap().is_empty(), "nothing saved");

    let unknown = ConnectionInput { template_id: "nope".into(), ..input("acme") };
    let e = w.service().create(unknown).await.unwrap_err();
    assert_eq!(fields(&e), ["template"]);
    assert!(e.to_string().contains("templates put"), "says how to make one: {e}");

    let created = w.service().create(input("acme")).await.unwrap();
    assert_eq!(created.connection.status, ConnectionStatus::Pending);
    assert_eq!(created.connection.folder.as_deref(), Some("in/"));
    assert_eq!(created.role_arn, format!("arn:aws:iam::123456789012:role/s3-connector-{}", created.connection.id));
    let trust = created.trust_policy.to_string();
    assert!(trust.contains("arn:aws:iam::111122223333:role/worker") && trust.contains(&created.connection.external_id));
    assert!(created.permission_policy.expect("the location is known").to_string().contains("acme-exports"));
    assert_eq!(created.connection.external_id.len(), 64);

    let e = w.service().create(input("acme")).await.unwrap_err();
    assert!(matches!(&e, ManageError::NameTaken(name) if name == "acme"), "{e:?}");
}

#[tokio::test]
async fn an_edit_is_all_or_nothing_and_says_what_conflicts() {
    let w = World::new();
    let acme = w.created("acme").await;
    w.created("globex").await;
    let both_bad = ConnectionChange {
        name: Some("\u{7}".into()),
        overlap_hours: Some(Some(MAX_OVERLAP_HOURS + 1)),
        ..ConnectionChange::default()
    };
    let e = w.service().edit(&acme.id, both_bad).await.unwrap_err();
    assert_eq!(fields(&e), ["name", "overlap_hours"]);
    let half_bad = ConnectionChange {
        name: Some("renamed".into()),
        template_id: Some("nope".into()),
        ..ConnectionChange::default()
    };
    assert_eq!(fields(&w.service().edit(&acme.id, half_bad).await.unwrap_err()), ["template"]);
    assert_eq!(w.stored(&acme.id).name, "acme", "nothing changed");

    let taken = ConnectionChange { name: Some("globex".into()), ..ConnectionChange::default() };
    let e = w.service().edit(&acme.id, taken).await.unwrap_err();
    assert!(matches!(&e, ManageError::Conflict(m) if m.contains("'globex'")), "{e:?}");

    let change = ConnectionChange {
        name: Some("  acme 2 ".into()),
        overlap_hours: Some(Some(6)),
        ..ConnectionChange::default()
    };
    let edited = w.service().edit(&acme.id, change).await.unwrap();
    assert_eq!((edited.name.as_str(), edited.overlap_seconds), ("acme 2", Some(6 * 3600)));
    let back = ConnectionChange { overlap_hours: Some(None), ..ConnectionChange::default() };
    assert_eq!(w.service().edit(&acme.id, back).await.unwrap().overlap_seconds, None);
}

#[tokio::test]
async fn a_scan_interval_keeps_to_the_times_of_day_and_daily_is_stored_as_none() {
    let w = World::new();
    let acme = w.created("acme").await;
    let every = |hours| ConnectionChange { scan_every_hours: Some(hours), ..ConnectionChange::default() };
    for refused in [0, 5, 7, 25, 36, 169, 336] {
        let e = w.service().edit(&acme.id, every(Some(refused))).await.unwrap_err();
        assert_eq!(fields(&e), ["scan_every_hours"], "{refused}");
    }
    for taken in [1, 2, 3, 4, 6, 8, 12, 48, 72, 168] {
        assert_eq!(w.service().edit(&acme.id, every(Some(taken))).await.unwrap().scan_every_hours, Some(taken));
    }
    assert_eq!(w.service().edit(&acme.id, every(Some(24))).await.unwrap().scan_every_hours, None, "daily");
    w.service().edit(&acme.id, every(Some(6))).await.unwrap();
    assert_eq!(w.service().edit(&acme.id, every(None)).await.unwrap().scan_every_hours, None);
}

#[tokio::test]
async fn pausing_twice_is_fine_and_resume_says_what_a_connection_needs_instead() {
    let w = World::new();
    let c = w.created("acme").await;
    let e = w.service().resume(&c.id).await.unwrap_err();
    assert!(e.to_string().contains("activate it"), "{e}");
    let e = w.service().pause(&c.id).await.unwrap_err();
    assert!(e.to_string().contains("until it is activated"), "a pending connection is not paused: {e}");
    w.store.change_status(&c.id, ConnectionStatus::Pending, ConnectionStatus::Active).await.unwrap();
    assert_eq!(w.service().pause(&c.id).await.unwrap().status, ConnectionStatus::Paused);
    assert_eq!(w.service().pause(&c.id).await.unwrap().status, ConnectionStatus::Paused, "a second pause is no error");
    let e = w.service().sync_now(&c.id).await.unwrap_err();
    assert!(e.to_string().contains("is paused; resume it first"), "{e}");
    assert_eq!(w.service().resume(&c.id).await.unwrap().status, ConnectionStatus::Active);
    assert_eq!(
        w.service().resume(&c.id).await.unwrap().status,
        ConnectionStatus::Active,
        "resuming again changes nothing"
    );
    w.store.change_status(&c.id, ConnectionStatus::Active, ConnectionStatus::NeedsReauth).await.unwrap();
    let e = w.service().resume(&c.id).await.unwrap_err();
    assert!(e.to_string().contains("re-authenticate it"), "{e}");
    let e = w.service().pause(&c.id).await.unwrap_err();
    assert!(e.to_string().contains("until it is re-authenticated"), "pause cannot skip re-authentication: {e}");

    // Each change an operator made is announced once, with its reason; what changed nothing is not.
    let changes: Vec<_> = w
        .events
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| match e {
            crate::events::Event::ConnectionStatusChanged(c) => (c.from, c.to, c.reason.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    use ConnectionStatus::{Active, Paused};
    assert_eq!(changes, [(Active, Paused, "paused_by_operator"), (Paused, Active, "resumed")]);
}

#[tokio::test]
async fn activation_checks_access_then_starts_the_first_import() {
    let w = World::new();
    let c = w.created("acme").await;
    *w.bucket.deny.lock().unwrap() = Some(crate::ports::SourceErrorKind::AccessDenied);
    let e = w.service().activate(&c.id).await.unwrap_err();
    assert!(matches!(e, ManageError::Access(_)), "{e:?}");
    assert_eq!(w.stored(&c.id).status, ConnectionStatus::Pending, "still pending");
    assert!(w.workers.requests.lock().unwrap().is_empty());

    *w.bucket.deny.lock().unwrap() = None;
    w.bucket.put("in/a.csv", "e1", t("09T00:00:00"), b"id,amount\n1,2\n");
    let activated = w.service().activate(&c.id).await.unwrap();
    assert_eq!(activated.connection.status, ConnectionStatus::Active);
    assert_eq!(activated.access.readable(), 1);
    let requests = w.workers.requests.lock().unwrap().clone();
    assert_eq!(requests.iter().map(|r| r.connection_id.as_str()).collect::<Vec<_>>(), [c.id.as_str()]);
    let e = w.service().activate(&c.id).await.unwrap_err();
    assert!(matches!(&e, ManageError::Conflict(m) if m == "connection is active, not pending"), "{e:?}");
}

#[tokio::test]
async fn a_preview_sample_is_named_by_its_whole_key() {
    let w = World::new();
    let c = w.created("acme").await;
    w.bucket.put("in/a.csv", "e1", t("09T00:00:00"), b"id,amount\n1,2.50\n");
    let preview = w.service().preview(&c.id, 10, Some("in/a.csv"), 5).await.unwrap();
    assert_eq!(preview.objects.len(), 1);
    let sample = preview.sample.expect("a sample");
    assert_eq!((sample.rows.len(), sample.file_error), (1, None));
    let e = w.service().preview(&c.id, 10, Some("a.csv"), 5).await.unwrap_err();
    assert_eq!(fields(&e), ["sample"]);
    assert!(e.to_string().contains("whole key") && e.to_string().contains("'in/a.csv'"), "{e}");
}

/// A sample read by ranges (Parquet) fails as one read as a body does: an object that cannot be read
/// at all is the preview's error at the level of a body that cannot be opened, not the sample's.
#[tokio::test]
async fn a_parquet_sample_that_cannot_be_read_fails_the_preview_as_a_body_would() {
    let w = World::new();
    let c = w.created("acme").await;
    // One object readable, so that the access check passes and the sample's own read is what fails.
    w.bucket.put("in/ok.csv", "e0", t("09T00:00:00"), b"id,amount\n1,2.50\n");
    w.bucket.put("in/a.csv", "e1", t("09T00:00:00"), b"id,amount\n1,2.50\n");
    w.bucket.unreadable.lock().unwrap().insert("in/a.csv".into(), SourceErrorKind::ObjectDenied);
    let as_body = w.service().preview(&c.id, 10, Some("in/a.csv"), 5).await.unwrap_err().to_string();
    let parquet = TEMPLATE.replace(r#"{"type": "csv"}"#, r#"{"type": "parquet"}"#);
    w.store.save_template(Template::from_json(&parquet).unwrap());
    w.bucket.objects.lock().unwrap().remove("in/a.csv");
    w.bucket.put("in/a.parquet", "e2", t("09T00:00:00"), b"PAR1 not really");
    w.bucket.unreadable.lock().unwrap().insert("in/a.parquet".into(), SourceErrorKind::ObjectDenied);
    let by_ranges = w.service().preview(&c.id, 10, Some("in/a.parquet"), 5).await.unwrap_err().to_string();
    assert!(as_body.contains("reading in/a.csv: denied by the test"), "{as_body}");
    assert_eq!(by_ranges.replace("a.parquet", "a.csv"), as_body);
    // Readable, the same object is the sample's error: it is no Parquet file.
    w.bucket.unreadable.lock().unwrap().clear();
    let preview = w.service().preview(&c.id, 10, Some("in/a.parquet"), 5).await.unwrap();
    let error = preview.sample.unwrap().file_error.unwrap();
    assert!(error.starts_with("before any row was read: not a Parquet file"), "{error}");
}

#[tokio::test]
async fn show_keeps_failed_files_of_earlier_runs_in_view() {
    let w = World::new();
    let c = w.created("acme").await;
    w.outcome(&c.id, "in/old.csv", FileStatus::Failed, "run-1").await;
    w.outcome(&c.id, "in/new.csv", FileStatus::Imported, "run-2").await;
    w.store.connections.lock().unwrap().get_mut(&c.id).unwrap().sync.last_run_id = Some("run-2".into());
    let shown = w.service().show(&c.id, 5).await.unwrap();
    let keys = |files: &[FileOutcome]| files.iter().map(|o| o.key.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&shown.last_run_files), ["in/new.csv"]);
    assert_eq!(keys(&shown.failed_files), ["in/old.csv"], "a failed file stays in view until imported");
    assert_eq!(shown.role_arn, c.role_arn());
}

#[tokio::test]
async fn retry_asks_for_failed_files_and_refuses_imported_ones() {
    let w = World::new();
    let c = w.created("acme").await;
    w.outcome(&c.id, "in/bad.csv", FileStatus::Failed, "run-1").await;
    w.outcome(&c.id, "in/good.csv", FileStatus::Imported, "run-1").await;
    let asked = w.service().retry_files(&c.id, FileSelection::Failed).await.unwrap();
    assert_eq!(asked.asked, ["in/bad.csv"]);
    let keys = vec!["in/good.csv".to_owned(), "in/never.csv".to_owned()];
    let asked = w.service().retry_files(&c.id, FileSelection::Keys(keys.clone())).await.unwrap();
    assert_eq!((asked.refused.len(), asked.not_found.as_slice()), (1, ["in/never.csv".to_owned()].as_slice()));
    let asked = w.service().reimport(&c.id, keys).await.unwrap();
    assert_eq!(asked.asked, ["in/good.csv"]);
    assert!(w.store.outcome(&c.id, "in/good.csv").unwrap().recheck.is_some());
    let e = w.service().reimport(&c.id, vec![]).await.unwrap_err();
    assert_eq!(fields(&e), ["keys"]);
}

#[tokio::test]
async fn open_failures_are_counted_listed_and_dismissed() {
    let w = World::new();
    let c = w.created("acme").await;
    w.outcome(&c.id, "in/bad.csv", FileStatus::Failed, "run-1").await;
    w.outcome(&c.id, "in/worse.csv", FileStatus::Failed, "run-1").await;
    w.outcome(&c.id, "in/good.csv", FileStatus::Imported, "run-1").await;
    let listed = w.service().connections(None).await.unwrap();
    assert_eq!(listed[0].failed_files, 2, "the list carries the count");

    let keys = vec!["in/bad.csv".to_owned(), "in/good.csv".to_owned(), "in/never.csv".to_owned()];
    let answer = w.service().dismiss_files(&c.id, FileSelection::Keys(keys)).await.unwrap();
    assert_eq!(
        (answer.dismissed.as_slice(), answer.not_found.as_slice()),
        (["in/bad.csv".to_owned()].as_slice(), ["in/never.csv".to_owned()].as_slice())
    );
    assert_eq!(
        answer.refused.iter().map(|r| (r.key.as_str(), r.reason.as_str())).collect::<Vec<_>>(),
        [("in/good.csv", "not failed: its outcome is imported")]
    );
    let shown = w.service().show(&c.id, 5).await.unwrap();
    assert_eq!(shown.connection.failed_files, 1);
    assert_eq!(
        shown.failed_files.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        ["in/worse.csv"],
        "a dismissed failure leaves the view"
    );
    let failed = w.service().files_page(&c.id, true, 10, None).await.unwrap();
    assert_eq!(failed.items.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["in/worse.csv"]);
    let all = w.service().files(&c.id).await.unwrap();
    let bad = all.iter().find(|o| o.key == "in/bad.csv").expect("kept in files");
    assert_eq!((bad.status, bad.dismissed_at), (FileStatus::Failed, Some(w.clock.now())));
    let asked = w.service().retry_files(&c.id, FileSelection::Failed).await.unwrap();
    assert_eq!(asked.asked, ["in/worse.csv"], "retry --failed leaves dismissed failures alone");

    let again = w.service().dismiss_files(&c.id, FileSelection::Keys(vec!["in/bad.csv".into()])).await.unwrap();
    assert_eq!(
        (again.dismissed.as_slice(), again.refused.len()),
        (["in/bad.csv".to_owned()].as_slice(), 0),
        "again: done"
    );
    assert_eq!(w.stored(&c.id).failed_files, 1, "and counted once");
    let rest = w.service().dismiss_files(&c.id, FileSelection::Failed).await.unwrap();
    assert_eq!((rest.dismissed.as_slice(), w.stored(&c.id).failed_files), (["in/worse.csv".to_owned()].as_slice(), 0));
    let e = w.service().dismiss_files(&c.id, FileSelection::Keys(vec![])).await.unwrap_err();
    assert_eq!(fields(&e), ["keys"]);
    let e = w.service().dismiss_files("nope", FileSelection::Failed).await.unwrap_err();
    assert!(matches!(e, ManageError::NotFound { .. }), "{e:?}");
}

#[tokio::test]
async fn show_tells_the_lag_from_the_newest_import() {
    let w = World::new();
    let c = w.created("acme").await;
    assert_eq!(w.service().show(&c.id, 1).await.unwrap().lag_seconds, None, "nothing imported yet");
    w.store.connections.lock().unwrap().get_mut(&c.id).unwrap().sync.newest_imported = Some(t("10T09:00:00"));
    assert_eq!(w.service().show(&c.id, 1).await.unwrap().lag_seconds, Some(3 * 3600), "the clock is at 12:00");
}

#[tokio::test]
async fn a_recount_repairs_the_count_but_not_while_a_sync_runs() {
    let w = World::new();
    let c = w.created("acme").await;
    w.outcome(&c.id, "in/bad.csv", FileStatus::Failed, "run-1").await;
    w.store.connections.lock().unwrap().get_mut(&c.id).unwrap().failed_files = 7;
    let now = w.clock.now();
    w.store.acquire_lease(&c.id, "run-2", now, now + TimeDelta::minutes(2), None).await.unwrap();
    let e = w.service().recount_failures(&c.id).await.unwrap_err();
    assert!(matches!(&e, ManageError::Conflict(m) if m.contains("run-2") && m.contains("count again")), "{e:?}");
    assert_eq!(w.stored(&c.id).failed_files, 7, "unchanged");
    w.store.release_lease(&c.id, "run-2").await.unwrap();
    assert_eq!(w.service().recount_failures(&c.id).await.unwrap().failed_files, 1);
    let lease = w.store.acquire_lease(&c.id, "run-3", now, now + TimeDelta::minutes(2), None).await.unwrap();
    assert_eq!(lease, Lease::Acquired, "the recount let its lease go");
}

#[tokio::test]
async fn show_lists_the_newest_open_failures_and_counts_them_all() {
    let w = World::new();
    let c = w.created("acme").await;
    for i in 0..super::connections::SHOWN_FAILURES + 5 {
        let failed = outcome(&format!("in/{i:03}.csv"), FileStatus::Failed, "run-1");
        w.record(&c.id, FileOutcome { finished_at: t("09T00:00:00") + TimeDelta::seconds(i as i64), ..failed }).await;
    }
    let shown = w.service().show(&c.id, 5).await.unwrap();
    assert_eq!(shown.connection.failed_files, super::connections::SHOWN_FAILURES as u64 + 5);
    assert_eq!(shown.failed_files.len(), super::connections::SHOWN_FAILURES);
    assert_eq!(shown.failed_files[0].key, "in/024.csv", "newest first");
}

#[tokio::test]
async fn delete_waits_for_a_running_sync_and_says_what_it_purged_and_kept() {
    let w = World::new();
    let c = w.created("acme").await;
    let now = w.clock.now();
    let held = w.store.acquire_lease(&c.id, "run-1", now, now + TimeDelta::minutes(2), None).await.unwrap();
    assert_eq!(held, Lease::Acquired);
    let e = w.service().delete(&c.id, false).await.unwrap_err();
    assert!(matches!(&e, ManageError::Conflict(m) if m.contains("run-1")), "{e:?}");
    w.store.release_lease(&c.id, "run-1").await.unwrap();

    w.sink.records.lock().unwrap().insert((c.id.clone(), "payment#1".into()), vec![]);
    w.sink.records.lock().unwrap().insert(("other".into(), "payment#1".into()), vec![]);
    w.outcome(&c.id, "in/a.csv", FileStatus::Imported, "run-1").await;
    w.store.runs.lock().unwrap().push(SyncRun {
        run_id: "run-1".into(),
        connection_id: c.id.clone(),
        path: crate::model::RunPath::Scan,
        template: None,
        backfill_since: None,
        started_at: t("09T00:00:00"),
        finished_at: t("09T00:00:01"),
        result: crate::model::SyncResult::Succeeded,
        counts: Default::default(),
        error: None,
        watermark_before: None,
        watermark_after: None,
        newest_imported: None,
        first_failures: vec![],
    });
    let deleted = w.service().delete(&c.id, false).await.unwrap();
    assert_eq!((deleted.records_purged, deleted.records_kept), (0, Some(1)));
    assert!(w.store.connections.lock().unwrap().is_empty());
    assert!(w.store.outcomes.lock().unwrap().is_empty() && w.store.runs.lock().unwrap().is_empty());
    assert_eq!(w.service().records_page(&c.id, 10, None).await.unwrap().records.len(), 1, "records outlive it");

    let c = w.created("acme").await;
    w.sink.records.lock().unwrap().insert((c.id.clone(), "payment#2".into()), vec![]);
    let deleted = w.service().delete(&c.id, true).await.unwrap();
    assert_eq!((deleted.records_purged, deleted.records_kept), (1, Some(0)));
    assert_eq!(w.sink.records.lock().unwrap().len(), 2, "other connections' records stay");
}

#[tokio::test]
async fn records_come_back_page_by_page_and_a_foreign_token_is_the_callers_error() {
    let w = World::new();
    let c = w.created("acme").await;
    for i in 0..5 {
        w.sink.records.lock().unwrap().insert((c.id.clone(), format!("payment#{i}")), vec![]);
    }
    let first = w.service().records_page(&c.id, 3, None).await.unwrap();
    let second = w.service().records_page(&c.id, 3, first.next.as_deref()).await.unwrap();
    assert_eq!((first.records.len(), second.records.len(), second.next), (3, 2, None));
    let e = w.service().records_page(&c.id, 3, Some("forged")).await.unwrap_err();
    assert_eq!(fields(&e), ["after"]);
    let e = w.service().records_page("nope", 3, None).await.unwrap_err();
    assert!(matches!(e, ManageError::NotFound { what: "connection", .. }), "{e:?}");
}

#[tokio::test]
async fn templates_are_validated_versioned_and_kept_while_used() {
    let w = World::new();
    let e = w.service().put_template(r#"{"id": "t2", "record_type": "p", "format": {"type": "csv"}, "columns": [{"source": "a", "field": "a", "type": "enum"}]}"#, None).await.unwrap_err();
    assert_eq!(fields(&e), ["columns[0].values"]);
    let e = w.service().put_template(TEMPLATE, Some("other")).await.unwrap_err();
    assert_eq!(fields(&e), ["id"]);
    assert_eq!(w.service().put_template(TEMPLATE, Some("tpl")).await.unwrap().version, 2);
    assert_eq!(w.service().template("tpl", Some(1)).await.unwrap().version, 1);
    let c = w.created("acme").await;
    let e = w.service().delete_template("tpl").await.unwrap_err();
    assert!(matches!(&e, ManageError::Conflict(m) if m.contains("acme")), "{e:?}");
    w.service().delete(&c.id, false).await.unwrap();
    w.service().delete_template("tpl").await.unwrap();
    assert!(w.service().templates().await.unwrap().is_empty());
    assert!(matches!(w.service().template("tpl", None).await, Err(ManageError::NotFound { .. })));
}

#[tokio::test]
async fn a_backfill_in_the_future_is_refused_and_one_in_the_past_is_kept() {
    let w = World::new();
    let c = w.created("acme").await;
    let e = w.service().backfill(&c.id, t("11T00:00:00")).await.unwrap_err();
    assert_eq!(fields(&e), ["since"]);
    let since = recovery::parse_since("2026-06-01").unwrap();
    assert_eq!(w.service().backfill(&c.id, since).await.unwrap().backfill_since, Some(t("01T00:00:00")));
    assert_eq!(fields(&recovery::parse_since("June").unwrap_err()), ["since"]);
}

#[tokio::test]
async fn lists_come_page_by_page_from_where_the_last_page_ended() {
    let w = World::new();
    let mut names = Vec::new();
    for name in ["delta", "alpha", "charlie", "bravo", "echo"] {
        names.push(w.created(name).await.name);
    }
    let first = w.service().connections_page(None, 2, None).await.unwrap();
    assert_eq!(first.items.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["alpha", "bravo"]);
    // A connection added meanwhile before the cursor is not shown again, nor one skipped.
    w.created("aardvark").await;
    let second = w.service().connections_page(None, 2, first.next.as_deref()).await.unwrap();
    assert_eq!(second.items.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["charlie", "delta"]);
    let third = w.service().connections_page(None, 2, second.next.as_deref()).await.unwrap();
    assert_eq!((third.items.len(), third.next), (1, None));
    for forged in ["zz", "aéb", "+a", "abc"] {
        let e = w.service().connections_page(None, 2, Some(forged)).await.unwrap_err();
        assert_eq!(fields(&e), ["after"], "{forged}");
    }

    let c = &first.items[0];
    w.outcome(&c.id, "in/b.csv", FileStatus::Failed, "run-1").await;
    w.outcome(&c.id, "in/a.csv", FileStatus::Imported, "run-1").await;
    w.outcome(&c.id, "in/c.csv", FileStatus::Failed, "run-1").await;
    let failed = w.service().files_page(&c.id, true, 1, None).await.unwrap();
    assert_eq!(failed.items[0].key, "in/b.csv");
    let rest = w.service().files_page(&c.id, true, 1, failed.next.as_deref()).await.unwrap();
    assert_eq!((rest.items[0].key.as_str(), rest.next), ("in/c.csv", None));
}

#[tokio::test]
async fn a_tenant_sees_its_own_connections_only_and_another_tenants_are_not_found() {
    let w = World::new();
    let ours = w.created("payments").await;
    let theirs = w.service().create(ConnectionInput { tenant: "globex".into(), ..input("payments") }).await;
    let theirs = theirs.expect("the same name in another tenant").connection;

    let found = w.service().connection_in_tenant("acme", &ours.id).await.expect("our own");
    assert_eq!(found.id, ours.id);
    let hidden = w.service().connection_in_tenant("acme", &theirs.id).await.unwrap_err();
    let unknown = w.service().connection_in_tenant("acme", "no-such-id").await.unwrap_err();
    assert!(matches!(hidden, ManageError::NotFound { .. }), "{hidden:?}");
    assert_eq!(
        hidden.to_string().replace(&theirs.id, "ID"),
        unknown.to_string().replace("no-such-id", "ID"),
        "another tenant's connection is told apart from an unknown id by nothing"
    );
    let bad = w.service().connection_in_tenant("ac#me", &ours.id).await.unwrap_err();
    assert_eq!(fields(&bad), ["tenant"]);

    let listed = w.service().connections(Some("acme")).await.unwrap();
    assert_eq!(listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [ours.id.as_str()]);
    let page = w.service().connections_page(Some("globex"), 10, None).await.unwrap();
    assert_eq!((page.items.len(), page.items[0].id.as_str(), page.next), (1, theirs.id.as_str(), None));
    assert_eq!(w.service().connections(None).await.unwrap().len(), 2, "the platform's list has both");
    assert_eq!(fields(&w.service().connections_page(Some(""), 10, None).await.unwrap_err()), ["tenant"]);

    let clash = w.service().create(ConnectionInput { tenant: "globex".into(), ..input("payments") }).await;
    assert!(matches!(clash, Err(ManageError::NameTaken(_))), "{clash:?}");
    let e = w.service().create(ConnectionInput { tenant: " ".into(), ..input("x") }).await.unwrap_err();
    assert_eq!(fields(&e), ["tenant"]);
}

#[tokio::test]
async fn a_tenants_list_comes_page_by_page_by_name() {
    let w = World::new();
    for name in ["delta", "alpha", "charlie", "bravo", "echo"] {
        w.created(name).await;
    }
    w.service().create(ConnectionInput { tenant: "globex".into(), ..input("aardvark") }).await.unwrap();
    let names = |page: &Page<crate::model::Connection>| page.items.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let first = w.service().connections_page(Some("acme"), 2, None).await.unwrap();
    assert_eq!(names(&first), ["alpha", "bravo"]);
    let second = w.service().connections_page(Some("acme"), 2, first.next.as_deref()).await.unwrap();
    assert_eq!(names(&second), ["charlie", "delta"]);
    let third = w.service().connections_page(Some("acme"), 2, second.next.as_deref()).await.unwrap();
    assert_eq!((names(&third), third.next), (vec!["echo".to_owned()], None));
    let e = w.service().connections_page(Some("acme"), 2, Some("zz")).await.unwrap_err();
    assert_eq!(fields(&e), ["after"]);
}

#[tokio::test]
async fn connections_without_a_tenant_are_given_one_once() {
    let w = World::new();
    let legacy = |id: &str, name: &str| {
        let mut c = crate::conformance::unsaved(id, ConnectionStatus::Active);
        (c.tenant, c.name) = (String::new(), name.to_owned());
        w.store.connections.lock().unwrap().insert(c.id.clone(), c);
    };
    legacy("old-1", "payments");
    legacy("old-2", "customers");
    let kept = w.created("customers").await;

    let done = w.service().assign_tenant("acme").await.unwrap();
    assert_eq!(done.assigned, [NamedConnection { id: "old-1".into(), name: "payments".into() }]);
    assert_eq!(done.refused.len(), 1, "{done:?}");
    assert_eq!(done.refused[0].connection.id, "old-2");
    assert!(done.refused[0].reason.contains("tenant 'acme' has a connection named 'customers'"), "{done:?}");
    assert_eq!(w.stored("old-1").tenant, "acme");
    assert!(w.stored("old-2").lacks_tenant());
    assert_eq!(w.stored(&kept.id).tenant, "acme");

    let again = w.service().assign_tenant("acme").await.unwrap();
    assert!(again.assigned.is_empty(), "nothing moves twice: {again:?}");
    assert_eq!(again.refused.len(), 1, "the clash is still said");
    let e = w.service().assign_tenant("a b").await.unwrap_err();
    assert_eq!(fields(&e), ["tenant"]);
}

/// A connection of `input(name)` in `mode`, created and activated (its bucket holds one file).
async fn activated_in(w: &World, name: &str, mode: SyncMode) -> Result<Connection, ManageError> {
    let created = w.service().create(ConnectionInput { mode, ..input(name) }).await.expect("creating");
    w.bucket.put("in/a.csv", "e1", t("09T00:00:00"), b"id,amount\n1,2\n");
    w.service().activate(&created.connection.id).await.map(|a| a.connection)
}

#[tokio::test]
async fn activating_an_events_connection_lets_its_account_onto_the_bus_and_a_scheduled_one_does_not() {
    let w = World::new();
    activated_in(&w, "nightly", SyncMode::Scheduled).await.expect("activating a scheduled connection");
    assert!(w.forwarding.accounts().is_empty(), "a scheduled connection forwards nothing");

    let events = activated_in(&w, "acme", SyncMode::Events).await.expect("activating an events connection");
    assert_eq!(events.status, ConnectionStatus::Active);
    assert_eq!(w.forwarding.accounts(), ["123456789012"]);
    let statements: Vec<String> = w.forwarding.statements.lock().unwrap().keys().cloned().collect();
    assert_eq!(statements, ["s3c-account-123456789012"], "one statement, named after the account");
}

#[tokio::test]
async fn switching_an_activated_connection_to_events_lets_its_account_on_and_a_pending_ones_waits_for_activation() {
    let w = World::new();
    let to_events = || ConnectionChange { mode: Some(SyncMode::Events), ..ConnectionChange::default() };
    let pending = w.created("pending").await;
    w.service().edit(&pending.id, to_events()).await.expect("switching a pending connection");
    assert!(w.forwarding.accounts().is_empty(), "a pending connection's account is let on at its activation");

    let active = activated_in(&w, "acme", SyncMode::Scheduled).await.expect("activating");
    assert!(w.forwarding.accounts().is_empty());
    let edited = w.service().edit(&active.id, to_events()).await.expect("switching an active connection");
    assert_eq!(edited.mode, SyncMode::Events);
    assert_eq!(w.forwarding.accounts(), ["123456789012"]);
}

#[tokio::test]
async fn a_bus_that_refuses_the_account_leaves_the_connection_as_it_was_and_says_so() {
    let w = World::new();
    *w.forwarding.fail.lock().unwrap() = true;
    let e = activated_in(&w, "acme", SyncMode::Events).await.unwrap_err();
    let said = e.to_string();
    assert!(matches!(e, ManageError::Store(_)), "{e:?}");
    for part in ["account 123456789012", "object event bus", "was not activated", "the bus refused"] {
        assert!(said.contains(part), "{part:?} in {said}");
    }
    let acme = w.store.connections.lock().unwrap().values().find(|c| c.name == "acme").cloned().expect("created");
    assert_eq!(acme.status, ConnectionStatus::Pending, "still pending");
    assert!(w.workers.requests.lock().unwrap().is_empty(), "no import started");

    *w.forwarding.fail.lock().unwrap() = false;
    let active = activated_in(&w, "globex", SyncMode::Scheduled).await.expect("a scheduled connection needs no bus");
    *w.forwarding.fail.lock().unwrap() = true;
    let to_events = ConnectionChange { mode: Some(SyncMode::Events), ..ConnectionChange::default() };
    let e = w.service().edit(&active.id, to_events).await.unwrap_err();
    assert!(e.to_string().contains("was not switched to events mode"), "{e}");
    assert_eq!(w.stored(&active.id).mode, SyncMode::Scheduled, "the mode is unchanged");
    assert!(w.forwarding.accounts().is_empty());

    // A policy at its size limit is no outage: a conflict the operator must resolve, said as such.
    *w.forwarding.fail.lock().unwrap() = false;
    *w.forwarding.full.lock().unwrap() = true;
    let to_events = ConnectionChange { mode: Some(SyncMode::Events), ..ConnectionChange::default() };
    let e = w.service().edit(&active.id, to_events).await.unwrap_err();
    assert!(matches!(&e, ManageError::Conflict(m) if m.contains("size limit")), "{e:?}");
    assert_eq!(w.stored(&active.id).mode, SyncMode::Scheduled);
}
