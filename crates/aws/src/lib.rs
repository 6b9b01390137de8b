//! AWS adapters of s3-connector: they implement the core's ports over the AWS SDK for Rust.
//!
//! - [`config`]: settings from the environment and the one factory for SDK clients (endpoint
//!   override for moto, path-style S3);
//! - [`s3`]: [`s3::RoleAccess`] assumes a connection's role (STS, external id, refreshed
//!   credentials) and gives an [`s3::S3Source`] that lists and reads with ExpectedBucketOwner;
//! - [`state`]: the state table (connections, names, templates, leases, ledger, runs);
//! - [`records`]: the records table and its BatchWriteItem writer;
//! - [`tables`]: table creation for `init`, the demo and tests;
//! - [`invoke`]: asynchronous worker invocations for the dispatcher;
//! - [`errors`]: the one place SDK errors become the core's error kinds.
//!
//! [`Deployment`] wires them into the core's [`connector_core::engine::Engine`].

pub mod config;
pub mod errors;
pub mod invoke;
pub mod manage;
pub mod records;
pub mod recovery;
pub mod s3;
pub mod state;
pub mod tables;

use config::{Aws, Settings};
use connector_core::engine::{Engine, Invocation, SyncError, SyncOutcome};
use connector_core::ports::SystemClock;

/// Everything a sync needs, built once per process (a Lambda container or the CLI).
pub struct Deployment {
    pub aws: Aws,
    pub settings: Settings,
    pub state: state::StateTable,
    pub records: records::RecordsTable,
    pub sources: s3::RoleAccess,
}

impl Deployment {
    pub fn new(aws: Aws, settings: Settings) -> Deployment {
        let dynamodb = aws.dynamodb();
        Deployment {
            state: state::StateTable::new(dynamodb.clone(), &settings.state_table),
            records: records::RecordsTable::new(dynamodb, &settings.records_table),
            sources: s3::RoleAccess {
                aws: aws.clone(),
                page_size: settings.list_page_size,
                read_ahead: settings.read_ahead,
            },
            aws,
            settings,
        }
    }

    /// Loads the SDK configuration and settings from the environment.
    pub async fn from_env() -> Result<Deployment, config::SettingsError> {
        Ok(Deployment::new(Aws::from_env().await, Settings::from_env()?))
    }

    /// The one way to sync a connection here: one invocation's part of a run (the CLI's sync, the
    /// worker Lambda's, in-process workers'), with a fresh invocation id owning the lease. It goes
    /// on with a run a checkpoint left, if any, and hands over at `request.hand_over_at`.
    pub async fn sync(&self, request: SyncRequest<'_>) -> Result<SyncOutcome, SyncError> {
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let engine = Engine {
            store: &self.state,
            sink: &self.records,
            buckets: &self.sources,
            clock: &SystemClock,
            config: self.settings.sync.clone(),
        };
        let call = Invocation {
            connection_id: request.connection_id,
            invocation_id: &invocation_id,
            schedule_run: request.schedule_run,
            hand_over_at: request.hand_over_at,
        };
        engine.run(call).await
    }
}

/// What [`Deployment::sync`] is asked: which connection, for which scheduled event, until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncRequest<'a> {
    pub connection_id: &'a str,
    /// The scheduled event that asked for the sync (the worker's request says), so that a second
    /// delivery of it does nothing; `None` for an operator's sync.
    pub schedule_run: Option<&'a str>,
    /// When to hand over to the next invocation (the worker Lambda's deadline less the margin);
    /// `None` runs to the end.
    pub hand_over_at: Option<std::time::Instant>,
}

impl<'a> SyncRequest<'a> {
    /// An operator's sync of `connection_id`: for no scheduled event, to the end.
    pub fn new(connection_id: &'a str) -> Self {
        SyncRequest { connection_id, schedule_run: None, hand_over_at: None }
    }
}

/// Tracing for the Lambda functions: JSON under Lambda's JSON log format, plain text otherwise;
/// `RUST_LOG` filters (default info).
pub fn init_lambda_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).without_time();
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Why a connection could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<connector_core::connections::InputError>),
    #[error("template '{0}' does not exist; save it first with `templates put`")]
    UnknownTemplate(String),
    #[error(transparent)]
    Create(#[from] state::CreateConnectionError),
    #[error(transparent)]
    Store(#[from] connector_core::ports::StoreError),
}

/// A created connection and what the customer needs to create its role.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CreatedConnection {
    pub connection: connector_core::model::Connection,
    pub role_arn: String,
    pub permission_policy: serde_json::Value,
    pub trust_policy: serde_json::Value,
}

