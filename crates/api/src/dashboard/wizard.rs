//! The set-up wizard, in the product's order: name and template; the role to create (its name and
//! trust policy); the customer's account, bucket, region and folder (which creates the pending
//! connection); the permission policy; the preview of files and a sample parsed with the
//! template; Done, which activates (the first import starts).
//!
//! Nothing is stored before the bucket step: the first steps carry their fields in the form, and
//! the proposed role's ids with a signature (the deployment's key), so they cannot be altered.

use super::connections::error_status;
use super::layout::{alert, badge, copyable, field, html_response, redirect};
use super::{Context, Form};
use connector_core::connections::ConnectionInput;
use connector_core::manage::access::Preview;
use connector_core::manage::{FieldError, ManageError, Management};
use connector_core::model::LocationField;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Response};
use maud::{html, Markup};

const STEPS: [&str; 5] = ["Name", "Role", "Bucket", "Permissions", "Preview and activate"];

fn steps(current: usize) -> Markup {
    html! {
        nav aria-label="Set-up steps" {
            ol.steps { @for (i, step) in STEPS.iter().enumerate() {
                li aria-current=[(i == current).then_some("step")] { (i + 1) ". " (step) }
            } }
        }
    }
}

pub async fn route(
    context: &Context<'_>,
    service: &Management<'_>,
    segments: &[&str],
    form: Option<Form>,
) -> Response<Body> {
    match (context.request.method(), segments, form) {
        (&Method::GET, [], _) => name_step(context, service, &Form::empty(), &[], StatusCode::OK).await,
        (&Method::POST, ["role"], Some(form)) => role_step(context, service, form).await,
        (&Method::POST, ["bucket"], Some(form)) => bucket_step(context, &form, &[], StatusCode::OK),
        (&Method::POST, ["create"], Some(form)) => create(context, service, form).await,
        (&Method::GET, [id, "permissions"], _) => permissions_step(context, service, id).await,
        (&Method::GET, [id, "preview"], _) => preview_step(context, service, id).await,
        (&Method::POST, [id, "activate"], Some(_)) => match service.activate(id).await {
            Ok(_) => redirect(&format!("{}?done=activated", context.href(&format!("/connections/{id}"))), &[]),
            Err(e) => context.error_page(error_status(&e), "Activate", &e.to_string()),
        },
        _ => context.error_page(StatusCode::NOT_FOUND, "Not found", "There is no such page."),
    }
}

pub(super) fn error_of<'e>(errors: &'e [FieldError], name: &str) -> Option<&'e str> {
    errors.iter().find(|e| e.field == name).map(|e| e.message.as_str())
}

/// The fields every step carries forward.
fn carried(form: &Form) -> Markup {
    html! {
        @for name in ["name", "tenant", "template", "connection_id", "external_id", "issued", "ticket"] {
            @if form.has(name) { input type="hidden" name=(name) value=(form.get(name)); }
        }
    }
}

async fn name_step(
    context: &Context<'_>,
    service: &Management<'_>,
    form: &Form,
    errors: &[FieldError],
    status: StatusCode,
) -> Response<Body> {
    let templates = service.templates().await.unwrap_or_default();
    let body = html! {
        h1 { "New connection" }
        (steps(0))
        @if !errors.is_empty() { (alert("error", "Check the fields marked below.")) }
        form.stack method="post" action=(context.href("/new/role")) novalidate {
            (context.frame.csrf())
            (field("name", "Connection name", form.get("name"), Some("How you and the customer will recognise it; unique within the tenant."), error_of(errors, "name")))
            (field("tenant", "Tenant", form.get("tenant"), Some("The platform's id of the customer the connection belongs to."), error_of(errors, "tenant")))
            label for="template" { "Data template" }
            @if let Some(e) = error_of(errors, "template") { span.field-error id="template-error" { (e) } }
            select id="template" name="template" aria-describedby=[error_of(errors, "template").map(|_| "template-error")] {
                @for t in &templates {
                    option value=(t.template.id) selected[t.template.id == form.get("template")] { (t.template.id) " (" (t.template.record_type) ")" }
                }
            }
            p { button type="submit" { "Next: the role" } }
        }
    };
    html_response(status, context.frame.page("New connection", body))
}

