//! The operator dashboard in-process, against moto: real Cognito sign-in and tokens (moto signs
//! them and serves the pool's keys), the real management service, requests as API Gateway would
//! pass them. What a browser adds (cookies kept, redirects followed, scripts) is tests/dashboard.rs's.

mod common;

use api::dashboard::session::Sessions;
use api::dashboard::{Dashboard, SignInMethod};
use api::{handle, Api};
use chrono::TimeDelta;
use common::*;
use connector_aws::identity::{CognitoSignIn, IssuerKeys, TokenCheck};
use std::collections::HashMap;

/// A moto user pool with a dashboard client and one operator (tests/common/dashboard.rs).
type Pool = common::dashboard::SignIn;

use common::dashboard::USER;

/// The deployment's object event bus (template.yaml's ObjectEventBus).
const OBJECT_EVENT_BUS: &str = "arn:aws:events:us-east-1:123456789012:event-bus/s3c-object-events";

async fn pool(world: &World) -> Pool {
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&world.aws.sdk);
    let pool = common::dashboard::SignIn::create(&cognito, &endpoint()).await;
    assert_eq!(pool.username, USER);
    pool
}

async fn dashboard(world: &World, pool: &Pool) -> Dashboard {
    let source = Box::new(IssuerKeys { discovery_url: pool.discovery_url.clone(), issuer: pool.issuer.clone() });
    let tokens = TokenCheck::from_source(&pool.issuer, &pool.client_id, source).await;
    Dashboard {
        sessions: Sessions::new(tokens, vec![42; 32], Box::new(world.connector.state.clone())),
        sign_in: SignInMethod::Password(Box::new(CognitoSignIn::new(&world.aws, &pool.client_id))),
        base: String::new(),
        secure_cookies: true,
        role_template_url: Some("https://example-bucket.s3.amazonaws.com/customer-role.yaml".into()),
        object_event_bus: Some(OBJECT_EVENT_BUS.into()),
        list_page: 2,
    }
}

/// A browser's worth of state: its cookies.
#[derive(Default)]
struct Client {
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    html: String,
}

impl Page {
    /// The value of the form field `name` (a hidden input), as the page rendered it.
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start =
            self.html.find(&marker).unwrap_or_else(|| panic!("no field {name} in {}", self.html)) + marker.len();
        self.html[start..].split('"').next().unwrap().replace("&amp;", "&")
    }
}

