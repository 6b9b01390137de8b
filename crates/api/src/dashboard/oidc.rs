//! Sign-in at the platform's own OpenID Connect issuer: the authorization-code flow with PKCE
//! (S256), `state` and `nonce`. The sign-in page's button starts an attempt (`/sign-in/start`):
//! its three secrets go into a short-lived cookie signed with the deployment's key, and the browser
//! to the issuer. The issuer sends it back to `/sign-in/callback` with a code, which is taken only
//! with the cookie's state, exchanged with the cookie's verifier, and whose ID token must pass the
//! session check and carry the cookie's nonce. Then the session is set as the password sign-in
//! sets it ([`Dashboard::signed_in`]).
//!
//! The cookie is SameSite=Lax, not Strict: the issuer's redirect back is a top-level navigation
//! from another site, which a Strict cookie would not follow.

use super::layout::redirect;
use super::session::{cookie, Sessions};
use super::Dashboard;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use connector_aws::oidc::{ExchangeError, OidcClient};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use sha2::{Digest, Sha256};

/// The cookie that carries a sign-in attempt's state, nonce and verifier to the callback.
pub const ATTEMPT_COOKIE: &str = "s3c_oidc";
/// How long an attempt may take at the issuer (typing a password, a second factor).
pub const ATTEMPT_SECONDS: i64 = 600;
/// The route the issuer sends the browser back to (after the dashboard's base); the platform
/// registers its absolute URL with the issuer as the client's redirect URI.
pub const CALLBACK_PATH: &str = "/dashboard/sign-in/callback";

/// The issuer's side of the flow: where to send the browser, and a code's ID token.
#[async_trait::async_trait]
pub trait CodeFlow: Send + Sync {
    /// The issuer (`iss`), whose host the sign-in button names.
    fn issuer(&self) -> &str;
    fn client_id(&self) -> &str;
    async fn authorization_endpoint(&self) -> Result<String, ExchangeError>;
    async fn exchange(&self, code: &str, redirect_uri: &str, verifier: &str) -> Result<String, ExchangeError>;
}

#[async_trait::async_trait]
impl CodeFlow for OidcClient {
    fn issuer(&self) -> &str {
        &self.issuer
    }

    fn client_id(&self) -> &str {
        &self.client_id
    }

    async fn authorization_endpoint(&self) -> Result<String, ExchangeError> {
        OidcClient::authorization_endpoint(self).await
    }

    async fn exchange(&self, code: &str, redirect_uri: &str, verifier: &str) -> Result<String, ExchangeError> {
        OidcClient::exchange(self, code, redirect_uri, verifier).await
    }
}

/// One sign-in attempt: what the callback must see again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Sent to the issuer and back: a callback without it is not this browser's.
    pub state: String,
    /// Sent to the issuer, which writes it into the ID token: a token not made for this attempt
    /// (replayed) lacks it.
    pub nonce: String,
    /// PKCE: its SHA-256 goes to the issuer, itself only with the code; an intercepted code is
    /// worthless without it.
    pub verifier: String,
    /// When the attempt lapses (seconds since the epoch).
    pub expires: i64,
}

/// Why a callback's attempt is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    #[error("no sign-in was started in this browser")]
    Missing,
    #[error("the sign-in's cookie is not ours")]
    Forged,
    #[error("the sign-in took too long")]
    Expired,
    #[error("the sign-in's state does not match this browser's")]
    StateMismatch,
}

fn random() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// PKCE's S256 challenge of a verifier: base64url(SHA-256(verifier)), no padding (RFC 7636, 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Attempt {
    /// A new attempt, lapsing [`ATTEMPT_SECONDS`] after `now`. The verifier is 43 base64url
    /// characters, RFC 7636's shortest and its recommended 32 random bytes.
    pub fn new(now: i64) -> Attempt {
        Attempt { state: random(), nonce: random(), verifier: random(), expires: now + ATTEMPT_SECONDS }
    }

    fn parts(&self) -> [String; 5] {
        let expires = self.expires.to_string();
        ["oidc".into(), self.state.clone(), self.nonce.clone(), self.verifier.clone(), expires]
    }

    /// The cookie's value: the parts and their signature, dot-separated (base64url has no dots).
    pub fn cookie_value(&self, sessions: &Sessions) -> String {
        let parts = self.parts();
        let signature = sessions.sign(&parts.each_ref().map(String::as_str));
        format!("{}.{}.{}.{}.{signature}", self.state, self.nonce, self.verifier, self.expires)
    }

    /// The attempt in a callback's cookie, if it is ours, current and its state is `state`.
    pub fn from_cookie(
        value: Option<&str>,
        state: Option<&str>,
        sessions: &Sessions,
        now: i64,
    ) -> Result<Attempt, AttemptError> {
        let value = value.ok_or(AttemptError::Missing)?;
        let fields: Vec<&str> = value.split('.').collect();
        let [state_kept, nonce, verifier, expires, signature] = fields[..] else { return Err(AttemptError::Forged) };
        let expires: i64 = expires.parse().map_err(|_| AttemptError::Forged)?;
        let attempt = Attempt { state: state_kept.into(), nonce: nonce.into(), verifier: verifier.into(), expires };
        if !sessions.verify(&attempt.parts().each_ref().map(String::as_str), signature) {
            return Err(AttemptError::Forged);
        }
        if now >= attempt.expires {
            return Err(AttemptError::Expired);
        }
        // Not secret-dependent timing: the state was in the browser's address bar.
        if state != Some(attempt.state.as_str()) {
            return Err(AttemptError::StateMismatch);
        }
        Ok(attempt)
    }
}

