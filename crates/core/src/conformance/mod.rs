//! What every `SyncStore` must do, as one suite: run against the in-memory store by this crate's unit
//! tests and against DynamoDB (on moto) by tests/conformance.rs, so the fake the engine's tests rely on
//! behaves as the real store does where it matters: leases, no lost update of a connection's sync
//! state, one sync per scheduled event, the import ledger, checkpoints.

mod management;
pub use management::check_management;

use crate::model::{Checkpoint, Connection, ConnectionStatus, FileOutcome, FileStatus, SyncResult, SyncRun, SyncState};
use crate::ports::{Lease, RunEnd, StoreErrorKind, SyncStore};
use crate::template::Template;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Timelike, Utc};

/// A store under test, with the two things the suite needs beyond `SyncStore`: saving a new
/// connection (as `connections create` does) and an operator's status change (as `pause` does).
#[async_trait]
pub trait StoreUnderTest: SyncStore {
    async fn save_connection(&self, connection: &Connection, template: &Template);
    async fn set_status_as_operator(&self, connection_id: &str, status: ConnectionStatus);
    /// Saves a template as its next version (as `templates put` does).
    async fn save_template_version(&self, template: &Template);
    /// An operator asks for an object to be decided again (as `files retry` does).
    async fn ask_again(&self, connection_id: &str, key: &str, at: DateTime<Utc>);
}

/// Runs every case; connection ids start with `prefix`, so the suite can share a store with others.
pub async fn check_store(store: &impl StoreUnderTest, prefix: &str) {
    leases_exclude_other_owners_until_they_expire(store, &format!("{prefix}-lease")).await;
    two_writers_of_a_sync_state_lose_no_update(store, &format!("{prefix}-writers")).await;
    an_operators_status_change_during_a_run_stands(store, &format!("{prefix}-operator")).await;
    a_scheduled_event_runs_once(store, &format!("{prefix}-schedule")).await;
    the_ledger_is_per_connection_and_keeps_the_latest_etag(store, &format!("{prefix}-ledger")).await;
    a_hand_over_saves_the_checkpoint_and_frees_the_lease(store, &format!("{prefix}-checkpoint")).await;
    two_owners_asking_at_once_get_one_lease(store, &format!("{prefix}-race")).await;
    only_the_holder_renews_or_lets_go(store, &format!("{prefix}-renew")).await;
    saved_template_versions_stay_readable(store).await;
    due_rechecks_come_back_by_time(store, &format!("{prefix}-rechecks")).await;
    kept_keys_are_per_connection_replace_themselves_and_are_forgotten_as_read(store, &format!("{prefix}-kept")).await;
}

async fn only_the_holder_renews_or_lets_go(store: &impl StoreUnderTest, id: &str) {
    connection(store, id, ConnectionStatus::Active).await;
    let now = now();
    assert_eq!(acquire(store, id, "a", 60).await, Lease::Acquired);
    assert!(!store.renew_lease(id, "b", now, now + TimeDelta::seconds(60)).await.unwrap(), "b does not hold it");
    let later = now + TimeDelta::seconds(10);
    assert!(store.renew_lease(id, "a", later, later + TimeDelta::seconds(60)).await.unwrap());
    match acquire(store, id, "b", 60).await {
        Lease::Held { owner, until, renewed } => {
            assert_eq!((owner.as_str(), until, renewed), ("a", later + TimeDelta::seconds(60), Some(later)));
        }
        other => panic!("expected the lease held by a: {other:?}"),
    }
    store.release_lease(id, "b").await.unwrap();
    assert!(matches!(acquire(store, id, "b", 60).await, Lease::Held { .. }), "b cannot let a's lease go");
    store.release_lease(id, "a").await.unwrap();
    assert!(!store.renew_lease(id, "a", now, now + TimeDelta::seconds(60)).await.unwrap(), "a let go: no renewal");
    assert_eq!(acquire(store, id, "b", 60).await, Lease::Acquired, "a let go: b takes it at once");
    store.release_lease(id, "a").await.expect("letting go of a lease one does not hold does nothing");
}

