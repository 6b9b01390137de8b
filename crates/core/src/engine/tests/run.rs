//! Invocations: the lease taken, kept and let go; hand-overs; scheduled events; how a run ends.

use super::*;
use crate::model::TemplateRef;
use crate::ports::{SourceErrorKind, SyncStore, SystemClock};
use std::time::Instant;

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
    let (first, other) = tokio::join!(engine.run(Invocation::new("c1", "run1")), async {
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        second.run(Invocation::new("c1", "run2")).await
    });
    assert!(matches!(other, Ok(SyncOutcome::LeaseHeld { ref owner, .. }) if owner == "run1"), "{other:?}");
    assert!(matches!(first, Ok(SyncOutcome::Completed(ref r)) if r.counts.files_imported == 10), "{first:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reads_with_the_template_version_it_began_with() {
    // The case: a fail_file file validated for 25 of 100 rows, handed over, then a template
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
        request_id: None,
        hand_over_at,
        named: None,
    };
    // Invocations that each do one step, until the file is handed over part of the way through.
    for n in 1.. {
        let invocation = engine.run(call(["inv-1", "inv-2", "inv-3"][n - 1], Some(Instant::now())));
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
    let SyncOutcome::Completed(run) = engine.run(call("last", None)).await.unwrap() else {
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
    let first = w.engine().run(Invocation::new("c1", "run1").scheduled("event-1")).await.unwrap();
    assert!(matches!(first, SyncOutcome::Completed(_)), "{first:?}");
    let again = w.engine().run(Invocation::new("c1", "run2").scheduled("event-1")).await.unwrap();
    assert_eq!(again, SyncOutcome::AlreadySynced { schedule_run: "event-1".into() });
    let next_day = w.engine().run(Invocation::new("c1", "run3").scheduled("event-2")).await.unwrap();
    assert!(matches!(next_day, SyncOutcome::Completed(_)), "{next_day:?}");
    // Unscheduled syncs (operators, retries) always run.
    assert!(matches!(w.engine().run(Invocation::new("c1", "run4")).await.unwrap(), SyncOutcome::Completed(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_scheduled_run_can_be_retried_for_the_same_event() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
    *w.sink.fail_after.lock().unwrap() = Some(0);
    assert!(matches!(
        w.engine().run(Invocation::new("c1", "run1").scheduled("event-1")).await,
        Err(SyncError::Retryable(_))
    ));
    *w.sink.fail_after.lock().unwrap() = None;
    let retry = w.engine().run(Invocation::new("c1", "run2").scheduled("event-1")).await.unwrap();
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
async fn a_file_longer_than_the_lease_keeps_it() {
    let w = World::new("skip_row");
    w.store.connections.lock().unwrap().get_mut("c1").unwrap().created_at = Utc::now();
    let rows: String = (0..3200).map(|i| format!("r{i},{i}\n")).collect();
    w.bucket.put("in/slow.csv", "\"es\"", Utc::now() - TimeDelta::hours(1), format!("id,amount\n{rows}").as_bytes());
    // 160 batches (of the memory sink's 20) over 8 lanes, 150 ms each: 3 s of writes against a 1 s
    // lease.
    *w.sink.delay_ms.lock().unwrap() = 150;
    let config = SyncConfig { lease_duration: TimeDelta::seconds(1), ..SyncConfig::default() };
    let engine = Engine { clock: &SystemClock, config: config.clone(), ..w.engine() };
    let second = Engine { clock: &SystemClock, config, ..w.engine() };
    let (first, other) = tokio::join!(engine.run(Invocation::new("c1", "run1")), async {
        tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
        second.run(Invocation::new("c1", "run2")).await
    });
    assert!(matches!(other, Ok(SyncOutcome::LeaseHeld { ref owner, .. }) if owner == "run1"), "{other:?}");
    assert!(matches!(first, Ok(SyncOutcome::Completed(ref r)) if r.counts.rows_imported == 3200), "{first:?}");
}

/// Files in a root folder and sub-folders (several listing pages and prefixes), a large file, a
/// gzip, a zstd and a bzip2 one, and one with a bad row.
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
    for (key, compression) in [("in/b/z.csv.zst", Compression::Zstd), ("in/b/bz.csv.bz2", Compression::Bzip2)] {
        let rows: String = (0..300).map(|i| format!("{compression}{i},{i}\n")).collect();
        bucket.put(
            key,
            &format!("\"{compression}\""),
            t("09T02:30:00"),
            &compress(compression, format!("id,amount\n{rows}").as_bytes()),
        );
    }
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
        let handoff_rows = pieces.sink.max_batch();
        let config = SyncConfig { handoff_rows, list_concurrency: 2, ..SyncConfig::default() };
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
                request_id: None,
                hand_over_at: Some(Instant::now()),
                named: None,
            };
            match engine.run(call).await.unwrap() {
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
        // Every count alike but the bytes read: a resumed file is read again from its checkpoint (a compressed
        // one from its start), and what the bridge had read ahead of the checkpoint is read twice.
        let counts = crate::model::RunCounts { bytes_read: expected.counts.bytes_read, ..run.counts.clone() };
        assert_eq!(
            (run.result, &counts, run.watermark_after),
            (expected.result, &expected.counts, expected.watermark_after)
        );
        assert!(run.counts.bytes_read >= expected.counts.bytes_read && expected.counts.bytes_read > 0);
        let outcomes = |w: &World| {
            let mut all: Vec<_> = w
                .store
                .outcomes
                .lock()
                .unwrap()
                .values()
                .map(|o| (o.key.clone(), o.status, o.rows_read, o.rows_imported, o.row_errors.clone(), o.drift.clone()))
                .collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            all
        };
        assert_eq!(outcomes(&pieces), outcomes(&whole), "{policy}");
        assert!(pieces.store.checkpoints.lock().unwrap().is_empty(), "the finished run's checkpoint is gone");
        // The rejects objects too, byte for byte, and the outcomes name them.
        let rejects = |w: &World| {
            let mut objects = w.rejects.objects.lock().unwrap().clone();
            objects.retain(|key, _| !key.contains(".staged-"));
            objects
        };
        assert_eq!(rejects(&pieces), rejects(&whole), "{policy}");
        let named = |w: &World| w.store.outcomes.lock().unwrap().values().filter_map(|o| o.rejects.clone()).count();
        assert_eq!((named(&pieces), rejects(&pieces).len()), (usize::from(policy == "skip_row"), named(&pieces)));
    }
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
    let outcome = engine.run(Invocation::new("c1", "run1")).await;
    assert!(matches!(outcome, Ok(SyncOutcome::Completed(ref r)) if r.counts.files_imported == 1), "{outcome:?}");
}

/// Runs that fail (a retry may cure them) are counted, a scheduled event's retries once; at the
/// deployment's limit an active connection is paused with the reason `failing`. Partial runs are
/// not failures, and any other end starts the count again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_failing_runs_in_a_row_is_paused_but_not_one_with_partial_runs() {
    let mut w = World::new("skip_row");
    w.config.pause_after_failures = 4;
    w.store.connections.lock().unwrap().get_mut("c1").unwrap().status = ConnectionStatus::Active;
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\nbad,x\n");
    let failures = || w.store.connections.lock().unwrap()["c1"].sync.consecutive_failures;
    let partial = w.completed("run-0").await;
    assert_eq!((partial.result, failures()), (SyncResult::Partial, 0), "a partial run is not a failure");

    *w.store.fail_ledger_reads.lock().unwrap() = true;
    w.bucket.put("in/b.csv", "\"eb\"", t("10T00:00:00"), b"id,amount\nb,1\n");
    let failing = |run: &'static str, event: &'static str| {
        let call = Invocation::new("c1", run).scheduled(event);
        let engine = w.engine();
        async move { engine.run(call).await }
    };
    assert!(matches!(failing("run-1", "day-1").await, Err(SyncError::Retryable(_))));
    assert!(matches!(failing("run-1b", "day-1").await, Err(SyncError::Retryable(_))), "Lambda's retry");
    assert_eq!(failures(), 1, "a scheduled event's retries count once");
    // An operator's sync whose retries (the same request) fail count once too.
    for attempt in ["run-op", "run-op-retry"] {
        let call = Invocation { request_id: Some("request-1"), ..Invocation::new("c1", attempt) };
        assert!(matches!(w.engine().run(call).await, Err(SyncError::Retryable(_))));
    }
    assert_eq!(failures(), 2, "one scheduled event and one operator's request");
    assert!(matches!(failing("run-2", "day-2").await, Err(SyncError::Retryable(_))));
    assert_eq!((failures(), w.status()), (3, ConnectionStatus::Active));
    assert!(matches!(failing("run-3", "day-3").await, Err(SyncError::Retryable(_))));
    let stored = w.store.connections.lock().unwrap()["c1"].clone();
    assert_eq!(
        (stored.status, stored.pause_reason, failures()),
        (ConnectionStatus::Paused, Some(PauseReason::Failing), 4)
    );
    let last = w.events.events.lock().unwrap().last().cloned();
    let Some(crate::events::Event::ConnectionStatusChanged(paused)) = last else { panic!("{last:?}") };
    assert_eq!((paused.to, paused.reason), (ConnectionStatus::Paused, crate::events::StatusChange::Failing));

    // Resumed by an operator: the count starts again, and a good run keeps it at 0.
    *w.store.fail_ledger_reads.lock().unwrap() = false;
    let admin: &dyn crate::manage::ports::ConnectionAdmin = &w.store;
    admin.change_status("c1", ConnectionStatus::Paused, ConnectionStatus::Active).await.unwrap();
    let stored = w.store.connections.lock().unwrap()["c1"].clone();
    assert_eq!((stored.pause_reason, stored.sync.consecutive_failures), (None, 0));
    assert_eq!(w.completed("run-4").await.result, SyncResult::Succeeded);
    assert_eq!(failures(), 0);
}

/// A run records the bytes it read, the newest object it imported (the connection's lag is told
/// from it) and its first failed files with their reasons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_records_bytes_read_the_newest_import_and_its_first_failures() {
    let w = World::new("skip_row");
    let files: [(&str, &str, &[u8]); 3] = [
        ("in/a.csv", "08T00:00:00", b"id,amount\na,1\n"),
        ("in/b.csv", "09T00:00:00", b"id,amount\nb,1\nc,2\n"),
        ("in/broken.csv", "09T06:00:00", b"payment,amount\nx,1\n"),
    ];
    for (key, at, body) in files {
        w.bucket.put(key, "\"e\"", t(at), body);
    }
    let run = w.completed("run-1").await;
    let sizes: usize = files.iter().map(|(_, _, body)| body.len()).sum();
    assert_eq!(run.counts.bytes_read, sizes as u64, "every body read once");
    assert_eq!(run.newest_imported, Some(t("09T00:00:00")), "the failed file is newer but was not imported");
    assert_eq!(run.first_failures.len(), 1);
    assert_eq!(run.first_failures[0].key, "in/broken.csv");
    assert!(run.first_failures[0].reason.contains("id"), "{:?}", run.first_failures);
    let stored = w.store.connections.lock().unwrap()["c1"].sync.clone();
    assert_eq!(stored.newest_imported, Some(t("09T00:00:00")));
}

/// A finished run is announced with how it went, and with the status it changed and why: a first
/// import that works activates the connection; access that breaks needs re-authentication.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_is_announced_with_the_status_it_changed() {
    use crate::events::{Event, StatusChange};
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
    w.bucket.put("in/broken.csv", "\"eb\"", t("08T00:00:00"), b"payment,amount\nx,1\n");
    let run = w.completed("run-1").await;
    assert_eq!(w.events.detail_types(), ["Sync Run Finished", "Connection Status Changed"]);
    let events = w.events.events.lock().unwrap().clone();
    let Event::SyncRunFinished(finished) = &events[0] else { panic!("{events:?}") };
    assert_eq!(
        (finished.run_id.as_str(), finished.result, finished.connection_name.as_str()),
        ("run-1", SyncResult::Partial, "acme")
    );
    assert_eq!((finished.objects.imported, finished.objects.failed, finished.rows.imported), (1, 1, 1));
    assert_eq!(finished.failed_files[0].key, "in/broken.csv");
    assert_eq!(finished.lag_seconds, Some((run.finished_at - t("09T00:00:00")).num_seconds()));
    assert_eq!(finished.bytes_read, run.counts.bytes_read);
    let Event::ConnectionStatusChanged(changed) = &events[1] else { panic!("{events:?}") };
    assert_eq!(
        (changed.from, changed.to, changed.reason),
        (ConnectionStatus::Pending, ConnectionStatus::Active, StatusChange::Activated)
    );
    assert_eq!(changed.run_id.as_deref(), Some("run-1"));

    *w.bucket.deny.lock().unwrap() = Some(SourceErrorKind::AccessDenied);
    w.completed("run-2").await;
    let events = w.events.events.lock().unwrap().clone();
    let Event::ConnectionStatusChanged(broken) = events.last().unwrap() else { panic!("{events:?}") };
    assert_eq!(
        (broken.from, broken.to, broken.reason),
        (ConnectionStatus::Active, ConnectionStatus::NeedsReauth, StatusChange::NeedsReauth)
    );
    assert!(broken.error.is_some(), "says what it found");
    assert_eq!(events.len(), 4, "one run finished and one change each time");
}

/// A bus that refuses the events fails nothing: the run is recorded and its records stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_cannot_be_published_fails_nothing() {
    let w = World::new("skip_row");
    *w.events.fail.lock().unwrap() = true;
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
    let run = w.completed("run-1").await;
    assert_eq!((run.result, w.status(), w.record_ids().len()), (SyncResult::Succeeded, ConnectionStatus::Active, 1));
    assert!(w.events.events.lock().unwrap().is_empty());
}
