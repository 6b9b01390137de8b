//! What runs left behind, read back: a connection's runs (newest first) and its ledger, the latest
//! outcome of each object.

use super::item::s;
use super::{keys, StateTable};
use crate::errors::{corrupt_item, store_error};
use async_trait::async_trait;
use connector_core::manage::ports::RunHistory;
use connector_core::model::{FileOutcome, SyncRun};
use connector_core::ports::StoreError;
use tracing::instrument;

impl StateTable {
    /// The items of a connection whose sort key starts with `prefix`, in order (or reversed), up to
    /// `limit`.
    async fn query_prefix<T: serde::de::DeserializeOwned>(
        &self,
        connection_id: &str,
        prefix: &str,
        forward: bool,
        limit: Option<usize>,
    ) -> Result<Vec<T>, StoreError> {
        let page_size = limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX));
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::connection_pk(connection_id)))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(forward)
            .set_limit(page_size)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| store_error("querying state", e))?;
            out.push(serde_dynamo::from_item(item).map_err(|e| corrupt_item(prefix, e))?);
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl RunHistory for StateTable {
    #[instrument(skip(self))]
    async fn runs(&self, connection_id: &str, limit: usize) -> Result<Vec<SyncRun>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.query_prefix(connection_id, keys::RUN_PREFIX, false, Some(limit)).await
    }

    #[instrument(skip(self))]
    async fn outcomes(&self, connection_id: &str) -> Result<Vec<FileOutcome>, StoreError> {
        self.query_prefix(connection_id, keys::LEDGER_PREFIX, true, None).await
    }

    #[instrument(skip(self))]
    async fn outcome(&self, connection_id: &str, key: &str) -> Result<Option<FileOutcome>, StoreError> {
        let item = self.get(keys::ledger(connection_id, key), "reading an outcome").await?;
        item.map(|item| serde_dynamo::from_item(item).map_err(|e| corrupt_item("outcome", e))).transpose()
    }
}
