//! The customer's bucket: assume their role, list, and open objects, always with
//! ExpectedBucketOwner = the connection's account id.

use crate::config::Aws;
pub use crate::config::ReadAhead;
use crate::errors::{object_error, source_error};
use async_trait::async_trait;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use chrono::{DateTime, Utc};
use connector_core::model::{Connection, ObjectMeta};
use connector_core::ports::SourceErrorKind;
use connector_core::ports::{read_failure, BucketAccess, ListCursor, ListPage, ObjectBody, ObjectSource, SourceError};
use connector_core::retry::backoff;
use futures::{StreamExt, TryStreamExt};
use tracing::instrument;

/// Opens connections' buckets through their roles.
pub struct RoleAccess {
    pub aws: Aws,
    /// Keys a listing page asks for (S3's default and maximum: 1,000).
    pub page_size: Option<i32>,
    pub read_ahead: ReadAhead,
}

/// STS session names allow `[\w+=,.@-]`, 2 to 64 characters; they show in the customer's CloudTrail.
pub fn session_name(connection_id: &str) -> String {
    let id: String = connection_id.chars().filter(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(*c)).collect();
    format!("s3-connector-{id}").chars().take(64).collect()
}

#[async_trait]
impl BucketAccess for RoleAccess {
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
            read_ahead: self.read_ahead,
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
    pub read_ahead: ReadAhead,
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
                attempts: 0,
                replaces: None,
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
        let ReadAhead { chunk_bytes, in_flight } = self.read_ahead;
        let ranged = in_flight > 1 && object.size.saturating_sub(from) > chunk_bytes;
        let first_end = if ranged { Some(from + chunk_bytes - 1) } else { None };
        // The first request is made here, so that a denied or vanished object is an error of
        // opening it, classified like any other.
        let first = get_object(&self.client, &self.bucket, &self.owner, object, from, first_end)
            .await
            .map_err(|e| object_error(format!("reading s3://{}/{}", self.bucket, object.key), e))?;
        let Some(first_end) = first_end else {
            return Ok(Box::pin(first.body.into_async_read()));
        };
        let (client, bucket, owner, object) =
            (self.client.clone(), self.bucket.clone(), self.owner.clone(), object.clone());
        let first_range = (from, first_end);
        let first_body = first.body;
        let rest = (first_end + 1..object.size).step_by(chunk_bytes as usize).map(move |start| {
            let end = (start + chunk_bytes).min(object.size) - 1;
            (start, end)
        });
        let ranges = std::iter::once(first_range).chain(rest);
        let mut first_body = Some(first_body);
        let chunks = futures::stream::iter(ranges)
            .map(move |(start, end)| {
                let (client, bucket, owner, object) = (client.clone(), bucket.clone(), owner.clone(), object.clone());
                let body = first_body.take();
                async move { fetch_range(&client, &bucket, &owner, &object, start, end, body).await }
            })
            .buffered(in_flight)
            .map_ok(|segments| futures::stream::iter(segments.into_iter().map(Ok::<_, std::io::Error>)))
            .try_flatten();
        Ok(Box::pin(tokio_util::io::StreamReader::new(chunks)))
    }

    #[instrument(skip_all, fields(key = %object.key, from = from, len = len))]
    async fn read_range(&self, object: &ObjectMeta, from: u64, len: u64) -> Result<bytes::Bytes, SourceError> {
        if len == 0 {
            return Ok(bytes::Bytes::new());
        }
        let segments = fetch_range(&self.client, &self.bucket, &self.owner, object, from, from + len - 1, None)
            .await
            .map_err(|e| read_failure(&format!("s3://{}/{}", self.bucket, object.key), e))?;
        Ok(match <[bytes::Bytes; 1]>::try_from(segments) {
            Ok([one]) => one,
            Err(segments) => segments.concat().into(),
        })
    }

    #[instrument(skip_all, fields(key))]
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, SourceError> {
        self.head_object(key).await
    }
}

