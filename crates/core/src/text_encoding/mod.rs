//! The character-encoding layer between decompression ([`crate::decode`]) and the parsers, which
//! read only UTF-8: a template's [`TextEncoding`] turns an object's bytes into UTF-8 text.
//!
//! Before anything is read, the file's head (its first 64 KiB, read ahead and replayed) is checked
//! against the template: its byte-order mark, NUL bytes at every other position (UTF-16 without a
//! mark), bytes that are not UTF-8 (chardetng then names the likely encoding). A head that
//! contradicts the template fails the file with an [`EncodingMismatch`] saying what the file looks
//! like, rather than importing mojibake. Past the head, UTF-8 is handed on untouched (invalid bytes
//! there stay the parsers' row errors), and the other encodings are transcoded strictly: a
//! malformed sequence fails the read with a [`MalformedText`].
//!
//! Memory is bounded by the head and, when transcoding, one 64 KiB output buffer: the decoder reads
//! the raw reader's own buffer, and nothing holds the object.

#[cfg(test)]
mod tests;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Decoder, DecoderResult, Encoding, UTF_16BE, UTF_16LE, WINDOWS_1252};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{self, BufRead, Chain, Cursor, Read};

/// Bytes read ahead to check the encoding, and the size of a transcoder's output buffer.
const HEAD: usize = 64 * 1024;
const OUTPUT: usize = 64 * 1024;
const UTF8_BOM: [u8; 3] = [0xef, 0xbb, 0xbf];

/// The character encoding a template reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub enum TextEncoding {
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    /// Also read for "latin-1" and "iso-8859-1": the WHATWG Encoding Standard (what browsers, and
    /// encoding_rs, follow) maps those labels to windows-1252, a superset of ISO-8859-1 in which
    /// bytes 0x80-0x9F are printable characters (€, curly quotes) rather than C1 controls.
    #[serde(rename = "windows-1252")]
    Windows1252,
    /// With a byte-order mark, which says the byte order.
    #[serde(rename = "utf-16")]
    Utf16,
}

impl TextEncoding {
    pub const ALL: [TextEncoding; 3] = [TextEncoding::Utf8, TextEncoding::Windows1252, TextEncoding::Utf16];

    /// The name a template stores and messages quote.
    pub fn label(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Windows1252 => "windows-1252",
            TextEncoding::Utf16 => "utf-16",
        }
    }
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The labels a template may give, compared ignoring ASCII case.
const LABELS: [(&str, TextEncoding); 9] = [
    ("utf-8", TextEncoding::Utf8),
    ("utf8", TextEncoding::Utf8),
    ("windows-1252", TextEncoding::Windows1252),
    ("cp1252", TextEncoding::Windows1252),
    ("latin-1", TextEncoding::Windows1252),
    ("latin1", TextEncoding::Windows1252),
    ("iso-8859-1", TextEncoding::Windows1252),
    ("utf-16", TextEncoding::Utf16),
    ("utf16", TextEncoding::Utf16),
];

/// A template's encoding that is none of [`LABELS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEncoding(pub String);

impl fmt::Display for UnknownEncoding {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "unknown encoding {:?}: a template reads utf-8, windows-1252 (latin-1) or utf-16", self.0)
    }
}

impl std::error::Error for UnknownEncoding {}

impl std::str::FromStr for TextEncoding {
    type Err = UnknownEncoding;

    fn from_str(label: &str) -> Result<Self, Self::Err> {
        LABELS
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(label))
            .map(|&(_, encoding)| encoding)
            .ok_or_else(|| UnknownEncoding(label.to_string()))
    }
}

impl TryFrom<String> for TextEncoding {
    type Error = UnknownEncoding;

    fn try_from(label: String) -> Result<Self, Self::Error> {
        label.parse()
    }
}

/// The byte order of UTF-16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteOrder {
    LittleEndian,
    BigEndian,
}

impl ByteOrder {
    fn encoding(self) -> &'static Encoding {
        match self {
            ByteOrder::LittleEndian => UTF_16LE,
            ByteOrder::BigEndian => UTF_16BE,
        }
    }

    fn words(self) -> &'static str {
        match self {
            ByteOrder::LittleEndian => "little-endian",
            ByteOrder::BigEndian => "big-endian",
        }
    }
}

/// What a file's head looks like, when it is not what the template reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LooksLike {
    /// It starts with the UTF-8 byte-order mark (EF BB BF).
    Utf8Bom,
    /// It starts with a UTF-16 byte-order mark (FF FE little-endian, FE FF big-endian).
    Utf16Bom(ByteOrder),
    /// NUL bytes at every other position: the high bytes of ASCII-range text in UTF-16.
    Utf16WithoutBom(ByteOrder),
    /// Valid UTF-8 with non-ASCII characters, no byte-order mark.
    Utf8,
    /// ASCII only, no byte-order mark.
    Ascii,
    /// Not UTF-8. `guess` is chardetng's guess, by its WHATWG name ("windows-1252", "Shift_JIS",
    /// "windows-1251"...); `byte` is the first byte that is not UTF-8, `at` its offset in the file
    /// (from 0, byte-order mark included, as a hex editor counts).
    Other { guess: &'static str, byte: u8, at: u64 },
}

