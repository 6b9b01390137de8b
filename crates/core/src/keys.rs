//! Text that becomes part of a DynamoDB key: an object key in the ledger's sort key (spelled by the
//! DynamoDB adapter's `keys`), a record id.
//! DynamoDB takes at most 1,024 bytes in a sort key, while an S3 key alone may be 1,024 bytes, so a
//! longer text is kept as its first bytes and a SHA-256 digest of the whole: still deterministic
//! (the same text gives the same key in every run), readable by its beginning, and with no collision
//! short of one in SHA-256. The whole text stays an attribute of the item.

use sha2::{Digest, Sha256};
use std::borrow::Cow;

/// Bytes of `~` and a SHA-256 in hex.
const DIGEST_SUFFIX: usize = 65;

/// `text` if it fits in `max_bytes` bytes; otherwise its first bytes (whole characters) then `~` and
/// the hex SHA-256 of the whole text, `max_bytes` at most. `max_bytes` must exceed 65.
pub fn bounded(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let mut keep = max_bytes.saturating_sub(DIGEST_SUFFIX);
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(keep + DIGEST_SUFFIX);
    out.push_str(&text[..keep]);
    out.push('~');
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    Cow::Owned(out)
}

/// DynamoDB's limit on a sort key.
pub const MAX_SORT_KEY_BYTES: usize = 1024;

/// The start of the ids of an object version's records without a primary key (`key#etag`, then
/// `#row`): bounded so that a row number of up to 20 digits still fits a sort key.
pub fn record_id_prefix(object_key: &str, etag: &str) -> String {
    let prefix = format!("{object_key}#{}", etag.trim_matches('"'));
    bounded(&prefix, MAX_SORT_KEY_BYTES - 21).into_owned()
}

/// The start every version's record ids of an object share (`key#`, or the first bytes of it when
/// ids of that key are bounded by a digest): what to look for before filtering on `source_key`.
pub fn record_id_key_prefix(object_key: &str) -> String {
    let common = format!("{object_key}#");
    let mut keep = (MAX_SORT_KEY_BYTES - 21 - DIGEST_SUFFIX).min(common.len());
    while !common.is_char_boundary(keep) {
        keep -= 1;
    }
    common[..keep].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_is_bounded_by_a_digest() {
        assert_eq!(bounded("in/a.csv", 1020), "in/a.csv");
        let exact = "k".repeat(1020);
        assert_eq!(bounded(&exact, 1020), exact);
        let long = format!("in/{}", "é".repeat(600)); // 1,203 bytes, two-byte characters
        let bounded_long = bounded(&long, 1020);
        assert!(bounded_long.len() <= 1020, "{}", bounded_long.len());
        assert!(long.starts_with(bounded_long.split('~').next().unwrap()));
        assert_eq!(bounded(&long, 1020), bounded_long, "deterministic");
        let other = format!("{long}x");
        assert_ne!(bounded(&other, 1020), bounded_long, "a different text, a different key");
    }

    #[test]
    fn every_key_s3_accepts_fits_the_record_ids() {
        let longest = "k".repeat(1024); // S3's limit
        let prefix = record_id_prefix(&longest, "\"0123456789abcdef0123456789abcdef-10000\"");
        assert!(prefix.len() + 1 + u64::MAX.to_string().len() <= MAX_SORT_KEY_BYTES);
        assert_eq!(record_id_prefix("in/a.csv", "\"e1\""), "in/a.csv#e1");
        // Every version's ids of a key, short or long, start with the key's common prefix.
        for key in ["in/a.csv".to_owned(), longest.clone(), format!("in/{}", "é".repeat(510))] {
            for etag in ["\"e1\"", "\"0123456789abcdef0123456789abcdef-10000\""] {
                assert!(record_id_prefix(&key, etag).starts_with(&record_id_key_prefix(&key)), "{key:.20} {etag}");
            }
        }
    }
}
