//! Who is signed in: the session cookie holds the operator's OIDC ID token (Cognito's, or the
//! platform's own issuer's), and every dashboard request checks it here: signature against the
//! issuer's published keys, issuer, audience (the dashboard's client id), expiry. API Gateway's
//! authorizer checks the same token before the function runs; this check is the one that also
//! runs locally.
//!
//! Forms carry a CSRF token: an HMAC, under the deployment's signing key, of the session it was
//! made for. A form from another site has no way to learn it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::Sha256;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// The cookie that carries the ID token.
pub const SESSION_COOKIE: &str = "s3c_session";
/// The cookie that binds the sign-in form to the browser that loaded it (login CSRF).
pub const SIGN_IN_COOKIE: &str = "s3c_sign_in";

/// A signed-in operator, from a token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// What the page calls them: Cognito's user name, else the e-mail, else the subject.
    pub name: String,
    subject: String,
    /// When the token was issued: a new sign-in is a new session, with a new CSRF token.
    issued_at: u64,
    /// When the token stops being accepted (seconds since the epoch).
    pub expires_at: u64,
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
}

/// Where fresh keys come from when a token names a key not yet known (the issuer rotated).
#[async_trait::async_trait]
pub trait KeySource: Send + Sync {
    async fn keys(&self) -> Result<JwkSet, String>;
}

/// The checks of sessions and of forms' CSRF tokens.
pub struct Sessions {
    issuer: String,
    client_id: String,
    keys: RwLock<JwkSet>,
    source: Option<Box<dyn KeySource>>,
    /// When the keys were last fetched again: at most once a minute, whatever tokens arrive.
    refreshed: tokio::sync::Mutex<Option<Instant>>,
    signing_key: Vec<u8>,
}

impl Sessions {
    pub fn new(issuer: &str, client_id: &str, keys: JwkSet, signing_key: Vec<u8>) -> Self {
        Sessions {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            keys: RwLock::new(keys),
            source: None,
            refreshed: tokio::sync::Mutex::new(None),
            signing_key,
        }
    }

    pub fn with_key_source(mut self, source: Box<dyn KeySource>) -> Self {
        self.source = Some(source);
        self
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
        let kid = header.kid.ok_or_else(|| Refused::Invalid("no key id".into()))?;
        let key = {
            let keys = self.keys.read().expect("the key lock is never poisoned");
            let jwk = keys.find(&kid).ok_or(Refused::UnknownKey)?;
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
        if let Some(token_use) = claims.token_use.filter(|u| u != "id") {
            return Err(Refused::WrongUse(token_use));
        }
        Ok(Operator {
            name: claims.cognito_username.or(claims.email).unwrap_or_else(|| claims.sub.clone()),
            subject: claims.sub,
            issued_at: claims.iat,
            expires_at: claims.exp,
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

    /// The CSRF token of an operator's session.
    pub fn csrf_token(&self, operator: &Operator) -> String {
        self.sign(&["csrf", &operator.subject, &operator.issued_at.to_string()])
    }

    /// Whether a form's CSRF token is the session's.
    pub fn csrf_matches(&self, operator: &Operator, given: &str) -> bool {
        self.verify(&["csrf", &operator.subject, &operator.issued_at.to_string()], given)
    }

    /// The token of a sign-in form, bound to the nonce in the browser's sign-in cookie.
    pub fn sign_in_token(&self, nonce: &str) -> String {
        self.sign(&["sign-in", nonce])
    }

    pub fn sign_in_matches(&self, nonce: &str, given: &str) -> bool {
        self.verify(&["sign-in", nonce], given)
    }

    /// HMAC-SHA256 of the parts (each length-prefixed, so that no two lists sign alike), base64url.
    pub fn sign(&self, parts: &[&str]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(parts).finalize().into_bytes())
    }

    /// Whether `given` is the signature of `parts`, compared in constant time.
    pub fn verify(&self, parts: &[&str], given: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(given) {
            Ok(bytes) => self.mac(parts).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }

    fn mac(&self, parts: &[&str]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.signing_key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }
}

/// A fresh random nonce (the sign-in cookie's).
pub fn nonce() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 18]>())
}

/// The value of a cookie in a request's `Cookie` headers.
pub fn cookie<'r>(request: &'r lambda_http::Request, name: &str) -> Option<&'r str> {
    request
        .headers()
        .get_all(lambda_http::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new("https://issuer.example", "client", JwkSet { keys: vec![] }, vec![7; 32])
    }

    #[test]
    fn signatures_differ_by_every_part_and_verify_only_their_own() {
        let s = sessions();
        let a = s.sign(&["csrf", "alice", "1"]);
        assert!(s.verify(&["csrf", "alice", "1"], &a));
        assert!(!s.verify(&["csrf", "alice", "2"], &a));
        assert!(!s.verify(&["csrf", "alice1", ""], &a), "parts are length-prefixed");
        assert!(!s.verify(&["csrf", "alice", "1"], "not base64!"));
        let other = Sessions::new("https://issuer.example", "client", JwkSet { keys: vec![] }, vec![8; 32]);
        assert!(!other.verify(&["csrf", "alice", "1"], &a), "another key's signature");
    }

    #[tokio::test]
    async fn a_token_that_is_not_a_jwt_or_names_no_known_key_is_refused() {
        let s = sessions();
        assert!(matches!(s.check("nonsense").await, Err(Refused::Invalid(_))));
        // A well-formed header naming a key the (empty) set lacks.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k1"}"#);
        let body = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        assert!(matches!(s.check(&format!("{header}.{body}.sig")).await, Err(Refused::UnknownKey)));
    }
}
