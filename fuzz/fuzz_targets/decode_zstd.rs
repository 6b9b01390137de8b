#![no_main]
//! The zstd layer: bytes after a zstd frame's magic (or a skippable frame's, when the first byte
//! is odd) decode to text or to an error, within the limits and the window limit; a zstd frame of
//! the bytes decodes back to them.
use libfuzzer_sys::fuzz_target;
use s3_connector_fuzz::{check_decode, check_round_trip};

fuzz_target!(|data: &[u8]| {
    let magic: &[u8] = match data.first() {
        Some(b) if b % 2 == 1 => &[0x50, 0x2a, 0x4d, 0x18],
        _ => &[0x28, 0xb5, 0x2f, 0xfd],
    };
    check_decode(&[magic, data].concat());
    check_round_trip(zstd::stream::encode_all(data, 1).unwrap(), data);
});
