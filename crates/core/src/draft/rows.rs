//! A sample's format and its rows, read into one [`ColumnState`] per column (what its values fit,
//! never the values themselves, so memory stays bounded by the columns, not the rows).
//!
//! The format: by the name's extension first (`.csv`, `.tsv`/`.tab`, `.json`, `.jsonl`/`.ndjson`),
//! else by the content: a first non-blank character `[` is a JSON array of objects, `{` JSON Lines,
//! anything else delimited text. A `.json` name holding one object per line is JSON Lines.
//!
//! Delimited text: the delimiter is the one of `,` `;` tab `|` that splits the first
//! [`SNIFFED_RECORDS`] records into the same number (more than one) of fields most consistently,
//! quotes (`"`) respected; on a tie, the one giving more fields, then the first in that order. A
//! tab makes it `tsv`. See [`is_header`] for whether the first row names the columns.
//!
//! JSON: the members of the sampled objects in the order first seen; a nested object's members
//! become dotted paths (`address.country`), as the parser looks them up. A member holding an array,
//! or an object in some rows and a scalar in others, is left out, saying so: a template reads
//! scalar values only.

use super::columns::ColumnState;
use super::DraftError;
use crate::parse::json_object::{scalar_text, RawObject};
use crate::selection::{key_extension, key_format, KeyFormat};
use crate::template::{FormatKind, MAX_COLUMNS, MAX_TEXT};
use serde_json::value::RawValue;
use std::collections::HashMap;

/// Records the delimiter is chosen from.
const SNIFFED_RECORDS: usize = 50;
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];
/// Nesting of JSON objects flattened into dotted paths; deeper members are left out.
const MAX_PATH_DEPTH: usize = 16;

/// The sample's format, as the template will say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Delimited { kind: FormatKind, delimiter: u8, header: bool },
    Json,
    JsonLines,
}

impl Shape {
    pub(super) fn kind(self) -> FormatKind {
        match self {
            Shape::Delimited { kind, .. } => kind,
            Shape::Json => FormatKind::Json,
            Shape::JsonLines => FormatKind::JsonLines,
        }
    }
}

/// What was read of the sample.
pub(super) struct Sampled {
    pub shape: Shape,
    pub columns: Vec<SampledColumn>,
    /// Data rows read.
    pub rows: u64,
    /// Of those, the rows the columns' states were fed from (a CSV row of another width than
    /// its header's is not: a template rejects it).
    pub typed_rows: u64,
    /// Where the last sampled row ends in the text.
    pub end: usize,
}

/// One column of the sample.
pub(super) struct SampledColumn {
    /// What the template reads: a header name, a column number (from 1), a member's dotted path.
    pub source: String,
    /// What the field name is made from.
    pub name: String,
    pub state: ColumnState,
}

/// Reads up to `rows` data rows of `text` (the whole text of a sample, or its head when `cut`).
pub(super) fn sample(
    text: &str,
    name: &str,
    rows: usize,
    cut: bool,
    warnings: &mut Vec<String>,
) -> Result<Sampled, DraftError> {
    let first = text.trim_start().as_bytes().first().copied();
    match key_extension(name).as_deref() {
        Some("tsv" | "tab") => Ok(delimited(text, Some(b'\t'), rows, cut, warnings)),
        Some("csv") => Ok(delimited(text, None, rows, cut, warnings)),
        Some("jsonl" | "ndjson") => json_lines(text, rows, warnings),
        Some("json") if first == Some(b'[') => json_array(text, rows, cut, warnings),
        Some("json") if first == Some(b'{') => json_lines(text, rows, warnings),
        Some("json") => Err(DraftError::Unreadable(
            "the sample is named .json but holds neither a JSON array of objects nor one JSON object per line".into(),
        )),
        _ if key_format(name) == KeyFormat::Parquet => Err(DraftError::Unreadable(format!(
            "'{name}' is a Parquet file: drafts are made from text samples; write a parquet template's columns from the file's schema"
        ))),
        _ if key_format(name) == KeyFormat::Other => Err(DraftError::Unreadable(format!(
            "'{name}' is named as a format no template reads: templates read csv, tsv, json, json_lines and parquet"
        ))),
        // Named for no format: the content says which, and text that is not the JSON it begins
        // like is read as delimited text (a header may well begin with '[').
        _ => {
            let mut tried = Vec::new();
            let json = match first {
                Some(b'[') => json_array(text, rows, cut, &mut tried).ok(),
                Some(b'{') => json_lines(text, rows, &mut tried).ok(),
                _ => None,
            };
            match json.filter(|sampled| sampled.rows > 0) {
                Some(sampled) => {
                    warnings.append(&mut tried);
                    Ok(sampled)
                }
                None => Ok(delimited(text, None, rows, cut, warnings)),
            }
        }
    }
}

