//! A template drafted from a sample of a file: its format, delimiter, header and encoding, and
//! each column with the narrowest type that every sampled value fits. A draft to review and edit,
//! not a guess to save blind: it says in its warnings what it could not tell (day/month order,
//! columns with no values, rows a template would reject).
//!
//! The sample is read as a sync reads it ([`crate::decode`]: gzip, zstd or bzip2 by their magic
//! bytes, then the text encoding), but bounded: at most [`MAX_SAMPLE_BYTES`] of the object and
//! [`MAX_TEXT_BYTES`] of its text, and at most the rows asked for. The object is never read whole.
//!
//! - this file: the sample's text (encoding tried as UTF-8, then as what the file looks like),
//!   the template built as a JSON document and validated by [`Template::from_json`], and a check
//!   that the template reads every sampled row;
//! - [`rows`]: the format and the sampled rows of each format;
//! - [`columns`]: each column's type, date or timestamp format, `required`, and field name.

mod columns;
mod rows;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_formats;

use crate::decode::{decode_limited, DecodeLimits};
use crate::mapping::Mapper;
use crate::parse::{parse_rows_counted, ParseOptions, Records};
use crate::ports::ObjectBody;
use crate::template::{is_identifier, Template, TemplateErrors};
use crate::text_encoding::{EncodingMismatch, LooksLike, TextEncoding};
use serde::Serialize;
use std::io::{self, Cursor, Read};
use std::ops::ControlFlow;

/// Rows sampled when the caller does not say.
pub const DEFAULT_ROWS: usize = 1000;
/// The most rows a caller may ask for.
pub const MAX_ROWS: usize = 10_000;
/// Bytes of the object read, at most (compressed, if it is): the head of a large file is enough
/// to draft from, and nothing more is fetched.
pub const MAX_SAMPLE_BYTES: usize = 4 * 1024 * 1024;
/// Bytes of decoded text read, at most (a gzip'd head may decode to far more).
pub const MAX_TEXT_BYTES: usize = 4 * 1024 * 1024;
/// What a template id is, as validation says it.
pub const ID_RULE: &str = "must be 1-128 characters of letters, digits, '-', '_' or '.'";
/// Rejected rows named one by one in the warnings; the rest are counted.
const REJECTIONS_NAMED: usize = 5;

/// How to draft.
#[derive(Debug, Clone)]
pub struct DraftOptions {
    /// Data rows to read, at most (the header is not one).
    pub rows: usize,
    /// The template's id (and record type); `None`: made from the file's name.
    pub id: Option<String>,
    /// The sync's decompression limits.
    pub limits: DecodeLimits,
}

impl Default for DraftOptions {
    fn default() -> Self {
        DraftOptions { rows: DEFAULT_ROWS, id: None, limits: DecodeLimits::default() }
    }
}

/// A drafted template, the rows it was drafted from, and what the draft could not tell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Draft {
    pub template: Template,
    /// Data rows read (a header row, blank lines and a row cut short by the sample's end are not).
    pub rows_sampled: u64,
    /// What to check before saving it: ambiguous dates, columns with no values, columns left out,
    /// rows a template would reject.
    pub warnings: Vec<String>,
}

