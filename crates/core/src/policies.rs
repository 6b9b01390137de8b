//! The IAM documents a customer needs to let us in: the permission policy of the role they create
//! (least privilege: list the bucket, limited to the folder, and read its objects; nothing else) and
//! its trust policy (our principal may assume it only with the connection's external id, AWS's
//! confused-deputy protection).

use crate::model::Connection;
use serde_json::{json, Value};

/// A literal string as IAM reads it in a Resource ARN or a StringLike value, where `*` and `?` are
/// wildcards and `$` starts a policy variable: each becomes its documented special-character
/// variable (`${*}`, `${?}`, `${$}`; "IAM policy elements: Variables and tags", policy version
/// 2012-10-17). Folders are escaped rather than refused: an S3 key may hold any UTF-8, and a
/// customer's folder named `exports*` is theirs to name; unescaped, it would also grant
/// `exports-private/`.
pub fn iam_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '*' => out.push_str("${*}"),
            '?' => out.push_str("${?}"),
            '$' => out.push_str("${$}"),
            c => out.push(c),
        }
    }
    out
}

/// The role's permission policy.
pub fn permission_policy(connection: &Connection) -> Value {
    let partition = crate::connections::partition(&connection.region);
    let bucket_arn = format!("arn:{partition}:s3:::{}", connection.bucket);
    let mut list = json!({
        "Sid": "ListTheConnectedFolder",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": bucket_arn,
    });
    let objects = match &connection.folder {
        Some(folder) => {
            let folder = iam_literal(folder);
            list["Condition"] = json!({"StringLike": {"s3:prefix": [folder, format!("{folder}*")]}});
            format!("{bucket_arn}/{folder}*")
        }
        None => format!("{bucket_arn}/*"),
    };
    let mut statements = vec![
        list,
        json!({"Sid": "ReadTheConnectedFiles", "Effect": "Allow", "Action": "s3:GetObject", "Resource": objects}),
    ];
    // Validated at create (connections::normalise_kms_key_arn): a key ARN, without wildcards.
    if let Some(key) = &connection.kms_key_arn {
        statements.push(
            json!({"Sid": "DecryptTheConnectedFiles", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key}),
        );
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The role's permission policy once its location is known; None while the customer has an open
/// field to fill (a policy naming no bucket, or the whole bucket for a folder not chosen, would be
/// wrong).
pub fn located_permission_policy(connection: &Connection) -> Option<Value> {
    connection.unfilled_fields().is_empty().then(|| permission_policy(connection))
}

/// The role's trust policy: `principals` (the execution roles of the worker and of the API, which
/// previews) may assume it with the connection's external id, and only with it.
pub fn trust_policy(principals: &[String], connection: &Connection) -> Value {
    trust_policy_for(principals, &connection.external_id)
}

/// The trust policy of a role with `external_id` (shown by the set-up wizard before the
/// connection exists).
pub fn trust_policy_for(principals: &[String], external_id: &str) -> Value {
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
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
        }],
    })
}

/// The pattern of the rule an events-mode connection's customer creates on their account's default
/// bus: their bucket's Object Created events, only under the folder when there is one. EventBridge
/// compares a prefix literally (no wildcards), so the folder goes as S3 keys spell it, not escaped
/// as IAM reads it ([`iam_literal`]).
pub fn events_rule_pattern(connection: &Connection) -> Value {
    let mut detail = json!({"bucket": {"name": [connection.bucket]}});
    if let Some(folder) = &connection.folder {
        detail["object"] = json!({"key": [{"prefix": folder}]});
    }
    json!({"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": detail})
}

/// The name of the role the customer's rule sends with: the connection's role name and `-events`
/// (at most 64 characters, as IAM allows; a generated role name leaves room for the suffix).
pub fn events_forwarding_role_name(connection: &Connection) -> String {
    format!("{}-events", connection.role_name).chars().take(64).collect()
}

/// The trust policy of the role the customer's rule sends with: EventBridge may assume it, for
/// rules of the customer's own account only (`aws:SourceAccount`, AWS's confused-deputy guard).
pub fn events_forwarding_trust(connection: &Connection) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": connection.account_id}},
        }],
    })
}

/// The permission policy of that role: put events on the deployment's object event bus, and
/// nothing else (a cross-account bus target needs a role of the sender's).
pub fn events_forwarding_policy(bus_arn: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ForwardToTheConnectorsBus",
            "Effect": "Allow",
            "Action": "events:PutEvents",
            "Resource": bus_arn,
        }],
    })
}