/// One non-blank record of delimited text.
struct Record {
    /// Its first [`MAX_COLUMNS`] fields: no more are read into a template.
    fields: Vec<String>,
    /// Its number of fields.
    width: usize,
    /// The byte offset just past it.
    end: usize,
}

/// The non-blank records of delimited text.
struct Records<'t> {
    reader: csv::Reader<&'t [u8]>,
    record: csv::StringRecord,
}

impl<'t> Records<'t> {
    fn new(text: &'t str, delimiter: u8) -> Self {
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .quote(b'"')
            .has_headers(false)
            .flexible(true)
            // As the parser reads: records end at '\n', a '\r' before it is cut from the last field.
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(text.as_bytes());
        Records { reader, record: csv::StringRecord::new() }
    }
}

impl Iterator for Records<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if !self.reader.read_record(&mut self.record).ok()? {
                return None;
            }
            let end = self.reader.position().byte() as usize;
            let width = self.record.len();
            let fields: Vec<String> = self
                .record
                .iter()
                .take(MAX_COLUMNS)
                .enumerate()
                .map(|(i, f)| if i == width - 1 { f.strip_suffix('\r').unwrap_or(f) } else { f }.to_owned())
                .collect();
            // A blank line is not a row (nor is it for the parser).
            if width == 1 && fields[0].trim().is_empty() {
                continue;
            }
            return Some(Record { fields, width, end });
        }
    }
}

/// The delimiter among [`DELIMITERS`] that splits the first records most consistently into more
/// than one field; `,` when none does (one column).
fn sniff_delimiter(text: &str) -> u8 {
    let mut best: Option<((usize, usize), u8)> = None;
    for delimiter in DELIMITERS {
        let widths: Vec<usize> = Records::new(text, delimiter).take(SNIFFED_RECORDS).map(|r| r.width).collect();
        let mut counts: HashMap<usize, usize> = HashMap::new();
        for &w in &widths {
            *counts.entry(w).or_default() += 1;
        }
        // The most frequent width (the larger one on a tie), and how many records have it.
        let Some((width, count)) = counts.into_iter().max_by_key(|&(w, n)| (n, w)) else { continue };
        if width < 2 {
            continue;
        }
        // Consistency in thousandths, then the width: a larger score wins, an equal one keeps the
        // earlier delimiter.
        let score = (count * 1000 / widths.len(), width);
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, delimiter));
        }
    }
    best.map_or(b',', |(_, d)| d)
}

/// What one pass over delimited text gave: the first record apart, the later ones in the states.
struct Scan {
    first: Record,
    states: Vec<ColumnState>,
    /// The most fields of a record read.
    widest: usize,
    /// Records after the first, read.
    later: u64,
    /// Of those, fed to the states (all, or those as wide as `width` when given).
    typed: u64,
    /// Of those, as wide as the first record.
    as_wide: u64,
    end: usize,
}

/// Reads the first record and up to `later` more; only those `width` wide (when given) go into
/// the states. When the text is `cut`, its last record is not read: it may be cut short.
fn scan(text: &str, delimiter: u8, later: usize, width: Option<usize>, cut: bool) -> Option<Scan> {
    let mut records = Records::new(text, delimiter).peekable();
    let first = records.next()?;
    let (widest, end) = (first.width, first.end);
    let mut scan = Scan { first, states: Vec::new(), widest, later: 0, typed: 0, as_wide: 0, end };
    while scan.later < later as u64 {
        let Some(record) = records.next() else { break };
        if cut && records.peek().is_none() {
            break;
        }
        scan.later += 1;
        scan.end = record.end;
        scan.as_wide += u64::from(record.width == scan.first.width);
        if width.is_some_and(|w| w != record.width) {
            continue;
        }
        scan.typed += 1;
        scan.widest = scan.widest.max(record.width);
        feed(&mut scan.states, &record.fields);
    }
    Some(scan)
}

