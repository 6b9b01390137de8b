//! Dashboard sessions ended on the server: the one port the dashboard's sign-out writes and every
//! dashboard request reads. A session is named by its ID token's `jti`, or the SHA-256 of the token
//! when the issuer writes none (the api crate decides which); an entry is kept until the token
//! would have expired anyway, after which the token's own expiry refuses it.

use crate::ports::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Sessions signed out before their token expired.
#[async_trait]
pub trait RevokedSessions: Send + Sync {
    /// Records that the session `id` is over, until `until` (its token's expiry).
    async fn revoke(&self, id: &str, until: DateTime<Utc>) -> Result<(), StoreError>;

    /// Whether the session `id` was signed out (and its entry has not lapsed: `now` < until).
    async fn is_revoked(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
}
