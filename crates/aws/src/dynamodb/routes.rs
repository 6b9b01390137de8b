//! Where the intake finds the connections an object event is for: a query of the by-bucket index
//! (only connections with a bucket are in it).

use super::item::s;
use super::{keys, StateTable, BUCKET_INDEX};
use crate::errors::{corrupt_item, store_error};
use async_trait::async_trait;
use connector_core::intake::{Route, Routes};
use connector_core::model::Connection;
use connector_core::ports::StoreError;
use tracing::instrument;

#[async_trait]
impl Routes for StateTable {
    #[instrument(skip(self))]
    async fn routes(&self, bucket: &str) -> Result<Vec<Route>, StoreError> {
        let mut items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BUCKET_INDEX)
            .key_condition_expression("bucket_key = :bucket")
            .expression_attribute_values(":bucket", s(keys::bucket(bucket)))
            .into_paginator()
            .items()
            .send();
        let mut routes = Vec::new();
        while let Some(item) = items.next().await {
            let item = item.map_err(|e| store_error("finding a bucket's connections", e))?;
            let connection: Connection = serde_dynamo::from_item(item).map_err(|e| corrupt_item("connection", e))?;
            // The index is eventually consistent: a bucket changed meanwhile is not this bucket's.
            if connection.bucket == bucket {
                routes.push(Route::of(&connection));
            }
        }
        Ok(routes)
    }
}
