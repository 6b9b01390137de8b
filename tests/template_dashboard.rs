//! What template.yaml makes of the dashboard (issue 13), read as CloudFormation reads it (see
//! tests/common/template.rs): a second HTTP API routes only the dashboard's and the set-up pages'
//! paths, behind the session authorizer on every dashboard route but the sign-in page and the
//! static files; the management API keeps IAM. The signing key is generated, and only the API's
//! role may read it, by its ARN. The operators' user pool and its public password client exist
//! unless the platform names its own issuer, and both functions check tokens of the same issuer
//! and client; with the platform's issuer, the OIDC client's secret (if any) is readable by the
//! API's role only.

mod common;

use common::needs;
use common::template::*;
use serde_json::{json, Value};

const ISSUER: &str = "https://login.example.com/oauth2";
const CLIENT: &str = "dashboard-client";

/// The routes public on the dashboard's API: (path, method). `/dashboard/sign-in/{step}` is the
/// authorization-code flow's start and callback, before there is a session.
const PUBLIC: [(&str, &str); 5] = [
    ("/dashboard/sign-in", "ANY"),
    ("/dashboard/sign-in/{step}", "GET"),
    ("/dashboard/static/{file}", "GET"),
    ("/setup", "ANY"),
    ("/setup/{proxy+}", "ANY"),
];

/// Every HttpApi event of every function on the API `api`: (function, path, method, the event's
/// Auth, if any).
fn routes(template: &Value, api: &str) -> Vec<(String, String, String, Option<Value>)> {
    let mut routes = Vec::new();
    for (id, resource) in template["Resources"].as_object().unwrap() {
        let events = resource["Properties"]["Events"].as_object();
        for event in events.into_iter().flat_map(|events| events.values()) {
            let properties = &event["Properties"];
            if event["Type"] != "HttpApi" || properties["ApiId"] != json!({ "Ref": api }) {
                continue;
            }
            let text = |key: &str| properties[key].as_str().unwrap_or_else(|| panic!("{id}: {key}")).to_owned();
            routes.push((id.clone(), text("Path"), text("Method"), properties.get("Auth").cloned()));
        }
    }
    routes
}

#[test]
fn every_dashboard_route_but_sign_in_and_static_files_is_behind_the_session_authorizer() {
    needs!(CfnLint);
    let t = template();
    let auth = &t["Resources"]["DashboardApi"]["Properties"]["Auth"];
    assert_eq!(auth["DefaultAuthorizer"], "DashboardSession");
    let authorizers = auth["Authorizers"].as_object().unwrap();
    assert_eq!(authorizers.keys().collect::<Vec<_>>(), ["DashboardSession"]);
    let session = &authorizers["DashboardSession"];
    assert_eq!(session["FunctionArn"], json!({ "Fn::GetAtt": ["AuthorizerFunction", "Arn"] }));
    assert_eq!(session["AuthorizerPayloadFormatVersion"], "2.0");
    assert_eq!(session["EnableSimpleResponses"], true);
    assert_eq!(session["EnableFunctionDefaultPermissions"], true, "API Gateway may invoke the authorizer");
    // The public routes (no session to spend) are throttled, each of them.
    let throttled = &t["Resources"]["DashboardApi"]["Properties"]["RouteSettings"];
    for route in ["ANY /dashboard/sign-in", "GET /dashboard/sign-in/{step}", "ANY /setup/{proxy+}"] {
        let rate = throttled[route]["ThrottlingRateLimit"].as_f64();
        assert!(rate.is_some_and(|r| r > 0.0 && r <= 10.0), "{route}: {throttled}");
        assert!(throttled[route]["ThrottlingBurstLimit"].as_u64().is_some_and(|b| b <= 20), "{route}: {throttled}");
    }
    // The cookie is what a browser sends; a JWT authorizer could not read it.
    assert_eq!(session["Identity"]["Headers"], json!(["Cookie"]));
    let ttl = session["Identity"]["ReauthorizeEvery"].as_i64().unwrap();
    assert!((1..=300).contains(&ttl), "a short cache: {ttl} s");
    assert_eq!(t["Resources"]["AuthorizerFunction"]["Metadata"]["BuildProperties"]["Binary"], "authorizer");

    let dashboard = routes(&t, "DashboardApi");
    let mut public: Vec<(&str, &str)> = dashboard
        .iter()
        .filter(|(_, _, _, auth)| auth.is_some())
        .map(|(_, path, method, auth)| {
            assert_eq!(auth, &Some(json!({ "Authorizer": "NONE" })), "{path}: public, or the default");
            (path.as_str(), method.as_str())
        })
        .collect();
    public.sort_unstable();
    let mut expected = PUBLIC.to_vec();
    expected.sort_unstable();
    assert_eq!(public, expected, "the public routes are exactly these");
    let guarded: Vec<&str> =
        dashboard.iter().filter(|(_, _, _, auth)| auth.is_none()).map(|(_, path, _, _)| path.as_str()).collect();
    assert!(guarded.contains(&"/dashboard/{proxy+}") && guarded.contains(&"/dashboard"), "{guarded:?}");
    for (function, path, _, auth) in &dashboard {
        assert_eq!(function, "ApiFunction", "{path}");
        // Only the dashboard and the set-up pages: the management routes stay on the IAM API.
        let page = path == "/dashboard" || path.starts_with("/dashboard/");
        let setup = path == "/setup" || path.starts_with("/setup/");
        assert!(page || setup, "{path} on the dashboard's API");
        // A set-up page is authorized by its signed link, not by an operator's session.
        if setup {
            assert!(auth.is_some(), "{path}");
        }
    }

    let management = &t["Resources"]["ManagementApi"]["Properties"]["Auth"];
    assert_eq!(management, &json!({ "EnableIamAuthorizer": true, "DefaultAuthorizer": "AWS_IAM" }));
    for (function, path, _, auth) in routes(&t, "ManagementApi") {
        assert_eq!(auth, None, "{function} {path}: IAM, the management API's default");
    }
    let url = &t["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"];
    assert_eq!(url, "https://${DashboardApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/dashboard/sign-in");
}

