//! What S3 says happened in a customer's bucket: an object created or deleted, as an SQS message
//! carries it. Two shapes arrive: the EventBridge event (`detail-type` "Object Created", the
//! delivery this project sets up; an EventBridge rule's SQS target carries the event itself as the
//! message body) and S3's own event notification (`Records`, S3 straight to a queue), with S3's
//! test message when a notification configuration is saved. Anything else is [`ObjectEvent::Other`],
//! counted and dropped by the caller, never an error: one odd message must not hold a batch back.
//!
//! Keys: S3's notifications URL-encode them as a form does (`red flower.jpg` is `red+flower.jpg`).
//! EventBridge's documentation says nothing of it and peers read them both ways, so an EventBridge
//! key is tried decoded first and then as written ([`ObjectKey::candidates`]): a key with `+` or
//! `%` costs one more HEAD when the first guess is wrong, and no key is missed.
//!
//! Nothing here is trusted beyond naming a key: its ETag and size are the event's, the HEAD the
//! import makes decides (an event may be late, repeated or out of order).

use serde::Deserialize;
use serde_json::Value;

/// One thing a message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectEvent {
    Created(NamedObject),
    Deleted(NamedObject),
    /// S3's `s3:TestEvent`, sent when a notification configuration is saved.
    Test,
    /// Another S3 event (tags added, a restore...) or another service's: what it called itself.
    Other(String),
}

/// The object an event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedObject {
    pub bucket: String,
    pub key: ObjectKey,
    /// As the event says (without quotes); absent from some events.
    pub etag: Option<String>,
    pub size: Option<u64>,
    /// The bucket owner's account, when the event says (EventBridge's `account`).
    pub account: Option<String>,
    /// S3's per-key ordering token, when the event has one.
    pub sequencer: Option<String>,
}

/// A key as an event gives it: the key to try first and, when the event may or may not have
/// URL-encoded it, the other reading.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
pub struct ObjectKey {
    pub first: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<String>,
}

impl ObjectKey {
    /// A key known exactly (not from an event's text).
    pub fn exact(key: &str) -> ObjectKey {
        ObjectKey { first: key.to_owned(), otherwise: None }
    }
}

impl ObjectKey {
    /// A key that an event certainly encoded (S3's notifications).
    fn encoded(raw: &str) -> ObjectKey {
        ObjectKey { first: form_decoded(raw), otherwise: None }
    }

    /// A key that an event may have encoded (EventBridge): decoded first, then as written.
    fn perhaps_encoded(raw: &str) -> ObjectKey {
        let decoded = form_decoded(raw);
        let otherwise = (decoded != raw).then(|| raw.to_owned());
        ObjectKey { first: decoded, otherwise }
    }

    /// The keys to look for, in order.
    pub fn candidates(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.first.as_str()).chain(self.otherwise.as_deref())
    }
}

