//! Rejected rows handed back: every row a file's read rejects, as it was, with its line number,
//! column and reason, in the file's own format, so the customer can fix the rows and drop the file
//! back. Pure: [`RejectsFile`] turns rejected rows into the bytes of the rejects object, part by
//! part; the engine ([`crate::engine`]) uploads them through a [`crate::ports::RejectsStore`].
//!
//! - CSV / TSV: the file's header (when it has one) and `_line,_column,_reason`, then each rejected
//!   row's fields followed by those three, written with the template's delimiter and quote.
//! - JSON Lines / JSON: each rejected object with `"_line"`, `"_column"` and `"_reason"` members put
//!   first and its own members after, as written; a line or element that is no JSON object is
//!   `{"_line", "_column", "_reason", "_original": its text}`. A JSON file's rejects are one array.
//!
//! The text is UTF-8 whatever the file's encoding (it is decoded before it is parsed). The three
//! added columns are ones no template reads, so a fixed file dropped back imports as the rows it
//! holds (with the drift said in its outcome).

use crate::model::RowError;
use crate::template::{Format, FormatKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The least a multipart upload's part may hold, but the last (S3's limit): parts are cut once a
/// buffer holds this much (a multiple past the first thousand parts, see [`part_bytes`]), so memory
/// stays at a few parts whatever a file rejects.
pub const PART_BYTES: usize = 5 * 1024 * 1024;

/// The size at which part `number` (from 1) is cut: 5 MiB for the first 1,000 parts, then 10 MiB,
/// 15 MiB...: S3 takes at most 10,000 parts, which then hold about 270 GB of rejected rows.
pub fn part_bytes(number: usize) -> usize {
    PART_BYTES * (1 + number.saturating_sub(1) / 1000)
}

/// The columns a rejects object adds to each row: where and why it was rejected.
pub const ADDED_COLUMNS: [&str; 3] = ["_line", "_column", "_reason"];

/// Whether a file's column is one a rejects object added: a fixed file sent back carries them, and
/// they are neither drift nor extra columns (nor a reason to fail a file under `extra_columns: fail`).
pub fn is_added_by_rejects(name: &str) -> bool {
    ADDED_COLUMNS.contains(&name) || name == "_original"
}

