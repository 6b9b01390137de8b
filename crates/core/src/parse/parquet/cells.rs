//! One Parquet value (an Arrow array's cell) as the text a template column reads, so that a Parquet
//! file is validated and mapped exactly as a CSV of the same values would be. Which Arrow types can
//! be read at all is decided once, from the schema ([`readable`]), before any row group is fetched.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType};
use arrow_schema::{DataType, TimeUnit};
use std::borrow::Cow;

use crate::template::{Column, FieldType};

/// Whether a column of `data_type` holds one value per row that [`text`] can give: `Err` names
/// what it holds instead (a list, a map, a struct named as a whole).
pub(super) fn readable(data_type: &DataType) -> Result<(), String> {
    match data_type {
        DataType::Null
        | DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..)
        | DataType::Date32
        | DataType::Date64
        | DataType::Time32(_)
        | DataType::Time64(_)
        | DataType::Timestamp(..)
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Ok(()),
        DataType::Dictionary(_, values) => readable(values),
        DataType::Struct(_) => Err("a group of fields (name one of them by its dotted path)".into()),
        DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_) | DataType::FixedSizeList(..) => {
            Err("a list of values".into())
        }
        DataType::Map(..) => Err("a map".into()),
        other => Err(format!("values of type {other}")),
    }
}

/// Whether a field of `data_type` holds dates or timestamps: typed values, given as canonical text.
pub(super) fn is_temporal(data_type: &DataType) -> bool {
    match data_type {
        DataType::Dictionary(_, values) => is_temporal(values),
        other => matches!(other, DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)),
    }
}

/// A column's array in one batch, made ready for reading cell by cell: a dictionary's keys resolved
/// once per batch, and the groups above a nested field, any of which may be null.
pub(super) struct Cells<'a> {
    leaf: &'a dyn Array,
    /// A dictionary column: the index into `leaf` (its values) of each row, `None` for a null key.
    keys: Option<Vec<Option<usize>>>,
    ancestors: Vec<&'a dyn Array>,
}

impl<'a> Cells<'a> {
    /// `path` is the arrays from the batch's column down to the leaf.
    pub(super) fn new(leaf: &'a ArrayRef, ancestors: Vec<&'a ArrayRef>) -> Cells<'a> {
        let leaf = leaf.as_ref();
        let ancestors = ancestors.into_iter().map(|a| a.as_ref()).collect();
        match leaf.as_any_dictionary_opt() {
            Some(dictionary) => {
                let keys = dictionary.keys();
                let normalized = dictionary.normalized_keys();
                let keys = (0..keys.len()).map(|i| keys.is_valid(i).then(|| normalized[i])).collect();
                Cells { leaf: dictionary.values().as_ref(), keys: Some(keys), ancestors }
            }
            None => Cells { leaf, keys: None, ancestors },
        }
    }

    /// The cell of `row` as `column` reads it; `None` when it is null (or a group above it is).
    pub(super) fn text(&self, row: usize, column: Option<&Column>) -> Result<Option<Cow<'a, str>>, String> {
        if self.ancestors.iter().any(|a| a.is_null(row)) {
            return Ok(None);
        }
        let index = match &self.keys {
            Some(keys) => match keys[row] {
                Some(index) => index,
                None => return Ok(None),
            },
            None => row,
        };
        // A column of the null type (pandas' column of None) holds no validity bits: every cell is null.
        if self.leaf.is_null(index) || self.leaf.data_type() == &DataType::Null {
            return Ok(None);
        }
        text(self.leaf, index, column).map(Some)
    }
}

