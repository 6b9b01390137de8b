//! The selection rule: which listed objects a sync imports, skips or leaves alone, and where the
//! watermark moves after it. Pure functions; every case of the rule has a row in the tests below.
//!
//! The rule, in short:
//! - first sync: objects modified within `initial_lookback` (90 days) of now;
//! - later syncs: objects modified at or after `watermark - overlap` (24 hours). The overlap catches
//!   multipart uploads (their LastModified is when the upload began) and clock skew between S3 and us;
//! - of those, every object whose key has no recorded outcome for its current ETag. The ledger makes
//!   the overlap safe (nothing twice) and the inclusive comparison on whole seconds makes same-second
//!   writes safe (nothing missed);
//! - the watermark moves to the listing's start, floored to the second, but never past an object that
//!   is not finished, and never backwards.

use crate::decode::Compression;
use crate::model::{FileStatus, ObjectMeta, Recheck};
use crate::ports::LedgerEntry;
use crate::template::{FormatKind, Template};
use chrono::{DateTime, TimeDelta, Timelike, Utc};
use std::collections::HashMap;

/// Tunables of the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectionConfig {
    /// How far back the first sync of a connection looks.
    pub initial_lookback: TimeDelta,
    /// How far before the watermark later syncs look again.
    pub overlap: TimeDelta,
    /// Larger objects fail without being read.
    pub max_object_bytes: u64,
    /// Attempts at an object that cannot be read for now (denied, archived) before it is left failed.
    pub retry_attempts: u32,
}

impl Default for SelectionConfig {
    fn default() -> Self {
        SelectionConfig {
            initial_lookback: TimeDelta::days(90),
            overlap: TimeDelta::hours(24),
            max_object_bytes: 100 * 1024 * 1024 * 1024,
            retry_attempts: 8,
        }
    }
}

/// Objects modified before this instant are not considered at all.
pub fn cutoff(watermark: Option<DateTime<Utc>>, now: DateTime<Utc>, config: &SelectionConfig) -> DateTime<Utc> {
    match watermark {
        None => now - config.initial_lookback,
        Some(w) => w - config.overlap,
    }
}

/// What one candidate object becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Older than the cutoff: not considered.
    OutOfWindow,
    /// This key already has an outcome for this ETag.
    AlreadyDone,
    /// Read and import it.
    Import,
    /// Record this outcome without reading the object.
    Settle { status: FileStatus, reason: String, recheck: Option<Recheck> },
}

/// Whether an outcome's recheck has come: the reason it was settled for no longer holds.
pub fn recheck_due(
    recheck: Option<&Recheck>,
    template: &Template,
    config: &SelectionConfig,
    now: DateTime<Utc>,
) -> bool {
    match recheck {
        None => false,
        Some(Recheck::FormatChanges { format }) => *format != template.format.kind,
        Some(Recheck::LimitRaised { limit }) => config.max_object_bytes > *limit,
        Some(Recheck::Retry { next_at, .. }) => now >= *next_at,
        Some(Recheck::Operator { .. }) => true,
    }
}

/// The next attempt at an object that could not be read for now, after `attempts_so_far`: 1, 2, 4
/// ... hours later (a day at most), `retry_attempts` in all; `None` once they are spent.
pub fn retry_recheck(attempts_so_far: u32, now: DateTime<Utc>, config: &SelectionConfig) -> Option<Recheck> {
    let attempt = attempts_so_far + 1;
    if attempt >= config.retry_attempts {
        return None;
    }
    let wait = TimeDelta::hours(1 << (attempt - 1).min(5)).min(TimeDelta::days(1));
    Some(Recheck::Retry { attempt, next_at: now + wait })
}

/// Storage classes whose objects cannot be read without a restore.
const ARCHIVED: &[&str] = &["GLACIER", "DEEP_ARCHIVE"];

/// Whether objects of a listed storage class cannot be read without a restore.
pub fn is_archive_class(class: &str) -> bool {
    ARCHIVED.contains(&class)
}

