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

    /// Publishes one request's worth; how many were not published, and why. Entries refused on
    /// their own (throttled, an internal failure) are sent once more, as AWS advises.
    async fn put(&self, events: &[Event]) -> Result<(), (usize, String)> {
        let mut entries = events
            .iter()
            .map(|e| self.entry(e))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| (events.len(), format!("serialising an event: {e}")))?;
        let mut why = String::new();
        for _attempt in 0..2 {
            let output = self
                .client
                .put_events()
                .set_entries(Some(entries.clone()))
                .send()
                .await
                .map_err(|e| (entries.len(), format!("PutEvents on bus {}: {}", self.bus, describe(&e))))?;
            if output.failed_entry_count() <= 0 {
                return Ok(());
            }
            // The answer's entries are in the request's order; the refused ones carry an error code.
            let refused: Vec<(PutEventsRequestEntry, String)> = entries
                .iter()
                .zip(output.entries())
                .filter_map(|(sent, result)| {
                    let code = result.error_code()?;
                    Some((sent.clone(), format!("{code}: {}", result.error_message().unwrap_or_default())))
                })
                .collect();
            why = refused.first().map(|(_, why)| why.clone()).unwrap_or_else(|| "no reason given".into());
            entries = refused.into_iter().map(|(entry, _)| entry).collect();
            if entries.is_empty() {
                return Ok(());
            }
        }
        Err((entries.len(), format!("PutEvents on bus {}: {} entries refused ({why})", self.bus, entries.len())))
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
