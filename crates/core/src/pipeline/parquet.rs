//! The read pipeline of a Parquet object: never a stream of the whole object, but the byte ranges
//! Arrow's Parquet push decoder asks for, fetched with ranged GETs:
//!
//! ```text
//! footer: the last 64 KiB (one GET; more if the metadata is longer, up to its limit)
//!   -> the file's schema matched to the template (parse::parquet::columns): drift, projection
//!   -> each row group: the column chunks of the fields read (GETs in parallel, up to its limit)
//!      -> decoded and mapped on a blocking thread (parse::parquet::parse_row_group) -> Emit
//! ```
//!
//! Memory is bounded by one row group's column chunks of the fields read, which must be at most
//! [`ParquetLimits::max_row_group_bytes`]; a larger one fails the file saying so, with the rows of the
//! row groups before it kept. A hand-over in the middle of a row group goes on from that row group's
//! start: its rows before the checkpoint are decoded again and passed over.

use super::{so_far, Emit, ReadOptions, ReadResult, Sink};
use crate::mapping::Mapper;
use crate::model::ObjectMeta;
use crate::parse::parquet::{columns, contained, parse_row_group, RowGroupRead, RowGroupStart};
use crate::parse::{FileError, ParseSummary};
use crate::ports::{ObjectSource, SourceError};
use bytes::Bytes;
use parquet::arrow::push_decoder::ParquetPushDecoderBuilder;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataPushDecoder};
use parquet::DecodeResult;
use std::ops::Range;
use std::sync::Arc;

/// What reading a Parquet object refuses, so that one file cannot take the worker's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetLimits {
    /// Bytes of the footer's metadata (`S3C_MAX_PARQUET_FOOTER_BYTES`).
    pub max_footer_bytes: u64,
    /// Bytes (compressed, as stored) of one row group's column chunks of the fields read
    /// (`S3C_MAX_PARQUET_ROW_GROUP_BYTES`): what is held while the row group is decoded.
    pub max_row_group_bytes: u64,
}

impl Default for ParquetLimits {
    fn default() -> Self {
        // The worker has 512 MB: a row group of 128 MiB (parquet-mr's default size for a whole
        // row group) leaves room for its decoded pages and the batches in flight.
        ParquetLimits { max_footer_bytes: 16 << 20, max_row_group_bytes: 128 << 20 }
    }
}

/// The tail fetched first: the footer's length and magic, and most files' whole metadata.
const TAIL_BYTES: u64 = 64 * 1024;
/// Ranged GETs at once for one row group's column chunks.
const RANGES_IN_FLIGHT: usize = 8;
/// Rows per decoded batch: large enough that decoding runs in bulk, small enough to stay a few MB.
const BATCH_ROWS: usize = 8192;

/// Why the read of a Parquet object ended early.
enum Failure {
    /// The file: not Parquet, corrupt, too large a part, columns the template cannot read.
    File(FileError),
    /// The object could not be read (replaced, denied, a transport failure): not the file's fault.
    Source(SourceError),
}

/// Reads `object` as Parquet from its footer on, or from a checkpoint's row group, giving each
/// mapped record to `emit`. The same contract as [`super::read`]: the result says what was read and
/// how it ended, and `emit` is given back; an `Err` is the parser's thread failing (a panic).
pub async fn read<E: Emit>(
    source: &dyn ObjectSource,
    object: &ObjectMeta,
    mapper: Arc<Mapper>,
    id_prefix: String,
    options: ReadOptions,
    emit: E,
) -> Result<(ReadResult, E), tokio::task::JoinError> {
    let mut summary = options.resume.as_ref().map(so_far).unwrap_or_default();
    let mut fetch = Fetch { source, object, fetched: 0 };
    let mut emit = Some(emit);
    let ended = read_row_groups(&mut fetch, mapper, id_prefix, options, &mut summary, &mut emit).await;
    let mut emit = emit.expect("the emitter is given back by each row group's thread");
    let emit = tokio::task::spawn_blocking(move || {
        emit.end();
        emit
    })
    .await?;
    let mut result =
        ReadResult { summary, file_error: None, from_start: false, bom: 0, transport: None, fetched: fetch.fetched };
    match ended? {
        Ok(()) => {}
        Err(Failure::File(e)) => result.file_error = Some(e),
        Err(Failure::Source(e)) => result.transport = Some((e.kind, e.message)),
    }
    Ok((result, emit))
}