/// The issuer's authorization URL for an attempt (the endpoint's own query, if any, kept).
pub fn authorization_url(endpoint: &str, client_id: &str, redirect_uri: &str, attempt: &Attempt) -> String {
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("scope", "openid email profile"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("state", &attempt.state),
        ("nonce", &attempt.nonce),
        ("code_challenge", &pkce_challenge(&attempt.verifier)),
        ("code_challenge_method", "S256"),
    ])
    .expect("strings always encode");
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    format!("{endpoint}{separator}{query}")
}

/// The host of an issuer URL, for the sign-in button ("Sign in with login.example.com").
pub fn issuer_host(issuer: &str) -> &str {
    let rest = issuer.split_once("://").map_or(issuer, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

impl Dashboard {
    fn attempt_cookie(&self, value: &str, max_age: i64) -> String {
        format!("{ATTEMPT_COOKIE}={value}; Max-Age={max_age}; {}", self.cookie_attributes())
    }

    /// `/sign-in/start`: a new attempt in its cookie, and the browser to the issuer.
    pub(super) async fn start_sign_in(&self, flow: &dyn CodeFlow, request: &Request) -> Response<Body> {
        let endpoint = match flow.authorization_endpoint().await {
            Ok(endpoint) => endpoint,
            Err(e) => {
                tracing::error!(error = %e, "the issuer's authorization endpoint");
                let message = "The sign-in service cannot be reached just now; try again shortly.";
                return self.sign_in_page(StatusCode::SERVICE_UNAVAILABLE, Some(message), "");
            }
        };
        let attempt = Attempt::new(chrono::Utc::now().timestamp());
        let redirect_uri = self.public_url(request, &self.href(CALLBACK_PATH.trim_start_matches("/dashboard")));
        let url = authorization_url(&endpoint, flow.client_id(), &redirect_uri, &attempt);
        redirect(&url, &[self.attempt_cookie(&attempt.cookie_value(&self.sessions), ATTEMPT_SECONDS)])
    }

    /// `/sign-in/callback`: the issuer's answer; signed in, or the sign-in page saying why not.
    pub(super) async fn finish_sign_in(&self, flow: &dyn CodeFlow, request: &Request) -> Response<Body> {
        let query = |name: &str| request.query_string_parameters_ref().and_then(|q| q.first(name)).map(str::to_owned);
        let used = self.attempt_cookie("", 0);
        let page = |status: StatusCode, message: &str| {
            let mut response = self.sign_in_page(status, Some(message), "");
            response.headers_mut().append("set-cookie", used.parse().expect("a cookie is a valid header"));
            response
        };
        // An issuer's refusal: only the standard codes are shown (RFC 6749 4.1.2.1, OpenID
        // Connect 3.1.2.6), never its free text (which goes to the log), so that a link to the
        // callback from anywhere else cannot put words on this page. Only a refusal of this
        // browser's attempt (its state) ends the attempt: some issuers leave the state out of
        // an error, and a forged link must not end a sign-in under way.
        let ours = Attempt::from_cookie(
            cookie(request, ATTEMPT_COOKIE),
            query("state").as_deref(),
            &self.sessions,
            chrono::Utc::now().timestamp(),
        );
        if let Some(error) = query("error") {
            let description = query("error_description").unwrap_or_default();
            tracing::info!(%error, %description, ours = ours.is_ok(), "the issuer refused a sign-in");
            let known = matches!(
                error.as_str(),
                "access_denied"
                    | "invalid_request"
                    | "unauthorized_client"
                    | "unsupported_response_type"
                    | "invalid_scope"
                    | "server_error"
                    | "temporarily_unavailable"
                    | "interaction_required"
                    | "login_required"
                    | "account_selection_required"
                    | "consent_required"
            );
            let code = if known { error.as_str() } else { "an unknown error" };
            let message = format!("The sign-in service said no: {code}.");
            return match ours {
                Ok(_) => page(StatusCode::UNAUTHORIZED, &message),
                Err(_) => self.sign_in_page(StatusCode::UNAUTHORIZED, Some(&message), ""),
            };
        }
        let attempt = match ours {
            Ok(attempt) => attempt,
            Err(e) => {
                tracing::info!(reason = %e, "a sign-in callback refused");
                // Not this browser's attempt: its own, if it has one under way, is left alone.
                let message = format!("This sign-in cannot be finished: {e}. Sign in again.");
                return self.sign_in_page(StatusCode::FORBIDDEN, Some(&message), "");
            }
        };
        let Some(code) = query("code").filter(|c| !c.is_empty()) else {
            return page(StatusCode::BAD_REQUEST, "The sign-in service sent no code: sign in again.");
        };
        let redirect_uri = self.public_url(request, &self.href(CALLBACK_PATH.trim_start_matches("/dashboard")));
        let token = match flow.exchange(&code, &redirect_uri, &attempt.verifier).await {
            Ok(token) => token,
            Err(e @ ExchangeError::Refused { .. }) => {
                tracing::warn!(error = %e, "a sign-in's code was refused");
                return page(
                    StatusCode::UNAUTHORIZED,
                    "The sign-in service would not finish this sign-in: sign in again.",
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "exchanging a sign-in's code");
                return page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The sign-in service cannot be reached just now; try again shortly.",
                );
            }
        };
        let operator = match self.sessions.check(&token).await {
            Ok(operator) => operator,
            Err(e) => {
                tracing::error!(error = %e, "a token from the issuer was refused");
                let message = "Signed in, but the token was refused: the dashboard's issuer settings are wrong.";
                return page(StatusCode::UNAUTHORIZED, message);
            }
        };
        if operator.nonce.as_deref() != Some(attempt.nonce.as_str()) {
            tracing::warn!(subject = %operator.subject, "an ID token without this sign-in's nonce");
            return page(
                StatusCode::UNAUTHORIZED,
                "The sign-in service's token is not for this sign-in: sign in again.",
            );
        }
        self.signed_in(&token, &operator, ATTEMPT_COOKIE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::session::TokenCheck;
    use connector_core::memory::MemoryRevokedSessions;
    use jsonwebtoken::jwk::JwkSet;

    fn sessions(key: u8) -> Sessions {
        let tokens = TokenCheck::new("https://issuer.example", "client", JwkSet { keys: vec![] });
        Sessions::new(tokens, vec![key; 32], Box::new(MemoryRevokedSessions::default()))
    }

    #[test]
    fn the_pkce_challenge_is_the_base64url_sha256_of_the_verifier() {
        // RFC 7636, appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let attempt = Attempt::new(0);
        assert_eq!(attempt.verifier.len(), 43, "32 random bytes, base64url");
        assert_ne!(attempt.state, attempt.nonce);
    }

    #[test]
    fn the_authorization_url_asks_for_a_code_with_every_parameter() {
        let attempt = Attempt { state: "s1".into(), nonce: "n1".into(), verifier: "v".repeat(43), expires: 10 };
        let url =
            authorization_url("https://login.example/authorize", "dash board", "http://127.0.0.1:9/cb?x", &attempt);
        let (endpoint, query) = url.split_once('?').unwrap();
        assert_eq!(endpoint, "https://login.example/authorize");
        let pairs: std::collections::HashMap<String, String> = serde_urlencoded::from_str(query).unwrap();
        let expected = [
            ("response_type", "code"),
            ("scope", "openid email profile"),
            ("client_id", "dash board"),
            ("redirect_uri", "http://127.0.0.1:9/cb?x"),
            ("state", "s1"),
            ("nonce", "n1"),
            ("code_challenge", &pkce_challenge(&"v".repeat(43))),
            ("code_challenge_method", "S256"),
        ];
        for (name, value) in expected {
            assert_eq!(pairs.get(name).map(String::as_str), Some(value), "{name} in {url}");
        }
        assert_eq!(pairs.len(), expected.len(), "{url}");
        let kept = authorization_url("https://login.example/authorize?tenant=a", "c", "r", &attempt);
        assert!(kept.starts_with("https://login.example/authorize?tenant=a&response_type=code&"), "{kept}");
    }

    #[test]
    fn an_attempt_comes_back_only_signed_current_and_with_its_state() {
        let s = sessions(7);
        let attempt = Attempt::new(1_000);
        let value = attempt.cookie_value(&s);
        let back = |value: Option<&str>, state: Option<&str>, now: i64| Attempt::from_cookie(value, state, &s, now);
        assert_eq!(back(Some(&value), Some(&attempt.state), 1_000), Ok(attempt.clone()));
        assert_eq!(back(Some(&value), Some(&attempt.state), 1_000 + ATTEMPT_SECONDS), Err(AttemptError::Expired));
        assert_eq!(back(Some(&value), Some("another"), 1_000), Err(AttemptError::StateMismatch));
        assert_eq!(back(Some(&value), None, 1_000), Err(AttemptError::StateMismatch));
        assert_eq!(back(None, Some(&attempt.state), 1_000), Err(AttemptError::Missing));
        // Any part altered (a later expiry, another nonce) or another key's signature: forged.
        let later = value.replace(&format!(".{}.", attempt.expires), &format!(".{}.", attempt.expires + 3_600));
        assert_eq!(back(Some(&later), Some(&attempt.state), 1_000), Err(AttemptError::Forged));
        let other_nonce = value.replace(&attempt.nonce, "n");
        assert_eq!(back(Some(&other_nonce), Some(&attempt.state), 1_000), Err(AttemptError::Forged));
        let other_key = attempt.cookie_value(&sessions(8));
        assert_eq!(back(Some(&other_key), Some(&attempt.state), 1_000), Err(AttemptError::Forged));
        assert_eq!(back(Some("a.b.c"), Some("a"), 1_000), Err(AttemptError::Forged));
    }

    #[test]
    fn the_button_names_the_issuers_host() {
        assert_eq!(issuer_host("https://login.example.com/realms/ops"), "login.example.com");
        assert_eq!(issuer_host("http://127.0.0.1:9400"), "127.0.0.1:9400");
    }

    /// An issuer whose token exchange answers with one given token.
    struct Answering(String);

    #[async_trait::async_trait]
    impl CodeFlow for Answering {
        fn issuer(&self) -> &str {
            "https://issuer.example"
        }
        fn client_id(&self) -> &str {
            "client"
        }
        async fn authorization_endpoint(&self) -> Result<String, ExchangeError> {
            Ok("https://issuer.example/authorize".into())
        }
        async fn exchange(&self, _code: &str, _redirect_uri: &str, _verifier: &str) -> Result<String, ExchangeError> {
            Ok(self.0.clone())
        }
    }

    /// The callback of this browser's attempt, the issuer answering with a token whose nonce
    /// is the attempt's (`Some(None)`), another (`Some(Some(..))`), or absent (`None`).
    async fn callback_with(nonce: Option<Option<&str>>) -> Response<Body> {
        use crate::dashboard::session::test_tokens::{signed, signing_sessions};
        let attempt = Attempt::new(chrono::Utc::now().timestamp());
        let claims = match nonce {
            Some(None) => serde_json::json!({ "nonce": attempt.nonce }),
            Some(Some(other)) => serde_json::json!({ "nonce": other }),
            None => serde_json::json!({}),
        };
        let flow = Answering(signed(Some("k1"), claims));
        let dashboard = crate::dashboard::Dashboard {
            sessions: signing_sessions(),
            sign_in: crate::dashboard::SignInMethod::Oidc(Box::new(Answering(String::new()))),
            base: String::new(),
            secure_cookies: true,
            role_template_url: None,
            object_event_bus: None,
            list_page: 10,
        };
        let cookie = format!("{ATTEMPT_COOKIE}={}", attempt.cookie_value(&dashboard.sessions));
        let request = lambda_http::http::Request::builder()
            .uri(format!("https://dash.example/dashboard/sign-in/callback?code=c1&state={}", attempt.state))
            .header("host", "dash.example")
            .header("cookie", cookie)
            .body(Body::Empty)
            .unwrap()
            .with_query_string_parameters(std::collections::HashMap::from([
                ("code".to_owned(), "c1".to_owned()),
                ("state".to_owned(), attempt.state.clone()),
            ]));
        dashboard.finish_sign_in(&flow, &request).await
    }

    fn session_set(response: &Response<Body>) -> bool {
        let prefix = format!("{}=", crate::dashboard::session::SESSION_COOKIE);
        response.headers().get_all("set-cookie").iter().any(|c| {
            let c = c.to_str().unwrap();
            c.starts_with(&prefix) && !c.contains("Max-Age=0")
        })
    }

    #[tokio::test]
    async fn only_a_token_with_the_attempts_nonce_signs_in() {
        let signed_in = callback_with(Some(None)).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        assert!(session_set(&signed_in), "{:?}", signed_in.headers());
        for nonce in [Some(Some("another attempt's")), None] {
            let refused = callback_with(nonce).await;
            assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{nonce:?}");
            assert!(!session_set(&refused), "{nonce:?}: {:?}", refused.headers());
            let Body::Text(page) = refused.body() else { panic!("an HTML page") };
            assert!(page.contains("not for this sign-in"), "{page}");
        }
    }
}
