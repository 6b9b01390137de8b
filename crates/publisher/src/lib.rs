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

pub use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest as Request;
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
/// Its key in the bucket (template.yaml's bucket policy names the same one).
pub const ROLE_TEMPLATE_KEY: &str = "customer-role.yaml";

/// What the custom resource says: the bucket to publish into.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Properties {
    bucket: String,
}

/// The request's facts that every answer repeats, and what to do.
struct Task<'r> {
    request_id: &'r str,
    stack_id: &'r str,
    logical_resource_id: &'r str,
    response_url: &'r str,
    /// The physical id CloudFormation knows (none at create).
    physical_resource_id: Option<&'r str>,
    properties: &'r Value,
    delete: bool,
}

impl<'r> Task<'r> {
    /// None for a kind of request this crate's version of the event types does not know.
    fn of(request: &'r Request) -> Option<Task<'r>> {
        Some(match request {
            Request::Create(r) => Task {
                request_id: &r.request_id,
                stack_id: &r.stack_id,
                logical_resource_id: &r.logical_resource_id,
                response_url: &r.response_url,
                physical_resource_id: None,
                properties: &r.resource_properties,
                delete: false,
            },
            Request::Update(r) => Task {
                request_id: &r.request_id,
                stack_id: &r.stack_id,
                logical_resource_id: &r.logical_resource_id,
                response_url: &r.response_url,
                physical_resource_id: Some(&r.physical_resource_id),
                properties: &r.resource_properties,
                delete: false,
            },
            Request::Delete(r) => Task {
                request_id: &r.request_id,
                stack_id: &r.stack_id,
                logical_resource_id: &r.logical_resource_id,
                response_url: &r.response_url,
                physical_resource_id: Some(&r.physical_resource_id),
                properties: &r.resource_properties,
                delete: true,
            },
            _ => return None,
        })
    }
}

/// The object's address, which is also the resource's physical id: a new bucket is a new
/// resource, and CloudFormation then deletes the old one (the object in the old bucket).
pub fn physical_id(bucket: &str) -> String {
    format!("s3://{bucket}/{ROLE_TEMPLATE_KEY}")
}

/// Does what the request asks and answers CloudFormation. Errors are only those of the answer
/// itself (then the function fails, and Lambda's retry answers again).
pub async fn handle(s3: &aws_sdk_s3::Client, http: &reqwest::Client, request: &Request) -> Result<(), String> {
    let task = Task::of(request).ok_or("a custom resource request of an unknown type")?;
    let outcome = act(s3, &task).await;
    let (status, reason, physical, data) = match outcome {
        Ok((physical, data)) => (Status::Success, None, physical, data),
        Err(reason) => {
            tracing::error!(%reason, "publishing the role template");
            // A failed create still needs a physical id; CloudFormation then sends no delete for it.
            let physical =
                task.physical_resource_id.map_or_else(|| format!("failed-{}", task.request_id), str::to_owned);
            (Status::Failed, Some(reason), physical, HashMap::new())
        }
    };
    let mut response = Response::default();
    response.status = status;
    response.reason = reason;
    response.physical_resource_id = physical;
    response.stack_id = task.stack_id.to_owned();
    response.request_id = task.request_id.to_owned();
    response.logical_resource_id = task.logical_resource_id.to_owned();
    response.data = data;
    answer(http, task.response_url, &response).await
}

/// Puts (create, update) or deletes the object: the physical id and the data the template may
/// read (`Key`), or why not.
async fn act(s3: &aws_sdk_s3::Client, task: &Task<'_>) -> Result<(String, HashMap<String, String>), String> {
    if task.delete {
        // A failed create's id names no object; a bucket already gone has nothing left to delete.
        let Some(bucket) = task
            .physical_resource_id
            .and_then(|id| id.strip_prefix("s3://"))
            .and_then(|rest| rest.strip_suffix(&format!("/{ROLE_TEMPLATE_KEY}")))
        else {
            return Ok((task.physical_resource_id.unwrap_or_default().to_owned(), HashMap::new()));
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
    let properties: Properties = serde_json::from_value(task.properties.clone())
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
