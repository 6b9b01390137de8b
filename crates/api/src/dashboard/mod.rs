//! The operator dashboard: server-rendered HTML under `/dashboard`, served by the api function
//! beside the JSON API and calling the same management service. One small script (copy buttons)
//! and one stylesheet, both in `static/`; no build step.
//!
//! - [`session`]: the sign-in token's checks, sign-out's revocation and forms' CSRF tokens;
//! - [`oidc`]: sign-in at the platform's own OpenID Connect issuer (authorization code, PKCE);
//! - [`layout`]: the frame of every page and the responses;
//! - [`connections`]: the list, one connection's page and its actions;
//! - [`wizard`]: the set-up of a new connection, step by step;
//! - [`customer`]: the customer's set-up page, behind a signed, expiring link (not a session);
//! - [`templates`]: the platform's templates, and a new version with its errors beside the field.
//!
//! The sign-in page signs in one of two ways ([`SignInMethod`]): a user name and password checked
//! by Cognito, or a button that sends the operator to the platform's own issuer and back.
//!
//! Every route but the sign-in pages and the two static files wants a valid session; a request
//! without one is sent to the sign-in page (a 303, or a 401 for a form post) by this function, or
//! refused before it by API Gateway's authorizer when deployed. Every form post must carry the
//! session's CSRF token.

pub mod connections;
pub mod customer;
pub mod layout;
pub mod oidc;
pub mod session;
pub mod templates;
pub mod wizard;

use connector_aws::identity::SignInError;
use connector_core::manage::Management;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use layout::{alert, field, html_response, redirect, Frame};
use maud::html;
use session::{cookie, Operator, Refused, Sessions, SESSION_COOKIE, SIGN_IN_COOKIE};
use std::collections::HashMap;

/// Signs an operator in: their user name and password in, their ID token out.
#[async_trait::async_trait]
pub trait SignIn: Send + Sync {
    async fn sign_in(&self, username: &str, password: &str) -> Result<String, SignInError>;
}

#[async_trait::async_trait]
impl SignIn for connector_aws::identity::CognitoSignIn {
    async fn sign_in(&self, username: &str, password: &str) -> Result<String, SignInError> {
        connector_aws::identity::CognitoSignIn::sign_in(self, username, password).await
    }
}

/// How operators sign in.
pub enum SignInMethod {
    /// The sign-in page's form: a user name and password, checked by a Cognito user pool.
    Password(Box<dyn SignIn>),
    /// A button to the platform's own OpenID Connect issuer (the authorization-code flow).
    Oidc(Box<dyn oidc::CodeFlow>),
}

/// The dashboard's configuration and its two collaborators.
pub struct Dashboard {
    pub sessions: Sessions,
    pub sign_in: SignInMethod,
    /// The path before `/dashboard` as the browser sees it (empty behind API Gateway's default
    /// stage; `/lambda-url/api` under `cargo lambda watch`).
    pub base: String,
    /// Whether cookies are marked `Secure` (always, but for a local http server).
    pub secure_cookies: bool,
    /// Where the deployment publishes roles/customer-role.yaml (an S3 URL), for the customer
    /// page's CloudFormation quick-create link; none: the page shows the policies only.
    pub role_template_url: Option<String>,
    /// The deployment's object event bus (`S3C_OBJECT_EVENT_BUS_ARN`), where an events-mode
    /// connection's customer forwards their bucket's new-file events; none: the set-up page says
    /// the deployment has none.
    pub object_event_bus: Option<String>,
    /// How many connections one page of the list reads ([`connections::LIST_PAGE`]; the name and
    /// status filters apply to a page).
    pub list_page: usize,
}

/// A form post's fields (the last value of a repeated name wins, but for `keys`).
pub struct Form {
    fields: HashMap<String, String>,
    pub keys: Vec<String>,
}

impl Form {
    pub fn empty() -> Form {
        Form { fields: HashMap::new(), keys: vec![] }
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.fields.insert(name.to_owned(), value.to_owned());
    }

    /// The form's fields; a body past the API's limit ([`crate::MAX_BODY_BYTES`]) reads as empty
    /// (its CSRF token missing, it is refused).
    fn parse(request: &Request) -> Form {
        let body = request.body().as_ref();
        let body = if body.len() > crate::MAX_BODY_BYTES { &[][..] } else { body };
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        let keys = pairs.iter().filter(|(k, _)| k == "keys").map(|(_, v)| v.clone()).collect();
        Form { fields: pairs.into_iter().collect(), keys }
    }

    pub fn get(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn has(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }
}

/// One request as a page handler sees it: the signed-in operator, their frame, the query.
pub struct Context<'a> {
    pub frame: Frame<'a>,
    pub request: &'a Request,
    pub dashboard: &'a Dashboard,
}

impl Context<'_> {
    pub fn query(&self, name: &str) -> Option<String> {
        use lambda_http::RequestExt;
        self.request.query_string_parameters_ref().and_then(|q| q.first(name)).map(str::to_owned)
    }

    pub fn href(&self, path: &str) -> String {
        self.frame.href(path)
    }

    /// A page with an error alert and the status that goes with the error.
    pub fn error_page(&self, status: StatusCode, title: &str, message: &str) -> Response<Body> {
        html_response(
            status,
            self.frame.page(
                title,
                html! { h1 { (title) } (alert("error", message)) p { a href=(self.href("/connections")) { "Back to connections" } } },
            ),
        )
    }
}

