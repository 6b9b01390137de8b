//! The dashboard's sign-in at a platform's own OpenID Connect issuer, in a real browser: headless
//! Chromium (tests/common/browser.rs), the api function under `cargo lambda watch` with moto
//! (tests/common/dashboard.rs), and oidc-provider-mock as the issuer (tests/common/oidc.rs), a real
//! OIDC provider that checks PKCE and nonces. Screenshots go where tests/dashboard.rs's go.

mod common;

use common::browser::Browser;
use common::dashboard::{get, request, Dashboard};
use common::oidc::OidcProvider;
use common::*;
use std::time::Duration;

/// The query parameters of a URL.
fn query(url: &str) -> std::collections::HashMap<String, String> {
    serde_urlencoded::from_str(url.split_once('?').map_or("", |(_, q)| q)).unwrap()
}

/// An operator with no session lands on the sign-in page, which offers only the issuer's button;
/// the button leads to the provider's form (a code request with PKCE, state and nonce), and
/// authorizing there brings them back signed in to the connections list. Denying at the provider,
/// and a callback whose state was altered, are refused with a page that says why. After signing
/// out, the old session cookie replayed is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_at_the_platforms_issuer() {
    needs!(Moto);
    needs!(CargoLambda);
    needs!(Browser);
    needs!(OidcProvider);
    let provider = OidcProvider::start();
    let issuer = provider.issuer.clone();
    let host = issuer.trim_start_matches("http://").to_owned();
    let dashboard = Dashboard::start_with_oidc(provider).await;
    let browser = Browser::start().await;

    // No session: the sign-in page, with the issuer's button instead of the password form.
    browser.open(&dashboard.url("/dashboard/connections")).await;
    assert_eq!(browser.url().await, dashboard.url("/dashboard/sign-in"), "{}", browser.describe().await);
    assert_eq!(browser.text("#sign-in-with").await, format!("Sign in with {host}"));
    let text = browser.page_text().await;
    assert!(!text.contains("Password") && !text.contains("User name"), "no password form: {text}");
    browser.screenshot("sign-in-oidc").await;

    // The button: the provider's authorization form, asked for a code with every parameter.
    browser.navigate_by("#sign-in-with").await;
    let at_provider = browser.url().await;
    assert!(at_provider.starts_with(&format!("{issuer}/oauth2/authorize?")), "{at_provider}");
    let asked = query(&at_provider);
    assert_eq!(asked["response_type"], "code", "{at_provider}");
    assert_eq!(asked["client_id"], common::dashboard::OIDC_CLIENT_ID);
    assert_eq!(asked["redirect_uri"], dashboard.url("/dashboard/sign-in/callback"));
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["code_challenge"].len(), 43, "base64url of a SHA-256");
    assert!(asked["scope"].split(' ').any(|s| s == "openid"), "{at_provider}");
    assert!(!asked["state"].is_empty() && !asked["nonce"].is_empty() && asked["state"] != asked["nonce"]);
    browser.screenshot("sign-in-oidc-provider").await;
    let subject = browser.wait_for("input[name=sub]").await;
    subject.send_keys("alice@example.com").await.unwrap();
    browser.navigate_by("form button[type=submit]:not([value=deny])").await;
    assert_eq!(browser.url().await, dashboard.url("/dashboard/connections"), "{}", browser.describe().await);
    assert_eq!(browser.text("h1").await, "Connections");
    assert!(browser.text(".who").await.contains("alice@example.com"), "{}", browser.describe().await);
    browser.screenshot("connections-after-oidc").await;
    let session = browser.client.get_named_cookie("s3c_session").await.expect("a session cookie");
    assert!(browser.client.get_named_cookie("s3c_oidc").await.is_err(), "the attempt's cookie is cleared once used");

    // Sign out: the old cookie, replayed, is refused (to the sign-in page), though its token has
    // not expired.
    let cookie = format!("s3c_session={}", session.value());
    let page = dashboard.url("/dashboard/connections");
    let before = request("GET", &page, &[("cookie", &cookie)], "", Duration::from_secs(30)).unwrap();
    assert_eq!(before.status, 200, "the cookie works before signing out: {before:?}");
    browser.navigate_by(".who form button[type=submit]").await;
    assert_eq!(browser.url().await, dashboard.url("/dashboard/sign-in"));
    let after = request("GET", &page, &[("cookie", &cookie)], "", Duration::from_secs(30)).unwrap();
    assert_eq!(after.status, 303, "{after:?}");
    assert!(after.all("location").first().is_some_and(|l| l.ends_with("/dashboard/sign-in")), "{after:?}");

    // Denied at the provider: its error, on the sign-in page.
    browser.navigate_by("#sign-in-with").await;
    browser.navigate_by("button[value=deny]").await;
    assert!(browser.url().await.starts_with(&dashboard.url("/dashboard/sign-in/callback?")));
    assert_eq!(browser.status().await, 401);
    let alert = browser.text("[role=alert]").await;
    assert!(alert.contains("access_denied"), "{alert}");
    assert!(browser.wait_for("#sign-in-with").await.is_displayed().await.unwrap(), "the button to try again");
    browser.screenshot("sign-in-oidc-denied").await;

    // A callback with an altered state: the provider answers the browser's attempt (authorized
    // outside the browser, same request), and the browser arrives with another state.
    browser.navigate_by("#sign-in-with").await;
    let authorize = browser.url().await;
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let answer = request("POST", &authorize, &form, "sub=mallory", Duration::from_secs(30)).unwrap();
    let callback = answer.all("location").first().copied().unwrap_or_else(|| panic!("{answer:?}")).to_owned();
    let state = query(&callback)["state"].clone();
    assert_eq!(state, query(&authorize)["state"]);
    browser.open(&callback.replace(&format!("state={state}"), "state=altered")).await;
    assert_eq!(browser.status().await, 403, "{}", browser.describe().await);
    let alert = browser.text("[role=alert]").await;
    assert!(alert.contains("state does not match"), "{alert}");
    assert!(browser.client.get_named_cookie("s3c_session").await.is_err(), "not signed in");
    browser.screenshot("sign-in-oidc-state-refused").await;

    // The same code with its own state, in a browser that never started the attempt: refused too.
    let stranger = get(&callback, Duration::from_secs(30)).unwrap();
    assert_eq!(stranger.status, 403, "{stranger:?}");
    assert!(stranger.body.contains("no sign-in was started in this browser"), "{}", stranger.body);

    // An issuer's error in a link from elsewhere: its standard code only, never its text.
    let phishing = "error=access_denied&error_description=Re-verify+at+https%3A%2F%2Fevil.example&state=forged";
    let answer = get(&format!("{}?{phishing}", dashboard.url("/dashboard/sign-in/callback")), Duration::from_secs(30));
    let answer = answer.unwrap();
    assert_eq!(answer.status, 401, "{answer:?}");
    assert!(answer.body.contains("said no: access_denied"), "{}", answer.body);
    assert!(!answer.body.contains("evil.example") && !answer.body.contains("Re-verify"), "{}", answer.body);
    assert!(answer.all("set-cookie").iter().all(|c| !c.starts_with("s3c_oidc=")), "no attempt of this browser ended");
}
