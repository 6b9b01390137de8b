//! The data model shared by every part: connections, listed objects, per-object outcomes and sync runs.
//! Everything here serialises to the JSON the CLI prints, so field names are part of the public contract.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Lifecycle of a connection. The dispatcher only syncs `active` ones; the worker also runs the first
/// import of a `pending` one, which makes it `active` when access works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Pending,
    Active,
    Paused,
    NeedsReauth,
}

crate::words::words!(ConnectionStatus { Pending => "pending", Active => "active", Paused => "paused", NeedsReauth => "needs_reauth" });
crate::words::words!(SyncResult { Succeeded => "succeeded", Partial => "partial", Failed => "failed", NeedsReauth => "needs_reauth" });
crate::words::words!(FileStatus { Imported => "imported", Partial => "partial", Failed => "failed", Skipped => "skipped" });
crate::words::words!(PauseReason { Operator => "operator", Failing => "failing" });
crate::words::words!(LocationField { Bucket => "bucket", Region => "region", Folder => "folder" });

/// A part of where a connection reads that the platform may leave for its customer to fill on the
/// set-up page. The account id never is: the trust policy and the role's ARN need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationField {
    Bucket,
    Region,
    /// Open: the customer chooses a folder (or the whole bucket). Not open and absent: the whole
    /// bucket, the platform's choice.
    Folder,
}

/// What preview, activation and a sync say of a location field not filled yet.
pub const NOT_FILLED_YET: &str = "not given yet: the customer fills it on the set-up page";

/// Why a connection is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// An operator paused it.
    Operator,
    /// Its runs failed `S3C_PAUSE_AFTER_FAILURES` times in a row: paused so that it stops failing
    /// every day until someone looks; `resume` clears the count.
    Failing,
}

/// A customer's bucket, connected through an IAM role they created for us.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    /// The platform's own id of the customer the connection belongs to, given at create and never
    /// changed ([`crate::connections::normalise_tenant`]). Empty on a connection stored before
    /// tenants existed, until `s3-connector connections assign-tenant` gives it one.
    #[serde(default)]
    pub tenant: String,
    /// Unique within its tenant (enforced by a conditional write on a name item).
    pub name: String,
    /// The customer's 12-digit account id: the role ARN and ExpectedBucketOwner are built from it.
    pub account_id: String,
    /// Empty while it is open and not filled yet ([`Connection::open_fields`]).
    pub bucket: String,
    /// Empty while it is open and not filled yet ([`Connection::open_fields`]).
    pub region: String,
    /// Key prefix the connection is limited to, ending in '/', or None for the whole bucket.
    pub folder: Option<String>,
    /// The location fields the platform left for the customer, in this order (bucket, region,
    /// folder); fixed at create. The customer may set these, and only these, while the connection
    /// is pending. Empty on connections stored before the field existed.
    #[serde(default)]
    pub open_fields: Vec<LocationField>,
    /// When the customer last filled the open fields; None until then, and always when none is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_filled_at: Option<DateTime<Utc>>,
    /// Signed into every customer set-up link; withdrawing the links adds one, which refuses each
    /// link made before. 0 on connections stored before the field existed.
    #[serde(default)]
    pub link_generation: u64,
    /// The KMS key the customer's objects are encrypted with (SSE-KMS): the permission policy allows
    /// `kms:Decrypt` on it. None without one, and on connections stored before the field existed.
    #[serde(default)]
    pub kms_key_arn: Option<String>,
    pub role_name: String,
    pub external_id: String,
    pub template_id: String,
    pub status: ConnectionStatus,
    pub created_at: DateTime<Utc>,
    /// How far before the watermark later syncs look again, when not the deployment's default
    /// (`S3C_OVERLAP_SECONDS`): a multipart upload that takes at most this long is always caught.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_seconds: Option<u64>,
    /// How it finds new objects: the daily scan only, or also the bucket's object events. Scheduled
    /// on connections stored before the field existed.
    #[serde(default)]
    pub mode: SyncMode,
    /// Hours between its scheduled scans, when not daily (see [`scan_every_hours_error`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_every_hours: Option<u32>,
    /// A scheduled event whose scan found the lease held (an object events' run, or an operator's
    /// sync): the holder starts that scan when it lets go, and any scan's end clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_owed: Option<String>,
    /// An operator's backfill: the next run decides again every object modified since then, whatever
    /// its outcome, and clears it when it finishes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_since: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sync: SyncState,
    /// Objects whose latest outcome is failed and not dismissed (open failures), whichever run
    /// recorded them: kept by the store with each outcome and dismissal, so a list shows it without
    /// reading the ledger.
    #[serde(default, deserialize_with = "count")]
    pub failed_files: u64,
    /// Why it is paused, while it is (absent on connections paused before reasons were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_reason: Option<PauseReason>,
}