impl Deployment {
    /// The principals customers' trust policies name: S3C_TRUST_PRINCIPALS, or the caller's identity.
    pub async fn trust_principals(&self) -> Result<Vec<String>, CreateError> {
        if !self.settings.trust_principals.is_empty() {
            return Ok(self.settings.trust_principals.clone());
        }
        let identity = self.aws.sts().get_caller_identity().send().await.map_err(|e| {
            CreateError::Store(connector_core::ports::StoreError::new(
                connector_core::ports::StoreErrorKind::Other,
                format!(
                    "finding our own identity for the trust policy (set S3C_TRUST_PRINCIPALS): {}",
                    errors::describe(&e)
                ),
            ))
        })?;
        Ok(vec![identity.arn.unwrap_or_default()])
    }

    /// Creates a connection and the documents its role needs. The input is checked before anything
    /// else, so a bad field costs no AWS call.
    pub async fn create_connection_with_policies(
        &self,
        input: connector_core::connections::ConnectionInput,
    ) -> Result<CreatedConnection, CreateError> {
        let connection = validated(input, &self.settings.role_prefix)?;
        let principals = self.trust_principals().await?;
        self.save_new(&connection).await?;
        Ok(CreatedConnection {
            role_arn: connection.role_arn(),
            permission_policy: connector_core::policies::permission_policy(&connection),
            trust_policy: connector_core::policies::trust_policy(&principals, &connection),
            connection,
        })
    }

    /// Validates the input and creates a pending connection with a fresh id and external id.
    pub async fn create_connection(
        &self,
        input: connector_core::connections::ConnectionInput,
    ) -> Result<connector_core::model::Connection, CreateError> {
        let connection = validated(input, &self.settings.role_prefix)?;
        self.save_new(&connection).await?;
        Ok(connection)
    }

    async fn save_new(&self, connection: &connector_core::model::Connection) -> Result<(), CreateError> {
        use connector_core::manage::ports::Templates;
        if self.state.template(&connection.template_id, None).await?.is_none() {
            return Err(CreateError::UnknownTemplate(connection.template_id.clone()));
        }
        self.state.create_connection(connection).await?;
        Ok(())
    }
}

/// A new pending connection from the input, with a fresh id and external id, or the fields at fault.
fn validated(
    input: connector_core::connections::ConnectionInput,
    role_prefix: &str,
) -> Result<connector_core::model::Connection, CreateError> {
    let (id, external_id) = (new_connection_id(), new_external_id());
    connector_core::connections::new_connection(input, id, external_id, role_prefix, chrono::Utc::now())
        .map_err(CreateError::Invalid)
}

/// A short, unique connection id.
pub fn new_connection_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..20].to_owned()
}

/// 32 bytes from rand's thread generator (a CSPRNG seeded and reseeded from the OS), hex:
/// unguessable, one per connection; the trust policy's confused-deputy protection rests on it.
pub fn new_external_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs workers in this process instead of through Lambda: `s3-connector sync --all` and tests.
pub struct InProcessWorkers<'a> {
    pub connector: &'a Deployment,
}

#[async_trait::async_trait]
impl connector_core::dispatch::WorkerInvoker for InProcessWorkers<'_> {
    async fn invoke(
        &self,
        request: &connector_core::dispatch::WorkerRequest,
    ) -> Result<(), connector_core::dispatch::InvokeError> {
        // A failed run is not retried here: in Lambda the invocation's own retries would do that.
        let sync =
            SyncRequest { schedule_run: request.schedule_run.as_deref(), ..SyncRequest::new(&request.connection_id) };
        match self.connector.sync(sync).await {
            // A run that ended needs_reauth is a failure for whoever started it (`sync --all` exits 1).
            Ok(connector_core::engine::SyncOutcome::Completed(run))
                if run.result == connector_core::model::SyncResult::NeedsReauth =>
            {
                Err(connector_core::dispatch::InvokeError {
                    retryable: false,
                    message: format!("needs_reauth: {}", run.error.unwrap_or_default()),
                })
            }
            Ok(_) => Ok(()),
            Err(e) => Err(connector_core::dispatch::InvokeError { retryable: false, message: e.to_string() }),
        }
    }
}

impl Deployment {
    /// One scheduled fan-out over the active connections.
    pub async fn dispatch(
        &self,
        workers: &dyn connector_core::dispatch::WorkerInvoker,
        schedule_run: &str,
        config: &connector_core::dispatch::DispatchConfig,
    ) -> Result<connector_core::dispatch::DispatchSummary, connector_core::ports::StoreError> {
        connector_core::dispatch::dispatch(&self.state, workers, &SystemClock, schedule_run, config).await
    }
}
