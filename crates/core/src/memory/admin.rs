//! The management ports ([`crate::manage::ports`]) in memory, over the same maps as the engine's.

use super::{MemorySink, MemoryStore};
use crate::connections::Location;
use crate::manage::ports::{ConnectionAdmin, ConnectionEdit, RecordAdmin, RecordsPage, RunHistory, TrustPrincipals};
use crate::model::{Connection, ConnectionStatus, FileOutcome, Recheck, SyncRun};
use crate::ports::{StoreError, StoreErrorKind};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

fn conflict(message: impl Into<String>) -> StoreError {
    StoreError::new(StoreErrorKind::Conflict, message)
}

#[async_trait]
impl ConnectionAdmin for MemoryStore {
    async fn connection(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        crate::ports::SyncStore::connection(self, id).await
    }

    async fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        let mut all: Vec<Connection> = self.connections.lock().unwrap().values().cloned().collect();
        let rank = |s: ConnectionStatus| {
            [
                ConnectionStatus::Active,
                ConnectionStatus::NeedsReauth,
                ConnectionStatus::Pending,
                ConnectionStatus::Paused,
            ]
            .iter()
            .position(|x| *x == s)
        };
        all.sort_by(|a, b| (rank(a.status), &a.name).cmp(&(rank(b.status), &b.name)));
        Ok(all)
    }

    async fn tenant_connections(
        &self,
        tenant: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Vec<Connection>, StoreError> {
        let connections = self.connections.lock().unwrap();
        let mut mine: Vec<Connection> = connections
            .values()
            .filter(|c| !c.tenant.is_empty() && c.tenant == tenant && after.is_none_or(|a| c.name.as_str() > a))
            .cloned()
            .collect();
        mine.sort_by(|a, b| a.name.cmp(&b.name));
        mine.truncate(limit);
        Ok(mine)
    }

    async fn create_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut connections = self.connections.lock().unwrap();
        let same_name = |c: &&Connection| c.tenant == connection.tenant && c.name == connection.name;
        if connections.values().any(|c| same_name(&c)) || connections.contains_key(&connection.id) {
            return Err(conflict(format!("a connection named '{}' already exists", connection.name)));
        }
        connections.insert(connection.id.clone(), connection.clone());
        Ok(())
    }

    async fn activate_at(&self, id: &str, checked: &Location) -> Result<(), StoreError> {
        {
            let connections = self.connections.lock().unwrap();
            let reads = |c: &Connection| {
                (&c.bucket, &c.region, &c.folder) == (&checked.bucket, &checked.region, &checked.folder)
            };
            if !connections.get(id).is_some_and(reads) {
                return Err(conflict(format!("connection {id} reads elsewhere than where its access was checked")));
            }
        }
        self.change_status(id, ConnectionStatus::Pending, ConnectionStatus::Active).await
    }

    async fn change_status(&self, id: &str, from: ConnectionStatus, to: ConnectionStatus) -> Result<(), StoreError> {
        match self.connections.lock().unwrap().get_mut(id) {
            Some(c) if c.status == from => {
                c.status = to;
                c.pause_reason = (to == ConnectionStatus::Paused).then_some(crate::model::PauseReason::Operator);
                if to == ConnectionStatus::Active {
                    c.sync.consecutive_failures = 0;
                    c.sync.last_failure_key = None;
                }
                Ok(())
            }
            _ => Err(conflict(format!("connection {id} is not {from}"))),
        }
    }

    async fn assign_tenant(&self, current: &Connection, tenant: &str) -> Result<(), StoreError> {
        let mut connections = self.connections.lock().unwrap();
        if connections.values().any(|c| c.tenant == tenant && c.name == current.name) {
            return Err(conflict(format!("tenant '{tenant}' has a connection named '{}'", current.name)));
        }
        match connections.get_mut(&current.id).filter(|c| c.tenant.is_empty() && c.name == current.name) {
            Some(stored) => {
                stored.tenant = tenant.to_owned();
                Ok(())
            }
            None => Err(conflict("the connection changed meanwhile")),
        }
    }

    async fn edit_connection(&self, current: &Connection, edit: &ConnectionEdit) -> Result<(), StoreError> {
        let mut connections = self.connections.lock().unwrap();
        if let Some(name) = &edit.name {
            if connections.values().any(|c| c.tenant == current.tenant && c.name == *name && c.id != current.id) {
                return Err(conflict(format!("a connection named '{name}' already exists")));
            }
        }
        let Some(stored) = connections.get_mut(&current.id).filter(|c| c.name == current.name) else {
            return Err(conflict("the connection changed meanwhile"));
        };
        if let Some(name) = &edit.name {
            stored.name = name.clone();
        }
        if let Some(template_id) = &edit.template_id {
            stored.template_id = template_id.clone();
        }
        if let Some(overlap) = edit.overlap_seconds {
            stored.overlap_seconds = overlap;
        }
        if let Some(mode) = edit.mode {
            stored.mode = mode;
        }
        if let Some(every) = edit.scan_every_hours {
            stored.scan_every_hours = every;
        }
        if let Some(since) = edit.backfill_since {
            stored.backfill_since = Some(since);
        }
        Ok(())
    }

    async fn ask_again(&self, id: &str, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut outcomes = self.outcomes.lock().unwrap();
        match outcomes.get_mut(&(id.to_owned(), key.to_owned())) {
            Some(outcome) => {
                outcome.recheck = Some(Recheck::Operator { asked_at: now });
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn dismiss(
        &self,
        id: &str,
        key: &str,
        etag: &str,
        now: DateTime<Utc>,
        _expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut outcomes = self.outcomes.lock().unwrap();
        let Some(outcome) =
            outcomes.get_mut(&(id.to_owned(), key.to_owned())).filter(|o| o.etag == etag && o.is_open_failure())
        else {
            return Ok(false);
        };
        let mut connections = self.connections.lock().unwrap();
        let Some(connection) = connections.get_mut(id) else { return Ok(false) };
        outcome.dismissed_at = Some(now);
        outcome.recheck = None;
        connection.failed_files = connection.failed_files.saturating_sub(1);
        Ok(true)
    }

    async fn fill_location(&self, id: &str, location: &Location, at: DateTime<Utc>) -> Result<(), StoreError> {
        match self.connections.lock().unwrap().get_mut(id) {
            Some(c) if c.status == ConnectionStatus::Pending => {
                (c.bucket, c.region, c.folder) =
                    (location.bucket.clone(), location.region.clone(), location.folder.clone());
                c.location_filled_at = Some(at);
                Ok(())
            }
            _ => Err(conflict(format!("connection {id} is not pending"))),
        }
    }

    async fn withdraw_setup_links(&self, id: &str) -> Result<u64, StoreError> {
        let mut connections = self.connections.lock().unwrap();
        let connection = connections.get_mut(id).ok_or_else(|| conflict(format!("no connection {id}")))?;
        connection.link_generation += 1;
        Ok(connection.link_generation)
    }

    async fn recount_failures(&self, id: &str, owner: &str) -> Result<u64, StoreError> {
        if self.leases.lock().unwrap().get(id).is_none_or(|(holder, ..)| holder != owner) {
            return Err(conflict(format!("the lease of {id} is not {owner}'s")));
        }
        let open = self.outcomes.lock().unwrap().iter().filter(|((c, _), o)| c == id && o.is_open_failure()).count();
        let mut connections = self.connections.lock().unwrap();
        let connection = connections.get_mut(id).ok_or_else(|| conflict(format!("no connection {id}")))?;
        connection.failed_files = open as u64;
        Ok(open as u64)
    }

    async fn delete_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let id = &connection.id;
        self.outcomes.lock().unwrap().retain(|(c, _), _| c != id);
        self.runs.lock().unwrap().retain(|r| r.connection_id != *id);
        self.checkpoints.lock().unwrap().remove(id);
        self.leases.lock().unwrap().remove(id);
        self.connections.lock().unwrap().remove(id);
        Ok(())
    }
}

#[async_trait]
impl RunHistory for MemoryStore {
    async fn runs(&self, connection_id: &str, limit: usize) -> Result<Vec<SyncRun>, StoreError> {
        let runs = self.runs.lock().unwrap();
        let mut mine: Vec<SyncRun> = runs.iter().filter(|r| r.connection_id == connection_id).cloned().collect();
        mine.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        mine.truncate(limit);
        Ok(mine)
    }

    async fn outcomes(&self, connection_id: &str) -> Result<Vec<FileOutcome>, StoreError> {
        let outcomes = self.outcomes.lock().unwrap();
        let mut mine: Vec<FileOutcome> =
            outcomes.iter().filter(|((c, _), _)| c == connection_id).map(|(_, o)| o.clone()).collect();
        mine.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(mine)
    }

    async fn outcome(&self, connection_id: &str, key: &str) -> Result<Option<FileOutcome>, StoreError> {
        Ok(MemoryStore::outcome(self, connection_id, key))
    }
}

#[async_trait]
impl RecordAdmin for MemorySink {
    async fn records_page(
        &self,
        connection_id: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<RecordsPage, StoreError> {
        let after = match after {
            None => None,
            Some(token) => match token.strip_prefix("m:") {
                Some(id) => Some(id.to_owned()),
                None => return Err(StoreError::new(StoreErrorKind::Invalid, format!("'{token}' is no page token"))),
            },
        };
        let records = self.records.lock().unwrap();
        let mut page: Vec<(String, serde_json::Value)> = records
            .iter()
            .filter(|((c, id), _)| c == connection_id && after.as_ref().is_none_or(|a| id > a))
            .take(limit + 1)
            .map(|((_, id), values)| {
                let values: Vec<serde_json::Value> = values
                    .iter()
                    .map(|v| v.as_ref().map_or(serde_json::Value::Null, |v| v.canonical().into()))
                    .collect();
                (id.clone(), serde_json::json!({"id": id, "values": values}))
            })
            .collect();
        let next = (page.len() > limit).then(|| {
            page.truncate(limit);
            format!("m:{}", page.last().map(|(id, _)| id.as_str()).unwrap_or_default())
        });
        Ok(RecordsPage { records: page.into_iter().map(|(_, r)| r).collect(), next })
    }

    async fn purge_records(&self, connection_id: &str) -> Result<u64, StoreError> {
        let mut records = self.records.lock().unwrap();
        let before = records.len();
        records.retain(|(c, _), _| c != connection_id);
        Ok((before - records.len()) as u64)
    }

    async fn count_records(&self, connection_id: &str) -> Result<u64, StoreError> {
        Ok(self.records.lock().unwrap().keys().filter(|(c, _)| c == connection_id).count() as u64)
    }
}

/// Trust principals fixed at construction.
pub struct FixedPrincipals(pub Vec<String>);

#[async_trait]
impl TrustPrincipals for FixedPrincipals {
    async fn trust_principals(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.0.clone())
    }
}

/// Workers that only record what they were asked to start.
#[derive(Default)]
pub struct RecordedWorkers {
    pub requests: std::sync::Mutex<Vec<crate::dispatch::WorkerRequest>>,
}

#[async_trait]
impl crate::dispatch::WorkerInvoker for RecordedWorkers {
    async fn invoke(&self, request: &crate::dispatch::WorkerRequest) -> Result<(), crate::dispatch::InvokeError> {
        self.requests.lock().unwrap().push(request.clone());
        Ok(())
    }
}

#[async_trait]
impl crate::intake::Routes for MemoryStore {
    async fn routes(&self, bucket: &str) -> Result<Vec<crate::intake::Route>, StoreError> {
        let connections = self.connections.lock().unwrap();
        Ok(connections
            .values()
            .filter(|c| !bucket.is_empty() && c.bucket == bucket)
            .map(crate::intake::Route::of)
            .collect())
    }
}

/// The object event bus's policy in memory: the statement of each account let on, by statement
/// id; with `fail` set, allowing fails and changes nothing, as a bus that refuses would.
#[derive(Default)]
pub struct MemoryForwarding {
    pub statements: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    /// Refuse for now (throttled): worth trying again.
    pub fail: std::sync::Mutex<bool>,
    /// Refuse for good (the policy at its size limit): the operator must act.
    pub full: std::sync::Mutex<bool>,
}

impl MemoryForwarding {
    /// The accounts let on, in order.
    pub fn accounts(&self) -> Vec<String> {
        self.statements.lock().unwrap().values().cloned().collect()
    }
}

#[async_trait]
impl crate::manage::ports::ForwardingAccounts for MemoryForwarding {
    async fn allow_account(&self, account_id: &str) -> Result<(), StoreError> {
        if *self.fail.lock().unwrap() {
            return Err(StoreError::new(StoreErrorKind::Transient, "the bus refused the policy change"));
        }
        if *self.full.lock().unwrap() {
            return Err(StoreError::new(StoreErrorKind::Rejected, "the bus's policy is at its size limit"));
        }
        let statement = crate::manage::ports::forwarding_statement_id(account_id);
        self.statements.lock().unwrap().insert(statement, account_id.to_owned());
        Ok(())
    }
}
