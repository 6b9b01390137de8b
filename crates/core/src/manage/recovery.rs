//! What operators use to recover: objects decided again (`files retry`, `reimport`), a backfill, a
//! sync started now, the outcomes and records read back. Each marks state the worker acts on at its
//! next run; nothing here reads the customer's bucket.

use super::ports::{ConnectionEdit, RecordsPage};
use super::{ManageError, Management};
use crate::model::{Connection, ConnectionStatus, FileOutcome, FileStatus, SyncRun};
use crate::ports::StoreErrorKind;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// At most this many keys in one request.
pub const MAX_KEYS: usize = 1000;

/// At most this many records in one page.
pub const MAX_PAGE: usize = 1000;

/// How long a listed file's rejects link downloads its object: long enough to click, short enough
/// that a leaked link soon stops working; listing the files again gives a new one.
pub const REJECTS_LINK: std::time::Duration = std::time::Duration::from_secs(3600);

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

/// What came of dismissing failures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Dismissed {
    /// Keys whose failure is dismissed (now, or already before).
    pub dismissed: Vec<String>,
    /// Keys with no recorded outcome.
    pub not_found: Vec<String>,
    /// Keys left alone, and why.
    pub refused: Vec<Refused>,
}

/// Which objects `files retry` or `files dismiss` acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSelection {
    /// Every open failure: each object whose outcome is failed and not dismissed.
    Failed,
    Keys(Vec<String>),
}

fn check_keys(keys: &[String]) -> Result<(), ManageError> {
    if keys.is_empty() {
        return Err(ManageError::invalid("keys", "give at least one key"));
    }
    if keys.len() > MAX_KEYS {
        return Err(ManageError::invalid("keys", format!("at most {MAX_KEYS} keys at once")));
    }
    if let Some(bad) = keys.iter().find(|k| k.is_empty() || k.len() > 1024) {
        let shown: String = bad.chars().take(64).collect();
        return Err(ManageError::invalid("keys", format!("'{shown}' is not an S3 key (1-1,024 bytes)")));
    }
    Ok(())
}

/// A date for a backfill: RFC 3339, or a day (`2026-11-01`, from its midnight UTC).
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, ManageError> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        })
        .map_err(|_| ManageError::invalid("since", format!("'{text}' is not a date (2026-11-01) or an RFC 3339 time")))
}

