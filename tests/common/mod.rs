//! Harness of the integration tests: a real moto server (scripts/test.sh's, or one of the test
//! process's own: see [`local_aws`]), and per-test tables and buckets named with a uuid so tests
//! run in parallel. Each test begins with `needs!(Moto)` (or what else it needs), which skips it,
//! or under scripts/test.sh fails it, when that is missing. The dashboard's tests add a real
//! browser ([`browser`]) and the api function under cargo lambda watch with sign-in ([`dashboard`]).
#![allow(dead_code)]

pub mod browser;
pub mod cognito;
pub mod dashboard;
pub mod esm;
pub mod faults;
pub mod local_aws;
pub mod oidc;
pub mod template;

/// The ports tests read the state table through (their methods in scope with `use common::*`).
#[allow(unused_imports)]
pub use connector_core::manage::ports::{RunHistory, Templates};
pub use local_aws::endpoint;
pub(crate) use local_aws::needs;

use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, TimeDelta, Utc};
use connector_aws::config::{Aws, Settings};
use connector_aws::dynamodb::tables;
use connector_aws::Deployment;
use connector_core::connections::ConnectionInput;
use connector_core::engine::{SyncConfig, SyncError, SyncOutcome};
use connector_core::model::{Connection, SyncRun};
use connector_core::template::Template;
use std::process::{Child, Command};
use std::time::Duration;

pub const ACCOUNT: &str = "123456789012";

pub const PAYMENTS_TEMPLATE: &str = r#"{
    "id": "payments", "record_type": "payment", "format": {"type": "csv"},
    "columns": [
        {"source": "id", "field": "payment_id", "type": "string", "required": true},
        {"source": "amount", "field": "amount", "type": "decimal", "required": true},
        {"source": "currency", "field": "currency", "type": "enum", "values": ["usd", "eur"], "default": "usd"}
    ]
}"#;

pub async fn aws_at(endpoint: &str, key: &str, secret: &str) -> Aws {
    let credentials = aws_sdk_s3::config::Credentials::new(key, secret, None, None, "test");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .load()
        .await;
    Aws::from_sdk(sdk)
}

/// One test's world: its own tables, bucket and connection on a moto server.
pub struct World {
    pub aws: Aws,
    pub connector: Deployment,
    pub bucket: String,
    pub s3: aws_sdk_s3::Client,
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

impl World {
    pub async fn new(sync: SyncConfig) -> World {
        World::at(aws_at(&endpoint(), "testing", "testing").await, sync).await
    }

    pub async fn at(aws: Aws, sync: SyncConfig) -> World {
        let settings = Settings {
            state_table: unique("state"),
            records_table: unique("records"),
            trust_principals: vec![],
            role_prefix: connector_core::connections::ROLE_PREFIX.into(),
            event_bus: unique("bus"),
            object_event_bus: None,
            // Every world hands rejected rows back, as a deployment does.
            rejects_bucket: Some(unique("rejects")),
            sync,
            list_page_size: None,
            read_ahead: Default::default(),
            hand_over_margin: std::time::Duration::from_secs(60),
        };
        let connector = Deployment::new(aws.clone(), settings);
        tables::create_tables(&aws.dynamodb(), &connector.settings.state_table, &connector.settings.records_table)
            .await
            .expect("creating tables");
        connector.state.put_template(&Template::from_json(PAYMENTS_TEMPLATE).unwrap()).await.unwrap();
        // A bus of the world's own: what a test's rule receives is its own runs' events.
        let bus = aws.eventbridge().create_event_bus().name(&connector.settings.event_bus).send().await;
        bus.expect("creating the event bus");
        let bucket = unique("bucket");
        let s3 = aws.s3_own();
        s3.create_bucket().bucket(&bucket).send().await.expect("creating bucket");
        let rejects = connector.settings.rejects_bucket.as_deref().unwrap();
        s3.create_bucket().bucket(rejects).send().await.expect("creating the rejects bucket");
        World { aws, connector, bucket, s3 }
    }

    pub async fn connection(&self, folder: Option<&str>) -> Connection {
        self.connection_to(&self.bucket.clone(), folder).await
    }

    pub async fn connection_to(&self, bucket: &str, folder: Option<&str>) -> Connection {
        self.connection_reading(bucket, folder, "payments").await
    }

    /// A connection of the world's bucket whose files `template` (a JSON template) reads.
    pub async fn connection_with_template(&self, folder: &str, template: &str) -> Connection {
        let template = Template::from_json(template).expect("a valid template");
        self.connector.state.put_template(&template).await.unwrap();
        self.connection_reading(&self.bucket.clone(), Some(folder), &template.id).await
    }

    async fn connection_reading(&self, bucket: &str, folder: Option<&str>, template_id: &str) -> Connection {
        let input = ConnectionInput {
            tenant: "acme".into(),
            name: unique("customer"),
            account_id: ACCOUNT.into(),
            bucket: bucket.into(),
            region: "us-east-1".into(),
            folder: folder.map(str::to_owned),
            template_id: template_id.into(),
            kms_key_arn: None,
            open_fields: Vec::new(),
            mode: Default::default(),
        };
        self.connector.in_process().create(input).await.expect("creating connection").connection
    }