impl Dashboard {
    /// Handles a request whose path is `segments` after `dashboard`.
    pub async fn handle(&self, service: &Management<'_>, request: &Request, segments: &[&str]) -> Response<Body> {
        match (request.method(), segments) {
            (&Method::GET, ["static", "style.css"]) => {
                return layout::asset("text/css; charset=utf-8", include_str!("static/style.css"))
            }
            (&Method::GET, ["static", "dashboard.js"]) => {
                return layout::asset("text/javascript; charset=utf-8", include_str!("static/dashboard.js"))
            }
            (&Method::GET, ["sign-in"]) => return self.sign_in_page(StatusCode::OK, None, ""),
            (&Method::POST, ["sign-in"]) => return self.sign_in(request).await,
            (&Method::GET | &Method::POST, ["sign-in", "start"]) => {
                if let SignInMethod::Oidc(flow) = &self.sign_in {
                    return self.start_sign_in(flow.as_ref(), request).await;
                }
            }
            (&Method::GET, ["sign-in", "callback"]) => {
                if let SignInMethod::Oidc(flow) = &self.sign_in {
                    return self.finish_sign_in(flow.as_ref(), request).await;
                }
            }
            _ => {}
        }
        let operator = match cookie(request, SESSION_COOKIE) {
            None => None,
            Some(token) => match self.sessions.check(token).await {
                Ok(operator) => Some(operator),
                // The sessions signed out could not be read: the gate stays shut, but the session
                // is not called ended (the cookie stays; the operator tries again).
                Err(Refused::Unknown(e)) => {
                    tracing::error!(error = %e, "reading the signed-out sessions");
                    let frame = Frame { base: &self.base, operator: None, sessions: &self.sessions };
                    let text = "The dashboard cannot check your session just now; try again shortly.";
                    return frame.error_response(StatusCode::SERVICE_UNAVAILABLE, "Unavailable just now", text);
                }
                Err(e) => {
                    tracing::info!(reason = %e, "dashboard session refused");
                    None
                }
            },
        };
        let Some(operator) = operator else {
            return if request.method() == Method::GET {
                redirect(&self.href("/sign-in"), &[])
            } else {
                self.sign_in_page(StatusCode::UNAUTHORIZED, Some("Your session has ended: sign in again."), "")
            };
        };
        let form = if request.method() == Method::POST {
            if !self.same_origin(request) {
                return self.refused(&operator, "This form came from another site.");
            }
            let form = Form::parse(request);
            if !self.sessions.csrf_matches(&operator, form.get("csrf")) {
                return self.refused(&operator, "This form is out of date or not ours: reload the page and try again.");
            }
            Some(form)
        } else {
            None
        };
        let context = Context { frame: self.frame(&operator), request, dashboard: self };
        match (request.method(), segments, form) {
            (&Method::GET, [] | [""], _) => redirect(&self.href("/connections"), &[]),
            (&Method::POST, ["sign-out"], Some(_)) => self.sign_out(request, &operator).await,
            (_, ["connections", ..], form) | (_, ["new", ..], form) => {
                connections::route(&context, service, segments, form).await
            }
            (_, ["templates", ..], form) => templates::route(&context, service, &segments[1..], form).await,
            _ => context.error_page(StatusCode::NOT_FOUND, "Not found", "There is no such page."),
        }
    }

    fn href(&self, path: &str) -> String {
        format!("{}/dashboard{path}", self.base)
    }

    /// The absolute URL of `path` (a path as the browser sees it, base included): this request's
    /// host (API Gateway's domain, or the local server's), the dashboard's scheme.
    pub fn public_url(&self, request: &Request, path: &str) -> String {
        let host = request.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        let scheme = if self.secure_cookies { "https" } else { "http" };
        format!("{scheme}://{host}{path}")
    }

    /// Sign-out: the session revoked on the server (a copy of the cookie is refused from now on),
    /// the browser's cookie cleared.
    async fn sign_out(&self, request: &Request, operator: &Operator) -> Response<Body> {
        let token = cookie(request, SESSION_COOKIE).unwrap_or_default();
        if let Err(e) = self.sessions.revoke(operator, token).await {
            tracing::error!(error = %e, "revoking a session at sign-out");
            let message = "Signed out of this browser, but the server could not record it: the session \
                           stays valid until it expires.";
            let mut response = self.sign_in_page(StatusCode::SERVICE_UNAVAILABLE, Some(message), "");
            response.headers_mut().append("set-cookie", self.expired_cookie().parse().expect("a valid header"));
            return response;
        }
        redirect(&self.href("/sign-in"), &[self.expired_cookie()])
    }

    fn frame<'a>(&'a self, operator: &'a Operator) -> Frame<'a> {
        Frame {
            base: &self.base,
            operator: Some((operator, self.sessions.csrf_token(operator))),
            sessions: &self.sessions,
        }
    }

