//! Templates in the state table: the current version of each under `TEMPLATES`, and every saved
//! version under `TEMPLATE#<id>`, kept for the runs that name them.

use super::item::{n, number, s, Item};
use super::{keys, StateTable};
use crate::errors::{corrupt_item, store_error};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::Utc;
use connector_core::manage::ports::Templates;
use connector_core::ports::StoreError;
use connector_core::template::Template;
use tracing::instrument;

fn template_item(item: Item) -> Result<(Template, u32), StoreError> {
    let Some(AttributeValue::S(document)) = item.get("document") else {
        return Err(corrupt_item("template", "no document"));
    };
    let version = number(&item, "version").unwrap_or(1);
    Ok((Template::from_json(document).map_err(|e| corrupt_item("template", e))?, version))
}

#[async_trait]
impl Templates for StateTable {
    #[instrument(skip(self))]
    async fn template(&self, id: &str, version: Option<u32>) -> Result<Option<(Template, u32)>, StoreError> {
        let key = match version {
            None => keys::template(id),
            Some(v) => keys::template_version(id, v),
        };
        self.get(key, "reading template").await?.map(template_item).transpose()
    }

    async fn templates(&self) -> Result<Vec<(Template, u32)>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::TEMPLATES_PK))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(template_item(item.map_err(|e| store_error("listing templates", e))?)?);
        }
        Ok(out)
    }

    /// Two saves of one template cannot both take the same version (a conditional write on the
    /// current one, in the transaction that adds the saved version).
    async fn put_template(&self, template: &Template) -> Result<u32, StoreError> {
        let document = serde_json::to_string(template).map_err(|e| corrupt_item("template", e))?;
        let current = self.get(keys::template(&template.id), "reading template").await?;
        let previous: Option<u32> = current.as_ref().and_then(|item| number(item, "version"));
        // Numbering goes on from the history, which outlives a deleted template: a template saved
        // again after a delete gets the next number, and no saved version is ever overwritten.
        let last_saved: Option<u32> = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::template_history_pk(&template.id)))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("reading template history", e))?
            .items
            .unwrap_or_default()
            .first()
            .and_then(|item| number(item, "version"));
        let version = previous.max(last_saved).unwrap_or(0) + 1;
        let now = s(Utc::now().to_rfc3339());
        let mut latest = keys::template(&template.id);
        latest.insert("document".into(), s(&document));
        latest.insert("version".into(), n(version as i64));
        latest.insert("updated_at".into(), now.clone());
        let mut history = keys::template_version(&template.id, version);
        history.insert("document".into(), s(document));
        history.insert("version".into(), n(version as i64));
        history.insert("saved_at".into(), now);
        let condition = match previous {
            None => "attribute_not_exists(pk)".to_owned(),
            Some(_) => "version = :previous".to_owned(),
        };
        let mut put_latest =
            Put::builder().table_name(&self.table).set_item(Some(latest)).condition_expression(condition);
        if let Some(p) = previous {
            put_latest = put_latest.expression_attribute_values(":previous", n(p as i64));
        }
        let put_latest = put_latest.build().map_err(|e| corrupt_item("template", e))?;
        let put_history = Put::builder()
            .table_name(&self.table)
            .set_item(Some(history))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| corrupt_item("template", e))?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_latest).build())
            .transact_items(TransactWriteItem::builder().put(put_history).build())
            .send()
            .await
            .map_err(|e| store_error("saving template", e))?;
        Ok(version)
    }

    async fn delete_template(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::template(id)))
            .send()
            .await
            .map_err(|e| store_error("deleting template", e))?;
        Ok(())
    }
}
