//! Each sampled column's type: the narrowest that every non-empty sampled value fits, each value
//! checked with the template's own value parser ([`ValueType::parse`]), so that the draft accepts
//! what it was drafted from. In order of preference:
//!
//! 1. `boolean`: true/false, yes/no, t/f, y/n (any case), 1/0 among them; but not 1/0 alone: a
//!    column of 0s and 1s is an `integer`;
//! 2. `date`, in the first of these formats that reads every value with a four-digit year:
//!    `%Y-%m-%d`, `%Y/%m/%d`, `%m/%d/%Y`, `%d/%m/%Y`, `%d.%m.%Y`, `%Y%m%d`. Day and month:
//!    `%d/%m/%Y` only when a value proves it (a first number above 12); when both orders read
//!    every value, month/day is taken and a warning says so. `%Y%m%d` only for values of exactly
//!    8 digits with a year from 1900 to 2100, and with a warning (they are numbers too);
//! 3. `timestamp`: RFC 3339 (no `format`: a template reads RFC 3339 by default), else the first of
//!    [`CANDIDATES`]' formats that reads every value (`%Y-%m-%d %H:%M:%S`, with or without a
//!    fraction of a second, `T` or a space; `%d/%m/%Y %H:%M` and the like, day and month as for
//!    dates), read as UTC;
//! 4. `integer` (i64), then `decimal`; but a number with a leading zero (`007`, a code or a postal
//!    code) keeps the column a `string`, as a number would lose the zeros;
//! 5. `string`, which takes anything; also a column with no value in any sampled row.
//!
//! `required` when every sampled row has a value. No enum is inferred. Field names are the
//! header's names (or JSON paths) in lower snake_case of ASCII letters and digits; names that
//! come out the same are numbered.

use super::rows::Sampled;
use crate::selection::key_file_name;
use crate::template::FieldType;
use crate::value::{Value, ValueType};
use chrono::Datelike;
use std::collections::HashMap;

/// One type a column may have.
struct Candidate {
    field_type: FieldType,
    format: Option<&'static str>,
    /// For a month-first format: the index of the same format day-first.
    day_first: Option<usize>,
}

const fn candidate(field_type: FieldType, format: Option<&'static str>, day_first: Option<usize>) -> Candidate {
    Candidate { field_type, format, day_first }
}

const EIGHT_DIGITS: &str = "%Y%m%d";

/// The types a column may have, in order of preference.
const CANDIDATES: [Candidate; 21] = [
    candidate(FieldType::Boolean, None, None),
    candidate(FieldType::Date, Some("%Y-%m-%d"), None),
    candidate(FieldType::Date, Some("%Y/%m/%d"), None),
    candidate(FieldType::Date, Some("%m/%d/%Y"), Some(4)),
    candidate(FieldType::Date, Some("%d/%m/%Y"), None),
    candidate(FieldType::Date, Some("%d.%m.%Y"), None),
    candidate(FieldType::Date, Some(EIGHT_DIGITS), None),
    candidate(FieldType::Timestamp, None, None),
    candidate(FieldType::Timestamp, Some("%Y-%m-%d %H:%M:%S%.f"), None),
    candidate(FieldType::Timestamp, Some("%Y-%m-%dT%H:%M:%S%.f"), None),
    candidate(FieldType::Timestamp, Some("%Y-%m-%d %H:%M:%S%.f%z"), None),
    candidate(FieldType::Timestamp, Some("%Y-%m-%d %H:%M"), None),
    candidate(FieldType::Timestamp, Some("%Y/%m/%d %H:%M:%S"), None),
    candidate(FieldType::Timestamp, Some("%m/%d/%Y %H:%M:%S"), Some(14)),
    candidate(FieldType::Timestamp, Some("%d/%m/%Y %H:%M:%S"), None),
    candidate(FieldType::Timestamp, Some("%m/%d/%Y %H:%M"), Some(16)),
    candidate(FieldType::Timestamp, Some("%d/%m/%Y %H:%M"), None),
    candidate(FieldType::Timestamp, Some("%d.%m.%Y %H:%M:%S"), None),
    candidate(FieldType::Timestamp, Some("%d.%m.%Y %H:%M"), None),
    candidate(FieldType::Integer, None, None),
    candidate(FieldType::Decimal, None, None),
];

