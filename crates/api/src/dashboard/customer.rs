//! The customer's set-up page, under `/setup/{connection id}`: reached through a link the platform
//! hands its customer, signed with the deployment's key and expiring, scoped to exactly that one
//! connection. No sign-in: the link is the authority, so it shows only what the customer needs
//! (the role to create, its two policies, a CloudFormation quick-create link; for a connection in
//! events mode, also what forwards their bucket's new-file events to us), lets them fill the
//! location fields the platform left open (while the connection is pending), and checks access (a
//! preview). A link carries the connection's link generation: withdrawing the links moves it on,
//! and every link made before is refused.

use super::layout::{alert, copyable, html_response, Frame};
use super::wizard::{error_of, pretty, preview_markup};
use super::{Dashboard, Form};
use chrono::{DateTime, TimeDelta, Utc};
use connector_core::connections::LocationInput;
use connector_core::manage::setup::{event_forwarding, EventForwarding};
use connector_core::manage::{FieldError, ManageError, Management};
use connector_core::model::{Connection, ConnectionStatus, LocationField};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use maud::html;

/// The longest a link may be valid.
pub const MAX_LINK_DAYS: i64 = 30;

/// A signed set-up link: its path (under the dashboard's public base) and when it expires.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SetupLink {
    pub path: String,
    pub expires_at: DateTime<Utc>,
}

/// Why a link does not open the page.
#[derive(Debug, PartialEq, Eq)]
enum LinkRefused {
    /// Altered, or not signed with this deployment's key.
    Invalid,
    Expired(DateTime<Utc>),
}

/// What a link carries (in its query, or as a form's hidden fields).
struct LinkParts<'a> {
    expires: &'a str,
    /// The connection's link generation when the link was made; empty for 0 (links made before
    /// links could be withdrawn have none, and keep working until the first withdrawal).
    generation: &'a str,
    signature: &'a str,
}

/// The signed parts of a link to `connection_id`.
fn signed<'a>(connection_id: &'a str, expires: &'a str, generation: &'a str) -> Vec<&'a str> {
    match generation {
        "" => vec!["setup", connection_id, expires],
        generation => vec!["setup", connection_id, expires, generation],
    }
}

/// What the customer's page does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Asked {
    Show,
    Check,
    SaveLocation,
}

impl Dashboard {
    /// A link to `connection`'s set-up page, valid for `days` (1 to [`MAX_LINK_DAYS`]), in its
    /// current link generation.
    pub fn setup_link(&self, connection: &Connection, days: i64, now: DateTime<Utc>) -> Result<SetupLink, ManageError> {
        if !(1..=MAX_LINK_DAYS).contains(&days) {
            return Err(ManageError::invalid("valid_days", format!("must be 1 to {MAX_LINK_DAYS} days")));
        }
        let expires_at = now + TimeDelta::days(days);
        let expires = expires_at.timestamp().to_string();
        let generation = match connection.link_generation {
            0 => String::new(),
            n => n.to_string(),
        };
        let signature = self.sessions.sign(&signed(&connection.id, &expires, &generation));
        let mut query = vec![("expires", expires.as_str())];
        if !generation.is_empty() {
            query.push(("gen", &generation));
        }
        query.push(("sig", &signature));
        let query = serde_urlencoded::to_string(query).expect("plain text encodes");
        Ok(SetupLink { path: format!("{}/setup/{}?{query}", self.base, connection.id), expires_at })
    }

    fn check_link(&self, connection_id: &str, link: &LinkParts<'_>, now: DateTime<Utc>) -> Result<(), LinkRefused> {
        if !self.sessions.verify(&signed(connection_id, link.expires, link.generation), link.signature) {
            return Err(LinkRefused::Invalid);
        }
        let expires_at =
            link.expires.parse().ok().and_then(|s| DateTime::from_timestamp(s, 0)).ok_or(LinkRefused::Invalid)?;
        if now >= expires_at {
            return Err(LinkRefused::Expired(expires_at));
        }
        Ok(())
    }

