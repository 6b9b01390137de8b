//! The connection management HTTP API (API Gateway HTTP API, IAM authorization): each route a few
//! lines over the management service the CLI calls too ([`connector_core::manage::Management`]),
//! its JSON the service's own types. Routes and their JSON are in `openapi.json`. The routes under
//! `/tenants/{tenant}/connections` are the connection routes scoped to one tenant, through the same
//! table of routes (see `route`): the platform's backend serves each customer only its own.
//!
//! Every error is a JSON body `{"error": {"code", "message", "field"?, "details"?}}` with a 4xx status
//! for the caller's mistakes (400 invalid input naming the field, 404, 409 conflict, 422 access to
//! the bucket not working) and 5xx for ours.

use connector_core::connections::ConnectionInput;
use connector_core::manage::connections::ConnectionChange;
use connector_core::manage::recovery::{parse_since, FileSelection};
use connector_core::manage::{ManageError, Management};
use connector_core::model::SyncMode;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub mod dashboard;

/// What the handler works with: the management service (its workers start syncs through Lambda,
/// or in-process in tests), and the dashboard when it is configured.
pub struct Api<'a> {
    pub service: Management<'a>,
    pub dashboard: Option<dashboard::Dashboard>,
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
            ManageError::Invalid(ref errors) => ApiError {
                field: errors.first().map(|e| e.field.clone()),
                details: errors.iter().map(|e| json!({"field": e.field, "message": e.message})).collect(),
                ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", e.to_string())
            },
            ManageError::NameTaken(_) => ApiError {
                field: Some("name".into()),
                ..ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            },
            ManageError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            ManageError::Access(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "access_failed", m),
            other => {
                tracing::error!(error = %other, "management");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the state store failed; try again")
            }
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

fn query<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request.query_string_parameters_ref().and_then(|q| q.first(name))
}

fn query_number<T>(request: &Request, name: &str, default: T, max: T) -> Result<T, ApiError>
where
    T: std::str::FromStr + PartialOrd + Copy,
{
    match query(request, name) {
        None => Ok(default),
        Some(v) => match v.parse::<T>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(ApiError::invalid(name, format!("{name}: must be a number no larger than the limit"))),
        },
    }
}

fn query_bool(request: &Request, name: &str) -> Result<bool, ApiError> {
    match query(request, name) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::invalid(name, format!("{name}: must be true or false"))),
    }
}

