//! Runs of object events' keys: what they import, and how they and scans share the ledger, the
//! watermark and a handed-over run, so that nothing is imported twice or missed.

use super::*;
use crate::model::{NamedKey, RunPath};
use crate::object_events::ObjectKey;
use crate::ports::SourceErrorKind;

fn named(key: &str, etag: Option<&str>) -> NamedKey {
    NamedKey { key: ObjectKey::exact(key), etag: etag.map(str::to_owned) }
}

impl World {
    async fn events(&self, run: &str, keys: &[NamedKey]) -> SyncRun {
        match self.engine().run(Invocation::new("c1", run).for_events(keys)).await {
            Ok(SyncOutcome::Completed(run)) => run,
            other => panic!("expected a completed run, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_run_imports_the_named_objects_whatever_their_age_lists_nothing_and_moves_no_watermark() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na1,1\n");
    let scan = w.completed("scan-1").await;
    assert_eq!(scan.watermark_after, Some(t("10T12:00:00")));

    // An upload begun before the scan's window and completed after it: older than the watermark
    // less the overlap, so no scan would select it. Its event names it.
    let old = t("10T12:00:00") - TimeDelta::days(3);
    w.bucket.put("in/late-multipart.csv", "\"em\"", old, b"id,amount\nm1,1\nm2,2\n");
    w.bucket.put("in/unnamed.csv", "\"eu\"", t("10T13:00:00"), b"id,amount\nu1,1\n");
    w.clock.set(t("10T14:00:00"));
    let run = w.events("events-1", &[named("in/late-multipart.csv", Some("em"))]).await;
    assert_eq!((run.path, run.result), (RunPath::Events, SyncResult::Succeeded));
    assert_eq!((run.counts.objects_listed, run.counts.objects_named, run.counts.files_imported), (0, 1, 1));
    assert_eq!(run.watermark_after, scan.watermark_after, "the next scan's window still holds what no event named");
    assert!(w.record_ids().contains(&"in/late-multipart.csv#em#2".to_string()));
    assert!(!w.record_ids().iter().any(|id| id.starts_with("in/unnamed.csv")), "only what was named");

    // The scan after it finds the file whose event never came, and not the named one again.
    w.clock.set(t("11T12:00:00"));
    let scan = w.completed("scan-2").await;
    assert_eq!((scan.path, scan.counts.files_imported), (RunPath::Scan, 1), "{scan:?}");
    assert!(w.record_ids().contains(&"in/unnamed.csv#eu#1".to_string()));
    assert_eq!(w.record_ids().len(), 4, "a1, m1, m2, u1: each once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_and_late_events_import_nothing_twice_and_a_replaced_object_its_newest_version_once() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"e1\"", t("10T11:00:00"), b"id,amount\nv1,1\n");
    // One event, delivered twice in one batch: one import.
    let run = w.events("events-1", &[named("in/a.csv", Some("e1")), named("in/a.csv", Some("e1"))]).await;
    assert_eq!((run.counts.objects_named, run.counts.files_imported), (1, 1), "{run:?}");

    // Replaced twice before the events of the replacements are read, in the wrong order.
    w.bucket.put("in/a.csv", "\"e2\"", t("10T11:30:00"), b"id,amount\nv2,2\n");
    w.bucket.put("in/a.csv", "\"e3\"", t("10T11:31:00"), b"id,amount\nv3,3\n");
    let run = w.events("events-2", &[named("in/a.csv", Some("e3")), named("in/a.csv", Some("e2"))]).await;
    assert_eq!((run.counts.files_imported, run.counts.named_replaced), (1, 0), "the newest, named first: {run:?}");
    let run = w.events("events-3", &[named("in/a.csv", Some("e2"))]).await;
    assert_eq!((run.counts.files_imported, run.counts.named_replaced), (0, 1), "e2 is gone, e3 imported: {run:?}");
    // And the first event again, Lambda's retry of a batch: nothing.
    let run = w.events("events-4", &[named("in/a.csv", Some("e1"))]).await;
    assert_eq!((run.counts.objects_selected, run.counts.files_imported), (0, 0), "{run:?}");
    // v3's records replaced v1's (a new version replaces its key's records); v2 was never read.
    assert_eq!(w.record_ids(), ["in/a.csv#e3#1"]);
    assert_eq!(*w.sink.writes.lock().unwrap(), 2, "v1 and v3 written once each");

    // A scan of the same objects: already done.
    w.clock.set(t("11T12:00:00"));
    let scan = w.completed("scan-1").await;
    assert_eq!((scan.counts.objects_listed, scan.counts.files_imported), (1, 0), "{scan:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_is_counted_a_key_outside_the_folder_is_left_and_an_encoded_key_is_found_as_written() {
    let w = World::new("skip_row");
    w.bucket.put("in/a+b.csv", "\"eab\"", t("10T11:00:00"), b"id,amount\nab,1\n");
    w.bucket.put("out/x.csv", "\"ex\"", t("10T11:00:00"), b"id,amount\nx,1\n");
    let encoded = NamedKey {
        key: ObjectKey { first: "in/a b.csv".into(), otherwise: Some("in/a+b.csv".into()) },
        etag: Some("eab".into()),
    };
    let keys = [encoded, named("in/deleted.csv", Some("ed")), named("out/x.csv", None)];
    let run = w.events("events-1", &keys).await;
    assert_eq!(run.result, SyncResult::Succeeded);
    assert_eq!((run.counts.objects_named, run.counts.named_not_found, run.counts.files_imported), (2, 1, 1), "{run:?}");
    assert_eq!(w.record_ids(), ["in/a+b.csv#eab#1"], "nothing outside the folder");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_for_a_run_handed_over_are_taken_on_by_it_and_imported_once() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("10T11:00:00"), b"id,amount\na1,1\n");
    w.bucket.put("in/b.csv", "\"eb\"", t("10T11:00:01"), b"id,amount\nb1,1\n");
    let engine = w.engine();
    // A scan whose time to hand over has come at once: it saves its checkpoint and stops.
    let first = Invocation::new("c1", "scan-1").handing_over_at(std::time::Instant::now());
    let handed = engine.run(first).await.unwrap();
    assert!(matches!(handed, SyncOutcome::HandedOver { .. }), "{handed:?}");

    // An events batch comes before the scan's next invocation: it goes on with the scan's run and
    // takes on its keys, one of them the scan's own (in/a.csv), one older than the window.
    w.bucket.put("in/old.csv", "\"eo\"", t("10T11:00:00") - TimeDelta::days(200), b"id,amount\no1,1\n");
    let keys = [named("in/a.csv", Some("ea")), named("in/old.csv", Some("eo"))];
    let run = w.events("events-1", &keys).await;
    assert_eq!((run.run_id.as_str(), run.path), ("scan-1", RunPath::Scan), "the scan's run, finished");
    assert_eq!((run.counts.objects_named, run.counts.files_imported), (2, 3), "{run:?}");
    assert_eq!(w.record_ids(), ["in/a.csv#ea#1", "in/b.csv#eb#1", "in/old.csv#eo#1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_kept_while_the_connection_could_not_run_are_taken_on_by_its_next_run_then_forgotten() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na1,1\n");
    w.completed("scan-1").await;
    // Paused meanwhile, an upload older than any window completes and its event is kept.
    let old = t("10T12:00:00") - TimeDelta::days(30);
    w.bucket.put("in/late.csv", "\"el\"", old, b"id,amount\nl1,1\n");
    let expires = t("20T00:00:00");
    w.store.keep_named("c1", &[named("in/late.csv", Some("el"))], expires).await.unwrap();

    // The next run fails part of the way (its writes refused for now): the key stays kept.
    *w.sink.fail_after.lock().unwrap() = Some(0);
    w.clock.set(t("11T12:00:00"));
    assert!(matches!(w.sync("scan-2").await, Err(SyncError::Retryable(_))));
    assert_eq!(w.store.kept_named("c1", 10).await.unwrap().len(), 1, "kept for the next run");

    *w.sink.fail_after.lock().unwrap() = None;
    let run = w.completed("scan-3").await;
    assert_eq!((run.path, run.counts.objects_named, run.counts.files_imported), (RunPath::Scan, 1, 1), "{run:?}");
    assert!(w.record_ids().contains(&"in/late.csv#el#1".to_string()));
    assert_eq!(w.store.kept_named("c1", 10).await.unwrap(), [], "forgotten once decided");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_run_answers_a_held_lease_at_once_rather_than_wait_out_its_term() {
    let w = World::new("skip_row");
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\na,1\n");
    // Held by a run that took it a minute ago: a scan would wait to see whether it renews; the
    // intake has no term to spare, and keeps its keys for the holder instead.
    let term = w.config.lease_duration;
    w.store.acquire_lease("c1", "scan", t("10T11:59:00"), t("10T11:59:00") + term, None).await.unwrap();
    let before = w.clock.now();
    let outcome = w.engine().run(Invocation::new("c1", "events-1").for_events(&[named("in/a.csv", None)])).await;
    assert!(matches!(outcome, Ok(SyncOutcome::LeaseHeld { ref owner, .. }) if owner == "scan"), "{outcome:?}");
    assert_eq!(w.clock.now(), before, "it did not wait");
    assert!(w.record_ids().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_object_the_role_may_not_look_at_is_left_to_the_scan_and_the_others_are_imported() {
    let w = World::new("skip_row");
    w.bucket.put("in/theirs.csv", "\"et\"", t("10T11:00:00"), b"id,amount\nt,1\n");
    w.bucket.put("in/ours.csv", "\"eo\"", t("10T11:00:00"), b"id,amount\no,1\n");
    // Another account's object in the customer's bucket: HEAD and GET answer 403.
    w.bucket.unreadable.lock().unwrap().insert("in/theirs.csv".into(), SourceErrorKind::ObjectDenied);
    let run = w.events("events-1", &[named("in/theirs.csv", None), named("in/ours.csv", None)]).await;
    assert_eq!(run.result, SyncResult::Succeeded, "{run:?}");
    assert_eq!((run.counts.named_unreadable, run.counts.files_imported), (1, 1), "{run:?}");
    assert_eq!(w.record_ids().len(), 1);
    // The scan reads it and records its outcome: failed alone.
    let scan = w.completed("scan-1").await;
    assert_eq!(scan.counts.files_failed, 1, "{scan:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handed_over_events_run_that_fails_keeps_what_it_did_not_decide_for_the_next_run() {
    let w = World::new("skip_row");
    // Uploads older than any scan's window: only their events can bring them in.
    let old = t("10T12:00:00") - TimeDelta::days(200);
    w.bucket.put("in/a.csv", "\"ea\"", old, b"id,amount\na1,1\n");
    w.bucket.put("in/b.csv", "\"eb\"", old, b"id,amount\nb1,1\n");
    let engine = w.engine();
    // The intake's run hands over before it reads anything (its messages are then deleted).
    let keys = [named("in/a.csv", Some("ea")), named("in/b.csv", Some("eb"))];
    let first = Invocation::new("c1", "events-1").for_events(&keys).handing_over_at(std::time::Instant::now());
    let handed = engine.run(first).await.unwrap();
    assert!(matches!(handed, SyncOutcome::HandedOver { .. }), "{handed:?}");
    assert_eq!(w.store.kept_named("c1", 10).await.unwrap(), [], "nothing kept yet: the checkpoint holds them");

    // The worker's invocation that goes on with it fails (its writes refused).
    *w.sink.fail_after.lock().unwrap() = Some(0);
    assert!(matches!(engine.run(Invocation::new("c1", "worker-1")).await, Err(SyncError::Retryable(_))));
    let mut kept: Vec<String> = w.store.kept_named("c1", 10).await.unwrap().into_iter().map(|k| k.key.first).collect();
    kept.sort();
    assert_eq!(kept, ["in/a.csv", "in/b.csv"], "kept for the next run");

    // The next run (here the daily scan) takes them on and imports each once.
    *w.sink.fail_after.lock().unwrap() = None;
    w.clock.set(t("11T12:00:00"));
    let scan = w.completed("scan-1").await;
    assert_eq!((scan.counts.objects_named, scan.counts.files_imported), (2, 2), "{scan:?}");
    assert_eq!(w.record_ids(), ["in/a.csv#ea#1", "in/b.csv#eb#1"]);
    assert_eq!(w.store.kept_named("c1", 10).await.unwrap(), [], "forgotten once decided");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_named_while_an_older_one_waits_in_the_run_replaces_it() {
    let w = World::new("skip_row");
    let old = t("10T12:00:00") - TimeDelta::days(200);
    w.bucket.put("in/a.csv", "\"e1\"", old, b"id,amount\nv1,1\n");
    let engine = w.engine();
    let keys = [named("in/a.csv", Some("e1"))];
    let first = Invocation::new("c1", "events-1").for_events(&keys).handing_over_at(std::time::Instant::now());
    assert!(matches!(engine.run(first).await, Ok(SyncOutcome::HandedOver { .. })));

    // Replaced (a multipart upload begun long ago) before the run reads it; the new event comes to
    // the handed-over run.
    w.bucket.put("in/a.csv", "\"e2\"", old + TimeDelta::hours(1), b"id,amount\nv2,2\n");
    let run = w.events("events-2", &[named("in/a.csv", Some("e2"))]).await;
    assert_eq!(run.counts.files_imported, 1, "{run:?}");
    assert_eq!(w.record_ids(), ["in/a.csv#e2#1"], "the newest version, once");
    assert_eq!((run.counts.files_skipped, run.counts.named_replaced), (0, 0), "the older one was not read: {run:?}");
}

/// Review: a failed run kept what it had not decided after letting the lease go, so a run that
/// took the lease meanwhile could read that older kept version and forget it, and with it the
/// newer one an event had kept since. It keeps them while it holds the lease now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_runs_keys_are_kept_before_it_lets_go_so_a_newer_kept_version_is_not_forgotten() {
    let w = World::new("skip_row");
    let old = t("10T12:00:00") - TimeDelta::days(200);
    w.bucket.put("in/k.csv", "\"e1\"", old, b"id,amount\nv1,1\n");
    w.store.keep_named("c1", &[named("in/k.csv", Some("\"e1\""))], t("30T00:00:00")).await.unwrap();
    // Run A fails (its writes refused) and is slow to return once its end is written.
    *w.sink.fail_after.lock().unwrap() = Some(0);
    *w.store.finish_tail_ms.lock().unwrap() = 300;
    let none: [NamedKey; 0] = [];
    let a = async { w.engine().run(Invocation::new("c1", "A").for_events(&none)).await };
    // Run R takes the lease as soon as A lets go, and is slow to write.
    let r = async {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        *w.store.finish_tail_ms.lock().unwrap() = 0;
        *w.sink.fail_after.lock().unwrap() = None;
        *w.sink.delay_ms.lock().unwrap() = 400;
        w.engine().run(Invocation::new("c1", "R").for_events(&none)).await
    };
    // Meanwhile the object is replaced, and the intake keeps the new version's key.
    let intake = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        w.bucket.put("in/k.csv", "\"e2\"", old + TimeDelta::hours(1), b"id,amount\nv2,2\n");
        w.store.keep_named("c1", &[named("in/k.csv", Some("e2"))], t("30T00:00:00")).await.unwrap();
    };
    let (ra, _, ()) = tokio::join!(a, r, intake);
    assert!(matches!(ra, Err(SyncError::Retryable(_))), "{ra:?}");
    *w.sink.delay_ms.lock().unwrap() = 0;
    // Whichever version R read, the newest is imported by the next run: kept, never forgotten.
    w.clock.set(t("11T12:00:00"));
    w.completed("scan-later").await;
    assert!(w.record_ids().contains(&"in/k.csv#e2#1".to_string()), "{:?}", w.record_ids());
    assert_eq!(w.store.kept_named("c1", 10).await.unwrap(), [], "all decided");
}

/// Review: a newer version named while an older one was part-read dropped the older one from the
/// run, leaving its rows with no outcome. The older one stays to fail its read and say how many
/// rows it wrote; the newer one's import removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_version_named_while_an_older_one_is_part_read_replaces_its_rows() {
    let w = World::new("skip_row");
    let old = t("10T12:00:00") - TimeDelta::days(200);
    let rows: String = (0..100).map(|i| format!("r{i},{i}\n")).collect();
    w.bucket.put("in/a.csv", "\"e1\"", old, format!("id,amount\n{rows}").as_bytes());
    let engine = Engine { config: SyncConfig { handoff_rows: 25, ..SyncConfig::default() }, ..w.engine() };
    let keys = [named("in/a.csv", Some("e1"))];
    let runs = ["i1", "i2", "i3", "i4", "i5", "i6"];
    let mut call = Invocation::new("c1", runs[0]).for_events(&keys).handing_over_at(std::time::Instant::now());
    for run in &runs[1..] {
        assert!(matches!(engine.run(call).await.unwrap(), SyncOutcome::HandedOver { .. }));
        let checkpoint = w.store.checkpoints.lock().unwrap()["c1"].clone();
        if checkpoint.file.as_ref().is_some_and(|f| f.writing) {
            break;
        }
        call = Invocation::new("c1", run).handing_over_at(std::time::Instant::now());
    }
    assert!(!w.record_ids().is_empty(), "part of e1 written");

    w.bucket.put("in/a.csv", "\"e2\"", old + TimeDelta::hours(1), b"id,amount\nn1,1\n");
    let run = w.events("events-2", &[named("in/a.csv", Some("e2"))]).await;
    assert_eq!(
        (run.counts.files_failed, run.counts.files_imported),
        (1, 1),
        "e1 fails its read, e2 is imported: {run:?}"
    );
    assert!(run.first_failures[0].reason.contains("replaced or deleted while it was read"), "{run:?}");
    assert_eq!(w.record_ids(), ["in/a.csv#e2#1"], "e1's rows removed by e2's import");
}
