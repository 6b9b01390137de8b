//! Streaming parsers: decoded text -> rows -> [`Record`]s, one row at a time, for CSV, TSV, JSON arrays
//! (element by element, never the whole array) and JSON Lines.
//!
//! Each parser pushes mapped records to `emit` and keeps a [`ParseSummary`] of what it read and
//! rejected. Row problems are row errors and parsing goes on; only a problem that makes the rest of
//! the file unreadable (an unterminated JSON array, a missing header column, an empty file where
//! the format needs a header row or a JSON document) is a [`FileError`].

use crate::mapping::{FieldError, Mapper, Record};
use crate::model::{ParsePosition, RowError};
use crate::template::FormatKind;
use serde::de::{Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::ops::ControlFlow;
use std::rc::Rc;

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
    /// Nothing but whitespace (or nothing at all: 0 bytes, a byte-order mark alone) where the
    /// format needs something: a header row, a JSON document. `needs` says what.
    #[error("the file is empty (no bytes, or only a byte-order mark or whitespace): {needs}")]
    Empty { needs: &'static str },
    #[error("read error: {0}")]
    Io(#[from] io::Error),
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

/// The I/O error a reader gives when a record outgrows [`ParseLimits::max_record_bytes`].
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("record too long")
    }
}

impl std::error::Error for RecordTooLong {}

fn too_long() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, RecordTooLong)
}

fn is_too_long(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<RecordTooLong>())
}

struct Tally<'e> {
    summary: ParseSummary,
    max_errors: usize,
    stop_on_error: bool,
    emit_stopped: bool,
    emit: &'e mut dyn FnMut(Record) -> ControlFlow<()>,
}

