//! The byte layers under the parser: gzip, detected by its magic bytes, then a UTF-8 byte-order mark
//! removed. Each layer is a reader wrapping the one below, so nothing holds more than its buffer.

use flate2::read::MultiGzDecoder;
use std::io::{self, BufRead, BufReader, Chain, Cursor, Read};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UTF8_BOM: [u8; 3] = [0xef, 0xbb, 0xbf];
const BUFFER: usize = 256 * 1024;

/// What decoding refuses, so that a small object cannot become unbounded work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Decoded bytes per compressed byte a gzip stream may reach, once past `ratio_floor_bytes`:
    /// text compresses 5 to 20 times; a decompression bomb, a thousand.
    pub max_gzip_ratio: u64,
    /// Decoded bytes below which any ratio is accepted (a small file of repeated lines).
    pub ratio_floor_bytes: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits { max_gzip_ratio: 200, ratio_floor_bytes: 64 * 1024 * 1024 }
    }
}

/// The error a decoder gives for a gzip stream past [`DecodeLimits::max_gzip_ratio`].
#[derive(Debug)]
pub struct DecompressionBomb {
    pub compressed: u64,
    pub decoded: u64,
    pub max_ratio: u64,
}

impl std::fmt::Display for DecompressionBomb {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "the gzip stream expands more than {} times ({} bytes from {}): refused as a decompression bomb (S3C_MAX_GZIP_RATIO)",
            self.max_ratio, self.decoded, self.compressed
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
}

impl<R: Read> Read for RatioGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.decoded += n as u64;
        let compressed = self.compressed.load(std::sync::atomic::Ordering::Relaxed).max(1);
        if self.decoded > self.limits.ratio_floor_bytes && self.decoded > compressed * self.limits.max_gzip_ratio {
            let bomb = DecompressionBomb { compressed, decoded: self.decoded, max_ratio: self.limits.max_gzip_ratio };
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
}

/// Decides the compression from the first bytes of a stream (the content, not the key or
/// Content-Encoding, which customers get wrong).
pub fn detect_compression(head: &[u8]) -> Compression {
    if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else {
        Compression::None
    }
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
    pub gzip: bool,
    /// Bytes of byte-order mark removed.
    pub bom: u64,
}

/// Wraps a raw object body in the decoding chain: [gzip] -> BOM removed -> buffered, with the
/// default [`DecodeLimits`].
pub fn decode<'a, R: Read + Send + 'a>(raw: R) -> io::Result<Decoded<'a>> {
    decode_limited(raw, DecodeLimits::default())
}

/// [`decode`] with these limits. A UTF-16 byte-order mark is an error: templates read UTF-8.
pub fn decode_limited<'a, R: Read + Send + 'a>(raw: R, limits: DecodeLimits) -> io::Result<Decoded<'a>> {
    let (head, raw) = peek(raw, GZIP_MAGIC.len(), |_| true)?;
    let compression = detect_compression(&head);
    let text: Box<dyn Read + Send + 'a> = match compression {
        // Multi-member: `cat a.gz b.gz` is a valid gzip file and must yield both members.
        Compression::Gzip => {
            let compressed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let counted = CountingRead { inner: raw, count: compressed.clone() };
            let decoder = MultiGzDecoder::new(BufReader::with_capacity(BUFFER, counted));
            Box::new(RatioGuard { inner: decoder, compressed, decoded: 0, limits })
        }
        Compression::None => Box::new(raw),
    };
    let (head, text) = peek(text, UTF8_BOM.len(), |head| head != UTF8_BOM)?;
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        let order = if head[0] == 0xff { "little-endian" } else { "big-endian" };
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the file is UTF-16 ({order} byte-order mark) and the template reads UTF-8"),
        ));
    }
    let bom = if head == UTF8_BOM { UTF8_BOM.len() as u64 } else { 0 };
    Ok(Decoded { text: Box::new(BufReader::with_capacity(BUFFER, text)), gzip: compression == Compression::Gzip, bom })
}

