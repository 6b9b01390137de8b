//! The byte layers under the parser: gzip, zstd or bzip2, detected by their magic bytes, then the
//! template's text encoding ([`crate::text_encoding`]: byte-order mark, a check of the head,
//! transcoding to UTF-8). Each layer is a reader wrapping the one below, so nothing holds more than
//! its buffer (and a zstd frame's window, bounded by [`ZSTD_WINDOW_LOG_MAX`]).

use crate::text_encoding::{to_utf8, TextEncoding};
use flate2::read::MultiGzDecoder;
use std::io::{self, BufRead, BufReader, Chain, Cursor, Read};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// A bzip2 stream: "BZh", the block size '1'..'9', then a block's magic (the digits of pi) or, for an
/// empty stream, the end-of-stream magic (those of sqrt(pi)). All ten bytes are checked: a CSV may
/// well begin with "BZh".
const BZIP2_BLOCK_MAGIC: [u8; 6] = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59];
const BZIP2_END_MAGIC: [u8; 6] = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90];
/// Bytes the detection looks at.
const MAGIC_BYTES: usize = 10;
const BUFFER: usize = 256 * 1024;
/// The largest zstd window accepted, as a power of two: 128 MiB, what `zstd -d` accepts without
/// `--long`. A frame that declares more (`zstd --long=31`) fails clearly instead of taking 2 GiB.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// What decoding refuses, so that a small object cannot become unbounded work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Decoded bytes per compressed byte a gzip, zstd or bzip2 stream may reach, once past
    /// `ratio_floor_bytes`: text compresses 5 to 20 times; a decompression bomb, a thousand.
    pub max_expansion_ratio: u64,
    /// Decoded bytes below which any ratio is accepted (a small file of repeated lines).
    pub ratio_floor_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_expansion_ratio: 200, ratio_floor_bytes: 64 * 1024 * 1024 }
    }
}

/// The error a decoder gives for a stream past [`DecodeLimits::max_expansion_ratio`].
#[derive(Debug)]
pub struct DecompressionBomb {
    pub compression: Compression,
    pub compressed: u64,
    pub decoded: u64,
    pub max_ratio: u64,
}

impl std::fmt::Display for DecompressionBomb {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "the {} stream expands more than {} times ({} bytes from {}): refused as a decompression bomb (S3C_MAX_EXPANSION_RATIO)",
            self.compression, self.max_ratio, self.decoded, self.compressed
        )
    }
}

impl std::error::Error for DecompressionBomb {}

/// Counts the compressed bytes a decoder reads.
struct CountingRead<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for CountingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// A decoder's output, stopped once it outgrows its input past the limits.
struct RatioGuard<R> {
    inner: R,
    compressed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    decoded: u64,
    limits: DecodeLimits,
    compression: Compression,
}

impl<R: Read> Read for RatioGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.decoded += n as u64;
        let compressed = self.compressed.load(std::sync::atomic::Ordering::Relaxed).max(1);
        let max_ratio = self.limits.max_expansion_ratio;
        if self.decoded > self.limits.ratio_floor_bytes && self.decoded > compressed.saturating_mul(max_ratio) {
            let bomb =
                DecompressionBomb { compression: self.compression, compressed, decoded: self.decoded, max_ratio };
            return Err(io::Error::new(io::ErrorKind::InvalidData, bomb));
        }
        Ok(n)
    }
}

/// Compression detected from an object's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Bzip2,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Decides the compression from the first bytes of a stream (the content, not the key or
/// Content-Encoding, which customers get wrong).
pub fn detect_compression(head: &[u8]) -> Compression {
    // A zstd file may begin with a skippable frame (pzstd's, the seekable format's): 0x184D2A5?.
    let zstd_skippable = head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18];
    let bzip2 = head.len() >= MAGIC_BYTES
        && head.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&head[3])
        && (head[4..10] == BZIP2_BLOCK_MAGIC || head[4..10] == BZIP2_END_MAGIC);
    if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(&ZSTD_MAGIC) || zstd_skippable {
        Compression::Zstd
    } else if bzip2 {
        Compression::Bzip2
    } else {
        Compression::None
    }
}

/// A decompressor's errors, prefixed with its name ("zstd: Unknown frame descriptor"), so that an
/// outcome says which layer found the bytes bad.
struct Named<R> {
    inner: R,
    compression: Compression,
}

impl<R: Read> Read for Named<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let hint = if self.compression == Compression::Zstd && e.to_string().contains("too much memory") {
                format!(
                    " (the frame's window is larger than {} MiB: compressed with --long?)",
                    1 << (ZSTD_WINDOW_LOG_MAX - 20)
                )
            } else {
                String::new()
            };
            io::Error::new(e.kind(), format!("{}: {e}{hint}", self.compression))
        })
    }
}