impl Client {
    async fn send(&mut self, api: &Api<'_>, method: &str, path: &str, form: &[(&str, &str)]) -> Page {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let body = serde_urlencoded::to_string(form).unwrap();
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let request = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!(
                "https://dashboard.example{path}{}",
                if query.is_empty() { String::new() } else { format!("?{query}") }
            ))
            .header("host", "dashboard.example")
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(lambda_http::Body::Text(body))
            .unwrap();
        let mut request: lambda_http::Request = request;
        if !query.is_empty() {
            use lambda_http::RequestExt;
            let pairs: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap();
            request = request.with_query_string_parameters(pairs);
        }
        let response = handle(api, request).await;
        for cookie in response.headers().get_all("set-cookie") {
            let (pair, attributes) = cookie.to_str().unwrap().split_once(';').unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: response.status().as_u16(),
            location: response.headers().get("location").map(|l| l.to_str().unwrap().to_owned()),
            html: String::from_utf8_lossy(response.body().as_ref()).into_owned(),
        }
    }

    async fn get(&mut self, api: &Api<'_>, path: &str) -> Page {
        self.send(api, "GET", path, &[]).await
    }

    async fn post(&mut self, api: &Api<'_>, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(api, "POST", path, form).await
    }

    async fn sign_in(&mut self, api: &Api<'_>, password: &str) -> Page {
        let form = self.get(api, "/dashboard/sign-in").await.field("form");
        self.post(api, "/dashboard/sign-in", &[("form", &form), ("username", USER), ("password", password)]).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_or_action_without_a_valid_session() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let pool = pool(&world).await;
    let api = Api { service: world.connector.in_process(), dashboard: Some(dashboard(&world, &pool).await) };
    let connection = world.connection(None).await;
    let mut browser = Client::default();

    for path in [
        "/dashboard/connections",
        &format!("/dashboard/connections/{}", connection.id),
        "/dashboard/new",
        "/dashboard/templates",
    ] {
        let page = browser.get(&api, path).await;
        assert_eq!((page.status, page.location.as_deref()), (303, Some("/dashboard/sign-in")), "{path}");
    }
    let page = browser.post(&api, &format!("/dashboard/connections/{}/pause", connection.id), &[]).await;
    assert_eq!(page.status, 401, "an action without a session");
    assert_eq!(world.connector.in_process().connection(&connection.id).await.unwrap().status, connection.status);

    // A wrong password, then a sign-in form posted without the cookie its page set.
    let page = browser.sign_in(&api, "wrong-password").await;
    assert_eq!(page.status, 401);
    assert!(
        page.html.contains("role=\"alert\"") && page.html.contains("user name or password is wrong"),
        "{}",
        page.html
    );
    assert!(!browser.cookies.contains_key("s3c_session"));
    let form = browser.get(&api, "/dashboard/sign-in").await.field("form");
    let mut stranger = Client::default();
    let page = stranger
        .post(&api, "/dashboard/sign-in", &[("form", &form), ("username", USER), ("password", &pool.password)])
        .await;
    assert_eq!(page.status, 403, "login CSRF: the form is bound to its browser's cookie");

    let page = browser.sign_in(&api, &pool.password).await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/dashboard/connections")), "{}", page.html);
    let page = browser.get(&api, "/dashboard/connections").await;
    assert_eq!(page.status, 200);
    assert!(page.html.contains(&connection.name) && page.html.contains("Signed in as"), "{}", page.html);

    // The token altered (its payload's last character): refused.
    let token = browser.cookies["s3c_session"].clone();
    let (head, signature) = token.rsplit_once('.').unwrap();
    let mut altered = head.to_owned();
    let last = altered.pop().unwrap();
    altered.push(if last == 'A' { 'B' } else { 'A' });
    let mut forger = Client::default();
    forger.cookies.insert("s3c_session".into(), format!("{altered}.{signature}"));
    assert_eq!(forger.get(&api, "/dashboard/connections").await.status, 303);

    // A form without the session's CSRF token, or with another session's: refused, nothing done.
    let page = browser.post(&api, &format!("/dashboard/connections/{}/pause", connection.id), &[]).await;
    assert_eq!(page.status, 403, "{}", page.html);
    let page = browser
        .post(
            &api,
            &format!("/dashboard/connections/{}/pause", connection.id),
            &[("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")],
        )
        .await;
    assert_eq!(page.status, 403);
    assert_eq!(world.connector.in_process().connection(&connection.id).await.unwrap().status, connection.status);

    // Signing out ends the session in this browser, and on the server: the same cookie, kept by
    // another client before sign-out, is refused afterwards though its token has not expired.
    let mut copy = Client::default();
    copy.cookies.insert("s3c_session".into(), browser.cookies["s3c_session"].clone());
    assert_eq!(copy.get(&api, "/dashboard/connections").await.status, 200, "the copy works before sign-out");
    let csrf = browser.get(&api, "/dashboard/connections").await.field("csrf");
    let page = browser.post(&api, "/dashboard/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(page.location.as_deref(), Some("/dashboard/sign-in"));
    assert_eq!(browser.get(&api, "/dashboard/connections").await.status, 303);
    let page = copy.get(&api, "/dashboard/connections").await;
    assert_eq!((page.status, page.location.as_deref()), (303, Some("/dashboard/sign-in")), "the copy after sign-out");
    let page = copy.post(&api, &format!("/dashboard/connections/{}/pause", connection.id), &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 401, "an action with the copy after sign-out");
    // A new sign-in is a new session, unaffected.
    let page = browser.sign_in(&api, &pool.password).await;
    assert_eq!(page.location.as_deref(), Some("/dashboard/connections"), "{}", page.html);
    assert_eq!(browser.get(&api, "/dashboard/connections").await.status, 200);
}

/// The state table as the sign-outs' store (one item per session, TTL `expires_at`): a session is
/// revoked until its `until`, and an entry past it (TTL not yet run) no longer counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_table_keeps_signed_out_sessions_until_their_tokens_expire() {
    use connector_core::sessions::RevokedSessions;
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let store = &world.connector.state;
    let now = chrono::Utc::now();
    assert!(!store.is_revoked("jti:a", now).await.unwrap(), "nothing revoked yet");
    store.revoke("jti:a", now + TimeDelta::hours(1)).await.unwrap();
    store.revoke("sha256:b", now - TimeDelta::seconds(1)).await.unwrap();
    assert!(store.is_revoked("jti:a", now).await.unwrap());
    assert!(!store.is_revoked("jti:a", now + TimeDelta::hours(2)).await.unwrap(), "past its until");
    assert!(!store.is_revoked("sha256:b", now).await.unwrap(), "its token has expired: the token check refuses it");
    assert!(!store.is_revoked("jti:other", now).await.unwrap());
    // The item as the table's TTL reads it: expires_at in seconds.
    let item = store
        .client
        .get_item()
        .table_name(&store.table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("SESSION#jti:a".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("REVOKED".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the revoked session's item");
    let expires_at = item["expires_at"].as_n().unwrap().parse::<i64>().unwrap();
    assert_eq!(expires_at, (now + TimeDelta::hours(1)).timestamp());
}

fn as_refs<'a>(form: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_creates_nothing_on_a_bad_field_then_activates_a_connection() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    world.put("in/a.csv", "id,amount\na1,1\na2,x\n").await;
    let pool = pool(&world).await;
    let api = Api { service: world.connector.in_process(), dashboard: Some(dashboard(&world, &pool).await) };
    let mut browser = Client::default();
    browser.sign_in(&api, &pool.password).await;

    let csrf = browser.get(&api, "/dashboard/new").await.field("csrf");
    let bad = [("csrf", csrf.as_str()), ("name", " "), ("tenant", "a#b"), ("template", "payments")];
    let page = browser.post(&api, "/dashboard/new/role", &bad).await;
    assert_eq!(page.status, 400);
    assert!(page.html.contains("id=\"name-error\"") && page.html.contains("id=\"tenant-error\""), "{}", page.html);
    let good = [("csrf", csrf.as_str()), ("name", "Acme payouts"), ("tenant", "acme"), ("template", "payments")];
    let page = browser.post(&api, "/dashboard/new/role", &good).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let (id, external_id, ticket) = (page.field("connection_id"), page.field("external_id"), page.field("ticket"));
    let issued = page.field("issued");
    assert!(page.html.contains(&format!("s3-connector-{id}")), "the role's name: {}", page.html);
    assert!(page.html.contains(&external_id) && page.html.contains("sts:ExternalId"), "the trust policy");
    let carried = |extra: &[(&'static str, String)]| {
        let mut form: Vec<(&str, String)> = vec![
            ("csrf", csrf.clone()),
            ("name", "Acme payouts".into()),
            ("tenant", "acme".into()),
            ("template", "payments".into()),
            ("connection_id", id.clone()),
            ("external_id", external_id.clone()),
            ("issued", issued.clone()),
            ("ticket", ticket.clone()),
        ];
        form.extend(extra.iter().cloned());
        form
    };
    let page = browser.post(&api, "/dashboard/new/bucket", &as_refs(&carried(&[]))).await;
    assert_eq!(page.status, 200, "{}", page.html);

    // A bad bucket name and account id: each message beside its field, nothing created.
    let bad =
        carried(&[("account_id", "12".into()), ("bucket", "Not_A_Bucket".into()), ("region", "us-east-1".into())]);
    let page = browser.post(&api, "/dashboard/new/create", &as_refs(&bad)).await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(
        page.html.contains("id=\"bucket-error\"") && page.html.contains("id=\"account_id-error\""),
        "{}",
        page.html
    );
    assert!(page.html.contains("aria-invalid=\"true\""));
    assert!(world.connector.in_process().connections(None).await.unwrap().is_empty(), "nothing created");

    // An altered external id: refused, nothing created.
    let mut altered =
        carried(&[("account_id", ACCOUNT.into()), ("bucket", world.bucket.clone()), ("region", "us-east-1".into())]);
    altered[5].1 = "0".repeat(64);
    let mut stale =
        carried(&[("account_id", ACCOUNT.into()), ("bucket", world.bucket.clone()), ("region", "us-east-1".into())]);
    let old = (chrono::Utc::now().timestamp() - 25 * 3600).to_string();
    stale[7].1 = api.dashboard.as_ref().unwrap().sessions.sign(&["wizard", &id, &external_id, &old]);
    stale[6].1 = old;
    let page = browser.post(&api, "/dashboard/new/create", &as_refs(&stale)).await;
    assert_eq!(page.status, 400, "a proposal signed more than a day ago is refused");
    let page = browser.post(&api, "/dashboard/new/create", &as_refs(&altered)).await;
    assert_eq!(page.status, 400);
    assert!(world.connector.in_process().connections(None).await.unwrap().is_empty(), "nothing created");

    let good = carried(&[
        ("account_id", ACCOUNT.into()),
        ("bucket", world.bucket.clone()),
        ("region", "us-east-1".into()),
        ("folder", "in".into()),
    ]);
    let page = browser.post(&api, "/dashboard/new/create", &as_refs(&good)).await;
    assert_eq!(page.location, Some(format!("/dashboard/new/{id}/permissions")), "{}", page.html);
    let created = world.connector.in_process().connection(&id).await.unwrap();
    assert_eq!((created.external_id.as_str(), created.folder.as_deref()), (external_id.as_str(), Some("in/")));
    assert_eq!(created.tenant, "acme");

    // The list filtered by tenant (the by-tenant index): this one, not another tenant's.
    let input = connector_core::connections::ConnectionInput {
        tenant: "globex".into(),
        name: "Globex invoices".into(),
        account_id: ACCOUNT.into(),
        bucket: world.bucket.clone(),
        region: "us-east-1".into(),
        folder: None,
        template_id: "payments".into(),
        kms_key_arn: None,
        open_fields: Vec::new(),
        mode: Default::default(),
    };
    world.connector.in_process().create(input).await.unwrap();
    let page = browser.get(&api, "/dashboard/connections?tenant=acme").await;
    assert!(page.html.contains("Acme payouts") && !page.html.contains("Globex invoices"), "{}", page.html);
    let page = browser.get(&api, "/dashboard/connections").await;
    assert!(page.html.contains("Acme payouts") && page.html.contains("Globex invoices"), "{}", page.html);
    let page = browser.get(&api, &format!("/dashboard/new/{id}/permissions")).await;
    assert!(page.html.contains(&format!("arn:aws:s3:::{}/in/*", world.bucket)), "{}", page.html);

    let page = browser.get(&api, &format!("/dashboard/new/{id}/preview")).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("in/a.csv") && page.html.contains("a1"), "the file and a sample row: {}", page.html);
    assert!(page.html.contains("column <code>amount</code>"), "the rejected row: {}", page.html);
    let page = browser.post(&api, &format!("/dashboard/new/{id}/activate"), &[("csrf", &csrf)]).await;
    assert_eq!(page.location, Some(format!("/dashboard/connections/{id}?done=activated")), "{}", page.html);

    // The first import ran in-process: its row error is on the connection's page.
    let page = browser.get(&api, &format!("/dashboard/connections/{id}?done=activated")).await;
    assert!(page.html.contains("first import started"), "{}", page.html);
    assert!(page.html.contains("partial") && page.html.contains("line 3"), "the file's row error: {}", page.html);

    // Pause and resume.
    let page = browser.post(&api, &format!("/dashboard/connections/{id}/pause"), &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 303);
    assert_eq!(world.connector.in_process().connection(&id).await.unwrap().status.as_str(), "paused");
    let page = browser.post(&api, &format!("/dashboard/connections/{id}/resume"), &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 303);
    assert_eq!(world.connector.in_process().connection(&id).await.unwrap().status.as_str(), "active");

    // The mode: events, shown on the page; a mode that is none is refused beside its field.
    let mode = |m: &'static str| [("csrf", csrf.as_str()), ("mode", m)];
    let page = browser.post(&api, &format!("/dashboard/connections/{id}/mode"), &mode("events")).await;
    assert_eq!(page.location, Some(format!("/dashboard/connections/{id}?done=mode")), "{}", page.html);
    assert_eq!(world.connector.in_process().connection(&id).await.unwrap().mode.as_str(), "events");
    let page = browser.get(&api, &format!("/dashboard/connections/{id}")).await;
    assert!(page.html.contains("Events: within minutes"), "{}", page.html);
    let page = browser.post(&api, &format!("/dashboard/connections/{id}/mode"), &mode("hourly")).await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert_eq!(world.connector.in_process().connection(&id).await.unwrap().mode.as_str(), "events");

    // The schedule: every 6 hours, shown on the page; an interval that is none is refused.
    let every = |h: &'static str| [("csrf", csrf.as_str()), ("every", h)];
    let page = browser.post(&api, &format!("/dashboard/connections/{id}/schedule"), &every("6")).await;
    assert_eq!(page.location, Some(format!("/dashboard/connections/{id}?done=schedule")), "{}", page.html);
    assert_eq!(world.connector.in_process().connection(&id).await.unwrap().scan_every_hours, Some(6));
    let page = browser.get(&api, &format!("/dashboard/connections/{id}")).await;
    assert!(page.html.contains("<dd>every 6 hours</dd>"), "{}", page.html);
    let page = browser.post(&api, &format!("/dashboard/connections/{id}/schedule"), &every("5")).await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(page.html.contains("5 is not an interval"), "{}", page.html);
    assert_eq!(world.connector.in_process().connection(&id).await.unwrap().scan_every_hours, Some(6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_with_errors_is_not_saved_and_says_which_field() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let pool = pool(&world).await;
    let api = Api { service: world.connector.in_process(), dashboard: Some(dashboard(&world, &pool).await) };
    let mut browser = Client::default();
    browser.sign_in(&api, &pool.password).await;
    let csrf = browser.get(&api, "/dashboard/templates").await.field("csrf");
    let bad = PAYMENTS_TEMPLATE.replace("\"decimal\"", "\"money\"");
    let page = browser.post(&api, "/dashboard/templates", &[("csrf", &csrf), ("document", &bad)]).await;
    assert_eq!(page.status, 400);
    assert!(page.html.contains("<code>columns[1].type</code>"), "{}", page.html);
    assert_eq!(world.connector.in_process().template("payments", None).await.unwrap().version, 1);
    let good = PAYMENTS_TEMPLATE.replace("\"usd\", \"eur\"", "\"usd\", \"eur\", \"gbp\"");
    let page = browser.post(&api, "/dashboard/templates", &[("csrf", &csrf), ("document", &good)]).await;
    assert_eq!(page.location.as_deref(), Some("/dashboard/templates?saved=payments"), "{}", page.html);
    assert_eq!(world.connector.in_process().template("payments", None).await.unwrap().version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_link_opens_one_connection_checks_access_and_nothing_altered_or_expired() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    world.put("in/a.csv", "id,amount\na1,1\n").await;
    let pool = pool(&world).await;
    let api = Api { service: world.connector.in_process(), dashboard: Some(dashboard(&world, &pool).await) };
    let connection = world.connection(Some("in")).await;
    let other = world.connection(None).await;
    let mut operator = Client::default();
    operator.sign_in(&api, &pool.password).await;

    // The operator makes a link on the connection's page.
    let csrf = operator.get(&api, &format!("/dashboard/connections/{}", connection.id)).await.field("csrf");
    let page = operator
        .post(&api, &format!("/dashboard/connections/{}/link", connection.id), &[("csrf", &csrf), ("days", "7")])
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    let start = page.html.find("https://dashboard.example/setup/").expect("the absolute link");
    let url = page.html[start..].split('<').next().unwrap().replace("&amp;", "&");
    let path = url.trim_start_matches("https://dashboard.example").to_owned();
    assert!(path.starts_with(&format!("/setup/{}?expires=", connection.id)), "{path}");

    // The customer, with no session: the role, its two policies, the quick-create link.
    let mut customer = Client::default();
    let page = customer.get(&api, &path).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains(&connection.role_name) && page.html.contains(&connection.external_id));
    assert!(page.html.contains(&format!("arn:aws:s3:::{}/in/*", world.bucket)), "the permission policy");
    assert!(
        page.html.contains("param_ExternalId=") && page.html.contains("templateURL=https%3A%2F%2Fexample-bucket"),
        "{}",
        page.html
    );
    assert!(
        !page.html.contains(&other.name) && !page.html.contains("Signed in as"),
        "one connection, nothing of the operator's"
    );

    // Check access: the preview, with the file the first sync would import and its sample.
    let (expires, sig) = (page.field("expires"), page.field("sig"));
    let page =
        customer.post(&api, &format!("/setup/{}/check", connection.id), &[("expires", &expires), ("sig", &sig)]).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(
        page.html.contains("Access works") && page.html.contains("in/a.csv") && page.html.contains("a1"),
        "{}",
        page.html
    );
    assert_eq!(
        world.connector.in_process().connection(&connection.id).await.unwrap().status.as_str(),
        "pending",
        "a check changes nothing"
    );

    // Altered: another connection's id with this signature, a changed expiry, a cut signature.
    for altered in [
        path.replace(&connection.id, &other.id),
        path.replace(&format!("expires={expires}"), &format!("expires={}", expires.parse::<i64>().unwrap() + 86_400)),
        path[..path.len() - 3].to_owned(),
    ] {
        let page = customer.get(&api, &altered).await;
        assert_eq!(page.status, 403, "{altered}");
        assert!(page.html.contains("not valid") && !page.html.contains(&connection.external_id), "{}", page.html);
    }
    let page =
        customer.post(&api, &format!("/setup/{}/check", other.id), &[("expires", &expires), ("sig", &sig)]).await;
    assert_eq!(page.status, 403, "a check of another connection");

    // Expired: signed correctly, but its time has passed.
    let dashboard = api.dashboard.as_ref().unwrap();
    let old = dashboard.setup_link(&connection, 1, chrono::Utc::now() - TimeDelta::days(2)).unwrap();
    let page = customer.get(&api, &old.path).await;
    assert_eq!(page.status, 410);
    assert!(page.html.contains("expired"), "{}", page.html);
    assert!(dashboard.setup_link(&connection, 31, chrono::Utc::now()).is_err(), "at most 30 days");
}

/// The platform leaves the bucket and folder open: the customer's page shows the region as text
/// and inputs for those two only, no permission policy and no check yet. A bad bucket is named
/// beside its field and nothing is saved; a region smuggled into the form is not the customer's to
/// change; saving fills the policy in and the check runs. Once active, the location is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_fills_the_open_fields_then_checks_access_and_not_once_active() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    world.put("in/a.csv", "id,amount\na1,1\n").await;
    let pool = pool(&world).await;
    let api = Api { service: world.connector.in_process(), dashboard: Some(dashboard(&world, &pool).await) };
    let connection = world.connection_with_open_bucket_and_folder().await;
    let link = api.dashboard.as_ref().unwrap().setup_link(&connection, 7, chrono::Utc::now()).unwrap();
    let mut customer = Client::default();
    let page = customer.get(&api, &link.path).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let has_input = |html: &str, name: &str| html.contains(&format!("id=\"{name}\" name=\"{name}\""));
    assert!(has_input(&page.html, "bucket") && has_input(&page.html, "folder"), "{}", page.html);
    assert!(!has_input(&page.html, "region") && page.html.contains("<code>us-east-1</code>"), "{}", page.html);
    assert!(
        page.html.contains("permission-policy-pending") && !page.html.contains("Permission policy"),
        "{}",
        page.html
    );
    assert!(!page.html.contains("/check\"") && !page.html.contains("param_ExternalId"), "nothing to check yet");

    let (expires, sig) = (page.field("expires"), page.field("sig"));
    let location = format!("/setup/{}/location", connection.id);
    let page = customer
        .post(&api, &location, &[("expires", &expires), ("sig", &sig), ("bucket", "Not_A_Bucket"), ("folder", "in")])
        .await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(page.html.contains("id=\"bucket-error\">is not a valid S3 bucket name"), "beside the field: {}", page.html);
    assert!(page.html.contains("aria-invalid=\"true\"") && page.field("bucket") == "Not_A_Bucket", "kept to correct");
    let stored = || async { world.connector.in_process().connection(&connection.id).await.unwrap() };
    assert_eq!((stored().await.bucket.as_str(), stored().await.location_filled_at), ("", None), "nothing saved");

    let form = [
        ("expires", &expires[..]),
        ("sig", &sig),
        ("bucket", &world.bucket),
        ("region", "eu-west-1"),
        ("folder", "in"),
    ];
    let page = customer.post(&api, &location, &form).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let saved = stored().await;
    assert_eq!(
        (saved.bucket.as_str(), saved.region.as_str(), saved.folder.as_deref()),
        (world.bucket.as_str(), "us-east-1", Some("in/"))
    );
    assert!(page.html.contains(&format!("arn:aws:s3:::{}/in/*", world.bucket)), "the policy, filled in: {}", page.html);
    assert!(page.html.contains("param_BucketName="), "the quick-create link: {}", page.html);
    let page =
        customer.post(&api, &format!("/setup/{}/check", connection.id), &[("expires", &expires), ("sig", &sig)]).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("Access works") && page.html.contains("in/a.csv"), "{}", page.html);

    // From another site: refused before anything is read.
    let request = lambda_http::http::Request::builder()
        .method("POST")
        .uri(format!("https://dashboard.example{location}"))
        .header("host", "dashboard.example")
        .header("origin", "https://elsewhere.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(lambda_http::Body::Text(
            serde_urlencoded::to_string([("expires", &expires[..]), ("sig", &sig), ("bucket", "elsewhere")]).unwrap(),
        ))
        .unwrap();
    assert_eq!(handle(&api, request).await.status().as_u16(), 403);

    world.connector.in_process().activate(&connection.id).await.unwrap();
    let page = customer
        .post(&api, &location, &[("expires", &expires), ("sig", &sig), ("bucket", "elsewhere"), ("folder", "")])
        .await;
    assert_eq!(page.status, 409, "{}", page.html);
    assert!(page.html.contains("not pending") && !page.html.contains("name=\"bucket\""), "{}", page.html);
    assert_eq!(stored().await.bucket, world.bucket, "an active connection's bucket never moves");
}

/// Withdraw links (the connection's page, a CSRF-checked post): the earlier link is refused with
/// a page that says so, its check too; a link made afterwards works; the earlier one, its `gen`
/// cut off, is no older link made valid again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawn_links_are_refused_and_a_new_one_works() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let pool = pool(&world).await;
    let api = Api { service: world.connector.in_process(), dashboard: Some(dashboard(&world, &pool).await) };
    let dashboard = api.dashboard.as_ref().unwrap();
    let connection = world.connection(None).await;
    let first = dashboard.setup_link(&connection, 7, chrono::Utc::now()).unwrap();
    let mut customer = Client::default();
    let page = customer.get(&api, &first.path).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let (expires, sig) = (page.field("expires"), page.field("sig"));

    let mut operator = Client::default();
    operator.sign_in(&api, &pool.password).await;
    let href = format!("/dashboard/connections/{}", connection.id);
    let csrf = operator.get(&api, &href).await.field("csrf");
    let page = operator.post(&api, &format!("{href}/withdraw-links"), &[]).await;
    assert_eq!(page.status, 403, "no CSRF token, no withdrawal");
    let page = operator.post(&api, &format!("{href}/withdraw-links"), &[("csrf", &csrf)]).await;
    assert_eq!(page.location, Some(format!("{href}?done=withdrawn")), "{}", page.html);
    let withdrawn = world.connector.in_process().connection(&connection.id).await.unwrap();
    assert_eq!(withdrawn.link_generation, 1);

    let page = customer.get(&api, &first.path).await;
    assert_eq!(page.status, 403);
    assert!(page.html.contains("This link was withdrawn; ask for a new one"), "{}", page.html);
    assert!(!page.html.contains(&connection.external_id), "nothing of the connection: {}", page.html);
    let check = format!("/setup/{}/check", connection.id);
    let page = customer.post(&api, &check, &[("expires", &expires), ("sig", &sig)]).await;
    assert!(page.status == 403 && page.html.contains("withdrawn"), "{}", page.html);

    let second = dashboard.setup_link(&withdrawn, 7, chrono::Utc::now()).unwrap();
    assert!(second.path.contains("&gen=1&"), "{}", second.path);
    let page = customer.get(&api, &second.path).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let page = customer
        .post(
            &api,
            &check,
            &[("expires", &page.field("expires")), ("gen", &page.field("gen")), ("sig", &page.field("sig"))],
        )
        .await;
    assert_eq!(page.status, 200, "the check carries the generation: {}", page.html);
    let cut = second.path.replace("&gen=1", "");
    let page = customer.get(&api, &cut).await;
    assert!(page.status == 403 && page.html.contains("not valid"), "{}", page.html);
}

