//! `s3-connector init` over tables an older version made, against moto: what is missing is added
//! (the indexes by-recheck and by-tenant), once, and the data already there is found through them.

mod common;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use chrono::{TimeDelta, Utc};
use common::*;
use connector_aws::dynamodb::tables::{self, TablesChanged};
use connector_aws::dynamodb::StateTable;
use connector_core::model::{FileOutcome, FileStatus, Recheck};
use connector_core::ports::SyncStore;

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().unwrap()
}

fn attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().unwrap()
}

/// The state table as `init` made it before the failure-isolation changes: its keys and the
/// by-status index, no by-recheck, no by-tenant.
async fn old_state_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    let by_status = GlobalSecondaryIndex::builder()
        .index_name("by-status")
        .key_schema(key("status_key", KeyType::Hash))
        .key_schema(key("name", KeyType::Range))
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .unwrap();
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .attribute_definitions(attribute("status_key"))
        .attribute_definitions(attribute("name"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(by_status)
        .send()
        .await
        .unwrap();
}

fn waiting_outcome(key: &str) -> FileOutcome {
    let now = Utc::now();
    FileOutcome {
        last_modified: now - TimeDelta::days(1),
        status: FileStatus::Failed,
        reason: Some("the role may not read this object".into()),
        rows_read: 0,
        rows_imported: 0,
        run_id: "r1".into(),
        finished_at: now - TimeDelta::hours(2),
        recheck: Some(Recheck::Retry { attempt: 1, next_at: now - TimeDelta::hours(1) }),
        ..connector_core::conformance::outcome(key, "\"e1\"")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_adds_the_indexes_a_state_table_made_before_them_lacks_once() {
    needs!(Moto);
    let aws = aws_at(&endpoint(), "testing", "testing").await;
    let client = aws.dynamodb();
    let (state, records) = (unique("state"), unique("records"));
    // GIVEN an old state table holding an outcome whose retry is due (its recheck attributes
    // written, as a newer worker writes them before anyone ran init again).
    old_state_table(&client, &state).await;
    let store = StateTable::new(client.clone(), &state);
    // The connection the outcomes belong to (its count of open failures moves with them).
    let connection = connector_aws::dynamodb::keys::connection("c1");
    client.put_item().table_name(&state).set_item(Some(connection)).send().await.unwrap();
    let expires = Utc::now() + TimeDelta::days(30);
    store.record_outcome("c1", &waiting_outcome("in/denied.csv"), expires).await.unwrap();
    let before = store.due_rechecks("c1", Utc::now(), 10).await;
    assert!(before.is_err(), "no by-recheck index yet: {before:?}");

    // WHEN init runs
    let changed = tables::create_tables(&client, &state, &records).await.unwrap();

    // THEN the indexes are added and active, and find what was there before them
    let added = ["by-recheck", "by-tenant", "by-bucket"].map(|index| (state.clone(), index.to_owned())).to_vec();
    assert_eq!(changed, TablesChanged { created: vec![records.clone()], indexes_added: added });
    let described = client.describe_table().table_name(&state).send().await.unwrap().table.unwrap();
    let mut indexes: Vec<(String, Option<IndexStatus>)> = described
        .global_secondary_indexes()
        .iter()
        .map(|i| (i.index_name().unwrap_or_default().to_owned(), i.index_status().cloned()))
        .collect();
    indexes.sort_by(|a, b| a.0.cmp(&b.0));
    let active = |name: &str| (name.to_owned(), Some(IndexStatus::Active));
    assert_eq!(indexes, [active("by-bucket"), active("by-recheck"), active("by-status"), active("by-tenant")]);
    let tenant = |tenant: &str| {
        let item = connector_aws::dynamodb::keys::connection("c1");
        let update = client.update_item().table_name(&state).set_key(Some(item));
        let update = update.update_expression("SET tenant = :t, tenant_key = :k, #name = :n");
        let update = update.expression_attribute_names("#name", "name");
        let s = |v: String| aws_sdk_dynamodb::types::AttributeValue::S(v);
        update
            .expression_attribute_values(":t", s(tenant.to_owned()))
            .expression_attribute_values(":k", s(connector_aws::dynamodb::keys::tenant(tenant)))
            .expression_attribute_values(":n", s("c1".to_owned()))
    };
    tenant("acme").send().await.unwrap();
    let query = client.query().table_name(&state).index_name(connector_aws::dynamodb::TENANT_INDEX);
    let query = query.key_condition_expression("tenant_key = :k");
    let query = query.expression_attribute_values(
        ":k",
        aws_sdk_dynamodb::types::AttributeValue::S(connector_aws::dynamodb::keys::tenant("acme")),
    );
    assert_eq!(query.send().await.unwrap().count, 1, "by-tenant finds a connection given a tenant");
    let due = store.due_rechecks("c1", Utc::now(), 10).await.unwrap();
    assert_eq!(due.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["in/denied.csv"]);
    store.record_outcome("c1", &waiting_outcome("in/later.csv"), expires).await.unwrap();
    assert_eq!(store.due_rechecks("c1", Utc::now(), 10).await.unwrap().len(), 2, "new outcomes go in too");

    // AND init again changes nothing
    let again = tables::create_tables(&client, &state, &records).await.unwrap();
    assert_eq!(again, TablesChanged::default());
}
