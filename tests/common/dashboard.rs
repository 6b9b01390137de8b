//! The dashboard's world for browser tests (issue 13): the api function under `cargo lambda watch`
//! against moto, with an operator who can sign in through moto's Cognito and the key of the
//! customer links in moto's Secrets Manager.
//!
//! What cargo lambda watch (1.9.2) does with a browser's requests, tried with Chromium 156: it
//! serves the function at `http://127.0.0.1:PORT/lambda-url/api/...` as a function URL event and
//! hands it the path without that prefix (`/lambda-url/api/dashboard/x?q=1` is `/dashboard/x`,
//! query kept; `/lambda-url/api` alone is `/`), so the function's links and cookie paths are
//! [`PUBLIC_BASE_PATH`] + its route ([`Dashboard::url`]). The Host header is the browser's
//! (`127.0.0.1:PORT`); lambda_http's `uri()` says `https://` whatever the scheme, so absolute URLs
//! built from it are wrong locally. Responses pass as written: a 303 with its Location, and every
//! Set-Cookie (several on one response too); Chromium keeps `Secure` (and `__Host-`) cookies from
//! `http://127.0.0.1`. A form's POST body arrives whole (as `Body::Binary`), with its Origin,
//! Referer and Cookie headers. cargo lambda watch adds CORS headers of its own (it echoes the
//! request's Origin with `access-control-allow-credentials: true`), runs one request of a
//! function at a time, and answers `/favicon.ico` at the root with an error of its own.

use super::{aws_at, endpoint, unique, LambdaWatch, World};
use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ExplicitAuthFlowsType, MessageActionType};
use serde_json::Value;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// The path under which a browser reaches the api function under cargo lambda watch: its function
/// URL. The function sees the path after it (`/dashboard/...`), so it prefixes its links with this
/// (the path of `S3C_DASHBOARD_URL`).
pub const PUBLIC_BASE_PATH: &str = "/lambda-url/api";

/// Where a deployment would publish roles/customer-role.yaml (the customer page links to it).
pub const ROLE_TEMPLATE_URL: &str = "https://s3c-public.s3.amazonaws.com/customer-role.yaml";

/// The operator every test pool has, and their password.
pub const USER: &str = "operator";
pub const PASSWORD: &str = "Dashboard-test-1";

/// An operator of the dashboard in a Cognito user pool of the test's own, on moto.
pub struct SignIn {
    pub user_pool: String,
    /// An app client without a secret, for USER_PASSWORD_AUTH (the sign-in form) and refresh.
    pub client_id: String,
    pub username: String,
    pub password: String,
    /// The `iss` of the pool's tokens: moto writes AWS's, `https://cognito-idp.REGION.amazonaws.com/POOL`.
    pub issuer: String,
    /// The pool's OpenID configuration as moto serves it (the issuer's own URL is not reachable
    /// locally); its `jwks_uri` is moto's too.
    pub discovery_url: String,
}

impl SignIn {
    /// Creates the pool, its app client and an operator with a permanent password.
    pub async fn create(cognito: &aws_sdk_cognitoidentityprovider::Client, endpoint: &str) -> SignIn {
        let pool = cognito.create_user_pool().pool_name(unique("operators")).send().await;
        let user_pool = pool.expect("creating a user pool").user_pool.and_then(|p| p.id).expect("a pool id");
        let client = cognito
            .create_user_pool_client()
            .user_pool_id(&user_pool)
            .client_name("dashboard")
            .generate_secret(false)
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
            .send()
            .await
            .expect("creating the app client");
        let client_id = client.user_pool_client.and_then(|c| c.client_id).expect("a client id");
        let (username, password) = (USER.to_owned(), PASSWORD.to_owned());
        cognito
            .admin_create_user()
            .user_pool_id(&user_pool)
            .username(&username)
            .message_action(MessageActionType::Suppress)
            .send()
            .await
            .expect("creating the operator");
        cognito
            .admin_set_user_password()
            .user_pool_id(&user_pool)
            .username(&username)
            .password(&password)
            .permanent(true)
            .send()
            .await
            .expect("setting the operator's password");
        let region = user_pool.split('_').next().expect("a pool id starts with its region");
        SignIn {
            issuer: format!("https://cognito-idp.{region}.amazonaws.com/{user_pool}"),
            discovery_url: format!("{endpoint}/{user_pool}/.well-known/openid-configuration"),
            user_pool,
            client_id,
            username,
            password,
        }
    }

