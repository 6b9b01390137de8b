//! The object-event queue as deployed, for tests/intake.rs: the bucket sends its events to
//! EventBridge, and a rule on a bus of the test's own sends Object Created of that bucket to the
//! queue, which the intake's poller ([`intake::poller`], the event source mapping outside Lambda)
//! reads. (moto gives every bus of an account S3's events, where AWS gives them to the default bus,
//! from which the customer's rule forwards them: the rule's pattern, bucket and event type, is the
//! customer's.)

use super::{unique, World};
pub use intake::poller::Batch;
use intake::poller::QueuePoller;
use serde_json::{json, Value};
use std::time::Duration;

pub struct ObjectEventQueue {
    pub poller: QueuePoller,
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
        let poller = QueuePoller::new(sqs, queue.queue_url().expect("a queue url")).await.expect("the queue");
        let events = world.aws.eventbridge();
        let bus = unique("object-bus");
        events.create_event_bus().name(&bus).send().await.expect("creating the bus");
        let pattern = json!({"source": ["aws.s3"], "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": [world.bucket]}}});
        let rule = unique("object-events");
        let put = events.put_rule().name(&rule).event_bus_name(&bus).event_pattern(pattern.to_string());
        put.send().await.expect("creating the rule");
        let target = aws_sdk_eventbridge::types::Target::builder().id("queue").arn(&poller.arn).build();
        let targets = events.put_targets().rule(&rule).event_bus_name(&bus).targets(target.expect("a target"));
        targets.send().await.expect("targeting the queue");
        ObjectEventQueue { poller }
    }

    /// See [`QueuePoller::batch`].
    pub async fn batch(&self, window: Duration, max: usize, wait: Duration) -> Option<Batch> {
        self.poller.batch(window, max, wait).await.expect("receiving")
    }

    /// See [`QueuePoller::settle`].
    pub async fn settle(&self, batch: &Batch, response: &aws_lambda_events::event::sqs::SqsBatchResponse) {
        self.poller.settle(batch, response).await.expect("settling the batch");
    }

    /// Sends bodies to the queue again, as a duplicate delivery would.
    pub async fn send_again(&self, bodies: impl IntoIterator<Item = &String>) {
        for body in bodies {
            let send = self.poller.sqs.send_message().queue_url(&self.poller.url).message_body(body);
            send.send().await.expect("sending");
        }
    }
}

/// The events of a batch's bodies, parsed (for what a test checks of them).
pub fn bodies(batch: &Batch) -> Vec<Value> {
    batch.bodies.iter().map(|b| serde_json::from_str(b).expect("a JSON body")).collect()
}
