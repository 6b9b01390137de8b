//! Parquet objects in whole runs: read by ranges beside CSV files, handed over in the middle of a
//! row group and at its boundary, their rejected rows handed back, an unreadable one failing alone.

use super::*;
use crate::model::FileOutcome;
use crate::parse::parquet::tests::parquet_bytes;
use crate::ports::SourceErrorKind;
use ::parquet::basic::Compression as Codec;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use std::sync::Arc;
use std::time::Instant;

fn parquet_template(policy: &str) -> Template {
    Template::from_json(&format!(
        r#"{{"id": "tpl", "record_type": "payment", "format": {{"type": "parquet"}}, "row_policy": "{policy}",
        "columns": [{{"source": "id", "field": "id", "type": "string", "required": true}},
                    {{"source": "amount", "field": "amount", "type": "decimal", "required": true}}]}}"#
    ))
    .unwrap()
}

/// `rows` payments in row groups of `group` rows; with `bad`, every 50th amount is not a number.
fn payments(rows: i64, group: usize, bad: bool) -> Vec<u8> {
    let amounts = (0..rows).map(|i| if bad && i % 50 == 13 { "n/a".to_owned() } else { format!("{i}.25") });
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("p{i}")))) as ArrayRef),
        ("amount", Arc::new(StringArray::from_iter_values(amounts))),
        ("note", Arc::new(Int64Array::from_iter_values(0..rows))),
    ])
    .unwrap();
    parquet_bytes(&batch, group, Codec::SNAPPY)
}

fn world(policy: &str) -> World {
    let w = World { store: MemoryStore::with(connection(), parquet_template(policy)), ..World::new(policy) };
    w.bucket.put("in/a.parquet", "\"a\"", t("09T01:00:00"), &payments(700, 128, true));
    w.bucket.put("in/b.parquet", "\"b\"", t("09T02:00:00"), &payments(40, 1000, true));
    w.bucket.put("in/good.parquet", "\"g\"", t("09T02:30:00"), &payments(300, 128, false));
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parquet_import_handed_over_at_every_step_equals_an_uninterrupted_one() {
    for policy in ["skip_row", "fail_file"] {
        let whole = world(policy);
        let expected = whole.completed("whole").await;
        let pieces = world(policy);
        let config = SyncConfig { handoff_rows: pieces.sink.max_batch(), ..SyncConfig::default() };
        let engine = Engine { config, ..pieces.engine() };
        let (mut mid_group, mut invocations) = (0, 0);
        let run = loop {
            invocations += 1;
            let invocation = format!("invocation-{invocations}");
            let call = Invocation { hand_over_at: Some(Instant::now()), ..Invocation::new("c1", &invocation) };
            match engine.run(call).await.unwrap() {
                SyncOutcome::HandedOver { .. } => {
                    let checkpoint = pieces.store.checkpoints.lock().unwrap()["c1"].clone();
                    // Not at a row group's end: 128-row groups, stops every 20 rows.
                    mid_group += usize::from(checkpoint.file.is_some_and(|f| f.position.line % 128 != 0));
                }
                SyncOutcome::Completed(run) => break run,
                other => panic!("{other:?}"),
            }
        };
        assert!(mid_group >= 10, "{policy}: {mid_group} hand-overs inside a row group");
        assert_eq!(*pieces.sink.records.lock().unwrap(), *whole.sink.records.lock().unwrap(), "{policy}");
        let summary = |w: &World| {
            let mut all: Vec<_> = w
                .store
                .outcomes
                .lock()
                .unwrap()
                .values()
                .map(|o| {
                    (
                        o.key.clone(),
                        o.status,
                        o.rows_read,
                        o.rows_imported,
                        o.rows_rejected,
                        o.row_errors.clone(),
                        o.rejects.clone(),
                    )
                })
                .collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            all
        };
        assert_eq!(summary(&pieces), summary(&whole), "{policy}");
        assert_eq!(run.counts.rows_imported, expected.counts.rows_imported);
        let rejects = |w: &World| {
            let mut objects = w.rejects.objects.lock().unwrap().clone();
            objects.retain(|key, _| !key.contains(".staged-"));
            objects
        };
        assert_eq!(rejects(&pieces), rejects(&whole), "{policy}");
        if policy == "skip_row" {
            // 14 of a's 700 rows and 1 of b's 40 are rejected, given back as JSON Lines.
            let outcomes = whole.store.outcomes.lock().unwrap();
            let a = outcomes.values().find(|o| o.key == "in/a.parquet").unwrap();
            assert_eq!((a.status, a.rows_read, a.rows_imported, a.rows_rejected), (FileStatus::Partial, 700, 686, 14));
            let objects = rejects(&whole);
            let text = String::from_utf8(objects[a.rejects.as_ref().unwrap()].clone()).unwrap();
            let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
            assert_eq!(first["_line"], 14);
            assert_eq!(
                (first["_column"].as_str(), first["id"].as_str(), first["amount"].as_str()),
                (Some("amount"), Some("p13"), Some("n/a"))
            );
            assert!(a.rejects.as_ref().unwrap().ends_with(".rejects.jsonl"));
            assert_eq!(text.lines().count(), 14);
        } else {
            let outcomes = whole.store.outcomes.lock().unwrap();
            let failed = |o: &&FileOutcome| o.status == FileStatus::Failed && o.rows_imported == 0;
            assert_eq!(outcomes.values().filter(failed).count(), 2);
            let good = outcomes.values().find(|o| o.key == "in/good.parquet").unwrap();
            assert_eq!((good.status, good.rows_imported), (FileStatus::Imported, 300));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_parquet_object_fails_alone_and_one_that_is_not_parquet_says_so() {
    let w = world("skip_row");
    w.bucket.unreadable.lock().unwrap().insert("in/a.parquet".into(), SourceErrorKind::ObjectDenied);
    w.bucket.put("in/c.parquet", "\"c\"", t("09T03:00:00"), b"id,amount\np1,2\n");
    let run = w.completed("r").await;
    assert_eq!(run.counts.rows_imported, 39 + 300);
    let outcomes = w.store.outcomes.lock().unwrap();
    let a = outcomes.values().find(|o| o.key == "in/a.parquet").unwrap();
    assert_eq!(a.status, FileStatus::Failed);
    assert!(a.reason.as_deref().unwrap().contains("denied by the test") && a.recheck.is_some(), "{a:?}");
    let c = outcomes.values().find(|o| o.key == "in/c.parquet").unwrap();
    assert_eq!(c.status, FileStatus::Failed);
    assert!(c.reason.as_deref().unwrap().contains("does not end with Parquet's magic bytes PAR1"), "{c:?}");
}