impl LooksLike {
    /// The template encoding that reads such a file, if there is one.
    pub fn read_as(&self) -> Option<TextEncoding> {
        match self {
            LooksLike::Utf8Bom | LooksLike::Utf8 | LooksLike::Ascii => Some(TextEncoding::Utf8),
            LooksLike::Utf16Bom(_) => Some(TextEncoding::Utf16),
            LooksLike::Other { guess, .. } if *guess == WINDOWS_1252.name() => Some(TextEncoding::Windows1252),
            LooksLike::Utf16WithoutBom(_) | LooksLike::Other { .. } => None,
        }
    }
}

impl fmt::Display for LooksLike {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            LooksLike::Utf8Bom => f.write_str("the file is UTF-8 (it starts with a UTF-8 byte-order mark)"),
            LooksLike::Utf16Bom(order) => write!(f, "the file is UTF-16 ({} byte-order mark)", order.words()),
            LooksLike::Utf16WithoutBom(order) => write!(
                f,
                "the file looks like {} without a byte-order mark (NUL bytes at every other position)",
                order.encoding().name()
            ),
            LooksLike::Utf8 => {
                f.write_str("the file looks like UTF-8 (its first bytes are UTF-8 with non-ASCII characters)")
            }
            LooksLike::Ascii => f.write_str("the file looks like ASCII text with no byte-order mark"),
            LooksLike::Other { guess, byte, at } => {
                write!(f, "the file looks like {guess} (byte 0x{byte:02X} at byte {at} is not UTF-8)")
            }
        }
    }
}

/// A file whose head contradicts its template's encoding: the outcome of the whole file, found
/// before any record is read. Reaches callers inside an `io::Error` of kind `InvalidData`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodingMismatch {
    pub template: TextEncoding,
    pub file: LooksLike,
}

impl fmt::Display for EncodingMismatch {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}, and the template reads {}", self.file, self.template)?;
        if self.template == TextEncoding::Utf16 {
            f.write_str(" with a byte-order mark")?;
        }
        match (self.file.read_as(), &self.file) {
            (Some(encoding), _) => write!(f, ": set the template's encoding to {encoding}"),
            (None, LooksLike::Utf16WithoutBom(_)) => {
                f.write_str(": save the file as UTF-8, or as UTF-16 with a byte-order mark")
            }
            (None, _) => f.write_str(": templates read utf-8, windows-1252 and utf-16; save the file as UTF-8"),
        }
    }
}

impl std::error::Error for EncodingMismatch {}

/// A byte sequence that is no character of the encoding being transcoded, past the head (for
/// UTF-16: an unpaired surrogate, or an odd byte at the end). Reaches callers inside an
/// `io::Error` of kind `InvalidData`, after the text before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedText {
    /// The encoding_rs name: "UTF-16LE", "UTF-16BE".
    pub encoding: &'static str,
    /// Where the sequence starts: its offset in the file, from 0, byte-order mark included.
    pub at: u64,
    /// The file ends inside a character rather than holding a wrong one.
    pub cut_at_end: bool,
}

impl fmt::Display for MalformedText {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let what = match (self.cut_at_end, self.encoding.starts_with("UTF-16")) {
            (true, _) => "the file ends in the middle of a character",
            (false, true) => "an unpaired surrogate",
            (false, false) => "a byte sequence that is no character",
        };
        write!(f, "the text is not {} at byte {} of the file ({what})", self.encoding, self.at)
    }
}

impl std::error::Error for MalformedText {}

/// An object's text as UTF-8, and what a hand-over needs to find its place in the raw bytes again.
pub struct Text<'a> {
    pub text: Box<dyn BufRead + Send + 'a>,
    /// Bytes of byte-order mark removed from the raw bytes: 3 (UTF-8), 2 (UTF-16) or 0.
    pub bom: u64,
    /// `text` is decoded from another encoding, so its offsets are not the raw bytes': a resume
    /// re-reads the file from its start rather than a ranged GET into it. False for UTF-8 and for
    /// an empty file, whatever the encoding.
    pub transcoded: bool,
}

