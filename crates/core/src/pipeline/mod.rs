//! One read pipeline for an object, the same for a sync's import of a file and for a preview's
//! sample, with the same limits:
//!
//! ```text
//! ObjectBody -> FailureTap -> SyncIoBridge -> [gzip|zstd|bzip2] -> text -> parser -> mapper -> Emit
//!   (async)     (a failure     (a blocking      (decode, with     (BOM,   (parse, with
//!                of the body    thread)          DecodeLimits)     the     ParseLimits)
//!                itself)                                           template's encoding)
//! ```
//!
//! Parsing is synchronous (csv, serde_json), so it runs on a blocking thread reading the body through
//! a bridge; what it parses goes to an [`Emit`] on that thread (the engine's sends batches to its
//! writers, the preview's keeps the first rows). The tap remembers a failure of the body itself (a
//! dropped connection, a replaced object), which the decoder only sees as an I/O error: the caller
//! tells a broken download from a corrupt file by it.

pub mod parquet;

pub use parquet::ParquetLimits;

use crate::decode::{decode_limited, decoded_from, DecodeLimits};
use crate::mapping::{Mapper, Record};
use crate::model::{FileCheckpoint, RowError};
use crate::parse::{parse_rows_counted, FileError, ParseLimits, ParseOptions, ParseSummary, RawRow, RowSink};
use crate::ports::{ObjectBody, SourceError, SourceErrorKind};
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// What reading an object refuses, so that no object becomes unbounded work: the sync's limits
/// (`S3C_MAX_RECORD_BYTES`, `S3C_MAX_EXPANSION_RATIO`), for a preview as for a sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadLimits {
    pub decode: DecodeLimits,
    pub parse: ParseLimits,
    pub parquet: ParquetLimits,
}

/// How to read an object.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub limits: ReadLimits,
    /// Stop at the first rejected row (the validation pass of `fail_file` templates).
    pub stop_at_first_row_error: bool,
    /// Go on from a hand-over's checkpoint: the body given starts at [`body_offset`] of it.
    pub resume: Option<FileCheckpoint>,
}

/// Where the body of an object read from `resume` on must start: a plain object is fetched from the
/// checkpoint's byte on (after its byte-order mark); a compressed stream cannot be entered in the
/// middle, so it is fetched from its start and decoded up to the checkpoint.
pub fn body_offset(resume: &FileCheckpoint) -> u64 {
    if resume.from_start {
        0
    } else {
        resume.bom + resume.position.offset
    }
}

/// What takes the records a read parses, on the parser's thread.
pub trait Emit: Send + 'static {
    /// Takes one record; `Break` stops the read just after it (the summary says where to go on).
    fn record(&mut self, record: Record) -> ControlFlow<()>;
    /// A delimited file's header, once read (the rejects file starts with it).
    fn header(&mut self, _names: &[String]) {}
    /// A rejected row as it was read, and why (for the rejects file; the summary counts it);
    /// `Break` stops the read just after it.
    fn rejected(&mut self, _error: &RowError, _raw: RawRow<'_>) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// The read is over (whether it ended, stopped or failed): pass on what is held, and let go of
    /// what should not outlive the read (a channel's sender: the emitter itself is given back).
    fn end(&mut self) {}
}

/// An [`Emit`] as the parser's [`RowSink`].
struct Sink<'e>(&'e mut dyn Emit);

impl RowSink for Sink<'_> {
    fn record(&mut self, record: Record) -> ControlFlow<()> {
        self.0.record(record)
    }
    fn header(&mut self, names: &[String]) {
        self.0.header(names)
    }
    fn rejected(&mut self, error: &RowError, raw: RawRow<'_>) -> ControlFlow<()> {
        self.0.rejected(error, raw)
    }
}

/// What a read of an object gave.
#[derive(Debug)]
pub struct ReadResult {
    /// The rows read and rejected, counting those before a resume; on a file error, those before it.
    pub summary: ParseSummary,
    /// What made the rest of the file unreadable, if anything (the decoder's errors included).
    pub file_error: Option<FileError>,
    /// Whether a hand-over must read the object from its start (it is compressed), and the bytes
    /// of its byte-order mark: what a checkpoint needs to find its place again.
    pub from_start: bool,
    pub bom: u64,
    /// The body itself failed (the source's kind of failure and its message): not the file's
    /// fault. The file error it caused, if any, is only its echo.
    pub transport: Option<(SourceErrorKind, String)>,
    /// Bytes fetched by ranged reads (a Parquet object's); a body's are counted as it is read.
    pub fetched: u64,
}

impl ReadResult {
    /// Where the file failed and why, in the words of its outcome; `None` if it did not.
    pub fn failure(&self) -> Option<(FailedAt, String)> {
        let error = self.file_error.as_ref()?;
        Some((FailedAt::of(error, self.summary.rows_read), file_error_reason(error)))
    }
}

