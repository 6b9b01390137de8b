//! Values: what a text field of a file becomes once read as its column's type ([`Value`]), the
//! parsing that types it ([`ValueType::parse`]), and the text and JSON a value is shown as.
//!
//! One module, so that the template (which checks its defaults by parsing them) and the mapping
//! (which parses every row) both depend on it, and not on each other.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Type of a record field. Values are validated and normalised to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    /// A signed 64-bit integer.
    Integer,
    /// An exact decimal, kept as its digits (never through a float), up to 38 significant digits.
    Decimal,
    /// true/false, yes/no, 1/0, t/f, y/n (case-insensitive).
    Boolean,
    /// A calendar date; `format` (chrono syntax) defaults to `%Y-%m-%d`.
    Date,
    /// A point in time, stored as RFC 3339 UTC; RFC 3339 input by default, or `format` (chrono syntax),
    /// read as UTC when it has no offset.
    Timestamp,
    /// One of `values`.
    Enum,
}

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

    /// The value as JSON shown to people (a preview's sample rows), by one rule:
    /// - an integer is a JSON number;
    /// - a decimal is a JSON string of its exact digits as read (`4.00` stays `"4.00"`, `1.50`
    ///   stays `"1.50"`), never a number, which a JSON reader would round through a float;
    /// - a boolean is a JSON boolean;
    /// - a string, a date and a timestamp are their canonical text (`2026-02-28`,
    ///   `2026-01-02T02:04:05Z`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Decimal(digits) => serde_json::Value::String(digits.clone()),
            Value::Str(_) | Value::Date(_) | Value::Timestamp(_) => {
                serde_json::Value::String(self.canonical().into_owned())
            }
        }
    }
}

/// What a text is read as: a column's type, with the options of that type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueType<'a> {
    pub field_type: FieldType,
    /// Dates and timestamps: the chrono format to read them with (None: the type's default).
    pub format: Option<&'a str>,
    /// Enums: the allowed values.
    pub values: &'a [String],
}

impl ValueType<'_> {
    /// Parses one non-empty text as this type. Shared by template validation (defaults) and row
    /// mapping, so a default is accepted exactly when a row value would be.
    pub fn parse(&self, text: &str) -> Result<Value, String> {
        let trimmed = text.trim();
        match self.field_type {
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
                let format = self.format.unwrap_or("%Y-%m-%d");
                NaiveDate::parse_from_str(trimmed, format)
                    .map(Value::Date)
                    .map_err(|e| format!("'{}' is not a date in format {format}: {e}", shorten(text)))
            }
            FieldType::Timestamp => parse_timestamp(trimmed, self.format)
                .map(Value::Timestamp)
                .map_err(|e| format!("'{}' is not a timestamp: {e}", shorten(text))),
            FieldType::Enum => self
                .values
                .iter()
                .find(|v| v.as_str() == trimmed)
                .map(|v| Value::Str(v.clone()))
                .ok_or_else(|| format!("'{}' is not one of {}", shorten(text), self.values.join(", "))),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The type `field_type` with `format`; an enum's values are `usd` and `eur`.
    fn kind(field_type: FieldType, format: Option<&'static str>) -> ValueType<'static> {
        static VALUES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        let values = VALUES.get_or_init(|| vec!["usd".into(), "eur".into()]);
        ValueType { field_type, format, values }
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
            assert_eq!(kind(*t, None).parse(text).as_ref(), Ok(expected), "{t:?} {text:?}");
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
            let got = kind(*t, None).parse(text);
            assert!(matches!(&got, Err(e) if e.contains(expected)), "{t:?} {text:?}: {got:?}");
        }
    }

    #[test]
    fn custom_formats_for_dates_and_timestamps() {
        assert_eq!(
            kind(FieldType::Date, Some("%d/%m/%Y")).parse("31/12/2025"),
            Ok(Value::Date(NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()))
        );
        assert_eq!(
            kind(FieldType::Timestamp, Some("%Y-%m-%d %H:%M:%S")).parse("2026-01-02 03:04:05"),
            Ok(Value::Timestamp("2026-01-02T03:04:05Z".parse().unwrap()))
        );
    }

    #[test]
    fn equal_decimals_have_one_canonical_text() {
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
    }

    #[test]
    fn values_are_shown_as_json_by_one_rule() {
        let date = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
        let timestamp = "2026-01-02T02:04:05Z".parse().unwrap();
        let cases: &[(Value, serde_json::Value)] = &[
            (Value::Int(42), serde_json::json!(42)),
            (Value::Int(i64::MIN), serde_json::json!(i64::MIN)),
            (Value::Decimal("4.00".into()), serde_json::json!("4.00")),
            (Value::Decimal("1.50".into()), serde_json::json!("1.50")),
            (Value::Decimal("-1.5e10".into()), serde_json::json!("-1.5e10")),
            (
                Value::Decimal("12345678901234567890.123456789012345678".into()),
                serde_json::json!("12345678901234567890.123456789012345678"),
            ),
            (Value::Bool(true), serde_json::json!(true)),
            (Value::Bool(false), serde_json::json!(false)),
            (Value::Str(" a, b ".into()), serde_json::json!(" a, b ")),
            (Value::Date(date), serde_json::json!("2026-02-28")),
            (Value::Timestamp(timestamp), serde_json::json!("2026-01-02T02:04:05Z")),
        ];
        for (value, expected) in cases {
            assert_eq!(&value.to_json(), expected, "{value:?}");
        }
        // A decimal is shown as the text it was read from, not as what a float makes of it.
        let read = kind(FieldType::Decimal, None).parse(" 4.00 ").unwrap();
        assert_eq!(read.to_json().to_string(), r#""4.00""#);
    }
}
