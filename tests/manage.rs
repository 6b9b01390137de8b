//! Connection management against moto: the lifecycle the dashboard (CLI, API) drives.

mod common;

use connector_core::manage::ports::Templates;

use connector_core::manage::connections::ConnectionChange;

use chrono::TimeDelta;
use common::*;
use connector_core::access::AccessResult;
use connector_core::manage::ports::{ConnectionAdmin, ConnectionEdit, RecordAdmin, RunHistory};
use connector_core::manage::ManageError;
use connector_core::model::{Connection, ConnectionStatus, FileStatus, Recheck, SyncResult};
use connector_core::ports::{StoreErrorKind, SyncStore};
use connector_core::template::Template;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_preview_activate_pause_resume_rename_retemplate_delete() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    world.put("in/a.csv", "id,amount\na1,1\na2,oops\n").await;
    world.put("in/b.parquet", "PAR1").await;
    world.put("out/c.csv", "id,amount\nc1,1\n").await;
    let c = world.connection(Some("in")).await;
    assert_eq!(c.status, ConnectionStatus::Pending);

    // Preview: the folder's objects, what the next sync would do, a sample with its row errors.
    let preview = world.connector.in_process().preview(&c.id, 10, Some("in/a.csv"), 5).await.unwrap();
    assert_eq!((preview.access.objects_listed, preview.access.readable()), (2, 2), "{:?}", preview.access);
    let seen: Vec<_> = preview.objects.iter().map(|o| (o.key.as_str(), o.would_select)).collect();
    assert_eq!(seen, [("in/a.csv", true), ("in/b.parquet", false)]);
    assert!(preview.objects[1].note.as_deref().unwrap().contains("would be skipped"));
    let sample = preview.sample.unwrap();
    assert_eq!(sample.rows.len(), 1);
    assert_eq!(sample.rows[0]["payment_id"], "a1");
    assert_eq!(sample.row_errors[0].column.as_deref(), Some("amount"));
    let missing = world.connector.in_process().preview(&c.id, 10, Some("in/none.csv"), 5).await;
    assert!(matches!(missing, Err(ManageError::Invalid(ref e)) if e[0].field == "sample"), "{missing:?}");

    // Activate: access checked, status active, the first import done (in-process).
    let active = world.connector.in_process().activate(&c.id).await.unwrap();
    let readable = [("in/a.csv", AccessResult::Readable), ("in/b.parquet", AccessResult::Readable)];
    let read: Vec<_> = active.access.objects.iter().map(|o| (o.key.as_str(), o.result)).collect();
    assert_eq!(read, readable, "each file of the folder read, whatever its format");
    let active = active.connection;
    assert_eq!((active.status, active.sync.last_result), (ConnectionStatus::Active, Some(SyncResult::Partial)));
    assert_eq!(world.records(&c.id).await.len(), 1);
    assert!(matches!(world.connector.in_process().activate(&c.id).await, Err(ManageError::Conflict(_))));

    // Pause and resume; a paused connection does not sync.
    assert_eq!(world.connector.in_process().pause(&c.id).await.unwrap().status, ConnectionStatus::Paused);
    assert!(matches!(world.sync(&c.id).await, Ok(connector_core::engine::SyncOutcome::NotSyncable { .. })));
    let again = world.connector.in_process().pause(&c.id).await.unwrap();
    assert_eq!(again.status, ConnectionStatus::Paused, "pausing a paused connection changes nothing");
    assert_eq!(world.connector.in_process().resume(&c.id).await.unwrap().status, ConnectionStatus::Active);

    // Rename: unique names, enforced by the conditional write.
    let other = world.connection(None).await;
    let taken = world
        .connector
        .in_process()
        .edit(&c.id, ConnectionChange { name: Some(String::from(&other.name)), ..Default::default() })
        .await;
    assert!(matches!(taken, Err(ManageError::Conflict(ref m)) if m.contains("already exists")), "{taken:?}");
    assert_eq!(
        world
            .connector
            .in_process()
            .edit(&c.id, ConnectionChange { name: Some(String::from("  Acme renamed ")), ..Default::default() })
            .await
            .unwrap()
            .name,
        "Acme renamed"
    );
    assert!(
        matches!(world.connector.in_process().edit(&c.id, ConnectionChange { name: Some(String::from(" ")), ..Default::default() }).await, Err(ManageError::Invalid(ref e)) if e[0].field == "name")
    );
    // The old name is free again.
    let reuse = world
        .connector
        .in_process()
        .create(connector_core::connections::ConnectionInput {
            tenant: "acme".into(),
            name: c.name.clone(),
            account_id: ACCOUNT.into(),
            bucket: world.bucket.clone(),
            region: "us-east-1".into(),
            folder: None,
            template_id: "payments".into(),
            kms_key_arn: None,
            open_fields: Vec::new(),
            mode: Default::default(),
        })
        .await;
    assert!(reuse.is_ok());

    // Another template, which must exist.
    let unknown = world
        .connector
        .in_process()
        .edit(&c.id, ConnectionChange { template_id: Some(String::from("nope")), ..Default::default() })
        .await;
    assert!(matches!(unknown, Err(ManageError::Invalid(ref e)) if e[0].field == "template"), "{unknown:?}");
    let mut json_template = Template::from_json(PAYMENTS_TEMPLATE).unwrap();
    json_template.id = "payments-v2".into();
    Templates::put_template(&world.connector.state, &json_template).await.unwrap();
    assert_eq!(
        world
            .connector
            .in_process()
            .edit(&c.id, ConnectionChange { template_id: Some(String::from("payments-v2")), ..Default::default() })
            .await
            .unwrap()
            .template_id,
        "payments-v2"
    );

    // Delete: state and ledger gone; records stay unless purged.
    world.connector.in_process().delete(&c.id, false).await.unwrap();
    assert!(matches!(world.connector.in_process().connection(&c.id).await, Err(ManageError::NotFound { .. })));
    assert!(world.connector.state.outcomes(&c.id).await.unwrap().is_empty());
    assert!(world.connector.state.runs(&c.id, 10).await.unwrap().is_empty());
    assert_eq!(world.records(&c.id).await.len(), 1, "records stay");
    let purged = world.connector.in_process().delete(&other.id, true).await.unwrap();
    assert_eq!(purged.records_purged, 0);
    assert!(world
        .connector
        .in_process()
        .connections(None)
        .await
        .unwrap()
        .iter()
        .all(|x| x.id != c.id && x.id != other.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_with_purge_removes_the_records() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let rows: String = (0..40).map(|i| format!("p{i},{i}\n")).collect();
    world.put("p.csv", format!("id,amount\n{rows}")).await;
    let c = world.connection(None).await;
    world.completed(&c.id).await;
    assert_eq!(world.records(&c.id).await.len(), 40);
    // Not while a sync runs: the delete takes the connection's lease first.
    let now = chrono::Utc::now();
    world.connector.state.acquire_lease(&c.id, "a-worker", now, now + TimeDelta::minutes(5), None).await.unwrap();
    let refused = world.connector.in_process().delete(&c.id, true).await;
    assert!(matches!(refused, Err(ManageError::Conflict(ref m)) if m.contains("a-worker")), "{refused:?}");
    assert_eq!(world.records(&c.id).await.len(), 40, "a refused delete changes nothing");
    world.connector.state.acquire_lease(&c.id, "a-worker", now, now, None).await.unwrap(); // the sync ends
    assert_eq!(world.connector.in_process().delete(&c.id, true).await.unwrap().records_purged, 40);
    assert!(world.records(&c.id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthentication_checks_access_and_the_next_sync_resumes() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let bucket = unique("later");
    let c = world.connection_to(&bucket, None).await;
    let run = world.completed(&c.id).await;
    assert_eq!(run.result, SyncResult::NeedsReauth);
    assert!(run.error.as_deref().unwrap().starts_with(&format!("bucket {bucket} does not exist")), "{run:?}");

    let still = world.connector.in_process().reauthenticate(&c.id).await;
    assert!(matches!(still, Err(ManageError::Access(ref m)) if m.contains("does not exist")), "{still:?}");

    // The customer creates the bucket: access works again.
    world.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    world.s3.put_object().bucket(&bucket).key("a.csv").body(b"id,amount\na,1\n".to_vec().into()).send().await.unwrap();
    assert_eq!(
        world.connector.in_process().reauthenticate(&c.id).await.unwrap().connection.status,
        ConnectionStatus::Active
    );
    let run = world.completed(&c.id).await;
    assert_eq!((run.result, run.counts.rows_imported), (SyncResult::Succeeded, 1));
    assert!(matches!(world.connector.in_process().reauthenticate(&c.id).await, Err(ManageError::Conflict(_))));
    let watermark = run.watermark_after.expect("a finished sync sets the watermark");

    // Access breaks again (the bucket goes): the failed run moves nothing.
    world.s3.delete_object().bucket(&bucket).key("a.csv").send().await.unwrap();
    world.s3.delete_bucket().bucket(&bucket).send().await.unwrap();
    let run = world.completed(&c.id).await;
    assert_eq!((run.result, run.watermark_after), (SyncResult::NeedsReauth, Some(watermark)));
    // Fixed, with the old file back and a new one: the next sync goes on from the watermark and
    // imports only what it has not imported.
    world.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for (key, body) in [("a.csv", "id,amount\na,1\n"), ("b.csv", "id,amount\nb,2\n")] {
        world.s3.put_object().bucket(&bucket).key(key).body(body.as_bytes().to_vec().into()).send().await.unwrap();
    }
    assert_eq!(
        world.connector.in_process().reauthenticate(&c.id).await.unwrap().connection.status,
        ConnectionStatus::Active
    );
    let run = world.completed(&c.id).await;
    assert_eq!(run.watermark_before, Some(watermark), "{run:?}");
    assert_eq!((run.result, run.counts.files_imported, run.counts.rows_imported), (SyncResult::Succeeded, 1, 1));
    assert_eq!(world.connector.state.outcomes(&c.id).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_versioned_and_not_deleted_while_used() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let template = Template::from_json(PAYMENTS_TEMPLATE).unwrap();
    assert_eq!(
        Templates::put_template(&world.connector.state, &template).await.unwrap(),
        2,
        "the harness saved version 1"
    );
    let listed = world.connector.state.templates().await.unwrap();
    assert_eq!(listed.iter().map(|(t, v)| (t.id.as_str(), *v)).collect::<Vec<_>>(), [("payments", 2)]);

    let c = world.connection(None).await;
    let refused = world.connector.in_process().delete_template("payments").await;
    assert!(matches!(refused, Err(ManageError::Conflict(ref m)) if m.contains(&c.name)), "{refused:?}");
    world.connector.in_process().delete(&c.id, false).await.unwrap();
    world.connector.in_process().delete_template("payments").await.unwrap();
    assert!(world.connector.state.template("payments", None).await.unwrap().is_none());
    assert!(matches!(
        world.connector.in_process().delete_template("payments").await,
        Err(ManageError::NotFound { .. })
    ));
    // Saved again after the delete: the numbering goes on, and the history keeps every version.
    assert_eq!(Templates::put_template(&world.connector.state, &template).await.unwrap(), 3);
    let history = world
        .aws
        .dynamodb()
        .query()
        .table_name(&world.connector.settings.state_table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S("TEMPLATE#payments".into()))
        .send()
        .await
        .unwrap();
    let versions: Vec<String> = history.items().iter().map(|i| i["sk"].as_s().unwrap().clone()).collect();
    assert_eq!(versions, ["V#000001", "V#000002", "V#000003"]);
}

/// The connection as the store has it now.
async fn stored(world: &World, id: &str) -> Connection {
    ConnectionAdmin::connection(&world.connector.state, id).await.unwrap().expect("the connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_edit_changes_every_field_at_once_and_a_refused_one_changes_nothing() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let store = &world.connector.state;
    let c = world.connection(None).await;
    let other = world.connection(None).await;
    let mut v2 = Template::from_json(PAYMENTS_TEMPLATE).unwrap();
    v2.id = "payments-v2".into();
    Templates::put_template(&world.connector.state, &v2).await.unwrap();

    // GIVEN an edit of every field WHEN it is applied THEN each one is changed, in one write.
    let since = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap().to_utc();
    let new_name = unique("edited");
    let edit = ConnectionEdit {
        name: Some(new_name.clone()),
        template_id: Some("payments-v2".into()),
        overlap_seconds: Some(Some(7200)),
        mode: Some(connector_core::model::SyncMode::Events),
        scan_every_hours: Some(Some(6)),
        backfill_since: Some(since),
    };
    store.edit_connection(&c, &edit).await.unwrap();
    let edited = stored(&world, &c.id).await;
    let fields = |x: &Connection| (x.name.clone(), x.template_id.clone(), x.overlap_seconds, x.backfill_since);
    assert_eq!(fields(&edited), (new_name.clone(), "payments-v2".to_owned(), Some(7200), Some(since)));
    assert_eq!((edited.mode, edited.scan_every_hours), (connector_core::model::SyncMode::Events, Some(6)));

    // An edit from a stale read (the old name) is refused, and changes nothing.
    let default_overlap = ConnectionEdit { overlap_seconds: Some(None), ..Default::default() };
    let stale =
        store.edit_connection(&c, &default_overlap).await.expect_err("the connection changed since it was read");
    assert_eq!(stale.kind, StoreErrorKind::Conflict, "{stale}");
    assert!(stale.message.contains("changed meanwhile"), "{stale}");
    // A name taken is refused with the rest of the edit, naming the name.
    let taken = ConnectionEdit { name: Some(other.name.clone()), overlap_seconds: Some(None), ..Default::default() };
    let taken = store.edit_connection(&edited, &taken).await.expect_err("the name is taken");
    assert_eq!(taken.kind, StoreErrorKind::Conflict, "{taken}");
    assert!(taken.message.contains(&other.name), "{taken}");
    assert_eq!(stored(&world, &c.id).await, edited, "nothing changed");

    // The overlap goes back to the default and the scans to daily; the rest stays.
    let defaults = ConnectionEdit { overlap_seconds: Some(None), scan_every_hours: Some(None), ..Default::default() };
    store.edit_connection(&edited, &defaults).await.unwrap();
    let expected = Connection { overlap_seconds: None, scan_every_hours: None, ..edited.clone() };
    assert_eq!(stored(&world, &c.id).await, expected);

    // The old name was released and the new one claimed: a new connection may take the old name
    // and not the new one.
    let fresh = |name: &str| Connection {
        id: connector_core::manage::connections::new_connection_id(),
        name: name.to_owned(),
        ..other.clone()
    };
    store.create_connection(&fresh(&c.name)).await.expect("the old name is free");
    let refused = store.create_connection(&fresh(&new_name)).await.expect_err("the new name is taken");
    assert_eq!(refused.kind, StoreErrorKind::Conflict, "{refused}");
    assert!(refused.message.contains(&format!("'{new_name}'")), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_page_by_their_tokens_purge_with_their_count_and_history_reads_back() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let rows: String = (0..40).map(|i| format!("p{i},{i}\n")).collect();
    world.put("p.csv", format!("id,amount\n{rows}")).await;
    let c = world.connection(None).await;
    let run = world.completed(&c.id).await;
    let (store, records) = (&world.connector.state, &world.connector.records);

    // Pages of 15 from the tokens each page gives: every record once.
    let (mut seen, mut after) = (Vec::new(), None::<String>);
    loop {
        let page = records.records_page(&c.id, 15, after.as_deref()).await.unwrap();
        assert!(page.records.len() <= 15);
        seen.extend(page.records.iter().map(|r| r["sk"].as_str().unwrap().to_owned()));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 40, "{seen:?}");
    let foreign = records.records_page(&c.id, 15, Some("zz")).await.expect_err("no page gave that token");
    assert_eq!(foreign.kind, StoreErrorKind::Invalid, "{foreign}");

    // History: the run, the outcome, and an ask to decide it again.
    let runs = RunHistory::runs(store, &c.id, 10).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), [run.run_id.as_str()]);
    assert!(RunHistory::runs(store, &c.id, 0).await.unwrap().is_empty());
    let outcome = store.outcome(&c.id, "p.csv").await.unwrap().expect("an outcome");
    assert_eq!((outcome.status, outcome.recheck), (FileStatus::Imported, None));
    assert_eq!(store.outcome(&c.id, "nope.csv").await.unwrap(), None);
    let now = chrono::Utc::now();
    assert!(!ConnectionAdmin::ask_again(store, &c.id, "nope.csv", now).await.unwrap(), "no outcome to ask about");
    assert!(ConnectionAdmin::ask_again(store, &c.id, "p.csv", now).await.unwrap());
    let asked = store.outcome(&c.id, "p.csv").await.unwrap().unwrap().recheck;
    assert!(matches!(asked, Some(Recheck::Operator { .. })), "{asked:?}");

    // The purge says how many it deleted; a second finds none.
    assert_eq!(records.purge_records(&c.id).await.unwrap(), 40);
    assert!(records.records_page(&c.id, 15, None).await.unwrap().records.is_empty());
    assert_eq!(records.purge_records(&c.id).await.unwrap(), 0);

    // Deleting the connection takes its name, ledger and runs with it.
    store.delete_connection(&c).await.unwrap();
    assert_eq!(ConnectionAdmin::connection(store, &c.id).await.unwrap(), None);
    assert!(RunHistory::outcomes(store, &c.id).await.unwrap().is_empty());
    assert!(RunHistory::runs(store, &c.id, 10).await.unwrap().is_empty());
    let again = Connection { id: connector_core::manage::connections::new_connection_id(), ..c.clone() };
    store.create_connection(&again).await.expect("the name is free again");
}

/// A delete frees the connection's name only with the connection, and only while the name is still
/// the connection's: a name item that names another connection is left alone, and so is the
/// connection (deleted again once the name is its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_frees_only_its_own_name_together_with_the_connection() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let c = world.connection(None).await;
    let table = &world.connector.settings.state_table;
    let name_item = |owner: &str| {
        let mut item = connector_aws::dynamodb::keys::name(&c.tenant, &c.name);
        item.insert("connection_id".into(), aws_sdk_dynamodb::types::AttributeValue::S(owner.to_owned()));
        item
    };
    let put_name =
        |owner: &str| world.aws.dynamodb().put_item().table_name(table).set_item(Some(name_item(owner))).send();
    put_name("someone-else").await.unwrap();
    let refused = world.connector.in_process().delete(&c.id, false).await;
    assert!(matches!(refused, Err(ManageError::Store(ref e)) if e.kind == StoreErrorKind::Conflict), "{refused:?}");
    assert!(world.connector.in_process().connection(&c.id).await.is_ok(), "the connection stays with the name");
    put_name(&c.id).await.unwrap();
    world.connector.in_process().delete(&c.id, false).await.unwrap();
    let mut key = name_item(&c.id);
    key.remove("connection_id");
    let name = world.aws.dynamodb().get_item().table_name(table).set_key(Some(key)).send().await.unwrap();
    assert_eq!(name.item, None, "the name goes with it");
}

/// The upgrade step on DynamoDB: connections as a version before tenants stored them (no tenant,
/// no `tenant_key`, the claim `NAME#<name>`) read with an empty tenant and are in no tenant's list;
/// two runs of `assign-tenant` at once give each the tenant once, moving its name claim into the
/// tenant; a third run moves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_step_gives_each_legacy_connection_the_tenant_once() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let state = &world.connector.state;
    let template = world.connection(None).await;
    let mut legacy = Vec::new();
    for n in 0..6 {
        let id = connector_core::manage::connections::new_connection_id();
        let c = Connection { id, tenant: String::new(), name: format!("legacy {n}"), ..template.clone() };
        state.create_connection(&c).await.expect("a connection as an older version stored it");
        legacy.push(c);
    }
    let get = |key: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>| async move {
        let request = state.client.get_item().table_name(&state.table).consistent_read(true).set_key(Some(key));
        request.send().await.unwrap().item
    };
    let item = get(connector_aws::dynamodb::keys::connection(&legacy[0].id)).await.expect("stored");
    assert!(!item.contains_key("tenant") && !item.contains_key("tenant_key"), "{item:?}");
    let read = world.connector.in_process().connection(&legacy[0].id).await.unwrap();
    assert!(read.lacks_tenant(), "an item without a tenant reads: {read:?}");
    assert!(get(connector_aws::dynamodb::keys::name("", "legacy 0")).await.is_some());

    let tenant = unique("default");
    let (one, two) = (world.connector.in_process(), world.connector.in_process());
    let (a, b) = tokio::join!(one.assign_tenant(&tenant), two.assign_tenant(&tenant));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut assigned: Vec<String> = a.assigned.iter().chain(&b.assigned).map(|c| c.id.clone()).collect();
    assigned.sort();
    let mut expected: Vec<String> = legacy.iter().map(|c| c.id.clone()).collect();
    expected.sort();
    assert_eq!(assigned, expected, "each once, between the two runs: {a:?} {b:?}");
    assert!(a.refused.is_empty() && b.refused.is_empty(), "{a:?} {b:?}");

    let claim = get(connector_aws::dynamodb::keys::name(&tenant, "legacy 0")).await.expect("claimed in the tenant");
    assert_eq!(claim["connection_id"].as_s().unwrap(), &legacy[0].id);
    assert_eq!(get(connector_aws::dynamodb::keys::name("", "legacy 0")).await, None, "the old claim released");
    let listed = world.connector.in_process().connections(Some(&tenant)).await.unwrap();
    assert_eq!(listed.len(), 6);
    assert!(listed.iter().all(|c| c.tenant == tenant));
    let again = world.connector.in_process().assign_tenant(&tenant).await.unwrap();
    assert!(again.assigned.is_empty() && again.refused.is_empty(), "nothing left to move: {again:?}");
    assert_eq!(world.connector.in_process().connection(&template.id).await.unwrap().tenant, "acme", "untouched");
}
