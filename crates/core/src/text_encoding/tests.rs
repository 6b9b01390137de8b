use super::*;
use rand::{Rng, SeedableRng};
use std::io::BufReader;

const ROWS: &str = "id,name,note\n1,café,naïve €5\n2,𝄞 clef,音楽と漢字\n";
const LATIN: &str = "name,city,note\nRené,Genève,déjà vu\nJürgen,Köln,Straße\n";

fn text_of(raw: Vec<u8>, encoding: TextEncoding) -> io::Result<Text<'static>> {
    to_utf8(Box::new(Cursor::new(raw)), encoding)
}

/// The whole text, with its byte-order mark and whether it was transcoded.
fn read(raw: Vec<u8>, encoding: TextEncoding) -> io::Result<(String, u64, bool)> {
    let mut text = text_of(raw, encoding)?;
    let mut out = Vec::new();
    text.text.read_to_end(&mut out)?;
    Ok((String::from_utf8(out).expect("the text is UTF-8"), text.bom, text.transcoded))
}

fn mismatch(raw: Vec<u8>, encoding: TextEncoding) -> EncodingMismatch {
    let e = text_of(raw, encoding).err().expect("a mismatch");
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    e.get_ref().and_then(|e| e.downcast_ref::<EncodingMismatch>()).expect("an EncodingMismatch").clone()
}

fn utf16(text: &str, order: ByteOrder, bom: bool) -> Vec<u8> {
    let mut out = match (bom, order) {
        (false, _) => vec![],
        (true, ByteOrder::LittleEndian) => vec![0xff, 0xfe],
        (true, ByteOrder::BigEndian) => vec![0xfe, 0xff],
    };
    for unit in text.encode_utf16() {
        out.extend(match order {
            ByteOrder::LittleEndian => unit.to_le_bytes(),
            ByteOrder::BigEndian => unit.to_be_bytes(),
        });
    }
    out
}

fn windows1252(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = WINDOWS_1252.encode(text);
    assert!(!unmappable, "{text:?} is not all Windows-1252");
    bytes.into_owned()
}

/// A reader that hands out one byte per call, as a slow network would.
struct Trickle(Cursor<Vec<u8>>);
impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(1);
        self.0.read(&mut buf[..n])
    }
}

/// A reader that hands out 1, 2, 3, 5, 7, 11, 13 bytes per call, in turn.
struct Splits(Cursor<Vec<u8>>, usize);
impl Read for Splits {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        const SIZES: [usize; 7] = [1, 2, 3, 5, 7, 11, 13];
        self.1 += 1;
        let n = buf.len().min(SIZES[self.1 % SIZES.len()]);
        self.0.read(&mut buf[..n])
    }
}