fn to_json(value: &impl Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

/// `{"<name>": value}`.
fn named(name: &str, value: &impl Serialize) -> Result<Value, ApiError> {
    Ok(json!({ name: to_json(value)? }))
}

/// A page of a list as `{"<name>": [...], "next": token or null}`.
fn page<T: Serialize>(name: &str, page: connector_core::manage::Page<T>) -> Result<Value, ApiError> {
    Ok(json!({ name: to_json(&page.items)?, "next": page.next }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateConnection {
    /// Required on `POST /connections`; on a tenant's route, the path's (a different one is
    /// refused).
    #[serde(default)]
    tenant: Option<String>,
    name: String,
    account_id: String,
    /// Absent: left open, for the customer to fill on the set-up page.
    #[serde(default)]
    bucket: Option<String>,
    /// Absent: left open, for the customer to fill on the set-up page.
    #[serde(default)]
    region: Option<String>,
    /// Absent: the whole bucket, unless `folder_open`.
    #[serde(default)]
    folder: Option<String>,
    /// The customer chooses the folder (or the whole bucket) on the set-up page.
    #[serde(default)]
    folder_open: bool,
    template: String,
    #[serde(default)]
    kms_key_arn: Option<String>,
    /// `scheduled` (the default) or `events`.
    #[serde(default)]
    mode: Option<SyncMode>,
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
    /// `scheduled` or `events`.
    #[serde(default)]
    mode: Option<SyncMode>,
    /// Hours between scheduled scans; `null` goes back to daily; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    scan_every_hours: Option<Option<u32>>,
}

/// A field given (even as `null`) is `Some`, so that `null` and absent differ.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

/// Which files `files/retry` and `files/dismiss` act on: every open failure, or the keys given.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectFiles {
    #[serde(default)]
    failed: bool,
    #[serde(default)]
    keys: Vec<String>,
}

impl SelectFiles {
    fn selection(self) -> Result<FileSelection, ApiError> {
        match (self.failed, self.keys.is_empty()) {
            (true, true) => Ok(FileSelection::Failed),
            (false, false) => Ok(FileSelection::Keys(self.keys)),
            _ => Err(ApiError::invalid("body", "give either \"failed\": true or \"keys\"")),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupLinkRequest {
    valid_days: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Backfill {
    since: String,
}

/// `POST /templates/draft`: a template drafted from an object of a connection's bucket.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftTemplate {
    connection_id: String,
    /// The sample object's whole key.
    key: String,
    #[serde(default = "draft_rows")]
    rows: usize,
    /// The template's id; absent: made from the key's file name.
    #[serde(default)]
    id: Option<String>,
    /// A caller serving one tenant says which: the connection must be that tenant's (404
    /// otherwise), as on the `/tenants/{tenant}` routes. Templates have no tenant, so the route
    /// has no tenant's path of its own.
    #[serde(default)]
    tenant: Option<String>,
}

fn draft_rows() -> usize {
    connector_core::draft::DEFAULT_ROWS
}

/// Handles one request; never fails: errors are JSON responses.
pub async fn handle(api: &Api<'_>, request: Request) -> Response<Body> {
    let mut path = request.uri().path();
    // The dashboard's public prefix (`/lambda-url/api` under cargo lambda watch), when the path
    // arrives with it.
    if let Some(base) = api.dashboard.as_ref().map(|d| d.base.as_str()).filter(|b| !b.is_empty()) {
        path = path.strip_prefix(base).unwrap_or(path);
    }
    let path = path.to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (segments.split_first().map(|(first, rest)| (*first, rest)), &api.dashboard) {
        (Some(("dashboard", rest)), Some(dashboard)) => return dashboard.handle(&api.service, &request, rest).await,
        (Some(("setup", rest)), Some(dashboard)) => return dashboard.customer(&api.service, &request, rest).await,
        (Some(("dashboard" | "setup", _)), None) => {
            return error_response(ApiError::new(StatusCode::NOT_FOUND, "not_found", "the dashboard is not configured"))
        }
        _ => {}
    }
    match route(api, &request).await {
        Ok((status, value)) => json_response(status, &value),
        Err(e) => error_response(e),
    }
}

/// A tenant as a path gives it: percent-decoded (a client may encode the `:` or `@` a tenant id
/// may hold); `None` when the escapes are not UTF-8 text.
fn path_tenant(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment).decode_utf8().ok().map(|tenant| tenant.into_owned())
}

/// Routes a request. `/tenants/{tenant}/connections...` are the `/connections...` routes scoped to
/// one tenant, served by the same table below: a list holds the tenant's connections only, a
/// create gives the connection the tenant, and a route naming a connection of another tenant
/// answers 404 as for an unknown id ([`Management::connection_in_tenant`], checked before
/// anything else is done).
async fn route(api: &Api<'_>, request: &Request) -> Result<(StatusCode, Value), ApiError> {
    let service = &api.service;
    let path = request.uri().path().trim_matches('/').to_owned();
    let segments: Vec<&str> = path.split('/').collect();
    let (tenant, segments) = match segments.as_slice() {
        ["tenants", tenant, rest @ ..] if rest.first() == Some(&"connections") => {
            let tenant = path_tenant(tenant).ok_or_else(|| {
                ApiError::invalid("tenant", format!("tenant: {}", connector_core::connections::TENANT_RULE))
            })?;
            (Some(tenant), rest)
        }
        ["tenants", ..] => (None, &[][..]),
        all => (None, all),
    };
    if let (Some(tenant), ["connections", id, ..]) = (&tenant, segments) {
        service.connection_in_tenant(tenant, id).await?;
    }
    let ok = |value: Value| Ok((StatusCode::OK, value));
    let limit = |default: usize, max: usize| query_number(request, "limit", default, max);
    let after = query(request, "after");
    match (request.method(), segments) {
        (&Method::GET, ["connections"]) => {
            let tenant = tenant.as_deref().or(query(request, "tenant"));
            ok(page("connections", service.connections_page(tenant, limit(100, 1000)?, after).await?)?)
        }
        (&Method::POST, ["connections"]) => {
            let input: CreateConnection = body(request)?;
            let tenant = match (tenant, input.tenant) {
                (Some(path), Some(given)) if given != path => {
                    return Err(ApiError::invalid(
                        "tenant",
                        format!("tenant: '{given}' is not the path's tenant '{path}'; leave it out or give the same"),
                    ))
                }
                (Some(path), _) => path,
                (None, Some(given)) => given,
                (None, None) => {
                    return Err(ApiError::invalid(
                        "tenant",
                        "tenant: is required (the platform's id of the customer the connection belongs to)",
                    ))
                }
            };
            let (bucket, region, folder, folder_open) = (input.bucket, input.region, input.folder, input.folder_open);
            let input = ConnectionInput {
                tenant,
                name: input.name,
                account_id: input.account_id,
                template_id: input.template,
                kms_key_arn: input.kms_key_arn,
                mode: input.mode.unwrap_or_default(),
                ..ConnectionInput::default()
            }
            .located(bucket, region, folder, folder_open);
            Ok((StatusCode::CREATED, to_json(&service.create(input).await?)?))
        }
        (&Method::GET, ["connections", id]) => ok(to_json(&service.show(id, 10).await?)?),
        (&Method::PATCH, ["connections", id]) => {
            let edit: EditConnection = body(request)?;
            let change = ConnectionChange {
                name: edit.name,
                template_id: edit.template,
                overlap_hours: edit.overlap_hours,
                mode: edit.mode,
                scan_every_hours: edit.scan_every_hours,
            };
            if change == ConnectionChange::default() {
                return Err(ApiError::invalid(
                    "body",
                    "give a name, a template, an overlap, a mode or a scan interval to change",
                ));
            }
            ok(named("connection", &service.edit(id, change).await?)?)
        }
        (&Method::DELETE, ["connections", id]) => {
            let purge = query_bool(request, "purge_records")?;
            ok(to_json(&service.delete(id, purge).await?)?)
        }
        (&Method::GET, ["connections", id, "files"]) => {
            let failed = query_bool(request, "failed")?;
            ok(page("files", service.files_page(id, failed, limit(100, 1000)?, after).await?)?)
        }
        (&Method::GET, ["connections", id, "runs"]) => ok(named("runs", &service.runs(id, limit(10, 100)?).await?)?),
        (&Method::GET, ["connections", id, "preview"]) => {
            let rows = query_number(request, "rows", 5usize, 100)?;
            ok(to_json(&service.preview(id, limit(20, 1000)?, query(request, "sample"), rows).await?)?)
        }
        (&Method::POST, ["connections", id, "files", "retry"]) => {
            let selection = body::<SelectFiles>(request)?.selection()?;
            ok(to_json(&service.retry_files(id, selection).await?)?)
        }
        (&Method::POST, ["connections", id, "files", "dismiss"]) => {
            let selection = body::<SelectFiles>(request)?.selection()?;
            ok(to_json(&service.dismiss_files(id, selection).await?)?)
        }
        (&Method::POST, ["connections", id, "reimport"]) => {
            let asked: Keys = body(request)?;
            ok(to_json(&service.reimport(id, asked.keys).await?)?)
        }
        (&Method::POST, ["connections", id, "backfill"]) => {
            let asked: Backfill = body(request)?;
            ok(named("connection", &service.backfill(id, parse_since(&asked.since)?).await?)?)
        }
        (&Method::POST, ["connections", id, "sync"]) => {
            let connection = service.sync_now(id).await?;
            Ok((StatusCode::ACCEPTED, json!({ "connection": to_json(&connection)?, "sync_started": true })))
        }
        (&Method::GET, ["connections", id, "records"]) => {
            ok(to_json(&service.records_page(id, limit(100, 1000)?, after).await?)?)
        }
        // A signed, expiring link to the connection's customer set-up page (the dashboard's key).
        (&Method::POST, ["connections", id, "setup-link"]) => {
            let asked: SetupLinkRequest = body(request)?;
            let Some(dashboard) = &api.dashboard else {
                return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "the dashboard is not configured"));
            };
            let connection = service.connection(id).await?;
            let link = dashboard.setup_link(&connection, asked.valid_days, chrono::Utc::now())?;
            Ok((StatusCode::CREATED, to_json(&link)?))
        }
        // Every link made so far refused from now on (the link generation moves on).
        (&Method::DELETE, ["connections", id, "setup-link"]) => {
            let generation = service.withdraw_setup_links(id).await?;
            ok(json!({ "connection_id": id, "links_withdrawn": true, "link_generation": generation }))
        }
        // Activation and re-authentication: the connection, and the access check's report.
        (&Method::POST, ["connections", id, "activate"]) => ok(to_json(&service.activate(id).await?)?),
        (&Method::POST, ["connections", id, "reauthenticate"]) => ok(to_json(&service.reauthenticate(id).await?)?),
        (&Method::POST, ["connections", id, "pause"]) => ok(named("connection", &service.pause(id).await?)?),
        (&Method::POST, ["connections", id, "resume"]) => ok(named("connection", &service.resume(id).await?)?),
        (&Method::GET, ["templates"]) => ok(named("templates", &service.templates().await?)?),
        (&Method::POST, ["templates", "draft"]) => {
            let asked: DraftTemplate = body(request)?;
            if let Some(tenant) = &asked.tenant {
                service.connection_in_tenant(tenant, &asked.connection_id).await?;
            }
            let id = asked.id.as_deref();
            ok(to_json(&service.draft_template(&asked.connection_id, &asked.key, asked.rows, id).await?)?)
        }
        (&Method::GET, ["templates", id]) => {
            let version = match query(request, "version") {
                None => None,
                Some(_) => Some(query_number(request, "version", 0u32, u32::MAX)?),
            };
            ok(to_json(&service.template(id, version).await?)?)
        }
        (&Method::PUT, ["templates", id]) => {
            let text =
                std::str::from_utf8(raw_body(request)?).map_err(|_| ApiError::invalid("body", "is not UTF-8"))?;
            ok(to_json(&service.put_template(text, Some(id)).await?)?)
        }
        (&Method::DELETE, ["templates", id]) => {
            service.delete_template(id).await?;
            ok(json!({ "deleted": id }))
        }
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no route {} /{path}", request.method()))),
    }
}