/// The decompressor of `compression` over `raw`, counted and stopped past the expansion limit.
fn decompressed<'a, R: Read + Send + 'a>(
    raw: R,
    compression: Compression,
    limits: DecodeLimits,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    let compressed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = |raw| BufReader::with_capacity(BUFFER, CountingRead { inner: raw, count: compressed.clone() });
    // Each reads every member, frame or stream to the end: `cat a.gz b.gz` (or .zst, .bz2, as
    // pigz, pzstd and pbzip2 write) is one valid file and must yield all of them.
    let decoder: Box<dyn Read + Send + 'a> = match compression {
        Compression::None => return Ok(Box::new(raw)),
        Compression::Gzip => Box::new(MultiGzDecoder::new(counted(raw))),
        Compression::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(counted(raw))?;
            decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(decoder)
        }
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(counted(raw))),
    };
    let named = Named { inner: decoder, compression };
    Ok(Box::new(RatioGuard { inner: named, compressed, decoded: 0, limits, compression }))
}

/// Reads up to `n` bytes ahead; `keep` decides whether the reader given back still yields them.
fn peek<R: Read>(
    mut reader: R,
    n: usize,
    keep: impl Fn(&[u8]) -> bool,
) -> io::Result<(Vec<u8>, Chain<Cursor<Vec<u8>>, R>)> {
    let mut head = Vec::with_capacity(n);
    (&mut reader).take(n as u64).read_to_end(&mut head)?;
    let replay = if keep(&head) { head.clone() } else { Vec::new() };
    Ok((head, Cursor::new(replay).chain(reader)))
}

/// A decoded object body and how it was encoded, which a hand-over needs to find its place again.
pub struct Decoded<'a> {
    pub text: Box<dyn BufRead + Send + 'a>,
    pub compression: Compression,
    /// Bytes of byte-order mark removed.
    pub bom: u64,
    /// Whether the text was transcoded to UTF-8 from the template's encoding.
    pub transcoded: bool,
}

impl Decoded<'_> {
    /// Whether a hand-over must read the object again from its start: the text's offsets are not
    /// the object's bytes.
    pub fn from_start(&self) -> bool {
        self.compression != Compression::None || self.transcoded
    }
}

/// Wraps a raw object body in the decoding chain: [gzip | zstd | bzip2] -> BOM removed -> buffered,
/// with the default [`DecodeLimits`], as UTF-8.
pub fn decode<'a, R: Read + Send + 'a>(raw: R) -> io::Result<Decoded<'a>> {
    decode_limited(raw, DecodeLimits::default(), TextEncoding::Utf8)
}

/// [`decode`] with these limits, as text in `encoding` ([`crate::text_encoding`]: its byte-order
/// mark removed, its head checked against it, transcoded to UTF-8).
pub fn decode_limited<'a, R: Read + Send + 'a>(
    raw: R,
    limits: DecodeLimits,
    encoding: TextEncoding,
) -> io::Result<Decoded<'a>> {
    let (head, raw) = peek(raw, MAGIC_BYTES, |_| true)?;
    let compression = detect_compression(&head);
    let bytes = BufReader::with_capacity(BUFFER, decompressed(raw, compression, limits)?);
    let text = to_utf8(Box::new(bytes), encoding)?;
    Ok(Decoded { text: text.text, compression, bom: text.bom, transcoded: text.transcoded })
}

/// [`decode`], for callers that need only the text.
pub fn decoded<'a, R: Read + Send + 'a>(raw: R) -> io::Result<Box<dyn BufRead + Send + 'a>> {
    decode(raw).map(|d| d.text)
}

/// The decoded text from `offset` on, after a hand-over. A plain UTF-8 object's `raw` body already
/// starts there (a ranged GET from `offset` + the byte-order mark); a compressed or transcoded one
/// cannot be entered in the middle, so its `raw` body starts at byte 0 (`from_start`) and the text
/// before `offset` is decoded and dropped.
pub fn decoded_from<'a, R: Read + Send + 'a>(
    raw: R,
    from_start: bool,
    offset: u64,
    limits: DecodeLimits,
    encoding: TextEncoding,
) -> io::Result<Box<dyn BufRead + Send + 'a>> {
    if !from_start {
        return Ok(Box::new(BufReader::with_capacity(BUFFER, raw)));
    }
    let mut text = decode_limited(raw, limits, encoding)?.text;
    let skipped = io::copy(&mut (&mut text).take(offset), &mut io::sink())?;
    if skipped < offset {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the object is shorter than its checkpoint"));
    }
    Ok(text)
}

