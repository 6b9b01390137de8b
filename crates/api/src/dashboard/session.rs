//! Who is signed in: the session cookie holds the operator's OIDC ID token (Cognito's, or the
//! platform's own issuer's), and every dashboard request checks it
//! ([`connector_aws::identity::TokenCheck`]: signature against the issuer's published keys,
//! issuer, audience, expiry). API Gateway's authorizer function makes the same check before the
//! function runs; this one also runs locally.
//!
//! Forms carry a CSRF token: an HMAC, under the deployment's signing key, of the session it was
//! made for. A form from another site has no way to learn it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
pub use connector_aws::identity::{Operator, Refused, TokenCheck};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The cookie that carries the ID token.
pub const SESSION_COOKIE: &str = "s3c_session";
/// The cookie that binds the sign-in form to the browser that loaded it (login CSRF).
pub const SIGN_IN_COOKIE: &str = "s3c_sign_in";

/// The checks of sessions (the token, through [`TokenCheck`]) and of forms' CSRF tokens.
pub struct Sessions {
    pub tokens: TokenCheck,
    signing_key: Vec<u8>,
}

impl Sessions {
    pub fn new(tokens: TokenCheck, signing_key: Vec<u8>) -> Self {
        Sessions { tokens, signing_key }
    }

    /// The operator a token belongs to, or why it is refused.
    pub async fn check(&self, token: &str) -> Result<Operator, Refused> {
        self.tokens.check(token).await
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
    use jsonwebtoken::jwk::JwkSet;

    fn sessions() -> Sessions {
        Sessions::new(TokenCheck::new("https://issuer.example", "client", JwkSet { keys: vec![] }), vec![7; 32])
    }

    #[test]
    fn signatures_differ_by_every_part_and_verify_only_their_own() {
        let s = sessions();
        let a = s.sign(&["csrf", "alice", "1"]);
        assert!(s.verify(&["csrf", "alice", "1"], &a));
        assert!(!s.verify(&["csrf", "alice", "2"], &a));
        assert!(!s.verify(&["csrf", "alice1", ""], &a), "parts are length-prefixed");
        assert!(!s.verify(&["csrf", "alice", "1"], "not base64!"));
        let other =
            Sessions::new(TokenCheck::new("https://issuer.example", "client", JwkSet { keys: vec![] }), vec![8; 32]);
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
