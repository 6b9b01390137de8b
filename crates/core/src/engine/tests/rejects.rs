//! Rejected rows handed back: every rejected row of a file, as it was, with its line, column and
//! reason, in the rejects object its outcome names; in parts past 5 MiB, across hand-overs, as one
//! read would write it; and a rejects bucket that fails costs the file nothing but the object.

use super::*;
use std::time::Instant;

fn rejects_of(w: &World, key: &str) -> (crate::model::FileOutcome, String) {
    let outcome = w.store.outcomes.lock().unwrap().values().find(|o| o.key == key).cloned().expect("an outcome");
    let text = outcome.rejects.as_deref().and_then(|k| w.rejects.text(k)).unwrap_or_default();
    (outcome, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejected_row_is_handed_back_as_it_was_with_where_and_why() {
    let w = World::new("skip_row");
    w.bucket.put(
        "in/a.csv",
        "\"ea\"",
        t("09T00:00:00"),
        b"id,amount\r\nok,1\r\nx1,bad\r\n,2\r\nok2,3\r\nx2,1,extra\r\n",
    );
    w.bucket.put("in/clean.csv", "\"ec\"", t("09T00:00:00"), b"id,amount\nc,1\n");
    let run = w.completed("run1").await;
    assert_eq!((run.counts.rows_imported, run.counts.rows_rejected), (3, 3), "{run:?}");

    let (outcome, text) = rejects_of(&w, "in/a.csv");
    assert_eq!(outcome.rows_rejected, 3);
    // The header, then each rejected row: its own fields, then its line, column and reason.
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,amount,_line,_column,_reason"));
    let rows: Vec<csv::StringRecord> =
        csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes()).records().map(Result::unwrap).collect();
    let originals = [vec!["x1", "bad"], vec!["", "2"], vec!["x2", "1", "extra"]];
    assert_eq!(rows.len(), 3);
    for ((row, original), error) in rows.iter().zip(originals).zip(&outcome.row_errors) {
        let n = original.len();
        assert_eq!(row.iter().take(n).collect::<Vec<_>>(), original);
        assert_eq!(&row[n], error.line.to_string());
        assert_eq!(&row[n + 1], error.column.as_deref().unwrap_or(""));
        assert_eq!(&row[n + 2], error.reason);
    }
    let (clean, _) = rejects_of(&w, "in/clean.csv");
    assert_eq!((clean.rows_rejected, clean.rejects), (0, None), "no rows rejected, no object");
    assert_eq!(w.rejects.objects.lock().unwrap().len(), 1);
}

/// 60,000 rejected rows of about 120 bytes: past one part of 5 MiB. Read in one go, and in
/// invocations of 7,000 rows each, the object is the same, and every row is in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejects_object_past_a_part_is_uploaded_in_parts_and_over_hand_overs_the_same() {
    let rows: String = (0..60_000).map(|i| format!("row-{i:06}-{},not-a-number-{i}\n", "p".repeat(80))).collect();
    let body = format!("id,amount\n{rows}ok,1\n");
    let whole = World::new("skip_row");
    whole.bucket.put("in/big.csv", "\"eb\"", t("09T00:00:00"), body.as_bytes());
    let run = whole.completed("run1").await;
    assert_eq!((run.counts.rows_rejected, run.counts.rows_imported), (60_000, 1));
    let (outcome, expected) = rejects_of(&whole, "in/big.csv");
    assert!(expected.len() > crate::rejects::PART_BYTES, "{} bytes", expected.len());
    assert_eq!(expected.lines().count(), 60_001, "the header and every rejected row");
    assert_eq!(outcome.row_errors.len(), 10, "the outcome records the first ones; the object has them all");

    let pieces = World::new("skip_row");
    pieces.bucket.put("in/big.csv", "\"eb\"", t("09T00:00:00"), body.as_bytes());
    let config = SyncConfig { handoff_rows: 7_000, ..SyncConfig::default() };
    let engine = Engine { config, ..pieces.engine() };
    let mut invocations = 0;
    loop {
        invocations += 1;
        let id = format!("invocation-{invocations}");
        let call = Invocation { hand_over_at: Some(Instant::now()), ..Invocation::new("c1", &id) };
        match engine.run(call).await.unwrap() {
            SyncOutcome::HandedOver { .. } => {}
            SyncOutcome::Completed(_) => break,
            other => panic!("{other:?}"),
        }
    }
    assert!(invocations > 5, "{invocations} invocations");
    let (_, text) = rejects_of(&pieces, "in/big.csv");
    assert!(text == expected, "the rejects object differs from one read's");
    // One rejects object; the staging objects are left to the bucket's lifecycle rule (a retry may
    // still need the one its checkpoint names).
    let keys: Vec<String> = pieces.rejects.objects.lock().unwrap().keys().cloned().collect();
    assert_eq!(keys.iter().filter(|k| !k.contains(".staged-")).count(), 1, "{keys:?}");
    assert_eq!(pieces.rejects.open_uploads(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejects_bucket_that_refuses_costs_the_file_nothing_but_its_object() {
    let w = World::new("skip_row");
    *w.rejects.refuse.lock().unwrap() = true;
    w.bucket.put("in/a.csv", "\"ea\"", t("09T00:00:00"), b"id,amount\nok,1\nbad,x\nok2,2\n");
    let run = w.completed("run1").await;
    assert_eq!((run.counts.rows_imported, run.counts.rows_rejected), (2, 1), "{run:?}");
    let (outcome, _) = rejects_of(&w, "in/a.csv");
    assert_eq!((outcome.status, outcome.rejects.as_deref()), (FileStatus::Partial, None));
    let reason = outcome.reason.unwrap_or_default();
    assert!(reason.starts_with("its rejected rows could not be handed back as a file: AccessDenied"), "{reason}");
}

/// An invocation can stop after it staged rows or finished the object and before its checkpoint or
/// the file's outcome is saved: its retry goes on from the checkpoint before. Here, after every
/// hand-over the next invocation runs twice from the same checkpoint (the first's checkpoint is
/// thrown away), and the finished run is run again from its last checkpoint: the object is still
/// exactly one read's, and the outcome links it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_from_the_checkpoint_before_duplicates_and_loses_no_rejected_row() {
    let rows: String = (0..30_000).map(|i| format!("row-{i:06}-{},not-a-number-{i}\n", "p".repeat(160))).collect();
    let body = format!("id,amount\n{rows}ok,1\n");
    let whole = World::new("skip_row");
    whole.bucket.put("in/big.csv", "\"eb\"", t("09T00:00:00"), body.as_bytes());
    whole.completed("run1").await;
    let (_, expected) = rejects_of(&whole, "in/big.csv");
    assert!(expected.len() > crate::rejects::PART_BYTES);

    let w = World::new("skip_row");
    w.bucket.put("in/big.csv", "\"eb\"", t("09T00:00:00"), body.as_bytes());
    let engine = Engine { config: SyncConfig { handoff_rows: 4_000, ..SyncConfig::default() }, ..w.engine() };
    let checkpoint = || w.store.checkpoints.lock().unwrap().get("c1").cloned();
    let (mut invocations, mut last_checkpoint) = (0, None);
    loop {
        invocations += 1;
        let id = format!("invocation-{invocations}");
        let before = checkpoint();
        let call = Invocation { hand_over_at: Some(Instant::now()), ..Invocation::new("c1", &id) };
        match engine.run(call).await.unwrap() {
            SyncOutcome::HandedOver { .. } if invocations % 2 == 0 => {
                // This invocation's checkpoint is lost: the next goes on from the one before.
                let before = before.expect("a checkpoint before");
                w.store.checkpoints.lock().unwrap().insert("c1".into(), before);
            }
            SyncOutcome::HandedOver { .. } => last_checkpoint = checkpoint(),
            SyncOutcome::Completed(_) => break,
            other => panic!("{other:?}"),
        }
        assert!(invocations < 100, "the run does not end");
    }
    let (outcome, text) = rejects_of(&w, "in/big.csv");
    assert!(text == expected, "after lost checkpoints, the rejects object differs from one read's");
    // The last invocation is run again from the checkpoint before it, after it finished the object.
    let last = last_checkpoint.expect("a hand-over");
    w.store.checkpoints.lock().unwrap().insert("c1".into(), last);
    let retry = Invocation { hand_over_at: None, ..Invocation::new("c1", "retry") };
    assert!(matches!(engine.run(retry).await.unwrap(), SyncOutcome::Completed(_)));
    let (again, text) = rejects_of(&w, "in/big.csv");
    assert_eq!((again.rejects, again.rows_rejected, again.reason), (outcome.rejects, 30_000, None));
    assert!(text == expected, "the retry after the object was finished changed it");
}
