//! Validating and mapping one row against a template: source values -> typed record values, required
//! fields, defaults, and the record's deterministic id.

use crate::model::RowError;
use crate::template::{Column, FieldType, Template};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use std::borrow::Cow;

/// A typed, validated record value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(i64),
    /// Exact decimal digits, normalised (no leading '+').
    Decimal(String),
    Bool(bool),
    Date(NaiveDate),
    Timestamp(DateTime<Utc>),
}

impl Value {
    /// The canonical text of the value, as stored and as used in record ids.
    pub fn canonical(&self) -> Cow<'_, str> {
        match self {
            Value::Str(s) | Value::Decimal(s) => Cow::Borrowed(s),
            Value::Int(i) => Cow::Owned(i.to_string()),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Date(d) => Cow::Owned(d.format("%Y-%m-%d").to_string()),
            Value::Timestamp(t) => Cow::Owned(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
    }
}

impl Value {
    /// The value as it identifies a record: equal values give equal text (`100`, `100.00` and
    /// `1E2` are one decimal).
    pub fn key_text(&self) -> Cow<'_, str> {
        match self {
            Value::Decimal(d) => Cow::Owned(canonical_decimal(d)),
            other => other.canonical(),
        }
    }

    /// At least the bytes DynamoDB counts for the value (numbers are stored in fewer bytes than
    /// their text, so their text length is an upper bound).
    pub fn size(&self) -> usize {
        match self {
            Value::Str(s) | Value::Decimal(s) => s.len(),
            Value::Int(_) => 21,
            Value::Bool(_) => 1,
            Value::Date(_) => 10,
            Value::Timestamp(_) => 35,
        }
    }
}

/// One mapped row: its id, where it came from, and one value per template column (None = absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Deterministic: the primary key's values, or `object key # ETag # row` without one, so a
    /// repeated import overwrites rather than duplicates.
    pub id: String,
    pub row: u64,
    pub line: u64,
    pub values: Vec<Option<Value>>,
}

/// Parses one non-empty textual value as the column's type. Shared by template validation (defaults)
/// and row mapping, so a default is accepted exactly when a row value would be.
pub fn parse_value(column: &Column, text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    match column.field_type {
        FieldType::String => Ok(Value::Str(text.to_owned())),
        FieldType::Integer => trimmed
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| format!("'{}' is not an integer in the 64-bit range", shorten(text))),
        FieldType::Decimal => normalise_decimal(trimmed).map(Value::Decimal).ok_or_else(|| {
            format!("'{}' is not a decimal number of at most 38 digits between 1E-130 and 1E+126", shorten(text))
        }),
        FieldType::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => Ok(Value::Bool(true)),
            "false" | "f" | "no" | "n" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("'{}' is not a boolean (true/false, yes/no, 1/0)", shorten(text))),
        },
        FieldType::Date => {
            let format = column.format.as_deref().unwrap_or("%Y-%m-%d");
            NaiveDate::parse_from_str(trimmed, format)
                .map(Value::Date)
                .map_err(|e| format!("'{}' is not a date in format {format}: {e}", shorten(text)))
        }
        FieldType::Timestamp => parse_timestamp(trimmed, column.format.as_deref())
            .map(Value::Timestamp)
            .map_err(|e| format!("'{}' is not a timestamp: {e}", shorten(text))),
        FieldType::Enum => column
            .values
            .iter()
            .find(|v| v.as_str() == trimmed)
            .map(|v| Value::Str(v.clone()))
            .ok_or_else(|| format!("'{}' is not one of {}", shorten(text), column.values.join(", "))),
    }
}

fn parse_timestamp(text: &str, format: Option<&str>) -> Result<DateTime<Utc>, chrono::ParseError> {
    match format {
        None => DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)),
        Some(format) => DateTime::parse_from_str(text, format)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| NaiveDateTime::parse_from_str(text, format).map(|t| t.and_utc())),
    }
}

/// `[+-]digits[.digits][e[+-]digits]`, at most 38 significant digits (DynamoDB's number precision).
/// Hand-written rather than through a decimal crate: those cap at 28 digits or go through floats,
/// and all we need is to check the grammar and keep the digits exactly.
fn normalise_decimal(text: &str) -> Option<String> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    if let Some(exp) = exponent {
        let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if digits.is_empty() || digits.len() > 3 || !all_digits(digits) {
            return None;
        }
    }
    let significant = format!("{int}{frac}");
    let digits = significant.trim_start_matches('0');
    if digits.trim_end_matches('0').len() > 38 {
        return None;
    }
    // DynamoDB stores magnitudes from 1E-130 to below 1E+126: the exponent of the leading digit
    // (scientific notation) must lie in -130..=125. Zero has none.
    if !digits.is_empty() {
        let exp: i64 = exponent.map_or(Some(0), |e| e.parse().ok())?;
        let leading = int.len() as i64 - (significant.len() - digits.len()) as i64 - 1;
        if !(-130..=125).contains(&(leading + exp)) {
            return None;
        }
    }
    Some(text.strip_prefix('+').unwrap_or(text).to_owned())
}

