//! The connection management HTTP API (API Gateway HTTP API, IAM authorization), over the same
//! library as the CLI ([`connector_aws::manage`]). Routes and their JSON are in `openapi.json`.
//!
//! Every error is a JSON body `{"error": {"code", "message", "field"?, "details"?}}` with a 4xx status
//! for the caller's mistakes (400 invalid input naming the field, 404, 409 conflict, 422 access to
//! the bucket not working) and 5xx for ours.

use connector_aws::manage::ManageError;
use connector_aws::recovery::RetrySelection;
use connector_aws::{CreateError, Deployment};
use connector_core::connections::ConnectionInput;
use connector_core::dispatch::WorkerInvoker;
use connector_core::template::Template;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize;
use serde_json::{json, Value};

/// What the handler works with: the library, and how to start a worker (Lambda, or in-process).
pub struct Api<'a> {
    pub connector: &'a Deployment,
    pub workers: &'a dyn WorkerInvoker,
}

/// An API error: its status, code, message and the field at fault.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    pub details: Vec<Value>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None, details: vec![] }
    }

    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError { field: Some(field.into()), ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message) }
    }
}

impl From<ManageError> for ApiError {
    fn from(e: ManageError) -> Self {
        match e {
            ManageError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            ManageError::Invalid { field, message } => ApiError::invalid(field, format!("{field}: {message}")),
            ManageError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            ManageError::Access(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "access_failed", m),
            ManageError::Store(e) => {
                tracing::error!(error = %e, "state store");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the state store failed; try again")
            }
        }
    }
}

impl From<CreateError> for ApiError {
    fn from(e: CreateError) -> Self {
        match e {
            CreateError::Invalid(errors) => ApiError {
                field: errors.first().map(|e| e.field.to_owned()),
                details: errors.iter().map(|e| json!({"field": e.field, "message": e.message})).collect(),
                ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", CreateError::Invalid(errors).to_string())
            },
            CreateError::UnknownTemplate(id) => ApiError::invalid("template", format!("template: no template '{id}'")),
            CreateError::Create(e) => ApiError {
                field: Some("name".into()),
                ..ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            },
            CreateError::Store(e) => ManageError::Store(e).into(),
        }
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(value.to_string()))
        .expect("a static response is valid")
}

fn error_response(e: ApiError) -> Response<Body> {
    let mut error = json!({"code": e.code, "message": e.message});
    if let Some(field) = e.field {
        error["field"] = json!(field);
    }
    if !e.details.is_empty() {
        error["details"] = json!(e.details);
    }
    json_response(e.status, &json!({ "error": error }))
}

/// The largest request body taken: a template of the most columns allowed fits with room to spare.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// The request's body, refused past [`MAX_BODY_BYTES`] before anything parses it.
fn raw_body(request: &Request) -> Result<&[u8], ApiError> {
    let bytes = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        let message = format!("body: is {} bytes; at most {MAX_BODY_BYTES}", bytes.len());
        return Err(ApiError {
            field: Some("body".into()),
            ..ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
        });
    }
    Ok(bytes)
}

/// Parses a JSON body; an error names the field at fault.
fn body<T: for<'de> Deserialize<'de>>(request: &Request) -> Result<T, ApiError> {
    connector_core::input::from_json(raw_body(request)?)
        .map_err(|e| ApiError::invalid(e.field.clone(), format!("{}: {}", e.field, e.message)))
}

