//! What operators use to recover, beside connection management: objects decided again (`files
//! retry`, `reimport`), a backfill, a sync started now, the records page by page, the overlap.
//! Each marks state the worker acts on at its next run; nothing here reads the customer's bucket.

use crate::manage::ManageError;
use crate::Deployment;
use chrono::{DateTime, Utc};
use connector_core::dispatch::{WorkerInvoker, WorkerRequest};
pub use connector_core::manage::ports::RecordsPage;
use connector_core::manage::ports::{ConnectionAdmin, ConnectionEdit, RecordAdmin, RunHistory};
use connector_core::model::{Connection, ConnectionStatus, FileStatus};
use connector_core::ports::{StoreError, StoreErrorKind};
use serde::Serialize;

/// At most this many keys in one request.
pub const MAX_KEYS: usize = 1000;

/// What came of asking for objects to be decided again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AskedAgain {
    /// Keys the next sync decides again (reads again, unless their outcome still holds).
    pub asked: Vec<String>,
    /// Keys with no recorded outcome: a sync has not met them (a key in the window is imported by
    /// the next sync anyway).
    pub not_found: Vec<String>,
    /// Keys left alone, and why.
    pub refused: Vec<Refused>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub key: String,
    pub reason: String,
}

/// Which objects `files retry` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrySelection {
    /// Every object whose outcome is failed.
    Failed,
    Keys(Vec<String>),
}

fn check_keys(keys: &[String]) -> Result<(), ManageError> {
    let invalid = |message: String| ManageError::Invalid { field: "keys", message };
    if keys.is_empty() {
        return Err(invalid("give at least one key".into()));
    }
    if keys.len() > MAX_KEYS {
        return Err(invalid(format!("at most {MAX_KEYS} keys at once")));
    }
    if let Some(bad) = keys.iter().find(|k| k.is_empty() || k.len() > 1024) {
        return Err(invalid(format!(
            "'{}' is not an S3 key (1-1,024 bytes)",
            bad.chars().take(64).collect::<String>()
        )));
    }
    Ok(())
}

impl Deployment {
    /// The next sync decides these objects again (failed ones, or the keys given). An imported key
    /// is refused: `reimport` imports it again.
    pub async fn retry_files(&self, id: &str, selection: RetrySelection) -> Result<AskedAgain, ManageError> {
        self.connection(id).await?;
        let keys = match selection {
            RetrySelection::Failed => {
                let outcomes = RunHistory::outcomes(&self.state, id).await?;
                outcomes.into_iter().filter(|o| o.status == FileStatus::Failed).map(|o| o.key).collect()
            }
            RetrySelection::Keys(keys) => {
                check_keys(&keys)?;
                keys
            }
        };
        self.ask_again(id, keys, false).await
    }

    /// The next sync imports these objects again, even those imported already (the deterministic
    /// record ids make that safe: the same items are written again).
    pub async fn reimport(&self, id: &str, keys: Vec<String>) -> Result<AskedAgain, ManageError> {
        self.connection(id).await?;
        check_keys(&keys)?;
        self.ask_again(id, keys, true).await
    }

    async fn ask_again(&self, id: &str, keys: Vec<String>, imported_too: bool) -> Result<AskedAgain, ManageError> {
        let now = Utc::now();
        let mut answer = AskedAgain::default();
        for key in keys {
            match self.state.outcome(id, &key).await? {
                None => answer.not_found.push(key),
                Some(o) if o.status == FileStatus::Imported && !imported_too => {
                    answer.refused.push(Refused { key, reason: "imported already; `reimport` imports it again".into() })
                }
                Some(_) => {
                    if ConnectionAdmin::ask_again(&self.state, id, &key, now).await? {
                        answer.asked.push(key);
                    } else {
                        answer.not_found.push(key);
                    }
                }
            }
        }
        Ok(answer)
    }

    /// The next sync decides again every object modified since `since` (after a template fix), with
    /// its window widened to it; cleared once that sync finishes.
    pub async fn backfill(&self, id: &str, since: DateTime<Utc>) -> Result<Connection, ManageError> {
        let current = self.connection(id).await?;
        if since > Utc::now() {
            return Err(ManageError::Invalid { field: "since", message: "is in the future".into() });
        }
        self.apply(&current, ConnectionEdit { backfill_since: Some(since), ..ConnectionEdit::default() }).await
    }

    /// How far before its watermark a connection's syncs look again (a multipart upload that takes
    /// at most this long is always caught); `None` goes back to the deployment's default.
    pub async fn set_overlap(&self, id: &str, hours: Option<u32>) -> Result<Connection, ManageError> {
        let current = self.connection(id).await?;
        let seconds = hours.map(check_overlap_hours).transpose()?;
        self.apply(&current, ConnectionEdit { overlap_seconds: Some(seconds), ..ConnectionEdit::default() }).await
    }

    /// Applies an edit to the connection as read, and reads it back.
    async fn apply(&self, current: &Connection, edit: ConnectionEdit) -> Result<Connection, ManageError> {
        match self.state.edit_connection(current, &edit).await {
            Err(e) if e.kind == StoreErrorKind::Conflict => return Err(ManageError::Conflict(e.message)),
            other => other?,
        }
        self.connection(&current.id).await
    }

    /// Starts a sync now, through `workers` (an asynchronous worker invocation in Lambda). A paused
    /// or needs_reauth connection is refused: resume or re-authenticate it first.
    pub async fn sync_now(&self, id: &str, workers: &dyn WorkerInvoker) -> Result<Connection, ManageError> {
        let connection = self.connection(id).await?;
        if matches!(connection.status, ConnectionStatus::Paused | ConnectionStatus::NeedsReauth) {
            return Err(ManageError::Conflict(format!(
                "connection is {}; {} it first",
                connection.status.as_str(),
                if connection.status == ConnectionStatus::Paused { "resume" } else { "re-authenticate" }
            )));
        }
        workers.invoke(&WorkerRequest { connection_id: id.to_owned(), schedule_run: None }).await.map_err(|e| {
            ManageError::Store(StoreError::new(StoreErrorKind::Transient, format!("starting the sync: {e}")))
        })?;
        Ok(connection)
    }

    /// Up to `limit` records of a connection from `after` (a page's `next`).
    pub async fn records_page(&self, id: &str, limit: usize, after: Option<&str>) -> Result<RecordsPage, ManageError> {
        let page = match self.records.records_page(id, limit.clamp(1, 1000), after).await {
            Err(e) if e.kind == StoreErrorKind::Invalid => {
                return Err(ManageError::Invalid { field: "after", message: e.message })
            }
            other => other?,
        };
        if page.records.is_empty() && after.is_none() {
            // A deleted connection's records stay (unless purged) and can still be read.
            self.connection(id).await?;
        }
        Ok(page)
    }
}

/// An overlap in hours, as seconds: at most 90 days (the first sync's whole window).
pub fn check_overlap_hours(hours: u32) -> Result<u64, ManageError> {
    if hours > 90 * 24 {
        return Err(ManageError::Invalid { field: "overlap_hours", message: "at most 2160 (90 days)".into() });
    }
    Ok(u64::from(hours) * 3600)
}

/// A date for `--since`: RFC 3339, or a day (`2026-11-01`, from its midnight UTC).
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, ManageError> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .map_err(|_| ManageError::Invalid {
            field: "since",
            message: format!("'{text}' is not a date (2026-11-01) or an RFC 3339 time"),
        })
}
