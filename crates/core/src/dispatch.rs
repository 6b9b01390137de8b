//! The scheduled fan-out: every active connection whose scan is due gets one asynchronous worker
//! invocation.
//!
//! Connections are read page by page from the by-status index (never a scan), filtered (not due,
//! lease held, already synced for this scheduled event), and invoked with bounded concurrency; throttled
//! invokes are retried with backoff. Paused, pending and needs_reauth connections are only counted
//! (a Select COUNT query each); the summary says how many connections each status has, which the
//! dispatcher reports as metrics.

use crate::model::{ConnectionStatus, SyncResult, DAILY_SCAN_HOURS};
use crate::ports::{Clock, StoreError};
use crate::retry::backoff;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use futures::stream::BoxStream;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tracing::{info, warn};

/// What a worker invocation carries (events/worker-invoke.json).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRequest {
    pub connection_id: String,
    /// The scheduled event that asked for this sync; a second delivery of it starts no second sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_run: Option<String>,
    /// An operator's sync: an id its starter gives it, the same in Lambda's retries of it (they
    /// deliver the same request), so that a failed run's retries count once among the
    /// connection's consecutive failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// A run of object events' keys only (those kept for the connection while another run held
    /// it), not a scan.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub events: bool,
}

impl WorkerRequest {
    /// A sync of `connection_id` (a scan) for no scheduled event.
    pub fn new(connection_id: &str) -> WorkerRequest {
        WorkerRequest { connection_id: connection_id.to_owned(), schedule_run: None, request_id: None, events: false }
    }

    /// A run of the keys kept for `connection_id`.
    pub fn for_kept_keys(connection_id: &str) -> WorkerRequest {
        WorkerRequest { events: true, ..WorkerRequest::new(connection_id) }
    }
}

/// A connection as the dispatcher reads it from the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchCandidate {
    pub id: String,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_schedule_run: Option<String>,
    /// Its own interval between scheduled scans; `None`: daily.
    pub scan_every_hours: Option<u32>,
    /// When its last scan began.
    pub last_scan_started: Option<DateTime<Utc>>,
    /// When its last run of any kind began: for a connection stored before scans were recorded.
    pub last_sync_started: Option<DateTime<Utc>>,
    /// How its last run ended.
    pub last_result: Option<SyncResult>,
}

/// Under a connection's interval, what still counts as due: a scan begins a little after its tick,
/// so the same tick a period later finds a little less than the interval gone. Half an hour keeps a
/// connection on its tick with the hourly schedule (and any tick at least that far apart).
pub const DUE_SLACK: TimeDelta = TimeDelta::minutes(30);

/// Whether an active connection's scheduled scan is due at `now`: its interval (daily unless it
/// has its own) less [`DUE_SLACK`] gone since its last scan began (any scan restarts it: scheduled,
/// an operator's, activation's, a failed one); or never synced; or re-authenticated since its last
/// run found its access broken. A connection stored before scans were recorded counts from its
/// last run, so an upgrade keeps its scans at their time of day.
pub fn scan_due(candidate: &DispatchCandidate, now: DateTime<Utc>) -> bool {
    let every = TimeDelta::hours(i64::from(candidate.scan_every_hours.unwrap_or(DAILY_SCAN_HOURS)));
    if candidate.last_result == Some(SyncResult::NeedsReauth) {
        return true;
    }
    let last = candidate.last_scan_started.or(candidate.last_sync_started);
    last.is_none_or(|last| now - last >= every - DUE_SLACK)
}

/// Connections by status, read page by page.
#[async_trait]
pub trait ConnectionIndex: Send + Sync {
    fn connections(&self, status: ConnectionStatus) -> BoxStream<'_, Result<DispatchCandidate, StoreError>>;
    async fn count(&self, status: ConnectionStatus) -> Result<u64, StoreError>;
    /// Records that `schedule_run`'s scan is owed, on the condition that the lease is still held
    /// at `now`: its holder then starts that scan when it lets go. `false` when it was let go
    /// meanwhile (the scan can start now).
    async fn owe_scan(&self, connection_id: &str, schedule_run: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct InvokeError {
    /// Worth retrying after a pause (throttling, 5xx).
    pub retryable: bool,
    pub message: String,
}

/// Starts a worker without waiting for it.
#[async_trait]
pub trait WorkerInvoker: Send + Sync {
    async fn invoke(&self, request: &WorkerRequest) -> Result<(), InvokeError>;
}

/// What a dispatch did; returned by the dispatcher Lambda and logged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DispatchSummary {
    pub schedule_run: String,
    /// Connections of any status.
    pub found: u64,
    /// Connections by status: the active ones as read to be invoked, the others counted.
    pub by_status: StatusCounts,
    pub invoked: u64,
    /// By reason: paused, pending, needs_reauth, not_due, lease_held, already_synced.
    pub skipped: BTreeMap<String, u64>,
    pub failed: u64,
    /// The first failures, with their connection and error.
    pub failures: Vec<(String, String)>,
}

/// How many connections have each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub active: u64,
    pub needs_reauth: u64,
    pub paused: u64,
    pub pending: u64,
}

