#![no_main]
//! TSV without a header (columns by number), a custom quote: any bytes, stopped and resumed.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&stop, input)) = data.split_first() else { return };
    let format = r#"{"type": "tsv", "header": false, "quote": "'"}"#;
    let json = connector_core::template::Template::from_json(&format!(
        r#"{{"id": "fuzz", "record_type": "r", "format": {format}, "max_errors_recorded": 5,
            "columns": [{{"source": "1", "field": "id", "type": "string", "required": true}},
                        {{"source": "3", "field": "amount", "type": "decimal"}}]}}"#
    ))
    .expect("the fuzz template is valid");
    s3_connector_fuzz::check(&connector_core::mapping::Mapper::new(json), input, usize::from(stop % 16));
});
