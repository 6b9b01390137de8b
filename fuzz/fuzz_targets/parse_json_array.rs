#![no_main]
//! A JSON array of objects, read element by element: any bytes, stopped and resumed.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&stop, input)) = data.split_first() else { return };
    s3_connector_fuzz::check(&s3_connector_fuzz::mapper(r#"{"type": "json"}"#, stop % 2 == 0), input, usize::from(stop % 16));
});
