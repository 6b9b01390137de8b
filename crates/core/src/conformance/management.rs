//! What every implementation of the management ports ([`crate::manage::ports`]) must do, run against
//! the in-memory ports by this crate's unit tests and against DynamoDB (on moto) by
//! tests/conformance.rs: unique names that follow a rename and a delete, conditional status changes,
//! one-write edits, operators' asks, run history, open failures counted and dismissed, records read
//! back page by page, counted and purged.

use super::{connection, finished, now, template, StoreUnderTest};
use crate::connections::Location;
use crate::intake::{Route, Routes};
use crate::manage::ports::{ConnectionAdmin, ConnectionEdit, RecordAdmin, RunHistory};
use crate::mapping::{Record, Value};
use crate::model::{
    Connection, ConnectionStatus, FileOutcome, FileStatus, LocationField, ObjectMeta, PauseReason, Recheck, SyncMode,
};
use crate::ports::{RecordBatch, RecordSink, RunEnd, StoreErrorKind};
use chrono::TimeDelta;

/// Runs every case; connection ids and names start with `prefix`.
pub async fn check_management<S, R>(store: &S, records: &R, prefix: &str)
where
    S: StoreUnderTest + ConnectionAdmin + RunHistory + Routes,
    R: RecordAdmin + RecordSink,
{
    names_are_unique_and_follow_renames_and_deletes(store, prefix).await;
    names_are_unique_within_a_tenant(store, &format!("{prefix}-tenants")).await;
    a_tenants_list_comes_by_name_page_by_page(store, &format!("{prefix}-list")).await;
    a_connection_without_a_tenant_is_given_one_once(store, &format!("{prefix}-assign")).await;
    status_changes_are_conditional(store, &format!("{prefix}-status")).await;
    a_customers_location_is_written_only_while_pending(store, &format!("{prefix}-location")).await;
    withdrawing_links_adds_one_each_time(store, &format!("{prefix}-links")).await;
    a_buckets_connections_are_found_with_their_mode(store, &format!("{prefix}-routes")).await;
    a_pause_says_why_and_a_resume_starts_the_count_again(store, &format!("{prefix}-pause")).await;
    an_edit_is_one_write_against_what_was_read(store, &format!("{prefix}-edit")).await;
    history_and_asks_of_an_operator(store, &format!("{prefix}-history")).await;
    open_failures_are_counted_with_each_outcome_and_dismissal(store, &format!("{prefix}-failures")).await;
    records_come_back_page_by_page_and_are_purged(records, &format!("{prefix}-records")).await;
}

async fn names_are_unique_and_follow_renames_and_deletes<S: StoreUnderTest + ConnectionAdmin>(store: &S, prefix: &str) {
    let first = connection(store, &format!("{prefix}-names-1"), ConnectionStatus::Pending).await;
    let mut twin = first.clone();
    twin.id = format!("{prefix}-names-2");
    let taken = store.create_connection(&twin).await.expect_err("a second connection of the same name");
    assert_eq!(taken.kind, StoreErrorKind::Conflict, "{taken}");
    assert!(taken.message.contains(&first.name), "the conflict names the name: {taken}");

    let renamed = format!("{} renamed", first.name);
    let edit = ConnectionEdit { name: Some(renamed.clone()), ..ConnectionEdit::default() };
    ConnectionAdmin::edit_connection(store, &first, &edit).await.expect("renaming");
    store.create_connection(&twin).await.expect("the old name is free after a rename");
    let mut third = twin.clone();
    third.id = format!("{prefix}-names-3");
    third.name = renamed.clone();
    let taken = store.create_connection(&third).await.expect_err("the new name is claimed");
    assert_eq!(taken.kind, StoreErrorKind::Conflict);

    let listed = store.connections().await.expect("listing");
    for id in [&first.id, &twin.id] {
        assert!(listed.iter().any(|c| c.id == *id), "{id} is listed");
    }
    let renamed_first = ConnectionAdmin::connection(store, &first.id).await.unwrap().expect("stored");
    store.delete_connection(&renamed_first).await.expect("deleting");
    assert_eq!(ConnectionAdmin::connection(store, &first.id).await.unwrap(), None);
    store.create_connection(&third).await.expect("a deleted connection's name is free");
}

