//! Data templates: how a customer's files are read (format and its options) and how their columns map
//! to records (types, required fields, defaults, primary key, row policy).
//!
//! A template is a JSON document. [`Template::from_json`] parses and validates it; every problem is
//! reported with the path of the field at fault (`columns[2].values`).

use serde::{Deserialize, Serialize};
use std::collections::HashSet;

use crate::text_encoding::TextEncoding;
/// A column's type is a value's: [`crate::value`] owns both, and how a text becomes one.
pub use crate::value::FieldType;
use crate::value::ValueType;

/// File format of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormatKind {
    Csv,
    Tsv,
    /// One JSON array of objects, parsed element by element.
    Json,
    /// One JSON object per line (also called NDJSON).
    JsonLines,
    /// Apache Parquet: columns by name (a nested field by its dotted path), read row group by row
    /// group through ranged GETs.
    Parquet,
}

crate::words::words!(FormatKind {
    Csv => "csv",
    Tsv => "tsv",
    Json => "json",
    JsonLines => "json_lines",
    Parquet => "parquet"
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Format {
    #[serde(rename = "type")]
    pub kind: FormatKind,
    /// CSV/TSV: one ASCII character; defaults to ',' for CSV and tab for TSV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// CSV/TSV: one ASCII character; defaults to '"'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<char>,
    /// CSV/TSV: whether the first row names the columns. Defaults to true.
    #[serde(default = "default_true")]
    pub header: bool,
    /// The text's encoding: UTF-8 (the default), Windows-1252 (also read for Latin-1) or UTF-16
    /// with its byte-order mark; other encodings are transcoded to UTF-8 as the file is read.
    #[serde(default)]
    pub encoding: TextEncoding,
}

impl Format {
    pub fn delimiter_byte(&self) -> u8 {
        match (self.delimiter, self.kind) {
            (Some(c), _) => c as u8,
            (None, FormatKind::Tsv) => b'\t',
            (None, _) => b',',
        }
    }
    pub fn quote_byte(&self) -> u8 {
        self.quote.map(|c| c as u8).unwrap_or(b'"')
    }
    pub fn is_delimited(&self) -> bool {
        matches!(self.kind, FormatKind::Csv | FormatKind::Tsv)
    }
}

fn default_true() -> bool {
    true
}

/// One column of the source mapped to one record field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// CSV/TSV with a header: the header name. Without a header: the 1-based column number.
    /// JSON: the field name, or a dotted path into nested objects (`customer.id`).
    pub source: String,
    /// The record field it becomes.
    pub field: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default)]
    pub required: bool,
    /// Used when the value is missing or empty; must itself be valid for the type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The allowed values of an enum.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Parse format of a date or timestamp (chrono `strftime` syntax).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl Column {
    /// What this column's texts are read as.
    pub fn value_type(&self) -> ValueType<'_> {
        ValueType { field_type: self.field_type, format: self.format.as_deref(), values: &self.values }
    }
}

/// What a file's columns that the template does not map do (a header's extra names, JSON members
/// no column reads). Each file's outcome lists them whatever the choice ([`crate::model::SchemaDrift`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ExtraColumns {
    /// Left out of the records.
    #[default]
    Ignore,
    /// Kept as text in an `_extra` map on each record (name -> value; JSON values as written).
    Keep,
    /// The file fails: at its header (CSV, TSV), or at the first JSON record holding one (the
    /// records before it are kept, as for any failure part of the way).
    Fail,
}

/// The record field that holds the unmapped columns of `extra_columns: keep`.
pub const EXTRA_FIELD: &str = "_extra";

/// What a bad row does to its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RowPolicy {
    /// Reject the row, import the others; the file ends `partial`.
    #[default]
    SkipRow,
    /// One bad row fails the whole file and none of its rows is imported (the file is validated in
    /// a first pass before anything is written).
    FailFile,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub id: String,
    /// The kind of record the rows become (`payment`, `customer`).
    pub record_type: String,
    pub format: Format,
    pub columns: Vec<Column>,
    /// Record fields whose values identify a record. Rows with the same key overwrite one another;
    /// without one, a record is identified by object key, ETag and row number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_key: Vec<String>,
    #[serde(default)]
    pub row_policy: RowPolicy,
    /// How many rejected rows of one file are recorded in full (all are counted).
    #[serde(default = "default_max_errors")]
    pub max_errors_recorded: usize,
    #[serde(default, skip_serializing_if = "is_default")]
    pub extra_columns: ExtraColumns,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn default_max_errors() -> usize {
    10
}