/// A count kept by a store's increments: one below zero (a store edited by hand) reads as zero
/// rather than making the connection unreadable.
fn count<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    Ok(i64::deserialize(deserializer)?.max(0) as u64)
}

impl Connection {
    /// The open location fields the customer has not filled yet: preview, activation and a sync
    /// refuse the connection until none is left.
    pub fn unfilled_fields(&self) -> &[LocationField] {
        if self.location_filled_at.is_some() {
            &[]
        } else {
            &self.open_fields
        }
    }

    /// Whether the customer may set `field` (the platform left it open).
    pub fn is_open(&self, field: LocationField) -> bool {
        self.open_fields.contains(&field)
    }

    /// Whether the connection was stored before tenants existed and has none yet.
    pub fn lacks_tenant(&self) -> bool {
        self.tenant.is_empty()
    }

    /// The overlap of this connection, or `default`.
    pub fn overlap(&self, default: chrono::TimeDelta) -> chrono::TimeDelta {
        self.overlap_seconds.map_or(default, |s| chrono::TimeDelta::seconds(s.min(i64::MAX as u64) as i64))
    }

    /// The role we assume. Always built from the connection's own account id, never taken as input,
    /// in the partition of the bucket's region.
    pub fn role_arn(&self) -> String {
        let partition = crate::regions::partition(&self.region);
        format!("arn:{partition}:iam::{}:role/{}", self.account_id, self.role_name)
    }
}

/// Outcome of a whole sync run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncResult {
    /// Every selected object was imported (or skipped with a reason).
    Succeeded,
    /// The run finished, but some objects failed or had rejected rows.
    Partial,
    /// The run stopped on an error that Lambda's retry may cure (throttling, 5xx); nothing advanced
    /// past the objects it did not finish.
    Failed,
    /// Our access to the bucket is broken (role, external id, bucket, owner); nothing advanced.
    NeedsReauth,
}

/// Counts of one run; also kept on the connection as the last run's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Objects listed under the bucket or folder.
    pub objects_listed: u64,
    /// Objects chosen by the selection rule for this run (to import or to skip with a reason).
    pub objects_selected: u64,
    pub files_imported: u64,
    pub files_partial: u64,
    pub files_failed: u64,
    pub files_skipped: u64,
    pub rows_read: u64,
    pub rows_imported: u64,
    pub rows_rejected: u64,
    /// Rows read of files that failed part of the way (or under `fail_file`): neither imported nor
    /// rejected. rows_read = rows_imported + rows_rejected + rows_not_imported.
    #[serde(default)]
    pub rows_not_imported: u64,
    /// Bytes of object bodies read from the bucket (a part read again after a hand-over counts
    /// again).
    #[serde(default)]
    pub bytes_read: u64,
    /// Keys that object events named to the run (each once, however many events named it).
    #[serde(default)]
    pub objects_named: u64,
    /// Named keys with no object under them when looked at (deleted since, or never there).
    #[serde(default)]
    pub named_not_found: u64,
    /// Named objects replaced since their event: their newest version is what the run decided.
    #[serde(default)]
    pub named_replaced: u64,
    /// Named keys the role may not look at (another owner's object, a bucket policy's denial, a
    /// customer-provided key): left to the scan, whose read records the object's outcome, rather
    /// than stop the run.
    #[serde(default)]
    pub named_unreadable: u64,
}

impl RunCounts {
    pub fn add_file(&mut self, outcome: &FileOutcome) {
        match outcome.status {
            FileStatus::Imported => self.files_imported += 1,
            FileStatus::Partial => self.files_partial += 1,
            FileStatus::Failed => self.files_failed += 1,
            FileStatus::Skipped => self.files_skipped += 1,
        }
        self.rows_read += outcome.rows_read;
        self.rows_imported += outcome.rows_imported;
        self.rows_rejected += outcome.rows_rejected;
        self.rows_not_imported += outcome.rows_not_imported;
    }
}