/// `connection` of `tenant` named `name`, saved under the id `{prefix}-{n}`.
async fn in_tenant<S: StoreUnderTest + ConnectionAdmin>(
    store: &S,
    prefix: &str,
    n: u32,
    tenant: &str,
    name: &str,
) -> Result<Connection, crate::ports::StoreError> {
    let mut c = super::unsaved(&format!("{prefix}-{n}"), ConnectionStatus::Pending);
    (c.tenant, c.name) = (tenant.to_owned(), name.to_owned());
    store.create_connection(&c).await.map(|()| c)
}

/// The same name in two tenants is two connections; within one, a create or a rename to a name
/// the tenant has is refused, and a delete frees the name in its tenant only.
async fn names_are_unique_within_a_tenant<S: StoreUnderTest + ConnectionAdmin>(store: &S, prefix: &str) {
    let (one, two) = (format!("{prefix}-one"), format!("{prefix}-two"));
    let a = in_tenant(store, prefix, 1, &one, "payments").await.expect("payments in one");
    let b = in_tenant(store, prefix, 2, &two, "payments").await.expect("the same name in another tenant");
    let taken = in_tenant(store, prefix, 3, &one, "payments").await.expect_err("the same name in the same tenant");
    assert_eq!(taken.kind, StoreErrorKind::Conflict, "{taken}");
    let c = in_tenant(store, prefix, 4, &one, "customers").await.expect("another name in one");

    let to_payments = ConnectionEdit { name: Some("payments".into()), ..ConnectionEdit::default() };
    let clash = ConnectionAdmin::edit_connection(store, &c, &to_payments).await.expect_err("a rename within one");
    assert_eq!(clash.kind, StoreErrorKind::Conflict, "{clash}");
    let to_customers = ConnectionEdit { name: Some("customers".into()), ..ConnectionEdit::default() };
    ConnectionAdmin::edit_connection(store, &b, &to_customers).await.expect("one's name, in two");
    let b = ConnectionAdmin::connection(store, &b.id).await.unwrap().expect("stored");
    assert_eq!((b.tenant.as_str(), b.name.as_str()), (two.as_str(), "customers"), "the tenant stays");
    in_tenant(store, prefix, 5, &two, "payments").await.expect("two's old name is free in two");

    store.delete_connection(&a).await.expect("deleting");
    in_tenant(store, prefix, 6, &one, "payments").await.expect("a deleted connection's name is free in its tenant");
    let still = in_tenant(store, prefix, 7, &two, "customers").await.expect_err("and only there");
    assert_eq!(still.kind, StoreErrorKind::Conflict);
}

/// A tenant's list holds its connections only, by name, in pages from where the last one ended.
async fn a_tenants_list_comes_by_name_page_by_page<S: StoreUnderTest + ConnectionAdmin>(store: &S, prefix: &str) {
    let (mine, theirs) = (format!("{prefix}-mine"), format!("{prefix}-theirs"));
    for (n, name) in ["delta", "alpha", "charlie", "bravo", "echo"].into_iter().enumerate() {
        in_tenant(store, prefix, n as u32, &mine, name).await.expect("creating");
    }
    in_tenant(store, prefix, 10, &theirs, "alpha").await.expect("creating");
    in_tenant(store, prefix, 11, "", "aardvark").await.expect("a connection without a tenant");
    let names = |page: Vec<Connection>| page.into_iter().map(|c| c.name).collect::<Vec<_>>();
    let first = store.tenant_connections(&mine, 2, None).await.expect("listing");
    assert_eq!(names(first), ["alpha", "bravo"]);
    let second = store.tenant_connections(&mine, 2, Some("bravo")).await.expect("listing");
    assert_eq!(names(second), ["charlie", "delta"]);
    let last = store.tenant_connections(&mine, 2, Some("delta")).await.expect("listing");
    assert_eq!(names(last), ["echo"]);
    let all = store.tenant_connections(&mine, 100, None).await.expect("listing");
    assert!(all.iter().all(|c| c.tenant == mine), "{all:?}");
    assert_eq!(all.len(), 5);
    assert_eq!(names(store.tenant_connections(&theirs, 100, None).await.unwrap()), ["alpha"]);
    assert!(store.tenant_connections(&format!("{prefix}-none"), 100, None).await.unwrap().is_empty());
}

