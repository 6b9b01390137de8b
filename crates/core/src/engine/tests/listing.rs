//! What a run selects, and when: the window, the watermark, backfills, overlaps, retries' lookup.

use super::*;

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
async fn a_failed_lookup_of_objects_to_try_again_loses_nothing() {
    let w = World::new("skip_row");
    w.bucket.put("in/old.csv", "\"eo\"", t("10T00:00:00") - TimeDelta::days(30), b"id,amount\no,1\n");
    w.bucket.put("in/new.csv", "\"en\"", t("09T00:00:00"), b"id,amount\nn,1\n");
    *w.store.fail_rechecks.lock().unwrap() = true;
    let run = w.completed("run1").await;
    assert_eq!((run.result, run.counts.files_imported), (SyncResult::Succeeded, 2), "{run:?}");
    assert_eq!(w.record_ids().len(), 2);
}
