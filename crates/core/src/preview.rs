//! Preview of a connection: what the next sync would do with the first listed objects, and the first
//! rows of one object parsed against the template, with their row errors.

use crate::decode::decoded;
use crate::mapping::{Mapper, Record};
use crate::model::{FileStatus, ObjectMeta, RowError};
use crate::parse::{parse_rows, FileError, ParseOptions};
use crate::ports::LedgerEntry;
use crate::ports::ObjectBody;
use crate::selection::{self, Decision, KeyFormat, SelectionConfig};
use crate::template::Template;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::ops::ControlFlow;

/// One listed object and what the next sync would do with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectPreview {
    pub key: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    /// csv/tsv, json/jsonl, unknown (read with the template) or other (not readable), by extension.
    pub format: &'static str,
    pub gzip: bool,
    pub would_select: bool,
    /// Why not, or what it would be recorded as without reading.
    pub note: Option<String>,
}

pub fn object_preview(
    object: &ObjectMeta,
    cutoff: DateTime<Utc>,
    recorded: &HashMap<String, LedgerEntry>,
    template: &Template,
    config: &SelectionConfig,
    now: DateTime<Utc>,
) -> ObjectPreview {
    let decision = selection::decide(object, cutoff, recorded.get(&object.key), template, config, now);
    let (would_select, note) = match decision {
        Decision::Import => (true, None),
        Decision::OutOfWindow => (false, Some(format!("modified before {cutoff}, outside the sync window"))),
        Decision::AlreadyDone => (false, Some("already imported with this ETag".to_owned())),
        Decision::Settle { status: FileStatus::Failed, reason, .. } => (true, Some(format!("would fail: {reason}"))),
        Decision::Settle { reason, .. } => (false, Some(format!("would be skipped: {reason}"))),
    };
    let lower = object.key.to_ascii_lowercase();
    ObjectPreview {
        key: object.key.clone(),
        size: object.size,
        last_modified: object.last_modified,
        format: match selection::key_format(&object.key) {
            KeyFormat::Delimited => "csv/tsv",
            KeyFormat::Json => "json/jsonl",
            KeyFormat::Unknown => "unknown",
            KeyFormat::Other => "other",
        },
        gzip: lower.ends_with(".gz") || lower.ends_with(".gzip"),
        would_select,
        note,
    }
}

/// The first rows of an object as the template reads them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SamplePreview {
    pub key: String,
    /// Accepted rows, field -> value as it would be stored, shown by [`crate::value::Value::to_json`]'s
    /// rule (integers and booleans as JSON numbers and booleans, decimals as strings of their exact
    /// digits, the rest as text).
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    pub rows_read: u64,
    pub row_errors: Vec<RowError>,
    /// The file-level problem that would fail it, if any.
    pub file_error: Option<String>,
}

/// Parses up to `limit` accepted rows of `body` with the template, on a blocking thread, reading no
/// more of the object than that takes.
pub async fn sample(body: ObjectBody, key: &str, template: &Template, limit: usize) -> SamplePreview {
    let mapper = Mapper::new(template.clone());
    let reader = tokio_util::io::SyncIoBridge::new(body);
    let prefix = format!("{key}#preview");
    let result =
        tokio::task::spawn_blocking(move || -> Result<(Vec<Record>, crate::parse::ParseSummary), FileError> {
            let mut input = decoded(reader)?;
            let mut records = Vec::new();
            let summary = parse_rows(&mut input, &mapper, &prefix, ParseOptions::default(), &mut |record| {
                records.push(record);
                if records.len() >= limit {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })?;
            Ok((records, summary))
        })
        .await;
    let columns = &template.columns;
    match result {
        Ok(Ok((records, summary))) => SamplePreview {
            key: key.to_owned(),
            rows: records
                .iter()
                .map(|r| {
                    columns
                        .iter()
                        .zip(&r.values)
                        .filter_map(|(c, v)| v.as_ref().map(|v| (c.field.clone(), v.to_json())))
                        .collect()
                })
                .collect(),
            rows_read: summary.rows_read,
            row_errors: summary.row_errors,
            file_error: None,
        },
        Ok(Err(e)) => SamplePreview {
            key: key.to_owned(),
            rows: vec![],
            rows_read: 0,
            row_errors: vec![],
            file_error: Some(e.to_string()),
        },
        Err(e) => SamplePreview {
            key: key.to_owned(),
            rows: vec![],
            rows_read: 0,
            row_errors: vec![],
            file_error: Some(format!("parser failed: {e}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sample_reads_the_first_rows_and_their_errors() {
        let template = Template::from_json(
            r#"{"id": "t", "record_type": "r", "format": {"type": "csv"},
            "columns": [{"source": "id", "field": "id", "type": "string", "required": true},
                        {"source": "n", "field": "n", "type": "integer"}]}"#,
        )
        .unwrap();
        let body: ObjectBody = Box::pin(std::io::Cursor::new(b"id,n\na,1\nb,x\nc,3\nd,4\n".to_vec()));
        let preview = sample(body, "k.csv", &template, 2).await;
        assert_eq!(preview.rows.len(), 2);
        assert_eq!(preview.rows[1]["id"], "c");
        assert_eq!(preview.row_errors[0].column.as_deref(), Some("n"));
        assert_eq!(preview.rows_read, 3, "stopped after two accepted rows");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sample_rows_show_each_value_as_its_type_says() {
        let template = Template::from_json(
            r#"{"id": "t", "record_type": "r", "format": {"type": "csv"},
            "columns": [{"source": "id", "field": "id", "type": "string", "required": true},
                        {"source": "n", "field": "n", "type": "integer"},
                        {"source": "amount", "field": "amount", "type": "decimal"},
                        {"source": "paid", "field": "paid", "type": "boolean"},
                        {"source": "on", "field": "on", "type": "date"}]}"#,
        )
        .unwrap();
        let body: ObjectBody = Box::pin(std::io::Cursor::new(
            b"id,n,amount,paid,on
a,7,4.00,yes,2026-02-28
"
            .to_vec(),
        ));
        let preview = sample(body, "k.csv", &template, 10).await;
        let row = serde_json::Value::Object(preview.rows[0].clone());
        assert_eq!(
            row,
            serde_json::json!({"id": "a", "n": 7, "amount": "4.00", "paid": true, "on": "2026-02-28"}),
            "{preview:?}"
        );
    }
}