const BOOLEAN: usize = 0;
const ALL: u32 = (1 << CANDIDATES.len()) - 1;

/// Whether the trimmed, non-empty `value` is of candidate `i` (and plausibly so).
fn fits(i: usize, value: &str) -> bool {
    let candidate = &CANDIDATES[i];
    let eight_digits = candidate.format == Some(EIGHT_DIGITS);
    if eight_digits && !(value.len() == 8 && value.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let value_type = ValueType { field_type: candidate.field_type, format: candidate.format, values: &[] };
    match value_type.parse(value) {
        Ok(Value::Date(date)) if eight_digits => (1900..=2100).contains(&date.year()),
        // A year of four digits: `%Y` also reads `26` (the year 26), which is not what `1/5/26` means.
        Ok(Value::Date(date)) => (1000..=9999).contains(&date.year()),
        Ok(Value::Timestamp(time)) => (1000..=9999).contains(&time.year()),
        Ok(_) => true,
        Err(_) => false,
    }
}

/// A number written with a leading zero (`007`, `-01.5`), which a number type would drop.
fn has_leading_zero(value: &str) -> bool {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value).as_bytes();
    digits.len() > 1 && digits[0] == b'0' && digits[1].is_ascii_digit()
}

/// What a column's values fit so far: the candidates every value read has fitted.
#[derive(Debug, Clone)]
pub(super) struct ColumnState {
    fits: u32,
    /// Values read that are not empty (nor only whitespace).
    pub(super) non_empty: u64,
    /// A boolean other than 1/0 was read.
    boolean_word: bool,
    /// A number with a leading zero, the first read.
    leading_zero: Option<String>,
}

impl ColumnState {
    pub(super) fn new() -> Self {
        ColumnState { fits: ALL, non_empty: 0, boolean_word: false, leading_zero: None }
    }

    /// Reads one value of the column (an empty one counts only as missing).
    pub(super) fn add(&mut self, text: &str) {
        let value = text.trim();
        if value.is_empty() {
            return;
        }
        self.non_empty += 1;
        if self.leading_zero.is_none() && has_leading_zero(value) {
            self.leading_zero = Some(value.chars().take(24).collect());
        }
        let mut left = self.fits;
        while left != 0 {
            let i = left.trailing_zeros() as usize;
            left &= left - 1;
            if !fits(i, value) {
                self.fits &= !(1 << i);
            }
        }
        if self.fits & (1 << BOOLEAN) != 0 && value != "0" && value != "1" {
            self.boolean_word = true;
        }
    }

    fn fit(&self, i: usize) -> bool {
        self.fits & (1 << i) != 0
    }

    /// The column's type by the values read so far.
    pub(super) fn choice(&self) -> Choice {
        if self.non_empty == 0 {
            return Choice { candidate: None, ambiguous: false };
        }
        let candidate = (0..CANDIDATES.len()).find(|&i| {
            let numeric = matches!(CANDIDATES[i].field_type, FieldType::Integer | FieldType::Decimal);
            self.fit(i) && (i != BOOLEAN || self.boolean_word) && !(numeric && self.leading_zero.is_some())
        });
        let ambiguous = candidate.and_then(|i| CANDIDATES[i].day_first).is_some_and(|twin| self.fit(twin));
        Choice { candidate, ambiguous }
    }
}

/// A column's type, and whether its dates read as well day-first.
#[derive(Debug, Clone, Copy)]
pub(super) struct Choice {
    /// `None`: a string.
    candidate: Option<usize>,
    ambiguous: bool,
}

impl Choice {
    /// Anything but a string.
    pub(super) fn typed(&self) -> bool {
        self.candidate.is_some()
    }

    /// Whether a value is of this type.
    pub(super) fn accepts(&self, value: &str) -> bool {
        self.candidate.is_none_or(|i| fits(i, value.trim()))
    }

    fn field_type(&self) -> FieldType {
        self.candidate.map_or(FieldType::String, |i| CANDIDATES[i].field_type)
    }

    fn format(&self) -> Option<&'static str> {
        self.candidate.and_then(|i| CANDIDATES[i].format)
    }
}