/// A rejected row as the parser read it.
#[derive(Debug, Clone, Copy)]
pub enum RawRow<'a> {
    /// A delimited row's fields (the last one may end with the '\r' of a CRLF line end).
    Fields(&'a csv::ByteRecord),
    /// A JSON Lines line or a JSON array element.
    Text(&'a [u8]),
}

/// Where a file's rejects object stands across the invocations that read the file: written once
/// the file ends, part by part as it is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectsUpload {
    /// Rejected rows written (to parts, or to the staged tail) so far.
    pub rows: u64,
    /// The multipart upload, once a part was full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// The parts uploaded: (number, ETag).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<(i32, String)>,
    /// Whether the rows after the last part wait in the staging object ([`staging_key`]) for the
    /// next invocation: a part but the last must hold at least [`PART_BYTES`].
    #[serde(default)]
    pub staged: bool,
    /// Why the rejects object could not be written, once it could not: the file is read on without
    /// it, and its outcome says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// The rejects object of a version of a file: under the connection, by a digest of the key (a key
/// may be 1,024 bytes) and the ETag, named after the file. Reading the version again writes the
/// same object.
pub fn rejects_key(connection_id: &str, object_key: &str, etag: &str, format: &Format) -> String {
    let digest = Sha256::digest(format!("{object_key}\n{etag}").as_bytes());
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    let name = object_key.rsplit('/').next().unwrap_or(object_key);
    let mut end = name.len().min(200);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let extension = match format.kind {
        FormatKind::Csv => "csv",
        FormatKind::Tsv => "tsv",
        // A Parquet file's rejected rows come back as JSON Lines of the columns read.
        FormatKind::JsonLines | FormatKind::Parquet => "jsonl",
        FormatKind::Json => "json",
    };
    format!("{connection_id}/{hex}/{}.rejects.{extension}", &name[..end])
}

/// Where the rows of an unfinished rejects object, `rows` rows in, wait between two invocations:
/// an object per checkpoint, never written again once a checkpoint names it (a retry of the next
/// invocation reads it again), and left to the bucket's lifecycle rule.
pub fn staging_key(key: &str, rows: u64) -> String {
    format!("{key}.staged-{rows}")
}

/// The bytes of a rejects object, built row by row.
pub struct RejectsFile {
    format: Format,
    header: Option<Vec<String>>,
    buffer: Vec<u8>,
    rows: u64,
    /// Parts cut so far (by earlier invocations too).
    parts: usize,
}

impl RejectsFile {
    /// A rejects file of a file in `format`, with `rows` rows already written before (by earlier
    /// invocations) in `parts` parts, and `tail` the bytes of them not yet in a part.
    pub fn new(format: &Format, rows: u64, parts: usize, tail: Vec<u8>) -> RejectsFile {
        RejectsFile { format: format.clone(), header: None, buffer: tail, rows, parts }
    }

    /// The delimited file's header, written before the first rejected row.
    pub fn header(&mut self, names: &[String]) {
        self.header = Some(names.to_vec());
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Adds a rejected row.
    pub fn add(&mut self, error: &RowError, raw: RawRow<'_>) {
        let first = self.rows == 0;
        self.rows += 1;
        if self.format.is_delimited() {
            self.add_delimited(first, error, raw);
        } else {
            self.add_json(first, error, raw);
        }
    }

    /// A part's bytes, once the buffer holds enough for one.
    pub fn take_part(&mut self) -> Option<Vec<u8>> {
        if self.buffer.len() < part_bytes(self.parts + 1) {
            return None;
        }
        self.parts += 1;
        Some(std::mem::take(&mut self.buffer))
    }

    /// The bytes not yet in a part.
    pub fn take_tail(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buffer)
    }

    fn add_delimited(&mut self, first: bool, error: &RowError, raw: RawRow<'_>) {
        let mut writer = csv::WriterBuilder::new()
            .delimiter(self.format.delimiter_byte())
            .quote(self.format.quote_byte())
            .flexible(true)
            .from_writer(&mut self.buffer);
        let added = ADDED_COLUMNS.map(str::as_bytes);
        if first {
            if let Some(names) = &self.header {
                let _ = writer.write_record(names.iter().map(String::as_bytes).chain(added));
            }
        }
        let line = error.line.to_string();
        let details = [line.as_bytes(), error.column.as_deref().unwrap_or("").as_bytes(), error.reason.as_bytes()];
        let _ = match raw {
            RawRow::Fields(record) => {
                let last = record.len().saturating_sub(1);
                let fields =
                    record
                        .iter()
                        .enumerate()
                        .map(|(i, f)| if i == last { f.strip_suffix(b"\r").unwrap_or(f) } else { f });
                writer.write_record(fields.chain(details))
            }
            RawRow::Text(text) => writer.write_record(std::iter::once(trim(text)).chain(details)),
        };
        let _ = writer.flush();
    }

    fn add_json(&mut self, first: bool, error: &RowError, raw: RawRow<'_>) {
        let array = self.format.kind == FormatKind::Json;
        if array {
            self.buffer.extend_from_slice(if first { b"[\n" } else { b",\n" });
        }
        let details = format!(
            "{{\"_line\":{},\"_column\":{},\"_reason\":{}",
            error.line,
            serde_json::to_string(&error.column).unwrap_or_else(|_| "null".into()),
            serde_json::to_string(&error.reason).unwrap_or_else(|_| "\"\"".into()),
        );
        self.buffer.extend_from_slice(details.as_bytes());
        let text = match raw {
            RawRow::Text(text) => trim(text),
            RawRow::Fields(record) => record.as_slice(),
        };
        match std::str::from_utf8(text).ok().filter(|t| is_object(t)) {
            // Its members after ours, as written.
            Some(object) => {
                let members = object[1..].trim_start();
                if !members.starts_with('}') {
                    self.buffer.push(b',');
                }
                self.buffer.extend_from_slice(members.as_bytes());
            }
            None => {
                let original = String::from_utf8_lossy(text);
                let quoted = serde_json::to_string(&original).unwrap_or_else(|_| "\"\"".into());
                self.buffer.extend_from_slice(b",\"_original\":");
                self.buffer.extend_from_slice(quoted.as_bytes());
                self.buffer.push(b'}');
            }
        }
        if !array {
            self.buffer.push(b'\n');
        }
    }
}

/// What ends a rejects object of `rows` rows in `format`: a JSON array's closing bracket.
pub fn closing(format: &Format, rows: u64) -> &'static [u8] {
    match format.kind {
        FormatKind::Json if rows > 0 => b"\n]\n",
        _ => b"",
    }
}

fn trim(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(text.len());
    let end = text.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |i| i + 1);
    &text[start..end.max(start)]
}

