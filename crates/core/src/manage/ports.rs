//! The ports connection management drives, beside the engine's ([`crate::ports`]): connections as
//! operators change them, templates, the history of runs and outcomes, the records read back,
//! who customers' trust policies name, and which customer accounts may forward object events to
//! the deployment's bus. The DynamoDB and EventBridge adapters and `memory` (feature
//! `test-support`) implement them; the conformance suite checks the stores alike.

use crate::connections::Location;
use crate::model::{Connection, ConnectionStatus, FileOutcome, SyncMode, SyncRun};
use crate::ports::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The platform's data templates (declared beside the engine's ports, which read them).
pub use crate::ports::Templates;

/// A change to a connection's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionEdit {
    pub name: Option<String>,
    pub template_id: Option<String>,
    /// `Some(None)` goes back to the deployment's default.
    pub overlap_seconds: Option<Option<u64>>,
    pub mode: Option<SyncMode>,
    /// Hours between scheduled scans; `Some(None)`: daily.
    pub scan_every_hours: Option<Option<u32>>,
    /// The next run decides again every object modified since then.
    pub backfill_since: Option<DateTime<Utc>>,
}

impl ConnectionEdit {
    pub fn is_empty(&self) -> bool {
        *self == ConnectionEdit::default()
    }
}

/// Connections as operators create and change them.
#[async_trait]
pub trait ConnectionAdmin: Send + Sync {
    async fn connection(&self, id: &str) -> Result<Option<Connection>, StoreError>;
    /// Every connection, by status then name.
    async fn connections(&self) -> Result<Vec<Connection>, StoreError>;
    /// Up to `limit` connections of `tenant` named after `after` (all when `None`), by name: read
    /// from an index of connections by tenant, never a scan. Connections without a tenant are in
    /// no tenant's list.
    async fn tenant_connections(
        &self,
        tenant: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Vec<Connection>, StoreError>;
    /// Saves a new connection and claims its name in its tenant; `Conflict` when the tenant has a
    /// connection of that name.
    async fn create_connection(&self, connection: &Connection) -> Result<(), StoreError>;
    /// An operator moves a connection to `to`, only if its status is still `from`; `Conflict`
    /// otherwise. A pause is the operator's (`pause_reason` operator); any other status clears the
    /// reason, and a move to active starts the count of consecutive failures again.
    async fn change_status(&self, id: &str, from: ConnectionStatus, to: ConnectionStatus) -> Result<(), StoreError>;
    /// Sets a pending connection active, only if it is still pending and still reads `checked`
    /// (the location its access was checked at): a customer's save of another location between
    /// the check and this write is a `Conflict`, never an active connection nobody checked.
    async fn activate_at(&self, id: &str, checked: &Location) -> Result<(), StoreError>;
    /// Gives `tenant` to a connection stored before tenants existed, in one write: only if it still
    /// has no tenant and is still named `current.name`, its name is claimed in `tenant` and its
    /// claim among connections without a tenant released with it. `Conflict` when `tenant` has a
    /// connection of that name or the connection changed meanwhile (a tenant given, a rename).
    async fn assign_tenant(&self, current: &Connection, tenant: &str) -> Result<(), StoreError>;
    /// Applies `edit` in one write, only if the connection is still named `current.name` (a new
    /// name is claimed in its tenant and the old one released with it); `Conflict` when the name is taken or the
    /// connection changed meanwhile.
    async fn edit_connection(&self, current: &Connection, edit: &ConnectionEdit) -> Result<(), StoreError>;
    /// Saves the location the customer filled (bucket, region, folder) and when, in one write, only
    /// while the connection is still pending: `Conflict` otherwise (no such connection, or activated
    /// meanwhile), so that a race with activation cannot move an active connection.
    async fn fill_location(&self, id: &str, location: &Location, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Adds one to the connection's link generation in one write that races no other edit, and
    /// returns the new generation: every customer link made before is refused from then on.
    /// `Conflict` when there is no such connection.
    async fn withdraw_setup_links(&self, id: &str) -> Result<u64, StoreError>;
    /// Marks the recorded outcome of `key` to be decided again by the next run; `false` when the
    /// connection has no outcome for it.
    async fn ask_again(&self, id: &str, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Dismisses the open failure of `key` at version `etag` ([`FileOutcome::dismissed_at`]): it is
    /// no longer counted in the connection's `failed_files` nor tried again, and may expire after
    /// `expires_at`. `false` when the key has no such open failure (imported, replaced, dismissed
    /// already, or none).
    async fn dismiss(
        &self,
        id: &str,
        key: &str,
        etag: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Counts the connection's open failures again from its ledger and sets its `failed_files` to
    /// that, only while `owner` holds its lease (`Conflict` otherwise: a sync would move the count
    /// meanwhile). A failed, undismissed entry recorded before the count was kept is made an open
    /// failure on the way (it is counted, and no longer expires). Returns the count.
    async fn recount_failures(&self, id: &str, owner: &str) -> Result<u64, StoreError>;
    /// Deletes the connection's ledger, runs and checkpoints, then the connection and its name
    /// together, the name only if it is still this connection's (a delete that fails half way
    /// leaves the connection to delete again).
    async fn delete_connection(&self, connection: &Connection) -> Result<(), StoreError>;
}

/// What runs left behind: the runs, and each object's latest outcome.
#[async_trait]
pub trait RunHistory: Send + Sync {
    /// Up to `limit` runs, newest first.
    async fn runs(&self, connection_id: &str, limit: usize) -> Result<Vec<SyncRun>, StoreError>;
    /// Every object's latest outcome, by key.
    async fn outcomes(&self, connection_id: &str) -> Result<Vec<FileOutcome>, StoreError>;
    async fn outcome(&self, connection_id: &str, key: &str) -> Result<Option<FileOutcome>, StoreError>;
}

/// A page of a connection's records and the token of the next, if any.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecordsPage {
    pub records: Vec<serde_json::Value>,
    pub next: Option<String>,
}

/// The imported records, read back and removed.
#[async_trait]
pub trait RecordAdmin: Send + Sync {
    /// Up to `limit` records from `after` (a page's `next`; a token this store did not give is
    /// `StoreErrorKind::Invalid`).
    async fn records_page(
        &self,
        connection_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<RecordsPage, StoreError>;
    /// Deletes every record of the connection; returns how many.
    async fn purge_records(&self, connection_id: &str) -> Result<u64, StoreError>;
    /// How many records the connection has (read by counting: for a delete to say what it keeps).
    async fn count_records(&self, connection_id: &str) -> Result<u64, StoreError>;
}

/// Who may assume customers' roles: the principals their trust policies name.
#[async_trait]
pub trait TrustPrincipals: Send + Sync {
    async fn trust_principals(&self) -> Result<Vec<String>, StoreError>;
}

/// Who may put events on the deployment's object event bus: a customer account whose EventBridge
/// rule forwards its bucket's Object Created events there must be named in the bus's resource
/// policy, or its PutEvents is refused (README, "Event-driven imports").
#[async_trait]
pub trait ForwardingAccounts: Send + Sync {
    /// Lets `account_id` put events on the bus, with one statement per account
    /// ([`forwarding_statement_id`]). Doing it again for an account already let on changes
    /// nothing.
    async fn allow_account(&self, account_id: &str) -> Result<(), StoreError>;
}

/// The bus policy's statement that lets `account_id` forward its events: one per account, so that
/// allowing an account twice leaves one statement (and an operator can find and remove it).
pub fn forwarding_statement_id(account_id: &str) -> String {
    format!("s3c-account-{account_id}")
}