    fn refused(&self, operator: &Operator, message: &str) -> Response<Body> {
        self.frame(operator).error_response(StatusCode::FORBIDDEN, "Refused", message)
    }

    /// A browser says where a post came from (`Origin`); one from another host is refused. (The
    /// CSRF token is the real check; this one costs nothing.)
    fn same_origin(&self, request: &Request) -> bool {
        let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
        match (header("origin"), header("host")) {
            (Some(origin), Some(host)) => origin.split("://").nth(1) == Some(host),
            _ => true,
        }
    }

    fn cookie_attributes(&self) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        // Lax, not Strict: a link to a page from elsewhere (an alarm's e-mail) arrives signed in.
        // GETs change nothing; every post carries its CSRF token.
        format!("Path={}/dashboard; HttpOnly; SameSite=Lax{secure}", self.base)
    }

    fn expired_cookie(&self) -> String {
        format!("{SESSION_COOKIE}=; Max-Age=0; {}", self.cookie_attributes())
    }

    fn sign_in_page(&self, status: StatusCode, error: Option<&str>, username: &str) -> Response<Body> {
        let frame = Frame { base: &self.base, operator: None, sessions: &self.sessions };
        if let SignInMethod::Oidc(flow) = &self.sign_in {
            let host = oidc::issuer_host(flow.issuer());
            let body = html! {
                h1 { "Sign in" }
                @if let Some(error) = error { (alert("error", error)) }
                p { "Operators sign in at " strong { (host) } "." }
                p { a.button id="sign-in-with" href=(self.href("/sign-in/start")) { "Sign in with " (host) } }
            };
            return html_response(status, frame.page("Sign in", body));
        }
        let nonce = session::nonce();
        let body = html! {
            h1 { "Sign in" }
            @if let Some(error) = error { (alert("error", error)) }
            form.stack id="sign-in" method="post" action=(self.href("/sign-in")) {
                input type="hidden" name="form" value=(self.sessions.sign_in_token(&nonce));
                (field("username", "User name", username, None, None))
                label for="password" { "Password" }
                input type="password" id="password" name="password" autocomplete="current-password";
                p { button type="submit" { "Sign in" } }
            }
        };
        let mut response = html_response(status, frame.page("Sign in", body));
        let cookie = format!("{SIGN_IN_COOKIE}={nonce}; Max-Age=3600; {}", self.cookie_attributes());
        response.headers_mut().append("set-cookie", cookie.parse().expect("a cookie is a valid header"));
        response
    }

    async fn sign_in(&self, request: &Request) -> Response<Body> {
        let SignInMethod::Password(sign_in) = &self.sign_in else {
            return self.sign_in_page(StatusCode::BAD_REQUEST, Some("Sign in with the button below."), "");
        };
        let form = Form::parse(request);
        let username = form.get("username").trim();
        let bound =
            cookie(request, SIGN_IN_COOKIE).is_some_and(|nonce| self.sessions.sign_in_matches(nonce, form.get("form")));
        if !bound {
            return self.sign_in_page(StatusCode::FORBIDDEN, Some("The sign-in form expired: try again."), username);
        }
        if username.is_empty() || form.get("password").is_empty() {
            return self.sign_in_page(StatusCode::BAD_REQUEST, Some("Give your user name and password."), username);
        }
        let token = match sign_in.sign_in(username, form.get("password")).await {
            Ok(token) => token,
            Err(e @ (SignInError::Refused | SignInError::MoreNeeded(_))) => {
                return self.sign_in_page(StatusCode::UNAUTHORIZED, Some(&e.to_string()), username)
            }
            Err(e) => {
                tracing::error!(error = %e, "dashboard sign-in");
                let message = "Sign-in is unavailable just now; try again shortly.";
                return self.sign_in_page(StatusCode::SERVICE_UNAVAILABLE, Some(message), username);
            }
        };
        // The token is checked like any later request's, so that a misconfigured issuer shows here.
        let operator = match self.sessions.check(&token).await {
            Ok(operator) => operator,
            Err(e) => {
                tracing::error!(error = %e, "a token from sign-in was refused");
                let message = "Signed in, but the token was refused: the dashboard's issuer settings are wrong.";
                return self.sign_in_page(StatusCode::SERVICE_UNAVAILABLE, Some(message), username);
            }
        };
        self.signed_in(&token, &operator, SIGN_IN_COOKIE)
    }

    /// The end of every sign-in: the session cookie (the checked token, for as long as it is
    /// valid), the sign-in's one-time cookie (`used`) cleared, and the connections page.
    fn signed_in(&self, token: &str, operator: &Operator, used: &str) -> Response<Body> {
        let max_age = operator.expires_at.saturating_sub(chrono::Utc::now().timestamp().max(0) as u64);
        let session = format!("{SESSION_COOKIE}={token}; Max-Age={max_age}; {}", self.cookie_attributes());
        let used = format!("{used}=; Max-Age=0; {}", self.cookie_attributes());
        redirect(&self.href("/connections"), &[session, used])
    }
}
