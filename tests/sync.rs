//! End-to-end syncs against moto server: real S3 listings and timestamps, real STS, real DynamoDB.

mod common;

use connector_core::manage::ports::Templates;

use connector_core::manage::connections::ConnectionChange;
use connector_core::manage::recovery::FileSelection;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::TimeDelta;
use common::*;
use connector_core::engine::{SyncError, SyncOutcome};
use connector_core::model::{ConnectionStatus, FileStatus, SyncResult};
use connector_core::ports::{Lease, SyncStore};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_imports_what_changed_within_the_lookback_under_the_folder_only() {
    needs!(Moto);
    // GIVEN an old file, then (seconds later) new files in and out of the folder
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let old = world.put("in/old.csv", "id,amount\nold,1\n").await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    world.put("in/a.csv", "id,amount,currency\na1,1.10,eur\na2,2,\n").await;
    world.put("in/sub/b.csv.gz", gzip(b"\xef\xbb\xbfid,amount\r\nb1,3\r\n")).await;
    world.put("other/c.csv", "id,amount\nc1,4\n").await;
    world.put("in/", "").await;
    // The lookback is set so that the first file is older than it: moto, like S3, cannot backdate.
    let lookback = chrono::Utc::now() - (old + TimeDelta::seconds(1));
    let world = World { connector: world_with_lookback(&world, lookback), ..world };
    let connection = world.connection(Some("in")).await;

    // WHEN the first sync runs
    let run = world.completed(&connection.id).await;

    // THEN the new files under the folder are imported, and nothing else
    assert_eq!(run.result, SyncResult::Succeeded, "{run:?}");
    assert_eq!(run.counts.objects_listed, 4, "the listing is limited to the folder");
    assert_eq!((run.counts.files_imported, run.counts.files_skipped, run.counts.rows_imported), (2, 1, 3));
    let records = world.records(&connection.id).await;
    assert_eq!(payment_ids(&records), ["a1", "a2", "b1"]);
    assert_eq!(records[0].1["amount"], serde_json::json!("1.10"), "a decimal shown as its digits as stored");
    assert_eq!(records[0].1["currency"], "eur");
    assert_eq!(records[1].1["currency"], "usd", "default applied");
    // Read back through the service, a decimal field is its digits whatever they are: `2` too.
    let page = world.connector.in_process().records_page(&connection.id, 10, None).await.unwrap();
    let mut amounts: Vec<_> = page.records.iter().map(|r| r["data"]["amount"].clone()).collect();
    amounts.sort_by_key(|a| a.to_string());
    assert_eq!(amounts, [serde_json::json!("1.10"), serde_json::json!("2"), serde_json::json!("3")]);
    let outcomes = world.connector.state.outcomes(&connection.id).await.unwrap();
    assert!(outcomes.iter().all(|o| o.key != "in/old.csv"), "the old file is out of the window");
    let placeholder = outcomes.iter().find(|o| o.key == "in/").unwrap();
    assert_eq!((placeholder.status, placeholder.reason.as_deref()), (FileStatus::Skipped, Some("folder placeholder")));
    let shown = world.connector.state.connection(&connection.id).await.unwrap().unwrap();
    assert_eq!(shown.status, ConnectionStatus::Active);
    assert_eq!(shown.sync.last_result, Some(SyncResult::Succeeded));
    assert_eq!(shown.sync.watermark, run.watermark_after);
}