    /// `/setup/{id}` (the page), `/setup/{id}/check` (the page with the access check's result) and
    /// `/setup/{id}/location` (the open location fields saved, then the page).
    pub async fn customer(&self, service: &Management<'_>, request: &Request, segments: &[&str]) -> Response<Body> {
        let frame = Frame { base: &self.base, operator: None, sessions: &self.sessions };
        let refuse = |status: StatusCode, title: &str, text: &str| frame.error_response(status, title, text);
        let (id, asked) = match (request.method(), segments) {
            (&Method::GET, [id]) => (*id, Asked::Show),
            (&Method::POST, [id, "check"]) => (*id, Asked::Check),
            (&Method::POST, [id, "location"]) => (*id, Asked::SaveLocation),
            _ => return refuse(StatusCode::NOT_FOUND, "Not found", "There is no such page."),
        };
        // A post's authority is the link it carries; a browser's post from another site is refused
        // before that, as the dashboard's forms are.
        if asked != Asked::Show && !self.same_origin(request) {
            return refuse(StatusCode::FORBIDDEN, "Refused", "This form came from another site.");
        }
        // The link's values: from the query (GET), or the forms' hidden fields (POST).
        let form = if asked == Asked::Show {
            let mut form = Form::empty();
            for (name, value) in request.query_string_parameters_ref().iter().flat_map(|q| q.iter()) {
                form.set(name, value);
            }
            form
        } else {
            Form::parse(request)
        };
        let link = LinkParts { expires: form.get("expires"), generation: form.get("gen"), signature: form.get("sig") };
        match self.check_link(id, &link, Utc::now()) {
            Ok(()) => {}
            Err(LinkRefused::Invalid) => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "This link does not work",
                    "This set-up link is not valid: it was altered or cut short. Ask for a new one.",
                )
            }
            Err(LinkRefused::Expired(at)) => {
                let text =
                    format!("This set-up link expired on {}. Ask for a new one.", at.format("%Y-%m-%d %H:%M UTC"));
                return refuse(StatusCode::GONE, "This link has expired", &text);
            }
        }
        let unavailable = |e: &ManageError| {
            tracing::error!(error = %e, "customer set-up page");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "Try again", "The page could not be loaded; try again shortly.")
        };
        let gone = || refuse(StatusCode::NOT_FOUND, "No such connection", "This connection no longer exists.");
        let connection = match service.connection(id).await {
            Ok(c) => c,
            Err(ManageError::NotFound { .. }) => return gone(),
            Err(e) => return unavailable(&e),
        };
        if link.generation.parse::<u64>().unwrap_or(0) != connection.link_generation {
            return refuse(
                StatusCode::FORBIDDEN,
                "This link was withdrawn",
                "This link was withdrawn; ask for a new one.",
            );
        }
        // What the customer asked for: the location saved, or access checked. A check reads the
        // customer's bucket: only while access is what is being set up (pending, or broken), not
        // once the connection runs.
        let mut location_errors: Vec<FieldError> = Vec::new();
        let mut location_refused = None;
        let mut check = None;
        match asked {
            Asked::Show => {}
            Asked::SaveLocation => {
                let given =
                    |field: LocationField| connection.is_open(field).then(|| form.get(field.as_str()).to_owned());
                let location = LocationInput {
                    bucket: given(LocationField::Bucket),
                    region: given(LocationField::Region),
                    folder: given(LocationField::Folder),
                };
                match service.set_location(id, location).await {
                    Ok(_) => {}
                    Err(ManageError::Invalid(errors)) => location_errors = errors,
                    Err(e @ ManageError::Conflict(_)) => location_refused = Some(e),
                    Err(ManageError::NotFound { .. }) => return gone(),
                    Err(e) => return unavailable(&e),
                }
            }
            Asked::Check if matches!(connection.status.as_str(), "pending" | "needs_reauth") => {
                check = Some(super::wizard::sample_preview(service, id, None).await);
            }
            Asked::Check => {
                let refused = "The connection is set up already: access is checked by its syncs.";
                check = Some(Err(ManageError::Conflict(refused.into())));
            }
        }
        // Read again after a save: the page shows what is stored, the policies with it.
        let (connection, documents) = match (service.connection(id).await, service.role_documents(id).await) {
            (Ok(c), Ok(d)) => (c, d),
            (Err(ManageError::NotFound { .. }), _) | (_, Err(ManageError::NotFound { .. })) => return gone(),
            (Err(e), _) | (_, Err(e)) => return unavailable(&e),
        };
        let status = match (&check, &location_refused) {
            (Some(Err(e)), _) | (_, Some(e)) => {
                if !matches!(e, ManageError::Access(_) | ManageError::Conflict(_) | ManageError::Invalid(_)) {
                    tracing::error!(error = %e, "customer check of access");
                }
                super::connections::error_status(e)
            }
            _ if !location_errors.is_empty() => StatusCode::BAD_REQUEST,
            _ => StatusCode::OK,
        };
        let located = connection.unfilled_fields().is_empty();
        let forwarding = event_forwarding(&connection, self.object_event_bus.as_deref());
        let quick_create = self.role_template_url.as_deref().filter(|_| located).map(|template| {
            let event_bus = forwarding.as_ref().and_then(|f| f.bus_arn.as_deref());
            quick_create_url(template, &connection, &documents.trust_policy, event_bus)
        });
        let hidden_link = html! {
            input type="hidden" name="expires" value=(link.expires);
            @if !link.generation.is_empty() { input type="hidden" name="gen" value=(link.generation); }
            input type="hidden" name="sig" value=(link.signature);
        };
        let fillable = connection.status == ConnectionStatus::Pending && !connection.open_fields.is_empty();
        let body = html! {
            h1 { "Connect your bucket: " (connection.name) }
            @if located {
                p { "We read files from " code { (connection.bucket) } @if let Some(f) = &connection.folder { " (folder " code { (f) } ")" }
                    " in " (connection.region) " through a role you create in your AWS account " (connection.account_id) ". "
                    "The role can list and read those files, and nothing else." }
            } @else {
                p { "We read files from a bucket of your AWS account " (connection.account_id) " through a role you create there. "
                    "The role can list and read those files, and nothing else. First, tell us where the files are." }
            }
            @if fillable {
                h2 { "Where your files are" }
                @if let Some(e) = &location_refused { (alert("error", &e.to_string())) }
                @if !location_errors.is_empty() { (alert("error", "Check the fields marked below; nothing was saved.")) }
                form.stack method="post" action=(format!("{}/setup/{}/location", self.base, connection.id)) novalidate {
                    (hidden_link)
                    @for (field, label, hint) in LOCATION_FIELDS {
                        @if connection.is_open(field) {
                            @let value = if location_errors.is_empty() { current(&connection, field) } else { form.get(field.as_str()).to_owned() };
                            (super::layout::field(field.as_str(), label, &value, Some(hint), error_of(&location_errors, field.as_str())))
                        } @else {
                            @let value = current(&connection, field);
                            p { (label) ": " @if value.is_empty() { "the whole bucket" } @else { code { (value) } } }
                        }
                    }
                    @for other in location_errors.iter().filter(|e| !["bucket", "region", "folder"].contains(&e.field.as_str())) {
                        p.field-error { (other.field) ": " (other.message) }
                    }
                    p { button type="submit" { "Save" } }
                }
            } @else if let Some(e) = &location_refused {
                (alert("error", &e.to_string()))
            }
            h2 { "1. Create the role" }
            @if let Some(url) = &quick_create {
                p { a.button href=(url) target="_blank" rel="noopener noreferrer" { "Create it with CloudFormation" }
                    " " span.muted { "(opens the AWS console with every value filled in)" } }
                p { "Or create it by hand:" }
            }
            dl.facts {
                dt { "Role name" } dd { code { (documents.role_name) } }
                dt { "External id" } dd { code { (documents.external_id) } }
            }
            @match &documents.permission_policy {
                Some(policy) => (copyable("permission-policy", "Permission policy", &pretty(policy))),
                None => p.notice id="permission-policy-pending" { "The permission policy names your bucket and folder: it appears here once you save where your files are." },
            }
            (copyable("trust-policy", "Trust policy", &pretty(&documents.trust_policy)))
            h2 { "2. Check access" }
            @if located {
                p { "Once the role exists, check that we can read your files: this lists them and reads a sample, nothing more." }
                form method="post" action=(format!("{}/setup/{}/check", self.base, connection.id)) {
                    (hidden_link)
                    button type="submit" { "Check access" }
                }
            } @else {
                p.muted { "Once you have saved where your files are and created the role, check access here." }
            }
            @match &check {
                Some(Ok(preview)) => (preview_markup(preview, |_| None)),
                Some(Err(e @ (ManageError::Access(_) | ManageError::Conflict(_) | ManageError::Invalid(_)))) => (alert("error", &e.to_string())),
                Some(Err(_)) => (alert("error", "The check could not run just now; try again shortly.")),
                None => {}
            }
            @if let Some(forwarding) = &forwarding { (event_forwarding_markup(&connection, forwarding, quick_create.is_some())) }
        };
        html_response(status, frame.page(&format!("Set up {}", connection.name), body))
    }
}