#[test]
fn the_signing_key_is_generated_and_only_the_api_role_may_read_it() {
    needs!(CfnLint);
    let t = template();
    let secret = &t["Resources"]["SigningSecret"];
    assert_eq!(secret["Type"], "AWS::SecretsManager::Secret");
    let generated = &secret["Properties"]["GenerateSecretString"];
    assert!(generated["PasswordLength"].as_i64().unwrap() >= 64, "{generated}");
    assert_eq!(generated["ExcludePunctuation"], true);
    assert!(secret["Properties"].get("SecretString").is_none(), "generated, never written in the template");

    // As deployed by default: an OIDC client's secret, when given, has its own reader (below).
    let readers: Vec<(String, Value)> = all_statements(&deployed(&t, &[]))
        .into_iter()
        .filter(|(_, s)| actions(s).iter().any(|a| a.starts_with("secretsmanager:") || a == "*"))
        .collect();
    assert_eq!(readers.len(), 1, "{readers:?}");
    let (holder, statement) = &readers[0];
    assert_eq!(holder, "ApiFunctionRole");
    assert_eq!(actions(statement), ["secretsmanager:GetSecretValue"]);
    assert_eq!(statement["Resource"], json!({ "Ref": "SigningSecret" }), "that secret only, no wildcard");
    assert_eq!(statement["Effect"], "Allow");

    // The authorizer has the role SAM generates for a function without Policies: logs and X-Ray.
    let authorizer = &t["Resources"]["AuthorizerFunction"]["Properties"];
    assert!(authorizer.get("Policies").is_none() && authorizer.get("Role").is_none(), "{authorizer}");
    for function in ["WorkerFunction", "DispatcherFunction", "ApiFunction", "AuthorizerFunction"] {
        let env = environment(&t, function);
        let expected = (function == "ApiFunction").then(|| json!({ "Ref": "SigningSecret" }));
        assert_eq!(env.get("S3C_SIGNING_SECRET_ARN"), expected.as_ref(), "{function}");
    }
    assert_eq!(t["Outputs"]["SigningSecretArn"]["Value"], json!({ "Ref": "SigningSecret" }));
}

/// The issuer and client a deployed function checks tokens against.
fn token_settings(deployed: &Value, function: &str) -> (Value, Value) {
    let env = &deployed["Resources"][function]["Properties"]["Environment"]["Variables"];
    (env["S3C_DASHBOARD_ISSUER"].clone(), env["S3C_DASHBOARD_CLIENT_ID"].clone())
}