/// Whether `text` is one JSON object (and nothing after it).
fn is_object(text: &str) -> bool {
    text.starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Template;

    fn format(json: &str) -> Format {
        let template = format!(
            r#"{{"id": "t", "record_type": "r", "format": {json}, "columns": [{{"source": "id", "field": "id", "type": "string"}}]}}"#
        );
        Template::from_json(&template).unwrap().format
    }

    fn error(line: u64, column: Option<&str>, reason: &str) -> RowError {
        RowError { row: line - 1, line, column: column.map(str::to_owned), reason: reason.into() }
    }

    #[test]
    fn delimited_rejects_keep_the_header_the_fields_and_say_where_and_why() {
        let mut file = RejectsFile::new(&format(r#"{"type": "csv", "delimiter": ";"}"#), 0, 0, Vec::new());
        file.header(&["id".into(), "amount".into()]);
        let row = csv::ByteRecord::from(vec!["a;b", "x\r"]);
        file.add(&error(3, Some("amount"), "not a decimal: \"x\""), RawRow::Fields(&row));
        let ragged = csv::ByteRecord::from(vec!["c", "1", "extra"]);
        file.add(&error(5, None, "expected 2 fields as in the header, found 3"), RawRow::Fields(&ragged));
        let text = String::from_utf8(file.take_tail()).unwrap();
        assert_eq!(
            text,
            "id;amount;_line;_column;_reason\n\"a;b\";x;3;amount;\"not a decimal: \"\"x\"\"\"\nc;1;extra;5;;expected 2 fields as in the header, found 3\n"
        );
        // Read back with the template's dialect, the first row's fields are the original ones.
        let mut reader = csv::ReaderBuilder::new().delimiter(b';').flexible(true).from_reader(text.as_bytes());
        let first = reader.records().next().unwrap().unwrap();
        assert_eq!((&first[0], &first[1], &first[2]), ("a;b", "x", "3"));
    }

    #[test]
    fn json_rejects_put_where_and_why_first_and_keep_the_members_as_written() {
        let mut lines = RejectsFile::new(&format(r#"{"type": "json_lines"}"#), 0, 0, Vec::new());
        lines.add(&error(2, Some("amount"), "bad"), RawRow::Text(b"  {\"id\": \"a\", \"amount\": \"x\"}\r\n"));
        lines.add(&error(4, None, "expected a JSON object"), RawRow::Text(b"[1, 2]\n"));
        lines.add(&error(5, None, "required value is missing"), RawRow::Text(b"{}"));
        lines.add(&error(6, None, "invalid JSON"), RawRow::Text(b"{broken\n"));
        let text = String::from_utf8(lines.take_tail()).unwrap();
        let expected = concat!(
            "{\"_line\":2,\"_column\":\"amount\",\"_reason\":\"bad\",\"id\": \"a\", \"amount\": \"x\"}\n",
            "{\"_line\":4,\"_column\":null,\"_reason\":\"expected a JSON object\",\"_original\":\"[1, 2]\"}\n",
            "{\"_line\":5,\"_column\":null,\"_reason\":\"required value is missing\"}\n",
            "{\"_line\":6,\"_column\":null,\"_reason\":\"invalid JSON\",\"_original\":\"{broken\"}\n",
        );
        assert_eq!(text, expected);
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("each line is a JSON object");
        }
        // A JSON file's rejects are one array, closed when the file ends, over a hand-over too.
        let json = format(r#"{"type": "json"}"#);
        let mut array = RejectsFile::new(&json, 0, 0, Vec::new());
        array.add(&error(2, None, "r1"), RawRow::Text(b"{\"id\": 1}"));
        let tail = array.take_tail();
        let mut resumed = RejectsFile::new(&json, array.rows(), 0, tail);
        resumed.add(&error(9, None, "r2"), RawRow::Text(b"{\"id\": 2}"));
        let mut bytes = resumed.take_tail();
        bytes.extend_from_slice(closing(&json, resumed.rows()));
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value[1]["_line"], 9);
        assert_eq!(value[1]["id"], 2);
    }

    #[test]
    fn parts_are_cut_once_full_and_keys_are_bounded_and_stable() {
        let mut file = RejectsFile::new(&format(r#"{"type": "csv"}"#), 0, 0, Vec::new());
        let row = csv::ByteRecord::from(vec!["x".repeat(1000)]);
        let mut parts = Vec::new();
        for line in 0..6000 {
            file.add(&error(line + 2, None, "bad"), RawRow::Fields(&row));
            parts.extend(file.take_part());
        }
        assert_eq!(parts.len(), 1);
        assert!(parts[0].len() >= PART_BYTES && parts[0].len() < PART_BYTES + 2000);
        // Past a thousand parts they grow, so that 10,000 hold about 270 GB.
        assert_eq!(
            (part_bytes(1000), part_bytes(1001), part_bytes(10_000)),
            (PART_BYTES, 2 * PART_BYTES, 10 * PART_BYTES)
        );
        assert!((1..=10_000).map(part_bytes).sum::<usize>() > 250_000_000_000);
        let long_key = format!("in/{}.csv", "é".repeat(600));
        let csv = format(r#"{"type": "csv"}"#);
        let key = rejects_key("c1", &long_key, "\"e1\"", &csv);
        assert!(key.len() < 300 && key.starts_with("c1/") && key.ends_with(".rejects.csv"), "{key}");
        assert_eq!(key, rejects_key("c1", &long_key, "\"e1\"", &csv));
        assert_ne!(key, rejects_key("c1", &long_key, "\"e2\"", &csv));
    }
}
