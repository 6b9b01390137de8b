//! The object-event queue and its event source mapping, as Lambda runs them for the intake:
//! `cargo lambda watch` emulates only the Invoke API, and moto runs no function without Docker, so
//! the tests poll the queue, build the `SqsEvent` Lambda would send, call the intake's handler in
//! process and apply its batch response (delete what succeeded, hand back the failures).
//!
//! The queue is fed as deployed: the bucket sends its events to EventBridge, and a rule on a bus
//! of the test's own sends Object Created of that bucket to the queue. (moto gives every bus of an
//! account S3's events, where AWS gives them to the default bus, from which the customer's rule
//! forwards them: the rule's pattern, bucket and event type, is the customer's.)

use super::{unique, World};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub struct ObjectEventQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
    pub arn: String,
}

/// One batch as the mapping delivers it, and where each message is in the queue.
pub struct Batch {
    pub event: SqsEvent,
    /// The bodies, in the order received.
    pub bodies: Vec<String>,
    receipts: HashMap<String, String>,
    /// When its first message was received.
    pub first_received: Instant,
}

impl ObjectEventQueue {
    /// Turns on EventBridge delivery on the world's bucket, and makes a bus, a rule for the
    /// bucket's Object Created events and the queue it fills.
    pub async fn for_bucket(world: &World) -> ObjectEventQueue {
        let s3 = &world.s3;
        let notifications = aws_sdk_s3::types::NotificationConfiguration::builder()
            .event_bridge_configuration(aws_sdk_s3::types::EventBridgeConfiguration::builder().build())
            .build();
        let enabled =
            s3.put_bucket_notification_configuration().bucket(&world.bucket).notification_configuration(notifications);
        enabled.send().await.expect("turning on EventBridge for the bucket");
        let sqs = aws_sdk_sqs::Client::new(&world.aws.sdk);
        let queue = sqs.create_queue().queue_name(unique("object-events")).send().await.expect("creating the queue");
        let url = queue.queue_url().expect("a queue url").to_owned();
        let attributes = sqs.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::QueueArn);
        let attributes = attributes.send().await.expect("reading the queue's arn");
        let arn = attributes.attributes().expect("attributes")[&QueueAttributeName::QueueArn].clone();
        let events = world.aws.eventbridge();
        let bus = unique("object-bus");
        events.create_event_bus().name(&bus).send().await.expect("creating the bus");
        let pattern = json!({"source": ["aws.s3"], "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": [world.bucket]}}});
        let rule = unique("object-events");
        let put = events.put_rule().name(&rule).event_bus_name(&bus).event_pattern(pattern.to_string());
        put.send().await.expect("creating the rule");
        let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(&arn).build().expect("a target");
        events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(target)
            .send()
            .await
            .expect("targeting the queue");
        ObjectEventQueue { sqs, url, arn }
    }

    /// Receives until `max` messages, or until `window` has passed since the first (the mapping's
    /// batching window); `None` when nothing came within `wait`.
    pub async fn batch(&self, window: Duration, max: usize, wait: Duration) -> Option<Batch> {
        let started = Instant::now();
        let mut first_received = None;
        let mut records = Vec::new();
        let mut bodies = Vec::new();
        let mut receipts = HashMap::new();
        loop {
            let deadline = match first_received {
                Some(first) => first + window,
                None => started + wait,
            };
            if records.len() >= max || Instant::now() >= deadline {
                break;
            }
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10.min((max - records.len()) as i32))
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receiving");
            for message in got.messages() {
                first_received.get_or_insert_with(Instant::now);
                let id = message.message_id().expect("an id").to_owned();
                let body = message.body().unwrap_or_default().to_owned();
                receipts.insert(id.clone(), message.receipt_handle().expect("a receipt").to_owned());
                records.push(json!({
                    "messageId": id, "receiptHandle": message.receipt_handle(), "body": body,
                    "attributes": {}, "messageAttributes": {}, "md5OfBody": message.md5_of_body(),
                    "eventSource": "aws:sqs", "eventSourceARN": self.arn, "awsRegion": "us-east-1"
                }));
                bodies.push(body);
            }
        }
        let first_received = first_received?;
        let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).expect("an SqsEvent");
        Some(Batch { event, bodies, receipts, first_received })
    }

    /// Applies the handler's response: deletes every message it did not hand back, and makes those
    /// it did visible again at once (Lambda leaves them until the visibility timeout).
    pub async fn settle(&self, batch: &Batch, response: &SqsBatchResponse) {
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        for (id, receipt) in &batch.receipts {
            if failed.contains(&id.as_str()) {
                let again = self.sqs.change_message_visibility().queue_url(&self.url).receipt_handle(receipt);
                again.visibility_timeout(0).send().await.expect("handing a message back");
            } else {
                let delete = self.sqs.delete_message().queue_url(&self.url).receipt_handle(receipt);
                delete.send().await.expect("deleting a message");
            }
        }
    }

    /// Sends bodies to the queue again, as a duplicate delivery would.
    pub async fn send_again(&self, bodies: impl IntoIterator<Item = &String>) {
        for body in bodies {
            self.sqs.send_message().queue_url(&self.url).message_body(body).send().await.expect("sending");
        }
    }

    /// Drops everything the queue holds (a lost delivery).
    pub async fn lose_everything(&self) {
        while let Some(batch) = self.batch(Duration::from_millis(200), 10, Duration::from_secs(2)).await {
            self.settle(&batch, &SqsBatchResponse::default()).await;
        }
    }
}

/// The events of a batch's bodies, parsed (for what a test checks of them).
pub fn bodies(batch: &Batch) -> Vec<Value> {
    batch.bodies.iter().map(|b| serde_json::from_str(b).expect("a JSON body")).collect()
}