/// A template problem, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TemplateError {
    /// JSON path of the field at fault, e.g. `columns[1].values`.
    pub field: String,
    pub message: String,
}

/// All problems of a template, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid template: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct TemplateErrors(pub Vec<TemplateError>);

fn err(field: impl Into<String>, message: impl Into<String>) -> TemplateError {
    TemplateError { field: field.into(), message: message.into() }
}

impl Template {
    /// Parses and validates a template document.
    pub fn from_json(text: &str) -> Result<Template, TemplateErrors> {
        let template: Template = crate::input::from_json(text.as_bytes()).map_err(|e| {
            let field = if e.field == "body" { "template".to_owned() } else { e.field };
            TemplateErrors(vec![err(field, e.message)])
        })?;
        template.validate()?;
        Ok(template)
    }

    /// Checks everything serde cannot: identifiers, delimiters, column references and defaults.
    pub fn validate(&self) -> Result<(), TemplateErrors> {
        let mut errors = Vec::new();
        if !is_identifier(&self.id, 128) {
            errors.push(err("id", "must be 1-128 characters of letters, digits, '-', '_' or '.'"));
        }
        if !is_identifier(&self.record_type, 64) {
            errors.push(err("record_type", "must be 1-64 characters of letters, digits, '-', '_' or '.'"));
        }
        for (name, value) in [("delimiter", self.format.delimiter), ("quote", self.format.quote)] {
            if let Some(c) = value {
                if !self.format.is_delimited() {
                    errors.push(err(format!("format.{name}"), "applies only to csv and tsv"));
                } else if !c.is_ascii() || c == '\n' || c == '\r' {
                    errors.push(err(format!("format.{name}"), "must be one ASCII character other than a line break"));
                }
            }
        }
        if self.format.is_delimited() && self.format.delimiter_byte() == self.format.quote_byte() {
            errors.push(err("format.quote", "must differ from the delimiter"));
        }
        if !self.format.header && !self.format.is_delimited() {
            errors.push(err("format.header", "applies only to csv and tsv"));
        }
        if self.format.kind == FormatKind::Parquet && self.format.encoding != TextEncoding::default() {
            errors.push(err("format.encoding", "applies only to text formats: Parquet's text is UTF-8"));
        }
        if self.columns.is_empty() {
            errors.push(err("columns", "needs at least one column"));
        }
        // Bounds on what a caller can make us store and run per row: a template is one DynamoDB item
        // (400 KB), and every row is checked against every column and enum value.
        if self.columns.len() > MAX_COLUMNS {
            errors.push(err("columns", format!("has {} columns; at most {MAX_COLUMNS}", self.columns.len())));
        }
        if self.primary_key.len() > MAX_KEY_FIELDS {
            errors.push(err("primary_key", format!("has {} fields; at most {MAX_KEY_FIELDS}", self.primary_key.len())));
        }
        if self.max_errors_recorded > 1000 {
            errors.push(err("max_errors_recorded", "must be at most 1000"));
        }
        let mut fields = HashSet::new();
        for (i, column) in self.columns.iter().enumerate() {
            let at = |name: &str| format!("columns[{i}].{name}");
            if column.source.is_empty() {
                errors.push(err(at("source"), "must not be empty"));
            } else if column.source.len() > MAX_TEXT || column.source.chars().any(char::is_control) {
                errors.push(err(at("source"), format!("must be at most {MAX_TEXT} bytes without control characters")));
            } else if self.format.is_delimited() && !self.format.header {
                match column.source.parse::<usize>() {
                    Ok(n) if n >= 1 => {}
                    _ => errors.push(err(at("source"), "without a header row, must be a column number from 1")),
                }
            }
            if !is_identifier(&column.field, 255) {
                errors.push(err(at("field"), "must be 1-255 characters of letters, digits, '-', '_' or '.'"));
            } else if !fields.insert(column.field.as_str()) {
                errors.push(err(at("field"), format!("duplicate field '{}'", column.field)));
            }
            match column.field_type {
                FieldType::Enum if column.values.is_empty() => {
                    errors.push(err(at("values"), "an enum needs its allowed values"))
                }
                FieldType::Enum if column.values.len() > MAX_ENUM_VALUES => errors
                    .push(err(at("values"), format!("has {} values; at most {MAX_ENUM_VALUES}", column.values.len()))),
                FieldType::Enum => {
                    if let Some(j) = column.values.iter().position(|v| v.len() > MAX_TEXT) {
                        errors.push(err(
                            format!("columns[{i}].values[{j}]"),
                            format!("must be at most {MAX_TEXT} bytes"),
                        ));
                    }
                }
                _ if !column.values.is_empty() => errors.push(err(at("values"), "applies only to enum columns")),
                _ => {}
            }
            if column.format.is_some() && !matches!(column.field_type, FieldType::Date | FieldType::Timestamp) {
                errors.push(err(at("format"), "applies only to date and timestamp columns"));
            }
            if let Some(format) = column.format.as_ref().filter(|f| f.len() > 128) {
                errors.push(err(at("format"), format!("is {} bytes; at most 128", format.len())));
            } else if let Some(format) = &column.format {
                if chrono::format::StrftimeItems::new(format).any(|item| matches!(item, chrono::format::Item::Error)) {
                    errors.push(err(at("format"), format!("'{format}' is not a valid chrono format")));
                }
            }
            if column.default.as_ref().is_some_and(|d| d.len() > MAX_TEXT) {
                errors.push(err(at("default"), format!("must be at most {MAX_TEXT} bytes")));
            } else if let Some(default) = &column.default {
                if let Err(reason) = column.value_type().parse(default) {
                    errors
                        .push(err(at("default"), format!("is not a valid {}: {reason}", type_name(column.field_type))));
                }
            }
        }
        if self.extra_columns == ExtraColumns::Keep {
            if let Some(i) = self.columns.iter().position(|c| c.field == EXTRA_FIELD) {
                let message = format!("'{EXTRA_FIELD}' holds the unmapped columns of extra_columns: keep");
                errors.push(err(format!("columns[{i}].field"), message));
            }
        }
        if !self.format.header && self.format.is_delimited() && self.extra_columns != ExtraColumns::Ignore {
            errors.push(err("extra_columns", "needs a header row to name the columns (or ignore)"));
        }
        for (i, key) in self.primary_key.iter().enumerate() {
            match self.columns.iter().find(|c| &c.field == key) {
                None => errors.push(err(format!("primary_key[{i}]"), format!("'{key}' is not a field of columns"))),
                Some(c) if !c.required && c.default.is_none() => errors.push(err(
                    format!("primary_key[{i}]"),
                    format!("'{key}' must be required or have a default, so every record has a key"),
                )),
                Some(_) => {}
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(TemplateErrors(errors))
        }
    }
}

pub(crate) fn type_name(t: FieldType) -> &'static str {
    match t {
        FieldType::String => "string",
        FieldType::Integer => "integer",
        FieldType::Decimal => "decimal",
        FieldType::Boolean => "boolean",
        FieldType::Date => "date",
        FieldType::Timestamp => "timestamp",
        FieldType::Enum => "enum value",
    }
}