/// A connection stored before tenants existed reads with an empty tenant, is in no tenant's list,
/// and is given a tenant once: its name moves into the tenant, a second assignment is refused,
/// and a name the tenant has already keeps it without one.
async fn a_connection_without_a_tenant_is_given_one_once<S: StoreUnderTest + ConnectionAdmin>(store: &S, prefix: &str) {
    let tenant = format!("{prefix}-default");
    let legacy = in_tenant(store, prefix, 1, "", "payments").await.expect("a connection without a tenant");
    let read = ConnectionAdmin::connection(store, &legacy.id).await.unwrap().expect("readable");
    assert!(read.lacks_tenant(), "{read:?}");
    let twin = in_tenant(store, prefix, 2, "", "payments").await.expect_err("names without a tenant are unique too");
    assert_eq!(twin.kind, StoreErrorKind::Conflict);

    store.assign_tenant(&read, &tenant).await.expect("giving it the tenant");
    let moved = ConnectionAdmin::connection(store, &legacy.id).await.unwrap().expect("stored");
    assert_eq!((moved.tenant.as_str(), moved.name.as_str()), (tenant.as_str(), "payments"));
    assert_eq!(
        store.tenant_connections(&tenant, 10, None).await.unwrap(),
        std::slice::from_ref(&moved),
        "in the tenant's list"
    );
    let again = store.assign_tenant(&read, &tenant).await.expect_err("given once");
    assert_eq!(again.kind, StoreErrorKind::Conflict);
    let other = store.assign_tenant(&read, &format!("{prefix}-other")).await.expect_err("never moved on");
    assert_eq!(other.kind, StoreErrorKind::Conflict);
    assert_eq!(ConnectionAdmin::connection(store, &legacy.id).await.unwrap(), Some(moved.clone()), "unchanged");
    let taken = in_tenant(store, prefix, 3, &tenant, "payments").await.expect_err("its name is claimed in the tenant");
    assert_eq!(taken.kind, StoreErrorKind::Conflict);

    // The old claim went with it: another connection without a tenant may take the name, and is
    // refused the tenant, which has a connection of that name.
    let late = in_tenant(store, prefix, 4, "", "payments").await.expect("the old claim is released");
    let clash = store.assign_tenant(&late, &tenant).await.expect_err("the tenant has the name");
    assert_eq!(clash.kind, StoreErrorKind::Conflict);
    assert!(ConnectionAdmin::connection(store, &late.id).await.unwrap().expect("stored").lacks_tenant());

    // Renamed, then deleted, within its tenant.
    let rename = ConnectionEdit { name: Some("invoices".into()), ..ConnectionEdit::default() };
    ConnectionAdmin::edit_connection(store, &moved, &rename).await.expect("renaming in the tenant");
    store.assign_tenant(&late, &tenant).await.expect("the name is free in the tenant now");
    let invoices = ConnectionAdmin::connection(store, &legacy.id).await.unwrap().expect("stored");
    store.delete_connection(&invoices).await.expect("deleting");
    in_tenant(store, prefix, 5, &tenant, "invoices").await.expect("its name is free again");
}

async fn status_changes_are_conditional<S: StoreUnderTest + ConnectionAdmin>(store: &S, id: &str) {
    connection(store, id, ConnectionStatus::Pending).await;
    let stale = store.change_status(id, ConnectionStatus::Active, ConnectionStatus::Paused).await;
    assert_eq!(stale.expect_err("not active").kind, StoreErrorKind::Conflict);
    store.change_status(id, ConnectionStatus::Pending, ConnectionStatus::Active).await.expect("pending -> active");
    let stored = ConnectionAdmin::connection(store, id).await.unwrap().expect("stored");
    assert_eq!(stored.status, ConnectionStatus::Active);
    let missing = store.change_status(&format!("{id}-none"), ConnectionStatus::Active, ConnectionStatus::Paused).await;
    assert_eq!(missing.expect_err("no connection, no change").kind, StoreErrorKind::Conflict);
}

