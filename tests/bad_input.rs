//! Every kind of bad file in one run against moto: each gets its recorded outcome and a reason that
//! says what is wrong, the run goes on, and every good row of every other file lands. Keys S3 allows
//! but paths do not (spaces, unicode, "../") are ordinary keys. Row-level cases of every format are
//! the parser's unit tests (crates/core/src/parse.rs: bad_input_gets_an_error_at_its_level).

mod common;

use chrono::TimeDelta;
use common::*;
use connector_core::model::{FileStatus, SyncResult};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_file_is_recorded_with_its_reason_and_every_good_row_lands() {
    needs!(Moto);
    let mut sync = config(TimeDelta::days(90), TimeDelta::hours(24));
    sync.selection.max_object_bytes = 200_000;
    sync.parse_limits.max_record_bytes = 1024;
    sync.decode_limits.ratio_floor_bytes = 256 << 10;
    let world = World::new(sync).await;

    let good = [
        ("in/good.csv", "id,amount\ng1,1\n"),
        ("in/with space.csv", "id,amount\nspace,2\n"),
        ("in/ünïcode データ.csv", "id,amount,currency\nunicode,3,eur\n"),
        ("in/../dots.csv", "id,amount\ndots,4\n"),
        ("in/a/./b//c.csv", "id,amount\nslashes,5\n"),
    ];
    for (key, body) in good {
        world.put(key, body).await;
    }
    world.put("in/empty.csv", "").await;
    world.put("in/header-only.csv", "\u{feff}id,amount\r\n").await;
    let truncated = gzip(format!("id,amount\n{}", "t,1\n".repeat(5000)).as_bytes());
    world.put("in/truncated.csv.gz", truncated[..truncated.len() / 2].to_vec()).await;
    // 2 MiB of one row repeated, a few KB compressed: hundreds of times its size.
    let mut bomb = b"id,amount\n".to_vec();
    // Rows rejected (no amount), so that the rows before the refusal write nothing moto must take.
    bomb.extend(b"b,\n".repeat(700 << 10));
    world.put("in/bomb.csv.gz", gzip(&bomb)).await;
    world.put("in/too-big.csv", format!("id,amount\n{}", "x,1\n".repeat(60_000))).await;
    world.put("in/long-line.csv", format!("id,amount\nok,1\n{},2\n", "y".repeat(2000))).await;
    world.put("in/unbalanced.csv", "id,amount\nu1,1\n\"u2,2\nu3,3\n").await;
    // Not UTF-8 in its first 64 KiB: the file's encoding contradicts the template's; a stray byte
    // past them is the row's error.
    world.put("in/latin1.csv", b"id,amount\ncaf\xe9,1\n".to_vec()).await;
    let good_rows = "late,1\n".repeat(10_000);
    world.put("in/latin1-late.csv", [format!("id,amount\n{good_rows}").as_bytes(), b"caf\xe9,1\n"].concat()).await;
    world.put("in/utf16.csv", b"\xff\xfei\0d\0,\0a\0\n\0".to_vec()).await;
    world.put("in/nul.csv", b"id,amount\nn\x001,1\nn2,2\n".to_vec()).await;
    world.put("in/ragged.csv", "id,amount\nr1,1\nr2,2,extra,more\nr3,3\n").await;
    world.put("outside/../in-name-only.csv", "id,amount\noutside,9\n").await;
    let connection = world.connection(Some("in")).await;

    let run = world.completed(&connection.id).await;

    assert_eq!(run.result, SyncResult::Partial, "{run:?}");
    let outcomes = world.connector.state.outcomes(&connection.id).await.unwrap();
    let outcome = |key: &str| {
        let o = outcomes.iter().find(|o| o.key == key).unwrap_or_else(|| panic!("no outcome for {key}"));
        (o.status, o.reason.clone().unwrap_or_default(), o.clone())
    };
    for (key, _) in good {
        assert_eq!(outcome(key).0, FileStatus::Imported, "{key}");
    }
    let failed = [
        ("in/truncated.csv.gz", "cannot decode the file"),
        ("in/bomb.csv.gz", "refused as a decompression bomb"),
        ("in/too-big.csv", "over the limit of 200000 bytes"),
        ("in/long-line.csv", "longer than 1024 bytes"),
        ("in/utf16.csv", "UTF-16"),
        (
            "in/latin1.csv",
            "the file looks like windows-1252 (byte 0xE9 at byte 13 is not UTF-8), and the template reads utf-8",
        ),
    ];
    for (key, expected) in failed {
        let (status, reason, _) = outcome(key);
        assert_eq!(status, FileStatus::Failed, "{key}: {reason}");
        assert!(reason.contains(expected), "{key}: {reason}");
    }
    // An empty file has no header, so nothing says which column is which: it fails, saying so
    // (README, "Empty files"); a header alone is a file of no rows.
    let (status, reason, _) = outcome("in/empty.csv");
    assert_eq!(status, FileStatus::Failed, "{reason}");
    assert!(reason.contains("the file is empty") && reason.contains("header row"), "{reason}");
    let (status, _, header_only) = outcome("in/header-only.csv");
    assert_eq!((status, header_only.rows_read), (FileStatus::Imported, 0));
    // Row-level faults reject their row only, and say where.
    let (status, _, nul) = outcome("in/nul.csv");
    assert_eq!((status, nul.rows_imported, nul.rows_rejected), (FileStatus::Partial, 1, 1));
    assert_eq!(nul.row_errors[0].line, 2);
    assert!(nul.row_errors[0].reason.contains("NUL"), "{:?}", nul.row_errors);
    let (status, _, latin1) = outcome("in/latin1-late.csv");
    assert_eq!((status, latin1.rows_imported, latin1.rows_rejected), (FileStatus::Partial, 10_000, 1));
    assert!(latin1.row_errors[0].reason.contains("is the file Latin-1"), "{:?}", latin1.row_errors);
    // A quote that never closes (within the record limit) takes the rest of the file into one row.
    let (status, _, unbalanced) = outcome("in/unbalanced.csv");
    assert_eq!((status, unbalanced.rows_imported, unbalanced.rows_rejected), (FileStatus::Partial, 1, 1));
    assert_eq!(unbalanced.row_errors[0].line, 3);
    assert!(unbalanced.row_errors[0].reason.contains("unbalanced quote?"), "{:?}", unbalanced.row_errors);
    let (status, _, ragged) = outcome("in/ragged.csv");
    assert_eq!((status, ragged.rows_imported, ragged.rows_rejected), (FileStatus::Partial, 2, 1));
    assert_eq!(ragged.row_errors[0].line, 3);
    assert!(outcomes.iter().all(|o| o.key.starts_with("in/")), "a key outside the folder is not listed");

    // A file that fails part of the way keeps the rows before the failure, written once and counted.
    for key in ["in/truncated.csv.gz", "in/bomb.csv.gz", "in/long-line.csv"] {
        let (_, _, o) = outcome(key);
        assert_eq!(o.rows_read, o.rows_imported + o.rows_rejected, "{key}: {o:?}");
    }
    let mut count: std::collections::BTreeMap<String, u64> = Default::default();
    for (_, data) in world.records(&connection.id).await {
        *count.entry(data["payment_id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    let mut expected: std::collections::BTreeMap<String, u64> =
        ["dots", "g1", "n2", "ok", "r1", "r3", "slashes", "space", "u1", "unicode"].map(|id| (id.to_owned(), 1)).into();
    expected.insert("late".into(), 10_000);
    let truncated = outcome("in/truncated.csv.gz").2.rows_imported;
    if truncated > 0 {
        expected.insert("t".into(), truncated);
    }
    assert!(outcome("in/bomb.csv.gz").2.rows_rejected > 0, "the bomb was refused part of the way");
    assert_eq!(count, expected);
    // The record of a file under an unusual key names it exactly.
    let records = world.records(&connection.id).await;
    let keys: Vec<String> = records.iter().map(|(id, _)| id.clone()).collect();
    assert!(keys.iter().any(|id| id.starts_with("in/ünïcode データ.csv#")), "{keys:?}");
}