/// The footer, the schema, then the row groups from the checkpoint's on, into `summary`.
async fn read_row_groups<E: Emit>(
    fetch: &mut Fetch<'_>,
    mapper: Arc<Mapper>,
    id_prefix: String,
    options: ReadOptions,
    summary: &mut ParseSummary,
    emit: &mut Option<E>,
) -> Result<Result<(), Failure>, tokio::task::JoinError> {
    let limits = options.limits.parquet;
    let metadata = match footer(fetch, limits).await {
        Ok(metadata) => Arc::new(metadata),
        Err(failure) => return Ok(Err(failure)),
    };
    let builder = match contained(|| ParquetPushDecoderBuilder::try_new_decoder(metadata.clone())) {
        Ok(Ok(builder)) => builder,
        Ok(Err(e)) => return Ok(Err(file(0, format!("cannot read the Parquet file's schema: {e}")))),
        Err(panic) => {
            return Ok(Err(file(0, format!("cannot read the Parquet file's schema (its reader failed: {panic})"))))
        }
    };
    let (columns, drift) = match columns(builder.parquet_schema(), builder.schema(), &mapper) {
        Ok(matched) => matched,
        Err(e) => return Ok(Err(Failure::File(e))),
    };
    summary.drift = drift;
    let row_groups = metadata.row_groups();
    let (mut index, mut skip) = match &options.resume {
        None => (0, 0),
        Some(f) => {
            (usize::try_from(f.position.offset).unwrap_or(usize::MAX).min(row_groups.len()), f.position.row_group_rows)
        }
    };
    let built = contained(|| {
        builder
            .with_projection(columns.projection.clone())
            .with_row_groups((index..row_groups.len()).collect())
            .with_batch_size(BATCH_ROWS)
            .build()
    });
    let mut decoder = match built.map_err(|panic| format!("its reader failed: {panic}")) {
        Ok(Ok(decoder)) => decoder,
        Ok(Err(e)) => return Ok(Err(file(0, format!("cannot read the Parquet file: {e}")))),
        Err(e) => return Ok(Err(file(0, format!("cannot read the Parquet file ({e})")))),
    };
    let columns = Arc::new(columns);
    let id_prefix: Arc<str> = id_prefix.into();
    loop {
        let rows_read = summary.rows_read;
        let next = contained(|| decoder.try_next_reader()).unwrap_or_else(|panic| Err(reader_failed(panic)));
        let reader = match next {
            Err(e) => return Ok(Err(file(rows_read, format!("cannot read row group {index}: {e}")))),
            Ok(DecodeResult::Finished) => return Ok(Ok(())),
            Ok(DecodeResult::NeedsData(ranges)) => {
                let bytes: u64 = ranges.iter().map(|r| r.end - r.start).sum();
                if bytes > limits.max_row_group_bytes {
                    return Ok(Err(file(
                        rows_read,
                        format!(
                            "row group {index} holds {bytes} bytes of the columns read, more than the {} one may hold \
                             (S3C_MAX_PARQUET_ROW_GROUP_BYTES): write the file with smaller row groups",
                            limits.max_row_group_bytes
                        ),
                    )));
                }
                let data = match fetch.ranges(&ranges, rows_read).await {
                    Ok(data) => data,
                    Err(failure) => return Ok(Err(failure)),
                };
                let pushed = contained(|| decoder.push_ranges(ranges, data));
                if let Err(e) = pushed.unwrap_or_else(|panic| Err(reader_failed(panic))) {
                    return Ok(Err(file(rows_read, format!("cannot read row group {index}: {e}"))));
                }
                continue;
            }
            Ok(DecodeResult::Data(reader)) => reader,
        };
        let start = RowGroupStart { index, skip };
        let (mapper, columns, id_prefix) = (mapper.clone(), columns.clone(), id_prefix.clone());
        let mut taken = emit.take().expect("the emitter is back between row groups");
        let so_far = std::mem::take(summary);
        let stop_at_first_row_error = options.stop_at_first_row_error;
        let (parsed, error, given_back) = tokio::task::spawn_blocking(move || {
            let read = RowGroupRead {
                columns: &columns,
                mapper: &mapper,
                id_prefix: &id_prefix,
                start,
                stop_at_first_row_error,
            };
            let (parsed, error) = parse_row_group(reader, read, so_far, &mut Sink(&mut taken));
            (parsed, error, taken)
        })
        .await?;
        *summary = parsed;
        *emit = Some(given_back);
        if let Some(e) = error {
            return Ok(Err(Failure::File(e)));
        }
        if summary.stopped {
            return Ok(Ok(()));
        }
        (index, skip) = (index + 1, 0);
    }
}