/// The open fields round-trip; a customer's location is written while the connection is pending
/// (a folder set, then none), and refused once it is not (a race lost to activation), and for a
/// connection that does not exist.
async fn a_customers_location_is_written_only_while_pending<S: StoreUnderTest + ConnectionAdmin>(store: &S, id: &str) {
    let mut open = super::unsaved(id, ConnectionStatus::Pending);
    (open.bucket, open.region, open.open_fields) =
        (String::new(), String::new(), vec![LocationField::Bucket, LocationField::Region, LocationField::Folder]);
    store.create_connection(&open).await.expect("creating with the location open");
    let read = || async { ConnectionAdmin::connection(store, id).await.unwrap().expect("stored") };
    assert_eq!(read().await, open, "open fields and an empty bucket and region read back as written");

    let at = now();
    let location = Location { bucket: "filled".into(), region: "eu-west-1".into(), folder: Some("in/".into()) };
    store.fill_location(id, &location, at).await.expect("pending: written");
    let filled = read().await;
    assert_eq!(
        (filled.bucket.as_str(), filled.region.as_str(), filled.folder.as_deref()),
        ("filled", "eu-west-1", Some("in/"))
    );
    assert_eq!((filled.location_filled_at, filled.open_fields.len()), (Some(at), 3));
    let whole = Location { folder: None, ..location.clone() };
    store.fill_location(id, &whole, at + TimeDelta::seconds(1)).await.expect("corrected while pending");
    assert_eq!(read().await.folder, None, "no folder: the whole bucket");

    // Activation checked access at the earlier location; the customer has saved another since.
    let stale = store.activate_at(id, &location).await.expect_err("checked elsewhere: refused");
    assert_eq!(stale.kind, StoreErrorKind::Conflict, "{stale}");
    assert_eq!(read().await.status, ConnectionStatus::Pending);
    store.activate_at(id, &whole).await.expect("activating where access was checked");
    assert_eq!(read().await.status, ConnectionStatus::Active);
    let moved = Location { bucket: "elsewhere".into(), ..location };
    let refused = store.fill_location(id, &moved, at).await.expect_err("active: refused");
    assert_eq!(refused.kind, StoreErrorKind::Conflict, "{refused}");
    assert_eq!(read().await.bucket, "filled", "an active connection's bucket never moves");
    let missing = store.fill_location(&format!("{id}-none"), &moved, at).await.expect_err("no connection");
    assert_eq!(missing.kind, StoreErrorKind::Conflict);
    assert_eq!(ConnectionAdmin::connection(store, &format!("{id}-none")).await.unwrap(), None, "nothing created");
}

