//! Every key of the two tables, and every value of an index's key, built here and nowhere else. The
//! table of items in [`super`] says what each key is for; this file says how it is spelled.
//!
//! A text that comes from outside (an object key, a record id) may be longer than DynamoDB takes in
//! a sort key (1,024 bytes): it is bounded by [`connector_core::keys::bounded`], deterministically.

use super::item::{s, Item};
use chrono::{DateTime, SecondsFormat, Utc};
use connector_core::keys::{bounded, MAX_SORT_KEY_BYTES};
use connector_core::model::ConnectionStatus;
use std::collections::HashMap;
use std::hash::Hasher;

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

// ---- The state table ----

/// The partition of everything a connection owns: its item, ledger, runs and checkpoints. Also the
/// by-recheck index's partition key of its ledger entries to try again.
pub fn connection_pk(id: &str) -> String {
    format!("CONN#{id}")
}

/// The sort key of the connection item itself.
pub const CONNECTION_SK: &str = "CONN";

/// A connection's item.
pub fn connection(id: &str) -> Item {
    key(connection_pk(id), CONNECTION_SK)
}

/// The item that claims a connection's name in its tenant (names are unique within a tenant):
/// `NAME#<tenant>#<name>`, `TENANT#<tenant>`. A connection stored before tenants existed (tenant
/// "") keeps the claim it was made with, `NAME#<name>`, `NAME`, until it is given a tenant. The
/// sort keys differ, so a legacy name holding a `#` (`NAME#acme#x`) never takes tenant acme's x.
pub fn name(tenant: &str, name: &str) -> Item {
    match tenant {
        "" => key(format!("NAME#{name}"), "NAME"),
        tenant => key(format!("NAME#{tenant}#{name}"), self::tenant(tenant)),
    }
}

/// The by-tenant index's partition key of a connection (absent on a connection without a tenant,
/// which is in no tenant's list).
pub fn tenant(tenant: &str) -> String {
    format!("TENANT#{tenant}")
}

/// The by-bucket index's partition key of a connection, once it has a bucket: where the intake
/// finds the connections an object event is for.
pub fn bucket(bucket: &str) -> String {
    format!("BUCKET#{bucket}")
}

/// The by-status index's partition key of a connection.
pub fn status(status: ConnectionStatus) -> String {
    format!("STATUS#{}", status.as_str())
}

/// The partition of every template's current version.
pub const TEMPLATES_PK: &str = "TEMPLATES";

/// A template's current version.
pub fn template(id: &str) -> Item {
    key(TEMPLATES_PK, id)
}

/// The partition of a template's saved versions, oldest first.
pub fn template_history_pk(id: &str) -> String {
    format!("TEMPLATE#{id}")
}

/// One saved version of a template (six digits, so that they sort by number).
pub fn template_version(id: &str, version: u32) -> Item {
    key(template_history_pk(id), format!("V#{version:06}"))
}

/// A dashboard session signed out before its token expired: `SESSION#<id>`, `REVOKED` (the id
/// is a token's `jti` or its SHA-256: short, so never bounded).
pub fn revoked_session(id: &str) -> Item {
    key(format!("SESSION#{id}"), "REVOKED")
}

/// The start of the sort keys of a connection's ledger entries.
pub const LEDGER_PREFIX: &str = "OBJ#";

/// The ledger's sort key of an object: `OBJ#` and its key, bounded to DynamoDB's limit (the whole
/// key stays an attribute of the item).
pub fn ledger_sk(object_key: &str) -> String {
    format!("{LEDGER_PREFIX}{}", bounded(object_key, MAX_SORT_KEY_BYTES - LEDGER_PREFIX.len()))
}

/// The ledger entry (latest outcome) of an object of a connection.
pub fn ledger(connection_id: &str, object_key: &str) -> Item {
    key(connection_pk(connection_id), ledger_sk(object_key))
}

/// The start of the sort keys of the keys kept for a connection's next run.
pub const NAMED_PREFIX: &str = "NAMED#";

/// A key kept for a connection's next run (object events named it while the connection could not
/// run), by the key's first reading.
pub fn named(connection_id: &str, object_key: &str) -> Item {
    let sk = format!("{NAMED_PREFIX}{}", bounded(object_key, MAX_SORT_KEY_BYTES - NAMED_PREFIX.len()));
    key(connection_pk(connection_id), sk)
}

/// The start of the sort keys of a connection's runs.
pub const RUN_PREFIX: &str = "RUN#";

/// A run of a connection: by its start (RFC 3339 in milliseconds, so that runs sort by time), then id.
pub fn run(connection_id: &str, started_at: DateTime<Utc>, run_id: &str) -> Item {
    let started = started_at.to_rfc3339_opts(SecondsFormat::Millis, true);
    key(connection_pk(connection_id), format!("{RUN_PREFIX}{started}#{run_id}"))
}

/// The start of the sort keys of a connection's checkpoint pieces.
pub const CHECKPOINT_PREFIX: &str = "CHECKPOINT#";

/// The start of the sort keys of one generation's checkpoint pieces (a generation is the invocation
/// that saved it).
pub fn checkpoint_generation_prefix(generation: &str) -> String {
    format!("{CHECKPOINT_PREFIX}{generation}#")
}