/// The connection's sync state: where the next run starts and how the last one went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    /// Objects modified before `watermark - overlap` are no longer considered. Whole seconds, never
    /// past a run's listing start, never past an object that is not finished.
    pub watermark: Option<DateTime<Utc>>,
    pub last_sync_started: Option<DateTime<Utc>>,
    pub last_sync_finished: Option<DateTime<Utc>>,
    pub last_result: Option<SyncResult>,
    pub last_error: Option<String>,
    pub last_run_id: Option<String>,
    /// The scheduled event (EventBridge id) of the last run that finished, so a second delivery of
    /// the same event starts no second sync. Not set by a run that failed and will be retried.
    #[serde(default)]
    pub last_schedule_run: Option<String>,
    #[serde(default)]
    pub last_counts: RunCounts,
    /// Runs in a row that ended failed or needs_reauth (a scheduled event's retries count once);
    /// any other end, and `resume`, set it back to 0.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// The scheduled event or operator's request whose failed run was counted last, so that
    /// Lambda's retries of it are not counted again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_key: Option<String>,
    /// When the last scan that did not fail began (scheduled, an operator's, activation's): the
    /// next scheduled one is due `scan_every_hours` after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scan_started: Option<DateTime<Utc>>,
    /// The LastModified of the newest object any run imported: the connection's lag is now minus
    /// this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_imported: Option<DateTime<Utc>>,
}

/// Scheduled scans are daily unless a connection says otherwise.
pub const DAILY_SCAN_HOURS: u32 = 24;
/// The longest a connection may go between scheduled scans: a week.
pub const MAX_SCAN_EVERY_HOURS: u32 = 7 * 24;

/// Why `hours` is no interval between scheduled scans, if it is not one: from an hour to a week,
/// a divisor of a day (1, 2, 3, 4, 6, 8, 12) or a whole number of days, so that scans keep to
/// the same times of day.
pub fn scan_every_hours_error(hours: u32) -> Option<String> {
    let fits = (1..=MAX_SCAN_EVERY_HOURS).contains(&hours) && (24u32.is_multiple_of(hours) || hours.is_multiple_of(24));
    (!fits).then(|| {
        format!("{hours} is not an interval: 1, 2, 3, 4, 6, 8 or 12 hours, or a whole number of days (24, 48, … up to {MAX_SCAN_EVERY_HOURS})")
    })
}

/// One object as S3 lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub key: String,
    /// As S3 returns it, quotes included; a new ETag under the same key means a new version.
    pub etag: String,
    pub size: u64,
    /// Whole-second precision, as S3 stores it. For a multipart upload it is the upload's start.
    pub last_modified: DateTime<Utc>,
    pub storage_class: Option<String>,
    /// Attempts made so far at this version, when it is being tried again (see [`Recheck::Retry`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// The ETag of the version of this key the ledger held before, when this is a new one: once this
    /// version has its outcome, the records of that one are removed (without a primary key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

fn is_zero<N: Default + PartialEq>(n: &N) -> bool {
    *n == N::default()
}

/// Why an object version with an outcome may be decided again although it did not change. An
/// outcome without one is final until the object is replaced (a new ETag) or an operator asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "when", rename_all = "snake_case")]
pub enum Recheck {
    /// Skipped because its extension does not match the template's format: decided again once the
    /// connection's template reads another format.
    FormatChanges { format: crate::template::FormatKind },
    /// Failed for its size: decided again once the size limit is raised past it.
    LimitRaised { limit: u64 },
    /// Could not be read for now (the role may not read it, a KMS key, an archive tier): tried again
    /// from `next_at`, whether or not the object is still in the sync's window.
    Retry { attempt: u32, next_at: DateTime<Utc> },
    /// An operator asked for it (`files retry`, `reimport`, the API): decided again by the next sync.
    Operator { asked_at: DateTime<Utc> },
}

