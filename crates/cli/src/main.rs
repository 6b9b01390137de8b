//! `s3-connector`: the operator CLI. Every command is a few lines over the same management service
//! the HTTP API calls ([`connector_core::manage::Management`]), built once here over the AWS
//! adapters; `sync` runs the worker's engine in this process.
//!
//! - [`args`]: the commands and flags (`--help`);
//! - [`connections`], [`files`], [`templates`], [`sync`]: the commands;
//! - [`print`]: text for people (`--json` prints the API's JSON instead).
//!
//! Honors AWS_ENDPOINT_URL (moto) and the standard AWS environment; table names come from flags or
//! S3C_STATE_TABLE / S3C_RECORDS_TABLE. Exit codes: 0 done, 1 failed, 2 the input or the
//! connection's state is at fault.

mod args;
mod connections;
mod files;
mod print;
mod queue;
mod sync;
mod templates;

use anyhow::Context;
use args::{Cli, Command};
use clap::Parser;
use connector_aws::config::{Aws, Settings};
use connector_aws::dynamodb::tables;
use connector_aws::Deployment;
use connector_core::manage::ManageError;
use connector_core::ports::{SourceError, StoreError};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

/// How a command ended, as its exit code says.
pub enum Done {
    Ok,
    /// It ran, and what it did failed (exit 1).
    Failed,
    /// The connection's state does not allow it (exit 2).
    Refused,
}

/// An error that is the operator's input: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// The worker's allocator (see crates/worker), so that `s3-connector sync` measures as the worker runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("S3C_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    let tables = [cli.tables.state_table.clone(), cli.tables.records_table.clone()];
    match run(cli).await {
        Ok(Done::Ok) => ExitCode::SUCCESS,
        Ok(Done::Failed) => ExitCode::FAILURE,
        Ok(Done::Refused) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {}", report(&e, &tables));
            if is_bad_input(&e) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Whether the error is the operator's to fix: their input, or a management error other than the
/// store's.
fn is_bad_input(e: &anyhow::Error) -> bool {
    e.downcast_ref::<BadInput>().is_some()
        || e.downcast_ref::<ManageError>().is_some_and(|e| !matches!(e, ManageError::Store(_)))
}

/// An error for people, on one line, every command alike, each layer's part said once:
/// - a table that does not exist (DynamoDB's ResourceNotFoundException, anywhere in the chain) is
///   told as such, with what to do;
/// - a layer whose message its outer layer already holds is left out;
/// - the chain ends at the core's `StoreError` or `SourceError`, whose message already holds the
///   service's code and message: the SDK errors under it would say them twice more.
fn report(e: &anyhow::Error, [state_table, records_table]: &[String; 2]) -> String {
    if tables::is_missing_table(e.as_ref()) {
        return format!(
            "table {state_table} or {records_table} does not exist (DynamoDB ResourceNotFoundException): run \
             `s3-connector init` to create them"
        );
    }
    let mut parts: Vec<String> = Vec::new();
    for layer in e.chain() {
        let text = layer.to_string();
        if !parts.last().is_some_and(|outer| outer.contains(&text)) {
            parts.push(text);
        }
        if layer.is::<StoreError>() || layer.is::<SourceError>() {
            break;
        }
    }
    parts.join(": ")
}

/// Asks `question` on the terminal; true when the answer is `expected`. Without a terminal it
/// refuses, saying to pass --yes.
pub fn confirm(question: &str, expected: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(BadInput("not asked: no terminal to ask on; add --yes to go ahead".into()).into());
    }
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == expected)
}

async fn run(cli: Cli) -> anyhow::Result<Done> {
    let mut settings = Settings::from_env().map_err(|e| BadInput(e.to_string()))?;
    settings.state_table = cli.tables.state_table;
    settings.records_table = cli.tables.records_table;
    let deployment = Deployment::new(Aws::from_env().await, settings);
    // Activation's first import runs here, in this process.
    let service = deployment.in_process();
    match cli.command {
        Command::Init => {
            let client = deployment.aws.dynamodb();
            let (state, records) = (&deployment.settings.state_table, &deployment.settings.records_table);
            let changed = tables::create_tables(&client, state, records).await.context("creating tables")?;
            for table in &changed.created {
                println!("created table {table}");
            }
            for (table, index) in &changed.indexes_added {
                println!("added index {index} to table {table}, which an older version made");
            }
            println!("tables ready: {state} {records}");
            // Locally, the rejects bucket too (a stack creates its own, RejectsBucket).
            if let Some(bucket) = &deployment.settings.rejects_bucket {
                let created = deployment.aws.s3_own().create_bucket().bucket(bucket).send().await;
                match created {
                    Ok(_) => println!("created the rejects bucket {bucket}"),
                    Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => {
                        println!("rejects bucket ready: {bucket}")
                    }
                    Err(e) => {
                        return Err(anyhow::anyhow!(connector_aws::errors::describe(&e)))
                            .context(format!("creating the rejects bucket {bucket}"))
                    }
                }
            }
            Ok(Done::Ok)
        }
        Command::Templates(command) => templates::run(&service, command).await,
        Command::Connections(command) => connections::run(&service, command).await,
        Command::Sync { all: true, concurrency, output, .. } => sync::all(&deployment, concurrency, output).await,
        Command::Sync { connection_id, output, .. } => {
            let connection_id = connection_id.ok_or_else(|| BadInput("a connection id or --all is needed".into()))?;
            sync::one(&deployment, &service, &connection_id, output).await
        }
        Command::Files { action, connection_id, failed, output } => {
            files::files(&service, action, connection_id, failed, output).await
        }
        Command::Reimport { connection_id, keys, output } => {
            files::reimport(&service, &connection_id, keys, output).await
        }
        Command::Backfill { connection_id, since, output } => {
            files::backfill(&service, &connection_id, &since, output).await
        }
        Command::Records { connection_id, limit, after } => {
            files::records(&service, &connection_id, limit, after.as_deref()).await
        }
        Command::Intake { queue_url, batching_window_seconds, batch_size, until_quiet_seconds } => {
            let window = std::time::Duration::from_secs(batching_window_seconds);
            let quiet = until_quiet_seconds.map(std::time::Duration::from_secs);
            queue::run(&deployment, &queue_url, window, batch_size.max(1), quiet).await
        }
    }
}