impl Tally<'_> {
    fn next_row(&mut self) -> u64 {
        self.summary.rows_read += 1;
        self.summary.rows_read
    }

    fn reject(&mut self, error: RowError) -> ControlFlow<()> {
        self.summary.rows_rejected += 1;
        if self.summary.row_errors.len() < self.max_errors {
            self.summary.row_errors.push(error);
        }
        if self.stop_on_error {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Notes where to go on, when it was `emit` that said stop (not a row error).
    fn stopped_at(&mut self, position: ParsePosition) {
        if self.emit_stopped {
            self.summary.resume_at = Some(position);
        }
    }

    fn accept(&mut self, row: u64, line: u64, result: Result<Record, FieldError>) -> ControlFlow<()> {
        let flow = match result {
            Ok(record) => {
                let flow = (self.emit)(record);
                self.emit_stopped = flow.is_break();
                flow
            }
            Err(e) => self.reject(e.at(row, line)),
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

/// Parses a decoded stream with the mapper's template. `fallback_id_prefix` (object key and ETag)
/// makes record ids when the template has no primary key: `prefix#row`.
pub fn parse_rows(
    input: &mut dyn BufRead,
    mapper: &Mapper,
    fallback_id_prefix: &str,
    options: ParseOptions,
    emit: &mut dyn FnMut(Record) -> ControlFlow<()>,
) -> Result<ParseSummary, FileError> {
    match parse_rows_counted(input, mapper, fallback_id_prefix, options, emit) {
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
    emit: &mut dyn FnMut(Record) -> ControlFlow<()>,
) -> (ParseSummary, Option<FileError>) {
    let (start, so_far) = options.resume.unwrap_or_default();
    let mut tally = Tally {
        summary: ParseSummary { stopped: false, resume_at: None, ..so_far },
        max_errors: mapper.template.max_errors_recorded,
        stop_on_error: options.stop_at_first_row_error,
        emit_stopped: false,
        emit,
    };
    let limits = options.limits;
    let parsed = match mapper.template.format.kind {
        FormatKind::Csv | FormatKind::Tsv => {
            parse_delimited(input, mapper, fallback_id_prefix, start, limits, &mut tally)
        }
        FormatKind::JsonLines => parse_json_lines(input, mapper, fallback_id_prefix, start, limits, &mut tally),
        FormatKind::Json => parse_json_array(input, mapper, fallback_id_prefix, start, limits, &mut tally),
    };
    (tally.summary, parsed.err())
}

/// The csv crate's error as the file's; `line` is where the record in progress began.
fn csv_error(e: csv::Error, line: u64, limit: u64) -> FileError {
    let at = e.position().map(|p| p.line()).unwrap_or(line);
    match e.into_kind() {
        csv::ErrorKind::Io(io) if is_too_long(&io) => FileError::RecordTooLong { format: "CSV", line, limit },
        csv::ErrorKind::Io(io) => FileError::Io(io),
        other => FileError::Malformed { format: "CSV", line: at, reason: format!("{other:?}") },
    }
}

/// Reads for the CSV parser, refusing to let one record grow past the limit: the parser says
/// where each record ends (`record_start`), and the guard fails once it has handed out more than
/// the limit and a buffer beyond it. Memory stays bounded even by a quote that never closes.
struct RecordGuard<'a> {
    inner: &'a mut dyn BufRead,
    read: u64,
    record_start: Rc<Cell<u64>>,
    allowed: u64,
}

impl Read for RecordGuard<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read - self.record_start.get() > self.allowed {
            return Err(too_long());
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The CSV reader's buffer: how far ahead of the record in progress it may read.
const CSV_BUFFER: usize = 256 * 1024;

/// What NUL bytes in a file of text most likely mean.
const NUL_HINT: &str = "the file looks like UTF-16 or binary, and the template reads UTF-8";

/// Why a text value cannot be read, with a hint at the likely cause.
fn text_error(bytes: &[u8], e: std::str::Utf8Error) -> String {
    if bytes.contains(&0) {
        return format!("holds a NUL byte: {NUL_HINT}");
    }
    format!(
        "invalid UTF-8 at byte {} of the value (the template reads UTF-8; is the file Latin-1 or Windows-1252?)",
        e.valid_up_to()
    )
}

fn parse_delimited(
    input: &mut dyn BufRead,
    mapper: &Mapper,
    prefix: &str,
    start: ParsePosition,
    limits: ParseLimits,
    tally: &mut Tally,
) -> Result<(), FileError> {
    let format = &mapper.template.format;
    let record_start = Rc::new(Cell::new(0));
    let limit = limits.max_record_bytes;
    let guard =
        RecordGuard { inner: input, read: 0, record_start: record_start.clone(), allowed: limit + CSV_BUFFER as u64 };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(format.delimiter_byte())
        .quote(format.quote_byte())
        .has_headers(false)
        // Ragged rows become row errors naming the row, not a reader error.
        .flexible(true)
        // Records end at '\n' only; a '\r' before it is cut from the last field below. With the
        // default (any of CR, LF, CRLF) the csv crate reports every record after a CRLF one line short.
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(CSV_BUFFER)
        .from_reader(guard);
    let mut record = csv::ByteRecord::new();
    let mut header = start.header;
    if format.header && header.is_none() {
        // The first line that is not blank; a file without one has no header, so nothing says
        // which column is which: it fails rather than pass for a file of no rows.
        loop {
            let line_now = start.line + reader.position().line();
            if !reader.read_byte_record(&mut record).map_err(|e| csv_error(e, line_now, limit))? {
                let needs = match mapper.template.format.kind {
                    FormatKind::Tsv => "a TSV file of this template starts with its header row",
                    _ => "a CSV file of this template starts with its header row",
                };
                return Err(FileError::Empty { needs });
            }
            let end = reader.position().byte();
            if end - record_start.replace(end) > limit {
                return Err(FileError::RecordTooLong { format: "CSV", line: line_now, limit });
            }
            if !is_blank(&record) {
                break;
            }
        }
        if record.as_slice().contains(&0) {
            return Err(FileError::Header(format!("the header holds NUL bytes: {NUL_HINT}")));
        }
        header = Some(record.iter().map(|b| String::from_utf8_lossy(b).trim().to_owned()).collect());
    }
    let (positions, width) = if let Some(names) = &header {
        (resolve_header(names, mapper)?, Some(names.len()))
    } else {
        let positions = mapper.columns().iter().map(|c| c.source.parse::<usize>().ok().map(|n| n - 1)).collect();
        (positions, None)
    };
    loop {
        let line_now = start.line + reader.position().line();
        if !reader.read_byte_record(&mut record).map_err(|e| csv_error(e, line_now, limit))? {
            break;
        }
        let end = reader.position().byte();
        if end - record_start.replace(end) > limit {
            return Err(FileError::RecordTooLong { format: "CSV", line: line_now, limit });
        }
        if is_blank(&record) {
            continue;
        }
        let last = record.len() - 1;
        let row = tally.next_row();
        let line = start.line + record.position().map(|p| p.line()).unwrap_or(0);
        if let Some(width) = width.filter(|&w| w != record.len()) {
            let mut reason = format!("expected {width} fields as in the header, found {}", record.len());
            let breaks = record.as_slice().iter().filter(|&&b| b == b'\n').count();
            if breaks > 0 {
                reason.push_str(&format!(" (a quoted value runs over {} lines: an unbalanced quote?)", breaks + 1));
            }
            if tally.reject(RowError { row, line, column: None, reason }).is_break() {
                tally.summary.stopped = true;
                return Ok(());
            }
            continue;
        }
        let result = mapper.map_row(
            row,
            line,
            |i| match positions[i].and_then(|p| record.get(p).map(|b| (p, b))) {
                None => Ok(None),
                Some((p, bytes)) => {
                    let bytes = if p == last { bytes.strip_suffix(b"\r").unwrap_or(bytes) } else { bytes };
                    match std::str::from_utf8(bytes) {
                        Ok(text) if !text.contains('\0') => Ok(Some(Cow::Borrowed(text))),
                        Ok(_) => Err(format!("holds a NUL byte: {NUL_HINT}")),
                        Err(e) => Err(text_error(bytes, e)),
                    }
                }
            },
            || fallback_id(prefix, row),
        );
        if tally.accept(row, line, result).is_break() {
            let next = reader.position();
            tally.stopped_at(ParsePosition {
                offset: start.offset + next.byte(),
                line: start.line + next.line() - 1,
                header,
            });
            return Ok(());
        }
    }
    Ok(())
}

/// A blank line: one field of nothing but whitespace (a '\r' left by CRLF, spaces). Not a row, as
/// blank lines are not in JSON Lines; a line with a delimiter is a row of empty fields.
fn is_blank(record: &csv::ByteRecord) -> bool {
    record.len() == 1 && record[0].iter().all(u8::is_ascii_whitespace)
}

/// Finds each template column in the header. A required column without a default must be present;
/// a column the template reads must not appear twice.
fn resolve_header(names: &[String], mapper: &Mapper) -> Result<Vec<Option<usize>>, FileError> {
    let mut missing = Vec::new();
    let mut positions = Vec::new();
    for column in mapper.columns() {
        let mut found = names.iter().enumerate().filter(|(_, n)| **n == column.source).map(|(i, _)| i);
        let position = found.next();
        if found.next().is_some() {
            return Err(FileError::Header(format!("header names column '{}' more than once", column.source)));
        }
        if position.is_none() && column.required && column.default.is_none() {
            missing.push(column.source.as_str());
        }
        positions.push(position);
    }
    if !missing.is_empty() {
        return Err(FileError::Header(format!("header lacks required column(s): {}", missing.join(", "))));
    }
    Ok(positions)
}

/// Reads up to and including the next line end, but no more than `limit` bytes of one line.
fn read_line_bounded(input: &mut dyn BufRead, buffer: &mut Vec<u8>, limit: u64) -> io::Result<usize> {
    let mut n = 0;
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            return Ok(n);
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if (n + take) as u64 > limit + 1 {
            return Err(too_long());
        }
        buffer.extend_from_slice(&available[..take]);
        input.consume(take);
        n += take;
        if done {
            return Ok(n);
        }
    }
}

fn parse_json_lines(
    input: &mut dyn BufRead,
    mapper: &Mapper,
    prefix: &str,
    start: ParsePosition,
    limits: ParseLimits,
    tally: &mut Tally,
) -> Result<(), FileError> {
    let mut buffer = Vec::with_capacity(4096);
    let (mut offset, mut line) = (start.offset, start.line);
    let limit = limits.max_record_bytes;
    loop {
        buffer.clear();
        let n = read_line_bounded(input, &mut buffer, limit).map_err(|e| match is_too_long(&e) {
            true => FileError::RecordTooLong { format: "JSON Lines", line: line + 1, limit },
            false => FileError::Io(e),
        })?;
        if n == 0 {
            return Ok(());
        }
        offset += n as u64;
        line += 1;
        if buffer.iter().all(u8::is_ascii_whitespace) {
            continue; // blank lines separate nothing in JSON Lines
        }
        let row = tally.next_row();
        let result = match std::str::from_utf8(&buffer) {
            Ok(text) => map_json_object(text, mapper, row, line, prefix, limits.max_json_depth),
            Err(e) => Err(FieldError { column: None, reason: text_error(&buffer, e) }),
        };
        if tally.accept(row, line, result).is_break() {
            tally.stopped_at(ParsePosition { offset, line, header: None });
            return Ok(());
        }
    }
}

/// What a resumed JSON array is read after: the input then starts just after an element, at a comma
/// or the closing bracket, and this makes it an array again whose first element is not a row.
const RESUMED_ARRAY: &[u8] = b"[null";

fn parse_json_array(
    input: &mut dyn BufRead,
    mapper: &Mapper,
    prefix: &str,
    start: ParsePosition,
    limits: ParseLimits,
    tally: &mut Tally,
) -> Result<(), FileError> {
    let resumed = start.offset > 0;
    // Leading whitespace, counted as if serde_json had read it. An empty document is not JSON: the
    // file fails, saying so (an array of no objects is `[]`).
    let (lead_bytes, lead_lines) = if resumed { (0, 0) } else { skip_whitespace(input)? };
    let prefix_len = if resumed { RESUMED_ARRAY.len() as u64 } else { 0 };
    let counter = Rc::new(Counter {
        line: Cell::new(start.line.max(1) + lead_lines),
        bytes: Cell::new(lead_bytes),
        last: Cell::new(0),
        element_start: Cell::new(lead_bytes),
        limit: limits.max_record_bytes,
    });
    let reader: Box<dyn Read + '_> =
        if resumed { Box::new(io::Cursor::new(RESUMED_ARRAY).chain(input)) } else { Box::new(input) };
    let mut deserializer =
        serde_json::Deserializer::from_reader(CountingReader { inner: reader, counter: counter.clone() });
    let mut skip_first = resumed;
    let mut on_element = |element: Box<RawValue>| {
        if std::mem::take(&mut skip_first) {
            return ControlFlow::Continue(());
        }
        counter.element_start.set(counter.bytes.get());
        let row = tally.next_row();
        let at = counter.line.get();
        let result = map_json_object(element.get(), mapper, row, at, prefix, limits.max_json_depth);
        let flow = tally.accept(row, at, result);
        if flow.is_break() {
            // serde_json reads one byte past a number to see where it ends; that byte is not the
            // element's.
            let peeked = element.get().ends_with(|c: char| c.is_ascii_digit());
            let (mut offset, mut line) = (counter.bytes.get() - prefix_len, counter.line.get());
            if peeked {
                offset -= 1;
                line -= u64::from(counter.last.get() == b'\n');
            }
            tally.stopped_at(ParsePosition { offset: start.offset + offset, line, header: None });
        }
        flow
    };
    let visited = deserializer.deserialize_seq(ArrayVisitor { on_element: &mut on_element });
    let limit = limits.max_record_bytes;
    let malformed = |e: serde_json::Error| {
        if e.is_io() {
            let line = counter.line.get();
            let io: io::Error = e.into();
            if is_too_long(&io) {
                FileError::RecordTooLong { format: "JSON", line, limit }
            } else {
                FileError::Io(io)
            }
        } else {
            FileError::Malformed { format: "JSON", line: e.line() as u64, reason: e.to_string() }
        }
    };
    match visited {
        Ok(ArrayEnd::Stopped) => Ok(()),
        // serde_json checks for the closing bracket after a visitor that stopped early; the rest of
        // the array was left unread on purpose.
        Err(_) if tally.summary.stopped => Ok(()),
        Ok(ArrayEnd::Complete) => deserializer.end().map_err(malformed),
        Err(e) => Err(malformed(e)),
    }
}

/// Consumes the whitespace at the start of `input`: its bytes and line ends, or `Empty` when
/// nothing else follows.
fn skip_whitespace(input: &mut dyn BufRead) -> Result<(u64, u64), FileError> {
    let (mut bytes, mut lines) = (0u64, 0u64);
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            return Err(FileError::Empty { needs: "a JSON file holds one array of objects ([] when there are none)" });
        }
        let blank = available.iter().take_while(|b| b.is_ascii_whitespace()).count();
        lines += available[..blank].iter().filter(|&&b| b == b'\n').count() as u64;
        bytes += blank as u64;
        let more = blank == available.len();
        input.consume(blank);
        if !more {
            return Ok((bytes, lines));
        }
    }
}

enum ArrayEnd {
    Complete,
    Stopped,
}

/// Visits a JSON array one element at a time, so the array is never held whole.
struct ArrayVisitor<'f> {
    on_element: &'f mut dyn FnMut(Box<RawValue>) -> ControlFlow<()>,
}

impl<'de> Visitor<'de> for ArrayVisitor<'_> {
    type Value = ArrayEnd;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ArrayEnd, A::Error> {
        while let Some(element) = seq.next_element::<Box<RawValue>>()? {
            if (self.on_element)(element).is_break() {
                return Ok(ArrayEnd::Stopped);
            }
        }
        Ok(ArrayEnd::Complete)
    }
}

