#![no_main]
//! JSON Lines: any bytes, stopped and resumed after a record chosen by the first byte.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&stop, input)) = data.split_first() else { return };
    s3_connector_fuzz::check(&s3_connector_fuzz::mapper(r#"{"type": "json_lines"}"#, stop % 2 == 0), input, usize::from(stop % 16));
});
