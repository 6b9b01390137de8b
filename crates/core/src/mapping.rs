//! Validating and mapping one row against a template: source values -> typed record values, required
//! fields, defaults, and the record's deterministic id.

use crate::model::RowError;
use crate::template::{Column, Template};
use std::borrow::Cow;

/// Record values are [`crate::value`]'s; named here too for the callers that reach them through
/// the mapping.
pub use crate::value::Value;

/// One mapped row: its id, where it came from, and one value per template column (None = absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Deterministic: the primary key's values, or `object key # ETag # row` without one, so a
    /// repeated import overwrites rather than duplicates.
    pub id: String,
    pub row: u64,
    pub line: u64,
    pub values: Vec<Option<Value>>,
    /// The row's columns that no template column reads, as text (name, value), when the template
    /// keeps them (`extra_columns: keep`); empty otherwise.
    pub extra: Vec<(String, String)>,
}

/// A template made ready for mapping rows: column lookups resolved, primary key positions known.
#[derive(Debug, Clone)]
pub struct Mapper {
    pub template: Template,
    primary_key: Vec<usize>,
}

/// Why a row was rejected, before the parser adds its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub column: Option<String>,
    pub reason: String,
}

impl FieldError {
    pub fn at(self, row: u64, line: u64) -> RowError {
        RowError { row, line, column: self.column, reason: self.reason }
    }
}

impl Mapper {
    pub fn new(template: Template) -> Self {
        let primary_key = template
            .primary_key
            .iter()
            .filter_map(|field| template.columns.iter().position(|c| &c.field == field))
            .collect();
        Mapper { template, primary_key }
    }

    pub fn columns(&self) -> &[Column] {
        &self.template.columns
    }

    /// Maps one row. `raw(i)` gives the text of column `i` of the template (None when absent), or an
    /// error when the source value cannot be read as text (invalid UTF-8, a nested object).
    /// `fallback_id` is the record id used when the template has no primary key.
    pub fn map_row<'r>(
        &self,
        row: u64,
        line: u64,
        mut raw: impl FnMut(usize) -> Result<Option<Cow<'r, str>>, String>,
        fallback_id: impl FnOnce() -> String,
    ) -> Result<Record, FieldError> {
        let columns = &self.template.columns;
        let mut values = Vec::with_capacity(columns.len());
        for (i, column) in columns.iter().enumerate() {
            let fail = |reason: String| FieldError { column: Some(column.source.clone()), reason };
            let text = raw(i).map_err(fail)?;
            let text = match text {
                Some(t) if !t.trim().is_empty() => Some(t),
                _ => column.default.as_deref().map(Cow::Borrowed),
            };
            let value = match text {
                Some(t) => Some(column.value_type().parse(&t).map_err(fail)?),
                None if column.required => return Err(fail("required value is missing".into())),
                None => None,
            };
            values.push(value);
        }
        let id = if self.primary_key.is_empty() {
            fallback_id()
        } else {
            // The record type first: after a change of template to another type, equal key values
            // are another record, not an overwrite of this type's. (Record types hold no '#'.)
            let mut id = self.template.record_type.clone();
            id.push('#');
            for (n, &i) in self.primary_key.iter().enumerate() {
                if n > 0 {
                    id.push('|');
                }
                // Validation guarantees key columns always have a value.
                if let Some(v) = &values[i] {
                    id.push_str(&v.key_text().replace('\\', "\\\\").replace('|', "\\|"));
                }
            }
            // Key values too long for DynamoDB's sort key are kept by a digest.
            match crate::keys::bounded(&id, MAX_RECORD_ID_BYTES) {
                std::borrow::Cow::Borrowed(_) => id,
                std::borrow::Cow::Owned(bounded) => bounded,
            }
        };
        let size: usize =
            columns.iter().zip(&values).map(|(c, v)| v.as_ref().map_or(0, |v| c.field.len() + v.size())).sum();
        if size > MAX_RECORD_BYTES {
            let reason = format!(
                "the record's fields are {size} bytes; at most {MAX_RECORD_BYTES} fit in a DynamoDB item (400 KB with the record's source attributes)"
            );
            return Err(FieldError { column: None, reason });
        }
        Ok(Record { id, row, line, values, extra: Vec::new() })
    }

    /// `record` with the row's unmapped columns kept (`extra_columns: keep`), if they still fit in
    /// a DynamoDB item beside its fields.
    pub fn with_extra(&self, mut record: Record, extra: Vec<(String, String)>) -> Result<Record, FieldError> {
        if extra.is_empty() {
            return Ok(record);
        }
        let fields: usize = self
            .template
            .columns
            .iter()
            .zip(&record.values)
            .map(|(c, v)| v.as_ref().map_or(0, |v| c.field.len() + v.size()))
            .sum();
        let size = fields + extra.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        if size > MAX_RECORD_BYTES {
            let reason = format!(
                "the record's fields and unmapped columns are {size} bytes; at most {MAX_RECORD_BYTES} fit in a DynamoDB item"
            );
            return Err(FieldError { column: None, reason });
        }
        record.extra = extra;
        Ok(record)
    }
}