fn world_with_lookback(world: &World, lookback: TimeDelta) -> connector_aws::Deployment {
    let mut settings = world.connector.settings.clone();
    settings.sync.selection.initial_lookback = lookback;
    connector_aws::Deployment::new(world.aws.clone(), settings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_sync_imports_only_what_is_new_including_same_second_and_replaced_files() {
    needs!(Moto);
    // Zero overlap: only the whole-second rule can catch a file written in the listing's second.
    let world = World::new(config(TimeDelta::days(90), TimeDelta::zero())).await;
    world.put("a.csv", "id,amount\na1,1\n").await;
    let connection = world.connection(None).await;

    let mut caught_same_second = false;
    for attempt in 0..5 {
        at_next_second().await;
        let first = world.completed(&connection.id).await;
        let name = format!("late-{attempt}.csv");
        let late = world.put(&name, format!("id,amount\nlate{attempt},1\n")).await;
        let watermark = first.watermark_after.unwrap();
        assert!(late >= watermark, "a file written after the listing is not older than the watermark");
        let second = world.completed(&connection.id).await;
        let imported: Vec<_> = world.records(&connection.id).await.into_iter().map(|(id, _)| id).collect();
        assert!(imported.iter().any(|id| id.starts_with(&name)), "{name} was imported by the next sync: {imported:?}");
        assert_eq!(second.counts.files_imported, 1, "only {name} is new: {second:?}");
        if late == watermark {
            caught_same_second = true;
            break;
        }
    }
    assert!(caught_same_second, "never managed to write a file in the same second as a listing began");

    // A replaced file (new ETag) is imported again; nothing else is.
    world.put("a.csv", "id,amount\na1,100\na3,3\n").await;
    let run = world.completed(&connection.id).await;
    assert_eq!((run.counts.files_imported, run.counts.rows_imported), (1, 2), "{run:?}");

    // Nothing new: nothing written.
    let before = world.records(&connection.id).await;
    let run = world.completed(&connection.id).await;
    assert_eq!((run.counts.objects_selected, run.counts.rows_imported), (0, 0));
    assert_eq!(world.records(&connection.id).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_a_finished_sync_again_writes_no_duplicate() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let rows: String = (0..60).map(|i| format!("p{i},{i}.5\n")).collect();
    world.put("p.csv", format!("id,amount\n{rows}")).await;
    let connection = world.connection(None).await;
    world.completed(&connection.id).await;
    let first = world.records(&connection.id).await;
    assert_eq!(first.len(), 60);

    // Again, as a repeated invocation would.
    let run = world.completed(&connection.id).await;
    assert_eq!(run.counts.rows_imported, 0);

    // Again after losing the ledger, as a worker that crashed after writing records but before
    // recording the outcome would: the rows are written again, onto the same items.
    let state = world.aws.dynamodb();
    state
        .delete_item()
        .table_name(&world.connector.settings.state_table)
        .key("pk", AttributeValue::S(format!("CONN#{}", connection.id)))
        .key("sk", AttributeValue::S("OBJ#p.csv".into()))
        .send()
        .await
        .unwrap();
    let run = world.completed(&connection.id).await;
    assert_eq!(run.counts.rows_imported, 60, "the file was imported again");
    assert_eq!(world.records(&connection.id).await, first, "onto the same 60 records");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_fails_alone_while_the_others_import() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    world.put("1-good.csv", "id,amount\ng1,1\n").await;
    world.put("2-no-id-column.csv", "amount\n1\n").await;
    let truncated = gzip(format!("id,amount\n{}", "t,1\n".repeat(20_000)).as_bytes());
    world.put("3-truncated.csv.gz", truncated[..truncated.len() / 2].to_vec()).await;
    world.put("4-bad-rows.csv", "id,amount,currency\nr1,1,usd\nr2,abc,usd\nr3,3,gbp\n,4,usd\n").await;
    world.put("5-picture.png", vec![0x89, b'P', b'N', b'G']).await;
    let connection = world.connection(None).await;

    let run = world.completed(&connection.id).await;

    assert_eq!(run.result, SyncResult::Partial);
    let c = &run.counts;
    assert_eq!((c.files_imported, c.files_partial, c.files_failed, c.files_skipped), (1, 1, 2, 1), "{run:?}");
    let outcomes = world.connector.state.outcomes(&connection.id).await.unwrap();
    let by_key = |k: &str| outcomes.iter().find(|o| o.key == k).unwrap().clone();
    assert!(by_key("2-no-id-column.csv").reason.unwrap().contains("header lacks required column(s): id"));
    // The rows before the truncation are written and counted; the file fails.
    let truncated = by_key("3-truncated.csv.gz");
    assert!(truncated.reason.unwrap().contains("cannot decode the file"));
    assert_eq!(truncated.rows_read, truncated.rows_imported);
    let records = world.records(&connection.id).await;
    let (t, others): (Vec<&str>, Vec<&str>) = payment_ids(&records).into_iter().partition(|id| *id == "t");
    assert_eq!((others, t.len() as u64), (vec!["g1", "r1"], truncated.rows_imported));
    let partial = by_key("4-bad-rows.csv");
    let errors: Vec<_> =
        partial.row_errors.iter().map(|e| (e.row, e.line, e.column.clone().unwrap_or_default())).collect();
    assert_eq!(errors, [(2, 3, "amount".into()), (3, 4, "currency".into()), (4, 5, "id".into())]);
    assert!(partial.row_errors[1].reason.contains("'gbp' is not one of usd, eur"));
    assert_eq!(by_key("5-picture.png").status, FileStatus::Skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_sets_needs_reauth_and_advances_nothing() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let connection = world.connection_to(&unique("gone"), None).await;

    let run = world.completed(&connection.id).await;

    assert_eq!(run.result, SyncResult::NeedsReauth);
    assert!(run.error.as_deref().unwrap().contains("NoSuchBucket"), "{run:?}");
    let shown = world.connector.state.connection(&connection.id).await.unwrap().unwrap();
    assert_eq!((shown.status, shown.sync.watermark), (ConnectionStatus::NeedsReauth, None));
    assert_eq!(
        world.sync(&connection.id).await.unwrap(),
        SyncOutcome::NotSyncable { status: ConnectionStatus::NeedsReauth }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_lease_stops_a_second_worker_and_a_stopped_one_is_taken_over() {
    needs!(Moto);
    let mut sync = config(TimeDelta::days(90), TimeDelta::hours(24));
    sync.lease_duration = TimeDelta::seconds(2);
    let world = World::new(sync).await;
    world.put("a.csv", "id,amount\na,1\n").await;
    let connection = world.connection(None).await;
    let state = &world.connector.state;
    let now = chrono::Utc::now();
    let term = TimeDelta::seconds(2);
    assert_eq!(
        state.acquire_lease(&connection.id, "other-worker", now, now + term, None).await.unwrap(),
        Lease::Acquired
    );

    // A live holder renews every half term: the second worker sees it renew and leaves it alone.
    let renewing = async {
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = chrono::Utc::now();
            assert!(state.renew_lease(&connection.id, "other-worker", now, now + term).await.unwrap());
        }
    };
    let (synced, ()) = tokio::join!(world.sync(&connection.id), renewing);
    match synced {
        Ok(SyncOutcome::LeaseHeld { owner, .. }) => assert_eq!(owner, "other-worker"),
        other => panic!("expected the live lease to stop the sync, got {other:?}"),
    }
    assert!(world.records(&connection.id).await.is_empty());

    // The holder stops renewing (killed by its timeout): the next worker waits the lease out and syncs.
    let run = world.completed(&connection.id).await;
    assert_eq!(run.counts.rows_imported, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_started_at_once_sync_once() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let rows: String = (0..200).map(|i| format!("p{i},{i}\n")).collect();
    world.put("a.csv", format!("id,amount\n{rows}")).await;
    let connection = world.connection(None).await;

    let (a, b) = tokio::join!(world.sync(&connection.id), world.sync(&connection.id));

    // One takes the lease and imports; the other either finds the lease held or, had the first
    // finished before it asked, finds nothing left to import. Either way no row is written twice.
    let outcomes = [a.unwrap(), b.unwrap()];
    let runs: Vec<_> =
        outcomes.iter().filter_map(|o| if let SyncOutcome::Completed(r) = o { Some(r) } else { None }).collect();
    let held = outcomes.iter().filter(|o| matches!(o, SyncOutcome::LeaseHeld { .. })).count();
    assert_eq!(runs.len() + held, 2, "{outcomes:?}");
    assert_eq!(runs.iter().map(|r| r.counts.rows_imported).sum::<u64>(), 200, "{outcomes:?}");
    assert!(held == 1 || runs.iter().any(|r| r.counts.objects_selected == 0), "{outcomes:?}");
    assert_eq!(world.records(&connection.id).await.len(), 200);
}

/// IAM enforcement is server-wide in moto, so this test has a moto of its own. The customer's roles
/// are made from the documents `connections create` generates, so this also proves them sufficient.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_policies_let_us_in_and_a_wrong_external_id_or_missing_permission_sets_needs_reauth() {
    needs!(OwnMoto);
    let setup = IamWorld::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let (moto, world) = (&setup.moto, &setup.world);
    world.put("in/a.csv", "id,amount\na,1\n").await;
    world.put("out/b.csv", "id,amount\nb,1\n").await;
    world.put("mixed/a.csv", "id,amount\nm1,1\n").await;
    world.put("mixed/secret.csv", "id,amount\ns,1\n").await;
    world.put("mixed/z.csv", "id,amount\nm2,1\n").await;
    let create = |folder: &'static str| setup.create(folder);
    let good = create("in").await;
    let wrong_external_id = create("in").await;
    let no_get_object = create("in").await;
    let one_denied = create("mixed").await;

    let role = |created, trust, permissions| setup.role(created, trust, permissions);
    // As the customer pastes them, except: one trusts another connection's external id, one lacks GetObject.
    role(&good, &good.trust_policy, good.permission_policy.as_ref().expect("located")).await;
    role(&wrong_external_id, &good.trust_policy, wrong_external_id.permission_policy.as_ref().expect("located")).await;
    let mut list_only = no_get_object.permission_policy.clone().expect("located");
    list_only["Statement"].as_array_mut().unwrap().truncate(1);
    role(&no_get_object, &no_get_object.trust_policy, &list_only).await;
    // One object among others that the role may not read (as a KMS key or another owner would do).
    let mut all_but_one = one_denied.permission_policy.clone().expect("located");
    all_but_one["Statement"].as_array_mut().unwrap().push(serde_json::json!({
        "Effect": "Deny", "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{}/mixed/secret.csv", world.bucket),
    }));
    role(&one_denied, &one_denied.trust_policy, &all_but_one).await;
    moto.set_auth("0");

    let allowed = world.completed(&good.connection.id).await;
    assert_eq!(
        (allowed.result, allowed.counts.objects_listed, allowed.counts.rows_imported),
        (SyncResult::Succeeded, 1, 1),
        "{allowed:?}"
    );

    let denied = world.completed(&wrong_external_id.connection.id).await;
    assert_eq!(denied.result, SyncResult::NeedsReauth, "{denied:?}");
    assert!(denied.error.as_deref().unwrap().contains("assuming role"), "{denied:?}");
    let shown = world.connector.state.connection(&wrong_external_id.connection.id).await.unwrap().unwrap();
    assert_eq!(shown.status, ConnectionStatus::NeedsReauth);

    // The dashboard's checks say the same: preview and re-authentication are refused with what to check.
    let preview = world.connector.in_process().preview(&wrong_external_id.connection.id, 10, None, 5).await;
    assert!(
        matches!(&preview, Err(connector_core::manage::ManageError::Access(m)) if m.contains("external id")),
        "{preview:?}"
    );
    let reauth = world.connector.in_process().reauthenticate(&wrong_external_id.connection.id).await;
    assert!(matches!(&reauth, Err(connector_core::manage::ManageError::Access(_))), "{reauth:?}");
    let preview = world.connector.in_process().preview(&good.connection.id, 10, Some("in/a.csv"), 5).await.unwrap();
    assert_eq!((preview.objects.len(), preview.sample.unwrap().rows.len()), (1, 1), "the folder only, readable");

    // A role that may list but not read: each object fails alone, saying why; listing works, so the
    // connection stays active (only AssumeRole, the listing or the bucket make it needs_reauth).
    let unreadable = world.completed(&no_get_object.connection.id).await;
    assert_eq!(
        (unreadable.result, unreadable.counts.files_failed, unreadable.counts.rows_imported),
        (SyncResult::Partial, 1, 0),
        "{unreadable:?}"
    );
    let outcomes = world.connector.state.outcomes(&no_get_object.connection.id).await.unwrap();
    assert!(outcomes[0].reason.as_deref().unwrap().contains("may not read this object"), "{outcomes:?}");
    assert!(matches!(outcomes[0].recheck, Some(connector_core::model::Recheck::Retry { attempt: 1, .. })));
    // The access check (preview, activate, reauth) reads too: a role that can list but not read fails it.
    let reauth = world.connector.in_process().check_access(&no_get_object.connection).await;
    assert!(
        matches!(&reauth, Err(connector_core::manage::ManageError::Access(m)) if m.contains("may not read")),
        "{reauth:?}"
    );

    // One denied object among three: it fails alone; the others and the watermark go on.
    let mixed = world.completed(&one_denied.connection.id).await;
    assert_eq!(
        (mixed.result, mixed.counts.files_imported, mixed.counts.files_failed, mixed.counts.rows_imported),
        (SyncResult::Partial, 2, 1, 2),
        "{mixed:?}"
    );
    assert!(mixed.watermark_after.is_some(), "{mixed:?}");
    let shown = world.connector.state.connection(&one_denied.connection.id).await.unwrap().unwrap();
    assert_eq!(shown.status, ConnectionStatus::Active);
    let secret = world.connector.state.outcomes(&one_denied.connection.id).await.unwrap();
    let secret = secret.iter().find(|o| o.key == "mixed/secret.csv").unwrap();
    assert_eq!(secret.status, FileStatus::Failed, "{secret:?}");
}

/// S3 takes keys of up to 1,024 bytes; DynamoDB's sort keys hold at most 1,024 bytes, `OBJ#` and
/// record ids included. Such a key imports, and once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_1024_bytes_imports_once() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let key = format!("in/{}.csv", "k".repeat(1024 - "in/".len() - ".csv".len()));
    assert_eq!(key.len(), 1024);
    world.put(&key, "id,amount\nlong,1\n").await;
    world.put("in/z.csv", "id,amount\nz,1\n").await;
    let connection = world.connection(Some("in")).await;
    let run = world.completed(&connection.id).await;
    assert_eq!(
        (run.result, run.counts.files_imported, run.counts.rows_imported),
        (SyncResult::Succeeded, 2, 2),
        "{run:?}"
    );
    let outcomes = world.connector.state.outcomes(&connection.id).await.unwrap();
    assert!(outcomes.iter().any(|o| o.key == key), "the whole key is kept: {outcomes:?}");
    let again = world.completed(&connection.id).await;
    assert_eq!(again.counts.objects_selected, 0, "{again:?}");
    assert_eq!(world.records(&connection.id).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_connection_is_reported_not_retried() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    assert!(matches!(world.sync("nope").await, Err(SyncError::ConnectionNotFound(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_primary_key_each_key_is_one_record_holding_the_files_last_row() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let keyed = PAYMENTS_TEMPLATE.replace(r#""id": "payments""#, r#""id": "keyed", "primary_key": ["payment_id"]"#);
    Templates::put_template(&world.connector.state, &connector_core::template::Template::from_json(&keyed).unwrap())
        .await
        .unwrap();
    // 30 keys updated 10 times each: duplicates within one BatchWriteItem and across batches in flight.
    let rows: String = (0..300).map(|i| format!("k{},{i}\n", i % 30)).collect();
    world.put("updates.csv", format!("id,amount\n{rows}")).await;
    let c = world.connection(None).await;
    world
        .connector
        .in_process()
        .edit(&c.id, ConnectionChange { template_id: Some(String::from("keyed")), ..Default::default() })
        .await
        .unwrap();
    let run = world.completed(&c.id).await;
    assert_eq!((run.result, run.counts.rows_imported), (SyncResult::Succeeded, 300), "{run:?}");
    let records = world.records(&c.id).await;
    assert_eq!(records.len(), 30);
    for (id, data) in &records {
        let k: u64 = id.trim_start_matches("payment#k").parse().unwrap();
        assert_eq!(data["amount"], serde_json::json!(270 + k), "{id}: {data}");
    }
}

/// An operator fixes a template and asks for the failed file again, long after it left the sync's
/// window: the ask goes through the ledger's index of objects to try again (DynamoDB on moto), the
/// next sync imports it, once; a backfill decides again what was modified since a date.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_retries_a_failed_file_out_of_the_window_and_backfills() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::zero())).await;
    world.put("in/ok.csv", "id,amount\nok,1\n").await;
    world.put("in/no-id.csv", "payment,amount\np,1\n").await;
    let connection = world.connection(Some("in")).await;
    let first = world.completed(&connection.id).await;
    assert_eq!((first.counts.files_imported, first.counts.files_failed), (1, 1), "{first:?}");
    let service = world.connector.in_process();
    let failed_files = || async { service.connection(&connection.id).await.unwrap().failed_files };
    assert_eq!(failed_files().await, 1, "counted on the connection");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let quiet = world.completed(&connection.id).await;
    assert_eq!(failed_files().await, 1, "a failure stays counted until it is imported or dismissed");
    assert_eq!((quiet.counts.objects_listed, quiet.counts.objects_selected), (2, 0), "out of the window: {quiet:?}");

    // The template is fixed to read that file (its id column is called "payment").
    let fixed = PAYMENTS_TEMPLATE.replace(r#""source": "id""#, r#""source": "payment""#);
    world.connector.state.put_template(&connector_core::template::Template::from_json(&fixed).unwrap()).await.unwrap();
    let asked = world.connector.in_process().retry_files(&connection.id, FileSelection::Failed).await.unwrap();
    assert_eq!(asked.asked, ["in/no-id.csv"]);
    let refused = world
        .connector
        .in_process()
        .retry_files(&connection.id, FileSelection::Keys(vec!["in/ok.csv".into()]))
        .await
        .unwrap();
    assert_eq!(refused.refused.len(), 1, "an imported file is for reimport: {refused:?}");
    // The index behind the ask may lag by a moment.
    let mut retried = world.completed(&connection.id).await;
    for _ in 0..20 {
        if retried.counts.objects_selected > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        retried = world.completed(&connection.id).await;
    }
    assert_eq!((retried.counts.objects_selected, retried.counts.files_imported), (1, 1), "{retried:?}");
    assert_eq!(failed_files().await, 0, "imported at last");
    assert_eq!(world.completed(&connection.id).await.counts.objects_selected, 0, "once");
    assert!(payment_ids(&world.records(&connection.id).await).contains(&"p"));

    // A backfill from before both files: both decided again (ok.csv fails now: no "payment" column).
    world.connector.in_process().backfill(&connection.id, chrono::Utc::now() - TimeDelta::hours(1)).await.unwrap();
    let backfill = world.completed(&connection.id).await;
    assert_eq!((backfill.counts.objects_selected, backfill.backfill_since.is_some()), (2, true), "{backfill:?}");
    let shown = world.connector.in_process().connection(&connection.id).await.unwrap();
    assert_eq!(shown.backfill_since, None, "cleared once carried out");
    assert_eq!(world.completed(&connection.id).await.counts.objects_selected, 0);

    // ok.csv fails now and will not be fixed: the operator dismisses it.
    assert_eq!(failed_files().await, 1, "{backfill:?}");
    let dismissed = service.dismiss_files(&connection.id, FileSelection::Failed).await.unwrap();
    assert_eq!(dismissed.dismissed, ["in/ok.csv"]);
    let shown = service.show(&connection.id, 1).await.unwrap();
    assert_eq!((shown.connection.failed_files, shown.failed_files.len()), (0, 0), "{shown:?}");
    assert!(service.files_page(&connection.id, true, 10, None).await.unwrap().items.is_empty());
    assert_eq!(world.completed(&connection.id).await.counts.objects_selected, 0, "not tried again");
}

/// Without a primary key, a replaced file's new version replaces its records: the earlier
/// version's rows go (found by a query per shard and told apart by source_key from another key
/// whose ids share the prefix), so the table holds what the bucket holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_files_earlier_records_are_removed() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    world.put("in/a.csv", "id,amount\nold1,1\nold2,2\nold3,3\n").await;
    let lookalike = world.put("in/a.csv#x.csv", "id,amount\nother,1\n").await;
    let connection = world.connection(Some("in")).await;
    world.completed(&connection.id).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    world.put("in/a.csv", "id,amount\nnew1,1\n").await;
    let run = world.completed(&connection.id).await;
    assert_eq!(run.counts.files_imported, 1, "{run:?} {lookalike}");
    let mut kept = payment_ids(&world.records(&connection.id).await).into_iter().map(str::to_owned).collect::<Vec<_>>();
    kept.sort();
    assert_eq!(kept, ["new1", "other"]);
}
