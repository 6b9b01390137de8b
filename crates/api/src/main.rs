//! API Lambda: the connection management HTTP API behind API Gateway (HTTP API, IAM auth), and the
//! operator dashboard under `/dashboard` when `S3C_DASHBOARD_ISSUER` is set.
//! `S3C_WORKER_FUNCTION` names the worker that activation starts.

use api::dashboard::session::{KeySource, Sessions};
use api::dashboard::Dashboard;
use api::{handle, Api};
use connector_aws::identity::{issuer_keys, signing_key, CognitoSignIn};
use connector_aws::invoke::LambdaInvoker;
use connector_aws::Deployment;
use jsonwebtoken::jwk::JwkSet;
use lambda_http::{run, service_fn, Error, Request};

/// The issuer's keys, fetched again when a token names a new one.
struct IssuerKeys {
    discovery_url: String,
    issuer: String,
}

#[async_trait::async_trait]
impl KeySource for IssuerKeys {
    async fn keys(&self) -> Result<JwkSet, String> {
        let keys = issuer_keys(&self.discovery_url, &self.issuer).await.map_err(|e| e.to_string())?;
        serde_json::from_value(keys).map_err(|e| format!("the keys of {}: {e}", self.issuer))
    }
}

/// The dashboard, from its settings (see the README's "Dashboard" section), or None when
/// `S3C_DASHBOARD_ISSUER` is not set.
async fn dashboard(deployment: &Deployment) -> Result<Option<Dashboard>, Error> {
    let Ok(issuer) = std::env::var("S3C_DASHBOARD_ISSUER") else { return Ok(None) };
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set (the dashboard needs it)"));
    let client_id = var("S3C_DASHBOARD_CLIENT_ID")?;
    let url = var("S3C_DASHBOARD_URL")?;
    let url: lambda_http::http::Uri = url.parse().map_err(|e| format!("S3C_DASHBOARD_URL: {e}"))?;
    let discovery_url = std::env::var("S3C_DASHBOARD_DISCOVERY_URL")
        .unwrap_or_else(|_| format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')));
    let secrets = aws_sdk_secretsmanager::Client::new(&deployment.aws.sdk);
    let key = signing_key(&secrets, &var("S3C_SIGNING_SECRET_ARN")?).await?;
    let source = IssuerKeys { discovery_url, issuer: issuer.clone() };
    // An issuer unreachable now is tried again at the first sign-in (a token naming an unknown key).
    let keys = source.keys().await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "the dashboard's issuer keys");
        JwkSet { keys: vec![] }
    });
    Ok(Some(Dashboard {
        sessions: Sessions::new(&issuer, &client_id, keys, key).with_key_source(Box::new(source)),
        sign_in: Box::new(CognitoSignIn::new(&deployment.aws, &client_id)),
        base: url.path().trim_end_matches('/').to_owned(),
        secure_cookies: url.scheme_str() != Some("http"),
    }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    connector_aws::init_lambda_tracing();
    let deployment = Deployment::from_env().await?;
    let function = std::env::var("S3C_WORKER_FUNCTION").map_err(|_| "S3C_WORKER_FUNCTION is not set")?;
    let workers = LambdaInvoker { client: deployment.aws.lambda(), function };
    let dashboard = dashboard(&deployment).await?;
    let api = Api { service: deployment.management(&workers), dashboard };
    let api = &api;
    run(service_fn(move |request: Request| async move { Ok::<_, Error>(handle(api, request).await) })).await
}
