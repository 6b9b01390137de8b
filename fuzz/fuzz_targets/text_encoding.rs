#![no_main]
//! The text-encoding layer (connector_core::text_encoding): under every encoding, any bytes give
//! UTF-8 text or an error, never a panic; and UTF-8 written as UTF-16LE with its byte-order mark
//! reads back whole. The same body is a unit test in crates/core/src/text_encoding/tests.rs.
use connector_core::text_encoding::{to_utf8, TextEncoding};
use libfuzzer_sys::fuzz_target;
use std::io::{Cursor, Read};

fuzz_target!(|data: &[u8]| {
    for encoding in TextEncoding::ALL {
        let Ok(text) = to_utf8(Box::new(Cursor::new(data.to_vec())), encoding) else { continue };
        let (bom, mut out) = (text.bom as usize, Vec::new());
        assert!(bom <= data.len());
        if text.text.take(1 << 24).read_to_end(&mut out).is_err() {
            continue;
        }
        if encoding == TextEncoding::Utf8 {
            assert_eq!(out, data[bom..], "UTF-8 is handed on as it is");
        }
        // A short file is all head, and the head of a UTF-8 file is checked.
        if encoding != TextEncoding::Utf8 || data.len() < 64 * 1024 {
            assert!(std::str::from_utf8(&out).is_ok(), "{encoding} gave bytes that are not UTF-8");
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let raw: Vec<u8> = [0xff, 0xfe].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        let mut out = String::new();
        to_utf8(Box::new(Cursor::new(raw)), TextEncoding::Utf16).unwrap().text.read_to_string(&mut out).unwrap();
        assert_eq!(out, text);
    }
});