/// Adds a record's fields to the states (at most [`MAX_COLUMNS`] of them).
fn feed(states: &mut Vec<ColumnState>, record: &[String]) {
    let width = record.len().min(MAX_COLUMNS);
    if states.len() < width {
        states.resize_with(width, ColumnState::new);
    }
    for (state, value) in states.iter_mut().zip(record) {
        state.add(value);
    }
}

/// Whether the first row names the columns rather than holding data. It names them unless it
/// looks like data:
/// - a column whose later values all have one type other than string, and whose first value
///   (not empty) does not fit it, says header (`amount` above numbers), whatever the others say;
/// - else, a first value that fits its column's type says data (every typed column's first
///   value fits, as `1,2.5,2026-01-02` above rows like it);
/// - no typed column (all text) says nothing: header, unless the first row names a column twice
///   (a header names each once), which says data;
/// - a file of one row: data when every value has a type of its own (numbers, dates), else header.
fn is_header(scan: &Scan) -> bool {
    if scan.later == 0 {
        let typed = |v: &String| {
            let mut state = ColumnState::new();
            state.add(v);
            state.choice().typed()
        };
        return !scan.first.fields.iter().all(typed);
    }
    let (mut contradicted, mut fitted) = (false, false);
    for (value, state) in scan.first.fields.iter().zip(&scan.states) {
        let choice = state.choice();
        if value.trim().is_empty() || !choice.typed() {
            continue;
        }
        if choice.accepts(value) {
            fitted = true;
        } else {
            contradicted = true;
        }
    }
    if contradicted || fitted {
        return contradicted;
    }
    let mut names: Vec<&str> = scan.first.fields.iter().map(|v| v.trim()).filter(|v| !v.is_empty()).collect();
    let named = names.len();
    names.sort_unstable();
    names.dedup();
    names.len() == named
}

/// Delimited text; `delimiter` when the name says it (tab for `.tsv`), else sniffed.
fn delimited(text: &str, delimiter: Option<u8>, rows: usize, cut: bool, warnings: &mut Vec<String>) -> Sampled {
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(text));
    let kind = if delimiter == b'\t' { FormatKind::Tsv } else { FormatKind::Csv };
    let Some(mut scan) = scan(text, delimiter, rows, None, cut) else {
        // Not blank (checked before), yet no record: whitespace the csv reader reads as nothing.
        return Sampled {
            shape: Shape::Delimited { kind, delimiter, header: true },
            columns: vec![],
            rows: 0,
            typed_rows: 0,
            end: 0,
        };
    };
    let header = is_header(&scan);
    if header {
        let width = scan.first.width;
        if scan.as_wide < scan.typed {
            // Rows of another width than the header's are rejected: type the columns without them.
            scan = self::scan(text, delimiter, rows, Some(width), cut).unwrap_or(scan);
        }
        let columns = header_columns(&scan, warnings);
        let (rows, typed_rows, end) = (scan.later, scan.typed, scan.end);
        return Sampled { shape: Shape::Delimited { kind, delimiter, header }, columns, rows, typed_rows, end };
    }
    if scan.later == rows as u64 {
        // The first row is a data row: one fewer after it.
        scan = self::scan(text, delimiter, rows - 1, None, cut).unwrap_or(scan);
    }
    feed(&mut scan.states, &scan.first.fields);
    let widest = scan.states.len();
    let columns = scan
        .states
        .into_iter()
        .enumerate()
        .map(|(i, state)| SampledColumn { source: (i + 1).to_string(), name: format!("column_{}", i + 1), state })
        .collect();
    warnings.push(format!(
        "the first row looks like data, not a header: no header; sources are column numbers, fields column_1 to \
         column_{widest}: rename them"
    ));
    if scan.widest > MAX_COLUMNS {
        warnings.push(format!("the sample has {} columns: the draft has the first {MAX_COLUMNS}", scan.widest));
    }
    let rows = scan.later + 1;
    Sampled { shape: Shape::Delimited { kind, delimiter, header }, columns, rows, typed_rows: rows, end: scan.end }
}