/// Checks the name and template, proposes the role, and shows its name and trust policy.
async fn role_step(context: &Context<'_>, service: &Management<'_>, mut form: Form) -> Response<Body> {
    let mut errors = Vec::new();
    if let Err(message) = connector_core::connections::normalise_name(form.get("name")) {
        errors.push(FieldError::new("name", message));
    }
    if connector_core::connections::normalise_tenant(form.get("tenant")).is_err() {
        errors.push(FieldError::new("tenant", connector_core::connections::TENANT_RULE));
    }
    if service.template(form.get("template"), None).await.is_err() {
        errors.push(FieldError::new("template", "choose one of the templates"));
    }
    if !errors.is_empty() {
        return name_step(context, service, &form, &errors, StatusCode::BAD_REQUEST).await;
    }
    // Back from the bucket step: the same proposal, if it is ours.
    if !ticket_matches(context, &form) {
        let role = match service.propose_role().await {
            Ok(role) => role,
            Err(e) => return context.error_page(error_status(&e), "New connection", &e.to_string()),
        };
        let issued = chrono::Utc::now().timestamp().to_string();
        let ticket = context.frame.sign(&["wizard", &role.connection_id, &role.external_id, &issued]);
        form.set("connection_id", &role.connection_id);
        form.set("external_id", &role.external_id);
        form.set("issued", &issued);
        form.set("ticket", &ticket);
    }
    let role = match service.propose_role_for(form.get("connection_id"), form.get("external_id")).await {
        Ok(role) => role,
        Err(e) => return context.error_page(error_status(&e), "New connection", &e.to_string()),
    };
    let body = html! {
        h1 { "New connection: the role" }
        (steps(1))
        p { "The customer creates an IAM role in their AWS account with this name, trusting us with this policy. "
            "The external id in it is this connection's alone: it keeps anyone else from using the role through us." }
        dl.facts {
            dt { "Role name" } dd { code id="role-name" { (role.role_name) } }
            dt { "External id" } dd { code id="external-id" { (role.external_id) } }
        }
        (copyable("trust-policy", "Trust policy", &pretty(&role.trust_policy)))
        p.muted { "The permission policy names the bucket: it follows once the bucket is given." }
        form method="post" action=(context.href("/new/bucket")) {
            (context.frame.csrf())
            (carried(&form))
            p { button type="submit" { "Next: the bucket" } }
        }
    };
    html_response(StatusCode::OK, context.frame.page("New connection: the role", body))
}

/// How long a proposed role may wait for its bucket: a form left longer (or replayed after the
/// connection was deleted) starts again with a new role.
const TICKET_HOURS: i64 = 24;

fn ticket_matches(context: &Context<'_>, form: &Form) -> bool {
    let parts = ["wizard", form.get("connection_id"), form.get("external_id"), form.get("issued")];
    let fresh = form
        .get("issued")
        .parse::<i64>()
        .is_ok_and(|issued| (0..TICKET_HOURS * 3600).contains(&(chrono::Utc::now().timestamp() - issued)));
    fresh && context.frame.verify(&parts, form.get("ticket"))
}

