//! Who may use the dashboard, and the deployment's signing key: the AWS and HTTP halves of the
//! dashboard's sign-in (the checks themselves are the api crate's, over what these return).
//!
//! - [`CognitoSignIn`]: a user pool's user-password sign-in (`InitiateAuth` with
//!   `USER_PASSWORD_AUTH`), which hands back the user's ID token;
//! - [`discover`], [`issuer_keys`]: an OIDC issuer's OpenID configuration (its endpoints) and the
//!   signing keys it publishes (its `jwks_uri`), Cognito's or the platform's own;
//! - [`TokenCheck`]: an ID token's checks (signature against the issuer's keys, issuer,
//!   audience, expiry), shared by the dashboard and its API Gateway authorizer;
//! - [`signing_key`]: the secret (Secrets Manager) that signs customer set-up links and forms'
//!   CSRF tokens.

use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// Why a sign-in did not give a token.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The user name or password is wrong, or the user is disabled: said the same way for each,
    /// so that a page does not tell which user names exist.
    #[error("the user name or password is wrong")]
    Refused,
    /// The pool wants more than a password (a new password, MFA): the user finishes that with
    /// the pool's own tools first.
    #[error("this user must first {0}")]
    MoreNeeded(String),
    /// Cognito could not be reached or failed.
    #[error("sign-in is unavailable: {0}")]
    Unavailable(String),
}

/// A Cognito user pool app client's password sign-in (no client secret: the dashboard's client is
/// public, as a browser's is).
#[derive(Clone, Debug)]
pub struct CognitoSignIn {
    pub client: aws_sdk_cognitoidentityprovider::Client,
    pub client_id: String,
}

impl CognitoSignIn {
    pub fn new(aws: &crate::config::Aws, client_id: &str) -> Self {
        CognitoSignIn {
            client: aws_sdk_cognitoidentityprovider::Client::new(&aws.sdk),
            client_id: client_id.to_owned(),
        }
    }

    /// The user's ID token, or why not.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<String, SignInError> {
        let answer = self
            .client
            .initiate_auth()
            .client_id(&self.client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", password)
            .send()
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                let code = e.code().unwrap_or_default().to_owned();
                return Err(match code.as_str() {
                    "NotAuthorizedException" | "UserNotFoundException" => SignInError::Refused,
                    "PasswordResetRequiredException" => SignInError::MoreNeeded("reset the password".into()),
                    "UserNotConfirmedException" => SignInError::MoreNeeded("be confirmed".into()),
                    _ => SignInError::Unavailable(crate::errors::describe(&e)),
                });
            }
        };
        if let Some(challenge) = answer.challenge_name() {
            return Err(SignInError::MoreNeeded(format!("answer the challenge {}", challenge.as_str())));
        }
        answer
            .authentication_result()
            .and_then(|result| result.id_token())
            .map(str::to_owned)
            .ok_or_else(|| SignInError::Unavailable("Cognito returned no ID token".into()))
    }
}

/// Why an issuer's keys could not be had.
#[derive(Debug, thiserror::Error)]
#[error("the keys of {issuer}: {message}")]
pub struct KeysError {
    pub issuer: String,
    pub message: String,
}

/// What an issuer publishes at its discovery URL, as far as the dashboard uses it.
#[derive(Debug, Clone, Deserialize)]
pub struct OpenIdConfiguration {
    pub issuer: String,
    pub jwks_uri: String,
    /// Where the authorization-code flow sends the browser (absent at an issuer without it).
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Where that flow's code is exchanged for tokens.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// How a confidential client authenticates at the token endpoint; absent means
    /// `client_secret_basic` (OpenID Connect Discovery 1.0, section 3).
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// An HTTP client for an issuer's endpoints: every call bounded by a timeout.
pub(crate) fn issuer_http() -> Result<reqwest::Client, String> {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| format!("no HTTP client: {e}"))
}

