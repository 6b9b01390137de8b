//! Text for people: one way to print each of the service's types. Every word comes from the type's
//! own `Display` (the same word its JSON has); `--json` prints the types as the HTTP API does.

use connector_core::access::AccessReport;
use connector_core::model::{Connection, FileOutcome, RunCounts, SyncRun};
use std::fmt::Write;

/// Prints a value as pretty JSON (`--json`).
pub fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

const TIME: &str = "%Y-%m-%d %H:%M:%S UTC";

/// What a run did, counts labelled: `3 files imported, 1 partial; rows: 40 imported, 2 rejected`.
pub fn counts(c: &RunCounts) -> String {
    let mut files = format!("{} imported", c.files_imported);
    for (n, word) in [(c.files_partial, "partial"), (c.files_failed, "failed"), (c.files_skipped, "skipped")] {
        if n > 0 {
            let _ = write!(files, ", {n} {word}");
        }
    }
    format!(
        "{} objects listed, {} selected; files: {files}; rows: {} imported, {} rejected",
        c.objects_listed, c.objects_selected, c.rows_imported, c.rows_rejected
    )
}

/// One line for a sync run.
pub fn run_line(r: &SyncRun) -> String {
    format!(
        "{} {:<12} {}{}",
        r.started_at.format("%Y-%m-%d %H:%M:%S"),
        r.result,
        counts(&r.counts),
        r.error.as_ref().map(|e| format!("  ({e})")).unwrap_or_default()
    )
}

/// An object's outcome, then one line per recorded row error.
pub fn outcome(o: &FileOutcome, indent: &str) {
    let rows = match (o.rows_imported, o.rows_rejected) {
        _ if o.status == connector_core::model::FileStatus::Skipped => "not read".to_owned(),
        (imported, 0) => format!("{imported} rows imported"),
        (imported, rejected) => format!("{imported} rows imported, {rejected} rejected"),
    };
    println!(
        "{indent}{:<8} {:<36} {}{}{}",
        o.status,
        rows,
        o.key,
        o.reason.as_ref().map(|r| format!("  ({r})")).unwrap_or_default(),
        o.dismissed_at.map(|at| format!("  [dismissed {}]", time(at))).unwrap_or_default()
    );
    for e in &o.row_errors {
        println!("{indent}         {e}");
    }
    if !o.drift.unmapped_columns.is_empty() {
        println!("{indent}         columns the template does not map: {}", o.drift.unmapped_columns.join(", "));
    }
    if !o.drift.missing_columns.is_empty() {
        println!("{indent}         template columns the file lacks: {}", o.drift.missing_columns.join(", "));
    }
    match (&o.rejects_url, &o.rejects) {
        (Some(url), _) => {
            println!("{indent}         every rejected row, to fix and send again (link valid 1 hour): {url}")
        }
        (None, Some(key)) => println!("{indent}         every rejected row: {key} in the rejects bucket"),
        (None, None) => {}
    }
}

/// The access check's report: what it listed, then each object it read with its result and, for
/// one it could not read, why.
pub fn access(access: &AccessReport) {
    println!(
        "access: the role was assumed, {} objects listed, {} of the {} objects tried read",
        access.objects_listed,
        access.readable(),
        access.objects.len()
    );
    for o in &access.objects {
        println!("  {:<11} {}{}", o.result, o.key, o.error.as_ref().map(|e| format!("  ({e})")).unwrap_or_default());
    }
}

/// A connection's last sync, in words: `partial at 2026-11-30 02:00:04 UTC (1,204 ms)`, or `never`.
pub fn last_sync(c: &Connection) -> String {
    match (c.sync.last_result, c.sync.last_sync_started, c.sync.last_sync_finished) {
        (Some(result), Some(started), Some(finished)) => {
            format!("{result} at {} ({} ms)", started.format(TIME), (finished - started).num_milliseconds())
        }
        _ => "never".to_owned(),
    }
}

/// The bucket and folder as an S3 URL.
pub fn location(c: &Connection) -> String {
    format!("s3://{}/{}", c.bucket, c.folder.as_deref().unwrap_or(""))
}

/// One line per connection, for `list`.
pub fn connection_line(c: &Connection) -> String {
    let failed = match c.failed_files {
        0 => String::new(),
        n => format!("  {n} failed file(s)"),
    };
    format!(
        "{:<22} {:<16} {:<12} {:<24} {}  last sync: {}{failed}",
        c.id,
        tenant(c),
        c.status,
        c.name,
        location(c),
        last_sync(c)
    )
}

/// A connection's tenant, or what to do about a connection made before tenants.
pub fn tenant(c: &Connection) -> &str {
    match c.lacks_tenant() {
        true => "(no tenant: run `connections assign-tenant`)",
        false => &c.tenant,
    }
}

pub fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format(TIME).to_string()
}

/// A span of seconds as people read it: `45s`, `12m`, `3h 20m`, `2d 4h`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_as_people_say_them() {
        let said: Vec<String> = [-5, 45, 720, 12_000, 187_200].into_iter().map(super::duration).collect();
        assert_eq!(said, ["0s", "45s", "12m", "3h 20m", "2d 4h"]);
    }
}
