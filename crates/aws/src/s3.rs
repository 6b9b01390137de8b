//! The customer's bucket: assume their role, list, and open objects, always with
//! ExpectedBucketOwner = the connection's account id.

use crate::config::Aws;
use crate::errors::source_error;
use async_trait::async_trait;
use aws_config::sts::AssumeRoleProvider;
use chrono::{DateTime, Utc};
use connector_core::model::{Connection, ObjectMeta};
use connector_core::ports::{ListCursor, ListPage, ObjectBody, ObjectSource, SourceConnector, SourceError};
use tracing::instrument;

/// Opens connections' buckets through their roles.
pub struct RoleConnector {
    pub aws: Aws,
    /// Keys a listing page asks for (S3's default and maximum: 1,000).
    pub page_size: Option<i32>,
}

/// STS session names allow `[\w+=,.@-]`, 2 to 64 characters; they show in the customer's CloudTrail.
pub fn session_name(connection_id: &str) -> String {
    let id: String = connection_id.chars().filter(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(*c)).collect();
    format!("s3-connector-{id}").chars().take(64).collect()
}

#[async_trait]
impl SourceConnector for RoleConnector {
    #[instrument(skip_all, fields(connection_id = %connection.id, account_id = %connection.account_id))]
    async fn connect(&self, connection: &Connection) -> Result<Box<dyn ObjectSource + '_>, SourceError> {
        let role_arn = connection.role_arn();
        let session = session_name(&connection.id);
        // One explicit call first: its error tells a denied role apart from everything else, which the
        // refreshing provider below would only report later, wrapped.
        self.aws
            .sts()
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(&session)
            .external_id(&connection.external_id)
            .duration_seconds(900)
            .send()
            .await
            .map_err(|e| source_error(format!("assuming role {role_arn}"), e))?;
        // Refreshes the credentials before they expire, however long the run.
        let credentials = AssumeRoleProvider::builder(&role_arn)
            .external_id(&connection.external_id)
            .session_name(&session)
            .configure(&self.aws.sdk)
            .build()
            .await;
        Ok(Box::new(S3Source {
            client: self.aws.s3(&connection.region, credentials),
            bucket: connection.bucket.clone(),
            owner: connection.account_id.clone(),
            page_size: self.page_size,
        }))
    }
}

/// One bucket, read with one set of credentials.
pub struct S3Source {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    /// Sent as ExpectedBucketOwner on every call: a bucket re-created by another account is refused.
    pub owner: String,
    pub page_size: Option<i32>,
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}

#[async_trait]
impl ObjectSource for S3Source {
    async fn list_page(&self, cursor: &ListCursor) -> Result<ListPage, SourceError> {
        let page = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .set_prefix(Some(cursor.prefix.clone()).filter(|p| !p.is_empty()))
            .set_continuation_token(cursor.token.clone())
            .set_delimiter(cursor.fan_out.then(|| "/".to_owned()))
            .set_max_keys(self.page_size)
            .expected_bucket_owner(&self.owner)
            .send()
            .await
            .map_err(|e| source_error(format!("listing bucket {}", self.bucket), e))?;
        let objects = page.contents.unwrap_or_default().into_iter().filter_map(|o| {
            Some(ObjectMeta {
                key: o.key?,
                etag: o.e_tag.unwrap_or_default(),
                size: o.size.unwrap_or(0).max(0) as u64,
                last_modified: o.last_modified.as_ref().map(to_chrono)?,
                storage_class: o.storage_class.map(|c| c.as_str().to_owned()),
            })
        });
        Ok(ListPage {
            objects: objects.collect(),
            prefixes: page.common_prefixes.unwrap_or_default().into_iter().filter_map(|p| p.prefix).collect(),
            next_token: page.next_continuation_token.filter(|_| page.is_truncated == Some(true)),
        })
    }

    #[instrument(skip_all, fields(key = %object.key, from))]
    async fn open(&self, object: &ObjectMeta, from: u64) -> Result<ObjectBody, SourceError> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&object.key)
            // Exactly the listed version: a replaced object is the next sync's business.
            .if_match(&object.etag)
            .set_range((from > 0).then(|| format!("bytes={from}-")))
            .expected_bucket_owner(&self.owner)
            .send()
            .await
            .map_err(|e| source_error(format!("reading s3://{}/{}", self.bucket, object.key), e))?;
        Ok(Box::pin(output.body.into_async_read()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_valid_for_sts() {
        assert_eq!(session_name("c-123"), "s3-connector-c-123");
        assert_eq!(session_name("a b/c"), "s3-connector-abc");
        assert_eq!(session_name(&"x".repeat(100)).len(), 64);
    }
}
