//! The scheduled fan-out against moto: the dispatcher's logic reading the by-status index, with the
//! workers in-process (as `s3-connector sync --all` runs them).

mod common;

use chrono::TimeDelta;
use common::*;
use connector_core::dispatch::{ConnectionIndex, DispatchConfig, StatusCounts};
use connector_core::manage::connections::ConnectionChange;
use connector_core::manage::ports::ConnectionAdmin;
use connector_core::model::{ConnectionStatus, RunPath, SyncResult};
use connector_core::ports::{Lease, SyncStore};

fn skipped(summary: &connector_core::dispatch::DispatchSummary) -> Vec<(&str, u64)> {
    summary.skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_syncs_every_active_connection_once_even_when_delivered_twice() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    world.put("a/1.csv", "id,amount\na1,1\n").await;
    world.put("b/1.csv", "id,amount\nb1,1\n").await;
    world.put("c/1.csv", "id,amount\nc1,1\n").await;
    let mut active = Vec::new();
    for folder in ["a", "b"] {
        let c = world.connection(Some(folder)).await;
        world.connector.state.change_status(&c.id, c.status, ConnectionStatus::Active).await.unwrap();
        active.push(c);
    }
    let paused = world.connection(Some("c")).await;
    world.connector.state.change_status(&paused.id, paused.status, ConnectionStatus::Paused).await.unwrap();
    let _pending = world.connection(Some("c")).await;
    let config = DispatchConfig { concurrency: 2, ..DispatchConfig::default() };

    // WHEN the scheduled event arrives
    let summary = world.connector.dispatch(&world.connector, "event-1", &config).await.unwrap();

    // THEN each active connection is synced, the others counted as skipped
    assert_eq!((summary.found, summary.invoked, summary.failed), (4, 2, 0), "{summary:?}");
    assert_eq!(skipped(&summary), [("paused", 1), ("pending", 1)]);
    // Counted through the by-status index (the dispatcher's metrics).
    assert_eq!(summary.by_status, StatusCounts { active: 2, needs_reauth: 0, paused: 1, pending: 1 });
    for c in &active {
        let c = world.connector.in_process().connection(&c.id).await.unwrap();
        assert_eq!(c.sync.last_result, Some(SyncResult::Succeeded));
        assert_eq!(c.sync.last_schedule_run.as_deref(), Some("event-1"));
        assert_eq!(world.records(&c.id).await.len(), 1);
    }
    assert!(world.records(&paused.id).await.is_empty());

    // WHEN EventBridge delivers the same event again: no second sync.
    let again = world.connector.dispatch(&world.connector, "event-1", &config).await.unwrap();
    assert_eq!((again.invoked, skipped(&again)), (0, vec![("already_synced", 2), ("paused", 1), ("pending", 1)]));
    for c in &active {
        assert_eq!(world.connector.state.runs(&c.id, 10).await.unwrap().len(), 1, "one run per scheduled event");
    }

    // Even if a duplicate slips past the dispatcher's read, the worker's lease refuses it.
    let again = connector_aws::SyncRequest::new(&active[0].id);
    let duplicate =
        world.connector.sync(connector_aws::SyncRequest { schedule_run: Some("event-1"), ..again }).await.unwrap();
    assert!(matches!(duplicate, connector_core::engine::SyncOutcome::AlreadySynced { .. }), "{duplicate:?}");

    // The next hour's tick finds their scans not due; the next day's syncs them again.
    let next_hour = tick(&world, "event-2", TimeDelta::hours(1), &config).await;
    assert_eq!((next_hour.invoked, next_hour.skipped.get("not_due")), (0, Some(&2)));
    let next_day = tick(&world, "event-3", TimeDelta::days(1), &config).await;
    assert_eq!(next_day.invoked, 2);
}