/// One piece of a checkpoint.
pub fn checkpoint_piece(connection_id: &str, generation: &str, piece: usize) -> Item {
    key(connection_pk(connection_id), format!("{}{piece:05}", checkpoint_generation_prefix(generation)))
}

// ---- The records table ----

/// The partitions one connection's records spread over.
pub const SHARDS: u64 = 64;

/// The partition key of a connection's shard `shard`: `<connection>#<shard, two hex digits>`.
pub fn shard_pk(connection_id: &str, shard: u64) -> String {
    // Per record: built by hand rather than through format!'s machinery.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let shard = (shard % SHARDS) as usize;
    let mut key = String::with_capacity(connection_id.len() + 3);
    key.push_str(connection_id);
    key.push('#');
    key.push(HEX[shard >> 4] as char);
    key.push(HEX[shard & 0xf] as char);
    key
}

/// The partition key of a record: its connection and a stable shard of its id. One partition key
/// takes at most 1,000 writes a second; a connection's records spread over [`SHARDS`] of them.
pub fn record_pk(connection_id: &str, record_id: &str) -> String {
    // FNV-1a: stable across builds and platforms (std's SipHash keys are not part of its contract).
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(record_id.as_bytes());
    shard_pk(connection_id, hasher.finish() % SHARDS)
}

/// A record's key in its shard: the sort key is the record id (bounded by the mapping already).
pub fn record(pk: &str, record_id: &str) -> Item {
    key(pk, record_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn text(item: &Item) -> (String, String) {
        let part = |name: &str| item[name].as_s().unwrap().clone();
        (part("pk"), part("sk"))
    }

    #[test]
    fn every_key_is_spelled_as_the_table_of_items_says() {
        let started = Utc.with_ymd_and_hms(2026, 11, 1, 6, 0, 0).unwrap();
        let cases: Vec<(&str, Item, (&str, &str))> = vec![
            ("connection", connection("c1"), ("CONN#c1", "CONN")),
            ("name", name("acme", "Acme payments"), ("NAME#acme#Acme payments", "TENANT#acme")),
            ("name without a tenant", name("", "Acme payments"), ("NAME#Acme payments", "NAME")),
            ("legacy name with a #", name("", "acme#x"), ("NAME#acme#x", "NAME")),
            ("the same in a tenant", name("acme", "x"), ("NAME#acme#x", "TENANT#acme")),
            ("template", template("payments"), ("TEMPLATES", "payments")),
            ("template version", template_version("payments", 7), ("TEMPLATE#payments", "V#000007")),
            ("ledger", ledger("c1", "in/a.csv"), ("CONN#c1", "OBJ#in/a.csv")),
            ("run", run("c1", started, "r1"), ("CONN#c1", "RUN#2026-11-01T06:00:00.000Z#r1")),
            ("checkpoint", checkpoint_piece("c1", "inv", 3), ("CONN#c1", "CHECKPOINT#inv#00003")),
            ("record", record("c1#0a", "k#e#1"), ("c1#0a", "k#e#1")),
        ];
        for (what, item, (pk, sk)) in cases {
            assert_eq!(text(&item), (pk.to_owned(), sk.to_owned()), "{what}");
        }
        assert_eq!(status(ConnectionStatus::NeedsReauth), "STATUS#needs_reauth");
        assert_eq!(tenant("acme"), "TENANT#acme");
        assert_eq!(connection_pk("c1"), "CONN#c1");
        assert_eq!(template_history_pk("payments"), "TEMPLATE#payments");
        assert!(text(&checkpoint_piece("c1", "inv", 0)).1.starts_with(&checkpoint_generation_prefix("inv")));
        assert!(text(&run("c1", started, "r1")).1.starts_with(RUN_PREFIX));
        assert!(text(&ledger("c1", "k")).1.starts_with(LEDGER_PREFIX));
        assert!(checkpoint_generation_prefix("inv").starts_with(CHECKPOINT_PREFIX));
    }

    #[test]
    fn every_key_s3_accepts_fits_the_ledger() {
        let longest = "k".repeat(1024); // S3's limit
        let sk = ledger_sk(&longest);
        assert!(sk.len() <= MAX_SORT_KEY_BYTES, "{}", sk.len());
        assert!(sk.starts_with("OBJ#kkk"), "readable by its beginning");
        assert_ne!(ledger_sk(&format!("{longest}x")), sk, "a different key, a different entry");
        assert_eq!(ledger_sk("in/a.csv"), "OBJ#in/a.csv", "short keys keep the readable form");
    }

    #[test]
    fn record_partitions_are_stable_and_spread() {
        // scripts/bench/ddb.py computes the same (FNV-1a 64 of the id, mod 64).
        assert_eq!(record_pk("c", "a.csv#e#1"), record_pk("c", "a.csv#e#1"));
        assert_eq!(record_pk("c", "k#e#7"), "c#14");
        assert_eq!(shard_pk("c", 63), "c#3f");
        let shards: std::collections::HashSet<_> = (0..10_000).map(|i| record_pk("c", &format!("k#e#{i}"))).collect();
        assert_eq!(shards.len(), SHARDS as usize, "10,000 rows should touch every shard");
    }
}
