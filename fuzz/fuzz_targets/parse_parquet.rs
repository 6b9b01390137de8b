#![no_main]
//! The Parquet reader: any bytes read as a `.parquet` object (its footer first, then its row groups
//! by ranges) give records or an error of the file, within the limits; a read handed over after
//! the number of records the first byte says goes on to the same records and rejected rows.
use libfuzzer_sys::fuzz_target;
use s3_connector_fuzz::parquet::check_parquet;

fuzz_target!(|data: &[u8]| {
    s3_connector_fuzz::parquet::tolerate_reader_panics();
    let Some((&stop_after, file)) = data.split_first() else { return };
    check_parquet(file, usize::from(stop_after % 16) + 1);
});