/// Columns of one template.
pub const MAX_COLUMNS: usize = 1000;
/// Fields of a primary key.
pub const MAX_KEY_FIELDS: usize = 16;
/// Allowed values of one enum column.
pub const MAX_ENUM_VALUES: usize = 1000;
/// Bytes of a source column name, an enum value or a default.
pub const MAX_TEXT: usize = 1024;

/// Ids, record types and fields: 1 to `max` ASCII letters, digits, '-', '_' or '.'.
pub(crate) fn is_identifier(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"{
        "id": "payments-v1", "record_type": "payment",
        "format": {"type": "csv"},
        "columns": [
            {"source": "id", "field": "payment_id", "type": "string", "required": true},
            {"source": "amount", "field": "amount", "type": "decimal", "required": true},
            {"source": "status", "field": "status", "type": "enum", "values": ["paid", "refunded"], "default": "paid"}
        ],
        "primary_key": ["payment_id"]
    }"#;

    fn problems(json: &str) -> Vec<String> {
        match Template::from_json(json) {
            Ok(_) => vec![],
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn valid_template_parses_with_defaults() {
        let t = Template::from_json(VALID).unwrap();
        assert_eq!(t.format.delimiter_byte(), b',');
        assert!(t.format.header);
        assert_eq!(t.row_policy, RowPolicy::SkipRow);
        assert_eq!(t.max_errors_recorded, 10);
    }

    #[test]
    fn each_invalid_template_names_the_field_at_fault() {
        let long_source = format!(r#""source": "{}""#, "a".repeat(1025));
        let many_values =
            format!(r#""values": [{}]"#, (0..1001).map(|i| format!(r#""v{i}""#)).collect::<Vec<_>>().join(","));
        let long_value = format!(r#""values": ["paid", "{}"]"#, "r".repeat(1025));
        let long_default = format!(r#""default": "{}""#, "p".repeat(1025));
        let long_format = format!(r#""type": "date", "format": "{}""#, "%Y".repeat(65));
        let long_key = format!(r#""primary_key": [{}]"#, vec![r#""payment_id""#; 17].join(","));
        let many_columns = format!(
            r#""columns": [{}"#,
            (0..1000)
                .map(|i| format!(r#"{{"source": "s{i}", "field": "f{i}", "type": "string"}}, "#))
                .collect::<String>()
        );
        let cases: &[(&str, &str, &str)] = &[
            (r#""id": "payments-v1""#, r#""id": "bad id!""#, "id:"),
            (r#""type": "csv""#, r#""type": "xml""#, "format.type: unknown variant `xml`"),
            (r#""type": "csv"}"#, r#""type": "csv", "delimter": ";"}"#, "format.delimter: unknown field `delimter`"),
            (r#""type": "decimal""#, r#""type": "float""#, "columns[1].type: unknown variant `float`"),
            (r#""required": true"#, r#""required": "yes""#, "columns[0].required: invalid type"),
            (r#""type": "csv"}"#, r#""type": "json", "delimiter": ";"}"#, "format.delimiter: applies only to csv"),
            (r#""type": "csv"}"#, r#""type": "csv", "delimiter": "\"" }"#, "format.quote: must differ"),
            (r#""type": "csv"}"#, r#""type": "parquet", "quote": "'"}"#, "format.quote: applies only to csv"),
            (r#""type": "csv"}"#, r#""type": "parquet", "header": false}"#, "format.header: applies only to csv"),
            (
                r#""type": "csv"}"#,
                r#""type": "parquet", "encoding": "utf-16"}"#,
                "format.encoding: applies only to text formats",
            ),
            (r#""values": ["paid", "refunded"], "#, "", "columns[2].values: an enum needs"),
            (r#""default": "paid""#, r#""default": "lost""#, "columns[2].default: is not a valid enum value"),
            (r#""field": "amount""#, r#""field": "payment_id""#, "columns[1].field: duplicate field"),
            (r#""primary_key": ["payment_id"]"#, r#""primary_key": ["nope"]"#, "primary_key[0]: 'nope' is not a field"),
            (
                r#""primary_key": ["payment_id"]"#,
                r#""primary_key": ["status"], "max_errors_recorded": 5000"#,
                "max_errors_recorded: must be at most 1000",
            ),
            (r#""type": "decimal""#, r#""type": "integer", "format": "%d""#, "columns[1].format: applies only to date"),
            // Hostile values: control characters, sizes past the bounds.
            (r#""source": "amount""#, r#""source": "amo\u0000unt""#, "columns[1].source: must be at most 1024 bytes"),
            (r#""source": "amount""#, &long_source, "columns[1].source: must be at most 1024 bytes"),
            (r#""values": ["paid", "refunded"]"#, &many_values, "columns[2].values: has 1001 values; at most 1000"),
            (r#""values": ["paid", "refunded"]"#, &long_value, "columns[2].values[1]: must be at most 1024 bytes"),
            (r#""default": "paid""#, &long_default, "columns[2].default: must be at most 1024 bytes"),
            (r#""primary_key": ["payment_id"]"#, &long_key, "primary_key: has 17 fields; at most 16"),
            (r#""type": "decimal""#, &long_format, "columns[1].format: is 130 bytes; at most 128"),
            (r#""columns": ["#, &many_columns, "columns: has 1003 columns; at most 1000"),
            (r#""id": "payments-v1""#, r#""id": "payments\nv1""#, "id: must be 1-128 characters"),
        ];
        for (from, to, expected) in cases {
            let json = VALID.replacen(from, to, 1);
            assert_ne!(json, VALID, "case {from} -> {to} did not change the document");
            let found = problems(&json);
            assert!(
                found.iter().any(|p| p.contains(expected)),
                "replacing {from} by {to}: expected '{expected}' in {found:?}"
            );
        }
    }

    #[test]
    fn headerless_csv_needs_column_numbers() {
        let json = VALID.replace(r#""type": "csv""#, r#""type": "csv", "header": false"#);
        let found = problems(&json);
        assert!(found.iter().any(|p| p.starts_with("columns[0].source: without a header row")), "{found:?}");
    }

    #[test]
    fn primary_key_must_always_have_a_value() {
        let json = VALID.replace(r#""primary_key": ["payment_id"]"#, r#""primary_key": ["amount"]"#).replace(
            r#""field": "amount", "type": "decimal", "required": true"#,
            r#""field": "amount", "type": "decimal""#,
        );
        assert!(problems(&json).iter().any(|p| p.contains("primary_key[0]: 'amount' must be required")));
    }
}