/// One text per decimal value: no sign on zero, no leading or trailing zeros, no exponent unless
/// the value is very large or very small (`d.ddd` `E` exponent then). Takes what
/// [`normalise_decimal`] accepted.
pub fn canonical_decimal(text: &str) -> String {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], unsigned[i + 1..].parse::<i64>().unwrap_or(0)),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int}{frac}");
    let significant = all.trim_start_matches('0');
    let digits = significant.trim_end_matches('0');
    if digits.is_empty() {
        return "0".to_owned();
    }
    // The value is `digits` x 10^scale.
    let scale = exponent - frac.len() as i64 + (significant.len() - digits.len()) as i64;
    let point = digits.len() as i64 + scale; // digits before the decimal point
    let plain = if (0..=40).contains(&scale) {
        format!("{digits}{}", "0".repeat(scale as usize))
    } else if scale < 0 && point > 0 {
        format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
    } else if scale < 0 && point > -40 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else {
        let rest = if digits.len() > 1 { format!(".{}", &digits[1..]) } else { String::new() };
        format!("{}{rest}E{}", &digits[..1], point - 1)
    };
    if negative {
        format!("-{plain}")
    } else {
        plain
    }
}

fn shorten(text: &str) -> Cow<'_, str> {
    if text.len() <= 64 {
        Cow::Borrowed(text)
    } else {
        let end = (0..=61).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        Cow::Owned(format!("{}...", &text[..end]))
    }
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
                Some(t) => Some(parse_value(column, &t).map_err(fail)?),
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
        Ok(Record { id, row, line, values })
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

    fn column(field_type: FieldType) -> Column {
        Column {
            source: "c".into(),
            field: "f".into(),
            field_type,
            required: false,
            default: None,
            values: vec!["usd".into(), "eur".into()],
            format: None,
        }
    }

    #[test]
    fn values_parse_as_their_type_or_say_why_not() {
        use FieldType::*;
        let ok: &[(FieldType, &str, Value)] = &[
            (String, " a, b ", Value::Str(" a, b ".into())),
            (Integer, " -42 ", Value::Int(-42)),
            (Integer, "9223372036854775807", Value::Int(i64::MAX)),
            (Decimal, "0.1", Value::Decimal("0.1".into())),
            (
                Decimal,
                "+12345678901234567890.123456789012345678",
                Value::Decimal("12345678901234567890.123456789012345678".into()),
            ),
            (Decimal, "-1.5e10", Value::Decimal("-1.5e10".into())),
            (Decimal, "9.99e125", Value::Decimal("9.99e125".into())),
            (Decimal, "0.01e-128", Value::Decimal("0.01e-128".into())),
            (Decimal, "0e999", Value::Decimal("0e999".into())),
            (Decimal, "000.000", Value::Decimal("000.000".into())),
            (Boolean, "Yes", Value::Bool(true)),
            (Boolean, "0", Value::Bool(false)),
            (Date, "2026-02-28", Value::Date(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap())),
            (Timestamp, "2026-01-02T03:04:05+01:00", Value::Timestamp("2026-01-02T02:04:05Z".parse().unwrap())),
            (Enum, "eur", Value::Str("eur".into())),
        ];
        for (t, text, expected) in ok {
            assert_eq!(parse_value(&column(*t), text).as_ref(), Ok(expected), "{t:?} {text:?}");
        }
        let bad: &[(FieldType, &str, &str)] = &[
            (Integer, "1.5", "not an integer"),
            (Integer, "9223372036854775808", "64-bit range"),
            (Decimal, "1,000", "not a decimal"),
            (Decimal, "1.2.3", "not a decimal"),
            (Decimal, "123456789012345678901234567890123456789", "at most 38 digits"),
            (Decimal, "NaN", "not a decimal"),
            (Decimal, "1e500", "between 1E-130 and 1E+126"),
            (Decimal, "1e126", "between 1E-130 and 1E+126"),
            (Decimal, "0.001e-128", "between 1E-130 and 1E+126"),
            (Boolean, "maybe", "not a boolean"),
            (Date, "2026-02-30", "not a date"),
            (Timestamp, "2026-01-02 03:04", "not a timestamp"),
            (Enum, "gbp", "not one of usd, eur"),
        ];
        for (t, text, expected) in bad {
            let got = parse_value(&column(*t), text);
            assert!(matches!(&got, Err(e) if e.contains(expected)), "{t:?} {text:?}: {got:?}");
        }
    }

    #[test]
    fn custom_formats_for_dates_and_timestamps() {
        let mut c = column(FieldType::Date);
        c.format = Some("%d/%m/%Y".into());
        assert_eq!(parse_value(&c, "31/12/2025"), Ok(Value::Date(NaiveDate::from_ymd_opt(2025, 12, 31).unwrap())));
        let mut c = column(FieldType::Timestamp);
        c.format = Some("%Y-%m-%d %H:%M:%S".into());
        assert_eq!(
            parse_value(&c, "2026-01-02 03:04:05"),
            Ok(Value::Timestamp("2026-01-02T03:04:05Z".parse().unwrap()))
        );
    }

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
        let cases = [
            ("100", "100"),
            ("100.00", "100"),
            ("1E2", "100"),
            ("+0100.0e0", "100"),
            ("1.50", "1.5"),
            ("-0.0", "0"),
            ("0e999", "0"),
            ("0.001", "0.001"),
            ("-12.5e-3", "-0.0125"),
            ("1.5e100", "1.5E100"),
            ("1e-100", "1E-100"),
            ("123.456e2", "12345.6"),
        ];
        for (text, canonical) in cases {
            assert_eq!(canonical_decimal(text), canonical, "{text}");
        }
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