/// The template's columns (JSON documents) from the sampled ones, each warning said.
pub(super) fn columns(sampled: &Sampled, warnings: &mut Vec<String>) -> Vec<serde_json::Value> {
    // Each field given, and the source it was given to.
    let mut taken: HashMap<String, String> = HashMap::new();
    let mut columns = Vec::new();
    let mut empty = Vec::new();
    for column in &sampled.columns {
        let source = &column.source;
        let base = Some(field_name(&column.name))
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| format!("column_{}", columns.len() + 1));
        let mut field = base.clone();
        for n in 2.. {
            if !taken.contains_key(&field) {
                break;
            }
            field = format!("{base}_{n}");
        }
        if field != base {
            warnings.push(format!(
                "'{}' and '{source}' make the same field name '{base}': '{source}' is field '{field}'",
                taken[&base]
            ));
        }
        taken.insert(field.clone(), source.clone());
        let state = &column.state;
        let choice = state.choice();
        let format = choice.format();
        if state.non_empty == 0 {
            empty.push(format!("'{source}'"));
        } else if choice.ambiguous {
            let twin = choice.candidate.and_then(|i| CANDIDATES[i].day_first).and_then(|i| CANDIDATES[i].format);
            warnings.push(format!(
                "dates in column '{source}' could be day/month or month/day (no day above 12 in the sample): read \
                 as month/day ({}); make the format {} if the day comes first",
                format.unwrap_or_default(),
                twin.unwrap_or_default()
            ));
        } else if format == Some(EIGHT_DIGITS) {
            warnings.push(format!(
                "column '{source}' holds 8-digit numbers that all read as dates: typed date ({EIGHT_DIGITS}); make it \
                 an integer if they are numbers"
            ));
        }
        if let (false, Some(zeros)) = (choice.typed(), &state.leading_zero) {
            let numbers = (0..CANDIDATES.len())
                .any(|i| state.fit(i) && matches!(CANDIDATES[i].field_type, FieldType::Integer | FieldType::Decimal));
            if numbers {
                warnings.push(format!(
                    "column '{source}' holds numbers with leading zeros (such as '{zeros}'): typed string, which \
                     keeps them"
                ));
            }
        }
        let mut document = serde_json::json!({"source": source, "field": field, "type": choice.field_type()});
        if let Some(format) = format {
            document["format"] = format.into();
        }
        if sampled.typed_rows > 0 && state.non_empty == sampled.typed_rows {
            document["required"] = true.into();
        }
        columns.push(document);
    }
    match empty.as_slice() {
        [] => {}
        [one] => warnings.push(format!("column {one} is empty in every sampled row: typed string")),
        many => {
            warnings.push(format!("columns {} are empty in every sampled row: typed string", super::rows::listed(many)))
        }
    }
    columns
}

/// Longest field name made from a header name.
const MAX_FIELD: usize = 64;

/// `Order ID` -> `order_id`, `paidAt` -> `paid_at`, `Amount (EUR)` -> `amount_eur`: ASCII letters
/// and digits in lower case, words joined by `_` (a word ends at anything else, and where a lower
/// case letter or digit meets an upper case one). Empty when the name has no ASCII letter or digit.
pub(super) fn field_name(name: &str) -> String {
    let mut field = String::new();
    let (mut separate, mut after_lower) = (false, false);
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            (separate, after_lower) = (true, false);
            continue;
        }
        if (separate || (after_lower && c.is_ascii_uppercase())) && !field.is_empty() {
            field.push('_');
        }
        field.push(c.to_ascii_lowercase());
        (separate, after_lower) = (false, c.is_ascii_lowercase() || c.is_ascii_digit());
    }
    field.truncate(MAX_FIELD);
    field.trim_end_matches('_').to_owned()
}

/// A template id from a file's name: its words in lower snake_case, without the dates and numbers
/// a producer adds at either end (`exports/orders-2026-11.csv.gz` -> `orders`); `draft` when
/// nothing is left.
pub(super) fn name_from_file(name: &str) -> String {
    let file = key_file_name(name);
    let stem = match file.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => file,
    };
    let words: Vec<&str> = stem.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let numbered = |w: &&str| w.starts_with(|c: char| c.is_ascii_digit());
    let start = words.iter().position(|w| !numbered(w)).unwrap_or(words.len());
    let end = words.iter().rposition(|w| !numbered(w)).map_or(start, |i| i + 1);
    let id = field_name(&words[start..end.max(start)].join("_"));
    if id.is_empty() {
        "draft".to_owned()
    } else {
        id
    }
}