/// GETs `url` as JSON.
async fn get_json(http: &reqwest::Client, url: &str) -> Result<serde_json::Value, String> {
    let response = http.get(url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
    let response = response.error_for_status().map_err(|e| format!("GET {url}: {e}"))?;
    response.json::<serde_json::Value>().await.map_err(|e| format!("GET {url}: not JSON: {e}"))
}

/// The issuer's OpenID configuration at `discovery_url`, which must name `issuer` itself (so that
/// keys or endpoints of one issuer never serve another's tokens).
pub async fn discover(discovery_url: &str, issuer: &str) -> Result<OpenIdConfiguration, KeysError> {
    let fail = |message: String| KeysError { issuer: issuer.to_owned(), message };
    let http = issuer_http().map_err(fail)?;
    discover_with(&http, discovery_url, issuer).await.map_err(fail)
}

async fn discover_with(
    http: &reqwest::Client,
    discovery_url: &str,
    issuer: &str,
) -> Result<OpenIdConfiguration, String> {
    let configuration: OpenIdConfiguration = serde_json::from_value(get_json(http, discovery_url).await?)
        .map_err(|e| format!("{discovery_url}: not an OpenID configuration: {e}"))?;
    if configuration.issuer != issuer {
        return Err(format!("{discovery_url} is the configuration of issuer {}", configuration.issuer));
    }
    Ok(configuration)
}

/// The issuer's JSON Web Key Set, from its OpenID configuration ([`discover`]) then its `jwks_uri`.
pub async fn issuer_keys(discovery_url: &str, issuer: &str) -> Result<serde_json::Value, KeysError> {
    let fail = |message: String| KeysError { issuer: issuer.to_owned(), message };
    let http = issuer_http().map_err(fail)?;
    let configuration = discover_with(&http, discovery_url, issuer).await.map_err(fail)?;
    get_json(&http, &configuration.jwks_uri).await.map_err(fail)
}

/// The bytes of the deployment's signing key: the secret's string, base64 if it decodes as such
/// to at least 32 bytes (as the demo and tests store it), else its UTF-8 bytes (what
/// CloudFormation's GenerateSecretString makes). Shorter than 32 bytes is refused.
pub async fn signing_key(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let secret = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| format!("reading the signing key {secret_id}: {}", crate::errors::describe(&e)))?;
    let text = secret.secret_string().ok_or_else(|| format!("the signing key {secret_id} has no SecretString"))?;
    let key = match base64::engine::general_purpose::STANDARD.decode(text.trim()) {
        Ok(bytes) if bytes.len() >= 32 => bytes,
        _ => text.as_bytes().to_vec(),
    };
    if key.len() < 32 {
        return Err(format!("the signing key {secret_id} is shorter than 32 bytes").into());
    }
    Ok(key)
}

/// A signed-in operator, from a token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// What the page calls them: Cognito's user name, else the e-mail, else the subject.
    pub name: String,
    pub subject: String,
    /// When the token was issued: a new sign-in is a new session, with a new CSRF token.
    pub issued_at: u64,
    /// When the token stops being accepted (seconds since the epoch).
    pub expires_at: u64,
    /// The token's `jti`, when the issuer writes one (the session's name for its sign-out).
    pub token_id: Option<String>,
    /// The token's `nonce`: the authorization-code flow's check that the token answers its request.
    pub nonce: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    iat: u64,
    exp: u64,
    #[serde(default)]
    token_use: Option<String>,
    #[serde(default, rename = "cognito:username")]
    cognito_username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

/// Why a token was refused (logged; the page only says "sign in again").
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("no session")]
    Missing,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the token is signed by a key the issuer does not publish")]
    UnknownKey,
    #[error("the token is an {0} token, not an ID token")]
    WrongUse(String),
    /// The session was signed out (the api function's check; the authorizer does not look).
    #[error("the session was signed out")]
    SignedOut,
    /// Whether the session was signed out could not be read.
    #[error("the sessions signed out could not be read: {0}")]
    Unknown(String),
}

/// Where fresh keys come from when a token names a key not yet known (the issuer rotated).
#[async_trait::async_trait]
pub trait KeySource: Send + Sync {
    async fn keys(&self) -> Result<JwkSet, String>;
}

