//! Parquet: a file's columns matched to the template's once, from the footer's schema
//! ([`columns`]); then each row group's record batches -> rows -> [`Record`]s ([`parse_row_group`])
//! through the same mapper, row errors, drift and rejects as text formats. The footer and the row
//! groups' bytes are fetched by [`crate::pipeline`] (ranged GETs); nothing here does I/O.
//!
//! A template column names a field by its name, or a nested field by its dotted path
//! (`customer.address.city`). A field inside a list, a list, a map or a group named as a whole
//! cannot be one value per row: naming one fails the file at its schema, saying which. Rows are
//! numbered from 1 across the file; a row error's `line` is its row number.

mod cells;
#[cfg(test)]
pub(crate) mod tests;
pub mod thrift;

use super::{fallback_id, FileError, ParseSummary, RawRow, RowSink, Tally};
use crate::mapping::{FieldError, Mapper};
use crate::model::{ParsePosition, SchemaDrift};
use crate::template::ExtraColumns;
use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Schema};
use cells::Cells;
use parquet::arrow::ProjectionMask;
use parquet::schema::types::SchemaDescriptor;
use std::collections::{HashMap, HashSet};

/// The file's fields that a template reads: which leaves to fetch, and where each template column
/// finds its value in a record batch.
#[derive(Debug, Clone)]
pub struct ParquetColumns {
    /// The leaves to fetch: the template's fields, and the others when it keeps them.
    pub projection: ProjectionMask,
    /// Per template column: the field names from the batch's column down to its value; `None`
    /// when the file lacks it.
    paths: Vec<Option<Vec<String>>>,
    /// Per template column: whether the file's field is a date or timestamp (a typed value).
    typed: Vec<bool>,
    /// The unmapped fields kept (`extra_columns: keep`): dotted name and path.
    extra: Vec<(String, Vec<String>)>,
}

/// A leaf of the file's schema: its path (and dotted name), whether a list holds it, its Arrow type.
struct Leaf {
    index: usize,
    parts: Vec<String>,
    name: String,
    in_list: bool,
    data_type: Option<DataType>,
}