/// Why no template could be drafted from a sample.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DraftError {
    /// Reading the sample's bytes failed (a file, a body): not the sample's content.
    #[error("reading the sample: {0}")]
    Read(#[source] io::Error),
    #[error(
        "the sample is empty (no bytes, or only a byte-order mark or whitespace): there is nothing to draft a \
         template from"
    )]
    Empty,
    /// A corrupt compressed stream, or text that breaks off in its encoding.
    #[error("cannot decode the sample: {0}")]
    Decode(#[source] io::Error),
    /// The text is in none of the encodings a template reads.
    #[error("{0}: templates read utf-8, windows-1252 and utf-16 with a byte-order mark; save the sample as UTF-8")]
    Encoding(LooksLike),
    /// Not a file of rows a template reads (a malformed JSON document, a format no template reads,
    /// no columns to draft), saying why.
    #[error("{0}")]
    Unreadable(String),
    /// The id asked for is not a template id.
    #[error("id: '{0}' {ID_RULE}")]
    InvalidId(String),
    /// The drafted template does not validate: a bug of the draft, not of the sample.
    #[error("the drafted template does not validate (a bug of the draft): {0}")]
    Invalid(#[source] TemplateErrors),
}

/// The head of a sample object: its first [`MAX_SAMPLE_BYTES`], and whether there was more.
#[derive(Debug, Clone)]
pub struct SampleHead {
    bytes: Vec<u8>,
    /// The object goes on past `bytes`: its text ends wherever the head does.
    cut: bool,
}

impl SampleHead {
    /// Reads the head of `raw` (a file), never more.
    pub fn read(raw: impl Read) -> io::Result<SampleHead> {
        let mut bytes = Vec::new();
        raw.take(MAX_SAMPLE_BYTES as u64 + 1).read_to_end(&mut bytes)?;
        Ok(SampleHead::of(bytes))
    }

    /// Reads the head of an object's body, never more; the rest of the body is dropped unread.
    pub async fn read_body(body: ObjectBody) -> io::Result<SampleHead> {
        use tokio::io::AsyncReadExt;
        let mut bytes = Vec::new();
        body.take(MAX_SAMPLE_BYTES as u64 + 1).read_to_end(&mut bytes).await?;
        Ok(SampleHead::of(bytes))
    }

    fn of(mut bytes: Vec<u8>) -> SampleHead {
        let cut = bytes.len() > MAX_SAMPLE_BYTES;
        bytes.truncate(MAX_SAMPLE_BYTES);
        SampleHead { bytes, cut }
    }
}

/// Drafts a template from the sample `raw` (read only as far as [`SampleHead::read`] goes), whose
/// file name or object key is `name` (its extension is the first hint of the format).
pub fn draft(raw: impl Read, name: &str, options: &DraftOptions) -> Result<Draft, DraftError> {
    let head = SampleHead::read(raw).map_err(DraftError::Read)?;
    draft_from(&head, name, options)
}

/// Drafts a template from a sample's head (see [`draft`]).
pub fn draft_from(head: &SampleHead, name: &str, options: &DraftOptions) -> Result<Draft, DraftError> {
    let id = match &options.id {
        Some(id) if !is_identifier(id, 128) => return Err(DraftError::InvalidId(id.clone())),
        Some(id) => id.clone(),
        None => columns::name_from_file(name),
    };
    let mut warnings = Vec::new();
    let text = sample_text(head, options.limits, &mut warnings)?;
    if text.text.trim().is_empty() {
        return Err(DraftError::Empty);
    }
    let sampled = rows::sample(&text.text, name, options.rows.max(1), text.cut, &mut warnings)?;
    let columns = columns::columns(&sampled, &mut warnings);
    if columns.is_empty() {
        return Err(DraftError::Unreadable(format!(
            "no column to draft: {}",
            if sampled.rows == 0 { "the sample has no rows" } else { "no sampled value can be a column" }
        )));
    }
    let mut format = serde_json::Map::new();
    format.insert("type".into(), sampled.shape.kind().to_string().into());
    if let rows::Shape::Delimited { delimiter, header, .. } = sampled.shape {
        format.insert("delimiter".into(), char::from(delimiter).to_string().into());
        format.insert("quote".into(), "\"".into());
        format.insert("header".into(), header.into());
    }
    if text.encoding != TextEncoding::Utf8 {
        format.insert("encoding".into(), text.encoding.label().into());
    }
    // Built as a document and parsed as one, so that the draft is exactly what validation takes.
    let document = serde_json::json!({
        "id": id,
        // At most 64 characters of the same alphabet as the id.
        "record_type": id.chars().take(64).collect::<String>(),
        "format": format,
        "columns": columns,
    });
    let template = Template::from_json(&document.to_string()).map_err(DraftError::Invalid)?;
    check_rows(&template, &text.text[..sampled.end], sampled.rows, &mut warnings);
    Ok(Draft { template, rows_sampled: sampled.rows, warnings })
}

/// A sample's decoded text, whole lines only.
struct SampleText {
    text: String,
    encoding: TextEncoding,
    /// The text ends before the file does.
    cut: bool,
}

/// The head's text as UTF-8; when the head says it is in another encoding a template reads, read
/// again from the start in that one.
fn sample_text(head: &SampleHead, limits: DecodeLimits, warnings: &mut Vec<String>) -> Result<SampleText, DraftError> {
    match decode_text(head, limits, TextEncoding::Utf8, warnings) {
        Err(Attempt::Mismatch(looks)) => match looks.read_as() {
            Some(encoding) if encoding != TextEncoding::Utf8 => {
                decode_text(head, limits, encoding, warnings).map_err(|attempt| match attempt {
                    Attempt::Mismatch(looks) => DraftError::Encoding(looks),
                    Attempt::Failed(e) => e,
                })
            }
            _ => Err(DraftError::Encoding(looks)),
        },
        Err(Attempt::Failed(e)) => Err(e),
        Ok(text) => Ok(text),
    }
}

/// What reading the text in one encoding gave, when it gave no text.
enum Attempt {
    /// The head is in another encoding.
    Mismatch(LooksLike),
    Failed(DraftError),
}

fn mismatch(e: &io::Error) -> Option<LooksLike> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<EncodingMismatch>()).map(|m| m.file.clone())
}