/// The platform's backend asks the IAM-signed API for a customer link (events/api/setup-link.json);
/// the path it gets opens that connection's page. Without a dashboard the route is a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_makes_a_customer_link_that_opens_the_page() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let pool = pool(&world).await;
    let connection = world.connection(None).await;
    let sample =
        std::fs::read_to_string("events/api/setup-link.json").unwrap().replace("CONNECTION_ID", &connection.id);
    let without = Api { service: world.connector.in_process(), dashboard: None };
    let response = handle(&without, lambda_http::request::from_str(&sample).unwrap()).await;
    assert_eq!(response.status().as_u16(), 404);

    let api = Api { service: world.connector.in_process(), dashboard: Some(dashboard(&world, &pool).await) };
    let response = handle(&api, lambda_http::request::from_str(&sample).unwrap()).await;
    assert_eq!(response.status().as_u16(), 201);
    let link: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    let path = link["path"].as_str().unwrap();
    let page = Client::default().get(&api, path).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains(&connection.external_id), "{}", page.html);
    let too_long = sample.replace(r#"\"valid_days\": 7"#, r#"\"valid_days\": 90"#);
    assert_ne!(too_long, sample);
    let response = handle(&api, lambda_http::request::from_str(&too_long).unwrap()).await;
    assert_eq!(response.status().as_u16(), 400);
}

