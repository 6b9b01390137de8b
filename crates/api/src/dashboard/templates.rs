//! The platform's data templates: the list, one template, and a new version uploaded as its JSON
//! document, whose validation errors are listed beside the document, each naming its field.

use super::connections::{error_status, word};
use super::layout::{alert, html_response, redirect};
use super::{Context, Form};
use connector_core::manage::{FieldError, ManageError, Management};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Response};
use maud::html;

pub async fn route(
    context: &Context<'_>,
    service: &Management<'_>,
    segments: &[&str],
    form: Option<Form>,
) -> Response<Body> {
    match (context.request.method(), segments, form) {
        (&Method::GET, [], _) => list(context, service).await,
        (&Method::GET, ["new"], _) => editor(context, "", None, StatusCode::OK),
        (&Method::GET, [id], _) => view(context, service, id).await,
        (&Method::POST, [], Some(form)) => save(context, service, form).await,
        _ => context.error_page(StatusCode::NOT_FOUND, "Not found", "There is no such page."),
    }
}

async fn list(context: &Context<'_>, service: &Management<'_>) -> Response<Body> {
    let templates = match service.templates().await {
        Ok(t) => t,
        Err(e) => return context.error_page(error_status(&e), "Templates", &e.to_string()),
    };
    let body = html! {
        h1 { "Templates" }
        // Named only when it is one of the templates listed (a query never puts text of its own here).
        @if let Some(saved) = context.query("saved").filter(|s| templates.iter().any(|t| &t.template.id == s)) {
            (alert("notice", &format!("Saved a new version of {saved}.")))
        }
        p { a.button href=(context.href("/templates/new")) { "New template or version" } }
        div.table-wrap { table {
            thead { tr { th scope="col" { "Template" } th.num scope="col" { "Version" } th scope="col" { "Record type" } th scope="col" { "Format" } th.num scope="col" { "Columns" } } }
            tbody { @for t in &templates { tr {
                td { a href=(context.href(&format!("/templates/{}", t.template.id))) { (t.template.id) } }
                td.num { (t.version) }
                td { (t.template.record_type) }
                td { (serde_json::to_value(&t.template.format).ok().and_then(|f| f.get("type").cloned()).map(|t| t.as_str().unwrap_or("").to_owned()).unwrap_or_default()) }
                td.num { (t.template.columns.len()) }
            } } }
        } }
    };
    html_response(StatusCode::OK, context.frame.page("Templates", body))
}

async fn view(context: &Context<'_>, service: &Management<'_>, id: &str) -> Response<Body> {
    let template = match service.template(id, None).await {
        Ok(t) => t,
        Err(e) => return context.error_page(error_status(&e), "Template", &e.to_string()),
    };
    let document = serde_json::to_string_pretty(&template.template).unwrap_or_default();
    let body = html! {
        h1 { "Template " (id) " " span.muted { "version " (template.version) } }
        div.table-wrap { table {
            thead { tr { th scope="col" { "Column" } th scope="col" { "Field" } th scope="col" { "Type" } th scope="col" { "Required" } } }
            tbody { @for column in &template.template.columns { tr {
                td { code { (column.source) } }
                td { code { (column.field) } }
                td { (word(&column.field_type)) }
                td { @if column.required { "yes" } @else { "no" } }
            } } }
        } }
        h2 { "Upload a new version" }
        (editor_form(context, &document, &[]))
    };
    html_response(StatusCode::OK, context.frame.page(&format!("Template {id}"), body))
}

fn editor(context: &Context<'_>, document: &str, errors: Option<&[FieldError]>, status: StatusCode) -> Response<Body> {
    let body = html! {
        h1 { "Upload a template" }
        p { "Paste the template's JSON document; its " code { "id" } " says which template it is a new version of." }
        (editor_form(context, document, errors.unwrap_or_default()))
    };
    html_response(status, context.frame.page("Upload a template", body))
}

fn editor_form(context: &Context<'_>, document: &str, errors: &[FieldError]) -> maud::Markup {
    html! {
        form.stack method="post" action=(context.href("/templates")) {
            (context.frame.csrf())
            label for="document" { "Template document (JSON)" }
            @if !errors.is_empty() {
                div id="document-errors" role="alert" {
                    p.field-error { "The template was not saved:" }
                    ul { @for e in errors { li.field-error { code { (e.field) } ": " (e.message) } } }
                }
            }
            textarea id="document" name="document" rows="18" spellcheck="false"
                aria-invalid=[(!errors.is_empty()).then_some("true")]
                aria-describedby=[(!errors.is_empty()).then_some("document-errors")] { (document) }
            p { button type="submit" { "Save as a new version" } }
        }
    }
}

async fn save(context: &Context<'_>, service: &Management<'_>, form: Form) -> Response<Body> {
    let document = form.get("document");
    match service.put_template(document, None).await {
        Ok(saved) => redirect(&format!("{}?saved={}", context.href("/templates"), saved.template.id), &[]),
        Err(ManageError::Invalid(errors)) => editor(context, document, Some(&errors), StatusCode::BAD_REQUEST),
        Err(e) => editor(context, document, Some(&[FieldError::new("document", e.to_string())]), error_status(&e)),
    }
}
