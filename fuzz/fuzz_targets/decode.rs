#![no_main]
//! The byte layers under the parsers (gzip by magic bytes, byte-order mark): any bytes decode to
//! text or to an error, within the limits, and a gzip of the bytes decodes back to them.
use connector_core::decode::{decode_limited, DecodeLimits};
use libfuzzer_sys::fuzz_target;
use std::io::{Cursor, Read, Write};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_gzip_ratio: 50, ratio_floor_bytes: 1 << 20 };
    if let Ok(decoded) = decode_limited(Cursor::new(data.to_vec()), limits) {
        let mut out = Vec::new();
        if decoded.text.take(1 << 24).read_to_end(&mut out).is_ok() {
            // The floor, the ratio, and at most one read past them.
            assert!(out.len() <= (1 << 22) + data.len() * 50, "past the ratio limit: {} from {}", out.len(), data.len());
        }
    }
    // Round trip: a gzip of anything that does not start with a byte-order mark comes back whole.
    if !data.starts_with(&[0xef, 0xbb, 0xbf]) && !data.starts_with(&[0xff, 0xfe]) && !data.starts_with(&[0xfe, 0xff]) {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        let gz = encoder.finish().unwrap();
        let mut out = Vec::new();
        decode_limited(Cursor::new(gz), DecodeLimits::default()).unwrap().text.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }
});
