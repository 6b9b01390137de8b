//! The read pipeline of a Parquet object: never a stream of the whole object, but the byte ranges
//! Arrow's Parquet push decoder asks for, fetched with ranged GETs:
//!
//! ```text
//! footer: the last 64 KiB (one GET; the rest of a longer metadata next, up to its limit)
//!   -> its schema's nesting read from the bytes (thrift.rs), then decoded and matched to the
//!      template on a blocking thread (parse::parquet::columns): drift, projection, reading mapper
//!   -> each row group: the column chunks of the fields read (GETs in parallel, up to its limit),
//!      their page headers held to the same limit (thrift.rs), then decoded and mapped on a
//!      blocking thread (parse::parquet::parse_row_group) -> Emit
//! ```
//!
//! Memory is bounded by one row group: its fetched chunks of the fields read, and one decompressed
//! page per column, each at most [`ParquetLimits::max_row_group_bytes`]; a larger one fails the file
//! saying so, with the rows of the row groups before it kept. A hand-over in the middle of a row
//! group goes on from that row group's start: its rows before the checkpoint are decoded again and
//! passed over. Every call into the reader has its panics caught (a hostile file's), failing the file.

use super::{so_far, Emit, ReadOptions, ReadResult, Sink};
use crate::mapping::Mapper;
use crate::model::ObjectMeta;
use crate::parse::parquet::thrift::{page_header, schema_depth, PageSizes, MAX_SCHEMA_DEPTH};
use crate::parse::parquet::{columns, contained, parse_row_group, ParquetColumns, RowGroupRead, RowGroupStart};
use crate::parse::{FileError, ParseSummary};
use crate::ports::{ObjectSource, SourceError};
use bytes::Bytes;
use parquet::arrow::push_decoder::ParquetPushDecoderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader, RowGroupMetaData};
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
        // Measured (BENCHMARKS.md, "Parquet objects"): a sync's peak is about 3.4 times its largest
        // row group, plus the records waiting for the writers; a 119 MiB row group of 50 KB rows took
        // 590 MiB, past the worker's 512 MB. 64 MiB leaves room. A footer's metadata takes about 9
        // times its bytes once decoded: 8 MiB of it is some 75 MB.
        ParquetLimits { max_footer_bytes: 8 << 20, max_row_group_bytes: 64 << 20 }
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
    // A row group's thread that panicked took the emitter with it: the caller hears of the panic.
    let ended = read_row_groups(&mut fetch, mapper, id_prefix, options, &mut summary, &mut emit).await?;
    let mut emit = emit.expect("the emitter is given back by each row group's thread that ended");
    let emit = tokio::task::spawn_blocking(move || {
        emit.end();
        emit
    })
    .await?;
    let mut result =
        ReadResult { summary, file_error: None, from_start: false, bom: 0, transport: None, fetched: fetch.fetched };
    match ended {
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
    let footer = match footer(fetch, limits).await {
        Ok(footer) => footer,
        Err(failure) => return Ok(Err(failure)),
    };
    let Opened { metadata, builder, columns, drift, mapper } =
        match tokio::task::spawn_blocking(move || open(&footer, mapper)).await? {
            Ok(opened) => opened,
            Err(e) => return Ok(Err(Failure::File(e))),
        };
    summary.drift = drift;
    let row_groups = metadata.row_groups();
    let (first, mut skip) = match &options.resume {
        None => (0, 0),
        Some(f) => {
            (usize::try_from(f.position.offset).unwrap_or(usize::MAX).min(row_groups.len()), f.position.row_group_rows)
        }
    };
    // The decoder passes over row groups of no rows without a reader: they are left out here too, so
    // that the n-th reader is the n-th of these, and a checkpoint names the row group it was in.
    let groups: Vec<usize> = (first..row_groups.len()).filter(|&i| row_groups[i].num_rows() > 0).collect();
    let mut next = 0;
    let built = contained(|| {
        builder
            .with_projection(columns.projection.clone())
            .with_row_groups(groups.clone())
            .with_batch_size(BATCH_ROWS)
            .build()
    });
    let mut decoder = match built.map_err(|panic| format!("its reader failed: {panic}")) {
        Ok(Ok(decoder)) => decoder,
        Ok(Err(e)) => return Ok(Err(file(format!("cannot read the Parquet file: {e}")))),
        Err(e) => return Ok(Err(file(format!("cannot read the Parquet file ({e})")))),
    };
    let columns = Arc::new(columns);
    let id_prefix: Arc<str> = id_prefix.into();
    loop {
        // The row group the decoder is at (past the last: one more than the file has).
        let index = groups.get(next).copied().unwrap_or(row_groups.len());
        let decoded = contained(|| decoder.try_next_reader()).unwrap_or_else(|panic| Err(reader_failed(panic)));
        let reader = match decoded {
            Err(e) => return Ok(Err(file(format!("cannot read row group {index}: {e}")))),
            Ok(DecodeResult::Finished) => return Ok(Ok(())),
            Ok(DecodeResult::NeedsData(ranges)) => {
                if let Err(failure) = fetch.within(&ranges) {
                    return Ok(Err(failure));
                }
                let bytes: u64 = ranges.iter().map(|r| r.end - r.start).sum();
                if bytes > limits.max_row_group_bytes {
                    return Ok(Err(file(format!(
                        "row group {index} holds {bytes} bytes of the columns read, more than the {} one may hold \
                             (S3C_MAX_PARQUET_ROW_GROUP_BYTES): write the file with smaller row groups",
                        limits.max_row_group_bytes
                    ))));
                }
                let data = match fetch.ranges(&ranges).await {
                    Ok(data) => data,
                    Err(e) => return Ok(Err(Failure::Source(e))),
                };
                let group = &row_groups[index.min(row_groups.len() - 1)];
                if let Err(reason) = check_pages(group, &columns.projection, &ranges, &data, limits.max_row_group_bytes)
                {
                    return Ok(Err(file(format!("row group {index}: {reason}"))));
                }
                let pushed = contained(|| decoder.push_ranges(ranges, data));
                if let Err(e) = pushed.unwrap_or_else(|panic| Err(reader_failed(panic))) {
                    return Ok(Err(file(format!("cannot read row group {index}: {e}"))));
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
        (next, skip) = (next + 1, 0);
    }
}

/// The footer's metadata bytes: the last 64 KiB first (its length and magic, and most files' whole
/// metadata), then the rest of it if it is longer.
async fn footer(fetch: &mut Fetch<'_>, limits: ParquetLimits) -> Result<Bytes, Failure> {
    let size = fetch.object.size;
    // Magic, metadata length and magic again: 12 bytes at least.
    if size < 12 {
        let what = if size == 0 { "empty" } else { "too short" };
        return Err(file(format!("not a Parquet file: {what} ({size} bytes)")));
    }
    let tail_start = size - size.min(TAIL_BYTES);
    let tail = fetch.range(tail_start..size).await.map_err(Failure::Source)?;
    let end = tail.len();
    match &tail[end - 4..] {
        b"PAR1" => {}
        b"PARE" => return Err(file("the Parquet file is encrypted, which is not read".to_owned())),
        _ => {
            return Err(file(
                "not a Parquet file: it does not end with Parquet's magic bytes PAR1 (is the template's format right?)"
                    .to_owned(),
            ))
        }
    }
    let length = u64::from(u32::from_le_bytes([tail[end - 8], tail[end - 7], tail[end - 6], tail[end - 5]]));
    if length > limits.max_footer_bytes {
        return Err(file(format!(
            "the Parquet footer's metadata is {length} bytes, more than the {} read (S3C_MAX_PARQUET_FOOTER_BYTES)",
            limits.max_footer_bytes
        )));
    }
    // The leading magic, the metadata, its length and the closing magic.
    if 4 + length + 8 > size {
        return Err(file(format!(
            "cannot read the Parquet footer: its length says {length} bytes, more than the file holds"
        )));
    }
    let metadata = (size - 8 - length)..(size - 8);
    if metadata.start >= tail_start {
        return Ok(tail.slice((metadata.start - tail_start) as usize..(metadata.end - tail_start) as usize));
    }
    fetch.range(metadata).await.map_err(Failure::Source)
}

/// A Parquet file made ready to read: its metadata, the decoder's builder, its columns matched to
/// the template, its drift and the mapper that reads it.
struct Opened {
    metadata: Arc<ParquetMetaData>,
    builder: ParquetPushDecoderBuilder,
    columns: ParquetColumns,
    drift: crate::model::SchemaDrift,
    mapper: Arc<Mapper>,
}

/// Decodes the footer's metadata and matches the schema to the template: work in proportion to the
/// footer (a wide schema, many row groups), for a blocking thread. A schema nesting deeper than
/// [`MAX_SCHEMA_DEPTH`] is refused first: decoding it would overflow the thread's stack.
fn open(metadata: &[u8], mapper: Arc<Mapper>) -> Result<Opened, FileError> {
    let footer = |reason: String| FileError::Columnar(format!("cannot read the Parquet footer: {reason}"));
    let depth = schema_depth(metadata).map_err(footer)?;
    if depth > MAX_SCHEMA_DEPTH {
        return Err(footer(format!("its schema nests {depth} groups deep, more than the {MAX_SCHEMA_DEPTH} read")));
    }
    let decoded = contained(|| ParquetMetaDataReader::decode_metadata(metadata));
    let metadata = Arc::new(
        decoded
            .map_err(|panic| format!("its reader failed: {panic}"))
            .and_then(|m| m.map_err(|e| e.to_string()))
            .map_err(footer)?,
    );
    let builder = contained(|| ParquetPushDecoderBuilder::try_new_decoder(metadata.clone()))
        .map_err(|panic| format!("its reader failed: {panic}"))
        .and_then(|b| b.map_err(|e| e.to_string()))
        .map_err(|reason| FileError::Columnar(format!("cannot read the Parquet file's schema: {reason}")))?;
    let (columns, drift) = columns(builder.parquet_schema(), builder.schema(), &mapper)?;
    let mapper = columns.reading_mapper(&mapper).map(Arc::new).unwrap_or(mapper);
    Ok(Opened { metadata, builder, columns, drift, mapper })
}

/// Holds a row group's pages to its budget before the reader sees them. The reader decompresses one
/// page of each column read at a time (a dictionary page is kept for its chunk) into a buffer of
/// the size the page's header claims, so the sum of each column's largest claim is what decoding
/// holds beside the fetched chunks: it must fit `budget` too. A gzip page is inflated once here, up
/// to its claim, since parquet's gzip reads a page to its end whatever its header said.
fn check_pages(
    group: &RowGroupMetaData,
    projection: &ProjectionMask,
    ranges: &[Range<u64>],
    data: &[Bytes],
    budget: u64,
) -> Result<(), String> {
    let mut held = 0u64;
    for (leaf, column) in group.columns().iter().enumerate().filter(|(leaf, _)| projection.leaf_included(*leaf)) {
        let (start, length) = column.byte_range();
        let end = start.checked_add(length).ok_or("a column chunk past any file's end")?;
        let fetched = ranges.iter().zip(data).find(|(r, _)| r.start <= start && end <= r.end);
        let Some((range, bytes)) = fetched else {
            return Err(format!("column {leaf}'s chunk was not fetched whole"));
        };
        let chunk = &bytes[(start - range.start) as usize..(end - range.start) as usize];
        let codec = column.compression();
        let (mut at, mut largest) = (0usize, 0u64);
        while at < chunk.len() {
            let page = page_header(&chunk[at..]).map_err(|e| format!("column {leaf}: a page's header: {e}"))?;
            let body = at + page.header as usize;
            let page_end = usize::try_from(page.compressed)
                .ok()
                .and_then(|n| body.checked_add(n))
                .filter(|&e| e <= chunk.len())
                .ok_or_else(|| format!("column {leaf}: a page runs past its column chunk"))?;
            largest = largest.max(page.uncompressed);
            inflates_within(codec, &chunk[body..page_end], page).map_err(|e| format!("column {leaf}: {e}"))?;
            at = page_end;
        }
        held = held.saturating_add(largest);
    }
    if held > budget {
        return Err(format!(
            "its pages would decompress to {held} bytes at once (as their headers say), more than the {budget} one \
             may hold (S3C_MAX_PARQUET_ROW_GROUP_BYTES)"
        ));
    }
    Ok(())
}

/// Whether a page's body inflates to no more than its header says, for the codecs whose decoder in
/// the reader reads to the end whatever the header said: gzip, and LZ4 frames (the reader's LZ4
/// codec falls back to them). The others decode into a buffer of the claimed size. A corrupt body
/// is left to the reader, which names its error.
fn inflates_within(codec: parquet::basic::Compression, body: &[u8], page: PageSizes) -> Result<(), String> {
    use parquet::basic::Compression;
    use std::io::Read;
    if !page.values_compressed {
        return Ok(());
    }
    let values = &body[usize::try_from(page.levels).unwrap_or(usize::MAX).min(body.len())..];
    let claim = page.uncompressed.saturating_sub(page.levels);
    let (name, inflated): (&str, Box<dyn Read + '_>) = match codec {
        Compression::GZIP(_) => ("gzip", Box::new(flate2::read::MultiGzDecoder::new(values))),
        Compression::LZ4 if values.starts_with(&LZ4_FRAME_MAGIC) => {
            ("LZ4", Box::new(lz4_flex::frame::FrameDecoder::new(values)))
        }
        _ => return Ok(()),
    };
    match std::io::copy(&mut inflated.take(claim + 1), &mut std::io::sink()) {
        Ok(n) if n > claim => Err(format!("a {name} page inflates past the {claim} bytes its header says")),
        _ => Ok(()),
    }
}

/// How an LZ4 frame begins (0x184D2204, little-endian).
const LZ4_FRAME_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

/// A panic of the Parquet reader as its error.
fn reader_failed(panic: String) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::General(format!("its reader failed: {panic}"))
}

fn file(reason: String) -> Failure {
    Failure::File(FileError::Columnar(reason))
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

    /// Whether the ranges are inside the object: one outside is the file's fault (its metadata points
    /// there), not the source's (S3 would refuse it).
    fn within(&self, ranges: &[Range<u64>]) -> Result<(), Failure> {
        let size = self.object.size;
        match ranges.iter().find(|r| r.start > r.end || r.end > size) {
            Some(r) => Err(file(format!(
                "the Parquet file's metadata points at bytes {}..{} of a file of {size} bytes",
                r.start, r.end
            ))),
            None => Ok(()),
        }
    }

    /// The ranges (a row group's column chunks, checked to be [`Self::within`] the object), a few at
    /// a time, in their order.
    async fn ranges(&mut self, ranges: &[Range<u64>]) -> Result<Vec<Bytes>, SourceError> {
        use futures::{StreamExt, TryStreamExt};
        let (source, object) = (self.source, self.object);
        // Collected first: a lazy map's closure held across the await would make the future not
        // Send for every lifetime, which the Lambda runtime needs.
        let reads: Vec<_> = ranges.iter().map(|r| source.read_range(object, r.start, r.end - r.start)).collect();
        let data: Vec<Bytes> = futures::stream::iter(reads).buffered(RANGES_IN_FLIGHT).try_collect().await?;
        self.fetched += data.iter().map(|b| b.len() as u64).sum::<u64>();
        Ok(data)
    }
}