impl FileOutcome {
    /// When this object was taken up: an operator's ask after it still stands once this is recorded.
    pub fn began(&self) -> DateTime<Utc> {
        self.finished_at - chrono::TimeDelta::milliseconds(self.duration_ms.min(i64::MAX as u64) as i64)
    }
}

impl Recheck {
    /// From when a run takes the object on whatever its place in the listing: the rechecks a store
    /// indexes by time. The others are decided again when a listing meets the object.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Recheck::Retry { next_at, .. } => Some(*next_at),
            Recheck::Operator { asked_at } => Some(*asked_at),
            Recheck::FormatChanges { .. } | Recheck::LimitRaised { .. } => None,
        }
    }
}

/// Final state of one object for one ETag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Every row imported.
    Imported,
    /// Some rows imported, some rejected (row policy `skip_row`).
    Partial,
    /// The file could not be imported (malformed, too large, rejected rows under `fail_file`).
    Failed,
    /// Not read at all, for the recorded reason (folder placeholder, archived, unreadable format).
    Skipped,
}

/// A rejected row: where it is and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// 1-based ordinal of the data row (header excluded).
    pub row: u64,
    /// 1-based line in the decoded file where the row starts (rows may span lines).
    pub line: u64,
    /// The source column or field at fault, when one is.
    pub column: Option<String>,
    pub reason: String,
}

/// `row 5 (line 6), column amount: not a decimal`: the one way a row error is told to people.
impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "row {} (line {})", self.row, self.line)?;
        if let Some(column) = &self.column {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The recorded outcome of one object version. Also the import ledger entry: an object whose key and
/// ETag have an outcome is never selected again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileOutcome {
    pub key: String,
    pub etag: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    pub status: FileStatus,
    /// Why a file failed or was skipped.
    pub reason: Option<String>,
    pub rows_read: u64,
    pub rows_imported: u64,
    pub rows_rejected: u64,
    /// Rows read but neither imported nor rejected, because the file failed (its reason says why):
    /// rows_read = rows_imported + rows_rejected + rows_not_imported.
    #[serde(default)]
    pub rows_not_imported: u64,
    /// The first rejected rows, up to the template's `max_errors_recorded`.
    pub row_errors: Vec<RowError>,
    pub duration_ms: u64,
    pub run_id: String,
    pub finished_at: DateTime<Utc>,
    /// When this outcome is decided again although the object did not change; none: it is final.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck: Option<Recheck>,
    /// The ETag of an earlier version whose records stay until this key has a version imported
    /// (this one failed, was skipped or is waiting for a retry): the table keeps the last version
    /// it could import rather than nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// When an operator dismissed this failure (`files dismiss`): it is no longer counted or shown
    /// among the connection's failed files, nor tried again. A new version of the object, or an
    /// operator's retry, reimport or backfill, decides it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dismissed_at: Option<DateTime<Utc>>,
    /// Where the file's columns and its template's disagree (a header that changed, a new member).
    #[serde(default, skip_serializing_if = "SchemaDrift::is_empty")]
    pub drift: SchemaDrift,
    /// The key, in the deployment's rejects bucket, of the object holding every row this file had
    /// rejected ([`crate::rejects`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejects: Option<String>,
    /// A link that downloads the rejects object for an hour: given when files are listed
    /// ([`crate::manage::Management::files_page`]), never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejects_url: Option<String>,
}

/// Where a file's columns and its template's disagree: what a producer added, renamed or dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaDrift {
    /// The file's columns that no template column reads: a header's names; JSON members by path
    /// (`address.zip`). At most [`SchemaDrift::MAX_NAMES`], in the order first met.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmapped_columns: Vec<String>,
    /// The template's optional columns (by source) that the file lacks: absent from the header, or
    /// from every JSON record read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_columns: Vec<String>,
}

impl SchemaDrift {
    /// Names kept of a file's unmapped columns: enough to see what changed, bounded whatever a file
    /// of records with ever-new members holds.
    pub const MAX_NAMES: usize = 50;

    pub fn is_empty(&self) -> bool {
        self.unmapped_columns.is_empty() && self.missing_columns.is_empty()
    }

    /// Notes an unmapped name, once, while there is room.
    pub fn add_unmapped(&mut self, name: &str) {
        if self.unmapped_columns.len() < Self::MAX_NAMES && !self.unmapped_columns.iter().any(|n| n == name) {
            self.unmapped_columns.push(name.to_owned());
        }
    }
}