/// Step 3 of an events-mode connection: the bucket's EventBridge switch, and the rule and role
/// that forward its new-file events to the deployment's bus (made by the quick-create link too).
fn event_forwarding_markup(connection: &Connection, forwarding: &EventForwarding, quick_create: bool) -> maud::Markup {
    html! {
        h2 { "3. Send us your new files' events" }
        @match &forwarding.bus_arn {
            None => p.notice id="no-event-bus" {
                "This connection is set to import new files within minutes of their arrival, but this deployment has no "
                "event bus to receive their events: until it has one, your files are imported once a day. Nothing more "
                "to set up for now."
            },
            Some(bus) => {
                p { "New files are imported within minutes: S3 tells EventBridge in your account of each new file, and "
                    "a rule there forwards those of " code { (connection.bucket) }
                    @if let Some(f) = &connection.folder { " (folder " code { (f) } ")" }
                    " to our event bus, nothing else. Files are still checked once a day, so none is missed." }
                p id="bucket-eventbridge" { (forwarding.bucket_setting) }
                @if quick_create {
                    p { "The CloudFormation link above also creates the rule and its role. Or create them by hand:" }
                }
                dl.facts {
                    dt { "Our event bus" } dd { code id="event-bus" { (bus) } }
                    dt { "The rule's bus" } dd { code { "default" } }
                    dt { "The rule's role name" } dd { code { (forwarding.role_name) } }
                }
                @match &forwarding.rule_pattern {
                    Some(pattern) => (copyable("events-rule-pattern", "Rule event pattern", &pretty(pattern))),
                    None => p.notice id="events-rule-pattern-pending" { "The rule's event pattern names your bucket and folder: it appears here once you save where your files are." },
                }
                (copyable("events-role-trust-policy", "Rule role trust policy", &pretty(&forwarding.role_trust_policy)))
                @if let Some(policy) = &forwarding.role_permission_policy {
                    (copyable("events-role-permission-policy", "Rule role permission policy", &pretty(policy)))
                }
            }
        }
    }
}

