//! The deployment publishes the customers' role template (roles/customer-role.yaml) itself: a
//! CloudFormation custom resource, `CustomerRoleTemplate` in template.yaml, asks this function to
//! put the template, compiled into it, in the stack's `RoleTemplateBucket`, where customers'
//! accounts can read that one object (CloudFormation's quick-create link takes templates from S3
//! only). A new build of the function is a new version, which template.yaml passes as a property,
//! so every deploy of changed code publishes again. Deleting the resource deletes the object, so
//! that the bucket can be deleted with the stack.
//!
//! CloudFormation waits for an answer PUT to the request's pre-signed `ResponseURL`: every
//! request gets one, a failure included, or the stack would hang for an hour.

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceResponse as Response, CloudFormationCustomResourceResponseStatus as Status,
};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// The role template, as the repository has it.
pub const ROLE_TEMPLATE: &str = include_str!("../../../roles/customer-role.yaml");
/// The longest reason an answer carries (its whole body must stay under 4 KB).
const MAX_REASON_BYTES: usize = 2_000;
/// Its key in the bucket (template.yaml's bucket policy names the same one).
pub const ROLE_TEMPLATE_KEY: &str = "customer-role.yaml";

/// What the custom resource says: the bucket to publish into.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Properties {
    bucket: String,
}

/// What CloudFormation asks. One struct for its three kinds (aws_lambda_events has an enum of
/// three structs that differ only in which ids they carry): a create has no physical id yet.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub request_type: RequestType,
    pub request_id: String,
    pub stack_id: String,
    pub logical_resource_id: String,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_properties: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

/// The object's address, which is also the resource's physical id: a new bucket is a new
/// resource, and CloudFormation then deletes the old one (the object in the old bucket).
pub fn physical_id(bucket: &str) -> String {
    format!("s3://{bucket}/{ROLE_TEMPLATE_KEY}")
}

/// Does what the request asks and answers CloudFormation. Errors are only those of the answer
/// itself (then the function fails, and Lambda's retry answers again).
pub async fn handle(s3: &aws_sdk_s3::Client, http: &reqwest::Client, request: &Request) -> Result<(), String> {
    let outcome = act(s3, request).await;
    let (status, reason, physical, data) = match outcome {
        Ok((physical, data)) => (Status::Success, None, physical, data),
        Err(mut reason) => {
            // CloudFormation takes an answer of 4 KB at most: a longer one would never arrive.
            if reason.len() > MAX_REASON_BYTES {
                let mut end = MAX_REASON_BYTES;
                while !reason.is_char_boundary(end) {
                    end -= 1;
                }
                reason.truncate(end);
                reason.push_str("...");
            }
            tracing::error!(%reason, "publishing the role template");
            // A failed create still needs a physical id; CloudFormation then sends no delete for it.
            let physical =
                request.physical_resource_id.clone().unwrap_or_else(|| format!("failed-{}", request.request_id));
            (Status::Failed, Some(reason), physical, HashMap::new())
        }
    };
    let mut response = Response::default();
    response.status = status;
    response.reason = reason;
    response.physical_resource_id = physical;
    response.stack_id = request.stack_id.clone();
    response.request_id = request.request_id.clone();
    response.logical_resource_id = request.logical_resource_id.clone();
    response.data = data;
    answer(http, &request.response_url, &response).await
}

/// Puts (create, update) or deletes the object: the physical id and the data the template may
/// read (`Key`), or why not.
async fn act(s3: &aws_sdk_s3::Client, request: &Request) -> Result<(String, HashMap<String, String>), String> {
    let physical = request.physical_resource_id.as_deref();
    if request.request_type == RequestType::Delete {
        // A failed create's id names no object; a bucket already gone has nothing left to delete.
        let Some(bucket) = physical
            .and_then(|id| id.strip_prefix("s3://"))
            .and_then(|rest| rest.strip_suffix(&format!("/{ROLE_TEMPLATE_KEY}")))
        else {
            return Ok((physical.unwrap_or_default().to_owned(), HashMap::new()));
        };
        let deleted = s3.delete_object().bucket(bucket).key(ROLE_TEMPLATE_KEY).send().await;
        return match deleted {
            Ok(_) => Ok((physical_id(bucket), HashMap::new())),
            Err(e) if e.as_service_error().and_then(|s| s.meta().code()) == Some("NoSuchBucket") => {
                Ok((physical_id(bucket), HashMap::new()))
            }
            Err(e) => Err(format!("DeleteObject s3://{bucket}/{ROLE_TEMPLATE_KEY}: {}", DisplayErrorContext(&e))),
        };
    }
    let properties: Properties = serde_json::from_value(request.resource_properties.clone())
        .map_err(|e| format!("the resource's properties: {e} (it needs Bucket)"))?;
    let bucket = &properties.bucket;
    s3.put_object()
        .bucket(bucket)
        .key(ROLE_TEMPLATE_KEY)
        .content_type("application/x-yaml")
        .body(ByteStream::from_static(ROLE_TEMPLATE.as_bytes()))
        .send()
        .await
        .map_err(|e| format!("PutObject s3://{bucket}/{ROLE_TEMPLATE_KEY}: {}", DisplayErrorContext(&e)))?;
    let data = HashMap::from([("Key".to_owned(), ROLE_TEMPLATE_KEY.to_owned())]);
    Ok((physical_id(bucket), data))
}

/// PUTs the answer to the pre-signed URL. No Content-Type: the URL was signed without one, and
/// S3 refuses a request that adds it.
async fn answer(http: &reqwest::Client, url: &str, response: &Response) -> Result<(), String> {
    let body = serde_json::to_vec(response).map_err(|e| format!("the answer to CloudFormation: {e}"))?;
    let sent = http.put(url).timeout(Duration::from_secs(30)).body(body).send().await;
    let sent = sent.and_then(reqwest::Response::error_for_status);
    sent.map(|_| ()).map_err(|e| format!("answering CloudFormation: {e}"))
}
