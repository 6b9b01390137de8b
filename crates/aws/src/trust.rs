//! Who customers' trust policies name: the deployment's roles (`S3C_TRUST_PRINCIPALS`, the stack's
//! CustomerTrustPrincipals output) or, when that is not set (local use), our own identity as STS
//! sees it.

use crate::config::{Aws, Settings};
use crate::errors::store_error;
use async_trait::async_trait;
use connector_core::manage::ports::TrustPrincipals;
use connector_core::ports::StoreError;

/// [`TrustPrincipals`] from the settings, or over STS GetCallerIdentity. It holds an STS client
/// (built from the SDK configuration) rather than the configuration, so that tests can give it one
/// over stubbed responses.
#[derive(Clone, Debug)]
pub struct StsPrincipals {
    pub sts: aws_sdk_sts::Client,
    /// `S3C_TRUST_PRINCIPALS`; empty: ask STS.
    pub configured: Vec<String>,
}

impl StsPrincipals {
    pub fn new(aws: &Aws, settings: &Settings) -> StsPrincipals {
        StsPrincipals { sts: aws.sts(), configured: settings.trust_principals.clone() }
    }
}

#[async_trait]
impl TrustPrincipals for StsPrincipals {
    async fn trust_principals(&self) -> Result<Vec<String>, StoreError> {
        if !self.configured.is_empty() {
            return Ok(self.configured.clone());
        }
        let identity =
            self.sts.get_caller_identity().send().await.map_err(|e| {
                store_error("finding our own identity for the trust policy (set S3C_TRUST_PRINCIPALS)", e)
            })?;
        Ok(vec![identity.arn.unwrap_or_default()])
    }
}
