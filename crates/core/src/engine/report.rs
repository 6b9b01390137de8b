//! How a sync call ended, in one vocabulary for everyone who reports it: the worker's response and
//! logs, the CLI's text and JSON, the in-process workers of `sync --all`.

use super::{SyncError, SyncOutcome};
use crate::model::{RunCounts, SyncResult, SyncRun};
use serde::Serialize;

/// The word for how a sync call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncEnd {
    /// The run finished and was recorded (its result says how it went).
    Completed,
    /// The run goes on in the next invocation.
    HandedOver,
    /// Another sync holds the connection; nothing was done.
    LeaseHeld,
    /// The scheduled event was synced already; nothing was done.
    AlreadySynced,
    /// The connection's status does not allow a sync; nothing was done.
    NotSyncable,
    ConnectionNotFound,
    /// The run or the call failed; a retry may cure it.
    Failed,
}

crate::words::words!(SyncEnd {
    Completed => "completed",
    HandedOver => "handed_over",
    LeaseHeld => "lease_held",
    AlreadySynced => "already_synced",
    NotSyncable => "not_syncable",
    ConnectionNotFound => "connection_not_found",
    Failed => "failed",
});

/// A sync call's end as reported (events/ and the README show its JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    pub connection_id: String,
    pub outcome: SyncEnd,
    /// What happened, for people (why nothing was done, what failed).
    pub detail: Option<String>,
    /// The run, when one finished or failed.
    pub run: Option<SyncRun>,
    /// The run's counts so far, when it handed over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<RunCounts>,
}

impl SyncReport {
    pub fn new(connection_id: &str, result: &Result<SyncOutcome, SyncError>) -> SyncReport {
        let report = |outcome, detail: Option<String>, run: Option<&SyncRun>| SyncReport {
            connection_id: connection_id.to_owned(),
            outcome,
            detail,
            run: run.cloned(),
            counts: None,
        };
        match result {
            Ok(SyncOutcome::Completed(run)) => report(SyncEnd::Completed, run.error.clone(), Some(run)),
            Ok(SyncOutcome::HandedOver { run_id, hand_overs, counts }) => SyncReport {
                counts: Some(counts.clone()),
                ..report(
                    SyncEnd::HandedOver,
                    Some(format!("run {run_id} goes on in invocation {} of the worker", hand_overs + 1)),
                    None,
                )
            },
            Ok(SyncOutcome::LeaseHeld { owner, until }) => {
                report(SyncEnd::LeaseHeld, Some(format!("another sync ({owner}) holds the lease until {until}")), None)
            }
            Ok(SyncOutcome::AlreadySynced { schedule_run }) => {
                report(SyncEnd::AlreadySynced, Some(format!("already synced for scheduled event {schedule_run}")), None)
            }
            Ok(SyncOutcome::NotSyncable { status }) => {
                let first = match status {
                    crate::model::ConnectionStatus::Paused => "; resume it first",
                    crate::model::ConnectionStatus::NeedsReauth => "; re-authenticate it first",
                    crate::model::ConnectionStatus::Pending => "; activate it first",
                    crate::model::ConnectionStatus::Active => "",
                };
                report(SyncEnd::NotSyncable, Some(format!("connection is {status}{first}")), None)
            }
            Err(SyncError::ConnectionNotFound(id)) => {
                report(SyncEnd::ConnectionNotFound, Some(format!("no connection {id}")), None)
            }
            Err(SyncError::Retryable(run)) => report(SyncEnd::Failed, run.error.clone(), Some(run)),
            Err(e) => report(SyncEnd::Failed, Some(e.to_string()), None),
        }
    }

    /// Whether whoever asked for the sync should see a failure: the call failed, or the run ended
    /// failed or needing re-authentication.
    pub fn failed(&self) -> bool {
        self.outcome == SyncEnd::Failed
            || self.run.as_ref().is_some_and(|r| matches!(r.result, SyncResult::Failed | SyncResult::NeedsReauth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_end_has_its_word_and_says_what_to_do() {
        let paused =
            SyncReport::new("c1", &Ok(SyncOutcome::NotSyncable { status: crate::model::ConnectionStatus::Paused }));
        assert_eq!(paused.outcome.to_string(), "not_syncable");
        assert_eq!(paused.detail.as_deref(), Some("connection is paused; resume it first"));
        assert!(!paused.failed());
        let json = serde_json::to_value(&paused).unwrap();
        assert_eq!(json["outcome"], "not_syncable", "{json}");
        let missing = SyncReport::new("c9", &Err(SyncError::ConnectionNotFound("c9".into())));
        assert_eq!(
            (missing.outcome, missing.detail.as_deref()),
            (SyncEnd::ConnectionNotFound, Some("no connection c9"))
        );
        let lost = SyncReport::new("c1", &Err(SyncError::LeaseLost("lease taken".into())));
        assert!(lost.failed() && lost.run.is_none());
    }
}
