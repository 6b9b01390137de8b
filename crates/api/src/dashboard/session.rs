//! Who is signed in: the session cookie holds the operator's OIDC ID token (Cognito's, or the
//! platform's own issuer's), and every dashboard request checks it
//! ([`connector_aws::identity::TokenCheck`]: signature against the issuer's published keys,
//! issuer, audience, expiry). API Gateway's authorizer function makes the same check before the
//! function runs; this one also runs locally.
//!
//! Signing out ends the session on the server too: its token is recorded as revoked until it
//! expires ([`RevokedSessions`], an item in the state table), and [`Sessions::check`] refuses a
//! revoked one, so a copy of the cookie is worthless after sign-out. (Cognito's RevokeToken and
//! GlobalSignOut need the refresh or access token; the dashboard keeps only the ID token, so the
//! pool is not told.)
//!
//! Forms carry a CSRF token: an HMAC, under the deployment's signing key, of the session it was
//! made for. A form from another site has no way to learn it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
pub use connector_aws::identity::{Operator, Refused, TokenCheck};
use connector_core::ports::StoreError;
use connector_core::sessions::RevokedSessions;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The cookie that carries the ID token.
pub const SESSION_COOKIE: &str = "s3c_session";
/// The cookie that binds the sign-in form to the browser that loaded it (login CSRF).
pub const SIGN_IN_COOKIE: &str = "s3c_sign_in";

/// The checks of sessions (the token, through [`TokenCheck`], then the sessions signed out) and
/// of forms' CSRF tokens.
pub struct Sessions {
    pub tokens: TokenCheck,
    signing_key: Vec<u8>,
    revoked: Box<dyn RevokedSessions>,
}

/// What names a session for its sign-out: the token's `jti`, or the SHA-256 of the token when the
/// issuer writes no `jti` (prefixed, so that the two never meet).
pub fn session_id(operator: &Operator, token: &str) -> String {
    match &operator.token_id {
        Some(jti) => format!("jti:{jti}"),
        None => format!("sha256:{}", URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))),
    }
}

impl Sessions {
    pub fn new(tokens: TokenCheck, signing_key: Vec<u8>, revoked: Box<dyn RevokedSessions>) -> Self {
        Sessions { tokens, signing_key, revoked }
    }

    /// The operator a token belongs to, or why it is refused: the token's checks, then one read
    /// of the sessions signed out (a store that cannot answer refuses: the gate stays shut).
    pub async fn check(&self, token: &str) -> Result<Operator, Refused> {
        let operator = self.tokens.check(token).await?;
        match self.revoked.is_revoked(&session_id(&operator, token), chrono::Utc::now()).await {
            Ok(false) => Ok(operator),
            Ok(true) => Err(Refused::SignedOut),
            Err(e) => Err(Refused::Unknown(e.to_string())),
        }
    }