/// The footer's metadata: the last 64 KiB first, then whatever more it says it needs.
async fn footer(fetch: &mut Fetch<'_>, limits: ParquetLimits) -> Result<ParquetMetaData, Failure> {
    let size = fetch.object.size;
    // Magic, metadata length and magic again: 12 bytes at least.
    if size < 12 {
        let what = if size == 0 { "empty" } else { "too short" };
        return Err(file(0, format!("not a Parquet file: {what} ({size} bytes)")));
    }
    let tail_start = size - size.min(TAIL_BYTES);
    let tail = fetch.range(tail_start..size).await.map_err(Failure::Source)?;
    match &tail[tail.len() - 4..] {
        b"PAR1" => {}
        b"PARE" => return Err(file(0, "the Parquet file is encrypted, which is not read".to_owned())),
        _ => {
            return Err(file(
                0,
                "not a Parquet file: it does not end with Parquet's magic bytes PAR1 (is the template's format right?)"
                    .to_owned(),
            ))
        }
    }
    let footer_error = |e: parquet::errors::ParquetError| file(0, format!("cannot read the Parquet footer: {e}"));
    let mut decoder =
        ParquetMetaDataPushDecoder::try_new(size).map_err(footer_error)?.with_page_index_policy(PageIndexPolicy::Skip);
    decoder.push_range(tail_start..size, tail).map_err(footer_error)?;
    loop {
        match decoder.try_decode().map_err(footer_error)? {
            DecodeResult::Data(metadata) => return Ok(metadata),
            DecodeResult::Finished => return Err(file(0, "the Parquet footer holds no metadata".to_owned())),
            DecodeResult::NeedsData(ranges) => {
                let bytes: u64 = ranges.iter().map(|r| r.end - r.start).sum();
                if bytes > limits.max_footer_bytes {
                    return Err(file(
                        0,
                        format!(
                            "the Parquet footer's metadata is {bytes} bytes, more than the {} read \
                             (S3C_MAX_PARQUET_FOOTER_BYTES)",
                            limits.max_footer_bytes
                        ),
                    ));
                }
                let data = fetch.ranges(&ranges, 0).await?;
                decoder.push_ranges(ranges, data).map_err(footer_error)?;
            }
        }
    }
}

/// A panic of the Parquet reader as its error.
fn reader_failed(panic: String) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::General(format!("its reader failed: {panic}"))
}

fn file(after: u64, reason: String) -> Failure {
    Failure::File(FileError::Columnar { after, reason })
}

/// Ranged reads of one object, counted.
struct Fetch<'s> {
    source: &'s dyn ObjectSource,
    object: &'s ObjectMeta,
    fetched: u64,
}

impl Fetch<'_> {
    async fn range(&mut self, range: Range<u64>) -> Result<Bytes, SourceError> {
        let bytes = self.source.read_range(self.object, range.start, range.end - range.start).await?;
        self.fetched += bytes.len() as u64;
        Ok(bytes)
    }

    /// The ranges (a row group's column chunks), a few at a time, in their order. A range outside
    /// the object is the file's fault (its metadata points there), not the source's: the file fails
    /// after the `rows_read` before.
    async fn ranges(&mut self, ranges: &[Range<u64>], rows_read: u64) -> Result<Vec<Bytes>, Failure> {
        use futures::{StreamExt, TryStreamExt};
        let size = self.object.size;
        if let Some(r) = ranges.iter().find(|r| r.start > r.end || r.end > size) {
            let reason =
                format!("the Parquet file's metadata points at bytes {}..{} of a file of {size} bytes", r.start, r.end);
            return Err(file(rows_read, reason));
        }
        let (source, object) = (self.source, self.object);
        // Collected first: a lazy map's closure held across the await would make the future not
        // Send for every lifetime, which the Lambda runtime needs.
        let reads: Vec<_> = ranges.iter().map(|r| source.read_range(object, r.start, r.end - r.start)).collect();
        let data: Vec<Bytes> =
            futures::stream::iter(reads).buffered(RANGES_IN_FLIGHT).try_collect().await.map_err(Failure::Source)?;
        self.fetched += data.iter().map(|b| b.len() as u64).sum::<u64>();
        Ok(data)
    }
}
