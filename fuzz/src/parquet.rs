//! The Parquet reader's property: any bytes named `.parquet` are read through the pipeline's ranged
//! reads to records or to an error of the file (never a panic, never more than its limits), and a
//! read stopped after some records and gone on from its checkpoint gives what the whole read gives.

use crate::mapper;
use async_trait::async_trait;
use connector_core::mapping::Record;
use connector_core::model::{FileCheckpoint, ListCursor, ObjectMeta, RowError};
use connector_core::pipeline::{parquet::read, Emit, ParquetLimits, ReadLimits, ReadOptions, ReadResult};
use connector_core::ports::{ListPage, ObjectBody, ObjectSource, SourceError, SourceErrorKind};
use connector_core::rejects::RawRow;
use std::ops::ControlFlow;
use std::sync::Arc;

/// One object in memory, read by ranges.
struct OneObject(Vec<u8>);

#[async_trait]
impl ObjectSource for OneObject {
    async fn list_page(&self, _: &ListCursor) -> Result<ListPage, SourceError> {
        Ok(ListPage::default())
    }
    async fn open(&self, _: &ObjectMeta, from: u64) -> Result<ObjectBody, SourceError> {
        match self.0.get(from as usize..) {
            Some(rest) => Ok(Box::pin(std::io::Cursor::new(rest.to_vec()))),
            None => Err(SourceError::new(SourceErrorKind::Other, "range not satisfiable")),
        }
    }
    async fn head(&self, _: &str) -> Result<Option<ObjectMeta>, SourceError> {
        Ok(None)
    }
}

#[derive(Default)]
struct Kept {
    records: Vec<Record>,
    rejected: Vec<(RowError, Vec<u8>)>,
    stop_after: Option<usize>,
}

impl Emit for Kept {
    fn record(&mut self, record: Record) -> ControlFlow<()> {
        self.records.push(record);
        match self.stop_after {
            Some(n) if self.records.len() >= n => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    }
    fn rejected(&mut self, error: &RowError, raw: RawRow<'_>) -> ControlFlow<()> {
        let RawRow::Text(text) = raw else { panic!("a Parquet row is given back as JSON text") };
        assert!(serde_json::from_slice::<serde_json::Value>(text).is_ok_and(|v| v.is_object()));
        self.rejected.push((error.clone(), text.to_vec()));
        ControlFlow::Continue(())
    }
}

/// Limits small enough for the fuzzer to reach.
const LIMITS: ParquetLimits = ParquetLimits { max_footer_bytes: 1 << 20, max_row_group_bytes: 4 << 20 };

fn read_once(data: &[u8], resume: Option<FileCheckpoint>, stop_after: Option<usize>) -> (ReadResult, Kept) {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime =
            tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    }
    let object = ObjectMeta {
        key: "f.parquet".into(),
        etag: "\"e\"".into(),
        size: data.len() as u64,
        last_modified: chrono::DateTime::UNIX_EPOCH,
        storage_class: None,
        attempts: 0,
        replaces: None,
    };
    let source = OneObject(data.to_vec());
    let mapper = Arc::new(mapper(r#"{"type": "parquet"}"#, false));
    let limits = ReadLimits { parquet: LIMITS, ..ReadLimits::default() };
    let options = ReadOptions { limits, resume, ..ReadOptions::default() };
    let emit = Kept { stop_after, ..Kept::default() };
    RUNTIME.with(|runtime| {
        runtime.block_on(read(&source, &object, mapper, "f#e".into(), options, emit)).expect("the parser thread ends")
    })
}

/// Reads `data` whole, then stopped after `stop_after` records and gone on from each checkpoint.
pub fn check_parquet(data: &[u8], stop_after: usize) {
    let (whole, all) = read_once(data, None, None);
    assert!(whole.transport.is_none(), "{:?}", whole.transport);
    let summary = &whole.summary;
    assert_eq!(summary.rows_read, all.records.len() as u64 + summary.rows_rejected, "{summary:?}");
    assert_eq!(summary.rows_rejected, all.rejected.len() as u64);
    if whole.file_error.is_some() || all.records.is_empty() {
        return;
    }
    let (mut records, mut rejected, mut resume) = (Vec::new(), Vec::new(), None::<FileCheckpoint>);
    loop {
        let (part, kept) = read_once(data, resume.clone(), Some(stop_after.max(1)));
        assert!(part.file_error.is_none(), "a file read whole reads in parts: {:?}", part.file_error);
        records.extend(kept.records);
        rejected.extend(kept.rejected);
        let Some(position) = part.summary.resume_at.clone() else { break };
        let s = part.summary;
        resume = Some(FileCheckpoint {
            key: "f.parquet".into(),
            etag: "\"e\"".into(),
            writing: true,
            position,
            from_start: false,
            bom: 0,
            rows_read: s.rows_read,
            rows_rejected: s.rows_rejected,
            row_errors: s.row_errors,
            rows_imported: 0,
            elapsed_ms: 0,
            drift: s.drift,
            rejects: None,
        });
    }
    assert_eq!(records, all.records);
    assert_eq!(rejected, all.rejected);
}

/// libfuzzer's panic hook aborts on every panic, even one caught. The Parquet reader's own panics
/// on a hostile file are caught by the pipeline and fail that file (a tested property), so they
/// are let through; any other panic (ours, or a failed check) still aborts and is reported.
pub fn tolerate_reader_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let file = info.location().map(|l| l.file()).unwrap_or_default();
            if !(file.contains("/parquet-") || file.contains("/arrow-")) {
                fuzzer_hook(info);
            }
        }));
    });
}
