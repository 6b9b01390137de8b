//! The set-up wizard's order, as the product follows it: the role (its name and trust policy) is
//! shown before the customer's account and bucket are asked for. So the connection's id and
//! external id are drawn first ([`Management::propose_role`]) and the connection is created with
//! them once the bucket is known ([`Management::create_proposed`]). The surface carrying them
//! between the steps must keep them from being altered (the dashboard signs them). An events-mode
//! connection's customer also forwards their bucket's new-file events ([`event_forwarding`]).

use super::connections::{new_connection_id, new_external_id, CreatedConnection};
use super::{ManageError, Management};
use crate::connections::ConnectionInput;
use crate::model::{Connection, SyncMode};
use serde::Serialize;

/// A role proposed for a connection not yet created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposedRole {
    /// The connection's id-to-be.
    pub connection_id: String,
    pub external_id: String,
    /// The role's name: the deployment's prefix and the id, as create names it.
    pub role_name: String,
    pub trust_policy: serde_json::Value,
}

/// Whether `text` is `digits` lowercase hex digits (what [`new_connection_id`] and
/// [`new_external_id`] make).
fn is_hex(text: &str, digits: usize) -> bool {
    text.len() == digits && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Management<'_> {
    /// A fresh id and external id, with the role name and trust policy they give.
    pub async fn propose_role(&self) -> Result<ProposedRole, ManageError> {
        self.propose_role_for(&new_connection_id(), &new_external_id()).await
    }

    /// The proposal of [`Self::propose_role`] again, from its two ids (a later step's page).
    pub async fn propose_role_for(&self, connection_id: &str, external_id: &str) -> Result<ProposedRole, ManageError> {
        if !is_hex(connection_id, 20) || !is_hex(external_id, 64) {
            return Err(ManageError::invalid("role", "the proposed role is malformed; start the set-up again"));
        }
        let principals = self.principals.trust_principals().await?;
        Ok(ProposedRole {
            role_name: format!("{}{connection_id}", self.config.role_prefix).chars().take(64).collect(),
            trust_policy: crate::policies::trust_policy_for(&principals, external_id),
            connection_id: connection_id.to_owned(),
            external_id: external_id.to_owned(),
        })
    }

    /// Creates the connection with a proposed role's ids (checked to be of the form proposals
    /// have; an id already taken is a conflict).
    pub async fn create_proposed(
        &self,
        input: ConnectionInput,
        connection_id: &str,
        external_id: &str,
    ) -> Result<CreatedConnection, ManageError> {
        if !is_hex(connection_id, 20) || !is_hex(external_id, 64) {
            return Err(ManageError::invalid("role", "the proposed role is malformed; start the set-up again"));
        }
        if self.connection(connection_id).await.is_ok() {
            return Err(ManageError::Conflict(format!("connection {connection_id} exists already")));
        }
        self.create_as(input, connection_id.to_owned(), external_id.to_owned()).await
    }
}

/// The two documents a connection's role needs, as create returned them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleDocuments {
    pub role_name: String,
    pub role_arn: String,
    pub external_id: String,
    /// Null while the customer has an open location field to fill: it names the bucket and folder.
    pub permission_policy: Option<serde_json::Value>,
    pub trust_policy: serde_json::Value,
}

impl Management<'_> {
    /// The role documents of an existing connection (the wizard's and the customer page's).
    pub async fn role_documents(&self, id: &str) -> Result<RoleDocuments, ManageError> {
        let connection = self.connection(id).await?;
        let principals = self.principals.trust_principals().await?;
        Ok(RoleDocuments {
            role_name: connection.role_name.clone(),
            role_arn: connection.role_arn(),
            external_id: connection.external_id.clone(),
            permission_policy: crate::policies::located_permission_policy(&connection),
            trust_policy: crate::policies::trust_policy(&principals, &connection),
        })
    }
}

/// What the customer of an events-mode connection sets up besides the read role, so that their
/// bucket's new files reach the deployment within minutes: S3's events sent to EventBridge in their
/// account, and a rule on their default bus forwarding the connection's to the deployment's object
/// event bus, with a role of theirs to send with (README, "Event-driven imports").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventForwarding {
    /// The deployment's object event bus (`S3C_OBJECT_EVENT_BUS_ARN`); null when it has none:
    /// events cannot reach it, and the daily scan alone imports the connection's files.
    pub bus_arn: Option<String>,
    /// The event pattern of the rule on the customer's default bus; null while the customer has an
    /// open location field to fill (it names the bucket and folder).
    pub rule_pattern: Option<serde_json::Value>,
    /// The role the rule sends with, its trust policy, and its permission policy (null without a bus).
    pub role_name: String,
    pub role_trust_policy: serde_json::Value,
    pub role_permission_policy: Option<serde_json::Value>,
    /// How to turn on the bucket's "Send notifications to Amazon EventBridge", which the role
    /// template's stack cannot do for a bucket it did not make.
    pub bucket_setting: String,
}

