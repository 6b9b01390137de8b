//! The command line: every command and flag, with the help text `--help` shows.

use clap::{Args, Parser, Subcommand};
use connector_aws::config::{DEFAULT_RECORDS_TABLE, DEFAULT_STATE_TABLE};
use connector_core::manage::recovery::FileSelection;

#[derive(Parser)]
#[command(
    name = "s3-connector",
    version,
    about = "Import files from customers' S3 buckets into DynamoDB",
    long_about = "Import files from customers' S3 buckets into DynamoDB.\n\nFirst `init` (tables), then `templates \
                  put`, `connections create`, the customer creates the role, `connections preview`, `connections \
                  activate`. Exit codes: 0 done, 1 failed, 2 the input or the connection's state is at fault."
)]
pub struct Cli {
    #[command(flatten)]
    pub tables: TableArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args)]
pub struct TableArgs {
    /// State table (connections, templates, ledger, runs).
    #[arg(long, global = true, env = "S3C_STATE_TABLE", default_value = DEFAULT_STATE_TABLE)]
    pub state_table: String,
    /// Records table (imported rows).
    #[arg(long, global = true, env = "S3C_RECORDS_TABLE", default_value = DEFAULT_RECORDS_TABLE)]
    pub records_table: String,
}

/// `--json`: print the JSON the HTTP API returns instead of text.
#[derive(Args, Clone, Copy)]
pub struct Output {
    /// Print JSON (what the HTTP API answers to the same request) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create the state and records tables, or add the indexes tables made by an older version
    /// lack (idempotent).
    Init,
    /// Data templates: how a file's columns map to typed records.
    #[command(subcommand)]
    Templates(TemplateCommand),
    /// Connections to customers' buckets.
    #[command(subcommand)]
    Connections(ConnectionCommand),
    /// Sync one connection now, in this process (what the worker Lambda does); with --all, every
    /// active connection, as the daily dispatcher does, with the workers in this process.
    Sync {
        /// The connection to sync.
        #[arg(required_unless_present = "all")]
        connection_id: Option<String>,
        /// Every active connection.
        #[arg(long, conflicts_with = "connection_id")]
        all: bool,
        /// With --all: connections synced at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        #[command(flatten)]
        output: Output,
    },
    /// Each object's latest outcome, with its row errors; `files retry` asks for some again.
    #[command(args_conflicts_with_subcommands = true)]
    Files {
        #[command(subcommand)]
        action: Option<FilesCommand>,
        /// The connection whose objects to show.
        connection_id: Option<String>,
        /// Only the open failures (failed, not dismissed).
        #[arg(long)]
        failed: bool,
        #[command(flatten)]
        output: Output,
    },
    /// The next sync imports these objects again, even if they are imported already.
    Reimport {
        connection_id: String,
        /// An object's whole key, folder included (repeat for more).
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        output: Output,
    },
    /// The next sync decides again every object modified since DATE (after a template fix).
    Backfill {
        connection_id: String,
        /// A day (2026-11-01, from midnight UTC) or an RFC 3339 time.
        #[arg(long)]
        since: String,
        #[command(flatten)]
        output: Output,
    },
    /// A page of a connection's imported records, as JSON (`next` is the token of the next page).
    Records {
        connection_id: String,
        /// Records in the page (1-1000).
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// The `next` token of the previous page.
        #[arg(long)]
        after: Option<String>,
    },
    /// Run the intake in this process on an object-event queue, as Lambda's event source mapping
    /// runs the intake function: each batch's keys imported per connection, runs in this process.
    /// For local AWS (the demo) and a deployment without the intake function.
    Intake {
        /// The queue's URL (deployed: the stack's ObjectEventQueue).
        #[arg(long)]
        queue_url: String,
        /// How long a batch gathers events after its first (the mapping's batching window).
        #[arg(long, default_value_t = 1)]
        batching_window_seconds: u64,
        /// The most events per batch.
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
        /// Stop once no event has come for this many seconds; without it, run until Ctrl-C.
        #[arg(long)]
        until_quiet_seconds: Option<u64>,
    },
}

#[derive(Subcommand)]
pub enum FilesCommand {
    /// The next sync decides these objects again: every open failure, or the keys given.
    Retry(FileKeys),
    /// Dismisses failures you have seen and will not fix: they are no longer counted, listed
    /// among the connection's failed files, nor tried again. A new version of the object,
    /// `files retry`, `reimport` or a backfill decides it again.
    Dismiss(FileKeys),
}

