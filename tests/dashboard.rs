//! The dashboard in a real browser (issue 13): headless Chromium, driven over WebDriver
//! (tests/common/browser.rs), against the api function under `cargo lambda watch` with moto
//! (tests/common/dashboard.rs), its operator in moto's Cognito. Screenshots of each page go to
//! `target/dashboard-screenshots/` (see `common::browser::screenshots_dir`).

mod common;

use common::browser::{screenshots_dir, Browser, DESKTOP, PHONE};
use common::dashboard::{claims, get, Dashboard, SignIn};
use common::*;
use std::time::Duration;

/// The size of a PNG file's image, read from its IHDR chunk; a panic when it is not a PNG.
fn png_size(path: &std::path::Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", path.display());
    assert_eq!(&bytes[12..16], b"IHDR", "{}: no IHDR chunk first", path.display());
    let number = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (number(16), number(20))
}

/// Moto's Cognito as the dashboard will use it: the app client signs the operator in with a
/// password and no secret, its ID token names the pool's issuer and the client, and the pool's
/// OpenID configuration and keys are served by moto.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_signs_the_operator_in_with_tokens_the_dashboard_can_check() {
    needs!(Moto);
    let moto = endpoint();
    let sdk = aws_at(&moto, "testing", "testing").await.sdk;
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let sign_in = SignIn::create(&cognito, &moto).await;

    let token = sign_in.id_token(&cognito, &sign_in.password).await.expect("signing in with the password");
    let id = claims(&token);
    assert_eq!(id["iss"], sign_in.issuer.as_str(), "{id}");
    assert_eq!(sign_in.issuer, format!("https://cognito-idp.us-east-1.amazonaws.com/{}", sign_in.user_pool));
    assert_eq!(id["aud"], sign_in.client_id.as_str(), "{id}");
    assert_eq!((id["token_use"].as_str(), id["cognito:username"].as_str()), (Some("id"), Some("operator")), "{id}");
    assert!(id["exp"].as_i64() > id["iat"].as_i64(), "{id}");

    let wrong = sign_in.id_token(&cognito, "not-the-password").await.expect_err("a wrong password is refused");
    assert!(
        matches!(wrong, aws_sdk_cognitoidentityprovider::Error::NotAuthorizedException(_)),
        "a wrong password: {wrong:?}"
    );

    let discovery = get(&sign_in.discovery_url, Duration::from_secs(10)).expect("the OpenID configuration");
    assert_eq!(discovery.status, 200, "{discovery:?}");
    let discovery: serde_json::Value = serde_json::from_str(&discovery.body).unwrap();
    assert_eq!(discovery["issuer"], sign_in.issuer.as_str(), "{discovery}");
    let jwks_uri = discovery["jwks_uri"].as_str().expect("a jwks_uri");
    assert_eq!(jwks_uri, format!("{moto}/{}/.well-known/jwks.json", sign_in.user_pool), "moto's own address");
    let jwks = get(jwks_uri, Duration::from_secs(10)).expect("the pool's keys");
    let jwks: serde_json::Value = serde_json::from_str(&jwks.body).unwrap();
    let header = claims(&format!("x.{}", token.split('.').next().unwrap()));
    assert!(
        jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == header["kid"] && k["alg"] == "RS256"),
        "the token's key ({header}) is among the pool's: {jwks}"
    );
}

/// The harness end to end, on what the api function serves today: a browser reaches the function
/// under cargo lambda watch at `{base}/...`, the function sees the route without the prefix, reads
/// the test's tables, and the browser's screenshots land as PNG files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_reaches_the_api_function_under_cargo_lambda_watch() {
    needs!(Moto);
    needs!(CargoLambda);
    needs!(Browser);
    let dashboard = Dashboard::start().await;
    let connection = dashboard.world.connection(Some("in")).await;
    let browser = Browser::start().await;

    // An unknown route: the function's 404, naming the path it saw (without /lambda-url/api).
    browser.open(&dashboard.url("/no-such-page")).await;
    assert_eq!(browser.status().await, 404, "{}", browser.describe().await);
    let text = browser.page_text().await;
    let error: serde_json::Value =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not the API's JSON ({e})\n{text}"));
    assert_eq!(error["error"]["message"], "no route GET /no-such-page", "{error}");

    // The JSON API's list, from the test's own tables.
    browser.open(&dashboard.url("/connections")).await;
    assert_eq!(browser.status().await, 200, "{}", browser.describe().await);
    assert_eq!(browser.url().await, dashboard.url("/connections"));
    let text = browser.page_text().await;
    let list: serde_json::Value =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not the API's JSON ({e})\n{text}"));
    assert_eq!(list["connections"][0]["id"], connection.id.as_str(), "{list}");
    assert_eq!(list["connections"].as_array().map(Vec::len), Some(1), "{list}");

    // A screenshot is the viewport, as wide as the window; at phone width, as wide as a phone.
    let viewport = browser.viewport().await;
    assert_eq!(viewport.0, DESKTOP.0);
    let desktop = browser.screenshot("api-connections").await;
    assert_eq!(desktop.parent(), Some(screenshots_dir().as_path()));
    assert_eq!(png_size(&desktop), viewport, "{}", desktop.display());
    let phone = browser.phone_screenshot("api-connections-phone").await;
    assert_eq!(png_size(&phone).0, PHONE.0, "{}", phone.display());
    assert_eq!(browser.viewport().await, viewport, "the window is back to its size");
}

// dashboard pages: sign-in (issue 13) — `{base}/dashboard/sign-in`, `form#sign-in` with
// `#username`, `#password`, `button[type=submit]`; the right password: 303 to
// `{base}/dashboard/connections`, `<h1>Connections</h1>` (`Dashboard::sign_in` does this);
// a wrong one: 401 with a `[role=alert]` message.

// dashboard pages: refused without a token — a page requested without signing in: 303 to the
// sign-in page.

// dashboard pages: connections, one connection, the set-up wizard, templates, the customer's
// set-up link (and an altered one refused) — each with `browser.screenshot(..)`, and one
// `browser.phone_screenshot(..)`.