    /// A connection of tenant `acme` whose bucket and folder the customer fills on the set-up page
    /// (its region us-east-1, the platform's).
    pub async fn connection_with_open_bucket_and_folder(&self) -> Connection {
        let input = ConnectionInput {
            tenant: "acme".into(),
            name: unique("open"),
            account_id: ACCOUNT.into(),
            template_id: "payments".into(),
            ..ConnectionInput::default()
        }
        .located(None, Some("us-east-1".into()), None, true);
        self.connector.in_process().create(input).await.expect("creating connection").connection
    }

    /// Puts an object and returns its LastModified as S3 recorded it.
    pub async fn put(&self, key: &str, body: impl Into<Vec<u8>>) -> DateTime<Utc> {
        self.s3.put_object().bucket(&self.bucket).key(key).body(ByteStream::from(body.into())).send().await.unwrap();
        self.last_modified(key).await
    }

    pub async fn last_modified(&self, key: &str) -> DateTime<Utc> {
        let head = self.s3.head_object().bucket(&self.bucket).key(key).send().await.unwrap();
        let t = head.last_modified.unwrap();
        DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap()
    }

    pub async fn sync(&self, connection_id: &str) -> Result<SyncOutcome, SyncError> {
        self.connector.sync(connector_aws::SyncRequest::new(connection_id)).await
    }

    pub async fn completed(&self, connection_id: &str) -> SyncRun {
        match self.sync(connection_id).await {
            Ok(SyncOutcome::Completed(run)) => run,
            other => panic!("expected a completed sync, got {other:?}"),
        }
    }

    /// Every record of the connection, as (record id, data) sorted by id.
    /// One Scan of the test's own table rather than the 64 partition queries of
    /// `RecordsTable::all`: moto answers each query by reading the whole table.
    pub async fn records(&self, connection_id: &str) -> Vec<(String, serde_json::Value)> {
        let mut pages = self
            .aws
            .dynamodb()
            .scan()
            .table_name(&self.connector.settings.records_table)
            .filter_expression("connection_id = :c")
            .expression_attribute_values(":c", aws_sdk_dynamodb::types::AttributeValue::S(connection_id.into()))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let record = connector_aws::dynamodb::records::item_json(item.unwrap());
            out.push((record["sk"].as_str().unwrap().to_owned(), record["data"].clone()));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// The payment ids of records (of [`PAYMENTS_TEMPLATE`]), in the order given.
pub fn payment_ids(records: &[(String, serde_json::Value)]) -> Vec<&str> {
    records.iter().map(|(_, data)| data["payment_id"].as_str().expect("a payment id")).collect()
}

/// Sleeps until just after the next whole second, so what follows starts early in a second.
pub async fn at_next_second() {
    let now = Utc::now();
    let next = now.timestamp_millis() / 1000 * 1000 + 1000 + 20;
    tokio::time::sleep(Duration::from_millis((next - now.timestamp_millis()) as u64)).await;
}

/// A test sync configuration: the first sync looks back `lookback`, later ones `overlap` before the
/// watermark.
pub fn config(lookback: TimeDelta, overlap: TimeDelta) -> SyncConfig {
    let mut config = SyncConfig::default();
    config.selection.initial_lookback = lookback;
    config.selection.overlap = overlap;
    config
}

/// A moto server of a test's own, for server-wide switches like IAM enforcement (`needs!(OwnMoto)`).
pub struct OwnMoto {
    pub endpoint: String,
    moto: local_aws::Moto,
}

impl OwnMoto {
    pub async fn start() -> OwnMoto {
        let moto = local_aws::Moto::start(None).unwrap_or_else(|e| panic!("{e}"));
        OwnMoto { endpoint: moto.endpoint.clone(), moto }
    }

    /// Turns IAM enforcement on (`"0"`: from now on) or off (`"inf"`), server-wide.
    pub fn set_auth(&self, value: &str) {
        post(&self.endpoint, "/moto-api/reset-auth", "text/plain", value);
    }
}

/// A plain HTTP POST to moto's own control API (not an AWS API).
fn post(endpoint: &str, path: &str, content_type: &str, body: &str) {
    use std::io::{Read, Write};
    let address = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"), "{path}: {response}");
}

/// The real Lambda binaries of the workspace under `cargo lambda watch` (cargo-lambda from the
/// project's .venv), serving the Lambda Invoke API on a loopback port.
pub struct LambdaWatch {
    pub endpoint: String,
    /// Where cargo lambda watch and the functions write (their stdout and stderr, as Lambda would
    /// send them to CloudWatch Logs), kept after the test for a look.
    pub log: std::path::PathBuf,
    child: Child,
}

impl LambdaWatch {
    /// Starts the emulator; the functions see `env` (`{endpoint}` in a value replaced by the
    /// emulator's address), and compile on their first invocation.
    pub async fn start(env: &[(&str, String)]) -> LambdaWatch {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut command = Command::new("cargo");
        command.args(["lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port", &port.to_string()]);
        // cargo-lambda from .venv when it is not on PATH (scripts/test.sh puts .venv/bin there).
        if let Some(path) = local_aws::cargo_lambda_path() {
            command.env("PATH", path);
        }
        // The dispatcher invokes the worker through this same emulator; everything else is moto.
        command.args(["--env-var", &format!("AWS_ENDPOINT_URL_LAMBDA={endpoint}")]);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        // `{endpoint}` in a value is the emulator's address (known only here: its port is free now).
        for (key, value) in env {
            command.args(["--env-var", &format!("{key}={}", value.replace("{endpoint}", &endpoint))]);
        }
        let log_path = format!("{}/cargo-lambda-watch-{port}.log", env!("CARGO_TARGET_TMPDIR"));
        let log = std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("{log_path}: {e}"));
        let child = command
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting cargo lambda watch: {e} (scripts/test.sh installs cargo-lambda into .venv)")
            });
        let watch = LambdaWatch { endpoint, log: log_path.clone().into(), child };
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return watch;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("cargo lambda watch did not listen on {port}; see {log_path}");
    }