/// `data` compressed as `compression` (as it is, for `None`): files for tests and benchmarks.
#[cfg(any(test, feature = "test-support"))]
pub fn compress(compression: Compression, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match compression {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::stream::encode_all(data, 3).unwrap(),
        Compression::Bzip2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPRESSED: [Compression; 3] = [Compression::Gzip, Compression::Zstd, Compression::Bzip2];

    fn read_all(raw: Vec<u8>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decoded(Cursor::new(raw))?.read_to_end(&mut out)?;
        Ok(out)
    }

    /// A reader that hands out one byte per call, as a slow network would.
    struct Trickle(Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn layers_are_chosen_by_content() {
        let cases: &[(&str, Vec<u8>, &[u8])] = &[
            ("plain", b"a,b\n".to_vec(), b"a,b\n"),
            ("bom", b"\xef\xbb\xbfa,b\n".to_vec(), b"a,b\n"),
            ("empty", vec![], b""),
            ("one byte", b"x".to_vec(), b"x"),
            ("bom only", b"\xef\xbb\xbf".to_vec(), b""),
            ("bom in the middle stays", b"a\xef\xbb\xbf".to_vec(), b"a\xef\xbb\xbf"),
            // Text that begins like a bzip2 stream, but not with one's ten bytes.
            ("BZh in a CSV", b"BZh9,BZh1\n1,2\n".to_vec(), b"BZh9,BZh1\n1,2\n"),
            ("BZh short", b"BZh9".to_vec(), b"BZh9"),
        ];
        for (name, raw, expected) in cases {
            assert_eq!(read_all(raw.clone()).unwrap(), *expected, "case {name}");
        }
        for c in COMPRESSED {
            let cases: &[(&str, Vec<u8>, &[u8])] = &[
                ("text", compress(c, b"a,b\n"), b"a,b\n"),
                ("text with a bom", compress(c, b"\xef\xbb\xbfa,b\n"), b"a,b\n"),
                ("two members, frames or streams", [compress(c, b"a\n"), compress(c, b"b\n")].concat(), b"a\nb\n"),
                ("nothing compressed", compress(c, b""), b""),
            ];
            for (name, raw, expected) in cases {
                let mut decoded = decode(Cursor::new(raw.clone())).unwrap();
                assert_eq!(decoded.compression, c, "{c}: {name}");
                let mut out = Vec::new();
                decoded.text.read_to_end(&mut out).unwrap();
                assert_eq!(out, *expected, "{c}: {name}");
            }
        }
    }

    #[test]
    fn a_zstd_file_may_begin_with_a_skippable_frame() {
        // A skippable frame (magic 0x184D2A53, 4 bytes of length, then those bytes), then the data.
        let mut raw = vec![0x53, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
        raw.extend(compress(Compression::Zstd, b"id\n7\n"));
        assert_eq!(detect_compression(&raw[..MAGIC_BYTES]), Compression::Zstd);
        assert_eq!(read_all(raw).unwrap(), b"id\n7\n");
    }

    #[test]
    fn magic_bytes_split_across_reads_are_still_seen() {
        for c in COMPRESSED {
            let mut out = Vec::new();
            decoded(Trickle(Cursor::new(compress(c, b"\xef\xbb\xbfhello")))).unwrap().read_to_end(&mut out).unwrap();
            assert_eq!(out, b"hello", "{c}");
        }
    }

    #[test]
    fn utf16_is_refused_by_its_byte_order_mark() {
        for (raw, order) in [(b"\xff\xfei\0d\0".to_vec(), "little-endian"), (b"\xfe\xff\0i\0d".to_vec(), "big-endian")]
        {
            let e = read_all(raw).unwrap_err();
            assert!(e.to_string().contains(&format!("UTF-16 ({order}")), "{e}");
        }
    }

    #[test]
    fn a_bomb_of_each_compression_is_refused_once_past_the_floor() {
        // 20 MB of zeros compress to at most about 20 KB: a ratio of 1,000 or (zstd, bzip2) far more.
        let zeros = vec![0u8; 20 * 1024 * 1024];
        let text: Vec<u8> = (0..200_000).flat_map(|i| format!("row{i},{}\n", i * 7).into_bytes()).collect();
        for c in COMPRESSED {
            let bomb = compress(c, &zeros);
            let limits = DecodeLimits { max_expansion_ratio: 200, ratio_floor_bytes: 1024 * 1024 };
            let mut out = Vec::new();
            let e = decode_limited(Cursor::new(bomb.clone()), limits, TextEncoding::Utf8)
                .unwrap()
                .text
                .read_to_end(&mut out)
                .unwrap_err();
            let bomb_error = e.get_ref().and_then(|e| e.downcast_ref::<DecompressionBomb>()).expect("a bomb");
            assert_eq!(bomb_error.compression, c);
            assert!(bomb_error.decoded > 1024 * 1024 && out.len() < zeros.len(), "{c}: {bomb_error}");
            assert!(e.to_string().starts_with(&format!("the {c} stream expands more than 200 times")), "{e}");
            // Under the floor, the same ratio is let through; ordinary text never comes near the limit.
            let generous = DecodeLimits { ratio_floor_bytes: 64 * 1024 * 1024, ..limits };
            assert_eq!(
                decode_limited(Cursor::new(bomb), generous, TextEncoding::Utf8).unwrap().text.bytes().count(),
                zeros.len(),
                "{c}"
            );
            let tight = DecodeLimits { max_expansion_ratio: 20, ratio_floor_bytes: 0 };
            let count = decode_limited(Cursor::new(compress(c, &text)), tight, TextEncoding::Utf8)
                .unwrap()
                .text
                .bytes()
                .count();
            assert_eq!(count, text.len(), "{c}");
        }
    }

    #[test]
    fn a_truncated_or_corrupt_stream_is_an_error_naming_its_compression() {
        let text = b"x,y\n".repeat(10_000);
        for c in COMPRESSED {
            let full = compress(c, &text);
            let truncated = full[..full.len() / 2].to_vec();
            let e = read_all(truncated).unwrap_err();
            assert!(e.to_string().starts_with(&format!("{c}: ")), "{c}, cut short: {e}");
            let mut corrupt = full.clone();
            let middle = corrupt.len() / 2;
            corrupt[middle..middle + 8].copy_from_slice(b"\xde\xad\xbe\xef\xde\xad\xbe\xef");
            let e = read_all(corrupt).unwrap_err();
            assert!(e.to_string().starts_with(&format!("{c}: ")), "{c}, corrupt: {e}");
            // Bytes after the last member, frame or stream are not silently dropped.
            let trailing = [full, b"trailing garbage, not compressed".to_vec()].concat();
            assert!(read_all(trailing).is_err(), "{c}: trailing bytes were accepted");
        }
    }

    /// UTF-16 text, little-endian with its byte-order mark.
    fn utf16le(text: &str) -> Vec<u8> {
        [0xff, 0xfe].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect()
    }

    #[test]
    fn a_compressed_file_in_another_encoding_is_decompressed_then_transcoded_and_entered_from_its_start() {
        let text = "id,name\n1,café\n2,€5\n";
        let latin: Vec<u8> = b"id,name\n1,caf\xe9\n2,\x805\n".to_vec();
        let cases = [
            (Compression::None, TextEncoding::Utf16, utf16le(text), 2),
            (Compression::Bzip2, TextEncoding::Utf16, utf16le(text), 2),
            (Compression::None, TextEncoding::Windows1252, latin.clone(), 0),
            (Compression::Zstd, TextEncoding::Windows1252, latin, 0),
        ];
        for (compression, encoding, raw, bom) in cases {
            let raw = compress(compression, &raw);
            let mut decoded = decode_limited(Cursor::new(raw.clone()), DecodeLimits::default(), encoding).unwrap();
            assert_eq!((decoded.compression, decoded.bom, decoded.from_start()), (compression, bom, true));
            let mut out = String::new();
            decoded.text.read_to_string(&mut out).unwrap();
            assert_eq!(out, text, "{compression} {encoding}");
            // A hand-over after the first row reads from byte 0 and skips the text before it.
            let mut rest = String::new();
            decoded_from(Cursor::new(raw), true, 10, DecodeLimits::default(), encoding)
                .unwrap()
                .read_to_string(&mut rest)
                .unwrap();
            assert_eq!(rest, &text[10..], "{compression} {encoding}");
        }
    }

    #[test]
    fn a_zstd_window_past_the_limit_fails_saying_so() {
        use std::io::Write;
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.window_log(ZSTD_WINDOW_LOG_MAX + 1).unwrap();
        encoder.write_all(&b"a,b\n".repeat(1000)).unwrap();
        let raw = encoder.finish().unwrap();
        let e = read_all(raw).unwrap_err();
        assert!(e.to_string().contains("window is larger than 128 MiB"), "{e}");
    }
}
