//! A moto user pool for the dashboard's sign-in, as template.yaml's DashboardUserPool and
//! DashboardUserPoolClient make it: an app client with the user-password flow and one operator with
//! a permanent password. moto signs the pool's tokens and serves its OpenID configuration and keys,
//! so the real token check runs against it. Used by tests/dashboard_pages.rs and tests/authorizer.rs.

use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, AuthenticationResultType, ExplicitAuthFlowsType};
use connector_aws::config::Aws;
use connector_aws::identity::{IssuerKeys, TokenCheck};

pub use super::dashboard::{PASSWORD, USER};

/// A moto user pool with a dashboard client and one operator ([`USER`], [`PASSWORD`]).
pub struct Pool {
    pub id: String,
    /// What its tokens name as `iss` (moto writes AWS's address, not its own).
    pub issuer: String,
    /// Where moto serves the pool's OpenID configuration.
    pub discovery_url: String,
    /// The dashboard's app client.
    pub client_id: String,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
}

/// The pool of [`super::dashboard::SignIn::create`], with its client for more app clients and tokens.
pub async fn pool(aws: &Aws) -> Pool {
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&aws.sdk);
    let sign_in = super::dashboard::SignIn::create(&cognito, &super::endpoint()).await;
    Pool {
        id: sign_in.user_pool,
        issuer: sign_in.issuer,
        discovery_url: sign_in.discovery_url,
        client_id: sign_in.client_id,
        cognito,
    }
}

impl Pool {
    /// A new app client of the pool, with the user-password flow; its id.
    pub async fn client(&self, name: &str) -> String {
        let client = self
            .cognito
            .create_user_pool_client()
            .user_pool_id(&self.id)
            .client_name(name)
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
            .send()
            .await
            .unwrap();
        client.user_pool_client().unwrap().client_id().unwrap().to_owned()
    }

    /// The operator's tokens (ID, access, refresh) from a password sign-in through `client_id`.
    pub async fn sign_in(&self, client_id: &str) -> AuthenticationResultType {
        let answer = self
            .cognito
            .initiate_auth()
            .client_id(client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", USER)
            .auth_parameters("PASSWORD", PASSWORD)
            .send()
            .await
            .unwrap();
        answer.authentication_result.expect("tokens from a password sign-in")
    }

    /// The dashboard's token check for this pool and its dashboard client, keys from moto.
    pub async fn token_check(&self) -> TokenCheck {
        let source = Box::new(IssuerKeys { discovery_url: self.discovery_url.clone(), issuer: self.issuer.clone() });
        TokenCheck::from_source(&self.issuer, &self.client_id, source).await
    }
}
