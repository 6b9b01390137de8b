#![no_main]
//! CSV with a header: any bytes, stopped and resumed after a record chosen by the first byte.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&stop, input)) = data.split_first() else { return };
    s3_connector_fuzz::check(&s3_connector_fuzz::mapper(r#"{"type": "csv"}"#, stop % 2 == 0), input, usize::from(stop % 16));
});
