//! The connection's lease: one run at a time. Taken before a run, renewed every half term for as
//! long as the run goes on, let go when it ends. A lease whose holder stopped renewing (an
//! invocation killed by its timeout or its memory) is waited out and taken over, rather than
//! answered with "another sync is running": Lambda's retry of the killed invocation must sync.

use super::{Engine, SyncError, SyncOutcome};
use crate::ports::Lease;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::{info, warn};

impl Engine<'_> {
    /// Takes the lease, or says why not: `Ok(Err(outcome))` when a live run holds it or this
    /// scheduled event already ran. With `wait_out` false (a run of object events' keys), any
    /// holder is answered at once: the caller keeps the keys for the holder, or for the run that
    /// takes over from a stopped one, rather than wait out a term it may not have.
    pub(super) async fn take_lease(
        &self,
        connection_id: &str,
        owner: &str,
        schedule_run: Option<&str>,
        wait_out: bool,
    ) -> Result<Result<DateTime<Utc>, SyncOutcome>, SyncError> {
        let term = self.config.lease_duration;
        let mut seen_renewal = None;
        // At most three looks: now, when a live holder must have renewed, when the lease expires.
        for _ in 0..3 {
            let now = self.clock.now();
            let until = now + term;
            let (holder, held_until, renewed) =
                match self.store.acquire_lease(connection_id, owner, now, until, schedule_run).await? {
                    Lease::Acquired => return Ok(Ok(until)),
                    Lease::AlreadyRan { schedule_run } => {
                        info!(%schedule_run, "already synced for this scheduled event; exiting");
                        return Ok(Err(SyncOutcome::AlreadySynced { schedule_run }));
                    }
                    Lease::Held { owner, until, renewed } => (owner, until, renewed.unwrap_or(until - term)),
                };
            if !wait_out {
                info!(%holder, until = %held_until, "lease held; not waiting for it");
                return Ok(Err(SyncOutcome::LeaseHeld { owner: holder, until: held_until }));
            }
            // The holder's own term (its settings may differ from ours).
            let holder_term = (held_until - renewed).max(TimeDelta::milliseconds(1));
            if seen_renewal.is_some_and(|seen| renewed > seen) {
                info!(%holder, until = %held_until, "lease held by a live run; exiting");
                return Ok(Err(SyncOutcome::LeaseHeld { owner: holder, until: held_until }));
            }
            // A live holder renews every half term; give it a quarter term more before calling it
            // stopped, then wait until its lease runs out.
            let renewal_due = renewed + holder_term / 2 + holder_term / 4;
            let wait_until = if seen_renewal.is_none() && now < renewal_due { renewal_due } else { held_until };
            seen_renewal = Some(renewed);
            info!(%holder, %renewed, until = %held_until, "lease held; waiting to see whether its holder renews it");
            self.clock.sleep((wait_until - now).max(TimeDelta::zero()) + TimeDelta::milliseconds(100)).await;
        }
        Err(SyncError::LeaseLost("the lease stayed held without being renewed; retry".into()))
    }

    /// Renews the lease half-way through each term until it is lost, then says why; never returns
    /// while the lease holds (it runs beside the run and ends with it).
    /// Once `finishing` is set (the run writes its end, which lets the lease go), it renews no more
    /// and never returns: the run's own end is what ends it.
    pub(super) async fn keep_lease(
        &self,
        connection_id: &str,
        owner: &str,
        mut until: DateTime<Utc>,
        finishing: &AtomicBool,
    ) -> String {
        let term = self.config.lease_duration;
        let mut failures = 0;
        loop {
            let wait = (until - term / 2 - self.clock.now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait.max(std::time::Duration::from_millis(100))).await;
            if finishing.load(Ordering::SeqCst) {
                return std::future::pending().await;
            }
            let now = self.clock.now();
            let renewed = self.store.renew_lease(connection_id, owner, now, now + term).await;
            if finishing.load(Ordering::SeqCst) {
                // The end was written meanwhile (and let the lease go): not a loss.
                return std::future::pending().await;
            }
            match renewed {
                Ok(true) => {
                    until = now + term;
                    failures = 0;
                }
                Ok(false) => return "the lease was lost to another worker".into(),
                // Tried again, a little later each time, while the lease has time left.
                Err(e) if now < until => {
                    warn!(error = %e, "renewing the lease failed; trying again");
                    failures += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100 * failures.min(20))).await;
                }
                Err(e) => return format!("renewing the lease: {e}"),
            }
        }
    }
}
