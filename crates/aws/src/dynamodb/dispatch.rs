//! The by-status index as the dispatcher sees it: the connections of one status, page by page, with
//! their lease, the scheduled event they last finished and when their next scan is due; and how many
//! there are.

use super::item::s;
use super::sync::dispatch_candidate;
use super::{keys, StateTable};
use crate::errors::store_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use chrono::{DateTime, Utc};
use connector_core::dispatch::{ConnectionIndex, DispatchCandidate};
use connector_core::model::ConnectionStatus;
use connector_core::ports::{StoreError, StoreErrorKind};
use futures::stream::BoxStream;

#[async_trait]
impl ConnectionIndex for StateTable {
    fn connections(&self, status: ConnectionStatus) -> BoxStream<'_, Result<DispatchCandidate, StoreError>> {
        let items = self
            .status_query(status)
            .projection_expression(
                "#id, lease_owner, lease_until, scan_every_hours, #sync.last_schedule_run, #sync.last_scan_started, \
                 #sync.last_sync_started, #sync.last_result",
            )
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#sync", "sync")
            .into_paginator()
            .items()
            .send();
        let stream = futures::stream::unfold(items, |mut items| async move {
            let item = items.next().await?;
            let candidate = item.map_err(|e| store_error("reading the status index", e)).and_then(dispatch_candidate);
            Some((
                candidate.map(|c| DispatchCandidate {
                    id: c.id,
                    lease_until: c.lease_until,
                    last_schedule_run: c.last_schedule_run,
                    scan_every_hours: c.scan_every_hours,
                    last_scan_started: c.last_scan_started,
                    last_sync_started: c.last_sync_started,
                    last_result: c.last_result,
                }),
                items,
            ))
        });
        Box::pin(stream)
    }

    async fn owe_scan(&self, connection_id: &str, schedule_run: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let owed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::connection(connection_id)))
            .update_expression("SET scan_owed = :run")
            // Not for an event whose scan already finished (a second delivery of it).
            .condition_expression(
                "lease_until > :now AND (attribute_not_exists(#sync.last_schedule_run) OR #sync.last_schedule_run <> :run)",
            )
            .expression_attribute_names("#sync", "sync")
            .expression_attribute_values(":run", s(schedule_run))
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp_millis().to_string()))
            .send()
            .await
            .map_err(|e| store_error("owing a scan", e));
        match owed {
            Ok(_) => Ok(true),
            Err(e) if e.kind == StoreErrorKind::Conflict => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn count(&self, status: ConnectionStatus) -> Result<u64, StoreError> {
        let mut pages = self.status_query(status).select(Select::Count).into_paginator().send();
        let mut total = 0u64;
        while let Some(page) = pages.next().await {
            total += page.map_err(|e| store_error("counting connections", e))?.count.max(0) as u64;
        }
        Ok(total)
    }
}
