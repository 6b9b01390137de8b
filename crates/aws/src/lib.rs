//! AWS adapters of s3-connector: they implement the core's ports over the AWS SDK for Rust.
//!
//! - [`config`]: settings from the environment and the one factory for SDK clients (endpoint
//!   override for moto, path-style S3);
//! - [`s3`]: [`s3::RoleAccess`] assumes a connection's role (STS, external id, refreshed
//!   credentials) and gives an [`s3::S3Source`] that lists and reads with ExpectedBucketOwner;
//! - [`dynamodb`]: the state table (connections, names, templates, leases, ledger, runs,
//!   checkpoints) and the records table, every key they use, and their creation for `init`;
//! - [`logging`]: the functions' tracing, as Lambda's log level and format say;
//! - [`metrics`]: CloudWatch metrics of runs and dispatches, in the embedded metric format;
//! - [`trust`]: who customers' trust policies name (the settings, or STS GetCallerIdentity);
//! - [`invoke`]: asynchronous worker invocations for the dispatcher;
//! - [`events`]: run and status events on the deployment's EventBridge bus;
//! - [`forwarding`]: the customer accounts the object event bus takes events from;
//! - [`rejects`]: the rejects bucket, where files' rejected rows are handed back;
//! - [`identity`]: the dashboard's sign-in (Cognito), an issuer's keys, the signing key;
//! - [`oidc`]: the dashboard's sign-in at the platform's own issuer (authorization code, PKCE);
//! - [`errors`]: the one place SDK errors become the core's error kinds.
//!
//! [`Deployment`] wires them, once per process, into the core's engine ([`Deployment::sync`]) and
//! its management service ([`Deployment::management`], [`Deployment::in_process`]).

pub mod config;
pub mod deadline;
pub mod dynamodb;
pub mod errors;
pub mod events;
pub mod forwarding;
pub mod identity;
pub mod invoke;
pub mod logging;
pub mod metrics;
pub mod oidc;
pub mod rejects;
pub mod s3;

pub use deadline::hand_over_at;
pub mod trust;

pub use logging::init_lambda_tracing;

use config::{Aws, Settings};
use connector_core::engine::{Engine, Invocation, SyncError, SyncOutcome};
use connector_core::manage::{ManageConfig, Management};
use connector_core::ports::SystemClock;

/// Everything a sync needs, built once per process (a Lambda container or the CLI).
pub struct Deployment {
    pub aws: Aws,
    pub settings: Settings,
    pub state: dynamodb::StateTable,
    pub records: dynamodb::RecordsTable,
    pub sources: s3::RoleAccess,
    pub principals: trust::StsPrincipals,
    /// Where run and status events go (`settings.event_bus`).
    pub events: events::EventBridgePublisher,
    /// Who may forward object events to `settings.object_event_bus`; None without that bus.
    pub forwarding: Option<forwarding::EventBusAccounts>,
    /// Where rejected rows are handed back (`settings.rejects_bucket`); None without that bucket.
    pub rejects: Option<rejects::S3Rejects>,
    /// What connection management is configured with (from `settings`).
    pub manage: ManageConfig,
}

impl Deployment {
    pub fn new(aws: Aws, settings: Settings) -> Deployment {
        let dynamodb = aws.dynamodb();
        Deployment {
            state: dynamodb::StateTable::new(dynamodb.clone(), &settings.state_table),
            records: dynamodb::RecordsTable::new(dynamodb, &settings.records_table),
            principals: trust::StsPrincipals::new(&aws, &settings),
            events: events::EventBridgePublisher::new(aws.eventbridge(), &settings.event_bus),
            forwarding: settings
                .object_event_bus
                .as_deref()
                .map(|arn| forwarding::EventBusAccounts::new(aws.eventbridge(), arn)),
            rejects: settings.rejects_bucket.as_deref().map(|bucket| rejects::S3Rejects::new(aws.s3_own(), bucket)),
            sources: s3::RoleAccess {
                aws: aws.clone(),
                page_size: settings.list_page_size,
                read_ahead: settings.read_ahead,
            },
            manage: ManageConfig { role_prefix: settings.role_prefix.clone(), sync: settings.sync.clone() },
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
            events: &self.events,
            rejects: self.rejects.as_ref().map(|r| r as &dyn connector_core::ports::RejectsStore),
            clock: &SystemClock,
            config: self.settings.sync.clone(),
        };
        let call = Invocation {
            connection_id: request.connection_id,
            invocation_id: &invocation_id,
            schedule_run: request.schedule_run,
            request_id: request.request_id,
            hand_over_at: request.hand_over_at,
            named: request.named,
        };
        engine.run(call).await
    }