/// The open fields' labels and hints, in the page's order.
const LOCATION_FIELDS: [(LocationField, &str, &str); 3] = [
    (LocationField::Bucket, "Bucket", "The name of the S3 bucket the files are in."),
    (LocationField::Region, "Region", "The bucket's AWS region, like us-east-1."),
    (LocationField::Folder, "Folder", "Only files under it are read; empty for the whole bucket."),
];

/// A location field's current value as text (an empty folder is the whole bucket).
fn current(connection: &Connection, field: LocationField) -> String {
    match field {
        LocationField::Bucket => connection.bucket.clone(),
        LocationField::Region => connection.region.clone(),
        LocationField::Folder => connection.folder.clone().unwrap_or_default(),
    }
}

/// The CloudFormation console's quick-create address of the customer's role, every value filled.
fn quick_create_url(
    template: &str,
    connection: &Connection,
    trust_policy: &serde_json::Value,
    event_bus: Option<&str>,
) -> String {
    let principals: Vec<String> = match &trust_policy["Statement"][0]["Principal"]["AWS"] {
        serde_json::Value::String(one) => vec![one.clone()],
        serde_json::Value::Array(many) => many.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect(),
        _ => vec![],
    };
    let mut query = vec![
        ("templateURL".to_owned(), template.to_owned()),
        ("stackName".to_owned(), format!("s3-connector-{}", connection.id)),
    ];
    let parameters = connector_core::policies::role_template_parameters(connection, &principals, event_bus);
    query.extend(parameters.into_iter().map(|(name, value)| (format!("param_{name}"), value)));
    let query = serde_urlencoded::to_string(query).expect("plain text encodes");
    format!(
        "https://console.aws.amazon.com/cloudformation/home?region={}#/stacks/create/review?{query}",
        connection.region
    )
}
