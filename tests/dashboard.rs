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

/// How long a page that waits on a run (the first import, a sync) is reloaded before the test
/// gives up: the worker runs under the same cargo lambda watch, already built.
const RUN_WAIT: Duration = Duration::from_secs(120);

/// Reloads `url` until its text contains `needle` (a run shown on the page); the page's text.
async fn reload_until(browser: &Browser, url: &str, needle: &str) -> String {
    let deadline = std::time::Instant::now() + RUN_WAIT;
    loop {
        browser.open(url).await;
        let text = browser.page_text().await;
        if text.contains(needle) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no `{needle}` on {url} after {RUN_WAIT:?}\n{}",
            browser.describe().await
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// An operator's whole path in a real browser: refused without signing in, a wrong password, the
/// sign-in; the wizard, where a bad field shows its message and creates nothing, to an active
/// connection whose first import shows its row error; pause, resume and sync now; the templates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_and_sets_up_a_connection_in_the_wizard() {
    needs!(Moto);
    needs!(CargoLambda);
    needs!(Browser);
    let dashboard = Dashboard::start().await;
    let world = &dashboard.world;
    world.put("in/a.csv", "id,amount\na1,1\na2,x\n").await;
    let browser = Browser::start().await;

    // Without a session, a page sends the browser to the sign-in page.
    browser.open(&dashboard.url("/dashboard/connections")).await;
    assert_eq!(browser.url().await, dashboard.url("/dashboard/sign-in"), "{}", browser.describe().await);
    assert_eq!(browser.text("h1").await, "Sign in");
    browser.screenshot("sign-in").await;
    browser.fill("username", &dashboard.sign_in.username).await;
    browser.fill("password", "not-the-password").await;
    browser.navigate_by("#sign-in button[type=submit]").await;
    assert_eq!(browser.status().await, 401);
    assert!(browser.text("[role=alert]").await.contains("user name or password is wrong"));
    browser.screenshot("sign-in-refused").await;
    dashboard.sign_in(&browser).await;
    browser.screenshot("connections-empty").await;

    // The wizard: name and template, the role, the bucket.
    browser.navigate_by("a[href$='/dashboard/new']").await;
    browser.fill("name", "Acme payouts").await;
    browser.fill("tenant", "acme").await;
    browser.navigate_by("main form button[type=submit]").await;
    assert_eq!(browser.text("h1").await, "New connection: the role", "{}", browser.describe().await);
    let role = browser.text("#role-name").await;
    assert!(role.starts_with("s3-connector-"), "{role}");
    assert!(browser.text("#trust-policy").await.contains(&browser.text("#external-id").await));
    browser.screenshot("wizard-role").await;
    browser.navigate_by("main form button[type=submit]").await;
    assert_eq!(browser.text("h1").await, "New connection: the bucket");
    browser.fill("account_id", ACCOUNT).await;
    browser.fill("bucket", "Not_A_Bucket").await;
    browser.fill("region", "us-east-1").await;
    browser.fill("folder", "in").await;
    browser.navigate_by("main form.stack button[type=submit]").await;
    assert_eq!(browser.status().await, 400);
    assert!(browser.text("#bucket-error").await.contains("not a valid S3 bucket name"), "{}", browser.describe().await);
    browser.screenshot("wizard-bad-bucket").await;
    assert!(world.connector.in_process().connections(None).await.unwrap().is_empty(), "a bad field creates nothing");
    browser.fill("bucket", &world.bucket).await;
    browser.navigate_by("main form.stack button[type=submit]").await;
    assert_eq!(browser.text("h1").await, "New connection: the role's permissions", "{}", browser.describe().await);
    assert!(browser.text("#permission-policy").await.contains(&format!("arn:aws:s3:::{}/in/*", world.bucket)));
    browser.screenshot("wizard-permissions").await;
    let created = world.connector.in_process().connections(None).await.unwrap();
    assert_eq!(created.len(), 1);
    let id = created[0].id.clone();
    assert_eq!(created[0].role_name, role, "the role shown before the bucket is the connection's");

    // The preview: the file, a sample row, the row the template rejects; Done activates.
    browser.navigate_by("a.button[href$='/preview']").await;
    let text = browser.page_text().await;
    assert!(text.contains("Access works") && text.contains("in/a.csv") && text.contains("a1"), "{text}");
    assert!(text.contains("line 3, column amount"), "{text}");
    browser.screenshot("wizard-preview").await;
    browser.navigate_by("form[action$='/activate'] button").await;
    assert_eq!(browser.url().await, dashboard.url(&format!("/dashboard/connections/{id}?done=activated")));

    // The first import ran in the worker: its run and the file's row error, on the page.
    let page = dashboard.url(&format!("/dashboard/connections/{id}"));
    let text = reload_until(&browser, &page, "line 3, column amount").await;
    assert!(text.contains("partial"), "{text}");
    browser.screenshot("connection").await;
    browser.phone_screenshot("connection-phone").await;

    // Pause, resume, sync now.
    browser.navigate_by("form[action$='/pause'] button").await;
    assert!(browser.text("[role=status]").await.starts_with("Paused"), "{}", browser.describe().await);
    assert_eq!(world.connector.in_process().connection(&id).await.unwrap().status.as_str(), "paused");
    browser.navigate_by("form[action$='/resume'] button").await;
    assert_eq!(world.connector.in_process().connection(&id).await.unwrap().status.as_str(), "active");
    let runs = world.connector.in_process().runs(&id, 10).await.unwrap().len();
    world.put("in/b.csv", "id,amount\nb1,2\n").await;
    browser.navigate_by("form[action$='/sync'] button").await;
    assert!(browser.text("[role=status]").await.contains("sync started"), "{}", browser.describe().await);
    reload_until(&browser, &page, "in/b.csv").await;
    assert_eq!(world.connector.in_process().runs(&id, 10).await.unwrap().len(), runs + 1, "one more run");

    // The list, and the templates.
    browser.open(&dashboard.url("/dashboard/connections")).await;
    assert!(browser.page_text().await.contains("Acme payouts"));
    browser.screenshot("connections").await;
    browser.phone_screenshot("connections-phone").await;
    browser.open(&dashboard.url("/dashboard/templates/payments")).await;
    assert!(browser.page_text().await.contains("payment_id"));
    browser.fill("document", "{\"id\": \"payments\"}").await;
    browser.navigate_by("main form.stack button[type=submit]").await;
    assert_eq!(browser.status().await, 400);
    assert!(browser.text("#document-errors").await.contains("record_type"), "{}", browser.describe().await);
    browser.screenshot("template-errors").await;
}

/// The customer's page in a browser with no session: the link an operator made opens the one
/// connection and checks access; the same link altered is refused with a page that says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_link_checks_access_and_an_altered_one_is_refused() {
    needs!(Moto);
    needs!(CargoLambda);
    needs!(Browser);
    let dashboard = Dashboard::start().await;
    let world = &dashboard.world;
    world.put("in/a.csv", "id,amount\na1,1\n").await;
    let connection = world.connection(Some("in")).await;
    let operator = Browser::start().await;
    dashboard.sign_in(&operator).await;
    operator.open(&dashboard.url(&format!("/dashboard/connections/{}", connection.id))).await;
    operator.navigate_by("form[action$='/link'] button").await;
    let link = operator.text("#setup-link").await;
    assert!(link.starts_with(&dashboard.url(&format!("/setup/{}?expires=", connection.id))), "{link}");
    operator.screenshot("setup-link").await;

    let customer = Browser::start().await;
    customer.open(&link).await;
    assert_eq!(customer.status().await, 200, "{}", customer.describe().await);
    let text = customer.page_text().await;
    assert!(text.contains(&connection.role_name) && text.contains(&connection.external_id), "{text}");
    let quick_create = customer.wait_for("a[href^='https://console.aws.amazon.com/cloudformation/']").await;
    let href = quick_create.attr("href").await.unwrap().unwrap();
    assert!(href.contains(&format!("param_ExternalId={}", connection.external_id)), "{href}");
    customer.screenshot("customer-setup").await;
    customer.navigate_by("form[action$='/check'] button").await;
    let text = customer.page_text().await;
    assert!(text.contains("Access works") && text.contains("in/a.csv") && text.contains("a1"), "{text}");
    customer.screenshot("customer-check-access").await;
    customer.phone_screenshot("customer-check-access-phone").await;

    let altered = link.replace("expires=", "expires=1");
    customer.open(&altered).await;
    assert_eq!(customer.status().await, 403);
    assert!(customer.text("[role=alert]").await.contains("not valid"));
    assert!(!customer.page_text().await.contains(&connection.external_id));
    customer.screenshot("customer-link-refused").await;
}