/// What serde_json has consumed of a JSON array: lines, to place row errors, and bytes, to resume
/// and to hold each element to the record limit.
struct Counter {
    line: Cell<u64>,
    bytes: Cell<u64>,
    last: Cell<u8>,
    /// Where the element in progress began (just after the last one).
    element_start: Cell<u64>,
    limit: u64,
}

struct CountingReader<'a> {
    inner: Box<dyn Read + 'a>,
    counter: Rc<Counter>,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.counter.bytes.get() - self.counter.element_start.get() > self.counter.limit {
            return Err(too_long());
        }
        let n = self.inner.read(buf)?;
        let read = &buf[..n];
        let counter = &self.counter;
        counter.line.set(counter.line.get() + read.iter().filter(|&&b| b == b'\n').count() as u64);
        counter.bytes.set(counter.bytes.get() + n as u64);
        if let Some(&last) = read.last() {
            counter.last.set(last);
        }
        Ok(n)
    }
}

/// Whether JSON `text` nests arrays and objects deeper than `max` (strings skipped). serde_json keeps
/// raw values without a depth limit; deep nesting is refused here, row by row.
fn nested_deeper_than(text: &str, max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// A JSON object's members as borrowed raw values, in document order; no per-member parse until a
/// column asks for it.
struct RawObject<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawObject<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RawObject<'a>, M::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<Key<'a>>()? {
                    members.push((key.0, map.next_value::<&'a RawValue>()?));
                }
                Ok(RawObject(members))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A member name, borrowed from the input unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

impl<'a> RawObject<'a> {
    fn parse(text: &'a str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => "expected a JSON object".to_owned(),
            _ => format!("invalid JSON: {e}"),
        })
    }

    /// The member at `path`, descending into nested objects at each '.' when no member has the
    /// whole path as its name. Two members of the same name are an error: which one is meant?
    fn lookup(&self, path: &str) -> Result<Option<&'a RawValue>, String> {
        let mut found = self.0.iter().filter(|(k, _)| k == path).map(|(_, v)| *v);
        match (found.next(), found.next()) {
            (Some(_), Some(_)) => return Err(format!("member '{path}' appears more than once")),
            (Some(v), None) => return Ok(Some(v)),
            _ => {}
        }
        let Some((head, rest)) = path.split_once('.') else {
            return Ok(None);
        };
        match self.lookup(head)? {
            Some(v) if v.get().starts_with('{') => RawObject::parse(v.get())?.lookup(rest),
            _ => Ok(None),
        }
    }
}