/// Where in a file its read failed, as outcomes, logs and previews say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedAt {
    /// At its header row: a column missing or named twice, or not text at all (a stray notes.txt
    /// or a binary file read as CSV).
    Header,
    /// Before any row was read: empty, not decodable, not a JSON array, a first record too long.
    BeforeAnyRow,
    /// After `rows_read` rows, which were passed on (and, in a sync, written).
    PartWay { rows_read: u64 },
}

impl FailedAt {
    pub fn of(error: &FileError, rows_read: u64) -> FailedAt {
        match error {
            FileError::Header(_) => FailedAt::Header,
            _ if rows_read == 0 => FailedAt::BeforeAnyRow,
            _ => FailedAt::PartWay { rows_read },
        }
    }
}

impl std::fmt::Display for FailedAt {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            FailedAt::Header => f.write_str("at its header"),
            FailedAt::BeforeAnyRow => f.write_str("before any row was read"),
            FailedAt::PartWay { rows_read } => write!(f, "part of the way through, after {rows_read} rows"),
        }
    }
}

/// A file error in the words of the file's outcome.
pub fn file_error_reason(e: &FileError) -> String {
    match e {
        // Not a transport failure (that is caught by the tap): the decoder found bad bytes.
        FileError::Io(io) => format!("cannot decode the file: {io}"),
        other => other.to_string(),
    }
}

/// Reads `body` to its end, or until `emit` says stop: decoded and parsed on a blocking thread, each
/// record mapped with `mapper` and given to `emit`. `id_prefix` (object key and ETag) makes record
/// ids when the template has no primary key. Gives `emit` back with the result; an `Err` is the
/// parser's thread failing (a panic).
pub async fn read<E: Emit>(
    body: ObjectBody,
    mapper: Arc<Mapper>,
    id_prefix: String,
    options: ReadOptions,
    mut emit: E,
) -> Result<(ReadResult, E), tokio::task::JoinError> {
    let transport = Arc::new(Mutex::new(None));
    let reader = tokio_util::io::SyncIoBridge::new(FailureTap { inner: body, failure: transport.clone() });
    let parsed = tokio::task::spawn_blocking(move || {
        let result = decode_and_parse(reader, &mapper, &id_prefix, options, &mut emit);
        emit.end();
        (result, emit)
    })
    .await?;
    let (mut result, emit) = parsed;
    result.transport = transport.lock().map(|failure| failure.clone()).unwrap_or(None);
    Ok((result, emit))
}

/// What the invocations before read of a file a checkpoint goes on with.
pub fn so_far(f: &FileCheckpoint) -> ParseSummary {
    ParseSummary {
        rows_read: f.rows_read,
        rows_rejected: f.rows_rejected,
        row_errors: f.row_errors.clone(),
        drift: f.drift.clone(),
        ..ParseSummary::default()
    }
}

/// The blocking part: decode (from the start, or from a checkpoint), then parse.
fn decode_and_parse(
    reader: impl std::io::Read + Send,
    mapper: &Mapper,
    id_prefix: &str,
    options: ReadOptions,
    emit: &mut dyn Emit,
) -> ReadResult {
    let limits = options.limits;
    let encoding = mapper.template.format.encoding;
    let decoded = match &options.resume {
        None => decode_limited(reader, limits.decode, encoding).map(|d| (d.from_start(), d.text, d.bom)),
        Some(f) => decoded_from(reader, f.from_start, f.position.offset, limits.decode, encoding)
            .map(|text| (f.from_start, text, f.bom)),
    };
    let (from_start, mut input, bom) = match decoded {
        Ok(decoded) => decoded,
        Err(e) => {
            let (from_start, bom) = options.resume.as_ref().map_or((false, 0), |f| (f.from_start, f.bom));
            let summary = options.resume.as_ref().map(so_far).unwrap_or_default();
            return ReadResult {
                summary,
                file_error: Some(FileError::Io(e)),
                from_start,
                bom,
                transport: None,
                fetched: 0,
            };
        }
    };
    let parse_options = ParseOptions {
        stop_at_first_row_error: options.stop_at_first_row_error,
        resume: options.resume.map(|f| (f.position.clone(), so_far(&f))),
        limits: limits.parse,
    };
    let (summary, file_error) = parse_rows_counted(&mut input, mapper, id_prefix, parse_options, &mut Sink(emit));
    ReadResult { summary, file_error, from_start, bom, transport: None, fetched: 0 }
}

/// Remembers a failure of the object body itself, so that a broken download is told apart from a
/// corrupt file when both surface as I/O errors from the decoder.
struct FailureTap {
    inner: ObjectBody,
    failure: Arc<Mutex<Option<(SourceErrorKind, String)>>>,
}

