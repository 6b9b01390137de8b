//! roles/customer-role.yaml, the role the customer set-up page's quick-create link makes, grants
//! exactly what the connection's policies say (crates/core/src/policies.rs), for a whole bucket, a
//! folder, a folder with IAM's special characters, and a KMS key: the template is read as
//! CloudFormation reads it, its conditions decided for the page's parameters
//! (`policies::role_template_parameters`, which the page passes) and its `Fn::Sub`s filled in, then
//! compared with the documents. With the
//! deployment's event bus (events mode) it also makes the forwarding rule and its role, again as
//! the policies say, and without one nothing of them.

mod common;

use common::needs;
use common::template::*;
use connector_core::connections::{new_connection, ConnectionInput, ROLE_PREFIX};
use connector_core::model::{Connection, SyncMode};
use connector_core::policies::{
    events_forwarding_policy, events_forwarding_role_name, events_forwarding_trust, events_rule_pattern,
    permission_policy, role_template_parameters, trust_policy,
};
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

/// A connection of `mode` limited to `folder` (if any), its objects encrypted with `kms` (if any).
fn connection(folder: Option<&str>, kms: Option<&str>, mode: SyncMode) -> Connection {
    let input = ConnectionInput {
        tenant: "acme".into(),
        name: "acme".into(),
        account_id: "123456789012".into(),
        template_id: "payments".into(),
        kms_key_arn: kms.map(str::to_owned),
        mode,
        ..Default::default()
    }
    .located(Some("acme-exports".into()), Some("us-east-1".into()), folder.map(str::to_owned), false);
    new_connection(input, "c1".into(), "ext-1".into(), ROLE_PREFIX, chrono::Utc::now()).unwrap()
}

/// The template's parameters as the set-up page's quick-create link fills them in
/// (crates/api/src/dashboard/customer.rs), and its resources with them.
fn resources(template: &Value, connection: &Connection, bus: Option<&str>) -> Value {
    let parameters = role_template_parameters(connection, &[PRINCIPAL.to_owned()], bus);
    let parameters: Vec<(&str, &str)> = parameters.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let deployed = deployed(template, &parameters);
    in_account(&substituted(&deployed["Resources"], &parameters), &connection.account_id)
}

#[test]
fn the_quick_create_role_grants_what_the_connections_policies_say() {
    needs!(CfnLint);
    let template = template_at("roles/customer-role.yaml");
    let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    for (folder, kms) in [(None, None), (Some("exports/payments"), None), (Some("a*b?c$/"), Some(key))] {
        let connection = connection(folder, kms, SyncMode::Scheduled);
        let resources = resources(&template, &connection, None);
        let made: Vec<&String> = resources.as_object().unwrap().keys().collect();
        assert_eq!(made, ["ConnectorRole"], "without a bus, the read role only");
        let role = &resources["ConnectorRole"]["Properties"];
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

const BUS: &str = "arn:aws:events:us-east-1:111122223333:event-bus/s3c-object-events";

/// `{"Ref": "AWS::AccountId"}` as CloudFormation fills it in, in the account `account`.
fn in_account(value: &Value, account: &str) -> Value {
    match value {
        Value::Object(object) if object.len() == 1 && object.get("Ref") == Some(&json!("AWS::AccountId")) => {
            json!(account)
        }
        Value::Object(object) => {
            Value::Object(object.iter().map(|(k, v)| (k.clone(), in_account(v, account))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| in_account(i, account)).collect()),
        other => other.clone(),
    }
}

#[test]
fn with_the_deployments_bus_the_stack_forwards_the_buckets_new_files_as_the_policies_say() {
    needs!(CfnLint);
    let template = template_at("roles/customer-role.yaml");
    for folder in [None, Some("exports/payments"), Some("a*b?c$/")] {
        let connection = connection(folder, None, SyncMode::Events);
        let resources = resources(&template, &connection, Some(BUS));
        let role = &resources["EventForwardingRole"]["Properties"];
        assert_eq!(role["RoleName"], events_forwarding_role_name(&connection));
        assert_eq!(role["AssumeRolePolicyDocument"], events_forwarding_trust(&connection), "folder {folder:?}");
        assert_eq!(role["Policies"].as_array().unwrap().len(), 1);
        assert_eq!(role["Policies"][0]["PolicyDocument"], events_forwarding_policy(BUS));
        let rule = &resources["ObjectCreatedRule"]["Properties"];
        assert_eq!(rule["EventBusName"], "default", "S3 sends its events to the default bus only");
        // The folder as keys spell it, not IAM's escapes the read role's Folder has.
        assert_eq!(rule["EventPattern"], events_rule_pattern(&connection), "folder {folder:?}");
        assert_eq!(
            rule["Targets"],
            json!([{ "Id": "s3-connector", "Arn": BUS, "RoleArn": { "Fn::GetAtt": ["EventForwardingRole", "Arn"] } }])
        );
        let read = &resources["ConnectorRole"]["Properties"]["Policies"][0]["PolicyDocument"];
        assert_eq!(read, &permission_policy(&connection), "the read role is the same as without events");
    }
}
