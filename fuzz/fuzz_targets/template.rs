#![no_main]
//! Template documents from callers: any bytes are a valid template or errors that each name a field,
//! and a valid template saves and reads back the same.
use connector_core::template::Template;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Template::from_json(text) {
        Ok(template) => {
            let saved = serde_json::to_string(&template).unwrap();
            assert_eq!(Template::from_json(&saved).unwrap(), template);
        }
        Err(errors) => assert!(errors.0.iter().all(|e| !e.field.is_empty() && !e.message.is_empty()), "{errors}"),
    }
});
