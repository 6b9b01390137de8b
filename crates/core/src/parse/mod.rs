//! Streaming parsers: decoded text -> rows -> [`Record`]s, one row at a time, for CSV, TSV, JSON arrays
//! (element by element, never the whole array) and JSON Lines.
//!
//! Each parser pushes mapped records to `emit` and keeps a [`ParseSummary`] of what it read and
//! rejected. Row problems are row errors and parsing goes on; only a problem that makes the rest of
//! the file unreadable (an unterminated JSON array, a missing header column, an empty file where
//! the format needs a header row or a JSON document) is a [`FileError`].
//!
//! This file holds what every format shares: the summary, the errors, the options and limits, the
//! tally of rows, and [`parse_rows`], which picks the parser by the template's format. The rooms:
//!
//! - [`delimited`]: CSV and TSV, over the csv crate;
//! - [`json_lines`]: one JSON object per line;
//! - [`json_array`]: one JSON array, visited element by element;
//! - [`json_object`]: one JSON object (a line or an element) -> a record, shared by both JSON formats;
//! - [`bounded`]: the readers that hold each record to [`ParseLimits::max_record_bytes`];
//! - `tests`: what every format must do alike (empty files, errors at their level, stopping and
//!   going on from a position).

mod bounded;
mod delimited;
#[cfg(test)]
mod drift_tests;
mod json_array;
mod json_lines;
// Parquet's row groups, read by their columns (their bytes are fetched by crate::pipeline).
pub mod parquet;
// Also how a template draft (crate::draft) reads JSON members, so that it sees what the mapper sees.
pub(crate) mod json_object;
#[cfg(test)]
mod tests;

use crate::mapping::{FieldError, Mapper, Record};
use crate::model::{ParsePosition, RowError, SchemaDrift};
pub use crate::rejects::RawRow;
use crate::template::{ExtraColumns, FormatKind};
use std::io::{self, BufRead};
use std::ops::ControlFlow;

/// What a parse read and rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseSummary {
    /// Data rows read (header and blank JSON Lines excluded).
    pub rows_read: u64,
    pub rows_rejected: u64,
    /// The first rejected rows, up to the template's limit.
    pub row_errors: Vec<RowError>,
    /// Parsing stopped early: at the first row error when asked to, or because `emit` said stop.
    pub stopped: bool,
    /// Where to go on when `emit` said stop: just after the row it was given.
    pub resume_at: Option<ParsePosition>,
    /// Where the file's columns and the template's disagree, so far.
    pub drift: SchemaDrift,
}

/// A problem that makes the rest of a file unreadable.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("malformed {format} at line {line}: {reason}")]
    Malformed { format: &'static str, line: u64, reason: String },
    /// One record (a CSV record, a JSON Lines line, a JSON array element) is longer than the limit:
    /// a runaway quote, a file without line ends, or not a file of records at all.
    #[error("{format} record at line {line} is longer than {limit} bytes (S3C_MAX_RECORD_BYTES): an unbalanced quote, or a line that never ends?")]
    RecordTooLong { format: &'static str, line: u64, limit: u64 },
    #[error("{0}")]
    Header(String),
    /// A JSON record holds members no column reads, and the template's `extra_columns` is `fail`.
    #[error("the record at line {line} holds members the template does not map: {names} (the template's extra_columns is fail)")]
    Unmapped { line: u64, names: String },
    /// Nothing but whitespace (or nothing at all: 0 bytes, a byte-order mark alone) where the
    /// format needs something: a header row, a JSON document. `needs` says what.
    #[error("the file is empty (no bytes, or only a byte-order mark or whitespace): {needs}")]
    Empty { needs: &'static str },
    #[error("read error: {0}")]
    Io(#[from] io::Error),
    /// A Parquet file cannot be read on: not Parquet, a corrupt footer or page, a codec not built
    /// in, a row group past its limit (the summary says how many rows were read before).
    #[error("{0}")]
    Columnar(String),
    /// A columnar file given to a reader of text.
    #[error("a {format} file is read by its columns, not as text")]
    NotText { format: &'static str },
}

/// Where a parse's rows go: each accepted row's record and, for the rejects file
/// ([`crate::rejects`]), each rejected row as it was read, with a delimited file's header.
pub trait RowSink {
    /// Takes one record; `Break` stops the parse just after it.
    fn record(&mut self, record: Record) -> ControlFlow<()>;
    /// A delimited file's header, once read (or given back by a resumed parse's position).
    fn header(&mut self, _names: &[String]) {}
    /// A rejected row, as it was read, and why; `Break` stops the parse just after it, as for a
    /// record (a hand-over in a file of rejected rows).
    fn rejected(&mut self, _error: &RowError, _raw: RawRow<'_>) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// A closure takes the records, and lets rejected rows go (their errors are in the summary).
pub struct Records<'e>(pub &'e mut dyn FnMut(Record) -> ControlFlow<()>);

impl RowSink for Records<'_> {
    fn record(&mut self, record: Record) -> ControlFlow<()> {
        (self.0)(record)
    }
}

/// How to parse.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// Stop at the first rejected row (the validation pass of `fail_file` templates).
    pub stop_at_first_row_error: bool,
    /// Go on after a hand-over: the input starts at this position of the file, and the summary is
    /// what was read before it (rows go on being numbered from there).
    pub resume: Option<(ParsePosition, ParseSummary)>,
    pub limits: ParseLimits,
}

/// What one record may take, so that memory stays bounded whatever a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Bytes of one record; a longer one fails the file.
    pub max_record_bytes: u64,
    /// Nesting of a JSON record's values; a deeper one is a row error.
    pub max_json_depth: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits { max_record_bytes: 1024 * 1024, max_json_depth: 64 }
    }
}

/// Parses a decoded stream with the mapper's template. `fallback_id_prefix` (object key and ETag)
/// makes record ids when the template has no primary key: `prefix#row`.
pub fn parse_rows(
    input: &mut dyn BufRead,
    mapper: &Mapper,
    fallback_id_prefix: &str,
    options: ParseOptions,
    emit: &mut dyn FnMut(Record) -> ControlFlow<()>,
) -> Result<ParseSummary, FileError> {
    match parse_rows_counted(input, mapper, fallback_id_prefix, options, &mut Records(emit)) {
        (summary, None) => Ok(summary),
        (_, Some(error)) => Err(error),
    }
}

/// As [`parse_rows`], but a file error comes with the summary of the rows before it: a file that
/// fails part of the way through has had those rows emitted, and its outcome counts them.
pub fn parse_rows_counted(
    input: &mut dyn BufRead,
    mapper: &Mapper,
    fallback_id_prefix: &str,
    options: ParseOptions,
    emit: &mut dyn RowSink,
) -> (ParseSummary, Option<FileError>) {
    let (start, so_far) = options.resume.unwrap_or_default();
    let mut tally = Tally {
        summary: ParseSummary { stopped: false, resume_at: None, ..so_far },
        max_errors: mapper.template.max_errors_recorded,
        stop_on_error: options.stop_at_first_row_error,
        emit_stopped: false,
        extra_columns: mapper.template.extra_columns,
        emit,
    };
    let limits = options.limits;
    let parsed = match mapper.template.format.kind {
        FormatKind::Csv | FormatKind::Tsv => {
            delimited::parse(input, mapper, fallback_id_prefix, start, limits, &mut tally)
        }
        FormatKind::JsonLines => json_lines::parse(input, mapper, fallback_id_prefix, start, limits, &mut tally),
        FormatKind::Json => json_array::parse(input, mapper, fallback_id_prefix, start, limits, &mut tally),
        // Parquet is columns, not text: crate::pipeline reads it with parquet::read_row_group.
        FormatKind::Parquet => Err(FileError::NotText { format: "Parquet" }),
    };
    // A JSON file of no records lacks nothing: there is nothing to compare.
    if tally.summary.rows_read == 0 && !mapper.template.format.is_delimited() {
        tally.summary.drift.missing_columns.clear();
    }
    (tally.summary, parsed.err())
}

/// What a parse has read so far, and where its records go: the state every parser shares.
struct Tally<'e> {
    summary: ParseSummary,
    max_errors: usize,
    stop_on_error: bool,
    emit_stopped: bool,
    extra_columns: ExtraColumns,
    emit: &'e mut dyn RowSink,
}

