//! What customers send, against moto: compressed files (zstd, bzip2) and text in other encodings
//! (Windows-1252, UTF-16), each read through a sync and each outcome and record checked; a file
//! whose bytes contradict its template's encoding fails saying what it looks like; a drifted header
//! is reported, and unmapped members kept when the template says so; Parquet read row group by row
//! group through ranged GETs, and a handed-over Parquet import equal to an uninterrupted one.

mod common;

use chrono::TimeDelta;
use common::*;
use connector_core::decode::{compress, Compression};
use connector_core::model::{FileOutcome, FileStatus, SyncResult};
use serde_json::json;

/// The payments template in another format or encoding, under an id of its own.
fn payments(id: &str, format: serde_json::Value) -> String {
    let mut template: serde_json::Value = serde_json::from_str(PAYMENTS_TEMPLATE).unwrap();
    template["id"] = id.into();
    template["format"] = format;
    template.to_string()
}

fn utf16le_with_bom(text: &str) -> Vec<u8> {
    [0xff, 0xfe].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect()
}

async fn outcome(world: &World, connection_id: &str, key: &str) -> FileOutcome {
    let outcomes = world.connector.state.outcomes(connection_id).await.unwrap();
    outcomes.into_iter().find(|o| o.key == key).unwrap_or_else(|| panic!("no outcome for {key}"))
}

/// (payment id, amount, currency) of every record of a connection, sorted.
async fn payments_of(world: &World, connection_id: &str) -> Vec<(String, String, String)> {
    let mut all: Vec<(String, String, String)> = world
        .records(connection_id)
        .await
        .into_iter()
        .map(|(_, data)| {
            let text = |field: &str| data[field].as_str().map(str::to_owned).unwrap_or_else(|| data[field].to_string());
            (text("payment_id"), text("amount"), text("currency"))
        })
        .collect();
    all.sort();
    all
}

