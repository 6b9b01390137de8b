#![no_main]
//! The bzip2 layer: bytes after a bzip2 stream's ten magic bytes decode to text or to an error,
//! within the limits; a bzip2 stream of the bytes decodes back to them.
use libfuzzer_sys::fuzz_target;
use s3_connector_fuzz::{check_decode, check_round_trip};
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    check_decode(&[b"BZh9\x31\x41\x59\x26\x53\x59".as_slice(), data].concat());
    let mut encoder = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    encoder.write_all(data).unwrap();
    check_round_trip(encoder.finish().unwrap(), data);
});