/// The text of a scalar JSON value: strings unescaped, numbers and booleans as written (so decimals
/// stay exact), null as absent.
fn scalar_text(raw: &RawValue) -> Result<Option<Cow<'_, str>>, String> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') if !text.contains('\\') => Ok(Some(Cow::Borrowed(&text[1..text.len() - 1]))),
        Some(b'"') => serde_json::from_str::<String>(text).map(|s| Some(Cow::Owned(s))).map_err(|e| e.to_string()),
        Some(b'{') => Err("expected a scalar value, found an object".into()),
        Some(b'[') => Err("expected a scalar value, found an array".into()),
        _ if text == "null" => Ok(None),
        _ => Ok(Some(Cow::Borrowed(text))),
    }
}

fn map_json_object(
    text: &str,
    mapper: &Mapper,
    row: u64,
    line: u64,
    prefix: &str,
    max_depth: usize,
) -> Result<Record, FieldError> {
    if nested_deeper_than(text, max_depth) {
        let reason = format!("nested deeper than {max_depth} levels");
        return Err(FieldError { column: None, reason });
    }
    let object = RawObject::parse(text.trim()).map_err(|reason| FieldError { column: None, reason })?;
    let columns = mapper.columns();
    mapper.map_row(
        row,
        line,
        |i| object.lookup(&columns[i].source).and_then(|v| v.map(scalar_text).transpose().map(Option::flatten)),
        || fallback_id(prefix, row),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::Value;
    use crate::template::Template;
    use std::io::Cursor;

    fn mapper(format: &str, extra: &str) -> Mapper {
        let json = format!(
            r#"{{"id": "t", "record_type": "r", "format": {format}, {extra}
            "columns": [
                {{"source": "id", "field": "id", "type": "string", "required": true}},
                {{"source": "amount", "field": "amount", "type": "decimal"}}
            ]}}"#
        );
        Mapper::new(Template::from_json(&json).unwrap())
    }

    fn csv() -> Mapper {
        mapper(r#"{"type": "csv"}"#, "")
    }

    fn parse(m: &Mapper, input: &[u8]) -> (Result<ParseSummary, FileError>, Vec<Record>) {
        let mut records = Vec::new();
        let mut reader = Cursor::new(input.to_vec());
        let summary = parse_rows(&mut reader, m, "k#e", ParseOptions::default(), &mut |r| {
            records.push(r);
            ControlFlow::Continue(())
        });
        (summary, records)
    }

    fn ids_and_amounts(records: &[Record]) -> Vec<(String, Option<String>)> {
        records
            .iter()
            .map(|r| {
                let Some(Value::Str(id)) = &r.values[0] else { panic!("{r:?}") };
                let amount = r.values[1].as_ref().map(|v| v.canonical().into_owned());
                (id.clone(), amount)
            })
            .collect()
    }

    #[test]
    fn csv_edge_cases() {
        let cases: &[(&str, &[u8], &[(&str, Option<&str>)], u64)] = &[
            ("quoted comma and newline", b"id,amount\n\"a,\nb\",1.5\n", &[("a,\nb", Some("1.5"))], 0),
            ("crlf", b"id,amount\r\nx,1\r\ny,2\r\n\r\n", &[("x", Some("1")), ("y", Some("2"))], 0),
            ("crlf, quoted last field", b"id,amount\r\n\"a\r\nb\",\"1\"\r\n", &[("a\r\nb", Some("1"))], 0),
            ("blank lines", b"id,amount\n\nx,1\n\n", &[("x", Some("1"))], 0),
            ("no final newline", b"id,amount\nx,1", &[("x", Some("1"))], 0),
            ("header only", b"id,amount\n", &[], 0),
            ("reordered and extra header", b"note,amount,id\nhi,3,z\n", &[("z", Some("3"))], 0),
            ("optional column absent", b"id\nq\n", &[("q", None)], 0),
            ("ragged rows", b"id,amount\nx,1,extra\ny\nz,3\n", &[("z", Some("3"))], 2),
            ("escaped quotes", b"id,amount\n\"say \"\"hi\"\"\",1\n", &[("say \"hi\"", Some("1"))], 0),
            ("invalid utf-8", b"id,amount\n\xff\xfe,1\nok,2\n", &[("ok", Some("2"))], 1),
            ("bad decimal", b"id,amount\nx,abc\ny,2\n", &[("y", Some("2"))], 1),
        ];
        let m = csv();
        for (name, input, expected, rejected) in cases {
            let (summary, records) = parse(&m, input);
            let summary = summary.unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected: Vec<_> = expected.iter().map(|(a, b)| (a.to_string(), b.map(str::to_owned))).collect();
            assert_eq!(ids_and_amounts(&records), expected, "case {name}");
            assert_eq!(summary.rows_rejected, *rejected, "case {name}: {:?}", summary.row_errors);
        }
    }

    #[test]
    fn row_errors_say_row_line_column_and_why() {
        let (summary, _) = parse(&csv(), b"id,amount\n\"multi\nline\",1\nx,1,2\n,5\ny,\xff\n");
        let errors = summary.unwrap().row_errors;
        let expected = vec![
            RowError { row: 2, line: 4, column: None, reason: "expected 2 fields as in the header, found 3".into() },
            RowError { row: 3, line: 5, column: Some("id".into()), reason: "required value is missing".into() },
            RowError {
                row: 4,
                line: 6,
                column: Some("amount".into()),
                reason: "invalid UTF-8 at byte 0 of the value (the template reads UTF-8; is the file Latin-1 or Windows-1252?)".into(),
            },
        ];
        assert_eq!(errors, expected);
    }

    #[test]
    fn crlf_files_report_the_right_lines() {
        let (summary, _) = parse(&csv(), b"id,amount\r\nx,1\r\ny,bad\r\n\"multi\r\nline\",1\r\nz,bad\r\n");
        let lines: Vec<_> = summary.unwrap().row_errors.iter().map(|e| (e.row, e.line)).collect();
        assert_eq!(lines, [(2, 3), (4, 6)]);
    }

    #[test]
    fn row_ids_without_primary_key_are_prefix_and_row() {
        let (_, records) = parse(&csv(), b"id,amount\na,1\nb,2\n");
        assert_eq!(records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["k#e#1", "k#e#2"]);
    }

    #[test]
    fn header_problems_fail_the_file() {
        let (r, _) = parse(&csv(), b"amount\n1\n");
        assert!(matches!(r, Err(FileError::Header(m)) if m.contains("lacks required column(s): id")));
        let (r, _) = parse(&csv(), b"id,id,amount\n1,2,3\n");
        assert!(matches!(r, Err(FileError::Header(m)) if m.contains("'id' more than once")));
    }

    #[test]
    fn tsv_and_headerless_csv() {
        let tsv = mapper(r#"{"type": "tsv"}"#, "");
        let (_, records) = parse(&tsv, b"id\tamount\na,b\t1\n");
        assert_eq!(ids_and_amounts(&records), vec![("a,b".into(), Some("1".into()))]);

        let headerless = Mapper::new(
            Template::from_json(
                r#"{"id": "t", "record_type": "r", "format": {"type": "csv", "header": false, "delimiter": ";"},
                "columns": [{"source": "2", "field": "id", "type": "string", "required": true},
                            {"source": "1", "field": "amount", "type": "decimal"}]}"#,
            )
            .unwrap(),
        );
        let (_, records) = parse(&headerless, b"7;x\n8;y\n");
        assert_eq!(ids_and_amounts(&records), vec![("x".into(), Some("7".into())), ("y".into(), Some("8".into()))]);
    }

    #[test]
    fn json_lines_edge_cases() {
        let m = mapper(r#"{"type": "json_lines"}"#, "");
        let input = b"{\"id\": \"a\", \"amount\": 12.50}\n\n  \r\n{\"id\": \"b\\u00e9\", \"amount\": \"3\"}\r\n{broken\n[1]\n{\"id\": {\"x\": 1}}\n{\"id\": \"c\", \"amount\": null}";
        let (summary, records) = parse(&m, input);
        let summary = summary.unwrap();
        assert_eq!(
            ids_and_amounts(&records),
            vec![("a".into(), Some("12.50".into())), ("b\u{e9}".into(), Some("3".into())), ("c".into(), None)]
        );
        assert_eq!(summary.rows_read, 6);
        let lines: Vec<_> = summary.row_errors.iter().map(|e| (e.line, e.reason.clone())).collect();
        assert_eq!(lines[0].0, 5);
        assert!(lines[0].1.starts_with("invalid JSON"), "{lines:?}");
        assert_eq!(lines[1], (6, "expected a JSON object".into()));
        assert_eq!(lines[2], (7, "expected a scalar value, found an object".into()));
    }

    #[test]
    fn json_array_streams_elements_and_reports_lines() {
        let m = mapper(r#"{"type": "json"}"#, "");
        let input = b"[\n {\"id\": \"a\", \"amount\": 1},\n {\"amount\": 2},\n {\"id\": \"c\", \"nested\": {\"deep\": [1, 2]}}\n]\n";
        let (summary, records) = parse(&m, input);
        let summary = summary.unwrap();
        assert_eq!(ids_and_amounts(&records), vec![("a".into(), Some("1".into())), ("c".into(), None)]);
        assert_eq!(
            summary.row_errors,
            vec![RowError { row: 2, line: 3, column: Some("id".into()), reason: "required value is missing".into() }]
        );
    }

    #[test]
    fn json_array_arriving_in_one_byte_pieces() {
        struct Trickle(Cursor<Vec<u8>>);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(1);
                self.0.read(&mut buf[..n])
            }
        }
        let m = mapper(r#"{"type": "json"}"#, "");
        let body: String =
            (0..500).map(|i| format!("{{\"id\": \"r{i}\", \"amount\": {i}.25}}")).collect::<Vec<_>>().join(",");
        let mut reader = io::BufReader::with_capacity(1, Trickle(Cursor::new(format!("[{body}]").into_bytes())));
        let mut n = 0;
        let summary = parse_rows(&mut reader, &m, "k", ParseOptions::default(), &mut |r| {
            assert_eq!(r.values[1], Some(Value::Decimal(format!("{n}.25"))));
            n += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!((n, summary.rows_read), (500, 500));
    }

    #[test]
    fn malformed_json_arrays_fail_the_file() {
        let m = mapper(r#"{"type": "json"}"#, "");
        for (name, input) in [
            ("truncated", &b"[{\"id\": \"a\"}, {\"id\": "[..]),
            ("not an array", b"{\"id\": \"a\"}"),
            ("trailing garbage", b"[{\"id\": \"a\"}] x"),
        ] {
            let (result, _) = parse(&m, input);
            assert!(matches!(result, Err(FileError::Malformed { .. })), "{name}: {result:?}");
        }
    }

    /// A file with no content: 0 bytes, a byte-order mark alone (the decoder removes it), only
    /// whitespace, or a gzip stream of nothing. What each format makes of it (README, "Empty files"):
    /// a format that needs something at the start (a CSV/TSV header row, a JSON document) fails the
    /// file and says so; one whose every line is a record (JSON Lines, CSV/TSV without a header) has
    /// read zero records, and the file is imported with 0 rows.
    #[test]
    fn empty_blank_and_bom_only_files_per_format() {
        let headerless = r#"{"type": "csv", "header": false}"#;
        let formats: [(&str, Mapper, Option<&str>); 6] = [
            ("csv", csv(), Some("the file is empty (no bytes, or only a byte-order mark or whitespace): a CSV file of this template starts with its header row")),
            ("tsv", mapper(r#"{"type": "tsv"}"#, ""), Some("a TSV file of this template starts with its header row")),
            ("csv without header", Mapper::new(Template::from_json(&format!(
                r#"{{"id": "t", "record_type": "r", "format": {headerless},
                "columns": [{{"source": "1", "field": "id", "type": "string", "required": true}}]}}"#)).unwrap()), None),
            ("tsv without header", Mapper::new(Template::from_json(
                r#"{"id": "t", "record_type": "r", "format": {"type": "tsv", "header": false},
                "columns": [{"source": "1", "field": "id", "type": "string", "required": true}]}"#).unwrap()), None),
            ("json lines", mapper(r#"{"type": "json_lines"}"#, ""), None),
            ("json", mapper(r#"{"type": "json"}"#, ""), Some("a JSON file holds one array of objects ([] when there are none)")),
        ];
        let gzip_of_nothing = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            io::Write::write_all(&mut e, b"").unwrap();
            e.finish().unwrap()
        };
        let inputs: [(&str, &[u8]); 6] = [
            ("0 bytes", b""),
            ("byte-order mark only", b"\xef\xbb\xbf"),
            ("byte-order mark and line ends", b"\xef\xbb\xbf\r\n\n"),
            ("spaces and line ends", b"  \n\r\n \r\n\n   "),
            ("one line end", b"\n"),
            ("gzip of nothing", &gzip_of_nothing),
        ];
        for (format, m, failure) in &formats {
            for (input_name, raw) in inputs {
                let mut text = crate::decode::decoded(Cursor::new(raw.to_vec())).unwrap();
                let mut records = 0;
                let result = parse_rows(&mut text, m, "k#e", ParseOptions::default(), &mut |_| {
                    records += 1;
                    ControlFlow::Continue(())
                });
                let case = format!("{format}, {input_name}");
                match (failure, result) {
                    (None, Ok(summary)) => {
                        assert_eq!((summary.rows_read, summary.rows_rejected, records), (0, 0, 0), "{case}")
                    }
                    (Some(expected), Err(e @ FileError::Empty { .. })) => {
                        assert!(e.to_string().contains(expected), "{case}: {e}")
                    }
                    (expected, got) => panic!("{case}: expected {expected:?}, got {got:?}"),
                }
            }
        }
        // Not empty: a header alone, or an empty array, is a file of no rows.
        for (format, m, input) in [
            ("csv header only", csv(), &b"id,amount\n"[..]),
            ("tsv header only after blank lines", mapper(r#"{"type": "tsv"}"#, ""), b"\n  \r\nid\tamount\r\n"),
            ("json empty array", mapper(r#"{"type": "json"}"#, ""), b" \n[ ]\n"),
        ] {
            let (result, records) = parse(&m, input);
            let summary = result.unwrap_or_else(|e| panic!("{format}: {e}"));
            assert_eq!((summary.rows_read, records.len()), (0, 0), "{format}");
        }
        // Leading blank lines are skipped, and the lines of row errors still count them.
        let (result, _) = parse(&csv(), b"\n \nid,amount\nx,bad\n");
        assert_eq!(result.unwrap().row_errors[0].line, 4);
        let (result, _) = parse(&mapper(r#"{"type": "json"}"#, ""), b"\n\n[\n{\"amount\": 1}]");
        assert_eq!(result.unwrap().row_errors[0].line, 4);
    }

    /// Each kind of bad input, and the level its error lands at: a row error (the file goes on) or a
    /// file error (the file fails), with a message that says what is wrong.
    #[test]
    fn bad_input_gets_an_error_at_its_level() {
        let small = ParseLimits { max_record_bytes: 1024, max_json_depth: 8 };
        let parse_with = |m: &Mapper, input: &[u8]| {
            let mut records = 0;
            let options = ParseOptions { limits: small, ..ParseOptions::default() };
            let summary = parse_rows(&mut Cursor::new(input.to_vec()), m, "k#e", options, &mut |_| {
                records += 1;
                ControlFlow::Continue(())
            });
            (summary, records)
        };
        let numbers = Mapper::new(
            Template::from_json(
                r#"{"id": "t", "record_type": "r", "format": {"type": "json_lines"}, "columns": [
                    {"source": "id", "field": "id", "type": "string", "required": true},
                    {"source": "amount", "field": "amount", "type": "decimal"},
                    {"source": "count", "field": "count", "type": "integer"}]}"#,
            )
            .unwrap(),
        );
        let long_line = format!("id,amount\nok,1\n{},1\n", "x".repeat(3000));
        let runaway_quote = format!("id,amount\nok,1\n\"a,1\n{}", "b,2\n".repeat(500));
        let long_json_line = format!("{{\"id\": \"{}\"}}\n", "x".repeat(3000));
        let long_element = format!("[{{\"id\": \"a\"}}, {{\"id\": \"{}\"}}]", "x".repeat(3000));
        let deep = format!("{{\"id\": \"a\", \"x\": {}1{}}}\n{{\"id\": \"b\"}}\n", "[".repeat(20), "]".repeat(20));
        let json_lines = mapper(r#"{"type": "json_lines"}"#, "");
        let csv = csv();
        let json = mapper(r#"{"type": "json"}"#, "");
        // (case, mapper, input, records, row error or file error expected to contain)
        let row_errors: Vec<(&str, &Mapper, &[u8], u64, &str)> = vec![
            ("csv unbalanced quote", &csv, b"id,amount\nok,1\n\"a,1\nb,2\n", 1, "an unbalanced quote?"),
            ("csv NUL byte", &csv, b"id,amount\nok,1\nn\0ul,1\n", 1, "holds a NUL byte"),
            ("csv Latin-1", &csv, b"id,amount\nok,1\ncaf\xe9,1\n", 1, "is the file Latin-1"),
            ("csv ragged", &csv, b"id,amount\nok,1\na,1,2\n", 1, "expected 2 fields as in the header, found 3"),
            ("jsonl blank and broken lines", &json_lines, b"{\"id\": \"ok\"}\n\n{\"id\": \n", 1, "invalid JSON"),
            ("json nested too deep", &json_lines, deep.as_bytes(), 1, "nested deeper than 8 levels"),
            (
                "number beyond f64",
                &numbers,
                b"{\"id\": \"ok\"}\n{\"id\": \"a\", \"amount\": 1e400}\n",
                1,
                "between 1E-130 and 1E+126",
            ),
            (
                "number beyond i64",
                &numbers,
                b"{\"id\": \"ok\"}\n{\"id\": \"a\", \"count\": 9223372036854775808}\n",
                1,
                "64-bit range",
            ),
            (
                "duplicate keys",
                &json_lines,
                b"{\"id\": \"ok\"}\n{\"id\": \"a\", \"id\": \"b\"}\n",
                1,
                "appears more than once",
            ),
        ];
        for (case, m, input, records, expected) in row_errors {
            let (summary, got) = parse_with(m, input);
            let summary = summary.unwrap_or_else(|e| panic!("{case}: a file error {e}"));
            assert_eq!((got, summary.rows_rejected), (records, 1), "{case}: {summary:?}");
            assert!(summary.row_errors[0].reason.contains(expected), "{case}: {:?}", summary.row_errors);
        }
        let file_errors: Vec<(&str, &Mapper, &[u8], &str)> = vec![
            ("csv line over the limit", &csv, long_line.as_bytes(), "longer than 1024 bytes"),
            (
                "csv runaway quote over the limit",
                &csv,
                runaway_quote.as_bytes(),
                "an unbalanced quote, or a line that never ends?",
            ),
            ("csv header missing a required column", &csv, b"amount\n1\n", "lacks required column(s): id"),
            ("csv duplicate headers", &csv, b"id,id,amount\n1,2,3\n", "more than once"),
            ("UTF-16 without a byte-order mark", &csv, b"i\0d\0,\0a\0\n\0", "UTF-16"),
            (
                "jsonl line over the limit",
                &json_lines,
                long_json_line.as_bytes(),
                "JSON Lines record at line 1 is longer than 1024 bytes",
            ),
            (
                "json element over the limit",
                &json,
                long_element.as_bytes(),
                "JSON record at line 1 is longer than 1024 bytes",
            ),
            ("json truncated", &json, b"[{\"id\": \"a\"}, {\"id\"", "malformed JSON"),
            ("json not an array", &json, b"{\"id\": \"a\"}", "malformed JSON"),
        ];
        for (case, m, input, expected) in file_errors {
            let (summary, _) = parse_with(m, input);
            let error = summary.expect_err(case).to_string();
            assert!(error.contains(expected), "{case}: {error}");
        }
    }

    #[test]
    fn duplicate_and_nested_members() {
        let m = Mapper::new(
            Template::from_json(
                r#"{"id": "t", "record_type": "r", "format": {"type": "json_lines"},
                "columns": [{"source": "customer.id", "field": "id", "type": "string", "required": true}]}"#,
            )
            .unwrap(),
        );
        let (summary, records) = parse(
            &m,
            b"{\"customer\": {\"id\": \"c1\"}}\n{\"customer.id\": \"c2\"}\n{\"customer\": {\"id\": 1, \"id\": 2}}\n",
        );
        assert_eq!(
            records.iter().map(|r| r.values[0].clone()).collect::<Vec<_>>(),
            vec![Some(Value::Str("c1".into())), Some(Value::Str("c2".into()))]
        );
        assert!(summary.unwrap().row_errors[0].reason.contains("more than once"));
    }

    #[test]
    fn stop_at_first_row_error_for_validation_pass() {
        let mut reader = Cursor::new(b"id,amount\n,1\nb,2\n".to_vec());
        let summary = parse_rows(
            &mut reader,
            &csv(),
            "k",
            ParseOptions { stop_at_first_row_error: true, ..ParseOptions::default() },
            &mut |_| ControlFlow::Continue(()),
        )
        .unwrap();
        assert!(summary.stopped);
        assert_eq!((summary.rows_read, summary.rows_rejected), (1, 1));
    }

    /// Parses `input` stopping after every `every` accepted rows and going on from the position it
    /// gives, as a hand-over does, over the bytes from that offset on.
    fn parse_in_pieces(m: &Mapper, input: &[u8], every: usize) -> (ParseSummary, Vec<Record>, usize) {
        let mut records = Vec::new();
        let mut resume: Option<(ParsePosition, ParseSummary)> = None;
        for pieces in 1.. {
            let offset = resume.as_ref().map_or(0, |(p, _)| p.offset as usize);
            let mut reader = Cursor::new(input[offset..].to_vec());
            let mut taken = 0;
            let options = ParseOptions { resume: resume.take(), ..ParseOptions::default() };
            let summary = parse_rows(&mut reader, m, "k#e", options, &mut |r| {
                records.push(r);
                taken += 1;
                if taken == every {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
            match summary.resume_at.clone() {
                Some(position) => resume = Some((position, summary)),
                None => return (summary, records, pieces),
            }
        }
        unreachable!()
    }

    #[test]
    fn a_parse_stopped_at_any_row_goes_on_from_its_position_with_the_same_rows_and_errors() {
        let rows: Vec<(String, String)> = (1..=40)
            .map(|i| (format!("r{i}"), if i % 7 == 0 { "bad".to_string() } else { format!("{i}.5") }))
            .collect();
        let delimited = |sep: &str, crlf: bool| {
            let end = if crlf { "\r\n" } else { "\n" };
            let mut text = format!("id{sep}amount{end}");
            for (i, (id, amount)) in rows.iter().enumerate() {
                // A quoted field spanning lines and a blank line move line numbers away from rows.
                let id = if i == 3 { format!("\"{id}\n\"") } else { id.clone() };
                text += &format!("{id}{sep}{amount}{end}");
                if i == 10 {
                    text += end;
                }
            }
            text
        };
        let number = |amount: &str| if amount == "bad" { "\"bad\"".to_string() } else { amount.to_string() };
        let lines: String =
            rows.iter().map(|(id, a)| format!("{{\"id\": \"{id}\", \"amount\": {}}}\n\n", number(a))).collect();
        // Numbers last, so serde_json reads one byte past each element; and elements over lines.
        let array = format!(
            "[\n{}\n]\n",
            rows.iter()
                .map(|(id, a)| format!("{{\"id\": \"{id}\",\n \"amount\": {}}}", number(a)))
                .collect::<Vec<_>>()
                .join(" ,\n")
        );
        let cases = [
            ("csv", csv(), delimited(",", false)),
            ("csv crlf", csv(), delimited(",", true)),
            ("tsv", mapper(r#"{"type": "tsv"}"#, ""), delimited("\t", false)),
            ("json lines", mapper(r#"{"type": "json_lines"}"#, ""), lines),
            ("json array after blank lines", mapper(r#"{"type": "json"}"#, ""), format!("\r\n \n{array}")),
            ("csv after blank lines", csv(), format!("\n  \r\n{}", delimited(",", true))),
            ("json array", mapper(r#"{"type": "json"}"#, ""), array),
        ];
        for (name, m, text) in cases {
            let (whole, whole_records) = parse(&m, text.as_bytes());
            let whole = whole.unwrap();
            assert_eq!((whole.rows_read, whole.rows_rejected), (40, 5), "{name}");
            for every in [1, 2, 5, 33] {
                let (summary, records, pieces) = parse_in_pieces(&m, text.as_bytes(), every);
                assert!(pieces > 1, "{name}: never stopped");
                assert_eq!(
                    records.iter().map(|r| &r.id).collect::<Vec<_>>(),
                    whole_records.iter().map(|r| &r.id).collect::<Vec<_>>(),
                    "{name}, stopping every {every} rows"
                );
                assert_eq!(ids_and_amounts(&records), ids_and_amounts(&whole_records), "{name}, every {every}");
                assert_eq!(
                    (summary.rows_read, summary.rows_rejected, &summary.row_errors),
                    (whole.rows_read, whole.rows_rejected, &whole.row_errors),
                    "{name}, every {every}: the same rows rejected, at the same rows and lines"
                );
            }
        }
    }
}
