//! The event source mapping, for running the intake outside Lambda: `s3-connector intake` (the
//! demo, a local deployment), the tests and the latency benchmark. It polls the queue as Lambda
//! does, gathers a batch until its size or its window since the first message, builds the
//! `SqsEvent` Lambda would send, and applies the batch response: the messages handed back become
//! visible again at once (Lambda leaves them until the visibility timeout), the rest are deleted.
//! `cargo lambda watch` emulates only the Invoke API, and moto runs no function without Docker.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A queue read as an event source mapping reads it.
pub struct QueuePoller {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
    pub arn: String,
}

/// One batch as the mapping delivers it.
pub struct Batch {
    pub event: SqsEvent,
    /// The bodies, in the order received.
    pub bodies: Vec<String>,
    receipts: HashMap<String, String>,
    /// When its first message was received.
    pub first_received: Instant,
}

type SqsError = Box<dyn std::error::Error + Send + Sync>;

impl QueuePoller {
    /// The queue at `url` (its ARN read once, for the events' `eventSourceARN`).
    pub async fn new(sqs: aws_sdk_sqs::Client, url: &str) -> Result<QueuePoller, SqsError> {
        let attributes = sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::QueueArn);
        let attributes = attributes.send().await?;
        let arn = attributes.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned();
        Ok(QueuePoller { sqs, url: url.to_owned(), arn: arn.ok_or("the queue has no ARN")? })
    }

    /// Receives until `max` messages, or until `window` has passed since the first (the mapping's
    /// batching window); `None` when nothing came within `wait`.
    pub async fn batch(&self, window: Duration, max: usize, wait: Duration) -> Result<Option<Batch>, SqsError> {
        let started = Instant::now();
        let mut first_received = None;
        let (mut records, mut bodies, mut receipts) = (Vec::new(), Vec::new(), HashMap::new());
        loop {
            let deadline = first_received.map_or(started + wait, |first| first + window);
            if records.len() >= max || Instant::now() >= deadline {
                break;
            }
            let receive = self.sqs.receive_message().queue_url(&self.url);
            let got = receive.max_number_of_messages(10.min(max - records.len()) as i32).wait_time_seconds(1);
            for message in got.send().await?.messages() {
                first_received.get_or_insert_with(Instant::now);
                let id = message.message_id().unwrap_or_default().to_owned();
                let body = message.body().unwrap_or_default().to_owned();
                receipts.insert(id.clone(), message.receipt_handle().unwrap_or_default().to_owned());
                records.push(json!({
                    "messageId": id, "receiptHandle": message.receipt_handle(), "body": body,
                    "attributes": {}, "messageAttributes": {}, "md5OfBody": message.md5_of_body(),
                    "eventSource": "aws:sqs", "eventSourceARN": self.arn, "awsRegion": "us-east-1"
                }));
                bodies.push(body);
            }
        }
        let Some(first_received) = first_received else { return Ok(None) };
        let event: SqsEvent = serde_json::from_value(json!({ "Records": records }))?;
        Ok(Some(Batch { event, bodies, receipts, first_received }))
    }

    /// Applies the handler's response: deletes every message it did not hand back, and makes those
    /// it did visible again at once.
    pub async fn settle(&self, batch: &Batch, response: &SqsBatchResponse) -> Result<(), SqsError> {
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        for (id, receipt) in &batch.receipts {
            if failed.contains(&id.as_str()) {
                let again = self.sqs.change_message_visibility().queue_url(&self.url).receipt_handle(receipt);
                again.visibility_timeout(0).send().await?;
            } else {
                self.sqs.delete_message().queue_url(&self.url).receipt_handle(receipt).send().await?;
            }
        }
        Ok(())
    }
}
