//! Preview of a connection: what the next sync would do with the first listed objects, and the first
//! rows of one object parsed against the template, with their row errors.

use crate::mapping::{Mapper, Record};
use crate::model::{FileStatus, ObjectMeta, RowError};
use crate::pipeline::{self, Emit, ReadLimits, ReadOptions};
use crate::ports::LedgerEntry;
use crate::ports::ObjectBody;
use crate::selection::{self, Decision, KeyFormat, SelectionConfig};
use crate::template::Template;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

/// One listed object and what the next sync would do with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectPreview {
    pub key: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    /// csv/tsv, json/jsonl, unknown (read with the template) or other (not readable), by extension.
    pub format: &'static str,
    /// gzip, zstd or bzip2 by extension (the read decides by content).
    pub compression: Option<&'static str>,
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
        // A name that does not say its format (notes.txt, a key without an extension) is read with
        // the template all the same: say so, since such a file often fails at its header.
        Decision::Import if selection::key_format(&object.key) == KeyFormat::Unknown => (
            true,
            Some(format!(
                "its name does not say its format: it would be read as {}, the template's",
                template.format.kind
            )),
        ),
        Decision::Import => (true, None),
        Decision::OutOfWindow => (false, Some(format!("modified before {cutoff}, outside the sync window"))),
        Decision::AlreadyDone => (false, Some("already imported with this ETag".to_owned())),
        Decision::Settle { status: FileStatus::Failed, reason, .. } => (true, Some(format!("would fail: {reason}"))),
        Decision::Settle { reason, .. } => (false, Some(format!("would be skipped: {reason}"))),
    };
    ObjectPreview {
        key: object.key.clone(),
        size: object.size,
        last_modified: object.last_modified,
        format: match selection::key_format(&object.key) {
            KeyFormat::Delimited => "csv/tsv",
            KeyFormat::Json => "json/jsonl",
            KeyFormat::Parquet => "parquet",
            KeyFormat::Unknown => "unknown",
            KeyFormat::Other => "other",
        },
        compression: selection::key_compression(&object.key).map(|c| c.name()),
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
    /// The file-level problem that would fail it, if any: where (`at its header`, `before any row was
    /// read`, `part of the way through, after N rows`), then why, as the file's outcome says it.
    pub file_error: Option<String>,
}

/// Reads up to `limit` accepted rows of `body` with the template, through the sync's read pipeline
/// and with its `limits`, so that a sample fails as a sync of the file would; reads no more of the
/// object than that takes. An object read by ranges that could not be read at all (its first range
/// denied, gone) is the `Err`, as failing to open a body is its opener's.
pub async fn sample(
    input: SampleInput<'_>,
    key: &str,
    template: &Template,
    limit: usize,
    limits: ReadLimits,
) -> Result<SamplePreview, crate::ports::SourceError> {
    let mapper = Arc::new(Mapper::new(template.clone()));
    let options = ReadOptions { limits, ..ReadOptions::default() };
    let first_rows = FirstRows { records: Vec::new(), limit };
    let id_prefix = format!("{key}#preview");
    let by_ranges = matches!(input, SampleInput::Ranges(..));
    let read = match input {
        SampleInput::Body(body) => pipeline::read(body, mapper, id_prefix, options, first_rows).await,
        SampleInput::Ranges(source, object) => {
            pipeline::parquet::read(source, object, mapper, id_prefix, options, first_rows).await
        }
    };
    let (read, first_rows) = match read {
        Ok(read) => read,
        Err(e) => {
            return Ok(SamplePreview {
                key: key.to_owned(),
                rows: vec![],
                rows_read: 0,
                row_errors: vec![],
                file_error: Some(format!("parser failed: {e}")),
            })
        }
    };
    if let (true, Some((kind, failure)), 0) = (by_ranges, &read.transport, read.fetched) {
        return Err(crate::ports::SourceError::new(*kind, failure.clone()));
    }
    // Where and why it fails, as the file's outcome would say it; a failure of the body itself
    // (not the file's) is said as such.
    let file_error = match (&read.transport, read.failure()) {
        (Some((_, failure)), _) => Some(format!("reading the object failed: {failure}")),
        (None, Some((at, reason))) => Some(format!("{at}: {reason}")),
        (None, None) => None,
    };
    let columns = &template.columns;
    Ok(SamplePreview {
        key: key.to_owned(),
        rows: first_rows
            .records
            .iter()
            .map(|r| {
                let mut row: serde_json::Map<String, serde_json::Value> = columns
                    .iter()
                    .zip(&r.values)
                    .filter_map(|(c, v)| v.as_ref().map(|v| (c.field.clone(), v.to_json())))
                    .collect();
                if !r.extra.is_empty() {
                    let extra = r.extra.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
                    row.insert(crate::template::EXTRA_FIELD.to_owned(), serde_json::Value::Object(extra));
                }
                row
            })
            .collect(),
        rows_read: read.summary.rows_read,
        row_errors: read.summary.row_errors,
        file_error,
    })
}

