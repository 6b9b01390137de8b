//! `s3-connector`: the operator CLI. Every command is a thin call into the same library the Lambdas use.
//!
//! Honors AWS_ENDPOINT_URL (moto) and the standard AWS environment; table names come from flags or
//! S3C_STATE_TABLE / S3C_RECORDS_TABLE. Exit codes: 0 done, 1 failed, 2 bad input.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use connector_aws::config::{Aws, Settings, DEFAULT_RECORDS_TABLE, DEFAULT_STATE_TABLE};
use connector_aws::manage::ManageError;
use connector_aws::recovery::{parse_since, AskedAgain, RetrySelection};
use connector_aws::{tables, CreateError, Deployment, InProcessWorkers};
use connector_core::connections::ConnectionInput;
use connector_core::dispatch::DispatchConfig;
use connector_core::engine::{SyncError, SyncOutcome};
use connector_core::model::SyncResult;
use connector_core::ports::{SourceError, StoreError};
use connector_core::template::Template;
use serde_json::json;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "s3-connector", version, about = "Import files from customers' S3 buckets into DynamoDB")]
struct Cli {
    #[command(flatten)]
    tables: TableArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct TableArgs {
    /// State table (connections, templates, ledger, runs).
    #[arg(long, global = true, env = "S3C_STATE_TABLE", default_value = DEFAULT_STATE_TABLE)]
    state_table: String,
    /// Records table (imported rows).
    #[arg(long, global = true, env = "S3C_RECORDS_TABLE", default_value = DEFAULT_RECORDS_TABLE)]
    records_table: String,
}

#[derive(Subcommand)]
enum Command {
    /// Create the state and records tables, or add the indexes tables made by an older version
    /// lack (idempotent).
    Init,
    /// Data templates.
    #[command(subcommand)]
    Templates(TemplateCommand),
    /// Connections.
    #[command(subcommand)]
    Connections(ConnectionCommand),
    /// Sync one connection now, in this process (what the worker Lambda does); with --all, every
    /// active connection, as the daily dispatcher does, with the workers in this process.
    Sync {
        #[arg(required_unless_present = "all")]
        connection_id: Option<String>,
        #[arg(long, conflicts_with = "connection_id")]
        all: bool,
        /// With --all: connections synced at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        #[arg(long)]
        json: bool,
    },
    /// Per-object outcomes of a connection, with their row errors; `files retry` asks for some again.
    #[command(args_conflicts_with_subcommands = true)]
    Files {
        #[command(subcommand)]
        action: Option<FilesCommand>,
        connection_id: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The next sync imports these objects again, even if they are imported already.
    Reimport {
        connection_id: String,
        /// An object key (repeat for more).
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// The next sync decides again every object modified since DATE (after a template fix).
    Backfill {
        connection_id: String,
        /// A day (2026-11-01, from midnight UTC) or an RFC 3339 time.
        #[arg(long)]
        since: String,
    },
    /// A page of a connection's imported records (JSON: records, and the token of the next page).
    Records {
        connection_id: String,
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// The `next` token of the previous page.
        #[arg(long)]
        after: Option<String>,
    },
}

#[derive(Subcommand)]
enum FilesCommand {
    /// The next sync decides these objects again: every failed one, or the keys given.
    Retry {
        connection_id: String,
        #[arg(long, conflicts_with = "keys", required_unless_present = "keys")]
        failed: bool,
        /// An object key (repeat for more).
        #[arg(long = "key")]
        keys: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TemplateCommand {
    /// Validate and save a template from a JSON file, as its next version.
    Put { file: std::path::PathBuf },
    /// Every template's current version.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One template's current document.
    Show { template_id: String },
    /// Delete a template (refused while a connection uses it).
    Delete { template_id: String },
}

#[derive(Subcommand)]
enum ConnectionCommand {
    /// How many hours before its watermark a connection's syncs look again (a multipart upload that
    /// takes at most this long is always caught); `default` for the deployment's S3C_OVERLAP_SECONDS.
    SetOverlap {
        connection_id: String,
        hours: String,
    },
    /// Create a pending connection; prints its id, external id and the role to create.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        account_id: String,
        #[arg(long)]
        bucket: String,
        #[arg(long)]
        region: String,
        #[arg(long)]
        folder: Option<String>,
        /// Template id.
        #[arg(long)]
        template: String,
        /// The key ARN of the KMS key the objects are encrypted with (SSE-KMS), in the bucket's
        /// region: the permission policy then allows kms:Decrypt on that key.
        #[arg(long, value_name = "ARN")]
        kms_key_arn: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// A connection's status, last sync and counts.
    Show {
        connection_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Every connection with its status and last sync.
    List {
        #[arg(long)]
        json: bool,
    },
    /// What the connection sees: the first objects and what the next sync would do with each;
    /// with --sample KEY, that object's first rows parsed against the template.
    Preview {
        connection_id: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        sample: Option<String>,
        #[arg(long, default_value_t = 5)]
        rows: usize,
        #[arg(long)]
        json: bool,
    },
    /// Check access (each object read, with its result), set active and run the first import (in
    /// this process).
    Activate {
        connection_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Check access of a needs_reauth connection again (each object read, with its result) and set
    /// it active.
    Reauth {
        connection_id: String,
        #[arg(long)]
        json: bool,
    },
    Pause {
        connection_id: String,
    },
    Resume {
        connection_id: String,
    },
    Rename {
        connection_id: String,
        name: String,
    },
    /// Use another template from the next sync on.
    SetTemplate {
        connection_id: String,
        template_id: String,
    },
    /// Delete the connection, its sync state and ledger; its records too with --purge-records.
    Delete {
        connection_id: String,
        #[arg(long)]
        purge_records: bool,
    },
    /// The connection's recent sync runs, newest first.
    Runs {
        connection_id: String,
        #[arg(long, default_value_t = 10)]
        limit: i32,
        #[arg(long)]
        json: bool,
    },
}

/// One line for a sync run.
fn run_line(r: &connector_core::model::SyncRun) -> anyhow::Result<String> {
    let c = &r.counts;
    Ok(format!(
        "{} {:<12} files {} imported {} partial {} failed {} skipped; rows {} imported {} rejected{}",
        r.started_at.format("%Y-%m-%d %H:%M:%S"),
        serde_json::to_value(r.result)?.as_str().unwrap_or("?"),
        c.files_imported,
        c.files_partial,
        c.files_failed,
        c.files_skipped,
        c.rows_imported,
        c.rows_rejected,
        r.error.as_ref().map(|e| format!("  ({e})")).unwrap_or_default()
    ))
}

/// An object's outcome, then one line per recorded row error.
fn print_outcome(o: &connector_core::model::FileOutcome, indent: &str) {
    println!(
        "{indent}{:<9} {:>8} rows {:>6} rejected  {}{}",
        format!("{:?}", o.status).to_lowercase(),
        o.rows_imported,
        o.rows_rejected,
        o.key,
        o.reason.as_ref().map(|r| format!("  ({r})")).unwrap_or_default()
    );
    for e in &o.row_errors {
        println!(
            "{indent}          row {} line {} {}: {}",
            e.row,
            e.line,
            e.column.as_deref().unwrap_or_default(),
            e.reason
        );
    }
}

/// The access check's report: what it listed, then each object it read with its result and, for
/// one it could not read, why.
fn print_access(access: &connector_core::access::AccessReport) {
    println!(
        "access: the role was assumed, {} objects listed, {} of the {} objects tried read",
        access.objects_listed,
        access.readable(),
        access.objects.len()
    );
    for o in &access.objects {
        println!(
            "  {:<11} {}{}",
            o.result.as_str(),
            o.key,
            o.error.as_ref().map(|e| format!("  ({e})")).unwrap_or_default()
        );
    }
}

/// An error that is the operator's input: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadInput(String);

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
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", report(&e, &tables));
            if e.downcast_ref::<BadInput>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// An error for people, on one line, every command alike, each layer's part said once:
/// - a table that does not exist (DynamoDB's ResourceNotFoundException, anywhere in the chain) is
///   told as such, with what to do;
/// - a layer whose message its outer layer already holds (thiserror's `"state store: {0}"` over
///   its own source) is left out;
/// - the chain ends at the core's `StoreError` or `SourceError`, whose message already holds the
///   service's code and message (`connector_aws::errors::describe`): the SDK errors under it would
///   say them twice more.
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

/// Management errors the operator can fix are bad input (exit 2); store errors are failures.
fn manage_error(e: ManageError) -> anyhow::Error {
    match e {
        ManageError::Store(e) => anyhow::Error::new(e),
        other => BadInput(other.to_string()).into(),
    }
}

/// What came of `files retry` or `reimport`.
fn print_asked(answer: &AskedAgain, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(answer);
    }
    println!("{} object(s) to be decided again by the next sync", answer.asked.len());
    for key in &answer.not_found {
        println!("  {key}: no recorded outcome (a sync has not met it)");
    }
    for refused in &answer.refused {
        println!("  {}: {}", refused.key, refused.reason);
    }
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut settings = Settings::from_env().map_err(|e| BadInput(e.to_string()))?;
    settings.state_table = cli.tables.state_table;
    settings.records_table = cli.tables.records_table;
    let connector = Deployment::new(Aws::from_env().await, settings);
    match cli.command {
        Command::Init => {
            let client = connector.aws.dynamodb();
            let changed =
                tables::create_tables(&client, &connector.settings.state_table, &connector.settings.records_table)
                    .await
                    .context("creating tables")?;
            for table in &changed.created {
                println!("created table {table}");
            }
            for (table, index) in &changed.indexes_added {
                println!("added index {index} to table {table}, which an older version made");
            }
            println!("tables ready: {} {}", connector.settings.state_table, connector.settings.records_table);
        }
        Command::Templates(TemplateCommand::Put { file }) => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| BadInput(format!("reading {}: {e}", file.display())))?;
            let template = Template::from_json(&text).map_err(|e| BadInput(format!("{}: {e}", file.display())))?;
            // The store says what it was doing ("saving template: ..."); this layer adds the file.
            let version = connector.state.put_template(&template).await.with_context(|| file.display().to_string())?;
            println!("template {} saved (version {version})", template.id);
        }
        Command::Connections(ConnectionCommand::Create {
            name,
            account_id,
            bucket,
            region,
            folder,
            template,
            kms_key_arn,
            json,
        }) => {
            let input =
                ConnectionInput { name, account_id, bucket, region, folder, template_id: template, kms_key_arn };
            let created = match connector.create_connection_with_policies(input).await {
                Ok(c) => c,
                Err(e @ (CreateError::Invalid(_) | CreateError::UnknownTemplate(_) | CreateError::Create(_))) => {
                    return Err(BadInput(e.to_string()).into())
                }
                Err(e) => return Err(e).context("creating connection"),
            };
            let connection = &created.connection;
            let out = json!({
                "id": connection.id,
                "name": connection.name,
                "status": connection.status,
                "external_id": connection.external_id,
                "role_name": connection.role_name,
                "role_arn": created.role_arn,
                "permission_policy": created.permission_policy,
                "trust_policy": created.trust_policy,
            });
            if json {
                print_json(&out)?;
            } else {
                println!("connection {} created ({})", connection.id, connection.status.as_str());
                println!("Ask the customer to create the IAM role {} with:", created.role_arn);
                println!("  permission policy:\n{}", serde_json::to_string_pretty(&created.permission_policy)?);
                println!("  custom trust policy:\n{}", serde_json::to_string_pretty(&created.trust_policy)?);
            }
        }
        Command::Connections(ConnectionCommand::Show { connection_id, json }) => {
            let shown = connector.show(&connection_id, 5).await.map_err(manage_error)?;
            if json {
                print_json(&shown)?;
            } else {
                let connection = &shown.connection;
                let s = &connection.sync;
                let c = &s.last_counts;
                println!("{} ({}) {}", connection.name, connection.id, connection.status.as_str());
                println!("  s3://{}/{}", connection.bucket, connection.folder.as_deref().unwrap_or(""));
                if let Some(key) = &connection.kms_key_arn {
                    println!("  KMS key: {key}");
                }
                match (s.last_result, s.last_sync_started, s.last_sync_finished) {
                    (Some(result), Some(started), Some(finished)) => println!(
                        "  last sync: {} at {} ({} ms)",
                        serde_json::to_value(result)?.as_str().unwrap_or("?"),
                        started.format("%Y-%m-%d %H:%M:%S UTC"),
                        (finished - started).num_milliseconds()
                    ),
                    _ => println!("  last sync: never"),
                }
                println!(
                    "  objects: {} listed, {} selected; files: {} imported, {} partial, {} failed, {} skipped",
                    c.objects_listed,
                    c.objects_selected,
                    c.files_imported,
                    c.files_partial,
                    c.files_failed,
                    c.files_skipped
                );
                println!("  rows: {} read, {} imported, {} rejected", c.rows_read, c.rows_imported, c.rows_rejected);
                if let Some(w) = s.watermark {
                    println!("  watermark: {}", w.format("%Y-%m-%d %H:%M:%S UTC"));
                }
                if let Some(e) = &s.last_error {
                    println!("  last error: {e}");
                }
                if !shown.recent_runs.is_empty() {
                    println!("  recent runs:");
                    for r in &shown.recent_runs {
                        println!("    {}", run_line(r)?);
                    }
                }
                if !shown.last_run_files.is_empty() {
                    println!("  files of the last run:");
                    for o in &shown.last_run_files {
                        print_outcome(o, "    ");
                    }
                }
            }
        }
        Command::Templates(TemplateCommand::List { json }) => {
            let templates = connector.state.templates().await?;
            if json {
                let out: Vec<_> = templates.iter().map(|(t, v)| json!({"template": t, "version": v})).collect();
                print_json(&out)?;
            } else {
                for (t, v) in templates {
                    println!(
                        "{:<24} v{v:<4} {:?} -> {} ({} columns)",
                        t.id,
                        t.format.kind,
                        t.record_type,
                        t.columns.len()
                    );
                }
            }
        }
        Command::Templates(TemplateCommand::Show { template_id }) => {
            let (template, version) = connector
                .state
                .template_version(&template_id)
                .await?
                .ok_or_else(|| BadInput(format!("no template '{template_id}'")))?;
            print_json(&json!({"template": template, "version": version}))?;
        }
        Command::Templates(TemplateCommand::Delete { template_id }) => {
            connector.delete_template(&template_id).await.map_err(manage_error)?;
            println!("template {template_id} deleted");
        }
        Command::Connections(ConnectionCommand::List { json }) => {
            let connections = connector.connections().await.map_err(manage_error)?;
            if json {
                print_json(&connections)?;
            } else {
                for c in connections {
                    let last = match (c.sync.last_result, c.sync.last_sync_finished) {
                        (Some(r), Some(t)) => format!(
                            "{} at {}",
                            serde_json::to_value(r)?.as_str().unwrap_or("?"),
                            t.format("%Y-%m-%d %H:%M UTC")
                        ),
                        _ => "never synced".to_owned(),
                    };
                    println!(
                        "{:<22} {:<12} {:<24} s3://{}/{}  {last}",
                        c.id,
                        c.status.as_str(),
                        c.name,
                        c.bucket,
                        c.folder.as_deref().unwrap_or("")
                    );
                }
            }
        }
        Command::Connections(ConnectionCommand::Preview { connection_id, limit, sample, rows, json }) => {
            let preview =
                connector.preview(&connection_id, limit, sample.as_deref(), rows).await.map_err(manage_error)?;
            if json {
                print_json(&preview)?;
            } else {
                print_access(&preview.access);
                println!(
                    "the first {} objects{}:",
                    preview.objects.len(),
                    if preview.more { " (more follow)" } else { "" }
                );
                for o in &preview.objects {
                    println!(
                        "  {} {:>10} {}  {:<10} {}{}",
                        if o.would_select { "+" } else { "-" },
                        o.size,
                        o.last_modified.format("%Y-%m-%d %H:%M:%S"),
                        o.format,
                        o.key,
                        o.note.as_ref().map(|n| format!("  ({n})")).unwrap_or_default()
                    );
                }
                if let Some(sample) = &preview.sample {
                    println!("sample of {}:", sample.key);
                    if let Some(e) = &sample.file_error {
                        println!("  the file would fail: {e}");
                    }
                    for row in &sample.rows {
                        println!("  {}", serde_json::to_string(row)?);
                    }
                    for e in &sample.row_errors {
                        println!(
                            "  row {} line {} {}: {}",
                            e.row,
                            e.line,
                            e.column.as_deref().unwrap_or("-"),
                            e.reason
                        );
                    }
                }
            }
        }
        Command::Connections(ConnectionCommand::Activate { connection_id, json }) => {
            let activated = connector
                .activate(&connection_id, &InProcessWorkers { connector: &connector })
                .await
                .map_err(manage_error)?;
            if json {
                print_json(&activated)?;
            } else {
                let connection = &activated.connection;
                print_access(&activated.access);
                println!(
                    "connection {} is {}; first import: {:?}",
                    connection.id,
                    connection.status.as_str(),
                    connection.sync.last_result
                );
            }
        }
        Command::Connections(ConnectionCommand::Reauth { connection_id, json }) => {
            let activated = connector.reauthenticate(&connection_id).await.map_err(manage_error)?;
            if json {
                print_json(&activated)?;
            } else {
                let c = &activated.connection;
                print_access(&activated.access);
                println!("connection {} is {}; the next sync resumes from its watermark", c.id, c.status.as_str());
            }
        }
        Command::Connections(ConnectionCommand::Pause { connection_id }) => {
            let c = connector.pause(&connection_id).await.map_err(manage_error)?;
            println!("connection {} is {}", c.id, c.status.as_str());
        }
        Command::Connections(ConnectionCommand::Resume { connection_id }) => {
            let c = connector.resume(&connection_id).await.map_err(manage_error)?;
            println!("connection {} is {}", c.id, c.status.as_str());
        }
        Command::Connections(ConnectionCommand::SetOverlap { connection_id, hours }) => {
            let hours = match hours.as_str() {
                "default" => None,
                h => Some(
                    h.parse::<u32>()
                        .map_err(|_| BadInput(format!("overlap: '{h}' is not a number of hours or 'default'")))?,
                ),
            };
            let c = connector.set_overlap(&connection_id, hours).await.map_err(manage_error)?;
            match c.overlap_seconds {
                Some(s) => println!("{}: overlap {} hours", c.id, s / 3600),
                None => println!("{}: overlap of the deployment (S3C_OVERLAP_SECONDS)", c.id),
            }
        }
        Command::Connections(ConnectionCommand::Rename { connection_id, name }) => {
            let c = connector.rename(&connection_id, &name).await.map_err(manage_error)?;
            println!("connection {} is named '{}'", c.id, c.name);
        }
        Command::Connections(ConnectionCommand::SetTemplate { connection_id, template_id }) => {
            let c = connector.change_template(&connection_id, &template_id).await.map_err(manage_error)?;
            println!("connection {} uses template {}", c.id, c.template_id);
        }
        Command::Connections(ConnectionCommand::Delete { connection_id, purge_records }) => {
            let purged = connector.delete_connection(&connection_id, purge_records).await.map_err(manage_error)?;
            println!(
                "connection {connection_id} deleted{}",
                if purge_records { format!(" with its {purged} records") } else { String::new() }
            );
        }
        Command::Connections(ConnectionCommand::Runs { connection_id, limit, json }) => {
            connector.connection(&connection_id).await.map_err(manage_error)?;
            let runs = connector.state.runs(&connection_id, limit).await?;
            if json {
                print_json(&runs)?;
            } else {
                for r in runs {
                    println!("{}", run_line(&r)?);
                }
            }
        }
        Command::Sync { all: true, concurrency, json, .. } => {
            let schedule_run = format!("cli-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"));
            let config = DispatchConfig { concurrency, ..DispatchConfig::default() };
            let summary =
                connector.dispatch(&InProcessWorkers { connector: &connector }, &schedule_run, &config).await?;
            if json {
                print_json(&summary)?;
            } else {
                println!(
                    "dispatch {}: {} connections, {} synced, {} failed, skipped {:?}",
                    summary.schedule_run, summary.found, summary.invoked, summary.failed, summary.skipped
                );
                for (id, error) in &summary.failures {
                    println!("  {id}: {error}");
                }
            }
            return Ok(if summary.failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS });
        }
        Command::Sync { connection_id, json, .. } => {
            let connection_id = connection_id.ok_or_else(|| BadInput("a connection id or --all is needed".into()))?;
            // A failed run is an outcome to print; any other error ends here with its chain (so a
            // missing table is told as such).
            let outcome = match connector.sync(connector_aws::SyncRequest::new(&connection_id)).await {
                Ok(outcome) => Ok(outcome),
                Err(SyncError::Retryable(run)) => Err(run),
                Err(SyncError::ConnectionNotFound(_)) => {
                    return Err(BadInput(format!("no connection {connection_id}")).into())
                }
                Err(e) => return Err(e.into()),
            };
            // Exit codes: 0 the run finished (succeeded or partial) or another holds it; 1 it failed
            // or the connection needs re-authentication; 2 the connection cannot sync (paused).
            let (value, code) = match &outcome {
                Ok(SyncOutcome::Completed(run)) => {
                    let code = match run.result {
                        SyncResult::NeedsReauth | SyncResult::Failed => ExitCode::FAILURE,
                        SyncResult::Succeeded | SyncResult::Partial => ExitCode::SUCCESS,
                    };
                    (json!({"outcome": "completed", "run": run}), code)
                }
                // Not without a deadline, which the CLI does not set; here for completeness.
                Ok(SyncOutcome::HandedOver { run_id, hand_overs, counts }) => (
                    json!({"outcome": "handed_over", "run_id": run_id, "hand_overs": hand_overs, "counts": counts}),
                    ExitCode::SUCCESS,
                ),
                Ok(SyncOutcome::LeaseHeld { owner, until }) => {
                    (json!({"outcome": "lease_held", "owner": owner, "until": until}), ExitCode::SUCCESS)
                }
                Ok(SyncOutcome::AlreadySynced { schedule_run }) => {
                    (json!({"outcome": "already_synced", "schedule_run": schedule_run}), ExitCode::SUCCESS)
                }
                Ok(SyncOutcome::NotSyncable { status }) => {
                    (json!({"outcome": "not_syncable", "status": status}), ExitCode::from(2))
                }
                Err(run) => (json!({"outcome": "failed", "run": run}), ExitCode::FAILURE),
            };
            if json {
                print_json(&value)?;
            } else {
                let run = match &outcome {
                    Ok(SyncOutcome::Completed(run)) => Some(run),
                    Err(run) => Some(run.as_ref()),
                    _ => None,
                };
                match run {
                    Some(run) => {
                        let c = &run.counts;
                        println!(
                            "sync {:?}: {} listed, {} selected; files {} imported, {} partial, {} failed, {} skipped; rows {} imported, {} rejected",
                            run.result, c.objects_listed, c.objects_selected, c.files_imported, c.files_partial,
                            c.files_failed, c.files_skipped, c.rows_imported, c.rows_rejected
                        );
                        if let Some(e) = &run.error {
                            println!("error: {e}");
                        }
                    }
                    _ => println!("{value}"),
                }
            }
            return Ok(code);
        }
        Command::Files { action: Some(FilesCommand::Retry { connection_id, failed, keys, json }), .. } => {
            let selection = if failed { RetrySelection::Failed } else { RetrySelection::Keys(keys) };
            let answer = connector.retry_files(&connection_id, selection).await.map_err(manage_error)?;
            print_asked(&answer, json)?;
        }
        Command::Reimport { connection_id, keys, json } => {
            let answer = connector.reimport(&connection_id, keys).await.map_err(manage_error)?;
            print_asked(&answer, json)?;
        }
        Command::Backfill { connection_id, since } => {
            let since = parse_since(&since).map_err(manage_error)?;
            connector.backfill(&connection_id, since).await.map_err(manage_error)?;
            println!("the next sync of {connection_id} decides again every object modified since {since}");
        }
        Command::Files { action: None, connection_id, json } => {
            let connection_id = connection_id.ok_or_else(|| BadInput("a connection id is needed".into()))?;
            connector.connection(&connection_id).await.map_err(manage_error)?;
            let outcomes = connector.state.outcomes(&connection_id).await?;
            if json {
                print_json(&outcomes)?;
            } else {
                for o in &outcomes {
                    print_outcome(o, "");
                }
            }
        }
        Command::Records { connection_id, limit, after } => {
            let page = connector.records_page(&connection_id, limit, after.as_deref()).await.map_err(manage_error)?;
            print_json(&page)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
