//! The core's [`ForwardingAccounts`] over EventBridge: which customer accounts may put events on
//! the deployment's object event bus (`S3C_OBJECT_EVENT_BUS_ARN`), as statements of the bus's
//! resource policy, one per account (`PutPermission`, `events:PutEvents`). The template gives the
//! bus no policy of its own, so a stack update keeps these statements (README, "Event-driven
//! imports").

use crate::errors::{describe, store_error};
use async_trait::async_trait;
use connector_core::manage::ports::{forwarding_statement_id, ForwardingAccounts};
use connector_core::ports::{StoreError, StoreErrorKind};

/// Attempts at a PutPermission that another policy change was writing at the same time.
const ATTEMPTS: u32 = 3;

pub struct EventBusAccounts {
    pub client: aws_sdk_eventbridge::Client,
    /// The bus's name (PutPermission names a bus by name).
    pub bus_name: String,
}

impl EventBusAccounts {
    /// The accounts of the bus `bus_arn` (`arn:aws:events:REGION:ACCOUNT:event-bus/NAME`; a bare
    /// name is taken as it is).
    pub fn new(client: aws_sdk_eventbridge::Client, bus_arn: &str) -> Self {
        let bus_name = bus_arn.rsplit_once(":event-bus/").map_or(bus_arn, |(_, name)| name).to_owned();
        EventBusAccounts { client, bus_name }
    }

    /// Whether the bus's policy lets `account_id` put events already (a statement of ours, or
    /// one an operator added by hand under another id).
    async fn allows(&self, account_id: &str) -> Result<bool, StoreError> {
        let bus = self
            .client
            .describe_event_bus()
            .name(&self.bus_name)
            .send()
            .await
            .map_err(|e| store_error(&format!("DescribeEventBus {}", self.bus_name), e))?;
        Ok(bus.policy().is_some_and(|policy| policy_allows(policy, account_id)))
    }
}

/// Whether the bus policy `policy` (JSON) has a statement allowing `account_id` (its root, as
/// PutPermission writes it, or the bare id) `events:PutEvents`, without a condition.
fn policy_allows(policy: &str, account_id: &str) -> bool {
    let Ok(policy) = serde_json::from_str::<serde_json::Value>(policy) else { return false };
    let statements = match &policy["Statement"] {
        serde_json::Value::Array(statements) => statements.clone(),
        statement => vec![statement.clone()],
    };
    // A field that is one string or a list of them.
    let values = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(list) => list.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        }
    };
    let root_suffix = format!(":iam::{account_id}:root");
    statements.iter().any(|s| {
        s["Effect"] == "Allow"
            && s.get("Condition").is_none()
            && values(&s["Action"]).iter().any(|a| a == "events:PutEvents")
            && values(&s["Principal"]["AWS"]).iter().any(|p| p == account_id || p.ends_with(&root_suffix))
    })
}

#[async_trait]
impl ForwardingAccounts for EventBusAccounts {
    /// Looks first, so that an account already let on costs one read and no policy write (AWS
    /// documents a statement id as unique, not what a PutPermission of an existing one does).
    #[tracing::instrument(skip(self), fields(bus = %self.bus_name))]
    async fn allow_account(&self, account_id: &str) -> Result<(), StoreError> {
        if self.allows(account_id).await? {
            return Ok(());
        }
        let statement_id = forwarding_statement_id(account_id);
        let context = format!("PutPermission {statement_id} on bus {}", self.bus_name);
        for attempt in 1..=ATTEMPTS {
            let put = self
                .client
                .put_permission()
                .event_bus_name(&self.bus_name)
                .action("events:PutEvents")
                .principal(account_id)
                .statement_id(&statement_id)
                .send()
                .await;
            let Err(e) = put else { return Ok(()) };
            let service = e.as_service_error();
            if service.is_some_and(|s| s.is_concurrent_modification_exception()) && attempt < ATTEMPTS {
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
                continue;
            }
            if service.is_some_and(|s| s.is_policy_length_exceeded_exception()) {
                let message = format!(
                    "{context}: {}: the bus's policy is at its size limit (the quota \"Event bus policy \
                     size\", 10,240 characters by default, about 45 customer accounts): ask for more in \
                     Service Quotas (the quota is adjustable), or remove the statements of accounts no \
                     longer forwarding (aws events remove-permission --event-bus-name {} --statement-id ...)",
                    describe(&e),
                    self.bus_name
                );
                return Err(StoreError { kind: StoreErrorKind::Rejected, message, source: Some(Box::new(e)) });
            }
            // Another activation of the same account may have let it on meanwhile.
            if self.allows(account_id).await.unwrap_or(false) {
                return Ok(());
            }
            return Err(store_error(&context, e));
        }
        unreachable!("the last attempt returns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUS: &str = "arn:aws:events:eu-west-1:999999999999:event-bus/s3c-object-events";

    fn policy(statements: serde_json::Value) -> String {
        serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
    }

    fn statement(principal: serde_json::Value, action: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"Sid": "s", "Effect": "Allow", "Principal": {"AWS": principal}, "Action": action, "Resource": BUS})
    }

    #[test]
    fn a_policy_allows_an_account_only_through_an_unconditional_put_events_statement_naming_it() {
        use serde_json::json;
        let root = json!("arn:aws:iam::123456789012:root");
        let mut conditional = statement(root.clone(), json!("events:PutEvents"));
        conditional["Condition"] = json!({"StringEquals": {"aws:PrincipalOrgID": "o-1"}});
        let mut denied = statement(root.clone(), json!("events:PutEvents"));
        denied["Effect"] = json!("Deny");
        let cases = [
            (policy(json!([statement(root.clone(), json!("events:PutEvents"))])), true),
            (policy(statement(json!("123456789012"), json!(["events:PutEvents"]))), true),
            (
                policy(json!([statement(
                    json!(["arn:aws:iam::111122223333:root", root.clone()]),
                    json!("events:PutEvents")
                )])),
                true,
            ),
            (policy(json!([statement(json!("arn:aws:iam::111122223333:root"), json!("events:PutEvents"))])), false),
            (policy(json!([statement(root.clone(), json!("events:PutRule"))])), false),
            (policy(json!([conditional])), false),
            (policy(json!([denied])), false),
            ("not json".to_owned(), false),
        ];
        for (policy, expected) in cases {
            assert_eq!(policy_allows(&policy, "123456789012"), expected, "{policy}");
        }
    }

    #[test]
    fn the_bus_is_named_by_the_name_in_its_arn() {
        let client = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::Config::builder()
                .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
                .build(),
        );
        assert_eq!(EventBusAccounts::new(client.clone(), BUS).bus_name, "s3c-object-events");
        assert_eq!(EventBusAccounts::new(client, "s3c-object-events").bus_name, "s3c-object-events");
    }
}