/// The list reads a page at a time (two here) and links to the next one, keeping the filters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connections_list_pages_on_with_its_filters() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let pool = pool(&world).await;
    let api = Api { service: world.connector.in_process(), dashboard: Some(dashboard(&world, &pool).await) };
    let mut names = Vec::new();
    for _ in 0..3 {
        names.push(world.connection(None).await.name);
    }
    let mut browser = Client::default();
    browser.sign_in(&api, &pool.password).await;
    let first = browser.get(&api, "/dashboard/connections?tenant=acme").await;
    let shown = |html: &str| names.iter().filter(|n| html.contains(n.as_str())).count();
    assert_eq!(shown(&first.html), 2, "{}", first.html);
    let start = first.html.find("/dashboard/connections?q=").expect("a link to the next page");
    let next = first.html[start..].split('"').next().unwrap().replace("&amp;", "&");
    assert!(next.contains("tenant=acme") && next.contains("after="), "{next}");
    let second = browser.get(&api, &next).await;
    assert_eq!(shown(&second.html), 1, "{}", second.html);
    assert!(!second.html.contains("Next 2 connections"), "the last page: {}", second.html);
}

/// The wizard's "Let the customer fill this" boxes: a bucket both given and left open is named
/// beside its field and nothing is created; left open (bucket and folder), the connection is
/// created with those open and the permissions step says the customer's page shows the policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_may_leave_the_bucket_and_folder_to_the_customer() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let pool = pool(&world).await;
    let api = Api { service: world.connector.in_process(), dashboard: Some(dashboard(&world, &pool).await) };
    let mut browser = Client::default();
    browser.sign_in(&api, &pool.password).await;
    let csrf = browser.get(&api, "/dashboard/new").await.field("csrf");
    let named = [("csrf", csrf.as_str()), ("name", "Acme open"), ("tenant", "acme"), ("template", "payments")];
    let page = browser.post(&api, "/dashboard/new/role", &named).await;
    let id = page.field("connection_id");
    let mut form: Vec<(&str, String)> = named.iter().map(|(k, v)| (*k, v.to_string())).collect();
    for name in ["connection_id", "external_id", "issued", "ticket"] {
        form.push((name, page.field(name)));
    }
    form.extend([("account_id", ACCOUNT.into()), ("region", "us-east-1".into()), ("bucket_open", "true".into())]);
    form.push(("folder_open", "true".into()));
    let both = [form.clone(), vec![("bucket", world.bucket.clone())]].concat();
    let page = browser.post(&api, "/dashboard/new/create", &as_refs(&both)).await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(page.html.contains("id=\"bucket-error\">is left open for the customer"), "{}", page.html);
    assert!(world.connector.in_process().connections(None).await.unwrap().is_empty(), "nothing created");

    let page = browser.post(&api, "/dashboard/new/create", &as_refs(&form)).await;
    assert_eq!(page.location, Some(format!("/dashboard/new/{id}/permissions")), "{}", page.html);
    let created = world.connector.in_process().connection(&id).await.unwrap();
    let open: Vec<&str> = created.open_fields.iter().map(|f| f.as_str()).collect();
    assert_eq!((open, created.region.as_str()), (vec!["bucket", "folder"], "us-east-1"));
    let page = browser.get(&api, &format!("/dashboard/new/{id}/permissions")).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(
        page.html.contains("the permission policy, which names the bucket and folder, is shown there"),
        "{}",
        page.html
    );
    assert!(!page.html.contains("id=\"permission-policy\""), "no policy naming no bucket: {}", page.html);
}