fn row(id: &str, amount: &str, currency: &str) -> (String, String, String) {
    (id.to_owned(), amount.to_owned(), currency.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_files_and_legacy_encodings_are_imported_and_a_contradicting_file_fails_saying_what_it_looks_like() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;

    // A zstd CSV with a bad row, and one of two frames (as pzstd writes), read with the CSV template.
    let csv = "id,amount,currency\nz1,1.50,eur\nz2,oops,usd\nz3,3,usd\n";
    world.put("csv/a.csv.zst", compress(Compression::Zstd, csv.as_bytes())).await;
    let frames = [compress(Compression::Zstd, b"id,amount\nf1,1\n"), compress(Compression::Zstd, b"f2,2\n")].concat();
    world.put("csv/frames.csv.zst", frames).await;
    // A Windows-1252 file under the UTF-8 template: refused, naming what it is.
    world.put("csv/latin.csv", b"id,amount\nRen\xe9,1\nJ\xfcrgen,2\n".to_vec()).await;
    // A header that drifted: a new column, and the optional currency gone.
    world.put("csv/drifted.csv", "id,amount,region\nd1,4,eu\n").await;
    let csv_connection = world.connection(Some("csv")).await;

    // A bzip2 JSON Lines file.
    // Its records hold a member the template does not map, which it keeps.
    let lines: String =
        (0..50).map(|i| format!("{}\n", json!({"id": format!("j{i}"), "amount": i, "channel": "web"}))).collect();
    world.put("jsonl/b.jsonl.bz2", compress(Compression::Bzip2, lines.as_bytes())).await;
    let mut keep: serde_json::Value =
        serde_json::from_str(&payments("payments-jsonl", json!({"type": "json_lines"}))).unwrap();
    keep["extra_columns"] = "keep".into();
    let jsonl = world.connection_with_template("jsonl", &keep.to_string()).await;

    // Windows-1252 (the € is 0x80, only in windows-1252, not in ISO-8859-1), gzip'd as well; and a
    // UTF-8 file under that template, which would otherwise import as mojibake.
    let latin = b"id,amount,currency\nRen\xe9 \x80,1,eur\nJ\xfcrgen,2,usd\n".to_vec();
    world.put("latin/c.csv", latin.clone()).await;
    world.put("latin/c2.csv.gz", compress(Compression::Gzip, &latin)).await;
    world.put("latin/utf8.csv", "id,amount\nRené,1\n").await;
    let latin_template = payments("payments-latin", json!({"type": "csv", "encoding": "latin-1"}));
    let latin_connection = world.connection_with_template("latin", &latin_template).await;

    // UTF-16 with its byte-order mark, plain and bzip2'd.
    let utf16 = utf16le_with_bom("id,amount\n音楽,7\n𝄞 clef,8\n");
    world.put("utf16/d.csv", utf16.clone()).await;
    world.put("utf16/e.csv.bz2", compress(Compression::Bzip2, &utf16)).await;
    let utf16_connection = world
        .connection_with_template("utf16", &payments("payments-utf16", json!({"type": "csv", "encoding": "utf-16"})))
        .await;

    // THEN each file has its outcome and its records
    let run = world.completed(&csv_connection.id).await;
    assert_eq!((run.result, run.counts.rows_imported), (SyncResult::Partial, 5), "{run:?}");
    let drifted = outcome(&world, &csv_connection.id, "csv/drifted.csv").await;
    assert_eq!((drifted.status, drifted.rows_imported), (FileStatus::Imported, 1));
    let drift = (drifted.drift.unmapped_columns, drifted.drift.missing_columns);
    assert_eq!(drift, (vec!["region".to_owned()], vec!["currency".to_owned()]));
    let a = outcome(&world, &csv_connection.id, "csv/a.csv.zst").await;
    assert_eq!((a.status, a.rows_read, a.rows_imported, a.rows_rejected), (FileStatus::Partial, 3, 2, 1), "{a:?}");
    assert_eq!((a.row_errors[0].line, a.row_errors[0].column.as_deref()), (3, Some("amount")), "{a:?}");
    assert_eq!(outcome(&world, &csv_connection.id, "csv/frames.csv.zst").await.rows_imported, 2);
    let refused = outcome(&world, &csv_connection.id, "csv/latin.csv").await;
    assert_eq!(refused.status, FileStatus::Failed);
    let reason = refused.reason.unwrap_or_default();
    assert!(reason.contains("looks like windows-1252") && reason.contains("the template reads utf-8"), "{reason}");
    assert_eq!(
        payments_of(&world, &csv_connection.id).await,
        vec![
            row("d1", "4", "usd"),
            row("f1", "1", "usd"),
            row("f2", "2", "usd"),
            row("z1", "1.50", "eur"),
            row("z3", "3", "usd")
        ]
    );

    let run = world.completed(&jsonl.id).await;
    assert_eq!((run.result, run.counts.rows_imported), (SyncResult::Succeeded, 50), "{run:?}");
    let b = outcome(&world, &jsonl.id, "jsonl/b.jsonl.bz2").await;
    assert_eq!((b.status, b.rows_imported), (FileStatus::Imported, 50));
    assert_eq!(b.drift.unmapped_columns, ["channel"]);
    assert!(payments_of(&world, &jsonl.id).await.contains(&row("j49", "49", "usd")));
    let records = world.records(&jsonl.id).await;
    assert!(records.iter().all(|(_, data)| data["_extra"] == json!({"channel": "web"})), "{:?}", records[0]);

    let run = world.completed(&latin_connection.id).await;
    assert_eq!((run.result, run.counts.rows_imported), (SyncResult::Partial, 4), "{run:?}");
    for key in ["latin/c.csv", "latin/c2.csv.gz"] {
        let o = outcome(&world, &latin_connection.id, key).await;
        assert_eq!((o.status, o.rows_imported), (FileStatus::Imported, 2), "{key}: {o:?}");
    }
    let refused = outcome(&world, &latin_connection.id, "latin/utf8.csv").await;
    let reason = refused.reason.unwrap_or_default();
    assert_eq!(refused.status, FileStatus::Failed);
    assert!(reason.contains("looks like UTF-8") && reason.contains("set the template's encoding to utf-8"), "{reason}");
    // The two payments of the plain and of the gzip file (records of each: no primary key).
    assert_eq!(
        payments_of(&world, &latin_connection.id).await,
        vec![
            row("Jürgen", "2", "usd"),
            row("Jürgen", "2", "usd"),
            row("René €", "1", "eur"),
            row("René €", "1", "eur")
        ]
    );

    let run = world.completed(&utf16_connection.id).await;
    assert_eq!((run.result, run.counts.rows_imported), (SyncResult::Succeeded, 4), "{run:?}");
    assert_eq!(
        payments_of(&world, &utf16_connection.id).await,
        vec![row("音楽", "7", "usd"), row("音楽", "7", "usd"), row("𝄞 clef", "8", "usd"), row("𝄞 clef", "8", "usd")]
    );
}

/// The rejects object a listing links to, as text.
async fn rejects_text(world: &World, connection_id: &str, key: &str) -> String {
    let files = world.connector.in_process().files(connection_id).await.unwrap();
    let file = files.into_iter().find(|o| o.key == key).expect("an outcome");
    let url = file.rejects_url.unwrap_or_else(|| panic!("no rejects link for {key}: {:?}", file.rejects));
    let response = reqwest::get(&url).await.expect("the link answers");
    assert!(response.status().is_success(), "{url}: {}", response.status());
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_rows_are_handed_back_line_for_line_in_the_files_own_format() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let csv = "id,amount,currency\r\ng1,1,usd\r\n\"b,1\",x,usd\r\ng2,2,eur\r\nb2,3,gbp\r\n,4,usd\r\nb4,5,usd,extra\r\n";
    world.put("csv/a.csv", csv).await;
    world.put("csv/clean.csv", "id,amount\nc1,1\n").await;
    let connection = world.connection(Some("csv")).await;
    let run = world.completed(&connection.id).await;
    assert_eq!((run.counts.rows_imported, run.counts.rows_rejected), (3, 4), "{run:?}");

    let text = rejects_text(&world, &connection.id, "csv/a.csv").await;
    let a = outcome(&world, &connection.id, "csv/a.csv").await;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    assert_eq!(reader.headers().unwrap(), vec!["id", "amount", "currency", "_line", "_column", "_reason"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let originals =
        [vec!["b,1", "x", "usd"], vec!["b2", "3", "gbp"], vec!["", "4", "usd"], vec!["b4", "5", "usd", "extra"]];
    assert_eq!((rows.len(), a.rows_rejected), (4, 4));
    for ((row, original), error) in rows.iter().zip(originals).zip(&a.row_errors) {
        let n = original.len();
        assert_eq!(row.iter().take(n).collect::<Vec<_>>(), original, "{row:?}");
        let said = (&row[n], &row[n + 1], &row[n + 2]);
        assert_eq!(
            said,
            (error.line.to_string().as_str(), error.column.as_deref().unwrap_or(""), error.reason.as_str())
        );
    }
    assert!(outcome(&world, &connection.id, "csv/clean.csv").await.rejects.is_none(), "no rows rejected, no object");
}

/// 50,000 rejected rows of about 110 bytes: a multipart upload of two parts on S3, read in
/// invocations of 20,000 rows whose unfinished part waits in a staging object between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_rejects_object_is_uploaded_in_parts_across_hand_overs() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let rows: String =
        (0..50_000).map(|i| format!("{{\"id\": \"r{i:06}-{}\", \"amount\": \"n/a\"}}\n", "p".repeat(60))).collect();
    world.put("jsonl/big.jsonl", rows).await;
    let template = payments("payments-jsonl", json!({"type": "json_lines"}));
    let connection = world.connection_with_template("jsonl", &template).await;
    let mut settings = world.connector.settings.clone();
    settings.sync.handoff_rows = 20_000;
    let stepwise = connector_aws::Deployment::new(world.aws.clone(), settings);
    let mut invocations = 0;
    loop {
        invocations += 1;
        let request = connector_aws::SyncRequest::new(&connection.id);
        let step = connector_aws::SyncRequest { hand_over_at: Some(std::time::Instant::now()), ..request };
        match stepwise.sync(step).await.unwrap() {
            connector_core::engine::SyncOutcome::HandedOver { .. } => {}
            connector_core::engine::SyncOutcome::Completed(run) => {
                assert_eq!(run.counts.rows_rejected, 50_000);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(invocations >= 3, "{invocations} invocations");
    let text = rejects_text(&world, &connection.id, "jsonl/big.jsonl").await;
    assert!(text.len() > 5 * 1024 * 1024, "{} bytes", text.len());
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 50_000);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["_line"], i + 1, "line {i}");
        assert_eq!(line["id"], format!("r{i:06}-{}", "p".repeat(60)));
    }
    // The rejects object, and a staging object per hand-over that had rows waiting (left to the
    // bucket's lifecycle rule: a retry may need the one its checkpoint names).
    let bucket = world.connector.settings.rejects_bucket.clone().unwrap();
    let listed = world.s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys.iter().filter(|k| !k.contains(".staged-")).count(), 1, "{keys:?}");
    assert!(keys.iter().filter(|k| k.contains(".staged-")).count() >= 1, "{keys:?}");
}

/// Payments as Parquet, written by Arrow's writer in row groups of `group` rows: the id, the amount
/// as a decimal(12, 2) (every 97th null: a rejected row), the currency as a dictionary, and a nested
/// `customer.country`.
fn payments_parquet(rows: i64, group: usize) -> Vec<u8> {
    use arrow_array::{
        types::Int32Type, ArrayRef, Decimal128Array, DictionaryArray, RecordBatch, StringArray, StructArray,
    };
    use std::sync::Arc;
    let amounts = Decimal128Array::from_iter((0..rows).map(|i| (i % 97 != 5).then_some(i as i128 * 100 + 25)))
        .with_precision_and_scale(12, 2)
        .unwrap();
    let currency: DictionaryArray<Int32Type> = (0..rows).map(|i| if i % 3 == 0 { "eur" } else { "usd" }).collect();
    let country = StringArray::from_iter_values((0..rows).map(|i| ["no", "pe", "in"][i as usize % 3]));
    let customer = StructArray::from(vec![(
        Arc::new(arrow_schema::Field::new("country", arrow_schema::DataType::Utf8, false)),
        Arc::new(country) as ArrayRef,
    )]);
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(StringArray::from_iter_values((0..rows).map(|i| format!("pq{i:05}")))) as ArrayRef),
        ("amount", Arc::new(amounts)),
        ("currency", Arc::new(currency)),
        ("customer", Arc::new(customer)),
    ])
    .unwrap();
    let properties = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    bytes
}

