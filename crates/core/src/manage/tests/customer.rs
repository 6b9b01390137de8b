//! The customer's side of a set-up: open location fields and withdrawn links.

use super::{fields, input, t, World};
use crate::connections::{ConnectionInput, LocationInput};
use crate::manage::ports::ConnectionAdmin;
use crate::manage::ManageError;
use crate::model::{Connection, ConnectionStatus, LocationField};

/// A connection whose bucket, region and folder the customer fills.
fn open_input(name: &str) -> ConnectionInput {
    ConnectionInput {
        bucket: String::new(),
        region: String::new(),
        folder: None,
        open_fields: vec![LocationField::Folder, LocationField::Bucket, LocationField::Region],
        ..input(name)
    }
}

fn located(bucket: &str, region: &str, folder: Option<&str>) -> LocationInput {
    LocationInput { bucket: Some(bucket.into()), region: Some(region.into()), folder: folder.map(str::to_owned) }
}

/// The field and message of each error.
fn faults(e: &ManageError) -> Vec<String> {
    match e {
        ManageError::Invalid(errors) => errors.iter().map(ToString::to_string).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn a_connection_may_leave_its_location_open_and_then_has_no_permission_policy() {
    let w = World::new();
    let created = w.service().create(open_input("acme")).await.expect("creating with the location open");
    let c = &created.connection;
    assert_eq!(c.open_fields, [LocationField::Bucket, LocationField::Region, LocationField::Folder], "in order, once");
    assert_eq!((c.bucket.as_str(), c.region.as_str(), c.folder.as_deref()), ("", "", None));
    assert_eq!(c.unfilled_fields(), c.open_fields);
    assert_eq!(created.permission_policy, None, "no policy naming no bucket");
    assert!(created.trust_policy.to_string().contains(&c.external_id), "the trust policy needs no location");
    let documents = w.service().role_documents(&c.id).await.unwrap();
    assert_eq!(documents.permission_policy, None);

    // Only the folder open: the platform's bucket and region are kept, the folder still unfilled.
    let folder_open = ConnectionInput { folder: None, open_fields: vec![LocationField::Folder], ..input("globex") };
    let c = w.service().create(folder_open).await.unwrap().connection;
    assert_eq!((c.bucket.as_str(), c.unfilled_fields()), ("acme-exports", &[LocationField::Folder][..]));

    // Given and open at once, or an account id left out: refused, each field named, nothing saved.
    let both = ConnectionInput { open_fields: vec![LocationField::Bucket, LocationField::Folder], ..input("initech") };
    let e = w.service().create(both).await.unwrap_err();
    assert_eq!(fields(&e), ["bucket", "folder"], "{e}");
    let no_account = ConnectionInput { account_id: String::new(), ..open_input("initech") };
    assert_eq!(fields(&w.service().create(no_account).await.unwrap_err()), ["account_id"]);
    assert_eq!(w.store.connections.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn preview_activation_and_a_sync_refuse_a_location_not_filled_naming_each_field() {
    let w = World::new();
    let c = w.service().create(open_input("acme")).await.unwrap().connection;
    let expected = [
        "bucket: not given yet: the customer fills it on the set-up page",
        "region: not given yet: the customer fills it on the set-up page",
        "folder: not given yet: the customer fills it on the set-up page",
    ];
    assert_eq!(faults(&w.service().preview(&c.id, 10, None, 5).await.unwrap_err()), expected);
    assert_eq!(faults(&w.service().activate(&c.id).await.unwrap_err()), expected);
    assert_eq!(w.stored(&c.id).status, ConnectionStatus::Pending, "not activated");
    assert!(w.workers.requests.lock().unwrap().is_empty(), "no sync started");

    let engine = crate::engine::Engine {
        store: &w.store,
        sink: &w.sink,
        buckets: &w.bucket,
        events: &w.events,
        rejects: None,
        clock: &w.clock,
        config: w.config.sync.clone(),
    };
    let outcome = engine.run(crate::engine::Invocation::new(&c.id, "run-1")).await.unwrap();
    assert!(matches!(outcome, crate::engine::SyncOutcome::NotSyncable { .. }), "{outcome:?}");

    w.service().set_location(&c.id, located("acme-exports", "eu-west-1", Some("in"))).await.unwrap();
    w.bucket.put("in/a.csv", "e1", t("09T00:00:00"), b"id,amount\n1,2\n");
    let preview = w.service().preview(&c.id, 10, None, 5).await.expect("filled: the preview runs");
    assert_eq!(preview.objects.len(), 1);
    assert_eq!(w.service().activate(&c.id).await.unwrap().connection.status, ConnectionStatus::Active);
}

#[tokio::test]
async fn the_customer_fills_the_open_fields_as_a_create_checks_them_and_may_correct_them_while_pending() {
    let w = World::new();
    let c = w.service().create(open_input("acme")).await.unwrap().connection;
    let cases: Vec<(LocationInput, Vec<&str>)> = vec![
        (located("Not_A_Bucket", "eu-west-1", None), vec!["bucket"]),
        (located("acme-exports", "europe", None), vec!["region"]),
        (located("acme-exports", "eu-west-1", Some("a/../b")), vec!["folder"]),
        (LocationInput { region: Some("eu-west-1".into()), ..LocationInput::default() }, vec!["bucket"]),
        (LocationInput::default(), vec!["bucket", "region"]),
    ];
    for (given, expected) in cases {
        let e = w.service().set_location(&c.id, given.clone()).await.unwrap_err();
        assert_eq!(fields(&e), expected, "{given:?}: {e}");
        assert_eq!(w.stored(&c.id), c, "{given:?}: nothing changed");
    }

    let filled = w.service().set_location(&c.id, located(" acme-exports ", "eu-west-1", Some("/in//daily"))).await;
    let filled = filled.unwrap();
    assert_eq!(
        (filled.bucket.as_str(), filled.region.as_str(), filled.folder.as_deref()),
        ("acme-exports", "eu-west-1", Some("in/daily/"))
    );
    assert_eq!(filled.location_filled_at, Some(t("10T12:00:00")));
    assert!(filled.unfilled_fields().is_empty());
    let policy = w.service().role_documents(&c.id).await.unwrap().permission_policy.expect("now it has one");
    assert!(policy.to_string().contains("arn:aws:s3:::acme-exports/in/daily/*"), "{policy}");

    // A typo corrected while pending; an empty folder is the whole bucket.
    let corrected = w.service().set_location(&c.id, located("acme-exports-2", "eu-west-1", Some(""))).await.unwrap();
    assert_eq!((corrected.bucket.as_str(), corrected.folder.as_deref()), ("acme-exports-2", None));
}

#[tokio::test]
async fn the_platforms_own_values_are_never_the_customers_to_change() {
    let w = World::new();
    let only_bucket =
        ConnectionInput { bucket: String::new(), open_fields: vec![LocationField::Bucket], ..input("acme") };
    let c = w.service().create(only_bucket).await.unwrap().connection;
    let e = w.service().set_location(&c.id, located("acme-exports", "us-east-1", Some("elsewhere"))).await.unwrap_err();
    assert_eq!(fields(&e), ["region", "folder"], "{e}");
    assert!(e.to_string().contains("was set by the platform"), "{e}");
    assert_eq!(w.stored(&c.id), c, "nothing changed");
    // The platform's own values given back unchanged are no change.
    let same = LocationInput {
        bucket: Some("acme-exports".into()),
        region: Some("eu-west-1".into()),
        folder: Some("in".into()),
    };
    let filled = w.service().set_location(&c.id, same).await.unwrap();
    assert_eq!(
        (filled.bucket.as_str(), filled.region.as_str(), filled.folder.as_deref()),
        ("acme-exports", "eu-west-1", Some("in/"))
    );

    let fixed = w.created("globex").await;
    let e = w.service().set_location(&fixed.id, located("acme-exports", "eu-west-1", None)).await.unwrap_err();
    assert!(matches!(&e, ManageError::Conflict(m) if m.contains("nothing is left to fill")), "{e:?}");
}

#[tokio::test]
async fn a_location_is_refused_once_the_connection_is_not_pending_even_in_a_race() {
    let w = World::new();
    let c = w.service().create(open_input("acme")).await.unwrap().connection;
    w.service().set_location(&c.id, located("acme-exports", "eu-west-1", None)).await.unwrap();
    w.store.change_status(&c.id, ConnectionStatus::Pending, ConnectionStatus::Active).await.unwrap();
    let e = w.service().set_location(&c.id, located("elsewhere", "eu-west-1", None)).await.unwrap_err();
    assert!(matches!(&e, ManageError::Conflict(m) if m.contains("is active, not pending")), "{e:?}");
    assert_eq!(w.stored(&c.id).bucket, "acme-exports");

    // The store's own condition: a write that read `pending` and lost to an activation.
    let location = crate::connections::fill_location(&w.stored(&c.id), located("elsewhere", "eu-west-1", None));
    let written = w.store.fill_location(&c.id, &location.unwrap(), t("10T12:00:00")).await;
    assert_eq!(written.unwrap_err().kind, crate::ports::StoreErrorKind::Conflict);
    assert_eq!(w.stored(&c.id).bucket, "acme-exports");
}

#[tokio::test]
async fn withdrawing_links_moves_the_generation_on() {
    let w = World::new();
    let c: Connection = w.created("acme").await;
    assert_eq!(c.link_generation, 0);
    assert_eq!(w.service().withdraw_setup_links(&c.id).await.unwrap(), 1);
    assert_eq!(w.service().withdraw_setup_links(&c.id).await.unwrap(), 2);
    assert_eq!(w.stored(&c.id).link_generation, 2);
    let e = w.service().withdraw_setup_links("nope").await.unwrap_err();
    assert!(matches!(e, ManageError::NotFound { .. }), "{e:?}");
}