/// The intake finds the connections of a bucket, and only those: one created with the bucket, one
/// whose customer filled it in, not one still open; a mode set by an edit reads back in the route.
async fn a_buckets_connections_are_found_with_their_mode<S: StoreUnderTest + ConnectionAdmin + Routes>(
    store: &S,
    prefix: &str,
) {
    let bucket = format!("{prefix}-bucket");
    let mut given = super::unsaved(&format!("{prefix}-given"), ConnectionStatus::Active);
    (given.bucket, given.folder) = (bucket.clone(), Some("in/".into()));
    store.create_connection(&given).await.expect("creating");
    let mut open = super::unsaved(&format!("{prefix}-open"), ConnectionStatus::Pending);
    (open.bucket, open.open_fields) = (String::new(), vec![LocationField::Bucket]);
    store.create_connection(&open).await.expect("creating with the bucket open");
    let mut elsewhere = super::unsaved(&format!("{prefix}-elsewhere"), ConnectionStatus::Active);
    elsewhere.bucket = format!("{prefix}-other");
    store.create_connection(&elsewhere).await.expect("creating");
    let ids = |mut routes: Vec<Route>| {
        routes.sort_by(|a, b| a.connection_id.cmp(&b.connection_id));
        routes.into_iter().map(|r| r.connection_id).collect::<Vec<_>>()
    };
    assert_eq!(ids(store.routes(&bucket).await.expect("routes")), [given.id.clone()]);
    assert_eq!(store.routes(&format!("{prefix}-none")).await.expect("routes"), Vec::new());

    let location = Location { bucket: bucket.clone(), region: "us-east-1".into(), folder: None };
    store.fill_location(&open.id, &location, now()).await.expect("the customer fills the bucket");
    assert_eq!(ids(store.routes(&bucket).await.expect("routes")), [given.id.clone(), open.id.clone()]);

    let events = ConnectionEdit { mode: Some(SyncMode::Events), ..ConnectionEdit::default() };
    ConnectionAdmin::edit_connection(store, &given, &events).await.expect("setting the mode");
    let routes = store.routes(&bucket).await.expect("routes");
    let route = routes.iter().find(|r| r.connection_id == given.id).expect("still found");
    assert_eq!(*route, Route::of(&Connection { mode: SyncMode::Events, ..given.clone() }));
    assert_eq!(route.folder.as_deref(), Some("in/"));
}

/// Each withdrawal adds one to the link generation, in one write; edits meanwhile keep it; a
/// connection that does not exist is a conflict and is not created.
async fn withdrawing_links_adds_one_each_time<S: StoreUnderTest + ConnectionAdmin>(store: &S, id: &str) {
    let c = connection(store, id, ConnectionStatus::Pending).await;
    assert_eq!(c.link_generation, 0);
    assert_eq!(store.withdraw_setup_links(id).await.expect("withdrawing"), 1);
    let edit = ConnectionEdit { name: Some(format!("{} renamed", c.name)), ..ConnectionEdit::default() };
    ConnectionAdmin::edit_connection(store, &c, &edit).await.expect("renaming");
    let (a, b) = tokio::join!(store.withdraw_setup_links(id), store.withdraw_setup_links(id));
    let mut both = [a.expect("one"), b.expect("the other")];
    both.sort();
    assert_eq!(both, [2, 3], "two at once: no lost update");
    assert_eq!(ConnectionAdmin::connection(store, id).await.unwrap().expect("stored").link_generation, 3);
    let missing = store.withdraw_setup_links(&format!("{id}-none")).await.expect_err("no connection");
    assert_eq!(missing.kind, StoreErrorKind::Conflict);
    assert_eq!(ConnectionAdmin::connection(store, &format!("{id}-none")).await.unwrap(), None, "nothing created");
}

/// A run that pauses a failing connection says why; an operator's pause says it is theirs; a resume
/// clears the reason and starts the count of failures again.
async fn a_pause_says_why_and_a_resume_starts_the_count_again<S: StoreUnderTest + ConnectionAdmin>(
    store: &S,
    id: &str,
) {
    let current = connection(store, id, ConnectionStatus::Active).await;
    let (run, mut after) = finished(&current, "run-1", 0, Some("day-7"));
    after.status = ConnectionStatus::Paused;
    after.pause_reason = Some(PauseReason::Failing);
    after.sync.consecutive_failures = 7;
    after.sync.last_failure_key = Some("day-7".into());
    assert_eq!(super::acquire(store, id, "run-1", 60).await, crate::ports::Lease::Acquired);
    let end = RunEnd { run: &run, connection: &after, status_before: ConnectionStatus::Active };
    store.finish_run(end, "run-1").await.expect("finishing");
    let stored = ConnectionAdmin::connection(store, id).await.unwrap().expect("stored");
    assert_eq!((stored.status, stored.pause_reason), (ConnectionStatus::Paused, Some(PauseReason::Failing)));
    assert_eq!(stored.sync.consecutive_failures, 7);

    store.change_status(id, ConnectionStatus::Paused, ConnectionStatus::Active).await.expect("resuming");
    let stored = ConnectionAdmin::connection(store, id).await.unwrap().expect("stored");
    assert_eq!((stored.pause_reason, stored.sync.consecutive_failures), (None, 0));
    assert_eq!(stored.sync.last_failure_key, None);
    store.change_status(id, ConnectionStatus::Active, ConnectionStatus::Paused).await.expect("pausing");
    let stored = ConnectionAdmin::connection(store, id).await.unwrap().expect("stored");
    assert_eq!(stored.pause_reason, Some(PauseReason::Operator));
}

