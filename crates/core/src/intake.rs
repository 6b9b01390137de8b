//! Object events in, runs out: a batch of queue messages sorted into the keys each connection is to
//! look at, and everything else counted by why it was dropped. The connections of a bucket come
//! from a narrow port ([`Routes`]); deciding what is imported stays with the engine (a run of named
//! keys, [`crate::engine::Invocation::for_events`]), so nothing here can import twice.
//!
//! An event goes to every connection of its bucket whose folder holds the key (two connections of
//! one folder import it each, as their scans would). It is dropped, and counted, when:
//! - no connection reads its bucket, or none's folder holds the key;
//! - it says which account owns the bucket and that is not the connection's (a bucket of the same
//!   name re-created elsewhere);
//! - the connection is scheduled (its scans import the object);
//! - it tells of a deletion (the ledger keeps what was imported; nothing is undone), or of
//!   something else, or is S3's test message, or cannot be read.
//!
//! A connection that is paused, needs re-authentication or is still pending keeps its keys for its
//! next run ([`Intake::waiting`]) rather than importing now: the events of an upload older than the
//! scan's window would otherwise be lost.

use crate::model::{Connection, ConnectionStatus, NamedKey, SyncMode};
use crate::object_events::{parse_message, ObjectEvent};
use crate::ports::StoreError;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};

/// One queue message: its id (what a partial batch failure names) and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub body: String,
}

/// What routing needs of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub connection_id: String,
    pub account_id: String,
    /// `a/b/` or none (the whole bucket), as connections keep it.
    pub folder: Option<String>,
    pub status: ConnectionStatus,
    pub mode: SyncMode,
}

impl Route {
    pub fn of(connection: &Connection) -> Route {
        Route {
            connection_id: connection.id.clone(),
            account_id: connection.account_id.clone(),
            folder: connection.folder.clone(),
            status: connection.status,
            mode: connection.mode,
        }
    }
}

/// The connections that read a bucket.
#[async_trait]
pub trait Routes: Send + Sync {
    /// Every connection whose bucket is `bucket` (a connection whose bucket the customer has not
    /// filled yet has none), read from an index, never a scan.
    async fn routes(&self, bucket: &str) -> Result<Vec<Route>, StoreError>;
}

/// The keys one connection is to look at, and the messages they came in (each message's keys are
/// done when every connection it went to is done with them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionKeys {
    pub keys: Vec<NamedKey>,
    pub messages: Vec<String>,
}

/// Why events were dropped, counted (each a metric of the intake function).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Dropped {
    pub unreadable: u64,
    pub test_messages: u64,
    pub deletions: u64,
    pub other_events: u64,
    pub no_connection: u64,
    pub outside_folder: u64,
    pub wrong_account: u64,
    pub scheduled: u64,
}

/// A batch sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intake {
    /// By connection id: keys to import now.
    pub now: BTreeMap<String, ConnectionKeys>,
    /// By connection id: keys kept for the connection's next run (it cannot run now).
    pub waiting: BTreeMap<String, ConnectionKeys>,
    pub dropped: Dropped,
    /// Events that reached at least one connection.
    pub routed: u64,
}

/// What the intake did with one batch: its log line and its metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub messages: u64,
    /// Events that reached at least one connection.
    pub routed: u64,
    pub dropped: Dropped,
    /// Connections whose keys were imported in this invocation (or handed over to the worker).
    pub runs: u64,
    /// Connections whose keys were kept for their next run: paused, needing re-authentication,
    /// pending, or another run held the lease.
    pub kept: u64,
    /// Messages handed back to the queue (a run failed on a transient error); the queue delivers
    /// them again, and after its last attempt to the dead-letter queue.
    pub failed_messages: u64,
}