/// Decides one object. `recorded` is the key's ledger entry, if any; `now` tells whether a retry is due.
pub fn decide(
    object: &ObjectMeta,
    cutoff: DateTime<Utc>,
    recorded: Option<&LedgerEntry>,
    template: &Template,
    config: &SelectionConfig,
    now: DateTime<Utc>,
) -> Decision {
    let skip = |reason: String, recheck| Decision::Settle { status: FileStatus::Skipped, reason, recheck };
    if object.last_modified < cutoff {
        return Decision::OutOfWindow;
    }
    let this_version = recorded.filter(|r| r.etag == object.etag);
    if let Some(entry) = this_version {
        if !recheck_due(entry.recheck.as_ref(), template, config, now) {
            return Decision::AlreadyDone;
        }
    }
    if object.key.ends_with('/') {
        return skip("folder placeholder".into(), None);
    }
    // An archived object is not read when first seen; once its retry is due it is, and S3 answers
    // whether a restored copy exists (InvalidObjectState otherwise).
    let retry_due =
        this_version.is_some_and(|e| matches!(e.recheck, Some(Recheck::Retry { .. } | Recheck::Operator { .. })));
    if let Some(class) = object.storage_class.as_deref().filter(|c| ARCHIVED.contains(c) && !retry_due) {
        let recheck = retry_recheck(object.attempts, now, config);
        let then = match recheck {
            Some(_) => "tried again at the next syncs",
            None => "no more automatic attempts; `s3-connector files retry` once restored",
        };
        return skip(format!("archived in storage class {class}; restore it to import ({then})"), recheck);
    }
    if let Err(reason) = readable_by(&object.key, template.format.kind) {
        return skip(reason, Some(Recheck::FormatChanges { format: template.format.kind }));
    }
    if object.size > config.max_object_bytes {
        return Decision::Settle {
            status: FileStatus::Failed,
            reason: format!("object is {} bytes, over the limit of {} bytes", object.size, config.max_object_bytes),
            recheck: Some(Recheck::LimitRaised { limit: config.max_object_bytes }),
        };
    }
    Decision::Import
}

/// What a key's extension says about its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    Delimited,
    Json,
    Parquet,
    /// No extension, or one that says nothing (.txt, .dat, .log): read it with the template.
    Unknown,
    /// A format no template reads.
    Other,
}

/// Extensions of compressed files, and what they say (the compression itself is detected by
/// content: a name is only a hint).
const COMPRESSED_EXTENSIONS: [(&str, Compression); 5] = [
    (".gz", Compression::Gzip),
    (".gzip", Compression::Gzip),
    (".zst", Compression::Zstd),
    (".zstd", Compression::Zstd),
    (".bz2", Compression::Bzip2),
];

/// The compression a key's name says, if any.
pub fn key_compression(key: &str) -> Option<Compression> {
    let name = key.to_ascii_lowercase();
    COMPRESSED_EXTENSIONS.iter().find(|(ext, _)| name.ends_with(ext)).map(|(_, c)| *c)
}

/// A key's file name without its folder and without a compression's extension (`in/Orders.csv.gz`
/// -> `Orders.csv`): the name whose extension says the format.
pub fn key_file_name(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    COMPRESSED_EXTENSIONS
        .iter()
        .find_map(|(ext, _)| {
            let cut = name.len().checked_sub(ext.len())?;
            (name.is_char_boundary(cut) && name[cut..].eq_ignore_ascii_case(ext)).then(|| &name[..cut])
        })
        .unwrap_or(name)
}

/// The extension that says a key's format, lower case, after an optional compression's (.gz,
/// .zst, .bz2): `csv` for `in/a.CSV.gz`; `None` without one.
pub fn key_extension(key: &str) -> Option<String> {
    key_file_name(key).rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase())
}