async fn an_edit_is_one_write_against_what_was_read<S: StoreUnderTest + ConnectionAdmin>(store: &S, id: &str) {
    let read = connection(store, id, ConnectionStatus::Active).await;
    let since = now() - TimeDelta::days(3);
    let edit = ConnectionEdit {
        template_id: Some("conformance-other".into()),
        overlap_seconds: Some(Some(7200)),
        backfill_since: Some(since),
        ..ConnectionEdit::default()
    };
    ConnectionAdmin::edit_connection(store, &read, &edit).await.expect("editing");
    let stored = ConnectionAdmin::connection(store, id).await.unwrap().expect("stored");
    assert_eq!((stored.overlap_seconds, stored.backfill_since), (Some(7200), Some(since)));
    assert_eq!(stored.template_id, "conformance-other");
    let back = ConnectionEdit { overlap_seconds: Some(None), ..ConnectionEdit::default() };
    ConnectionAdmin::edit_connection(store, &stored, &back).await.expect("back to the default");
    let stored = ConnectionAdmin::connection(store, id).await.unwrap().expect("stored");
    assert_eq!((stored.overlap_seconds, stored.backfill_since), (None, Some(since)), "the backfill stays");

    // An edit made on a read that a rename has overtaken is refused, and changes nothing.
    let rename = ConnectionEdit { name: Some(format!("{} 2", read.name)), ..ConnectionEdit::default() };
    ConnectionAdmin::edit_connection(store, &read, &rename).await.expect("renaming");
    let late = ConnectionEdit { overlap_seconds: Some(Some(60)), ..ConnectionEdit::default() };
    let refused = ConnectionAdmin::edit_connection(store, &read, &late).await.expect_err("read before the rename");
    assert_eq!(refused.kind, StoreErrorKind::Conflict);
    let stored = ConnectionAdmin::connection(store, id).await.unwrap().expect("stored");
    assert_eq!(stored.overlap_seconds, None);
}

async fn history_and_asks_of_an_operator<S: StoreUnderTest + ConnectionAdmin + RunHistory>(store: &S, id: &str) {
    let mut current = connection(store, id, ConnectionStatus::Active).await;
    for run in ["run-1", "run-2", "run-3"] {
        let (mut sync_run, after) = finished(&current, run, 1, None);
        sync_run.started_at += TimeDelta::seconds(run[4..].parse::<i64>().unwrap());
        assert_eq!(super::acquire(store, id, run, 60).await, crate::ports::Lease::Acquired);
        let end = RunEnd { run: &sync_run, connection: &after, status_before: ConnectionStatus::Active };
        store.finish_run(end, run).await.expect("finishing");
        current = after;
    }
    let runs = store.runs(id, 2).await.expect("runs");
    assert_eq!(runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["run-3", "run-2"], "newest first");

    let expires = now() + TimeDelta::days(1);
    store.record_outcome(id, &outcome("b.csv", FileStatus::Failed), expires).await.unwrap();
    store.record_outcome(id, &outcome("a.csv", FileStatus::Imported), expires).await.unwrap();
    let keys: Vec<String> = store.outcomes(id).await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(keys, ["a.csv", "b.csv"], "by key");
    assert_eq!(store.outcome(id, "b.csv").await.unwrap().map(|o| o.status), Some(FileStatus::Failed));
    assert_eq!(store.outcome(id, "c.csv").await.unwrap(), None);

    let asked_at = now();
    assert!(!ConnectionAdmin::ask_again(store, id, "c.csv", asked_at).await.unwrap(), "nothing to ask for");
    assert!(ConnectionAdmin::ask_again(store, id, "b.csv", asked_at).await.unwrap());
    let asked = store.outcome(id, "b.csv").await.unwrap().expect("still recorded");
    assert_eq!(asked.recheck, Some(Recheck::Operator { asked_at }));

    let stored = ConnectionAdmin::connection(store, id).await.unwrap().expect("stored");
    store.delete_connection(&stored).await.expect("deleting");
    assert!(store.runs(id, 10).await.unwrap().is_empty(), "its runs go with it");
    assert!(store.outcomes(id).await.unwrap().is_empty(), "its ledger goes with it");
}