/// The text of a non-null cell. Dates and timestamps are typed values, not text: they are given in
/// the canonical text a date or timestamp column reads without a `format` (`%Y-%m-%d`, RFC 3339 UTC;
/// the file's reader clears the columns' formats, see [`super::ParquetColumns::reading_mapper`]), a
/// timestamp read by a date column as its UTC day, a date read by a timestamp column as its
/// midnight UTC. A timestamp without a time zone is read as UTC, as a CSV's is.
fn text<'a>(array: &'a dyn Array, i: usize, column: Option<&Column>) -> Result<Cow<'a, str>, String> {
    let owned = |s: String| Ok(Cow::Owned(s));
    let read_as = column.map(|c| c.field_type);
    match array.data_type() {
        DataType::Utf8 => Ok(Cow::Borrowed(array.as_string::<i32>().value(i))),
        DataType::LargeUtf8 => Ok(Cow::Borrowed(array.as_string::<i64>().value(i))),
        DataType::Utf8View => Ok(Cow::Borrowed(array.as_string_view().value(i))),
        DataType::Binary => utf8(array.as_binary::<i32>().value(i)),
        DataType::LargeBinary => utf8(array.as_binary::<i64>().value(i)),
        DataType::BinaryView => utf8(array.as_binary_view().value(i)),
        // A UUID (Parquet's UUID type is 16 bytes) as its canonical text; other fixed bytes as text.
        DataType::FixedSizeBinary(16) => owned(uuid_text(array.as_fixed_size_binary().value(i))),
        DataType::FixedSizeBinary(_) => utf8(array.as_fixed_size_binary().value(i)),
        DataType::Boolean => Ok(Cow::Borrowed(if array.as_boolean().value(i) { "true" } else { "false" })),
        DataType::Int8 => owned(integer::<Int8Type>(array, i)),
        DataType::Int16 => owned(integer::<Int16Type>(array, i)),
        DataType::Int32 => owned(integer::<Int32Type>(array, i)),
        DataType::Int64 => owned(integer::<Int64Type>(array, i)),
        DataType::UInt8 => owned(integer::<UInt8Type>(array, i)),
        DataType::UInt16 => owned(integer::<UInt16Type>(array, i)),
        DataType::UInt32 => owned(integer::<UInt32Type>(array, i)),
        DataType::UInt64 => owned(integer::<UInt64Type>(array, i)),
        // Display gives the shortest text that reads back as the same float; NaN and infinities
        // stay words, which a decimal or integer column rejects.
        DataType::Float16 => owned(half_text(array.as_primitive::<Float16Type>().value(i))),
        DataType::Float32 => owned(array.as_primitive::<Float32Type>().value(i).to_string()),
        DataType::Float64 => owned(array.as_primitive::<Float64Type>().value(i).to_string()),
        DataType::Decimal32(..) => owned(array.as_primitive::<Decimal32Type>().value_as_string(i)),
        DataType::Decimal64(..) => owned(array.as_primitive::<Decimal64Type>().value_as_string(i)),
        DataType::Decimal128(..) => owned(array.as_primitive::<Decimal128Type>().value_as_string(i)),
        DataType::Decimal256(..) => owned(array.as_primitive::<Decimal256Type>().value_as_string(i)),
        DataType::Date32 => date(array.as_primitive::<Date32Type>().value_as_date(i), read_as),
        DataType::Date64 => date(array.as_primitive::<Date64Type>().value_as_date(i), read_as),
        DataType::Time32(TimeUnit::Second) => time(array.as_primitive::<Time32SecondType>().value_as_time(i)),
        DataType::Time32(_) => time(array.as_primitive::<Time32MillisecondType>().value_as_time(i)),
        DataType::Time64(TimeUnit::Microsecond) => time(array.as_primitive::<Time64MicrosecondType>().value_as_time(i)),
        DataType::Time64(_) => time(array.as_primitive::<Time64NanosecondType>().value_as_time(i)),
        DataType::Timestamp(unit, _) => {
            let at = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value_as_datetime(i),
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value_as_datetime(i),
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value_as_datetime(i),
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value_as_datetime(i),
            };
            let at = at.ok_or("a timestamp out of range")?.and_utc();
            match read_as {
                Some(FieldType::Date) => owned(at.date_naive().format("%Y-%m-%d").to_string()),
                _ => owned(at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            }
        }
        // readable() refused every other type from the schema.
        other => Err(format!("values of type {other} cannot be read")),
    }
}

fn integer<T: ArrowPrimitiveType>(array: &dyn Array, i: usize) -> String
where
    T::Native: itoa::Integer,
{
    itoa::Buffer::new().format(array.as_primitive::<T>().value(i)).to_owned()
}

/// The shortest text that reads back as the same half-precision float (0.1, not 0.099975586: the
/// f32 it widens to has more digits than the f16 holds).
fn half_text(value: half::f16) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let wide = f32::from(value);
    (0..=8)
        .map(|digits| format!("{wide:.digits$}"))
        .find(|text| text.parse::<f32>().is_ok_and(|back| half::f16::from_f32(back) == value))
        .map(|text| if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text })
        .unwrap_or_else(|| wide.to_string())
}

fn uuid_text(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn utf8(bytes: &[u8]) -> Result<Cow<'_, str>, String> {
    std::str::from_utf8(bytes)
        .map(Cow::Borrowed)
        .map_err(|e| format!("binary value, not UTF-8 text (invalid at byte {})", e.valid_up_to()))
}

fn date<'a>(date: Option<chrono::NaiveDate>, read_as: Option<FieldType>) -> Result<Cow<'a, str>, String> {
    let date = date.ok_or("a date out of range")?;
    Ok(Cow::Owned(match read_as {
        Some(FieldType::Timestamp) => date.and_time(chrono::NaiveTime::MIN).and_utc().to_rfc3339(),
        _ => date.format("%Y-%m-%d").to_string(),
    }))
}

fn time<'a>(time: Option<chrono::NaiveTime>) -> Result<Cow<'a, str>, String> {
    Ok(Cow::Owned(time.ok_or("a time of day out of range")?.format("%H:%M:%S%.f").to_string()))
}