/// Matches the template's columns to the file's schema: what to fetch and the file's drift, or why
/// the file cannot be read with the template (at its "header": the schema). Linear in the schema's
/// leaves (a file may have hundreds of thousands): every lookup is by a map.
pub fn columns(
    schema: &SchemaDescriptor,
    arrow: &Schema,
    mapper: &Mapper,
) -> Result<(ParquetColumns, SchemaDrift), FileError> {
    let top: HashMap<&str, &DataType> =
        arrow.fields().iter().map(|f| (f.name().as_str(), f.data_type())).rev().collect();
    let leaves: Vec<Leaf> = schema
        .columns()
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let parts = c.path().parts().to_vec();
            let in_list = c.max_rep_level() > 0;
            let data_type = if in_list { None } else { arrow_type(&top, &parts) };
            Leaf { index, name: parts.join("."), parts, in_list, data_type }
        })
        .collect();
    // The first leaf of a name, as a header's first column of a name.
    let by_name: HashMap<&str, &Leaf> = leaves.iter().rev().map(|l| (l.name.as_str(), l)).collect();
    let columns = mapper.columns();
    let mut paths = Vec::with_capacity(columns.len());
    let mut typed = Vec::with_capacity(columns.len());
    let mut fetched = Vec::new();
    let mut missing_required = Vec::new();
    for column in columns {
        let leaf = by_name.get(column.source.as_str()).copied();
        let unreadable = match leaf {
            Some(leaf) if leaf.in_list => Some("a field inside a list".to_owned()),
            Some(leaf) => leaf.data_type.as_ref().and_then(|t| cells::readable(t).err()),
            // A group, list or map is no leaf: named by its own name, it says what it is.
            None => top.get(column.source.as_str()).and_then(|t| cells::readable(t).err()),
        };
        if let Some(what) = unreadable {
            return Err(FileError::Header(format!(
                "the file's column '{}' is {what}: a template column reads one value per row (a nested field by its dotted path)",
                column.source
            )));
        }
        typed.push(leaf.and_then(|l| l.data_type.as_ref()).is_some_and(cells::is_temporal));
        match leaf {
            Some(leaf) => {
                fetched.push(leaf.index);
                paths.push(Some(leaf.parts.clone()));
            }
            None => {
                if column.required && column.default.is_none() {
                    missing_required.push(column.source.as_str());
                }
                paths.push(None);
            }
        }
    }
    if !missing_required.is_empty() {
        return Err(FileError::Header(format!("the file lacks required column(s): {}", missing_required.join(", "))));
    }
    if fetched.is_empty() {
        // Its rows would be records of nothing, as many as its metadata claims.
        return Err(FileError::Header(format!(
            "the file has none of the template's columns ({})",
            columns.iter().map(|c| c.source.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    let on_the_way: HashSet<&str> =
        columns.iter().flat_map(|c| c.source.match_indices('.').map(|(at, _)| &c.source[..at])).collect();
    let mut drift = SchemaDrift::default();
    let mut extra = Vec::new();
    let mapped: HashSet<usize> = fetched.iter().copied().collect();
    for leaf in leaves.iter().filter(|l| !mapped.contains(&l.index)) {
        drift.add_unmapped(&unmapped_name(&leaf.parts, &on_the_way));
        let keepable = !leaf.in_list && leaf.data_type.as_ref().is_some_and(|t| cells::readable(t).is_ok());
        if mapper.template.extra_columns == ExtraColumns::Keep && keepable {
            extra.push((leaf.name.clone(), leaf.parts.clone()));
            fetched.push(leaf.index);
        }
    }
    drift.missing_columns =
        columns.iter().zip(&paths).filter(|(_, p)| p.is_none()).map(|(c, _)| c.source.clone()).collect();
    if mapper.template.extra_columns == ExtraColumns::Fail && !drift.unmapped_columns.is_empty() {
        return Err(FileError::Header(format!(
            "the file has columns the template does not map: {} (the template's extra_columns is fail)",
            drift.unmapped_columns.join(", ")
        )));
    }
    let projection = ProjectionMask::leaves(schema, fetched);
    Ok((ParquetColumns { projection, paths, typed, extra }, drift))
}

impl ParquetColumns {
    /// The mapper that reads this file: the template's, with the `format` of the columns that read
    /// a date or timestamp field cleared, since such a value is given as canonical text (a format
    /// describes text in a file; applied to a typed value it would lose or change it: `%y`).
    pub fn reading_mapper(&self, mapper: &Mapper) -> Option<Mapper> {
        if !self.typed.iter().any(|&t| t) {
            return None;
        }
        let mut template = mapper.template.clone();
        for (column, _) in template.columns.iter_mut().zip(&self.typed).filter(|(_, &t)| t) {
            column.format = None;
        }
        Some(Mapper::new(template))
    }
}

/// The Arrow type of the field at `parts`, through the groups above it.
fn arrow_type(top: &HashMap<&str, &DataType>, parts: &[String]) -> Option<DataType> {
    let (first, rest) = parts.split_first()?;
    let mut data_type = *top.get(first.as_str())?;
    for part in rest {
        data_type = match data_type {
            DataType::Struct(fields) => fields.iter().find(|f| f.name() == part)?.data_type(),
            _ => return None,
        };
    }
    Some(data_type.clone())
}

/// How drift names an unmapped leaf: by its path as far as a template column goes the same way,
/// then one step further (`address` when nothing reads into it, `address.street` beside a column
/// `address.city`), as JSON members are named. `on_the_way`: the groups the template's dotted
/// sources go through.
fn unmapped_name(parts: &[String], on_the_way: &HashSet<&str>) -> String {
    let mut name = String::new();
    for part in parts {
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(part);
        if !on_the_way.contains(name.as_str()) {
            break;
        }
    }
    name
}

/// Where one row group's read starts: its index in the file, and how many of its rows an earlier
/// invocation read (a hand-over in its middle: they are decoded again and passed over).
#[derive(Debug, Clone, Copy)]
pub struct RowGroupStart {
    pub index: usize,
    pub skip: u64,
}

/// What a row group's read needs besides its batches.
pub struct RowGroupRead<'a> {
    pub columns: &'a ParquetColumns,
    pub mapper: &'a Mapper,
    pub id_prefix: &'a str,
    pub start: RowGroupStart,
    pub stop_at_first_row_error: bool,
}

/// Maps one row group's record batches to records for `emit`, going on from `summary` (the rows of
/// the file before). A record's `Break` stops just after it: the summary's `resume_at` is the row
/// group (`offset`) and the rows of the file read so far (`line`).
pub fn parse_row_group(
    batches: impl Iterator<Item = Result<RecordBatch, ArrowError>>,
    read: RowGroupRead<'_>,
    summary: ParseSummary,
    emit: &mut dyn RowSink,
) -> (ParseSummary, Option<FileError>) {
    let mapper = read.mapper;
    let mut tally = Tally {
        summary: ParseSummary { stopped: false, resume_at: None, ..summary },
        max_errors: mapper.template.max_errors_recorded,
        stop_on_error: read.stop_at_first_row_error,
        emit_stopped: false,
        extra_columns: mapper.template.extra_columns,
        emit,
    };
    let mut skip = read.start.skip;
    // Rows of the row group decoded, those passed over included: where a hand-over goes on.
    let mut in_group = 0;
    let mut batches = batches;
    loop {
        let batch = match next_batch(&mut batches) {
            None => break,
            Some(Ok(batch)) => batch,
            Some(Err(reason)) => {
                let error = FileError::Columnar(reason);
                return (tally.summary, Some(error));
            }
        };
        let cells = match prepare(&batch, read.columns) {
            Ok(cells) => cells,
            Err(reason) => {
                let error = FileError::Columnar(reason);
                return (tally.summary, Some(error));
            }
        };
        let (columns, extra) = cells;
        let passed_over = skip.min(batch.num_rows() as u64);
        skip -= passed_over;
        in_group += passed_over;
        for r in passed_over as usize..batch.num_rows() {
            let row = tally.next_row();
            in_group += 1;
            let mut result = mapper.map_row(
                row,
                row,
                |i| match &columns[i] {
                    Some(cells) => cells.text(r, Some(&mapper.columns()[i])),
                    None => Ok(None),
                },
                || fallback_id(read.id_prefix, row),
            );
            if !extra.is_empty() {
                result = result.and_then(|record| {
                    let values = extra_values(&extra, r)?;
                    mapper.with_extra(record, values)
                });
            }
            let raw = match &result {
                Ok(_) => Vec::new(),
                Err(_) => raw_row(read.columns, mapper, &columns, &extra, r),
            };
            if tally.accept(row, row, result, RawRow::Text(&raw)).is_break() {
                let position = ParsePosition {
                    offset: read.start.index as u64,
                    line: row,
                    header: None,
                    row_group_rows: in_group,
                };
                tally.stopped_at(position);
                return (tally.summary, None);
            }
        }
    }
    (tally.summary, None)
}

/// The next batch of the row group, or why it cannot be decoded.
fn next_batch(
    batches: &mut impl Iterator<Item = Result<RecordBatch, ArrowError>>,
) -> Option<Result<RecordBatch, String>> {
    match contained(|| batches.next()) {
        Ok(next) => next.map(|batch| batch.map_err(|e| format!("cannot decode the Parquet file: {e}"))),
        Err(panic) => Some(Err(format!("cannot decode the Parquet file (its reader failed: {panic})"))),
    }
}

/// Runs a call into the Parquet reader, with its panics caught: the reader's own panics on a hostile
/// file (parquet 60.1 divides by zero on some corrupt dictionary pages) are that file's failure, not
/// the worker's. Only calls into the reader are wrapped, so that a defect of ours still panics.
pub(crate) fn contained<T>(call: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_owned())
    })
}

