//! The set-up wizard's order, as the product follows it: the role (its name and trust policy) is
//! shown before the customer's account and bucket are asked for. So the connection's id and
//! external id are drawn first ([`Management::propose_role`]) and the connection is created with
//! them once the bucket is known ([`Management::create_proposed`]). The surface carrying them
//! between the steps must keep them from being altered (the dashboard signs them).

use super::connections::{new_connection_id, new_external_id, CreatedConnection};
use super::{ManageError, Management};
use crate::connections::ConnectionInput;
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