/// An outcome of run-3 at version e1, finished now.
fn outcome(key: &str, status: FileStatus) -> FileOutcome {
    FileOutcome { status, run_id: "run-3".into(), ..super::outcome(key, "e1") }
}

/// The connection's count of open failures moves with every outcome and dismissal, once each: a
/// failure recorded again (a retry that failed again) is not counted twice, an import or a
/// dismissal ends one, a new version's failure opens one again.
async fn open_failures_are_counted_with_each_outcome_and_dismissal<S>(store: &S, id: &str)
where
    S: StoreUnderTest + ConnectionAdmin + RunHistory,
{
    connection(store, id, ConnectionStatus::Active).await;
    let count = || async { ConnectionAdmin::connection(store, id).await.unwrap().expect("stored").failed_files };
    let expires = now() + TimeDelta::days(1);
    let retry = Recheck::Retry { attempt: 1, next_at: now() - TimeDelta::minutes(1) };
    let failed = FileOutcome { recheck: Some(retry), ..outcome("a.csv", FileStatus::Failed) };
    store.record_outcome(id, &failed, expires).await.unwrap();
    assert_eq!(count().await, 1);
    store.record_outcome(id, &failed, expires).await.unwrap();
    assert_eq!(count().await, 1, "tried again and failed again: still one");
    store.record_outcome(id, &outcome("b.csv", FileStatus::Failed), expires).await.unwrap();
    store.record_outcome(id, &outcome("c.csv", FileStatus::Imported), expires).await.unwrap();
    store.record_outcome(id, &outcome("d.csv", FileStatus::Skipped), expires).await.unwrap();
    assert_eq!(count().await, 2, "imported and skipped files are not failures");

    // An operator's ask made after a run took the object up stands, and the count does not move.
    let asked_at = now() + TimeDelta::seconds(10);
    assert!(ConnectionAdmin::ask_again(store, id, "b.csv", asked_at).await.unwrap());
    store.record_outcome(id, &outcome("b.csv", FileStatus::Failed), expires).await.unwrap();
    let b = store.outcome(id, "b.csv").await.unwrap().expect("recorded");
    assert_eq!((b.recheck, count().await), (Some(Recheck::Operator { asked_at }), 2));

    let at = now() + TimeDelta::seconds(20);
    let dismiss = |key: &'static str, etag: &'static str| ConnectionAdmin::dismiss(store, id, key, etag, at, expires);
    assert!(!dismiss("a.csv", "e0").await.unwrap(), "another version's failure");
    assert!(!dismiss("c.csv", "e1").await.unwrap(), "an imported file");
    assert!(!dismiss("none.csv", "e1").await.unwrap(), "no outcome");
    assert_eq!(count().await, 2);
    assert!(store.due_rechecks(id, now(), 10).await.unwrap().iter().any(|o| o.key == "a.csv"), "waiting for a retry");
    assert!(dismiss("a.csv", "e1").await.unwrap());
    assert_eq!(count().await, 1);
    let a = store.outcome(id, "a.csv").await.unwrap().expect("kept");
    assert_eq!((a.is_open_failure(), a.status, a.dismissed_at, a.recheck), (false, FileStatus::Failed, Some(at), None));
    assert!(!store.due_rechecks(id, now(), 10).await.unwrap().iter().any(|o| o.key == "a.csv"), "not tried again");
    assert!(!dismiss("a.csv", "e1").await.unwrap(), "dismissed already");
    assert_eq!(count().await, 1, "a second dismissal moves nothing");

    store.record_outcome(id, &outcome("b.csv", FileStatus::Imported), expires).await.unwrap();
    assert_eq!(count().await, 0, "fixed and imported");
    let new_version = FileOutcome { etag: "e2".into(), ..outcome("a.csv", FileStatus::Failed) };
    store.record_outcome(id, &new_version, expires).await.unwrap();
    assert_eq!(count().await, 1, "a new version's failure is open again");
    assert_eq!(store.outcome(id, "a.csv").await.unwrap().and_then(|o| o.dismissed_at), None);

    // A run that took e.csv up before the operator dismissed its failure fails it again: the
    // dismissal stands. A run that begins after it (an operator's retry) decides it anew.
    store.record_outcome(id, &outcome("e.csv", FileStatus::Failed), expires).await.unwrap();
    assert_eq!(count().await, 2);
    assert!(dismiss("e.csv", "e1").await.unwrap());
    let overtaken = FileOutcome {
        finished_at: at + TimeDelta::seconds(5),
        duration_ms: 10_000,
        recheck: Some(Recheck::Retry { attempt: 2, next_at: at + TimeDelta::hours(1) }),
        ..outcome("e.csv", FileStatus::Failed)
    };
    store.record_outcome(id, &overtaken, expires).await.unwrap();
    let e = store.outcome(id, "e.csv").await.unwrap().expect("recorded");
    assert_eq!((e.dismissed_at, e.recheck, count().await), (Some(at), None, 1), "the dismissal stands");
    let later = FileOutcome { finished_at: at + TimeDelta::seconds(30), ..outcome("e.csv", FileStatus::Failed) };
    store.record_outcome(id, &later, expires).await.unwrap();
    let e = store.outcome(id, "e.csv").await.unwrap().expect("recorded");
    assert_eq!((e.dismissed_at, count().await), (None, 2), "decided anew after the dismissal");

    let stored = ConnectionAdmin::connection(store, id).await.unwrap().expect("stored");
    store.delete_connection(&stored).await.expect("deleting");

    // A failure of a connection deleted meanwhile is refused, and nothing is written.
    let refused = store.record_outcome(id, &outcome("f.csv", FileStatus::Failed), expires).await;
    assert_eq!(refused.expect_err("no connection to count it on").kind, StoreErrorKind::Conflict);
    assert_eq!(store.outcome(id, "f.csv").await.unwrap(), None);
}