/// The platform leaves the bucket and folder open; the operator's page says so and makes a link;
/// the customer's page asks for those two only, names a bad bucket beside its field, saves a good
/// one (the permission policy then shows it), and checks access.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_fills_the_open_bucket_then_checks_access() {
    needs!(Moto);
    needs!(CargoLambda);
    needs!(Browser);
    let dashboard = Dashboard::start().await;
    let world = &dashboard.world;
    world.put("in/a.csv", "id,amount\na1,1\n").await;
    let connection = world.connection_with_open_bucket_and_folder().await;
    let operator = Browser::start().await;
    dashboard.sign_in(&operator).await;
    operator.open(&dashboard.url(&format!("/dashboard/connections/{}", connection.id))).await;
    assert_eq!(operator.page_text().await.matches("open: the customer fills it").count(), 2, "bucket and folder");
    operator.navigate_by("form[action$='/link'] button").await;
    let link = operator.text("#setup-link").await;

    let customer = Browser::start().await;
    customer.open(&link).await;
    assert_eq!(customer.status().await, 200, "{}", customer.describe().await);
    assert!(customer.page_text().await.contains("appears here once you save where your files are"));
    customer.fill("bucket", "Not_A_Bucket").await;
    customer.fill("folder", "in").await;
    customer.navigate_by("form[action$='/location'] button").await;
    assert_eq!(customer.status().await, 400);
    assert!(customer.text("#bucket-error").await.contains("is not a valid S3 bucket name"));
    customer.screenshot("customer-open-bad-bucket").await;
    customer.fill("bucket", &world.bucket).await;
    customer.navigate_by("form[action$='/location'] button").await;
    assert_eq!(customer.status().await, 200, "{}", customer.describe().await);
    let policy = customer.text("#permission-policy").await;
    assert!(policy.contains(&format!("arn:aws:s3:::{}/in/*", world.bucket)), "{policy}");
    customer.navigate_by("form[action$='/check'] button").await;
    let text = customer.page_text().await;
    assert!(text.contains("Access works") && text.contains("in/a.csv") && text.contains("a1"), "{text}");
    customer.screenshot("customer-open-filled-checked").await;
}