/// `+` as a space, then `%XX` as UTF-8 bytes (an escape that is not one stays as written).
fn form_decoded(raw: &str) -> String {
    form_urlencoded::parse(format!("k={raw}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| raw.to_owned())
}

/// Why a message says nothing readable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnreadableMessage {
    #[error("the message is not JSON: {0}")]
    NotJson(String),
    #[error("an S3 event without its {0}")]
    Incomplete(&'static str),
}

/// What one message's body says: one event (EventBridge), or each record (S3's notifications).
pub fn parse_message(body: &str) -> Result<Vec<ObjectEvent>, UnreadableMessage> {
    let value: Value = serde_json::from_str(body).map_err(|e| UnreadableMessage::NotJson(e.to_string()))?;
    if let Some(records) = value.get("Records").and_then(Value::as_array) {
        return records.iter().map(notification_record).collect();
    }
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(vec![ObjectEvent::Test]);
    }
    let detail_type = value.get("detail-type").and_then(Value::as_str).unwrap_or_default().to_owned();
    let source = value.get("source").and_then(Value::as_str).unwrap_or_default();
    if source != "aws.s3" || !matches!(detail_type.as_str(), "Object Created" | "Object Deleted") {
        let what = if detail_type.is_empty() { "a message of no known shape".to_owned() } else { detail_type };
        return Ok(vec![ObjectEvent::Other(what)]);
    }
    let envelope: EventBridgeEnvelope =
        serde_json::from_value(value).map_err(|_| UnreadableMessage::Incomplete("bucket name or object key"))?;
    let detail = envelope.detail;
    let object = NamedObject {
        bucket: detail.bucket.name,
        key: ObjectKey::perhaps_encoded(&detail.object.key),
        etag: detail.object.etag.map(|e| e.trim_matches('"').to_owned()),
        size: detail.object.size,
        account: envelope.account,
        sequencer: detail.object.sequencer,
    };
    Ok(vec![if detail_type == "Object Created" { ObjectEvent::Created(object) } else { ObjectEvent::Deleted(object) }])
}

fn notification_record(record: &Value) -> Result<ObjectEvent, UnreadableMessage> {
    let name = record.get("eventName").and_then(Value::as_str).unwrap_or_default();
    let created = name.starts_with("ObjectCreated:");
    if !created && !name.starts_with("ObjectRemoved:") {
        return Ok(ObjectEvent::Other(if name.is_empty() { "a record without an eventName" } else { name }.to_owned()));
    }
    let s3: NotificationS3 = serde_json::from_value(record.get("s3").cloned().unwrap_or_default())
        .map_err(|_| UnreadableMessage::Incomplete("bucket name or object key"))?;
    let object = NamedObject {
        bucket: s3.bucket.name,
        key: ObjectKey::encoded(&s3.object.key),
        etag: s3.object.etag.map(|e| e.trim_matches('"').to_owned()),
        size: s3.object.size,
        account: None,
        sequencer: s3.object.sequencer,
    };
    Ok(if created { ObjectEvent::Created(object) } else { ObjectEvent::Deleted(object) })
}

#[derive(Deserialize)]
struct EventBridgeEnvelope {
    #[serde(default)]
    account: Option<String>,
    detail: EventBridgeDetail,
}

#[derive(Deserialize)]
struct EventBridgeDetail {
    bucket: BucketName,
    object: EventObject,
}

#[derive(Deserialize)]
struct NotificationS3 {
    bucket: BucketName,
    object: EventObject,
}

#[derive(Deserialize)]
struct BucketName {
    name: String,
}

/// The object of either shape: EventBridge writes `etag`, S3's notifications `eTag` (and moto
/// `eTag` in both).
#[derive(Deserialize)]
struct EventObject {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "etag", alias = "eTag")]
    etag: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eventbridge(detail_type: &str, key: &str) -> String {
        json!({
            "version": "0", "id": "1", "detail-type": detail_type, "source": "aws.s3", "account": "111122223333",
            "time": "2026-12-01T00:00:00Z", "region": "eu-west-1", "resources": ["arn:aws:s3:::acme"],
            "detail": { "version": "0", "bucket": { "name": "acme" },
                "object": { "key": key, "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184", "sequencer": "617f08299329d189" },
                "reason": "PutObject" }
        })
        .to_string()
    }

    fn created(events: Vec<ObjectEvent>) -> NamedObject {
        match events.as_slice() {
            [ObjectEvent::Created(object)] => object.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_eventbridge_object_created_names_bucket_key_etag_size_owner_and_sequencer() {
        let object = created(parse_message(&eventbridge("Object Created", "in/2026/a.csv")).unwrap());
        assert_eq!(object.bucket, "acme");
        assert_eq!(object.key, ObjectKey { first: "in/2026/a.csv".into(), otherwise: None });
        assert_eq!(object.etag.as_deref(), Some("b1946ac92492d2347c6235b4d2611184"));
        assert_eq!((object.size, object.account.as_deref()), (Some(5), Some("111122223333")));
        assert_eq!(object.sequencer.as_deref(), Some("617f08299329d189"));
    }

    #[test]
    fn an_eventbridge_key_is_tried_decoded_then_as_written() {
        let object = created(parse_message(&eventbridge("Object Created", "in/a+b%2Bc%C3%A9.csv")).unwrap());
        let candidates: Vec<&str> = object.key.candidates().collect();
        assert_eq!(candidates, ["in/a b+cé.csv", "in/a+b%2Bc%C3%A9.csv"]);
        // As moto writes it (not encoded): the raw key is the second guess.
        let object = created(parse_message(&eventbridge("Object Created", "in/a b+c.csv")).unwrap());
        assert_eq!(object.key.candidates().collect::<Vec<_>>(), ["in/a b c.csv", "in/a b+c.csv"]);
        // A `%` that is no escape stays.
        let object = created(parse_message(&eventbridge("Object Created", "in/100%.csv")).unwrap());
        assert_eq!(object.key.candidates().collect::<Vec<_>>(), ["in/100%.csv"]);
    }

    #[test]
    fn a_notification_key_is_decoded_as_s3_encodes_it() {
        let body = json!({ "Records": [
            { "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": "acme" },
                "object": { "key": "in%2Fa+b%2Bc%26%C3%A9%3Dx.csv", "size": 4, "eTag": "\"34ff\"" } } },
            { "eventName": "ObjectRemoved:Delete", "s3": { "bucket": { "name": "acme" }, "object": { "key": "in%2Fold.csv" } } },
            { "eventName": "ObjectRestore:Completed", "s3": { "bucket": { "name": "acme" }, "object": { "key": "x" } } }
        ]});
        let events = parse_message(&body.to_string()).unwrap();
        let [ObjectEvent::Created(created), ObjectEvent::Deleted(deleted), ObjectEvent::Other(other)] =
            events.as_slice()
        else {
            panic!("{events:?}")
        };
        assert_eq!(created.key, ObjectKey { first: "in/a b+c&é=x.csv".into(), otherwise: None });
        assert_eq!(created.etag.as_deref(), Some("34ff"), "quotes dropped");
        assert_eq!(deleted.key.first, "in/old.csv");
        assert_eq!(other, "ObjectRestore:Completed");
    }

    /// The samples in events/s3: the event as EventBridge delivers it, and SQS messages carrying
    /// it and S3's own notification (after its test message). Each names the same object.
    #[test]
    fn the_sample_events_name_the_same_object() {
        let key = "payments/2026-12-01 batch+1.csv";
        let direct =
            created(parse_message(include_str!("../../../events/s3/object-created.eventbridge.json")).unwrap());
        assert_eq!(direct.key.first, "payments/2026-12-01 batch 1.csv", "decoded first");
        assert_eq!(direct.key.otherwise.as_deref(), Some(key), "then as written");
        let bodies = |sqs: &str| -> Vec<String> {
            let event: Value = serde_json::from_str(sqs).unwrap();
            let records = event["Records"].as_array().unwrap();
            records.iter().map(|r| r["body"].as_str().unwrap().to_owned()).collect()
        };
        let carried = bodies(include_str!("../../../events/s3/object-created.sqs.json"));
        assert_eq!(created(parse_message(&carried[0]).unwrap()), direct);
        let notified = bodies(include_str!("../../../events/s3/notification.sqs.json"));
        assert_eq!(parse_message(&notified[0]).unwrap(), [ObjectEvent::Test]);
        let object = created(parse_message(&notified[1]).unwrap());
        assert_eq!(object.key, ObjectKey { first: key.into(), otherwise: None });
        assert_eq!((object.bucket.as_str(), object.etag.as_deref()), ("acme-exports", direct.etag.as_deref()));
    }

    #[test]
    fn deletions_tests_and_other_messages_are_told_apart_and_garbage_is_unreadable() {
        assert!(matches!(
            parse_message(&eventbridge("Object Deleted", "a.csv")).unwrap()[..],
            [ObjectEvent::Deleted(_)]
        ));
        let tags = parse_message(&eventbridge("Object Tags Added", "a.csv")).unwrap();
        assert_eq!(tags, [ObjectEvent::Other("Object Tags Added".into())]);
        let test =
            r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-12-01T20:16:57.209Z","Bucket":"acme"}"#;
        assert_eq!(parse_message(test).unwrap(), [ObjectEvent::Test]);
        assert_eq!(
            parse_message(r#"{"hello":1}"#).unwrap(),
            [ObjectEvent::Other("a message of no known shape".into())]
        );
        assert!(matches!(parse_message("not json"), Err(UnreadableMessage::NotJson(_))));
        let no_key = json!({ "source": "aws.s3", "detail-type": "Object Created", "detail": { "bucket": { "name": "b" }, "object": {} } });
        assert_eq!(parse_message(&no_key.to_string()), Err(UnreadableMessage::Incomplete("bucket name or object key")));
    }
}