/// A run reads with the version it began with, even after a newer one is saved.
async fn saved_template_versions_stay_readable(store: &impl StoreUnderTest) {
    let id = "conformance";
    let (current, version) = store.template(id, None).await.unwrap().expect("the suite's template is saved");
    assert!(version >= 1);
    assert_eq!(store.template(id, Some(version)).await.unwrap(), Some((current.clone(), version)));
    let mut newer = current.clone();
    newer.record_type = format!("r{}", version + 1);
    store.save_template_version(&newer).await;
    assert_eq!(store.template(id, None).await.unwrap(), Some((newer, version + 1)));
    assert_eq!(store.template(id, Some(version)).await.unwrap(), Some((current, version)), "the old one stays");
    assert_eq!(store.template(id, Some(version + 50)).await.unwrap(), None);
    assert_eq!(store.template("no-such-template", None).await.unwrap(), None);
}

/// Now, in whole seconds: what every store keeps exactly.
fn now() -> DateTime<Utc> {
    Utc::now().with_nanosecond(0).expect("zero nanoseconds")
}

fn template() -> Template {
    Template::from_json(
        r#"{"id": "conformance", "record_type": "r", "format": {"type": "csv"},
            "columns": [{"source": "id", "field": "id", "type": "string", "required": true}]}"#,
    )
    .expect("a valid template")
}

async fn connection(store: &impl StoreUnderTest, id: &str, status: ConnectionStatus) -> Connection {
    let connection = unsaved(id, status);
    store.save_connection(&connection, &template()).await;
    connection
}