/// Turns `raw`, an object's decompressed bytes with any byte-order mark, into UTF-8 text read as
/// `encoding`, or fails the file with an `InvalidData` error holding an [`EncodingMismatch`] when
/// its head says it is something else.
///
/// UTF-8 is handed back as it comes (after its byte-order mark), with no per-byte work past the
/// head. An empty file is an empty text under every encoding, even UTF-16, whose mark it lacks:
/// there is nothing in it to misread.
pub fn to_utf8<'a>(mut raw: Box<dyn BufRead + Send + 'a>, encoding: TextEncoding) -> io::Result<Text<'a>> {
    let mut head = Vec::with_capacity(HEAD);
    // A read that fails within the head (a cut-short gzip, a broken download) fails the text only
    // once the bytes before it are handed on: the rows before a failure are read as they were
    // without the check. `read_to_end` keeps what it read before its error.
    let mut failure = (&mut raw).take(HEAD as u64).read_to_end(&mut head).err();
    let at_end = failure.is_none()
        && (head.len() < HEAD
            || match raw.fill_buf() {
                Ok(more) => more.is_empty(),
                Err(e) => {
                    failure = Some(e);
                    false
                }
            });
    let plan = check(encoding, &head, at_end)
        .map_err(|file| io::Error::new(io::ErrorKind::InvalidData, EncodingMismatch { template: encoding, file }))?;
    let mut replay = Cursor::new(head);
    replay.set_position(plan.bom as u64);
    // Chain is a BufRead over the replayed head and then `raw`'s own buffer: no copy is added.
    let bytes = replay.chain(FailsFirst { failure, inner: raw });
    Ok(match plan.decode {
        None => Text { text: Box::new(bytes), bom: plan.bom as u64, transcoded: false },
        Some(from) => {
            Text { text: Box::new(Transcoder::new(bytes, from, plan.bom)), bom: plan.bom as u64, transcoded: true }
        }
    })
}

/// `inner`, after a failure met while reading ahead: given once, where the bytes before it end.
struct FailsFirst<R> {
    failure: Option<io::Error>,
    inner: R,
}

impl<R: BufRead> Read for FailsFirst<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.failure.take() {
            Some(e) => Err(e),
            None => self.inner.read(buf),
        }
    }
}

impl<R: BufRead> BufRead for FailsFirst<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self.failure.take() {
            Some(e) => Err(e),
            None => self.inner.fill_buf(),
        }
    }
    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount)
    }
}

/// How to read a file the template's encoding fits.
struct Plan {
    /// Byte-order mark to skip.
    bom: usize,
    /// The encoding to transcode from, or none to hand the bytes on.
    decode: Option<&'static Encoding>,
}