    /// What the sign-in form does: USER_PASSWORD_AUTH with `password`; the ID token, or the error.
    pub async fn id_token(
        &self,
        cognito: &aws_sdk_cognitoidentityprovider::Client,
        password: &str,
    ) -> Result<String, aws_sdk_cognitoidentityprovider::Error> {
        let output = cognito
            .initiate_auth()
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .client_id(&self.client_id)
            .auth_parameters("USERNAME", &self.username)
            .auth_parameters("PASSWORD", password)
            .send()
            .await?;
        Ok(output.authentication_result.and_then(|r| r.id_token).expect("an ID token"))
    }
}

/// The claims of a JWT, unchecked (base64url JSON between its first and second dots).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap_or_else(|| panic!("not a JWT: {jwt}"));
    // base64url without padding, as standard base64 with it.
    let mut standard: String = payload
        .chars()
        .map(|c| {
            if c == '-' {
                '+'
            } else if c == '_' {
                '/'
            } else {
                c
            }
        })
        .collect();
    while !standard.len().is_multiple_of(4) {
        standard.push('=');
    }
    let json = aws_smithy_types::base64::decode(&standard).unwrap_or_else(|e| panic!("{payload}: {e}"));
    serde_json::from_slice(&json).unwrap_or_else(|e| panic!("{payload}: {e}"))
}

/// A Secrets Manager secret holding a random 32-byte key as base64 text (SecretString): the key
/// that signs the customer's set-up links. Its ARN.
pub async fn signing_secret(secrets: &aws_sdk_secretsmanager::Client) -> String {
    let key: [u8; 32] = rand::random();
    let secret = secrets
        .create_secret()
        .name(unique("s3c-signing-key"))
        .secret_string(aws_smithy_types::base64::encode(key))
        .send()
        .await
        .expect("creating the signing secret");
    secret.arn.expect("the secret's ARN")
}

/// The api function (and the worker it starts) under cargo lambda watch, on the tables of a
/// [`World`] of its own, with the dashboard's settings.
pub struct Dashboard {
    pub world: World,
    pub sign_in: SignIn,
    pub signing_secret_arn: String,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    /// `http://127.0.0.1:PORT/lambda-url/api`: what a route is appended to.
    pub base: String,
    pub watch: LambdaWatch,
    /// The OpenID Connect provider operators sign in at, instead of the pool's password form
    /// ([`Dashboard::start_with_oidc`]); the pool is there still, unused.
    pub oidc: Option<super::oidc::OidcProvider>,
}

/// The client id the dashboard has at the OIDC provider (which takes any), and its secret.
pub const OIDC_CLIENT_ID: &str = "s3c-dashboard";
pub const OIDC_CLIENT_SECRET: &str = "s3c-dashboard-client-secret";

impl Dashboard {
    /// Creates the world, the operator and the key, starts cargo lambda watch with the functions'
    /// settings, and waits for the api function's first answer and the worker's (cargo lambda watch
    /// builds each on its first request: minutes on a cold build; the times are printed), so that a
    /// page or a "sync now" in a test does not wait for a build.
    pub async fn start() -> Dashboard {
        Dashboard::start_signing_in_at(None).await
    }

    /// [`Dashboard::start`], its operators signing in at `provider` with the authorization-code
    /// flow (its issuer, the client [`OIDC_CLIENT_ID`] with a secret in moto's Secrets Manager:
    /// oidc-provider-mock takes any secret but no public client).
    pub async fn start_with_oidc(provider: super::oidc::OidcProvider) -> Dashboard {
        Dashboard::start_signing_in_at(Some(provider)).await
    }