/// Reads `text` a few bytes at a time (1, 3, 7), through `Read` rather than `read_to_end`'s large
/// buffers.
fn read_in_small_pieces(mut text: Box<dyn BufRead + Send + '_>) -> io::Result<Vec<u8>> {
    let (mut out, mut buf, mut turn) = (Vec::new(), [0u8; 7], 0);
    loop {
        turn += 1;
        let n = text.read(&mut buf[..[1, 3, 7][turn % 3]])?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn labels_serialise_and_parse_with_their_aliases() {
    for encoding in TextEncoding::ALL {
        assert_eq!(serde_json::to_string(&encoding).unwrap(), format!("\"{}\"", encoding.label()));
        assert_eq!(encoding.to_string(), encoding.label());
    }
    let cases = [
        ("utf-8", TextEncoding::Utf8),
        ("UTF-8", TextEncoding::Utf8),
        ("utf8", TextEncoding::Utf8),
        ("windows-1252", TextEncoding::Windows1252),
        ("Windows-1252", TextEncoding::Windows1252),
        ("cp1252", TextEncoding::Windows1252),
        ("latin-1", TextEncoding::Windows1252),
        ("Latin1", TextEncoding::Windows1252),
        ("ISO-8859-1", TextEncoding::Windows1252),
        ("utf-16", TextEncoding::Utf16),
        ("UTF16", TextEncoding::Utf16),
    ];
    for (label, expected) in cases {
        let parsed: TextEncoding = serde_json::from_str(&format!("\"{label}\"")).unwrap();
        assert_eq!(parsed, expected, "label {label}");
    }
    let e = serde_json::from_str::<TextEncoding>("\"ebcdic\"").unwrap_err();
    assert_eq!(e.to_string(), "unknown encoding \"ebcdic\": a template reads utf-8, windows-1252 (latin-1) or utf-16");
    assert_eq!(TextEncoding::default(), TextEncoding::Utf8);
}

#[test]
fn each_encoding_reads_its_own_text() {
    let latin = windows1252("café,naïve,€5\n");
    assert_eq!(latin, b"caf\xe9,na\xefve,\x805\n");
    assert_eq!(read(latin, TextEncoding::Windows1252).unwrap(), ("café,naïve,€5\n".into(), 0, true));
    for order in [ByteOrder::LittleEndian, ByteOrder::BigEndian] {
        let raw = utf16(ROWS, order, true);
        assert_eq!(read(raw, TextEncoding::Utf16).unwrap(), (ROWS.into(), 2, true), "{order:?}");
    }
    assert_eq!(read(ROWS.into(), TextEncoding::Utf8).unwrap(), (ROWS.into(), 0, false));
    let with_bom = [&UTF8_BOM[..], ROWS.as_bytes()].concat();
    assert_eq!(read(with_bom, TextEncoding::Utf8).unwrap(), (ROWS.into(), 3, false));
}

#[test]
fn ascii_is_read_by_every_encoding_but_utf16_without_its_mark() {
    let ascii = "id,name\n1,plain\n";
    assert_eq!(read(ascii.into(), TextEncoding::Utf8).unwrap(), (ascii.into(), 0, false));
    assert_eq!(read(ascii.into(), TextEncoding::Windows1252).unwrap(), (ascii.into(), 0, true));
    assert_eq!(read(utf16(ascii, ByteOrder::BigEndian, true), TextEncoding::Utf16).unwrap(), (ascii.into(), 2, true));
    assert_eq!(mismatch(ascii.into(), TextEncoding::Utf16).file, LooksLike::Ascii);
}

#[test]
fn an_empty_file_is_empty_text_under_every_encoding() {
    for encoding in TextEncoding::ALL {
        assert_eq!(read(vec![], encoding).unwrap(), (String::new(), 0, false), "{encoding}");
    }
    // A byte-order mark alone is an empty file of its encoding.
    assert_eq!(read(UTF8_BOM.to_vec(), TextEncoding::Utf8).unwrap(), (String::new(), 3, false));
    assert_eq!(read(vec![0xff, 0xfe], TextEncoding::Utf16).unwrap(), (String::new(), 2, true));
    assert_eq!(read(vec![0xfe, 0xff], TextEncoding::Utf16).unwrap(), (String::new(), 2, true));
}

#[test]
fn a_head_that_contradicts_the_template_fails_the_file_saying_what_it_looks_like() {
    use TextEncoding::*;
    let utf16le = utf16(ROWS, ByteOrder::LittleEndian, true);
    let utf16be = utf16(ROWS, ByteOrder::BigEndian, true);
    let bare_le = utf16("id,name\n1,café\n", ByteOrder::LittleEndian, false);
    let bare_be = utf16("id,name\n1,café\n", ByteOrder::BigEndian, false);
    let utf8_bom = [&UTF8_BOM[..], ROWS.as_bytes()].concat();
    let latin = windows1252(LATIN);
    let latin_after_bom = [&UTF8_BOM[..], &latin].concat();
    let (shift_jis, _, _) =
        encoding_rs::SHIFT_JIS.encode("名前,都市,備考\n山田太郎,東京都,こんにちは\n鈴木花子,大阪府,ありがとう\n");
    let cases: Vec<(&str, TextEncoding, Vec<u8>, &str)> = vec![
        ("utf-16le bom", Utf8, utf16le.clone(), "the file is UTF-16 (little-endian byte-order mark), and the template reads utf-8: set the template's encoding to utf-16"),
        ("utf-16be bom", Utf8, utf16be.clone(), "the file is UTF-16 (big-endian byte-order mark), and the template reads utf-8: set the template's encoding to utf-16"),
        ("utf-16le bare", Utf8, bare_le.clone(), "the file looks like UTF-16LE without a byte-order mark (NUL bytes at every other position), and the template reads utf-8: save the file as UTF-8, or as UTF-16 with a byte-order mark"),
        ("utf-16be bare", Utf8, bare_be.clone(), "the file looks like UTF-16BE without a byte-order mark (NUL bytes at every other position), and the template reads utf-8: save the file as UTF-8, or as UTF-16 with a byte-order mark"),
        ("latin", Utf8, latin.clone(), "the file looks like windows-1252 (byte 0xE9 at byte 18 is not UTF-8), and the template reads utf-8: set the template's encoding to windows-1252"),
        ("latin after a utf-8 bom", Utf8, latin_after_bom, "the file looks like windows-1252 (byte 0xE9 at byte 21 is not UTF-8), and the template reads utf-8: set the template's encoding to windows-1252"),
        ("shift_jis", Utf8, shift_jis.to_vec(), "the file looks like Shift_JIS (byte 0x96 at byte 0 is not UTF-8), and the template reads utf-8: templates read utf-8, windows-1252 and utf-16; save the file as UTF-8"),
        // The file ends inside the character: not a cut at the end of the head. On so little text
        // chardetng's guess is Central European.
        ("cut at the end", Utf8, b"name\ncaf\xc3".to_vec(), "the file looks like windows-1250 (byte 0xC3 at byte 8 is not UTF-8), and the template reads utf-8: templates read utf-8, windows-1252 and utf-16; save the file as UTF-8"),
        ("utf-8 bom", Windows1252, utf8_bom.clone(), "the file is UTF-8 (it starts with a UTF-8 byte-order mark), and the template reads windows-1252: set the template's encoding to utf-8"),
        ("utf-16be bom", Windows1252, utf16be, "the file is UTF-16 (big-endian byte-order mark), and the template reads windows-1252: set the template's encoding to utf-16"),
        ("utf-8", Windows1252, ROWS.into(), "the file looks like UTF-8 (its first bytes are UTF-8 with non-ASCII characters), and the template reads windows-1252: set the template's encoding to utf-8"),
        ("utf-16le bare", Windows1252, bare_le.clone(), "the file looks like UTF-16LE without a byte-order mark (NUL bytes at every other position), and the template reads windows-1252: save the file as UTF-8, or as UTF-16 with a byte-order mark"),
        ("ascii", Utf16, b"id\n1\n".to_vec(), "the file looks like ASCII text with no byte-order mark, and the template reads utf-16 with a byte-order mark: set the template's encoding to utf-8"),
        ("utf-8", Utf16, ROWS.into(), "the file looks like UTF-8 (its first bytes are UTF-8 with non-ASCII characters), and the template reads utf-16 with a byte-order mark: set the template's encoding to utf-8"),
        ("utf-8 bom", Utf16, utf8_bom, "the file is UTF-8 (it starts with a UTF-8 byte-order mark), and the template reads utf-16 with a byte-order mark: set the template's encoding to utf-8"),
        ("utf-16le bare", Utf16, bare_le, "the file looks like UTF-16LE without a byte-order mark (NUL bytes at every other position), and the template reads utf-16 with a byte-order mark: save the file as UTF-8, or as UTF-16 with a byte-order mark"),
        ("utf-16be bare", Utf16, bare_be, "the file looks like UTF-16BE without a byte-order mark (NUL bytes at every other position), and the template reads utf-16 with a byte-order mark: save the file as UTF-8, or as UTF-16 with a byte-order mark"),
        ("latin", Utf16, latin, "the file looks like windows-1252 (byte 0xE9 at byte 18 is not UTF-8), and the template reads utf-16 with a byte-order mark: set the template's encoding to windows-1252"),
    ];
    for (name, encoding, raw, expected) in cases {
        let e = mismatch(raw, encoding);
        assert_eq!(e.template, encoding, "{name} read as {encoding}");
        assert_eq!(e.to_string(), expected, "{name} read as {encoding}");
    }
    assert_eq!(mismatch(utf16le, Utf8).file.read_as(), Some(Utf16));
}

#[test]
fn only_the_head_is_checked() {
    // A character cut by the end of the head is whole once the rest is read.
    let mut raw = vec![b'a'; HEAD - 1];
    raw.extend_from_slice("é\n".as_bytes());
    assert_eq!(read(raw.clone(), TextEncoding::Utf8).unwrap().0.as_bytes(), &raw[..]);
    // Past the head, bytes that are not UTF-8 are handed on for the parsers to reject by row.
    let mut raw = vec![b'a'; HEAD + 10];
    raw.extend_from_slice(b"caf\xe9\n");
    let mut out = Vec::new();
    text_of(raw.clone(), TextEncoding::Utf8).unwrap().text.read_to_end(&mut out).unwrap();
    assert_eq!(out, raw);
    // A file exactly as long as the head that ends inside a character is refused.
    let mut raw = vec![b'a'; HEAD - 1];
    raw.push(0xc3);
    let file = mismatch(raw, TextEncoding::Utf8).file;
    assert!(matches!(file, LooksLike::Other { byte: 0xc3, at, .. } if at == HEAD as u64 - 1), "{file:?}");
}

#[test]
fn characters_cut_across_reads_are_decoded_whole() {
    let cases: Vec<(TextEncoding, Vec<u8>, &str)> = vec![
        (TextEncoding::Utf16, utf16(ROWS, ByteOrder::LittleEndian, true), ROWS),
        (TextEncoding::Utf16, utf16(ROWS, ByteOrder::BigEndian, true), ROWS),
        (TextEncoding::Windows1252, windows1252(LATIN), LATIN),
        (TextEncoding::Utf8, [&UTF8_BOM[..], ROWS.as_bytes()].concat(), ROWS),
    ];
    for (encoding, raw, expected) in cases {
        let trickle = BufReader::with_capacity(1, Trickle(Cursor::new(raw.clone())));
        let text = to_utf8(Box::new(trickle), encoding).unwrap().text;
        assert_eq!(read_in_small_pieces(text).unwrap(), expected.as_bytes(), "{encoding}, one byte a read");
        let splits = BufReader::with_capacity(16, Splits(Cursor::new(raw), 0));
        let text = to_utf8(Box::new(splits), encoding).unwrap().text;
        assert_eq!(read_in_small_pieces(text).unwrap(), expected.as_bytes(), "{encoding}, odd splits");
    }
}

#[test]
fn malformed_utf16_fails_at_its_byte_after_the_text_before_it() {
    let le = |units: &[u16]| [vec![0xff, 0xfe], units.iter().flat_map(|u| u.to_le_bytes()).collect()].concat();
    let be = |units: &[u16]| [vec![0xfe, 0xff], units.iter().flat_map(|u| u.to_be_bytes()).collect()].concat();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "a lone low surrogate",
            le(&[0x61, 0xdc00, 0x62]),
            "a",
            "the text is not UTF-16LE at byte 4 of the file (an unpaired surrogate)",
        ),
        (
            "a high surrogate before a letter",
            be(&[0x61, 0x62, 0xd834, 0x63]),
            "ab",
            "the text is not UTF-16BE at byte 6 of the file (an unpaired surrogate)",
        ),
        (
            "an odd byte at the end",
            [le(&[0x61, 0x62]), vec![0x63]].concat(),
            "ab",
            "the text is not UTF-16LE at byte 6 of the file (the file ends in the middle of a character)",
        ),
        (
            "a high surrogate at the end",
            le(&[0x61, 0xd834]),
            "a",
            "the text is not UTF-16LE at byte 4 of the file (the file ends in the middle of a character)",
        ),
    ];
    for (name, raw, before, expected) in cases {
        for trickle in [false, true] {
            let source: Box<dyn BufRead + Send> = if trickle {
                Box::new(BufReader::with_capacity(1, Trickle(Cursor::new(raw.clone()))))
            } else {
                Box::new(Cursor::new(raw.clone()))
            };
            let mut text = to_utf8(source, TextEncoding::Utf16).unwrap().text;
            let mut out = Vec::new();
            let e = loop {
                match text.fill_buf() {
                    Ok([]) => panic!("{name}: no error"),
                    Ok(bytes) => {
                        let n = bytes.len();
                        out.extend_from_slice(bytes);
                        text.consume(n);
                    }
                    Err(e) => break e,
                }
            };
            assert_eq!(out, before.as_bytes(), "{name}, trickle {trickle}");
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{name}");
            assert!(e.get_ref().is_some_and(|e| e.is::<MalformedText>()), "{name}");
            assert_eq!(e.to_string(), expected, "{name}, trickle {trickle}");
        }
    }
}