fn parquet_template(id: &str) -> String {
    json!({
        "id": id, "record_type": "payment", "format": {"type": "parquet"},
        "columns": [
            {"source": "id", "field": "payment_id", "type": "string", "required": true},
            {"source": "amount", "field": "amount", "type": "decimal", "required": true},
            {"source": "currency", "field": "currency", "type": "enum", "values": ["usd", "eur"]},
            {"source": "customer.country", "field": "country", "type": "string"}
        ]
    })
    .to_string()
}

/// A Parquet file of several row groups, read by ranged GETs from moto: every record, the rejected
/// rows handed back, a file that is not Parquet failing alone; and the same file imported in
/// invocations handed over every 1,000 rows (row groups of 1,500: in their middle), equal to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_row_groups_are_imported_by_ranges_and_a_handed_over_import_equals_an_uninterrupted_one() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let file = payments_parquet(6_000, 1_500);
    world.put("whole/p.parquet", file.clone()).await;
    world.put("whole/notes.parquet", "id,amount\nx,1\n").await;
    world.put("steps/p.parquet", file).await;
    let whole = world.connection_with_template("whole", &parquet_template("payments-parquet")).await;
    let steps = world.connection_with_template("steps", &parquet_template("payments-parquet")).await;

    // A preview's sample reads the footer and the first row group by ranges, as a sync does.
    let preview = world.connector.in_process().preview(&whole.id, 10, Some("whole/p.parquet"), 5).await.unwrap();
    let sample = preview.sample.unwrap();
    assert_eq!((sample.rows.len(), sample.file_error.as_deref()), (5, None));
    assert_eq!((&sample.rows[1]["payment_id"], &sample.rows[1]["country"]), (&json!("pq00001"), &json!("pe")));
    let not_parquet = world.connector.in_process().preview(&whole.id, 10, Some("whole/notes.parquet"), 5).await;
    let error = not_parquet.unwrap().sample.unwrap().file_error.unwrap();
    assert!(error.starts_with("before any row was read: not a Parquet file"), "{error}");

    let run = world.completed(&whole.id).await;
    assert_eq!((run.result, run.counts.rows_imported, run.counts.rows_rejected), (SyncResult::Partial, 5_938, 62));
    let p = outcome(&world, &whole.id, "whole/p.parquet").await;
    assert_eq!((p.status, p.rows_read, p.rows_imported, p.rows_rejected), (FileStatus::Partial, 6_000, 5_938, 62));
    assert_eq!((p.row_errors[0].line, p.row_errors[0].column.as_deref()), (6, Some("amount")));
    assert!(p.drift.is_empty(), "{:?}", p.drift);
    let notes = outcome(&world, &whole.id, "whole/notes.parquet").await;
    assert_eq!(notes.status, FileStatus::Failed);
    assert!(notes.reason.unwrap().contains("does not end with Parquet's magic bytes PAR1"));
    let records = world.records(&whole.id).await;
    let first = records.iter().find(|(_, data)| data["payment_id"] == "pq00001").unwrap();
    assert_eq!(
        (&first.1["amount"], &first.1["currency"], &first.1["country"]),
        (&json!("1.25"), &json!("usd"), &json!("pe"))
    );
    let text = rejects_text(&world, &whole.id, "whole/p.parquet").await;
    let rejected: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rejected.len(), 62);
    assert_eq!(
        (&rejected[1]["_line"], &rejected[1]["id"], &rejected[1]["amount"], &rejected[1]["customer.country"]),
        (&json!(103), &json!("pq00102"), &serde_json::Value::Null, &json!("no"))
    );

    let mut settings = world.connector.settings.clone();
    settings.sync.handoff_rows = 1_000;
    let stepwise = connector_aws::Deployment::new(world.aws.clone(), settings);
    let mut invocations = 0;
    loop {
        invocations += 1;
        let step = connector_aws::SyncRequest {
            hand_over_at: Some(std::time::Instant::now()),
            ..connector_aws::SyncRequest::new(&steps.id)
        };
        match stepwise.sync(step).await.unwrap() {
            connector_core::engine::SyncOutcome::HandedOver { .. } => {}
            connector_core::engine::SyncOutcome::Completed(run) => {
                assert_eq!((run.counts.rows_imported, run.counts.rows_rejected), (5_938, 62));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(invocations >= 6, "{invocations} invocations");
    let stepped = outcome(&world, &steps.id, "steps/p.parquet").await;
    let counts = |o: &FileOutcome| (o.status, o.rows_read, o.rows_imported, o.rows_rejected, o.row_errors.clone());
    assert_eq!(counts(&stepped), counts(&p));
    // The same records (ids are key # ETag # row: compared without the key's folder), as JSON values:
    // an item's attributes come back from DynamoDB in no set order.
    let by_row = |records: Vec<(String, serde_json::Value)>| {
        let mut rows: Vec<serde_json::Value> = records.into_iter().map(|(_, data)| data).collect();
        rows.sort_by(|a, b| a["payment_id"].as_str().cmp(&b["payment_id"].as_str()));
        rows
    };
    assert_eq!(by_row(world.records(&steps.id).await), by_row(records));
    assert_eq!(rejects_text(&world, &steps.id, "steps/p.parquet").await, text);
}