/// [`decode`], for callers that need only the text.
pub fn decoded<'a, R: Read + Send + 'a>(raw: R) -> io::Result<Box<dyn BufRead + Send + 'a>> {
    decode(raw).map(|d| d.text)
}

/// The decoded text from `offset` on, after a hand-over. A plain object's `raw` body already starts
/// there (a ranged GET from `offset` + the byte-order mark); a gzip stream cannot be entered in the
/// middle, so its `raw` body starts at byte 0 and the text before `offset` is decoded and dropped.
pub fn decoded_from<'a, R: Read + Send + 'a>(
    raw: R,
    gzip: bool,
    offset: u64,
    limits: DecodeLimits,
) -> io::Result<Box<dyn BufRead + Send + 'a>> {
    if !gzip {
        return Ok(Box::new(BufReader::with_capacity(BUFFER, raw)));
    }
    let mut text = decode_limited(raw, limits)?.text;
    let skipped = io::copy(&mut (&mut text).take(offset), &mut io::sink())?;
    if skipped < offset {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the object is shorter than its checkpoint"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression as Level};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Level::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

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
            ("gzip", gzip(b"a,b\n"), b"a,b\n"),
            ("gzip+bom", gzip(b"\xef\xbb\xbfa,b\n"), b"a,b\n"),
            ("two gzip members", [gzip(b"a\n"), gzip(b"b\n")].concat(), b"a\nb\n"),
            ("empty", vec![], b""),
            ("one byte", b"x".to_vec(), b"x"),
            ("bom only", UTF8_BOM.to_vec(), b""),
            ("bom in the middle stays", b"a\xef\xbb\xbf".to_vec(), b"a\xef\xbb\xbf"),
        ];
        for (name, raw, expected) in cases {
            assert_eq!(read_all(raw.clone()).unwrap(), *expected, "case {name}");
        }
    }

    #[test]
    fn magic_bytes_split_across_reads_are_still_seen() {
        let mut out = Vec::new();
        decoded(Trickle(Cursor::new(gzip(b"\xef\xbb\xbfhello")))).unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello");
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
    fn a_gzip_bomb_is_refused_once_past_the_floor() {
        // 20 MB of zeros compress to about 20 KB: a ratio of about 1,000.
        let bomb = gzip(&vec![0u8; 20 * 1024 * 1024]);
        let limits = DecodeLimits { max_gzip_ratio: 200, ratio_floor_bytes: 1024 * 1024 };
        let mut out = Vec::new();
        let e = decode_limited(Cursor::new(bomb.clone()), limits).unwrap().text.read_to_end(&mut out).unwrap_err();
        let bomb_error = e.get_ref().and_then(|e| e.downcast_ref::<DecompressionBomb>()).expect("a DecompressionBomb");
        assert!(bomb_error.decoded > 1024 * 1024 && out.len() < 20 * 1024 * 1024, "{bomb_error}");
        // Under the floor, the same ratio is let through; ordinary text never comes near the limit.
        let generous = DecodeLimits { ratio_floor_bytes: 64 * 1024 * 1024, ..limits };
        assert_eq!(decode_limited(Cursor::new(bomb), generous).unwrap().text.bytes().count(), 20 * 1024 * 1024);
        let text: Vec<u8> = (0..200_000).flat_map(|i| format!("row{i},{}\n", i * 7).into_bytes()).collect();
        let tight = DecodeLimits { max_gzip_ratio: 20, ratio_floor_bytes: 0 };
        assert_eq!(decode_limited(Cursor::new(gzip(&text)), tight).unwrap().text.bytes().count(), text.len());
    }

    #[test]
    fn truncated_gzip_is_an_error_not_a_short_file() {
        let full = gzip(&b"x,y\n".repeat(10_000));
        let truncated = full[..full.len() / 2].to_vec();
        assert!(read_all(truncated).is_err());
    }
}
