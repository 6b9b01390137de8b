//! The frame every dashboard page shares, the responses pages are sent as, and small pieces of
//! markup more than one page uses.

use super::session::{Operator, Sessions};
use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use maud::{html, Markup, DOCTYPE};

/// What a page's frame needs: the public path prefix, and who is signed in with their CSRF token
/// (none on the sign-in page).
pub struct Frame<'a> {
    pub base: &'a str,
    pub operator: Option<(&'a Operator, String)>,
    pub sessions: &'a Sessions,
}

impl Frame<'_> {
    /// The deployment key's signature of `parts` (values a later step must get back unaltered).
    pub fn sign(&self, parts: &[&str]) -> String {
        self.sessions.sign(parts)
    }

    pub fn verify(&self, parts: &[&str], signature: &str) -> bool {
        self.sessions.verify(parts, signature)
    }

    /// A dashboard path as the browser reaches it.
    pub fn href(&self, path: &str) -> String {
        format!("{}/dashboard{path}", self.base)
    }

    /// The hidden CSRF field every form of a signed-in page carries.
    pub fn csrf(&self) -> Markup {
        match &self.operator {
            Some((_, token)) => html! { input type="hidden" name="csrf" value=(token); },
            None => html! {},
        }
    }

    /// A page that only says what went wrong: its title and an error alert, with `status`.
    pub fn error_response(&self, status: StatusCode, title: &str, text: &str) -> Response<Body> {
        html_response(status, self.page(title, html! { h1 { (title) } (alert("error", text)) }))
    }

    /// A page: the skip link, the top bar (navigation, who is signed in, sign out) and `body`.
    pub fn page(&self, title: &str, body: Markup) -> Markup {
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · s3-connector" }
                    link rel="stylesheet" href=(self.href("/static/style.css"));
                    script src=(self.href("/static/dashboard.js")) defer {}
                }
                body {
                    a.skip href="#main" { "Skip to content" }
                    header.top {
                        @if self.operator.is_some() { a.brand href=(self.href("/connections")) { "s3-connector" } }
                        @else { span.brand { "s3-connector" } }
                        @if let Some((operator, _)) = &self.operator {
                            nav aria-label="Main" {
                                ul {
                                    li { a href=(self.href("/connections")) { "Connections" } }
                                    li { a href=(self.href("/new")) { "New connection" } }
                                    li { a href=(self.href("/templates")) { "Templates" } }
                                }
                            }
                            div.who {
                                span { "Signed in as " strong { (operator.name) } }
                                form.inline method="post" action=(self.href("/sign-out")) {
                                    (self.csrf())
                                    button.secondary type="submit" { "Sign out" }
                                }
                            }
                        }
                    }
                    main id="main" tabindex="-1" { (body) }
                }
            }
        }
    }
}

/// Headers every dashboard response carries: nothing cached, nothing framed, scripts and styles
/// only from the dashboard itself.
fn secured(status: StatusCode) -> lambda_http::http::response::Builder {
    Response::builder()
        .status(status)
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "same-origin")
        .header("x-frame-options", "DENY")
        .header(
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        )
}

pub fn html_response(status: StatusCode, markup: Markup) -> Response<Body> {
    secured(status)
        .header("content-type", "text/html; charset=utf-8")
        .body(Body::Text(markup.into_string()))
        .expect("a static response is valid")
}

/// A 303 to `location`, with cookies to set.
pub fn redirect(location: &str, cookies: &[String]) -> Response<Body> {
    let mut response = secured(StatusCode::SEE_OTHER).header("location", location);
    for cookie in cookies {
        response = response.header("set-cookie", cookie);
    }
    response.body(Body::Empty).expect("a static response is valid")
}

pub fn asset(content_type: &str, text: &'static str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .header("cache-control", "public, max-age=300")
        .header("x-content-type-options", "nosniff")
        .body(Body::Text(text.to_owned()))
        .expect("a static response is valid")
}

/// A status word as a badge (`active`, `failed`, ...), styled by its own name.
pub fn badge(word: &str) -> Markup {
    html! { span class=(format!("status {word}")) { (word.replace('_', " ")) } }
}

/// A time as people read it, in UTC, with the machine form in `datetime`.
pub fn when(at: Option<DateTime<Utc>>) -> Markup {
    match at {
        Some(at) => html! { time datetime=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M UTC")) } },
        None => html! { span.muted { "never" } },
    }
}

/// A duration in seconds as "3 h 12 min".
pub fn duration(seconds: Option<i64>) -> Markup {
    let Some(seconds) = seconds else { return html! { span.muted { "–" } } };
    let text = match seconds.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} days", s / 86_400),
    };
    html! { (text) }
}

/// An alert: `error` is announced at once by screen readers, `notice` politely.
pub fn alert(kind: &str, text: &str) -> Markup {
    match kind {
        "error" => html! { div.alert.error role="alert" { (text) } },
        _ => html! { div.alert.notice role="status" { (text) } },
    }
}

/// A block of text with a Copy button (the script copies the block's text).
pub fn copyable(id: &str, label: &str, text: &str) -> Markup {
    html! {
        div {
            h3 id=(format!("{id}-label")) { (label) }
            pre id=(id) aria-labelledby=(format!("{id}-label")) { (text) }
            button.secondary type="button" data-copy=(id) { "Copy " (label.to_lowercase()) }
            span id=(format!("{id}-copied")) role="status" {}
        }
    }
}

/// A text input with its label, hint and error (the error beside the field, tied to it for
/// screen readers).
pub fn field(name: &str, label: &str, value: &str, hint: Option<&str>, error: Option<&str>) -> Markup {
    let described = match (hint, error) {
        (Some(_), Some(_)) => Some(format!("{name}-error {name}-hint")),
        (None, Some(_)) => Some(format!("{name}-error")),
        (Some(_), None) => Some(format!("{name}-hint")),
        _ => None,
    };
    html! {
        label for=(name) { (label) }
        @if let Some(hint) = hint { span.hint id=(format!("{name}-hint")) { (hint) } }
        @if let Some(error) = error { span.field-error id=(format!("{name}-error")) { (error) } }
        input type="text" id=(name) name=(name) value=(value)
            aria-invalid=[error.map(|_| "true")] aria-describedby=[described];
    }
}
