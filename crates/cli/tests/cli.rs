//! The CLI's contract with scripts: bad input exits 2 with a message naming the field, before any
//! AWS call (no endpoint is reachable here).

use std::process::Command;

// The root package's local AWS for integration tests: AWS_ENDPOINT_URL's moto, or one started for
// this process; `needs!(Moto)` skips a test without it (fails it under scripts/test.sh). Its macro
// names it as the root package's tests do, `crate::common::local_aws`.
#[path = "../../../tests/common/local_aws.rs"]
mod local_aws;
mod common {
    pub(crate) use super::local_aws;
}
use local_aws::needs;

fn s3_connector(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_s3-connector"))
        .args(args)
        // Nothing listens here: a command that reached AWS would fail differently (exit 1).
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn bad_input_exits_2_naming_the_field() {
    let create_in = |tenant: &str| {
        s3_connector(&[
            "connections",
            "create",
            "--tenant",
            tenant,
            "--name",
            "acme",
            "--account-id",
            "123456789012",
            "--bucket",
            "acme-exports",
            "--region",
            "us-east-1",
            "--template",
            "t",
        ])
    };
    let create = |account: &str, bucket: &str, region: &str| {
        s3_connector(&[
            "connections",
            "create",
            "--tenant",
            "acme",
            "--name",
            "acme",
            "--account-id",
            account,
            "--bucket",
            bucket,
            "--region",
            region,
            "--template",
            "t",
        ])
    };
    let cases = [
        (create("123", "acme-exports", "us-east-1"), "account_id: must be the 12 digits"),
        (create("123456789012", "Bad_Bucket", "us-east-1"), "bucket: is not a valid S3 bucket name"),
        (create("123456789012", "acme-exports", "mars-1"), "region: is not an AWS region"),
        (
            s3_connector(&[
                "connections",
                "create",
                "--tenant",
                "acme",
                "--name",
                "acme",
                "--account-id",
                "123456789012",
                "--bucket",
                "acme-exports",
                "--region",
                "us-east-1",
                "--template",
                "t",
                "--kms-key-arn",
                "arn:aws:kms:us-east-1:123456789012:alias/exports",
            ]),
            "kms_key_arn: is an alias ARN; give the ARN of the key itself",
        ),
        (
            s3_connector(&["templates", "put", "examples/templates/does-not-exist.json"]),
            "reading examples/templates/does-not-exist.json",
        ),
        (s3_connector(&["sync"]), "required"),
        (
            s3_connector(&[
                "connections",
                "create",
                "--name",
                "acme",
                "--account-id",
                "123456789012",
                "--bucket",
                "acme-exports",
                "--region",
                "us-east-1",
                "--template",
                "t",
            ]),
            "--tenant <TENANT>",
        ),
        (create_in("acme#eu"), "tenant: must be 1-64 characters"),
        (s3_connector(&["connections", "list", "--tenant", "a/b"]), "tenant: must be 1-64 characters"),
        (s3_connector(&["connections", "assign-tenant", "--tenant", ""]), "tenant: must be 1-64 characters"),
        (s3_connector(&["connections", "assign-tenant"]), "--tenant <TENANT>"),
    ];
    for ((code, stderr), expected) in cases {
        assert!(stderr.contains(expected), "expected '{expected}' in: {stderr}");
        assert_eq!(code, Some(2), "{stderr}");
    }
}

#[test]
fn an_invalid_template_file_exits_2_naming_the_field() {
    let path = std::env::temp_dir().join(format!("s3c-bad-template-{}.json", std::process::id()));
    std::fs::write(&path, r#"{"id": "t", "record_type": "r", "format": {"type": "csv"}, "columns": [{"source": "a", "field": "a", "type": "enum"}]}"#).unwrap();
    let (code, stderr) = s3_connector(&["templates", "put", path.to_str().unwrap()]);
    std::fs::remove_file(&path).ok();
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("columns[0].values: an enum needs its allowed values"), "{stderr}");
}

/// The CLI against moto (scripts/test.sh's, or this process's own), with tables of its own (not
/// created until `init`): (exit code, stdout, stderr).
fn against_moto() -> impl Fn(&[&str]) -> (Option<i32>, String, String) {
    let endpoint = local_aws::endpoint();
    let suffix = format!("{}-{}", std::process::id(), std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos());
    move |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_s3-connector"))
            .args(args)
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("S3C_STATE_TABLE", format!("cli-state-{suffix}"))
            .env("S3C_RECORDS_TABLE", format!("cli-records-{suffix}"))
            // A bus is given by the test's arguments only.
            .env_remove("S3C_OBJECT_EVENT_BUS_ARN")
            .output()
            .unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (output.status.code(), text(&output.stdout), text(&output.stderr))
    }
}

