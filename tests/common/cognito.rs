//! A moto user pool for the dashboard's sign-in, as template.yaml's DashboardUserPool and
//! DashboardUserPoolClient make it: an app client with the user-password flow and one operator with
//! a permanent password. moto signs the pool's tokens and serves its OpenID configuration and keys,
//! so the real token check runs against it. Used by tests/dashboard_pages.rs and tests/authorizer.rs.

use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, AuthenticationResultType, ExplicitAuthFlowsType};
use connector_aws::config::Aws;
use connector_aws::identity::{IssuerKeys, TokenCheck};

pub const USER: &str = "operator";
pub const PASSWORD: &str = "Correct-Horse-9";

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

pub async fn pool(aws: &Aws) -> Pool {
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&aws.sdk);
    let pool = cognito.create_user_pool().pool_name(super::unique("operators")).send().await.unwrap();
    let id = pool.user_pool().unwrap().id().unwrap().to_owned();
    cognito.admin_create_user().user_pool_id(&id).username(USER).send().await.unwrap();
    cognito
        .admin_set_user_password()
        .user_pool_id(&id)
        .username(USER)
        .password(PASSWORD)
        .permanent(true)
        .send()
        .await
        .unwrap();
    let endpoint = super::endpoint();
    let mut pool = Pool {
        issuer: format!("https://cognito-idp.us-east-1.amazonaws.com/{id}"),
        discovery_url: format!("{endpoint}/{id}/.well-known/openid-configuration"),
        client_id: String::new(),
        id,
        cognito,
    };
    pool.client_id = pool.client("dashboard").await;
    pool
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