fn bucket_step(context: &Context<'_>, form: &Form, errors: &[FieldError], status: StatusCode) -> Response<Body> {
    if !ticket_matches(context, form) {
        return context.error_page(
            StatusCode::BAD_REQUEST,
            "New connection",
            "The set-up form was altered or is stale: start again.",
        );
    }
    let body = html! {
        h1 { "New connection: the bucket" }
        (steps(2))
        @if !errors.is_empty() { (alert("error", "Check the fields marked below; nothing was created.")) }
        form.stack method="post" action=(context.href("/new/create")) novalidate {
            (context.frame.csrf())
            (carried(form))
            (field("account_id", "Customer's AWS account id", form.get("account_id"), Some("12 digits."), error_of(errors, "account_id")))
            p.hint { "Leave any of bucket, region and folder for the customer to fill on their set-up page (tick it, and leave the field empty): "
                "the permission policy follows once they have." }
            (field("bucket", "Bucket", form.get("bucket"), None, error_of(errors, "bucket")))
            (leave_open(form, "bucket"))
            (field("region", "Region", form.get("region"), Some("Like us-east-1."), error_of(errors, "region")))
            (leave_open(form, "region"))
            (field("folder", "Folder (optional)", form.get("folder"), Some("Only objects under it are imported; empty for the whole bucket."), error_of(errors, "folder")))
            (leave_open(form, "folder"))
            @for other in errors.iter().filter(|e| !["account_id", "bucket", "region", "folder"].contains(&e.field.as_str())) {
                p.field-error { (other.field) ": " (other.message) }
            }
            p { button type="submit" { "Create the connection" } }
        }
    };
    html_response(status, context.frame.page("New connection: the bucket", body))
}

/// The box that leaves a location field for the customer (`{name}_open`).
fn leave_open(form: &Form, name: &str) -> Markup {
    let box_name = format!("{name}_open");
    html! {
        label.check { input type="checkbox" name=(box_name) value="true" checked[form.get(&box_name) == "true"];
            " Let the customer fill this on their set-up page" }
    }
}

async fn create(context: &Context<'_>, service: &Management<'_>, form: Form) -> Response<Body> {
    if !ticket_matches(context, &form) {
        return bucket_step(context, &form, &[], StatusCode::BAD_REQUEST);
    }
    let open_fields: Vec<LocationField> = [LocationField::Bucket, LocationField::Region, LocationField::Folder]
        .into_iter()
        .filter(|field| form.get(&format!("{field}_open")) == "true")
        .collect();
    let folder = Some(form.get("folder").trim()).filter(|f| !f.is_empty()).map(str::to_owned);
    let input = ConnectionInput {
        tenant: form.get("tenant").trim().to_owned(),
        name: form.get("name").to_owned(),
        account_id: form.get("account_id").trim().to_owned(),
        bucket: form.get("bucket").trim().to_owned(),
        region: form.get("region").trim().to_owned(),
        folder,
        template_id: form.get("template").to_owned(),
        kms_key_arn: None,
        open_fields,
        mode: Default::default(),
    };
    match service.create_proposed(input, form.get("connection_id"), form.get("external_id")).await {
        Ok(created) => redirect(&context.href(&format!("/new/{}/permissions", created.connection.id)), &[]),
        Err(ManageError::Invalid(errors)) => bucket_step(context, &form, &errors, StatusCode::BAD_REQUEST),
        Err(e @ ManageError::NameTaken(_)) => {
            bucket_step(context, &form, &[FieldError::new("name", e.to_string())], StatusCode::CONFLICT)
        }
        Err(e) => context.error_page(error_status(&e), "New connection", &e.to_string()),
    }
}

async fn permissions_step(context: &Context<'_>, service: &Management<'_>, id: &str) -> Response<Body> {
    let documents = match service.role_documents(id).await {
        Ok(d) => d,
        Err(e) => return context.error_page(error_status(&e), "New connection", &e.to_string()),
    };
    let body = html! {
        h1 { "New connection: the role's permissions" }
        (steps(3))
        p { "The customer creates the role " code { (documents.role_name) } " with these two policies. "
            "The permission policy lets us list and read the bucket (or folder), nothing more." }
        @match &documents.permission_policy {
            Some(policy) => {
                (copyable("permission-policy", "Permission policy", &pretty(policy)))
                (copyable("trust-policy", "Trust policy", &pretty(&documents.trust_policy)))
                p { a.button href=(context.href(&format!("/new/{id}/preview"))) { "The role exists: check access and preview" } }
            }
            None => {
                (alert("notice", "The customer fills the fields left open on their set-up page; the permission policy, which names the bucket and folder, is shown there once they have."))
                (copyable("trust-policy", "Trust policy", &pretty(&documents.trust_policy)))
                p { a.button href=(context.href(&format!("/connections/{id}"))) { "To the connection: make the customer's set-up link" } }
            }
        }
    };
    html_response(StatusCode::OK, context.frame.page("New connection: permissions", body))
}

