//! The IAM documents a customer needs to let us in: the permission policy of the role they create
//! (least privilege: list the bucket, limited to the folder, and read its objects; nothing else) and
//! its trust policy (our principal may assume it only with the connection's external id, AWS's
//! confused-deputy protection).

use crate::model::Connection;
use serde_json::{json, Value};

/// The role's permission policy.
pub fn permission_policy(connection: &Connection) -> Value {
    let bucket_arn = format!("arn:aws:s3:::{}", connection.bucket);
    let mut list = json!({
        "Sid": "ListTheConnectedFolder",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": bucket_arn,
    });
    let objects = match &connection.folder {
        Some(folder) => {
            list["Condition"] = json!({"StringLike": {"s3:prefix": [folder, format!("{folder}*")]}});
            format!("{bucket_arn}/{folder}*")
        }
        None => format!("{bucket_arn}/*"),
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [
            list,
            {"Sid": "ReadTheConnectedFiles", "Effect": "Allow", "Action": "s3:GetObject", "Resource": objects},
        ],
    })
}

/// The role's trust policy: `principals` (the execution roles of the worker and of the API, which
/// previews) may assume it with the connection's external id, and only with it.
pub fn trust_policy(principals: &[String], connection: &Connection) -> Value {
    let principal = match principals {
        [one] => json!(one),
        many => json!(many),
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": principal},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": connection.external_id}},
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::{new_connection, ConnectionInput};

    fn connection(folder: Option<&str>) -> Connection {
        let input = ConnectionInput {
            name: "acme".into(),
            account_id: "123456789012".into(),
            bucket: "acme-exports".into(),
            region: "eu-west-1".into(),
            folder: folder.map(Into::into),
            template_id: "payments".into(),
        };
        new_connection(input, "c1".into(), "ext-123".into(), crate::connections::ROLE_PREFIX, chrono::Utc::now())
            .unwrap()
    }

    #[test]
    fn a_folder_limits_listing_and_reading_to_it() {
        let policy = permission_policy(&connection(Some("exports/daily")));
        assert_eq!(
            policy["Statement"],
            json!([
                {"Sid": "ListTheConnectedFolder", "Effect": "Allow", "Action": "s3:ListBucket",
                 "Resource": "arn:aws:s3:::acme-exports",
                 "Condition": {"StringLike": {"s3:prefix": ["exports/daily/", "exports/daily/*"]}}},
                {"Sid": "ReadTheConnectedFiles", "Effect": "Allow", "Action": "s3:GetObject",
                 "Resource": "arn:aws:s3:::acme-exports/exports/daily/*"},
            ])
        );
    }

    #[test]
    fn without_a_folder_the_whole_bucket_and_nothing_else() {
        let policy = permission_policy(&connection(None));
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 2);
        assert!(statements[0].get("Condition").is_none());
        assert_eq!(statements[1]["Resource"], "arn:aws:s3:::acme-exports/*");
        let actions: Vec<_> = statements.iter().map(|s| s["Action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["s3:ListBucket", "s3:GetObject"], "no write, no delete, no other bucket");
    }

    #[test]
    fn trust_requires_our_principal_and_the_external_id() {
        let policy = trust_policy(&["arn:aws:iam::999999999999:role/s3-connector-worker".into()], &connection(None));
        assert_eq!(
            policy["Statement"][0],
            json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:role/s3-connector-worker"},
                   "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "ext-123"}}})
        );
        let both = trust_policy(&["arn:worker".into(), "arn:api".into()], &connection(None));
        assert_eq!(both["Statement"][0]["Principal"]["AWS"], json!(["arn:worker", "arn:api"]));
    }
}