/// Which of a connection's objects `files retry` or `files dismiss` acts on.
#[derive(Args)]
pub struct FileKeys {
    pub connection_id: String,
    /// Every open failure (failed and not dismissed).
    #[arg(long, conflicts_with = "keys", required_unless_present = "keys")]
    pub failed: bool,
    /// An object's whole key, folder included (repeat for more).
    #[arg(long = "key")]
    pub keys: Vec<String>,
    #[command(flatten)]
    pub output: Output,
}

impl FileKeys {
    pub fn selection(self) -> (String, FileSelection, Output) {
        let selection = if self.failed { FileSelection::Failed } else { FileSelection::Keys(self.keys) };
        (self.connection_id, selection, self.output)
    }
}

#[derive(Subcommand)]
pub enum TemplateCommand {
    /// Validate and save a template from a JSON file, as its next version.
    Put {
        /// The template document (JSON; see examples/).
        file: std::path::PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// Every template's current version.
    List {
        #[command(flatten)]
        output: Output,
    },
    /// One template's document: its current version, or the one given.
    Show {
        template_id: String,
        /// A saved version (runs name the version they read with).
        #[arg(long)]
        version: Option<u32>,
    },
    /// Delete a template's current version (refused while a connection uses it; saved versions stay).
    Delete { template_id: String },
    /// Draft a template from a sample: its format, delimiter, header, encoding and each column's
    /// narrowest type, printed as JSON to review, edit and `templates put` (what the draft could
    /// not tell is said on stderr; --json prints the whole draft, warnings included).
    Draft {
        /// A local file; with --connection, an object's whole key in the connection's bucket.
        #[arg(long, value_name = "FILE_OR_S3_KEY")]
        sample: String,
        /// Read the sample from this connection's bucket, through its role (as `connections
        /// preview --sample` does).
        #[arg(long, value_name = "ID")]
        connection: Option<String>,
        /// Data rows to read, at most (1-10000); never more than the sample's first 4 MiB.
        #[arg(long, default_value_t = connector_core::draft::DEFAULT_ROWS)]
        rows: usize,
        /// The template's id and record type; without it, made from the sample's file name
        /// (`orders-2026-11.csv` -> `orders`).
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Subcommand)]
pub enum ConnectionCommand {
    /// Create a pending connection; prints its id, external id and the role the customer creates,
    /// with its permission and trust policies.
    Create {
        /// The platform's id of the customer the connection belongs to (1-64 letters, digits,
        /// '.', '_', ':', '@', '-'); it cannot be changed later.
        #[arg(long)]
        tenant: String,
        /// A name for people, unique among the tenant's connections (1-100 characters).
        #[arg(long)]
        name: String,
        /// The customer's 12-digit AWS account id (the bucket's owner).
        #[arg(long)]
        account_id: String,
        /// The customer's bucket. Left out: the customer fills it on their set-up page (a link
        /// from the dashboard or the API), and the permission policy is shown there once they have.
        #[arg(long)]
        bucket: Option<String>,
        /// The bucket's region, e.g. eu-west-1. Left out: the customer fills it on their set-up page.
        #[arg(long)]
        region: Option<String>,
        /// Import only under this folder (key prefix) of the bucket; left out: the whole bucket.
        #[arg(long, conflicts_with = "folder_open")]
        folder: Option<String>,
        /// Let the customer choose the folder (or the whole bucket) on their set-up page.
        #[arg(long)]
        folder_open: bool,
        /// The id of the template files are read with (`templates list`).
        #[arg(long)]
        template: String,
        /// The key ARN of the KMS key the objects are encrypted with (SSE-KMS), in the bucket's
        /// region: the permission policy then allows kms:Decrypt on that key.
        #[arg(long, value_name = "ARN")]
        kms_key_arn: Option<String>,
        /// How it finds new objects (`set-mode` changes it later).
        #[arg(long, value_enum, default_value_t = Mode::Scheduled)]
        mode: Mode,
        /// With --mode events: the deployment's object event bus (the stack's ObjectEventBusArn
        /// output), which the customer's rule forwards their bucket's new-file events to.
        #[arg(long, env = "S3C_OBJECT_EVENT_BUS_ARN", value_name = "ARN")]
        object_event_bus_arn: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// Every connection with its tenant, status and last sync, by status then name; with
    /// --tenant, that tenant's connections by name.
    List {
        /// Only this tenant's connections (read from the by-tenant index).
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        output: Output,
    },
    /// The upgrade step to tenants: give TENANT to every connection made before tenants existed
    /// (safe to run again; a connection whose name the tenant has already is left, and said).
    AssignTenant {
        /// The tenant to give them, e.g. `default`.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        output: Output,
    },
    /// A connection: status, bucket, template, role, last sync, recent runs, failed files.
    Show {
        connection_id: String,
        #[command(flatten)]
        output: Output,
    },
    /// What the connection sees: the first objects and what the next sync would do with each;
    /// with --sample KEY, that object's first rows parsed against the template.
    Preview {
        connection_id: String,
        /// Objects to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// An object's whole key, folder included, to parse a sample of.
        #[arg(long, value_name = "KEY")]
        sample: Option<String>,
        /// Rows of the sample.
        #[arg(long, default_value_t = 5)]
        rows: usize,
        #[command(flatten)]
        output: Output,
    },
    /// Check access (each object read, with its result), set active and run the first import (in
    /// this process).
    Activate {
        connection_id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Check access of a needs_reauth connection again (each object read, with its result) and set
    /// it active; its next sync resumes from its watermark.
    Reauth {
        connection_id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Stop syncing a connection until it is resumed (nothing is lost: the next sync catches up).
    Pause {
        connection_id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Sync a paused connection again from where it stopped.
    Resume {
        connection_id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Give a connection another name (unique among its tenant's connections).
    Rename {
        connection_id: String,
        name: String,
        #[command(flatten)]
        output: Output,
    },
    /// Read the connection's files with another template from the next sync on.
    SetTemplate {
        connection_id: String,
        template_id: String,
        #[command(flatten)]
        output: Output,
    },
    /// How many hours before its watermark a connection's syncs look again (a multipart upload that
    /// takes at most this long is always caught); `default` for the deployment's S3C_OVERLAP_SECONDS.
    SetOverlap {
        connection_id: String,
        /// Hours (at most 2160), or `default`.
        hours: String,
        #[command(flatten)]
        output: Output,
    },
    /// How a connection finds new objects: `scheduled`, the daily scan; or `events`, also the
    /// bucket's object events, imported within minutes (the customer forwards them: README,
    /// "Event-driven imports"), with the daily scan kept as the safety net.
    SetMode {
        connection_id: String,
        #[arg(value_enum)]
        mode: Mode,
        #[command(flatten)]
        output: Output,
    },
    /// How often a connection's scheduled scan runs: every N hours (1, 2, 3, 4, 6, 8 or 12, or a
    /// whole number of days up to 168), or `daily`. Any scan restarts the interval; the
    /// deployment's Schedule (hourly by default) is when scans due are started.
    SetSchedule {
        connection_id: String,
        /// Hours, or `daily`.
        every: String,
        #[command(flatten)]
        output: Output,
    },
    /// Count a connection's failed files again from its ledger (after an upgrade from a version
    /// that kept no count, or to repair it); refused while a sync runs.
    Recount {
        /// The connections to count again.
        #[arg(conflicts_with = "all", required_unless_present = "all")]
        connection_ids: Vec<String>,
        /// Every connection.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        output: Output,
    },
    /// Delete a connection, its sync state, runs and ledger; its records stay unless --purge-records.
    /// Asks first unless --yes.
    Delete {
        connection_id: String,
        /// Delete the connection's imported records too.
        #[arg(long)]
        purge_records: bool,
        /// Do not ask (scripts).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        output: Output,
    },
    /// The connection's recent sync runs, newest first.
    Runs {
        connection_id: String,
        /// Runs to show (1-100).
        #[arg(long, default_value_t = 10)]
        limit: usize,
        #[command(flatten)]
        output: Output,
    },
}

/// A connection's mode, as the CLI takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Scheduled,
    Events,
}

impl From<Mode> for connector_core::model::SyncMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Scheduled => connector_core::model::SyncMode::Scheduled,
            Mode::Events => connector_core::model::SyncMode::Events,
        }
    }
}