#[test]
fn megabytes_are_transcoded_through_small_buffers() {
    let utf16_text: String = (0..200_000).map(|i| format!("{i},café {i},𝄞音楽\n")).collect();
    let latin_text: String = (0..250_000).map(|i| format!("{i},naïve,€{i}\n")).collect();
    let cases = [
        (TextEncoding::Utf16, utf16(&utf16_text, ByteOrder::LittleEndian, true), &utf16_text),
        (TextEncoding::Utf16, utf16(&utf16_text, ByteOrder::BigEndian, true), &utf16_text),
        (TextEncoding::Windows1252, windows1252(&latin_text), &latin_text),
    ];
    for (encoding, raw, expected) in cases {
        assert!(raw.len() > 5_000_000, "{encoding}: {} bytes", raw.len());
        let text = to_utf8(Box::new(BufReader::with_capacity(997, Cursor::new(raw))), encoding).unwrap().text;
        let out = read_in_small_pieces(text).unwrap();
        assert!(out == expected.as_bytes(), "{encoding}: {} bytes of {}", out.len(), expected.len());
    }
}

/// The body of fuzz/fuzz_targets/text_encoding.rs: any bytes give text or an error, never a
/// panic; the text is UTF-8; UTF-8 read as UTF-16 with its mark comes back whole.
fn fuzz_body(data: &[u8]) {
    for encoding in TextEncoding::ALL {
        let Ok(text) = to_utf8(Box::new(Cursor::new(data.to_vec())), encoding) else { continue };
        let (bom, mut out) = (text.bom as usize, Vec::new());
        assert!(bom <= data.len());
        if text.text.take(1 << 24).read_to_end(&mut out).is_err() {
            continue;
        }
        if encoding == TextEncoding::Utf8 {
            assert_eq!(out, data[bom..], "UTF-8 is handed on as it is");
        }
        // A short file is all head, and the head of a UTF-8 file is checked.
        if encoding != TextEncoding::Utf8 || data.len() < 64 * 1024 {
            assert!(std::str::from_utf8(&out).is_ok(), "{encoding} gave bytes that are not UTF-8");
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let raw: Vec<u8> = [0xff, 0xfe].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        let mut out = String::new();
        to_utf8(Box::new(Cursor::new(raw)), TextEncoding::Utf16).unwrap().text.read_to_string(&mut out).unwrap();
        assert_eq!(out, text);
    }
}

#[test]
fn any_bytes_give_text_or_an_error() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let alphabet = [b'a', b',', b'\n', 0, 0xc3, 0xa9, 0xe9, 0xff, 0xfe, 0xd8, 0xdc, 0xef, 0xbb, 0xbf, 0x80];
    for _ in 0..2_000 {
        let len = rng.random_range(0..64);
        let data: Vec<u8> = (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
        fuzz_body(&data);
        let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        fuzz_body(&data);
    }
    for text in [ROWS, LATIN, "", "\u{feff}x", "\0\0"] {
        fuzz_body(text.as_bytes());
    }
}

/// A body that breaks (a cut-short gzip, a dropped download) within the head: the bytes before the
/// break are handed on first, so the rows before it are read as they were without the check.
#[test]
fn a_failure_within_the_head_comes_after_the_bytes_before_it() {
    struct BreaksAfter(Cursor<Vec<u8>>);
    impl Read for BreaksAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(io::Error::other("the body broke")),
                n => Ok(n),
            }
        }
    }
    for (encoding, raw) in [
        (TextEncoding::Utf8, ROWS.as_bytes().to_vec()),
        (TextEncoding::Utf16, utf16(ROWS, ByteOrder::BigEndian, true)),
        (TextEncoding::Windows1252, b"a,b\ncaf\xe9,1\n".to_vec()),
    ] {
        let reader = BufReader::with_capacity(7, BreaksAfter(Cursor::new(raw)));
        let mut text = to_utf8(Box::new(reader), encoding).expect("the head's bytes are checked, not the break");
        let mut out = Vec::new();
        let e = text.text.read_to_end(&mut out).unwrap_err();
        assert_eq!(e.to_string(), "the body broke", "{encoding}");
        let expected = if encoding == TextEncoding::Windows1252 { "a,b\ncafé,1\n" } else { ROWS };
        assert_eq!(String::from_utf8(out).unwrap(), expected, "{encoding}");
    }
}