impl FileOutcome {
    /// Failed and not dismissed: counted in [`Connection::failed_files`] and kept in the ledger
    /// until the object is imported, replaced or the failure dismissed.
    pub fn is_open_failure(&self) -> bool {
        self.status == FileStatus::Failed && self.dismissed_at.is_none()
    }
}

/// A saved version of a template: what a run reads its files with, from its first invocation to its
/// last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    pub id: String,
    pub version: u32,
}

/// How a connection finds new objects: a scan of its bucket on a schedule (daily by default), or
/// also the bucket's object events, within minutes, with the scan kept as the safety net.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    #[default]
    Scheduled,
    Events,
}

impl SyncMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Scheduled => "scheduled",
            SyncMode::Events => "events",
        }
    }

    /// Reads `scheduled` or `events`, as the CLI and the API take it.
    pub fn parse(text: &str) -> Option<SyncMode> {
        match text {
            "scheduled" => Some(SyncMode::Scheduled),
            "events" => Some(SyncMode::Events),
            _ => None,
        }
    }
}

/// The way a run found its objects: by scanning the bucket (the schedule's run, or one an operator
/// asked for), or by object events naming keys. The two share the selection rule, the ledger and
/// the lease, so neither imports what the other did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunPath {
    #[default]
    Scan,
    Events,
}

impl RunPath {
    pub fn as_str(self) -> &'static str {
        match self {
            RunPath::Scan => "scan",
            RunPath::Events => "events",
        }
    }
}

/// A key that an object event named, with the ETag the event gave (whether the object was
/// replaced since is what a HEAD says).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedKey {
    pub key: crate::object_events::ObjectKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// One sync run of one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRun {
    pub run_id: String,
    pub connection_id: String,
    /// How the run found its objects (runs recorded before events: a scan).
    #[serde(default)]
    pub path: RunPath,
    /// The template version every file of the run was read with (absent in runs recorded before
    /// versions were pinned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateRef>,
    /// A backfill the run carried out: it decided again every object modified since then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_since: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub result: SyncResult,
    pub counts: RunCounts,
    pub error: Option<String>,
    pub watermark_before: Option<DateTime<Utc>>,
    pub watermark_after: Option<DateTime<Utc>>,
    /// The LastModified of the newest object the run imported (wholly or in part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_imported: Option<DateTime<Utc>>,
    /// The run's first failed files, up to [`FIRST_FAILURES`], with their reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_failures: Vec<FailedFile>,
}

/// How many failed files a run keeps by name (its counts say how many there were).
pub const FIRST_FAILURES: usize = 10;

/// A file that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedFile {
    pub key: String,
    pub reason: String,
}

impl SyncRun {
    /// Whether the run carried out a backfill to its end (a failed run leaves it for its retry).
    pub fn backfill_done(&self) -> bool {
        self.backfill_since.is_some() && matches!(self.result, SyncResult::Succeeded | SyncResult::Partial)
    }
}

/// Where a listing of one prefix stands: what to ask S3 for next. Saved in a run's checkpoint, so a
/// listing too large for one invocation goes on in the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListCursor {
    /// The key prefix listed ("" for the whole bucket).
    pub prefix: String,
    /// ListObjectsV2's continuation token; `None` before the first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// List only this level (delimiter '/'): sub-folders come back as prefixes to list on their own,
    /// in parallel.
    #[serde(default)]
    pub fan_out: bool,
}

impl ListCursor {
    pub fn new(prefix: Option<&str>, fan_out: bool) -> Self {
        ListCursor { prefix: prefix.unwrap_or_default().to_owned(), token: None, fan_out }
    }
}

/// A record boundary in a decoded file: where parsing goes on after a hand-over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsePosition {
    /// Bytes of the decoded text (after gzip and the byte-order mark) before the next record; for a
    /// JSON array, just after the last element read. For Parquet: the row group's index.
    pub offset: u64,
    /// Lines before the next record, so row errors keep their line numbers (Parquet: rows).
    pub line: u64,
    /// A delimited file's header, read once at the start of the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Vec<String>>,
    /// Parquet: the rows of the row group read before the position, as decoded (not as its
    /// metadata says: a file may say otherwise).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub row_group_rows: u64,
}

