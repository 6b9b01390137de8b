//! The customer's set-up page, under `/setup/{connection id}`: reached through a link the platform
//! hands its customer, signed with the deployment's key and expiring, scoped to exactly that one
//! connection. No sign-in: the link is the authority, so it shows only what the customer needs
//! (the role to create, its two policies, a CloudFormation quick-create link) and can only check
//! access (a preview), never change the connection.

use super::layout::{alert, copyable, html_response, Frame};
use super::wizard::{pretty, preview_markup};
use super::Dashboard;
use chrono::{DateTime, TimeDelta, Utc};
use connector_core::manage::{ManageError, Management};
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

impl Dashboard {
    /// A link to `connection_id`'s set-up page, valid for `days` (1 to [`MAX_LINK_DAYS`]).
    pub fn setup_link(&self, connection_id: &str, days: i64, now: DateTime<Utc>) -> Result<SetupLink, ManageError> {
        if !(1..=MAX_LINK_DAYS).contains(&days) {
            return Err(ManageError::invalid("valid_days", format!("must be 1 to {MAX_LINK_DAYS} days")));
        }
        let expires_at = now + TimeDelta::days(days);
        let expires = expires_at.timestamp().to_string();
        let signature = self.sessions.sign(&["setup", connection_id, &expires]);
        let query = serde_urlencoded::to_string([("expires", expires.as_str()), ("sig", signature.as_str())])
            .expect("plain text encodes");
        Ok(SetupLink { path: format!("{}/setup/{connection_id}?{query}", self.base), expires_at })
    }

    fn check_link(
        &self,
        connection_id: &str,
        expires: &str,
        signature: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LinkRefused> {
        if !self.sessions.verify(&["setup", connection_id, expires], signature) {
            return Err(LinkRefused::Invalid);
        }
        let expires_at =
            expires.parse().ok().and_then(|s| DateTime::from_timestamp(s, 0)).ok_or(LinkRefused::Invalid)?;
        if now >= expires_at {
            return Err(LinkRefused::Expired(expires_at));
        }
        Ok(())
    }

    /// `/setup/{id}` (the page) and `/setup/{id}/check` (the page with the access check's result).
    pub async fn customer(&self, service: &Management<'_>, request: &Request, segments: &[&str]) -> Response<Body> {
        let frame = Frame { base: &self.base, operator: None, sessions: &self.sessions };
        let refuse = |status: StatusCode, title: &str, text: &str| {
            html_response(status, frame.page(title, html! { h1 { (title) } (alert("error", text)) }))
        };
        let (id, checking) = match (request.method(), segments) {
            (&Method::GET, [id]) => (*id, false),
            (&Method::POST, [id, "check"]) => (*id, true),
            _ => return refuse(StatusCode::NOT_FOUND, "Not found", "There is no such page."),
        };
        // The link's two values: from the query (GET), or the check form's fields (POST).
        let fields: Vec<(String, String)> = if checking {
            serde_urlencoded::from_bytes(request.body().as_ref()).unwrap_or_default()
        } else {
            request
                .query_string_parameters_ref()
                .map_or_else(Vec::new, |q| q.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
        };
        let field = |name: &str| fields.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("");
        let (expires, signature) = (field("expires"), field("sig"));
        match self.check_link(id, expires, signature, Utc::now()) {
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
        let (connection, documents) = match (service.connection(id).await, service.role_documents(id).await) {
            (Ok(c), Ok(d)) => (c, d),
            (Err(ManageError::NotFound { .. }), _) | (_, Err(ManageError::NotFound { .. })) => {
                return refuse(StatusCode::NOT_FOUND, "No such connection", "This connection no longer exists.")
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "customer set-up page");
                return refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again",
                    "The page could not be loaded; try again shortly.",
                );
            }
        };
        // A check reads the customer's bucket: only while access is what is being set up (pending,
        // or broken), not once the connection runs.
        let checkable = matches!(connection.status.as_str(), "pending" | "needs_reauth");
        let check = if checking && !checkable {
            Some(Err(ManageError::Conflict("The connection is set up already: access is checked by its syncs.".into())))
        } else if checking {
            Some(super::wizard::sample_preview(service, id, None).await)
        } else {
            None
        };
        let principals: Vec<String> = match &documents.trust_policy["Statement"][0]["Principal"]["AWS"] {
            serde_json::Value::String(one) => vec![one.clone()],
            serde_json::Value::Array(many) => many.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect(),
            _ => vec![],
        };
        let quick_create = self.role_template_url.as_deref().map(|template| {
            let folder = connection.folder.as_deref().map(connector_core::policies::iam_literal).unwrap_or_default();
            let query = serde_urlencoded::to_string([
                ("templateURL", template),
                ("stackName", &format!("s3-connector-{}", connection.id)),
                ("param_RoleName", &documents.role_name),
                ("param_ExternalId", &documents.external_id),
                ("param_TrustedPrincipals", &principals.join(",")),
                ("param_BucketName", &connection.bucket),
                ("param_Folder", &folder),
                ("param_KmsKeyArn", connection.kms_key_arn.as_deref().unwrap_or("")),
            ])
            .expect("plain text encodes");
            format!(
                "https://console.aws.amazon.com/cloudformation/home?region={}#/stacks/create/review?{query}",
                connection.region
            )
        });
        let status = match &check {
            Some(Err(e)) => {
                if !matches!(e, ManageError::Access(_) | ManageError::Conflict(_)) {
                    tracing::error!(error = %e, "customer check of access");
                }
                super::connections::error_status(e)
            }
            _ => StatusCode::OK,
        };
        let body = html! {
            h1 { "Connect your bucket: " (connection.name) }
            p { "We read files from " code { (connection.bucket) } @if let Some(f) = &connection.folder { " (folder " code { (f) } ")" }
                " in " (connection.region) " through a role you create in your AWS account " (connection.account_id) ". "
                "The role can list and read those files, and nothing else." }
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
            (copyable("permission-policy", "Permission policy", &pretty(&documents.permission_policy)))
            (copyable("trust-policy", "Trust policy", &pretty(&documents.trust_policy)))
            h2 { "2. Check access" }
            p { "Once the role exists, check that we can read your files: this lists them and reads a sample, nothing more." }
            form method="post" action=(format!("{}/setup/{}/check", self.base, connection.id)) {
                input type="hidden" name="expires" value=(expires);
                input type="hidden" name="sig" value=(signature);
                button type="submit" { "Check access" }
            }
            @match &check {
                Some(Ok(preview)) => (preview_markup(preview, |_| None)),
                Some(Err(e @ (ManageError::Access(_) | ManageError::Conflict(_)))) => (alert("error", &e.to_string())),
                Some(Err(_)) => (alert("error", "The check could not run just now; try again shortly.")),
                None => {}
            }
        };
        html_response(status, frame.page(&format!("Set up {}", connection.name), body))
    }
}
