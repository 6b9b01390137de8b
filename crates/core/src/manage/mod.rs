//! Connection management: the one service every surface calls (the CLI, the HTTP API, later the
//! dashboard). Its rules (which status may become which, what an edit checks, what a delete takes)
//! live here once, over narrow ports ([`ports`]); the surfaces only parse their input and print or
//! serialise what comes back, and no surface reaches a table past it.
//!
//! - [`connections`]: create, list, show, edit, pause and resume, delete;
//! - [`access`]: preview, activation and re-authentication, which read the customer's bucket;
//! - [`customer`]: what a customer's set-up link changes: the open location fields; links withdrawn;
//! - [`recovery`]: objects decided again, backfill, sync now, records read back;
//! - [`setup`]: the set-up wizard's steps: a role shown before the connection exists;
//! - [`templates`]: the platform's data templates;
//! - [`ports`]: what the service needs from storage and AWS.

pub mod access;
pub mod connections;
pub mod customer;
pub mod ports;
pub mod recovery;
pub mod setup;
pub mod templates;
#[cfg(test)]
mod tests;

use crate::dispatch::WorkerInvoker;
use crate::engine::SyncConfig;
use crate::model::{Connection, SyncMode};
use crate::ports::{BucketAccess, Clock, StoreError, StoreErrorKind, SyncStore};
use ports::{ConnectionAdmin, ForwardingAccounts, RecordAdmin, RunHistory, TrustPrincipals};
use serde::Serialize;

/// A field the caller got wrong, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field as the caller named it (`name`, `columns[2].type`, `body` for the whole input).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why a management call failed. Every variant but `Store` is the caller's to fix (a 4xx, exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManageError {
    #[error("no {what} '{id}'")]
    NotFound { what: &'static str, id: String },
    /// The input is wrong: each field at fault, in input order.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The request does not fit the current state (resume an active connection, delete a template
    /// in use, a name taken).
    #[error("{0}")]
    Conflict(String),
    /// Another connection has the name.
    #[error("a connection named '{0}' already exists")]
    NameTaken(String),
    /// Our access to the customer's bucket does not work; the message says what to check.
    #[error("{0}")]
    Access(String),
    /// The store or a service of ours failed: worth trying again. (Not transparent: the chain keeps
    /// the store's error as a layer of its own, which the CLI's report ends at.)
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl ManageError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ManageError::Invalid(vec![FieldError::new(field, message)])
    }

    /// A store error whose `Conflict` means the caller's request lost to another change.
    fn conflict_or_store(e: StoreError, conflict: impl FnOnce() -> String) -> Self {
        if e.kind == StoreErrorKind::Conflict {
            ManageError::Conflict(conflict())
        } else {
            ManageError::Store(e)
        }
    }
}

/// What the service is configured with.
#[derive(Debug, Clone)]
pub struct ManageConfig {
    /// The prefix of generated role names (S3C_ROLE_PREFIX).
    pub role_prefix: String,
    /// The engine's settings: the selection rule and read limits a preview applies as a sync
    /// would, and the lease term a delete holds.
    pub sync: SyncConfig,
}

impl Default for ManageConfig {
    fn default() -> Self {
        ManageConfig { role_prefix: crate::connections::ROLE_PREFIX.to_owned(), sync: SyncConfig::default() }
    }
}

/// Connection management over its ports. Cheap to build: it borrows everything.
pub struct Management<'a> {
    /// Connections as operators change them.
    pub admin: &'a dyn ConnectionAdmin,
    /// The engine's store: connections, templates, leases, the ledger.
    pub store: &'a dyn SyncStore,
    pub history: &'a dyn RunHistory,
    pub records: &'a dyn RecordAdmin,
    pub buckets: &'a dyn BucketAccess,
    /// Starts a sync: an asynchronous worker invocation in Lambda, a run in-process in the CLI.
    pub workers: &'a dyn WorkerInvoker,
    pub principals: &'a dyn TrustPrincipals,
    /// Where status changes are announced.
    pub events: &'a dyn crate::events::EventPublisher,
    /// The accounts the deployment's object event bus takes events from; None when the deployment
    /// has no such bus (events-mode connections then rely on the daily scan alone).
    pub forwarding: Option<&'a dyn ForwardingAccounts>,
    /// The rejects bucket, whose objects file listings link to; None when the deployment has none.
    pub rejects: Option<&'a dyn crate::ports::RejectsStore>,
    pub clock: &'a dyn Clock,
    pub config: &'a ManageConfig,
}

impl Management<'_> {
    /// A connection, or NotFound.
    pub async fn connection(&self, id: &str) -> Result<Connection, ManageError> {
        self.admin.connection(id).await?.ok_or_else(|| ManageError::NotFound { what: "connection", id: id.to_owned() })
    }

    /// Lets the connection's account forward its bucket's events to the deployment's bus, when
    /// the connection is in events mode and the deployment has a bus; nothing otherwise. Called
    /// before the write that makes the connection need it, so that a failure leaves the
    /// connection as it was, with an error that says `what` was not done.
    async fn allow_forwarding(&self, connection: &Connection, mode: SyncMode, what: &str) -> Result<(), ManageError> {
        let Some(forwarding) = self.forwarding.filter(|_| mode == SyncMode::Events) else { return Ok(()) };
        forwarding.allow_account(&connection.account_id).await.map_err(|e| {
            let message = format!(
                "letting account {} put events on the deployment's object event bus failed, so the connection \
                 was not {what}: {e}",
                connection.account_id
            );
            match e.kind {
                // Throttled or a 5xx: worth trying again.
                StoreErrorKind::Transient => {
                    ManageError::Store(StoreError { kind: e.kind, message, source: Some(Box::new(e)) })
                }
                // The bus's policy is full, or the deployment may not change it: the operator must
                // act, and the message says how.
                _ => ManageError::Conflict(message),
            }
        })
    }
}

/// One page of a list and the token of the next, if any.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// The page of `sorted` (in order of `sort_key`) after the token `after`, up to `limit` items. The
/// token is the last item's sort key in hex, so a page goes on where the last one ended even when
/// items come or go between the calls.
fn page_of<T>(
    sorted: Vec<T>,
    sort_key: impl Fn(&T) -> String,
    limit: usize,
    after: Option<&str>,
) -> Result<Page<T>, ManageError> {
    let after = after.map(from_hex).transpose()?;
    let mut items: Vec<T> =
        sorted.into_iter().filter(|item| after.as_ref().is_none_or(|a| sort_key(item) > *a)).take(limit + 1).collect();
    let next = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(|last| to_hex(&sort_key(last))).unwrap_or_default()
    });
    Ok(Page { items, next })
}

/// A page token of a sort key: its bytes in hex.
fn to_hex(sort_key: &str) -> String {
    sort_key.bytes().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(token: &str) -> Result<String, ManageError> {
    let bad = || ManageError::invalid("after", "is not a page token this list gave");
    if token.len() & 1 == 1 {
        return Err(bad());
    }
    // By bytes, never by str slices: a token is the caller's text and may be anything.
    let digit = |b: u8| (b as char).to_digit(16).ok_or_else(bad);
    let bytes: Result<Vec<u8>, ManageError> =
        token.as_bytes().chunks(2).map(|pair| Ok((digit(pair[0])? * 16 + digit(pair[1])?) as u8)).collect();
    String::from_utf8(bytes?).map_err(|_| bad())
}