    async fn start_signing_in_at(oidc: Option<super::oidc::OidcProvider>) -> Dashboard {
        let world = World::new(super::config(chrono::TimeDelta::days(90), chrono::TimeDelta::hours(24))).await;
        let moto = endpoint();
        let sdk = aws_at(&moto, "testing", "testing").await.sdk;
        let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
        let sign_in = SignIn::create(&cognito, &moto).await;
        let signing_secret_arn = signing_secret(&aws_sdk_secretsmanager::Client::new(&sdk)).await;
        let settings = &world.connector.settings;
        let (issuer, client_id, discovery_url) = match &oidc {
            Some(provider) => (provider.issuer.clone(), OIDC_CLIENT_ID.to_owned(), provider.discovery_url()),
            None => (sign_in.issuer.clone(), sign_in.client_id.clone(), sign_in.discovery_url.clone()),
        };
        // Only with the provider: cargo lambda watch refuses a variable set to nothing.
        let client_secret_arn = match &oidc {
            Some(_) => {
                let secret = aws_sdk_secretsmanager::Client::new(&sdk)
                    .create_secret()
                    .name(unique("s3c-dashboard-client"))
                    .secret_string(OIDC_CLIENT_SECRET)
                    .send()
                    .await
                    .expect("creating the OIDC client's secret");
                Some(secret.arn.expect("the secret's ARN"))
            }
            None => None,
        };
        let mut env = vec![
            ("S3C_STATE_TABLE", settings.state_table.clone()),
            ("S3C_RECORDS_TABLE", settings.records_table.clone()),
            ("S3C_EVENT_BUS", settings.event_bus.clone()),
            ("S3C_WORKER_FUNCTION", "worker".into()),
            ("AWS_ENDPOINT_URL", moto.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("S3C_DASHBOARD_ISSUER", issuer),
            ("S3C_DASHBOARD_CLIENT_ID", client_id),
            ("S3C_DASHBOARD_DISCOVERY_URL", discovery_url),
            ("S3C_SIGNING_SECRET_ARN", signing_secret_arn.clone()),
            ("S3C_ROLE_TEMPLATE_URL", ROLE_TEMPLATE_URL.into()),
            // The function's public address: its links and cookie paths, no `Secure` on http.
            ("S3C_DASHBOARD_URL", format!("{{endpoint}}{PUBLIC_BASE_PATH}")),
        ];
        env.extend(client_secret_arn.map(|arn| ("S3C_DASHBOARD_CLIENT_SECRET_ARN", arn)));
        let watch = LambdaWatch::start(&env).await;
        let base = format!("{}{PUBLIC_BASE_PATH}", watch.endpoint);
        let dashboard = Dashboard { world, sign_in, signing_secret_arn, cognito, base, watch, oidc };
        dashboard.first_answer().await;
        dashboard.first_worker_answer().await;
        dashboard
    }

    /// The browser's address of the function's `route` (`/dashboard/...`).
    pub fn url(&self, route: &str) -> String {
        format!("{}{route}", self.base)
    }

    /// Waits (up to 15 minutes) for the api function to answer at all, and prints how long it took.
    async fn first_answer(&self) {
        let started = Instant::now();
        let url = self.url("/");
        let response = tokio::task::spawn_blocking(move || get(&url, Duration::from_secs(900)))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("the api function did not answer: {e}; see {}", self.watch.log.display()));
        assert!(
            response.status < 500,
            "the api function failed its first request: {response:?}; see {}",
            self.watch.log.display()
        );
        let line = format!("the api function answered its first request in {:.1} s\n", started.elapsed().as_secs_f64());
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    /// Invokes the worker for a connection that does not exist (an answer, not an error), so that
    /// cargo lambda watch builds it now; prints how long that took.
    async fn first_worker_answer(&self) {
        let started = Instant::now();
        let lambda = self.watch.client().await;
        let output = lambda
            .invoke()
            .function_name("worker")
            .payload(aws_sdk_lambda::primitives::Blob::new(r#"{"connection_id": "no-such-connection"}"#))
            .send()
            .await
            .unwrap_or_else(|e| panic!("invoking the worker: {e:?}; see {}", self.watch.log.display()));
        let see = self.watch.log.display();
        assert_eq!(output.function_error(), None, "the worker failed: {:?}; see {see}", output.payload);
        let answer: Value = serde_json::from_slice(output.payload.as_ref().map_or(&[][..], |p| p.as_ref()))
            .unwrap_or_else(|e| panic!("the worker's answer is not JSON ({e}): {:?}; see {see}", output.payload));
        assert_eq!(answer["outcome"], "connection_not_found", "{answer}");
        let line = format!("the worker answered its first invocation in {:.1} s\n", started.elapsed().as_secs_f64());
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    /// Signs in through the dashboard's form (issue 13: `{base}/dashboard/sign-in`, form `#sign-in`
    /// with `#username`, `#password` and a submit button; success is a 303 to the connections page).
    /// Written to that description; first exercised by the sign-in page's test.
    pub async fn sign_in(&self, browser: &super::browser::Browser) {
        browser.open(&self.url("/dashboard/sign-in")).await;
        browser.fill("username", &self.sign_in.username).await;
        browser.fill("password", &self.sign_in.password).await;
        browser.navigate_by("#sign-in button[type=submit]").await;
        let heading = browser.text("h1").await;
        assert_eq!(heading, "Connections", "after signing in\n{}", browser.describe().await);
    }
}

/// An HTTP response as it came over the wire: status, every header in order (repeated ones
/// repeated), and the body (de-chunked).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// Every value of the header `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

/// A plain HTTP/1.1 GET of an `http://` URL, redirects not followed (to see each response as it is).
pub fn get(url: &str, timeout: Duration) -> std::io::Result<Response> {
    request("GET", url, &[], "", timeout)
}

/// One plain HTTP/1.1 request (`Connection: close`), its response read whole.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> std::io::Result<Response> {
    let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("not an http:// URL: {url}"));
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what} from {url}"));
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok());
    let status = status.ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body).ok_or_else(|| bad("a bad chunked body"))?;
    }
    Ok(Response { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&data[..line_end]).ok()?.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}