/// Classifies a key by its extension, after an optional compression's (.gz, .zst, .bz2).
pub fn key_format(key: &str) -> KeyFormat {
    let Some(ext) = key_extension(key) else {
        return KeyFormat::Unknown;
    };
    match ext.as_str() {
        "csv" | "tsv" | "tab" => KeyFormat::Delimited,
        "json" | "jsonl" | "ndjson" => KeyFormat::Json,
        "parquet" | "pq" => KeyFormat::Parquet,
        "avro" | "orc" | "xlsx" | "xls" | "pdf" | "png" | "jpg" | "jpeg" | "gif" | "zip" | "tar" | "7z" | "xz"
        | "lz4" | "snappy" => KeyFormat::Other,
        _ => KeyFormat::Unknown,
    }
}

/// Whether a template of `kind` can read a key, by its extension.
pub fn readable_by(key: &str, kind: FormatKind) -> Result<(), String> {
    let readable = match key_format(key) {
        KeyFormat::Unknown => true,
        KeyFormat::Delimited => matches!(kind, FormatKind::Csv | FormatKind::Tsv),
        KeyFormat::Json => matches!(kind, FormatKind::Json | FormatKind::JsonLines),
        KeyFormat::Parquet => kind == FormatKind::Parquet,
        KeyFormat::Other => false,
    };
    if readable {
        Ok(())
    } else {
        Err(format!("the key's extension does not match the template's format ({kind:?})"))
    }
}

/// The outcome of the rule over a whole listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// To read, oldest first, ties broken by key.
    pub import: Vec<ObjectMeta>,
    /// To record without reading, in the same order, with what may bring each back.
    pub settle: Vec<(ObjectMeta, FileStatus, String, Option<Recheck>)>,
    /// Candidates that already have an outcome for their ETag.
    pub already_done: u64,
}

/// Applies [`decide`] to every candidate. `recorded` maps keys to their ledger entries.
pub fn select(
    candidates: Vec<ObjectMeta>,
    cutoff: DateTime<Utc>,
    recorded: &HashMap<String, LedgerEntry>,
    template: &Template,
    config: &SelectionConfig,
    now: DateTime<Utc>,
) -> Selection {
    let mut selection = Selection::default();
    for mut object in candidates {
        let entry = recorded.get(&object.key);
        // A version tried again carries its attempts so far; a new version, the one it replaces.
        if let Some(Recheck::Retry { attempt, .. }) =
            entry.filter(|e| e.etag == object.etag).and_then(|e| e.recheck.as_ref())
        {
            object.attempts = *attempt;
        }
        object.replaces = match entry {
            Some(e) if e.etag != object.etag => Some(e.etag.clone()),
            // This version's outcome still carries an earlier version to remove once imported.
            Some(e) => e.replaces.clone(),
            None => None,
        };
        match decide(&object, cutoff, entry, template, config, now) {
            Decision::OutOfWindow => {}
            Decision::AlreadyDone => selection.already_done += 1,
            Decision::Import => selection.import.push(object),
            Decision::Settle { status, reason, recheck } => selection.settle.push((object, status, reason, recheck)),
        }
    }
    selection.import.sort_by(processing_order);
    selection.settle.sort_by(|a, b| processing_order(&a.0, &b.0));
    selection
}

/// Oldest first, ties broken by key, so runs are repeatable and the watermark moves in order.
pub fn processing_order(a: &ObjectMeta, b: &ObjectMeta) -> std::cmp::Ordering {
    (a.last_modified, &a.key).cmp(&(b.last_modified, &b.key))
}