/// Whether a file whose first bytes are `head` (the whole file when `at_end`) is read as
/// `encoding`, and how; what it looks like if not.
fn check(encoding: TextEncoding, head: &[u8], at_end: bool) -> Result<Plan, LooksLike> {
    use TextEncoding::*;
    if head.is_empty() {
        return Ok(Plan { bom: 0, decode: None });
    }
    match (encoding, byte_order_mark(head)) {
        (Utf16, Some(Bom::Utf16(order))) => return Ok(Plan { bom: 2, decode: Some(order.encoding()) }),
        (_, Some(Bom::Utf16(order))) => return Err(LooksLike::Utf16Bom(order)),
        (Windows1252 | Utf16, Some(Bom::Utf8)) => return Err(LooksLike::Utf8Bom),
        (Utf8, Some(Bom::Utf8) | None) | (Windows1252 | Utf16, None) => {}
    }
    let bom = if head.starts_with(&UTF8_BOM) { UTF8_BOM.len() } else { 0 };
    let body = &head[bom..];
    match (encoding, content(body, at_end)) {
        (Utf8, Content::Ascii | Content::Utf8) | (Windows1252, Content::Ascii | Content::NotUtf8 { .. }) => {
            Ok(Plan { bom, decode: (encoding == Windows1252).then_some(WINDOWS_1252) })
        }
        (_, Content::Utf16WithoutBom(order)) => Err(LooksLike::Utf16WithoutBom(order)),
        (_, Content::Utf8) => Err(LooksLike::Utf8),
        (_, Content::Ascii) => Err(LooksLike::Ascii),
        (_, Content::NotUtf8 { at }) => {
            let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
            detector.feed(body, at_end);
            // Deny: UTF-8 is already ruled out, and the guess must name another encoding.
            let guess = detector.guess(None, Utf8Detection::Deny).name();
            Err(LooksLike::Other { guess, byte: body[at], at: (bom + at) as u64 })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bom {
    Utf8,
    Utf16(ByteOrder),
}

fn byte_order_mark(head: &[u8]) -> Option<Bom> {
    if head.starts_with(&UTF8_BOM) {
        Some(Bom::Utf8)
    } else if head.starts_with(&[0xff, 0xfe]) {
        Some(Bom::Utf16(ByteOrder::LittleEndian))
    } else if head.starts_with(&[0xfe, 0xff]) {
        Some(Bom::Utf16(ByteOrder::BigEndian))
    } else {
        None
    }
}

/// What the bytes after any byte-order mark look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Ascii,
    Utf8,
    Utf16WithoutBom(ByteOrder),
    /// The first byte that is not UTF-8 is at `at`.
    NotUtf8 {
        at: usize,
    },
}

/// Reads `body`, the head after its byte-order mark; a character cut by the end of the head is not
/// held against it unless the file ends there too.
fn content(body: &[u8], at_end: bool) -> Content {
    if let Some(order) = utf16_by_nuls(body) {
        return Content::Utf16WithoutBom(order);
    }
    let valid = match std::str::from_utf8(body) {
        Ok(_) => body.len(),
        Err(e) if e.error_len().is_none() && !at_end => e.valid_up_to(),
        Err(e) => return Content::NotUtf8 { at: e.valid_up_to() },
    };
    if body[..valid].is_ascii() {
        Content::Ascii
    } else {
        Content::Utf8
    }
}

/// ASCII-range text in UTF-16 has a NUL high byte in every code unit: at odd offsets in
/// little-endian, even in big-endian. A quarter of the units so, and NULs at the other offsets
/// rare, call it UTF-16; a file of NULs, or binary, is neither and is left to the parsers.
fn utf16_by_nuls(body: &[u8]) -> Option<ByteOrder> {
    if !body.contains(&0) {
        return None;
    }
    let units = body.len() / 2;
    let (mut even, mut odd) = (0, 0);
    for unit in body.chunks_exact(2) {
        even += usize::from(unit[0] == 0);
        odd += usize::from(unit[1] == 0);
    }
    if units > 0 && odd * 4 >= units && even * 8 <= odd {
        Some(ByteOrder::LittleEndian)
    } else if units > 0 && even * 4 >= units && odd * 8 <= even {
        Some(ByteOrder::BigEndian)
    } else {
        None
    }
}

type Replayed<'a> = Chain<Cursor<Vec<u8>>, FailsFirst<Box<dyn BufRead + Send + 'a>>>;

/// UTF-8 decoded from `source` by a stateful encoding_rs decoder, which carries a character cut
/// between two reads over to the next; without replacement, so a malformed sequence is an error
/// rather than a silent U+FFFD (as encoding_rs_io would give).
struct Transcoder<R> {
    source: R,
    decoder: Decoder,
    encoding: &'static Encoding,
    output: Box<[u8]>,
    /// The decoded bytes not yet read: `output[start..end]`.
    start: usize,
    end: usize,
    /// Raw bytes of the file the decoder has taken, byte-order mark included.
    consumed: u64,
    state: State,
}

enum State {
    Decoding,
    Finished,
    /// Given once the text before it has been read.
    Failed(MalformedText),
}

impl<'a> Transcoder<Replayed<'a>> {
    fn new(source: Replayed<'a>, encoding: &'static Encoding, bom: usize) -> Self {
        Transcoder {
            source,
            decoder: encoding.new_decoder_without_bom_handling(),
            encoding,
            output: vec![0; OUTPUT].into_boxed_slice(),
            start: 0,
            end: 0,
            consumed: bom as u64,
            state: State::Decoding,
        }
    }
}

impl<R: BufRead> Transcoder<R> {
    /// Decodes what the source has buffered into the emptied output.
    fn decode_more(&mut self) -> io::Result<()> {
        let input = self.source.fill_buf()?;
        let last = input.is_empty();
        let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(input, &mut self.output, last);
        self.source.consume(read);
        self.consumed += read as u64;
        (self.start, self.end) = (0, written);
        match result {
            DecoderResult::InputEmpty if last => self.state = State::Finished,
            DecoderResult::InputEmpty | DecoderResult::OutputFull => {}
            // The sequence may have begun in an earlier input: count back from what was taken.
            DecoderResult::Malformed(length, after) => {
                let at = self.consumed - u64::from(after) - u64::from(length);
                // With `last`, the input is empty: the decoder held the start of a character.
                let malformed = MalformedText { encoding: self.encoding.name(), at, cut_at_end: last };
                self.state = State::Failed(malformed);
            }
        }
        Ok(())
    }
}

impl<R: BufRead> BufRead for Transcoder<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.start == self.end {
            match &self.state {
                State::Decoding => self.decode_more()?,
                State::Finished => break,
                State::Failed(malformed) => return Err(io::Error::new(io::ErrorKind::InvalidData, malformed.clone())),
            }
        }
        Ok(&self.output[self.start..self.end])
    }

    fn consume(&mut self, amount: usize) {
        self.start = (self.start + amount).min(self.end);
    }
}

impl<R: BufRead> Read for Transcoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}