impl Management<'_> {
    /// Up to `limit` runs of a connection, newest first.
    pub async fn runs(&self, id: &str, limit: usize) -> Result<Vec<SyncRun>, ManageError> {
        self.connection(id).await?;
        Ok(self.history.runs(id, limit).await?)
    }

    /// Every object's latest outcome, with its row errors.
    pub async fn files(&self, id: &str) -> Result<Vec<FileOutcome>, ManageError> {
        let mut outcomes = self.outcomes(id).await?;
        self.link_rejects(&mut outcomes).await;
        Ok(outcomes)
    }

    async fn outcomes(&self, id: &str) -> Result<Vec<FileOutcome>, ManageError> {
        self.connection(id).await?;
        Ok(self.history.outcomes(id).await?)
    }

    /// A page of the objects' latest outcomes, by key; only the open failures (failed, not
    /// dismissed) with `failed_only`.
    pub async fn files_page(
        &self,
        id: &str,
        failed_only: bool,
        limit: usize,
        after: Option<&str>,
    ) -> Result<super::Page<FileOutcome>, ManageError> {
        let mut outcomes = self.outcomes(id).await?;
        if failed_only {
            outcomes.retain(FileOutcome::is_open_failure);
        }
        outcomes.sort_by(|a, b| a.key.cmp(&b.key));
        let mut page = super::page_of(outcomes, |o| o.key.clone(), limit.clamp(1, MAX_PAGE), after)?;
        self.link_rejects(&mut page.items).await;
        Ok(page)
    }

    /// Gives each outcome with a rejects object a link that downloads it for [`REJECTS_LINK`]
    /// (signing is local: no request is made). A link that cannot be signed is left out.
    pub(super) async fn link_rejects(&self, outcomes: &mut [FileOutcome]) {
        let Some(rejects) = self.rejects else { return };
        for outcome in outcomes {
            if let Some(key) = &outcome.rejects {
                outcome.rejects_url = rejects.link(key, REJECTS_LINK).await.ok();
            }
        }
    }

    /// The next sync decides these objects again (the open failures, or the keys given). An
    /// imported key is refused: `reimport` imports it again.
    pub async fn retry_files(&self, id: &str, selection: FileSelection) -> Result<AskedAgain, ManageError> {
        self.connection(id).await?;
        let keys = match selection {
            FileSelection::Failed => {
                let outcomes = self.history.outcomes(id).await?;
                outcomes.into_iter().filter(FileOutcome::is_open_failure).map(|o| o.key).collect()
            }
            FileSelection::Keys(keys) => {
                check_keys(&keys)?;
                keys
            }
        };
        self.ask_again(id, keys, false).await
    }

    /// Dismisses failures an operator has seen and will not fix (the open failures, or the keys
    /// given): they are no longer counted in the connection's `failed_files`, shown among its
    /// failed files, nor tried again; the outcome stays in `files`, marked dismissed, until it
    /// expires like any other. A new version of the object, `files retry`, `reimport` or a
    /// backfill decides it again (and counts it again if it fails again).
    pub async fn dismiss_files(&self, id: &str, selection: FileSelection) -> Result<Dismissed, ManageError> {
        let connection = self.connection(id).await?;
        let outcomes: Vec<(String, Option<FileOutcome>)> = match selection {
            FileSelection::Failed => {
                let outcomes = self.history.outcomes(id).await?;
                outcomes.into_iter().filter(FileOutcome::is_open_failure).map(|o| (o.key.clone(), Some(o))).collect()
            }
            FileSelection::Keys(keys) => {
                check_keys(&keys)?;
                let mut found = Vec::with_capacity(keys.len());
                for key in keys {
                    let outcome = self.history.outcome(id, &key).await?;
                    found.push((key, outcome));
                }
                found
            }
        };
        let now = self.clock.now();
        // As long as an outcome recorded now would stay.
        let expires_at =
            now + connection.overlap(self.config.sync.selection.overlap) + self.config.sync.ledger_retention;
        let mut answer = Dismissed::default();
        for (key, outcome) in outcomes {
            let reason = match outcome {
                None => {
                    answer.not_found.push(key);
                    continue;
                }
                // Dismissed already: done, so that a script may run the same dismissal again.
                Some(o) if o.dismissed_at.is_some() => {
                    answer.dismissed.push(key);
                    continue;
                }
                Some(o) if o.status != FileStatus::Failed => format!("not failed: its outcome is {}", o.status),
                Some(o) if self.admin.dismiss(id, &key, &o.etag, now, expires_at).await? => {
                    answer.dismissed.push(key);
                    continue;
                }
                Some(_) => "a sync decided it again meanwhile; read its latest outcome and dismiss that".to_owned(),
            };
            answer.refused.push(Refused { key, reason });
        }
        Ok(answer)
    }

    /// Counts the connection's failed files again from its ledger: after upgrading from a version
    /// that kept no count (its failures are adopted and counted), or when an older worker or CLI
    /// left the count wrong. Holds the connection's lease meanwhile, so it is refused while a sync
    /// runs. Returns the connection with its count.
    pub async fn recount_failures(&self, id: &str) -> Result<Connection, ManageError> {
        self.connection(id).await?;
        let owner = format!("recount-{}", super::connections::new_request_id());
        self.hold_lease(id, &owner, "count again").await?;
        let counted = self.admin.recount_failures(id, &owner).await;
        if let Err(e) = self.store.release_lease(id, &owner).await {
            tracing::warn!(connection_id = id, error = %e, "letting the lease go after a recount; it expires by itself");
        }
        counted.map_err(|e| {
            ManageError::conflict_or_store(e, || "the count took longer than the lease; try again".into())
        })?;
        self.connection(id).await
    }

    /// The next sync imports these objects again, even those imported already (the deterministic
    /// record ids make that safe: the same items are written again).
    pub async fn reimport(&self, id: &str, keys: Vec<String>) -> Result<AskedAgain, ManageError> {
        self.connection(id).await?;
        check_keys(&keys)?;
        self.ask_again(id, keys, true).await
    }

    async fn ask_again(&self, id: &str, keys: Vec<String>, imported_too: bool) -> Result<AskedAgain, ManageError> {
        let now = self.clock.now();
        let mut answer = AskedAgain::default();
        for key in keys {
            match self.history.outcome(id, &key).await? {
                None => answer.not_found.push(key),
                Some(o) if o.status == FileStatus::Imported && !imported_too => {
                    answer.refused.push(Refused { key, reason: "imported already; `reimport` imports it again".into() })
                }
                Some(_) => {
                    if self.admin.ask_again(id, &key, now).await? {
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
        let connection = self.connection(id).await?;
        if since > self.clock.now() {
            return Err(ManageError::invalid("since", "is in the future"));
        }
        let edit = ConnectionEdit { backfill_since: Some(since), ..ConnectionEdit::default() };
        self.admin
            .edit_connection(&connection, &edit)
            .await
            .map_err(|e| ManageError::conflict_or_store(e, || "the connection changed meanwhile; try again".into()))?;
        self.connection(id).await
    }

    /// Starts a sync now (an asynchronous worker invocation in Lambda). A paused or needs_reauth
    /// connection is refused: resume or re-authenticate it first.
    pub async fn sync_now(&self, id: &str) -> Result<Connection, ManageError> {
        let connection = self.connection(id).await?;
        self.check_syncable(&connection)?;
        self.start_sync(id).await?;
        Ok(connection)
    }

    /// `Conflict` saying what to do first when a connection cannot sync now. A pending one can:
    /// an operator may sync it before activating it (no access check first).
    pub fn check_syncable(&self, connection: &Connection) -> Result<(), ManageError> {
        let first = match connection.status {
            ConnectionStatus::Active | ConnectionStatus::Pending => return Ok(()),
            ConnectionStatus::Paused => "resume",
            ConnectionStatus::NeedsReauth => "re-authenticate",
        };
        Err(ManageError::Conflict(format!("connection {} is {}; {first} it first", connection.id, connection.status)))
    }

    /// Up to `limit` records of a connection from `after` (a page's `next`).
    pub async fn records_page(&self, id: &str, limit: usize, after: Option<&str>) -> Result<RecordsPage, ManageError> {
        let page = self.records.records_page(id, limit.clamp(1, MAX_PAGE), after).await.map_err(|e| match e.kind {
            StoreErrorKind::Invalid => ManageError::invalid("after", e.message),
            _ => ManageError::Store(e),
        })?;
        // One read of the connection serves both: a deleted connection's records stay (unless
        // purged) and can still be read, and a live one's template says which fields are decimals.
        match self.admin.connection(id).await? {
            Some(connection) => self.decimals_as_text(&connection, page).await,
            None if page.records.is_empty() && after.is_none() => {
                Err(ManageError::NotFound { what: "connection", id: id.to_owned() })
            }
            None => Ok(page),
        }
    }

    /// The store gives back a number whose digits are an integer as a JSON number (DynamoDB keeps
    /// no type beside it, and drops `4.00`'s zeros); a decimal field of the connection's template is
    /// shown as its digits, a string, as a preview shows it ([`crate::value::Value::to_json`]), so a
    /// decimal column never mixes numbers and strings. Records of a deleted connection keep the
    /// store's rule.
    async fn decimals_as_text(
        &self,
        connection: &Connection,
        mut page: RecordsPage,
    ) -> Result<RecordsPage, ManageError> {
        let Some((template, _)) = self.store.template(&connection.template_id, None).await? else { return Ok(page) };
        let decimals: Vec<&str> = template
            .columns
            .iter()
            .filter(|c| c.field_type == crate::value::FieldType::Decimal)
            .map(|c| c.field.as_str())
            .collect();
        for record in &mut page.records {
            let Some(data) = record.get_mut("data").and_then(serde_json::Value::as_object_mut) else { continue };
            for field in &decimals {
                if let Some(value @ serde_json::Value::Number(_)) = data.get_mut(*field) {
                    *value = serde_json::Value::String(value.to_string());
                }
            }
        }
        Ok(page)
    }
}
