//! The byte layers under the parser: gzip, detected by its magic bytes, then a UTF-8 byte-order mark
//! removed. Each layer is a reader wrapping the one below, so nothing holds more than its buffer.

use flate2::read::MultiGzDecoder;
use std::io::{self, BufRead, BufReader, Chain, Cursor, Read};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UTF8_BOM: [u8; 3] = [0xef, 0xbb, 0xbf];
const BUFFER: usize = 256 * 1024;

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

/// Wraps a raw object body in the decoding chain: [gzip] -> BOM removed -> buffered.
pub fn decode<'a, R: Read + Send + 'a>(raw: R) -> io::Result<Decoded<'a>> {
    let (head, raw) = peek(raw, GZIP_MAGIC.len(), |_| true)?;
    let compression = detect_compression(&head);
    let text: Box<dyn Read + Send + 'a> = match compression {
        // Multi-member: `cat a.gz b.gz` is a valid gzip file and must yield both members.
        Compression::Gzip => Box::new(MultiGzDecoder::new(BufReader::with_capacity(BUFFER, raw))),
        Compression::None => Box::new(raw),
    };
    let (head, text) = peek(text, UTF8_BOM.len(), |head| head != UTF8_BOM)?;
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
) -> io::Result<Box<dyn BufRead + Send + 'a>> {
    if !gzip {
        return Ok(Box::new(BufReader::with_capacity(BUFFER, raw)));
    }
    let mut text = decode(raw)?.text;
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
    fn truncated_gzip_is_an_error_not_a_short_file() {
        let full = gzip(&b"x,y\n".repeat(10_000));
        let truncated = full[..full.len() / 2].to_vec();
        assert!(read_all(truncated).is_err());
    }
}
