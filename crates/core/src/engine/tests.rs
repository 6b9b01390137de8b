use super::*;
use crate::memory::*;
use crate::model::{Recheck, SyncState};
use crate::pipeline::FailedAt;

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
        name: "acme".into(),
        account_id: "123456789012".into(),
        bucket: "b".into(),
        region: "us-east-1".into(),
        folder: Some("in/".into()),
        kms_key_arn: None,
        role_name: "r".into(),
        external_id: "x".into(),
        template_id: "tpl".into(),
        status: ConnectionStatus::Pending,
        created_at: t("01T00:00:00"),
        overlap_seconds: None,
        backfill_since: None,
        sync: SyncState::default(),
    }
}

struct World {
    store: MemoryStore,
    sink: MemorySink,
    bucket: MemoryBucket,
    clock: FixedClock,
    config: SyncConfig,
}

impl World {
    fn new(policy: &str) -> Self {
        World {
            store: MemoryStore::with(connection(), template(policy)),
            sink: MemorySink::default(),
            bucket: MemoryBucket::default(),
            clock: FixedClock::at(t("10T12:00:00.250")),
            config: SyncConfig::default(),
        }
    }
    fn engine(&self) -> Engine<'_> {
        Engine {
            store: &self.store,
            sink: &self.sink,
            buckets: &self.bucket,
            clock: &self.clock,
            config: self.config.clone(),
        }
    }
    async fn sync(&self, run: &str) -> Result<SyncOutcome, SyncError> {
        self.engine().sync("c1", run, None).await
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_imports_the_folder_within_the_lookback_then_only_what_is_new() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na1,1\na2,2\n");
    w.bucket.put("in/old.csv", "\"eo\"", t("01T00:00:00") - TimeDelta::days(120), b"id,amount\no,1\n");
    w.bucket.put("out/x.csv", "\"ex\"", t("09T00:00:00"), b"id,amount\nx,1\n");
    w.bucket.put("in/", "\"ed\"", t("09T00:00:00"), b"");

    let run = w.completed("run1").await;
    assert_eq!(run.result, SyncResult::Succeeded);
    assert_eq!((run.counts.objects_listed, run.counts.files_imported, run.counts.files_skipped), (3, 1, 1));
    assert_eq!(w.record_ids(), ["in/a.csv#ea#1", "in/a.csv#ea#2"]);
    assert_eq!(run.watermark_after, Some(t("10T12:00:00")), "watermark floored to the listing's second");
    assert_eq!(w.status(), ConnectionStatus::Active);
    assert_eq!(w.store.outcome("c1", "in/").unwrap().reason.as_deref(), Some("folder placeholder"));

    // Same second as the first listing, a replaced file, and nothing else new.
    w.bucket.put("in/late.csv", "\"el\"", t("10T12:00:00"), b"id,amount\nl,1\n");
    w.bucket.put("in/a.csv", "\"ea2\"", t("10T12:00:00"), b"id,amount\na1,10\n");
    w.clock.set(t("11T12:00:00"));
    let writes_before = *w.sink.writes.lock().unwrap();
    let run = w.completed("run2").await;
    assert_eq!(run.counts.files_imported, 2, "{run:?}");
    assert_eq!(*w.sink.writes.lock().unwrap() - writes_before, 2, "only the two new rows were written");
    assert!(w.record_ids().contains(&"in/late.csv#el#1".to_string()));
    assert!(w.record_ids().contains(&"in/a.csv#ea2#1".to_string()));

    // Nothing new: nothing written.
    w.clock.set(t("12T12:00:00"));
    let writes_before = *w.sink.writes.lock().unwrap();
    let run = w.completed("run3").await;
    assert_eq!((run.counts.objects_selected, *w.sink.writes.lock().unwrap()), (0, writes_before));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_and_bad_files_fail_alone() {
    let w = World::new("skip_row");
    w.bucket.put("in/1.csv", "\"e1\"", t("09T00:00:00"), b"id,amount\nok,1\nbad,x\n");
    w.bucket.put("in/2.csv", "\"e2\"", t("09T00:00:01"), b"amount\n1\n");
    w.bucket.put("in/3.csv.gz", "\"e3\"", t("09T00:00:02"), &[0x1f, 0x8b, 8, 0, 0, 0]);
    w.bucket.put("in/4.csv", "\"e4\"", t("09T00:00:03"), b"id,amount\ngood,2\n");
    let run = w.completed("run1").await;
    assert_eq!(run.result, SyncResult::Partial);
    assert_eq!((run.counts.files_imported, run.counts.files_partial, run.counts.files_failed), (1, 1, 2));
    let partial = w.store.outcome("c1", "in/1.csv").unwrap();
    assert_eq!(partial.row_errors[0].row, 2);
    assert_eq!(partial.row_errors[0].line, 3);
    assert_eq!(partial.row_errors[0].column.as_deref(), Some("amount"));
    assert!(w.store.outcome("c1", "in/2.csv").unwrap().reason.unwrap().contains("lacks required column(s): id"));
    assert!(w.store.outcome("c1", "in/3.csv.gz").unwrap().reason.unwrap().starts_with("cannot decode the file"));
    assert_eq!(w.record_ids(), ["in/1.csv#e1#1", "in/4.csv#e4#1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_file_policy_writes_nothing_from_a_file_with_a_bad_row() {
    let w = World::new("fail_file");
    w.bucket.put("in/1.csv", "\"e1\"", t("09T00:00:00"), b"id,amount\nok,1\nbad,x\nok2,3\n");
    w.bucket.put("in/2.csv", "\"e2\"", t("09T00:00:01"), b"id,amount\ngood,2\n");
    let run = w.completed("run1").await;
    assert_eq!((run.counts.files_failed, run.counts.files_imported), (1, 1));
    assert_eq!(w.record_ids(), ["in/2.csv#e2#1"]);
    let failed = w.store.outcome("c1", "in/1.csv").unwrap();
    assert_eq!((failed.rows_imported, failed.row_errors[0].row), (0, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_whose_holder_stopped_renewing_is_waited_out_and_taken_over() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
    // A worker killed by its timeout: it took the lease at 11:59 and never renewed it.
    let term = w.config.lease_duration;
    w.store.acquire_lease("c1", "killed", t("10T11:59:00"), t("10T11:59:00") + term, None).await.unwrap();
    // Lambda's retry comes a minute later: it must sync, not answer "another sync is running".
    let run = w.completed("retry").await;
    assert_eq!(run.counts.files_imported, 1, "{run:?}");
    assert!(w.clock.now() > t("10T11:59:00") + term, "it waited for the lease to run out: {}", w.clock.now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_after_the_run_lets_the_lease_go_for_the_retry() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
    *w.store.fail_finish.lock().unwrap() = true;
    assert!(matches!(w.sync("run1").await, Err(SyncError::Store(_))));
    assert!(w.store.leases.lock().unwrap().is_empty(), "the failed invocation let the lease go");
    *w.store.fail_finish.lock().unwrap() = false;
    let before = w.clock.now();
    let run = w.completed("retry").await;
    assert_eq!(w.clock.now(), before, "the retry did not wait for a lease");
    assert_eq!((run.counts.objects_listed, run.result), (1, SyncResult::Succeeded), "{run:?}");
    assert_eq!(w.record_ids().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_is_renewed_while_listing() {
    let w = World::new("skip_row");
    w.store.connections.lock().unwrap().get_mut("c1").unwrap().created_at = Utc::now();
    for i in 0..10 {
        w.bucket.put(
            &format!("in/{i}.csv"),
            &format!("\"e{i}\""),
            Utc::now() - TimeDelta::hours(1),
            b"id,amount\na,1\n",
        );
    }
    // Ten pages of 300 ms: 3 s of listing against a 1 s lease.
    *w.bucket.page_size.lock().unwrap() = 1;
    *w.bucket.list_delay_ms.lock().unwrap() = 300;
    let config = SyncConfig { lease_duration: TimeDelta::seconds(1), list_fan_out: false, ..SyncConfig::default() };
    let engine = Engine { clock: &SystemClock, config: config.clone(), ..w.engine() };
    let second = Engine { clock: &SystemClock, config, ..w.engine() };
    let (first, other) = tokio::join!(engine.sync("c1", "run1", None), async {
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        second.sync("c1", "run2", None).await
    });
    assert!(matches!(other, Ok(SyncOutcome::LeaseHeld { ref owner, .. }) if owner == "run1"), "{other:?}");
    assert!(matches!(first, Ok(SyncOutcome::Completed(ref r)) if r.counts.files_imported == 10), "{first:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reads_with_the_template_version_it_began_with() {
    // The issue's case: a fail_file file validated for 25 of 100 rows, handed over, then a template
    // saved with skip_row before the next invocation. The run must go on with fail_file and import
    // all 100 rows, not write from the validation pass's offset.
    let w = World::new("fail_file");
    let rows: String = (0..100).map(|i| format!("r{i},{i}\n")).collect();
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), format!("id,amount\n{rows}").as_bytes());
    let engine = Engine { config: SyncConfig { handoff_rows: 25, ..SyncConfig::default() }, ..w.engine() };
    let call = |id: &'static str, hand_over_at| Invocation {
        connection_id: "c1",
        invocation_id: id,
        schedule_run: None,
        hand_over_at,
    };
    // Invocations that each do one step, until the file is handed over part of the way through.
    for n in 1.. {
        let invocation = engine.run_invocation(call(["inv-1", "inv-2", "inv-3"][n - 1], Some(Instant::now())));
        assert!(matches!(invocation.await.unwrap(), SyncOutcome::HandedOver { .. }));
        let checkpoint = w.store.checkpoints.lock().unwrap()["c1"].clone();
        if let Some(file) = checkpoint.file {
            assert!(!file.writing && file.rows_read == 25, "{file:?}");
            break;
        }
    }

    let mut edited = template("skip_row");
    edited.record_type = "refund".into();
    assert_eq!(w.store.save_template(edited), 2);
    let SyncOutcome::Completed(run) = engine.run_invocation(call("last", None)).await.unwrap() else {
        panic!("expected the run to finish")
    };
    assert_eq!(run.template, Some(TemplateRef { id: "tpl".into(), version: 1 }));
    let outcome = w.store.outcome("c1", "in/a.csv").unwrap();
    assert_eq!((outcome.status, outcome.rows_read, outcome.rows_imported), (FileStatus::Imported, 100, 100));
    assert_eq!(w.record_ids().len(), 100, "every row landed");

    // The edit applies from the next run.
    w.clock.set(t("11T12:00:00"));
    let next = w.completed("run-2").await;
    assert_eq!(next.template, Some(TemplateRef { id: "tpl".into(), version: 2 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_delivery_of_a_scheduled_event_starts_no_second_sync() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
    let first = w.engine().sync("c1", "run1", Some("event-1")).await.unwrap();
    assert!(matches!(first, SyncOutcome::Completed(_)), "{first:?}");
    let again = w.engine().sync("c1", "run2", Some("event-1")).await.unwrap();
    assert_eq!(again, SyncOutcome::AlreadySynced { schedule_run: "event-1".into() });
    let next_day = w.engine().sync("c1", "run3", Some("event-2")).await.unwrap();
    assert!(matches!(next_day, SyncOutcome::Completed(_)), "{next_day:?}");
    // Unscheduled syncs (operators, retries) always run.
    assert!(matches!(w.engine().sync("c1", "run4", None).await.unwrap(), SyncOutcome::Completed(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_scheduled_run_can_be_retried_for_the_same_event() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
    *w.sink.fail_after.lock().unwrap() = Some(0);
    assert!(matches!(w.engine().sync("c1", "run1", Some("event-1")).await, Err(SyncError::Retryable(_))));
    *w.sink.fail_after.lock().unwrap() = None;
    let retry = w.engine().sync("c1", "run2", Some("event-1")).await.unwrap();
    assert!(matches!(retry, SyncOutcome::Completed(ref r) if r.counts.rows_imported == 1), "{retry:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_access_sets_needs_reauth_and_advances_nothing() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
    *w.bucket.deny.lock().unwrap() = Some(SourceErrorKind::AccessDenied);
    let run = w.completed("run1").await;
    assert_eq!((run.result, run.watermark_after), (SyncResult::NeedsReauth, None));
    assert_eq!(w.status(), ConnectionStatus::NeedsReauth);
    assert!(w.record_ids().is_empty());
    assert_eq!(w.sync("run2").await.unwrap(), SyncOutcome::NotSyncable { status: ConnectionStatus::NeedsReauth });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_write_failure_is_retryable_and_the_retry_duplicates_nothing() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
    let rows: String = (0..100).map(|i| format!("b{i},{i}\n")).collect();
    w.bucket.put("in/b.csv", "\"eb\"", t("09T00:00:01"), format!("id,amount\n{rows}").as_bytes());
    *w.sink.fail_after.lock().unwrap() = Some(30);
    let Err(SyncError::Retryable(run)) = w.sync("run1").await else { panic!("expected a retryable failure") };
    assert_eq!(run.result, SyncResult::Failed);
    assert_eq!(run.watermark_after, Some(t("09T00:00:01")), "held back at the unfinished object");
    assert!(w.store.outcome("c1", "in/b.csv").is_none());

    *w.sink.fail_after.lock().unwrap() = None;
    w.clock.set(t("11T00:00:00"));
    let run = w.completed("run2").await;
    assert_eq!(run.counts.files_imported, 1, "only the unfinished file is imported again");
    assert_eq!(w.record_ids().len(), 101);
    assert_eq!(w.status(), ConnectionStatus::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_in_the_listing_moves_no_watermark_past_what_it_did_not_see() {
    let w = World::new("skip_row");
    // 120 days old: only a first sync's lookback selects it, so a watermark moved past it loses it.
    w.bucket.put("in/old.csv", "\"eo\"", t("10T00:00:00") - TimeDelta::days(80), b"id,amount\no,1\n");
    w.bucket.put("in/new.csv", "\"en\"", t("09T00:00:00"), b"id,amount\nn,1\n");
    *w.store.fail_ledger_reads.lock().unwrap() = true;
    let Err(SyncError::Retryable(run)) = w.sync("run1").await else { panic!("expected a retryable failure") };
    assert_eq!((run.result, run.watermark_after), (SyncResult::Failed, None), "{run:?}");

    *w.store.fail_ledger_reads.lock().unwrap() = false;
    w.clock.set(t("12T00:00:00"));
    let run = w.completed("run2").await;
    assert_eq!(run.counts.files_imported, 2, "{run:?}");
    assert_eq!(w.record_ids(), ["in/new.csv#en#1", "in/old.csv#eo#1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_failing_part_of_the_way_counts_the_rows_written_before() {
    let mut w = World::new("skip_row");
    w.config.parse_limits.max_record_bytes = 1024;
    let rows: String = (0..300).map(|i| format!("r{i},{i}\n")).collect();
    let long = "x".repeat(2000);
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), format!("id,amount\n{rows}{long},1\nafter,1\n").as_bytes());
    let run = w.completed("run1").await;
    let failed = w.store.outcome("c1", "in/a.csv").unwrap();
    assert_eq!(failed.status, FileStatus::Failed);
    assert!(failed.reason.as_deref().unwrap().contains("at line 302 is longer than 1024 bytes"), "{failed:?}");
    assert_eq!((failed.rows_read, failed.rows_imported, failed.rows_rejected), (300, 300, 0));
    assert_eq!((run.counts.rows_read, run.counts.rows_imported), (300, 300), "{run:?}");
    assert_eq!(w.record_ids().len(), 300, "the rows before the failure are written, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_the_store_refuses_fail_their_file_alone() {
    let w = World::new("skip_row");
    let rows: String = (0..200).map(|i| format!("r{i},{i}\n")).collect();
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), format!("id,amount\n{rows}").as_bytes());
    w.bucket.put("in/b.csv", "\"eb\"", t("09T00:00:01"), b"id,amount\nb,1\n");
    *w.sink.refuse_ids_containing.lock().unwrap() = Some("in/a.csv#ea#150".into());
    let run = w.completed("run1").await;
    assert_eq!((run.result, run.counts.files_failed, run.counts.files_imported), (SyncResult::Partial, 1, 1));
    let failed = w.store.outcome("c1", "in/a.csv").unwrap();
    assert_eq!(failed.status, FileStatus::Failed);
    assert!(failed.reason.as_deref().unwrap().starts_with("DynamoDB refused records of this file"), "{failed:?}");
    assert!(failed.rows_imported < 200, "{failed:?}");
    assert_eq!(run.watermark_after, Some(t("10T12:00:00")), "a failed file does not hold the watermark");
    assert!(w.record_ids().contains(&"in/b.csv#eb#1".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_row_of_a_primary_key_wins_whatever_the_write_concurrency() {
    let keyed = Template::from_json(
        r#"{"id": "tpl", "record_type": "payment", "format": {"type": "csv"}, "primary_key": ["id"],
        "columns": [{"source": "id", "field": "id", "type": "string", "required": true},
                    {"source": "amount", "field": "amount", "type": "decimal", "required": true}]}"#,
    )
    .unwrap();
    let w = World { store: MemoryStore::with(connection(), keyed), ..World::new("skip_row") };
    // 20 keys, each updated 50 times: the file's last amount of each key must be the one stored.
    let rows: String = (0..1000).map(|i| format!("k{},{i}\n", i % 20)).collect();
    w.bucket.put("in/updates.csv", "\"eu\"", t("09T00:00:00"), format!("id,amount\n{rows}").as_bytes());
    *w.sink.jitter.lock().unwrap() = true;
    let engine = Engine { config: SyncConfig { handoff_rows: 100, ..SyncConfig::default() }, ..w.engine() };
    engine.sync("c1", "run1", None).await.unwrap();
    let records = w.sink.records.lock().unwrap();
    assert_eq!(records.len(), 20);
    for k in 0..20 {
        let amount = &records[&("c1".to_owned(), format!("payment#k{k}"))][1];
        assert_eq!(amount, &Some(crate::value::Value::Decimal(format!("{}", 980 + k))), "key k{k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_longer_than_the_lease_keeps_it() {
    let w = World::new("skip_row");
    w.store.connections.lock().unwrap().get_mut("c1").unwrap().created_at = Utc::now();
    let rows: String = (0..3200).map(|i| format!("r{i},{i}\n")).collect();
    w.bucket.put("in/slow.csv", "\"es\"", Utc::now() - TimeDelta::hours(1), format!("id,amount\n{rows}").as_bytes());
    // 128 batches over 8 lanes, 150 ms each: 2.4 s of writes against a 1 s lease.
    *w.sink.delay_ms.lock().unwrap() = 150;
    let config = SyncConfig { lease_duration: TimeDelta::seconds(1), ..SyncConfig::default() };
    let engine = Engine { clock: &SystemClock, config: config.clone(), ..w.engine() };
    let second = Engine { clock: &SystemClock, config, ..w.engine() };
    let (first, other) = tokio::join!(engine.sync("c1", "run1", None), async {
        tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
        second.sync("c1", "run2", None).await
    });
    assert!(matches!(other, Ok(SyncOutcome::LeaseHeld { ref owner, .. }) if owner == "run1"), "{other:?}");
    assert!(matches!(first, Ok(SyncOutcome::Completed(ref r)) if r.counts.rows_imported == 3200), "{first:?}");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Files in a root folder and sub-folders (several listing pages and prefixes), a large file, a
/// gzip one, and one with a bad row.
fn fill(bucket: &MemoryBucket) {
    for i in 0..12 {
        let folder = ["in/", "in/a/", "in/b/x/"][i % 3];
        let body = format!("id,amount\nsmall{i},{i}\n");
        bucket.put(&format!("{folder}{i:02}.csv"), &format!("\"s{i}\""), t("09T00:00:00"), body.as_bytes());
    }
    let rows: String = (0..500).map(|i| format!("big{i},{i}.5\r\n")).collect();
    bucket.put("in/big.csv", "\"big\"", t("09T01:00:00"), format!("\u{feff}id,amount\r\n{rows}").as_bytes());
    let rows: String = (0..300).map(|i| format!("gz{i},{i}\n")).collect();
    bucket.put("in/b/zipped.csv.gz", "\"gz\"", t("09T02:00:00"), &gzip(format!("id,amount\n{rows}").as_bytes()));
    let rows: String = (0..100).map(|i| format!("bad{i},{}\n", if i == 70 { "x" } else { "1" })).collect();
    bucket.put("in/a/bad.csv", "\"bad\"", t("09T03:00:00"), format!("id,amount\n{rows}").as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_handed_over_at_every_step_ends_as_one_uninterrupted_run() {
    for policy in ["skip_row", "fail_file"] {
        let whole = World::new(policy);
        fill(&whole.bucket);
        let expected = whole.completed("whole").await;

        let pieces = World::new(policy);
        fill(&pieces.bucket);
        *pieces.bucket.page_size.lock().unwrap() = 2;
        let config = SyncConfig { handoff_rows: WRITE_BATCH, list_concurrency: 2, ..SyncConfig::default() };
        let engine = Engine { config, ..pieces.engine() };
        let (mut mid_listing, mut mid_file, mut invocations) = (0, 0, 0);
        let run = loop {
            invocations += 1;
            let invocation = format!("invocation-{invocations}");
            // The time to hand over has always come: each invocation does one step and stops.
            let call = Invocation {
                connection_id: "c1",
                invocation_id: &invocation,
                schedule_run: None,
                hand_over_at: Some(Instant::now()),
            };
            match engine.run_invocation(call).await.unwrap() {
                SyncOutcome::HandedOver { run_id, hand_overs, .. } => {
                    assert_eq!((run_id.as_str(), hand_overs), ("invocation-1", invocations));
                    let checkpoint = pieces.store.checkpoints.lock().unwrap()["c1"].clone();
                    mid_listing += usize::from(!checkpoint.listing.is_empty());
                    mid_file += usize::from(checkpoint.file.is_some_and(|f| f.position.offset > 0));
                    assert!(pieces.store.leases.lock().unwrap().is_empty(), "the lease is let go");
                }
                SyncOutcome::Completed(run) => break run,
                other => panic!("{other:?}"),
            }
        };
        assert!(mid_listing >= 3 && mid_file >= 10, "{policy}: {mid_listing} listing, {mid_file} file hand-overs");
        assert_eq!(*pieces.sink.records.lock().unwrap(), *whole.sink.records.lock().unwrap(), "{policy}");
        assert_eq!(run.run_id, "invocation-1");
        assert_eq!(
            (run.result, &run.counts, run.watermark_after),
            (expected.result, &expected.counts, expected.watermark_after)
        );
        let outcomes = |w: &World| {
            let mut all: Vec<_> = w
                .store
                .outcomes
                .lock()
                .unwrap()
                .values()
                .map(|o| (o.key.clone(), o.status, o.rows_read, o.rows_imported, o.row_errors.clone()))
                .collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            all
        };
        assert_eq!(outcomes(&pieces), outcomes(&whole), "{policy}");
        assert!(pieces.store.checkpoints.lock().unwrap().is_empty(), "the finished run's checkpoint is gone");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_the_role_cannot_read_fails_alone_and_is_tried_again_later() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
    w.bucket.put("in/kms.csv", "\"ek\"", t("09T00:00:01"), b"id,amount\nk,1\n");
    w.bucket.put("in/sse-c.csv", "\"es\"", t("09T00:00:02"), b"id,amount\ns,1\n");
    w.bucket.put("in/z.csv", "\"ez\"", t("09T00:00:03"), b"id,amount\nz,1\n");
    w.bucket.unreadable.lock().unwrap().insert("in/kms.csv".into(), SourceErrorKind::ObjectDenied);
    w.bucket.unreadable.lock().unwrap().insert("in/sse-c.csv".into(), SourceErrorKind::ObjectUnsupported);
    let run = w.completed("run1").await;
    assert_eq!((run.result, run.counts.files_imported, run.counts.files_failed), (SyncResult::Partial, 2, 2));
    assert_eq!(w.status(), ConnectionStatus::Active, "one object does not break the connection");
    assert_eq!(run.watermark_after, Some(t("10T12:00:00")), "nor hold the watermark");
    let denied = w.store.outcome("c1", "in/kms.csv").unwrap();
    assert_eq!(denied.status, FileStatus::Failed);
    assert_eq!(denied.recheck, Some(Recheck::Retry { attempt: 1, next_at: t("10T13:00:00.250") }));
    assert_eq!(w.store.outcome("c1", "in/sse-c.csv").unwrap().recheck, None, "SSE-C waits for a new version");

    // Days later the object is out of the window, and the role may read it now: it is tried again
    // and imported, once; the SSE-C one is not read again.
    w.bucket.unreadable.lock().unwrap().remove("in/kms.csv");
    w.bucket.unreadable.lock().unwrap().remove("in/sse-c.csv");
    w.clock.set(t("14T12:00:00"));
    let later = w.completed("run2").await;
    assert_eq!((later.counts.files_imported, later.counts.objects_selected), (1, 1), "{later:?}");
    assert_eq!(w.store.outcome("c1", "in/kms.csv").unwrap().status, FileStatus::Imported);
    assert_eq!(w.record_ids(), ["in/a.csv#ea#1", "in/kms.csv#ek#1", "in/z.csv#ez#1"]);
    let again = w.completed("run3").await;
    assert_eq!(again.counts.objects_selected, 0, "nothing twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_after_their_attempts_and_an_archived_object_is_read_once_restored() {
    let mut w = World::new("skip_row");
    w.config.selection.retry_attempts = 3;
    w.bucket.put("in/denied.csv", "\"ed\"", t("09T00:00:00"), b"id,amount\nd,1\n");
    w.bucket.unreadable.lock().unwrap().insert("in/denied.csv".into(), SourceErrorKind::ObjectDenied);
    w.bucket.put("in/cold.csv", "\"ec\"", t("09T00:00:01"), b"id,amount\nc,1\n");
    w.bucket.objects.lock().unwrap().get_mut("in/cold.csv").unwrap().0.storage_class = Some("GLACIER".into());
    let first = w.completed("run1").await;
    assert_eq!((first.counts.files_failed, first.counts.files_skipped), (1, 1));
    let cold = w.store.outcome("c1", "in/cold.csv").unwrap();
    assert!(matches!(cold.recheck, Some(Recheck::Retry { attempt: 1, .. })), "{cold:?}");
    // The archived object is restored (its listing still says GLACIER): the retry reads it.
    for (day, run) in [("11", "run2"), ("12", "run3"), ("13", "run4")] {
        w.clock.set(t(&format!("{day}T12:00:00")));
        w.completed(run).await;
    }
    assert_eq!(w.store.outcome("c1", "in/cold.csv").unwrap().status, FileStatus::Imported);
    let denied = w.store.outcome("c1", "in/denied.csv").unwrap();
    assert_eq!((denied.status, denied.recheck.clone()), (FileStatus::Failed, None), "attempts spent: {denied:?}");
    assert!(denied.reason.as_deref().unwrap().contains("no more automatic attempts after 3"), "{denied:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_replaced_while_read_counts_what_it_wrote_and_its_new_version_replaces_those_records() {
    let w = World::new("skip_row");
    let old: String = (0..3000).map(|i| format!("o{i},{i}\n")).collect();
    let body = format!("id,amount\n{old}");
    w.bucket.put("in/a.csv", "\"v1\"", t("09T00:00:00"), body.as_bytes());
    w.bucket.break_after.lock().unwrap().insert("in/a.csv".into(), (body.len() / 2, SourceErrorKind::ObjectGone));
    let engine = Engine { config: SyncConfig { handoff_rows: 100, ..SyncConfig::default() }, ..w.engine() };
    let SyncOutcome::Completed(run) = engine.sync("c1", "run1", None).await.unwrap() else { panic!("a completed run") };
    let first = w.store.outcome("c1", "in/a.csv").unwrap();
    assert_eq!(first.status, FileStatus::Failed, "{first:?}");
    assert!(first.reason.as_deref().unwrap().contains("replaced or deleted while it was read"), "{first:?}");
    let written = w.record_ids().len() as u64;
    assert!(written > 0 && first.rows_imported == written, "{first:?}, {written} records");
    assert!(
        first.rows_read >= written && run.counts.rows_imported == written,
        "counts cover every row written: {run:?}"
    );

    // The new version: imported, and the half of the old one removed.
    w.bucket.break_after.lock().unwrap().clear();
    w.bucket.put("in/a.csv", "\"v2\"", t("10T13:00:00"), b"id,amount\nn1,1\nn2,2\n");
    w.clock.set(t("11T12:00:00"));
    w.completed("run2").await;
    assert_eq!(w.record_ids(), ["in/a.csv#v2#1", "in/a.csv#v2#2"], "the table says what the bucket holds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_decides_again_every_object_since_its_date_once() {
    let w = World::new("skip_row");
    w.bucket.put("in/old.csv", "\"eo\"", t("02T00:00:00"), b"id,amount\no,1\n");
    w.bucket.put("in/new.csv", "\"en\"", t("09T00:00:00"), b"id,amount\nn,1\nbad,x\n");
    w.completed("run1").await;
    w.clock.set(t("20T12:00:00"));
    assert_eq!(w.completed("run2").await.counts.objects_selected, 0);

    // The template is fixed (here: the same one); the operator backfills from the 5th.
    w.store.connections.lock().unwrap().get_mut("c1").unwrap().backfill_since = Some(t("05T00:00:00"));
    let writes_before = *w.sink.writes.lock().unwrap();
    let backfill = w.completed("run3").await;
    assert_eq!(backfill.backfill_since, Some(t("05T00:00:00")));
    assert_eq!((backfill.counts.objects_selected, backfill.counts.files_partial), (1, 1), "{backfill:?}");
    assert_eq!(*w.sink.writes.lock().unwrap() - writes_before, 1, "new.csv read again, old.csv not");
    assert_eq!(w.store.connections.lock().unwrap()["c1"].backfill_since, None, "done: cleared");
    assert_eq!(w.completed("run4").await.counts.objects_selected, 0, "once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connections_own_overlap_catches_a_longer_upload() {
    for (overlap_hours, caught) in [(None, false), (Some(72), true)] {
        let w = World::new("skip_row");
        w.store.connections.lock().unwrap().get_mut("c1").unwrap().overlap_seconds = overlap_hours.map(|h| h * 3600);
        w.completed("run1").await; // watermark 10T12:00:00
                                   // A multipart upload begun on the 8th, 52 hours before the last listing, completes now.
        w.bucket.put("in/slow.csv", "\"es\"", t("08T08:00:00"), b"id,amount\ns,1\n");
        w.clock.set(t("11T12:00:00"));
        let run = w.completed("run2").await;
        assert_eq!(run.counts.files_imported == 1, caught, "overlap {overlap_hours:?}: {run:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_gzip_under_fail_file_says_why_no_row_was_imported() {
    let w = World::new("fail_file");
    let rows: String = (0..1500).map(|i| format!("r{i},{i}\n")).collect();
    let whole = gzip(format!("id,amount\n{rows}").as_bytes());
    w.bucket.put("in/cut.csv.gz", "\"ec\"", t("09T00:00:00"), &whole[..whole.len() * 2 / 3]);
    let run = w.completed("run1").await;
    let cut = w.store.outcome("c1", "in/cut.csv.gz").unwrap();
    assert_eq!((cut.status, cut.rows_imported, cut.rows_rejected), (FileStatus::Failed, 0, 0), "{cut:?}");
    assert!(cut.rows_read > 0, "{cut:?}");
    let reason = cut.reason.as_deref().unwrap();
    let expected = format!("none of the {} rows read was imported", cut.rows_read);
    assert!(reason.contains("cannot decode") && reason.contains(&expected), "{reason}");
    assert_eq!((run.counts.rows_read, run.counts.rows_imported), (cut.rows_read, 0));
    assert_eq!(cut.rows_not_imported, cut.rows_read, "the counts add up: {cut:?}");
    assert_eq!(run.counts.rows_not_imported, cut.rows_read);
    assert!(w.record_ids().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_lookup_of_objects_to_try_again_loses_nothing() {
    let w = World::new("skip_row");
    w.bucket.put("in/old.csv", "\"eo\"", t("10T00:00:00") - TimeDelta::days(30), b"id,amount\no,1\n");
    w.bucket.put("in/new.csv", "\"en\"", t("09T00:00:00"), b"id,amount\nn,1\n");
    *w.store.fail_rechecks.lock().unwrap() = true;
    let run = w.completed("run1").await;
    assert_eq!((run.result, run.counts.files_imported), (SyncResult::Succeeded, 2), "{run:?}");
    assert_eq!(w.record_ids().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_versions_records_stay_until_a_new_version_is_imported() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"v1\"", t("09T00:00:00"), b"id,amount\no1,1\no2,2\n");
    w.completed("run1").await;
    // v2 arrives archived, then v3 cannot be read: v1's records stay, as the last version imported.
    w.bucket.put("in/a.csv", "\"v2\"", t("10T13:00:00"), b"id,amount\nn1,1\n");
    w.bucket.objects.lock().unwrap().get_mut("in/a.csv").unwrap().0.storage_class = Some("GLACIER".into());
    w.clock.set(t("11T12:00:00"));
    w.completed("run2").await;
    assert_eq!(w.record_ids(), ["in/a.csv#v1#1", "in/a.csv#v1#2"]);
    assert_eq!(w.store.outcome("c1", "in/a.csv").unwrap().replaces.as_deref(), Some("\"v1\""));
    // Restored: its retry reads it, and only then do v1's records go.
    w.bucket.objects.lock().unwrap().get_mut("in/a.csv").unwrap().0.storage_class = None;
    w.clock.set(t("12T12:00:00"));
    w.completed("run3").await;
    assert_eq!(w.record_ids(), ["in/a.csv#v2#1"]);
    assert_eq!(w.store.outcome("c1", "in/a.csv").unwrap().replaces, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_end_takes_time_is_not_lost_to_its_own_lease_renewal() {
    let w = World::new("skip_row");
    w.store.connections.lock().unwrap().get_mut("c1").unwrap().created_at = Utc::now();
    w.bucket.put("in/a.csv", "\"ea\"", Utc::now() - TimeDelta::hours(1), b"id,amount\na,1\n");
    // The end lets the lease go, then cleans up for 700 ms, past the first renewal (at 500 ms).
    *w.store.finish_tail_ms.lock().unwrap() = 700;
    let config = SyncConfig { lease_duration: TimeDelta::seconds(1), ..SyncConfig::default() };
    let engine = Engine { clock: &SystemClock, config, ..w.engine() };
    let outcome = engine.sync("c1", "run1", None).await;
    assert!(matches!(outcome, Ok(SyncOutcome::Completed(ref r)) if r.counts.files_imported == 1), "{outcome:?}");
}

/// Bodies that fail a file, each in its own way, and where they fail (`None`: a gzip bomb is
/// refused where the decoder's chunks pass the ratio, which the sync's outcome says by its rows).
fn failing_files() -> Vec<(&'static str, Vec<u8>, Option<FailedAt>)> {
    let rows: String = (0..300).map(|i| format!("r{i},{i}\n")).collect();
    let bomb_rows: String = (0..200_000).map(|_| "a,1\n").collect();
    vec![
        ("in/notes.txt", b"Remember: call Bob about the invoices.\nThen file them.\n".to_vec(), Some(FailedAt::Header)),
        ("in/utf16.csv", b"\xff\xfei\0d\0".to_vec(), Some(FailedAt::BeforeAnyRow)),
        (
            "in/long.csv",
            format!("id,amount\n{rows}{},1\n", "x".repeat(2000)).into_bytes(),
            Some(FailedAt::PartWay { rows_read: 300 }),
        ),
        ("in/bomb.csv.gz", gzip(format!("id,amount\n{bomb_rows}").as_bytes()), None),
    ]
}

/// The sync's limits, low enough for the files above to pass them.
fn small_limits(config: &mut SyncConfig) {
    config.parse_limits.max_record_bytes = 1024;
    config.decode_limits = DecodeLimits { max_gzip_ratio: 5, ratio_floor_bytes: 1024 };
}

/// A preview's sample and a sync read a file through the same pipeline with the same limits: what
/// fails one fails the other, with the same reason, and the preview says where.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_fails_a_file_as_the_sync_does() {
    let mut w = World::new("skip_row");
    small_limits(&mut w.config);
    for (i, (key, body, _)) in failing_files().into_iter().enumerate() {
        w.bucket.put(key, &format!("\"e{i}\""), t("09T00:00:00"), &body);
    }
    w.completed("run1").await;
    for (key, body, at) in failing_files() {
        let outcome = w.store.outcome("c1", key).unwrap();
        assert_eq!(outcome.status, FileStatus::Failed, "{key}: {outcome:?}");
        let reason = outcome.reason.clone().unwrap_or_default();
        let at = at.unwrap_or(match outcome.rows_read {
            0 => FailedAt::BeforeAnyRow,
            rows_read => FailedAt::PartWay { rows_read },
        });
        let body: ObjectBody = Box::pin(std::io::Cursor::new(body));
        let preview = crate::preview::sample(body, key, &template("skip_row"), 1000, w.config.read_limits()).await;
        assert_eq!(preview.file_error, Some(format!("{at}: {reason}")), "{key}: {outcome:?}");
    }
}

// What this thread logs, while it reads its logs (see `logged`).
std::thread_local! {
    static LOGS: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Writes a log line to the buffer of the thread it happens on, if that thread is reading its logs.
struct ThreadLogs;

impl std::io::Write for ThreadLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.with(|logs| logs.borrow_mut().as_mut().map(|logs| logs.extend_from_slice(buf)));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` and gives back what it logged, on this thread (so `f` must run on it: a current-thread
/// runtime). The subscriber is the process's default, set once, and not one set for this thread
/// alone: tracing caches whether a call site is wanted process-wide, and a call site first seen by
/// another test's thread, without a subscriber, would stay unwanted here too.
async fn logged<T>(f: impl std::future::Future<Output = T>) -> (T, String) {
    static SUBSCRIBER: std::sync::Once = std::sync::Once::new();
    SUBSCRIBER.call_once(|| {
        let subscriber = tracing_subscriber::fmt().with_writer(|| ThreadLogs).with_ansi(false).finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in these tests");
    });
    LOGS.with(|logs| *logs.borrow_mut() = Some(Vec::new()));
    let output = f.await;
    let logs = LOGS.with(|logs| logs.borrow_mut().take()).unwrap_or_default();
    (output, String::from_utf8_lossy(&logs).into_owned())
}

/// What a sync logs of a failed file says where it failed: a file that fails at its header or
/// before any row is not said to fail part of the way through; nor does its outcome (under
/// `fail_file`) count rows it never read.
#[tokio::test]
async fn a_file_failing_before_any_row_is_logged_and_recorded_as_such() {
    for policy in ["skip_row", "fail_file"] {
        let mut w = World::new(policy);
        small_limits(&mut w.config);
        for (i, (key, body, _)) in failing_files().into_iter().enumerate() {
            w.bucket.put(key, &format!("\"e{i}\""), t("09T00:00:00"), &body);
        }
        let (_, logged) = logged(w.completed("run1")).await;
        let line = |key: &str| {
            let lines: Vec<&str> = logged.lines().filter(|l| l.contains(key) && l.contains("file failed")).collect();
            assert_eq!(lines.len(), 1, "{policy}, {key}: {logged}");
            lines[0].to_owned()
        };
        assert!(line("in/notes.txt").contains("file failed at its header"), "{policy}: {logged}");
        assert!(line("in/utf16.csv").contains("file failed before any row was read"), "{policy}: {logged}");
        let long = line("in/long.csv");
        assert!(long.contains("file failed part of the way through, after 300 rows"), "{policy}: {long}");
        for key in ["in/notes.txt", "in/utf16.csv"] {
            let reason = w.store.outcome("c1", key).unwrap().reason.unwrap();
            assert!(!reason.contains("part of the way") && !reason.contains("rows read"), "{policy}, {key}: {reason}");
        }
    }
}
