#![no_main]
//! The byte layers under the parsers (gzip by magic bytes, byte-order mark): any bytes decode to
//! text or to an error, within the limits, and a gzip of the bytes decodes back to them.
use libfuzzer_sys::fuzz_target;
use s3_connector_fuzz::{check_decode, check_round_trip};
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    check_decode(data);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    check_round_trip(encoder.finish().unwrap(), data);
});
