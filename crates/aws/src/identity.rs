//! Who may use the dashboard, and the deployment's signing key: the AWS and HTTP halves of the
//! dashboard's sign-in (the checks themselves are the api crate's, over what these return).
//!
//! - [`CognitoSignIn`]: a user pool's user-password sign-in (`InitiateAuth` with
//!   `USER_PASSWORD_AUTH`), which hands back the user's ID token;
//! - [`issuer_keys`]: the signing keys an OIDC issuer publishes (its OpenID configuration, then
//!   its `jwks_uri`), Cognito's or the platform's own;
//! - [`signing_key`]: the secret (Secrets Manager) that signs customer set-up links and forms'
//!   CSRF tokens.

use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
use base64::Engine as _;
use serde::Deserialize;
use std::time::Duration;

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

#[derive(Deserialize)]
struct OpenIdConfiguration {
    issuer: String,
    jwks_uri: String,
}

/// The issuer's JSON Web Key Set, from the OpenID configuration at `discovery_url`, which must
/// name `issuer` itself (so that keys of one issuer never check another's tokens).
pub async fn issuer_keys(discovery_url: &str, issuer: &str) -> Result<serde_json::Value, KeysError> {
    let fail = |message: String| KeysError { issuer: issuer.to_owned(), message };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| fail(format!("no HTTP client: {e}")))?;
    let get = |url: String| {
        let http = http.clone();
        async move {
            let response = http.get(&url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
            let response = response.error_for_status().map_err(|e| format!("GET {url}: {e}"))?;
            response.json::<serde_json::Value>().await.map_err(|e| format!("GET {url}: not JSON: {e}"))
        }
    };
    let configuration: OpenIdConfiguration = serde_json::from_value(get(discovery_url.to_owned()).await.map_err(fail)?)
        .map_err(|e| fail(format!("{discovery_url}: not an OpenID configuration: {e}")))?;
    if configuration.issuer != issuer {
        return Err(fail(format!("{discovery_url} is the configuration of issuer {}", configuration.issuer)));
    }
    get(configuration.jwks_uri).await.map_err(fail)
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