    /// Ends a session on the server: its token is refused from now until it expires.
    pub async fn revoke(&self, operator: &Operator, token: &str) -> Result<(), StoreError> {
        let until = chrono::DateTime::from_timestamp(operator.expires_at.min(i64::MAX as u64) as i64, 0)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        self.revoked.revoke(&session_id(operator, token), until).await
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

/// Tokens signed as an issuer signs them, for the tests of this module and of the sign-in flow.
#[cfg(test)]
pub(crate) mod test_tokens {
    use super::*;
    use connector_core::memory::MemoryRevokedSessions;

    /// A key pair made for these tests only (openssl genpkey, 2048 bits; PKCS#1 DER, as
    /// jsonwebtoken takes it without its `use_pem` feature): the private half signs tokens here,
    /// the public half (its modulus) is the issuer's published key.
    const TEST_ONLY_KEY: &[u8] = include_bytes!("testdata/test-only-rsa-key.der");
    const TEST_ONLY_MODULUS: &str = "5U-PlbYX_m2z6ut-pMAMNGtD5uxkIFEpi314X-WaRcn3dp8LNHnVvtVWvJyWyRfCjoRPWyIxFn_ycMCjTu4z0cmkm9SpTRlBMDAwUNQ9vor-COsKrtJl5vNimQ54Ve2wKkD9F3iDNvIC7sO--VQs6Jd8n-4nWmWRrc9P1pETSWfhb1uNec440I0BBmHqci120ZDUx4MYUyT-wJb1D2IBKKg6C7OAwhcm1FyYktYOzJaopTP6e0Nfjp9RYH2BC4y_sPhxBqkt6PuWgpwarMgT7tKUqMqhMt6aW2Qo_EKklcvUyAcAHPhC9ndbACSz5Paw02_SWtEMn4XF9YnGTjyMvQ";

    pub(crate) fn signed(kid: Option<&str>, extra: serde_json::Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = serde_json::json!({
            "iss": "https://issuer.example", "aud": "client", "sub": "alice", "iat": now, "exp": now + 3600,
        });
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        let key = jsonwebtoken::EncodingKey::from_rsa_der(TEST_ONLY_KEY);
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    pub(crate) fn signing_sessions() -> Sessions {
        let keys = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": TEST_ONLY_MODULUS, "e": "AQAB"}
        ]});
        let tokens = TokenCheck::new("https://issuer.example", "client", serde_json::from_value(keys).unwrap());
        Sessions::new(tokens, vec![7; 32], Box::new(MemoryRevokedSessions::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::test_tokens::*;
    use super::*;
    use connector_core::memory::MemoryRevokedSessions;
    use jsonwebtoken::jwk::JwkSet;

    fn sessions() -> Sessions {
        let tokens = TokenCheck::new("https://issuer.example", "client", JwkSet { keys: vec![] });
        Sessions::new(tokens, vec![7; 32], Box::new(MemoryRevokedSessions::default()))
    }

    #[test]
    fn signatures_differ_by_every_part_and_verify_only_their_own() {
        let s = sessions();
        let a = s.sign(&["csrf", "alice", "1"]);
        assert!(s.verify(&["csrf", "alice", "1"], &a));
        assert!(!s.verify(&["csrf", "alice", "2"], &a));
        assert!(!s.verify(&["csrf", "alice1", ""], &a), "parts are length-prefixed");
        assert!(!s.verify(&["csrf", "alice", "1"], "not base64!"));
        let tokens = TokenCheck::new("https://issuer.example", "client", JwkSet { keys: vec![] });
        let other = Sessions::new(tokens, vec![8; 32], Box::new(MemoryRevokedSessions::default()));
        assert!(!other.verify(&["csrf", "alice", "1"], &a), "another key's signature");
    }

    #[tokio::test]
    async fn a_signed_out_session_is_refused_and_others_are_not() {
        let s = signing_sessions();
        // Named by its jti.
        let token = signed(Some("k1"), serde_json::json!({"jti": "j-1", "nonce": "n-1"}));
        let operator = s.check(&token).await.expect("a valid token");
        assert_eq!((operator.token_id.as_deref(), operator.nonce.as_deref()), (Some("j-1"), Some("n-1")));
        assert_eq!(session_id(&operator, &token), "jti:j-1");
        let other = signed(Some("k1"), serde_json::json!({"jti": "j-2"}));
        s.revoke(&operator, &token).await.unwrap();
        assert!(matches!(s.check(&token).await, Err(Refused::SignedOut)));
        assert!(s.check(&other).await.is_ok(), "another session of the same operator");

        // Without jti (and without kid, the issuer's one key): named by the token's SHA-256.
        let token = signed(None, serde_json::json!({"email": "alice@example.com"}));
        let operator = s.check(&token).await.expect("a token without kid, checked with the one key");
        assert_eq!(operator.name, "alice@example.com");
        assert!(session_id(&operator, &token).starts_with("sha256:"));
        s.revoke(&operator, &token).await.unwrap();
        assert!(matches!(s.check(&token).await, Err(Refused::SignedOut)));
        let again = signed(None, serde_json::json!({"email": "alice@example.com", "nonce": "new"}));
        assert!(s.check(&again).await.is_ok(), "a new sign-in is a new token");
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