    /// A Lambda client for the emulator, with long timeouts: a function compiles on first use.
    pub async fn client(&self) -> aws_sdk_lambda::Client {
        let sdk = aws_at(&self.endpoint, "testing", "testing").await.sdk;
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(Duration::from_secs(900))
            .read_timeout(Duration::from_secs(900))
            .build();
        let config = aws_sdk_lambda::config::Builder::from(&sdk).timeout_config(timeouts).build();
        aws_sdk_lambda::Client::from_conf(config)
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        // SIGTERM lets cargo lambda watch stop the function instances it started (each in a session
        // of its own, so a signal to its process group would not reach them); SIGKILL if it hangs.
        // Not `/usr/bin/kill -TERM -PGID`: Debian 12's procps-ng 4.0.2 turns that into kill(-1), a
        // signal to every process of the user, which ended whole CI runs.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `data` gzipped, as a customer's tool would write it.
#[allow(dead_code)] // not every test file gzips
pub fn gzip(data: &[u8]) -> Vec<u8> {
    connector_core::decode::compress(connector_core::decode::Compression::Gzip, data)
}

/// A world on a moto of its own where IAM will be enforced (server-wide in moto): our identity is
/// an IAM user, `worker`, allowed to assume roles and use the tables, named by the trust policies
/// `connections create` generates. Customers' roles are made with [`IamWorld::role`]; then
/// `moto.set_auth("0")` turns enforcement on.
pub struct IamWorld {
    pub moto: OwnMoto,
    pub iam: aws_sdk_iam::Client,
    pub world: World,
}

impl IamWorld {
    pub async fn new(sync: SyncConfig) -> IamWorld {
        let moto = OwnMoto::start().await;
        let admin = aws_at(&moto.endpoint, "admin", "admin").await;
        let iam = aws_sdk_iam::Client::new(&admin.sdk);
        iam.create_user().user_name("worker").send().await.unwrap();
        iam.put_user_policy()
            .user_name("worker")
            .policy_name("worker")
            .policy_document(r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:GetCallerIdentity", "dynamodb:*", "s3:*"], "Resource": "*"}]}"#)
            .send()
            .await
            .unwrap();
        let key = iam.create_access_key().user_name("worker").send().await.unwrap().access_key.unwrap();
        let worker = aws_at(&moto.endpoint, &key.access_key_id, &key.secret_access_key).await;
        let world = World::at(worker, sync).await;
        let mut settings = world.connector.settings.clone();
        settings.trust_principals = vec![format!("arn:aws:iam::{ACCOUNT}:user/worker")];
        let world = World { connector: Deployment::new(world.aws.clone(), settings), ..world };
        IamWorld { moto, iam, world }
    }

    /// Creates a connection to the world's bucket, folder `folder`.
    pub async fn create(&self, folder: &str) -> connector_core::manage::connections::CreatedConnection {
        let input = ConnectionInput {
            tenant: "acme".into(),
            name: unique("customer"),
            account_id: ACCOUNT.into(),
            bucket: self.world.bucket.clone(),
            region: "us-east-1".into(),
            folder: Some(folder.into()),
            template_id: "payments".into(),
            kms_key_arn: None,
            open_fields: Vec::new(),
            mode: Default::default(),
        };
        self.world.connector.in_process().create(input).await.unwrap()
    }

    /// The customer creates the connection's role with these policies.
    pub async fn role(
        &self,
        created: &connector_core::manage::connections::CreatedConnection,
        trust: &serde_json::Value,
        permissions: &serde_json::Value,
    ) {
        let name = &created.connection.role_name;
        self.iam.create_role().role_name(name).assume_role_policy_document(trust.to_string()).send().await.unwrap();
        self.iam
            .put_role_policy()
            .role_name(name)
            .policy_name("s3-connector")
            .policy_document(permissions.to_string())
            .send()
            .await
            .unwrap();
    }
}
