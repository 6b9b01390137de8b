//! [`RevokedSessions`] in memory.

use crate::ports::StoreError;
use crate::sessions::RevokedSessions;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Revoked sessions in a map: id to until.
#[derive(Default)]
pub struct MemoryRevokedSessions(pub Mutex<HashMap<String, DateTime<Utc>>>);

#[async_trait]
impl RevokedSessions for MemoryRevokedSessions {
    async fn revoke(&self, id: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.0.lock().unwrap().insert(id.to_owned(), until);
        Ok(())
    }

    async fn is_revoked(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.0.lock().unwrap().get(id).is_some_and(|until| now < *until))
    }
}
