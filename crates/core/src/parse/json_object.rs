//! One JSON object -> one record, for both JSON formats: the object's members are kept as borrowed raw
//! values and only the template's columns are read from them (a dotted source descends into nested
//! objects). Numbers keep the digits they were written with, so decimals stay exact; nesting deeper
//! than the limit is refused before serde_json sees it.

use super::fallback_id;
use crate::mapping::{FieldError, Mapper, Record};
use crate::model::SchemaDrift;
use crate::rejects::is_added_by_rejects;
use crate::template::{Column, ExtraColumns};
use serde::de::{MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Whether JSON `text` nests arrays and objects deeper than `max` (strings skipped). serde_json keeps
/// raw values without a depth limit; deep nesting is refused here, row by row.
fn nested_deeper_than(text: &str, max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// A JSON object's members as borrowed raw values, in document order; no per-member parse until a
/// column asks for it.
pub(crate) struct RawObject<'a>(pub(crate) Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawObject<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RawObject<'a>, M::Error> {
                let mut members = Vec::new();
                while let Some(key) = map.next_key::<Key<'a>>()? {
                    members.push((key.0, map.next_value::<&'a RawValue>()?));
                }
                Ok(RawObject(members))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A member name, borrowed from the input unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

impl<'a> RawObject<'a> {
    pub(crate) fn parse(text: &'a str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => "expected a JSON object".to_owned(),
            _ => format!("invalid JSON: {e}"),
        })
    }

    /// The member at `path`, descending into nested objects at each '.' when no member has the
    /// whole path as its name. Two members of the same name are an error: which one is meant?
    fn lookup(&self, path: &str) -> Result<Option<&'a RawValue>, String> {
        let mut found = self.0.iter().filter(|(k, _)| k == path).map(|(_, v)| *v);
        match (found.next(), found.next()) {
            (Some(_), Some(_)) => return Err(format!("member '{path}' appears more than once")),
            (Some(v), None) => return Ok(Some(v)),
            _ => {}
        }
        let Some((head, rest)) = path.split_once('.') else {
            return Ok(None);
        };
        match self.lookup(head)? {
            Some(v) if v.get().starts_with('{') => RawObject::parse(v.get())?.lookup(rest),
            _ => Ok(None),
        }
    }
}

/// The text of a scalar JSON value: strings unescaped, numbers and booleans as written (so decimals
/// stay exact), null as absent.
pub(crate) fn scalar_text(raw: &RawValue) -> Result<Option<Cow<'_, str>>, String> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') if !text.contains('\\') => Ok(Some(Cow::Borrowed(&text[1..text.len() - 1]))),
        Some(b'"') => serde_json::from_str::<String>(text).map(|s| Some(Cow::Owned(s))).map_err(|e| e.to_string()),
        Some(b'{') => Err("expected a scalar value, found an object".into()),
        Some(b'[') => Err("expected a scalar value, found an array".into()),
        _ if text == "null" => Ok(None),
        _ => Ok(Some(Cow::Borrowed(text))),
    }
}

/// A JSON record mapped, and its members no template column reads: (path, its text when the
/// template keeps them).
pub(super) struct JsonRow {
    pub result: Result<Record, FieldError>,
    pub unmapped: Vec<(String, Option<String>)>,
}

/// Maps the JSON object `text` (a line or an array element) to a record, or says why not; notes in
/// `drift` which of its missing columns this record has.
pub(super) fn map_json_object(
    text: &str,
    mapper: &Mapper,
    row: u64,
    line: u64,
    prefix: &str,
    max_depth: usize,
    drift: &mut SchemaDrift,
) -> JsonRow {
    let refused = |reason| JsonRow { result: Err(FieldError { column: None, reason }), unmapped: Vec::new() };
    if nested_deeper_than(text, max_depth) {
        return refused(format!("nested deeper than {max_depth} levels"));
    }
    let object = match RawObject::parse(text.trim()) {
        Ok(object) => object,
        Err(reason) => return refused(reason),
    };
    let columns = mapper.columns();
    let keep = mapper.template.extra_columns == ExtraColumns::Keep;
    let mut unmapped = Vec::new();
    unmapped_members(&object, "", columns, keep, &mut unmapped);
    if !drift.missing_columns.is_empty() {
        drift.missing_columns.retain(|source| !matches!(object.lookup(source), Ok(Some(_))));
    }
    let result = mapper.map_row(
        row,
        line,
        |i| object.lookup(&columns[i].source).and_then(|v| v.map(scalar_text).transpose().map(Option::flatten)),
        || fallback_id(prefix, row),
    );
    let result = match keep && !unmapped.is_empty() {
        false => result,
        true => {
            let extra = unmapped.iter().filter_map(|(path, value)| Some((path.clone(), value.clone()?))).collect();
            result.and_then(|r| mapper.with_extra(r, extra))
        }
    };
    JsonRow { result, unmapped }
}

/// The members of `object` (under `path`) that no column reads: a member is read when a column's
/// source is its path; an object member on the way to a column's dotted source is looked into.
/// With `keep`, each comes with its text (a scalar's, or an object's or array's JSON); nulls have none.
fn unmapped_members(
    object: &RawObject<'_>,
    path: &str,
    columns: &[Column],
    keep: bool,
    out: &mut Vec<(String, Option<String>)>,
) {
    for (name, value) in &object.0 {
        let member = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
        if columns.iter().any(|c| c.source == member) {
            continue;
        }
        if is_added_by_rejects(&member) {
            continue;
        }
        let leads_to_a_column = columns.iter().any(|c| {
            c.source.len() > member.len() && c.source.starts_with(&member) && c.source.as_bytes()[member.len()] == b'.'
        });
        // A member on the way to a column is read (a null or a scalar there means the column is
        // absent from this record, not that the member is unmapped); its own members may not be.
        if leads_to_a_column {
            if value.get().starts_with('{') {
                if let Ok(inner) = RawObject::parse(value.get()) {
                    unmapped_members(&inner, &member, columns, keep, out);
                }
            }
            continue;
        }
        let text = match keep {
            false => None,
            true => match scalar_text(value) {
                Ok(text) => text.map(Cow::into_owned),
                Err(_) => Some(value.get().to_owned()),
            },
        };
        out.push((member, text));
    }
}

#[cfg(test)]
mod tests {
    use crate::mapping::Mapper;
    use crate::parse::tests::parse;
    use crate::template::Template;
    use crate::value::Value;

    #[test]
    fn duplicate_and_nested_members() {
        let m = Mapper::new(
            Template::from_json(
                r#"{"id": "t", "record_type": "r", "format": {"type": "json_lines"},
                "columns": [{"source": "customer.id", "field": "id", "type": "string", "required": true}]}"#,
            )
            .unwrap(),
        );
        let (summary, records) = parse(
            &m,
            b"{\"customer\": {\"id\": \"c1\"}}\n{\"customer.id\": \"c2\"}\n{\"customer\": {\"id\": 1, \"id\": 2}}\n",
        );
        assert_eq!(
            records.iter().map(|r| r.values[0].clone()).collect::<Vec<_>>(),
            vec![Some(Value::Str("c1".into())), Some(Value::Str("c2".into()))]
        );
        assert!(summary.unwrap().row_errors[0].reason.contains("more than once"));
    }
}