/// DynamoDB's limit on a sort key, which the record id is.
pub const MAX_RECORD_ID_BYTES: usize = 1024;

/// What a record's fields may take of a DynamoDB item's 400 KB; the rest is for its keys and source
/// attributes (object key and ETag, row, import time).
pub const MAX_RECORD_BYTES: usize = 380_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Template;

    fn mapper() -> Mapper {
        Mapper::new(
            Template::from_json(
                r#"{"id": "t", "record_type": "r", "format": {"type": "csv"},
                "columns": [
                    {"source": "id", "field": "id", "type": "string", "required": true},
                    {"source": "n", "field": "n", "type": "integer", "default": "7"},
                    {"source": "note", "field": "note", "type": "string"}
                ], "primary_key": ["id"]}"#,
            )
            .unwrap(),
        )
    }

    #[test]
    fn mapping_applies_defaults_required_and_primary_key() {
        let m = mapper();
        let row = ["a|b", "", "hi"];
        let r = m.map_row(1, 2, |i| Ok(Some(Cow::Borrowed(row[i]))), || unreachable!()).unwrap();
        assert_eq!(r.id, "r#a\\|b");
        assert_eq!(r.values, vec![Some(Value::Str("a|b".into())), Some(Value::Int(7)), Some(Value::Str("hi".into()))]);

        let missing = m.map_row(3, 4, |i| Ok(if i == 0 { None } else { Some(Cow::Borrowed("1")) }), String::new);
        assert_eq!(missing, Err(FieldError { column: Some("id".into()), reason: "required value is missing".into() }));

        let bad = m.map_row(3, 4, |i| Ok(Some(Cow::Borrowed(["x", "y", ""][i]))), String::new).unwrap_err();
        assert_eq!(bad.column.as_deref(), Some("n"));
        assert!(bad.reason.contains("'y' is not an integer"), "{bad:?}");
    }

    #[test]
    fn equal_decimals_are_one_key_and_types_are_apart() {
        let keyed = |record_type: &str, amount: &str| {
            let template = Template::from_json(&format!(
                r#"{{"id": "t", "record_type": "{record_type}", "format": {{"type": "csv"}}, "primary_key": ["amount"],
                "columns": [{{"source": "a", "field": "amount", "type": "decimal", "required": true}}]}}"#
            ))
            .unwrap();
            let row = [amount];
            Mapper::new(template).map_row(1, 2, |i| Ok(Some(Cow::Borrowed(row[i]))), || unreachable!()).unwrap().id
        };
        assert_eq!(keyed("payment", "100"), keyed("payment", "100.00"));
        assert_eq!(keyed("payment", "100"), "payment#100");
        assert_ne!(keyed("payment", "100"), keyed("refund", "100"));
    }

    #[test]
    fn rows_that_do_not_fit_a_dynamodb_item_are_rejected() {
        let m = mapper();
        // A key longer than DynamoDB's sort key is kept by its digest, not rejected.
        let long_id = "k".repeat(MAX_RECORD_ID_BYTES + 1);
        let row = [long_id.as_str(), "1", ""];
        let r = m.map_row(1, 2, |i| Ok(Some(Cow::Borrowed(row[i]))), || unreachable!()).unwrap();
        assert!(r.id.len() <= MAX_RECORD_ID_BYTES && r.id.starts_with("r#kkk"), "{}", r.id);
        let huge = "x".repeat(MAX_RECORD_BYTES);
        let row = ["a", "1", huge.as_str()];
        let e = m.map_row(1, 2, |i| Ok(Some(Cow::Borrowed(row[i]))), || unreachable!()).unwrap_err();
        assert!(e.reason.contains("fit in a DynamoDB item"), "{e:?}");
        // Just under the limit is a record.
        let fits = "x".repeat(MAX_RECORD_BYTES - 200);
        let row = ["a", "1", fits.as_str()];
        assert!(m.map_row(1, 2, |i| Ok(Some(Cow::Borrowed(row[i]))), || unreachable!()).is_ok());
    }
}