    /// The run to start after a run finished and let go of the lease, if any: the scan a scheduled
    /// event owes (the dispatcher found the lease held), else one of the keys kept meanwhile (object
    /// events that came while the lease was held, which the intake kept and could not run), rather
    /// than leave them to the next scan. Both are written on the condition that the lease is held,
    /// or before the lease is tried again, so what could not run is always seen here. Best effort:
    /// what a failed read misses waits for the connection's next run.
    pub async fn next_run(&self, connection_id: &str) -> Option<connector_core::dispatch::WorkerRequest> {
        use connector_core::dispatch::WorkerRequest;
        use connector_core::ports::SyncStore;
        match self.state.connection(connection_id).await {
            Ok(Some(connection)) => {
                if let Some(schedule_run) = connection.scan_owed {
                    return Some(WorkerRequest {
                        schedule_run: Some(schedule_run),
                        ..WorkerRequest::new(connection_id)
                    });
                }
            }
            Ok(None) => return None,
            Err(e) => tracing::warn!(connection_id, error = %e, "could not read the connection for a scan owed"),
        }
        match self.state.kept_named(connection_id, 1).await {
            Ok(kept) if !kept.is_empty() => Some(connector_core::dispatch::WorkerRequest::for_kept_keys(connection_id)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(connection_id, error = %e, "could not look for kept keys; the next run takes them");
                None
            }
        }
    }
}

/// What [`Deployment::sync`] is asked: which connection, for which scheduled event, until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncRequest<'a> {
    pub connection_id: &'a str,
    /// The scheduled event that asked for the sync (the worker's request says), so that a second
    /// delivery of it does nothing; `None` for an operator's sync.
    pub schedule_run: Option<&'a str>,
    /// An operator's sync's id, the same in Lambda's retries of it.
    pub request_id: Option<&'a str>,
    /// When to hand over to the next invocation (the worker Lambda's deadline less the margin);
    /// `None` runs to the end.
    pub hand_over_at: Option<std::time::Instant>,
    /// Object events' keys: a run of these (and any kept), not a scan. `Some(&[])` runs only the
    /// kept keys.
    pub named: Option<&'a [connector_core::model::NamedKey]>,
}

impl<'a> SyncRequest<'a> {
    /// An operator's sync of `connection_id`: for no scheduled event, to the end.
    pub fn new(connection_id: &'a str) -> Self {
        SyncRequest { connection_id, schedule_run: None, request_id: None, hand_over_at: None, named: None }
    }

    /// What a worker invocation asks for (a scan, for a scheduled event or an operator's request,
    /// or a run of the kept keys), to the end.
    pub fn of_worker(request: &'a connector_core::dispatch::WorkerRequest) -> Self {
        SyncRequest {
            schedule_run: request.schedule_run.as_deref(),
            request_id: request.request_id.as_deref(),
            named: request.events.then_some(&[][..]),
            ..SyncRequest::new(&request.connection_id)
        }
    }
}

impl Deployment {
    /// Connection management over this deployment's tables, buckets and identity; syncs it starts
    /// go to `workers` (Lambda invocations in the API, in-process runs in the CLI).
    pub fn management<'a>(&'a self, workers: &'a dyn connector_core::dispatch::WorkerInvoker) -> Management<'a> {
        Management {
            admin: &self.state,
            store: &self.state,
            history: &self.state,
            records: &self.records,
            buckets: &self.sources,
            workers,
            principals: &self.principals,
            events: &self.events,
            forwarding: self.forwarding.as_ref().map(|f| f as &dyn connector_core::manage::ports::ForwardingAccounts),
            rejects: self.rejects.as_ref().map(|r| r as &dyn connector_core::ports::RejectsStore),
            clock: &SystemClock,
            config: &self.manage,
        }
    }

    /// Connection management whose syncs run in this process (the CLI, tests).
    pub fn in_process(&self) -> Management<'_> {
        self.management(self)
    }
}

/// A deployment runs a worker in this process instead of through Lambda: activation's first
/// import in the CLI, `s3-connector sync --all`, and tests.
#[async_trait::async_trait]
impl connector_core::dispatch::WorkerInvoker for Deployment {
    async fn invoke(
        &self,
        request: &connector_core::dispatch::WorkerRequest,
    ) -> Result<(), connector_core::dispatch::InvokeError> {
        // A failed run is not retried here: in Lambda the invocation's own retries would do that.
        let synced = self.sync(SyncRequest::of_worker(request)).await;
        if let Ok(connector_core::engine::SyncOutcome::Completed(_)) = &synced {
            // As the worker does: a scan owed, or keys kept while this run held the lease, run now
            // (once; what they leave waits for the next run).
            if let Some(next) = self.next_run(&request.connection_id).await {
                if let Err(e) = self.sync(SyncRequest::of_worker(&next)).await {
                    tracing::warn!(error = %e, "the run started after this one failed; the next run takes its work");
                }
            }
        }
        match synced {
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