/// Sorts a batch of messages. A store error (reading a bucket's connections) fails the batch:
/// the queue delivers it again.
pub async fn sort(messages: &[Message], routes: &dyn Routes) -> Result<Intake, StoreError> {
    let mut intake = Intake::default();
    let mut known: HashMap<String, Vec<Route>> = HashMap::new();
    for message in messages {
        let events = match parse_message(&message.body) {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(message_id = %message.id, error = %e, "an unreadable message; dropped");
                intake.dropped.unreadable += 1;
                continue;
            }
        };
        for event in events {
            let object = match event {
                ObjectEvent::Created(object) => object,
                ObjectEvent::Deleted(_) => {
                    intake.dropped.deletions += 1;
                    continue;
                }
                ObjectEvent::Test => {
                    intake.dropped.test_messages += 1;
                    continue;
                }
                ObjectEvent::Other(_) => {
                    intake.dropped.other_events += 1;
                    continue;
                }
            };
            if !known.contains_key(&object.bucket) {
                known.insert(object.bucket.clone(), routes.routes(&object.bucket).await?);
            }
            let bucket_routes = &known[&object.bucket];
            if bucket_routes.is_empty() {
                intake.dropped.no_connection += 1;
                continue;
            }
            let mut reached = false;
            let mut in_folder = false;
            for route in bucket_routes {
                let folder = route.folder.as_deref().unwrap_or("");
                if !object.key.candidates().any(|key| key.starts_with(folder)) {
                    continue;
                }
                in_folder = true;
                if object.account.as_deref().is_some_and(|owner| owner != route.account_id) {
                    intake.dropped.wrong_account += 1;
                    continue;
                }
                if route.mode == SyncMode::Scheduled {
                    intake.dropped.scheduled += 1;
                    continue;
                }
                let target = match route.status {
                    ConnectionStatus::Active => &mut intake.now,
                    ConnectionStatus::Paused | ConnectionStatus::NeedsReauth | ConnectionStatus::Pending => {
                        &mut intake.waiting
                    }
                };
                let keys = target.entry(route.connection_id.clone()).or_default();
                keys.keys.push(NamedKey { key: object.key.clone(), etag: object.etag.clone() });
                if keys.messages.last() != Some(&message.id) {
                    keys.messages.push(message.id.clone());
                }
                reached = true;
            }
            if !in_folder {
                intake.dropped.outside_folder += 1;
            }
            if reached {
                intake.routed += 1;
            }
        }
    }
    Ok(intake)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_events::ObjectKey;
    use serde_json::json;

    struct Fixed(Vec<(&'static str, Route)>);

    #[async_trait]
    impl Routes for Fixed {
        async fn routes(&self, bucket: &str) -> Result<Vec<Route>, StoreError> {
            Ok(self.0.iter().filter(|(b, _)| *b == bucket).map(|(_, r)| r.clone()).collect())
        }
    }

    fn route(id: &str, folder: Option<&str>, status: ConnectionStatus, mode: SyncMode) -> Route {
        Route {
            connection_id: id.into(),
            account_id: "111122223333".into(),
            folder: folder.map(str::to_owned),
            status,
            mode,
        }
    }

    fn created(id: &str, bucket: &str, key: &str, account: Option<&str>) -> Message {
        let mut event = json!({
            "version": "0", "detail-type": "Object Created", "source": "aws.s3",
            "detail": { "bucket": { "name": bucket }, "object": { "key": key, "etag": "e1", "size": 1 } }
        });
        if let Some(account) = account {
            event["account"] = json!(account);
        }
        Message { id: id.into(), body: event.to_string() }
    }

    fn keys(keys: &ConnectionKeys) -> Vec<&str> {
        keys.keys.iter().map(|k| k.key.first.as_str()).collect()
    }

    #[tokio::test]
    async fn events_go_to_every_connection_whose_folder_holds_the_key_by_status_and_the_rest_are_counted() {
        use ConnectionStatus::*;
        let routes = Fixed(vec![
            ("acme", route("all", None, Active, SyncMode::Events)),
            ("acme", route("payments", Some("payments/"), Active, SyncMode::Events)),
            ("acme", route("paused", Some("payments/"), Paused, SyncMode::Events)),
            ("acme", route("daily", Some("payments/"), Active, SyncMode::Scheduled)),
            ("globex", route("refunds", Some("refunds/"), NeedsReauth, SyncMode::Events)),
        ]);
        let deleted = json!({ "detail-type": "Object Deleted", "source": "aws.s3",
            "detail": { "bucket": { "name": "acme" }, "object": { "key": "payments/a.csv" } } });
        let messages = [
            created("m1", "acme", "payments/a.csv", Some("111122223333")),
            created("m2", "acme", "other/b.csv", None),
            created("m3", "globex", "refunds/c.csv", None),
            created("m4", "globex", "elsewhere/d.csv", None),
            created("m5", "initech", "x.csv", None),
            created("m6", "acme", "payments/e.csv", Some("999999999999")),
            Message { id: "m7".into(), body: deleted.to_string() },
            Message { id: "m8".into(), body: r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#.into() },
            Message { id: "m9".into(), body: "not json".into() },
            created("m1", "acme", "payments/a.csv", Some("111122223333")),
        ];
        let intake = sort(&messages, &routes).await.unwrap();
        assert_eq!(intake.now.keys().collect::<Vec<_>>(), ["all", "payments"]);
        assert_eq!(keys(&intake.now["all"]), ["payments/a.csv", "other/b.csv", "payments/a.csv"], "dupes: the engine");
        assert_eq!(intake.now["all"].messages, ["m1", "m2", "m1"]);
        assert_eq!(keys(&intake.now["payments"]), ["payments/a.csv", "payments/a.csv"]);
        assert_eq!(intake.waiting.keys().collect::<Vec<_>>(), ["paused", "refunds"]);
        assert_eq!(keys(&intake.waiting["refunds"]), ["refunds/c.csv"]);
        let dropped = &intake.dropped;
        assert_eq!((dropped.scheduled, dropped.outside_folder, dropped.no_connection), (2, 1, 1), "{dropped:?}");
        // m6: another owner, for each of the four connections of its folder.
        assert_eq!(dropped.wrong_account, 4, "{dropped:?}");
        assert_eq!((dropped.deletions, dropped.test_messages, dropped.unreadable), (1, 1, 1));
        assert_eq!(intake.routed, 4, "m1 twice, m2, m3");
        assert_eq!(intake.now["all"].keys[0].key, ObjectKey::exact("payments/a.csv"));
        assert_eq!(intake.now["all"].keys[0].etag.as_deref(), Some("e1"));
    }

    struct Failing;

    #[async_trait]
    impl Routes for Failing {
        async fn routes(&self, _bucket: &str) -> Result<Vec<Route>, StoreError> {
            Err(StoreError::new(crate::ports::StoreErrorKind::Transient, "throttled"))
        }
    }

    #[tokio::test]
    async fn a_store_error_fails_the_batch() {
        let messages = [created("m1", "acme", "a.csv", None)];
        assert!(sort(&messages, &Failing).await.is_err());
        // A batch with nothing to route reads no store.
        let test = Message { id: "t".into(), body: r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#.into() };
        assert_eq!(sort(&[test], &Failing).await.unwrap().dropped.test_messages, 1);
    }
}