/// How far an object got before a hand-over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    pub key: String,
    pub etag: String,
    /// The writing pass; `false` during the validation pass of a `fail_file` template.
    pub writing: bool,
    pub position: ParsePosition,
    /// Whether the object's text is not its bytes (gzip, zstd, bzip2): decoded offsets cannot be
    /// fetched by range then, so the object is read again from its start and the decoded bytes
    /// before `position.offset` are skipped. (Stored as `gzip` before zstd and bzip2 were read.)
    #[serde(alias = "gzip")]
    pub from_start: bool,
    /// Bytes of byte-order mark before the decoded text (plain objects).
    pub bom: u64,
    pub rows_read: u64,
    pub rows_rejected: u64,
    pub row_errors: Vec<RowError>,
    pub rows_imported: u64,
    /// Time spent on the object in earlier invocations.
    pub elapsed_ms: u64,
    /// What the file's columns and the template's disagreed on so far.
    #[serde(default, skip_serializing_if = "SchemaDrift::is_empty")]
    pub drift: SchemaDrift,
    /// The rejects object written so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejects: Option<crate::rejects::RejectsUpload>,
}

/// What a run that outlives one invocation leaves for the next: written when it hands over, read by
/// the next invocation, removed when the run finishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub path: RunPath,
    /// Keys named by object events still to be looked at: an events run's, and those of events
    /// that arrived while another invocation of the run held the lease.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub named: Vec<NamedKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_run: Option<String>,
    /// Invocations that handed over so far.
    pub hand_overs: u32,
    /// The template version the run began with: every invocation reads with it, whatever is saved
    /// meanwhile (an edit applies from the next run). Absent in checkpoints written before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateRef>,
    /// The operator's backfill the run carries out, if one was asked for when it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_since: Option<DateTime<Utc>>,
    pub counts: RunCounts,
    /// The selection cutoff and listing start of the run's first invocation.
    pub cutoff: DateTime<Utc>,
    pub listing_started: DateTime<Utc>,
    /// Prefixes still to list; empty once the listing is complete.
    pub listing: Vec<ListCursor>,
    /// Selected objects not finished yet, in import order once the listing is complete.
    pub pending: Vec<ObjectMeta>,
    /// Whether the objects due to be tried again (outside the listing's window too) were looked up.
    #[serde(default)]
    pub rechecked: bool,
    /// The object in progress (the first of `pending`), if one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileCheckpoint>,
    /// What the run's record will tell beside its counts: the newest object imported so far, the
    /// first failed files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_imported: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_failures: Vec<FailedFile>,
}

#[cfg(test)]
mod tests {
    use super::Connection;

    #[test]
    fn a_count_of_failed_files_below_zero_or_absent_reads_as_zero() {
        let stored = |failed: Option<i64>| {
            let mut json = serde_json::json!({
                "id": "c1", "name": "acme", "account_id": "123456789012", "bucket": "b", "region": "us-east-1",
                "folder": null, "role_name": "r", "external_id": "x", "template_id": "t", "status": "active",
                "created_at": "2026-11-01T00:00:00Z"
            });
            if let Some(n) = failed {
                json["failed_files"] = n.into();
            }
            serde_json::from_value::<Connection>(json).expect("readable").failed_files
        };
        assert_eq!((stored(None), stored(Some(-1)), stored(Some(3))), (0, 0, 3));
    }

    /// A hand-over written before zstd and bzip2 were read named the flag `gzip`: a run that spans
    /// the upgrade still reads its compressed file from the start.
    #[test]
    fn a_file_checkpoint_stored_with_its_gzip_flag_reads_from_the_start() {
        let stored = serde_json::json!({
            "key": "in/a.csv.gz", "etag": "e", "writing": true, "position": {"offset": 10, "line": 2},
            "gzip": true, "bom": 0, "rows_read": 1, "rows_rejected": 0, "row_errors": [], "rows_imported": 1,
            "elapsed_ms": 5
        });
        let checkpoint: super::FileCheckpoint = serde_json::from_value(stored).unwrap();
        assert!(checkpoint.from_start);
        assert_eq!(serde_json::to_value(&checkpoint).unwrap()["from_start"], true);
    }
}