/// What a sample is read from: a body from its start, or, for a Parquet template, the object
/// itself by ranges (its footer, then its first row groups).
pub enum SampleInput<'s> {
    Body(ObjectBody),
    Ranges(&'s dyn crate::ports::ObjectSource, &'s ObjectMeta),
}

/// Keeps the first `limit` records, then says stop.
struct FirstRows {
    records: Vec<Record>,
    limit: usize,
}

impl Emit for FirstRows {
    fn record(&mut self, record: Record) -> ControlFlow<()> {
        self.records.push(record);
        if self.records.len() >= self.limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::DecodeLimits;
    use crate::parse::ParseLimits;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sample_reads_the_first_rows_and_their_errors() {
        let template = Template::from_json(
            r#"{"id": "t", "record_type": "r", "format": {"type": "csv"},
            "columns": [{"source": "id", "field": "id", "type": "string", "required": true},
                        {"source": "n", "field": "n", "type": "integer"}]}"#,
        )
        .unwrap();
        let body: ObjectBody = Box::pin(std::io::Cursor::new(b"id,n\na,1\nb,x\nc,3\nd,4\n".to_vec()));
        let preview = sample(SampleInput::Body(body), "k.csv", &template, 2, ReadLimits::default()).await.unwrap();
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
        let preview = sample(SampleInput::Body(body), "k.csv", &template, 10, ReadLimits::default()).await.unwrap();
        let row = serde_json::Value::Object(preview.rows[0].clone());
        assert_eq!(
            row,
            serde_json::json!({"id": "a", "n": 7, "amount": "4.00", "paid": true, "on": "2026-02-28"}),
            "{preview:?}"
        );
    }

    fn payments() -> Template {
        Template::from_json(
            r#"{"id": "t", "record_type": "r", "format": {"type": "csv"},
            "columns": [{"source": "id", "field": "id", "type": "string", "required": true},
                        {"source": "n", "field": "n", "type": "integer"}]}"#,
        )
        .unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, data).unwrap();
        encoder.finish().unwrap()
    }

    /// A sample is read with the limits it is given (the sync's), not the defaults: a record past
    /// `max_record_bytes`, or a gzip stream past `max_expansion_ratio`, fails the sample as it fails a sync.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sample_is_read_with_the_limits_it_is_given() {
        let small = ReadLimits {
            parse: ParseLimits { max_record_bytes: 1024, ..ParseLimits::default() },
            // A sample reads only its first rows: limits low enough to be passed by the first chunk.
            decode: DecodeLimits { max_expansion_ratio: 5, ratio_floor_bytes: 1024 },
            ..ReadLimits::default()
        };
        let long = format!("id,n\na,1\n{},2\n", "x".repeat(2000));
        let rows: String = (0..200_000).map(|_| "a,1\n").collect();
        let bomb = gzip(format!("id,n\n{rows}").as_bytes());
        let cases: [(&str, Vec<u8>, &str); 2] = [
            (
                "a record longer than max_record_bytes",
                long.into_bytes(),
                "CSV record at line 3 is longer than 1024 bytes",
            ),
            ("a gzip stream past max_expansion_ratio", bomb, "refused as a decompression bomb"),
        ];
        for (case, data, expected) in cases {
            let body: ObjectBody = Box::pin(std::io::Cursor::new(data));
            let preview = sample(SampleInput::Body(body), "k.csv", &payments(), 10, small).await.unwrap();
            let error = preview.file_error.as_deref().unwrap_or_else(|| panic!("{case}: no file error: {preview:?}"));
            assert!(error.contains(expected), "{case}: {error}");
        }
    }

    #[test]
    fn a_file_whose_name_does_not_say_its_format_is_flagged() {
        let template = Template::from_json(
            r#"{"id": "t", "record_type": "r", "format": {"type": "csv"},
                "columns": [{"source": "id", "field": "id", "type": "string"}]}"#,
        )
        .unwrap();
        let now: DateTime<Utc> = "2026-06-10T00:00:00Z".parse().unwrap();
        let object = |key: &str| ObjectMeta {
            key: key.into(),
            etag: "e".into(),
            size: 10,
            last_modified: now,
            storage_class: None,
            attempts: 0,
            replaces: None,
        };
        let cutoff = now - chrono::TimeDelta::days(1);
        let config = SelectionConfig::default();
        let notes = object_preview(&object("in/notes.txt"), cutoff, &HashMap::new(), &template, &config, now);
        assert!(notes.would_select);
        assert_eq!(
            notes.note.as_deref(),
            Some("its name does not say its format: it would be read as csv, the template's")
        );
        let csv = object_preview(&object("in/a.csv"), cutoff, &HashMap::new(), &template, &config, now);
        assert_eq!((csv.would_select, csv.note), (true, None));
    }
}