impl AsyncRead for FailureTap {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let polled = self.inner.as_mut().poll_read(cx, buf);
        if let Poll::Ready(Err(e)) = &polled {
            // The source says what failed (a replaced object, a denied chunk); anything else is
            // the transport's and worth a retry.
            let kind = e.get_ref().and_then(|inner| inner.downcast_ref::<SourceError>()).map(|s| s.kind);
            if let Ok(mut failure) = self.failure.lock() {
                *failure = Some((kind.unwrap_or(SourceErrorKind::Transient), e.to_string()));
            }
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Template;

    fn csv() -> Arc<Mapper> {
        Arc::new(Mapper::new(
            Template::from_json(
                r#"{"id": "t", "record_type": "r", "format": {"type": "csv"},
                "columns": [{"source": "id", "field": "id", "type": "string", "required": true}]}"#,
            )
            .unwrap(),
        ))
    }

    /// Keeps every record.
    struct Keep(Vec<Record>);

    impl Emit for Keep {
        fn record(&mut self, record: Record) -> ControlFlow<()> {
            self.0.push(record);
            ControlFlow::Continue(())
        }
    }

    async fn read_bytes(body: ObjectBody) -> (ReadResult, Vec<Record>) {
        let (result, kept) = read(body, csv(), "k#e".into(), ReadOptions::default(), Keep(Vec::new())).await.unwrap();
        (result, kept.0)
    }

    #[test]
    fn where_a_file_failed_is_said_by_the_error_and_the_rows_before_it() {
        let header = FileError::Header("header lacks required column(s): id".into());
        let io = || FileError::Io(std::io::Error::other("bad bytes"));
        let cases = [
            (header, 0, FailedAt::Header, "at its header"),
            (io(), 0, FailedAt::BeforeAnyRow, "before any row was read"),
            (io(), 300, FailedAt::PartWay { rows_read: 300 }, "part of the way through, after 300 rows"),
            (FileError::Empty { needs: "a header" }, 0, FailedAt::BeforeAnyRow, "before any row was read"),
        ];
        for (error, rows_read, at, text) in cases {
            assert_eq!(FailedAt::of(&error, rows_read), at, "{error} after {rows_read} rows");
            assert_eq!(at.to_string(), text);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stray_text_file_read_as_csv_fails_at_its_header() {
        let body: ObjectBody = Box::pin(std::io::Cursor::new(b"Remember: call Bob.\nThen the invoice.\n".to_vec()));
        let (result, records) = read_bytes(body).await;
        let (at, reason) = result.failure().expect("a failure");
        assert_eq!((at, reason.as_str(), records.len()), (FailedAt::Header, "header lacks required column(s): id", 0));
    }

    /// The body breaking part of the way: the read says so through `transport`, beside the rows
    /// read before; the decoder's echo of it is not mistaken for a corrupt file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_body_that_breaks_is_told_apart_from_a_corrupt_file() {
        struct Breaks(std::io::Cursor<Vec<u8>>);
        impl AsyncRead for Breaks {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<std::io::Result<()>> {
                let mut chunk = [0u8; 64];
                let room = buf.remaining().min(chunk.len());
                let n = std::io::Read::read(&mut self.0, &mut chunk[..room])?;
                if n == 0 {
                    let gone = SourceError::new(SourceErrorKind::ObjectGone, "the object was replaced");
                    return Poll::Ready(Err(std::io::Error::other(gone)));
                }
                buf.put_slice(&chunk[..n]);
                Poll::Ready(Ok(()))
            }
        }
        let rows: String = (0..100).map(|i| format!("r{i}\n")).collect();
        let body: ObjectBody = Box::pin(Breaks(std::io::Cursor::new(format!("id\n{rows}").into_bytes())));
        let (result, records) = read_bytes(body).await;
        let (kind, message) = result.transport.clone().expect("the tap saw the body fail");
        assert_eq!((kind, message.as_str()), (SourceErrorKind::ObjectGone, "the object was replaced"));
        assert!(matches!(result.file_error, Some(FileError::Io(_))), "{result:?}");
        assert_eq!(records.len() as u64, result.summary.rows_read, "the rows before the break were passed on");
    }

    #[test]
    fn a_plain_object_resumes_at_its_byte_and_a_compressed_one_at_its_start() {
        let checkpoint = |from_start| FileCheckpoint {
            key: "k".into(),
            etag: "e".into(),
            writing: true,
            position: crate::model::ParsePosition { offset: 1000, line: 20, ..Default::default() },
            from_start,
            bom: 3,
            rows_read: 19,
            rows_rejected: 0,
            row_errors: vec![],
            rows_imported: 19,
            elapsed_ms: 0,
            drift: Default::default(),
            rejects: None,
        };
        assert_eq!((body_offset(&checkpoint(false)), body_offset(&checkpoint(true))), (1003, 0));
    }
}
