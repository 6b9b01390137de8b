//! The dashboard's gate at API Gateway: a Lambda authorizer of the dashboard's HTTP API (payload
//! format 2.0, simple responses) that lets a request through only when its `s3c_session` cookie
//! holds an ID token that passes [`TokenCheck`], the same check the api function makes again.
//!
//! Why a Lambda authorizer and not API Gateway's JWT authorizer: a JWT authorizer reads the token
//! only from a header or the query string, and a browser's page navigation sends the session as a
//! cookie, never as an `Authorization` header. So this function reads the cookie and checks the
//! token itself, with the issuer's published keys.
//!
//! Sessions signed out (the state table's revoked sessions) are NOT read here, by choice: the
//! api function reads them on every request and is the gate either way, while API Gateway keeps
//! this function's answer 300 s per Cookie header, so a read here would still let a signed-out
//! cookie through for up to that long, for a table read per request and table access this
//! function otherwise does without (its role has none).
//!
//! [`Settings`] are read once per process (cold start); [`authorize`] answers one request. The
//! token never appears in a log line: only the operator's name, or why the token was refused.

use aws_lambda_events::apigw::{ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request};
use connector_aws::identity::{IssuerKeys, TokenCheck};

/// What API Gateway sends (payload format 2.0).
pub type Request = ApiGatewayV2CustomAuthorizerV2Request;
/// What API Gateway takes back (a simple response: `isAuthorized` and a context).
pub type Response = ApiGatewayV2CustomAuthorizerSimpleResponse<serde_json::Value>;

/// The cookie the dashboard keeps the ID token in (the api crate's `SESSION_COOKIE`; a test
/// checks they agree).
pub const SESSION_COOKIE: &str = "s3c_session";

/// Whose tokens are accepted: the same variables the api function reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `S3C_DASHBOARD_ISSUER`: the issuer a token must name (`iss`).
    pub issuer: String,
    /// `S3C_DASHBOARD_CLIENT_ID`: the app client a token must be for (`aud`).
    pub client_id: String,
    /// `S3C_DASHBOARD_DISCOVERY_URL`, by default the issuer's `/.well-known/openid-configuration`.
    pub discovery_url: String,
}

impl Settings {
    pub fn from_env() -> Result<Settings, String> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("{name} is not set (the authorizer needs it)"))
        };
        let issuer = var("S3C_DASHBOARD_ISSUER")?;
        let discovery_url = std::env::var("S3C_DASHBOARD_DISCOVERY_URL")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')));
        Ok(Settings { client_id: var("S3C_DASHBOARD_CLIENT_ID")?, issuer, discovery_url })
    }

    /// The token check, with the issuer's keys fetched now (and again when a token names a key
    /// not yet known).
    pub async fn token_check(&self) -> TokenCheck {
        let source = IssuerKeys { discovery_url: self.discovery_url.clone(), issuer: self.issuer.clone() };
        TokenCheck::from_source(&self.issuer, &self.client_id, Box::new(source)).await
    }
}

/// The session token of a request: its `s3c_session` cookie, from the `cookies` of payload 2.0
/// (where API Gateway puts a request's cookies) or else a `Cookie` header.
pub fn session_token(request: &Request) -> Option<&str> {
    let from_header = request
        .headers
        .get_all("cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'));
    request
        .cookies
        .iter()
        .map(String::as_str)
        .chain(from_header)
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// API Gateway's answer for one request: authorized, with the operator's name in the context
/// (`$context.authorizer.operator` to the route), or refused (API Gateway answers 403).
pub async fn authorize(tokens: &TokenCheck, request: &Request) -> Response {
    let route = request.route_key.as_deref().unwrap_or_default();
    let checked = match session_token(request) {
        Some(token) => tokens.check(token).await,
        None => Err(connector_aws::identity::Refused::Missing),
    };
    let mut response = Response::default();
    match checked {
        Ok(operator) => {
            tracing::info!(operator = %operator.name, route, "dashboard request authorized");
            response.is_authorized = true;
            response.context = serde_json::json!({ "operator": operator.name });
        }
        Err(reason) => {
            tracing::info!(%reason, route, "dashboard request refused");
            response.is_authorized = false;
            response.context = serde_json::json!({});
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cookies: &[&str], header: Option<&str>) -> Request {
        let mut event = serde_json::json!({
            "version": "2.0", "type": "REQUEST", "routeKey": "ANY /dashboard/{proxy+}",
            "cookies": cookies, "headers": {},
            "requestContext": { "http": { "method": "GET", "path": "/dashboard/connections" } }
        });
        if let Some(header) = header {
            event["headers"]["cookie"] = header.into();
        }
        serde_json::from_value(event).unwrap()
    }

    #[test]
    fn the_session_cookie_is_found_in_the_cookies_or_else_the_cookie_header() {
        let cases: [(&[&str], Option<&str>, Option<&str>); 7] = [
            (&["theme=dark", "s3c_session=abc.def.ghi"], None, Some("abc.def.ghi")),
            (&[], Some("theme=dark; s3c_session=abc.def.ghi"), Some("abc.def.ghi")),
            (&["s3c_session=from.cookies"], Some("s3c_session=from.header"), Some("from.cookies")),
            (&["s3c_sessionx=no", "xs3c_session=no"], Some("s3c_session_old=no"), None),
            (&["s3c_session="], None, None),
            (&["theme=dark"], None, None),
            (&[], None, None),
        ];
        for (cookies, header, expected) in cases {
            assert_eq!(session_token(&request(cookies, header)), expected, "{cookies:?} {header:?}");
        }
    }

    #[tokio::test]
    async fn without_a_session_or_with_a_token_of_no_known_key_the_request_is_refused() {
        let tokens = TokenCheck::new("https://issuer.example", "client", Default::default());
        for request in [request(&[], None), request(&["s3c_session=abc.def.ghi"], None)] {
            let response = authorize(&tokens, &request).await;
            assert!(!response.is_authorized, "{request:?}");
            assert_eq!(response.context, serde_json::json!({}));
        }
    }
}