/// The columns a header names; those it names twice, or not at all, are left out, as a template
/// reads a column by its name.
fn header_columns(scan: &Scan, warnings: &mut Vec<String>) -> Vec<SampledColumn> {
    let names: Vec<&str> = scan.first.fields.iter().map(|n| n.trim()).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for name in &names {
        *counts.entry(name).or_default() += 1;
    }
    let (mut unnamed, mut repeated, mut unreadable) = (Vec::new(), Vec::new(), Vec::new());
    let mut columns = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let number = (i + 1).to_string();
        if name.is_empty() {
            unnamed.push(number);
        } else if counts[name] > 1 {
            if !repeated.iter().any(|r| r == name) {
                repeated.push((*name).to_owned());
            }
        } else if name.len() > MAX_TEXT || name.chars().any(char::is_control) {
            unreadable.push(number);
        } else {
            let state = scan.states.get(i).cloned().unwrap_or_else(ColumnState::new);
            columns.push(SampledColumn { source: (*name).to_owned(), name: (*name).to_owned(), state });
        }
    }
    if !unnamed.is_empty() {
        warnings.push(format!(
            "{} no name in the header: left out (a template reads a column by its header name)",
            some("column", "has", &unnamed)
        ));
    }
    if !repeated.is_empty() {
        let quoted: Vec<String> = repeated.iter().map(|n| format!("'{n}'")).collect();
        warnings.push(format!(
            "the header names {} more than once: those columns are left out (a template reads a column by its \
             header name, which must be unique)",
            listed(&quoted)
        ));
    }
    if !unreadable.is_empty() {
        warnings.push(format!(
            "{} a header name longer than {MAX_TEXT} bytes or with control characters: left out",
            some("column", "has", &unreadable)
        ));
    }
    if scan.first.width > MAX_COLUMNS {
        warnings.push(format!("the header names {} columns: the draft has the first {MAX_COLUMNS}", scan.first.width));
    }
    columns
}

