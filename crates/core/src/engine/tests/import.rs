//! What becomes of each file: bad rows and bad files alone, row policies, objects that cannot be
//! read, records the store refuses, failures part of the way and before any row, and the same
//! failures in a preview.

use super::*;
use crate::decode::DecodeLimits;
use crate::model::Recheck;
use crate::pipeline::FailedAt;
use crate::ports::SourceErrorKind;

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
    engine.run(Invocation::new("c1", "run1")).await.unwrap();
    let records = w.sink.records.lock().unwrap();
    assert_eq!(records.len(), 20);
    for k in 0..20 {
        let amount = &records[&("c1".to_owned(), format!("payment#k{k}"))][1];
        assert_eq!(amount, &Some(crate::value::Value::Decimal(format!("{}", 980 + k))), "key k{k}");
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
    let SyncOutcome::Completed(run) = engine.run(Invocation::new("c1", "run1")).await.unwrap() else {
        panic!("a completed run")
    };
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
    config.decode_limits = DecodeLimits { max_expansion_ratio: 5, ratio_floor_bytes: 1024 };
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
        let preview = crate::preview::sample(
            crate::preview::SampleInput::Body(body),
            key,
            &template("skip_row"),
            1000,
            w.config.read_limits(),
        )
        .await
        .unwrap();
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