/// The event forwarding an events-mode connection needs, with the deployment's bus if it has one;
/// None for a scheduled connection.
pub fn event_forwarding(connection: &Connection, bus_arn: Option<&str>) -> Option<EventForwarding> {
    if connection.mode != SyncMode::Events {
        return None;
    }
    let located = connection.unfilled_fields().is_empty();
    Some(EventForwarding {
        bus_arn: bus_arn.map(str::to_owned),
        rule_pattern: located.then(|| crate::policies::events_rule_pattern(connection)),
        role_name: crate::policies::events_forwarding_role_name(connection),
        role_trust_policy: crate::policies::events_forwarding_trust(connection),
        role_permission_policy: bus_arn.map(crate::policies::events_forwarding_policy),
        bucket_setting: bucket_eventbridge_setting(located.then_some(connection.bucket.as_str())),
    })
}

/// How to turn on a bucket's EventBridge notifications, in the console or the AWS CLI. The CLI's
/// put replaces the bucket's whole notification configuration, so it is a read, a merge and a put.
fn bucket_eventbridge_setting(bucket: Option<&str>) -> String {
    let bucket = bucket.unwrap_or("BUCKET");
    format!(
        "Turn on \"Send notifications to Amazon EventBridge for all events in this bucket\" for {bucket}: in the S3 \
         console, the bucket's Properties tab, Amazon EventBridge, Edit, On. With the AWS CLI, `aws s3api \
         put-bucket-notification-configuration` replaces the bucket's whole notification configuration: read it \
         first (`aws s3api get-bucket-notification-configuration --bucket {bucket} > notification.json`), add \
         \"EventBridgeConfiguration\": {{}} to that document, and put it back (`aws s3api \
         put-bucket-notification-configuration --bucket {bucket} --notification-configuration \
         file://notification.json`); a document with only the EventBridge part would remove the bucket's other \
         notifications. EventBridge notifications sit beside the bucket's queue, topic and Lambda notifications \
         and change none of them."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::{new_connection, ROLE_PREFIX};
    use crate::policies::{events_forwarding_policy, events_forwarding_trust, events_rule_pattern};

    const BUS: &str = "arn:aws:events:eu-west-1:999999999999:event-bus/s3c-object-events";

    fn connection(mode: SyncMode, bucket: Option<&str>) -> Connection {
        let input = ConnectionInput {
            tenant: "acme".into(),
            name: "acme".into(),
            account_id: "123456789012".into(),
            template_id: "payments".into(),
            mode,
            ..Default::default()
        }
        .located(bucket.map(str::to_owned), Some("eu-west-1".into()), Some("exports".into()), false);
        new_connection(input, "c1".into(), "ext-1".into(), ROLE_PREFIX, chrono::Utc::now()).unwrap()
    }

    #[test]
    fn a_scheduled_connection_forwards_nothing() {
        assert_eq!(event_forwarding(&connection(SyncMode::Scheduled, Some("acme-exports")), Some(BUS)), None);
    }

    #[test]
    fn an_events_connection_gets_the_rule_and_the_role_the_policies_say_with_the_deployments_bus() {
        let c = connection(SyncMode::Events, Some("acme-exports"));
        let forwarding = event_forwarding(&c, Some(BUS)).unwrap();
        assert_eq!(forwarding.bus_arn.as_deref(), Some(BUS));
        assert_eq!(forwarding.rule_pattern, Some(events_rule_pattern(&c)));
        assert_eq!(forwarding.role_name, format!("{}-events", c.role_name));
        assert_eq!(forwarding.role_trust_policy, events_forwarding_trust(&c));
        assert_eq!(forwarding.role_permission_policy, Some(events_forwarding_policy(BUS)));
        let setting = &forwarding.bucket_setting;
        for said in [
            "Send notifications to Amazon EventBridge",
            "Properties tab, Amazon EventBridge, Edit, On",
            "get-bucket-notification-configuration --bucket acme-exports",
            "\"EventBridgeConfiguration\": {}",
            "replaces the bucket's whole notification configuration",
        ] {
            assert!(setting.contains(said), "{said:?} in {setting}");
        }
    }

    #[test]
    fn without_a_bus_or_a_bucket_the_documents_that_name_them_are_left_out() {
        let c = connection(SyncMode::Events, Some("acme-exports"));
        let forwarding = event_forwarding(&c, None).unwrap();
        assert_eq!((forwarding.bus_arn, forwarding.role_permission_policy), (None, None));
        assert_eq!(forwarding.rule_pattern, Some(events_rule_pattern(&c)), "the rule names no bus");
        let open = connection(SyncMode::Events, None);
        let forwarding = event_forwarding(&open, Some(BUS)).unwrap();
        assert_eq!(forwarding.rule_pattern, None, "no bucket to name yet");
        assert!(forwarding.bucket_setting.contains("--bucket BUCKET"), "{}", forwarding.bucket_setting);
    }
}
