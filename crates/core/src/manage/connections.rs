//! Connections as operators create and change them: create (with the documents the customer's
//! role needs), list, show, edit, pause and resume, delete. Activation and re-authentication read
//! the bucket first and live in [`super::access`].

use super::ports::ConnectionEdit;
use super::{FieldError, ManageError, Management};
use crate::connections::{new_connection, normalise_name, normalise_tenant, ConnectionInput};
use crate::events::{announce, ConnectionStatusChanged, Event, StatusChange};
use crate::model::{
    scan_every_hours_error, Connection, ConnectionStatus, FileOutcome, SyncMode, SyncRun, DAILY_SCAN_HOURS,
};
use crate::ports::{Lease, StoreErrorKind};
use serde::Serialize;

/// A created connection and what the customer needs to create its role.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedConnection {
    pub connection: Connection,
    pub role_arn: String,
    /// Null while the customer has an open location field to fill: it names the bucket and folder.
    pub permission_policy: Option<serde_json::Value>,
    pub trust_policy: serde_json::Value,
}

/// What `show` tells of a connection: the connection (its status, last sync, template, account and
/// role, how many open failures it has), its most recent runs, the outcome of each object its last
/// run finished, and its newest open failures (failed and not dismissed, whichever run recorded
/// them), up to [`SHOWN_FAILURES`]; `files --failed` lists them all.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionDetail {
    pub connection: Connection,
    pub role_arn: String,
    /// Now minus the LastModified of the newest object any run imported (`sync.newest_imported`);
    /// null before the first import. It grows while nothing new arrives, too.
    pub lag_seconds: Option<i64>,
    pub recent_runs: Vec<SyncRun>,
    pub last_run_files: Vec<FileOutcome>,
    pub failed_files: Vec<FileOutcome>,
}

/// A change an operator asks for; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionChange {
    pub name: Option<String>,
    pub template_id: Option<String>,
    /// Hours before the watermark later syncs look again; `Some(None)`: the deployment's default.
    pub overlap_hours: Option<Option<u32>>,
    /// Scheduled (the daily scan) or events (also the bucket's object events).
    pub mode: Option<SyncMode>,
    /// Hours between scheduled scans; `Some(None)`: daily.
    pub scan_every_hours: Option<Option<u32>>,
}

/// What [`Management::assign_tenant`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TenantAssignment {
    pub tenant: String,
    /// The connections it gave the tenant (none when run again).
    pub assigned: Vec<NamedConnection>,
    /// The connections without a tenant it could not give it, and why.
    pub refused: Vec<Refusal>,
}

/// A connection by its id and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedConnection {
    pub id: String,
    pub name: String,
}

/// A connection left as it was, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    #[serde(flatten)]
    pub connection: NamedConnection,
    pub reason: String,
}