type Prepared<'b> = (Vec<Option<Cells<'b>>>, Vec<(&'b str, Cells<'b>)>);

/// Each template column's (and kept column's) cells in `batch`.
fn prepare<'b>(batch: &'b RecordBatch, columns: &'b ParquetColumns) -> Result<Prepared<'b>, String> {
    let cells = |path: &[String]| -> Result<Cells<'b>, String> {
        let mut arrays: Vec<&'b ArrayRef> = Vec::with_capacity(path.len());
        for (depth, name) in path.iter().enumerate() {
            let array = match arrays.last() {
                None => batch.column_by_name(name),
                Some(group) => group.as_struct_opt().and_then(|s| s.column_by_name(name)),
            };
            arrays.push(array.ok_or_else(|| format!("the batch lacks the field {}", path[..=depth].join(".")))?);
        }
        let leaf = arrays.pop().ok_or("a column without a name")?;
        Ok(Cells::new(leaf, arrays))
    };
    let mapped = columns.paths.iter().map(|p| p.as_deref().map(cells).transpose()).collect::<Result<_, _>>()?;
    let extra = columns
        .extra
        .iter()
        .map(|(name, path)| Ok::<_, String>((name.as_str(), cells(path)?)))
        .collect::<Result<_, _>>()?;
    Ok((mapped, extra))
}

/// The row's values of the kept columns, as text; nulls left out.
fn extra_values(extra: &[(&str, Cells<'_>)], r: usize) -> Result<Vec<(String, String)>, FieldError> {
    let mut values = Vec::new();
    for (name, cells) in extra {
        match cells.text(r, None) {
            Ok(Some(text)) => values.push(((*name).to_owned(), text.into_owned())),
            Ok(None) => {}
            Err(reason) => return Err(FieldError { column: Some((*name).to_owned()), reason }),
        }
    }
    Ok(values)
}

/// A rejected row as its rejects file gives it back: a JSON object of the columns read, by their
/// names in the file (text as read; null where null or unreadable).
fn raw_row(
    columns: &ParquetColumns,
    mapper: &Mapper,
    cells: &[Option<Cells<'_>>],
    extra: &[(&str, Cells<'_>)],
    r: usize,
) -> Vec<u8> {
    let mut object = serde_json::Map::new();
    let value = |text: Result<Option<std::borrow::Cow<'_, str>>, String>| match text {
        Ok(Some(text)) => serde_json::Value::String(text.into_owned()),
        _ => serde_json::Value::Null,
    };
    for ((column, path), cells) in mapper.columns().iter().zip(&columns.paths).zip(cells) {
        if let (Some(path), Some(cells)) = (path, cells) {
            object.insert(path.join("."), value(cells.text(r, Some(column))));
        }
    }
    for (name, cells) in extra {
        object.insert((*name).to_owned(), value(cells.text(r, None)));
    }
    serde_json::to_vec(&object).unwrap_or_default()
}