impl Tally<'_> {
    fn next_row(&mut self) -> u64 {
        self.summary.rows_read += 1;
        self.summary.rows_read
    }

    fn reject(&mut self, error: RowError, raw: RawRow<'_>) -> ControlFlow<()> {
        let flow = self.emit.rejected(&error, raw);
        self.summary.rows_rejected += 1;
        if self.summary.row_errors.len() < self.max_errors {
            self.summary.row_errors.push(error);
        }
        if flow.is_break() {
            self.emit_stopped = true;
            return flow;
        }
        if self.stop_on_error {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// At the start of a JSON file: every column is missing until a record has it.
    fn expect_columns(&mut self, mapper: &Mapper) {
        self.summary.drift.missing_columns = mapper.columns().iter().map(|c| c.source.clone()).collect();
    }

    /// Notes a JSON record's unmapped member paths in the file's drift; an error when the template
    /// fails files that hold any.
    fn unmapped(&mut self, line: u64, names: &[(String, Option<String>)]) -> Result<(), FileError> {
        if names.is_empty() {
            return Ok(());
        }
        for (name, _) in names {
            self.summary.drift.add_unmapped(name);
        }
        if self.extra_columns == ExtraColumns::Fail {
            let names = names.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
            return Err(FileError::Unmapped { line, names });
        }
        Ok(())
    }

    /// Notes where to go on, when it was `emit` that said stop (not a row error).
    fn stopped_at(&mut self, position: ParsePosition) {
        if self.emit_stopped {
            self.summary.resume_at = Some(position);
        }
    }

    fn accept(&mut self, row: u64, line: u64, result: Result<Record, FieldError>, raw: RawRow<'_>) -> ControlFlow<()> {
        let flow = match result {
            Ok(record) => {
                let flow = self.emit.record(record);
                self.emit_stopped = flow.is_break();
                flow
            }
            Err(e) => self.reject(e.at(row, line), raw),
        };
        if flow.is_break() {
            self.summary.stopped = true;
        }
        flow
    }
}

/// A record's id without a primary key: `object key # ETag # row`. Built per row, without format!.
fn fallback_id(prefix: &str, row: u64) -> String {
    let mut digits = itoa::Buffer::new();
    let row = digits.format(row);
    let mut id = String::with_capacity(prefix.len() + 1 + row.len());
    id.push_str(prefix);
    id.push('#');
    id.push_str(row);
    id
}

/// What NUL bytes in a file of text most likely mean.
const NUL_HINT: &str = "the file looks like UTF-16 without a byte-order mark, or binary";

/// Why a text value cannot be read, with a hint at the likely cause.
fn text_error(bytes: &[u8], e: std::str::Utf8Error) -> String {
    if bytes.contains(&0) {
        return format!("holds a NUL byte: {NUL_HINT}");
    }
    format!(
        "invalid UTF-8 at byte {} of the value (the template reads UTF-8; is the file Latin-1 or Windows-1252? Then set its encoding)",
        e.valid_up_to()
    )
}
