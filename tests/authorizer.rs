//! The dashboard's API Gateway authorizer (crates/authorizer) against real tokens: a moto user pool
//! signs the operator in, and the handler gets events/authorizer/dashboard-page.json, the request
//! API Gateway sends before a dashboard page, carrying that token in its session cookie. Only an ID
//! token of the pool's dashboard client, unaltered, lets the request through.

mod common;

use authorizer::{authorize, Request, Response, SESSION_COOKIE};
use common::cognito::{pool, Pool, USER};
use common::*;
use connector_aws::identity::TokenCheck;
use serde_json::{json, Value};

const SAMPLE: &str = include_str!("../events/authorizer/dashboard-page.json");

/// The session token the sample request carries (a placeholder, signed by no one).
fn sample_token() -> String {
    let event: Value = serde_json::from_str(SAMPLE).unwrap();
    let cookie = event["cookies"].as_array().unwrap().iter().filter_map(Value::as_str);
    let prefix = format!("{SESSION_COOKIE}=");
    cookie.filter_map(|c| c.strip_prefix(&prefix)).next().expect("the sample has a session cookie").to_owned()
}

/// The sample request with `token` as its session (None: without the session cookie), wherever API
/// Gateway puts the cookies: the `cookies` list, and the identity source (the Cookie header).
fn request_with(token: Option<&str>) -> Request {
    let replaced = match token {
        Some(token) => SAMPLE.replace(&sample_token(), token),
        None => SAMPLE.replace(&format!("{SESSION_COOKIE}={}", sample_token()), "other=1"),
    };
    serde_json::from_str(&replaced).unwrap()
}

struct Gate {
    pool: Pool,
    tokens: TokenCheck,
}

impl Gate {
    async fn new() -> Gate {
        let aws = aws_at(&endpoint(), "testing", "testing").await;
        let pool = pool(&aws).await;
        let tokens = pool.token_check().await;
        Gate { pool, tokens }
    }

    async fn answer(&self, token: Option<&str>) -> Response {
        authorize(&self.tokens, &request_with(token)).await
    }
}

#[test]
fn the_sample_is_a_payload_2_request_with_the_session_among_its_cookies() {
    let request: Request = serde_json::from_str(SAMPLE).unwrap();
    assert_eq!(request.version.as_deref(), Some("2.0"));
    assert_eq!(request.type_.as_deref(), Some("REQUEST"));
    // The identity source is the Cookie header (template.yaml's DashboardApi), with the session.
    let identity = request.identity_source.as_deref().unwrap();
    assert_eq!(identity.len(), 1);
    assert!(identity[0].contains(&format!("{SESSION_COOKIE}={}", sample_token())), "{identity:?}");
    assert_eq!(authorizer::session_token(&request), Some(sample_token().as_str()));
    assert!(request.cookies.len() > 1, "a session among other cookies");
    // The cookie the dashboard sets is the one the authorizer reads.
    assert_eq!(SESSION_COOKIE, api::dashboard::session::SESSION_COOKIE);
}

#[tokio::test]
async fn the_operators_id_token_is_authorized_with_their_name_and_nothing_else() {
    needs!(Moto);
    let gate = Gate::new().await;
    let tokens = gate.pool.sign_in(&gate.pool.client_id).await;
    let id_token = tokens.id_token().unwrap();

    let answer = gate.answer(Some(id_token)).await;
    assert!(answer.is_authorized);
    assert_eq!(answer.context, json!({ "operator": USER }));
    // The same token in a Cookie header (no `cookies` list) is read too.
    let mut request = request_with(Some(id_token));
    request.cookies.clear();
    request.headers.insert("cookie", format!("theme=dark; {SESSION_COOKIE}={id_token}").parse().unwrap());
    assert!(authorize(&gate.tokens, &request).await.is_authorized);
    // What API Gateway reads back: isAuthorized and the context, in its own spelling.
    assert_eq!(
        serde_json::to_value(&answer).unwrap(),
        json!({ "isAuthorized": true, "context": { "operator": USER } })
    );

    // The sample's own token (a well-formed JWT signed by no one) is refused.
    let sample = authorize(&gate.tokens, &serde_json::from_str(SAMPLE).unwrap()).await;
    assert!(!sample.is_authorized);
}

#[tokio::test]
async fn no_cookie_an_altered_token_an_access_token_another_clients_or_pools_token_are_refused() {
    needs!(Moto);
    let gate = Gate::new().await;
    let tokens = gate.pool.sign_in(&gate.pool.client_id).await;
    let id_token = tokens.id_token().unwrap().to_owned();
    assert!(gate.answer(Some(&id_token)).await.is_authorized, "the unaltered token passes");

    // The claims changed (another user name), the signature kept.
    let [header, claims, signature] = id_token.split('.').collect::<Vec<_>>()[..] else { panic!("{id_token}") };
    let altered_claims = {
        use base64::engine::{general_purpose::URL_SAFE_NO_PAD, Engine};
        let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        claims["cognito:username"] = json!("admin");
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
    };
    let altered = format!("{header}.{altered_claims}.{signature}");
    // The signature changed in its last character but one.
    let mut forged = id_token.clone().into_bytes();
    let at = forged.len() - 2;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();

    // An ID token of another app client of the same pool: signed by the same keys, for another audience.
    let other_client = gate.pool.client("other").await;
    let other_clients = gate.pool.sign_in(&other_client).await.id_token.unwrap();
    // An ID token of another pool (moto signs every pool's tokens with one key: only the issuer differs).
    let aws = aws_at(&endpoint(), "testing", "testing").await;
    let other_pool = pool(&aws).await;
    let other_pools = other_pool.sign_in(&other_pool.client_id).await.id_token.unwrap();

    let cases = [
        ("no session cookie", None),
        ("an empty session cookie", Some("")),
        ("not a token", Some("operator")),
        ("altered claims", Some(altered.as_str())),
        ("an altered signature", Some(forged.as_str())),
        ("the access token (token_use access, no audience)", tokens.access_token()),
        ("the refresh token", tokens.refresh_token()),
        ("an ID token of another client", Some(other_clients.as_str())),
        ("an ID token of another pool", Some(other_pools.as_str())),
    ];
    for (case, token) in cases {
        let answer = gate.answer(token).await;
        assert!(!answer.is_authorized, "{case} was authorized");
        assert_eq!(answer.context, json!({}), "{case}: no operator");
    }
}
