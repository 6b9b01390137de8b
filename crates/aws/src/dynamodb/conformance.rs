//! The hooks the store conformance suite ([`connector_core::conformance`]) needs of the state table;
//! the suite runs against it on moto (tests/conformance.rs).

use super::StateTable;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connector_core::manage::ports::{ConnectionAdmin, Templates};
use connector_core::model::{Connection, ConnectionStatus};
use connector_core::template::Template;

#[async_trait]
impl connector_core::conformance::StoreUnderTest for StateTable {
    async fn save_connection(&self, connection: &Connection, template: &Template) {
        Templates::put_template(self, template).await.expect("saving the template");
        self.create_connection(connection).await.expect("saving the connection");
    }

    async fn save_template_version(&self, template: &Template) {
        Templates::put_template(self, template).await.expect("saving the template");
    }

    async fn ask_again(&self, connection_id: &str, key: &str, at: DateTime<Utc>) {
        let asked = ConnectionAdmin::ask_again(self, connection_id, key, at).await.expect("asking again");
        assert!(asked, "an outcome to ask about");
    }

    async fn set_status_as_operator(&self, connection_id: &str, status: ConnectionStatus) {
        self.set_status(connection_id, None, status).await.expect("changing the status");
    }
}