/// The watermark after a run whose listing started at `listing_started`. `oldest_unfinished` is the
/// LastModified of the oldest selected object the run did not finish (it will be retried).
pub fn next_watermark(
    previous: Option<DateTime<Utc>>,
    listing_started: DateTime<Utc>,
    oldest_unfinished: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    // Whole seconds: S3 truncates LastModified, so an object written later in the listing's first
    // second carries that second and must still be >= the next cutoff.
    let start = listing_started.with_nanosecond(0).unwrap_or(listing_started);
    let proposed = oldest_unfinished.map_or(start, |u| u.min(start));
    previous.map_or(proposed, |p| p.max(proposed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{FormatKind, Template};

    fn t(s: &str) -> DateTime<Utc> {
        format!("2026-06-01T{s}Z").parse().unwrap()
    }

    fn object(key: &str, etag: &str, modified: DateTime<Utc>) -> ObjectMeta {
        ObjectMeta {
            key: key.into(),
            etag: etag.into(),
            size: 100,
            last_modified: modified,
            storage_class: None,
            attempts: 0,
            replaces: None,
        }
    }

    fn csv_template() -> Template {
        Template::from_json(
            r#"{"id": "t", "record_type": "r", "format": {"type": "csv"},
            "columns": [{"source": "a", "field": "a", "type": "string"}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn cutoff_is_lookback_on_first_sync_then_watermark_minus_overlap() {
        let config = SelectionConfig::default();
        let now: DateTime<Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
        assert_eq!(cutoff(None, now, &config), "2026-03-03T12:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(cutoff(Some(t("10:00:00")), now, &config), "2026-05-31T10:00:00Z".parse::<DateTime<Utc>>().unwrap());
    }

    #[test]
    fn every_case_of_the_rule() {
        let config = SelectionConfig { max_object_bytes: 1000, ..SelectionConfig::default() };
        let template = csv_template();
        // Cutoff as after a sync whose listing started at 10:00:00.700 with a one-hour overlap.
        let cutoff = t("09:00:00");
        let now = t("12:00:00");
        let settle = |status, reason: &str, recheck: Option<Recheck>| Decision::Settle {
            status,
            reason: reason.into(),
            recheck,
        };
        let done = |etag: &str| Some(LedgerEntry { etag: etag.into(), recheck: None, replaces: None });
        let recorded = |etag: &str, recheck: Recheck| {
            Some(LedgerEntry { etag: etag.into(), recheck: Some(recheck), replaces: None })
        };
        let retry_at = |at: &str| Recheck::Retry { attempt: 2, next_at: t(at) };
        let first_retry = Some(Recheck::Retry { attempt: 1, next_at: t("13:00:00") });
        let format = |kind| Recheck::FormatChanges { format: kind };
        let archived =
            |class: &str| ObjectMeta { storage_class: Some(class.into()), ..object("a.csv", "e", t("11:00:00")) };
        let big = ObjectMeta { size: 1001, ..object("big.csv", "e", t("11:00:00")) };
        let cases: Vec<(&str, ObjectMeta, Option<LedgerEntry>, Decision)> = vec![
            ("new object in window", object("a.csv", "e1", t("11:00:00")), None, Decision::Import),
            ("older than the cutoff", object("a.csv", "e1", t("08:59:59")), None, Decision::OutOfWindow),
            ("exactly at the cutoff second is included", object("a.csv", "e1", t("09:00:00")), None, Decision::Import),
            (
                "written in the same second the last listing started",
                object("late.csv", "e1", t("10:00:00")),
                None,
                Decision::Import,
            ),
            (
                "multipart upload begun before the last sync, inside the overlap",
                object("mp.csv", "e1", t("09:30:00")),
                None,
                Decision::Import,
            ),
            (
                "already imported with this ETag",
                object("a.csv", "e1", t("11:00:00")),
                done("e1"),
                Decision::AlreadyDone,
            ),
            (
                "already imported, inside the overlap",
                object("a.csv", "e1", t("09:30:00")),
                done("e1"),
                Decision::AlreadyDone,
            ),
            ("replaced under the same key", object("a.csv", "e2", t("11:00:00")), done("e1"), Decision::Import),
            (
                "folder placeholder",
                object("in/", "e", t("11:00:00")),
                None,
                settle(FileStatus::Skipped, "folder placeholder", None),
            ),
            (
                "glacier",
                archived("GLACIER"),
                None,
                settle(
                    FileStatus::Skipped,
                    "archived in storage class GLACIER; restore it to import (tried again at the next syncs)",
                    first_retry.clone(),
                ),
            ),
            (
                "deep archive",
                archived("DEEP_ARCHIVE"),
                None,
                settle(
                    FileStatus::Skipped,
                    "archived in storage class DEEP_ARCHIVE; restore it to import (tried again at the next syncs)",
                    first_retry.clone(),
                ),
            ),
            ("glacier instant retrieval is readable", archived("GLACIER_IR"), None, Decision::Import),
            (
                "format the template cannot read",
                object("a.parquet", "e", t("11:00:00")),
                None,
                settle(
                    FileStatus::Skipped,
                    "the key's extension does not match the template's format (Csv)",
                    Some(format(FormatKind::Csv)),
                ),
            ),
            (
                "json under a csv template",
                object("a.json.gz", "e", t("11:00:00")),
                None,
                settle(
                    FileStatus::Skipped,
                    "the key's extension does not match the template's format (Csv)",
                    Some(format(FormatKind::Csv)),
                ),
            ),
            (
                "unknown extension is read with the template",
                object("data.txt", "e", t("11:00:00")),
                None,
                Decision::Import,
            ),
            ("gzipped csv", object("a.CSV.gz", "e", t("11:00:00")), None, Decision::Import),
            ("zstd csv", object("a.csv.zst", "e", t("11:00:00")), None, Decision::Import),
            ("bzip2 csv", object("a.csv.BZ2", "e", t("11:00:00")), None, Decision::Import),
            (
                "bzip2 json under a csv template",
                object("a.jsonl.bz2", "e", t("11:00:00")),
                None,
                settle(
                    FileStatus::Skipped,
                    "the key's extension does not match the template's format (Csv)",
                    Some(format(FormatKind::Csv)),
                ),
            ),
            (
                "over the size limit",
                big,
                None,
                settle(
                    FileStatus::Failed,
                    "object is 1001 bytes, over the limit of 1000 bytes",
                    Some(Recheck::LimitRaised { limit: 1000 }),
                ),
            ),
            ("skipped once stays settled", object("in/", "e", t("11:00:00")), done("e"), Decision::AlreadyDone),
            (
                "skipped for its extension, and the template still reads that format",
                object("a.json", "e", t("11:00:00")),
                recorded("e", format(FormatKind::Csv)),
                Decision::AlreadyDone,
            ),
            (
                "skipped for its extension, and the template now reads another format",
                object("a.json", "e", t("11:00:00")),
                recorded("e", format(FormatKind::Json)),
                settle(
                    FileStatus::Skipped,
                    "the key's extension does not match the template's format (Csv)",
                    Some(format(FormatKind::Csv)),
                ),
            ),
            (
                "skipped json decided again under a csv template that became json is imported",
                object("a.csv", "e", t("11:00:00")),
                recorded("e", format(FormatKind::Json)),
                Decision::Import,
            ),
            (
                "failed for its size, limit not raised",
                object("big.csv", "e", t("11:00:00")),
                recorded("e", Recheck::LimitRaised { limit: 1000 }),
                Decision::AlreadyDone,
            ),
            (
                "failed for its size, limit raised past it",
                object("big.csv", "e", t("11:00:00")),
                recorded("e", Recheck::LimitRaised { limit: 50 }),
                Decision::Import,
            ),
            (
                "retry not due yet",
                object("a.csv", "e", t("11:00:00")),
                recorded("e", retry_at("12:00:01")),
                Decision::AlreadyDone,
            ),
            ("retry due", object("a.csv", "e", t("11:00:00")), recorded("e", retry_at("12:00:00")), Decision::Import),
            (
                "retry due but out of the window: the run's recheck pass takes it, not the listing",
                object("a.csv", "e", t("08:00:00")),
                recorded("e", retry_at("11:00:00")),
                Decision::OutOfWindow,
            ),
            (
                "archived, retry due: read to see if restored",
                archived("GLACIER"),
                recorded("e", retry_at("11:00:00")),
                Decision::Import,
            ),
            (
                "an operator asked",
                object("a.csv", "e", t("11:00:00")),
                recorded("e", Recheck::Operator { asked_at: t("11:59:00") }),
                Decision::Import,
            ),
            (
                "a retry of another version does not count",
                object("a.csv", "e2", t("11:00:00")),
                recorded("e1", retry_at("13:00:00")),
                Decision::Import,
            ),
        ];
        for (name, object, imported, expected) in cases {
            assert_eq!(
                decide(&object, cutoff, imported.as_ref(), &template, &config, now),
                expected,
                "case '{name}': {object:?}, imported {imported:?}"
            );
        }
    }

    #[test]
    fn a_keys_extension_matches_it_to_the_templates_of_its_format() {
        use FormatKind::*;
        let cases = [
            ("in/a.csv", [true, true, false, false, false]),
            ("in/a.TSV.gz", [true, true, false, false, false]),
            ("in/a.jsonl.zst", [false, false, true, true, false]),
            ("in/a.parquet", [false, false, false, false, true]),
            ("in/a.PQ", [false, false, false, false, true]),
            ("in/a.avro", [false, false, false, false, false]),
            ("in/a.dat", [true, true, true, true, true]),
        ];
        for (key, readable) in cases {
            let by = [Csv, Tsv, Json, JsonLines, Parquet].map(|kind| readable_by(key, kind).is_ok());
            assert_eq!(by, readable, "{key}");
        }
    }

    #[test]
    fn selection_orders_oldest_first_then_by_key() {
        let objects = vec![
            object("c.csv", "e", t("11:00:00")),
            object("b.csv", "e", t("10:00:00")),
            object("a.csv", "e", t("11:00:00")),
            object("done.csv", "e", t("09:00:00")),
            object("dir/", "e", t("09:30:00")),
        ];
        let imported =
            HashMap::from([("done.csv".to_string(), LedgerEntry { etag: "e".into(), recheck: None, replaces: None })]);
        let s = select(objects, t("00:00:00"), &imported, &csv_template(), &SelectionConfig::default(), t("12:00:00"));
        let keys: Vec<_> = s.import.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["b.csv", "a.csv", "c.csv"]);
        assert_eq!(s.already_done, 1);
        assert_eq!(s.settle.len(), 1);
    }

    #[test]
    fn watermark_moves_to_listing_start_floored_never_past_unfinished_never_back() {
        let cases = [
            ("first run, all done", None, t("10:00:00.700"), None, t("10:00:00")),
            ("unfinished object holds it back", None, t("10:00:00.700"), Some(t("09:15:00")), t("09:15:00")),
            ("unfinished object newer than the start", None, t("10:00:00"), Some(t("10:00:05")), t("10:00:00")),
            ("never backwards", Some(t("09:30:00")), t("10:00:00"), Some(t("09:00:00")), t("09:30:00")),
            ("moves forward", Some(t("09:30:00")), t("10:00:00.5"), None, t("10:00:00")),
        ];
        for (name, previous, started, unfinished, expected) in cases {
            assert_eq!(next_watermark(previous, started, unfinished), expected, "case '{name}'");
        }
    }

    #[test]
    fn same_second_write_after_listing_is_caught_even_without_overlap() {
        // A listing starts at 10:00:00.700; an object written at 10:00:00.900 is not in it and S3
        // stamps it 10:00:00. With zero overlap the next sync must still select it.
        let config = SelectionConfig { overlap: TimeDelta::zero(), ..SelectionConfig::default() };
        let watermark = next_watermark(None, t("10:00:00.700"), None);
        let late = object("late.csv", "e", t("10:00:00"));
        assert_eq!(
            decide(
                &late,
                cutoff(Some(watermark), t("11:00:00"), &config),
                None,
                &csv_template(),
                &config,
                t("11:00:00")
            ),
            Decision::Import
        );
    }
}
