//! The customer's side of a connection's set-up: the location fields the platform left open,
//! filled only while the connection is pending, and the generation its set-up links are signed
//! with, moved on to withdraw them. Each one conditional write on the connection item.

use super::admin::conflict_says;
use super::item::s;
use super::{keys, StateTable};
use crate::errors::{corrupt_item, store_error};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use connector_core::connections::Location;
use connector_core::model::ConnectionStatus;
use connector_core::ports::StoreError;
use tracing::instrument;

impl StateTable {
    /// Sets bucket, region, folder and `location_filled_at`, on the condition that the item is
    /// still pending (which also requires that it exists).
    #[instrument(skip(self, location))]
    pub(super) async fn save_filled_location(
        &self,
        connection_id: &str,
        location: &Location,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let filled_at = serde_dynamo::to_attribute_value(at).map_err(|e| corrupt_item("location", e))?;
        // Names, not the words: `bucket` (and others) are DynamoDB reserved words.
        let folder_update = if location.folder.is_some() { ", #folder = :folder" } else { " REMOVE #folder" };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::connection(connection_id)))
            .update_expression(format!(
                "SET #bucket = :bucket, bucket_key = :bucket_key, #region = :region, location_filled_at = :at{folder_update}"
            ))
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#bucket", "bucket")
            .expression_attribute_names("#region", "region")
            .expression_attribute_names("#folder", "folder")
            .expression_attribute_values(":bucket", s(&location.bucket))
            .expression_attribute_values(":bucket_key", s(keys::bucket(&location.bucket)))
            .expression_attribute_values(":region", s(&location.region))
            .expression_attribute_values(":at", filled_at)
            .expression_attribute_values(":pending", s(ConnectionStatus::Pending.as_str()));
        if let Some(folder) = &location.folder {
            request = request.expression_attribute_values(":folder", s(folder));
        }
        request
            .send()
            .await
            .map_err(|e| store_error("saving the customer's location", e))
            .map_err(|e| conflict_says(e, || format!("connection {connection_id} is not pending")))?;
        Ok(())
    }

    /// `ADD link_generation 1` on the condition that the item exists; the new value.
    #[instrument(skip(self))]
    pub(super) async fn next_link_generation(&self, connection_id: &str) -> Result<u64, StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::connection(connection_id)))
            .update_expression("ADD link_generation :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| store_error("withdrawing the set-up links", e))
            .map_err(|e| conflict_says(e, || format!("no connection {connection_id}")))?;
        updated
            .attributes
            .as_ref()
            .and_then(|a| a.get("link_generation"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| corrupt_item("link_generation", "the update returned no number"))
    }
}