/// The checks of an ID token, with the issuer's keys (fetched again, at most once a minute, when
/// a token names a key not yet known: the issuer rotated).
pub struct TokenCheck {
    issuer: String,
    client_id: String,
    keys: RwLock<JwkSet>,
    source: Option<Box<dyn KeySource>>,
    refreshed: tokio::sync::Mutex<Option<Instant>>,
}

/// The issuer's keys from its OpenID configuration ([`issuer_keys`]).
pub struct IssuerKeys {
    pub discovery_url: String,
    pub issuer: String,
}

#[async_trait::async_trait]
impl KeySource for IssuerKeys {
    async fn keys(&self) -> Result<JwkSet, String> {
        let keys = issuer_keys(&self.discovery_url, &self.issuer).await.map_err(|e| e.to_string())?;
        serde_json::from_value(keys).map_err(|e| format!("the keys of {}: {e}", self.issuer))
    }
}

impl TokenCheck {
    pub fn new(issuer: &str, client_id: &str, keys: JwkSet) -> Self {
        TokenCheck {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            keys: RwLock::new(keys),
            source: None,
            refreshed: tokio::sync::Mutex::new(None),
        }
    }

    /// A check whose keys come from `source`: fetched now (an issuer unreachable now is tried
    /// again when a token arrives), and again when a token names a new key.
    pub async fn from_source(issuer: &str, client_id: &str, source: Box<dyn KeySource>) -> Self {
        let keys = source.keys().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "the issuer's keys");
            JwkSet { keys: vec![] }
        });
        TokenCheck { source: Some(source), ..TokenCheck::new(issuer, client_id, keys) }
    }

    /// The operator a token belongs to, or why it is refused.
    pub async fn check(&self, token: &str) -> Result<Operator, Refused> {
        match self.check_with_known_keys(token) {
            Err(Refused::UnknownKey) if self.refresh_keys().await => self.check_with_known_keys(token),
            checked => checked,
        }
    }
    fn check_with_known_keys(&self, token: &str) -> Result<Operator, Refused> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| Refused::Invalid(e.to_string()))?;
        let key = {
            let keys = self.keys.read().expect("the key lock is never poisoned");
            // A token may omit its key id when the issuer publishes one key (OpenID Connect Core
            // 10.1: kid is required only among several), as oidc-provider-mock's tokens do.
            let jwk = match &header.kid {
                Some(kid) => keys.find(kid).ok_or(Refused::UnknownKey)?,
                None if keys.keys.len() == 1 => &keys.keys[0],
                None if keys.keys.is_empty() => return Err(Refused::UnknownKey),
                None => return Err(Refused::Invalid("no key id, and the issuer publishes several keys".into())),
            };
            DecodingKey::from_jwk(jwk).map_err(|e| Refused::Invalid(e.to_string()))?
        };
        // RS256 only: the algorithm is ours to choose, never the token's.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| Refused::Invalid(e.to_string()))?
            .claims;
        // Cognito's tokens say what they are; an access token must never pass for a session. (An
        // issuer of another kind may not write the claim: its aud is the check there.)
        match claims.token_use {
            Some(token_use) if token_use != "id" => return Err(Refused::WrongUse(token_use)),
            None if self.issuer.starts_with("https://cognito-idp.") => return Err(Refused::WrongUse("unnamed".into())),
            _ => {}
        }
        Ok(Operator {
            name: claims.cognito_username.or(claims.email).unwrap_or_else(|| claims.sub.clone()),
            subject: claims.sub,
            issued_at: claims.iat,
            expires_at: claims.exp,
            token_id: claims.jti,
            nonce: claims.nonce,
        })
    }

    /// Fetches the issuer's keys again, at most once a minute; whether new keys came.
    async fn refresh_keys(&self) -> bool {
        let Some(source) = &self.source else { return false };
        let mut refreshed = self.refreshed.lock().await;
        if refreshed.is_some_and(|at| at.elapsed() < Duration::from_secs(60)) {
            return false;
        }
        *refreshed = Some(Instant::now());
        match source.keys().await {
            Ok(keys) => {
                *self.keys.write().expect("the key lock is never poisoned") = keys;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "fetching the issuer's keys again");
                false
            }
        }
    }
}
