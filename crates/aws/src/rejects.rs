//! The deployment's rejects bucket (`S3C_REJECTS_BUCKET`, the stack's RejectsBucket) as the core's
//! [`RejectsStore`]: rejects objects written with the deployment's own credentials, whole or as
//! multipart uploads, and pre-signed links that download one.

use crate::errors::store_error;
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use connector_core::ports::{RejectsStore, StoreError, StoreErrorKind};
use std::time::Duration;

pub struct S3Rejects {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Rejects {
    pub fn new(client: aws_sdk_s3::Client, bucket: &str) -> S3Rejects {
        S3Rejects { client, bucket: bucket.to_owned() }
    }
}

/// The longest a pre-signed link may live (SigV4's limit); one signed with a role's session lasts
/// no longer than the session.
const LONGEST_LINK: Duration = Duration::from_secs(7 * 24 * 3600);

#[async_trait]
impl RejectsStore for S3Rejects {
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        let put = self.client.put_object().bucket(&self.bucket).key(key).body(ByteStream::from(body));
        put.send().await.map_err(|e| store_error("writing a rejects object", e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(output) => {
                let bytes = output.body.collect().await.map_err(|e| {
                    StoreError::new(StoreErrorKind::Transient, format!("reading a staged rejects object: {e}"))
                })?;
                Ok(Some(bytes.to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(store_error("reading a staged rejects object", e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let delete = self.client.delete_object().bucket(&self.bucket).key(key);
        delete.send().await.map_err(|e| store_error("removing a staged rejects object", e))?;
        Ok(())
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(store_error("looking for a rejects object", e)),
        }
    }

    async fn start_upload(&self, key: &str) -> Result<String, StoreError> {
        let started = self.client.create_multipart_upload().bucket(&self.bucket).key(key).send().await;
        let started = started.map_err(|e| store_error("starting a rejects upload", e))?;
        started.upload_id.ok_or_else(|| StoreError::new(StoreErrorKind::Transient, "S3 gave no upload id"))
    }

    async fn upload_part(&self, key: &str, upload_id: &str, number: i32, body: Vec<u8>) -> Result<String, StoreError> {
        let part = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(body));
        let uploaded = part.send().await.map_err(|e| store_error("uploading a rejects part", e))?;
        uploaded.e_tag.ok_or_else(|| StoreError::new(StoreErrorKind::Transient, "S3 gave no part ETag"))
    }

    async fn complete_upload(&self, key: &str, upload_id: &str, parts: &[(i32, String)]) -> Result<(), StoreError> {
        let parts = parts.iter().map(|(n, etag)| CompletedPart::builder().part_number(*n).e_tag(etag).build());
        let upload = CompletedMultipartUpload::builder().set_parts(Some(parts.collect())).build();
        let complete = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(upload);
        complete.send().await.map_err(|e| store_error("completing a rejects upload", e))?;
        Ok(())
    }

    async fn link(&self, key: &str, valid_for: Duration) -> Result<String, StoreError> {
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(valid_for.min(LONGEST_LINK))
            .map_err(|e| StoreError::new(StoreErrorKind::Rejected, format!("a link's lifetime: {e}")))?;
        let signed = self.client.get_object().bucket(&self.bucket).key(key).presigned(config).await;
        let signed = signed.map_err(|e| store_error("signing a rejects link", e))?;
        Ok(signed.uri().to_owned())
    }
}