/// A connection of tenant `acme` as a create makes it, not saved.
pub(crate) fn unsaved(id: &str, status: ConnectionStatus) -> Connection {
    Connection {
        id: id.to_owned(),
        tenant: "acme".into(),
        name: format!("conformance {id}"),
        account_id: "123456789012".into(),
        bucket: "conformance".into(),
        region: "us-east-1".into(),
        folder: None,
        kms_key_arn: None,
        open_fields: Vec::new(),
        location_filled_at: None,
        link_generation: 0,
        role_name: "s3-connector-conformance".into(),
        external_id: format!("external-{id}"),
        template_id: "conformance".into(),
        status,
        created_at: now(),
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

/// A finished run of `connection` by `run_id`: the connection as the run would write it back.
fn finished(connection: &Connection, run_id: &str, rows: u64, schedule_run: Option<&str>) -> (SyncRun, Connection) {
    let started = now() - TimeDelta::seconds(30);
    let mut run = SyncRun {
        run_id: run_id.to_owned(),
        connection_id: connection.id.clone(),
        path: crate::model::RunPath::Scan,
        started_at: started,
        finished_at: now(),
        result: SyncResult::Succeeded,
        counts: Default::default(),
        error: None,
        template: None,
        backfill_since: None,
        watermark_before: connection.sync.watermark,
        watermark_after: Some(started),
        newest_imported: None,
        first_failures: Vec::new(),
    };
    run.counts.rows_imported = rows;
    let mut after = connection.clone();
    after.sync = SyncState {
        watermark: run.watermark_after,
        last_sync_started: Some(run.started_at),
        last_sync_finished: Some(run.finished_at),
        last_result: Some(run.result),
        last_error: None,
        last_run_id: Some(run_id.to_owned()),
        last_schedule_run: schedule_run.map(str::to_owned),
        last_counts: run.counts.clone(),
        ..SyncState::default()
    };
    (run, after)
}

async fn acquire(store: &impl StoreUnderTest, id: &str, owner: &str, for_seconds: i64) -> Lease {
    let now = now();
    store.acquire_lease(id, owner, now, now + TimeDelta::seconds(for_seconds), None).await.expect("lease call")
}

/// Lets a lease go, as an owner whose run ended (or whose lease ran out) would.
async fn release(store: &impl StoreUnderTest, id: &str, owner: &str) {
    let now = now();
    assert!(store.renew_lease(id, owner, now, now + TimeDelta::seconds(60)).await.unwrap(), "{owner} held {id}");
    store.release_lease(id, owner).await.expect("letting the lease go");
}

async fn stored(store: &impl StoreUnderTest, id: &str) -> Connection {
    store.connection(id).await.expect("read").expect("the connection exists")
}

async fn leases_exclude_other_owners_until_they_expire(store: &impl StoreUnderTest, id: &str) {
    let now = now();
    let unknown = store.acquire_lease(&format!("{id}-unknown"), "a", now, now + TimeDelta::seconds(60), None).await;
    assert!(!matches!(unknown, Ok(Lease::Acquired)), "no lease on no connection: {unknown:?}");
    connection(store, id, ConnectionStatus::Active).await;
    assert_eq!(acquire(store, id, "a", 60).await, Lease::Acquired);
    assert!(matches!(acquire(store, id, "b", 60).await, Lease::Held { ref owner, .. } if owner == "a"));
    assert_eq!(acquire(store, id, "a", 60).await, Lease::Acquired, "the holder renews");
    // The holder crashes: its lease runs out, and another owner takes it.
    release(store, id, "a").await;
    assert_eq!(acquire(store, id, "b", 60).await, Lease::Acquired, "an expired lease is free");
    assert!(matches!(acquire(store, id, "a", 60).await, Lease::Held { ref owner, .. } if owner == "b"));
}

/// A worker that lost its lease (it stalled past the expiry, another took over) cannot write the
/// connection's sync state over the new holder's, before or after the new holder finishes.
async fn two_writers_of_a_sync_state_lose_no_update(store: &impl StoreUnderTest, id: &str) {
    let c = connection(store, id, ConnectionStatus::Active).await;
    assert_eq!(acquire(store, id, "stale", 60).await, Lease::Acquired);
    release(store, id, "stale").await; // it stalled past its lease
    assert_eq!(acquire(store, id, "current", 60).await, Lease::Acquired);
    let (stale_run, stale_after) = finished(&c, "stale-run", 1, None);
    let (run, after) = finished(&c, "current-run", 2, None);

    let end = |run, connection| RunEnd { run, connection, status_before: ConnectionStatus::Active };
    let refused =
        store.finish_run(end(&stale_run, &stale_after), "stale").await.expect_err("a stale finish is refused");
    assert_eq!(refused.kind, StoreErrorKind::Conflict, "{refused}");
    store.finish_run(end(&run, &after), "current").await.expect("the holder finishes");
    let refused = store.finish_run(end(&stale_run, &stale_after), "stale").await.expect_err("still refused");
    assert_eq!(refused.kind, StoreErrorKind::Conflict, "{refused}");
    let again = store.finish_run(end(&run, &after), "current").await.expect_err("a finished run holds no lease");
    assert_eq!(again.kind, StoreErrorKind::Conflict, "{again}");

    let shown = stored(store, id).await;
    assert_eq!(shown.sync, after.sync, "the holder's sync state stands");
    assert_eq!(acquire(store, id, "next", 60).await, Lease::Acquired, "finishing frees the lease");
}

/// A run began on an active connection; an operator paused it meanwhile. Whatever status the run
/// would set, the operator's stands, and the run's sync state is saved beside it.
async fn an_operators_status_change_during_a_run_stands(store: &impl StoreUnderTest, id: &str) {
    for run_sets in [ConnectionStatus::Active, ConnectionStatus::NeedsReauth] {
        let id = format!("{id}-{}", run_sets.as_str());
        let c = connection(store, &id, ConnectionStatus::Active).await;
        assert_eq!(acquire(store, &id, "worker", 60).await, Lease::Acquired);
        store.set_status_as_operator(&id, ConnectionStatus::Paused).await;
        let (run, mut after) = finished(&c, "run", 3, None);
        after.status = run_sets;
        let end = RunEnd { run: &run, connection: &after, status_before: ConnectionStatus::Active };
        let written = store.finish_run(end, "worker").await.expect("the run finishes");
        assert!(!written, "run set {run_sets:?}: the operator's status stands, the run's is not written");
        let shown = stored(store, &id).await;
        assert_eq!(shown.status, ConnectionStatus::Paused, "run set {run_sets:?}");
        assert_eq!(shown.sync, after.sync, "run set {run_sets:?}");
    }
    // With no operator change, the run's own status change is written.
    let id = format!("{id}-unchanged");
    let c = connection(store, &id, ConnectionStatus::Active).await;
    assert_eq!(acquire(store, &id, "worker", 60).await, Lease::Acquired);
    let (run, mut after) = finished(&c, "run", 0, None);
    after.status = ConnectionStatus::NeedsReauth;
    let written = store
        .finish_run(RunEnd { run: &run, connection: &after, status_before: ConnectionStatus::Active }, "worker")
        .await
        .unwrap();
    assert!(written, "the run's own change is written");
    assert_eq!(stored(store, &id).await.status, ConnectionStatus::NeedsReauth);
}

/// EventBridge delivers at least once: the event a connection finished a run for starts no second.
async fn a_scheduled_event_runs_once(store: &impl StoreUnderTest, id: &str) {
    let c = connection(store, id, ConnectionStatus::Active).await;
    let now = now();
    let until = now + TimeDelta::seconds(60);
    assert_eq!(store.acquire_lease(id, "first", now, until, Some("event-1")).await.unwrap(), Lease::Acquired);
    let (run, after) = finished(&c, "run-1", 1, Some("event-1"));
    store.finish_run(RunEnd { run: &run, connection: &after, status_before: c.status }, "first").await.unwrap();
    let again = store.acquire_lease(id, "second", now, until, Some("event-1")).await.unwrap();
    assert_eq!(again, Lease::AlreadyRan { schedule_run: "event-1".into() });
    assert_eq!(store.acquire_lease(id, "third", now, until, Some("event-2")).await.unwrap(), Lease::Acquired);
    release(store, id, "third").await;
    assert_eq!(store.acquire_lease(id, "operator", now, until, None).await.unwrap(), Lease::Acquired, "a manual sync");
}

/// An imported outcome of `key` at `etag`, finished now: a fixture for the suites and the tests
/// that need an outcome to record.
pub fn outcome(key: &str, etag: &str) -> FileOutcome {
    FileOutcome {
        key: key.to_owned(),
        etag: etag.to_owned(),
        size: 10,
        last_modified: now(),
        status: FileStatus::Imported,
        reason: None,
        rows_read: 1,
        rows_imported: 1,
        rows_rejected: 0,
        rows_not_imported: 0,
        row_errors: Vec::new(),
        duration_ms: 1,
        run_id: "run".into(),
        finished_at: now(),
        recheck: None,
        replaces: None,
        dismissed_at: None,
        drift: Default::default(),
        rejects: None,
        rejects_url: None,
    }
}

async fn the_ledger_is_per_connection_and_keeps_the_latest_etag(store: &impl StoreUnderTest, id: &str) {
    let (mine, theirs) = (format!("{id}-mine"), format!("{id}-theirs"));
    connection(store, &mine, ConnectionStatus::Active).await;
    connection(store, &theirs, ConnectionStatus::Active).await;
    let expires = now() + TimeDelta::days(2);
    // Keys S3 allows: spaces, unicode, dots that look like a path.
    let keys = ["a.csv", "with space.csv", "ünïcode/データ.csv", "../up/../a.csv"];
    for key in keys {
        store.record_outcome(&mine, &outcome(key, "\"v1\""), expires).await.unwrap();
    }
    store.record_outcome(&mine, &outcome("a.csv", "\"v2\""), expires).await.unwrap();
    store.record_outcome(&theirs, &outcome("only-theirs.csv", "\"t\""), expires).await.unwrap();

    let asked =
        ["a.csv", "with space.csv", "ünïcode/データ.csv", "../up/../a.csv", "a.csv", "only-theirs.csv", "new.csv"];
    let found = store.ledger(&mine, &asked).await.unwrap();
    let mut found: Vec<(String, String)> = found.into_iter().map(|(k, e)| (k, e.etag)).collect();
    found.sort();
    let expected = [
        ("../up/../a.csv", "\"v1\""),
        ("a.csv", "\"v2\""),
        ("with space.csv", "\"v1\""),
        ("ünïcode/データ.csv", "\"v1\""),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(k, e)| (k.to_string(), e.to_string())).collect();
    assert_eq!(found, expected, "one connection never sees another's ledger");
    assert!(store.ledger(&theirs, &["a.csv"]).await.unwrap().is_empty());
}

/// Outcomes to try again come back by time, whatever their key (one of 1,024 bytes too), and leave
/// once settled for good; those waiting for a condition (format, size limit) are not indexed.
async fn due_rechecks_come_back_by_time(store: &impl StoreUnderTest, id: &str) {
    use crate::model::Recheck;
    connection(store, id, ConnectionStatus::Active).await;
    let now = now();
    let expires = now + TimeDelta::days(2);
    let long_key = format!("in/{}", "k".repeat(1021));
    let with = |key: &str, recheck| FileOutcome { status: FileStatus::Failed, recheck, ..outcome(key, "\"v1\"") };
    let retry = |minutes| Some(Recheck::Retry { attempt: 1, next_at: now + TimeDelta::minutes(minutes) });
    store.record_outcome(id, &with("due.csv", retry(-5)), expires).await.unwrap();
    store.record_outcome(id, &with(&long_key, retry(-1)), expires).await.unwrap();
    store.record_outcome(id, &with("later.csv", retry(60)), expires).await.unwrap();
    store.record_outcome(id, &with("asked.csv", Some(Recheck::Operator { asked_at: now })), expires).await.unwrap();
    let format = Some(Recheck::FormatChanges { format: crate::template::FormatKind::Csv });
    store.record_outcome(id, &with("a.parquet", format.clone()), expires).await.unwrap();
    store.record_outcome(id, &with("final.csv", None), expires).await.unwrap();

    // The index behind it may lag a write by a moment (DynamoDB's global secondary indexes).
    let mut due = Vec::new();
    for _ in 0..50 {
        due = store.due_rechecks(id, now, 100).await.unwrap().into_iter().map(|o| o.key).collect::<Vec<_>>();
        if due.len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    due.sort();
    let mut expected = vec!["asked.csv".to_owned(), "due.csv".to_owned(), long_key.clone()];
    expected.sort();
    assert_eq!(due, expected);
    assert_eq!(store.due_rechecks(id, now, 1).await.unwrap().len(), 1, "at most the limit");
    let ledger = store.ledger(id, &[long_key.as_str(), "a.parquet"]).await.unwrap();
    assert_eq!(ledger[&long_key].recheck, retry(-1), "a key of 1,024 bytes has its ledger entry");
    assert_eq!(ledger["a.parquet"].recheck, format);

    // An operator asks while a run has the object in hand: the run's outcome keeps the ask.
    let taken_up =
        FileOutcome { finished_at: now + TimeDelta::seconds(2), duration_ms: 2_000, ..outcome("due.csv", "\"v1\"") };
    store.ask_again(id, "due.csv", now + TimeDelta::seconds(1)).await;
    store.record_outcome(id, &taken_up, expires).await.unwrap();
    let kept = store.ledger(id, &["due.csv"]).await.unwrap();
    assert_eq!(kept["due.csv"].recheck, Some(Recheck::Operator { asked_at: now + TimeDelta::seconds(1) }));

    // Imported at last: it leaves the index.
    store.record_outcome(id, &outcome("due.csv", "\"v1\""), expires).await.unwrap();
    for _ in 0..50 {
        due = store.due_rechecks(id, now, 100).await.unwrap().into_iter().map(|o| o.key).collect();
        if !due.contains(&"due.csv".to_owned()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!due.contains(&"due.csv".to_owned()), "{due:?}");
}

fn checkpoint(run_id: &str, hand_overs: u32) -> Checkpoint {
    // Fixed times: the suite compares what it saved with what it reads back.
    let started: DateTime<Utc> = "2026-06-01T10:00:00Z".parse().expect("a time");
    Checkpoint {
        path: crate::model::RunPath::Scan,
        named: vec![],
        run_id: run_id.to_owned(),
        started_at: started,
        schedule_run: None,
        hand_overs,
        template: Some(crate::model::TemplateRef { id: "conformance".into(), version: 1 }),
        backfill_since: None,
        counts: Default::default(),
        cutoff: started - TimeDelta::days(1),
        listing_started: started,
        listing: Vec::new(),
        pending: Vec::new(),
        rechecked: false,
        file: None,
        newest_imported: None,
        first_failures: Vec::new(),
    }
}

async fn a_hand_over_saves_the_checkpoint_and_frees_the_lease(store: &impl StoreUnderTest, id: &str) {
    let c = connection(store, id, ConnectionStatus::Active).await;
    assert_eq!(store.checkpoint(id).await.unwrap(), None);
    assert_eq!(acquire(store, id, "first", 60).await, Lease::Acquired);
    let refused = store.hand_over(id, "not-the-holder", &checkpoint("run", 1)).await.expect_err("only the holder");
    assert_eq!(refused.kind, StoreErrorKind::Conflict);
    store.hand_over(id, "first", &checkpoint("run", 1)).await.unwrap();
    assert_eq!(store.checkpoint(id).await.unwrap(), Some(checkpoint("run", 1)));

    assert_eq!(acquire(store, id, "second", 60).await, Lease::Acquired, "the next invocation takes over");
    store.hand_over(id, "second", &checkpoint("run", 2)).await.unwrap();
    assert_eq!(store.checkpoint(id).await.unwrap(), Some(checkpoint("run", 2)), "a hand-over replaces the checkpoint");

    assert_eq!(acquire(store, id, "third", 60).await, Lease::Acquired);
    let (run, after) = finished(&c, "run", 5, None);
    store.finish_run(RunEnd { run: &run, connection: &after, status_before: c.status }, "third").await.unwrap();
    assert_eq!(store.checkpoint(id).await.unwrap(), None, "a finished run leaves no checkpoint");
}

async fn kept_keys_are_per_connection_replace_themselves_and_are_forgotten_as_read(
    store: &impl StoreUnderTest,
    id: &str,
) {
    use crate::model::NamedKey;
    use crate::object_events::ObjectKey;
    let other = format!("{id}-other");
    connection(store, id, ConnectionStatus::Paused).await;
    connection(store, &other, ConnectionStatus::Paused).await;
    let named = |key: &str, etag: &str| NamedKey { key: ObjectKey::exact(key), etag: Some(etag.to_owned()) };
    // S3's longest key, and one an event may have encoded.
    let longest = format!("in/{}", "k".repeat(1_021));
    let encoded =
        NamedKey { key: ObjectKey { first: "in/a b.csv".into(), otherwise: Some("in/a+b.csv".into()) }, etag: None };
    let expires = Utc::now() + TimeDelta::days(7);
    store.keep_named(id, &[named("in/a.csv", "e1"), named(&longest, "el"), encoded.clone()], expires).await.unwrap();
    store.keep_named(id, &[named("in/a.csv", "e2"), named("in/a.csv", "e2")], expires).await.unwrap();
    store.keep_named(&other, &[named("in/x.csv", "ex")], expires).await.unwrap();

    let mut kept = store.kept_named(id, 10).await.unwrap();
    kept.sort_by(|a, b| a.key.first.cmp(&b.key.first));
    assert_eq!(kept, [encoded.clone(), named("in/a.csv", "e2"), named(&longest, "el")], "kept again: replaced");
    assert_eq!(store.kept_named(id, 2).await.unwrap().len(), 2, "a limit");
    assert_eq!(store.kept_named(&other, 10).await.unwrap(), [named("in/x.csv", "ex")], "per connection");

    // A run that took a.csv on as e1 forgets e1: the e2 kept since is a version it never decided.
    store.forget_named(id, &[named("in/a.csv", "e1")]).await.unwrap();
    assert_eq!(store.kept_named(id, 10).await.unwrap().len(), 3, "a newer kept version stays");
    store.forget_named(id, &[named("in/a.csv", "e2"), named(&longest, "el")]).await.unwrap();
    assert_eq!(store.kept_named(id, 10).await.unwrap(), [encoded]);
    assert_eq!(store.kept_named(&other, 10).await.unwrap().len(), 1, "the other connection's stay");
}

async fn two_owners_asking_at_once_get_one_lease(store: &impl StoreUnderTest, id: &str) {
    connection(store, id, ConnectionStatus::Active).await;
    for round in 0..5 {
        let (a, b) = (format!("a{round}"), format!("b{round}"));
        let (first, second) = tokio::join!(acquire(store, id, &a, 60), acquire(store, id, &b, 60));
        let acquired = [&first, &second].iter().filter(|l| ***l == Lease::Acquired).count();
        assert_eq!(acquired, 1, "round {round}: {first:?} {second:?}");
        release(store, id, if first == Lease::Acquired { &a } else { &b }).await;
    }
}