/// The dispatch of scheduled event `schedule_run` as it would run `after` from now.
async fn tick(
    world: &World,
    schedule_run: &str,
    after: TimeDelta,
    config: &DispatchConfig,
) -> connector_core::dispatch::DispatchSummary {
    let clock = connector_core::memory::FixedClock::at(chrono::Utc::now() + after);
    let dispatched =
        connector_core::dispatch::dispatch(&world.connector.state, &world.connector, &clock, schedule_run, config);
    dispatched.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_connection_is_scanned_on_its_own_interval_and_an_operator_syncs_them_all() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let (hourly, daily) = (world.connection(Some("h")).await, world.connection(Some("d")).await);
    for c in [&hourly, &daily] {
        world.connector.state.change_status(&c.id, c.status, ConnectionStatus::Active).await.unwrap();
    }
    let every_hour = ConnectionChange { scan_every_hours: Some(Some(1)), ..ConnectionChange::default() };
    let edited = world.connector.in_process().edit(&hourly.id, every_hour).await.expect("an hourly scan");
    assert_eq!(edited.scan_every_hours, Some(1));
    let weekly_and_a_bit = ConnectionChange { scan_every_hours: Some(Some(170)), ..ConnectionChange::default() };
    let refused = world.connector.in_process().edit(&daily.id, weekly_and_a_bit).await.unwrap_err();
    assert!(refused.to_string().contains("170 is not an interval"), "{refused}");
    let config = DispatchConfig::default();

    let first = tick(&world, "tick-1", TimeDelta::zero(), &config).await;
    assert_eq!(first.invoked, 2, "never scanned: both due");
    let started = |id: String| {
        let state = world.connector.state.clone();
        async move { SyncStore::connection(&state, &id).await.unwrap().unwrap().sync.last_scan_started }
    };
    assert!(started(hourly.id.clone()).await.is_some() && started(daily.id.clone()).await.is_some());

    let invoked = |summary: &connector_core::dispatch::DispatchSummary| {
        (summary.invoked, summary.skipped.get("not_due").copied())
    };
    assert_eq!(invoked(&tick(&world, "tick-2", TimeDelta::hours(1), &config).await), (1, Some(1)), "the hourly one");
    let runs = world.connector.state.runs(&hourly.id, 10).await.unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(world.connector.state.runs(&daily.id, 10).await.unwrap().len(), 1);

    // Back to daily: an hour later, not due.
    let back = ConnectionChange { scan_every_hours: Some(None), ..ConnectionChange::default() };
    assert_eq!(world.connector.in_process().edit(&hourly.id, back).await.unwrap().scan_every_hours, None);
    assert_eq!(invoked(&tick(&world, "tick-3", TimeDelta::hours(2), &config).await), (0, Some(2)));

    // An operator's sync --all syncs every active connection, due or not.
    let all = DispatchConfig { every_connection: true, ..DispatchConfig::default() };
    assert_eq!(invoked(&tick(&world, "by-hand", TimeDelta::hours(2), &all).await), (2, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_whose_lease_is_held_are_skipped() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let busy = world.connection(None).await;
    world.connector.state.change_status(&busy.id, busy.status, ConnectionStatus::Active).await.unwrap();
    let now = chrono::Utc::now();
    let lease =
        world.connector.state.acquire_lease(&busy.id, "running-worker", now, now + TimeDelta::minutes(10), None);
    assert_eq!(lease.await.unwrap(), Lease::Acquired);

    let summary = world.connector.dispatch(&world.connector, "event-1", &DispatchConfig::default()).await.unwrap();

    assert_eq!((summary.invoked, skipped(&summary)), (0, vec![("lease_held", 1)]));
    // The day's scan is owed, not lost: the holder starts it when it lets go.
    let owed = |world: &World| {
        let id = busy.id.clone();
        let state = world.connector.state.clone();
        async move { SyncStore::connection(&state, &id).await.unwrap().unwrap().scan_owed }
    };
    assert_eq!(owed(&world).await.as_deref(), Some("event-1"));
    world.connector.state.release_lease(&busy.id, "running-worker").await.unwrap();
    let next = world.connector.next_run(&busy.id).await.expect("the scan owed");
    assert_eq!((next.schedule_run.as_deref(), next.events), (Some("event-1"), false));
    // A run in process (here a run of kept keys, of which there are none) starts it when it ends,
    // as the worker does.
    let kept_keys = connector_core::dispatch::WorkerRequest::for_kept_keys(&busy.id);
    connector_core::dispatch::WorkerInvoker::invoke(&world.connector, &kept_keys)
        .await
        .expect("a run, then the owed scan");
    assert_eq!(owed(&world).await, None, "paid by the scan");
    let runs = world.connector.state.runs(&busy.id, 5).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.path).collect::<Vec<_>>(), [RunPath::Scan, RunPath::Events], "newest first");
    assert_eq!(world.connector.next_run(&busy.id).await, None);
    let again = world.connector.dispatch(&world.connector, "event-1", &DispatchConfig::default()).await.unwrap();
    assert_eq!((again.invoked, skipped(&again)), (0, vec![("already_synced", 1)]));

    // With the lease let go, nothing is owed and the owe is refused: the dispatcher invokes.
    let now = chrono::Utc::now();
    assert!(!ConnectionIndex::owe_scan(&world.connector.state, &busy.id, "event-2", now).await.unwrap());
    assert_eq!(owed(&world).await, None);
}