fn decode_text(
    head: &SampleHead,
    limits: DecodeLimits,
    encoding: TextEncoding,
    warnings: &mut Vec<String>,
) -> Result<SampleText, Attempt> {
    let failed = |e: io::Error| match mismatch(&e) {
        Some(looks) => Attempt::Mismatch(looks),
        None => Attempt::Failed(DraftError::Decode(e)),
    };
    let decoded = decode_limited(Cursor::new(head.bytes.as_slice()), limits, encoding).map_err(failed)?;
    let mut bytes = Vec::new();
    let read = decoded.text.take(MAX_TEXT_BYTES as u64 + 1).read_to_end(&mut bytes);
    let mut cut = head.cut || bytes.len() > MAX_TEXT_BYTES;
    match read {
        // A head cut in the middle of a compressed stream or a character ends there.
        Err(e) if head.cut && mismatch(&e).is_none() => cut = true,
        Err(e) => return Err(failed(e)),
        Ok(_) => {}
    }
    bytes.truncate(MAX_TEXT_BYTES);
    if cut {
        // Whole lines only: the last one may be cut short.
        let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
            return Err(Attempt::Failed(DraftError::Unreadable(format!(
                "the sample's first {} MiB hold no line end: no whole row to read",
                MAX_TEXT_BYTES >> 20
            ))));
        };
        bytes.truncate(end + 1);
    }
    let text = String::from_utf8(bytes).unwrap_or_else(|e| {
        let at = e.utf8_error().valid_up_to();
        warnings.push(format!(
            "the sample has bytes that are not UTF-8 past its first 64 KiB (at byte {at} of its text): a template \
             rejects the rows that hold them; if the file is Windows-1252, set format.encoding to windows-1252"
        ));
        String::from_utf8_lossy(e.as_bytes()).into_owned()
    });
    Ok(SampleText { text, encoding, cut })
}

/// Reads the sampled rows (`text` up to the end of the last one) with the drafted template, as a
/// sync would, and warns of each row it rejects: the draft must read what it was drafted from.
fn check_rows(template: &Template, text: &str, rows: u64, warnings: &mut Vec<String>) {
    let mapper = Mapper::new(Template { max_errors_recorded: REJECTIONS_NAMED, ..template.clone() });
    let mut input = Cursor::new(text.as_bytes());
    let mut records = Records(&mut |_| ControlFlow::Continue(()));
    let (summary, file_error) = parse_rows_counted(&mut input, &mapper, "draft", ParseOptions::default(), &mut records);
    for error in &summary.row_errors {
        warnings.push(format!("the draft rejects sampled {error}"));
    }
    if summary.rows_rejected > summary.row_errors.len() as u64 {
        let more = summary.rows_rejected - summary.row_errors.len() as u64;
        warnings.push(format!("the draft rejects {more} more sampled row(s)"));
    }
    // A JSON array sampled in part is not closed: its end is no fault of the template's.
    if let Some(e) = file_error.filter(|_| summary.rows_read < rows) {
        warnings.push(format!("the draft cannot read the sample: {e}"));
    }
}