/// `a, b, c, d, e and 7 more`: the first few of a list, for a warning.
pub(super) fn listed(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let shown = items[..items.len().min(SHOWN)].join(", ");
    match items.len().saturating_sub(SHOWN) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// `column 4 has` or `columns 4, 9 have`: the subject of a warning about `items`.
fn some(noun: &str, verb: &str, items: &[String]) -> String {
    match items {
        [one] => format!("{noun} {one} {verb}"),
        _ => format!("{noun}s {} {}", listed(items), if verb == "has" { "have" } else { "are" }),
    }
}

/// The members of sampled JSON objects, by dotted path, in the order first seen.
#[derive(Default)]
struct Members {
    paths: Vec<Member>,
    index: HashMap<String, usize>,
    rows: u64,
    too_many: bool,
}

#[derive(Default)]
struct Member {
    path: String,
    state: Option<ColumnState>,
    /// Kinds of value seen at the path (null aside).
    scalar: bool,
    object: bool,
    array: bool,
    too_deep: bool,
}

impl Members {
    fn member(&mut self, path: String) -> Option<&mut Member> {
        let next = self.paths.len();
        let i = match self.index.get(&path) {
            Some(&i) => i,
            None if next >= MAX_COLUMNS * 4 => {
                self.too_many = true;
                return None;
            }
            None => {
                self.index.insert(path.clone(), next);
                self.paths.push(Member { path, ..Member::default() });
                next
            }
        };
        Some(&mut self.paths[i])
    }

    fn add(&mut self, object: &RawObject, prefix: &str, depth: usize) {
        for (name, raw) in &object.0 {
            let path = if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") };
            let Some(member) = self.member(path.clone()) else { return };
            match raw.get().as_bytes().first() {
                Some(b'{') if depth >= MAX_PATH_DEPTH => member.too_deep = true,
                Some(b'{') => {
                    member.object = true;
                    if let Ok(inner) = RawObject::parse(raw.get()) {
                        self.add(&inner, &path, depth + 1);
                    }
                }
                Some(b'[') => member.array = true,
                _ => {
                    if let Ok(Some(text)) = scalar_text(raw) {
                        member.scalar = true;
                        member.state.get_or_insert_with(ColumnState::new).add(&text);
                    }
                }
            }
        }
    }

    fn add_row(&mut self, element: &str) {
        self.rows += 1;
        // A row that is no object is the parser's row error (the check of the draft says so).
        if let Ok(object) = RawObject::parse(element.trim()) {
            self.add(&object, "", 0);
        }
    }

    fn sampled(self, shape: Shape, end: usize, warnings: &mut Vec<String>) -> Sampled {
        let (mut arrays, mut deep, mut mixed, mut unreadable) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut columns = Vec::new();
        let mut more = 0;
        for member in self.paths {
            let quoted = format!("'{}'", member.path);
            if member.array {
                arrays.push(quoted);
            } else if member.too_deep {
                deep.push(quoted);
            } else if member.object && member.scalar {
                mixed.push(quoted);
            } else if member.object {
                // Its members are columns of their own.
            } else if member.path.len() > MAX_TEXT || member.path.chars().any(char::is_control) {
                unreadable.push(quoted);
            } else if columns.len() == MAX_COLUMNS {
                more += 1;
            } else {
                let state = member.state.unwrap_or_else(ColumnState::new);
                columns.push(SampledColumn { source: member.path.clone(), name: member.path, state });
            }
        }
        let left_out = [
            (arrays, "holds arrays".to_owned(), "hold arrays".to_owned(), "a template reads scalar values only"),
            (
                deep,
                format!("is nested more than {MAX_PATH_DEPTH} objects deep"),
                format!("are nested more than {MAX_PATH_DEPTH} objects deep"),
                "deeper than a draft reads",
            ),
            (
                mixed,
                "is an object in some rows and a value in others".to_owned(),
                "are objects in some rows and values in others".to_owned(),
                "the members of the objects are read",
            ),
            (
                unreadable,
                format!("is longer than {MAX_TEXT} bytes or holds control characters"),
                format!("are longer than {MAX_TEXT} bytes or hold control characters"),
                "no source may be",
            ),
        ];
        for (paths, one, many, why) in left_out {
            match paths.as_slice() {
                [] => {}
                [path] => warnings.push(format!("member {path} {one}: left out ({why})")),
                _ => warnings.push(format!("members {} {many}: left out ({why})", listed(&paths))),
            }
        }
        if more > 0 || self.too_many {
            warnings.push(format!(
                "the sample's objects have more than {MAX_COLUMNS} members: the draft has the first {MAX_COLUMNS}"
            ));
        }
        Sampled { shape, columns, rows: self.rows, typed_rows: self.rows, end }
    }
}

/// One JSON object per line; blank lines are no rows.
fn json_lines(text: &str, rows: usize, warnings: &mut Vec<String>) -> Result<Sampled, DraftError> {
    let mut members = Members::default();
    let mut end = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        at += line.len();
        if line.trim().is_empty() {
            continue;
        }
        if members.rows == rows as u64 {
            break;
        }
        if members.rows == 0 && RawObject::parse(line.trim()).is_err() {
            return Err(DraftError::Unreadable(format!(
                "the sample's first line is not a JSON object, as a line of JSON Lines must be: {}",
                line.trim().chars().take(80).collect::<String>()
            )));
        }
        members.add_row(line);
        end = at;
    }
    Ok(members.sampled(Shape::JsonLines, end, warnings))
}

/// One JSON array of objects, read element by element as far as the rows go; an array cut short
/// by the sample's end ends there.
fn json_array(text: &str, rows: usize, cut: bool, warnings: &mut Vec<String>) -> Result<Sampled, DraftError> {
    let malformed = |at: u64, e: &dyn std::fmt::Display| {
        DraftError::Unreadable(format!("the sample is not a JSON array of objects: after {at} element(s): {e}"))
    };
    let start = text.len() - text.trim_start().len();
    let mut pos = start + 1;
    let mut members = Members::default();
    let mut end = pos;
    loop {
        pos += text[pos..].len() - text[pos..].trim_start().len();
        let rest = &text[pos..];
        if rest.starts_with(']') {
            end = pos + 1;
            break;
        }
        if members.rows == rows as u64 {
            break;
        }
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
        match stream.next() {
            Some(Ok(element)) => {
                members.add_row(element.get());
                pos += stream.byte_offset();
                end = pos;
            }
            Some(Err(e)) if e.is_eof() && cut => break,
            None if cut => break,
            Some(Err(e)) => return Err(malformed(members.rows, &e)),
            None => return Err(malformed(members.rows, &"the array is not closed")),
        }
        pos += text[pos..].len() - text[pos..].trim_start().len();
        match text.as_bytes().get(pos) {
            Some(b',') => pos += 1,
            Some(b']') => {}
            None if cut => break,
            _ => return Err(malformed(members.rows, &"expected ',' or ']' after an element")),
        }
    }
    Ok(members.sampled(Shape::Json, end, warnings))
}