impl StatusCounts {
    pub fn get_mut(&mut self, status: ConnectionStatus) -> &mut u64 {
        match status {
            ConnectionStatus::Active => &mut self.active,
            ConnectionStatus::NeedsReauth => &mut self.needs_reauth,
            ConnectionStatus::Paused => &mut self.paused,
            ConnectionStatus::Pending => &mut self.pending,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Invocations in flight.
    pub concurrency: usize,
    /// Attempts per invocation for retryable errors.
    pub max_attempts: u32,
    /// Every active connection, due or not: an operator's `sync --all`, not the schedule.
    pub every_connection: bool,
    /// The time the scans due are due at: the scheduled event's (so a delivery that comes late,
    /// or Lambda's retry of the dispatch, decides as the tick would have); `None`: now.
    pub due_at: Option<DateTime<Utc>>,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig { concurrency: 64, max_attempts: 8, every_connection: false, due_at: None }
    }
}

const FAILURES_KEPT: usize = 20;

enum Step {
    Invoked,
    Skipped(&'static str),
    Failed(String, String),
}

/// Fans out one worker invocation per active connection whose scan is due (every active one with
/// `config.every_connection`) for the scheduled event `schedule_run`.
pub async fn dispatch(
    index: &dyn ConnectionIndex,
    invoker: &dyn WorkerInvoker,
    clock: &dyn Clock,
    schedule_run: &str,
    config: &DispatchConfig,
) -> Result<DispatchSummary, StoreError> {
    let mut summary = DispatchSummary { schedule_run: schedule_run.to_owned(), ..DispatchSummary::default() };
    for status in [ConnectionStatus::Paused, ConnectionStatus::Pending, ConnectionStatus::NeedsReauth] {
        let n = index.count(status).await?;
        summary.found += n;
        *summary.by_status.get_mut(status) = n;
        if n > 0 {
            summary.skipped.insert(status.as_str().to_owned(), n);
        }
    }
    let now = clock.now();
    let due_at = config.due_at.unwrap_or(now);
    let steps = index
        .connections(ConnectionStatus::Active)
        .map_ok(|candidate| async move {
            if candidate.last_schedule_run.as_deref() == Some(schedule_run) {
                return Ok(Step::Skipped("already_synced"));
            }
            if !config.every_connection && !scan_due(&candidate, due_at) {
                return Ok(Step::Skipped("not_due"));
            }
            // A run holds the lease (often a short run of object events' keys): the scan is owed,
            // and the holder starts it when it lets go, so that no day goes without its scan.
            if candidate.lease_until.is_some_and(|until| until > now)
                && index.owe_scan(&candidate.id, schedule_run, now).await?
            {
                return Ok(Step::Skipped("lease_held"));
            }
            let request =
                WorkerRequest { schedule_run: Some(schedule_run.to_owned()), ..WorkerRequest::new(&candidate.id) };
            Ok(match invoke_with_retries(invoker, &request, config.max_attempts).await {
                Ok(()) => Step::Invoked,
                Err(e) => Step::Failed(candidate.id, e.message),
            })
        })
        .try_buffer_unordered(config.concurrency.max(1));
    let mut steps = std::pin::pin!(steps);
    while let Some(step) = steps.try_next().await? {
        summary.found += 1;
        summary.by_status.active += 1;
        match step {
            Step::Invoked => summary.invoked += 1,
            Step::Skipped(reason) => *summary.skipped.entry(reason.to_owned()).or_default() += 1,
            Step::Failed(id, error) => {
                warn!(connection_id = %id, %error, "worker invocation failed");
                summary.failed += 1;
                if summary.failures.len() < FAILURES_KEPT {
                    summary.failures.push((id, error));
                }
            }
        }
    }
    info!(?summary, "dispatch finished");
    Ok(summary)
}

pub async fn invoke_with_retries(
    invoker: &dyn WorkerInvoker,
    request: &WorkerRequest,
    max_attempts: u32,
) -> Result<(), InvokeError> {
    let mut attempt = 0;
    loop {
        match invoker.invoke(request).await {
            Err(e) if e.retryable && attempt + 1 < max_attempts => {
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::FixedClock;
    use futures::stream;
    use std::sync::Mutex;

    struct Index(Vec<DispatchCandidate>, u64);

    #[async_trait]
    impl ConnectionIndex for Index {
        fn connections(&self, status: ConnectionStatus) -> BoxStream<'_, Result<DispatchCandidate, StoreError>> {
            assert_eq!(status, ConnectionStatus::Active);
            Box::pin(stream::iter(self.0.clone().into_iter().map(Ok)))
        }
        async fn count(&self, _status: ConnectionStatus) -> Result<u64, StoreError> {
            Ok(self.1)
        }
        async fn owe_scan(&self, _id: &str, _run: &str, _now: DateTime<Utc>) -> Result<bool, StoreError> {
            Ok(true)
        }
    }

    /// Throttles every connection's first `throttles` invocations; fails "broken" for good.
    #[derive(Default)]
    struct Invoker {
        throttles: u32,
        calls: Mutex<Vec<WorkerRequest>>,
    }

    #[async_trait]
    impl WorkerInvoker for Invoker {
        async fn invoke(&self, request: &WorkerRequest) -> Result<(), InvokeError> {
            let mut calls = self.calls.lock().unwrap();
            calls.push(request.clone());
            let attempts = calls.iter().filter(|c| c.connection_id == request.connection_id).count() as u32;
            if request.connection_id == "broken" {
                return Err(InvokeError { retryable: false, message: "function not found".into() });
            }
            if attempts <= self.throttles {
                return Err(InvokeError { retryable: true, message: "TooManyRequestsException".into() });
            }
            Ok(())
        }
    }

    fn candidate(id: &str, lease_until: Option<&str>, last: Option<&str>) -> DispatchCandidate {
        DispatchCandidate {
            id: id.into(),
            lease_until: lease_until.map(|t| t.parse().unwrap()),
            last_schedule_run: last.map(Into::into),
            scan_every_hours: None,
            last_scan_started: None,
            last_sync_started: None,
            last_result: None,
        }
    }

    fn scanned(id: &str, every: Option<u32>, last_scan: &str) -> DispatchCandidate {
        DispatchCandidate {
            scan_every_hours: every,
            last_scan_started: Some(last_scan.parse().unwrap()),
            ..candidate(id, None, Some("an-earlier-event"))
        }
    }

    #[test]
    fn a_scan_is_due_once_its_interval_less_the_slack_has_gone_since_the_last_one_began() {
        let now: DateTime<Utc> = "2026-06-02T06:00:10Z".parse().unwrap();
        // Daily, begun a little after yesterday's tick: due at today's.
        assert!(scan_due(&scanned("daily", None, "2026-06-01T06:00:40Z"), now));
        // Daily, an operator's sync at 10:00 yesterday: not before 09:30 today.
        assert!(!scan_due(&scanned("synced-by-hand", None, "2026-06-01T10:00:00Z"), now));
        assert!(scan_due(&scanned("synced-by-hand", None, "2026-06-01T10:00:00Z"), now + TimeDelta::hours(4)));
        // Hourly: due at each hourly tick; six-hourly: not an hour after.
        assert!(scan_due(&scanned("hourly", Some(1), "2026-06-02T05:00:30Z"), now));
        assert!(!scan_due(&scanned("six-hourly", Some(6), "2026-06-02T05:00:30Z"), now));
        assert!(scan_due(&scanned("six-hourly", Some(6), "2026-06-02T00:00:30Z"), now));
        // Weekly: not after six days; unless its access broke and was mended since.
        let weekly = scanned("weekly", Some(168), "2026-05-27T06:00:30Z");
        assert!(!scan_due(&weekly, now));
        assert!(scan_due(&DispatchCandidate { last_result: Some(SyncResult::NeedsReauth), ..weekly.clone() }, now));
        assert!(!scan_due(&DispatchCandidate { last_result: Some(SyncResult::Failed), ..weekly }, now));
        assert!(scan_due(&candidate("never-scanned", None, None), now));
        // Stored before scans were recorded: counted from its last run.
        let upgraded = DispatchCandidate {
            last_sync_started: Some("2026-06-01T06:00:20Z".parse().unwrap()),
            ..candidate("upgraded", None, None)
        };
        assert!(scan_due(&upgraded, now));
        assert!(!scan_due(&upgraded, now - TimeDelta::hours(2)));
    }

    #[tokio::test]
    async fn the_schedule_invokes_the_connections_due_and_an_operator_every_one() {
        let index = Index(
            vec![
                scanned("hourly", Some(1), "2026-06-02T05:00:30Z"),
                scanned("daily", None, "2026-06-02T05:00:30Z"),
                candidate("new", None, None),
            ],
            0,
        );
        let clock = FixedClock::at("2026-06-02T06:00:10Z".parse().unwrap());
        let invoker = Invoker::default();
        let summary = dispatch(&index, &invoker, &clock, "tick", &DispatchConfig::default()).await.unwrap();
        assert_eq!((summary.invoked, summary.skipped.get("not_due")), (2, Some(&1)));
        let invoked: Vec<String> = invoker.calls.lock().unwrap().iter().map(|c| c.connection_id.clone()).collect();
        assert!(!invoked.contains(&"daily".to_string()), "{invoked:?}");

        let config = DispatchConfig { every_connection: true, ..DispatchConfig::default() };
        let summary = dispatch(&index, &Invoker::default(), &clock, "by-hand", &config).await.unwrap();
        assert_eq!((summary.invoked, summary.skipped.get("not_due")), (3, None));

        // A tick's event decides at its own time, whenever it is delivered.
        let late =
            DispatchConfig { due_at: Some("2026-06-02T05:00:00Z".parse().unwrap()), ..DispatchConfig::default() };
        let summary = dispatch(&index, &Invoker::default(), &clock, "the-5-oclock-tick", &late).await.unwrap();
        assert_eq!((summary.invoked, summary.skipped.get("not_due")), (1, Some(&2)), "only the new one");
    }

    #[tokio::test]
    async fn invokes_active_connections_and_says_why_it_skipped_the_others() {
        let index = Index(
            vec![
                candidate("a", None, None),
                candidate("b", Some("2026-06-01T11:00:00Z"), Some("yesterday")),
                candidate("held", Some("2026-06-01T12:05:00Z"), None),
                candidate("done", None, Some("event-1")),
                candidate("broken", None, None),
            ],
            2,
        );
        let invoker = Invoker { throttles: 2, ..Invoker::default() };
        let clock = FixedClock::at("2026-06-01T12:00:00Z".parse().unwrap());
        let config = DispatchConfig { concurrency: 4, max_attempts: 5, ..DispatchConfig::default() };
        let summary = dispatch(&index, &invoker, &clock, "event-1", &config).await.unwrap();

        assert_eq!((summary.found, summary.invoked, summary.failed), (11, 2, 1));
        let by_status = StatusCounts { active: 5, needs_reauth: 2, paused: 2, pending: 2 };
        assert_eq!(summary.by_status, by_status, "the active ones read, the others counted");
        let skipped: Vec<_> = summary.skipped.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            skipped,
            [("already_synced", 1), ("lease_held", 1), ("needs_reauth", 2), ("paused", 2), ("pending", 2)]
        );
        assert_eq!(summary.failures, [("broken".to_string(), "function not found".to_string())]);
        let calls = invoker.calls.lock().unwrap();
        assert_eq!(
            calls.iter().filter(|c| c.connection_id == "a").count(),
            3,
            "two throttled attempts, then one that went through"
        );
        assert!(calls.iter().all(|c| c.schedule_run.as_deref() == Some("event-1")));
    }

    #[tokio::test]
    async fn gives_up_after_the_last_attempt() {
        let index = Index(vec![candidate("a", None, None)], 0);
        let invoker = Invoker { throttles: 10, ..Invoker::default() };
        let clock = FixedClock::at(Utc::now());
        let summary = dispatch(
            &index,
            &invoker,
            &clock,
            "e",
            &DispatchConfig { concurrency: 1, max_attempts: 3, ..DispatchConfig::default() },
        )
        .await
        .unwrap();
        assert_eq!((summary.invoked, summary.failed), (0, 1));
        assert_eq!(invoker.calls.lock().unwrap().len(), 3);
    }
}