/// A tenant given to filter or scope by, checked by the rule a create applies (a tenant no
/// connection can have is the caller's mistake, not an empty list).
fn tenant_filter(tenant: &str) -> Result<String, ManageError> {
    normalise_tenant(tenant).map_err(|message| ManageError::invalid("tenant", message))
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deleted {
    /// The connection's id (named as the API has always named it).
    #[serde(rename = "deleted")]
    pub id: String,
    pub name: String,
    /// Records deleted with it (`purge_records`); 0 otherwise.
    pub records_purged: u64,
    /// Records left in the records table (all of them without `purge_records`); null when counting
    /// them took longer than a few seconds or failed (the delete is done all the same).
    pub records_kept: Option<u64>,
}

/// The most open failures `show` lists (newest first); `connection.failed_files` counts them all.
pub const SHOWN_FAILURES: usize = 20;

/// The longest overlap: the first sync's whole window.
pub const MAX_OVERLAP_HOURS: u32 = 90 * 24;

/// A short, unique connection id: 20 hex digits of rand's thread generator.
pub fn new_connection_id() -> String {
    random_hex(10)
}

/// 32 bytes from rand's thread generator (a CSPRNG seeded and reseeded from the OS), hex:
/// unguessable, one per connection; the trust policy's confused-deputy protection rests on it.
pub fn new_external_id() -> String {
    random_hex(32)
}

/// A short random id of an operator's request or job (a sync's retries, a recount's lease).
pub(super) fn new_request_id() -> String {
    random_hex(10)
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

impl Management<'_> {
    /// Creates a pending connection and the documents its role needs. The input is checked before
    /// anything else, so a bad field costs no call.
    pub async fn create(&self, input: ConnectionInput) -> Result<CreatedConnection, ManageError> {
        self.create_as(input, new_connection_id(), new_external_id()).await
    }

    /// [`Self::create`] with the id and external id given: the set-up wizard shows the role's
    /// name and trust policy before the bucket is asked for (see [`super::setup`]).
    pub(super) async fn create_as(
        &self,
        input: ConnectionInput,
        id: String,
        external_id: String,
    ) -> Result<CreatedConnection, ManageError> {
        let now = self.clock.now();
        let connection = new_connection(input, id, external_id, &self.config.role_prefix, now).map_err(|errors| {
            ManageError::Invalid(errors.into_iter().map(|e| FieldError::new(e.field, e.message)).collect())
        })?;
        self.template_exists(&connection.template_id).await?;
        let principals = self.principals.trust_principals().await?;
        self.admin.create_connection(&connection).await.map_err(|e| match e.kind {
            StoreErrorKind::Conflict => ManageError::NameTaken(connection.name.clone()),
            _ => ManageError::Store(e),
        })?;
        Ok(CreatedConnection {
            role_arn: connection.role_arn(),
            permission_policy: crate::policies::located_permission_policy(&connection),
            trust_policy: crate::policies::trust_policy(&principals, &connection),
            connection,
        })
    }

    /// `Invalid` naming the template field when there is no such template.
    pub(super) async fn template_exists(&self, template_id: &str) -> Result<(), ManageError> {
        if self.store.template(template_id, None).await?.is_none() {
            return Err(ManageError::invalid(
                "template",
                format!("no template '{template_id}'; save it first with `s3-connector templates put`"),
            ));
        }
        Ok(())
    }

    /// Every connection, by status then name; with a tenant, that tenant's connections, by name
    /// (read from the index of connections by tenant, page by page).
    pub async fn connections(&self, tenant: Option<&str>) -> Result<Vec<Connection>, ManageError> {
        let Some(tenant) = tenant else { return Ok(self.admin.connections().await?) };
        let tenant = tenant_filter(tenant)?;
        let mut all: Vec<Connection> = Vec::new();
        loop {
            let after = all.last().map(|c| c.name.as_str());
            let page = self.admin.tenant_connections(&tenant, super::recovery::MAX_PAGE, after).await?;
            let done = page.len() < super::recovery::MAX_PAGE;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// A page of the connections, by status (its word) then name; with a tenant, a page of that
    /// tenant's connections by name, read from the index of connections by tenant (a page costs
    /// one query, whatever the number of connections).
    pub async fn connections_page(
        &self,
        tenant: Option<&str>,
        limit: usize,
        after: Option<&str>,
    ) -> Result<super::Page<Connection>, ManageError> {
        let limit = limit.clamp(1, super::recovery::MAX_PAGE);
        if let Some(tenant) = tenant {
            let tenant = tenant_filter(tenant)?;
            let after = after.map(super::from_hex).transpose()?;
            let mut items = self.admin.tenant_connections(&tenant, limit + 1, after.as_deref()).await?;
            let next = (items.len() > limit).then(|| {
                items.truncate(limit);
                items.last().map(|last| super::to_hex(&last.name)).unwrap_or_default()
            });
            return Ok(super::Page { items, next });
        }
        let sort_key = |c: &Connection| format!("{}\u{0}{}\u{0}{}", c.status, c.name, c.id);
        let mut all = self.admin.connections().await?;
        all.sort_by_cached_key(sort_key);
        super::page_of(all, sort_key, limit, after)
    }

    /// The connection `id` if it belongs to `tenant`; NotFound, as for an unknown id (the same
    /// error, so that a tenant cannot learn that another's connection exists), when it does not.
    /// A surface serving one tenant calls it before any operation on a connection.
    pub async fn connection_in_tenant(&self, tenant: &str, id: &str) -> Result<Connection, ManageError> {
        let tenant = tenant_filter(tenant)?;
        match self.admin.connection(id).await? {
            Some(connection) if connection.tenant == tenant => Ok(connection),
            _ => Err(ManageError::NotFound { what: "connection", id: id.to_owned() }),
        }
    }

    /// Gives `tenant` to every connection stored before tenants existed (the upgrade step): each
    /// in one write that claims its name in the tenant, only if it still has no tenant. Safe to run
    /// again, or twice at once: a connection given a tenant meanwhile is left as it is. A
    /// connection whose name the tenant has already is refused, and keeps no tenant until it is
    /// renamed and this is run again.
    pub async fn assign_tenant(&self, tenant: &str) -> Result<TenantAssignment, ManageError> {
        let tenant = tenant_filter(tenant)?;
        let mut done = TenantAssignment { tenant: tenant.clone(), ..TenantAssignment::default() };
        for connection in self.admin.connections().await?.into_iter().filter(Connection::lacks_tenant) {
            let named = NamedConnection { id: connection.id.clone(), name: connection.name.clone() };
            match self.admin.assign_tenant(&connection, &tenant).await {
                Ok(()) => done.assigned.push(named),
                Err(e) if e.kind == StoreErrorKind::Conflict => {
                    // Given a tenant by another run meanwhile, renamed, or the name taken.
                    match self.admin.connection(&connection.id).await? {
                        None => {}
                        Some(now) if !now.lacks_tenant() => {}
                        Some(now) if now.name != connection.name => done
                            .refused
                            .push(Refusal { connection: named, reason: "renamed meanwhile; run it again".into() }),
                        Some(_) => done.refused.push(Refusal {
                            connection: named,
                            reason: format!(
                                "tenant '{tenant}' has a connection named '{}': rename one of them, then run it again",
                                connection.name
                            ),
                        }),
                    }
                }
                Err(e) => return Err(ManageError::Store(e)),
            }
        }
        Ok(done)
    }

    /// A connection with its recent runs, its last run's outcomes and its newest open failures.
    pub async fn show(&self, id: &str, runs: usize) -> Result<ConnectionDetail, ManageError> {
        let connection = self.connection(id).await?;
        let recent_runs = self.history.runs(id, runs).await?;
        let outcomes = self.history.outcomes(id).await?;
        let last_run = connection.sync.last_run_id.as_deref();
        let mut last_run_files: Vec<FileOutcome> =
            outcomes.iter().filter(|o| Some(o.run_id.as_str()) == last_run).cloned().collect();
        let mut failed_files: Vec<FileOutcome> = outcomes.into_iter().filter(FileOutcome::is_open_failure).collect();
        failed_files.sort_by(|a, b| (b.finished_at, &a.key).cmp(&(a.finished_at, &b.key)));
        failed_files.truncate(SHOWN_FAILURES);
        self.link_rejects(&mut last_run_files).await;
        self.link_rejects(&mut failed_files).await;
        let lag_seconds = connection.sync.newest_imported.map(|newest| (self.clock.now() - newest).num_seconds());
        Ok(ConnectionDetail {
            role_arn: connection.role_arn(),
            lag_seconds,
            connection,
            recent_runs,
            last_run_files,
            failed_files,
        })
    }

    /// Changes a connection's name, template, overlap, mode, scan interval, or several, all or nothing: everything
    /// is checked first, then one write (a new name is claimed and the old one released with it).
    /// A connection activated before and switched to events mode has its account let onto the
    /// deployment's object event bus before that write.
    pub async fn edit(&self, id: &str, change: ConnectionChange) -> Result<Connection, ManageError> {
        let mut errors = Vec::new();
        let name = match change.name.as_deref().map(normalise_name).transpose() {
            Ok(name) => name,
            Err(message) => {
                errors.push(FieldError::new("name", message));
                None
            }
        };
        let overlap_seconds = match change.overlap_hours {
            Some(Some(hours)) if hours > MAX_OVERLAP_HOURS => {
                errors.push(FieldError::new("overlap_hours", format!("at most {MAX_OVERLAP_HOURS} (90 days)")));
                None
            }
            other => other.map(|hours| hours.map(|h| u64::from(h) * 3600)),
        };
        if let Some(message) = change.scan_every_hours.flatten().and_then(scan_every_hours_error) {
            errors.push(FieldError::new("scan_every_hours", message));
        }
        if !errors.is_empty() {
            return Err(ManageError::Invalid(errors));
        }
        if let Some(template_id) = &change.template_id {
            self.template_exists(template_id).await?;
        }
        let connection = self.connection(id).await?;
        let edit = ConnectionEdit {
            name: name.filter(|n| *n != connection.name),
            template_id: change.template_id.filter(|t| *t != connection.template_id),
            overlap_seconds: overlap_seconds.filter(|o| *o != connection.overlap_seconds),
            mode: change.mode.filter(|m| *m != connection.mode),
            // Daily is daily, however it is said.
            scan_every_hours: change
                .scan_every_hours
                .map(|every| every.filter(|h| *h != DAILY_SCAN_HOURS))
                .filter(|every| *every != connection.scan_every_hours),
            backfill_since: None,
        };
        if edit.is_empty() {
            return Ok(connection);
        }
        // A pending connection's account is let onto the bus when it is activated. Any other has
        // been activated already, and resuming or re-authenticating it does not pass through
        // activation again: it is let on now, or its events would be refused.
        if let (Some(mode), false) = (edit.mode, connection.status == ConnectionStatus::Pending) {
            self.allow_forwarding(&connection, mode, "switched to events mode").await?;
        }
        self.admin.edit_connection(&connection, &edit).await.map_err(|e| match (&edit.name, e.kind) {
            (Some(name), StoreErrorKind::Conflict) => ManageError::Conflict(format!(
                "a connection named '{name}' already exists, or the connection changed meanwhile; try again"
            )),
            (None, StoreErrorKind::Conflict) => {
                ManageError::Conflict("the connection changed meanwhile; try again".into())
            }
            _ => ManageError::Store(e),
        })?;
        self.connection(id).await
    }

    /// Pauses an active connection: no sync starts until it is resumed. Pausing a paused one changes
    /// nothing; a pending or needs_reauth one does not sync anyway, and pausing it would let resume
    /// make it active without the access check that activation and re-authentication make.
    pub async fn pause(&self, id: &str) -> Result<Connection, ManageError> {
        let connection = self.connection(id).await?;
        match connection.status {
            ConnectionStatus::Paused => Ok(connection),
            ConnectionStatus::Active => {
                self.transition(&connection, ConnectionStatus::Paused, StatusChange::PausedByOperator).await
            }
            ConnectionStatus::Pending => {
                Err(ManageError::Conflict("connection is pending: it does not sync until it is activated".into()))
            }
            ConnectionStatus::NeedsReauth => Err(ManageError::Conflict(
                "connection is needs_reauth: it does not sync until it is re-authenticated".into(),
            )),
        }
    }

    /// Resumes a paused connection; its next sync goes on from its watermark. Resuming an active one
    /// changes nothing; a pending one is activated, a needs_reauth one re-authenticated instead.
    pub async fn resume(&self, id: &str) -> Result<Connection, ManageError> {
        let connection = self.connection(id).await?;
        match connection.status {
            ConnectionStatus::Active => Ok(connection),
            ConnectionStatus::Paused => {
                self.transition(&connection, ConnectionStatus::Active, StatusChange::Resumed).await
            }
            ConnectionStatus::Pending => {
                Err(ManageError::Conflict("connection is pending: activate it (its access is checked first)".into()))
            }
            ConnectionStatus::NeedsReauth => Err(ManageError::Conflict(
                "connection is needs_reauth: re-authenticate it (its access is checked first)".into(),
            )),
        }
    }

    /// Moves a connection from its current status to `to` (a conditional write: no lost update),
    /// and announces the change with its `reason`.
    pub(super) async fn transition(
        &self,
        current: &Connection,
        to: ConnectionStatus,
        reason: StatusChange,
    ) -> Result<Connection, ManageError> {
        self.admin
            .change_status(&current.id, current.status, to)
            .await
            .map_err(|e| ManageError::conflict_or_store(e, || "the connection changed meanwhile; try again".into()))?;
        self.announce_status(current, to, reason).await;
        self.connection(&current.id).await
    }

    /// Announces a status change the store wrote.
    pub(super) async fn announce_status(&self, current: &Connection, to: ConnectionStatus, reason: StatusChange) {
        let changed = ConnectionStatusChanged::of(current, to, reason, self.clock.now());
        announce(self.events, &[Event::ConnectionStatusChanged(changed)]).await;
    }

    /// Takes the connection's lease for an operator's `job`, so that no sync runs meanwhile; a
    /// `Conflict` that says when to try again while a sync holds it.
    pub(super) async fn hold_lease(&self, id: &str, owner: &str, job: &str) -> Result<(), ManageError> {
        let now = self.clock.now();
        let until = now + self.config.sync.lease_duration;
        let lease = match self.store.acquire_lease(id, owner, now, until, None).await {
            // No connection to take a lease on: deleted meanwhile.
            Err(e) if e.kind == StoreErrorKind::Conflict => {
                self.connection(id).await?;
                return Err(ManageError::Store(e));
            }
            other => other?,
        };
        match lease {
            Lease::Acquired => Ok(()),
            Lease::Held { owner, until, .. } => Err(ManageError::Conflict(format!(
                "a sync ({owner}) is running until {until} at the latest; {job} after it ends"
            ))),
            Lease::AlreadyRan { .. } => unreachable!("no schedule run is given"),
        }
    }

    /// Deletes a connection, its name, sync state, runs and import ledger; its imported records too
    /// when `purge_records` is set.
    ///
    /// It takes the connection's lease first, so it is refused while a sync runs and no sync starts
    /// while it deletes; records are purged before the connection goes, so a purge that fails half
    /// way can be asked for again.
    pub async fn delete(&self, id: &str, purge_records: bool) -> Result<Deleted, ManageError> {
        self.connection(id).await?;
        let term = self.config.sync.lease_duration;
        // One owner for every delete: a delete that failed half way holds the lease, and is retried.
        self.hold_lease(id, DELETE_OWNER, "delete the connection").await?;
        // Read again under the lease: a rename before it took the lease would leave its name behind.
        let connection = self.connection(id).await?;
        // A purge of a large connection outlasts a lease term: renew it as a run would, so that no
        // sync takes the connection over half way (it would write into what is being deleted).
        let keep = async {
            loop {
                // A test clock's sleep is ready at once: let the delete run between renewals.
                tokio::task::yield_now().await;
                self.clock.sleep(term / 2).await;
                let now = self.clock.now();
                match self.store.renew_lease(id, DELETE_OWNER, now, now + term).await {
                    Ok(true) => {}
                    // A throttled renewal is tried again at the next half term, while the lease
                    // still has that much time.
                    Err(e) if e.kind == StoreErrorKind::Transient => {}
                    // The connection item is gone (the delete's last step) or the lease was lost:
                    // the delete goes on; a failed delete is retried by the operator.
                    _ => return std::future::pending::<()>().await,
                }
            }
        };
        let delete = async {
            let records_purged = if purge_records { self.records.purge_records(id).await? } else { 0 };
            self.admin.delete_connection(&connection).await?;
            // Counted once the connection is gone, and only for the telling: a count of a large
            // connection that is slow or fails leaves the delete done, and says it does not know.
            let count = self.records.count_records(id);
            let records_kept = match tokio::time::timeout(COUNT_TIME, count).await {
                Ok(Ok(n)) => Some(n),
                Ok(Err(e)) => {
                    tracing::warn!(connection_id = id, error = %e, "counting the records kept");
                    None
                }
                Err(_) => None,
            };
            Ok::<_, ManageError>(Deleted {
                id: connection.id.clone(),
                name: connection.name.clone(),
                records_purged,
                records_kept,
            })
        };
        tokio::select! {
            deleted = delete => deleted,
            () = keep => unreachable!("renewing never ends by itself"),
        }
    }
}

/// How long a delete counts the records it kept before it answers without the count.
const COUNT_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// The lease owner of every delete.
const DELETE_OWNER: &str = "delete";
