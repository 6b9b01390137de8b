//! What the parser targets share: a template per format, and the property every parse must keep.

pub mod parquet;

use connector_core::mapping::{Mapper, Record};
use connector_core::model::ParsePosition;
use connector_core::parse::{parse_rows, ParseLimits, ParseOptions, ParseSummary};
use connector_core::template::Template;
use std::io::Cursor;
use std::ops::ControlFlow;

/// A template of three columns (a required string, a decimal, an enum with a default) in `format`.
pub fn mapper(format: &str, primary_key: bool) -> Mapper {
    let key = if primary_key { r#", "primary_key": ["id"]"# } else { "" };
    let json = format!(
        r#"{{"id": "fuzz", "record_type": "r", "format": {format}, "max_errors_recorded": 5{key},
            "columns": [
                {{"source": "id", "field": "id", "type": "string", "required": true}},
                {{"source": "amount", "field": "amount", "type": "decimal"}},
                {{"source": "kind", "field": "kind", "type": "enum", "values": ["a", "b"], "default": "a"}}
            ]}}"#
    );
    Mapper::new(Template::from_json(&json).expect("the fuzz template is valid"))
}

/// Small limits, so that the fuzzer reaches them.
pub const LIMITS: ParseLimits = ParseLimits { max_record_bytes: 4096, max_json_depth: 8 };

fn parse(mapper: &Mapper, input: &[u8], options: ParseOptions, stop_after: Option<usize>) -> (Result<ParseSummary, String>, Vec<Record>) {
    let mut records = Vec::new();
    let summary = parse_rows(&mut Cursor::new(input), mapper, "key#etag", options, &mut |record| {
        records.push(record);
        if stop_after.is_some_and(|n| records.len() >= n) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    (summary.map_err(|e| e.to_string()), records)
}

/// Parses `input` whole, and again stopped after `stop_after` records and resumed from the position
/// the parser gave (as a hand-over does, the input fetched again from that byte): both must give the
/// same records, counts and row errors. Also: every row is either a record or a rejection, and no
/// more errors are kept than the template allows.
pub fn check(mapper: &Mapper, input: &[u8], stop_after: usize) {
    let options = || ParseOptions { limits: LIMITS, ..ParseOptions::default() };
    let (whole, records) = parse(mapper, input, options(), None);
    let Ok(whole) = whole else { return };
    assert_eq!(whole.rows_read, records.len() as u64 + whole.rows_rejected, "{whole:?}");
    assert!(whole.row_errors.len() <= 5);
    let stop_after = stop_after.max(1);
    let (first, mut resumed) = parse(mapper, input, options(), Some(stop_after));
    let first = first.expect("a prefix of a file that parses whole parses");
    let Some(position) = first.resume_at.clone() else {
        assert_eq!(resumed, records, "a parse that never stopped is the whole parse");
        return;
    };
    let ParsePosition { offset, .. } = position;
    let rest = &input[usize::try_from(offset).expect("an offset in the input")..];
    let options = ParseOptions { resume: Some((position, first.clone())), ..options() };
    let (second, more) = parse(mapper, rest, options, None);
    let second = second.expect("the rest of a file that parses whole parses");
    resumed.extend(more);
    assert_eq!(resumed, records, "records after a hand-over at {offset}");
    assert_eq!((second.rows_read, second.rows_rejected, &second.row_errors), (whole.rows_read, whole.rows_rejected, &whole.row_errors));
}

/// The limits the decode targets read with: small, so that the fuzzer reaches them.
pub const DECODE_LIMITS: connector_core::decode::DecodeLimits =
    connector_core::decode::DecodeLimits { max_expansion_ratio: 50, ratio_floor_bytes: 1 << 20 };

/// Any bytes decode to text or to an error, within the limits: at most the floor, the ratio, and one
/// read past them.
pub fn check_decode(raw: &[u8]) {
    use std::io::Read;
    let utf8 = connector_core::text_encoding::TextEncoding::Utf8;
    if let Ok(decoded) = connector_core::decode::decode_limited(Cursor::new(raw.to_vec()), DECODE_LIMITS, utf8) {
        let mut out = Vec::new();
        if decoded.text.take(1 << 24).read_to_end(&mut out).is_ok() {
            assert!(out.len() <= (1 << 22) + raw.len() * 50, "past the ratio limit: {} from {}", out.len(), raw.len());
        }
    }
}

/// What a compressed copy of `data` decodes back to: `data` itself, unless it begins with a
/// byte-order mark (removed, or refused for UTF-16), or its head is not UTF-8 (refused).
pub fn check_round_trip(compressed: Vec<u8>, data: &[u8]) {
    use std::io::Read;
    if data.starts_with(&[0xef, 0xbb, 0xbf]) || data.starts_with(&[0xff, 0xfe]) || data.starts_with(&[0xfe, 0xff]) {
        return;
    }
    let mut out = Vec::new();
    let utf8 = connector_core::text_encoding::TextEncoding::Utf8;
    match connector_core::decode::decode_limited(Cursor::new(compressed), Default::default(), utf8) {
        Ok(mut decoded) => decoded.text.read_to_end(&mut out).unwrap(),
        // A head that is not UTF-8 (or is UTF-16 without its mark) is refused as another
        // encoding's, whatever the compression: that, and nothing else, may fail.
        Err(e) => {
            let mismatch = e.get_ref().is_some_and(|e| e.is::<connector_core::text_encoding::EncodingMismatch>());
            assert!(mismatch, "{e}");
            return;
        }
    };
    assert_eq!(out, data);
}