/// Commands given an unknown connection id exit 2.
#[test]
fn unknown_connections_exit_2() {
    needs!(Moto);
    let run = against_moto();
    assert_eq!(run(&["init"]).0, Some(0));
    for args in [
        &["files", "nope"][..],
        &["records", "nope"],
        &["connections", "runs", "nope"],
        &["connections", "show", "nope"],
    ] {
        let (code, _, stderr) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("no connection 'nope'"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_kms_key_is_granted_by_the_policy_and_kept_on_the_connection() {
    needs!(Moto);
    let run = against_moto();
    assert_eq!(run(&["init"]).0, Some(0));
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/templates/payments.json");
    assert_eq!(run(&["templates", "put", template]).0, Some(0));
    let key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let (code, stdout, stderr) = run(&[
        "connections",
        "create",
        "--tenant",
        "acme",
        "--name",
        "acme kms",
        "--account-id",
        "123456789012",
        "--bucket",
        "acme-exports",
        "--region",
        "eu-west-1",
        "--template",
        "payments",
        "--kms-key-arn",
        key,
        "--json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let created: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        created["permission_policy"]["Statement"][2],
        serde_json::json!({"Sid": "DecryptTheConnectedFiles", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": key})
    );
    let (code, shown, stderr) = run(&["connections", "show", created["connection"]["id"].as_str().unwrap(), "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["connection"]["kms_key_arn"], key);
}

/// Without --bucket, and with --folder-open, the customer fills those on the set-up page: the text
/// says the policy is to come and to send a link; preview then names the bucket as not given yet.
/// A folder given and --folder-open at once is refused by the parser.
#[test]
fn a_create_may_leave_the_bucket_and_folder_to_the_customer() {
    needs!(Moto);
    let run = against_moto();
    assert_eq!(run(&["init"]).0, Some(0));
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/templates/payments.json");
    assert_eq!(run(&["templates", "put", template]).0, Some(0));
    let base = ["connections", "create", "--tenant", "acme", "--name", "acme open", "--account-id", "123456789012"];
    let rest = ["--region", "eu-west-1", "--folder-open", "--template", "payments"];
    let (code, stdout, stderr) = run(&[&base[..], &rest[..]].concat());
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("permission policy: once the customer fills bucket, folder"), "{stdout}");
    assert!(stdout.contains("send the customer a set-up link"), "{stdout}");
    let id = stdout.split_whitespace().nth(1).unwrap().to_owned();
    let (code, _, stderr) = run(&["connections", "preview", &id]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("bucket: not given yet: the customer fills it on the set-up page"), "{stderr}");
    let (code, _, stderr) = run(&[&base[..], &rest[..], &["--folder", "in"]].concat());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--folder-open") && stderr.contains("cannot be used with"), "{stderr}");
}

/// A connection is created in a tenant; the same name in another tenant is another connection,
/// and a list by tenant shows that tenant's only. `assign-tenant` with nothing to move says so.
#[test]
fn connections_belong_to_a_tenant() {
    needs!(Moto);
    let run = against_moto();
    assert_eq!(run(&["init"]).0, Some(0));
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/templates/payments.json");
    assert_eq!(run(&["templates", "put", template]).0, Some(0));
    let create = |tenant: &str| {
        run(&[
            "connections",
            "create",
            "--tenant",
            tenant,
            "--name",
            "payments",
            "--account-id",
            "123456789012",
            "--bucket",
            "acme-exports",
            "--region",
            "eu-west-1",
            "--template",
            "payments",
        ])
    };
    let (code, stdout, stderr) = create("acme");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("'payments' of tenant acme created (pending)"), "{stdout}");
    let (code, _, stderr) = create("globex");
    assert_eq!(code, Some(0), "the same name in another tenant: {stderr}");
    let (code, _, stderr) = create("acme");
    assert_eq!(code, Some(2), "the same name in the same tenant: {stderr}");
    assert!(stderr.contains("a connection named 'payments' already exists"), "{stderr}");

    let (code, stdout, stderr) = run(&["connections", "list", "--tenant", "globex", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed.iter().map(|c| c["tenant"].as_str().unwrap()).collect::<Vec<_>>(), ["globex"]);
    let (code, stdout, _) = run(&["connections", "list"]);
    assert_eq!((code, stdout.lines().count()), (Some(0), 2), "{stdout}");
    assert!(stdout.contains(" acme ") && stdout.contains(" globex "), "each line names its tenant: {stdout}");
    let (code, stdout, _) = run(&["connections", "list", "--tenant", "initech"]);
    assert_eq!((code, stdout.trim()), (Some(0), "tenant initech has no connections"));
    let id = listed[0]["id"].as_str().unwrap();
    let (code, stdout, _) = run(&["connections", "show", id]);
    assert!(code == Some(0) && stdout.contains("  tenant:    globex"), "{stdout}");

    let (code, stdout, stderr) = run(&["connections", "assign-tenant", "--tenant", "default"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "0 connection(s) given tenant default; 0 left without a tenant");
}

/// Before `init`, every command that reads or writes a table says, once, to run `s3-connector init`,
/// rather than DynamoDB's ResourceNotFoundException three times over.
#[test]
fn commands_before_init_say_once_to_run_init() {
    needs!(Moto);
    let run = against_moto();
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/templates/payments.json");
    let commands: &[&[&str]] = &[
        &["templates", "put", template],
        &["templates", "list"],
        &["templates", "show", "payments"],
        &["templates", "delete", "payments"],
        &["connections", "list"],
        &["connections", "show", "c1"],
        &["connections", "pause", "c1"],
        &[
            "connections",
            "create",
            "--tenant",
            "acme",
            "--name",
            "acme",
            "--account-id",
            "123456789012",
            "--bucket",
            "acme-exports",
            "--region",
            "us-east-1",
            "--template",
            "payments",
        ],
        &["files", "c1"],
        &["records", "c1"],
        &["sync", "c1"],
        &["sync", "--all"],
    ];
    for args in commands {
        let (code, _, stderr) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.matches("run `s3-connector init`").count(), 1, "{args:?}: {stderr}");
        assert!(stderr.matches("ResourceNotFoundException").count() <= 1, "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// Each layer of an error says its part once: the CLI the file, the store what it was doing and
/// DynamoDB's code and message. (Found with a template within the template bounds whose document
/// is past DynamoDB's 400 KB item size.)
#[test]
fn an_error_names_each_context_once() {
    needs!(Moto);
    let run = against_moto();
    assert_eq!(run(&["init"]).0, Some(0));
    let columns: Vec<serde_json::Value> = (0..1000)
        .map(|i| serde_json::json!({"source": format!("s{i:04}{}", "x".repeat(900)), "field": format!("f{i:04}"), "type": "string"}))
        .collect();
    let template = serde_json::json!({"id": "wide", "record_type": "r", "format": {"type": "csv"}, "columns": columns});
    let path = std::env::temp_dir().join(format!("s3c-wide-template-{}.json", std::process::id()));
    std::fs::write(&path, template.to_string()).unwrap();
    let (code, _, stderr) = run(&["templates", "put", path.to_str().unwrap()]);
    std::fs::remove_file(&path).ok();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.starts_with(&format!("error: {}: saving template: ", path.display())), "{stderr}");
    for part in ["saving template", "ValidationException", "Item size has exceeded the maximum allowed size"] {
        assert_eq!(stderr.matches(part).count(), 1, "'{part}' once in: {stderr}");
    }
}

/// The recovery commands: bad input and unknown connections exit 2 naming what is wrong; `sync`
/// exits 1 when the run ends needs_reauth, and 2 once the connection cannot sync.
#[test]
fn recovery_commands_and_sync_exit_codes() {
    needs!(Moto);
    let run = against_moto();
    assert_eq!(run(&["init"]).0, Some(0));
    let bad: &[(&[&str], &str)] = &[
        (&["files", "retry", "nope", "--failed"], "no connection 'nope'"),
        (&["reimport", "nope", "--key", "in/a.csv"], "no connection 'nope'"),
        (&["backfill", "nope", "--since", "2026-11-01"], "no connection 'nope'"),
        (&["connections", "set-overlap", "nope", "48"], "no connection 'nope'"),
        (&["backfill", "nope", "--since", "last tuesday"], "since: 'last tuesday' is not a date"),
        (&["connections", "set-overlap", "nope", "many"], "overlap: 'many' is not a number of hours"),
        (&["connections", "set-schedule", "nope", "often"], "schedule: 'often' is not a number of hours or 'daily'"),
        (&["connections", "set-schedule", "nope", "6"], "no connection 'nope'"),
        (&["files", "retry", "nope"], "--failed"),
        (&["files", "dismiss", "nope", "--failed"], "no connection 'nope'"),
        (&["files", "dismiss", "nope"], "--failed"),
        (&["connections", "recount", "nope"], "no connection 'nope'"),
        (&["connections", "recount"], "<CONNECTION_IDS>"),
        (&["records", "nope", "--after", "zz"], "after: is not a page token"),
    ];
    for (args, expected) in bad {
        let (code, _, stderr) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }

    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/templates/payments.json");
    assert_eq!(run(&["templates", "put", template]).0, Some(0));
    let (code, stdout, stderr) = run(&[
        "connections",
        "create",
        "--tenant",
        "acme",
        "--name",
        "no bucket",
        "--account-id",
        "123456789012",
        "--bucket",
        "s3c-cli-no-such-bucket",
        "--region",
        "us-east-1",
        "--template",
        "payments",
        "--json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let created: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let id = created["connection"]["id"].as_str().unwrap().to_owned();
    let (code, stdout, stderr) = run(&["sync", &id, "--json"]);
    assert_eq!(code, Some(1), "a run that ends needs_reauth fails: {stdout} {stderr}");
    assert!(stdout.contains("needs_reauth"), "{stdout}");
    let (code, stdout, _) = run(&["sync", &id]);
    assert_eq!(code, Some(2), "a needs_reauth connection cannot sync: {stdout}");
    let (code, stdout, stderr) = run(&["connections", "set-overlap", &id, "48"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("an overlap of 48 hours"), "{stdout}");
    let (code, stdout, stderr) = run(&["connections", "set-schedule", &id, "6"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("is scanned every 6 hours"), "{stdout}");
    let (code, _, stderr) = run(&["connections", "set-schedule", &id, "5"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("5 is not an interval"), "{stderr}");
    let (code, stdout, stderr) = run(&["connections", "set-schedule", &id, "daily"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("is scanned daily"), "{stdout}");
    let (code, stdout, stderr) = run(&["backfill", &id, "--since", "2026-11-01"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("since 2026-11-01 00:00:00 UTC"), "{stdout}");
    let (code, stdout, stderr) = run(&["files", "retry", &id, "--key", "in/never-seen.csv", "--json"]);
    assert_eq!(code, Some(1), "a key with nothing to decide again fails the command: {stderr}");
    let asked: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(asked["not_found"], serde_json::json!(["in/never-seen.csv"]));
    let (code, stdout, stderr) = run(&["files", "dismiss", &id, "--key", "in/never-seen.csv", "--json"]);
    assert_eq!(code, Some(1), "a key with nothing to dismiss fails the command: {stderr}");
    let dismissed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (&dismissed["dismissed"], &dismissed["not_found"]),
        (&serde_json::json!([]), &serde_json::json!(["in/never-seen.csv"]))
    );
    let (code, stdout, stderr) = run(&["files", "dismiss", &id, "--failed"]);
    assert_eq!((code, stdout.trim()), (Some(0), "0 failure(s) dismissed"), "{stderr}");
    let (code, stdout, stderr) = run(&["connections", "recount", &id]);
    assert_eq!((code, stdout.trim()), (Some(0), format!("{id} 'no bucket': 0 failed file(s)").as_str()), "{stderr}");
}

/// An events-mode connection's create also says what forwards the bucket's new files: the
/// bucket's EventBridge switch (a read-modify-write with the CLI), the rule's pattern and its
/// role's policies naming the bus given (or S3C_OBJECT_EVENT_BUS_ARN's); without a bus, that the
/// deployment has none. A scheduled connection's says nothing of it.
#[test]
fn an_events_mode_create_says_what_forwards_the_buckets_new_files() {
    needs!(Moto);
    let run = against_moto();
    assert_eq!(run(&["init"]).0, Some(0));
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/templates/payments.json");
    assert_eq!(run(&["templates", "put", template]).0, Some(0));
    let bus = "arn:aws:events:eu-west-1:999999999999:event-bus/s3c-object-events";
    let create = |name: &str, more: &[&str]| {
        let base = ["connections", "create", "--tenant", "acme", "--name", name, "--account-id", "123456789012"];
        let location =
            ["--bucket", "acme-exports", "--region", "eu-west-1", "--folder", "in", "--template", "payments"];
        let (code, stdout, stderr) = run(&[&base[..], &location[..], more].concat());
        assert_eq!(code, Some(0), "{stderr}");
        stdout
    };
    let stdout = create("events", &["--mode", "events", "--object-event-bus-arn", bus]);
    let pattern = r#""prefix": "in/""#;
    for said in [bus, "Send notifications to Amazon EventBridge", "\"EventBridgeConfiguration\": {}", pattern] {
        assert!(stdout.contains(said), "{said:?} in {stdout}");
    }
    assert!(stdout.contains("events.amazonaws.com") && stdout.contains("events:PutEvents"), "{stdout}");
    let stdout = create("events without a bus", &["--mode", "events"]);
    assert!(stdout.contains("no event bus is known") && !stdout.contains(pattern), "{stdout}");
    let stdout = create("scheduled", &["--object-event-bus-arn", bus]);
    assert!(!stdout.contains(bus) && !stdout.contains("EventBridge"), "{stdout}");
}

/// A PUT to moto's S3 as plain HTTP/1.1 (moto checks no signature while IAM enforcement is off):
/// `/bucket` makes a bucket, `/bucket/key` an object. Std only, as the rest of this file.
fn s3_put(endpoint: &str, path: &str, body: &[u8]) {
    use std::io::{Read, Write};
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let head =
        format!("PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "PUT {path}: {answer}");
}

/// `data` gzip'd by the system's gzip.
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("gzip")
        .args(["-c", "-n"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    child.stdin.take().unwrap().write_all(data).unwrap();
    child.wait_with_output().unwrap().stdout
}

/// `templates draft`: from a local file, the template on stdout (format, types and their formats,
/// header) and what the draft could not tell on stderr, `--json` the whole draft; from a gzip'd
/// object of a connection's bucket, read through its role. Both save with `templates put`.
#[test]
fn a_template_is_drafted_from_a_local_file_or_an_object_of_a_connections_bucket() {
    use serde_json::{json, Value};
    needs!(Moto);
    let run = against_moto();
    assert_eq!(run(&["init"]).0, Some(0));
    let dir = std::env::temp_dir().join(format!("s3c-draft-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = "Order ID;Amount;Paid At;Day;Active;Note\n\
               A1;1.50;2026-11-02 10:00:00;13/11/2026;yes;\n\
               A2;2;2026-11-03 11:30:00;01/11/2026;no;x\n";
    let sample = dir.join("orders-2026-11.csv");
    std::fs::write(&sample, csv).unwrap();
    let sample = sample.to_str().unwrap();
    let (code, stdout, stderr) = run(&["templates", "draft", "--sample", sample]);
    assert_eq!(code, Some(0), "{stderr}");
    let template: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((&template["id"], &template["record_type"]), (&json!("orders"), &json!("orders")));
    assert_eq!(
        template["format"],
        json!({"type": "csv", "delimiter": ";", "quote": "\"", "header": true, "encoding": "utf-8"})
    );
    let columns: Vec<Value> = template["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["source"], c["field"], c["type"], c.get("format"), c["required"]]))
        .collect();
    assert_eq!(
        columns,
        [
            json!(["Order ID", "order_id", "string", null, true]),
            json!(["Amount", "amount", "decimal", null, true]),
            json!(["Paid At", "paid_at", "timestamp", "%Y-%m-%d %H:%M:%S%.f", true]),
            json!(["Day", "day", "date", "%d/%m/%Y", true]),
            json!(["Active", "active", "boolean", null, true]),
            json!(["Note", "note", "string", null, false]),
        ]
    );
    assert!(stderr.contains("drafted from 2 row(s) of") && !stderr.contains("warning"), "{stderr}");
    let saved = dir.join("orders.json");
    std::fs::write(&saved, &stdout).unwrap();
    let (code, stdout, stderr) = run(&["templates", "put", saved.to_str().unwrap()]);
    assert_eq!((code, stdout.trim()), (Some(0), "template orders saved (version 1)"), "{stderr}");
    let (code, stdout, _) = run(&["templates", "draft", "--sample", sample, "--rows", "1", "--id", "o", "--json"]);
    let drafted: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((code, &drafted["rows_sampled"], &drafted["template"]["id"]), (Some(0), &json!(1), &json!("o")));
    assert_eq!(drafted["warnings"], json!(["column 'Note' is empty in every sampled row: typed string"]));

    // Through a connection: a gzip'd object of its bucket.
    let endpoint = local_aws::endpoint();
    let bucket = format!("s3c-cli-draft-{}", std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos());
    s3_put(&endpoint, &format!("/{bucket}"), b"");
    let payments = "id,amount,paid\np1,1.50,true\np2,2,false\n";
    s3_put(&endpoint, &format!("/{bucket}/in/payments-2026-11.csv.gz"), &gzip(payments.as_bytes()));
    let create = ["connections", "create", "--tenant", "acme", "--name", "drafts", "--account-id", "123456789012"];
    let location = ["--bucket", &bucket, "--region", "us-east-1", "--folder", "in", "--template", "orders", "--json"];
    let (code, stdout, stderr) = run(&[&create[..], &location[..]].concat());
    assert_eq!(code, Some(0), "{stderr}");
    let created: Value = serde_json::from_str(&stdout).unwrap();
    let id = created["connection"]["id"].as_str().unwrap();
    let (code, stdout, stderr) =
        run(&["templates", "draft", "--sample", "in/payments-2026-11.csv.gz", "--connection", id]);
    assert_eq!(code, Some(0), "{stderr}");
    let template: Value = serde_json::from_str(&stdout).unwrap();
    let types: Vec<&str> =
        template["columns"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!((template["id"].as_str(), types), (Some("payments"), vec!["string", "decimal", "boolean"]));
    let saved = dir.join("payments.json");
    std::fs::write(&saved, &stdout).unwrap();
    let (code, stdout, stderr) = run(&["templates", "put", saved.to_str().unwrap()]);
    assert_eq!((code, stdout.trim()), (Some(0), "template payments saved (version 1)"), "{stderr}");

    // What is wrong is named, exit 2.
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["--sample", "payments-2026-11.csv.gz", "--connection", id], "key: no object 'payments-2026-11.csv.gz'"),
        (&["--sample", "in/payments-2026-11.csv.gz", "--connection", "nope"], "no connection 'nope'"),
        (&["--sample", empty.to_str().unwrap()], "the sample is empty"),
        (&["--sample", sample, "--rows", "0"], "rows: must be 1 to 10000"),
        (&["--sample", sample, "--id", "a b"], "id: 'a b' must be 1-128 characters"),
    ];
    for (args, expected) in cases {
        let (code, _, stderr) = run(&[&["templates", "draft"][..], args].concat());
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
