//! The DynamoDB adapters: two tables, and the core's ports over them.
//!
//! - [`keys`]: every key of both tables and of their indexes, the one place they are spelled;
//! - `item`: what the others share (attributes, a consistent read, the keys under a partition,
//!   batched deletes);
//! - `sync`: [`StateTable`] as the engine's [`connector_core::ports::SyncStore`] (leases, the import
//!   ledger, rechecks, a run's end), and `checkpoints`, a handed-over run's checkpoint;
//! - `failures`: an outcome's write with the count of open failures it moves, and a dismissal;
//! - `dispatch`: the by-status index as the dispatcher's [`connector_core::dispatch::ConnectionIndex`];
//! - `templates`: [`connector_core::manage::ports::Templates`], every saved version kept;
//! - `admin`: connections as operators change them ([`connector_core::manage::ports::ConnectionAdmin`]);
//! - `setup`: the customer's side of a set-up: open location fields filled while pending, links
//!   withdrawn (the connection item's `link_generation`);
//! - `history`: runs and outcomes read back ([`connector_core::manage::ports::RunHistory`]);
//! - [`records`]: the [`RecordsTable`], where imported rows go ([`connector_core::ports::RecordSink`])
//!   and are read back and purged ([`connector_core::manage::ports::RecordAdmin`]);
//! - [`tables`]: creating both tables and their indexes, for `init`, the demo and tests;
//! - `sessions`: dashboard sessions signed out ([`connector_core::sessions::RevokedSessions`]);
//! - `conformance`: the hooks the store conformance suite needs.
//!
//! # The state table
//!
//! Connections, their unique names, templates, leases, the import ledger (one outcome per object
//! key), runs and checkpoints. Keys `pk` and `sk` (strings).
//!
//! | item        | pk                 | sk                               | notes                              |
//! |-------------|--------------------|----------------------------------|------------------------------------|
//! | connection  | `CONN#<id>`        | `CONN`                           | + lease_owner, lease_until, lease_renewed (ms), status_key for the by-status index, tenant_key for the by-tenant index, bucket_key for the by-bucket index (once it has a bucket), checkpoint_generation/checkpoint_pieces, failed_files (the count of its open failures), link_generation (moved on by an `ADD` to withdraw the customer's links) |
//! | name        | `NAME#<tenant>#<name>` | `TENANT#<tenant>`            | makes names unique within a tenant (conditional put); connection_id |
//! | name, no tenant | `NAME#<name>`  | `NAME`                           | the claim of a connection stored before tenants, until `assign-tenant` moves it |
//! | template    | `TEMPLATES`        | `<template id>`                  | the current document and its `version` |
//! | template version | `TEMPLATE#<id>` | `V#<version, 6 digits>`         | every saved version, kept           |
//! | outcome     | `CONN#<id>`        | `OBJ#<key>` (a key too long for a sort key: its first bytes, `~` and its SHA-256) | latest outcome for the key (the whole key in `key`); the ledger; TTL `expires_at`, except an open failure (failed, not dismissed), which has `open_failure` instead and stays until replaced or dismissed |
//! | run         | `CONN#<id>`        | `RUN#<started, RFC 3339 ms>#<run>` | one per sync run                  |
//! | kept key    | `CONN#<id>`        | `NAMED#<key>` (bounded as the ledger's) | a key object events named while the connection could not run, for its next run: `named` (JSON); TTL `expires_at` |
//! | revoked session | `SESSION#<jti or SHA-256 of the token>` | `REVOKED`         | a dashboard sign-out; TTL `expires_at` (the token's own expiry, seconds) |
//! | checkpoint  | `CONN#<id>`        | `CHECKPOINT#<invocation>#<n, 5 digits>` | a handed-over run's checkpoint, JSON in 350 KB pieces; the connection item names the current one (`checkpoint_generation`, `checkpoint_pieces`) |
//!
//! Indexes (all project every attribute):
//! - [`STATUS_INDEX`]: `status_key` (`STATUS#<status>`) and `name`: connections by status, for
//!   the dispatcher and listings;
//! - [`TENANT_INDEX`]: `tenant_key` (`TENANT#<tenant>`) and `name`: a tenant's connections by
//!   name; sparse, a connection stored before tenants is in it once given a tenant;
//! - [`RECHECK_INDEX`]: `recheck_key` (`CONN#<id>`) and `recheck_at` (ms): the ledger entries to
//!   try again, by time; sparse, only entries waiting for a time or an operator's ask are in it.
//!
//! # The records table
//!
//! | pk                           | sk          | attributes                                                  |
//! |------------------------------|-------------|-------------------------------------------------------------|
//! | `<connection>#<shard 00-3f>` | record id   | connection_id, record_type, source_key, source_etag, source_row, imported_at, data (map of fields) |
//!
//! The shard is a stable hash of the record id: one connection's records spread over 64 partition
//! keys, since one partition key takes at most 1,000 writes a second.

mod admin;
mod checkpoints;
#[cfg(feature = "test-support")]
mod conformance;
mod dispatch;
mod failures;
mod history;
mod item;
pub mod keys;
mod named;
pub mod records;
mod routes;
mod sessions;
mod setup;
mod sync;
pub mod tables;
mod templates;

use aws_sdk_dynamodb::Client;
use connector_core::ports::StoreError;
use item::Item;

pub use records::RecordsTable;

/// The state table's index of connections by status.
pub const STATUS_INDEX: &str = "by-status";
/// The state table's index of connections by tenant, then name.
pub const TENANT_INDEX: &str = "by-tenant";
/// The state table's index of connections by bucket (those with one).
pub const BUCKET_INDEX: &str = "by-bucket";
/// The state table's index of ledger entries to try again, by time.
pub const RECHECK_INDEX: &str = "by-recheck";

/// The state table.
#[derive(Clone, Debug)]
pub struct StateTable {
    pub client: Client,
    pub table: String,
}

impl StateTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        StateTable { client, table: table.into() }
    }

    async fn get(&self, key: Item, context: &str) -> Result<Option<Item>, StoreError> {
        item::get(&self.client, &self.table, key, context).await
    }

    async fn put(&self, item: Item, context: &str) -> Result<(), StoreError> {
        item::put(&self.client, &self.table, item, context).await
    }
}
