//! The HTTP half of the dashboard's sign-in at a platform's own OpenID Connect issuer: the
//! authorization-code flow's endpoints (from the issuer's OpenID configuration, the same document
//! [`crate::identity::issuer_keys`] reads) and the exchange of a code for an ID token. What the
//! browser carries (state, nonce, PKCE verifier) and every check are the api crate's.

use crate::identity::{discover, OpenIdConfiguration};
use base64::Engine as _;

/// Why the code could not be exchanged for an ID token.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The issuer's configuration could not be read, or names no such endpoint.
    #[error("the issuer's configuration: {0}")]
    Discovery(String),
    /// The token endpoint answered with an OAuth error (`invalid_grant`: a code used twice,
    /// expired, or a verifier that does not match it).
    #[error("the token endpoint refused the code ({status}): {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused { status: u16, error: String, description: Option<String> },
    /// The token endpoint could not be reached, or its answer was not a token response.
    #[error("the token endpoint: {0}")]
    Unavailable(String),
}

/// How a confidential client proves itself at the token endpoint (RFC 6749, 2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// A public client: its id in the form, no secret.
    None,
    /// `client_secret_basic`: the id and secret, each form-encoded, as HTTP Basic.
    Basic,
    /// `client_secret_post`: the id and secret in the form.
    Post,
}

impl ClientAuth {
    /// The method for a client with or without a secret, from what the issuer supports (absent:
    /// `client_secret_basic`, the specification's default; basic preferred when both are).
    pub fn choose(has_secret: bool, supported: Option<&[String]>) -> ClientAuth {
        let supports = |method: &str| supported.is_none_or(|methods| methods.iter().any(|m| m == method));
        match (
            has_secret,
            supports("client_secret_basic"),
            supported.is_some_and(|m| m.iter().any(|m| m == "client_secret_post")),
        ) {
            (false, _, _) => ClientAuth::None,
            (true, true, _) => ClientAuth::Basic,
            (true, false, true) => ClientAuth::Post,
            // Neither named: basic, and the issuer's answer says what is wrong.
            (true, false, false) => ClientAuth::Basic,
        }
    }
}

/// An issuer's authorization-code flow for one client.
pub struct OidcClient {
    pub issuer: String,
    pub discovery_url: String,
    pub client_id: String,
    /// A confidential client's secret (`S3C_DASHBOARD_CLIENT_SECRET_ARN`); none for a public one.
    client_secret: Option<String>,
    /// The configuration, read once it is first needed (an issuer unreachable at a cold start is
    /// tried again at the next sign-in).
    configuration: tokio::sync::Mutex<Option<OpenIdConfiguration>>,
}

impl OidcClient {
    pub fn new(issuer: &str, discovery_url: &str, client_id: &str, client_secret: Option<String>) -> Self {
        OidcClient {
            issuer: issuer.to_owned(),
            discovery_url: discovery_url.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            configuration: tokio::sync::Mutex::new(None),
        }
    }

    async fn configuration(&self) -> Result<OpenIdConfiguration, ExchangeError> {
        let mut cached = self.configuration.lock().await;
        if let Some(configuration) = &*cached {
            return Ok(configuration.clone());
        }
        let configuration =
            discover(&self.discovery_url, &self.issuer).await.map_err(|e| ExchangeError::Discovery(e.to_string()))?;
        *cached = Some(configuration.clone());
        Ok(configuration)
    }

    /// Where the browser is sent to sign in.
    pub async fn authorization_endpoint(&self) -> Result<String, ExchangeError> {
        let configuration = self.configuration().await?;
        configuration
            .authorization_endpoint
            .ok_or_else(|| ExchangeError::Discovery(format!("{} names no authorization_endpoint", self.discovery_url)))
    }

    /// The ID token the issuer gives for `code` (checked by the caller, like any session's).
    #[tracing::instrument(skip_all, fields(issuer = %self.issuer))]
    pub async fn exchange(&self, code: &str, redirect_uri: &str, verifier: &str) -> Result<String, ExchangeError> {
        let configuration = self.configuration().await?;
        let endpoint = configuration
            .token_endpoint
            .clone()
            .ok_or_else(|| ExchangeError::Discovery(format!("{} names no token_endpoint", self.discovery_url)))?;
        let auth = ClientAuth::choose(
            self.client_secret.is_some(),
            configuration.token_endpoint_auth_methods_supported.as_deref(),
        );
        let secret = self.client_secret.as_deref().unwrap_or_default();
        // The serializer is not Send: built and finished before anything awaits.
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("code_verifier", verifier);
            if auth != ClientAuth::Basic {
                form.append_pair("client_id", &self.client_id);
            }
            if auth == ClientAuth::Post {
                form.append_pair("client_secret", secret);
            }
            form.finish()
        };
        let http = crate::identity::issuer_http().map_err(ExchangeError::Unavailable)?;
        let mut request = http
            .post(&endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form);
        if auth == ClientAuth::Basic {
            let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
            let credentials = format!("{}:{}", encode(&self.client_id), encode(secret));
            let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
            request = request.header("authorization", format!("Basic {basic}"));
        }
        let response = request.send().await.map_err(|e| ExchangeError::Unavailable(format!("POST {endpoint}: {e}")))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| ExchangeError::Unavailable(format!("POST {endpoint} ({status}): not JSON: {e}")))?;
        let text = |name: &str| body.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        if !status.is_success() {
            return Err(match text("error") {
                Some(error) => {
                    ExchangeError::Refused { status: status.as_u16(), error, description: text("error_description") }
                }
                None => ExchangeError::Unavailable(format!("POST {endpoint}: {status}")),
            });
        }
        text("id_token")
            .ok_or_else(|| ExchangeError::Unavailable(format!("POST {endpoint}: the answer has no id_token")))
    }
}

#[cfg(test)]
mod tests {
    use super::ClientAuth;

    #[test]
    fn the_client_authentication_follows_the_secret_and_what_the_issuer_supports() {
        let methods = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases: &[(bool, Option<Vec<String>>, ClientAuth)] = &[
            (false, None, ClientAuth::None),
            (false, Some(methods(&["client_secret_post"])), ClientAuth::None),
            (true, None, ClientAuth::Basic),
            (true, Some(methods(&["client_secret_post", "client_secret_basic"])), ClientAuth::Basic),
            (true, Some(methods(&["client_secret_post"])), ClientAuth::Post),
            (true, Some(methods(&["private_key_jwt"])), ClientAuth::Basic),
        ];
        for (has_secret, supported, expected) in cases {
            assert_eq!(ClientAuth::choose(*has_secret, supported.as_deref()), *expected, "{has_secret} {supported:?}");
        }
    }
}