/// The files the connection sees and a sample parsed with its template: the file `?sample=` names,
/// else the first one the first sync would import.
pub(super) async fn sample_preview(
    service: &Management<'_>,
    id: &str,
    sample: Option<String>,
) -> Result<Preview, ManageError> {
    if sample.is_some() {
        return service.preview(id, 20, sample.as_deref(), 5).await;
    }
    let preview = service.preview(id, 20, None, 5).await?;
    match preview.objects.iter().find(|o| o.would_select) {
        Some(first) => service.preview(id, 20, Some(&first.key.clone()), 5).await,
        None => Ok(preview),
    }
}

async fn preview_step(context: &Context<'_>, service: &Management<'_>, id: &str) -> Response<Body> {
    let preview = match sample_preview(service, id, context.query("sample")).await {
        Ok(preview) => preview,
        Err(e) => {
            let status = error_status(&e);
            let body = html! {
                h1 { "New connection: preview" }
                (steps(4))
                (alert("error", &e.to_string()))
                p {
                    a.button href=(context.href(&format!("/new/{id}/preview"))) { "Check again" }
                    " " a href=(context.href(&format!("/new/{id}/permissions"))) { "Back to the policies" }
                }
            };
            return html_response(status, context.frame.page("New connection: preview", body));
        }
    };
    let body = html! {
        h1 { "New connection: preview" }
        (steps(4))
        (preview_markup(&preview, |key| Some(format!("{}?{}", context.href(&format!("/new/{id}/preview")), serde_urlencoded::to_string([("sample", key)]).unwrap_or_default()))))
        form method="post" action=(context.href(&format!("/new/{id}/activate"))) {
            (context.frame.csrf())
            p { button type="submit" { "Done: activate and import" } }
        }
    };
    html_response(StatusCode::OK, context.frame.page("New connection: preview", body))
}

/// What a preview found: the access check, the files with what the first sync would do with each
/// (each with a link to sample it, `sample_href`), and the sample parsed with the template. The
/// wizard's and the customer's page.
pub fn preview_markup(preview: &Preview, sample_href: impl Fn(&str) -> Option<String>) -> Markup {
    html! {
        (alert("notice", &format!("Access works: {} of {} objects tried were readable.", preview.access.readable(), preview.access.objects.len())))
        h2 { "Files" }
        @if preview.objects.is_empty() { p { "The bucket (or folder) holds no file yet; the first sync imports what arrives." } } @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "File" } th.num scope="col" { "Size" } th scope="col" { "Format" } th scope="col" { "Imported?" } } }
                tbody { @for o in &preview.objects { tr {
                    td { code { (o.key) } }
                    td.num { (o.size) }
                    td { (o.format) @if let Some(c) = o.compression { " (" (c) ")" } }
                    td {
                        @if o.would_select { (badge("imported")) } @else { (badge("skipped")) }
                        @if let Some(note) = &o.note { " " (note) }
                        @if let Some(href) = sample_href(&o.key) { " " a href=(href)
                            aria-label=(format!("Sample {}", o.key)) { "Sample" } }
                    }
                } } }
            } }
            @if preview.more { p.muted { "More files follow." } }
        }
        @if let Some(sample) = &preview.sample {
            h2 { "Sample of " code { (sample.key) } }
            @if let Some(error) = &sample.file_error { (alert("error", error)) }
            @if !sample.rows.is_empty() {
                @let fields: Vec<&String> = sample.rows[0].keys().collect();
                div.table-wrap { table {
                    thead { tr { @for f in &fields { th scope="col" { (f) } } } }
                    tbody { @for row in &sample.rows { tr { @for f in &fields {
                        td { (row.get(*f).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).unwrap_or_default()) }
                    } } } }
                } }
            }
            @if !sample.row_errors.is_empty() {
                h3 { "Rows the template rejects" }
                ul { @for e in &sample.row_errors { li { "line " (e.line) @if let Some(c) = &e.column { ", column " code { (c) } } ": " (e.reason) } } }
            }
        }
    }
}

pub fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