impl S3Source {
    /// HeadObject of `key`: its metadata as a listing gives it (a STANDARD object's class too,
    /// which HEAD leaves out), or `None` on 404. HEAD answers have no body, so a 404 cannot tell a
    /// missing key from a missing bucket: both read as no object (the next scan's listing names a
    /// missing bucket).
    async fn head_object(&self, key: &str) -> Result<Option<ObjectMeta>, SourceError> {
        let head =
            self.client.head_object().bucket(&self.bucket).key(key).expected_bucket_owner(&self.owner).send().await;
        let head = match head {
            Ok(head) => head,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => return Ok(None),
            Err(e) => return Err(object_error(format!("looking at s3://{}/{key}", self.bucket), e)),
        };
        let last_modified = head.last_modified.as_ref().map(to_chrono).ok_or_else(|| {
            SourceError::new(
                SourceErrorKind::Other,
                format!("s3://{}/{key}: HeadObject without Last-Modified", self.bucket),
            )
        })?;
        Ok(Some(ObjectMeta {
            key: key.to_owned(),
            etag: head.e_tag.unwrap_or_default(),
            size: head.content_length.unwrap_or(0).max(0) as u64,
            last_modified,
            storage_class: Some(head.storage_class.map_or_else(|| "STANDARD".to_owned(), |c| c.as_str().to_owned())),
            attempts: 0,
            replaces: None,
        }))
    }
}

/// One GetObject of exactly the listed version (If-Match: a replaced object is the next sync's
/// business), from `start` to `end` inclusive or to the object's end.
async fn get_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    owner: &str,
    object: &ObjectMeta,
    start: u64,
    end: Option<u64>,
) -> Result<GetObjectOutput, SdkError<GetObjectError, HttpResponse>> {
    let range = match end {
        Some(end) => Some(format!("bytes={start}-{end}")),
        None => (start > 0).then(|| format!("bytes={start}-")),
    };
    client
        .get_object()
        .bucket(bucket)
        .key(&object.key)
        .if_match(&object.etag)
        .set_range(range)
        .expected_bucket_owner(owner)
        .send()
        .await
}

/// Attempts at one chunk: a chunk whose request or body fails is fetched again.
const CHUNK_ATTEMPTS: u32 = 5;

/// The bytes `start..=end` of an object, as the segments they arrived in; `body` is the first
/// attempt's, when the request was already made. A request or body that fails is tried again; what
/// no retry can cure (access, the object replaced) is an error at once.
async fn fetch_range(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    owner: &str,
    object: &ObjectMeta,
    start: u64,
    end: u64,
    mut body: Option<ByteStream>,
) -> std::io::Result<Vec<bytes::Bytes>> {
    let expected = end - start + 1;
    let mut last_error = String::new();
    for attempt in 0..CHUNK_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt - 1)).await;
        }
        let mut stream = match body.take() {
            Some(stream) => stream,
            None => match get_object(client, bucket, owner, object, start, Some(end)).await {
                Ok(output) => output.body,
                Err(e) => {
                    let e = object_error(format!("reading s3://{bucket}/{} bytes {start}-{end}", object.key), e);
                    if e.kind != SourceErrorKind::Transient {
                        // The engine reads the kind back from the I/O error (a replaced object, a
                        // denied one) to decide this object's outcome.
                        return Err(std::io::Error::other(e));
                    }
                    last_error = e.message;
                    continue;
                }
            },
        };
        let mut segments = Vec::new();
        let mut received = 0u64;
        let read = loop {
            match stream.try_next().await {
                Ok(Some(bytes)) => {
                    received += bytes.len() as u64;
                    segments.push(bytes);
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e.to_string()),
            }
        };
        match read {
            Ok(()) if received == expected => return Ok(segments),
            Ok(()) => last_error = format!("{received} of {expected} bytes arrived"),
            Err(e) => last_error = e,
        }
        tracing::warn!(key = %object.key, start, end, attempt, error = %last_error, "chunk read failed; fetching it again");
    }
    Err(std::io::Error::other(format!(
        "reading s3://{bucket}/{} bytes {start}-{end}: {last_error} ({CHUNK_ATTEMPTS} attempts)",
        object.key
    )))
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