fn query_number<T>(request: &Request, name: &str, default: T, max: T) -> Result<T, ApiError>
where
    T: std::str::FromStr + PartialOrd + Copy,
{
    match request.query_string_parameters_ref().and_then(|q| q.first(name)) {
        None => Ok(default),
        Some(v) => match v.parse::<T>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(ApiError::invalid(name, format!("{name}: must be a number no larger than the limit"))),
        },
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateConnection {
    name: String,
    account_id: String,
    bucket: String,
    region: String,
    #[serde(default)]
    folder: Option<String>,
    template: String,
    #[serde(default)]
    kms_key_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditConnection {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    template: Option<String>,
    /// Hours; `null` goes back to the deployment's default; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    overlap_hours: Option<Option<u32>>,
}

/// A field given (even as `null`) is `Some`, so that `null` and absent differ.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryFiles {
    #[serde(default)]
    failed: bool,
    #[serde(default)]
    keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Backfill {
    since: String,
}

/// Handles one request; never fails: errors are JSON responses.
pub async fn handle(api: &Api<'_>, request: Request) -> Response<Body> {
    match route(api, &request).await {
        Ok((status, value)) => json_response(status, &value),
        Err(e) => error_response(e),
    }
}

async fn route(api: &Api<'_>, request: &Request) -> Result<(StatusCode, Value), ApiError> {
    let c = api.connector;
    let path = request.uri().path().trim_matches('/').to_owned();
    let segments: Vec<&str> = path.split('/').collect();
    let ok = |value: Value| Ok((StatusCode::OK, value));
    match (request.method(), segments.as_slice()) {
        (&Method::GET, ["connections"]) => ok(json!({ "connections": to_json(&c.connections().await?)? })),
        (&Method::POST, ["connections"]) => {
            let input: CreateConnection = body(request)?;
            let input = ConnectionInput {
                name: input.name,
                account_id: input.account_id,
                bucket: input.bucket,
                region: input.region,
                folder: input.folder,
                template_id: input.template,
                kms_key_arn: input.kms_key_arn,
            };
            let created = c.create_connection_with_policies(input).await?;
            Ok((StatusCode::CREATED, to_json(&created)?))
        }
        (&Method::GET, ["connections", id]) => {
            let shown = c.show(id, 10).await?;
            ok(json!({
                "connection": to_json(&shown.connection)?,
                "recent_runs": to_json(&shown.recent_runs)?,
                "last_run_files": to_json(&shown.last_run_files)?,
            }))
        }
        (&Method::PATCH, ["connections", id]) => {
            let edit: EditConnection = body(request)?;
            if edit.name.is_none() && edit.template.is_none() && edit.overlap_hours.is_none() {
                return Err(ApiError::invalid("body", "give a name, a template or an overlap to change"));
            }
            if let Some(hours) = edit.overlap_hours {
                // Checked before anything changes, so the edit is all or nothing.
                hours.map(connector_aws::recovery::check_overlap_hours).transpose()?;
            }
            let mut connection = c.edit(id, edit.name.as_deref(), edit.template.as_deref()).await?;
            if let Some(hours) = edit.overlap_hours {
                connection = c.set_overlap(id, hours).await?;
            }
            ok(json!({ "connection": to_json(&connection)? }))
        }
        (&Method::DELETE, ["connections", id]) => {
            let purge = match request.query_string_parameters_ref().and_then(|q| q.first("purge_records")) {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => return Err(ApiError::invalid("purge_records", "purge_records: must be true or false")),
            };
            let purged = c.delete_connection(id, purge).await?;
            ok(json!({ "deleted": id, "records_purged": purged }))
        }
        (&Method::GET, ["connections", id, "files"]) => {
            c.connection(id).await?;
            ok(json!({ "files": to_json(&c.state.outcomes(id).await.map_err(ManageError::from)?)? }))
        }
        (&Method::GET, ["connections", id, "runs"]) => {
            let limit = query_number(request, "limit", 10i32, 100)?;
            c.connection(id).await?;
            ok(json!({ "runs": to_json(&c.state.runs(id, limit).await.map_err(ManageError::from)?)? }))
        }
        (&Method::GET, ["connections", id, "preview"]) => {
            let limit = query_number(request, "limit", 20usize, 1000)?;
            let rows = query_number(request, "rows", 5usize, 100)?;
            let sample = request.query_string_parameters_ref().and_then(|q| q.first("sample")).map(str::to_owned);
            ok(to_json(&c.preview(id, limit, sample.as_deref(), rows).await?)?)
        }
        (&Method::POST, ["connections", id, "files", "retry"]) => {
            let asked: RetryFiles = body(request)?;
            let selection = match (asked.failed, asked.keys.is_empty()) {
                (true, true) => RetrySelection::Failed,
                (false, false) => RetrySelection::Keys(asked.keys),
                _ => return Err(ApiError::invalid("body", "give either \"failed\": true or \"keys\"")),
            };
            ok(to_json(&c.retry_files(id, selection).await?)?)
        }
        (&Method::POST, ["connections", id, "reimport"]) => {
            let asked: Keys = body(request)?;
            ok(to_json(&c.reimport(id, asked.keys).await?)?)
        }
        (&Method::POST, ["connections", id, "backfill"]) => {
            let asked: Backfill = body(request)?;
            let since = connector_aws::recovery::parse_since(&asked.since)?;
            ok(json!({ "connection": to_json(&c.backfill(id, since).await?)? }))
        }
        (&Method::POST, ["connections", id, "sync"]) => {
            let connection = c.sync_now(id, api.workers).await?;
            Ok((StatusCode::ACCEPTED, json!({ "connection": to_json(&connection)?, "sync_started": true })))
        }
        (&Method::GET, ["connections", id, "records"]) => {
            let limit = query_number(request, "limit", 100usize, 1000)?;
            let after = request.query_string_parameters_ref().and_then(|q| q.first("after")).map(str::to_owned);
            ok(to_json(&c.records_page(id, limit, after.as_deref()).await?)?)
        }
        // Activation and re-authentication: the connection, and the access check's report.
        (&Method::POST, ["connections", id, "activate"]) => ok(to_json(&c.activate(id, api.workers).await?)?),
        (&Method::POST, ["connections", id, "reauthenticate"]) => ok(to_json(&c.reauthenticate(id).await?)?),
        (&Method::POST, ["connections", id, action]) => {
            let connection = match *action {
                "pause" => c.pause(id).await?,
                "resume" => c.resume(id).await?,
                _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no action '{action}'"))),
            };
            ok(json!({ "connection": to_json(&connection)? }))
        }
        (&Method::GET, ["templates"]) => {
            let templates = c.state.templates().await.map_err(ManageError::from)?;
            let list: Vec<Value> = templates.iter().map(|(t, v)| json!({"template": t, "version": v})).collect();
            ok(json!({ "templates": list }))
        }
        (&Method::GET, ["templates", id]) => {
            let (template, version) = c
                .state
                .template_version(id)
                .await
                .map_err(ManageError::from)?
                .ok_or_else(|| ManageError::NotFound { what: "template", id: id.to_string() })?;
            ok(json!({ "template": template, "version": version }))
        }
        (&Method::PUT, ["templates", id]) => {
            let text =
                std::str::from_utf8(raw_body(request)?).map_err(|_| ApiError::invalid("body", "is not UTF-8"))?;
            let template = Template::from_json(text).map_err(|errors| ApiError {
                field: errors.0.first().map(|e| e.field.clone()),
                details: errors.0.iter().map(|e| json!({"field": e.field, "message": e.message})).collect(),
                ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", errors.to_string())
            })?;
            if template.id != *id {
                return Err(ApiError::invalid(
                    "id",
                    format!("id: the document's id '{}' is not the path's '{id}'", template.id),
                ));
            }
            let version = c.put_template(&template).await?;
            ok(json!({ "template": template, "version": version }))
        }
        (&Method::DELETE, ["templates", id]) => {
            c.delete_template(id).await?;
            ok(json!({ "deleted": id }))
        }
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no route {} /{path}", request.method()))),
    }
}