#[test]
fn the_stack_creates_the_operators_pool_and_its_password_client_unless_given_an_issuer() {
    needs!(CfnLint);
    let t = template();
    let d = deployed(&t, &[]);
    let pools = of_type(&d, "AWS::Cognito::UserPool");
    assert_eq!(pools.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["DashboardUserPool"]);
    let pool = &pools[0].1["Properties"];
    assert_eq!(pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"], true, "no self sign-up");
    let password = &pool["Policies"]["PasswordPolicy"];
    assert!(password["MinimumLength"].as_i64().unwrap() >= 12, "{password}");
    // The sign-in form answers a password only: an MFA challenge would lock operators out.
    assert_eq!(pool["MfaConfiguration"], "OFF");

    let clients = of_type(&d, "AWS::Cognito::UserPoolClient");
    assert_eq!(clients.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["DashboardUserPoolClient"]);
    let client = &clients[0].1["Properties"];
    assert_eq!(client["UserPoolId"], json!({ "Ref": "DashboardUserPool" }));
    assert_eq!(client["GenerateSecret"], false, "a public client: the sign-in sends no secret hash");
    assert_eq!(client["ExplicitAuthFlows"], json!(["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]));
    assert_eq!(client["PreventUserExistenceErrors"], "ENABLED");
    assert_eq!((&client["IdTokenValidity"], &client["TokenValidityUnits"]["IdToken"]), (&json!(1), &json!("hours")));

    let own =
        (json!({ "Fn::Sub": "https://${DashboardUserPool.ProviderURL}" }), json!({ "Ref": "DashboardUserPoolClient" }));
    for function in ["ApiFunction", "AuthorizerFunction"] {
        assert_eq!(token_settings(&d, function), own, "{function}");
    }
    assert_eq!(d["Outputs"]["DashboardUserPoolId"]["Value"], json!({ "Ref": "DashboardUserPool" }));
    assert_eq!(d["Outputs"]["DashboardClientId"]["Value"], json!({ "Ref": "DashboardUserPoolClient" }));

    // The platform's own issuer: no pool, and both functions check its tokens.
    let given = [("DashboardOidcIssuer", ISSUER), ("DashboardOidcClientId", CLIENT)];
    assert_eq!(refused(&t, &given), Vec::<String>::new());
    let d = deployed(&t, &given);
    for kind in ["AWS::Cognito::UserPool", "AWS::Cognito::UserPoolClient"] {
        assert!(of_type(&d, kind).is_empty(), "{kind} with an issuer given");
    }
    for function in ["ApiFunction", "AuthorizerFunction"] {
        assert_eq!(token_settings(&d, function), (json!(ISSUER), json!(CLIENT)), "{function}");
    }
    for output in ["DashboardUserPoolId", "DashboardClientId"] {
        assert!(d["Outputs"].get(output).is_none(), "{output} with an issuer given");
    }
    assert!(d["Outputs"].get("DashboardUrl").is_some());

    // Both or neither: an issuer without its client, or a client without an issuer, is refused.
    assert_eq!(refused(&t, &[]), Vec::<String>::new());
    assert_eq!(refused(&t, &[("DashboardOidcIssuer", ISSUER)]).len(), 1);
    assert_eq!(refused(&t, &[("DashboardOidcClientId", CLIENT)]).len(), 1);
    // An issuer other than a Cognito pool signs in with the authorization-code flow, whose callback
    // the platform registers: said where the parameter is set.
    let description = t["Parameters"]["DashboardOidcIssuer"]["Description"].as_str().unwrap();
    assert!(
        description.contains("authorization-code flow") && description.contains("DashboardOidcCallbackUrl"),
        "{description}"
    );
}

const CLIENT_SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dashboard-client-AbCdEf";

/// The OIDC client's secret: given, the api function reads that secret (its ARN in the environment,
/// GetSecretValue on it alone); not given, no statement at all. Only with an issuer. The callback
/// URL to register is an output.
#[test]
fn the_oidc_clients_secret_is_readable_by_the_api_only_when_given() {
    needs!(CfnLint);
    let t = template();
    let reads = |d: &Value| -> Vec<Value> {
        all_statements(d)
            .into_iter()
            .filter(|(_, s)| s["Sid"] == "ReadDashboardClientSecret")
            .map(|(holder, s)| {
                assert_eq!(holder, "ApiFunctionClientSecretPolicy");
                assert_eq!(d["Resources"][&holder]["Properties"]["Roles"], json!([{ "Ref": "ApiFunctionRole" }]));
                s
            })
            .collect()
    };
    let secret_arn = |d: &Value, function: &str| {
        d["Resources"][function]["Properties"]["Environment"]["Variables"]["S3C_DASHBOARD_CLIENT_SECRET_ARN"].clone()
    };
    let given = [
        ("DashboardOidcIssuer", ISSUER),
        ("DashboardOidcClientId", CLIENT),
        ("DashboardOidcClientSecretArn", CLIENT_SECRET),
    ];
    assert_eq!(refused(&t, &given), Vec::<String>::new());
    let d = deployed(&t, &given);
    let statements = reads(&d);
    assert_eq!(statements.len(), 1, "{statements:?}");
    assert_eq!(actions(&statements[0]), ["secretsmanager:GetSecretValue"]);
    assert_eq!(statements[0]["Resource"], json!(CLIENT_SECRET), "that secret only");
    assert_eq!(statements[0]["Effect"], "Allow");
    assert_eq!(secret_arn(&d, "ApiFunction"), json!(CLIENT_SECRET));
    assert_eq!(secret_arn(&d, "AuthorizerFunction"), Value::Null);
    // Besides the signing key's, the only reader of a secret.
    let secret_readers = all_statements(&d)
        .into_iter()
        .filter(|(_, s)| actions(s).iter().any(|a| a.starts_with("secretsmanager:") || a == "*"))
        .count();
    assert_eq!(secret_readers, 2);

    for without in [&given[..2], &[][..]] {
        let d = deployed(&t, without);
        assert!(reads(&d).is_empty(), "no secret, no statement: {without:?}");
        assert_eq!(secret_arn(&d, "ApiFunction"), json!(""));
    }
    assert_eq!(refused(&t, &[("DashboardOidcClientSecretArn", CLIENT_SECRET)]).len(), 1, "a secret without an issuer");

    let callback = &t["Outputs"]["DashboardOidcCallbackUrl"]["Value"]["Fn::Sub"];
    assert_eq!(
        callback,
        "https://${DashboardApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/dashboard/sign-in/callback"
    );
}
