//! roles/customer-role.yaml, the role the customer set-up page's quick-create link makes, grants
//! exactly what the connection's policies say (crates/core/src/policies.rs), for a whole bucket, a
//! folder, a folder with IAM's special characters (passed as the page passes it, escaped), and a
//! KMS key: the template is read as CloudFormation reads it, its conditions decided for the
//! page's parameters and its `Fn::Sub`s filled in, then compared with the documents.

mod common;

use common::needs;
use common::template::*;
use connector_core::connections::{new_connection, ConnectionInput, ROLE_PREFIX};
use connector_core::policies::{iam_literal, permission_policy, trust_policy};
use serde_json::{json, Value};

const PRINCIPAL: &str = "arn:aws:iam::111122223333:role/s3c-worker";

/// `Fn::Sub` with the parameters (and the partition) filled in; every other value as it is.
fn substituted(value: &Value, parameters: &[(&str, &str)]) -> Value {
    match value {
        Value::Object(object) if object.len() == 1 && object.contains_key("Fn::Sub") => {
            let template = object["Fn::Sub"].as_str().expect("a Sub of one string");
            // Every variable the template names is one filled in here (a value may hold `${*}`:
            // IAM's escapes, which Sub leaves alone).
            for variable in template.split("${").skip(1).map(|rest| rest.split('}').next().unwrap()) {
                let known = variable == "AWS::Partition" || parameters.iter().any(|(name, _)| *name == variable);
                assert!(known, "{template}: ${{{variable}}}");
            }
            let mut text = template.replace("${AWS::Partition}", "aws");
            for (name, value) in parameters {
                text = text.replace(&format!("${{{name}}}"), value);
            }
            Value::String(text)
        }
        Value::Object(object) => {
            Value::Object(object.iter().map(|(k, v)| (k.clone(), substituted(v, parameters))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| substituted(i, parameters)).collect()),
        other => other.clone(),
    }
}

#[test]
fn the_quick_create_role_grants_what_the_connections_policies_say() {
    needs!(CfnLint);
    let template = template_at("roles/customer-role.yaml");
    let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    for (folder, kms) in [(None, None), (Some("exports/payments"), None), (Some("a*b?c$/"), Some(key))] {
        let input = ConnectionInput {
            tenant: "acme".into(),
            name: "acme".into(),
            account_id: "123456789012".into(),
            bucket: "acme-exports".into(),
            region: "us-east-1".into(),
            folder: folder.map(str::to_owned),
            template_id: "payments".into(),
            kms_key_arn: kms.map(str::to_owned),
            open_fields: Vec::new(),
            mode: Default::default(),
        };
        let connection = new_connection(input, "c1".into(), "ext-1".into(), ROLE_PREFIX, chrono::Utc::now()).unwrap();
        // As the set-up page fills them in (crates/api/src/dashboard/customer.rs).
        let escaped = connection.folder.as_deref().map(iam_literal).unwrap_or_default();
        let parameters = [
            ("RoleName", connection.role_name.as_str()),
            ("ExternalId", connection.external_id.as_str()),
            ("TrustedPrincipals", PRINCIPAL),
            ("BucketName", connection.bucket.as_str()),
            ("Folder", escaped.as_str()),
            ("KmsKeyArn", connection.kms_key_arn.as_deref().unwrap_or("")),
        ];
        let deployed = deployed(&template, &parameters);
        let role = substituted(&deployed["Resources"]["ConnectorRole"]["Properties"], &parameters);
        assert_eq!(role["RoleName"], connection.role_name.as_str());
        let granted = &role["Policies"][0]["PolicyDocument"];
        assert_eq!(granted, &permission_policy(&connection), "folder {folder:?}, key {kms:?}");
        let trust = trust_policy(&[PRINCIPAL.to_owned()], &connection);
        let trusted = &role["AssumeRolePolicyDocument"];
        assert_eq!(trusted["Statement"][0]["Condition"], trust["Statement"][0]["Condition"]);
        assert_eq!(trusted["Statement"][0]["Action"], trust["Statement"][0]["Action"]);
        // A CommaDelimitedList parameter: the one principal the page passes.
        assert_eq!(trusted["Statement"][0]["Principal"], json!({ "AWS": PRINCIPAL }));
    }
}