/// The parameters of roles/customer-role.yaml for a connection, as the set-up page's quick-create
/// link passes them: the folder escaped as IAM reads it for the read role, and, with the
/// deployment's event bus (an events-mode connection), the bus and the folder as S3 keys spell it
/// for the forwarding rule.
pub fn role_template_parameters(
    connection: &Connection,
    principals: &[String],
    event_bus: Option<&str>,
) -> Vec<(&'static str, String)> {
    let folder = connection.folder.as_deref();
    vec![
        ("RoleName", connection.role_name.clone()),
        ("ExternalId", connection.external_id.clone()),
        ("TrustedPrincipals", principals.join(",")),
        ("BucketName", connection.bucket.clone()),
        ("Folder", folder.map(iam_literal).unwrap_or_default()),
        ("KmsKeyArn", connection.kms_key_arn.clone().unwrap_or_default()),
        ("ConnectorEventBusArn", event_bus.unwrap_or_default().to_owned()),
        ("EventsFolder", event_bus.and(folder).unwrap_or_default().to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::{new_connection, ConnectionInput};

    fn connection(folder: Option<&str>) -> Connection {
        let input = ConnectionInput {
            tenant: "acme".into(),
            name: "acme".into(),
            account_id: "123456789012".into(),
            bucket: "acme-exports".into(),
            region: "eu-west-1".into(),
            folder: folder.map(Into::into),
            template_id: "payments".into(),
            kms_key_arn: None,
            open_fields: Vec::new(),
            mode: Default::default(),
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

    /// How IAM reads a Resource or a StringLike value: `*` any run of characters, `?` any one, and
    /// `${*}`, `${?}`, `${$}` the literal characters (a sketch of the grammar, for these tests only).
    fn iam_matches(pattern: &str, value: &str) -> bool {
        enum Token {
            Any,
            One,
            Char(char),
        }
        let mut tokens = Vec::new();
        let mut rest = pattern;
        while let Some(c) = rest.chars().next() {
            let literal = ["${*}", "${?}", "${$}"].iter().find(|e| rest.starts_with(**e));
            if let Some(escape) = literal {
                tokens.push(Token::Char(escape.chars().nth(2).unwrap()));
                rest = &rest[escape.len()..];
                continue;
            }
            tokens.push(match c {
                '*' => Token::Any,
                '?' => Token::One,
                c => Token::Char(c),
            });
            rest = &rest[c.len_utf8()..];
        }
        fn matches(tokens: &[Token], value: &[char]) -> bool {
            match tokens.split_first() {
                None => value.is_empty(),
                Some((Token::Any, more)) => (0..=value.len()).any(|i| matches(more, &value[i..])),
                Some((Token::One, more)) => !value.is_empty() && matches(more, &value[1..]),
                Some((Token::Char(c), more)) => value.first() == Some(c) && matches(more, &value[1..]),
            }
        }
        matches(&tokens, &value.chars().collect::<Vec<_>>())
    }

    #[test]
    fn a_folder_holding_wildcards_grants_that_folder_only() {
        // (folder, a key inside it, a key outside it that an unescaped policy would grant)
        let cases = [
            ("exports*", "exports*/a.csv", "exports-private/a.csv"),
            ("exports?", "exports?/a.csv", "exportsX/a.csv"),
            ("a/*/b", "a/*/b/c.csv", "a/secret/b/c.csv"),
            ("${aws:username}", "${aws:username}/a.csv", "operator/a.csv"),
            ("price$", "price$/a.csv", "price/a.csv"),
            ("données ☃", "données ☃/a.csv", "données/a.csv"),
        ];
        for (folder, inside, outside) in cases {
            let policy = permission_policy(&connection(Some(folder)));
            let objects = policy["Statement"][1]["Resource"].as_str().unwrap();
            let prefixes = policy["Statement"][0]["Condition"]["StringLike"]["s3:prefix"].as_array().unwrap();
            let listable = |key: &str| prefixes.iter().any(|p| iam_matches(p.as_str().unwrap(), key));
            let readable = |key: &str| iam_matches(objects, &format!("arn:aws:s3:::acme-exports/{key}"));
            assert!(readable(inside) && listable(inside), "{folder}: {inside} is granted by {policy}");
            assert!(!readable(outside) && !listable(outside), "{folder}: {outside} is not granted by {policy}");
            assert!(listable(&format!("{folder}/")), "{folder}: the folder itself can be listed: {policy}");
        }
    }

    #[test]
    fn special_characters_are_escaped_as_iam_documents() {
        let cases = [
            ("exports*", "exports${*}/"),
            ("what?", "what${?}/"),
            ("${aws:username}", "${$}{aws:username}/"),
            ("a*b?c$d/ü", "a${*}b${?}c${$}d/ü/"),
            ("plain/folder", "plain/folder/"),
        ];
        for (folder, escaped) in cases {
            let policy = permission_policy(&connection(Some(folder)));
            assert_eq!(
                policy["Statement"][0]["Condition"]["StringLike"]["s3:prefix"],
                json!([escaped, format!("{escaped}*")]),
                "{folder}"
            );
            assert_eq!(policy["Statement"][1]["Resource"], format!("arn:aws:s3:::acme-exports/{escaped}*"), "{folder}");
        }
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
    fn a_kms_key_adds_decrypt_on_that_key_only() {
        let key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let mut c = connection(Some("exports"));
        c.kms_key_arn = Some(key.into());
        let policy = permission_policy(&c);
        let statements = policy["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 3);
        assert_eq!(
            statements[2],
            json!({"Sid": "DecryptTheConnectedFiles", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key})
        );
        assert_eq!(
            statements[..2],
            permission_policy(&connection(Some("exports")))["Statement"].as_array().unwrap()[..]
        );
    }

    #[test]
    fn a_connection_stored_before_kms_keys_loads_and_its_policy_is_the_same() {
        let mut stored = serde_json::to_value(connection(Some("exports"))).unwrap();
        stored.as_object_mut().unwrap().remove("kms_key_arn");
        let loaded: Connection = serde_json::from_value(stored).unwrap();
        assert_eq!(loaded.kms_key_arn, None);
        assert_eq!(permission_policy(&loaded), permission_policy(&connection(Some("exports"))));
    }

    #[test]
    fn the_events_rule_matches_the_buckets_created_objects_under_the_folder_as_keys_spell_it() {
        let cases = [
            (None, json!({"bucket": {"name": ["acme-exports"]}})),
            (
                Some("exports/daily"),
                json!({"bucket": {"name": ["acme-exports"]}, "object": {"key": [{"prefix": "exports/daily/"}]}}),
            ),
            // Not IAM's escapes: EventBridge has no wildcards in a prefix.
            (Some("a*b?c$"), json!({"bucket": {"name": ["acme-exports"]}, "object": {"key": [{"prefix": "a*b?c$/"}]}})),
        ];
        for (folder, detail) in cases {
            let pattern = events_rule_pattern(&connection(folder));
            assert_eq!(
                pattern,
                json!({"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": detail}),
                "folder {folder:?}"
            );
        }
    }

    #[test]
    fn the_forwarding_role_is_for_eventbridge_of_the_customers_account_and_puts_on_our_bus_only() {
        let c = connection(None);
        assert_eq!(events_forwarding_role_name(&c), format!("{}-events", c.role_name));
        assert_eq!(
            events_forwarding_trust(&c)["Statement"],
            json!([{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}}])
        );
        let bus = "arn:aws:events:eu-west-1:999999999999:event-bus/s3c-object-events";
        assert_eq!(
            events_forwarding_policy(bus)["Statement"],
            json!([{"Sid": "ForwardToTheConnectorsBus", "Effect": "Allow", "Action": "events:PutEvents",
                    "Resource": bus}])
        );
        let mut long = c.clone();
        long.role_name = "r".repeat(64);
        assert_eq!(events_forwarding_role_name(&long).chars().count(), 64, "IAM's longest role name");
    }

    #[test]
    fn the_role_templates_parameters_give_iams_folder_to_the_role_and_the_keys_folder_to_the_rule() {
        let c = connection(Some("a*b"));
        let principals = ["arn:worker".to_owned(), "arn:api".to_owned()];
        let value = |parameters: &[(&str, String)], name: &str| {
            parameters.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()).unwrap()
        };
        let bus = "arn:aws:events:eu-west-1:999999999999:event-bus/s3c-object-events";
        let events = role_template_parameters(&c, &principals, Some(bus));
        let cases = [
            ("RoleName", c.role_name.as_str()),
            ("ExternalId", "ext-123"),
            ("TrustedPrincipals", "arn:worker,arn:api"),
            ("BucketName", "acme-exports"),
            ("Folder", "a${*}b/"),
            ("KmsKeyArn", ""),
            ("ConnectorEventBusArn", bus),
            ("EventsFolder", "a*b/"),
        ];
        for (name, expected) in cases {
            assert_eq!(value(&events, name), expected, "{name}");
        }
        let scheduled = role_template_parameters(&c, &principals, None);
        for name in ["ConnectorEventBusArn", "EventsFolder"] {
            assert_eq!(value(&scheduled, name), "", "{name}: no forwarding without a bus");
        }
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
