//! [`RevokedSessions`] in the state table: one item per signed-out session, removed by the table's
//! TTL (`expires_at`) once its token has expired anyway. TTL deletes late (up to days), so a read
//! also compares `expires_at` with now.

use super::item::{n, number};
use super::{keys, StateTable};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_core::ports::StoreError;
use connector_core::sessions::RevokedSessions;

#[async_trait]
impl RevokedSessions for StateTable {
    #[tracing::instrument(skip(self), level = "debug")]
    async fn revoke(&self, id: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        let mut item = keys::revoked_session(id);
        item.insert("expires_at".into(), n(until.timestamp()));
        self.put(item, "recording a signed-out session").await
    }

    async fn is_revoked(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let item = self.get(keys::revoked_session(id), "reading a signed-out session").await?;
        Ok(item.is_some_and(|item| number::<i64>(&item, "expires_at").is_none_or(|until| now.timestamp() < until)))
    }
}
