//! The connections list and one connection's page with its actions (rename, change template,
//! pause, resume, sync now, re-authenticate, retry or dismiss failed files, delete).

use super::layout::{alert, badge, duration, html_response, redirect, when};
use super::{wizard, Context, Form};
use connector_core::manage::connections::ConnectionChange;
use connector_core::manage::recovery::FileSelection;
use connector_core::manage::{FieldError, ManageError, Management};
use connector_core::model::{Connection, FileOutcome, LocationField, SyncMode, SyncRun, DAILY_SCAN_HOURS};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Response};
use maud::{html, Markup};
use serde::Serialize;

/// How many connections one page of the list reads by default ([`super::Dashboard::list_page`]).
pub const LIST_PAGE: usize = 1000;

/// A serialised enum's word (`succeeded`, `needs_reauth`).
pub fn word(value: &impl Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The status and HTML of a management error, for the page that shows it.
pub fn error_status(e: &ManageError) -> StatusCode {
    match e {
        ManageError::NotFound { .. } => StatusCode::NOT_FOUND,
        ManageError::Invalid(_) => StatusCode::BAD_REQUEST,
        ManageError::Conflict(_) | ManageError::NameTaken(_) => StatusCode::CONFLICT,
        ManageError::Access(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

pub async fn route(
    context: &Context<'_>,
    service: &Management<'_>,
    segments: &[&str],
    form: Option<Form>,
) -> Response<Body> {
    match (context.request.method(), segments, form) {
        (_, ["new", ..], form) => wizard::route(context, service, &segments[1..], form).await,
        (&Method::GET, ["connections"], _) => list(context, service).await,
        (&Method::GET, ["connections", id], _) => detail(context, service, id, None).await,
        (&Method::GET, ["connections", id, "delete"], _) => confirm_delete(context, service, id).await,
        (&Method::POST, ["connections", id, action], Some(form)) => act(context, service, id, action, form).await,
        _ => context.error_page(StatusCode::NOT_FOUND, "Not found", "There is no such page."),
    }
}

async fn list(context: &Context<'_>, service: &Management<'_>) -> Response<Body> {
    let search = context.query("q").unwrap_or_default();
    let status_filter = context.query("status").unwrap_or_default();
    // A tenant's connections come from the by-tenant index; without one, every connection.
    let tenant = context.query("tenant").map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let after = context.query("after");
    let limit = context.dashboard.list_page;
    let page = match service.connections_page(tenant.as_deref(), limit, after.as_deref()).await {
        Ok(page) => page,
        Err(e) => return context.error_page(error_status(&e), "Connections", &e.to_string()),
    };
    let needle = search.trim().to_lowercase();
    let shown: Vec<&Connection> = page
        .items
        .iter()
        .filter(|c| needle.is_empty() || c.name.to_lowercase().contains(&needle))
        .filter(|c| status_filter.is_empty() || c.status.as_str() == status_filter)
        .collect();
    let now = chrono::Utc::now();
    let body = html! {
        h1 { "Connections" }
        @if let Some(notice) = context.query("done").and_then(|code| notice_text(&code)) { (alert("notice", notice)) }
        form.filters method="get" action=(context.href("/connections")) role="search" {
            label for="q" { "Name" input type="search" id="q" name="q" value=(search); }
            label for="tenant" { "Tenant" input type="text" id="tenant" name="tenant" value=(tenant.as_deref().unwrap_or("")); }
            label for="status" {
                "Status"
                select id="status" name="status" {
                    option value="" { "Any" }
                    @for status in ["pending", "active", "paused", "needs_reauth"] {
                        option value=(status) selected[status_filter == status] { (status.replace('_', " ")) }
                    }
                }
            }
            button type="submit" { "Filter" }
            a.button href=(context.href("/new")) { "New connection" }
        }
        @if page.next.is_some() || after.is_some() {
            p.muted { "The filters apply to " (limit) " connections at a time." }
        }
        @if shown.is_empty() {
            p { "No connection matches." }
        } @else {
            div.table-wrap {
                table {
                    caption.muted { (shown.len()) " of " (page.items.len()) " connections" }
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Tenant" } th scope="col" { "Status" } th scope="col" { "Last sync" }
                        th scope="col" { "Result" } th scope="col" { "Lag" } th.num scope="col" { "Failing files" }
                    } }
                    tbody {
                        @for c in &shown {
                            tr {
                                td { a href=(context.href(&format!("/connections/{}", c.id))) { (c.name) } }
                                td { @if c.lacks_tenant() { span.muted { "none" } } @else { (c.tenant) } }
                                td { (badge(c.status.as_str())) }
                                td { (when(c.sync.last_sync_finished)) }
                                td { @match &c.sync.last_result { Some(r) => (badge(&word(r))), None => span.muted { "–" } } }
                                td { (duration(c.sync.newest_imported.map(|t| (now - t).num_seconds()))) }
                                td.num { (c.failed_files) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &page.next {
            @let query = serde_urlencoded::to_string([
                ("q", search.as_str()),
                ("status", status_filter.as_str()),
                ("tenant", tenant.as_deref().unwrap_or("")),
                ("after", next.as_str()),
            ]).unwrap_or_default();
            p { a href=(format!("{}?{query}", context.href("/connections"))) { "Next " (limit) " connections" } }
        }
    };
    html_response(StatusCode::OK, context.frame.page("Connections", body))
}

/// One connection's page, with `message` (a notice or an error with its status) on top.
async fn detail(
    context: &Context<'_>,
    service: &Management<'_>,
    id: &str,
    message: Option<(StatusCode, String)>,
) -> Response<Body> {
    let detail = match service.show(id, 10).await {
        Ok(detail) => detail,
        Err(e) => return context.error_page(error_status(&e), "Connection", &e.to_string()),
    };
    // What does not load is said on the page, not shown as empty.
    let mut unloaded = Vec::new();
    let files = service.files_page(id, false, 50, None).await.map(|p| p.items).unwrap_or_else(|e| {
        unloaded.push(format!("files: {e}"));
        vec![]
    });
    let records = service.records_page(id, 5, None).await.map(|p| p.records).unwrap_or_else(|e| {
        unloaded.push(format!("records: {e}"));
        vec![]
    });
    let templates = service.templates().await.unwrap_or_else(|e| {
        unloaded.push(format!("templates: {e}"));
        vec![]
    });
    let c = &detail.connection;
    let notice = context.query("done").and_then(|code| notice_text(&code));
    let (status, message_markup) = match &message {
        Some((status, text)) if status.is_success() => (*status, alert("notice", text)),
        Some((status, text)) => (*status, alert("error", text)),
        None => (StatusCode::OK, notice.map(|n| alert("notice", n)).unwrap_or_default()),
    };
    let href = |path: &str| context.href(&format!("/connections/{}{path}", c.id));
    let body = html! {
        h1 { (c.name) " " (badge(c.status.as_str())) }
        (message_markup)
        @if !unloaded.is_empty() { (alert("error", &format!("Part of this page did not load; reload to try again ({}).", unloaded.join("; ")))) }
        dl.facts {
            dt { "Tenant" } dd { @if c.lacks_tenant() { span.muted { "none (see assign-tenant)" } } @else { (c.tenant) } }
            dt { "Bucket" } dd { (location_value(c, LocationField::Bucket, &c.bucket)) }
            dt { "Region" } dd { (location_value(c, LocationField::Region, &c.region)) }
            dt { "Folder" } dd { (location_value(c, LocationField::Folder, c.folder.as_deref().unwrap_or(""))) }
            dt { "Account" } dd { (c.account_id) }
            dt { "Role" } dd { code { (detail.role_arn) } }
            dt { "Template" } dd { a href=(context.href(&format!("/templates/{}", c.template_id))) { (c.template_id) } }
            dt { "Mode" } dd { (mode_text(c.mode)) }
            dt { "Scans" } dd { (scan_interval_text(c.scan_every_hours)) }
            dt { "Last sync" } dd { (when(c.sync.last_sync_finished)) @if let Some(r) = &c.sync.last_result { " " (badge(&word(r))) } }
            @if let Some(error) = &c.sync.last_error { dt { "Last error" } dd { (error) } }
            dt { "Lag" } dd { (duration(detail.lag_seconds)) }
            dt { "Failing files" } dd { (c.failed_files) }
            @if let Some(reason) = &c.pause_reason { dt { "Paused by" } dd { (word(reason)) } }
        }
        h2 { "Actions" }
        div.actions {
            @if c.status.as_str() == "active" {
                (button_form(context, &href("/sync"), "Sync now", ""))
                (button_form(context, &href("/pause"), "Pause", "secondary"))
            }
            @if c.status.as_str() == "paused" { (button_form(context, &href("/resume"), "Resume", "")) }
            @if c.status.as_str() == "pending" { (button_form(context, &href("/activate"), "Activate", "")) }
            @if c.status.as_str() == "needs_reauth" {
                (button_form(context, &href("/reauthenticate"), "Check access again", "secondary"))
            }
            a.button.danger href=(href("/delete")) { "Delete…" }
        }
        div.actions {
            form.stack method="post" action=(href("/link")) {
                (context.frame.csrf())
                label for="days" { "Customer set-up link" span.hint { "A page for the customer: the role to create, and a check of access." } }
                select id="days" name="days" {
                    @for days in [1, 7, 30] { option value=(days) selected[days == 7] { "valid " (days) " day" @if days > 1 { "s" } } }
                }
                button.secondary type="submit" { "Make a link" }
            }
            form.stack method="post" action=(href("/withdraw-links")) {
                (context.frame.csrf())
                span.hint { "Every link made so far stops working; a link made afterwards works." }
                button.secondary type="submit" { "Withdraw links" }
            }
        }
        div.actions {
            form.stack method="post" action=(href("/rename")) {
                (context.frame.csrf())
                label for="name" { "Name" }
                input type="text" id="name" name="name" value=(c.name) required;
                button.secondary type="submit" { "Rename" }
            }
            form.stack method="post" action=(href("/template")) {
                (context.frame.csrf())
                label for="template" { "Template" }
                select id="template" name="template" {
                    @for t in &templates {
                        option value=(t.template.id) selected[t.template.id == c.template_id] { (t.template.id) " (v" (t.version) ")" }
                    }
                }
                button.secondary type="submit" { "Change template" }
            }
            form.stack method="post" action=(href("/mode")) {
                (context.frame.csrf())
                label for="mode" { "Mode" }
                select id="mode" name="mode" {
                    @for mode in [SyncMode::Scheduled, SyncMode::Events] {
                        option value=(mode.as_str()) selected[mode == c.mode] { (mode_text(mode)) }
                    }
                }
                button.secondary type="submit" { "Change mode" }
            }
            form.stack method="post" action=(href("/schedule")) {
                (context.frame.csrf())
                label for="every" { "Scans" span.hint { "How often the scheduled scan runs; any scan restarts the interval." } }
                select id="every" name="every" {
                    @for hours in SCAN_INTERVALS {
                        option value=(hours) selected[c.scan_every_hours.unwrap_or(DAILY_SCAN_HOURS) == hours] { (scan_interval_text(Some(hours))) }
                    }
                }
                button.secondary type="submit" { "Change schedule" }
            }
        }
        h2 { "Failed files" }
        @if detail.failed_files.is_empty() {
            p { "No open failures." }
        } @else {
            form method="post" action=(href("/retry")) {
                (context.frame.csrf())
                input type="hidden" name="failed" value="true";
                button type="submit" { "Retry every failed file" }
            }
            (file_table(context, &href(""), &detail.failed_files, true))
        }
        h2 { "Recent runs" }
        (runs_table(&detail.recent_runs))
        h2 { "Files" }
        @if files.is_empty() { p { "No file has an outcome yet." } } @else { (file_table(context, &href(""), &files, false)) }
        h2 { "Sample of records" }
        @if records.is_empty() { p { "No records yet." } } @else {
            @for record in &records { pre { (serde_json::to_string_pretty(record).unwrap_or_default()) } }
        }
    };
    html_response(status, context.frame.page(&c.name, body))
}

/// A location field's value on the connection's page: the value (`(whole bucket)` for no folder),
/// or, while the customer has not filled a field left open, that it is theirs to fill.
fn location_value(c: &Connection, field: LocationField, value: &str) -> Markup {
    html! {
        @if c.unfilled_fields().contains(&field) {
            span.muted { "open: the customer fills it" }
        } @else if value.is_empty() {
            span.muted { "(whole bucket)" }
        } @else {
            code { (value) }
            @if c.is_open(field) { " " span.muted { "(filled by the customer)" } }
        }
    }
}

fn button_form(context: &Context<'_>, action: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (context.frame.csrf())
            button class=(class) type="submit" { (label) }
        }
    }
}

fn runs_table(runs: &[SyncRun]) -> Markup {
    html! {
        @if runs.is_empty() { p { "No run yet." } } @else {
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "Started" } th scope="col" { "Result" } th.num scope="col" { "Files imported" }
                    th.num scope="col" { "Failed" } th.num scope="col" { "Rows imported" } th.num scope="col" { "Rows rejected" }
                    th scope="col" { "Error" }
                } }
                tbody { @for run in runs { tr {
                    td { (when(Some(run.started_at))) }
                    td { (badge(&word(&run.result))) }
                    td.num { (run.counts.files_imported + run.counts.files_partial) }
                    td.num { (run.counts.files_failed) }
                    td.num { (run.counts.rows_imported) }
                    td.num { (run.counts.rows_rejected) }
                    td { (run.error.as_deref().unwrap_or("")) }
                } } }
            } }
        }
    }
}

/// Files with their outcome and row errors; failed ones get Retry and Dismiss buttons.
fn file_table(context: &Context<'_>, connection_href: &str, files: &[FileOutcome], actions: bool) -> Markup {
    html! {
        div.table-wrap { table {
            thead { tr {
                th scope="col" { "File" } th scope="col" { "Outcome" } th.num scope="col" { "Rows imported" }
                th.num scope="col" { "Rejected" } th scope="col" { "Why" }
                @if actions { th scope="col" { "Actions" } }
            } }
            tbody { @for f in files { tr {
                td { code { (f.key) } }
                td { (badge(&word(&f.status))) }
                td.num { (f.rows_imported) }
                td.num { (f.rows_rejected) }
                td {
                    @if let Some(reason) = &f.reason { (reason) }
                    @if !f.row_errors.is_empty() {
                        ul.row-errors { @for e in &f.row_errors {
                            li { "line " (e.line) @if let Some(col) = &e.column { ", column " code { (col) } } ": " (e.reason) }
                        } }
                    }
                    @if !f.drift.unmapped_columns.is_empty() {
                        p.drift { "Columns the template does not map: " (f.drift.unmapped_columns.join(", ")) }
                    }
                    @if !f.drift.missing_columns.is_empty() {
                        p.drift { "Template columns the file lacks: " (f.drift.missing_columns.join(", ")) }
                    }
                    @if let Some(url) = &f.rejects_url {
                        p { a href=(url) { "Download the rejected rows" } " (to fix and send again; the link works for an hour)" }
                    }
                }
                @if actions { td {
                    form.inline method="post" action=(format!("{connection_href}/retry")) {
                        (context.frame.csrf())
                        input type="hidden" name="keys" value=(f.key);
                        button.secondary type="submit" aria-label=(format!("Retry {}", f.key)) { "Retry" }
                    }
                    form.inline method="post" action=(format!("{connection_href}/dismiss")) {
                        (context.frame.csrf())
                        input type="hidden" name="keys" value=(f.key);
                        button.secondary type="submit" aria-label=(format!("Dismiss {}", f.key)) { "Dismiss" }
                    }
                } }
            } } }
        } }
    }
}

async fn confirm_delete(context: &Context<'_>, service: &Management<'_>, id: &str) -> Response<Body> {
    let connection = match service.connection(id).await {
        Ok(c) => c,
        Err(e) => return context.error_page(error_status(&e), "Delete", &e.to_string()),
    };
    let back = context.href(&format!("/connections/{id}"));
    let body = html! {
        h1 { "Delete " (connection.name) "?" }
        p { "Deleting stops every sync of this connection and removes its settings, its files' outcomes and its runs." }
        p { strong { "What is kept:" } " the records it imported stay in the records table unless you tick the box below; the customer's bucket and role are never touched (the customer removes the role)." }
        form.stack method="post" action=(format!("{back}/delete")) {
            (context.frame.csrf())
            label { input type="checkbox" name="purge_records" value="true"; " Also delete the records it imported" }
            p {
                button.danger type="submit" { "Delete the connection" }
                " " a href=(back) { "Cancel" }
            }
        }
    };
    html_response(StatusCode::OK, context.frame.page("Delete", body))
}

/// A form post on a connection: the action, then its page again (a redirect with a notice when it
/// worked, the page with the error when not).
async fn act(context: &Context<'_>, service: &Management<'_>, id: &str, action: &str, form: Form) -> Response<Body> {
    let selection = || {
        if form.get("failed") == "true" {
            FileSelection::Failed
        } else {
            FileSelection::Keys(form.keys.clone())
        }
    };
    // The notice after the redirect is one of a fixed set (a query never puts text of its own on
    // the page); a result worth reading in full (an access check's) is shown at once instead.
    let done: Result<&str, ManageError> = match action {
        "pause" => service.pause(id).await.map(|_| "paused"),
        "resume" => service.resume(id).await.map(|_| "resumed"),
        "sync" => service.sync_now(id).await.map(|_| "sync"),
        "activate" => service.activate(id).await.map(|_| "activated"),
        "reauthenticate" => match service.reauthenticate(id).await {
            Ok(a) => {
                let text = format!(
                    "Access works: {} of {} objects tried were readable.",
                    a.access.readable(),
                    a.access.objects.len()
                );
                return detail(context, service, id, Some((StatusCode::OK, text))).await;
            }
            Err(e) => Err(e),
        },
        "rename" => {
            let change = ConnectionChange { name: Some(form.get("name").to_owned()), ..Default::default() };
            service.edit(id, change).await.map(|_| "renamed")
        }
        "template" => {
            let change = ConnectionChange { template_id: Some(form.get("template").to_owned()), ..Default::default() };
            service.edit(id, change).await.map(|_| "template")
        }
        "mode" => match SyncMode::parse(form.get("mode")) {
            Some(mode) => {
                service.edit(id, ConnectionChange { mode: Some(mode), ..Default::default() }).await.map(|_| "mode")
            }
            None => Err(ManageError::Invalid(vec![FieldError::new("mode", "is scheduled or events")])),
        },
        "schedule" => match form.get("every").parse::<u32>() {
            Ok(hours) => {
                let change = ConnectionChange { scan_every_hours: Some(Some(hours)), ..Default::default() };
                service.edit(id, change).await.map(|_| "schedule")
            }
            Err(_) => Err(ManageError::Invalid(vec![FieldError::new("scan_every_hours", "is a number of hours")])),
        },
        "link" => return link(context, service, id, form.get("days").parse().unwrap_or(0)).await,
        "withdraw-links" => service.withdraw_setup_links(id).await.map(|_| "withdrawn"),
        "retry" => service.retry_files(id, selection()).await.map(|_| "retried"),
        "dismiss" => service.dismiss_files(id, selection()).await.map(|_| "dismissed"),
        "delete" => {
            return match service.delete(id, form.get("purge_records") == "true").await {
                Ok(_) => redirect(&format!("{}?done=deleted", context.href("/connections")), &[]),
                Err(e) => detail(context, service, id, Some((error_status(&e), e.to_string()))).await,
            }
        }
        _ => return context.error_page(StatusCode::NOT_FOUND, "Not found", "There is no such action."),
    };
    match done {
        Ok(code) => redirect(&format!("{}?done={code}", context.href(&format!("/connections/{id}"))), &[]),
        Err(e) => detail(context, service, id, Some((error_status(&e), e.to_string()))).await,
    }
}

/// A customer set-up link, shown to copy (absolute: this request's host, the dashboard's scheme).
async fn link(context: &Context<'_>, service: &Management<'_>, id: &str, days: i64) -> Response<Body> {
    let connection = match service.connection(id).await {
        Ok(c) => c,
        Err(e) => return context.error_page(error_status(&e), "Set-up link", &e.to_string()),
    };
    let link = match context.dashboard.setup_link(&connection, days, chrono::Utc::now()) {
        Ok(link) => link,
        Err(e) => return detail(context, service, id, Some((error_status(&e), e.to_string()))).await,
    };
    let url = context.dashboard.public_url(context.request, &link.path);
    let body = html! {
        h1 { "Set-up link for " (connection.name) }
        p { "Send this link to the customer. It opens a page for this connection only, and works until "
            (when(Some(link.expires_at))) "." }
        (super::layout::copyable("setup-link", "Link", &url))
        p { a href=(context.href(&format!("/connections/{id}"))) { "Back to the connection" } }
    };
    html_response(StatusCode::OK, context.frame.page("Set-up link", body))
}

/// A mode as an operator reads it.
fn mode_text(mode: SyncMode) -> &'static str {
    match mode {
        SyncMode::Scheduled => "Scheduled: the daily scan",
        SyncMode::Events => "Events: within minutes, and the daily scan",
    }
}

/// The intervals offered: every one `scan_every_hours_error` allows, so a connection's own is
/// always among them (one missing would show another selected, and a submit would set it).
const SCAN_INTERVALS: [u32; 14] = [1, 2, 3, 4, 6, 8, 12, 24, 48, 72, 96, 120, 144, 168];

/// A connection's scan interval as an operator reads it.
fn scan_interval_text(every: Option<u32>) -> String {
    match every.unwrap_or(DAILY_SCAN_HOURS) {
        1 => "every hour".to_owned(),
        DAILY_SCAN_HOURS => "daily".to_owned(),
        168 => "weekly".to_owned(),
        h if h.is_multiple_of(24) => format!("every {} days", h / 24),
        h => format!("every {h} hours"),
    }
}

/// What an action's notice code says.
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "paused" => "Paused: no sync runs until it is resumed.",
        "resumed" => "Resumed: the next scheduled sync runs it.",
        "sync" => "A sync started; reload to see its run.",
        "activated" => "Active: the first import started; reload to see its run.",
        "renamed" => "Renamed.",
        "template" => "The template changed; the next sync reads with it.",
        "mode" => "The mode changed.",
        "schedule" => "The schedule changed; it applies from the next scheduled scan.",
        "retried" => "The next sync reads the chosen files again.",
        "dismissed" => "Dismissed: those failures no longer count.",
        "deleted" => "The connection was deleted.",
        "withdrawn" => "Every set-up link made so far is withdrawn: the customer needs a new one.",
        _ => return None,
    })
}
