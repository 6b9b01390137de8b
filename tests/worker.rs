//! The worker's handler against moto: what it starts after a run, the next part of a run handed
//! over, the scan a held lease made it owe, the keys kept meanwhile, with recorded workers.

mod common;

use chrono::TimeDelta;
use common::*;
use connector_aws::metrics::Metrics;
use connector_core::dispatch::WorkerRequest;
use connector_core::manage::ports::ConnectionAdmin;
use connector_core::memory::RecordedWorkers;
use connector_core::model::{ConnectionStatus, RunPath};
use connector_core::ports::{Lease, SyncStore};

async fn work(world: &World, request: WorkerRequest, next: &RecordedWorkers) -> worker::WorkerResponse {
    let metrics = Metrics::new("S3ConnectorTest", "test");
    worker::handle(&world.connector, request, None, next, &metrics).await.expect("the worker's run")
}

/// A live run's lease: taken for ten seconds and renewed every two, so that a scan asking for it
/// sees a holder that renews (and answers "held" within a term) rather than one to wait out; a term
/// long enough that a slow moto does not make it look stopped.
struct LiveHolder {
    state: connector_aws::dynamodb::StateTable,
    connection_id: String,
    renewing: tokio::task::JoinHandle<()>,
}

impl LiveHolder {
    const TERM: TimeDelta = TimeDelta::seconds(10);

    async fn start(world: &World, connection_id: &str) -> LiveHolder {
        let state = world.connector.state.clone();
        let now = chrono::Utc::now();
        let held = state.acquire_lease(connection_id, "holder", now, now + Self::TERM, None).await.unwrap();
        assert_eq!(held, Lease::Acquired);
        let (renewer, id) = (state.clone(), connection_id.to_owned());
        let renewing = tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                let now = chrono::Utc::now();
                assert!(renewer.renew_lease(&id, "holder", now, now + Self::TERM).await.unwrap(), "renewed");
            }
        });
        LiveHolder { state, connection_id: connection_id.to_owned(), renewing }
    }

    async fn stop(self) {
        if self.renewing.is_finished() {
            panic!("the holder stopped renewing: {:?}", self.renewing.await);
        }
        self.renewing.abort();
        let _ = self.renewing.await;
        self.state.release_lease(&self.connection_id, "holder").await.unwrap();
    }
}

fn started(next: &RecordedWorkers) -> Vec<WorkerRequest> {
    std::mem::take(&mut *next.requests.lock().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_scan_that_finds_the_lease_held_is_owed_and_the_holder_starts_it_when_it_ends() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let c = world.connection(None).await;
    let state = &world.connector.state;
    state.change_status(&c.id, c.status, ConnectionStatus::Active).await.unwrap();
    world.put("a.csv", "id,amount\na1,1\n").await;
    let next = RecordedWorkers::default();
    // Another run (an events run, say) holds the lease, and renews it, when the day's scan comes.
    let holder = LiveHolder::start(&world, &c.id).await;
    let scheduled = WorkerRequest { schedule_run: Some("day-1".into()), ..WorkerRequest::new(&c.id) };
    work(&world, scheduled.clone(), &next).await;
    let connection = SyncStore::connection(state, &c.id).await.unwrap().unwrap();
    assert_eq!(connection.scan_owed.as_deref(), Some("day-1"), "owed to the holder");
    assert!(started(&next).is_empty() && world.records(&c.id).await.is_empty());

    // The holder's run ends (here: it lets go, and a worker's run of kept keys finishes): the
    // worker that finished starts the scan owed.
    holder.stop().await;
    work(&world, WorkerRequest::for_kept_keys(&c.id), &next).await;
    let owed = started(&next);
    assert_eq!(owed, [scheduled], "the owed scan, as the dispatcher would have asked it");

    work(&world, owed[0].clone(), &next).await;
    assert_eq!(payment_ids(&world.records(&c.id).await), ["a1"]);
    let connection = SyncStore::connection(state, &c.id).await.unwrap().unwrap();
    assert_eq!((connection.scan_owed, connection.sync.last_schedule_run.as_deref()), (None, Some("day-1")));
    assert!(started(&next).is_empty(), "nothing more to start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_hands_over_starts_the_next_part_which_takes_on_the_keys_kept_meanwhile() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let c = world.connection(None).await;
    let state = &world.connector.state;
    state.change_status(&c.id, c.status, ConnectionStatus::Active).await.unwrap();
    for n in 0..3 {
        world.put(&format!("f{n}.csv"), format!("id,amount\nf{n},1\n")).await;
    }
    let next = RecordedWorkers::default();
    let metrics = Metrics::new("S3ConnectorTest", "test");
    // Its time is up at once: it lists, then hands over to the same request's next invocation.
    let request = WorkerRequest::new(&c.id);
    let hand_over_at = Some(std::time::Instant::now());
    worker::handle(&world.connector, request.clone(), hand_over_at, &next, &metrics).await.expect("handed over");
    assert_eq!(started(&next), std::slice::from_ref(&request), "the next part of the run");

    // An event's key is kept while the run is handed over (as the intake does when the lease is
    // held): the run's next part takes it on, and starts nothing more.
    let late = world.put("late.csv", "id,amount\nl1,1\n").await;
    let key = connector_core::model::NamedKey {
        key: connector_core::object_events::ObjectKey::exact("late.csv"),
        etag: None,
    };
    state.keep_named(&c.id, &[key], late + TimeDelta::days(1)).await.unwrap();
    let finished = work(&world, request, &next).await;
    assert!(started(&next).is_empty(), "{finished:?}");
    assert_eq!(payment_ids(&world.records(&c.id).await), ["f0", "f1", "f2", "l1"]);
    let runs = world.connector.in_process().show(&c.id, 5).await.unwrap().recent_runs;
    assert_eq!(runs.len(), 1, "one run, in two parts: {runs:?}");
    assert_eq!((runs[0].path, runs[0].counts.objects_named, runs[0].counts.files_imported), (RunPath::Scan, 1, 4));
    assert_eq!(world.connector.next_run(&c.id).await, None, "the kept key forgotten");
}
