//! JSON from callers (templates, API request bodies), read so that an error names the field at
//! fault: `columns[2].type`, not just a line and column.

use serde::de::DeserializeOwned;

/// A JSON document that does not fit its type: the field at fault (a dotted path, `body` for the
/// whole document) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonInputError {
    pub field: String,
    pub message: String,
}

/// Parses `bytes` as a `T`. serde_path_to_error tracks the path to the value that failed; a missing
/// field fails at the object that should hold it, so its name is taken from serde's message and
/// added to that path.
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonInputError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let message = e.inner().to_string();
        // "." is the whole document; "?" a part serde could not place (a syntax error).
        let path = e.path().to_string();
        let path = path.trim_end_matches('?').trim_end_matches('.');
        let path = (!path.is_empty()).then(|| path.to_owned());
        let named = ["missing field `", "unknown field `"]
            .iter()
            .find_map(|lead| message.strip_prefix(lead))
            .and_then(|rest| rest.split('`').next())
            // A key that is the empty string is still named (found by the template fuzz target).
            .map(|name| if name.is_empty() { "\"\"" } else { name });
        let field = match (path, named) {
            // An unknown field is already the last part of the path; a missing one is not.
            (Some(path), Some(name)) if path == name || path.ends_with(&format!(".{name}")) => path,
            (Some(path), Some(name)) => format!("{path}.{name}"),
            (Some(path), None) => path,
            (None, Some(name)) => name.to_owned(),
            (None, None) => "body".to_owned(),
        };
        JsonInputError { field, message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn errors_name_the_field_at_fault() {
        let field = |json: &str| from_json::<Outer>(json.as_bytes()).unwrap_err().field;
        assert_eq!(field(r#"{"name": 123, "items": []}"#), "name");
        assert_eq!(field(r#"{"items": []}"#), "name");
        assert_eq!(field(r#"{"name": "a", "items": [], "extra": 1}"#), "extra");
        assert_eq!(field(r#"{"name": "a", "items": [{"count": 1}, {"count": "x"}]}"#), "items[1].count");
        assert_eq!(field(r#"{"name": "a", "items": [{}]}"#), "items[0].count");
        assert_eq!(field(r#"{"name": "a", "items": [{"count": 1, "n": 2}]}"#), "items[0].n");
        assert_eq!(field(r#"{"name": "a", "items": [], "": 1}"#), r#""""#);
        assert_eq!(field("not json"), "body");
        assert_eq!(field("{"), "body");
        assert_eq!(field(r#"{"name": "a", "items": [{"count": 1}"#), "items");
        let e = from_json::<Outer>(br#"{"name": 123, "items": []}"#).unwrap_err();
        assert!(e.message.contains("expected a string"), "{e:?}");
    }
}
