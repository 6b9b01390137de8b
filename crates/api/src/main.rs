//! API Lambda: the connection management HTTP API behind API Gateway (HTTP API, IAM auth), and the
//! operator dashboard under `/dashboard` when `S3C_DASHBOARD_ISSUER` is set.
//! `S3C_WORKER_FUNCTION` names the worker that activation starts. The dashboard's settings:
//! `S3C_DASHBOARD_ISSUER`, `_CLIENT_ID`, `_DISCOVERY_URL` (optional), `_URL` (locally),
//! `_SIGN_IN` (optional: password or oidc), `_CLIENT_SECRET_ARN` (optional, oidc), and
//! `S3C_SIGNING_SECRET_ARN`, `S3C_ROLE_TEMPLATE_URL`, `S3C_OBJECT_EVENT_BUS_ARN` (optional: the
//! bus events-mode connections forward to; README, "Dashboard", "Event-driven imports").

use api::dashboard::session::Sessions;
use api::dashboard::{Dashboard, SignInMethod};
use api::{handle, Api};
use connector_aws::identity::{signing_key, CognitoSignIn, IssuerKeys, TokenCheck};
use connector_aws::invoke::LambdaInvoker;
use connector_aws::oidc::OidcClient;
use connector_aws::Deployment;
use lambda_http::{run, service_fn, Error, Request};

/// The dashboard, from its settings (see the README's "Dashboard" section), or None when
/// `S3C_DASHBOARD_ISSUER` is not set.
async fn dashboard(deployment: &Deployment) -> Result<Option<Dashboard>, Error> {
    let Some(issuer) = std::env::var("S3C_DASHBOARD_ISSUER").ok().filter(|i| !i.is_empty()) else { return Ok(None) };
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set (the dashboard needs it)"));
    let client_id = var("S3C_DASHBOARD_CLIENT_ID")?;
    // Behind API Gateway the dashboard is at the root of its own API, over HTTPS; locally (cargo
    // lambda watch) S3C_DASHBOARD_URL says where, e.g. http://127.0.0.1:9000/lambda-url/api.
    let url: Option<lambda_http::http::Uri> = match std::env::var("S3C_DASHBOARD_URL") {
        Ok(url) => Some(url.parse().map_err(|e| format!("S3C_DASHBOARD_URL: {e}"))?),
        Err(_) => None,
    };
    let discovery_url = std::env::var("S3C_DASHBOARD_DISCOVERY_URL")
        .unwrap_or_else(|_| format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')));
    let secrets = aws_sdk_secretsmanager::Client::new(&deployment.aws.sdk);
    let key = signing_key(&secrets, &var("S3C_SIGNING_SECRET_ARN")?).await?;
    // A Cognito pool signs in with its password form; another issuer with the authorization-code
    // flow. S3C_DASHBOARD_SIGN_IN (password or oidc) overrides (a Cognito pool's hosted sign-in).
    let method = std::env::var("S3C_DASHBOARD_SIGN_IN").ok().filter(|m| !m.is_empty());
    let sign_in = match method.as_deref() {
        Some("oidc") => None,
        Some("password") => Some(()),
        Some(other) => return Err(format!("S3C_DASHBOARD_SIGN_IN is {other}: password or oidc").into()),
        None if issuer.starts_with("https://cognito-idp.") => Some(()),
        None => None,
    };
    let sign_in = match sign_in {
        Some(()) => SignInMethod::Password(Box::new(CognitoSignIn::new(&deployment.aws, &client_id))),
        None => {
            // A confidential client's secret, when the platform registered one.
            let secret = match std::env::var("S3C_DASHBOARD_CLIENT_SECRET_ARN").ok().filter(|a| !a.is_empty()) {
                Some(arn) => Some(client_secret(&secrets, &arn).await?),
                None => None,
            };
            SignInMethod::Oidc(Box::new(OidcClient::new(&issuer, &discovery_url, &client_id, secret)))
        }
    };
    let source = Box::new(IssuerKeys { discovery_url, issuer: issuer.clone() });
    let tokens = TokenCheck::from_source(&issuer, &client_id, source).await;
    // Sign-outs are items of the state table (session.rs).
    let revoked = Box::new(deployment.state.clone());
    Ok(Some(Dashboard {
        sessions: Sessions::new(tokens, key, revoked),
        sign_in,
        base: url.as_ref().map(|u| u.path().trim_end_matches('/').to_owned()).unwrap_or_default(),
        secure_cookies: url.is_none_or(|u| u.scheme_str() != Some("http")),
        role_template_url: std::env::var("S3C_ROLE_TEMPLATE_URL").ok().filter(|u| !u.is_empty()),
        object_event_bus: deployment.settings.object_event_bus.clone(),
        list_page: api::dashboard::connections::LIST_PAGE,
    }))
}

/// The OIDC client's secret: the whole SecretString, trimmed.
async fn client_secret(secrets: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<String, Error> {
    let secret =
        secrets.get_secret_value().secret_id(arn).send().await.map_err(|e| {
            format!("reading the dashboard's client secret {arn}: {}", connector_aws::errors::describe(&e))
        })?;
    let text = secret.secret_string().map(str::trim).filter(|t| !t.is_empty());
    Ok(text.ok_or_else(|| format!("the dashboard's client secret {arn} has no SecretString"))?.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    connector_aws::init_lambda_tracing();
    let deployment = Deployment::from_env().await?;
    let function = std::env::var("S3C_WORKER_FUNCTION").map_err(|_| "S3C_WORKER_FUNCTION is not set")?;
    let workers = LambdaInvoker { client: deployment.aws.lambda(), function };
    // A dashboard that cannot start (its key unreadable, a setting missing) leaves the management
    // API serving: the dashboard's routes answer that it is not configured, and the log says why.
    let dashboard = dashboard(&deployment).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "the dashboard is off");
        None
    });
    let api = Api { service: deployment.management(&workers), dashboard };
    let api = &api;
    run(service_fn(move |request: Request| async move { Ok::<_, Error>(handle(api, request).await) })).await
}