async fn records_come_back_page_by_page_and_are_purged<R: RecordAdmin + RecordSink>(records: &R, id: &str) {
    let template = template();
    let object = ObjectMeta {
        key: "a.csv".into(),
        etag: "e1".into(),
        size: 1,
        last_modified: now(),
        storage_class: None,
        attempts: 0,
        replaces: None,
    };
    let rows: Vec<Record> = (0..7)
        .map(|i| Record {
            id: format!("r#{i}"),
            row: i,
            line: i + 2,
            values: vec![Some(Value::Str(format!("v{i}")))],
            extra: vec![],
        })
        .collect();
    for chunk in rows.chunks(records.max_batch().min(3)) {
        let batch = RecordBatch {
            connection_id: id,
            template: &template,
            object: &object,
            imported_at: now(),
            records: chunk.to_vec(),
        };
        records.put(batch).await.expect("writing");
    }
    let mut seen = 0;
    let mut after: Option<String> = None;
    loop {
        let page = records.records_page(id, 3, after.as_deref()).await.expect("a page");
        assert!(page.records.len() <= 3);
        seen += page.records.len();
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, 7, "every record once");
    let forged = records.records_page(id, 3, Some("not a token")).await.expect_err("a token no page gave");
    assert_eq!(forged.kind, StoreErrorKind::Invalid, "{forged}");
    assert_eq!(records.count_records(id).await.unwrap(), 7);
    assert_eq!(records.purge_records(id).await.unwrap(), 7);
    assert_eq!(records.count_records(id).await.unwrap(), 0);
    assert!(records.records_page(id, 3, None).await.unwrap().records.is_empty());
}
