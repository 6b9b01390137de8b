//! The core's [`EventPublisher`] over EventBridge: PutEvents on the deployment's bus
//! (`S3C_EVENT_BUS`, the account's default bus by default), ten entries a request. What is not
//! published is counted (for the worker's `EventsNotPublished` metric) and said in the error; the
//! caller logs it and goes on.

use crate::errors::describe;
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use connector_core::events::{Event, EventPublisher, PublishError, SOURCE};
use std::sync::atomic::{AtomicU64, Ordering};

/// PutEvents takes at most ten entries a request.
const ENTRIES_PER_REQUEST: usize = 10;

pub struct EventBridgePublisher {
    pub client: aws_sdk_eventbridge::Client,
    /// The bus's name or ARN.
    pub bus: String,
    not_published: AtomicU64,
}

impl EventBridgePublisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        EventBridgePublisher { client, bus: bus.into(), not_published: AtomicU64::new(0) }
    }

    /// Events not published since the last call (for a metric per invocation).
    pub fn take_not_published(&self) -> u64 {
        self.not_published.swap(0, Ordering::Relaxed)
    }

    fn entry(&self, event: &Event) -> Result<PutEventsRequestEntry, serde_json::Error> {
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(event.detail_type())
            .detail(serde_json::to_string(event)?)
            .build())
    }

    /// Publishes one request's worth; how many were not published, and why.
    async fn put(&self, events: &[Event]) -> Result<(), (usize, String)> {
        let entries = events
            .iter()
            .map(|e| self.entry(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (events.len(), format!("serialising an event: {e}")))?;
        let output = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| (events.len(), format!("PutEvents on bus {}: {}", self.bus, describe(&e))))?;
        let failed = output.failed_entry_count().max(0) as usize;
        if failed == 0 {
            return Ok(());
        }
        let why = output
            .entries()
            .iter()
            .filter_map(|e| e.error_code().map(|code| format!("{code}: {}", e.error_message().unwrap_or_default())))
            .next()
            .unwrap_or_else(|| "no reason given".into());
        Err((failed, format!("PutEvents on bus {}: {failed} entries failed ({why})", self.bus)))
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[Event]) -> Result<(), PublishError> {
        let (mut not_published, mut messages) = (0, Vec::new());
        for chunk in events.chunks(ENTRIES_PER_REQUEST) {
            if let Err((failed, message)) = self.put(chunk).await {
                not_published += failed;
                messages.push(message);
            }
        }
        if not_published == 0 {
            return Ok(());
        }
        self.not_published.fetch_add(not_published as u64, Ordering::Relaxed);
        Err(PublishError { not_published, message: messages.join("; ") })
    }
}