/// An events-mode connection's customer page adds what forwards the bucket's new-file events: the
/// bucket's EventBridge switch (a read-modify-write with the CLI), the rule's pattern for that
/// bucket and folder, its role's two policies naming our bus, and the quick-create link carries the
/// bus and the folder as keys spell it. A scheduled connection's page has none of it; a deployment
/// without a bus says so instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_events_mode_customer_page_shows_the_forwarding_rule_and_our_bus() {
    needs!(Moto);
    let world = World::new(config(TimeDelta::days(90), TimeDelta::hours(24))).await;
    let pool = pool(&world).await;
    let api = Api { service: world.connector.in_process(), dashboard: Some(dashboard(&world, &pool).await) };
    let scheduled = world.connection(Some("in")).await;
    let connection = world.connection(Some("in")).await;
    let change = connector_core::manage::connections::ConnectionChange {
        mode: Some(connector_core::model::SyncMode::Events),
        ..Default::default()
    };
    let connection = api.service.edit(&connection.id, change).await.unwrap();
    let pages = api.dashboard.as_ref().unwrap();
    let link = |c: &connector_core::model::Connection| pages.setup_link(c, 7, chrono::Utc::now()).unwrap().path;

    let page = Client::default().get(&api, &link(&connection)).await;
    assert_eq!(page.status, 200, "{}", page.html);
    let pattern = connector_core::policies::events_rule_pattern(&connection);
    let shown = |id: &str| {
        let start = page.html.find(&format!("<pre id=\"{id}\"")).unwrap_or_else(|| panic!("{id} in {}", page.html));
        let text = &page.html[start..];
        let text = &text[text.find('>').unwrap() + 1..text.find("</pre>").unwrap()];
        serde_json::from_str::<serde_json::Value>(&text.replace("&quot;", "\"")).unwrap()
    };
    assert_eq!(shown("events-rule-pattern"), pattern);
    assert_eq!(pattern["detail"]["bucket"]["name"], serde_json::json!([world.bucket]));
    assert_eq!(shown("events-role-permission-policy")["Statement"][0]["Resource"], OBJECT_EVENT_BUS);
    assert_eq!(shown("events-role-trust-policy")["Statement"][0]["Principal"]["Service"], "events.amazonaws.com");
    assert!(page.html.contains(&format!("<code id=\"event-bus\">{OBJECT_EVENT_BUS}</code>")), "{}", page.html);
    assert!(
        page.html.contains("Send notifications to Amazon EventBridge")
            && page.html.contains("whole notification configuration: read it first"),
        "{}",
        page.html
    );
    let bus = serde_urlencoded::to_string([("param_ConnectorEventBusArn", OBJECT_EVENT_BUS)]).unwrap();
    assert!(page.html.contains(&bus), "the quick-create link carries the bus: {}", page.html);
    assert!(page.html.contains("param_EventsFolder=in%2F"), "{}", page.html);

    let page = Client::default().get(&api, &link(&scheduled)).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(!page.html.contains("events-rule-pattern") && !page.html.contains(OBJECT_EVENT_BUS), "{}", page.html);

    let mut without_bus = dashboard(&world, &pool).await;
    without_bus.object_event_bus = None;
    let api = Api { service: world.connector.in_process(), dashboard: Some(without_bus) };
    let page = Client::default().get(&api, &link(&connection)).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("no-event-bus") && !page.html.contains("events-rule-pattern"), "{}", page.html);
}
