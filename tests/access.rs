//! The access check of preview, activation and re-authentication, against moto with IAM enforced
//! (server-wide, so this test has a moto of its own): it reads a sample of the folder's objects,
//! reports each one, and refuses a role that reads none of them. The customer's roles are made from
//! the documents `connections create` generates, as in tests/sync.rs.

mod common;

use chrono::TimeDelta;
use common::*;
use connector_core::access::{AccessReport, AccessResult, SAMPLE_OBJECTS};
use connector_core::manage::ports::ConnectionAdmin;
use connector_core::manage::ManageError;
use connector_core::model::ConnectionStatus;

fn results(report: &AccessReport) -> Vec<(&str, AccessResult)> {
    report.objects.iter().map(|o| (o.key.as_str(), o.result)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_check_reads_several_objects_reports_each_and_refuses_a_role_that_reads_none() {
    needs!(OwnMoto);
    let setup = IamWorld::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let (moto, world) = (&setup.moto, &setup.world);

    // Seven files, then the newest, one second later: a file the role may not read (as a KMS key
    // it may not use, or another account's object, would make it). The old check read only the
    // first file in key order.
    for name in ["a", "b", "c", "d", "e", "f", "g"] {
        world.put(&format!("in/{name}.csv"), format!("id,amount\n{name},1\n")).await;
    }
    world.put("in/folder/", "").await;
    at_next_second().await;
    world.put("in/m-newest-denied.csv", "id,amount\nm,1\n").await;
    let mixed = setup.create("in").await;
    let list_only = setup.create("in").await;
    let mut all_but_one = mixed.permission_policy.clone().expect("located");
    all_but_one["Statement"].as_array_mut().unwrap().push(serde_json::json!({
        "Effect": "Deny", "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{}/in/m-newest-denied.csv", world.bucket),
    }));
    setup.role(&mixed, &mixed.trust_policy, &all_but_one).await;
    let mut no_get_object = list_only.permission_policy.clone().expect("located");
    no_get_object["Statement"].as_array_mut().unwrap().truncate(1);
    setup.role(&list_only, &list_only.trust_policy, &no_get_object).await;
    moto.set_auth("0");

    // One object denied among readable ones: preview, activation and re-authentication pass, and
    // each reports every object it read, the denied one with its cause and fix.
    let preview = world.connector.in_process().preview(&mixed.connection.id, 3, None, 5).await.unwrap();
    let access = &preview.access;
    assert_eq!((preview.objects.len(), preview.more), (3, true));
    assert_eq!((access.objects_listed, access.objects.len()), (9, SAMPLE_OBJECTS), "{access:#?}");
    let denied: Vec<_> = access.objects.iter().filter(|o| o.result != AccessResult::Readable).collect();
    assert_eq!(
        denied.iter().map(|o| (o.key.as_str(), o.result)).collect::<Vec<_>>(),
        [("in/m-newest-denied.csv", AccessResult::Denied)],
        "{access:#?}"
    );
    assert!(denied[0].error.as_deref().unwrap().contains("the role may not read this object"), "{denied:?}");
    let keys: Vec<&str> = access.objects.iter().map(|o| o.key.as_str()).collect();
    assert!(keys.contains(&"in/a.csv") && !keys.contains(&"in/folder/"), "the first in key order, no folder: {keys:?}");
    let activated = world.connector.in_process().activate(&mixed.connection.id).await.unwrap();
    assert_eq!(activated.connection.status, ConnectionStatus::Active);
    assert!(results(&activated.access).contains(&("in/m-newest-denied.csv", AccessResult::Denied)));
    let (active, broken) = (ConnectionStatus::Active, ConnectionStatus::NeedsReauth);
    world.connector.state.change_status(&mixed.connection.id, active, broken).await.unwrap();
    let reauthenticated = world.connector.in_process().reauthenticate(&mixed.connection.id).await.unwrap();
    assert_eq!(reauthenticated.connection.status, ConnectionStatus::Active);
    assert_eq!(results(&reauthenticated.access), results(&activated.access));
    assert_eq!(reauthenticated.access.readable(), SAMPLE_OBJECTS - 1);

    // A role that may list but read nothing: every check fails, naming each object tried and why;
    // the connection stays pending.
    let refused = world.connector.in_process().check_access(&list_only.connection).await;
    let Err(ManageError::Access(message)) = refused else { panic!("{refused:?}") };
    assert!(
        message
            .starts_with(&format!("the role may list s3://{}/in/ but read none of the 5 objects tried", world.bucket)),
        "{message}"
    );
    assert_eq!(message.matches("the role may not read this object").count(), SAMPLE_OBJECTS, "{message}");
    for key in &keys {
        assert!(message.contains(&format!("{key} (reading s3://{}/{key}: ", world.bucket)), "{key}: {message}");
    }
    let preview = world.connector.in_process().preview(&list_only.connection.id, 10, None, 5).await;
    assert!(matches!(&preview, Err(ManageError::Access(m)) if *m == message), "{preview:?}");
    let activate = world.connector.in_process().activate(&list_only.connection.id).await;
    assert!(matches!(&activate, Err(ManageError::Access(m)) if *m == message), "{activate:?}");
    let still = world.connector.in_process().connection(&list_only.connection.id).await.unwrap();
    assert_eq!(still.status, ConnectionStatus::Pending);
}
